//! Human durations (`500ms`, `10s`, `50m`, `2h`, `1d`) and sizes (`512KiB`, `300MB`,
//! `1GiB`), parsed and printed the same way everywhere.

use std::time::Duration;

/// Parses a human duration such as `10s`, `1m30s`, `2h` or `250ms`.
/// A bare number is refused: the unit is what makes a settings file readable.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` has no unit (write e.g. `{text}s`)"));
    }
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration ({e})"))
}

/// Prints a duration the way settings are written (`5s`, `2m`, `1h 30m`).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(d).to_string()
}

const UNITS: &[(&str, u64)] = &[
    ("tib", 1 << 40),
    ("gib", 1 << 30),
    ("mib", 1 << 20),
    ("kib", 1 << 10),
    ("tb", 1_000_000_000_000),
    ("gb", 1_000_000_000),
    ("mb", 1_000_000),
    ("kb", 1_000),
    ("b", 1),
];

/// Parses a size in bytes: `1024`, `512KiB`, `300MB`, `1.5GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    if let Ok(n) = lower.parse::<u64>() {
        return Ok(n);
    }
    for (unit, factor) in UNITS {
        if let Some(number) = lower.strip_suffix(unit) {
            let number = number.trim();
            if let Ok(n) = number.parse::<u64>() {
                return n
                    .checked_mul(*factor)
                    .ok_or_else(|| format!("`{text}` is too large"));
            }
            if let Ok(f) = number.parse::<f64>()
                && f.is_finite()
                && f >= 0.0
            {
                return Ok((f * *factor as f64) as u64);
            }
            break;
        }
    }
    Err(format!(
        "`{text}` is not a size (write e.g. `512MiB` or `1GiB`)"
    ))
}

/// Prints a byte count with a binary unit (`1 GiB`, `12.3 MiB`).
pub fn format_size(bytes: u64) -> String {
    for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= factor {
            let value = bytes as f64 / factor as f64;
            return if bytes.is_multiple_of(factor) {
                format!("{}{unit}", bytes / factor)
            } else {
                format!("{value:.1}{unit}")
            };
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_accept_compound_forms() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ten seconds").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("300MB"), Ok(300_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1MB").is_err());
    }

    #[test]
    fn sizes_and_durations_print_back_readably() {
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(1536), "1.5KiB");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
    }
}
