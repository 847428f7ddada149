//! Generates a realistic cluster from a seed: nodes, namespaces, Deployments with
//! their ReplicaSets, ReplicationControllers, standalone pods with 1–3 containers,
//! Services selecting them, images from several registries, and recent Events.
//! The same configuration and seed always give the same names and uids.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::objects::*;
use super::prng::Rng;
use super::{Flavor, SimulatorConfig};

const WORDS: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "catalog",
    "billing",
    "ledger",
    "auth",
    "gateway",
    "orders",
    "inventory",
    "shipping",
    "reviews",
    "profile",
    "notify",
    "reports",
    "pricing",
    "cart",
    "media",
    "ingest",
    "analytics",
    "frontend",
    "backend",
    "queue",
    "scheduler",
    "mailer",
    "geo",
    "fraud",
    "ads",
    "recs",
    "audit",
];

const REGISTRIES: &[&str] = &["docker.io", "quay.io", "registry.internal.example:5000"];

/// Images many apps share (sidecars and agents).
const SHARED_IMAGES: &[&str] = &[
    "docker.io/envoyproxy/envoy:v1.31.2",
    "docker.io/fluent/fluent-bit:3.1.9",
    "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
    "docker.io/library/nginx:1.27.2",
    "docker.io/library/redis:7.4.1",
    "quay.io/prometheus/statsd-exporter:v0.27.1",
    "docker.io/istio/proxyv2:1.23.2",
    "registry.internal.example:5000/platform/vault-agent:1.17.6",
    "docker.io/library/busybox:1.36.1",
    "quay.io/jetstack/cert-manager-cainjector:v1.15.3",
];

/// Formats a time as the API does.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The digest an image reference resolves to (stable per reference).
pub fn image_id(image: &str) -> String {
    let repo = image
        .rsplit_once(':')
        .map_or(image, |(r, tag)| if tag.contains('/') { image } else { r });
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut hex = String::with_capacity(64);
    for round in 0..4u8 {
        for b in image.bytes().chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        hex.push_str(&format!("{h:016x}"));
    }
    format!("{repo}@sha256:{hex}")
}

/// A node's boot id, derived from its machine id (no draw from the generator, so the
/// same seed still gives the same names and uids as before it existed).
fn boot_id_of(machine_id: &str) -> String {
    let r: String = machine_id.chars().rev().collect();
    let part = |a: usize, b: usize| r.get(a..b).unwrap_or("0").to_string();
    format!(
        "{}-{}-{}-{}-{}",
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32)
    )
}

/// Everything the generator and churn need besides the store.
pub struct Generator<'a> {
    pub config: &'a SimulatorConfig,
    pub rng: Rng,
    pub now: DateTime<Utc>,
}

/// What an Event reports.
pub struct Happening {
    pub reason: &'static str,
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    pub message: String,
    pub component: &'static str,
    pub host: String,
}

impl Happening {
    /// The scheduler placed `pod` on `node`.
    pub fn scheduled(pod: &Object, node: &str) -> Self {
        Happening {
            reason: "Scheduled",
            kind: "Normal",
            message: format!(
                "Successfully assigned {}/{} to {node}",
                pod.metadata.namespace, pod.metadata.name
            ),
            component: "default-scheduler",
            host: String::new(),
        }
    }
}

/// The pod part of an app: what every replica runs.
struct Template {
    app: String,
    namespace: String,
    containers: Vec<Container>,
}

