//! The coordinator (role `ems_metrics_coordinator`, one server per zone): every
//! `metrics.coordinator_interval` it finds the objects whose last capture is older
//! than their type's threshold and queues captures for them in batches of
//! `metrics.capture_batch` — one message per batch, never one per object. Queued
//! objects are marked, so a backlog never accumulates duplicates; a capture not done
//! after `capture_requeue_after` is queued again. Before queueing it logs the health
//! check of the seed's §6.5.2.1: captures still queued, the oldest and the newest.
//!
//! The same task runs retention where `database_operations` is active on the master.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use tokio::sync::watch;

use super::purge::purge;
use super::store::mark_queued;
use super::targets::CaptureType;
use crate::db::schema::{
    container_groups as g, container_nodes as n, containers as c, metric_capture_states as s,
    queue_messages as q,
};
use crate::db::{Db, DbConnection, DbError};
use crate::providers::providers_in_zone;
use crate::queue::{NewMessage, RoutesChanged, put_many};
use crate::settings::MetricsSettings;
use crate::workers::METRICS_COLLECTOR_QUEUE;

/// Objects deleted this recently still get their last samples captured.
const ARCHIVED_FOR: chrono::Duration = chrono::Duration::hours(8);

/// The seed's health check: captures waiting or running.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Backlog {
    pub captures_queued: i64,
    pub oldest: Option<NaiveDateTime>,
    pub newest: Option<NaiveDateTime>,
    pub rollups_queued: i64,
}

pub fn backlog(conn: &mut DbConnection) -> Result<Backlog, DbError> {
    let active = ["ready", "dequeue"];
    let (captures_queued, oldest, newest): (i64, Option<NaiveDateTime>, Option<NaiveDateTime>) =
        q::table
            .filter(q::class_name.eq("Metrics"))
            .filter(q::method_name.eq("capture"))
            .filter(q::state.eq_any(active))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::min(q::created_on),
                diesel::dsl::max(q::created_on),
            ))
            .first(conn)?;
    let rollups_queued: i64 = q::table
        .filter(q::class_name.eq("Metrics"))
        .filter(q::method_name.ne("capture"))
        .filter(q::state.eq_any(active))
        .count()
        .get_result(conn)?;
    Ok(Backlog {
        captures_queued,
        oldest,
        newest,
        rollups_queued,
    })
}

macro_rules! due_ids {
    ($conn:expr, $t:ident, $kind:expr, $provider:expr, $now:expr, $stale:expr, $requeue:expr) => {{
        let kind = $kind.name();
        $t::table
            .left_join(s::table.on(s::resource_type.eq(kind).and(s::resource_id.eq($t::id))))
            .filter($t::provider_id.eq($provider))
            .filter(
                $t::deleted_on
                    .is_null()
                    .or($t::deleted_on.gt($now - ARCHIVED_FOR)),
            )
            .filter(
                s::resource_id
                    .nullable()
                    .is_null()
                    .or(s::queued_on.nullable().is_null().and(
                        s::last_capture_on
                            .nullable()
                            .is_null()
                            .or(s::last_capture_on.nullable().lt($stale)),
                    ))
                    .or(s::queued_on.nullable().lt($requeue)),
            )
            .select($t::id)
            .order($t::id)
            .load::<i64>($conn)
    }};
}

/// Objects of a type due for capture.
pub fn due(
    conn: &mut DbConnection,
    provider: i64,
    kind: CaptureType,
    now: NaiveDateTime,
    settings: &MetricsSettings,
) -> Result<Vec<i64>, DbError> {
    let stale =
        now - chrono::Duration::from_std(settings.threshold(kind.name())).unwrap_or_default();
    let requeue =
        now - chrono::Duration::from_std(settings.capture_requeue_after).unwrap_or_default();
    Ok(match kind {
        CaptureType::ContainerNode => due_ids!(conn, n, kind, provider, now, stale, requeue)?,
        CaptureType::ContainerGroup => due_ids!(conn, g, kind, provider, now, stale, requeue)?,
        CaptureType::Container => due_ids!(conn, c, kind, provider, now, stale, requeue)?,
    })
}

/// The capture message of one batch.
pub fn capture_message(zone: &str, args: &super::capture::CaptureArgs) -> NewMessage {
    let mut m = NewMessage::internal("Metrics", "capture")
        .with_queue(METRICS_COLLECTOR_QUEUE)
        .with_zone(zone)
        .with_instance(args.provider_id);
    m.role = "ems_metrics_collector".into();
    m.args = serde_json::to_string(args).unwrap_or_default();
    m
}

/// Whose objects a set of captures is for.
#[derive(Debug, Clone, Copy)]
pub struct CaptureScope<'a> {
    pub zone: &'a str,
    pub provider: i64,
    pub kind: CaptureType,
}

