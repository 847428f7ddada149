//! `GET /api/audit_events`: the audit trail, newest first, paged.

use actix_web::{HttpRequest, HttpResponse, web};

use super::collection::{ListQuery, api_base, paged_collection, with_href};
use crate::auth::audit;
use crate::web::{ApiError, AppState};

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let list = ListQuery::of(&req)?;
    let (expanded, window) = (list.expanded()?, list.window()?);
    let (offset, limit) = (window.0 as i64, window.1 as i64);
    let (count, rows) = state
        .db
        .run(move |conn| audit::list(conn, offset, limit))
        .await?;
    let base = api_base(&req);
    let resources = rows
        .iter()
        .map(|r| with_href(&base, "audit_events", r.id, r))
        .collect();
    Ok(HttpResponse::Ok().json(paged_collection(
        &req,
        "audit_events",
        count as usize,
        window,
        resources,
        expanded,
    )))
}
