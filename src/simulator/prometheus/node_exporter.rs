//! node-exporter's series, one set per node, with its names and labels (`job="node-exporter"`,
//! `instance` and `node` the node's name):
//!
//! - `node_cpu_seconds_total{cpu,mode}` for every CPU of the node's capacity and the
//!   eight modes, counting from boot;
//! - `node_memory_{MemTotal,MemAvailable,MemFree,Cached,Buffers}_bytes`;
//! - `node_filesystem_{size,avail,free}_bytes{device,fstype,mountpoint}` for `/` (the
//!   node's ephemeral storage) and the `/run` tmpfs;
//! - `node_load1`, `node_load5`, `node_load15`;
//! - `node_network_{receive,transmit}_bytes_total{device}` for `eth0` and `lo`;
//! - `node_boot_time_seconds`.
//!
//! Values follow the node's capacity and its cAdvisor series: the CPU busy share, memory
//! and disk use and `eth0` traffic are waves whose means are the node's cAdvisor means
//! (its pods plus overhead), capped so that a node never looks fuller than it can be.
//! Every series starts at boot and stops when the node goes NotReady.

use std::borrow::Cow;

use super::NodeTarget;
use super::series::{Index, Metric, Target};
use super::values::{GIB, Moments, NodeSums, Sampler, SamplerKind, SplitMix, Wave};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ExporterMetric {
    CpuSeconds,
    MemTotal,
    MemAvailable,
    MemFree,
    MemCached,
    MemBuffers,
    FsSize,
    FsAvail,
    FsFree,
    Load1,
    Load5,
    Load15,
    NetReceive,
    NetTransmit,
    BootTime,
}

impl ExporterMetric {
    pub(super) const ALL: [ExporterMetric; 15] = [
        ExporterMetric::CpuSeconds,
        ExporterMetric::MemTotal,
        ExporterMetric::MemAvailable,
        ExporterMetric::MemFree,
        ExporterMetric::MemCached,
        ExporterMetric::MemBuffers,
        ExporterMetric::FsSize,
        ExporterMetric::FsAvail,
        ExporterMetric::FsFree,
        ExporterMetric::Load1,
        ExporterMetric::Load5,
        ExporterMetric::Load15,
        ExporterMetric::NetReceive,
        ExporterMetric::NetTransmit,
        ExporterMetric::BootTime,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            ExporterMetric::CpuSeconds => "node_cpu_seconds_total",
            ExporterMetric::MemTotal => "node_memory_MemTotal_bytes",
            ExporterMetric::MemAvailable => "node_memory_MemAvailable_bytes",
            ExporterMetric::MemFree => "node_memory_MemFree_bytes",
            ExporterMetric::MemCached => "node_memory_Cached_bytes",
            ExporterMetric::MemBuffers => "node_memory_Buffers_bytes",
            ExporterMetric::FsSize => "node_filesystem_size_bytes",
            ExporterMetric::FsAvail => "node_filesystem_avail_bytes",
            ExporterMetric::FsFree => "node_filesystem_free_bytes",
            ExporterMetric::Load1 => "node_load1",
            ExporterMetric::Load5 => "node_load5",
            ExporterMetric::Load15 => "node_load15",
            ExporterMetric::NetReceive => "node_network_receive_bytes_total",
            ExporterMetric::NetTransmit => "node_network_transmit_bytes_total",
            ExporterMetric::BootTime => "node_boot_time_seconds",
        }
    }

    fn is_filesystem(self) -> bool {
        matches!(
            self,
            ExporterMetric::FsSize | ExporterMetric::FsAvail | ExporterMetric::FsFree
        )
    }

    fn is_network(self) -> bool {
        matches!(
            self,
            ExporterMetric::NetReceive | ExporterMetric::NetTransmit
        )
    }
}

/// The CPU modes node-exporter reports, with each one's share of the busy time (`idle`
/// is the rest).
const MODES: [(&str, f64); 8] = [
    ("idle", 0.0),
    ("iowait", 0.05),
    ("irq", 0.01),
    ("nice", 0.02),
    ("softirq", 0.03),
    ("steal", 0.02),
    ("system", 0.25),
    ("user", 0.62),
];

/// The filesystems: (device, fstype, mountpoint).
const FILESYSTEMS: [(&str, &str, &str); 2] =
    [("/dev/sda1", "ext4", "/"), ("tmpfs", "tmpfs", "/run")];

const NETWORK_DEVICES: [&str; 2] = ["eth0", "lo"];

