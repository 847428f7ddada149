//! A node run as a child process for benchmarks (`steward start` on a given database),
//! and logging in to it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The log line of a node that serves.
const LISTENING: &str = "listening on ";

/// The `steward start` child, stopped (SIGTERM, then SIGKILL after 30 s) on drop.
pub(super) struct NodeProcess {
    pub(super) child: Child,
    pub(super) url: String,
    stopped: bool,
}

impl NodeProcess {
    /// Starts `steward start` on `database_url` with data directory `dir`; answers once
    /// it serves.
    pub(super) fn start(database_url: &str, dir: &Path, roles: &str) -> anyhow::Result<Self> {
        Self::start_with(database_url, dir, roles, &[])
    }

    /// [`NodeProcess::start`] with more settings as `STEWARD__…` variables.
    pub(super) fn start_with(
        database_url: &str,
        dir: &Path,
        roles: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .arg("start")
            .env("STEWARD__DATABASE__URL", database_url)
            .env("STEWARD__SERVER__DATA_DIR", dir)
            .env("STEWARD__SERVER__NAME", "api-bench")
            .env("STEWARD__WEB__PORT", "0")
            .env("STEWARD__WEBSOCKET__PORT", "0")
            .env("STEWARD__ROLES__ENABLED", roles)
            .env("STEWARD__QUEUE__LOG_MESSAGES", "false")
            .env("STEWARD__LOG__FORMAT", "text")
            .env("STEWARD__LOG__LEVEL", "info")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut node = NodeProcess {
            child,
            url: String::new(),
            stopped: false,
        };
        node.url = wait_listening(&mut node.child, Duration::from_secs(120))?;
        Ok(node)
    }

    pub(super) fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        // SAFETY: sending SIGTERM to our own child; its pid is valid until we wait on it.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the child's log until it says where it listens (the rest is drained on a
/// thread so the child never blocks on a full pipe).
fn wait_listening(child: &mut Child, timeout: Duration) -> anyhow::Result<String> {
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("the node has no stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
    let kept = tail.clone();
    std::thread::spawn(move || {
        let mut found = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if found {
                continue;
            }
            // The web server's line (the live feed's says `listening on ws://`).
            if let Some(at) = line.find(&format!("{LISTENING}http")) {
                let url = line[at + LISTENING.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                found = tx.send(url).is_ok();
            } else if let Ok(mut tail) = kept.lock() {
                if tail.len() == 20 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    });
    match rx.recv_timeout(timeout) {
        Ok(url) if url.starts_with("http") => Ok(url),
        outcome => {
            let log = tail
                .lock()
                .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            anyhow::bail!(
                "the node did not start serving ({}); its last log lines:\n{log}",
                match outcome {
                    Ok(url) => format!("odd URL `{url}`"),
                    Err(_) => "exited or timed out".to_string(),
                }
            )
        }
    }
}

/// Peak resident memory of process `pid` (`VmHWM`), KiB; 0 where /proc is unavailable.
pub(super) fn vm_hwm_kib(pid: u32) -> u64 {
    super::rss::peak_rss_kib_of(&pid.to_string())
}

/// A token for `user` (one Basic login; every measured request then uses the token).
pub(super) async fn token(
    http: &reqwest::Client,
    url: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let response = http
        .get(format!("{url}/api/auth"))
        .basic_auth(user, Some(password))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "logging in as {user}: {status} {body}");
    body["auth_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("logging in as {user}: no auth_token in {body}"))
}
