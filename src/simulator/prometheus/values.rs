//! The values: waves, their sums and integrals in closed form, and the samplers that
//! compute a series' samples from them.

use std::f64::consts::TAU;

use super::promql::Func;
use super::series::Metric;
use super::{ContainerTarget, NodeTarget, PodTarget};

const PERIOD: f64 = 3600.0;
const OMEGA: f64 = TAU / PERIOD;
const AMPLITUDE: f64 = 0.3;
/// The integral of `AMPLITUDE·sin(ωt)` is `-AMPLITUDE/ω · cos(ωt)`.
const INTEGRAL_SCALE: f64 = AMPLITUDE / OMEGA;
/// The scrape interval the series pretend to have: `rate` needs two samples, `irate`
/// takes the last two.
const SCRAPE_INTERVAL: f64 = 15.0;
const KB: f64 = 1000.0;
pub(super) const MIB: f64 = 1024.0 * 1024.0;
pub(super) const GIB: f64 = 1024.0 * MIB;

/// `base × (1 + 0.3·sin(ωt + phase))`: a rate (counters) or a level (gauges).
#[derive(Debug, Clone, Copy)]
pub(super) struct Wave {
    pub(super) base: f64,
    phase: f64,
}

impl Wave {
    pub(super) const ZERO: Wave = Wave {
        base: 0.0,
        phase: 0.0,
    };

    /// A wave with a log-uniform base in `[low, high)` and a random phase.
    pub(super) fn draw(rng: &mut SplitMix, low: f64, high: f64) -> Self {
        let base = low * (high / low).powf(rng.unit());
        Wave {
            base,
            phase: rng.unit() * TAU,
        }
    }

    /// A wave of the given base and a random phase.
    pub(super) fn fixed(rng: &mut SplitMix, base: f64) -> Self {
        Wave {
            base,
            phase: rng.unit() * TAU,
        }
    }

    /// The same wave `seconds` later: what it was `seconds` ago is its value now.
    pub(super) fn delayed(self, seconds: f64) -> Self {
        Wave {
            base: self.base,
            phase: self.phase - OMEGA * seconds,
        }
    }

    #[cfg(test)]
    pub(super) fn at(self, t: f64) -> f64 {
        self.base * (1.0 + AMPLITUDE * (OMEGA * t + self.phase).sin())
    }
}

/// The parameters of one container, from a hash of (seed, pod uid, container name).
pub(super) struct ContainerWaves {
    pub(super) cpu: Wave,
    memory: Wave,
    fs: Wave,
}

impl ContainerWaves {
    pub(super) fn new(seed: u64, pod: &PodTarget, container: &ContainerTarget) -> Self {
        let mut rng = SplitMix::from_parts(seed, &[&pod.uid, &container.name]);
        ContainerWaves {
            cpu: Wave::draw(&mut rng, 0.005, 0.5),
            memory: Wave::draw(&mut rng, 20.0 * MIB, GIB),
            fs: Wave::draw(&mut rng, 10.0 * MIB, 2.0 * GIB),
        }
    }

    pub(super) fn of(&self, metric: Metric) -> Option<Wave> {
        match metric {
            Metric::CpuUsage => Some(self.cpu),
            Metric::MemoryUsage => Some(self.memory),
            Metric::FsUsage => Some(self.fs),
            _ => None,
        }
    }
}

/// A pod's own network, from a hash of (seed, pod uid).
pub(super) struct PodWaves {
    receive: Wave,
    transmit: Wave,
}

impl PodWaves {
    pub(super) fn new(seed: u64, pod: &PodTarget) -> Self {
        let mut rng = SplitMix::from_parts(seed, &[&pod.uid, "\0network"]);
        PodWaves {
            receive: Wave::draw(&mut rng, KB, 500.0 * KB),
            transmit: Wave::draw(&mut rng, KB, 500.0 * KB),
        }
    }

    pub(super) fn of(&self, metric: Metric) -> Option<Wave> {
        match metric {
            Metric::NetworkReceive => Some(self.receive),
            Metric::NetworkTransmit => Some(self.transmit),
            _ => None,
        }
    }
}

/// A node's own share (system daemons, the OS), from a hash of (seed, node name).
#[derive(Debug, Clone, Copy)]
pub(super) struct NodeWaves {
    pub(super) cpu: Wave,
    memory: Wave,
    fs: Wave,
    receive: Wave,
    transmit: Wave,
}

impl NodeWaves {
    pub(super) fn new(seed: u64, node: &NodeTarget) -> Self {
        let mut rng = SplitMix::from_parts(seed, &["\0node", &node.name]);
        NodeWaves {
            cpu: Wave::fixed(&mut rng, 0.1),
            memory: Wave::fixed(&mut rng, 300.0 * MIB),
            fs: Wave::draw(&mut rng, 2.0 * GIB, 8.0 * GIB),
            receive: Wave::draw(&mut rng, 2.0 * KB, 20.0 * KB),
            transmit: Wave::draw(&mut rng, 2.0 * KB, 20.0 * KB),
        }
    }

