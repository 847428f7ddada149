//! Everything a node runs to work the queue — handler registry, completion writer,
//! the worker pools (each with its bounded mailbox, in a set other subsystems add
//! pools to), the dispatcher, upkeep, and the PostgreSQL LISTEN thread, the last four
//! as supervised components — and the order in which it stops:
//!
//! ```text
//! stop claiming ─► workers finish their message (deadline) ─► flush completions
//!   ─► hand back what was claimed but never started (ready again)
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{Notify, watch};

use crate::db::{Backend, Db};
use crate::queue::handlers::{self, HandlerRegistry};
use crate::queue::{
    ClaimFence, CompletionSink, CompletionWriter, DispatcherConfig, NodeQueueStats, PoolMailbox,
    QueueClient, QueueDispatcher, QueueListener, QueueMaintenance, RoutesChanged, WriterConfig,
    requeue_messages_of,
};
use crate::settings::Settings;
use crate::supervision::Supervision;
use crate::workers::{
    GetPoolState, PoolSet, PoolSpec, QueueWorkerKit, RecycleLargest, RegisteredPool, StopPool,
    WorkerFactory, WorkerPool, queue_worker_types,
};

/// Who this node is, for the queue.
#[derive(Debug, Clone)]
pub struct Identity {
    pub server_id: i64,
    pub server_guid: String,
    pub zone: String,
}

/// Which messages a pool's mailbox is filled with.
#[derive(Debug, Clone)]
pub struct PoolRouting {
    pub queue_names: Vec<String>,
    pub min_priority: i32,
    pub max_priority: i32,
    /// Claim only while this role is active here.
    pub required_role: Option<String>,
}

impl PoolRouting {
    /// Every priority of one queue, while `role` is active.
    pub fn queue(queue: &str, role: Option<&str>) -> Self {
        Self {
            queue_names: vec![queue.to_string()],
            min_priority: crate::queue::priority::MAX,
            max_priority: crate::queue::priority::MIN,
            required_role: role.map(str::to_string),
        }
    }
}

/// How many workers a pool runs, and how many claimed messages its mailbox holds.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    pub workers: usize,
    pub mailbox: usize,
}

/// What a subsystem needs to run queue-fed workers of its own (refresh workers…).
#[derive(Clone)]
pub struct WorkerParts {
    pub db: Db,
    pub queue: QueueClient,
    pub completions: CompletionSink,
    pub stats: Arc<NodeQueueStats>,
    /// Tells the dispatcher a mailbox has room.
    pub space: Arc<Notify>,
    pub me: Identity,
    pub pools: PoolSet,
    /// Whether this node's claims still hold (see [`ClaimFence`]).
    pub fence: Arc<ClaimFence>,
}

impl WorkerParts {
    /// Starts a pool named `name` of workers built by `factory` (supervised per
    /// `workers.<settings_type>`), fed from a mailbox that the dispatcher fills per
    /// `routing`.
    pub fn start_pool(
        &self,
        settings: &Settings,
        name: &str,
        settings_type: &str,
        routing: PoolRouting,
        size: PoolSize,
        factory: impl FnOnce(async_channel::Receiver<crate::queue::Claimed>) -> Arc<dyn WorkerFactory>,
    ) -> Option<Addr<WorkerPool>> {
        let ws = settings.worker(settings_type)?;
        let (tx, rx) = async_channel::bounded(size.mailbox.max(1));
        let spec = PoolSpec {
            worker_type: name.to_string(),
            count: size.workers,
            heartbeat_timeout: ws.heartbeat_timeout,
            memory_threshold: ws.memory_threshold,
            restart_interval: ws.restart_interval,
            monitor_interval: settings.supervision.monitor_interval,
            restart_backoff: settings.supervision.restart_backoff,
            restart_backoff_max: settings.supervision.restart_backoff_max,
            server_id: self.me.server_id,
            server_guid: self.me.server_guid.clone(),
        };
        let addr = WorkerPool::new(spec, factory(rx), self.db.clone()).start();
        self.pools.add(RegisteredPool {
            name: name.to_string(),
            mailbox: PoolMailbox {
                worker_type: name.to_string(),
                queue_names: routing.queue_names,
                min_priority: routing.min_priority,
                max_priority: routing.max_priority,
                required_role: routing.required_role,
                sender: tx,
            },
            addr: addr.clone(),
        });
        Some(addr)
    }
}

/// A node's running queue machinery.
pub struct QueueStack {
    pub client: QueueClient,
    pub handlers: Arc<HandlerRegistry>,
    pub stats: Arc<NodeQueueStats>,
    pub pools: PoolSet,
    parts: WorkerParts,
    supervision: Supervision,
    db: Db,
    server_guid: String,
    max_attempts: i32,
}

/// Names of the queue's components that stop in order.
const DISPATCHER: &str = "queue_dispatcher";
const WRITER: &str = "completion_writer";

