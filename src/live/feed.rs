//! `LiveFeeds`: what the region's database says, published while a client of this node
//! listens — the queue's counts (by state, zone and role: what `GET /api/queue/stats`
//! answers under `region`) on `queue` every `websocket.queue_interval`, and on `servers`
//! the servers whose status, master flag, roles or supervised components changed (as
//! `GET /api/servers` shows them; heartbeat times, memory and CPU move every beat and do
//! not count as a change), checked every `websocket.servers_interval`; and on
//! `refreshes` each provider refresh recorded since (to the subscribers who may see the
//! provider), checked as often as the servers; and on `inventory` the objects refreshes
//! created, updated and deleted, read from the inventory change log when woken (see
//! [`super::inventory`]) or every `websocket.inventory_poll`, whose old rows it also
//! purges; and, as often, on `events` the event rows stored and on `alerts` the alerts
//! changed (see [`super::records`]). Each node reads
//! the database itself, so every node's subscribers see the whole region. A supervised
//! [`Component`]: it holds nothing a rebuild would miss (a rebuilt feed takes the
//! servers it sees first as its baseline).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::hub::{Hub, Scope, Topic};
use super::inventory::publish_inventory;
use super::records::{AlertCursor, publish_alerts, publish_events};
use super::tail::Tail;
use crate::db::Db;
use crate::queue::queue_counts;
use crate::region::{ServerView, load_region_view};
use crate::supervision::{Component, ComponentContext, ComponentFuture};

#[derive(Clone)]
pub struct LiveFeeds {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub queue_interval: Duration,
    pub servers_interval: Duration,
    /// The inventory change log is read at least this often.
    pub inventory_poll: Duration,
    /// Change-log rows older than this are purged.
    pub change_retention: Duration,
}

/// How often this node purges old change-log rows.
const PURGE_EVERY: Duration = Duration::from_secs(60);

impl Component for LiveFeeds {
    fn name(&self) -> &'static str {
        "live_feeds"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        Box::pin(run(self.clone(), ctx))
    }
}

fn due(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= every)
}

