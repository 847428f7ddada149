//! Test harness: real `steward` processes on random ports against a fresh database
//! per test, on SQLite and on PostgreSQL.
//!
//! PostgreSQL comes from `STEWARD_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it is unreachable the
//! PostgreSQL half of a test fails, saying so: a test whose dependency is missing is
//! never reported `ok` (`scripts/test`, the README's test command, starts it).

#![allow(dead_code)]

pub mod browser;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The two region-database backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name, |db| { … });` makes
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let db = $crate::common::TestDb::new($crate::common::Backend::Sqlite);
                ($body)(db);
            }

            #[test]
            fn postgres() {
                let db = $crate::common::TestDb::new($crate::common::Backend::Postgres);
                ($body)(db);
            }
        }
    };
}

fn pg_admin_url() -> String {
    std::env::var("STEWARD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A fresh, empty database for one test; PostgreSQL databases are dropped afterwards.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pg_name: Option<String>,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A fresh database; panics (the test fails) when PostgreSQL is unreachable.
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("region.sqlite3").display());
                Self {
                    backend,
                    url,
                    pg_name: None,
                    dir,
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is unreachable at {admin} ({e}): run scripts/test, or set \
                         STEWARD_TEST_PG to a server where databases can be created"
                    )
                });
                let name = format!("steward_t_{}", uuid::Uuid::new_v4().simple());
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Self {
                    backend,
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    dir,
                }
            }
        }
    }

    /// The region's credential key file, shared by the nodes of this database (created
    /// by the first node that starts).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("region_v2_key")
    }

    /// Another fresh database of the same backend (for multi-region tests).
    pub fn sibling(&self) -> Self {
        Self::new(self.backend)
    }

    /// A new data directory for one node.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("data dir");
        dir
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut conn) = PgConnection::establish(&pg_admin_url())
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Path of the built `steward` binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_steward")
}

/// Runs `steward ARGS` with `env` and waits for it.
pub fn steward(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run steward")
}

/// Runs `steward ARGS` with `env` in the working directory `cwd`, and waits for it.
pub fn steward_in(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.current_dir(cwd).args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run steward")
}

/// Runs `steward ARGS` with `env`, writing `input` to its standard input.
pub fn steward_with_input(args: &[&str], env: &[(&str, String)], input: &str) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run steward");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for steward")
}

/// How to start a node.
#[derive(Clone)]
pub struct NodeConfig {
    pub name: String,
    pub db_url: String,
    pub data_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl NodeConfig {
    /// A node named `name` on `db`, with fast heartbeats suited to tests.
    pub fn new(db: &TestDb, name: &str) -> Self {
        Self {
            name: name.to_string(),
            db_url: db.url.clone(),
            data_dir: db.data_dir(name),
            env: vec![
                ("STEWARD__SERVER__HEARTBEAT_INTERVAL".into(), "300ms".into()),
                ("STEWARD__SERVER__HEARTBEAT_TIMEOUT".into(), "3s".into()),
                // The nodes of a region share its credential key (as operators copy it).
                (
                    "STEWARD__SERVER__KEY_FILE".into(),
                    db.key_file().display().to_string(),
                ),
            ],
            args: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// The environment a `steward` command needs to reach the same database (and the
    /// region's key).
    pub fn cli_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("STEWARD__DATABASE__URL", self.db_url.clone()),
            (
                "STEWARD__SERVER__DATA_DIR",
                self.data_dir.display().to_string(),
            ),
        ];
        if let Some((_, key)) = self
            .env
            .iter()
            .find(|(k, _)| k == "STEWARD__SERVER__KEY_FILE")
        {
            env.push(("STEWARD__SERVER__KEY_FILE", key.clone()));
        }
        env
    }

    /// Spawns the node and waits until its web listener is up.
    pub fn start(&self) -> Node {
        let node = self.spawn();
        node.wait_listening(Duration::from_secs(60));
        node
    }

    /// Spawns the node without waiting for anything.
    pub fn spawn(&self) -> Node {
        let mut cmd = Command::new(binary());
        cmd.arg("start")
            .args(&self.args)
            .env_remove("RUST_LOG")
            .env("STEWARD__SERVER__NAME", &self.name)
            .env("STEWARD__DATABASE__URL", &self.db_url)
            .env("STEWARD__SERVER__DATA_DIR", &self.data_dir)
            .env("STEWARD__WEB__PORT", "0")
            .env("STEWARD__WEBSOCKET__PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn steward");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var("STEWARD_TEST_ECHO").is_ok() {
                    eprintln!("{line}");
                }
                sink.lock().expect("logs").push(line);
            }
        });
        Node {
            name: self.name.clone(),
            child: Some(child),
            logs,
            url: Mutex::new(None),
            region_dir: self
                .data_dir
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            admin: Mutex::new(None),
        }
    }
}

/// A running `steward start` process.
pub struct Node {
    pub name: String,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
    url: Mutex<Option<String>>,
    /// Where the data directories of the region's test nodes are.
    region_dir: PathBuf,
    /// An API token of the region's first admin, once fetched.
    admin: Mutex<Option<String>>,
}

impl Node {
    /// Waits for "listening on http://…" and remembers the URL.
    pub fn wait_listening(&self, timeout: Duration) -> String {
        let found = wait_until(timeout, || self.find_log("listening on http://").is_some());
        if !found {
            panic!(
                "node {} did not start listening; log:\n{}",
                self.name,
                self.logs()
            );
        }
        let line = self.find_log("listening on http://").unwrap_or_default();
        let start = line.find("http://").unwrap_or(0);
        let url: String = line[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"')
            .collect();
        *self.url.lock().expect("url") = Some(url.clone());
        url
    }

    /// The live feed's URL, where `GET /api` sends clients (the live feed's own
    /// listener), e.g. `ws://127.0.0.1:41235/ws`.
    pub fn ws_url(&self) -> String {
        let entry = self.get_json("/api");
        entry["live_feed"]["href"]
            .as_str()
            .unwrap_or_else(|| panic!("GET /api names no live feed: {entry}"))
            .to_string()
    }

    /// The live feed listener's URL as the node logged it at start (also where it
    /// does not run the `websocket` role, and `GET /api` names none).
    pub fn logged_ws_url(&self) -> String {
        let needle = "live feed listening on ";
        let line = self
            .find_log(needle)
            .unwrap_or_else(|| panic!("node {} logged no live feed listener", self.name));
        let at = line.find(needle).unwrap_or(0) + needle.len();
        line[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"')
            .collect()
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.url
            .lock()
            .expect("url")
            .clone()
            .unwrap_or_else(|| panic!("node {} is not listening", self.name))
    }

    /// The password of the region's first user, `admin`, from the `admin-password`
    /// file the first node wrote in its data directory.
    pub fn admin_password(&self) -> String {
        let mut found = None;
        let seen = wait_until(Duration::from_secs(30), || {
            found = admin_password_in(&self.region_dir);
            found.is_some()
        });
        assert!(
            seen,
            "no admin-password file under {}",
            self.region_dir.display()
        );
        found.unwrap_or_default()
    }

    /// `Authorization` header of `admin` (Basic).
    pub fn admin_auth(&self) -> String {
        basic_auth("admin", &self.admin_password())
    }

    /// An API token of `admin` (fetched once with Basic credentials, then reused).
    pub fn admin_token(&self) -> String {
        let mut cached = self.admin.lock().expect("admin");
        if cached.is_none() {
            let (status, body) = self.request(
                "GET",
                "/api/auth",
                None,
                &[("Authorization", &self.admin_auth())],
            );
            assert_eq!(status, 200, "GET /api/auth as admin: {body}");
            *cached = body["auth_token"].as_str().map(str::to_string);
        }
        cached.clone().unwrap_or_default()
    }

    /// A request as admin, by token; a token that lapsed (401) is renewed once.
    pub fn admin_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let answer = self.request(method, path, body, &[("X-Auth-Token", &self.admin_token())]);
        if answer.0 != 401 {
            return answer;
        }
        *self.admin.lock().expect("admin") = None;
        self.request(method, path, body, &[("X-Auth-Token", &self.admin_token())])
    }

    /// GET `path` as admin; returns status and body text.
    pub fn get(&self, path: &str) -> (u16, String) {
        let (status, body) = self.admin_request("GET", path, None);
        let text = match body {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        (status, text)
    }

    /// Any request with the given headers (no credentials unless given).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        http_request(method, &format!("{}{}", self.url(), path), body, headers)
    }

    /// GET `path` expecting 200 and JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// POST JSON to `path` as admin; returns status and parsed body (Null if empty).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.admin_request("POST", path, Some(body))
    }

    /// DELETE `path` as admin.
    pub fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.admin_request("DELETE", path, None)
    }

    /// Every log line so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    /// The first log line containing `needle`.
    pub fn find_log(&self, needle: &str) -> Option<String> {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    /// Number of log lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.find_log(needle).is_some())
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// SIGKILL: the node dies without any chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Whether the process has exited; returns its status if so.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 50 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if check() {
            return true;
        }
        if started.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// GET a URL; status and body.
