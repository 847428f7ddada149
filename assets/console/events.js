// Events: the cluster events Steward stored (ManageIQ's event_streams), as a list newest
// first — filtered, sorted and paged by the server, storms (occurrences > 1) marked, each
// row opening the object it concerns — and, on an object's page, its recent events and a
// timeline of its last 24 hours. Both follow the live feed's `events` topic (new rows
// fetch the page again, at most once a second); without the feed they poll.

import { get, query as qs } from "./api.js";
import * as live from "./live.js";
import { h, clear, page, card, when, count, failure, loading, empty } from "./ui.js";
import { serverTable, throttle, regexText, quoted } from "./table.js";

/** How often the list and an object's events are fetched again while shown, when the
 *  live feed does not tell (the user may not follow the topic, or the feed is down). */
export const POLL_MS = 5000;

/** Calls `reload` when the live `topic` says something `concerns` (or after a gap), at
 *  most once a second, and every POLL_MS while the feed cannot tell; while the page is
 *  visible. Answers the function that stops it. */
export function followOrPoll(topic, concerns, reload, pollMs = POLL_MS) {
  const again = throttle(() => {
    if (document.visibilityState === "visible") reload();
  }, 1000);
  const stop = live.follow(topic, (e) => {
    if (e.gap || !e.data || concerns(e.data)) again();
  });
  const timer = setInterval(() => {
    if (!live.isLive(topic)) again();
  }, pollMs);
  return () => {
    stop();
    clearInterval(timer);
  };
}

/** The collections with an event_streams subcollection, and the event's column naming
 *  their object. */
export const EVENT_OWNERS = {
  providers: "provider_id",
  container_nodes: "container_node_id",
  container_projects: "container_project_id",
  container_groups: "container_group_id",
  containers: "container_id",
  container_replicators: "container_replicator_id",
};

/** Event types the simulator and common clusters produce: suggestions, not a limit. */
const KNOWN_TYPES = [
  "POD_SCHEDULED",
  "POD_KILLING",
  "POD_BACKOFF",
  "POD_FAILEDSCHEDULING",
  "POD_OOMKILLED",
  "POD_UNHEALTHY",
  "POD_FAILED",
  "NODE_READY",
  "NODE_NOTREADY",
  "NODE_REBOOTED",
  "NODE_NODENOTSCHEDULABLE",
  "REPLICATOR_SUCCESSFULCREATE",
  "REPLICATOR_FAILEDCREATE",
  "DEPLOYMENT_SCALINGREPLICASET",
];

const ATTRIBUTES = [
  "event_type",
  "severity",
  "reason",
  "message",
  "target_kind",
  "target_name",
  "container_namespace",
  "container_project_id",
  "container_node_id",
  "container_node_name",
  "container_group_id",
  "container_group_name",
  "container_id",
  "container_name",
  "container_replicator_id",
  "container_replicator_name",
  "provider_id",
  "occurrences",
  "timestamp",
  "first_timestamp",
];

const REPLICATOR_KINDS = new Set(["replicaset", "deployment", "statefulset", "daemonset", "replicationcontroller"]);

/** The object an event concerns, the most specific one its kind names: [collection, id,
 *  label], or null when the inventory holds none. */
export function eventObject(e) {
  const kind = (e.target_kind || "").toLowerCase();
  const node = e.container_node_id ? ["container_nodes", e.container_node_id, `node ${e.container_node_name || e.target_name}`] : null;
  const project = e.container_project_id ? ["container_projects", e.container_project_id, `project ${e.container_namespace || e.target_name}`] : null;
  const replicator = e.container_replicator_id ? ["container_replicators", e.container_replicator_id, `${e.target_kind || "replicator"} ${e.container_replicator_name || e.target_name}`] : null;
  const container = e.container_id ? ["containers", e.container_id, `container ${e.container_group_name}/${e.container_name}`] : null;
  const pod = e.container_group_id ? ["container_groups", e.container_group_id, `pod ${e.container_group_name || e.target_name}`] : null;
  if (kind === "pod") return pod || container;
  if (kind === "node") return node;
  if (kind === "namespace") return project;
  if (REPLICATOR_KINDS.has(kind)) return replicator || project;
  return container || pod || node || replicator || project;
}

