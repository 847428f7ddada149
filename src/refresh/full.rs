//! A full refresh: a fresh set of watches lists every kind (paged, concurrently), the
//! listings are parsed and saved with the full scope (what the cluster no longer has is
//! marked deleted), and the same watches then keep the inventory current. The caller
//! swaps the new set in only when the refresh succeeded, so a failed one leaves the
//! running watches alone.

use std::collections::HashSet;
use std::time::Instant;

use kube::Api;
use kube::api::DynamicObject;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::kinds::{Change, Kind, WatchMsg, watch_kind};
use crate::db::Db;
use crate::inventory::{Collected, ParseOptions, SaveReport, Scope, parse, save};
use crate::kube::openshift::{OpenShiftImage, image_resource};
use crate::kube::{KubeError, list_all};
use crate::providers::Timings;

/// The watch tasks of one provider and the channel they report on. Dropping it stops
/// them.
pub struct WatchSet {
    tasks: Vec<JoinHandle<()>>,
    pub rx: mpsc::Receiver<WatchMsg>,
}

impl WatchSet {
    /// Starts a watcher per kind.
    pub fn start(client: &kube::Client, server: &str, page_size: u32) -> Self {
        let (tx, rx) = mpsc::channel(10_000);
        let tasks = Kind::ALL
            .into_iter()
            .map(|kind| {
                actix_rt::spawn(watch_kind(
                    client.clone(),
                    server.to_string(),
                    kind,
                    page_size,
                    tx.clone(),
                ))
            })
            .collect();
        Self { tasks, rx }
    }
}

impl Drop for WatchSet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a full refresh did.
pub struct FullRefresh {
    pub report: SaveReport,
    pub timings: Timings,
    /// The watches that listed, now following the cluster.
    pub watches: WatchSet,
    /// Changes the watches reported while the other kinds were still listing.
    pub pending: Vec<WatchMsg>,
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("saving the inventory failed: {0}")]
    Save(#[from] crate::db::DbError),
}

/// Lists, parses and saves everything of one provider.
pub async fn full_refresh(
    client: &kube::Client,
    server: &str,
    db: &Db,
    options: ParseOptions,
    openshift: bool,
    page_size: u32,
) -> Result<FullRefresh, RefreshError> {
    let started = Instant::now();
    let mut watches = WatchSet::start(client, server, page_size);
    let images = async {
        if openshift && options.get_container_images && options.store_unused_images {
            let api = Api::<DynamicObject>::all_with(client.clone(), &image_resource());
            let (items, _) = list_all(&api, "images.image.openshift.io", server, page_size).await?;
            Ok::<_, KubeError>(items.iter().map(OpenShiftImage::from).collect())
        } else {
            Ok(Vec::new())
        }
    };
    let (listed, images) = futures::join!(collect(&mut watches.rx), images);
    let (collected_kinds, pending) = listed?;
    let mut collected = collected_kinds;
    collected.images = images?;
    let collect_s = started.elapsed().as_secs_f64();

    let parse_started = Instant::now();
    let parsed = parse(&collected, options);
    drop(collected);
    let parse_s = parse_started.elapsed().as_secs_f64();

    let save_started = Instant::now();
    let provider = options.provider_id;
    let now = chrono::Utc::now().naive_utc();
    let report = db
        .run(move |c| save(c, provider, parsed, &Scope::Full, now))
        .await?;
    let save_s = save_started.elapsed().as_secs_f64();
    Ok(FullRefresh {
        report,
        timings: Timings {
            collect_s,
            parse_s,
            save_s,
            total_s: started.elapsed().as_secs_f64(),
        },
        watches,
        pending,
    })
}

/// Waits for every kind's first complete listing. The first failure fails the
/// refresh (the watcher would retry, but a refresh reports). Changes of kinds already
/// listed are kept for after the save.
async fn collect(
    rx: &mut mpsc::Receiver<WatchMsg>,
) -> Result<(Collected, Vec<WatchMsg>), KubeError> {
    let mut collected = Collected::default();
    let mut listed: HashSet<Kind> = HashSet::new();
    let mut pending = Vec::new();
    while listed.len() < Kind::ALL.len() {
        let Some(msg) = rx.recv().await else {
            return Err(KubeError::Config(
                "the watches stopped while listing".into(),
            ));
        };
        match msg {
            WatchMsg::Listed(kind, objects) if !listed.contains(&kind) => {
                listed.insert(kind);
                add(&mut collected, objects);
            }
            WatchMsg::Failed(_, error) => return Err(error),
            other => pending.push(other),
        }
    }
    Ok((collected, pending))
}

fn add(c: &mut Collected, objects: Vec<Change>) {
    for o in objects {
        match o {
            Change::Namespace(o) => c.namespaces.push(o),
            Change::Node(o) => c.nodes.push(o),
            Change::Pod(o) => c.pods.push(o),
            Change::Service(o) => c.services.push(o),
            Change::ReplicationController(o) => c.replication_controllers.push(o),
            Change::ReplicaSet(o) => c.replica_sets.push(o),
            Change::Deployment(o) => c.deployments.push(o),
        }
    }
}
