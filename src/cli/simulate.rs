//! `steward simulate`: serve a simulated cluster until SIGINT/SIGTERM.

use std::net::SocketAddr;

use clap::Args;

use crate::settings::Settings;
use crate::simulator::{self, Flavor, SimulatorConfig};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to serve on (port 0 picks a free one; the log line tells which).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 20)]
    pub pods_per_node: usize,
    /// Random changes per second (pods created, deleted, restarting; nodes flapping).
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// Seed of the generated cluster: the same seed gives the same names and uids.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// `kubernetes`, or `openshift` (adds image.openshift.io images).
    #[arg(long, value_enum, default_value_t = Flavor::Kubernetes)]
    pub flavor: Flavor,
    /// Require `Authorization: Bearer TOKEN` on every API request.
    #[arg(long)]
    pub token: Option<String>,
    /// Changes kept for resuming watches; older versions get 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    pub watch_history: usize,
    /// Events the cluster holds; older ones are deleted, as their TTL would
    /// (a real API server keeps them an hour).
    #[arg(long, default_value_t = 5_000)]
    pub events_kept: usize,
    /// How often watches that asked for bookmarks get one (`30s`, `1m`).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub bookmark_interval: std::time::Duration,
    /// Serve HTTPS with a generated CA and require authentication; writes the CA, the
    /// client credentials and one kubeconfig per authentication mode to --tls-dir.
    #[arg(long)]
    pub tls: bool,
    /// Where --tls writes its files.
    #[arg(long, default_value = "sim-tls")]
    pub tls_dir: std::path::PathBuf,
    /// Lifetime of the tokens the exec plugin and the OIDC issuer give out.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub token_ttl: std::time::Duration,
}

/// `steward sim-credential`: the exec credential plugin of `simulate --tls`.
#[derive(Debug, Args)]
pub struct SimCredentialArgs {
    /// The simulator's `secret` file.
    #[arg(long)]
    pub secret_file: std::path::PathBuf,
    /// How long the credential is valid.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
}

pub(super) fn credential(args: SimCredentialArgs) -> anyhow::Result<()> {
    println!(
        "{}",
        simulator::access::exec_credential(&args.secret_file, args.ttl)?
    );
    Ok(())
}

pub(super) fn run(settings: Settings, args: SimulateArgs) -> anyhow::Result<()> {
    crate::telemetry::init(&settings.log);
    if !args.churn.is_finite() || args.churn < 0.0 {
        anyhow::bail!("--churn must be a non-negative number of changes per second");
    }
    let config = SimulatorConfig {
        nodes: args.nodes,
        pods_per_node: args.pods_per_node,
        churn_per_sec: args.churn,
        seed: args.seed,
        flavor: args.flavor,
        token: args.token,
        tls: if args.tls {
            Some(simulator::access::TlsOptions {
                dir: args.tls_dir.clone(),
                token_ttl: args.token_ttl.max(std::time::Duration::from_secs(1)),
                exec_command: std::env::current_exe()?,
            })
        } else {
            None
        },
        watch_history: args.watch_history,
        events_kept: args.events_kept,
        bookmark_interval: args
            .bookmark_interval
            .max(std::time::Duration::from_millis(100)),
    };
    let system = actix_rt::System::new();
    system.block_on(async move {
        let mut stop = crate::node::StopSignal::install()?;
        let started = std::time::Instant::now();
        let sim = simulator::start(args.listen, config)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        tracing::info!(
            nodes = args.nodes,
            pods = args.nodes * args.pods_per_node,
            generated_s = started.elapsed().as_secs_f64(),
            "simulator listening on {}",
            sim.url()
        );
        let signal = stop.recv().await;
        tracing::info!(signal, "simulator stopping");
        sim.stop().await;
        Ok(())
    })
}
