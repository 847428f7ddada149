//! Route table: one file per API resource.

mod collection;
mod inventory;
mod metrics;
mod ping;
mod providers;
mod queue;
mod servers;
mod workers;

use actix_web::web;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ping", web::get().to(ping::ping))
        .route("/api/ping", web::get().to(ping::ping))
        .route("/api/servers", web::get().to(servers::list))
        .route("/api/servers/{id}", web::get().to(servers::show))
        .route("/api/workers", web::get().to(workers::list))
        .route("/api/queue/stats", web::get().to(queue::stats))
        .route("/api/queue/messages", web::get().to(queue::list))
        .route("/api/queue/messages", web::post().to(queue::put))
        .route("/api/queue/messages/{id}", web::get().to(queue::show))
        .route("/api/providers", web::get().to(providers::list))
        .route("/api/providers", web::post().to(providers::create))
        .route("/api/providers/{id}", web::get().to(providers::show))
        .route("/api/providers/{id}", web::delete().to(providers::remove))
        .route("/api/providers/{id}", web::post().to(providers::action))
        .route(
            "/api/providers/{id}/refreshes",
            web::get().to(providers::refreshes),
        )
        .route(
            "/api/metrics/health",
            web::get().to(metrics::metrics_health),
        )
        .route(
            "/api/{collection}/{id}/metrics",
            web::get().to(metrics::series),
        )
        .configure(inventory::configure)
        .default_service(web::to(not_found));
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