/// Queues captures of `ids` in batches; marks them queued first. A `range` (backfill)
/// captures that time range and leaves the capture states alone.
pub fn queue_captures(
    conn: &mut DbConnection,
    scope: CaptureScope<'_>,
    ids: &[i64],
    batch: usize,
    range: Option<(i64, i64)>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let CaptureScope {
        zone,
        provider,
        kind,
    } = scope;
    let messages: Vec<NewMessage> = ids
        .chunks(batch.max(1))
        .map(|chunk| {
            capture_message(
                zone,
                &super::capture::CaptureArgs {
                    provider_id: provider,
                    resource_type: kind,
                    ids: chunk.to_vec(),
                    start: range.map(|r| r.0),
                    end: range.map(|r| r.1),
                },
            )
        })
        .collect();
    if range.is_none() {
        mark_queued(conn, kind.name(), provider, ids, now)?;
    }
    put_many(conn, &messages)
}

/// One coordination pass over the zone's providers with a Prometheus endpoint.
pub async fn coordinate(db: &Db, settings: &MetricsSettings, zone: &str) -> Result<usize, DbError> {
    let b = db.run(backlog).await?;
    tracing::info!(
        captures_queued = b.captures_queued,
        oldest = ?b.oldest,
        newest = ?b.newest,
        "metrics capture health check: {} captures queued",
        b.captures_queued
    );
    let zone_name = zone.to_string();
    let providers = db.run(move |c| providers_in_zone(c, &zone_name)).await?;
    let mut queued = 0;
    for p in providers
        .into_iter()
        .filter(|p| !p.prometheus_url.trim().is_empty())
    {
        for kind in CaptureType::ALL {
            let (settings, zone) = (settings.clone(), zone.to_string());
            let n = db
                .run(move |c| {
                    let now = crate::clock::now();
                    let ids = due(c, p.id, kind, now, &settings)?;
                    queue_captures(
                        c,
                        CaptureScope {
                            zone: &zone,
                            provider: p.id,
                            kind,
                        },
                        &ids,
                        settings.capture_batch as usize,
                        None,
                        now,
                    )
                })
                .await?;
            queued += n;
        }
    }
    if queued > 0 {
        db.signal_queue();
        tracing::info!(messages = queued, "metrics captures queued");
    }
    Ok(queued)
}

/// The coordinator as a supervised component (`metrics_coordinator`): it keeps
/// nothing a rebuild would miss (what is due is in the database).
#[derive(Clone)]
pub struct MetricsCoordinator {
    pub db: Db,
    pub settings: Arc<MetricsSettings>,
    pub zone: String,
    pub routes: watch::Receiver<RoutesChanged>,
}

impl crate::supervision::Component for MetricsCoordinator {
    fn name(&self) -> &'static str {
        "metrics_coordinator"
    }

    fn run(
        &self,
        ctx: crate::supervision::ComponentContext,
    ) -> crate::supervision::ComponentFuture {
        let c = self.clone();
        Box::pin(async move {
            tokio::select! {
                _ = ctx.stopped() => Ok(()),
                _ = run_coordinator(c.db, c.settings, c.zone, c.routes) => {
                    Err("the routes channel closed".into())
                }
            }
        })
    }
}

/// Runs coordination and retention while this server holds the roles.
pub async fn run_coordinator(
    db: Db,
    settings: Arc<MetricsSettings>,
    zone: String,
    mut routes: watch::Receiver<RoutesChanged>,
) {
    let mut last_pass: Option<Instant> = None;
    let mut last_purge: Option<Instant> = None;
    let tick = Duration::from_millis(500).min(settings.coordinator_interval);
    loop {
        let (coordinator, purger) = {
            let r = routes.borrow();
            let has = |role: &str| r.active_roles.iter().any(|a| a == role);
            (
                has("ems_metrics_coordinator"),
                has("database_operations") && r.is_master,
            )
        };
        if coordinator && last_pass.is_none_or(|t| t.elapsed() >= settings.coordinator_interval) {
            last_pass = Some(Instant::now());
            if let Err(error) = coordinate(&db, &settings, &zone).await {
                tracing::warn!(%error, "metrics coordination failed; retrying next interval");
            }
        } else if !coordinator {
            last_pass = None;
        }
        if purger && last_purge.is_none_or(|t| t.elapsed() >= settings.purge_interval) {
            last_purge = Some(Instant::now());
            let s = settings.clone();
            match db.run(move |c| purge(c, &s, crate::clock::now())).await {
                Ok(report) if report.any() => tracing::info!(?report, "metrics purged"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "metrics purge failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            changed = routes.changed() => if changed.is_err() { return },
        }
    }
}
