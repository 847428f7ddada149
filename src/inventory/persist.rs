//! Saving inventory: diff what was collected against what the database holds and
//! write only the difference — new and changed rows in batch upserts, vanished rows
//! marked `deleted_on` in batch updates, never a statement per object.
//!
//! ```text
//! projects ─ nodes ─ registries ─ images ─ replicators ─ services ─ pods ─ containers ─ service↔pod links
//! ```
//!
//! Parents are saved before children so relations (namespace, node name, owner uid,
//! image and registry refs) resolve to the ids just written. Each step is its own
//! write transaction, so on SQLite the queue is never locked out for a whole refresh.
//! A *full* save owns the provider's complete set: what is not in it is marked
//! deleted. A *partial* save (from watches) writes the objects it has and marks
//! deleted only the ones it was told about.
//!
//! Each step also records, in its transaction, which rows it created, updated and
//! marked deleted (`super::changes`): the live feed's `inventory` topic reads them.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::changes::{self, Logged, StepChanges};
use super::parse::{KnownVersions, Parsed, label_map, selector_matches};
use super::rows::InventoryRow;
use super::table_ops::{
    Existing, containers, images, nodes, pods, projects, registries, replicators, services,
};
use crate::db::schema::{
    container_groups as cg, container_nodes as cn, container_projects as cp,
    container_replicators as cr, container_service_groups as csg, container_services as cs,
    containers as ct,
};
use crate::db::{DbConnection, DbError, write_transaction};

/// A label map.
type Labels = BTreeMap<String, String>;

/// What a save did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SaveReport {
    pub objects: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
}

/// Keys (uids) of objects a watch saw deleted.
#[derive(Debug, Clone, Default)]
pub struct Deleted {
    pub projects: Vec<String>,
    pub nodes: Vec<String>,
    pub pods: Vec<String>,
    pub services: Vec<String>,
    pub replicators: Vec<String>,
}

impl Deleted {
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
            && self.nodes.is_empty()
            && self.pods.is_empty()
            && self.services.is_empty()
            && self.replicators.is_empty()
    }
}

/// How much of the provider a save covers.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Everything: rows not collected are marked deleted.
    Full,
    /// Changed objects only, and these deletions.
    Partial(Deleted),
}

/// How a table's rows are compared with what it holds.
#[derive(Clone, Copy)]
struct DiffScope<'a> {
    /// The rows are everything: what else is live is marked deleted…
    full: bool,
    /// …or only these keys are.
    deleted: &'a [String],
    /// Live rows kept as they are (objects skipped as unchanged).
    unchanged: &'a dyn Fn(&str) -> bool,
}

/// What a save writes to one table.
struct Diff<R> {
    /// Rows the table does not hold.
    new: Vec<R>,
    /// Rows it holds with other content, or marked deleted.
    changed: Vec<R>,
    /// Ids of the changed rows that were live (updated)…
    updated_ids: Vec<i64>,
    /// …and of those that were marked deleted (back to life: created again).
    revived_ids: Vec<i64>,
    /// Ids to mark deleted.
    vanish: Vec<i64>,
}

impl<R: InventoryRow> Diff<R> {
    fn written(&self) -> usize {
        self.new.len() + self.changed.len() + self.vanish.len()
    }

    /// What the step did, for the change log, once its rows are written: the ids of
    /// new rows are looked up by key (`ids`), unless there are too many to list.
    fn logged(
        &self,
        conn: &mut DbConnection,
        ids: impl FnOnce(&mut DbConnection, &[String]) -> Result<HashMap<String, i64>, DbError>,
    ) -> Result<Logged, DbError> {
        let created = self.new.len() + self.revived_ids.len();
        Logged::of(created, self.updated_ids.len(), self.vanish.len(), || {
            let mut created = self.revived_ids.clone();
            if !self.new.is_empty() {
                let refs: Vec<String> = self.new.iter().map(|r| r.ems_ref().to_string()).collect();
                let by_ref = ids(conn, &refs)?;
                created.extend(refs.iter().filter_map(|r| by_ref.get(r).copied()));
            }
            Ok(StepChanges {
                created,
                updated: self.updated_ids.clone(),
                deleted: self.vanish.clone(),
            })
        })
    }
}

