//! Policies, alerts and notifications (issue 13) through live nodes: each policy
//! action on simulator events; a real Prometheus Alertmanager sending to a node;
//! malformed and unauthenticated webhooks; a webhook target that is down, then up;
//! e-mail to a local SMTP server; a malformed policy file stopping the start.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Node, NodeConfig, Sim, TestDb, basic_auth, steward, steward_with_input, wait_until};
use serde_json::{Value, json};

fn node_for(db: &TestDb, name: &str, policy_dir: &Path) -> NodeConfig {
    common::queue_node(db, name)
        .env("STEWARD__EMS_REFRESH__WATCH_BATCH_WINDOW", "200ms")
        .env("STEWARD__EVENTS__BATCH_WINDOW", "100ms")
        .env(
            "STEWARD__EVENTS__POLICY_DIR",
            &policy_dir.display().to_string(),
        )
        .env("STEWARD__NOTIFIER__POLL_INTERVAL", "200ms")
        .env("STEWARD__NOTIFIER__RETRY_BACKOFF", "300ms")
        .env("STEWARD__NOTIFIER__RETRY_BACKOFF_MAX", "1s")
        .env("STEWARD__NOTIFIER__ALERT_AFTER_FAILURES", "2")
        .env("STEWARD__NOTIFIER__WEBHOOK_TIMEOUT", "2s")
}

fn add_provider(node: &Node, name: &str, url: &str) -> String {
    let body = json!({"name": name, "api_url": url, "allow_insecure_http": true});
    let (status, reply) = node.post_json("/api/providers", &body);
    assert_eq!(status, 201, "{reply}");
    let id = reply["id"].as_str().expect("id").to_string();
    let ok = wait_until(Duration::from_secs(60), || {
        node.get_json(&format!("/api/providers/{id}"))["status"] == "ok"
    });
    assert!(ok, "provider not ok\n{}", common::cut(&node.logs(), 10_000));
    id
}

/// A free port below Linux's ephemeral range (32768–60999), so that no process
/// binding port 0 meanwhile (a node, a simulator) takes it while it is meant to stay
/// unanswered.
fn free_port() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    (0..10_000u64)
        .map(|i| {
            20_000
                + ((seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(i * 7919))
                    % 12_000) as u16
        })
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

/// A webhook receiver (actix-web on its own thread): every body it was sent.
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16) -> Receiver {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = bodies.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    let sink = sink.clone();
                    actix_web::App::new().default_service(actix_web::web::to(
                        move |body: actix_web::web::Bytes| {
                            let sink = sink.clone();
                            async move {
                                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                                sink.lock().expect("bodies").push(v);
                                actix_web::HttpResponse::Ok().finish()
                            }
                        },
                    ))
                })
                .workers(1)
                .bind(("127.0.0.1", port))
                .expect("bind the receiver")
                .run();
                tx.send(server.handle()).expect("handle");
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("receiver started");
        Receiver {
            bodies,
            handle,
            thread: Some(thread),
        }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("bodies").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(handle.stop(false));
        })
        .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_policy(dir: &Path, text: &str) {
    std::fs::write(dir.join("test.yaml"), text).expect("policy file");
}

