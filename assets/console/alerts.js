// Alerts (from policies, Alertmanager and Steward itself): a list firing first, filtered by
// status, severity and source, with acknowledge, assign and resolve per row for users
// with `alert_manage` (others see no buttons; the API refuses them anyway); a node's or
// provider's open alerts on its page; and the event policies, read-only.

import { api, get, query as qs } from "./api.js";
import { h, clear, page, card, when, count, failure, loading, empty, toast, promptDialog, confirmDialog } from "./ui.js";
import { serverTable } from "./table.js";
import { POLL_MS, followOrPoll, providers } from "./events.js";

const ATTRIBUTES = [
  "source",
  "name",
  "status",
  "severity",
  "description",
  "url",
  "target_kind",
  "target_name",
  "provider_id",
  "container_node_id",
  "container_group_id",
  "occurrences",
  "started_on",
  "ended_on",
  "last_seen_on",
  "acknowledged",
  "acknowledged_by",
  "assignee",
];

/** error, warning, info as a badge. */
export function alertSeverity(severity) {
  const s = severity || "unknown";
  const kind = { error: "bad", critical: "bad", warning: "warn", info: "neutral" }[s.toLowerCase()] || "neutral";
  return h("span", { class: `badge ${kind} severity-${kind}` }, s);
}

function statusBadge(status) {
  return h("span", { class: `badge ${status === "firing" ? "bad" : status === "resolved" ? "good" : "neutral"}` }, status || "unknown");
}

function objectOf(a, names) {
  const kind = (a.target_kind || "").toLowerCase();
  const name = a.target_name || (kind === "provider" && names && names.get(String(a.provider_id))) || "";
  const label = `${a.target_kind || ""} ${name}`.trim();
  if (a.container_group_id) return h("a", { href: `#/inventory/container_groups/${a.container_group_id}` }, label || `pod #${a.container_group_id}`);
  if (a.container_node_id) return h("a", { href: `#/inventory/container_nodes/${a.container_node_id}` }, label || `node #${a.container_node_id}`);
  if (a.provider_id && (!label || kind === "provider")) return h("a", { href: `#/providers/${a.provider_id}` }, label || `provider #${a.provider_id}`);
  return label || null;
}

function nameCell(a) {
  return h(
    "span",
    { class: "alert-name" },
    h("strong", {}, a.name),
    Number(a.occurrences || 1) > 1 ? h("span", { class: "badge neutral", title: "times seen" }, `×${count(a.occurrences)}`) : null,
    a.description ? h("small", { class: "why block" }, a.description) : null,
  );
}

function handling(a) {
  const parts = [];
  if (a.acknowledged) parts.push(h("span", { class: "badge good ack", title: "acknowledged" }, `ack ${a.acknowledged_by || ""}`.trim()));
  if (a.assignee) parts.push(h("span", { class: "badge neutral assignee", title: "assigned to" }, `→ ${a.assignee}`));
  return parts.length ? h("span", { class: "chips" }, parts) : null;
}

/** The buttons of one alert, when the user may act on it and it is still firing. */
function actions(a, may, done) {
  if (!may("alert_manage") || a.status !== "firing") return null;
  const act = (body, what) => async (e) => {
    e.stopPropagation();
    try {
      await api("POST", `/api/alerts/${a.id}`, body);
      toast(`Alert ${a.name}: ${what}`);
      done();
    } catch (err) {
      toast(err.message, "error");
    }
  };
  return h(
    "span",
    { class: "row-actions" },
    a.acknowledged ? null : h("button", { type: "button", class: "ack", dataset: { alert: a.id }, onclick: act({ action: "acknowledge" }, "acknowledged") }, "Acknowledge"),
    h("button", {
      type: "button",
      class: "assign",
      dataset: { alert: a.id },
      onclick: async (e) => {
        e.stopPropagation();
        const who = await promptDialog(`Assign ${a.name}`, "User id", "Assign", a.assignee || "");
        if (who !== null) await act({ action: "assign", assignee: who }, `assigned to ${who}`)(e);
      },
    }, "Assign…"),
    h("button", {
      type: "button",
      class: "resolve",
      dataset: { alert: a.id },
      onclick: async (e) => {
        e.stopPropagation();
        if (await confirmDialog(`Resolve ${a.name}?`, "The alert is closed now; if its cause persists, its source raises it again.", "Resolve")) await act({ action: "resolve" }, "resolved")(e);
      },
    }, "Resolve"),
  );
}

