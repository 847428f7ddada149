//! `GET /api/openapi.json`: an OpenAPI 3.1 description generated from the route table
//! itself (`web::route_table`), so no route, method, path parameter or access rule
//! can be missing or stale: paths, methods, path parameters, who may call each route
//! (security and the feature, as `x-steward-access`), the query parameters of the
//! collections served by the query engine, and the answers — the success status and
//! every error status in the `{"error":{"kind","message"}}` shape. Request bodies are
//! described field by field from the structs the handlers parse them into (`utoipa`,
//! through `web::body_doc`); the answers of the query engine's collections and
//! resources from its catalogue (the one the SQL is built from). Other answers are
//! described as JSON objects (see the README for their fields).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};

use super::collection::api_base;
use crate::api_query::Kind;
use crate::web::route_table::{Access, RouteSpec, route_table};

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

/// The schema of one value of an engine attribute, as the database renders it.
fn attr_schema(kind: Kind) -> Value {
    match kind {
        Kind::Id => json!({"type": ["string", "null"], "description": "an id, as a string"}),
        Kind::Text => json!({"type": "string"}),
        Kind::Int => json!({"type": "integer"}),
        Kind::Float => json!({"type": "number"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Time => json!({"type": ["string", "null"], "format": "date-time"}),
        Kind::Json => json!({}),
    }
}

/// `Resource_<collection>` and `Collection_<collection>` for every collection of the
/// query engine, from the same catalogue the SQL is built from: a resource has `href`
/// and, when expanded, `id` and the attributes asked for (all by default).
fn engine_schemas(schemas: &mut Map<String, Value>) {
    for c in crate::api_query::COLLECTIONS {
        let mut properties = Map::new();
        properties.insert("href".into(), json!({"type": "string", "format": "uri"}));
        for attr in c.attrs {
            properties.insert(attr.name.into(), attr_schema(attr.kind));
        }
        for assoc in c.assocs {
            properties.insert(assoc.name.into(), json!({"type": ["object", "null"]}));
        }
        for sub in c.subs {
            properties.insert(
                sub.name.into(),
                json!({"type": "array", "items": {"type": "object"}}),
            );
        }
        schemas.insert(
            format!("Resource_{}", c.name),
            json!({"type": "object", "required": ["href"], "properties": properties}),
        );
        schemas.insert(
            format!("Collection_{}", c.name),
            json!({
                "type": "object",
                "required": ["name", "count", "subcount", "resources"],
                "properties": {
                    "name": {"type": "string"},
                    "count": {"type": "integer", "minimum": 0},
                    "subcount": {"type": "integer", "minimum": 0},
                    "subquery_count": {"type": "integer", "minimum": 0},
                    "pages": {"type": "integer", "minimum": 0},
                    "resources": {"type": "array", "items": {"$ref": format!("#/components/schemas/Resource_{}", c.name)}},
                    "actions": {"type": "array", "items": {"type": "object"}},
                    "links": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }),
        );
    }
}

/// The media types of the console's page and files.
fn console_content(path: &str) -> Option<Value> {
    let text = json!({"schema": {"type": "string"}});
    match path {
        "/console/" => Some(json!({"text/html": text})),
        "/console/assets/{file}" => Some(json!({
            "text/javascript": text, "text/css": text, "image/svg+xml": text,
        })),
        _ => None,
    }
}

/// The schema of a successful answer of `GET path`, when it is an engine collection or
/// one of its resources.
fn answer_schema(path: &str) -> Value {
    let rest = path.trim_start_matches("/api/");
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [name] if crate::api_query::collection(name).is_some() => {
            json!({"$ref": format!("#/components/schemas/Collection_{name}")})
        }
        [name, "{id}"] if crate::api_query::collection(name).is_some() => {
            json!({"$ref": format!("#/components/schemas/Resource_{name}")})
        }
        _ => json!({"type": "object"}),
    }
}

fn operation(spec: &RouteSpec, method: &Method) -> Value {
    let (path, access) = (spec.path.as_str(), spec.access);
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
    } else if *method == Method::GET || *method == Method::HEAD {
        json!({"application/json": {"schema": answer_schema(path)}})
    } else {
        json!({"application/json": {"schema": {"type": "object"}}})
    };
    if path == "/" || path == "/console" {
        responses.insert(
            "303".into(),
            json!({"description": "to the console, `/console/`"}),
        );
    } else if let Some(content) = console_content(path) {
        responses.insert(
            "200".into(),
            json!({"description": "the console's page or one of its files (embedded)", "content": content}),
        );
        responses.insert(
            "304".into(),
            json!({"description": "unchanged since the ETag given in If-None-Match"}),
        );
    } else if path == "/ws" {
        responses.insert(
            "101".into(),
            json!({"description": "switching to the websocket of the live feed (JSON text frames: hello, subscribe, subscribed, event, dropped, error)"}),
        );
    } else if ok_status == "204" {
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
            match path {
                "/" => "root".to_string(),
                p if p.len() > 1 && p.ends_with('/') => format!("{}_index", p.trim_matches('/')),
                p => p.trim_start_matches('/').replace(['/', '{', '}'], "_").trim_end_matches('_').to_string(),
            }
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
    if let Some(body) = &spec.body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", body.name)}}}
        });
    }
    op
}

