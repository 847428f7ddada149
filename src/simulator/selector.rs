//! `labelSelector` and `fieldSelector`, read as kube-apiserver reads them, for lists
//! and watches.
//!
//! Label selectors follow apimachinery's grammar (`pkg/labels/selector.go`):
//! comma-separated requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
//! `k` (exists), `!k` (does not exist), `k>n`, `k<n`. No crate parses that grammar
//! (kube's [`Selector`] and [`Expression`] build selectors for clients and print them),
//! so the parser here is small and bounded: one pass of a tokenizer over at most
//! [`MAX_SELECTOR_LEN`] bytes, then a loop over the tokens, no recursion. What it
//! parses into *is* kube's [`Expression`], and matching is kube's
//! [`SelectorExt::matches`]; only the numeric `>`/`<`, which kube does not model, are
//! matched here.
//!
//! Field selectors follow `pkg/fields/selector.go`: comma-separated `field=value`,
//! `field==value` or `field!=value` terms, `\` escaping `,`, `=` and `\` in values.
//! Which fields a resource supports is its own (as the API server's field label
//! conversion functions decide): `metadata.name` everywhere, `metadata.namespace` on
//! namespaced kinds, `spec.nodeName` and `status.phase` on pods, `involvedObject.*` on
//! events, and so on. Anything else is refused, as the real server refuses it.

use std::borrow::Cow;
use std::collections::BTreeSet;

use kube::core::{Expression, Selector, SelectorExt};

use super::objects::{Body, Object, Resource};

/// The longest selector accepted (a real API server's URL limit is of this order).
pub const MAX_SELECTOR_LEN: usize = 16 * 1024;

/// Why a selector was refused: the message a real API server would give (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// What a list or watch keeps: objects matching both selectors.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    /// The filter of a request's `labelSelector` and `fieldSelector` for `resource`.
    pub fn parse(
        resource: Resource,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, SelectorError> {
        let labels = LabelSelector::parse(label_selector.unwrap_or(""))?;
        let fields = FieldSelector::parse(field_selector.unwrap_or(""))?;
        // The server says only this; kubectl puts "Unable to find … that match label
        // selector …, field selector …:" in front of it.
        if let Some(field) = fields.unsupported(resource) {
            return Err(SelectorError(format!("field label not supported: {field}")));
        }
        Ok(Filter { labels, fields })
    }

    /// A filter that also requires `metadata.name` to be `name` (a watch of one object).
    pub fn with_name(mut self, name: &str) -> Self {
        self.fields.terms.push(FieldTerm {
            field: "metadata.name".into(),
            value: name.into(),
            equal: true,
        });
        self
    }

    /// True when the filter keeps every object.
    pub fn is_everything(&self) -> bool {
        self.labels.is_everything() && self.fields.terms.is_empty()
    }

    pub fn matches(&self, object: &Object) -> bool {
        self.fields.matches(object) && self.labels.matches(&object.metadata.labels)
    }
}

/// A parsed `labelSelector`: kube's expressions, plus the numeric comparisons.
#[derive(Debug, Clone, Default)]
pub struct LabelSelector {
    expressions: Selector,
    /// `key>n` (`Greater`) and `key<n` (`Less`): the label must be an integer.
    numeric: Vec<(String, std::cmp::Ordering, i64)>,
}

