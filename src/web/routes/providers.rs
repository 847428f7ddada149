//! Providers over HTTP:
//! `GET/POST /api/providers`, `GET/DELETE /api/providers/:id`,
//! `POST /api/providers/:id {"action":"refresh"}`, `GET /api/providers/:id/refreshes`.
//! Credentials go in and are never given back.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::collection::{api_base, collection, parse_id, with_href};
use super::inventory::{ensure_visible, visible_providers};
use crate::inventory::inventory_counts;
use crate::providers::{
    ProviderError, ProviderInput, ProviderView, delete_provider, find_provider, insert_provider,
    list_providers, list_refreshes, queue_refresh,
};
use crate::web::{ApiError, AppState, Caller, Checked};

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Invalid(_) | ProviderError::UnknownZone(_) => {
                ApiError::BadRequest(e.to_string())
            }
            ProviderError::Duplicate(_) => ApiError::Conflict(e.to_string()),
            ProviderError::Crypto(_) => ApiError::Internal(e.to_string()),
            ProviderError::Db(db) => db.into(),
        }
    }
}

pub(super) async fn list(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let visible = visible_providers(&state, &caller.0).await?;
    let mut all = state.db.run(list_providers).await?;
    if let Some(visible) = visible {
        all.retain(|(p, _)| visible.contains(&p.id));
    }
    let base = api_base(&req);
    let resources: Vec<_> = all
        .iter()
        .map(|(p, zone)| with_href(&base, "providers", p.id, &ProviderView::new(p, zone)))
        .collect();
    Ok(HttpResponse::Ok().json(collection("providers", &base, resources.len(), resources)))
}

pub(super) async fn create(
    req: HttpRequest,
    caller: Caller,
    body: Checked<ProviderInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let valid = body
        .into_inner()
        .validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let keys = state.keys.clone();
    // A provider belongs to the tenant of whoever adds it (the root tenant: NULL).
    let tenant = (!caller.0.root_tenant).then_some(caller.0.tenant_id);
    let provider = state
        .db
        .run(move |c| Ok(insert_provider(c, &valid, &keys, tenant)))
        .await??;
    let (provider, zone) = {
        let id = provider.id;
        state.db.run(move |c| find_provider(c, id)).await?
    };
    tracing::info!(provider = %provider.name, provider_id = provider.id, api_url = %provider.api_url, "provider added");
    queue_refresh(
        &state.queue,
        provider.id,
        &zone,
        state.settings.ems_refresh.timeout,
        None,
    )
    .await?;
    state.refresh.recheck();
    let view = ProviderView::new(&provider, &zone);
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "providers", provider.id, &view)))
}

pub(super) async fn show(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "provider")?;
    ensure_visible(&state, &caller.0, "providers", id).await?;
    let (provider, zone, counts, last) = state
        .db
        .run(move |c| {
            let (p, zone) = find_provider(c, id)?;
            let counts = inventory_counts(c, id)?;
            let last = list_refreshes(c, id, None, 1)?;
            Ok((p, zone, counts, last))
        })
        .await?;
    let base = api_base(&req);
    let mut value = with_href(&base, "providers", id, &ProviderView::new(&provider, &zone));
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("inventory".into(), json!(counts));
        map.insert("last_refresh".into(), json!(last.first()));
        map.insert(
            "refreshes_href".into(),
            json!(format!("{base}/providers/{id}/refreshes")),
        );
    }
    Ok(HttpResponse::Ok().json(value))
}

pub(super) async fn remove(
    caller: Caller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "provider")?;
    ensure_visible(&state, &caller.0, "providers", id).await?;
    state.db.run(move |c| delete_provider(c, id)).await?;
    tracing::info!(provider_id = id, "provider removed with its inventory");
    state.refresh.recheck();
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub(super) struct ActionBody {
    action: String,
}

pub(super) async fn action(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Checked<ActionBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "provider")?;
    ensure_visible(&state, &caller.0, "providers", id).await?;
    if body.action != "refresh" {
        return Err(ApiError::BadRequest(format!(
            "unknown action `{}` (providers support: refresh)",
            crate::text::elide(&body.action, 64)
        )));
    }
    let (_, zone) = state.db.run(move |c| find_provider(c, id)).await?;
    let outcome = queue_refresh(
        &state.queue,
        id,
        &zone,
        state.settings.ems_refresh.timeout,
        None,
    )
    .await?;
    let message_id = outcome.id();
    Ok(HttpResponse::Accepted().json(json!({
        "success": true,
        "message": if matches!(outcome, crate::queue::PutOutcome::Inserted(_)) {
            "refresh queued"
        } else {
            "a refresh is already waiting; this request joined it"
        },
        "task_id": message_id.to_string(),
        "task_href": format!("{}/queue/messages/{message_id}", api_base(&req)),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshQuery {
    kind: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn refreshes(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<RefreshQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "provider")?;
    ensure_visible(&state, &caller.0, "providers", id).await?;
    let q = query.into_inner();
    if let Some(kind) = &q.kind
        && kind != "full"
        && kind != "targeted"
    {
        return Err(ApiError::BadRequest("kind must be full or targeted".into()));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let kind = q.kind.clone();
    let rows = state
        .db
        .run(move |c| {
            find_provider(c, id)?;
            list_refreshes(c, id, kind.as_deref(), limit)
        })
        .await?;
    let base = api_base(&req);
    let resources: Vec<_> = rows.iter().map(|r| json!(r)).collect();
    Ok(HttpResponse::Ok().json(collection(
        &format!("providers/{id}/refreshes"),
        &base,
        resources.len(),
        resources,
    )))
}
