//! Tags over HTTP: `/api/categories`, `/api/tags`, `/api/label_tag_mappings`, and
//! an object's tags — `GET /api/<collection>/:id/tags` and `POST` with
//! `{"action":"assign"|"unassign","resources":[{"name":"/category/tag"} |
//! {"category":"c","name":"t"}]}` answered with ManageIQ's `results`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::collection::{api_base, collection, parse_id, with_href};
use super::inventory::ensure_visible;
use crate::tags::{TagRef, labels, parse_tag_path, store};
use crate::web::{ApiError, AppState, Caller, Checked};

pub(super) async fn list_categories(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(store::list_categories).await?;
    let base = api_base(&req);
    let resources: Vec<Value> = rows
        .iter()
        .map(|c| with_href(&base, "categories", c.id, c))
        .collect();
    Ok(HttpResponse::Ok().json(collection(&req, "categories", resources)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCategory {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    single_value: bool,
}

pub(super) async fn create_category(
    req: HttpRequest,
    body: Checked<NewCategory>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let c = state
        .db
        .run(move |conn| store::create_category(conn, &b.name, &b.description, b.single_value))
        .await?;
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "categories", c.id, &c)))
}

pub(super) async fn show_category(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "category")?;
    let c = state
        .db
        .run(move |conn| store::find_category(conn, id))
        .await?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "categories", c.id, &c)))
}

pub(super) async fn delete_category(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "category")?;
    state
        .db
        .run(move |conn| store::delete_category(conn, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn category_tags(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "category")?;
    let rows = state
        .db
        .run(move |conn| {
            store::find_category(conn, id)?;
            store::list_tags(conn, Some(id))
        })
        .await?;
    tag_collection(&req, &format!("categories/{id}/tags"), &rows)
}

fn tag_collection(
    req: &HttpRequest,
    name: &str,
    rows: &[store::TagView],
) -> Result<HttpResponse, ApiError> {
    let base = api_base(req);
    let resources: Vec<Value> = rows
        .iter()
        .map(|t| with_href(&base, "tags", t.id, t))
        .collect();
    Ok(HttpResponse::Ok().json(collection(req, name, resources)?))
}

pub(super) async fn list_tags(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(|conn| store::list_tags(conn, None)).await?;
    tag_collection(&req, "tags", &rows)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTag {
    /// The category's name.
    category: String,
    name: String,
    #[serde(default)]
    description: String,
}

pub(super) async fn create_tag(
    req: HttpRequest,
    body: Checked<NewTag>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let t = state
        .db
        .run(move |conn| {
            let category = store::category_id(conn, &b.category, false)?.ok_or_else(|| {
                crate::db::DbError::Invalid(format!(
                    "no category `{}`",
                    crate::text::truncate(&b.category, 60)
                ))
            })?;
            store::create_tag(conn, category, &b.name, &b.description)
        })
        .await?;
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "tags", t.id, &t)))
}

pub(super) async fn show_tag(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "tag")?;
    let t = state.db.run(move |conn| store::find_tag(conn, id)).await?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "tags", t.id, &t)))
}

