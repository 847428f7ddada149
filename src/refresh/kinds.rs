//! The kinds a refresh lists and watches, and the watch loop of one kind.
//!
//! A watch starts from the resourceVersion of the full refresh's list, resumes from
//! the last version it saw when a stream ends (servers end watches every few
//! minutes), follows bookmarks, and backs off (1 s → 30 s) while the cluster is
//! unreachable, reporting the failure once per attempt. A `410 Gone` means the
//! history it needs is gone: it reports that and stops — the worker then queues a
//! full refresh, which restarts every watch from a fresh list.

use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::kube::types::{Namespace, Node, ObjectMeta, Pod, Service, Workload};
use crate::kube::{KubeClient, KubeError, WatchEvent};

/// A kind of object in the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    Service,
    ReplicationController,
    ReplicaSet,
    Deployment,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Service,
        Kind::ReplicationController,
        Kind::ReplicaSet,
        Kind::Deployment,
    ];

    /// The cluster-wide list/watch path.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Namespace => "/api/v1/namespaces",
            Kind::Node => "/api/v1/nodes",
            Kind::Pod => "/api/v1/pods",
            Kind::Service => "/api/v1/services",
            Kind::ReplicationController => "/api/v1/replicationcontrollers",
            Kind::ReplicaSet => "/apis/apps/v1/replicasets",
            Kind::Deployment => "/apis/apps/v1/deployments",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::ReplicationController => "replicationcontrollers",
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
        }
    }
}

/// The OpenShift image list (no watch: images change on full refreshes).
pub const OPENSHIFT_IMAGES_PATH: &str = "/apis/image.openshift.io/v1/images";

/// One changed object.
#[derive(Debug, Clone)]
pub enum Change {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    Service(Service),
    ReplicationController(Workload),
    ReplicaSet(Workload),
    Deployment(Workload),
}

impl Change {
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Change::Namespace(o) => &o.metadata,
            Change::Node(o) => &o.metadata,
            Change::Pod(o) => &o.metadata,
            Change::Service(o) => &o.metadata,
            Change::ReplicationController(o) | Change::ReplicaSet(o) | Change::Deployment(o) => {
                &o.metadata
            }
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Change::Namespace(_) => Kind::Namespace,
            Change::Node(_) => Kind::Node,
            Change::Pod(_) => Kind::Pod,
            Change::Service(_) => Kind::Service,
            Change::ReplicationController(_) => Kind::ReplicationController,
            Change::ReplicaSet(_) => Kind::ReplicaSet,
            Change::Deployment(_) => Kind::Deployment,
        }
    }
}

/// What a watch tells its worker.
#[derive(Debug)]
pub enum WatchMsg {
    Applied(Change),
    Deleted(Change),
    /// The watch could not continue from its version: a full refresh is needed.
    Gone(Kind),
    /// The watch failed and will retry.
    Failed(Kind, KubeError),
    /// The watch is running again after a failure.
    Recovered(Kind),
}

/// Watches `kind` from `version` until the receiver goes away or the version is gone.
pub async fn watch_kind(
    client: KubeClient,
    kind: Kind,
    version: String,
    tx: mpsc::Sender<WatchMsg>,
    idle: Duration,
) {
    match kind {
        Kind::Namespace => {
            run::<Namespace>(client, kind, version, tx, idle, Change::Namespace).await
        }
        Kind::Node => run::<Node>(client, kind, version, tx, idle, Change::Node).await,
        Kind::Pod => run::<Pod>(client, kind, version, tx, idle, Change::Pod).await,
        Kind::Service => run::<Service>(client, kind, version, tx, idle, Change::Service).await,
        Kind::ReplicationController => {
            run::<Workload>(
                client,
                kind,
                version,
                tx,
                idle,
                Change::ReplicationController,
            )
            .await
        }
        Kind::ReplicaSet => {
            run::<Workload>(client, kind, version, tx, idle, Change::ReplicaSet).await
        }
        Kind::Deployment => {
            run::<Workload>(client, kind, version, tx, idle, Change::Deployment).await
        }
    }
}

async fn run<T: DeserializeOwned>(
    client: KubeClient,
    kind: Kind,
    mut version: String,
    tx: mpsc::Sender<WatchMsg>,
    idle: Duration,
    wrap: fn(T) -> Change,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut failing = false;
    loop {
        let failure = match client.watch::<T>(kind.path(), &version, idle).await {
            Err(e) if e.is_gone() => {
                let _ = tx.send(WatchMsg::Gone(kind)).await;
                return;
            }
            Err(e) => Some(e),
            Ok(mut stream) => {
                if failing {
                    failing = false;
                    backoff.reset();
                    if tx.send(WatchMsg::Recovered(kind)).await.is_err() {
                        return;
                    }
                }
                let mut failure = None;
                while let Some(event) = stream.next().await {
                    let msg = match event {
                        Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                            WatchMsg::Applied(wrap(o))
                        }
                        Ok(WatchEvent::Deleted(o)) => WatchMsg::Deleted(wrap(o)),
                        Ok(WatchEvent::Bookmark(v)) => {
                            if !v.is_empty() {
                                version = v;
                            }
                            continue;
                        }
                        Err(e) if e.is_gone() => {
                            let _ = tx.send(WatchMsg::Gone(kind)).await;
                            return;
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    };
                    if let WatchMsg::Applied(c) | WatchMsg::Deleted(c) = &msg
                        && !c.meta().resource_version.is_empty()
                    {
                        version = c.meta().resource_version.clone();
                    }
                    if tx.send(msg).await.is_err() {
                        return;
                    }
                }
                failure
            }
        };
        if let Some(error) = failure {
            failing = true;
            if tx.send(WatchMsg::Failed(kind, error)).await.is_err() {
                return;
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
        if tx.is_closed() {
            return;
        }
    }
}
