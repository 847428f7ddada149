//! Database errors, split the way callers need them: unreachable (retry with backoff)
//! versus everything else.

use thiserror::Error;

/// What went wrong talking to the region database.
#[derive(Debug, Error)]
pub enum DbError {
    /// No connection could be had within the connect timeout.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// The database answered and refused us (authentication, no such database or
    /// role, an SQLite file that cannot be opened): waiting will not help.
    #[error("database refused the connection: {0}")]
    Refused(String),
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
    /// The caller's input was refused before reaching the database (a 400 at the API).
    #[error("{0}")]
    Invalid(String),
    /// The write clashes with what exists (a 409 at the API), e.g. a name taken.
    #[error("{0}")]
    Conflict(String),
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

/// Whether a failed connection attempt was refused by a server that is up (wrong
/// password, unknown database or role, not allowed by pg_hba.conf), as opposed to a
/// server that is down or unreachable. libpq only says so in words.
pub fn is_refusal(message: &str) -> bool {
    const REFUSALS: [&str; 6] = [
        "password authentication failed",
        "authentication failed",
        "does not exist",
        "no pg_hba.conf entry",
        "permission denied",
        "no password supplied",
    ];
    REFUSALS.iter().any(|r| message.contains(r))
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Unreachable(e.to_string())
    }
}
