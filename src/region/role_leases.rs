//! Which server holds each role, renewed on every heartbeat.
//!
//! Roles with `max_concurrent` 0 are active on every server that has them. A
//! single-active role (one per zone, or one per region) is held by a **lease**: the
//! holder's `assigned_server_roles` row is `active` with `lease_expires_on` in the
//! future, pushed forward by each of its heartbeats. On its heartbeat a server:
//!
//! - holding the lease: renews it — unless a live server with a *better* priority has
//!   the role assigned, in which case it releases it (failback to a returning primary);
//! - not holding it: takes it if no live lease exists and it is the best live
//!   candidate (priority, then id). Everyone else waits.
//!
//! ```text
//! primary A ──beat──beat──X (killed)                  A returns ──beat──beat──
//! lease(A)  [──renewed──renewed──)expires                   B releases ↑   A takes ↑
//! secondary B ──beat──beat──beat──beat── takes ──beat──renews── beat ───── beat ──
//! ```
//!
//! Failover time ≤ lease duration + one heartbeat interval. "Live" means a heartbeat
//! within the lease duration, so a dead primary stops blocking the secondary as soon
//! as its lease could have expired. Decisions are serialised by the region lock the
//! heartbeat transaction takes first (see `db::lock_region`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{assigned_server_roles as asr, server_roles, servers};
use crate::db::{DbConnection, DbError};

/// One of this server's assignments, with its catalogue entry.
struct Mine {
    assignment_id: i64,
    role_id: i64,
    name: String,
    scope: String,
    max_concurrent: i32,
    priority: i32,
    active: bool,
    lease_expires_on: Option<NaiveDateTime>,
}

/// A server that has a role assigned, and whether it is alive and holding it.
struct Candidate {
    server_id: i64,
    priority: i32,
    live: bool,
    holds_lease: bool,
}

/// Renews, takes or releases this server's roles; returns the names active on it now.
/// Runs inside the heartbeat's write transaction, after the server's own beat.
pub fn sync_roles(
    conn: &mut DbConnection,
    server_id: i64,
    lease: std::time::Duration,
    now: NaiveDateTime,
) -> Result<Vec<String>, DbError> {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(12));
    let live_since = now - lease;
    let my_zone: i64 = servers::table
        .find(server_id)
        .select(servers::zone_id)
        .first(conn)?;
    let mine: Vec<Mine> = asr::table
        .inner_join(server_roles::table)
        .filter(asr::server_id.eq(server_id))
        .select((
            asr::id,
            server_roles::id,
            server_roles::name,
            server_roles::scope,
            server_roles::max_concurrent,
            asr::priority,
            asr::active,
            asr::lease_expires_on,
        ))
        .order(server_roles::name)
        .load::<(
            i64,
            i64,
            String,
            String,
            i32,
            i32,
            bool,
            Option<NaiveDateTime>,
        )>(conn)?
        .into_iter()
        .map(|r| Mine {
            assignment_id: r.0,
            role_id: r.1,
            name: r.2,
            scope: r.3,
            max_concurrent: r.4,
            priority: r.5,
            active: r.6,
            lease_expires_on: r.7,
        })
        .collect();

    let mut active = Vec::new();
    for role in mine {
        let holds = if role.max_concurrent == 0 {
            if !role.active {
                set_assignment(conn, role.assignment_id, true, None)?;
            }
            true
        } else {
            decide_single(
                conn,
                server_id,
                my_zone,
                &role,
                now,
                now + lease,
                live_since,
            )?
        };
        if holds {
            active.push(role.name);
        }
    }
    Ok(active)
}

fn decide_single(
    conn: &mut DbConnection,
    me: i64,
    my_zone: i64,
    role: &Mine,
    now: NaiveDateTime,
    new_expiry: NaiveDateTime,
    live_since: NaiveDateTime,
) -> Result<bool, DbError> {
    let others = candidates(conn, role, my_zone, me, now, live_since)?;
    let i_hold = role.active && role.lease_expires_on.is_some_and(|t| t > now);
    if i_hold {
        let better = others.iter().any(|c| c.live && c.priority < role.priority);
        if better {
            set_assignment(conn, role.assignment_id, false, None)?;
            tracing::info!(role = %role.name, "releasing role to a server with a better priority");
            return Ok(false);
        }
        set_assignment(conn, role.assignment_id, true, Some(new_expiry))?;
        return Ok(true);
    }
    if others.iter().any(|c| c.holds_lease) {
        if role.active {
            set_assignment(conn, role.assignment_id, false, None)?;
        }
        return Ok(false);
    }
    let better_waiting = others.iter().any(|c| {
        c.live && (c.priority < role.priority || (c.priority == role.priority && c.server_id < me))
    });
    if better_waiting {
        if role.active {
            set_assignment(conn, role.assignment_id, false, None)?;
        }
        return Ok(false);
    }
    // Take it: clear any lapsed holder in the scope first.
    let stale: Vec<i64> = scope_assignments(conn, role, my_zone)?
        .into_iter()
        .filter(|(_, server, ..)| *server != me)
        .map(|(id, ..)| id)
        .collect();
    if !stale.is_empty() {
        diesel::update(asr::table.filter(asr::id.eq_any(&stale)))
            .set((
                asr::active.eq(false),
                asr::lease_expires_on.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    set_assignment(conn, role.assignment_id, true, Some(new_expiry))?;
    Ok(true)
}

type ScopeRow = (
    i64,
    i64,
    i32,
    bool,
    Option<NaiveDateTime>,
    String,
    Option<NaiveDateTime>,
);

/// Assignments of `role` in its scope: (assignment id, server id, priority, active,
/// lease expiry, server status, server heartbeat).
fn scope_assignments(
    conn: &mut DbConnection,
    role: &Mine,
    my_zone: i64,
) -> Result<Vec<ScopeRow>, DbError> {
    let mut query = asr::table
        .inner_join(servers::table)
        .filter(asr::server_role_id.eq(role.role_id))
        .select((
            asr::id,
            asr::server_id,
            asr::priority,
            asr::active,
            asr::lease_expires_on,
            servers::status,
            servers::last_heartbeat,
        ))
        .into_boxed();
    if role.scope == "zone" {
        query = query.filter(servers::zone_id.eq(my_zone));
    }
    Ok(query.load(conn)?)
}

fn candidates(
    conn: &mut DbConnection,
    role: &Mine,
    my_zone: i64,
    me: i64,
    now: NaiveDateTime,
    live_since: NaiveDateTime,
) -> Result<Vec<Candidate>, DbError> {
    Ok(scope_assignments(conn, role, my_zone)?
        .into_iter()
        .filter(|r| r.1 != me)
        .map(|(_, server_id, priority, active, lease, status, beat)| {
            let running = status == "started" || status == "starting";
            Candidate {
                server_id,
                priority,
                live: running && beat.is_some_and(|b| b >= live_since),
                holds_lease: active && lease.is_some_and(|t| t > now),
            }
        })
        .collect())
}

fn set_assignment(
    conn: &mut DbConnection,
    id: i64,
    active: bool,
    lease: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    diesel::update(asr::table.find(id))
        .set((asr::active.eq(active), asr::lease_expires_on.eq(lease)))
        .execute(conn)?;
    Ok(())
}
