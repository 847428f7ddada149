//! Recording what became of claimed messages, many at a time. One transaction per
//! batch. Each completion names the claim it ends — this server and the attempt
//! number its claim set — and is applied only if the message is still held by that
//! very claim (checked per message by the update that ends it). A handler's
//! *commit hook* (its database effects) runs in the same transaction, under a
//! savepoint, only then: handlers whose effects are database writes are exactly-once
//! even if the node is killed mid-message or declared dead while it still works, and
//! the rest are at-least-once (a message whose node dies is requeued).

use std::collections::{BTreeMap, HashSet};
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

/// Written so that PostgreSQL finds the rows by primary key: a literal
/// `state = 'dequeue'` would let the planner prefer the partial index on running
/// messages' `handler_server` — which, between two vacuums of a busy queue, holds the
/// dead entries of every message this server ran, read again for every batch (a
/// measured halving of the burn-down rate). `IS TRUE` keeps the same meaning without
/// proving the partial index's predicate.
const HELD: &str = "(state = 'dequeue') IS TRUE";

/// Writes a batch of completions of claims made by this server (`guid`).
///
/// Each claim is checked as it is ended — `UPDATE … WHERE` the message is still in
/// `dequeue`, held by `guid`, with the attempt number of the claim — so the check and
/// the write are one atomic step: on PostgreSQL a concurrent requeue (another server
/// declaring this one dead) either committed first, and the update finds nothing, or
/// waits for this transaction and then finds the message finished. Commit hooks run
/// after, in the same transaction, only for the messages this batch ended `ok`.
pub fn complete_batch(
    conn: &mut DbConnection,
    guid: &str,
    completions: &[Completion],
    now: NaiveDateTime,
) -> Result<CompletionReport, DbError> {
    write_transaction(conn, |conn| {
        let mut report = CompletionReport::default();
        let mut ok_groups: BTreeMap<(&str, i32), Vec<i64>> = BTreeMap::new();
        for c in completions.iter().filter(|c| c.state == MessageState::Ok) {
            ok_groups
                .entry((c.worker.as_str(), c.attempt))
                .or_default()
                .push(c.id);
        }
        let mut ended_ok = HashSet::new();
        for ((worker, attempt), ids) in ok_groups {
            let ended: Vec<i64> = crate::with_backend!(conn, c => diesel::update(
                    qm::table
                        .filter(qm::id.eq_any(&ids))
                        .filter(sql::<Bool>(HELD))
                        .filter(qm::handler_server.eq(guid))
                        .filter(qm::attempts.eq(attempt)),
                )
                .set((
                    qm::state.eq(MessageState::Ok.as_str()),
                    qm::finished_on.eq(Some(now)),
                    qm::handler_worker.eq(worker),
                ))
                .returning(qm::id)
                .get_results(c))?;
            ended_ok.extend(ended);
        }
        for c in completions {
            let held = || {
                qm::table
                    .filter(qm::id.eq(c.id))
                    .filter(sql::<Bool>(HELD))
                    .filter(qm::handler_server.eq(guid))
                    .filter(qm::attempts.eq(c.attempt))
            };
            let state = match c.state {
                MessageState::Ok => {
                    if !ended_ok.contains(&c.id) {
                        report.stale.push(c.id);
                        continue;
                    }
                    match &c.hook {
                        Some(hook) => match savepoint(conn, hook) {
                            Ok(()) => MessageState::Ok,
                            Err(e) => {
                                // Ours: the update above ended it and holds its row.
                                let why = format!("commit hook failed: {e}");
                                diesel::update(qm::table.find(c.id))
                                    .set((
                                        qm::state.eq(MessageState::Error.as_str()),
                                        qm::last_error.eq(crate::text::truncate(&why, 4000)),
                                    ))
                                    .execute(conn)?;
                                MessageState::Error
                            }
                        },
                        None => MessageState::Ok,
                    }
                }
                MessageState::Ready | MessageState::Dequeue => {
                    let n = diesel::update(held())
                        .set((
                            qm::state.eq(MessageState::Ready.as_str()),
                            qm::handler_server.eq(""),
                            qm::dequeued_on.eq(None::<NaiveDateTime>),
                        ))
                        .execute(conn)?;
                    if n == 0 {
                        report.stale.push(c.id);
                        continue;
                    }
                    MessageState::Ready
                }
                MessageState::Error | MessageState::Timeout => {
                    let n = diesel::update(held())
                        .set((
                            qm::state.eq(c.state.as_str()),
                            qm::finished_on.eq(Some(now)),
                            qm::handler_worker.eq(&c.worker),
                            qm::last_error.eq(crate::text::truncate(&c.error, 4000)),
                        ))
                        .execute(conn)?;
                    if n == 0 {
                        report.stale.push(c.id);
                        continue;
                    }
                    c.state
                }
            };
            report.recorded.push((c.id, state));
        }
        Ok(report)
    })
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
