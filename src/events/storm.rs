//! Storm folding (ManageIQ's flooding monitor, on by default here): identical events
//! from one object (same object, reason and message) beyond `threshold` within
//! `window` are not passed on one by one; they are counted, and each batch carries one
//! report per storm with how many it folded, so a storm costs one row whatever its size.
//!
//! Rates are kept per key in ten slots of `window / 10` (like ManageIQ's
//! DuplicateBlocker), so a key costs a few dozen bytes; keys idle for a window are
//! forgotten, and at most `max_keys` are tracked (beyond that, events of new keys pass
//! untracked rather than grow memory).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::types::{Caught, Storm};

const SLOTS: u64 = 10;

type Key = (String, String, String);

struct Rate {
    slots: [u32; SLOTS as usize],
    last_slot: u64,
    storm: Option<Folding>,
}

struct Folding {
    chain_id: String,
    folded: i64,
    latest: Option<Caught>,
}

impl Rate {
    fn new(slot: u64) -> Self {
        Self {
            slots: [0; SLOTS as usize],
            last_slot: slot,
            storm: None,
        }
    }

    /// Moves the window to `slot`, clearing the slots it passed.
    fn advance(&mut self, slot: u64) {
        if slot <= self.last_slot {
            return;
        }
        if slot - self.last_slot >= SLOTS {
            self.slots = [0; SLOTS as usize];
        } else {
            for s in self.last_slot + 1..=slot {
                self.slots[(s % SLOTS) as usize] = 0;
            }
        }
        self.last_slot = slot;
    }

    fn total(&self) -> u64 {
        self.slots.iter().map(|&n| u64::from(n)).sum()
    }
}

/// Decides, per occurrence, whether it passes or is folded into its storm.
pub struct StormGate {
    threshold: u64,
    slot_width: Duration,
    started: Instant,
    max_keys: usize,
    chain_prefix: String,
    next_chain: u64,
    keys: HashMap<Key, Rate>,
    /// Reports of storms that ended since the last drain.
    ended: Vec<Caught>,
    folded_total: u64,
}

impl StormGate {
    /// `threshold` 0 turns folding off. `chain_prefix` makes the storm ids of this
    /// catcher distinct from any other's (the provider and the catcher's start).
    pub fn new(threshold: u32, window: Duration, max_keys: usize, chain_prefix: String) -> Self {
        let slot_width = (window / SLOTS as u32).max(Duration::from_millis(1));
        Self {
            threshold: u64::from(threshold),
            slot_width,
            started: Instant::now(),
            max_keys,
            chain_prefix,
            next_chain: 0,
            keys: HashMap::new(),
            ended: Vec::new(),
            folded_total: 0,
        }
    }

    fn slot(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.started).as_nanos() / self.slot_width.as_nanos().max(1))
            as u64
    }

    /// Occurrences folded so far.
    pub fn folded_total(&self) -> u64 {
        self.folded_total
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }

    /// The occurrence if it passes; `None` when it was folded into its storm. `delta`
    /// is how many occurrences it stands for (an Event's count may have climbed by
    /// more than one since it was last seen).
    pub fn admit(&mut self, caught: Caught, delta: i64, now: Instant) -> Option<Caught> {
        if self.threshold == 0 {
            return Some(caught);
        }
        let slot = self.slot(now);
        let key = caught.storm_key();
        if !self.keys.contains_key(&key) && self.keys.len() >= self.max_keys {
            return Some(caught);
        }
        let rate = self.keys.entry(key).or_insert_with(|| Rate::new(slot));
        rate.advance(slot);
        let i = (slot % SLOTS) as usize;
        rate.slots[i] = rate.slots[i].saturating_add(1);
        if rate.total() <= self.threshold {
            // Below the rate again: a storm of this key is over.
            if let Some(done) = rate.storm.take()
                && let Some(report) = report(done)
            {
                self.ended.push(report);
            }
            return Some(caught);
        }
        let storm = rate.storm.get_or_insert_with(|| {
            self.next_chain += 1;
            Folding {
                chain_id: format!("{}-{}", self.chain_prefix, self.next_chain),
                folded: 0,
                latest: None,
            }
        });
        let delta = delta.max(1);
        storm.folded += delta;
        storm.latest = Some(caught);
        self.folded_total += delta as u64;
        None
    }

    /// One report per storm with occurrences folded since the last drain (the latest
    /// occurrence, carrying the count); storms and keys idle for a window are closed
    /// and forgotten.
    pub fn drain(&mut self, now: Instant) -> Vec<Caught> {
        let slot = self.slot(now);
        let mut out = std::mem::take(&mut self.ended);
        self.keys.retain(|_, rate| {
            let idle = slot.saturating_sub(rate.last_slot) >= SLOTS;
            if let Some(storm) = rate.storm.as_mut()
                && storm.folded > 0
                && let Some(latest) = storm.latest.take()
            {
                out.push(with_storm(latest, &storm.chain_id, storm.folded));
                storm.folded = 0;
            }
            !idle
        });
        out
    }
}

