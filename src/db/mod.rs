//! The region database: one connection type over PostgreSQL and SQLite, an r2d2 pool,
//! embedded migrations, region-encoded ids, and the helpers that run statements on
//! blocking threads. Backend-specific SQL lives in a few clearly named functions.

mod connection;
mod error;
pub mod ids;
mod migrate;
mod pool;
pub mod schema;
mod transaction;

pub use connection::{Backend, DbConnection, Manager};
pub use error::DbError;
pub use migrate::{MigrationReport, ensure_zone, migrate};
pub use pool::Db;
pub use transaction::write_transaction;
