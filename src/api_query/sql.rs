//! Turns a parsed collection request into SQL text with numbered parameters (`$n` on
//! PostgreSQL, `?n` on SQLite) and the values to bind. Only names from the catalogue
//! are ever written into the text; every value from the request is a parameter.
//! One statement counts (the visible total and, with a filter, the matches), one
//! reads the page — whatever the page size and the caller's RBAC filters.

use chrono::NaiveDateTime;

use super::catalog::{Attr, Collection, Kind, Scope, collection};
use super::filter::{Clause, FilterValue, Op};
use crate::db::Backend;

/// A value to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(NaiveDateTime),
}

/// What the caller may see (RBAC), already resolved to ids and names.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// The caller's tenant; `None` = no tenant restriction (the root tenant).
    pub tenant_id: Option<i64>,
    /// Only these providers (a group's "belongsto" filter).
    pub providers: Option<Vec<i64>>,
    /// Only objects of projects (namespaces) with these names.
    pub projects: Option<Vec<String>>,
    /// ManageIQ's managed filters: the object must carry, for each inner list, at
    /// least one of its (category, tag) pairs.
    pub tags: Option<Vec<Vec<(String, String)>>>,
}

impl Visibility {
    /// Whether nothing limits the caller.
    pub fn is_unrestricted(&self) -> bool {
        self.tenant_id.is_none()
            && self.providers.is_none()
            && self.projects.is_none()
            && self.tags.is_none()
    }
}

/// One sort key.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub attr: String,
    pub descending: bool,
}

/// A request for rows of a collection.
#[derive(Debug, Clone)]
pub struct Query {
    pub filters: Vec<Clause>,
    /// Attributes to render besides `id`; `None` = all of the collection's own.
    pub attributes: Option<Vec<String>>,
    pub sort: Vec<SortKey>,
    pub ignore_case: bool,
    pub offset: i64,
    pub limit: i64,
    pub include_deleted: bool,
    /// Rows of a subcollection (`fk = id`), and `provider_id=`.
    pub parents: Vec<(&'static str, i64)>,
    /// Rows of a subcollection for several parents (`fk IN ids`): inline expansion.
    pub parent_in: Option<(&'static str, Vec<i64>)>,
    /// One row by id.
    pub id: Option<i64>,
    /// `by_tag`: the object carries every one of these (category, tag) pairs.
    pub by_tag: Vec<(String, String)>,
}

/// The statements for one request.
#[derive(Debug, Clone)]
pub struct Built {
    /// `total`, `matched`.
    pub count_sql: String,
    /// One column `row`: the JSON of each row of the page.
    pub page_sql: String,
    /// With a filter: `total`, `matched` and `ids` (the page's ids, comma-separated) in
    /// one scan of the matching rows, which are materialised once for the count and the
    /// sort instead of being found twice.
    pub filtered_sql: Option<String>,
    /// PostgreSQL, with a filter: `stamp` (the region's change stamp), `total` and
    /// `matched` (NULL when the stamp equals the one put in place of [`STAMP`]: the
    /// caller holds those counts already) and `ids`, the page read in the sort's order
    /// (off an index where one serves it) rather than sorted from every match.
    pub stamped_sql: Option<String>,
    /// What the counts of [`Built::stamped_sql`] depend on besides the binds (not the
    /// page's place: every page of a filter shares its counts).
    pub count_key: String,
    /// `row` for the ids put in place of [`IDS`] (no binds).
    pub render_sql: String,
    pub binds: Vec<Bind>,
    pub filtered: bool,
}

/// Where [`Built::render_sql`] takes the page's ids.
pub const IDS: &str = "{ids}";

/// Where [`Built::stamped_sql`] takes the change stamp its caller's counts belong to.
pub const STAMP: &str = "{stamp}";

/// Why a request cannot be served (a 400 naming the part at fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

fn err<T>(message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(message.into()))
}

struct Builder {
    backend: Backend,
    binds: Vec<Bind>,
}

impl Builder {
    fn param(&mut self, value: Bind) -> String {
        self.binds.push(value);
        match self.backend {
            Backend::Postgres => format!("${}", self.binds.len()),
            Backend::Sqlite => format!("?{}", self.binds.len()),
        }
    }