pub fn http_get(url: &str) -> (u16, String) {
    match agent().get(url).call() {
        Ok(mut r) => {
            let status = r.status().as_u16();
            (status, r.body_mut().read_to_string().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Sends a request with an optional JSON body; status and parsed body.
pub fn http_send(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    http_request(method, url, body, &[])
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The first `*/admin-password` under `dir`.
pub fn admin_password_in(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find_map(|entry| std::fs::read_to_string(entry.path().join("admin-password")).ok())
        .map(|text| text.trim().to_string())
}

/// Sends a request with headers and an optional JSON body; status and parsed body
/// (text when it is not JSON).
pub fn http_request(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let agent = agent();
    macro_rules! with_headers {
        ($req:expr) => {{
            let mut req = $req;
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req
        }};
    }
    let result = match (method, body) {
        ("POST", Some(b)) => with_headers!(agent.post(url)).send_json(b),
        ("POST", None) => with_headers!(agent.post(url)).send_empty(),
        ("PUT", Some(b)) => with_headers!(agent.put(url)).send_json(b),
        ("PUT", None) => with_headers!(agent.put(url)).send_empty(),
        ("PATCH", Some(b)) => with_headers!(agent.patch(url)).send_json(b),
        ("PATCH", None) => with_headers!(agent.patch(url)).send_empty(),
        ("DELETE", _) => with_headers!(agent.delete(url)).call(),
        ("GET", _) => with_headers!(agent.get(url)).call(),
        ("HEAD", _) => with_headers!(agent.head(url)).call(),
        (m, _) => panic!("unsupported method {m}"),
    };
    match result {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            )
        }
        Err(e) => (0, serde_json::Value::String(e.to_string())),
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// A library-level handle on the test database, migrated for region 0.
pub fn lib_db(db: &TestDb) -> steward::db::Db {
    use steward::settings::{DatabaseSettings, DatabaseUrl};
    let settings = DatabaseSettings {
        url: DatabaseUrl::parse(&db.url, db.dir.path()).expect("url"),
        pool_size: 8,
        connect_timeout: Duration::from_secs(5),
    };
    let handle = steward::db::Db::connect(&settings).expect("connect");
    handle
        .with_conn(|c| steward::db::migrate(c, 0))
        .expect("migrate");
    handle
}

/// Environment for nodes that run the queue tests: diagnostics on, fast polling,
/// monitoring and restarts.
pub fn queue_node(db: &TestDb, name: &str) -> NodeConfig {
    NodeConfig::new(db, name)
        .env("STEWARD__QUEUE__DIAGNOSTIC_COMMANDS", "true")
        .env("STEWARD__QUEUE__POLL_INTERVAL", "200ms")
        .env("STEWARD__QUEUE__LOG_MESSAGES", "true")
        .env("STEWARD__SUPERVISION__MONITOR_INTERVAL", "100ms")
        .env("STEWARD__SUPERVISION__RESTART_BACKOFF", "200ms")
        .env("STEWARD__SUPERVISION__RESTART_BACKOFF_MAX", "2s")
        .env("STEWARD__ROLES__LEASE_DURATION", "2s")
}

/// Puts a message through the API; returns its id.
pub fn put(node: &Node, body: serde_json::Value) -> String {
    let (status, reply) = node.post_json("/api/queue/messages", &body);
    assert!(
        status == 201 || status == 200,
        "put {body}: {status} {reply}"
    );
    reply["id"].as_str().expect("id").to_string()
}

/// A message as the API shows it.
pub fn message(node: &Node, id: &str) -> serde_json::Value {
    node.get_json(&format!("/api/queue/messages/{id}"))
}

/// Waits until message `id` is in `state`; panics with the message otherwise.
pub fn wait_state(node: &Node, id: &str, state: &str, timeout: Duration) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let ok = wait_until(timeout, || {
        last = message(node, id);
        last["state"] == state
    });
    assert!(ok, "message {id} not {state} after {timeout:?}: {last}");
    last
}

/// Resident memory of a process, in KiB (Linux).
pub fn rss_kib(pid: u32) -> u64 {
    steward::bench::rss_kib_of(&pid.to_string())
}

/// Anonymous resident memory of a process (heap, stacks — not the binary's mapped
/// code), in KiB (Linux `RssAnon`).
pub fn anon_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// This node's server record from its own API.
pub fn me(node: &Node) -> serde_json::Value {
    let servers = node.get_json("/api/servers?expand=resources");
    servers["resources"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|s| s["name"] == node.name.as_str())
                .cloned()
        })
        .unwrap_or_else(|| panic!("{} not in {servers}", node.name))
}

/// Whether `server` (a JSON server record) has `role` active.
pub fn holds(server: &serde_json::Value, role: &str) -> bool {
    server["roles"].as_array().is_some_and(|roles| {
        roles
            .iter()
            .any(|r| r["name"] == role && r["active"] == true)
    })
}

/// The workers of `node`'s server, by name (`generic-1`, …).
pub fn workers_of(node: &Node) -> Vec<serde_json::Value> {
    let all = node.get_json("/api/workers?expand=resources");
    all["resources"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter(|w| w["server"] == node.name.as_str())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A `steward simulate` process.
pub struct Sim {
    node: Node,
    pub url: String,
    /// With `--tls`: the directory of its CA, credentials and kubeconfigs.
    pub tls_dir: Option<PathBuf>,
}

impl Sim {
    /// Starts a simulator with extra arguments (`--nodes`, `--pods-per-node`, …).
    pub fn start(args: &[&str]) -> Sim {
        Self::start_on("127.0.0.1:0", args)
    }

    /// Starts a simulator on `listen` (an address a previous one used: a restart).
    pub fn start_on(listen: &str, args: &[&str]) -> Sim {
        let mut cmd = Command::new(binary());
        cmd.args(["simulate", "--listen", listen])
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn simulator");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("logs").push(line);
            }
        });
        let node = Node {
            name: "simulator".into(),
            child: Some(child),
            logs,
            url: Mutex::new(None),
            region_dir: PathBuf::new(),
            admin: Mutex::new(None),
        };
        let ok = wait_until(Duration::from_secs(60), || {
            node.find_log("simulator listening on http").is_some()
        });
        assert!(ok, "simulator did not start:\n{}", node.logs());
        let line = node
            .find_log("simulator listening on http")
            .unwrap_or_default();
        let start = line.find("http").unwrap_or(0);
        let url: String = line[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"')
            .collect();
        *node.url.lock().expect("url") = Some(url.clone());
        let tls_dir = args
            .iter()
            .position(|a| *a == "--tls-dir")
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from);
        Sim { node, url, tls_dir }
    }

    /// A `--tls` simulator writing its files to `dir`.
    pub fn start_tls(dir: &Path, args: &[&str]) -> Sim {
        let dir = dir.display().to_string();
        let mut all = vec!["--tls", "--tls-dir", dir.as_str()];
        all.extend_from_slice(args);
        Self::start(&all)
    }

    /// A file the `--tls` simulator wrote (`ca.pem`, `kubeconfig-cert.yaml`, …).
    pub fn tls_file(&self, name: &str) -> String {
        let dir = self.tls_dir.as_ref().expect("a --tls simulator");
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The process id (to stop it, as a crashed API server).
    pub fn kill(&mut self) {
        self.node.kill();
    }

    /// A request to the simulator; over HTTPS (`--tls`), with curl trusting its CA.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.url);
        let Some(dir) = &self.tls_dir else {
            return http_send(method, &url, body);
        };
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-w", "\n%{http_code}", "-X", method, "--cacert"])
            .arg(dir.join("ca.pem"))
            .arg(&url);
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
        }
        let out = cmd.output().expect("curl (needed for --tls simulators)");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (reply, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (
            code.trim().parse().unwrap_or(0),
            serde_json::from_str(reply).unwrap_or(serde_json::Value::String(reply.to_string())),
        )
    }

    /// POST to an admin endpoint (`/_sim/churn`, …); returns the JSON answer.
    pub fn admin(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, reply) = self.send("POST", path, Some(&body));
        assert!(status < 300, "POST {path} {body}: {status} {reply}");
        reply
    }

    /// `GET /_sim/stats`.
    pub fn stats(&self) -> serde_json::Value {
        self.get_json("/_sim/stats")
    }

    /// GET any path of the simulator.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        if self.tls_dir.is_some() {
            let (status, body) = self.send("GET", path, None);
            assert_eq!(status, 200, "GET {path}: {body}");
            return body;
        }
        let (status, body) = http_get(&format!("{}{path}", self.url));
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

