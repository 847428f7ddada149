//! `GET /api`, the entry point in ManageIQ's shape (who you are, which server
//! answered, and the collections; and where the live feed is), and the public `GET
//! /api/product_info`. The list
//! of collections is read from the route table, so it names exactly what is served.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::collection::api_base;
use crate::web::route_table::route_table;
use crate::web::{ApiError, AppState, Caller};

const PRODUCT: &str = "Steward";

fn product_info_value() -> Value {
    json!({
        "name": PRODUCT,
        "name_full": "Steward, a manager of managers",
        "version": env!("CARGO_PKG_VERSION"),
    })
}

pub(super) async fn product_info() -> HttpResponse {
    HttpResponse::Ok().json(product_info_value())
}

/// The description shown for a collection.
fn describe(name: &str) -> String {
    let text = match name {
        "servers" => "Servers of the region",
        "workers" => "Workers of every server",
        "providers" => "Providers (Kubernetes and OpenShift clusters)",
        "users" => "Users",
        "audit_events" => "Audit trail of writes and logins",
        "container_nodes" => "Container nodes",
        "container_projects" => "Container projects (namespaces)",
        "container_groups" => "Pods",
        "containers" => "Containers",
        "container_services" => "Container services",
        "container_replicators" => "Replication controllers and replica sets",
        "container_images" => "Container images",
        "container_image_registries" => "Container image registries",
        "event_streams" => "Events caught from the providers",
        "alerts" => "Alerts: from event policies, Prometheus Alertmanager and Steward itself",
        "policies" => "Event policies",
        other => return other.replace('_', " "),
    };
    text.to_string()
}

pub(super) async fn entry_point(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Caller(identity) = caller;
    let base = api_base(&req);
    let mut collections: Vec<Value> = Vec::new();
    for spec in route_table() {
        let Some(rest) = spec.path.strip_prefix("/api/") else {
            continue;
        };
        if spec.method != Method::GET
            || rest.contains('/')
            || rest.contains('{')
            || matches!(rest, "ping" | "product_info" | "auth" | "openapi.json")
        {
            continue;
        }
        collections.push(json!({
            "name": rest,
            "href": format!("{base}/{rest}"),
            "description": describe(rest),
        }));
    }
    collections.push(json!({
        "name": "queue_messages",
        "href": format!("{base}/queue/messages"),
        "description": "Messages of the region's queue",
    }));
    let server_id = state.server_id;
    Ok(HttpResponse::Ok().json(json!({
        "name": "API",
        "description": "REST API",
        "version": env!("CARGO_PKG_VERSION"),
        "identity": {
            "userid": identity.userid,
            "name": identity.name,
            "user_href": format!("{base}/users/{}", identity.user_id),
            "group": identity.group,
            "role": identity.role,
            "tenant": identity.tenant,
            "groups": identity.groups,
            "features": identity.features,
        },
        "server_info": {
            "version": env!("CARGO_PKG_VERSION"),
            "server_href": format!("{base}/servers/{server_id}"),
            "region": crate::db::ids::region_of(server_id),
        },
        "product_info": product_info_value(),
        "collections": collections,
        "live_feed": live_feed(&req, &state),
    })))
}

/// Where this node's live feed is reached — its own listener, at the host the caller
/// reached this node as — or `null` where it does not run the `websocket` role.
fn live_feed(req: &HttpRequest, state: &AppState) -> Value {
    if state.require_role("websocket").is_err() {
        return Value::Null;
    }
    let host = req.connection_info().host().to_string();
    json!({"href": state.live_feed.url_for(Some(&host))})
}
