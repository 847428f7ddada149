//! Event storms (`POST /_sim/storm`): one pod's container failing over and over and
//! the kubelet repeating its `BackOff` Warning — as one Event whose count climbs (what
//! a kubelet's event aggregation does), or, with `distinct`, as a new Event object per
//! occurrence (each with count 1).

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::churn::Cluster;
use super::generate::{Happening, ts};
use super::objects::{Body, Object, Resource};

/// Most occurrences one storm request may ask for.
pub const MAX_STORM: u64 = 10_000_000;

/// What `POST /_sim/storm` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StormRequest {
    /// Occurrences, the first included.
    pub events: u64,
    /// A new Event object per occurrence instead of one Event counting up.
    #[serde(default)]
    pub distinct: bool,
    /// The pod's uid (a random pod when absent).
    #[serde(default)]
    pub pod: Option<String>,
    /// Occurrences per second (as fast as possible when absent).
    #[serde(default)]
    pub rate: Option<f64>,
}

/// The storm's subject, as `POST /_sim/storm` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StormStarted {
    pub pod: String,
    pub namespace: String,
    pub pod_uid: String,
    /// The Event that counts up (not `distinct`).
    pub event_uid: String,
    pub events: u64,
}

/// A running storm.
pub struct Storm {
    pod: Object,
    event: (String, String),
    distinct: bool,
}

fn back_off(pod: &Object) -> Happening {
    let host = pod
        .pod()
        .map(|p| p.spec.node_name.clone())
        .unwrap_or_default();
    let container = pod
        .pod()
        .and_then(|p| p.spec.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Happening {
        reason: "BackOff",
        kind: "Warning",
        message: format!(
            "Back-off restarting failed container {container} in pod {}",
            pod.metadata.name
        ),
        component: "kubelet",
        host,
    }
}

impl Cluster {
    /// The storm's first occurrence; `None` when there is no such pod.
    pub fn storm_start(&mut self, request: &StormRequest) -> Option<(Storm, StormStarted)> {
        let pod = match &request.pod {
            Some(uid) => self.pick(Resource::Pod, |p| p.metadata.uid == *uid)?,
            None => self.pick(Resource::Pod, |_| true)?,
        };
        let event = self.record_event(&pod, Resource::Pod, back_off(&pod));
        let event_uid = self
            .store
            .get(Resource::Event, &event.0, &event.1)
            .map(|e| e.metadata.uid.clone())
            .unwrap_or_default();
        let started = StormStarted {
            pod: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            pod_uid: pod.metadata.uid.clone(),
            event_uid: if request.distinct {
                String::new()
            } else {
                event_uid
            },
            events: request.events,
        };
        let storm = Storm {
            pod,
            event,
            distinct: request.distinct,
        };
        Some((storm, started))
    }

    /// `n` more occurrences of `storm`.
    pub fn storm_step(&mut self, storm: &mut Storm, n: u64) {
        for _ in 0..n {
            if storm.distinct {
                self.record_event(&storm.pod, Resource::Pod, back_off(&storm.pod));
                continue;
            }
            let bumped = self
                .store
                .get(Resource::Event, &storm.event.0, &storm.event.1)
                .cloned()
                .and_then(|mut e| {
                    let Body::Event(ev) = &mut e.body else {
                        return None;
                    };
                    ev.count += 1;
                    ev.last_timestamp = ts(Utc::now());
                    Some(e)
                });
            match bumped {
                Some(e) => self.store.apply(Resource::Event, e),
                // Expired meanwhile (other events pushed it out): a new one starts.
                None => {
                    storm.event =
                        self.record_event(&storm.pod, Resource::Pod, back_off(&storm.pod));
                }
            }
        }
    }
}
