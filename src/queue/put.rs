//! Putting messages: `put`, `put_many` (one statement per chunk), and the two dedup
//! primitives of the seed — `put_unless_exists` (leave a waiting twin alone) and
//! `put_or_update` (merge into a waiting twin; refresh collapses targets with it).
//!
//! On PostgreSQL every put also sends `NOTIFY steward_queue` inside its transaction,
//! so idle nodes wake on commit; dedup puts take an advisory lock on their key so that
//! two nodes cannot both insert the "only" message. SQLite serialises writers anyway.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::message::{MessageState, NewMessage, QueueMessage};
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError, write_transaction};
use crate::with_backend;

/// The PostgreSQL channel idle dispatchers listen on; the payload is the queue name.
pub const NOTIFY_CHANNEL: &str = "steward_queue";

/// Rows per INSERT: 14 columns × 1,000 stays under SQLite's 32,766 bind parameters.
const INSERT_CHUNK: usize = 1_000;

/// The args bound every put enforces; the node's own, smaller bound
/// (`queue.max_args_bytes`) is applied by [`super::QueueClient`] and the API.
const HARD_MAX_ARGS_BYTES: usize = 64 * 1024 * 1024;

/// Refuses a message whose routing fields a claim or an index would choke on.
fn check(message: &NewMessage) -> Result<(), DbError> {
    message
        .validate(HARD_MAX_ARGS_BYTES)
        .map_err(|e| DbError::Invalid(e.to_string()))
}

/// Which fields make two messages the same, besides the command and routing
/// (class, method, queue, zone, role, server), which always count.
#[derive(Debug, Clone, Copy)]
pub struct DedupKey {
    pub instance: bool,
    pub task: bool,
    pub args: bool,
    /// States a twin may be in: `[Ready]` (waiting only) or `[Ready, Dequeue]`.
    pub states: &'static [MessageState],
}

impl DedupKey {
    /// Same command, routing and instance, waiting.
    pub const WAITING: DedupKey = DedupKey {
        instance: true,
        task: false,
        args: false,
        states: &[MessageState::Ready],
    };

    /// Same command, routing and instance, waiting or being worked.
    pub const WAITING_OR_RUNNING: DedupKey = DedupKey {
        instance: true,
        task: false,
        args: false,
        states: &[MessageState::Ready, MessageState::Dequeue],
    };

    pub fn with_args(mut self) -> Self {
        self.args = true;
        self
    }

    pub fn with_task(mut self) -> Self {
        self.task = true;
        self
    }

    fn lock_text(&self, m: &NewMessage) -> String {
        format!(
            "{}.{}|{}|{}|{}|{}|{:?}|{}|{}",
            m.class_name,
            m.method_name,
            m.queue_name,
            m.zone,
            m.role,
            m.server_guid,
            self.instance.then_some(m.instance_id),
            if self.task { m.task_id.as_str() } else { "" },
            if self.args { m.args.as_str() } else { "" },
        )
    }
}

/// What a dedup put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// No twin: the message was inserted with this id.
    Inserted(i64),
    /// A twin exists and was left as it is.
    Existing(i64),
    /// A twin exists and was updated.
    Updated(i64),
}

impl PutOutcome {
    pub fn id(self) -> i64 {
        match self {
            PutOutcome::Inserted(id) | PutOutcome::Existing(id) | PutOutcome::Updated(id) => id,
        }
    }
}

/// Changes `put_or_update` applies to a waiting twin.
#[derive(Debug, Clone, Default)]
pub struct MessageUpdate {
    pub args: Option<String>,
    pub priority: Option<i32>,
    pub msg_timeout: Option<i32>,
    /// Make the twin deliverable now (a user asked; a delayed retry may wait).
    pub deliver_now: bool,
}

/// Puts one message; returns its id.
pub fn put(conn: &mut DbConnection, message: &NewMessage) -> Result<i64, DbError> {
    check(message)?;
    write_transaction(conn, |conn| {
        let id = insert_one(conn, message)?;
        notify(conn, &message.queue_name)?;
        Ok(id)
    })
}