fn alerts(node: &Node, filter: &str) -> Vec<Value> {
    node.get_json(&format!("/api/alerts?expand=resources&limit=1000&{filter}"))["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    common::lib_db(db)
        .with_conn(|c| {
            use diesel::RunQueryDsl;
            let rows: Vec<N> = steward::with_backend!(c, c => diesel::sql_query(sql).load(c))?;
            Ok(rows.first().map_or(0, |r| r.n))
        })
        .expect("count")
}

both_backends!(policies_act_on_the_events_they_match, |db: TestDb| {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let receiver = Receiver::start(port);
    write_policy(
        dir.path(),
        &format!(
            r#"policies:
  - name: backoff
    description: A container keeps failing
    events: [POD_BACKOFF]
    conditions:
      severity: Warning
      message: "Back-off"
    actions:
      - alert: {{severity: error, description: "{{pod}} in {{project}} keeps failing", url: "https://sop.example.com/backoff"}}
      - webhook: {{url: "http://127.0.0.1:{port}/hook?token=t0ps3cret"}}
      - automate: {{name: restart-pod, args: {{mode: gentle}}}}
  - name: never
    events: [POD_BACKOFF]
    conditions: {{provider: some-other-cluster}}
    actions:
      - alert: {{severity: info}}
"#
        ),
    );
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "4", "--seed", "31"]);
    let node = node_for(&db, "alpha", dir.path()).start();
    let policies = node.get_json("/api/policies?expand=resources");
    let names: Vec<&str> = policies["resources"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"refresh-on-pod-events") && names.contains(&"backoff"),
        "{policies}"
    );
    let id = add_provider(&node, "lab", &sim.url);
    let report = sim.admin("/_sim/churn", json!({"restart": 2}));
    let pods = report["restarted"].as_array().map_or(0, Vec::len);
    assert_eq!(pods, 2, "{report}");
    // An alert per pod (one episode each), linked to the pod and the event.
    let mut open = Vec::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            open = alerts(&node, "filter[]=source=policy&filter[]=name=backoff");
            open.len() == 2
        }),
        "{open:?}\n{}",
        common::cut(&node.logs(), 10_000)
    );
    for a in &open {
        assert_eq!(a["severity"], "error");
        assert_eq!(a["status"], "firing");
        assert_eq!(a["target_kind"], "container_group");
        assert!(
            a["container_group_id"].is_string() && a["event_stream_id"].is_string(),
            "{a}"
        );
        assert!(
            a["description"]
                .as_str()
                .is_some_and(|d| d.contains("keeps failing") && !d.contains("{pod}")),
            "{a}"
        );
        assert_eq!(a["provider_id"], id.as_str());
    }
    assert!(
        alerts(&node, "filter[]=name=never").is_empty(),
        "a condition that does not hold"
    );
    // The webhook: one POST per event, with the event.
    assert!(wait_until(Duration::from_secs(30), || receiver
        .bodies()
        .len()
        >= 2));
    let bodies = receiver.bodies();
    assert!(
        bodies
            .iter()
            .all(|b| b["policy"] == "backoff" && b["event"]["event_type"] == "POD_BACKOFF"),
        "{bodies:?}"
    );
    // The automation task is queued (recorded; no automate worker runs it yet).
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM queue_messages WHERE class_name = 'Automate' AND method_name = 'run' AND args LIKE '%restart-pod%'"
        ),
        2
    );
    // The built-in policies asked for a targeted refresh of the pods.
    assert!(
        wait_until(Duration::from_secs(30), || count(
            &db,
            "SELECT COUNT(*) AS n FROM queue_messages WHERE method_name = 'refresh_targets' AND state = 'ok'"
        ) >= 1),
        "{}",
        common::cut(&node.logs(), 10_000)
    );
    assert!(node.find_log("targeted refresh").is_some());
    // Operators act on alerts; a viewer may read them but not act.
    let alert = open[0]["id"].as_str().expect("id").to_string();
    for (body, check) in [
        (
            json!({"action": "acknowledge"}),
            ("acknowledged", json!(true)),
        ),
        (
            json!({"action": "assign", "assignee": "ops-oncall"}),
            ("assignee", json!("ops-oncall")),
        ),
        (json!({"action": "resolve"}), ("status", json!("resolved"))),
    ] {
        let (status, reply) = node.post_json(&format!("/api/alerts/{alert}"), &body);
        assert_eq!(status, 200, "{reply}");
        assert_eq!(
            node.get_json(&format!("/api/alerts/{alert}"))[check.0],
            check.1
        );
    }
    let (status, reply) = node.post_json(
        &format!("/api/alerts/{alert}"),
        &json!({"action": "explode"}),
    );
    assert_eq!(status, 400, "{reply}");
    let (status, _) = node.post_json("/api/alerts/999999999", &json!({"action": "resolve"}));
    assert_eq!(status, 404);
    let config = node_for(&db, "alpha", dir.path());
    let out = steward_with_input(
        &[
            "user",
            "add",
            "vera",
            "--group",
            "viewer",
            "--password-stdin",
        ],
        &config.cli_env(),
        "viewer-password-1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vera = basic_auth("vera", "viewer-password-1");
    assert_eq!(
        node.request("GET", "/api/alerts", None, &[("Authorization", &vera)])
            .0,
        200
    );
    assert_eq!(
        node.request(
            "POST",
            &format!("/api/alerts/{alert}"),
            Some(&json!({"action": "acknowledge"})),
            &[("Authorization", &vera)]
        )
        .0,
        403
    );
    assert!(
        !node.logs().contains("t0ps3cret"),
        "the webhook's token is never logged"
    );
});

