//! The series: metrics, the targets they describe, their labels, and the index of a
//! topology that enumerates and selects them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::kube_state::{self, StateMetric};
use super::node_exporter::{self, ExporterMetric, Machine};
use super::promql::Selector;
use super::scrape::{self, Job};
use super::values::{ContainerWaves, Moments, NodeSums, PodWaves, Sampler, SamplerKind, Wave};
use super::{PodTarget, Topology};

pub(super) const NAME: &str = "__name__";

/// Every label name any series carries, in Prometheus' (byte) order.
pub(super) const LABEL_NAMES: [&str; 38] = [
    "__name__",
    "condition",
    "container",
    "container_runtime_version",
    "cpu",
    "created_by_kind",
    "created_by_name",
    "deployment",
    "device",
    "fstype",
    "host_ip",
    "host_network",
    "id",
    "image",
    "instance",
    "interface",
    "internal_ip",
    "job",
    "kernel_version",
    "kubelet_version",
    "kubeproxy_version",
    "metrics_path",
    "mode",
    "mountpoint",
    "name",
    "namespace",
    "node",
    "os_image",
    "phase",
    "pod",
    "pod_cidr",
    "pod_ip",
    "provider_id",
    "resource",
    "status",
    "system_uuid",
    "uid",
    "unit",
];

/// A metric: cAdvisor's (through the kubelet), `up`, node-exporter's or
/// kube-state-metrics'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Metric {
    CpuUsage,
    MemoryUsage,
    NetworkReceive,
    NetworkTransmit,
    FsUsage,
    MachineCpuCores,
    MachineMemoryBytes,
    NodeCapacity,
    /// Whether Prometheus could scrape a target.
    Up,
    Exporter(ExporterMetric),
    State(StateMetric),
}

/// The cAdvisor metrics, and kube-state-metrics' node capacity.
const CADVISOR: [Metric; 8] = [
    Metric::CpuUsage,
    Metric::MemoryUsage,
    Metric::NetworkReceive,
    Metric::NetworkTransmit,
    Metric::FsUsage,
    Metric::MachineCpuCores,
    Metric::MachineMemoryBytes,
    Metric::NodeCapacity,
];

/// Every metric, in the order queries walk them.
pub(super) fn metrics() -> impl Iterator<Item = Metric> {
    CADVISOR
        .into_iter()
        .chain([Metric::Up])
        .chain(ExporterMetric::ALL.into_iter().map(Metric::Exporter))
        .chain(StateMetric::ALL.into_iter().map(Metric::State))
}

/// Which cgroup levels carry a metric.
struct Levels {
    container: bool,
    pod: bool,
    node: bool,
}

impl Metric {
    pub(super) fn name(self) -> &'static str {
        match self {
            Metric::CpuUsage => "container_cpu_usage_seconds_total",
            Metric::MemoryUsage => "container_memory_usage_bytes",
            Metric::NetworkReceive => "container_network_receive_bytes_total",
            Metric::NetworkTransmit => "container_network_transmit_bytes_total",
            Metric::FsUsage => "container_fs_usage_bytes",
            Metric::MachineCpuCores => "machine_cpu_cores",
            Metric::MachineMemoryBytes => "machine_memory_bytes",
            Metric::NodeCapacity => "kube_node_status_capacity",
            Metric::Up => "up",
            Metric::Exporter(m) => m.name(),
            Metric::State(m) => m.name(),
        }
    }

    fn levels(self) -> Levels {
        let (container, pod, node) = match self {
            Metric::CpuUsage | Metric::MemoryUsage => (true, true, true),
            Metric::NetworkReceive | Metric::NetworkTransmit => (false, true, true),
            Metric::FsUsage => (true, false, true),
            Metric::MachineCpuCores | Metric::MachineMemoryBytes => (false, false, true),
            _ => (false, false, false),
        };
        Levels {
            container,
            pod,
            node,
        }
    }

    fn is_counter(self) -> bool {
        matches!(
            self,
            Metric::CpuUsage | Metric::NetworkReceive | Metric::NetworkTransmit
        )
    }

    fn is_network(self) -> bool {
        matches!(self, Metric::NetworkReceive | Metric::NetworkTransmit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Resource {
    Cpu,
    Memory,
}

/// The thing a series describes, by index into the topology (small indices into
/// fixed tables for the rest: a CPU mode, a filesystem, a phase, a condition status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Target {
    Container {
        pod: u32,
        container: u32,
    },
    Pod(u32),
    Node(u32),
    Capacity {
        node: u32,
        resource: Resource,
    },
    /// A scrape target of `job` (node-level jobs on `node`).
    Scrape {
        job: Job,
        node: u32,
    },
    /// node-exporter: one CPU of a node in one mode.
    NodeCpu {
        node: u32,
        cpu: u16,
        mode: u8,
    },
    /// node-exporter: a filesystem or network device of a node.
    NodeDevice {
        node: u32,
        device: u8,
    },
    /// kube-state-metrics: a pod in one of the phases.
    PodPhase {
        pod: u32,
        phase: u8,
    },
    /// kube-state-metrics: a container's request or limit of one resource.
    ContainerResource {
        pod: u32,
        container: u32,
        resource: Resource,
    },
    /// kube-state-metrics: a node condition with one of the statuses.
    NodeCondition {
        node: u32,
        condition: u8,
        status: u8,
    },
    Deployment(u32),
}

/// One series: a metric of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct SeriesRef {
    pub(super) metric: Metric,
    pub(super) target: Target,
}

