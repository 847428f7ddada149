//! The region's credential keys. The first node to start records its key's id and check
//! value; from then on every node and every CLI command that writes credentials checks
//! that it holds the region's *current* key, and stops with an error naming the ids
//! otherwise — instead of encrypting with a key no other node can read.
//!
//! `steward keys rotate` makes another key current (recorded in the same transaction
//! that retires the old one, under the region lock that every credential write also
//! takes, so no value is sealed with the old key after it) and then re-seals every
//! stored credential with it, row by row, each a compare-and-swap on the old value so a
//! concurrent edit is never overwritten. A node start finishes what an interrupted
//! rotation left, and upgrades legacy `v2` values the same way.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::crypto::{Binding, KeyRing, key_id_of};
use crate::db::schema::{providers, region_keys};
use crate::db::{
    DbConnection, DbError, db_now, lock_region, write_transaction, write_transaction_with,
};

/// The encrypted columns of the providers table.
pub const SEALED_COLUMNS: [&str; 2] = ["credentials", "prometheus_credentials"];

/// Where a provider's credential column is sealed to.
pub fn provider_binding(column: &'static str, id: i64) -> Binding<'static> {
    Binding::new("providers", column, id)
}

/// Why this key ring may not be used with this region.
#[derive(Debug, thiserror::Error)]
pub enum RegionKeyError {
    #[error(
        "the region's credentials are encrypted with key {region}, but {origin} holds {ours}: every node and the command line need the region's key (copy server.key_file from a node, or set {env})",
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
    #[error("{0}")]
    Rotate(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A key the region has used.
#[derive(Debug, Clone, Serialize)]
pub struct RegionKey {
    pub key_id: String,
    pub current: bool,
    pub created_on: NaiveDateTime,
    pub retired_on: Option<NaiveDateTime>,
}

fn current(conn: &mut DbConnection) -> Result<Option<(String, String)>, DbError> {
    Ok(region_keys::table
        .filter(region_keys::retired_on.is_null())
        .select((region_keys::key_id, region_keys::check_value))
        .order(region_keys::id.desc())
        .first(conn)
        .optional()?)
}

fn ring_ids(keys: &KeyRing) -> String {
    let ids = keys.ids();
    match ids.as_slice() {
        [one] => format!("key {one}"),
        many => format!("keys {}", many.join(", ")),
    }
}

/// Checks `keys` against the region's record, recording the ring's first key when there
/// is none yet (after checking that it decrypts the credentials already stored, if
/// any), and makes the region's current key the ring's sealing key.
pub fn ensure_region_key(conn: &mut DbConnection, keys: &KeyRing) -> Result<(), RegionKeyError> {
    write_transaction_with(conn, |conn| prepare_to_seal(conn, keys))
}

/// [`ensure_region_key`] inside a write's own transaction, before it seals a value:
/// takes the region lock and makes sure the ring seals with the region's current key
/// (re-reading the key file once if a rotation made a key current that this process
/// has not loaded yet).
pub fn prepare_to_seal(conn: &mut DbConnection, keys: &KeyRing) -> Result<(), RegionKeyError> {
    let source = keys.source().display().to_string();
    lock_region(conn)?;
    if let Some((key_id, check)) = current(conn)? {
        let usable =
            keys.use_for_sealing(&check) || (keys.reload().is_ok() && keys.use_for_sealing(&check));
        return if usable {
            Ok(())
        } else {
            Err(RegionKeyError::Mismatch {
                region: key_id,
                ours: ring_ids(keys),
                origin: source,
            })
        };
    }
    let unreadable = sealed_values(conn)?
        .iter()
        .any(|v| keys.open(&v.stored, v.binding()).is_err());
    if unreadable {
        return Err(RegionKeyError::Undecryptable {
            ours: ring_ids(keys),
            origin: source,
        });
    }
    let now = db_now(conn)?;
    diesel::insert_into(region_keys::table)
        .values((
            region_keys::key_id.eq(keys.id()),
            region_keys::check_value.eq(keys.check_value()),
            region_keys::created_on.eq(now),
        ))
        .execute(conn)
        .map_err(DbError::from)?;
    tracing::info!(key_id = keys.id(), "recorded the region's credential key");
    Ok(())
}

/// One stored credential.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub provider: i64,
    pub column: &'static str,
    pub stored: String,
}

impl SealedValue {
    pub fn binding(&self) -> Binding<'static> {
        provider_binding(self.column, self.provider)
    }
}

/// Every non-empty stored credential of the region.
pub fn sealed_values(conn: &mut DbConnection) -> Result<Vec<SealedValue>, DbError> {
    let rows: Vec<(i64, String, String)> = providers::table
        .select((
            providers::id,
            providers::credentials,
            providers::prometheus_credentials,
        ))
        .order(providers::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .flat_map(|(id, a, b)| {
            [(SEALED_COLUMNS[0], a), (SEALED_COLUMNS[1], b)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(move |(column, stored)| SealedValue {
                    provider: id,
                    column,
                    stored,
                })
        })
        .collect())
}

/// What a re-sealing pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ResealReport {
    /// Values now sealed with the current key that were not.
    pub resealed: usize,
    /// Values already sealed with it.
    pub current: usize,
    /// Values this ring cannot open (left as they are), with why.
    pub unreadable: Vec<String>,
}

/// Re-seals every stored credential that is not sealed with the ring's sealing key
/// (legacy `v2` values included). Each value is replaced only if it is still the one
/// read (a concurrent edit wins and is re-read on the next pass).
pub fn reseal_stale(conn: &mut DbConnection, keys: &KeyRing) -> Result<ResealReport, DbError> {
    let mut report = ResealReport::default();
    for _pass in 0..5 {
        let mut raced = false;
        report.current = 0;
        report.unreadable.clear();
        for value in sealed_values(conn)? {
            if keys.is_current(&value.stored) {
                report.current += 1;
                continue;
            }
            let plain = match keys.open(&value.stored, value.binding()) {
                Ok(plain) => plain,
                Err(e) => {
                    report
                        .unreadable
                        .push(format!("provider {} {}: {e}", value.provider, value.column));
                    continue;
                }
            };
            let sealed = keys
                .seal(plain.expose(), value.binding())
                .map_err(|e| DbError::Task(e.to_string()))?;
            let changed = swap(conn, &value, &sealed)?;
            if changed {
                report.resealed += 1;
                report.current += 1;
            } else {
                raced = true;
            }
        }
        if !raced {
            break;
        }
    }
    Ok(report)
}

/// Replaces `value` by `sealed` if the column still holds `value`.
fn swap(conn: &mut DbConnection, value: &SealedValue, sealed: &str) -> Result<bool, DbError> {
    let n = match value.column {
        "credentials" => diesel::update(
            providers::table
                .filter(providers::id.eq(value.provider))
                .filter(providers::credentials.eq(&value.stored)),
        )
        .set(providers::credentials.eq(sealed))
        .execute(conn)?,
        _ => diesel::update(
            providers::table
                .filter(providers::id.eq(value.provider))
                .filter(providers::prometheus_credentials.eq(&value.stored)),
        )
        .set(providers::prometheus_credentials.eq(sealed))
        .execute(conn)?,
    };
    Ok(n == 1)
}

/// Makes the ring's key with id `key_id` the region's current key (retiring the one
/// before it), then re-seals every credential with it.
pub fn rotate_to(
    conn: &mut DbConnection,
    keys: &KeyRing,
    key_id: &str,
) -> Result<ResealReport, RegionKeyError> {
    let Some(info) = keys.keys().into_iter().find(|k| k.id == key_id) else {
        return Err(RegionKeyError::Rotate(format!(
            "{} does not hold key {key_id} ({})",
            keys.source().display(),
            ring_ids(keys)
        )));
    };
    // The ring must hold the current key too, or the values sealed with it are lost.
    ensure_region_key(conn, keys)?;
    write_transaction(conn, |c| {
        lock_region(c)?;
        let now = db_now(c)?;
        let already = current(c)?.is_some_and(|(_, check)| check == info.check);
        if !already {
            diesel::update(region_keys::table.filter(region_keys::retired_on.is_null()))
                .set(region_keys::retired_on.eq(Some(now)))
                .execute(c)?;
            diesel::insert_into(region_keys::table)
                .values((
                    region_keys::key_id.eq(&info.id),
                    region_keys::check_value.eq(&info.check),
                    region_keys::created_on.eq(now),
                ))
                .execute(c)?;
        }
        Ok(())
    })?;
    if !keys.use_for_sealing(&info.check) {
        return Err(RegionKeyError::Rotate(format!(
            "key {key_id} vanished from the ring"
        )));
    }
    tracing::info!(key_id, "made the region's current credential key");
    Ok(reseal_stale(conn, keys)?)
}

/// The keys the region has recorded, newest first.
pub fn region_keys(conn: &mut DbConnection) -> Result<Vec<RegionKey>, DbError> {
    let rows: Vec<(String, NaiveDateTime, Option<NaiveDateTime>)> = region_keys::table
        .select((
            region_keys::key_id,
            region_keys::created_on,
            region_keys::retired_on,
        ))
        .order(region_keys::id.desc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key_id, created_on, retired_on)| RegionKey {
            current: retired_on.is_none(),
            key_id,
            created_on,
            retired_on,
        })
        .collect())
}

/// How many stored credentials each key seals (`v2` for legacy values).
pub fn values_per_key(conn: &mut DbConnection) -> Result<Vec<(String, usize)>, DbError> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for value in sealed_values(conn)? {
        let key = key_id_of(&value.stored).unwrap_or("v2").to_string();
        *counts.entry(key).or_default() += 1;
    }
    Ok(counts.into_iter().collect())
}
