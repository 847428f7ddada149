//! The inventory part of `steward bench console`: a simulated cluster of `--pods` pods
//! becomes a provider of the benchmark's node; once its first refresh is in, one
//! websocket client subscribes to `inventory` (pods), and the simulator is changed
//! `--churn` times a second (pods created and deleted, alternately, through
//! `POST /_sim/churn`). Each change is timed from just before the churn request is
//! sent — the change is made in the simulator while it answers — to the arrival at the
//! client of the event naming that pod (its uid) with the matching action. The figure
//! therefore spans the watch, the batch window (`ems_refresh.watch_batch_window`), the
//! save and its commit, the change log, the feed and the websocket: the commit alone is
//! not visible from outside the node.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::sim_process::SimProcess;

/// What the inventory phase is asked.
#[derive(Debug, Clone, Copy)]
pub struct InventoryChurn {
    /// Pods in the simulated cluster.
    pub pods: usize,
    /// Changes a second.
    pub churn: f64,
    /// How long the cluster churns.
    pub seconds: Duration,
}

/// Runs the phase against the node at `url` (logged in with `auth`); answers the
/// figures to merge into the report.
pub async fn time_inventory_changes(
    http: &reqwest::Client,
    url: &str,
    ws_url: &str,
    auth: &str,
    options: InventoryChurn,
) -> anyhow::Result<Value> {
    let per_node = options.pods.clamp(1, 100);
    let nodes = options.pods.div_ceil(per_node).max(1);
    let sim = SimProcess::spawn(nodes, per_node)?;
    eprintln!("bench: simulated {} pods at {}", nodes * per_node, sim.url);
    let reply: Value = http
        .post(format!("{url}/api/providers"))
        .header("X-Auth-Token", auth)
        .json(&json!({"name": "bench", "api_url": sim.url, "allow_insecure_http": true}))
        .send()
        .await?
        .json()
        .await?;
    let id = reply["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the provider was not added: {reply}"))?
        .to_string();
    let started = Instant::now();
    loop {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "the first refresh did not end in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let provider: Value = http
            .get(format!("{url}/api/providers/{id}"))
            .header("X-Auth-Token", auth)
            .send()
            .await?
            .json()
            .await?;
        if provider["last_refresh_on"].is_string() && provider["status"] == "ok" {
            break;
        }
    }
    eprintln!(
        "bench: first refresh in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut request = ws_url.into_client_request()?;
    request.headers_mut().insert("X-Auth-Token", auth.parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let subscribe =
        json!({"type": "subscribe", "topics": ["inventory"], "collections": ["container_groups"]});
    socket.send(Message::text(subscribe.to_string())).await?;
    // (uid, action) → arrival, from a reader task.
    let (arrival_tx, mut arrivals) = mpsc::unbounded_channel::<(String, String, Instant)>();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let now = Instant::now();
            let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            for change in event["data"]["changes"].as_array().into_iter().flatten() {
                if let (Some(uid), Some(action)) =
                    (change["ems_ref"].as_str(), change["action"].as_str())
                {
                    let _ = arrival_tx.send((uid.to_string(), action.to_string(), now));
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    eprintln!(
        "bench: churning {} changes/s for {} s",
        options.churn,
        options.seconds.as_secs()
    );
    let every = Duration::from_secs_f64(1.0 / options.churn.clamp(0.1, 1000.0));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: HashMap<(String, String), Instant> = HashMap::new();
    let until = Instant::now() + options.seconds;
    let mut create = true;
    while Instant::now() < until {
        tick.tick().await;
        let (ask, answer, action) = if create {
            ("create", "created", "created")
        } else {
            ("delete", "deleted", "deleted")
        };
        create = !create;
        let at = Instant::now();
        let reply: Value = http
            .post(format!("{}/_sim/churn", sim.url))
            .json(&json!({ ask: 1 }))
            .send()
            .await?
            .json()
            .await?;
        for touched in reply[answer].as_array().into_iter().flatten() {
            if let Some(uid) = touched["uid"].as_str() {
                sent.insert((uid.to_string(), action.to_string()), at);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    reader.abort();
    let mut latencies = Vec::new();
    while let Ok((uid, action, arrived)) = arrivals.try_recv() {
        if let Some(at) = sent.remove(&(uid, action)) {
            latencies.push(arrived.saturating_duration_since(at).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| super::console::nearest_rank(&latencies, q);
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "inventory_pods": nodes * per_node,
        "inventory_churn_per_s": options.churn,
        "ws_changes_made": latencies.len() + sent.len(),
        "ws_changes_received": latencies.len(),
        "ws_change_to_client_p50_ms": r2(pick(0.5)),
        "ws_change_to_client_p99_ms": r2(pick(0.99)),
        "ws_change_to_client_max_ms": r2(pick(1.0)),
    }))
}