/// Waits for the inventory signal to change (forever if it cannot).
async fn woken(signal: &mut tokio::sync::watch::Receiver<u64>) {
    if signal.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run(feeds: LiveFeeds, ctx: ComponentContext) -> Result<(), String> {
    let tick = feeds
        .queue_interval
        .min(feeds.servers_interval)
        .min(feeds.inventory_poll);
    let (mut queue_at, mut servers_at, mut inventory_at, mut purged_at) = (None, None, None, None);
    let mut records_at = None;
    // What subscribers of `servers` were last told, by server id (None: no baseline).
    let mut servers: Option<BTreeMap<i64, Value>> = None;
    let mut refreshes = RefreshCursor::default();
    let mut tasks = TaskCursor::default();
    let mut inventory = Tail::default();
    let mut events = Tail::default();
    let mut alerts = AlertCursor::default();
    let mut signal = feeds.db.inventory_signal();
    let mut more_inventory = false;
    let mut more_events = false;
    loop {
        let mut wake = more_inventory;
        if !more_inventory && !more_events {
            tokio::select! {
                _ = ctx.stopped() => return Ok(()),
                _ = tokio::time::sleep(tick) => {}
                _ = woken(&mut signal) => wake = true,
                // A new subscriber: baselines are taken now, so that what is stored
                // right after it subscribed is news, not history.
                _ = feeds.hub.subscription() => {}
            }
        }
        ctx.progress();
        more_inventory = false;
        let baseline_records = (events.needs_baseline()
            && feeds.hub.has_subscribers(Topic::Events))
            || (alerts.needs_baseline() && feeds.hub.has_subscribers(Topic::Alerts));
        let records_due = wake || baseline_records || due(records_at, feeds.inventory_poll);
        if records_due {
            records_at = Some(Instant::now());
        }
        if records_due || more_events {
            // Catching up on events does not read the alerts again each time.
            more_events =
                publish_records(&feeds, &mut events, records_due.then_some(&mut alerts)).await;
        }
        // A first subscriber: the tail's baseline is taken at once, not at the next
        // poll, so that the change whose NOTIFY wakes the feed is not taken as history.
        let baseline = inventory.needs_baseline() && feeds.hub.has_subscribers(Topic::Inventory);
        if wake || baseline || due(inventory_at, feeds.inventory_poll) {
            inventory_at = Some(Instant::now());
            if feeds.hub.has_subscribers(Topic::Inventory) {
                match publish_inventory(&feeds.db, &feeds.hub, &mut inventory).await {
                    Ok(more) => more_inventory = more,
                    Err(error) => tracing::warn!(%error, "cannot publish inventory changes"),
                }
            } else {
                inventory = Tail::default();
            }
        }
        if due(purged_at, PURGE_EVERY) {
            purged_at = Some(Instant::now());
            purge_changes(&feeds).await;
        }
        if due(queue_at, feeds.queue_interval) {
            queue_at = Some(Instant::now());
            if feeds.hub.has_subscribers(Topic::Queue) {
                publish_queue(&feeds).await;
            }
        }
        if due(servers_at, feeds.servers_interval) {
            servers_at = Some(Instant::now());
            if feeds.hub.has_subscribers(Topic::Servers) {
                publish_servers(&feeds, &mut servers).await;
            } else {
                servers = None;
            }
            if feeds.hub.has_subscribers(Topic::Refreshes) {
                publish_refreshes(&feeds, &mut refreshes).await;
            } else {
                refreshes = RefreshCursor::default();
            }
            if feeds.hub.has_subscribers(Topic::Tasks) {
                publish_tasks(&feeds, &mut tasks).await;
            } else {
                tasks = TaskCursor::default();
            }
        }
    }
}

/// The `events` and `alerts` topics (`alerts` None: events only), while anyone
/// listens (a cursor is dropped when nobody does: what happens meanwhile is history);
/// answers whether more events wait.
async fn publish_records(
    feeds: &LiveFeeds,
    events: &mut Tail,
    alerts: Option<&mut AlertCursor>,
) -> bool {
    let mut more = false;
    if feeds.hub.has_subscribers(Topic::Events) {
        match publish_events(&feeds.db, &feeds.hub, events).await {
            Ok(m) => more = m,
            Err(error) => tracing::warn!(%error, "cannot publish new events"),
        }
    } else {
        *events = Tail::default();
    }
    let Some(alerts) = alerts else {
        return more;
    };
    if feeds.hub.has_subscribers(Topic::Alerts) {
        if let Err(error) = publish_alerts(&feeds.db, &feeds.hub, alerts).await {
            tracing::warn!(%error, "cannot publish alert changes");
        }
    } else {
        *alerts = AlertCursor::default();
    }
    more
}

/// Deletes change-log rows older than the retention (every node does: the statement is
/// idempotent and cheap, and no node is special).
async fn purge_changes(feeds: &LiveFeeds) {
    let retention = chrono::Duration::from_std(feeds.change_retention)
        .unwrap_or_else(|_| chrono::Duration::minutes(10));
    let before = crate::clock::now() - retention;
    match feeds
        .db
        .run(move |c| crate::inventory::changes::purge(c, before))
        .await
    {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "old inventory changes purged"),
        Err(error) => tracing::warn!(%error, "cannot purge old inventory changes"),
    }
}

async fn publish_queue(feeds: &LiveFeeds) {
    match feeds.db.run(queue_counts).await {
        Ok(counts) => match serde_json::to_value(&counts) {
            Ok(data) => {
                feeds.hub.publish(Topic::Queue, Scope::Region, data);
            }
            Err(error) => tracing::warn!(%error, "cannot render the queue counts"),
        },
        // A database outage: the counts resume when it is back.
        Err(error) => tracing::warn!(%error, "cannot read the queue counts for the live feed"),
    }
}

/// What of a server counts as a change: everything but the per-beat figures.
fn change_key(server: &ServerView) -> Value {
    let mut value = serde_json::to_value(server).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        for volatile in [
            "last_heartbeat",
            "heartbeat_age_s",
            "memory_rss",
            "memory_heap",
            "cpu_percent",
        ] {
            object.remove(volatile);
        }
    }
    value
}

/// The servers that changed since `known` (all of them are the baseline the first
/// time, published as nothing), and the ids of those gone.
fn server_changes(known: &mut Option<BTreeMap<i64, Value>>, now: &[ServerView]) -> Option<Value> {
    let current: BTreeMap<i64, Value> = now.iter().map(|s| (s.id, change_key(s))).collect();
    let before = known.replace(current.clone())?;
    let changed: Vec<&ServerView> = now
        .iter()
        .filter(|s| before.get(&s.id) != current.get(&s.id))
        .collect();
    let removed: Vec<String> = before
        .keys()
        .filter(|id| !current.contains_key(id))
        .map(i64::to_string)
        .collect();
    (!changed.is_empty() || !removed.is_empty())
        .then(|| json!({"changed": changed, "removed": removed}))
}

