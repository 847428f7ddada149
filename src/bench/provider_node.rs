//! What the refresh and metrics benchmarks share: a node booted in this process on a
//! fresh, migrated database, with one provider pointing at a simulated cluster.

use std::sync::Arc;
use std::time::Duration;

use super::database::BenchDatabase;
use crate::db::{Db, migrate};
use crate::node::{BootedNode, Shutdown, boot};
use crate::providers::{ProviderInput, insert_provider};
use crate::settings::Settings;

pub struct ProviderNode {
    pub db: Db,
    pub node: BootedNode,
    pub provider_id: i64,
    keys: crate::crypto::KeyRing,
    /// Dropped last: the throw-away database goes with it.
    _database: BenchDatabase,
}

impl ProviderNode {
    /// Migrates `database`, boots a node with `settings` (whose database is
    /// `database`), and adds the provider `bench` at `sim_url` (its Prometheus too when
    /// `prometheus`), which the node starts refreshing at once.
    pub async fn start(
        settings: Arc<Settings>,
        database: BenchDatabase,
        sim_url: &str,
        prometheus: bool,
    ) -> anyhow::Result<Self> {
        let db = {
            let s = settings.database.clone();
            tokio::task::spawn_blocking(move || Db::connect(&s)).await??
        };
        let region = settings.server.region;
        db.run(move |c| migrate(c, region)).await?;
        eprintln!(
            "bench: database {} ({})",
            db.masked_url(),
            db.backend().name()
        );
        let key_dir = std::env::temp_dir().join(format!(
            "steward-bench-key-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let keys = crate::crypto::KeyRing::load_or_create(&key_dir.join("v2_key"))?;
        let _ = std::fs::remove_dir_all(&key_dir);
        let node = boot(
            db.clone(),
            settings,
            uuid::Uuid::new_v4().to_string(),
            keys.clone(),
        )
        .await?;
        let input = ProviderInput {
            name: "bench".into(),
            provider_type: "kubernetes".into(),
            api_url: Some(sim_url.to_string()),
            prometheus_url: prometheus.then(|| sim_url.to_string()),
            allow_insecure_http: Some(true),
            ..ProviderInput::default()
        };
        let valid = input
            .validate(&crate::settings::ProviderSettings::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let sealing = keys.clone();
        let provider = db
            .run(move |c| Ok(insert_provider(c, &valid, &sealing, None)))
            .await??;
        node.refresh.recheck();
        Ok(Self {
            db,
            node,
            provider_id: provider.id,
            keys,
            _database: database,
        })
    }

    /// Adds another provider, `name` at `sim_url`; its id.
    pub async fn add_provider(&self, name: &str, sim_url: &str) -> anyhow::Result<i64> {
        let input = ProviderInput {
            name: name.into(),
            provider_type: "kubernetes".into(),
            api_url: Some(sim_url.to_string()),
            allow_insecure_http: Some(true),
            ..ProviderInput::default()
        };
        let valid = input
            .validate(&crate::settings::ProviderSettings::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let keys = self.keys.clone();
        let provider = self
            .db
            .run(move |c| Ok(insert_provider(c, &valid, &keys, None)))
            .await??;
        self.node.refresh.recheck();
        Ok(provider.id)
    }

    /// Stops the node's actors.
    pub async fn stop(&self) {
        let _ = self
            .node
            .supervisor
            .send(Shutdown {
                deadline: Duration::from_secs(10),
            })
            .await;
    }
}
