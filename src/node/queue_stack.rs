//! Everything a node runs to work the queue — handler registry, completion writer,
//! one worker pool per queue worker type (each with its bounded mailbox), the
//! dispatcher, upkeep, and the PostgreSQL LISTEN thread — and the order in which it
//! stops:
//!
//! ```text
//! stop claiming ─► workers finish their message (deadline) ─► flush completions
//!   ─► hand back what was claimed but never started (ready again)
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{Notify, watch};

use crate::db::Db;
use crate::queue::handlers::{self, HandlerRegistry};
use crate::queue::{
    CompletionWriter, DispatcherConfig, NodeQueueStats, PoolMailbox, QueueClient, QueueDispatcher,
    QueueMaintenance, RoutesChanged, StopDispatching, WriterConfig, listen_for_puts,
    requeue_messages_of,
};
use crate::settings::Settings;
use crate::workers::{
    GetPoolState, PoolSpec, QueueWorkerKit, RecycleLargest, StopPool, WorkerPool,
    queue_worker_types,
};

/// A node's running queue machinery.
pub struct QueueStack {
    pub client: QueueClient,
    pub handlers: Arc<HandlerRegistry>,
    pub stats: Arc<NodeQueueStats>,
    pub dispatcher: Addr<QueueDispatcher>,
    pub pools: Vec<(String, Addr<WorkerPool>)>,
    writer: Option<CompletionWriter>,
    _maintenance: Addr<QueueMaintenance>,
    _listener: Option<crate::queue::Listener>,
    db: Db,
    server_guid: String,
    max_attempts: i32,
}

/// Who this node is, for the queue.
pub struct Identity {
    pub server_id: i64,
    pub server_guid: String,
    pub zone: String,
}

impl QueueStack {
    /// Starts the queue machinery.
    pub fn start(
        db: Db,
        settings: &Settings,
        me: Identity,
        routes: watch::Receiver<RoutesChanged>,
    ) -> Self {
        let q = &settings.queue;
        let handlers = Arc::new(handlers::for_node(settings));
        let client = QueueClient::new(db.clone(), q.log_messages);
        let stats = Arc::new(NodeQueueStats::default());
        let (writer, sink) = CompletionWriter::start(
            db.clone(),
            WriterConfig {
                server_guid: me.server_guid.clone(),
                batch: q.completion_batch as usize,
                flush: q.completion_flush,
                log_messages: q.log_messages,
            },
            stats.clone(),
        );
        let space = Arc::new(Notify::new());
        let mut pools = Vec::new();
        let mut mailboxes: Vec<PoolMailbox> = Vec::new();
        for kind in queue_worker_types() {
            let Some(ws) = settings.worker(kind.name) else {
                continue;
            };
            if ws.count == 0 {
                continue;
            }
            let capacity = (ws.count * q.mailbox_per_worker) as usize;
            let (tx, rx) = async_channel::bounded(capacity);
            let kit = QueueWorkerKit {
                mailbox: rx,
                handlers: handlers.clone(),
                completions: sink.clone(),
                db: db.clone(),
                queue: client.clone(),
                server_guid: me.server_guid.clone().into(),
                zone: me.zone.clone().into(),
                stats: stats.clone(),
                space: space.clone(),
            };
            let spec = PoolSpec {
                worker_type: kind.name.to_string(),
                count: ws.count as usize,
                heartbeat_timeout: ws.heartbeat_timeout,
                memory_threshold: ws.memory_threshold,
                restart_interval: ws.restart_interval,
                monitor_interval: settings.supervision.monitor_interval,
                restart_backoff: settings.supervision.restart_backoff,
                restart_backoff_max: settings.supervision.restart_backoff_max,
                server_id: me.server_id,
                server_guid: me.server_guid.clone(),
            };
            let pool = WorkerPool::new(spec, Arc::new(kit), db.clone()).start();
            pools.push((kind.name.to_string(), pool));
            // Leave urgent messages to a pool of the same queue that is kept for them.
            let reserved_above = mailboxes
                .iter()
                .filter(|m| m.queue_names == kind.queue_names && m.max_priority < kind.max_priority)
                .map(|m| m.max_priority + 1)
                .max()
                .unwrap_or(0);
            mailboxes.push(PoolMailbox {
                worker_type: kind.name.to_string(),
                queue_names: kind.queue_names.clone(),
                min_priority: reserved_above,
                max_priority: kind.max_priority,
                required_role: kind.required_role.map(str::to_string),
                sender: tx,
            });
        }
        let dispatcher = QueueDispatcher::start(
            db.clone(),
            DispatcherConfig {
                server_guid: me.server_guid.clone(),
                zone: me.zone.clone(),
                claim_batch: q.claim_batch as usize,
                poll_interval: q.poll_interval,
                log_messages: q.log_messages,
            },
            mailboxes,
            routes.clone(),
            space,
            stats.clone(),
        );
        let maintenance = QueueMaintenance::new(db.clone(), q.clone(), routes).start();
        Self {
            client,
            handlers,
            stats,
            dispatcher,
            pools,
            writer: Some(writer),
            _maintenance: maintenance,
            _listener: listen_for_puts(&db),
            db,
            server_guid: me.server_guid,
            max_attempts: q.max_attempts as i32,
        }
    }

    /// Stops in order within `deadline`; returns what had not stopped in time.
    pub async fn shutdown(&mut self, deadline: Duration) -> Vec<String> {
        let started = Instant::now();
        let left = |started: Instant| deadline.saturating_sub(started.elapsed());
        let mut lagging = Vec::new();
        if tokio::time::timeout(left(started), self.dispatcher.send(StopDispatching))
            .await
            .is_err()
        {
            lagging.push("dispatcher".to_string());
        }
        for (name, pool) in &self.pools {
            match pool
                .send(StopPool {
                    deadline: left(started),
                })
                .await
            {
                Ok(still) => lagging.extend(still),
                Err(_) => lagging.push(format!("{name} pool")),
            }
        }
        if let Some(writer) = self.writer.take()
            && !writer
                .shutdown(left(started).max(Duration::from_millis(500)))
                .await
        {
            lagging.push("completion writer".to_string());
        }
        // Claimed but never started (still in a mailbox) or abandoned: back to ready.
        // Handing work back on a graceful stop is not a failure of the message, so
        // allow one attempt more than a dead server's messages get.
        let (guid, max) = (self.server_guid.clone(), self.max_attempts + 1);
        let now = chrono::Utc::now().naive_utc();
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

    /// The pools, for callers that act on workers (memory pressure).
    pub fn pool_addrs(&self) -> Vec<(String, Addr<WorkerPool>)> {
        self.pools.clone()
    }
}

/// Asks the worker holding the most memory, across `pools`, to exit after its message.
pub async fn recycle_largest_worker(
    pools: &[(String, Addr<WorkerPool>)],
    reason: &str,
) -> Option<(String, i64)> {
    {
        let mut best: Option<(usize, i64)> = None;
        for (i, (_, pool)) in pools.iter().enumerate() {
            if let Ok(rows) = pool.send(GetPoolState).await {
                let max = rows.iter().map(|r| r.memory_bytes).max().unwrap_or(0);
                if best.is_none_or(|(_, m)| max > m) {
                    best = Some((i, max));
                }
            }
        }
        let (index, _) = best?;
        pools[index]
            .1
            .send(RecycleLargest {
                reason: reason.to_string(),
            })
            .await
            .ok()
            .flatten()
    }
}
