//! Checking a user id and password: the lock, the argon2 verification (on a blocking
//! thread, with a decoy hash for unknown users so both take as long), and the
//! bookkeeping of failures.

use chrono::NaiveDateTime;
use secrecy::SecretString;

use super::directory::{login_record, record_failed_login, record_login};
use super::secret::{decoy_hash, verify_password};
use crate::db::{Db, DbError};

/// How a login ended, when it did not succeed.
#[derive(Debug)]
pub enum LoginError {
    /// Unknown user or wrong password (the caller is not told which).
    BadCredentials,
    /// Too many failures: locked until then.
    Locked(NaiveDateTime),
    Db(DbError),
}

impl From<DbError> for LoginError {
    fn from(e: DbError) -> Self {
        LoginError::Db(e)
    }
}

/// Lockout policy (ManageIQ: 3 failures, 2 minutes).
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lockout: std::time::Duration,
}

/// Checks `userid`/`password`; the user's id on success.
pub async fn check_password(
    db: &Db,
    userid: &str,
    password: SecretString,
    policy: LockoutPolicy,
) -> Result<i64, LoginError> {
    let wanted = userid.to_string();
    let record = db.run(move |conn| login_record(conn, &wanted)).await?;
    let hash = record
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| LoginError::Db(DbError::Task(e.to_string())))?;
    let Some(record) = record else {
        return Err(LoginError::BadCredentials);
    };
    let now = db.run(crate::db::db_now).await?;
    if let Some(until) = record.locked_until
        && until > now
    {
        return Err(LoginError::Locked(until));
    }
    let id = record.id;
    if matches {
        db.run(move |conn| record_login(conn, id)).await?;
        return Ok(id);
    }
    let locked = db
        .run(move |conn| record_failed_login(conn, id, policy.max_failures, policy.lockout))
        .await?;
    match locked {
        Some(until) => Err(LoginError::Locked(until)),
        None => Err(LoginError::BadCredentials),
    }
}
