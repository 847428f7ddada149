//! Claiming a batch of ready messages for one server — the hot path, and the one
//! place where the two backends differ:
//!
//! - PostgreSQL: `SELECT … ORDER BY priority, id LIMIT n FOR UPDATE SKIP LOCKED`, so
//!   nodes claiming at once take disjoint batches without waiting on each other.
//! - SQLite: the same SELECT inside `BEGIN IMMEDIATE`, one writer at a time.
//!
//! **Routes.** A message's route is its (queue, zone, role, server). A claim first
//! lists the routes of its queue that have ready messages — a loose index scan, one
//! index probe per route — keeps those this server may serve (zone `""` or its own,
//! role `""` or one it holds, server `""` or itself), and reads each of them in
//! `(priority, id)` order from the index `queue_messages_route`, stopping at the batch
//! size. A backlog waiting for a role nobody runs is therefore never read by anyone:
//! claims cost the same with none or millions of such messages.
//!
//! **Tasks.** A task's messages run one at a time: tasks already being worked are
//! excluded, a batch keeps at most one message per task, and a partial unique index
//! on `task_id WHERE state = 'dequeue'` settles the race where two nodes claim the
//! same task at once (the loser retries).
//!
//! **Poison.** A message that cannot be claimed for a reason of its own (a row the
//! database refuses to index, a trigger, …) must not stop its queue: when a batch
//! fails for a non-transient reason, its candidates are claimed one at a time and the
//! ones that fail are moved to `error` with the database's reason.
//!
//! Time is the database's (`deliver_on` is judged by the clock every node shares).
//! State predicates are literal SQL so the planner uses the partial indexes even for
//! cached, generic plans.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Bool, Text};

use super::message::{MessageState, QueueMessage};
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError, db_now, write_transaction};

/// What one server may claim now.
#[derive(Debug, Clone)]
pub struct ClaimSpec {
    /// Queue names the claiming pool serves (e.g. `["generic"]`).
    pub queue_names: Vec<String>,
    /// Most urgent priority the pool takes: 0, or 21 for generic workers when priority
    /// workers run beside them (urgent work then goes to the workers kept for it).
    pub min_priority: i32,
    /// Least urgent priority the pool takes: 200 for generic, 20 for priority.
    pub max_priority: i32,
    /// This server's zone; messages for `""` (any) or this zone qualify.
    pub zone: String,
    /// Roles active on this server; messages for `""` (none) or one of these qualify.
    pub roles: Vec<String>,
    /// This server's guid; messages for `""` (any) or this server qualify.
    pub server_guid: String,
    /// At most this many messages.
    pub limit: usize,
}

impl ClaimSpec {
    fn serves(&self, route: &Route) -> bool {
        (route.zone.is_empty() || route.zone == self.zone)
            && (route.role.is_empty() || self.roles.contains(&route.role))
            && (route.server_guid.is_empty() || route.server_guid == self.server_guid)
    }
}

/// Claims up to `spec.limit` messages in priority-then-id order; returns them in that order.
pub fn claim(conn: &mut DbConnection, spec: &ClaimSpec) -> Result<Vec<QueueMessage>, DbError> {
    if spec.limit == 0 || spec.queue_names.is_empty() {
        return Ok(Vec::new());
    }
    // A task race with another node costs one retry; three in a row is a real fault.
    let mut attempt = 0;
    loop {
        match write_transaction(conn, |conn| claim_once(conn, spec)) {
            Err(DbError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _,
            ))) if attempt < 3 => {
                attempt += 1;
            }
            Err(error) if !error.is_retryable() && is_statement_error(&error) => {
                return claim_isolating_poison(conn, spec, &error);
            }
            other => return other,
        }
    }
}

/// One route of the queue.
#[derive(Debug, Clone, QueryableByName)]
struct Route {
    #[diesel(sql_type = Text)]
    zone: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    server_guid: String,
}

