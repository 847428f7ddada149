//! A Prometheus HTTP API for the cluster simulator.
//!
//! Serves `/api/v1/query`, `/api/v1/query_range` (GET with a query string, POST with an
//! `application/x-www-form-urlencoded` body), `/api/v1/series`, `/api/v1/labels` and
//! `/api/v1/label/{name}/values` over synthetic cAdvisor (via the kubelet) and
//! kube-state-metrics series for the cluster described by a [`Topology`]:
//!
//! - container level, for every container of every scheduled pod:
//!   `container_cpu_usage_seconds_total`, `container_memory_usage_bytes`,
//!   `container_fs_usage_bytes` (`device="/dev/sda1"`);
//! - pod level (the pod cgroup; no `container` label): CPU, memory and
//!   `container_network_{receive,transmit}_bytes_total` (`interface="eth0"`);
//! - node level (the root cgroup, `id="/"`): CPU, memory, network, filesystem, plus
//!   `machine_cpu_cores`, `machine_memory_bytes` and `kube_node_status_capacity`.
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
mod promql;
mod regex;
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
}

/// A node: one kubelet, one root cgroup.
#[derive(Debug, Clone)]
pub struct NodeTarget {
    pub name: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
}

/// A pod; it has series only while its `node` names a node of the topology.
#[derive(Debug, Clone)]
pub struct PodTarget {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    pub containers: Vec<ContainerTarget>,
    pub created_unix: i64,
}

/// A container of a pod.
#[derive(Debug, Clone)]
pub struct ContainerTarget {
    pub name: String,
    pub image: String,
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
