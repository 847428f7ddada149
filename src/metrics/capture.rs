//! `Metrics.capture` (role `ems_metrics_collector`): one batch of objects of one type,
//! one `query_range` per counter for the whole batch, realtime rows written in
//! chunks, capture states advanced, rollups queued for the hours touched.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::env::MetricsEnv;
use super::prometheus_client::PromError;
use super::prometheus_client::{PromClient, Series};
use super::queries::{self, Counter};
use super::rollup::queue_rollups;
use super::store::{self, MetricRow, StateRow};
use super::targets::{self, CaptureType, Target};
use crate::db::{Db, DbError, write_transaction};
use crate::json::from_unix;
use crate::providers::{Provider, find_provider, prometheus_access_for};
use crate::queue::QueueClient;

/// The arguments of `Metrics.capture`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureArgs {
    pub provider_id: i64,
    pub resource_type: CaptureType,
    pub ids: Vec<i64>,
    /// Backfill: capture this range (unix seconds) instead of "since the last capture".
    #[serde(default)]
    pub start: Option<i64>,
    #[serde(default)]
    pub end: Option<i64>,
}

/// What a capture did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CaptureReport {
    pub targets: usize,
    pub rows: usize,
    pub queries: usize,
    /// Objects with less data than asked for.
    pub short: usize,
    /// Objects skipped: their node's capacity is unknown.
    pub skipped: usize,
}

/// Why a capture failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("provider {0} has no Prometheus endpoint (prometheus_url)")]
    NoEndpoint(String),
    #[error("{0}")]
    Config(String),
    #[error("Prometheus: {0}")]
    Prometheus(#[from] PromError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The client for a provider's Prometheus (its bearer token, its TLS settings), built
/// once and reused until those settings change.
pub fn client_for(env: &MetricsEnv, provider: &Provider) -> Result<PromClient, CaptureError> {
    if provider.prometheus_url.trim().is_empty() {
        return Err(CaptureError::NoEndpoint(provider.name.clone()));
    }
    // Every change to a provider moves its `updated_on`.
    let fingerprint = format!("{}|{}", provider.id, provider.updated_on);
    env.client(provider.id, &fingerprint, || {
        let keys = env.keys().map_err(CaptureError::Config)?;
        let access = prometheus_access_for(provider, &keys).map_err(CaptureError::Config)?;
        Ok(PromClient::new(
            &access,
            env.settings.prometheus_connect_timeout,
            env.settings.prometheus_request_timeout,
        )?)
    })
}

/// Values per target, per timestamp, for one counter.
type Samples = HashMap<usize, BTreeMap<i64, f64>>;

fn assign(series: Vec<Series>, labels: &[&str], index: &HashMap<Vec<String>, usize>) -> Samples {
    let mut out: Samples = HashMap::new();
    for s in series {
        let key: Vec<String> = labels
            .iter()
            .map(|l| s.labels.get(*l).cloned().unwrap_or_default())
            .collect();
        if let Some(&i) = index.get(&key) {
            out.entry(i).or_default().extend(s.points);
        }
    }
    out
}

/// Captures one batch.
pub async fn capture(
    db: &Db,
    queue: &QueueClient,
    env: &MetricsEnv,
    args: CaptureArgs,
) -> Result<CaptureReport, CaptureError> {
    let kind = args.resource_type;
    let type_name = kind.name();
    let provider_id = args.provider_id;
    let (provider, _zone) = db.run(move |c| find_provider(c, provider_id)).await?;
    let client = client_for(env, &provider)?;
    let ids = args.ids.clone();
    let (all, last) = db
        .run(move |c| {
            let t = targets::load_targets(c, kind, &ids)?;
            let l = store::last_captures(c, type_name, &ids)?;
            Ok((t, l))
        })
        .await?;
    let mut report = CaptureReport::default();
    let (targets, skipped): (Vec<Target>, Vec<Target>) = all
        .into_iter()
        .partition(|t| t.node_cores > 0.0 && t.node_memory > 0.0);
    report.skipped = skipped.len();
    report.targets = targets.len();
    if targets.is_empty() {
        return Ok(report);
    }
    let step = env.settings.realtime_interval.as_secs().max(1) as i64;
    let now = chrono::Utc::now().timestamp();
    let end = args.end.unwrap_or(now).min(now) / step * step;
    let initial = end - env.settings.initial_capture_window.as_secs() as i64;
    let start = args.start.unwrap_or_else(|| {
        targets
            .iter()
            .map(|t| {
                last.get(&t.id)
                    .map_or(initial, |l| l.and_utc().timestamp() + step)
            })
            .min()
            .unwrap_or(initial)
            .max(end - 7 * 86_400)
    }) / step
        * step;
    if start > end {
        return Ok(report);
    }
    let index = targets::by_key(&targets);
    let labels = queries::key_labels(kind);
    let mut samples: HashMap<Counter, Samples> = HashMap::new();
    for &counter in queries::counters(kind) {
        let q = queries::cadvisor(kind, counter, &targets);
        let series = client.query_range(&q, start, end, step).await?;
        report.queries += 1;
        samples.insert(counter, assign(series, labels, &index));
    }
    if kind == CaptureType::ContainerNode {
        // Nodes the kubelet's cAdvisor does not report: node-exporter's series.
        let missing: Vec<Target> = targets
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                samples
                    .get(&Counter::Cpu)
                    .is_none_or(|s| !s.contains_key(i))
            })
            .map(|(_, t)| t.clone())
            .collect();
        if !missing.is_empty() {
            for &counter in queries::counters(kind) {
                let q = queries::node_exporter(counter, &missing);
                let series = client.query_range(&q, start, end, step).await?;
                report.queries += 1;
                let found = assign(series, &["node"], &index);
                samples.entry(counter).or_default().extend(found);
            }
        }
    }
    let (rows, states) = build_rows(
        &provider,
        kind,
        &targets,
        &samples,
        &last,
        start,
        step,
        &mut report,
    );
    if report.short > 0 {
        tracing::warn!(
            provider = %provider.name,
            resource_type = type_name,
            objects = report.short,
            expected_from = %from_unix(start),
            "expected to get data as of [{}], but got less for {} objects",
            from_unix(start),
            report.short
        );
    }
    report.rows = rows.len();
    let hours = hours_touched(&rows);
    db.run(move |c| {
        store::ensure_partitions(c, &rows)?;
        write_transaction(c, |c| {
            store::write_rows(c, &rows)?;
            store::mark_captured(c, &states)
        })
    })
    .await?;
    queue_rollups(queue, provider.id, &hours).await?;
    Ok(report)
}