    pub(super) fn of(&self, metric: Metric) -> Wave {
        match metric {
            Metric::CpuUsage => self.cpu,
            Metric::MemoryUsage => self.memory,
            Metric::FsUsage => self.fs,
            Metric::NetworkReceive => self.receive,
            Metric::NetworkTransmit => self.transmit,
            _ => Wave::ZERO,
        }
    }
}

/// A sum of waves `Σ bᵢ(1 + A·sin(ωt + φᵢ))` started at times `cᵢ`, kept as the moments
/// that make both the sum and its integral closed forms:
///
/// - gauge(t) = Σb + A·(sin ωt·Σb·cos φ + cos ωt·Σb·sin φ)
/// - counter(t) = Σ bᵢ(t − cᵢ) + A/ω·(Σ bᵢ·cos(ωcᵢ + φᵢ) − cos ωt·Σb·cos φ + sin ωt·Σb·sin φ)
///
/// Creation times are kept relative to an `origin` for precision.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Moments {
    base: f64,
    base_created: f64,
    base_cos_start: f64,
    base_cos: f64,
    base_sin: f64,
}

impl Moments {
    pub(super) fn of(wave: Wave, created: f64, origin: f64) -> Self {
        let b = wave.base;
        Moments {
            base: b,
            base_created: b * (created - origin),
            base_cos_start: b * (OMEGA * created + wave.phase).cos(),
            base_cos: b * wave.phase.cos(),
            base_sin: b * wave.phase.sin(),
        }
    }

    /// The mean of the sum: its bases added up.
    pub(super) fn mean(&self) -> f64 {
        self.base
    }

    pub(super) fn plus(self, o: Moments) -> Self {
        Moments {
            base: self.base + o.base,
            base_created: self.base_created + o.base_created,
            base_cos_start: self.base_cos_start + o.base_cos_start,
            base_cos: self.base_cos + o.base_cos,
            base_sin: self.base_sin + o.base_sin,
        }
    }

    fn gauge(&self, at: At) -> f64 {
        self.base + AMPLITUDE * (at.sin * self.base_cos + at.cos * self.base_sin)
    }

    pub(super) fn counter(&self, at: At, origin: f64) -> f64 {
        (at.t - origin) * self.base - self.base_created
            + INTEGRAL_SCALE
                * (self.base_cos_start - (at.cos * self.base_cos - at.sin * self.base_sin))
    }

    fn value(&self, at: At, origin: f64, counter: bool) -> f64 {
        if counter {
            self.counter(at, origin)
        } else {
            self.gauge(at)
        }
    }
}

/// A time with `sin ωt` and `cos ωt`, computed once per step rather than per series.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    t: f64,
    sin: f64,
    cos: f64,
}

impl At {
    pub(super) fn new(t: f64) -> Self {
        let (sin, cos) = (OMEGA * t).sin_cos();
        At { t, sin, cos }
    }
}

/// The times a range function looks at for one step, for a window of `window` seconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowAt {
    now: At,
    window: f64,
    /// `now - window`.
    start: At,
    /// The last two scrapes at or before `now`, for `irate`.
    last: At,
    previous: At,
}

impl WindowAt {
    pub(super) fn new(now: At, window: f64) -> Self {
        let last = (now.t / SCRAPE_INTERVAL).floor() * SCRAPE_INTERVAL;
        WindowAt {
            now,
            window,
            start: At::new(now.t - window),
            last: At::new(last),
            previous: At::new(last - SCRAPE_INTERVAL),
        }
    }
}

/// Prefix sums of a node's pods' moments, pods ordered by creation: the pods running at
/// `t` are a prefix found by binary search.
pub(super) struct NodeSums {
    pub(super) created: Vec<f64>,
    pub(super) origin: f64,
    cpu: Vec<Moments>,
    memory: Vec<Moments>,
    fs: Vec<Moments>,
    receive: Vec<Moments>,
    transmit: Vec<Moments>,
    pub(super) overhead: NodeWaves,
}

impl NodeSums {
    pub(super) fn build(seed: u64, node: &NodeTarget, pods: &[PodTarget], members: &[u32]) -> Self {
        let mut order = members.to_vec();
        order.sort_by_key(|&p| (pods[p as usize].created_unix, p));
        let origin = order
            .first()
            .map_or(0.0, |&p| pods[p as usize].created_unix as f64);
        let start = vec![Moments::default()];
        let mut sums = NodeSums {
            created: Vec::with_capacity(order.len()),
            origin,
            cpu: start.clone(),
            memory: start.clone(),
            fs: start.clone(),
            receive: start.clone(),
            transmit: start,
            overhead: NodeWaves::new(seed, node),
        };
        for p in order {
            sums.push_pod(seed, &pods[p as usize]);
        }
        sums
    }

