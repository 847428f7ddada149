//! `QueueMaintenance`: the region's queue upkeep, done by the master only — counts by
//! state, zone and role logged every `queue.stats_interval` (the seed's
//! `log_system_status`), and finished messages older than `queue.keep_finished`
//! purged every `queue.purge_interval`, `queue.purge_batch` rows per statement.

use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::watch;

use super::dispatcher::RoutesChanged;
use super::maintenance_sql::purge_finished;
use super::stats::{format_by_zone_and_role, queue_counts};
use crate::db::Db;
use crate::settings::QueueSettings;

/// The upkeep actor.
pub struct QueueMaintenance {
    db: Db,
    settings: QueueSettings,
    routes: watch::Receiver<RoutesChanged>,
    last_stats: Option<Instant>,
    last_purge: Option<Instant>,
    busy: bool,
}

impl QueueMaintenance {
    pub fn new(db: Db, settings: QueueSettings, routes: watch::Receiver<RoutesChanged>) -> Self {
        Self {
            db,
            settings,
            routes,
            last_stats: None,
            last_purge: None,
            busy: false,
        }
    }
}

impl Actor for QueueMaintenance {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let tick = self
            .settings
            .stats_interval
            .min(self.settings.purge_interval)
            .min(Duration::from_secs(5));
        ctx.run_interval(tick, |act, ctx| act.tick(ctx));
    }
}

fn due(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= every)
}

impl QueueMaintenance {
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.busy || !self.routes.borrow().is_master {
            return;
        }
        let stats_due = due(self.last_stats, self.settings.stats_interval);
        let purge_due = due(self.last_purge, self.settings.purge_interval);
        if !stats_due && !purge_due {
            return;
        }
        self.busy = true;
        if stats_due {
            self.last_stats = Some(Instant::now());
        }
        if purge_due {
            self.last_purge = Some(Instant::now());
        }
        let db = self.db.clone();
        let keep = self.settings.keep_finished;
        let batch = i64::from(self.settings.purge_batch);
        let work = async move {
            if stats_due {
                log_counts(&db).await;
            }
            if purge_due {
                purge(&db, keep, batch).await;
            }
        };
        ctx.spawn(work.into_actor(self).map(|_, act, _| act.busy = false));
    }
}

async fn log_counts(db: &Db) {
    match db.run(queue_counts).await {
        Ok(counts) => {
            for (state, by_zone) in &counts.by_state {
                let text = format_by_zone_and_role(by_zone);
                tracing::info!(
                    target: "steward::queue",
                    state = %state,
                    total = counts.totals.get(state).copied().unwrap_or(0),
                    "queue count for state=[{state:?}] by zone and role: {text}"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count the queue"),
    }
}

async fn purge(db: &Db, keep: Duration, batch: i64) {
    let before = chrono::Utc::now().naive_utc()
        - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::hours(1));
    let mut total = 0;
    loop {
        match db.run(move |c| purge_finished(c, before, batch)).await {
            Ok(n) => {
                total += n;
                if (n as i64) < batch {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "purging finished messages failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(target: "steward::queue", purged = total, "purged finished messages");
    }
    if total >= VACUUM_AFTER {
        vacuum(db).await;
    }
}

/// Purges at least this large are followed by a vacuum of the queue table.
const VACUUM_AFTER: usize = 10_000;

/// Reclaims the space and index entries of purged messages now rather than when
/// autovacuum gets to it (PostgreSQL; SQLite reuses freed pages by itself).
async fn vacuum(db: &Db) {
    use diesel::RunQueryDsl;
    let result = db
        .run(|c| {
            if let crate::db::DbConnection::Postgresql(pg) = c {
                diesel::sql_query("VACUUM (ANALYZE) queue_messages").execute(pg)?;
            }
            Ok(())
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "vacuuming the queue table failed");
    }
}
