//! A node's life, start to stop:
//!
//! ```text
//! lock data dir ─ bind the web and live feed ports ─ connect DB (retry w/ backoff) ─ migrate
//!   ─ register (starting) ─ assign roles ─ components under supervision
//!   (registry, dispatcher, completion writer, …) ─ serve web and live feed
//!   ─ mark started
//!   ··· SIGINT/SIGTERM, or a part beyond repair ···
//!   stopping ─ stop web ─ close the live feed's listener ─ stop refreshing ─ stop claiming ─ workers finish
//!   ─ flush completions ─ hand back unfinished messages ─ stop the rest
//!   ─ deactivate roles ─ stopped
//! ```
//!
//! What can stop a start is checked before the server is registered (data
//! directory, port, database), so a failed start never leaves a row `starting`;
//! once registered, every way out goes through the graceful stop.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::queue_stack::{Identity, QueueStack};
use super::registry::{Registry, RegistryConfig};
use super::supervisor::{AttachWeb, FINAL_WRITE, NodeSupervisor, Shutdown};
use super::{DataDir, NodeError, StopSignal, host_name};
use crate::backoff::Backoff;
use crate::crypto::KeyRing;
use crate::db::{Db, DbError, migrate};
use crate::metrics::coordinator::MetricsCoordinator;
use crate::queue::{ClaimFence, RoutesChanged};
use crate::refresh::{RefreshHandle, RefreshManager};
use crate::region::{self, HeartbeatPolicy, ServerIdentity, ServerStatus};
use crate::settings::{DatabaseUrl, Settings};
use crate::supervision::{Fatal, FaultHooks, Supervision, SupervisionLimits};
use crate::web::{AppState, Application, LiveFeedAddress, WebsocketListener};

/// How `steward start` was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Start a simulated cluster in-process and register it as the provider `demo`.
    pub demo: bool,
}

