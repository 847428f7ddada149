// The queue: counts by zone, role and state (live), the oldest ready message, and recent
// timeouts and errors with their messages.

import { get, query as qs } from "./api.js";
import * as live from "./live.js";
import { h, clear, page, card, count, ago, when, badge, failure, loading, empty } from "./ui.js";

function grouped(title, map) {
  const entries = Object.entries(map || {});
  if (entries.length === 0) return card(title, empty("Nothing queued."));
  const states = [...new Set(entries.flatMap(([, v]) => Object.keys(v || {})))].sort();
  return card(
    title,
    h(
      "table",
      { class: "data" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, title.replace("By ", "")), states.map((s) => h("th", { scope: "col" }, s)))),
      h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("td", {}, k || "(any)"), states.map((s) => h("td", {}, count((v || {})[s] || 0)))))),
    ),
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
    h("div", { class: "grid three" }, grouped("By state", region.by_state ? { all: region.by_state } : {}), grouped("By zone", region.by_zone), grouped("By role", region.by_role)),
  );
}

function problems(messages) {
  if (messages.length === 0) return empty("No recent timeouts or errors.");
  return h(
    "table",
    { class: "data", id: "problems" },
    h("thead", {}, h("tr", {}, ["When", "Command", "State", "Message"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      messages.map((m) => h("tr", {}, h("td", {}, when(m.updated_on || m.created_on)), h("td", {}, h("code", {}, m.command || `${m.class_name}.${m.method_name}`)), h("td", {}, badge(m.state)), h("td", { class: "wrap" }, m.message || m.last_error || "—"))),
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
    Promise.all(["error", "timeout"].map((state) => get(`/api/queue/messages${qs({ state, limit: 25 })}`).then((a) => a.resources || [])))
      .then(async ([errors, timeouts]) => {
        const refs = [...errors, ...timeouts];
        const full = await Promise.all(refs.map((r) => (r.href && !r.state ? get(new URL(r.href, location.href).pathname) : r)));
        full.sort((a, b) => String(b.updated_on || b.created_on).localeCompare(String(a.updated_on || a.created_on)));
        clear(recent, problems(full.slice(0, 25)));
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