/** Normal or Warning as a badge. */
export function severityBadge(severity) {
  const s = severity || "unknown";
  const kind = { warning: "warn", error: "bad", critical: "bad", normal: "neutral", info: "neutral" }[s.toLowerCase()] || "neutral";
  return h("span", { class: `badge ${kind}` }, s);
}

/** A storm folded into one row: how many occurrences it stands for. */
export function stormBadge(e) {
  const n = Number(e.occurrences || 1);
  if (n <= 1) return null;
  return h("span", { class: "badge storm", title: `A storm: ${n} identical occurrences folded into this row` }, `storm ×${count(n)}`);
}

function objectCell(e) {
  const o = eventObject(e);
  const label = e.target_kind ? `${e.target_kind} ${e.target_name || ""}`.trim() : e.target_name;
  if (!o) return label ? h("span", { class: "muted" }, label) : null;
  return h("a", { href: `#/inventory/${o[0]}/${o[1]}`, title: o[2] }, label || o[2]);
}

function messageCell(e) {
  return h("span", { class: "message", title: e.message || "" }, e.message || "");
}

/** Parses `object=container_groups:12` (the events of one object). */
function objectFilter(q) {
  const [collection, id] = (q.get("object") || "").split(":");
  const column = EVENT_OWNERS[collection];
  return column && /^\d+$/.test(id || "") ? { collection, id, column } : null;
}

function filtersOf(q) {
  const out = [];
  const type = (q.get("type") || "").trim().toUpperCase();
  if (type) out.push(`event_type = ${quoted(type)}`); // POD_* is a pattern
  const severity = (q.get("severity") || "").trim();
  if (severity) out.push(`severity = ${quoted(severity)}`);
  const project = (q.get("project") || "").trim();
  if (project) out.push(`container_namespace = ${quoted(project)}`);
  const text = (q.get("q") || "").trim();
  if (text) out.push(`message =~ /${regexText(text)}/i`);
  if (q.get("storms") === "1") out.push("occurrences > 1");
  const object = objectFilter(q);
  if (object && object.column !== "provider_id") out.push(`${object.column} = ${object.id}`);
  return out;
}

let providerNames = null;
/** Provider names by id (as text), kept for 30 s. */
export async function providers() {
  if (!providerNames) {
    const answer = await get("/api/providers?expand=resources");
    providerNames = new Map((answer.resources || []).map((p) => [String(p.id), p.name]));
    setTimeout(() => (providerNames = null), 30000);
  }
  return providerNames;
}

