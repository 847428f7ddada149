//! `steward bench soak`: does a node's memory stay flat? A real `steward start` child
//! process (the node as users run it) on a fresh database, refreshing and measuring a
//! simulated cluster that keeps changing (a `steward simulate` child, so the node's RSS
//! is its own), for `--minutes`. Its RSS is sampled every 10 s; after a warm-up the
//! slope of a least-squares line through each minute's lowest sample is the figure
//! (`rss_slope_mb_per_hour`; the slope through every sample is reported beside it):
//! memory that grows without bound shows as a slope that does not vanish. The node's live Rust heap (from
//! its heartbeat) is reported beside it, to tell a leak (the heap grows) from memory
//! the allocator keeps (RSS grows, the heap does not).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::database::BenchDatabase;
use super::rss::rss_kib_of;
use super::sim_process::{SimProcess, listening_url};

/// What to soak.
#[derive(Debug, Clone)]
pub struct SoakBenchOptions {
    /// `postgres://…` server to create the database on; `None`: SQLite.
    pub database: Option<String>,
    pub minutes: f64,
    pub pods: usize,
    /// Cluster changes per second.
    pub churn: f64,
    /// Minutes excluded from the slope (caches filling, first captures).
    pub warmup_minutes: f64,
}

/// How often RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// The `steward start` child, stopped on drop.
struct NodeProcess {
    child: Child,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // SAFETY: sending SIGTERM to our own child; its pid is valid until we wait on it.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `steward start` on `database` in `dir`; answers its process and base URL.
fn start_node(
    database: &BenchDatabase,
    dir: &std::path::Path,
) -> anyhow::Result<(NodeProcess, String)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("start")
        .env("STEWARD__DATABASE__URL", database.url_text())
        .env("STEWARD__SERVER__DATA_DIR", dir)
        .env("STEWARD__SERVER__NAME", "soak")
        .env("STEWARD__WEB__PORT", "0")
        .env("STEWARD__WEBSOCKET__PORT", "0")
        // As the demo does: captures within a minute rather than three.
        .env("STEWARD__METRICS__COORDINATOR_INTERVAL", "20s")
        .env("STEWARD__QUEUE__LOG_MESSAGES", "false")
        .env("STEWARD__LOG__FORMAT", "text")
        .env("STEWARD__LOG__LEVEL", "info")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let url = listening_url(&mut child, "listening on ");
    let node = NodeProcess { child };
    Ok((node, url?))
}

/// The node's live Rust heap as its last heartbeat recorded it, MiB.
async fn heap_mb(http: &reqwest::Client, url: &str, password: &str) -> Option<f64> {
    let servers: Value = http
        .get(format!("{url}/api/servers?expand=resources"))
        .basic_auth("admin", Some(password))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    servers["resources"][0]["memory_heap"]
        .as_f64()
        .map(|b| b / (1024.0 * 1024.0))
}

/// The lowest sample of each minute, at the minute's start: what the node keeps
/// between bursts of work (a capture's Prometheus answers, a watch batch) — the level
/// a leak raises. Bursts come and go within seconds and would drown a slope of a few
/// MB an hour in noise of ±10 MB.
pub fn per_minute_floor(samples: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut floors: Vec<(f64, f64)> = Vec::new();
    for &(minute, rss) in samples {
        let bucket = minute.floor();
        match floors.last_mut() {
            Some(last) if last.0 == bucket => last.1 = last.1.min(rss),
            _ => floors.push((bucket, rss)),
        }
    }
    floors
}

/// Slope of the least-squares line through `(x, y)` points (y per unit of x).
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if var == 0.0 { 0.0 } else { cov / var }
}

