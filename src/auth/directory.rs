//! Users, groups, user roles and tenants in the region database: the defaults every
//! region starts with, the first administrator, and the reads a login needs.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::features::{DEFAULT_ROLES, Feature};
use crate::db::schema::{
    tenants, user_group_memberships, user_groups, user_role_features, user_roles, users,
};
use crate::db::{DbConnection, DbError, db_now, lock_region, write_transaction};

/// Name of the tenant at the root of the tree (ManageIQ's default).
pub const ROOT_TENANT: &str = "My Company";
/// The user created on a region's first start.
pub const FIRST_ADMIN: &str = "admin";
/// Longest user id, group, role or tenant name.
pub const MAX_NAME_CHARS: usize = 64;

/// Checks a user id: 1–64 of `A-Z a-z 0-9 . _ @ -`.
pub fn check_userid(userid: &str) -> Result<(), DbError> {
    let ok = !userid.is_empty()
        && userid.chars().count() <= MAX_NAME_CHARS
        && userid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DbError::Invalid(format!(
            "userid must be 1-{MAX_NAME_CHARS} characters of A-Z a-z 0-9 . _ @ -"
        )))
    }
}

/// Creates what is missing of the defaults: the root tenant, the roles
/// admin/operator/viewer (their features follow the catalogue of this version) and a
/// group of the same name for each. Idempotent; safe for several nodes at once.
pub fn ensure_defaults(conn: &mut DbConnection) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        lock_region(conn)?;
        let now = db_now(conn)?;
        let root = match tenants::table
            .filter(tenants::parent_id.is_null())
            .select(tenants::id)
            .first::<i64>(conn)
            .optional()?
        {
            Some(id) => id,
            None => diesel::insert_into(tenants::table)
                .values((
                    tenants::name.eq(ROOT_TENANT),
                    tenants::description.eq("The root tenant"),
                    tenants::created_on.eq(now),
                ))
                .returning(tenants::id)
                .get_result(conn)?,
        };
        for (name, features) in DEFAULT_ROLES {
            let role_id = match user_roles::table
                .filter(user_roles::name.eq(name))
                .select(user_roles::id)
                .first::<i64>(conn)
                .optional()?
            {
                Some(id) => id,
                None => diesel::insert_into(user_roles::table)
                    .values((
                        user_roles::name.eq(name),
                        user_roles::read_only.eq(true),
                        user_roles::created_on.eq(now),
                    ))
                    .returning(user_roles::id)
                    .get_result(conn)?,
            };
            // Built-in roles carry exactly the catalogue's features of this version.
            diesel::delete(
                user_role_features::table.filter(user_role_features::role_id.eq(role_id)),
            )
            .execute(conn)?;
            for feature in *features {
                diesel::insert_into(user_role_features::table)
                    .values((
                        user_role_features::role_id.eq(role_id),
                        user_role_features::feature.eq(feature.identifier()),
                    ))
                    .execute(conn)?;
            }
            let group_exists = user_groups::table
                .filter(user_groups::name.eq(name))
                .select(user_groups::id)
                .first::<i64>(conn)
                .optional()?
                .is_some();
            if !group_exists {
                diesel::insert_into(user_groups::table)
                    .values((
                        user_groups::name.eq(name),
                        user_groups::description.eq(format!("Built-in {name} group")),
                        user_groups::role_id.eq(role_id),
                        user_groups::tenant_id.eq(root),
                        user_groups::filters.eq("{}"),
                        user_groups::read_only.eq(true),
                        user_groups::created_on.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// A user as the API and CLI show it (never the password hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub userid: String,
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
    pub current_group: Option<String>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub locked_until: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub last_login_on: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc")]
    pub created_on: NaiveDateTime,
}

/// A new user: id, display name, e-mail, groups (by name; the first is current).
pub struct NewUser<'a> {
    pub userid: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub groups: &'a [String],
    pub password_hash: &'a str,
}

/// Creates a user. A taken userid is a conflict; an unknown group is invalid.
pub fn create_user(conn: &mut DbConnection, user: &NewUser<'_>) -> Result<UserView, DbError> {
    check_userid(user.userid)?;
    if user.name.chars().count() > 256 || user.email.chars().count() > 256 {
        return Err(DbError::Invalid(
            "name and email may have at most 256 characters".into(),
        ));
    }
    if user.groups.is_empty() {
        return Err(DbError::Invalid("a user needs at least one group".into()));
    }
    write_transaction(conn, |conn| {
        let taken = users::table
            .filter(users::userid.eq(user.userid))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if taken {
            return Err(DbError::Conflict(format!(
                "user `{}` already exists",
                user.userid
            )));
        }
        let mut group_ids = Vec::new();
        for name in user.groups {
            let id = user_groups::table
                .filter(user_groups::name.eq(name))
                .select(user_groups::id)
                .first::<i64>(conn)
                .optional()?
                .ok_or_else(|| DbError::Invalid(format!("no group named `{name}`")))?;
            group_ids.push(id);
        }
        let now = db_now(conn)?;
        let id: i64 = diesel::insert_into(users::table)
            .values((
                users::userid.eq(user.userid),
                users::name.eq(user.name),
                users::email.eq(user.email),
                users::password_hash.eq(user.password_hash),
                users::current_group_id.eq(group_ids.first().copied()),
                users::failed_logins.eq(0),
                users::created_on.eq(now),
            ))
            .returning(users::id)
            .get_result(conn)
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => DbError::Conflict(format!("user `{}` already exists", user.userid)),
                e => e.into(),
            })?;
        for group_id in group_ids {
            diesel::insert_into(user_group_memberships::table)
                .values((
                    user_group_memberships::user_id.eq(id),
                    user_group_memberships::group_id.eq(group_id),
                ))
                .execute(conn)?;
        }
        Ok(())
    })?;
    find_user(conn, user.userid)
}