/// Puts many messages with one INSERT per 1,000; returns how many were put.
pub fn put_many(conn: &mut DbConnection, messages: &[NewMessage]) -> Result<usize, DbError> {
    if messages.is_empty() {
        return Ok(0);
    }
    messages.iter().try_for_each(check)?;
    write_transaction(conn, |conn| {
        let mut n = 0;
        for chunk in messages.chunks(INSERT_CHUNK) {
            n += with_backend!(conn, c => diesel::insert_into(qm::table).values(chunk).execute(c))?;
        }
        let mut queues: Vec<&str> = messages.iter().map(|m| m.queue_name.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        for queue in queues {
            notify(conn, queue)?;
        }
        Ok(n)
    })
}

/// Puts `message` unless a twin (per `key`) exists; the twin is left untouched.
pub fn put_unless_exists(
    conn: &mut DbConnection,
    message: &NewMessage,
    key: DedupKey,
) -> Result<PutOutcome, DbError> {
    put_or_update(conn, message, key, |_| None)
}

/// Puts `message` unless a twin (per `key`) exists; if one does, `merge` decides how
/// to update it (`None` leaves it alone). A twin already being worked is never
/// updated — it is too late to merge into it — so at most one runs and one waits.
/// An update never shortens the twin's timeout.
pub fn put_or_update(
    conn: &mut DbConnection,
    message: &NewMessage,
    key: DedupKey,
    merge: impl Fn(&QueueMessage) -> Option<MessageUpdate>,
) -> Result<PutOutcome, DbError> {
    check(message)?;
    write_transaction(conn, |conn| {
        if let DbConnection::Postgresql(pg) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1)::bigint)")
                .bind::<Text, _>(key.lock_text(message))
                .execute(pg)?;
        }
        let states: Vec<&str> = key.states.iter().map(|s| s.as_str()).collect();
        let mut query = qm::table
            .filter(qm::class_name.eq(&message.class_name))
            .filter(qm::method_name.eq(&message.method_name))
            .filter(qm::queue_name.eq(&message.queue_name))
            .filter(qm::zone.eq(&message.zone))
            .filter(qm::role.eq(&message.role))
            .filter(qm::server_guid.eq(&message.server_guid))
            .filter(qm::state.eq_any(&states))
            .into_boxed();
        if key.instance {
            query = match message.instance_id {
                Some(id) => query.filter(qm::instance_id.eq(id)),
                None => query.filter(qm::instance_id.is_null()),
            };
        }
        if key.task {
            query = query.filter(qm::task_id.eq(&message.task_id));
        }
        if key.args {
            query = query.filter(qm::args.eq(&message.args));
        }
        let twins: Vec<QueueMessage> = query.order((qm::priority, qm::id)).limit(10).load(conn)?;
        let Some(twin) = twins.first() else {
            let id = insert_one(conn, message)?;
            notify(conn, &message.queue_name)?;
            return Ok(PutOutcome::Inserted(id));
        };
        let waiting = twins
            .iter()
            .find(|t| t.state == MessageState::Ready.as_str());
        let Some(waiting) = waiting else {
            // Only a running twin (the key counts running ones): nothing to add.
            return Ok(PutOutcome::Existing(twin.id));
        };
        let Some(update) = merge(waiting) else {
            return Ok(PutOutcome::Existing(waiting.id));
        };
        let timeout = update
            .msg_timeout
            .map(|t| t.max(waiting.msg_timeout))
            .unwrap_or(waiting.msg_timeout);
        let updated = diesel::update(
            qm::table
                .filter(qm::id.eq(waiting.id))
                .filter(qm::state.eq(MessageState::Ready.as_str())),
        )
        .set((
            qm::args.eq(update.args.as_deref().unwrap_or(&waiting.args)),
            qm::priority.eq(update.priority.unwrap_or(waiting.priority)),
            qm::msg_timeout.eq(timeout),
            qm::deliver_on.eq(if update.deliver_now {
                None
            } else {
                waiting.deliver_on
            }),
        ))
        .execute(conn)?;
        if updated == 1 {
            Ok(PutOutcome::Updated(waiting.id))
        } else {
            // Claimed between our read and our write: queue a fresh one.
            let id = insert_one(conn, message)?;
            notify(conn, &message.queue_name)?;
            Ok(PutOutcome::Inserted(id))
        }
    })
}

fn insert_one(conn: &mut DbConnection, message: &NewMessage) -> Result<i64, DbError> {
    let id: i64 = with_backend!(conn, c => diesel::insert_into(qm::table)
        .values(message)
        .returning(qm::id)
        .get_result(c))?;
    Ok(id)
}

/// Wakes idle dispatchers of other nodes (PostgreSQL; delivered on commit).
fn notify(conn: &mut DbConnection, queue: &str) -> Result<(), DbError> {
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(NOTIFY_CHANNEL)
            .bind::<Text, _>(queue)
            .execute(pg)?;
    }
    Ok(())
}
