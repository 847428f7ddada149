//! Retention of events, alerts and notifications (role `database_operations`, on the
//! master): events older than `events.keep_events` (six months by default), resolved
//! alerts older than `alerts.keep_resolved`, delivered or given-up notifications and
//! their attempts older than `alerts.keep_notifications` — deleted `events.purge_batch`
//! rows per statement, so a purge never holds a long lock.
//!
//! (Metrics drop whole hourly partitions on PostgreSQL; events are not partitioned,
//! since their dedup index spans time — batches keep each delete short instead.)

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use tokio::sync::watch;

use crate::db::schema::{
    alerts as al, event_streams as es, notification_attempts as na, notifications as nt,
};
use crate::db::{Db, DbConnection, DbError};
use crate::queue::RoutesChanged;
use crate::settings::Settings;
use crate::supervision::{Component, ComponentContext, ComponentFuture};
use crate::with_backend;

/// What one purge removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    pub events: usize,
    pub alerts: usize,
    pub notifications: usize,
    pub attempts: usize,
}

fn before(now: NaiveDateTime, keep: Duration) -> NaiveDateTime {
    now - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX / 2)
}

/// Deletes the rows of `ids` picked by `pick` batch after batch until none is left.
fn in_batches(
    conn: &mut DbConnection,
    mut pick: impl FnMut(&mut DbConnection) -> Result<Vec<i64>, DbError>,
    mut delete: impl FnMut(&mut DbConnection, &[i64]) -> Result<usize, DbError>,
) -> Result<usize, DbError> {
    let mut total = 0;
    loop {
        let ids = pick(conn)?;
        if ids.is_empty() {
            return Ok(total);
        }
        total += delete(conn, &ids)?;
    }
}

/// Applies retention as of `now`.
pub fn purge(
    conn: &mut DbConnection,
    s: &Settings,
    now: NaiveDateTime,
) -> Result<RetentionReport, DbError> {
    let batch = i64::from(s.events.purge_batch);
    let events_cutoff = before(now, s.events.keep_events);
    let alerts_cutoff = before(now, s.alerts.keep_resolved);
    let notes_cutoff = before(now, s.alerts.keep_notifications);
    let events = in_batches(
        conn,
        |c| {
            Ok(
                with_backend!(c, c => es::table.filter(es::timestamp.lt(events_cutoff)).select(es::id).limit(batch).load(c))?,
            )
        },
        |c, ids| {
            Ok(
                with_backend!(c, c => diesel::delete(es::table.filter(es::id.eq_any(ids))).execute(c))?,
            )
        },
    )?;
    let alerts = in_batches(
        conn,
        |c| {
            Ok(with_backend!(c, c => al::table
            .filter(al::ended_on.lt(alerts_cutoff))
            .select(al::id)
            .limit(batch)
            .load(c))?)
        },
        |c, ids| {
            Ok(
                with_backend!(c, c => diesel::delete(al::table.filter(al::id.eq_any(ids))).execute(c))?,
            )
        },
    )?;
    let mut attempts = 0;
    let notifications = in_batches(
        conn,
        |c| {
            Ok(with_backend!(c, c => nt::table
            .filter(nt::status.ne("pending"))
            .filter(nt::created_on.lt(notes_cutoff))
            .select(nt::id)
            .limit(batch)
            .load(c))?)
        },
        |c, ids| {
            attempts += with_backend!(c, c => diesel::delete(na::table.filter(na::notification_id.eq_any(ids))).execute(c))?;
            Ok(
                with_backend!(c, c => diesel::delete(nt::table.filter(nt::id.eq_any(ids))).execute(c))?,
            )
        },
    )?;
    Ok(RetentionReport {
        events,
        alerts,
        notifications,
        attempts,
    })
}

/// The supervised component that runs [`purge`] every `events.purge_interval` while
/// this server is the master and holds `database_operations`.
#[derive(Clone)]
pub struct EventRetention {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub routes: watch::Receiver<RoutesChanged>,
}

impl Component for EventRetention {
    fn name(&self) -> &'static str {
        "event_retention"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        let mut me = self.clone();
        Box::pin(async move {
            let mut last: Option<std::time::Instant> = None;
            loop {
                let purger = {
                    let r = me.routes.borrow();
                    r.is_master && r.active_roles.iter().any(|a| a == "database_operations")
                };
                if purger && last.is_none_or(|t| t.elapsed() >= me.settings.events.purge_interval) {
                    last = Some(std::time::Instant::now());
                    let s = me.settings.clone();
                    match me.db.run(move |c| purge(c, &s, crate::clock::now())).await {
                        Ok(r) if r != RetentionReport::default() => {
                            tracing::info!(?r, "events, alerts and notifications purged")
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "event retention failed"),
                    }
                }
                tokio::select! {
                    _ = ctx.stopped() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1).min(me.settings.events.purge_interval)) => {}
                    changed = me.routes.changed() => if changed.is_err() {
                        return Err("the routes channel closed".into());
                    },
                }
            }
        })
    }
}
