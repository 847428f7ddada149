//! Runs built statements: binds the values in order and reads the counts and the
//! page's rows (JSON made by the database, so the columns asked for are the only
//! ones read and no Rust struct per collection is needed).

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool, Double, Text, Timestamp};

use super::sql::{Bind, Built, IDS};
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

/// Runs the count (unless `count` is false) and the page statements of `built`: with a
/// filter, the counts and the page's ids come from one statement and the page's JSON
/// from a second; without, the counts and the page are a statement each.
pub fn run(conn: &mut DbConnection, built: &Built, count: bool) -> Result<Page, DbError> {
    let (counts, rows) = match (&built.filtered_sql, count) {
        (Some(sql), true) => {
            let found = load::<CountsAndIds>(conn, sql, &built.binds)?
                .pop()
                .ok_or_else(|| malformed("the count returned no row".into()))?;
            // Ids the database produced, checked to be integers before they are spliced.
            let ids: Vec<i64> = found
                .ids
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim().parse::<i64>())
                .collect::<Result<_, _>>()
                .map_err(|e| malformed(format!("page ids: {e}")))?;
            let rows = if ids.is_empty() {
                Vec::new()
            } else {
                let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                load::<Row>(conn, &built.render_sql.replace(IDS, &list), &[])?
            };
            (
                Some(Counts {
                    total: found.total,
                    matched: found.matched,
                }),
                rows,
            )
        }
        _ => {
            let counts = if count {
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