impl LabelSelector {
    pub fn is_everything(&self) -> bool {
        self.expressions.selects_all() && self.numeric.is_empty()
    }

    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.expressions.matches(labels)
            && self.numeric.iter().all(|(key, wanted, bound)| {
                labels
                    .get(key)
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v.cmp(bound) == *wanted)
            })
    }

    /// Parses a selector (empty selects everything).
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.len() > MAX_SELECTOR_LEN {
            return Err(SelectorError(format!(
                "label selector is longer than {MAX_SELECTOR_LEN} bytes"
            )));
        }
        let tokens = tokenize(text);
        let mut parser = Parser { tokens, at: 0 };
        let mut expressions = Vec::new();
        let mut numeric = Vec::new();
        loop {
            match parser.peek_value() {
                Token::Ident(_) | Token::Bang => {
                    match parser
                        .requirement()
                        .map_err(|e| SelectorError(format!("unable to parse requirement: {e}")))?
                    {
                        Requirement::Expression(e) => expressions.push(e),
                        Requirement::Numeric(key, order, bound) => {
                            numeric.push((key, order, bound))
                        }
                    }
                    match parser.next_value() {
                        Token::End => break,
                        Token::Comma => {
                            let after = parser.peek_value();
                            if !matches!(after, Token::Ident(_) | Token::Bang) {
                                return Err(SelectorError(format!(
                                    "found '{}', expected: identifier after ','",
                                    after.literal()
                                )));
                            }
                        }
                        other => {
                            return Err(SelectorError(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                other.literal()
                            )));
                        }
                    }
                }
                Token::End => break,
                other => {
                    return Err(SelectorError(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    )));
                }
            }
        }
        Ok(LabelSelector {
            expressions: expressions.into_iter().collect(),
            numeric,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    In,
    NotIn,
    Bang,
    NotEquals,
    Equals,
    DoubleEquals,
    Greater,
    Less,
    Comma,
    Open,
    Close,
    End,
    /// Special characters that form no operator (`=!`, `<>`…).
    Error(String),
}

impl Token {
    fn literal(&self) -> &str {
        match self {
            Token::Ident(s) | Token::Error(s) => s,
            Token::In => "in",
            Token::NotIn => "notin",
            Token::Bang => "!",
            Token::NotEquals => "!=",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::Greater => ">",
            Token::Less => "<",
            Token::Comma => ",",
            Token::Open => "(",
            Token::Close => ")",
            Token::End => "",
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn special(s: &str) -> Option<Token> {
    Some(match s {
        "!" => Token::Bang,
        "!=" => Token::NotEquals,
        "(" => Token::Open,
        ")" => Token::Close,
        "," => Token::Comma,
        "=" => Token::Equals,
        "==" => Token::DoubleEquals,
        ">" => Token::Greater,
        "<" => Token::Less,
        _ => return None,
    })
}

/// apimachinery's lexer: identifiers run until whitespace or a special character;
/// special characters are read while they still form an operator.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let Some(first) = rest.chars().next() else {
            tokens.push(Token::End);
            return tokens;
        };
        if is_special(first) {
            let mut best: Option<(Token, usize)> = None;
            let mut end = 0;
            for (i, c) in rest.char_indices() {
                if !is_special(c) {
                    break;
                }
                end = i + c.len_utf8();
                match special(&rest[..end]) {
                    Some(t) => best = Some((t, end)),
                    None if best.is_some() => break,
                    None => {}
                }
            }
            match best {
                Some((token, len)) => {
                    tokens.push(token);
                    rest = &rest[len..];
                }
                None => {
                    tokens.push(Token::Error(format!(
                        "error expected: keyword found '{}'",
                        &rest[..end]
                    )));
                    tokens.push(Token::End);
                    return tokens;
                }
            }
        } else {
            let end = rest
                .char_indices()
                .find(|(_, c)| is_special(*c) || matches!(c, ' ' | '\t' | '\r' | '\n'))
                .map_or(rest.len(), |(i, _)| i);
            tokens.push(match &rest[..end] {
                "in" => Token::In,
                "notin" => Token::NotIn,
                word => Token::Ident(word.to_string()),
            });
            rest = &rest[end..];
        }
    }
}

enum Requirement {
    Expression(Expression),
    Numeric(String, std::cmp::Ordering, i64),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn raw(&self) -> Token {
        self.tokens.get(self.at).cloned().unwrap_or(Token::End)
    }

    /// The next token where a value may stand: `in` and `notin` are words there.
    fn peek_value(&self) -> Token {
        match self.raw() {
            Token::In => Token::Ident("in".into()),
            Token::NotIn => Token::Ident("notin".into()),
            t => t,
        }
    }

    fn next_value(&mut self) -> Token {
        let t = self.peek_value();
        self.at += 1;
        t
    }

    fn next_operator(&mut self) -> Token {
        let t = self.raw();
        self.at += 1;
        t
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut absent = false;
        let mut token = self.next_value();
        if token == Token::Bang {
            absent = true;
            token = self.next_value();
        }
        let key = match token {
            Token::Ident(key) => key,
            other => return Err(format!("found '{}', expected: identifier", other.literal())),
        };
        validate_key(&key)?;
        // `!key` takes no operator: whatever follows it is the caller's to refuse.
        if absent {
            return Ok(Requirement::Expression(Expression::DoesNotExist(key)));
        }
        if matches!(self.peek_value(), Token::End | Token::Comma) {
            return Ok(Requirement::Expression(Expression::Exists(key)));
        }
        let operator = self.next_operator();
        let expression = match operator {
            Token::In | Token::NotIn => {
                let values = self.values()?;
                if operator == Token::In {
                    Expression::In(key, values)
                } else {
                    Expression::NotIn(key, values)
                }
            }
            Token::Equals | Token::DoubleEquals | Token::NotEquals => {
                let value = self.exact_value()?;
                if operator == Token::NotEquals {
                    Expression::NotEqual(key, value)
                } else {
                    Expression::Equal(key, value)
                }
            }
            Token::Greater | Token::Less => {
                let value = self.exact_value()?;
                let bound = value.parse::<i64>().map_err(|_| {
                    format!("for 'Gt', 'Lt' operators, the value must be an integer: {value:?}")
                })?;
                let order = if operator == Token::Greater {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                };
                return Ok(Requirement::Numeric(key, order, bound));
            }
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                ));
            }
        };
        Ok(Requirement::Expression(expression))
    }

    /// `(a,b,…)`; empty members (`(,a)`, `()`) are the empty value, as upstream.
    fn values(&mut self) -> Result<BTreeSet<String>, String> {
        let open = self.next_value();
        if open != Token::Open {
            return Err(format!("found '{}' expected: '('", open.literal()));
        }
        let mut values = BTreeSet::new();
        match self.peek_value() {
            Token::Close => {
                self.at += 1;
                values.insert(String::new());
                return Ok(values);
            }
            Token::Ident(_) | Token::Comma => {}
            other => {
                return Err(format!(
                    "found '{}', expected: ',', ')' or identifier",
                    other.literal()
                ));
            }
        }
        // apimachinery's parseIdentifiersList, step for step (commas are looked at
        // before they are taken). Every pass takes a token and the tokens end with End:
        // this terminates.
        loop {
            match self.next_value() {
                Token::Ident(v) => {
                    validate_value(&v)?;
                    values.insert(v);
                    match self.peek_value() {
                        Token::Comma => continue,
                        Token::Close => break,
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or ')'",
                                other.literal()
                            ));
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    match self.peek_value() {
                        Token::Close => {
                            values.insert(String::new());
                            break;
                        }
                        Token::Comma => {
                            self.at += 1;
                            values.insert(String::new());
                        }
                        _ => {}
                    }
                }
                other => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        other.literal()
                    ));
                }
            }
        }
        let close = self.next_value();
        if close != Token::Close {
            return Err(format!("found '{}', expected: ')'", close.literal()));
        }
        Ok(values)
    }

    /// The value after `=`, `==`, `!=`, `>` or `<` (nothing is the empty value).
    fn exact_value(&mut self) -> Result<String, String> {
        match self.peek_value() {
            Token::End | Token::Comma => Ok(String::new()),
            Token::Ident(v) => {
                self.at += 1;
                validate_value(&v)?;
                Ok(v)
            }
            other => Err(format!("found '{}', expected: identifier", other.literal())),
        }
    }
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: lowercase, digits, `-` and `.`, at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

