//! The OpenAPI documents of the kinds the simulator serves, so `kubectl explain` works
//! as against a real API server.
//!
//! - `GET /openapi/v3`: the index, one entry per group-version with its
//!   `serverRelativeURL` (`/openapi/v3/api/v1?hash=…`, the SHA-512 of the document, as
//!   kube-apiserver names them);
//! - `GET /openapi/v3/api/v1`, `/openapi/v3/apis/apps/v1`, …: an OpenAPI 3.0 document
//!   whose `components.schemas` hold each kind served in that group-version and every
//!   type it refers to, by kube-openapi's names (`io.k8s.api.core.v1.Pod`,
//!   `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`, …), each kind marked with
//!   `x-kubernetes-group-version-kind`. With the current `hash` the answer is immutable;
//!   an outdated one is redirected to the current document;
//! - `GET /openapi/v2`: one Swagger 2.0 document with every kind under `definitions`
//!   (JSON only: a client asking for nothing but protobuf gets 406).
//!
//! The schemas are generated from k8s-openapi's types (their `schemars` implementations,
//! descriptions included), not written by hand; only OpenShift's Image, which
//! k8s-openapi does not describe, is. The documents are built once per flavor, on first
//! request.

use std::borrow::Cow;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use super::Flavor;
use super::api::{self, served};
use super::objects::Resource;

/// What the documents' `info` says (the version `/version` reports).
const TITLE: &str = "Kubernetes";
const VERSION: &str = "v1.31.2-steward-sim";

/// The OpenAPI documents of one flavor.
struct Documents {
    /// `/openapi/v3`.
    index: Bytes,
    group_versions: Vec<GroupVersionDocument>,
    /// `/openapi/v2`.
    v2: Bytes,
    v2_hash: String,
}

/// The OpenAPI v3 document of one group-version.
struct GroupVersionDocument {
    /// Its path under `/openapi/v3/`: `api/v1`, `apis/apps/v1`, …
    path: String,
    body: Bytes,
    hash: String,
}

static KUBERNETES: OnceLock<Documents> = OnceLock::new();
static OPENSHIFT: OnceLock<Documents> = OnceLock::new();

fn documents(flavor: Flavor) -> &'static Documents {
    match flavor {
        Flavor::Kubernetes => KUBERNETES.get_or_init(|| Documents::build(flavor)),
        Flavor::OpenShift => OPENSHIFT.get_or_init(|| Documents::build(flavor)),
    }
}

/// `GET /openapi/v3[/<group-version path>]`; `None` for a group-version not served.
pub fn v3(flavor: Flavor, path: &[&str], hash: Option<&str>) -> Option<HttpResponse> {
    let docs = documents(flavor);
    if path.is_empty() {
        return Some(json_response(docs.index.clone(), None));
    }
    let path = path.join("/");
    let doc = docs.group_versions.iter().find(|d| d.path == path)?;
    Some(match hash {
        Some(h) if h != doc.hash => HttpResponse::MovedPermanently()
            .insert_header((
                header::LOCATION,
                format!("/openapi/v3/{}?hash={}", doc.path, doc.hash),
            ))
            .insert_header((header::CACHE_CONTROL, "no-cache, private"))
            .finish(),
        Some(_) => json_response(doc.body.clone(), Some(&doc.hash)),
        None => {
            let mut reply = json_response(doc.body.clone(), None);
            set_etag(&mut reply, &doc.hash);
            reply
        }
    })
}

/// `GET /openapi/v2`, as JSON.
pub fn v2(req: &HttpRequest, flavor: Flavor) -> HttpResponse {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accepts_json(accept) {
        return api::status(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        );
    }
    let docs = documents(flavor);
    let mut reply = json_response(docs.v2.clone(), None);
    set_etag(&mut reply, &docs.v2_hash);
    reply
}

/// Whether an `Accept` header admits JSON (an absent or empty one does).
fn accepts_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|media| {
            let media = media.split(';').next().unwrap_or("").trim();
            matches!(media, "application/json" | "application/*" | "*/*")
        })
}

