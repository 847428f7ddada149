//! `EventManager`: while this server holds the `event` role for its zone, it runs an
//! event catcher and `workers.event_handler.count` event handlers (one per queue
//! shard) for each provider of the zone; when the role
//! moves away (or a provider is removed) they stop, and the new holder starts its own,
//! resuming from the saved positions. A supervised component (`event_manager`); the
//! pools it runs are kept in [`ProviderPools`], so a rebuilt manager carries on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::catcher::CatcherKit;
use super::handler_queue;
use crate::crypto::KeyRing;
use crate::node::{PoolRouting, PoolSize, ProviderPools, WorkerParts};
use crate::providers::{Provider, providers_in_zone};
use crate::queue::RoutesChanged;
use crate::queue::handlers::HandlerRegistry;
use crate::settings::Settings;
use crate::supervision::{Component, ComponentContext, ComponentFuture};
use crate::workers::{QueueWorkerKit, WorkerFactory};

/// How often the manager looks at providers even without a routes change.
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// How far back events wait for their pod's row to link to it.
const RELINK_MINUTES: i64 = 10;

/// Keeps this node's event catchers and handlers in line with its role and providers.
#[derive(Clone)]
pub struct EventManager {
    settings: Arc<Settings>,
    keys: KeyRing,
    routes: watch::Receiver<RoutesChanged>,
    handlers: Arc<HandlerRegistry>,
    pools: ProviderPools,
}

impl EventManager {
    pub fn new(
        parts: WorkerParts,
        settings: Arc<Settings>,
        keys: KeyRing,
        routes: watch::Receiver<RoutesChanged>,
        handlers: Arc<HandlerRegistry>,
    ) -> Self {
        let pools = ProviderPools::new(parts, settings.server.shutdown_timeout, "event worker");
        Self {
            settings,
            keys,
            routes,
            handlers,
            pools,
        }
    }

    fn holds_role(&self) -> bool {
        ["event_catcher", "event_handler"]
            .iter()
            .all(|t| self.settings.worker(t).is_some_and(|w| w.count > 0))
            && self
                .routes
                .borrow()
                .active_roles
                .iter()
                .any(|r| r == "event")
    }

    fn start(&self, p: &Provider) {
        let parts = self.pools.parts();
        let catcher = format!("event_catcher:{}", p.name);
        let kit = |rx| -> Arc<dyn WorkerFactory> {
            Arc::new(CatcherKit {
                provider_id: p.id,
                mailbox: rx,
                parts: parts.clone(),
                keys: self.keys.clone(),
                refresh: self.settings.ems_refresh.clone(),
                policy: self.settings.providers.clone(),
                events: self.settings.events.clone(),
                max_args_bytes: self.settings.queue.max_args_bytes,
                shards: self.shards(),
            })
        };
        // Its queue carries nothing: a catcher is fed by its watch.
        let routing = PoolRouting::queue(&format!("event_catcher_{}", p.id), Some("event"));
        let one = PoolSize {
            workers: 1,
            mailbox: 1,
        };
        if let Some(addr) =
            parts.start_pool(&self.settings, &catcher, "event_catcher", routing, one, kit)
        {
            self.pools.add(p.id, catcher, addr);
        }
        for shard in 0..self.shards() {
            self.start_handler(p, shard);
        }
    }

    /// The handlers per provider: `workers.event_handler.count`, each with its own
    /// queue shard.
    fn shards(&self) -> usize {
        self.settings
            .worker("event_handler")
            .map_or(1, |w| w.count.max(1) as usize)
    }

    /// Starts the handler of `p`'s events of `shard`: one worker, so that an Event's
    /// occurrences are stored in order.
    fn start_handler(&self, p: &Provider, shard: usize) {
        let parts = self.pools.parts();
        let handler = if shard == 0 {
            format!("event_handler:{}", p.name)
        } else {
            format!("event_handler:{}#{shard}", p.name)
        };
        let kit = |rx| -> Arc<dyn WorkerFactory> {
            Arc::new(QueueWorkerKit {
                mailbox: rx,
                handlers: self.handlers.clone(),
                completions: parts.completions.clone(),
                db: parts.db.clone(),
                queue: parts.queue.clone(),
                server_guid: parts.me.server_guid.clone().into(),
                zone: parts.me.zone.clone().into(),
                stats: parts.stats.clone(),
                space: parts.space.clone(),
            })
        };
        let routing = PoolRouting::queue(&handler_queue(p.id, shard), Some("event"));
        let size = PoolSize {
            workers: 1,
            mailbox: 4,
        };
        if let Some(addr) = parts.start_pool(
            &self.settings,
            &handler,
            "event_handler",
            routing,
            size,
            kit,
        ) {
            self.pools.add(p.id, handler, addr);
        }
    }

    /// One look at the zone's providers: catchers and handlers started and stopped.
    async fn check(&self) {
        if !self.holds_role() {
            self.pools.stop_others(&[]);
            return;
        }
        let zone = self.pools.parts().me.zone.clone();
        let providers = match self
            .pools
            .parts()
            .db
            .run(move |c| providers_in_zone(c, &zone))
            .await
        {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "cannot list the zone's providers");
                return;
            }
        };
        let wanted: Vec<i64> = providers.iter().map(|p| p.id).collect();
        self.pools.stop_others(&wanted);
        for p in &providers {
            if !self.pools.has(p.id) {
                self.start(p);
            }
        }
        // Events about pods saved after them get their links.
        let ids = wanted;
        let since = crate::clock::now() - chrono::Duration::minutes(RELINK_MINUTES);
        let linked = self
            .pools
            .parts()
            .db
            .run(move |c| {
                ids.iter()
                    .try_fold(0, |n, id| Ok(n + super::relink_recent(c, *id, since)?))
            })
            .await;
        match linked {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "events linked to pods saved after them"),
            Err(error) => tracing::warn!(%error, "cannot link recent events"),
        }
    }
}

impl Component for EventManager {
    fn name(&self) -> &'static str {
        "event_manager"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        let mut manager = self.clone();
        Box::pin(async move {
            loop {
                manager.check().await;
                tokio::select! {
                    _ = ctx.stopped() => return Ok(()),
                    _ = tokio::time::sleep(CHECK_EVERY) => {}
                    changed = manager.routes.changed() => if changed.is_err() {
                        return Err("the routes channel closed".into());
                    },
                }
            }
        })
    }
}
