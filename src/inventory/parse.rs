//! From what a cluster returned to inventory rows. Relations are carried as natural
//! keys (namespace, node name, owner uid, image and registry refs) and resolved to row
//! ids when saving; images and registries are derived from the pods' containers (and,
//! on OpenShift, from the image API when unused images are kept).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;

use super::image_ref::{digest_of, parse_image};
use super::rows::{
    ContainerRow, HashableF64, ImageRow, NodeRow, PodRow, ProjectRow, RegistryRow, ReplicatorRow,
    ServiceRow,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

use crate::kube::openshift::OpenShiftImage;
use crate::kube::quantity;

/// Everything a full refresh collected (or a targeted one's changed objects).
#[derive(Debug, Default, Clone)]
pub struct Collected {
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub replication_controllers: Vec<ReplicationController>,
    pub replica_sets: Vec<ReplicaSet>,
    pub deployments: Vec<Deployment>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Objects skipped because their rows already hold their resourceVersion: still in
    /// the cluster (a full save keeps them), nothing to write.
    pub unchanged: Unchanged,
}

/// Keys (uids) of objects whose stored rows are current, per table.
#[derive(Debug, Default, Clone)]
pub struct Unchanged {
    pub projects: HashSet<String>,
    pub nodes: HashSet<String>,
    pub replicators: HashSet<String>,
    pub services: HashSet<String>,
    pub pods: HashSet<String>,
}

/// The resourceVersion each live row was written from, per table (uid → version).
#[derive(Debug, Default, Clone)]
pub struct KnownVersions {
    pub projects: HashMap<String, String>,
    pub nodes: HashMap<String, String>,
    pub replicators: HashMap<String, String>,
    pub services: HashMap<String, String>,
    pub pods: HashMap<String, String>,
}

impl KnownVersions {
    pub fn len(&self) -> usize {
        self.projects.len()
            + self.nodes.len()
            + self.replicators.len()
            + self.services.len()
            + self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `m`'s uid is in `known` at the same resourceVersion; if so, records it in
/// `unchanged`.
fn skip(
    known: Option<&HashMap<String, String>>,
    m: &ObjectMeta,
    unchanged: &mut HashSet<String>,
) -> bool {
    let Some(uid) = unchanged_uid(known, m) else {
        return false;
    };
    unchanged.insert(uid.to_string());
    true
}

/// `m`'s uid when `known` holds it at the same resourceVersion.
fn unchanged_uid<'m>(
    known: Option<&HashMap<String, String>>,
    m: &'m ObjectMeta,
) -> Option<&'m str> {
    let (Some(uid), Some(version)) = (&m.uid, &m.resource_version) else {
        return None;
    };
    is_unchanged(known?, uid, version).then_some(uid.as_str())
}

fn is_unchanged(known: &HashMap<String, String>, uid: &str, version: &str) -> bool {
    !version.is_empty() && known.get(uid).is_some_and(|v| v == version)
}

/// A pod's identity and the images it runs, read from its JSON, and nothing else.
#[derive(serde::Deserialize)]
struct PodSummary {
    metadata: SummaryMeta,
    spec: Option<SpecImages>,
    status: Option<StatusImages>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryMeta {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    resource_version: String,
}

#[derive(serde::Deserialize)]
struct SpecImages {
    #[serde(default)]
    containers: Vec<ContainerImage>,
}

#[derive(serde::Deserialize)]
struct ContainerImage {
    #[serde(default)]
    name: String,
    image: Option<String>,
}

#[derive(serde::Deserialize)]
struct StatusImages {
    #[serde(rename = "containerStatuses")]
    container_statuses: Option<Vec<ContainerImageId>>,
}

#[derive(serde::Deserialize)]
struct ContainerImageId {
    #[serde(default)]
    name: String,
    #[serde(rename = "imageID", default)]
    image_id: String,
}

const EPOCH: NaiveDateTime = NaiveDateTime::MIN;

/// A Kubernetes time → naive UTC.
pub fn timestamp(time: &Option<Time>) -> Option<NaiveDateTime> {
    let t = time.as_ref()?.0;
    chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
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
fn annotations(map: &Option<BTreeMap<String, String>>) -> String {
    let Some(map) = map else {
        return "{}".into();
    };
    let kept: BTreeMap<&String, &String> = map
        .iter()
        .filter(|(k, v)| {
            v.len() <= MAX_ANNOTATION_VALUE
                && k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
        })
        .collect();
    serde_json::to_string(&kept).unwrap_or_else(|_| "{}".into())
}

fn labels_opt(map: &Option<BTreeMap<String, String>>) -> String {
    map.as_ref().map_or_else(|| "{}".into(), labels)
}

/// The metadata fields the inventory reads, as plain strings.
struct Meta<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
    resource_version: &'a str,
    labels: String,
    annotations: String,
    created: Option<NaiveDateTime>,
    owners: &'a [OwnerReference],
}

fn meta(m: &ObjectMeta) -> Meta<'_> {
    Meta {
        name: m.name.as_deref().unwrap_or_default(),
        namespace: m.namespace.as_deref().unwrap_or_default(),
        uid: m.uid.as_deref().unwrap_or_default(),
        resource_version: m.resource_version.as_deref().unwrap_or_default(),
        labels: labels_opt(&m.labels),
        annotations: annotations(&m.annotations),
        created: timestamp(&m.creation_timestamp),
        owners: m.owner_references.as_deref().unwrap_or_default(),
    }
}

/// A quantity of a resource map (`""` when absent).
fn quantity_of<'a>(map: Option<&'a BTreeMap<String, Quantity>>, key: &str) -> &'a str {
    map.and_then(|m| m.get(key)).map_or("", |q| q.0.as_str())
}

