//! `provider_refreshes`: each refresh's kind, outcome and timings (collect, parse,
//! save, total — the seed's §5.3 breakdown) and object counts. The newest
//! `ems_refresh.keep_refreshes` per provider are kept.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::provider_refreshes as pr;
use crate::db::{DbConnection, DbError};
use crate::inventory::SaveReport;

/// One refresh, as recorded.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct RefreshRecord {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    #[serde(serialize_with = "crate::json::id")]
    pub provider_id: i64,
    /// `full` or `targeted`.
    pub kind: String,
    /// `ok` or `error`.
    pub status: String,
    pub error: String,
    #[serde(serialize_with = "crate::json::utc")]
    pub started_on: NaiveDateTime,
    pub collect_s: f64,
    pub parse_s: f64,
    pub save_s: f64,
    pub total_s: f64,
    pub objects: i64,
    pub added: i64,
    pub updated: i64,
    pub deleted: i64,
}

/// The timings of one refresh.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    pub collect_s: f64,
    pub parse_s: f64,
    pub save_s: f64,
    pub total_s: f64,
}

/// Records a refresh and trims the provider's history to `keep` rows.
pub fn record_refresh(
    conn: &mut DbConnection,
    provider_id: i64,
    kind: &str,
    started_on: NaiveDateTime,
    timings: Timings,
    outcome: Result<&SaveReport, &str>,
    keep: i64,
) -> Result<(), DbError> {
    let (status, error, report) = match outcome {
        Ok(r) => ("ok", String::new(), r.clone()),
        Err(e) => ("error", e.to_string(), SaveReport::default()),
    };
    diesel::insert_into(pr::table)
        .values((
            pr::provider_id.eq(provider_id),
            pr::kind.eq(kind),
            pr::status.eq(status),
            pr::error.eq(error),
            pr::started_on.eq(started_on),
            pr::collect_s.eq(timings.collect_s),
            pr::parse_s.eq(timings.parse_s),
            pr::save_s.eq(timings.save_s),
            pr::total_s.eq(timings.total_s),
            pr::objects.eq(report.objects as i64),
            pr::added.eq(report.added as i64),
            pr::updated.eq(report.updated as i64),
            pr::deleted.eq(report.deleted as i64),
        ))
        .execute(conn)?;
    let cutoff: Option<i64> = pr::table
        .filter(pr::provider_id.eq(provider_id))
        .select(pr::id)
        .order(pr::id.desc())
        .offset(keep)
        .first(conn)
        .optional()?;
    if let Some(cutoff) = cutoff {
        diesel::delete(
            pr::table
                .filter(pr::provider_id.eq(provider_id))
                .filter(pr::id.le(cutoff)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// The newest refreshes of a provider, newest first.
pub fn list_refreshes(
    conn: &mut DbConnection,
    provider_id: i64,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<RefreshRecord>, DbError> {
    let mut q = pr::table
        .filter(pr::provider_id.eq(provider_id))
        .order(pr::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(kind) = kind {
        q = q.filter(pr::kind.eq(kind.to_string()));
    }
    Ok(q.load(conn)?)
}

/// The id of the newest recorded refresh (None: none yet).
pub fn newest_refresh_id(conn: &mut DbConnection) -> Result<Option<i64>, DbError> {
    Ok(pr::table
        .select(diesel::dsl::max(pr::id))
        .first::<Option<i64>>(conn)?)
}

/// Refreshes recorded with ids above `floor`, oldest first (at most 1,000).
pub fn refreshes_after(conn: &mut DbConnection, floor: i64) -> Result<Vec<RefreshRecord>, DbError> {
    Ok(pr::table
        .filter(pr::id.gt(floor))
        .order(pr::id.asc())
        .limit(1000)
        .load(conn)?)
}
