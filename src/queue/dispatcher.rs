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
//! loop. While the node's claims are fenced off (it could not heart-beat; see
//! [`ClaimFence`]) it claims nothing, and every claim is tagged with the fence's epoch
//! so that workers never start a claim made before the node lost them.
//!
//! It is a supervised [`Component`]: all its state is in the database and in the
//! channels it shares with the pools, so a rebuilt dispatcher just claims on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::claim::{ClaimSpec, claim};
use super::fence::ClaimFence;
use super::message::QueueMessage;
use super::node_stats::NodeQueueStats;
use crate::backoff::Backoff;
use crate::db::Db;
use crate::supervision::{Component, ComponentContext, ComponentFuture};

/// A claimed message on its way to a worker.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message: Arc<QueueMessage>,
    pub claimed_at: Instant,
    /// The claim epoch of this node when the claim was made.
    pub epoch: u64,
    pub fence: Arc<ClaimFence>,
}

impl Claimed {
    /// Whether the claim is still this node's to start: false once the node lost its
    /// claims (it could not heart-beat), and the message must then be handed back.
    pub fn is_current(&self) -> bool {
        self.fence.epoch() == self.epoch
    }
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

/// The dispatcher: a supervised component that owns the claim loop.
#[derive(Clone)]
pub struct QueueDispatcher {
    pub db: Db,
    pub config: DispatcherConfig,
    pub pools: watch::Receiver<Arc<Vec<PoolMailbox>>>,
    pub routes: watch::Receiver<RoutesChanged>,
    /// Told by workers when a mailbox has room.
    pub space: Arc<Notify>,
    pub stats: Arc<NodeQueueStats>,
    pub fence: Arc<ClaimFence>,
}

impl Component for QueueDispatcher {
    fn name(&self) -> &'static str {
        "queue_dispatcher"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        Box::pin(claim_loop(self.clone(), ctx))
    }

    fn progress_timeout(&self) -> Option<Duration> {
        // Longer than the longest retry backoff (30 s) and any claim.
        Some(Duration::from_secs(120))
    }
}

async fn claim_loop(mut d: QueueDispatcher, ctx: ComponentContext) -> Result<(), String> {
    let mut puts = d.db.queue_signal();
    let mut suspended = d.fence.subscribe();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        ctx.progress();
        if ctx.is_stopping() {
            return Ok(());
        }
        if d.fence.is_suspended() {
            tokio::select! {
                _ = ctx.stopped() => return Ok(()),
                _ = suspended.changed() => {}
                _ = tokio::time::sleep(d.config.poll_interval) => {}
            }
            continue;
        }
        let roles = d.routes.borrow_and_update().active_roles.clone();
        let pools = d.pools.borrow_and_update().clone();
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
                zone: d.config.zone.clone(),
                roles: roles.clone(),
                server_guid: d.config.server_guid.clone(),
                limit: free.min(d.config.claim_batch),
            };
            let limit = spec.limit;
            let epoch = d.fence.epoch();
            match d.db.run(move |c| claim(c, &spec)).await {
                Ok(messages) => {
                    ctx.progress();
                    backoff.reset();
                    NodeQueueStats::add(&d.stats.claim_queries, 1);
                    NodeQueueStats::add(&d.stats.claimed, messages.len() as u64);
                    if messages.len() == limit {
                        more_waiting = true;
                    }
                    let claimed_at = Instant::now();
                    let now = crate::clock::now();
                    for message in messages {
                        if d.config.log_messages {
                            log_dequeued(&message, &pool.worker_type, now);
                        }
                        let claimed = Claimed {
                            message: Arc::new(message),
                            claimed_at,
                            epoch,
                            fence: d.fence.clone(),
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
                        _ = ctx.stopped() => return Ok(()),
                    }
                    break;
                }
            }
        }
        if more_waiting && !failed {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = ctx.stopped() => return Ok(()),
            _ = puts.changed() => {}
            _ = d.space.notified() => {}
            _ = d.routes.changed() => {}
            _ = d.pools.changed() => {}
            _ = suspended.changed() => {}
            // Also the progress beat of an idle dispatcher.
            _ = tokio::time::sleep(d.config.poll_interval.min(Duration::from_secs(5))) => {}
        }
    }
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