pub(super) async fn delete_tag(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "tag")?;
    state
        .db
        .run(move |conn| store::delete_tag(conn, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn list_mappings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(labels::list_mappings).await?;
    let base = api_base(&req);
    let resources: Vec<Value> = rows
        .iter()
        .map(|m| with_href(&base, "label_tag_mappings", m.id, m))
        .collect();
    Ok(HttpResponse::Ok().json(collection(&req, "label_tag_mappings", resources)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMapping {
    label_name: String,
    /// A collection with labels; absent = all of them.
    #[serde(default)]
    collection: String,
    /// The category (created when missing).
    category: String,
}

pub(super) async fn create_mapping(
    req: HttpRequest,
    body: Checked<NewMapping>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let m = state
        .db
        .run(move |conn| {
            let m = labels::create_mapping(conn, &b.label_name, &b.collection, &b.category)?;
            // Existing objects are tagged now, not at their provider's next refresh.
            for (p, _) in crate::providers::list_providers(conn)? {
                labels::sync_provider(conn, p.id)?;
            }
            Ok(m)
        })
        .await?;
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "label_tag_mappings", m.id, &m)))
}

pub(super) async fn delete_mapping(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "label tag mapping")?;
    state
        .db
        .run(move |conn| labels::delete_mapping(conn, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The taggable collection and object id of an object-tags route, checked visible.
async fn object(
    state: &AppState,
    caller: &Caller,
    path: (String, String),
) -> Result<(&'static str, i64), ApiError> {
    let (name, id) = path;
    let c = crate::api_query::collection(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no collection `{}`",
            crate::text::truncate(&name, 60)
        ))
    })?;
    let id = parse_id(&id, c.name)?;
    ensure_visible(state, &caller.0, c.name, id).await?;
    // The object must exist, also for callers who see everything.
    let found = crate::api_query::sql::build(
        state.db.backend(),
        c,
        &crate::api_query::sql::Query {
            id: Some(id),
            include_deleted: true,
            attributes: Some(Vec::new()),
            ..crate::api_query::params::parse("", c, 1)
                .map_err(|e| ApiError::BadRequest(e.0))?
                .0
        },
        &crate::api_query::Visibility::default(),
    )
    .map_err(|e| ApiError::BadRequest(e.0))?;
    let page = state
        .db
        .run(move |conn| crate::api_query::exec::run(conn, &found, None))
        .await?;
    if page.rows.is_empty() {
        return Err(ApiError::NotFound(format!("{} {id} not found", c.name)));
    }
    Ok((c.name, id))
}

pub(super) async fn object_tags(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (name, id) = object(&state, &caller, path.into_inner()).await?;
    let rows = state
        .db
        .run(move |conn| store::tags_of(conn, name, id))
        .await?;
    tag_collection(&req, &format!("{name}/{id}/tags"), &rows)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TagAction {
    action: String,
    resources: Vec<TagResource>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TagResource {
    /// `/category/tag`, or the tag's name when `category` is given.
    name: Option<String>,
    category: Option<String>,
    href: Option<String>,
}

impl TagResource {
    fn tag(&self) -> Result<TagRef, String> {
        match (&self.category, &self.name, &self.href) {
            (Some(category), Some(name), _) => parse_tag_path(&format!("/{category}/{name}")),
            (None, Some(path), _) => parse_tag_path(path),
            _ => Err(
                "a tag is given as {\"name\":\"/category/tag\"} or {\"category\",\"name\"}".into(),
            ),
        }
    }
}

pub(super) async fn tag_action(
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Checked<TagAction>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let assign = match body.action.as_str() {
        "assign" => true,
        "unassign" => false,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown action `{}` (tags support: assign, unassign)",
                crate::text::truncate(other, 60)
            )));
        }
    };
    if body.resources.len() > 100 {
        return Err(ApiError::BadRequest("at most 100 tags per request".into()));
    }
    let (name, id) = object(&state, &caller, path.into_inner()).await?;
    let mut results = Vec::new();
    for resource in body.resources {
        let tag = match resource.tag() {
            Ok(t) => t,
            Err(message) => {
                results.push(json!({"success": false, "message": message}));
                continue;
            }
        };
        let t = tag.clone();
        let outcome = state
            .db
            .run(move |conn| {
                if assign {
                    store::assign(conn, name, id, &t).map(|_| true)
                } else {
                    store::unassign(conn, name, id, &t)
                }
            })
            .await;
        results.push(match outcome {
            Ok(changed) => json!({
                "success": true,
                "message": format!(
                    "{} {}{}",
                    if assign { "assigned" } else { "unassigned" },
                    tag.full_name(),
                    if changed { "" } else { " (it was not assigned)" }
                ),
                "tag_category": tag.category,
                "tag_name": tag.full_name(),
            }),
            Err(e) => json!({"success": false, "message": e.to_string()}),
        });
    }
    Ok(HttpResponse::Ok().json(json!({"results": results})))
}
