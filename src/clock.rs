//! The node's own wall clock.
//!
//! A node asks here for "now" when it stamps its own records (a message's
//! `created_on`, a refresh's start, a worker's heartbeat). Decisions that several
//! nodes must agree on — heartbeats, "not responding", role leases, `deliver_on` —
//! use the database's clock instead ([`crate::db::db_now`]), so a node whose clock is
//! wrong can neither steal a lease nor be judged dead while it beats.
//!
//! `STEWARD_TEST_CLOCK_OFFSET` (`60s`, `-90s`, …) shifts this clock. It exists for the
//! tests that prove the sentence above; nothing else should set it.

use std::sync::OnceLock;

use chrono::NaiveDateTime;

/// The environment variable that shifts a node's clock (a test hook).
pub const OFFSET_VAR: &str = "STEWARD_TEST_CLOCK_OFFSET";

/// This node's idea of the current UTC time.
pub fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc() + offset()
}

/// This node's idea of the current time, in unix seconds.
pub fn unix_now() -> i64 {
    now().and_utc().timestamp()
}

fn offset() -> chrono::Duration {
    static OFFSET: OnceLock<chrono::Duration> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(OFFSET_VAR)
            .ok()
            .and_then(|text| parse_offset(&text))
            .unwrap_or_else(chrono::Duration::zero)
    })
}

/// `60s`, `-1m30s` → a signed duration; anything else → `None`.
fn parse_offset(text: &str) -> Option<chrono::Duration> {
    let text = text.trim();
    let (sign, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let duration = humantime::parse_duration(magnitude).ok()?;
    chrono::Duration::from_std(duration).ok().map(|d| d * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_with_a_sign() {
        assert_eq!(parse_offset("60s"), Some(chrono::Duration::seconds(60)));
        assert_eq!(parse_offset("-1m30s"), Some(chrono::Duration::seconds(-90)));
        assert_eq!(parse_offset("+2s"), Some(chrono::Duration::seconds(2)));
        assert_eq!(parse_offset("soon"), None);
    }
}
