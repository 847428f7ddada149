//! `GET /api/:collection/:id/metrics?interval=realtime|hourly|daily&start=&end=` — an
//! object's time series (collections: container_nodes, container_groups, containers,
//! container_projects, container_replicators, container_services, container_images,
//! providers, regions) — and `GET /api/metrics/health`.

use actix_web::{HttpResponse, web};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

use super::collection::parse_id;
use crate::metrics::health::health;
use crate::metrics::series::{Interval, read};
use crate::web::{ApiError, AppState};

/// The resource type of the objects of a collection.
fn resource_type(collection: &str) -> Option<&'static str> {
    Some(match collection {
        "container_nodes" => "container_node",
        "container_groups" => "container_group",
        "containers" => "container",
        "container_projects" => "container_project",
        "container_replicators" => "container_replicator",
        "container_services" => "container_service",
        "container_images" => "container_image",
        "providers" => "provider",
        "regions" => "region",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsQuery {
    interval: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<i64>,
}

fn parse_time(value: &str, name: &str) -> Result<NaiveDateTime, ApiError> {
    crate::json::parse_time_or_unix(value, name).map_err(ApiError::BadRequest)
}

pub(super) async fn series(
    caller: crate::web::Caller,
    path: web::Path<(String, String)>,
    query: web::Query<MetricsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (collection, id) = path.into_inner();
    let kind = resource_type(&collection)
        .ok_or_else(|| ApiError::NotFound(format!("collection `{collection}` has no metrics")))?;
    let id = parse_id(&id, &collection)?;
    // Regions and the enterprise roll everything up: only unrestricted callers see them.
    let restricted = super::inventory::visible_providers(&state, &caller.0)
        .await?
        .is_some();
    if restricted && collection == "regions" {
        return Err(ApiError::NotFound(format!("{collection} {id} not found")));
    }
    super::inventory::ensure_visible(&state, &caller.0, &collection, id).await?;
    let q = query.into_inner();
    let interval_name = q.interval.as_deref().unwrap_or("realtime");
    let interval = Interval::parse(interval_name).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "interval must be realtime, hourly or daily, not `{interval_name}`"
        ))
    })?;
    let end = match &q.end {
        Some(e) => parse_time(e, "end")?,
        None => chrono::Utc::now().naive_utc(),
    };
    let start = match &q.start {
        Some(s) => parse_time(s, "start")?,
        None => end - interval.default_span(),
    };
    if start > end {
        return Err(ApiError::BadRequest("start must not be after end".into()));
    }
    let limit = q.limit.unwrap_or(10_000);
    if !(1..=100_000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 100000".into(),
        ));
    }
    let samples = state
        .db
        .run(move |c| read(c, kind, id, interval, start, end, limit))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "resource_type": kind,
        "resource_id": id.to_string(),
        "interval": interval.name(),
        "start": crate::json::format_utc(&start),
        "end": crate::json::format_utc(&end),
        "count": samples.len(),
        "samples": samples,
    })))
}

pub(super) async fn metrics_health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = state
        .db
        .run(|c| health(c, chrono::Utc::now().naive_utc()))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
