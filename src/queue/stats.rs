//! Queue statistics: counts by state, zone and role (the seed's `log_system_status`),
//! shared by the periodic log line, `GET /api/queue/stats` and `steward queue stats`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min, sql};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;

use super::message::MessageState;
use crate::db::schema::queue_messages as qm;
use crate::db::{DbConnection, DbError};

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

/// Counts the queue in one grouped query (plus one for the oldest ready message).
pub fn queue_counts(conn: &mut DbConnection) -> Result<QueueCounts, DbError> {
    let rows: Vec<(String, String, String, i64)> = qm::table
        .group_by((qm::state, qm::zone, qm::role))
        .select((qm::state, qm::zone, qm::role, count_star()))
        .load(conn)?;
    let mut counts = QueueCounts::default();
    for state in MessageState::ALL {
        counts.totals.insert(state.as_str().to_string(), 0);
    }
    for (state, zone, role, n) in rows {
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