/// The share of `MemAvailable` that is free, cached and buffers.
const FREE_SHARE: f64 = 0.45;
const CACHED_SHARE: f64 = 0.5;
const BUFFERS_SHARE: f64 = 0.05;
/// The share of a filesystem reserved for root (`free` counts it, `avail` does not).
const RESERVED_SHARE: f64 = 0.05;
/// How long the load averages lag behind the busy share.
const LOAD5_LAG: f64 = 150.0;
const LOAD15_LAG: f64 = 450.0;
/// A node's uptime is at most this much shorter than its age.
const MAX_BOOT_AFTER_CREATION: f64 = 30.0 * 86_400.0;

/// What node-exporter sees on one node: waves of shares of its capacity.
pub(super) struct Machine {
    /// When node-exporter started (a whole second).
    boot: f64,
    /// When the node went NotReady (no samples from then on).
    until: f64,
    cores: f64,
    memory_bytes: f64,
    disk_bytes: f64,
    /// The busy share of each CPU, before its skew; at most 0.6·1.3·1.2 < 1.
    busy: Wave,
    /// How much busier CPU 0 is than the mean (the others follow a fixed pattern).
    cpu_skew: f64,
    memory_used: Wave,
    disk_used: Wave,
    run_used: Wave,
    receive: Wave,
    transmit: Wave,
    loopback: Wave,
}

impl Machine {
    /// The machine of `node`, its means taken from the node's cAdvisor sums.
    pub(super) fn new(seed: u64, node: &NodeTarget, sums: &NodeSums) -> Self {
        let mut rng = SplitMix::from_parts(seed, &["\0node-exporter", &node.name]);
        let mean = |metric: Metric| {
            sums.of(metric).last().map_or(0.0, Moments::mean) + sums.overhead.of(metric).base
        };
        let cores = f64::from(node.cpu_cores.max(1));
        let memory_bytes = if node.memory_bytes > 0 {
            node.memory_bytes as f64
        } else {
            GIB
        };
        let disk_bytes = if node.disk_bytes > 0 {
            node.disk_bytes as f64
        } else {
            100.0 * GIB
        };
        let busy = (mean(Metric::CpuUsage) / cores).clamp(0.02, 0.6);
        let memory_used = (mean(Metric::MemoryUsage) / memory_bytes).clamp(0.05, 0.7);
        let disk_used = (mean(Metric::FsUsage) / disk_bytes).clamp(0.02, 0.65);
        Machine {
            boot: (node.created_unix as f64 + rng.unit() * MAX_BOOT_AFTER_CREATION).floor(),
            until: node.down_since.map_or(f64::INFINITY, |t| t as f64),
            cores,
            memory_bytes,
            disk_bytes,
            busy: Wave::fixed(&mut rng, busy),
            cpu_skew: rng.unit(),
            memory_used: Wave::fixed(&mut rng, memory_used),
            disk_used: Wave::fixed(&mut rng, disk_used),
            run_used: Wave::draw(&mut rng, 0.001, 0.02),
            receive: Wave::fixed(&mut rng, mean(Metric::NetworkReceive)),
            transmit: Wave::fixed(&mut rng, mean(Metric::NetworkTransmit)),
            loopback: Wave::draw(&mut rng, 1_000.0, 20_000.0),
        }
    }

    /// How much busier CPU `cpu` is than the node's mean: within [0.8, 1.2).
    fn cpu_factor(&self, cpu: u16) -> f64 {
        let spread = (f64::from(cpu) * 0.618_034 + self.cpu_skew).fract();
        0.8 + 0.4 * spread
    }
}

pub(super) fn for_each_target<E>(
    index: &Index,
    metric: ExporterMetric,
    mut f: impl FnMut(Target) -> Result<(), E>,
) -> Result<(), E> {
    for (node, n) in index.topology.nodes.iter().enumerate() {
        let node = node as u32;
        if metric == ExporterMetric::CpuSeconds {
            for cpu in 0..n.cpu_cores.max(1).min(u32::from(u16::MAX)) as u16 {
                for mode in 0..MODES.len() as u8 {
                    f(Target::NodeCpu { node, cpu, mode })?;
                }
            }
        } else if metric.is_filesystem() {
            for device in 0..FILESYSTEMS.len() as u8 {
                f(Target::NodeDevice { node, device })?;
            }
        } else if metric.is_network() {
            for device in 0..NETWORK_DEVICES.len() as u8 {
                f(Target::NodeDevice { node, device })?;
            }
        } else {
            f(Target::Node(node))?;
        }
    }
    Ok(())
}

fn node_of(target: Target) -> Option<u32> {
    match target {
        Target::Node(node) | Target::NodeCpu { node, .. } | Target::NodeDevice { node, .. } => {
            Some(node)
        }
        _ => None,
    }
}

