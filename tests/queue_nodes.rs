//! The queue and its workers through live nodes: routing, worker supervision
//! (panic, timeout, stuck thread, memory, uptime), node death with exactly-once
//! effects, role failover and failback, backpressure, stats, purge and wake-ups.

mod common;

use std::time::{Duration, Instant};

use common::{
    NodeConfig, TestDb, holds, lib_db, me, message, put, queue_node, rss_kib, steward, wait_state,
    wait_until, workers_of,
};
use serde_json::json;

both_backends!(
    messages_are_routed_by_zone_role_server_priority_and_time,
    |db: TestDb| {
        let node = queue_node(&db, "alpha")
            .env("STEWARD__SERVER__ZONE", "east")
            .env("STEWARD__ROLES__ENABLED", "automate,scheduler")
            .env("STEWARD__WORKERS__GENERIC__COUNT", "1")
            .env("STEWARD__WORKERS__PRIORITY__COUNT", "1")
            .start();
        let guid = me(&node)["guid"].as_str().expect("guid").to_string();
        let noop = |extra: serde_json::Value| {
            let mut body = json!({"command": "Diagnostics.noop", "args": {}});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            put(&node, body)
        };
        let west = noop(json!({"zone": "west"}));
        let reporting = noop(json!({"role": "reporting"}));
        let elsewhere = noop(json!({"server_guid": uuid::Uuid::new_v4().to_string()}));
        let east = noop(json!({"zone": "east", "role": "automate"}));
        let pinned = noop(json!({"server_guid": guid}));
        let urgent = noop(json!({"priority": 10}));
        let normal = noop(json!({}));
        let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
        let later = noop(json!({"deliver_on": at.to_rfc3339()}));

        for id in [&east, &pinned, &normal] {
            let m = wait_state(&node, id, "ok", Duration::from_secs(20));
            assert_eq!(m["handler_server"], guid.as_str());
            assert!(
                m["handler_worker"]
                    .as_str()
                    .is_some_and(|w| w.starts_with("generic-")),
                "{m}"
            );
        }
        let m = wait_state(&node, &urgent, "ok", Duration::from_secs(20));
        assert!(
            m["handler_worker"]
                .as_str()
                .is_some_and(|w| w.starts_with("priority-")),
            "{m}"
        );
        let m = wait_state(&node, &later, "ok", Duration::from_secs(20));
        let dequeued = m["dequeued_on"].as_str().expect("dequeued_on");
        assert!(
            dequeued >= at.format("%Y-%m-%dT%H:%M:%S").to_string().as_str(),
            "{m}"
        );
        // Not for this node: still waiting.
        for id in [&west, &reporting, &elsewhere] {
            assert_eq!(message(&node, id)["state"], "ready", "{id}");
        }
        // The seed's life-cycle lines.
        assert!(node.find_log("put message_id=").is_some());
        assert!(
            node.find_log("dequeued message_id=")
                .is_some_and(|l| l.contains("dequeued_in_s="))
        );
        assert!(
            node.find_log("delivered message_id=")
                .is_some_and(|l| l.contains("delivered_in_s="))
        );
    }
);

both_backends!(a_task_id_serialises_its_messages, |db: TestDb| {
    let node = queue_node(&db, "alpha")
        .env("STEWARD__WORKERS__GENERIC__COUNT", "3")
        .start();
    let ids: Vec<String> = (0..3)
        .map(|_| {
            put(
                &node,
                json!({"command": "Diagnostics.sleep", "args": {"seconds": 0.3}, "task_id": "t-1"}),
            )
        })
        .collect();
    let done: Vec<_> = ids
        .iter()
        .map(|id| wait_state(&node, id, "ok", Duration::from_secs(20)))
        .collect();
    for pair in done.windows(2) {
        let (first, next) = (&pair[0], &pair[1]);
        assert!(
            next["dequeued_on"].as_str() >= first["finished_on"].as_str(),
            "overlap: {first} / {next}"
        );
    }
});

