//! `steward bench refresh`: how fast a node takes in a cluster, against a simulated
//! cluster served by a `steward simulate` child process (so this process's peak RSS
//! is the node's alone).
//!
//! 1. **first refresh** — an empty database, one full refresh of the whole cluster.
//! 2. **no-change refresh** — the same again: everything is compared, nothing written.
//! 3. **watch to database** — `--changes` pods are created one at a time in the
//!    cluster; each is timed from the simulator's answer until its row is in the
//!    database (watch event → batch window → save).

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{Value, json};

use super::database::BenchDatabase;
use super::provider_node::ProviderNode;
use super::rss::RssSampler;
use super::sim_process::SimProcess;
use crate::db::Db;
use crate::db::schema::container_groups;
use crate::providers::{RefreshRecord, list_refreshes, queue_refresh};
use crate::settings::Settings;

/// Options of `steward bench refresh`.
#[derive(Debug, Clone)]
pub struct RefreshBenchOptions {
    pub database: Option<String>,
    pub pods: usize,
    pub nodes: usize,
    pub changes: usize,
}

fn settings_for(base: &Settings, url: &crate::settings::DatabaseUrl) -> Settings {
    let mut s = base.clone();
    s.database.url = url.clone();
    s.database.pool_size = 8;
    s.server.name = "bench-refresh".into();
    s.queue.log_messages = false;
    s.ems_refresh.refresh_interval = Duration::from_secs(3600);
    s.ems_refresh.watch = true;
    s
}

async fn wait_full_refreshes(
    db: &Db,
    provider: i64,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<RefreshRecord> {
    let started = Instant::now();
    loop {
        let records = db
            .run(move |c| list_refreshes(c, provider, Some("full"), 1000))
            .await?;
        if let Some(failed) = records.iter().find(|r| r.status != "ok") {
            anyhow::bail!("a full refresh failed: {}", failed.error);
        }
        if records.len() >= count
            && let Some(newest) = records.into_iter().next()
        {
            return Ok(newest);
        }
        if started.elapsed() > timeout {
            anyhow::bail!("no full refresh #{count} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs the three measurements; returns the JSON report.
pub async fn run_refresh_bench(
    base: Settings,
    options: RefreshBenchOptions,
) -> anyhow::Result<Value> {
    let nodes = options.nodes.max(1);
    let pods_per_node = options.pods.div_ceil(nodes).max(1);
    let generated = Instant::now();
    let sim = SimProcess::spawn(nodes, pods_per_node)?;
    eprintln!(
        "bench: simulated {} pods on {nodes} nodes at {} in {:.1}s",
        nodes * pods_per_node,
        sim.url,
        generated.elapsed().as_secs_f64()
    );
    let database = BenchDatabase::create(options.database.as_deref())?;
    let settings = Arc::new(settings_for(&base, &database.url));
    let sampler = RssSampler::start();
    let bench = ProviderNode::start(settings.clone(), database, &sim.url, false).await?;
    let (db, node, id) = (bench.db.clone(), &bench.node, bench.provider_id);

    let first = wait_full_refreshes(&db, id, 1, Duration::from_secs(1800)).await?;
    eprintln!(
        "bench: first refresh {:.2}s ({} objects: collect {:.2}s, parse {:.2}s, save {:.2}s)",
        first.total_s, first.objects, first.collect_s, first.parse_s, first.save_s
    );
    let zone = settings.server.zone.clone();
    queue_refresh(
        &node.queue_client,
        id,
        &zone,
        Duration::from_secs(7200),
        None,
    )
    .await?;
    let second = wait_full_refreshes(&db, id, 2, Duration::from_secs(1800)).await?;
    eprintln!(
        "bench: no-change refresh {:.2}s (added {}, updated {}, deleted {})",
        second.total_s, second.added, second.updated, second.deleted
    );

    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    for _ in 0..options.changes {
        let reply: Value = http
            .post(format!("{}/_sim/churn", sim.url))
            .json(&json!({"create": 1}))
            .send()
            .await?
            .json()
            .await?;
        let started = Instant::now();
        let uid = reply["created"][0]["uid"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the simulator created no pod: {reply}"))?
            .to_string();
        loop {
            let uid = uid.clone();
            let found: i64 = db
                .run(move |c| {
                    Ok(container_groups::table
                        .filter(container_groups::provider_id.eq(id))
                        .filter(container_groups::ems_ref.eq(uid))
                        .count()
                        .get_result(c)?)
                })
                .await?;
            if found > 0 {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                anyhow::bail!("a watched pod did not reach the database within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.sort_by(f64::total_cmp);
    let p99 = percentile(&latencies, 99.0);
    eprintln!("bench: watch to database p99 {p99:.0} ms");
    let peak = sampler.peak_mb();
    bench.stop().await;
    drop(sim);
    Ok(json!({
        "bench": "refresh",
        "database": db.backend().name(),
        "nodes": nodes,
        "pods": nodes * pods_per_node,
        "objects": first.objects,
        "first_refresh_s": first.total_s,
        "nochange_refresh_s": second.total_s,
        "collect_s": first.collect_s,
        "parse_s": first.parse_s,
        "save_s": first.save_s,
        "nochange": {
            "collect_s": second.collect_s,
            "parse_s": second.parse_s,
            "save_s": second.save_s,
            "written": second.added + second.updated + second.deleted,
        },
        "watch_changes": latencies.len(),
        "watch_to_db_p50_ms": percentile(&latencies, 50.0),
        "watch_to_db_p99_ms": p99,
        "watch_to_db_max_ms": latencies.last().copied().unwrap_or(0.0),
        "peak_rss_mb": peak,
    }))
}