/// A JSON answer; with `immutable_hash`, cacheable for good (the hash names the content).
fn json_response(body: Bytes, immutable_hash: Option<&str>) -> HttpResponse {
    let mut reply = HttpResponse::Ok();
    reply.content_type("application/json");
    match immutable_hash {
        Some(hash) => {
            reply
                .insert_header((header::CACHE_CONTROL, "public, immutable"))
                .insert_header((header::ETAG, format!("\"{hash}\"")));
        }
        None => {
            reply.insert_header((header::CACHE_CONTROL, "no-cache, private"));
        }
    }
    reply.body(body)
}

fn set_etag(reply: &mut HttpResponse, hash: &str) {
    if let Ok(value) = header::HeaderValue::from_str(&format!("\"{hash}\"")) {
        reply.headers_mut().insert(header::ETAG, value);
    }
}

impl Documents {
    fn build(flavor: Flavor) -> Self {
        let kinds: Vec<Resource> = Resource::ALL
            .into_iter()
            .filter(|r| served(flavor, *r))
            .collect();
        let mut group_versions: Vec<&'static str> = Vec::new();
        for kind in &kinds {
            let gv = kind.info().group_version;
            if !group_versions.contains(&gv) {
                group_versions.push(gv);
            }
        }
        let group_versions: Vec<GroupVersionDocument> = group_versions
            .into_iter()
            .map(|gv| {
                let in_gv: Vec<Resource> = kinds
                    .iter()
                    .copied()
                    .filter(|k| k.info().group_version == gv)
                    .collect();
                let (schemas, names) =
                    schemas(SchemaGenerator::new(SchemaSettings::openapi3()), &in_gv);
                let paths: Map<String, Value> = names
                    .iter()
                    .map(|(kind, name)| read_path(*kind, name))
                    .collect();
                let body = to_bytes(&json!({
                    "openapi": "3.0.0",
                    "info": {"title": TITLE, "version": VERSION},
                    "paths": paths,
                    "components": {"schemas": schemas},
                }));
                GroupVersionDocument {
                    path: document_path(gv),
                    hash: hash(&body),
                    body,
                }
            })
            .collect();
        let index: Map<String, Value> = group_versions
            .iter()
            .map(|d| {
                let url = format!("/openapi/v3/{}?hash={}", d.path, d.hash);
                (d.path.clone(), json!({ "serverRelativeURL": url }))
            })
            .collect();
        let v2_settings = SchemaSettings::openapi3().with(|s| {
            s.definitions_path = "/definitions".into();
            s.meta_schema = None;
            // Swagger 2.0 allows siblings beside `$ref` (kube-apiserver's v2 has them)
            // and knows no `nullable`.
            s.transforms.clear();
        });
        let (definitions, _) = schemas(SchemaGenerator::new(v2_settings), &kinds);
        let v2 = to_bytes(&json!({
            "swagger": "2.0",
            "info": {"title": TITLE, "version": VERSION},
            "paths": {},
            "definitions": definitions,
        }));
        Documents {
            index: to_bytes(&json!({ "paths": index })),
            group_versions,
            v2_hash: hash(&v2),
            v2,
        }
    }
}

/// A kind's group and version (`""` for the core group).
fn group_version(kind: Resource) -> (&'static str, &'static str) {
    let gv = kind.info().group_version;
    gv.split_once('/').unwrap_or(("", gv))
}

/// The path that reads one object of `kind`, with its GET operation: `kubectl explain`
/// finds a resource's kind through the `x-kubernetes-group-version-kind` of its paths.
/// (kube-apiserver also describes the list, watch and write operations; the simulator
/// only needs this one.)
fn read_path(kind: Resource, schema_name: &str) -> (String, Value) {
    let info = kind.info();
    let (group, version) = group_version(kind);
    let prefix = format!("/{}", document_path(info.group_version));
    let (path, scope) = if info.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", info.plural),
            "Namespaced",
        )
    } else {
        (format!("{prefix}/{}/{{name}}", info.plural), "")
    };
    let group_words: String = if group.is_empty() {
        "Core".to_string()
    } else {
        group.split('.').map(capitalized).collect()
    };
    let mut parameters = vec![json!({
        "name": "name", "in": "path", "required": true,
        "description": format!("name of the {}", info.kind),
        "schema": {"type": "string", "uniqueItems": true},
    })];
    if info.namespaced {
        parameters.push(json!({
            "name": "namespace", "in": "path", "required": true,
            "description": "object name and auth scope, such as for teams and projects",
            "schema": {"type": "string", "uniqueItems": true},
        }));
    }
    let schema = format!("#/components/schemas/{schema_name}");
    let operation = json!({
        "description": format!("read the specified {}", info.kind),
        "operationId": format!("read{group_words}{}{scope}{}", capitalized(version), info.kind),
        "tags": [format!("{}_{version}", group_words.to_lowercase())],
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"$ref": schema}}},
            },
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": "get",
        "x-kubernetes-group-version-kind": {"group": group, "kind": info.kind, "version": version},
    });
    (path, json!({"get": operation, "parameters": parameters}))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The schemas of `kinds` and of every type they refer to, each kind marked with its