    /// How an attribute is rendered into the row's JSON.
    fn render(&self, alias: &str, attr: &Attr) -> String {
        let col = format!("{alias}.{}", attr.name);
        match (attr.kind, self.backend) {
            (Kind::Id, _) => format!("CAST({col} AS TEXT)"),
            (Kind::Time, Backend::Postgres) => {
                format!("to_char({col}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
            }
            (Kind::Time, Backend::Sqlite) => format!("strftime('%Y-%m-%dT%H:%M:%SZ', {col})"),
            (Kind::Json, Backend::Postgres) => format!("CAST(NULLIF({col}, '') AS json)"),
            (Kind::Json, Backend::Sqlite) => format!("json(NULLIF({col}, ''))"),
            (Kind::Bool, Backend::Sqlite) => {
                format!("json(CASE WHEN {col} THEN 'true' ELSE 'false' END)")
            }
            _ => col,
        }
    }

    fn object(&self, pairs: &[(String, String)]) -> String {
        let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("'{k}', {v}")).collect();
        match self.backend {
            Backend::Postgres => format!("json_build_object({})", inner.join(", ")),
            Backend::Sqlite => format!("json_object({})", inner.join(", ")),
        }
    }

    /// A filter value bound as the type of `kind`.
    fn typed(&mut self, kind: Kind, value: &FilterValue, what: &str) -> Result<String, QueryError> {
        let text = match value {
            FilterValue::Text(t) | FilterValue::Bare(t) => t.as_str(),
            _ => return err(format!("{what}: expected a single value")),
        };
        let bind =
            match kind {
                Kind::Text => Bind::Text(text.to_string()),
                Kind::Id | Kind::Int => Bind::Int(text.trim().parse().map_err(|_| {
                    QueryError(format!("{what}: `{}` is not an integer", cut(text)))
                })?),
                Kind::Float => {
                    Bind::Float(text.trim().parse().map_err(|_| {
                        QueryError(format!("{what}: `{}` is not a number", cut(text)))
                    })?)
                }
                Kind::Bool => Bind::Bool(match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "t" | "1" => true,
                    "false" | "f" | "0" => false,
                    _ => return err(format!("{what}: `{}` is not true or false", cut(text))),
                }),
                Kind::Time => Bind::Time(parse_time(text).ok_or_else(|| {
                    QueryError(format!(
                        "{what}: `{}` is not a time (RFC 3339, or YYYY-MM-DD)",
                        cut(text)
                    ))
                })?),
                Kind::Json => return err(format!("{what}: this attribute cannot be filtered")),
            };
        Ok(self.param(bind))
    }

