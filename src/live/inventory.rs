//! The `inventory` topic: inventory objects created, updated and deleted by refreshes,
//! read from the inventory's change log (`inventory::changes`) and published to each
//! subscriber as far as its RBAC lets it read them.
//!
//! ## Across nodes
//!
//! Every save step writes one change-log row per collection in its own transaction, so
//! a row is visible exactly when its change is committed, whichever node ran the
//! refresh. Each node's [`LiveFeeds`](super::LiveFeeds) tails the log: on PostgreSQL a
//! `NOTIFY steward_inventory` sent in the same transaction wakes it (the node's LISTEN
//! thread), on SQLite the refresh of the same process does; it also polls every
//! `websocket.inventory_poll`, so a lost notification only delays events. A table
//! rather than the NOTIFY payload alone: payloads are capped at 8,000 bytes and lost
//! by a node whose listening connection is down, while rows can be read again. Rows that
//! commit after later ones are asked for again ([`Tail`]). Rows older than `websocket.change_retention` are purged by every node.
//!
//! ## Who receives what
//!
//! Subscribers are grouped into audiences (`hub::Audience`): the unrestricted ones, and
//! one per distinct restriction (tenant, providers, projects, tags). For each change-log
//! row the objects are read once (`id IN (…)`, with their name, key and namespace) and,
//! for each restricted audience, the ids it may read are found by one more query — the
//! API's own SQL for `GET /api/<collection>` with the audience's visibility — never a
//! query per object or per client. A deleted object keeps its row (`deleted_on` set),
//! so it is judged the same way as a live one: by the row as it stands, deleted rows
//! included.
//!
//! ## Batching
//!
//! One row gives each audience at most [`MAX_CHUNKS`] events of [`CHUNK`] changes
//! (created, then updated, then deleted). More changes than that, or a row that kept
//! only counts (a step of more than `inventory::changes::MAX_LOGGED` objects), give one
//! summary instead: `"reload": true` with the counts (none for a restricted audience
//! when the log has no ids to check), and no changes; the client reloads the list.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::hub::{Hub, Scope, Topic};
use super::tail::Tail;
use crate::api_query::catalog::Collection;
use crate::api_query::sql::{QueryError, Visibility};
use crate::api_query::{collection, exec, params, sql};
use crate::db::{Backend, Db, DbConnection, DbError};
use crate::inventory::changes::{ChangeRow, changes_after, newest_change_id};

