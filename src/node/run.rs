//! A node's life, start to stop:
//!
//! ```text
//! lock data dir ─ connect DB (retry w/ backoff) ─ migrate ─ register (starting)
//!   ─ assign roles ─ Registry heart-beats (routes) ─ queue stack ─ bind web
//!   ─ mark started
//!   ··· SIGINT/SIGTERM ··· stopping ─ stop web ─ stop claiming ─ workers finish
//!   ─ flush completions ─ hand back unfinished messages ─ deactivate roles ─ stopped
//! ```

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::queue_stack::{Identity, QueueStack};
use super::registry::{Registry, RegistryConfig};
use super::supervisor::{AttachWeb, NodeSupervisor, Shutdown};
use super::{DataDir, NodeError, StopSignal, host_name};
use crate::backoff::Backoff;
use crate::crypto::KeyRing;
use crate::db::{Db, DbError, migrate};
use crate::queue::RoutesChanged;
use crate::refresh::RefreshManager;
use crate::region::{self, HeartbeatPolicy, ServerIdentity, ServerStatus};
use crate::settings::{DatabaseUrl, Settings};
use crate::web::{AppState, Application};

/// Runs a node until SIGINT/SIGTERM. Must be called inside an actix `System`.
/// How `steward start` was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Start a simulated cluster in-process and register it as the provider `demo`.
    pub demo: bool,
}

pub async fn run(mut settings: Settings, options: RunOptions) -> Result<(), NodeError> {
    if options.demo {
        // Show samples of the demo cluster within a minute, not after 3.
        let interval = &mut settings.metrics.coordinator_interval;
        *interval = (*interval).min(Duration::from_secs(20));
    }
    let settings = Arc::new(settings);
    let data_dir = DataDir::open(&settings.server.data_dir)?;
    let mut stop = StopSignal::install().map_err(|e| NodeError::DataDir {
        path: data_dir.path().to_path_buf(),
        reason: format!("cannot install signal handlers: {e}"),
    })?;
    tracing::info!(
        server = %settings.server.name,
        zone = %settings.server.zone,
        region = settings.server.region,
        guid = %data_dir.guid(),
        database = %settings.database.url.masked(),
        "starting steward node"
    );

    let db = tokio::select! {
        db = connect_with_retry(&settings) => db?,
        signal = stop.recv() => {
            tracing::info!(signal, "stop requested before the database was reachable; exiting");
            return Ok(());
        }
    };
    let region_number = settings.server.region;
    let report =
        retry_while_unreachable("migrate", || db.run(move |c| migrate(c, region_number))).await?;
    tracing::info!(
        applied = report.applied.len(),
        region = report.region,
        "database schema ready"
    );

    let keys =
        KeyRing::load_or_create(&settings.server.key_file).map_err(|e| NodeError::DataDir {
            path: settings.server.key_file.clone(),
            reason: e.to_string(),
        })?;
    let demo = if options.demo {
        Some(super::start_demo(&db, &keys, &settings.server.zone).await?)
    } else {
        None
    };
    let node = boot(
        db.clone(),
        settings.clone(),
        data_dir.guid().to_string(),
        keys.clone(),
    )
    .await?;
    let (server_id, supervisor) = (node.server_id, node.supervisor.clone());
    let web_state = AppState {
        db: db.clone(),
        server_id,
        queue: node.queue_client.clone(),
        handlers: node.handlers.clone(),
        node_stats: node.queue_stats.clone(),
        keys,
        settings: settings.clone(),
        refresh: node.refresh.clone(),
    };

    let app = Application::build(
        settings.web.bind,
        settings.web.port,
        settings.server.shutdown_timeout.as_secs().max(1),
        web_state,
    )?;
    let url = format!("http://{}", app.addr());
    supervisor.do_send(AttachWeb(app.spawn()));
    let url_for_db = url.clone();
    db.run(move |c| region::set_url(c, server_id, &url_for_db))
        .await?;
    tracing::info!(%url, "listening on {url}");
    db.run(move |c| region::set_status(c, server_id, ServerStatus::Started))
        .await?;
    tracing::info!(server_id, "server started");

    let signal = stop.recv().await;
    let deadline = settings.server.shutdown_timeout;
    tracing::info!(
        signal,
        deadline_ms = deadline.as_millis() as u64,
        "stopping gracefully"
    );
    match supervisor
        .send(Shutdown { deadline })
        .timeout(deadline + Duration::from_secs(2))
        .await
    {
        Ok(lagging) if lagging.is_empty() => tracing::info!("server stopped"),
        Ok(lagging) => tracing::warn!(
            still_running = %lagging.join(", "),
            "stop deadline passed; exiting anyway"
        ),
        Err(error) => tracing::warn!(%error, "stop deadline passed; exiting anyway"),
    }
    if let Some(sim) = demo {
        sim.stop().await;
    }
    drop(data_dir);
    Ok(())
}

