//! Tenants, user roles and groups: what `/api/tenants`, `/api/roles`, `/api/groups`
//! and `/api/features` read and write. Built-in roles and groups (read-only) cannot
//! be changed or removed; a tenant with children, groups or providers cannot be
//! removed; a group filter is validated before it is stored.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::directory::MAX_NAME_CHARS;
use super::features::Feature;
use super::identity::GroupFilters;
use crate::db::schema::{
    providers, tenants, user_group_memberships, user_groups, user_role_features, user_roles,
};
use crate::db::{DbConnection, DbError, db_now, write_transaction};

fn check_name(what: &str, name: &str) -> Result<(), DbError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(DbError::Invalid(format!(
            "a {what} name must be 1-{MAX_NAME_CHARS} characters without control characters"
        )))
    }
}

fn conflict(what: String) -> impl FnOnce(diesel::result::Error) -> DbError {
    move |e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => DbError::Conflict(format!("{what} already exists")),
        e => e.into(),
    }
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct TenantView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub name: String,
    pub description: String,
    #[serde(serialize_with = "crate::json::id_opt")]
    pub parent_id: Option<i64>,
    #[serde(serialize_with = "crate::json::utc")]
    pub created_on: NaiveDateTime,
}

pub fn list_tenants(conn: &mut DbConnection) -> Result<Vec<TenantView>, DbError> {
    Ok(tenants::table.order(tenants::id).load(conn)?)
}

pub fn find_tenant(conn: &mut DbConnection, id: i64) -> Result<TenantView, DbError> {
    tenants::table
        .find(id)
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("tenant {id}")))
}

/// Creates a tenant below `parent` (the root when None).
pub fn create_tenant(
    conn: &mut DbConnection,
    name: &str,
    description: &str,
    parent: Option<i64>,
) -> Result<TenantView, DbError> {
    check_name("tenant", name)?;
    let parent = match parent {
        Some(p) => {
            find_tenant(conn, p)
                .map_err(|_| DbError::Invalid(format!("no parent tenant {p}")))?
                .id
        }
        None => tenants::table
            .filter(tenants::parent_id.is_null())
            .select(tenants::id)
            .first(conn)?,
    };
    let now = db_now(conn)?;
    let id: i64 = diesel::insert_into(tenants::table)
        .values((
            tenants::name.eq(name),
            tenants::description.eq(crate::text::truncate(description, 500)),
            tenants::parent_id.eq(Some(parent)),
            tenants::created_on.eq(now),
        ))
        .returning(tenants::id)
        .get_result(conn)
        .map_err(conflict(format!("tenant `{name}` under tenant {parent}")))?;
    find_tenant(conn, id)
}

/// Removes a tenant that has no children, groups or providers.
pub fn delete_tenant(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        let tenant = find_tenant(conn, id)?;
        if tenant.parent_id.is_none() {
            return Err(DbError::Conflict(
                "the root tenant cannot be removed".into(),
            ));
        }
        let children: i64 = tenants::table
            .filter(tenants::parent_id.eq(id))
            .count()
            .get_result(conn)?;
        let groups: i64 = user_groups::table
            .filter(user_groups::tenant_id.eq(id))
            .count()
            .get_result(conn)?;
        let owned: i64 = providers::table
            .filter(providers::tenant_id.eq(id))
            .count()
            .get_result(conn)?;
        if children + groups + owned > 0 {
            return Err(DbError::Conflict(format!(
                "tenant {id} still has {children} tenant(s), {groups} group(s) and {owned} provider(s)"
            )));
        }
        diesel::delete(tenants::table.find(id)).execute(conn)?;
        Ok(())
    })
}

/// A user role with its features.
#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub name: String,
    pub read_only: bool,
    pub features: Vec<String>,
}

pub fn list_roles(conn: &mut DbConnection) -> Result<Vec<RoleView>, DbError> {
    let roles: Vec<(i64, String, bool)> = user_roles::table
        .select((user_roles::id, user_roles::name, user_roles::read_only))
        .order(user_roles::name)
        .load(conn)?;
    let features: Vec<(i64, String)> = user_role_features::table
        .select((user_role_features::role_id, user_role_features::feature))
        .order(user_role_features::feature)
        .load(conn)?;
    Ok(roles
        .into_iter()
        .map(|(id, name, read_only)| RoleView {
            id,
            name,
            read_only,
            features: features
                .iter()
                .filter(|f| f.0 == id)
                .map(|f| f.1.clone())
                .collect(),
        })
        .collect())
}

pub fn find_role(conn: &mut DbConnection, id: i64) -> Result<RoleView, DbError> {
    list_roles(conn)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| DbError::NotFound(format!("role {id}")))
}

/// Creates a role bundling `features` (identifiers of the catalogue).
pub fn create_role(
    conn: &mut DbConnection,
    name: &str,
    features: &[String],
) -> Result<RoleView, DbError> {
    check_name("role", name)?;
    let mut wanted = BTreeSet::new();
    for f in features {
        let feature = Feature::from_identifier(f).ok_or_else(|| {
            DbError::Invalid(format!(
                "no feature `{}` (see /api/features)",
                crate::text::truncate(f, 60)
            ))
        })?;
        wanted.insert(feature);
    }
    let id = write_transaction(conn, |conn| {
        let now = db_now(conn)?;
        let id: i64 = diesel::insert_into(user_roles::table)
            .values((
                user_roles::name.eq(name),
                user_roles::read_only.eq(false),
                user_roles::created_on.eq(now),
            ))
            .returning(user_roles::id)
            .get_result(conn)
            .map_err(conflict(format!("role `{name}`")))?;
        for feature in &wanted {
            diesel::insert_into(user_role_features::table)
                .values((
                    user_role_features::role_id.eq(id),
                    user_role_features::feature.eq(feature.identifier()),
                ))
                .execute(conn)?;
        }
        Ok(id)
    })?;
    find_role(conn, id)
}

