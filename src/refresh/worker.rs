//! The refresh worker of one provider: a supervised worker whose body serves two
//! sources at once —
//!
//! - its mailbox: `Provider.refresh` messages (deduplicated on the queue, so at most
//!   one runs and one waits) → a full refresh: a fresh set of watches lists every kind,
//!   the listing is saved, and the new watches replace the old ones; on failure the
//!   provider's status says why, a retry is queued after a backoff (5 s doubling to
//!   5 min by default), and the running watches are left alone;
//! - its watches: changes gathered for `ems_refresh.watch_batch_window`, then saved
//!   together as a targeted refresh.
//!
//! Never "ok" while stale: the status says `ok` only after a complete listing was
//! saved. A watch that fails (an outage, a restarted API server whose resourceVersions
//! went backwards, credentials refused) or relists on its own (its history expired)
//! turns the status to `error` or `stale` and queues a full refresh; only that
//! refresh's success says `ok` again.
//!
//! The [`kube::Client`] is built once per provider configuration and kept across
//! refreshes, so credentials with an expiry (exec plugins, OIDC) are renewed by the
//! client when they expire, and a rotated `tokenFile` is re-read by it.
//!
//! Every refresh is recorded with its timings, and logged like the seed's
//! `Refreshing targets for EMS...Complete - Timings {…}` line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::full::{RefreshError, WatchSet, full_refresh};
use super::kinds::{Change, Kind, WatchMsg};
use super::targets::{REFRESH_TARGETS_METHOD, TargetsArgs};
use crate::backoff::Backoff;
use crate::crypto::KeyRing;
use crate::inventory::{Collected, Deleted, ParseOptions, Scope, parse, save};
use crate::node::WorkerParts;
use crate::providers::{
    Provider, Timings, access_for, find_provider, queue_refresh, record_refresh,
    set_provider_stale, set_provider_status,
};
use crate::queue::{Claimed, Completion, MessageState};
use crate::settings::{ProviderSettings, RefreshSettings};
use crate::workers::{WorkerBody, WorkerExit, WorkerFactory, WorkerProbe};

/// Builds refresh workers for one provider.
#[derive(Clone)]
pub struct RefreshKit {
    pub provider_id: i64,
    pub mailbox: async_channel::Receiver<Claimed>,
    pub parts: WorkerParts,
    pub keys: KeyRing,
    pub settings: RefreshSettings,
    /// What a provider's kubeconfig may make the node do.
    pub policy: ProviderSettings,
}

impl WorkerFactory for RefreshKit {
    fn body(&self) -> WorkerBody {
        let kit = self.clone();
        Box::new(move |probe| Box::pin(run(kit, probe)))
    }
}

/// Changes a watch batch holds at most before it is saved regardless of the window.
const MAX_BATCH: usize = 20_000;

/// Watches that stayed healthy this long reset the retry backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(120);

struct Session {
    kit: RefreshKit,
    provider: Option<Provider>,
    /// The client and the provider configuration it was built from.
    client: Option<(String, kube::Client, String)>,
    watches: Option<WatchSet>,
    failing_watches: HashMap<Kind, String>,
    /// Since when the current watches have run without a failure.
    healthy_since: Option<Instant>,
    /// The options of the last full refresh whose rows have been kept current since
    /// (by healthy watches): a full refresh with the same options may then skip the
    /// objects whose rows hold their resourceVersion. Cleared by anything that may have
    /// left rows behind the cluster (a watch failure, a relist, a failed save), so the
    /// first refresh of a worker and every recovery parse everything.
    rows_current: Option<ParseOptions>,
    retry: Backoff,
}

async fn run(kit: RefreshKit, probe: Arc<WorkerProbe>) -> WorkerExit {
    let retry = Backoff::new(kit.settings.retry_backoff, kit.settings.retry_backoff_max);
    let mut s = Session {
        kit,
        provider: None,
        client: None,
        watches: None,
        failing_watches: HashMap::new(),
        healthy_since: None,
        rows_current: None,
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
                        if claimed.message.method_name == REFRESH_TARGETS_METHOD {
                            s.handle_targets(&probe, claimed).await;
                        } else {
                            s.handle_refresh(&probe, claimed).await;
                        }
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
            first = next_event(&mut s.watches) => match first {
                Some(first) => s.handle_watch_batch(vec![first]).await,
                None => s.watches = None,
            },
        }
    };
    s.stop_watches();
    exit
}

