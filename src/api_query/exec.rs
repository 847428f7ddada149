//! Runs built statements: binds the values in order and reads the counts and the
//! page's rows (JSON made by the database, so the columns asked for are the only
//! ones read and no Rust struct per collection is needed).

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool, Double, Text, Timestamp};

use std::collections::HashMap;
use std::sync::Mutex;

use super::sql::{Bind, Built, IDS, STAMP};
use crate::db::{DbConnection, DbError};

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    matched: i64,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    row: String,
}

/// What one request read.
#[derive(Debug)]
pub struct Page {
    /// Rows visible to the caller (before the filter).
    pub total: i64,
    /// Rows matching the filter.
    pub matched: i64,
    /// The page, as JSON objects.
    pub rows: Vec<serde_json::Value>,
}

macro_rules! bound {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for bind in $binds {
            q = match bind {
                Bind::Text(v) => q.bind::<Text, _>(v.clone()),
                Bind::Int(v) => q.bind::<BigInt, _>(*v),
                Bind::Float(v) => q.bind::<Double, _>(*v),
                Bind::Bool(v) => q.bind::<Bool, _>(*v),
                Bind::Time(v) => q.bind::<Timestamp, _>(*v),
            };
        }
        q
    }};
}

#[derive(QueryableByName)]
struct CountsAndIds {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    matched: i64,
    #[diesel(sql_type = Text)]
    ids: String,
}

#[derive(QueryableByName)]
struct StampedIds {
    #[diesel(sql_type = BigInt)]
    stamp: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    total: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    matched: Option<i64>,
    #[diesel(sql_type = Text)]
    ids: String,
}

/// Counts of filtered lists by statement and binds, each with the change stamp it was
/// counted at (PostgreSQL): paging through a filter's matches counts them once, not on
/// every page, until something the lists read is written. One per node's API; bounded
/// (emptied when full).
#[derive(Debug, Default)]
pub struct CountCache {
    entries: Mutex<HashMap<String, Counted>>,
}

/// Counts and the stamp they were taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counted {
    stamp: i64,
    total: i64,
    matched: i64,
}

impl CountCache {
    /// Entries kept before the cache is emptied.
    const CAPACITY: usize = 1024;

    fn get(&self, key: &str) -> Option<Counted> {
        self.entries.lock().ok()?.get(key).copied()
    }

    fn put(&self, key: String, counted: Counted) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::CAPACITY && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(key, counted);
        }
    }
}

/// An answer of the database that is not what the statement produces (a 500).
fn malformed(what: String) -> DbError {
    DbError::Query(diesel::result::Error::DeserializationError(what.into()))
}

/// Runs `sql` with `binds` on either backend, loading `T`s.
fn load<T>(conn: &mut DbConnection, sql: &str, binds: &[Bind]) -> Result<Vec<T>, DbError>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    Ok(match conn {
        DbConnection::Postgresql(pg) => {
            bound!(diesel::sql_query(sql).into_boxed(), binds).load::<T>(pg)?
        }
        DbConnection::Sqlite(lite) => {
            bound!(diesel::sql_query(sql).into_boxed(), binds).load::<T>(lite)?
        }
    })
}

/// The rows of the page whose ids the database listed (comma-separated).
fn render(conn: &mut DbConnection, built: &Built, ids: &str) -> Result<Vec<Row>, DbError> {
    // Ids the database produced, checked to be integers before they are spliced.
    let ids: Vec<i64> = ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|e| malformed(format!("page ids: {e}")))?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    load::<Row>(conn, &built.render_sql.replace(IDS, &list), &[])
}

/// The counts and the page's ids of a filtered list on PostgreSQL, counting only when
/// the change stamp moved since `cache` last counted the same statement and binds.
fn stamped(
    conn: &mut DbConnection,
    built: &Built,
    sql: &str,
    cache: &CountCache,
) -> Result<(Counts, String), DbError> {
    let key = format!("{}\u{0}{:?}", built.count_key, built.binds);
    let known = cache.get(&key);
    let stamp = known.map_or(-1, |k| k.stamp);
    let found = load::<StampedIds>(conn, &sql.replace(STAMP, &stamp.to_string()), &built.binds)?
        .pop()
        .ok_or_else(|| malformed("the count returned no row".into()))?;
    let counted = match (found.total, found.matched, known) {
        (Some(total), Some(matched), _) => {
            let counted = Counted {
                stamp: found.stamp,
                total,
                matched,
            };
            cache.put(key, counted);
            counted
        }
        // Not counted: the stamp is the one the cached counts were taken at.
        (None, None, Some(known)) if known.stamp == found.stamp => known,
        _ => return Err(malformed("the counts are missing".into())),
    };
    Ok((
        Counts {
            total: counted.total,
            matched: counted.matched,
        },
        found.ids,
    ))
}

/// Runs the count (unless `count` is `None`) and the page statements of `built`: with
/// a filter, the counts and the page's ids come from one statement (on PostgreSQL
/// counting only when the data changed since `count`'s cache counted) and the page's
/// JSON from a second; without, the counts and the page are a statement each.
pub fn run(
    conn: &mut DbConnection,
    built: &Built,
    count: Option<&CountCache>,
) -> Result<Page, DbError> {
    let (counts, rows) = match (&built.stamped_sql, &built.filtered_sql, count) {
        (Some(sql), _, Some(cache)) => {
            let (counts, ids) = stamped(conn, built, sql, cache)?;
            (Some(counts), render(conn, built, &ids)?)
        }
        (_, Some(sql), Some(_)) => {
            let found = load::<CountsAndIds>(conn, sql, &built.binds)?
                .pop()
                .ok_or_else(|| malformed("the count returned no row".into()))?;
            let counts = Counts {
                total: found.total,
                matched: found.matched,
            };
            (Some(counts), render(conn, built, &found.ids)?)
        }
        _ => {
            let counts = if count.is_some() {
                load::<Counts>(conn, &built.count_sql, &built.binds)?.pop()
            } else {
                None
            };
            (counts, load::<Row>(conn, &built.page_sql, &built.binds)?)
        }
    };
    let rows = rows
        .into_iter()
        .map(|r| serde_json::from_str(&r.row).unwrap_or(serde_json::Value::Null))
        .collect::<Vec<_>>();
    let (total, matched) = counts.map_or((rows.len() as i64, rows.len() as i64), |c| {
        (c.total, c.matched)
    });
    Ok(Page {
        total,
        matched,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::{CountCache, Counted};

    #[test]
    fn the_count_cache_is_bounded_and_keeps_the_latest_counts() {
        let cache = CountCache::default();
        let counted = |stamp| Counted {
            stamp,
            total: 10,
            matched: 3,
        };
        cache.put("a".into(), counted(1));
        cache.put("a".into(), counted(2));
        assert_eq!(cache.get("a"), Some(counted(2)));
        assert_eq!(cache.get("b"), None);
        for i in 0..CountCache::CAPACITY {
            cache.put(format!("k{i}"), counted(1));
        }
        let held = cache.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(held <= CountCache::CAPACITY, "{held}");
        assert_eq!(cache.get("a"), None, "emptied when full");
    }
}
