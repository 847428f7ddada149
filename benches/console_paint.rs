//! Time to the first meaningful paint of the console's pods page in headless chromium,
//! with many pods in the region (issue 12's target: under 1 s with 100,000 pods).
//!
//! A release node on SQLite (or PostgreSQL: `STEWARD_BENCH_PG=postgres://…`), a simulator
//! with `--pods` pods (default 100,000) refreshed into it, a logged-in chromium. Each
//! sample is a full load of `/console/#/inventory/<collection>?<query>` — page, scripts,
//! identity, the API's page of rows — measured in the browser from navigation start to
//! the `steward:first-rows` mark the table sets when its first rows are on screen (and
//! `first-contentful-paint` beside it).
//!
//! Run: `cargo bench --bench console_paint [-- --pods 100000 --samples 7]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::browser::{Page, browser, chromedriver, run};
use common::{Backend, NodeConfig, Sim, TestDb};
use serde_json::{Value, json};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(page: &Page, base: &str, hash: &str, samples: u64) -> (Vec<f64>, Vec<f64>) {
    let (mut rows, mut fcp) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        // A different page first, so each sample is a full navigation.
        page.c.goto("about:blank").await.expect("blank");
        page.c
            .goto(&format!("{base}/console/#{hash}"))
            .await
            .expect("open the pods page");
        let v = page
            .until(
                "first rows",
                "performance.getEntriesByName('steward:first-rows').length > 0",
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(v, json!(true));
        let t = page
            .js("return [performance.getEntriesByName('steward:first-rows')[0].startTime, (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null]")
            .await;
        rows.push(t[0].as_f64().unwrap_or(f64::NAN));
        fcp.push(t[1].as_f64().unwrap_or(f64::NAN));
    }
    rows.sort_by(f64::total_cmp);
    fcp.sort_by(f64::total_cmp);
    (rows, fcp)
}

fn main() {
    // `cargo bench` passes `--bench`; our own flags follow `--`.
    let pods = arg("--pods", 100_000);
    let samples = arg("--samples", 7).max(1);
    let per_node = 1000u64;
    let nodes = pods.div_ceil(per_node).max(1);
    let backend = if std::env::var("STEWARD_BENCH_PG").is_ok() {
        // SAFETY: set before any thread of this process reads the environment.
        unsafe {
            std::env::set_var(
                "STEWARD_TEST_PG",
                std::env::var("STEWARD_BENCH_PG").unwrap_or_default(),
            )
        };
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let db = TestDb::new(backend);
    let sim = Sim::start(&[
        "--nodes",
        &nodes.to_string(),
        "--pods-per-node",
        &per_node.to_string(),
    ]);
    let node = NodeConfig::new(&db, "paint").start();
    let started = Instant::now();
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"name": "sim", "api_url": sim.url, "allow_insecure_http": true}),
    );
    assert_eq!(status, 201, "{reply}");
    let loaded = common::wait_until(Duration::from_secs(900), || {
        node.get_json("/api/container_groups?limit=1")["count"]
            .as_u64()
            .unwrap_or(0)
            >= pods.min(nodes * per_node)
    });
    assert!(loaded, "the pods did not arrive:\n{}", node.logs());
    eprintln!(
        "{} pods in the region after {:.1} s",
        node.get_json("/api/container_groups?limit=1")["count"],
        started.elapsed().as_secs_f64()
    );
    let report: Value = run(async {
        let driver = chromedriver();
        let page = Page {
            c: browser(&driver).await,
            label: "paint".into(),
        };
        page.c.goto(&node.url()).await.expect("open");
        page.login("admin", &node.admin_password()).await;
        let mut out = serde_json::Map::new();
        for (name, hash) in [
            ("pods_by_name", "/inventory/container_groups"),
            (
                "pods_searched_sorted",
                "/inventory/container_groups?q=fraud&status=Running&sort=creation_timestamp&order=desc",
            ),
            ("pods_deep_page", "/inventory/container_groups?offset=50000"),
        ] {
            let (rows, fcp) = measure(&page, &node.url(), hash, samples).await;
            eprintln!(
                "{name}: first rows p50 {:.0} ms, max {:.0} ms; first contentful paint p50 {:.0} ms",
                percentile(&rows, 0.5),
                percentile(&rows, 1.0),
                percentile(&fcp, 0.5)
            );
            out.insert(
                name.into(),
                json!({
                    "first_rows_p50_ms": percentile(&rows, 0.5).round(),
                    "first_rows_max_ms": percentile(&rows, 1.0).round(),
                    "first_contentful_paint_p50_ms": percentile(&fcp, 0.5).round(),
                    "samples": rows.len(),
                }),
            );
        }
        page.c.close().await.expect("close");
        Value::Object(out)
    });
    println!(
        "{}",
        json!({"pods": node.get_json("/api/container_groups?limit=1")["count"], "backend": format!("{backend:?}"), "pages": report})
    );
}
