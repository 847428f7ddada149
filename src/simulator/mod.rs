//! `steward simulate`: a Kubernetes-API-compatible cluster at any size, for tests,
//! benchmarks and the demo. It serves discovery, list (paged) and watch (with
//! bookmarks, in-stream 410s and watch-list initial events), both filtered by label
//! and field selectors, read-only (writes get 405), for nodes, namespaces, pods, services, replication
//! controllers, replica sets, deployments and events — plus OpenShift images in the
//! OpenShift flavor — as `kubectl` expects them, a Prometheus query API over the
//! cluster's cAdvisor, node-exporter and kube-state-metrics series, and an admin API
//! under `/_sim/` that makes things happen: churn, outages, lost watch history, objects
//! that vanish without an event.
//!
//! - [`objects`] — the typed objects and their wire shape.
//! - [`generate`] — the deterministic cluster generator.
//! - [`store`] — objects, versions, watch history and the live feed.
//! - [`selector`] — `labelSelector` and `fieldSelector`, for lists and watches.
//! - [`churn`] — the [`churn::Cluster`] and the changes it undergoes.
//! - [`api`] — the Kubernetes HTTP surface; `table` — kubectl's server-side printing;
//!   `openapi` — the OpenAPI v2 and v3 documents `kubectl explain` reads.
//! - `admin` — the `/_sim/` endpoints.
//! - [`prometheus`] — `/api/v1/query` and `/api/v1/query_range` over the cluster's
//!   cAdvisor, node-exporter and kube-state-metrics series and `up` (a PromQL subset).

pub mod access;
mod admin;
pub mod api;
pub mod churn;
pub mod generate;
pub mod objects;
mod openapi;
pub mod prng;
pub mod prometheus;
pub mod selector;
pub mod store;
pub mod storm;
mod table;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

use churn::Cluster;
use objects::Resource;
use prometheus::{
    ContainerTarget, DeploymentTarget, NodeInfoTarget, NodeTarget, PodTarget, Prometheus,
    Quantities, Topology,
};

/// Which API the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Flavor {
    #[default]
    Kubernetes,
    /// Kubernetes plus OpenShift's `image.openshift.io/v1` images.
    #[value(name = "openshift")]
    OpenShift,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub nodes: usize,
    pub pods_per_node: usize,
    /// Random changes per second in the background (0: only on request).
    pub churn_per_sec: f64,
    pub seed: u64,
    pub flavor: Flavor,
    /// When set, every API request needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Serve HTTPS with a generated CA and require authentication (see [`access`]).
    pub tls: Option<access::TlsOptions>,
    /// How many changes the watch history keeps (etcd keeps about five minutes).
    pub watch_history: usize,
    /// How many Events the cluster holds (older ones are deleted, as their TTL would).
    pub events_kept: usize,
    pub bookmark_interval: Duration,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            nodes: 3,
            pods_per_node: 20,
            churn_per_sec: 0.0,
            seed: 1,
            flavor: Flavor::Kubernetes,
            token: None,
            tls: None,
            watch_history: 10_000,
            events_kept: 5_000,
            bookmark_interval: Duration::from_secs(30),
        }
    }
}

/// State shared by every request.
pub struct Shared {
    cluster: Mutex<Cluster>,
    outage_until: Mutex<Option<Instant>>,
    /// Bumped to cut every open watch (an outage).
    cut: tokio::sync::watch::Sender<u64>,
    paused: AtomicBool,
    /// Storm occurrences made so far (`POST /_sim/storm`).
    storm_sent: std::sync::atomic::AtomicU64,
    /// Who may talk to the cluster.
    pub auth: access::SimAuth,
    bookmark_interval: Duration,
    flavor: Flavor,
    /// The metrics topology and the cluster generation it was built at.
    topology: Mutex<Option<(u64, Arc<Topology>)>>,
}

impl Shared {
    fn new(config: SimulatorConfig, auth: access::SimAuth) -> Self {
        let (cut, _) = tokio::sync::watch::channel(0);
        Shared {
            outage_until: Mutex::new(None),
            cut,
            paused: AtomicBool::new(false),
            storm_sent: std::sync::atomic::AtomicU64::new(0),
            auth,
            bookmark_interval: config.bookmark_interval,
            flavor: config.flavor,
            topology: Mutex::new(None),
            cluster: Mutex::new(Cluster::generate(config)),
        }
    }

