//! `/_sim/`: make things happen to the simulated cluster.
//!
//! - `POST /_sim/churn {"create":N,"delete":N,"restart":N,"relabel":N,"node_not_ready":N,"node_ready":N}`
//!   → what changed, with uids.
//! - `POST /_sim/pause`, `/_sim/resume` — the background churn.
//! - `POST /_sim/outage {"seconds":S}` — every API request fails with 503 for S
//!   seconds, and open watches are cut.
//! - `POST /_sim/expire` — forget the watch history: resuming watches get 410.
//! - `POST /_sim/hide {"uid":U}`, `/_sim/unhide` — an object vanishes from (and comes
//!   back to) lists without any watch event.
//! - `POST /_sim/storm {"events":N,"distinct":false,"pod":UID?,"rate":R?}` — a pod's
//!   BackOff event repeated N times (one Event counting up, or N distinct Events), at
//!   R a second or as fast as possible; answers at once (202) with the pod and Event,
//!   and `storm_sent` in the stats counts the occurrences made.
//! - `GET /_sim/stats` — resourceVersion, object counts, history, watchers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::churn::ChurnRequest;
use super::objects::Resource;
use super::storm::{MAX_STORM, StormRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/churn", web::post().to(churn))
            .route("/storm", web::post().to(storm))
            .route("/pause", web::post().to(pause))
            .route("/resume", web::post().to(resume))
            .route("/outage", web::post().to(outage))
            .route("/expire", web::post().to(expire))
            .route("/hide", web::post().to(hide))
            .route("/unhide", web::post().to(unhide))
            .route("/stats", web::get().to(stats))
            .route("/token", web::post().to(rotate_token)),
    );
}

/// The OIDC-like issuer of a `--tls` simulator: discovery and the refresh-token grant.
pub fn configure_oidc(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_oidc")
            .route(
                "/.well-known/openid-configuration",
                web::get().to(oidc_discovery),
            )
            .route("/token", web::post().to(oidc_token)),
    );
}

async fn oidc_discovery(req: HttpRequest) -> HttpResponse {
    let info = req.connection_info();
    let issuer = format!("{}://{}/_oidc", info.scheme(), info.host());
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["HS256"],
    }))
}

async fn oidc_token(
    req: HttpRequest,
    shared: web::Data<Shared>,
    form: web::Form<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    use base64::Engine;
    let from_header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(id, _)| id.to_string()));
    let client_id = from_header.or_else(|| form.get("client_id").cloned());
    let grant = form.get("grant_type").map(String::as_str);
    let refresh = form.get("refresh_token").map(String::as_str);
    match (grant, refresh, client_id) {
        (Some("refresh_token"), Some(refresh), Some(client_id)) => {
            match shared.auth.oidc_refresh(refresh, &client_id) {
                Some(id_token) => HttpResponse::Ok().json(json!({
                    "access_token": id_token,
                    "expires_in": 3600,
                    "id_token": id_token,
                    "refresh_token": refresh,
                    "token_type": "Bearer",
                })),
                None => HttpResponse::BadRequest().json(json!({"error": "invalid_grant"})),
            }
        }
        _ => HttpResponse::BadRequest().json(json!({"error": "invalid_request"})),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    token: String,
}

/// `POST /_sim/token {"token": T}`: the static token becomes T (the old one is refused
/// from now on) and open watches are cut, as on a real server revoking a token.
async fn rotate_token(shared: web::Data<Shared>, body: web::Json<NewToken>) -> HttpResponse {
    if body.token.trim().is_empty() {
        return HttpResponse::BadRequest().json(json!({"error": "token must not be empty"}));
    }
    shared.auth.rotate(body.token.trim().to_string());
    shared.cut_watches();
    HttpResponse::Ok().json(json!({"rotated": true}))
}

/// Bad admin JSON: a 400 naming the problem.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let body = json!({"error": err.to_string()});
    actix_web::error::InternalError::from_response(err, HttpResponse::BadRequest().json(body))
        .into()
}

async fn churn(shared: web::Data<Shared>, request: web::Json<ChurnRequest>) -> HttpResponse {
    let report = shared.cluster().churn(&request);
    HttpResponse::Ok().json(report)
}

/// Occurrences made per turn of the storm task (the cluster lock is let go between).
const STORM_CHUNK: u64 = 1_000;

