//! The server-role catalogue of the seed (§2.5, §2.8) and ManageIQ's
//! `server_roles.csv`: the single list every other part of Steward checks role
//! names against.

use serde::Serialize;

/// Whether a single-active role is unique per zone or per region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleScope {
    Region,
    Zone,
}

impl RoleScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleScope::Region => "region",
            RoleScope::Zone => "zone",
        }
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerRoleSpec {
    /// Role name as used in settings, messages and the API.
    pub name: &'static str,
    /// Human description (as the seed's UI shows it).
    pub description: &'static str,
    /// Scope of the single-active rule.
    pub scope: RoleScope,
    /// 1 = one active server per scope; 0 = active on every server that has it.
    pub max_concurrent: i32,
    /// Whether Steward does anything for this role yet. A role without an
    /// implementation still routes messages put for it, but `steward status` and the
    /// API show it as `not_implemented`, never as doing work.
    pub implemented: bool,
}

const fn role(
    name: &'static str,
    description: &'static str,
    scope: RoleScope,
    max_concurrent: i32,
    implemented: bool,
) -> ServerRoleSpec {
    ServerRoleSpec {
        name,
        description,
        scope,
        max_concurrent,
        implemented,
    }
}

use RoleScope::{Region, Zone};

/// Every server role Steward knows, in name order.
pub const CATALOGUE: &[ServerRoleSpec] = &[
    role("automate", "Automation Engine", Region, 0, false),
    role(
        "database_operations",
        "Database Operations",
        Region,
        0,
        true,
    ),
    role("embedded_ansible", "Embedded Ansible", Region, 0, false),
    role("ems_inventory", "Provider Inventory", Zone, 1, true),
    role("ems_metrics_collector", "C&U Data Collector", Zone, 0, true),
    role("ems_metrics_coordinator", "C&U Coordinator", Zone, 1, true),
    role("ems_metrics_processor", "C&U Data Processor", Zone, 0, true),
    role("ems_operations", "Provider Operations", Zone, 0, false),
    role("event", "Event Monitor", Zone, 1, true),
    role("git_owner", "Git Repositories Owner", Zone, 1, false),
    role("notifier", "Notifier", Region, 1, true),
    role("reporting", "Reporting", Region, 0, false),
    role("scheduler", "Scheduler", Region, 1, false),
    role("smartproxy", "SmartProxy", Zone, 0, false),
    role("smartstate", "SmartState Analysis", Zone, 0, false),
    role("user_interface", "User Interface", Region, 0, true),
    role("web_services", "Web Services", Region, 0, true),
    role("websocket", "Websocket", Region, 0, true),
];

/// The catalogue entry named `name`.
pub fn find(name: &str) -> Option<&'static ServerRoleSpec> {
    CATALOGUE.iter().find(|r| r.name == name)
}

/// Whether Steward implements role `name` (unknown names are not implemented).
pub fn is_implemented(name: &str) -> bool {
    find(name).is_some_and(|r| r.implemented)
}

/// Whether `name` is a role of the catalogue.
pub fn is_known(name: &str) -> bool {
    find(name).is_some()
}

/// All role names, in catalogue order.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|r| r.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_active_roles_are_the_seeds() {
        let single: Vec<_> = CATALOGUE
            .iter()
            .filter(|r| r.max_concurrent == 1)
            .map(|r| (r.name, r.scope))
            .collect();
        assert_eq!(
            single,
            vec![
                ("ems_inventory", Zone),
                ("ems_metrics_coordinator", Zone),
                ("event", Zone),
                ("git_owner", Zone),
                ("notifier", Region),
                ("scheduler", Region),
            ]
        );
    }

    #[test]
    fn catalogue_is_sorted_and_unique() {
        let names: Vec<_> = names().collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 18);
    }
}
