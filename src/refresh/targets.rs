//! Targeted refresh (ManageIQ's `EmsRefresh.queue_refresh` of targets): event policies
//! ask for the objects their events concern to be fetched again. Requests for one
//! provider merge into the one waiting message (up to [`MAX_TARGETS`]; beyond that the
//! waiting message asks for a full refresh instead), and the provider's refresh worker
//! gets each object and saves it like a watch batch.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};
use kube::Api;
use serde::{Deserialize, Serialize};

use super::kinds::{Change, WatchMsg};
use super::lazy::Lazy;
use crate::kube::{KubeError, from_kube};
use crate::providers::{REFRESH_CLASS, queue_name};
use crate::queue::{DedupKey, MessageUpdate, NewMessage, PutOutcome, QueueClient};

/// The method of a targeted refresh message (class `Provider`).
pub const REFRESH_TARGETS_METHOD: &str = "refresh_targets";
/// Most targets one waiting message gathers.
pub const MAX_TARGETS: usize = 1_000;

/// An object a targeted refresh fetches again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

/// The kinds a targeted refresh knows.
pub const REFRESHABLE: [&str; 7] = [
    "Pod",
    "Node",
    "Namespace",
    "Service",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
];

/// A targeted refresh's args.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetsArgs {
    pub targets: BTreeSet<Target>,
    /// More were asked for than a message holds: refresh everything instead.
    #[serde(default)]
    pub overflow: bool,
}

fn merged(waiting: &str, new: &TargetsArgs) -> TargetsArgs {
    let mut args: TargetsArgs = serde_json::from_str(waiting).unwrap_or_default();
    args.overflow |= new.overflow;
    for t in &new.targets {
        if args.targets.len() >= MAX_TARGETS {
            args.overflow = true;
            break;
        }
        args.targets.insert(t.clone());
    }
    args
}

/// Queues a targeted refresh of `targets` of provider `id`, merged into the one
/// waiting, if any.
pub async fn queue_refresh_targets(
    queue: &QueueClient,
    id: i64,
    zone: &str,
    timeout: std::time::Duration,
    targets: BTreeSet<Target>,
) -> Result<PutOutcome, String> {
    let args = merged(
        "{}",
        &TargetsArgs {
            targets,
            overflow: false,
        },
    );
    let value = serde_json::to_value(&args).map_err(|e| e.to_string())?;
    let message = NewMessage::internal(REFRESH_CLASS, REFRESH_TARGETS_METHOD)
        .with_queue(&queue_name(id))
        .with_zone(zone)
        .with_instance(id)
        .with_timeout(timeout)
        .with_role("ems_inventory")
        .and_then(|m| m.with_args(&value))
        .map_err(|e| e.to_string())?;
    queue
        .put_or_update(message, DedupKey::WAITING, move |waiting| {
            let m = merged(&waiting.args, &args);
            serde_json::to_string(&m).ok().map(|text| MessageUpdate {
                args: Some(text),
                ..Default::default()
            })
        })
        .await
        .map_err(|e| e.to_string())
}

async fn get<K>(api: Api<K>, name: &str) -> Result<Option<K>, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await
}

/// Fetches `targets`; objects that no longer exist are skipped (their deletion is the
/// watches' and the full refresh's to see).
pub async fn fetch(
    client: &kube::Client,
    server: &str,
    targets: &BTreeSet<Target>,
) -> Result<Vec<WatchMsg>, KubeError> {
    let mut out = Vec::new();
    for t in targets {
        let (ns, name) = (t.namespace.as_str(), t.name.as_str());
        let c = client.clone();
        let fetched = match t.kind.as_str() {
            "Pod" => get(Api::<Lazy<Pod>>::namespaced(c, ns), name)
                .await
                .map(|o| o.map(Change::Pod)),
            "Node" => get(Api::<Node>::all(c), name)
                .await
                .map(|o| o.map(Change::Node)),
            "Namespace" => get(Api::<Namespace>::all(c), name)
                .await
                .map(|o| o.map(Change::Namespace)),
            "Service" => get(Api::<Service>::namespaced(c, ns), name)
                .await
                .map(|o| o.map(Change::Service)),
            "ReplicationController" => get(Api::<ReplicationController>::namespaced(c, ns), name)
                .await
                .map(|o| o.map(Change::ReplicationController)),
            "ReplicaSet" => get(Api::<ReplicaSet>::namespaced(c, ns), name)
                .await
                .map(|o| o.map(Change::ReplicaSet)),
            "Deployment" => get(Api::<Deployment>::namespaced(c, ns), name)
                .await
                .map(|o| o.map(Change::Deployment)),
            _ => Ok(None),
        };
        match fetched {
            Ok(Some(change)) => out.push(WatchMsg::Applied(change)),
            Ok(None) => {}
            Err(e) => return Err(from_kube(&e, "get", &t.kind, server)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target {
            kind: "Pod".into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    #[test]
    fn requests_merge_up_to_the_cap() {
        let first = TargetsArgs {
            targets: [target("a"), target("b")].into(),
            overflow: false,
        };
        let waiting = serde_json::to_string(&first).expect("json");
        let again = TargetsArgs {
            targets: [target("b"), target("c")].into(),
            overflow: false,
        };
        let m = merged(&waiting, &again);
        assert_eq!(m.targets.len(), 3);
        assert!(!m.overflow);
        let many = TargetsArgs {
            targets: (0..MAX_TARGETS + 5)
                .map(|i| target(&i.to_string()))
                .collect(),
            overflow: false,
        };
        let m = merged(&waiting, &many);
        assert_eq!(m.targets.len(), MAX_TARGETS);
        assert!(m.overflow);
    }
}
