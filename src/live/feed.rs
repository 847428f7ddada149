//! `QueueFeed`: publishes the region's queue counts (by state, zone and role — what
//! `GET /api/queue/stats` answers under `region`) on the `queue` topic every
//! `websocket.queue_interval`, while a client of this node listens. A supervised
//! [`Component`]: it holds nothing a rebuild would miss.

use std::sync::Arc;
use std::time::Duration;

use super::hub::{Hub, Topic};
use crate::db::Db;
use crate::queue::queue_counts;
use crate::supervision::{Component, ComponentContext, ComponentFuture};

#[derive(Clone)]
pub struct QueueFeed {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub interval: Duration,
}

impl Component for QueueFeed {
    fn name(&self) -> &'static str {
        "queue_feed"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        Box::pin(run(self.clone(), ctx))
    }
}

async fn run(feed: QueueFeed, ctx: ComponentContext) -> Result<(), String> {
    loop {
        tokio::select! {
            _ = ctx.stopped() => return Ok(()),
            _ = tokio::time::sleep(feed.interval) => {}
        }
        ctx.progress();
        if !feed.hub.has_subscribers(Topic::Queue) {
            continue;
        }
        match feed.db.run(queue_counts).await {
            Ok(counts) => match serde_json::to_value(&counts) {
                Ok(data) => {
                    feed.hub.publish(Topic::Queue, data);
                }
                Err(error) => tracing::warn!(%error, "cannot render the queue counts"),
            },
            // A database outage: the counts resume when it is back.
            Err(error) => tracing::warn!(%error, "cannot read the queue counts for the live feed"),
        }
    }
}