/// Sets a user's password and lifts any lock.
pub fn set_password(conn: &mut DbConnection, userid: &str, hash: &str) -> Result<(), DbError> {
    let n = diesel::update(users::table.filter(users::userid.eq(userid)))
        .set((
            users::password_hash.eq(hash),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("user `{userid}`")));
    }
    Ok(())
}

/// Removes a user (and their tokens). The last user able to manage users stays.
pub fn remove_user(conn: &mut DbConnection, userid: &str) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        let id = users::table
            .filter(users::userid.eq(userid))
            .select(users::id)
            .first::<i64>(conn)
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("user `{userid}`")))?;
        let managers = user_managers(conn)?;
        if managers.contains(&id) && managers.len() == 1 {
            return Err(DbError::Conflict(format!(
                "`{userid}` is the last user who can manage users; add another first"
            )));
        }
        diesel::delete(users::table.filter(users::id.eq(id))).execute(conn)?;
        Ok(())
    })
}

/// Ids of users in a group whose role has `rbac_manage`.
fn user_managers(conn: &mut DbConnection) -> Result<BTreeSet<i64>, DbError> {
    let ids: Vec<i64> = user_group_memberships::table
        .inner_join(user_groups::table)
        .inner_join(
            user_role_features::table.on(user_role_features::role_id.eq(user_groups::role_id)),
        )
        .filter(user_role_features::feature.eq(Feature::RbacManage.identifier()))
        .select(user_group_memberships::user_id)
        .load(conn)?;
    Ok(ids.into_iter().collect())
}

type UserRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

fn user_columns() -> (
    users::id,
    users::userid,
    users::name,
    users::email,
    users::current_group_id,
    users::locked_until,
    users::last_login_on,
    users::created_on,
) {
    (
        users::id,
        users::userid,
        users::name,
        users::email,
        users::current_group_id,
        users::locked_until,
        users::last_login_on,
        users::created_on,
    )
}

