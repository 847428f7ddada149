//! Commands and the typed Rust handlers they map to. A message's `Class.method` is
//! looked up in a [`HandlerRegistry`]; its JSON args are parsed into the handler's
//! argument type. An unknown command or bad args ends the message in `error` — it is
//! never a panic.

mod context;
mod diagnostics;
mod registry;

pub use context::{HandlerContext, HandlerError, Outcome, WorkerLocal};
pub use diagnostics::register_diagnostics;
pub use registry::HandlerRegistry;

use crate::settings::Settings;
use crate::supervision::FaultHooks;

/// Every command a node with these settings can run: the one place where each
/// subsystem registers its handlers. `keys` is the node's credential key (None where
/// the registry only answers which commands exist).
pub fn for_node(
    settings: &Settings,
    faults: &FaultHooks,
    keys: Option<crate::crypto::KeyRing>,
) -> HandlerRegistry {
    let mut registry = HandlerRegistry::new();
    if settings.queue.diagnostic_commands {
        register_diagnostics(&mut registry, faults.clone());
    }
    crate::metrics::register_metrics(
        &mut registry,
        std::sync::Arc::new(crate::metrics::MetricsEnv::new(settings, keys)),
    );
    crate::events::register_events(
        &mut registry,
        settings.policies.clone(),
        settings.ems_refresh.timeout,
    );
    registry
}
