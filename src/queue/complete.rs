//! Recording what became of claimed messages, many at a time. One transaction per
//! batch. Each completion names the claim it ends — this server and the attempt
//! number its claim set — and is applied only if the message is still held by that
//! very claim (checked per message, rows locked, inside the transaction). A handler's
//! *commit hook* (its database effects) runs in the same transaction, under a
//! savepoint, only then: handlers whose effects are database writes are exactly-once
//! even if the node is killed mid-message or declared dead while it still works, and
//! the rest are at-least-once (a message whose node dies is requeued).

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::message::{MessageState, QueueMessage};
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError, write_transaction};

/// Database work a handler wants committed together with its message's completion.
/// It may run more than once if the completion transaction is retried, but commits once.
pub type CommitHook =
    std::sync::Arc<dyn Fn(&mut DbConnection) -> Result<(), DbError> + Send + Sync>;

/// The end of one claim of one message.
#[derive(Clone)]
pub struct Completion {
    pub id: i64,
    /// The attempt number the claim set: with the server's guid, it names the claim.
    pub attempt: i32,
    /// `Ok`, `Error` or `Timeout` — or `Ready`: handed back unstarted.
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

impl Completion {
    /// The end of the claim of `message` (as claimed: its `attempts` name the claim).
    pub fn of(message: &QueueMessage, state: MessageState, error: String, worker: &str) -> Self {
        Self {
            id: message.id,
            attempt: message.attempts,
            state,
            error,
            worker: worker.to_string(),
            hook: None,
            delivered_in: std::time::Duration::ZERO,
            command: message.command(),
        }
    }

    /// Hands `message` back to the queue unstarted (its claim was lost).
    pub fn hand_back(message: &QueueMessage, worker: &str) -> Self {
        Self::of(message, MessageState::Ready, String::new(), worker)
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("id", &self.id)
            .field("attempt", &self.attempt)
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
    /// Messages recorded, with their final state (a failed hook turns `Ok` into
    /// `Error`; `Ready` means handed back).
    pub recorded: Vec<(i64, MessageState)>,
    /// Completions of claims that no longer hold their message (it was requeued
    /// after this node was thought dead, and perhaps claimed again): discarded,
    /// hooks not run.
    pub stale: Vec<i64>,
}

/// Writes a batch of completions of claims made by this server (`guid`).
pub fn complete_batch(
    conn: &mut DbConnection,
    guid: &str,
    completions: &[Completion],
    now: NaiveDateTime,
) -> Result<CompletionReport, DbError> {
    write_transaction(conn, |conn| {
        let held = lock_held(conn, guid, completions)?;
        let mut report = CompletionReport::default();
        let mut ok_by_worker: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for c in completions {
            if held.get(&c.id) != Some(&c.attempt) {
                report.stale.push(c.id);
                continue;
            }
            let (mut state, mut error) = (c.state, c.error.clone());
            if state == MessageState::Ok
                && let Some(hook) = &c.hook
                && let Err(e) = savepoint(conn, hook)
            {
                state = MessageState::Error;
                error = format!("commit hook failed: {e}");
            }
            let mine = || {
                qm::table
                    .filter(qm::id.eq(c.id))
                    .filter(sql::<Bool>("state = 'dequeue'"))
                    .filter(qm::handler_server.eq(guid))
            };
            match state {
                MessageState::Ok => ok_by_worker.entry(c.worker.clone()).or_default().push(c.id),
                MessageState::Ready | MessageState::Dequeue => {
                    diesel::update(mine())
                        .set((
                            qm::state.eq(MessageState::Ready.as_str()),
                            qm::handler_server.eq(""),
                            qm::dequeued_on.eq(None::<NaiveDateTime>),
                        ))
                        .execute(conn)?;
                    state = MessageState::Ready;
                }
                MessageState::Error | MessageState::Timeout => {
                    diesel::update(mine())
                        .set((
                            qm::state.eq(state.as_str()),
                            qm::finished_on.eq(Some(now)),
                            qm::handler_worker.eq(&c.worker),
                            qm::last_error.eq(crate::text::truncate(&error, 4000)),
                        ))
                        .execute(conn)?;
                }
            }
            report.recorded.push((c.id, state));
        }
        for (worker, ids) in ok_by_worker {
            diesel::update(
                qm::table
                    .filter(qm::id.eq_any(&ids))
                    .filter(sql::<Bool>("state = 'dequeue'"))
                    .filter(qm::handler_server.eq(guid)),
            )
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

/// The messages of `completions` still claimed by `guid`, with the attempt number of
/// their claim; on PostgreSQL their rows stay locked until the transaction ends, so a
/// concurrent requeue (another server declaring this one dead) waits for it and then
/// finds them finished. SQLite's write transaction already admits one writer.
fn lock_held(
    conn: &mut DbConnection,
    guid: &str,
    completions: &[Completion],
) -> Result<HashMap<i64, i32>, DbError> {
    let ids: Vec<i64> = completions.iter().map(|c| c.id).collect();
    let held = || {
        qm::table
            .select((qm::id, qm::attempts))
            .filter(qm::id.eq_any(&ids))
            .filter(sql::<Bool>("state = 'dequeue'"))
            .filter(qm::handler_server.eq(guid))
    };
    let rows: Vec<(i64, i32)> = match conn {
        DbConnection::Postgresql(pg) => held().order(qm::id).for_update().load(pg)?,
        DbConnection::Sqlite(lite) => held().load(lite)?,
    };
    Ok(rows.into_iter().collect())
}

/// Runs `hook` under a savepoint: its failure — or its panic — undoes only its own
/// writes and fails only its own message.
fn savepoint(conn: &mut DbConnection, hook: &CommitHook) -> Result<(), DbError> {
    conn.batch_execute("SAVEPOINT steward_hook")?;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| hook(conn))).unwrap_or_else(|p| {
        Err(DbError::Task(format!(
            "panicked: {}",
            crate::workers::panic_message(p.as_ref())
        )))
    });
    match outcome {
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
