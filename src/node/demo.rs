//! `steward start --demo`: a simulated cluster started in-process and registered as
//! the provider `demo`, so a fresh node shows a live, changing inventory at once.
//! On every start the simulator gets a free port and the `demo` provider follows it.

use crate::crypto::KeyRing;
use crate::db::{Db, DbConnection, DbError};
use crate::providers::{
    ProviderError, ProviderInput, insert_provider, list_providers, set_provider_endpoint,
};
use crate::simulator::{self, RunningSimulator, SimulatorConfig};

use super::NodeError;

/// The provider the demo registers.
pub const DEMO_PROVIDER: &str = "demo";

/// The demo cluster: 5 nodes, 100 pods, a change every half second. The simulator
/// runs inside the node, so its memory is the node's: its watch history keeps 1,000
/// changes (about four minutes of this churn, close to etcd's five) rather than the
/// default 10,000, which alone would grow the demo node by tens of MB over its
/// first hour.
pub fn demo_config() -> SimulatorConfig {
    SimulatorConfig {
        nodes: 5,
        pods_per_node: 20,
        churn_per_sec: 2.0,
        seed: 42,
        watch_history: 1_000,
        ..SimulatorConfig::default()
    }
}

/// Starts the simulator and points the `demo` provider of `zone` at it.
pub async fn start_demo(
    db: &Db,
    keys: &KeyRing,
    zone: &str,
) -> Result<RunningSimulator, NodeError> {
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = simulator::start(listen, demo_config()).map_err(|source| NodeError::Listen {
        what: "demo simulator",
        addr: "127.0.0.1:0".into(),
        source,
    })?;
    let url = sim.url();
    let (keys, zone, endpoint) = (keys.clone(), zone.to_string(), url.clone());
    db.run(move |c| register(c, &endpoint, &keys, &zone))
        .await?
        .map_err(NodeError::Demo)?;
    tracing::info!(%url, provider = DEMO_PROVIDER, "demo cluster simulated at {url}");
    Ok(sim)
}

/// Adds the `demo` provider, or points it at `url`; the inner error is a provider the
/// database refused (a zone that does not exist, say).
fn register(
    conn: &mut DbConnection,
    url: &str,
    keys: &KeyRing,
    zone: &str,
) -> Result<Result<(), String>, DbError> {
    let existing = list_providers(conn)?
        .into_iter()
        .find(|(p, _)| p.name == DEMO_PROVIDER);
    if let Some((p, _)) = existing {
        return set_provider_endpoint(conn, p.id, url, url).map(Ok);
    }
    let input = ProviderInput {
        name: DEMO_PROVIDER.into(),
        provider_type: "kubernetes".into(),
        zone: Some(zone.to_string()),
        api_url: Some(url.to_string()),
        prometheus_url: Some(url.to_string()),
        // The simulator serves plain http on the loopback.
        allow_insecure_http: Some(true),
        ..ProviderInput::default()
    };
    let valid = match input.validate(&crate::settings::ProviderSettings::default()) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e.to_string())),
    };
    match insert_provider(conn, &valid, keys, None) {
        Ok(_) => Ok(Ok(())),
        Err(ProviderError::Db(e)) => Err(e),
        Err(other) => Ok(Err(other.to_string())),
    }
}