    /// The predicate of `op value` on the SQL expression `col` of type `kind`.
    fn predicate(
        &mut self,
        col: &str,
        kind: Kind,
        op: Op,
        value: &FilterValue,
        what: &str,
    ) -> Result<String, QueryError> {
        match value {
            FilterValue::Null => Ok(match op {
                Op::Eq => format!("{col} IS NULL"),
                Op::Ne => format!("{col} IS NOT NULL"),
                _ => return err(format!("{what}: NULL takes = or !=")),
            }),
            FilterValue::List(items) => {
                let mut params = Vec::new();
                for item in items {
                    params.push(self.typed(kind, item, what)?);
                }
                let list = params.join(", ");
                Ok(match op {
                    Op::Eq => format!("{col} IN ({list})"),
                    Op::Ne => format!("{col} NOT IN ({list})"),
                    _ => return err(format!("{what}: a list takes = or !=")),
                })
            }
            FilterValue::Pattern(pattern) => {
                if kind != Kind::Text {
                    return err(format!("{what}: wildcards apply to text attributes only"));
                }
                let not = if op == Op::Ne { "NOT " } else { "" };
                Ok(match self.backend {
                    Backend::Postgres => {
                        let p = self.param(Bind::Text(like_pattern(pattern)));
                        format!("{col} {not}LIKE {p} ESCAPE '\\'")
                    }
                    Backend::Sqlite => {
                        let p = self.param(Bind::Text(glob_pattern(pattern)));
                        format!("{col} {not}GLOB {p}")
                    }
                })
            }
            FilterValue::Regex {
                pattern,
                case_insensitive,
            } => {
                if kind != Kind::Text {
                    return err(format!(
                        "{what}: regular expressions apply to text attributes only"
                    ));
                }
                if let Err(e) = regex::Regex::new(pattern) {
                    return err(format!(
                        "{what}: invalid regular expression: {}",
                        cut(&e.to_string())
                    ));
                }
                let negate = op == Op::NotRegex;
                Ok(match self.backend {
                    Backend::Postgres => {
                        let p = self.param(Bind::Text(pattern.clone()));
                        let operator = match (negate, case_insensitive) {
                            (false, false) => "~",
                            (false, true) => "~*",
                            (true, false) => "!~",
                            (true, true) => "!~*",
                        };
                        format!("{col} {operator} {p}")
                    }
                    Backend::Sqlite => {
                        let full = if *case_insensitive {
                            format!("(?i){pattern}")
                        } else {
                            pattern.clone()
                        };
                        let p = self.param(Bind::Text(full));
                        let not = if negate { "NOT " } else { "" };
                        format!("{not}COALESCE(regexp({p}, {col}), 0)")
                    }
                })
            }
            FilterValue::Text(_) | FilterValue::Bare(_) => {
                let sql_op = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Regex | Op::NotRegex => {
                        return err(format!("{what}: =~ and !~ take /pattern/"));
                    }
                };
                let p = self.typed(kind, value, what)?;
                Ok(format!("{col} {sql_op} {p}"))
            }
        }
    }

    /// The SQL of one clause on collection `c` (alias `t`).
    fn clause(&mut self, c: &Collection, clause: &Clause) -> Result<String, QueryError> {
        let what = format!("filter `{}`", clause_name(clause));
        match clause.attr.assoc.as_deref() {
            None => {
                let attr = c.attr(&clause.attr.name).ok_or_else(|| {
                    QueryError(format!(
                        "{what}: {} has no attribute `{}`",
                        c.name,
                        cut(&clause.attr.name)
                    ))
                })?;
                self.predicate(
                    &format!("t.{}", attr.name),
                    attr.kind,
                    clause.op,
                    &clause.value,
                    &what,
                )
            }
            Some(map @ ("labels" | "annotations")) => {
                if c.attr(map).is_none() {
                    return err(format!("{what}: {} have no {map}", c.name));
                }
                self.map_key(map, &clause.attr.name, clause.op, &clause.value, &what)
            }
            Some(assoc_name) => {
                let assoc = c.assoc(assoc_name).ok_or_else(|| {
                    QueryError(format!(
                        "{what}: {} has no association `{}`",
                        c.name,
                        cut(assoc_name)
                    ))
                })?;
                let target = collection(assoc.target)
                    .ok_or_else(|| QueryError(format!("{what}: unknown association")))?;
                let attr = target.attr(&clause.attr.name).ok_or_else(|| {
                    QueryError(format!(
                        "{what}: {} has no attribute `{}`",
                        target.name,
                        cut(&clause.attr.name)
                    ))
                })?;
                let inner = self.predicate(
                    &format!("j.{}", attr.name),
                    attr.kind,
                    clause.op,
                    &clause.value,
                    &what,
                )?;
                Ok(format!(
                    "t.{} IN (SELECT j.id FROM {} j WHERE {inner})",
                    assoc.fk, target.table
                ))
            }
        }
    }

    /// A predicate on `key` of the JSON map column `map` (`labels` or `annotations`,
    /// each with its `_jsonb` twin on PostgreSQL).
    fn map_key(
        &mut self,
        map: &str,
        key: &str,
        op: Op,
        value: &FilterValue,
        what: &str,
    ) -> Result<String, QueryError> {
        match (self.backend, op, value) {
            // Equality by containment, which the GIN index on labels_jsonb serves.
            (Backend::Postgres, Op::Eq | Op::Ne, FilterValue::Text(v) | FilterValue::Bare(v)) => {
                let doc = serde_json::json!({ key: v }).to_string();
                let p = self.param(Bind::Text(doc));
                let not = if op == Op::Ne { "NOT " } else { "" };
                Ok(format!("{not}(t.{map}_jsonb @> CAST({p} AS jsonb))"))
            }
            (Backend::Postgres, _, _) => {
                let k = self.param(Bind::Text(key.to_string()));
                self.predicate(
                    &format!("(t.{map}_jsonb ->> {k})"),
                    Kind::Text,
                    op,
                    value,
                    what,
                )
            }
            (Backend::Sqlite, _, _) => {
                let path = format!("$.\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""));
                let k = self.param(Bind::Text(path));
                self.predicate(
                    &format!("json_extract(t.{map}, {k})"),
                    Kind::Text,
                    op,
                    value,
                    what,
                )
            }
        }
    }

    /// What the caller may see, as a predicate on `t` (None: everything).
    fn visibility(&mut self, c: &Collection, v: &Visibility) -> Option<String> {
        if v.is_unrestricted() {
            return None;
        }
        let mut provider_preds = Vec::new();
        if let Some(tenant) = v.tenant_id {
            let p = self.param(Bind::Int(tenant));
            provider_preds.push(format!(
                "p.tenant_id IN (WITH RECURSIVE sub(id) AS (SELECT CAST({p} AS BIGINT) UNION ALL \
                 SELECT tn.id FROM tenants tn JOIN sub ON tn.parent_id = sub.id) SELECT id FROM sub)"
            ));
        }
        if let Some(ids) = &v.providers {
            if ids.is_empty() {
                provider_preds.push("1 = 0".into());
            } else {
                let list: Vec<String> = ids.iter().map(|id| self.param(Bind::Int(*id))).collect();
                provider_preds.push(format!("p.id IN ({})", list.join(", ")));
            }
        }
        let mut preds = Vec::new();
        if !provider_preds.is_empty() {
            let on_providers = provider_preds.join(" AND ");
            preds.push(match c.scope {
                Scope::Provider => on_providers.replace("p.", "t."),
                Scope::ProviderOwned => {
                    format!("t.provider_id IN (SELECT p.id FROM providers p WHERE {on_providers})")
                }
            });
        }
        // Only collections reached by project: binding the names for another would
        // leave parameters no placeholder takes (SQLite refuses the statement).
        let by_project = c.in_project || c.name == "container_projects" || c.name == "containers";
        if let Some(names) = v.projects.as_ref().filter(|_| by_project) {
            let list: Vec<String> = names
                .iter()
                .map(|n| self.param(Bind::Text(n.clone())))
                .collect();
            let names_sql = if list.is_empty() {
                "NULL".to_string()
            } else {
                list.join(", ")
            };
            if c.in_project {
                preds.push(format!(
                    "t.container_project_id IN (SELECT pr.id FROM container_projects pr WHERE pr.name IN ({names_sql}))"
                ));
            } else if c.name == "container_projects" {
                preds.push(format!("t.name IN ({names_sql})"));
            } else if c.name == "containers" {
                preds.push(format!(
                    "t.container_group_id IN (SELECT g.id FROM container_groups g JOIN container_projects pr \
                     ON pr.id = g.container_project_id WHERE pr.name IN ({names_sql}))"
                ));
            }
        }
        if let Some(groups) = &v.tags {
            for any_of in groups {
                preds.push(self.tagged(c, any_of));
            }
        }
        (!preds.is_empty()).then(|| preds.join(" AND "))
    }

    /// `t` carries at least one of the (category, tag) pairs.
    fn tagged(&mut self, c: &Collection, any_of: &[(String, String)]) -> String {
        if any_of.is_empty() {
            return "1 = 0".into();
        }
        let mut alternatives = Vec::new();
        for (category, tag) in any_of {
            let k = self.param(Bind::Text(category.clone()));
            let x = self.param(Bind::Text(tag.clone()));
            alternatives.push(format!("(k.name = {k} AND x.name = {x})"));
        }
        format!(
            "t.id IN (SELECT tg.taggable_id FROM taggings tg JOIN tags x ON x.id = tg.tag_id \
             JOIN categories k ON k.id = x.category_id WHERE tg.taggable_type = '{}' AND ({}))",
            c.name,
            alternatives.join(" OR ")
        )
    }
}

