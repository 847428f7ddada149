//! Queue statistics: counts by state, zone and role (the seed's `log_system_status`),
//! shared by the periodic log line, `GET /api/queue/stats` and `steward queue stats`.
//!
//! Counts never scan the queue: triggers append what each statement changed to
//! `queue_counter_deltas` (per statement on PostgreSQL, per row on SQLite — appends,
//! which nobody waits on), the master folds them into `queue_counters` every few
//! seconds, and readers add both (see the migration `queue_routes_counters`), so a read
//! costs the same with ten messages waiting or ten million.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::dsl::{min, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use serde::Serialize;

use super::message::MessageState;
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError, write_transaction};

/// Counts of the region's queue.
#[derive(Debug, Clone, Serialize, Default)]
pub struct QueueCounts {
    /// Messages per state (every state present, zero or not).
    pub totals: BTreeMap<String, i64>,
    /// state → zone → role → count; `""` zone or role means "any".
    pub by_state: BTreeMap<String, BTreeMap<String, BTreeMap<String, i64>>>,
    /// When the oldest ready message was put (how far behind the region is).
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub oldest_ready: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    zone: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Counts the queue from its maintained counters (plus one index read for the
/// oldest ready message).
pub fn queue_counts(conn: &mut DbConnection) -> Result<QueueCounts, DbError> {
    const COUNTS: &str = "SELECT state, zone, role, CAST(sum(n) AS BIGINT) AS n FROM ( \
             SELECT state, zone, role, n FROM queue_counters \
             UNION ALL SELECT state, zone, role, n FROM queue_counter_deltas) AS c \
         GROUP BY state, zone, role HAVING sum(n) <> 0";
    let rows: Vec<CountRow> = crate::with_backend!(conn, c => diesel::sql_query(COUNTS).load(c))?;
    let mut counts = QueueCounts::default();
    for state in MessageState::ALL {
        counts.totals.insert(state.as_str().to_string(), 0);
    }
    for CountRow {
        state,
        zone,
        role,
        n,
    } in rows
    {
        *counts.totals.entry(state.clone()).or_default() += n;
        *counts
            .by_state
            .entry(state)
            .or_default()
            .entry(zone)
            .or_default()
            .entry(role)
            .or_default() += n;
    }
    counts.oldest_ready = qm::table
        .filter(sql::<Bool>("state = 'ready'"))
        .select(min(qm::created_on))
        .first(conn)?;
    Ok(counts)
}

/// Folds the counter deltas the triggers appended into `queue_counters` (and drops
/// counters that reached zero). Concurrent folds are safe: on PostgreSQL each delta
/// row is deleted, hence counted, once; SQLite's write transaction admits one writer.
pub fn fold_queue_counters(conn: &mut DbConnection) -> Result<usize, DbError> {
    match conn {
        DbConnection::Postgresql(pg) => {
            let folded = diesel::sql_query(
                "WITH moved AS (DELETE FROM queue_counter_deltas \
                     RETURNING state, zone, role, queue_name, n) \
                 INSERT INTO queue_counters (state, zone, role, queue_name, n) \
                 SELECT state, zone, role, queue_name, sum(n) FROM moved \
                 GROUP BY state, zone, role, queue_name ORDER BY state, zone, role, queue_name \
                 ON CONFLICT (state, zone, role, queue_name) \
                 DO UPDATE SET n = queue_counters.n + EXCLUDED.n",
            )
            .execute(pg)?;
            diesel::sql_query("DELETE FROM queue_counters WHERE n = 0").execute(pg)?;
            Ok(folded)
        }
        DbConnection::Sqlite(_) => {
            // In slices, each its own short write transaction: SQLite has one writer,
            // and claims must not wait behind a fold of a busy second's deltas.
            let mut folded = 0;
            loop {
                let n = write_transaction(conn, |conn| {
                    let DbConnection::Sqlite(lite) = conn else {
                        return Ok(0);
                    };
                    let slice = format!(
                        "rowid <= (SELECT min(rowid) FROM queue_counter_deltas) + {SQLITE_FOLD_SLICE}"
                    );
                    // `WHERE` also tells SQLite's parser that the ON CONFLICT is the upsert's.
                    let n = diesel::sql_query(format!(
                        "INSERT INTO queue_counters (state, zone, role, queue_name, n) \
                         SELECT state, zone, role, queue_name, sum(n) FROM queue_counter_deltas \
                         WHERE {slice} GROUP BY state, zone, role, queue_name \
                         ON CONFLICT (state, zone, role, queue_name) DO UPDATE SET n = n + excluded.n"
                    ))
                    .execute(lite)?;
                    diesel::sql_query(format!("DELETE FROM queue_counter_deltas WHERE {slice}"))
                        .execute(lite)?;
                    Ok(n)
                })?;
                if n == 0 {
                    break;
                }
                folded += n;
            }
            crate::with_backend!(conn, c => diesel::sql_query("DELETE FROM queue_counters WHERE n = 0").execute(c))?;
            Ok(folded)
        }
    }
}

/// Delta rows SQLite folds per transaction.
const SQLITE_FOLD_SLICE: i64 = 5_000;

/// The seed's log form of one state's counts: `{"default"=>{nil=>3, "automate"=>7}}`.
pub fn format_by_zone_and_role(by_zone: &BTreeMap<String, BTreeMap<String, i64>>) -> String {
    let name = |s: &str| {
        if s.is_empty() {
            "nil".to_string()
        } else {
            format!("{s:?}")
        }
    };
    let zones: Vec<String> = by_zone
        .iter()
        .map(|(zone, roles)| {
            let roles: Vec<String> = roles
                .iter()
                .map(|(role, n)| format!("{}=>{n}", name(role)))
                .collect();
            format!("{}=>{{{}}}", name(zone), roles.join(", "))
        })
        .collect();
    format!("{{{}}}", zones.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_print_like_the_seeds_log_system_status() {
        let mut by_zone = BTreeMap::new();
        by_zone.insert(
            "RHV".to_string(),
            BTreeMap::from([("".to_string(), 1), ("automate".to_string(), 2)]),
        );
        by_zone.insert("".to_string(), BTreeMap::from([("".to_string(), 5)]));
        assert_eq!(
            format_by_zone_and_role(&by_zone),
            r#"{nil=>{nil=>5}, "RHV"=>{nil=>1, "automate"=>2}}"#
        );
    }
}
