//! `steward bench queue|refresh|metrics|soak|api`: runs a benchmark and prints its JSON.

use crate::bench::{
    ApiBenchOptions, ConsoleBenchOptions, MetricsBenchOptions, QueueBenchOptions,
    RefreshBenchOptions, SoakBenchOptions, api_summary, console_summary, run_api_bench,
    run_console_bench, run_metrics_bench, run_queue_bench, run_refresh_bench, run_soak_bench,
};
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
    /// Messages put for a role no node runs before an unsaturated run again (0: skip).
    #[arg(long, default_value_t = 0)]
    pub backlog: usize,
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
        backlog: args.backlog,
    };
    let system = actix_rt::System::new();
    let report = system.block_on(run_queue_bench(settings, options))?;
    print_report(&report, args.json)
}

/// Options of `steward bench refresh`.
#[derive(Debug, clap::Args)]
pub struct RefreshBenchArgs {
    /// A postgres:// URL of a server to create a throw-away database on; omitted:
    /// a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Pods in the simulated cluster.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Nodes in the simulated cluster.
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Watched changes timed from the cluster to the database.
    #[arg(long, default_value_t = 50)]
    pub changes: usize,
    /// Print only the JSON (progress lines go to stderr either way).
    #[arg(long)]
    pub json: bool,
}

pub(super) fn refresh(settings: Settings, args: RefreshBenchArgs) -> anyhow::Result<()> {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    crate::telemetry::init(&log);
    let options = RefreshBenchOptions {
        database: args.database,
        pods: args.pods,
        nodes: args.nodes,
        changes: args.changes,
    };
    let system = actix_rt::System::new();
    let report = system.block_on(run_refresh_bench(settings, options))?;
    print_report(&report, args.json)
}

/// Options of `steward bench events`.
#[derive(Debug, clap::Args)]
pub struct EventsBenchArgs {
    /// A postgres:// URL of a server to create a throw-away database on; omitted:
    /// a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Distinct events of the throughput run.
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
    /// Occurrences of the storm.
    #[arg(long, default_value_t = 1_000_000)]
    pub storm: u64,
    /// Alerts of the ingest run.
    #[arg(long, default_value_t = 20_000)]
    pub alerts: usize,
    /// Print only the JSON (progress lines go to stderr either way).
    #[arg(long)]
    pub json: bool,
}

pub(super) fn events(settings: Settings, args: EventsBenchArgs) -> anyhow::Result<()> {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    crate::telemetry::init(&log);
    let options = crate::bench::EventsBenchOptions {
        database: args.database,
        events: args.events,
        storm: args.storm,
        alerts: args.alerts,
    };
    let system = actix_rt::System::new();
    let report = system.block_on(crate::bench::run_events_bench(settings, options))?;
    print_report(&report, args.json)
}

/// Options of `steward bench metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsBenchArgs {
    /// A postgres:// URL of a server to create a throw-away database on; omitted:
    /// a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Nodes, pods and containers to measure.
    #[arg(long, default_value_t = 20_000)]
    pub objects: usize,
    /// Length of the steady-state window, seconds.
    #[arg(long, default_value_t = 60)]
    pub window: u64,
    /// Print only the JSON (progress lines go to stderr either way).
    #[arg(long)]
    pub json: bool,
}

pub(super) fn metrics(settings: Settings, args: MetricsBenchArgs) -> anyhow::Result<()> {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    crate::telemetry::init(&log);
    let options = MetricsBenchOptions {
        database: args.database,
        objects: args.objects,
        window_s: args.window,
    };
    let system = actix_rt::System::new();
    let report = system.block_on(run_metrics_bench(settings, options))?;
    print_report(&report, args.json)
}

/// Options of `steward bench soak`.
#[derive(Debug, clap::Args)]
pub struct SoakBenchArgs {
    /// A postgres:// URL of a server to create a throw-away database on; omitted:
    /// a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// How long the node runs.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Pods in the simulated cluster (100 per node).
    #[arg(long, default_value_t = 1_000)]
    pub pods: usize,
    /// Cluster changes per second (pods created, deleted, restarted, relabelled…).
    #[arg(long, default_value_t = 5.0)]
    pub churn: f64,
    /// Minutes left out of the slope; default a fifth of the run, at most 5.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Print only the JSON (progress lines go to stderr either way).
    #[arg(long)]
    pub json: bool,
}