/// Removes a role no group uses; built-in roles stay.
pub fn delete_role(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    let role = find_role(conn, id)?;
    if role.read_only {
        return Err(DbError::Conflict(format!(
            "role `{}` is built in and cannot be removed",
            role.name
        )));
    }
    let used: i64 = user_groups::table
        .filter(user_groups::role_id.eq(id))
        .count()
        .get_result(conn)?;
    if used > 0 {
        return Err(DbError::Conflict(format!(
            "role `{}` is used by {used} group(s)",
            role.name
        )));
    }
    diesel::delete(user_roles::table.find(id)).execute(conn)?;
    Ok(())
}

/// A group as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub name: String,
    pub description: String,
    pub role: String,
    #[serde(serialize_with = "crate::json::id")]
    pub tenant_id: i64,
    pub tenant: String,
    pub filters: GroupFilters,
    pub read_only: bool,
    pub users: i64,
}

pub fn list_groups(conn: &mut DbConnection) -> Result<Vec<GroupView>, DbError> {
    type Row = (i64, String, String, String, i64, String, String, bool);
    let rows: Vec<Row> = user_groups::table
        .inner_join(user_roles::table)
        .inner_join(tenants::table)
        .select((
            user_groups::id,
            user_groups::name,
            user_groups::description,
            user_roles::name,
            tenants::id,
            tenants::name,
            user_groups::filters,
            user_groups::read_only,
        ))
        .order(user_groups::name)
        .load(conn)?;
    let members: Vec<i64> = user_group_memberships::table
        .select(user_group_memberships::group_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, description, role, tenant_id, tenant, filters, read_only)| GroupView {
                id,
                name,
                description,
                role,
                tenant_id,
                tenant,
                filters: GroupFilters::from_stored(&filters),
                read_only,
                users: members.iter().filter(|g| **g == id).count() as i64,
            },
        )
        .collect())
}

pub fn find_group(conn: &mut DbConnection, id: i64) -> Result<GroupView, DbError> {
    list_groups(conn)?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| DbError::NotFound(format!("group {id}")))
}

/// Checks a group's filters: provider ids are ids, tags are `/category/tag`, at most
/// 1,000 entries each.
pub fn check_filters(filters: &GroupFilters) -> Result<(), DbError> {
    let too_many = |n: usize| n > 1000;
    if let Some(p) = &filters.providers {
        if too_many(p.len()) {
            return Err(DbError::Invalid("filters.providers: at most 1000".into()));
        }
        if let Some(bad) = p.iter().find(|id| id.parse::<i64>().is_err()) {
            return Err(DbError::Invalid(format!(
                "filters.providers: `{}` is not a provider id",
                crate::text::truncate(bad, 60)
            )));
        }
    }
    if let Some(p) = &filters.projects
        && (too_many(p.len()) || p.iter().any(|n| n.is_empty() || n.len() > 253))
    {
        return Err(DbError::Invalid(
            "filters.projects: at most 1000 namespace names of 1-253 characters".into(),
        ));
    }
    if let Some(groups) = &filters.tags {
        if too_many(groups.iter().map(Vec::len).sum()) {
            return Err(DbError::Invalid("filters.tags: at most 1000 tags".into()));
        }
        for tag in groups.iter().flatten() {
            crate::api_query::tag_path::parse_tag_path(tag)
                .map_err(|e| DbError::Invalid(format!("filters.tags: {e}")))?;
        }
    }
    Ok(())
}

/// Creates a group holding role `role` (by name) in tenant `tenant` (the root when None).
pub fn create_group(
    conn: &mut DbConnection,
    name: &str,
    description: &str,
    role: &str,
    tenant: Option<i64>,
    filters: &GroupFilters,
) -> Result<GroupView, DbError> {
    check_name("group", name)?;
    check_filters(filters)?;
    let role_id: i64 = user_roles::table
        .filter(user_roles::name.eq(role))
        .select(user_roles::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            DbError::Invalid(format!("no role `{}`", crate::text::truncate(role, 60)))
        })?;
    let tenant_id = match tenant {
        Some(t) => {
            find_tenant(conn, t)
                .map_err(|_| DbError::Invalid(format!("no tenant {t}")))?
                .id
        }
        None => tenants::table
            .filter(tenants::parent_id.is_null())
            .select(tenants::id)
            .first(conn)?,
    };
    let stored = serde_json::to_string(filters).map_err(|e| DbError::Invalid(e.to_string()))?;
    let now = db_now(conn)?;
    let id: i64 = diesel::insert_into(user_groups::table)
        .values((
            user_groups::name.eq(name),
            user_groups::description.eq(crate::text::truncate(description, 500)),
            user_groups::role_id.eq(role_id),
            user_groups::tenant_id.eq(tenant_id),
            user_groups::filters.eq(stored),
            user_groups::read_only.eq(false),
            user_groups::created_on.eq(now),
        ))
        .returning(user_groups::id)
        .get_result(conn)
        .map_err(conflict(format!("group `{name}`")))?;
    find_group(conn, id)
}

/// Removes a group without members; built-in groups stay.
pub fn delete_group(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    let group = find_group(conn, id)?;
    if group.read_only {
        return Err(DbError::Conflict(format!(
            "group `{}` is built in and cannot be removed",
            group.name
        )));
    }
    if group.users > 0 {
        return Err(DbError::Conflict(format!(
            "group `{}` still has {} user(s)",
            group.name, group.users
        )));
    }
    diesel::delete(user_groups::table.find(id)).execute(conn)?;
    Ok(())
}
