//! The Kubernetes HTTP surface: discovery, get, list (paged, or as a kubectl Table),
//! and watch streams. Errors are Kubernetes `Status` objects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};

use super::objects::Resource;
use super::store::{Page, Refusal, watch_line};
use super::{Flavor, Shared, table};

/// A Kubernetes `Status` error.
pub fn status(code: u16, reason: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .json(status_body(code, reason, message))
}

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

fn served(flavor: Flavor, resource: Resource) -> bool {
    resource != Resource::Image || flavor == Flavor::OpenShift
}

/// Every Kubernetes path.
pub async fn kube(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
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
        ["api", "v1", rest @ ..] => resource_request(&req, &shared, "v1", rest, &query).await,
        ["apis", group, version, rest @ ..] => {
            let gv = format!("{group}/{version}");
            if !served_versions(shared.flavor).contains(&gv.as_str()) {
                return not_found(path);
            }
            resource_request(&req, &shared, &gv, rest, &query).await
        }
        _ => not_found(path),
    }
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
) -> HttpResponse {
    let find =
        |plural: &str| Resource::find(group_version, plural).filter(|r| served(shared.flavor, *r));
    let unknown = |plural: &str| not_found(&format!("{group_version}/{plural}"));
    match rest {
        [] => HttpResponse::Ok().json(resource_list(shared.flavor, group_version)),
        [plural] => match find(plural) {
            Some(r) => collection(req, shared, r, None, query),
            None => unknown(plural),
        },
        [plural, name] => match find(plural) {
            Some(r) if !r.info().namespaced => get(shared, r, "", name),
            _ => unknown(plural),
        },
        ["namespaces", ns, plural] => match find(plural) {
            Some(r) if r.info().namespaced => collection(req, shared, r, Some(ns), query),
            _ => unknown(plural),
        },
        ["namespaces", ns, plural, name] => match find(plural) {
            Some(r) if r.info().namespaced => get(shared, r, ns, name),
            _ => unknown(plural),
        },
        _ => not_found(&rest.join("/")),
    }
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
    }
}

fn collection(
    req: &HttpRequest,
    shared: &web::Data<Shared>,
    resource: Resource,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
) -> HttpResponse {
    let flag = |k: &str| query.get(k).is_some_and(|v| v == "1" || v == "true");
    if flag("watch") {
        return watch(shared, resource, namespace, query);
    }
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(_)) => return status(400, "BadRequest", "limit must be a non-negative integer"),
    };
    let cluster = shared.cluster();
    let page = match cluster.store.list(
        resource,
        namespace,
        limit,
        query.get("continue").map(String::as_str),
    ) {
        Ok(page) => page,
        Err(r) => return refusal(r),
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
    if wants_table {
        return HttpResponse::Ok().json(table::render(resource, &page, Utc::now()));
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(list_body(resource, &page))
}

/// `{"kind":"PodList",…,"items":[…]}`, written item by item.
fn list_body(resource: Resource, page: &Page<'_>) -> Vec<u8> {
    let info = resource.info();
    let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
    if !page.continue_token.is_empty() {
        metadata["continue"] = json!(page.continue_token);
        metadata["remainingItemCount"] = json!(page.remaining);
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

fn watch(
    shared: &web::Data<Shared>,
    resource: Resource,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
) -> HttpResponse {
    let start = {
        let cluster = shared.cluster();
        cluster.store.watch(
            resource,
            namespace,
            query.get("resourceVersion").map(String::as_str),
        )
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    let start = match start {
        Ok(start) => start,
        Err(Refusal::BadRequest(m)) => return status(400, "BadRequest", &m),
        Err(Refusal::Expired(m)) => {
            let _ = tx.try_send(watch_line("ERROR", &status_body(410, "Expired", &m)));
            drop(tx);
            return HttpResponse::Ok()
                .content_type("application/json")
                .streaming(body);
        }
    };
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let info = resource.info();
    let stream = WatchStream {
        shared: Arc::clone(shared),
        resource,
        namespace: namespace.map(str::to_string),
        bookmarks,
        timeout,
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
    bookmarks: bool,
    timeout: Duration,
    api_version: &'static str,
    kind: &'static str,
}

impl WatchStream {
    async fn run(self, start: super::store::WatchStart, tx: tokio::sync::mpsc::Sender<Bytes>) {
        let mut cut = self.shared.cut.subscribe();
        cut.mark_unchanged();
        for line in start.replay {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let mut live = start.live;
        let mut last_rv = start.last_rv;
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut bookmark = tokio::time::interval(self.shared.bookmark_interval);
        bookmark.tick().await;
        loop {
            let line = tokio::select! {
                _ = &mut deadline => return,
                _ = cut.changed() => return,
                _ = bookmark.tick(), if self.bookmarks => {
                    let object = json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": {"resourceVersion": last_rv.to_string()}});
                    watch_line("BOOKMARK", &object)
                }
                change = live.recv() => match change {
                    Ok(change) => {
                        last_rv = change.rv;
                        let wanted = change.resource == self.resource
                            && self.namespace.as_ref().is_none_or(|ns| *ns == change.namespace);
                        if !wanted {
                            continue;
                        }
                        change.line.clone()
                    }
                    // Fell behind the feed, or the simulator is stopping: end the watch;
                    // the client resumes from the last version it saw.
                    Err(_) => return,
                },
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }
}
