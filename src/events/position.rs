//! Where each provider's event catcher resumes (`event_positions`), with its counters.

use diesel::prelude::*;

use crate::db::schema::event_positions as ep;
use crate::db::{DbConnection, DbError};
use crate::with_backend;

/// A catcher's place in its cluster's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Empty: nothing saved (or the history is gone) — the catcher lists first.
    pub resource_version: String,
    pub events_caught: i64,
    pub events_folded: i64,
    pub relists: i64,
}

#[derive(Queryable, Insertable, AsChangeset)]
#[diesel(table_name = ep)]
struct Row {
    provider_id: i64,
    resource_version: String,
    server_guid: String,
    events_caught: i64,
    events_folded: i64,
    relists: i64,
    updated_on: chrono::NaiveDateTime,
}

/// The saved position of `provider_id`'s catcher, if any.
pub fn load_position(
    conn: &mut DbConnection,
    provider_id: i64,
) -> Result<Option<Position>, DbError> {
    let row: Option<Row> = with_backend!(conn, c => ep::table
        .filter(ep::provider_id.eq(provider_id))
        .first::<Row>(c)
        .optional())?;
    Ok(row.map(|r| Position {
        resource_version: r.resource_version,
        events_caught: r.events_caught,
        events_folded: r.events_folded,
        relists: r.relists,
    }))
}

/// Saves `position` as `provider_id`'s, written by server `guid`.
pub fn save_position(
    conn: &mut DbConnection,
    provider_id: i64,
    guid: &str,
    position: &Position,
) -> Result<(), DbError> {
    let row = Row {
        provider_id,
        resource_version: position.resource_version.clone(),
        server_guid: guid.to_string(),
        events_caught: position.events_caught,
        events_folded: position.events_folded,
        relists: position.relists,
        updated_on: crate::clock::now(),
    };
    with_backend!(conn, c => diesel::insert_into(ep::table)
        .values(&row)
        .on_conflict(ep::provider_id)
        .do_update()
        .set(&row)
        .execute(c))?;
    Ok(())
}