/// Every user, by userid, with their groups (two statements whatever their number).
pub fn list_users(conn: &mut DbConnection) -> Result<Vec<UserView>, DbError> {
    let rows: Vec<UserRow> = users::table
        .select(user_columns())
        .order(users::userid)
        .load(conn)?;
    views(conn, rows)
}

/// One user by userid.
pub fn find_user(conn: &mut DbConnection, userid: &str) -> Result<UserView, DbError> {
    let rows: Vec<UserRow> = users::table
        .filter(users::userid.eq(userid))
        .select(user_columns())
        .load(conn)?;
    views(conn, rows)?
        .pop()
        .ok_or_else(|| DbError::NotFound(format!("user `{userid}`")))
}

/// One user by id.
pub fn find_user_by_id(conn: &mut DbConnection, id: i64) -> Result<UserView, DbError> {
    let rows: Vec<UserRow> = users::table
        .filter(users::id.eq(id))
        .select(user_columns())
        .load(conn)?;
    views(conn, rows)?
        .pop()
        .ok_or_else(|| DbError::NotFound(format!("user {id}")))
}

fn views(conn: &mut DbConnection, rows: Vec<UserRow>) -> Result<Vec<UserView>, DbError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let memberships: Vec<(i64, i64, String)> = user_group_memberships::table
        .inner_join(user_groups::table)
        .filter(user_group_memberships::user_id.eq_any(&ids))
        .select((
            user_group_memberships::user_id,
            user_groups::id,
            user_groups::name,
        ))
        .order(user_groups::name)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, userid, name, email, current, locked_until, last_login_on, created_on)| {
                let mine: Vec<&(i64, i64, String)> =
                    memberships.iter().filter(|m| m.0 == id).collect();
                UserView {
                    id,
                    userid,
                    name,
                    email,
                    groups: mine.iter().map(|m| m.2.clone()).collect(),
                    current_group: mine
                        .iter()
                        .find(|m| Some(m.1) == current)
                        .map(|m| m.2.clone()),
                    locked_until,
                    last_login_on,
                    created_on,
                }
            },
        )
        .collect())
}

/// Whether the region has any user yet.
pub fn has_users(conn: &mut DbConnection) -> Result<bool, DbError> {
    Ok(users::table.count().get_result::<i64>(conn)? > 0)
}

/// What a login checks: the user's id, password hash and lock state.
#[derive(Debug, Clone, Queryable)]
pub struct LoginRecord {
    pub id: i64,
    pub password_hash: String,
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
}

pub fn login_record(conn: &mut DbConnection, userid: &str) -> Result<Option<LoginRecord>, DbError> {
    Ok(users::table
        .filter(users::userid.eq(userid))
        .select((
            users::id,
            users::password_hash,
            users::failed_logins,
            users::locked_until,
        ))
        .first(conn)
        .optional()?)
}

/// Counts a failed login; the `max_failures`-th in a row locks the account until
/// `lockout` from now (database clock). Returns the lock's end when locked.
pub fn record_failed_login(
    conn: &mut DbConnection,
    id: i64,
    max_failures: u32,
    lockout: std::time::Duration,
) -> Result<Option<NaiveDateTime>, DbError> {
    write_transaction(conn, |conn| {
        let now = db_now(conn)?;
        let failures: i32 = diesel::update(users::table.filter(users::id.eq(id)))
            .set(users::failed_logins.eq(users::failed_logins + 1))
            .returning(users::failed_logins)
            .get_result(conn)?;
        if failures as u32 >= max_failures {
            let until =
                now + chrono::Duration::from_std(lockout).unwrap_or(chrono::Duration::minutes(2));
            diesel::update(users::table.filter(users::id.eq(id)))
                .set((users::locked_until.eq(until), users::failed_logins.eq(0)))
                .execute(conn)?;
            return Ok(Some(until));
        }
        Ok(None)
    })
}

/// A successful login: failures forgotten, time recorded.
pub fn record_login(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    let now = db_now(conn)?;
    diesel::update(users::table.filter(users::id.eq(id)))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::last_login_on.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
