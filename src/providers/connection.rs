//! How to reach a provider's cluster and its Prometheus, with the credentials
//! decrypted only here, at the moment of use. The cluster's token goes to Prometheus
//! only when the provider says `prometheus_auth: same_as_provider`.

use secrecy::{ExposeSecret, SecretString};

use super::record::{Provider, Sealed};
use crate::crypto::{KeyRing, Secret};
use crate::kube::{ClusterAccess, ClusterAuth};
use crate::settings::RefreshSettings;

/// The decrypted value of a provider's sealed column, which the caller knows is set.
fn secret(keys: &KeyRing, p: &Provider, which: Sealed) -> Result<SecretString, String> {
    p.open(which, keys)
        .map_err(|e| e.to_string())?
        .map(Secret::into_secret_string)
        .ok_or_else(|| format!("provider `{}` has no stored credential", p.name))
}

/// The cluster access of `p`, or why there is none (shown as the provider's status).
pub fn access_for(
    p: &Provider,
    keys: &KeyRing,
    settings: &RefreshSettings,
) -> Result<ClusterAccess, String> {
    let auth = match p.auth_kind.as_str() {
        "kubeconfig" if p.credentials.is_empty() => {
            return Err(
                "kubeconfig paths on the server are no longer read; update the provider with the kubeconfig content (steward provider update ID --kubeconfig FILE)"
                    .into(),
            );
        }
        "kubeconfig" => ClusterAuth::Kubeconfig {
            content: secret(keys, p, Sealed::Cluster)?,
            context: (!p.kubeconfig_context.is_empty()).then(|| p.kubeconfig_context.clone()),
        },
        "in_cluster" => ClusterAuth::InCluster,
        _ if p.credentials.is_empty() => ClusterAuth::None,
        _ => ClusterAuth::Token(secret(keys, p, Sealed::Cluster)?),
    };
    Ok(ClusterAccess {
        api_url: p.api_url.clone(),
        auth,
        ca_pem: (!p.ca_cert.is_empty()).then(|| p.ca_cert.clone()),
        verify_tls: p.verify_tls,
        allow_insecure_http: p.allow_insecure_http,
        connect_timeout: settings.connect_timeout,
    })
}

/// How Steward reaches a provider's Prometheus.
#[derive(Debug, Clone)]
pub struct PrometheusAccess {
    pub url: String,
    /// The bearer token sent to Prometheus (None: no `Authorization` header).
    pub token: Option<SecretString>,
    /// The only CA trusted for it (None: the system roots).
    pub ca_pem: Option<String>,
    pub verify_tls: bool,
    pub allow_insecure_http: bool,
}

/// The Prometheus access of `p`: its own token, the cluster's (only when asked), or
/// none; its own CA, else the provider's.
pub fn prometheus_access_for(p: &Provider, keys: &KeyRing) -> Result<PrometheusAccess, String> {
    let token = match p.prometheus_auth.as_str() {
        "token" if !p.prometheus_credentials.is_empty() => {
            Some(secret(keys, p, Sealed::Prometheus)?)
        }
        "same_as_provider" => match p.auth_kind.as_str() {
            "kubeconfig" => {
                let content = secret(keys, p, Sealed::Cluster)?;
                let context =
                    (!p.kubeconfig_context.is_empty()).then_some(p.kubeconfig_context.as_str());
                Some(static_token(content.expose_secret(), context).ok_or(
                    "prometheus_auth is same_as_provider but the kubeconfig's user has no bearer token",
                )?)
            }
            _ if !p.credentials.is_empty() => Some(secret(keys, p, Sealed::Cluster)?),
            _ => None,
        },
        _ => None,
    };
    let ca = if !p.prometheus_ca_cert.is_empty() {
        Some(p.prometheus_ca_cert.clone())
    } else if !p.ca_cert.is_empty() {
        Some(p.ca_cert.clone())
    } else {
        None
    };
    Ok(PrometheusAccess {
        url: p.prometheus_url.clone(),
        token,
        ca_pem: ca,
        verify_tls: p.verify_tls,
        allow_insecure_http: p.allow_insecure_http,
    })
}

/// The bearer `token` of a kubeconfig context's user, if it has one (nothing runs,
/// no file is read).
fn static_token(content: &str, context: Option<&str>) -> Option<SecretString> {
    let config = kube::config::Kubeconfig::from_yaml(content).ok()?;
    let name = context
        .map(str::to_string)
        .or(config.current_context.clone())?;
    let user = config
        .contexts
        .iter()
        .find(|c| c.name == name)?
        .context
        .as_ref()?
        .user
        .clone()?;
    config
        .auth_infos
        .iter()
        .find(|u| u.name == user)?
        .auth_info
        .as_ref()?
        .token
        .clone()
}
