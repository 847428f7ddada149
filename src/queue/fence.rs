//! Fencing this node's claims. A claim belongs to one *incarnation*: the server that
//! made it (`handler_server`) and the attempt number the claim set (`attempts`).
//! Completions, commit hooks and time-outs apply only to a message still held by
//! that incarnation, checked per message inside the completion transaction, so a
//! stale holder's results are discarded, never committed.
//!
//! This node's side of it is the [`ClaimFence`]. When the node could not heart-beat
//! for longer than `server.heartbeat_timeout`, another server may have declared it
//! dead and requeued what it held. The `Registry` then *loses* the node's claims:
//! the epoch moves on, so messages still waiting in mailboxes are handed back
//! instead of started, and claiming is suspended until a heartbeat succeeds again.
//!
//! ```text
//!  beat ok ── beat ✗ ── ✗ ── ✗ (> heartbeat_timeout) ── lose_claims ── ✗ ── beat ok ── resume
//!  claiming ──────────────────────────────────────────┤ suspended ─────────────────┤ claiming
//!  mailbox: claims of epoch n ─────────────────────────► handed back, never started
//!  running handlers: finish; completion kept only if the row is still theirs
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// Whether this node may claim, and which claims are still its own.
#[derive(Debug)]
pub struct ClaimFence {
    epoch: AtomicU64,
    suspended: watch::Sender<bool>,
}

impl Default for ClaimFence {
    fn default() -> Self {
        Self {
            epoch: AtomicU64::new(1),
            suspended: watch::channel(false).0,
        }
    }
}

impl ClaimFence {
    /// The current claim epoch; claims are tagged with it.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Everything claimed so far is no longer trusted, and nothing is claimed until
    /// [`ClaimFence::resume`]. Idempotent while suspended.
    pub fn lose_claims(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.suspended.send_replace(true);
    }

    /// Claiming may go on (a heartbeat succeeded).
    pub fn resume(&self) {
        self.suspended
            .send_if_modified(|s| std::mem::replace(s, false));
    }

    /// Whether claiming is suspended.
    pub fn is_suspended(&self) -> bool {
        *self.suspended.borrow()
    }

    /// Changes whenever claiming is suspended or resumed.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.suspended.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losing_claims_moves_the_epoch_and_suspends_until_resumed() {
        let fence = ClaimFence::default();
        let before = fence.epoch();
        assert!(!fence.is_suspended());
        fence.lose_claims();
        assert!(fence.is_suspended());
        assert!(fence.epoch() > before);
        fence.resume();
        assert!(!fence.is_suspended());
    }
}
