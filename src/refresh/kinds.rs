//! The kinds a refresh lists and watches, and the watch task of one kind.
//!
//! Each kind is followed by a `kube_runtime::watcher`: it lists (paged, `limit` =
//! `ems_refresh.page_size`, following `continue`), then watches from the list's
//! resourceVersion with bookmarks, resumes from the last version it saw when a stream
//! ends, relists by itself when the server says the history is gone (410), and backs
//! off between failures (800 ms → 30 s with jitter, reset after two healthy minutes).
//!
//! A task turns the watcher's events into [`WatchMsg`]s for its worker:
//!
//! ```text
//! Init, InitApply(o)…, InitDone  ──▶  ListedPage(kind, ≤100 objects)…, Listed(kind)
//!                                      (a complete listing, sent as it arrives)
//! Apply(o) / Delete(o)           ──▶  Applied(o) / Deleted(o)      (batched by the worker)
//! Err(e)                         ──▶  Failed(kind, e)              (the watcher retries)
//! ```

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};

use super::lazy::Lazy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

use crate::kube::{KubeError, from_watcher};

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

    /// The resource's plural name, as RBAC and statuses name it.
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

/// One object of a watched kind.
#[derive(Debug, Clone)]
pub enum Change {
    Namespace(Namespace),
    Node(Node),
    /// Pods stay JSON until they are known to have changed (see [`Lazy`]).
    Pod(Lazy<Pod>),
    Service(Service),
    ReplicationController(ReplicationController),
    ReplicaSet(ReplicaSet),
    Deployment(Deployment),
}

impl Change {
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Change::Namespace(o) => &o.metadata,
            Change::Node(o) => &o.metadata,
            Change::Pod(o) => k8s_openapi::Metadata::metadata(o),
            Change::Service(o) => &o.metadata,
            Change::ReplicationController(o) => &o.metadata,
            Change::ReplicaSet(o) => &o.metadata,
            Change::Deployment(o) => &o.metadata,
        }
    }

    /// The object's uid (empty if the server sent none).
    pub fn uid(&self) -> &str {
        self.meta().uid.as_deref().unwrap_or_default()
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

/// What a watch task tells its worker.
#[derive(Debug)]
pub enum WatchMsg {
    /// Objects of a listing of the kind (the first one, or a relist after the history
    /// was lost), in pages as they arrive so that no one holds a whole listing.
    ListedPage(Kind, Vec<Change>),
    /// The listing's pages are complete: what was not in them no longer exists.
    Listed(Kind),
    Applied(Change),
    Deleted(Change),
    /// The list or watch failed; the watcher retries after a backoff.
    Failed(Kind, KubeError),
}

/// Objects per [`WatchMsg::ListedPage`].
const LISTED_PAGE: usize = 100;

/// Follows `kind` until the receiver goes away.
pub async fn watch_kind(
    client: kube::Client,
    server: String,
    kind: Kind,
    page_size: u32,
    tx: mpsc::Sender<WatchMsg>,
) {
    let config = watcher::Config::default().page_size(page_size);
    match kind {
        Kind::Namespace => {
            follow(
                Api::<Namespace>::all(client),
                config,
                server,
                kind,
                tx,
                Change::Namespace,
            )
            .await
        }
        Kind::Node => {
            follow(
                Api::<Node>::all(client),
                config,
                server,
                kind,
                tx,
                Change::Node,
            )
            .await
        }
        Kind::Pod => {
            follow(
                Api::<Lazy<Pod>>::all(client),
                config,
                server,
                kind,
                tx,
                Change::Pod,
            )
            .await
        }
        Kind::Service => {
            follow(
                Api::<Service>::all(client),
                config,
                server,
                kind,
                tx,
                Change::Service,
            )
            .await
        }
        Kind::ReplicationController => {
            follow(
                Api::<ReplicationController>::all(client),
                config,
                server,
                kind,
                tx,
                Change::ReplicationController,
            )
            .await
        }
        Kind::ReplicaSet => {
            follow(
                Api::<ReplicaSet>::all(client),
                config,
                server,
                kind,
                tx,
                Change::ReplicaSet,
            )
            .await
        }
        Kind::Deployment => {
            follow(
                Api::<Deployment>::all(client),
                config,
                server,
                kind,
                tx,
                Change::Deployment,
            )
            .await
        }
    }
}

async fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    server: String,
    kind: Kind,
    tx: mpsc::Sender<WatchMsg>,
    wrap: fn(K) -> Change,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let stream = watcher::watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let mut page: Vec<Change> = Vec::new();
    while let Some(item) = stream.next().await {
        let msg = match item {
            Ok(Event::Init) => {
                page = Vec::new();
                continue;
            }
            Ok(Event::InitApply(o)) => {
                page.push(wrap(o));
                if page.len() < LISTED_PAGE {
                    continue;
                }
                WatchMsg::ListedPage(kind, std::mem::take(&mut page))
            }
            Ok(Event::InitDone) => {
                if !page.is_empty()
                    && tx
                        .send(WatchMsg::ListedPage(kind, std::mem::take(&mut page)))
                        .await
                        .is_err()
                {
                    return;
                }
                WatchMsg::Listed(kind)
            }
            Ok(Event::Apply(o)) => WatchMsg::Applied(wrap(o)),
            Ok(Event::Delete(o)) => WatchMsg::Deleted(wrap(o)),
            Err(e) => WatchMsg::Failed(kind, from_watcher(&e, kind.name(), &server)),
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}