both_backends!(
    a_webhook_target_that_is_down_then_up_gets_every_notification_once,
    |db: TestDb| {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        write_policy(
            dir.path(),
            &format!(
                "policies:\n  - name: hook\n    events: [POD_BACKOFF]\n    actions:\n      - webhook: {{url: \"http://127.0.0.1:{port}/hook\"}}\n"
            ),
        );
        let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "6", "--seed", "41"]);
        let node = node_for(&db, "alpha", dir.path()).start();
        add_provider(&node, "lab", &sim.url);
        sim.admin("/_sim/churn", json!({"restart": 3}));
        // Nobody listens: attempts fail, are recorded and retried; the target is reported.
        assert!(
            wait_until(Duration::from_secs(30), || {
                alerts(
                    &node,
                    "filter[]=name=notification_target_down&filter[]=status=firing",
                )
                .len()
                    == 1
            }),
            "{}",
            common::cut(&node.logs(), 10_000)
        );
        let notifications = count(&db, "SELECT COUNT(*) AS n FROM notifications");
        assert_eq!(notifications, 3, "one per BackOff event");
        assert!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM notification_attempts WHERE outcome = 'error'"
            ) >= 6
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM notifications WHERE status = 'delivered'"
            ),
            0
        );
        // The target comes up: each notification arrives once, and the alert resolves.
        let receiver = Receiver::start(port);
        assert!(wait_until(Duration::from_secs(30), || {
            count(
                &db,
                "SELECT COUNT(*) AS n FROM notifications WHERE status = 'delivered'",
            ) == 3
        }));
        std::thread::sleep(Duration::from_secs(2));
        let bodies = receiver.bodies();
        let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
        for b in &bodies {
            *per_event
                .entry(b["event"]["id"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        assert_eq!(per_event.len(), 3, "{bodies:?}");
        assert!(
            per_event.values().all(|n| *n == 1),
            "delivered once each: {per_event:?}"
        );
        assert!(wait_until(Duration::from_secs(10), || {
            alerts(
                &node,
                "filter[]=name=notification_target_down&filter[]=status=resolved",
            )
            .len()
                == 1
        }));
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM notification_attempts WHERE outcome = 'ok'"
            ),
            3
        );
    }
);

/// A local SMTP server (aiosmtpd from PyPI, installed by scripts/test-deps) writing
/// what it receives into a Maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Smtp {
    fn start() -> Smtp {
        let tools = std::env::var("STEWARD_TEST_TOOLS").unwrap_or_else(|_| {
            format!(
                "{}/.cache/steward-test-tools",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let bin = format!("{tools}/aiosmtpd/bin/aiosmtpd");
        assert!(
            Path::new(&bin).exists(),
            "{bin} missing: run scripts/test-deps"
        );
        let maildir = tempfile::tempdir().expect("maildir");
        let port = free_port();
        let child = Command::new(&bin)
            .args([
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        assert!(wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }));
        Smtp {
            child,
            port,
            maildir,
        }
    }

    fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("box").join("new");
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_email_policy_reaches_a_local_smtp_server() {
    let db = TestDb::new(common::Backend::Sqlite);
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().expect("dir");
    write_policy(
        dir.path(),
        "policies:\n  - name: mail\n    events: [NODE_NOTREADY]\n    actions:\n      - email: {to: [ops@example.com, oncall@example.com]}\n",
    );
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "2", "--seed", "51"]);
    let node = node_for(&db, "alpha", dir.path())
        .env("STEWARD__NOTIFIER__SMTP_HOST", "127.0.0.1")
        .env("STEWARD__NOTIFIER__SMTP_PORT", &smtp.port.to_string())
        .env("STEWARD__NOTIFIER__FROM", "steward@example.com")
        .start();
    add_provider(&node, "lab", &sim.url);
    sim.admin("/_sim/churn", json!({"node_not_ready": 1}));
    let mut got = Vec::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            got = smtp.messages();
            !got.is_empty()
        }),
        "{}",
        common::cut(&node.logs(), 10_000)
    );
    let mail = &got[0];
    assert!(
        mail.contains("Subject: NODE_NOTREADY event received from cluster lab"),
        "{mail}"
    );
    assert!(
        mail.contains("ops@example.com") && mail.contains("oncall@example.com"),
        "{mail}"
    );
    assert!(
        mail.contains("A NODE_NOTREADY event was received from cluster lab"),
        "{mail}"
    );
    assert!(mail.contains("Project: N/A"), "the seed's layout: {mail}");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM notification_attempts WHERE outcome = 'ok'"
        ),
        1
    );
}

