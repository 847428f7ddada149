//! Faults an operator meets, against real nodes: the database going away under two
//! nodes (exactly-once through it, counted), a node cut off from the database while
//! its peer carries on (its stale results discarded), clocks that disagree, poison
//! input, a message the database refuses to claim, a backlog nobody serves, a panic
//! in every supervised component, a component that keeps failing, a port in use.

mod common;

use std::time::Duration;

use common::{
    Backend, DbProxy, Node, TestDb, counter, lib_db, me, put, queue_node, wait_state, wait_until,
};
use serde_json::{Value, json};
use steward::db::Db;
use steward::queue::{NewMessage, put_many};

/// Messages per state, straight from the database.
fn states(db: &Db) -> std::collections::BTreeMap<String, i64> {
    db.with_conn(|c| {
        use diesel::dsl::count_star;
        use diesel::prelude::*;
        use steward::db::schema::queue_messages as qm;
        Ok(qm::table
            .group_by(qm::state)
            .select((qm::state, count_star()))
            .load::<(String, i64)>(c)?
            .into_iter()
            .collect())
    })
    .expect("states")
}

/// `n` exactly-once counting messages (`Diagnostics.count`), each working `sleep_ms`.
fn put_counts(db: &Db, counter: &str, n: usize, sleep_ms: u64) {
    let args = json!({"counter": counter, "sleep_ms": sleep_ms});
    let messages: Vec<NewMessage> = (0..n)
        .map(|_| {
            NewMessage::new("Diagnostics.count")
                .and_then(|m| m.with_args(&args))
                .expect("message")
        })
        .collect();
    db.with_conn(|c| put_many(c, &messages)).expect("put");
}

/// Node settings for the outage tests: a 10 s heartbeat timeout (so the 40 s outage is
/// four times it), quick reconnection.
fn outage_node(db: &TestDb, name: &str, proxy: &DbProxy) -> common::NodeConfig {
    let mut config = queue_node(db, name)
        .env("STEWARD__SERVER__HEARTBEAT_INTERVAL", "1s")
        .env("STEWARD__SERVER__HEARTBEAT_TIMEOUT", "10s")
        .env("STEWARD__ROLES__LEASE_DURATION", "5s")
        .env("STEWARD__DATABASE__CONNECT_TIMEOUT", "2s")
        .env("STEWARD__QUEUE__LOG_MESSAGES", "false");
    config.db_url = proxy.url_for(&db.url);
    config
}

fn node_stats(node: &Node) -> Value {
    node.get_json("/api/queue/stats")["node"].clone()
}

/// PostgreSQL goes away for 40 s under two working nodes, then comes back: every
/// counting message commits exactly once, none is lost, none fails.
#[test]
fn exactly_once_through_a_40_second_database_outage() {
    let test_db = TestDb::new(Backend::Postgres);
    let db = lib_db(&test_db);
    let proxy = DbProxy::start();
    let a = outage_node(&test_db, "alpha", &proxy).start();
    let b = outage_node(&test_db, "beta", &proxy).start();
    put_counts(&db, "outage", 6_000, 20);
    assert!(wait_until(Duration::from_secs(60), || counter(
        &db, "outage"
    ) > 500));
    proxy.cut();
    let at_cut = counter(&db, "outage");
    std::thread::sleep(Duration::from_secs(40));
    proxy.restore();
    let done = wait_until(Duration::from_secs(180), || {
        states(&db).get("ok").copied().unwrap_or(0) == 6_000
    });
    let (sa, sb) = (node_stats(&a), node_stats(&b));
    let total = counter(&db, "outage");
    eprintln!(
        "outage: counted {at_cut} before the cut, {total} in all; stale results discarded {} + {}, \
         handed back {} + {}; states {:?}",
        sa["stale_completions"],
        sb["stale_completions"],
        sa["handed_back"],
        sb["handed_back"],
        states(&db)
    );
    assert!(done, "not all ok: {:?}\n{}", states(&db), a.logs());
    assert_eq!(total, 6_000, "duplicated or lost commits");
    for node in [&a, &b] {
        assert!(
            node.find_log("claims are treated as lost").is_some(),
            "{} did not fence its claims:\n{}",
            node.name,
            node.logs()
        );
        assert!(
            node.find_log("marked not_responding").is_none(),
            "{} declared a live peer dead after an outage:\n{}",
            node.name,
            node.logs()
        );
    }
}

