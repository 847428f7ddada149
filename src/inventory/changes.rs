//! The inventory's change log: what each save step created, updated and marked deleted,
//! one row per step and collection (`inventory_changes`), written in the step's own
//! transaction so that a row exists exactly when the change it names is committed. On
//! PostgreSQL the same transaction sends `NOTIFY steward_inventory` (delivered at
//! commit), which wakes every node's live feed; the feed also polls, so a lost
//! notification only delays it.
//!
//! Why a table and not the NOTIFY payload alone: a payload is capped at 8,000 bytes and
//! is lost by a node whose listening connection is down, while a row can be read again
//! (the feed looks back a window of ids, because ids are taken before commit and may
//! commit out of order) and holds up to [`MAX_LOGGED`] ids. Rows older than the
//! retention are purged by [`purge`].

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::inventory_changes as ic;
use crate::db::{DbConnection, DbError};

/// The NOTIFY channel of the change log (PostgreSQL).
pub const NOTIFY_CHANNEL: &str = crate::db::INVENTORY_CHANNEL;

/// Most ids a row lists; a step that changed more records only its counts (the feed
/// then tells its clients to reload).
pub const MAX_LOGGED: usize = 10_000;

/// What one save step did to one collection, by row id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepChanges {
    /// Rows the collection did not hold, or held as deleted (back to life).
    pub created: Vec<i64>,
    pub updated: Vec<i64>,
    /// Rows marked deleted.
    pub deleted: Vec<i64>,
}

impl StepChanges {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

/// What a step records: the ids, or only the counts of a step too large to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    Listed(StepChanges),
    Counted {
        created: usize,
        updated: usize,
        deleted: usize,
    },
}

impl Logged {
    /// What a step that created, updated and deleted these many rows records: ids up
    /// to [`MAX_LOGGED`] in all (`list` supplies them), counts beyond.
    pub fn of<E>(
        created: usize,
        updated: usize,
        deleted: usize,
        list: impl FnOnce() -> Result<StepChanges, E>,
    ) -> Result<Logged, E> {
        if created + updated + deleted > MAX_LOGGED {
            Ok(Logged::Counted {
                created,
                updated,
                deleted,
            })
        } else {
            list().map(Logged::Listed)
        }
    }
}

/// One row of the change log, as read back.
#[derive(Debug, Clone, Queryable)]
pub struct ChangeRow {
    pub id: i64,
    pub provider_id: i64,
    /// The API collection (`container_groups`, `container_projects`…).
    pub collection: String,
    pub num_created: i64,
    pub num_updated: i64,
    pub num_deleted: i64,
    pub created_ids: String,
    pub updated_ids: String,
    pub deleted_ids: String,
    pub created_on: NaiveDateTime,
}

impl ChangeRow {
    /// Whether the row lists every id it counts.
    pub fn complete(&self) -> bool {
        let listed = |s: &str| s.split(',').filter(|p| !p.is_empty()).count() as i64;
        listed(&self.created_ids) == self.num_created
            && listed(&self.updated_ids) == self.num_updated
            && listed(&self.deleted_ids) == self.num_deleted
    }

    /// The ids listed, by action (those that do not parse are skipped: the column is
    /// ours, but it is read from the database).
    pub fn listed(&self) -> StepChanges {
        let parse = |s: &str| -> Vec<i64> {
            s.split(',')
                .filter_map(|p| p.trim().parse::<i64>().ok())
                .collect()
        };
        StepChanges {
            created: parse(&self.created_ids),
            updated: parse(&self.updated_ids),
            deleted: parse(&self.deleted_ids),
        }
    }
}

fn joined(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records what a step did to `collection` of `provider` (nothing when it did nothing),
/// inside the caller's transaction.
pub fn record(
    conn: &mut DbConnection,
    provider: i64,
    collection: &str,
    logged: &Logged,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let (counts, lists) = match logged {
        Logged::Listed(c) if c.is_empty() => return Ok(()),
        Logged::Listed(c) => (
            (c.created.len(), c.updated.len(), c.deleted.len()),
            (joined(&c.created), joined(&c.updated), joined(&c.deleted)),
        ),
        Logged::Counted {
            created,
            updated,
            deleted,
        } => (
            (*created, *updated, *deleted),
            (String::new(), String::new(), String::new()),
        ),
    };
    diesel::insert_into(ic::table)
        .values((
            ic::provider_id.eq(provider),
            ic::collection.eq(collection),
            ic::num_created.eq(count(counts.0)),
            ic::num_updated.eq(count(counts.1)),
            ic::num_deleted.eq(count(counts.2)),
            ic::created_ids.eq(lists.0),
            ic::updated_ids.eq(lists.1),
            ic::deleted_ids.eq(lists.2),
            ic::created_on.eq(now),
        ))
        .execute(conn)?;
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, '')")
            .bind::<diesel::sql_types::Text, _>(NOTIFY_CHANNEL)
            .execute(pg)?;
    }
    Ok(())
}

/// The newest row's id (None: the log is empty).
pub fn newest_change_id(conn: &mut DbConnection) -> Result<Option<i64>, DbError> {
    Ok(ic::table
        .select(diesel::dsl::max(ic::id))
        .first::<Option<i64>>(conn)?)
}

/// Rows with an id above `floor` or among `also` (ids skipped earlier, perhaps not
/// committed then), oldest first, at most `limit`.
pub fn changes_after(
    conn: &mut DbConnection,
    floor: i64,
    also: &[i64],
    limit: i64,
) -> Result<Vec<ChangeRow>, DbError> {
    Ok(ic::table
        .filter(ic::id.gt(floor).or(ic::id.eq_any(also)))
        .order(ic::id.asc())
        .limit(limit)
        .load(conn)?)
}

/// Deletes rows recorded before `before`; answers how many.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(ic::table.filter(ic::created_on.lt(before))).execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(created: &str, num_created: i64) -> ChangeRow {
        ChangeRow {
            id: 1,
            provider_id: 1,
            collection: "container_groups".into(),
            num_created,
            num_updated: 0,
            num_deleted: 0,
            created_ids: created.into(),
            updated_ids: String::new(),
            deleted_ids: String::new(),
            created_on: chrono::DateTime::UNIX_EPOCH.naive_utc(),
        }
    }

    #[test]
    fn a_row_is_complete_when_it_lists_every_id_it_counts() {
        assert!(row("1,2,3", 3).complete());
        assert_eq!(row("1,2,3", 3).listed().created, vec![1, 2, 3]);
        assert!(!row("", 20_000).complete(), "counts only");
        assert_eq!(joined(&[4, 5]), "4,5");
        let huge = Logged::of(MAX_LOGGED, 1, 0, || -> Result<_, ()> {
            panic!("not listed")
        });
        assert_eq!(
            huge,
            Ok(Logged::Counted {
                created: MAX_LOGGED,
                updated: 1,
                deleted: 0
            })
        );
        let small = Logged::of(1, 0, 0, || -> Result<_, ()> {
            Ok(StepChanges {
                created: vec![7],
                ..StepChanges::default()
            })
        });
        assert!(matches!(small, Ok(Logged::Listed(c)) if c.created == vec![7]));
    }
}