fn with_storm(mut latest: Caught, chain_id: &str, folded: i64) -> Caught {
    latest.storm = Some(Storm {
        chain_id: chain_id.to_string(),
        folded,
    });
    latest
}

fn report(done: Folding) -> Option<Caught> {
    let latest = done.latest?;
    (done.folded > 0).then(|| with_storm(latest, &done.chain_id, done.folded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn occurrence(object: &str, count: i64) -> Caught {
        Caught {
            uid: format!("ev-{object}"),
            count,
            event_type: "POD_BACKOFF".into(),
            severity: "Warning".into(),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container".into(),
            kind: "Pod".into(),
            namespace: "default".into(),
            name: object.into(),
            target_uid: format!("uid-{object}"),
            container: String::new(),
            component: "kubelet".into(),
            host: "node-1".into(),
            first: None,
            last: Utc::now(),
            storm: None,
        }
    }

    #[test]
    fn beyond_the_threshold_occurrences_fold_into_one_report() {
        let mut gate = StormGate::new(30, Duration::from_secs(60), 1000, "p1-a".into());
        let now = Instant::now();
        let passed = (1..=1000)
            .filter(|&n| gate.admit(occurrence("web", n), 1, now).is_some())
            .count();
        assert_eq!(passed, 30);
        let reports = gate.drain(now);
        assert_eq!(reports.len(), 1);
        let storm = reports[0].storm.as_ref().expect("a storm report");
        assert_eq!(storm.folded, 970);
        assert_eq!(reports[0].count, 1000, "the latest occurrence is reported");
        assert_eq!(gate.folded_total(), 970);
        // Nothing new folded: nothing to report.
        assert!(gate.drain(now).is_empty());
        // The storm goes on under the same id.
        assert!(gate.admit(occurrence("web", 1001), 1, now).is_none());
        let again = gate.drain(now);
        assert_eq!(
            again[0].storm.as_ref().map(|s| &s.chain_id),
            Some(&storm.chain_id)
        );
    }

    #[test]
    fn another_object_is_not_affected_by_a_storm() {
        let mut gate = StormGate::new(30, Duration::from_secs(60), 1000, "p1-a".into());
        let now = Instant::now();
        for n in 1..=500 {
            gate.admit(occurrence("noisy", n), 1, now);
        }
        let quiet = (1..=20)
            .filter(|&n| gate.admit(occurrence("quiet", n), 1, now).is_some())
            .count();
        assert_eq!(quiet, 20);
    }

    #[test]
    fn a_storm_ends_when_the_rate_falls_and_the_next_gets_a_new_id() {
        let window = Duration::from_secs(60);
        let mut gate = StormGate::new(5, window, 1000, "p1-a".into());
        let t0 = Instant::now();
        for n in 1..=10 {
            gate.admit(occurrence("web", n), 1, t0);
        }
        let first = gate.drain(t0)[0].storm.clone().expect("storm");
        assert_eq!(first.folded, 5);
        // A window later the rate is back to normal: the occurrence passes.
        let later = t0 + window + Duration::from_secs(7);
        assert!(gate.admit(occurrence("web", 11), 1, later).is_some());
        for n in 12..=20 {
            gate.admit(occurrence("web", n), 1, later);
        }
        let second = gate.drain(later)[0].storm.clone().expect("storm");
        assert_ne!(second.chain_id, first.chain_id);
    }

    #[test]
    fn idle_keys_are_forgotten_and_the_key_count_is_bounded() {
        let window = Duration::from_secs(60);
        let mut gate = StormGate::new(30, window, 3, "p".into());
        let t0 = Instant::now();
        for name in ["a", "b", "c", "d", "e"] {
            assert!(gate.admit(occurrence(name, 1), 1, t0).is_some());
        }
        assert_eq!(gate.tracked(), 3);
        gate.drain(t0 + window * 2);
        assert_eq!(gate.tracked(), 0);
    }

    #[test]
    fn threshold_zero_turns_folding_off() {
        let mut gate = StormGate::new(0, Duration::from_secs(60), 10, "p".into());
        let now = Instant::now();
        assert!((1..=100).all(|n| gate.admit(occurrence("web", n), 1, now).is_some()));
    }
}
