//! `steward bench queue`: how fast the queue moves messages through real nodes.
//!
//! Three scenarios, one after the other, with `--nodes` nodes running in this process
//! against one fresh database (each node: its own server row, registry, dispatcher,
//! worker pools and completion writer — everything but the web listener):
//!
//! 1. **burn-down** — `--messages` no-op messages are inserted first; the nodes then
//!    drain them. Measures messages/s, and the RSS with all of them waiting.
//! 2. **sustained** — a producer puts `--rate` messages/s for `--seconds` while the
//!    nodes consume; measures the rate actually completed and put-to-start latency.
//! 3. **unsaturated** — the same at `--light-rate`, well under capacity: the
//!    put-to-start latency a user sees when the region keeps up.
//! 4. with `--backlog N`: N messages put for a role no bench node runs (`reporting`),
//!    then the unsaturated run again — what such a backlog costs everyone else — and
//!    the time `/api/queue/stats`' counting takes with and without it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::database::BenchDatabase;
use super::rss::RssSampler;
use crate::db::{Db, migrate};
use crate::node::{BootedNode, Shutdown, boot};
use crate::queue::{LatencySummary, NewMessage, put_many};
use crate::settings::Settings;

/// Options of `steward bench queue`.
#[derive(Debug, Clone)]
pub struct QueueBenchOptions {
    pub database: Option<String>,
    pub nodes: usize,
    pub messages: usize,
    pub seconds: u64,
    pub rate: usize,
    pub light_rate: usize,
    /// Messages waiting for a role nobody runs, for the fourth scenario (0: skip it).
    pub backlog: usize,
}

/// The role the backlog waits for; bench nodes never run it.
const UNSERVED_ROLE: &str = "reporting";

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub messages: u64,
    pub seconds: f64,
    pub messages_per_sec: f64,
    pub put_to_start_p50_ms: f64,
    pub put_to_start_p99_ms: f64,
    pub peak_rss_mb: f64,
}

fn settings_for(base: &Settings, url: &crate::settings::DatabaseUrl, index: usize) -> Settings {
    let mut s = base.clone();
    s.database.url = url.clone();
    s.database.pool_size = 8;
    s.server.name = format!("bench-{}", index + 1);
    s.queue.log_messages = false;
    s.queue.diagnostic_commands = true;
    s.queue.claim_batch = 1000;
    s.queue.mailbox_per_worker = 500;
    s.queue.completion_batch = 2000;
    s.queue.completion_flush = Duration::from_millis(10);
    s.queue.poll_interval = Duration::from_millis(500);
    s.roles.enabled.retain(|r| r != UNSERVED_ROLE);
    s.roles.primary.retain(|r| r != UNSERVED_ROLE);
    s
}

/// Median time of counting the queue for its statistics, ms.
async fn stats_ms(db: &Db) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        db.run(crate::queue::queue_counts).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn noop() -> anyhow::Result<NewMessage> {
    Ok(NewMessage::new("Diagnostics.noop")?.with_args(&json!({}))?)
}

fn completed(nodes: &[BootedNode]) -> u64 {
    nodes.iter().map(|n| n.queue_stats.completed()).sum()
}

fn reset_latency(nodes: &[BootedNode]) {
    for n in nodes {
        n.queue_stats.put_to_start.reset();
    }
}

/// Put-to-start over all nodes (weighted by count; percentiles taken as the worst
/// node's, an upper bound).
fn latency(nodes: &[BootedNode]) -> LatencySummary {
    let all: Vec<LatencySummary> = nodes
        .iter()
        .map(|n| n.queue_stats.put_to_start.summary())
        .collect();
    let count: u64 = all.iter().map(|s| s.count).sum();
    let pick = |f: fn(&LatencySummary) -> f64| {
        all.iter()
            .filter(|s| s.count > 0)
            .map(f)
            .fold(0.0, f64::max)
    };
    LatencySummary {
        count,
        mean_ms: pick(|s| s.mean_ms),
        p50_ms: pick(|s| s.p50_ms),
        p90_ms: pick(|s| s.p90_ms),
        p99_ms: pick(|s| s.p99_ms),
        max_ms: pick(|s| s.max_ms),
    }
}

