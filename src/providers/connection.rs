//! How to reach a provider's cluster: its endpoint and TLS settings, with the bearer
//! token decrypted (or read from its kubeconfig) only here, at the moment of use.

use std::path::Path;

use super::record::Provider;
use crate::crypto::KeyRing;
use crate::kube::{Connection, read_kubeconfig};
use crate::settings::RefreshSettings;

/// The connection for `p`, or why there is none (shown as the provider's status).
pub fn connection_for(
    p: &Provider,
    keys: &KeyRing,
    settings: &RefreshSettings,
) -> Result<Connection, String> {
    let mut c = Connection {
        api_url: p.api_url.clone(),
        token: None,
        verify_tls: p.verify_tls,
        ca_pem: (!p.ca_cert.is_empty()).then(|| p.ca_cert.clone()),
        connect_timeout: settings.connect_timeout,
        request_timeout: settings.request_timeout,
    };
    if p.auth_kind == "kubeconfig" {
        let target = read_kubeconfig(Path::new(&p.kubeconfig_path))?;
        c.api_url = target.server;
        c.token = target.token;
        c.ca_pem = c.ca_pem.or(target.ca_pem);
        c.verify_tls = c.verify_tls && !target.insecure;
    } else if !p.credentials.is_empty() {
        c.token = Some(keys.decrypt(&p.credentials).map_err(|e| e.to_string())?);
    }
    Ok(c)
}
