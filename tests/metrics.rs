//! Capacity & utilization end to end: the coordinator queues captures, collectors query
//! the simulator's Prometheus for pods, containers and nodes, processors roll up
//! hourly (objects and parents) and daily; retention, a dead Prometheus, backfill over
//! more than 11,000 points, the API and the CLI.

mod common;

use std::time::Duration;

use common::{NodeConfig, Sim, TestDb, steward, wait_until};
use serde_json::{Value, json};

fn metrics_node(db: &TestDb, name: &str) -> NodeConfig {
    common::queue_node(db, name)
        .env("STEWARD__METRICS__COORDINATOR_INTERVAL", "1s")
        .env("STEWARD__METRICS__INITIAL_CAPTURE_WINDOW", "15m")
        .env("STEWARD__EMS_REFRESH__WATCH", "false")
}

fn add_provider(node: &common::Node, sim: &str, prometheus: &str) -> String {
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"name": "lab", "api_url": sim, "prometheus_url": prometheus, "allow_insecure_http": true}),
    );
    assert_eq!(status, 201, "{reply}");
    reply["id"].as_str().expect("id").to_string()
}

fn resources(node: &common::Node, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    node.get_json(&format!("{path}{sep}expand=resources"))["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn samples(
    node: &common::Node,
    collection: &str,
    id: &str,
    interval: &str,
    extra: &str,
) -> Vec<Value> {
    let reply = node.get_json(&format!(
        "/api/{collection}/{id}/metrics?interval={interval}{extra}"
    ));
    reply["samples"].as_array().cloned().unwrap_or_default()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

both_backends!(captures_land_and_roll_up_to_parents, |db: TestDb| {
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "3", "--seed", "4"]);
    let node = metrics_node(&db, "alpha").start();
    let id = add_provider(&node, &sim.url, &sim.url);
    // Every object captured, for every type.
    let mut health = Value::Null;
    assert!(
        wait_until(Duration::from_secs(90), || {
            health = node.get_json("/api/metrics/health");
            health["types"].as_array().is_some_and(|t| {
                t.len() == 3
                    && t.iter()
                        .all(|t| t["objects"].as_i64() > Some(0) && t["never_captured"] == 0)
            })
        }),
        "not everything captured: {health}\n{}",
        node.logs()
    );
    assert!(health["rows_written"].as_i64().unwrap_or(0) > 0, "{health}");
    assert!(node.find_log("metrics capture health check").is_some());
    let p = node.get_json(&format!("/api/providers/{id}"));
    assert_eq!(p["metrics_status"], "ok", "{p}");

    // Realtime samples of a pod: 20 s apart, percentages of its node's capacity.
    let pods = resources(&node, &format!("/api/container_groups?provider_id={id}"));
    let pod = pods
        .iter()
        .find(|p| p["phase"] == "Running")
        .expect("a running pod");
    let pod_id = pod["id"].as_str().expect("id");
    let nodes = resources(&node, &format!("/api/container_nodes?provider_id={id}"));
    let host = nodes
        .iter()
        .find(|n| n["id"] == pod["container_node_id"])
        .expect("its node");
    let realtime = samples(&node, "container_groups", pod_id, "realtime", "");
    assert!(realtime.len() >= 30, "{} samples", realtime.len());
    let cores = num(host, "cpu_cores");
    for s in &realtime {
        let expected = num(s, "cpu_usage_cores") / cores * 100.0;
        assert!(
            (num(s, "cpu_usage_rate_average") - expected).abs() < 1e-9,
            "{s}"
        );
        assert!(
            num(s, "mem_usage_bytes") > 0.0 && num(s, "net_usage_rate_average") > 0.0,
            "{s}"
        );
    }
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = realtime
        .iter()
        .filter_map(|s| chrono::DateTime::parse_from_rfc3339(s["timestamp"].as_str()?).ok())
        .collect();
    assert!(times.windows(2).all(|w| (w[1] - w[0]).num_seconds() == 20));
    let containers = resources(&node, &format!("/api/containers?provider_id={id}"));
    let container = containers
        .iter()
        .find(|c| c["container_group_id"] == pod["id"])
        .expect("container");
    assert!(
        !samples(
            &node,
            "containers",
            container["id"].as_str().expect("id"),
            "realtime",
            ""
        )
        .is_empty()
    );
    let host_samples = samples(
        &node,
        "container_nodes",
        host["id"].as_str().expect("id"),
        "realtime",
        "",
    );
    assert!(
        host_samples
            .iter()
            .all(|s| num(s, "cpu_total_cores") == cores),
        "{:?}",
        host_samples.first()
    );

    // Hourly: the average of the hour's realtime samples, by hand.
    let mut hourly = Vec::new();
    assert!(
        wait_until(Duration::from_secs(60), || {
            hourly = samples(&node, "container_groups", pod_id, "hourly", "");
            !hourly.is_empty()
        }),
        "no hourly rollup"
    );
    let hour = hourly.last().expect("hour").clone();
    let start = hour["timestamp"].as_str().expect("ts").to_string();
    let t0 = chrono::DateTime::parse_from_rfc3339(&start).expect("ts");
    let end = (t0 + chrono::Duration::seconds(3599)).to_rfc3339();
    let inside = samples(
        &node,
        "container_groups",
        pod_id,
        "realtime",
        &format!("&start={start}&end={}", end.replace('+', "%2B")),
    );
    let mean = inside
        .iter()
        .map(|s| num(s, "cpu_usage_cores"))
        .sum::<f64>()
        / inside.len() as f64;
    assert_eq!(
        hour["samples"].as_i64(),
        Some(inside.len() as i64),
        "{hour}"
    );
    assert!(
        (num(&hour, "cpu_usage_cores") - mean).abs() < 1e-9,
        "{hour} vs {mean}"
    );

    // Parents: the project sums its pods' hourly values; the provider and the region
    // take node usage against node capacity.
    let project = pod["container_project_id"]
        .as_str()
        .expect("project")
        .to_string();
    let at = format!("&start={start}&end={start}");
    let mut project_hour = Vec::new();
    assert!(wait_until(Duration::from_secs(60), || {
        project_hour = samples(&node, "container_projects", &project, "hourly", &at);
        !project_hour.is_empty()
    }));
    let siblings: f64 = pods
        .iter()
        .filter(|p| p["container_project_id"] == project.as_str())
        .filter_map(|p| {
            samples(&node, "container_groups", p["id"].as_str()?, "hourly", &at)
                .first()
                .map(|s| num(s, "cpu_usage_cores"))
        })
        .sum();
    assert!(
        (num(&project_hour[0], "cpu_usage_cores") - siblings).abs() < 1e-9,
        "{:?} vs {siblings}",
        project_hour[0]
    );
    let mut provider_hour = Vec::new();
    assert!(wait_until(Duration::from_secs(60), || {
        provider_hour = samples(&node, "providers", &id, "hourly", &at);
        !provider_hour.is_empty()
    }));
    let ph = &provider_hour[0];
    let pct = num(ph, "cpu_usage_cores") / num(ph, "cpu_total_cores") * 100.0;
    assert!(
        (num(ph, "cpu_usage_rate_average") - pct).abs() < 1e-9,
        "{ph}"
    );
    assert!(wait_until(Duration::from_secs(60), || !samples(
        &node,
        "container_projects",
        &project,
        "daily",
        ""
    )
    .is_empty()));

    // A rollup run again gives the same rows.
    let lib = common::lib_db(&db);
    let snapshot = || {
        lib.with_conn(|c| {
            use diesel::prelude::*;
            use steward::db::schema::metric_rollups as r;
            Ok(r::table
                .order((
                    r::resource_type,
                    r::resource_id,
                    r::capture_interval_name,
                    r::timestamp,
                ))
                .select((
                    r::resource_type,
                    r::resource_id,
                    r::timestamp,
                    r::cpu_usage_cores,
                    r::mem_usage_bytes,
                    r::samples,
                ))
                .load::<(
                    String,
                    i64,
                    chrono::NaiveDateTime,
                    Option<f64>,
                    Option<f64>,
                    i64,
                )>(c)?)
        })
        .expect("rollups")
    };
    let before = snapshot();
    let provider: i64 = id.parse().expect("id");
    for kind in [None, Some("container_group")] {
        let args = steward::metrics::rollup::RollupArgs {
            provider_id: provider,
            resource_type: kind.map(str::to_string),
            hour: t0.timestamp(),
        };
        lib.with_conn(|c| steward::metrics::rollup::rollup_hour(c, &args))
            .expect("rollup");
        lib.with_conn(|c| steward::metrics::rollup::rollup_hour(c, &args))
            .expect("rollup again");
    }
    // The same rows, up to the order PostgreSQL happens to sum floats in.
    let after = snapshot();
    assert_eq!(before.len(), after.len());
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        (a, b) => a == b,
    };
    for (b, a) in before.iter().zip(&after) {
        assert!(
            (&b.0, b.1, b.2, b.5) == (&a.0, a.1, a.2, a.5) && close(b.3, a.3) && close(b.4, a.4),
            "rollups are idempotent: {b:?} vs {a:?}"
        );
    }

    // Bad requests are specific 4xx answers.
    let (status, body) = node.get(&format!(
        "/api/container_groups/{pod_id}/metrics?interval=weekly"
    ));
    assert_eq!(status, 400, "{body}");
    let (status, body) = node.get(&format!("/api/servers/{pod_id}/metrics"));
    assert_eq!(status, 404, "{body}");
});

