//! The event handler's writes: a batch of caught occurrences becomes `event_streams`
//! rows, linked to the inventory objects they concern, in one transaction.
//!
//! - An occurrence already stored (the same Event uid with a count not above the
//!   highest stored for it) is skipped: a restarted or failed-over catcher, or a relist,
//!   never duplicates a row.
//! - A storm report adds its folded occurrences to its storm's row (`chain_id`),
//!   created by its first report.
//! - Links are resolved by the involved object's uid (pods, nodes, replicators), the
//!   namespace (projects) and the container name of the event's field path; rows of
//!   objects since deleted are linked too.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::dsl::max;
use diesel::prelude::*;

use super::types::Caught;
use crate::db::schema::{
    container_groups as cg, container_nodes as cn, container_projects as cp,
    container_replicators as cr, containers as ct, event_streams as es,
};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::with_backend;

/// Rows per statement (30 columns: well under SQLite's 32,766 bind parameters).
const CHUNK: usize = 500;
/// The `source` of events caught from Kubernetes.
pub const SOURCE_KUBERNETES: &str = "KUBERNETES";

/// A row a batch created, as the policies see it.
#[derive(Debug, Clone, Default)]
pub struct StoredEvent {
    pub id: i64,
    pub event_type: String,
    pub severity: String,
    pub reason: String,
    pub message: String,
    pub target_kind: String,
    pub target_name: String,
    pub namespace: String,
    pub container: String,
    pub project_id: Option<i64>,
    pub node_id: Option<i64>,
    pub node_name: String,
    pub group_id: Option<i64>,
    pub group_name: String,
    pub replicator_id: Option<i64>,
    /// Labels of the pod or node concerned (JSON object text; empty when unknown).
    pub labels: String,
    /// A storm's row (created by its first report).
    pub storm: bool,
}

/// What one batch did.
#[derive(Debug, Default, Clone)]
pub struct StoreReport {
    pub stored: usize,
    /// Occurrences recognised as stored already.
    pub duplicates: usize,
    /// Storm reports added to an existing storm row.
    pub storm_updates: usize,
    /// Occurrences the storm reports stood for.
    pub folded: i64,
    /// The rows created.
    pub created: Vec<StoredEvent>,
}

#[derive(Insertable)]
#[diesel(table_name = es, treat_none_as_default_value = false)]
struct NewRow {
    event_type: String,
    source: String,
    provider_id: Option<i64>,
    ems_ref: String,
    event_count: i64,
    occurrences: i64,
    chain_id: String,
    severity: String,
    reason: String,
    message: String,
    target_kind: String,
    target_name: String,
    target_ems_ref: String,
    container_namespace: Option<String>,
    container_project_id: Option<i64>,
    container_node_id: Option<i64>,
    container_node_name: Option<String>,
    container_group_id: Option<i64>,
    container_group_name: Option<String>,
    container_id: Option<i64>,
    container_name: Option<String>,
    container_replicator_id: Option<i64>,
    container_replicator_name: Option<String>,
    component: String,
    host: String,
    first_timestamp: Option<NaiveDateTime>,
    timestamp: NaiveDateTime,
    created_on: NaiveDateTime,
    updated_on: NaiveDateTime,
}

/// Stores `batch`, caught from provider `provider_id`.
pub fn store_batch(
    conn: &mut DbConnection,
    provider_id: i64,
    batch: Vec<Caught>,
) -> Result<StoreReport, DbError> {
    write_transaction(conn, |conn| store_in(conn, provider_id, batch))
}

