//! HTTP requests answered by this node, by method, route pattern and status, for
//! `/metrics` (`steward_http_requests_total`). The route is the pattern that matched
//! (`/api/providers/{id}`), never the raw path, so the series stay bounded; requests
//! no route matched count as `unmatched`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// (method, route, status) → requests.
pub type RequestKey = (String, String, u16);

#[derive(Default)]
pub struct RequestCounts {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
}

/// Most distinct series kept (a bound against unexpected label growth).
const MAX_SERIES: usize = 5_000;

impl RequestCounts {
    pub fn record(&self, method: &str, route: &str, status: u16) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let key = (method.to_string(), route.to_string(), status);
        if let Some(n) = counts.get_mut(&key) {
            *n += 1;
        } else if counts.len() < MAX_SERIES {
            counts.insert(key, 1);
        }
    }

    pub fn snapshot(&self) -> Vec<(RequestKey, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_route_and_status() {
        let c = RequestCounts::default();
        c.record("GET", "/ping", 200);
        c.record("GET", "/ping", 200);
        c.record("GET", "unmatched", 401);
        let snap = c.snapshot();
        assert!(snap.contains(&(("GET".into(), "/ping".into(), 200), 2)));
        assert!(snap.contains(&(("GET".into(), "unmatched".into(), 401), 1)));
    }
}
