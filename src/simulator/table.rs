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

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object (what `kubectl get --sort-by` sorts on).
    Object,
}

impl IncludeObject {
    /// The `includeObject` parameter; `None` when its value is not one of the three.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("") | Some("Metadata") => Some(IncludeObject::Metadata),
            Some("None") => Some(IncludeObject::None),
            Some("Object") => Some(IncludeObject::Object),
            Some(_) => None,
        }
    }
}

/// The table for a page of `resource`.
pub fn render(
    resource: Resource,
    page: &Page<'_>,
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let rows: Vec<Value> = page.items.iter().map(|o| row(o, include, now)).collect();
    let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
    if !page.continue_token.is_empty() {
        metadata["continue"] = json!(page.continue_token);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns(resource),
        "rows": rows,
    })
}

/// One watch event's object when the watcher asked for tables (`kubectl get -w`): a
/// Table of that one object's row. The columns come with every event (kubectl prints
/// its header again only when they change).
pub fn watch_row(resource: Resource, object: &Object, now: DateTime<Utc>) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": object.metadata.resource_version},
        "columnDefinitions": columns(resource),
        "rows": [row(object, IncludeObject::Metadata, now)],
    })
}

fn row(o: &Object, include: IncludeObject, now: DateTime<Utc>) -> Value {
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": o.metadata,
        }),
        IncludeObject::Object => json!(o),
    };
    json!({"cells": cells(o, now), "object": object})
}

/// kubectl's columns for `resource` (priority 1: only with `-o wide`).
fn columns(resource: Resource) -> Vec<Value> {
    match resource {
        Resource::Pod => vec![
            column("Name", "string", "name", 0),
            column("Ready", "string", "", 0),
            column("Status", "string", "", 0),
            column("Restarts", "string", "", 0),
            column("Age", "string", "", 0),
            column("IP", "string", "", 1),
            column("Node", "string", "", 1),
            column("Nominated Node", "string", "", 1),
            column("Readiness Gates", "string", "", 1),
        ],
        Resource::Node => vec![
            column("Name", "string", "name", 0),
            column("Status", "string", "", 0),
            column("Roles", "string", "", 0),
            column("Age", "string", "", 0),
            column("Version", "string", "", 0),
            column("Internal-IP", "string", "", 1),
            column("External-IP", "string", "", 1),
            column("OS-Image", "string", "", 1),
            column("Kernel-Version", "string", "", 1),
            column("Container-Runtime", "string", "", 1),
        ],
        Resource::Namespace => vec![
            column("Name", "string", "name", 0),
            column("Status", "string", "", 0),
            column("Age", "string", "", 0),
        ],
        Resource::Service => vec![
            column("Name", "string", "name", 0),
            column("Type", "string", "", 0),
            column("Cluster-IP", "string", "", 0),
            column("External-IP", "string", "", 0),
            column("Port(s)", "string", "", 0),
            column("Age", "string", "", 0),
            column("Selector", "string", "", 1),
        ],
        Resource::Deployment => vec![
            column("Name", "string", "name", 0),
            column("Ready", "string", "", 0),
            column("Up-to-date", "string", "", 0),
            column("Available", "string", "", 0),
            column("Age", "string", "", 0),
            column("Containers", "string", "", 1),
            column("Images", "string", "", 1),
            column("Selector", "string", "", 1),
        ],
        Resource::ReplicaSet | Resource::ReplicationController => vec![
            column("Name", "string", "name", 0),
            column("Desired", "string", "", 0),
            column("Current", "string", "", 0),
            column("Ready", "string", "", 0),
            column("Age", "string", "", 0),
            column("Containers", "string", "", 1),
            column("Images", "string", "", 1),
            column("Selector", "string", "", 1),
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
    }
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
            // kubectl's "3 (5m ago)": restarts and when the last one ended.
            let last_restart = p
                .status
                .container_statuses
                .iter()
                .filter_map(|s| match &s.last_state {
                    Some(ContainerState::Terminated { finished_at, .. }) => {
                        Some(finished_at.as_str())
                    }
                    _ => None,
                })
                .max();
            let restarts = match last_restart {
                Some(at) if restarts > 0 => format!("{restarts} ({} ago)", age(at, now)),
                _ => restarts.to_string(),
            };
            let node = if p.spec.node_name.is_empty() {
                "<none>"
            } else {
                &p.spec.node_name
            };
            vec![
                json!(o.metadata.name),
                json!(format!("{ready}/{}", p.spec.containers.len())),
                json!(waiting.unwrap_or(p.status.phase)),
                json!(restarts),
                json!(created),
                json!(ip),
                json!(node),
                json!("<none>"),
                json!("<none>"),
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
            let address = |kind: &str| {
                n.status
                    .addresses
                    .iter()
                    .find(|a| a.kind == kind)
                    .map_or("<none>", |a| a.address.as_str())
            };
            let info = &n.status.node_info;
            vec![
                json!(o.metadata.name),
                json!(status),
                json!(if roles.is_empty() {
                    "<none>".to_string()
                } else {
                    roles.join(",")
                }),
                json!(created),
                json!(info.kubelet_version),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                json!(info.os_image),
                json!(info.kernel_version),
                json!(info.container_runtime_version),
            ]
        }
        Body::Namespace(n) => vec![
            json!(o.metadata.name),
            json!(n.status.phase),
            json!(created),
        ],
        Body::Service(svc) => {
            let ports: Vec<String> = svc
                .spec
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.port, p.protocol))
                .collect();
            vec![
                json!(o.metadata.name),
                json!(svc.spec.kind),
                json!(svc.spec.cluster_ip),
                json!("<none>"),
                json!(ports.join(",")),
                json!(created),
                json!(label_list(&svc.spec.selector)),
            ]
        }
        Body::Workload(w) => {
            let containers = &w.spec.template.spec.containers;
            let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
            let images: Vec<&str> = containers.iter().map(|c| c.image.as_str()).collect();
            // apps/v1 `{"matchLabels": …}`, or a ReplicationController's plain map.
            let selector = w
                .spec
                .selector
                .get("matchLabels")
                .unwrap_or(&w.spec.selector);
            let selector: std::collections::BTreeMap<String, String> = selector
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let s = &w.status;
            let counts = if o.kind == "Deployment" {
                vec![
                    json!(format!("{}/{}", s.ready_replicas, w.spec.replicas)),
                    json!(s.updated_replicas.unwrap_or(s.replicas).to_string()),
                    json!(s.available_replicas.to_string()),
                ]
            } else {
                vec![
                    json!(w.spec.replicas.to_string()),
                    json!(s.replicas.to_string()),
                    json!(s.ready_replicas.to_string()),
                ]
            };
            let mut row = vec![json!(o.metadata.name)];
            row.extend(counts);
            row.extend([
                json!(created),
                json!(names.join(",")),
                json!(images.join(",")),
                json!(label_list(&selector)),
            ]);
            row
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

/// `a=b,c=d`, or `<none>`.
fn label_list(labels: &std::collections::BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "<none>".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
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