/// group, version and kind; and the name of each kind's schema.
fn schemas(
    mut generator: SchemaGenerator,
    kinds: &[Resource],
) -> (Map<String, Value>, Vec<(Resource, String)>) {
    let names: Vec<(Resource, String)> = kinds
        .iter()
        .map(|kind| (*kind, add_kind(&mut generator, *kind)))
        .collect();
    let mut schemas = generator.take_definitions(true);
    for (kind, name) in &names {
        let (group, version) = group_version(*kind);
        if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            unrequire_metadata(schema);
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": group, "kind": kind.info().kind, "version": version}]),
            );
        }
    }
    (schemas, names)
}

/// k8s-openapi lists a kind's `metadata` as required (its Rust field is not optional);
/// kube-apiserver's schemas do not, and `kubectl explain` would print `-required-`
/// beside it where a real cluster does not.
fn unrequire_metadata(schema: &mut Map<String, Value>) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|field| field != "metadata");
        if required.is_empty() {
            schema.remove("required");
        }
    }
}

/// Adds the schema of `kind` (and what it refers to) to the generator's definitions;
/// its name there.
fn add_kind(generator: &mut SchemaGenerator, kind: Resource) -> String {
    fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
        generator.subschema_for::<T>();
        T::schema_name().into_owned()
    }
    match kind {
        Resource::Namespace => add::<core::Namespace>(generator),
        Resource::Node => add::<core::Node>(generator),
        Resource::Pod => add::<core::Pod>(generator),
        Resource::Service => add::<core::Service>(generator),
        Resource::ReplicationController => add::<core::ReplicationController>(generator),
        Resource::Event => add::<core::Event>(generator),
        Resource::ReplicaSet => add::<apps::ReplicaSet>(generator),
        Resource::Deployment => add::<apps::Deployment>(generator),
        Resource::Image => add::<OpenShiftImage>(generator),
    }
}

/// `api/v1` for the core group, `apis/<group>/<version>` for the others.
fn document_path(group_version: &str) -> String {
    if group_version.contains('/') {
        format!("apis/{group_version}")
    } else {
        format!("api/{group_version}")
    }
}

fn to_bytes(document: &Value) -> Bytes {
    // Serializing a JSON value (string keys only) cannot fail.
    Bytes::from(serde_json::to_vec(document).unwrap_or_default())
}

