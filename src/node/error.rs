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
    #[error("web server: cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}
