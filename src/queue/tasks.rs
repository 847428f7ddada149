//! Queue messages seen as ManageIQ's tasks (`/api/tasks` and the live feed's `tasks`
//! topic): `state` Queued / Active / Finished, `status` Ok / Error / Timeout, `message`,
//! `progress`, created/started/updated times. A task is the message carrying the work,
//! so the queue drives it.

use diesel::prelude::*;
use serde_json::{Value, json};

use super::QueueMessage;
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError};

/// A message as a task; with `base` (`…/api`), with its hrefs.
pub fn task_view(base: Option<&str>, m: &QueueMessage) -> Value {
    let (state, status, progress) = match m.state.as_str() {
        "ready" => ("Queued", "Ok", 0),
        "dequeue" => ("Active", "Ok", 50),
        "ok" => ("Finished", "Ok", 100),
        "timeout" => ("Finished", "Timeout", 100),
        _ => ("Finished", "Error", 100),
    };
    let updated = m.finished_on.or(m.dequeued_on).unwrap_or(m.created_on);
    let mut task = json!({
        "id": m.id.to_string(),
        "name": m.command(),
        "state": state,
        "status": status,
        "message": if m.last_error.is_empty() { format!("{} {}", m.command(), state.to_lowercase()) } else { m.last_error.clone() },
        "progress": progress,
        "attempts": m.attempts,
        "created_on": crate::json::format_utc(&m.created_on),
        "started_on": m.dequeued_on.map(|t| crate::json::format_utc(&t)),
        "updated_on": crate::json::format_utc(&updated),
    });
    if let (Some(base), Some(map)) = (base, task.as_object_mut()) {
        map.insert("href".into(), json!(format!("{base}/tasks/{}", m.id)));
        map.insert(
            "queue_message_href".into(),
            json!(format!("{base}/queue/messages/{}", m.id)),
        );
    }
    task
}

/// Messages after `after` (by id, oldest first), at most `limit`: the primary key's range.
pub fn tasks_after(
    conn: &mut DbConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<QueueMessage>, DbError> {
    Ok(qm::table
        .filter(qm::id.gt(after))
        .order(qm::id.asc())
        .limit(limit)
        .load(conn)?)
}

/// The messages of these ids that still exist.
pub fn tasks_by_ids(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<QueueMessage>, DbError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        found.extend(
            qm::table
                .filter(qm::id.eq_any(chunk))
                .load::<QueueMessage>(conn)?,
        );
    }
    Ok(found)
}

/// The newest message's id, if any.
pub fn newest_task_id(conn: &mut DbConnection) -> Result<Option<i64>, DbError> {
    Ok(qm::table
        .select(diesel::dsl::max(qm::id))
        .first::<Option<i64>>(conn)?)
}
