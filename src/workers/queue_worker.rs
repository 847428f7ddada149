//! The body of a queue worker: take a claimed message from the pool's mailbox, run its
//! handler under the message's timeout with panics caught, hand the result to the
//! completion writer, repeat — until asked to stop (checked between messages).

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::Notify;

use super::probe::WorkerProbe;
use super::worker::{WorkerBody, WorkerExit, panic_message};
use crate::db::Db;
use crate::queue::handlers::{HandlerContext, HandlerError, HandlerRegistry, WorkerLocal};
use crate::queue::{
    Claimed, Completion, CompletionSink, MessageState, NodeQueueStats, QueueClient,
};

/// Everything a queue worker needs; cloned into each incarnation.
#[derive(Clone)]
pub struct QueueWorkerKit {
    pub mailbox: async_channel::Receiver<Claimed>,
    pub handlers: Arc<HandlerRegistry>,
    pub completions: CompletionSink,
    pub db: Db,
    pub queue: QueueClient,
    pub server_guid: Arc<str>,
    pub zone: Arc<str>,
    pub stats: Arc<NodeQueueStats>,
    /// Told when the mailbox has room again, so the dispatcher claims more.
    pub space: Arc<Notify>,
}

impl QueueWorkerKit {
    /// A fresh body for a new incarnation.
    pub fn body(&self) -> WorkerBody {
        let kit = self.clone();
        Box::new(move |probe| Box::pin(run(kit, probe)))
    }
}

async fn run(kit: QueueWorkerKit, probe: Arc<WorkerProbe>) -> WorkerExit {
    let local = Rc::new(WorkerLocal::default());
    let capacity = kit.mailbox.capacity().unwrap_or(1);
    loop {
        if let Some(reason) = probe.stop_reason() {
            return WorkerExit::Requested(reason);
        }
        let claimed = tokio::select! {
            biased;
            _ = probe.stop_requested() => continue,
            received = kit.mailbox.recv() => match received {
                Ok(c) => c,
                Err(_) => return WorkerExit::MailboxClosed,
            },
        };
        if kit.mailbox.len() <= capacity / 2 {
            kit.space.notify_one();
        }
        if !claimed.is_current() {
            // This node lost its claims (it could not heart-beat): never start one.
            let back = Completion::hand_back(&claimed.message, &probe.name);
            if !kit.completions.send(back).await {
                return WorkerExit::Errored("completion writer is gone".into());
            }
            continue;
        }
        if let Some(exit) = handle(&kit, &probe, &local, claimed).await {
            return exit;
        }
    }
}

/// Runs one message; returns an exit if the worker must not go on.
async fn handle(
    kit: &QueueWorkerKit,
    probe: &Arc<WorkerProbe>,
    local: &Rc<WorkerLocal>,
    claimed: Claimed,
) -> Option<WorkerExit> {
    let message = claimed.message;
    let timeout = Duration::from_secs(message.msg_timeout.max(1) as u64);
    probe.start_message(&message, timeout);
    let due = message
        .deliver_on
        .map_or(message.created_on, |d| d.max(message.created_on));
    let waited = crate::clock::now() - due;
    kit.stats
        .put_to_start
        .record(waited.to_std().unwrap_or(Duration::ZERO));

    let ctx = HandlerContext {
        db: kit.db.clone(),
        queue: kit.queue.clone(),
        server_guid: kit.server_guid.clone(),
        zone: kit.zone.clone(),
        message: message.clone(),
        worker: local.clone(),
    };
    let started = Instant::now();
    let run = AssertUnwindSafe(kit.handlers.dispatch(ctx)).catch_unwind();
    let result = tokio::time::timeout(timeout, run).await;
    let delivered_in = started.elapsed();
    kit.stats.handler_time.record(delivered_in);
    probe.finish_message();

    let command = message.command();
    let completion = |state: MessageState, error: String, hook| Completion {
        hook,
        delivered_in,
        ..Completion::of(&message, state, error, &probe.name)
    };
    let (done, exit) = match result {
        Err(_) => {
            tracing::warn!(
                target: "steward::queue",
                message_id = message.id,
                command = %command,
                timeout_s = timeout.as_secs_f64(),
                worker = %probe.name,
                "timed out"
            );
            (
                completion(
                    MessageState::Timeout,
                    format!("timed out after {}s", timeout.as_secs_f64()),
                    None,
                ),
                Some(WorkerExit::MessageTimedOut {
                    id: message.id,
                    timeout,
                }),
            )
        }
        Ok(Err(panic)) => {
            let text = panic_message(panic.as_ref());
            (
                completion(
                    MessageState::Error,
                    format!("handler panicked: {text}"),
                    None,
                ),
                Some(WorkerExit::Panicked(text)),
            )
        }
        Ok(Ok(Err(HandlerError::Failed(e)))) => (completion(MessageState::Error, e, None), None),
        Ok(Ok(Err(HandlerError::Fatal(e)))) => (
            completion(MessageState::Error, e.clone(), None),
            Some(WorkerExit::Errored(e)),
        ),
        Ok(Ok(Ok(outcome))) => (
            completion(MessageState::Ok, String::new(), outcome.hook),
            None,
        ),
    };
    if !kit.completions.send(done).await {
        return Some(WorkerExit::Errored("completion writer is gone".into()));
    }
    exit
}
