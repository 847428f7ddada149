//! The Kubernetes HTTP surface: discovery, get, list (paged, filtered by label and
//! field selectors, or as a kubectl Table), and watch streams (also at the legacy
//! `/watch/` paths, with `sendInitialEvents` for watch-list clients). The cluster is
//! read-only: writes are refused with 405. Errors are Kubernetes `Status` objects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};

use super::objects::Resource;
use super::selector::Filter;
use super::store::{InitialEvents, Page, Refusal, watch_line};
use super::{Flavor, Shared, table};

/// A Kubernetes `Status` error.
pub fn status(code: u16, reason: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .json(status_body(code, reason, message))
}

/// How long a request for a version the store has not reached waits for it (the
/// API server's watch cache waits 3 s, then answers "Too large resource version").
const FRESHNESS_WAIT: Duration = Duration::from_secs(3);

/// The watch length when `timeoutSeconds` is absent or 0 (kube-apiserver's
/// `--min-request-timeout`).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// Prometheus' paths: open (as a Prometheus without a proxy), but what they were sent
/// is counted.
fn is_prometheus(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/query" | "/api/v1/query_range" | "/api/v1/series" | "/api/v1/labels"
    ) || path.starts_with("/api/v1/label/")
}

/// Outages and authentication, in front of everything but `/_sim/` and `/_oidc/`.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !req.path().starts_with("/_sim")
        && !req.path().starts_with("/_oidc")
        && let Some(shared) = req.app_data::<web::Data<Shared>>()
    {
        if shared.in_outage() {
            let reply = status(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request (simulated outage)",
            );
            return Ok(req.into_response(reply));
        }
        let sent = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        if is_prometheus(req.path()) {
            shared.auth.saw_prometheus(sent.as_deref());
        } else {
            let client_cert = req
                .conn_data::<super::access::ClientCertificate>()
                .is_some();
            if shared.auth.check(sent.as_deref(), client_cert).is_err() {
                return Ok(req.into_response(status(401, "Unauthorized", "Unauthorized")));
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn served_versions(flavor: Flavor) -> Vec<&'static str> {
    let mut v = vec!["v1", "apps/v1"];
    if flavor == Flavor::OpenShift {
        v.push("image.openshift.io/v1");
    }
    v
}

/// Whether the flavor serves a resource.
pub(super) fn served(flavor: Flavor, resource: Resource) -> bool {
    resource != Resource::Image || flavor == Flavor::OpenShift
}

/// Every Kubernetes path.
pub async fn kube(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return match segments.first() {
            Some(&"api" | &"apis") => refuse_write(req.method(), &segments),
            _ => not_found(path),
        };
    }
    let query: HashMap<String, String> = web::Query::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    match segments.as_slice() {
        ["version"] => HttpResponse::Ok().json(json!({
            "major": "1", "minor": "31", "gitVersion": "v1.31.2-steward-sim",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.8", "compiler": "gc",
            "platform": "linux/amd64",
        })),
        ["healthz" | "livez" | "readyz"] => HttpResponse::Ok().content_type("text/plain").body("ok"),
        ["api"] => HttpResponse::Ok().json(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": req.connection_info().host()}],
        })),
        ["apis"] => HttpResponse::Ok().json(group_list(shared.flavor)),
        ["openapi", "v2"] => super::openapi::v2(&req, shared.flavor),
        ["openapi", "v3", rest @ ..] => {
            let hash = query.get("hash").map(String::as_str);
            super::openapi::v3(shared.flavor, rest, hash).unwrap_or_else(|| not_found(path))
        }
        ["api", "v1", "watch", rest @ ..] => {
            resource_request(&req, &shared, "v1", rest, &query, true).await
        }
        ["api", "v1", rest @ ..] => {
            resource_request(&req, &shared, "v1", rest, &query, false).await
        }
        ["apis", group, version, rest @ ..] => {
            let gv = format!("{group}/{version}");
            if !served_versions(shared.flavor).contains(&gv.as_str()) {
                return not_found(path);
            }
            match rest {
                ["watch", rest @ ..] => {
                    resource_request(&req, &shared, &gv, rest, &query, true).await
                }
                _ => resource_request(&req, &shared, &gv, rest, &query, false).await,
            }
        }
        _ => not_found(path),
    }
}

