//! `WorkerPool`: the supervisor of one worker type on one node.
//!
//! It starts `count` workers, each from the pool's factory on a thread of its own,
//! all pulling from the pool's one bounded mailbox — so a rebuilt worker starts with
//! fresh state and the same mailbox, and senders never notice. Every
//! `supervision.monitor_interval` it checks each worker:
//!
//! | finding | action |
//! |---|---|
//! | no heartbeat for `heartbeat_timeout` (thread blocked) | kill: its message → `timeout`, a new worker replaces it after a backoff |
//! | current message past its `msg_timeout` (+5 s grace) | same |
//! | attributed heap above `memory_threshold` | ask it to exit after its message; restart at once |
//! | uptime above `restart_interval` | same |
//!
//! A worker that panics or errors out reports it and is rebuilt after a backoff that
//! doubles per consecutive failure up to `supervision.restart_backoff_max` (reset
//! once a worker has lived past the cap). A killed worker's thread cannot be
//! interrupted; it is abandoned (its late results are ignored, since its message is
//! no longer held) and exits when it unblocks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::NaiveDateTime;

use super::memory;
use super::probe::{WorkerProbe, WorkerStatus};
use super::record::{WorkerRow, sync_worker_rows};
use super::worker::{Worker, WorkerBody, WorkerExit, WorkerExited};
use crate::backoff::Backoff;
use crate::db::Db;
use crate::queue::mark_timed_out;

/// Builds the body of each new worker incarnation.
pub trait WorkerFactory: Send + Sync + 'static {
    fn body(&self) -> WorkerBody;
}

impl WorkerFactory for super::queue_worker::QueueWorkerKit {
    fn body(&self) -> WorkerBody {
        super::queue_worker::QueueWorkerKit::body(self)
    }
}

/// How a pool supervises.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub worker_type: String,
    pub count: usize,
    pub heartbeat_timeout: Duration,
    pub memory_threshold: u64,
    pub restart_interval: Duration,
    pub monitor_interval: Duration,
    pub restart_backoff: Duration,
    pub restart_backoff_max: Duration,
    /// This server's id and guid (for rows and for timing out messages).
    pub server_id: i64,
    pub server_guid: String,
}

/// Extra time past `msg_timeout` before the pool steps in for a worker whose own
/// timeout did not fire (its thread is blocked).
const TIMEOUT_GRACE: Duration = Duration::from_secs(5);

struct LiveWorker {
    probe: Arc<WorkerProbe>,
    arbiter: actix_rt::ArbiterHandle,
    started_on: NaiveDateTime,
}

struct Slot {
    index: usize,
    incarnation: u64,
    live: Option<LiveWorker>,
    backoff: Backoff,
    restart_at: Option<Instant>,
    restarts: i32,
    last_exit_reason: String,
    /// Status while no worker is live (`killed` waiting to restart, or `stopped`).
    idle_status: WorkerStatus,
    messages_done_before: i64,
}

/// The supervisor actor of one worker type.
pub struct WorkerPool {
    spec: PoolSpec,
    factory: Arc<dyn WorkerFactory>,
    db: Db,
    slots: Vec<Slot>,
    stopping: bool,
    last_sync: Option<Instant>,
    last_rows: Vec<WorkerRow>,
    syncing: bool,
    /// Number of live workers, for `StopPool` to wait on.
    live_count: tokio::sync::watch::Sender<usize>,
}

impl WorkerPool {
    pub fn new(spec: PoolSpec, factory: Arc<dyn WorkerFactory>, db: Db) -> Self {
        let slots = (0..spec.count)
            .map(|index| Slot {
                index,
                incarnation: 0,
                live: None,
                backoff: Backoff::new(spec.restart_backoff, spec.restart_backoff_max),
                restart_at: Some(Instant::now()),
                restarts: 0,
                last_exit_reason: String::new(),
                idle_status: WorkerStatus::Starting,
                messages_done_before: 0,
            })
            .collect();
        Self {
            spec,
            factory,
            db,
            slots,
            stopping: false,
            last_sync: None,
            last_rows: Vec::new(),
            syncing: false,
            live_count: tokio::sync::watch::channel(0).0,
        }
    }