/** `#/events`: every event the user may see, newest first. */
export async function eventsView(ctx) {
  const q = ctx.query;
  const names = await providers().catch(() => new Map());
  const object = objectFilter(q);
  if (object && object.column === "provider_id" && !q.get("provider")) q.set("provider", object.id);
  const table = serverTable({
    path: "/api/event_streams",
    label: "Events",
    columns: [
      { key: "timestamp", label: "When", value: (e) => when(e.timestamp) },
      { key: "event_type", label: "Type", value: (e) => h("span", {}, h("code", {}, e.event_type), " ", stormBadge(e)) },
      { key: "severity", label: "Severity", value: (e) => severityBadge(e.severity) },
      { key: "target_name", label: "Object", value: objectCell },
      { key: "container_namespace", label: "Project" },
      { key: "reason", label: "Reason" },
      { key: "message", label: "Message", value: messageCell },
      { key: "provider_id", label: "Provider", value: (e) => names.get(String(e.provider_id)) || e.provider_id },
    ],
    attributes: ATTRIBUTES,
    defaultSort: "timestamp",
    defaultOrder: "desc",
    then: [["id", "desc"]],
    query: q,
    setQuery: ctx.setQuery,
    filters: filtersOf,
    params: (qq) => ({ provider_id: qq.get("provider") || undefined }),
    href: (e) => {
      const o = eventObject(e);
      return o ? `#/inventory/${o[0]}/${o[1]}` : null;
    },
    rowClass: (e) => (Number(e.occurrences || 1) > 1 ? "storm" : null),
    emptyText: q.toString() ? "No events match these filters." : "No events yet. A provider's events appear here as its cluster reports them.",
  });
  const changed = (name, value) => {
    q.set(name, value);
    ctx.setQuery({ [name]: value, offset: null });
    table.reload(true);
  };
  const input = (name, placeholder, label, extra = {}) => {
    const el = h("input", { type: "search", name, id: `f-${name}`, value: q.get(name) || "", placeholder, "aria-label": label, ...extra });
    el.addEventListener("input", throttle(() => changed(name, el.value), 400));
    return el;
  };
  const select = (name, label, options) => {
    const el = h("select", { name, id: `f-${name}`, "aria-label": label }, h("option", { value: "" }, `${label}: any`), options.map(([v, t]) => h("option", { value: v, selected: q.get(name) === v }, t)));
    el.addEventListener("change", () => changed(name, el.value));
    return el;
  };
  const storms = h("input", { type: "checkbox", id: "f-storms", checked: q.get("storms") === "1" });
  storms.addEventListener("change", () => changed("storms", storms.checked ? "1" : ""));
  const bar = h(
    "div",
    { class: "filters", role: "search" },
    input("q", "Search the messages  ( / )", "Search the messages"),
    input("type", "Event type (POD_*)", "Event type", { list: "event-types", autocomplete: "off" }),
    h("datalist", { id: "event-types" }, KNOWN_TYPES.map((t) => h("option", { value: t }))),
    select("severity", "Severity", [["Normal", "Normal"], ["Warning", "Warning"]]),
    select("provider", "Provider", [...names]),
    input("project", "Project", "Project"),
    h("label", { class: "check-inline" }, storms, " storms only"),
  );
  const only = object && object.column !== "provider_id"
    ? h(
        "p",
        { class: "note", id: "only-object" },
        "Only the events of ",
        h("a", { href: `#/inventory/${object.collection}/${object.id}` }, `${object.collection.replace(/_/g, " ").replace(/s$/, "")} #${object.id}`),
        " ",
        h("button", {
          type: "button",
          class: "ghost",
          onclick: () => {
            only.remove();
            changed("object", "");
          },
        }, "Show all"),
      )
    : null;
  clear(ctx.main, page("Events", only, bar, table.element));
  const slash = (e) => {
    if (e.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      e.preventDefault();
      bar.querySelector("input").focus();
    }
  };
  document.addEventListener("keydown", slash);
  await table.reload(true);
  // New events fetch the page shown again (the table patches rows in place, new ones
  // flash).
  const stop = followOrPoll("events", () => true, () => table.reload());
  return () => {
    stop();
    document.removeEventListener("keydown", slash);
  };
}

/** The `#/events` link listing one object's events. */
export function eventsHref(collection, id) {
  return collection === "providers" ? `#/events?provider=${id}` : `#/events?object=${collection}:${id}`;
}

