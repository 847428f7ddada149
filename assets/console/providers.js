// Providers: the list with status and why, last refresh and metrics status; a page per
// provider with its inventory counts, refreshes, open alerts and events; add (token or
// kubeconfig upload with a context choice), edit, refresh, protect and remove with
// confirmation. Controls the user may not use are not shown (the API refuses them anyway).

import { api, get } from "./api.js";
import * as live from "./live.js";
import { h, clear, page, card, properties, badge, when, count, failure, loading, empty, toast, confirmDialog, field } from "./ui.js";
import { throttle } from "./table.js";
import { eventsPanel } from "./events.js";
import { openAlertsPanel } from "./alerts.js";

function seconds(s) {
  if (s === undefined || s === null) return "—";
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${Number(s).toFixed(1)} s`;
}

const KINDS = {
  container_nodes: "Nodes",
  container_projects: "Projects",
  container_groups: "Pods",
  containers: "Containers",
  container_services: "Services",
  container_replicators: "Replicators",
  container_images: "Images",
  container_image_registries: "Image registries",
};

function statusCell(p) {
  return h("span", {}, badge(p.status || "unknown"), p.status_message ? h("small", { class: "why" }, " ", p.status_message) : null);
}

export async function providerList(ctx) {
  const body = h("div", {}, loading("Providers"));
  clear(
    ctx.main,
    page(
      "Providers",
      ctx.may("provider_manage") ? h("p", {}, h("a", { class: "button primary", href: "#/providers/new", id: "add-provider" }, "Add a provider")) : null,
      body,
    ),
  );
  async function load() {
    try {
      const answer = await get("/api/providers?expand=resources");
      const rows = answer.resources || [];
      if (rows.length === 0) {
        clear(body, empty(ctx.may("provider_manage") ? "No providers yet. Add one to see its clusters' inventory." : "No providers you may see."));
        return;
      }
      clear(
        body,
        h(
          "table",
          { class: "data", id: "providers" },
          h("thead", {}, h("tr", {}, ["Name", "Type", "Zone", "Status", "Last refresh", "Last success", "Metrics"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            rows.map((p) =>
              h(
                "tr",
                { dataset: { id: p.id } },
                h("td", {}, h("a", { href: `#/providers/${p.id}` }, p.name), p.protected ? h("span", { class: "badge neutral", title: "protected from removal" }, "protected") : null),
                h("td", {}, p.type),
                h("td", {}, p.zone),
                h("td", {}, statusCell(p)),
                h("td", {}, when(p.last_refresh_on)),
                h("td", {}, when(p.last_refresh_success_on)),
                h("td", {}, badge(p.metrics_status || "unknown"), p.metrics_status_message ? h("small", { class: "why" }, " ", p.metrics_status_message) : null),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      clear(body, failure(err, load));
    }
  }
  await load();
  return live.follow("refreshes", throttle(load, 1000));
}