    /// What the Prometheus series describe: the current nodes, pods and deployments
    /// (rebuilt only after one of them changed).
    pub fn topology(&self) -> Arc<Topology> {
        let cluster = self.cluster();
        let generation = cluster.store.topology_generation;
        let mut cached = self.topology.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built, topology)) = cached.as_ref()
            && *built == generation
        {
            return topology.clone();
        }
        let topology = Arc::new(topology_of(&cluster.store));
        *cached = Some((generation, topology.clone()));
        topology
    }

    /// The cluster, locked (a poisoned lock still holds a usable cluster).
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn in_outage(&self) -> bool {
        let until = self.outage_until.lock().unwrap_or_else(|p| p.into_inner());
        until.is_some_and(|t| Instant::now() < t)
    }

    /// Ends every open watch (as a restarted server or a revoked token would).
    pub fn cut_watches(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    fn start_outage(&self, length: Duration) {
        *self.outage_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + length);
        self.cut.send_modify(|n| *n += 1);
    }
}

fn topology_of(store: &store::Store) -> Topology {
    let nodes = store
        .all(Resource::Node)
        .filter_map(|o| Some(node_target(&o.metadata, o.node()?)))
        .collect();
    let pods = store
        .all(Resource::Pod)
        .filter_map(|o| Some(pod_target(&o.metadata, o.pod()?)))
        .collect();
    let deployments = store
        .all(Resource::Deployment)
        .filter_map(|o| {
            let objects::Body::Workload(w) = &o.body else {
                return None;
            };
            Some(DeploymentTarget {
                namespace: o.metadata.namespace.clone(),
                name: o.metadata.name.clone(),
                created_unix: unix_time(&o.metadata.creation_timestamp),
                desired: w.spec.replicas,
                replicas: w.status.replicas,
                available: w.status.available_replicas,
                ready: w.status.ready_replicas,
                updated: w.status.updated_replicas.unwrap_or(w.status.replicas),
            })
        })
        .collect();
    Topology {
        nodes,
        pods,
        deployments,
    }
}

/// Seconds since the epoch of an RFC 3339 timestamp (0 when malformed).
fn unix_time(timestamp: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(timestamp).map_or(0, |t| t.timestamp())
}

fn node_target(meta: &objects::Meta, node: &objects::Node) -> NodeTarget {
    let capacity = &node.status.capacity;
    let quantity = |name: &str| {
        capacity
            .get(name)
            .and_then(|m| crate::kube::quantity::bytes(m))
            .map_or(0, |b| b.max(0) as u64)
    };
    let ready = node.status.conditions.iter().find(|c| c.kind == "Ready");
    let info = &node.status.node_info;
    NodeTarget {
        name: meta.name.clone(),
        cpu_cores: capacity
            .get("cpu")
            .and_then(|c| crate::kube::quantity::cpu_millicores(c))
            .map_or(1, |m| (m / 1000).max(1) as u32),
        memory_bytes: quantity("memory"),
        disk_bytes: quantity("ephemeral-storage"),
        created_unix: unix_time(&meta.creation_timestamp),
        down_since: ready
            .filter(|c| c.status != "True")
            .map(|c| unix_time(&c.last_transition_time)),
        conditions: node
            .status
            .conditions
            .iter()
            .map(|c| (c.kind, c.status))
            .collect(),
        info: NodeInfoTarget {
            internal_ip: node
                .status
                .addresses
                .iter()
                .find(|a| a.kind == "InternalIP")
                .map(|a| a.address.clone())
                .unwrap_or_default(),
            kernel_version: info.kernel_version,
            os_image: info.os_image,
            container_runtime_version: info.container_runtime_version,
            kubelet_version: info.kubelet_version,
            kube_proxy_version: info.kube_proxy_version,
            provider_id: node.spec.provider_id.clone(),
            pod_cidr: node.spec.pod_cidr.clone(),
            system_uuid: info.system_uuid.clone(),
        },
    }
}

