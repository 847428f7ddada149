//! kube-state-metrics' series about the objects the simulated API serves, with KSM's
//! names and labels (`job="kube-state-metrics"`, one `instance`):
//!
//! - pods: `kube_pod_info`, `kube_pod_status_phase{phase}` (1 for the pod's phase, 0 for
//!   the four others), `kube_pod_container_status_restarts_total{container}`,
//!   `kube_pod_container_resource_{requests,limits}{container,node,resource,unit}` for
//!   the CPU (cores) and memory (bytes) a container sets;
//! - nodes: `kube_node_info`, `kube_node_status_condition{condition,status}` (one series
//!   per status `true`/`false`/`unknown`, 1 for the condition's);
//! - deployments: `kube_deployment_spec_replicas` and
//!   `kube_deployment_status_replicas{,_available,_ready,_updated}`.
//!
//! Values are the objects' current state (the simulator keeps no history of it), from
//! the object's creation on.

use std::borrow::Cow;

use super::series::{Index, Resource, Target};
use super::values::{Sampler, SamplerKind};

/// The address kube-state-metrics is scraped at.
pub(super) const INSTANCE: &str = "kube-state-metrics:8080";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum StateMetric {
    PodInfo,
    PodStatusPhase,
    PodContainerRestarts,
    PodContainerRequests,
    PodContainerLimits,
    NodeInfo,
    NodeStatusCondition,
    DeploymentSpecReplicas,
    DeploymentStatusReplicas,
    DeploymentStatusReplicasAvailable,
    DeploymentStatusReplicasReady,
    DeploymentStatusReplicasUpdated,
}

/// What a metric describes.
enum Subject {
    Pod,
    Node,
    Deployment,
}

impl StateMetric {
    pub(super) const ALL: [StateMetric; 12] = [
        StateMetric::PodInfo,
        StateMetric::PodStatusPhase,
        StateMetric::PodContainerRestarts,
        StateMetric::PodContainerRequests,
        StateMetric::PodContainerLimits,
        StateMetric::NodeInfo,
        StateMetric::NodeStatusCondition,
        StateMetric::DeploymentSpecReplicas,
        StateMetric::DeploymentStatusReplicas,
        StateMetric::DeploymentStatusReplicasAvailable,
        StateMetric::DeploymentStatusReplicasReady,
        StateMetric::DeploymentStatusReplicasUpdated,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            StateMetric::PodInfo => "kube_pod_info",
            StateMetric::PodStatusPhase => "kube_pod_status_phase",
            StateMetric::PodContainerRestarts => "kube_pod_container_status_restarts_total",
            StateMetric::PodContainerRequests => "kube_pod_container_resource_requests",
            StateMetric::PodContainerLimits => "kube_pod_container_resource_limits",
            StateMetric::NodeInfo => "kube_node_info",
            StateMetric::NodeStatusCondition => "kube_node_status_condition",
            StateMetric::DeploymentSpecReplicas => "kube_deployment_spec_replicas",
            StateMetric::DeploymentStatusReplicas => "kube_deployment_status_replicas",
            StateMetric::DeploymentStatusReplicasAvailable => {
                "kube_deployment_status_replicas_available"
            }
            StateMetric::DeploymentStatusReplicasReady => "kube_deployment_status_replicas_ready",
            StateMetric::DeploymentStatusReplicasUpdated => {
                "kube_deployment_status_replicas_updated"
            }
        }
    }

    fn subject(self) -> Subject {
        match self {
            StateMetric::PodInfo
            | StateMetric::PodStatusPhase
            | StateMetric::PodContainerRestarts
            | StateMetric::PodContainerRequests
            | StateMetric::PodContainerLimits => Subject::Pod,
            StateMetric::NodeInfo | StateMetric::NodeStatusCondition => Subject::Node,
            _ => Subject::Deployment,
        }
    }
}

/// The pod phases, each with its own `kube_pod_status_phase` series.
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// Condition statuses as KSM labels them, and as the API does.
const STATUSES: [(&str, &str); 3] = [("true", "True"), ("false", "False"), ("unknown", "Unknown")];

/// What KSM labels an absent owner with.
const NONE: &str = "<none>";

