//! `steward bench events`: the event pipeline against simulated clusters (each a
//! `steward simulate` child process; the node runs in this process, so the peak RSS is
//! the node's and the benchmark's client).
//!
//! 1. **throughput** (`events_per_sec`) — storm folding off: one cluster records
//!    `--events` distinct Events as fast as it can; timed from the request until every
//!    one is a stored `event_streams` row with its links; then the retention purge
//!    deletes them all, in batches of `events.purge_batch` (`events_purged_per_sec`).
//! 2. **storm** (`storm_peak_rss_mb`, `other_provider_p99_ms`) — a new node, folding on:
//!    the first cluster repeats one pod's BackOff event `--storm` times in a burst (one
//!    Event counting up); meanwhile a second cluster restarts a pod every 200 ms, and
//!    each restart is timed until its events are stored. The storm must end with every
//!    occurrence counted.
//! 3. **alerts** (`alert_ingest_per_sec`) — Alertmanager payloads of 100 firing alerts
//!    each, stored through the same code as `POST /api/alertmanager` (without HTTP);
//!    then (`alert_ingest_http_per_sec`) posted to a node process's
//!    `/api/alertmanager` by 4 concurrent senders.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::dsl::{count_star, max};
use diesel::prelude::*;
use serde_json::{Value, json};

use super::database::BenchDatabase;
use super::node_process::{NodeProcess, token};
use super::provider_node::ProviderNode;
use super::rss::RssSampler;
use super::sim_process::SimProcess;
use crate::db::Db;
use crate::db::schema::event_streams as es;
use crate::settings::Settings;
use crate::with_backend;

/// Options of `steward bench events`.
#[derive(Debug, Clone)]
pub struct EventsBenchOptions {
    pub database: Option<String>,
    /// Distinct events of the throughput run.
    pub events: u64,
    /// Occurrences of the storm.
    pub storm: u64,
    /// Alerts posted in the ingest run.
    pub alerts: usize,
}

fn settings_for(base: &Settings, url: &crate::settings::DatabaseUrl, fold: bool) -> Settings {
    let mut s = base.clone();
    s.database.url = url.clone();
    s.database.pool_size = 8;
    s.server.name = "bench-events".into();
    s.queue.log_messages = false;
    s.ems_refresh.refresh_interval = Duration::from_secs(3600);
    if !fold {
        s.events.storm_threshold = 0;
    }
    s
}

/// The sum of the rows' occurrences, as a BIGINT on both backends.
fn total_occurrences() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(occurrences), 0) AS BIGINT)")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).ceil() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Occurrences stored for `provider` (rows, and the sum of their occurrences).
async fn stored(db: &Db, provider: i64) -> anyhow::Result<(i64, i64)> {
    Ok(db
        .run(move |c| {
            Ok(with_backend!(c, c => es::table
                .filter(es::provider_id.eq(provider))
                .select((count_star(), total_occurrences()))
                .first::<(i64, i64)>(c))?)
        })
        .await?)
}

/// Rows of `provider` above id `floor`: the newest rows only, by the primary key (the
/// throughput run looks often, and must not scan what it stored before).
async fn rows_after(db: &Db, provider: i64, floor: i64) -> anyhow::Result<i64> {
    Ok(db
        .run(move |c| {
            Ok(with_backend!(c, c => es::table
                .filter(es::id.gt(floor))
                .filter(es::provider_id.eq(provider))
                .count()
                .get_result::<i64>(c))?)
        })
        .await?)
}

/// Looks every `every` until `done`.
async fn wait_every(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut done: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !done().await? {
        if started.elapsed() > timeout {
            anyhow::bail!("{what} not within {timeout:?}");
        }
        tokio::time::sleep(every).await;
    }
    Ok(())
}

async fn wait_for(
    what: &str,
    timeout: Duration,
    done: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    wait_every(what, timeout, Duration::from_millis(20), done).await
}