both_backends!(
    a_dead_prometheus_is_reported_and_retried_without_harm,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "2"]);
        let node = metrics_node(&db, "alpha").start();
        let id = add_provider(&node, &sim.url, "http://127.0.0.1:1");
        let mut p = Value::Null;
        assert!(
            wait_until(Duration::from_secs(60), || {
                p = node.get_json(&format!("/api/providers/{id}"));
                p["metrics_status"] == "error"
            }),
            "{p}"
        );
        assert!(
            p["metrics_status_message"]
                .as_str()
                .is_some_and(|m| m.contains("cannot connect to http://127.0.0.1:1")),
            "{p}"
        );
        // Retried on later passes, and the node keeps working.
        assert!(
            wait_until(Duration::from_secs(30), || {
                node.get_json(
                    "/api/queue/messages?command=Metrics.capture&state=error&expand=resources",
                )["count"]
                    .as_i64()
                    .unwrap_or(0)
                    >= 2
            }),
            "failed captures are queued again on later passes"
        );
        assert_eq!(node.get("/ping"), (200, "pong".to_string()));
        assert!(!node.logs().contains("panicked"));
    }
);

both_backends!(
    backfill_splits_long_ranges_and_retention_purges,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "1"]);
        // Coordination effectively off: only the backfill captures.
        let node = metrics_node(&db, "alpha")
            .env("STEWARD__METRICS__COORDINATOR_INTERVAL", "1h")
            .env("STEWARD__METRICS__KEEP_REALTIME", "4h")
            .start();
        let env = NodeConfig::new(&db, "alpha").cli_env();
        let id = add_provider(&node, &sim.url, &sim.url);
        assert!(wait_until(Duration::from_secs(60), || !resources(
            &node,
            &format!("/api/container_nodes?provider_id={id}")
        )
        .is_empty()));
        let host = resources(&node, &format!("/api/container_nodes?provider_id={id}"))[0]["id"]
            .as_str()
            .expect("id")
            .to_string();
        let now = chrono::Utc::now().timestamp();
        let from = now - 3 * 86_400; // 12,960 samples at 20 s: more than one request may carry
        let out = steward(
            &[
                "metrics",
                "backfill",
                "--provider",
                &id,
                "--from",
                &from.to_string(),
                "--type",
                "container_node",
            ],
            &env,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("queued 1 capture"));
        let range = format!("&start={from}&end={now}&limit=100000");
        let mut got = Vec::new();
        assert!(
            wait_until(Duration::from_secs(120), || {
                got = samples(&node, "container_nodes", &host, "realtime", &range);
                got.len() >= 12_900
            }),
            "{} samples; {}",
            got.len(),
            node.logs()
        );
        // Retention: realtime older than 4 h goes.
        let out = steward(&["metrics", "purge"], &env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let left = samples(&node, "container_nodes", &host, "realtime", &range);
        let cutoff = chrono::Utc::now() - chrono::Duration::hours(5);
        assert!(
            left.iter().all(|s| chrono::DateTime::parse_from_rfc3339(
                s["timestamp"].as_str().unwrap_or("")
            )
            .is_ok_and(|t| t > cutoff)),
            "{:?}",
            left.first()
        );
        assert!(!left.is_empty() && left.len() <= 4 * 180 + 180);
        let out = steward(&["metrics", "health"], &env);
        assert!(String::from_utf8_lossy(&out.stdout).contains("container_node"));
        let out = steward(
            &[
                "metrics",
                "backfill",
                "--provider",
                &id,
                "--from",
                "yesterday",
            ],
            &env,
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));
    }
);

