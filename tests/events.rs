//! Events (issue 13) through live nodes and the cluster simulator: the catcher and the
//! handler store the cluster's Events with their links; a restart, a failover and a 410
//! neither lose nor duplicate an occurrence; storms fold into one row without delaying
//! another provider; the API's filters and subcollections.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Node, NodeConfig, Sim, TestDb, holds, me, wait_until};
use serde_json::{Value, json};

fn node_for(db: &TestDb, name: &str) -> NodeConfig {
    common::queue_node(db, name)
        .env("STEWARD__EMS_REFRESH__WATCH_BATCH_WINDOW", "200ms")
        .env("STEWARD__EVENTS__BATCH_WINDOW", "100ms")
        .env("STEWARD__EVENTS__RETRY_BACKOFF", "300ms")
        .env("STEWARD__EVENTS__RETRY_BACKOFF_MAX", "2s")
}

fn add_provider(node: &Node, name: &str, url: &str) -> String {
    let body = json!({"name": name, "api_url": url, "allow_insecure_http": true});
    let (status, reply) = node.post_json("/api/providers", &body);
    assert_eq!(status, 201, "{reply}");
    reply["id"].as_str().expect("id").to_string()
}

fn wait_ok(node: &Node, id: &str) {
    let mut last = Value::Null;
    let ok = wait_until(Duration::from_secs(60), || {
        last = node.get_json(&format!("/api/providers/{id}"));
        last["status"] == "ok"
    });
    assert!(ok, "provider {id} not ok: {last}\n{}", node.logs());
}

/// Every event row of provider `id`, oldest first.
fn events(node: &Node, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let page = node.get_json(&format!(
            "/api/providers/{id}/event_streams?expand=resources&limit=1000&offset={offset}&sort_by=id"
        ));
        let items = page["resources"].as_array().cloned().unwrap_or_default();
        offset += items.len();
        let done = items.is_empty()
            || offset as i64
                >= page["subcount"]
                    .as_i64()
                    .or(page["count"].as_i64())
                    .unwrap_or(0);
        all.extend(items);
        if done {
            return all;
        }
    }
}

/// The simulator's Events: uid → count.
fn sim_events(sim: &Sim) -> BTreeMap<String, i64> {
    sim.get_json("/api/v1/events")["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["count"].as_i64().unwrap_or(1),
            )
        })
        .collect()
}

/// Stored occurrences per Event uid (the sum of `occurrences`) and the highest count.
fn stored(rows: &[Value]) -> BTreeMap<String, (i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in rows {
        let e = out
            .entry(r["ems_ref"].as_str().unwrap_or_default().to_string())
            .or_default();
        e.0 += r["occurrences"].as_i64().unwrap_or(0);
        e.1 = e.1.max(r["event_count"].as_i64().unwrap_or(0));
    }
    out
}

/// Waits until every Event the simulator holds is stored with all its occurrences,
/// and nothing more; returns the rows.
fn wait_all_stored(node: &Node, sim: &Sim, id: &str, secs: u64) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut want = BTreeMap::new();
    let ok = wait_until(Duration::from_secs(secs), || {
        want = sim_events(sim);
        rows = events(node, id);
        let have = stored(&rows);
        want.iter().all(|(uid, n)| have.get(uid) == Some(&(*n, *n)))
    });
    let have = stored(&rows);
    let missing: Vec<_> = want
        .iter()
        .filter(|(u, n)| have.get(*u) != Some(&(**n, **n)))
        .take(5)
        .collect();
    assert!(
        ok,
        "{} of {} events not stored as the cluster has them, e.g. {missing:?}\n{}",
        missing.len(),
        want.len(),
        cut_logs(node)
    );
    rows
}

fn cut_logs(node: &Node) -> String {
    common::cut(&node.logs(), 20_000)
}

/// No Event occurrence is stored twice: (uid, count) pairs of plain rows are unique.
fn assert_no_duplicates(rows: &[Value]) {
    let mut seen = BTreeSet::new();
    for r in rows.iter().filter(|r| r["chain_id"] == "") {
        let key = (r["ems_ref"].to_string(), r["event_count"].to_string());
        assert!(seen.insert(key.clone()), "stored twice: {key:?}");
    }
}

