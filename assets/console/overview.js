// The overview: the region at a glance — servers, roles, workers, the queue, inventory
// counts, utilization and pod creation/deletion — kept current by the live feed.

import { get, query as qs } from "./api.js";
import * as live from "./live.js";
import { h, clear, page, card, badge, count, bytes, ago, when, failure, loading, empty } from "./ui.js";
import { lineChart } from "./charts.js";
import { throttle } from "./table.js";

const COUNTS = [
  ["providers", "Providers", "#/providers"],
  ["container_nodes", "Nodes", "#/inventory/container_nodes"],
  ["container_projects", "Projects", "#/inventory/container_projects"],
  ["container_groups", "Pods", "#/inventory/container_groups"],
  ["containers", "Containers", "#/inventory/containers"],
  ["container_services", "Services", "#/inventory/container_services"],
  ["container_images", "Images", "#/inventory/container_images"],
];

function serversTable(servers) {
  if (servers.length === 0) return empty("No servers.");
  return h(
    "table",
    { class: "data", id: "servers" },
    h("thead", {}, h("tr", {}, ["Server", "Zone", "Status", "Heartbeat", "Memory", "CPU", "Active roles"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      servers.map((s) =>
        h(
          "tr",
          { dataset: { id: s.id } },
          h("td", {}, s.name, s.is_master ? h("span", { class: "badge neutral", title: "the region's master" }, "master") : null),
          h("td", {}, s.zone),
          h("td", {}, badge(s.status)),
          h("td", { title: s.last_heartbeat || "" }, s.last_heartbeat ? ago(s.last_heartbeat) : "never"),
          h("td", {}, bytes(s.memory_rss)),
          h("td", {}, s.cpu_percent === undefined ? "—" : `${Number(s.cpu_percent).toFixed(1)} %`),
          h("td", { class: "roles" }, (s.roles || []).filter((r) => r.active && r.status !== "not_implemented").map((r) => r.name).join(", ") || h("span", { class: "muted" }, "none")),
        ),
      ),
    ),
  );
}

function workersTable(workers) {
  if (workers.length === 0) return empty("No workers running.");
  const troubled = workers.filter((w) => w.restarts > 0 || w.last_exit_reason);
  const rows = [...workers].sort((a, b) => b.restarts - a.restarts || a.worker_type.localeCompare(b.worker_type) || a.slot - b.slot);
  return h(
    "div",
    {},
    h("p", {}, `${count(workers.length)} workers; ${count(troubled.length)} restarted.`),
    h(
      "table",
      { class: "data", id: "workers" },
      h("thead", {}, h("tr", {}, ["Worker", "Server", "Status", "Done", "Memory", "Restarts", "Last exit"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        rows.slice(0, 30).map((w) =>
          h(
            "tr",
            {},
            h("td", {}, `${w.worker_type} #${w.slot}`),
            h("td", {}, w.server),
            h("td", {}, badge(w.status)),
            h("td", {}, count(w.messages_done)),
            h("td", {}, bytes(w.memory_bytes)),
            h("td", {}, count(w.restarts)),
            h("td", { class: "wrap" }, w.last_exit_reason || "—"),
          ),
        ),
      ),
    ),
  );
}

function queueSummary(stats) {
  const region = stats.region || stats;
  const totals = region.totals || {};
  return h(
    "div",
    { class: "stats" },
    Object.entries(totals).map(([state, n]) => h("div", { class: "stat" }, h("span", { class: "n" }, count(n)), h("span", { class: "k" }, state))),
    region.oldest_ready ? h("p", { class: "muted" }, "Oldest ready message queued ", ago(region.oldest_ready)) : null,
  );
}

async function trends(box) {
  const day = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const [created, deleted] = await Promise.all([
    get(`/api/container_groups${qs({ expand: "resources", attributes: "creation_timestamp", limit: 1000, sort_by: "creation_timestamp", sort_order: "desc", "filter[]": [`creation_timestamp > ${day}`] })}`),
    get(`/api/container_groups${qs({ expand: "resources", attributes: "deleted_on", limit: 1000, include_deleted: true, sort_by: "deleted_on", sort_order: "desc", "filter[]": [`deleted_on > ${day}`] })}`),
  ]);
  const start = Math.floor((Date.now() - 24 * 3600 * 1000) / 3600000) * 3600;
  const xs = Array.from({ length: 25 }, (_, i) => start + i * 3600);
  const bucket = (rows, key) => {
    const ys = xs.map(() => 0);
    for (const r of rows) {
      const t = new Date(r[key]).getTime() / 1000;
      const i = Math.floor((t - start) / 3600);
      if (i >= 0 && i < ys.length) ys[i] += 1;
    }
    return ys;
  };
  const c = created.resources || [];
  const d = deleted.resources || [];
  const note = (a) => ((a.subquery_count ?? a.count) > 1000 ? ` (the newest 1,000 of ${count(a.subquery_count ?? a.count)})` : "");
  clear(
    box,
    h("div", { class: "charts" }, lineChart(`Pods created per hour${note(created)}`, xs, bucket(c, "creation_timestamp"), (v) => count(Math.round(v)), undefined, [xs[0], xs[xs.length - 1]]), lineChart(`Pods deleted per hour${note(deleted)}`, xs, bucket(d, "deleted_on"), (v) => count(Math.round(v)), undefined, [xs[0], xs[xs.length - 1]])),
  );
}

async function utilization(box) {
  const regions = await get("/api/regions?expand=resources");
  const region = (regions.resources || [])[0];
  if (!region) return clear(box, empty("No region."));
  const answer = await get(`/api/regions/${region.id}/metrics?interval=hourly`);
  const range = [new Date(answer.start).getTime() / 1000, new Date(answer.end).getTime() / 1000];
  const samples = answer.samples || [];
  if (samples.length === 0) return clear(box, empty("No hourly utilization yet: it is rolled up from the providers' metrics once they are captured."));
  const xs = samples.map((s) => new Date(s.timestamp).getTime() / 1000);
  const pct = (k) => samples.map((s) => (s[k] === null || s[k] === undefined ? null : Number(s[k])));
  clear(
    box,
    h(
      "div",
      { class: "charts" },
      lineChart("Node CPU usage (%)", xs, pct("cpu_usage_rate_average"), (v) => `${Number(v).toFixed(0)} %`, undefined, range),
      lineChart("Node memory usage (%)", xs, pct("mem_usage_absolute_average"), (v) => `${Number(v).toFixed(0)} %`, undefined, range),
    ),
  );
}

export async function overview(ctx) {
  const servers = h("div", {}, loading("Servers"));
  const roles = h("div", {}, loading("Roles"));
  const workers = h("div", {}, loading("Workers"));
  const queue = h("div", {}, loading("Queue"));
  const counts = h("div", { class: "counts" });
  const util = h("div", {}, loading("Utilization"));
  const trend = h("div", {}, loading("Trends"));
  const inventory = ctx.may("inventory_view");
  clear(
    ctx.main,
    page(
      "Overview",
      inventory ? counts : null,
      h("div", { class: "grid two" }, card("Servers", servers), card("Queue", queue, h("a", { href: "#/queue" }, "Queue details →"))),
      h("div", { class: "grid two" }, card("Roles", roles), card("Workers", workers)),
      inventory ? card("Node utilization (hourly)", util) : null,
      inventory ? card("Pod creation and deletion (last 24 h)", trend) : null,
    ),
  );
  const show = (box, promise, render) =>
    promise.then((v) => clear(box, render(v))).catch((err) => clear(box, failure(err)));
  const loadServers = () =>
    show(servers, get("/api/servers?expand=resources"), (a) => serversTable(a.resources || []));
  const loadRoles = () =>
    show(roles, get("/api/server_roles?expand=resources"), (a) => {
      const rows = (a.resources || []).filter((r) => r.implemented !== false);
      return h(
        "table",
        { class: "data" },
        h("thead", {}, h("tr", {}, ["Role", "Scope", "Active on"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, r.scope || "—"), h("td", {}, (r.active_on || []).map((s) => s.name || s).join(", ") || h("span", { class: "muted" }, "nowhere"))))),
      );
    });
  const loadWorkers = () => show(workers, get("/api/workers?expand=resources"), (a) => workersTable(a.resources || []));
  const loadQueue = () => show(queue, get("/api/queue/stats"), queueSummary);
  const loadCounts = () =>
    Promise.all(
      COUNTS.map(([c, title, href]) =>
        get(`/api/${c}?limit=1`)
          .then((a) => h("a", { class: "count-card", href }, h("span", { class: "n" }, count(a.count)), h("span", { class: "k" }, title)))
          .catch(() => h("span", { class: "count-card" }, h("span", { class: "n" }, "?"), h("span", { class: "k" }, title))),
      ),
    ).then((cards) => clear(counts, cards));
  loadServers();
  loadRoles();
  loadWorkers();
  loadQueue();
  if (inventory) {
    loadCounts();
    utilization(util).catch((err) => clear(util, failure(err)));
    trends(trend).catch((err) => clear(trend, failure(err)));
  }
  const serversChanged = throttle(() => {
    loadServers();
    loadRoles();
    loadWorkers();
  }, 2000);
  const countsChanged = throttle(() => inventory && loadCounts(), 3000);
  const stops = [
    live.follow("servers", serversChanged),
    live.follow("queue", (e) => (e.data ? clear(queue, queueSummary({ region: e.data })) : loadQueue())),
    live.follow("refreshes", countsChanged),
    live.follow("inventory", countsChanged),
  ];
  // Heartbeat ages move without events.
  const tick = setInterval(loadServers, 30000);
  return () => {
    stops.forEach((s) => s());
    clearInterval(tick);
  };
}
