//! `LiveFeeds`: what the region's database says, published while a client of this node
//! listens — the queue's counts (by state, zone and role: what `GET /api/queue/stats`
//! answers under `region`) on `queue` every `websocket.queue_interval`, and on `servers`
//! the servers whose status, master flag, roles or supervised components changed (as
//! `GET /api/servers` shows them; heartbeat times, memory and CPU move every beat and do
//! not count as a change), checked every `websocket.servers_interval`; and on
//! `refreshes` each provider refresh recorded since (to the subscribers who may see the
//! provider), checked as often as the servers. Each node reads
//! the database itself, so every node's subscribers see the whole region. A supervised
//! [`Component`]: it holds nothing a rebuild would miss (a rebuilt feed takes the
//! servers it sees first as its baseline).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::hub::{Hub, Scope, Topic};
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
}

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

async fn run(feeds: LiveFeeds, ctx: ComponentContext) -> Result<(), String> {
    let tick = feeds.queue_interval.min(feeds.servers_interval);
    let (mut queue_at, mut servers_at) = (None, None);
    // What subscribers of `servers` were last told, by server id (None: no baseline).
    let mut servers: Option<BTreeMap<i64, Value>> = None;
    let mut refreshes = RefreshCursor::default();
    loop {
        tokio::select! {
            _ = ctx.stopped() => return Ok(()),
            _ = tokio::time::sleep(tick) => {}
        }
        ctx.progress();
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
        }
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
        Err(error) => tracing::warn!(%error, "cannot read the servers for the live feed"),
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