both_backends!(
    the_clusters_events_are_stored_with_their_links,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "5", "--seed", "11"]);
        let node = node_for(&db, "alpha").start();
        let id = add_provider(&node, "lab", &sim.url);
        wait_ok(&node, &id);
        let rows = wait_all_stored(&node, &sim, &id, 60);
        assert!(!rows.is_empty());
        // The generated events are about pods the inventory holds: linked.
        let scheduled: Vec<&Value> = rows.iter().filter(|r| r["reason"] == "Scheduled").collect();
        assert!(!scheduled.is_empty(), "{:?}", rows.first());
        for r in &scheduled {
            assert_eq!(r["event_type"], "POD_SCHEDULED", "{r}");
            assert_eq!(r["source"], "KUBERNETES");
            for link in [
                "container_group_id",
                "container_project_id",
                "container_node_id",
            ] {
                assert!(r[link].is_string(), "{link} missing: {r}");
            }
            assert!(
                r["container_group_name"].is_string() && r["container_namespace"].is_string(),
                "{r}"
            );
        }
        // New events as the cluster changes, in ManageIQ's naming.
        sim.admin(
            "/_sim/churn",
            json!({"restart": 2, "delete": 1, "node_not_ready": 1}),
        );
        let rows = wait_all_stored(&node, &sim, &id, 60);
        assert_no_duplicates(&rows);
        let types: BTreeSet<&str> = rows
            .iter()
            .filter_map(|r| r["event_type"].as_str())
            .collect();
        for t in ["POD_KILLING", "POD_BACKOFF", "NODE_NOTREADY"] {
            assert!(types.contains(t), "{t} not in {types:?}");
        }
        let not_ready = rows
            .iter()
            .find(|r| r["event_type"] == "NODE_NOTREADY")
            .expect("node event");
        assert!(not_ready["container_node_id"].is_string(), "{not_ready}");
        assert_eq!(not_ready["severity"], "Warning");
        // Filters and subcollections.
        let killing =
            node.get_json("/api/event_streams?filter[]=event_type=POD_KILLING&expand=resources");
        assert!(
            killing["resources"].as_array().is_some_and(
                |r| !r.is_empty() && r.iter().all(|e| e["event_type"] == "POD_KILLING")
            ),
            "{killing}"
        );
        let pod = scheduled[0]["container_group_id"].as_str().expect("pod id");
        let of_pod = node.get_json(&format!(
            "/api/container_groups/{pod}/event_streams?expand=resources"
        ));
        assert!(
            of_pod["resources"]
                .as_array()
                .is_some_and(|r| !r.is_empty() && r.iter().all(|e| e["container_group_id"] == pod)),
            "{of_pod}"
        );
        let node_id = not_ready["container_node_id"].as_str().expect("node id");
        let of_node = node.get_json(&format!(
            "/api/container_nodes/{node_id}/event_streams?expand=resources"
        ));
        assert!(
            of_node["resources"]
                .as_array()
                .is_some_and(|r| r.iter().any(|e| e["event_type"] == "NODE_NOTREADY")),
            "{of_node}"
        );
        // Pods created now: their events may be stored before the pods' rows; they get
        // their links once the rows are there.
        let created = sim.admin("/_sim/churn", json!({"create": 2}));
        let uids: Vec<String> = created["created"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|p| p["uid"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(uids.len(), 2, "{created}");
        let mut last = Vec::new();
        let linked = wait_until(Duration::from_secs(30), || {
            last = events(&node, &id)
                .into_iter()
                .filter(|r| uids.iter().any(|u| r["target_ems_ref"] == u.as_str()))
                .collect();
            !last.is_empty()
                && last.iter().all(|r| {
                    r["container_group_id"].is_string() && r["container_project_id"].is_string()
                })
        });
        assert!(linked, "events of new pods linked: {last:?}");
        let newest = node.get_json(
            "/api/event_streams?expand=resources&sort_by=timestamp&sort_order=desc&limit=1",
        );
        assert_eq!(
            newest["resources"].as_array().map(Vec::len),
            Some(1),
            "{newest}"
        );
        // Where the catcher is, and that the role is held.
        assert!(holds(&me(&node), "event"));
    }
);

both_backends!(
    a_killed_catcher_resumes_and_a_410_relists_without_losing_or_duplicating,
    |db: TestDb| {
        let sim = Sim::start(&[
            "--nodes",
            "2",
            "--pods-per-node",
            "5",
            "--seed",
            "5",
            "--watch-history",
            "100000",
        ]);
        let config = node_for(&db, "alpha").env("STEWARD__EVENTS__STORM_THRESHOLD", "0");
        let mut node = config.start();
        let id = add_provider(&node, "lab", &sim.url);
        wait_ok(&node, &id);
        wait_all_stored(&node, &sim, &id, 60);
        // Killed mid-stream: the cluster goes on meanwhile.
        sim.admin("/_sim/churn", json!({"restart": 3}));
        node.kill();
        sim.admin("/_sim/churn", json!({"restart": 3, "create": 2}));
        let node = config.start();
        let rows = wait_all_stored(&node, &sim, &id, 60);
        assert_no_duplicates(&rows);
        let resumed = position(&db, &id);
        assert_eq!(resumed.relists, 0, "resumed from its position: {resumed:?}");
        // The cluster forgets its history while the node is down: 410, a relist.
        let mut node = node;
        node.kill();
        sim.admin("/_sim/churn", json!({"restart": 2}));
        sim.admin("/_sim/expire", json!({}));
        sim.admin("/_sim/churn", json!({"restart": 2}));
        let node = config.start();
        let rows = wait_all_stored(&node, &sim, &id, 60);
        assert_no_duplicates(&rows);
        assert!(position(&db, &id).relists >= 1, "{:?}", position(&db, &id));
        assert!(
            node.wait_log("listing the cluster's events again", Duration::from_secs(5))
                || node.find_log("410").is_some()
        );
    }
);

