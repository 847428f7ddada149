//! The container inventory through the query engine (`api_query`):
//! `GET /api/<collection>`, `GET /api/<collection>/:id` and subcollections
//! `GET /api/<collection>/:id/<subcollection>` for `container_nodes`,
//! `container_projects`, `container_groups` (pods), `containers`,
//! `container_services`, `container_replicators`, `container_images`,
//! `container_image_registries` (and providers' subcollections). Every read carries
//! the caller's RBAC visibility in its SQL: what they may not see is a 404.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::collection::{api_base, links, parse_id};
use crate::api_query::sql::{Query, Visibility, build};
use crate::api_query::{Collection, collection, exec, params};
use crate::auth::{Feature, Identity};
use crate::web::route_table::{Access, Routes};
use crate::web::{ApiError, AppState, Caller};

/// The inventory collections served here.
const INVENTORY: &[&str] = &[
    "container_projects",
    "container_nodes",
    "container_groups",
    "containers",
    "container_services",
    "container_replicators",
    "container_images",
    "container_image_registries",
    "event_streams",
    "alerts",
];

pub(super) fn register(r: &mut Routes<'_>) {
    let access = Access::Feature(Feature::InventoryView);
    for name in INVENTORY {
        r.get(&format!("/api/{name}"), access, list);
        r.get(&format!("/api/{name}/{{id}}"), access, show);
    }
    r.get(
        "/api/{collection}/{id}/{subcollection}",
        access,
        subcollection,
    );
}

/// What the caller may see.
pub(crate) fn visibility(identity: &Identity) -> Visibility {
    Visibility {
        tenant_id: (!identity.root_tenant).then_some(identity.tenant_id),
        providers: identity.filters.provider_ids(),
        projects: identity.filters.projects.clone(),
        tags: identity.filters.tag_pairs(),
    }
}

/// The collection named by the request's first path segment after `/api/`.
fn named(req: &HttpRequest) -> Result<&'static Collection, ApiError> {
    let name = req
        .path()
        .trim_start_matches("/api/")
        .split('/')
        .next()
        .unwrap_or_default();
    collection(name).ok_or_else(|| ApiError::NotFound(format!("no collection `{name}`")))
}

async fn list(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let c = named(&req)?;
    let base = format!("{}/{}", api_base(&req), c.name);
    answer_list(&req, &state, &caller.0, c, Vec::new(), &base).await
}

async fn show(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let c = named(&req)?;
    let id = parse_id(&path, c.name)?;
    let (query, _) = params::parse("", c, 1).map_err(|e| ApiError::BadRequest(e.0))?;
    let query = Query {
        id: Some(id),
        include_deleted: true,
        ..query
    };
    let row = one(&state, &caller.0, c, query).await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("{} {id} not found", c.name)))?;
    Ok(HttpResponse::Ok().json(with_href(&format!("{}/{}", api_base(&req), c.name), row)))
}

async fn subcollection(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (parent_name, id_text, sub_name) = path.into_inner();
    let parent = collection(&parent_name)
        .ok_or_else(|| ApiError::NotFound(format!("no collection `{parent_name}`")))?;
    let sub = parent.sub(&sub_name).ok_or_else(|| {
        ApiError::NotFound(format!("{parent_name} have no subcollection `{sub_name}`"))
    })?;
    let child = collection(sub.child)
        .ok_or_else(|| ApiError::NotFound(format!("no collection `{}`", sub.child)))?;
    let id = parse_id(&id_text, parent.name)?;
    // The parent must be visible: otherwise its children are not there either.
    let (query, _) = params::parse("", parent, 1).map_err(|e| ApiError::BadRequest(e.0))?;
    let query = Query {
        id: Some(id),
        include_deleted: true,
        attributes: Some(Vec::new()),
        ..query
    };
    if one(&state, &caller.0, parent, query).await?.is_none() {
        return Err(ApiError::NotFound(format!("{parent_name} {id} not found")));
    }
    let base = format!("{}/{parent_name}/{id}/{sub_name}", api_base(&req));
    answer_list(&req, &state, &caller.0, child, vec![(sub.fk, id)], &base).await
}

/// 404 unless the caller may see row `id` of collection `name` (unrestricted callers
/// and collections the engine does not know are not checked here).
pub(super) async fn ensure_visible(
    state: &AppState,
    identity: &Identity,
    name: &str,
    id: i64,
) -> Result<(), ApiError> {
    let v = visibility(identity);
    if v.is_unrestricted() {
        return Ok(());
    }
    let Some(c) = collection(name) else {
        return Ok(());
    };
    let (query, _) = params::parse("", c, 1).map_err(|e| ApiError::BadRequest(e.0))?;
    let query = Query {
        id: Some(id),
        include_deleted: true,
        attributes: Some(Vec::new()),
        ..query
    };
    match one(state, identity, c, query).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("{name} {id} not found"))),
    }
}

/// The ids of the providers the caller may see; `None` when they see all.
pub(super) async fn visible_providers(
    state: &AppState,
    identity: &Identity,
) -> Result<Option<std::collections::HashSet<i64>>, ApiError> {
    let v = visibility(identity);
    if v.is_unrestricted() {
        return Ok(None);
    }
    let c = collection("providers")
        .ok_or_else(|| ApiError::Internal("no providers collection".into()))?;
    let (query, _) = params::parse("", c, 1).map_err(|e| ApiError::BadRequest(e.0))?;
    let query = Query {
        attributes: Some(Vec::new()),
        limit: 1_000_000,
        ..query
    };
    let built = build(state.db.backend(), c, &query, &v).map_err(|e| ApiError::BadRequest(e.0))?;
    let page = state
        .db
        .run(move |conn| exec::run(conn, &built, None))
        .await?;
    Ok(Some(
        page.rows
            .iter()
            .filter_map(|r| r["id"].as_str().and_then(|id| id.parse().ok()))
            .collect(),
    ))
}

