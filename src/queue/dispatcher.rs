//! `QueueDispatcher`: claims batches of ready messages for this node and pushes them
//! into the worker pools' bounded mailboxes.
//!
//! ```text
//!   put ──► queue_messages ──claim batch──► mailbox (bounded) ──► workers
//!              ▲   (priority, id order;        │ full? stop claiming
//!              │    zone, role, server,        ▼
//!              │    deliver_on, task)     completions ──batch──► queue_messages
//!   wake-ups: in-process signal, PostgreSQL NOTIFY, a worker freeing mailbox
//!   space, a role change; `queue.poll_interval` as the fallback.
//! ```
//!
//! It only claims what fits: a pool's claim is limited to the free space in its
//! mailbox, so a slow pool never has more than its mailbox claimed and memory stays
//! flat however long the queue is. Which roles it claims for comes from the
//! `Registry` (a watch channel), so when a role moves, routing follows on the next
//! loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{Notify, watch};

use super::claim::{ClaimSpec, claim};
use super::message::QueueMessage;
use super::node_stats::{NodeQueueSnapshot, NodeQueueStats};
use crate::backoff::Backoff;
use crate::db::Db;

/// A claimed message on its way to a worker.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message: Arc<QueueMessage>,
    pub claimed_at: Instant,
}

/// One pool's mailbox, as the dispatcher sees it.
#[derive(Clone)]
pub struct PoolMailbox {
    pub worker_type: String,
    /// Queues the pool serves.
    pub queue_names: Vec<String>,
    /// Most urgent priority the pool takes.
    pub min_priority: i32,
    /// Least urgent priority the pool takes (200 generic, 20 priority).
    pub max_priority: i32,
    /// Claim only while this role is active here (`None`: any time).
    pub required_role: Option<String>,
    pub sender: async_channel::Sender<Claimed>,
}

impl PoolMailbox {
    fn capacity(&self) -> usize {
        self.sender.capacity().unwrap_or(0)
    }

    fn free(&self) -> usize {
        self.capacity().saturating_sub(self.sender.len())
    }
}

/// The routing this node claims for, published by the `Registry`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutesChanged {
    /// Roles active on this server now.
    pub active_roles: Vec<String>,
    /// Whether this server is the region's master.
    pub is_master: bool,
}

/// How the dispatcher claims.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub server_guid: String,
    pub zone: String,
    pub claim_batch: usize,
    pub poll_interval: Duration,
    pub log_messages: bool,
}

/// The dispatcher actor: owns the claim loop.
pub struct QueueDispatcher {
    stats: Arc<NodeQueueStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl QueueDispatcher {
    /// Starts claiming for `pools` (tried in order: put priority pools first).
    pub fn start(
        db: Db,
        config: DispatcherConfig,
        pools: watch::Receiver<Arc<Vec<PoolMailbox>>>,
        routes: watch::Receiver<RoutesChanged>,
        space: Arc<Notify>,
        stats: Arc<NodeQueueStats>,
    ) -> Addr<Self> {
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let task = actix_rt::spawn(claim_loop(
            db,
            config,
            pools,
            routes,
            space,
            stats.clone(),
            stop_rx,
        ));
        Self {
            stats,
            stop: Some(stop),
            done: Some(task),
        }
        .start()
    }
}

impl Actor for QueueDispatcher {
    type Context = Context<Self>;
}

/// Stop claiming; resolves when the loop has ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopDispatching;

impl Handler<StopDispatching> for QueueDispatcher {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: StopDispatching, _: &mut Self::Context) -> Self::Result {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let done = self.done.take();
        Box::pin(async move {
            if let Some(done) = done {
                let _ = done.await;
            }
        })
    }
}

/// This node's queue counters and latencies.
#[derive(Message)]
#[rtype(result = "NodeQueueSnapshot")]
pub struct DispatcherStats;

impl Handler<DispatcherStats> for QueueDispatcher {
    type Result = MessageResult<DispatcherStats>;

    fn handle(&mut self, _: DispatcherStats, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.stats.snapshot())
    }
}

async fn claim_loop(
    db: Db,
    config: DispatcherConfig,
    mut pool_set: watch::Receiver<Arc<Vec<PoolMailbox>>>,
    mut routes: watch::Receiver<RoutesChanged>,
    space: Arc<Notify>,
    stats: Arc<NodeQueueStats>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut puts = db.queue_signal();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        let roles = routes.borrow_and_update().active_roles.clone();
        let pools = pool_set.borrow_and_update().clone();
        let mut more_waiting = false;
        let mut failed = false;
        for pool in pools.iter() {
            if pool
                .required_role
                .as_ref()
                .is_some_and(|r| !roles.contains(r))
            {
                continue;
            }
            let free = pool.free();
            // Claim when the mailbox is empty or at least half free: fewer, larger claims.
            if free == 0 || (free < pool.capacity() / 2 && !pool.sender.is_empty()) {
                continue;
            }
            let spec = ClaimSpec {
                queue_names: pool.queue_names.clone(),
                min_priority: pool.min_priority,
                max_priority: pool.max_priority,
                zone: config.zone.clone(),
                roles: roles.clone(),
                server_guid: config.server_guid.clone(),
                limit: free.min(config.claim_batch),
            };
            let limit = spec.limit;
            let now = chrono::Utc::now().naive_utc();
            match db.run(move |c| claim(c, &spec, now)).await {
                Ok(messages) => {
                    backoff.reset();
                    NodeQueueStats::add(&stats.claim_queries, 1);
                    NodeQueueStats::add(&stats.claimed, messages.len() as u64);
                    if messages.len() == limit {
                        more_waiting = true;
                    }
                    let claimed_at = Instant::now();
                    for message in messages {
                        if config.log_messages {
                            log_dequeued(&message, &pool.worker_type, now);
                        }
                        let claimed = Claimed {
                            message: Arc::new(message),
                            claimed_at,
                        };
                        // Cannot be full: we claimed only what fits and are the only sender.
                        if let Err(e) = pool.sender.try_send(claimed) {
                            tracing::error!(worker_type = %pool.worker_type, error = %e, "mailbox refused a claimed message; it will be requeued when this server stops");
                        }
                    }
                }
                Err(error) => {
                    failed = true;
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "claiming messages failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = &mut stop => return,
                    }
                    break;
                }
            }
        }
        if more_waiting && !failed {
            tokio::task::yield_now().await;
            if stop_requested(&mut stop) {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = puts.changed() => {}
            _ = space.notified() => {}
            _ = routes.changed() => {}
            _ = pool_set.changed() => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
        }
    }
}

fn stop_requested(stop: &mut tokio::sync::oneshot::Receiver<()>) -> bool {
    !matches!(
        stop.try_recv(),
        Err(tokio::sync::oneshot::error::TryRecvError::Empty)
    )
}

/// The seed's "dequeued" line, with "dequeued in".
fn log_dequeued(m: &QueueMessage, worker_type: &str, now: chrono::NaiveDateTime) {
    let since = m.deliver_on.map_or(m.created_on, |d| d.max(m.created_on));
    tracing::info!(
        target: "steward::queue",
        message_id = m.id,
        worker_type,
        zone = %m.zone,
        role = %m.role,
        server = %m.server_guid,
        queue = %m.queue_name,
        task_id = %m.task_id,
        command = %m.command(),
        priority = m.priority,
        attempt = m.attempts,
        state = "dequeue",
        dequeued_in_s = (now - since).num_microseconds().unwrap_or(0) as f64 / 1e6,
        "dequeued"
    );
}
