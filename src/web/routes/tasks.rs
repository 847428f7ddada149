//! `/api/tasks`: long work (a refresh, and later operations) seen as ManageIQ's
//! tasks — `state` Queued / Active / Finished, `status` Ok / Error / Timeout,
//! `message`, `progress`, created/started/updated times. A task is the queue message
//! that carries the work, so the queue drives it; finished tasks live as long as
//! finished messages (`queue.keep_finished`).

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use serde_json::Value;

use super::collection::{ListQuery, api_base, paged_collection, parse_id};
use crate::db::schema::queue_messages as qm;
use crate::queue::QueueMessage;
use crate::web::{ApiError, AppState};

fn task(base: &str, m: &QueueMessage) -> Value {
    crate::queue::tasks::task_view(Some(base), m)
}

pub(super) async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "task")?;
    let message: Option<QueueMessage> = state
        .db
        .run(move |c| Ok(qm::table.find(id).first(c).optional()?))
        .await?;
    let message = message.ok_or_else(|| {
        ApiError::NotFound(format!(
            "task {id} not found (finished tasks are kept for queue.keep_finished)"
        ))
    })?;
    Ok(HttpResponse::Ok().json(task(&api_base(&req), &message)))
}

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let list = ListQuery::of(&req)?;
    let (expanded, window) = (list.expanded()?, list.window()?);
    let (offset, limit) = (window.0 as i64, window.1 as i64);
    let (count, rows): (i64, Vec<QueueMessage>) = state
        .db
        .run(move |c| {
            let count = crate::queue::queue_counts(c)?.totals.values().sum::<i64>();
            let rows = qm::table
                .order(qm::id.desc())
                .offset(offset)
                .limit(limit)
                .load(c)?;
            Ok((count, rows))
        })
        .await?;
    let base = api_base(&req);
    let resources: Vec<Value> = rows.iter().map(|m| task(&base, m)).collect();
    Ok(HttpResponse::Ok().json(paged_collection(
        &req,
        "tasks",
        count as usize,
        window,
        resources,
        expanded,
    )))
}