/// A real Prometheus scraping a real node-exporter, on loopback ports, with a
/// temporary storage directory; missing binaries fail the test (scripts/test installs them).
struct RealPrometheus {
    children: Vec<std::process::Child>,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn find_binary(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {n}")])
            .output()
            .ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!path.is_empty()).then_some(path)
    })
}

fn real_prometheus(node_label: &str) -> RealPrometheus {
    let (Some(prometheus), Some(exporter)) = (
        find_binary(&["prometheus"]),
        find_binary(&["prometheus-node-exporter", "node_exporter"]),
    ) else {
        panic!(
            "prometheus and prometheus-node-exporter are not installed: run scripts/test \
             (the README's test command), which installs them"
        );
    };
    let dir = tempfile::tempdir().expect("dir");
    let (exporter_port, prometheus_port) = (free_port(), free_port());
    let quiet = || std::process::Stdio::null();
    let exporter = std::process::Command::new(exporter)
        .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
        .stdout(quiet())
        .stderr(quiet())
        .spawn()
        .expect("node-exporter");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n        labels:\n          node: {node_label}\n"
        ),
    )
    .expect("config");
    let server = std::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        .stdout(quiet())
        .stderr(quiet())
        .spawn()
        .expect("prometheus");
    let real = RealPrometheus {
        children: vec![exporter, server],
        url: format!("http://127.0.0.1:{prometheus_port}"),
        _dir: dir,
    };
    // Wait for a few scrapes: rate() needs two samples.
    let query = format!(
        "{}/api/v1/query?query=count_over_time(node_cpu_seconds_total%7Bmode%3D%22idle%22%2Ccpu%3D%220%22%7D%5B1m%5D)",
        real.url
    );
    let ok = wait_until(Duration::from_secs(60), || {
        let (status, body) = common::http_get(&query);
        status == 200
            && serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| {
                    v["data"]["result"][0]["value"][1]
                        .as_str()
                        .and_then(|n| n.parse::<f64>().ok())
                })
                .is_some_and(|n| n >= 4.0)
    });
    assert!(ok, "Prometheus did not scrape node-exporter");
    real
}

