//! Server-side printing: the `meta.k8s.io/v1 Table` kubectl asks for, so `kubectl get`
//! shows the columns it shows against a real cluster (READY, STATUS, RESTARTS, …).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::objects::{Body, ContainerState, Object, Resource};
use super::store::Page;

/// Kubernetes' short human duration (`45s`, `3m12s`, `5h`, `12d`).
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y{}d", d / 365, d % 365),
    }
}

fn age(since: &str, now: DateTime<Utc>) -> String {
    DateTime::parse_from_rfc3339(since)
        .map(|t| human_age((now - t.with_timezone(&Utc)).num_seconds()))
        .unwrap_or_else(|_| "<unknown>".into())
}

fn column(name: &str, kind: &str, format: &str, priority: u8) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": name, "priority": priority})
}

/// The table for a page of `resource`.
pub fn render(resource: Resource, page: &Page<'_>, now: DateTime<Utc>) -> Value {
    let columns = match resource {
        Resource::Pod => vec![
            column("Name", "string", "name", 0),
            column("Ready", "string", "", 0),
            column("Status", "string", "", 0),
            column("Restarts", "string", "", 0),
            column("Age", "string", "", 0),
            column("IP", "string", "", 1),
            column("Node", "string", "", 1),
        ],
        Resource::Node => vec![
            column("Name", "string", "name", 0),
            column("Status", "string", "", 0),
            column("Roles", "string", "", 0),
            column("Age", "string", "", 0),
            column("Version", "string", "", 0),
            column("Internal-IP", "string", "", 1),
            column("OS-Image", "string", "", 1),
        ],
        Resource::Event => vec![
            column("Last Seen", "string", "", 0),
            column("Type", "string", "", 0),
            column("Reason", "string", "", 0),
            column("Object", "string", "", 0),
            column("Message", "string", "", 0),
        ],
        _ => vec![
            column("Name", "string", "name", 0),
            column("Age", "string", "", 0),
        ],
    };
    let rows: Vec<Value> = page
        .items
        .iter()
        .map(|o| {
            json!({
                "cells": cells(o, now),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.metadata,
                },
            })
        })
        .collect();
    let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
    if !page.continue_token.is_empty() {
        metadata["continue"] = json!(page.continue_token);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn cells(o: &Object, now: DateTime<Utc>) -> Vec<Value> {
    let created = age(&o.metadata.creation_timestamp, now);
    match &o.body {
        Body::Pod(p) => {
            let ready = p
                .status
                .container_statuses
                .iter()
                .filter(|s| s.ready)
                .count();
            let restarts: u32 = p
                .status
                .container_statuses
                .iter()
                .map(|s| s.restart_count)
                .sum();
            let waiting = p
                .status
                .container_statuses
                .iter()
                .find_map(|s| match &s.state {
                    ContainerState::Waiting { reason, .. } => Some(*reason),
                    _ => None,
                });
            let ip = if p.status.pod_ip.is_empty() {
                "<none>"
            } else {
                &p.status.pod_ip
            };
            vec![
                json!(o.metadata.name),
                json!(format!("{ready}/{}", p.spec.containers.len())),
                json!(waiting.unwrap_or(p.status.phase)),
                json!(restarts.to_string()),
                json!(created),
                json!(ip),
                json!(p.spec.node_name),
            ]
        }
        Body::Node(n) => {
            let status = if n.ready() == "True" {
                "Ready"
            } else {
                "NotReady"
            };
            let roles: Vec<&str> = o
                .metadata
                .labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            let ip = n.status.addresses.iter().find(|a| a.kind == "InternalIP");
            vec![
                json!(o.metadata.name),
                json!(status),
                json!(if roles.is_empty() {
                    "<none>".to_string()
                } else {
                    roles.join(",")
                }),
                json!(created),
                json!(n.status.node_info.kubelet_version),
                json!(ip.map_or("<none>", |a| a.address.as_str())),
                json!(n.status.node_info.os_image),
            ]
        }
        Body::Event(e) => vec![
            json!(age(&e.last_timestamp, now)),
            json!(e.kind),
            json!(e.reason),
            json!(format!(
                "{}/{}",
                e.involved_object.kind.to_lowercase(),
                e.involved_object.name
            )),
            json!(e.message),
        ],
        _ => vec![json!(o.metadata.name), json!(created)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(45), "45s");
        assert_eq!(human_age(192), "3m12s");
        assert_eq!(human_age(3600 * 5 + 60 * 7), "5h7m");
        assert_eq!(human_age(86_400 * 12), "12d");
        assert_eq!(human_age(-3), "0s");
    }
}
