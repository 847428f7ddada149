//! This process's resident memory and CPU use, measured with sysinfo. CPU is computed
//! from the accumulated CPU time between two samples, which is right from the first
//! sample on (sysinfo's own percentage needs several refreshes to settle).

use std::time::Instant;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// One measurement of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessSample {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// CPU use since the previous sample, % of one core (may exceed 100 on many cores).
    pub cpu_percent: f64,
    /// Heap allocated through Rust and still live, bytes (0 without the accounting
    /// allocator). RSS well above it is memory the allocator keeps or C libraries hold.
    pub heap_bytes: u64,
}

/// Samples the current process; keep one alive and call [`ProcessSampler::sample`].
pub struct ProcessSampler {
    system: Option<System>,
    pid: Option<Pid>,
    last: Option<(Instant, u64)>,
}

impl Default for ProcessSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessSampler {
    pub fn new() -> Self {
        Self {
            system: System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
            last: None,
        }
    }

    /// Measures now. Returns zeros if the platform gives no process information.
    pub fn sample(&mut self) -> ProcessSample {
        let (Some(system), Some(pid)) = (self.system.as_mut(), self.pid) else {
            return ProcessSample::default();
        };
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing().with_memory().with_cpu(),
        );
        let Some(process) = system.process(pid) else {
            return ProcessSample::default();
        };
        let now = Instant::now();
        let cpu_ms = process.accumulated_cpu_time();
        let cpu_percent = match self.last {
            Some((at, before)) => {
                let wall_ms = now.duration_since(at).as_secs_f64() * 1000.0;
                if wall_ms > 0.0 {
                    (cpu_ms.saturating_sub(before) as f64 / wall_ms) * 100.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, cpu_ms));
        ProcessSample {
            rss_bytes: process.memory(),
            cpu_percent,
            heap_bytes: crate::workers::memory::total_live_bytes().max(0) as u64,
        }
    }
}

/// The machine's host name, or `steward` if it cannot be read.
pub fn host_name() -> String {
    System::host_name().unwrap_or_else(|_| "steward".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_this_process_reports_real_memory_and_cpu() {
        let mut sampler = ProcessSampler::new();
        let first = sampler.sample();
        assert!(first.rss_bytes > 1 << 20, "rss {}", first.rss_bytes);
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let second = sampler.sample();
        assert!(second.cpu_percent > 10.0, "cpu {}", second.cpu_percent);
    }
}
