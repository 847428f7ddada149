//! Events (role `event`): each provider's event catcher watches its cluster's Events
//! and queues them in batches (storms folded at the source); the provider's event
//! handler stores them as `event_streams` rows linked to the inventory.
//!
//! ```text
//!  cluster ──watch──► catcher ──batch──► queue `events_<provider>` ──► handler ──► event_streams
//!                      │ storms folded      (one queue per provider:      │ uid+count dedup,
//!                      ▼                     a storm never delays         ▼ links resolved
//!                   event_positions          another provider)
//! ```

mod catcher;
mod manager;
mod position;
mod store;
mod storm;
mod types;

pub use catcher::{CatcherKit, caught_from};
pub use manager::EventManager;
pub use position::{Position, load_position};
pub use store::{SOURCE_KUBERNETES, StoreReport, store_batch};
pub use storm::StormGate;
pub use types::{Caught, Storm, event_type};

pub use crate::settings::EventSettings;

use serde::{Deserialize, Serialize};

use crate::queue::NewMessage;
use crate::queue::handlers::{HandlerContext, HandlerError, HandlerRegistry, Outcome};

/// The queue command a batch of caught events is handled by.
pub const HANDLER_COMMAND: &str = "EmsEvent.add";

/// The queue of provider `provider_id`'s event handler.
pub fn handler_queue(provider_id: i64) -> String {
    format!("events_{provider_id}")
}

/// A batch for the handler.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandlerArgs {
    pub provider_id: i64,
    pub events: Vec<Caught>,
}

/// The message that hands `events` of provider `provider_id` to its handler.
pub fn handler_message(
    provider_id: i64,
    zone: &str,
    events: &[Caught],
    timeout: std::time::Duration,
) -> Result<NewMessage, String> {
    let args = serde_json::json!({ "provider_id": provider_id, "events": events });
    NewMessage::internal("EmsEvent", "add")
        .with_queue(&handler_queue(provider_id))
        .with_zone(zone)
        .with_instance(provider_id)
        .with_timeout(timeout)
        .with_role("event")
        .and_then(|m| m.with_args(&args))
        .map_err(|e| e.to_string())
}

/// Registers the event handler's command.
pub fn register_events(registry: &mut HandlerRegistry) {
    registry.register(
        HANDLER_COMMAND,
        |ctx: HandlerContext, args: HandlerArgs| async move {
            let (provider_id, n) = (args.provider_id, args.events.len());
            let report = ctx
                .db
                .run(move |c| store_batch(c, provider_id, args.events))
                .await
                .map_err(|e| HandlerError::Failed(format!("cannot store events: {e}")))?;
            tracing::debug!(provider_id, events = n, ?report, "events stored");
            Ok(Outcome::done())
        },
    );
}