impl Generator<'_> {
    fn ago(&mut self, min_s: u64, max_s: u64) -> DateTime<Utc> {
        self.now - Duration::seconds(self.rng.range(min_s, max_s) as i64)
    }

    fn meta(&mut self, name: String, namespace: &str, created: DateTime<Utc>) -> Meta {
        Meta {
            name,
            namespace: namespace.to_string(),
            uid: self.rng.uid(),
            resource_version: String::new(),
            generation: None,
            creation_timestamp: ts(created),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            owner_references: Vec::new(),
        }
    }

    /// The whole initial cluster, in creation order.
    pub fn cluster(&mut self) -> Vec<(Resource, Object)> {
        let mut out = Vec::new();
        let nodes: Vec<Object> = (0..self.config.nodes.max(1))
            .map(|i| self.node(i))
            .collect();
        let node_names: Vec<(String, String)> = nodes
            .iter()
            .filter_map(|n| {
                let ip = n.node()?.status.addresses.first()?.address.clone();
                Some((n.metadata.name.clone(), ip))
            })
            .collect();
        out.extend(nodes.into_iter().map(|n| (Resource::Node, n)));

        let total_pods = self.config.nodes.max(1) * self.config.pods_per_node;
        let app_namespaces = (total_pods / 50).clamp(2, 2000);
        let mut namespaces = vec!["default".to_string(), "kube-system".to_string()];
        for i in 0..app_namespaces {
            let word = WORDS[i % WORDS.len()];
            namespaces.push(match i / WORDS.len() {
                0 => word.to_string(),
                k => format!("{word}-{k}"),
            });
        }
        for ns in &namespaces {
            let created = self.ago(30 * 86_400, 400 * 86_400);
            let mut meta = self.meta(ns.clone(), "", created);
            meta.labels
                .insert("kubernetes.io/metadata.name".into(), ns.clone());
            out.push((
                Resource::Namespace,
                Object::new(
                    Resource::Namespace,
                    meta,
                    Body::Namespace(Namespace {
                        spec: NamespaceSpec {
                            finalizers: vec!["kubernetes"],
                        },
                        status: NamespaceStatus { phase: "Active" },
                    }),
                ),
            ));
        }

        let mut made = 0usize;
        let mut app_index = 0usize;
        let mut images = BTreeSet::new();
        while made < total_pods {
            app_index += 1;
            let namespace = if app_namespaces > 0 && !self.rng.chance(0.05) {
                namespaces[2 + self.rng.below(app_namespaces)].clone()
            } else {
                "default".to_string()
            };
            let template = self.template(app_index, &namespace);
            images.extend(template.containers.iter().map(|c| c.image.clone()));
            let remaining = total_pods - made;
            let roll = self.rng.below(100);
            let (replicas, owner) = if roll < 85 {
                let replicas = (self.rng.range(1, 5) as usize).min(remaining);
                let rs = self.deployment(&template, replicas as u32, &mut out);
                (replicas, Some(rs))
            } else if roll < 95 {
                let replicas = (self.rng.range(1, 3) as usize).min(remaining);
                let rc = self.replication_controller(&template, replicas as u32, &mut out);
                (replicas, Some(rc))
            } else {
                (1, None)
            };
            for _ in 0..replicas {
                let (node, host_ip) = node_names[made % node_names.len()].clone();
                let pod = self.pod(&template, owner.as_ref(), &node, &host_ip, made);
                out.push((Resource::Pod, pod));
                made += 1;
            }
            if owner.is_some() && self.rng.chance(0.7) {
                out.push((Resource::Service, self.service(&template)));
            }
        }

        let recent: Vec<Object> = out
            .iter()
            .filter(|(r, _)| *r == Resource::Pod)
            .rev()
            .take(100)
            .map(|(_, o)| o.clone())
            .collect();
        for pod in recent {
            let node = pod
                .pod()
                .map(|p| p.spec.node_name.clone())
                .unwrap_or_default();
            // Scheduled when the pod was created, not when the simulator started.
            let at = DateTime::parse_from_rfc3339(&pod.metadata.creation_timestamp)
                .map_or(self.now, |t| t.with_timezone(&Utc));
            let event = self.event_at(&pod, Resource::Pod, Happening::scheduled(&pod, &node), at);
            out.push((Resource::Event, event));
        }
        if self.config.flavor == Flavor::OpenShift {
            let unused: Vec<String> = (0..(images.len() / 5).max(3))
                .map(|i| {
                    let registry = REGISTRIES[i % REGISTRIES.len()];
                    format!("{registry}/retired/app-{i}:{}.{}", 1 + i % 4, i % 10)
                })
                .collect();
            for image in images.iter().chain(unused.iter()) {
                out.push((Resource::Image, self.openshift_image(image)));
            }
        }
        out
    }

    fn node(&mut self, i: usize) -> Object {
        let name = format!("node-{i:03}");
        let created = self.ago(60 * 86_400, 500 * 86_400);
        let mut meta = self.meta(name.clone(), "", created);
        let role = if i == 0 && self.config.nodes >= 3 {
            "control-plane"
        } else {
            "worker"
        };
        meta.labels
            .insert("kubernetes.io/hostname".into(), name.clone());
        meta.labels
            .insert("kubernetes.io/os".into(), "linux".into());
        meta.labels
            .insert("kubernetes.io/arch".into(), "amd64".into());
        meta.labels
            .insert(format!("node-role.kubernetes.io/{role}"), String::new());
        meta.annotations = [
            ("node.alpha.kubernetes.io/ttl", "0"),
            (
                "volumes.kubernetes.io/controller-managed-attach-detach",
                "true",
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let cpu = *self.rng.pick(&[4u64, 8, 16, 32]);
        let memory_kib = cpu * 4 * 1024 * 1024 - self.rng.range(0, 200_000);
        let capacity: BTreeMap<&'static str, String> = [
            ("cpu", cpu.to_string()),
            ("memory", format!("{memory_kib}Ki")),
            ("pods", "110".into()),
            ("ephemeral-storage", "101430960Ki".into()),
        ]
        .into();
        let mut allocatable = capacity.clone();
        allocatable.insert("cpu", format!("{}m", cpu * 1000 - 100));
        allocatable.insert("memory", format!("{}Ki", memory_kib - 102_400));
        let since = ts(created);
        let heartbeat = ts(self.now);
        let condition = |kind, status, reason, message: &str| Condition {
            last_heartbeat_time: heartbeat.clone(),
            ..Condition::new(kind, status, reason, message, &since)
        };
        let machine = self.rng.hex(32);
        let boot_id = boot_id_of(&machine);
        Object::new(
            Resource::Node,
            meta,
            Body::Node(Node {
                spec: NodeSpec {
                    pod_cidr: format!("10.244.{}.0/24", i % 256),
                    provider_id: format!("steward-sim://{name}"),
                },
                status: NodeStatus {
                    capacity,
                    allocatable,
                    conditions: vec![
                        condition(
                            "MemoryPressure",
                            "False",
                            "KubeletHasSufficientMemory",
                            "kubelet has sufficient memory available",
                        ),
                        condition(
                            "DiskPressure",
                            "False",
                            "KubeletHasNoDiskPressure",
                            "kubelet has no disk pressure",
                        ),
                        condition(
                            "PIDPressure",
                            "False",
                            "KubeletHasSufficientPID",
                            "kubelet has sufficient PID available",
                        ),
                        condition(
                            "Ready",
                            "True",
                            "KubeletReady",
                            "kubelet is posting ready status",
                        ),
                    ],
                    addresses: vec![
                        Address {
                            kind: "InternalIP",
                            address: format!("10.0.{}.{}", i / 250, 10 + i % 250),
                        },
                        Address {
                            kind: "Hostname",
                            address: name,
                        },
                    ],
                    node_info: NodeInfo {
                        system_uuid: self.rng.uid(),
                        machine_id: machine,
                        boot_id,
                        kernel_version: "6.1.0-27-amd64",
                        os_image: "Debian GNU/Linux 12 (bookworm)",
                        container_runtime_version: "containerd://1.7.22",
                        kubelet_version: "v1.31.2",
                        kube_proxy_version: "v1.31.2",
                        operating_system: "linux",
                        architecture: "amd64",
                    },
                },
            }),
        )
    }

    fn template(&mut self, index: usize, namespace: &str) -> Template {
        let app = format!("{}-{index}", self.rng.pick(WORDS));
        let registry = *self.rng.pick(REGISTRIES);
        let version = format!(
            "{}.{}.{}",
            self.rng.range(1, 4),
            self.rng.range(0, 20),
            self.rng.range(0, 9)
        );
        let count = match self.rng.below(10) {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        let containers = (0..count)
            .map(|k| {
                let (name, image) = match k {
                    0 => (
                        app.clone(),
                        format!("{registry}/{namespace}/{app}:{version}"),
                    ),
                    _ if self.rng.chance(0.5) => (
                        format!("{app}-worker-{k}"),
                        format!("{registry}/{namespace}/{app}-worker:{version}"),
                    ),
                    _ => {
                        let image = self.rng.pick(SHARED_IMAGES).to_string();
                        let name = image
                            .rsplit('/')
                            .next()
                            .and_then(|n| n.split(':').next())
                            .unwrap_or("sidecar")
                            .to_string();
                        (format!("{name}-{k}"), image)
                    }
                };
                let cpu_m = *self.rng.pick(&[50u64, 100, 250, 500, 1000]);
                let mem_mi = *self.rng.pick(&[64u64, 128, 256, 512, 1024]);
                let requests: BTreeMap<&'static str, String> = [
                    ("cpu", format!("{cpu_m}m")),
                    ("memory", format!("{mem_mi}Mi")),
                ]
                .into();
                let limits = if self.rng.chance(0.7) {
                    [
                        ("cpu", format!("{}m", cpu_m * 2)),
                        ("memory", format!("{}Mi", mem_mi * 2)),
                    ]
                    .into()
                } else {
                    BTreeMap::new()
                };
                Container {
                    name,
                    image,
                    resources: Resources { requests, limits },
                    ports: if k == 0 {
                        vec![ContainerPort {
                            container_port: 8080,
                            protocol: "TCP",
                        }]
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        Template {
            app,
            namespace: namespace.to_string(),
            containers,
        }
    }

    fn labels(template: &Template) -> BTreeMap<String, String> {
        [
            ("app".to_string(), template.app.clone()),
            ("app.kubernetes.io/name".to_string(), template.app.clone()),
        ]
        .into()
    }

    /// What the deployment controller writes on a Deployment and its ReplicaSet.
    fn revision() -> BTreeMap<String, String> {
        [(
            "deployment.kubernetes.io/revision".to_string(),
            "1".to_string(),
        )]
        .into()
    }

    /// The pod template of `template`'s replicas (`extra` labels added, as the
    /// ReplicaSet's `pod-template-hash`).
    fn pod_template(template: &Template, extra: Option<(&str, &str)>) -> PodTemplate {
        let mut labels = Self::labels(template);
        if let Some((k, v)) = extra {
            labels.insert(k.to_string(), v.to_string());
        }
        PodTemplate {
            metadata: TemplateMeta { labels },
            spec: PodSpec {
                node_name: String::new(),
                containers: template.containers.clone(),
                restart_policy: "Always",
                service_account_name: "default",
            },
        }
    }

    /// A workload whose `replicas` all run the current template. Deployments carry
    /// their rollout strategy, `updatedReplicas` and the `Available`/`Progressing`
    /// conditions (`progressed`: the ReplicaSet name their message cites); ReplicaSets
    /// and ReplicationControllers `fullyLabeledReplicas`.
    fn workload(
        replicas: u32,
        selector: serde_json::Value,
        template: PodTemplate,
        progressed: Option<(&str, &str)>,
    ) -> Body {
        let (strategy, updated, fully_labeled, conditions) = match progressed {
            Some((replica_set, since)) => {
                let condition = |kind, reason, message: &str| Condition {
                    last_update_time: since.to_string(),
                    ..Condition::new(kind, "True", reason, message, since)
                };
                (
                    Some(json!({
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                    })),
                    Some(replicas),
                    None,
                    vec![
                        condition(
                            "Available",
                            "MinimumReplicasAvailable",
                            "Deployment has minimum availability.",
                        ),
                        condition(
                            "Progressing",
                            "NewReplicaSetAvailable",
                            &format!("ReplicaSet \"{replica_set}\" has successfully progressed."),
                        ),
                    ],
                )
            }
            None => (None, None, Some(replicas), Vec::new()),
        };
        Body::Workload(Workload {
            spec: WorkloadSpec {
                replicas,
                selector,
                template,
                strategy,
            },
            status: WorkloadStatus {
                replicas,
                fully_labeled_replicas: fully_labeled,
                updated_replicas: updated,
                ready_replicas: replicas,
                available_replicas: replicas,
                observed_generation: 1,
                conditions,
            },
        })
    }

    fn owner(resource: Resource, object: &Object) -> OwnerReference {
        let info = resource.info();
        OwnerReference {
            api_version: info.group_version,
            kind: info.kind,
            name: object.metadata.name.clone(),
            uid: object.metadata.uid.clone(),
            controller: true,
            block_owner_deletion: true,
        }
    }

    /// A Deployment and its ReplicaSet; returns the owner reference pods carry.
    fn deployment(
        &mut self,
        template: &Template,
        replicas: u32,
        out: &mut Vec<(Resource, Object)>,
    ) -> OwnerReference {
        let created = self.ago(86_400, 90 * 86_400);
        let labels = Self::labels(template);
        let mut meta = self.meta(template.app.clone(), &template.namespace, created);
        meta.labels = labels.clone();
        meta.annotations = Self::revision();
        meta.generation = Some(1);
        let selector = json!({"matchLabels": {"app": template.app}});
        let hash = self.rng.suffix(10);
        let rs_name = format!("{}-{hash}", template.app);
        let deployment = Object::new(
            Resource::Deployment,
            meta,
            Self::workload(
                replicas,
                selector.clone(),
                Self::pod_template(template, None),
                Some((rs_name.as_str(), ts(created).as_str())),
            ),
        );
        let mut meta = self.meta(rs_name, &template.namespace, created);
        meta.labels = labels;
        meta.labels.insert("pod-template-hash".into(), hash.clone());
        meta.annotations = Self::revision();
        meta.generation = Some(1);
        meta.owner_references = vec![Self::owner(Resource::Deployment, &deployment)];
        let rs = Object::new(
            Resource::ReplicaSet,
            meta,
            Self::workload(
                replicas,
                selector,
                Self::pod_template(template, Some(("pod-template-hash", hash.as_str()))),
                None,
            ),
        );
        let owner = Self::owner(Resource::ReplicaSet, &rs);
        out.push((Resource::Deployment, deployment));
        out.push((Resource::ReplicaSet, rs));
        owner
    }

    fn replication_controller(
        &mut self,
        template: &Template,
        replicas: u32,
        out: &mut Vec<(Resource, Object)>,
    ) -> OwnerReference {
        let created = self.ago(86_400, 180 * 86_400);
        let mut meta = self.meta(template.app.clone(), &template.namespace, created);
        meta.labels = Self::labels(template);
        meta.generation = Some(1);
        let rc = Object::new(
            Resource::ReplicationController,
            meta,
            Self::workload(
                replicas,
                json!({"app": template.app}),
                Self::pod_template(template, None),
                None,
            ),
        );
        let owner = Self::owner(Resource::ReplicationController, &rc);
        out.push((Resource::ReplicationController, rc));
        owner
    }

    fn service(&mut self, template: &Template) -> Object {
        let created = self.ago(86_400, 90 * 86_400);
        let mut meta = self.meta(template.app.clone(), &template.namespace, created);
        meta.labels = Self::labels(template);
        let ip = format!("10.96.{}.{}", self.rng.below(256), 1 + self.rng.below(254));
        Object::new(
            Resource::Service,
            meta,
            Body::Service(Service {
                spec: ServiceSpec {
                    kind: "ClusterIP",
                    cluster_ip: ip,
                    selector: [("app".to_string(), template.app.clone())].into(),
                    ports: vec![ServicePort {
                        name: "http",
                        protocol: "TCP",
                        port: 80,
                        target_port: 8080,
                    }],
                    session_affinity: "None",
                },
            }),
        )
    }

    fn pod(
        &mut self,
        template: &Template,
        owner: Option<&OwnerReference>,
        node: &str,
        host_ip: &str,
        serial: usize,
    ) -> Object {
        let name = match owner {
            Some(o) => format!("{}-{}", o.name, self.rng.suffix(5)),
            None => template.app.clone(),
        };
        let created = self.ago(3600, 30 * 86_400);
        let mut meta = self.meta(name, &template.namespace, created);
        meta.labels = Self::labels(template);
        if let Some(first) = template.containers.first() {
            meta.annotations.insert(
                "kubectl.kubernetes.io/default-container".into(),
                first.name.clone(),
            );
        }
        if let Some(o) = owner {
            meta.owner_references = vec![o.clone()];
            if o.kind == "ReplicaSet"
                && let Some(hash) = o.name.rsplit('-').next()
            {
                meta.labels
                    .insert("pod-template-hash".into(), hash.to_string());
            }
        }
        let pod_ip = format!(
            "10.{}.{}.{}",
            128 + (serial / 65_024) % 128,
            (serial / 254) % 256,
            1 + serial % 254
        );
        let status = self.pod_status(&template.containers, host_ip, pod_ip, created);
        Object::new(
            Resource::Pod,
            meta,
            Body::Pod(Pod {
                spec: PodSpec {
                    node_name: node.to_string(),
                    containers: template.containers.clone(),
                    restart_policy: "Always",
                    service_account_name: "default",
                },
                status,
            }),
        )
    }

    /// A fresh status for `containers`: mostly running, a few pending or crash-looping.
    pub fn pod_status(
        &mut self,
        containers: &[Container],
        host_ip: &str,
        pod_ip: String,
        created: DateTime<Utc>,
    ) -> PodStatus {
        let started = ts(created + Duration::seconds(3));
        let roll = self.rng.below(100);
        let (phase, waiting) = match roll {
            0..=1 => ("Pending", Some(("ContainerCreating", String::new()))),
            2..=3 => (
                "Running",
                Some((
                    "CrashLoopBackOff",
                    "back-off 5m0s restarting failed container".to_string(),
                )),
            ),
            _ => ("Running", None),
        };
        let statuses = containers
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let failing = k == 0 && waiting.is_some();
                let state = match (&waiting, failing) {
                    (Some((reason, message)), true) => ContainerState::Waiting {
                        reason,
                        message: message.clone(),
                    },
                    _ => ContainerState::Running {
                        started_at: started.clone(),
                    },
                };
                let restarts = if phase == "Running" && failing {
                    self.rng.range(3, 40) as u32
                } else if self.rng.chance(0.05) {
                    self.rng.range(1, 3) as u32
                } else {
                    0
                };
                ContainerStatus {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    image_id: if phase == "Pending" {
                        String::new()
                    } else {
                        image_id(&c.image)
                    },
                    container_id: if phase == "Pending" {
                        String::new()
                    } else {
                        format!("containerd://{}", self.rng.hex(64))
                    },
                    ready: !failing,
                    started: !failing,
                    restart_count: restarts,
                    state,
                    last_state: None,
                }
            })
            .collect::<Vec<_>>();
        let ready = if statuses.iter().all(|s| s.ready) {
            "True"
        } else {
            "False"
        };
        let condition = |kind, status| Condition::new(kind, status, "", "", &started);
        let all_limited = containers
            .iter()
            .all(|c| c.resources.limits.len() == 2 && c.resources.limits == c.resources.requests);
        let pod_ip = if phase == "Pending" {
            String::new()
        } else {
            pod_ip
        };
        PodStatus {
            phase,
            pod_ips: if pod_ip.is_empty() {
                Vec::new()
            } else {
                vec![PodIp { ip: pod_ip.clone() }]
            },
            pod_ip,
            host_ip: host_ip.to_string(),
            host_ips: vec![PodIp {
                ip: host_ip.to_string(),
            }],
            qos_class: if all_limited {
                "Guaranteed"
            } else {
                "Burstable"
            },
            start_time: ts(created),
            conditions: vec![
                condition("Initialized", "True"),
                condition("Ready", ready),
                condition("ContainersReady", ready),
                condition("PodScheduled", "True"),
            ],
            container_statuses: statuses,
        }
    }

    /// A Kubernetes Event about `object`, happening now.
    pub fn event(&mut self, object: &Object, resource: Resource, what: Happening) -> Object {
        let now = self.now;
        self.event_at(object, resource, what, now)
    }

    /// A Kubernetes Event about `object` that happened `at`.
    pub fn event_at(
        &mut self,
        object: &Object,
        resource: Resource,
        what: Happening,
        at: DateTime<Utc>,
    ) -> Object {
        let Happening {
            reason,
            kind,
            message,
            component,
            host,
        } = what;
        let info = resource.info();
        let namespace = if object.metadata.namespace.is_empty() {
            "default".to_string()
        } else {
            object.metadata.namespace.clone()
        };
        let name = format!("{}.{}", object.metadata.name, self.rng.hex(16));
        let meta = self.meta(name, &namespace, at);
        Object::new(
            Resource::Event,
            meta,
            Body::Event(Event {
                involved_object: InvolvedObject {
                    kind: info.kind,
                    namespace: object.metadata.namespace.clone(),
                    name: object.metadata.name.clone(),
                    uid: object.metadata.uid.clone(),
                    api_version: info.group_version,
                },
                reason,
                message,
                source: EventSource {
                    component,
                    host: host.clone(),
                },
                first_timestamp: ts(at),
                last_timestamp: ts(at),
                count: 1,
                kind,
                reporting_component: component,
                reporting_instance: host,
            }),
        )
    }

    fn openshift_image(&mut self, image: &str) -> Object {
        let reference = image_id(image);
        let digest = reference.rsplit('@').next().unwrap_or_default().to_string();
        let created = self.ago(86_400, 365 * 86_400);
        let meta = self.meta(digest.clone(), "", created);
        let app = image
            .rsplit('/')
            .next()
            .and_then(|n| n.split(':').next())
            .unwrap_or("app");
        Object::new(
            Resource::Image,
            meta,
            Body::Image(Image {
                docker_image_reference: reference,
                docker_image_metadata: json!({
                    "kind": "DockerImage",
                    "apiVersion": "image.openshift.io/1.0",
                    "Id": digest,
                    "Created": ts(created),
                    "Architecture": "amd64",
                    "Size": self.rng.range(5_000_000, 900_000_000),
                    "Config": {"Labels": {"name": app, "vendor": "steward-sim"}},
                }),
                docker_image_metadata_version: "1.0",
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(nodes: usize, pods_per_node: usize, seed: u64) -> Vec<(Resource, Object)> {
        let config = SimulatorConfig {
            nodes,
            pods_per_node,
            seed,
            ..SimulatorConfig::default()
        };
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        Generator {
            config: &config,
            rng: Rng::new(seed),
            now,
        }
        .cluster()
    }

    fn count(objects: &[(Resource, Object)], r: Resource) -> usize {
        objects.iter().filter(|(k, _)| *k == r).count()
    }

    #[test]
    fn the_cluster_has_the_asked_size_and_is_deterministic() {
        let a = generate(10, 30, 4);
        assert_eq!(count(&a, Resource::Node), 10);
        assert_eq!(count(&a, Resource::Pod), 300);
        for r in [
            Resource::Namespace,
            Resource::Deployment,
            Resource::ReplicaSet,
            Resource::Service,
            Resource::Event,
        ] {
            assert!(count(&a, r) > 0, "{r:?}");
        }
        let b = generate(10, 30, 4);
        let uids = |o: &[(Resource, Object)]| {
            o.iter()
                .map(|(_, o)| o.metadata.uid.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(uids(&a), uids(&b));
        assert_ne!(uids(&a), uids(&generate(10, 30, 5)));
    }

    #[test]
    fn pods_have_one_to_three_containers_and_point_at_their_owners() {
        let objects = generate(5, 40, 9);
        let uids: BTreeSet<&str> = objects
            .iter()
            .map(|(_, o)| o.metadata.uid.as_str())
            .collect();
        let mut containers = 0;
        for (_, pod) in objects.iter().filter(|(r, _)| *r == Resource::Pod) {
            let p = pod.pod().unwrap();
            assert!((1..=3).contains(&p.spec.containers.len()));
            containers += p.spec.containers.len();
            for owner in &pod.metadata.owner_references {
                assert!(uids.contains(owner.uid.as_str()));
            }
        }
        assert!(containers > 200, "{containers}");
        assert!(
            image_id("docker.io/library/nginx:1.27.2")
                .starts_with("docker.io/library/nginx@sha256:")
        );
        assert!(
            image_id("registry.internal.example:5000/a/b")
                .starts_with("registry.internal.example:5000/a/b@sha256:")
        );
    }

    fn typed<T: serde::de::DeserializeOwned>(o: &Object) -> T {
        let v = serde_json::to_value(o).unwrap();
        serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("{} into k8s-openapi: {e}\n{v}", o.kind))
    }

    /// Every kind, as generated and after churn, is what a typed client (kube-rs with
    /// k8s-openapi) reads, with the fields controllers and kubectl rely on.
    #[test]
    fn every_generated_kind_deserializes_into_k8s_openapi_types() {
        use crate::simulator::churn::{ChurnRequest, Cluster};
        use k8s_openapi::api::{apps::v1 as apps, core::v1 as core};

        let mut cluster = Cluster::generate(SimulatorConfig {
            nodes: 4,
            pods_per_node: 25,
            seed: 3,
            ..SimulatorConfig::default()
        });
        cluster.churn(&ChurnRequest {
            create: 5,
            delete: 2,
            restart: 5,
            relabel: 3,
            node_not_ready: 1,
            node_ready: 0,
        });
        let store = &cluster.store;
        let mut seen = BTreeSet::new();
        let mut event_times = BTreeSet::new();
        for resource in Resource::ALL {
            for o in store.all(resource) {
                seen.insert(resource);
                match resource {
                    Resource::Namespace => {
                        typed::<core::Namespace>(o);
                    }
                    Resource::Node => {
                        let status = typed::<core::Node>(o).status.unwrap();
                        assert!(!status.node_info.unwrap().boot_id.is_empty());
                        assert!(
                            status
                                .conditions
                                .unwrap()
                                .iter()
                                .all(|c| c.last_heartbeat_time.is_some())
                        );
                    }
                    Resource::Pod => {
                        let status = typed::<core::Pod>(o).status.unwrap();
                        if status.phase.as_deref() == Some("Running") {
                            let ips = status.pod_ips.unwrap();
                            assert_eq!(Some(&ips[0].ip), status.pod_ip.as_ref());
                        }
                        assert_eq!(status.host_ips.unwrap().len(), 1);
                    }
                    Resource::Service => {
                        typed::<core::Service>(o);
                    }
                    Resource::ReplicationController => {
                        let rc = typed::<core::ReplicationController>(o);
                        assert!(rc.spec.unwrap().template.is_some());
                    }
                    Resource::ReplicaSet => {
                        let rs = typed::<apps::ReplicaSet>(o);
                        let template = rs.spec.template.unwrap();
                        let labels = template.metadata.unwrap().labels.unwrap();
                        assert!(labels.contains_key("pod-template-hash"));
                        assert_eq!(rs.metadata.generation, Some(1));
                    }
                    Resource::Deployment => {
                        let d = typed::<apps::Deployment>(o);
                        assert_eq!(d.metadata.generation, Some(1));
                        let spec = d.spec;
                        let template_labels = spec.template.metadata.unwrap().labels.unwrap();
                        for (k, v) in spec.selector.match_labels.unwrap() {
                            assert_eq!(template_labels.get(&k), Some(&v));
                        }
                        assert!(!spec.template.spec.unwrap().containers.is_empty());
                        let status = d.status.unwrap();
                        assert_eq!(status.updated_replicas, status.replicas);
                        let conditions = status.conditions.unwrap();
                        assert_eq!(conditions.len(), 2);
                        assert!(conditions.iter().all(|c| c.last_update_time.is_some()));
                    }
                    Resource::Event => {
                        let e = typed::<core::Event>(o);
                        event_times.insert(format!("{:?}", e.last_timestamp));
                    }
                    Resource::Image => {}
                }
            }
        }
        assert_eq!(seen.len(), 8, "{seen:?}");
        assert!(
            event_times.len() > 10,
            "events carry their own times: {event_times:?}"
        );
    }
}
