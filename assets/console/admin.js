// Administration, for those allowed: users, groups, roles and tenants (list, add, remove),
// and the audit trail.

import { api, get, query as qs } from "./api.js";
import { h, clear, page, card, badge, when, count, failure, loading, empty, toast, confirmDialog, field } from "./ui.js";

const TABS = [
  ["users", "Users", "rbac_manage"],
  ["groups", "Groups", "rbac_manage"],
  ["roles", "Roles", "rbac_manage"],
  ["tenants", "Tenants", "rbac_manage"],
  ["audit", "Audit log", "audit_view"],
];

const list = (path) => get(`${path}?expand=resources&limit=1000`).then((a) => a.resources || []);

function table(id, headers, rows) {
  if (rows.length === 0) return empty("None yet.");
  return h("table", { class: "data", id }, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows));
}

function removeButton(kind, item, label, reload) {
  return h(
    "button",
    {
      type: "button",
      class: "ghost danger",
      onclick: async () => {
        if (!(await confirmDialog(`Remove ${kind} ${label}?`, "This cannot be undone.", "Remove"))) return;
        try {
          await api("DELETE", `/api/${kind}s/${item.id}`);
          toast(`${label} removed`);
          reload();
        } catch (err) {
          toast(err.message, "error");
        }
      },
    },
    "Remove",
  );
}

function form(id, title, fields, submit) {
  const error = h("p", { class: "failure", role: "alert", hidden: true });
  const f = h("form", { class: "card form", id }, h("h2", {}, title), fields, error, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add")));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      await submit();
      f.reset();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  return f;
}

const words = (text) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

async function users(box, reload) {
  const [rows, groups] = await Promise.all([list("/api/users"), list("/api/groups")]);
  const userid = h("input", { name: "userid", required: true, maxlength: 255 });
  const password = h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" });
  const name = h("input", { name: "name" });
  const email = h("input", { name: "email", type: "email" });
  const group = h("select", { name: "groups", multiple: true, size: Math.min(5, groups.length || 1) }, groups.map((g) => h("option", { value: g.name }, g.name)));
  clear(
    box,
    table("users", ["User", "Name", "E-mail", "Groups", ""], rows.map((u) => h("tr", {}, h("td", {}, u.userid), h("td", {}, u.name || ""), h("td", {}, u.email || ""), h("td", {}, (u.groups || []).map((g) => (typeof g === "string" ? g : g.name)).join(", ")), h("td", {}, u.userid === "admin" ? null : removeButton("user", u, u.userid, reload))))),
    form("add-user", "Add a user", [field("User id", userid), field("Password", password), field("Name", name), field("E-mail", email), field("Groups", group)], async () => {
      await api("POST", "/api/users", { userid: userid.value.trim(), password: password.value, name: name.value.trim() || undefined, email: email.value.trim() || undefined, groups: [...group.selectedOptions].map((o) => o.value) });
      toast(`User ${userid.value} added`);
      reload();
    }),
  );
}

async function groups(box, reload) {
  const [rows, roles, tenants] = await Promise.all([list("/api/groups"), list("/api/roles"), list("/api/tenants")]);
  const name = h("input", { name: "name", required: true });
  const description = h("input", { name: "description" });
  const role = h("select", { name: "role" }, roles.map((r) => h("option", { value: r.name }, r.name)));
  const tenant = h("select", { name: "tenant_id" }, tenants.map((t) => h("option", { value: t.id }, t.name)));
  const providers = h("input", { name: "providers", placeholder: "provider ids, comma-separated (optional)" });
  const projects = h("input", { name: "projects", placeholder: "namespaces, comma-separated (optional)" });
  const filters = (g) => {
    const f = g.filters || {};
    const parts = [];
    if ((f.providers || []).length) parts.push(`providers ${f.providers.join(", ")}`);
    if ((f.projects || []).length) parts.push(`projects ${f.projects.join(", ")}`);
    if ((f.tags || []).length) parts.push(`tags ${f.tags.map((t) => t.join("|")).join(" & ")}`);
    return parts.join("; ") || "none";
  };
  clear(
    box,
    table("groups", ["Group", "Role", "Tenant", "Filters", ""], rows.map((g) => h("tr", {}, h("td", {}, g.name, g.description ? h("small", { class: "why" }, ` ${g.description}`) : null), h("td", {}, g.role), h("td", {}, g.tenant || g.tenant_id || ""), h("td", {}, filters(g)), h("td", {}, g.read_only || g.system ? null : removeButton("group", g, g.name, reload))))),
    form("add-group", "Add a group", [field("Name", name), field("Description", description), field("Role", role), field("Tenant", tenant), field("Providers", providers), field("Projects", projects)], async () => {
      const body = { name: name.value.trim(), description: description.value.trim(), role: role.value, tenant_id: tenant.value };
      const f = {};
      if (words(providers.value).length) f.providers = words(providers.value);
      if (words(projects.value).length) f.projects = words(projects.value);
      if (Object.keys(f).length) body.filters = f;
      await api("POST", "/api/groups", body);
      toast(`Group ${body.name} added`);
      reload();
    }),
  );
}

async function roles(box, reload) {
  const [rows, features] = await Promise.all([list("/api/roles"), list("/api/features")]);
  const name = h("input", { name: "name", required: true });
  const boxes = features.map((f) => h("label", { class: "check" }, h("input", { type: "checkbox", value: f.identifier || f.name }), ` ${f.identifier || f.name}`, f.description ? h("small", { class: "why" }, ` ${f.description}`) : null));
  clear(
    box,
    table("roles", ["Role", "Features", ""], rows.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, h("span", { class: "chips" }, (r.features || []).map((f) => h("span", { class: "chip" }, f)))), h("td", {}, r.read_only || r.builtin ? null : removeButton("role", r, r.name, reload))))),
    form("add-role", "Add a role", [field("Name", name), h("fieldset", {}, h("legend", {}, "Features"), boxes)], async () => {
      const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      await api("POST", "/api/roles", { name: name.value.trim(), features: chosen });
      toast(`Role ${name.value} added`);
      reload();
    }),
  );
}