const RESOURCES: [Resource; 2] = [Resource::Cpu, Resource::Memory];

pub(super) fn for_each_target<E>(
    index: &Index,
    metric: StateMetric,
    mut f: impl FnMut(Target) -> Result<(), E>,
) -> Result<(), E> {
    let topology = &index.topology;
    match metric.subject() {
        Subject::Pod => {
            for (p, pod) in topology.pods.iter().enumerate() {
                let pod_index = p as u32;
                match metric {
                    StateMetric::PodInfo => f(Target::Pod(pod_index))?,
                    StateMetric::PodStatusPhase => {
                        for phase in 0..PHASES.len() as u8 {
                            f(Target::PodPhase {
                                pod: pod_index,
                                phase,
                            })?;
                        }
                    }
                    _ => {
                        for (c, container) in pod.containers.iter().enumerate() {
                            let container_index = c as u32;
                            if metric == StateMetric::PodContainerRestarts {
                                f(Target::Container {
                                    pod: pod_index,
                                    container: container_index,
                                })?;
                                continue;
                            }
                            for resource in RESOURCES {
                                if quantity(metric, container, resource).is_some() {
                                    f(Target::ContainerResource {
                                        pod: pod_index,
                                        container: container_index,
                                        resource,
                                    })?;
                                }
                            }
                        }
                    }
                }
            }
        }
        Subject::Node => {
            for (n, node) in topology.nodes.iter().enumerate() {
                let node_index = n as u32;
                if metric == StateMetric::NodeInfo {
                    f(Target::Node(node_index))?;
                    continue;
                }
                for condition in 0..node.conditions.len().min(usize::from(u8::MAX)) as u8 {
                    for status in 0..STATUSES.len() as u8 {
                        f(Target::NodeCondition {
                            node: node_index,
                            condition,
                            status,
                        })?;
                    }
                }
            }
        }
        Subject::Deployment => {
            for d in 0..topology.deployments.len() as u32 {
                f(Target::Deployment(d))?;
            }
        }
    }
    Ok(())
}

/// A container's request or limit of `resource`, in KSM's unit (cores, bytes).
fn quantity(
    metric: StateMetric,
    container: &super::ContainerTarget,
    resource: Resource,
) -> Option<f64> {
    let quantities = match metric {
        StateMetric::PodContainerRequests => &container.requests,
        StateMetric::PodContainerLimits => &container.limits,
        _ => return None,
    };
    match resource {
        Resource::Cpu => quantities.cpu_millicores.map(|m| m as f64 / 1000.0),
        Resource::Memory => quantities.memory_bytes.map(|b| b as f64),
    }
}

