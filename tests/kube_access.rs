//! Reaching real clusters (issue 11), through live nodes against the TLS simulator:
//! every kubeconfig authentication mode end to end through a refresh, a rotated
//! tokenFile picked up by running watches, an expired exec credential renewed, trust
//! as strict as kubectl's, http:// and exec plugins refused unless allowed, Prometheus
//! never sent the cluster's token unless configured, and a restarted cluster relisted
//! before its status says ok.

mod common;

use std::time::Duration;

use common::{NodeConfig, Sim, TestDb, wait_until};
use serde_json::{Value, json};

fn node_for(db: &TestDb, name: &str) -> NodeConfig {
    common::queue_node(db, name)
        .env("STEWARD__EMS_REFRESH__WATCH_BATCH_WINDOW", "200ms")
        .env("STEWARD__EMS_REFRESH__RETRY_BACKOFF", "500ms")
        .env("STEWARD__EMS_REFRESH__RETRY_BACKOFF_MAX", "2s")
}

fn add(node: &common::Node, body: Value) -> String {
    let (status, reply) = node.post_json("/api/providers", &body);
    assert_eq!(status, 201, "{body}: {reply}");
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

fn sim_pods(sim: &Sim) -> u64 {
    sim.stats()["objects"]["pods"].as_u64().unwrap_or(0)
}

fn live_pods(node: &common::Node, id: &str) -> u64 {
    provider(node, id)["inventory"]["container_groups"]
        .as_u64()
        .unwrap_or(0)
}

fn has_pod(node: &common::Node, id: &str, uid: &str) -> bool {
    let expr: String =
        url::form_urlencoded::byte_serialize(format!("ems_ref={uid}").as_bytes()).collect();
    node.get_json(&format!(
        "/api/container_groups?provider_id={id}&filter[]={expr}"
    ))["subquery_count"]
        .as_i64()
        .unwrap_or(0)
        == 1
}

fn created_uid(reply: &Value) -> String {
    reply["created"][0]["uid"]
        .as_str()
        .expect("created uid")
        .to_string()
}

both_backends!(
    every_kubeconfig_auth_mode_refreshes_over_tls,
    |db: TestDb| {
        let dir = tempfile::tempdir().expect("dir");
        let sim = Sim::start_tls(
            dir.path(),
            &["--nodes", "2", "--pods-per-node", "4", "--token-ttl", "5s"],
        );
        let ca = dir.path().join("ca.pem");
        let config = node_for(&db, "alpha")
            // The exec plugin of kubeconfig-exec.yaml is this binary.
            .env(
                "STEWARD__PROVIDERS__EXEC_ALLOWED_COMMANDS",
                common::binary(),
            )
            .env(
                "STEWARD__PROVIDERS__CREDENTIAL_FILE_DIRS",
                &std::fs::canonicalize(dir.path())
                    .expect("dir")
                    .display()
                    .to_string(),
            )
            // kube's OIDC refresher trusts the system roots only: here, the simulator's CA.
            .env("SSL_CERT_FILE", &ca.display().to_string());
        let node = config.start();
        let mut ids = Vec::new();
        for mode in ["token", "token-file", "cert", "exec", "oidc"] {
            let kubeconfig = sim.tls_file(&format!("kubeconfig-{mode}.yaml"));
            let id = add(
                &node,
                json!({"name": mode, "kubeconfig": kubeconfig, "context": mode}),
            );
            let view = provider(&node, &id);
            assert_eq!(view["auth_kind"], "kubeconfig", "{view}");
            assert_eq!(view["kubeconfig_context"], mode, "{view}");
            assert!(
                !view.to_string().contains("BEGIN"),
                "no credential echoed: {view}"
            );
            ids.push((mode, id));
        }
        // The CLI sends the content of the user's file, with a context of the combined one.
        let out = common::steward(
            &[
                "provider",
                "add",
                "--name",
                "cli-cert",
                "--kubeconfig",
                &dir.path().join("kubeconfig.yaml").display().to_string(),
                "--context",
                "cert",
                "--json",
            ],
            &config.cli_env(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
        ids.push(("cli-cert", cli["id"].as_str().expect("id").to_string()));
        let pods = sim_pods(&sim);
        for (mode, id) in &ids {
            let p = wait_status(&node, id, "ok", 90);
            assert_eq!(live_pods(&node, id), pods, "{mode}: {p}");
        }
        let auth = sim.stats()["auth"].clone();
        for how in ["token", "client_cert", "exec", "oidc"] {
            assert!(
                auth["accepted"][how].as_u64().unwrap_or(0) > 0,
                "{how}: {auth}"
            );
        }
        assert!(auth["oidc_refreshes"].as_u64().unwrap_or(0) >= 1, "{auth}");

        // The exec and OIDC tokens live 5 s: after they expired, a change and a full
        // refresh still go through, with new tokens.
        std::thread::sleep(Duration::from_secs(7));
        let uid = created_uid(&sim.admin("/_sim/churn", json!({"create": 1})));
        for (mode, id) in &ids {
            let (status, body) = node.post_json(
                &format!("/api/providers/{id}"),
                &json!({"action": "refresh"}),
            );
            assert_eq!(status, 202, "{mode}: {body}");
        }
        for (mode, id) in &ids {
            assert!(
                wait_until(Duration::from_secs(60), || has_pod(&node, id, &uid)
                    && provider(&node, id)["status"] == "ok"),
                "{mode}: {}",
                provider(&node, id)
            );
        }
        let auth = sim.stats()["auth"].clone();
        assert!(
            auth["distinct_minted_tokens"]["exec"].as_u64().unwrap_or(0) >= 2,
            "the exec plugin ran again once its credential expired: {auth}"
        );
        assert!(
            auth["distinct_minted_tokens"]["oidc"].as_u64().unwrap_or(0) >= 2,
            "the OIDC token was refreshed once it expired: {auth}"
        );

        // kubectl believes the simulator too, with each kubeconfig.
        for mode in ["token", "cert", "exec"] {
            let out = std::process::Command::new("kubectl")
                .args(["--kubeconfig"])
                .arg(dir.path().join("kubeconfig.yaml"))
                .args(["--context", mode, "get", "nodes", "-o", "name"])
                .output()
                .expect("kubectl on PATH");
            assert!(
                out.status.success(),
                "kubectl --context {mode}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
        }
    }
);

both_backends!(
    a_rotated_token_file_is_picked_up_by_running_watches,
    |db: TestDb| {
        let dir = tempfile::tempdir().expect("dir");
        let sim = Sim::start_tls(dir.path(), &["--nodes", "1", "--pods-per-node", "3"]);
        let node = node_for(&db, "alpha")
            .env(
                "STEWARD__PROVIDERS__CREDENTIAL_FILE_DIRS",
                &std::fs::canonicalize(dir.path())
                    .expect("dir")
                    .display()
                    .to_string(),
            )
            .start();
        let id = add(
            &node,
            json!({"name": "tf", "kubeconfig": sim.tls_file("kubeconfig-token-file.yaml")}),
        );
        wait_status(&node, &id, "ok", 60);
        let uid = created_uid(&sim.admin("/_sim/churn", json!({"create": 1})));
        assert!(wait_until(Duration::from_secs(30), || has_pod(
            &node, &id, &uid
        )));

        // The token rotates: the file is rewritten, the server refuses the old token and
        // cuts the open watches.
        let token_file = dir.path().join("token");
        // (kube, unlike client-go, does not trim a token file: projected service-account
        // tokens carry no newline, and neither does this one.)
        std::fs::write(&token_file, "rotated-token-1").expect("rewrite");
        sim.admin("/_sim/token", json!({"token": "rotated-token-1"}));
        let uid = created_uid(&sim.admin("/_sim/churn", json!({"create": 1})));
        // client-go and kube re-read a token file at least every minute.
        assert!(
            wait_until(Duration::from_secs(120), || has_pod(&node, &id, &uid)
                && provider(&node, &id)["status"] == "ok"),
            "{}",
            provider(&node, &id)
        );
        let refused = sim.stats()["auth"]["rejected"]["invalid"]
            .as_u64()
            .unwrap_or(0);
        assert!(refused > 0, "the old token was refused meanwhile");
        // And the running watches carry on with the new one.
        let uid = created_uid(&sim.admin("/_sim/churn", json!({"create": 1})));
        assert!(wait_until(Duration::from_secs(30), || has_pod(
            &node, &id, &uid
        )));
    }
);

both_backends!(
    trust_and_credentials_are_as_strict_as_kubectl,
    |db: TestDb| {
        let dir_a = tempfile::tempdir().expect("dir");
        let dir_b = tempfile::tempdir().expect("dir");
        let a = Sim::start_tls(dir_a.path(), &["--nodes", "1", "--pods-per-node", "2"]);
        let b = Sim::start_tls(dir_b.path(), &["--nodes", "1", "--pods-per-node", "2"]);
        // The "system roots" of this node accept simulator A's certificate.
        let node = node_for(&db, "alpha")
            .env(
                "SSL_CERT_FILE",
                &dir_a.path().join("ca.pem").display().to_string(),
            )
            .start();
        let token = a.tls_file("token").trim().to_string();
        let system = add(
            &node,
            json!({"name": "system-roots", "api_url": a.url, "token": token}),
        );
        let pinned = add(
            &node,
            json!({"name": "pinned", "api_url": a.url, "token": token, "ca_cert": a.tls_file("ca.pem")}),
        );
        let wrong = add(
            &node,
            json!({"name": "wrong-ca", "api_url": a.url, "token": token, "ca_cert": b.tls_file("ca.pem")}),
        );
        let unverified = add(
            &node,
            json!({"name": "unverified", "api_url": b.url, "token": b.tls_file("token").trim(), "verify_tls": false}),
        );
        wait_status(&node, &system, "ok", 60);
        wait_status(&node, &pinned, "ok", 60);
        let p = wait_status(&node, &wrong, "error", 60);
        let message = p["status_message"].as_str().unwrap_or_default();
        assert!(message.contains("TLS"), "{p}");
        assert_eq!(live_pods(&node, &wrong), 0);
        let p = wait_status(&node, &unverified, "ok", 60);
        assert!(
            p["status_message"]
                .as_str()
                .unwrap_or_default()
                .contains("TLS verification is OFF"),
            "{p}"
        );
        // A wrong token: 401 in Steward's words.
        let bad = add(
            &node,
            json!({"name": "bad-token", "api_url": a.url, "token": "nope", "ca_cert": a.tls_file("ca.pem")}),
        );
        let p = wait_status(&node, &bad, "error", 60);
        assert!(
            p["status_message"]
                .as_str()
                .unwrap_or_default()
                .contains("401"),
            "{p}"
        );

        let refused = |body: Value, needle: &str| {
            let (status, reply) = node.post_json("/api/providers", &body);
            assert_eq!(status, 400, "{body}: {reply}");
            assert!(reply.to_string().contains(needle), "{needle}: {reply}");
        };
        refused(
            json!({"name": "plain", "api_url": "http://127.0.0.1:9"}),
            "http://",
        );
        refused(
            json!({"name": "creds", "api_url": "https://user:pw@127.0.0.1:9"}),
            "credentials inside the URL",
        );
        // Exec plugins run programs on the node: not on the (empty) allow-list, refused.
        refused(
            json!({"name": "exec", "kubeconfig": a.tls_file("kubeconfig-exec.yaml")}),
            "exec_allowed_commands",
        );
        // Files the kubeconfig names are read only inside allowed directories.
        refused(
            json!({"name": "tf", "kubeconfig": a.tls_file("kubeconfig-token-file.yaml")}),
            "credential_file_dirs",
        );
        // A path is not a kubeconfig: the API never reads files by a caller's path.
        refused(
            json!({"name": "path", "kubeconfig": "/etc/passwd"}),
            "not a path",
        );
        let (status, _) = node.post_json(
            "/api/providers",
            &json!({"name": "huge", "kubeconfig": "a: b\n".repeat(60_000)}),
        );
        assert!(status == 400 || status == 413, "bounded input: {status}");
    }
);

both_backends!(
    prometheus_gets_the_cluster_token_only_when_asked,
    |db: TestDb| {
        let dir = tempfile::tempdir().expect("dir");
        let sim = Sim::start_tls(dir.path(), &["--nodes", "1", "--pods-per-node", "2"]);
        let config = node_for(&db, "alpha")
            .env("STEWARD__METRICS__COORDINATOR_INTERVAL", "1s")
            .env("STEWARD__METRICS__INITIAL_CAPTURE_WINDOW", "15m")
            .env("STEWARD__METRICS__CAPTURE_THRESHOLD", "2s")
            .env("STEWARD__METRICS__CAPTURE_THRESHOLD_CONTAINER", "2s")
            .env("STEWARD__METRICS__CAPTURE_THRESHOLD_CONTAINER_GROUP", "2s")
            .env("STEWARD__METRICS__CAPTURE_THRESHOLD_CONTAINER_NODE", "2s");
        let node = config.start();
        // A capture now, whatever the coordinator thinks is due.
        let capture_now = |id: &str| {
            let from = (chrono::Utc::now() - chrono::Duration::minutes(10))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let out = common::steward(
                &["metrics", "backfill", "--provider", id, "--from", &from],
                &config.cli_env(),
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let token = sim.tls_file("token").trim().to_string();
        let id = add(
            &node,
            json!({"name": "lab", "api_url": sim.url, "token": token, "ca_cert": sim.tls_file("ca.pem"),
               "prometheus_url": sim.url}),
        );
        let ok = |node: &common::Node| {
            wait_until(Duration::from_secs(90), || {
                provider(node, &id)["metrics_status"] == "ok"
            })
        };
        assert!(ok(&node), "{}", provider(&node, &id));
        let auth = sim.stats()["auth"].clone();
        assert!(
            auth["prometheus_without_auth"].as_u64().unwrap_or(0) > 0,
            "{auth}"
        );
        assert!(
            !auth.to_string().contains(&token),
            "the cluster token went to Prometheus: {auth}"
        );

        // Its own token.
        let (status, body) = node.admin_request(
            "PATCH",
            &format!("/api/providers/{id}"),
            Some(&json!({"prometheus_auth": "token", "prometheus_token": "prom-only"})),
        );
        assert_eq!(status, 200, "{body}");
        assert!(!body.to_string().contains("prom-only"), "{body}");
        capture_now(&id);
        assert!(wait_until(Duration::from_secs(90), || {
            sim.stats()["auth"]["prometheus_bearer_tokens"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "prom-only"))
        }));
        assert!(!sim.stats()["auth"].to_string().contains(&token));

        // Only when asked: the cluster's.
        let (status, body) = node.admin_request(
            "PATCH",
            &format!("/api/providers/{id}"),
            Some(&json!({"prometheus_auth": "same_as_provider"})),
        );
        assert_eq!(status, 200, "{body}");
        capture_now(&id);
        assert!(
            wait_until(Duration::from_secs(90), || {
                sim.stats()["auth"]["prometheus_bearer_tokens"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| *t == token.as_str()))
            }),
            "{}",
            sim.stats()["auth"]
        );
    }
);

/// A free local port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

both_backends!(
    a_restarted_cluster_is_relisted_before_its_status_says_ok,
    |db: TestDb| {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut sim = Sim::start_on(
            &listen,
            &["--nodes", "3", "--pods-per-node", "10", "--seed", "5"],
        );
        let node = node_for(&db, "alpha").start();
        let id = add(
            &node,
            json!({"name": "lab", "api_url": sim.url, "allow_insecure_http": true}),
        );
        wait_status(&node, &id, "ok", 60);
        // Changes make the old server's resourceVersions run ahead of a fresh one's.
        for _ in 0..5 {
            sim.admin("/_sim/churn", json!({"create": 5, "restart": 5}));
        }
        assert!(wait_until(Duration::from_secs(30), || live_pods(
            &node, &id
        ) == sim_pods(&sim)));
        // The API server restarts with another, smaller cluster and versions from scratch.
        sim.kill();
        wait_status(&node, &id, "error", 60);
        let sim = Sim::start_on(
            &listen,
            &["--nodes", "2", "--pods-per-node", "4", "--seed", "9"],
        );
        let expected = sim_pods(&sim);
        let mut seen = Value::Null;
        assert!(
            wait_until(Duration::from_secs(90), || {
                seen = provider(&node, &id);
                seen["status"] == "ok"
            }),
            "{seen}"
        );
        // The first "ok" already shows the restarted cluster.
        assert_eq!(
            seen["inventory"]["container_groups"].as_u64(),
            Some(expected),
            "{seen}"
        );
    }
);

both_backends!(key_rotation_under_load_loses_nothing, |db: TestDb| {
    let dir = tempfile::tempdir().expect("dir");
    let sim = Sim::start_tls(dir.path(), &["--nodes", "2", "--pods-per-node", "3"]);
    let config = node_for(&db, "alpha");
    let mut node = config.start();
    let mut ids = Vec::new();
    for mode in ["token", "cert"] {
        let kubeconfig = sim.tls_file(&format!("kubeconfig-{mode}.yaml"));
        ids.push(add(
            &node,
            json!({"name": mode, "kubeconfig": kubeconfig, "context": mode}),
        ));
    }
    for id in &ids {
        wait_status(&node, id, "ok", 60);
    }
    let keys = |cli: &[(&str, String)]| -> Value {
        let out = common::steward(&["keys", "list", "--json"], cli);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("keys list --json")
    };
    let cli = config.cli_env();
    let before = keys(&cli);
    let old_id = before["region"][0]["key_id"]
        .as_str()
        .expect("key")
        .to_string();
    assert_eq!(before["region"][0]["current"], true, "{before}");
    assert_eq!(before["sealed_values"], json!([[old_id, 2]]), "{before}");

    // Load: the node re-seals provider `cert`'s credentials on every edit while
    // the command line rotates the key under it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = node.url();
    let edits = {
        let stop = stop.clone();
        let id = ids[1].clone();
        let node_url = url.clone();
        let token = node.admin_token();
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 5 {
                n += 1;
                let (status, body) = common::http_request(
                    "PATCH",
                    &format!("{node_url}/api/providers/{id}"),
                    Some(&json!({"refresh_interval_s": 3600 + n})),
                    &[("X-Auth-Token", token.as_str())],
                );
                codes.push((status, body.to_string()));
            }
            codes
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let out = common::steward(&["keys", "rotate", "--json"], &cli);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).expect("rotate --json");
    let new_id = rotated["key_id"].as_str().expect("new key").to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(rotated["added_to_key_file"], true, "{rotated}");
    assert_eq!(rotated["unreadable"], json!([]), "{rotated}");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let codes = edits.join().expect("edits");
    let failed: Vec<_> = codes.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "edits during the rotation failed: {failed:?}"
    );

    // Every credential is sealed with the new key, the old one is retired.
    let after = keys(&cli);
    assert_eq!(after["sealed_values"], json!([[new_id, 2]]), "{after}");
    assert_eq!(after["region"][0]["key_id"], new_id.as_str(), "{after}");
    assert_eq!(after["region"][0]["current"], true, "{after}");
    assert_eq!(after["region"][1]["current"], false, "{after}");
    assert_eq!(after["local"].as_array().map(Vec::len), Some(2), "{after}");

    // The running node opens the new values: a change reaches the inventory
    // through a refresh of each provider.
    let uid = created_uid(&sim.admin("/_sim/churn", json!({"create": 1})));
    for id in &ids {
        let (status, body) = node.post_json(
            &format!("/api/providers/{id}"),
            &json!({"action": "refresh"}),
        );
        assert_eq!(status, 202, "{body}");
    }
    for id in &ids {
        assert!(
            wait_until(Duration::from_secs(60), || has_pod(&node, id, &uid)
                && provider(&node, id)["status"] == "ok"),
            "{}",
            provider(&node, id)
        );
    }
    // And a restarted node too.
    node.terminate(Duration::from_secs(20));
    let node = config.start();
    for id in &ids {
        wait_status(&node, id, "ok", 60);
    }
    assert!(
        !node.logs().contains("could not re-seal"),
        "{}",
        node.logs()
    );
});

/// A minimal HTTP CONNECT proxy (what `proxy-url` points kubectl and kube at): counts
/// the tunnels it opened.
fn connect_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let tunnels = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = tunnels.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split_whitespace().next())
                else {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    return;
                };
                let Ok(upstream) = TcpStream::connect(target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
                let (Ok(mut client_in), Ok(mut upstream_out)) =
                    (client.try_clone(), upstream.try_clone())
                else {
                    return;
                };
                std::thread::spawn(move || std::io::copy(&mut client_in, &mut upstream_out));
                let (mut upstream_in, mut client_out) = (upstream, client);
                let _ = std::io::copy(&mut upstream_in, &mut client_out);
            });
        }
    });
    (url, tunnels)
}

