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
use crate::inventory::{ParseOptions, Parser, SaveReport, Scope, known_versions, save};
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

/// Lists, parses and saves everything of one provider. With `skip_unchanged`, objects
/// whose rows already hold their resourceVersion are not parsed again (a resync).
pub async fn full_refresh(
    client: &kube::Client,
    server: &str,
    db: &Db,
    options: ParseOptions,
    openshift: bool,
    page_size: u32,
    skip_unchanged: bool,
) -> Result<FullRefresh, RefreshError> {
    let started = Instant::now();
    let mut parser = Parser::new(options);
    if skip_unchanged {
        let provider = options.provider_id;
        let known = db.run(move |c| known_versions(c, provider)).await?;
        parser = parser.skipping_known(known);
    }
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
    let (listed, images) = futures::join!(collect(&mut watches.rx, &mut parser), images);
    let (pending, parse_s) = listed?;
    let images: Vec<OpenShiftImage> = images?;
    let parse_started = Instant::now();
    images.iter().for_each(|i| parser.openshift_image(i));
    drop(images);
    let parsed = parser.finish();
    let parse_s = parse_s + parse_started.elapsed().as_secs_f64();
    // Listing and parsing interleave: collect is the listing's time without parsing.
    let collect_s = (started.elapsed().as_secs_f64() - parse_s).max(0.0);

    let save_started = Instant::now();
    let provider = options.provider_id;
    let now = chrono::Utc::now().naive_utc();
    let saved = db
        .run(move |c| save(c, provider, parsed, &Scope::Full, now))
        .await;
    // The live feed of this node reads the change log now (other nodes hear the NOTIFY
    // on PostgreSQL, or poll).
    db.signal_inventory();
    let report = saved?;
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

/// Waits for every kind's first complete listing, parsing each page as it arrives
/// (the typed objects are dropped at once); returns the changes of kinds already listed
/// that arrived meanwhile (for after the save) and the time spent parsing. The first
/// failure fails the refresh (the watcher would retry, but a refresh reports).
async fn collect(
    rx: &mut mpsc::Receiver<WatchMsg>,
    parser: &mut Parser,
) -> Result<(Vec<WatchMsg>, f64), KubeError> {
    let mut listed: HashSet<Kind> = HashSet::new();
    let mut pending = Vec::new();
    let mut parse_s = 0.0;
    while listed.len() < Kind::ALL.len() {
        let Some(msg) = rx.recv().await else {
            return Err(KubeError::Config(
                "the watches stopped while listing".into(),
            ));
        };
        match msg {
            WatchMsg::ListedPage(kind, objects) if !listed.contains(&kind) => {
                let started = Instant::now();
                for o in objects {
                    feed(parser, o)?;
                }
                parse_s += started.elapsed().as_secs_f64();
            }
            // A relist of a kind already listed: its end is enough for the worker.
            WatchMsg::ListedPage(..) => {}
            WatchMsg::Listed(kind) if !listed.contains(&kind) => {
                listed.insert(kind);
            }
            WatchMsg::Failed(_, error) => return Err(error),
            other => pending.push(other),
        }
    }
    Ok((pending, parse_s))
}

fn feed(parser: &mut Parser, o: Change) -> Result<(), KubeError> {
    match o {
        Change::Namespace(o) => parser.namespace(&o),
        Change::Node(o) => parser.node(&o),
        Change::Pod(o) => {
            if !parser.known_pod(o.json()) {
                parser.pod(&o.typed().map_err(|e| undecodable("pods", &e))?);
            }
        }
        Change::Service(o) => parser.service(&o),
        Change::ReplicationController(o) => parser.replication_controller(&o),
        Change::ReplicaSet(o) => parser.replica_set(&o),
        Change::Deployment(o) => parser.deployment(&o),
    }
    Ok(())
}

/// An object the server listed that does not decode as its kind (where, not what:
/// the server's text is not repeated).
pub fn undecodable(resource: &str, e: &serde_json::Error) -> KubeError {
    KubeError::Decode {
        verb: "list".into(),
        resource: resource.into(),
        reason: format!(
            "an object is not a valid {resource} object (line {}, column {})",
            e.line(),
            e.column()
        ),
    }
}