/// The routes of `queue` that have ready messages and that `spec` may serve.
///
/// PostgreSQL: one recursive query, a loose index scan over `queue_messages_route`
/// (each step one probe for the next route after the last; row-value comparisons
/// use the whole index key there). SQLite only seeks on the first column of a row
/// value, so it walks the index level by level instead — zones it may serve, the
/// roles present in each, the servers present for each served role — each step an
/// index seek in-process. Either way a route's messages are never read to find the
/// next route.
fn servable_routes(
    conn: &mut DbConnection,
    spec: &ClaimSpec,
    queue: &str,
) -> Result<Vec<Route>, DbError> {
    let routes = match conn {
        DbConnection::Postgresql(pg) => {
            let text = "WITH RECURSIVE r (zone, role, server_guid) AS ( \
                 SELECT * FROM (SELECT zone, role, server_guid FROM queue_messages \
                     WHERE state = 'ready' AND queue_name = $1 \
                     ORDER BY zone, role, server_guid LIMIT 1) AS f \
                 UNION ALL \
                 SELECT m.zone, m.role, m.server_guid FROM r \
                 JOIN queue_messages m ON m.id = (SELECT id FROM queue_messages \
                     WHERE state = 'ready' AND queue_name = $1 \
                     AND (zone, role, server_guid) > (r.zone, r.role, r.server_guid) \
                     ORDER BY zone, role, server_guid LIMIT 1) \
             ) SELECT zone, role, server_guid FROM r";
            diesel::sql_query(text)
                .bind::<Text, _>(queue)
                .load::<Route>(pg)?
        }
        DbConnection::Sqlite(lite) => sqlite_routes(lite, spec, queue)?,
    };
    Ok(routes.into_iter().filter(|r| spec.serves(r)).collect())
}

/// SQLite's walk of the route index: see [`servable_routes`].
fn sqlite_routes(
    lite: &mut diesel::SqliteConnection,
    spec: &ClaimSpec,
    queue: &str,
) -> Result<Vec<Route>, DbError> {
    let ready = || {
        qm::table
            .filter(sql::<Bool>("state = 'ready'"))
            .filter(qm::queue_name.eq(queue.to_string()))
    };
    let mut zones = vec![String::new()];
    if !spec.zone.is_empty() {
        zones.push(spec.zone.clone());
    }
    let mut routes = Vec::new();
    for zone in zones {
        let mut after: Option<String> = None;
        loop {
            let mut next = ready()
                .filter(qm::zone.eq(zone.clone()))
                .select(qm::role)
                .order(qm::role)
                .limit(1)
                .into_boxed();
            if let Some(a) = &after {
                next = next.filter(qm::role.gt(a.clone()));
            }
            let Some(role) = next.first::<String>(lite).optional()? else {
                break;
            };
            after = Some(role.clone());
            if !role.is_empty() && !spec.roles.contains(&role) {
                continue;
            }
            let mut servers = vec![String::new()];
            if !spec.server_guid.is_empty() {
                servers.push(spec.server_guid.clone());
            }
            for server_guid in servers {
                let present = ready()
                    .filter(qm::zone.eq(zone.clone()))
                    .filter(qm::role.eq(role.clone()))
                    .filter(qm::server_guid.eq(server_guid.clone()))
                    .select(qm::id)
                    .first::<i64>(lite)
                    .optional()?
                    .is_some();
                if present {
                    routes.push(Route {
                        zone: zone.clone(),
                        role: role.clone(),
                        server_guid,
                    });
                }
            }
        }
    }
    Ok(routes)
}

// One route per query, every routing column compared with `=`: PostgreSQL and SQLite
// then read `queue_messages_route` in (priority, id) order and stop at the limit.
macro_rules! candidates {
    ($spec:expr, $queue:expr, $route:expr, $limit:expr, $now:expr, $busy:expr) => {
        qm::table
            .select((qm::id, qm::priority, qm::task_id))
            .filter(sql::<Bool>("state = 'ready'"))
            .filter(qm::queue_name.eq($queue))
            .filter(qm::zone.eq(&$route.zone))
            .filter(qm::role.eq(&$route.role))
            .filter(qm::server_guid.eq(&$route.server_guid))
            .filter(qm::priority.le($spec.max_priority))
            .filter(qm::priority.ge($spec.min_priority))
            .filter(qm::deliver_on.is_null().or(qm::deliver_on.le($now)))
            .filter(qm::task_id.ne_all($busy))
            .order((qm::priority.asc(), qm::id.asc()))
            .limit($limit as i64)
    };
}

