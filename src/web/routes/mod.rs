//! Route table: one file per API resource. Every route says who may call it
//! (see `web::route_table`).

mod audit;
mod auth;
mod collection;
mod entry;
mod inventory;
mod metrics;
mod ping;
mod providers;
mod queue;
mod servers;
mod users;
mod workers;

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
    r.get("/api", LoggedIn, entry::entry_point);
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
    r.get(
        "/api/audit_events",
        Access::Feature(Feature::AuditView),
        audit::list,
    );
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
