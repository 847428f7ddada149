//! Product features: what a user may do. A user role bundles features; every route
//! of the API names the feature it needs (see `web::route_table`), so a route cannot
//! exist without a decision about who may call it.

use serde::Serialize;

/// One product feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Read providers, their inventory and metrics.
    InventoryView,
    /// Add, edit and delete providers.
    ProviderManage,
    /// Ask for a refresh of a provider.
    ProviderRefresh,
    /// Read servers, workers, the queue and its statistics.
    OpsView,
    /// Put messages on the queue.
    QueuePut,
    /// Add, edit and remove users, groups, roles and tenants.
    RbacManage,
    /// Read the audit trail.
    AuditView,
    /// Create and delete tag categories, tags and label mappings; tag objects.
    TagManage,
    /// Acknowledge, assign and resolve alerts.
    AlertManage,
    /// Send alerts to Steward (Prometheus Alertmanager's webhook).
    AlertIngest,
}

/// Every feature, in catalogue order.
pub const ALL_FEATURES: &[Feature] = &[
    Feature::InventoryView,
    Feature::ProviderManage,
    Feature::ProviderRefresh,
    Feature::OpsView,
    Feature::QueuePut,
    Feature::RbacManage,
    Feature::AuditView,
    Feature::TagManage,
    Feature::AlertManage,
    Feature::AlertIngest,
];

impl Feature {
    /// The identifier stored in `user_role_features` and shown in errors.
    pub fn identifier(self) -> &'static str {
        match self {
            Feature::InventoryView => "inventory_view",
            Feature::ProviderManage => "provider_manage",
            Feature::ProviderRefresh => "provider_refresh",
            Feature::OpsView => "ops_view",
            Feature::QueuePut => "queue_put",
            Feature::RbacManage => "rbac_manage",
            Feature::AuditView => "audit_view",
            Feature::TagManage => "tag_manage",
            Feature::AlertManage => "alert_manage",
            Feature::AlertIngest => "alert_ingest",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Feature::InventoryView => "Read providers, their inventory and metrics",
            Feature::ProviderManage => "Add, edit and delete providers",
            Feature::ProviderRefresh => "Refresh providers",
            Feature::OpsView => "Read servers, workers, the queue and its statistics",
            Feature::QueuePut => "Put messages on the queue",
            Feature::RbacManage => "Manage users, groups, roles and tenants",
            Feature::AuditView => "Read the audit trail",
            Feature::TagManage => "Manage tag categories, tags and label mappings; tag objects",
            Feature::AlertManage => "Acknowledge, assign and resolve alerts",
            Feature::AlertIngest => "Send alerts (Prometheus Alertmanager's webhook)",
        }
    }

    pub fn from_identifier(text: &str) -> Option<Feature> {
        ALL_FEATURES
            .iter()
            .copied()
            .find(|f| f.identifier() == text)
    }
}

/// The roles every region starts with, and their features (ManageIQ's
/// super_administrator, operator and reader).
pub const DEFAULT_ROLES: &[(&str, &[Feature])] = &[
    ("admin", ALL_FEATURES),
    (
        "operator",
        &[
            Feature::InventoryView,
            Feature::ProviderRefresh,
            Feature::OpsView,
            Feature::QueuePut,
            Feature::TagManage,
            Feature::AlertManage,
        ],
    ),
    ("viewer", &[Feature::InventoryView, Feature::OpsView]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in ALL_FEATURES {
            assert_eq!(Feature::from_identifier(f.identifier()), Some(*f));
            assert!(seen.insert(f.identifier()));
        }
        assert_eq!(Feature::from_identifier("nope"), None);
    }
}
