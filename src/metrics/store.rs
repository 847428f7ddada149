//! Writing samples: realtime rows (into hourly partitions on PostgreSQL, created on
//! demand), and capture states. Everything in chunks, one statement per chunk.

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::db::schema::{metric_capture_states as s, metrics as m};
use crate::db::{DbConnection, DbError};
use crate::with_backend;

/// Rows per INSERT: 15 columns × 2,000 stays under SQLite's 32,766 bind parameters.
const CHUNK: usize = 2_000;

/// One realtime sample.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = m, treat_none_as_default_value = false)]
pub struct MetricRow {
    pub resource_type: String,
    pub resource_id: i64,
    pub provider_id: i64,
    pub timestamp: NaiveDateTime,
    pub capture_interval: i32,
    pub cpu_usage_rate_average: Option<f64>,
    pub cpu_usage_cores: Option<f64>,
    pub mem_usage_absolute_average: Option<f64>,
    pub mem_usage_bytes: Option<f64>,
    pub net_usage_rate_average: Option<f64>,
    pub disk_usage_rate_average: Option<f64>,
    pub disk_used_bytes: Option<f64>,
    pub cpu_total_cores: Option<f64>,
    pub mem_total_bytes: Option<f64>,
}

/// The start of the hour `t` falls in.
pub fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.date().and_hms_opt(t.hour(), 0, 0).unwrap_or(t)
}

/// The name of the partition holding `hour`.
pub fn partition_name(hour: NaiveDateTime) -> String {
    format!("metrics_p{}", hour.format("%Y%m%d%H"))
}

/// Creates the hourly partitions `rows` fall in (PostgreSQL; nothing on SQLite). An
/// advisory lock per hour keeps two collectors from racing on the same one.
pub fn ensure_partitions(conn: &mut DbConnection, rows: &[MetricRow]) -> Result<(), DbError> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(());
    };
    let mut hours: Vec<NaiveDateTime> = rows.iter().map(|r| hour_of(r.timestamp)).collect();
    hours.sort_unstable();
    hours.dedup();
    for hour in hours {
        let name = partition_name(hour);
        let next = hour + chrono::Duration::hours(1);
        let key = hour.and_utc().timestamp();
        let sql = format!(
            "SELECT pg_advisory_xact_lock(7461, {lock}); \
             CREATE TABLE IF NOT EXISTS {name} PARTITION OF metrics FOR VALUES FROM ('{from}') TO ('{to}')",
            lock = (key / 3600) as i32,
            from = hour.format("%Y-%m-%d %H:%M:%S"),
            to = next.format("%Y-%m-%d %H:%M:%S"),
        );
        pg.transaction(|c| diesel::connection::SimpleConnection::batch_execute(c, &sql))?;
    }
    Ok(())
}

/// Writes samples (a recapture overwrites: idempotent). Their partitions must exist:
/// call [`ensure_partitions`] first, outside the writing transaction.
pub fn write_rows(conn: &mut DbConnection, rows: &[MetricRow]) -> Result<usize, DbError> {
    let mut n = 0;
    for chunk in rows.chunks(CHUNK) {
        n += with_backend!(conn, c => diesel::insert_into(m::table)
            .values(chunk)
            .on_conflict((m::resource_type, m::resource_id, m::timestamp))
            .do_update()
            .set((
                m::cpu_usage_rate_average.eq(excluded(m::cpu_usage_rate_average)),
                m::cpu_usage_cores.eq(excluded(m::cpu_usage_cores)),
                m::mem_usage_absolute_average.eq(excluded(m::mem_usage_absolute_average)),
                m::mem_usage_bytes.eq(excluded(m::mem_usage_bytes)),
                m::net_usage_rate_average.eq(excluded(m::net_usage_rate_average)),
                m::disk_usage_rate_average.eq(excluded(m::disk_usage_rate_average)),
                m::disk_used_bytes.eq(excluded(m::disk_used_bytes)),
                m::cpu_total_cores.eq(excluded(m::cpu_total_cores)),
                m::mem_total_bytes.eq(excluded(m::mem_total_bytes)),
            ))
            .execute(c))?;
    }
    Ok(n)
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = s, treat_none_as_default_value = false)]
pub struct StateRow {
    pub resource_type: String,
    pub resource_id: i64,
    pub provider_id: i64,
    pub last_capture_on: Option<NaiveDateTime>,
    pub queued_on: Option<NaiveDateTime>,
    pub rows_written: i64,
}

/// Marks objects queued for capture (creating their state rows).
pub fn mark_queued(
    conn: &mut DbConnection,
    resource_type: &str,
    provider: i64,
    ids: &[i64],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let rows: Vec<StateRow> = ids
        .iter()
        .map(|&id| StateRow {
            resource_type: resource_type.to_string(),
            resource_id: id,
            provider_id: provider,
            last_capture_on: None,
            queued_on: Some(now),
            rows_written: 0,
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        with_backend!(conn, c => diesel::insert_into(s::table)
            .values(chunk)
            .on_conflict((s::resource_type, s::resource_id))
            .do_update()
            .set(s::queued_on.eq(excluded(s::queued_on)))
            .execute(c))?;
    }
    Ok(())
}

/// Records captures: how far each object's samples now go, and how many were written;
/// the objects are no longer queued.
pub fn mark_captured(conn: &mut DbConnection, rows: &[StateRow]) -> Result<(), DbError> {
    for chunk in rows.chunks(CHUNK) {
        with_backend!(conn, c => diesel::insert_into(s::table)
            .values(chunk)
            .on_conflict((s::resource_type, s::resource_id))
            .do_update()
            .set((
                s::last_capture_on.eq(excluded(s::last_capture_on)),
                s::queued_on.eq(None::<NaiveDateTime>),
                s::rows_written.eq(s::rows_written + excluded(s::rows_written)),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// The last capture of these objects (absent: never captured).
pub fn last_captures(
    conn: &mut DbConnection,
    resource_type: &str,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, NaiveDateTime>, DbError> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(5_000) {
        let rows: Vec<(i64, Option<NaiveDateTime>)> = s::table
            .filter(s::resource_type.eq(resource_type))
            .filter(s::resource_id.eq_any(chunk))
            .select((s::resource_id, s::last_capture_on))
            .load(conn)?;
        out.extend(rows.into_iter().filter_map(|(id, t)| Some((id, t?))));
    }
    Ok(out)
}

/// Clears the queued mark of objects (their capture failed: due again).
pub fn mark_queued_none(
    conn: &mut DbConnection,
    resource_type: &str,
    ids: &[i64],
) -> Result<(), DbError> {
    for chunk in ids.chunks(5_000) {
        diesel::update(
            s::table
                .filter(s::resource_type.eq(resource_type))
                .filter(s::resource_id.eq_any(chunk)),
        )
        .set(s::queued_on.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    }
    Ok(())
}