both_backends!(a_kubeconfig_proxy_url_carries_the_refresh, |db: TestDb| {
    let dir = tempfile::tempdir().expect("dir");
    let sim = Sim::start_tls(dir.path(), &["--nodes", "1", "--pods-per-node", "3"]);
    let (proxy, tunnels) = connect_proxy();
    // The token kubeconfig (the simulator writes JSON, which is YAML), its cluster
    // reached through the proxy.
    let mut config: Value =
        serde_json::from_str(&sim.tls_file("kubeconfig-token.yaml")).expect("kubeconfig");
    for cluster in config["clusters"].as_array_mut().expect("clusters") {
        cluster["cluster"]["proxy-url"] = json!(proxy);
    }
    let kubeconfig = config.to_string();
    assert!(kubeconfig.contains("proxy-url"), "{kubeconfig}");
    let node = node_for(&db, "alpha").start();
    let id = add(&node, json!({"name": "proxied", "kubeconfig": kubeconfig}));
    wait_status(&node, &id, "ok", 60);
    assert!(live_pods(&node, &id) >= 3, "{}", provider(&node, &id));
    assert!(
        tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the refresh went through the proxy"
    );
});

both_backends!(
    an_in_cluster_provider_uses_the_pods_service_account,
    |db: TestDb| {
        let dir = tempfile::tempdir().expect("dir");
        let sim = Sim::start_tls(dir.path(), &["--nodes", "1", "--pods-per-node", "3"]);
        // What the kubelet mounts into a pod: the service account's token, CA and namespace.
        let config: Value =
            serde_json::from_str(&sim.tls_file("kubeconfig-token.yaml")).expect("kubeconfig");
        let token = config["users"][0]["user"]["token"].as_str().expect("token");
        let server = config["clusters"][0]["cluster"]["server"]
            .as_str()
            .expect("server");
        let port = url::Url::parse(server)
            .ok()
            .and_then(|u| u.port())
            .expect("port")
            .to_string();
        let account = dir.path().join("serviceaccount");
        std::fs::create_dir_all(&account).expect("dir");
        std::fs::write(account.join("token"), token).expect("token");
        std::fs::write(account.join("ca.crt"), sim.tls_file("ca.pem")).expect("ca");
        std::fs::write(account.join("namespace"), "steward").expect("namespace");
        let mut node = node_for(&db, "alpha")
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", &port)
            .env(
                "STEWARD__PROVIDERS__SERVICE_ACCOUNT_DIR",
                &account.display().to_string(),
            )
            .start();
        let id = add(&node, json!({"name": "self", "in_cluster": true}));
        let view = wait_status(&node, &id, "ok", 60);
        assert_eq!(view["auth_kind"], "in_cluster", "{view}");
        let uid = created_uid(&sim.admin("/_sim/churn", json!({"create": 1})));
        assert!(wait_until(Duration::from_secs(30), || has_pod(
            &node, &id, &uid
        )));
        assert!(
            sim.stats()["auth"]["accepted"]["token"]
                .as_u64()
                .unwrap_or(0)
                > 0,
            "{}",
            sim.stats()["auth"]
        );

        // Without the pod's environment the provider says why, in Steward's words.
        node.terminate(Duration::from_secs(20));
        let bare = node_for(&db, "beta")
            .env(
                "STEWARD__PROVIDERS__SERVICE_ACCOUNT_DIR",
                &dir.path().join("nothing").display().to_string(),
            )
            .start();
        let id = add(&bare, json!({"name": "nowhere", "in_cluster": true}));
        let mut last = Value::Null;
        assert!(
            wait_until(Duration::from_secs(90), || {
                last = provider(&bare, &id);
                last["status_message"]
                    .as_str()
                    .is_some_and(|m| m.contains("KUBERNETES_SERVICE_HOST is not set"))
            }),
            "{last}"
        );
    }
);
