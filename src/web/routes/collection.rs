//! ManageIQ-style collection bodies: `name`, `count`, `subcount`, `resources`, with
//! every resource carrying its `href`.

use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};
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

/// `?offset=&limit=` of the simple paged lists (audit events, tasks).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    offset: Option<i64>,
    limit: Option<i64>,
}

impl Page {
    /// (offset, limit): offset ≥ 0 (default 0), limit 1–1000 (default 100).
    pub fn checked(&self) -> Result<(i64, i64), crate::web::ApiError> {
        let offset = self.offset.unwrap_or(0);
        let limit = self.limit.unwrap_or(100);
        if offset < 0 || !(1..=1000).contains(&limit) {
            return Err(crate::web::ApiError::BadRequest(
                "offset must be >= 0 and limit 1-1000".into(),
            ));
        }
        Ok((offset, limit))
    }
}
