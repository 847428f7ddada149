//! Alerts and policies over HTTP:
//!
//! - `GET /api/alerts[/:id]` (the query engine's collection, with RBAC), also as the
//!   subcollections `/api/providers/:id/alerts` and `/api/container_nodes/:id/alerts`;
//! - `POST /api/alerts/:id {"action": "acknowledge" | "resolve" | "assign",
//!   "assignee": "userid"}`;
//! - `POST /api/alertmanager[?provider_id=ID]`: Prometheus Alertmanager's webhook
//!   (version 4), authenticated like every route (a token, or Basic credentials as
//!   Alertmanager's `http_config` sends them);
//! - `GET /api/policies`: the event policies this node runs with.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::collection::{api_base, collection, parse_id};
use super::inventory::ensure_visible;
use crate::alerts::alertmanager::{Payload, ingest, validate};
use crate::alerts::{AlertAction, act};
use crate::web::{ApiError, AppState, Caller, Checked};

/// Body of `POST /api/alerts/:id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertActionBody {
    /// `acknowledge`, `resolve` or `assign`.
    action: String,
    /// The user an `assign` gives the alert to (empty: nobody).
    #[serde(default)]
    assignee: Option<String>,
}

pub(super) async fn action(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Checked<AlertActionBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "alert")?;
    ensure_visible(&state, &caller.0, "alerts", id).await?;
    let b = body.into_inner();
    let what = match (b.action.as_str(), b.assignee) {
        ("acknowledge", None) => AlertAction::Acknowledge,
        ("resolve", None) => AlertAction::Resolve,
        ("assign", Some(who)) => {
            if who.len() > 255 || who.chars().any(char::is_control) {
                return Err(ApiError::BadRequest(
                    "assignee must be up to 255 printable characters".into(),
                ));
            }
            AlertAction::Assign(who)
        }
        ("assign", None) => {
            return Err(ApiError::BadRequest("assign needs `assignee`".into()));
        }
        (other, _) => {
            return Err(ApiError::BadRequest(format!(
                "unknown action `{}` for an alert (acknowledge, resolve, assign; only assign takes an assignee)",
                crate::text::elide(other, 32)
            )));
        }
    };
    let userid = caller.0.userid.clone();
    let found = state.db.run(move |c| act(c, id, &what, &userid)).await?;
    if !found {
        return Err(ApiError::NotFound(format!("alert {id} not found")));
    }
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "message": format!("alert {id}: {} done", b.action),
        "href": format!("{}/alerts/{id}", api_base(&req)),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertmanagerQuery {
    #[serde(default)]
    provider_id: Option<String>,
}

pub(super) async fn alertmanager(
    query: web::Query<AlertmanagerQuery>,
    body: Checked<Payload>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let payload = body.into_inner();
    validate(&payload).map_err(ApiError::BadRequest)?;
    let hint = match &query.provider_id {
        Some(text) => {
            let id = parse_id(text, "provider")?;
            let exists = state
                .db
                .run(move |c| crate::providers::find_provider(c, id).map(|_| ()))
                .await;
            if exists.is_err() {
                return Err(ApiError::NotFound(format!("provider {id} not found")));
            }
            Some(id)
        }
        None => None,
    };
    let report = state.db.run(move |c| ingest(c, &payload, hint)).await?;
    tracing::info!(
        received = report.received,
        opened = report.opened,
        updated = report.updated,
        resolved = report.resolved,
        "alertmanager webhook"
    );
    Ok(HttpResponse::Ok().json(report))
}

pub(super) async fn policies(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let base = api_base(&req);
    let resources: Vec<Value> = state
        .settings
        .policies
        .policies
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            v["href"] = json!(format!("{base}/policies/{}", p.name));
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(collection(&req, "policies", resources)?))
}
