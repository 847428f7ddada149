//! From what a cluster returned to inventory rows. Relations are carried as natural
//! keys (namespace, node name, owner uid, image and registry refs) and resolved to row
//! ids when saving; images and registries are derived from the pods' containers (and,
//! on OpenShift, from the image API when unused images are kept).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;

use super::image_ref::{digest_of, parse_image};
use super::rows::{
    ContainerRow, HashableF64, ImageRow, NodeRow, PodRow, ProjectRow, RegistryRow, ReplicatorRow,
    ServiceRow,
};
use crate::kube::quantity;
use crate::kube::types::{Namespace, Node, OpenShiftImage, OwnerReference, Pod, Service, Workload};

/// Everything a full refresh collected (or a targeted one's changed objects).
#[derive(Debug, Default, Clone)]
pub struct Collected {
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub replication_controllers: Vec<Workload>,
    pub replica_sets: Vec<Workload>,
    pub deployments: Vec<Workload>,
    /// OpenShift's `image.openshift.io` images (empty for Kubernetes).
    pub images: Vec<OpenShiftImage>,
}

impl Collected {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.namespaces.len()
            + self.nodes.len()
            + self.pods.len()
            + self.services.len()
            + self.replication_controllers.len()
            + self.replica_sets.len()
            + self.deployments.len()
            + self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What to keep.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    pub provider_id: i64,
    pub get_container_images: bool,
    pub store_unused_images: bool,
}

/// A row plus the natural keys of what it points to.
#[derive(Debug, Clone)]
pub struct Linked<R> {
    pub row: R,
    pub namespace: String,
    pub node_name: String,
    pub owner_uid: String,
    pub registry_ref: String,
    pub image_ref: String,
}

impl<R> Linked<R> {
    fn new(row: R) -> Self {
        Self {
            row,
            namespace: String::new(),
            node_name: String::new(),
            owner_uid: String::new(),
            registry_ref: String::new(),
            image_ref: String::new(),
        }
    }
}

/// A pod with its containers.
#[derive(Debug, Clone)]
pub struct ParsedPod {
    pub pod: Linked<PodRow>,
    pub containers: Vec<Linked<ContainerRow>>,
}

/// Inventory rows, ready to save.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    pub projects: Vec<ProjectRow>,
    pub nodes: Vec<NodeRow>,
    pub registries: Vec<RegistryRow>,
    pub images: Vec<Linked<ImageRow>>,
    pub replicators: Vec<Linked<ReplicatorRow>>,
    pub services: Vec<Linked<ServiceRow>>,
    pub pods: Vec<ParsedPod>,
}

const EPOCH: NaiveDateTime = NaiveDateTime::MIN;

/// RFC 3339 → naive UTC.
pub fn timestamp(text: &Option<String>) -> Option<NaiveDateTime> {
    text.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.naive_utc())
}

