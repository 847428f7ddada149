//! Churn: pods created, deleted, restarting and relabelled, nodes going NotReady and
//! back, each with the Kubernetes Event a real cluster would record. Driven by the
//! admin API (`POST /_sim/churn`) or at a steady rate (`--churn`).

use std::collections::VecDeque;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::SimulatorConfig;
use super::generate::{Generator, Happening, image_id, ts};
use super::objects::{Body, Condition, ContainerState, Object, Resource};
use super::prng::Rng;
use super::store::Store;

/// The simulated cluster: its objects and what drives their changes.
pub struct Cluster {
    pub store: Store,
    pub config: SimulatorConfig,
    rng: Rng,
    events: VecDeque<(String, String)>,
    serial: usize,
}

/// How many of each change to make.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnRequest {
    pub create: usize,
    pub delete: usize,
    pub restart: usize,
    pub relabel: usize,
    pub node_not_ready: usize,
    pub node_ready: usize,
}

/// An object a change touched.
#[derive(Debug, Clone, Serialize)]
pub struct Touched {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl From<&Object> for Touched {
    fn from(o: &Object) -> Self {
        Touched {
            namespace: o.metadata.namespace.clone(),
            name: o.metadata.name.clone(),
            uid: o.metadata.uid.clone(),
        }
    }
}

/// What a churn request did.
#[derive(Debug, Default, Serialize)]
pub struct ChurnReport {
    pub created: Vec<Touched>,
    pub deleted: Vec<Touched>,
    pub restarted: Vec<Touched>,
    pub relabeled: Vec<Touched>,
    pub nodes_not_ready: Vec<Touched>,
    pub nodes_ready: Vec<Touched>,
}

impl Cluster {
    /// Generates the cluster of `config`.
    pub fn generate(config: SimulatorConfig) -> Self {
        let mut generator = Generator {
            config: &config,
            rng: Rng::new(config.seed),
            now: Utc::now(),
        };
        let objects = generator.cluster();
        let rng = generator.rng;
        let serial = objects.len();
        let events = objects
            .iter()
            .filter(|(r, _)| *r == Resource::Event)
            .map(|(_, o)| (o.metadata.namespace.clone(), o.metadata.name.clone()))
            .collect();
        let store = Store::new(objects, config.watch_history);
        Cluster {
            store,
            config,
            rng,
            events,
            serial,
        }
    }

    /// Makes the asked changes (as many as the cluster allows).
    pub fn churn(&mut self, request: &ChurnRequest) -> ChurnReport {
        let mut report = ChurnReport::default();
        for _ in 0..request.create {
            report.created.extend(self.create_pod());
        }
        for _ in 0..request.delete {
            report.deleted.extend(self.delete_pod());
        }
        for _ in 0..request.restart {
            report.restarted.extend(self.restart_pod());
        }
        for _ in 0..request.relabel {
            report.relabeled.extend(self.relabel_pod());
        }
        for _ in 0..request.node_not_ready {
            report.nodes_not_ready.extend(self.set_node_ready(false));
        }
        for _ in 0..request.node_ready {
            report.nodes_ready.extend(self.set_node_ready(true));
        }
        report
    }

    /// One random change, weighted like a busy cluster (creates balance deletes).
    pub fn random_change(&mut self) {
        match self.rng.below(100) {
            0..=29 => drop(self.create_pod()),
            30..=59 => drop(self.delete_pod()),
            60..=84 => drop(self.restart_pod()),
            85..=94 => drop(self.relabel_pod()),
            _ => {
                let ready = self.rng.chance(0.5);
                if self.set_node_ready(ready).is_none() {
                    drop(self.set_node_ready(!ready));
                }
            }
        }
    }

    /// A random object of `resource` satisfying `want`, starting from a random place.
    pub(super) fn pick(
        &mut self,
        resource: Resource,
        want: impl Fn(&Object) -> bool,
    ) -> Option<Object> {
        let n = self.store.count(resource);
        if n == 0 {
            return None;
        }
        let start = self.rng.below(n);
        let store = &self.store;
        store
            .all(resource)
            .skip(start)
            .chain(store.all(resource).take(start))
            .find(|o| want(o))
            .cloned()
    }

