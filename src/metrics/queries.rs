//! The PromQL a capture sends: one query per counter for a whole batch of objects,
//! selecting them with regular-expression label matchers (ManageIQ sends one query per
//! object and counter). Label sets follow the kubelet's cAdvisor series
//! (`job="kubelet"`): nodes are the root cgroup (`id="/"`), pods their pod cgroup
//! (no `container` label), containers carry `container`. Nodes without cAdvisor
//! series fall back to node-exporter's (`node_*` metrics, a `node` label).

use super::targets::{CaptureType, Target};

/// The quantities captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// CPU cores in use.
    Cpu,
    /// Memory in use, bytes.
    Memory,
    /// Network received, bytes/s.
    NetRx,
    /// Network transmitted, bytes/s.
    NetTx,
    /// Filesystem in use, bytes.
    Disk,
}

/// How long `rate()` looks back.
const RATE_WINDOW: &str = "2m";
const INTERFACES: &str = "eth.*|ens.*|enp.*|eno.*|enc.*";

/// Escapes a label value for a `=~` matcher (Kubernetes names have `.` and `-`).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if "\\.+*?()|[]{}^$".contains(ch) {
            out.push_str("\\\\");
        } else if ch == '"' {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// `a|b|c` of the distinct values at `position` of the targets' keys.
fn alternatives(targets: &[Target], position: usize) -> String {
    let mut values: Vec<&str> = targets
        .iter()
        .filter_map(|t| t.key.get(position).map(String::as_str))
        .collect();
    values.sort_unstable();
    values.dedup();
    values
        .iter()
        .map(|v| escape(v))
        .collect::<Vec<_>>()
        .join("|")
}

/// The labels a result series is matched back to its target by.
pub fn key_labels(kind: CaptureType) -> &'static [&'static str] {
    match kind {
        CaptureType::ContainerNode => &["node"],
        CaptureType::ContainerGroup => &["namespace", "pod"],
        CaptureType::Container => &["namespace", "pod", "container"],
    }
}

/// The counters a type has.
pub fn counters(kind: CaptureType) -> &'static [Counter] {
    match kind {
        CaptureType::Container => &[Counter::Cpu, Counter::Memory, Counter::Disk],
        CaptureType::ContainerGroup => &[
            Counter::Cpu,
            Counter::Memory,
            Counter::NetRx,
            Counter::NetTx,
        ],
        CaptureType::ContainerNode => &[
            Counter::Cpu,
            Counter::Memory,
            Counter::NetRx,
            Counter::NetTx,
            Counter::Disk,
        ],
    }
}

/// The cAdvisor query of `counter` for a batch.
pub fn cadvisor(kind: CaptureType, counter: Counter, targets: &[Target]) -> String {
    let by = key_labels(kind).join(",");
    let selector = match kind {
        CaptureType::ContainerNode => {
            format!(
                "job=\"kubelet\",id=\"/\",node=~\"{}\"",
                alternatives(targets, 0)
            )
        }
        CaptureType::ContainerGroup => format!(
            "job=\"kubelet\",container=\"\",namespace=~\"{}\",pod=~\"{}\"",
            alternatives(targets, 0),
            alternatives(targets, 1)
        ),
        CaptureType::Container => format!(
            "job=\"kubelet\",container!=\"\",namespace=~\"{}\",pod=~\"{}\",container=~\"{}\"",
            alternatives(targets, 0),
            alternatives(targets, 1),
            alternatives(targets, 2)
        ),
    };
    match counter {
        Counter::Cpu => format!(
            "sum by ({by}) (rate(container_cpu_usage_seconds_total{{{selector}}}[{RATE_WINDOW}]))"
        ),
        Counter::Memory => format!("sum by ({by}) (container_memory_usage_bytes{{{selector}}})"),
        Counter::NetRx => format!(
            "sum by ({by}) (rate(container_network_receive_bytes_total{{{selector},interface=~\"{INTERFACES}\"}}[{RATE_WINDOW}]))"
        ),
        Counter::NetTx => format!(
            "sum by ({by}) (rate(container_network_transmit_bytes_total{{{selector},interface=~\"{INTERFACES}\"}}[{RATE_WINDOW}]))"
        ),
        Counter::Disk => format!("sum by ({by}) (container_fs_usage_bytes{{{selector}}})"),
    }
}

/// The node-exporter query of `counter` for nodes (labelled `node`).
pub fn node_exporter(counter: Counter, targets: &[Target]) -> String {
    let nodes = format!("node=~\"{}\"", alternatives(targets, 0));
    match counter {
        Counter::Cpu => format!(
            "sum by (node) (rate(node_cpu_seconds_total{{{nodes},mode!=\"idle\",mode!=\"iowait\",mode!=\"steal\"}}[{RATE_WINDOW}]))"
        ),
        Counter::Memory => format!(
            "sum by (node) (node_memory_MemTotal_bytes{{{nodes}}}) - sum by (node) (node_memory_MemAvailable_bytes{{{nodes}}})"
        ),
        Counter::NetRx => format!(
            "sum by (node) (rate(node_network_receive_bytes_total{{{nodes},device!=\"lo\"}}[{RATE_WINDOW}]))"
        ),
        Counter::NetTx => format!(
            "sum by (node) (rate(node_network_transmit_bytes_total{{{nodes},device!=\"lo\"}}[{RATE_WINDOW}]))"
        ),
        Counter::Disk => format!(
            "sum by (node) (node_filesystem_size_bytes{{{nodes},fstype!~\"tmpfs|overlay|squashfs\"}}) - sum by (node) (node_filesystem_avail_bytes{{{nodes},fstype!~\"tmpfs|overlay|squashfs\"}})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str) -> Target {
        Target {
            id: 1,
            key: vec![ns.into(), name.into()],
            node_cores: 4.0,
            node_memory: 1e9,
        }
    }

    #[test]
    fn one_query_selects_a_whole_batch() {
        let q = cadvisor(
            CaptureType::ContainerGroup,
            Counter::Cpu,
            &[
                pod("shop", "web-1.a"),
                pod("shop", "web-2"),
                pod("ops", "x"),
            ],
        );
        assert_eq!(
            q,
            "sum by (namespace,pod) (rate(container_cpu_usage_seconds_total{job=\"kubelet\",container=\"\",namespace=~\"ops|shop\",pod=~\"web-1\\\\.a|web-2|x\"}[2m]))"
        );
        let n = node_exporter(
            Counter::Memory,
            &[Target {
                key: vec!["n1".into()],
                ..pod("", "")
            }],
        );
        assert!(n.contains("node_memory_MemAvailable_bytes{node=~\"n1\"}"));
    }
}
