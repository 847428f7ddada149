//! `NodeSupervisor`: the root actor of a node. It owns the node's children (the
//! `Registry`, the web server, and the worker pools later issues add) and runs the
//! graceful stop: mark `stopping`, stop children, deactivate roles, mark `stopped`.

use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::ServerHandle;

use super::registry::Registry;
use crate::db::Db;
use crate::region::{self, ServerStatus};

/// Root of a node's actor tree.
pub struct NodeSupervisor {
    db: Db,
    server_id: i64,
    registry: Addr<Registry>,
    web: Option<ServerHandle>,
}

impl NodeSupervisor {
    pub fn new(
        db: Db,
        server_id: i64,
        registry: Addr<Registry>,
        web: Option<ServerHandle>,
    ) -> Self {
        Self {
            db,
            server_id,
            registry,
            web,
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
        Box::pin(async move {
            let mut lagging = Vec::new();
            if let Err(error) = db
                .run(move |c| region::set_status(c, id, ServerStatus::Stopping))
                .await
            {
                tracing::warn!(%error, "could not record status stopping");
            }
            // Stop children, newest first; each gets what is left of the deadline.
            let started = tokio::time::Instant::now();
            if let Some(web) = web
                && tokio::time::timeout(msg.deadline, web.stop(true))
                    .await
                    .is_err()
            {
                lagging.push("web".to_string());
            }
            let left = msg.deadline.saturating_sub(started.elapsed());
            registry.do_send(StopActor);
            let finish = db.run(move |c| {
                region::deactivate_roles(c, id)?;
                region::set_status(c, id, ServerStatus::Stopped)
            });
            match tokio::time::timeout(left.max(Duration::from_millis(500)), finish).await {
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