    fn update_live_count(&self) {
        let n = self.slots.iter().filter(|s| s.live.is_some()).count();
        self.live_count.send_replace(n);
    }

    fn worker_name(&self, slot: usize) -> String {
        format!("{}-{}", self.spec.worker_type, slot + 1)
    }

    fn start_worker(&mut self, index: usize, ctx: &mut Context<Self>) {
        let name = self.worker_name(index);
        let body = self.factory.body();
        let recipient = ctx.address().recipient();
        let slot = &mut self.slots[index];
        slot.incarnation += 1;
        let incarnation = slot.incarnation;
        let probe = Arc::new(WorkerProbe::new(name.clone(), memory::allocate_slot()));
        let arbiter = actix_rt::Arbiter::new();
        let handle = arbiter.handle();
        let worker_probe = probe.clone();
        Worker::start_in_arbiter(&handle, move |_| {
            Worker::new(worker_probe, body, recipient, index, incarnation)
        });
        slot.live = Some(LiveWorker {
            probe,
            arbiter: handle,
            started_on: crate::clock::now(),
        });
        slot.restart_at = None;
        if incarnation > 1 {
            slot.restarts += 1;
            tracing::info!(worker = %name, restarts = slot.restarts, "worker restarted");
        }
        self.update_live_count();
    }