/// Runs the three scenarios; returns the JSON report.
pub async fn run_queue_bench(
    base: Settings,
    options: QueueBenchOptions,
) -> anyhow::Result<serde_json::Value> {
    let database = BenchDatabase::create(options.database.as_deref())?;
    let sampler = RssSampler::start();
    let mut first = settings_for(&base, &database.url, 0);
    first.server.region = base.server.region;
    let db = {
        let s = first.database.clone();
        tokio::task::spawn_blocking(move || Db::connect(&s)).await??
    };
    let region = first.server.region;
    db.run(move |c| migrate(c, region)).await?;
    eprintln!(
        "bench: database {} ({})",
        db.masked_url(),
        db.backend().name()
    );

    // 1. Burn-down: everything waiting, then drain.
    let total = options.messages;
    let insert_started = Instant::now();
    let chunk = 20_000;
    let mut inserted = 0;
    while inserted < total {
        let n = chunk.min(total - inserted);
        let batch: Vec<NewMessage> = (0..n).map(|_| noop()).collect::<anyhow::Result<_>>()?;
        db.run(move |c| put_many(c, &batch)).await?;
        inserted += n;
    }
    let insert_s = insert_started.elapsed().as_secs_f64();
    eprintln!("bench: inserted {total} messages in {insert_s:.1}s");
    let rss_waiting_mb = super::rss::current_rss_kib() as f64 / 1024.0;

    sampler.reset();
    let started = Instant::now();
    let key_dir = std::env::temp_dir().join(format!(
        "steward-bench-key-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let keys = crate::crypto::KeyRing::load_or_create(&key_dir.join("v2_key"))?;
    let _ = std::fs::remove_dir_all(&key_dir);
    let mut nodes = Vec::new();
    for i in 0..options.nodes.max(1) {
        let s = Arc::new(settings_for(&base, &database.url, i));
        nodes.push(
            boot(
                db.clone(),
                s,
                uuid::Uuid::new_v4().to_string(),
                keys.clone(),
            )
            .await?,
        );
    }
    while completed(&nodes) < total as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("burn-down did not finish within an hour");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let lat = latency(&nodes);
    let burn_down = ScenarioResult {
        messages: total as u64,
        seconds: secs,
        messages_per_sec: total as f64 / secs,
        put_to_start_p50_ms: lat.p50_ms,
        put_to_start_p99_ms: lat.p99_ms,
        peak_rss_mb: sampler.peak_mb(),
    };
    eprintln!(
        "bench: burn-down {:.0} messages/s",
        burn_down.messages_per_sec
    );
    clear_queue(&db).await?;

    // 2 and 3. Producer and consumers together.
    let sustained = steady(&db, &nodes, &sampler, options.rate, options.seconds).await?;
    eprintln!(
        "bench: sustained {:.0} messages/s",
        sustained.messages_per_sec
    );
    clear_queue(&db).await?;
    let unsaturated = steady(
        &db,
        &nodes,
        &sampler,
        options.light_rate,
        options.seconds.min(10),
    )
    .await?;
    eprintln!(
        "bench: unsaturated p99 put-to-start {:.1} ms",
        unsaturated.put_to_start_p99_ms
    );
    let stats_empty_ms = stats_ms(&db).await?;
    let with_backlog = if options.backlog > 0 {
        let mut left = options.backlog;
        while left > 0 {
            let n = left.min(20_000);
            let batch: Vec<NewMessage> = (0..n)
                .map(|_| Ok(noop()?.with_role(UNSERVED_ROLE)?))
                .collect::<anyhow::Result<_>>()?;
            db.run(move |c| put_many(c, &batch)).await?;
            left -= n;
        }
        eprintln!(
            "bench: {} messages waiting for {UNSERVED_ROLE}, which no node runs",
            options.backlog
        );
        let stats_backlog_ms = stats_ms(&db).await?;
        let run = steady(
            &db,
            &nodes,
            &sampler,
            options.light_rate,
            options.seconds.min(10),
        )
        .await?;
        eprintln!(
            "bench: beside the backlog, p50 / p99 put-to-start {:.1} / {:.1} ms",
            run.put_to_start_p50_ms, run.put_to_start_p99_ms
        );
        json!({
            "backlog": options.backlog,
            "unsaturated": run,
            "stats_ms": stats_backlog_ms,
        })
    } else {
        serde_json::Value::Null
    };

    for node in &nodes {
        let _ = node
            .supervisor
            .send(Shutdown {
                deadline: Duration::from_secs(5),
            })
            .await;
    }
    Ok(json!({
        "bench": "queue",
        "database": db.backend().name(),
        "nodes": nodes.len(),
        "workers_per_node": base.worker("generic").map(|w| w.count).unwrap_or(0),
        "insert_messages_per_sec": total as f64 / insert_s,
        "rss_with_waiting_mb": rss_waiting_mb,
        "burn_down": burn_down,
        "sustained": sustained,
        "unsaturated": unsaturated,
        "stats_ms": stats_empty_ms,
        "with_unserved_backlog": with_backlog,
        "messages_per_sec": burn_down.messages_per_sec,
        "put_to_start_p50_ms": unsaturated.put_to_start_p50_ms,
        "put_to_start_p99_ms": unsaturated.put_to_start_p99_ms,
        "peak_rss_mb": burn_down.peak_rss_mb.max(sustained.peak_rss_mb).max(unsaturated.peak_rss_mb),
    }))
}

/// Puts `rate` messages/s for `seconds` while the nodes consume, then waits for the
/// backlog to drain. The rate completed is measured over the production window.
async fn steady(
    db: &Db,
    nodes: &[BootedNode],
    sampler: &RssSampler,
    rate: usize,
    seconds: u64,
) -> anyhow::Result<ScenarioResult> {
    reset_latency(nodes);
    sampler.reset();
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1);
    let before = completed(nodes);
    let started = Instant::now();
    let mut produced = 0u64;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while started.elapsed() < Duration::from_secs(seconds) {
        interval.tick().await;
        let batch: Vec<NewMessage> = (0..per_tick)
            .map(|_| noop())
            .collect::<anyhow::Result<_>>()?;
        let n = batch.len() as u64;
        db.run(move |c| put_many(c, &batch)).await?;
        db.signal_queue();
        produced += n;
    }
    let window = started.elapsed().as_secs_f64();
    let done_in_window = completed(nodes) - before;
    let drain_started = Instant::now();
    while completed(nodes) - before < produced && drain_started.elapsed() < Duration::from_secs(600)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lat = latency(nodes);
    Ok(ScenarioResult {
        messages: produced,
        seconds: window,
        messages_per_sec: done_in_window as f64 / window,
        put_to_start_p50_ms: lat.p50_ms,
        put_to_start_p99_ms: lat.p99_ms,
        peak_rss_mb: sampler.peak_mb(),
    })
}

/// Starts the next scenario on an empty table, as a fresh region would.
async fn clear_queue(db: &Db) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    db.run(|c| {
        match c {
            crate::db::DbConnection::Postgresql(pg) => {
                // TRUNCATE fires no row or statement triggers: reset the counters too.
                diesel::sql_query("TRUNCATE queue_messages, queue_counters, queue_counter_deltas")
                    .execute(pg)?;
            }
            crate::db::DbConnection::Sqlite(lite) => {
                diesel::delete(crate::db::schema::queue_messages::table).execute(lite)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(())
}
