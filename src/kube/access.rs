//! How a provider is reached, and the [`kube::Client`] built from it.
//!
//! A provider is reached either with an API URL and a bearer token (or no
//! credentials), with a kubeconfig given as *content* (stored encrypted; a `context`
//! may be chosen), or with the node's in-cluster service account. `kube`'s
//! `Config::from_custom_kubeconfig` does the rest of what kubectl does: client
//! certificates, `tokenFile` (re-read every minute, as client-go does), `exec` plugins
//! (ExecCredential v1/v1beta1, renewed before their expiry), the OIDC auth-provider
//! with refresh, basic auth, `proxy-url`, `tls-server-name`,
//! `insecure-skip-tls-verify`.
//!
//! What is ours is the policy a kubeconfig sent over the API must satisfy, checked
//! when it is registered and again before every connection:
//!
//! - an `exec` plugin's command must be on `providers.exec_allowed_commands` (it runs
//!   a program on the node), and never runs interactively;
//! - a file a kubeconfig references (`tokenFile`, `client-certificate`, `client-key`,
//!   `certificate-authority`, OIDC's `idp-certificate-authority`) must be an absolute
//!   path inside `providers.credential_file_dirs` — otherwise whoever registers a
//!   provider could make the node send any of its files to a server of their choosing;
//! - `http://` servers only with `allow_insecure_http`, no credentials inside URLs.
//!
//! Trust is kubectl's: a CA given (by the provider or the kubeconfig) is the only
//! trust anchor; without one, the system roots.

use std::path::{Component, Path};
use std::time::Duration;

use kube::config::{ExecInteractiveMode, KubeConfigOptions, Kubeconfig};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::error::KubeError;
use crate::settings::ProviderSettings;

/// How a provider authenticates.
#[derive(Clone)]
pub enum ClusterAuth {
    /// No credentials (a test cluster, or a proxy that adds them).
    None,
    /// A bearer token.
    Token(SecretString),
    /// A kubeconfig's content, and the context to use (None: its current context).
    Kubeconfig {
        content: SecretString,
        context: Option<String>,
    },
    /// The node's own service account (Steward running as a pod).
    InCluster,
}

impl std::fmt::Debug for ClusterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClusterAuth::None => "None",
            ClusterAuth::Token(_) => "Token(****)",
            ClusterAuth::Kubeconfig { .. } => "Kubeconfig(****)",
            ClusterAuth::InCluster => "InCluster",
        })
    }
}

/// Everything needed to build a client for one cluster.
#[derive(Debug, Clone)]
pub struct ClusterAccess {
    /// The API server (for kubeconfig auth, the server of the chosen context).
    pub api_url: String,
    pub auth: ClusterAuth,
    /// PEM of the only CA to trust (overrides the kubeconfig's).
    pub ca_pem: Option<String>,
    /// False only when the user asked not to verify the server's certificate.
    pub verify_tls: bool,
    /// `http://` API servers are refused unless this is set.
    pub allow_insecure_http: bool,
    pub connect_timeout: Duration,
}