/// A write on a read-only cluster: 405 as a `Status`, the way kube-apiserver answers a
/// verb a resource does not support (`delete is not supported on resources of kind
/// "pods"`), so `kubectl delete` fails instead of printing "deleted".
fn refuse_write(method: &Method, segments: &[&str]) -> HttpResponse {
    let rest = match segments {
        ["api", _, rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => &[][..],
    };
    let (plural, named) = match rest {
        ["namespaces", _, plural, name @ ..] => (Some(*plural), !name.is_empty()),
        [plural, name @ ..] => (Some(*plural), !name.is_empty()),
        [] => (None, false),
    };
    let verb = match (method.as_str(), named) {
        ("POST", _) => "create".to_string(),
        ("PUT", _) => "update".to_string(),
        ("PATCH", _) => "patch".to_string(),
        ("DELETE", true) => "delete".to_string(),
        ("DELETE", false) => "deletecollection".to_string(),
        (other, _) => other.to_ascii_lowercase(),
    };
    let message = match plural {
        Some(plural) => format!(
            "{verb} is not supported on resources of kind \"{plural}\" (the simulated cluster is read-only)"
        ),
        None => format!(
            "the server does not allow this method on the requested resource ({verb}; the simulated cluster is read-only)"
        ),
    };
    status(405, "MethodNotAllowed", &message)
}

fn not_found(path: &str) -> HttpResponse {
    status(
        404,
        "NotFound",
        &format!("the server could not find the requested resource ({path})"),
    )
}

fn group_list(flavor: Flavor) -> Value {
    let groups: Vec<Value> = served_versions(flavor)
        .into_iter()
        .filter_map(|gv| gv.split_once('/'))
        .map(|(group, version)| {
            let v = json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [v.clone()], "preferredVersion": v})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(flavor: Flavor, group_version: &str) -> Value {
    let resources: Vec<Value> = Resource::ALL
        .into_iter()
        .filter(|r| served(flavor, *r))
        .map(Resource::info)
        .filter(|i| i.group_version == group_version)
        .map(|i| {
            json!({
                "name": i.plural, "singularName": i.singular, "namespaced": i.namespaced,
                "kind": i.kind, "verbs": ["get", "list", "watch"], "shortNames": i.short_names,
                "categories": i.categories,
            })
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

async fn resource_request(
    req: &HttpRequest,
    shared: &web::Data<Shared>,
    group_version: &str,
    rest: &[&str],
    query: &HashMap<String, String>,
    watch_path: bool,
) -> HttpResponse {
    let find =
        |plural: &str| Resource::find(group_version, plural).filter(|r| served(shared.flavor, *r));
    let unknown = |plural: &str| not_found(&format!("{group_version}/{plural}"));
    let scope = |namespace, name| Scope {
        namespace,
        name,
        watch_path,
    };
    match rest {
        [] if !watch_path => HttpResponse::Ok().json(resource_list(shared.flavor, group_version)),
        [plural] => match find(plural) {
            Some(r) => collection(req, shared, r, scope(None, None), query).await,
            None => unknown(plural),
        },
        [plural, name] => match find(plural) {
            Some(r) if !r.info().namespaced && watch_path => {
                collection(req, shared, r, scope(None, Some(*name)), query).await
            }
            Some(r) if !r.info().namespaced => get(shared, r, "", name),
            _ => unknown(plural),
        },
        ["namespaces", ns, plural] => match find(plural) {
            Some(r) if r.info().namespaced => {
                collection(req, shared, r, scope(Some(*ns), None), query).await
            }
            _ => unknown(plural),
        },
        ["namespaces", ns, plural, name] => match find(plural) {
            Some(r) if r.info().namespaced && watch_path => {
                collection(req, shared, r, scope(Some(*ns), Some(*name)), query).await
            }
            Some(r) if r.info().namespaced => get(shared, r, ns, name),
            _ => unknown(plural),
        },
        _ => not_found(&rest.join("/")),
    }
}

/// Which objects a collection request is about.
struct Scope<'a> {
    namespace: Option<&'a str>,
    /// One object, at a legacy `/watch/…/{name}` path.
    name: Option<&'a str>,
    /// A legacy `/watch/` path: a watch whatever `watch=` says.
    watch_path: bool,
}

fn get(shared: &Shared, resource: Resource, namespace: &str, name: &str) -> HttpResponse {
    let cluster = shared.cluster();
    match cluster.store.get_visible(resource, namespace, name) {
        Some(object) => HttpResponse::Ok().json(object),
        None => status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", resource.info().plural),
        ),
    }
}

fn refusal(r: Refusal) -> HttpResponse {
    match r {
        Refusal::Expired(m) => status(410, "Expired", &m),
        Refusal::BadRequest(m) => status(400, "BadRequest", &m),
        Refusal::TooLarge { requested, current } => {
            HttpResponse::GatewayTimeout().json(too_large_body(requested, current))
        }
    }
}

/// kube-apiserver's answer for a version its cache did not reach in time.
fn too_large_body(requested: u64, current: u64) -> Value {
    let mut body = status_body(
        504,
        "Timeout",
        &format!("Timeout: Too large resource version: {requested}, current: {current}"),
    );
    body["details"] = json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    });
    body
}

/// An invalid `ListOptions` (422), as kube-apiserver's validation words it.
fn invalid_options(problems: &[String]) -> HttpResponse {
    let mut body = status_body(
        422,
        "Invalid",
        &format!(
            "ListOptions.meta.k8s.io \"\" is invalid: {}",
            problems.join(", ")
        ),
    );
    body["details"] = json!({"group": "meta.k8s.io", "kind": "ListOptions"});
    HttpResponse::UnprocessableEntity().json(body)
}

/// `resourceVersionMatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionMatch {
    Exact,
    NotOlderThan,
}

