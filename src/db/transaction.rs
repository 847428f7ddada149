//! Write transactions that behave the same on both backends. On SQLite a plain
//! `BEGIN` takes the write lock only at the first write and can then fail with
//! "database is locked" without waiting; `BEGIN IMMEDIATE` takes it up front, so the
//! busy timeout applies and writers queue instead of failing.

use diesel::Connection;
use diesel::connection::SimpleConnection;

use super::{DbConnection, DbError};

/// Runs `f` in a transaction that holds the write lock from its start.
/// `f` must not open transactions of its own.
pub fn write_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    match conn {
        DbConnection::Postgresql(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => {
            conn.batch_execute("BEGIN IMMEDIATE")?;
            let mut guard = RollbackGuard { conn, done: false };
            let value = f(guard.conn)?;
            guard.conn.batch_execute("COMMIT")?;
            guard.done = true;
            Ok(value)
        }
    }
}

/// [`write_transaction`] for work with errors of its own, which roll it back too.
pub fn write_transaction_with<T, E: From<DbError>>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    let mut failure: Option<E> = None;
    let done = write_transaction(conn, |c| {
        f(c).map_err(|e| {
            failure = Some(e);
            DbError::Task("rolled back".into())
        })
    });
    match (done, failure) {
        (_, Some(e)) => Err(e),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(e.into()),
    }
}

/// Serialises region-wide bookkeeping (heartbeats, registration, role leases, master
/// election) across servers, like ManageIQ's `MiqRegion#lock`. Take it first in the
/// transaction: every such transaction then locks rows in the same order and none can
/// deadlock another. PostgreSQL locks the region row; SQLite's write transaction
/// already admits one writer.
pub fn lock_region(conn: &mut DbConnection) -> Result<(), DbError> {
    use diesel::prelude::*;
    if let DbConnection::Postgresql(pg) = conn {
        use super::schema::regions;
        regions::table
            .select(regions::id)
            .order(regions::id)
            .limit(1)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// Rolls back on every way out that is not a commit: an error or a panic.
struct RollbackGuard<'a> {
    conn: &'a mut DbConnection,
    done: bool,
}

impl Drop for RollbackGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.batch_execute("ROLLBACK");
        }
    }
}
