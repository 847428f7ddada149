//! `POST /api/alertmanager`: Prometheus Alertmanager's webhook (version 4). Firing
//! alerts become Steward alerts attached to a container node or to a provider (the
//! seed's `miqTarget` annotation: `ContainerNode` or `ExtManagementSystem`), with
//! severity, description and URL; resolved ones close; the same fingerprint and start
//! update the same row. A payload is checked whole before anything is stored.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{NewAlert, SOURCE_ALERTMANAGER, record_episode_in};
use crate::db::schema::{container_nodes as cn, providers as pv};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::with_backend;

/// Most alerts one payload may carry.
pub const MAX_ALERTS: usize = 1_000;
const MAX_LABELS: usize = 64;
const MAX_TEXT: usize = 4 * 1024;

/// Alertmanager's webhook body. Unknown fields are accepted (newer releases add some).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Payload {
    /// `"4"`.
    pub version: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default, rename = "groupKey")]
    pub group_key: String,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    #[serde(default, rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
    pub alerts: Vec<AmAlert>,
}

/// One alert of the payload.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AmAlert {
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(default, rename = "endsAt")]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// What one payload did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct IngestReport {
    pub received: usize,
    pub opened: usize,
    pub updated: usize,
    pub resolved: usize,
    /// The ids of the alerts written.
    pub ids: Vec<String>,
}

fn time(text: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).naive_utc())
}

/// Alertmanager's "not ended" is the zero time.
fn ended(text: &str) -> Option<NaiveDateTime> {
    time(text).filter(|t| t.and_utc().timestamp() > 0)
}

/// Checks a payload whole: a 400 names the first problem, and nothing is stored.
pub fn validate(p: &Payload) -> Result<(), String> {
    if p.version != "4" {
        return Err(format!(
            "version `{}` is not supported (Alertmanager's webhook version 4 is)",
            crate::text::elide(&p.version, 16)
        ));
    }
    if p.alerts.is_empty() || p.alerts.len() > MAX_ALERTS {
        return Err(format!("alerts must hold 1 to {MAX_ALERTS} alerts"));
    }
    for (i, a) in p.alerts.iter().enumerate() {
        let at = |why: String| format!("alerts[{i}]: {why}");
        if !matches!(a.status.as_str(), "firing" | "resolved") {
            return Err(at("status must be firing or resolved".into()));
        }
        if a.fingerprint.is_empty()
            || a.fingerprint.len() > 128
            || !a.fingerprint.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(at("fingerprint must be 1-128 letters and digits".into()));
        }
        if time(&a.starts_at).is_none() {
            return Err(at("startsAt is not an RFC 3339 time".into()));
        }
        if !a.ends_at.is_empty() && time(&a.ends_at).is_none() {
            return Err(at("endsAt is not an RFC 3339 time".into()));
        }
        if a.labels.len() > MAX_LABELS || a.annotations.len() > MAX_LABELS {
            return Err(at(format!("at most {MAX_LABELS} labels and annotations")));
        }
        let long = a
            .labels
            .iter()
            .chain(a.annotations.iter())
            .any(|(k, v)| k.len() > 256 || v.len() > MAX_TEXT)
            || a.generator_url.len() > MAX_TEXT;
        if long {
            return Err(at("a label, annotation or URL is too long".into()));
        }
        if a.labels.get("alertname").is_none_or(|n| n.is_empty()) {
            return Err(at("labels.alertname is missing".into()));
        }
    }
    Ok(())
}

fn severity(labels: &BTreeMap<String, String>) -> String {
    match labels
        .get("severity")
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("critical" | "error" | "page") => "error",
        Some("info" | "none") => "info",
        _ => "warning",
    }
    .to_string()
}

fn first<'a>(map: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a String> {
    keys.iter()
        .find_map(|k| map.get(*k).filter(|v| !v.is_empty()))
}

/// The node an alert is about: its `instance` label (a name or an address, with or
/// without a port), within the provider when one is known.
fn node_of(
    conn: &mut DbConnection,
    instance: &str,
    provider: Option<i64>,
) -> Result<Option<(i64, i64, String)>, DbError> {
    let host = instance_host(instance);
    let found: Vec<(i64, i64, String)> = with_backend!(conn, c => cn::table
        .filter(cn::deleted_on.is_null())
        .filter(cn::name.eq(&host).or(cn::internal_ip.eq(&host)))
        .select((cn::id, cn::provider_id, cn::name))
        .order(cn::id)
        .load(c))?;
    Ok(found
        .into_iter()
        .find(|(_, p, _)| provider.is_none_or(|want| want == *p)))
}

