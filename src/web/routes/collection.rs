//! ManageIQ-style collection bodies: `name`, `count`, `subcount`, `resources`, with
//! every resource carrying its `href`.

use actix_web::HttpRequest;
use serde::Serialize;
use serde_json::{Value, json};

/// Parses a resource id from the path, or answers 400 naming what was expected.
pub fn parse_id(text: &str, what: &str) -> Result<i64, crate::web::ApiError> {
    text.parse()
        .map_err(|_| crate::web::ApiError::BadRequest(format!("`{text}` is not a {what} id")))
}

/// The absolute URL of the API root (`<web.external_url>/api`): configured, never
/// taken from the request's `Host` or forwarding headers.
pub fn api_base(req: &HttpRequest) -> String {
    req.app_data::<actix_web::web::Data<crate::web::AppState>>()
        .map(|state| state.api_base.to_string())
        .unwrap_or_else(|| "/api".to_string())
}

/// Serialises `resource` and adds `href` = `{base}/{collection}/{id}`.
pub fn with_href<T: Serialize>(base: &str, collection: &str, id: i64, resource: &T) -> Value {
    let mut value = serde_json::to_value(resource).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("href".into(), json!(format!("{base}/{collection}/{id}")));
    }
    value
}

/// A collection response of `resources` (already expanded).
pub fn collection(name: &str, base: &str, count: usize, resources: Vec<Value>) -> Value {
    json!({
        "name": name,
        "count": count,
        "subcount": resources.len(),
        "resources": resources,
        "links": {"self": format!("{base}/{name}")},
    })
}
