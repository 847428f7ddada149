//! A server's row: registration at start, the heartbeat (with RSS and CPU), the
//! not-responding sweep over the other servers of the region, master election, and
//! the status changes of a graceful stop.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{assigned_server_roles, servers};
use crate::db::{DbConnection, DbError, db_now, ensure_zone, lock_region, write_transaction};
use crate::queue::{Requeued, requeue_messages_of};

/// A server's life-cycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    Starting,
    Started,
    Stopping,
    Stopped,
    NotResponding,
}

impl ServerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Starting => "starting",
            ServerStatus::Started => "started",
            ServerStatus::Stopping => "stopping",
            ServerStatus::Stopped => "stopped",
            ServerStatus::NotResponding => "not_responding",
        }
    }
}

/// Who a server is; written at registration.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    pub guid: String,
    pub name: String,
    pub zone: String,
    pub hostname: String,
    pub pid: i32,
    pub version: String,
}

/// Registers (or re-registers, by guid) this server as `starting`; returns its id.
/// A server that comes back after dying hands back what its previous life held:
/// claimed messages return to `ready` (counted as an attempt), worker rows are cleared.
pub fn register(
    conn: &mut DbConnection,
    who: &ServerIdentity,
    max_attempts: i32,
) -> Result<i64, DbError> {
    let zone_id = ensure_zone(conn, &who.zone, &who.zone)?;
    write_transaction(conn, |conn| {
        lock_region(conn)?;
        let now = db_now(conn)?;
        let fields = (
            servers::name.eq(&who.name),
            servers::zone_id.eq(zone_id),
            servers::hostname.eq(&who.hostname),
            servers::pid.eq(who.pid),
            servers::version.eq(&who.version),
            servers::status.eq(ServerStatus::Starting.as_str()),
            servers::started_on.eq(Some(now)),
            servers::stopped_on.eq(None::<NaiveDateTime>),
            servers::last_heartbeat.eq(Some(now)),
            servers::is_master.eq(false),
        );
        let existing: Option<i64> = servers::table
            .filter(servers::guid.eq(&who.guid))
            .select(servers::id)
            .first(conn)
            .optional()?;
        match existing {
            Some(id) => {
                diesel::update(servers::table.find(id))
                    .set(fields)
                    .execute(conn)?;
                // A restart begins with no active roles; they are re-acquired on the beat.
                diesel::update(
                    assigned_server_roles::table.filter(assigned_server_roles::server_id.eq(id)),
                )
                .set((
                    assigned_server_roles::active.eq(false),
                    assigned_server_roles::lease_expires_on.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
                let requeued =
                    requeue_messages_of(conn, std::slice::from_ref(&who.guid), max_attempts, now)?;
                if requeued.ready + requeued.failed > 0 {
                    tracing::warn!(
                        requeued = requeued.ready,
                        failed = requeued.failed,
                        "messages held by this server's previous run were returned to the queue"
                    );
                }
                crate::workers::delete_worker_rows_of(conn, id)?;
                Ok(id)
            }
            None => {
                diesel::insert_into(servers::table)
                    .values((servers::guid.eq(&who.guid), fields))
                    .execute(conn)?;
                Ok(servers::table
                    .filter(servers::guid.eq(&who.guid))
                    .select(servers::id)
                    .first(conn)?)
            }
        }
    })
}

/// Sets this server's status (and `stopped_on` when it stops).
pub fn set_status(conn: &mut DbConnection, id: i64, status: ServerStatus) -> Result<(), DbError> {
    let now = db_now(conn)?;
    let stopped_on = (status == ServerStatus::Stopped).then_some(now);
    let updated = diesel::update(servers::table.find(id))
        .set((
            servers::status.eq(status.as_str()),
            servers::stopped_on.eq(stopped_on),
        ))
        .execute(conn)?;
    if status == ServerStatus::Stopped {
        diesel::update(servers::table.find(id))
            .set(servers::is_master.eq(false))
            .execute(conn)?;
    }
    if updated == 0 {
        return Err(DbError::NotFound(format!("server {id}")));
    }
    Ok(())
}

/// Records the URL the server's web listener answers on.
pub fn set_url(conn: &mut DbConnection, id: i64, url: &str) -> Result<(), DbError> {
    diesel::update(servers::table.find(id))
        .set(servers::url.eq(url))
        .execute(conn)?;
    Ok(())
}

/// What a heartbeat changed besides this server's own row.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatOutcome {
    /// Servers this beat found silent and marked `not_responding` (id, name).
    pub marked_not_responding: Vec<(i64, String)>,
    /// Their claimed messages, returned to the queue (or failed after too many tries).
    pub requeued: Requeued,
    /// Whether this server is the region's master after the beat.
    pub is_master: bool,
    /// Whether this server just became master.
    pub became_master: bool,
    /// Roles active on this server after the beat.
    pub active_roles: Vec<String>,
    /// This server had been marked `not_responding` (another server judged it dead
    /// and requeued what it held) and is back.
    pub was_not_responding: bool,
}

/// What a heartbeat records of the process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessFigures {
    pub rss_bytes: i64,
    pub heap_bytes: i64,
    pub cpu_percent: f64,
}

