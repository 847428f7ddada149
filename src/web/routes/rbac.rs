//! `/api/features`, `/api/roles`, `/api/groups` and `/api/tenants`: ManageIQ's RBAC
//! model over HTTP (reading needs `rbac_manage` like writing: who may do what is
//! itself sensitive).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::collection::{api_base, collection, parse_id, with_href};
use crate::auth::features::ALL_FEATURES;
use crate::auth::identity::GroupFilters;
use crate::auth::rbac;
use crate::web::{ApiError, AppState, Checked};

pub(super) async fn features(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let base = api_base(&req);
    let resources: Vec<Value> = ALL_FEATURES
        .iter()
        .map(|f| {
            json!({
                "name": f.identifier(),
                "description": f.description(),
                "href": format!("{base}/features/{}", f.identifier()),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(collection(&req, "features", resources)?))
}

fn listing<T: serde::Serialize>(
    req: &HttpRequest,
    name: &str,
    rows: &[T],
    id: impl Fn(&T) -> i64,
) -> Result<HttpResponse, ApiError> {
    let base = api_base(req);
    let resources: Vec<Value> = rows
        .iter()
        .map(|r| with_href(&base, name, id(r), r))
        .collect();
    Ok(HttpResponse::Ok().json(collection(req, name, resources)?))
}

pub(super) async fn list_roles(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(rbac::list_roles).await?;
    listing(&req, "roles", &rows, |r| r.id)
}

pub(super) async fn show_role(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "role")?;
    let r = state.db.run(move |c| rbac::find_role(c, id)).await?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "roles", r.id, &r)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    name: String,
    features: Vec<String>,
}

pub(super) async fn create_role(
    req: HttpRequest,
    body: Checked<NewRole>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if b.features.len() > 1000 {
        return Err(ApiError::BadRequest("at most 1000 features".into()));
    }
    let r = state
        .db
        .run(move |c| rbac::create_role(c, &b.name, &b.features))
        .await?;
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "roles", r.id, &r)))
}

pub(super) async fn delete_role(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "role")?;
    state.db.run(move |c| rbac::delete_role(c, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn list_groups(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(rbac::list_groups).await?;
    listing(&req, "groups", &rows, |g| g.id)
}

pub(super) async fn show_group(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "group")?;
    let g = state.db.run(move |c| rbac::find_group(c, id)).await?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "groups", g.id, &g)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewGroup {
    name: String,
    #[serde(default)]
    description: String,
    /// The role's name.
    role: String,
    /// The tenant's id; the root tenant when absent.
    tenant_id: Option<String>,
    #[serde(default)]
    filters: GroupFilters,
}

pub(super) async fn create_group(
    req: HttpRequest,
    body: Checked<NewGroup>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let tenant = b
        .tenant_id
        .as_deref()
        .map(|t| parse_id(t, "tenant"))
        .transpose()?;
    let g = state
        .db
        .run(move |c| rbac::create_group(c, &b.name, &b.description, &b.role, tenant, &b.filters))
        .await?;
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "groups", g.id, &g)))
}

pub(super) async fn delete_group(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "group")?;
    state.db.run(move |c| rbac::delete_group(c, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn list_tenants(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(rbac::list_tenants).await?;
    listing(&req, "tenants", &rows, |t| t.id)
}

pub(super) async fn show_tenant(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "tenant")?;
    let t = state.db.run(move |c| rbac::find_tenant(c, id)).await?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "tenants", t.id, &t)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTenant {
    name: String,
    #[serde(default)]
    description: String,
    /// The parent's id; the root tenant when absent.
    parent_id: Option<String>,
}

pub(super) async fn create_tenant(
    req: HttpRequest,
    body: Checked<NewTenant>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let parent = b
        .parent_id
        .as_deref()
        .map(|t| parse_id(t, "tenant"))
        .transpose()?;
    let t = state
        .db
        .run(move |c| rbac::create_tenant(c, &b.name, &b.description, parent))
        .await?;
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "tenants", t.id, &t)))
}

pub(super) async fn delete_tenant(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "tenant")?;
    state.db.run(move |c| rbac::delete_tenant(c, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