/// The document for the routes of this build.
pub fn document(server_url: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["kind", "message"],
                "properties": {"kind": {"type": "string"}, "message": {"type": "string"}},
            }},
        }),
    );
    engine_schemas(&mut schemas);
    for spec in route_table() {
        if let Some(body) = &spec.body {
            schemas.insert(body.name.clone(), body.schema.clone());
            for (name, schema) in &body.components {
                schemas.insert(name.clone(), schema.clone());
            }
        }
        let entry = paths.entry(spec.path.clone()).or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_lowercase()] = operation(&spec, &spec.method);
        if spec.method == Method::GET {
            entry["head"] = operation(&spec, &Method::HEAD);
        }
    }
    json!({
        "openapi": "3.1.0",
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
            "schemas": schemas,
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

    /// Every `$ref` in `value`.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn bodies_come_from_the_handlers_and_every_reference_resolves() {
        let doc = document("http://127.0.0.1:3000");
        let schemas = &doc["components"]["schemas"];
        // Every write route with a JSON body names its schema; the fields are the
        // struct's, with serde's names and defaults.
        let body = |method: &str, path: &str| {
            let r =
                doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
                    ["$ref"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no body schema"))
                    .trim_start_matches("#/components/schemas/")
                    .to_string();
            schemas[&r].clone()
        };
        let user = body("post", "/api/users");
        assert_eq!(user["properties"]["userid"]["type"], "string", "{user}");
        let required: Vec<&str> = user["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            required.contains(&"password") && !required.contains(&"email"),
            "{user}"
        );
        let provider = body("post", "/api/providers");
        assert_eq!(
            provider["oneOf"].as_array().map(Vec::len),
            Some(2),
            "{provider}"
        );
        assert!(schemas["ProviderInput"]["properties"]["type"].is_object());
        assert!(schemas["BulkBody"]["properties"]["resources"].is_object());
        assert!(body("patch", "/api/providers/{id}")["properties"]["token"].is_object());
        assert!(body("post", "/api/queue/messages")["properties"]["command"].is_object());
        // Routes without a body describe none.
        assert!(doc["paths"]["/api/providers/{id}"]["delete"]["requestBody"].is_null());
        // Engine answers are typed from the catalogue.
        let pod = &schemas["Resource_container_groups"]["properties"];
        assert_eq!(pod["restart_count"]["type"], "integer");
        assert_eq!(pod["ready"]["type"], "boolean");
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in all {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas[name].is_object(), "{r} does not resolve");
        }
    }
}
