//! Capacity & utilization: metrics captured from each provider's Prometheus, rolled
//! up, kept for a while.
//!
//! ```text
//!  coordinator (ems_metrics_coordinator, one per zone, every 3 min)
//!     │ objects whose last capture is older than their threshold,
//!     │ in batches → Metrics.capture {provider, type, ids}
//!     ▼
//!  collector workers (ems_metrics_collector): one query_range per counter per batch
//!     │ realtime rows (hourly partitions) → Metrics.rollup {provider, type, hour}
//!     ▼
//!  processor workers (ems_metrics_processor): hourly per object, then parents;
//!       Metrics.rollup_daily {provider, day}
//!  retention (database_operations, on the master): drop old partitions and rollups
//! ```
//!
//! - [`targets`] — what is measured; [`queries`] — the PromQL per batch;
//!   [`prometheus_client`] — `query_range` with the 11,000-point split.
//! - [`capture`] — the collector; [`store`] — rows, partitions, capture states.
//! - [`rollup`] — the processor; [`coordinator`] — scheduling; [`purge`] — retention.
//! - [`health`] — the backlog and capture ages; [`series`] — reading samples back.

pub mod capture;
pub mod coordinator;
pub mod env;
pub mod health;
pub mod prometheus_client;
pub mod purge;
pub mod queries;
pub mod rollup;
pub mod series;
pub mod store;
pub mod targets;

use std::sync::Arc;

use crate::providers::set_metrics_status;
use crate::queue::handlers::{HandlerContext, HandlerError, HandlerRegistry, Outcome};

pub use capture::CaptureArgs;
pub use env::MetricsEnv;
pub use targets::CaptureType;

/// Registers `Metrics.capture`, `Metrics.rollup` and `Metrics.rollup_daily`.
pub fn register_metrics(registry: &mut HandlerRegistry, env: Arc<MetricsEnv>) {
    registry.register(
        "Metrics.capture",
        move |ctx: HandlerContext, args: CaptureArgs| {
            let env = env.clone();
            async move {
                let (provider, ids, kind) =
                    (args.provider_id, args.ids.clone(), args.resource_type);
                match capture::capture(&ctx.db, &ctx.queue, &env, args).await {
                    Ok(report) => {
                        let _ = ctx
                            .db
                            .run(move |c| set_metrics_status(c, provider, true, ""))
                            .await;
                        tracing::debug!(?report, "metrics captured");
                        Ok(Outcome::done())
                    }
                    Err(error) => {
                        let text = error.to_string();
                        let message = text.clone();
                        // Back to due: the next coordination pass queues them again.
                        let _ = ctx
                            .db
                            .run(move |c| {
                                set_metrics_status(c, provider, false, &message)?;
                                store::mark_queued_none(c, kind.name(), &ids)
                            })
                            .await;
                        Err(HandlerError::Failed(text))
                    }
                }
            }
        },
    );
    registry.register(
        "Metrics.rollup",
        |ctx: HandlerContext, args: rollup::RollupArgs| async move {
            let hour = args.hour;
            let provider = args.provider_id;
            ctx.db
                .run(move |c| rollup::rollup_hour(c, &args))
                .await
                .map_err(|e| HandlerError::Failed(e.to_string()))?;
            rollup::queue_daily(&ctx.queue, provider, hour)
                .await
                .map_err(|e| HandlerError::Failed(e.to_string()))?;
            Ok(Outcome::done())
        },
    );
    registry.register(
        "Metrics.rollup_daily",
        |ctx: HandlerContext, args: rollup::DailyArgs| async move {
            ctx.db
                .run(move |c| rollup::rollup_day(c, &args))
                .await
                .map_err(|e| HandlerError::Failed(e.to_string()))?;
            Ok(Outcome::done())
        },
    );
}
