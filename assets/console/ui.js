// Small DOM helpers and formatting shared by every view. No inline HTML strings: every
// value reaches the page as text, never as markup.

/** h("a", {href: "#/", class: "x", onclick: fn}, "text", child…) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const loading = (what = "Loading") => h("p", { class: "loading" }, `${what}…`);
export const empty = (text) => h("p", { class: "empty" }, text);
export function failure(error, retry) {
  return h(
    "div",
    { class: "failure", role: "alert" },
    h("strong", {}, error.status ? `Error ${error.status}` : "Error"),
    " ",
    error.message || String(error),
    retry ? h("button", { type: "button", class: "ghost", onclick: retry }, "Try again") : null,
  );
}

export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  const t = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
}

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog(title, text, action = "Confirm") {
  return new Promise((resolve) => {
    const done = (v) => {
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    const dialog = h(
      "dialog",
      { class: "confirm" },
      h("h2", {}, title),
      h("p", {}, text),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "ghost", onclick: () => done(false) }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => done(true) }, action),
      ),
    );
    dialog.addEventListener("cancel", () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A modal asking for one line of text; resolves the text, or null when cancelled. */
export function promptDialog(title, label, action = "OK", initial = "") {
  return new Promise((resolve) => {
    const input = h("input", { name: "answer", id: "prompt-answer", value: initial, autocomplete: "off", required: true });
    const done = (v) => {
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", {}, title),
      field(label, input),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "ghost", onclick: () => done(null) }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, action),
      ),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (input.value.trim()) done(input.value.trim());
    });
    const dialog = h("dialog", { class: "confirm", id: "prompt" }, form);
    dialog.addEventListener("cancel", () => done(null));
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const number = new Intl.NumberFormat();

/** A time in the user's zone, with the relative age as a tooltip. */
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return h("time", { datetime: iso, title: ago(iso) }, dateTime.format(d));
}

export function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 0) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export const count = (n) => (n === undefined || n === null ? "—" : number.format(n));

export function bytes(n) {
  if (n === undefined || n === null || n === "") return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A status word as a coloured badge. */
export function badge(text) {
  const t = text === undefined || text === null ? "unknown" : String(text);
  const l = t.toLowerCase();
  let kind = "neutral";
  if (/^(ok|ready|running|active|started|succeeded|true|finished|valid|true)$/.test(l)) kind = "good";
  else if (/(error|fail|crash|notready|false|dead|unreachable|timeout|invalid|stopped)/.test(l)) kind = "bad";
  else if (/(pending|queued|waiting|standby|starting|stopping|unknown|not_responding)/.test(l)) kind = "warn";
  return h("span", { class: `badge ${kind}` }, t);
}

/** Labels as chips. */
export function labels(map) {
  if (!map || typeof map !== "object" || Object.keys(map).length === 0) return h("span", { class: "muted" }, "none");
  return h(
    "span",
    { class: "chips" },
    Object.entries(map).map(([k, v]) => h("span", { class: "chip", title: `${k}=${v}` }, `${k}=${v}`)),
  );
}

/** A definition list from [label, value] pairs. */
export function properties(pairs) {
  return h(
    "dl",
    { class: "props" },
    pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === undefined || v === null || v === "" ? h("span", { class: "muted" }, "—") : v)]),
  );
}

export function card(title, ...body) {
  return h("section", { class: "card" }, h("h2", {}, title), ...body);
}

export function page(title, ...body) {
  document.title = `${title} · Steward`;
  return [h("h1", {}, title), ...body];
}

/** A field of a form: label, input and help. */
export function field(label, input, help) {
  return h("label", { class: "field" }, h("span", {}, label), input, help ? h("small", {}, help) : null);
}
