//! The `events` and `alerts` topics: `event_streams` rows as the event handlers store
//! them, and alerts as they are raised, updated, acknowledged, assigned and resolved —
//! each subscriber receiving the rows its RBAC lets it read, as `GET /api/event_streams`
//! and `GET /api/alerts` show them.
//!
//! - **Events** are tailed by id ([`Tail`]: late commits are asked for again), at most
//!   [`EVENTS_PER_LOOK`] per look; `"more": true` says the feed is catching up.
//! - **Alerts** are followed by `updated_on`: each look reads the alerts changed since
//!   the last one less [`ALERT_SLACK`] (commits that land late, clocks of other nodes a
//!   little behind) and skips the versions already published.
//!
//! As on the `inventory` topic, the rows are read once with the API's own statement and,
//! for each restricted audience, the ids it may read are found by one more query.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use super::hub::{Hub, Scope, Topic};
use super::inventory::{FeedError, id_of, read, visible_ids};
use super::tail::Tail;
use crate::api_query::catalog::Collection;
use crate::api_query::collection;
use crate::api_query::sql::{QueryError, Visibility};
use crate::db::schema::{alerts as al, event_streams as es};
use crate::db::{Backend, Db, DbConnection};
use crate::with_backend;

/// Event rows read per look.
pub const EVENTS_PER_LOOK: i64 = 500;
/// Rows per published event (a row is up to about 5 KiB with its message).
const ROWS_PER_EVENT: usize = 100;
/// Alert versions read per page, and alerts per published event.
const ALERTS_PER_LOOK: i64 = 500;
/// Pages of alert versions read per look at most.
const ALERT_PAGES: usize = 20;
/// How far back each look at the alerts reaches before the last one.
const ALERT_SLACK: chrono::Duration = chrono::Duration::seconds(10);

type Audiences = [(u64, Option<Arc<Visibility>>)];

fn catalogued(name: &str) -> Result<&'static Collection, FeedError> {
    collection(name).ok_or_else(|| QueryError(format!("no collection `{name}`")).into())
}

/// Every attribute of `c`: a subscriber gets the rows as the API lists them.
fn all_attributes(c: &Collection) -> Vec<String> {
    c.attrs.iter().map(|a| a.name.to_string()).collect()
}

/// The rows of `c` with `ids`, in the order of `ids`, for each audience that may read
/// any of them.
fn per_audience(
    conn: &mut DbConnection,
    backend: Backend,
    c: &'static Collection,
    ids: &[i64],
    audiences: &Audiences,
) -> Result<Vec<(Scope, Vec<Value>)>, FeedError> {
    if ids.is_empty() || audiences.is_empty() {
        return Ok(Vec::new());
    }
    let rows: HashMap<i64, Value> = read(
        conn,
        backend,
        c,
        ids,
        all_attributes(c),
        &Visibility::default(),
    )?
    .into_iter()
    .filter_map(|r| id_of(&r).map(|id| (id, r)))
    .collect();
    let mut out = Vec::new();
    for (audience, visibility) in audiences {
        let visible = visible_ids(conn, backend, c, ids, visibility.as_deref())?;
        let mine: Vec<Value> = ids
            .iter()
            .filter(|id| visible.as_ref().is_none_or(|v| v.contains(id)))
            .filter_map(|id| rows.get(id).cloned())
            .collect();
        if !mine.is_empty() {
            out.push((Scope::Audience(*audience), mine));
        }
    }
    Ok(out)
}

/// Publishes the event rows stored since the last look to the audiences listening
/// now; answers whether more rows are waiting.
pub async fn publish_events(db: &Db, hub: &Hub, tail: &mut Tail) -> Result<bool, FeedError> {
    let Some(newest) = tail.newest() else {
        let newest = db
            .run(|c| {
                Ok(with_backend!(c, c => es::table
                    .select(diesel::dsl::max(es::id))
                    .first::<Option<i64>>(c))?)
            })
            .await?;
        tail.start_at(newest);
        return Ok(false);
    };
    let audiences = hub.audiences(Topic::Events);
    let backend = db.backend();
    let holes = tail.holes();
    let (ids, outgoing) = db
        .run(move |c| {
            let ids: Vec<i64> = with_backend!(c, c => es::table
                .filter(es::id.gt(newest).or(es::id.eq_any(&holes)))
                .order(es::id.asc())
                .select(es::id)
                .limit(EVENTS_PER_LOOK)
                .load(c))?;
            let outgoing = match catalogued("event_streams")
                .and_then(|coll| per_audience(c, backend, coll, &ids, &audiences))
            {
                Ok(o) => o,
                Err(FeedError::Db(e)) => return Err(e),
                Err(FeedError::Query(error)) => {
                    tracing::warn!(%error, "events not published");
                    Vec::new()
                }
            };
            Ok((ids, outgoing))
        })
        .await?;
    tail.saw(&ids);
    let more = ids.len() as i64 >= EVENTS_PER_LOOK;
    for (scope, rows) in outgoing {
        let chunks = rows.chunks(ROWS_PER_EVENT).count();
        for (i, chunk) in rows.chunks(ROWS_PER_EVENT).enumerate() {
            let more = more || i + 1 < chunks;
            hub.publish(
                Topic::Events,
                scope,
                json!({"event_streams": chunk, "more": more}),
            );
        }
    }
    Ok(more)
}