/// One node loses the database for 40 s while its peer keeps it: the peer declares it
/// dead and re-runs its messages; what the cut-off node finishes meanwhile is
/// discarded when it comes back, so every commit happens exactly once.
#[test]
fn a_live_node_declared_dead_commits_nothing_twice() {
    let test_db = TestDb::new(Backend::Postgres);
    let db = lib_db(&test_db);
    let (proxy_a, proxy_b) = (DbProxy::start(), DbProxy::start());
    let a = outage_node(&test_db, "alpha", &proxy_a).start();
    let b = outage_node(&test_db, "beta", &proxy_b).start();
    // Let both beat long enough to judge each other.
    std::thread::sleep(Duration::from_secs(11));
    put_counts(&db, "split", 3_000, 50);
    assert!(wait_until(Duration::from_secs(60), || {
        let held = states(&db).get("dequeue").copied().unwrap_or(0);
        held > 20 && counter(&db, "split") > 100
    }));
    proxy_a.cut();
    assert!(
        b.wait_log("marked not_responding", Duration::from_secs(40)),
        "beta never declared alpha dead:\n{}",
        b.logs()
    );
    std::thread::sleep(Duration::from_secs(20));
    proxy_a.restore();
    let done = wait_until(Duration::from_secs(180), || {
        states(&db).get("ok").copied().unwrap_or(0) == 3_000
    });
    assert!(done, "not all ok: {:?}", states(&db));
    assert!(
        wait_until(Duration::from_secs(30), || a
            .find_log("heart-beating again")
            .is_some()),
        "{}",
        a.logs()
    );
    let stale = node_stats(&a)["stale_completions"].as_u64().unwrap_or(0);
    eprintln!(
        "split: stale results of alpha discarded: {stale}; handed back: {}",
        node_stats(&a)["handed_back"]
    );
    assert!(stale > 0, "alpha's in-flight results were not fenced off");
    assert_eq!(counter(&db, "split"), 3_000, "duplicated or lost commits");
    // Alpha is back in service.
    let id = put(
        &a,
        json!({"command": "Diagnostics.noop", "args": {}, "server_guid": me(&a)["guid"]}),
    );
    wait_state(&a, &id, "ok", Duration::from_secs(30));
}

/// Whether two or more live servers hold `role` at once.
fn double_holders(node: &Node, role: &str) -> bool {
    let servers = node.get_json("/api/servers?expand=resources");
    servers["resources"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|s| s["status"] == "started" && common::holds(s, role))
                .count()
                > 1
        })
        .unwrap_or(false)
}

