//! How values look in JSON everywhere (API, `status --json`): ids as strings (region
//! ids exceed what JavaScript numbers hold exactly), times as ISO-8601 UTC with `Z`.

use chrono::NaiveDateTime;
use serde::Serializer;

/// An id as a JSON string.
pub fn id<S: Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// An optional id as a JSON string or null.
pub fn id_opt<S: Serializer>(id: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.to_string()),
        None => s.serialize_none(),
    }
}

/// A UTC time as `2026-11-21T18:23:32.696Z`.
pub fn utc<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_utc(t))
}

/// An optional UTC time, or null.
pub fn utc_opt<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_utc(t)),
        None => s.serialize_none(),
    }
}

/// The text form of a UTC time, millisecond precision.
pub fn format_utc(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A time given as unix seconds, as naive UTC (out of range: the epoch).
pub fn from_unix(seconds: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// A time a user typed: RFC 3339 (`2026-11-21T18:00:00Z`, or with an offset) or unix
/// seconds; `what` names the parameter or flag in the error.
pub fn parse_time_or_unix(value: &str, what: &str) -> Result<NaiveDateTime, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.naive_utc());
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0))
        .map(|t| t.naive_utc())
        .ok_or_else(|| format!("{what} must be an RFC 3339 time or unix seconds, not `{value}`"))
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        let t = parse_time_or_unix("2026-11-21T18:00:00+01:00", "start").unwrap();
        assert_eq!(t, from_unix(1_795_280_400));
        assert_eq!(parse_time_or_unix("1795280400", "start").unwrap(), t);
        let e = parse_time_or_unix("yesterday", "--from").unwrap_err();
        assert!(e.contains("--from") && e.contains("yesterday"), "{e}");
    }
}