/// The document's SHA-512 in upper-case hex, as kube-apiserver hashes them.
fn hash(body: &[u8]) -> String {
    Sha512::digest(body)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// OpenShift's `image.openshift.io/v1` Image, the one kind served that k8s-openapi does
/// not describe: the fields the simulator serves, in OpenShift's schema name.
struct OpenShiftImage;

impl JsonSchema for OpenShiftImage {
    fn schema_name() -> Cow<'static, str> {
        "com.github.openshift.api.image.v1.Image".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut metadata = generator.subschema_for::<ObjectMeta>();
        metadata
            .ensure_object()
            .insert("description".into(), "Standard object's metadata.".into());
        let string = |description: &str| json!({"description": description, "type": "string"});
        let properties = json!({
            "apiVersion": string("The versioned schema of this representation of an object."),
            "kind": string("The REST resource this object represents, in CamelCase."),
            "metadata": metadata,
            "dockerImageReference": string("The reference a container runtime pulls this image by."),
            "dockerImageMetadata": {
                "description": "The image's metadata as the registry reports it.",
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
            },
            "dockerImageMetadataVersion": string(
                "The version of the metadata object (\"1.0\" when empty)."
            ),
        });
        let mut schema = Map::new();
        schema.insert(
            "description".into(),
            "An immutable representation of a container image and its metadata at a point in time."
                .into(),
        );
        schema.insert("type".into(), "object".into());
        schema.insert("properties".into(), properties);
        Schema::from(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(flavor: Flavor, path: &str) -> Value {
        let docs = documents(flavor);
        let doc = docs
            .group_versions
            .iter()
            .find(|d| d.path == path)
            .unwrap_or_else(|| panic!("no {path}"));
        serde_json::from_slice(&doc.body).unwrap()
    }

    #[test]
    fn v3_documents_hold_each_served_kind_with_its_group_version_kind() {
        let core = document(Flavor::Kubernetes, "api/v1");
        let schemas = &core["components"]["schemas"];
        for kind in [
            "Pod",
            "Node",
            "Namespace",
            "Service",
            "ReplicationController",
            "Event",
        ] {
            let schema = &schemas[format!("io.k8s.api.core.v1.{kind}")];
            assert_eq!(
                schema["x-kubernetes-group-version-kind"],
                json!([{"group": "", "kind": kind, "version": "v1"}]),
                "{kind}"
            );
        }
        // References point into the document, wrapped in allOf as kube-apiserver's are.
        assert_eq!(
            schemas["io.k8s.api.core.v1.Pod"]["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());
        assert!(schemas["io.k8s.api.core.v1.Pod"].get("required").is_none());
        // kubectl explain finds a resource's kind through its paths.
        assert_eq!(
            core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["get"]["x-kubernetes-group-version-kind"],
            json!({"group": "", "kind": "Pod", "version": "v1"})
        );
        assert_eq!(
            core["paths"]["/api/v1/nodes/{name}"]["get"]["operationId"],
            "readCoreV1Node"
        );
        assert!(
            schemas["io.k8s.api.core.v1.Container"]["properties"]["image"]["description"]
                .is_string()
        );
        assert!(schemas.get("io.k8s.api.apps.v1.Deployment").is_none());
        let apps = document(Flavor::Kubernetes, "apis/apps/v1");
        let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"];
        assert_eq!(deployment["properties"]["replicas"]["type"], "integer");
        assert_eq!(apps["openapi"], "3.0.0");
        assert!(
            documents(Flavor::Kubernetes)
                .group_versions
                .iter()
                .all(|d| !d.path.contains("openshift"))
        );
        let images = document(Flavor::OpenShift, "apis/image.openshift.io/v1");
        assert_eq!(
            images["components"]["schemas"]["com.github.openshift.api.image.v1.Image"]["x-kubernetes-group-version-kind"],
            json!([{"group": "image.openshift.io", "kind": "Image", "version": "v1"}])
        );
    }

    #[test]
    fn the_index_names_each_document_by_its_hash() {
        let docs = documents(Flavor::Kubernetes);
        let index: Value = serde_json::from_slice(&docs.index).unwrap();
        let paths = index["paths"].as_object().unwrap();
        assert_eq!(paths.len(), docs.group_versions.len());
        for doc in &docs.group_versions {
            assert_eq!(doc.hash.len(), 128);
            assert_eq!(
                paths[&doc.path]["serverRelativeURL"],
                format!("/openapi/v3/{}?hash={}", doc.path, doc.hash)
            );
        }
    }

    #[test]
    fn v2_has_every_kind_under_definitions_with_plain_refs() {
        let docs = documents(Flavor::Kubernetes);
        let v2: Value = serde_json::from_slice(&docs.v2).unwrap();
        assert_eq!(v2["swagger"], "2.0");
        let definitions = &v2["definitions"];
        assert_eq!(
            definitions["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        assert_eq!(
            definitions["io.k8s.api.core.v1.Pod"]["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec"
        );
        assert!(accepts_json(""));
        assert!(accepts_json("application/json, */*"));
        assert!(!accepts_json(
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        ));
    }
}