/// Runs a node until SIGINT/SIGTERM (or until a part of it fails beyond repair).
/// Must be called inside an actix `System`.
pub async fn run(mut settings: Settings, options: RunOptions) -> Result<(), NodeError> {
    if options.demo {
        // Show samples of the demo cluster within a minute, not after 3.
        let interval = &mut settings.metrics.coordinator_interval;
        *interval = (*interval).min(Duration::from_secs(20));
    }
    let settings = Arc::new(settings);
    let data_dir = DataDir::open(&settings.server.data_dir)?;
    let listener = Application::bind(settings.web.bind, settings.web.port)?;
    let live_listener = WebsocketListener::bind(settings.web.bind, settings.websocket.port)?;
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
    let report = tokio::select! {
        report = retry_while_unreachable("migrate", || db.run(move |c| migrate(c, region_number))) => report?,
        signal = stop.recv() => {
            tracing::info!(signal, "stop requested before the database was reachable; exiting");
            return Ok(());
        }
    };
    tracing::info!(
        applied = report.applied.len(),
        region = report.region,
        "database schema ready"
    );
    let dir = data_dir.path().to_path_buf();
    retry_while_unreachable("create the defaults of users and groups", || {
        let dir = dir.clone();
        db.run(move |c| crate::auth::bootstrap::bootstrap(c, &dir))
    })
    .await?;

    let keys =
        KeyRing::load_or_create(&settings.server.key_file).map_err(|e| NodeError::DataDir {
            path: settings.server.key_file.clone(),
            reason: e.to_string(),
        })?;
    retry_while_unreachable("check the region's credential key", || {
        let keys = keys.clone();
        db.run(move |c| match crate::region::ensure_region_key(c, &keys) {
            Err(crate::region::RegionKeyError::Db(e)) => Err(e),
            other => Ok(other),
        })
    })
    .await?
    .map_err(|e| NodeError::Key(e.to_string()))?;
    // Upgrade legacy values and finish a rotation that was interrupted.
    let resealed = {
        let keys = keys.clone();
        db.run(move |c| crate::region::key::reseal_stale(c, &keys))
            .await
    };
    match resealed {
        Ok(report) if report.resealed > 0 || !report.unreadable.is_empty() => tracing::info!(
            resealed = report.resealed,
            unreadable = ?report.unreadable,
            key_id = keys.id(),
            "re-sealed stored credentials with the region's current key"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not re-seal stored credentials"),
    }
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
    let listeners = Listeners {
        web: listener,
        live_feed: live_listener,
    };
    let served = serve(&node, listeners, &settings, keys, &mut stop).await;
    let deadline = settings.server.shutdown_timeout;
    let why = match &served {
        Ok(Ended::Signal(signal)) => format!("{signal} received"),
        Ok(Ended::Fatal(fatal)) => fatal.to_string(),
        Err(error) => error.to_string(),
    };
    tracing::info!(
        reason = %why,
        deadline_ms = deadline.as_millis() as u64,
        "stopping gracefully"
    );
    match node
        .supervisor
        .send(Shutdown { deadline })
        .timeout(deadline + FINAL_WRITE + Duration::from_secs(1))
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
    match served? {
        Ended::Signal(_) => Ok(()),
        Ended::Fatal(fatal) => Err(NodeError::ComponentFailed(fatal)),
    }
}

/// Why a running node stops.
enum Ended {
    Signal(&'static str),
    Fatal(Fatal),
}

/// The sockets bound at start.
struct Listeners {
    web: std::net::TcpListener,
    live_feed: std::net::TcpListener,
}

/// Where the live feed's listener is reached, from the bound sockets and the settings.
fn live_feed_address(settings: &Settings, listeners: &Listeners) -> LiveFeedAddress {
    let port_of = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    let fallback_host = match listeners.web.local_addr() {
        Ok(addr) if addr.ip().is_unspecified() => "127.0.0.1".to_string(),
        Ok(std::net::SocketAddr::V6(addr)) => format!("[{}]", addr.ip()),
        Ok(addr) => addr.ip().to_string(),
        Err(_) => "127.0.0.1".to_string(),
    };
    LiveFeedAddress {
        port: port_of(&listeners.live_feed),
        external_url: settings.websocket.external_url.clone(),
        web_port: port_of(&listeners.web),
        web_external_url: settings.web.external_url.clone(),
        fallback_host,
    }
}

/// Serves the web API and the live feed, marks the server started, and waits for a
/// reason to stop.
async fn serve(
    node: &BootedNode,
    listeners: Listeners,
    settings: &Arc<Settings>,
    keys: KeyRing,
    stop: &mut StopSignal,
) -> Result<Ended, NodeError> {
    let db = node.db.clone();
    let server_id = node.server_id;
    let live_feed = Arc::new(live_feed_address(settings, &listeners));
    let Listeners {
        web: listener,
        live_feed: live_listener,
    } = listeners;
    let external_url = match &settings.web.external_url {
        Some(url) => url.clone(),
        None => listener
            .local_addr()
            .map(|a| format!("http://{a}"))
            .unwrap_or_default(),
    };
    let web_state = AppState {
        token_cache: Arc::new(crate::web::TokenCache::new(settings.api.token_ttl)),
        count_cache: Arc::default(),
        hub: node.hub.clone(),
        request_counts: Arc::new(crate::web::RequestCounts::default()),
        login_throttle: Arc::new(crate::web::LoginThrottle::new(
            settings.api.login_rate_limit,
            settings.api.login_rate_window,
        )),
        api_base: format!("{external_url}/api").into(),
        db: db.clone(),
        server_id,
        queue: node.queue_client.clone(),
        handlers: node.handlers.clone(),
        node_stats: node.queue_stats.clone(),
        keys,
        settings: settings.clone(),
        refresh: node.refresh.clone(),
        live_feed: live_feed.clone(),
    };
    let live_url = live_feed.url_for(None);
    node.supervision.start(WebsocketListener::new(
        live_listener,
        web_state.clone(),
        (*live_feed).clone(),
    ));
    let app = Application::build(
        listener,
        settings.server.shutdown_timeout.as_secs().max(1),
        web_state,
    )?;
    let url = format!("http://{}", app.addr());
    let (web, mut web_ended) = app.spawn();
    node.supervisor.do_send(AttachWeb(web));
    let mut fatal = node.supervision.fatal();
    let url_for_db = url.clone();
    let record = retry_while_unreachable("record started", || {
        let url = url_for_db.clone();
        db.run(move |c| {
            region::set_url(c, server_id, &url)?;
            region::set_status(c, server_id, ServerStatus::Started)
        })
    });
    tokio::select! {
        recorded = record => recorded?,
        signal = stop.recv() => return Ok(Ended::Signal(signal)),
    }
    tracing::info!(%url, "listening on {url}");
    tracing::info!(url = %live_url, "live feed listening on {live_url}");
    tracing::info!(server_id, "server started");
    Ok(tokio::select! {
        signal = stop.recv() => Ended::Signal(signal),
        found = fatal.wait_for(Option::is_some) => match found.ok().and_then(|f| f.clone()) {
            Some(fatal) => Ended::Fatal(fatal),
            None => Ended::Fatal(Fatal {
                component: "supervision".into(),
                reason: "the supervisor went away".into(),
            }),
        },
        why = &mut web_ended => Ended::Fatal(Fatal {
            component: "web".into(),
            reason: why.unwrap_or_else(|_| "the web server vanished".into()),
        }),
    })
}

/// A node's parts, started: what `steward start` and in-process benchmarks share.
pub struct BootedNode {
    pub db: Db,
    pub server_id: i64,
    /// Keeps this node's refresh workers in line with its role and providers.
    pub refresh: RefreshHandle,
    pub server_guid: String,
    pub supervisor: Addr<NodeSupervisor>,
    /// The node's supervised components (and their fault hooks).
    pub supervision: Supervision,
    pub queue_client: crate::queue::QueueClient,
    pub handlers: Arc<crate::queue::handlers::HandlerRegistry>,
    pub queue_stats: Arc<crate::queue::NodeQueueStats>,
    /// The live feed served at `/ws`.
    pub hub: Arc<crate::live::Hub>,
}

/// Registers the server `guid` (status `starting`), assigns its roles, and starts its
/// components and worker pools under a `NodeSupervisor`. Must run inside an actix
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

    let s = &settings.supervision;
    let supervision = Supervision::new(
        SupervisionLimits {
            restart_backoff: s.restart_backoff,
            restart_backoff_max: s.restart_backoff_max,
            max_restarts: s.component_max_restarts,
            restart_window: s.component_restart_window,
        },
        FaultHooks::default(),
    );
    let (routes_tx, routes_rx) = watch::channel(RoutesChanged::default());
    let fence = Arc::new(ClaimFence::default());
    let queue = QueueStack::start(
        db.clone(),
        &settings,
        Identity {
            server_id,
            server_guid: guid.clone(),
            zone: who.zone.clone(),
        },
        routes_rx.clone(),
        fence.clone(),
        &supervision,
        keys.clone(),
    );
    supervision.start(MetricsCoordinator {
        db: db.clone(),
        settings: Arc::new(settings.metrics.clone()),
        zone: who.zone.clone(),
        routes: routes_rx.clone(),
    });
    let refresh_manager = RefreshManager::new(
        queue.worker_parts(),
        settings.clone(),
        keys.clone(),
        routes_rx.clone(),
    );
    let refresh = refresh_manager.handle();
    supervision.start(refresh_manager);
    let event_manager = crate::events::EventManager::new(
        queue.worker_parts(),
        settings.clone(),
        keys,
        routes_rx.clone(),
        queue.handlers.clone(),
    );
    // Its pools are in the queue's pool set: the queue's shutdown stops them.
    supervision.start(event_manager);
    supervision.start(crate::alerts::control::ControlAlerts {
        db: db.clone(),
        settings: settings.clone(),
        server_name: who.name.clone(),
        data_dir: settings.server.data_dir.clone(),
        routes: routes_rx.clone(),
    });
    supervision.start(crate::events::EventRetention {
        db: db.clone(),
        settings: settings.clone(),
        routes: routes_rx.clone(),
    });
    supervision.start(crate::notify::Notifier {
        db: db.clone(),
        settings: Arc::new(settings.notifier.clone()),
        routes: routes_rx,
    });
    let ws = &settings.websocket;
    let hub = crate::live::Hub::new(ws.client_buffer, ws.replay);
    // Always running: it reads for `/ws`'s subscribers only while there are some (none
    // where the websocket role is not run), and purges the inventory change log.
    supervision.start(crate::live::LiveFeeds {
        db: db.clone(),
        hub: hub.clone(),
        queue_interval: ws.queue_interval,
        servers_interval: ws.servers_interval,
        inventory_poll: ws.inventory_poll,
        change_retention: ws.change_retention,
    });
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
    let (node_db, node_supervision, node_refresh) =
        (db.clone(), supervision.clone(), refresh.clone());
    let supervisor = NodeSupervisor::create(move |ctx| {
        node_supervision.start(Registry::new(
            node_db.clone(),
            server_id,
            registry_config,
            routes_tx,
            fence,
            Some(ctx.address().recipient()),
        ));
        NodeSupervisor::new(node_db, server_id, node_supervision, queue, node_refresh)
    });
    Ok(BootedNode {
        db,
        server_id,
        refresh,
        server_guid: guid,
        supervisor,
        supervision,
        queue_client,
        handlers,
        queue_stats,
        hub,
    })
}

/// Connects to the database, retrying with capped exponential backoff and a log line
/// per failure until it answers: a node waits for its PostgreSQL. A database that
/// answers but refuses us (authentication, no such database) and an SQLite file that
/// cannot be opened are problems no wait will fix: they fail at once.
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
                Err(DbError::Unreachable(reason)) if is_sqlite => Err(DbError::Refused(format!(
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