function tabs(current) {
  return h(
    "div",
    { class: "tabs", role: "tablist" },
    [
      ["#/alerts", "Alerts", "alerts"],
      ["#/alerts/policies", "Policies", "policies"],
    ].map(([href, text, name]) => h("a", { href, role: "tab", class: "tab", "aria-selected": String(name === current) }, text)),
  );
}

/** `#/alerts`: firing first, then the most recently seen. */
export async function alertsView(ctx) {
  const q = ctx.query;
  const names = await providers().catch(() => new Map());
  const table = serverTable({
    path: "/api/alerts",
    label: "Alerts",
    columns: [
      { key: "severity", label: "Severity", value: (a) => alertSeverity(a.severity) },
      { key: "name", label: "Alert", value: nameCell },
      { key: "status", label: "Status", value: (a) => statusBadge(a.status) },
      { key: "target_name", label: "Object", value: (a) => objectOf(a, names) },
      { key: "source", label: "Source" },
      { key: "started_on", label: "Since", value: (a) => when(a.started_on) },
      { key: "last_seen_on", label: "Last seen", value: (a) => (a.status === "resolved" ? when(a.ended_on) : when(a.last_seen_on)) },
      { key: "acknowledged", label: "Handling", value: handling },
      { key: "id", label: "", sort: false, value: (a) => actions(a, ctx.may, () => table.reload()) },
    ],
    attributes: ATTRIBUTES,
    defaultSort: "status",
    then: [
      ["last_seen_on", "desc"],
      ["id", "desc"],
    ],
    query: q,
    setQuery: ctx.setQuery,
    filters: (qq) => {
      const out = [];
      for (const name of ["status", "severity", "source"]) {
        const v = (qq.get(name) || "").trim();
        if (v) out.push(`${name} = "${v.replace(/[^a-z]/g, "")}"`);
      }
      const node = (qq.get("node") || "").trim();
      if (/^\d+$/.test(node)) out.push(`container_node_id = ${node}`);
      return out;
    },
    params: (qq) => ({ provider_id: qq.get("provider") || undefined }),
    href: (a) => (a.container_group_id ? `#/inventory/container_groups/${a.container_group_id}` : a.container_node_id ? `#/inventory/container_nodes/${a.container_node_id}` : null),
    rowClass: (a) => `alert-${a.status}${a.acknowledged ? " acknowledged" : ""}`,
    emptyText: q.toString() ? "No alerts match these filters." : "No alerts. Policies, Alertmanager and Steward itself raise them here.",
  });
  const select = (name, label, values) => {
    const el = h("select", { name, id: `f-${name}`, "aria-label": label }, h("option", { value: "" }, `${label}: any`), values.map((v) => h("option", { value: v, selected: q.get(name) === v }, `${label}: ${v}`)));
    el.addEventListener("change", () => {
      q.set(name, el.value);
      ctx.setQuery({ [name]: el.value, offset: null });
      table.reload(true);
    });
    return el;
  };
  const bar = h(
    "div",
    { class: "filters", role: "search" },
    select("status", "Status", ["firing", "resolved"]),
    select("severity", "Severity", ["error", "warning", "info"]),
    select("source", "Source", ["policy", "alertmanager", "steward"]),
  );
  clear(ctx.main, page("Alerts", tabs("alerts"), bar, table.element));
  await table.reload(true);
  // Alerts raised or changed fetch the page again (not while a dialog is open).
  return followOrPoll("alerts", () => true, () => {
    if (!document.querySelector("dialog[open]")) table.reload();
  });
}

function chips(values) {
  const items = values.filter(Boolean);
  return items.length ? h("span", { class: "chips" }, items.map((v) => h("span", { class: "chip", title: v }, v))) : h("span", { class: "muted" }, "—");
}

function actionText(action) {
  return Object.entries(action || {}).map(([kind, v]) => {
    if (typeof v !== "object" || v === null) return `${kind} ${v}`;
    const detail = v.severity || v.url || (v.to && v.to.join(", ")) || v.name || "";
    return detail ? `${kind}: ${detail}` : kind;
  });
}

