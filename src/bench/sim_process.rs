//! A `steward simulate` child process for benchmarks: the simulated cluster runs in
//! its own process, so a benchmark's peak RSS is the node's alone.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `steward simulate` child process, killed on drop.
pub struct SimProcess {
    child: Child,
    pub url: String,
}

impl SimProcess {
    pub fn spawn(nodes: usize, pods_per_node: usize) -> anyhow::Result<Self> {
        Self::spawn_churning(nodes, pods_per_node, 0.0)
    }

    /// A simulator whose cluster changes `churn` times a second.
    pub fn spawn_churning(nodes: usize, pods_per_node: usize, churn: f64) -> anyhow::Result<Self> {
        Self::spawn_with(nodes, pods_per_node, churn, &[])
    }

    /// A simulator that holds `events` Events and the watch history of as many
    /// changes (each new Event then deletes an old one), as a real API server holds
    /// an hour of them: a benchmark's burst is not lost to the simulator's bounds.
    pub fn spawn_holding(nodes: usize, pods_per_node: usize, events: u64) -> anyhow::Result<Self> {
        let kept = events.to_string();
        let history = (events.saturating_mul(2) + 10_000).to_string();
        Self::spawn_with(
            nodes,
            pods_per_node,
            0.0,
            &["--events-kept", &kept, "--watch-history", &history],
        )
    }

    fn spawn_with(
        nodes: usize,
        pods_per_node: usize,
        churn: f64,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["simulate", "--listen", "127.0.0.1:0", "--seed", "1"])
            .args(["--nodes", &nodes.to_string()])
            .args(["--pods-per-node", &pods_per_node.to_string()])
            .args(["--churn", &churn.to_string()])
            .args(extra)
            .env("STEWARD__LOG__FORMAT", "text")
            .env("STEWARD__LOG__LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let url = match listening_url(&mut child, "simulator listening on ") {
            Ok(url) => url,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(SimProcess { child, url })
    }
}

/// Reads `child`'s stderr up to the line carrying `marker` followed by a URL, and
/// answers the URL; the rest of its log is drained on a thread so it never blocks on
/// a full pipe.
pub fn listening_url(child: &mut Child, marker: &str) -> anyhow::Result<String> {
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("the child process has no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let Some(line) = lines.next() else {
            anyhow::bail!("the child process exited before `{marker}`");
        };
        let line = line?;
        if let Some(at) = line.find(marker) {
            let rest = &line[at + marker.len()..];
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok(url)
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
