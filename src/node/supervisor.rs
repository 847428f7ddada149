//! `NodeSupervisor`: the root actor of a node. It owns the node's children — the
//! `Registry`, the queue machinery (dispatcher, worker pools, completion writer,
//! upkeep), the web server — reacts to memory pressure, and runs the graceful stop:
//! mark `stopping`, stop the web listener, stop claiming, let workers finish, flush,
//! deactivate roles, mark `stopped`, all within one deadline.

use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::ServerHandle;

use super::queue_stack::{QueueStack, recycle_largest_worker};
use super::registry::{MemoryPressure, Registry};
use crate::db::Db;
use crate::refresh::{RefreshManager, StopRefreshing};
use crate::region::{self, ServerStatus};
use crate::settings::format_size;

/// Root of a node's actor tree.
pub struct NodeSupervisor {
    db: Db,
    server_id: i64,
    registry: Addr<Registry>,
    queue: Option<QueueStack>,
    refresh: Addr<RefreshManager>,
    web: Option<ServerHandle>,
    recycling: bool,
    last_recycle: Option<std::time::Instant>,
}

/// Least time between two memory-pressure recycles.
const RECYCLE_COOLDOWN: Duration = Duration::from_secs(60);

impl NodeSupervisor {
    pub fn new(
        db: Db,
        server_id: i64,
        registry: Addr<Registry>,
        queue: QueueStack,
        refresh: Addr<RefreshManager>,
    ) -> Self {
        Self {
            db,
            server_id,
            registry,
            queue: Some(queue),
            refresh,
            web: None,
            recycling: false,
            last_recycle: None,
        }
    }

    /// The registry, for children that need the region view.
    pub fn registry(&self) -> &Addr<Registry> {
        &self.registry
    }
}

impl Actor for NodeSupervisor {
    type Context = Context<Self>;
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
        self.last_recycle = Some(std::time::Instant::now());
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

/// Stop the node gracefully. Answers with the names of children that had not
/// stopped when `deadline` passed (empty when everything stopped in time).
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
        let registry = self.registry.clone();
        let web = self.web.take();
        let queue = self.queue.take();
        let refresh = self.refresh.clone();
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
            if tokio::time::timeout(left(), refresh.send(StopRefreshing))
                .await
                .is_err()
            {
                lagging.push("refresh workers".to_string());
            }
            if let Some(mut queue) = queue {
                lagging.extend(queue.shutdown(left()).await);
            }
            registry.do_send(StopActor);
            let finish = db.run(move |c| {
                region::deactivate_roles(c, id)?;
                region::set_status(c, id, ServerStatus::Stopped)
            });
            match tokio::time::timeout(left().max(Duration::from_millis(500)), finish).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not record status stopped"),
                Err(_) => lagging.push("database (recording stopped)".to_string()),
            }
            lagging
        })
    }
}

/// Stops the actor that receives it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopActor;

impl Handler<StopActor> for Registry {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
