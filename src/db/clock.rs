//! The database's clock: the one clock every node of a region shares. Heartbeats,
//! "not responding", role leases and `deliver_on` are judged by it, never by a node's
//! own clock (which may be wrong; see [`crate::clock`]).

use chrono::NaiveDateTime;
use diesel::RunQueryDsl;
use diesel::dsl::sql;
use diesel::sql_types::Timestamp;

use super::{DbConnection, DbError};

/// The database server's current UTC time. On PostgreSQL `clock_timestamp()` (the
/// real time, not the transaction's start, which may be a lock wait ago); SQLite runs
/// in-process, so its clock is the operating system's.
pub fn db_now(conn: &mut DbConnection) -> Result<NaiveDateTime, DbError> {
    let now = match conn {
        DbConnection::Postgresql(pg) => {
            diesel::select(sql::<Timestamp>("(clock_timestamp() AT TIME ZONE 'UTC')"))
                .get_result(pg)?
        }
        DbConnection::Sqlite(lite) => {
            diesel::select(sql::<Timestamp>("strftime('%Y-%m-%d %H:%M:%f', 'now')"))
                .get_result(lite)?
        }
    };
    Ok(now)
}
