//! Providers over HTTP:
//! `GET/POST /api/providers`, `GET/DELETE /api/providers/:id`,
//! `POST /api/providers/:id {"action":"refresh"}`, `GET /api/providers/:id/refreshes`.
//! Credentials go in and are never given back.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::collection::{api_base, collection, paged_collection, parse_id, with_href};
use super::inventory::{ensure_visible, visible_providers};
use crate::auth::Feature;
use crate::inventory::inventory_counts;
use crate::providers::{
    ProviderError, ProviderInput, ProviderView, delete_provider, find_provider, insert_provider,
    list_providers, list_refreshes, queue_refresh, set_protected,
};
use crate::web::{ApiError, AppState, Caller, Checked};

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Invalid(_) | ProviderError::UnknownZone(_) => {
                ApiError::BadRequest(e.to_string())
            }
            ProviderError::Duplicate(_) => ApiError::Conflict(e.to_string()),
            ProviderError::Crypto(_) | ProviderError::Key(_) => ApiError::Internal(e.to_string()),
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
    Ok(HttpResponse::Ok().json(collection(&req, "providers", resources)?))
}

/// `POST /api/providers`: with an `action`, a bulk action; otherwise a new provider.
pub(super) async fn create(
    req: HttpRequest,
    caller: Caller,
    body: Checked<ProviderPost>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner().0;
    if body.get("action").is_some() {
        let bulk_body: BulkBody = serde_json::from_value(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid bulk action: {e}")))?;
        return bulk(&req, &state, &caller.0, bulk_body).await;
    }
    let input: ProviderInput = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid provider: {e}")))?;
    let valid = input
        .validate(&state.settings.providers)
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

/// `PATCH` (or `PUT`) `/api/providers/:id` with the fields to change — a new token, URL,
/// CA, Prometheus endpoint… — validated as a whole; the inventory stays, and a full
/// refresh is queued so the change takes effect at once.
pub(super) async fn edit(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Checked<crate::providers::ProviderEdit>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "provider")?;
    ensure_visible(&state, &caller.0, "providers", id).await?;
    let edit = body.into_inner();
    let keys = state.keys.clone();
    let policy = state.settings.providers.clone();
    let provider = state
        .db
        .run(move |c| {
            Ok(crate::providers::update_provider(
                c, id, edit, &keys, &policy,
            ))
        })
        .await??;
    let (provider, zone) = state.db.run(move |c| find_provider(c, provider.id)).await?;
    tracing::info!(provider = %provider.name, provider_id = id, "provider edited");
    state.refresh.recheck();
    queue_refresh(
        &state.queue,
        id,
        &zone,
        state.settings.ems_refresh.timeout,
        None,
    )
    .await?;
    let view = ProviderView::new(&provider, &zone);
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "providers", id, &view)))
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ActionBody {
    action: String,
}

/// The actions on one provider, and the feature each needs.
const ACTIONS: &[(&str, Feature)] = &[
    ("refresh", Feature::ProviderRefresh),
    ("protect", Feature::ProviderManage),
    ("unprotect", Feature::ProviderManage),
    ("delete", Feature::ProviderManage),
];