    /// Abandons a worker that cannot be stopped politely; its message times out.
    fn kill(&mut self, index: usize, reason: String) {
        let name = self.worker_name(index);
        let guid = self.spec.server_guid.clone();
        let slot = &mut self.slots[index];
        let Some(live) = slot.live.take() else {
            return;
        };
        live.probe.request_stop("killed");
        live.arbiter.stop();
        slot.messages_done_before += live.probe.messages_done() as i64;
        tracing::warn!(worker = %name, %reason, "worker killed");
        if let Some(current) = live.probe.current() {
            let db = self.db.clone();
            let why = format!("worker {name} killed: {reason}");
            let worker = name.clone();
            actix_rt::spawn(async move {
                let now = crate::clock::now();
                match db
                    .run(move |c| {
                        mark_timed_out(c, current.id, current.attempt, &guid, &worker, &why, now)
                    })
                    .await
                {
                    Ok(true) => {
                        tracing::warn!(target: "steward::queue", message_id = current.id, command = %current.command, "timed out")
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, message_id = current.id, "cannot mark message timed out")
                    }
                }
            });
        }
        Self::schedule_restart(slot, reason, true, None);
        self.update_live_count();
    }

    /// Records why a worker ended and when its replacement starts: at once after a
    /// clean exit; after a backoff after a failure (reset if the worker had lived
    /// longer than the backoff cap, i.e. it was not crash-looping).
    fn schedule_restart(slot: &mut Slot, reason: String, failure: bool, lived: Option<Duration>) {
        slot.last_exit_reason = reason;
        if failure {
            if lived.is_some_and(|l| l > slot.backoff.max()) {
                slot.backoff.reset();
            }
            slot.idle_status = WorkerStatus::Killed;
            slot.restart_at = Some(Instant::now() + slot.backoff.next_delay());
        } else {
            slot.idle_status = WorkerStatus::Stopped;
            slot.restart_at = Some(Instant::now());
        }
    }

    fn monitor(&mut self, ctx: &mut Context<Self>) {
        for index in 0..self.slots.len() {
            let verdict = match &self.slots[index].live {
                Some(live) => self.check(live),
                None => None,
            };
            match verdict {
                Some(Verdict::Kill(reason)) => self.kill(index, reason),
                Some(Verdict::Recycle(reason)) => {
                    if let Some(live) = &self.slots[index].live
                        && live.probe.stop_reason().is_none()
                    {
                        tracing::info!(worker = %live.probe.name, %reason, "requesting worker to exit");
                        live.probe.request_stop(&reason);
                    }
                }
                None => {}
            }
            let slot = &self.slots[index];
            if slot.live.is_none()
                && !self.stopping
                && slot.restart_at.is_some_and(|t| Instant::now() >= t)
            {
                self.start_worker(index, ctx);
            }
        }
        self.sync_rows(ctx, false);
    }

    fn check(&self, live: &LiveWorker) -> Option<Verdict> {
        let spec = &self.spec;
        if live.probe.beat_age() > spec.heartbeat_timeout {
            return Some(Verdict::Kill(format!(
                "no progress for {:.1}s (heartbeat timeout {}s)",
                live.probe.beat_age().as_secs_f64(),
                spec.heartbeat_timeout.as_secs_f64()
            )));
        }
        if let Some(current) = live.probe.current()
            && current.started.elapsed() > current.timeout + TIMEOUT_GRACE
        {
            return Some(Verdict::Kill(format!(
                "message {} exceeded its timeout of {}s",
                current.id,
                current.timeout.as_secs_f64()
            )));
        }
        let heap = memory::live_bytes(live.probe.slot);
        if heap > 0 && heap as u64 > spec.memory_threshold {
            return Some(Verdict::Recycle(format!(
                "memory usage [{heap}] exceeded limit [{}]",
                spec.memory_threshold
            )));
        }
        if !spec.restart_interval.is_zero() && live.probe.uptime() > spec.restart_interval {
            return Some(Verdict::Recycle(format!(
                "uptime has reached the interval of {} seconds",
                spec.restart_interval.as_secs()
            )));
        }
        None
    }

    fn rows(&self) -> Vec<WorkerRow> {
        let now = crate::clock::now();
        self.slots
            .iter()
            .map(|slot| {
                let base = WorkerRow {
                    worker_type: self.spec.worker_type.clone(),
                    slot: slot.index as i32 + 1,
                    status: slot.idle_status.as_str().to_string(),
                    started_on: None,
                    last_heartbeat: None,
                    messages_done: slot.messages_done_before,
                    restarts: slot.restarts,
                    last_exit_reason: slot.last_exit_reason.clone(),
                    memory_bytes: 0,
                    current_message_id: None,
                };
                match &slot.live {
                    None => base,
                    Some(live) => {
                        let age = chrono::Duration::from_std(live.probe.beat_age())
                            .unwrap_or(chrono::Duration::zero());
                        WorkerRow {
                            status: live.probe.status().as_str().to_string(),
                            started_on: Some(live.started_on),
                            last_heartbeat: live.probe.has_beaten().then(|| now - age),
                            messages_done: slot.messages_done_before
                                + live.probe.messages_done() as i64,
                            memory_bytes: memory::live_bytes(live.probe.slot).max(0),
                            current_message_id: live.probe.current().map(|c| c.id),
                            ..base
                        }
                    }
                }
            })
            .collect()
    }

    /// Writes the rows when something changed, and at least every 5 s (heartbeats).
    fn sync_rows(&mut self, ctx: &mut Context<Self>, force: bool) {
        if self.syncing {
            return;
        }
        let rows = self.rows();
        let changed = rows.iter().zip(&self.last_rows).any(|(a, b)| {
            a.status != b.status
                || a.restarts != b.restarts
                || a.current_message_id != b.current_message_id
        }) || rows.len() != self.last_rows.len();
        let stale = self
            .last_sync
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
        if !(force || changed || stale) {
            return;
        }
        self.syncing = true;
        self.last_sync = Some(Instant::now());
        self.last_rows = rows.clone();
        let (db, server_id) = (self.db.clone(), self.spec.server_id);
        let write = async move { db.run(move |c| sync_worker_rows(c, server_id, &rows)).await };
        ctx.spawn(write.into_actor(self).map(|result, act, _| {
            act.syncing = false;
            if let Err(error) = result {
                tracing::debug!(%error, "cannot record workers");
            }
        }));
    }
}

enum Verdict {
    Kill(String),
    Recycle(String),
}

impl Actor for WorkerPool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        for index in 0..self.slots.len() {
            self.start_worker(index, ctx);
        }
        ctx.run_interval(self.spec.monitor_interval, |act, ctx| act.monitor(ctx));
    }
}

impl Handler<WorkerExited> for WorkerPool {
    type Result = ();

