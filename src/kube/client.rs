//! A small Kubernetes API client: discovery, paged lists and watches, over reqwest
//! with rustls. It reads only what the inventory needs, and turns every failure into
//! a [`KubeError`] that says what is wrong.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{KubeError, from_transport};
use super::types::{List, Status};
use super::watch::WatchStream;
use crate::crypto::Secret;

/// How to reach a cluster.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `https://api.cluster:6443` (or `http://` for a local simulator).
    pub api_url: String,
    pub token: Option<Secret>,
    pub verify_tls: bool,
    /// PEM of the CA that signed the API server's certificate, if not a public one.
    pub ca_pem: Option<String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// A client for one cluster.
#[derive(Clone)]
pub struct KubeClient {
    base: String,
    http: reqwest::Client,
    streams: reqwest::Client,
    token: Option<Secret>,
    request_timeout: Duration,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClient")
            .field("base", &self.base)
            .finish()
    }
}

/// Watches end server-side after this long; the client then resumes.
pub const WATCH_TIMEOUT_S: u64 = 290;

impl KubeClient {
    pub fn new(c: &Connection) -> Result<Self, KubeError> {
        crate::tls::install_crypto_provider();
        let base = c.api_url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(KubeError::Config(format!(
                "API URL `{base}` must start with https:// or http://"
            )));
        }
        let builder = || -> Result<reqwest::ClientBuilder, KubeError> {
            let mut b = reqwest::Client::builder()
                .connect_timeout(c.connect_timeout)
                .tls_danger_accept_invalid_certs(!c.verify_tls)
                .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")));
            if let Some(pem) = &c.ca_pem {
                let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                    KubeError::Config(format!("the CA certificate is not valid PEM: {e}"))
                })?;
                b = b.tls_certs_merge([cert]);
            }
            Ok(b)
        };
        let http = builder()?
            .timeout(c.request_timeout)
            .build()
            .map_err(|e| KubeError::Config(format!("cannot build the HTTP client: {e}")))?;
        let streams = builder()?
            .build()
            .map_err(|e| KubeError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base,
            http,
            streams,
            token: c.token.clone(),
            request_timeout: c.request_timeout,
        })
    }

    /// The API server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        let mut r = client.get(url).header("Accept", "application/json");
        if let Some(token) = &self.token {
            r = r.bearer_auth(token.expose());
        }
        r
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        url: &str,
    ) -> Result<reqwest::Response, KubeError> {
        let response = self
            .request(client, url)
            .send()
            .await
            .map_err(|e| from_transport(url, &e, self.request_timeout))?;
        check_status(url, response).await
    }

    /// `GET /version`: the server's version; the cheapest proof that the endpoint is
    /// reachable and the credentials are accepted.
    pub async fn version(&self) -> Result<String, KubeError> {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Version {
            git_version: String,
        }
        let url = format!("{}/version", self.base);
        let v: Version = decode(&url, self.send(&self.http, &url).await?).await?;
        Ok(v.git_version)
    }

    /// One page of a list.
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<List<T>, KubeError> {
        let mut url = format!("{}{}?limit={limit}", self.base, path);
        if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
            url.push_str("&continue=");
            url.push_str(&urlencode(token));
        }
        decode(&url, self.send(&self.http, &url).await?).await
    }

    /// Every item of a list, page by page; returns them with the list's
    /// resourceVersion (the point to watch from). A continue token that expires midway
    /// (410) restarts the list once from the beginning.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        page_size: u32,
    ) -> Result<(Vec<T>, String), KubeError> {
        let mut restarted = false;
        'list: loop {
            let mut items = Vec::new();
            let mut token: Option<String> = None;
            let mut version = String::new();
            loop {
                let page = match self.list_page::<T>(path, page_size, token.as_deref()).await {
                    Ok(p) => p,
                    Err(e) if e.is_gone() && !restarted => {
                        restarted = true;
                        continue 'list;
                    }
                    Err(e) => return Err(e),
                };
                if version.is_empty() {
                    version = page.metadata.resource_version.clone();
                }
                items.extend(page.items);
                if page.metadata.continue_token.is_empty() {
                    return Ok((items, version));
                }
                token = Some(page.metadata.continue_token);
            }
        }
    }

    /// Opens a watch from `resource_version` (with bookmarks).
    pub async fn watch<T: DeserializeOwned>(
        &self,
        path: &str,
        resource_version: &str,
        idle_timeout: Duration,
    ) -> Result<WatchStream<T>, KubeError> {
        let url = format!(
            "{}{}?watch=1&allowWatchBookmarks=true&timeoutSeconds={WATCH_TIMEOUT_S}&resourceVersion={}",
            self.base,
            path,
            urlencode(resource_version)
        );
        let response = self.send(&self.streams, &url).await?;
        Ok(WatchStream::new(url, response, idle_timeout))
    }
}

async fn check_status(
    url: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, KubeError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Status>(&body)
        .map(|s| s.message)
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| body.chars().take(300).collect());
    let url = url.to_string();
    Err(match status {
        StatusCode::UNAUTHORIZED => KubeError::Unauthorized { url },
        StatusCode::FORBIDDEN => KubeError::Forbidden { url, message },
        StatusCode::NOT_FOUND => KubeError::NotFound { url },
        StatusCode::GONE => KubeError::Gone { message },
        other => KubeError::Http {
            url,
            status: other.as_u16(),
            message,
        },
    })
}

async fn decode<T: DeserializeOwned>(
    url: &str,
    response: reqwest::Response,
) -> Result<T, KubeError> {
    let bytes = response.bytes().await.map_err(|e| KubeError::Decode {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| KubeError::Decode {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// Percent-encodes a query value (continue tokens are base64 with `=`, `+`, `/`).
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(urlencode("eyJ2Ijo=+/"), "eyJ2Ijo%3D%2B%2F");
        assert_eq!(urlencode("12345"), "12345");
    }

    #[test]
    fn a_url_without_scheme_is_a_configuration_error() {
        let c = Connection {
            api_url: "cluster:6443".into(),
            token: None,
            verify_tls: true,
            ca_pem: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        };
        assert!(matches!(KubeClient::new(&c), Err(KubeError::Config(_))));
    }
}