async fn publish_servers(feeds: &LiveFeeds, known: &mut Option<BTreeMap<i64, Value>>) {
    match feeds.db.run(load_region_view).await {
        Ok(view) => {
            if let Some(data) = server_changes(known, &view.servers) {
                feeds.hub.publish(Topic::Servers, Scope::Region, data);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot purge old inventory changes"),
    }
}

/// Which tasks were published: the newest message seen, and the unfinished ones told
/// about, by their state, to be read again by id until they finish. Only tasks put after
/// the first subscription are followed; reads go by primary key (a range for new ones,
/// ids for open ones), never a scan of the queue.
#[derive(Default)]
struct TaskCursor {
    /// None: no baseline yet.
    newest: Option<i64>,
    open: BTreeMap<i64, String>,
}

impl TaskCursor {
    /// New tasks read per look; more wait for the next look (`"more": true`).
    const BATCH: i64 = 500;
    /// Unfinished tasks followed at most; beyond, new ones are told once, when put.
    const OPEN: usize = 2000;
}

async fn publish_tasks(feeds: &LiveFeeds, cursor: &mut TaskCursor) {
    use crate::queue::tasks::{newest_task_id, task_view, tasks_after, tasks_by_ids};
    let Some(newest) = cursor.newest else {
        match feeds.db.run(newest_task_id).await {
            Ok(id) => cursor.newest = Some(id.unwrap_or(0)),
            Err(error) => tracing::warn!(%error, "cannot read the tasks for the live feed"),
        }
        return;
    };
    let open: Vec<i64> = cursor.open.keys().copied().collect();
    let found = feeds
        .db
        .run(move |c| {
            let fresh = tasks_after(c, newest, TaskCursor::BATCH)?;
            let again = tasks_by_ids(c, &open)?;
            Ok((fresh, again))
        })
        .await;
    let (fresh, again) = match found {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "cannot read the tasks for the live feed");
            return;
        }
    };
    let more = fresh.len() as i64 == TaskCursor::BATCH;
    let mut told = Vec::new();
    let still: std::collections::BTreeSet<i64> = again.iter().map(|m| m.id).collect();
    cursor.open.retain(|id, _| still.contains(id));
    for m in &again {
        if cursor.open.get(&m.id) != Some(&m.state) {
            told.push(task_view(None, m));
        }
        if matches!(m.state.as_str(), "ready" | "dequeue") {
            cursor.open.insert(m.id, m.state.clone());
        } else {
            cursor.open.remove(&m.id);
        }
    }
    for m in &fresh {
        cursor.newest = cursor.newest.max(Some(m.id));
        told.push(task_view(None, m));
        if matches!(m.state.as_str(), "ready" | "dequeue") && cursor.open.len() < TaskCursor::OPEN {
            cursor.open.insert(m.id, m.state.clone());
        }
    }
    if !told.is_empty() {
        feeds.hub.publish(
            Topic::Tasks,
            Scope::Region,
            serde_json::json!({"tasks": told, "more": more}),
        );
    }
}

/// Which recorded refreshes were published. Ids are taken in commit order only roughly
/// (a transaction may commit after one that took a later id), so each look goes back
/// [`RefreshCursor::WINDOW`] ids and skips those already published.
#[derive(Default)]
struct RefreshCursor {
    /// None: no baseline yet (what exists when someone starts listening is history).
    newest: Option<i64>,
    published: std::collections::BTreeSet<i64>,
}

impl RefreshCursor {
    const WINDOW: i64 = 1000;
}

async fn publish_refreshes(feeds: &LiveFeeds, cursor: &mut RefreshCursor) {
    let floor = cursor
        .newest
        .map_or(i64::MAX, |n| n - RefreshCursor::WINDOW);
    let baseline = cursor.newest.is_none();
    let found = feeds
        .db
        .run(move |c| {
            if baseline {
                crate::providers::newest_refresh_id(c).map(|id| (Vec::new(), id))
            } else {
                crate::providers::refreshes_after(c, floor).map(|rows| (rows, None))
            }
        })
        .await;
    match found {
        Ok((_, newest)) if baseline => cursor.newest = Some(newest.unwrap_or(0)),
        Ok((rows, _)) => {
            for row in rows {
                if row.id <= floor || !cursor.published.insert(row.id) {
                    continue;
                }
                cursor.newest = cursor.newest.max(Some(row.id));
                let provider = row.provider_id;
                match serde_json::to_value(&row) {
                    Ok(data) => {
                        feeds
                            .hub
                            .publish(Topic::Refreshes, Scope::Provider(provider), data);
                    }
                    Err(error) => tracing::warn!(%error, "cannot render a refresh"),
                }
            }
            let floor = cursor.newest.map_or(0, |n| n - RefreshCursor::WINDOW);
            cursor.published = cursor.published.split_off(&floor);
        }
        Err(error) => tracing::warn!(%error, "cannot read the refreshes for the live feed"),
    }
}
