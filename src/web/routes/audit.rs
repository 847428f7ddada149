//! `GET /api/audit_events`: the audit trail, newest first, paged.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::collection::{api_base, collection, with_href};
use crate::auth::audit;
use crate::web::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    offset: Option<i64>,
    limit: Option<i64>,
}

pub(super) async fn list(
    req: HttpRequest,
    page: web::Query<Page>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let offset = page.offset.unwrap_or(0);
    let limit = page.limit.unwrap_or(100);
    if offset < 0 || !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "offset must be >= 0 and limit 1-1000".into(),
        ));
    }
    let (count, rows) = state
        .db
        .run(move |conn| audit::list(conn, offset, limit))
        .await?;
    let base = api_base(&req);
    let resources = rows
        .iter()
        .map(|r| with_href(&base, "audit_events", r.id, r))
        .collect();
    Ok(HttpResponse::Ok().json(collection("audit_events", &base, count as usize, resources)))
}
