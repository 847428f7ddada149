//! Which server has which role (`assigned_server_roles`): assignment from the node's
//! settings, activation on the heartbeat, deactivation on stop.

use diesel::prelude::*;

use crate::db::schema::{assigned_server_roles as asr, server_roles};
use crate::db::{DbConnection, DbError};

/// Makes this server's assignments match `enabled`, with priority 1 for the roles in
/// `primary` and 2 for the rest. Roles no longer enabled are removed.
pub fn assign_roles(
    conn: &mut DbConnection,
    server_id: i64,
    enabled: &[String],
    primary: &[String],
) -> Result<(), DbError> {
    let catalogue: Vec<(i64, String)> = server_roles::table
        .select((server_roles::id, server_roles::name))
        .load(conn)?;
    let wanted: Vec<(i64, i32)> = catalogue
        .iter()
        .filter(|(_, name)| enabled.contains(name))
        .map(|(id, name)| (*id, if primary.contains(name) { 1 } else { 2 }))
        .collect();
    let wanted_ids: Vec<i64> = wanted.iter().map(|(id, _)| *id).collect();
    diesel::delete(
        asr::table
            .filter(asr::server_id.eq(server_id))
            .filter(asr::server_role_id.ne_all(&wanted_ids)),
    )
    .execute(conn)?;
    for (role_id, priority) in wanted {
        let updated = diesel::update(
            asr::table
                .filter(asr::server_id.eq(server_id))
                .filter(asr::server_role_id.eq(role_id)),
        )
        .set(asr::priority.eq(priority))
        .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(asr::table)
                .values((
                    asr::server_id.eq(server_id),
                    asr::server_role_id.eq(role_id),
                    asr::priority.eq(priority),
                    asr::active.eq(false),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Marks every role of this server inactive (graceful stop).
pub fn deactivate_roles(conn: &mut DbConnection, server_id: i64) -> Result<(), DbError> {
    diesel::update(asr::table.filter(asr::server_id.eq(server_id)))
        .set((
            asr::active.eq(false),
            asr::lease_expires_on.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}
