//! The worker pools of a node, as a set that can change while the node runs (a
//! refresh pool per provider comes and goes with providers and with the
//! `ems_inventory` role). Changes are published to the dispatcher on a watch channel.

use std::sync::{Arc, Mutex};

use actix::Addr;
use tokio::sync::watch;

use super::pool::WorkerPool;
use crate::queue::PoolMailbox;

/// A pool and its mailbox.
#[derive(Clone)]
pub struct RegisteredPool {
    pub name: String,
    pub mailbox: PoolMailbox,
    pub addr: Addr<WorkerPool>,
}

/// The node's pools; cheap to clone.
#[derive(Clone)]
pub struct PoolSet {
    pools: Arc<Mutex<Vec<RegisteredPool>>>,
    published: Arc<watch::Sender<Arc<Vec<PoolMailbox>>>>,
}

impl Default for PoolSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PoolSet {
    pub fn new() -> Self {
        Self {
            pools: Arc::new(Mutex::new(Vec::new())),
            published: Arc::new(watch::channel(Arc::new(Vec::new())).0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RegisteredPool>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, pools: &[RegisteredPool]) {
        let mailboxes: Vec<PoolMailbox> = pools.iter().map(|p| p.mailbox.clone()).collect();
        self.published.send_replace(Arc::new(mailboxes));
    }

    /// Adds a pool (replacing one of the same name).
    pub fn add(&self, pool: RegisteredPool) {
        let mut pools = self.lock();
        pools.retain(|p| p.name != pool.name);
        pools.push(pool);
        self.publish(&pools);
    }

    /// Removes a pool; returns it so the caller can stop it.
    pub fn remove(&self, name: &str) -> Option<RegisteredPool> {
        let mut pools = self.lock();
        let index = pools.iter().position(|p| p.name == name)?;
        let removed = pools.remove(index);
        self.publish(&pools);
        Some(removed)
    }

    /// Names of the pools.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|p| p.name.clone()).collect()
    }

    /// Every pool.
    pub fn all(&self) -> Vec<RegisteredPool> {
        self.lock().clone()
    }

    /// The mailboxes, as the dispatcher follows them.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<PoolMailbox>>> {
        self.published.subscribe()
    }
}
