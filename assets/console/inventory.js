// Inventory: a list per collection (search, filters, sort and paging on the server, rows
// kept current from the live feed) and a page per object (properties, labels, tags,
// relations as links, utilization charts, events with their timeline, a node's open alerts).

import { get, query as qs } from "./api.js";
import * as live from "./live.js";
import { h, clear, page, card, properties, labels, badge, when, bytes, count, loading, failure, empty } from "./ui.js";
import { serverTable, throttle, regexText, quoted } from "./table.js";
import { metricsPanel } from "./charts.js";
import { eventsPanel, EVENT_OWNERS } from "./events.js";
import { openAlertsPanel } from "./alerts.js";

const link = (collection, id, text) => (id ? h("a", { href: `#/inventory/${collection}/${id}` }, text || `#${id}`) : null);
const yes = (v) => (v === true ? badge("ready") : v === false ? badge("not ready") : null);

/** What the console lists: collection, title, columns, filters. */
export const COLLECTIONS = [
  {
    name: "container_nodes",
    title: "Nodes",
    one: "node",
    attributes: ["name", "ready_status", "kubelet_version", "cpu_cores", "memory_bytes", "pods_capacity", "internal_ip", "provider_id", "creation_timestamp"],
    columns: [
      { key: "name", label: "Name" },
      { key: "ready_status", label: "Ready", value: (r) => badge(r.ready_status === "True" ? "ready" : r.ready_status === "False" ? "notready" : r.ready_status) },
      { key: "kubelet_version", label: "Kubelet" },
      { key: "cpu_cores", label: "CPU cores" },
      { key: "memory_bytes", label: "Memory", value: (r) => bytes(r.memory_bytes) },
      { key: "pods_capacity", label: "Pod capacity" },
      { key: "internal_ip", label: "Internal IP" },
    ],
    status: { attr: "ready_status", label: "Ready", values: ["True", "False", "Unknown"] },
  },
  {
    name: "container_projects",
    title: "Projects",
    one: "project",
    attributes: ["name", "phase", "provider_id", "creation_timestamp"],
    columns: [
      { key: "name", label: "Name" },
      { key: "phase", label: "Phase", value: (r) => badge(r.phase) },
      { key: "creation_timestamp", label: "Created", value: (r) => when(r.creation_timestamp) },
    ],
    project: "name",
    status: { attr: "phase", label: "Phase", values: ["Active", "Terminating"] },
  },
  {
    name: "container_groups",
    title: "Pods",
    one: "pod",
    attributes: ["name", "namespace", "phase", "ready", "restart_count", "node_name", "pod_ip", "provider_id", "creation_timestamp"],
    columns: [
      { key: "name", label: "Name" },
      { key: "namespace", label: "Project" },
      { key: "phase", label: "Phase", value: (r) => badge(r.phase) },
      { key: "ready", label: "Ready", value: (r) => yes(r.ready) },
      { key: "restart_count", label: "Restarts" },
      { key: "node_name", label: "Node" },
      { key: "pod_ip", label: "IP" },
      { key: "creation_timestamp", label: "Created", value: (r) => when(r.creation_timestamp) },
    ],
    project: "namespace",
    node: "node_name",
    status: { attr: "phase", label: "Phase", values: ["Running", "Pending", "Succeeded", "Failed", "Unknown"] },
  },
  {
    name: "containers",
    title: "Containers",
    one: "container",
    attributes: ["name", "container_group_id", "image", "state", "ready", "restart_count", "provider_id", "started_at"],
    columns: [
      { key: "name", label: "Name" },
      { key: "container_group_id", label: "Pod", value: (r) => link("container_groups", r.container_group_id) },
      { key: "image", label: "Image" },
      { key: "state", label: "State", value: (r) => badge(r.state) },
      { key: "ready", label: "Ready", value: (r) => yes(r.ready) },
      { key: "restart_count", label: "Restarts" },
      { key: "started_at", label: "Started", value: (r) => when(r.started_at) },
    ],
    project: "container_group.namespace",
    status: { attr: "state", label: "State", values: ["running", "waiting", "terminated"] },
  },
  {
    name: "container_services",
    title: "Services",
    one: "service",
    attributes: ["name", "namespace", "service_type", "cluster_ip", "provider_id", "creation_timestamp"],
    columns: [
      { key: "name", label: "Name" },
      { key: "namespace", label: "Project" },
      { key: "service_type", label: "Type" },
      { key: "cluster_ip", label: "Cluster IP" },
      { key: "creation_timestamp", label: "Created", value: (r) => when(r.creation_timestamp) },
    ],
    project: "namespace",
    status: { attr: "service_type", label: "Type", values: ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] },
  },
  {
    name: "container_replicators",
    title: "Replicators",
    one: "replicator",
    attributes: ["kind", "name", "namespace", "replicas", "ready_replicas", "provider_id", "creation_timestamp"],
    columns: [
      { key: "name", label: "Name" },
      { key: "kind", label: "Kind" },
      { key: "namespace", label: "Project" },
      { key: "ready_replicas", label: "Ready", value: (r) => `${r.ready_replicas ?? "—"} / ${r.replicas ?? "—"}` },
      { key: "creation_timestamp", label: "Created", value: (r) => when(r.creation_timestamp) },
    ],
    project: "namespace",
    status: { attr: "kind", label: "Kind", values: ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController"] },
  },
  {
    name: "container_images",
    title: "Images",
    one: "image",
    attributes: ["name", "tag", "digest", "used", "provider_id"],
    columns: [
      { key: "name", label: "Name" },
      { key: "tag", label: "Tag" },
      { key: "digest", label: "Digest", value: (r) => (r.digest ? h("code", { title: r.digest }, r.digest.slice(0, 19)) : null) },
      { key: "used", label: "In use", value: (r) => (r.used ? "yes" : "no") },
    ],
    status: { attr: "used", label: "In use", values: ["true", "false"] },
  },
];

