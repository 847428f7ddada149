//! Providers and inventory refresh against the cluster simulator, through live nodes:
//! full refresh, diff correctness, watches, dedup of requests, dead / flapping /
//! unauthorized endpoints, watch history loss, OpenShift images, the CLI.

mod common;

use std::time::Duration;

use common::{NodeConfig, Sim, TestDb, lib_db, steward, wait_until};
use serde_json::{Value, json};

fn node_for(db: &TestDb, name: &str) -> NodeConfig {
    common::queue_node(db, name)
        .env("STEWARD__EMS_REFRESH__WATCH_BATCH_WINDOW", "200ms")
        .env("STEWARD__EMS_REFRESH__RETRY_BACKOFF", "500ms")
        .env("STEWARD__EMS_REFRESH__RETRY_BACKOFF_MAX", "2s")
}

fn add_provider(node: &common::Node, name: &str, url: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "api_url": url, "allow_insecure_http": true});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, reply) = node.post_json("/api/providers", &body);
    assert_eq!(status, 201, "{reply}");
    assert!(
        reply.get("token").is_none() && !reply.to_string().contains("s3cret"),
        "{reply}"
    );
    reply["id"].as_str().expect("id").to_string()
}

fn provider(node: &common::Node, id: &str) -> Value {
    node.get_json(&format!("/api/providers/{id}"))
}

fn wait_status(node: &common::Node, id: &str, status: &str, secs: u64) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(Duration::from_secs(secs), || {
        last = provider(node, id);
        last["status"] == status
    });
    assert!(ok, "provider {id} not {status}: {last}");
    last
}

/// Every row of a collection for a provider (deleted ones too when asked).
fn rows(node: &common::Node, collection: &str, provider: &str, deleted: bool) -> Vec<Value> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let page = node.get_json(&format!(
            "/api/{collection}?provider_id={provider}&include_deleted={deleted}&limit=1000&offset={offset}&expand=resources"
        ));
        let items = page["resources"].as_array().cloned().unwrap_or_default();
        offset += items.len();
        let done = items.is_empty() || offset as i64 >= page["count"].as_i64().unwrap_or(0);
        all.extend(items);
        if done {
            return all;
        }
    }
}

fn sim_pods(sim: &Sim) -> Vec<Value> {
    sim.get_json("/api/v1/pods")["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count_full_refreshes(node: &common::Node, id: &str) -> usize {
    node.get_json(&format!(
        "/api/providers/{id}/refreshes?kind=full&limit=1000"
    ))["resources"]
        .as_array()
        .map(|r| r.iter().filter(|r| r["status"] == "ok").count())
        .unwrap_or(0)
}

both_backends!(
    a_full_refresh_stores_the_cluster_with_its_relations,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "10", "--seed", "7"]);
        let node = node_for(&db, "alpha").start();
        let id = add_provider(&node, "lab", &sim.url, json!({"token": "s3cret"}));
        let p = wait_status(&node, &id, "ok", 60);
        let inventory = &p["inventory"];
        let pods = sim_pods(&sim);
        assert_eq!(inventory["container_nodes"], 3, "{p}");
        assert_eq!(
            inventory["container_groups"].as_u64(),
            Some(pods.len() as u64),
            "{p}"
        );
        let containers: usize = pods
            .iter()
            .map(|p| p["spec"]["containers"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            inventory["containers"].as_u64(),
            Some(containers as u64),
            "{p}"
        );
        let namespaces = sim.get_json("/api/v1/namespaces")["items"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(
            inventory["container_projects"].as_u64(),
            Some(namespaces as u64),
            "{p}"
        );
        for collection in [
            "container_services",
            "container_replicators",
            "container_images",
            "container_image_registries",
        ] {
            assert!(
                inventory[collection].as_u64().unwrap_or(0) > 0,
                "{collection}: {p}"
            );
        }
        // Relations: every pod points at its node and project; containers at pod and image.
        let groups = rows(&node, "container_groups", &id, false);
        assert!(
            groups.iter().all(
                |g| g["container_node_id"].is_string() && g["container_project_id"].is_string()
            ),
            "{:?}",
            groups.first()
        );
        assert!(
            groups
                .iter()
                .any(|g| g["container_replicator_id"].is_string())
        );
        let cs = rows(&node, "containers", &id, false);
        assert!(cs.iter().all(|c| c["container_group_id"].is_string() && c["container_image_id"].is_string()), "{:?}", cs.first());
        let links: i64 = lib_db(&db)
            .with_conn(|c| {
                use diesel::prelude::*;
                use steward::db::schema::container_service_groups as csg;
                Ok(csg::table.count().get_result(c)?)
            })
            .expect("links");
        assert!(links > 0, "services select pods");
        // The seed's timing breakdown, recorded and served.
        let refreshes = node.get_json(&format!("/api/providers/{id}/refreshes"));
        let first = &refreshes["resources"][0];
        assert_eq!(first["kind"], "full");
        assert_eq!(first["status"], "ok");
        for t in ["collect_s", "parse_s", "save_s", "total_s"] {
            assert!(first[t].as_f64().is_some_and(|v| v >= 0.0), "{first}");
        }
        assert!(first["total_s"].as_f64() >= first["save_s"].as_f64());
        assert!(
            node.find_log("refreshing targets for provider...complete")
                .is_some_and(|l| l.contains("collect_inventory_s="))
        );
        assert!(
            !node.logs().contains("s3cret"),
            "the token must never be logged"
        );
    }
);

