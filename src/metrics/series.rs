//! Reading samples back: the time series of one object, realtime, hourly or daily.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{metric_rollups as r, metrics as m};
use crate::db::{DbConnection, DbError};

/// Which samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Realtime,
    Hourly,
    Daily,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Interval> {
        match s {
            "realtime" => Some(Interval::Realtime),
            "hourly" => Some(Interval::Hourly),
            "daily" => Some(Interval::Daily),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interval::Realtime => "realtime",
            Interval::Hourly => "hourly",
            Interval::Daily => "daily",
        }
    }

    /// How far back a request without `start` reaches.
    pub fn default_span(self) -> chrono::Duration {
        match self {
            Interval::Realtime => chrono::Duration::hours(1),
            Interval::Hourly => chrono::Duration::days(1),
            Interval::Daily => chrono::Duration::days(30),
        }
    }
}

/// One sample, in ManageIQ's column names.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct Sample {
    #[serde(serialize_with = "crate::json::utc")]
    pub timestamp: NaiveDateTime,
    pub cpu_usage_rate_average: Option<f64>,
    pub cpu_usage_cores: Option<f64>,
    pub mem_usage_absolute_average: Option<f64>,
    pub mem_usage_bytes: Option<f64>,
    pub net_usage_rate_average: Option<f64>,
    pub disk_usage_rate_average: Option<f64>,
    pub disk_used_bytes: Option<f64>,
    pub cpu_total_cores: Option<f64>,
    pub mem_total_bytes: Option<f64>,
    /// Realtime samples behind a rollup (absent for realtime).
    pub samples: Option<i64>,
}

/// Samples of one object in `[start, end]`, oldest first, at most `limit`.
pub fn read(
    conn: &mut DbConnection,
    resource_type: &str,
    resource_id: i64,
    interval: Interval,
    start: NaiveDateTime,
    end: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Sample>, DbError> {
    Ok(match interval {
        Interval::Realtime => m::table
            .filter(m::resource_type.eq(resource_type))
            .filter(m::resource_id.eq(resource_id))
            .filter(m::timestamp.between(start, end))
            .order(m::timestamp)
            .limit(limit)
            .select((
                m::timestamp,
                m::cpu_usage_rate_average,
                m::cpu_usage_cores,
                m::mem_usage_absolute_average,
                m::mem_usage_bytes,
                m::net_usage_rate_average,
                m::disk_usage_rate_average,
                m::disk_used_bytes,
                m::cpu_total_cores,
                m::mem_total_bytes,
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>("NULL"),
            ))
            .load(conn)?,
        Interval::Hourly | Interval::Daily => r::table
            .filter(r::resource_type.eq(resource_type))
            .filter(r::resource_id.eq(resource_id))
            .filter(r::capture_interval_name.eq(interval.name()))
            .filter(r::timestamp.between(start, end))
            .order(r::timestamp)
            .limit(limit)
            .select((
                r::timestamp,
                r::cpu_usage_rate_average,
                r::cpu_usage_cores,
                r::mem_usage_absolute_average,
                r::mem_usage_bytes,
                r::net_usage_rate_average,
                r::disk_usage_rate_average,
                r::disk_used_bytes,
                r::cpu_total_cores,
                r::mem_total_bytes,
                r::samples.nullable(),
            ))
            .load(conn)?,
    })
}