    fn generator(&mut self) -> Generator<'_> {
        Generator {
            config: &self.config,
            rng: std::mem::replace(&mut self.rng, Rng::new(0)),
            now: Utc::now(),
        }
    }

    /// Records an Event about `about`; returns its namespace and name.
    pub(super) fn record_event(
        &mut self,
        about: &Object,
        resource: Resource,
        what: Happening,
    ) -> (String, String) {
        let mut g = self.generator();
        let event = g.event(about, resource, what);
        self.rng = g.rng;
        let key = (
            event.metadata.namespace.clone(),
            event.metadata.name.clone(),
        );
        self.events.push_back(key.clone());
        self.store.apply(Resource::Event, event);
        while self.events.len() > self.config.events_kept.max(1) {
            if let Some((ns, name)) = self.events.pop_front() {
                self.store.remove(Resource::Event, &ns, &name);
            }
        }
        key
    }

    fn create_pod(&mut self) -> Option<Touched> {
        let model = self.pick(Resource::Pod, |_| true)?;
        let node = self.pick(Resource::Node, |n| {
            n.node().is_some_and(|n| n.ready() == "True")
        })?;
        let host_ip = node
            .node()
            .and_then(|n| n.status.addresses.first())
            .map(|a| a.address.clone())
            .unwrap_or_default();
        self.serial += 1;
        let serial = self.serial;
        let mut g = self.generator();
        let base = model
            .metadata
            .owner_references
            .first()
            .map_or_else(|| model.metadata.name.clone(), |o| o.name.clone());
        let mut pod = model.clone();
        pod.metadata.name = format!("{base}-{}", g.rng.suffix(5));
        pod.metadata.uid = g.rng.uid();
        pod.metadata.creation_timestamp = ts(g.now);
        let now = g.now;
        if let Body::Pod(p) = &mut pod.body {
            p.spec.node_name = node.metadata.name.clone();
            let ip = format!(
                "10.{}.{}.{}",
                128 + (serial / 65_024) % 128,
                (serial / 254) % 256,
                1 + serial % 254
            );
            p.status = g.pod_status(&p.spec.containers, &host_ip, ip, now);
        }
        self.rng = g.rng;
        if self
            .store
            .get(Resource::Pod, &pod.metadata.namespace, &pod.metadata.name)
            .is_some()
        {
            return None;
        }
        let touched = Touched::from(&pod);
        self.store.apply(Resource::Pod, pod.clone());
        let what = Happening::scheduled(&pod, &node.metadata.name);
        self.record_event(&pod, Resource::Pod, what);
        Some(touched)
    }

