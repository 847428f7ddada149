// The console's shell: who is logged in, the navigation (only what the user's features
// allow), light/dark, and the router. Views live after `#` (`#/inventory/container_groups?
// sort=name`), so a deep link survives a reload and the server serves one page.

import * as api from "./api.js";
import * as live from "./live.js";
import { h, clear, failure, toast } from "./ui.js";
import { overview } from "./overview.js";
import { queueView } from "./queue.js";
import { providerList, providerDetail, providerForm } from "./providers.js";
import { inventoryList, inventoryDetail, COLLECTIONS } from "./inventory.js";
import { adminView } from "./admin.js";
import { eventsView } from "./events.js";
import { alertsView, policiesView } from "./alerts.js";

const main = document.getElementById("main");
let me = null;
let cleanup = null;
let generation = 0;

const routes = [
  [/^\/$/, "ops_view", overview],
  [/^\/queue$/, "ops_view", queueView],
  [/^\/events$/, "inventory_view", eventsView],
  [/^\/alerts$/, "inventory_view", alertsView],
  [/^\/alerts\/policies$/, "inventory_view", policiesView],
  [/^\/providers$/, "inventory_view", providerList],
  [/^\/providers\/new$/, "provider_manage", providerForm],
  [/^\/providers\/(\d+)$/, "inventory_view", providerDetail],
  [/^\/providers\/(\d+)\/edit$/, "provider_manage", providerForm],
  [/^\/inventory\/([a-z_]+)$/, "inventory_view", inventoryList],
  [/^\/inventory\/([a-z_]+)\/(\d+)$/, "inventory_view", inventoryDetail],
  [/^\/admin\/(users|groups|roles|tenants)$/, "rbac_manage", adminView],
  [/^\/admin\/(audit)$/, "audit_view", adminView],
];

export const may = (feature) => !!me && (me.features || []).includes(feature);

/** Where the hash points: path and query. */
function location_() {
  const raw = decodeURIComponent(window.location.hash.slice(1) || "/");
  const [path, q = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(q) };
}

/** Replaces the current view's query (for sort, filter, page) without a new history entry
 *  per keystroke. */
function setQuery(values, push = false) {
  const { path, query } = location_();
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === null || v === "") query.delete(k);
    else query.set(k, String(v));
  }
  const q = query.toString();
  const hash = `#${path}${q ? `?${q}` : ""}`;
  if (push) history.pushState(null, "", hash);
  else history.replaceState(null, "", hash);
}

function nav() {
  const items = [
    ["#/", "Overview", "ops_view"],
    ["#/queue", "Queue", "ops_view"],
    ["#/alerts", "Alerts", "inventory_view"],
    ["#/events", "Events", "inventory_view"],
    ["#/providers", "Providers", "inventory_view"],
    ...COLLECTIONS.map((c) => [`#/inventory/${c.name}`, c.title, "inventory_view"]),
    ["#/admin/users", "Admin", "rbac_manage"],
  ];
  if (!may("rbac_manage") && may("audit_view")) items.push(["#/admin/audit", "Audit", "audit_view"]);
  const { path } = location_();
  clear(
    document.getElementById("nav"),
    items
      .filter(([, , f]) => may(f))
      .map(([href, text]) => {
        const target = href.slice(1);
        const current = target === "/" ? path === "/" : path.startsWith(target.split("/").slice(0, 3).join("/"));
        return h("a", { href, "aria-current": current ? "page" : null }, text);
      }),
  );
}

function who() {
  const box = document.getElementById("who");
  if (!me) return clear(box);
  const groups = me.groups || [];
  const group =
    groups.length > 1
      ? h(
          "select",
          {
            "aria-label": "Group",
            id: "group",
            onchange: async (e) => {
              try {
                me = await api.switchGroup(e.target.value);
                live.stop();
                live.start();
                toast(`Now acting in group ${me.group}`);
                render();
              } catch (err) {
                toast(err.message, "error");
              }
            },
          },
          groups.map((g) => h("option", { value: g, selected: g === me.group }, g)),
        )
      : h("span", { class: "muted" }, me.group);
  clear(
    box,
    h("span", { class: "user", title: `${me.userid}: role ${me.role}, group ${me.group}, tenant ${me.tenant}` }, me.name || me.userid),
    group,
    h("span", { class: "muted tenant", title: "tenant" }, me.tenant),
    h("button", { type: "button", class: "ghost", id: "logout", onclick: logout }, "Log out"),
  );
}

async function logout() {
  live.stop();
  await api.logout();
  me = null;
  loginView();
}

function loginView(message) {
  if (cleanup) cleanup();
  cleanup = null;
  who();
  clear(document.getElementById("nav"));
  document.title = "Log in · Steward";
  const error = h("p", { class: "failure", role: "alert", hidden: !message }, message || "");
  const userid = h("input", { name: "userid", id: "userid", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", id: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    { class: "login card", id: "login" },
    h("h1", {}, "Log in to Steward"),
    h("label", { class: "field" }, h("span", {}, "User"), userid),
    h("label", { class: "field" }, h("span", {}, "Password"), password),
    error,
    h("button", { type: "submit", class: "primary" }, "Log in"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      me = await api.login(userid.value, password.value);
      live.start();
      render();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      password.select();
    }
  });
  clear(main, form);
  userid.focus();
}

async function render() {
  const mine = ++generation;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  if (!me) return loginView();
  who();
  nav();
  const { path, query } = location_();
  const found = routes.find(([re]) => re.test(path));
  clear(main);
  if (!found) {
    clear(main, h("h1", {}, "Not found"), h("p", {}, `The console has no page ${path}. `), h("a", { href: "#/" }, "Go to the overview"));
    return;
  }
  const [re, feature, view] = found;
  if (!may(feature)) {
    clear(
      main,
      h("h1", {}, "Not allowed"),
      h("p", { class: "failure", role: "alert" }, `This page needs the ${feature} feature, which role ${me.role} of group ${me.group} does not have.`),
    );
    return;
  }
  const args = path.match(re).slice(1);
  try {
    const done = await view({ main, args, query, me, may, setQuery, isCurrent: () => mine === generation });
    if (mine !== generation) {
      if (typeof done === "function") done();
      return;
    }
    cleanup = typeof done === "function" ? done : null;
  } catch (err) {
    if (mine === generation) clear(main, failure(err, render));
  }
  main.focus({ preventScroll: true });
}

function theme() {
  const saved = localStorage.getItem("steward.theme");
  if (saved) document.documentElement.dataset.theme = saved;
  document.getElementById("theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("steward.theme", next);
  });
}

async function boot() {
  theme();
  api.onLoggedOut(() => {
    if (me) {
      me = null;
      live.stop();
      loginView("Your session has ended; log in again.");
    }
  });
  window.addEventListener("hashchange", render);
  try {
    const entry = await api.get("/api");
    me = entry.identity;
    live.start();
    render();
  } catch (err) {
    if (err.status === 401) loginView();
    else clear(main, failure(err, boot));
  }
}

boot();
