//! `GET /metrics`: this node's figures in the Prometheus text exposition format
//! (version 0.0.4), written by the `prometheus-client` crate — nothing here formats
//! exposition text by hand.
//!
//! What a scrape shows, every name prefixed `steward_`:
//!
//! - **Region-wide** (the same on every node of the region; aggregate with `max`, not
//!   `sum`): queue depth by state, zone and role and the oldest ready message; the
//!   metrics-capture backlog and per-type capture states; providers by type and status
//!   and each provider's last full refresh.
//! - **This node**: its queue claims, completions, stale completions and hand-backs
//!   (counters since the node started), put-to-start and handler-time percentiles (the
//!   node keeps a bucketed latency summary, not Prometheus buckets, so the percentiles
//!   are gauges and the sums and counts counters), its workers by type and status with
//!   their restarts and memory, its components' status and restarts, its resident
//!   memory and live heap, and the build.
//!
//! A scrape reads the database in a fixed number of statements (eight, whatever the
//! number of messages, workers, components or providers; one more to check the token
//! when a login is required), all in one [`Db::run`](crate::db::Db::run), and the
//! process figures on a blocking thread.
//!
//! HTTP requests by route and status are not counted: that needs the request
//! middleware, which this module does not own.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::auth::{Identity, tokens};
use crate::db::schema::{server_components as sc, workers as w};
use crate::db::{DbConnection, DbError};
use crate::metrics::CaptureType;
use crate::metrics::coordinator::{Backlog, backlog};
use crate::node::{ProcessSample, ProcessSampler};
use crate::queue::{LatencySummary, NodeQueueSnapshot, QueueCounts, queue_counts};
use crate::web::{ApiError, AppState};

/// Longest `X-Auth-Token` looked at (as the authentication door).
const MAX_TOKEN_BYTES: usize = 4096;

/// Worker statuses (README, "Workers"); each worker type present shows all of them,
/// zero or not, so a status that empties reads 0 instead of vanishing.
const WORKER_STATUSES: [&str; 6] = [
    "starting", "started", "working", "stopping", "stopped", "killed",
];

/// Component statuses (`supervision::ComponentState`); one series per status, 1 for
/// the current one.
const COMPONENT_STATUSES: [&str; 5] = ["starting", "running", "restarting", "stopped", "failed"];

/// `GET /metrics`: Prometheus text exposition (`text/plain; version=0.0.4;
/// charset=utf-8`, which Prometheus 3 requires to read the classic format).
///
/// The route is public (Prometheus scrapes it without a login). With
/// `api.metrics_require_login: true` the handler itself asks for a caller, since the
/// authentication door lets public routes through untouched: the request must carry
/// a live `X-Auth-Token` (from `GET /api/auth`), checked — and, like any use, renewed
/// for `api.token_ttl` — through [`tokens::use_token`]; without one, or with one that
/// is unknown, expired or malformed, the answer is 401 with the usual JSON error.
/// Basic credentials are not accepted here, and a valid token needs no particular
/// feature. (A scraper must scrape more often than `api.token_ttl`, or log in again.)
pub(super) async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.settings.api.metrics_require_login {
        require_token(&req, &state).await?;
    }
    let server_id = state.server_id;
    let stored = state
        .db
        .run(move |conn| StoredFigures::read(conn, server_id))
        .await?;
    let process = tokio::task::spawn_blocking(|| ProcessSampler::new().sample())
        .await
        .map_err(|e| ApiError::Internal(format!("sampling the process failed: {e}")))?;
    let figures = Figures {
        stored,
        node: state.node_stats.snapshot(),
        process,
        requests: state.request_counts.snapshot(),
    };
    let body = render(&figures)
        .map_err(|e| ApiError::Internal(format!("encoding /metrics failed: {e}")))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(body))
}

