//! Alerts: raised by event policies, received from Prometheus Alertmanager, or
//! Steward's own control alerts. One row per firing episode of a fingerprint — a
//! repeat updates it, never duplicates it; a resolve closes it; a later firing opens a
//! new row. Operators acknowledge, assign and resolve them through the API.

pub mod alertmanager;
pub mod control;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::alerts as al;
use crate::db::{DbConnection, DbError, write_transaction};
use crate::with_backend;

/// Where an alert came from.
pub const SOURCE_POLICY: &str = "policy";
pub const SOURCE_ALERTMANAGER: &str = "alertmanager";
pub const SOURCE_STEWARD: &str = "steward";

/// Severities, ManageIQ's three.
pub const SEVERITIES: [&str; 3] = ["error", "warning", "info"];

/// An alert to raise (or an episode to record).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub source: &'static str,
    pub name: String,
    /// What makes two alerts the same (the Alertmanager fingerprint; the policy and
    /// its target; the control alert and its subject).
    pub fingerprint: String,
    pub severity: String,
    pub description: String,
    pub url: String,
    pub provider_id: Option<i64>,
    pub container_node_id: Option<i64>,
    pub container_group_id: Option<i64>,
    pub container_project_id: Option<i64>,
    /// `provider`, `container_node`, `container_group`, `server`, `notification_target`…
    pub target_kind: String,
    pub target_name: String,
    /// JSON object of labels (Alertmanager's) or facts.
    pub labels: String,
    pub event_stream_id: Option<i64>,
    pub started_on: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = al)]
struct Row<'a> {
    source: &'a str,
    name: &'a str,
    fingerprint: &'a str,
    status: &'a str,
    severity: &'a str,
    description: &'a str,
    url: &'a str,
    provider_id: Option<i64>,
    container_node_id: Option<i64>,
    container_group_id: Option<i64>,
    container_project_id: Option<i64>,
    target_kind: &'a str,
    target_name: &'a str,
    alert_labels: &'a str,
    event_stream_id: Option<i64>,
    occurrences: i64,
    started_on: NaiveDateTime,
    ended_on: Option<NaiveDateTime>,
    last_seen_on: NaiveDateTime,
    acknowledged: bool,
    acknowledged_by: &'a str,
    acknowledged_on: Option<NaiveDateTime>,
    assignee: &'a str,
    created_on: NaiveDateTime,
    updated_on: NaiveDateTime,
}