/// A real Alertmanager (Debian's prometheus-alertmanager) with a webhook receiver that
/// points at the node, authenticated with Basic credentials through `http_config`.
struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start(node: &Node) -> Alertmanager {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let cluster_port = free_port();
        let config = format!(
            r#"route:
  receiver: steward
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: steward
    webhook_configs:
      - url: "{}/api/alertmanager"
        send_resolved: true
        http_config:
          basic_auth:
            username: admin
            password: "{}"
"#,
            node.url(),
            node.admin_password()
        );
        std::fs::write(dir.path().join("am.yml"), config).expect("config");
        let child = Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                dir.path().join("am.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--cluster.listen-address=127.0.0.1:{cluster_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager (scripts/test-deps installs it)");
        let url = format!("http://127.0.0.1:{port}");
        assert!(wait_until(Duration::from_secs(30), || common::http_get(
            &format!("{url}/-/ready")
        )
        .0 == 200));
        Alertmanager {
            child,
            url,
            _dir: dir,
        }
    }

    fn amtool(&self, args: &[&str]) {
        let out = Command::new("amtool")
            .arg(format!("--alertmanager.url={}", self.url))
            .args(args)
            .output()
            .expect("amtool");
        assert!(
            out.status.success(),
            "amtool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

both_backends!(alertmanager_alerts_fire_update_and_resolve, |db: TestDb| {
    let dir = tempfile::tempdir().expect("dir");
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "2", "--seed", "61"]);
    let node = node_for(&db, "alpha", dir.path()).start();
    let provider = add_provider(&node, "lab", &sim.url);
    let nodes = node.get_json(&format!(
        "/api/providers/{provider}/container_nodes?expand=resources"
    ));
    let target = nodes["resources"][0].clone();
    let node_name = target["name"].as_str().expect("node name").to_string();
    let am = Alertmanager::start(&node);
    am.amtool(&[
        "alert",
        "add",
        "NodeDown",
        &format!("instance={node_name}:9100"),
        "severity=critical",
        "provider=lab",
        "--annotation=miqTarget=ContainerNode",
        "--annotation=description=Node is down",
        "--annotation=url=https://sop.example.com/node-down",
    ]);
    am.amtool(&[
        "alert",
        "add",
        "TooManyPods",
        "severity=warning",
        "provider=lab",
        "--annotation=miqTarget=ExtManagementSystem",
        "--annotation=description=Too many pods",
    ]);
    let mut got = Vec::new();
    assert!(
        wait_until(Duration::from_secs(60), || {
            got = alerts(&node, "filter[]=source=alertmanager");
            got.len() == 2
        }),
        "{got:?}\n{}",
        common::cut(&node.logs(), 10_000)
    );
    let down = got
        .iter()
        .find(|a| a["name"] == "NodeDown")
        .expect("NodeDown");
    assert_eq!(down["severity"], "error");
    assert_eq!(down["status"], "firing");
    assert_eq!(down["target_kind"], "container_node");
    assert_eq!(down["container_node_id"], target["id"]);
    assert_eq!(down["provider_id"], provider.as_str());
    assert_eq!(down["description"], "Node is down");
    assert_eq!(down["url"], "https://sop.example.com/node-down");
    let many = got
        .iter()
        .find(|a| a["name"] == "TooManyPods")
        .expect("TooManyPods");
    assert_eq!(
        (many["target_kind"].as_str(), many["severity"].as_str()),
        (Some("provider"), Some("warning"))
    );
    assert_eq!(many["provider_id"], provider.as_str());
    // Visible from the node's own alerts.
    let of_node = node.get_json(&format!(
        "/api/container_nodes/{}/alerts?expand=resources",
        target["id"].as_str().unwrap_or_default()
    ));
    assert_eq!(
        of_node["resources"].as_array().map(Vec::len),
        Some(1),
        "{of_node}"
    );
    // Resolved: the same row closes, never a second one.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    am.amtool(&[
        "alert",
        "add",
        "NodeDown",
        &format!("instance={node_name}:9100"),
        "severity=critical",
        "provider=lab",
        "--annotation=miqTarget=ContainerNode",
        "--annotation=description=Node is down",
        "--annotation=url=https://sop.example.com/node-down",
        &format!("--end={now}"),
    ]);
    assert!(
        wait_until(Duration::from_secs(60), || {
            alerts(&node, "filter[]=name=NodeDown")
                .first()
                .is_some_and(|a| a["status"] == "resolved")
        }),
        "{}",
        common::cut(&node.logs(), 10_000)
    );
    assert_eq!(
        alerts(&node, "filter[]=name=NodeDown").len(),
        1,
        "updated, not duplicated"
    );
    assert!(alerts(&node, "filter[]=name=NodeDown")[0]["ended_on"].is_string());
});