pub(super) fn soak(settings: Settings, args: SoakBenchArgs) -> anyhow::Result<()> {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    crate::telemetry::init(&log);
    anyhow::ensure!(
        args.minutes.is_finite() && args.minutes > 0.0,
        "--minutes must be a positive number"
    );
    anyhow::ensure!(
        args.churn.is_finite() && args.churn >= 0.0,
        "--churn must be a non-negative number"
    );
    let options = SoakBenchOptions {
        database: args.database,
        minutes: args.minutes,
        pods: args.pods.max(1),
        churn: args.churn,
        warmup_minutes: args.warmup.unwrap_or((args.minutes / 5.0).min(5.0)),
    };
    let system = actix_rt::System::new();
    let report = system.block_on(run_soak_bench(options))?;
    print_report(&report, args.json)
}

/// Options of `steward bench api`.
#[derive(Debug, clap::Args)]
pub struct ApiBenchArgs {
    /// A postgres:// URL of a server to create a throw-away database on; omitted:
    /// a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Pods seeded into the database (spread over 50 projects, 100 per cluster node).
    #[arg(long, default_value_t = 100_000)]
    pub objects: usize,
    /// Print only the JSON (progress lines go to stderr either way); otherwise a summary.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn api(settings: Settings, args: ApiBenchArgs) -> anyhow::Result<()> {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    crate::telemetry::init(&log);
    anyhow::ensure!(
        args.objects >= 200,
        "--objects must be at least 200 (the limited user needs pages to read)"
    );
    let options = ApiBenchOptions {
        database: args.database,
        objects: args.objects,
    };
    let system = actix_rt::System::new();
    let report = system.block_on(run_api_bench(settings, options))?;
    if args.json {
        print_report(&report, true)
    } else {
        print!("{}", api_summary(&report));
        Ok(())
    }
}

/// Options of `steward bench console`.
#[derive(Debug, clap::Args)]
pub struct ConsoleBenchArgs {
    /// A postgres:// URL of a server to create a throw-away database on; omitted:
    /// a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Websocket clients to open and hold (each subscribed to `queue`).
    #[arg(long, default_value_t = 10_000)]
    pub clients: usize,
    /// Seconds during which every event's arrival at every client is timed.
    #[arg(long, default_value_t = 5)]
    pub listen: u64,
    /// Pods of the simulated cluster whose churn times the `inventory` topic (0: no
    /// inventory phase).
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Inventory changes a second during that phase.
    #[arg(long, default_value_t = 20.0)]
    pub churn: f64,
    /// Seconds the cluster churns.
    #[arg(long, default_value_t = 15)]
    pub churn_seconds: u64,
    /// Connect to `GET /ws` on the web port (actix-web) instead of the live feed's own
    /// listener, for comparison.
    #[arg(long)]
    pub via_web: bool,
    /// Print only the JSON (progress lines go to stderr either way); otherwise a summary.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn console(settings: Settings, args: ConsoleBenchArgs) -> anyhow::Result<()> {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    crate::telemetry::init(&log);
    anyhow::ensure!(
        (1..=100_000).contains(&args.clients),
        "--clients must be between 1 and 100000"
    );
    anyhow::ensure!(args.pods <= 1_000_000, "--pods must be at most 1000000");
    anyhow::ensure!(
        args.churn > 0.0 && args.churn <= 1000.0,
        "--churn must be above 0 and at most 1000"
    );
    let options = ConsoleBenchOptions {
        database: args.database,
        clients: args.clients,
        listen: std::time::Duration::from_secs(args.listen.clamp(1, 600)),
        inventory: (args.pods > 0).then(|| crate::bench::InventoryChurn {
            pods: args.pods,
            churn: args.churn,
            seconds: std::time::Duration::from_secs(args.churn_seconds.clamp(1, 3600)),
        }),
        via_web: args.via_web,
    };
    let system = actix_rt::System::new();
    let report = system.block_on(run_console_bench(options))?;
    if args.json {
        print_report(&report, true)
    } else {
        print!("{}", console_summary(&report));
        Ok(())
    }
}

fn print_report(report: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}