both_backends!(
    a_second_refresh_writes_only_what_changed_and_vanished_objects_come_back,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "8", "--seed", "3"]);
        // Watches off: only full refreshes change the inventory here.
        let node = node_for(&db, "alpha")
            .env("STEWARD__EMS_REFRESH__WATCH", "false")
            .start();
        let id = add_provider(&node, "lab", &sim.url, json!({}));
        wait_status(&node, &id, "ok", 60);
        let refresh = |n: usize| {
            let (status, body) = node.post_json(
                &format!("/api/providers/{id}"),
                &json!({"action": "refresh"}),
            );
            assert_eq!(status, 202, "{body}");
            assert!(wait_until(
                Duration::from_secs(60),
                || count_full_refreshes(&node, &id) >= n
            ));
            node.get_json(&format!("/api/providers/{id}/refreshes?kind=full&limit=1"))["resources"]
                [0]
            .clone()
        };
        let unchanged = refresh(2);
        assert_eq!(
            (
                unchanged["added"].as_i64(),
                unchanged["updated"].as_i64(),
                unchanged["deleted"].as_i64()
            ),
            (Some(0), Some(0), Some(0)),
            "{unchanged}"
        );

        let changed = sim.admin(
            "/_sim/churn",
            json!({"create": 3, "delete": 2, "restart": 2}),
        );
        let r = refresh(3);
        assert!(r["added"].as_i64().unwrap_or(0) >= 3, "{r}");
        assert!(r["deleted"].as_i64().unwrap_or(0) >= 2, "{r}");
        assert!(r["updated"].as_i64().unwrap_or(0) >= 2, "{r}");
        let groups = rows(&node, "container_groups", &id, true);
        let by_uid = |uid: &str| groups.iter().find(|g| g["ems_ref"] == uid).cloned();
        for created in changed["created"].as_array().cloned().unwrap_or_default() {
            let g = by_uid(created["uid"].as_str().unwrap_or("")).expect("created pod stored");
            assert!(g["deleted_on"].is_null());
        }
        for deleted in changed["deleted"].as_array().cloned().unwrap_or_default() {
            let g = by_uid(deleted["uid"].as_str().unwrap_or("")).expect("deleted pod kept");
            assert!(g["deleted_on"].is_string(), "{g}");
        }

        // Hide an object: it is marked deleted; bring it back: the same row lives again.
        let pod = sim_pods(&sim)[0].clone();
        let uid = pod["metadata"]["uid"].as_str().expect("uid").to_string();
        let before = rows(&node, "container_groups", &id, true)
            .into_iter()
            .find(|g| g["ems_ref"] == uid.as_str())
            .expect("stored");
        sim.admin("/_sim/hide", json!({"uid": uid}));
        refresh(4);
        let hidden = rows(&node, "container_groups", &id, true)
            .into_iter()
            .find(|g| g["ems_ref"] == uid.as_str())
            .expect("kept");
        assert!(hidden["deleted_on"].is_string(), "{hidden}");
        sim.admin("/_sim/unhide", json!({"uid": uid}));
        refresh(5);
        let back = rows(&node, "container_groups", &id, true)
            .into_iter()
            .find(|g| g["ems_ref"] == uid.as_str())
            .expect("kept");
        assert!(back["deleted_on"].is_null(), "{back}");
        assert_eq!(back["id"], before["id"], "the same row comes back");
    }
);