    fn handle(&mut self, msg: WorkerExited, ctx: &mut Self::Context) {
        let name = self.worker_name(msg.slot);
        let Some(slot) = self.slots.get_mut(msg.slot) else {
            return;
        };
        if slot.incarnation != msg.incarnation || slot.live.is_none() {
            return; // a worker already killed and replaced
        }
        let mut lived = None;
        if let Some(live) = slot.live.take() {
            slot.messages_done_before += live.probe.messages_done() as i64;
            lived = Some(live.probe.uptime());
            live.arbiter.stop();
        }
        let reason = msg.exit.describe();
        if msg.exit.is_failure() {
            tracing::warn!(worker = %name, %reason, "worker exited");
        } else {
            tracing::info!(worker = %name, %reason, "worker exited");
        }
        Self::schedule_restart(slot, reason, msg.exit.is_failure(), lived);
        // Nothing to restart for: the node is stopping, or the mailbox is gone.
        if self.stopping || msg.exit == WorkerExit::MailboxClosed {
            slot.restart_at = None;
            slot.idle_status = WorkerStatus::Stopped;
        }
        self.update_live_count();
        self.sync_rows(ctx, true);
        if !self.stopping {
            self.monitor(ctx);
        }
    }
}

/// Stop all workers after their current message; answers the names still running
/// when `deadline` passed.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct StopPool {
    pub deadline: Duration,
}

impl Handler<StopPool> for WorkerPool {
    type Result = ResponseActFuture<Self, Vec<String>>;

    fn handle(&mut self, msg: StopPool, _: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        for slot in &self.slots {
            if let Some(live) = &slot.live {
                live.probe.request_stop("node stopping");
            }
        }
        let mut live = self.live_count.subscribe();
        let wait = async move {
            let all_gone = live.wait_for(|n| *n == 0);
            let _ = tokio::time::timeout(msg.deadline, all_gone).await;
        };
        Box::pin(
            wait.into_actor(self)
                .map(|_, act, _| act.finish_stop())
                .then(|lagging, act, _| {
                    // The last word on each worker, written before the pool answers.
                    let (db, server_id, rows) = (act.db.clone(), act.spec.server_id, act.rows());
                    async move {
                        if let Err(error) =
                            db.run(move |c| sync_worker_rows(c, server_id, &rows)).await
                        {
                            tracing::debug!(%error, "cannot record stopped workers");
                        }
                        lagging
                    }
                    .into_actor(act)
                }),
        )
    }
}

impl WorkerPool {
    fn finish_stop(&mut self) -> Vec<String> {
        let mut lagging = Vec::new();
        for index in 0..self.slots.len() {
            if self.slots[index].live.is_some() {
                lagging.push(self.worker_name(index));
                self.kill(index, "still running at the stop deadline".into());
                self.slots[index].restart_at = None;
            }
        }
        lagging
    }
}

/// The pool's workers as they are now.
#[derive(Message)]
#[rtype(result = "Vec<WorkerRow>")]
pub struct GetPoolState;

impl Handler<GetPoolState> for WorkerPool {
    type Result = MessageResult<GetPoolState>;

    fn handle(&mut self, _: GetPoolState, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.rows())
    }
}

/// Ask the worker of this pool holding the most memory to exit after its message
/// (the node's RSS is above `server.memory_threshold`). Answers its name and heap.
#[derive(Message)]
#[rtype(result = "Option<(String, i64)>")]
pub struct RecycleLargest {
    pub reason: String,
}

impl Handler<RecycleLargest> for WorkerPool {
    type Result = MessageResult<RecycleLargest>;

    fn handle(&mut self, msg: RecycleLargest, _: &mut Self::Context) -> Self::Result {
        let largest = self
            .slots
            .iter()
            .filter_map(|s| s.live.as_ref())
            .max_by_key(|l| memory::live_bytes(l.probe.slot));
        MessageResult(largest.map(|l| {
            l.probe.request_stop(&msg.reason);
            (l.probe.name.clone(), memory::live_bytes(l.probe.slot))
        }))
    }
}
