//! `up`: one series per scrape target the simulated Prometheus has, as a
//! kube-prometheus-style setup configures them.
//!
//! - per node: the kubelet (`job="kubelet"`, `metrics_path="/metrics"`), cAdvisor through
//!   the kubelet (`job="kubelet"`, `metrics_path="/metrics/cadvisor"`, the job the
//!   `container_*` series carry) and node-exporter (`job="node-exporter"`), each with
//!   `instance` and `node` the node's name;
//! - once: kube-state-metrics, the API server and Prometheus itself.
//!
//! A node's targets answer 1, and 0 from the moment the node went NotReady: the
//! simulator treats a NotReady node as unreachable (its node-exporter series stop then
//! too).

use std::borrow::Cow;

use super::kube_state;
use super::series::{Index, Target};
use super::values::{Sampler, SamplerKind};

/// The jobs scraped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Job {
    Kubelet,
    Cadvisor,
    NodeExporter,
    KubeStateMetrics,
    Apiserver,
    Prometheus,
}

/// The jobs with one target per node.
const PER_NODE: [Job; 3] = [Job::Kubelet, Job::Cadvisor, Job::NodeExporter];
/// The jobs with one target in the cluster.
const PER_CLUSTER: [Job; 3] = [Job::KubeStateMetrics, Job::Apiserver, Job::Prometheus];

/// Where the API server is scraped when no node has an address.
const APISERVER_FALLBACK: &str = "10.96.0.1:443";
const PROMETHEUS_INSTANCE: &str = "localhost:9090";

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Kubelet | Job::Cadvisor => "kubelet",
            Job::NodeExporter => "node-exporter",
            Job::KubeStateMetrics => "kube-state-metrics",
            Job::Apiserver => "apiserver",
            Job::Prometheus => "prometheus",
        }
    }

    fn per_node(self) -> bool {
        PER_NODE.contains(&self)
    }
}

/// Calls `f` for each target: the node-level ones node by node, then the others.
pub(super) fn for_each_target<E>(
    index: &Index,
    mut f: impl FnMut(Target) -> Result<(), E>,
) -> Result<(), E> {
    for node in 0..index.topology.nodes.len() as u32 {
        for job in PER_NODE {
            f(Target::Scrape { job, node })?;
        }
    }
    for job in PER_CLUSTER {
        f(Target::Scrape { job, node: 0 })?;
    }
    Ok(())
}

pub(super) fn label<'t>(index: &'t Index, target: Target, name: &str) -> Option<Cow<'t, str>> {
    let Target::Scrape { job, node } = target else {
        return None;
    };
    if job.per_node() {
        let n = &index.topology.nodes[node as usize];
        return match name {
            "job" => Some(Cow::Borrowed(job.name())),
            "instance" | "node" => Some(Cow::Borrowed(&n.name)),
            "metrics_path" => match job {
                Job::Kubelet => Some(Cow::Borrowed("/metrics")),
                Job::Cadvisor => Some(Cow::Borrowed("/metrics/cadvisor")),
                _ => None,
            },
            _ => None,
        };
    }
    match name {
        "job" => Some(Cow::Borrowed(job.name())),
        "instance" => Some(match job {
            Job::KubeStateMetrics => Cow::Borrowed(kube_state::INSTANCE),
            Job::Apiserver => apiserver_instance(index),
            _ => Cow::Borrowed(PROMETHEUS_INSTANCE),
        }),
        _ => None,
    }
}

/// The API server runs on the first node (the control plane of a generated cluster).
fn apiserver_instance(index: &Index) -> Cow<'_, str> {
    match index.topology.nodes.first() {
        Some(n) if !n.info.internal_ip.is_empty() => {
            Cow::Owned(format!("{}:6443", n.info.internal_ip))
        }
        _ => Cow::Borrowed(APISERVER_FALLBACK),
    }
}

pub(super) fn sampler(index: &Index, target: Target) -> Sampler<'static> {
    let down_since = match target {
        Target::Scrape { job, node } if job.per_node() => {
            index.topology.nodes[node as usize].down_since
        }
        _ => None,
    };
    let kind = match down_since {
        Some(at) => SamplerKind::Switch {
            before: 1.0,
            at: at as f64,
            after: 0.0,
        },
        None => SamplerKind::Constant(1.0),
    };
    Sampler {
        since: f64::NEG_INFINITY,
        until: f64::INFINITY,
        counter: false,
        kind,
    }
}
