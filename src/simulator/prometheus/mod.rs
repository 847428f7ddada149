//! A Prometheus HTTP API for the cluster simulator.
//!
//! Serves `/api/v1/query`, `/api/v1/query_range` (GET with a query string, POST with an
//! `application/x-www-form-urlencoded` body), `/api/v1/series`, `/api/v1/labels` and
//! `/api/v1/label/{name}/values` over synthetic cAdvisor (via the kubelet), node-exporter
//! and kube-state-metrics series for the cluster described by a [`Topology`], and `up`
//! for every scrape target (`scrape`, `node_exporter` and `kube_state` say which series
//! and labels). cAdvisor's series are:
//!
//! - container level, for every container of every scheduled pod:
//!   `container_cpu_usage_seconds_total`, `container_memory_usage_bytes`,
//!   `container_fs_usage_bytes` (`device="/dev/sda1"`);
//! - pod level (the pod cgroup; no `container` label): CPU, memory and
//!   `container_network_{receive,transmit}_bytes_total` (`interface="eth0"`);
//! - node level (the root cgroup, `id="/"`): CPU, memory, network, filesystem, plus
//!   `machine_cpu_cores`, `machine_memory_bytes` and `kube_node_status_capacity`.
//!
//! node-exporter's waves take their means from the node's cAdvisor sums and its
//! capacity; kube-state-metrics' series are constants of the objects' current state.
//!
//! Values are closed-form functions of time. Every container, pod and node has
//! deterministic "waves" `base × (1 + 0.3·sin(2πt/1h + phase))` drawn from a hash of the
//! seed and its identity; gauges are the wave, counters its integral since the pod's
//! creation (no sample before a pod existed). A pod is the sum of its containers, a node
//! the sum of its pods plus a system overhead; nodes keep prefix sums of their pods'
//! waves ordered by creation, so a node sample costs one binary search. Nothing is stored
//! per sample: a query walks the topology once per selector and computes every step in
//! closed form, which keeps 100,000-pod clusters cheap.
//!
//! The PromQL subset: vector selectors with `=`, `!=`, `=~`, `!~` (fully anchored regular
//! expressions, evaluated by the small engine in `regex`), `rate`/`irate`/`increase` of a range
//! selector, `sum`/`avg`/`max`/`min`/`count` with `by`/`without` in prefix or suffix
//! position, `+ - * /` between vectors and scalars and between two vectors with equal
//! label sets (one-to-one). Anything else is rejected with Prometheus' `bad_data`
//! envelope.

mod eval;
mod http;
mod kube_state;
mod node_exporter;
mod promql;
mod regex;
mod scrape;
mod series;
#[cfg(test)]
mod tests;
mod values;

use std::sync::{Arc, Mutex, PoisonError};

use actix_web::web;

use series::Index;

/// What the series are generated from; the simulator rebuilds it when the cluster changes.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub nodes: Vec<NodeTarget>,
    pub pods: Vec<PodTarget>,
    pub deployments: Vec<DeploymentTarget>,
}

/// A node: one kubelet, one root cgroup, one node-exporter.
#[derive(Debug, Clone, Default)]
pub struct NodeTarget {
    pub name: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    /// The root filesystem's size (the node's `ephemeral-storage` capacity).
    pub disk_bytes: u64,
    pub created_unix: i64,
    /// When the node went NotReady (its `Ready` condition's last transition); `None`
    /// while it is Ready. Prometheus cannot scrape its kubelet or node-exporter since.
    pub down_since: Option<i64>,
    /// Its conditions as (type, status): `("Ready", "True")`, …
    pub conditions: Vec<(&'static str, &'static str)>,
    pub info: NodeInfoTarget,
}

/// What kube-state-metrics' `kube_node_info` says about a node.
#[derive(Debug, Clone, Default)]
pub struct NodeInfoTarget {
    pub internal_ip: String,
    pub kernel_version: &'static str,
    pub os_image: &'static str,
    pub container_runtime_version: &'static str,
    pub kubelet_version: &'static str,
    pub kube_proxy_version: &'static str,
    pub provider_id: String,
    pub pod_cidr: String,
    pub system_uuid: String,
}

/// A pod; it has cAdvisor series only while its `node` names a node of the topology,
/// kube-state-metrics series always.
#[derive(Debug, Clone, Default)]
pub struct PodTarget {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    pub containers: Vec<ContainerTarget>,
    pub created_unix: i64,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: &'static str,
    /// Empty until the pod has an address.
    pub pod_ip: String,
    /// The controller that created the pod, as (kind, name).
    pub owner: Option<(&'static str, String)>,
}

/// A container of a pod.
#[derive(Debug, Clone, Default)]
pub struct ContainerTarget {
    pub name: String,
    pub image: String,
    pub restarts: u32,
    pub requests: Quantities,
    pub limits: Quantities,
}

/// The CPU and memory a container requests or is limited to (absent: not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantities {
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// A Deployment, for kube-state-metrics' `kube_deployment_*` series.
#[derive(Debug, Clone, Default)]
pub struct DeploymentTarget {
    pub namespace: String,
    pub name: String,
    pub created_unix: i64,
    /// `spec.replicas`.
    pub desired: u32,
    /// `status.replicas`, `status.availableReplicas`, `status.readyReplicas` and
    /// `status.updatedReplicas`.
    pub replicas: u32,
    pub available: u32,
    pub ready: u32,
    pub updated: u32,
}

/// Where the endpoints read the current topology from.
type TopologySource = Arc<dyn Fn() -> Arc<Topology> + Send + Sync>;

/// Shared state of the endpoints.
pub struct Prometheus {
    seed: u64,
    topology: TopologySource,
    /// The index of the last topology seen, rebuilt when the topology `Arc` changes.
    index: Mutex<Option<Arc<Index>>>,
}

impl Prometheus {
    pub fn new(seed: u64, topology: TopologySource) -> Self {
        Prometheus {
            seed,
            topology,
            index: Mutex::new(None),
        }
    }

    /// Registers GET and POST `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`,
    /// `/api/v1/labels` (`match[]` optional), GET `/api/v1/label/{name}/values` (`match[]`
    /// optional), `/api/v1/status/buildinfo`, `/-/healthy` and `/-/ready`.
    pub fn configure(self: Arc<Self>, cfg: &mut web::ServiceConfig) {
        let data = web::Data::from(self);
        cfg.service(http::both(
            http::resource("/api/v1/query", &data),
            http::query,
        ))
        .service(http::both(
            http::resource("/api/v1/query_range", &data),
            http::query_range,
        ))
        .service(http::both(
            http::resource("/api/v1/series", &data),
            http::series,
        ))
        .service(http::both(
            http::resource("/api/v1/labels", &data),
            http::labels,
        ))
        .service(
            http::resource("/api/v1/label/{name}/values", &data)
                .route(web::get().to(http::label_values)),
        )
        .route("/api/v1/status/buildinfo", web::get().to(http::buildinfo))
        .route("/-/healthy", web::get().to(http::healthy))
        .route("/-/healthy", web::head().to(http::healthy))
        .route("/-/ready", web::get().to(http::ready))
        .route("/-/ready", web::head().to(http::ready));
    }

    /// The index of the current topology, built once per topology.
    fn index(&self) -> Arc<Index> {
        let topology = (self.topology)();
        let mut cached = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = cached.as_ref()
            && Arc::ptr_eq(&index.topology, &topology)
        {
            return index.clone();
        }
        let index = Arc::new(Index::build(self.seed, topology));
        *cached = Some(index.clone());
        index
    }
}