async fn storm(shared: web::Data<Shared>, request: web::Json<StormRequest>) -> HttpResponse {
    let request = request.into_inner();
    if request.events == 0 || request.events > MAX_STORM {
        return HttpResponse::BadRequest()
            .json(json!({"error": format!("events must be between 1 and {MAX_STORM}")}));
    }
    if request.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return HttpResponse::BadRequest().json(json!({"error": "rate must be a positive number"}));
    }
    let Some((mut running, started)) = shared.cluster().storm_start(&request) else {
        return HttpResponse::NotFound().json(json!({"error": "no such pod"}));
    };
    shared.storm_sent.fetch_add(1, Ordering::Relaxed);
    let shared = shared.into_inner();
    actix_web::rt::spawn(async move {
        let mut left = request.events - 1;
        let begun = std::time::Instant::now();
        let mut made = 1u64;
        while left > 0 {
            let n = match request.rate {
                // As many as are due by now (at least one), then a short sleep.
                Some(rate) => {
                    let due = (begun.elapsed().as_secs_f64() * rate) as u64 + 1;
                    due.saturating_sub(made).min(left).min(STORM_CHUNK)
                }
                None => left.min(STORM_CHUNK),
            };
            if n > 0 {
                shared.cluster().storm_step(&mut running, n);
                shared.storm_sent.fetch_add(n, Ordering::Relaxed);
                left -= n;
                made += n;
            }
            if request.rate.is_some() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    });
    HttpResponse::Accepted().json(started)
}

async fn pause(shared: web::Data<Shared>) -> HttpResponse {
    shared.paused.store(true, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({"paused": true}))
}

async fn resume(shared: web::Data<Shared>) -> HttpResponse {
    shared.paused.store(false, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({"paused": false}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outage {
    seconds: f64,
}

async fn outage(shared: web::Data<Shared>, body: web::Json<Outage>) -> HttpResponse {
    if !(0.0..=86_400.0).contains(&body.seconds) {
        return HttpResponse::BadRequest()
            .json(json!({"error": "seconds must be between 0 and 86400"}));
    }
    shared.start_outage(Duration::from_secs_f64(body.seconds));
    HttpResponse::Ok().json(json!({"outage_seconds": body.seconds}))
}

async fn expire(shared: web::Data<Shared>) -> HttpResponse {
    let mut cluster = shared.cluster();
    cluster.store.expire();
    HttpResponse::Ok()
        .json(json!({"resource_version": cluster.store.resource_version().to_string()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Uid {
    uid: String,
}

async fn hide(shared: web::Data<Shared>, body: web::Json<Uid>) -> HttpResponse {
    let hidden = shared.cluster().store.hide(&body.uid);
    if hidden {
        HttpResponse::Ok().json(json!({"hidden": body.uid}))
    } else {
        HttpResponse::NotFound()
            .json(json!({"error": format!("no visible object with uid {}", body.uid)}))
    }
}

async fn unhide(shared: web::Data<Shared>, body: web::Json<Uid>) -> HttpResponse {
    let shown = shared.cluster().store.unhide(&body.uid);
    if shown {
        HttpResponse::Ok().json(json!({"unhidden": body.uid}))
    } else {
        HttpResponse::NotFound()
            .json(json!({"error": format!("no hidden object with uid {}", body.uid)}))
    }
}

async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    let cluster = shared.cluster();
    let store = &cluster.store;
    let objects: serde_json::Map<String, serde_json::Value> = Resource::ALL
        .into_iter()
        .map(|r| (r.info().plural.to_string(), json!(store.count(r))))
        .collect();
    let containers: usize = store
        .all(Resource::Pod)
        .filter_map(|o| o.pod())
        .map(|p| p.spec.containers.len())
        .sum();
    HttpResponse::Ok().json(json!({
        "resource_version": store.resource_version().to_string(),
        "objects": objects,
        "containers": containers,
        "history": store.history_len(),
        "watchers": store.watchers(),
        "hidden": store.hidden_count(),
        "paused": shared.paused.load(Ordering::Relaxed),
        "storm_sent": shared.storm_sent.load(Ordering::Relaxed),
        "outage": shared.in_outage(),
        "auth": shared.auth.stats(),
    }))
}