fn instance_host(instance: &str) -> String {
    instance
        .rsplit_once(':')
        .filter(|(_, port)| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
        .map_or(instance, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

fn provider_named(conn: &mut DbConnection, name: &str) -> Result<Option<i64>, DbError> {
    Ok(with_backend!(conn, c => pv::table
        .filter(pv::name.eq(name))
        .select(pv::id)
        .first(c)
        .optional())?)
}

/// Stores a validated payload; `provider_hint` is the provider the webhook's URL names
/// (`?provider_id=`), used when the labels name none.
pub fn ingest(
    conn: &mut DbConnection,
    p: &Payload,
    provider_hint: Option<i64>,
) -> Result<IngestReport, DbError> {
    write_transaction(conn, |conn| {
        let mut report = IngestReport {
            received: p.alerts.len(),
            ..Default::default()
        };
        for a in &p.alerts {
            let named = match first(&a.labels, &["provider", "cluster"]) {
                Some(name) => provider_named(conn, name)?,
                None => None,
            };
            let provider = named.or(provider_hint);
            let target = first(&a.annotations, &["miqTarget"]).map(String::as_str);
            let instance = first(&a.labels, &["instance", "node", "nodename"]);
            let node = match (target, instance) {
                (Some("ExtManagementSystem"), _) | (_, None) => None,
                (_, Some(i)) => node_of(conn, i, provider)?,
            };
            let (target_kind, target_name) = match (&node, provider) {
                (Some((_, _, name)), _) => ("container_node", name.clone()),
                (None, Some(_)) => ("provider", String::new()),
                (None, None) => ("none", String::new()),
            };
            let alert = NewAlert {
                source: SOURCE_ALERTMANAGER,
                name: a.labels.get("alertname").cloned().unwrap_or_default(),
                fingerprint: a.fingerprint.clone(),
                severity: severity(&a.labels),
                description: first(&a.annotations, &["description", "summary", "message"])
                    .cloned()
                    .unwrap_or_default(),
                url: first(&a.annotations, &["url", "runbook_url"])
                    .cloned()
                    .unwrap_or_else(|| a.generator_url.clone()),
                provider_id: node.as_ref().map(|n| n.1).or(provider),
                container_node_id: node.as_ref().map(|n| n.0),
                container_group_id: None,
                container_project_id: None,
                target_kind: target_kind.into(),
                target_name,
                labels: serde_json::to_string(&a.labels).unwrap_or_else(|_| "{}".into()),
                event_stream_id: None,
                started_on: time(&a.starts_at).unwrap_or_else(crate::clock::now),
            };
            let end = (a.status == "resolved")
                .then(|| ended(&a.ends_at).unwrap_or_else(crate::clock::now));
            let (id, new) = record_episode_in(conn, &alert, end)?;
            report.ids.push(id.to_string());
            match (new, end.is_some()) {
                (_, true) => report.resolved += 1,
                (true, false) => report.opened += 1,
                (false, false) => report.updated += 1,
            }
        }
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        serde_json::from_value(serde_json::json!({
            "receiver": "hook", "status": "firing", "version": "4", "newField": 1,
            "alerts": [{"status": "firing", "labels": {"alertname": "NodeDown", "instance": "node1:9100", "severity": "critical"},
                "annotations": {"summary": "down"}, "startsAt": "2026-11-21T16:50:58.373562775Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "12b184f550b3a98d"}],
            "groupKey": "{}:{alertname=\"NodeDown\"}", "truncatedAlerts": 0
        }))
        .expect("the captured payload reads")
    }

    #[test]
    fn the_captured_payload_is_valid() {
        let p = payload();
        assert_eq!(validate(&p), Ok(()));
        assert_eq!(severity(&p.alerts[0].labels), "error");
        assert_eq!(
            ended(&p.alerts[0].ends_at),
            None,
            "the zero time is not an end"
        );
        assert_eq!(instance_host("node1:9100"), "node1");
        assert_eq!(instance_host("[fd00::1]:9100"), "fd00::1");
        assert_eq!(instance_host("node1"), "node1");
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let mut p = payload();
        p.version = "3".into();
        assert!(validate(&p).is_err_and(|e| e.contains("version")));
        let mut p = payload();
        p.alerts[0].status = "burning".into();
        assert!(validate(&p).is_err());
        let mut p = payload();
        p.alerts[0].fingerprint = "x; DROP TABLE".into();
        assert!(validate(&p).is_err());
        let mut p = payload();
        p.alerts[0].starts_at = "yesterday".into();
        assert!(validate(&p).is_err());
        let mut p = payload();
        p.alerts[0].labels.remove("alertname");
        assert!(validate(&p).is_err());
        let mut p = payload();
        p.alerts.clear();
        assert!(validate(&p).is_err());
    }
}