both_backends!(
    malformed_or_unauthenticated_webhooks_store_nothing,
    |db: TestDb| {
        let dir = tempfile::tempdir().expect("dir");
        let node = node_for(&db, "alpha", dir.path()).start();
        let good = json!({"version": "4", "status": "firing", "receiver": "x", "alerts": [{
        "status": "firing", "labels": {"alertname": "A", "severity": "info"}, "annotations": {},
        "startsAt": "2026-11-21T16:50:58Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc123"}]});
        let (status, _) = node.request("POST", "/api/alertmanager", Some(&good), &[]);
        assert_eq!(status, 401, "no credentials");
        let (status, _) = node.request(
            "POST",
            "/api/alertmanager",
            Some(&good),
            &[("Authorization", &basic_auth("admin", "wrong"))],
        );
        assert_eq!(status, 401, "wrong credentials");
        let mut bad_version = good.clone();
        bad_version["version"] = json!("3");
        let mut bad_time = good.clone();
        bad_time["alerts"][0]["startsAt"] = json!("yesterday");
        let mut no_name = good.clone();
        no_name["alerts"][0]["labels"] = json!({});
        let mut half_bad = good.clone();
        half_bad["alerts"] = json!([good["alerts"][0].clone(), {"status": "burning"}]);
        for body in [
            bad_version,
            bad_time,
            no_name,
            half_bad,
            json!({"alerts": "x"}),
            json!([1, 2]),
        ] {
            let (status, reply) = node.post_json("/api/alertmanager", &body);
            assert_eq!(status, 400, "{body}: {reply}");
            assert!(reply["error"]["message"].is_string(), "{reply}");
        }
        let (status, _) = node.post_json("/api/alertmanager?provider_id=424242", &good);
        assert_eq!(status, 404, "an unknown provider");
        // (Steward's own control alerts may fire meanwhile, e.g. a nearly full disk.)
        let received = "SELECT COUNT(*) AS n FROM alerts WHERE source = 'alertmanager'";
        assert_eq!(count(&db, received), 0, "nothing stored");
        let (status, reply) = node.post_json("/api/alertmanager", &good);
        assert_eq!(status, 200, "{reply}");
        let (status, _) = node.post_json("/api/alertmanager", &good);
        assert_eq!(status, 200);
        assert_eq!(count(&db, received), 1, "the same fingerprint updates");
    }
);