both_backends!(
    watched_changes_land_in_the_database_within_seconds,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "6", "--seed", "11"]);
        let node = node_for(&db, "alpha").start();
        let id = add_provider(&node, "lab", &sim.url, json!({}));
        wait_status(&node, &id, "ok", 60);
        let fulls = count_full_refreshes(&node, &id);
        let changed = sim.admin(
            "/_sim/churn",
            json!({"create": 2, "delete": 1, "restart": 1, "node_not_ready": 1}),
        );
        let created: Vec<String> = changed["created"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["uid"].as_str().map(str::to_string))
            .collect();
        let deleted: Vec<String> = changed["deleted"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["uid"].as_str().map(str::to_string))
            .collect();
        assert!(!created.is_empty() && !deleted.is_empty(), "{changed}");
        let landed = wait_until(Duration::from_secs(20), || {
            let groups = rows(&node, "container_groups", &id, true);
            let live = |uid: &String| {
                groups
                    .iter()
                    .any(|g| g["ems_ref"] == uid.as_str() && g["deleted_on"].is_null())
            };
            let gone = |uid: &String| {
                groups
                    .iter()
                    .any(|g| g["ems_ref"] == uid.as_str() && g["deleted_on"].is_string())
            };
            let nodes = rows(&node, "container_nodes", &id, false);
            created.iter().all(live)
                && deleted.iter().all(gone)
                && nodes.iter().any(|n| n["ready_status"] == "False")
        });
        assert!(landed, "changes did not arrive: {changed}");
        assert_eq!(
            count_full_refreshes(&node, &id),
            fulls,
            "watches, not full refreshes, carried them"
        );
        let targeted = node.get_json(&format!("/api/providers/{id}/refreshes?kind=targeted"));
        assert!(
            targeted["resources"]
                .as_array()
                .is_some_and(|r| !r.is_empty()),
            "{targeted}"
        );
    }
);

both_backends!(refresh_requests_are_deduplicated, |db: TestDb| {
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "5"]);
    let node = node_for(&db, "alpha").start();
    let id = add_provider(&node, "lab", &sim.url, json!({}));
    wait_status(&node, &id, "ok", 60);
    let mut task_ids = std::collections::HashSet::new();
    for _ in 0..10 {
        let (status, body) = node.post_json(
            &format!("/api/providers/{id}"),
            &json!({"action": "refresh"}),
        );
        assert_eq!(status, 202, "{body}");
        task_ids.insert(body["task_id"].as_str().unwrap_or("").to_string());
        let queued = node
            .get_json("/api/queue/messages?command=Provider.refresh&state=ready&expand=resources");
        assert!(
            queued["count"].as_i64().unwrap_or(9) <= 1,
            "never more than one waiting: {queued}"
        );
        let running = node.get_json(
            "/api/queue/messages?command=Provider.refresh&state=dequeue&expand=resources",
        );
        assert!(
            running["count"].as_i64().unwrap_or(9) <= 1,
            "never more than one running: {running}"
        );
    }
    assert!(
        task_ids.len() < 10,
        "requests joined the waiting refresh: {task_ids:?}"
    );
    let (status, body) = node.post_json(
        &format!("/api/providers/{id}"),
        &json!({"action": "explode"}),
    );
    assert_eq!(status, 400, "{body}");
});