async fn sim_events(http: &reqwest::Client, url: &str) -> anyhow::Result<usize> {
    let list: Value = http
        .get(format!("{url}/api/v1/events"))
        .send()
        .await?
        .json()
        .await?;
    Ok(list["items"].as_array().map_or(0, Vec::len))
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    Ok(http
        .post(url)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Runs the three measurements; returns the JSON report.
pub async fn run_events_bench(
    base: Settings,
    options: EventsBenchOptions,
) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();

    // 1. Throughput, folding off.
    let noisy = SimProcess::spawn_holding(4, 10, options.events + 1_000)?;
    let database = BenchDatabase::create(options.database.as_deref())?;
    let settings = Arc::new(settings_for(&base, &database.url, false));
    let purge_settings = settings.clone();
    let bench = ProviderNode::start(settings, database, &noisy.url, false).await?;
    let (db, a) = (bench.db.clone(), bench.provider_id);
    let initial = sim_events(&http, &noisy.url).await? as i64;
    wait_for(
        "the cluster's first events",
        Duration::from_secs(120),
        async || Ok(stored(&db, a).await?.0 >= initial),
    )
    .await?;
    let floor: i64 = db
        .run(|c| {
            Ok(with_backend!(c, c => es::table
                .select(max(es::id))
                .first::<Option<i64>>(c))?
            .unwrap_or(0))
        })
        .await?;
    let started = Instant::now();
    post(
        &http,
        &format!("{}/_sim/storm", noisy.url),
        json!({"events": options.events, "distinct": true}),
    )
    .await?;
    let want = options.events as i64;
    wait_every(
        "the distinct events",
        Duration::from_secs(1800),
        Duration::from_millis(100),
        async || Ok(rows_after(&db, a, floor).await? >= want),
    )
    .await?;
    let took = started.elapsed().as_secs_f64();
    let linked: i64 = db
        .run(move |c| {
            Ok(with_backend!(c, c => es::table
                .filter(es::provider_id.eq(a))
                .filter(es::container_group_id.is_not_null())
                .count()
                .get_result(c))?)
        })
        .await?;
    let events_per_sec = options.events as f64 / took;
    eprintln!(
        "bench: {} distinct events stored in {took:.1}s ({events_per_sec:.0}/s; {linked} rows linked to their pod)",
        options.events
    );
    let backend = db.backend().name();
    bench.stop().await;
    // Retention: every row is past `events.keep_events` for a clock half a year on.
    let stored_rows = stored(&db, a).await?.0;
    let started = Instant::now();
    let report = db
        .run(move |c| {
            let later = crate::clock::now() + chrono::Duration::days(366);
            crate::events::purge(c, &purge_settings, later)
        })
        .await?;
    let purge_s = started.elapsed().as_secs_f64();
    let events_purged_per_sec = report.events as f64 / purge_s.max(1e-9);
    eprintln!(
        "bench: retention purged {} of {stored_rows} event rows in {purge_s:.1}s ({events_purged_per_sec:.0}/s, batches of {})",
        report.events, base.events.purge_batch
    );
    drop(bench);
    drop(noisy);

    // 2. A storm on one provider while another keeps changing.
    let noisy = SimProcess::spawn(2, 10)?;
    let quiet = SimProcess::spawn(2, 10)?;
    let database = BenchDatabase::create(options.database.as_deref())?;
    let settings = Arc::new(settings_for(&base, &database.url, true));
    let bench = ProviderNode::start(settings, database, &noisy.url, false).await?;
    let (db, a) = (bench.db.clone(), bench.provider_id);
    let b = bench.add_provider("quiet", &quiet.url).await?;
    for (url, id) in [(&noisy.url, a), (&quiet.url, b)] {
        let n = sim_events(&http, url).await? as i64;
        wait_for(
            "the clusters' first events",
            Duration::from_secs(120),
            async || Ok(stored(&db, id).await?.0 >= n),
        )
        .await?;
    }
    let sampler = RssSampler::start();
    sampler.reset();
    let storm = post(
        &http,
        &format!("{}/_sim/storm", noisy.url),
        json!({"events": options.storm}),
    )
    .await?;
    let storm_uid = storm["event_uid"].as_str().unwrap_or_default().to_string();
    let storm_started = Instant::now();
    let mut latencies = Vec::new();
    let counted = loop {
        let uid = storm_uid.clone();
        let (highest, occurrences): (Option<i64>, i64) = db
            .run(move |c| {
                Ok(with_backend!(c, c => es::table
                    .filter(es::provider_id.eq(a))
                    .filter(es::ems_ref.eq(uid))
                    .select((max(es::event_count), total_occurrences()))
                    .first::<(Option<i64>, i64)>(c))?)
            })
            .await?;
        if highest.unwrap_or(0) >= options.storm as i64 {
            break occurrences;
        }
        if storm_started.elapsed() > Duration::from_secs(1800) {
            anyhow::bail!("the storm was not absorbed within 30 minutes");
        }
        // One change on the quiet cluster, timed until its events are stored.
        let (rows_before, _) = stored(&db, b).await?;
        let asked = Instant::now();
        post(
            &http,
            &format!("{}/_sim/churn", quiet.url),
            json!({"restart": 1}),
        )
        .await?;
        wait_for(
            "the quiet provider's events",
            Duration::from_secs(120),
            async || Ok(stored(&db, b).await?.0 > rows_before),
        )
        .await?;
        latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let storm_s = storm_started.elapsed().as_secs_f64();
    let storm_rows = stored(&db, a).await?.0;
    let peak = sampler.peak_mb();
    latencies.sort_by(f64::total_cmp);
    let p99 = percentile(&latencies, 99.0);
    eprintln!(
        "bench: storm of {} absorbed in {storm_s:.1}s: {counted} occurrences counted on {storm_rows} rows; peak RSS {peak:.0} MB; the other provider's events p50/p99 {:.0}/{p99:.0} ms ({} changes)",
        options.storm,
        percentile(&latencies, 50.0),
        latencies.len()
    );

    // 3. Alert ingest.
    let started = Instant::now();
    for body in alert_payloads("BenchAlert", options.alerts) {
        let payload: crate::alerts::alertmanager::Payload = serde_json::from_value(body)?;
        crate::alerts::alertmanager::validate(&payload).map_err(anyhow::Error::msg)?;
        db.run(move |c| crate::alerts::alertmanager::ingest(c, &payload, None))
            .await?;
    }
    let alert_ingest_per_sec = options.alerts as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "bench: {} alerts ingested ({alert_ingest_per_sec:.0}/s)",
        options.alerts
    );
    bench.stop().await;
    drop(bench);
    let http_per_sec = alerts_over_http(&options).await?;
    Ok(json!({
        "bench": "events",
        "database": backend,
        "events": options.events,
        "events_per_sec": events_per_sec,
        "events_linked": linked,
        "events_purged_per_sec": events_purged_per_sec,
        "storm": options.storm,
        "storm_seconds": storm_s,
        "storm_occurrences_counted": counted,
        "storm_rows": storm_rows,
        "storm_peak_rss_mb": peak,
        "other_provider_changes": latencies.len(),
        "other_provider_p50_ms": percentile(&latencies, 50.0),
        "other_provider_p99_ms": p99,
        "alerts": options.alerts,
        "alert_ingest_per_sec": alert_ingest_per_sec,
        "alert_ingest_http_per_sec": http_per_sec,
    }))
}

/// Alertmanager (v4) payloads of 100 firing alerts each, `n` alerts named `name` in all.
fn alert_payloads(name: &str, n: usize) -> Vec<Value> {
    (0..n)
        .step_by(100)
        .map(|from| {
            let alerts: Vec<Value> = (from..(from + 100).min(n))
                .map(|i| {
                    json!({"status": "firing", "labels": {"alertname": name, "instance": format!("host-{i}"), "severity": "warning"},
                        "annotations": {"description": "bench"}, "startsAt": "2026-12-01T00:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "fingerprint": format!("{name}{i:016x}")})
                })
                .collect();
            json!({"version": "4", "status": "firing", "receiver": "steward", "alerts": alerts})
        })
        .collect()
}

/// Alertmanager payloads of 100 alerts each, `POST`ed to `/api/alertmanager` of a node
/// process (`steward start`) by 4 concurrent senders, with the admin's token:
/// alerts stored per second, HTTP, authentication and validation included.
async fn alerts_over_http(options: &EventsBenchOptions) -> anyhow::Result<f64> {
    let database = BenchDatabase::create(options.database.as_deref())?;
    let dir = database.dir().join("node");
    std::fs::create_dir_all(&dir)?;
    let mut node = NodeProcess::start(&database.url_text(), &dir, "web_services")?;
    let url = node.url.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let password = std::fs::read_to_string(crate::auth::bootstrap::password_file(&dir))?
        .trim()
        .to_string();
    let admin = token(&http, &url, "admin", &password).await?;
    let queue = Arc::new(std::sync::Mutex::new(alert_payloads(
        "BenchHttp",
        options.alerts,
    )));
    let started = Instant::now();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, admin, queue) =
                (http.clone(), url.clone(), admin.clone(), queue.clone());
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let Some(body) = next else {
                        return Ok::<(), anyhow::Error>(());
                    };
                    http.post(format!("{url}/api/alertmanager"))
                        .header("X-Auth-Token", &admin)
                        .json(&body)
                        .send()
                        .await?
                        .error_for_status()?;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await??;
    }
    let per_sec = options.alerts as f64 / started.elapsed().as_secs_f64();
    node.stop();
    eprintln!(
        "bench: {} alerts posted to /api/alertmanager over HTTP ({per_sec:.0}/s)",
        options.alerts
    );
    Ok(per_sec)
}