    fn push_pod(&mut self, seed: u64, pod: &PodTarget) {
        let created = pod.created_unix as f64;
        let origin = self.origin;
        let (mut cpu, mut memory, mut fs) =
            (Moments::default(), Moments::default(), Moments::default());
        for container in &pod.containers {
            let waves = ContainerWaves::new(seed, pod, container);
            cpu = cpu.plus(Moments::of(waves.cpu, created, origin));
            memory = memory.plus(Moments::of(waves.memory, created, origin));
            fs = fs.plus(Moments::of(waves.fs, created, origin));
        }
        let net = PodWaves::new(seed, pod);
        self.created.push(created);
        push_sum(&mut self.cpu, cpu);
        push_sum(&mut self.memory, memory);
        push_sum(&mut self.fs, fs);
        push_sum(&mut self.receive, Moments::of(net.receive, created, origin));
        push_sum(
            &mut self.transmit,
            Moments::of(net.transmit, created, origin),
        );
    }

    pub(super) fn of(&self, metric: Metric) -> &[Moments] {
        match metric {
            Metric::CpuUsage => &self.cpu,
            Metric::MemoryUsage => &self.memory,
            Metric::FsUsage => &self.fs,
            Metric::NetworkReceive => &self.receive,
            Metric::NetworkTransmit => &self.transmit,
            _ => &[],
        }
    }
}

fn push_sum(prefix: &mut Vec<Moments>, m: Moments) {
    let total = prefix.last().copied().unwrap_or_default().plus(m);
    prefix.push(total);
}

/// Computes the samples of one series.
pub(super) struct Sampler<'t> {
    pub(super) since: f64,
    /// No samples from this time on (a target that can no longer be scraped).
    pub(super) until: f64,
    pub(super) counter: bool,
    pub(super) kind: SamplerKind<'t>,
}

pub(super) enum SamplerKind<'t> {
    /// A container or pod: its moments, counters integrated from its creation.
    Waves(Moments),
    /// A node: the prefix sums of its pods plus its overhead (integrated from 0).
    Node {
        created: &'t [f64],
        origin: f64,
        pods: &'t [Moments],
        overhead: Moments,
    },
    Constant(f64),
    /// `offset + scale × waves` for gauges; counters integrate both from `origin`:
    /// `offset·(t − origin) + scale·∫waves`.
    Scaled {
        moments: Moments,
        origin: f64,
        offset: f64,
        scale: f64,
    },
    /// `before` until `at`, then `after`.
    Switch {
        before: f64,
        at: f64,
        after: f64,
    },
}

impl Sampler<'_> {
    /// The sample at `at`, `None` before the series existed.
    pub(super) fn at(&self, at: At) -> Option<f64> {
        if at.t < self.since || at.t >= self.until {
            return None;
        }
        Some(match &self.kind {
            SamplerKind::Waves(m) => m.value(at, self.since, self.counter),
            SamplerKind::Node {
                created,
                origin,
                pods,
                overhead,
            } => {
                let running = created.partition_point(|&c| c <= at.t);
                let pods = pods.get(running).copied().unwrap_or_default();
                pods.value(at, *origin, self.counter) + overhead.value(at, 0.0, self.counter)
            }
            SamplerKind::Constant(v) => *v,
            SamplerKind::Scaled {
                moments,
                origin,
                offset,
                scale,
            } => {
                if self.counter {
                    offset * (at.t - origin) + scale * moments.counter(at, *origin)
                } else {
                    offset + scale * moments.gauge(at)
                }
            }
            SamplerKind::Switch {
                before,
                at: switch,
                after,
            } => {
                if at.t < *switch {
                    *before
                } else {
                    *after
                }
            }
        })
    }

    /// `rate`, `irate` or `increase` over `(now - window, now]`. A series born inside the
    /// window counts from its birth (its counter starts at 0), as Prometheus does.
    pub(super) fn range(&self, func: Func, w: &WindowAt) -> Option<f64> {
        match func {
            Func::Rate | Func::Increase => {
                let start = if w.start.t < self.since {
                    At::new(self.since)
                } else {
                    w.start
                };
                if w.now.t - start.t < SCRAPE_INTERVAL {
                    return None;
                }
                let increase = self.at(w.now)? - self.at(start)?;
                Some(if func == Func::Rate {
                    increase / w.window
                } else {
                    increase
                })
            }
            Func::Irate => {
                if w.previous.t <= w.start.t {
                    return None;
                }
                Some((self.at(w.last)? - self.at(w.previous)?) / SCRAPE_INTERVAL)
            }
        }
    }
}

/// splitmix64, seeded by FNV-1a of the parts.
pub(super) struct SplitMix(pub(super) u64);

impl SplitMix {
    pub(super) fn from_parts(seed: u64, parts: &[&str]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(&seed.to_le_bytes());
        for part in parts {
            feed(part.as_bytes());
            feed(&[0xff]);
        }
        SplitMix(hash)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
