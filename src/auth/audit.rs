//! The audit trail: every write through the API and every login, with who, what,
//! when, from where and how it ended. Read by `GET /api/audit_events`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::audit_events;
use crate::db::{DbConnection, DbError, db_now};
use crate::text::truncate;

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The user (or the userid tried, for a failed login).
    pub userid: String,
    /// What was done: `login`, `logout`, `POST /api/providers`, …
    pub action: String,
    /// What it was done to (the request path).
    pub target: String,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// The HTTP status answered.
    pub status: u16,
    /// The peer address.
    pub source: String,
    pub message: String,
}

/// Writes one entry (fields are truncated to sane lengths).
pub fn record(conn: &mut DbConnection, entry: &AuditEntry) -> Result<(), DbError> {
    let now = db_now(conn)?;
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::created_on.eq(now),
            audit_events::userid.eq(truncate(&entry.userid, 64)),
            audit_events::action.eq(truncate(&entry.action, 200)),
            audit_events::target.eq(truncate(&entry.target, 500)),
            audit_events::outcome.eq(entry.outcome),
            audit_events::status.eq(i32::from(entry.status)),
            audit_events::source.eq(truncate(&entry.source, 100)),
            audit_events::message.eq(truncate(&entry.message, 500)),
        ))
        .execute(conn)?;
    Ok(())
}

/// An entry as the API shows it.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct AuditView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    #[serde(serialize_with = "crate::json::utc")]
    pub created_on: NaiveDateTime,
    pub userid: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub status: i32,
    pub source: String,
    pub message: String,
}

/// The newest entries first: total count and one page.
pub fn list(
    conn: &mut DbConnection,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<AuditView>), DbError> {
    let count = audit_events::table.count().get_result(conn)?;
    let rows = audit_events::table
        .select((
            audit_events::id,
            audit_events::created_on,
            audit_events::userid,
            audit_events::action,
            audit_events::target,
            audit_events::outcome,
            audit_events::status,
            audit_events::source,
            audit_events::message,
        ))
        .order(audit_events::id.desc())
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    Ok((count, rows))
}
