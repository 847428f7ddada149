//! `CompletionWriter`: workers hand it the end of each message; it writes them in
//! batches (one transaction per `queue.completion_batch` or per `completion_flush`,
//! whichever comes first), logs the seed's "delivered" lines, and retries with backoff
//! while the database is away — the bounded channel then fills and workers wait, so
//! nothing is lost and nothing grows without bound.
//!
//! It is a supervised [`Component`]: the receiving end of the channel and the batch
//! being written live in the component value, so a rebuilt writer first writes what
//! its predecessor held, then carries on with the same channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::complete::{Completion, complete_batch};
use super::message::MessageState;
use super::node_stats::NodeQueueStats;
use crate::backoff::Backoff;
use crate::db::Db;
use crate::supervision::{Component, ComponentContext, ComponentFuture};

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

/// How the writer batches.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub server_guid: String,
    pub batch: usize,
    pub flush: Duration,
    pub log_messages: bool,
}

/// The writer: a supervised component.
#[derive(Clone)]
pub struct CompletionWriter {
    db: Db,
    config: WriterConfig,
    stats: Arc<NodeQueueStats>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Completion>>>,
    /// The batch being written, kept until it is committed.
    pending: Arc<Mutex<Vec<Completion>>>,
}

impl CompletionWriter {
    /// The writer and the sink workers send to.
    pub fn new(db: Db, config: WriterConfig, stats: Arc<NodeQueueStats>) -> (Self, CompletionSink) {
        let (tx, rx) = mpsc::channel(config.batch.max(1) * 2);
        let writer = Self {
            db,
            config,
            stats,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: Arc::new(Mutex::new(Vec::new())),
        };
        (writer, CompletionSink { tx })
    }
}

impl Component for CompletionWriter {
    fn name(&self) -> &'static str {
        "completion_writer"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        Box::pin(run(self.clone(), ctx))
    }

    fn progress_timeout(&self) -> Option<Duration> {
        // Longer than the longest retry backoff (10 s) and a large batch.
        Some(Duration::from_secs(120))
    }
}

/// How often an idle writer records progress.
const IDLE_BEAT: Duration = Duration::from_secs(5);

async fn run(w: CompletionWriter, ctx: ComponentContext) -> Result<(), String> {
    let mut rx = w.rx.lock().await;
    let inherited = std::mem::take(&mut *lock(&w.pending));
    if !inherited.is_empty() {
        tracing::info!(
            pending = inherited.len(),
            "writing the completions a previous writer held"
        );
        write(&w, &ctx, inherited).await;
    }
    loop {
        ctx.progress();
        let first = tokio::select! {
            c = rx.recv() => c,
            // Idle is not stuck: record progress while waiting.
            _ = tokio::time::sleep(IDLE_BEAT) => continue,
            _ = ctx.stopped() => {
                // Workers are stopped first: write everything they handed over.
                let mut rest = Vec::new();
                while let Ok(c) = rx.try_recv() {
                    rest.push(c);
                }
                for batch in rest.chunks(w.config.batch.max(1)) {
                    write(&w, &ctx, batch.to_vec()).await;
                }
                return Ok(());
            }
        };
        let Some(first) = first else {
            return if ctx.is_stopping() {
                Ok(())
            } else {
                Err("every sender of completions is gone".into())
            };
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + w.config.flush;
        while batch.len() < w.config.batch {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(c)) => batch.push(c),
                _ => break,
            }
        }
        write(&w, &ctx, batch).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes one batch (kept as `pending` until committed, so that a rebuilt writer
/// writes it again).
async fn write(w: &CompletionWriter, ctx: &ComponentContext, batch: Vec<Completion>) {
    *lock(&w.pending) = batch.clone();
    write_batch(&w.db, &w.config, &w.stats, ctx, batch).await;
    lock(&w.pending).clear();
}

/// Writes one batch, retrying while the database is unreachable. A batch that fails
/// for another reason is split so that one bad completion cannot hold up the rest.
async fn write_batch(
    db: &Db,
    config: &WriterConfig,
    stats: &NodeQueueStats,
    ctx: &ComponentContext,
    batch: Vec<Completion>,
) {
    let batch = Arc::new(batch);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        ctx.progress();
        let (guid, items) = (config.server_guid.clone(), batch.clone());
        let now = crate::clock::now();
        match db.run(move |c| complete_batch(c, &guid, &items, now)).await {
            Ok(report) => {
                for (id, state) in &report.recorded {
                    let counter = match state {
                        MessageState::Ok => &stats.completed_ok,
                        MessageState::Timeout => &stats.completed_timeout,
                        MessageState::Ready | MessageState::Dequeue => &stats.handed_back,
                        MessageState::Error => &stats.completed_error,
                    };
                    NodeQueueStats::add(counter, 1);
                    if *state == MessageState::Ready {
                        tracing::info!(
                            target: "steward::queue",
                            message_id = id,
                            "handed back unstarted: this server's claim was lost"
                        );
                    } else if config.log_messages
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
                        "discarded the results of claims that no longer hold their message (requeued after this server was thought dead); nothing of them was committed"
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
                    Box::pin(write_batch(db, config, stats, ctx, vec![item.clone()])).await;
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
