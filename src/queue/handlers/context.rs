//! What a handler gets (the message, the database, the queue, per-worker state) and
//! what it returns.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::db::Db;
use crate::queue::{CommitHook, QueueClient, QueueMessage};

/// State that lives as long as one worker incarnation: a rebuilt worker starts with
/// none of it.
#[derive(Default)]
pub struct WorkerLocal {
    /// Memory a handler chose to keep (used by `Diagnostics.hold_memory`).
    pub held: RefCell<Vec<Vec<u8>>>,
}

/// Everything a handler may use.
#[derive(Clone)]
pub struct HandlerContext {
    pub db: Db,
    pub queue: QueueClient,
    /// This server's guid and zone.
    pub server_guid: Arc<str>,
    pub zone: Arc<str>,
    /// The message being handled.
    pub message: Arc<QueueMessage>,
    /// The worker's per-incarnation state.
    pub worker: Rc<WorkerLocal>,
}

/// A handler's success.
#[derive(Default)]
pub struct Outcome {
    /// Database effects to commit together with the message's completion.
    pub hook: Option<CommitHook>,
}

impl Outcome {
    /// Done; nothing more to commit.
    pub fn done() -> Self {
        Self::default()
    }

    /// Done; commit `hook`'s writes in the same transaction that records the message
    /// `ok` (exactly-once even if the node dies before that transaction commits).
    pub fn with_commit(
        hook: impl Fn(&mut crate::db::DbConnection) -> Result<(), crate::db::DbError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        let hook: CommitHook = std::sync::Arc::new(hook);
        Self { hook: Some(hook) }
    }
}

/// A handler's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The message failed; the worker carries on with the next one.
    #[error("{0}")]
    Failed(String),
    /// The worker is no longer fit to work (lost a resource it cannot recover): the
    /// message fails and the supervisor rebuilds the worker.
    #[error("{0}")]
    Fatal(String),
}
