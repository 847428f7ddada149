//! Reads a collection request's query string (`filter[]` repeats, so it is read as
//! pairs, not as a struct) into a [`Query`]. Every parameter is known and checked: an
//! unknown one, a non-numeric offset or limit, a malformed filter, an unknown or
//! unsortable attribute is a 400 that says which.

use super::catalog::Collection;
use super::filter::parse_clause;
use super::sql::{Query, QueryError, SortKey};

/// Most filters, attributes and sort keys in one request.
pub const MAX_FILTERS: usize = 50;
pub const MAX_ATTRIBUTES: usize = 100;
/// Longest query string read.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// How the answer is shaped, besides which rows.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// `expand=resources`: whole resources instead of hrefs.
    pub expand: bool,
    /// `attributes=` was given (resources then carry them even without expand).
    pub attributes: bool,
    /// `limit` or `offset` was given (links and `pages` are then computed).
    pub paged: bool,
    /// Subcollections to expand inline (`expand=resources,containers`).
    pub subs: Vec<&'static super::catalog::Sub>,
}

fn bad<T>(message: String) -> Result<T, QueryError> {
    Err(QueryError(message))
}

fn cut(text: &str) -> &str {
    crate::text::truncate(text, 60)
}

/// Parses `query_string` for collection `c`; `default_limit` is both default and cap.
pub fn parse(
    query_string: &str,
    c: &Collection,
    default_limit: i64,
) -> Result<(Query, Shape), QueryError> {
    if query_string.len() > MAX_QUERY_BYTES {
        return bad(format!(
            "the query string has {} bytes; at most {MAX_QUERY_BYTES} are accepted",
            query_string.len()
        ));
    }
    let mut q = Query {
        filters: Vec::new(),
        attributes: None,
        sort: Vec::new(),
        ignore_case: false,
        offset: 0,
        limit: default_limit,
        include_deleted: false,
        parents: Vec::new(),
        parent_in: None,
        by_tag: Vec::new(),
        id: None,
    };
    let mut shape = Shape::default();
    let mut sort_by: Vec<String> = Vec::new();
    let mut sort_order: Vec<String> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query_string.as_bytes()) {
        let value = value.as_ref();
        if value.contains('\0') {
            return bad(format!("`{}` contains a NUL byte", cut(&key)));
        }
        match key.as_ref() {
            "offset" => {
                q.offset = value
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        QueryError(format!(
                            "offset must be a non-negative integer, not `{}`",
                            cut(value)
                        ))
                    })?;
                shape.paged = true;
            }
            "limit" => {
                let n = value
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        QueryError(format!(
                            "limit must be a non-negative integer, not `{}`",
                            cut(value)
                        ))
                    })?;
                q.limit = if n == 0 {
                    default_limit
                } else {
                    n.min(default_limit)
                };
                shape.paged = true;
            }
            "expand" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if part == "resources" {
                        shape.expand = true;
                    } else if let Some(sub) = c.sub(part) {
                        if !shape.subs.iter().any(|s| s.name == sub.name) {
                            shape.subs.push(sub);
                        }
                    } else {
                        return bad(format!(
                            "expand: `{}` is neither resources nor a subcollection of {}",
                            cut(part),
                            c.name
                        ));
                    }
                }
            }
            "attributes" => {
                let names: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
                let list = q.attributes.get_or_insert_with(Vec::new);
                list.extend(names);
                if list.len() > MAX_ATTRIBUTES {
                    return bad(format!("at most {MAX_ATTRIBUTES} attributes"));
                }
                shape.attributes = true;
            }
            "filter[]" | "filter" => {
                if q.filters.len() >= MAX_FILTERS {
                    return bad(format!("at most {MAX_FILTERS} filters"));
                }
                let clause = parse_clause(value).map_err(|e| QueryError(e.to_string()))?;
                q.filters.push(clause);
            }
            "sort_by" => sort_by.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            ),
            "sort_order" => {
                sort_order.extend(value.split(',').map(|p| p.trim().to_ascii_lowercase()))
            }
            "sort_options" => {
                for option in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if option == "ignore_case" {
                        q.ignore_case = true;
                    } else {
                        return bad(format!(
                            "sort_options: `{}` is not known (ignore_case is)",
                            cut(option)
                        ));
                    }
                }
            }
            "provider_id" if c.attr("provider_id").is_some() => {
                let id = value.trim().parse::<i64>().map_err(|_| {
                    QueryError(format!("provider_id must be an id, not `{}`", cut(value)))
                })?;
                q.parents.push(("provider_id", id));
            }
            "include_deleted" => {
                q.include_deleted = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => {
                        return bad(format!(
                            "include_deleted must be true or false, not `{}`",
                            cut(other)
                        ));
                    }
                }
            }
            "by_tag" => {
                for path in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let tag = super::tag_path::parse_tag_path(path)
                        .map_err(|e| QueryError(format!("by_tag: {e}")))?;
                    q.by_tag.push((tag.category, tag.name));
                }
                if q.by_tag.len() > MAX_FILTERS {
                    return bad(format!("by_tag: at most {MAX_FILTERS} tags"));
                }
            }
            other => {
                return bad(format!(
                    "unknown query parameter `{}` (known: offset, limit, expand, attributes, filter[], \
                     sort_by, sort_order, sort_options, by_tag, provider_id, include_deleted)",
                    cut(other)
                ));
            }
        }
    }
    if sort_by.len() > MAX_ATTRIBUTES {
        return bad(format!("at most {MAX_ATTRIBUTES} sort keys"));
    }
    for (i, attr) in sort_by.into_iter().enumerate() {
        let descending = match sort_order.get(i).or(sort_order.last()).map(String::as_str) {
            None | Some("asc") | Some("ascending") => false,
            Some("desc") | Some("descending") => true,
            Some(other) => {
                return bad(format!(
                    "sort_order: `{}` is neither asc nor desc",
                    cut(other)
                ));
            }
        };
        q.sort.push(SortKey { attr, descending });
    }
    Ok((q, shape))
}