const NAME_RULE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Err(format!(
            "key: Invalid value: \"{key}\": prefix part must be a lowercase RFC 1123 subdomain"
        ));
    }
    if name.len() > 63 {
        return Err(format!(
            "key: Invalid value: \"{key}\": name part must be no more than 63 characters"
        ));
    }
    if !is_label_name(name) {
        return Err(format!("key: Invalid value: \"{key}\": {NAME_RULE}"));
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        return Ok(());
    }
    Err(format!(
        "values[0][{value}]: Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, at most 63 characters"
    ))
}

/// A parsed `fieldSelector`.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    value: String,
    /// `=`/`==` (true) or `!=` (false).
    equal: bool,
}

impl FieldSelector {
    /// Parses a selector (empty selects everything).
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.len() > MAX_SELECTOR_LEN {
            return Err(SelectorError(format!(
                "field selector is longer than {MAX_SELECTOR_LEN} bytes"
            )));
        }
        let mut terms = Vec::new();
        for part in split_terms(text) {
            if part.is_empty() {
                continue;
            }
            let Some((field, equal, raw)) = split_term(part) else {
                return Err(SelectorError(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            terms.push(FieldTerm {
                field: field.to_string(),
                value: unescape(raw)?,
                equal,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// The first field `resource` does not support, if any.
    fn unsupported(&self, resource: Resource) -> Option<&str> {
        let supported = supported_fields(resource);
        self.terms
            .iter()
            .map(|t| t.field.as_str())
            .find(|f| !supported.contains(f))
    }

    fn matches(&self, object: &Object) -> bool {
        self.terms
            .iter()
            .all(|t| (field_value(object, &t.field) == t.value.as_str()) == t.equal)
    }
}

/// Splits on unescaped commas (escaped ones stay, with their backslash).
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

/// The first `!=`, `==` or `=` splits field from value (fields have no escapes).
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, equal) in [("!=", false), ("==", true), ("=", true)] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], equal, value));
            }
        }
    }
    None
}

