//! Where the live feed's listener is reached, and which origin is the console's.

use url::Url;

/// The listener's address as clients see it, and the console's origin.
#[derive(Debug, Clone)]
pub struct LiveFeedAddress {
    /// The port the listener bound.
    pub port: u16,
    /// `websocket.external_url`, when the listener is reached through another URL.
    pub external_url: Option<String>,
    /// The port the web server bound: the console's origin is on it.
    pub web_port: u16,
    /// `web.external_url`, whose origin is the console's too.
    pub web_external_url: Option<String>,
    /// The host named when a request names none (the web server's bound address).
    pub fallback_host: String,
}

impl LiveFeedAddress {
    /// The live feed's URL for a client that reached the web server as `host` (its
    /// `Host`): the same host at the listener's port, so that the console's session
    /// cookie goes with it; or `websocket.external_url`.
    pub fn url_for(&self, host: Option<&str>) -> String {
        match &self.external_url {
            Some(url) => url.clone(),
            None => {
                let host = host
                    .and_then(host_name)
                    .unwrap_or_else(|| self.fallback_host.clone());
                format!("ws://{host}:{}/ws", self.port)
            }
        }
    }

    /// The origin of [`Self::url_for`], for the console's `connect-src`.
    pub fn origin_for(&self, host: Option<&str>) -> String {
        Url::parse(&self.url_for(host))
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// Whether `origin` is the console's, for a handshake that reached the listener
    /// as `host`: the same host name at the web server's port, or `web.external_url`.
    pub fn is_console_origin(&self, origin: &str, host: Option<&str>) -> bool {
        let Ok(origin) = Url::parse(origin) else {
            return false;
        };
        let external = self
            .web_external_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok());
        if external.is_some_and(|u| u.origin() == origin.origin()) {
            return true;
        }
        let Some(host) = host.and_then(host_name) else {
            return false;
        };
        matches!(origin.scheme(), "http" | "https")
            && origin.host_str() == Some(host.as_str())
            && origin.port_or_known_default() == Some(self.web_port)
    }
}

/// The host name of a `Host` value (`name[:port]`), as the URL parser reads it (a
/// bracketed IPv6 address stays bracketed); `None` if it is no host.
fn host_name(host: &str) -> Option<String> {
    let url = Url::parse(&format!("http://{host}")).ok()?;
    if !url.username().is_empty() || url.path() != "/" || url.query().is_some() {
        return None;
    }
    url.host_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> LiveFeedAddress {
        LiveFeedAddress {
            port: 3001,
            external_url: None,
            web_port: 3000,
            web_external_url: None,
            fallback_host: "127.0.0.1".into(),
        }
    }

    #[test]
    fn the_url_follows_the_host_the_console_was_loaded_from() {
        let a = address();
        assert_eq!(a.url_for(Some("localhost:3000")), "ws://localhost:3001/ws");
        assert_eq!(a.url_for(Some("[::1]:3000")), "ws://[::1]:3001/ws");
        assert_eq!(a.url_for(None), "ws://127.0.0.1:3001/ws");
        // Nothing of a forged Host but a host name reaches the URL or the policy.
        assert_eq!(
            a.url_for(Some("x y; script-src *")),
            "ws://127.0.0.1:3001/ws"
        );
        assert_eq!(a.url_for(Some("a/b")), "ws://127.0.0.1:3001/ws");
        assert_eq!(a.origin_for(Some("localhost:3000")), "ws://localhost:3001");
        let proxied = LiveFeedAddress {
            external_url: Some("wss://steward.example/live".into()),
            ..address()
        };
        assert_eq!(proxied.url_for(Some("x")), "wss://steward.example/live");
        assert_eq!(proxied.origin_for(None), "wss://steward.example");
    }

    #[test]
    fn the_console_origin_is_the_web_port_of_the_same_host() {
        let a = address();
        let host = Some("localhost:3001");
        assert!(a.is_console_origin("http://localhost:3000", host));
        assert!(!a.is_console_origin("http://localhost:3001", host));
        assert!(!a.is_console_origin("http://evil.example:3000", host));
        assert!(!a.is_console_origin("null", host));
        assert!(!a.is_console_origin("http://localhost:3000", None));
        let proxied = LiveFeedAddress {
            web_external_url: Some("https://steward.example".into()),
            ..address()
        };
        assert!(proxied.is_console_origin("https://steward.example", Some("10.0.0.1:3001")));
    }
}