/// Builds the statements of `q` on `c` for `backend`, as `v` may see it.
pub fn build(
    backend: Backend,
    c: &Collection,
    q: &Query,
    v: &Visibility,
) -> Result<Built, QueryError> {
    let mut b = Builder {
        backend,
        binds: Vec::new(),
    };
    let mut base = Vec::new();
    if c.soft_delete && !q.include_deleted {
        base.push("t.deleted_on IS NULL".to_string());
    }
    for (fk, id) in &q.parents {
        let p = b.param(Bind::Int(*id));
        base.push(format!("t.{fk} = {p}"));
    }
    if let Some((fk, ids)) = &q.parent_in {
        if ids.is_empty() {
            base.push("1 = 0".into());
        } else {
            let list: Vec<String> = ids.iter().map(|id| b.param(Bind::Int(*id))).collect();
            base.push(format!("t.{fk} IN ({})", list.join(", ")));
        }
    }
    if let Some(id) = q.id {
        let p = b.param(Bind::Int(id));
        base.push(format!("t.id = {p}"));
    }
    if let Some(pred) = b.visibility(c, v) {
        base.push(pred);
    }
    for pair in &q.by_tag {
        let pred = b.tagged(c, std::slice::from_ref(pair));
        base.push(pred);
    }
    let mut ands = Vec::new();
    let mut ors = Vec::new();
    for clause in &q.filters {
        let sql = b.clause(c, clause)?;
        if clause.or {
            ors.push(sql);
        } else {
            ands.push(sql);
        }
    }
    let filter = match (ands.is_empty(), ors.is_empty()) {
        (true, true) => None,
        (false, true) => Some(ands.join(" AND ")),
        (true, false) => Some(ors.join(" OR ")),
        (false, false) => Some(format!("({}) OR {}", ands.join(" AND "), ors.join(" OR "))),
    };

    // The rendered attributes: own ones, and `assoc.attr` through a join.
    let mut pairs = vec![("id".to_string(), b.render("t", &c.attrs[0]))];
    let mut joins: Vec<String> = Vec::new();
    match &q.attributes {
        None => {
            for attr in c.attrs.iter().skip(1) {
                pairs.push((attr.name.to_string(), b.render("t", attr)));
            }
        }
        Some(names) => {
            let mut nested: Vec<(String, Vec<(String, String)>)> = Vec::new();
            for name in names {
                match name.split_once('.') {
                    None => {
                        let attr = c.attr(name).ok_or_else(|| {
                            QueryError(format!(
                                "attributes: {} has no attribute `{}`",
                                c.name,
                                cut(name)
                            ))
                        })?;
                        if attr.name != "id" && !pairs.iter().any(|(k, _)| k == attr.name) {
                            pairs.push((attr.name.to_string(), b.render("t", attr)));
                        }
                    }
                    Some((assoc_name, attr_name)) => {
                        let assoc = c.assoc(assoc_name).ok_or_else(|| {
                            QueryError(format!(
                                "attributes: {} has no association `{}`",
                                c.name,
                                cut(assoc_name)
                            ))
                        })?;
                        let target = collection(assoc.target)
                            .ok_or_else(|| QueryError("attributes: unknown association".into()))?;
                        let attr = target.attr(attr_name).ok_or_else(|| {
                            QueryError(format!(
                                "attributes: {} has no attribute `{}`",
                                target.name,
                                cut(attr_name)
                            ))
                        })?;
                        let alias = format!("j_{}", assoc.name);
                        if !joins.iter().any(|j| j.contains(&format!(" {alias} "))) {
                            joins.push(format!(
                                "LEFT JOIN {} {alias} ON {alias}.id = t.{}",
                                target.table, assoc.fk
                            ));
                        }
                        let rendered = b.render(&alias, attr);
                        match nested.iter_mut().find(|(n, _)| n == assoc.name) {
                            Some((_, list)) => list.push((attr.name.to_string(), rendered)),
                            None => nested.push((
                                assoc.name.to_string(),
                                vec![(attr.name.to_string(), rendered)],
                            )),
                        }
                    }
                }
            }
            for (name, list) in nested {
                let object = b.object(&list);
                pairs.push((name, object));
            }
        }
    }

    // The sort keys, each as an expression on `t` and its direction.
    let mut keys: Vec<(String, &'static str)> = Vec::new();
    for key in &q.sort {
        let attr = c.attr(&key.attr).ok_or_else(|| {
            QueryError(format!(
                "sort_by: {} has no attribute `{}`",
                c.name,
                cut(&key.attr)
            ))
        })?;
        if attr.kind == Kind::Json {
            return err(format!("sort_by: `{}` cannot be sorted", attr.name));
        }
        let col = if q.ignore_case && attr.kind == Kind::Text {
            format!("lower(t.{})", attr.name)
        } else {
            format!("t.{}", attr.name)
        };
        keys.push((col, if key.descending { "DESC" } else { "ASC" }));
    }
    // Text sorts by code point on both databases (SQLite's BINARY), which is also
    // several times cheaper on PostgreSQL than a locale's collation.
    let text_keys: Vec<bool> = q
        .sort
        .iter()
        .map(|k| c.attr(&k.attr).is_some_and(|a| a.kind == Kind::Text))
        .collect();
    let collate = |i: usize| {
        if text_keys[i] && backend == Backend::Postgres {
            " COLLATE \"C\""
        } else {
            ""
        }
    };
    let order_on = |name: &dyn Fn(usize, &str) -> String, id: &str| {
        let mut order: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, (col, dir))| format!("{}{} {dir}", name(i, col), collate(i)))
            .collect();
        order.push(format!("{id} ASC"));
        order.join(", ")
    };
    let order_sql = order_on(&|_, col| col.to_string(), "t.id");

    let base_sql = if base.is_empty() {
        "1 = 1".to_string()
    } else {
        base.join(" AND ")
    };
    let row = b.object(&pairs);
    let row = match backend {
        Backend::Postgres => format!("CAST({row} AS TEXT)"),
        Backend::Sqlite => row,
    };
    // Two counts as scalar subqueries, so that the filtered one can use the filter's
    // indexes (a label's GIN index) instead of evaluating it on every visible row.
    let table = c.table;
    let (count_sql, where_sql) = match &filter {
        Some(f) => (
            format!(
                "SELECT CAST((SELECT count(*) FROM {table} t WHERE {base_sql}) AS BIGINT) AS total, \
                 CAST((SELECT count(*) FROM {table} t WHERE {base_sql} AND ({f})) AS BIGINT) AS matched"
            ),
            format!("{base_sql} AND ({f})"),
        ),
        None => (
            format!(
                "SELECT CAST(count(*) AS BIGINT) AS total, CAST(count(*) AS BIGINT) AS matched \
                 FROM {table} t WHERE {base_sql}"
            ),
            base_sql.clone(),
        ),
    };
    let limit = q.limit.max(0);
    let offset = q.offset.max(0);
    // The page's ids first (narrow rows to sort and skip), then JSON for those only.
    let page_sql = format!(
        "SELECT {row} AS row FROM {table} t {} WHERE t.id IN (SELECT t.id FROM {table} t \
         WHERE {where_sql} ORDER BY {order_sql} LIMIT {limit} OFFSET {offset}) ORDER BY {order_sql}",
        joins.join(" "),
    );
    let render_sql = format!(
        "SELECT {row} AS row FROM {table} t {} WHERE t.id IN ({IDS}) ORDER BY {order_sql}",
        joins.join(" "),
    );
    // With a filter, the matching rows (id and sort keys) are found once: counted and
    // sorted from the materialised set.
    let filtered_sql = filter.as_ref().map(|_| {
        let columns: String = keys
            .iter()
            .enumerate()
            .map(|(i, (col, _))| format!(", {col} AS k{i}"))
            .collect();
        let m_order = order_on(&|i, _| format!("k{i}"), "id");
        let ids = match backend {
            Backend::Postgres => format!(
                "array_to_string(ARRAY(SELECT id FROM m ORDER BY {m_order} \
                 LIMIT {limit} OFFSET {offset}), ',')"
            ),
            Backend::Sqlite => format!(
                "(SELECT group_concat(id, ',') FROM (SELECT id FROM m ORDER BY {m_order} \
                 LIMIT {limit} OFFSET {offset}))"
            ),
        };
        format!(
            "WITH m AS MATERIALIZED (SELECT t.id AS id{columns} FROM {table} t WHERE {where_sql}) \
             SELECT CAST((SELECT count(*) FROM {table} t WHERE {base_sql}) AS BIGINT) AS total, \
             CAST((SELECT count(*) FROM m) AS BIGINT) AS matched, \
             CAST(COALESCE({ids}, '') AS TEXT) AS ids"
        )
    });
    let stamped_sql = match (&filter, backend) {
        (Some(_), Backend::Postgres) => {
            let stamp = "(SELECT CAST(sum(n) AS BIGINT) FROM change_stamps)";
            Some(format!(
                "SELECT {stamp} AS stamp, \
                 CASE WHEN {stamp} = {STAMP} THEN NULL ELSE \
                 CAST((SELECT count(*) FROM {table} t WHERE {base_sql}) AS BIGINT) END AS total, \
                 CASE WHEN {stamp} = {STAMP} THEN NULL ELSE \
                 CAST((SELECT count(*) FROM {table} t WHERE {where_sql}) AS BIGINT) END AS matched, \
                 CAST(COALESCE(array_to_string(ARRAY(SELECT t.id FROM {table} t WHERE {where_sql} \
                 ORDER BY {order_sql} LIMIT {limit} OFFSET {offset}), ','), '') AS TEXT) AS ids"
            ))
        }
        _ => None,
    };
    let count_key = format!("{table}\u{0}{base_sql}\u{0}{where_sql}");
    Ok(Built {
        count_sql,
        page_sql,
        filtered_sql,
        stamped_sql,
        count_key,
        render_sql,
        binds: b.binds,
        filtered: filter.is_some(),
    })
}