const byName = (name) => COLLECTIONS.find((c) => c.name === name);

let providerNames = null;
async function providers() {
  if (!providerNames) {
    const answer = await get("/api/providers?expand=resources");
    providerNames = new Map((answer.resources || []).map((p) => [String(p.id), p.name]));
    setTimeout(() => (providerNames = null), 30000);
  }
  return providerNames;
}

/** The API filters of a list's query: search, project, node, label, status. */
function filtersOf(c, q) {
  const out = [];
  const search = (q.get("q") || "").trim();
  if (search) out.push(`name =~ /${regexText(search)}/i`);
  const project = (q.get("project") || "").trim();
  if (project && c.project) out.push(`${c.project} = ${quoted(project)}`);
  const node = (q.get("node") || "").trim();
  if (node && c.node) out.push(`${c.node} = ${quoted(node)}`);
  const label = (q.get("label") || "").trim();
  if (label) {
    const [k, ...rest] = label.split("=");
    if (k && rest.length) out.push(`labels.${k.trim()} = ${quoted(rest.join("=").trim())}`);
  }
  const status = (q.get("status") || "").trim();
  if (status && c.status) out.push(`${c.status.attr} = ${c.status.attr === "used" ? status : quoted(status)}`);
  return out;
}

export async function inventoryList(ctx) {
  const c = byName(ctx.args[0]);
  if (!c) throw new Error(`no collection ${ctx.args[0]}`);
  const q = ctx.query;
  const names = await providers().catch(() => new Map());
  const columns = [...c.columns, { key: "provider_id", label: "Provider", value: (r) => names.get(String(r.provider_id)) || r.provider_id }];
  const table = serverTable({
    path: `/api/${c.name}`,
    label: c.title,
    columns,
    attributes: c.attributes,
    query: q,
    setQuery: ctx.setQuery,
    filters: (qq) => filtersOf(c, qq),
    params: (qq) => ({ provider_id: qq.get("provider") || undefined }),
    href: (row) => `#/inventory/${c.name}/${row.id}`,
    emptyText: q.toString() ? `No ${c.title.toLowerCase()} match these filters.` : `No ${c.title.toLowerCase()} yet. Add a provider and its inventory appears here.`,
  });
  const input = (name, placeholder, label) => {
    const el = h("input", { type: "search", name, id: `f-${name}`, value: q.get(name) || "", placeholder, "aria-label": label });
    el.addEventListener("input", throttle(() => {
      q.set(name, el.value);
      ctx.setQuery({ [name]: el.value, offset: null });
      table.reload(true);
    }, 400));
    return el;
  };
  const select = (name, label, options) => {
    const el = h("select", { name, id: `f-${name}`, "aria-label": label }, h("option", { value: "" }, `${label}: any`), options.map(([v, t]) => h("option", { value: v, selected: q.get(name) === v }, t)));
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
    input("q", "Search by name  ( / )", "Search by name"),
    select("provider", "Provider", [...names].map(([id, n]) => [id, n])),
    c.project ? input("project", "Project", "Project") : null,
    c.node ? input("node", "Node", "Node") : null,
    c.name !== "containers" ? input("label", "label=value", "Label") : null,
    c.status ? select("status", c.status.label, c.status.values.map((v) => [v, v])) : null,
  );
  clear(ctx.main, page(c.title, bar, table.element));
  const slash = (e) => {
    if (e.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      e.preventDefault();
      bar.querySelector("input").focus();
    }
  };
  document.addEventListener("keydown", slash);
  await table.reload(true);
  // Live: what the feed says changed in this collection (or a refresh finished) fetches the
  // page again, at most once a second.
  const again = throttle(() => {
    if (document.visibilityState === "visible") table.reload();
  }, 1000);
  const stops = [
    live.follow("inventory", (e) => {
      if (e.gap || !e.data || !e.data.collection || e.data.collection === c.name) again();
    }),
    live.follow("refreshes", () => again()),
  ];
  return () => {
    stops.forEach((s) => s());
    document.removeEventListener("keydown", slash);
  };
}

