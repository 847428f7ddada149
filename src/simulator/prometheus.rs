//! A Prometheus HTTP API for the cluster simulator.
//!
//! Serves `/api/v1/query`, `/api/v1/query_range` (GET with a query string, POST with an
//! `application/x-www-form-urlencoded` body), `/api/v1/series`, `/api/v1/labels` and
//! `/api/v1/label/{name}/values` over synthetic cAdvisor (via the kubelet) and
//! kube-state-metrics series for the cluster described by a [`Topology`]:
//!
//! - container level, for every container of every scheduled pod:
//!   `container_cpu_usage_seconds_total`, `container_memory_usage_bytes`,
//!   `container_fs_usage_bytes` (`device="/dev/sda1"`);
//! - pod level (the pod cgroup; no `container` label): CPU, memory and
//!   `container_network_{receive,transmit}_bytes_total` (`interface="eth0"`);
//! - node level (the root cgroup, `id="/"`): CPU, memory, network, filesystem, plus
//!   `machine_cpu_cores`, `machine_memory_bytes` and `kube_node_status_capacity`.
//!
//! Values are closed-form functions of time. Every container, pod and node has
//! deterministic "waves" `base × (1 + 0.3·sin(2πt/1h + phase))` drawn from a hash of the
//! seed and its identity; gauges are the wave, counters its integral since the pod's
//! creation (no sample before a pod existed). A pod is the sum of its containers, a node
//! the sum of its pods plus a system overhead; nodes keep prefix sums of their pods'
//! waves ordered by creation, so a node sample costs one binary search. Nothing is stored
//! per sample: a query walks the topology once per selector and computes every step in
//! closed form, which keeps 100,000-pod clusters cheap.
//!
//! The PromQL subset: vector selectors with `=`, `!=`, `=~`, `!~` (fully anchored regular
//! expressions, evaluated by a small engine below), `rate`/`irate`/`increase` of a range
//! selector, `sum`/`avg`/`max`/`min`/`count` with `by`/`without` in prefix or suffix
//! position, `+ - * /` between vectors and scalars and between two vectors with equal
//! label sets (one-to-one). Anything else is rejected with Prometheus' `bad_data`
//! envelope.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::f64::consts::TAU;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

// ---------------------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------------------

/// What the series are generated from; the simulator rebuilds it when the cluster changes.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub nodes: Vec<NodeTarget>,
    pub pods: Vec<PodTarget>,
}

/// A node: one kubelet, one root cgroup.
#[derive(Debug, Clone)]
pub struct NodeTarget {
    pub name: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
}

/// A pod; it has series only while its `node` names a node of the topology.
#[derive(Debug, Clone)]
pub struct PodTarget {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    pub containers: Vec<ContainerTarget>,
    pub created_unix: i64,
}

/// A container of a pod.
#[derive(Debug, Clone)]
pub struct ContainerTarget {
    pub name: String,
    pub image: String,
}

/// Where the endpoints read the current topology from.
type TopologySource = Arc<dyn Fn() -> Arc<Topology> + Send + Sync>;

/// Shared state of the endpoints.
pub struct Prometheus {
    seed: u64,
    topology: TopologySource,
    /// The index of the last topology seen, rebuilt when the topology `Arc` changes.
    index: Mutex<Option<Arc<Index>>>,
}

impl Prometheus {
    pub fn new(seed: u64, topology: TopologySource) -> Self {
        Prometheus {
            seed,
            topology,
            index: Mutex::new(None),
        }
    }

    /// Registers GET and POST `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`,
    /// `/api/v1/labels` and GET `/api/v1/label/{name}/values`.
    pub fn configure(self: Arc<Self>, cfg: &mut web::ServiceConfig) {
        let data = web::Data::from(self);
        cfg.service(both(resource("/api/v1/query", &data), query))
            .service(both(resource("/api/v1/query_range", &data), query_range))
            .service(both(resource("/api/v1/series", &data), series))
            .service(both(resource("/api/v1/labels", &data), labels))
            .service(
                resource("/api/v1/label/{name}/values", &data).route(web::get().to(label_values)),
            );
    }

    /// The index of the current topology, built once per topology.
    fn index(&self) -> Arc<Index> {
        let topology = (self.topology)();
        let mut cached = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = cached.as_ref()
            && Arc::ptr_eq(&index.topology, &topology)
        {
            return index.clone();
        }
        let index = Arc::new(Index::build(self.seed, topology));
        *cached = Some(index.clone());
        index
    }
}

// ---------------------------------------------------------------------------------------
// HTTP layer
// ---------------------------------------------------------------------------------------

/// Bodies of POSTed queries: long `pod=~"a|b|…"` regexes need more than actix' 256 KiB.
const MAX_BODY: usize = 16 << 20;

fn resource(path: &str, data: &web::Data<Prometheus>) -> actix_web::Resource {
    web::resource(path)
        .app_data(data.clone())
        .app_data(web::PayloadConfig::new(MAX_BODY))
}

/// Routes GET and POST of `resource` to `handler`.
fn both<F, Args>(resource: actix_web::Resource, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    resource
        .route(web::get().to(handler.clone()))
        .route(web::post().to(handler))
}

async fn query(req: HttpRequest, body: web::Bytes, prom: web::Data<Prometheus>) -> HttpResponse {
    let params = Params::new(&req, &body);
    respond(prom, move |p| p.instant_query(&params)).await
}

async fn query_range(
    req: HttpRequest,
    body: web::Bytes,
    prom: web::Data<Prometheus>,
) -> HttpResponse {
    let params = Params::new(&req, &body);
    respond(prom, move |p| p.range_query(&params)).await
}

async fn series(req: HttpRequest, body: web::Bytes, prom: web::Data<Prometheus>) -> HttpResponse {
    let params = Params::new(&req, &body);
    respond(prom, move |p| p.series(&params)).await
}

async fn labels() -> HttpResponse {
    json_response(label_names())
}

async fn label_values(path: web::Path<String>, prom: web::Data<Prometheus>) -> HttpResponse {
    let name = path.into_inner();
    respond(prom, move |p| p.label_values(&name)).await
}

/// Runs `work` off the async workers (a big query takes a while) and wraps its outcome.
async fn respond<F>(prom: web::Data<Prometheus>, work: F) -> HttpResponse
where
    F: FnOnce(&Prometheus) -> Result<Vec<u8>, ApiError> + Send + 'static,
{
    let prom = prom.into_inner();
    match web::block(move || work(&prom)).await {
        Ok(Ok(body)) => json_response(body),
        Ok(Err(error)) => error.response(),
        Err(_) => ApiError::internal("query evaluation was cancelled").response(),
    }
}

fn json_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// An error in Prometheus' envelope.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "bad_data",
            message: message.into(),
        }
    }

    fn execution(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "execution",
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: message.into(),
        }
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({
            "status": "error",
            "errorType": self.kind,
            "error": self.message,
        }))
    }
}

/// Form parameters: the body's first (POST), then the query string's, like Go's `r.Form`.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(req: &HttpRequest, body: &[u8]) -> Self {
        let mut pairs = decode_form(body);
        pairs.extend(decode_form(req.query_string().as_bytes()));
        Params(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes `a=1&b=x+y&match[]=…`; repeated names are kept in order.
fn decode_form(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (percent_decode(&pair[..eq]), percent_decode(&pair[eq + 1..])),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

/// `+` is a space, `%XX` a byte; malformed escapes are kept as they are.
fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let escaped = match input.get(i..i + 3) {
            Some([b'%', high, low]) => hex(*high).zip(hex(*low)),
            _ => None,
        };
        match (input[i], escaped) {
            (_, Some((high, low))) => {
                out.push(high * 16 + low);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

// ---------------------------------------------------------------------------------------
// API operations
// ---------------------------------------------------------------------------------------

/// Prometheus' limit on points per series of a range query.
const MAX_POINTS: i64 = 11_000;

impl Prometheus {
    fn instant_query(&self, params: &Params) -> Result<Vec<u8>, ApiError> {
        let time = match params.get("time") {
            Some(t) if !t.is_empty() => parse_time("time", t)?,
            _ => chrono::Utc::now().timestamp_millis(),
        };
        let expr = parse_query_param(params)?;
        let index = self.index();
        let outcome = evaluate(&index, &expr, &[time])?;
        Ok(render_vector(outcome, time))
    }

    fn range_query(&self, params: &Params) -> Result<Vec<u8>, ApiError> {
        let start = parse_time("start", params.get("start").unwrap_or(""))?;
        let end = parse_time("end", params.get("end").unwrap_or(""))?;
        if end < start {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        let step = parse_step(params.get("step").unwrap_or(""))?;
        if step <= 0 {
            return Err(ApiError::bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        // Integer division, as Prometheus divides durations: 11,000 intervals pass.
        let intervals = end.saturating_sub(start) / step;
        if intervals > MAX_POINTS {
            return Err(ApiError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let expr = parse_query_param(params)?;
        let times: Vec<i64> = (0..=intervals).map(|k| start + k * step).collect();
        let index = self.index();
        let outcome = evaluate(&index, &expr, &times)?;
        Ok(render_matrix(outcome, &times))
    }

    fn series(&self, params: &Params) -> Result<Vec<u8>, ApiError> {
        let matches: Vec<&str> = params.all("match[]").collect();
        if matches.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let end = match params.get("end") {
            Some(t) if !t.is_empty() => Some(parse_time("end", t)? as f64 / 1000.0),
            _ => None,
        };
        let selectors = matches
            .iter()
            .map(|m| parse_selector(m))
            .collect::<Result<Vec<_>, _>>()?;
        let index = self.index();
        let mut seen = HashSet::new();
        let mut out = br#"{"status":"success","data":["#.to_vec();
        for selector in &selectors {
            index.select(selector, |r| {
                let exists = end.is_none_or(|end| index.since(r) <= end);
                if exists && seen.insert(r) {
                    if seen.len() > 1 {
                        out.push(b',');
                    }
                    write_labels(&mut out, &index.labels(r, true));
                }
                Ok::<(), ApiError>(())
            })?;
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    fn label_values(&self, name: &str) -> Result<Vec<u8>, ApiError> {
        if !is_label_name(name) {
            return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
        }
        let index = self.index();
        let mut values = BTreeSet::new();
        for metric in METRICS {
            index.for_each_series(metric, |r| {
                if let Some(v) = index.label(r, name) {
                    values.insert(v);
                }
                Ok::<(), ApiError>(())
            })?;
        }
        Ok(string_list(values.iter().map(|v| v.as_ref())))
    }
}

fn label_names() -> Vec<u8> {
    string_list(LABEL_NAMES.iter().copied())
}

fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_query_param(params: &Params) -> Result<Expr, ApiError> {
    parse_query(params.get("query").unwrap_or(""))
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))
}

fn parse_selector(text: &str) -> Result<Selector, ApiError> {
    match parse_query(text) {
        Ok(Expr::Selector(selector)) => Ok(selector),
        Ok(_) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": {text:?} is not a vector selector"
        ))),
        Err(e) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": {e}"
        ))),
    }
}

/// A timestamp parameter (unix seconds, possibly fractional, or RFC 3339) in milliseconds.
fn parse_time(param: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"{param}\": cannot parse {text:?} to a valid timestamp"
            ))
        })
}

/// The `step` parameter (float seconds or a duration like `20s`) in milliseconds.
fn parse_step(text: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    parse_duration(text).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid parameter \"step\": cannot parse {text:?} to a valid duration"
        ))
    })
}

/// A Prometheus duration (`1h30m`, `20s`, `500ms`; units y w d h m s ms, largest first)
/// in milliseconds.
fn parse_duration(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1000),
    ];
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total: i64 = 0;
    let mut last_unit_ms = i64::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, ms) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit))?;
        if *ms >= last_unit_ms {
            return None;
        }
        last_unit_ms = *ms;
        rest = &rest[unit.len()..];
        total = total.checked_add(number.checked_mul(*ms)?)?;
    }
    (!text.is_empty()).then_some(total)
}

// ---------------------------------------------------------------------------------------
// JSON rendering
// ---------------------------------------------------------------------------------------

