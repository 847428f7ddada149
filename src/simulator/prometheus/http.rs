//! The HTTP layer: routes and handlers, the API operations behind them and the
//! rendering of their answers as Prometheus' JSON.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::Prometheus;
use super::eval::{Outcome, evaluate};
use super::promql::{Expr, Selector, parse_query};
use super::series::{LABEL_NAMES, LabelSet, metrics};

/// Bodies of POSTed queries: long `pod=~"a|b|…"` regexes need more than actix' 256 KiB.
const MAX_BODY: usize = 16 << 20;

pub(super) fn resource(path: &str, data: &web::Data<Prometheus>) -> actix_web::Resource {
    web::resource(path)
        .app_data(data.clone())
        .app_data(web::PayloadConfig::new(MAX_BODY))
}

/// Routes GET and POST of `resource` to `handler`.
pub(super) fn both<F, Args>(resource: actix_web::Resource, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    resource
        .route(web::get().to(handler.clone()))
        .route(web::post().to(handler))
}

pub(super) async fn query(
    req: HttpRequest,
    body: web::Bytes,
    prom: web::Data<Prometheus>,
) -> HttpResponse {
    let params = Params::new(&req, &body);
    respond(prom, move |p| p.instant_query(&params)).await
}

pub(super) async fn query_range(
    req: HttpRequest,
    body: web::Bytes,
    prom: web::Data<Prometheus>,
) -> HttpResponse {
    let params = Params::new(&req, &body);
    respond(prom, move |p| p.range_query(&params)).await
}

pub(super) async fn series(
    req: HttpRequest,
    body: web::Bytes,
    prom: web::Data<Prometheus>,
) -> HttpResponse {
    let params = Params::new(&req, &body);
    respond(prom, move |p| p.series(&params)).await
}

pub(super) async fn labels(
    req: HttpRequest,
    body: web::Bytes,
    prom: web::Data<Prometheus>,
) -> HttpResponse {
    let params = Params::new(&req, &body);
    respond(prom, move |p| p.label_names(&params)).await
}

pub(super) async fn label_values(
    req: HttpRequest,
    path: web::Path<String>,
    prom: web::Data<Prometheus>,
) -> HttpResponse {
    let name = path.into_inner();
    let params = Params::new(&req, &[]);
    respond(prom, move |p| p.label_values(&name, &params)).await
}

/// `GET /api/v1/status/buildinfo`, which Grafana and other clients read first.
pub(super) async fn buildinfo() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "success",
        "data": {
            "version": "2.53.0",
            "revision": "steward-simulator",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
    }))
}

/// `/-/healthy` and `/-/ready`, as load balancers and operators probe them.
pub(super) async fn healthy() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Prometheus Server is Healthy.\n")
}

pub(super) async fn ready() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Prometheus Server is Ready.\n")
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
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) kind: &'static str,
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

    pub(super) fn execution(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "execution",
            message: message.into(),
        }
    }

    pub(super) fn internal(message: impl Into<String>) -> Self {
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
pub(super) struct Params(pub(super) Vec<(String, String)>);

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

/// Decodes `a=1&b=x+y&match[]=…` (`url`'s `application/x-www-form-urlencoded`
/// parser); repeated names are kept in order.
fn decode_form(input: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(input)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

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

    pub(super) fn range_query(&self, params: &Params) -> Result<Vec<u8>, ApiError> {
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

    /// The series `match[]` selects (None: no `match[]`, every series).
    fn matched(
        &self,
        index: &super::series::Index,
        params: &Params,
    ) -> Result<Option<Vec<super::series::SeriesRef>>, ApiError> {
        let matches: Vec<&str> = params.all("match[]").collect();
        if matches.is_empty() {
            return Ok(None);
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for m in matches {
            let selector = parse_selector(m)?;
            index.select(&selector, |r| {
                if seen.insert(r) {
                    out.push(r);
                }
                Ok::<(), ApiError>(())
            })?;
        }
        Ok(Some(out))
    }

    fn label_names(&self, params: &Params) -> Result<Vec<u8>, ApiError> {
        let index = self.index();
        let Some(series) = self.matched(&index, params)? else {
            return Ok(label_names());
        };
        let mut names = BTreeSet::new();
        for r in series {
            names.extend(index.labels(r, true).into_iter().map(|(n, _)| n));
        }
        Ok(string_list(names.into_iter()))
    }

    fn label_values(&self, name: &str, params: &Params) -> Result<Vec<u8>, ApiError> {
        if !is_label_name(name) {
            return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
        }
        let index = self.index();
        let mut values = BTreeSet::new();
        match self.matched(&index, params)? {
            Some(series) => {
                for r in series {
                    if let Some(v) = index.label(r, name) {
                        values.insert(v);
                    }
                }
            }
            None => {
                for metric in metrics() {
                    index.for_each_series(metric, |r| {
                        if let Some(v) = index.label(r, name) {
                            values.insert(v);
                        }
                        Ok::<(), ApiError>(())
                    })?;
                }
            }
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
pub(super) fn parse_time(param: &str, text: &str) -> Result<i64, ApiError> {
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
pub(super) fn parse_step(text: &str) -> Result<i64, ApiError> {
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
pub(super) fn parse_duration(text: &str) -> Option<i64> {
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
pub(super) fn format_time(ms: i64) -> String {
    (ms as f64 / 1000.0).to_string()
}

/// `[1700000000.5,"0.25"]`: the (formatted) time, the value as Prometheus formats it.
pub(super) fn write_point(out: &mut Vec<u8>, time: &str, value: f64) {
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
pub(super) fn write_value(out: &mut Vec<u8>, value: f64) {
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