// Nodes whose clocks are a minute ahead and behind: no lease is stolen, nobody is
// judged dead, messages pinned to the skewed nodes run.
both_backends!(clocks_a_minute_off_change_nothing, |db: TestDb| {
    let base = |name: &str| {
        queue_node(&db, name)
            .env("STEWARD__ROLES__ENABLED", "scheduler,automate")
            .env("STEWARD__SERVER__HEARTBEAT_TIMEOUT", "3s")
    };
    let normal = base("normal").start();
    assert!(wait_until(Duration::from_secs(20), || common::holds(
        &me(&normal),
        "scheduler"
    )));
    let ahead = base("ahead")
        .env("STEWARD_TEST_CLOCK_OFFSET", "60s")
        .start();
    let behind = base("behind")
        .env("STEWARD_TEST_CLOCK_OFFSET", "-60s")
        .start();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        assert!(
            !double_holders(&normal, "scheduler"),
            "two holders of scheduler"
        );
        for node in [&normal, &ahead, &behind] {
            assert_eq!(me(node)["status"], "started", "{}", node.name);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(common::holds(&me(&normal), "scheduler"), "the lease moved");
    for node in [&ahead, &behind] {
        let id = put(
            node,
            json!({"command": "Diagnostics.noop", "args": {}, "server_guid": me(node)["guid"]}),
        );
        wait_state(node, &id, "ok", Duration::from_secs(20));
    }
    for node in [&normal, &ahead, &behind] {
        assert!(
            node.find_log("marked not_responding").is_none(),
            "{}: {}",
            node.name,
            node.logs()
        );
    }
});

// The inputs that used to stop a queue or answer 500 are 400s naming the field, and
// the queue keeps flowing.
both_backends!(poison_input_is_refused_and_the_queue_flows, |db: TestDb| {
    let node = queue_node(&db, "alpha")
        .env("STEWARD__QUEUE__MAX_ARGS_BYTES", "64KiB")
        .start();
    let noop = |extra: Value| {
        let mut body = json!({"command": "Diagnostics.noop", "args": {}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        node.post_json("/api/queue/messages", &body)
    };
    let cases = [
        (json!({"task_id": "t".repeat(4096)}), "task_id"),
        (json!({"task_id": "t\u{0}"}), "task_id"),
        (json!({"zone": "z\u{0}"}), "zone"),
        (json!({"queue_name": "q\u{0}"}), "queue_name"),
        (json!({"server_guid": "g\u{0}"}), "server_guid"),
        (json!({"zone": "line\nbreak"}), "zone"),
        (json!({"queue_name": "q".repeat(200)}), "queue_name"),
        (json!({"args": {"blob": "x".repeat(70_000)}}), "args"),
        (json!({"args": {"nested": "\u{0}"}}), "args.nested"),
    ];
    for (extra, field) in cases {
        let (status, reply) = noop(extra);
        let text = crate::common::cut(&reply.to_string(), 300);
        assert_eq!(status, 400, "{field}: {text}");
        assert!(text.contains(field), "{field} not named: {text}");
        assert!(
            reply.to_string().len() < 2_000,
            "the error echoes the input: {text}"
        );
    }
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"name": "a\u{0}b", "api_url": "https://x:6443"}),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains("name"), "{reply}");
    // The CLI refuses the same, naming the field, before touching the database.
    let mut env = queue_node(&db, "alpha").cli_env();
    env.push(("STEWARD__QUEUE__DIAGNOSTIC_COMMANDS", "true".into()));
    let long_task = "t".repeat(4096);
    for (args, field) in [
        (
            vec!["queue", "put", "Diagnostics.noop", "--task", &long_task],
            "task_id",
        ),
        (
            vec!["queue", "put", "Diagnostics.noop", "--zone", "a b"],
            "zone",
        ),
        (
            vec![
                "queue",
                "put",
                "Diagnostics.noop",
                "--args",
                r#"{"x":"\u0000"}"#,
            ],
            "args",
        ),
    ] {
        let out = common::steward(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{field}");
        assert!(
            stderr.contains(field),
            "{field}: {}",
            common::cut(&stderr, 300)
        );
    }
    let id = put(&node, json!({"command": "Diagnostics.noop", "args": {}}));
    wait_state(&node, &id, "ok", Duration::from_secs(20));
});

// A handler's error text with a newline cannot forge a log line.
both_backends!(log_lines_cannot_be_forged, |db: TestDb| {
    let node = queue_node(&db, "alpha").start();
    let id = put(
        &node,
        json!({"command": "Diagnostics.fail", "args": {"message": "oops\nINFO forged line"}}),
    );
    wait_state(&node, &id, "error", Duration::from_secs(20));
    assert!(node.wait_log("oops", Duration::from_secs(10)));
    assert!(
        !node.logs().lines().any(|l| l.starts_with("INFO forged")),
        "{}",
        node.logs()
    );
    assert!(node.find_log("oops\\nINFO forged line").is_some());
});

// A message the database refuses to claim goes to error; the others run.
both_backends!(
    an_unclaimable_message_does_not_block_its_queue,
    |test_db: TestDb| {
        use diesel::connection::SimpleConnection;
        let db = lib_db(&test_db);
        let node = queue_node(&test_db, "alpha")
            .env("STEWARD__QUEUE__POLL_INTERVAL", "100ms")
            .start();
        let poison = put(
            &node,
            json!({"command": "Diagnostics.sleep", "args": {"seconds": 0}, "deliver_on": (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339()}),
        );
        let sql = match test_db.backend {
            Backend::Sqlite => format!(
                "CREATE TRIGGER poison BEFORE UPDATE OF state ON queue_messages \
             WHEN NEW.id = {poison} AND NEW.state = 'dequeue' \
             BEGIN SELECT RAISE(ABORT, 'this row is poisoned'); END;"
            ),
            Backend::Postgres => format!(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.id = {poison} AND NEW.state = 'dequeue' THEN \
                 RAISE EXCEPTION 'this row is poisoned'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER poison BEFORE UPDATE ON queue_messages \
               FOR EACH ROW EXECUTE FUNCTION poison();"
            ),
        };
        db.with_conn(|c| Ok(c.batch_execute(&sql)?))
            .expect("poison");
        let m = wait_state(&node, &poison, "error", Duration::from_secs(30));
        assert!(
            m["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("poisoned")),
            "{m}"
        );
        let ids: Vec<String> = (0..20)
            .map(|_| put(&node, json!({"command": "Diagnostics.noop", "args": {}})))
            .collect();
        for id in &ids {
            wait_state(&node, id, "ok", Duration::from_secs(30));
        }
    }
);

// Half a million messages wait for a role nobody runs; other work flows, and the
// statistics count them without scanning.
both_backends!(
    a_backlog_nobody_serves_does_not_hold_up_other_work,
    |test_db: TestDb| {
        use diesel::connection::SimpleConnection;
        let db = lib_db(&test_db);
        // Put in bulk by SQL (the library's put_many is exercised elsewhere; here only the
        // backlog's size matters, and a debug build would spend minutes building it).
        let series = match test_db.backend {
            Backend::Postgres => {
                "SELECT now() AT TIME ZONE 'UTC' AS t FROM generate_series(1, 500000)"
            }
            Backend::Sqlite => {
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500000) \
             SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') AS t FROM n"
            }
        };
        db.with_conn(|c| {
            Ok(c.batch_execute(&format!(
                "INSERT INTO queue_messages (class_name, method_name, role, args, created_on) \
             SELECT 'Diagnostics', 'noop', 'reporting', '{{}}', t FROM ({series}) AS s"
            ))?)
        })
        .expect("backlog");
        let node = queue_node(&test_db, "alpha")
            .env("STEWARD__ROLES__ENABLED", "automate")
            .env("STEWARD__QUEUE__LOG_MESSAGES", "false")
            .start();
        let ids: Vec<String> = (0..200)
            .map(|_| put(&node, json!({"command": "Diagnostics.noop", "args": {}})))
            .collect();
        for id in &ids {
            wait_state(&node, id, "ok", Duration::from_secs(60));
        }
        let stats = node.get_json("/api/queue/stats");
        assert_eq!(stats["region"]["totals"]["ready"], 500_000, "{stats}");
        assert_eq!(
            stats["region"]["by_state"]["ready"][""]["reporting"],
            500_000
        );
    }
);

/// The supervised components of a node on `backend`.
fn components(backend: Backend) -> Vec<&'static str> {
    let mut all = vec![
        "registry",
        "queue_dispatcher",
        "completion_writer",
        "queue_maintenance",
        "metrics_coordinator",
        "refresh_manager",
    ];
    if backend == Backend::Postgres {
        all.push("queue_listener");
    }
    all
}

fn component(node: &Node, name: &str) -> Value {
    let id = me(node)["id"].as_str().expect("id").to_string();
    let server = node.get_json(&format!("/api/servers/{id}"));
    server["components"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

fn inject(node: &Node, component: &str) {
    put(
        node,
        json!({"command": "Diagnostics.inject_fault", "args": {"component": component},
               "server_guid": me(node)["guid"]}),
    );
}

// A panic injected into each component: it is rebuilt, its restart and reason are
// shown, and the node keeps working.
both_backends!(every_component_is_rebuilt_after_a_panic, |db: TestDb| {
    let node = queue_node(&db, "alpha").start();
    let names = components(db.backend);
    assert!(wait_until(Duration::from_secs(20), || names
        .iter()
        .all(|n| component(&node, n)["status"] == "running")));
    for name in names {
        inject(&node, name);
        let rebuilt = wait_until(Duration::from_secs(30), || {
            let c = component(&node, name);
            c["restarts"].as_i64().unwrap_or(0) >= 1 && c["status"] == "running"
        });
        let c = component(&node, name);
        assert!(rebuilt, "{name} not rebuilt: {c}\n{}", node.logs());
        assert!(
            c["last_exit_reason"]
                .as_str()
                .is_some_and(|r| r.contains("injected fault")),
            "{c}"
        );
        let id = put(&node, json!({"command": "Diagnostics.noop", "args": {}}));
        wait_state(&node, &id, "ok", Duration::from_secs(30));
    }
    // Still heart-beating after the registry was rebuilt.
    let before = me(&node)["last_heartbeat"].clone();
    assert!(wait_until(
        Duration::from_secs(10),
        || me(&node)["last_heartbeat"] != before
    ));
    let out = common::steward(&["status"], &queue_node(&db, "alpha").cli_env());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Components") && text.contains("injected fault"),
        "{text}"
    );
});

// A component that keeps failing stops the node with exit code 6, and the server
// row says stopped.
both_backends!(
    a_component_that_keeps_failing_stops_the_node,
    |db: TestDb| {
        let mut node = queue_node(&db, "alpha")
            .env("STEWARD__SUPERVISION__COMPONENT_MAX_RESTARTS", "2")
            .env("STEWARD__SUPERVISION__RESTART_BACKOFF", "100ms")
            .start();
        for round in 1..=3 {
            inject(&node, "queue_maintenance");
            let next = wait_until(Duration::from_secs(20), || {
                node.count_log("component failed; rebuilding it") >= round
                    || node.find_log("giving up").is_some()
            });
            assert!(next, "round {round}:\n{}", node.logs());
            if node.find_log("giving up").is_some() {
                break;
            }
            // Wait for the rebuilt incarnation before failing it again.
            assert!(node.wait_log("component restarted", Duration::from_secs(20)));
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(
            wait_until(Duration::from_secs(30), || node.try_exit().is_some()),
            "{}",
            node.logs()
        );
        assert_eq!(node.try_exit().and_then(|s| s.code()), Some(6));
        assert!(node.find_log("kept failing").is_some(), "{}", node.logs());
        let out = common::steward(&["status", "--json"], &queue_node(&db, "alpha").cli_env());
        let status: Value = serde_json::from_slice(&out.stdout).expect("status");
        assert_eq!(
            status["servers"][0]["status"],
            "stopped",
            "{status}\n{}",
            node.logs()
        );
    }
);

// A port in use: one line, exit code 3, no panic, and nothing registered.
both_backends!(a_port_in_use_stops_the_start_cleanly, |db: TestDb| {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut node = queue_node(&db, "alpha")
        .env("STEWARD__WEB__PORT", &port.to_string())
        .spawn();
    assert!(wait_until(Duration::from_secs(30), || node
        .try_exit()
        .is_some()));
    assert_eq!(node.try_exit().and_then(|s| s.code()), Some(3));
    let logs = node.logs();
    assert!(!logs.contains("panic"), "{logs}");
    assert_eq!(logs.matches("Address already in use").count(), 1, "{logs}");
    if db.backend == Backend::Postgres {
        let lib = lib_db(&db);
        let servers = lib
            .with_conn(|c| {
                use diesel::prelude::*;
                use steward::db::schema::servers;
                Ok(servers::table.count().get_result::<i64>(c)?)
            })
            .expect("count");
        assert_eq!(servers, 0, "a failed start left a server row");
    }
});

// The live feed's port in use: the same, naming the live feed.
both_backends!(
    a_live_feed_port_in_use_stops_the_start_cleanly,
    |db: TestDb| {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let mut node = queue_node(&db, "alpha")
            .env("STEWARD__WEBSOCKET__PORT", &port.to_string())
            .spawn();
        assert!(wait_until(Duration::from_secs(30), || node
            .try_exit()
            .is_some()));
        assert_eq!(node.try_exit().and_then(|s| s.code()), Some(3));
        let logs = node.logs();
        assert!(!logs.contains("panic"), "{logs}");
        assert_eq!(logs.matches("Address already in use").count(), 1, "{logs}");
        assert!(logs.contains("live feed"), "{logs}");
    }
);

/// A data directory that is a file, and a database that refuses the node: one line
/// each, exit codes 4 and 5, no panic.
#[test]
fn unusable_data_directory_and_refused_database_stop_the_start_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let file = common::write_file(dir.path(), "not-a-dir", "x");
    let out = common::steward(
        &["start"],
        &[
            ("STEWARD__SERVER__DATA_DIR", file.display().to_string()),
            ("STEWARD__WEB__PORT", "0".into()),
            ("STEWARD__WEBSOCKET__PORT", "0".into()),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");

    let admin = std::env::var("STEWARD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let out = common::steward(
        &["start"],
        &[
            (
                "STEWARD__SERVER__DATA_DIR",
                dir.path().join("node").display().to_string(),
            ),
            (
                "STEWARD__DATABASE__URL",
                format!("{base}/steward_no_such_database"),
            ),
            ("STEWARD__DATABASE__CONNECT_TIMEOUT", "1s".into()),
            ("STEWARD__WEB__PORT", "0".into()),
            ("STEWARD__WEBSOCKET__PORT", "0".into()),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("database refused"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
}