pub(super) fn label<'t>(
    index: &'t Index,
    metric: StateMetric,
    target: Target,
    name: &str,
) -> Option<Cow<'t, str>> {
    match name {
        "job" => return Some(Cow::Borrowed("kube-state-metrics")),
        "instance" => return Some(Cow::Borrowed(INSTANCE)),
        _ => {}
    }
    match target {
        Target::Pod(pod)
        | Target::PodPhase { pod, .. }
        | Target::Container { pod, .. }
        | Target::ContainerResource { pod, .. } => pod_label(index, metric, target, pod, name),
        Target::Node(node) | Target::NodeCondition { node, .. } => {
            node_label(index, target, node, name)
        }
        Target::Deployment(d) => {
            let d = &index.topology.deployments[d as usize];
            match name {
                "namespace" => Some(Cow::Borrowed(&d.namespace)),
                "deployment" => Some(Cow::Borrowed(&d.name)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn pod_label<'t>(
    index: &'t Index,
    metric: StateMetric,
    target: Target,
    pod: u32,
    name: &str,
) -> Option<Cow<'t, str>> {
    let p = index.pod(pod);
    let value: &str = match (name, target) {
        ("namespace", _) => &p.namespace,
        ("pod", _) => &p.name,
        ("uid", _) => &p.uid,
        ("phase", Target::PodPhase { phase, .. }) => PHASES[phase as usize],
        (
            "container",
            Target::Container { container, .. } | Target::ContainerResource { container, .. },
        ) => &p.containers[container as usize].name,
        ("node", Target::Pod(_) | Target::ContainerResource { .. }) => &p.node,
        ("resource", Target::ContainerResource { resource, .. }) => match resource {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
        },
        ("unit", Target::ContainerResource { resource, .. }) => match resource {
            Resource::Cpu => "core",
            Resource::Memory => "byte",
        },
        _ if metric != StateMetric::PodInfo => return None,
        ("pod_ip", _) => &p.pod_ip,
        ("host_ip", _) => {
            let node = index.pod_node[pod as usize]?;
            &index.topology.nodes[node as usize].info.internal_ip
        }
        ("host_network", _) => "false",
        ("created_by_kind", _) => p.owner.as_ref().map_or(NONE, |(kind, _)| kind),
        ("created_by_name", _) => p.owner.as_ref().map_or(NONE, |(_, name)| name),
        _ => return None,
    };
    Some(Cow::Borrowed(value))
}

fn node_label<'t>(index: &'t Index, target: Target, node: u32, name: &str) -> Option<Cow<'t, str>> {
    let n = &index.topology.nodes[node as usize];
    if name == "node" {
        return Some(Cow::Borrowed(&n.name));
    }
    if let Target::NodeCondition {
        condition, status, ..
    } = target
    {
        let value = match name {
            "condition" => n.conditions.get(condition as usize)?.0,
            "status" => STATUSES[status as usize].0,
            _ => return None,
        };
        return Some(Cow::Borrowed(value));
    }
    let info = &n.info;
    let value: &str = match name {
        "kernel_version" => info.kernel_version,
        "os_image" => info.os_image,
        "container_runtime_version" => info.container_runtime_version,
        "kubelet_version" => info.kubelet_version,
        "kubeproxy_version" => info.kube_proxy_version,
        "provider_id" => &info.provider_id,
        "pod_cidr" => &info.pod_cidr,
        "system_uuid" => &info.system_uuid,
        "internal_ip" => &info.internal_ip,
        _ => return None,
    };
    Some(Cow::Borrowed(value))
}

/// Pods' and deployments' series start at their creation; nodes' always exist.
pub(super) fn since(index: &Index, target: Target) -> f64 {
    match target {
        Target::Pod(pod)
        | Target::PodPhase { pod, .. }
        | Target::Container { pod, .. }
        | Target::ContainerResource { pod, .. } => index.pod(pod).created_unix as f64,
        Target::Deployment(d) => index.topology.deployments[d as usize].created_unix as f64,
        _ => f64::NEG_INFINITY,
    }
}

pub(super) fn sampler(index: &Index, metric: StateMetric, target: Target) -> Sampler<'static> {
    let one_if = |yes: bool| if yes { 1.0 } else { 0.0 };
    let value = match target {
        Target::Pod(_) | Target::Node(_) => 1.0,
        Target::PodPhase { pod, phase } => one_if(index.pod(pod).phase == PHASES[phase as usize]),
        Target::Container { pod, container } => {
            f64::from(index.pod(pod).containers[container as usize].restarts)
        }
        Target::ContainerResource {
            pod,
            container,
            resource,
        } => {
            let c = &index.pod(pod).containers[container as usize];
            quantity(metric, c, resource).unwrap_or(f64::NAN)
        }
        Target::NodeCondition {
            node,
            condition,
            status,
        } => {
            let n = &index.topology.nodes[node as usize];
            let current = n.conditions.get(condition as usize).map(|c| c.1);
            one_if(current == Some(STATUSES[status as usize].1))
        }
        Target::Deployment(d) => {
            let d = &index.topology.deployments[d as usize];
            f64::from(match metric {
                StateMetric::DeploymentSpecReplicas => d.desired,
                StateMetric::DeploymentStatusReplicas => d.replicas,
                StateMetric::DeploymentStatusReplicasAvailable => d.available,
                StateMetric::DeploymentStatusReplicasReady => d.ready,
                _ => d.updated,
            })
        }
        _ => f64::NAN,
    };
    Sampler {
        since: since(index, target),
        until: f64::INFINITY,
        counter: false,
        kind: SamplerKind::Constant(value),
    }
}