both_backends!(
    a_dead_endpoint_is_reported_and_does_not_disturb_other_providers,
    |db: TestDb| {
        let sim = Sim::start(&[
            "--nodes",
            "2",
            "--pods-per-node",
            "5",
            "--token",
            "right-token",
        ]);
        let node = node_for(&db, "alpha").start();
        let dead = add_provider(&node, "dead", "http://127.0.0.1:1", json!({}));
        let wrong = add_provider(
            &node,
            "wrong-token",
            &sim.url,
            json!({"token": "wrong-token-value"}),
        );
        let good = add_provider(&node, "good", &sim.url, json!({"token": "right-token"}));
        let p = wait_status(&node, &dead, "error", 30);
        assert!(
            p["status_message"]
                .as_str()
                .is_some_and(|m| m.contains("cannot connect to http://127.0.0.1:1")),
            "{p}"
        );
        let p = wait_status(&node, &wrong, "error", 30);
        assert!(
            p["status_message"]
                .as_str()
                .is_some_and(|m| m.contains("401")),
            "{p}"
        );
        let p = wait_status(&node, &good, "ok", 60);
        assert!(
            p["inventory"]["container_groups"].as_i64().unwrap_or(0) > 0,
            "{p}"
        );
        // The dead one keeps being retried with backoff, and the node stays healthy.
        assert!(wait_until(Duration::from_secs(20), || {
            node.get_json(&format!("/api/providers/{dead}/refreshes?kind=full"))["resources"]
                .as_array()
                .is_some_and(|r| r.len() >= 2)
        }));
        assert_eq!(node.get("/ping"), (200, "pong".to_string()));
        assert!(!node.logs().contains("panicked"));
    }
);

both_backends!(
    a_flapping_endpoint_recovers_and_lost_watch_history_forces_a_full_refresh,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "5", "--seed", "5"]);
        let node = node_for(&db, "alpha").start();
        let id = add_provider(&node, "lab", &sim.url, json!({}));
        wait_status(&node, &id, "ok", 60);
        let fulls = count_full_refreshes(&node, &id);
        // Cut the watches, and forget the history they would resume from.
        sim.admin("/_sim/outage", json!({"seconds": 5}));
        sim.admin("/_sim/expire", json!({}));
        let p = wait_status(&node, &id, "error", 20);
        assert!(
            p["status_message"]
                .as_str()
                .is_some_and(|m| m.contains("watch")),
            "{p}"
        );
        assert!(
            wait_until(Duration::from_secs(60), || count_full_refreshes(&node, &id)
                > fulls),
            "a 410 must lead to a full refresh"
        );
        wait_status(&node, &id, "ok", 60);
        // Watching again: a new pod arrives without another full refresh.
        let fulls = count_full_refreshes(&node, &id);
        let changed = sim.admin("/_sim/churn", json!({"create": 1}));
        let uid = changed["created"][0]["uid"]
            .as_str()
            .expect("uid")
            .to_string();
        assert!(wait_until(Duration::from_secs(20), || {
            rows(&node, "container_groups", &id, false)
                .iter()
                .any(|g| g["ems_ref"] == uid.as_str())
        }));
        assert_eq!(count_full_refreshes(&node, &id), fulls);
    }
);

both_backends!(
    openshift_images_keep_unused_ones_only_when_asked,
    |db: TestDb| {
        let sim = Sim::start(&[
            "--nodes",
            "2",
            "--pods-per-node",
            "5",
            "--flavor",
            "openshift",
        ]);
        let node = node_for(&db, "alpha").start();
        let all = add_provider(&node, "all-images", &sim.url, json!({"type": "openshift"}));
        let used = add_provider(
            &node,
            "used-images",
            &sim.url,
            json!({"type": "openshift", "store_unused_images": false}),
        );
        let none = add_provider(
            &node,
            "no-images",
            &sim.url,
            json!({"type": "openshift", "get_container_images": false}),
        );
        for id in [&all, &used, &none] {
            wait_status(&node, id, "ok", 60);
        }
        let unused = |id: &str| {
            rows(&node, "container_images", id, false)
                .iter()
                .filter(|i| i["used"] == false)
                .count()
        };
        assert!(
            unused(&all) > 0,
            "unused images from the image API are stored"
        );
        assert_eq!(unused(&used), 0);
        assert!(!rows(&node, "container_images", &used, false).is_empty());
        assert!(rows(&node, "container_images", &none, false).is_empty());
        assert!(
            rows(&node, "containers", &none, false)
                .iter()
                .all(|c| c["container_image_id"].is_null())
        );
    }
);