/// Where the alerts feed stands: the newest `updated_on` seen, and the versions
/// published within the slack before it.
#[derive(Debug, Default)]
pub struct AlertCursor {
    /// None: no baseline yet.
    since: Option<NaiveDateTime>,
    published: HashMap<i64, NaiveDateTime>,
}

impl AlertCursor {
    /// Whether the cursor has not taken its baseline yet.
    pub fn needs_baseline(&self) -> bool {
        self.since.is_none()
    }

    /// Takes in the versions read; answers the ids not published yet.
    fn fresh(&mut self, versions: &[(i64, NaiveDateTime)]) -> Vec<i64> {
        let mut ids = Vec::new();
        for (id, updated) in versions {
            if self.published.get(id) == Some(updated) {
                continue;
            }
            self.published.insert(*id, *updated);
            self.since = self.since.max(Some(*updated));
            ids.push(*id);
        }
        if let Some(since) = self.since {
            let floor = since - ALERT_SLACK;
            self.published.retain(|_, t| *t >= floor);
        }
        ids
    }
}

/// The alerts' versions changed at `floor` or after, oldest first, at most
/// [`ALERT_PAGES`] pages (a flood of changes within the slack is paged through, not
/// read again and again from its start).
async fn alert_versions(
    db: &Db,
    floor: NaiveDateTime,
) -> Result<Vec<(i64, NaiveDateTime)>, FeedError> {
    Ok(db
        .run(move |c| {
            let mut all: Vec<(i64, NaiveDateTime)> = Vec::new();
            for _ in 0..ALERT_PAGES {
                let page: Vec<(i64, NaiveDateTime)> = match all.last().copied() {
                    None => with_backend!(c, c => al::table
                        .filter(al::updated_on.ge(floor))
                        .order((al::updated_on.asc(), al::id.asc()))
                        .select((al::id, al::updated_on))
                        .limit(ALERTS_PER_LOOK)
                        .load(c))?,
                    Some((id, t)) => with_backend!(c, c => al::table
                        .filter(al::updated_on.gt(t).or(al::updated_on.eq(t).and(al::id.gt(id))))
                        .order((al::updated_on.asc(), al::id.asc()))
                        .select((al::id, al::updated_on))
                        .limit(ALERTS_PER_LOOK)
                        .load(c))?,
                };
                let full = page.len() as i64 == ALERTS_PER_LOOK;
                all.extend(page);
                if !full {
                    break;
                }
            }
            Ok(all)
        })
        .await?)
}

/// Publishes the alerts changed since the last look to the audiences listening now.
pub async fn publish_alerts(db: &Db, hub: &Hub, cursor: &mut AlertCursor) -> Result<(), FeedError> {
    let Some(since) = cursor.since else {
        let newest = db
            .run(|c| {
                Ok(with_backend!(c, c => al::table
                    .select(diesel::dsl::max(al::updated_on))
                    .first::<Option<NaiveDateTime>>(c))?)
            })
            .await?;
        // What exists now is history: taken in as published.
        cursor.since = Some(newest.unwrap_or_default());
        if let Some(newest) = newest {
            let versions = alert_versions(db, newest - ALERT_SLACK).await?;
            cursor.fresh(&versions);
        }
        return Ok(());
    };
    let versions = alert_versions(db, since - ALERT_SLACK).await?;
    let ids = cursor.fresh(&versions);
    if ids.is_empty() {
        return Ok(());
    }
    let audiences = hub.audiences(Topic::Alerts);
    let backend = db.backend();
    let outgoing = db
        .run(move |c| {
            match catalogued("alerts")
                .and_then(|coll| per_audience(c, backend, coll, &ids, &audiences))
            {
                Ok(o) => Ok(o),
                Err(FeedError::Db(e)) => Err(e),
                Err(FeedError::Query(error)) => {
                    tracing::warn!(%error, "alerts not published");
                    Ok(Vec::new())
                }
            }
        })
        .await?;
    for (scope, rows) in outgoing {
        for chunk in rows.chunks(ROWS_PER_EVENT) {
            hub.publish(Topic::Alerts, scope, json!({ "alerts": chunk }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
            .unwrap_or_default()
            .naive_utc()
    }

    #[test]
    fn an_alert_version_is_published_once() {
        let mut cursor = AlertCursor {
            since: Some(at(0)),
            ..AlertCursor::default()
        };
        assert_eq!(cursor.fresh(&[(1, at(1)), (2, at(2))]), vec![1, 2]);
        assert_eq!(cursor.fresh(&[(1, at(1)), (2, at(2))]), Vec::<i64>::new());
        assert_eq!(
            cursor.fresh(&[(2, at(3))]),
            vec![2],
            "a new version is news"
        );
        assert_eq!(cursor.since, Some(at(3)));
        cursor.fresh(&[(3, at(60))]);
        assert!(
            !cursor.published.contains_key(&1),
            "versions older than the slack are forgotten"
        );
    }
}
