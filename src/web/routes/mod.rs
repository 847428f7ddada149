//! Route table: one file per API resource. Every route says who may call it
//! (see `web::route_table`).

mod alerts;
mod ansible;
mod audit;
mod auth;
mod collection;
mod console;
mod entry;
mod inventory;
mod live;
mod metrics;
mod openapi;
mod ping;
mod prom;
mod providers;
mod queue;
mod rbac;
mod region;
mod servers;
mod session;
mod tags;
mod tasks;
mod users;
mod workers;

pub(super) use inventory::visibility;

use actix_web::http::Method;
use actix_web::web;

use super::route_table::{Access, Routes};
use crate::auth::Feature;

/// Declares every route: path, method, access, handler.
pub(crate) fn register(r: &mut Routes<'_>) {
    use Access::{LoggedIn, Public};
    let ops = Access::Feature(Feature::OpsView);
    let inventory = Access::Feature(Feature::InventoryView);
    r.get("/ping", Public, ping::ping);
    r.get("/api/ping", Public, ping::ping);
    r.get("/api/product_info", Public, entry::product_info);
    r.get("/metrics", Access::Public, prom::metrics);
    r.get("/", Public, console::root);
    r.get("/console", Public, console::root);
    r.get("/console/", Public, console::index);
    r.get("/console/assets/{file}", Public, console::asset);
    r.get("/api", LoggedIn, entry::entry_point);
    r.post("/api/session", LoggedIn, session::open);
    r.delete("/api/session", LoggedIn, session::close);
    r.get("/ws", LoggedIn, live::connect);
    r.get("/api/openapi.json", LoggedIn, openapi::openapi);
    r.get("/api/auth", LoggedIn, auth::login);
    r.delete("/api/auth", LoggedIn, auth::logout);
    r.get(
        "/api/users",
        Access::Feature(Feature::RbacManage),
        users::list,
    );
    r.post(
        "/api/users",
        Access::Feature(Feature::RbacManage),
        users::create,
    );
    r.get(
        "/api/users/{id}",
        Access::Feature(Feature::RbacManage),
        users::show,
    );
    r.delete(
        "/api/users/{id}",
        Access::Feature(Feature::RbacManage),
        users::remove,
    );
    let rbac_manage = Access::Feature(Feature::RbacManage);
    r.get("/api/features", rbac_manage, rbac::features);
    r.get("/api/roles", rbac_manage, rbac::list_roles);
    r.post("/api/roles", rbac_manage, rbac::create_role);
    r.get("/api/roles/{id}", rbac_manage, rbac::show_role);
    r.delete("/api/roles/{id}", rbac_manage, rbac::delete_role);
    r.get("/api/groups", rbac_manage, rbac::list_groups);
    r.post("/api/groups", rbac_manage, rbac::create_group);
    r.get("/api/groups/{id}", rbac_manage, rbac::show_group);
    r.delete("/api/groups/{id}", rbac_manage, rbac::delete_group);
    r.get("/api/tenants", rbac_manage, rbac::list_tenants);
    r.post("/api/tenants", rbac_manage, rbac::create_tenant);
    r.get("/api/tenants/{id}", rbac_manage, rbac::show_tenant);
    r.delete("/api/tenants/{id}", rbac_manage, rbac::delete_tenant);
    r.get(
        "/api/audit_events",
        Access::Feature(Feature::AuditView),
        audit::list,
    );
    r.get("/api/regions", ops, region::list_regions);
    r.get("/api/regions/{id}", ops, region::show_region);
    r.get("/api/zones", ops, region::list_zones);
    r.get("/api/zones/{id}", ops, region::show_zone);
    r.get("/api/server_roles", ops, region::list_server_roles);
    r.get("/api/server_roles/{id}", ops, region::show_server_role);
    r.get("/api/tasks", ops, tasks::list);
    r.get("/api/tasks/{id}", ops, tasks::show);
    r.get("/api/servers", ops, servers::list);
    r.get("/api/servers/{id}", ops, servers::show);
    r.get("/api/workers", ops, workers::list);
    r.get("/api/queue/stats", ops, queue::stats);
    r.get("/api/queue/messages", ops, queue::list);
    r.post(
        "/api/queue/messages",
        Access::Feature(Feature::QueuePut),
        queue::put,
    );
    r.get("/api/queue/messages/{id}", ops, queue::show);
    r.get("/api/providers", inventory, providers::list);
    r.post(
        "/api/providers",
        Access::Feature(Feature::ProviderManage),
        providers::create,
    );
    r.get("/api/providers/{id}", inventory, providers::show);
    r.delete(
        "/api/providers/{id}",
        Access::Feature(Feature::ProviderManage),
        providers::remove,
    );
    for method in [Method::PATCH, Method::PUT] {
        r.add(
            method,
            "/api/providers/{id}",
            Access::Feature(Feature::ProviderManage),
            providers::edit,
        );
    }
    r.post(
        "/api/providers/{id}",
        Access::Feature(Feature::ProviderRefresh),
        providers::action,
    );
    r.get(
        "/api/providers/{id}/refreshes",
        inventory,
        providers::refreshes,
    );
    r.get("/api/metrics/health", ops, metrics::metrics_health);
    r.get("/api/{collection}/{id}/metrics", inventory, metrics::series);
    r.get("/api/ansible/inventory", inventory, ansible::inventory);
    let tag_manage = Access::Feature(Feature::TagManage);
    r.get("/api/categories", inventory, tags::list_categories);
    r.post("/api/categories", tag_manage, tags::create_category);
    r.get("/api/categories/{id}", inventory, tags::show_category);
    r.delete("/api/categories/{id}", tag_manage, tags::delete_category);
    r.get("/api/categories/{id}/tags", inventory, tags::category_tags);
    r.get("/api/tags", inventory, tags::list_tags);
    r.post("/api/tags", tag_manage, tags::create_tag);
    r.get("/api/tags/{id}", inventory, tags::show_tag);
    r.delete("/api/tags/{id}", tag_manage, tags::delete_tag);
    r.get("/api/label_tag_mappings", inventory, tags::list_mappings);
    r.post("/api/label_tag_mappings", tag_manage, tags::create_mapping);
    r.delete(
        "/api/label_tag_mappings/{id}",
        tag_manage,
        tags::delete_mapping,
    );
    r.get("/api/{collection}/{id}/tags", inventory, tags::object_tags);
    r.post("/api/{collection}/{id}/tags", tag_manage, tags::tag_action);
    r.get("/api/policies", inventory, alerts::policies);
    r.post(
        "/api/alerts/{id}",
        Access::Feature(Feature::AlertManage),
        alerts::action,
    );
    r.post(
        "/api/alertmanager",
        Access::Feature(Feature::AlertIngest),
        alerts::alertmanager,
    );
    inventory::register(r);
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    {
        let mut routes = Routes::new(Some(cfg));
        register(&mut routes);
    }
    cfg.default_service(web::to(not_found));
}

async fn not_found(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, super::ApiError> {
    Err(super::ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
