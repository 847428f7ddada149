//! The foundation through its real surfaces: the `steward` binary, its settings,
//! `/ping`, `/api/servers`, `steward status`, node life-cycle and region ids.

mod common;

use std::time::Duration;

use common::{NodeConfig, TestDb, steward, wait_until, write_file};
use serde_json::Value;

fn server<'a>(servers: &'a Value, name: &str) -> &'a Value {
    servers["resources"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("server {name} not in {servers}"))
}

#[test]
fn bad_settings_stop_the_command_with_code_2_naming_key_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("region.yaml", "server:\n  region: 1000\n", "server.region"),
        (
            "role.yaml",
            "roles:\n  enabled: [automate, teleport]\n",
            "roles.enabled",
        ),
        ("port.yaml", "web:\n  port: 70000\n", "web.port"),
        (
            "args.yaml",
            "queue:\n  max_args_bytes: 1MiB\n",
            "queue.max_args_bytes",
        ),
        (
            "duration.yaml",
            "server:\n  heartbeat_timeout: 3 fortnights\n",
            "server.heartbeat_timeout",
        ),
        ("unknown.yaml", "web:\n  prot: 80\n", "web.prot"),
        (
            "type.yaml",
            "database:\n  pool_size: many\n",
            "database.pool_size",
        ),
        ("syntax.yaml", "server: [unclosed\n", "YAML"),
    ];
    for (file, yaml, key) in cases {
        let path = write_file(dir.path(), file, yaml);
        for command in [
            &["start"][..],
            &["status"],
            &["migrate"],
            &["settings", "check"],
        ] {
            let mut args = command.to_vec();
            let path_text = path.display().to_string();
            args.extend(["--settings", path_text.as_str()]);
            let out = steward(&args, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{file} {command:?}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
            assert!(stderr.contains(key), "{file}: {stderr}");
            assert!(stderr.contains(&path_text), "{file}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
    let out = steward(&["status"], &[("STEWARD__WEB__PORT", "70000".into())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("STEWARD__WEB__PORT"), "{stderr}");
}

#[test]
fn settings_check_prints_effective_settings_with_secrets_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(
        dir.path(),
        "node.yaml",
        "server:\n  zone: east\n  region: 12\n",
    );
    let out = steward(
        &[
            "settings",
            "check",
            "--settings",
            &path.display().to_string(),
        ],
        &[
            (
                "STEWARD__DATABASE__URL",
                "postgres://app:hunter2@db.example:5432/steward".into(),
            ),
            ("STEWARD__WORKERS__GENERIC__COUNT", "5".into()),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("zone: east"), "{stdout}");
    assert!(stdout.contains("region: 12"), "{stdout}");
    assert!(
        stdout.contains("postgres://app:****@db.example:5432/steward"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains("count: 5"), "{stdout}");
}

/// Read-only and other commands run from any directory never create a region: with no
/// database where the settings point, they fail naming the file and where settings
/// come from, and leave nothing behind.
#[test]
fn the_cli_never_creates_an_empty_database() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("home");
    let env = [("XDG_CONFIG_HOME", home.path().display().to_string())];
    for args in [
        vec!["status"],
        vec!["queue", "stats"],
        vec!["provider", "list"],
        vec!["metrics", "health"],
        vec!["queue", "put", "Metrics.capture"],
    ] {
        let out = common::steward_in(cwd.path(), &args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains("no region database at"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("STEWARD_SETTINGS"), "{stderr}");
    }
    let left = common::files_in(cwd.path());
    assert!(left.is_empty(), "files left behind: {left:?}");
}

/// Without --settings or STEWARD_SETTINGS, the user's settings file is found.
#[test]
fn the_default_settings_file_is_found() {
    let home = tempfile::tempdir().expect("home");
    let data = home.path().join("region-data");
    write_file(
        &home.path().join("steward").tap_create(),
        "steward.yaml",
        &format!("server:\n  data_dir: {}\n  zone: found\n", data.display()),
    );
    let out = steward(
        &["settings", "check"],
        &[("XDG_CONFIG_HOME", home.path().display().to_string())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("zone: found"), "{stdout}");
    assert!(stdout.contains("steward.yaml"), "{stdout}");
}

trait TapCreate {
    fn tap_create(self) -> Self;
}

impl TapCreate for std::path::PathBuf {
    fn tap_create(self) -> Self {
        std::fs::create_dir_all(&self).expect("create dir");
        self
    }
}

/// A benchmark run from a directory leaves no file in it.
#[test]
fn a_bench_leaves_no_files_in_the_working_directory() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = common::steward_in(
        cwd.path(),
        &[
            "bench",
            "queue",
            "--messages",
            "2000",
            "--seconds",
            "1",
            "--rate",
            "500",
            "--light-rate",
            "200",
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = common::files_in(cwd.path());
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn version_is_printed() {
    let out = steward(&["--version"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("steward "));
}

both_backends!(
    node_registers_heartbeats_and_stops_gracefully,
    |db: TestDb| {
        let config = NodeConfig::new(&db, "alpha");
        let mut node = config.start();
        assert_eq!(node.get("/ping"), (200, "pong".to_string()));

        // Heart-beats with real RSS and CPU figures, and all roles active on a lone node.
        assert!(wait_until(Duration::from_secs(20), || {
            let servers = node.get_json("/api/servers?expand=resources");
            let me = server(&servers, "alpha");
            me["status"] == "started" && me["memory_rss"].as_i64().unwrap_or(0) > 1_000_000
        }));
        let servers = node.get_json("/api/servers?expand=resources");
        let me = server(&servers, "alpha");
        assert_eq!(me["zone"], "default");
        assert_eq!(me["is_master"], true);
        assert!(me["heartbeat_age_s"].as_f64().unwrap_or(99.0) < 3.0, "{me}");
        assert!(me["last_heartbeat"].as_str().unwrap_or("").ends_with('Z'));
        assert!(
            me["href"]
                .as_str()
                .unwrap_or("")
                .ends_with(&format!("/api/servers/{}", me["id"].as_str().unwrap_or("")))
        );
        let roles = me["roles"].as_array().expect("roles");
        assert_eq!(roles.len(), 18);
        assert!(roles.iter().all(|r| r["active"] == true), "{me}");

        let out = steward(&["status"], &config.cli_env());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Zone: default") && text.contains("alpha") && text.contains("started"),
            "{text}"
        );
        assert!(text.contains("ems_inventory"), "{text}");

        let out = steward(&["status", "--json"], &config.cli_env());
        let json: Value = serde_json::from_slice(&out.stdout).expect("status --json");
        assert_eq!(json["servers"][0]["name"], "alpha");
        assert_eq!(json["zones"][0]["name"], "default");

        let status = node
            .terminate(Duration::from_secs(20))
            .expect("stops within the deadline");
        assert!(status.success(), "exit {status:?}\n{}", node.logs());
        let out = steward(&["status", "--json"], &config.cli_env());
        let json: Value = serde_json::from_slice(&out.stdout).expect("status --json");
        assert_eq!(json["servers"][0]["status"], "stopped");
        assert!(
            json["servers"][0]["roles"]
                .as_array()
                .expect("roles")
                .iter()
                .all(|r| r["active"] == false)
        );
    }
);

both_backends!(a_restart_is_the_same_server, |db: TestDb| {
    let config = NodeConfig::new(&db, "alpha");
    let mut node = config.start();
    let first = node.get_json("/api/servers?expand=resources")["resources"][0]["id"].clone();
    node.terminate(Duration::from_secs(20)).expect("stops");
    let node = config.start();
    let servers = node.get_json("/api/servers?expand=resources");
    assert_eq!(servers["count"], 1, "{servers}");
    assert_eq!(servers["resources"][0]["id"], first);
});

both_backends!(
    a_second_node_on_the_same_data_dir_refuses_to_start,
    |db: TestDb| {
        let config = NodeConfig::new(&db, "alpha");
        let _node = config.start();
        let mut second = config.spawn();
        assert!(wait_until(Duration::from_secs(20), || second
            .try_exit()
            .is_some()));
        let status = second.try_exit().expect("exited");
        assert_eq!(status.code(), Some(4), "exit code 4: data directory taken");
        assert!(
            second
                .logs()
                .contains("already running with data directory"),
            "{}",
            second.logs()
        );
    }
);

both_backends!(
    a_silent_server_is_marked_not_responding_and_master_moves,
    |db: TestDb| {
        let mut a = NodeConfig::new(&db, "alpha").start();
        assert!(wait_until(Duration::from_secs(20), || {
            server(&a.get_json("/api/servers?expand=resources"), "alpha")["is_master"] == true
        }));
        let b = NodeConfig::new(&db, "beta").start();
        assert!(wait_until(Duration::from_secs(20), || {
            server(&b.get_json("/api/servers?expand=resources"), "beta")["status"] == "started"
        }));
        assert_eq!(
            server(&b.get_json("/api/servers?expand=resources"), "beta")["is_master"],
            false
        );

        a.kill();
        // heartbeat_timeout is 3 s in tests.
        assert!(
            wait_until(Duration::from_secs(20), || {
                let servers = b.get_json("/api/servers?expand=resources");
                server(&servers, "alpha")["status"] == "not_responding"
                    && server(&servers, "beta")["is_master"] == true
            }),
            "{}",
            b.get_json("/api/servers?expand=resources")
        );
        let servers = b.get_json("/api/servers?expand=resources");
        let alpha = server(&servers, "alpha");
        assert!(
            alpha["roles"]
                .as_array()
                .expect("roles")
                .iter()
                .all(|r| r["active"] == false)
        );
        assert!(b.find_log("marked not_responding").is_some());
    }
);

both_backends!(region_ids_never_clash, |db: TestDb| {
    let other = db.sibling();
    let mut east = NodeConfig::new(&db, "east").env("STEWARD__SERVER__REGION", "3");
    east.db_url = db.url.clone();
    let mut west = NodeConfig::new(&other, "west").env("STEWARD__SERVER__REGION", "4");
    west.db_url = other.url.clone();

    let base3: i64 = 3_000_000_000_000;
    let base4: i64 = 4_000_000_000_000;
    for (config, base) in [(&east, base3), (&west, base4)] {
        let out = steward(&["status", "--json"], &config.cli_env());
        assert!(
            !out.status.success(),
            "no schema yet: status must fail clearly"
        );
        let node = config.start();
        let region = node.get_json("/api/servers?expand=resources");
        let id: i64 = region["resources"][0]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id");
        assert!(
            id > base && id < base + 1_000_000_000_000,
            "id {id} in region of base {base}"
        );
        let out = steward(&["status", "--json"], &config.cli_env());
        let json: Value = serde_json::from_slice(&out.stdout).expect("status --json");
        for zone in json["zones"].as_array().expect("zones") {
            let zid: i64 = zone["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("zone id");
            assert!(
                zid > base && zid < base + 1_000_000_000_000,
                "zone id {zid}"
            );
        }
    }

    // A node whose settings name another region than its database holds is refused.
    let mut stray = NodeConfig::new(&db, "stray").env("STEWARD__SERVER__REGION", "4");
    stray.db_url = db.url.clone();
    let mut node = stray.spawn();
    assert!(
        wait_until(Duration::from_secs(30), || node.try_exit().is_some()),
        "{}",
        node.logs()
    );
    assert_eq!(
        node.try_exit().and_then(|s| s.code()),
        Some(5),
        "exit code 5: the database refused us"
    );
    assert!(
        node.logs().contains("belongs to region 3"),
        "{}",
        node.logs()
    );
});

both_backends!(migrate_applies_once_and_reports_the_region, |db: TestDb| {
    let config = NodeConfig::new(&db, "alpha").env("STEWARD__SERVER__REGION", "9");
    let mut env = config.cli_env();
    env.push(("STEWARD__SERVER__REGION", "9".into()));
    let out = steward(&["migrate"], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("applied") && text.contains("region 9"),
        "{text}"
    );
    let out = steward(&["migrate"], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema is current"));
    let out = steward(&["status", "--json"], &env);
    let json: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(json["region"], 9);
    assert_eq!(json["servers"].as_array().map(Vec::len), Some(0));
});

#[test]
fn json_log_format_writes_one_json_object_per_line() {
    let db = TestDb::new(common::Backend::Sqlite);
    let mut node = NodeConfig::new(&db, "alpha")
        .env("STEWARD__LOG__FORMAT", "json")
        .start();
    node.terminate(Duration::from_secs(20));
    let logs = node.logs();
    let mut lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{line}"
        );
        lines += 1;
    }
    assert!(lines >= 3, "{logs}");
}

#[test]
fn a_node_waits_for_an_unreachable_database_and_still_stops_on_sigterm() {
    let db = TestDb::new(common::Backend::Sqlite);
    let mut config =
        NodeConfig::new(&db, "alpha").env("STEWARD__DATABASE__CONNECT_TIMEOUT", "200ms");
    // Nothing listens on port 1.
    config.db_url = "postgres://postgres@127.0.0.1:1/steward".into();
    let mut node = config.spawn();
    assert!(
        wait_until(Duration::from_secs(20), || node
            .count_log("database unreachable; retrying")
            >= 2),
        "{}",
        node.logs()
    );
    assert!(node.try_exit().is_none(), "must keep waiting, not exit");
    assert!(!node.logs().contains("panicked"));
    let status = node
        .terminate(Duration::from_secs(10))
        .expect("stops on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_api_benchmark_reports_its_figures() {
    let report = common::bench_json(&["api", "--objects", "2000"]);
    assert_eq!(report["objects"], 2000, "{report}");
    assert_eq!(report["database"], "sqlite", "{report}");
    assert!(
        report["load"] == "wrk" || report["load"] == "reqwest",
        "{report}"
    );
    for key in [
        "seed_s",
        "ping_rps",
        "list_page_p50_ms",
        "list_page_p99_ms",
        "rbac_filtered_p99_ms",
        "expand_1000_p99_ms",
        "peak_rss_mb",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report}"
        );
    }
    // The limited user sees one project of fifty.
    assert_eq!(report["rbac_visible"], 40, "{report}");
}

both_backends!(
    regions_zones_and_server_roles_are_collections,
    |db: TestDb| {
        let node = NodeConfig::new(&db, "collections").start();
        let regions = node.get_json("/api/regions?expand=resources");
        assert_eq!(regions["count"], 1, "{regions}");
        let region_href = regions["resources"][0]["href"]
            .as_str()
            .expect("href")
            .to_string();
        let one = node.get_json(region_href.trim_start_matches(&node.url()));
        assert_eq!(one["region"], 0);
        let zones = node.get_json("/api/zones?expand=resources");
        let default = zones["resources"]
            .as_array()
            .and_then(|z| z.iter().find(|z| z["name"] == "default"))
            .cloned()
            .unwrap_or_else(|| panic!("no default zone: {zones}"));
        assert!(
            default["servers"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == "collections")),
            "{default}"
        );
        let roles = node.get_json("/api/server_roles?expand=resources");
        let inventory = roles["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == "ems_inventory"))
            .cloned()
            .unwrap_or_else(|| panic!("no ems_inventory: {roles}"));
        assert_eq!(inventory["implemented"], true);
        assert!(
            wait_until(Duration::from_secs(20), || {
                node.get_json("/api/server_roles?expand=resources")["resources"]
                    .as_array()
                    .is_some_and(|r| {
                        r.iter().any(|r| {
                            r["name"] == "ems_inventory"
                                && r["active_on"].as_array().is_some_and(|a| !a.is_empty())
                        })
                    })
            }),
            "ems_inventory never active"
        );
        let entry = node.get_json("/api");
        let names: Vec<&str> = entry["collections"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        for wanted in [
            "regions",
            "zones",
            "servers",
            "server_roles",
            "workers",
            "providers",
            "container_groups",
            "users",
            "groups",
            "roles",
            "features",
            "tenants",
            "categories",
            "tags",
            "tasks",
            "queue_messages",
        ] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
        assert_eq!(node.get("/api/zones/999999").0, 404);
    }
);

both_backends!(
    a_node_or_command_with_another_key_is_refused,
    |db: TestDb| {
        // The first node records the region's key.
        let alpha = NodeConfig::new(&db, "alpha");
        let mut node = alpha.start();
        node.terminate(Duration::from_secs(20));
        let region_key = std::fs::read_to_string(db.key_file()).expect("the node created the key");
        // A second node with its own key refuses to start, naming both keys.
        let other_key = db.dir.path().join("another_key");
        let beta_dir = db.data_dir("beta");
        let env = |key: &std::path::Path| {
            vec![
                ("STEWARD__DATABASE__URL", db.url.clone()),
                ("STEWARD__SERVER__DATA_DIR", beta_dir.display().to_string()),
                ("STEWARD__SERVER__KEY_FILE", key.display().to_string()),
                ("STEWARD__WEB__PORT", "0".to_string()),
                ("STEWARD__WEBSOCKET__PORT", "0".to_string()),
            ]
        };
        let out = steward(&["start"], &env(&other_key));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(
            stderr.contains("the region's credentials are encrypted with key"),
            "{stderr}"
        );
        assert!(!stderr.contains("panic"), "{stderr}");
        // The command line never creates a key, and refuses another one.
        let missing = db.dir.path().join("no_key_here");
        let add = |env: &[(&str, String)]| {
            steward(
                &[
                    "provider",
                    "add",
                    "--name",
                    "c1",
                    "--api-url",
                    "http://127.0.0.1:9",
                    "--allow-insecure-http",
                    "--token-file",
                    &write_file(db.dir.path(), "token", "t0k3n")
                        .display()
                        .to_string(),
                ],
                env,
            )
        };
        let mut cli = alpha.cli_env();
        cli.retain(|(k, _)| *k != "STEWARD__SERVER__KEY_FILE");
        cli.push(("STEWARD__SERVER__KEY_FILE", missing.display().to_string()));
        let out = add(&cli);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("never creates a key"),
            "{stderr}"
        );
        assert!(!missing.exists());
        let mut wrong = cli.clone();
        wrong.push((
            "STEWARD_CREDENTIAL_KEY",
            std::fs::read_to_string(&other_key).expect("the refused node's key"),
        ));
        let out = add(&wrong);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("encrypted with key"),
            "{stderr}"
        );
        // The region's key, from the environment, works.
        let mut right = cli.clone();
        right.push(("STEWARD_CREDENTIAL_KEY", region_key));
        let out = add(&right);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
);
