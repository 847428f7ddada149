//! The event catcher of one provider (role `event`, on the server that holds it for
//! the provider's zone): a supervised worker that watches the cluster's Events and
//! queues what it sees, in batches, for the provider's event handler.
//!
//! Unlike ManageIQ's catcher it keeps its place: the resourceVersion after the last
//! event it queued is saved in `event_positions` once the batch is on the queue, and
//! a restarted catcher — here or on the server the role failed over to — resumes the
//! watch from it. Anything seen twice (a crash between the put and the save) is
//! recognised by the handler by the Event's uid and count. When the cluster no longer
//! holds that version (410 Gone), the catcher lists every Event it holds and queues
//! them all; the handler keeps only what it has not stored.
//!
//! Storms are folded here, at the source ([`StormGate`]), so a flood of identical
//! events costs one queued report per batch, not one message per event.

use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{WatchEvent, WatchParams};

use super::position::{Position, load_position, save_position};
use super::storm::StormGate;
use super::types::{Caught, MAX_FIELD, MAX_MESSAGE, bounded, container_of, event_type};
use super::{EventSettings, handler_message, shard_of};
use crate::backoff::Backoff;
use crate::crypto::KeyRing;
use crate::kube::error::from_kube;
use crate::node::WorkerParts;
use crate::providers::{access_for, find_provider};
use crate::queue::Claimed;
use crate::settings::{ProviderSettings, RefreshSettings};
use crate::workers::{WorkerBody, WorkerExit, WorkerFactory, WorkerProbe};

/// How long one watch request stays open before it is renewed.
const WATCH_TIMEOUT_S: u32 = 290;
/// Keys the storm gate tracks at most.
const MAX_STORM_KEYS: usize = 100_000;

/// Builds the event catcher of one provider.
#[derive(Clone)]
pub struct CatcherKit {
    pub provider_id: i64,
    /// Unused: the catcher is fed by its watch, not by the queue.
    pub mailbox: async_channel::Receiver<Claimed>,
    pub parts: WorkerParts,
    pub keys: KeyRing,
    pub refresh: RefreshSettings,
    pub policy: ProviderSettings,
    pub events: EventSettings,
    /// Largest args a queued batch may have (`queue.max_args_bytes`).
    pub max_args_bytes: usize,
    /// The provider's handler shards (see [`super::shard_of`]).
    pub shards: usize,
}

impl WorkerFactory for CatcherKit {
    fn body(&self) -> WorkerBody {
        let kit = self.clone();
        Box::new(move |probe| Box::pin(run(kit, probe)))
    }
}