fn labels(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

/// The longest annotation value kept, in bytes.
const MAX_ANNOTATION_VALUE: usize = 4096;

/// Annotations as a JSON map, without the ones that copy whole objects
/// (`kubectl.kubernetes.io/last-applied-configuration`) or other values longer than
/// `MAX_ANNOTATION_VALUE`: they are documents, not something to filter on, and would
/// multiply the inventory's size.
fn annotations(map: &BTreeMap<String, String>) -> String {
    let kept: BTreeMap<&String, &String> = map
        .iter()
        .filter(|(k, v)| {
            v.len() <= MAX_ANNOTATION_VALUE
                && k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
        })
        .collect();
    serde_json::to_string(&kept).unwrap_or_else(|_| "{}".into())
}

/// Parses collected objects into rows.
pub fn parse(c: &Collected, o: ParseOptions) -> Parsed {
    let p = o.provider_id;
    let mut out = Parsed {
        projects: c.namespaces.iter().map(|n| project(p, n)).collect(),
        nodes: c.nodes.iter().map(|n| node(p, n)).collect(),
        ..Default::default()
    };
    for (kind, list) in [
        ("ReplicationController", &c.replication_controllers),
        ("ReplicaSet", &c.replica_sets),
        ("Deployment", &c.deployments),
    ] {
        out.replicators
            .extend(list.iter().map(|w| replicator(p, kind, w)));
    }
    out.services = c.services.iter().map(|s| service(p, s)).collect();
    let mut images: HashMap<String, Linked<ImageRow>> = HashMap::new();
    let mut registries: HashMap<String, RegistryRow> = HashMap::new();
    for pod_object in &c.pods {
        let parsed = pod(
            p,
            pod_object,
            o.get_container_images,
            &mut images,
            &mut registries,
        );
        out.pods.push(parsed);
    }
    if o.get_container_images && o.store_unused_images {
        for image in &c.images {
            add_openshift_image(p, image, &mut images, &mut registries);
        }
    }
    let mut images: Vec<Linked<ImageRow>> = images.into_values().collect();
    images.sort_by(|a, b| a.row.ems_ref.cmp(&b.row.ems_ref));
    let mut registries: Vec<RegistryRow> = registries.into_values().collect();
    registries.sort_by(|a, b| a.ems_ref.cmp(&b.ems_ref));
    out.images = images;
    out.registries = registries;
    out
}

fn project(p: i64, n: &Namespace) -> ProjectRow {
    ProjectRow {
        provider_id: p,
        ems_ref: n.metadata.uid.clone(),
        name: n.metadata.name.clone(),
        labels: labels(&n.metadata.labels),
        annotations: annotations(&n.metadata.annotations),
        phase: n.status.phase.clone(),
        creation_timestamp: timestamp(&n.metadata.creation_timestamp),
        resource_version: n.metadata.resource_version.clone(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    }
}

fn node(p: i64, n: &Node) -> NodeRow {
    let ready = n
        .status
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "Unknown".into());
    let capacity = |k: &str| n.status.capacity.get(k).map(String::as_str).unwrap_or("");
    NodeRow {
        provider_id: p,
        ems_ref: n.metadata.uid.clone(),
        name: n.metadata.name.clone(),
        labels: labels(&n.metadata.labels),
        annotations: annotations(&n.metadata.annotations),
        ready_status: ready,
        kubelet_version: n.status.node_info.kubelet_version.clone(),
        os_image: n.status.node_info.os_image.clone(),
        internal_ip: n
            .status
            .addresses
            .iter()
            .find(|a| a.kind == "InternalIP")
            .map(|a| a.address.clone())
            .unwrap_or_default(),
        cpu_cores: HashableF64(
            quantity::cpu_millicores(capacity("cpu")).unwrap_or(0) as f64 / 1000.0,
        ),
        memory_bytes: quantity::bytes(capacity("memory")).unwrap_or(0),
        pods_capacity: quantity::bytes(capacity("pods")).unwrap_or(0),
        creation_timestamp: timestamp(&n.metadata.creation_timestamp),
        resource_version: n.metadata.resource_version.clone(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    }
}

/// The controlling owner of an object (`controller: true`), else its first owner.
fn controller(owners: &[OwnerReference]) -> Option<&OwnerReference> {
    owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| owners.first())
}

/// A selector as a label map: RC `{k: v}`, apps/v1 `{matchLabels: {k: v}}`.
fn selector_map(selector: &serde_json::Value) -> BTreeMap<String, String> {
    let source = selector.get("matchLabels").unwrap_or(selector);
    source
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn replicator(p: i64, kind: &str, w: &Workload) -> Linked<ReplicatorRow> {
    let mut linked = Linked::new(ReplicatorRow {
        provider_id: p,
        ems_ref: w.metadata.uid.clone(),
        kind: kind.to_string(),
        name: w.metadata.name.clone(),
        namespace: w.metadata.namespace.clone(),
        container_project_id: None,
        parent_ems_ref: controller(&w.metadata.owner_references)
            .map(|o| o.uid.clone())
            .unwrap_or_default(),
        labels: labels(&w.metadata.labels),
        annotations: annotations(&w.metadata.annotations),
        selector: labels(&selector_map(&w.spec.selector)),
        replicas: w.spec.replicas.unwrap_or(w.status.replicas),
        ready_replicas: w.status.ready_replicas,
        creation_timestamp: timestamp(&w.metadata.creation_timestamp),
        resource_version: w.metadata.resource_version.clone(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    });
    linked.namespace = w.metadata.namespace.clone();
    linked
}

fn service(p: i64, s: &Service) -> Linked<ServiceRow> {
    let mut linked = Linked::new(ServiceRow {
        provider_id: p,
        ems_ref: s.metadata.uid.clone(),
        name: s.metadata.name.clone(),
        namespace: s.metadata.namespace.clone(),
        container_project_id: None,
        labels: labels(&s.metadata.labels),
        annotations: annotations(&s.metadata.annotations),
        selector: labels(&s.spec.selector),
        service_type: s.spec.kind.clone(),
        cluster_ip: s.spec.cluster_ip.clone(),
        ports: serde_json::to_string(&s.spec.ports).unwrap_or_else(|_| "[]".into()),
        creation_timestamp: timestamp(&s.metadata.creation_timestamp),
        resource_version: s.metadata.resource_version.clone(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    });
    linked.namespace = s.metadata.namespace.clone();
    linked
}

fn pod(
    p: i64,
    pod: &Pod,
    with_images: bool,
    images: &mut HashMap<String, Linked<ImageRow>>,
    registries: &mut HashMap<String, RegistryRow>,
) -> ParsedPod {
    let ready = pod
        .status
        .conditions
        .iter()
        .any(|c| c.kind == "Ready" && c.status == "True");
    let statuses: HashMap<&str, _> = pod
        .status
        .container_statuses
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let mut containers = Vec::new();
    let (mut cpu, mut memory, mut restarts) = (0, 0, 0);
    for spec in &pod.spec.containers {
        let status = statuses.get(spec.name.as_str());
        let req = |k: &str| {
            spec.resources
                .requests
                .get(k)
                .map(String::as_str)
                .unwrap_or("")
        };
        let lim = |k: &str| {
            spec.resources
                .limits
                .get(k)
                .map(String::as_str)
                .unwrap_or("")
        };
        let cpu_request = quantity::cpu_millicores(req("cpu")).unwrap_or(0);
        let memory_request = quantity::bytes(req("memory")).unwrap_or(0);
        cpu += cpu_request;
        memory += memory_request;
        let image_id = status.map(|s| s.image_id.as_str()).unwrap_or("");
        let (state, reason, started_at) = match status.map(|s| &s.state) {
            Some(st) if st.running.is_some() => (
                "running",
                String::new(),
                st.running.as_ref().and_then(|r| timestamp(&r.started_at)),
            ),
            Some(st) if st.terminated.is_some() => (
                "terminated",
                st.terminated
                    .as_ref()
                    .map(|t| t.reason.clone())
                    .unwrap_or_default(),
                None,
            ),
            Some(st) if st.waiting.is_some() => (
                "waiting",
                st.waiting
                    .as_ref()
                    .map(|w| w.reason.clone())
                    .unwrap_or_default(),
                None,
            ),
            _ => ("", String::new(), None),
        };
        let restart_count = status.map(|s| s.restart_count).unwrap_or(0);
        restarts += restart_count;
        let mut linked = Linked::new(ContainerRow {
            provider_id: p,
            ems_ref: format!("{}/{}", pod.metadata.uid, spec.name),
            name: spec.name.clone(),
            container_group_id: None,
            container_image_id: None,
            image: spec.image.clone(),
            image_ref: image_id.to_string(),
            state: state.to_string(),
            reason,
            ready: status.is_some_and(|s| s.ready),
            restart_count,
            started_at,
            cpu_request_millicores: cpu_request,
            cpu_limit_millicores: quantity::cpu_millicores(lim("cpu")).unwrap_or(0),
            memory_request_bytes: memory_request,
            memory_limit_bytes: quantity::bytes(lim("memory")).unwrap_or(0),
            content_hash: 0,
            deleted_on: None,
            created_on: EPOCH,
            updated_on: EPOCH,
        });
        if with_images && !spec.image.is_empty() {
            linked.image_ref = add_image(p, &spec.image, image_id, true, images, registries);
        }
        containers.push(linked);
    }
    let owner = controller(&pod.metadata.owner_references)
        .map(|o| o.uid.clone())
        .unwrap_or_default();
    let mut linked = Linked::new(PodRow {
        provider_id: p,
        ems_ref: pod.metadata.uid.clone(),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        container_project_id: None,
        container_node_id: None,
        container_replicator_id: None,
        node_name: pod.spec.node_name.clone(),
        labels: labels(&pod.metadata.labels),
        annotations: annotations(&pod.metadata.annotations),
        phase: pod.status.phase.clone(),
        ready,
        restart_count: restarts,
        pod_ip: pod.status.pod_ip.clone(),
        host_ip: pod.status.host_ip.clone(),
        qos_class: pod.status.qos_class.clone(),
        cpu_request_millicores: cpu,
        memory_request_bytes: memory,
        started_at: timestamp(&pod.status.start_time),
        creation_timestamp: timestamp(&pod.metadata.creation_timestamp),
        resource_version: pod.metadata.resource_version.clone(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    });
    linked.namespace = pod.metadata.namespace.clone();
    linked.node_name = pod.spec.node_name.clone();
    linked.owner_uid = owner;
    ParsedPod {
        pod: linked,
        containers,
    }
}

/// Records an image (and its registry); returns the image's ems_ref.
fn add_image(
    p: i64,
    image: &str,
    image_id: &str,
    used: bool,
    images: &mut HashMap<String, Linked<ImageRow>>,
    registries: &mut HashMap<String, RegistryRow>,
) -> String {
    let name = parse_image(image);
    let digest = digest_of(image_id).unwrap_or_else(|| name.digest.clone());
    let ems_ref = if digest.is_empty() {
        image.to_string()
    } else {
        digest.clone()
    };
    let registry = name.registry();
    registries
        .entry(registry.clone())
        .or_insert_with(|| RegistryRow {
            provider_id: p,
            ems_ref: registry.clone(),
            host: name.registry_host.clone(),
            port: name.registry_port.clone(),
            content_hash: 0,
            deleted_on: None,
            created_on: EPOCH,
            updated_on: EPOCH,
        });
    let entry = images.entry(ems_ref.clone()).or_insert_with(|| {
        let mut linked = Linked::new(ImageRow {
            provider_id: p,
            ems_ref: ems_ref.clone(),
            name: name.name.clone(),
            tag: name.tag.clone(),
            digest: digest.clone(),
            image_ref: if image_id.is_empty() {
                image.to_string()
            } else {
                image_id.to_string()
            },
            container_image_registry_id: None,
            labels: "{}".into(),
            used,
            content_hash: 0,
            deleted_on: None,
            created_on: EPOCH,
            updated_on: EPOCH,
        });
        linked.registry_ref = registry;
        linked
    });
    entry.row.used |= used;
    ems_ref
}

fn add_openshift_image(
    p: i64,
    image: &OpenShiftImage,
    images: &mut HashMap<String, Linked<ImageRow>>,
    registries: &mut HashMap<String, RegistryRow>,
) {
    let ems_ref = add_image(
        p,
        &image.docker_image_reference,
        &image.metadata.name,
        false,
        images,
        registries,
    );
    let found = image
        .docker_image_metadata
        .pointer("/Config/Labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect::<BTreeMap<_, _>>()
        });
    if let (Some(entry), Some(found)) = (images.get_mut(&ems_ref), found) {
        entry.row.labels = labels(&found);
    }
}

/// Whether `labels` (a JSON map) match `selector` (a JSON map; empty selects nothing,
/// as for a Service without a selector).
pub fn selector_matches(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A JSON label map back to a map (empty on anything else).
pub fn label_map(json: &str) -> BTreeMap<String, String> {
    serde_json::from_str(json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_keep_small_values_and_drop_object_copies() {
        let map: BTreeMap<String, String> = [
            ("a.example.com/team", "web".to_string()),
            (
                "kubectl.kubernetes.io/last-applied-configuration",
                "{}".to_string(),
            ),
            ("big", "x".repeat(MAX_ANNOTATION_VALUE + 1)),
            ("edge", "y".repeat(MAX_ANNOTATION_VALUE)),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .into();
        let kept: BTreeMap<String, String> =
            serde_json::from_str(&annotations(&map)).unwrap_or_default();
        let keys: Vec<&str> = kept.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a.example.com/team", "edge"]);
    }
}