    fn delete_pod(&mut self) -> Option<Touched> {
        let pod = self.pick(Resource::Pod, |_| true)?;
        let gone = self
            .store
            .remove(Resource::Pod, &pod.metadata.namespace, &pod.metadata.name)?;
        let container = gone
            .pod()
            .and_then(|p| p.spec.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let host = gone
            .pod()
            .map(|p| p.spec.node_name.clone())
            .unwrap_or_default();
        self.record_event(
            &gone,
            Resource::Pod,
            Happening {
                reason: "Killing",
                kind: "Normal",
                message: format!("Stopping container {container}"),
                component: "kubelet",
                host: host.clone(),
            },
        );
        Some(Touched::from(&gone))
    }

    fn restart_pod(&mut self) -> Option<Touched> {
        let pod = self.pick(Resource::Pod, |o| {
            o.pod().is_some_and(|p| p.status.phase == "Running")
        })?;
        let now = ts(Utc::now());
        let mut container = String::new();
        self.store.modify(
            Resource::Pod,
            &pod.metadata.namespace,
            &pod.metadata.name,
            |o| {
                if let Body::Pod(p) = &mut o.body
                    && let Some(s) = p.status.container_statuses.first_mut()
                {
                    container = s.name.clone();
                    s.restart_count += 1;
                    s.last_state = Some(ContainerState::Terminated {
                        reason: "Error",
                        exit_code: 1,
                        finished_at: now.clone(),
                    });
                    s.state = ContainerState::Running {
                        started_at: now.clone(),
                    };
                    if s.image_id.is_empty() {
                        s.image_id = image_id(&s.image);
                    }
                }
            },
        );
        let host = pod
            .pod()
            .map(|p| p.spec.node_name.clone())
            .unwrap_or_default();
        let message = format!(
            "Back-off restarting failed container {container} in pod {}",
            pod.metadata.name
        );
        self.record_event(
            &pod,
            Resource::Pod,
            Happening {
                reason: "BackOff",
                kind: "Warning",
                message,
                component: "kubelet",
                host: host.clone(),
            },
        );
        Some(Touched::from(&pod))
    }

    fn relabel_pod(&mut self) -> Option<Touched> {
        let pod = self.pick(Resource::Pod, |_| true)?;
        self.serial += 1;
        let value = self.serial.to_string();
        self.store.modify(
            Resource::Pod,
            &pod.metadata.namespace,
            &pod.metadata.name,
            |o| {
                o.metadata
                    .labels
                    .insert("steward.sim/revision".into(), value);
            },
        );
        Some(Touched::from(&pod))
    }

    fn set_node_ready(&mut self, ready: bool) -> Option<Touched> {
        let (from, to) = if ready {
            ("False", "True")
        } else {
            ("True", "False")
        };
        let node = self.pick(Resource::Node, |n| {
            n.node().is_some_and(|n| n.ready() == from)
        })?;
        let now = ts(Utc::now());
        self.store
            .modify(Resource::Node, "", &node.metadata.name, |o| {
                if let Body::Node(n) = &mut o.body {
                    for c in n.status.conditions.iter_mut().filter(|c| c.kind == "Ready") {
                        let (reason, message) = if ready {
                            ("KubeletReady", "kubelet is posting ready status")
                        } else {
                            (
                                "KubeletNotReady",
                                "container runtime network not ready: NetworkReady=false",
                            )
                        };
                        *c = Condition {
                            last_heartbeat_time: now.clone(),
                            ..Condition::new("Ready", to, reason, message, &now)
                        };
                    }
                }
            });
        let (reason, kind, status) = if ready {
            ("NodeReady", "Normal", "NodeReady")
        } else {
            ("NodeNotReady", "Warning", "NodeNotReady")
        };
        let message = format!("Node {} status is now: {status}", node.metadata.name);
        self.record_event(
            &node,
            Resource::Node,
            Happening {
                reason,
                kind,
                message,
                component: "node-controller",
                host: "".to_string(),
            },
        );
        Some(Touched::from(&node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        Cluster::generate(SimulatorConfig {
            nodes: 3,
            pods_per_node: 10,
            seed: 2,
            ..SimulatorConfig::default()
        })
    }

    #[test]
    fn churn_changes_the_cluster_and_records_events() {
        let mut c = cluster();
        let pods = c.store.count(Resource::Pod);
        let events = c.store.count(Resource::Event);
        let report = c.churn(&ChurnRequest {
            create: 3,
            delete: 2,
            restart: 1,
            relabel: 1,
            node_not_ready: 1,
            ..ChurnRequest::default()
        });
        assert_eq!((report.created.len(), report.deleted.len()), (3, 2));
        assert_eq!(c.store.count(Resource::Pod), pods + 1);
        assert_eq!(c.store.count(Resource::Event), events + 3 + 2 + 1 + 1);
        let node = &report.nodes_not_ready[0];
        let n = c
            .store
            .get(Resource::Node, "", &node.name)
            .and_then(Object::node)
            .unwrap();
        assert_eq!(n.ready(), "False");
        let back = c.churn(&ChurnRequest {
            node_ready: 5,
            ..ChurnRequest::default()
        });
        assert_eq!(
            back.nodes_ready.len(),
            1,
            "only the one NotReady node can come back"
        );
        let restarted = &report.restarted[0];
        let p = c
            .store
            .get(Resource::Pod, &restarted.namespace, &restarted.name)
            .and_then(Object::pod)
            .unwrap();
        assert!(p.status.container_statuses[0].restart_count >= 1);
    }

    #[test]
    fn random_changes_keep_the_cluster_consistent() {
        let mut c = cluster();
        for _ in 0..500 {
            c.random_change();
        }
        assert!(c.store.count(Resource::Event) <= c.config.events_kept);
        assert!(c.store.count(Resource::Pod) > 0);
    }
}
