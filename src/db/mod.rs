//! The region database: one connection type over PostgreSQL and SQLite, an r2d2 pool,
//! embedded migrations, region-encoded ids, and the helpers that run statements on
//! blocking threads. Backend-specific SQL lives in a few clearly named functions.

mod clock;
mod connection;
mod error;
pub mod ids;
mod migrate;
mod pool;
pub mod schema;
mod sqlite_functions;
mod transaction;

pub use clock::db_now;
pub use connection::{Backend, DbConnection, Manager, statements_executed};
pub use error::DbError;
pub use migrate::{MigrationReport, ensure_zone, migrate};
pub use pool::{Db, INVENTORY_CHANNEL};
pub use transaction::{lock_region, write_transaction, write_transaction_with};

/// Runs the same diesel code on the concrete connection of either backend, for the
/// statements `MultiConnection` cannot express (batch inserts with SQLite, upserts,
/// `FOR UPDATE SKIP LOCKED`): `with_backend!(conn, c => insert_into(t).values(&rows).execute(c))`.
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
