//! `GET /api/servers` and `GET /api/servers/:id`: the servers of the region with their
//! status, heartbeat, RSS, CPU and roles.

use actix_web::{HttpRequest, HttpResponse, web};

use super::collection::{api_base, collection, parse_id, with_href};
use crate::region::load_region_view;
use crate::web::{ApiError, AppState};

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state.db.run(load_region_view).await?;
    let base = api_base(&req);
    let resources = view
        .servers
        .iter()
        .map(|s| with_href(&base, "servers", s.id, s))
        .collect::<Vec<_>>();
    Ok(HttpResponse::Ok().json(collection(&req, "servers", resources)?))
}

pub(super) async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "server")?;
    let view = state.db.run(load_region_view).await?;
    let server = view
        .servers
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("server {id} not found")))?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "servers", id, server)))
}
