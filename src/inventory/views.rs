//! The inventory as the API shows it: one struct per table (all columns, in table
//! order), ids as strings, times in UTC, label/selector/port columns as JSON.

use chrono::NaiveDateTime;
use diesel::Queryable;
use serde::{Serialize, Serializer};

/// A column holding JSON text, emitted as JSON.
fn json_text<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

macro_rules! view {
    ($name:ident { $($(#[$attr:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Serialize, Queryable)]
        pub struct $name {
            #[serde(serialize_with = "crate::json::id")]
            pub id: i64,
            #[serde(serialize_with = "crate::json::id")]
            pub provider_id: i64,
            pub ems_ref: String,
            $($(#[$attr])* pub $field: $ty,)*
            #[serde(skip)]
            pub content_hash: i64,
            #[serde(serialize_with = "crate::json::utc_opt")]
            pub deleted_on: Option<NaiveDateTime>,
            #[serde(serialize_with = "crate::json::utc")]
            pub created_on: NaiveDateTime,
            #[serde(serialize_with = "crate::json::utc")]
            pub updated_on: NaiveDateTime,
        }
    };
}

view!(ProjectView {
    name: String,
    #[serde(serialize_with = "json_text")]
    labels: String,
    #[serde(serialize_with = "json_text")]
    annotations: String,
    phase: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

view!(NodeView {
    name: String,
    #[serde(serialize_with = "json_text")]
    labels: String,
    #[serde(serialize_with = "json_text")]
    annotations: String,
    ready_status: String,
    kubelet_version: String,
    os_image: String,
    internal_ip: String,
    cpu_cores: f64,
    memory_bytes: i64,
    pods_capacity: i64,
    #[serde(serialize_with = "crate::json::utc_opt")]
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

view!(RegistryView {
    host: String,
    port: String,
});

view!(ImageView {
    name: String,
    tag: String,
    digest: String,
    image_ref: String,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_image_registry_id: Option<i64>,
    #[serde(serialize_with = "json_text")]
    labels: String,
    used: bool,
});

view!(ReplicatorView {
    kind: String,
    name: String,
    namespace: String,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_project_id: Option<i64>,
    parent_ems_ref: String,
    #[serde(serialize_with = "json_text")]
    labels: String,
    #[serde(serialize_with = "json_text")]
    annotations: String,
    #[serde(serialize_with = "json_text")]
    selector: String,
    replicas: i64,
    ready_replicas: i64,
    #[serde(serialize_with = "crate::json::utc_opt")]
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

view!(ServiceView {
    name: String,
    namespace: String,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_project_id: Option<i64>,
    #[serde(serialize_with = "json_text")]
    labels: String,
    #[serde(serialize_with = "json_text")]
    annotations: String,
    #[serde(serialize_with = "json_text")]
    selector: String,
    service_type: String,
    cluster_ip: String,
    #[serde(serialize_with = "json_text")]
    ports: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

view!(PodView {
    name: String,
    namespace: String,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_project_id: Option<i64>,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_node_id: Option<i64>,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_replicator_id: Option<i64>,
    node_name: String,
    #[serde(serialize_with = "json_text")]
    labels: String,
    #[serde(serialize_with = "json_text")]
    annotations: String,
    phase: String,
    ready: bool,
    restart_count: i64,
    pod_ip: String,
    host_ip: String,
    qos_class: String,
    cpu_request_millicores: i64,
    memory_request_bytes: i64,
    #[serde(serialize_with = "crate::json::utc_opt")]
    started_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

view!(ContainerView {
    name: String,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_group_id: Option<i64>,
    #[serde(serialize_with = "crate::json::id_opt")]
    container_image_id: Option<i64>,
    image: String,
    image_ref: String,
    state: String,
    reason: String,
    ready: bool,
    restart_count: i64,
    #[serde(serialize_with = "crate::json::utc_opt")]
    started_at: Option<NaiveDateTime>,
    cpu_request_millicores: i64,
    cpu_limit_millicores: i64,
    memory_request_bytes: i64,
    memory_limit_bytes: i64,
});