fn render_vector(outcome: Outcome<'_>, time: i64) -> Vec<u8> {
    let time = format_time(time);
    let mut out = br#"{"status":"success","data":{"resultType":""#.to_vec();
    match outcome {
        Outcome::Scalar(v) => {
            out.extend_from_slice(br#"scalar","result":"#);
            write_point(&mut out, &time, v);
        }
        Outcome::Series(series) => {
            out.extend_from_slice(br#"vector","result":["#);
            let mut first = true;
            for (labels, values) in &series {
                let Some(Some(v)) = values.first() else {
                    continue;
                };
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(&mut out, labels);
                out.extend_from_slice(br#","value":"#);
                write_point(&mut out, &time, *v);
                out.push(b'}');
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b"}}");
    out
}

fn render_matrix(outcome: Outcome<'_>, times: &[i64]) -> Vec<u8> {
    let mut series = match outcome {
        Outcome::Scalar(v) => vec![(LabelSet::new(), vec![Some(v); times.len()])],
        Outcome::Series(series) => series,
    };
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let times: Vec<String> = times.iter().map(|t| format_time(*t)).collect();
    let mut out = br#"{"status":"success","data":{"resultType":"matrix","result":["#.to_vec();
    let mut first = true;
    for (labels, values) in &series {
        if values.iter().all(Option::is_none) {
            continue;
        }
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"metric":"#);
        write_labels(&mut out, labels);
        out.extend_from_slice(br#","values":["#);
        let points = times
            .iter()
            .zip(values)
            .filter_map(|(t, v)| v.map(|v| (t, v)));
        for (i, (t, v)) in points.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_point(&mut out, t, v);
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}}");
    out
}

/// Seconds as Prometheus writes them: `1700000000`, `1700000000.5`.
fn format_time(ms: i64) -> String {
    (ms as f64 / 1000.0).to_string()
}

/// `[1700000000.5,"0.25"]`: the (formatted) time, the value as Prometheus formats it.
fn write_point(out: &mut Vec<u8>, time: &str, value: f64) {
    out.push(b'[');
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b",\"");
    write_value(out, value);
    out.extend_from_slice(b"\"]");
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)` with Prometheus' spellings of specials.
/// The shortest digits come from serde_json's float writer (several times faster than
/// `Display`, which matters for million-point answers); its exponent and `.0` forms are
/// rewritten.
fn write_value(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        return out.extend_from_slice(b"NaN");
    }
    if value.is_infinite() {
        return out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    }
    let start = out.len();
    let written = serde_json::to_writer(&mut *out, &value).is_ok();
    let digits = &out[start..];
    if !written || digits.contains(&b'e') {
        out.truncate(start);
        out.extend_from_slice(value.to_string().as_bytes());
    } else if digits.ends_with(b".0") {
        out.truncate(out.len() - 2);
    }
}

fn write_labels(out: &mut Vec<u8>, labels: &[(&str, Cow<'_, str>)]) {
    out.push(b'{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, name);
        out.push(b':');
        write_json_str(out, value);
    }
    out.push(b'}');
}

fn string_list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut out = br#"{"status":"success","data":["#.to_vec();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&mut out, item);
    }
    out.extend_from_slice(b"]}");
    out
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(s.as_bytes());
    } else {
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
    }
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------
// Series: metrics, targets, labels
// ---------------------------------------------------------------------------------------

const NAME: &str = "__name__";

/// Every label name any series carries, in Prometheus' (byte) order.
const LABEL_NAMES: [&str; 14] = [
    "__name__",
    "container",
    "device",
    "id",
    "image",
    "instance",
    "interface",
    "job",
    "name",
    "namespace",
    "node",
    "pod",
    "resource",
    "unit",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Metric {
    CpuUsage,
    MemoryUsage,
    NetworkReceive,
    NetworkTransmit,
    FsUsage,
    MachineCpuCores,
    MachineMemoryBytes,
    NodeCapacity,
}

const METRICS: [Metric; 8] = [
    Metric::CpuUsage,
    Metric::MemoryUsage,
    Metric::NetworkReceive,
    Metric::NetworkTransmit,
    Metric::FsUsage,
    Metric::MachineCpuCores,
    Metric::MachineMemoryBytes,
    Metric::NodeCapacity,
];

/// Which cgroup levels carry a metric.
struct Levels {
    container: bool,
    pod: bool,
    node: bool,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::CpuUsage => "container_cpu_usage_seconds_total",
            Metric::MemoryUsage => "container_memory_usage_bytes",
            Metric::NetworkReceive => "container_network_receive_bytes_total",
            Metric::NetworkTransmit => "container_network_transmit_bytes_total",
            Metric::FsUsage => "container_fs_usage_bytes",
            Metric::MachineCpuCores => "machine_cpu_cores",
            Metric::MachineMemoryBytes => "machine_memory_bytes",
            Metric::NodeCapacity => "kube_node_status_capacity",
        }
    }

    fn levels(self) -> Levels {
        let (container, pod, node) = match self {
            Metric::CpuUsage | Metric::MemoryUsage => (true, true, true),
            Metric::NetworkReceive | Metric::NetworkTransmit => (false, true, true),
            Metric::FsUsage => (true, false, true),
            Metric::MachineCpuCores | Metric::MachineMemoryBytes => (false, false, true),
            Metric::NodeCapacity => (false, false, false),
        };
        Levels {
            container,
            pod,
            node,
        }
    }

    fn is_counter(self) -> bool {
        matches!(
            self,
            Metric::CpuUsage | Metric::NetworkReceive | Metric::NetworkTransmit
        )
    }

    fn is_network(self) -> bool {
        matches!(self, Metric::NetworkReceive | Metric::NetworkTransmit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Resource {
    Cpu,
    Memory,
}

/// The thing a series describes, by index into the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Container { pod: u32, container: u32 },
    Pod(u32),
    Node(u32),
    Capacity { node: u32, resource: Resource },
}

/// One series: a metric of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesRef {
    metric: Metric,
    target: Target,
}

/// Labels sorted by name; values borrowed from the topology where possible.
type LabelSet<'t> = Vec<(&'static str, Cow<'t, str>)>;

/// The index of one topology: where each pod runs and each node's prefix sums.
struct Index {
    topology: Arc<Topology>,
    seed: u64,
    /// The node of each pod; pods on unknown nodes have no series (cAdvisor runs on nodes).
    pod_node: Vec<Option<u32>>,
    nodes: Vec<NodeSums>,
}

impl Index {
    fn build(seed: u64, topology: Arc<Topology>) -> Self {
        let pod_node = place_pods(&topology);
        let mut members = vec![Vec::new(); topology.nodes.len()];
        for (pod, node) in pod_node.iter().enumerate() {
            if let Some(node) = node {
                members[*node as usize].push(pod as u32);
            }
        }
        let nodes = topology
            .nodes
            .iter()
            .zip(&members)
            .map(|(node, pods)| NodeSums::build(seed, node, &topology.pods, pods))
            .collect();
        Index {
            topology,
            seed,
            pod_node,
            nodes,
        }
    }

    fn pod(&self, pod: u32) -> &PodTarget {
        &self.topology.pods[pod as usize]
    }

    /// Calls `f` for every series of `metric`, pods in topology order, then nodes.
    fn for_each_series<E>(
        &self,
        metric: Metric,
        mut f: impl FnMut(SeriesRef) -> Result<(), E>,
    ) -> Result<(), E> {
        let levels = metric.levels();
        let mut visit = |target| f(SeriesRef { metric, target });
        if levels.container || levels.pod {
            for (p, pod) in self.topology.pods.iter().enumerate() {
                if self.pod_node[p].is_none() {
                    continue;
                }
                if levels.pod {
                    visit(Target::Pod(p as u32))?;
                }
                if levels.container {
                    for c in 0..pod.containers.len() {
                        visit(Target::Container {
                            pod: p as u32,
                            container: c as u32,
                        })?;
                    }
                }
            }
        }
        for node in 0..self.nodes.len() as u32 {
            if levels.node {
                visit(Target::Node(node))?;
            }
            if metric == Metric::NodeCapacity {
                visit(Target::Capacity {
                    node,
                    resource: Resource::Cpu,
                })?;
                visit(Target::Capacity {
                    node,
                    resource: Resource::Memory,
                })?;
            }
        }
        Ok(())
    }

    /// Calls `f` for every series `selector` matches, walking the topology once per metric
    /// whose name the selector admits.
    fn select<E>(
        &self,
        selector: &Selector,
        mut f: impl FnMut(SeriesRef) -> Result<(), E>,
    ) -> Result<(), E> {
        for metric in METRICS {
            if selector.admits_metric(metric) {
                self.for_each_series(metric, |r| {
                    if selector.matches(self, r) {
                        f(r)
                    } else {
                        Ok(())
                    }
                })?;
            }
        }
        Ok(())
    }

    /// One label of a series; empty values count as absent, as in Prometheus.
    fn label(&self, r: SeriesRef, name: &str) -> Option<Cow<'_, str>> {
        if name == NAME {
            return Some(Cow::Borrowed(r.metric.name()));
        }
        let value = match r.target {
            Target::Container { pod, container } => {
                self.container_label(r.metric, pod, container, name)
            }
            Target::Pod(pod) => self.pod_label(r.metric, pod, name),
            Target::Node(node) => self.node_label(r.metric, node, name),
            Target::Capacity { node, resource } => self.capacity_label(node, resource, name),
        };
        value.filter(|v| !v.is_empty())
    }

    fn container_label(
        &self,
        metric: Metric,
        pod: u32,
        container: u32,
        name: &str,
    ) -> Option<Cow<'_, str>> {
        let p = self.pod(pod);
        let c = &p.containers[container as usize];
        match name {
            "container" => Some(Cow::Borrowed(&c.name)),
            "image" => Some(Cow::Borrowed(&c.image)),
            "id" => Some(Cow::Owned(format!(
                "/kubepods/burstable/pod{}/{}",
                p.uid, c.name
            ))),
            "name" => Some(Cow::Owned(format!("k8s_{}_{}", c.name, p.name))),
            "device" if metric == Metric::FsUsage => Some(Cow::Borrowed("/dev/sda1")),
            _ => pod_common_label(p, name),
        }
    }

    fn pod_label(&self, metric: Metric, pod: u32, name: &str) -> Option<Cow<'_, str>> {
        let p = self.pod(pod);
        match name {
            "id" => Some(Cow::Owned(format!("/kubepods/burstable/pod{}", p.uid))),
            "interface" if metric.is_network() => Some(Cow::Borrowed("eth0")),
            _ => pod_common_label(p, name),
        }
    }

    fn node_label(&self, metric: Metric, node: u32, name: &str) -> Option<Cow<'_, str>> {
        let n = &self.topology.nodes[node as usize];
        let machine = matches!(metric, Metric::MachineCpuCores | Metric::MachineMemoryBytes);
        match name {
            "job" => Some(Cow::Borrowed("kubelet")),
            "instance" | "node" => Some(Cow::Borrowed(&n.name)),
            "id" if !machine => Some(Cow::Borrowed("/")),
            "interface" if metric.is_network() => Some(Cow::Borrowed("eth0")),
            "device" if metric == Metric::FsUsage => Some(Cow::Borrowed("/dev/sda1")),
            _ => None,
        }
    }

    fn capacity_label(&self, node: u32, resource: Resource, name: &str) -> Option<Cow<'_, str>> {
        let value = match (name, resource) {
            ("job", _) => "kube-state-metrics",
            ("node", _) => &self.topology.nodes[node as usize].name,
            ("resource", Resource::Cpu) => "cpu",
            ("resource", Resource::Memory) => "memory",
            ("unit", Resource::Cpu) => "core",
            ("unit", Resource::Memory) => "byte",
            _ => return None,
        };
        Some(Cow::Borrowed(value))
    }

    /// All labels of a series, sorted; without `__name__` unless `keep_name`.
    fn labels(&self, r: SeriesRef, keep_name: bool) -> LabelSet<'_> {
        LABEL_NAMES
            .iter()
            .filter(|name| keep_name || **name != NAME)
            .filter_map(|name| self.label(r, name).map(|v| (*name, v)))
            .collect()
    }

    /// When a series starts: its pod's creation; nodes always exist.
    fn since(&self, r: SeriesRef) -> f64 {
        match r.target {
            Target::Container { pod, .. } | Target::Pod(pod) => self.pod(pod).created_unix as f64,
            Target::Node(_) | Target::Capacity { .. } => f64::NEG_INFINITY,
        }
    }

    /// What computes the samples of a series.
    fn sampler(&self, r: SeriesRef) -> Sampler<'_> {
        let counter = r.metric.is_counter();
        let since = self.since(r);
        let kind = match r.target {
            Target::Container { pod, container } => {
                let p = self.pod(pod);
                let waves = ContainerWaves::new(self.seed, p, &p.containers[container as usize]);
                let wave = waves.of(r.metric).unwrap_or(Wave::ZERO);
                SamplerKind::Waves(Moments::of(wave, since, since))
            }
            Target::Pod(pod) => SamplerKind::Waves(self.pod_moments(r.metric, pod)),
            Target::Node(node) => self.node_sampler(r.metric, node),
            Target::Capacity { node, resource } => {
                let n = &self.topology.nodes[node as usize];
                SamplerKind::Constant(match resource {
                    Resource::Cpu => f64::from(n.cpu_cores),
                    Resource::Memory => n.memory_bytes as f64,
                })
            }
        };
        Sampler {
            since,
            counter,
            kind,
        }
    }

    /// A pod's wave sum for one metric, counters integrated from its creation.
    fn pod_moments(&self, metric: Metric, pod: u32) -> Moments {
        let p = self.pod(pod);
        let created = p.created_unix as f64;
        if metric.is_network() {
            let wave = PodWaves::new(self.seed, p).of(metric).unwrap_or(Wave::ZERO);
            return Moments::of(wave, created, created);
        }
        p.containers.iter().fold(Moments::default(), |sum, c| {
            let wave = ContainerWaves::new(self.seed, p, c)
                .of(metric)
                .unwrap_or(Wave::ZERO);
            sum.plus(Moments::of(wave, created, created))
        })
    }

    fn node_sampler(&self, metric: Metric, node: u32) -> SamplerKind<'_> {
        let n = &self.topology.nodes[node as usize];
        let sums = &self.nodes[node as usize];
        match metric {
            Metric::MachineCpuCores => SamplerKind::Constant(f64::from(n.cpu_cores)),
            Metric::MachineMemoryBytes => SamplerKind::Constant(n.memory_bytes as f64),
            _ => SamplerKind::Node {
                created: &sums.created,
                origin: sums.origin,
                pods: sums.of(metric),
                overhead: Moments::of(sums.overhead.of(metric), 0.0, 0.0),
            },
        }
    }
}

/// Labels a pod shares with its containers.
fn pod_common_label<'t>(p: &'t PodTarget, name: &str) -> Option<Cow<'t, str>> {
    let value = match name {
        "job" => "kubelet",
        "instance" | "node" => &p.node,
        "namespace" => &p.namespace,
        "pod" => &p.name,
        _ => return None,
    };
    Some(Cow::Borrowed(value))
}

/// The node index of each pod, `None` when its node is not in the topology.
fn place_pods(topology: &Topology) -> Vec<Option<u32>> {
    let mut by_name: HashMap<&str, u32> = HashMap::with_capacity(topology.nodes.len());
    for (i, node) in topology.nodes.iter().enumerate() {
        by_name.entry(node.name.as_str()).or_insert(i as u32);
    }
    topology
        .pods
        .iter()
        .map(|p| by_name.get(p.node.as_str()).copied())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Values: waves, their sums, samplers
// ---------------------------------------------------------------------------------------

const PERIOD: f64 = 3600.0;
const OMEGA: f64 = TAU / PERIOD;
const AMPLITUDE: f64 = 0.3;
/// The integral of `AMPLITUDE·sin(ωt)` is `-AMPLITUDE/ω · cos(ωt)`.
const INTEGRAL_SCALE: f64 = AMPLITUDE / OMEGA;
/// The scrape interval the series pretend to have: `rate` needs two samples, `irate`
/// takes the last two.
const SCRAPE_INTERVAL: f64 = 15.0;
const KB: f64 = 1000.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// `base × (1 + 0.3·sin(ωt + phase))`: a rate (counters) or a level (gauges).
#[derive(Debug, Clone, Copy)]
struct Wave {
    base: f64,
    phase: f64,
}

impl Wave {
    const ZERO: Wave = Wave {
        base: 0.0,
        phase: 0.0,
    };

    /// A wave with a log-uniform base in `[low, high)` and a random phase.
    fn draw(rng: &mut SplitMix, low: f64, high: f64) -> Self {
        let base = low * (high / low).powf(rng.unit());
        Wave {
            base,
            phase: rng.unit() * TAU,
        }
    }

    fn fixed(rng: &mut SplitMix, base: f64) -> Self {
        Wave {
            base,
            phase: rng.unit() * TAU,
        }
    }

    #[cfg(test)]
    fn at(self, t: f64) -> f64 {
        self.base * (1.0 + AMPLITUDE * (OMEGA * t + self.phase).sin())
    }
}

/// The parameters of one container, from a hash of (seed, pod uid, container name).
struct ContainerWaves {
    cpu: Wave,
    memory: Wave,
    fs: Wave,
}

impl ContainerWaves {
    fn new(seed: u64, pod: &PodTarget, container: &ContainerTarget) -> Self {
        let mut rng = SplitMix::from_parts(seed, &[&pod.uid, &container.name]);
        ContainerWaves {
            cpu: Wave::draw(&mut rng, 0.005, 0.5),
            memory: Wave::draw(&mut rng, 20.0 * MIB, GIB),
            fs: Wave::draw(&mut rng, 10.0 * MIB, 2.0 * GIB),
        }
    }

    fn of(&self, metric: Metric) -> Option<Wave> {
        match metric {
            Metric::CpuUsage => Some(self.cpu),
            Metric::MemoryUsage => Some(self.memory),
            Metric::FsUsage => Some(self.fs),
            _ => None,
        }
    }
}

/// A pod's own network, from a hash of (seed, pod uid).
struct PodWaves {
    receive: Wave,
    transmit: Wave,
}

impl PodWaves {
    fn new(seed: u64, pod: &PodTarget) -> Self {
        let mut rng = SplitMix::from_parts(seed, &[&pod.uid, "\0network"]);
        PodWaves {
            receive: Wave::draw(&mut rng, KB, 500.0 * KB),
            transmit: Wave::draw(&mut rng, KB, 500.0 * KB),
        }
    }

    fn of(&self, metric: Metric) -> Option<Wave> {
        match metric {
            Metric::NetworkReceive => Some(self.receive),
            Metric::NetworkTransmit => Some(self.transmit),
            _ => None,
        }
    }
}

/// A node's own share (system daemons, the OS), from a hash of (seed, node name).
#[derive(Debug, Clone, Copy)]
struct NodeWaves {
    cpu: Wave,
    memory: Wave,
    fs: Wave,
    receive: Wave,
    transmit: Wave,
}

impl NodeWaves {
    fn new(seed: u64, node: &NodeTarget) -> Self {
        let mut rng = SplitMix::from_parts(seed, &["\0node", &node.name]);
        NodeWaves {
            cpu: Wave::fixed(&mut rng, 0.1),
            memory: Wave::fixed(&mut rng, 300.0 * MIB),
            fs: Wave::draw(&mut rng, 2.0 * GIB, 8.0 * GIB),
            receive: Wave::draw(&mut rng, 2.0 * KB, 20.0 * KB),
            transmit: Wave::draw(&mut rng, 2.0 * KB, 20.0 * KB),
        }
    }

    fn of(&self, metric: Metric) -> Wave {
        match metric {
            Metric::CpuUsage => self.cpu,
            Metric::MemoryUsage => self.memory,
            Metric::FsUsage => self.fs,
            Metric::NetworkReceive => self.receive,
            Metric::NetworkTransmit => self.transmit,
            _ => Wave::ZERO,
        }
    }
}

/// A sum of waves `Σ bᵢ(1 + A·sin(ωt + φᵢ))` started at times `cᵢ`, kept as the moments
/// that make both the sum and its integral closed forms:
///
/// - gauge(t) = Σb + A·(sin ωt·Σb·cos φ + cos ωt·Σb·sin φ)
/// - counter(t) = Σ bᵢ(t − cᵢ) + A/ω·(Σ bᵢ·cos(ωcᵢ + φᵢ) − cos ωt·Σb·cos φ + sin ωt·Σb·sin φ)
///
/// Creation times are kept relative to an `origin` for precision.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    base: f64,
    base_created: f64,
    base_cos_start: f64,
    base_cos: f64,
    base_sin: f64,
}

impl Moments {
    fn of(wave: Wave, created: f64, origin: f64) -> Self {
        let b = wave.base;
        Moments {
            base: b,
            base_created: b * (created - origin),
            base_cos_start: b * (OMEGA * created + wave.phase).cos(),
            base_cos: b * wave.phase.cos(),
            base_sin: b * wave.phase.sin(),
        }
    }

    fn plus(self, o: Moments) -> Self {
        Moments {
            base: self.base + o.base,
            base_created: self.base_created + o.base_created,
            base_cos_start: self.base_cos_start + o.base_cos_start,
            base_cos: self.base_cos + o.base_cos,
            base_sin: self.base_sin + o.base_sin,
        }
    }

    fn gauge(&self, at: At) -> f64 {
        self.base + AMPLITUDE * (at.sin * self.base_cos + at.cos * self.base_sin)
    }

    fn counter(&self, at: At, origin: f64) -> f64 {
        (at.t - origin) * self.base - self.base_created
            + INTEGRAL_SCALE
                * (self.base_cos_start - (at.cos * self.base_cos - at.sin * self.base_sin))
    }

    fn value(&self, at: At, origin: f64, counter: bool) -> f64 {
        if counter {
            self.counter(at, origin)
        } else {
            self.gauge(at)
        }
    }
}

/// A time with `sin ωt` and `cos ωt`, computed once per step rather than per series.
#[derive(Debug, Clone, Copy)]
struct At {
    t: f64,
    sin: f64,
    cos: f64,
}

impl At {
    fn new(t: f64) -> Self {
        let (sin, cos) = (OMEGA * t).sin_cos();
        At { t, sin, cos }
    }
}

/// The times a range function looks at for one step, for a window of `window` seconds.
#[derive(Debug, Clone, Copy)]
struct WindowAt {
    now: At,
    window: f64,
    /// `now - window`.
    start: At,
    /// The last two scrapes at or before `now`, for `irate`.
    last: At,
    previous: At,
}

impl WindowAt {
    fn new(now: At, window: f64) -> Self {
        let last = (now.t / SCRAPE_INTERVAL).floor() * SCRAPE_INTERVAL;
        WindowAt {
            now,
            window,
            start: At::new(now.t - window),
            last: At::new(last),
            previous: At::new(last - SCRAPE_INTERVAL),
        }
    }
}

/// Prefix sums of a node's pods' moments, pods ordered by creation: the pods running at
/// `t` are a prefix found by binary search.
struct NodeSums {
    created: Vec<f64>,
    origin: f64,
    cpu: Vec<Moments>,
    memory: Vec<Moments>,
    fs: Vec<Moments>,
    receive: Vec<Moments>,
    transmit: Vec<Moments>,
    overhead: NodeWaves,
}

impl NodeSums {
    fn build(seed: u64, node: &NodeTarget, pods: &[PodTarget], members: &[u32]) -> Self {
        let mut order = members.to_vec();
        order.sort_by_key(|&p| (pods[p as usize].created_unix, p));
        let origin = order
            .first()
            .map_or(0.0, |&p| pods[p as usize].created_unix as f64);
        let start = vec![Moments::default()];
        let mut sums = NodeSums {
            created: Vec::with_capacity(order.len()),
            origin,
            cpu: start.clone(),
            memory: start.clone(),
            fs: start.clone(),
            receive: start.clone(),
            transmit: start,
            overhead: NodeWaves::new(seed, node),
        };
        for p in order {
            sums.push_pod(seed, &pods[p as usize]);
        }
        sums
    }

    fn push_pod(&mut self, seed: u64, pod: &PodTarget) {
        let created = pod.created_unix as f64;
        let origin = self.origin;
        let (mut cpu, mut memory, mut fs) =
            (Moments::default(), Moments::default(), Moments::default());
        for container in &pod.containers {
            let waves = ContainerWaves::new(seed, pod, container);
            cpu = cpu.plus(Moments::of(waves.cpu, created, origin));
            memory = memory.plus(Moments::of(waves.memory, created, origin));
            fs = fs.plus(Moments::of(waves.fs, created, origin));
        }
        let net = PodWaves::new(seed, pod);
        self.created.push(created);
        push_sum(&mut self.cpu, cpu);
        push_sum(&mut self.memory, memory);
        push_sum(&mut self.fs, fs);
        push_sum(&mut self.receive, Moments::of(net.receive, created, origin));
        push_sum(
            &mut self.transmit,
            Moments::of(net.transmit, created, origin),
        );
    }

    fn of(&self, metric: Metric) -> &[Moments] {
        match metric {
            Metric::CpuUsage => &self.cpu,
            Metric::MemoryUsage => &self.memory,
            Metric::FsUsage => &self.fs,
            Metric::NetworkReceive => &self.receive,
            Metric::NetworkTransmit => &self.transmit,
            _ => &[],
        }
    }
}

fn push_sum(prefix: &mut Vec<Moments>, m: Moments) {
    let total = prefix.last().copied().unwrap_or_default().plus(m);
    prefix.push(total);
}

/// Computes the samples of one series.
struct Sampler<'t> {
    since: f64,
    counter: bool,
    kind: SamplerKind<'t>,
}

enum SamplerKind<'t> {
    /// A container or pod: its moments, counters integrated from its creation.
    Waves(Moments),
    /// A node: the prefix sums of its pods plus its overhead (integrated from 0).
    Node {
        created: &'t [f64],
        origin: f64,
        pods: &'t [Moments],
        overhead: Moments,
    },
    Constant(f64),
}

impl Sampler<'_> {
    /// The sample at `at`, `None` before the series existed.
    fn at(&self, at: At) -> Option<f64> {
        if at.t < self.since {
            return None;
        }
        Some(match &self.kind {
            SamplerKind::Waves(m) => m.value(at, self.since, self.counter),
            SamplerKind::Node {
                created,
                origin,
                pods,
                overhead,
            } => {
                let running = created.partition_point(|&c| c <= at.t);
                let pods = pods.get(running).copied().unwrap_or_default();
                pods.value(at, *origin, self.counter) + overhead.value(at, 0.0, self.counter)
            }
            SamplerKind::Constant(v) => *v,
        })
    }

    /// `rate`, `irate` or `increase` over `(now - window, now]`. A series born inside the
    /// window counts from its birth (its counter starts at 0), as Prometheus does.
    fn range(&self, func: Func, w: &WindowAt) -> Option<f64> {
        match func {
            Func::Rate | Func::Increase => {
                let start = if w.start.t < self.since {
                    At::new(self.since)
                } else {
                    w.start
                };
                if w.now.t - start.t < SCRAPE_INTERVAL {
                    return None;
                }
                let increase = self.at(w.now)? - self.at(start)?;
                Some(if func == Func::Rate {
                    increase / w.window
                } else {
                    increase
                })
            }
            Func::Irate => {
                if w.previous.t <= w.start.t {
                    return None;
                }
                Some((self.at(w.last)? - self.at(w.previous)?) / SCRAPE_INTERVAL)
            }
        }
    }
}

/// splitmix64, seeded by FNV-1a of the parts.
struct SplitMix(u64);

impl SplitMix {
    fn from_parts(seed: u64, parts: &[&str]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(&seed.to_le_bytes());
        for part in parts {
            feed(part.as_bytes());
            feed(&[0xff]);
        }
        SplitMix(hash)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------
// PromQL: syntax tree
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum Expr {
    Number(f64),
    Selector(Selector),
    /// `selector[window]`, only valid as the argument of a function.
    Range(Selector, f64),
    Call {
        func: Func,
        selector: Selector,
        window: f64,
    },
    Aggregate(Box<Aggregate>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Vector,
    Range,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Scalar => "scalar",
            Kind::Vector => "instant vector",
            Kind::Range => "range vector",
        }
    }
}

impl Expr {
    fn kind(&self) -> Kind {
        match self {
            Expr::Number(_) => Kind::Scalar,
            Expr::Range(..) => Kind::Range,
            Expr::Selector(_) | Expr::Call { .. } | Expr::Aggregate(_) => Kind::Vector,
            Expr::Binary(_, lhs, rhs)
                if lhs.kind() == Kind::Scalar && rhs.kind() == Kind::Scalar =>
            {
                Kind::Scalar
            }
            Expr::Binary(..) => Kind::Vector,
        }
    }

    /// The value of a scalar expression.
    fn scalar(&self) -> f64 {
        match self {
            Expr::Number(v) => *v,
            Expr::Binary(op, lhs, rhs) => op.apply(lhs.scalar(), rhs.scalar()),
            _ => f64::NAN,
        }
    }
}

#[derive(Debug)]
struct Selector {
    matchers: Vec<Matcher>,
}

impl Selector {
    /// Whether the `__name__` matchers admit `metric`.
    fn admits_metric(&self, metric: Metric) -> bool {
        self.matchers
            .iter()
            .filter(|m| m.name == NAME)
            .all(|m| m.matches(metric.name()))
    }

    fn matches(&self, index: &Index, r: SeriesRef) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(index.label(r, &m.name).as_deref().unwrap_or("")))
    }
}

#[derive(Debug)]
struct Matcher {
    name: String,
    op: MatchOp,
}

#[derive(Debug)]
enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(Regex),
    NotRegex(Regex),
}

impl Matcher {
    /// Whether a label value matches; an absent label has the value "".
    fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => value == v,
            MatchOp::NotEqual(v) => value != v,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Rate,
    Irate,
    Increase,
}

impl Func {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "rate" => Some(Func::Rate),
            "irate" => Some(Func::Irate),
            "increase" => Some(Func::Increase),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Func::Rate => "rate",
            Func::Irate => "irate",
            Func::Increase => "increase",
        }
    }
}

#[derive(Debug)]
struct Aggregate {
    op: AggOp,
    grouping: Grouping,
    arg: Expr,
}

#[derive(Debug, Clone, Copy)]
enum AggOp {
    Sum,
    Avg,
    Max,
    Min,
    Count,
}

impl AggOp {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sum" => Some(AggOp::Sum),
            "avg" => Some(AggOp::Avg),
            "max" => Some(AggOp::Max),
            "min" => Some(AggOp::Min),
            "count" => Some(AggOp::Count),
            _ => None,
        }
    }
}

#[derive(Debug)]
enum Grouping {
    /// Keep these labels (known names only, in label order).
    By(Vec<&'static str>),
    /// Drop these labels and `__name__`.
    Without(Vec<String>),
}

impl Grouping {
    /// The labels of the group a series falls in, written into `key`.
    fn key<'t>(&self, index: &'t Index, labels: Labels<'t>, key: &mut LabelSet<'t>) {
        key.clear();
        match self {
            Grouping::By(names) => {
                key.extend(
                    names
                        .iter()
                        .filter_map(|name| labels.get(index, name).map(|v| (*name, v))),
                );
            }
            Grouping::Without(names) => key.extend(
                labels
                    .into_set(index)
                    .into_iter()
                    .filter(|(name, _)| *name != NAME && !names.iter().any(|n| n == name)),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
        }
    }
}

// ---------------------------------------------------------------------------------------
// PromQL: parser
// ---------------------------------------------------------------------------------------

/// Parses a query of the supported subset; the error is a message for `bad_data`.
fn parse_query(src: &str) -> Result<Expr, String> {
    let mut parser = Parser { src, pos: 0 };
    parser.skip_ws();
    if parser.peek().is_none() {
        return Err("parse error: no expression found in input".into());
    }
    let expr = parser.expr()?;
    parser.skip_ws();
    if parser.peek().is_some() {
        return Err(parser.unexpected());
    }
    if expr.kind() == Kind::Range {
        return Err(
            "range vector selectors are only supported inside rate(), irate() and increase()"
                .into(),
        );
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'#' {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.pos += 1;
                }
            } else if b.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> String {
        format!("parse error at char {}: {message}", self.pos + 1)
    }

    fn unexpected(&self) -> String {
        match self.src[self.pos..].chars().next() {
            Some(c) => self.error(format!("unexpected character {c:?}")),
            None => self.error("unexpected end of input"),
        }
    }

    /// Skips whitespace and consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            return Ok(());
        }
        Err(match self.src[self.pos..].chars().next() {
            Some(c) => self.error(format!("expected {:?}, found {c:?}", b as char)),
            None => self.error(format!("expected {:?}, found end of input", b as char)),
        })
    }

    /// An identifier (metric names may contain `:`), or "" when none is next.
    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn label_name(&mut self) -> Result<&'a str, String> {
        self.skip_ws();
        if !self.peek().is_some_and(is_ident_start) {
            return Err(self.error("expected a label name"));
        }
        Ok(self.ident())
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut lhs = self.term()?;
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(b'+') => BinOp::Add,
                Some(b'-') => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.operand()?;
            let rhs = self.term_rest(rhs)?;
            lhs = binary(op, lhs, rhs)?;
        }
    }

    fn term(&mut self) -> Result<Expr, String> {
        let first = self.unary()?;
        self.term_rest(first)
    }

    /// Continues a product after its first factor.
    fn term_rest(&mut self, mut lhs: Expr) -> Result<Expr, String> {
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(b'*') => BinOp::Mul,
                Some(b'/') => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.operand()?;
            lhs = binary(op, lhs, rhs)?;
        }
    }

    /// The right operand of a binary operator; vector matching modifiers are refused.
    fn operand(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        let save = self.pos;
        let word = self.ident();
        if matches!(
            word,
            "bool" | "on" | "ignoring" | "group_left" | "group_right"
        ) {
            self.pos = save;
            return Err(self.error(format!("{word:?} modifiers are not supported")));
        }
        self.pos = save;
        self.unary()
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                match self.unary()? {
                    Expr::Number(v) => Ok(Expr::Number(-v)),
                    e => binary(BinOp::Mul, Expr::Number(-1.0), e),
                }
            }
            Some(b'+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect(b')')?;
                if inner.kind() == Kind::Range {
                    return Err(self.error("a range vector cannot be parenthesised"));
                }
                Ok(inner)
            }
            Some(b) if b.is_ascii_digit() || b == b'.' => self.number(),
            Some(b'{') => self.selector(None),
            Some(b) if is_ident_start(b) => self.identifier_expr(),
            _ => Err(self.unexpected()),
        }
    }

    fn number(&mut self) -> Result<Expr, String> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit() || b == b'.') {
            self.pos += 1;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let bytes = self.src.as_bytes();
            let mut end = self.pos + 1;
            if matches!(bytes.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            if bytes.get(end).is_some_and(u8::is_ascii_digit) {
                self.pos = end;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
        }
        let text = &self.src[start..self.pos];
        text.parse()
            .map(Expr::Number)
            .map_err(|_| self.error(format!("bad number {text:?}")))
    }

    /// A name: an aggregation, a function call, `Inf`/`NaN` or a metric selector.
    fn identifier_expr(&mut self) -> Result<Expr, String> {
        let name = self.ident();
        if name.eq_ignore_ascii_case("inf") {
            return Ok(Expr::Number(f64::INFINITY));
        }
        if name.eq_ignore_ascii_case("nan") {
            return Ok(Expr::Number(f64::NAN));
        }
        if let Some(op) = AggOp::from_name(name) {
            return self.aggregation(op);
        }
        self.skip_ws();
        if self.peek() == Some(b'(') {
            return match Func::from_name(name) {
                Some(func) => self.call(func),
                None => Err(self.error(format!("unknown or unsupported function {name:?}"))),
            };
        }
        self.selector(Some(name))
    }

    fn call(&mut self, func: Func) -> Result<Expr, String> {
        self.expect(b'(')?;
        let arg = self.expr()?;
        self.expect(b')')?;
        match arg {
            Expr::Range(selector, window) => Ok(Expr::Call {
                func,
                selector,
                window,
            }),
            other => Err(self.error(format!(
                "expected type range vector in call to function {:?}, got {}",
                func.name(),
                other.kind().name()
            ))),
        }
    }

    fn aggregation(&mut self, op: AggOp) -> Result<Expr, String> {
        let prefix = self.grouping()?;
        self.expect(b'(')?;
        let arg = self.expr()?;
        self.expect(b')')?;
        let suffix = self.grouping()?;
        let grouping = match (prefix, suffix) {
            (Some(_), Some(_)) => {
                return Err(self.error("aggregation has both a prefix and a suffix grouping"));
            }
            (Some(g), None) | (None, Some(g)) => g,
            (None, None) => Grouping::By(Vec::new()),
        };
        if arg.kind() != Kind::Vector {
            return Err(self.error(format!(
                "expected type instant vector in aggregation expression, got {}",
                arg.kind().name()
            )));
        }
        Ok(Expr::Aggregate(Box::new(Aggregate { op, grouping, arg })))
    }

    /// An optional `by (…)` or `without (…)`.
    fn grouping(&mut self) -> Result<Option<Grouping>, String> {
        let save = self.pos;
        self.skip_ws();
        let by = match self.ident() {
            "by" => true,
            "without" => false,
            _ => {
                self.pos = save;
                return Ok(None);
            }
        };
        self.expect(b'(')?;
        let mut names = Vec::new();
        while !self.eat(b')') {
            names.push(self.label_name()?.to_string());
            if !self.eat(b',') {
                self.expect(b')')?;
                break;
            }
        }
        Ok(Some(if by {
            Grouping::By(
                LABEL_NAMES
                    .iter()
                    .copied()
                    .filter(|l| names.iter().any(|n| n == l))
                    .collect(),
            )
        } else {
            Grouping::Without(names)
        }))
    }

    fn selector(&mut self, name: Option<&str>) -> Result<Expr, String> {
        let mut matchers = Vec::new();
        if let Some(name) = name {
            matchers.push(Matcher {
                name: NAME.into(),
                op: MatchOp::Equal(name.into()),
            });
        }
        if self.eat(b'{') {
            self.matchers(&mut matchers)?;
        }
        if matchers.iter().all(|m| m.matches("")) {
            return Err(self.error("vector selector must contain at least one non-empty matcher"));
        }
        let selector = Selector { matchers };
        if self.eat(b'[') {
            let window = self.window()?;
            return Ok(Expr::Range(selector, window));
        }
        Ok(Expr::Selector(selector))
    }

    /// The matchers after `{`, through the closing `}`.
    fn matchers(&mut self, matchers: &mut Vec<Matcher>) -> Result<(), String> {
        while !self.eat(b'}') {
            let name = self.label_name()?.to_string();
            let op = self.match_op()?;
            self.skip_ws();
            let value = self.string()?;
            let op = match op {
                "=" => MatchOp::Equal(value),
                "!=" => MatchOp::NotEqual(value),
                "=~" => MatchOp::Regex(self.regex(&value)?),
                _ => MatchOp::NotRegex(self.regex(&value)?),
            };
            matchers.push(Matcher { name, op });
            if !self.eat(b',') {
                self.expect(b'}')?;
                break;
            }
        }
        Ok(())
    }

    fn match_op(&mut self) -> Result<&'static str, String> {
        self.skip_ws();
        let rest = &self.src[self.pos..];
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op));
        let op = op.ok_or_else(|| self.error("expected a label matching operator"))?;
        self.pos += op.len();
        Ok(op)
    }

    fn regex(&self, pattern: &str) -> Result<Regex, String> {
        Regex::new(pattern)
            .map_err(|e| self.error(format!("invalid regular expression {pattern:?}: {e}")))
    }

    /// A quoted string: "…" and '…' with Go escapes, `…` raw.
    fn string(&mut self) -> Result<String, String> {
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'' | b'`')) => q as char,
            _ => return Err(self.error("expected a quoted string")),
        };
        let mut out = String::new();
        let mut chars = self.src[self.pos + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += 1 + i + 1;
                return Ok(out);
            }
            if c != '\\' || quote == '`' {
                out.push(c);
                continue;
            }
            let escaped = match chars.next().map(|(_, e)| e) {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('a') => '\x07',
                Some('b') => '\x08',
                Some('f') => '\x0c',
                Some('v') => '\x0b',
                Some(e @ ('\\' | '"' | '\'')) => e,
                Some(e) => return Err(self.error(format!("unknown escape sequence \\{e}"))),
                None => break,
            };
            out.push(escaped);
        }
        Err(self.error("unterminated quoted string"))
    }

    /// The duration after `[`, through the closing `]`, in seconds.
    fn window(&mut self) -> Result<f64, String> {
        let rest = &self.src[self.pos..];
        let Some(close) = rest.find(']') else {
            return Err(self.error("unterminated range selector"));
        };
        let text = rest[..close].trim();
        match parse_duration(text) {
            Some(ms) if ms > 0 => {
                self.pos += close + 1;
                Ok(ms as f64 / 1000.0)
            }
            _ => Err(self.error(format!("bad range duration {text:?}"))),
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn binary(op: BinOp, lhs: Expr, rhs: Expr) -> Result<Expr, String> {
    if lhs.kind() == Kind::Range || rhs.kind() == Kind::Range {
        return Err("binary expression must contain only scalar and instant vector types".into());
    }
    Ok(Expr::Binary(op, Box::new(lhs), Box::new(rhs)))
}

// ---------------------------------------------------------------------------------------
// PromQL: evaluation
// ---------------------------------------------------------------------------------------

/// The labels of a series flowing through evaluation: a source series (materialised only
/// when needed) or an explicit set.
enum Labels<'t> {
    Series { r: SeriesRef, keep_name: bool },
    Set(LabelSet<'t>),
}

impl<'t> Labels<'t> {
    fn get(&self, index: &'t Index, name: &str) -> Option<Cow<'t, str>> {
        match self {
            Labels::Series {
                keep_name: false, ..
            } if name == NAME => None,
            Labels::Series { r, .. } => index.label(*r, name),
            Labels::Set(set) => set.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()),
        }
    }

    fn into_set(self, index: &'t Index) -> LabelSet<'t> {
        match self {
            Labels::Series { r, keep_name } => index.labels(r, keep_name),
            Labels::Set(set) => set,
        }
    }

    fn without_name(self) -> Self {
        match self {
            Labels::Series { r, .. } => Labels::Series {
                r,
                keep_name: false,
            },
            Labels::Set(mut set) => {
                set.retain(|(n, _)| *n != NAME);
                Labels::Set(set)
            }
        }
    }
}

/// Receives each result series of a subexpression: its labels and one value per step.
type Sink<'s, 't> = dyn FnMut(Labels<'t>, &[Option<f64>]) -> Result<(), ApiError> + 's;

/// The result of a query: a scalar or series with one value per step.
enum Outcome<'t> {
    Scalar(f64),
    Series(Vec<(LabelSet<'t>, Vec<Option<f64>>)>),
}

/// Evaluates `expr` at each of `times` (milliseconds).
fn evaluate<'t>(index: &'t Index, expr: &Expr, times: &[i64]) -> Result<Outcome<'t>, ApiError> {
    if expr.kind() == Kind::Scalar {
        return Ok(Outcome::Scalar(expr.scalar()));
    }
    let eval = Eval {
        index,
        steps: times.iter().map(|t| At::new(*t as f64 / 1000.0)).collect(),
    };
    let mut out = Vec::new();
    eval.stream(expr, &mut |labels, values| {
        out.push((labels.into_set(index), values.to_vec()));
        Ok(())
    })?;
    Ok(Outcome::Series(out))
}

/// Streams series through the expression tree; only aggregations and vector-vector
/// operations hold series in memory.
struct Eval<'t> {
    index: &'t Index,
    /// Evaluation times.
    steps: Vec<At>,
}

impl<'t> Eval<'t> {
    fn stream(&self, expr: &Expr, sink: &mut Sink<'_, 't>) -> Result<(), ApiError> {
        match expr {
            Expr::Selector(selector) => self.select(selector, sink),
            Expr::Call {
                func,
                selector,
                window,
            } => self.call(*func, selector, *window, sink),
            Expr::Aggregate(agg) => self.aggregate(agg, sink),
            Expr::Binary(op, lhs, rhs) => match (lhs.kind(), rhs.kind()) {
                (Kind::Vector, Kind::Scalar) => {
                    let b = rhs.scalar();
                    self.map(lhs, &|a| op.apply(a, b), sink)
                }
                (Kind::Scalar, Kind::Vector) => {
                    let a = lhs.scalar();
                    self.map(rhs, &|b| op.apply(a, b), sink)
                }
                (Kind::Vector, Kind::Vector) => self.vector_op(*op, lhs, rhs, sink),
                _ => Err(ApiError::internal(
                    "a scalar expression reached vector evaluation",
                )),
            },
            Expr::Number(_) | Expr::Range(..) => Err(ApiError::internal("not an instant vector")),
        }
    }

    fn select(&self, selector: &Selector, sink: &mut Sink<'_, 't>) -> Result<(), ApiError> {
        let mut values = vec![None; self.steps.len()];
        self.index.select(selector, |r| {
            let sampler = self.index.sampler(r);
            for (v, t) in values.iter_mut().zip(&self.steps) {
                *v = sampler.at(*t);
            }
            emit(sink, Labels::Series { r, keep_name: true }, &values)
        })
    }

    fn call(
        &self,
        func: Func,
        selector: &Selector,
        window: f64,
        sink: &mut Sink<'_, 't>,
    ) -> Result<(), ApiError> {
        let windows: Vec<WindowAt> = self
            .steps
            .iter()
            .map(|now| WindowAt::new(*now, window))
            .collect();
        let mut values = vec![None; self.steps.len()];
        self.index.select(selector, |r| {
            let sampler = self.index.sampler(r);
            for (v, w) in values.iter_mut().zip(&windows) {
                *v = sampler.range(func, w);
            }
            emit(
                sink,
                Labels::Series {
                    r,
                    keep_name: false,
                },
                &values,
            )
        })
    }

    /// Applies `f` to every value of a vector; the result loses its metric name.
    fn map(
        &self,
        expr: &Expr,
        f: &dyn Fn(f64) -> f64,
        sink: &mut Sink<'_, 't>,
    ) -> Result<(), ApiError> {
        let mut out = vec![None; self.steps.len()];
        self.stream(expr, &mut |labels, values| {
            for (o, v) in out.iter_mut().zip(values) {
                *o = v.map(f);
            }
            sink(labels.without_name(), &out)
        })
    }

    fn aggregate(&self, agg: &Aggregate, sink: &mut Sink<'_, 't>) -> Result<(), ApiError> {
        let n = self.steps.len();
        let mut groups: Vec<(LabelSet<'t>, Vec<Acc>)> = Vec::new();
        let mut lookup: HashMap<LabelSet<'t>, usize> = HashMap::new();
        let mut key = LabelSet::new();
        self.stream(&agg.arg, &mut |labels, values| {
            agg.grouping.key(self.index, labels, &mut key);
            let slot = match lookup.get(key.as_slice()) {
                Some(slot) => *slot,
                None => {
                    lookup.insert(key.clone(), groups.len());
                    groups.push((key.clone(), vec![Acc::EMPTY; n]));
                    groups.len() - 1
                }
            };
            for (acc, v) in groups[slot].1.iter_mut().zip(values) {
                if let Some(v) = v {
                    acc.add(*v);
                }
            }
            Ok(())
        })?;
        let mut out = vec![None; n];
        for (labels, accs) in groups {
            for (o, acc) in out.iter_mut().zip(&accs) {
                *o = acc.result(agg.op);
            }
            emit(sink, Labels::Set(labels), &out)?;
        }
        Ok(())
    }

    /// `lhs op rhs` matching series one-to-one on all labels but `__name__`.
    fn vector_op(
        &self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        sink: &mut Sink<'_, 't>,
    ) -> Result<(), ApiError> {
        let mut right: HashMap<LabelSet<'t>, (Vec<Option<f64>>, bool)> = HashMap::new();
        self.stream(rhs, &mut |labels, values| {
            let key = labels.without_name().into_set(self.index);
            match right.insert(key, (values.to_vec(), false)) {
                Some(_) => Err(duplicate_series("right")),
                None => Ok(()),
            }
        })?;
        let mut out = vec![None; self.steps.len()];
        self.stream(lhs, &mut |labels, values| {
            let key = labels.without_name().into_set(self.index);
            let Some((matched, used)) = right.get_mut(&key) else {
                return Ok(());
            };
            if std::mem::replace(used, true) {
                return Err(duplicate_series("left"));
            }
            for ((o, a), b) in out.iter_mut().zip(values).zip(matched.iter()) {
                *o = a.zip(*b).map(|(a, b)| op.apply(a, b));
            }
            emit(sink, Labels::Set(key), &out)
        })
    }
}

/// Passes a series on unless it has no value at any step.
fn emit<'t>(
    sink: &mut Sink<'_, 't>,
    labels: Labels<'t>,
    values: &[Option<f64>],
) -> Result<(), ApiError> {
    if values.iter().any(Option::is_some) {
        sink(labels, values)
    } else {
        Ok(())
    }
}

fn duplicate_series(side: &str) -> ApiError {
    ApiError::execution(format!(
        "found duplicate series for the match group on the {side} hand-side of the operation; \
         many-to-many matching not allowed: matching labels must be unique on one side"
    ))
}

/// One step of one aggregation group.
#[derive(Debug, Clone, Copy)]
struct Acc {
    sum: f64,
    count: u32,
    min: f64,
    max: f64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        sum: 0.0,
        count: 0,
        min: f64::NAN,
        max: f64::NAN,
    };

    fn add(&mut self, v: f64) {
        if self.count == 0 || v < self.min || self.min.is_nan() {
            self.min = v;
        }
        if self.count == 0 || v > self.max || self.max.is_nan() {
            self.max = v;
        }
        self.sum += v;
        self.count += 1;
    }

    fn result(&self, op: AggOp) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match op {
            AggOp::Sum => self.sum,
            AggOp::Avg => self.sum / f64::from(self.count),
            AggOp::Max => self.max,
            AggOp::Min => self.min,
            AggOp::Count => f64::from(self.count),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Regular expressions: an RE2-like subset, fully anchored, run as a Pike VM
// ---------------------------------------------------------------------------------------

/// A compiled, fully anchored regular expression. Top-level alternatives that are plain
/// literals (`pod=~"a|b|c…"`) go into a hash set; the rest run on a Pike VM.
#[derive(Debug)]
struct Regex {
    literals: HashSet<String>,
    program: Option<Program>,
}

impl Regex {
    fn new(pattern: &str) -> Result<Self, String> {
        let node = RegexParser::parse(pattern)?;
        let mut branches = Vec::new();
        flatten_alternatives(node, &mut branches);
        let mut literals = HashSet::new();
        let mut rest = Vec::new();
        for branch in branches {
            match branch.literal() {
                Some(text) => {
                    literals.insert(text);
                }
                None => rest.push(branch),
            }
        }
        let program = match rest.len() {
            0 => None,
            1 => Some(Program::compile(&rest[0])?),
            _ => Some(Program::compile(&Node::Alt(rest))?),
        };
        Ok(Regex { literals, program })
    }

    fn is_match(&self, text: &str) -> bool {
        self.literals.contains(text) || self.program.as_ref().is_some_and(|p| p.is_match(text))
    }
}

fn flatten_alternatives(node: Node, out: &mut Vec<Node>) {
    match node {
        Node::Alt(branches) => branches
            .into_iter()
            .for_each(|b| flatten_alternatives(b, out)),
        other => out.push(other),
    }
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
}

impl Node {
    /// The text this node matches when it matches exactly one fixed string.
    fn literal(&self) -> Option<String> {
        match self {
            Node::Empty => Some(String::new()),
            Node::Char(c) => Some(c.to_string()),
            Node::Concat(items) => items.iter().map(Node::literal).collect(),
            _ => None,
        }
    }
}

/// A character class as code point ranges.
#[derive(Debug, Clone)]
struct Class {
    ranges: Vec<(u32, u32)>,
    negated: bool,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        let c = c as u32;
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];
const SPACE: &[(u32, u32)] = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];
/// RE2's limit on counted repetition.
const MAX_REPEAT: u32 = 1000;
const MAX_INSTRUCTIONS: usize = 200_000;

/// What a backslash escape denotes.
enum Escape {
    Char(char),
    Ranges(Vec<(u32, u32)>),
}

struct RegexParser {
    chars: Vec<char>,
    pos: usize,
}

impl RegexParser {
    fn parse(pattern: &str) -> Result<Node, String> {
        let mut parser = RegexParser {
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let node = parser.alternation()?;
        if parser.pos < parser.chars.len() {
            return Err("unexpected )".into());
        }
        Ok(node)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn alternation(&mut self) -> Result<Node, String> {
        let mut branches = vec![self.concatenation()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.concatenation()?);
        }
        Ok(if branches.len() == 1 {
            branches.swap_remove(0)
        } else {
            Node::Alt(branches)
        })
    }

    fn concatenation(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.repetition(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.swap_remove(0),
            _ => Node::Concat(items),
        })
    }

    fn repetition(&mut self, mut node: Node) -> Result<Node, String> {
        loop {
            let simple = match self.peek() {
                Some('*') => Some((0, None)),
                Some('+') => Some((1, None)),
                Some('?') => Some((0, Some(1))),
                _ => None,
            };
            let (min, max) = match simple {
                Some(bounds) => {
                    self.pos += 1;
                    bounds
                }
                None if self.peek() == Some('{') => match self.counted()? {
                    Some(bounds) => bounds,
                    None => return Ok(node),
                },
                None => return Ok(node),
            };
            if self.peek() == Some('?') {
                self.pos += 1; // non-greedy: the same language
            }
            node = Node::Repeat(Box::new(node), min, max);
        }
    }

    /// `{n}`, `{n,}` or `{n,m}` at the cursor (consumed), or `None` for a literal `{`.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let rest: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| **c != '}')
            .collect();
        if self.chars.get(self.pos + rest.len()) != Some(&'}') {
            return Ok(None);
        }
        let inner = &rest[1..];
        let number = |s: &str| {
            if s.is_empty() {
                None
            } else {
                s.parse::<u32>().ok()
            }
        };
        let bounds = match inner.split_once(',') {
            None => number(inner).map(|n| (n, Some(n))),
            Some((lo, "")) => number(lo).map(|n| (n, None)),
            Some((lo, hi)) => number(lo).zip(number(hi)).map(|(lo, hi)| (lo, Some(hi))),
        };
        let Some((min, max)) = bounds else {
            return Ok(None);
        };
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
            return Err(format!("invalid repeat count {{{inner}}}"));
        }
        self.pos += rest.chars().count() + 1;
        Ok(Some((min, max)))
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(c) = self.next() else {
            return Err("missing argument".into());
        };
        match c {
            '(' => self.group(),
            '[' => self.class(),
            '.' => Ok(Node::Any),
            '^' => Ok(Node::Start),
            '$' => Ok(Node::End),
            '\\' => Ok(match self.escape()? {
                Escape::Char(c) => Node::Char(c),
                Escape::Ranges(ranges) => Node::Class(Class {
                    ranges,
                    negated: false,
                }),
            }),
            '*' | '+' | '?' => Err(format!("missing argument to repetition operator: {c}")),
            c => Ok(Node::Char(c)),
        }
    }

    fn group(&mut self) -> Result<Node, String> {
        if self.peek() == Some('?') {
            self.pos += 1;
            match self.next() {
                Some(':') => {}
                Some('P' | '<') => while self.next().is_some_and(|c| c != '>') {},
                _ => return Err("unsupported group flags".into()),
            }
        }
        let inner = self.alternation()?;
        if self.next() != Some(')') {
            return Err("missing closing )".into());
        }
        Ok(inner)
    }

    fn escape(&mut self) -> Result<Escape, String> {
        let Some(c) = self.next() else {
            return Err("trailing backslash at end of expression".into());
        };
        Ok(match c {
            'd' => Escape::Ranges(DIGIT.to_vec()),
            'D' => Escape::Ranges(complement(DIGIT)),
            'w' => Escape::Ranges(WORD.to_vec()),
            'W' => Escape::Ranges(complement(WORD)),
            's' => Escape::Ranges(SPACE.to_vec()),
            'S' => Escape::Ranges(complement(SPACE)),
            'n' => Escape::Char('\n'),
            't' => Escape::Char('\t'),
            'r' => Escape::Char('\r'),
            'f' => Escape::Char('\x0c'),
            'v' => Escape::Char('\x0b'),
            c if c.is_ascii_punctuation() => Escape::Char(c),
            c => return Err(format!("invalid escape sequence: \\{c}")),
        })
    }

    /// The class after `[`, through the closing `]`.
    fn class(&mut self) -> Result<Node, String> {
        let negated = self.peek() == Some('^');
        self.pos += usize::from(negated);
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.next() else {
                return Err("missing closing ]".into());
            };
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = match self.class_char(c)? {
                Escape::Char(lo) => lo,
                Escape::Ranges(set) => {
                    ranges.extend(set);
                    continue;
                }
            };
            let is_range =
                self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']');
            if !is_range {
                ranges.push((lo as u32, lo as u32));
                continue;
            }
            self.pos += 1;
            let hi = match self.next().map(|c| self.class_char(c)).transpose()? {
                Some(Escape::Char(hi)) if hi >= lo => hi,
                _ => return Err("invalid character class range".into()),
            };
            ranges.push((lo as u32, hi as u32));
        }
        Ok(Node::Class(Class { ranges, negated }))
    }

    fn class_char(&mut self, c: char) -> Result<Escape, String> {
        if c == '\\' {
            self.escape()
        } else {
            Ok(Escape::Char(c))
        }
    }
}

