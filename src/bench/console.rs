//! `steward bench console`: how many subscribed websocket clients one node holds, at
//! what memory, and how long its fan-out takes. A node (`steward start`, its own
//! process) on a throw-away database publishes the queue's counts every second; the
//! benchmark opens `--clients` websockets where clients connect — the live feed's own
//! listener, whose URL `GET /api` gives (`--via web`: `GET /ws` on the web port) —
//! each subscribed to `queue`, measures
//! the node's RSS once they are all held, then for a few seconds times every event from
//! its `at` stamp to its arrival at each client (publish → every subscriber). Then,
//! with `--pods` > 0, the inventory topic under churn (`super::console_inventory`):
//! a change in a simulated cluster → the event at a subscribed client.
//!
//! Not yet measured (issue 12): the console's first paint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::database::BenchDatabase;
use super::node_process::{NodeProcess, token, vm_hwm_kib};
use super::rss::rss_kib_of;

/// What `steward bench console` is asked.
#[derive(Debug, Clone)]
pub struct ConsoleBenchOptions {
    /// `postgres://…` server to create the database on; `None`: SQLite.
    pub database: Option<String>,
    /// Websocket clients to open.
    pub clients: usize,
    /// How long event arrivals are timed once every client is held.
    pub listen: Duration,
    /// The inventory phase (None: skipped).
    pub inventory: Option<super::console_inventory::InventoryChurn>,
    /// Connect to `GET /ws` on the web port instead of the live feed's listener.
    pub via_web: bool,
}

/// Clients connecting at once.
const CONNECTING: usize = 64;

