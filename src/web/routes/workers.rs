//! `GET /api/workers`: every worker of the region — type, server, status, heartbeat,
//! messages done, restarts, last exit reason, attributed memory.

use actix_web::{HttpRequest, HttpResponse, web};

use super::collection::{api_base, collection, with_href};
use crate::web::{ApiError, AppState};
use crate::workers::list_workers;

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let workers = state.db.run(list_workers).await?;
    let base = api_base(&req);
    let resources = workers
        .iter()
        .map(|w| with_href(&base, "workers", w.id, w))
        .collect::<Vec<_>>();
    Ok(HttpResponse::Ok().json(collection(&req, "workers", resources)?))
}
