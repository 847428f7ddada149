//! `GET /api/regions`, `/api/zones` and `/api/server_roles` (with `/:id`): the region
//! this node belongs to, its zones with their servers, and the server-role catalogue
//! with where each role is active.

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use serde_json::{Value, json};

use super::collection::{api_base, collection, parse_id};
use crate::db::schema::{regions, server_roles};
use crate::region::load_region_view;
use crate::web::{ApiError, AppState};

/// The resource of `rows` whose `id` is `id`, or 404.
fn one(rows: &[Value], id: i64, what: &str) -> Result<HttpResponse, ApiError> {
    rows.iter()
        .find(|r| r["id"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(id))
        .map(|r| HttpResponse::Ok().json(r))
        .ok_or_else(|| ApiError::NotFound(format!("{what} {id} not found")))
}

/// The region (one database holds one region).
async fn regions_of(state: &AppState, base: &str) -> Result<Vec<Value>, ApiError> {
    let rows: Vec<(i64, i32, String, String)> = state
        .db
        .run(|c| {
            Ok(regions::table
                .select((
                    regions::id,
                    regions::region,
                    regions::guid,
                    regions::description,
                ))
                .load(c)?)
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, region, guid, description)| {
            json!({
                "id": id.to_string(),
                "href": format!("{base}/regions/{id}"),
                "region": region,
                "guid": guid,
                "description": description,
            })
        })
        .collect())
}

pub(super) async fn list_regions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let base = api_base(&req);
    let rows = regions_of(&state, &base).await?;
    Ok(HttpResponse::Ok().json(collection(&req, "regions", rows)?))
}

pub(super) async fn show_region(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "region")?;
    let base = api_base(&req);
    one(&regions_of(&state, &base).await?, id, "region")
}

/// Zones with the hrefs of their servers.
async fn zones_of(state: &AppState, base: &str) -> Result<Vec<Value>, ApiError> {
    let view = state.db.run(load_region_view).await?;
    Ok(view
        .zones
        .iter()
        .map(|z| {
            let servers: Vec<Value> = view
                .servers
                .iter()
                .filter(|s| s.zone == z.name)
                .map(|s| json!({"href": format!("{base}/servers/{}", s.id), "name": s.name}))
                .collect();
            json!({
                "id": z.id.to_string(),
                "href": format!("{base}/zones/{}", z.id),
                "name": z.name,
                "description": z.description,
                "servers": servers,
            })
        })
        .collect())
}

pub(super) async fn list_zones(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let base = api_base(&req);
    let rows = zones_of(&state, &base).await?;
    Ok(HttpResponse::Ok().json(collection(&req, "zones", rows)?))
}

pub(super) async fn show_zone(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "zone")?;
    let base = api_base(&req);
    one(&zones_of(&state, &base).await?, id, "zone")
}

/// The role catalogue, with whether each is implemented and where it is active.
async fn roles_of(state: &AppState, base: &str) -> Result<Vec<Value>, ApiError> {
    let rows: Vec<(i64, String, String, String, i32)> = state
        .db
        .run(|c| {
            Ok(server_roles::table
                .select((
                    server_roles::id,
                    server_roles::name,
                    server_roles::description,
                    server_roles::scope,
                    server_roles::max_concurrent,
                ))
                .order(server_roles::name)
                .load(c)?)
        })
        .await?;
    let view = state.db.run(load_region_view).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, description, scope, max_concurrent)| {
            let active_on: Vec<Value> = view
                .servers
                .iter()
                .filter(|s| s.active_roles().any(|r| r == name))
                .map(|s| json!({"href": format!("{base}/servers/{}", s.id), "name": s.name}))
                .collect();
            json!({
                "id": id.to_string(),
                "href": format!("{base}/server_roles/{id}"),
                "name": name,
                "description": description,
                "scope": scope,
                "max_concurrent": max_concurrent,
                "implemented": crate::roles::is_implemented(&name),
                "active_on": active_on,
            })
        })
        .collect())
}

pub(super) async fn list_server_roles(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let base = api_base(&req);
    let rows = roles_of(&state, &base).await?;
    Ok(HttpResponse::Ok().json(collection(&req, "server_roles", rows)?))
}

pub(super) async fn show_server_role(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "server role")?;
    let base = api_base(&req);
    one(&roles_of(&state, &base).await?, id, "server role")
}
