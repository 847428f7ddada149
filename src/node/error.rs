//! Errors that stop a node from starting or running.

use std::path::PathBuf;

use thiserror::Error;

use crate::db::DbError;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error(
        "another steward node (pid {pid}) is already running with data directory {path}; give each node its own server.data_dir"
    )]
    AlreadyRunning { path: PathBuf, pid: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("demo: cannot register the demo provider: {0}")]
    Demo(String),
    /// The source is part of the message (and not chained), so it prints once.
    #[error("{what}: cannot listen on {addr}: {source}")]
    Listen {
        /// Which listener: the web server, or the live feed's.
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}; stopped the node")]
    ComponentFailed(crate::supervision::Fatal),
    /// This node's credential key is not the region's.
    #[error("{0}")]
    Key(String),
}

impl NodeError {
    /// The process exit code for this error (documented in the README):
    /// 3 the web port cannot be bound, 4 the data directory is unusable or taken (or
    /// the credential key is not the region's),
    /// 5 the database refused us (authentication, unknown database, wrong region,
    /// an SQLite file that cannot be opened), 6 a component kept failing, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            NodeError::Listen { .. } => 3,
            NodeError::DataDir { .. } | NodeError::AlreadyRunning { .. } | NodeError::Key(_) => 4,
            NodeError::Db(_) => 5,
            NodeError::ComponentFailed(_) => 6,
            NodeError::Demo(_) => 1,
        }
    }
}
