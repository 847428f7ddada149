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

/// `offset`, `limit` and `expand` of the lists the query engine does not serve (their
/// rows are few — users, roles, zones, … — or paged by their own statement).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    offset: Option<String>,
    limit: Option<String>,
    expand: Option<String>,
}

/// The most resources one page of a list holds (and its default).
const MAX_PAGE: usize = 1000;

impl ListQuery {
    /// Reads the request's query string; anything else is a 400 naming it.
    pub fn of(req: &HttpRequest) -> Result<Self, crate::web::ApiError> {
        actix_web::web::Query::<ListQuery>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .map_err(|e| {
                crate::web::ApiError::BadRequest(format!(
                    "this list takes offset, limit and expand=resources: {e}"
                ))
            })
    }

    /// (offset, limit): offset ≥ 0 (default 0), limit 1–1000 (default and 0: 1000).
    pub fn window(&self) -> Result<(usize, usize), crate::web::ApiError> {
        let number = |name: &str, text: &Option<String>, default: usize| match text {
            None => Ok(default),
            Some(t) => t.parse::<usize>().map_err(|_| {
                crate::web::ApiError::BadRequest(format!(
                    "{name}: `{}` is not a non-negative integer",
                    crate::text::elide(t, 32)
                ))
            }),
        };
        let offset = number("offset", &self.offset, 0)?;
        let limit = match number("limit", &self.limit, MAX_PAGE)? {
            0 => MAX_PAGE,
            n => n.min(MAX_PAGE),
        };
        Ok((offset, limit))
    }

    /// Whether whole resources are asked for (`expand=resources`) rather than hrefs.
    pub fn expanded(&self) -> Result<bool, crate::web::ApiError> {
        expand_resources(&self.expand)
    }
}

/// `expand` of a list other than the query engine's: `resources` or nothing.
pub fn expand_resources(expand: &Option<String>) -> Result<bool, crate::web::ApiError> {
    {
        match expand.as_deref() {
            None | Some("") => Ok(false),
            Some("resources") => Ok(true),
            Some(other) => Err(crate::web::ApiError::BadRequest(format!(
                "expand: this list expands `resources` only, not `{}`",
                crate::text::elide(other, 64)
            ))),
        }
    }
}

/// A whole list's answer, paged here: ManageIQ's `name`, `count`, `subcount`, `pages`,
/// `resources` (hrefs unless `expand=resources`), `actions` and `links`.
pub fn collection(
    req: &HttpRequest,
    name: &str,
    rows: Vec<Value>,
) -> Result<Value, crate::web::ApiError> {
    let query = ListQuery::of(req)?;
    let (offset, limit) = query.window()?;
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    Ok(envelope(
        req,
        name,
        total,
        offset,
        limit,
        page,
        query.expanded()?,
    ))
}

/// The answer of a list whose statement already cut the page at `offset`/`limit`.
pub fn paged_collection(
    req: &HttpRequest,
    name: &str,
    total: usize,
    (offset, limit): (usize, usize),
    page: Vec<Value>,
    expanded: bool,
) -> Value {
    envelope(req, name, total, offset, limit, page, expanded)
}

fn envelope(
    req: &HttpRequest,
    name: &str,
    total: usize,
    offset: usize,
    limit: usize,
    page: Vec<Value>,
    expanded: bool,
) -> Value {
    let base = format!("{}/{name}", api_base(req));
    let resources: Vec<Value> = page
        .into_iter()
        .map(|r| match r.get("href") {
            // Rows without a URL of their own (refresh records) are always whole.
            Some(href) if !expanded => json!({"href": href}),
            _ => r,
        })
        .collect();
    let limit = limit.max(1);
    json!({
        "name": name,
        "count": total,
        "subcount": resources.len(),
        "pages": total.div_ceil(limit),
        "resources": resources,
        "actions": [],
        "links": links(req.query_string(), &base, offset as i64, limit as i64, total as i64),
    })
}

/// `self`, and `first`/`last`/`next`/`previous` by rewriting `offset`.
pub fn links(query_string: &str, base: &str, offset: i64, limit: i64, matched: i64) -> Value {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query_string.as_bytes())
        .filter(|(k, _)| k != "offset" && k != "limit")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let at = |offset: i64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &kept {
            s.append_pair(k, v);
        }
        s.append_pair("offset", &offset.to_string());
        s.append_pair("limit", &limit.to_string());
        format!("{base}?{}", s.finish())
    };
    let self_link = if query_string.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query_string}")
    };
    let mut links = json!({"self": self_link});
    let last = if matched == 0 {
        0
    } else {
        ((matched - 1) / limit) * limit
    };
    links["first"] = json!(at(0));
    links["last"] = json!(at(last));
    if offset + limit < matched {
        links["next"] = json!(at(offset + limit));
    }
    if offset > 0 {
        links["previous"] = json!(at((offset - limit).max(0)));
    }
    links
}