/// One row of `c` as the caller may see it.
async fn one(
    state: &AppState,
    identity: &Identity,
    c: &'static Collection,
    query: Query,
) -> Result<Option<Value>, ApiError> {
    let built = build(state.db.backend(), c, &query, &visibility(identity))
        .map_err(|e| ApiError::BadRequest(e.0))?;
    let page = state
        .db
        .run(move |conn| exec::run(conn, &built, None))
        .await?;
    Ok(page.rows.into_iter().next())
}

/// A collection answer in ManageIQ's shape.
async fn answer_list(
    req: &HttpRequest,
    state: &AppState,
    identity: &Identity,
    c: &'static Collection,
    parents: Vec<(&'static str, i64)>,
    base: &str,
) -> Result<HttpResponse, ApiError> {
    let max = 1000;
    let (mut query, shape) =
        params::parse(req.query_string(), c, max).map_err(|e| ApiError::BadRequest(e.0))?;
    query.parents.extend(parents);
    if !shape.expand && !shape.attributes {
        query.attributes = Some(Vec::new());
    }
    let built = build(state.db.backend(), c, &query, &visibility(identity))
        .map_err(|e| ApiError::BadRequest(e.0))?;
    let filtered = built.filtered;
    let cache = state.count_cache.clone();
    let page = state
        .db
        .run(move |conn| exec::run(conn, &built, Some(&cache)))
        .await?;
    let (total, matched_rows) = (page.total, page.matched);
    let mut rows = page.rows;
    for sub in &shape.subs {
        expand_sub(state, identity, c, sub, &mut rows, &api_base(req)).await?;
    }
    let item_base = format!("{}/{}", api_base(req), c.name);
    let expanded = shape.expand || shape.attributes || !shape.subs.is_empty();
    let resources: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let full = with_href(&item_base, row);
            if expanded {
                full
            } else {
                json!({"href": full["href"]})
            }
        })
        .collect();
    let mut body = json!({
        "name": c.name,
        "count": total,
        "subcount": resources.len(),
    });
    let matched = if filtered { matched_rows } else { total };
    if filtered {
        body["subquery_count"] = json!(matched_rows);
    }
    let limit = query.limit.max(1);
    let pages = (matched + limit - 1) / limit;
    if shape.paged {
        body["pages"] = json!(pages);
    }
    body["resources"] = Value::Array(resources);
    body["actions"] = json!([]);
    body["links"] = links(req.query_string(), base, query.offset, limit, matched);
    Ok(HttpResponse::Ok().json(body))
}

/// Most children one inline expansion reads (more: read the subcollection's URL).
const MAX_EXPANDED: i64 = 10_000;

/// Adds each row's children of subcollection `sub` (`expand=<sub>`): one statement for
/// the whole page, with the caller's visibility.
async fn expand_sub(
    state: &AppState,
    identity: &Identity,
    c: &'static Collection,
    sub: &'static crate::api_query::catalog::Sub,
    rows: &mut [Value],
    api: &str,
) -> Result<(), ApiError> {
    let child = collection(sub.child)
        .ok_or_else(|| ApiError::Internal(format!("no collection {}", sub.child)))?;
    let ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| r["id"].as_str().and_then(|id| id.parse().ok()))
        .collect();
    let (query, _) = params::parse("", child, 1).map_err(|e| ApiError::BadRequest(e.0))?;
    let query = Query {
        parent_in: Some((sub.fk, ids)),
        limit: MAX_EXPANDED + 1,
        ..query
    };
    let built = build(state.db.backend(), child, &query, &visibility(identity))
        .map_err(|e| ApiError::BadRequest(e.0))?;
    let page = state
        .db
        .run(move |conn| exec::run(conn, &built, None))
        .await?;
    if page.rows.len() as i64 > MAX_EXPANDED {
        return Err(ApiError::BadRequest(format!(
            "expand={}: more than {MAX_EXPANDED} {} on this page; use a smaller limit or read /api/{}/:id/{}",
            sub.name, sub.child, c.name, sub.name
        )));
    }
    let child_base = format!("{api}/{}", child.name);
    let mut by_parent: std::collections::HashMap<String, Vec<Value>> =
        std::collections::HashMap::new();
    for row in page.rows {
        let parent = row[sub.fk].as_str().unwrap_or_default().to_string();
        by_parent
            .entry(parent)
            .or_default()
            .push(with_href(&child_base, row));
    }
    for row in rows.iter_mut() {
        let id = row["id"].as_str().unwrap_or_default().to_string();
        let children = by_parent.remove(&id).unwrap_or_default();
        if let Value::Object(map) = row {
            map.insert(sub.name.to_string(), Value::Array(children));
        }
    }
    Ok(())
}

/// Adds `href` from the row's `id`.
fn with_href(item_base: &str, mut row: Value) -> Value {
    if let Some(id) = row.get("id").and_then(Value::as_str).map(str::to_string)
        && let Value::Object(map) = &mut row
    {
        map.insert("href".into(), json!(format!("{item_base}/{id}")));
    }
    row
}
