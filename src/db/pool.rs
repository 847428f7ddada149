//! The connection pool and the bridge from async code to blocking diesel calls.

use std::time::Duration;

use diesel::r2d2::{self, Pool};

use super::{Backend, DbConnection, DbError, Manager};
use crate::settings::DatabaseSettings;

/// A handle to the region database: cheap to clone, shared by every actor of a node.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    masked_url: String,
    manager: Manager,
    /// Bumped whenever this process puts messages (and, on PostgreSQL, when a NOTIFY
    /// arrives from another process), so idle dispatchers wake at once.
    queue_signal: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// Bumped when inventory changes were recorded: by this process's refreshes, and on
    /// PostgreSQL by a NOTIFY on [`INVENTORY_CHANNEL`] from any process.
    inventory_signal: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// The PostgreSQL NOTIFY channel on which inventory changes are announced (the queue's
/// LISTEN thread hears it and bumps [`Db::inventory_signal`]).
pub const INVENTORY_CHANNEL: &str = "steward_inventory";

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("url", &self.masked_url)
            .finish()
    }
}

/// r2d2 would log every failed background connect through `log`; we report
/// reachability ourselves, once per attempt, through tracing.
#[derive(Debug)]
struct QuietErrors;

impl<E> r2d2::HandleError<E> for QuietErrors
where
    E: std::fmt::Display,
{
    fn handle_error(&self, error: E) {
        tracing::debug!(%error, "database connection attempt failed");
    }
}

impl Db {
    /// Opens a pool; fails if no connection can be made within the connect timeout.
    /// SQLite files are created (with their directory) if missing.
    pub fn connect(settings: &DatabaseSettings) -> Result<Self, DbError> {
        if let crate::settings::DatabaseUrl::Sqlite(path) = &settings.url
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                DbError::Unreachable(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let manager = Manager::new(&settings.url, settings.connect_timeout);
        let backend = manager.backend();
        let dedicated = manager.clone();
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            .connection_timeout(settings.connect_timeout)
            .error_handler(Box::new(QuietErrors))
            .build(manager)
            .map_err(|e| {
                let text = e.to_string().trim().to_string();
                if super::error::is_refusal(&text) {
                    DbError::Refused(text)
                } else {
                    DbError::Unreachable(text)
                }
            })?;
        Ok(Self {
            pool,
            backend,
            masked_url: settings.url.masked(),
            manager: dedicated,
            queue_signal: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            inventory_signal: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its password masked.
    pub fn masked_url(&self) -> &str {
        &self.masked_url
    }

    /// Runs `f` with a pooled connection on the calling thread. For sync contexts
    /// (CLI commands, blocking workers) only; async code uses [`Db::run`].
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Runs `f` with a pooled connection on a blocking thread, keeping the caller's span
    /// and memory-accounting slot (so a worker's database work counts as the worker's).
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        let slot = crate::workers::memory::thread_slot();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _accounting = crate::workers::memory::AccountingScope::enter(slot);
            db.with_conn(f)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// Wakes this process's idle dispatchers: messages were put.
    pub fn signal_queue(&self) {
        self.queue_signal.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever [`Db::signal_queue`] is called.
    pub fn queue_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.queue_signal.subscribe()
    }

    /// Wakes this process's live feed: inventory changes were recorded.
    pub fn signal_inventory(&self) {
        self.inventory_signal
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever [`Db::signal_inventory`] is called.
    pub fn inventory_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inventory_signal.subscribe()
    }

    /// A connection outside the pool, for a component that keeps one for itself (the
    /// LISTEN thread).
    pub fn dedicated_connection(&self) -> Result<DbConnection, DbError> {
        use diesel::r2d2::ManageConnection;
        self.manager
            .connect()
            .map_err(|e| DbError::Unreachable(e.to_string()))
    }

    /// Connections currently open and idle, for status and tests.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// The configured pool size.
    pub fn max_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// Waits for a connection at most `timeout`; used by health checks.
    pub fn check(&self, timeout: Duration) -> Result<(), DbError> {
        self.pool
            .get_timeout(timeout)
            .map(|_| ())
            .map_err(DbError::from)
    }
}