async fn next_event(watches: &mut Option<WatchSet>) -> Option<WatchMsg> {
    match watches {
        Some(set) => set.rx.recv().await,
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
        self.watches = None;
        self.failing_watches.clear();
        self.healthy_since = None;
    }

    async fn set_stale(&self, message: &str) {
        let (id, message) = (self.kit.provider_id, message.to_string());
        if let Err(error) = self
            .kit
            .parts
            .db
            .run(move |c| set_provider_stale(c, id, &message))
            .await
        {
            tracing::warn!(%error, provider_id = id, "cannot record the provider's status");
        }
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

    /// A `Provider.refresh_targets` message: the objects named are fetched again and
    /// saved like a watch batch (a full refresh is queued instead when more were asked
    /// for than a message holds). Before the first full refresh there is nothing to
    /// complete: that refresh will read them all.
    async fn handle_targets(&mut self, probe: &Arc<WorkerProbe>, claimed: Claimed) {
        let message = claimed.message.clone();
        let timeout = Duration::from_secs(message.msg_timeout.max(1) as u64);
        probe.start_message(&message, timeout);
        let began = Instant::now();
        let outcome = tokio::time::timeout(timeout, self.refresh_targets(&message.args)).await;
        probe.finish_message();
        let (state, error) = match outcome {
            Ok(Ok(())) => (MessageState::Ok, String::new()),
            Ok(Err(error)) => (MessageState::Error, error),
            Err(_) => (
                MessageState::Timeout,
                format!("targeted refresh timed out after {}s", timeout.as_secs()),
            ),
        };
        self.complete(&claimed, state, error, began.elapsed()).await;
    }

    async fn refresh_targets(&mut self, args: &str) -> Result<(), String> {
        let args: TargetsArgs =
            serde_json::from_str(args).map_err(|e| format!("bad targets: {e}"))?;
        if args.overflow {
            self.queue_full(None).await;
            return Ok(());
        }
        let Some(provider) = self.provider.clone() else {
            return Ok(());
        };
        let (client, server) = self.client_for(&provider).await?;
        let fetched = super::targets::fetch(&client, &server, &args.targets)
            .await
            .map_err(|e| e.to_string())?;
        let n = fetched.len();
        if n > 0 {
            self.handle_watch_batch(fetched).await;
        }
        tracing::info!(provider = %provider.name, asked = args.targets.len(), fetched = n, "targeted refresh");
        Ok(())
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
                if !self.kit.settings.watch {
                    self.retry.reset();
                }
                self.complete(&claimed, MessageState::Ok, String::new(), took)
                    .await;
            }
            Ok(Err(error)) => {
                self.failed_full(&claimed, MessageState::Error, error, started_on, took)
                    .await;
            }
            Err(_) => {
                let error = format!("refresh timed out after {}s", timeout.as_secs());
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
        if self.provider.is_none() {
            return;
        }
        let delay = self.retry.next_delay();
        self.queue_full(Some(delay)).await;
    }

    /// Queues a full refresh of the provider (`delay`: not before).
    async fn queue_full(&self, delay: Option<Duration>) {
        let Some(p) = &self.provider else {
            return;
        };
        let zone = zone_of(&self.kit, p).await;
        match queue_refresh(
            &self.kit.parts.queue,
            p.id,
            &zone,
            self.kit.settings.timeout,
            delay,
        )
        .await
        {
            Ok(_) => {
                tracing::info!(provider = %p.name, in_s = delay.unwrap_or_default().as_secs_f64(), "full refresh queued")
            }
            Err(error) => {
                tracing::warn!(%error, provider = %p.name, "cannot queue the refresh retry")
            }
        }
    }

    /// The client for `provider`: the cached one while the provider's configuration
    /// is unchanged, else a new one.
    async fn client_for(&mut self, provider: &Provider) -> Result<(kube::Client, String), String> {
        let fingerprint = format!("{}|{}", provider.id, provider.updated_on);
        if let Some((built_from, client, server)) = &self.client
            && *built_from == fingerprint
        {
            return Ok((client.clone(), server.clone()));
        }
        let access = access_for(provider, &self.kit.keys, &self.kit.settings)?;
        let client = crate::kube::connect(&access, &self.kit.policy)
            .await
            .map_err(|e| e.to_string())?;
        let server = access.api_url.clone();
        self.client = Some((fingerprint, client.clone(), server.clone()));
        Ok((client, server))
    }

    /// Loads the provider, connects, lists everything with a fresh set of watches,
    /// saves it, and swaps the new watches in.
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
        let (client, server) = match self.client_for(&provider).await {
            Ok(c) => c,
            Err(error) => {
                self.set_status(false, &error, true).await;
                return Err(error);
            }
        };
        let openshift = provider.provider_type == "openshift";
        let options = self.options(&provider);
        let started_on = crate::clock::now();
        let skip_unchanged = self.rows_current == Some(options);
        self.rows_current = None;
        match full_refresh(
            &client,
            &server,
            &self.kit.parts.db,
            options,
            openshift,
            self.kit.settings.page_size,
            skip_unchanged,
        )
        .await
        {
            Ok(done) => {
                self.rows_current = Some(options);
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
                let mut summary = format!(
                    "refreshed {} objects in {:.2}s",
                    done.report.objects, t.total_s
                );
                if !provider.verify_tls || kubeconfig_skips_tls(&provider, &self.kit.keys) {
                    summary.push_str(
                        "; TLS verification is OFF for this provider (its server is not authenticated)",
                    );
                }
                self.set_status(true, &summary, true).await;
                self.record("full", started_on, t, Ok(done.report.clone()))
                    .await;
                // The new watches replace the old ones only now: a failed refresh
                // leaves the running watches alone.
                self.stop_watches();
                if self.kit.settings.watch {
                    self.watches = Some(done.watches);
                    self.healthy_since = Some(Instant::now());
                    if !done.pending.is_empty() {
                        self.handle_watch_batch(done.pending).await;
                    }
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

    /// Gathers changes for the batch window, then saves them as one targeted refresh.
    async fn handle_watch_batch(&mut self, mut messages: Vec<WatchMsg>) {
        let window_started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.kit.settings.watch_batch_window;
        let mut changes: HashMap<(Kind, String), Option<Change>> = HashMap::new();
        let mut full_needed: Option<Duration> = None;
        loop {
            for msg in messages.drain(..) {
                match msg {
                    WatchMsg::Applied(c) => {
                        changes.insert((c.kind(), c.uid().to_string()), Some(c));
                    }
                    WatchMsg::Deleted(c) => {
                        changes.insert((c.kind(), c.uid().to_string()), None);
                    }
                    // A relist's objects: only its end matters here.
                    WatchMsg::ListedPage(..) => {}
                    WatchMsg::Listed(kind) => {
                        self.rows_current = None;
                        // The watcher relisted by itself (its history was gone): what
                        // vanished meanwhile is known only to a full listing.
                        tracing::info!(
                            kind = kind.name(),
                            "watch relisted (history expired); a full refresh follows"
                        );
                        if self.failing_watches.is_empty() {
                            self.set_stale(&format!(
                                "the watch of {} lost its history; relisting",
                                kind.name()
                            ))
                            .await;
                        }
                        full_needed = Some(full_needed.unwrap_or_default());
                    }
                    WatchMsg::Failed(kind, error) => {
                        self.rows_current = None;
                        let text = format!("watch of {} failed: {error}", kind.name());
                        if self.failing_watches.insert(kind, text.clone()).is_none() {
                            tracing::warn!(error = %text, "watch failed; a full refresh follows");
                            self.set_status(false, &text, false).await;
                            if self
                                .healthy_since
                                .is_some_and(|since| since.elapsed() >= HEALTHY_AFTER)
                            {
                                self.retry.reset();
                            }
                            self.healthy_since = None;
                            let delay = self.retry.next_delay();
                            full_needed = Some(full_needed.map_or(delay, |d| d.min(delay)));
                        }
                    }
                }
            }
            if changes.len() >= MAX_BATCH {
                break;
            }
            let Some(rx) = self.watches.as_mut().map(|w| &mut w.rx) else {
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
        if let Some(delay) = full_needed {
            // The watches keep running (and retrying) until the full refresh's own
            // watches replace them.
            self.queue_full((!delay.is_zero()).then_some(delay)).await;
        }
    }

    async fn save_changes(
        &mut self,
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
                Some(Change::Pod(o)) => match o.typed() {
                    Ok(pod) => collected.pods.push(pod),
                    // Where, not what: the server's text is not repeated.
                    Err(e) => tracing::warn!(
                        provider = provider.id,
                        uid = %uid,
                        line = e.line(),
                        column = e.column(),
                        "a watched pod is not a valid Pod object; skipped until the next full refresh"
                    ),
                },
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
        self.kit.parts.db.signal_inventory();
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
                self.rows_current = None;
                self.record("targeted", started_on, timings, Err(error.to_string()))
                    .await;
                self.set_stale("saving watched changes failed; relisting")
                    .await;
                self.queue_full(None).await;
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

/// Whether the provider's kubeconfig itself turns TLS verification off.
fn kubeconfig_skips_tls(p: &Provider, keys: &KeyRing) -> bool {
    if p.auth_kind != "kubeconfig" {
        return false;
    }
    let Ok(Some(content)) = p.open(crate::providers::Sealed::Cluster, keys) else {
        return false;
    };
    // Only the cluster's flag is read here; the policy was checked when connecting.
    kube::config::Kubeconfig::from_yaml(content.expose())
        .ok()
        .and_then(|k| {
            let context = (!p.kubeconfig_context.is_empty())
                .then(|| p.kubeconfig_context.clone())
                .or(k.current_context.clone())?;
            let cluster = k
                .contexts
                .iter()
                .find(|c| c.name == context)?
                .context
                .as_ref()?
                .cluster
                .clone();
            k.clusters
                .iter()
                .find(|c| c.name == cluster)?
                .cluster
                .as_ref()?
                .insecure_skip_tls_verify
        })
        .unwrap_or(false)
}