/// Changes per event.
pub const CHUNK: usize = 500;
/// Events per change-log row and audience before a summary is sent instead.
pub const MAX_CHUNKS: usize = 10;
/// Change-log rows read per look.
const ROWS_PER_LOOK: i64 = 100;
/// Why a batch could not be published.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot read the database: {0}")]
    Db(#[from] DbError),
    #[error("cannot build the query: {0}")]
    Query(#[from] QueryError),
}

/// One event to publish: to whom, about which collection, what.
type Outgoing = (Scope, &'static str, Value);

/// Reads what the change log holds since the last look and publishes it to the
/// audiences listening now; answers whether more rows are waiting.
pub async fn publish_inventory(db: &Db, hub: &Hub, tail: &mut Tail) -> Result<bool, FeedError> {
    let audiences = hub.audiences(Topic::Inventory);
    let backend = db.backend();
    let Some(newest) = tail.newest() else {
        tail.start_at(db.run(newest_change_id).await?);
        return Ok(false);
    };
    let holes = tail.holes();
    let (rows, outgoing) = db
        .run(move |c| {
            let rows = changes_after(c, newest, &holes, ROWS_PER_LOOK)?;
            let mut outgoing = Vec::new();
            for row in &rows {
                match events_of(c, backend, row, &audiences) {
                    Ok(events) => outgoing.extend(events),
                    Err(FeedError::Db(e)) => return Err(e),
                    // A collection the catalogue cannot query: nothing to send.
                    Err(FeedError::Query(error)) => {
                        tracing::warn!(%error, collection = row.collection, "inventory change not published");
                    }
                }
            }
            Ok((rows.iter().map(|r| r.id).collect::<Vec<_>>(), outgoing))
        })
        .await?;
    tail.saw(&rows);
    for (scope, collection, data) in outgoing {
        hub.publish_about(Topic::Inventory, scope, Some(collection), data);
    }
    Ok(rows.len() as i64 >= ROWS_PER_LOOK)
}

/// The attributes a change carries, as the collection has them.
fn attributes(c: &Collection) -> Vec<String> {
    ["ems_ref", "name", "host", "namespace", "container_group_id"]
        .into_iter()
        .filter(|a| c.attr(a).is_some())
        .map(str::to_string)
        .collect()
}

/// The rows of `c` with these ids (deleted ones included) that `v` may read, with
/// `attrs`: the API's own statement for the collection.
pub(super) fn read(
    conn: &mut DbConnection,
    backend: Backend,
    c: &'static Collection,
    ids: &[i64],
    attrs: Vec<String>,
    v: &Visibility,
) -> Result<Vec<Value>, FeedError> {
    let (mut query, _) = params::parse("", c, 1)?;
    query.attributes = Some(attrs);
    query.include_deleted = true;
    query.parent_in = Some(("id", ids.to_vec()));
    query.limit = i64::try_from(ids.len()).unwrap_or(i64::MAX).max(1);
    let built = sql::build(backend, c, &query, v)?;
    Ok(exec::run(conn, &built, None)?.rows)
}

/// Which of `ids` an audience with `visibility` may read (None: unrestricted, all).
pub(super) fn visible_ids(
    conn: &mut DbConnection,
    backend: Backend,
    c: &'static Collection,
    ids: &[i64],
    visibility: Option<&Visibility>,
) -> Result<Option<HashSet<i64>>, FeedError> {
    let Some(v) = visibility else {
        return Ok(None);
    };
    Ok(Some(
        read(conn, backend, c, ids, Vec::new(), v)?
            .iter()
            .filter_map(id_of)
            .collect(),
    ))
}

pub(super) fn id_of(row: &Value) -> Option<i64> {
    match &row["id"] {
        Value::String(s) => s.parse().ok(),
        other => other.as_i64(),
    }
}

/// The events one change-log row gives each audience.
fn events_of(
    conn: &mut DbConnection,
    backend: Backend,
    row: &ChangeRow,
    audiences: &[(u64, Option<Arc<Visibility>>)],
) -> Result<Vec<Outgoing>, FeedError> {
    let Some(c) = collection(&row.collection) else {
        return Err(QueryError(format!("no collection `{}`", row.collection)).into());
    };
    let provider = row.provider_id.to_string();
    let summary = |counts: Value| {
        json!({
            "collection": c.name,
            "provider_id": provider,
            "reload": true,
            "counts": counts,
            "changes": [],
        })
    };
    if audiences.is_empty() {
        return Ok(Vec::new());
    }
    if !row.complete() {
        let counts = json!({
            "created": row.num_created,
            "updated": row.num_updated,
            "deleted": row.num_deleted,
        });
        return Ok(audiences
            .iter()
            .map(|(id, v)| {
                let counts = if v.is_none() {
                    counts.clone()
                } else {
                    Value::Null
                };
                (Scope::Audience(*id), c.name, summary(counts))
            })
            .collect());
    }
    let listed = row.listed();
    let actions: Vec<(&str, i64)> = [
        ("created", &listed.created),
        ("updated", &listed.updated),
        ("deleted", &listed.deleted),
    ]
    .into_iter()
    .flat_map(|(action, ids)| ids.iter().map(move |id| (action, *id)))
    .collect();
    let ids: Vec<i64> = actions.iter().map(|(_, id)| *id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let described: HashMap<i64, Value> = read(
        conn,
        backend,
        c,
        &ids,
        attributes(c),
        &Visibility::default(),
    )?
    .into_iter()
    .filter_map(|r| id_of(&r).map(|id| (id, r)))
    .collect();
    let mut outgoing = Vec::new();
    for (audience, visibility) in audiences {
        let visible = visible_ids(conn, backend, c, &ids, visibility.as_deref())?;
        let changes: Vec<Value> = actions
            .iter()
            .filter(|(_, id)| visible.as_ref().is_none_or(|v| v.contains(id)))
            .filter_map(|(action, id)| {
                let mut change = described.get(id)?.clone();
                if let Some(object) = change.as_object_mut() {
                    object.insert("action".into(), json!(action));
                }
                Some(change)
            })
            .collect();
        let scope = Scope::Audience(*audience);
        if changes.is_empty() {
            continue;
        }
        if changes.len() > CHUNK * MAX_CHUNKS {
            let count = |a: &str| changes.iter().filter(|ch| ch["action"] == a).count();
            let counts = json!({
                "created": count("created"),
                "updated": count("updated"),
                "deleted": count("deleted"),
            });
            outgoing.push((scope, c.name, summary(counts)));
            continue;
        }
        for chunk in changes.chunks(CHUNK) {
            let data = json!({
                "collection": c.name,
                "provider_id": provider,
                "reload": false,
                "changes": chunk,
            });
            outgoing.push((scope, c.name, data));
        }
    }
    Ok(outgoing)
}
