//! `GET /api/metrics/health` and `steward metrics health`: the capture backlog, how
//! old each type's captures are, and the rows written.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::coordinator::{Backlog, backlog};
use super::targets::CaptureType;
use crate::db::schema::metric_capture_states as s;
use crate::db::{DbConnection, DbError};

#[derive(Debug, Clone, Serialize)]
pub struct TypeHealth {
    pub resource_type: &'static str,
    /// Objects the coordinator has seen.
    pub objects: i64,
    pub never_captured: i64,
    pub queued: i64,
    /// Age of the oldest and of the newest last capture, seconds.
    pub oldest_capture_age_s: Option<f64>,
    pub newest_capture_age_s: Option<f64>,
    pub rows_written: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub backlog: Backlog,
    pub types: Vec<TypeHealth>,
    pub rows_written: i64,
}

pub fn health(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Health, DbError> {
    let age = |t: Option<NaiveDateTime>| t.map(|t| (now - t).num_milliseconds() as f64 / 1000.0);
    let mut types = Vec::new();
    for kind in CaptureType::ALL {
        let (objects, oldest, newest, rows): (
            i64,
            Option<NaiveDateTime>,
            Option<NaiveDateTime>,
            Option<i64>,
        ) = s::table
            .filter(s::resource_type.eq(kind.name()))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::min(s::last_capture_on),
                diesel::dsl::max(s::last_capture_on),
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                    "CAST(SUM(rows_written) AS BIGINT)",
                ),
            ))
            .first(conn)?;
        let never_captured: i64 = s::table
            .filter(s::resource_type.eq(kind.name()))
            .filter(s::last_capture_on.is_null())
            .count()
            .get_result(conn)?;
        let queued: i64 = s::table
            .filter(s::resource_type.eq(kind.name()))
            .filter(s::queued_on.is_not_null())
            .count()
            .get_result(conn)?;
        types.push(TypeHealth {
            resource_type: kind.name(),
            objects,
            never_captured,
            queued,
            oldest_capture_age_s: age(oldest),
            newest_capture_age_s: age(newest),
            rows_written: rows.unwrap_or(0),
        });
    }
    let rows_written = types.iter().map(|t| t.rows_written).sum();
    Ok(Health {
        backlog: backlog(conn)?,
        types,
        rows_written,
    })
}