fn pod_target(meta: &objects::Meta, pod: &objects::Pod) -> PodTarget {
    let quantities = |q: &std::collections::BTreeMap<&'static str, String>| Quantities {
        cpu_millicores: q
            .get("cpu")
            .and_then(|c| crate::kube::quantity::cpu_millicores(c))
            .map(|m| m.max(0) as u64),
        memory_bytes: q
            .get("memory")
            .and_then(|m| crate::kube::quantity::bytes(m))
            .map(|b| b.max(0) as u64),
    };
    PodTarget {
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        node: pod.spec.node_name.clone(),
        containers: pod
            .spec
            .containers
            .iter()
            .map(|c| ContainerTarget {
                name: c.name.clone(),
                image: c.image.clone(),
                restarts: pod
                    .status
                    .container_statuses
                    .iter()
                    .find(|s| s.name == c.name)
                    .map_or(0, |s| s.restart_count),
                requests: quantities(&c.resources.requests),
                limits: quantities(&c.resources.limits),
            })
            .collect(),
        created_unix: unix_time(&meta.creation_timestamp),
        phase: pod.status.phase,
        pod_ip: pod.status.pod_ip.clone(),
        owner: meta
            .owner_references
            .iter()
            .find(|o| o.controller)
            .map(|o| (o.kind, o.name.clone())),
    }
}

/// A running simulator.
pub struct RunningSimulator {
    addr: SocketAddr,
    https: bool,
    handle: ServerHandle,
    churn: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl RunningSimulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops serving (open watches end).
    pub async fn stop(self) {
        if let Some(churn) = self.churn {
            churn.abort();
        }
        self.shared.start_outage(Duration::from_secs(0));
        self.handle.stop(false).await;
    }
}

/// Generates the cluster and serves it on `listen`. Call inside an actix system.
pub fn start(listen: SocketAddr, config: SimulatorConfig) -> std::io::Result<RunningSimulator> {
    let churn_rate = config.churn_per_sec;
    let seed = config.seed;
    let (auth, server_config) = match &config.tls {
        Some(options) => {
            let setup = access::prepare(options, config.token.clone())?;
            (setup.auth, Some((setup.server_config, setup.files)))
        }
        None => (access::SimAuth::plain(config.token.clone()), None),
    };
    let shared = Arc::new(Shared::new(config, auth));
    let data = web::Data::from(shared.clone());
    let source = shared.clone();
    let prometheus = Arc::new(Prometheus::new(seed, Arc::new(move || source.topology())));
    let server = HttpServer::new(move || {
        let prometheus = prometheus.clone();
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().error_handler(admin::json_error))
            .configure(admin::configure)
            .configure(admin::configure_oidc)
            .configure(move |c| prometheus.configure(c))
            .wrap(actix_web::middleware::from_fn(api::gate))
            .default_service(web::to(api::kube))
    })
    .on_connect(|conn, ext| {
        use actix_tls::accept::rustls_0_23::TlsStream;
        if let Some(tls) = conn.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>()
            && tls
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty())
        {
            ext.insert(access::ClientCertificate);
        }
    })
    .disable_signals()
    .shutdown_timeout(1)
    .workers(2);
    let (server, files) = match server_config {
        Some((tls, files)) => (server.bind_rustls_0_23(listen, tls)?, Some(files)),
        None => (server.bind(listen)?, None),
    };
    let addr = server.addrs().first().copied().unwrap_or(listen);
    if let Some(files) = &files {
        files.write_files(&format!("https://{addr}"))?;
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    let churn = (churn_rate > 0.0).then(|| actix_rt::spawn(churn_loop(shared.clone(), churn_rate)));
    Ok(RunningSimulator {
        addr,
        https: files.is_some(),
        handle,
        churn,
        shared,
    })
}

/// Applies `rate` random changes per second, in ticks of 100 ms.
async fn churn_loop(shared: Arc<Shared>, rate: f64) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut owed = 0.0;
    loop {
        tick.tick().await;
        if shared.paused.load(Ordering::Relaxed) {
            continue;
        }
        owed += rate / 10.0;
        let mut cluster = shared.cluster();
        while owed >= 1.0 {
            cluster.random_change();
            owed -= 1.0;
        }
    }
}