fn hours_touched(rows: &[MetricRow]) -> Vec<NaiveDateTime> {
    let mut hours: Vec<NaiveDateTime> = rows.iter().map(|r| store::hour_of(r.timestamp)).collect();
    hours.sort_unstable();
    hours.dedup();
    hours
}

#[allow(clippy::too_many_arguments)]
fn build_rows(
    provider: &Provider,
    kind: CaptureType,
    targets: &[Target],
    samples: &HashMap<Counter, Samples>,
    last: &HashMap<i64, NaiveDateTime>,
    start: i64,
    step: i64,
    report: &mut CaptureReport,
) -> (Vec<MetricRow>, Vec<StateRow>) {
    let empty = BTreeMap::new();
    let series = |counter: Counter, i: usize| {
        samples
            .get(&counter)
            .and_then(|s| s.get(&i))
            .unwrap_or(&empty)
    };
    let mut rows = Vec::new();
    let mut states = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let (cpu, mem) = (series(Counter::Cpu, i), series(Counter::Memory, i));
        let (rx, tx, disk) = (
            series(Counter::NetRx, i),
            series(Counter::NetTx, i),
            series(Counter::Disk, i),
        );
        let mut newest = last.get(&t.id).copied();
        let mut written = 0;
        if cpu
            .keys()
            .next()
            .is_none_or(|first| *first > start + 2 * step)
        {
            report.short += 1;
        }
        for (&ts, &cores) in cpu {
            // A timestamp missing a required counter is dropped (as ManageIQ does).
            let Some(&bytes) = mem.get(&ts) else { continue };
            let net = match (rx.get(&ts), tx.get(&ts)) {
                (None, None) => None,
                (r, t) => Some((r.copied().unwrap_or(0.0) + t.copied().unwrap_or(0.0)) / 1000.0),
            };
            let is_node = kind == CaptureType::ContainerNode;
            rows.push(MetricRow {
                resource_type: kind.name().to_string(),
                resource_id: t.id,
                provider_id: provider.id,
                timestamp: from_unix(ts),
                capture_interval: step as i32,
                cpu_usage_rate_average: Some(cores / t.node_cores * 100.0),
                cpu_usage_cores: Some(cores),
                mem_usage_absolute_average: Some(bytes / t.node_memory * 100.0),
                mem_usage_bytes: Some(bytes),
                net_usage_rate_average: net,
                disk_usage_rate_average: None,
                disk_used_bytes: disk.get(&ts).copied(),
                cpu_total_cores: is_node.then_some(t.node_cores),
                mem_total_bytes: is_node.then_some(t.node_memory),
            });
            written += 1;
            newest = newest.max(Some(from_unix(ts)));
        }
        states.push(StateRow {
            resource_type: kind.name().to_string(),
            resource_id: t.id,
            provider_id: provider.id,
            last_capture_on: newest,
            queued_on: None,
            rows_written: written,
        });
    }
    (rows, states)
}
