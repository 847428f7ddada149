//! The simulated objects, shaped as the Kubernetes API serves them: serializing an
//! [`Object`] gives the JSON a real API server would send. Typed (not JSON trees) so a
//! 100,000-pod cluster costs a few hundred bytes per pod, not kilobytes.

use std::collections::BTreeMap;

use serde::Serialize;

/// The resources the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Namespace,
    Node,
    Pod,
    Service,
    ReplicationController,
    ReplicaSet,
    Deployment,
    Event,
    /// OpenShift `image.openshift.io/v1` images (OpenShift flavor only).
    Image,
}

/// How a resource appears in discovery and on the wire.
pub struct ResourceInfo {
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub group_version: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Discovery categories (`all`: what `kubectl get all` lists).
    pub categories: &'static [&'static str],
}

impl Resource {
    pub const ALL: [Resource; 9] = [
        Resource::Namespace,
        Resource::Node,
        Resource::Pod,
        Resource::Service,
        Resource::ReplicationController,
        Resource::ReplicaSet,
        Resource::Deployment,
        Resource::Event,
        Resource::Image,
    ];

    pub fn info(self) -> ResourceInfo {
        let (plural, singular, kind, group_version, namespaced, short_names): (
            _,
            _,
            _,
            _,
            _,
            &'static [&'static str],
        ) = match self {
            Resource::Namespace => ("namespaces", "namespace", "Namespace", "v1", false, &["ns"]),
            Resource::Node => ("nodes", "node", "Node", "v1", false, &["no"]),
            Resource::Pod => ("pods", "pod", "Pod", "v1", true, &["po"]),
            Resource::Service => ("services", "service", "Service", "v1", true, &["svc"]),
            Resource::ReplicationController => (
                "replicationcontrollers",
                "replicationcontroller",
                "ReplicationController",
                "v1",
                true,
                &["rc"],
            ),
            Resource::ReplicaSet => (
                "replicasets",
                "replicaset",
                "ReplicaSet",
                "apps/v1",
                true,
                &["rs"],
            ),
            Resource::Deployment => (
                "deployments",
                "deployment",
                "Deployment",
                "apps/v1",
                true,
                &["deploy"],
            ),
            Resource::Event => ("events", "event", "Event", "v1", true, &["ev"]),
            Resource::Image => (
                "images",
                "image",
                "Image",
                "image.openshift.io/v1",
                false,
                &[],
            ),
        };
        let categories: &'static [&'static str] = match self {
            Resource::Pod
            | Resource::Service
            | Resource::ReplicationController
            | Resource::ReplicaSet
            | Resource::Deployment => &["all"],
            _ => &[],
        };
        ResourceInfo {
            plural,
            singular,
            kind,
            group_version,
            namespaced,
            short_names,
            categories,
        }
    }

    /// The resource served at `plural` in `group_version`.
    pub fn find(group_version: &str, plural: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| {
            let i = r.info();
            i.plural == plural && i.group_version == group_version
        })
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub uid: String,
    pub resource_version: String,
    /// Workloads' spec generation (their controllers report it as observed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    pub creation_timestamp: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub uid: String,
    pub controller: bool,
    pub block_owner_deletion: bool,
}

/// One object: `apiVersion`, `kind`, `metadata`, then the fields of its kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Meta,
    #[serde(flatten)]
    pub body: Body,
}

impl Object {
    pub fn new(resource: Resource, metadata: Meta, body: Body) -> Self {
        let info = resource.info();
        Object {
            api_version: info.group_version,
            kind: info.kind,
            metadata,
            body,
        }
    }

    pub fn pod(&self) -> Option<&Pod> {
        match &self.body {
            Body::Pod(p) => Some(p),
            _ => None,
        }
    }

