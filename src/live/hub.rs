//! The hub of a node's live feed: what happens is published once, numbered, kept for a
//! while for clients that reconnect, and handed to every subscriber of its topic
//! through that subscriber's own bounded buffer. A subscriber whose buffer is full is
//! cut off (its socket task tells the client why and closes); nobody else waits for it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::api_query::sql::Visibility;
use crate::auth::Feature;

/// The events held for reconnecting clients take this much at most (as sent): a
/// burst of large events (the `events` topic's rows) holds fewer of them, not more
/// memory.
pub const REPLAY_BYTES: usize = 16 * 1024 * 1024;

/// What a client can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// The region's queue counts by zone, role and state, every `websocket.queue_interval`.
    Queue,
    /// Servers whose status, roles or supervised components changed.
    Servers,
    /// Provider refreshes as they finish: kind, outcome, timings, object counts.
    Refreshes,
    /// Inventory objects created, updated and deleted by refreshes, per save step and
    /// collection, each subscriber seeing only the objects it may read.
    Inventory,
    /// Tasks (the queue's messages, as `GET /api/tasks` shows them) put, started and
    /// finished since the subscription.
    Tasks,
    /// Events (`event_streams` rows) as they are stored, each subscriber seeing only
    /// those it may read.
    Events,
    /// Alerts as they are raised, updated, acknowledged, assigned and resolved.
    Alerts,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 7] = [
        Topic::Queue,
        Topic::Servers,
        Topic::Refreshes,
        Topic::Inventory,
        Topic::Tasks,
        Topic::Events,
        Topic::Alerts,
    ];

    /// The feature a user needs to receive the topic.
    pub fn feature(self) -> Feature {
        match self {
            Topic::Queue | Topic::Servers | Topic::Tasks => Feature::OpsView,
            Topic::Refreshes | Topic::Inventory | Topic::Events | Topic::Alerts => {
                Feature::InventoryView
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Topic::Queue => "queue",
            Topic::Servers => "servers",
            Topic::Refreshes => "refreshes",
            Topic::Inventory => "inventory",
            Topic::Tasks => "tasks",
            Topic::Events => "events",
            Topic::Alerts => "alerts",
        }
    }
}

/// Whom an event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The region: every subscriber of the topic.
    Region,
    /// One provider: its subscribers who may see that provider.
    Provider(i64),
    /// The subscribers of one audience (see [`Hub::audiences`]): those who share an
    /// RBAC restriction, or every unrestricted one ([`Audience::ALL_ID`]).
    Audience(u64),
}

/// The providers a subscriber may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    All,
    Providers(HashSet<i64>),
}

impl Visible {
    fn allows(&self, scope: Scope) -> bool {
        match (self, scope) {
            (_, Scope::Audience(_)) => false,
            (Visible::All, _) | (_, Scope::Region) => true,
            (Visible::Providers(ids), Scope::Provider(id)) => ids.contains(&id),
        }
    }
}

/// Whose inventory objects a subscriber may receive: all of them, or those its RBAC
/// restriction (tenant, providers, projects, tags) lets it read.
#[derive(Debug, Clone, Default)]
pub enum Audience {
    #[default]
    All,
    Restricted(Arc<Visibility>),
}

impl Audience {
    /// The audience id of unrestricted subscribers.
    pub const ALL_ID: u64 = 0;

    /// The same restriction gives the same key: subscribers sharing one share the
    /// queries that decide what they see.
    fn key(&self) -> Option<String> {
        match self {
            Audience::All => None,
            Audience::Restricted(v) => Some(format!("{v:?}")),
        }
    }
}

/// What a subscriber may see: providers (the `refreshes` topic) and its audience
/// (the `inventory` topic).
#[derive(Debug, Clone)]
pub struct Reach {
    pub visible: Visible,
    pub audience: Audience,
}

impl From<Visible> for Reach {
    fn from(visible: Visible) -> Self {
        Reach {
            visible,
            audience: Audience::All,
        }
    }
}