/// Runs the benchmark and answers its report.
pub async fn run_console_bench(options: ConsoleBenchOptions) -> anyhow::Result<Value> {
    let database = BenchDatabase::create(options.database.as_deref())?;
    let postgres = matches!(database.url, crate::settings::DatabaseUrl::Postgres(_));
    let dir = database.dir().join("node");
    std::fs::create_dir_all(&dir)?;
    let mut node = NodeProcess::start_with(
        &database.url_text(),
        &dir,
        "user_interface,web_services,websocket,ems_inventory",
        &[
            ("STEWARD__WEBSOCKET__QUEUE_INTERVAL", "1s"),
            ("STEWARD__WEBSOCKET__PING_INTERVAL", "60s"),
        ],
    )?;
    let url = node.url.clone();
    let pid = node.child.id();
    eprintln!("bench: node {url} (pid {pid}) on {}", database.url.masked());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let password = std::fs::read_to_string(crate::auth::bootstrap::password_file(&dir))?;
    let auth = token(&http, &url, "admin", password.trim()).await?;
    let rss_idle_kib = rss_kib_of(&pid.to_string());

    let ws_url = if options.via_web {
        format!("{}/ws", url.replacen("http://", "ws://", 1))
    } else {
        live_feed_url(&http, &url, &auth).await?
    };
    eprintln!("bench: websocket clients connect to {ws_url}");
    let held = Arc::new(AtomicUsize::new(0));
    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<f64>();
    let timing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    eprintln!("bench: opening {} websocket clients", options.clients);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut clients = Vec::with_capacity(options.clients);
    let mut remaining = options.clients;
    while remaining > 0 {
        let batch = remaining.min(CONNECTING);
        remaining -= batch;
        let mut opening = Vec::with_capacity(batch);
        for _ in 0..batch {
            opening.push(tokio::spawn(subscribe(ws_url.clone(), auth.clone())));
        }
        for task in opening {
            match task.await {
                Ok(Ok(socket)) => {
                    held.fetch_add(1, Ordering::Relaxed);
                    let (tx, timing) = (latency_tx.clone(), timing.clone());
                    clients.push(tokio::spawn(listen(socket, tx, timing)));
                }
                Ok(Err(e)) => failures.push(e.to_string()),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if !failures.is_empty() {
            break;
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    let held_n = held.load(Ordering::Relaxed);
    eprintln!(
        "bench: {held_n} clients subscribed in {connect_s:.1} s{}",
        failures
            .first()
            .map(|f| format!(" (first failure: {f})"))
            .unwrap_or_default()
    );
    // Let the node settle, then read its memory with every client held.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_held_kib = rss_kib_of(&pid.to_string());

    eprintln!(
        "bench: timing events for {} s",
        options.listen.as_secs_f64()
    );
    // Arrivals of an event that began before timing started are not counted whole, so
    // wait for the next event boundary's worth first.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    while latency_rx.try_recv().is_ok() {}
    timing.store(true, Ordering::Release);
    tokio::time::sleep(options.listen).await;
    timing.store(false, Ordering::Release);
    let mut latencies = Vec::new();
    while let Ok(ms) = latency_rx.try_recv() {
        latencies.push(ms);
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| nearest_rank(&latencies, q);
    let still_held = clients.iter().filter(|c| !c.is_finished()).count();
    let peak_rss_kib = vm_hwm_kib(pid);
    for client in &clients {
        client.abort();
    }
    let inventory = match options.inventory {
        Some(churn) => {
            super::console_inventory::time_inventory_changes(&http, &url, &ws_url, &auth, churn)
                .await
        }
        None => Ok(json!({})),
    };
    node.stop();
    let inventory = inventory?;
    let mb = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    let mut report = json!({
        "bench": "console",
        "database": if postgres { "postgresql" } else { "sqlite" },
        "ws_url": ws_url,
        "via": if options.via_web { "web port" } else { "live feed listener" },
        "clients_asked": options.clients,
        "ws_clients_held": still_held,
        "connect_s": r2(connect_s),
        "failures": failures.len(),
        "first_failure": failures.first(),
        "node_rss_idle_mb": mb(rss_idle_kib),
        "node_rss_held_mb": mb(rss_held_kib),
        "node_rss_per_client_kib": if held_n > 0 {
            r2(rss_held_kib.saturating_sub(rss_idle_kib) as f64 / held_n as f64)
        } else {
            f64::NAN
        },
        "node_peak_rss_mb": mb(peak_rss_kib),
        "fanout_deliveries": latencies.len(),
        "fanout_p50_ms": r2(pick(0.5)),
        "fanout_p99_ms": r2(pick(0.99)),
        "fanout_max_ms": r2(pick(1.0)),
    });
    if let (Some(all), Some(more)) = (report.as_object_mut(), inventory.as_object()) {
        all.extend(more.clone());
    }
    Ok(report)
}

/// Where the node tells its clients the live feed is (`GET /api`, as the console asks).
async fn live_feed_url(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<String> {
    let entry: Value = http
        .get(format!("{url}/api"))
        .header("X-Auth-Token", token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    entry["live_feed"]["href"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("GET /api names no live feed: {}", entry["live_feed"]))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/ws` with the token and subscribes to `queue`.
async fn subscribe(url: String, token: String) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("X-Auth-Token", token.parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let hello = next_json(&mut socket).await?;
    anyhow::ensure!(hello["type"] == "hello", "expected hello, got {hello}");
    let subscribe = json!({"type": "subscribe", "topics": ["queue"]}).to_string();
    socket.send(Message::text(subscribe)).await?;
    let answer = next_json(&mut socket).await?;
    anyhow::ensure!(
        answer["type"] == "subscribed",
        "expected subscribed, got {answer}"
    );
    Ok(socket)
}

async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the connection closed"),
        }
    }
}

/// Reads events until the connection ends; while `timing`, sends each event's delay.
async fn listen(
    mut socket: Socket,
    latencies: mpsc::UnboundedSender<f64>,
    timing: Arc<std::sync::atomic::AtomicBool>,
) {
    while let Ok(event) = next_json(&mut socket).await {
        if !timing.load(Ordering::Acquire) || event["type"] != "event" {
            continue;
        }
        let at = event["at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if let Some(at) = at {
            let ms = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_microseconds();
            let _ = latencies.send(ms.unwrap_or(0) as f64 / 1000.0);
        }
    }
}

/// A readable summary of a report of [`run_console_bench`].
pub fn console_summary(r: &Value) -> String {
    let f = |key: &str| r[key].as_f64().unwrap_or(f64::NAN);
    format!(
        "Console benchmark ({}, via the {}): {} of {} websocket clients held (connected in {:.1} s)\n  \
         node RSS idle {:.1} MB, with the clients {:.1} MB ({:.1} KiB per client), peak {:.1} MB   (target: >= 10,000 clients under 200 MB)\n  \
         fan-out of one event to every client: p50 {:.1} ms, p99 {:.1} ms over {} deliveries\n  \
         inventory change in the simulator -> client ({} pods, {} changes/s): p50 {:.1} ms, p99 {:.1} ms over {} of {} changes   (target: p99 < 250 ms)\n",
        r["database"].as_str().unwrap_or("?"),
        r["via"].as_str().unwrap_or("?"),
        r["ws_clients_held"],
        r["clients_asked"],
        f("connect_s"),
        f("node_rss_idle_mb"),
        f("node_rss_held_mb"),
        f("node_rss_per_client_kib"),
        f("node_peak_rss_mb"),
        f("fanout_p50_ms"),
        f("fanout_p99_ms"),
        r["fanout_deliveries"],
        r["inventory_pods"],
        r["inventory_churn_per_s"],
        f("ws_change_to_client_p50_ms"),
        f("ws_change_to_client_p99_ms"),
        r["ws_changes_received"],
        r["ws_changes_made"],
    )
}

/// The `q` quantile (0–1) of sorted samples by nearest rank; NaN when there are none.
pub(super) fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
