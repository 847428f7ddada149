//! Events (role `event`): each provider's event catcher watches its cluster's Events
//! and queues them in batches (storms folded at the source); the provider's event
//! handler stores them as `event_streams` rows linked to the inventory.
//!
//! ```text
//!  cluster ──watch──► catcher ──batch──► queues `events_<provider>[_<shard>]` ──► handlers ──► event_streams
//!                      │ storms folded      (per provider: a storm never       │ uid+count dedup,
//!                      ▼                     delays another provider; sharded  ▼ links resolved
//!                   event_positions          by Event uid, one handler each)
//! ```

mod catcher;
mod manager;
mod position;
mod retention;
mod store;
mod storm;
mod switchboard;
mod types;

pub use catcher::{CatcherKit, caught_from};
pub use manager::EventManager;
pub use position::{Position, load_position};
pub use retention::{EventRetention, RetentionReport, purge};
pub use store::{
    SOURCE_KUBERNETES, StoreReport, StoredEvent, relink_recent, store_batch, store_in,
};
pub use storm::StormGate;
pub use switchboard::{Effects, switch};
pub use types::{Caught, Storm, event_type};

pub use crate::settings::EventSettings;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::db::write_transaction;
use crate::policy::PolicySet;

use crate::queue::NewMessage;
use crate::queue::handlers::{HandlerContext, HandlerError, HandlerRegistry, Outcome};

/// The queue command a batch of caught events is handled by.
pub const HANDLER_COMMAND: &str = "EmsEvent.add";

/// The queue of provider `provider_id`'s event handler `shard` (0, 1, … less than
/// `workers.event_handler.count`).
pub fn handler_queue(provider_id: i64, shard: usize) -> String {
    if shard == 0 {
        format!("events_{provider_id}")
    } else {
        format!("events_{provider_id}_{shard}")
    }
}

/// The handler shard of the Event `uid` among `shards`: every occurrence of one Event
/// goes to the same handler, in order, so that its counts are compared with what
/// that handler stored (FNV-1a: stable across builds and nodes).
pub fn shard_of(uid: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(uid.as_bytes());
    (hasher.finish() % shards as u64) as usize
}

/// A batch for the handler.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandlerArgs {
    pub provider_id: i64,
    pub events: Vec<Caught>,
}

/// The message that hands `events` of provider `provider_id` to its handler `shard`.
pub fn handler_message(
    provider_id: i64,
    shard: usize,
    zone: &str,
    events: &[Caught],
    timeout: std::time::Duration,
) -> Result<NewMessage, String> {
    let args = serde_json::json!({ "provider_id": provider_id, "events": events });
    NewMessage::internal("EmsEvent", "add")
        .with_queue(&handler_queue(provider_id, shard))
        .with_zone(zone)
        .with_instance(provider_id)
        .with_timeout(timeout)
        .with_role("event")
        .and_then(|m| m.with_args(&args))
        .map_err(|e| e.to_string())
}

/// Registers the event handler's command: a batch is stored and run through the
/// policies in one transaction; the refreshes and automation tasks they ask for are
/// queued after it.
pub fn register_events(
    registry: &mut HandlerRegistry,
    policies: Arc<PolicySet>,
    refresh_timeout: std::time::Duration,
) {
    registry.register(
        HANDLER_COMMAND,
        move |ctx: HandlerContext, args: HandlerArgs| {
            let policies = policies.clone();
            async move {
                let (provider_id, n) = (args.provider_id, args.events.len());
                let zone = ctx.zone.to_string();
                let (report, effects) = ctx
                    .db
                    .run(move |c| {
                        write_transaction(c, |c| {
                            let report = store_in(c, provider_id, args.events)?;
                            let effects =
                                switch(c, provider_id, &zone, &report.created, &policies)?;
                            Ok((report, effects))
                        })
                    })
                    .await
                    .map_err(|e| HandlerError::Failed(format!("cannot store events: {e}")))?;
                tracing::debug!(
                    provider_id,
                    events = n,
                    stored = report.stored,
                    duplicates = report.duplicates,
                    alerts = effects.alerts,
                    notifications = effects.notifications,
                    "events stored"
                );
                apply_effects(&ctx, provider_id, effects, refresh_timeout).await;
                Ok(Outcome::done())
            }
        },
    );
}

/// Queues what the policies asked for. A failure is logged and does not fail the
/// batch: its events are stored, and the watches keep the inventory current anyway.
async fn apply_effects(
    ctx: &HandlerContext,
    provider_id: i64,
    effects: Effects,
    refresh_timeout: std::time::Duration,
) {
    if !effects.refresh.is_empty() {
        let n = effects.refresh.len();
        if let Err(error) = crate::refresh::queue_refresh_targets(
            &ctx.queue,
            provider_id,
            &ctx.zone,
            refresh_timeout,
            effects.refresh,
        )
        .await
        {
            tracing::warn!(provider_id, targets = n, %error, "cannot queue the targeted refresh");
        }
    }
    if !effects.automations.is_empty()
        && let Err(error) = ctx.queue.put_many(effects.automations).await
    {
        tracing::warn!(provider_id, %error, "cannot queue the automation tasks");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_keeps_its_shard_and_shards_share_the_events() {
        assert_eq!(shard_of("a", 1), 0);
        assert_eq!(shard_of("a", 0), 0);
        let uid = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        assert_eq!(shard_of(uid, 4), shard_of(uid, 4), "stable");
        let mut per = [0usize; 4];
        for i in 0..4000 {
            per[shard_of(&format!("uid-{i}"), 4)] += 1;
        }
        assert!(per.iter().all(|n| (800..1200).contains(n)), "{per:?}");
        assert_eq!(handler_queue(3, 0), "events_3");
        assert_eq!(handler_queue(3, 2), "events_3_2");
    }
}
