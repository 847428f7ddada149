//! How values look in JSON everywhere (API, `status --json`): ids as strings (region
//! ids exceed what JavaScript numbers hold exactly), times as ISO-8601 UTC with `Z` —
//! and the one check every piece of JSON from outside passes ([`check_input`]).

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

/// Deepest nesting of arrays and objects accepted from outside.
pub const MAX_INPUT_DEPTH: usize = 32;

/// Checks JSON that came from outside (an API body, a CLI argument): no NUL byte in any
/// string or key — PostgreSQL cannot store one in text, and it is the classic way to
/// cut a log line or a C string short — and no nesting deeper than
/// [`MAX_INPUT_DEPTH`]. The error names the place (`args.items[3]`).
pub fn check_input(value: &serde_json::Value) -> Result<(), String> {
    check_at(value, "", 0)
}

/// Walks `value`; `path` names where it is (`name`, `args.items[3]`).
fn check_at(value: &serde_json::Value, path: &str, depth: usize) -> Result<(), String> {
    let here = |p: &str| if p.is_empty() { "the body" } else { p }.to_string();
    if depth > MAX_INPUT_DEPTH {
        return Err(format!(
            "{} is nested deeper than {MAX_INPUT_DEPTH} levels",
            here(path)
        ));
    }
    match value {
        serde_json::Value::String(s) if s.contains('\0') => {
            Err(format!("`{}` contains a NUL byte", here(path)))
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_at(v, &format!("{path}[{i}]"), depth + 1)),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let key_path = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                return Err(format!("a key of {} contains a NUL byte", here(path)));
            }
            check_at(v, &key_path, depth + 1)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod input_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_bytes_are_named_where_they_are() {
        assert_eq!(check_input(&json!({"name": "ok"})), Ok(()));
        assert_eq!(
            check_input(&json!({"name": "a\u{0}b"})),
            Err("`name` contains a NUL byte".into())
        );
        assert_eq!(
            check_input(&json!({"args": {"items": ["x", "\u{0}"]}})),
            Err("`args.items[1]` contains a NUL byte".into())
        );
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(check_input(&deep).is_err_and(|e| e.contains("deeper than")));
    }
}