#[test]
fn a_malformed_policy_file_stops_the_start_naming_the_file_and_line() {
    let db = TestDb::new(common::Backend::Sqlite);
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "policies:\n  - name: fine\n    events: [POD_*]\n    actions: [{refresh: target}]\n  - name: broken\n    events: [POD_*]\n    actions: [{webhook: {url: 'ftp://x'}}]\n",
    )
    .expect("write");
    let config = node_for(&db, "alpha", dir.path());
    let env = config.cli_env();
    let mut env: Vec<(&str, String)> = env.into_iter().collect();
    env.push((
        "STEWARD__EVENTS__POLICY_DIR",
        dir.path().display().to_string(),
    ));
    let out = steward(&["settings", "check"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:5") && stderr.contains("http"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let mut node = config.spawn();
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            status = node.try_exit();
            status.is_some()
        }),
        "the node must stop by itself"
    );
    let logs = node.logs();
    assert!(logs.contains("bad.yaml:5"), "{logs}");
    assert!(
        status.is_some_and(|s| !s.success()),
        "the node must not start"
    );
    // Fixed, the settings check lists the policies.
    std::fs::write(
        dir.path().join("bad.yaml"),
        "policies:\n  - name: fine\n    events: [POD_*]\n    actions: [{refresh: target}]\n",
    )
    .expect("write");
    let out = steward(&["settings", "check"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("# event policies: 4") && stdout.contains("bad.yaml:2"),
        "{stdout}"
    );
}

