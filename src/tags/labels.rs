//! Kubernetes labels as tags (ManageIQ's ContainerLabelTagMapping): a mapping names
//! a label and a category; every value the label takes on objects of the mapped
//! collection (or of every labelled collection) becomes a tag of that category, and
//! the objects are tagged with it. Kept in step after every save of a provider's
//! inventory, in three set-based statements per mapping and collection (create the
//! tags, drop the taggings whose label changed, add the missing ones).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;

use super::check_name;
use super::store::category_id;
use crate::api_query::COLLECTIONS;
use crate::db::schema::{categories, label_tag_mappings};
use crate::db::{DbConnection, DbError, db_now};

/// A mapping as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MappingView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub label_name: String,
    /// The collection it applies to; empty = every collection with labels.
    pub collection: String,
    pub category: String,
    #[serde(serialize_with = "crate::json::utc")]
    pub created_on: NaiveDateTime,
}

/// Checks a label name (Kubernetes: an optional DNS prefix and `/`, then 1–63 of
/// alphanumerics, `-`, `_`, `.`).
pub fn check_label_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 317
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a Kubernetes label name",
            crate::text::truncate(name, 60)
        ))
    }
}

/// Collections with labels.
fn labelled() -> impl Iterator<Item = &'static str> {
    COLLECTIONS.iter().filter(|c| c.labels).map(|c| c.name)
}

/// Adds a mapping; the category is created when missing.
pub fn create_mapping(
    conn: &mut DbConnection,
    label_name: &str,
    collection: &str,
    category: &str,
) -> Result<MappingView, DbError> {
    check_label_name(label_name).map_err(DbError::Invalid)?;
    check_name("a category", category).map_err(DbError::Invalid)?;
    if !collection.is_empty() && !labelled().any(|c| c == collection) {
        return Err(DbError::Invalid(format!(
            "`{}` is not a collection with labels ({})",
            crate::text::truncate(collection, 60),
            labelled().collect::<Vec<_>>().join(", ")
        )));
    }
    let category_id = category_id(conn, category, true)?
        .ok_or_else(|| DbError::Task("category not created".into()))?;
    let now = db_now(conn)?;
    let id: i64 = diesel::insert_into(label_tag_mappings::table)
        .values((
            label_tag_mappings::label_name.eq(label_name),
            label_tag_mappings::collection.eq(collection),
            label_tag_mappings::category_id.eq(category_id),
            label_tag_mappings::created_on.eq(now),
        ))
        .returning(label_tag_mappings::id)
        .get_result(conn)
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => DbError::Conflict(format!("label `{label_name}` is already mapped here")),
            e => e.into(),
        })?;
    list_mappings(conn)?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| DbError::NotFound(format!("mapping {id}")))
}

pub fn list_mappings(conn: &mut DbConnection) -> Result<Vec<MappingView>, DbError> {
    let rows: Vec<(i64, String, String, String, NaiveDateTime)> = label_tag_mappings::table
        .inner_join(categories::table)
        .select((
            label_tag_mappings::id,
            label_tag_mappings::label_name,
            label_tag_mappings::collection,
            categories::name,
            label_tag_mappings::created_on,
        ))
        .order(label_tag_mappings::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, label_name, collection, category, created_on)| MappingView {
                id,
                label_name,
                collection,
                category,
                created_on,
            },
        )
        .collect())
}

/// Removes a mapping and the taggings it made.
pub fn delete_mapping(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    let mapping = list_mappings(conn)?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| DbError::NotFound(format!("mapping {id}")))?;
    diesel::delete(label_tag_mappings::table.find(id)).execute(conn)?;
    let category = category_id(conn, &mapping.category, false)?;
    if let Some(category) = category {
        for collection in targets(&mapping.collection) {
            diesel::sql_query(format!(
                "DELETE FROM taggings WHERE source = 'label' AND taggable_type = '{collection}' \
                 AND tag_id IN (SELECT id FROM tags WHERE category_id = {category})"
            ))
            .execute(conn)?;
        }
    }
    Ok(())
}

fn targets(collection: &str) -> Vec<&'static str> {
    labelled()
        .filter(|c| collection.is_empty() || *c == collection)
        .collect()
}

/// Brings the label taggings of `provider`'s objects in step with their labels.
pub fn sync_provider(conn: &mut DbConnection, provider: i64) -> Result<(), DbError> {
    let mappings: Vec<(String, String, i64)> = label_tag_mappings::table
        .select((
            label_tag_mappings::label_name,
            label_tag_mappings::collection,
            label_tag_mappings::category_id,
        ))
        .load(conn)?;
    if mappings.is_empty() {
        return Ok(());
    }
    let now = db_now(conn)?;
    for (label, collection, category) in mappings {
        for table in targets(&collection) {
            sync_one(conn, table, &label, category, provider, now)?;
        }
    }
    Ok(())
}

