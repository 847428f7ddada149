//! `Diagnostics.*` commands, enabled by `queue.diagnostic_commands`: the smallest
//! handlers that exercise every path of the queue and the supervisor — for tests,
//! benchmarks and smoke checks of a live region.

use std::time::Duration;

use serde::Deserialize;

use super::context::{HandlerContext, HandlerError, Outcome};
use super::registry::HandlerRegistry;
use crate::supervision::FaultHooks;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seconds {
    seconds: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Counter {
    counter: String,
    /// Work time before counting, in milliseconds.
    #[serde(default)]
    sleep_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bytes {
    bytes: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fault {
    /// A supervised component of the node that runs the message (`registry`, …).
    component: String,
}

fn duration(seconds: f64) -> Result<Duration, HandlerError> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|e| HandlerError::Failed(format!("bad seconds {seconds}: {e}")))
}

/// Registers the diagnostics commands; `faults` are the hooks of the node's components.
pub fn register_diagnostics(registry: &mut HandlerRegistry, faults: FaultHooks) {
    // Does nothing: measures the queue itself.
    registry.register(
        "Diagnostics.noop",
        |_ctx: HandlerContext, _: NoArgs| async { Ok(Outcome::done()) },
    );
    // Waits without blocking its thread (a slow but well-behaved handler).
    registry.register(
        "Diagnostics.sleep",
        |_ctx: HandlerContext, a: Seconds| async move {
            tokio::time::sleep(duration(a.seconds)?).await;
            Ok(Outcome::done())
        },
    );
    // Blocks its worker's thread (a stuck handler: no progress, no heartbeat).
    registry.register(
        "Diagnostics.block",
        |_ctx: HandlerContext, a: Seconds| async move {
            std::thread::sleep(duration(a.seconds)?);
            Ok(Outcome::done())
        },
    );
    registry.register(
        "Diagnostics.fail",
        |_ctx: HandlerContext, a: Text| async move { Err(HandlerError::Failed(a.message)) },
    );
    registry.register(
        "Diagnostics.fatal",
        |_ctx: HandlerContext, a: Text| async move { Err(HandlerError::Fatal(a.message)) },
    );
    registry.register(
        "Diagnostics.panic",
        |_ctx: HandlerContext, a: Text| async move { panic!("Diagnostics.panic: {}", a.message) },
    );
    // Increments a counter in the completion transaction: exactly once per message.
    registry.register(
        "Diagnostics.count",
        |_ctx: HandlerContext, a: Counter| async move {
            if a.sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(a.sleep_ms)).await;
            }
            Ok(Outcome::with_commit(move |conn| {
                use diesel::RunQueryDsl;
                use diesel::sql_types::Text;
                diesel::sql_query(
                    "INSERT INTO diagnostic_counters (name, value) VALUES ($1, 1) \
                 ON CONFLICT (name) DO UPDATE SET value = diagnostic_counters.value + 1",
                )
                .bind::<Text, _>(&a.counter)
                .execute(conn)?;
                Ok(())
            }))
        },
    );
    // Makes a supervised component of this node panic once (route the message to the
    // node with `server_guid`); the supervisor must rebuild it.
    registry.register(
        "Diagnostics.inject_fault",
        move |_ctx: HandlerContext, a: Fault| {
            let injected = faults.inject(&a.component);
            async move {
                injected.map_err(HandlerError::Failed)?;
                Ok(Outcome::done())
            }
        },
    );
    // Allocates and keeps memory in the worker's own state, touching every page.
    registry.register(
        "Diagnostics.hold_memory",
        |ctx: HandlerContext, a: Bytes| async move {
            ctx.worker.held.borrow_mut().push(vec![1u8; a.bytes]);
            Ok(Outcome::done())
        },
    );
}
