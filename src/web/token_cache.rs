//! A short-lived cache of who holds a token, so that a busy client's requests do not
//! each renew the token and reload the identity: an identity is reused for
//! `IDENTITY_FRESH`, and the token is renewed in the database (which also checks it
//! is still valid) at most every `renew_every` — min(10 s, a tenth of the TTL), so a
//! request after the TTL lapsed always reaches the database and is refused. Revoking a
//! token evicts it here at once; another node may accept it for up to `renew_every`.
//! Bounded: at most `MAX_ENTRIES` tokens (cleared when full).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::Identity;

/// How long a loaded identity is reused (role or group changes show after at most this).
const IDENTITY_FRESH: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    identity: Identity,
    loaded: Instant,
    renewed: Instant,
}

/// What the cache says about a token.
pub enum Cached {
    /// Use this identity; nothing to do in the database.
    Fresh(Identity),
    /// Known and loaded recently, but due for renewal (one statement).
    Renew(Identity),
    /// Unknown or stale: renew and load.
    Miss,
}

pub struct TokenCache {
    renew_every: Duration,
    entries: Mutex<HashMap<(String, Option<String>), Entry>>,
}

impl TokenCache {
    pub fn new(token_ttl: Duration) -> Self {
        Self {
            renew_every: (token_ttl / 10).min(Duration::from_secs(10)),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(token_hash: &str, group: Option<&str>) -> (String, Option<String>) {
        (token_hash.to_string(), group.map(str::to_string))
    }

    pub fn get(&self, token_hash: &str, group: Option<&str>) -> Cached {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = entries.get(&Self::key(token_hash, group)) else {
            return Cached::Miss;
        };
        let now = Instant::now();
        if now.duration_since(entry.loaded) >= IDENTITY_FRESH {
            Cached::Miss
        } else if now.duration_since(entry.renewed) >= self.renew_every {
            Cached::Renew(entry.identity.clone())
        } else {
            Cached::Fresh(entry.identity.clone())
        }
    }

    /// The token was renewed just now (and the identity loaded when `loaded`).
    pub fn put(&self, token_hash: &str, group: Option<&str>, identity: Identity, loaded: bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let key = Self::key(token_hash, group);
        if !loaded && let Some(entry) = entries.get_mut(&key) {
            entry.renewed = now;
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                identity,
                loaded: now,
                renewed: now,
            },
        );
    }

    /// Forgets a token (revoked, expired or unknown), whatever the group asked for.
    pub fn evict(&self, token_hash: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(hash, _), _| hash != token_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone() -> Identity {
        Identity {
            user_id: 1,
            userid: "a".into(),
            name: String::new(),
            group_id: 2,
            group: "g".into(),
            role: "viewer".into(),
            tenant_id: 3,
            tenant: "t".into(),
            root_tenant: true,
            groups: vec!["g".into()],
            features: Default::default(),
            filters: Default::default(),
        }
    }

    #[test]
    fn fresh_then_due_for_renewal_then_evicted() {
        let cache = TokenCache::new(Duration::from_millis(100));
        assert!(matches!(cache.get("h", None), Cached::Miss));
        cache.put("h", None, someone(), true);
        assert!(matches!(cache.get("h", None), Cached::Fresh(_)));
        assert!(matches!(cache.get("h", Some("other")), Cached::Miss));
        std::thread::sleep(Duration::from_millis(15));
        assert!(matches!(cache.get("h", None), Cached::Renew(_)));
        cache.put("h", None, someone(), false);
        assert!(matches!(cache.get("h", None), Cached::Fresh(_)));
        cache.evict("h");
        assert!(matches!(cache.get("h", None), Cached::Miss));
    }

    #[test]
    fn renewal_is_due_well_before_the_ttl() {
        assert!(TokenCache::new(Duration::from_secs(600)).renew_every <= Duration::from_secs(10));
        assert!(TokenCache::new(Duration::from_secs(3)).renew_every < Duration::from_secs(3));
    }
}