/// [`store_batch`] inside the caller's transaction.
pub fn store_in(
    conn: &mut DbConnection,
    provider_id: i64,
    batch: Vec<Caught>,
) -> Result<StoreReport, DbError> {
    {
        let mut report = StoreReport::default();
        let (storms, plain): (Vec<Caught>, Vec<Caught>) =
            batch.into_iter().partition(|c| c.storm.is_some());
        let fresh = unseen(conn, provider_id, plain, &mut report)?;
        let links = Links::resolve(
            conn,
            provider_id,
            fresh.iter().map(|(c, _)| c).chain(storms.iter()),
        )?;
        let now = crate::clock::now();
        let rows: Vec<NewRow> = fresh
            .iter()
            .map(|(c, occurrences)| {
                let mut row = links.row(provider_id, c, now);
                row.occurrences = *occurrences;
                row
            })
            .collect();
        let mut ids: HashMap<(String, i64), i64> = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(CHUNK) {
            let inserted: Vec<(i64, String, i64)> = with_backend!(conn, c => diesel::insert_into(es::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning((es::id, es::ems_ref, es::event_count))
                .load(c))?;
            report.stored += inserted.len();
            ids.extend(inserted.into_iter().map(|(id, r, n)| ((r, n), id)));
        }
        report.duplicates += fresh.len() - report.stored;
        report.created = rows
            .iter()
            .filter_map(|r| {
                let id = ids.get(&(r.ems_ref.clone(), r.event_count))?;
                Some(links.stored(r, *id))
            })
            .collect();
        for storm in &storms {
            add_storm(conn, provider_id, storm, &links, now, &mut report)?;
        }
        Ok(report)
    }
}

/// The occurrences of `plain` not stored yet, in count order per Event, each with how
/// many occurrences it stands for: its count less the highest stored for its Event
/// (an Event seen at count 5 first, or after a gap, stands for what it counted since).
///
/// Only Events seen at a count above 1 are looked up: a first occurrence stands for
/// itself, and if it is stored already the unique index (provider, uid, count) turns
/// its insert into nothing — most events are first occurrences, and a lookup that
/// the planner may answer with a scan (statistics lag a fast-growing table) is saved.
fn unseen(
    conn: &mut DbConnection,
    provider_id: i64,
    mut plain: Vec<Caught>,
    report: &mut StoreReport,
) -> Result<Vec<(Caught, i64)>, DbError> {
    let uids: Vec<String> = plain
        .iter()
        .filter(|c| c.count > 1)
        .map(|c| c.uid.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut highest: HashMap<String, i64> = HashMap::new();
    for chunk in uids.chunks(CHUNK) {
        let found: Vec<(String, Option<i64>)> = with_backend!(conn, c => es::table
            .filter(es::provider_id.eq(provider_id))
            .filter(es::ems_ref.eq_any(chunk))
            .group_by(es::ems_ref)
            .select((es::ems_ref, max(es::event_count)))
            .load(c))?;
        highest.extend(found.into_iter().filter_map(|(r, n)| Some((r, n?))));
    }
    plain.sort_by_key(|c| c.count);
    let mut fresh = Vec::with_capacity(plain.len());
    for c in plain {
        let seen = highest.entry(c.uid.clone()).or_insert(0);
        if c.count <= *seen {
            report.duplicates += 1;
            continue;
        }
        let occurrences = c.count - *seen;
        *seen = c.count;
        fresh.push((c, occurrences));
    }
    Ok(fresh)
}

/// A storm report: its folded occurrences are added to its row (created by its
/// first report). A report whose latest occurrence is stored already is a repeat.
fn add_storm(
    conn: &mut DbConnection,
    provider_id: i64,
    storm: &Caught,
    links: &Links,
    now: NaiveDateTime,
    report: &mut StoreReport,
) -> Result<(), DbError> {
    let Some(s) = &storm.storm else {
        return Ok(());
    };
    let last = storm.last.naive_utc();
    let updated = with_backend!(conn, c => diesel::update(
            es::table
                .filter(es::provider_id.eq(provider_id))
                .filter(es::chain_id.eq(&s.chain_id))
                .filter(es::event_count.lt(storm.count).or(es::ems_ref.ne(&storm.uid))),
        )
        .set((
            es::occurrences.eq(es::occurrences + s.folded),
            es::ems_ref.eq(&storm.uid),
            es::event_count.eq(storm.count),
            es::timestamp.eq(last),
            es::updated_on.eq(now),
        ))
        .execute(c))?;
    if updated > 0 {
        report.storm_updates += 1;
        report.folded += s.folded;
        return Ok(());
    }
    let exists: i64 = with_backend!(conn, c => es::table
        .filter(es::provider_id.eq(provider_id))
        .filter(es::chain_id.eq(&s.chain_id))
        .count()
        .get_result(c))?;
    if exists > 0 {
        report.duplicates += 1;
        return Ok(());
    }
    let row = links.row(provider_id, storm, now);
    let id: Option<i64> = with_backend!(conn, c => diesel::insert_into(es::table)
        .values(&row)
        .on_conflict_do_nothing()
        .returning(es::id)
        .get_result(c)
        .optional())?;
    if let Some(id) = id {
        report.stored += 1;
        let mut created = links.stored(&row, id);
        created.storm = true;
        report.created.push(created);
    }
    report.folded += s.folded;
    Ok(())
}

/// The pod a link resolves to.
struct Pod {
    labels: String,
    id: i64,
    name: String,
    project: Option<i64>,
    node: Option<i64>,
    node_name: String,
    replicator: Option<i64>,
}

/// Inventory rows the batch's events concern.
#[derive(Default)]
struct Links {
    pods: HashMap<String, Pod>,
    nodes_by_uid: HashMap<String, (i64, String)>,
    nodes_by_name: HashMap<String, (i64, String)>,
    node_labels: HashMap<i64, String>,
    replicators: HashMap<String, (i64, String, Option<i64>)>,
    replicator_names: HashMap<i64, String>,
    projects: HashMap<String, i64>,
    containers: HashMap<(i64, String), i64>,
}

fn is_replicator(kind: &str) -> bool {
    matches!(kind, "ReplicationController" | "ReplicaSet")
}

impl Links {
    fn resolve<'a>(
        conn: &mut DbConnection,
        provider_id: i64,
        events: impl Iterator<Item = &'a Caught>,
    ) -> Result<Self, DbError> {
        let mut pod_uids = HashSet::new();
        let mut node_keys = HashSet::new();
        let mut replicator_uids = HashSet::new();
        let mut namespaces = HashSet::new();
        for e in events {
            match e.kind.as_str() {
                "Pod" => drop(pod_uids.insert(e.target_uid.clone())),
                "Node" => {
                    node_keys.insert(e.target_uid.clone());
                    node_keys.insert(e.name.clone());
                }
                k if is_replicator(k) => drop(replicator_uids.insert(e.target_uid.clone())),
                "Namespace" => drop(namespaces.insert(e.name.clone())),
                _ => {}
            }
            if !e.namespace.is_empty() {
                namespaces.insert(e.namespace.clone());
            }
        }
        let mut links = Links::default();
        for chunk in to_vec(pod_uids).chunks(CHUNK) {
            type PodRow = (
                i64,
                String,
                String,
                Option<i64>,
                Option<i64>,
                String,
                Option<i64>,
                String,
            );
            let rows: Vec<PodRow> = with_backend!(conn, c => cg::table
                .filter(cg::provider_id.eq(provider_id))
                .filter(cg::ems_ref.eq_any(chunk))
                .select((cg::id, cg::ems_ref, cg::name, cg::container_project_id,
                    cg::container_node_id, cg::node_name, cg::container_replicator_id, cg::labels))
                .load(c))?;
            for (id, uid, name, project, node, node_name, replicator, labels) in rows {
                links.pods.insert(
                    uid,
                    Pod {
                        labels,
                        id,
                        name,
                        project,
                        node,
                        node_name,
                        replicator,
                    },
                );
            }
        }
        for chunk in to_vec(node_keys).chunks(CHUNK) {
            let rows: Vec<(i64, String, String, String)> = with_backend!(conn, c => cn::table
                .filter(cn::provider_id.eq(provider_id))
                .filter(cn::ems_ref.eq_any(chunk).or(cn::name.eq_any(chunk)))
                .select((cn::id, cn::ems_ref, cn::name, cn::labels))
                .load(c))?;
            for (id, uid, name, labels) in rows {
                links.node_labels.insert(id, labels);
                links.nodes_by_uid.insert(uid, (id, name.clone()));
                links.nodes_by_name.insert(name.clone(), (id, name));
            }
        }
        for chunk in to_vec(replicator_uids).chunks(CHUNK) {
            let rows: Vec<(i64, String, String, Option<i64>)> = with_backend!(conn, c => cr::table
                .filter(cr::provider_id.eq(provider_id))
                .filter(cr::ems_ref.eq_any(chunk))
                .select((cr::id, cr::ems_ref, cr::name, cr::container_project_id))
                .load(c))?;
            for (id, uid, name, project) in rows {
                links.replicators.insert(uid, (id, name, project));
            }
        }
        let pod_replicators: Vec<i64> = links.pods.values().filter_map(|p| p.replicator).collect();
        for chunk in pod_replicators.chunks(CHUNK) {
            let rows: Vec<(i64, String)> = with_backend!(conn, c => cr::table
                .filter(cr::id.eq_any(chunk))
                .select((cr::id, cr::name))
                .load(c))?;
            links.replicator_names.extend(rows);
        }
        for chunk in to_vec(namespaces).chunks(CHUNK) {
            let rows: Vec<(i64, String)> = with_backend!(conn, c => cp::table
                .filter(cp::provider_id.eq(provider_id))
                .filter(cp::name.eq_any(chunk))
                .filter(cp::deleted_on.is_null())
                .select((cp::id, cp::name))
                .load(c))?;
            for (id, name) in rows {
                links.projects.insert(name, id);
            }
        }
        let pod_ids: Vec<i64> = links.pods.values().map(|p| p.id).collect();
        for chunk in pod_ids.chunks(CHUNK) {
            let rows: Vec<(i64, Option<i64>, String)> = with_backend!(conn, c => ct::table
                .filter(ct::container_group_id.eq_any(chunk))
                .select((ct::id, ct::container_group_id, ct::name))
                .load(c))?;
            for (id, group, name) in rows {
                if let Some(group) = group {
                    links.containers.insert((group, name), id);
                }
            }
        }
        Ok(links)
    }

    /// The row `r`, stored as `id`, as the policies see it.
    fn stored(&self, r: &NewRow, id: i64) -> StoredEvent {
        let labels = match r.target_kind.as_str() {
            "Pod" => self.pods.get(&r.target_ems_ref).map(|p| p.labels.clone()),
            "Node" => r
                .container_node_id
                .and_then(|n| self.node_labels.get(&n).cloned()),
            _ => None,
        };
        StoredEvent {
            id,
            event_type: r.event_type.clone(),
            severity: r.severity.clone(),
            reason: r.reason.clone(),
            message: r.message.clone(),
            target_kind: r.target_kind.clone(),
            target_name: r.target_name.clone(),
            namespace: r.container_namespace.clone().unwrap_or_default(),
            container: r.container_name.clone().unwrap_or_default(),
            project_id: r.container_project_id,
            node_id: r.container_node_id,
            node_name: r.container_node_name.clone().unwrap_or_default(),
            group_id: r.container_group_id,
            group_name: r.container_group_name.clone().unwrap_or_default(),
            replicator_id: r.container_replicator_id,
            labels: labels.unwrap_or_default(),
            storm: false,
        }
    }

    fn row(&self, provider_id: i64, c: &Caught, now: NaiveDateTime) -> NewRow {
        let mut row = NewRow {
            event_type: c.event_type.clone(),
            source: SOURCE_KUBERNETES.into(),
            provider_id: Some(provider_id),
            ems_ref: c.uid.clone(),
            event_count: c.count,
            occurrences: c.storm.as_ref().map_or(1, |s| s.folded),
            chain_id: c
                .storm
                .as_ref()
                .map(|s| s.chain_id.clone())
                .unwrap_or_default(),
            severity: c.severity.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            target_kind: c.kind.clone(),
            target_name: c.name.clone(),
            target_ems_ref: c.target_uid.clone(),
            container_namespace: (!c.namespace.is_empty()).then(|| c.namespace.clone()),
            container_project_id: self.projects.get(&c.namespace).copied(),
            container_node_id: None,
            container_node_name: None,
            container_group_id: None,
            container_group_name: None,
            container_id: None,
            container_name: (!c.container.is_empty()).then(|| c.container.clone()),
            container_replicator_id: None,
            container_replicator_name: None,
            component: c.component.clone(),
            host: c.host.clone(),
            first_timestamp: c.first.map(|t| t.naive_utc()),
            timestamp: c.last.naive_utc(),
            created_on: now,
            updated_on: now,
        };
        match c.kind.as_str() {
            "Pod" => {
                row.container_group_name = Some(c.name.clone());
                if let Some(pod) = self.pods.get(&c.target_uid) {
                    row.container_group_id = Some(pod.id);
                    row.container_group_name = Some(pod.name.clone());
                    row.container_project_id = pod.project.or(row.container_project_id);
                    row.container_node_id = pod.node;
                    row.container_node_name =
                        (!pod.node_name.is_empty()).then(|| pod.node_name.clone());
                    row.container_replicator_id = pod.replicator;
                    row.container_replicator_name = pod
                        .replicator
                        .and_then(|r| self.replicator_names.get(&r).cloned());
                    row.container_id = self.containers.get(&(pod.id, c.container.clone())).copied();
                }
            }
            "Node" => {
                row.container_node_name = Some(c.name.clone());
                let node = self
                    .nodes_by_uid
                    .get(&c.target_uid)
                    .or_else(|| self.nodes_by_name.get(&c.name));
                if let Some((id, name)) = node {
                    row.container_node_id = Some(*id);
                    row.container_node_name = Some(name.clone());
                }
            }
            k if is_replicator(k) => {
                row.container_replicator_name = Some(c.name.clone());
                if let Some((id, name, project)) = self.replicators.get(&c.target_uid) {
                    row.container_replicator_id = Some(*id);
                    row.container_replicator_name = Some(name.clone());
                    row.container_project_id = project.or(row.container_project_id);
                }
            }
            "Namespace" => {
                row.container_namespace = Some(c.name.clone());
                row.container_project_id = self.projects.get(&c.name).copied();
            }
            _ => {}
        }
        row
    }
}

fn to_vec(set: HashSet<String>) -> Vec<String> {
    set.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Links the recent pod events of `provider_id` stored before their pod's row existed
/// (an event about a new pod can arrive before the watch saves the pod): pod, project,
/// node and replicator are filled in from the inventory. Returns the rows linked.
pub fn relink_recent(
    conn: &mut DbConnection,
    provider_id: i64,
    since: NaiveDateTime,
) -> Result<usize, DbError> {
    let pod = "SELECT g.{col} FROM container_groups g \
               WHERE g.provider_id = event_streams.provider_id AND g.ems_ref = event_streams.target_ems_ref";
    let set = |col: &str, out: &str| format!("{out} = ({})", pod.replace("{col}", col));
    let sql = format!(
        "UPDATE event_streams SET {}, {}, {}, {}, {}, {} \
         WHERE provider_id = $1 AND target_kind = 'Pod' AND container_group_id IS NULL \
         AND created_on >= $2 AND EXISTS ({})",
        set("id", "container_group_id"),
        set("name", "container_group_name"),
        set("container_project_id", "container_project_id"),
        set("container_node_id", "container_node_id"),
        set("node_name", "container_node_name"),
        set("container_replicator_id", "container_replicator_id"),
        pod.replace("{col}", "id"),
    );
    let sql = match conn {
        DbConnection::Postgresql(_) => sql,
        DbConnection::Sqlite(_) => sql.replace("$1", "?").replace("$2", "?"),
    };
    Ok(with_backend!(conn, c => diesel::sql_query(&sql)
        .bind::<diesel::sql_types::BigInt, _>(provider_id)
        .bind::<diesel::sql_types::Timestamp, _>(since)
        .execute(c))?)
}