/// The code points not in `ranges`.
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut out = Vec::new();
    let mut next = 0u32;
    for (lo, hi) in sorted {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = next.max(hi.saturating_add(1));
    }
    if next <= char::MAX as u32 {
        out.push((next, char::MAX as u32));
    }
    out
}

#[derive(Debug)]
enum Inst {
    Char(char),
    Any,
    Class(Class),
    Split(usize, usize),
    Jmp(usize),
    Start,
    End,
    Match,
}

#[derive(Debug)]
struct Program {
    insts: Vec<Inst>,
}

impl Program {
    fn compile(node: &Node) -> Result<Self, String> {
        let mut program = Program { insts: Vec::new() };
        program.emit(node)?;
        program.insts.push(Inst::Match);
        Ok(program)
    }

    fn push(&mut self, inst: Inst) -> usize {
        self.insts.push(inst);
        self.insts.len() - 1
    }

    fn emit(&mut self, node: &Node) -> Result<(), String> {
        if self.insts.len() > MAX_INSTRUCTIONS {
            return Err("expression too large".into());
        }
        match node {
            Node::Empty => {}
            Node::Char(c) => {
                self.push(Inst::Char(*c));
            }
            Node::Any => {
                self.push(Inst::Any);
            }
            Node::Class(class) => {
                self.push(Inst::Class(class.clone()));
            }
            Node::Start => {
                self.push(Inst::Start);
            }
            Node::End => {
                self.push(Inst::End);
            }
            Node::Concat(items) => {
                for item in items {
                    self.emit(item)?;
                }
            }
            Node::Alt(branches) => self.alternation(branches)?,
            Node::Repeat(inner, min, max) => self.repetition(inner, *min, *max)?,
        }
        Ok(())
    }