    pub fn node(&self) -> Option<&Node> {
        match &self.body {
            Body::Node(n) => Some(n),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Body {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    Service(Service),
    Workload(Workload),
    Event(Event),
    Image(Image),
}

#[derive(Debug, Clone, Serialize)]
pub struct Namespace {
    pub spec: NamespaceSpec,
    pub status: NamespaceStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamespaceSpec {
    pub finalizers: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamespaceStatus {
    pub phase: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub spec: NodeSpec,
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    #[serde(rename = "providerID")]
    pub provider_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub capacity: BTreeMap<&'static str, String>,
    pub allocatable: BTreeMap<&'static str, String>,
    pub conditions: Vec<Condition>,
    pub addresses: Vec<Address>,
    pub node_info: NodeInfo,
}

impl Node {
    /// The status of the `Ready` condition (`True`, `False`, `Unknown`).
    pub fn ready(&self) -> &str {
        self.status
            .conditions
            .iter()
            .find(|c| c.kind == "Ready")
            .map_or("Unknown", |c| c.status)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Nodes: when the kubelet last posted this condition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_heartbeat_time: String,
    /// Deployments: when the controller last updated this condition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_update_time: String,
    pub last_transition_time: String,
}

impl Condition {
    /// A condition that last changed at `since` (no heartbeat or update time).
    pub fn new(
        kind: &'static str,
        status: &'static str,
        reason: &'static str,
        message: &str,
        since: &str,
    ) -> Self {
        Condition {
            kind,
            status,
            reason,
            message: message.to_string(),
            last_heartbeat_time: String::new(),
            last_update_time: String::new(),
            last_transition_time: since.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Address {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub address: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    #[serde(rename = "machineID")]
    pub machine_id: String,
    #[serde(rename = "bootID")]
    pub boot_id: String,
    #[serde(rename = "systemUUID")]
    pub system_uuid: String,
    pub kernel_version: &'static str,
    pub os_image: &'static str,
    pub container_runtime_version: &'static str,
    pub kubelet_version: &'static str,
    pub kube_proxy_version: &'static str,
    pub operating_system: &'static str,
    pub architecture: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pod {
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Empty in pod templates (and for pods not scheduled yet).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    pub containers: Vec<Container>,
    pub restart_policy: &'static str,
    pub service_account_name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    pub resources: Resources,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub requests: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub container_port: u16,
    pub protocol: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: &'static str,
    #[serde(rename = "podIP", skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    #[serde(rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<PodIp>,
    #[serde(rename = "hostIP")]
    pub host_ip: String,
    #[serde(rename = "hostIPs")]
    pub host_ips: Vec<PodIp>,
    pub qos_class: &'static str,
    pub start_time: String,
    pub conditions: Vec<Condition>,
    pub container_statuses: Vec<ContainerStatus>,
}

/// One of a pod's (or its host's) addresses: `{"ip": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct PodIp {
    pub ip: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    #[serde(rename = "imageID")]
    pub image_id: String,
    #[serde(rename = "containerID", skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    pub ready: bool,
    pub started: bool,
    pub restart_count: u32,
    pub state: ContainerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_state: Option<ContainerState>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerState {
    Running {
        #[serde(rename = "startedAt")]
        started_at: String,
    },
    Waiting {
        reason: &'static str,
        message: String,
    },
    Terminated {
        reason: &'static str,
        #[serde(rename = "exitCode")]
        exit_code: i32,
        #[serde(rename = "finishedAt")]
        finished_at: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: String,
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
    pub session_affinity: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub name: &'static str,
    pub protocol: &'static str,
    pub port: u16,
    pub target_port: u16,
}

/// ReplicationControllers, ReplicaSets and Deployments.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub spec: WorkloadSpec,
    pub status: WorkloadStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSpec {
    pub replicas: u32,
    /// A label map (ReplicationController) or `{"matchLabels": …}` (apps/v1).
    pub selector: serde_json::Value,
    /// What every replica runs.
    pub template: PodTemplate,
    /// Deployments: how a rollout replaces pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<serde_json::Value>,
}

/// A pod template: the labels and spec each replica gets.
#[derive(Debug, Clone, Serialize)]
pub struct PodTemplate {
    pub metadata: TemplateMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateMeta {
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    pub replicas: u32,
    /// ReplicaSets and ReplicationControllers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fully_labeled_replicas: Option<u32>,
    /// Deployments: replicas running the current template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<u32>,
    pub ready_replicas: u32,
    pub available_replicas: u32,
    pub observed_generation: u64,
    /// Deployments: `Available` and `Progressing`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub involved_object: InvolvedObject,
    pub reason: &'static str,
    pub message: String,
    pub source: EventSource,
    pub first_timestamp: String,
    pub last_timestamp: String,
    pub count: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reporting_component: &'static str,
    pub reporting_instance: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvolvedObject {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub api_version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventSource {
    pub component: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
}

/// An OpenShift image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub docker_image_reference: String,
    pub docker_image_metadata: serde_json::Value,
    pub docker_image_metadata_version: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_serializes_with_its_kind_fields_at_the_top() {
        let o = Object::new(
            Resource::Namespace,
            Meta {
                name: "default".into(),
                uid: "u".into(),
                resource_version: "3".into(),
                ..Meta::default()
            },
            Body::Namespace(Namespace {
                spec: NamespaceSpec {
                    finalizers: vec!["kubernetes"],
                },
                status: NamespaceStatus { phase: "Active" },
            }),
        );
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["kind"], "Namespace");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["metadata"]["resourceVersion"], "3");
        assert!(v["metadata"].get("namespace").is_none());
        assert_eq!(v["status"]["phase"], "Active");
        assert_eq!(
            Resource::find("apps/v1", "replicasets"),
            Some(Resource::ReplicaSet)
        );
        assert_eq!(Resource::find("v1", "replicasets"), None);
    }
}
