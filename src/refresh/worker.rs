//! The refresh worker of one provider: a supervised worker whose body serves two
//! sources at once —
//!
//! - its mailbox: `Provider.refresh` messages (deduplicated on the queue, so at most
//!   one runs and one waits) → a full refresh; on success the watches (re)start from
//!   the lists' versions; on failure the provider's status says why and a retry is
//!   queued after a backoff (5 s doubling to 5 min by default);
//! - its watches: changes gathered for `ems_refresh.watch_batch_window`, then saved
//!   together as a targeted refresh. A watch that lost its history (410) asks for a
//!   full refresh.
//!
//! Every refresh is recorded with its timings, and logged like the seed's
//! `Refreshing targets for EMS...Complete - Timings {…}` line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::full::{RefreshError, full_refresh};
use super::kinds::{Change, Kind, WatchMsg, watch_kind};
use crate::backoff::Backoff;
use crate::crypto::KeyRing;
use crate::inventory::{Collected, Deleted, ParseOptions, Scope, parse, save};
use crate::kube::KubeClient;
use crate::node::WorkerParts;
use crate::providers::{
    Provider, Timings, connection_for, find_provider, queue_refresh, record_refresh,
    set_provider_status,
};
use crate::queue::{Claimed, Completion, MessageState};
use crate::settings::RefreshSettings;
use crate::workers::{WorkerBody, WorkerExit, WorkerFactory, WorkerProbe};

/// Builds refresh workers for one provider.
#[derive(Clone)]
pub struct RefreshKit {
    pub provider_id: i64,
    pub mailbox: async_channel::Receiver<Claimed>,
    pub parts: WorkerParts,
    pub keys: KeyRing,
    pub settings: RefreshSettings,
}

impl WorkerFactory for RefreshKit {
    fn body(&self) -> WorkerBody {
        let kit = self.clone();
        Box::new(move |probe| Box::pin(run(kit, probe)))
    }
}

/// Changes a watch batch holds at most before it is saved regardless of the window.
const MAX_BATCH: usize = 20_000;

struct Session {
    kit: RefreshKit,
    provider: Option<Provider>,
    watches: Vec<JoinHandle<()>>,
    events: Option<mpsc::Receiver<WatchMsg>>,
    failing_watches: HashMap<Kind, String>,
    retry: Backoff,
}

async fn run(kit: RefreshKit, probe: Arc<WorkerProbe>) -> WorkerExit {
    let retry = Backoff::new(kit.settings.retry_backoff, kit.settings.retry_backoff_max);
    let mut s = Session {
        kit,
        provider: None,
        watches: Vec::new(),
        events: None,
        failing_watches: HashMap::new(),
        retry,
    };
    let exit = loop {
        if let Some(reason) = probe.stop_reason() {
            break WorkerExit::Requested(reason);
        }
        tokio::select! {
            biased;
            _ = probe.stop_requested() => continue,
            claimed = s.kit.mailbox.recv() => match claimed {
                Ok(claimed) => {
                    if s.kit.mailbox.is_empty() {
                        s.kit.parts.space.notify_one();
                    }
                    if claimed.is_current() {
                        s.handle_refresh(&probe, claimed).await;
                    } else {
                        let worker = format!("refresh:{}", s.kit.provider_id);
                        s.kit
                            .parts
                            .completions
                            .send(Completion::hand_back(&claimed.message, &worker))
                            .await;
                    }
                }
                Err(_) => break WorkerExit::MailboxClosed,
            },
            first = next_event(&mut s.events) => match first {
                Some(first) => s.handle_watch_batch(first).await,
                None => s.events = None,
            },
        }
    };
    s.stop_watches();
    exit
}

