//! Embedded migrations (one folder per backend), the region record, id sequences and
//! the seed rows every region has (the `default` zone, the role catalogue). Run at
//! start and by `steward migrate`; safe to run from several nodes at once.

use chrono::Utc;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::error::DbError;
use super::schema::{regions, server_roles, zones};
use super::{DbConnection, ids};
use crate::roles::CATALOGUE;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Lock key for `pg_advisory_lock` so that nodes starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x0053_5445_5741_5244; // "STEWARD"

/// What `migrate` did.
#[derive(Debug, Clone)]
pub struct MigrationReport {
    /// Versions applied by this run (empty if the schema was current).
    pub applied: Vec<String>,
    /// The region the database holds.
    pub region: i64,
}

/// Applies pending migrations, checks or records the region, aligns id sequences and
/// seeds the catalogue.
pub fn migrate(conn: &mut DbConnection, region: i64) -> Result<MigrationReport, DbError> {
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(pg)?;
    }
    let result = migrate_locked(conn, region);
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(pg)?;
    }
    result
}

fn migrate_locked(conn: &mut DbConnection, region: i64) -> Result<MigrationReport, DbError> {
    let applied = match conn {
        DbConnection::Postgresql(pg) => pg.run_pending_migrations(POSTGRES),
        DbConnection::Sqlite(lite) => lite.run_pending_migrations(SQLITE),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?
    .into_iter()
    .map(|v| v.to_string())
    .collect();

    super::write_transaction(conn, |conn| {
        let existing: Option<i32> = regions::table
            .select(regions::region)
            .order(regions::id)
            .first(conn)
            .optional()?;
        if let Some(database) = existing
            && i64::from(database) != region
        {
            return Err(DbError::RegionMismatch {
                database: database.into(),
                settings: region,
            });
        }
        ids::align_sequences(conn, region)?;
        let now = Utc::now().naive_utc();
        if existing.is_none() {
            diesel::insert_into(regions::table)
                .values((
                    regions::region.eq(region as i32),
                    regions::guid.eq(uuid::Uuid::new_v4().to_string()),
                    regions::description.eq(format!("Region {region}")),
                    regions::created_on.eq(now),
                ))
                .execute(conn)?;
        }
        ensure_zone(conn, "default", "Default Zone")?;
        seed_roles(conn)?;
        Ok(())
    })?;

    Ok(MigrationReport { applied, region })
}

/// Creates zone `name` unless it exists; returns its id.
pub fn ensure_zone(conn: &mut DbConnection, name: &str, description: &str) -> Result<i64, DbError> {
    if let Some(id) = zones::table
        .filter(zones::name.eq(name))
        .select(zones::id)
        .first(conn)
        .optional()?
    {
        return Ok(id);
    }
    // Two nodes may race to create the same zone: the unique index decides, and
    // the loser reads the winner's row.
    let inserted = diesel::insert_into(zones::table)
        .values((
            zones::name.eq(name),
            zones::description.eq(description),
            zones::created_on.eq(Utc::now().naive_utc()),
        ))
        .execute(conn);
    if let Err(e) = inserted
        && !matches!(
            e,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            )
        )
    {
        return Err(e.into());
    }
    Ok(zones::table
        .filter(zones::name.eq(name))
        .select(zones::id)
        .first(conn)?)
}

/// Makes `server_roles` match the catalogue compiled into this binary.
fn seed_roles(conn: &mut DbConnection) -> Result<(), DbError> {
    for spec in CATALOGUE {
        let updated = diesel::update(server_roles::table.filter(server_roles::name.eq(spec.name)))
            .set((
                server_roles::description.eq(spec.description),
                server_roles::scope.eq(spec.scope.as_str()),
                server_roles::max_concurrent.eq(spec.max_concurrent),
            ))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(server_roles::table)
                .values((
                    server_roles::name.eq(spec.name),
                    server_roles::description.eq(spec.description),
                    server_roles::scope.eq(spec.scope.as_str()),
                    server_roles::max_concurrent.eq(spec.max_concurrent),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}