/// One published message, as sent to clients.
#[derive(Debug, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The hub's incarnation: sequence numbers of another epoch mean nothing here.
    pub epoch: u64,
    /// 1, 2, 3… within the epoch, across topics.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub topic: Topic,
    pub data: serde_json::Value,
    #[serde(skip)]
    pub scope: Scope,
    /// The inventory collection the event is about (for subscribers' collection
    /// filters).
    #[serde(skip)]
    pub collection: Option<&'static str>,
    /// This event as sent: serialised once, shared by every client (a clone is a
    /// reference count).
    #[serde(skip)]
    pub text: super::transport::Utf8Bytes,
}

/// Where a reconnecting client stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

/// A client's place in the hub: what it missed (when it said where it stopped), then
/// what comes.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    /// Events after the client's position still held, oldest first.
    pub backlog: Vec<Arc<Event>>,
    /// The client's position could not be honoured in full (another epoch, or events
    /// it missed are no longer held): it should reload what it shows.
    pub gap: bool,
    /// The last sequence number published when the subscription began.
    pub seq: u64,
    pub epoch: u64,
    pub rx: mpsc::Receiver<Arc<Event>>,
    /// Set when the hub cut the client off for falling behind.
    pub overflowed: Arc<AtomicBool>,
}

impl Subscription {
    /// What the subscriber may see from now on (its rights are checked again).
    pub fn set_visible(&self, reach: impl Into<Reach>) {
        let reach = reach.into();
        let mut inner = self.hub.lock();
        let audience = inner.audience_id(&reach.audience);
        if let Some(client) = inner.clients.get_mut(&self.id) {
            client.visible = reach.visible;
            client.audience = audience;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.lock().clients.remove(&self.id);
    }
}

struct Client {
    topics: HashSet<Topic>,
    visible: Visible,
    /// The client's audience id ([`Inner::audiences`]).
    audience: u64,
    /// Inventory collections wanted (None: all).
    collections: Option<HashSet<String>>,
    tx: mpsc::Sender<Arc<Event>>,
    overflowed: Arc<AtomicBool>,
}

impl Client {
    fn receives(&self, event: &Event) -> bool {
        if !self.topics.contains(&event.topic) {
            return false;
        }
        if let (Some(wanted), Some(collection)) = (&self.collections, event.collection)
            && !wanted.contains(collection)
        {
            return false;
        }
        match event.scope {
            Scope::Audience(id) => id == self.audience,
            scope => self.visible.allows(scope),
        }
    }
}

struct Inner {
    next_seq: u64,
    next_client: u64,
    recent: VecDeque<Arc<Event>>,
    /// The size of `recent` as sent.
    recent_bytes: usize,
    clients: HashMap<u64, Client>,
    /// Restrictions seen, by key: their audience id and the restriction itself.
    audiences: HashMap<String, (u64, Arc<Visibility>)>,
    next_audience: u64,
}

impl Inner {
    /// The id of `audience`, interned on first sight.
    fn audience_id(&mut self, audience: &Audience) -> u64 {
        let (Some(key), Audience::Restricted(v)) = (audience.key(), audience) else {
            return Audience::ALL_ID;
        };
        if let Some((id, _)) = self.audiences.get(&key) {
            return *id;
        }
        let id = self.next_audience;
        self.next_audience += 1;
        self.audiences.insert(key, (id, v.clone()));
        id
    }
}

/// A node's live feed.
pub struct Hub {
    epoch: u64,
    /// Events buffered per client before it is cut off.
    client_buffer: usize,
    /// Events kept for reconnecting clients.
    replay: usize,
    inner: Mutex<Inner>,
    /// Told of every subscription, so that the feeds take their baselines at once.
    subscribed: tokio::sync::Notify,
}

impl Hub {
    pub fn new(client_buffer: usize, replay: usize) -> Arc<Self> {
        // Microseconds since the epoch: distinct across restarts of a node.
        let epoch = Utc::now().timestamp_micros().unsigned_abs();
        Arc::new(Self {
            epoch,
            client_buffer: client_buffer.max(1),
            replay,
            inner: Mutex::new(Inner {
                next_seq: 1,
                next_client: 1,
                recent: VecDeque::new(),
                recent_bytes: 0,
                clients: HashMap::new(),
                audiences: HashMap::new(),
                next_audience: Audience::ALL_ID + 1,
            }),
            subscribed: tokio::sync::Notify::new(),
        })
    }

