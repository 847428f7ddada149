// Calls to Steward's REST API with the session cookie. Every call carries the console's
// header (the server's CSRF guard for cookie writes); a 401 anywhere sends the user to the
// login form.

export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

const listeners = new Set();
/** Called with no argument when the session is gone (401). */
export function onLoggedOut(fn) {
  listeners.add(fn);
}

function headers(extra = {}) {
  return { "X-Steward-Console": "1", Accept: "application/json", ...extra };
}

async function answer(r, quietUnauthorized) {
  if (r.status === 204 || r.status === 304) return null;
  let data = null;
  const type = r.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      data = await r.json();
    } catch (_) {
      data = null;
    }
  }
  if (!r.ok) {
    if (r.status === 401 && !quietUnauthorized) listeners.forEach((fn) => fn());
    const e = data && data.error ? data.error : {};
    throw new ApiError(r.status, e.kind || "error", e.message || `${r.status} ${r.statusText}`);
  }
  return data;
}

export async function api(method, path, body) {
  const init = { method, headers: headers(), credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", `Steward did not answer: ${e.message}`);
  }
  return answer(r, false);
}

export const get = (path) => api("GET", path);

/** A query string from an object; arrays repeat their key (filter[]). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

function basic(userid, password) {
  const bytes = new TextEncoder().encode(`${userid}:${password}`);
  let text = "";
  bytes.forEach((b) => (text += String.fromCharCode(b)));
  return `Basic ${btoa(text)}`;
}

/** Opens a session (the cookie is set by the answer); the identity. */
export async function login(userid, password) {
  const r = await fetch("/api/session", {
    method: "POST",
    credentials: "same-origin",
    headers: headers({ Authorization: basic(userid, password) }),
  });
  return answer(r, true);
}

/** The same user in another of its groups: a new session. */
export async function switchGroup(group) {
  const r = await fetch("/api/session", {
    method: "POST",
    credentials: "same-origin",
    headers: headers({ "X-MIQ-Group": group }),
  });
  return answer(r, false);
}

export async function logout() {
  try {
    await api("DELETE", "/api/session");
  } catch (_) {
    // Already gone: the cookie is cleared either way on the next login.
  }
}