/// Labels sorted by name; values borrowed from the topology where possible.
pub(super) type LabelSet<'t> = Vec<(&'static str, Cow<'t, str>)>;

/// The index of one topology: where each pod runs and each node's prefix sums.
pub(super) struct Index {
    pub(super) topology: Arc<Topology>,
    seed: u64,
    /// The node of each pod; pods on unknown nodes have no cAdvisor series (cAdvisor
    /// runs on nodes).
    pub(super) pod_node: Vec<Option<u32>>,
    nodes: Vec<NodeSums>,
    /// What node-exporter sees on each node.
    pub(super) machines: Vec<Machine>,
}

impl Index {
    pub(super) fn build(seed: u64, topology: Arc<Topology>) -> Self {
        let pod_node = place_pods(&topology);
        let mut members = vec![Vec::new(); topology.nodes.len()];
        for (pod, node) in pod_node.iter().enumerate() {
            if let Some(node) = node {
                members[*node as usize].push(pod as u32);
            }
        }
        let nodes: Vec<NodeSums> = topology
            .nodes
            .iter()
            .zip(&members)
            .map(|(node, pods)| NodeSums::build(seed, node, &topology.pods, pods))
            .collect();
        let machines = topology
            .nodes
            .iter()
            .zip(&nodes)
            .map(|(node, sums)| Machine::new(seed, node, sums))
            .collect();
        Index {
            topology,
            seed,
            pod_node,
            nodes,
            machines,
        }
    }

    pub(super) fn pod(&self, pod: u32) -> &PodTarget {
        &self.topology.pods[pod as usize]
    }

    /// Calls `f` for every series of `metric`, pods in topology order, then nodes.
    pub(super) fn for_each_series<E>(
        &self,
        metric: Metric,
        mut f: impl FnMut(SeriesRef) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut visit = |target| f(SeriesRef { metric, target });
        match metric {
            Metric::Up => return scrape::for_each_target(self, visit),
            Metric::Exporter(m) => return node_exporter::for_each_target(self, m, visit),
            Metric::State(m) => return kube_state::for_each_target(self, m, visit),
            _ => {}
        }
        let levels = metric.levels();
        if levels.container || levels.pod {
            for (p, pod) in self.topology.pods.iter().enumerate() {
                if self.pod_node[p].is_none() {
                    continue;
                }
                if levels.pod {
                    visit(Target::Pod(p as u32))?;
                }
                if levels.container {
                    for c in 0..pod.containers.len() {
                        visit(Target::Container {
                            pod: p as u32,
                            container: c as u32,
                        })?;
                    }
                }
            }
        }
        for node in 0..self.nodes.len() as u32 {
            if levels.node {
                visit(Target::Node(node))?;
            }
            if metric == Metric::NodeCapacity {
                visit(Target::Capacity {
                    node,
                    resource: Resource::Cpu,
                })?;
                visit(Target::Capacity {
                    node,
                    resource: Resource::Memory,
                })?;
            }
        }
        Ok(())
    }

