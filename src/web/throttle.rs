//! Failed logins per peer address: more than `limit` within `window` and the address
//! is answered 429 until the oldest failure leaves the window. Bounded: the table
//! never holds more than `MAX_PEERS` addresses.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_PEERS: usize = 10_000;

pub struct LoginThrottle {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1) as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(wait)` when `peer` must wait before trying again.
    pub fn check(&self, peer: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut table = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let list = table.get_mut(&peer)?;
        while list
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            list.pop_front();
        }
        if list.len() >= self.limit {
            let oldest = *list.front()?;
            return Some(self.window.saturating_sub(now.duration_since(oldest)));
        }
        None
    }

    /// Counts a failed login from `peer`.
    pub fn failed(&self, peer: IpAddr) {
        let now = Instant::now();
        let mut table = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() >= MAX_PEERS && !table.contains_key(&peer) {
            let window = self.window;
            table.retain(|_, list| list.back().is_some_and(|t| now.duration_since(*t) < window));
            if table.len() >= MAX_PEERS {
                table.clear();
            }
        }
        let list = table.entry(peer).or_default();
        list.push_back(now);
        while list.len() > self.limit {
            list.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_failures_per_peer() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        assert!(t.check(a).is_none());
        t.failed(a);
        assert!(t.check(a).is_none());
        t.failed(a);
        let wait = t.check(a).expect("throttled");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(t.check(b).is_none());
    }

    #[test]
    fn failures_leave_the_window() {
        let t = LoginThrottle::new(1, Duration::from_millis(30));
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        t.failed(a);
        assert!(t.check(a).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.check(a).is_none());
    }
}
