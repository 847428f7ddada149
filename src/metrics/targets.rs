//! What is measured: nodes, pods and containers of a provider, with the node capacity
//! their percentages are taken against (as ManageIQ does: % of the node's cores and
//! memory), and how each is named in Prometheus' labels.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{container_groups as g, container_nodes as n, containers as c};
use crate::db::{DbConnection, DbError};

/// The resource types captured from Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureType {
    ContainerNode,
    ContainerGroup,
    Container,
}

impl CaptureType {
    pub const ALL: [CaptureType; 3] = [
        CaptureType::ContainerNode,
        CaptureType::ContainerGroup,
        CaptureType::Container,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CaptureType::ContainerNode => "container_node",
            CaptureType::ContainerGroup => "container_group",
            CaptureType::Container => "container",
        }
    }
}

/// A node's capacity, as joined (absent when the node is unknown).
type Capacity = (Option<f64>, Option<i64>);

/// One object to capture.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: i64,
    /// The Prometheus label values naming it: `[node]`, `[namespace, pod]` or
    /// `[namespace, pod, container]`.
    pub key: Vec<String>,
    pub node_cores: f64,
    pub node_memory: f64,
}

/// Objects of `provider` and `kind` that exist now or were deleted after `since` (their
/// last samples are still worth capturing), with their ids.
pub fn live_ids(
    conn: &mut DbConnection,
    provider: i64,
    kind: CaptureType,
    since: NaiveDateTime,
) -> Result<Vec<i64>, DbError> {
    let ids = match kind {
        CaptureType::ContainerNode => n::table
            .filter(n::provider_id.eq(provider))
            .filter(n::deleted_on.is_null().or(n::deleted_on.gt(since)))
            .select(n::id)
            .order(n::id)
            .load(conn)?,
        CaptureType::ContainerGroup => g::table
            .filter(g::provider_id.eq(provider))
            .filter(g::deleted_on.is_null().or(g::deleted_on.gt(since)))
            .select(g::id)
            .order(g::id)
            .load(conn)?,
        CaptureType::Container => c::table
            .filter(c::provider_id.eq(provider))
            .filter(c::deleted_on.is_null().or(c::deleted_on.gt(since)))
            .select(c::id)
            .order(c::id)
            .load(conn)?,
    };
    Ok(ids)
}

/// The targets with these ids (objects whose node capacity is unknown are skipped:
/// their percentages could not be computed).
pub fn load_targets(
    conn: &mut DbConnection,
    kind: CaptureType,
    ids: &[i64],
) -> Result<Vec<Target>, DbError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5_000) {
        match kind {
            CaptureType::ContainerNode => {
                let rows: Vec<(i64, String, f64, i64)> = n::table
                    .filter(n::id.eq_any(chunk))
                    .select((n::id, n::name, n::cpu_cores, n::memory_bytes))
                    .load(conn)?;
                out.extend(rows.into_iter().map(|(id, name, cores, mem)| Target {
                    id,
                    key: vec![name],
                    node_cores: cores,
                    node_memory: mem as f64,
                }));
            }
            CaptureType::ContainerGroup => {
                let rows: Vec<(i64, String, String, Capacity)> = g::table
                    .left_join(n::table)
                    .filter(g::id.eq_any(chunk))
                    .select((
                        g::id,
                        g::namespace,
                        g::name,
                        (n::cpu_cores.nullable(), n::memory_bytes.nullable()),
                    ))
                    .load(conn)?;
                out.extend(rows.into_iter().map(|(id, ns, name, (cores, mem))| Target {
                    id,
                    key: vec![ns, name],
                    node_cores: cores.unwrap_or(0.0),
                    node_memory: mem.unwrap_or(0) as f64,
                }));
            }
            CaptureType::Container => {
                let rows: Vec<(i64, String, String, String, Capacity)> = c::table
                    .inner_join(g::table.left_join(n::table))
                    .filter(c::id.eq_any(chunk))
                    .select((
                        c::id,
                        g::namespace,
                        g::name,
                        c::name,
                        (n::cpu_cores.nullable(), n::memory_bytes.nullable()),
                    ))
                    .load(conn)?;
                out.extend(
                    rows.into_iter()
                        .map(|(id, ns, pod, name, (cores, mem))| Target {
                            id,
                            key: vec![ns, pod, name],
                            node_cores: cores.unwrap_or(0.0),
                            node_memory: mem.unwrap_or(0) as f64,
                        }),
                );
            }
        }
    }
    Ok(out)
}

/// Targets by their label key.
pub fn by_key(targets: &[Target]) -> HashMap<Vec<String>, usize> {
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.key.clone(), i))
        .collect()
}
