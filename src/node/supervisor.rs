//! `NodeSupervisor`: the root actor of a node. It owns the node's parts — the
//! supervised components (heartbeat, dispatcher, completion writer, LISTEN thread,
//! queue upkeep, metrics coordinator, refresh manager; see [`crate::supervision`]),
//! the worker pools, the web server — records the components' states in
//! `server_components`, reacts to memory pressure, stops the node when a part is
//! beyond repair, and runs the graceful stop: mark `stopping`, stop the web
//! listener and the live feed's, stop refreshing, stop claiming, let workers finish, flush, stop the
//! rest, deactivate roles, mark `stopped`, all within one deadline.

use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::dev::ServerHandle;

use super::queue_stack::{QueueStack, recycle_largest_worker};
use super::registry::MemoryPressure;
use crate::db::Db;
use crate::refresh::RefreshHandle;
use crate::region::{self, ServerStatus};
use crate::settings::format_size;
use crate::supervision::{Supervision, sync_component_rows};
use crate::web::WEBSOCKET_LISTENER;

/// The least time the last write of a stop (component rows, roles, `stopped`) is given,
/// whatever is left of the stop's deadline.
pub(super) const FINAL_WRITE: Duration = Duration::from_secs(3);

/// Root of a node's actor tree.
pub struct NodeSupervisor {
    db: Db,
    server_id: i64,
    supervision: Supervision,
    queue: Option<QueueStack>,
    refresh: RefreshHandle,
    web: Option<ServerHandle>,
    recycling: bool,
    last_recycle: Option<Instant>,
    /// The component-state version last written, and when.
    synced: Option<(u64, Instant)>,
    syncing: bool,
}

/// Least time between two memory-pressure recycles.
const RECYCLE_COOLDOWN: Duration = Duration::from_secs(60);
/// How often component states and pools are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Component rows are rewritten at least this often (a write may have failed).
const RESYNC_EVERY: Duration = Duration::from_secs(30);
/// How often free memory inside the allocator's heaps is handed back to the system.
const RELEASE_MEMORY_EVERY: Duration = Duration::from_secs(10);
/// The name under which the refresh manager runs.
const REFRESH_MANAGER: &str = "refresh_manager";

impl NodeSupervisor {
    pub fn new(
        db: Db,
        server_id: i64,
        supervision: Supervision,
        queue: QueueStack,
        refresh: RefreshHandle,
    ) -> Self {
        Self {
            db,
            server_id,
            supervision,
            queue: Some(queue),
            refresh,
            web: None,
            recycling: false,
            last_recycle: None,
            synced: None,
            syncing: false,
        }
    }

    /// Writes the components' states when they changed (and every 30 s regardless).
    fn sync_components(&mut self, ctx: &mut Context<Self>) {
        if self.syncing {
            return;
        }
        let version = *self.supervision.changes().borrow();
        let due = self
            .synced
            .is_none_or(|(v, at)| v != version || at.elapsed() >= RESYNC_EVERY);
        if !due {
            return;
        }
        self.syncing = true;
        let (db, id, states) = (self.db.clone(), self.server_id, self.supervision.states());
        let write = async move { db.run(move |c| sync_component_rows(c, id, &states)).await };
        ctx.spawn(write.into_actor(self).map(move |result, act, _| {
            act.syncing = false;
            match result {
                Ok(()) => act.synced = Some((version, Instant::now())),
                Err(error) => tracing::debug!(%error, "cannot record the components"),
            }
        }));
    }

    /// A worker pool is an actor of its own; if one died, the node is half-alive.
    fn check_pools(&self) {
        // `None` once the node is stopping (the pools then stop on purpose).
        let Some(queue) = &self.queue else {
            return;
        };
        if let Some(dead) = queue.pools.all().into_iter().find(|p| !p.addr.connected()) {
            self.supervision.declare_fatal(
                &format!("{} pool", dead.name),
                "its supervisor stopped unexpectedly",
            );
        }
    }
}