/// Parses an API (or Prometheus) URL once: `https://` (or `http://` when allowed), a
/// host, no credentials, no query or fragment. Returns it without a trailing `/`.
pub fn check_api_url(text: &str, allow_insecure_http: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http => {}
        "http" => {
            return Err(format!(
                "`{text}` is plain http://: credentials and inventory would travel unencrypted; use https:// (or set allow_insecure_http: true for a test cluster)"
            ));
        }
        other => return Err(format!("`{text}`: scheme `{other}` is not http(s)")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "credentials inside the URL are refused; give them as a token or kubeconfig".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{text}` must not carry a query or fragment"));
    }
    Ok(url)
}

/// The DER certificates of a PEM bundle; an error if there is none.
pub fn parse_ca_pem(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
        ders.push(cert.as_ref().to_vec());
    }
    if ders.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(ders)
}

/// What a kubeconfig says, once checked against the policy.
#[derive(Clone)]
pub struct KubeconfigSummary {
    /// The context used.
    pub context: String,
    /// Its cluster's server.
    pub server: Url,
    /// How its user authenticates: `token`, `token_file`, `client_certificate`,
    /// `exec`, `oidc`, `basic` or `none`.
    pub auth: &'static str,
    /// A static bearer token, if that is how it authenticates (for a Prometheus set
    /// to `same_as_provider`).
    pub static_token: Option<SecretString>,
    /// `insecure-skip-tls-verify: true`.
    pub insecure: bool,
    /// It names a CA for the server.
    pub has_ca: bool,
}

/// Parses kubeconfig `content` and checks the chosen context against `policy`.
pub fn inspect_kubeconfig(
    content: &str,
    context: Option<&str>,
    allow_insecure_http: bool,
    policy: &ProviderSettings,
) -> Result<(Kubeconfig, KubeconfigSummary), String> {
    let config = Kubeconfig::from_yaml(content).map_err(|e| {
        let text: String = e.to_string().chars().take(200).collect();
        format!("is not a valid kubeconfig: {text}")
    })?;
    let context_name = match context.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => config
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or("has no current-context; choose a context")?,
    };
    let ctx = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| format!("has no context `{context_name}`"))?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            format!(
                "context `{context_name}`: cluster `{}` not found",
                ctx.cluster
            )
        })?;
    let server = cluster
        .server
        .as_deref()
        .ok_or_else(|| format!("cluster `{}` has no server", ctx.cluster))?;
    let server = check_api_url(server, allow_insecure_http)
        .map_err(|e| format!("cluster `{}`: {e}", ctx.cluster))?;
    if let Some(proxy) = &cluster.proxy_url {
        let proxy_url =
            Url::parse(proxy).map_err(|e| format!("cluster `{}`: proxy-url: {e}", ctx.cluster))?;
        if !matches!(proxy_url.scheme(), "http" | "https") {
            return Err(format!(
                "cluster `{}`: proxy-url scheme `{}` is not supported (http or https)",
                ctx.cluster,
                proxy_url.scheme()
            ));
        }
    }
    if let Some(ca) = &cluster.certificate_authority {
        check_file(
            policy,
            &format!("cluster `{}`", ctx.cluster),
            "certificate-authority",
            ca,
        )?;
    }
    let has_ca =
        cluster.certificate_authority.is_some() || cluster.certificate_authority_data.is_some();
    let mut auth = "none";
    let mut static_token = None;
    if let Some(user_name) = ctx.user.as_deref().filter(|u| !u.is_empty()) {
        let user = config
            .auth_infos
            .iter()
            .find(|u| u.name == user_name)
            .and_then(|u| u.auth_info.as_ref())
            .ok_or_else(|| format!("context `{context_name}`: user `{user_name}` not found"))?;
        let what = format!("user `{user_name}`");
        for (field, path) in [
            ("tokenFile", &user.token_file),
            ("client-certificate", &user.client_certificate),
            ("client-key", &user.client_key),
        ] {
            if let Some(path) = path {
                check_file(policy, &what, field, path)?;
            }
        }
        if let Some(exec) = &user.exec {
            let command = exec.command.as_deref().unwrap_or_default();
            if !policy.exec_allowed_commands.iter().any(|c| c == command) {
                return Err(format!(
                    "{what}: the exec credential plugin `{command}` is not allowed on this region; an administrator must add it to providers.exec_allowed_commands"
                ));
            }
            auth = "exec";
        } else if let Some(provider) = &user.auth_provider {
            if provider.name != "oidc" {
                return Err(format!(
                    "{what}: auth-provider `{}` is not supported (oidc is; use an exec plugin such as kubelogin or gke-gcloud-auth-plugin)",
                    provider.name
                ));
            }
            if let Some(path) = provider.config.get("idp-certificate-authority") {
                check_file(policy, &what, "idp-certificate-authority", path)?;
            }
            auth = "oidc";
        } else if user.username.is_some() && user.password.is_some() {
            auth = "basic";
        } else if let Some(token) = &user.token {
            auth = "token";
            static_token = Some(token.clone());
        } else if user.token_file.is_some() {
            auth = "token_file";
        } else if user.client_certificate.is_some() || user.client_certificate_data.is_some() {
            if user.client_key.is_none() && user.client_key_data.is_none() {
                return Err(format!("{what}: a client certificate needs its client key"));
            }
            auth = "client_certificate";
        }
    }
    Ok((
        config.clone(),
        KubeconfigSummary {
            context: context_name,
            server,
            auth,
            static_token,
            insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
            has_ca,
        },
    ))
}

/// A file a kubeconfig references: an absolute path inside an allowed directory.
fn check_file(
    policy: &ProviderSettings,
    what: &str,
    field: &str,
    path: &str,
) -> Result<(), String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(format!(
            "{what}: {field} `{path}` is a relative path, which cannot be resolved for a kubeconfig sent as content; inline the data ({field}-data, token …) or use an absolute path"
        ));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("{what}: {field} `{path}` must not contain `..`"));
    }
    if !policy
        .credential_file_dirs
        .iter()
        .any(|dir| p.starts_with(dir))
    {
        return Err(format!(
            "{what}: {field} `{path}` is outside the directories this region reads credentials from (providers.credential_file_dirs); inline the data or ask an administrator"
        ));
    }
    Ok(())
}

/// The `kube` configuration for `access` (checks the policy again: settings may have
/// changed since the provider was registered).
pub async fn config_for(
    access: &ClusterAccess,
    policy: &ProviderSettings,
) -> Result<kube::Config, KubeError> {
    let mut config = match &access.auth {
        ClusterAuth::None | ClusterAuth::Token(_) => {
            let url = check_api_url(&access.api_url, access.allow_insecure_http)
                .map_err(KubeError::Config)?;
            let uri = url
                .as_str()
                .trim_end_matches('/')
                .parse::<http::Uri>()
                .map_err(|e| KubeError::Config(format!("API URL: {e}")))?;
            let mut config = kube::Config::new(uri);
            if let ClusterAuth::Token(token) = &access.auth {
                config.auth_info.token = Some(token.clone());
            }
            config
        }
        ClusterAuth::Kubeconfig { content, context } => {
            let (mut kubeconfig, summary) = inspect_kubeconfig(
                content.expose_secret(),
                context.as_deref(),
                access.allow_insecure_http,
                policy,
            )
            .map_err(|e| KubeError::Config(format!("kubeconfig {e}")))?;
            for user in &mut kubeconfig.auth_infos {
                if let Some(exec) = user.auth_info.as_mut().and_then(|a| a.exec.as_mut()) {
                    // A node has no terminal: a plugin must never wait for a person.
                    exec.interactive_mode = Some(ExecInteractiveMode::Never);
                }
            }
            let options = KubeConfigOptions {
                context: Some(summary.context.clone()),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| KubeError::Config(format!("kubeconfig: {e}")))?
        }
        ClusterAuth::InCluster => in_cluster(&policy.service_account_dir)
            .map_err(|e| KubeError::Config(format!("in-cluster configuration: {e}")))?,
    };
    if let Some(pem) = &access.ca_pem {
        config.root_cert =
            Some(parse_ca_pem(pem).map_err(|e| KubeError::Config(format!("CA certificate {e}")))?);
        config.root_cert_file = None;
    }
    if !access.verify_tls {
        config.accept_invalid_certs = true;
    }
    config.connect_timeout = Some(access.connect_timeout);
    // Watches are protected by the watcher's idle timeout; a full refresh by its own.
    config.read_timeout = None;
    config.default_retry = false;
    Ok(config)
}

/// The pod's own service account, as kube's `Config::incluster` builds it (the API
/// server from `KUBERNETES_SERVICE_HOST`/`_PORT`, the service account's CA as the only
/// trust anchor, its token file re-read by kube as it rotates), but from `dir`
/// (`providers.service_account_dir`) rather than a fixed path — kube offers no other
/// directory, and tests need one.
fn in_cluster(dir: &std::path::Path) -> Result<kube::Config, String> {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("{name} is not set: is this node running in a pod?"))
    };
    let (host, port) = (
        env("KUBERNETES_SERVICE_HOST")?,
        env("KUBERNETES_SERVICE_PORT")?,
    );
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let url = Url::parse(&format!("https://{host}:{port}"))
        .map_err(|e| format!("KUBERNETES_SERVICE_HOST/PORT: {e}"))?;
    let uri = url
        .as_str()
        .trim_end_matches('/')
        .parse::<http::Uri>()
        .map_err(|e| format!("KUBERNETES_SERVICE_HOST/PORT: {e}"))?;
    let read = |name: &str| -> Result<String, String> {
        use std::io::Read;
        let path = dir.join(name);
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(1 << 20).read_to_string(&mut text))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text)
    };
    let ca = parse_ca_pem(&read("ca.crt")?).map_err(|e| format!("ca.crt: {e}"))?;
    let token_file = dir.join("token");
    if !token_file.is_file() {
        return Err(format!(
            "{}: no service account token",
            token_file.display()
        ));
    }
    let mut config = kube::Config::new(uri);
    config.default_namespace = read("namespace")
        .map(|ns| ns.trim().to_string())
        .ok()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".into());
    config.root_cert = Some(ca);
    config.auth_info = kube::config::AuthInfo {
        token_file: Some(token_file.display().to_string()),
        ..Default::default()
    };
    Ok(config)
}

/// A client for `access`. Building it may run an `exec` credential plugin, so it
/// happens on a blocking thread.
pub async fn connect(
    access: &ClusterAccess,
    policy: &ProviderSettings,
) -> Result<kube::Client, KubeError> {
    crate::tls::install_crypto_provider();
    let config = config_for(access, policy).await?;
    let server = access.api_url.clone();
    let built = tokio::task::spawn_blocking(move || kube::Client::try_from(config))
        .await
        .map_err(|e| KubeError::Config(format!("building the client panicked: {e}")))?;
    built.map_err(|e| super::error::from_kube(&e, "connect to", "the API server", &server))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ProviderSettings {
        ProviderSettings {
            exec_allowed_commands: vec!["kubelogin".into()],
            credential_file_dirs: vec!["/var/run/secrets".into()],
            service_account_dir: "/var/run/secrets/kubernetes.io/serviceaccount".into(),
        }
    }

    const CONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://api.prod:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
- name: lab
  cluster:
    server: http://127.0.0.1:8001
contexts:
- name: prod
  context: {cluster: prod-cluster, user: robot}
- name: lab
  context: {cluster: lab, user: robot}
- name: certs
  context: {cluster: prod-cluster, user: certuser}
- name: exec
  context: {cluster: prod-cluster, user: plugin}
- name: evil
  context: {cluster: prod-cluster, user: evil}
- name: file
  context: {cluster: prod-cluster, user: file}
users:
- name: robot
  user: {token: abc.def}
- name: certuser
  user: {client-certificate-data: AAAA, client-key-data: BBBB}
- name: plugin
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: kubelogin, args: [get-token]}
- name: evil
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, "id"]}
- name: file
  user: {tokenFile: token}
"#;

    #[test]
    fn contexts_are_chosen_and_auth_recognised() {
        let (_, s) = inspect_kubeconfig(CONFIG, None, false, &policy()).expect("prod");
        assert_eq!((s.context.as_str(), s.auth), ("prod", "token"));
        assert_eq!(s.server.as_str(), "https://api.prod:6443/");
        assert!(s.static_token.is_some() && s.has_ca);
        let (_, s) = inspect_kubeconfig(CONFIG, Some("certs"), false, &policy()).expect("certs");
        assert_eq!(s.auth, "client_certificate");
        let (_, s) = inspect_kubeconfig(CONFIG, Some("exec"), false, &policy()).expect("exec");
        assert_eq!(s.auth, "exec");
    }

    #[test]
    fn policy_violations_are_explained() {
        let err = |ctx: &str| {
            inspect_kubeconfig(CONFIG, Some(ctx), false, &policy())
                .err()
                .unwrap_or_default()
        };
        assert!(
            err("evil").contains("exec_allowed_commands"),
            "{}",
            err("evil")
        );
        assert!(err("file").contains("relative path"), "{}", err("file"));
        assert!(err("lab").contains("http://"), "{}", err("lab"));
        assert!(err("nope").contains("no context `nope`"));
        assert!(inspect_kubeconfig(CONFIG, Some("lab"), true, &policy()).is_ok());
        let outside = CONFIG.replace("tokenFile: token", "tokenFile: /etc/steward/v2_key");
        let e = inspect_kubeconfig(&outside, Some("file"), false, &policy())
            .err()
            .unwrap_or_default();
        assert!(e.contains("credential_file_dirs"), "{e}");
        let inside = CONFIG.replace("tokenFile: token", "tokenFile: /var/run/secrets/t");
        assert!(inspect_kubeconfig(&inside, Some("file"), false, &policy()).is_ok());
        assert!(inspect_kubeconfig("::: [", None, false, &policy()).is_err());
    }

    #[test]
    fn urls_are_parsed_once_and_strictly() {
        assert!(check_api_url("https://api:6443", false).is_ok());
        assert!(check_api_url("http://api:6443", false).is_err());
        assert!(check_api_url("http://api:6443", true).is_ok());
        assert!(check_api_url("https://user:pw@api:6443", false).is_err());
        assert!(check_api_url("api:6443", false).is_err());
        assert!(check_api_url("ftp://api", true).is_err());
        assert!(check_api_url("https://api/?a=b", false).is_err());
    }
}
