//! `GET /api/<collection>` and `GET /api/<collection>/:id` for the container
//! inventory: `container_nodes`, `container_projects`, `container_groups` (pods),
//! `containers`, `container_services`, `container_replicators`, `container_images`,
//! `container_image_registries`. Query: `provider_id`, `include_deleted`, `limit`
//! (1–1000, default 100), `offset`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::collection::{api_base, parse_id};
use crate::auth::Feature;
use crate::inventory::query::{
    Containers, Images, InventoryTable, ListFilter, Nodes, Pods, Projects, Registries, Replicators,
    Services,
};
use crate::web::route_table::{Access, Routes};
use crate::web::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    provider_id: Option<String>,
    include_deleted: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub(super) fn register(r: &mut Routes<'_>) {
    fn add<T: InventoryTable>(r: &mut Routes<'_>) {
        let access = Access::Feature(Feature::InventoryView);
        r.get(&format!("/api/{}", T::NAME), access, list::<T>);
        r.get(&format!("/api/{}/{{id}}", T::NAME), access, show::<T>);
    }
    add::<Projects>(r);
    add::<Nodes>(r);
    add::<Pods>(r);
    add::<Containers>(r);
    add::<Services>(r);
    add::<Replicators>(r);
    add::<Images>(r);
    add::<Registries>(r);
}

fn with_href<V: serde::Serialize>(base: &str, name: &str, value: &V) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if let Some(id) = v.get("id").and_then(|i| i.as_str()).map(str::to_string)
        && let serde_json::Value::Object(map) = &mut v
    {
        map.insert("href".into(), json!(format!("{base}/{name}/{id}")));
    }
    v
}

async fn list<T: InventoryTable>(
    req: HttpRequest,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    let provider_id = q
        .provider_id
        .as_deref()
        .map(|p| parse_id(p, "provider"))
        .transpose()?;
    let filter = ListFilter {
        provider_id,
        include_deleted: q.include_deleted.unwrap_or(false),
        limit,
        offset,
    };
    let (count, rows) = state.db.run(move |c| T::list(c, &filter)).await?;
    let base = api_base(&req);
    let resources: Vec<_> = rows.iter().map(|r| with_href(&base, T::NAME, r)).collect();
    let mut links = json!({"self": format!("{base}/{}?offset={offset}&limit={limit}", T::NAME)});
    if offset + (resources.len() as i64) < count {
        links["next"] = json!(format!(
            "{base}/{}?offset={}&limit={limit}",
            T::NAME,
            offset + limit
        ));
    }
    Ok(HttpResponse::Ok().json(json!({
        "name": T::NAME,
        "count": count,
        "subcount": resources.len(),
        "resources": resources,
        "links": links,
    })))
}

async fn show<T: InventoryTable>(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, T::NAME)?;
    let row = state.db.run(move |c| T::show(c, id)).await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("{} {id} not found", T::NAME)))?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), T::NAME, &row)))
}