impl QueueStack {
    /// Starts the queue machinery with the `generic` and `priority` pools; its
    /// components run under `supervision`.
    pub fn start(
        db: Db,
        settings: &Settings,
        me: Identity,
        routes: watch::Receiver<RoutesChanged>,
        fence: Arc<ClaimFence>,
        supervision: &Supervision,
        keys: crate::crypto::KeyRing,
    ) -> Self {
        let q = &settings.queue;
        let handlers = Arc::new(handlers::for_node(
            settings,
            supervision.faults(),
            Some(keys),
        ));
        let client = QueueClient::new(db.clone(), q.log_messages, q.max_args_bytes);
        let stats = Arc::new(NodeQueueStats::default());
        let (writer, sink) = CompletionWriter::new(
            db.clone(),
            WriterConfig {
                server_guid: me.server_guid.clone(),
                batch: q.completion_batch as usize,
                flush: q.completion_flush,
                log_messages: q.log_messages,
            },
            stats.clone(),
        );
        supervision.start(writer);
        let space = Arc::new(Notify::new());
        let pools = PoolSet::new();
        let parts = WorkerParts {
            db: db.clone(),
            queue: client.clone(),
            completions: sink.clone(),
            stats: stats.clone(),
            space: space.clone(),
            me: me.clone(),
            pools: pools.clone(),
            fence: fence.clone(),
        };
        let mut reserved: Vec<(Vec<String>, i32)> = Vec::new();
        for kind in queue_worker_types() {
            let Some(ws) = settings.worker(kind.name) else {
                continue;
            };
            if ws.count == 0 {
                continue;
            }
            let kit = |rx| -> Arc<dyn WorkerFactory> {
                Arc::new(QueueWorkerKit {
                    mailbox: rx,
                    handlers: handlers.clone(),
                    completions: sink.clone(),
                    db: db.clone(),
                    queue: client.clone(),
                    server_guid: me.server_guid.clone().into(),
                    zone: me.zone.clone().into(),
                    stats: stats.clone(),
                    space: space.clone(),
                })
            };
            // Leave urgent messages to a pool of the same queue that is kept for them.
            let reserved_above = reserved
                .iter()
                .filter(|(queues, max)| *queues == kind.queue_names && *max < kind.max_priority)
                .map(|(_, max)| max + 1)
                .max()
                .unwrap_or(0);
            parts.start_pool(
                settings,
                kind.name,
                kind.name,
                PoolRouting {
                    queue_names: kind.queue_names.clone(),
                    min_priority: reserved_above,
                    max_priority: kind.max_priority,
                    required_role: kind.required_role.map(str::to_string),
                },
                PoolSize {
                    workers: ws.count as usize,
                    mailbox: (ws.count * q.mailbox_per_worker) as usize,
                },
                kit,
            );
            reserved.push((kind.queue_names.clone(), kind.max_priority));
        }
        supervision.start(QueueDispatcher {
            db: db.clone(),
            config: DispatcherConfig {
                server_guid: me.server_guid.clone(),
                zone: me.zone.clone(),
                claim_batch: q.claim_batch as usize,
                poll_interval: q.poll_interval,
                log_messages: q.log_messages,
            },
            pools: pools.subscribe(),
            routes: routes.clone(),
            space,
            stats: stats.clone(),
            fence,
        });
        supervision.start(QueueMaintenance {
            db: db.clone(),
            settings: q.clone(),
            routes,
        });
        if db.backend() == Backend::Postgres {
            supervision.start(QueueListener { db: db.clone() });
        }
        Self {
            client,
            handlers,
            stats,
            pools,
            parts,
            supervision: supervision.clone(),
            db,
            server_guid: me.server_guid,
            max_attempts: q.max_attempts as i32,
        }
    }

    /// What other subsystems need to start queue-fed pools of their own.
    pub fn worker_parts(&self) -> WorkerParts {
        self.parts.clone()
    }

    /// Stops in order within `deadline`; returns what had not stopped in time.
    pub async fn shutdown(&mut self, deadline: Duration) -> Vec<String> {
        let started = Instant::now();
        let left = |started: Instant| deadline.saturating_sub(started.elapsed());
        let mut lagging = Vec::new();
        if !self.supervision.stop(DISPATCHER, left(started)).await {
            lagging.push(DISPATCHER.to_string());
        }
        let stops = self.pools.all().into_iter().map(|pool| async move {
            match pool
                .addr
                .send(StopPool {
                    deadline: left(started),
                })
                .await
            {
                Ok(still) => still,
                Err(_) => vec![format!("{} pool", pool.name)],
            }
        });
        for still in futures::future::join_all(stops).await {
            lagging.extend(still);
        }
        let writer_deadline = left(started).max(Duration::from_millis(500));
        if !self.supervision.stop(WRITER, writer_deadline).await {
            lagging.push(WRITER.to_string());
        }
        // Claimed but never started (still in a mailbox) or abandoned: back to ready.
        // Handing work back on a graceful stop is not a failure of the message, so
        // allow one attempt more than a dead server's messages get.
        let (guid, max) = (self.server_guid.clone(), self.max_attempts + 1);
        let now = crate::clock::now();
        match self
            .db
            .run(move |c| requeue_messages_of(c, &[guid], max, now))
            .await
        {
            Ok(r) if r.ready + r.failed > 0 => tracing::info!(
                requeued = r.ready,
                "messages claimed by this server but not finished were returned to the queue"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot return unfinished messages to the queue; they return when this server is marked not responding")
            }
        }
        lagging
    }
}

/// Asks the worker holding the most memory, across `pools`, to exit after its message.
pub async fn recycle_largest_worker(pools: &PoolSet, reason: &str) -> Option<(String, i64)> {
    let all = pools.all();
    let mut best: Option<(usize, i64)> = None;
    for (i, pool) in all.iter().enumerate() {
        if let Ok(rows) = pool.addr.send(GetPoolState).await {
            let max = rows.iter().map(|r| r.memory_bytes).max().unwrap_or(0);
            if best.is_none_or(|(_, m)| max > m) {
                best = Some((i, max));
            }
        }
    }
    let (index, _) = best?;
    all[index]
        .addr
        .send(RecycleLargest {
            reason: reason.to_string(),
        })
        .await
        .ok()
        .flatten()
}
