//! `RefreshManager`: while this server holds `ems_inventory` for its zone, it keeps
//! one refresh worker pool per provider of the zone (queue `ems_<id>`), starts a
//! full refresh for each new one, and queues the periodic full refresh
//! (`ems_refresh.refresh_interval`, or the provider's own). When the role moves away
//! — or a provider is removed — its pools are stopped; the new holder starts its
//! own. It checks every few seconds and whenever the routes change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::worker::RefreshKit;
use crate::crypto::KeyRing;
use crate::node::{PoolRouting, PoolSize, WorkerParts};
use crate::providers::{Provider, providers_in_zone, queue_name, queue_refresh};
use crate::queue::RoutesChanged;
use crate::settings::Settings;
use crate::workers::{StopPool, WorkerFactory, WorkerPool};

/// How often the manager looks at providers even without a routes change.
const CHECK_EVERY: Duration = Duration::from_secs(3);

/// Keeps this node's refresh pools in line with its role and its zone's providers.
pub struct RefreshManager {
    parts: WorkerParts,
    settings: Arc<Settings>,
    keys: KeyRing,
    routes: watch::Receiver<RoutesChanged>,
    pools: HashMap<i64, (String, Addr<WorkerPool>)>,
    busy: bool,
}

impl RefreshManager {
    pub fn new(
        parts: WorkerParts,
        settings: Arc<Settings>,
        keys: KeyRing,
        routes: watch::Receiver<RoutesChanged>,
    ) -> Self {
        Self {
            parts,
            settings,
            keys,
            routes,
            pools: HashMap::new(),
            busy: false,
        }
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

    fn stop_pool(&mut self, provider_id: i64) {
        if let Some((name, addr)) = self.pools.remove(&provider_id) {
            self.parts.pools.remove(&name);
            addr.do_send(StopPool {
                deadline: self.settings.server.shutdown_timeout,
            });
            tracing::info!(pool = %name, "refresh worker stopped");
        }
    }

    fn start_pool(&mut self, p: &Provider) {
        let name = format!("refresh:{}", p.name);
        let kit = |rx| -> Arc<dyn WorkerFactory> {
            Arc::new(RefreshKit {
                provider_id: p.id,
                mailbox: rx,
                parts: self.parts.clone(),
                keys: self.keys.clone(),
                settings: self.settings.ems_refresh.clone(),
            })
        };
        let started = self.parts.start_pool(
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
            tracing::info!(pool = %name, provider_id = p.id, "refresh worker started");
            self.pools.insert(p.id, (name, addr));
        }
    }

    fn check(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        if !self.holds_role() {
            let ids: Vec<i64> = self.pools.keys().copied().collect();
            for id in ids {
                self.stop_pool(id);
            }
            return;
        }
        self.busy = true;
        let zone = self.parts.me.zone.clone();
        let db = self.parts.db.clone();
        let load = async move { db.run(move |c| providers_in_zone(c, &zone)).await };
        ctx.spawn(load.into_actor(self).map(|result, act, ctx| {
            let providers = match result {
                Ok(p) => p,
                Err(error) => {
                    tracing::warn!(%error, "cannot list the zone's providers");
                    act.busy = false;
                    return;
                }
            };
            let wanted: Vec<i64> = providers.iter().map(|p| p.id).collect();
            let gone: Vec<i64> = act
                .pools
                .keys()
                .filter(|id| !wanted.contains(id))
                .copied()
                .collect();
            for id in gone {
                act.stop_pool(id);
            }
            let mut due = Vec::new();
            for p in &providers {
                let new = !act.pools.contains_key(&p.id);
                if new {
                    act.start_pool(p);
                }
                let interval = p
                    .refresh_interval_s
                    .map(|s| Duration::from_secs(s.max(0) as u64))
                    .unwrap_or(act.settings.ems_refresh.refresh_interval);
                let overdue = !interval.is_zero()
                    && p.last_refresh_on.is_none_or(|t| {
                        chrono::Utc::now().naive_utc() - t
                            >= chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX)
                    });
                if new || overdue {
                    due.push(p.id);
                }
            }
            let (queue, zone, timeout) = (
                act.parts.queue.clone(),
                act.parts.me.zone.clone(),
                act.settings.ems_refresh.timeout,
            );
            let queueing = async move {
                for id in due {
                    if let Err(error) = queue_refresh(&queue, id, &zone, timeout, None).await {
                        tracing::warn!(%error, provider_id = id, "cannot queue a refresh");
                    }
                }
            };
            ctx.spawn(queueing.into_actor(act).map(|_, act, _| act.busy = false));
        }));
    }
}

impl Actor for RefreshManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(CHECK_EVERY, |act, ctx| act.check(ctx));
        // React at once when roles move.
        let mut routes = self.routes.clone();
        let me = ctx.address();
        ctx.spawn(
            async move {
                while routes.changed().await.is_ok() {
                    me.do_send(RecheckProviders);
                }
            }
            .into_actor(self),
        );
    }
}

/// Look at providers now (a provider was added or removed, or routes changed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecheckProviders;

impl Handler<RecheckProviders> for RefreshManager {
    type Result = ();

    fn handle(&mut self, _: RecheckProviders, ctx: &mut Self::Context) {
        self.check(ctx);
    }
}

/// Stop every refresh pool (node stopping); answers when they are stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRefreshing;

impl Handler<StopRefreshing> for RefreshManager {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: StopRefreshing, ctx: &mut Self::Context) -> Self::Result {
        ctx.stop();
        let deadline = self.settings.server.shutdown_timeout;
        let pools: Vec<_> = self.pools.drain().map(|(_, p)| p).collect();
        for (name, _) in &pools {
            self.parts.pools.remove(name);
        }
        Box::pin(async move {
            let stops = pools
                .into_iter()
                .map(|(_, addr)| addr.send(StopPool { deadline }));
            futures::future::join_all(stops).await;
        })
    }
}