/// Why a list's or watch's query parameters were refused.
#[derive(Debug)]
enum OptionsError {
    /// 400: a value that does not parse.
    Malformed(String),
    /// 422: options that contradict each other (`ValidateListOptions`' problems).
    Invalid(Vec<String>),
}

impl OptionsError {
    fn respond(self) -> HttpResponse {
        match self {
            OptionsError::Malformed(m) => status(400, "BadRequest", &m),
            OptionsError::Invalid(problems) => invalid_options(&problems),
        }
    }
}

/// The query parameters of a list or watch, parsed and validated.
struct ListOptions {
    watch: bool,
    resource_version: Option<u64>,
    version_match: Option<VersionMatch>,
    initial: InitialEvents,
    bookmarks: bool,
    timeout: Duration,
    limit: Option<usize>,
    continue_token: Option<String>,
}

/// Go's `strconv.ParseBool`, which the API server's query decoding uses.
fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{name}: invalid boolean value \"{value}\"")),
    }
}

impl ListOptions {
    /// Reads the query: a malformed value is a 400, options that contradict each
    /// other a 422 (as `ValidateListOptions` refuses them).
    fn parse(query: &HashMap<String, String>, watch_path: bool) -> Result<Self, OptionsError> {
        let bad = OptionsError::Malformed;
        let flag = |name: &str| -> Result<Option<bool>, OptionsError> {
            query
                .get(name)
                .filter(|v| !v.is_empty())
                .map(|v| parse_bool(name, v))
                .transpose()
                .map_err(bad)
        };
        let watch = watch_path || flag("watch")?.unwrap_or(false);
        let resource_version = match query.get("resourceVersion").map(String::as_str) {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| bad(format!("invalid resource version \"{v}\"")))?,
            ),
        };
        let version_match = match query.get("resourceVersionMatch").map(String::as_str) {
            None | Some("") => None,
            Some("Exact") => Some(VersionMatch::Exact),
            Some("NotOlderThan") => Some(VersionMatch::NotOlderThan),
            Some(other) => {
                return Err(OptionsError::Invalid(vec![format!(
                    "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
                )]));
            }
        };
        let send_initial = flag("sendInitialEvents")?;
        let bookmarks = flag("allowWatchBookmarks")?.unwrap_or(false);
        let timeout = match query.get("timeoutSeconds").filter(|v| !v.is_empty()) {
            None => DEFAULT_WATCH_TIMEOUT,
            Some(t) => match t.parse::<u64>() {
                Ok(0) => DEFAULT_WATCH_TIMEOUT,
                Ok(seconds) => Duration::from_secs(seconds),
                Err(_) => return Err(bad(format!("timeoutSeconds: invalid value \"{t}\""))),
            },
        };
        let limit = match query.get("limit").filter(|v| !v.is_empty()) {
            None => None,
            Some(l) => Some(
                l.parse::<usize>()
                    .map_err(|_| bad("limit must be a non-negative integer".into()))?,
            ),
        };
        let continue_token = query.get("continue").filter(|c| !c.is_empty()).cloned();

        let mut problems = Vec::new();
        let rv_given = query.get("resourceVersion").is_some_and(|v| !v.is_empty());
        if watch {
            if send_initial.is_some() && version_match != Some(VersionMatch::NotOlderThan) {
                problems.push("resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".to_string());
            }
            if send_initial == Some(true) && !bookmarks {
                problems.push("allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true".to_string());
            }
            if version_match.is_some() && send_initial.is_none() {
                problems.push("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided".to_string());
            }
            if version_match == Some(VersionMatch::Exact) {
                problems.push("resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"".to_string());
            }
        } else {
            if version_match.is_some() && !rv_given {
                problems.push("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".to_string());
            }
            if version_match.is_some() && continue_token.is_some() {
                problems.push("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided".to_string());
            }
            if version_match == Some(VersionMatch::Exact) && resource_version == Some(0) {
                problems.push("resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"".to_string());
            }
            if send_initial.is_some() {
                problems.push(
                    "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
                        .to_string(),
                );
            }
        }
        if !problems.is_empty() {
            return Err(OptionsError::Invalid(problems));
        }
        if !watch && continue_token.is_some() && resource_version.is_some() {
            return Err(bad(
                "specifying resource version is not allowed when using continue".into(),
            ));
        }
        let initial = match send_initial {
            None => InitialEvents::Legacy,
            Some(true) => InitialEvents::Send,
            Some(false) => InitialEvents::Skip,
        };
        Ok(ListOptions {
            watch,
            // "0" is "any version": the same as none for a store that is always current.
            resource_version: resource_version.filter(|v| *v != 0),
            version_match,
            initial,
            bookmarks,
            timeout,
            limit,
            continue_token,
        })
    }
}

