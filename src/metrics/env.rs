//! What metrics handlers need besides the database and the queue: the settings, the
//! key ring that decrypts provider tokens (read once, on first use), and one
//! Prometheus client per provider, kept while the provider's endpoint settings hold.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::prometheus_client::PromClient;

use crate::crypto::KeyRing;
use crate::settings::{MetricsSettings, RefreshSettings, Settings};

pub struct MetricsEnv {
    pub settings: MetricsSettings,
    /// Connection timeouts and the like come from here, as for refresh.
    pub refresh: RefreshSettings,
    key_file: PathBuf,
    keys: OnceLock<KeyRing>,
    /// Provider id → (what the client was built from, the client).
    clients: Mutex<HashMap<i64, (String, PromClient)>>,
}

impl MetricsEnv {
    /// With the node's key when it has one; otherwise the key is read (never created)
    /// from `server.key_file` when first needed.
    pub fn new(settings: &Settings, keys: Option<KeyRing>) -> Self {
        let cell = OnceLock::new();
        if let Some(keys) = keys {
            let _ = cell.set(keys);
        }
        Self {
            settings: settings.metrics.clone(),
            refresh: settings.ems_refresh.clone(),
            key_file: settings.server.key_file.clone(),
            keys: cell,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client cached for `provider` if it was built from `fingerprint`, or the one
    /// `build` makes (then cached).
    pub fn client<E>(
        &self,
        provider: i64,
        fingerprint: &str,
        build: impl FnOnce() -> Result<PromClient, E>,
    ) -> Result<PromClient, E> {
        if let Some((built_from, client)) = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&provider)
            && built_from == fingerprint
        {
            return Ok(client.clone());
        }
        let client = build()?;
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(provider, (fingerprint.to_string(), client.clone()));
        Ok(client)
    }

    /// The region's key ring (the node created it at start).
    pub fn keys(&self) -> Result<KeyRing, String> {
        if let Some(k) = self.keys.get() {
            return Ok(k.clone());
        }
        let keys = KeyRing::load_existing(&self.key_file)
            .map_err(|e| format!("key file {}: {e}", self.key_file.display()))?;
        Ok(self.keys.get_or_init(|| keys).clone())
    }
}
