//! A Prometheus HTTP API client for capture: `query_range` over POST (queries naming
//! hundreds of objects are long), split into requests of at most 11,000 points per
//! series (Prometheus rejects more), with the provider's bearer token.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;

use crate::crypto::Secret;
use crate::kube::{KubeError, from_transport};

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
    token: Option<Secret>,
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
        base: &str,
        token: Option<Secret>,
        verify_tls: bool,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, KubeError> {
        crate::tls::install_crypto_provider();
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(KubeError::Config(format!(
                "Prometheus URL `{base}` must start with https:// or http://"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .tls_danger_accept_invalid_certs(!verify_tls)
            .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KubeError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base,
            http,
            token,
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
    ) -> Result<Vec<Series>, KubeError> {
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
    ) -> Result<Vec<Series>, KubeError> {
        let url = format!("{}/api/v1/query_range", self.base);
        let form = [
            ("query", query.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ];
        let mut request = self.http.post(&url).form(&form);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| from_transport(&url, &e, self.timeout))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(KubeError::Unauthorized { url });
        }
        let text = response.text().await.map_err(|e| KubeError::Decode {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let envelope: Envelope = serde_json::from_str(&text).map_err(|e| {
            let head: String = text.chars().take(200).collect();
            KubeError::Http {
                url: url.clone(),
                status: status.as_u16(),
                message: format!("not a Prometheus answer ({e}): {head}"),
            }
        })?;
        if envelope.status != "success" {
            return Err(KubeError::Http {
                url,
                status: status.as_u16(),
                message: format!("{}: {}", envelope.error_type, envelope.error),
            });
        }
        let data = envelope.data.ok_or_else(|| KubeError::Decode {
            url: url.clone(),
            reason: "no data in a successful answer".into(),
        })?;
        if data.result_type != "matrix" {
            return Err(KubeError::Decode {
                url,
                reason: format!("expected a matrix, got {}", data.result_type),
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
