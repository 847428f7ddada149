//! `QueueMaintenance`: the region's queue upkeep, done by the master only — the
//! counter deltas folded every few seconds (PostgreSQL), counts by state, zone and
//! role logged every `queue.stats_interval` (the seed's `log_system_status`), and
//! finished messages older than `queue.keep_finished` purged every
//! `queue.purge_interval`, `queue.purge_batch` rows per statement. A supervised
//! [`Component`]: it keeps nothing a rebuild would miss.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::dispatcher::RoutesChanged;
use super::maintenance_sql::purge_finished;
use super::stats::{fold_queue_counters, format_by_zone_and_role, queue_counts};
use crate::db::Db;
use crate::settings::QueueSettings;
use crate::supervision::{Component, ComponentContext, ComponentFuture};

/// The upkeep component.
#[derive(Clone)]
pub struct QueueMaintenance {
    pub db: Db,
    pub settings: QueueSettings,
    pub routes: watch::Receiver<RoutesChanged>,
}

/// How often the counter deltas are folded.
const FOLD_EVERY: Duration = Duration::from_secs(1);

impl Component for QueueMaintenance {
    fn name(&self) -> &'static str {
        "queue_maintenance"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        Box::pin(run(self.clone(), ctx))
    }
}

fn due(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= every)
}

async fn run(m: QueueMaintenance, ctx: ComponentContext) -> Result<(), String> {
    let tick = m
        .settings
        .stats_interval
        .min(m.settings.purge_interval)
        .min(FOLD_EVERY);
    let (mut last_stats, mut last_purge) = (None, None);
    loop {
        tokio::select! {
            _ = ctx.stopped() => return Ok(()),
            _ = tokio::time::sleep(tick) => {}
        }
        ctx.progress();
        if !m.routes.borrow().is_master {
            continue;
        }
        if let Err(error) = m.db.run(fold_queue_counters).await {
            tracing::warn!(%error, "cannot fold the queue counters");
        }
        if due(last_stats, m.settings.stats_interval) {
            last_stats = Some(Instant::now());
            log_counts(&m.db).await;
        }
        if due(last_purge, m.settings.purge_interval) {
            last_purge = Some(Instant::now());
            purge(
                &m.db,
                m.settings.keep_finished,
                i64::from(m.settings.purge_batch),
            )
            .await;
        }
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
    let before = crate::clock::now()
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
