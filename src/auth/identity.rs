//! Who is calling: the user, the group they act in (their current one, or the one
//! `X-MIQ-Group` names), that group's role and tenant, and the role's features.

use std::collections::BTreeSet;

use diesel::prelude::*;
use serde::Serialize;

use super::features::Feature;
use crate::db::schema::{
    tenants, user_group_memberships, user_groups, user_role_features, user_roles, users,
};
use crate::db::{DbConnection, DbError};

/// An authenticated caller.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    #[serde(serialize_with = "crate::json::id")]
    pub user_id: i64,
    pub userid: String,
    pub name: String,
    #[serde(serialize_with = "crate::json::id")]
    pub group_id: i64,
    pub group: String,
    pub role: String,
    #[serde(serialize_with = "crate::json::id")]
    pub tenant_id: i64,
    pub tenant: String,
    /// Whether the tenant is the root of the tree (it then sees every tenant's objects).
    pub root_tenant: bool,
    /// Every group the user belongs to.
    pub groups: Vec<String>,
    pub features: BTreeSet<Feature>,
    /// The group's filters (which providers and projects it is limited to).
    pub filters: GroupFilters,
}

/// A group's entitlement filters, stored as JSON in `user_groups.filters`:
/// `{"providers": ["<id>", …], "projects": ["<namespace>", …]}` — ManageIQ's
/// "belongsto" filters. Absent means unlimited.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    /// Managed tag filters: `[["/env/prod", "/env/test"], ["/dept/fin"]]` — an object
    /// must carry one tag of every inner list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Vec<String>>>,
}

impl GroupFilters {
    /// Parses the stored JSON; a row that does not parse limits to nothing (fail closed).
    pub fn from_stored(text: &str) -> GroupFilters {
        serde_json::from_str(text).unwrap_or_else(|_| GroupFilters {
            providers: Some(Vec::new()),
            projects: Some(Vec::new()),
            tags: None,
        })
    }

    /// Tag filters as (category, tag) pairs; a malformed tag matches nothing.
    pub fn tag_pairs(&self) -> Option<Vec<Vec<(String, String)>>> {
        self.tags.as_ref().map(|groups| {
            groups
                .iter()
                .map(|any_of| {
                    any_of
                        .iter()
                        .filter_map(|t| crate::api_query::tag_path::parse_tag_path(t).ok())
                        .map(|t| (t.category, t.name))
                        .collect()
                })
                .collect()
        })
    }

    /// Provider ids, parsed; a non-numeric entry matches nothing.
    pub fn provider_ids(&self) -> Option<Vec<i64>> {
        self.providers
            .as_ref()
            .map(|list| list.iter().filter_map(|p| p.parse().ok()).collect())
    }
}

impl Identity {
    pub fn may(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }
}

/// Why an identity could not be formed.
#[derive(Debug)]
pub enum IdentityError {
    /// The user is gone (removed after the token was issued).
    NoUser,
    /// The user is in no group, or not in the group asked for.
    NoGroup(String),
    Db(DbError),
}

impl From<DbError> for IdentityError {
    fn from(e: DbError) -> Self {
        IdentityError::Db(e)
    }
}

impl From<diesel::result::Error> for IdentityError {
    fn from(e: diesel::result::Error) -> Self {
        IdentityError::Db(e.into())
    }
}

/// The identity of user `user_id` acting in `wanted` (a group name, from
/// `X-MIQ-Group`), else in the token's group, else in their current group. Two
/// statements whatever the number of groups.
pub fn load_identity(
    conn: &mut DbConnection,
    user_id: i64,
    token_group: Option<i64>,
    wanted: Option<&str>,
) -> Result<Identity, IdentityError> {
    type Row = (
        (String, String, Option<i64>),
        (i64, String, String),
        (String, i64, i64, String, Option<i64>),
    );
    let rows: Vec<Row> = users::table
        .inner_join(user_group_memberships::table)
        .inner_join(user_groups::table.on(user_groups::id.eq(user_group_memberships::group_id)))
        .inner_join(user_roles::table.on(user_roles::id.eq(user_groups::role_id)))
        .inner_join(tenants::table.on(tenants::id.eq(user_groups::tenant_id)))
        .filter(users::id.eq(user_id))
        .select((
            (users::userid, users::name, users::current_group_id),
            (user_groups::id, user_groups::name, user_groups::filters),
            (
                user_roles::name,
                user_roles::id,
                tenants::id,
                tenants::name,
                tenants::parent_id,
            ),
        ))
        .order(user_groups::name)
        .load(conn)?;
    let Some(first) = rows.first() else {
        let exists = users::table
            .filter(users::id.eq(user_id))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        return Err(if exists {
            IdentityError::NoGroup("the user belongs to no group".into())
        } else {
            IdentityError::NoUser
        });
    };
    let current = (first.0).2;
    let chosen = match wanted {
        Some(name) => rows
            .iter()
            .find(|r| r.1.1 == name)
            .ok_or_else(|| IdentityError::NoGroup(format!("the user is not in group `{name}`")))?,
        None => token_group
            .and_then(|g| rows.iter().find(|r| r.1.0 == g))
            .or_else(|| rows.iter().find(|r| Some(r.1.0) == current))
            .unwrap_or(first),
    };
    let ((userid, name, _), (group_id, group, filters), (role, role_id, tenant_id, tenant, parent)) =
        chosen.clone();
    let features: Vec<String> = user_role_features::table
        .filter(user_role_features::role_id.eq(role_id))
        .select(user_role_features::feature)
        .load(conn)?;
    Ok(Identity {
        user_id,
        userid,
        name,
        group_id,
        group,
        role,
        tenant_id,
        tenant,
        root_tenant: parent.is_none(),
        filters: GroupFilters::from_stored(&filters),
        groups: rows.iter().map(|r| r.1.1.clone()).collect(),
        features: features
            .iter()
            .filter_map(|f| Feature::from_identifier(f))
            .collect(),
    })
}
