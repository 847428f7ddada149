//! Which server has which role (`assigned_server_roles`): assignment from the node's
//! settings, activation on the heartbeat, deactivation on stop.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{assigned_server_roles as asr, server_roles, servers};
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

/// Activates this server's roles: unlimited roles at once; a single-active role only
/// when no live server of its scope (zone or region) holds it. Returns the names of
/// the roles that became active.
pub fn sync_role_activation(
    conn: &mut DbConnection,
    server_id: i64,
    cutoff: NaiveDateTime,
) -> Result<Vec<String>, DbError> {
    let my_zone: i64 = servers::table
        .find(server_id)
        .select(servers::zone_id)
        .first(conn)?;
    let mine: Vec<(i64, i64, String, String, i32, bool)> = asr::table
        .inner_join(server_roles::table)
        .filter(asr::server_id.eq(server_id))
        .select((
            asr::id,
            server_roles::id,
            server_roles::name,
            server_roles::scope,
            server_roles::max_concurrent,
            asr::active,
        ))
        .load(conn)?;
    let mut activated = Vec::new();
    for (assignment_id, role_id, name, scope, max_concurrent, active) in mine {
        if active {
            continue;
        }
        let free = if max_concurrent == 0 {
            true
        } else {
            let mut holders = asr::table
                .inner_join(servers::table)
                .filter(asr::server_role_id.eq(role_id))
                .filter(asr::active.eq(true))
                .filter(asr::server_id.ne(server_id))
                .filter(servers::last_heartbeat.ge(cutoff))
                .into_boxed();
            if scope == "zone" {
                holders = holders.filter(servers::zone_id.eq(my_zone));
            }
            holders.count().get_result::<i64>(conn)? == 0
        };
        if free {
            diesel::update(asr::table.find(assignment_id))
                .set(asr::active.eq(true))
                .execute(conn)?;
            activated.push(name);
        }
    }
    Ok(activated)
}

/// Marks every role of this server inactive (graceful stop).
pub fn deactivate_roles(conn: &mut DbConnection, server_id: i64) -> Result<(), DbError> {
    diesel::update(asr::table.filter(asr::server_id.eq(server_id)))
        .set(asr::active.eq(false))
        .execute(conn)?;
    Ok(())
}