/// ReplicationControllers, ReplicaSets and Deployments: what a replicator needs.
struct Workload<'a> {
    meta: &'a ObjectMeta,
    replicas: Option<i32>,
    status_replicas: i32,
    ready_replicas: i32,
    selector: BTreeMap<String, String>,
}

impl<'a> From<&'a ReplicationController> for Workload<'a> {
    fn from(o: &'a ReplicationController) -> Self {
        let spec = o.spec.as_ref();
        let status = o.status.as_ref();
        Workload {
            meta: &o.metadata,
            replicas: spec.and_then(|s| s.replicas),
            status_replicas: status.map_or(0, |s| s.replicas),
            ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
        }
    }
}

impl<'a> From<&'a ReplicaSet> for Workload<'a> {
    fn from(o: &'a ReplicaSet) -> Self {
        let status = o.status.as_ref();
        Workload {
            meta: &o.metadata,
            replicas: o.spec.replicas,
            status_replicas: status.map_or(0, |s| s.replicas),
            ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            selector: o.spec.selector.match_labels.clone().unwrap_or_default(),
        }
    }
}

impl<'a> From<&'a Deployment> for Workload<'a> {
    fn from(o: &'a Deployment) -> Self {
        let status = o.status.as_ref();
        Workload {
            meta: &o.metadata,
            replicas: o.spec.replicas,
            status_replicas: status.and_then(|s| s.replicas).unwrap_or(0),
            ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            selector: o.spec.selector.match_labels.clone().unwrap_or_default(),
        }
    }
}

/// Parses collected objects into rows.
pub fn parse(c: &Collected, o: ParseOptions) -> Parsed {
    let mut parser = Parser::new(o);
    c.namespaces.iter().for_each(|n| parser.namespace(n));
    c.nodes.iter().for_each(|n| parser.node(n));
    c.replication_controllers
        .iter()
        .for_each(|w| parser.replication_controller(w));
    c.replica_sets.iter().for_each(|w| parser.replica_set(w));
    c.deployments.iter().for_each(|w| parser.deployment(w));
    c.services.iter().for_each(|s| parser.service(s));
    c.pods.iter().for_each(|pod| parser.pod(pod));
    c.images.iter().for_each(|i| parser.openshift_image(i));
    parser.finish()
}

/// Builds a [`Parsed`] object by object, so that a full refresh parses each page of a
/// listing as it arrives and never holds the cluster's objects whole (a typed pod of
/// three containers is ≈ 12 KB in memory; its rows a tenth of that).
pub struct Parser {
    o: ParseOptions,
    out: Parsed,
    images: ImageSet,
    known: Option<KnownVersions>,
}

impl Parser {
    pub fn new(o: ParseOptions) -> Self {
        Self {
            o,
            out: Parsed::default(),
            images: ImageSet::default(),
            known: None,
        }
    }