    fn alternation(&mut self, branches: &[Node]) -> Result<(), String> {
        let mut exits = Vec::new();
        for (i, branch) in branches.iter().enumerate() {
            if i + 1 == branches.len() {
                self.emit(branch)?;
                break;
            }
            let split = self.push(Inst::Split(0, 0));
            self.emit(branch)?;
            exits.push(self.push(Inst::Jmp(0)));
            self.insts[split] = Inst::Split(split + 1, self.insts.len());
        }
        let end = self.insts.len();
        for exit in exits {
            self.insts[exit] = Inst::Jmp(end);
        }
        Ok(())
    }

    fn repetition(&mut self, inner: &Node, min: u32, max: Option<u32>) -> Result<(), String> {
        for _ in 0..min {
            self.emit(inner)?;
        }
        match max {
            None => {
                let split = self.push(Inst::Split(0, 0));
                self.emit(inner)?;
                self.push(Inst::Jmp(split));
                self.insts[split] = Inst::Split(split + 1, self.insts.len());
            }
            Some(max) => {
                for _ in min..max {
                    let split = self.push(Inst::Split(0, 0));
                    self.emit(inner)?;
                    self.insts[split] = Inst::Split(split + 1, self.insts.len());
                }
            }
        }
        Ok(())
    }

    /// Whether the whole of `text` matches (a Pike VM: linear in the text).
    fn is_match(&self, text: &str) -> bool {
        let mut current = Threads::new(self.insts.len());
        let mut next = Threads::new(self.insts.len());
        let mut stack = Vec::new();
        self.add(&mut current, &mut stack, 0, true, text.is_empty());
        for (i, c) in text.char_indices() {
            if current.list.is_empty() {
                return false;
            }
            let at_end = i + c.len_utf8() == text.len();
            next.clear();
            for k in 0..current.list.len() {
                let pc = current.list[k];
                let step = match &self.insts[pc] {
                    Inst::Char(x) => *x == c,
                    Inst::Any => c != '\n',
                    Inst::Class(class) => class.matches(c),
                    _ => false,
                };
                if step {
                    self.add(&mut next, &mut stack, pc + 1, false, at_end);
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        current
            .list
            .iter()
            .any(|pc| matches!(self.insts[*pc], Inst::Match))
    }

    /// Adds `pc` and everything reachable from it without consuming input.
    fn add(
        &self,
        threads: &mut Threads,
        stack: &mut Vec<usize>,
        pc: usize,
        at_start: bool,
        at_end: bool,
    ) {
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if !threads.insert(pc) {
                continue;
            }
            match self.insts[pc] {
                Inst::Jmp(to) => stack.push(to),
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Inst::Start if at_start => stack.push(pc + 1),
                Inst::End if at_end => stack.push(pc + 1),
                _ => {}
            }
        }
    }
}

/// The set of program counters alive at one position, in insertion order.
struct Threads {
    list: Vec<usize>,
    present: Vec<bool>,
}

impl Threads {
    fn new(size: usize) -> Self {
        Threads {
            list: Vec::with_capacity(size),
            present: vec![false; size],
        }
    }

    fn insert(&mut self, pc: usize) -> bool {
        let fresh = !self.present[pc];
        if fresh {
            self.present[pc] = true;
            self.list.push(pc);
        }
        fresh
    }

    fn clear(&mut self) {
        for pc in self.list.drain(..) {
            self.present[pc] = false;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::App;
    use actix_web::test as web_test;
    use serde_json::Value;

    const T0: i64 = 1_700_000_000;

    /// `nodes` nodes, `pods` pods round-robin over them, pod i in namespace `ns-{i % 10}`,
    /// every third pod with a sidecar, pods created a minute apart before `T0`.
    fn topology(nodes: usize, pods: usize) -> Topology {
        Topology {
            nodes: (0..nodes)
                .map(|i| NodeTarget {
                    name: format!("node-{i}"),
                    cpu_cores: 8,
                    memory_bytes: 32 << 30,
                })
                .collect(),
            pods: (0..pods).map(|i| pod(i, nodes)).collect(),
        }
    }

    fn pod(i: usize, nodes: usize) -> PodTarget {
        let mut containers = vec![ContainerTarget {
            name: "app".into(),
            image: format!("registry/app:{}", i % 7),
        }];
        if i.is_multiple_of(3) {
            containers.push(ContainerTarget {
                name: "sidecar".into(),
                image: "envoy:1.30".into(),
            });
        }
        PodTarget {
            namespace: format!("ns-{}", i % 10),
            name: format!("pod-{i}"),
            uid: format!("0000-{i:08}"),
            node: format!("node-{}", i % nodes),
            containers,
            created_unix: T0 - 86_400 + (i as i64 % 1000) * 60,
        }
    }

    fn prometheus(seed: u64, topology: Topology) -> Arc<Prometheus> {
        let topology = Arc::new(topology);
        Arc::new(Prometheus::new(seed, Arc::new(move || topology.clone())))
    }

    /// Evaluates `query` at `t` (seconds) into (labels, value) pairs.
    fn instant(prom: &Prometheus, query: &str, t: f64) -> Vec<(Vec<(String, String)>, f64)> {
        let index = prom.index();
        let expr = parse_query(query).unwrap();
        match evaluate(&index, &expr, &[(t * 1000.0) as i64]).unwrap() {
            Outcome::Scalar(v) => vec![(Vec::new(), v)],
            Outcome::Series(series) => series
                .into_iter()
                .filter_map(|(labels, values)| {
                    let labels = labels
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.into_owned()))
                        .collect();
                    values[0].map(|v| (labels, v))
                })
                .collect(),
        }
    }

    fn label<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
        labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn single(prom: &Prometheus, query: &str, t: f64) -> f64 {
        let result = instant(prom, query, t);
        assert_eq!(result.len(), 1, "{query}: {result:?}");
        result[0].1
    }

    fn close(a: f64, b: f64, relative: f64) -> bool {
        (a - b).abs() <= relative * a.abs().max(b.abs()).max(1e-12)
    }

    // --- regex ---

    #[test]
    fn regex_is_anchored_and_supports_the_subset() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "xabc", false),
            ("abc", "abcd", false),
            ("a.c", "abc", true),
            ("a.*", "a", true),
            ("a.*", "ab/c", true),
            ("ab+c", "ac", false),
            ("ab+c", "abbbc", true),
            ("ab?c", "ac", true),
            ("a|b|c", "b", true),
            ("a|b|c", "d", false),
            ("(foo|bar)-[0-9]+", "bar-42", true),
            ("(foo|bar)-[0-9]+", "bar-", false),
            ("[^a-c]x", "dx", true),
            ("[^a-c]x", "bx", false),
            ("ns-\\d{1,2}", "ns-12", true),
            ("ns-\\d{1,2}", "ns-123", false),
            ("(?:a|ab)(c|bcd)(d*)", "abcd", true),
            ("^pod-.*$", "pod-1", true),
            ("", "", true),
            ("", "x", false),
            ("x*", "", true),
            ("(a*)*b", "aaab", true),
            ("[a-]", "-", true),
            ("\\.", ".", true),
            ("\\.", "x", false),
            ("pod-1|pod-2|p.d-3", "pod-3", true),
            ("pod-1|pod-2|p.d-3", "pod-4", false),
        ];
        for (pattern, text, expected) in cases {
            let re = Regex::new(pattern).unwrap();
            assert_eq!(re.is_match(text), expected, "{pattern:?} on {text:?}");
        }
    }

    #[test]
    fn bad_regexes_are_errors() {
        for pattern in ["(", "a)", "[a", "*a", "a{2,1}", "\\q", "(?i)a"] {
            assert!(Regex::new(pattern).is_err(), "{pattern:?}");
        }
    }

    // --- selectors ---

    #[test]
    fn selectors_match_with_all_operators_and_absent_labels() {
        let prom = prometheus(1, topology(2, 6));
        let t = T0 as f64;
        let count = |q: &str| instant(&prom, q, t).len();
        // 6 pods, pods 0 and 3 with a sidecar: 8 containers, 6 pod cgroups, 2 nodes.
        assert_eq!(count("container_memory_usage_bytes"), 8 + 6 + 2);
        assert_eq!(count(r#"container_memory_usage_bytes{container!=""}"#), 8);
        assert_eq!(
            count(r#"container_memory_usage_bytes{container="",pod!=""}"#),
            6
        );
        assert_eq!(count(r#"container_memory_usage_bytes{id="/"}"#), 2);
        assert_eq!(
            count(r#"container_memory_usage_bytes{container="sidecar"}"#),
            2
        );
        assert_eq!(
            count(r#"container_memory_usage_bytes{container=~"side.*|nothing"}"#),
            2
        );
        assert_eq!(
            count(r#"container_memory_usage_bytes{container!~"app|sidecar"}"#),
            8
        );
        assert_eq!(
            count(r#"container_memory_usage_bytes{pod=~"pod-1|pod-3"}"#),
            1 + 2 + 2
        );
        assert_eq!(
            count(r#"container_memory_usage_bytes{namespace="ns-3",container=""}"#),
            1
        );
        assert_eq!(count(r#"{__name__=~"machine_.*"}"#), 4);
        assert_eq!(
            count(r#"{__name__="container_fs_usage_bytes", node="node-0"}"#),
            5
        );
        assert_eq!(
            count(r#"container_network_receive_bytes_total{interface="eth0"}"#),
            6 + 2
        );
        assert_eq!(count(r#"kube_node_status_capacity{resource="cpu"}"#), 2);
        let result = instant(
            &prom,
            r#"container_cpu_usage_seconds_total{pod="pod-0",container="app"}"#,
            t,
        );
        let labels = &result[0].0;
        assert_eq!(
            label(labels, "__name__"),
            Some("container_cpu_usage_seconds_total")
        );
        assert_eq!(
            label(labels, "id"),
            Some("/kubepods/burstable/pod0000-00000000/app")
        );
        assert_eq!(label(labels, "name"), Some("k8s_app_pod-0"));
        assert_eq!(label(labels, "job"), Some("kubelet"));
        assert_eq!(label(labels, "instance"), Some("node-0"));
        assert!(
            parse_query(r#"{container=""}"#).is_err(),
            "needs a non-empty matcher"
        );
    }

    #[test]
    fn no_sample_before_the_pod_existed() {
        let prom = prometheus(1, topology(1, 1));
        let created = pod(0, 1).created_unix as f64;
        assert!(
            instant(
                &prom,
                r#"container_memory_usage_bytes{pod="pod-0"}"#,
                created - 1.0
            )
            .is_empty()
        );
        assert_eq!(
            instant(
                &prom,
                r#"container_memory_usage_bytes{pod="pod-0"}"#,
                created
            )
            .len(),
            3
        );
        assert!(
            single(
                &prom,
                r#"container_cpu_usage_seconds_total{container="app"}"#,
                created
            )
            .abs()
                < 1e-9
        );
    }

    // --- values ---

    #[test]
    fn rate_of_a_counter_equals_the_generating_rate() {
        let prom = prometheus(7, topology(1, 3));
        let p = pod(0, 1);
        let waves = ContainerWaves::new(7, &p, &p.containers[0]);
        for offset in [0.0, 600.0, 1234.5, 3000.0] {
            let t = T0 as f64 + offset;
            let rate = single(
                &prom,
                r#"rate(container_cpu_usage_seconds_total{pod="pod-0",container="app"}[1m])"#,
                t,
            );
            // The mean over the window of a 1 h sine is its midpoint value to ~1e-4.
            assert!(
                close(rate, waves.cpu.at(t - 30.0), 1e-3),
                "{rate} vs {}",
                waves.cpu.at(t - 30.0)
            );
            let irate = single(
                &prom,
                r#"irate(container_cpu_usage_seconds_total{pod="pod-0",container="app"}[1m])"#,
                t,
            );
            assert!(close(irate, waves.cpu.at(t), 2e-2));
            let increase = single(
                &prom,
                r#"increase(container_cpu_usage_seconds_total{pod="pod-0",container="app"}[1m])"#,
                t,
            );
            assert!(close(increase, rate * 60.0, 1e-9));
        }
        let base = waves.cpu.base;
        assert!((0.005..0.5).contains(&base), "{base}");
    }

    #[test]
    fn pod_level_is_the_sum_of_its_containers() {
        let prom = prometheus(3, topology(2, 9));
        let t = T0 as f64 + 777.0;
        for metric in [
            "container_cpu_usage_seconds_total",
            "container_memory_usage_bytes",
        ] {
            let pod_level = single(
                &prom,
                &format!(r#"{metric}{{pod="pod-3",container=""}}"#),
                t,
            );
            let containers = single(
                &prom,
                &format!(r#"sum({metric}{{pod="pod-3",container!=""}})"#),
                t,
            );
            assert!(
                close(pod_level, containers, 1e-12),
                "{metric}: {pod_level} vs {containers}"
            );
        }
    }

    #[test]
    fn node_level_is_its_pods_plus_overhead() {
        let prom = prometheus(3, topology(2, 40));
        let t = T0 as f64 + 100.0;
        let node = single(
            &prom,
            r#"container_memory_usage_bytes{id="/",node="node-1"}"#,
            t,
        );
        let pods = single(
            &prom,
            r#"sum(container_memory_usage_bytes{container="",pod!="",node="node-1"})"#,
            t,
        );
        assert!(node > pods);
        assert!(
            node - pods < 400.0 * MIB && node - pods > 200.0 * MIB,
            "{}",
            (node - pods) / MIB
        );
        let node_rate = single(
            &prom,
            r#"rate(container_cpu_usage_seconds_total{id="/",node="node-1"}[5m])"#,
            t,
        );
        let pod_rates = single(
            &prom,
            r#"sum(rate(container_cpu_usage_seconds_total{container="",pod!="",node="node-1"}[5m]))"#,
            t,
        );
        assert!(
            node_rate - pod_rates > 0.06 && node_rate - pod_rates < 0.14,
            "{node_rate} {pod_rates}"
        );
        // The node counter is the sum of the pod counters plus the overhead's integral.
        let node_counter = single(
            &prom,
            r#"container_cpu_usage_seconds_total{id="/",node="node-1"}"#,
            t,
        );
        let pod_counters = single(
            &prom,
            r#"sum(container_cpu_usage_seconds_total{container="",pod!="",node="node-1"})"#,
            t,
        );
        let overhead = NodeWaves::new(3, &prom.index().topology.nodes[1]).cpu;
        let expected = pod_counters + Moments::of(overhead, 0.0, 0.0).counter(At::new(t), 0.0);
        assert!(
            close(node_counter, expected, 1e-9),
            "{node_counter} vs {expected}"
        );
        assert_eq!(single(&prom, r#"machine_cpu_cores{node="node-1"}"#, t), 8.0);
        assert_eq!(
            single(
                &prom,
                r#"kube_node_status_capacity{node="node-1",resource="memory"}"#,
                t
            ),
            (32u64 << 30) as f64
        );
    }

    #[test]
    fn aggregations_group_by_and_without() {
        let prom = prometheus(5, topology(3, 30));
        let t = T0 as f64;
        let by_ns = instant(
            &prom,
            r#"sum by (namespace) (container_memory_usage_bytes{container!=""})"#,
            t,
        );
        assert_eq!(by_ns.len(), 10);
        assert!(
            by_ns
                .iter()
                .all(|(labels, _)| labels.len() == 1 && labels[0].0 == "namespace")
        );
        let total = single(
            &prom,
            r#"sum(container_memory_usage_bytes{container!=""})"#,
            t,
        );
        let summed: f64 = by_ns.iter().map(|(_, v)| v).sum();
        assert!(close(total, summed, 1e-12));
        let suffix = instant(
            &prom,
            r#"sum(container_memory_usage_bytes{container!=""}) by (namespace)"#,
            t,
        );
        assert_eq!(suffix.len(), 10);
        let ns3 = single(
            &prom,
            r#"sum(container_memory_usage_bytes{container!="", namespace="ns-3"})"#,
            t,
        );
        let from_group = by_ns
            .iter()
            .find(|(l, _)| label(l, "namespace") == Some("ns-3"))
            .unwrap()
            .1;
        assert_eq!(ns3, from_group);
        assert_eq!(
            single(
                &prom,
                r#"count(container_memory_usage_bytes{container!=""})"#,
                t
            ),
            40.0
        );
        let without = instant(
            &prom,
            r#"max without (container, image, id, name) (container_memory_usage_bytes{container!=""})"#,
            t,
        );
        assert_eq!(without.len(), 30);
        assert!(
            without
                .iter()
                .all(|(l, _)| label(l, "pod").is_some() && label(l, "__name__").is_none())
        );
        let avg = single(
            &prom,
            r#"avg(container_memory_usage_bytes{container!=""})"#,
            t,
        );
        assert!(close(avg, total / 40.0, 1e-12));
        let min = single(
            &prom,
            r#"min(container_memory_usage_bytes{container!=""})"#,
            t,
        );
        let max = single(
            &prom,
            r#"max(container_memory_usage_bytes{container!=""})"#,
            t,
        );
        assert!(min < avg && avg < max && min >= 0.7 * 20.0 * MIB && max <= 1.3 * GIB);
    }

    #[test]
    fn arithmetic_with_scalars_and_matching_vectors() {
        let prom = prometheus(5, topology(2, 4));
        let t = T0 as f64;
        let sel = r#"container_network_receive_bytes_total{pod="pod-1"}"#;
        let v = single(&prom, sel, t);
        assert_eq!(single(&prom, &format!("{sel} / 1000"), t), v / 1000.0);
        assert_eq!(
            single(&prom, &format!("{sel} * 100 + 1"), t),
            v * 100.0 + 1.0
        );
        assert_eq!(single(&prom, &format!("2 * {sel} - 1"), t), 2.0 * v - 1.0);
        assert_eq!(single(&prom, &format!("-{sel}"), t), -v);
        let tx = single(
            &prom,
            r#"container_network_transmit_bytes_total{pod="pod-1"}"#,
            t,
        );
        let both = instant(
            &prom,
            r#"sum by (pod) (rate(container_network_receive_bytes_total{pod=~"pod-.*"}[5m])) + sum by (pod) (rate(container_network_transmit_bytes_total{pod=~"pod-.*"}[5m]))"#,
            t,
        );
        assert_eq!(both.len(), 4);
        let plain = instant(
            &prom,
            &format!("{sel} + container_network_transmit_bytes_total"),
            t,
        );
        assert_eq!(plain.len(), 1);
        assert!(close(plain[0].1, v + tx, 1e-12));
        assert_eq!(label(&plain[0].0, "__name__"), None);
        assert_eq!(single(&prom, "1 + 2 * 3", t), 7.0);
        // Many-to-many is an execution error.
        let index = prom.index();
        let expr = parse_query(r#"machine_cpu_cores + {__name__=~"machine_.*"}"#).unwrap();
        let error = evaluate(&index, &expr, &[T0 * 1000])
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            (error.status, error.kind),
            (StatusCode::UNPROCESSABLE_ENTITY, "execution")
        );
    }

    #[test]
    fn values_are_deterministic_and_depend_on_the_seed() {
        let query =
            r#"sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="ns-1"}[5m]))"#;
        let a = instant(&prometheus(11, topology(3, 50)), query, T0 as f64);
        let b = instant(&prometheus(11, topology(3, 50)), query, T0 as f64);
        let c = instant(&prometheus(12, topology(3, 50)), query, T0 as f64);
        assert_eq!(a.len(), 5);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.1.to_bits(), y.1.to_bits());
        }
        assert!(a.iter().zip(&c).any(|(x, y)| x.1 != y.1));
    }

    #[test]
    fn parse_errors_and_unsupported_syntax() {
        for query in [
            "",
            "foo{",
            "rate(foo)",
            "sum(foo[5m])",
            "foo[5m]",
            "topk(3, foo)",
            "foo > 1",
            "foo + on(pod) bar",
            "sum by (a) (foo) by (b)",
            r#"foo{a=~"("}"#,
            "foo offset 5m",
            "(foo)[5m:1m]",
        ] {
            assert!(parse_query(query).is_err(), "{query:?} should fail");
        }
        for query in [
            "foo",
            "foo{a='b', c=`d`}",
            "sum without (pod) (rate(foo{a!~\"x|y\"}[1h30m])) / 2",
            "{__name__=\"foo\"}",
            "count(foo) by (a, b,)",
        ] {
            assert!(parse_query(query).is_ok(), "{query:?} should parse");
        }
    }

    #[test]
    fn durations_and_times_parse_like_prometheus() {
        assert_eq!(parse_duration("20s"), Some(20_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("30m1h"), None);
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_step("1.5").unwrap(), 1500);
        assert_eq!(parse_time("t", "1700000000.5").unwrap(), 1_700_000_000_500);
        assert_eq!(
            parse_time("t", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert!(parse_time("t", "yesterday").is_err());
    }

    #[test]
    fn values_and_times_render_like_prometheus() {
        let mut out = Vec::new();
        write_point(&mut out, &format_time(1_700_000_000_000), 0.5);
        write_point(&mut out, &format_time(1_700_000_000_500), f64::NAN);
        write_point(&mut out, &format_time(1_700_000_000_020), f64::INFINITY);
        write_point(&mut out, &format_time(0), 1e-7);
        write_point(&mut out, &format_time(-1500), 8.0);
        write_point(&mut out, &format_time(1), 1e21);
        write_point(&mut out, &format_time(2), 123456789.125);
        write_point(&mut out, &format_time(3), -0.0001);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"[1700000000,"0.5"][1700000000.5,"NaN"][1700000000.02,"+Inf"][0,"0.0000001"][-1.5,"8"][0.001,"1000000000000000000000"][0.002,"123456789.125"][0.003,"-0.0001"]"#
        );
        // The fast path is Display's format: shortest round-trip digits, no exponent
        // (the last digit may differ on exact ties, as any two shortest algorithms may).
        let mut rng = SplitMix(42);
        for _ in 0..100_000 {
            let v = f64::from_bits(rng.next());
            if !v.is_finite() {
                continue;
            }
            let mut fast = Vec::new();
            write_value(&mut fast, v);
            let fast = String::from_utf8(fast).unwrap();
            let display = v.to_string();
            assert_eq!(fast.parse::<f64>().unwrap(), v, "{fast}");
            assert_eq!(fast.len(), display.len(), "{fast} vs {display}");
            assert_eq!(
                fast[..fast.len() - 1],
                display[..display.len() - 1],
                "{fast} vs {display}"
            );
        }
    }

    #[test]
    fn a_hundred_thousand_pods_stay_fast() {
        let prom = prometheus(1, topology(1000, 100_000));
        let start = std::time::Instant::now();
        prom.index();
        let built = start.elapsed();
        let pods: Vec<String> = (0..300).map(|i| format!("pod-{}", i * 331)).collect();
        let query = format!(
            r#"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{container!="",pod=~"{}"}}[5m]))"#,
            pods.join("|")
        );
        let params = |q: &str| {
            Params(vec![
                ("query".into(), q.to_string()),
                ("start".into(), (T0 - 3000).to_string()),
                ("end".into(), T0.to_string()),
                ("step".into(), "20s".into()),
            ])
        };
        let start = std::time::Instant::now();
        let body = prom.range_query(&params(&query)).unwrap();
        let by_pod = start.elapsed();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["data"]["result"].as_array().unwrap().len(), 300);
        assert_eq!(
            json["data"]["result"][0]["values"]
                .as_array()
                .unwrap()
                .len(),
            151
        );
        let start = std::time::Instant::now();
        let body = prom
            .range_query(&params(
                r#"sum by (pod) (container_memory_usage_bytes{namespace="ns-7",container!=""})"#,
            ))
            .unwrap();
        let by_namespace = start.elapsed();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["data"]["result"].as_array().unwrap().len(), 10_000);
        let start = std::time::Instant::now();
        prom.range_query(&params(
            r#"rate(container_cpu_usage_seconds_total{id="/"}[5m])"#,
        ))
        .unwrap();
        let nodes = start.elapsed();
        eprintln!(
            "index {built:?}, 300 pods {by_pod:?}, namespace {by_namespace:?}, 1000 nodes {nodes:?}"
        );
        // Generous bounds: unoptimised test builds are several times slower than release.
        assert!(by_pod.as_secs_f64() < 2.0, "{by_pod:?}");
        assert!(nodes.as_secs_f64() < 2.0, "{nodes:?}");
    }

    // --- HTTP ---

    async fn call(prom: &Arc<Prometheus>, req: web_test::TestRequest) -> (StatusCode, Value) {
        let app = web_test::init_service(App::new().configure(|c| prom.clone().configure(c))).await;
        let resp = web_test::call_service(&app, req.to_request()).await;
        let status = resp.status();
        let body = web_test::read_body(resp).await;
        (status, serde_json::from_slice(&body).unwrap())
    }

    async fn get(prom: &Arc<Prometheus>, uri: &str) -> (StatusCode, Value) {
        call(prom, web_test::TestRequest::get().uri(uri)).await
    }

    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    fn assert_bad_data(status: StatusCode, body: &Value, message: &str) {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["errorType"], "bad_data");
        assert!(body["error"].as_str().unwrap().contains(message), "{body}");
    }

    #[actix_web::test]
    async fn instant_query_over_get() {
        let prom = prometheus(1, topology(2, 4));
        let q = encode(r#"container_memory_usage_bytes{pod="pod-1",container="app"}"#);
        let (status, body) =
            get(&prom, &format!("/api/v1/query?query={q}&time=1700000000.5")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "success");
        assert_eq!(body["data"]["resultType"], "vector");
        let result = &body["data"]["result"][0];
        assert_eq!(result["metric"]["__name__"], "container_memory_usage_bytes");
        assert_eq!(result["metric"]["pod"], "pod-1");
        assert_eq!(result["value"][0], 1_700_000_000.5);
        let value: f64 = result["value"][1].as_str().unwrap().parse().unwrap();
        assert!(value > 14.0 * MIB);
        let (_, scalar) = get(&prom, "/api/v1/query?query=1%2B1&time=10").await;
        assert_eq!(
            scalar["data"],
            serde_json::json!({"resultType": "scalar", "result": [10, "2"]})
        );
    }

    #[actix_web::test]
    async fn range_query_over_post_form_aligns_steps() {
        let prom = prometheus(1, topology(2, 4));
        let q =
            encode(r#"sum by (pod) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))"#);
        let form = format!("query={q}&start=1700000000&end=1700000100&step=20s");
        let req = web_test::TestRequest::post()
            .uri("/api/v1/query_range")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form);
        let (status, body) = call(&prom, req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["resultType"], "matrix");
        let result = body["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 4);
        assert_eq!(result[0]["metric"], serde_json::json!({"pod": "pod-0"}));
        let times: Vec<i64> = result[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_i64().unwrap())
            .collect();
        assert_eq!(
            times,
            vec![
                1_700_000_000,
                1_700_000_020,
                1_700_000_040,
                1_700_000_060,
                1_700_000_080,
                1_700_000_100
            ]
        );
        assert!(result[0]["values"][0][1].is_string());
        // A fractional step lands on fractional timestamps, as floats.
        let uri = format!("/api/v1/query_range?query={q}&start=1700000000&end=1700000001&step=0.5");
        let (_, body) = get(&prom, &uri).await;
        assert_eq!(body["data"]["result"][0]["values"][1][0], 1_700_000_000.5);
    }

    #[actix_web::test]
    async fn range_query_limits_points_exactly_like_prometheus() {
        let prom = prometheus(1, topology(1, 1));
        let (status, body) = get(
            &prom,
            "/api/v1/query_range?query=machine_cpu_cores&start=0&end=11000&step=1",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"]["result"][0]["values"]
                .as_array()
                .unwrap()
                .len(),
            11_001
        );
        let (status, body) = get(
            &prom,
            "/api/v1/query_range?query=machine_cpu_cores&start=0&end=11001&step=1",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            serde_json::json!({
                "status": "error",
                "errorType": "bad_data",
                "error": "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
            })
        );
        let (status, body) = get(
            &prom,
            "/api/v1/query_range?query=machine_cpu_cores&start=10&end=5&step=1",
        )
        .await;
        assert_bad_data(status, &body, "end timestamp must not be before start time");
        let (status, body) = get(
            &prom,
            "/api/v1/query_range?query=machine_cpu_cores&start=0&end=5",
        )
        .await;
        assert_bad_data(status, &body, r#"invalid parameter "step""#);
        let (status, body) = get(
            &prom,
            "/api/v1/query_range?query=machine_cpu_cores&start=x&end=5&step=1",
        )
        .await;
        assert_bad_data(
            status,
            &body,
            r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#,
        );
        let (status, body) = get(
            &prom,
            "/api/v1/query_range?query=machine_cpu_cores&start=0&end=5&step=0",
        )
        .await;
        assert_bad_data(status, &body, "zero or negative query resolution step");
        // Absurd but valid numbers neither overflow nor panic.
        let (status, body) = get(
            &prom,
            "/api/v1/query_range?query=machine_cpu_cores&start=-1e300&end=1e300&step=1e290",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[actix_web::test]
    async fn bad_queries_are_bad_data() {
        let prom = prometheus(1, topology(1, 1));
        for q in [
            "sum(",
            "topk(2,machine_cpu_cores)",
            "machine_cpu_cores>1",
            "",
        ] {
            let (status, body) = get(&prom, &format!("/api/v1/query?query={}", encode(q))).await;
            assert_bad_data(status, &body, r#"invalid parameter "query""#);
        }
        let (status, body) = get(&prom, "/api/v1/query?query=machine_cpu_cores&time=soon").await;
        assert_bad_data(status, &body, r#"invalid parameter "time""#);
    }

    #[actix_web::test]
    async fn series_and_label_endpoints() {
        let prom = prometheus(1, topology(2, 3));
        let m1 = encode(r#"container_memory_usage_bytes{pod="pod-0"}"#);
        let m2 = encode("machine_cpu_cores");
        let (status, body) = get(
            &prom,
            &format!("/api/v1/series?match%5B%5D={m1}&match%5B%5D={m2}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let series = body["data"].as_array().unwrap();
        assert_eq!(series.len(), 3 + 2);
        assert!(
            series
                .iter()
                .any(|s| s["id"] == "/kubepods/burstable/pod0000-00000000")
        );
        let (status, body) = get(&prom, "/api/v1/series").await;
        assert_bad_data(status, &body, "no match[] parameter provided");
        let (_, body) = get(&prom, "/api/v1/labels").await;
        assert!(
            body["data"]
                .as_array()
                .unwrap()
                .contains(&Value::from("namespace"))
        );
        let (_, body) = get(&prom, "/api/v1/label/namespace/values").await;
        assert_eq!(body["data"], serde_json::json!(["ns-0", "ns-1", "ns-2"]));
        let (_, body) = get(&prom, "/api/v1/label/__name__/values").await;
        assert_eq!(body["data"].as_array().unwrap().len(), 8);
    }

    #[actix_web::test]
    async fn responses_are_deterministic() {
        let uri = format!(
            "/api/v1/query_range?query={}&start=1700000000&end=1700003000&step=60",
            encode("container_network_transmit_bytes_total")
        );
        let (_, a) = get(&prometheus(9, topology(3, 20)), &uri).await;
        let (_, b) = get(&prometheus(9, topology(3, 20)), &uri).await;
        assert_eq!(a, b);
        assert_eq!(a["data"]["result"].as_array().unwrap().len(), 23);
    }
}
