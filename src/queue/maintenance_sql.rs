//! Queue upkeep statements: requeueing the messages of servers that died, purging
//! finished messages in batches, and finding messages a stuck worker never finished.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::message::MessageState;
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError};

/// What requeueing a dead server's messages did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Requeued {
    /// Back to `ready`.
    pub ready: usize,
    /// Claimed `max_attempts` times already: now `error`.
    pub failed: usize,
}

/// Returns the messages held by the servers `guids` to `ready`, or to `error` once they
/// have been claimed `max_attempts` times (a message that kills its node every time
/// must not kill the region). Runs inside the caller's transaction.
pub fn requeue_messages_of(
    conn: &mut DbConnection,
    guids: &[String],
    max_attempts: i32,
    now: NaiveDateTime,
) -> Result<Requeued, DbError> {
    if guids.is_empty() {
        return Ok(Requeued::default());
    }
    let held = || {
        qm::table
            .filter(sql::<Bool>("state = 'dequeue'"))
            .filter(qm::handler_server.eq_any(guids))
    };
    let failed = diesel::update(held().filter(qm::attempts.ge(max_attempts)))
        .set((
            qm::state.eq(MessageState::Error.as_str()),
            qm::finished_on.eq(Some(now)),
            qm::last_error.eq(format!(
                "its server stopped responding {max_attempts} time(s) while working it"
            )),
        ))
        .execute(conn)?;
    let ready = diesel::update(held())
        .set((
            qm::state.eq(MessageState::Ready.as_str()),
            qm::handler_server.eq(""),
            qm::dequeued_on.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(Requeued { ready, failed })
}

/// Deletes up to `batch` finished messages older than `before`; returns how many.
pub fn purge_finished(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    let ids: Vec<i64> = qm::table
        .select(qm::id)
        .filter(sql::<Bool>("state IN ('ok', 'error', 'timeout')"))
        .filter(qm::finished_on.lt(before))
        .order(qm::finished_on.asc())
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(qm::table.filter(qm::id.eq_any(&ids))).execute(conn)?)
}

/// Marks a message `timeout` (a stuck worker will never report it). Returns whether
/// the message was still held by this claim (`guid`, `attempt`).
pub fn mark_timed_out(
    conn: &mut DbConnection,
    id: i64,
    attempt: i32,
    guid: &str,
    worker: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        qm::table
            .filter(qm::id.eq(id))
            .filter(sql::<Bool>("state = 'dequeue'"))
            .filter(qm::handler_server.eq(guid))
            .filter(qm::attempts.eq(attempt)),
    )
    .set((
        qm::state.eq(MessageState::Timeout.as_str()),
        qm::finished_on.eq(Some(now)),
        qm::handler_worker.eq(worker),
        qm::last_error.eq(reason),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
