//! What every request handler can reach.

use crate::db::Db;

/// Shared, cheap-to-clone state of the web surface.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The region database; reads go straight to it.
    pub db: Db,
    /// This server's id.
    pub server_id: i64,
}
