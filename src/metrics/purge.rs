//! Retention (role `database_operations`): realtime samples older than
//! `metrics.keep_realtime` (PostgreSQL: their hourly partitions are dropped whole),
//! hourly and daily rollups older than `keep_hourly` / `keep_daily`.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::store::partition_name;
use crate::db::schema::{metric_rollups as r, metrics as m};
use crate::db::{DbConnection, DbError};
use crate::settings::MetricsSettings;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PurgeReport {
    pub partitions_dropped: usize,
    pub realtime_deleted: usize,
    pub hourly_deleted: usize,
    pub daily_deleted: usize,
}

impl PurgeReport {
    pub fn any(&self) -> bool {
        self.partitions_dropped + self.realtime_deleted + self.hourly_deleted + self.daily_deleted
            > 0
    }
}

#[derive(QueryableByName)]
struct Partition {
    #[diesel(sql_type = Text)]
    name: String,
}

fn before(now: NaiveDateTime, keep: std::time::Duration) -> NaiveDateTime {
    now - chrono::Duration::from_std(keep).unwrap_or_default()
}

/// Applies retention as of `now`.
pub fn purge(
    conn: &mut DbConnection,
    settings: &MetricsSettings,
    now: NaiveDateTime,
) -> Result<PurgeReport, DbError> {
    let mut report = PurgeReport::default();
    let realtime_cutoff = before(now, settings.keep_realtime);
    match conn {
        DbConnection::Postgresql(pg) => {
            let parts: Vec<Partition> = diesel::sql_query(
                "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = 'metrics'::regclass",
            )
            .load(pg)?;
            // A partition goes when its whole hour is older than the cutoff.
            let newest_droppable = partition_name(super::store::hour_of(realtime_cutoff));
            for p in parts {
                if p.name.len() == newest_droppable.len() && p.name < newest_droppable {
                    diesel::sql_query(format!("DROP TABLE IF EXISTS {}", p.name)).execute(pg)?;
                    report.partitions_dropped += 1;
                }
            }
        }
        DbConnection::Sqlite(_) => {
            report.realtime_deleted =
                diesel::delete(m::table.filter(m::timestamp.lt(realtime_cutoff))).execute(conn)?;
        }
    }
    report.hourly_deleted = diesel::delete(
        r::table
            .filter(r::capture_interval_name.eq("hourly"))
            .filter(r::timestamp.lt(before(now, settings.keep_hourly))),
    )
    .execute(conn)?;
    report.daily_deleted = diesel::delete(
        r::table
            .filter(r::capture_interval_name.eq("daily"))
            .filter(r::timestamp.lt(before(now, settings.keep_daily))),
    )
    .execute(conn)?;
    Ok(report)
}