/// Splits rows into new ones, changed ones and the ids to mark deleted; counts into
/// `report`.
fn diff<R: InventoryRow>(
    rows: Vec<R>,
    existing: &[Existing],
    scope: DiffScope<'_>,
    now: NaiveDateTime,
    report: &mut SaveReport,
) -> Diff<R> {
    let DiffScope {
        full,
        deleted: deleted_refs,
        unchanged,
    } = scope;
    let by_ref: HashMap<&str, &Existing> =
        existing.iter().map(|e| (e.ems_ref.as_str(), e)).collect();
    let mut seen: HashSet<String> = HashSet::with_capacity(rows.len());
    let mut new = Vec::new();
    let mut changed = Vec::new();
    let (mut updated_ids, mut revived_ids) = (Vec::new(), Vec::new());
    for mut row in rows {
        if !seen.insert(row.ems_ref().to_string()) {
            continue; // the same object twice in one batch: first wins
        }
        report.objects += 1;
        let hash = row.finish(now);
        match by_ref.get(row.ems_ref()) {
            None => {
                report.added += 1;
                new.push(row);
            }
            Some(e) if e.deleted || e.hash != hash => {
                report.updated += 1;
                if e.deleted {
                    revived_ids.push(e.id);
                } else {
                    updated_ids.push(e.id);
                }
                changed.push(row);
            }
            Some(_) => report.unchanged += 1,
        }
    }
    let gone: HashSet<&str> = deleted_refs.iter().map(String::as_str).collect();
    let mut vanish = Vec::new();
    for e in existing
        .iter()
        .filter(|e| !e.deleted && !seen.contains(&e.ems_ref))
    {
        if unchanged(&e.ems_ref) {
            report.objects += 1;
            report.unchanged += 1;
        } else if full || gone.contains(e.ems_ref.as_str()) {
            vanish.push(e.id);
        }
    }
    report.deleted += vanish.len();
    Diff {
        new,
        changed,
        updated_ids,
        revived_ids,
        vanish,
    }
}

fn keys<R: InventoryRow>(rows: &[R], deleted: &[String]) -> Vec<String> {
    rows.iter()
        .map(|r| r.ems_ref().to_string())
        .chain(deleted.iter().cloned())
        .collect()
}

