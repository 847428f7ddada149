//! A full refresh: list every kind (paged, concurrently), parse, and save with the
//! full scope (what the cluster no longer has is marked deleted). Returns the list
//! versions the watches start from, and the seed's timing breakdown.

use std::collections::HashMap;
use std::time::Instant;

use super::kinds::{Kind, OPENSHIFT_IMAGES_PATH};
use crate::db::Db;
use crate::inventory::{Collected, ParseOptions, SaveReport, Scope, parse, save};
use crate::kube::types::{Namespace, Node, OpenShiftImage, Pod, Service, Workload};
use crate::kube::{KubeClient, KubeError};
use crate::providers::Timings;

/// What a full refresh did.
pub struct FullRefresh {
    pub report: SaveReport,
    pub timings: Timings,
    /// Per kind, the resourceVersion of its list.
    pub versions: HashMap<Kind, String>,
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
    client: &KubeClient,
    db: &Db,
    options: ParseOptions,
    openshift: bool,
    page_size: u32,
) -> Result<FullRefresh, RefreshError> {
    let started = Instant::now();
    let (namespaces, nodes, pods, services, rcs, rss, deployments) = futures::try_join!(
        client.list_all::<Namespace>(Kind::Namespace.path(), page_size),
        client.list_all::<Node>(Kind::Node.path(), page_size),
        client.list_all::<Pod>(Kind::Pod.path(), page_size),
        client.list_all::<Service>(Kind::Service.path(), page_size),
        client.list_all::<Workload>(Kind::ReplicationController.path(), page_size),
        client.list_all::<Workload>(Kind::ReplicaSet.path(), page_size),
        client.list_all::<Workload>(Kind::Deployment.path(), page_size),
    )?;
    let images = if openshift && options.get_container_images && options.store_unused_images {
        client
            .list_all::<OpenShiftImage>(OPENSHIFT_IMAGES_PATH, page_size)
            .await?
            .0
    } else {
        Vec::new()
    };
    let versions = HashMap::from([
        (Kind::Namespace, namespaces.1),
        (Kind::Node, nodes.1),
        (Kind::Pod, pods.1),
        (Kind::Service, services.1),
        (Kind::ReplicationController, rcs.1),
        (Kind::ReplicaSet, rss.1),
        (Kind::Deployment, deployments.1),
    ]);
    let collected = Collected {
        namespaces: namespaces.0,
        nodes: nodes.0,
        pods: pods.0,
        services: services.0,
        replication_controllers: rcs.0,
        replica_sets: rss.0,
        deployments: deployments.0,
        images,
    };
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
        versions,
    })
}