/** Relations of one object, as links. */
async function relations(c, o) {
  const rows = [];
  const sub = async (path, collection, title) => {
    const answer = await get(`${path}${qs({ expand: "resources", attributes: "name", limit: 50 })}`);
    const items = answer.resources || [];
    rows.push([
      title,
      items.length
        ? h("span", { class: "links" }, items.map((x) => link(collection, x.id, x.name)), answer.count > items.length ? h("span", { class: "muted" }, ` … ${count(answer.count)} in all`) : null)
        : h("span", { class: "muted" }, "none"),
    ]);
  };
  rows.push(["Provider", h("a", { href: `#/providers/${o.provider_id}` }, (await providers().catch(() => new Map())).get(String(o.provider_id)) || `#${o.provider_id}`)]);
  const base = `/api/${c.name}/${o.id}`;
  switch (c.name) {
    case "container_groups":
      rows.push(["Node", link("container_nodes", o.container_node_id, o.node_name)]);
      rows.push(["Project", link("container_projects", o.container_project_id, o.namespace)]);
      if (o.container_replicator_id) rows.push(["Replicator", link("container_replicators", o.container_replicator_id)]);
      await sub(`${base}/containers`, "containers", "Containers");
      await podServices(o, rows);
      break;
    case "container_nodes":
      await sub(`${base}/container_groups`, "container_groups", "Pods");
      break;
    case "container_projects":
      await sub(`${base}/container_groups`, "container_groups", "Pods");
      await sub(`${base}/container_services`, "container_services", "Services");
      await sub(`${base}/container_replicators`, "container_replicators", "Replicators");
      break;
    case "container_replicators":
      rows.push(["Project", link("container_projects", o.container_project_id, o.namespace)]);
      await sub(`${base}/container_groups`, "container_groups", "Pods");
      break;
    case "container_services":
      rows.push(["Project", link("container_projects", o.container_project_id, o.namespace)]);
      break;
    case "containers":
      rows.push(["Pod", link("container_groups", o.container_group_id)]);
      rows.push(["Image", link("container_images", o.container_image_id, o.image)]);
      break;
    case "container_images":
      await sub(`${base}/containers`, "containers", "Containers");
      break;
    default:
  }
  return rows;
}

