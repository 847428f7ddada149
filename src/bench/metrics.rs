//! `steward bench metrics`: capture, write and roll up C&U for a simulated cluster of
//! `--objects` nodes, pods and containers (a `steward simulate` child process serves
//! its Prometheus API), one node in this process with the default 2 collector and 2
//! processor workers.
//!
//! 1. **capture burn-down** — every object due at once with a 50-minute window of
//!    20-second samples (150 per object): captures/s and rows/s until all are done.
//! 2. **steady state** — for `--window` seconds, objects fall due at the rate the
//!    50-minute threshold implies (objects / 3000 per second); the captures still
//!    queued at the end are `backlog_after_window` (a node that keeps up leaves at
//!    most a batch or two).
//! 3. **hourly rollup** — the hours the samples fall in, every object and parent.
//! 4. **COPY ceiling** (PostgreSQL) — the same rows loaded with `COPY` into a table
//!    with the same key: the physical ceiling to compare rows/s with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{Value, json};

use super::database::BenchDatabase;
use super::provider_node::ProviderNode;
use super::rss::RssSampler;
use super::sim_process::SimProcess;
use crate::db::schema::metric_capture_states as s;
use crate::db::{Db, DbConnection, DbError};
use crate::metrics::health::health;
use crate::metrics::rollup::{RollupArgs, rollup_hour};
use crate::metrics::targets::CaptureType;
use crate::providers::list_refreshes;
use crate::settings::Settings;

/// Options of `steward bench metrics`.
#[derive(Debug, Clone)]
pub struct MetricsBenchOptions {
    pub database: Option<String>,
    pub objects: usize,
    pub window_s: u64,
}

fn settings_for(base: &Settings, url: &crate::settings::DatabaseUrl) -> Settings {
    let mut s = base.clone();
    s.database.url = url.clone();
    s.database.pool_size = 8;
    s.server.name = "bench-metrics".into();
    s.queue.log_messages = false;
    s.ems_refresh.watch = false;
    s.ems_refresh.refresh_interval = Duration::from_secs(3600);
    s.metrics.coordinator_interval = Duration::from_secs(2);
    s.metrics.initial_capture_window = Duration::from_secs(50 * 60);
    s
}

async fn captured(db: &Db) -> anyhow::Result<(i64, i64, i64, i64)> {
    let h = db
        .run(|c| health(c, chrono::Utc::now().naive_utc()))
        .await?;
    let objects = h.types.iter().map(|t| t.objects).sum();
    let never = h.types.iter().map(|t| t.never_captured).sum();
    Ok((objects, never, h.rows_written, h.backlog.captures_queued))
}

/// Makes the `n` least recently captured objects due (as 50 minutes passing would).
fn age(conn: &mut DbConnection, n: i64) -> Result<usize, DbError> {
    let now = chrono::Utc::now().naive_utc();
    let rows: Vec<(String, i64)> = s::table
        .filter(s::queued_on.is_null())
        .order(s::last_capture_on)
        .limit(n)
        .select((s::resource_type, s::resource_id))
        .load(conn)?;
    let mut done = 0;
    for kind in CaptureType::ALL {
        let ids: Vec<i64> = rows
            .iter()
            .filter(|(t, _)| t == kind.name())
            .map(|(_, id)| *id)
            .collect();
        done += diesel::update(
            s::table
                .filter(s::resource_type.eq(kind.name()))
                .filter(s::resource_id.eq_any(&ids)),
        )
        .set(s::last_capture_on.eq(Some(now - chrono::Duration::minutes(51))))
        .execute(conn)?;
    }
    Ok(done)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Loads every realtime row again with COPY into a plain table with the same key;
/// rows per second.
fn copy_ceiling(conn: &mut DbConnection) -> Result<Option<f64>, DbError> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(None);
    };
    let file = std::env::temp_dir().join(format!(
        "steward-copy-{}.bin",
        uuid::Uuid::new_v4().simple()
    ));
    let path = file.display().to_string();
    diesel::sql_query("DROP TABLE IF EXISTS metrics_copy_ceiling").execute(pg)?;
    diesel::sql_query(
        "CREATE TABLE metrics_copy_ceiling (LIKE metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS); \
         ",
    )
    .execute(pg)?;
    diesel::sql_query(
        "ALTER TABLE metrics_copy_ceiling ADD PRIMARY KEY (resource_type, resource_id, timestamp)",
    )
    .execute(pg)?;
    diesel::sql_query(format!(
        "COPY (SELECT * FROM metrics) TO '{path}' WITH (FORMAT binary)"
    ))
    .execute(pg)?;
    let started = Instant::now();
    diesel::sql_query(format!(
        "COPY metrics_copy_ceiling FROM '{path}' WITH (FORMAT binary)"
    ))
    .execute(pg)?;
    let secs = started.elapsed().as_secs_f64();
    let rows: Vec<Count> =
        diesel::sql_query("SELECT COUNT(*) AS n FROM metrics_copy_ceiling").load(pg)?;
    diesel::sql_query("DROP TABLE metrics_copy_ceiling").execute(pg)?;
    let _ = std::fs::remove_file(&file);
    let n = rows.first().map_or(0, |c| c.n);
    Ok(Some(n as f64 / secs.max(1e-9)))
}

