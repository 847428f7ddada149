//! `CompletionWriter`: workers hand it the end of each message; it writes them in
//! batches (one transaction per `queue.completion_batch` or per `completion_flush`,
//! whichever comes first), logs the seed's "delivered" lines, and retries with backoff
//! while the database is away — the bounded channel then fills and workers wait, so
//! nothing is lost and nothing grows without bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::complete::{Completion, complete_batch};
use super::message::MessageState;
use super::node_stats::NodeQueueStats;
use crate::backoff::Backoff;
use crate::db::Db;

/// Where workers send completions.
#[derive(Clone)]
pub struct CompletionSink {
    tx: mpsc::Sender<Completion>,
}

impl CompletionSink {
    /// Hands over a completion, waiting while the writer is behind.
    pub async fn send(&self, completion: Completion) -> bool {
        self.tx.send(completion).await.is_ok()
    }
}

/// The running writer.
pub struct CompletionWriter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// How the writer batches.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub server_guid: String,
    pub batch: usize,
    pub flush: Duration,
    pub log_messages: bool,
}

impl CompletionWriter {
    /// Starts the writer on the current runtime.
    pub fn start(
        db: Db,
        config: WriterConfig,
        stats: Arc<NodeQueueStats>,
    ) -> (Self, CompletionSink) {
        let (tx, rx) = mpsc::channel(config.batch.max(1) * 2);
        let (stop, stop_rx) = oneshot::channel();
        let task = actix_rt::spawn(run(db, config, stats, rx, stop_rx));
        (Self { stop, task }, CompletionSink { tx })
    }

    /// Writes what is queued, then stops. Waits at most `deadline`.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        let _ = self.stop.send(());
        tokio::time::timeout(deadline, self.task).await.is_ok()
    }
}

async fn run(
    db: Db,
    config: WriterConfig,
    stats: Arc<NodeQueueStats>,
    mut rx: mpsc::Receiver<Completion>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut stopping = false;
    loop {
        let first = if stopping {
            rx.try_recv().ok()
        } else {
            tokio::select! {
                c = rx.recv() => c,
                _ = &mut stop => { stopping = true; rx.try_recv().ok() }
            }
        };
        let Some(first) = first else {
            if stopping {
                return;
            }
            continue;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + config.flush;
        while batch.len() < config.batch {
            if stopping {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(c)) => batch.push(c),
                _ => break,
            }
        }
        write(&db, &config, &stats, batch).await;
    }
}

/// Writes one batch, retrying while the database is unreachable. A batch that fails
/// for another reason is split so that one bad completion cannot hold up the rest.
async fn write(db: &Db, config: &WriterConfig, stats: &NodeQueueStats, batch: Vec<Completion>) {
    let batch = Arc::new(batch);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let (guid, items) = (config.server_guid.clone(), batch.clone());
        let now = chrono::Utc::now().naive_utc();
        match db.run(move |c| complete_batch(c, &guid, &items, now)).await {
            Ok(report) => {
                for (id, state) in &report.recorded {
                    let counter = match state {
                        MessageState::Ok => &stats.completed_ok,
                        MessageState::Timeout => &stats.completed_timeout,
                        _ => &stats.completed_error,
                    };
                    NodeQueueStats::add(counter, 1);
                    if config.log_messages
                        && let Some(c) = batch.iter().find(|c| c.id == *id)
                    {
                        tracing::info!(
                            target: "steward::queue",
                            message_id = id,
                            command = %c.command,
                            state = state.as_str(),
                            worker = %c.worker,
                            delivered_in_s = c.delivered_in.as_secs_f64(),
                            error = %c.error,
                            "delivered"
                        );
                    }
                }
                if !report.stale.is_empty() {
                    NodeQueueStats::add(&stats.stale, report.stale.len() as u64);
                    tracing::warn!(
                        ids = ?report.stale,
                        "completions of messages no longer held by this server were ignored (they were requeued)"
                    );
                }
                return;
            }
            Err(error) if error.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, pending = batch.len(), retry_in_ms = delay.as_millis() as u64, "cannot record completions; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(error) if batch.len() > 1 => {
                tracing::warn!(%error, "completion batch failed; writing its items one by one");
                for item in batch.iter() {
                    Box::pin(write(db, config, stats, vec![item.clone()])).await;
                }
                return;
            }
            Err(error) => {
                tracing::error!(%error, message_id = batch.first().map(|c| c.id), "cannot record a completion; the message stays claimed until this server stops");
                return;
            }
        }
    }
}
