//! The notifier's outbox (`notifications`) and its record of attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{notification_attempts as na, notifications as nt};
use crate::db::{DbConnection, DbError};
use crate::with_backend;

pub const KIND_WEBHOOK: &str = "webhook";
pub const KIND_EMAIL: &str = "email";

/// A notification to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub kind: &'static str,
    /// The webhook's URL, or the e-mail's recipients separated by commas.
    pub target: String,
    pub subject: String,
    /// The webhook's JSON, or the e-mail's text.
    pub body: String,
    pub policy_name: String,
    pub event_stream_id: Option<i64>,
    pub alert_id: Option<i64>,
}

/// Puts `n` in the outbox, due now.
pub fn enqueue(conn: &mut DbConnection, n: &NewNotification) -> Result<i64, DbError> {
    let now = crate::clock::now();
    Ok(with_backend!(conn, c => diesel::insert_into(nt::table)
        .values((
            nt::kind.eq(n.kind),
            nt::target.eq(&n.target),
            nt::subject.eq(&n.subject),
            nt::body.eq(&n.body),
            nt::policy_name.eq(&n.policy_name),
            nt::event_stream_id.eq(n.event_stream_id),
            nt::alert_id.eq(n.alert_id),
            nt::status.eq("pending"),
            nt::attempts.eq(0),
            nt::next_attempt_on.eq(now),
            nt::last_error.eq(""),
            nt::created_on.eq(now),
        ))
        .returning(nt::id)
        .get_result(c))?)
}

/// A notification due for delivery.
#[derive(Debug, Clone, Queryable)]
pub struct Due {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
    pub created_on: NaiveDateTime,
}

/// Up to `limit` pending notifications due at `now`, oldest first.
pub fn due(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> Result<Vec<Due>, DbError> {
    Ok(with_backend!(conn, c => nt::table
        .filter(nt::status.eq("pending"))
        .filter(nt::next_attempt_on.le(now))
        .order((nt::next_attempt_on, nt::id))
        .limit(limit)
        .select((nt::id, nt::kind, nt::target, nt::subject, nt::body, nt::attempts, nt::created_on))
        .load(c))?)
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: NaiveDateTime,
    pub ok: bool,
    /// The HTTP status or SMTP answer, or why it failed.
    pub detail: String,
    pub duration_ms: i64,
}

/// Records `attempt` on notification `id`: delivered, or pending again at `retry_on`
/// (or `failed` — given up — when `retry_on` is `None`).
pub fn record_attempt(
    conn: &mut DbConnection,
    id: i64,
    attempt: &Attempt,
    retry_on: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    crate::db::write_transaction(conn, |conn| {
        with_backend!(conn, c => diesel::insert_into(na::table)
            .values((
                na::notification_id.eq(id),
                na::attempted_on.eq(attempt.at),
                na::outcome.eq(if attempt.ok { "ok" } else { "error" }),
                na::detail.eq(crate::text::elide(&attempt.detail, 1024)),
                na::duration_ms.eq(attempt.duration_ms),
            ))
            .execute(c))?;
        let target = nt::table.find(id);
        if attempt.ok {
            with_backend!(conn, c => diesel::update(target)
                .set((
                    nt::status.eq("delivered"),
                    nt::attempts.eq(nt::attempts + 1),
                    nt::delivered_on.eq(attempt.at),
                    nt::last_error.eq(""),
                ))
                .execute(c))?;
        } else {
            let (status, next) = match retry_on {
                Some(t) => ("pending", t),
                None => ("failed", attempt.at),
            };
            with_backend!(conn, c => diesel::update(target)
                .set((
                    nt::status.eq(status),
                    nt::attempts.eq(nt::attempts + 1),
                    nt::next_attempt_on.eq(next),
                    nt::last_error.eq(crate::text::elide(&attempt.detail, 1024)),
                ))
                .execute(c))?;
        }
        Ok(())
    })
}
