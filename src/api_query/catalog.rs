//! What the query engine knows of each collection: its table, its attributes and
//! their types, its one-hop associations, its subcollections, whether it carries
//! labels, and how RBAC reaches it (through its provider, or it is the provider).
//! Attribute names are the only identifiers that ever reach SQL text, and they come
//! from here, never from a request.

/// The SQL type of an attribute, which decides how a filter value is bound and how
/// the value is rendered in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A region id, rendered as a string.
    Id,
    Text,
    Int,
    Float,
    Bool,
    /// UTC timestamp, rendered ISO-8601 with `Z`.
    Time,
    /// JSON kept as text (labels, selectors, ports), rendered as JSON.
    Json,
}

/// One attribute: a column of the collection's table.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
}

/// A one-hop association: `fk` of this table points at `target`'s id.
#[derive(Debug, Clone, Copy)]
pub struct Assoc {
    pub name: &'static str,
    pub fk: &'static str,
    pub target: &'static str,
}

/// A subcollection: rows of `child` whose `fk` is this resource's id.
#[derive(Debug, Clone, Copy)]
pub struct Sub {
    pub name: &'static str,
    pub child: &'static str,
    pub fk: &'static str,
}

/// How RBAC reaches a collection's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Rows belong to a provider through `provider_id`.
    ProviderOwned,
    /// The providers themselves.
    Provider,
}

/// One collection of the API.
#[derive(Debug)]
pub struct Collection {
    pub name: &'static str,
    pub table: &'static str,
    pub attrs: &'static [Attr],
    pub assocs: &'static [Assoc],
    pub subs: &'static [Sub],
    /// The table has a `labels` JSON column (and `labels_jsonb` on PostgreSQL).
    pub labels: bool,
    /// The table has `deleted_on` (rows kept after they vanish from the cluster).
    pub soft_delete: bool,
    /// The table has `container_project_id` (RBAC project filters apply).
    pub in_project: bool,
    pub scope: Scope,
}

impl Collection {
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn assoc(&self, name: &str) -> Option<&'static Assoc> {
        self.assocs.iter().find(|a| a.name == name)
    }

    pub fn sub(&self, name: &str) -> Option<&'static Sub> {
        self.subs.iter().find(|s| s.name == name)
    }
}

const fn a(name: &'static str, kind: Kind) -> Attr {
    Attr { name, kind }
}

use Kind::{Bool, Float, Id, Int, Json, Text, Time};

const COMMON_HEAD: [Attr; 3] = [a("id", Id), a("provider_id", Id), a("ems_ref", Text)];

macro_rules! attrs {
    ($($name:literal : $kind:ident),* $(,)?) => {
        &[
            COMMON_HEAD[0], COMMON_HEAD[1], COMMON_HEAD[2],
            $(a($name, $kind),)*
            a("deleted_on", Time), a("created_on", Time), a("updated_on", Time),
        ]
    };
}

const PROVIDER: Assoc = Assoc {
    name: "provider",
    fk: "provider_id",
    target: "providers",
};
const PROJECT: Assoc = Assoc {
    name: "container_project",
    fk: "container_project_id",
    target: "container_projects",
};

