//! The simulated cluster's state: objects by resource, one resourceVersion counter,
//! the watch history (a bounded window, like etcd's), and the broadcast that feeds
//! live watches. Every change goes through [`Store::apply`] or [`Store::remove`], which
//! bump the version, record the event and wake the watchers.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use super::objects::{Object, Resource};
use super::selector::Filter;

/// One recorded change: the watch event line every unfiltered watch gets, and the
/// objects a filtered watch needs to decide what it sees.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub resource: Resource,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after the change (for `DELETED`, its last state).
    pub object: Object,
    /// For `MODIFIED`, the object before the change.
    pub prev: Option<Object>,
    /// `{"type":…,"object":…}\n`
    pub line: Bytes,
}

impl Change {
    /// What a watch with `filter` sees of this change, as kube-apiserver's cache
    /// watcher decides it: nothing when the object is outside the selection before
    /// and after; `ADDED` (the new state) when it moved in; `DELETED` (the old state,
    /// at this change's version) when it moved out; the event as recorded otherwise.
    pub fn line_for(&self, filter: &Filter) -> Option<Bytes> {
        if filter.is_everything() {
            return Some(self.line.clone());
        }
        let (kind, object) = self.event_for(filter)?;
        Some(if kind == self.kind {
            self.line.clone()
        } else {
            watch_line(kind, &*object)
        })
    }

    /// The event type and object a watch with `filter` sees (see [`Change::line_for`]).
    pub fn event_for(&self, filter: &Filter) -> Option<(&'static str, Cow<'_, Object>)> {
        let now = filter.is_everything() || filter.matches(&self.object);
        let before = self
            .prev
            .as_ref()
            .is_some_and(|p| filter.is_everything() || filter.matches(p));
        match (self.prev.as_ref(), now, before) {
            (None, true, _) | (Some(_), true, true) => {
                Some((self.kind, Cow::Borrowed(&self.object)))
            }
            (Some(_), true, false) => Some(("ADDED", Cow::Borrowed(&self.object))),
            (Some(prev), false, true) => {
                let mut gone = prev.clone();
                gone.metadata.resource_version = self.rv.to_string();
                Some(("DELETED", Cow::Owned(gone)))
            }
            _ => None,
        }
    }
}

/// Why a list or watch cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 410: the version or continue token is older than the history kept.
    Expired(String),
    /// 400: a malformed parameter.
    BadRequest(String),
    /// 504: a version the store has not reached (kube-apiserver's "Too large resource
    /// version", after it waited for its cache to catch up).
    TooLarge { requested: u64, current: u64 },
}

/// How a watch starts (`sendInitialEvents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialEvents {
    /// Not given: the current state as ADDED without a version, history after one.
    Legacy,
    /// `true`: the current state as ADDED, then the `initial-events-end` bookmark.
    Send,
    /// `false`: only changes after the version (after now without one).
    Skip,
}

/// How a watch event is written: `{"type":…,"object":…}` by default, or, for
/// `kubectl get -w`, with the object as a Table row.
pub type Render<'a> = &'a dyn Fn(&'static str, &Object) -> Bytes;

/// Where a watch starts: the events to replay, then the live feed.
pub struct WatchStart {
    pub replay: Vec<Bytes>,
    pub live: broadcast::Receiver<Arc<Change>>,
    pub last_rv: u64,
    /// Changes at or below this version are not sent (a watch from a version the
    /// store has not reached yet waits for it).
    pub floor: u64,
    /// Send the `k8s.io/initial-events-end` bookmark after the replay.
    pub initial_events_end: bool,
}

/// A page of a list, serialized.
pub struct Page<'a> {
    pub items: Vec<&'a Object>,
    pub resource_version: u64,
    pub continue_token: String,
    pub remaining: usize,
}

type Key = (String, String);

pub struct Store {
    objects: HashMap<Resource, BTreeMap<Key, Object>>,
    by_uid: HashMap<String, (Resource, Key)>,
    rv: u64,
    /// Watches from a version below this get 410 (history compacted or forgotten).
    compacted: u64,
    /// Continue tokens issued below this version get 410.
    lists_expired_before: u64,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    hidden: HashSet<String>,
    feed: broadcast::Sender<Arc<Change>>,
    /// Bumped whenever pods, nodes or deployments change (the metrics topology follows it).
    pub topology_generation: u64,
}

#[derive(Serialize)]
struct WatchLine<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a T,
}

