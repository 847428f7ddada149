//! `RefreshManager`: while this server holds `ems_inventory` for its zone, it keeps
//! one refresh worker pool per provider of the zone (queue `ems_<id>`), starts a
//! full refresh for each new one, and queues the periodic full refresh
//! (`ems_refresh.refresh_interval`, or the provider's own). When the role moves away
//! — or a provider is removed — its pools are stopped; the new holder starts its
//! own. It checks every few seconds, whenever the routes change and when asked
//! ([`RefreshHandle::recheck`], after a provider is added or removed).
//!
//! A supervised component (`refresh_manager`): the pools it runs are kept in the
//! shared [`RefreshHandle`], so a rebuilt manager carries on with them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::worker::RefreshKit;
use crate::crypto::KeyRing;
use crate::node::{PoolRouting, PoolSize, ProviderPools, WorkerParts};
use crate::providers::{Provider, providers_in_zone, queue_due_refresh, queue_name};
use crate::queue::RoutesChanged;
use crate::settings::Settings;
use crate::supervision::{Component, ComponentContext, ComponentFuture};
use crate::workers::WorkerFactory;

/// How often the manager looks at providers even without a routes change.
const CHECK_EVERY: Duration = Duration::from_secs(3);

/// How the rest of the node reaches the refresh manager; shared by its incarnations.
#[derive(Clone)]
pub struct RefreshHandle {
    recheck: Arc<Notify>,
    pools: ProviderPools,
}

impl RefreshHandle {
    /// Look at the providers now (one was added or removed).
    pub fn recheck(&self) {
        self.recheck.notify_one();
    }

    /// Stops every refresh pool (the node is stopping); resolves when they stopped.
    pub async fn stop_all(&self) {
        self.pools.stop_all().await;
    }
}

/// Keeps this node's refresh pools in line with its role and its zone's providers.
#[derive(Clone)]
pub struct RefreshManager {
    settings: Arc<Settings>,
    keys: KeyRing,
    routes: watch::Receiver<RoutesChanged>,
    handle: RefreshHandle,
}

impl RefreshManager {
    pub fn new(
        parts: WorkerParts,
        settings: Arc<Settings>,
        keys: KeyRing,
        routes: watch::Receiver<RoutesChanged>,
    ) -> Self {
        let handle = RefreshHandle {
            recheck: Arc::new(Notify::new()),
            pools: ProviderPools::new(parts, settings.server.shutdown_timeout, "refresh worker"),
        };
        Self {
            settings,
            keys,
            routes,
            handle,
        }
    }

    /// The handle the web API and the node use.
    pub fn handle(&self) -> RefreshHandle {
        self.handle.clone()
    }

    fn holds_role(&self) -> bool {
        self.settings.worker("refresh").is_some_and(|w| w.count > 0)
            && self
                .routes
                .borrow()
                .active_roles
                .iter()
                .any(|r| r == "ems_inventory")
    }

    fn start_pool(&self, p: &Provider) {
        let name = format!("refresh:{}", p.name);
        let parts = self.handle.pools.parts();
        let kit = |rx| -> Arc<dyn WorkerFactory> {
            Arc::new(RefreshKit {
                provider_id: p.id,
                mailbox: rx,
                parts: parts.clone(),
                keys: self.keys.clone(),
                settings: self.settings.ems_refresh.clone(),
                policy: self.settings.providers.clone(),
            })
        };
        let started = parts.start_pool(
            &self.settings,
            &name,
            "refresh",
            PoolRouting::queue(&queue_name(p.id), Some("ems_inventory")),
            PoolSize {
                workers: 1,
                mailbox: 2,
            },
            kit,
        );
        if let Some(addr) = started {
            self.handle.pools.add(p.id, name, addr);
        }
    }

    /// One look at the zone's providers: pools started and stopped, refreshes queued.
    async fn check(&self) {
        let pools = &self.handle.pools;
        if !self.holds_role() {
            pools.stop_others(&[]);
            return;
        }
        let zone = pools.parts().me.zone.clone();
        let providers = match pools
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
        pools.stop_others(&wanted);
        let mut due = Vec::new();
        for p in &providers {
            let new = !pools.has(p.id);
            if new {
                self.start_pool(p);
            }
            let interval = p
                .refresh_interval_s
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(self.settings.ems_refresh.refresh_interval);
            let overdue = !interval.is_zero()
                && p.last_refresh_on.is_none_or(|t| {
                    crate::clock::now() - t
                        >= chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX)
                });
            if new || overdue {
                due.push(p.id);
            }
        }
        let (queue, zone, timeout) = (
            &pools.parts().queue,
            &pools.parts().me.zone,
            self.settings.ems_refresh.timeout,
        );
        for id in due {
            if let Err(error) = queue_due_refresh(queue, id, zone, timeout).await {
                tracing::warn!(%error, provider_id = id, "cannot queue a refresh");
            }
        }
    }
}

impl Component for RefreshManager {
    fn name(&self) -> &'static str {
        "refresh_manager"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        let mut manager = self.clone();
        Box::pin(async move {
            loop {
                manager.check().await;
                tokio::select! {
                    _ = ctx.stopped() => return Ok(()),
                    _ = tokio::time::sleep(CHECK_EVERY) => {}
                    _ = manager.handle.recheck.notified() => {}
                    changed = manager.routes.changed() => if changed.is_err() {
                        return Err("the routes channel closed".into());
                    },
                }
            }
        })
    }
}