export async function providerDetail(ctx) {
  const id = ctx.args[0];
  const body = h("div", {}, loading("Provider"));
  // Created once, below what `load` redraws on each refresh.
  const alerts = openAlertsPanel("providers", id, ctx.may);
  const events = eventsPanel("providers", id);
  clear(ctx.main, body, alerts, events);
  async function load() {
    const [p, refreshes] = await Promise.all([get(`/api/providers/${id}`), get(`/api/providers/${id}/refreshes?limit=10`).catch(() => ({ resources: [] }))]);
    const actions = h("div", { class: "actions" });
    if (ctx.may("provider_refresh")) {
      actions.append(
        h("button", {
          type: "button",
          class: "primary",
          id: "refresh",
          onclick: async () => {
            try {
              await api("POST", `/api/providers/${id}`, { action: "refresh" });
              toast(`Refresh of ${p.name} queued`);
            } catch (err) {
              toast(err.message, "error");
            }
          },
        }, "Refresh now"),
      );
    }
    if (ctx.may("provider_manage")) {
      actions.append(
        h("a", { class: "button", href: `#/providers/${id}/edit` }, "Edit"),
        h("button", {
          type: "button",
          onclick: async () => {
            try {
              await api("POST", `/api/providers/${id}`, { action: p.protected ? "unprotect" : "protect" });
              load();
            } catch (err) {
              toast(err.message, "error");
            }
          },
        }, p.protected ? "Unprotect" : "Protect"),
        h("button", {
          type: "button",
          class: "danger",
          id: "remove",
          disabled: p.protected,
          title: p.protected ? "Protected providers cannot be removed; unprotect first." : null,
          onclick: async () => {
            if (!(await confirmDialog(`Remove ${p.name}?`, "The provider and its whole inventory are removed from Steward (the cluster is not touched).", "Remove"))) return;
            try {
              await api("DELETE", `/api/providers/${id}`);
              toast(`${p.name} removed`);
              location.hash = "/providers";
            } catch (err) {
              toast(err.message, "error");
            }
          },
        }, "Remove"),
      );
    }
    const inv = p.inventory || {};
    const rows = refreshes.resources || [];
    clear(
      body,
      h("nav", { class: "crumbs" }, h("a", { href: "#/providers" }, "Providers"), " / ", p.name),
      page(
        p.name,
        actions,
        p.status_message ? h("p", { class: p.status === "ok" ? "note" : "failure", role: "status" }, badge(p.status), " ", p.status_message) : null,
        h(
          "div",
          { class: "grid two" },
          card(
            "Properties",
            properties([
              ["Type", p.type],
              ["Zone", p.zone],
              ["API URL", h("code", {}, p.api_url)],
              ["Authentication", `${p.auth_kind}${p.kubeconfig_context ? ` (context ${p.kubeconfig_context})` : ""}`],
              ["Verify TLS", String(p.verify_tls)],
              ["Status", statusCell(p)],
              ["Last refresh", when(p.last_refresh_on)],
              ["Last success", when(p.last_refresh_success_on)],
              ["Refresh every", p.refresh_interval_s ? `${p.refresh_interval_s} s` : "default"],
              ["Prometheus", p.prometheus_url || h("span", { class: "muted" }, "none")],
              ["Metrics", h("span", {}, badge(p.metrics_status || "unknown"), " ", p.metrics_status_message || "")],
              ["Added", when(p.created_on)],
            ]),
          ),
          card(
            "Inventory",
            h(
              "div",
              { class: "counts" },
              Object.keys(KINDS)
                .filter((k) => k in inv)
                .map((k) =>
                  k === "container_image_registries"
                    ? h("span", { class: "count-card" }, h("span", { class: "n" }, count(inv[k])), h("span", { class: "k" }, KINDS[k]))
                    : h("a", { class: "count-card", href: `#/inventory/${k}?provider=${id}` }, h("span", { class: "n" }, count(inv[k])), h("span", { class: "k" }, KINDS[k])),
                ),
            ),
          ),
        ),
        card(
          "Recent refreshes",
          rows.length
            ? h(
                "table",
                { class: "data", id: "refreshes" },
                h("thead", {}, h("tr", {}, ["When", "Kind", "Status", "Duration", "Objects", "Error"].map((t) => h("th", { scope: "col" }, t)))),
                h(
                  "tbody",
                  {},
                  rows.map((r) =>
                    h(
                      "tr",
                      {},
                      h("td", {}, when(r.started_on)),
                      h("td", {}, r.kind),
                      h("td", {}, badge(r.status)),
                      h("td", { title: `collect ${seconds(r.collect_s)}, parse ${seconds(r.parse_s)}, save ${seconds(r.save_s)}` }, seconds(r.total_s)),
                      h("td", {}, `${count(r.objects)} (+${count(r.added)} ~${count(r.updated)} −${count(r.deleted)})`),
                      h("td", { class: "wrap" }, r.error || ""),
                    ),
                  ),
                ),
              )
            : empty("No refresh yet."),
        ),
      ),
    );
  }
  await load();
  const stop = live.follow(
    "refreshes",
    throttle(() => load().catch((err) => toast(err.message, "error")), 1000),
  );
  return () => {
    stop();
    alerts.stop();
    events.stop();
  };
}

/** The contexts of a kubeconfig and its current one — from JSON (which is YAML too), else
 *  from the YAML's `contexts:` list and `current-context:` line. A hint for the choice: the
 *  server parses the file properly and says what is wrong with it. */
function contextsOf(text) {
  try {
    const doc = JSON.parse(text);
    return { names: (doc.contexts || []).map((c) => c && c.name).filter(Boolean), current: doc["current-context"] || "" };
  } catch (_) {
    // YAML, read below.
  }
  const names = [];
  let current = "";
  let inContexts = false;
  for (const line of text.split(/\r?\n/)) {
    const cur = line.match(/^current-context:\s*["']?([^"'#]+?)["']?\s*$/);
    if (cur) current = cur[1];
    if (/^contexts:\s*$/.test(line)) {
      inContexts = true;
      continue;
    }
    if (inContexts && /^\S/.test(line)) inContexts = false;
    const m = inContexts && line.match(/^\s*-?\s*name:\s*["']?([^"'#]+?)["']?\s*$/);
    if (m) names.push(m[1]);
  }
  return { names, current };
}

