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