/// Inserts `a`; `None` when an open alert of its fingerprint (or its episode) exists
/// already — another writer won the race.
fn insert(
    conn: &mut DbConnection,
    a: &NewAlert,
    ended_on: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<Option<i64>, DbError> {
    let row = Row {
        source: a.source,
        name: &a.name,
        fingerprint: &a.fingerprint,
        status: if ended_on.is_some() {
            "resolved"
        } else {
            "firing"
        },
        severity: &a.severity,
        description: &a.description,
        url: &a.url,
        provider_id: a.provider_id,
        container_node_id: a.container_node_id,
        container_group_id: a.container_group_id,
        container_project_id: a.container_project_id,
        target_kind: &a.target_kind,
        target_name: &a.target_name,
        alert_labels: &a.labels,
        event_stream_id: a.event_stream_id,
        occurrences: 1,
        started_on: a.started_on,
        ended_on,
        last_seen_on: now,
        acknowledged: false,
        acknowledged_by: "",
        acknowledged_on: None,
        assignee: "",
        created_on: now,
        updated_on: now,
    };
    Ok(with_backend!(conn, c => diesel::insert_into(al::table)
        .values(&row)
        .on_conflict_do_nothing()
        .returning(al::id)
        .get_result(c)
        .optional())?)
}

/// Raises `a`: the open alert of its fingerprint counts one more occurrence (and takes
/// the new description and severity), or a new one opens. Returns its id and whether
/// it is new.
pub fn raise(conn: &mut DbConnection, a: &NewAlert) -> Result<(i64, bool), DbError> {
    write_transaction(conn, |conn| raise_in(conn, a))
}

/// [`raise`] inside the caller's transaction.
pub fn raise_in(conn: &mut DbConnection, a: &NewAlert) -> Result<(i64, bool), DbError> {
    let now = crate::clock::now();
    // Two rounds: an insert that lost a race to another writer finds its row next time.
    for _ in 0..2 {
        let open: Option<i64> = with_backend!(conn, c => al::table
            .filter(al::source.eq(a.source))
            .filter(al::fingerprint.eq(&a.fingerprint))
            .filter(al::ended_on.is_null())
            .select(al::id)
            .first(c)
            .optional())?;
        if let Some(id) = open {
            with_backend!(conn, c => diesel::update(al::table.find(id))
                .set((
                    al::occurrences.eq(al::occurrences + 1),
                    al::last_seen_on.eq(now),
                    al::severity.eq(&a.severity),
                    al::description.eq(&a.description),
                    al::updated_on.eq(now),
                ))
                .execute(c))?;
            return Ok((id, false));
        }
        if let Some(id) = insert(conn, a, None, now)? {
            return Ok((id, true));
        }
    }
    Err(DbError::Invalid(format!(
        "alert {} could be neither raised nor found",
        a.fingerprint
    )))
}

/// Records an episode known by its start (Alertmanager's): the row of the same
/// fingerprint and start is updated (resolved when `ended_on` is given), or created.
/// Returns its id and whether it is new.
pub fn record_episode(
    conn: &mut DbConnection,
    a: &NewAlert,
    ended_on: Option<NaiveDateTime>,
) -> Result<(i64, bool), DbError> {
    write_transaction(conn, |conn| record_episode_in(conn, a, ended_on))
}

/// [`record_episode`] inside the caller's transaction.
pub fn record_episode_in(
    conn: &mut DbConnection,
    a: &NewAlert,
    ended_on: Option<NaiveDateTime>,
) -> Result<(i64, bool), DbError> {
    let now = crate::clock::now();
    for _ in 0..2 {
        let found: Option<i64> = with_backend!(conn, c => al::table
            .filter(al::source.eq(a.source))
            .filter(al::fingerprint.eq(&a.fingerprint))
            .filter(al::started_on.eq(a.started_on))
            .select(al::id)
            .first(c)
            .optional())?;
        if let Some(id) = found {
            let status = if ended_on.is_some() {
                "resolved"
            } else {
                "firing"
            };
            with_backend!(conn, c => diesel::update(al::table.find(id))
                .set((
                    al::occurrences.eq(al::occurrences + 1),
                    al::last_seen_on.eq(now),
                    al::status.eq(status),
                    al::ended_on.eq(ended_on),
                    al::severity.eq(&a.severity),
                    al::description.eq(&a.description),
                    al::url.eq(&a.url),
                    al::updated_on.eq(now),
                ))
                .execute(c))?;
            return Ok((id, false));
        }
        if ended_on.is_none() {
            // A new episode: an earlier one still open (its resolve never came) ends
            // where this one starts.
            with_backend!(conn, c => diesel::update(
                    al::table
                        .filter(al::source.eq(a.source))
                        .filter(al::fingerprint.eq(&a.fingerprint))
                        .filter(al::ended_on.is_null()),
                )
                .set((al::status.eq("resolved"), al::ended_on.eq(a.started_on), al::updated_on.eq(now)))
                .execute(c))?;
        }
        if let Some(id) = insert(conn, a, ended_on, now)? {
            return Ok((id, true));
        }
    }
    Err(DbError::Invalid(format!(
        "alert {} could be neither recorded nor found",
        a.fingerprint
    )))
}

/// Closes the open alert of `fingerprint` from `source`, if any; true when one was.
pub fn resolve_open(
    conn: &mut DbConnection,
    source: &str,
    fingerprint: &str,
) -> Result<bool, DbError> {
    let now = crate::clock::now();
    let n = with_backend!(conn, c => diesel::update(
            al::table
                .filter(al::source.eq(source))
                .filter(al::fingerprint.eq(fingerprint))
                .filter(al::ended_on.is_null()),
        )
        .set((al::status.eq("resolved"), al::ended_on.eq(now), al::updated_on.eq(now)))
        .execute(c))?;
    Ok(n > 0)
}

/// The fingerprints of `source`'s open alerts whose fingerprint starts with `prefix`.
pub fn open_fingerprints(
    conn: &mut DbConnection,
    source: &str,
    prefix: &str,
) -> Result<Vec<String>, DbError> {
    let pattern = format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_"));
    Ok(with_backend!(conn, c => al::table
        .filter(al::source.eq(source))
        .filter(al::ended_on.is_null())
        .filter(al::fingerprint.like(&pattern).escape('\\'))
        .select(al::fingerprint)
        .load(c))?)
}

/// What an operator does to an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertAction {
    Acknowledge,
    Assign(String),
    Resolve,
}

/// Applies `action` by `userid` to alert `id`; false when there is no such alert.
pub fn act(
    conn: &mut DbConnection,
    id: i64,
    action: &AlertAction,
    userid: &str,
) -> Result<bool, DbError> {
    let now = crate::clock::now();
    let target = al::table.find(id);
    let n = match action {
        AlertAction::Acknowledge => with_backend!(conn, c => diesel::update(target)
            .set((
                al::acknowledged.eq(true),
                al::acknowledged_by.eq(userid),
                al::acknowledged_on.eq(now),
                al::updated_on.eq(now),
            ))
            .execute(c))?,
        AlertAction::Assign(who) => with_backend!(conn, c => diesel::update(target)
            .set((al::assignee.eq(who), al::updated_on.eq(now)))
            .execute(c))?,
        AlertAction::Resolve => {
            let closed = with_backend!(conn, c => diesel::update(target.filter(al::ended_on.is_null()))
                .set((al::status.eq("resolved"), al::ended_on.eq(now), al::updated_on.eq(now)))
                .execute(c))?;
            if closed > 0 {
                closed
            } else {
                // Resolved already (or no such alert).
                with_backend!(conn, c => al::table.find(id).count().get_result::<i64>(c))? as usize
            }
        }
    };
    Ok(n > 0)
}
