//! `GET /api/audit_events`: the audit trail, newest first, paged.

use actix_web::{HttpRequest, HttpResponse, web};

use super::collection::{Page, api_base, collection, with_href};
use crate::auth::audit;
use crate::web::{ApiError, AppState};

pub(super) async fn list(
    req: HttpRequest,
    page: web::Query<Page>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (offset, limit) = page.checked()?;
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
