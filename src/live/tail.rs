//! [`Tail`]: where a feed stands in a table it reads by id (the inventory change log,
//! `event_streams`). Ids are taken before commit, so a row may commit after a later
//! one: the tail remembers the ids it skipped over ("holes", at most [`MAX_HOLES`], for
//! [`HOLE_TTL`]) and asks for them again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Skipped ids asked for again, at most…
const MAX_HOLES: usize = 1_000;
/// …and for this long (a transaction that takes longer to commit is missed).
const HOLE_TTL: Duration = Duration::from_secs(120);

/// Where the tail of a table stands.
#[derive(Debug, Default)]
pub struct Tail {
    /// The newest id read (None: no baseline yet — what was recorded before anyone
    /// listened is history).
    newest: Option<i64>,
    /// Ids below `newest` not seen yet (perhaps still uncommitted), with when they were
    /// first skipped.
    holes: BTreeMap<i64, Instant>,
}

impl Tail {
    /// Whether the tail has not taken its baseline yet.
    pub fn needs_baseline(&self) -> bool {
        self.newest.is_none()
    }

    /// The newest id read, if the baseline is taken.
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// Takes the table's newest id as the baseline.
    pub fn start_at(&mut self, newest: Option<i64>) {
        self.newest = Some(newest.unwrap_or(0));
        self.holes.clear();
    }

    /// The ids skipped over, to be asked for again.
    pub fn holes(&self) -> Vec<i64> {
        self.holes.keys().copied().collect()
    }

    /// Takes in the ids of the rows read; remembers the holes.
    pub fn saw(&mut self, ids: &[i64]) {
        let now = Instant::now();
        for &id in ids {
            self.holes.remove(&id);
            let newest = self.newest.unwrap_or(id);
            if id > newest {
                // Ids skipped between the newest and this one may commit later.
                for hole in (newest + 1)..id {
                    if self.holes.len() >= MAX_HOLES {
                        break;
                    }
                    self.holes.insert(hole, now);
                }
            }
            self.newest = Some(newest.max(id));
        }
        self.holes.retain(|_, since| since.elapsed() < HOLE_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_remembers_skipped_ids_until_they_come() {
        let mut tail = Tail::default();
        assert!(tail.needs_baseline());
        tail.start_at(Some(10));
        tail.saw(&[11, 14]);
        assert_eq!(tail.newest(), Some(14));
        assert_eq!(tail.holes(), vec![12, 13]);
        tail.saw(&[13]);
        assert_eq!(
            tail.newest(),
            Some(14),
            "a late row does not move the tail back"
        );
        assert_eq!(tail.holes(), vec![12]);
        tail.saw(&[1_000_000]);
        assert!(tail.holes().len() <= MAX_HOLES, "bounded");
    }
}