/// Waits (at most [`FRESHNESS_WAIT`]) for the store to reach version `rv`; the
/// current version when it did not.
async fn wait_until_fresh(shared: &Shared, rv: u64) -> Result<(), u64> {
    let deadline = tokio::time::Instant::now() + FRESHNESS_WAIT;
    loop {
        let current = shared.cluster().store.resource_version();
        if current >= rv {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(current);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn collection(
    req: &HttpRequest,
    shared: &web::Data<Shared>,
    resource: Resource,
    scope: Scope<'_>,
    query: &HashMap<String, String>,
) -> HttpResponse {
    let options = match ListOptions::parse(query, scope.watch_path) {
        Ok(options) => options,
        Err(refused) => return refused.respond(),
    };
    let filter = match Filter::parse(
        resource,
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    ) {
        Ok(filter) => filter,
        Err(e) => return status(400, "BadRequest", &e.0),
    };
    let filter = match scope.name {
        Some(name) => filter.with_name(name),
        None => filter,
    };
    let wants_table = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        });
    if options.watch {
        return watch(
            shared,
            resource,
            scope.namespace,
            filter,
            options,
            wants_table,
        )
        .await;
    }
    if let Some(rv) = options.resource_version {
        if let Err(current) = wait_until_fresh(shared, rv).await {
            return refusal(Refusal::TooLarge {
                requested: rv,
                current,
            });
        }
        // The simulator keeps no past states: an exact list of an older version is
        // answered as a compacted etcd answers it.
        let current = shared.cluster().store.resource_version();
        if options.version_match == Some(VersionMatch::Exact) && rv < current {
            return refusal(Refusal::Expired(format!(
                "too old resource version: {rv} ({current})"
            )));
        }
    }
    let cluster = shared.cluster();
    let page = match cluster.store.list(
        resource,
        scope.namespace,
        &filter,
        options.limit,
        options.continue_token.as_deref(),
    ) {
        Ok(page) => page,
        Err(r) => return refusal(r),
    };
    if wants_table {
        let Some(include) =
            table::IncludeObject::parse(query.get("includeObject").map(String::as_str))
        else {
            return status(
                400,
                "BadRequest",
                "includeObject: Unsupported value: supported values: \"None\", \"Metadata\", \"Object\"",
            );
        };
        return HttpResponse::Ok().json(table::render(resource, &page, include, Utc::now()));
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(list_body(resource, &page, filter.is_everything()))
}

/// `{"kind":"PodList",…,"items":[…]}`, written item by item. Like the API server, it
/// estimates the remaining items only when no selector filters them.
fn list_body(resource: Resource, page: &Page<'_>, unfiltered: bool) -> Vec<u8> {
    let info = resource.info();
    let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
    if !page.continue_token.is_empty() {
        metadata["continue"] = json!(page.continue_token);
        if unfiltered {
            metadata["remainingItemCount"] = json!(page.remaining);
        }
    }
    let mut out = Vec::with_capacity(64 + page.items.len() * 1024);
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{metadata},\"items\":[",
            info.kind, info.group_version
        )
        .as_bytes(),
    );
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Serializing our own typed objects into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, item);
    }
    out.extend_from_slice(b"]}");
    out
}