pub(super) fn label<'t>(
    index: &'t Index,
    metric: ExporterMetric,
    target: Target,
    name: &str,
) -> Option<Cow<'t, str>> {
    let node = &index.topology.nodes[node_of(target)? as usize];
    let value = match (name, target) {
        ("job", _) => "node-exporter",
        ("instance" | "node", _) => &node.name,
        ("cpu", Target::NodeCpu { cpu, .. }) => return Some(Cow::Owned(cpu.to_string())),
        ("mode", Target::NodeCpu { mode, .. }) => MODES[mode as usize].0,
        ("device", Target::NodeDevice { device, .. }) if metric.is_filesystem() => {
            FILESYSTEMS[device as usize].0
        }
        ("fstype", Target::NodeDevice { device, .. }) if metric.is_filesystem() => {
            FILESYSTEMS[device as usize].1
        }
        ("mountpoint", Target::NodeDevice { device, .. }) if metric.is_filesystem() => {
            FILESYSTEMS[device as usize].2
        }
        ("device", Target::NodeDevice { device, .. }) => NETWORK_DEVICES[device as usize],
        _ => return None,
    };
    Some(Cow::Borrowed(value))
}

/// node-exporter's series exist from the node's boot.
pub(super) fn since(index: &Index, target: Target) -> f64 {
    node_of(target).map_or(f64::NEG_INFINITY, |n| index.machines[n as usize].boot)
}

pub(super) fn sampler(index: &Index, metric: ExporterMetric, target: Target) -> Sampler<'static> {
    let Some(node) = node_of(target) else {
        return Sampler {
            since: f64::INFINITY,
            until: f64::INFINITY,
            counter: false,
            kind: SamplerKind::Constant(f64::NAN),
        };
    };
    let m = &index.machines[node as usize];
    let scaled = |wave: Wave, offset: f64, scale: f64| SamplerKind::Scaled {
        moments: Moments::of(wave, m.boot, m.boot),
        origin: m.boot,
        offset,
        scale,
    };
    let available = |share: f64| {
        scaled(
            m.memory_used,
            share * m.memory_bytes,
            -share * m.memory_bytes,
        )
    };
    let device = match target {
        Target::NodeDevice { device, .. } => device as usize,
        _ => 0,
    };
    let kind = match (metric, target) {
        (ExporterMetric::CpuSeconds, Target::NodeCpu { cpu, mode, .. }) => {
            let factor = m.cpu_factor(cpu);
            match MODES[mode as usize] {
                ("idle", _) => scaled(m.busy, 1.0, -factor),
                (_, share) => scaled(m.busy, 0.0, share * factor),
            }
        }
        (ExporterMetric::MemTotal, _) => SamplerKind::Constant(m.memory_bytes),
        (ExporterMetric::MemAvailable, _) => available(1.0),
        (ExporterMetric::MemFree, _) => available(FREE_SHARE),
        (ExporterMetric::MemCached, _) => available(CACHED_SHARE),
        (ExporterMetric::MemBuffers, _) => available(BUFFERS_SHARE),
        (ExporterMetric::FsSize | ExporterMetric::FsAvail | ExporterMetric::FsFree, _) => {
            let (size, used) = if device == 0 {
                (m.disk_bytes, m.disk_used)
            } else {
                ((m.memory_bytes / 10.0).floor(), m.run_used)
            };
            match metric {
                ExporterMetric::FsSize => SamplerKind::Constant(size),
                ExporterMetric::FsAvail => scaled(used, (1.0 - RESERVED_SHARE) * size, -size),
                _ => scaled(used, size, -size),
            }
        }
        (ExporterMetric::Load1, _) => scaled(m.busy, 0.0, m.cores),
        (ExporterMetric::Load5, _) => scaled(m.busy.delayed(LOAD5_LAG), 0.0, m.cores),
        (ExporterMetric::Load15, _) => scaled(m.busy.delayed(LOAD15_LAG), 0.0, m.cores),
        (ExporterMetric::NetReceive | ExporterMetric::NetTransmit, _) => {
            let wave = match (device, metric) {
                (0, ExporterMetric::NetReceive) => m.receive,
                (0, _) => m.transmit,
                _ => m.loopback,
            };
            scaled(wave, 0.0, 1.0)
        }
        (ExporterMetric::BootTime, _) => SamplerKind::Constant(m.boot),
        (ExporterMetric::CpuSeconds, _) => SamplerKind::Constant(f64::NAN),
    };
    Sampler {
        since: m.boot,
        until: m.until,
        counter: matches!(
            metric,
            ExporterMetric::CpuSeconds | ExporterMetric::NetReceive | ExporterMetric::NetTransmit
        ),
        kind,
    }
}
