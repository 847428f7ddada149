//! `Metrics.rollup` and `Metrics.rollup_daily` (role `ems_metrics_processor`): realtime
//! → hourly per object (every type of a provider's hour in one scan), hourly → parents (container → image; pod → project,
//! replicator, service; node → provider → region → enterprise), hourly → daily. Each is
//! one `INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE` per (provider, hour):
//! running it twice gives the same rows.
//!
//! Objects' rollups average their samples; parents sum their children's averages
//! (ManageIQ's project and image rollups), except the provider, region and
//! enterprise, whose percentages are taken against the summed node capacity.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::{Deserialize, Serialize};

use crate::db::{DbConnection, DbError};
use crate::json::from_unix;
use crate::queue::{DedupKey, NewMessage, QueueClient};
use crate::with_backend;
use crate::workers::METRICS_PROCESSOR_QUEUE;

/// Resource id of the enterprise (all regions) in rollups.
pub const ENTERPRISE_ID: i64 = 0;

const VALUE_COLUMNS: &str = "cpu_usage_rate_average, cpu_usage_cores, mem_usage_absolute_average, \
    mem_usage_bytes, net_usage_rate_average, disk_usage_rate_average, disk_used_bytes, \
    cpu_total_cores, mem_total_bytes, samples";

fn insert_head() -> String {
    format!(
        "INSERT INTO metric_rollups (resource_type, resource_id, provider_id, capture_interval_name, timestamp, {VALUE_COLUMNS}) "
    )
}

fn upsert_tail() -> String {
    let sets: Vec<String> = VALUE_COLUMNS
        .split(',')
        .map(str::trim)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        " ON CONFLICT (resource_type, resource_id, capture_interval_name, timestamp) DO UPDATE SET {}",
        sets.join(", ")
    )
}

/// `$1, $2, …` for PostgreSQL; `?` for SQLite (parameters are bound in order).
fn placeholders(conn: &DbConnection, sql: &str) -> String {
    match conn {
        DbConnection::Postgresql(_) => {
            let mut n = 0;
            let mut out = String::with_capacity(sql.len());
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(ch);
                }
            }
            out
        }
        DbConnection::Sqlite(_) => sql.to_string(),
    }
}

/// Realtime → hourly for one provider and hour: one type, or every type in one scan
/// of the hour (`None`).
pub fn hourly_objects(
    conn: &mut DbConnection,
    provider: i64,
    resource_type: Option<&str>,
    hour: NaiveDateTime,
) -> Result<usize, DbError> {
    let sql = format!(
        "{head}SELECT resource_type, resource_id, MAX(provider_id), 'hourly', ?, \
         AVG(cpu_usage_rate_average), AVG(cpu_usage_cores), AVG(mem_usage_absolute_average), \
         AVG(mem_usage_bytes), AVG(net_usage_rate_average), AVG(disk_usage_rate_average), \
         AVG(disk_used_bytes), MAX(cpu_total_cores), MAX(mem_total_bytes), COUNT(*) \
         FROM metrics WHERE resource_type {type_test} ? AND provider_id = ? AND timestamp >= ? AND timestamp < ? \
         GROUP BY resource_type, resource_id{tail}",
        head = insert_head(),
        type_test = if resource_type.is_some() { "=" } else { "<>" },
        tail = upsert_tail()
    );
    let sql = placeholders(conn, &sql);
    let next = hour + chrono::Duration::hours(1);
    Ok(with_backend!(conn, c => diesel::sql_query(&sql)
        .bind::<Timestamp, _>(hour)
        .bind::<Text, _>(resource_type.unwrap_or(""))
        .bind::<BigInt, _>(provider)
        .bind::<Timestamp, _>(hour)
        .bind::<Timestamp, _>(next)
        .execute(c))?)
}

/// How a parent's hourly rows come from its children's.
struct ParentRule {
    child: &'static str,
    parent: &'static str,
    /// `JOIN …` giving the parent's id as `parent_id`.
    join: &'static str,
    parent_id: &'static str,
}

