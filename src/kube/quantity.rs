//! Kubernetes resource quantities (`250m`, `4`, `256Mi`, `1.5Gi`, `1e9`, `128974848`)
//! as plain numbers: CPU in millicores, everything else in base units (bytes).

/// CPU as millicores: `250m` → 250, `2` → 2000, `1.5` → 1500.
pub fn cpu_millicores(q: &str) -> Option<i64> {
    let q = q.trim();
    if let Some(milli) = q.strip_suffix('m') {
        return milli.parse::<f64>().ok().map(|v| v.round() as i64);
    }
    base_units(q).map(|v| (v * 1000.0).round() as i64)
}

/// A quantity in base units: `256Mi` → 268435456, `1G` → 1e9, `100m` → 0.1.
pub fn base_units(q: &str) -> Option<f64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = q.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|v| v * factor);
        }
    }
    q.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Bytes as an integer (`256Mi` → 268435456).
pub fn bytes(q: &str) -> Option<i64> {
    base_units(q).map(|v| v.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_become_millicores() {
        assert_eq!(cpu_millicores("250m"), Some(250));
        assert_eq!(cpu_millicores("4"), Some(4000));
        assert_eq!(cpu_millicores("1.5"), Some(1500));
        assert_eq!(cpu_millicores("lots"), None);
    }

    #[test]
    fn memory_quantities_become_bytes() {
        assert_eq!(bytes("256Mi"), Some(268_435_456));
        assert_eq!(bytes("16Gi"), Some(17_179_869_184));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("128974848"), Some(128_974_848));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes(""), None);
    }
}
