//! Reading a kubeconfig file: the current context's server, bearer token (inline or
//! `tokenFile`), CA (`certificate-authority-data` or a path) and
//! `insecure-skip-tls-verify`. Client-certificate users are refused with a clear
//! message (a token is what a manager of managers should be given).

use std::path::Path;

use base64::Engine;
use yaml_rust2::{Yaml, YamlLoader};

use crate::crypto::Secret;

/// What a kubeconfig says about how to reach its current cluster.
#[derive(Debug, Clone)]
pub struct KubeconfigTarget {
    pub server: String,
    pub token: Option<Secret>,
    pub ca_pem: Option<String>,
    pub insecure: bool,
}

/// Reads `path` and resolves its current context.
pub fn read_kubeconfig(path: &Path) -> Result<KubeconfigTarget, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_kubeconfig(&text, base).map_err(|e| format!("kubeconfig {}: {e}", path.display()))
}

/// Parses kubeconfig text; relative file references resolve against `base`.
pub fn parse_kubeconfig(text: &str, base: &Path) -> Result<KubeconfigTarget, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let doc = docs.first().ok_or("empty file")?;
    let current = doc["current-context"]
        .as_str()
        .ok_or("no current-context")?;
    let context = named(&doc["contexts"], current)
        .map(|c| &c["context"])
        .ok_or_else(|| format!("context `{current}` not found"))?;
    let cluster_name = context["cluster"]
        .as_str()
        .ok_or("the context names no cluster")?;
    let cluster = named(&doc["clusters"], cluster_name)
        .map(|c| &c["cluster"])
        .ok_or_else(|| format!("cluster `{cluster_name}` not found"))?;
    let server = cluster["server"]
        .as_str()
        .ok_or_else(|| format!("cluster `{cluster_name}` has no server"))?
        .to_string();
    let insecure = cluster["insecure-skip-tls-verify"]
        .as_bool()
        .unwrap_or(false);
    let ca_pem = if let Some(data) = cluster["certificate-authority-data"].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("certificate-authority-data is not base64: {e}"))?;
        Some(String::from_utf8(bytes).map_err(|_| "certificate-authority-data is not PEM")?)
    } else if let Some(file) = cluster["certificate-authority"].as_str() {
        let path = base.join(file);
        Some(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read CA {}: {e}", path.display()))?,
        )
    } else {
        None
    };
    let token = match context["user"].as_str() {
        None => None,
        Some(user_name) => {
            let user = named(&doc["users"], user_name)
                .map(|u| &u["user"])
                .ok_or_else(|| format!("user `{user_name}` not found"))?;
            if let Some(token) = user["token"].as_str() {
                Some(Secret::new(token.trim().to_string()))
            } else if let Some(file) = user["tokenFile"].as_str() {
                let path = base.join(file);
                let token = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read tokenFile {}: {e}", path.display()))?;
                Some(Secret::new(token.trim().to_string()))
            } else if !user["client-certificate"].is_badvalue()
                || !user["client-certificate-data"].is_badvalue()
            {
                return Err(format!(
                    "user `{user_name}` authenticates with a client certificate, which Steward does not support; give it a bearer token"
                ));
            } else {
                None
            }
        }
    };
    Ok(KubeconfigTarget {
        server,
        token,
        ca_pem,
        insecure,
    })
}

fn named<'a>(list: &'a Yaml, name: &str) -> Option<&'a Yaml> {
    list.as_vec()?
        .iter()
        .find(|item| item["name"].as_str() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    insecure-skip-tls-verify: true
contexts:
- name: prod
  context: {cluster: prod-cluster, user: robot}
- name: lab
  context: {cluster: lab, user: certuser}
users:
- name: robot
  user: {token: abc.def}
- name: certuser
  user: {client-certificate-data: AAAA, client-key-data: BBBB}
"#;

    #[test]
    fn the_current_context_gives_server_token_and_ca() {
        let t = parse_kubeconfig(CONFIG, Path::new("/")).expect("parses");
        assert_eq!(t.server, "https://api.prod:6443");
        assert_eq!(t.token.as_ref().map(Secret::expose), Some("abc.def"));
        assert!(
            t.ca_pem
                .as_deref()
                .is_some_and(|p| p.contains("BEGIN CERTIFICATE"))
        );
        assert!(!t.insecure);
    }

    #[test]
    fn client_certificates_and_missing_contexts_are_explained() {
        let lab = CONFIG.replace("current-context: prod", "current-context: lab");
        let err = parse_kubeconfig(&lab, Path::new("/")).expect_err("cert user");
        assert!(err.contains("client certificate"), "{err}");
        let none = CONFIG.replace("current-context: prod", "current-context: nope");
        assert!(
            parse_kubeconfig(&none, Path::new("/"))
                .expect_err("missing")
                .contains("nope")
        );
        assert!(parse_kubeconfig("::: not yaml [", Path::new("/")).is_err());
    }
}