#[test]
fn control_alerts_report_a_failing_provider_a_silent_server_a_failover_and_a_full_disk() {
    let db = TestDb::new(common::Backend::Postgres);
    let dir = tempfile::tempdir().expect("dir");
    let config = |name: &str| {
        node_for(&db, name, dir.path())
            .env("STEWARD__ALERTS__CONTROL_INTERVAL", "300ms")
            .env("STEWARD__ALERTS__DISK_USAGE_THRESHOLD", "1")
            .env("STEWARD__SERVER__HEARTBEAT_TIMEOUT", "3s")
            .env("STEWARD__EMS_REFRESH__RETRY_BACKOFF", "500ms")
    };
    let mut a = config("alpha")
        .env("STEWARD__ROLES__PRIMARY", "event,ems_inventory")
        .start();
    assert!(wait_until(Duration::from_secs(20), || common::holds(
        &common::me(&a),
        "event"
    )));
    let b = config("beta")
        .env("STEWARD__ROLES__PRIMARY", "notifier")
        .start();
    assert!(wait_until(Duration::from_secs(30), || common::holds(
        &common::me(&b),
        "notifier"
    )));
    // A provider nobody answers for.
    let (status, reply) = b.post_json(
        "/api/providers",
        &json!({"name": "gone", "api_url": format!("http://127.0.0.1:{}", free_port()), "allow_insecure_http": true}),
    );
    assert_eq!(status, 201, "{reply}");
    let provider = reply["id"].as_str().expect("id").to_string();
    let firing = |name: &str| alerts(&b, &format!("filter[]=name={name}&filter[]=status=firing"));
    assert!(
        wait_until(Duration::from_secs(60), || firing("provider_error").len()
            == 1),
        "{}",
        common::cut(&b.logs(), 10_000)
    );
    let p = &firing("provider_error")[0];
    assert_eq!(p["provider_id"], provider.as_str());
    assert_eq!(p["source"], "steward");
    // Every node reports its own disk (the threshold is 1%).
    assert!(wait_until(Duration::from_secs(20), || firing(
        "data_dir_disk_full"
    )
    .len()
        == 2));
    // PostgreSQL runs on this host and tells its superuser where its files are: its
    // disk is reported once, whichever nodes see it.
    assert!(
        wait_until(Duration::from_secs(20), || firing("database_disk_full")
            .len()
            == 1),
        "{:?}",
        alerts(&b, "filter[]=name=database_disk_full")
    );
    let d = &firing("database_disk_full")[0];
    assert!(
        d["description"]
            .as_str()
            .is_some_and(|t| t.contains("PostgreSQL /") && t.contains("% full")),
        "{d}"
    );
    // The active node of `event` dies: it stops heart-beating, and the role moves.
    a.kill();
    assert!(
        wait_until(Duration::from_secs(30), || {
            firing("server_not_responding")
                .iter()
                .any(|s| s["target_name"] == "alpha")
        }),
        "{}",
        common::cut(&b.logs(), 10_000)
    );
    assert!(wait_until(Duration::from_secs(30), || {
        alerts(&b, "filter[]=name=role_failed_over")
            .iter()
            .any(|r| {
                r["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("from alpha to beta"))
            })
    }));
    // The provider removed: its alert resolves.
    let (status, _) = b.delete(&format!("/api/providers/{provider}"));
    assert!(status < 300, "{status}");
    assert!(wait_until(Duration::from_secs(30), || firing(
        "provider_error"
    )
    .is_empty()));
    assert_eq!(
        alerts(&b, "filter[]=name=provider_error").len(),
        1,
        "resolved, not duplicated"
    );
}

both_backends!(
    retention_purges_old_events_resolved_alerts_and_notifications,
    |db: TestDb| {
        let handle = common::lib_db(&db);
        let old = chrono::Utc::now().naive_utc() - chrono::Duration::days(400);
        let fresh = chrono::Utc::now().naive_utc();
        handle
        .with_conn(|c| {
            use diesel::RunQueryDsl;
            for (i, at) in [old, old, fresh].iter().enumerate() {
                let sql = format!(
                    "INSERT INTO event_streams (event_type, source, provider_id, ems_ref, event_count, occurrences, chain_id, severity, reason, message, target_kind, target_name, target_ems_ref, component, host, timestamp, created_on, updated_on) \
                     VALUES ('POD_KILLING', 'KUBERNETES', 1, 'uid-{i}', 1, 1, '', 'Normal', 'Killing', 'm', 'Pod', 'p', 't', 'kubelet', 'h', '{at}', '{at}', '{at}')"
                );
                steward::with_backend!(c, c => diesel::sql_query(sql).execute(c))?;
            }
            for (i, (started, ended)) in [(old, Some(old)), (old, None), (fresh, Some(fresh))].iter().enumerate() {
                let ended = ended.map_or("NULL".to_string(), |e| format!("'{e}'"));
                let sql = format!(
                    "INSERT INTO alerts (source, name, fingerprint, status, severity, description, url, target_kind, target_name, alert_labels, occurrences, started_on, ended_on, last_seen_on, acknowledged, acknowledged_by, assignee, created_on, updated_on) \
                     VALUES ('policy', 'p', 'f{i}', 'x', 'info', '', '', 'provider', '', '{{}}', 1, '{started}', {ended}, '{started}', false, '', '', '{started}', '{started}')"
                );
                steward::with_backend!(c, c => diesel::sql_query(sql).execute(c))?;
            }
            for (i, (status, at)) in [("delivered", old), ("pending", old), ("failed", fresh)].iter().enumerate() {
                let sql = format!(
                    "INSERT INTO notifications (kind, target, subject, body, policy_name, status, attempts, next_attempt_on, last_error, created_on) \
                     VALUES ('webhook', 'http://x/{i}', 's', '{{}}', 'p', '{status}', 1, '{at}', '', '{at}')"
                );
                steward::with_backend!(c, c => diesel::sql_query(sql).execute(c))?;
            }
            Ok(())
        })
        .expect("rows");
        let settings = steward::settings::Settings::load_from(steward::settings::SettingsSources {
            file: None,
            env: Some([("STEWARD__EVENTS__PURGE_BATCH".to_string(), "1".to_string())].into()),
        })
        .expect("settings");
        let report = handle
            .with_conn(|c| steward::events::purge(c, &settings, chrono::Utc::now().naive_utc()))
            .expect("purge");
        assert_eq!(
            (report.events, report.alerts, report.notifications),
            (2, 1, 1),
            "{report:?}"
        );
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM event_streams"), 1);
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS n FROM alerts"),
            2,
            "open alerts stay, however old"
        );
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS n FROM notifications"),
            2,
            "pending ones stay"
        );
    }
);
