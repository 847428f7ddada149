//! The `steward` command line. Every subcommand takes `--settings FILE` and reads the
//! same layered settings; a settings problem exits with code 2 and one line.

mod bench;
mod keys;
mod metrics;
mod migrate;
mod provider;
mod queue;
mod region_db;
mod settings_check;
mod simulate;
mod start;
mod status;
mod table;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::settings::Settings;

/// Steward: a manager of managers for people who run many clusters.
#[derive(Debug, Parser)]
#[command(name = "steward", version, about, long_about = None)]
pub struct Cli {
    /// The node's settings file (YAML), layered over the built-in defaults;
    /// STEWARD__SECTION__KEY environment variables override both.
    #[arg(long, global = true, value_name = "FILE", env = "STEWARD_SETTINGS")]
    pub settings: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a node: register this server, run its roles, serve the API.
    Start {
        /// Also simulate a cluster in-process and register it as the provider `demo`.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations (start does this too) and exit.
    Migrate,
    /// Print the region: zones, servers, heartbeats, memory, CPU and roles.
    Status {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Inspect settings.
    Settings {
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// Measure this machine: end-to-end benchmarks printed as JSON.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Manage providers (Kubernetes and OpenShift clusters).
    Provider {
        #[command(subcommand)]
        command: provider::ProviderCommand,
    },
    /// Capacity & utilization: backfill a time range, health, retention.
    Metrics {
        #[command(subcommand)]
        command: metrics::MetricsCommand,
    },
    /// Serve a simulated Kubernetes cluster (API, watches, Prometheus) for tests and demos.
    Simulate(Box<simulate::SimulateArgs>),
    /// The exec credential plugin of `simulate --tls` (prints an ExecCredential).
    #[command(hide = true)]
    SimCredential(simulate::SimCredentialArgs),
    /// Manage the region's users: add, passwd, list, remove.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// The region's credential keys: list, add, rotate (online), generate.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Inspect the message queue, or put a message on it.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Queue throughput and latency: burn-down, sustained, unsaturated.
    Queue(Box<bench::QueueBenchArgs>),
    /// Inventory refresh against a simulated cluster: full, no-change, watch latency.
    Refresh(Box<bench::RefreshBenchArgs>),
    /// C&U against a simulated cluster's Prometheus: captures/s, rows/s, rollups, backlog.
    Metrics(Box<bench::MetricsBenchArgs>),
    /// A node on a churning simulated cluster for N minutes: RSS over time and its slope.
    Soak(Box<bench::SoakBenchArgs>),
    /// The REST API over a seeded inventory: /ping throughput, filtered and RBAC-limited
    /// pages, pages of 1,000, statements per page, the node's peak RSS.
    Api(Box<bench::ApiBenchArgs>),
    /// The live feed: websocket clients one node holds, its RSS, the fan-out delay.
    Console(Box<bench::ConsoleBenchArgs>),
    /// Events: catcher-to-database throughput, a storm's memory and its effect on
    /// another provider, alert ingest.
    Events(Box<bench::EventsBenchArgs>),
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Counts by state, zone and role (the seed's log_system_status).
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put one message; prints its id.
    Put(Box<queue::PutArgs>),
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Validate the settings and print the effective values, secrets masked.
    Check,
}

/// Exit code for bad settings (and bad command-line usage, as clap does).
pub const EXIT_SETTINGS: u8 = 2;

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.settings.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_SETTINGS);
        }
    };
    let result = match cli.command {
        Command::Start { demo } => return start::run(settings, demo),
        Command::Migrate => migrate::run(settings),
        Command::Status { json } => status::run(settings, json),
        Command::Settings {
            command: SettingsCommand::Check,
        } => settings_check::run(&settings),
        Command::Bench {
            command: BenchCommand::Queue(args),
        } => bench::queue(settings, *args),
        Command::Bench {
            command: BenchCommand::Refresh(args),
        } => bench::refresh(settings, *args),
        Command::Bench {
            command: BenchCommand::Metrics(args),
        } => bench::metrics(settings, *args),
        Command::Bench {
            command: BenchCommand::Soak(args),
        } => bench::soak(settings, *args),
        Command::Bench {
            command: BenchCommand::Api(args),
        } => bench::api(settings, *args),
        Command::Bench {
            command: BenchCommand::Console(args),
        } => bench::console(settings, *args),
        Command::Bench {
            command: BenchCommand::Events(args),
        } => bench::events(settings, *args),
        Command::Provider { command } => provider::run(settings, command),
        Command::User { command } => user::run(settings, command),
        Command::Keys { command } => keys::run(settings, command),
        Command::Simulate(args) => simulate::run(settings, *args),
        Command::SimCredential(args) => simulate::credential(args),
        Command::Metrics { command } => metrics::run(settings, command),
        Command::Queue {
            command: QueueCommand::Stats { json },
        } => queue::stats(settings, json),
        Command::Queue {
            command: QueueCommand::Put(args),
        } => queue::put_message(settings, *args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
