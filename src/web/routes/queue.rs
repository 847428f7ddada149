//! The queue over HTTP: region-wide counts plus this node's latencies
//! (`GET /api/queue/stats`), putting a message (`POST /api/queue/messages`), and
//! reading messages back (`GET /api/queue/messages[/:id]`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use super::collection::{api_base, expand_resources, paged_collection, parse_id, with_href};
use crate::db::schema::queue_messages as qm;
use crate::queue::{DedupKey, MessageState, NewMessage, PutOutcome, QueueMessage, queue_counts};
use crate::web::{ApiError, AppState, Checked};

pub(super) async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let counts = state.db.run(queue_counts).await?;
    Ok(HttpResponse::Ok().json(json!({
        "region": counts,
        "node": state.node_stats.snapshot(),
    })))
}

/// Body of `POST /api/queue/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PutBody {
    command: String,
    #[serde(default)]
    args: Option<serde_json::Value>,
    priority: Option<i32>,
    zone: Option<String>,
    role: Option<String>,
    queue_name: Option<String>,
    server_guid: Option<String>,
    task_id: Option<String>,
    instance_id: Option<i64>,
    /// ISO-8601 UTC time before which the message is not delivered.
    deliver_on: Option<String>,
    /// Seconds.
    msg_timeout: Option<i32>,
    /// `unless_exists`: do nothing if the same command and routing is already waiting.
    dedup: Option<String>,
}

pub(super) async fn put(
    req: HttpRequest,
    body: Checked<PutBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if !state.handlers.knows(&body.command) {
        return Err(ApiError::BadRequest(format!(
            "unknown command `{}` (known: {})",
            crate::text::elide(&body.command, 100),
            state.handlers.commands().join(", ")
        )));
    }
    let message = build(&body).map_err(ApiError::BadRequest)?;
    message
        .validate(state.settings.queue.max_args_bytes)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let outcome = match body.dedup.as_deref() {
        None => PutOutcome::Inserted(state.queue.put(message).await?),
        Some("unless_exists") => {
            state
                .queue
                .put_unless_exists(message, DedupKey::WAITING)
                .await?
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "dedup must be `unless_exists`, not `{other}`"
            )));
        }
    };
    let id = outcome.id();
    let href = format!("{}/queue/messages/{id}", api_base(&req));
    let status = if matches!(outcome, PutOutcome::Inserted(_)) {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(json!({
        "id": id.to_string(),
        "href": href,
        "created": matches!(outcome, PutOutcome::Inserted(_)),
    })))
}

fn build(body: &PutBody) -> Result<NewMessage, String> {
    let e = |e: crate::queue::InvalidMessage| e.to_string();
    let mut m = NewMessage::new(&body.command).map_err(e)?;
    if let Some(args) = &body.args {
        m = m.with_args(args).map_err(e)?;
    }
    if let Some(p) = body.priority {
        m = m.with_priority(p).map_err(e)?;
    }
    if let Some(t) = body.msg_timeout {
        m = m.with_timeout_s(t).map_err(e)?;
    }
    if let Some(r) = &body.role {
        m = m.with_role(r).map_err(e)?;
    }
    if let Some(z) = &body.zone {
        m = m.with_zone(z);
    }
    if let Some(q) = &body.queue_name {
        m = m.with_queue(q);
    }
    if let Some(s) = &body.server_guid {
        m = m.with_server(s);
    }
    if let Some(t) = &body.task_id {
        m = m.with_task(t);
    }
    if let Some(i) = body.instance_id {
        m = m.with_instance(i);
    }
    if let Some(d) = &body.deliver_on {
        m = m.deliver_on(parse_time(d)?);
    }
    Ok(m)
}

/// Parses `2026-11-21T18:00:00Z` (or with an offset) into naive UTC.
pub(super) fn parse_time(text: &str) -> Result<NaiveDateTime, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
}

pub(super) async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "message")?;
    let message: Option<QueueMessage> = state
        .db
        .run(move |c| Ok(qm::table.find(id).first(c).optional()?))
        .await?;
    let message = message.ok_or_else(|| ApiError::NotFound(format!("message {id} not found")))?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "queue/messages", id, &message)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    command: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    expand: Option<String>,
}

pub(super) async fn list(
    req: HttpRequest,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    if let Some(s) = &q.state
        && MessageState::parse(s).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "state must be one of ready, dequeue, ok, error, timeout; not `{s}`"
        )));
    }
    if let Some(cmd) = &q.command {
        NewMessage::new(cmd).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let offset = q.offset.unwrap_or(0).max(0);
    let expanded = expand_resources(&q.expand)?;
    let (state_filter, command) = (q.state.clone(), q.command.clone());
    let (count, rows) = state
        .db
        .run(move |c| {
            let filtered = || {
                let mut query = qm::table.into_boxed();
                if let Some(s) = &state_filter {
                    query = query.filter(qm::state.eq(s.clone()));
                }
                if let Some(cmd) = &command
                    && let Some((class, method)) = cmd.split_once('.')
                {
                    query = query
                        .filter(qm::class_name.eq(class.to_string()))
                        .filter(qm::method_name.eq(method.to_string()));
                }
                query
            };
            let count: i64 = filtered().count().get_result(c)?;
            let rows: Vec<QueueMessage> = filtered()
                .order(qm::id.asc())
                .limit(limit)
                .offset(offset)
                .load(c)?;
            Ok((count, rows))
        })
        .await?;
    let base = api_base(&req);
    let resources = rows
        .iter()
        .map(|m| with_href(&base, "queue/messages", m.id, m))
        .collect();
    Ok(HttpResponse::Ok().json(paged_collection(
        &req,
        "queue/messages",
        count as usize,
        (offset as usize, limit as usize),
        resources,
        expanded,
    )))
}
