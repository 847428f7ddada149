//! A lock-free latency histogram (log-spaced buckets from 0.1 ms to ~100 s) for the
//! put-to-start and handler times a node reports. Percentiles are accurate to the
//! bucket width (about 10 %).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

const BUCKETS: usize = 160;
/// Bucket `i` holds values up to `FIRST_US × GROWTH^i` microseconds.
const FIRST_US: f64 = 100.0;
const GROWTH: f64 = 1.09;

/// Counts of durations per bucket.
pub struct LatencyHistogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencyHistogram {
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    fn bucket_of(us: f64) -> usize {
        if us <= FIRST_US {
            return 0;
        }
        (((us / FIRST_US).ln() / GROWTH.ln()).ceil() as usize).min(BUCKETS - 1)
    }

    fn upper_ms(bucket: usize) -> f64 {
        FIRST_US * GROWTH.powi(bucket as i32) / 1000.0
    }

    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        self.buckets[Self::bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us as u64, Ordering::Relaxed);
    }

    /// Percentiles of everything recorded since the last reset.
    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return LatencySummary::default();
        }
        let quantile = |q: f64| {
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Self::upper_ms(i);
                }
            }
            Self::upper_ms(BUCKETS - 1)
        };
        let max_bucket = counts.iter().rposition(|c| *c > 0).unwrap_or(0);
        LatencySummary {
            count: total,
            mean_ms: self.sum_us.load(Ordering::Relaxed) as f64 / total as f64 / 1000.0,
            p50_ms: quantile(0.50),
            p90_ms: quantile(0.90),
            p99_ms: quantile(0.99),
            max_ms: Self::upper_ms(max_bucket),
        }
    }

    /// Starts counting afresh.
    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
        self.sum_us.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_bucket_of_the_truth() {
        let h = LatencyHistogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() / 500.0 < 0.1, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() / 990.0 < 0.1, "{s:?}");
        assert!((s.mean_ms - 500.5).abs() < 1.0, "{s:?}");
        h.reset();
        assert_eq!(h.summary().count, 0);
    }

    #[test]
    fn tiny_and_huge_values_land_in_the_end_buckets() {
        let h = LatencyHistogram::new();
        h.record(Duration::from_nanos(10));
        h.record(Duration::from_secs(100_000));
        let s = h.summary();
        assert_eq!(s.count, 2);
        assert!(s.p50_ms <= 0.1 + 1e-9);
    }
}