/// Writes `parsed` for `provider`.
pub fn save(
    conn: &mut DbConnection,
    provider: i64,
    mut parsed: Parsed,
    scope: &Scope,
    now: NaiveDateTime,
) -> Result<SaveReport, DbError> {
    let nothing = Deleted::default();
    let (full, del) = match scope {
        Scope::Full => (true, &nothing),
        Scope::Partial(d) => (false, d),
    };
    let mut report = SaveReport::default();
    let unchanged = std::mem::take(&mut parsed.unchanged);
    let none: HashSet<String> = HashSet::new();
    // In a partial save, only rows of the changed objects are compared.
    let lookup = |k: Vec<String>| if full { None } else { Some(k) };

    macro_rules! step {
        ($ops:ident, $collection:literal, $rows:expr, $deleted:expr, $unchanged:expr) => {{
            let started = std::time::Instant::now();
            let rows = $rows;
            let wanted = lookup(keys(&rows, $deleted));
            let unchanged = $unchanged;
            let kept = |r: &str| unchanged.contains(r);
            let scope = DiffScope {
                full,
                deleted: $deleted,
                unchanged: &kept,
            };
            let written = write_transaction(conn, |c| {
                let existing = $ops::existing(c, provider, wanted.as_deref())?;
                let d = diff(rows, &existing, scope, now, &mut report);
                $ops::insert_new(c, &d.new)?;
                $ops::upsert(c, &d.changed)?;
                $ops::mark_deleted(c, &d.vanish, now)?;
                let logged = d.logged(c, |c, refs| $ops::ids(c, provider, Some(refs)))?;
                changes::record(c, provider, $collection, &logged, now)?;
                Ok(d.written())
            })?;
            timed(stringify!($ops), written, started);
            written
        }};
    }

    step!(
        projects,
        "container_projects",
        parsed.projects,
        &del.projects,
        &unchanged.projects
    );
    let project_ids = ids_by_name(conn, provider, Named::Projects)?;
    step!(
        nodes,
        "container_nodes",
        parsed.nodes,
        &del.nodes,
        &unchanged.nodes
    );
    let node_ids = ids_by_name(conn, provider, Named::Nodes)?;

    let touches_images = full || !parsed.images.is_empty();
    if touches_images {
        step!(
            registries,
            "container_image_registries",
            parsed.registries,
            &[],
            &none
        );
        let wanted: Vec<String> = parsed
            .images
            .iter()
            .map(|i| i.registry_ref.clone())
            .collect();
        let registry_ids = registries::ids(conn, provider, lookup(wanted).as_deref())?;
        let rows = parsed
            .images
            .into_iter()
            .map(|mut i| {
                i.row.container_image_registry_id = registry_ids.get(&i.registry_ref).copied();
                i.row
            })
            .collect::<Vec<_>>();
        step!(images, "container_images", rows, &[], &none);
    }

    let rows = parsed
        .replicators
        .into_iter()
        .map(|mut r| {
            r.row.container_project_id = project_ids.get(&r.namespace).copied();
            r.row
        })
        .collect::<Vec<_>>();
    step!(
        replicators,
        "container_replicators",
        rows,
        &del.replicators,
        &unchanged.replicators
    );
    let rows = parsed
        .services
        .into_iter()
        .map(|mut s| {
            s.row.container_project_id = project_ids.get(&s.namespace).copied();
            s.row
        })
        .collect::<Vec<_>>();
    let touched_service_namespaces: HashSet<String> =
        rows.iter().map(|s| s.namespace.clone()).collect();
    let services_written = step!(
        services,
        "container_services",
        rows,
        &del.services,
        &unchanged.services
    );

    let owners: Vec<String> = parsed
        .pods
        .iter()
        .map(|p| p.pod.owner_uid.clone())
        .collect();
    let replicator_ids = replicators::ids(conn, provider, lookup(owners).as_deref())?;
    let mut pod_rows = Vec::with_capacity(parsed.pods.len());
    let mut container_rows = Vec::new();
    for p in parsed.pods {
        let mut pod = p.pod;
        pod.row.container_project_id = project_ids.get(&pod.namespace).copied();
        pod.row.container_node_id = node_ids.get(&pod.node_name).copied();
        pod.row.container_replicator_id = replicator_ids.get(&pod.owner_uid).copied();
        container_rows.push((pod.row.ems_ref.clone(), p.containers));
        pod_rows.push(pod.row);
    }
    let touched_pods: Vec<String> = pod_rows
        .iter()
        .map(|p| p.ems_ref.clone())
        .chain(del.pods.iter().cloned())
        .collect();
    let touched_pod_namespaces: HashSet<String> =
        pod_rows.iter().map(|p| p.namespace.clone()).collect();
    let pods_written = step!(
        pods,
        "container_groups",
        pod_rows,
        &del.pods,
        &unchanged.pods
    );
    let pod_ids = pods::ids(conn, provider, lookup(touched_pods.clone()).as_deref())?;

    let image_refs: Vec<String> = container_rows
        .iter()
        .flat_map(|(_, cs)| cs.iter().map(|c| c.image_ref.clone()))
        .filter(|r| !r.is_empty())
        .collect();
    let image_ids = images::ids(conn, provider, lookup(image_refs).as_deref())?;
    let rows: Vec<_> = container_rows
        .into_iter()
        .flat_map(|(pod_ref, cs)| {
            let group = pod_ids.get(&pod_ref).copied();
            let image_ids = &image_ids;
            cs.into_iter().map(move |mut c| {
                c.row.container_group_id = group;
                c.row.container_image_id = image_ids.get(&c.image_ref).copied();
                c.row
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let written = write_transaction(conn, |c| {
        // A partial save replaces the containers of the pods it touched.
        let existing = if full {
            containers::existing(c, provider, None)?
        } else {
            let group_ids: Vec<i64> = touched_pods
                .iter()
                .filter_map(|r| pod_ids.get(r).copied())
                .collect();
            containers_of(c, &group_ids)?
        };
        // Containers of pods skipped as unchanged stay (their key is `<pod uid>/<name>`).
        let kept = |r: &str| {
            r.split_once('/')
                .is_some_and(|(pod, _)| unchanged.pods.contains(pod))
        };
        let scope = DiffScope {
            full: true,
            deleted: &[],
            unchanged: &kept,
        };
        let d = diff(rows, &existing, scope, now, &mut report);
        containers::insert_new(c, &d.new)?;
        containers::upsert(c, &d.changed)?;
        containers::mark_deleted(c, &d.vanish, now)?;
        let logged = d.logged(c, |c, refs| containers::ids(c, provider, Some(refs)))?;
        changes::record(c, provider, "containers", &logged, now)?;
        Ok(d.written())
    })?;
    timed("containers", written, started);

    let namespaces = if full {
        None
    } else {
        let mut ns: HashSet<String> = touched_pod_namespaces;
        ns.extend(touched_service_namespaces);
        if !del.pods.is_empty() || !del.services.is_empty() {
            ns.extend(namespaces_of_deleted(conn, provider, del)?);
        }
        Some(ns)
    };
    // Links follow the services' selectors and the live pods' labels: unchanged
    // unless a pod or service row was written.
    if services_written + pods_written > 0 {
        let started = std::time::Instant::now();
        write_transaction(conn, |c| sync_links(c, provider, namespaces.as_ref()))?;
        timed("service links", 0, started);
    }
    // Labels mapped to tag categories follow the labels just written.
    let started = std::time::Instant::now();
    crate::tags::labels::sync_provider(conn, provider)?;
    timed("label tags", 0, started);
    Ok(report)
}

/// Logs how long a step of a save took (`RUST_LOG=steward::inventory=debug`).
fn timed(step: &str, rows_written: usize, started: std::time::Instant) {
    tracing::debug!(
        step,
        rows_written,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "inventory save step"
    );
}

/// The resourceVersion every live row of `provider` was written from (what a resync
/// may skip).
pub fn known_versions(conn: &mut DbConnection, provider: i64) -> Result<KnownVersions, DbError> {
    macro_rules! versions {
        ($t:ident) => {
            $t::table
                .filter($t::provider_id.eq(provider))
                .filter($t::deleted_on.is_null())
                .select(($t::ems_ref, $t::resource_version))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect()
        };
    }
    Ok(KnownVersions {
        projects: versions!(cp),
        nodes: versions!(cn),
        replicators: versions!(cr),
        services: versions!(cs),
        pods: versions!(cg),
    })
}

enum Named {
    Projects,
    Nodes,
}

/// Name → id of live projects or nodes (a deleted row answers only if no live one does).
fn ids_by_name(
    conn: &mut DbConnection,
    provider: i64,
    which: Named,
) -> Result<HashMap<String, i64>, DbError> {
    let rows: Vec<(String, i64, bool)> = match which {
        Named::Projects => cp::table
            .filter(cp::provider_id.eq(provider))
            .select((cp::name, cp::id, cp::deleted_on.is_null()))
            .load(conn)?,
        Named::Nodes => cn::table
            .filter(cn::provider_id.eq(provider))
            .select((cn::name, cn::id, cn::deleted_on.is_null()))
            .load(conn)?,
    };
    let mut map = HashMap::new();
    for (name, id, live) in rows {
        if live || !map.contains_key(&name) {
            map.insert(name, id);
        }
    }
    Ok(map)
}

/// Containers of the given pods (rows of a partial save's pods).
fn containers_of(conn: &mut DbConnection, group_ids: &[i64]) -> Result<Vec<Existing>, DbError> {
    let mut all = Vec::new();
    for chunk in group_ids.chunks(10_000) {
        let rows: Vec<(i64, String, i64, bool)> = ct::table
            .filter(ct::container_group_id.eq_any(chunk))
            .select((
                ct::id,
                ct::ems_ref,
                ct::content_hash,
                ct::deleted_on.is_not_null(),
            ))
            .load(conn)?;
        all.extend(
            rows.into_iter()
                .map(|(id, ems_ref, hash, deleted)| Existing {
                    id,
                    ems_ref,
                    hash,
                    deleted,
                }),
        );
    }
    Ok(all)
}

fn namespaces_of_deleted(
    conn: &mut DbConnection,
    provider: i64,
    del: &Deleted,
) -> Result<Vec<String>, DbError> {
    let mut ns: Vec<String> = cg::table
        .filter(cg::provider_id.eq(provider))
        .filter(cg::ems_ref.eq_any(&del.pods))
        .select(cg::namespace)
        .load(conn)?;
    ns.extend(
        cs::table
            .filter(cs::provider_id.eq(provider))
            .filter(cs::ems_ref.eq_any(&del.services))
            .select(cs::namespace)
            .load::<String>(conn)?,
    );
    Ok(ns)
}

/// Makes the service ↔ pod links of `namespaces` (all, if `None`) match the services'
/// selectors against the live pods' labels; writes only the difference.
fn sync_links(
    conn: &mut DbConnection,
    provider: i64,
    namespaces: Option<&HashSet<String>>,
) -> Result<(), DbError> {
    let ns_list: Option<Vec<String>> = namespaces.map(|n| n.iter().cloned().collect());
    if ns_list.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    let mut svc_query = cs::table
        .filter(cs::provider_id.eq(provider))
        .select((
            cs::id,
            cs::namespace,
            cs::selector,
            cs::deleted_on.is_null(),
        ))
        .into_boxed();
    let mut pod_query = cg::table
        .filter(cg::provider_id.eq(provider))
        .filter(cg::deleted_on.is_null())
        .select((cg::id, cg::namespace, cg::labels))
        .into_boxed();
    if let Some(ns) = &ns_list {
        svc_query = svc_query.filter(cs::namespace.eq_any(ns.clone()));
        pod_query = pod_query.filter(cg::namespace.eq_any(ns.clone()));
    }
    let services: Vec<(i64, String, String, bool)> = svc_query.load(conn)?;
    let pods: Vec<(i64, String, String)> = pod_query.load(conn)?;
    let mut pods_by_ns: HashMap<&str, Vec<(i64, Labels)>> = HashMap::new();
    for (id, ns, labels) in &pods {
        pods_by_ns
            .entry(ns.as_str())
            .or_default()
            .push((*id, label_map(labels)));
    }
    let mut desired: HashSet<(i64, i64)> = HashSet::new();
    for (sid, ns, selector, live) in &services {
        if !live {
            continue;
        }
        let selector = label_map(selector);
        for (pid, labels) in pods_by_ns.get(ns.as_str()).into_iter().flatten() {
            if selector_matches(&selector, labels) {
                desired.insert((*sid, *pid));
            }
        }
    }
    let service_ids: Vec<i64> = services.iter().map(|s| s.0).collect();
    let mut existing: HashSet<(i64, i64)> = HashSet::new();
    for chunk in service_ids.chunks(10_000) {
        let rows: Vec<(i64, i64)> = csg::table
            .filter(csg::container_service_id.eq_any(chunk))
            .select((csg::container_service_id, csg::container_group_id))
            .load(conn)?;
        existing.extend(rows);
    }
    let mut extra_by_service: HashMap<i64, Vec<i64>> = HashMap::new();
    for (sid, pid) in existing.difference(&desired) {
        extra_by_service.entry(*sid).or_default().push(*pid);
    }
    for (sid, pids) in extra_by_service {
        for chunk in pids.chunks(10_000) {
            diesel::delete(
                csg::table
                    .filter(csg::container_service_id.eq(sid))
                    .filter(csg::container_group_id.eq_any(chunk)),
            )
            .execute(conn)?;
        }
    }
    let missing: Vec<(i64, i64)> = desired.difference(&existing).copied().collect();
    for chunk in missing.chunks(10_000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(s, p)| {
                (
                    csg::container_service_id.eq(*s),
                    csg::container_group_id.eq(*p),
                )
            })
            .collect();
        crate::with_backend!(conn, c => diesel::insert_into(csg::table).values(&values).execute(c))?;
    }
    Ok(())
}