/// Runs `steward bench …` with a throw-away data directory; its JSON report.
pub fn bench_json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("dir");
    let env = [(
        "STEWARD__SERVER__DATA_DIR",
        dir.path().display().to_string(),
    )];
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = steward(&all, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// A TCP proxy in front of PostgreSQL that a test can cut: all open connections are
/// reset and new ones refused, as when the database stops or fails over, for the
/// nodes that go through it only.
pub struct DbProxy {
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl DbProxy {
    /// A proxy to the PostgreSQL server of `STEWARD_TEST_PG`.
    pub fn start() -> DbProxy {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let upstream = pg_host_port();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (flag, conns) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let pipes = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                {
                    let mut all = conns.lock().expect("conns");
                    all.retain(|s: &TcpStream| s.peer_addr().is_ok());
                    if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                        all.push(c);
                        all.push(s);
                    }
                }
                for (from, to) in pipes {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            }
        });
        DbProxy { port, cut, open }
    }

    /// `url` (a database of the test server) reached through this proxy.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme_auth, rest) = url.split_once('@').expect("user@host in the URL");
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
        format!("{scheme_auth}@127.0.0.1:{}/{path}", self.port)
    }

    /// The database "goes away" for the proxy's users.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.open.lock().expect("conns").drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The database is back.
    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `host:port` of the test PostgreSQL server.
fn pg_host_port() -> String {
    let url = pg_admin_url();
    let after_at = url.rsplit_once('@').map(|(_, r)| r).unwrap_or(&url);
    let host_port = after_at.split('/').next().unwrap_or("127.0.0.1:5432");
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}

/// `text` cut to `max` characters, for assertion messages about large inputs.
pub fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The value of exactly-once counter `name` (`Diagnostics.count`), 0 if never counted.
pub fn counter(db: &steward::db::Db, name: &str) -> i64 {
    db.with_conn(|c| {
        use diesel::prelude::*;
        use steward::db::schema::diagnostic_counters as dc;
        Ok(dc::table
            .filter(dc::name.eq(name))
            .select(dc::value)
            .first::<i64>(c)
            .optional()?
            .unwrap_or(0))
    })
    .expect("counter")
}

/// The files a directory holds (for "nothing left behind" checks).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect()
}
