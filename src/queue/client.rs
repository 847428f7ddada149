//! `QueueClient`: how code in a node puts messages. It runs the put on a blocking
//! thread, logs the seed's "put" line, and wakes this process's dispatchers at once
//! (other processes hear PostgreSQL's NOTIFY, or poll on SQLite).

use super::message::{NewMessage, QueueMessage};
use super::put::{self, DedupKey, MessageUpdate, PutOutcome};
use crate::db::{Db, DbError};

/// Puts messages on the region's queue.
#[derive(Clone, Debug)]
pub struct QueueClient {
    db: Db,
    log_messages: bool,
    max_args_bytes: usize,
}

/// Logged `args` are cut to this many characters.
const LOGGED_ARGS: usize = 200;

impl QueueClient {
    pub fn new(db: Db, log_messages: bool, max_args_bytes: usize) -> Self {
        Self {
            db,
            log_messages,
            max_args_bytes,
        }
    }

    /// Refuses a message this node would not accept from a user either.
    fn check(&self, message: &NewMessage) -> Result<(), DbError> {
        message
            .validate(self.max_args_bytes)
            .map_err(|e| DbError::Invalid(e.to_string()))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Puts one message; returns its id.
    pub async fn put(&self, message: NewMessage) -> Result<i64, DbError> {
        self.check(&message)?;
        let logged = message.clone();
        let id = self.db.run(move |c| put::put(c, &message)).await?;
        self.db.signal_queue();
        if self.log_messages {
            log_put(id, &logged, "put");
        }
        Ok(id)
    }

    /// Puts many messages in a few statements; returns how many.
    pub async fn put_many(&self, messages: Vec<NewMessage>) -> Result<usize, DbError> {
        messages.iter().try_for_each(|m| self.check(m))?;
        let n = messages.len();
        let put = self.db.run(move |c| put::put_many(c, &messages)).await?;
        self.db.signal_queue();
        if self.log_messages {
            tracing::info!(target: "steward::queue", count = n, "put batch");
        }
        Ok(put)
    }

    /// Puts unless a twin exists (see [`put::put_unless_exists`]).
    pub async fn put_unless_exists(
        &self,
        message: NewMessage,
        key: DedupKey,
    ) -> Result<PutOutcome, DbError> {
        self.put_or_update(message, key, |_| None).await
    }

    /// Puts or merges into a waiting twin (see [`put::put_or_update`]).
    pub async fn put_or_update(
        &self,
        message: NewMessage,
        key: DedupKey,
        merge: impl Fn(&QueueMessage) -> Option<MessageUpdate> + Send + 'static,
    ) -> Result<PutOutcome, DbError> {
        self.check(&message)?;
        let logged = message.clone();
        let outcome = self
            .db
            .run(move |c| put::put_or_update(c, &message, key, merge))
            .await?;
        if let PutOutcome::Inserted(id) = outcome {
            self.db.signal_queue();
            if self.log_messages {
                log_put(id, &logged, "put");
            }
        } else if self.log_messages {
            tracing::info!(
                target: "steward::queue",
                message_id = outcome.id(),
                command = %logged.command(),
                updated = matches!(outcome, PutOutcome::Updated(_)),
                "put merged into a waiting message"
            );
        }
        Ok(outcome)
    }
}

/// The seed's `MiqQueue.put` line.
pub fn log_put(id: i64, m: &NewMessage, what: &'static str) {
    tracing::info!(
        target: "steward::queue",
        message_id = id,
        zone = %m.zone,
        role = %m.role,
        server = %m.server_guid,
        queue = %m.queue_name,
        instance_id = ?m.instance_id,
        task_id = %m.task_id,
        command = %m.command(),
        timeout_s = m.msg_timeout,
        priority = m.priority,
        state = "ready",
        deliver_on = ?m.deliver_on,
        args = %crate::text::elide(&m.args, LOGGED_ARGS),
        "{what}"
    );
}