/// Carries out `action` on provider `id` for the caller: ManageIQ's result object
/// (`success`, `message`, `href`, and `task_id`/`task_href` for a refresh), or an
/// error when the provider is not there or the caller may not do it.
async fn act(
    state: &AppState,
    identity: &crate::auth::Identity,
    base: &str,
    id: i64,
    action: &str,
) -> Result<Value, ApiError> {
    let Some((_, feature)) = ACTIONS.iter().find(|(name, _)| *name == action) else {
        return Err(ApiError::BadRequest(format!(
            "unknown action `{}` (providers support: {})",
            crate::text::elide(action, 64),
            ACTIONS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if !identity.may(*feature) {
        return Err(ApiError::Forbidden(format!(
            "`{action}` needs the `{}` feature, which role `{}` does not have",
            feature.identifier(),
            identity.role
        )));
    }
    ensure_visible(state, identity, "providers", id).await?;
    let href = format!("{base}/providers/{id}");
    match action {
        "refresh" => {
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
            Ok(json!({
                "success": true,
                "message": if matches!(outcome, crate::queue::PutOutcome::Inserted(_)) {
                    "refresh queued"
                } else {
                    "a refresh is already waiting; this request joined it"
                },
                "href": href,
                "task_id": message_id.to_string(),
                "task_href": format!("{base}/tasks/{message_id}"),
            }))
        }
        "protect" | "unprotect" => {
            let on = action == "protect";
            state.db.run(move |c| set_protected(c, id, on)).await?;
            Ok(json!({
                "success": true,
                "message": if on { "provider protected" } else { "provider unprotected" },
                "href": href,
            }))
        }
        _ => {
            state.db.run(move |c| delete_provider(c, id)).await?;
            tracing::info!(provider_id = id, "provider removed with its inventory");
            state.refresh.recheck();
            Ok(json!({"success": true, "message": "provider removed", "href": href}))
        }
    }
}

pub(super) async fn action(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Checked<ActionBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "provider")?;
    let result = act(&state, &caller.0, &api_base(&req), id, &body.action).await?;
    Ok(if body.action == "refresh" {
        HttpResponse::Accepted().json(result)
    } else {
        HttpResponse::Ok().json(result)
    })
}

/// Body of `POST /api/providers`: a new provider, or — with `action` — a bulk action
/// on several; read as JSON first, then as the one its `action` field says it is.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(super) struct ProviderPost(Value);

impl utoipa::PartialSchema for ProviderPost {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name(ProviderInput::name()))
            .item(utoipa::openapi::Ref::from_schema_name(BulkBody::name()))
            .into()
    }
}

impl utoipa::ToSchema for ProviderPost {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((ProviderInput::name().into(), ProviderInput::schema()));
        ProviderInput::schemas(schemas);
        schemas.push((BulkBody::name().into(), BulkBody::schema()));
        BulkBody::schemas(schemas);
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BulkBody {
    action: String,
    resources: Vec<BulkResource>,
    #[serde(default)]
    confirm: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BulkResource {
    id: Option<String>,
    href: Option<String>,
}

/// `POST /api/providers {"action", "resources":[{"href"}|{"id"}], "confirm"}`: one
/// result per resource. Deleting more than `api.bulk_confirm_threshold` providers at
/// once needs `"confirm": true`.
async fn bulk(
    req: &HttpRequest,
    state: &AppState,
    identity: &crate::auth::Identity,
    body: BulkBody,
) -> Result<HttpResponse, ApiError> {
    if body.resources.is_empty() || body.resources.len() > 1000 {
        return Err(ApiError::BadRequest(
            "a bulk action takes 1-1000 resources".into(),
        ));
    }
    let threshold = state.settings.api.bulk_confirm_threshold;
    if body.action == "delete" && body.resources.len() > threshold as usize && !body.confirm {
        return Err(ApiError::BadRequest(format!(
            "deleting {} providers at once needs \"confirm\": true (more than \
             api.bulk_confirm_threshold = {threshold})",
            body.resources.len()
        )));
    }
    let base = api_base(req);
    let mut results = Vec::new();
    for resource in &body.resources {
        let text = match (&resource.id, &resource.href) {
            (Some(id), _) => id.clone(),
            (None, Some(href)) => href.rsplit('/').next().unwrap_or_default().to_string(),
            (None, None) => String::new(),
        };
        let outcome = match parse_id(&text, "provider") {
            Ok(id) => act(state, identity, &base, id, &body.action).await,
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(value) => value,
            Err(ApiError::BadRequest(m)) if m.starts_with("unknown action") => {
                return Err(ApiError::BadRequest(m));
            }
            Err(e) => json!({"success": false, "message": e.to_string(), "href": resource.href}),
        });
    }
    Ok(HttpResponse::Ok().json(json!({"results": results})))
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
    let resources: Vec<_> = rows.iter().map(|r| json!(r)).collect();
    let count = resources.len();
    Ok(HttpResponse::Ok().json(paged_collection(
        &req,
        &format!("providers/{id}/refreshes"),
        count,
        (0, limit as usize),
        resources,
        true,
    )))
}