/// Lets the request through if it carries a live `X-Auth-Token` (or was already
/// authenticated by the door); 401 otherwise.
async fn require_token(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if req.extensions().get::<Identity>().is_some() {
        return Ok(());
    }
    let missing = || {
        ApiError::Unauthorized(
            "authentication required: /metrics needs an X-Auth-Token \
             (api.metrics_require_login is on)"
                .into(),
        )
    };
    let Some(value) = req.headers().get("X-Auth-Token") else {
        return Err(missing());
    };
    let invalid =
        || ApiError::Unauthorized("the token is invalid or has expired; log in again".into());
    // A token too long or not text cannot be one that was issued.
    if value.len() > MAX_TOKEN_BYTES {
        return Err(invalid());
    }
    let token = value.to_str().map_err(|_| invalid())?.trim().to_string();
    if token.is_empty() {
        return Err(missing());
    }
    let holder = state
        .db
        .run(move |conn| tokens::use_token(conn, &token))
        .await?;
    holder.map(|_| ()).ok_or_else(invalid)
}

/// Everything one scrape shows.
struct Figures {
    stored: StoredFigures,
    node: NodeQueueSnapshot,
    process: ProcessSample,
    /// HTTP requests answered by this node: (method, route, status) → count.
    requests: Vec<(crate::web::request_counts::RequestKey, u64)>,
}

/// What a scrape reads from the database.
struct StoredFigures {
    queue: QueueCounts,
    /// This server's workers.
    workers: Vec<WorkerFigure>,
    /// This server's components, by name.
    components: Vec<ComponentFigure>,
    /// Every provider with its last full refresh, by name.
    providers: Vec<ProviderFigure>,
    capture_backlog: Backlog,
    /// Capture states per resource type (every [`CaptureType`], zero or not).
    captures: Vec<CaptureFigure>,
}

/// One worker row of this server.
#[derive(Debug, Clone, Queryable)]
struct WorkerFigure {
    worker_type: String,
    status: String,
    restarts: i32,
    memory_bytes: i64,
}

/// One component row of this server.
#[derive(Debug, Clone, Queryable)]
struct ComponentFigure {
    name: String,
    status: String,
    restarts: i32,
}

/// A provider and its newest full refresh (all `None` before the first).
#[derive(Debug, Clone, QueryableByName)]
struct ProviderFigure {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    provider_type: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    refresh_status: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    refresh_started_on: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Double>)]
    collect_s: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    parse_s: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    save_s: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    total_s: Option<f64>,
}

/// Capture states of one resource type (as `GET /api/metrics/health` counts them).
#[derive(Debug, Clone, Default, QueryableByName)]
struct CaptureFigure {
    #[diesel(sql_type = Text)]
    resource_type: String,
    #[diesel(sql_type = BigInt)]
    objects: i64,
    #[diesel(sql_type = BigInt)]
    never_captured: i64,
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = BigInt)]
    rows_written: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    oldest_capture: Option<NaiveDateTime>,
}

/// Providers with their newest full refresh: one statement (the subquery walks the
/// `provider_refreshes (provider_id, id)` index, a few rows per provider).
const PROVIDERS_SQL: &str = "SELECT p.name AS name, p.provider_type AS provider_type, \
         p.status AS status, r.status AS refresh_status, r.started_on AS refresh_started_on, \
         r.collect_s AS collect_s, r.parse_s AS parse_s, r.save_s AS save_s, \
         r.total_s AS total_s \
     FROM providers p \
     LEFT JOIN provider_refreshes r ON r.id = (SELECT max(f.id) FROM provider_refreshes f \
         WHERE f.provider_id = p.id AND f.kind = 'full') \
     ORDER BY p.name";

/// Capture states per resource type, in one pass over `metric_capture_states`.
const CAPTURES_SQL: &str = "SELECT resource_type, CAST(count(*) AS BIGINT) AS objects, \
         CAST(sum(CASE WHEN last_capture_on IS NULL THEN 1 ELSE 0 END) AS BIGINT) \
             AS never_captured, \
         CAST(sum(CASE WHEN queued_on IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS queued, \
         CAST(coalesce(sum(rows_written), 0) AS BIGINT) AS rows_written, \
         min(last_capture_on) AS oldest_capture \
     FROM metric_capture_states GROUP BY resource_type ORDER BY resource_type";