/// A node's actors, started: what `steward start` and in-process benchmarks share.
pub struct BootedNode {
    pub server_id: i64,
    /// Keeps this node's refresh workers in line with its role and providers.
    pub refresh: Addr<RefreshManager>,
    pub server_guid: String,
    pub supervisor: Addr<NodeSupervisor>,
    pub queue_client: crate::queue::QueueClient,
    pub handlers: Arc<crate::queue::handlers::HandlerRegistry>,
    pub queue_stats: Arc<crate::queue::NodeQueueStats>,
}

/// Registers the server `guid` (status `starting`), assigns its roles, and starts its
/// `Registry` and queue machinery under a `NodeSupervisor`. Must run inside an actix
/// `System`; the database must be migrated.
pub async fn boot(
    db: Db,
    settings: Arc<Settings>,
    guid: String,
    keys: KeyRing,
) -> Result<BootedNode, NodeError> {
    let who = ServerIdentity {
        guid: guid.clone(),
        name: settings.server.name.clone(),
        zone: settings.server.zone.clone(),
        hostname: host_name(),
        pid: std::process::id() as i32,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let roles = settings.roles.clone();
    let max_attempts = settings.queue.max_attempts as i32;
    let server_id = retry_while_unreachable("register", || {
        let (who, roles) = (who.clone(), roles.clone());
        db.run(move |c| {
            let id = region::register(c, &who, max_attempts)?;
            region::assign_roles(c, id, &roles.enabled, &roles.primary)?;
            Ok(id)
        })
    })
    .await?;

    let (routes_tx, routes_rx) = watch::channel(RoutesChanged::default());
    let queue = QueueStack::start(
        db.clone(),
        &settings,
        Identity {
            server_id,
            server_guid: guid.clone(),
            zone: who.zone.clone(),
        },
        routes_rx.clone(),
    );
    actix_rt::spawn(crate::metrics::coordinator::run_coordinator(
        db.clone(),
        Arc::new(settings.metrics.clone()),
        who.zone.clone(),
        routes_rx.clone(),
    ));
    let refresh =
        RefreshManager::new(queue.worker_parts(), settings.clone(), keys, routes_rx).start();
    let (queue_client, handlers, queue_stats) = (
        queue.client.clone(),
        queue.handlers.clone(),
        queue.stats.clone(),
    );
    let registry_config = RegistryConfig {
        interval: settings.server.heartbeat_interval,
        policy: HeartbeatPolicy {
            heartbeat_timeout: settings.server.heartbeat_timeout,
            lease: settings.roles.lease_duration,
            max_attempts,
        },
        memory_threshold: settings.server.memory_threshold,
    };
    let refresh_child = refresh.clone();
    let supervisor = NodeSupervisor::create(move |ctx| {
        let registry = Registry::new(
            db.clone(),
            server_id,
            registry_config,
            routes_tx,
            Some(ctx.address().recipient()),
        )
        .start();
        NodeSupervisor::new(db, server_id, registry, queue, refresh_child)
    });
    Ok(BootedNode {
        server_id,
        refresh,
        server_guid: guid,
        supervisor,
        queue_client,
        handlers,
        queue_stats,
    })
}

/// Connects to the database, retrying with capped exponential backoff and a log line
/// per failure until it answers: a node waits for its PostgreSQL. An SQLite file that
/// cannot be opened is a local problem no wait will fix, so it fails at once.
pub async fn connect_with_retry(settings: &Settings) -> Result<Db, DbError> {
    let is_sqlite = matches!(settings.database.url, DatabaseUrl::Sqlite(_));
    let db_settings = settings.database.clone();
    retry_while_unreachable("connect", move || {
        let db_settings = db_settings.clone();
        async move {
            let opened = tokio::task::spawn_blocking(move || Db::connect(&db_settings))
                .await
                .map_err(|e| DbError::Task(e.to_string()))?;
            match opened {
                Err(DbError::Unreachable(reason)) if is_sqlite => Err(DbError::Migration(format!(
                    "cannot open the SQLite database: {reason}"
                ))),
                other => other,
            }
        }
    })
    .await
}

/// Runs `op` until it succeeds or fails with an error that waiting cannot fix.
/// Failures that may pass (database down, connection lost) are logged and retried
/// with capped exponential backoff (1 s → 30 s).
pub async fn retry_while_unreachable<T, F, Fut>(what: &str, mut op: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
{
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match op().await {
            Ok(value) => {
                if backoff.attempts() > 0 {
                    tracing::info!(
                        step = what,
                        attempts = backoff.attempts() + 1,
                        "database reachable again"
                    );
                }
                return Ok(value);
            }
            Err(error) if error.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    step = what,
                    %error,
                    attempt = backoff.attempts(),
                    retry_in_ms = delay.as_millis() as u64,
                    "database unreachable; retrying"
                );
                tokio::time::sleep(delay).await;
            }
            Err(error) => return Err(error),
        }
    }
}