/// `%` and `*` are wildcards; `_` and `\` are literal.
fn like_pattern(pattern: &str) -> String {
    let mut out = String::new();
    for ch in pattern.chars() {
        match ch {
            '%' | '*' => out.push('%'),
            '_' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            other => out.push(other),
        }
    }
    out
}

/// `%` and `*` are wildcards; GLOB's `?` and `[` are made literal.
fn glob_pattern(pattern: &str) -> String {
    let mut out = String::new();
    for ch in pattern.chars() {
        match ch {
            '%' | '*' => out.push('*'),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}

/// RFC 3339, or a date (midnight UTC).
fn parse_time(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.naive_utc());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn cut(text: &str) -> &str {
    crate::text::truncate(text, 60)
}

fn clause_name(clause: &Clause) -> String {
    match &clause.attr.assoc {
        Some(a) => format!("{a}.{}", cut(&clause.attr.name)),
        None => cut(&clause.attr.name).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_query::params;

    #[test]
    fn a_project_restriction_binds_nothing_for_collections_not_reached_by_project() {
        let v = Visibility {
            projects: Some(vec!["web".into()]),
            ..Visibility::default()
        };
        for name in ["providers", "container_nodes", "container_groups"] {
            let c = collection(name).expect("collection");
            let (q, _) = params::parse("", c, 10).expect("query");
            let built = build(Backend::Sqlite, c, &q, &v).expect("built");
            let placeholders = (1..=built.binds.len())
                .filter(|n| built.page_sql.contains(&format!("?{n}")))
                .count();
            assert_eq!(
                placeholders,
                built.binds.len(),
                "{name}: {}",
                built.page_sql
            );
        }
    }
}
