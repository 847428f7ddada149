//! `GET /metrics` through live nodes, on both databases: public by default, served as
//! Prometheus text 0.0.4 with the figures of a node that queued, ran, refreshed and
//! captured something, accepted by the real `promtool check metrics` (lint included);
//! and behind a token when `api.metrics_require_login` is on.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Node, NodeConfig, Sim, TestDb, wait_until};
use serde_json::{Value, json};

/// What Prometheus 3 needs to read the body as the classic text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` with `headers`: status, Content-Type and body.
fn scrape(node: &Node, headers: &[(&str, &str)]) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent.get(format!("{}/metrics", node.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .call()
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET /metrics body: {e}"));
    (response.status().as_u16(), content_type, body)
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Runs the real `promtool check metrics` on `body`; fails unless it exits 0.
fn promtool_check(body: &str) {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed ({e}): run scripts/test (the README's test command), \
             which installs Debian's prometheus package"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    {
        let mut stdin = child.stdin.take().expect("promtool stdin");
        stdin.write_all(body.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("wait for promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}\n--- body ---\n{body}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

both_backends!(
    a_scrape_is_public_complete_and_passes_promtool,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "1", "--seed", "5"]);
        let node = common::queue_node(&db, "prom")
            .env("STEWARD__METRICS__COORDINATOR_INTERVAL", "1s")
            .env("STEWARD__METRICS__INITIAL_CAPTURE_WINDOW", "15m")
            .env("STEWARD__EMS_REFRESH__WATCH", "false")
            .start();
        let (status, reply) = node.post_json(
            "/api/providers",
            &json!({"name": "lab", "api_url": sim.url, "prometheus_url": sim.url, "allow_insecure_http": true}),
        );
        assert_eq!(status, 201, "{reply}");
        // One message waits for a day far away, one runs.
        common::put(
            &node,
            json!({"command": "Diagnostics.noop", "deliver_on": "2999-01-01T00:00:00Z"}),
        );
        let done = common::put(&node, json!({"command": "Diagnostics.noop"}));
        common::wait_state(&node, &done, "ok", Duration::from_secs(30));

        // Without credentials: 200, the classic text format.
        let (status, content_type, body) = scrape(&node, &[]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(content_type, CONTENT_TYPE);
        assert!(body.contains("steward_queue_messages{"), "{body}");
        // The requests of this test so far, by route pattern and status.
        assert!(
            body.lines()
                .any(|l| l.starts_with("steward_http_requests_total{")
                    && l.contains(r#"route="/api/queue/messages""#)
                    && l.contains(r#"status="201""#)),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                "steward_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{body}"
        );

        // Once the provider is refreshed and its objects captured, every part shows.
        let mut body = String::new();
        let complete = wait_until(Duration::from_secs(120), || {
            body = scrape(&node, &[]).2;
            let rows = value(
                &body,
                r#"steward_metrics_rows_written{resource_type="container_group"}"#,
            );
            value(
                &body,
                r#"steward_provider_last_full_refresh_success{provider="lab"}"#,
            ) == Some(1.0)
                && rows.is_some_and(|n| n > 0.0)
                && body.contains(
                    r#"steward_metrics_oldest_capture_timestamp_seconds{resource_type="container_group"}"#,
                )
        });
        assert!(
            complete,
            "refresh or captures missing:\n{body}\n{}",
            node.logs()
        );
        let ready = body
            .lines()
            .filter(|l| l.starts_with(r#"steward_queue_messages{state="ready","#))
            .count();
        assert!(ready >= 1, "{body}");
        assert!(
            value(
                &body,
                r#"steward_queue_completed_messages_total{state="ok"}"#
            )
            .is_some_and(|n| n >= 1.0),
            "{body}"
        );
        assert!(
            value(&body, "steward_queue_claimed_messages_total").is_some_and(|n| n >= 1.0),
            "{body}"
        );
        assert!(
            body.contains(r#"steward_queue_put_to_start_seconds{percentile="p50"}"#),
            "{body}"
        );
        assert!(
            body.contains(r#"steward_queue_handler_seconds{percentile="p99"}"#),
            "{body}"
        );
        assert!(
            value(&body, "steward_queue_oldest_ready_timestamp_seconds").is_some(),
            "{body}"
        );
        assert_eq!(
            value(
                &body,
                r#"steward_component_status{component="queue_dispatcher",status="running"}"#
            ),
            Some(1.0),
            "{body}"
        );
        assert!(
            value(&body, r#"steward_component_restarts{component="registry"}"#).is_some(),
            "{body}"
        );
        assert!(
            value(&body, r#"steward_workers{type="generic",status="killed"}"#).is_some(),
            "{body}"
        );
        assert!(
            value(&body, r#"steward_worker_restarts{type="generic"}"#).is_some(),
            "{body}"
        );
        assert_eq!(
            value(&body, r#"steward_providers{type="kubernetes",status="ok"}"#),
            Some(1.0),
            "{body}"
        );
        assert!(
            value(
                &body,
                r#"steward_provider_last_full_refresh_duration_seconds{provider="lab"}"#
            )
            .is_some_and(|s| s > 0.0),
            "{body}"
        );
        assert!(
            value(
                &body,
                r#"steward_provider_last_full_refresh_timestamp_seconds{provider="lab"}"#
            )
            .is_some_and(|t| t > 1.7e9),
            "{body}"
        );
        assert!(value(&body, "steward_metrics_queued_captures").is_some());
        assert!(
            value(&body, "steward_process_resident_memory_bytes").is_some_and(|b| b > 1e6),
            "{body}"
        );
        assert!(
            value(&body, "steward_process_heap_bytes").is_some_and(|b| b > 0.0),
            "{body}"
        );
        promtool_check(&body);
    }
);

both_backends!(metrics_require_login_asks_for_a_token, |db: TestDb| {
    let node = NodeConfig::new(&db, "locked")
        .env("STEWARD__API__METRICS_REQUIRE_LOGIN", "true")
        .start();
    let (status, content_type, body) = scrape(&node, &[]);
    assert_eq!(status, 401, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let error: Value = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(error["error"]["kind"], "unauthorized", "{body}");

    let (status, _, body) = scrape(&node, &[("X-Auth-Token", "forged")]);
    assert_eq!(status, 401, "{body}");

    let token = node.admin_token();
    let (status, content_type, body) = scrape(&node, &[("X-Auth-Token", &token)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, CONTENT_TYPE);
    assert!(body.contains("steward_build_info{"), "{body}");
    promtool_check(&body);
});