/// The three statements for one mapping on one table. `table` comes from the
/// catalogue, never from input; label, category and provider are parameters.
fn sync_one(
    conn: &mut DbConnection,
    table: &str,
    label: &str,
    category: i64,
    provider: i64,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let stamp = now.format("%Y-%m-%d %H:%M:%S").to_string();
    match conn {
        DbConnection::Postgresql(pg) => {
            let value = "(t.labels_jsonb ->> $1)";
            diesel::sql_query(format!(
                "INSERT INTO tags (category_id, name, description, created_on) \
                 SELECT DISTINCT $2, {value}, '', CAST($4 AS TIMESTAMP) FROM {table} t \
                 WHERE t.provider_id = $3 AND t.deleted_on IS NULL AND {value} IS NOT NULL \
                 ON CONFLICT (category_id, name) DO NOTHING"
            ))
            .bind::<Text, _>(label)
            .bind::<BigInt, _>(category)
            .bind::<BigInt, _>(provider)
            .bind::<Text, _>(&stamp)
            .execute(pg)?;
            diesel::sql_query(format!(
                "DELETE FROM taggings g USING tags x WHERE g.tag_id = x.id AND x.category_id = $2 \
                 AND g.source = 'label' AND g.taggable_type = '{table}' \
                 AND g.taggable_id IN (SELECT id FROM {table} WHERE provider_id = $3) \
                 AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = g.taggable_id \
                 AND t.deleted_on IS NULL AND {value} = x.name)"
            ))
            .bind::<Text, _>(label)
            .bind::<BigInt, _>(category)
            .bind::<BigInt, _>(provider)
            .execute(pg)?;
            diesel::sql_query(format!(
                "INSERT INTO taggings (tag_id, taggable_type, taggable_id, source) \
                 SELECT x.id, '{table}', t.id, 'label' FROM {table} t \
                 JOIN tags x ON x.category_id = $2 AND x.name = {value} \
                 WHERE t.provider_id = $3 AND t.deleted_on IS NULL \
                 ON CONFLICT DO NOTHING"
            ))
            .bind::<Text, _>(label)
            .bind::<BigInt, _>(category)
            .bind::<BigInt, _>(provider)
            .execute(pg)?;
        }
        DbConnection::Sqlite(lite) => {
            let path = format!("$.\"{}\"", label.replace('"', "\\\""));
            let value = "json_extract(t.labels, ?1)";
            diesel::sql_query(format!(
                "INSERT OR IGNORE INTO tags (category_id, name, description, created_on) \
                 SELECT DISTINCT ?2, {value}, '', ?4 FROM {table} t \
                 WHERE t.provider_id = ?3 AND t.deleted_on IS NULL AND {value} IS NOT NULL"
            ))
            .bind::<Text, _>(&path)
            .bind::<BigInt, _>(category)
            .bind::<BigInt, _>(provider)
            .bind::<Text, _>(&stamp)
            .execute(lite)?;
            diesel::sql_query(format!(
                "DELETE FROM taggings WHERE source = 'label' AND taggable_type = '{table}' \
                 AND tag_id IN (SELECT id FROM tags WHERE category_id = ?2) \
                 AND taggable_id IN (SELECT id FROM {table} WHERE provider_id = ?3) \
                 AND NOT EXISTS (SELECT 1 FROM {table} t JOIN tags x ON x.id = taggings.tag_id \
                 WHERE t.id = taggings.taggable_id AND t.deleted_on IS NULL AND {value} = x.name)"
            ))
            .bind::<Text, _>(&path)
            .bind::<BigInt, _>(category)
            .bind::<BigInt, _>(provider)
            .execute(lite)?;
            diesel::sql_query(format!(
                "INSERT OR IGNORE INTO taggings (tag_id, taggable_type, taggable_id, source) \
                 SELECT x.id, '{table}', t.id, 'label' FROM {table} t \
                 JOIN tags x ON x.category_id = ?2 AND x.name = {value} \
                 WHERE t.provider_id = ?3 AND t.deleted_on IS NULL"
            ))
            .bind::<Text, _>(&path)
            .bind::<BigInt, _>(category)
            .bind::<BigInt, _>(provider)
            .execute(lite)?;
        }
    }
    Ok(())
}
