//! Capped exponential backoff with jitter, shared by everything that retries: the
//! database at start, heartbeats, provider connections, worker restarts.

use std::time::Duration;

/// Delays that double from `initial` up to `max`, with ±20 % jitter so that many
/// nodes retrying the same dead service do not beat in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    jitter: bool,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
            jitter: true,
        }
    }

    /// Exact delays (for tests and for callers that add their own spread).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The delay before the next attempt; each call doubles it, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let base = self.initial.saturating_mul(factor).min(self.max);
        if !self.jitter {
            return base;
        }
        let spread = (rand_unit() - 0.5) * 0.4; // -20 % .. +20 %
        base.mul_f64(1.0 + spread).min(self.max)
    }

    /// Back to the initial delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// A cheap pseudo-random number in [0, 1) for jitter (not for anything secret).
fn rand_unit() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = STATE.fetch_add(seed | 1, Ordering::Relaxed) ^ seed;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5)).without_jitter();
        let delays: Vec<_> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_a_fifth_and_under_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(60));
        for _ in 0..50 {
            b.reset();
            let d = b.next_delay().as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }
}
