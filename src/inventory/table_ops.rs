//! The four statements each inventory table needs, generated per table: the current
//! rows of a provider (id, key, hash, deleted?), a chunked batch upsert on
//! `(provider_id, ems_ref)`, a chunked "mark deleted", and a key → id map. Chunks keep
//! rows × columns under SQLite's 32,766 bind parameters (PostgreSQL allows 65,535).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::rows::{
    ContainerRow, ImageRow, NodeRow, PodRow, ProjectRow, RegistryRow, ReplicatorRow, ServiceRow,
};
use crate::db::{DbConnection, DbError};
use crate::with_backend;

/// Bind parameters one statement may use, with a margin under SQLite's limit.
const MAX_PARAMS: usize = 30_000;
/// Keys per `IN (…)` look-up.
const KEY_CHUNK: usize = 10_000;

/// A row already in the database.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: i64,
    pub ems_ref: String,
    pub hash: i64,
    pub deleted: bool,
}

macro_rules! table_ops {
    ($module:ident, $table:ident, $row:ty, [$($col:ident),+ $(,)?]) => {
        pub mod $module {
            use super::*;
            use crate::db::schema::$table as t;

            /// Columns written per row (for chunking).
            const COLUMNS: usize = [$(stringify!($col)),+].len() + 6;

            /// Rows of `provider` (all, or those with the given keys).
            pub fn existing(
                conn: &mut DbConnection,
                provider: i64,
                refs: Option<&[String]>,
            ) -> Result<Vec<Existing>, DbError> {
                let query = || {
                    t::table
                        .filter(t::provider_id.eq(provider))
                        .select((t::id, t::ems_ref, t::content_hash, t::deleted_on.is_not_null()))
                };
                let rows: Vec<(i64, String, i64, bool)> = match refs {
                    None => query().load(conn)?,
                    Some(refs) => {
                        let mut all = Vec::new();
                        for chunk in refs.chunks(KEY_CHUNK) {
                            all.extend(query().filter(t::ems_ref.eq_any(chunk)).load::<(i64, String, i64, bool)>(conn)?);
                        }
                        all
                    }
                };
                Ok(rows
                    .into_iter()
                    .map(|(id, ems_ref, hash, deleted)| Existing { id, ems_ref, hash, deleted })
                    .collect())
            }

            /// Inserts new rows and updates changed ones, one statement per chunk.
            pub fn upsert(conn: &mut DbConnection, rows: &[$row]) -> Result<(), DbError> {
                for chunk in rows.chunks((MAX_PARAMS / COLUMNS).max(1)) {
                    with_backend!(conn, c => diesel::insert_into(t::table)
                        .values(chunk)
                        .on_conflict((t::provider_id, t::ems_ref))
                        .do_update()
                        .set((
                            $(t::$col.eq(excluded(t::$col)),)+
                            t::content_hash.eq(excluded(t::content_hash)),
                            t::deleted_on.eq(excluded(t::deleted_on)),
                            t::updated_on.eq(excluded(t::updated_on)),
                        ))
                        .execute(c))?;
                }
                Ok(())
            }

            /// Inserts rows the table does not hold yet: on PostgreSQL by `COPY … FROM
            /// STDIN (FORMAT binary)`, several times faster than multi-row inserts for a
            /// first refresh; on SQLite as [`upsert`] does.
            pub fn insert_new(conn: &mut DbConnection, rows: &[$row]) -> Result<(), DbError> {
                match conn {
                    DbConnection::Postgresql(pg) if !rows.is_empty() => {
                        diesel::copy_from(t::table).from_insertable(rows).execute(pg)?;
                        Ok(())
                    }
                    _ => upsert(conn, rows),
                }
            }

            /// Marks rows deleted (kept as history, back to life if they reappear).
            pub fn mark_deleted(
                conn: &mut DbConnection,
                ids: &[i64],
                now: NaiveDateTime,
            ) -> Result<(), DbError> {
                for chunk in ids.chunks(KEY_CHUNK) {
                    diesel::update(t::table.filter(t::id.eq_any(chunk)))
                        .set((t::deleted_on.eq(Some(now)), t::updated_on.eq(now)))
                        .execute(conn)?;
                }
                Ok(())
            }

            /// Key → id of `provider`'s rows (all, or those with the given keys).
            #[allow(dead_code)]
            pub fn ids(
                conn: &mut DbConnection,
                provider: i64,
                refs: Option<&[String]>,
            ) -> Result<HashMap<String, i64>, DbError> {
                Ok(existing(conn, provider, refs)?
                    .into_iter()
                    .map(|e| (e.ems_ref, e.id))
                    .collect())
            }
        }
    };
}

table_ops!(
    projects,
    container_projects,
    ProjectRow,
    [
        name,
        labels,
        annotations,
        phase,
        creation_timestamp,
        resource_version
    ]
);
table_ops!(
    nodes,
    container_nodes,
    NodeRow,
    [
        name,
        labels,
        annotations,
        ready_status,
        kubelet_version,
        os_image,
        internal_ip,
        cpu_cores,
        memory_bytes,
        pods_capacity,
        creation_timestamp,
        resource_version
    ]
);
table_ops!(
    registries,
    container_image_registries,
    RegistryRow,
    [host, port]
);
table_ops!(
    images,
    container_images,
    ImageRow,
    [
        name,
        tag,
        digest,
        image_ref,
        container_image_registry_id,
        labels,
        used
    ]
);
table_ops!(
    replicators,
    container_replicators,
    ReplicatorRow,
    [
        kind,
        name,
        namespace,
        container_project_id,
        parent_ems_ref,
        labels,
        annotations,
        selector,
        replicas,
        ready_replicas,
        creation_timestamp,
        resource_version
    ]
);
table_ops!(
    services,
    container_services,
    ServiceRow,
    [
        name,
        namespace,
        container_project_id,
        labels,
        annotations,
        selector,
        service_type,
        cluster_ip,
        ports,
        creation_timestamp,
        resource_version
    ]
);
table_ops!(
    pods,
    container_groups,
    PodRow,
    [
        name,
        namespace,
        container_project_id,
        container_node_id,
        container_replicator_id,
        node_name,
        labels,
        annotations,
        phase,
        ready,
        restart_count,
        pod_ip,
        host_ip,
        qos_class,
        cpu_request_millicores,
        memory_request_bytes,
        started_at,
        creation_timestamp,
        resource_version
    ]
);
table_ops!(
    containers,
    containers,
    ContainerRow,
    [
        name,
        container_group_id,
        container_image_id,
        image,
        image_ref,
        state,
        reason,
        ready,
        restart_count,
        started_at,
        cpu_request_millicores,
        cpu_limit_millicores,
        memory_request_bytes,
        memory_limit_bytes
    ]
);