    /// Skips objects whose rows already hold their resourceVersion (a resync of a
    /// provider whose rows this process wrote with the same options): their rows are
    /// kept as they are, and only a pod's images are still derived.
    pub fn skipping_known(mut self, known: KnownVersions) -> Self {
        self.known = Some(known);
        self
    }

    pub fn namespace(&mut self, n: &Namespace) {
        let known = self.known.as_ref().map(|k| &k.projects);
        if !skip(known, &n.metadata, &mut self.out.unchanged.projects) {
            self.out.projects.push(project(self.o.provider_id, n));
        }
    }

    pub fn node(&mut self, n: &Node) {
        let known = self.known.as_ref().map(|k| &k.nodes);
        if !skip(known, &n.metadata, &mut self.out.unchanged.nodes) {
            self.out.nodes.push(node(self.o.provider_id, n));
        }
    }

    fn workload(&mut self, kind: &str, meta: &ObjectMeta, w: &Workload<'_>) {
        let known = self.known.as_ref().map(|k| &k.replicators);
        if !skip(known, meta, &mut self.out.unchanged.replicators) {
            let row = replicator(self.o.provider_id, kind, w);
            self.out.replicators.push(row);
        }
    }

    pub fn replication_controller(&mut self, w: &ReplicationController) {
        self.workload("ReplicationController", &w.metadata, &w.into());
    }

    pub fn replica_set(&mut self, w: &ReplicaSet) {
        self.workload("ReplicaSet", &w.metadata, &w.into());
    }

    pub fn deployment(&mut self, w: &Deployment) {
        self.workload("Deployment", &w.metadata, &w.into());
    }

    pub fn service(&mut self, s: &Service) {
        let known = self.known.as_ref().map(|k| &k.services);
        if !skip(known, &s.metadata, &mut self.out.unchanged.services) {
            self.out.services.push(service(self.o.provider_id, s));
        }
    }

    pub fn pod(&mut self, pod_object: &Pod) {
        let known = self.known.as_ref().map(|k| &k.pods);
        if skip(known, &pod_object.metadata, &mut self.out.unchanged.pods) {
            if self.o.get_container_images {
                pod_images(self.o.provider_id, pod_object, &mut self.images);
            }
            return;
        }
        let parsed = pod(
            self.o.provider_id,
            pod_object,
            self.o.get_container_images,
            &mut self.images,
        );
        self.out.pods.push(parsed);
    }

    /// A pod as the JSON the server sent: true when its row already holds this
    /// resourceVersion (a resync), in which case it is recorded as unchanged and the
    /// images it runs are counted — read in one pass over the JSON, the pod is never
    /// decoded whole. False (not a resync, a changed pod, or JSON that is not a pod's):
    /// the caller decodes it and hands it to [`Parser::pod`].
    pub fn known_pod(&mut self, json: &str) -> bool {
        let Some(known) = self.known.as_ref().map(|k| &k.pods) else {
            return false;
        };
        let Ok(pod) = serde_json::from_str::<PodSummary>(json) else {
            return false;
        };
        if !is_unchanged(known, &pod.metadata.uid, &pod.metadata.resource_version) {
            return false;
        }
        if self.o.get_container_images {
            let statuses = pod.status.and_then(|s| s.container_statuses);
            for spec in pod.spec.iter().flat_map(|s| s.containers.iter()) {
                let image = spec.image.as_deref().unwrap_or_default();
                if image.is_empty() {
                    continue;
                }
                let image_id = statuses
                    .as_ref()
                    .and_then(|list| list.iter().find(|s| s.name == spec.name))
                    .map(|s| s.image_id.as_str())
                    .unwrap_or("");
                self.images.used(self.o.provider_id, image, image_id);
            }
        }
        self.out.unchanged.pods.insert(pod.metadata.uid);
        true
    }

    /// An image of OpenShift's image API (kept only with unused images stored).
    pub fn openshift_image(&mut self, image: &OpenShiftImage) {
        if self.o.get_container_images && self.o.store_unused_images {
            add_openshift_image(
                self.o.provider_id,
                image,
                &mut self.images.images,
                &mut self.images.registries,
            );
        }
    }

