//! Route table: one file per API resource.

mod collection;
mod ping;
mod servers;

use actix_web::web;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ping", web::get().to(ping::ping))
        .route("/api/ping", web::get().to(ping::ping))
        .route("/api/servers", web::get().to(servers::list))
        .route("/api/servers/{id}", web::get().to(servers::show))
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
