// The queue: counts by zone, role and state (live), the oldest ready message, and recent
// timeouts and errors with their messages.

import { get, query as qs } from "./api.js";
import * as live from "./live.js";
import { h, clear, page, card, count, ago, when, badge, failure, loading, empty } from "./ui.js";

/** Rows of zone × role with a count per state, from by_state: {state: {zone: {role: n}}}. */
function breakdown(byState) {
  const states = Object.keys(byState || {}).sort();
  const rows = new Map();
  for (const state of states) {
    for (const [zone, roles] of Object.entries(byState[state] || {})) {
      for (const [role, n] of Object.entries(roles || {})) {
        const key = `${zone}\u0000${role}`;
        if (!rows.has(key)) rows.set(key, { zone, role, counts: {} });
        rows.get(key).counts[state] = n;
      }
    }
  }
  if (rows.size === 0) return empty("The queue is empty.");
  const sorted = [...rows.values()].sort((a, b) => a.zone.localeCompare(b.zone) || a.role.localeCompare(b.role));
  return h(
    "table",
    { class: "data", id: "queue-breakdown" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Zone"), h("th", { scope: "col" }, "Role"), states.map((s) => h("th", { scope: "col" }, s)))),
    h("tbody", {}, sorted.map((r) => h("tr", {}, h("td", {}, r.zone || h("span", { class: "muted" }, "any zone")), h("td", {}, r.role || h("span", { class: "muted" }, "any role")), states.map((s) => h("td", {}, count(r.counts[s] || 0)))))),
  );
}

function stats(region) {
  return h(
    "div",
    {},
    h(
      "div",
      { class: "stats" },
      Object.entries(region.totals || {}).map(([state, n]) => h("div", { class: "stat" }, h("span", { class: "n" }, count(n)), h("span", { class: "k" }, state))),
      h("div", { class: "stat" }, h("span", { class: "n" }, region.oldest_ready ? ago(region.oldest_ready) : "—"), h("span", { class: "k" }, "oldest ready")),
    ),
    card("By zone and role", breakdown(region.by_state)),
  );
}

function problems(messages) {
  if (messages.length === 0) return empty("No recent timeouts or errors.");
  return h(
    "table",
    { class: "data", id: "problems" },
    h("thead", {}, h("tr", {}, ["When", "Command", "Zone / role", "State", "Message"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      messages.map((m) => h("tr", {}, h("td", {}, when(m.finished_on || m.created_on)), h("td", {}, h("code", {}, `${m.class_name}.${m.method_name}`)), h("td", {}, m.zone || "—", " / ", m.role || "—"), h("td", {}, badge(m.state)), h("td", { class: "wrap" }, m.last_error || "—"))),
    ),
  );
}

export async function queueView(ctx) {
  const top = h("div", {}, loading("Queue statistics"));
  const recent = h("div", {}, loading("Recent problems"));
  clear(ctx.main, page("Queue", top, card("Recent timeouts and errors", recent)));
  const loadStats = () =>
    get("/api/queue/stats")
      .then((s) => clear(top, stats(s.region || s)))
      .catch((err) => clear(top, failure(err)));
  const loadProblems = () =>
    Promise.all(["error", "timeout"].map((state) => get(`/api/queue/messages${qs({ state, limit: 25, expand: "resources" })}`).then((a) => a.resources || [])))
      .then(([errors, timeouts]) => {
        const all = [...errors, ...timeouts];
        all.sort((a, b) => String(b.finished_on || b.created_on).localeCompare(String(a.finished_on || a.created_on)));
        clear(recent, problems(all.slice(0, 25)));
      })
      .catch((err) => clear(recent, failure(err)));
  await loadStats();
  loadProblems();
  const stop = live.follow("queue", (e) => {
    if (e.data) clear(top, stats(e.data));
    else loadStats();
  });
  const tick = setInterval(loadProblems, 15000);
  return () => {
    stop();
    clearInterval(tick);
  };
}
