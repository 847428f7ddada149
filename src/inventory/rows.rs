//! The rows the inventory writes, one struct per table. Each is `Insertable` (batch
//! upserts) and `Hash`: a row's `content_hash` is the hash of its content with the
//! bookkeeping fields (hash, timestamps) blanked, so a refresh can tell unchanged
//! objects from changed ones without reading their columns back.

use std::hash::{Hash, Hasher};

use chrono::NaiveDateTime;
use diesel::Insertable;

use crate::db::schema::{
    container_groups, container_image_registries, container_images, container_nodes,
    container_projects, container_replicators, container_services, containers,
};

/// FNV-1a, 64 bits: stable across runs (unlike `DefaultHasher`'s random keys).
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Implemented by every row: its natural key and its bookkeeping fields.
pub trait InventoryRow: Hash + Clone {
    fn ems_ref(&self) -> &str;
    /// Sets hash, timestamps and `deleted_on` to neutral values (for hashing) or real ones.
    fn stamp(&mut self, hash: i64, now: NaiveDateTime);

    /// Fills `content_hash`, `created_on` and `updated_on`; returns the hash.
    fn finish(&mut self, now: NaiveDateTime) -> i64 {
        self.stamp(0, NaiveDateTime::default());
        let mut h = Fnv::default();
        self.hash(&mut h);
        let hash = h.finish() as i64;
        self.stamp(hash, now);
        hash
    }
}

macro_rules! row {
    ($name:ident, $table:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Hash, PartialEq, Insertable)]
        #[diesel(table_name = $table, treat_none_as_default_value = false)]
        pub struct $name {
            pub provider_id: i64,
            pub ems_ref: String,
            $(pub $field: $ty,)*
            pub content_hash: i64,
            pub deleted_on: Option<NaiveDateTime>,
            pub created_on: NaiveDateTime,
            pub updated_on: NaiveDateTime,
        }

        impl InventoryRow for $name {
            fn ems_ref(&self) -> &str {
                &self.ems_ref
            }

            fn stamp(&mut self, hash: i64, now: NaiveDateTime) {
                self.content_hash = hash;
                self.deleted_on = None;
                self.created_on = now;
                self.updated_on = now;
            }
        }
    };
}

row!(ProjectRow, container_projects {
    name: String,
    labels: String,
    annotations: String,
    phase: String,
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

row!(NodeRow, container_nodes {
    name: String,
    labels: String,
    annotations: String,
    ready_status: String,
    kubelet_version: String,
    os_image: String,
    internal_ip: String,
    cpu_cores: HashableF64,
    memory_bytes: i64,
    pods_capacity: i64,
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

row!(
    RegistryRow,
    container_image_registries {
        host: String,
        port: String,
    }
);

row!(ImageRow, container_images {
    name: String,
    tag: String,
    digest: String,
    image_ref: String,
    container_image_registry_id: Option<i64>,
    labels: String,
    used: bool,
});

row!(ReplicatorRow, container_replicators {
    kind: String,
    name: String,
    namespace: String,
    container_project_id: Option<i64>,
    parent_ems_ref: String,
    labels: String,
    annotations: String,
    selector: String,
    replicas: i64,
    ready_replicas: i64,
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

row!(ServiceRow, container_services {
    name: String,
    namespace: String,
    container_project_id: Option<i64>,
    labels: String,
    annotations: String,
    selector: String,
    service_type: String,
    cluster_ip: String,
    ports: String,
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

row!(PodRow, container_groups {
    name: String,
    namespace: String,
    container_project_id: Option<i64>,
    container_node_id: Option<i64>,
    container_replicator_id: Option<i64>,
    node_name: String,
    labels: String,
    annotations: String,
    phase: String,
    ready: bool,
    restart_count: i64,
    pod_ip: String,
    host_ip: String,
    qos_class: String,
    cpu_request_millicores: i64,
    memory_request_bytes: i64,
    started_at: Option<NaiveDateTime>,
    creation_timestamp: Option<NaiveDateTime>,
    resource_version: String,
});

row!(ContainerRow, containers {
    name: String,
    container_group_id: Option<i64>,
    container_image_id: Option<i64>,
    image: String,
    image_ref: String,
    state: String,
    reason: String,
    ready: bool,
    restart_count: i64,
    started_at: Option<NaiveDateTime>,
    cpu_request_millicores: i64,
    cpu_limit_millicores: i64,
    memory_request_bytes: i64,
    memory_limit_bytes: i64,
});

/// An `f64` column that can be hashed (by its bits).
#[derive(Debug, Clone, Copy, PartialEq, Default, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Double)]
pub struct HashableF64(pub f64);

impl Hash for HashableF64 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl<DB> diesel::serialize::ToSql<diesel::sql_types::Double, DB> for HashableF64
where
    DB: diesel::backend::Backend,
    f64: diesel::serialize::ToSql<diesel::sql_types::Double, DB>,
{
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, DB>,
    ) -> diesel::serialize::Result {
        self.0.to_sql(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(phase: &str) -> ProjectRow {
        ProjectRow {
            provider_id: 1,
            ems_ref: "uid-1".into(),
            name: "apps".into(),
            labels: "{}".into(),
            annotations: "{}".into(),
            phase: phase.into(),
            creation_timestamp: None,
            resource_version: "7".into(),
            content_hash: 0,
            deleted_on: None,
            created_on: NaiveDateTime::default(),
            updated_on: NaiveDateTime::default(),
        }
    }

    #[test]
    fn the_hash_sees_content_but_not_bookkeeping() {
        let now = chrono::Utc::now().naive_utc();
        let later = now + chrono::Duration::seconds(5);
        let (mut a, mut b, mut c) = (project("Active"), project("Active"), project("Terminating"));
        let ha = a.finish(now);
        let hb = b.finish(later);
        assert_eq!(ha, hb, "timestamps do not change the hash");
        assert_ne!(ha, c.finish(now), "content does");
        assert_eq!(a.content_hash, ha);
        assert_eq!(b.updated_on, later);
    }
}
