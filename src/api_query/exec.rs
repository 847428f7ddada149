//! Runs built statements: binds the values in order and reads the counts and the
//! page's rows (JSON made by the database, so the columns asked for are the only
//! ones read and no Rust struct per collection is needed).

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool, Double, Text, Timestamp};

use super::sql::{Bind, Built};
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

/// Runs the count (unless `count` is false) and the page statements of `built`.
pub fn run(conn: &mut DbConnection, built: &Built, count: bool) -> Result<Page, DbError> {
    let (counts, rows): (Option<Counts>, Vec<Row>) = match conn {
        DbConnection::Postgresql(pg) => {
            let counts = if count {
                Some(
                    bound!(
                        diesel::sql_query(&built.count_sql).into_boxed(),
                        &built.binds
                    )
                    .get_result::<Counts>(pg)?,
                )
            } else {
                None
            };
            let rows = bound!(
                diesel::sql_query(&built.page_sql).into_boxed(),
                &built.binds
            )
            .load::<Row>(pg)?;
            (counts, rows)
        }
        DbConnection::Sqlite(lite) => {
            let counts = if count {
                Some(
                    bound!(
                        diesel::sql_query(&built.count_sql).into_boxed(),
                        &built.binds
                    )
                    .get_result::<Counts>(lite)?,
                )
            } else {
                None
            };
            let rows = bound!(
                diesel::sql_query(&built.page_sql).into_boxed(),
                &built.binds
            )
            .load::<Row>(lite)?;
            (counts, rows)
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