impl StoredFigures {
    /// Reads the figures: eight statements, whatever the sizes of the tables.
    fn read(conn: &mut DbConnection, server_id: i64) -> Result<Self, DbError> {
        let queue = queue_counts(conn)?;
        let workers = w::table
            .filter(w::server_id.eq(server_id))
            .select((w::worker_type, w::status, w::restarts, w::memory_bytes))
            .order((w::worker_type, w::slot))
            .load(conn)?;
        let components = sc::table
            .filter(sc::server_id.eq(server_id))
            .select((sc::name, sc::status, sc::restarts))
            .order(sc::name)
            .load(conn)?;
        let providers: Vec<ProviderFigure> =
            crate::with_backend!(conn, c => diesel::sql_query(PROVIDERS_SQL).load(c))?;
        let capture_backlog = backlog(conn)?;
        let found: Vec<CaptureFigure> =
            crate::with_backend!(conn, c => diesel::sql_query(CAPTURES_SQL).load(c))?;
        Ok(Self {
            queue,
            workers,
            components,
            providers,
            capture_backlog,
            captures: with_every_capture_type(found),
        })
    }
}

/// `found`, plus a zero row for every capture type without capture states.
fn with_every_capture_type(mut found: Vec<CaptureFigure>) -> Vec<CaptureFigure> {
    for kind in CaptureType::ALL {
        if !found.iter().any(|f| f.resource_type == kind.name()) {
            found.push(CaptureFigure {
                resource_type: kind.name().to_string(),
                ..CaptureFigure::default()
            });
        }
    }
    found.sort_by(|a, b| a.resource_type.cmp(&b.resource_type));
    found
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    state: String,
    zone: String,
    role: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PercentileLabels {
    percentile: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    r#type: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentStatusLabels {
    component: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderPhaseLabels {
    provider: String,
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderStatusLabels {
    r#type: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceTypeLabels {
    resource_type: String,
}

/// A gauge of seconds, bytes or other fractional figures.
type FloatGauge = Gauge<f64, AtomicU64>;
/// A counter of seconds.
type FloatCounter = Counter<f64, AtomicU64>;

/// Seconds since the Unix epoch of a naive UTC time.
fn unix_seconds(t: NaiveDateTime) -> f64 {
    t.and_utc().timestamp_millis() as f64 / 1000.0
}

/// A gauge holding `value`.
fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

/// A float gauge holding `value`.
fn float_gauge(value: f64) -> FloatGauge {
    let g = FloatGauge::default();
    g.set(value);
    g
}

/// A counter holding `value`.
fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

/// Encodes the figures as Prometheus text exposition, version 0.0.4.
fn render(f: &Figures) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("steward");
    register_queue(&mut registry, &f.stored.queue, &f.node);
    register_workers(&mut registry, &f.stored.workers);
    register_components(&mut registry, &f.stored.components);
    register_providers(&mut registry, &f.stored.providers);
    register_captures(&mut registry, &f.stored.capture_backlog, &f.stored.captures);
    register_process(&mut registry, &f.process);
    register_requests(&mut registry, &f.requests);
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

fn register_queue(registry: &mut Registry, counts: &QueueCounts, node: &NodeQueueSnapshot) {
    let messages = Family::<QueueLabels, Gauge>::default();
    for (state, zones) in &counts.by_state {
        for (zone, roles) in zones {
            for (role, n) in roles {
                messages
                    .get_or_create(&QueueLabels {
                        state: state.clone(),
                        zone: zone.clone(),
                        role: role.clone(),
                    })
                    .set(*n);
            }
        }
    }
    // A state without messages reads 0 (as its any-zone, any-role series, which is
    // true) rather than vanishing.
    for state in counts.totals.keys() {
        if !counts.by_state.contains_key(state) {
            messages
                .get_or_create(&QueueLabels {
                    state: state.clone(),
                    zone: String::new(),
                    role: String::new(),
                })
                .set(0);
        }
    }
    registry.register(
        "queue_messages",
        "Messages in the region's queue by state, zone and role (an empty zone or role \
         means any); region-wide, the same on every node",
        messages,
    );
    if let Some(oldest) = counts.oldest_ready {
        registry.register_with_unit(
            "queue_oldest_ready_timestamp",
            "When the oldest ready message of the region was put (Unix time); region-wide",
            Unit::Seconds,
            float_gauge(unix_seconds(oldest)),
        );
    }
    registry.register(
        "queue_claimed_messages",
        "Messages this node claimed since it started",
        counter(node.claimed),
    );
    registry.register(
        "queue_claim_queries",
        "Claim queries this node ran since it started",
        counter(node.claim_queries),
    );
    let completed = Family::<StateLabels, Counter>::default();
    for (state, n) in [
        ("ok", node.completed_ok),
        ("error", node.completed_error),
        ("timeout", node.completed_timeout),
    ] {
        completed
            .get_or_create(&StateLabels {
                state: state.into(),
            })
            .inc_by(n);
    }
    registry.register(
        "queue_completed_messages",
        "Messages this node recorded finished since it started, by final state",
        completed,
    );
    registry.register(
        "queue_stale_completions",
        "Completions this node discarded because their claim no longer held the message",
        counter(node.stale_completions),
    );
    registry.register(
        "queue_handed_back_messages",
        "Claimed messages this node handed back unstarted because its claims were lost",
        counter(node.handed_back),
    );
    register_latency(
        registry,
        "queue_put_to_start",
        "from a message's put (or deliver_on, if later) to its handler starting",
        &node.put_to_start,
    );
    register_latency(
        registry,
        "queue_handler",
        "of message handlers",
        &node.handler_time,
    );
}

/// A latency summary as percentile gauges (`<name>_seconds{percentile}`), a counter
/// of the seconds observed (`<name>_seconds_total`) and one of the observations
/// (`<name>_observations_total`). Percentiles are omitted before the first
/// observation (there is none to report).
fn register_latency(registry: &mut Registry, name: &str, what: &str, s: &LatencySummary) {
    let percentiles = Family::<PercentileLabels, FloatGauge>::default();
    if s.count > 0 {
        for (percentile, ms) in [
            ("p50", s.p50_ms),
            ("p90", s.p90_ms),
            ("p99", s.p99_ms),
            ("max", s.max_ms),
        ] {
            percentiles
                .get_or_create(&PercentileLabels {
                    percentile: percentile.into(),
                })
                .set(ms / 1000.0);
        }
    }
    registry.register_with_unit(
        name,
        format!(
            "Percentiles (p50, p90, p99, max) of this node's time {what}, over everything \
             since the node started, each accurate to its histogram bucket (about 9 %)"
        ),
        Unit::Seconds,
        percentiles,
    );
    // The summary keeps whole microseconds; rounding to them again keeps the sum
    // exact, hence never decreasing from one scrape to the next.
    let sum_us = (s.mean_ms * 1000.0 * s.count as f64).round();
    let seconds = FloatCounter::default();
    seconds.inc_by(sum_us / 1e6);
    registry.register_with_unit(
        name,
        format!("Total time {what} on this node since it started"),
        Unit::Seconds,
        seconds,
    );
    registry.register(
        format!("{name}_observations"),
        format!("Times {what} recorded on this node since it started"),
        counter(s.count),
    );
}

fn register_workers(registry: &mut Registry, workers: &[WorkerFigure]) {
    let by_status = Family::<WorkerLabels, Gauge>::default();
    let restarts = Family::<TypeLabels, Gauge>::default();
    let memory = Family::<TypeLabels, Gauge>::default();
    let types: BTreeSet<&str> = workers.iter().map(|w| w.worker_type.as_str()).collect();
    for worker_type in types {
        for status in WORKER_STATUSES {
            by_status
                .get_or_create(&WorkerLabels {
                    r#type: worker_type.into(),
                    status: status.into(),
                })
                .set(0);
        }
    }
    for worker in workers {
        by_status
            .get_or_create(&WorkerLabels {
                r#type: worker.worker_type.clone(),
                status: worker.status.clone(),
            })
            .inc();
        let labels = TypeLabels {
            r#type: worker.worker_type.clone(),
        };
        restarts
            .get_or_create(&labels)
            .inc_by(i64::from(worker.restarts));
        memory.get_or_create(&labels).inc_by(worker.memory_bytes);
    }
    registry.register(
        "workers",
        "This node's workers by type and status",
        by_status,
    );
    registry.register(
        "worker_restarts",
        "Restarts of this node's workers since the node started, by type",
        restarts,
    );
    registry.register_with_unit(
        "worker_memory",
        "Heap held by this node's workers (the accounting allocator's figure), by type",
        Unit::Bytes,
        memory,
    );
}

fn register_components(registry: &mut Registry, components: &[ComponentFigure]) {
    let restarts = Family::<ComponentLabels, Gauge>::default();
    let status = Family::<ComponentStatusLabels, Gauge>::default();
    for component in components {
        restarts
            .get_or_create(&ComponentLabels {
                component: component.name.clone(),
            })
            .set(i64::from(component.restarts));
        for known in COMPONENT_STATUSES {
            status
                .get_or_create(&ComponentStatusLabels {
                    component: component.name.clone(),
                    status: known.into(),
                })
                .set(0);
        }
        status
            .get_or_create(&ComponentStatusLabels {
                component: component.name.clone(),
                status: component.status.clone(),
            })
            .set(1);
    }
    registry.register(
        "component_restarts",
        "Rebuilds of this node's supervised components since the node started",
        restarts,
    );
    registry.register(
        "component_status",
        "Status of this node's supervised components: 1 for the current status, 0 for \
         the others",
        status,
    );
}

fn register_providers(registry: &mut Registry, providers: &[ProviderFigure]) {
    let by_status = Family::<ProviderStatusLabels, Gauge>::default();
    let duration = Family::<ProviderLabels, FloatGauge>::default();
    let phases = Family::<ProviderPhaseLabels, FloatGauge>::default();
    let started = Family::<ProviderLabels, FloatGauge>::default();
    let success = Family::<ProviderLabels, Gauge>::default();
    for p in providers {
        by_status
            .get_or_create(&ProviderStatusLabels {
                r#type: p.provider_type.clone(),
                status: p.status.clone(),
            })
            .inc();
        let labels = ProviderLabels {
            provider: p.name.clone(),
        };
        if let Some(total) = p.total_s {
            duration.get_or_create(&labels).set(total);
        }
        for (phase, seconds) in [
            ("collect", p.collect_s),
            ("parse", p.parse_s),
            ("save", p.save_s),
        ] {
            if let Some(seconds) = seconds {
                phases
                    .get_or_create(&ProviderPhaseLabels {
                        provider: p.name.clone(),
                        phase: phase.into(),
                    })
                    .set(seconds);
            }
        }
        if let Some(on) = p.refresh_started_on {
            started.get_or_create(&labels).set(unix_seconds(on));
        }
        if let Some(status) = &p.refresh_status {
            success
                .get_or_create(&labels)
                .set(i64::from(status == "ok"));
        }
    }
    registry.register(
        "providers",
        "Providers of the region by type and status; region-wide",
        by_status,
    );
    registry.register_with_unit(
        "provider_last_full_refresh_duration",
        "Duration of each provider's newest full refresh, whatever its outcome; \
         region-wide",
        Unit::Seconds,
        duration,
    );
    registry.register_with_unit(
        "provider_last_full_refresh_phase",
        "Time each phase (collect, parse, save) of each provider's newest full refresh \
         took; region-wide",
        Unit::Seconds,
        phases,
    );
    registry.register_with_unit(
        "provider_last_full_refresh_timestamp",
        "When each provider's newest full refresh started (Unix time); region-wide",
        Unit::Seconds,
        started,
    );
    registry.register(
        "provider_last_full_refresh_success",
        "Whether each provider's newest full refresh succeeded (1) or failed (0); \
         region-wide",
        success,
    );
}

fn register_captures(registry: &mut Registry, backlog: &Backlog, captures: &[CaptureFigure]) {
    registry.register(
        "metrics_queued_captures",
        "Metrics capture messages waiting or running in the region's queue; region-wide",
        gauge(backlog.captures_queued),
    );
    registry.register(
        "metrics_queued_rollups",
        "Metrics rollup messages waiting or running in the region's queue; region-wide",
        gauge(backlog.rollups_queued),
    );
    let objects = Family::<ResourceTypeLabels, Gauge>::default();
    let never = Family::<ResourceTypeLabels, Gauge>::default();
    let queued = Family::<ResourceTypeLabels, Gauge>::default();
    let rows = Family::<ResourceTypeLabels, Gauge>::default();
    let oldest = Family::<ResourceTypeLabels, FloatGauge>::default();
    for c in captures {
        let labels = ResourceTypeLabels {
            resource_type: c.resource_type.clone(),
        };
        objects.get_or_create(&labels).set(c.objects);
        never.get_or_create(&labels).set(c.never_captured);
        queued.get_or_create(&labels).set(c.queued);
        rows.get_or_create(&labels).set(c.rows_written);
        if let Some(t) = c.oldest_capture {
            oldest.get_or_create(&labels).set(unix_seconds(t));
        }
    }
    registry.register(
        "metrics_capture_objects",
        "Objects the metrics coordinator tracks, by resource type; region-wide",
        objects,
    );
    registry.register(
        "metrics_capture_objects_never_captured",
        "Tracked objects never captured yet, by resource type; region-wide",
        never,
    );
    registry.register(
        "metrics_capture_objects_queued",
        "Tracked objects with a capture queued, by resource type; region-wide",
        queued,
    );
    registry.register(
        "metrics_rows_written",
        "Metric rows written by the captures of the tracked objects, by resource type; \
         region-wide",
        rows,
    );
    registry.register_with_unit(
        "metrics_oldest_capture_timestamp",
        "The oldest last capture among the captured objects of each resource type (Unix \
         time); region-wide",
        Unit::Seconds,
        oldest,
    );
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

fn register_requests(
    registry: &mut Registry,
    requests: &[(crate::web::request_counts::RequestKey, u64)],
) {
    let family = Family::<HttpLabels, Counter>::default();
    for ((method, route, status), n) in requests {
        family
            .get_or_create(&HttpLabels {
                method: method.clone(),
                route: route.clone(),
                status: status.to_string(),
            })
            .inc_by(*n);
    }
    registry.register(
        "http_requests",
        "HTTP requests this node answered, by method, route pattern and status",
        family,
    );
}

fn register_process(registry: &mut Registry, process: &ProcessSample) {
    // Zero means the platform gave no process information: say nothing rather than 0.
    let bytes = |n: u64| gauge(i64::try_from(n).unwrap_or(i64::MAX));
    if process.rss_bytes > 0 {
        registry.register_with_unit(
            "process_resident_memory",
            "Resident set size of this node's process",
            Unit::Bytes,
            bytes(process.rss_bytes),
        );
    }
    registry.register_with_unit(
        "process_heap",
        "Heap allocated through Rust by this node's process and still live (C libraries \
         that call malloc themselves are not counted)",
        Unit::Bytes,
        bytes(process.heap_bytes),
    );
    registry.register(
        "db_statements",
        "Statements this node's process has sent to the region database",
        counter(crate::db::statements_executed()),
    );
    registry.register(
        "build",
        "This node's build (value 1)",
        Info::new(vec![(
            "version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn latency(count: u64) -> LatencySummary {
        LatencySummary {
            count,
            mean_ms: 12.5,
            p50_ms: 10.0,
            p90_ms: 20.0,
            p99_ms: 40.0,
            max_ms: 80.0,
        }
    }

    fn figures() -> Figures {
        let mut queue = QueueCounts::default();
        queue.by_state.insert(
            "ready".into(),
            BTreeMap::from([(
                "default".into(),
                BTreeMap::from([("".into(), 3), ("automate".into(), 7)]),
            )]),
        );
        queue.totals = BTreeMap::from([("ready".into(), 10), ("error".into(), 0)]);
        queue.oldest_ready = NaiveDateTime::parse_from_str("2026-01-02 03:04:05", "%F %T").ok();
        Figures {
            stored: StoredFigures {
                queue,
                workers: vec![
                    WorkerFigure {
                        worker_type: "generic".into(),
                        status: "working".into(),
                        restarts: 2,
                        memory_bytes: 1000,
                    },
                    WorkerFigure {
                        worker_type: "generic".into(),
                        status: "started".into(),
                        restarts: 1,
                        memory_bytes: 500,
                    },
                ],
                components: vec![ComponentFigure {
                    name: "queue_dispatcher".into(),
                    status: "running".into(),
                    restarts: 4,
                }],
                providers: vec![
                    ProviderFigure {
                        name: "lab \"one\"".into(),
                        provider_type: "kubernetes".into(),
                        status: "ok".into(),
                        refresh_status: Some("ok".into()),
                        refresh_started_on: NaiveDateTime::parse_from_str(
                            "2026-01-02 03:04:05.5",
                            "%F %T%.f",
                        )
                        .ok(),
                        collect_s: Some(1.0),
                        parse_s: Some(0.25),
                        save_s: Some(0.5),
                        total_s: Some(1.75),
                    },
                    ProviderFigure {
                        name: "new".into(),
                        provider_type: "openshift".into(),
                        status: "unknown".into(),
                        refresh_status: None,
                        refresh_started_on: None,
                        collect_s: None,
                        parse_s: None,
                        save_s: None,
                        total_s: None,
                    },
                ],
                capture_backlog: Backlog {
                    captures_queued: 5,
                    rollups_queued: 2,
                    ..Backlog::default()
                },
                captures: with_every_capture_type(vec![CaptureFigure {
                    resource_type: "container".into(),
                    objects: 10,
                    never_captured: 1,
                    queued: 3,
                    rows_written: 1234,
                    oldest_capture: None,
                }]),
            },
            node: NodeQueueSnapshot {
                claimed: 11,
                claim_queries: 4,
                completed_ok: 9,
                completed_error: 1,
                completed_timeout: 0,
                stale_completions: 0,
                handed_back: 0,
                put_to_start: latency(10),
                handler_time: latency(0),
            },
            process: ProcessSample {
                rss_bytes: 50 << 20,
                cpu_percent: 0.0,
                heap_bytes: 1 << 20,
            },
            requests: vec![(("GET".into(), "/api/servers".into(), 200), 3)],
        }
    }

    fn rendered() -> String {
        match render(&figures()) {
            Ok(text) => text,
            Err(e) => panic!("render: {e}"),
        }
    }

    fn has_line(text: &str, line: &str) {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }

    #[test]
    fn every_figure_is_a_typed_and_documented_steward_metric() {
        let text = rendered();
        let mut helped = Vec::new();
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                assert!(!help.trim().is_empty(), "{line}");
                helped.push(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
                assert!(["counter", "gauge"].contains(&kind), "{line}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
                typed.push(name.to_string());
            } else {
                assert!(!line.starts_with('#'), "{line}");
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert!(name.starts_with("steward_"), "{line}");
                assert!(typed.iter().any(|t| t == name), "{line} has no TYPE");
                assert!(!line.contains("quantile="), "{line}");
            }
        }
        assert_eq!(helped, typed);
    }

    #[test]
    fn queue_figures_are_exposed() {
        let text = rendered();
        has_line(
            &text,
            r#"steward_queue_messages{state="ready",zone="default",role="automate"} 7"#,
        );
        has_line(
            &text,
            r#"steward_queue_messages{state="ready",zone="default",role=""} 3"#,
        );
        // A state without messages reads zero.
        has_line(
            &text,
            r#"steward_queue_messages{state="error",zone="",role=""} 0"#,
        );
        has_line(
            &text,
            "steward_queue_oldest_ready_timestamp_seconds 1767323045.0",
        );
        has_line(&text, "steward_queue_claimed_messages_total 11");
        has_line(
            &text,
            r#"steward_queue_completed_messages_total{state="error"} 1"#,
        );
        has_line(
            &text,
            r#"steward_queue_completed_messages_total{state="timeout"} 0"#,
        );
        has_line(
            &text,
            r#"steward_queue_put_to_start_seconds{percentile="p99"} 0.04"#,
        );
        has_line(&text, "steward_queue_put_to_start_seconds_total 0.125");
        has_line(&text, "steward_queue_put_to_start_observations_total 10");
        // No handler ran yet: counts at zero, no percentiles to speak of.
        has_line(&text, "steward_queue_handler_observations_total 0");
        assert!(!text.contains("steward_queue_handler_seconds{"), "{text}");
    }

    #[test]
    fn node_figures_are_exposed() {
        let text = rendered();
        has_line(
            &text,
            r#"steward_workers{type="generic",status="working"} 1"#,
        );
        has_line(
            &text,
            r#"steward_workers{type="generic",status="killed"} 0"#,
        );
        has_line(&text, r#"steward_worker_restarts{type="generic"} 3"#);
        has_line(&text, r#"steward_worker_memory_bytes{type="generic"} 1500"#);
        has_line(
            &text,
            r#"steward_component_restarts{component="queue_dispatcher"} 4"#,
        );
        has_line(
            &text,
            r#"steward_component_status{component="queue_dispatcher",status="running"} 1"#,
        );
        has_line(
            &text,
            r#"steward_component_status{component="queue_dispatcher",status="failed"} 0"#,
        );
        has_line(&text, "steward_process_resident_memory_bytes 52428800");
        has_line(&text, "steward_process_heap_bytes 1048576");
        assert!(
            text.contains("steward_http_requests_total{")
                && text.contains("route=\"/api/servers\"")
                && text.contains("status=\"200\""),
            "{text}"
        );
        has_line(
            &text,
            &format!(
                r#"steward_build_info{{version="{}"}} 1"#,
                env!("CARGO_PKG_VERSION")
            ),
        );
    }

    #[test]
    fn provider_and_capture_figures_are_exposed() {
        let text = rendered();
        has_line(
            &text,
            r#"steward_providers{type="kubernetes",status="ok"} 1"#,
        );
        has_line(
            &text,
            r#"steward_providers{type="openshift",status="unknown"} 1"#,
        );
        // Label values are escaped by the encoder.
        has_line(
            &text,
            r#"steward_provider_last_full_refresh_duration_seconds{provider="lab \"one\""} 1.75"#,
        );
        has_line(
            &text,
            r#"steward_provider_last_full_refresh_phase_seconds{provider="lab \"one\"",phase="parse"} 0.25"#,
        );
        has_line(
            &text,
            r#"steward_provider_last_full_refresh_timestamp_seconds{provider="lab \"one\""} 1767323045.5"#,
        );
        has_line(
            &text,
            r#"steward_provider_last_full_refresh_success{provider="lab \"one\""} 1"#,
        );
        assert!(!text.contains(r#"provider="new""#), "{text}");
        has_line(&text, "steward_metrics_queued_captures 5");
        has_line(&text, "steward_metrics_queued_rollups 2");
        has_line(
            &text,
            r#"steward_metrics_rows_written{resource_type="container"} 1234"#,
        );
        has_line(
            &text,
            r#"steward_metrics_capture_objects_queued{resource_type="container"} 3"#,
        );
        // Capture types without states read zero rather than vanish.
        has_line(
            &text,
            r#"steward_metrics_capture_objects{resource_type="container_node"} 0"#,
        );
    }
}