async fn next_event(events: &mut Option<mpsc::Receiver<WatchMsg>>) -> Option<WatchMsg> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    fn options(&self, p: &Provider) -> ParseOptions {
        ParseOptions {
            provider_id: p.id,
            get_container_images: p
                .get_container_images
                .unwrap_or(self.kit.settings.get_container_images),
            store_unused_images: p
                .store_unused_images
                .unwrap_or(self.kit.settings.store_unused_images),
        }
    }

    fn stop_watches(&mut self) {
        for w in self.watches.drain(..) {
            w.abort();
        }
        self.events = None;
        self.failing_watches.clear();
    }

    async fn set_status(&self, ok: bool, message: &str, refreshed: bool) {
        let (id, message) = (self.kit.provider_id, message.to_string());
        if let Err(error) = self
            .kit
            .parts
            .db
            .run(move |c| set_provider_status(c, id, ok, &message, refreshed))
            .await
        {
            tracing::warn!(%error, provider_id = id, "cannot record the provider's status");
        }
    }

    async fn record(
        &self,
        kind: &'static str,
        started: chrono::NaiveDateTime,
        timings: Timings,
        outcome: Result<crate::inventory::SaveReport, String>,
    ) {
        let (id, keep) = (
            self.kit.provider_id,
            i64::from(self.kit.settings.keep_refreshes),
        );
        let result = self
            .kit
            .parts
            .db
            .run(move |c| {
                let outcome = match &outcome {
                    Ok(r) => Ok(r),
                    Err(e) => Err(e.as_str()),
                };
                record_refresh(c, id, kind, started, timings, outcome, keep)
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, provider_id = id, "cannot record the refresh");
        }
    }

    async fn complete(
        &self,
        claimed: &Claimed,
        state: MessageState,
        error: String,
        took: Duration,
    ) {
        let worker = format!("refresh:{}", self.kit.provider_id);
        self.kit
            .parts
            .completions
            .send(Completion {
                delivered_in: took,
                ..Completion::of(&claimed.message, state, error, &worker)
            })
            .await;
    }

    /// A `Provider.refresh` message: a full refresh.
    async fn handle_refresh(&mut self, probe: &Arc<WorkerProbe>, claimed: Claimed) {
        let message = claimed.message.clone();
        let timeout = Duration::from_secs(message.msg_timeout.max(1) as u64);
        probe.start_message(&message, timeout);
        let began = Instant::now();
        let started_on = crate::clock::now();
        let outcome = tokio::time::timeout(timeout, self.refresh_once()).await;
        let took = began.elapsed();
        probe.finish_message();
        match outcome {
            Ok(Ok(())) => {
                self.retry.reset();
                self.complete(&claimed, MessageState::Ok, String::new(), took)
                    .await;
            }
            Ok(Err(error)) => {
                self.failed_full(&claimed, MessageState::Error, error, started_on, took)
                    .await;
            }
            Err(_) => {
                let error = format!("refresh timed out after {}s", timeout.as_secs());
                self.stop_watches();
                self.set_status(false, &error, true).await;
                self.failed_full(&claimed, MessageState::Timeout, error, started_on, took)
                    .await;
            }
        }
    }

    /// A full refresh that did not finish: recorded, its message ended, a retry
    /// scheduled.
    async fn failed_full(
        &mut self,
        claimed: &Claimed,
        state: MessageState,
        error: String,
        started_on: chrono::NaiveDateTime,
        took: Duration,
    ) {
        let timings = Timings {
            total_s: took.as_secs_f64(),
            ..Default::default()
        };
        self.record("full", started_on, timings, Err(error.clone()))
            .await;
        self.complete(claimed, state, error, took).await;
        self.schedule_retry().await;
    }

    async fn schedule_retry(&mut self) {
        let Some(p) = &self.provider else {
            return;
        };
        let delay = self.retry.next_delay();
        let zone = zone_of(&self.kit, p).await;
        match queue_refresh(
            &self.kit.parts.queue,
            p.id,
            &zone,
            self.kit.settings.timeout,
            Some(delay),
        )
        .await
        {
            Ok(_) => {
                tracing::info!(provider = %p.name, retry_in_s = delay.as_secs_f64(), "refresh will be retried")
            }
            Err(error) => {
                tracing::warn!(%error, provider = %p.name, "cannot queue the refresh retry")
            }
        }
    }

    /// Loads the provider, connects, refreshes everything and restarts the watches.
    async fn refresh_once(&mut self) -> Result<(), String> {
        let id = self.kit.provider_id;
        let (provider, _) = self
            .kit
            .parts
            .db
            .run(move |c| find_provider(c, id))
            .await
            .map_err(|e| format!("cannot load provider {id}: {e}"))?;
        self.provider = Some(provider.clone());
        let client = match connection_for(&provider, &self.kit.keys, &self.kit.settings)
            .and_then(|c| KubeClient::new(&c).map_err(|e| e.to_string()))
        {
            Ok(client) => client,
            Err(error) => {
                self.set_status(false, &error, true).await;
                return Err(error);
            }
        };
        self.stop_watches();
        let openshift = provider.provider_type == "openshift";
        let options = self.options(&provider);
        let started_on = crate::clock::now();
        match full_refresh(
            &client,
            &self.kit.parts.db,
            options,
            openshift,
            self.kit.settings.page_size,
        )
        .await
        {
            Ok(done) => {
                let t = done.timings;
                tracing::info!(
                    provider = %provider.name,
                    provider_id = provider.id,
                    objects = done.report.objects,
                    added = done.report.added,
                    updated = done.report.updated,
                    deleted = done.report.deleted,
                    collect_inventory_s = t.collect_s,
                    parse_inventory_s = t.parse_s,
                    save_inventory_s = t.save_s,
                    ems_refresh_s = t.total_s,
                    "refreshing targets for provider...complete"
                );
                let summary = format!(
                    "refreshed {} objects in {:.2}s",
                    done.report.objects, t.total_s
                );
                self.set_status(true, &summary, true).await;
                self.record("full", started_on, t, Ok(done.report.clone()))
                    .await;
                if self.kit.settings.watch {
                    self.start_watches(client, done.versions);
                }
                Ok(())
            }
            Err(error) => {
                let text = error.to_string();
                if let RefreshError::Kube(e) = &error {
                    tracing::warn!(provider = %provider.name, error = %e, "refresh failed");
                } else {
                    tracing::error!(provider = %provider.name, error = %text, "refresh failed");
                }
                self.set_status(false, &text, true).await;
                Err(text)
            }
        }
    }

    fn start_watches(&mut self, client: KubeClient, versions: HashMap<Kind, String>) {
        let (tx, rx) = mpsc::channel(10_000);
        let idle = Duration::from_secs(crate::kube::WATCH_TIMEOUT_S + 60);
        for kind in Kind::ALL {
            let version = versions.get(&kind).cloned().unwrap_or_default();
            self.watches.push(actix_rt::spawn(watch_kind(
                client.clone(),
                kind,
                version,
                tx.clone(),
                idle,
            )));
        }
        self.events = Some(rx);
    }

    /// Gathers changes for the batch window, then saves them as one targeted refresh.
    async fn handle_watch_batch(&mut self, first: WatchMsg) {
        let window_started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.kit.settings.watch_batch_window;
        let mut changes: HashMap<(Kind, String), Option<Change>> = HashMap::new();
        let mut full_needed = false;
        let mut messages = vec![first];
        loop {
            for msg in messages.drain(..) {
                match msg {
                    WatchMsg::Applied(c) => {
                        changes.insert((c.kind(), c.meta().uid.clone()), Some(c));
                    }
                    WatchMsg::Deleted(c) => {
                        changes.insert((c.kind(), c.meta().uid.clone()), None);
                    }
                    WatchMsg::Gone(kind) => {
                        tracing::info!(
                            kind = kind.name(),
                            "watch history expired (410); a full refresh follows"
                        );
                        full_needed = true;
                    }
                    WatchMsg::Failed(kind, error) => {
                        let text = format!("watch of {} failed: {error}", kind.name());
                        if self.failing_watches.insert(kind, text.clone()).is_none() {
                            tracing::warn!(error = %text, "watch failed; retrying");
                            self.set_status(false, &text, false).await;
                        }
                    }
                    WatchMsg::Recovered(kind) => {
                        self.failing_watches.remove(&kind);
                        tracing::info!(kind = kind.name(), "watch running again");
                        if self.failing_watches.is_empty() {
                            self.set_status(true, "watches running again", false).await;
                        }
                    }
                }
            }
            if changes.len() >= MAX_BATCH {
                break;
            }
            let Some(rx) = self.events.as_mut() else {
                break;
            };
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => messages.push(msg),
                _ => break,
            }
        }
        if !changes.is_empty() {
            self.save_changes(changes, window_started.elapsed()).await;
        }
        if full_needed {
            self.stop_watches();
            if let Some(p) = &self.provider {
                let zone = zone_of(&self.kit, p).await;
                if let Err(error) = queue_refresh(
                    &self.kit.parts.queue,
                    p.id,
                    &zone,
                    self.kit.settings.timeout,
                    None,
                )
                .await
                {
                    tracing::warn!(%error, "cannot queue the full refresh");
                }
            }
        }
    }

    async fn save_changes(
        &self,
        changes: HashMap<(Kind, String), Option<Change>>,
        waited: Duration,
    ) {
        let Some(provider) = &self.provider else {
            return;
        };
        let started_on = crate::clock::now();
        let began = Instant::now();
        let mut collected = Collected::default();
        let mut deleted = Deleted::default();
        for ((kind, uid), change) in changes {
            match change {
                Some(Change::Namespace(o)) => collected.namespaces.push(o),
                Some(Change::Node(o)) => collected.nodes.push(o),
                Some(Change::Pod(o)) => collected.pods.push(o),
                Some(Change::Service(o)) => collected.services.push(o),
                Some(Change::ReplicationController(o)) => collected.replication_controllers.push(o),
                Some(Change::ReplicaSet(o)) => collected.replica_sets.push(o),
                Some(Change::Deployment(o)) => collected.deployments.push(o),
                None => match kind {
                    Kind::Namespace => deleted.projects.push(uid),
                    Kind::Node => deleted.nodes.push(uid),
                    Kind::Pod => deleted.pods.push(uid),
                    Kind::Service => deleted.services.push(uid),
                    Kind::ReplicationController | Kind::ReplicaSet | Kind::Deployment => {
                        deleted.replicators.push(uid)
                    }
                },
            }
        }
        let parsed = parse(&collected, self.options(provider));
        let parse_s = began.elapsed().as_secs_f64();
        let save_started = Instant::now();
        let id = provider.id;
        let now = crate::clock::now();
        let result = self
            .kit
            .parts
            .db
            .run(move |c| save(c, id, parsed, &Scope::Partial(deleted), now))
            .await;
        let timings = Timings {
            collect_s: waited.as_secs_f64(),
            parse_s,
            save_s: save_started.elapsed().as_secs_f64(),
            total_s: waited.as_secs_f64() + began.elapsed().as_secs_f64(),
        };
        match result {
            Ok(report) => {
                tracing::info!(
                    provider = %provider.name,
                    objects = report.objects,
                    added = report.added,
                    updated = report.updated,
                    deleted = report.deleted,
                    parse_inventory_s = timings.parse_s,
                    save_inventory_s = timings.save_s,
                    "targeted refresh from watches...complete"
                );
                self.record("targeted", started_on, timings, Ok(report))
                    .await;
            }
            Err(error) => {
                // The changes are not lost for good: a full refresh brings the
                // inventory back in line with the cluster.
                tracing::warn!(%error, provider = %provider.name, "saving watched changes failed; a full refresh follows");
                self.record("targeted", started_on, timings, Err(error.to_string()))
                    .await;
                let zone = zone_of(&self.kit, provider).await;
                if let Err(error) = queue_refresh(
                    &self.kit.parts.queue,
                    provider.id,
                    &zone,
                    self.kit.settings.timeout,
                    None,
                )
                .await
                {
                    tracing::warn!(%error, "cannot queue the full refresh");
                }
            }
        }
    }
}

async fn zone_of(kit: &RefreshKit, p: &Provider) -> String {
    let id = p.id;
    kit.parts
        .db
        .run(move |c| find_provider(c, id).map(|(_, zone)| zone))
        .await
        .unwrap_or_else(|_| kit.parts.me.zone.clone())
}
