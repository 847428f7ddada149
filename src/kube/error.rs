//! What can go wrong talking to a cluster, each case worded for the provider's status
//! line: an operator reading it should know what to fix. Credentials never appear.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeError {
    #[error("cannot connect to {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("TLS error talking to {url}: {reason}")]
    Tls { url: String, reason: String },
    #[error("{url} did not answer within {}s", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    #[error("unauthorized: {url} rejected the credentials (HTTP 401); check the token")]
    Unauthorized { url: String },
    #[error("forbidden (HTTP 403) at {url}: {message}")]
    Forbidden { url: String, message: String },
    #[error("not found (HTTP 404): {url}")]
    NotFound { url: String },
    #[error("resource version too old (HTTP 410): {message}")]
    Gone { message: String },
    #[error("{url} answered HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },
    #[error("cannot read the answer of {url}: {reason}")]
    Decode { url: String, reason: String },
    #[error("{0}")]
    Config(String),
}

impl KubeError {
    /// A `410 Gone`: the list or watch must start over.
    pub fn is_gone(&self) -> bool {
        matches!(self, KubeError::Gone { .. })
    }

    /// Credentials or configuration are wrong: retrying soon will not help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            KubeError::Unauthorized { .. } | KubeError::Forbidden { .. } | KubeError::Config(_)
        )
    }
}

/// Turns a transport error into a specific one: connection refused, TLS, timeout.
/// Names the API server (scheme, host, port) and the root cause, nothing else.
pub fn from_transport(url: &str, error: &reqwest::Error, timeout: Duration) -> KubeError {
    let url = origin(url);
    if error.is_timeout() {
        return KubeError::Timeout {
            url,
            after: timeout,
        };
    }
    let (root, all) = causes(error);
    let lower = all.to_ascii_lowercase();
    if ["certificate", "tls", "handshake", "unknownissuer"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return KubeError::Tls { url, reason: root };
    }
    KubeError::Unreachable { url, reason: root }
}

/// The innermost cause (the specific one), and the whole chain (for classifying).
fn causes(error: &(dyn std::error::Error + 'static)) -> (String, String) {
    let mut root = error.to_string();
    let mut all = root.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        root = cause.to_string();
        all.push_str(": ");
        all.push_str(&root);
        source = cause.source();
    }
    (root, all)
}

/// `scheme://host:port` of a URL.
pub(super) fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => url.to_string(),
    }
}
