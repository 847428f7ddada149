//! Recording what became of claimed messages, many at a time. One transaction per
//! batch: a handler's *commit hook* (its database effects) runs in it, under a
//! savepoint, only if the message is still ours — so handlers whose effects are
//! database writes are exactly-once even if the node is killed mid-message, and the
//! rest are at-least-once (a message whose node dies is requeued).

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::message::MessageState;
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError, write_transaction};

/// Database work a handler wants committed together with its message's completion.
/// It may run more than once if the completion transaction is retried, but commits once.
pub type CommitHook =
    std::sync::Arc<dyn Fn(&mut DbConnection) -> Result<(), DbError> + Send + Sync>;

/// The end of one message.
#[derive(Clone)]
pub struct Completion {
    pub id: i64,
    /// `Ok`, `Error` or `Timeout`.
    pub state: MessageState,
    /// Why it failed (empty for `Ok`).
    pub error: String,
    /// The worker that ran it (e.g. `generic-1`).
    pub worker: String,
    pub hook: Option<CommitHook>,
    /// How long the handler ran (for the "delivered in" log line).
    pub delivered_in: std::time::Duration,
    /// `Class.method`, for the log line.
    pub command: String,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("error", &self.error)
            .field("worker", &self.worker)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// What a batch write did.
#[derive(Debug, Default)]
pub struct CompletionReport {
    /// Messages recorded, with their final state (a failed hook turns `Ok` into `Error`).
    pub recorded: Vec<(i64, MessageState)>,
    /// Messages no longer ours (requeued after this node was thought dead): ignored,
    /// hooks not run.
    pub stale: Vec<i64>,
}

/// Writes a batch of completions for messages this server (`guid`) holds.
pub fn complete_batch(
    conn: &mut DbConnection,
    guid: &str,
    completions: &[Completion],
    now: NaiveDateTime,
) -> Result<CompletionReport, DbError> {
    write_transaction(conn, |conn| {
        let ids: Vec<i64> = completions.iter().map(|c| c.id).collect();
        let ours: HashSet<i64> = qm::table
            .select(qm::id)
            .filter(qm::id.eq_any(&ids))
            .filter(sql::<Bool>("state = 'dequeue'"))
            .filter(qm::handler_server.eq(guid))
            .load::<i64>(conn)?
            .into_iter()
            .collect();
        let mut report = CompletionReport::default();
        let mut ok_by_worker: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for c in completions {
            if !ours.contains(&c.id) {
                report.stale.push(c.id);
                continue;
            }
            let (mut state, mut error) = (c.state, c.error.clone());
            if let Some(hook) = &c.hook
                && let Err(e) = savepoint(conn, hook)
            {
                state = MessageState::Error;
                error = format!("commit hook failed: {e}");
            }
            if state == MessageState::Ok {
                ok_by_worker.entry(c.worker.clone()).or_default().push(c.id);
            } else {
                diesel::update(qm::table.find(c.id))
                    .set((
                        qm::state.eq(state.as_str()),
                        qm::finished_on.eq(Some(now)),
                        qm::handler_worker.eq(&c.worker),
                        qm::last_error.eq(truncate(&error, 4000)),
                    ))
                    .execute(conn)?;
            }
            report.recorded.push((c.id, state));
        }
        for (worker, ids) in ok_by_worker {
            diesel::update(qm::table.filter(qm::id.eq_any(&ids)))
                .set((
                    qm::state.eq(MessageState::Ok.as_str()),
                    qm::finished_on.eq(Some(now)),
                    qm::handler_worker.eq(&worker),
                ))
                .execute(conn)?;
        }
        Ok(report)
    })
}

/// Runs `hook` under a savepoint: its failure undoes only its own writes.
fn savepoint(conn: &mut DbConnection, hook: &CommitHook) -> Result<(), DbError> {
    conn.batch_execute("SAVEPOINT steward_hook")?;
    match hook(conn) {
        Ok(()) => {
            conn.batch_execute("RELEASE SAVEPOINT steward_hook")?;
            Ok(())
        }
        Err(e) => {
            conn.batch_execute(
                "ROLLBACK TO SAVEPOINT steward_hook; RELEASE SAVEPOINT steward_hook",
            )?;
            Err(e)
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