both_backends!(real_node_metrics_from_a_real_prometheus, |db: TestDb| {
    let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "1"]);
    let prometheus = real_prometheus("node-000");
    let node = metrics_node(&db, "alpha").start();
    let id = add_provider(&node, &sim.url, &prometheus.url);
    let mut hosts = Vec::new();
    assert!(wait_until(Duration::from_secs(60), || {
        hosts = resources(&node, &format!("/api/container_nodes?provider_id={id}"));
        !hosts.is_empty()
    }));
    let host = hosts[0]["id"].as_str().expect("id").to_string();
    let mut got = Vec::new();
    assert!(
        wait_until(Duration::from_secs(90), || {
            got = samples(&node, "container_nodes", &host, "realtime", "");
            !got.is_empty()
        }),
        "no node samples from the real Prometheus\n{}",
        node.logs()
    );
    // This machine's real usage: some CPU, some memory in use, network counters.
    let s = &got[got.len() - 1];
    assert!(
        num(s, "cpu_usage_cores") > 0.0 && num(s, "cpu_usage_cores") < 64.0,
        "{s}"
    );
    assert!(num(s, "mem_usage_bytes") > 1e7, "{s}");
    assert!(num(s, "disk_used_bytes") > 0.0, "{s}");
    // Prometheus has seconds of data, not the 15 minutes asked for: said in the log.
    assert!(
        node.find_log("expected to get data as of").is_some(),
        "{}",
        node.logs()
    );
});

#[test]
fn the_metrics_benchmark_reports_its_figures() {
    let report = common::bench_json(&["metrics", "--objects", "60", "--window", "2"]);
    assert!(
        report["objects"].as_i64().is_some_and(|o| o >= 50),
        "{report}"
    );
    for key in [
        "captures_per_sec",
        "rows_per_sec",
        "hourly_rollup_s",
        "peak_rss_mb",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report}"
        );
    }
    assert_eq!(report["backlog_after_window"], 0, "{report}");
    assert!(
        report["copy_ceiling_rows_per_sec"].is_null(),
        "no COPY on SQLite"
    );
}