fn unescape(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => {
                return Err(SelectorError(format!(
                    "invalid field selector: unescaped character in value: {c}"
                )));
            }
            c => out.push(c),
        }
    }
    if escaped {
        return Err(SelectorError(
            "invalid field selector: invalid escape sequence: \\".into(),
        ));
    }
    Ok(out)
}

/// The fields a resource can be selected by (its field label conversion functions).
pub fn supported_fields(resource: Resource) -> &'static [&'static str] {
    match resource {
        Resource::Pod => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        Resource::Node => &["metadata.name", "spec.unschedulable"],
        Resource::Namespace => &["metadata.name", "status.phase"],
        Resource::Event => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        Resource::Service => &[
            "metadata.name",
            "metadata.namespace",
            "spec.clusterIP",
            "spec.type",
        ],
        Resource::ReplicationController | Resource::ReplicaSet => {
            &["metadata.name", "metadata.namespace", "status.replicas"]
        }
        Resource::Deployment => &["metadata.name", "metadata.namespace"],
        Resource::Image => &["metadata.name"],
    }
}

/// The value of a supported field ("" for fields the simulator leaves empty).
fn field_value<'a>(object: &'a Object, field: &str) -> Cow<'a, str> {
    let meta = &object.metadata;
    let text = match (field, &object.body) {
        ("metadata.name", _) => meta.name.as_str(),
        ("metadata.namespace", _) => meta.namespace.as_str(),
        ("spec.nodeName", Body::Pod(p)) => p.spec.node_name.as_str(),
        ("spec.restartPolicy", Body::Pod(p)) => p.spec.restart_policy,
        ("spec.schedulerName", Body::Pod(_)) => "default-scheduler",
        ("spec.serviceAccountName", Body::Pod(p)) => p.spec.service_account_name,
        ("spec.hostNetwork", Body::Pod(_)) => "false",
        ("status.phase", Body::Pod(p)) => p.status.phase,
        ("status.podIP", Body::Pod(p)) => p.status.pod_ip.as_str(),
        ("spec.unschedulable", Body::Node(_)) => "false",
        ("status.phase", Body::Namespace(n)) => n.status.phase,
        ("involvedObject.kind", Body::Event(e)) => e.involved_object.kind,
        ("involvedObject.namespace", Body::Event(e)) => e.involved_object.namespace.as_str(),
        ("involvedObject.name", Body::Event(e)) => e.involved_object.name.as_str(),
        ("involvedObject.uid", Body::Event(e)) => e.involved_object.uid.as_str(),
        ("involvedObject.apiVersion", Body::Event(e)) => e.involved_object.api_version,
        ("reason", Body::Event(e)) => e.reason,
        ("reportingComponent", Body::Event(e)) => e.reporting_component,
        ("source", Body::Event(e)) => e.source.component,
        ("type", Body::Event(e)) => e.kind,
        ("spec.clusterIP", Body::Service(s)) => s.spec.cluster_ip.as_str(),
        ("spec.type", Body::Service(s)) => s.spec.kind,
        ("status.replicas", Body::Workload(w)) => {
            return Cow::Owned(w.status.replicas.to_string());
        }
        _ => "",
    };
    Cow::Borrowed(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::prng::Rng;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        LabelSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .matches(&labels(pairs))
    }

    #[test]
    fn label_selectors_read_every_operator() {
        let l = [("app", "web"), ("tier", "front"), ("n", "7")];
        assert!(selects("", &l));
        assert!(selects("app=web", &l));
        assert!(selects("app==web", &l));
        assert!(!selects("app!=web", &l));
        assert!(selects("app!=db", &[]));
        assert!(selects("app in (db, web)", &l));
        assert!(!selects("app notin (db,web)", &l));
        assert!(selects("app notin (db)", &[]));
        assert!(selects("tier", &l));
        assert!(!selects("!tier", &l));
        assert!(selects("!missing,app=web, tier in (front)", &l));
        assert!(selects("n>5,n<8", &l));
        assert!(!selects("n>7", &l));
        assert!(!selects("app>1", &l));
        assert!(selects("app=", &[("app", "")]));
        assert!(selects("in=notin", &[("in", "notin")]));
        assert!(selects(
            "app.kubernetes.io/name=web",
            &[("app.kubernetes.io/name", "web")]
        ));
        assert!(selects("x in (,a)", &[("x", "")]));
        assert!(selects("x in ()", &[("x", "")]));
    }

    #[test]
    fn malformed_label_selectors_are_refused_with_upstream_messages() {
        for bad in [
            "app=web,",
            "app in",
            "app in (a",
            "app in (a b)",
            "=web",
            "app=web=x",
            "app=!web",
            "app = a b",
            "!app=web",
            "a b",
            "app=we b",
            "Bad_Prefix/x=y",
            "x>a",
            "app<>1",
            "(",
            "app notin web",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let e = LabelSelector::parse("app in").unwrap_err();
        assert!(
            e.0.starts_with("unable to parse requirement: found ''"),
            "{e}"
        );
        let long = "a".repeat(MAX_SELECTOR_LEN + 1);
        assert!(LabelSelector::parse(&long).is_err());
    }

    /// Property: whatever kube prints, we read back to the same selector.
    #[test]
    fn printed_selectors_parse_back_to_themselves() {
        let mut rng = Rng::new(7);
        let keys = ["app", "tier", "k8s.io/role", "a-b_c.d", "in", "x9"];
        let values = ["web", "db", "", "v1.2", "A_b-c", "notin"];
        for _ in 0..2_000 {
            let n = rng.range(1, 5);
            let expressions: Vec<Expression> = (0..n)
                .map(|_| {
                    let key = rng.pick(&keys).to_string();
                    let value = rng.pick(&values).to_string();
                    let set: BTreeSet<String> = (0..rng.range(1, 4))
                        .map(|_| rng.pick(&values).to_string())
                        .filter(|v| !v.is_empty())
                        .collect();
                    let set = if set.is_empty() {
                        ["web".to_string()].into()
                    } else {
                        set
                    };
                    match rng.below(6) {
                        0 => Expression::Equal(key, value),
                        1 => Expression::NotEqual(key, value),
                        2 => Expression::In(key, set),
                        3 => Expression::NotIn(key, set),
                        4 => Expression::Exists(key),
                        _ => Expression::DoesNotExist(key),
                    }
                })
                .collect();
            let printed = expressions
                .iter()
                .cloned()
                .collect::<Selector>()
                .to_string();
            let parsed =
                LabelSelector::parse(&printed).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
            assert_eq!(
                parsed.expressions,
                expressions.into_iter().collect::<Selector>(),
                "{printed}"
            );
        }
    }

    /// Fuzz: random text over the grammar's alphabet never panics and either parses
    /// or is refused, and parsing is linear (the whole run stays fast).
    #[test]
    fn random_text_never_panics_either_selector() {
        let mut rng = Rng::new(11);
        let alphabet: Vec<char> = "ab=!(),<> \tin notin\\./-_1é".chars().collect();
        for _ in 0..20_000 {
            let len = rng.below(40);
            let text: String = (0..len).map(|_| *rng.pick(&alphabet)).collect();
            let _ = LabelSelector::parse(&text);
            let _ = FieldSelector::parse(&text);
        }
        let big = "a=b,".repeat(MAX_SELECTOR_LEN / 4 - 1) + "a=b";
        assert!(LabelSelector::parse(&big).is_ok());
        assert!(FieldSelector::parse(&big).is_ok());
    }

    #[test]
    fn field_selectors_split_unescape_and_refuse_what_upstream_refuses() {
        let s = FieldSelector::parse("spec.nodeName=node-001,status.phase!=Failed").unwrap();
        assert_eq!(s.terms.len(), 2);
        assert!(!s.terms[1].equal);
        let s = FieldSelector::parse(r"metadata.name==a\,b\=c\\").unwrap();
        assert_eq!(s.terms[0].value, r"a,b=c\");
        assert!(FieldSelector::parse("metadata.name").is_err());
        assert!(FieldSelector::parse("metadata.name=a=b").is_err());
        assert!(FieldSelector::parse(r"metadata.name=a\x").is_err());
        assert!(FieldSelector::parse(r"metadata.name=a\").is_err());
        assert!(FieldSelector::parse("").unwrap().terms.is_empty());
        assert_eq!(FieldSelector::parse("a=,,b=").unwrap().terms.len(), 2);
        let e = Filter::parse(Resource::Pod, None, Some("spec.nodeNam=x")).unwrap_err();
        assert_eq!(e.0, "field label not supported: spec.nodeNam");
        assert!(Filter::parse(Resource::Node, None, Some("metadata.namespace=x")).is_err());
        assert!(Filter::parse(Resource::Event, None, Some("involvedObject.uid=x")).is_ok());
        assert!(Filter::parse(Resource::Pod, Some("a in ("), None).is_err());
    }
}