export async function providerForm(ctx) {
  const id = ctx.args[0];
  const existing = id ? await get(`/api/providers/${id}`) : null;
  const v = (k, d = "") => (existing && existing[k] !== undefined && existing[k] !== null ? existing[k] : d);
  const input = (name, attrs = {}) => h("input", { name, id: `p-${name}`, ...attrs });
  const name = input("name", { required: true, value: v("name"), maxlength: 255 });
  const type = h("select", { name: "type", id: "p-type", disabled: !!existing }, ["kubernetes", "openshift"].map((t) => h("option", { value: t, selected: v("type") === t }, t)));
  const apiUrl = input("api_url", { type: "url", value: v("api_url"), placeholder: "https://cluster.example:6443" });
  const auth = h("select", { name: "auth", id: "p-auth" }, h("option", { value: "token" }, "Bearer token"), h("option", { value: "kubeconfig" }, "kubeconfig file"));
  const token = h("textarea", { name: "token", id: "p-token", rows: 3, placeholder: existing ? "(unchanged)" : "service account token", autocomplete: "off" });
  const kubeFile = input("kubeconfig", { type: "file", accept: ".yaml,.yml,.conf,text/*,application/octet-stream" });
  let context = input("context", { value: v("kubeconfig_context"), placeholder: "the file's current-context" });
  const contextBox = h("span", {}, context);
  const verify = input("verify_tls", { type: "checkbox", checked: v("verify_tls", true) });
  const insecure = input("allow_insecure_http", { type: "checkbox", checked: v("allow_insecure_http", false) });
  const ca = h("textarea", { name: "ca_cert", id: "p-ca_cert", rows: 3, placeholder: existing && existing.has_ca_cert ? "(unchanged)" : "PEM, optional" });
  const prom = input("prometheus_url", { type: "url", value: v("prometheus_url"), placeholder: "optional" });
  const interval = input("refresh_interval_s", { type: "number", min: 1, value: v("refresh_interval_s", ""), placeholder: "default" });
  const zone = input("zone", { value: v("zone", ""), placeholder: "default", disabled: !!existing });
  let kubeconfig = null;
  const tokenBox = field("Token", token);
  const kubeBox = h("div", { hidden: true }, field("kubeconfig", kubeFile, "Read in the browser and sent once; stored encrypted."), field("Context", contextBox));
  auth.addEventListener("change", () => {
    tokenBox.hidden = auth.value !== "token";
    kubeBox.hidden = auth.value !== "kubeconfig";
  });
  kubeFile.addEventListener("change", async () => {
    const file = kubeFile.files[0];
    if (!file) return;
    if (file.size > 1024 * 1024) {
      toast("That kubeconfig is over 1 MiB", "error");
      return;
    }
    kubeconfig = await file.text();
    const { names, current } = contextsOf(kubeconfig);
    if (names.length > 0) {
      context = h("select", { name: "context", id: "p-context" }, names.map((n) => h("option", { value: n, selected: n === current }, n === current ? `${n} (current)` : n)));
      clear(contextBox, context);
    }
  });
  const error = h("p", { class: "failure", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "card form", id: "provider-form" },
    field("Name", name),
    field("Type", type),
    field("API URL", apiUrl, "Optional with a kubeconfig: its cluster's server is used."),
    field("Authentication", auth),
    tokenBox,
    kubeBox,
    field("Verify TLS", verify),
    field("Allow plain HTTP", insecure, "Only for test clusters and the simulator."),
    field("CA certificate", ca),
    field("Prometheus URL", prom),
    field("Refresh every (s)", interval),
    existing ? null : field("Zone", zone),
    error,
    h("div", { class: "actions" }, h("a", { class: "button ghost", href: existing ? `#/providers/${id}` : "#/providers" }, "Cancel"), h("button", { type: "submit", class: "primary" }, existing ? "Save" : "Add provider")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const body = { name: name.value.trim(), verify_tls: verify.checked, allow_insecure_http: insecure.checked };
    if (!existing) body.type = type.value;
    if (apiUrl.value.trim()) body.api_url = apiUrl.value.trim();
    if (auth.value === "token" && token.value.trim()) body.token = token.value.trim();
    if (auth.value === "kubeconfig") {
      if (kubeconfig) body.kubeconfig = kubeconfig;
      if (context.value.trim()) body.context = context.value.trim();
    }
    if (ca.value.trim()) body.ca_cert = ca.value.trim();
    if (prom.value.trim() || existing) body.prometheus_url = prom.value.trim();
    if (interval.value) body.refresh_interval_s = parseInt(interval.value, 10);
    if (!existing && zone.value.trim()) body.zone = zone.value.trim();
    try {
      const answer = existing ? await api("PATCH", `/api/providers/${id}`, body) : await api("POST", "/api/providers", body);
      const newId = existing ? id : answer.id;
      toast(existing ? "Saved; a full refresh is queued" : "Provider added; its first refresh is queued");
      location.hash = `/providers/${newId}`;
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  clear(ctx.main, h("nav", { class: "crumbs" }, h("a", { href: "#/providers" }, "Providers"), existing ? [" / ", h("a", { href: `#/providers/${id}` }, existing.name)] : null), page(existing ? `Edit ${existing.name}` : "Add a provider", form));
  name.focus();
}