/// Runs the soak and answers its report.
pub async fn run_soak_bench(options: SoakBenchOptions) -> anyhow::Result<Value> {
    let nodes = options.pods.div_ceil(100).max(1);
    let pods_per_node = options.pods.div_ceil(nodes).max(1);
    let sim = SimProcess::spawn_churning(nodes, pods_per_node, options.churn)?;
    let database = BenchDatabase::create(options.database.as_deref())?;
    let dir = database.dir().join("node");
    std::fs::create_dir_all(&dir)?;
    let (node, url) = start_node(&database, &dir)?;
    let pid = node.child.id().to_string();
    let http = reqwest::Client::new();
    // The node created the region's first user; the bench logs in as it.
    let password = std::fs::read_to_string(crate::auth::bootstrap::password_file(&dir))?
        .trim()
        .to_string();
    let added = http
        .post(format!("{url}/api/providers"))
        .basic_auth("admin", Some(&password))
        .json(&json!({"name": "soak", "api_url": sim.url, "prometheus_url": sim.url}))
        .send()
        .await?;
    anyhow::ensure!(
        added.status().as_u16() == 201,
        "adding the provider failed: {}",
        added.status()
    );
    eprintln!(
        "bench: soaking a node ({} pods churning {}/s, {}) for {} min",
        nodes * pods_per_node,
        options.churn,
        database.url.masked(),
        options.minutes
    );
    let started = Instant::now();
    let total = Duration::from_secs_f64(options.minutes * 60.0);
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut heap: Vec<(f64, f64)> = Vec::new();
    loop {
        let minute = started.elapsed().as_secs_f64() / 60.0;
        let rss_mb = rss_kib_of(&pid) as f64 / 1024.0;
        anyhow::ensure!(rss_mb > 0.0, "the node exited during the soak");
        samples.push((minute, rss_mb));
        if let Some(h) = heap_mb(&http, &url, &password).await {
            heap.push((minute, h));
        }
        if started.elapsed() >= total {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY.min(total.saturating_sub(started.elapsed()))).await;
    }
    let after_warmup: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(m, _)| *m >= options.warmup_minutes)
        .collect();
    let floors = per_minute_floor(&after_warmup);
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let per_minute: Vec<Value> = samples
        .iter()
        .zip(heap.iter().map(Some).chain(std::iter::repeat(None)))
        .filter(|((m, _), _)| (m * 6.0).round() as i64 % 6 == 0)
        .map(|((m, r), h)| {
            json!({"minute": round(*m), "rss_mb": round(*r), "heap_mb": h.map(|h| round(h.1))})
        })
        .collect();
    let heap_after: Vec<(f64, f64)> = heap
        .iter()
        .copied()
        .filter(|(m, _)| *m >= options.warmup_minutes)
        .collect();
    let health = match http
        .get(format!("{url}/api/metrics/health"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
    {
        Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let first = floors.first().map_or(0.0, |p| p.1);
    let last = floors.last().map_or(0.0, |p| p.1);
    let peak = samples.iter().map(|p| p.1).fold(0.0, f64::max);
    drop(node);
    Ok(json!({
        "bench": "soak",
        "database": if options.database.is_some() { "postgresql" } else { "sqlite" },
        "pods": nodes * pods_per_node,
        "churn_per_s": options.churn,
        "minutes": options.minutes,
        "warmup_minutes": options.warmup_minutes,
        "rss_start_mb": (first * 10.0).round() / 10.0,
        "rss_end_mb": (last * 10.0).round() / 10.0,
        "rss_peak_mb": (peak * 10.0).round() / 10.0,
        "rss_slope_mb_per_hour": (slope(&floors) * 60.0 * 100.0).round() / 100.0,
        "rss_slope_all_samples_mb_per_hour": (slope(&after_warmup) * 60.0 * 100.0).round() / 100.0,
        "heap_end_mb": heap_after.last().map(|h| round(h.1)),
        "heap_slope_mb_per_hour": (slope(&heap_after) * 60.0 * 100.0).round() / 100.0,
        "samples_per_minute": per_minute,
        "metrics_health": health,
    }))
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn each_minute_keeps_its_lowest_sample() {
        let samples = [
            (0.0, 50.0),
            (0.5, 40.0),
            (1.0, 60.0),
            (1.9, 45.0),
            (2.2, 47.0),
        ];
        assert_eq!(
            super::per_minute_floor(&samples),
            vec![(0.0, 40.0), (1.0, 45.0), (2.0, 47.0)]
        );
    }

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 + 2.0 * i as f64)).collect();
        assert!((slope(&line) - 2.0).abs() < 1e-9);
        let flat = [(0.0, 5.0), (1.0, 6.0), (2.0, 5.0), (3.0, 6.0)];
        assert!(slope(&flat).abs() < 0.5);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }
}