    /// The rows, images and registries in a stable order.
    pub fn finish(self) -> Parsed {
        let mut out = self.out;
        let mut images: Vec<Linked<ImageRow>> = self.images.images.into_values().collect();
        images.sort_by(|a, b| a.row.ems_ref.cmp(&b.row.ems_ref));
        let mut registries: Vec<RegistryRow> = self.images.registries.into_values().collect();
        registries.sort_by(|a, b| a.ems_ref.cmp(&b.ems_ref));
        out.images = images;
        out.registries = registries;
        out
    }
}

fn project(p: i64, n: &Namespace) -> ProjectRow {
    let m = meta(&n.metadata);
    ProjectRow {
        provider_id: p,
        ems_ref: m.uid.to_string(),
        name: m.name.to_string(),
        labels: m.labels,
        annotations: m.annotations,
        phase: n
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default(),
        creation_timestamp: m.created,
        resource_version: m.resource_version.to_string(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    }
}

fn node(p: i64, n: &Node) -> NodeRow {
    let m = meta(&n.metadata);
    let status = n.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "Unknown".into());
    let capacity = |k: &str| quantity_of(status.and_then(|s| s.capacity.as_ref()), k);
    let info = status.and_then(|s| s.node_info.as_ref());
    NodeRow {
        provider_id: p,
        ems_ref: m.uid.to_string(),
        name: m.name.to_string(),
        labels: m.labels,
        annotations: m.annotations,
        ready_status: ready,
        kubelet_version: info.map(|i| i.kubelet_version.clone()).unwrap_or_default(),
        os_image: info.map(|i| i.os_image.clone()).unwrap_or_default(),
        internal_ip: status
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone())
            .unwrap_or_default(),
        cpu_cores: HashableF64(
            quantity::cpu_millicores(capacity("cpu")).unwrap_or(0) as f64 / 1000.0,
        ),
        memory_bytes: quantity::bytes(capacity("memory")).unwrap_or(0),
        pods_capacity: quantity::bytes(capacity("pods")).unwrap_or(0),
        creation_timestamp: m.created,
        resource_version: m.resource_version.to_string(),
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

fn replicator(p: i64, kind: &str, w: &Workload<'_>) -> Linked<ReplicatorRow> {
    let m = meta(w.meta);
    let mut linked = Linked::new(ReplicatorRow {
        provider_id: p,
        ems_ref: m.uid.to_string(),
        kind: kind.to_string(),
        name: m.name.to_string(),
        namespace: m.namespace.to_string(),
        container_project_id: None,
        parent_ems_ref: controller(m.owners)
            .map(|o| o.uid.clone())
            .unwrap_or_default(),
        labels: m.labels,
        annotations: m.annotations,
        selector: labels(&w.selector),
        replicas: i64::from(w.replicas.unwrap_or(w.status_replicas)),
        ready_replicas: i64::from(w.ready_replicas),
        creation_timestamp: m.created,
        resource_version: m.resource_version.to_string(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    });
    linked.namespace = m.namespace.to_string();
    linked
}

fn service(p: i64, s: &Service) -> Linked<ServiceRow> {
    let m = meta(&s.metadata);
    let spec = s.spec.as_ref();
    let mut linked = Linked::new(ServiceRow {
        provider_id: p,
        ems_ref: m.uid.to_string(),
        name: m.name.to_string(),
        namespace: m.namespace.to_string(),
        container_project_id: None,
        labels: m.labels,
        annotations: m.annotations,
        selector: labels_opt(&spec.and_then(|s| s.selector.clone())),
        service_type: spec.and_then(|s| s.type_.clone()).unwrap_or_default(),
        cluster_ip: spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default(),
        ports: spec.and_then(|s| s.ports.as_ref()).map_or_else(
            || "[]".into(),
            |p| serde_json::to_string(p).unwrap_or_else(|_| "[]".into()),
        ),
        creation_timestamp: m.created,
        resource_version: m.resource_version.to_string(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    });
    linked.namespace = m.namespace.to_string();
    linked
}

fn pod(p: i64, pod: &Pod, with_images: bool, images: &mut ImageSet) -> ParsedPod {
    let m = meta(&pod.metadata);
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let statuses: HashMap<&str, _> = status
        .and_then(|s| s.container_statuses.as_ref())
        .map(|list| list.iter().map(|s| (s.name.as_str(), s)).collect())
        .unwrap_or_default();
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let mut containers = Vec::new();
    let (mut cpu, mut memory, mut restarts) = (0, 0, 0);
    for spec in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let container_status = statuses.get(spec.name.as_str());
        let resources = spec.resources.as_ref();
        let req = |k: &str| quantity_of(resources.and_then(|r| r.requests.as_ref()), k);
        let lim = |k: &str| quantity_of(resources.and_then(|r| r.limits.as_ref()), k);
        let cpu_request = quantity::cpu_millicores(req("cpu")).unwrap_or(0);
        let memory_request = quantity::bytes(req("memory")).unwrap_or(0);
        cpu += cpu_request;
        memory += memory_request;
        let image = spec.image.as_deref().unwrap_or_default();
        let image_id = container_status.map(|s| s.image_id.as_str()).unwrap_or("");
        let (state, reason, started_at) = match container_status.and_then(|s| s.state.as_ref()) {
            Some(st) if st.running.is_some() => (
                "running",
                String::new(),
                st.running.as_ref().and_then(|r| timestamp(&r.started_at)),
            ),
            Some(st) if st.terminated.is_some() => (
                "terminated",
                st.terminated
                    .as_ref()
                    .and_then(|t| t.reason.clone())
                    .unwrap_or_default(),
                None,
            ),
            Some(st) if st.waiting.is_some() => (
                "waiting",
                st.waiting
                    .as_ref()
                    .and_then(|w| w.reason.clone())
                    .unwrap_or_default(),
                None,
            ),
            _ => ("", String::new(), None),
        };
        let restart_count = container_status.map_or(0, |s| i64::from(s.restart_count));
        restarts += restart_count;
        let mut linked = Linked::new(ContainerRow {
            provider_id: p,
            ems_ref: format!("{}/{}", m.uid, spec.name),
            name: spec.name.clone(),
            container_group_id: None,
            container_image_id: None,
            image: image.to_string(),
            image_ref: image_id.to_string(),
            state: state.to_string(),
            reason,
            ready: container_status.is_some_and(|s| s.ready),
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
        if with_images && !image.is_empty() {
            linked.image_ref = images.used(p, image, image_id);
        }
        containers.push(linked);
    }
    let owner = controller(m.owners)
        .map(|o| o.uid.clone())
        .unwrap_or_default();
    let text = |f: fn(&k8s_openapi::api::core::v1::PodStatus) -> &Option<String>| {
        status.and_then(|s| f(s).clone()).unwrap_or_default()
    };
    let mut linked = Linked::new(PodRow {
        provider_id: p,
        ems_ref: m.uid.to_string(),
        name: m.name.to_string(),
        namespace: m.namespace.to_string(),
        container_project_id: None,
        container_node_id: None,
        container_replicator_id: None,
        node_name: node_name.clone(),
        labels: m.labels,
        annotations: m.annotations,
        phase: text(|s| &s.phase),
        ready,
        restart_count: restarts,
        pod_ip: text(|s| &s.pod_ip),
        host_ip: text(|s| &s.host_ip),
        qos_class: text(|s| &s.qos_class),
        cpu_request_millicores: cpu,
        memory_request_bytes: memory,
        started_at: status.and_then(|s| timestamp(&s.start_time)),
        creation_timestamp: m.created,
        resource_version: m.resource_version.to_string(),
        content_hash: 0,
        deleted_on: None,
        created_on: EPOCH,
        updated_on: EPOCH,
    });
    linked.namespace = m.namespace.to_string();
    linked.node_name = node_name;
    linked.owner_uid = owner;
    ParsedPod {
        pod: linked,
        containers,
    }
}

/// Records an image (and its registry); returns the image's ems_ref.
/// The images of a pod's containers (as [`pod`] derives them), for a pod skipped as
/// unchanged: images and registries stay complete.
fn pod_images(p: i64, pod: &Pod, images: &mut ImageSet) {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    for spec in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let image = spec.image.as_deref().unwrap_or_default();
        if image.is_empty() {
            continue;
        }
        let image_id = statuses
            .and_then(|list| list.iter().find(|s| s.name == spec.name))
            .map(|s| s.image_id.as_str())
            .unwrap_or("");
        images.used(p, image, image_id);
    }
}

/// Images and registries derived so far, and what each container's (imageID, image)
/// pair resolved to: pods share their images, so each pair is parsed once.
#[derive(Default)]
struct ImageSet {
    images: HashMap<String, Linked<ImageRow>>,
    registries: HashMap<String, RegistryRow>,
    resolved: HashMap<String, HashMap<String, String>>,
}

impl ImageSet {
    /// The key of the image a container runs, recorded as used.
    fn used(&mut self, p: i64, image: &str, image_id: &str) -> String {
        if let Some(key) = self.resolved.get(image_id).and_then(|m| m.get(image)) {
            return key.clone();
        }
        let key = add_image(
            p,
            image,
            image_id,
            true,
            &mut self.images,
            &mut self.registries,
        );
        self.resolved
            .entry(image_id.to_string())
            .or_default()
            .insert(image.to_string(), key.clone());
        key
    }
}

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
        &image.name,
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

    fn pod_at(uid: &str, version: &str, image: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": uid, "namespace": "ns", "uid": uid, "resourceVersion": version},
            "spec": {"containers": [{"name": "app", "image": image}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "image": image, "imageID": "", "ready": true,
                "restartCount": 0
            }]}
        }))
        .expect("pod")
    }

    #[test]
    fn a_resync_skips_objects_at_their_stored_version_but_keeps_their_images() {
        let options = ParseOptions {
            provider_id: 1,
            get_container_images: true,
            store_unused_images: false,
        };
        let known = KnownVersions {
            pods: HashMap::from([
                ("same".to_string(), "7".to_string()),
                ("moved".to_string(), "7".to_string()),
            ]),
            ..Default::default()
        };
        let mut parser = Parser::new(options).skipping_known(known);
        parser.pod(&pod_at("same", "7", "quay.io/a/one:1"));
        parser.pod(&pod_at("moved", "8", "quay.io/a/two:1"));
        parser.pod(&pod_at("new", "1", "quay.io/a/two:1"));
        let parsed = parser.finish();
        let parsed_uids: Vec<&str> = parsed
            .pods
            .iter()
            .map(|p| p.pod.row.ems_ref.as_str())
            .collect();
        assert_eq!(parsed_uids, ["moved", "new"]);
        assert_eq!(parsed.unchanged.pods, HashSet::from(["same".to_string()]));
        // The skipped pod's image is still there: images are derived from every pod.
        let images: Vec<&str> = parsed.images.iter().map(|i| i.row.name.as_str()).collect();
        assert_eq!(images.len(), 2, "{images:?}");
        // Without known versions nothing is skipped.
        let mut parser = Parser::new(options);
        parser.pod(&pod_at("same", "7", "quay.io/a/one:1"));
        assert_eq!(parser.finish().pods.len(), 1);
    }

    #[test]
    fn a_known_pod_read_from_its_json_gives_what_the_decoded_pod_gives() {
        let options = ParseOptions {
            provider_id: 1,
            get_container_images: true,
            store_unused_images: false,
        };
        let known = || KnownVersions {
            pods: HashMap::from([("same".to_string(), "7".to_string())]),
            ..Default::default()
        };
        let pod = pod_at("same", "7", "quay.io/a/one:1");
        let json = serde_json::to_string(&pod).expect("json");
        let mut by_json = Parser::new(options).skipping_known(known());
        assert!(by_json.known_pod(&json));
        let mut by_type = Parser::new(options).skipping_known(known());
        by_type.pod(&pod);
        let (a, b) = (by_json.finish(), by_type.finish());
        assert_eq!(a.unchanged.pods, b.unchanged.pods);
        let names = |p: &Parsed| -> Vec<String> {
            p.images.iter().map(|i| i.row.ems_ref.clone()).collect()
        };
        assert_eq!(names(&a), names(&b));
        assert_eq!(names(&a).len(), 1);
        // Another version, or no known versions: not skipped, the caller decodes it.
        let moved = pod_at("same", "8", "quay.io/a/one:1");
        let moved = serde_json::to_string(&moved).expect("json");
        let mut parser = Parser::new(options).skipping_known(known());
        assert!(!parser.known_pod(&moved));
        assert!(!parser.known_pod("{\"metadata\": 7}"));
        let mut parser = Parser::new(options);
        assert!(!parser.known_pod(&json));
        assert!(parser.finish().unchanged.pods.is_empty());
    }

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
            serde_json::from_str(&annotations(&Some(map))).unwrap_or_default();
        let keys: Vec<&str> = kept.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a.example.com/team", "edge"]);
    }
}