/// The timing rules a heartbeat applies.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatPolicy {
    /// A server silent for longer is `not_responding`.
    pub heartbeat_timeout: std::time::Duration,
    /// Lease of single-active roles.
    pub lease: std::time::Duration,
    /// Claims after which a dead server's message becomes `error`.
    pub max_attempts: i32,
}

/// One heartbeat, in one transaction: refresh this server's row; mark silent servers
/// `not_responding` (their roles go inactive, their claimed messages return to the
/// queue) — only if `may_judge_others`; renew, take or release this server's role
/// leases; keep one live master. Every time is the database's: a node whose clock is
/// wrong neither steals a lease nor is judged dead while it beats.
///
/// `may_judge_others` is false while this server itself has not been beating for a
/// whole `heartbeat_timeout` (just started, or back from losing the database): after
/// a database outage every server's last beat is old, and the first one back must
/// not declare the others dead before they had a chance to beat.
pub fn heartbeat(
    conn: &mut DbConnection,
    id: i64,
    sample: &ProcessFigures,
    policy: &HeartbeatPolicy,
    may_judge_others: bool,
) -> Result<HeartbeatOutcome, DbError> {
    write_transaction(conn, |conn| {
        lock_region(conn)?;
        let now = db_now(conn)?;
        let cutoff = now
            - chrono::Duration::from_std(policy.heartbeat_timeout)
                .unwrap_or(chrono::Duration::seconds(30));
        let status: String = servers::table
            .find(id)
            .select(servers::status)
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("server {id}")))?;
        // A server that was marked not responding and beats again is back.
        let was_not_responding = status == ServerStatus::NotResponding.as_str();
        let status = if was_not_responding {
            ServerStatus::Started.as_str().to_string()
        } else {
            status
        };
        diesel::update(servers::table.find(id))
            .set((
                servers::last_heartbeat.eq(Some(now)),
                servers::memory_rss.eq(sample.rss_bytes),
                servers::memory_heap.eq(sample.heap_bytes),
                servers::cpu_percent.eq(sample.cpu_percent),
                servers::status.eq(&status),
            ))
            .execute(conn)?;

        let silent: Vec<(i64, String, String)> = if !may_judge_others {
            Vec::new()
        } else {
            servers::table
                .filter(servers::id.ne(id))
                .filter(servers::status.eq_any([
                    ServerStatus::Starting.as_str(),
                    ServerStatus::Started.as_str(),
                    ServerStatus::Stopping.as_str(),
                ]))
                .filter(servers::last_heartbeat.lt(cutoff))
                .select((servers::id, servers::name, servers::guid))
                .load(conn)?
        };
        let mut requeued = Requeued::default();
        if !silent.is_empty() {
            let ids: Vec<i64> = silent.iter().map(|(i, ..)| *i).collect();
            let guids: Vec<String> = silent.iter().map(|(.., g)| g.clone()).collect();
            diesel::update(servers::table.filter(servers::id.eq_any(&ids)))
                .set((
                    servers::status.eq(ServerStatus::NotResponding.as_str()),
                    servers::is_master.eq(false),
                ))
                .execute(conn)?;
            diesel::update(
                assigned_server_roles::table.filter(assigned_server_roles::server_id.eq_any(&ids)),
            )
            .set(assigned_server_roles::active.eq(false))
            .execute(conn)?;
            requeued = requeue_messages_of(conn, &guids, policy.max_attempts, now)?;
        }

        let active_roles = crate::region::sync_roles(conn, id, policy.lease, now)?;
        let (is_master, became_master) = elect_master(conn, id, &status, cutoff)?;
        Ok(HeartbeatOutcome {
            marked_not_responding: silent.into_iter().map(|(i, n, _)| (i, n)).collect(),
            requeued,
            is_master,
            became_master,
            active_roles,
            was_not_responding,
        })
    })
}

/// Keeps one master per region: a live master keeps the post; if there is none, the
/// lowest-id live server takes it. Runs inside the heartbeat's write transaction.
fn elect_master(
    conn: &mut DbConnection,
    me: i64,
    my_status: &str,
    cutoff: NaiveDateTime,
) -> Result<(bool, bool), DbError> {
    let live = || {
        servers::table
            .filter(servers::status.eq_any([
                ServerStatus::Starting.as_str(),
                ServerStatus::Started.as_str(),
            ]))
            .filter(servers::last_heartbeat.ge(cutoff))
    };
    let masters: Vec<i64> = live()
        .filter(servers::is_master.eq(true))
        .select(servers::id)
        .order(servers::id)
        .load(conn)?;
    if masters.len() == 1 {
        return Ok((masters[0] == me, false));
    }
    let eligible =
        my_status == ServerStatus::Started.as_str() || my_status == ServerStatus::Starting.as_str();
    let candidate: Option<i64> = live()
        .select(servers::id)
        .order(servers::id)
        .first(conn)
        .optional()?;
    if candidate == Some(me) && eligible {
        diesel::update(
            servers::table
                .filter(servers::id.ne(me))
                .filter(servers::is_master.eq(true)),
        )
        .set(servers::is_master.eq(false))
        .execute(conn)?;
        diesel::update(servers::table.find(me))
            .set(servers::is_master.eq(true))
            .execute(conn)?;
        return Ok((true, !masters.contains(&me)));
    }
    Ok((masters.contains(&me), false))
}