/// A watch answered by one ERROR event: errors after the parameters were accepted
/// travel in a 200 stream, as kube-apiserver sends them (and as kube-runtime's watcher
/// needs for a 410).
fn error_watch(object: &Value) -> HttpResponse {
    let line = watch_line("ERROR", object);
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(futures::stream::once(async move {
            Ok::<_, actix_web::Error>(line)
        }))
}

async fn watch(
    shared: &web::Data<Shared>,
    resource: Resource,
    namespace: Option<&str>,
    filter: Filter,
    options: ListOptions,
    table: bool,
) -> HttpResponse {
    // The initial state at a version: wait (a little) for the store to reach it.
    if options.initial == InitialEvents::Send
        && let Some(rv) = options.resource_version
        && let Err(current) = wait_until_fresh(shared, rv).await
    {
        return error_watch(&too_large_body(rv, current));
    }
    let from = options.resource_version.map(|v| v.to_string());
    let render = move |kind: &'static str, object: &super::objects::Object| {
        watch_line(kind, &table::watch_row(resource, object, Utc::now()))
    };
    let start = {
        let cluster = shared.cluster();
        cluster.store.watch(
            resource,
            namespace,
            &filter,
            from.as_deref(),
            options.initial,
            table.then_some(&render as super::store::Render<'_>),
        )
    };
    let start = match start {
        Ok(start) => start,
        Err(Refusal::BadRequest(m)) => return status(400, "BadRequest", &m),
        Err(Refusal::Expired(m)) => return error_watch(&status_body(410, "Expired", &m)),
        Err(Refusal::TooLarge { requested, current }) => {
            return error_watch(&too_large_body(requested, current));
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    let info = resource.info();
    let stream = WatchStream {
        shared: Arc::clone(shared),
        resource,
        namespace: namespace.map(str::to_string),
        filter,
        table,
        bookmarks: options.bookmarks,
        timeout: options.timeout,
        api_version: info.group_version,
        kind: info.kind,
    };
    actix_rt::spawn(stream.run(start, tx));
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(body)
}

struct WatchStream {
    shared: Arc<Shared>,
    resource: Resource,
    namespace: Option<String>,
    filter: Filter,
    /// Events carry Table rows (`kubectl get -w`).
    table: bool,
    bookmarks: bool,
    timeout: Duration,
    api_version: &'static str,
    kind: &'static str,
}

impl WatchStream {
    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        watch_line(
            "BOOKMARK",
            &json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": metadata}),
        )
    }

    async fn run(self, start: super::store::WatchStart, tx: tokio::sync::mpsc::Sender<Bytes>) {
        let mut cut = self.shared.cut.subscribe();
        cut.mark_unchanged();
        for line in start.replay {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let mut last_rv = start.last_rv;
        if start.initial_events_end && tx.send(self.bookmark(last_rv, true)).await.is_err() {
            return;
        }
        let mut live = start.live;
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut bookmark = tokio::time::interval(self.shared.bookmark_interval);
        bookmark.tick().await;
        loop {
            let line = tokio::select! {
                _ = &mut deadline => return,
                _ = cut.changed() => return,
                _ = bookmark.tick(), if self.bookmarks => {
                    // Never a bookmark behind the version the client asked to start at.
                    (last_rv >= start.floor).then(|| self.bookmark(last_rv, false))
                }
                change = live.recv() => match change {
                    Ok(change) => {
                        last_rv = change.rv;
                        let wanted = change.resource == self.resource
                            && change.rv > start.floor
                            && self.namespace.as_ref().is_none_or(|ns| *ns == change.namespace);
                        match (wanted, self.table) {
                            (false, _) => None,
                            (true, false) => change.line_for(&self.filter),
                            (true, true) => change.event_for(&self.filter).map(|(kind, object)| {
                                watch_line(kind, &table::watch_row(self.resource, &object, Utc::now()))
                            }),
                        }
                    }
                    // Fell behind the feed, or the simulator is stopping: end the watch;
                    // the client resumes from the last version it saw.
                    Err(_) => return,
                },
            };
            let Some(line) = line else { continue };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }
}