fn position(db: &TestDb, id: &str) -> steward::events::Position {
    let id: i64 = id.parse().expect("id");
    common::lib_db(db)
        .with_conn(|c| steward::events::load_position(c, id))
        .expect("position")
        .expect("a saved position")
}

#[test]
fn a_failover_of_the_event_role_loses_and_duplicates_nothing() {
    let db = TestDb::new(common::Backend::Postgres);
    let sim = Sim::start(&[
        "--nodes",
        "2",
        "--pods-per-node",
        "5",
        "--seed",
        "9",
        "--watch-history",
        "100000",
    ]);
    let config = |name: &str| node_for(&db, name).env("STEWARD__EVENTS__STORM_THRESHOLD", "0");
    let mut a = config("alpha")
        .env("STEWARD__ROLES__PRIMARY", "event,ems_inventory")
        .start();
    assert!(wait_until(Duration::from_secs(20), || holds(
        &me(&a),
        "event"
    )));
    let b = config("beta").start();
    assert!(wait_until(Duration::from_secs(60), || me(&b)["status"] == "started"));
    let id = add_provider(&a, "lab", &sim.url);
    wait_ok(&a, &id);
    // Events flow (about 20 a second); the active node dies mid-stream.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (stop, url) = (stop.clone(), sim.url.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                common::http_send(
                    "POST",
                    &format!("{url}/_sim/churn"),
                    Some(&json!({"restart": 2})),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut seen = 0;
    assert!(
        wait_until(Duration::from_secs(30), || {
            seen = events(&a, &id).len();
            seen > 100
        }),
        "{seen} events stored; the cluster holds {}\n{}",
        sim_events(&sim).len(),
        cut_logs(&a)
    );
    a.kill();
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || holds(&me(&b), "event")),
        "{}",
        cut_logs(&b)
    );
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().expect("churn thread");
    let rows = wait_all_stored(&b, &sim, &id, 90);
    assert_no_duplicates(&rows);
    let total: i64 = rows
        .iter()
        .map(|r| r["occurrences"].as_i64().unwrap_or(0))
        .sum();
    let held: i64 = sim_events(&sim).values().sum();
    eprintln!(
        "failover after {:?}: {} rows, {total} occurrences stored, {held} held by the cluster",
        killed.elapsed(),
        rows.len()
    );
    assert_eq!(position(&db, &id).relists, 0, "resumed, not relisted");
}

both_backends!(
    a_storm_folds_into_one_row_and_another_provider_is_not_delayed,
    |db: TestDb| {
        let noisy = Sim::start(&["--nodes", "1", "--pods-per-node", "3", "--seed", "21"]);
        let quiet = Sim::start(&["--nodes", "1", "--pods-per-node", "3", "--seed", "22"]);
        let node = node_for(&db, "alpha").start();
        let a = add_provider(&node, "noisy", &noisy.url);
        let b = add_provider(&node, "quiet", &quiet.url);
        wait_ok(&node, &a);
        wait_ok(&node, &b);
        wait_all_stored(&node, &noisy, &a, 60);
        wait_all_stored(&node, &quiet, &b, 60);
        let before = events(&node, &a).len();
        let storm = noisy.admin("/_sim/storm", json!({"events": 20000}));
        let event_uid = storm["event_uid"].as_str().expect("event uid").to_string();
        // While it rages, the other cluster's events keep arriving.
        std::thread::sleep(Duration::from_millis(300));
        quiet.admin("/_sim/churn", json!({"restart": 2}));
        let asked = Instant::now();
        wait_all_stored(&node, &quiet, &b, 60);
        let quiet_latency = asked.elapsed();
        assert!(wait_until(
            Duration::from_secs(60),
            || noisy.stats()["storm_sent"] == 20000
        ));
        let rows = wait_all_stored(&node, &noisy, &a, 120);
        let of_storm: Vec<&Value> = rows
            .iter()
            .filter(|r| r["ems_ref"] == event_uid.as_str())
            .collect();
        let occurrences: i64 = of_storm
            .iter()
            .map(|r| r["occurrences"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(occurrences, 20000, "every occurrence counted");
        assert!(
            of_storm.len() <= 40,
            "{} rows for one storm",
            of_storm.len()
        );
        let storm_rows: Vec<&&Value> = of_storm.iter().filter(|r| r["chain_id"] != "").collect();
        assert!(!storm_rows.is_empty(), "a storm row");
        assert!(
            rows.len() - before <= 45,
            "{} new rows",
            rows.len() - before
        );
        eprintln!(
            "storm of 20000: {} rows; the quiet provider's events stored {quiet_latency:?} after its changes",
            of_storm.len()
        );
        assert!(quiet_latency < Duration::from_secs(30), "{quiet_latency:?}");
    }
);