impl Actor for NodeSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(CHECK_EVERY, |act, ctx| {
            act.sync_components(ctx);
            act.check_pools();
        });
        ctx.run_interval(RELEASE_MEMORY_EVERY, |_, _| {
            tokio::task::spawn_blocking(crate::workers::memory::release_free_memory);
        });
    }
}

/// The web server to stop first on shutdown (bound after the supervisor starts).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachWeb(pub ServerHandle);

impl Handler<AttachWeb> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, msg: AttachWeb, _: &mut Self::Context) {
        self.web = Some(msg.0);
    }
}

impl Handler<MemoryPressure> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, msg: MemoryPressure, ctx: &mut Self::Context) {
        // One recycle at a time, and time for the allocator to give memory back
        // before judging again.
        if self.recycling
            || self
                .last_recycle
                .is_some_and(|t| t.elapsed() < RECYCLE_COOLDOWN)
        {
            return;
        }
        self.last_recycle = Some(Instant::now());
        let Some(pools) = self.queue.as_ref().map(|q| q.pools.clone()) else {
            return;
        };
        self.recycling = true;
        let reason = format!(
            "node memory usage [{}] exceeded limit [{}]",
            format_size(msg.rss_bytes),
            format_size(msg.threshold)
        );
        let work = async move {
            let picked = recycle_largest_worker(&pools, &reason).await;
            (picked, reason)
        };
        ctx.spawn(work.into_actor(self).map(|(picked, reason), act, _| {
            if let Some((worker, heap)) = picked {
                tracing::warn!(%worker, heap = %format_size(heap.max(0) as u64), %reason, "requesting the largest worker to exit");
            }
            act.recycling = false;
        }));
    }
}

/// Stop the node gracefully. Answers with the names of parts that had not stopped
/// when `deadline` passed (empty when everything stopped in time).
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct Shutdown {
    pub deadline: Duration,
}

impl Handler<Shutdown> for NodeSupervisor {
    type Result = ResponseFuture<Vec<String>>;

    fn handle(&mut self, msg: Shutdown, _: &mut Self::Context) -> Self::Result {
        let db = self.db.clone();
        let id = self.server_id;
        let web = self.web.take();
        let queue = self.queue.take();
        let refresh = self.refresh.clone();
        let supervision = self.supervision.clone();
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let left = move || msg.deadline.saturating_sub(started.elapsed());
            let mut lagging = Vec::new();
            if let Err(error) = db
                .run(move |c| region::set_status(c, id, ServerStatus::Stopping))
                .await
            {
                tracing::warn!(%error, "could not record status stopping");
            }
            if let Some(web) = web
                && tokio::time::timeout(left(), web.stop(true)).await.is_err()
            {
                lagging.push("web".to_string());
            }
            // The live feed's own listener closes its clients with the web server's
            // (a node booted without serving has none).
            let listening = supervision
                .states()
                .iter()
                .any(|s| s.name == WEBSOCKET_LISTENER);
            if listening && !supervision.stop(WEBSOCKET_LISTENER, left()).await {
                lagging.push(WEBSOCKET_LISTENER.to_string());
            }
            if !supervision.stop(REFRESH_MANAGER, left()).await {
                lagging.push(REFRESH_MANAGER.to_string());
            }
            if tokio::time::timeout(left(), refresh.stop_all())
                .await
                .is_err()
            {
                lagging.push("refresh workers".to_string());
            }
            if let Some(mut queue) = queue {
                lagging.extend(queue.shutdown(left()).await);
            }
            lagging.extend(supervision.stop_all(left()).await);
            let states = supervision.states();
            let finish = db.run(move |c| {
                sync_component_rows(c, id, &states)?;
                region::deactivate_roles(c, id)?;
                region::set_status(c, id, ServerStatus::Stopped)
            });
            // The record of the stop gets a budget of its own: a stop that used up the
            // deadline (a component that kept failing, a slow disk) must still leave the
            // server row saying `stopped`, not `stopping`.
            match tokio::time::timeout(left().max(FINAL_WRITE), finish).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not record status stopped"),
                Err(_) => lagging.push("database (recording stopped)".to_string()),
            }
            lagging
        })
    }
}