async function tenants(box, reload) {
  const rows = await list("/api/tenants");
  const name = h("input", { name: "name", required: true });
  const description = h("input", { name: "description" });
  const parent = h("select", { name: "parent_id" }, rows.map((t) => h("option", { value: t.id }, t.name)));
  const byId = new Map(rows.map((t) => [String(t.id), t.name]));
  clear(
    box,
    table("tenants", ["Tenant", "Parent", "Description", ""], rows.map((t) => h("tr", {}, h("td", {}, t.name), h("td", {}, byId.get(String(t.parent_id)) || "—"), h("td", {}, t.description || ""), h("td", {}, t.parent_id ? removeButton("tenant", t, t.name, reload) : null)))),
    form("add-tenant", "Add a tenant", [field("Name", name), field("Description", description), field("Parent", parent)], async () => {
      await api("POST", "/api/tenants", { name: name.value.trim(), description: description.value.trim(), parent_id: parent.value });
      toast(`Tenant ${name.value} added`);
      reload();
    }),
  );
}

async function audit(box, reload, ctx) {
  const offset = Math.max(0, parseInt(ctx.query.get("offset") || "0", 10) || 0);
  const answer = await get(`/api/audit_events${qs({ expand: "resources", offset, limit: 50 })}`);
  const rows = answer.resources || [];
  const go = (o) => () => {
    ctx.setQuery({ offset: o || null });
    reload();
  };
  clear(
    box,
    table("audit", ["When", "User", "Action", "Target", "Outcome", "From", "Message"], rows.map((e) => h("tr", {}, h("td", {}, when(e.created_on || e.at)), h("td", {}, e.userid), h("td", {}, h("code", {}, e.action)), h("td", {}, e.target), h("td", {}, badge(`${e.outcome} ${e.status || ""}`.trim())), h("td", {}, e.source), h("td", { class: "wrap" }, e.message || "")))),
    h("div", { class: "pager" }, h("span", {}, `${count(offset + 1)}–${count(offset + rows.length)} of ${count(answer.count)}`), h("button", { type: "button", class: "ghost", disabled: offset === 0, onclick: go(Math.max(0, offset - 50)) }, "‹ Newer"), h("button", { type: "button", class: "ghost", disabled: offset + rows.length >= answer.count, onclick: go(offset + 50) }, "Older ›")),
  );
}

const VIEWS = { users, groups, roles, tenants, audit };

export async function adminView(ctx) {
  const tab = ctx.args[0];
  const box = h("div", {}, loading());
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Administration" },
    TABS.filter(([, , f]) => ctx.may(f)).map(([k, t]) => h("a", { class: "tab", href: `#/admin/${k}`, "aria-selected": String(k === tab) }, t)),
  );
  clear(ctx.main, page(TABS.find(([k]) => k === tab)[1], tabs, card(TABS.find(([k]) => k === tab)[1], box)));
  const reload = () => VIEWS[tab](box, reload, ctx).catch((err) => clear(box, failure(err, reload)));
  await reload();
}