    /// Calls `f` for every series `selector` matches, walking the topology once per metric
    /// whose name the selector admits.
    pub(super) fn select<E>(
        &self,
        selector: &Selector,
        mut f: impl FnMut(SeriesRef) -> Result<(), E>,
    ) -> Result<(), E> {
        for metric in metrics() {
            if selector.admits_metric(metric) {
                self.for_each_series(metric, |r| {
                    if selector.matches(self, r) {
                        f(r)
                    } else {
                        Ok(())
                    }
                })?;
            }
        }
        Ok(())
    }

    /// One label of a series; empty values count as absent, as in Prometheus.
    pub(super) fn label(&self, r: SeriesRef, name: &str) -> Option<Cow<'_, str>> {
        if name == NAME {
            return Some(Cow::Borrowed(r.metric.name()));
        }
        let value = match r.metric {
            Metric::Up => scrape::label(self, r.target, name),
            Metric::Exporter(m) => node_exporter::label(self, m, r.target, name),
            Metric::State(m) => kube_state::label(self, m, r.target, name),
            _ => self.cadvisor_label(r, name),
        };
        value.filter(|v| !v.is_empty())
    }

    fn cadvisor_label(&self, r: SeriesRef, name: &str) -> Option<Cow<'_, str>> {
        match r.target {
            Target::Container { pod, container } => {
                self.container_label(r.metric, pod, container, name)
            }
            Target::Pod(pod) => self.pod_label(r.metric, pod, name),
            Target::Node(node) => self.node_label(r.metric, node, name),
            Target::Capacity { node, resource } => self.capacity_label(node, resource, name),
            _ => None,
        }
    }

    fn container_label(
        &self,
        metric: Metric,
        pod: u32,
        container: u32,
        name: &str,
    ) -> Option<Cow<'_, str>> {
        let p = self.pod(pod);
        let c = &p.containers[container as usize];
        match name {
            "container" => Some(Cow::Borrowed(&c.name)),
            "image" => Some(Cow::Borrowed(&c.image)),
            "id" => Some(Cow::Owned(format!(
                "/kubepods/burstable/pod{}/{}",
                p.uid, c.name
            ))),
            "name" => Some(Cow::Owned(format!("k8s_{}_{}", c.name, p.name))),
            "device" if metric == Metric::FsUsage => Some(Cow::Borrowed("/dev/sda1")),
            _ => pod_common_label(p, name),
        }
    }

    fn pod_label(&self, metric: Metric, pod: u32, name: &str) -> Option<Cow<'_, str>> {
        let p = self.pod(pod);
        match name {
            "id" => Some(Cow::Owned(format!("/kubepods/burstable/pod{}", p.uid))),
            "interface" if metric.is_network() => Some(Cow::Borrowed("eth0")),
            _ => pod_common_label(p, name),
        }
    }

    fn node_label(&self, metric: Metric, node: u32, name: &str) -> Option<Cow<'_, str>> {
        let n = &self.topology.nodes[node as usize];
        let machine = matches!(metric, Metric::MachineCpuCores | Metric::MachineMemoryBytes);
        match name {
            "job" => Some(Cow::Borrowed("kubelet")),
            "instance" | "node" => Some(Cow::Borrowed(&n.name)),
            "id" if !machine => Some(Cow::Borrowed("/")),
            "interface" if metric.is_network() => Some(Cow::Borrowed("eth0")),
            "device" if metric == Metric::FsUsage => Some(Cow::Borrowed("/dev/sda1")),
            _ => None,
        }
    }

    fn capacity_label(&self, node: u32, resource: Resource, name: &str) -> Option<Cow<'_, str>> {
        let value = match (name, resource) {
            ("job", _) => "kube-state-metrics",
            ("instance", _) => kube_state::INSTANCE,
            ("node", _) => &self.topology.nodes[node as usize].name,
            ("resource", Resource::Cpu) => "cpu",
            ("resource", Resource::Memory) => "memory",
            ("unit", Resource::Cpu) => "core",
            ("unit", Resource::Memory) => "byte",
            _ => return None,
        };
        Some(Cow::Borrowed(value))
    }

    /// All labels of a series, sorted; without `__name__` unless `keep_name`.
    pub(super) fn labels(&self, r: SeriesRef, keep_name: bool) -> LabelSet<'_> {
        LABEL_NAMES
            .iter()
            .filter(|name| keep_name || **name != NAME)
            .filter_map(|name| self.label(r, name).map(|v| (*name, v)))
            .collect()
    }

    /// When a series starts: its pod's creation; nodes always exist.
    pub(super) fn since(&self, r: SeriesRef) -> f64 {
        match r.metric {
            Metric::Up => f64::NEG_INFINITY,
            Metric::Exporter(_) => node_exporter::since(self, r.target),
            Metric::State(_) => kube_state::since(self, r.target),
            _ => match r.target {
                Target::Container { pod, .. } | Target::Pod(pod) => {
                    self.pod(pod).created_unix as f64
                }
                _ => f64::NEG_INFINITY,
            },
        }
    }

    /// What computes the samples of a series.
    pub(super) fn sampler(&self, r: SeriesRef) -> Sampler<'_> {
        match r.metric {
            Metric::Up => return scrape::sampler(self, r.target),
            Metric::Exporter(m) => return node_exporter::sampler(self, m, r.target),
            Metric::State(m) => return kube_state::sampler(self, m, r.target),
            _ => {}
        }
        let counter = r.metric.is_counter();
        let since = self.since(r);
        let kind = match r.target {
            Target::Container { pod, container } => {
                let p = self.pod(pod);
                let waves = ContainerWaves::new(self.seed, p, &p.containers[container as usize]);
                let wave = waves.of(r.metric).unwrap_or(Wave::ZERO);
                SamplerKind::Waves(Moments::of(wave, since, since))
            }
            Target::Pod(pod) => SamplerKind::Waves(self.pod_moments(r.metric, pod)),
            Target::Node(node) => self.node_sampler(r.metric, node),
            Target::Capacity { node, resource } => {
                let n = &self.topology.nodes[node as usize];
                SamplerKind::Constant(match resource {
                    Resource::Cpu => f64::from(n.cpu_cores),
                    Resource::Memory => n.memory_bytes as f64,
                })
            }
            _ => SamplerKind::Constant(f64::NAN),
        };
        Sampler {
            since,
            until: f64::INFINITY,
            counter,
            kind,
        }
    }

    /// A pod's wave sum for one metric, counters integrated from its creation.
    fn pod_moments(&self, metric: Metric, pod: u32) -> Moments {
        let p = self.pod(pod);
        let created = p.created_unix as f64;
        if metric.is_network() {
            let wave = PodWaves::new(self.seed, p).of(metric).unwrap_or(Wave::ZERO);
            return Moments::of(wave, created, created);
        }
        p.containers.iter().fold(Moments::default(), |sum, c| {
            let wave = ContainerWaves::new(self.seed, p, c)
                .of(metric)
                .unwrap_or(Wave::ZERO);
            sum.plus(Moments::of(wave, created, created))
        })
    }

    fn node_sampler(&self, metric: Metric, node: u32) -> SamplerKind<'_> {
        let n = &self.topology.nodes[node as usize];
        let sums = &self.nodes[node as usize];
        match metric {
            Metric::MachineCpuCores => SamplerKind::Constant(f64::from(n.cpu_cores)),
            Metric::MachineMemoryBytes => SamplerKind::Constant(n.memory_bytes as f64),
            _ => SamplerKind::Node {
                created: &sums.created,
                origin: sums.origin,
                pods: sums.of(metric),
                overhead: Moments::of(sums.overhead.of(metric), 0.0, 0.0),
            },
        }
    }
}

/// Labels a pod shares with its containers.
fn pod_common_label<'t>(p: &'t PodTarget, name: &str) -> Option<Cow<'t, str>> {
    let value = match name {
        "job" => "kubelet",
        "instance" | "node" => &p.node,
        "namespace" => &p.namespace,
        "pod" => &p.name,
        _ => return None,
    };
    Some(Cow::Borrowed(value))
}

/// The node index of each pod, `None` when its node is not in the topology.
fn place_pods(topology: &Topology) -> Vec<Option<u32>> {
    let mut by_name: HashMap<&str, u32> = HashMap::with_capacity(topology.nodes.len());
    for (i, node) in topology.nodes.iter().enumerate() {
        by_name.entry(node.name.as_str()).or_insert(i as u32);
    }
    topology
        .pods
        .iter()
        .map(|p| by_name.get(p.node.as_str()).copied())
        .collect()
}
