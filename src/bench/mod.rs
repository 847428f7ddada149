//! `steward bench …`: end-to-end scenarios measured on this machine, printed as JSON.
//! `soak` runs a real `steward start` child process instead, to measure its memory.
//! Each bench gets a database of its own (a new PostgreSQL database on the given
//! server, dropped afterwards, or a temporary SQLite file) and runs its nodes in
//! this process.

mod api;
mod console;
mod console_inventory;
mod database;
mod events;
mod metrics;
mod node_process;
mod provider_node;
mod queue;
mod refresh;
mod rss;
mod sim_process;
mod soak;

pub use api::{ApiBenchOptions, api_summary, run_api_bench};
pub use console::{ConsoleBenchOptions, console_summary, run_console_bench};
pub use console_inventory::InventoryChurn;
pub use database::BenchDatabase;
pub use events::{EventsBenchOptions, run_events_bench};
pub use metrics::{MetricsBenchOptions, run_metrics_bench};
pub use queue::{QueueBenchOptions, run_queue_bench};
pub use refresh::{RefreshBenchOptions, run_refresh_bench};
pub use rss::{RssSampler, current_rss_kib, rss_kib_of};
pub use soak::{SoakBenchOptions, run_soak_bench};