async fn run(kit: CatcherKit, probe: std::sync::Arc<WorkerProbe>) -> WorkerExit {
    let mut retry = Backoff::new(kit.events.retry_backoff, kit.events.retry_backoff_max);
    let started = chrono::Utc::now().timestamp_millis();
    let mut counts = LastCounts::default();
    let mut gate = StormGate::new(
        kit.events.storm_threshold,
        kit.events.storm_window,
        MAX_STORM_KEYS,
        format!("{}-{started:x}", kit.provider_id),
    );
    loop {
        if let Some(reason) = probe.stop_reason() {
            return WorkerExit::Requested(reason);
        }
        let mut catcher = Catcher::new(&kit, &mut gate, &mut counts);
        match catcher.catch(&probe).await {
            Ok(()) => continue,
            Err(error) => {
                // A session that caught something was healthy for a while.
                if catcher.caught_any {
                    retry.reset();
                }
                let delay = retry.next_delay();
                tracing::warn!(provider_id = kit.provider_id, %error, retry_in_s = delay.as_secs_f64(), "event catcher failed");
                tokio::select! {
                    _ = probe.stop_requested() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// One catching session: from a connection to its first failure.
struct Catcher<'a> {
    kit: &'a CatcherKit,
    gate: &'a mut StormGate,
    counts: &'a mut LastCounts,
    batch: Vec<Caught>,
    batch_bytes: usize,
    position: Position,
    /// The position changed since it was last saved.
    dirty: bool,
    caught_any: bool,
    /// The gate's folded total already counted in the position.
    folded_seen: u64,
}

impl<'a> Catcher<'a> {
    fn new(kit: &'a CatcherKit, gate: &'a mut StormGate, counts: &'a mut LastCounts) -> Self {
        let folded_seen = gate.folded_total();
        Self {
            kit,
            gate,
            counts,
            batch: Vec::new(),
            batch_bytes: 0,
            position: Position::default(),
            dirty: false,
            caught_any: false,
            folded_seen,
        }
    }

    async fn catch(&mut self, probe: &WorkerProbe) -> Result<(), String> {
        let id = self.kit.provider_id;
        let db = &self.kit.parts.db;
        let (provider, _) = db
            .run(move |c| find_provider(c, id))
            .await
            .map_err(|e| format!("cannot load provider {id}: {e}"))?;
        let access = access_for(&provider, &self.kit.keys, &self.kit.refresh)?;
        let server = access.api_url.clone();
        let client = crate::kube::connect(&access, &self.kit.policy)
            .await
            .map_err(|e| e.to_string())?;
        let api: Api<Event> = Api::all(client);
        self.position = db
            .run(move |c| load_position(c, id))
            .await
            .map_err(|e| format!("cannot read the event position: {e}"))?
            .unwrap_or_default();
        loop {
            if self.position.resource_version.is_empty() {
                self.relist(&api, &server).await?;
            }
            // Bookmarks are on by default: they keep the position fresh when nothing happens.
            let params = WatchParams::default().timeout(WATCH_TIMEOUT_S);
            let stream = match api.watch(&params, &self.position.resource_version).await {
                Ok(s) => s,
                Err(e) => {
                    let e = from_kube(&e, "watch", "events", &server);
                    if e.is_gone() {
                        self.forget_position();
                        continue;
                    }
                    return Err(e.to_string());
                }
            };
            let mut stream = std::pin::pin!(stream);
            let mut tick = tokio::time::interval(self.kit.events.batch_window);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = probe.stop_requested() => {
                        self.flush().await?;
                        return Ok(());
                    }
                    _ = tick.tick() => self.flush().await?,
                    item = stream.next() => match item {
                        None => {
                            self.flush().await?;
                            break;
                        }
                        Some(Ok(WatchEvent::Added(e) | WatchEvent::Modified(e))) => {
                            self.saw(e);
                            if self.batch_full() {
                                self.flush().await?;
                            }
                        }
                        Some(Ok(WatchEvent::Deleted(e))) => {
                            // An Event expiring (its TTL) is not news.
                            self.advance(e.metadata.resource_version.unwrap_or_default());
                        }
                        Some(Ok(WatchEvent::Bookmark(b))) => {
                            self.advance(b.metadata.resource_version);
                        }
                        Some(Ok(WatchEvent::Error(status))) if status.code == 410 => {
                            self.flush().await?;
                            self.forget_position();
                            break;
                        }
                        Some(Ok(WatchEvent::Error(status))) => {
                            self.flush().await?;
                            return Err(format!(
                                "the watch of events failed: HTTP {} {}",
                                status.code,
                                crate::text::elide(&status.reason, 64)
                            ));
                        }
                        Some(Err(e)) => {
                            self.flush().await?;
                            return Err(from_kube(&e, "watch", "events", &server).to_string());
                        }
                    }
                }
            }
        }
    }

    /// The watch's history is gone: the next round lists everything again.
    fn forget_position(&mut self) {
        self.position.resource_version.clear();
        self.position.relists += 1;
        tracing::info!(
            provider_id = self.kit.provider_id,
            "event history gone (410): listing the cluster's events again"
        );
    }

    /// Lists every Event the cluster holds and queues them (the handler keeps what it
    /// has not stored), then resumes from the list's version.
    async fn relist(&mut self, api: &Api<Event>, server: &str) -> Result<(), String> {
        let (events, version) =
            crate::kube::list::list_all(api, "events", server, self.kit.refresh.page_size)
                .await
                .map_err(|e| e.to_string())?;
        let n = events.len();
        for e in events {
            self.saw_listed(e);
            if self.batch_full() {
                self.flush().await?;
            }
        }
        self.advance(version);
        self.flush().await?;
        tracing::info!(
            provider_id = self.kit.provider_id,
            events = n,
            "listed the cluster's events"
        );
        Ok(())
    }

    fn advance(&mut self, version: String) {
        if !version.is_empty() && version != self.position.resource_version {
            self.position.resource_version = version;
            self.dirty = true;
        }
    }

    fn saw(&mut self, event: Event) {
        let version = event.metadata.resource_version.clone().unwrap_or_default();
        self.saw_listed(event);
        self.advance(version);
    }

    fn saw_listed(&mut self, event: Event) {
        self.position.events_caught += 1;
        self.dirty = true;
        self.caught_any = true;
        let caught = caught_from(event);
        let delta = self.counts.delta(&caught.uid, caught.count);
        if let Some(passed) = self.gate.admit(caught, delta, Instant::now()) {
            self.push(passed);
        }
    }

    fn push(&mut self, caught: Caught) {
        self.batch_bytes += caught.message.len() + 512;
        self.batch.push(caught);
    }

    fn batch_full(&self) -> bool {
        self.batch.len() >= self.kit.events.batch_max || self.batch_bytes >= self.byte_budget()
    }

    fn byte_budget(&self) -> usize {
        (self.kit.max_args_bytes / 2).max(8 * 1024)
    }

    /// Queues what was caught (and the storms' reports), then saves the position.
    async fn flush(&mut self) -> Result<(), String> {
        for report in self.gate.drain(Instant::now()) {
            self.push(report);
        }
        let folded = self.gate.folded_total();
        if folded > self.folded_seen {
            self.position.events_folded += (folded - self.folded_seen) as i64;
            self.folded_seen = folded;
            self.dirty = true;
        }
        if !self.batch.is_empty() {
            let events = std::mem::take(&mut self.batch);
            self.batch_bytes = 0;
            let messages = self.messages(events)?;
            self.kit
                .parts
                .queue
                .put_many(messages)
                .await
                .map_err(|e| format!("cannot queue events for the handler: {e}"))?;
        }
        if self.dirty {
            let (id, guid, position) = (
                self.kit.provider_id,
                self.kit.parts.me.server_guid.clone(),
                self.position.clone(),
            );
            self.kit
                .parts
                .db
                .run(move |c| save_position(c, id, &guid, &position))
                .await
                .map_err(|e| format!("cannot save the event position: {e}"))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The handler messages for `events`: per shard, in the order caught, each within
    /// the queue's args bound.
    fn messages(&self, events: Vec<Caught>) -> Result<Vec<crate::queue::NewMessage>, String> {
        let shards = self.kit.shards.max(1);
        let mut per_shard: Vec<Vec<Caught>> = (0..shards).map(|_| Vec::new()).collect();
        for e in events {
            per_shard[shard_of(&e.uid, shards)].push(e);
        }
        let budget = self.byte_budget();
        let mut out = Vec::new();
        for (shard, events) in per_shard.into_iter().enumerate() {
            let mut chunk: Vec<Caught> = Vec::new();
            let mut bytes = 0;
            for e in events {
                let size = serde_json::to_string(&e).map(|s| s.len()).unwrap_or(1024);
                if !chunk.is_empty() && bytes + size > budget {
                    out.push(self.message(shard, std::mem::take(&mut chunk))?);
                    bytes = 0;
                }
                bytes += size;
                chunk.push(e);
            }
            if !chunk.is_empty() {
                out.push(self.message(shard, chunk)?);
            }
        }
        Ok(out)
    }

    fn message(
        &self,
        shard: usize,
        events: Vec<Caught>,
    ) -> Result<crate::queue::NewMessage, String> {
        handler_message(
            self.kit.provider_id,
            shard,
            &self.kit.parts.me.zone,
            &events,
            self.kit.events.handler_timeout,
        )
        .map_err(|e| format!("cannot build the handler message: {e}"))
    }
}

/// The last count seen of each Event, so that a storm counts the occurrences between
/// two sightings of an Event whose count climbed by more than one. Bounded: when full
/// it starts again (an Event then counts from its full count, which the handler
/// corrects against what it stored).
#[derive(Default)]
struct LastCounts(std::collections::HashMap<String, i64>);

/// Events whose last count is remembered at most.
const MAX_COUNTS: usize = 200_000;

impl LastCounts {
    fn delta(&mut self, uid: &str, count: i64) -> i64 {
        if self.0.len() >= MAX_COUNTS && !self.0.contains_key(uid) {
            self.0.clear();
        }
        let last = self.0.insert(uid.to_string(), count).unwrap_or(0);
        (count - last).max(1)
    }
}

fn time_of(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}

fn micro_time_of(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}

/// What the handler needs of a Kubernetes Event, bounded.
pub fn caught_from(e: Event) -> Caught {
    let involved = e.involved_object;
    let kind = involved.kind.unwrap_or_default();
    let reason = e.reason.unwrap_or_default();
    let series = e.series.as_ref();
    let count = series
        .and_then(|s| s.count)
        .or(e.count)
        .map(i64::from)
        .unwrap_or(1)
        .max(1);
    let last = e
        .last_timestamp
        .as_ref()
        .and_then(time_of)
        .or_else(|| {
            series
                .and_then(|s| s.last_observed_time.as_ref())
                .and_then(micro_time_of)
        })
        .or_else(|| e.event_time.as_ref().and_then(micro_time_of))
        .or_else(|| e.first_timestamp.as_ref().and_then(time_of))
        .or_else(|| e.metadata.creation_timestamp.as_ref().and_then(time_of))
        .unwrap_or_else(chrono::Utc::now);
    let source = e.source.unwrap_or_default();
    let field = |s: Option<String>| bounded(&s.unwrap_or_default(), MAX_FIELD);
    let container = involved
        .field_path
        .as_deref()
        .and_then(container_of)
        .map(|c| bounded(c, MAX_FIELD))
        .unwrap_or_default();
    Caught {
        uid: field(e.metadata.uid),
        count,
        event_type: event_type(&kind, &reason),
        severity: field(e.type_),
        reason: bounded(&reason, MAX_FIELD),
        message: bounded(&e.message.unwrap_or_default(), MAX_MESSAGE),
        kind: bounded(&kind, MAX_FIELD),
        namespace: field(involved.namespace),
        name: field(involved.name),
        target_uid: field(involved.uid),
        container,
        component: field(source.component.or(e.reporting_component)),
        host: field(source.host.or(e.reporting_instance)),
        first: e.first_timestamp.as_ref().and_then(time_of),
        last,
        storm: None,
    }
}
