//! Categories, tags and taggings in the region database.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{TagRef, check_name};
use crate::db::schema::{categories, taggings, tags};
use crate::db::{DbConnection, DbError, db_now};

/// A category as the API shows it.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct CategoryView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub name: String,
    pub description: String,
    pub single_value: bool,
    #[serde(serialize_with = "crate::json::utc")]
    pub created_on: NaiveDateTime,
}

/// A tag as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TagView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    /// `/managed/category/name`.
    pub name: String,
    pub category: String,
    pub tag: String,
    pub description: String,
}

fn unique_to_conflict(what: String) -> impl FnOnce(diesel::result::Error) -> DbError {
    move |e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => DbError::Conflict(format!("{what} already exists")),
        e => e.into(),
    }
}

pub fn create_category(
    conn: &mut DbConnection,
    name: &str,
    description: &str,
    single_value: bool,
) -> Result<CategoryView, DbError> {
    check_name("a category", name).map_err(DbError::Invalid)?;
    let now = db_now(conn)?;
    let id: i64 = diesel::insert_into(categories::table)
        .values((
            categories::name.eq(name),
            categories::description.eq(crate::text::truncate(description, 500)),
            categories::single_value.eq(single_value),
            categories::created_on.eq(now),
        ))
        .returning(categories::id)
        .get_result(conn)
        .map_err(unique_to_conflict(format!("category `{name}`")))?;
    find_category(conn, id)
}

pub fn find_category(conn: &mut DbConnection, id: i64) -> Result<CategoryView, DbError> {
    categories::table
        .find(id)
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("category {id}")))
}

pub fn list_categories(conn: &mut DbConnection) -> Result<Vec<CategoryView>, DbError> {
    Ok(categories::table.order(categories::name).load(conn)?)
}

pub fn delete_category(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    let n = diesel::delete(categories::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("category {id}")));
    }
    Ok(())
}

/// The id of category `name`, created when `create` and missing.
pub fn category_id(
    conn: &mut DbConnection,
    name: &str,
    create: bool,
) -> Result<Option<i64>, DbError> {
    let found = categories::table
        .filter(categories::name.eq(name))
        .select(categories::id)
        .first::<i64>(conn)
        .optional()?;
    match (found, create) {
        (Some(id), _) => Ok(Some(id)),
        (None, false) => Ok(None),
        (None, true) => Ok(Some(create_category(conn, name, "", false)?.id)),
    }
}

pub fn create_tag(
    conn: &mut DbConnection,
    category_id: i64,
    name: &str,
    description: &str,
) -> Result<TagView, DbError> {
    check_name("a tag", name).map_err(DbError::Invalid)?;
    find_category(conn, category_id)?;
    let now = db_now(conn)?;
    let id: i64 = diesel::insert_into(tags::table)
        .values((
            tags::category_id.eq(category_id),
            tags::name.eq(name),
            tags::description.eq(crate::text::truncate(description, 500)),
            tags::created_on.eq(now),
        ))
        .returning(tags::id)
        .get_result(conn)
        .map_err(unique_to_conflict(format!("tag `{name}`")))?;
    find_tag(conn, id)
}

type TagRow = (i64, String, String, String);

fn tag_views(rows: Vec<TagRow>) -> Vec<TagView> {
    rows.into_iter()
        .map(|(id, tag, description, category)| TagView {
            id,
            name: format!("/managed/{category}/{tag}"),
            category,
            tag,
            description,
        })
        .collect()
}

fn tag_columns() -> (tags::id, tags::name, tags::description, categories::name) {
    (tags::id, tags::name, tags::description, categories::name)
}

pub fn find_tag(conn: &mut DbConnection, id: i64) -> Result<TagView, DbError> {
    let rows: Vec<TagRow> = tags::table
        .inner_join(categories::table)
        .filter(tags::id.eq(id))
        .select(tag_columns())
        .load(conn)?;
    tag_views(rows)
        .pop()
        .ok_or_else(|| DbError::NotFound(format!("tag {id}")))
}

/// Tags, of one category or all.
pub fn list_tags(conn: &mut DbConnection, category: Option<i64>) -> Result<Vec<TagView>, DbError> {
    let mut q = tags::table
        .inner_join(categories::table)
        .select(tag_columns())
        .order((categories::name, tags::name))
        .into_boxed();
    if let Some(c) = category {
        q = q.filter(tags::category_id.eq(c));
    }
    Ok(tag_views(q.load(conn)?))
}

pub fn delete_tag(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    let n = diesel::delete(tags::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("tag {id}")));
    }
    Ok(())
}

/// The id of tag `t`; None when it does not exist.
pub fn tag_id(conn: &mut DbConnection, t: &TagRef) -> Result<Option<i64>, DbError> {
    Ok(tags::table
        .inner_join(categories::table)
        .filter(categories::name.eq(&t.category))
        .filter(tags::name.eq(&t.name))
        .select(tags::id)
        .first(conn)
        .optional()?)
}

/// Tags object `collection/id` with `t` (idempotent). A single-value category keeps
/// one tag per object: assigning replaces the other.
pub fn assign(
    conn: &mut DbConnection,
    collection: &str,
    id: i64,
    t: &TagRef,
) -> Result<TagView, DbError> {
    let tag =
        tag_id(conn, t)?.ok_or_else(|| DbError::Invalid(format!("no tag {}", t.full_name())))?;
    crate::db::write_transaction(conn, |conn| {
        let single: bool = categories::table
            .filter(categories::name.eq(&t.category))
            .select(categories::single_value)
            .first(conn)?;
        if single {
            let siblings = tags::table
                .inner_join(categories::table)
                .filter(categories::name.eq(&t.category))
                .select(tags::id);
            diesel::delete(
                taggings::table
                    .filter(taggings::taggable_type.eq(collection))
                    .filter(taggings::taggable_id.eq(id))
                    .filter(taggings::tag_id.eq_any(siblings)),
            )
            .execute(conn)?;
        }
        let exists = taggings::table
            .filter(taggings::tag_id.eq(tag))
            .filter(taggings::taggable_type.eq(collection))
            .filter(taggings::taggable_id.eq(id))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if !exists {
            diesel::insert_into(taggings::table)
                .values((
                    taggings::tag_id.eq(tag),
                    taggings::taggable_type.eq(collection),
                    taggings::taggable_id.eq(id),
                    taggings::source.eq("manual"),
                ))
                .execute(conn)?;
        }
        Ok(())
    })?;
    find_tag(conn, tag)
}

/// Removes tag `t` from `collection/id`; whether it was there.
pub fn unassign(
    conn: &mut DbConnection,
    collection: &str,
    id: i64,
    t: &TagRef,
) -> Result<bool, DbError> {
    let Some(tag) = tag_id(conn, t)? else {
        return Ok(false);
    };
    let n = diesel::delete(
        taggings::table
            .filter(taggings::tag_id.eq(tag))
            .filter(taggings::taggable_type.eq(collection))
            .filter(taggings::taggable_id.eq(id)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// The tags of `collection/id`.
pub fn tags_of(
    conn: &mut DbConnection,
    collection: &str,
    id: i64,
) -> Result<Vec<TagView>, DbError> {
    let rows: Vec<TagRow> = taggings::table
        .inner_join(tags::table.inner_join(categories::table))
        .filter(taggings::taggable_type.eq(collection))
        .filter(taggings::taggable_id.eq(id))
        .select(tag_columns())
        .order((categories::name, tags::name))
        .load(conn)?;
    Ok(tag_views(rows))
}
