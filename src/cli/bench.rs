//! `steward bench queue`: runs the queue benchmark and prints its JSON.

use crate::bench::{QueueBenchOptions, run_queue_bench};
use crate::settings::Settings;

/// Options of `steward bench queue`.
#[derive(Debug, clap::Args)]
pub struct QueueBenchArgs {
    /// A postgres:// URL of a server to create a throw-away database on; omitted:
    /// a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Nodes to run in this process.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Messages for the burn-down.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Length of the sustained run.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Messages per second the producer puts in the sustained run.
    #[arg(long, default_value_t = 12_000)]
    pub rate: usize,
    /// Messages per second in the unsaturated (latency) run.
    #[arg(long, default_value_t = 2_000)]
    pub light_rate: usize,
    /// Print only the JSON (progress lines go to stderr either way).
    #[arg(long)]
    pub json: bool,
}

pub(super) fn queue(settings: Settings, args: QueueBenchArgs) -> anyhow::Result<()> {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    crate::telemetry::init(&log);
    let options = QueueBenchOptions {
        database: args.database,
        nodes: args.nodes,
        messages: args.messages,
        seconds: args.seconds,
        rate: args.rate,
        light_rate: args.light_rate,
    };
    let system = actix_rt::System::new();
    let report = system.block_on(run_queue_bench(settings, options))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
