//! The `workers` table: one row per worker slot of each server (type, status, last
//! heartbeat, started_on, messages done, restarts, last exit reason, memory, current
//! message). Written by each pool in one transaction; read by `steward status` and
//! `GET /api/workers`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{servers, workers};
use crate::db::{DbConnection, DbError, write_transaction};

/// One slot's row, as a pool writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    pub worker_type: String,
    pub slot: i32,
    pub status: String,
    pub started_on: Option<NaiveDateTime>,
    pub last_heartbeat: Option<NaiveDateTime>,
    pub messages_done: i64,
    pub restarts: i32,
    pub last_exit_reason: String,
    pub memory_bytes: i64,
    pub current_message_id: Option<i64>,
}

/// Writes a pool's rows (insert or update by server, type and slot).
pub fn sync_worker_rows(
    conn: &mut DbConnection,
    server_id: i64,
    rows: &[WorkerRow],
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        for row in rows {
            let fields = (
                workers::status.eq(&row.status),
                workers::started_on.eq(row.started_on),
                workers::last_heartbeat.eq(row.last_heartbeat),
                workers::messages_done.eq(row.messages_done),
                workers::restarts.eq(row.restarts),
                workers::last_exit_reason.eq(&row.last_exit_reason),
                workers::memory_bytes.eq(row.memory_bytes),
                workers::current_message_id.eq(row.current_message_id),
            );
            let updated = diesel::update(
                workers::table
                    .filter(workers::server_id.eq(server_id))
                    .filter(workers::worker_type.eq(&row.worker_type))
                    .filter(workers::slot.eq(row.slot)),
            )
            .set(fields)
            .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(workers::table)
                    .values((
                        workers::server_id.eq(server_id),
                        workers::worker_type.eq(&row.worker_type),
                        workers::slot.eq(row.slot),
                        fields,
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// Removes a server's worker rows (at start: the previous run's workers are gone).
pub fn delete_worker_rows_of(conn: &mut DbConnection, server_id: i64) -> Result<(), DbError> {
    diesel::delete(workers::table.filter(workers::server_id.eq(server_id))).execute(conn)?;
    Ok(())
}

/// A worker row with its server, for the API and `steward status`.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct WorkerView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    #[serde(serialize_with = "crate::json::id")]
    pub server_id: i64,
    pub server: String,
    pub worker_type: String,
    pub slot: i32,
    pub status: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub started_on: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub last_heartbeat: Option<NaiveDateTime>,
    pub messages_done: i64,
    pub restarts: i32,
    pub last_exit_reason: String,
    pub memory_bytes: i64,
    #[serde(serialize_with = "crate::json::id_opt")]
    pub current_message_id: Option<i64>,
}

/// All workers of the region, by server, type and slot.
pub fn list_workers(conn: &mut DbConnection) -> Result<Vec<WorkerView>, DbError> {
    Ok(workers::table
        .inner_join(servers::table)
        .select((
            workers::id,
            workers::server_id,
            servers::name,
            workers::worker_type,
            workers::slot,
            workers::status,
            workers::started_on,
            workers::last_heartbeat,
            workers::messages_done,
            workers::restarts,
            workers::last_exit_reason,
            workers::memory_bytes,
            workers::current_message_id,
        ))
        .order((workers::server_id, workers::worker_type, workers::slot))
        .load(conn)?)
}