/** `#/alerts/policies`: the event policies this node runs with, read-only. */
export async function policiesView(ctx) {
  const body = h("div", {}, loading("Policies"));
  clear(ctx.main, page("Alerts", tabs("policies"), body));
  try {
    const answer = await get(`/api/policies${qs({ expand: "resources", limit: 1000 })}`);
    const rows = answer.resources || [];
    clear(
      body,
      card(
        `Event policies (${count(rows.length)})`,
        h("p", { class: "muted small" }, "What the event handler does when an event matches: read from the built-in settings and the node's policy directory. Change them there; the console shows them only."),
        rows.length === 0
          ? empty("No policies.")
          : h(
              "table",
              { class: "data", id: "policies" },
              h("thead", {}, h("tr", {}, ["Policy", "Enabled", "Events", "Conditions", "Actions", "From"].map((t) => h("th", { scope: "col" }, t)))),
              h(
                "tbody",
                {},
                rows.map((p) =>
                  h(
                    "tr",
                    { class: "inert" },
                    h("td", {}, h("strong", {}, p.name), p.description ? h("small", { class: "why block" }, p.description) : null),
                    h("td", {}, h("span", { class: `badge ${p.enabled ? "good" : "neutral"}` }, p.enabled ? "enabled" : "disabled")),
                    h("td", {}, chips(p.events || [])),
                    h(
                      "td",
                      {},
                      chips(
                        Object.entries(p.conditions || {}).flatMap(([k, v]) =>
                          Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : typeof v === "object" && v !== null ? Object.entries(v).map(([lk, lv]) => `${k}.${lk}=${lv}`) : [`${k}: ${v}`],
                        ),
                      ),
                    ),
                    h("td", {}, chips((p.actions || []).flatMap(actionText))),
                    h("td", {}, h("code", { class: "small" }, p.source || "")),
                  ),
                ),
              ),
            ),
      ),
    );
  } catch (err) {
    clear(body, failure(err, () => policiesView(ctx)));
  }
}

/** A node's or provider's open (firing) alerts, for its page. */
export function openAlertsPanel(collection, id, may) {
  let names = null;
  const body = h("div", {}, loading("Alerts"));
  const filter = collection === "providers" ? `provider=${id}` : `node=${id}`;
  const panel = h("section", { class: "card", id: "open-alerts" }, h("h2", {}, "Open alerts ", h("a", { class: "small", href: `#/alerts?status=firing&${filter}` }, "all of them →")), body);
  async function load() {
    try {
      const answer = await get(`/api/${collection}/${id}/alerts${qs({ expand: "resources", attributes: ATTRIBUTES.join(","), "filter[]": ['status = "firing"'], sort_by: "last_seen_on,id", sort_order: "desc", limit: 20 })}`);
      const rows = answer.resources || [];
      names = names || (await providers().catch(() => new Map()));
      clear(
        body,
        rows.length === 0
          ? empty("No open alerts.")
          : h(
              "table",
              { class: "data", id: "open-alerts-table" },
              h("thead", {}, h("tr", {}, ["Severity", "Alert", "Object", "Since", "Handling", ""].map((t) => h("th", { scope: "col" }, t)))),
              h(
                "tbody",
                {},
                rows.map((a) =>
                  h(
                    "tr",
                    { class: "inert", dataset: { id: a.id } },
                    h("td", {}, alertSeverity(a.severity)),
                    h("td", {}, nameCell(a)),
                    h("td", {}, objectOf(a, names)),
                    h("td", {}, when(a.started_on)),
                    h("td", {}, handling(a)),
                    h("td", {}, actions(a, may, load)),
                  ),
                ),
              ),
            ),
        (answer.subquery_count ?? answer.count) > rows.length ? h("p", { class: "muted small" }, `${count(answer.subquery_count ?? answer.count)} open in all.`) : null,
      );
    } catch (err) {
      clear(body, failure(err, load));
    }
  }
  load();
  const stop = followOrPoll(
    "alerts",
    () => true,
    () => {
      if (!panel.isConnected) stop();
      else if (!document.querySelector("dialog[open]")) load();
    },
    POLL_MS * 2,
  );
  panel.stop = stop;
  return panel;
}
