//! `GET /api/openapi.json`: an OpenAPI 3.0 description generated from the route table
//! itself (`web::route_table`), so no route, method, path parameter or access rule
//! can be missing or stale: paths, methods, path parameters, who may call each route
//! (security and the feature, as `x-steward-access`), the query parameters of the
//! collections served by the query engine, JSON request bodies, and the answers —
//! the success status and every error status in the `{"error":{"kind","message"}}`
//! shape. Bodies and successful answers are described as JSON objects, not field by
//! field (see the README for their fields).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};

use super::collection::api_base;
use crate::web::route_table::{Access, route_table};

/// The query parameters of the query engine's collections.
fn collection_parameters() -> Vec<Value> {
    let p = |name: &str, description: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema});
    // Lengths keep a whole query string within what is accepted (16 KiB).
    let int = json!({"type": "integer", "minimum": 0, "maximum": 1_000_000_000});
    let text = json!({"type": "string", "maxLength": 1000});
    vec![
        p("offset", "0-based index of the first resource", int.clone()),
        p(
            "limit",
            "resources per page (default and cap 1000; 0 = the cap)",
            int,
        ),
        p(
            "expand",
            "`resources` for whole resources instead of hrefs",
            text.clone(),
        ),
        p(
            "attributes",
            "comma-separated attributes, `assoc.attr` for one hop",
            text.clone(),
        ),
        json!({
            "name": "filter[]", "in": "query", "required": false,
            "description": "`attr op value`; ops = != < <= > >= =~ !~ == !==; repeatable (AND), `or ` prefix ORs",
            "schema": {"type": "array", "maxItems": 5, "items": {"type": "string", "maxLength": 1000}},
            "style": "form", "explode": true
        }),
        p("sort_by", "comma-separated attributes", text.clone()),
        p(
            "sort_order",
            "asc or desc, per sort_by attribute",
            text.clone(),
        ),
        p("sort_options", "ignore_case", text.clone()),
        p(
            "by_tag",
            "comma-separated /category/tag, all required",
            text.clone(),
        ),
        p("provider_id", "only this provider's objects", text),
        p(
            "include_deleted",
            "also objects gone from the cluster",
            json!({"type": "boolean"}),
        ),
    ]
}

fn operation(method: &Method, path: &str, access: Access) -> Value {
    let mut parameters: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 64}})
        })
        .collect();
    let name = path.trim_start_matches("/api/");
    let engine_collection = crate::api_query::collection(name).is_some()
        || path == "/api/{collection}/{id}/{subcollection}";
    if *method == Method::GET && engine_collection {
        parameters.extend(collection_parameters());
    }
    let error = |description: &str| {
        json!({"description": description,
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    };
    let mut responses = Map::new();
    let ok_status = match *method {
        Method::POST if !path.contains('{') && path != "/api/ansible/inventory" => "201",
        Method::DELETE => "204",
        _ => "200",
    };
    let body_type = if path == "/ping" || path == "/api/ping" || path == "/metrics" {
        json!({"text/plain": {"schema": {"type": "string"}}})
    } else {
        json!({"application/json": {"schema": {"type": "object"}}})
    };
    if ok_status == "204" {
        responses.insert("204".into(), json!({"description": "done"}));
    } else {
        responses.insert(
            ok_status.into(),
            json!({"description": "success", "content": body_type}),
        );
    }
    if *method == Method::POST {
        responses.insert("200".into(), json!({"description": "action results", "content": {"application/json": {"schema": {"type": "object"}}}}));
        responses.insert("202".into(), json!({"description": "accepted; a task follows the work", "content": {"application/json": {"schema": {"type": "object"}}}}));
    }
    responses.insert("400".into(), error("bad input, naming what is wrong"));
    if access != Access::Public {
        responses.insert("401".into(), error("no or wrong credentials"));
        responses.insert("403".into(), error("the caller's role lacks the feature"));
        responses.insert(
            "429".into(),
            error("too many failed logins from this address"),
        );
    }
    responses.insert(
        "404".into(),
        error("no such object (or not visible to the caller)"),
    );
    responses.insert("405".into(), error("the path exists for other methods"));
    if *method != Method::GET && *method != Method::HEAD {
        responses.insert(
            "409".into(),
            error("conflicts with what exists, or is protected or in use"),
        );
    }
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        responses.insert("413".into(), error("body over web.max_body"));
        responses.insert("415".into(), error("the body is not JSON"));
    }
    responses.insert("500".into(), error("internal error"));
    responses.insert("503".into(), error("the database is unavailable"));
    let mut op = json!({
        "operationId": format!(
            "{}_{}",
            method.as_str().to_lowercase(),
            path.trim_start_matches('/').replace(['/', '{', '}'], "_").trim_end_matches('_')
        ),
        "tags": [path.trim_start_matches("/api/").split('/').next().unwrap_or("api")],
        "parameters": parameters,
        "responses": responses,
        "x-steward-access": match access {
            Access::Public => "public".to_string(),
            Access::LoggedIn => "logged_in".to_string(),
            Access::Feature(f) => f.identifier().to_string(),
        },
    });
    op["security"] = if access == Access::Public {
        json!([])
    } else {
        json!([{"basic": []}, {"token": []}])
    };
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"type": "object"}}}
        });
    }
    op
}

/// The document for the routes of this build.
pub fn document(server_url: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for spec in route_table() {
        let entry = paths.entry(spec.path.clone()).or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_lowercase()] =
            operation(&spec.method, &spec.path, spec.access);
        if spec.method == Method::GET {
            let mut head = operation(&Method::HEAD, &spec.path, spec.access);
            head["operationId"] = json!(format!(
                "head_{}",
                spec.path
                    .trim_start_matches('/')
                    .replace(['/', '{', '}'], "_")
                    .trim_end_matches('_')
            ));
            entry["head"] = head;
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Steward REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Generated from the route table of this build.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["kind", "message"],
                        "properties": {"kind": {"type": "string"}, "message": {"type": "string"}},
                    }},
                },
            },
        },
    })
}

pub(super) async fn openapi(req: HttpRequest) -> HttpResponse {
    let base = api_base(&req);
    let server = base.trim_end_matches("/api").to_string();
    HttpResponse::Ok().json(document(&server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described() {
        let doc = document("http://127.0.0.1:3000");
        for spec in route_table() {
            let op = &doc["paths"][&spec.path][spec.method.as_str().to_lowercase()];
            assert!(op.is_object(), "{} {}", spec.method, spec.path);
            let braces = spec.path.matches('{').count();
            let path_params = op["parameters"]
                .as_array()
                .map(|p| p.iter().filter(|p| p["in"] == "path").count())
                .unwrap_or(0);
            assert_eq!(braces, path_params, "{}", spec.path);
        }
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
            .flat_map(|ops| ops.as_object().into_iter().flat_map(|o| o.values()))
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "operation ids are unique");
    }
}
