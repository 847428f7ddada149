//! Region-encoded ids: `id = region × 10^12 + n`. Every table's id sequence starts at
//! its region's base, so rows of two regions never clash when merged into a global
//! region. Tables are found from the catalogue of the database itself, so a table a
//! later migration adds is aligned without anyone having to list it.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::DbConnection;
use super::error::DbError;

/// Ids of region `r` are `r × REGION_FACTOR + n`.
pub const REGION_FACTOR: i64 = 1_000_000_000_000;

/// The region an id belongs to.
pub fn region_of(id: i64) -> i64 {
    id / REGION_FACTOR
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct LastValue {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// Moves every id sequence that is below `region × 10^12` up to it. Idempotent.
pub fn align_sequences(conn: &mut DbConnection, region: i64) -> Result<(), DbError> {
    let base = region * REGION_FACTOR;
    match conn {
        DbConnection::Postgresql(pg) => {
            let sequences: Vec<Name> = diesel::sql_query(
                "SELECT sequencename AS name FROM pg_sequences WHERE schemaname = current_schema()",
            )
            .load(pg)?;
            for seq in sequences {
                let quoted = format!("\"{}\"", seq.name.replace('"', "\"\""));
                let last: LastValue = diesel::sql_query(format!(
                    "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS value FROM {quoted}"
                ))
                .get_result(pg)?;
                if last.value < base {
                    diesel::sql_query(format!("SELECT setval('{quoted}', {}, false)", base + 1))
                        .execute(pg)?;
                }
            }
        }
        DbConnection::Sqlite(lite) => {
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'",
            )
            .load(lite)?;
            for table in tables {
                let current: Vec<LastValue> =
                    diesel::sql_query("SELECT seq AS value FROM sqlite_sequence WHERE name = ?")
                        .bind::<Text, _>(&table.name)
                        .load(lite)?;
                match current.first() {
                    None => {
                        diesel::sql_query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)")
                            .bind::<Text, _>(&table.name)
                            .bind::<BigInt, _>(base)
                            .execute(lite)?;
                    }
                    Some(last) if last.value < base => {
                        diesel::sql_query("UPDATE sqlite_sequence SET seq = ? WHERE name = ?")
                            .bind::<BigInt, _>(base)
                            .bind::<Text, _>(&table.name)
                            .execute(lite)?;
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_recovered_from_an_id() {
        assert_eq!(region_of(7 * REGION_FACTOR + 42), 7);
        assert_eq!(region_of(41), 0);
        assert_eq!(region_of(999 * REGION_FACTOR + REGION_FACTOR - 1), 999);
    }
}
