//! A Prometheus HTTP API client for capture: `query_range` over POST (queries naming
//! hundreds of objects are long), split into requests of at most 11,000 points per
//! series (Prometheus rejects more), with Prometheus' own credentials (none, its own
//! token, or the cluster's only when the provider says `same_as_provider`) and its own
//! trust (its CA only, else the provider's, else the system roots). Failures are
//! worded by us: a remote body is never copied into a status.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as _;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::providers::PrometheusAccess;

/// Why a Prometheus request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PromError {
    #[error("cannot connect to {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("TLS error talking to {url}: {reason}")]
    Tls { url: String, reason: String },
    #[error("{url} did not answer within {}s", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    #[error("unauthorized (HTTP 401): {url} rejected the credentials (see prometheus_auth)")]
    Unauthorized { url: String },
    #[error("forbidden (HTTP 403): {url} refused the query")]
    Forbidden { url: String },
    #[error("not found (HTTP 404): {url} is not a Prometheus API")]
    NotFound { url: String },
    #[error("{url} answered HTTP {status}, not a Prometheus answer")]
    Http { url: String, status: u16 },
    #[error("Prometheus refused the query at {url} ({error_type})")]
    Query { url: String, error_type: String },
    #[error("cannot read the answer of {url}: {reason}")]
    Decode { url: String, reason: String },
    #[error("{0}")]
    Config(String),
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| url.to_string())
}

fn from_transport(url: &str, error: &reqwest::Error, timeout: Duration) -> PromError {
    let url = origin(url);
    if error.is_timeout() {
        return PromError::Timeout {
            url,
            after: timeout,
        };
    }
    let mut root = error.to_string();
    let mut tls = None;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(t) = cause.downcast_ref::<rustls::Error>() {
            tls = Some(t.to_string());
        }
        root = cause.to_string();
        source = cause.source();
    }
    match tls {
        Some(reason) => PromError::Tls { url, reason },
        None => PromError::Unreachable { url, reason: root },
    }
}

/// Prometheus refuses a range query over more points than this per series.
pub const MAX_POINTS: i64 = 11_000;

/// One series of a matrix: its labels and its (unix seconds, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(i64, f64)>,
}

#[derive(Clone)]
pub struct PromClient {
    base: String,
    http: reqwest::Client,
    token: Option<SecretString>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<MatrixData>,
    #[serde(default)]
    error: String,
    #[serde(default, rename = "errorType")]
    error_type: String,
}

#[derive(Deserialize)]
struct MatrixData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The time ranges `(start, end)` a range query is split into so that none has more
/// than [`MAX_POINTS`] points; consecutive ranges do not overlap.
pub fn split_range(start: i64, end: i64, step: i64) -> Vec<(i64, i64)> {
    let step = step.max(1);
    let span = (MAX_POINTS - 1) * step;
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = (from + span).min(end);
        out.push((from, to));
        from = to + step;
    }
    out
}

impl PromClient {
    pub fn new(
        access: &PrometheusAccess,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, PromError> {
        crate::tls::install_crypto_provider();
        let base = crate::kube::check_api_url(&access.url, access.allow_insecure_http)
            .map_err(|e| PromError::Config(format!("Prometheus URL {e}")))?
            .as_str()
            .trim_end_matches('/')
            .to_string();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(!access.verify_tls)
            .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &access.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                PromError::Config(format!("the Prometheus CA is not valid PEM: {e}"))
            })?;
            // That CA only, as kubectl does for a cluster: not added to the public roots.
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| PromError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base,
            http,
            token: access.token.clone(),
            timeout,
        })
    }

    /// `query_range` from `start` to `end` (unix seconds) every `step` seconds, in as
    /// many requests as the 11,000-point limit needs; series are merged by labels.
    pub async fn query_range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, PromError> {
        let mut merged: HashMap<BTreeMap<String, String>, Vec<(i64, f64)>> = HashMap::new();
        for (from, to) in split_range(start, end, step) {
            for s in self.one_range(query, from, to, step).await? {
                merged.entry(s.labels).or_default().extend(s.points);
            }
        }
        let mut out: Vec<Series> = merged
            .into_iter()
            .map(|(labels, mut points)| {
                points.sort_by_key(|p| p.0);
                points.dedup_by_key(|p| p.0);
                Series { labels, points }
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    async fn one_range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, PromError> {
        let url = format!("{}/api/v1/query_range", self.base);
        let form = [
            ("query", query.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ];
        let mut request = self.http.post(&url).form(&form);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|e| from_transport(&url, &e, self.timeout))?;
        let status = response.status();
        match status.as_u16() {
            401 => return Err(PromError::Unauthorized { url }),
            403 => return Err(PromError::Forbidden { url }),
            404 => return Err(PromError::NotFound { url }),
            _ => {}
        }
        let text = response.text().await.map_err(|e| PromError::Decode {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let envelope: Envelope = serde_json::from_str(&text).map_err(|_| PromError::Http {
            url: url.clone(),
            status: status.as_u16(),
        })?;
        if envelope.status != "success" {
            // Prometheus' errorType is one of a few words; its error text stays out.
            let error_type: String = envelope
                .error_type
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            tracing::debug!(%url, error_type, "Prometheus refused a query");
            let _ = envelope.error;
            return Err(PromError::Query { url, error_type });
        }
        let data = envelope.data.ok_or_else(|| PromError::Decode {
            url: url.clone(),
            reason: "no data in a successful answer".into(),
        })?;
        if data.result_type != "matrix" {
            return Err(PromError::Decode {
                url,
                reason: "expected a matrix".into(),
            });
        }
        Ok(data
            .result
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                points: s
                    .values
                    .into_iter()
                    .filter_map(|(t, v)| {
                        let v: f64 = v.parse().ok()?;
                        v.is_finite().then_some((t.round() as i64, v))
                    })
                    .collect(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_split_at_the_point_limit() {
        assert_eq!(
            split_range(0, 11_000, 1),
            vec![(0, 10_999), (11_000, 11_000)]
        );
        assert_eq!(split_range(0, 10_999, 1), vec![(0, 10_999)]);
        let parts = split_range(1_000, 1_000 + 20 * 30_000, 20);
        assert!(parts.iter().all(|(a, b)| (b - a) / 20 < MAX_POINTS));
        assert_eq!(parts.first().map(|p| p.0), Some(1_000));
        assert_eq!(parts.last().map(|p| p.1), Some(1_000 + 20 * 30_000));
        assert!(parts.windows(2).all(|w| w[1].0 == w[0].1 + 20));
        assert_eq!(split_range(5, 4, 20), vec![]);
    }
}
