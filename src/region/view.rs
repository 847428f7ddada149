//! A read-only picture of the region: zones, servers, their roles. One query per
//! table, joined in memory; shared by `steward status`, `GET /api/servers` and the
//! `Registry` actor.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{assigned_server_roles as asr, regions, server_roles, servers, zones};
use crate::db::{DbConnection, DbError, db_now};

/// One zone.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub name: String,
    pub description: String,
}

/// One role on one server.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleAssignmentView {
    pub name: String,
    /// 1 = primary, 2 = secondary.
    pub priority: i32,
    /// This server holds the role: messages put for it are claimed here.
    pub active: bool,
    /// Whether Steward does anything for this role yet.
    pub implemented: bool,
    /// `active`, `standby` (assigned, held elsewhere or waiting) or `not_implemented`
    /// (nothing runs for it yet, whatever the lease says).
    pub status: &'static str,
}

impl RoleAssignmentView {
    fn new(name: String, priority: i32, active: bool) -> Self {
        let implemented = crate::roles::is_implemented(&name);
        let status = match (implemented, active) {
            (false, _) => "not_implemented",
            (true, true) => "active",
            (true, false) => "standby",
        };
        Self {
            name,
            priority,
            active,
            implemented,
            status,
        }
    }
}

/// One server and its roles.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub guid: String,
    pub name: String,
    pub zone: String,
    pub hostname: String,
    pub pid: i32,
    pub version: String,
    pub status: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub started_on: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub stopped_on: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub last_heartbeat: Option<NaiveDateTime>,
    /// Seconds since the last heartbeat, as of when the view was loaded.
    pub heartbeat_age_s: Option<f64>,
    /// Resident set size in bytes at the last heartbeat.
    pub memory_rss: i64,
    /// Heap allocated through Rust and live at the last heartbeat, bytes.
    pub memory_heap: i64,
    /// CPU use (% of one core) over the last heartbeat interval.
    pub cpu_percent: f64,
    pub is_master: bool,
    pub url: String,
    pub roles: Vec<RoleAssignmentView>,
    /// The node's supervised components: status, restarts, last failure.
    pub components: Vec<crate::supervision::ComponentRow>,
}

impl ServerView {
    /// Names of the roles active on this server.
    pub fn active_roles(&self) -> impl Iterator<Item = &str> {
        self.roles
            .iter()
            .filter(|r| r.active)
            .map(|r| r.name.as_str())
    }

    /// Names of the roles assigned but not active.
    pub fn inactive_roles(&self) -> impl Iterator<Item = &str> {
        self.roles
            .iter()
            .filter(|r| !r.active)
            .map(|r| r.name.as_str())
    }
}

/// The whole region.
#[derive(Debug, Clone, Serialize)]
pub struct RegionView {
    pub region: i64,
    pub guid: String,
    pub description: String,
    pub zones: Vec<ZoneView>,
    pub servers: Vec<ServerView>,
}

impl RegionView {
    /// Live servers (by status) that have `role` active, optionally in one zone.
    pub fn servers_with_active_role<'a>(
        &'a self,
        role: &'a str,
        zone: Option<&'a str>,
    ) -> impl Iterator<Item = &'a ServerView> + 'a {
        self.servers.iter().filter(move |s| {
            zone.is_none_or(|z| s.zone == z) && s.roles.iter().any(|r| r.name == role && r.active)
        })
    }
}

type ServerRow = (
    i64,
    String,
    String,
    i64,
    String,
    i32,
    String,
    String,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    i64,
    i64,
    f64,
    bool,
    String,
);

/// Loads the region in six queries.
pub fn load_region_view(conn: &mut DbConnection) -> Result<RegionView, DbError> {
    let (region, guid, description): (i32, String, String) = regions::table
        .select((regions::region, regions::guid, regions::description))
        .order(regions::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound("region record (run `steward migrate`)".into()))?;
    let zones: Vec<ZoneView> = zones::table
        .select((zones::id, zones::name, zones::description))
        .order(zones::name)
        .load::<(i64, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, description)| ZoneView {
            id,
            name,
            description,
        })
        .collect();
    let rows: Vec<ServerRow> = servers::table
        .select((
            servers::id,
            servers::guid,
            servers::name,
            servers::zone_id,
            servers::hostname,
            servers::pid,
            servers::version,
            servers::status,
            servers::started_on,
            servers::stopped_on,
            servers::last_heartbeat,
            servers::memory_rss,
            servers::memory_heap,
            servers::cpu_percent,
            servers::is_master,
            servers::url,
        ))
        .order(servers::id)
        .load(conn)?;
    let assignments: Vec<(i64, String, i32, bool)> = asr::table
        .inner_join(server_roles::table)
        .select((
            asr::server_id,
            server_roles::name,
            asr::priority,
            asr::active,
        ))
        .order(server_roles::name)
        .load(conn)?;
    let components = crate::supervision::components_of(conn)?;
    let now = db_now(conn)?;
    let servers = rows
        .into_iter()
        .map(|r| {
            let zone = zones
                .iter()
                .find(|z| z.id == r.3)
                .map(|z| z.name.clone())
                .unwrap_or_default();
            let roles = assignments
                .iter()
                .filter(|a| a.0 == r.0)
                .map(|a| RoleAssignmentView::new(a.1.clone(), a.2, a.3))
                .collect();
            let components = components
                .iter()
                .filter(|c| c.server_id == r.0)
                .cloned()
                .collect();
            ServerView {
                id: r.0,
                guid: r.1,
                name: r.2,
                zone,
                hostname: r.4,
                pid: r.5,
                version: r.6,
                status: r.7,
                started_on: r.8,
                stopped_on: r.9,
                last_heartbeat: r.10,
                heartbeat_age_s: r.10.map(|t| (now - t).num_milliseconds() as f64 / 1000.0),
                memory_rss: r.11,
                memory_heap: r.12,
                cpu_percent: r.13,
                is_master: r.14,
                url: r.15,
                roles,
                components,
            }
        })
        .collect();
    Ok(RegionView {
        region: region.into(),
        guid,
        description,
        zones,
        servers,
    })
}
