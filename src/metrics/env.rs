//! What metrics handlers need besides the database and the queue: the settings and
//! the key ring that decrypts provider tokens (read once, on first use).

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::crypto::KeyRing;
use crate::settings::{MetricsSettings, RefreshSettings, Settings};

pub struct MetricsEnv {
    pub settings: MetricsSettings,
    /// Connection timeouts and the like come from here, as for refresh.
    pub refresh: RefreshSettings,
    key_file: PathBuf,
    keys: OnceLock<KeyRing>,
}

impl MetricsEnv {
    pub fn new(settings: &Settings) -> Self {
        Self {
            settings: settings.metrics.clone(),
            refresh: settings.ems_refresh.clone(),
            key_file: settings.server.key_file.clone(),
            keys: OnceLock::new(),
        }
    }

    /// The region's key ring (the node created it at start).
    pub fn keys(&self) -> Result<KeyRing, String> {
        if let Some(k) = self.keys.get() {
            return Ok(k.clone());
        }
        let keys = KeyRing::load_or_create(&self.key_file)
            .map_err(|e| format!("key file {}: {e}", self.key_file.display()))?;
        Ok(self.keys.get_or_init(|| keys).clone())
    }
}