function recentTable(rows) {
  if (rows.length === 0) return empty("No events recorded for it.");
  return h(
    "table",
    { class: "data", id: "recent-events" },
    h("thead", {}, h("tr", {}, ["When", "Type", "Severity", "Object", "Reason", "Message"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      rows.map((e) =>
        h(
          "tr",
          { class: Number(e.occurrences || 1) > 1 ? "storm inert" : "inert", dataset: { id: e.id } },
          h("td", {}, when(e.timestamp)),
          h("td", {}, h("code", {}, e.event_type), " ", stormBadge(e)),
          h("td", {}, severityBadge(e.severity)),
          h("td", {}, objectCell(e)),
          h("td", {}, e.reason),
          h("td", {}, messageCell(e)),
        ),
      ),
    ),
  );
}

function colour(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

const seconds = (e) => new Date(e.timestamp).getTime() / 1000;

function describe(e) {
  const n = Number(e.occurrences || 1);
  return `${new Date(e.timestamp).toLocaleString()} · ${e.event_type}${n > 1 ? ` ×${n}` : ""} · ${e.reason || ""}: ${e.message || ""}`;
}

/** ManageIQ's timeline: one row per event type, a point per event over [from, to]
 *  (unix seconds); Warning types in the warning colour. Pointing at the chart reads the
 *  nearest event out below it. */
export function timeline(events, from, to, truncated) {
  const box = h("figure", { class: "chart timeline", id: "timeline" });
  if (events.length === 0) {
    box.append(empty("No events in the last 24 hours."));
    return box;
  }
  if (typeof uPlot === "undefined") {
    box.append(h("p", { class: "failure" }, "The chart library did not load."));
    return box;
  }
  const sorted = [...events].sort((a, b) => seconds(a) - seconds(b));
  const types = [...new Set(sorted.map((e) => e.event_type))].sort();
  const warning = new Set(sorted.filter((e) => e.severity === "Warning").map((e) => e.event_type));
  const xs = sorted.map(seconds);
  const ys = types.map((t, i) => sorted.map((e) => (e.event_type === t ? i : null)));
  const readout = h("figcaption", { class: "muted small readout" }, `${count(events.length)} event${events.length === 1 ? "" : "s"}${truncated ? " (the newest only)" : ""}; point at one to read it.`);
  box.append(readout);
  const fg = colour("--muted", "#888");
  const grid = colour("--line", "#ddd");
  const normal = colour("--accent", "#2f6fde");
  const warn = colour("--bad", "#b42318");
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const label = Math.min(220, 30 + 7.2 * Math.max(...types.map((t) => t.length)));
  requestAnimationFrame(() => {
    const opts = {
      width: Math.max(320, (box.clientWidth || 900) - 4),
      height: Math.max(110, 50 + 26 * types.length),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 12 } },
      scales: { x: { time: true, range: () => [from, to] }, y: { range: () => [-0.6, types.length - 0.4] } },
      axes: [axis, { ...axis, size: label, splits: () => types.map((_, i) => i), values: (u, splits) => splits.map((i) => types[i] || "") }],
      series: [
        {},
        ...types.map((t) => {
          const c = warning.has(t) ? warn : normal;
          return { label: t, stroke: c, width: 0, paths: () => null, points: { show: true, size: 9, width: 1, stroke: c, fill: c } };
        }),
      ],
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i !== null && i !== undefined && sorted[i]) readout.textContent = describe(sorted[i]);
          },
        ],
      },
    };
    // eslint-disable-next-line no-undef
    new uPlot(opts, [xs, ...ys], box);
  });
  return box;
}

/** An object's events on its page: the last 24 hours as a timeline and the 20 newest as a
 *  list, fetched again every few seconds while the page is shown. `panel.stop()` ends it. */
export function eventsPanel(collection, id) {
  const chart = h("div", { class: "timeline-box" }, loading("Timeline"));
  const list = h("div", {}, loading("Recent events"));
  const panel = h(
    "section",
    { class: "card events", id: "object-events" },
    h("h2", {}, "Events ", h("a", { class: "small", href: eventsHref(collection, id) }, "all of them →")),
    h("h3", {}, "Timeline, last 24 hours"),
    chart,
    h("h3", {}, "Recent events"),
    list,
  );
  const base = `/api/${collection}/${id}/event_streams`;
  let newest = null;
  async function load() {
    const to = Date.now() / 1000;
    const from = to - 24 * 3600;
    try {
      const [recent, day] = await Promise.all([
        get(`${base}${qs({ expand: "resources", attributes: ATTRIBUTES.join(","), sort_by: "timestamp,id", sort_order: "desc", limit: 20 })}`),
        get(`${base}${qs({ expand: "resources", attributes: "event_type,severity,reason,message,occurrences,timestamp", sort_by: "timestamp,id", sort_order: "desc", limit: 1000, "filter[]": [`timestamp >= ${new Date(from * 1000).toISOString()}`] })}`),
      ]);
      const rows = recent.resources || [];
      const top = rows.length ? `${rows[0].id}/${rows[0].occurrences}/${recent.subquery_count ?? recent.count}` : "none";
      if (top === newest) return; // nothing new: keep the chart the user may be reading
      newest = top;
      clear(list, recentTable(rows));
      const events = day.resources || [];
      clear(chart, timeline(events, from, to, (day.subquery_count ?? day.count) > events.length));
    } catch (err) {
      newest = null;
      clear(list, failure(err, load));
      clear(chart);
    }
  }
  load();
  // New events about this object (the feed sends rows with their links) load it again.
  const column = EVENT_OWNERS[collection];
  const mine = (data) => (data.event_streams || []).some((e) => String(e[column]) === String(id));
  const stop = followOrPoll("events", mine, () => {
    if (!panel.isConnected) stop();
    else load();
  });
  panel.stop = stop;
  return panel;
}
