//! What can go wrong talking to a cluster, each case worded for the provider's status
//! line in Steward's own words: an operator reading it should know what to fix. A
//! remote answer's body is never copied into it (a hostile or confused endpoint must not
//! be able to write into our statuses), and credentials never appear.

use std::error::Error as _;

/// Why a request to a cluster failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeError {
    #[error("cannot connect to {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("TLS error talking to {server}: {reason}")]
    Tls { server: String, reason: String },
    #[error("{server} did not answer in time")]
    Timeout { server: String },
    #[error("unauthorized (HTTP 401): {server} rejected the credentials")]
    Unauthorized { server: String },
    #[error("forbidden (HTTP 403): the credentials may not {verb} {resource}")]
    Forbidden { verb: String, resource: String },
    #[error("not found (HTTP 404): {resource} is not served by this cluster")]
    NotFound { resource: String },
    #[error("the history of {resource} is gone (HTTP 410): a relist is needed")]
    Gone { resource: String },
    #[error("{verb} {resource} failed: the server answered HTTP {status}")]
    Http {
        verb: String,
        resource: String,
        status: u16,
    },
    #[error("cannot read the answer to {verb} {resource}: {reason}")]
    Decode {
        verb: String,
        resource: String,
        reason: String,
    },
    #[error("cannot obtain credentials: {0}")]
    Credentials(String),
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
            KubeError::Unauthorized { .. }
                | KubeError::Forbidden { .. }
                | KubeError::Config(_)
                | KubeError::Credentials(_)
        )
    }
}

/// Classifies an error of the `kube` client for `verb resource` on `server`.
pub fn from_kube(error: &kube::Error, verb: &str, resource: &str, server: &str) -> KubeError {
    let server = server.to_string();
    let (verb, resource) = (verb.to_string(), resource.to_string());
    match error {
        kube::Error::Api(status) => from_status(status.code, &verb, &resource, &server),
        kube::Error::SerdeError(e) => KubeError::Decode {
            verb,
            resource,
            reason: format!(
                "not the JSON expected (at line {} column {})",
                e.line(),
                e.column()
            ),
        },
        kube::Error::Auth(e) => KubeError::Credentials(auth_reason(e)),
        kube::Error::RustlsTls(e) => KubeError::Tls {
            server,
            reason: e.to_string(),
        },
        kube::Error::InferKubeconfig(e) => KubeError::Config(format!("kubeconfig: {e}")),
        other => from_transport(other, server),
    }
}

/// Classifies an error of `kube_runtime::watcher` for `resource`.
pub fn from_watcher(
    error: &kube::runtime::watcher::Error,
    resource: &str,
    server: &str,
) -> KubeError {
    use kube::runtime::watcher::Error as W;
    match error {
        W::InitialListFailed(e) => from_kube(e, "list", resource, server),
        W::WatchStartFailed(e) | W::WatchFailed(e) => from_kube(e, "watch", resource, server),
        W::WatchError(status) => from_status(status.code, "watch", resource, server),
        W::NoResourceVersion => KubeError::Decode {
            verb: "watch".into(),
            resource: resource.into(),
            reason: "the list carried no resourceVersion".into(),
        },
    }
}

fn from_status(code: u16, verb: &str, resource: &str, server: &str) -> KubeError {
    let (verb, resource) = (verb.to_string(), resource.to_string());
    match code {
        401 => KubeError::Unauthorized {
            server: server.to_string(),
        },
        403 => KubeError::Forbidden { verb, resource },
        404 => KubeError::NotFound { resource },
        410 => KubeError::Gone { resource },
        status => KubeError::Http {
            verb,
            resource,
            status,
        },
    }
}

/// Credential failures, worded without the plugin's output (which may hold secrets).
fn auth_reason(e: &kube::client::AuthError) -> String {
    use kube::client::AuthError as A;
    match e {
        A::AuthExecStart(io) => format!("the exec credential plugin could not be started ({io})"),
        A::AuthExecRun { out, .. } => format!("the exec credential plugin failed ({})", out.status),
        A::AuthExecParse(_) => "the exec credential plugin did not print an ExecCredential".into(),
        A::ExecPluginFailed => "the exec credential plugin returned no status".into(),
        A::ReadTokenFile(io, path) => format!("cannot read tokenFile {} ({io})", path.display()),
        A::MalformedTokenExpirationDate(_) => {
            "the exec credential plugin gave a malformed expirationTimestamp".into()
        }
        other => {
            let text = other.to_string();
            // OIDC and others: their messages are ours (kube's), not the remote's.
            text.chars().take(300).collect()
        }
    }
}

/// Transport failures: connection refused, TLS, timeout. The innermost cause is the
/// specific one (a local error, not a remote body).
fn from_transport(error: &kube::Error, server: String) -> KubeError {
    let mut root = error.to_string();
    let mut chain = root.clone();
    let mut timed_out = false;
    let mut tls: Option<String> = None;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            timed_out = true;
        }
        if let Some(t) = cause.downcast_ref::<rustls::Error>() {
            tls = Some(t.to_string());
        }
        root = cause.to_string();
        chain.push_str(": ");
        chain.push_str(&root);
        source = cause.source();
    }
    if let Some(reason) = tls {
        return KubeError::Tls { server, reason };
    }
    if timed_out || chain.to_ascii_lowercase().contains("timed out") {
        return KubeError::Timeout { server };
    }
    let lower = chain.to_ascii_lowercase();
    if ["certificate", "handshake", "unknownissuer", "tls"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return KubeError::Tls {
            server,
            reason: root,
        };
    }
    KubeError::Unreachable {
        server,
        reason: root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_worded_by_us_not_by_the_server() {
        let e = from_status(403, "list", "pods", "https://api:6443");
        assert_eq!(
            e.to_string(),
            "forbidden (HTTP 403): the credentials may not list pods"
        );
        assert!(from_status(401, "list", "pods", "https://api:6443").is_permanent());
        assert!(from_status(410, "watch", "pods", "https://api:6443").is_gone());
        assert!(matches!(
            from_status(404, "list", "images", "s"),
            KubeError::NotFound { .. }
        ));
        assert!(matches!(
            from_status(500, "list", "pods", "s"),
            KubeError::Http { status: 500, .. }
        ));
    }
}