const PARENTS: &[ParentRule] = &[
    ParentRule {
        child: "container",
        parent: "container_image",
        join: "JOIN containers x ON x.id = r.resource_id",
        parent_id: "x.container_image_id",
    },
    ParentRule {
        child: "container_group",
        parent: "container_project",
        join: "JOIN container_groups x ON x.id = r.resource_id",
        parent_id: "x.container_project_id",
    },
    ParentRule {
        child: "container_group",
        parent: "container_replicator",
        join: "JOIN container_groups x ON x.id = r.resource_id",
        parent_id: "x.container_replicator_id",
    },
    ParentRule {
        child: "container_group",
        parent: "container_service",
        join: "JOIN container_service_groups x ON x.container_group_id = r.resource_id",
        parent_id: "x.container_service_id",
    },
];

fn summed() -> &'static str {
    "SUM(r.cpu_usage_rate_average), SUM(r.cpu_usage_cores), SUM(r.mem_usage_absolute_average), \
     SUM(r.mem_usage_bytes), SUM(r.net_usage_rate_average), SUM(r.disk_usage_rate_average), \
     SUM(r.disk_used_bytes), NULL, NULL, SUM(r.samples)"
}

/// Capacity-weighted: percentages of the summed node capacity.
fn weighted() -> &'static str {
    "SUM(r.cpu_usage_cores) * 100.0 / NULLIF(SUM(r.cpu_total_cores), 0), SUM(r.cpu_usage_cores), \
     SUM(r.mem_usage_bytes) * 100.0 / NULLIF(SUM(r.mem_total_bytes), 0), SUM(r.mem_usage_bytes), \
     SUM(r.net_usage_rate_average), SUM(r.disk_usage_rate_average), SUM(r.disk_used_bytes), \
     SUM(r.cpu_total_cores), SUM(r.mem_total_bytes), SUM(r.samples)"
}

/// The parents of `child_type`'s hourly rows for one provider and hour.
pub fn hourly_parents(
    conn: &mut DbConnection,
    provider: i64,
    child_type: &str,
    hour: NaiveDateTime,
    region_id: i64,
) -> Result<usize, DbError> {
    let mut n = 0;
    for rule in PARENTS.iter().filter(|r| r.child == child_type) {
        let sql = format!(
            "{head}SELECT '{parent}', {pid}, MAX(r.provider_id), 'hourly', r.timestamp, {summed} \
             FROM metric_rollups r {join} \
             WHERE r.resource_type = ? AND r.capture_interval_name = 'hourly' AND r.provider_id = ? \
             AND r.timestamp = ? AND {pid} IS NOT NULL \
             GROUP BY {pid}, r.timestamp{tail}",
            head = insert_head(),
            parent = rule.parent,
            pid = rule.parent_id,
            summed = summed(),
            join = rule.join,
            tail = upsert_tail()
        );
        n += run_parent(conn, &sql, child_type, provider, hour)?;
    }
    if child_type == "container_node" {
        let chain = [
            (
                "container_node",
                "provider",
                format!("{provider}"),
                provider,
            ),
            ("provider", "region", format!("{region_id}"), 0),
            ("region", "enterprise", format!("{ENTERPRISE_ID}"), 0),
        ];
        for (child, parent, id, owner) in chain {
            let filter = if child == "container_node" {
                "AND r.provider_id = ?"
            } else {
                "AND r.provider_id >= ?"
            };
            let sql = format!(
                "{head}SELECT '{parent}', {id}, {owner}, 'hourly', r.timestamp, {weighted} \
                 FROM metric_rollups r WHERE r.resource_type = ? AND r.capture_interval_name = 'hourly' \
                 {filter} AND r.timestamp = ? GROUP BY r.timestamp{tail}",
                head = insert_head(),
                weighted = weighted(),
                tail = upsert_tail()
            );
            let bound = if child == "container_node" {
                provider
            } else {
                0
            };
            n += run_parent(conn, &sql, child, bound, hour)?;
        }
    }
    Ok(n)
}

fn run_parent(
    conn: &mut DbConnection,
    sql: &str,
    child: &str,
    provider: i64,
    hour: NaiveDateTime,
) -> Result<usize, DbError> {
    let sql = placeholders(conn, sql);
    Ok(with_backend!(conn, c => diesel::sql_query(&sql)
        .bind::<Text, _>(child)
        .bind::<BigInt, _>(provider)
        .bind::<Timestamp, _>(hour)
        .execute(c))?)
}