both_backends!(providers_are_managed_from_the_cli, |db: TestDb| {
    let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "4"]);
    let node = node_for(&db, "alpha").start();
    let env = NodeConfig::new(&db, "alpha").cli_env();
    let token_file = common::write_file(db.dir.path(), "token", "cli-s3cret\n");
    let out = steward(
        &[
            "provider",
            "add",
            "--name",
            "cli",
            "--api-url",
            &sim.url,
            "--allow-insecure-http",
            "--token-file",
            &token_file.display().to_string(),
            "--json",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = added["id"].as_str().expect("id").to_string();
    assert_eq!(added["has_credentials"], true);
    wait_status(&node, &id, "ok", 60);
    let out = steward(&["provider", "list"], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cli") && text.contains("ok"), "{text}");
    let out = steward(&["provider", "show", &id], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("container_groups") && text.contains("full"),
        "{text}"
    );
    assert!(!text.contains("cli-s3cret"));
    let out = steward(&["provider", "refresh", &id], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = steward(
        &["provider", "add", "--name", "bad", "--api-url", "nope"],
        &env,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("api_url"));
    let out = steward(&["provider", "remove", &id], &env);
    assert!(!out.status.success(), "remove needs --yes");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let out = steward(&["provider", "remove", &id, "--yes"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(node.get(&format!("/api/providers/{id}")).0, 404);
    assert!(
        rows(&node, "container_groups", &id, true).is_empty(),
        "inventory removed with it"
    );
    let (status, body) = node.delete(&format!("/api/providers/{id}"));
    assert_eq!(status, 404, "{body}");
});

both_backends!(
    the_demo_shows_a_live_inventory_and_survives_a_restart,
    |db: TestDb| {
        let config = node_for(&db, "alpha").arg("--demo");
        let mut node = config.start();
        let demo = |node: &common::Node| {
            let list = node.get_json("/api/providers?expand=resources");
            list["resources"]
                .as_array()
                .and_then(|r| r.iter().find(|p| p["name"] == "demo").cloned())
                .unwrap_or(Value::Null)
        };
        let mut p = Value::Null;
        assert!(
            wait_until(Duration::from_secs(60), || {
                p = demo(&node);
                p["status"] == "ok"
            }),
            "demo provider not refreshed: {p}\n{}",
            node.logs()
        );
        let id = p["id"].as_str().expect("id").to_string();
        let p = provider(&node, &id);
        // 100 pods generated; churn creates and deletes about as many as it has since.
        let pods = p["inventory"]["container_groups"].as_i64().unwrap_or(0);
        assert!((90..=110).contains(&pods), "{p}");
        // The simulated cluster churns; watches bring the changes in.
        assert!(
            wait_until(Duration::from_secs(30), || {
                node.get_json(&format!("/api/providers/{id}/refreshes?kind=targeted"))["resources"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            }),
            "no watched change arrived"
        );
        // And its Prometheus: metrics within a minute.
        assert!(
            wait_until(Duration::from_secs(60), || {
                node.get_json("/api/metrics/health")["rows_written"]
                    .as_i64()
                    .unwrap_or(0)
                    > 0
            }),
            "no demo metrics"
        );
        let url = p["api_url"].as_str().unwrap_or_default().to_string();
        node.terminate(Duration::from_secs(30));
        // A restart simulates the cluster on a new port; the same provider follows it.
        let node = config.start();
        let mut again = Value::Null;
        assert!(
            wait_until(Duration::from_secs(60), || {
                again = provider(&node, &id);
                again["status"] == "ok" && again["api_url"] != url.as_str()
            }),
            "{again}"
        );
        let providers = node.get_json("/api/providers");
        assert_eq!(providers["count"], 1, "{providers}");
    }
);

#[test]
fn the_refresh_benchmark_reports_its_figures() {
    let report = common::bench_json(&["refresh", "--pods", "60", "--nodes", "3", "--changes", "3"]);
    assert_eq!(report["pods"], 60, "{report}");
    assert!(
        report["objects"].as_i64().is_some_and(|o| o > 60),
        "{report}"
    );
    for key in [
        "first_refresh_s",
        "nochange_refresh_s",
        "collect_s",
        "parse_s",
        "save_s",
        "watch_to_db_p99_ms",
        "peak_rss_mb",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report}"
        );
    }
    assert_eq!(report["nochange"]["written"], 0, "{report}");
    assert_eq!(report["watch_changes"], 3);
}
