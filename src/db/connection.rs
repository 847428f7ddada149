//! One connection type over PostgreSQL and SQLite, and the r2d2 manager that opens
//! the right one for the configured URL (SQLite gets its pragmas on every open).

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use crate::settings::DatabaseUrl;

/// A connection to the region database, whichever backend it is.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which backend a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Statements this process has sent to the database, over every connection
/// (diesel's instrumentation, `StartQuery` events): what `/metrics` reports as
/// `steward_db_statements_total`, and how `steward bench api` counts a page's statements.
static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Statements sent so far by this process.
pub fn statements_executed() -> u64 {
    STATEMENTS.load(std::sync::atomic::Ordering::Relaxed)
}

fn count_statements(event: diesel::connection::InstrumentationEvent<'_>) {
    if matches!(
        event,
        diesel::connection::InstrumentationEvent::StartQuery { .. }
    ) {
        STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Per-connection SQLite settings: WAL so readers never block the writer, a busy
/// timeout instead of "database is locked", and foreign keys (off by default).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 15000; \
     PRAGMA foreign_keys = ON;";

/// Opens connections for r2d2.
#[derive(Debug, Clone)]
pub struct Manager {
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Postgres(String),
    Sqlite(String),
}

impl Manager {
    /// A manager for `url`. PostgreSQL URLs get a libpq `connect_timeout`, and TCP
    /// keepalives plus a user timeout, unless they carry their own: a connection to a
    /// server that vanished (a failover, a cut network) then fails within seconds
    /// instead of hanging a heartbeat until the kernel gives up hours later.
    pub fn new(url: &DatabaseUrl, connect_timeout: std::time::Duration) -> Self {
        let target = match url {
            DatabaseUrl::Postgres(u) => {
                let secs = connect_timeout.as_secs().max(1);
                let mut u = u.clone();
                for (key, value) in [
                    ("connect_timeout", secs.to_string()),
                    ("keepalives_idle", "5".to_string()),
                    ("keepalives_interval", "2".to_string()),
                    ("keepalives_count", "3".to_string()),
                    ("tcp_user_timeout", "10000".to_string()),
                ] {
                    if !u.contains(&format!("{key}=")) {
                        let sep = if u.contains('?') { '&' } else { '?' };
                        u = format!("{u}{sep}{key}={value}");
                    }
                }
                Target::Postgres(u)
            }
            DatabaseUrl::Sqlite(path) => Target::Sqlite(path.display().to_string()),
        };
        Self { target }
    }

    pub fn backend(&self) -> Backend {
        match self.target {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.target {
            Target::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.set_instrumentation(count_statements);
                Ok(DbConnection::Postgresql(conn))
            }
            Target::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .and_then(|()| super::sqlite_functions::register(&mut conn))
                    .map_err(|e| {
                        diesel::r2d2::Error::ConnectionError(
                            ConnectionError::CouldntSetupConfiguration(e),
                        )
                    })?;
                conn.set_instrumentation(count_statements);
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}
