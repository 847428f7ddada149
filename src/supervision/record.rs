//! The `server_components` table: one row per supervised component of each server
//! (status, incarnation start, restarts, the last failure and when). Written by the
//! node whenever a state changes; read by `steward status` and `/api/servers`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::server_components as sc;
use crate::db::{DbConnection, DbError, write_transaction};

/// A component's state, as its supervisor keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable)]
pub struct ComponentState {
    pub name: String,
    /// `running`, `restarting` (waiting out its backoff), `stopped` or `failed`
    /// (gave up: the node is stopping).
    pub status: String,
    /// When the current incarnation started.
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub started_on: Option<NaiveDateTime>,
    pub restarts: i32,
    /// Why the last incarnation ended (empty if none failed).
    pub last_exit_reason: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub last_exit_on: Option<NaiveDateTime>,
}

/// A component row with its server id, for the region view.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct ComponentRow {
    #[serde(skip)]
    pub server_id: i64,
    #[serde(flatten)]
    pub state: ComponentState,
}

/// Writes a server's component rows: updates those that exist, inserts the others,
/// removes rows of components this server no longer runs.
pub fn sync_component_rows(
    conn: &mut DbConnection,
    server_id: i64,
    states: &[ComponentState],
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        let names: Vec<&str> = states.iter().map(|s| s.name.as_str()).collect();
        diesel::delete(
            sc::table
                .filter(sc::server_id.eq(server_id))
                .filter(sc::name.ne_all(&names)),
        )
        .execute(conn)?;
        for s in states {
            let fields = (
                sc::status.eq(&s.status),
                sc::started_on.eq(s.started_on),
                sc::restarts.eq(s.restarts),
                sc::last_exit_reason.eq(crate::text::truncate(&s.last_exit_reason, 2000)),
                sc::last_exit_on.eq(s.last_exit_on),
            );
            let updated = diesel::update(
                sc::table
                    .filter(sc::server_id.eq(server_id))
                    .filter(sc::name.eq(&s.name)),
            )
            .set(fields)
            .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(sc::table)
                    .values((sc::server_id.eq(server_id), sc::name.eq(&s.name), fields))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// Every server's component rows, by server and name.
pub fn components_of(conn: &mut DbConnection) -> Result<Vec<ComponentRow>, DbError> {
    Ok(sc::table
        .select((
            sc::server_id,
            (
                sc::name,
                sc::status,
                sc::started_on,
                sc::restarts,
                sc::last_exit_reason,
                sc::last_exit_on,
            ),
        ))
        .order((sc::server_id, sc::name))
        .load(conn)?)
}