/// Every collection the query engine serves.
pub static COLLECTIONS: &[Collection] = &[
    Collection {
        name: "providers",
        table: "providers",
        attrs: &[
            a("id", Id),
            a("name", Text),
            a("provider_type", Text),
            a("zone_id", Id),
            a("api_url", Text),
            a("auth_kind", Text),
            a("verify_tls", Bool),
            a("prometheus_url", Text),
            a("refresh_interval_s", Int),
            a("status", Text),
            a("status_message", Text),
            a("last_refresh_on", Time),
            a("last_refresh_success_on", Time),
            a("metrics_status", Text),
            a("last_metrics_success_on", Time),
            a("tenant_id", Id),
            a("protected", Bool),
            a("created_on", Time),
            a("updated_on", Time),
        ],
        assocs: &[],
        subs: &[
            Sub {
                name: "container_nodes",
                child: "container_nodes",
                fk: "provider_id",
            },
            Sub {
                name: "container_projects",
                child: "container_projects",
                fk: "provider_id",
            },
            Sub {
                name: "container_groups",
                child: "container_groups",
                fk: "provider_id",
            },
            Sub {
                name: "containers",
                child: "containers",
                fk: "provider_id",
            },
            Sub {
                name: "container_services",
                child: "container_services",
                fk: "provider_id",
            },
            Sub {
                name: "container_replicators",
                child: "container_replicators",
                fk: "provider_id",
            },
            Sub {
                name: "container_images",
                child: "container_images",
                fk: "provider_id",
            },
            Sub {
                name: "container_image_registries",
                child: "container_image_registries",
                fk: "provider_id",
            },
            Sub {
                name: "event_streams",
                child: "event_streams",
                fk: "provider_id",
            },
            Sub {
                name: "alerts",
                child: "alerts",
                fk: "provider_id",
            },
        ],
        labels: false,
        soft_delete: false,
        in_project: false,
        scope: Scope::Provider,
    },
    Collection {
        name: "container_projects",
        table: "container_projects",
        attrs: attrs!("name": Text, "labels": Json, "annotations": Json, "phase": Text,
            "creation_timestamp": Time, "resource_version": Text),
        assocs: &[PROVIDER],
        subs: &[
            Sub {
                name: "container_groups",
                child: "container_groups",
                fk: "container_project_id",
            },
            Sub {
                name: "container_services",
                child: "container_services",
                fk: "container_project_id",
            },
            Sub {
                name: "container_replicators",
                child: "container_replicators",
                fk: "container_project_id",
            },
            Sub {
                name: "event_streams",
                child: "event_streams",
                fk: "container_project_id",
            },
        ],
        labels: true,
        soft_delete: true,
        in_project: false,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "container_nodes",
        table: "container_nodes",
        attrs: attrs!("name": Text, "labels": Json, "annotations": Json, "ready_status": Text,
            "kubelet_version": Text, "os_image": Text, "internal_ip": Text,
            "cpu_cores": Float, "memory_bytes": Int, "pods_capacity": Int,
            "creation_timestamp": Time, "resource_version": Text),
        assocs: &[PROVIDER],
        subs: &[
            Sub {
                name: "container_groups",
                child: "container_groups",
                fk: "container_node_id",
            },
            Sub {
                name: "event_streams",
                child: "event_streams",
                fk: "container_node_id",
            },
            Sub {
                name: "alerts",
                child: "alerts",
                fk: "container_node_id",
            },
        ],
        labels: true,
        soft_delete: true,
        in_project: false,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "container_groups",
        table: "container_groups",
        attrs: attrs!("name": Text, "namespace": Text, "container_project_id": Id,
            "container_node_id": Id, "container_replicator_id": Id, "node_name": Text,
            "labels": Json, "annotations": Json, "phase": Text, "ready": Bool, "restart_count": Int,
            "pod_ip": Text, "host_ip": Text, "qos_class": Text,
            "cpu_request_millicores": Int, "memory_request_bytes": Int,
            "started_at": Time, "creation_timestamp": Time, "resource_version": Text),
        assocs: &[
            PROVIDER,
            PROJECT,
            Assoc {
                name: "container_node",
                fk: "container_node_id",
                target: "container_nodes",
            },
            Assoc {
                name: "container_replicator",
                fk: "container_replicator_id",
                target: "container_replicators",
            },
        ],
        subs: &[
            Sub {
                name: "containers",
                child: "containers",
                fk: "container_group_id",
            },
            Sub {
                name: "event_streams",
                child: "event_streams",
                fk: "container_group_id",
            },
        ],
        labels: true,
        soft_delete: true,
        in_project: true,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "containers",
        table: "containers",
        attrs: attrs!("name": Text, "container_group_id": Id, "container_image_id": Id,
            "image": Text, "image_ref": Text, "state": Text, "reason": Text,
            "ready": Bool, "restart_count": Int, "started_at": Time,
            "cpu_request_millicores": Int, "cpu_limit_millicores": Int,
            "memory_request_bytes": Int, "memory_limit_bytes": Int),
        assocs: &[
            PROVIDER,
            Assoc {
                name: "container_group",
                fk: "container_group_id",
                target: "container_groups",
            },
            Assoc {
                name: "container_image",
                fk: "container_image_id",
                target: "container_images",
            },
        ],
        subs: &[Sub {
            name: "event_streams",
            child: "event_streams",
            fk: "container_id",
        }],
        labels: false,
        soft_delete: true,
        in_project: false,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "container_services",
        table: "container_services",
        attrs: attrs!("name": Text, "namespace": Text, "container_project_id": Id,
            "labels": Json, "annotations": Json, "selector": Json, "service_type": Text, "cluster_ip": Text,
            "ports": Json, "creation_timestamp": Time, "resource_version": Text),
        assocs: &[PROVIDER, PROJECT],
        subs: &[],
        labels: true,
        soft_delete: true,
        in_project: true,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "container_replicators",
        table: "container_replicators",
        attrs: attrs!("kind": Text, "name": Text, "namespace": Text,
            "container_project_id": Id, "parent_ems_ref": Text, "labels": Json, "annotations": Json,
            "selector": Json, "replicas": Int, "ready_replicas": Int,
            "creation_timestamp": Time, "resource_version": Text),
        assocs: &[PROVIDER, PROJECT],
        subs: &[
            Sub {
                name: "container_groups",
                child: "container_groups",
                fk: "container_replicator_id",
            },
            Sub {
                name: "event_streams",
                child: "event_streams",
                fk: "container_replicator_id",
            },
        ],
        labels: true,
        soft_delete: true,
        in_project: true,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "container_images",
        table: "container_images",
        attrs: attrs!("name": Text, "tag": Text, "digest": Text, "image_ref": Text,
            "container_image_registry_id": Id, "labels": Json, "used": Bool),
        assocs: &[
            PROVIDER,
            Assoc {
                name: "container_image_registry",
                fk: "container_image_registry_id",
                target: "container_image_registries",
            },
        ],
        subs: &[Sub {
            name: "containers",
            child: "containers",
            fk: "container_image_id",
        }],
        labels: true,
        soft_delete: true,
        in_project: false,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "container_image_registries",
        table: "container_image_registries",
        attrs: attrs!("host": Text, "port": Text),
        assocs: &[PROVIDER],
        subs: &[Sub {
            name: "container_images",
            child: "container_images",
            fk: "container_image_registry_id",
        }],
        labels: false,
        soft_delete: true,
        in_project: false,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "event_streams",
        table: "event_streams",
        attrs: &[
            a("id", Id),
            a("event_type", Text),
            a("source", Text),
            a("provider_id", Id),
            a("ems_ref", Text),
            a("event_count", Int),
            a("occurrences", Int),
            a("chain_id", Text),
            a("severity", Text),
            a("reason", Text),
            a("message", Text),
            a("target_kind", Text),
            a("target_name", Text),
            a("target_ems_ref", Text),
            a("container_namespace", Text),
            a("container_project_id", Id),
            a("container_node_id", Id),
            a("container_node_name", Text),
            a("container_group_id", Id),
            a("container_group_name", Text),
            a("container_id", Id),
            a("container_name", Text),
            a("container_replicator_id", Id),
            a("container_replicator_name", Text),
            a("component", Text),
            a("host", Text),
            a("first_timestamp", Time),
            a("timestamp", Time),
            a("created_on", Time),
            a("updated_on", Time),
        ],
        assocs: &[
            PROVIDER,
            PROJECT,
            Assoc {
                name: "container_node",
                fk: "container_node_id",
                target: "container_nodes",
            },
            Assoc {
                name: "container_group",
                fk: "container_group_id",
                target: "container_groups",
            },
            Assoc {
                name: "container",
                fk: "container_id",
                target: "containers",
            },
            Assoc {
                name: "container_replicator",
                fk: "container_replicator_id",
                target: "container_replicators",
            },
        ],
        subs: &[],
        labels: false,
        soft_delete: false,
        in_project: true,
        scope: Scope::ProviderOwned,
    },
    Collection {
        name: "alerts",
        table: "alerts",
        attrs: &[
            a("id", Id),
            a("source", Text),
            a("name", Text),
            a("fingerprint", Text),
            a("status", Text),
            a("severity", Text),
            a("description", Text),
            a("url", Text),
            a("provider_id", Id),
            a("container_node_id", Id),
            a("container_group_id", Id),
            a("container_project_id", Id),
            a("target_kind", Text),
            a("target_name", Text),
            a("alert_labels", Json),
            a("event_stream_id", Id),
            a("occurrences", Int),
            a("started_on", Time),
            a("ended_on", Time),
            a("last_seen_on", Time),
            a("acknowledged", Bool),
            a("acknowledged_by", Text),
            a("acknowledged_on", Time),
            a("assignee", Text),
            a("created_on", Time),
            a("updated_on", Time),
        ],
        assocs: &[
            PROVIDER,
            PROJECT,
            Assoc {
                name: "container_node",
                fk: "container_node_id",
                target: "container_nodes",
            },
            Assoc {
                name: "container_group",
                fk: "container_group_id",
                target: "container_groups",
            },
            Assoc {
                name: "event_stream",
                fk: "event_stream_id",
                target: "event_streams",
            },
        ],
        subs: &[],
        labels: false,
        soft_delete: false,
        in_project: true,
        scope: Scope::ProviderOwned,
    },
];

/// The collection named `name`.
pub fn collection(name: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve() {
        for c in COLLECTIONS {
            assert!(c.attr("id").is_some(), "{}", c.name);
            for assoc in c.assocs {
                assert!(
                    collection(assoc.target).is_some(),
                    "{}.{}",
                    c.name,
                    assoc.name
                );
                assert!(c.attr(assoc.fk).is_some(), "{}.{}", c.name, assoc.fk);
            }
            for sub in c.subs {
                let child = collection(sub.child).expect("child");
                assert!(child.attr(sub.fk).is_some(), "{}.{}", sub.child, sub.fk);
            }
            assert_eq!(c.labels, c.attr("labels").is_some(), "{}", c.name);
        }
    }
}
