//! The worker pools a server runs per provider while it holds a zone role (a refresh
//! worker per provider for `ems_inventory`; an event catcher and handler per provider
//! for `event`): which are running, and stopping them when the provider or the role
//! goes. Shared by a manager's incarnations, so a rebuilt manager carries on with them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;

use super::WorkerParts;
use crate::workers::{StopPool, WorkerPool};

/// A running pool: its name in the pool set and its supervisor.
type RunningPool = (String, Addr<WorkerPool>);

/// The pools run per provider for one role.
#[derive(Clone)]
pub struct ProviderPools {
    pools: Arc<Mutex<HashMap<i64, Vec<RunningPool>>>>,
    parts: WorkerParts,
    stop_deadline: Duration,
    what: &'static str,
}

impl ProviderPools {
    /// `what` names the pools in the log ("refresh worker", "event catcher").
    pub fn new(parts: WorkerParts, stop_deadline: Duration, what: &'static str) -> Self {
        Self {
            pools: Arc::new(Mutex::new(HashMap::new())),
            parts,
            stop_deadline,
            what,
        }
    }

    /// What the pools are started with.
    pub fn parts(&self) -> &WorkerParts {
        &self.parts
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<RunningPool>>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether pools run for `provider_id`.
    pub fn has(&self, provider_id: i64) -> bool {
        self.map().contains_key(&provider_id)
    }

    /// The providers pools run for.
    pub fn providers(&self) -> Vec<i64> {
        self.map().keys().copied().collect()
    }

    /// Records a started pool of `provider_id`.
    pub fn add(&self, provider_id: i64, name: String, addr: Addr<WorkerPool>) {
        tracing::info!(pool = %name, provider_id, "{} started", self.what);
        self.map()
            .entry(provider_id)
            .or_default()
            .push((name, addr));
    }

    /// Stops the pools of `provider_id`.
    pub fn stop(&self, provider_id: i64) {
        let Some(pools) = self.map().remove(&provider_id) else {
            return;
        };
        for (name, addr) in pools {
            self.parts.pools.remove(&name);
            addr.do_send(StopPool {
                deadline: self.stop_deadline,
            });
            tracing::info!(pool = %name, "{} stopped", self.what);
        }
    }

    /// Stops the pools of providers not in `wanted`.
    pub fn stop_others(&self, wanted: &[i64]) {
        for id in self.providers() {
            if !wanted.contains(&id) {
                self.stop(id);
            }
        }
    }

    /// Stops every pool (the node is stopping); resolves when they stopped.
    pub async fn stop_all(&self) {
        let pools: Vec<RunningPool> = self.map().drain().flat_map(|(_, p)| p).collect();
        for (name, _) in &pools {
            self.parts.pools.remove(name);
        }
        let deadline = self.stop_deadline;
        let stops = pools
            .into_iter()
            .map(|(_, addr)| addr.send(StopPool { deadline }));
        futures::future::join_all(stops).await;
    }
}