/// Hourly → daily for everything of `provider` (0: the region and the enterprise) on
/// the day starting at `day`.
pub fn daily(conn: &mut DbConnection, provider: i64, day: NaiveDateTime) -> Result<usize, DbError> {
    let sql = format!(
        "{head}SELECT resource_type, resource_id, MAX(provider_id), 'daily', ?, \
         AVG(cpu_usage_rate_average), AVG(cpu_usage_cores), AVG(mem_usage_absolute_average), \
         AVG(mem_usage_bytes), AVG(net_usage_rate_average), AVG(disk_usage_rate_average), \
         AVG(disk_used_bytes), MAX(cpu_total_cores), MAX(mem_total_bytes), SUM(samples) \
         FROM metric_rollups WHERE capture_interval_name = 'hourly' AND provider_id = ? \
         AND timestamp >= ? AND timestamp < ? GROUP BY resource_type, resource_id{tail}",
        head = insert_head(),
        tail = upsert_tail()
    );
    let sql = placeholders(conn, &sql);
    let next = day + chrono::Duration::days(1);
    Ok(with_backend!(conn, c => diesel::sql_query(&sql)
        .bind::<Timestamp, _>(day)
        .bind::<BigInt, _>(provider)
        .bind::<Timestamp, _>(day)
        .bind::<Timestamp, _>(next)
        .execute(c))?)
}

#[derive(QueryableByName)]
struct RegionId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn region_id(conn: &mut DbConnection) -> Result<i64, DbError> {
    let rows: Vec<RegionId> = with_backend!(conn, c => diesel::sql_query("SELECT id FROM regions ORDER BY id LIMIT 1").load(c))?;
    Ok(rows.first().map_or(0, |r| r.id))
}

/// The arguments of `Metrics.rollup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupArgs {
    pub provider_id: i64,
    /// One type; absent: every type (one scan of the hour's samples).
    #[serde(default)]
    pub resource_type: Option<String>,
    /// The hour, as unix seconds.
    pub hour: i64,
}

/// The arguments of `Metrics.rollup_daily`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyArgs {
    pub provider_id: i64,
    pub day: i64,
}

/// One hour of one type: objects, then their parents. Returns rows written.
pub fn rollup_hour(conn: &mut DbConnection, args: &RollupArgs) -> Result<usize, DbError> {
    let hour = from_unix(args.hour - args.hour.rem_euclid(3600));
    let region = region_id(conn)?;
    let mut n = hourly_objects(conn, args.provider_id, args.resource_type.as_deref(), hour)?;
    let types: Vec<&str> = match &args.resource_type {
        Some(t) => vec![t.as_str()],
        None => vec!["container", "container_group", "container_node"],
    };
    for t in types {
        n += hourly_parents(conn, args.provider_id, t, hour, region)?;
    }
    Ok(n)
}

/// One day of a provider (and of the region and enterprise).
pub fn rollup_day(conn: &mut DbConnection, args: &DailyArgs) -> Result<usize, DbError> {
    let day = from_unix(args.day - args.day.rem_euclid(86_400));
    let mut n = daily(conn, args.provider_id, day)?;
    n += daily(conn, 0, day)?;
    Ok(n)
}

/// Queues the hourly rollups of `hours` for a provider, every type at once (one waiting
/// per hour: captures that touch an hour again join the waiting rollup).
pub async fn queue_rollups(
    queue: &QueueClient,
    provider: i64,
    hours: &[NaiveDateTime],
) -> Result<(), DbError> {
    for hour in hours {
        let args = RollupArgs {
            provider_id: provider,
            resource_type: None,
            hour: hour.and_utc().timestamp(),
        };
        put_processor(
            queue,
            "rollup",
            &serde_json::to_value(&args).unwrap_or_default(),
        )
        .await?;
    }
    Ok(())
}

/// Queues the daily rollup of the day of `hour` (one waiting per day).
pub async fn queue_daily(queue: &QueueClient, provider: i64, hour: i64) -> Result<(), DbError> {
    let args = DailyArgs {
        provider_id: provider,
        day: hour - hour.rem_euclid(86_400),
    };
    put_processor(
        queue,
        "rollup_daily",
        &serde_json::to_value(&args).unwrap_or_default(),
    )
    .await
}

async fn put_processor(
    queue: &QueueClient,
    method: &'static str,
    args: &serde_json::Value,
) -> Result<(), DbError> {
    let mut m = NewMessage::internal("Metrics", method).with_queue(METRICS_PROCESSOR_QUEUE);
    m.role = "ems_metrics_processor".into();
    m.args = args.to_string();
    queue
        .put_or_update(m, DedupKey::WAITING.with_args(), |_| None)
        .await?;
    Ok(())
}