both_backends!(
    a_panicking_handler_is_restarted_and_the_node_keeps_working,
    |db: TestDb| {
        let node = queue_node(&db, "alpha")
            .env("STEWARD__WORKERS__GENERIC__COUNT", "1")
            .start();
        let boom = put(
            &node,
            json!({"command": "Diagnostics.panic", "args": {"message": "boom"}}),
        );
        let m = wait_state(&node, &boom, "error", Duration::from_secs(20));
        assert!(
            m["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("panicked: Diagnostics.panic: boom")),
            "{m}"
        );
        let fine = put(&node, json!({"command": "Diagnostics.noop", "args": {}}));
        wait_state(&node, &fine, "ok", Duration::from_secs(20));
        assert!(
            wait_until(Duration::from_secs(10), || {
                workers_of(&node).iter().any(|w| {
                    w["worker_type"] == "generic"
                        && w["restarts"].as_i64().unwrap_or(0) >= 1
                        && w["last_exit_reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("panicked"))
                })
            }),
            "{:?}",
            workers_of(&node)
        );
        // A bad argument or an unknown command is an error on the message, not a crash.
        let bad = put(
            &node,
            json!({"command": "Diagnostics.sleep", "args": {"seconds": "soon"}}),
        );
        let m = wait_state(&node, &bad, "error", Duration::from_secs(20));
        assert!(
            m["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("bad args")),
            "{m}"
        );
        let (status, body) =
            node.post_json("/api/queue/messages", &json!({"command": "Nope.nothing"}));
        assert_eq!(status, 400, "{body}");
        let (status, body) = node.post_json(
            "/api/queue/messages",
            &json!({"command": "Diagnostics.noop", "priority": 500}),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["kind"], "bad_request");
    }
);

both_backends!(
    stuck_handlers_time_out_and_their_worker_is_replaced,
    |db: TestDb| {
        let node = queue_node(&db, "alpha")
            .env("STEWARD__WORKERS__GENERIC__COUNT", "1")
            .env("STEWARD__WORKERS__GENERIC__HEARTBEAT_TIMEOUT", "3s")
            .start();
        // Awaits too long: the worker's own timeout fires.
        let slow = put(
            &node,
            json!({"command": "Diagnostics.sleep", "args": {"seconds": 30}, "msg_timeout": 1}),
        );
        let m = wait_state(&node, &slow, "timeout", Duration::from_secs(15));
        assert!(
            m["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("timed out")),
            "{m}"
        );
        // Blocks its thread: no heartbeat, the supervisor steps in.
        let stuck = put(
            &node,
            json!({"command": "Diagnostics.block", "args": {"seconds": 30}, "msg_timeout": 1}),
        );
        let m = wait_state(&node, &stuck, "timeout", Duration::from_secs(20));
        assert!(
            m["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("killed")),
            "{m}"
        );
        // A fresh worker carries on.
        let next = put(&node, json!({"command": "Diagnostics.noop", "args": {}}));
        wait_state(&node, &next, "ok", Duration::from_secs(20));
        let generic = workers_of(&node)
            .into_iter()
            .find(|w| w["worker_type"] == "generic")
            .expect("generic worker");
        assert!(generic["restarts"].as_i64().unwrap_or(0) >= 2, "{generic}");
        assert!(node.find_log("timed out").is_some());
    }
);

both_backends!(
    memory_threshold_and_uptime_limit_recycle_workers,
    |db: TestDb| {
        let node = queue_node(&db, "alpha")
            .env("STEWARD__WORKERS__GENERIC__COUNT", "1")
            .env("STEWARD__WORKERS__GENERIC__MEMORY_THRESHOLD", "20MiB")
            .env("STEWARD__WORKERS__PRIORITY__COUNT", "1")
            .env("STEWARD__WORKERS__PRIORITY__RESTART_INTERVAL", "1s")
            .start();
        let hog = put(
            &node,
            json!({"command": "Diagnostics.hold_memory", "args": {"bytes": 40_000_000}}),
        );
        wait_state(&node, &hog, "ok", Duration::from_secs(20));
        assert!(
            wait_until(Duration::from_secs(15), || workers_of(&node).iter().any(
                |w| {
                    w["worker_type"] == "generic"
                        && w["restarts"].as_i64().unwrap_or(0) >= 1
                        && w["last_exit_reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("memory usage"))
                        && w["memory_bytes"].as_i64().unwrap_or(i64::MAX) < 20 << 20
                }
            )),
            "{:?}",
            workers_of(&node)
        );
        assert!(
            wait_until(Duration::from_secs(15), || workers_of(&node).iter().any(
                |w| {
                    w["worker_type"] == "priority"
                        && w["restarts"].as_i64().unwrap_or(0) >= 1
                        && w["last_exit_reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("uptime"))
                }
            )),
            "{:?}",
            workers_of(&node)
        );
        let out = steward(&["status"], &NodeConfig::new(&db, "alpha").cli_env());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Workers") && text.contains("generic-1"),
            "{text}"
        );
    }
);

both_backends!(
    queue_stats_count_by_state_zone_and_role_and_finished_messages_are_purged,
    |db: TestDb| {
        let node = queue_node(&db, "alpha")
            .env("STEWARD__QUEUE__KEEP_FINISHED", "2s")
            .env("STEWARD__QUEUE__PURGE_INTERVAL", "500ms")
            .env("STEWARD__QUEUE__STATS_INTERVAL", "500ms")
            .start();
        let waiting = put(
            &node,
            json!({"command": "Diagnostics.noop", "args": {}, "zone": "elsewhere", "role": "reporting"}),
        );
        let done = put(&node, json!({"command": "Diagnostics.noop", "args": {}}));
        wait_state(&node, &done, "ok", Duration::from_secs(20));
        let stats = node.get_json("/api/queue/stats");
        assert_eq!(stats["region"]["totals"]["ready"], 1, "{stats}");
        assert_eq!(
            stats["region"]["by_state"]["ready"]["elsewhere"]["reporting"], 1,
            "{stats}"
        );
        assert!(
            stats["node"]["put_to_start"]["count"].as_u64().unwrap_or(0) >= 1,
            "{stats}"
        );
        let out = steward(
            &["queue", "stats"],
            &NodeConfig::new(&db, "alpha").cli_env(),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("ready=1") && text.contains("elsewhere") && text.contains("reporting"),
            "{text}"
        );
        assert!(node.wait_log(
            "queue count for state=[\"ready\"] by zone and role",
            Duration::from_secs(10)
        ));
        // Kept for diagnosis, then purged; the waiting one stays.
        assert!(wait_until(Duration::from_secs(20), || node
            .get(&format!("/api/queue/messages/{done}"))
            .0
            == 404));
        assert_eq!(message(&node, &waiting)["state"], "ready");
    }
);

both_backends!(
    an_idle_node_wakes_for_a_new_message_without_polling,
    |db: TestDb| {
        let node = queue_node(&db, "alpha")
            .env("STEWARD__QUEUE__POLL_INTERVAL", "60s")
            .start();
        // Let the first poll pass so the dispatcher is idle.
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        let id = put(&node, json!({"command": "Diagnostics.noop", "args": {}}));
        wait_state(&node, &id, "ok", Duration::from_secs(10));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woke in {:?}",
            started.elapsed()
        );
        if db.backend == common::Backend::Postgres {
            // From another process: PostgreSQL NOTIFY.
            let started = Instant::now();
            let mut env = NodeConfig::new(&db, "cli").cli_env();
            env.push(("STEWARD__QUEUE__DIAGNOSTIC_COMMANDS", "true".into()));
            let out = steward(&["queue", "put", "Diagnostics.noop", "--args", "{}"], &env);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            wait_state(&node, &id, "ok", Duration::from_secs(10));
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "woke in {:?}",
                started.elapsed()
            );
        }
    }
);

both_backends!(a_graceful_stop_hands_back_claimed_messages, |db: TestDb| {
    let mut node = queue_node(&db, "alpha")
        .env("STEWARD__WORKERS__GENERIC__COUNT", "1")
        .start();
    let ids: Vec<String> = (0..10)
        .map(|_| {
            put(
                &node,
                json!({"command": "Diagnostics.sleep", "args": {"seconds": 0.2}}),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let status = node.terminate(Duration::from_secs(30)).expect("stops");
    assert!(status.success());
    let handle = lib_db(&db);
    let counts = handle
        .with_conn(steward::queue::queue_counts)
        .expect("counts");
    assert_eq!(counts.totals["dequeue"], 0, "{counts:?}");
    assert_eq!(
        counts.totals["ok"] + counts.totals["ready"],
        ids.len() as i64,
        "{counts:?}"
    );
    assert!(
        counts.totals["ready"] > 0,
        "some must have been handed back: {counts:?}"
    );
});

both_backends!(
    a_slow_worker_with_100000_waiting_messages_keeps_memory_flat,
    |db: TestDb| {
        let handle = lib_db(&db);
        let messages: Vec<steward::queue::NewMessage> = (0..100_000)
            .map(|_| {
                steward::queue::NewMessage::new("Diagnostics.sleep")
                    .and_then(|m| m.with_args(&json!({"seconds": 0.01})))
                    .expect("message")
            })
            .collect();
        handle
            .with_conn(|c| steward::queue::put_many(c, &messages))
            .expect("put");
        drop(messages);
        let node = queue_node(&db, "alpha")
            .env("STEWARD__WORKERS__GENERIC__COUNT", "1")
            .env("STEWARD__WORKERS__PRIORITY__COUNT", "0")
            .env("STEWARD__QUEUE__MAILBOX_PER_WORKER", "20")
            .env("STEWARD__QUEUE__LOG_MESSAGES", "false")
            .start();
        // Warm-up: pools and SQLite page caches (bounded, 2 MB a connection) fill first.
        std::thread::sleep(Duration::from_secs(3));
        let first = rss_kib(node.pid());
        let mut peak = first;
        let mut anon_peak = common::anon_rss_kib(node.pid());
        for _ in 0..16 {
            std::thread::sleep(Duration::from_millis(250));
            peak = peak.max(rss_kib(node.pid()));
            anon_peak = anon_peak.max(common::anon_rss_kib(node.pid()));
        }
        let stats = node.get_json("/api/queue/stats");
        assert!(
            stats["region"]["totals"]["ready"].as_i64().unwrap_or(0) > 90_000,
            "{stats}"
        );
        // Claimed = the mailbox (20) + the message in the worker's hand + completions
        // waiting for their batch (flushed every 20 ms): bounded, however long the queue.
        assert!(
            stats["region"]["totals"]["dequeue"].as_i64().unwrap_or(0) <= 30,
            "{stats}"
        );
        assert!(
            stats["node"]["completed_ok"].as_u64().unwrap_or(0) > 50,
            "the worker works: {stats}"
        );
        // Holding the backlog would cost well over 30 MB (100,000 messages); the mailbox
        // holds 20. Allow bounded cache growth, nothing proportional to the queue.
        assert!(
            peak < first + 10 * 1024,
            "RSS grew from {first} KiB to {peak} KiB"
        );
        // What the node holds (heap, stacks), not the debug binary's code pages, which
        // grow with the code (about 57 MB of a 180 MB debug binary are resident).
        assert!(
            anon_peak > 0 && anon_peak < 64 * 1024,
            "anonymous RSS {anon_peak} KiB (total {peak} KiB)"
        );
    }
);

/// Three nodes on one PostgreSQL database, 10,000 messages in flight, one node killed:
/// every message ends `ok`, and its effect (a counter) happened exactly once.
#[test]
fn three_nodes_lose_nothing_when_one_is_killed() {
    let db = TestDb::new(common::Backend::Postgres);
    let handle = lib_db(&db);
    let mut nodes: Vec<_> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            queue_node(&db, n)
                .env("STEWARD__QUEUE__LOG_MESSAGES", "false")
                .env("STEWARD__QUEUE__MAILBOX_PER_WORKER", "50")
                .start()
        })
        .collect();
    let total = 10_000;
    for chunk in 0..10 {
        let messages: Vec<steward::queue::NewMessage> = (0..total / 10)
            .map(|_| {
                steward::queue::NewMessage::new("Diagnostics.count")
                    .and_then(|m| m.with_args(&json!({"counter": "done", "sleep_ms": 2})))
                    .expect("message")
            })
            .collect();
        handle
            .with_conn(|c| steward::queue::put_many(c, &messages))
            .expect("put");
        if chunk == 4 {
            // Mid-stream, with messages claimed and running on every node.
            assert!(wait_until(Duration::from_secs(20), || {
                let stats = nodes[1].get_json("/api/queue/stats");
                stats["node"]["completed_ok"].as_u64().unwrap_or(0) > 200
            }));
            nodes[1].kill();
        }
    }
    let counts = || {
        handle
            .with_conn(steward::queue::queue_counts)
            .expect("counts")
    };
    assert!(
        wait_until(Duration::from_secs(120), || counts().totals["ok"] == total),
        "{:?}",
        counts()
    );
    let c = counts();
    assert_eq!(
        (c.totals["ready"], c.totals["dequeue"], c.totals["error"]),
        (0, 0, 0),
        "{c:?}"
    );
    let executed: i64 = handle
        .with_conn(|c| {
            use diesel::prelude::*;
            use steward::db::schema::diagnostic_counters as dc;
            Ok(dc::table
                .filter(dc::name.eq("done"))
                .select(dc::value)
                .first(c)?)
        })
        .expect("counter");
    assert_eq!(executed, total, "each message's effect exactly once");
    assert!(
        nodes[0].find_log("returned to the queue").is_some()
            || nodes[2].find_log("returned to the queue").is_some()
    );
    drop(nodes);
}

/// A single-active role moves to the secondary when the primary is killed, and back
/// when the primary returns; messages for the role follow it.
#[test]
fn a_single_active_role_fails_over_and_back() {
    let db = TestDb::new(common::Backend::Postgres);
    let primary = queue_node(&db, "primary").env("STEWARD__ROLES__PRIMARY", "scheduler,event");
    let mut a = primary.start();
    assert!(wait_until(Duration::from_secs(20), || holds(
        &me(&a),
        "scheduler"
    ) && holds(
        &me(&a),
        "event"
    )));
    let b = queue_node(&db, "secondary").start();
    assert!(
        wait_until(Duration::from_secs(60), || me(&b)["status"] == "started"),
        "{}",
        b.logs()
    );
    // One holder at a time.
    for _ in 0..10 {
        let servers = b.get_json("/api/servers?expand=resources");
        let holders = servers["resources"]
            .as_array()
            .map(|s| s.iter().filter(|s| holds(s, "scheduler")).count())
            .unwrap_or(0);
        assert_eq!(holders, 1, "{servers}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let a_guid = me(&a)["guid"].as_str().expect("guid").to_string();
    let b_guid = me(&b)["guid"].as_str().expect("guid").to_string();
    let id = put(
        &b,
        json!({"command": "Diagnostics.noop", "args": {}, "role": "scheduler"}),
    );
    assert_eq!(
        wait_state(&b, &id, "ok", Duration::from_secs(20))["handler_server"],
        a_guid.as_str()
    );

    a.kill();
    let killed = Instant::now();
    assert!(wait_until(Duration::from_secs(20), || holds(
        &me(&b),
        "scheduler"
    )));
    let failover = killed.elapsed();
    // Lease 2 s + a heartbeat (300 ms) + polling slack.
    assert!(
        failover < Duration::from_secs(6),
        "failover took {failover:?}"
    );
    let id = put(
        &b,
        json!({"command": "Diagnostics.noop", "args": {}, "role": "scheduler"}),
    );
    assert_eq!(
        wait_state(&b, &id, "ok", Duration::from_secs(20))["handler_server"],
        b_guid.as_str()
    );

    let a = primary.start();
    assert!(
        wait_until(Duration::from_secs(20), || holds(&me(&a), "scheduler")
            && !holds(&me(&b), "scheduler")),
        "{}",
        b.get_json("/api/servers?expand=resources")
    );
    assert!(holds(&me(&a), "event"));
    assert!(
        b.find_log("releasing role to a server with a better priority")
            .is_some()
    );
}