/// The ids this server may claim now, best first, at most `spec.limit`.
fn find_candidates(
    conn: &mut DbConnection,
    spec: &ClaimSpec,
    now: NaiveDateTime,
) -> Result<Vec<i64>, DbError> {
    let busy: Vec<String> = qm::table
        .select(qm::task_id)
        .filter(sql::<Bool>("state = 'dequeue' AND task_id <> ''"))
        .load(conn)?;
    let mut found: Vec<(i64, i32, String)> = Vec::new();
    for queue in &spec.queue_names {
        for route in servable_routes(conn, spec, queue)? {
            let limit = spec.limit;
            found.extend(match conn {
                DbConnection::Postgresql(pg) => candidates!(spec, queue, route, limit, now, &busy)
                    .for_update()
                    .skip_locked()
                    .load::<(i64, i32, String)>(pg)?,
                DbConnection::Sqlite(lite) => candidates!(spec, queue, route, limit, now, &busy)
                    .load::<(i64, i32, String)>(lite)?,
            });
        }
    }
    found.sort_by_key(|(id, priority, _)| (*priority, *id));
    let mut tasks = HashSet::new();
    Ok(found
        .into_iter()
        .filter(|(_, _, task)| task.is_empty() || tasks.insert(task.clone()))
        .map(|(id, ..)| id)
        .take(spec.limit)
        .collect())
}

fn claim_once(conn: &mut DbConnection, spec: &ClaimSpec) -> Result<Vec<QueueMessage>, DbError> {
    let now = db_now(conn)?;
    let ids = find_candidates(conn, spec, now)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    take(conn, spec, &ids, now)
}

/// Flips `ids` (still ready) to `dequeue` for this server; returns them as claimed.
fn take(
    conn: &mut DbConnection,
    spec: &ClaimSpec,
    ids: &[i64],
    now: NaiveDateTime,
) -> Result<Vec<QueueMessage>, DbError> {
    // `IS TRUE`: found by primary key, never through a partial index on waiting
    // messages (see `complete::HELD` for why that matters).
    let mut claimed: Vec<QueueMessage> = crate::with_backend!(conn, c => diesel::update(
            qm::table
                .filter(qm::id.eq_any(ids))
                .filter(sql::<Bool>("(state = 'ready') IS TRUE")),
        )
        .set((
            qm::state.eq(MessageState::Dequeue.as_str()),
            qm::dequeued_on.eq(Some(now)),
            qm::handler_server.eq(&spec.server_guid),
            qm::attempts.eq(qm::attempts + 1),
        ))
        .returning(qm::all_columns)
        .get_results(c))?;
    claimed.sort_by_key(|m| (m.priority, m.id));
    Ok(claimed)
}

/// Whether a failed claim failed on a statement (something in the data), as opposed
/// to the connection or the transaction machinery.
fn is_statement_error(error: &DbError) -> bool {
    matches!(
        error,
        DbError::Query(DieselError::DatabaseError(..) | DieselError::DeserializationError(_))
    )
}

/// The batch failed on something in its data: claim its candidates one at a time,
/// moving each one that fails to `error` with the reason, so the rest flow.
fn claim_isolating_poison(
    conn: &mut DbConnection,
    spec: &ClaimSpec,
    cause: &DbError,
) -> Result<Vec<QueueMessage>, DbError> {
    tracing::warn!(%cause, "claiming a batch failed; claiming its messages one by one to isolate the cause");
    let (now, ids) = write_transaction(conn, |conn| {
        let now = db_now(conn)?;
        Ok((now, find_candidates(conn, spec, now)?))
    })?;
    let mut claimed = Vec::new();
    for id in ids {
        match write_transaction(conn, |conn| take(conn, spec, &[id], now)) {
            Ok(mut one) => claimed.append(&mut one),
            Err(error) if !error.is_retryable() && is_statement_error(&error) => {
                let reason = format!(
                    "cannot be claimed: {}",
                    crate::text::truncate(&error.to_string(), 2000)
                );
                let moved = write_transaction(conn, |conn| {
                    Ok(diesel::update(
                        qm::table
                            .filter(qm::id.eq(id))
                            .filter(sql::<Bool>("state = 'ready'")),
                    )
                    .set((
                        qm::state.eq(MessageState::Error.as_str()),
                        qm::finished_on.eq(Some(now)),
                        qm::last_error.eq(&reason),
                    ))
                    .execute(conn)?)
                })?;
                if moved == 1 {
                    tracing::error!(
                        target: "steward::queue",
                        message_id = id,
                        %reason,
                        "message moved to error: it cannot be claimed"
                    );
                }
            }
            Err(error) => return Err(error),
        }
    }
    claimed.sort_by_key(|m| (m.priority, m.id));
    Ok(claimed)
}