/// Runs the benchmark; returns the JSON report.
pub async fn run_metrics_bench(
    base: Settings,
    options: MetricsBenchOptions,
) -> anyhow::Result<Value> {
    // Objects ≈ nodes + pods + 1.5 containers per pod, 100 pods per node.
    let pods = ((options.objects as f64) / 2.51).ceil().max(1.0) as usize;
    let nodes = pods.div_ceil(100).max(1);
    let sim = SimProcess::spawn(nodes, pods.div_ceil(nodes))?;
    let database = BenchDatabase::create(options.database.as_deref())?;
    let settings = Arc::new(settings_for(&base, &database.url));
    let sampler = RssSampler::start();
    let bench = ProviderNode::start(settings, database, &sim.url, true).await?;
    let (db, pid) = (bench.db.clone(), bench.provider_id);
    let refreshed = Instant::now();
    loop {
        let r = db
            .run(move |c| list_refreshes(c, pid, Some("full"), 1))
            .await?;
        if r.first().is_some_and(|r| r.status == "ok") {
            break;
        }
        anyhow::ensure!(
            refreshed.elapsed() < Duration::from_secs(1800),
            "the inventory never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "bench: inventory of {pods} pods on {nodes} nodes in {:.1}s",
        refreshed.elapsed().as_secs_f64()
    );

    // 1. Burn-down: every object's first 50-minute window.
    let started = Instant::now();
    let (objects, rows) = loop {
        let (objects, never, rows, _) = captured(&db).await?;
        if objects > 0 && never == 0 {
            break (objects, rows);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(7200),
            "captures did not finish in 2 h"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let burn = started.elapsed().as_secs_f64();
    let captures_per_sec = objects as f64 / burn;
    let rows_per_sec = rows as f64 / burn;
    eprintln!(
        "bench: {objects} objects captured in {burn:.1}s: {captures_per_sec:.0} captures/s, {rows_per_sec:.0} rows/s"
    );

    // 2. Steady state at the 50-minute threshold's rate.
    let per_sec = (objects as f64 / 3000.0).max(1.0);
    let window = Instant::now();
    let mut owed = 0.0;
    while window.elapsed() < Duration::from_secs(options.window_s) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        owed += per_sec;
        let n = owed.floor() as i64;
        owed -= n as f64;
        db.run(move |c| age(c, n)).await?;
    }
    let (_, _, _, backlog) = captured(&db).await?;
    eprintln!(
        "bench: {per_sec:.1} captures/s due for {}s; backlog after the window: {backlog}",
        options.window_s
    );

    // 3. Hourly rollup of every object and parent, directly, with the node stopped (its
    //    processors would be rolling up the same hours at the same time).
    let peak = sampler.peak_mb();
    bench.stop().await;
    let hours: Vec<i64> = {
        let now = chrono::Utc::now().timestamp();
        let first = now - 50 * 60;
        (first / 3600..=now / 3600).map(|h| h * 3600).collect()
    };
    // Timed per hour; the figure is the hour with the most samples.
    let mut rollup_rows = 0;
    let mut per_hour = Vec::new();
    let now = chrono::Utc::now().timestamp();
    for hour in &hours {
        let args = RollupArgs {
            provider_id: pid,
            resource_type: None,
            hour: *hour,
        };
        let rolled = Instant::now();
        let n = db.run(move |c| rollup_hour(c, &args)).await?;
        rollup_rows += n;
        let covered = ((*hour + 3600).min(now) - (*hour).max(now - 3000)).max(0);
        per_hour.push((rolled.elapsed().as_secs_f64(), n, covered as f64 / 60.0));
    }
    let hourly_rollup_s = per_hour
        .iter()
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map_or(0.0, |h| h.0);
    eprintln!(
        "bench: hourly rollup {hourly_rollup_s:.1}s for the fullest hour (seconds, rows, sample minutes: {per_hour:?})"
    );
    let per_hour: Vec<Value> = per_hour
        .iter()
        .map(|(s, n, m)| json!({"seconds": s, "rows": n, "sample_minutes": m}))
        .collect();

    // 4. The COPY ceiling, once nothing else writes.
    let copy = db.run(copy_ceiling).await?;
    if let Some(c) = copy {
        eprintln!("bench: COPY ceiling {c:.0} rows/s");
    }
    drop(sim);
    Ok(json!({
        "bench": "metrics",
        "database": db.backend().name(),
        "objects": objects,
        "pods": pods,
        "nodes": nodes,
        "samples_per_object": 150,
        "capture_s": burn,
        "captures_per_sec": captures_per_sec,
        "rows": rows,
        "rows_per_sec": rows_per_sec,
        "copy_ceiling_rows_per_sec": copy,
        "due_per_sec_at_50m": per_sec,
        "window_s": options.window_s,
        "backlog_after_window": backlog,
        "hourly_rollup_s": hourly_rollup_s,
        "hourly_rollup_rows": rollup_rows,
        "hourly_rollups": per_hour,
        "peak_rss_mb": peak,
    }))
}
