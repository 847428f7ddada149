//! Database errors, split the way callers need them: unreachable (retry with backoff)
//! versus everything else.

use thiserror::Error;

/// What went wrong talking to the region database.
#[derive(Debug, Error)]
pub enum DbError {
    /// No connection could be had within the connect timeout.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// A statement failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database belongs to another region than this node's settings say.
    #[error(
        "the database belongs to region {database}, but server.region is {settings}: a database holds exactly one region"
    )]
    RegionMismatch { database: i64, settings: i64 },
    /// A row the caller relies on does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The blocking task running the statement died.
    #[error("database task failed: {0}")]
    Task(String),
}

impl DbError {
    /// Whether trying again later may succeed (the database or the connection went away).
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Unreachable(_) => true,
            DbError::Query(Error::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    DatabaseErrorKind::ClosedConnection
                        | DatabaseErrorKind::UnableToSendCommand
                        | DatabaseErrorKind::SerializationFailure
                )
                // PostgreSQL's deadlock (40P01) reaches diesel as an unknown kind; the
                // transaction was rolled back and trying again is the remedy.
                    || info.message().contains("deadlock detected")
            }
            DbError::Query(Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Unreachable(e.to_string())
    }
}
