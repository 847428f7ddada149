//! The region's credential key. The first node to start records its key's id and check
//! value; from then on every node and every CLI command that writes credentials checks
//! that its key is that one, and stops with an error naming both ids otherwise — instead
//! of encrypting with a second key that no other node can read.

use diesel::prelude::*;

use crate::crypto::KeyRing;
use crate::db::schema::{providers, region_keys};
use crate::db::{DbConnection, DbError, db_now, lock_region, write_transaction};

/// Why this key may not be used with this region.
#[derive(Debug, thiserror::Error)]
pub enum RegionKeyError {
    #[error(
        "the region's credentials are encrypted with key {region}, but {origin} holds key {ours}: every node and the command line need the region's key (copy server.key_file from a node, or set {env})",
        env = crate::crypto::KEY_ENV
    )]
    Mismatch {
        region: String,
        ours: String,
        origin: String,
    },
    #[error(
        "the region holds credentials that key {ours} ({origin}) cannot decrypt: start with the key they were written with"
    )]
    Undecryptable { ours: String, origin: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Checks `keys` against the region's record, recording it when there is none yet
/// (after checking that it decrypts the credentials already stored, if any).
pub fn ensure_region_key(conn: &mut DbConnection, keys: &KeyRing) -> Result<(), RegionKeyError> {
    let source = keys.source().display().to_string();
    write_transaction(conn, |conn| {
        lock_region(conn)?;
        let recorded: Option<(String, String)> = region_keys::table
            .select((region_keys::key_id, region_keys::check_value))
            .order(region_keys::id)
            .first(conn)
            .optional()?;
        if let Some((key_id, check)) = recorded {
            return Ok(if check == keys.check_value() {
                Ok(())
            } else {
                Err(RegionKeyError::Mismatch {
                    region: key_id,
                    ours: keys.id().to_string(),
                    origin: source.clone(),
                })
            });
        }
        let stored: Vec<(String, String)> = providers::table
            .select((providers::credentials, providers::prometheus_credentials))
            .load(conn)?;
        let unreadable = stored
            .iter()
            .flat_map(|(a, b)| [a, b])
            .filter(|c| !c.is_empty())
            .any(|c| keys.decrypt(c).is_err());
        if unreadable {
            return Ok(Err(RegionKeyError::Undecryptable {
                ours: keys.id().to_string(),
                origin: source.clone(),
            }));
        }
        let now = db_now(conn)?;
        diesel::insert_into(region_keys::table)
            .values((
                region_keys::key_id.eq(keys.id()),
                region_keys::check_value.eq(keys.check_value()),
                region_keys::created_on.eq(now),
            ))
            .execute(conn)?;
        tracing::info!(key_id = keys.id(), "recorded the region's credential key");
        Ok(Ok(()))
    })?
}
