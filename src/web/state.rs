//! What every request handler can reach.

use std::sync::Arc;

use crate::db::Db;
use crate::queue::NodeQueueStats;
use crate::queue::QueueClient;
use crate::queue::handlers::HandlerRegistry;

/// Shared, cheap-to-clone state of the web surface.
#[derive(Clone)]
pub struct AppState {
    /// The region database; reads go straight to it.
    pub db: Db,
    /// This server's id.
    pub server_id: i64,
    /// Puts messages (and wakes this node's dispatcher).
    pub queue: QueueClient,
    /// The commands this node can run, to refuse unknown ones at the door.
    pub handlers: Arc<HandlerRegistry>,
    /// This node's queue counters and latencies.
    pub node_stats: Arc<NodeQueueStats>,
    /// Encrypts provider credentials.
    pub keys: crate::crypto::KeyRing,
    pub settings: Arc<crate::settings::Settings>,
    /// Told when providers come and go, so refresh workers follow at once.
    pub refresh: crate::refresh::RefreshHandle,
    /// Requests answered, for `/metrics`.
    pub request_counts: Arc<super::RequestCounts>,
    /// Recently seen tokens and their holders.
    pub token_cache: Arc<super::TokenCache>,
    /// The live feed served at `/ws`.
    pub hub: Arc<crate::live::Hub>,
    /// Counts of filtered lists by change stamp (PostgreSQL).
    pub count_cache: Arc<crate::api_query::exec::CountCache>,
    /// Failed logins per peer address.
    pub login_throttle: Arc<super::LoginThrottle>,
    /// `<web.external_url>/api`: the root of every href (never the request's Host).
    pub api_base: Arc<str>,
    /// Where the live feed's own listener is reached (`GET /api`, the console's CSP).
    pub live_feed: Arc<super::LiveFeedAddress>,
}

impl AppState {
    /// Refuses what belongs to a server role this node does not run (`roles.enabled`):
    /// the console is the `user_interface` role's, `/ws` the `websocket` role's.
    pub fn require_role(&self, role: &str) -> Result<(), super::ApiError> {
        if self.settings.roles.enabled.iter().any(|r| r == role) {
            Ok(())
        } else {
            Err(super::ApiError::NotFound(format!(
                "this node does not run the `{role}` role (roles.enabled); use another node of the region"
            )))
        }
    }
}
