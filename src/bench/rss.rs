//! Peak resident memory of this process, sampled every 20 ms on a thread of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Samples RSS until dropped.
pub struct RssSampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// Current RSS of this process, KiB (0 where /proc is unavailable).
pub fn current_rss_kib() -> u64 {
    rss_kib_of("self")
}

/// Current RSS of process `pid` (`"self"` for this one), KiB; 0 where /proc is unavailable.
pub fn rss_kib_of(pid: &str) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// Peak RSS of process `pid` (`VmHWM`), KiB; 0 where /proc is unavailable.
pub fn peak_rss_kib_of(pid: &str) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// A KiB figure of `/proc/<pid>/status` (`field` with its colon); 0 if unreadable.
fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

impl RssSampler {
    pub fn start() -> Self {
        let peak_kib = Arc::new(AtomicU64::new(current_rss_kib()));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, flag) = (peak_kib.clone(), stop.clone());
        let _ = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    peak.fetch_max(current_rss_kib(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        Self { peak_kib, stop }
    }

    /// Highest RSS since the last reset, MiB.
    pub fn peak_mb(&self) -> f64 {
        self.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }

    /// Starts a new peak from the current RSS.
    pub fn reset(&self) {
        self.peak_kib.store(current_rss_kib(), Ordering::Relaxed);
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