/** Services of the pod's project whose selector matches its labels. */
async function podServices(pod, rows) {
  const answer = await get(`/api/container_services${qs({ expand: "resources", attributes: "name,selector", limit: 200, "filter[]": [`namespace = ${quoted(pod.namespace)}`] })}`);
  const podLabels = pod.labels || {};
  const matching = (answer.resources || []).filter((s) => {
    const sel = s.selector || {};
    const keys = Object.keys(sel);
    return keys.length > 0 && keys.every((k) => podLabels[k] === sel[k]);
  });
  rows.push(["Services", matching.length ? h("span", { class: "links" }, matching.map((s) => link("container_services", s.id, s.name))) : h("span", { class: "muted" }, "none")]);
}

const HIDDEN = new Set(["href", "labels", "annotations", "selector", "ports", "id"]);

export async function inventoryDetail(ctx) {
  const [name, id] = ctx.args;
  const c = byName(name);
  if (!c) throw new Error(`no collection ${name}`);
  clear(ctx.main, loading());
  const o = await get(`/api/${c.name}/${id}`);
  const props = Object.entries(o)
    .filter(([k, v]) => !HIDDEN.has(k) && (typeof v !== "object" || v === null))
    .map(([k, v]) => [k.replace(/_/g, " "), /(_on|_at|timestamp)$/.test(k) ? when(v) : /bytes$/.test(k) ? `${bytes(v)} (${v})` : typeof v === "boolean" ? String(v) : v]);
  const rel = h("div", {}, loading("Relations"));
  const tags = h("div", {}, loading("Tags"));
  const events = EVENT_OWNERS[c.name] ? eventsPanel(c.name, o.id) : null;
  const alerts = c.name === "container_nodes" ? openAlertsPanel(c.name, o.id, ctx.may) : null;
  const title = `${c.one[0].toUpperCase()}${c.one.slice(1)} ${o.name || o.id}`;
  clear(
    ctx.main,
    h("nav", { class: "crumbs" }, h("a", { href: `#/inventory/${c.name}` }, c.title), " / ", o.name || o.id),
    page(
      title,
      o.deleted_on ? h("p", { class: "failure" }, "This object is no longer in the cluster (deleted ", when(o.deleted_on), ").") : null,
      h("div", { class: "grid two" }, card("Properties", properties(props)), h("div", {}, card("Relationships", rel), card("Labels", labels(o.labels)), card("Tags", tags), o.selector ? card("Selector", labels(o.selector)) : null)),
      c.name === "container_nodes" ? alerts : null,
      metricsPanel(c.name, o.id),
      events,
      o.annotations && Object.keys(o.annotations).length ? card("Annotations", h("details", {}, h("summary", {}, `${Object.keys(o.annotations).length} annotations`), labels(o.annotations))) : null,
    ),
  );
  relations(c, o)
    .then((rows) => clear(rel, properties(rows)))
    .catch((err) => clear(rel, failure(err)));
  get(`/api/${c.name}/${o.id}/tags?expand=resources`)
    .then((t) => {
      const items = t.resources || [];
      clear(tags, items.length ? h("span", { class: "chips" }, items.map((x) => h("span", { class: "chip" }, x.name))) : empty("No tags."));
    })
    .catch((err) => clear(tags, failure(err)));
  return () => [events, alerts].forEach((p) => p && p.stop());
}