/// One watch event as sent: `{"type":…,"object":…}` and a newline.
pub fn watch_line(kind: &str, object: &impl Serialize) -> Bytes {
    // Serializing our own objects and JSON values into a Vec cannot fail.
    let mut line = serde_json::to_vec(&WatchLine { kind, object }).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

impl Store {
    /// A store holding `objects`, all created before any watch can start.
    pub fn new(objects: Vec<(Resource, Object)>, history_limit: usize) -> Self {
        let (feed, _) = broadcast::channel(65_536);
        let mut store = Store {
            objects: HashMap::new(),
            by_uid: HashMap::new(),
            rv: 1000,
            compacted: 0,
            lists_expired_before: 0,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            hidden: HashSet::new(),
            feed,
            topology_generation: 0,
        };
        for (resource, mut object) in objects {
            store.rv += 1;
            object.metadata.resource_version = store.rv.to_string();
            store.put(resource, object);
        }
        store.compacted = store.rv;
        store
    }

    fn put(&mut self, resource: Resource, object: Object) {
        let key = (
            object.metadata.namespace.clone(),
            object.metadata.name.clone(),
        );
        self.by_uid
            .insert(object.metadata.uid.clone(), (resource, key.clone()));
        self.objects
            .entry(resource)
            .or_default()
            .insert(key, object);
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Adds or replaces an object; watchers see ADDED or MODIFIED.
    pub fn apply(&mut self, resource: Resource, mut object: Object) {
        self.rv += 1;
        object.metadata.resource_version = self.rv.to_string();
        let key = (
            object.metadata.namespace.clone(),
            object.metadata.name.clone(),
        );
        let prev = self.get(resource, &key.0, &key.1).cloned();
        let kind = if prev.is_some() { "MODIFIED" } else { "ADDED" };
        self.record(resource, kind, &object, prev);
        self.put(resource, object);
    }

    /// Changes an object in place; watchers see MODIFIED. False when it does not exist.
    pub fn modify(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Object),
    ) -> bool {
        let Some(mut object) = self.get(resource, namespace, name).cloned() else {
            return false;
        };
        change(&mut object);
        self.apply(resource, object);
        true
    }

    /// Deletes an object; watchers see DELETED with its last state.
    pub fn remove(&mut self, resource: Resource, namespace: &str, name: &str) -> Option<Object> {
        let key = (namespace.to_string(), name.to_string());
        let mut object = self.objects.get_mut(&resource)?.remove(&key)?;
        self.by_uid.remove(&object.metadata.uid);
        self.hidden.remove(&object.metadata.uid);
        self.rv += 1;
        object.metadata.resource_version = self.rv.to_string();
        self.record(resource, "DELETED", &object, None);
        Some(object)
    }

    fn record(
        &mut self,
        resource: Resource,
        kind: &'static str,
        object: &Object,
        prev: Option<Object>,
    ) {
        if matches!(
            resource,
            Resource::Pod | Resource::Node | Resource::Deployment
        ) {
            self.topology_generation += 1;
        }
        let change = Arc::new(Change {
            rv: self.rv,
            resource,
            namespace: object.metadata.namespace.clone(),
            kind,
            object: object.clone(),
            prev,
            line: watch_line(kind, object),
        });
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.feed.send(change);
    }

    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<&Object> {
        self.objects
            .get(&resource)?
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// A visible object (hidden ones are not served).
    pub fn get_visible(&self, resource: Resource, namespace: &str, name: &str) -> Option<&Object> {
        self.get(resource, namespace, name)
            .filter(|o| !self.hidden.contains(&o.metadata.uid))
    }

    /// All objects of a resource, hidden ones included, in (namespace, name) order.
    pub fn all(&self, resource: Resource) -> impl Iterator<Item = &Object> {
        self.objects
            .get(&resource)
            .into_iter()
            .flat_map(|m| m.values())
    }

    pub fn count(&self, resource: Resource) -> usize {
        self.objects.get(&resource).map_or(0, BTreeMap::len)
    }

    /// The `n`-th object of a resource (for picking at random).
    pub fn nth(&self, resource: Resource, n: usize) -> Option<&Object> {
        self.objects.get(&resource)?.values().nth(n)
    }

    pub fn find_uid(&self, uid: &str) -> Option<(Resource, &Object)> {
        let (resource, key) = self.by_uid.get(uid)?;
        Some((*resource, self.objects.get(resource)?.get(key)?))
    }

    /// Hides an object from lists and gets without a watch event (a missed deletion).
    pub fn hide(&mut self, uid: &str) -> bool {
        self.by_uid.contains_key(uid) && self.hidden.insert(uid.to_string())
    }

    pub fn unhide(&mut self, uid: &str) -> bool {
        self.hidden.remove(uid)
    }

    pub fn hidden_count(&self) -> usize {
        self.hidden.len()
    }

    /// Forgets the watch history: every version handed out so far is too old to
    /// resume a watch from, and outstanding continue tokens expire.
    pub fn expire(&mut self) {
        self.rv += 1;
        self.history.clear();
        self.compacted = self.rv;
        self.lists_expired_before = self.rv;
    }

    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    pub fn watchers(&self) -> usize {
        self.feed.receiver_count()
    }

    /// One page of the objects `filter` keeps, from the continue token's position.
    pub fn list(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        filter: &Filter,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<Page<'_>, Refusal> {
        let (list_rv, after, served) = match continue_token.filter(|t| !t.is_empty()) {
            Some(token) => {
                let (rv, key, served) = decode_continue(token)?;
                if rv < self.lists_expired_before {
                    return Err(Refusal::Expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                    ));
                }
                (rv, Some(key), served)
            }
            None => (self.rv, None, 0),
        };
        let Some(map) = self.objects.get(&resource) else {
            return Ok(Page {
                items: Vec::new(),
                resource_version: list_rv,
                continue_token: String::new(),
                remaining: 0,
            });
        };
        let start = match (&after, namespace) {
            (Some(key), _) => std::ops::Bound::Excluded(key.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        // A cluster-wide list of everything estimates the rest from the collection's size
        // and what earlier pages served (as remainingItemCount is documented: an
        // estimate), so a page costs its own length, not the rest of the collection;
        // a filtered list only needs to know that one more object follows.
        let estimated = namespace.is_none() && filter.is_everything();
        let mut items = Vec::new();
        let mut remaining = 0;
        let mut last: Option<&Key> = None;
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        for (key, object) in map.range((start, std::ops::Bound::Unbounded)) {
            if namespace.is_some_and(|ns| key.0 != ns) {
                break;
            }
            if !self.hidden.is_empty() && self.hidden.contains(&object.metadata.uid) {
                continue;
            }
            if !filter.is_everything() && !filter.matches(object) {
                continue;
            }
            if items.len() < limit {
                items.push(object);
                last = Some(key);
            } else {
                remaining += 1;
                if estimated || !filter.is_everything() {
                    break;
                }
            }
        }
        if remaining > 0 && estimated {
            remaining = map
                .len()
                .saturating_sub(served.saturating_add(self.hidden.len() + items.len()))
                .max(1);
        }
        let continue_token = match (remaining, last) {
            (0, _) | (_, None) => String::new(),
            (_, Some(key)) => encode_continue(list_rv, key, served.saturating_add(items.len())),
        };
        Ok(Page {
            items,
            resource_version: list_rv,
            continue_token,
            remaining,
        })
    }

    /// Starts a watch of the `resource` objects `filter` keeps (in `namespace`) after
    /// version `from`. Without a version (or "0") a legacy watch starts with an ADDED
    /// event for every current object; `initial` says otherwise (`sendInitialEvents`).
    /// A version newer than the store's is waited for (changes up to it are not sent),
    /// except when the initial state is asked for: that needs the store to have
    /// reached it ([`Refusal::TooLarge`]).
    /// `render` writes the events (the recorded lines when it is `None`).
    pub fn watch(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        filter: &Filter,
        from: Option<&str>,
        initial: InitialEvents,
        render: Option<Render<'_>>,
    ) -> Result<WatchStart, Refusal> {
        let wanted = |r: Resource, ns: &str| r == resource && namespace.is_none_or(|n| n == ns);
        let from =
            match from.filter(|v| !v.is_empty() && *v != "0") {
                None => None,
                Some(v) => Some(v.parse::<u64>().map_err(|_| {
                    Refusal::BadRequest(format!("invalid resource version \"{v}\""))
                })?),
            };
        let current_state = || -> Vec<Bytes> {
            self.all(resource)
                .filter(|o| wanted(resource, &o.metadata.namespace))
                .filter(|o| !self.hidden.contains(&o.metadata.uid))
                .filter(|o| filter.is_everything() || filter.matches(o))
                .map(|object| match render {
                    Some(render) => render("ADDED", object),
                    None => watch_line("ADDED", object),
                })
                .collect()
        };
        let (replay, floor) = match (initial, from) {
            (InitialEvents::Send, Some(v)) if v > self.rv => {
                return Err(Refusal::TooLarge {
                    requested: v,
                    current: self.rv,
                });
            }
            (InitialEvents::Send, _) => (current_state(), self.rv),
            (InitialEvents::Legacy, None) => (current_state(), self.rv),
            (InitialEvents::Skip, None) => (Vec::new(), self.rv),
            (_, Some(v)) => {
                if v < self.compacted {
                    return Err(Refusal::Expired(format!(
                        "too old resource version: {v} ({})",
                        self.compacted
                    )));
                }
                let replay = self
                    .history
                    .iter()
                    .filter(|c| c.rv > v && wanted(c.resource, &c.namespace))
                    .filter_map(|c| match render {
                        Some(render) => c.event_for(filter).map(|(k, o)| render(k, &o)),
                        None => c.line_for(filter),
                    })
                    .collect();
                (replay, v)
            }
        };
        Ok(WatchStart {
            replay,
            live: self.feed.subscribe(),
            last_rv: self.rv,
            floor,
            initial_events_end: initial == InitialEvents::Send,
        })
    }
}

/// `[version, namespace, name, objects served before]`, base64.
fn encode_continue(rv: u64, key: &Key, served: usize) -> String {
    let raw = serde_json::json!([rv, key.0, key.1, served]).to_string();
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(u64, Key, usize), Refusal> {
    let bad = || Refusal::BadRequest(format!("continue key is not valid: {token}"));
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let (rv, ns, name, served): (u64, String, String, usize) =
        serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((rv, (ns, name), served))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::objects::{Body, Meta, Namespace, NamespaceSpec, NamespaceStatus};

    fn ns(name: &str) -> Object {
        Object::new(
            Resource::Namespace,
            Meta {
                name: name.into(),
                uid: format!("uid-{name}"),
                ..Meta::default()
            },
            Body::Namespace(Namespace {
                spec: NamespaceSpec { finalizers: vec![] },
                status: NamespaceStatus { phase: "Active" },
            }),
        )
    }

    fn all() -> Filter {
        Filter::default()
    }

    fn store(n: usize, history: usize) -> Store {
        let objects = (0..n)
            .map(|i| (Resource::Namespace, ns(&format!("ns-{i:03}"))))
            .collect();
        Store::new(objects, history)
    }

    #[test]
    fn pages_cover_every_object_once_under_one_version() {
        let s = store(25, 100);
        let mut token: Option<String> = None;
        let mut names = Vec::new();
        let mut versions = HashSet::new();
        loop {
            let page = s
                .list(
                    Resource::Namespace,
                    None,
                    &Filter::default(),
                    Some(10),
                    token.as_deref(),
                )
                .unwrap();
            versions.insert(page.resource_version);
            names.extend(page.items.iter().map(|o| o.metadata.name.clone()));
            if page.continue_token.is_empty() {
                break;
            }
            token = Some(page.continue_token);
        }
        assert_eq!(names.len(), 25);
        assert_eq!(versions.len(), 1);
        assert!(matches!(
            s.list(
                Resource::Namespace,
                None,
                &Filter::default(),
                Some(10),
                Some("garbage!")
            ),
            Err(Refusal::BadRequest(_))
        ));
    }

    #[test]
    fn watches_replay_history_and_refuse_versions_that_are_too_old() {
        let mut s = store(3, 2);
        let start = s.resource_version();
        s.apply(Resource::Namespace, ns("a"));
        let w = s
            .watch(
                Resource::Namespace,
                None,
                &all(),
                Some(&start.to_string()),
                InitialEvents::Legacy,
                None,
            )
            .unwrap();
        assert_eq!(w.replay.len(), 1);
        s.apply(Resource::Namespace, ns("b"));
        s.apply(Resource::Namespace, ns("c"));
        // The history holds two events: resuming from `start` needs three.
        assert!(matches!(
            s.watch(
                Resource::Namespace,
                None,
                &all(),
                Some(&start.to_string()),
                InitialEvents::Legacy,
                None,
            ),
            Err(Refusal::Expired(_))
        ));
        let everything = s
            .watch(
                Resource::Namespace,
                None,
                &all(),
                None,
                InitialEvents::Legacy,
                None,
            )
            .unwrap();
        assert_eq!(everything.replay.len(), 6);
        let now = s.resource_version().to_string();
        s.expire();
        assert!(
            s.watch(
                Resource::Namespace,
                None,
                &all(),
                Some(&now),
                InitialEvents::Legacy,
                None,
            )
            .is_err()
        );
    }

    #[test]
    fn removal_sends_the_last_state_and_hidden_objects_are_not_listed() {
        let mut s = store(2, 10);
        let mut live = s
            .watch(
                Resource::Namespace,
                None,
                &all(),
                Some(&s.resource_version().to_string()),
                InitialEvents::Legacy,
                None,
            )
            .unwrap()
            .live;
        let gone = s.remove(Resource::Namespace, "", "ns-000").unwrap();
        let change = live.try_recv().unwrap();
        let line: serde_json::Value = serde_json::from_slice(&change.line).unwrap();
        assert_eq!(line["type"], "DELETED");
        assert_eq!(line["object"]["metadata"]["uid"], gone.metadata.uid);
        assert!(s.hide("uid-ns-001"));
        assert!(
            s.list(Resource::Namespace, None, &Filter::default(), None, None)
                .unwrap()
                .items
                .is_empty()
        );
        assert!(s.unhide("uid-ns-001"));
        assert_eq!(
            s.list(Resource::Namespace, None, &Filter::default(), None, None)
                .unwrap()
                .items
                .len(),
            1
        );
    }

    fn kinds(lines: &[Bytes]) -> Vec<(String, String)> {
        lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                (
                    v["type"].as_str().unwrap_or("").to_string(),
                    v["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn filtered_watches_see_objects_move_in_and_out_of_the_selection() {
        let mut s = store(3, 100);
        let from = s.resource_version().to_string();
        let team = |o: &mut Object, t: &str| {
            o.metadata.labels.insert("team".into(), t.into());
        };
        s.modify(Resource::Namespace, "", "ns-000", |o| team(o, "a"));
        s.modify(Resource::Namespace, "", "ns-001", |o| team(o, "b"));
        s.modify(Resource::Namespace, "", "ns-000", |o| team(o, "a"));
        s.modify(Resource::Namespace, "", "ns-001", |o| team(o, "a"));
        s.modify(Resource::Namespace, "", "ns-000", |o| team(o, "c"));
        s.remove(Resource::Namespace, "", "ns-001");
        s.remove(Resource::Namespace, "", "ns-002");
        let filter = Filter::parse(Resource::Namespace, Some("team=a"), None).unwrap();
        let w = s
            .watch(
                Resource::Namespace,
                None,
                &filter,
                Some(&from),
                InitialEvents::Legacy,
                None,
            )
            .unwrap();
        let got = kinds(&w.replay);
        let want = [
            ("ADDED", "ns-000"),
            ("MODIFIED", "ns-000"),
            ("ADDED", "ns-001"),
            ("DELETED", "ns-000"),
            ("DELETED", "ns-001"),
        ];
        assert_eq!(
            got,
            want.map(|(k, n)| (k.to_string(), n.to_string())).to_vec()
        );
        // A list with the same filter, and a field selector on the name.
        let by_name =
            Filter::parse(Resource::Namespace, None, Some("metadata.name=ns-000")).unwrap();
        let page = s
            .list(Resource::Namespace, None, &by_name, None, None)
            .unwrap();
        assert_eq!(page.items.len(), 1);
        // The initial state, for sendInitialEvents; a future version is refused there
        // and waited for elsewhere.
        let everything = s
            .watch(
                Resource::Namespace,
                None,
                &all(),
                None,
                InitialEvents::Send,
                None,
            )
            .unwrap();
        assert_eq!(everything.replay.len(), 1);
        assert!(everything.initial_events_end);
        let ahead = (s.resource_version() + 5).to_string();
        assert!(matches!(
            s.watch(
                Resource::Namespace,
                None,
                &all(),
                Some(&ahead),
                InitialEvents::Send,
                None,
            ),
            Err(Refusal::TooLarge { .. })
        ));
        let waiting = s
            .watch(
                Resource::Namespace,
                None,
                &all(),
                Some(&ahead),
                InitialEvents::Legacy,
                None,
            )
            .unwrap();
        assert!(waiting.replay.is_empty());
        assert_eq!(waiting.floor, s.resource_version() + 5);
        let skip = s
            .watch(
                Resource::Namespace,
                None,
                &all(),
                None,
                InitialEvents::Skip,
                None,
            )
            .unwrap();
        assert!(skip.replay.is_empty());
    }
}
