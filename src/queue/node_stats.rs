//! What this node's queue machinery has done since it started: shared by the
//! dispatcher, the workers and the completion writer; read by the API and benches.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::latency::{LatencyHistogram, LatencySummary};

/// Counters and latencies of one node.
#[derive(Default)]
pub struct NodeQueueStats {
    pub claimed: AtomicU64,
    pub claim_queries: AtomicU64,
    pub completed_ok: AtomicU64,
    pub completed_error: AtomicU64,
    pub completed_timeout: AtomicU64,
    /// Completions discarded because their claim no longer held the message.
    pub stale: AtomicU64,
    /// Claims handed back unstarted because this node's claims were lost.
    pub handed_back: AtomicU64,
    /// From `created_on` (or `deliver_on`, if later) to the handler starting.
    pub put_to_start: LatencyHistogram,
    /// Handler run time.
    pub handler_time: LatencyHistogram,
}

/// A snapshot, for JSON.
#[derive(Debug, Clone, Serialize)]
pub struct NodeQueueSnapshot {
    pub claimed: u64,
    pub claim_queries: u64,
    pub completed_ok: u64,
    pub completed_error: u64,
    pub completed_timeout: u64,
    pub stale_completions: u64,
    pub handed_back: u64,
    pub put_to_start: LatencySummary,
    pub handler_time: LatencySummary,
}

impl NodeQueueStats {
    pub fn snapshot(&self) -> NodeQueueSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NodeQueueSnapshot {
            claimed: get(&self.claimed),
            claim_queries: get(&self.claim_queries),
            completed_ok: get(&self.completed_ok),
            completed_error: get(&self.completed_error),
            completed_timeout: get(&self.completed_timeout),
            stale_completions: get(&self.stale),
            handed_back: get(&self.handed_back),
            put_to_start: self.put_to_start.summary(),
            handler_time: self.handler_time.summary(),
        }
    }

    /// Total messages recorded finished.
    pub fn completed(&self) -> u64 {
        self.completed_ok.load(Ordering::Relaxed)
            + self.completed_error.load(Ordering::Relaxed)
            + self.completed_timeout.load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