    /// Waits for the next subscription (one made since the last wait counts too).
    pub async fn subscription(&self) {
        self.subscribed.notified().await;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (every change is a
        // single insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This hub's incarnation (sequence numbers restart with it).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether anyone listens to `topic` (publishers skip the work otherwise).
    pub fn has_subscribers(&self, topic: Topic) -> bool {
        self.lock()
            .clients
            .values()
            .any(|c| c.topics.contains(&topic))
    }

    /// Clients connected.
    pub fn clients(&self) -> usize {
        self.lock().clients.len()
    }

    /// The audiences of the subscribers of `topic` now: each id with its restriction
    /// (None: unrestricted). Restrictions nobody holds any more are forgotten once no
    /// held event is addressed to them (a client that comes back with the same
    /// restriction resumes with the same id, so its replay is complete).
    pub fn audiences(&self, topic: Topic) -> Vec<(u64, Option<Arc<Visibility>>)> {
        let mut inner = self.lock();
        let mut held: HashSet<u64> = inner.clients.values().map(|c| c.audience).collect();
        held.extend(inner.recent.iter().filter_map(|e| match e.scope {
            Scope::Audience(id) => Some(id),
            _ => None,
        }));
        inner.audiences.retain(|_, (id, _)| held.contains(id));
        let listening: HashSet<u64> = inner
            .clients
            .values()
            .filter(|c| c.topics.contains(&topic))
            .map(|c| c.audience)
            .collect();
        let mut found: Vec<(u64, Option<Arc<Visibility>>)> = inner
            .audiences
            .values()
            .filter(|(id, _)| listening.contains(id))
            .map(|(id, v)| (*id, Some(v.clone())))
            .collect();
        if listening.contains(&Audience::ALL_ID) {
            found.push((Audience::ALL_ID, None));
        }
        found.sort_by_key(|(id, _)| *id);
        found
    }

    /// Publishes `data` on `topic`; answers its sequence number. Subscribers whose
    /// buffers are full are cut off.
    pub fn publish(&self, topic: Topic, scope: Scope, data: serde_json::Value) -> u64 {
        self.publish_about(topic, scope, None, data)
    }

    /// Publishes `data` on `topic` about an inventory `collection` (subscribers who
    /// asked for other collections skip it).
    pub fn publish_about(
        &self,
        topic: Topic,
        scope: Scope,
        collection: Option<&'static str>,
        data: serde_json::Value,
    ) -> u64 {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let mut event = Event {
            kind: "event",
            epoch: self.epoch,
            seq,
            at: Utc::now(),
            topic,
            data,
            scope,
            collection,
            text: Default::default(),
        };
        event.text = serde_json::to_string(&event).unwrap_or_default().into();
        let event = Arc::new(event);
        if self.replay > 0 {
            inner.recent_bytes += event.text.len();
            inner.recent.push_back(event.clone());
            while inner.recent.len() > self.replay
                || (inner.recent_bytes > REPLAY_BYTES && inner.recent.len() > 1)
            {
                if let Some(old) = inner.recent.pop_front() {
                    inner.recent_bytes -= old.text.len();
                }
            }
        }
        let mut gone = Vec::new();
        for (id, client) in &inner.clients {
            if !client.receives(&event) {
                continue;
            }
            match client.tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    client.overflowed.store(true, Ordering::Release);
                    tracing::info!(
                        client_buffer = self.client_buffer,
                        "websocket client dropped: it fell behind"
                    );
                    gone.push(*id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        for id in gone {
            inner.clients.remove(&id);
        }
        seq
    }

    /// Subscribes to `topics` (inventory events of `collections` only, when given);
    /// with `since`, first the held events after it.
    pub fn subscribe(
        self: &Arc<Self>,
        topics: HashSet<Topic>,
        reach: impl Into<Reach>,
        collections: Option<HashSet<String>>,
        since: Option<Position>,
    ) -> Subscription {
        let reach = reach.into();
        let (tx, rx) = mpsc::channel(self.client_buffer);
        let overflowed = Arc::new(AtomicBool::new(false));
        let mut inner = self.lock();
        let client = Client {
            topics,
            visible: reach.visible,
            audience: inner.audience_id(&reach.audience),
            collections,
            tx,
            overflowed: overflowed.clone(),
        };
        let last = inner.next_seq - 1;
        let (backlog, gap) = match since {
            None => (Vec::new(), false),
            Some(p) if p.epoch != self.epoch || p.seq > last => (Vec::new(), true),
            Some(p) => {
                let oldest = inner.recent.front().map_or(last + 1, |e| e.seq);
                let backlog = inner
                    .recent
                    .iter()
                    .filter(|e| e.seq > p.seq && client.receives(e))
                    .cloned()
                    .collect();
                (backlog, p.seq + 1 < oldest)
            }
        };
        let id = inner.next_client;
        inner.next_client += 1;
        inner.clients.insert(id, client);
        drop(inner);
        self.subscribed.notify_one();
        Subscription {
            hub: self.clone(),
            id,
            backlog,
            gap,
            seq: last,
            epoch: self.epoch,
            rx,
            overflowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn queue() -> HashSet<Topic> {
        HashSet::from([Topic::Queue])
    }

    #[test]
    fn events_are_numbered_and_reach_subscribers_of_their_topic() {
        let hub = Hub::new(8, 16);
        assert!(!hub.has_subscribers(Topic::Queue));
        assert_eq!(
            hub.publish(Topic::Queue, Scope::Region, json!(1)),
            1,
            "no subscriber: still numbered"
        );
        let mut sub = hub.subscribe(queue(), Visible::All, None, None);
        let mut none = hub.subscribe(HashSet::new(), Visible::All, None, None);
        assert!(hub.has_subscribers(Topic::Queue));
        assert_eq!(sub.seq, 1);
        assert_eq!(hub.publish(Topic::Queue, Scope::Region, json!(2)), 2);
        let got = sub.rx.try_recv().expect("delivered");
        assert_eq!((got.seq, got.data.clone()), (2, json!(2)));
        assert!(none.rx.try_recv().is_err(), "not subscribed to the topic");
        drop(sub);
        drop(none);
        assert_eq!(hub.clients(), 0, "a dropped subscription leaves the hub");
    }

    #[test]
    fn provider_events_reach_only_those_who_may_see_the_provider() {
        let hub = Hub::new(8, 16);
        let refreshes = || HashSet::from([Topic::Refreshes]);
        let mut all = hub.subscribe(refreshes(), Visible::All, None, None);
        let mut one = hub.subscribe(
            refreshes(),
            Visible::Providers(HashSet::from([1])),
            None,
            None,
        );
        hub.publish(Topic::Refreshes, Scope::Provider(2), json!("p2"));
        hub.publish(Topic::Refreshes, Scope::Provider(1), json!("p1"));
        assert_eq!(
            all.rx.try_recv().map(|e| e.data.clone()).ok(),
            Some(json!("p2"))
        );
        assert_eq!(
            all.rx.try_recv().map(|e| e.data.clone()).ok(),
            Some(json!("p1"))
        );
        assert_eq!(
            one.rx.try_recv().map(|e| e.data.clone()).ok(),
            Some(json!("p1"))
        );
        assert!(one.rx.try_recv().is_err(), "provider 2 is not visible");
        // Rights checked again: provider 2 now visible, 1 no longer.
        one.set_visible(Visible::Providers(HashSet::from([2])));
        hub.publish(Topic::Refreshes, Scope::Provider(1), json!("p1 again"));
        assert!(one.rx.try_recv().is_err());
        // A reconnecting client's backlog is filtered the same way.
        let position = Some(Position {
            epoch: hub.epoch,
            seq: 0,
        });
        let back = hub.subscribe(
            refreshes(),
            Visible::Providers(HashSet::from([2])),
            None,
            position,
        );
        let data: Vec<_> = back.backlog.iter().map(|e| e.data.clone()).collect();
        assert_eq!(data, vec![json!("p2")]);
    }

    #[test]
    fn inventory_events_reach_their_audience_and_wanted_collections_only() {
        let hub = Hub::new(8, 16);
        let inventory = || HashSet::from([Topic::Inventory]);
        let restricted = |project: &str| Reach {
            visible: Visible::Providers(HashSet::new()),
            audience: Audience::Restricted(Arc::new(Visibility {
                projects: Some(vec![project.to_string()]),
                ..Visibility::default()
            })),
        };
        let mut admin = hub.subscribe(inventory(), Visible::All, None, None);
        let mut web = hub.subscribe(inventory(), restricted("web"), None, None);
        let mut web_too = hub.subscribe(inventory(), restricted("web"), None, None);
        let pods = HashSet::from(["container_groups".to_string()]);
        let mut db_pods = hub.subscribe(inventory(), restricted("db"), Some(pods), None);
        let audiences = hub.audiences(Topic::Inventory);
        assert_eq!(
            audiences.len(),
            3,
            "one per distinct restriction: {audiences:?}"
        );
        assert!(audiences[0].0 == Audience::ALL_ID && audiences[0].1.is_none());
        let id_of = |project: &str| {
            audiences
                .iter()
                .find(|(_, v)| {
                    v.as_ref()
                        .is_some_and(|v| v.projects == Some(vec![project.to_string()]))
                })
                .map(|(id, _)| *id)
                .expect("audience")
        };
        let (web_id, db_id) = (id_of("web"), id_of("db"));
        hub.publish_about(
            Topic::Inventory,
            Scope::Audience(web_id),
            Some("container_groups"),
            json!("web pods"),
        );
        hub.publish_about(
            Topic::Inventory,
            Scope::Audience(db_id),
            Some("container_services"),
            json!("db services"),
        );
        hub.publish_about(
            Topic::Inventory,
            Scope::Audience(db_id),
            Some("container_groups"),
            json!("db pods"),
        );
        hub.publish_about(
            Topic::Inventory,
            Scope::Audience(Audience::ALL_ID),
            Some("container_groups"),
            json!("all pods"),
        );
        let got = |sub: &mut Subscription| {
            let mut seen = Vec::new();
            while let Ok(e) = sub.rx.try_recv() {
                seen.push(e.data.clone());
            }
            seen
        };
        assert_eq!(got(&mut admin), vec![json!("all pods")]);
        assert_eq!(got(&mut web), vec![json!("web pods")]);
        assert_eq!(got(&mut web_too), vec![json!("web pods")]);
        assert_eq!(got(&mut db_pods), vec![json!("db pods")], "pods only");
        // Provider-scoped events never reach anyone through an audience, and the
        // other way round.
        hub.publish(Topic::Inventory, Scope::Provider(1), json!("provider"));
        assert_eq!(got(&mut web), Vec::<serde_json::Value>::new());
        // A restriction nobody holds any more is forgotten once no held event is
        // addressed to it; until then a returning client gets its id back, and its
        // replay.
        drop(db_pods);
        assert_eq!(hub.audiences(Topic::Inventory).len(), 2);
        let since = Some(Position {
            epoch: hub.epoch,
            seq: 0,
        });
        let back = hub.subscribe(inventory(), restricted("db"), None, since);
        let replayed: Vec<_> = back.backlog.iter().map(|e| e.data.clone()).collect();
        assert_eq!(replayed, vec![json!("db services"), json!("db pods")]);
        drop(back);
        let quiet = Hub::new(8, 0);
        let gone = quiet.subscribe(inventory(), restricted("db"), None, None);
        quiet.publish_about(Topic::Inventory, Scope::Audience(1), None, json!(1));
        drop(gone);
        assert!(
            quiet.audiences(Topic::Inventory).is_empty(),
            "nothing held for it"
        );
        assert!(quiet.lock().audiences.is_empty());
        // Rights checked again: the web user is now unrestricted.
        web.set_visible(Visible::All);
        hub.publish_about(
            Topic::Inventory,
            Scope::Audience(web_id),
            None,
            json!("web again"),
        );
        assert_eq!(got(&mut web), Vec::<serde_json::Value>::new());
        assert_eq!(got(&mut web_too), vec![json!("web again")]);
    }

    #[test]
    fn a_slow_subscriber_is_cut_off_and_the_others_keep_receiving() {
        let hub = Hub::new(2, 0);
        let mut slow = hub.subscribe(queue(), Visible::All, None, None);
        let mut fast = hub.subscribe(queue(), Visible::All, None, None);
        for i in 0..5 {
            hub.publish(Topic::Queue, Scope::Region, json!(i));
            assert_eq!(fast.rx.try_recv().map(|e| e.seq).ok(), Some(i + 1));
        }
        assert!(slow.overflowed.load(Ordering::Acquire));
        assert_eq!(hub.clients(), 1);
        // The slow one drains what it had, then its channel ends.
        assert!(slow.rx.try_recv().is_ok());
        assert!(slow.rx.try_recv().is_ok());
        assert!(matches!(
            slow.rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(!fast.overflowed.load(Ordering::Acquire));
    }

    #[test]
    fn a_reconnecting_client_gets_what_it_missed_or_is_told_of_a_gap() {
        let hub = Hub::new(8, 3);
        for i in 1..=5 {
            hub.publish(Topic::Queue, Scope::Region, json!(i));
        }
        // Held: 3, 4, 5.
        let at = |seq| {
            Some(Position {
                epoch: hub.epoch,
                seq,
            })
        };
        let sub = hub.subscribe(queue(), Visible::All, None, at(3));
        let seqs: Vec<u64> = sub.backlog.iter().map(|e| e.seq).collect();
        assert_eq!((seqs, sub.gap), (vec![4, 5], false));
        let sub = hub.subscribe(queue(), Visible::All, None, at(2));
        assert_eq!(
            (sub.backlog.len(), sub.gap),
            (3, false),
            "3 is the oldest held"
        );
        let sub = hub.subscribe(queue(), Visible::All, None, at(1));
        assert_eq!((sub.backlog.len(), sub.gap), (3, true), "2 is lost");
        let sub = hub.subscribe(queue(), Visible::All, None, at(5));
        assert_eq!((sub.backlog.len(), sub.gap), (0, false), "up to date");
        let sub = hub.subscribe(queue(), Visible::All, None, at(9));
        assert!(sub.gap, "a position from the future");
        let other = Some(Position {
            epoch: hub.epoch + 1,
            seq: 4,
        });
        let sub = hub.subscribe(queue(), Visible::All, None, other);
        assert!(sub.gap && sub.backlog.is_empty(), "another epoch");
    }

    #[test]
    fn the_replay_is_bounded_in_bytes_too() {
        let hub = Hub::new(8, 10_000);
        let big = "x".repeat(1024 * 1024);
        for _ in 0..40 {
            hub.publish(Topic::Events, Scope::Region, json!(big));
        }
        let inner = hub.lock();
        assert!(inner.recent_bytes <= REPLAY_BYTES, "{}", inner.recent_bytes);
        assert!(inner.recent.len() >= 15 && inner.recent.len() < 40);
        let counted: usize = inner.recent.iter().map(|e| e.text.len()).sum();
        assert_eq!(counted, inner.recent_bytes);
    }
}
