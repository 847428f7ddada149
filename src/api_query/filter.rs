//! The `filter[]` expressions of the ManageIQ REST API, parsed into a small AST.
//!
//! A filter is `[or ]attribute op value`, following manageiq-api's `lib/api/filter.rb`:
//!
//! - `attribute` is `name`, `association.name` (one hop), or `labels.<key>` /
//!   `annotations.<key>`, where the key may itself hold dots, slashes and dashes
//!   (`labels.app.kubernetes.io/name`).
//! - `op` is one of `=`, `!=`, `<`, `<=`, `>`, `>=`, `=~`, `!~`, and ManageIQ's `==` and
//!   `!==`, which are `=` and `!=` on an *exact* string: a quoted value compared with
//!   them is always [`FilterValue::Text`], even when it holds `%` or `*`.
//! - `value` is a quoted string (`"web"`, `'web'`; `"web*"` and `'web%'` are wildcard
//!   patterns), `NULL`/`nil`, a list `[a, "b c"]`, a regex `/pattern/` or `/pattern/i`,
//!   or a bare token (`42`, `true`, `2024-01-01`) kept as written for the SQL layer to
//!   type by the column.
//!
//! Escapes. In quoted strings, `\"` (or `\'` in single quotes) and `\\` are the
//! delimiting quote and a backslash; any other backslash is kept as written
//! (`'C:\temp'` is `C:\temp`). In regexes, `\/` becomes `/` (a slash is never special
//! in a regex) and every other escape is kept as written (`\d`, `\\`, `\.`), so the
//! pattern reaches the regex engine unchanged.
//!
//! The parser is pure: no I/O, no database, and no knowledge of which attributes exist.
//! Every failure is a [`FilterError`] whose message can be returned to the API client.

use std::fmt;

/// The longest filter expression accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// The most elements a `[ ... ]` list may hold.
pub const MAX_LIST_LEN: usize = 1000;
/// The longest `labels.` / `annotations.` key accepted, in characters.
pub const MAX_LABEL_KEY_LEN: usize = 317;

/// How many characters of the whole filter an error message quotes.
const FILTER_QUOTE_CHARS: usize = 40;
/// How many characters of a part of the filter (attribute, value) an error message quotes.
const PART_QUOTE_CHARS: usize = 20;

/// One `filter[]` expression, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// `or ` prefix: this clause is ORed with the AND of the non-`or` clauses.
    pub or: bool,
    /// The attribute compared.
    pub attr: AttrPath,
    /// The comparison.
    pub op: Op,
    /// The value compared with.
    pub value: FilterValue,
}

/// `name`, `assoc.name` (one association hop), or `labels.<key>` / `annotations.<key>`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The association (first segment) when there are two segments; for `labels.app` it
    /// is `Some("labels")`.
    pub assoc: Option<String>,
    /// The attribute (for labels: the label key, which may itself contain dots, slashes,
    /// dashes e.g. `labels.app.kubernetes.io/name` -> assoc "labels", name
    /// "app.kubernetes.io/name").
    pub name: String,
}

impl AttrPath {
    /// True for `labels.<key>` and `annotations.<key>`, whose name is a key, not a column.
    pub fn is_label_key(&self) -> bool {
        matches!(self.assoc.as_deref(), Some(first) if is_label_prefix(first))
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.assoc {
            Some(assoc) => write!(f, "{assoc}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A filter's comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` (and `==`).
    Eq,
    /// `!=` (and `!==`).
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `=~`: the attribute matches a regex.
    Regex,
    /// `!~`: the attribute does not match a regex.
    NotRegex,
}

impl Op {
    /// The operator as written in a filter (`==` and `!==` are shown as `=` and `!=`).
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
        }
    }

    /// True for `=~` and `!~`.
    pub fn is_regex(self) -> bool {
        matches!(self, Op::Regex | Op::NotRegex)
    }

    /// True for `=` and `!=`, the only operators taking patterns, NULL and lists.
    pub fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::Ne)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A filter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// A quoted string without wildcards ("web" or 'web').
    Text(String),
    /// A quoted string containing `%` or `*` (wildcards), kept raw (the SQL layer
    /// translates wildcards). Only valid with Eq/Ne.
    Pattern(String),
    /// An unquoted token (number, boolean, date, bare word) kept as written: the SQL
    /// layer types it by the column.
    Bare(String),
    /// NULL or nil (case-insensitive, unquoted). Only valid with Eq/Ne.
    Null,
    /// `[a, b, "c d"]` — each element a Text or Bare (no nested lists, no Null); only
    /// valid with Eq/Ne; at most 1000 elements.
    List(Vec<FilterValue>),
    /// `/pattern/` or `/pattern/i` (only and required with Regex/NotRegex).
    Regex {
        /// The text between the slashes, with `\/` turned into `/`.
        pattern: String,
        /// The `i` flag.
        case_insensitive: bool,
    },
}

/// Why a filter expression was refused: a plain-English message for the API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// The operators, longest first so that `<=` wins over `<`, `!==` over `!=`, and so on.
const OPERATORS: [(&str, Op, bool); 10] = [
    ("!==", Op::Ne, true),
    ("==", Op::Eq, true),
    ("!=", Op::Ne, false),
    ("=~", Op::Regex, false),
    ("!~", Op::NotRegex, false),
    ("<=", Op::Le, false),
    (">=", Op::Ge, false),
    ("<", Op::Lt, false),
    (">", Op::Gt, false),
    ("=", Op::Eq, false),
];

/// The characters operators are made of.
fn is_operator_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '~')
}

/// The operator found in a filter: where it is, what it is, and whether it is the exact
/// form (`==`, `!==`).
struct FoundOp {
    start: usize,
    end: usize,
    op: Op,
    exact: bool,
}

/// Parses one `filter[]` expression, e.g. `name = "web*"`, `or ems.name != nil`,
/// `labels.app.kubernetes.io/name =~ /^api/i`, `id = [1, 2, 3]`.
pub fn parse_clause(text: &str) -> Result<Clause, FilterError> {
    check_bounds(text)?;
    let ctx = Ctx { filter: text };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FilterError(
            "a filter is empty: write `attribute operator value`, e.g. name = \"web\"".into(),
        ));
    }
    let (or, rest) = strip_or_prefix(trimmed);
    let found = find_operator(&ctx, rest)?;
    let attr = parse_attr(&ctx, &rest[..found.start])?;
    let value = parse_value(&ctx, rest[found.end..].trim(), found.op, found.exact)?;
    check_compatible(&ctx, found.op, &value)?;
    Ok(Clause {
        or,
        attr,
        op: found.op,
        value,
    })
}

/// The filter being parsed, for error messages.
struct Ctx<'a> {
    filter: &'a str,
}

impl Ctx<'_> {
    /// An error about this filter: "filter `…`: {message}".
    fn err(&self, message: impl fmt::Display) -> FilterError {
        FilterError(format!(
            "filter `{}`: {message}",
            snippet(self.filter.trim(), FILTER_QUOTE_CHARS)
        ))
    }
}

/// At most `max` characters of `text`, with control characters replaced and `…` when
/// cut, for quoting in an error message.
fn snippet(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// A part of the filter (attribute, value, trailing text), quoted for an error message.
fn part(text: &str) -> String {
    snippet(text, PART_QUOTE_CHARS)
}

/// The length and character bounds, checked before anything else.
fn check_bounds(text: &str) -> Result<(), FilterError> {
    if text.len() > MAX_FILTER_LEN {
        return Err(FilterError(format!(
            "filter `{}` is {} bytes long; a filter may be at most {MAX_FILTER_LEN} bytes",
            snippet(text, FILTER_QUOTE_CHARS),
            text.len()
        )));
    }
    if let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
        return Err(FilterError(format!(
            "filter `{}` contains a control character (U+{:04X}) at byte {at}; \
             control characters such as tabs, newlines and NUL are not allowed",
            snippet(text, FILTER_QUOTE_CHARS),
            u32::from(c)
        )));
    }
    Ok(())
}

/// Removes a leading `or ` (any case, then whitespace), returning whether it was there.
fn strip_or_prefix(text: &str) -> (bool, &str) {
    let is_or = text
        .get(..2)
        .is_some_and(|head| head.eq_ignore_ascii_case("or"));
    match text.get(2..) {
        Some(rest) if is_or && rest.starts_with(char::is_whitespace) => (true, rest.trim_start()),
        _ => (false, text),
    }
}

/// Finds the operator: the first run of operator characters, which must be exactly one
/// of the known operators (so `=>` or `=!` are refused rather than read as `=`).
fn find_operator(ctx: &Ctx<'_>, text: &str) -> Result<FoundOp, FilterError> {
    let Some(start) = text.find(is_operator_char) else {
        return Err(ctx.err(
            "no operator found; write `attribute operator value` with one of \
             =, !=, <, <=, >, >=, =~, !~",
        ));
    };
    let after = &text[start..];
    let run_len = after.find(|c| !is_operator_char(c)).unwrap_or(after.len());
    let run = &after[..run_len];
    match OPERATORS.iter().find(|(symbol, _, _)| *symbol == run) {
        Some(&(_, op, exact)) => Ok(FoundOp {
            start,
            end: start + run_len,
            op,
            exact,
        }),
        None => Err(ctx.err(format_args!(
            "unknown operator `{}`; use one of =, !=, <, <=, >, >=, =~, !~",
            part(run)
        ))),
    }
}

/// `labels` and `annotations`, whose second segment is a free-form key.
fn is_label_prefix(segment: &str) -> bool {
    segment == "labels" || segment == "annotations"
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label or annotation key: 1-317 characters of `[A-Za-z0-9._/-]`.
fn is_label_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_LABEL_KEY_LEN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
}

/// Parses the attribute (the text before the operator).
fn parse_attr(ctx: &Ctx<'_>, text: &str) -> Result<AttrPath, FilterError> {
    let attr = text.trim();
    if attr.is_empty() {
        return Err(ctx.err("the attribute is missing before the operator"));
    }
    match attr.split_once('.') {
        Some((first, key)) if is_label_prefix(first) => parse_label_attr(ctx, first, key),
        Some((first, rest)) => parse_assoc_attr(ctx, attr, first, rest),
        None if is_identifier(attr) => Ok(AttrPath {
            assoc: None,
            name: attr.to_owned(),
        }),
        None => Err(bad_attr(ctx, attr)),
    }
}

/// `labels.<key>` or `annotations.<key>`.
fn parse_label_attr(ctx: &Ctx<'_>, prefix: &str, key: &str) -> Result<AttrPath, FilterError> {
    if is_label_key(key) {
        return Ok(AttrPath {
            assoc: Some(prefix.to_owned()),
            name: key.to_owned(),
        });
    }
    Err(ctx.err(format_args!(
        "`{prefix}.` must be followed by a key of 1 to {MAX_LABEL_KEY_LEN} letters, digits, \
         dots, dashes, underscores or slashes (got `{}`)",
        part(key)
    )))
}

/// `association.name`: exactly two identifiers.
fn parse_assoc_attr(
    ctx: &Ctx<'_>,
    attr: &str,
    first: &str,
    rest: &str,
) -> Result<AttrPath, FilterError> {
    if rest.contains('.') && attr.split('.').all(is_identifier) {
        return Err(ctx.err(format_args!(
            "attribute `{}` is more than one association away; \
             at most one hop such as `association.name` is supported",
            part(attr)
        )));
    }
    if is_identifier(first) && is_identifier(rest) {
        return Ok(AttrPath {
            assoc: Some(first.to_owned()),
            name: rest.to_owned(),
        });
    }
    Err(bad_attr(ctx, attr))
}

/// The error for an attribute that is not a valid name.
fn bad_attr(ctx: &Ctx<'_>, attr: &str) -> FilterError {
    ctx.err(format_args!(
        "attribute `{}` is not valid; write `name`, `association.name`, `labels.<key>` \
         or `annotations.<key>` (names are letters, digits and underscores)",
        part(attr)
    ))
}

/// Parses the value (the trimmed text after the operator).
fn parse_value(ctx: &Ctx<'_>, text: &str, op: Op, exact: bool) -> Result<FilterValue, FilterError> {
    if text.is_empty() {
        return Err(ctx.err(format_args!(
            "the value is missing after the operator `{op}`"
        )));
    }
    if op.is_regex() {
        if !text.starts_with('/') {
            return Err(ctx.err(format_args!(
                "a regex value must be written /pattern/ or /pattern/i after `{op}`"
            )));
        }
        return parse_regex(ctx, text);
    }
    match text.chars().next() {
        Some(quote @ ('"' | '\'')) => parse_quoted_value(ctx, text, quote, exact),
        Some('[') => parse_list(ctx, text, exact),
        Some('/') => Err(ctx.err(format_args!(
            "a /regex/ value needs the =~ or !~ operator, not `{op}`; \
             to compare with a string starting with /, quote it"
        ))),
        _ if is_null_word(text) => Ok(FilterValue::Null),
        _ => parse_bare(ctx, text, false).map(FilterValue::Bare),
    }
}

/// `NULL` or `nil`, any case.
fn is_null_word(text: &str) -> bool {
    text.eq_ignore_ascii_case("null") || text.eq_ignore_ascii_case("nil")
}

/// True when a string holds a wildcard.
fn has_wildcard(text: &str) -> bool {
    text.contains(['%', '*'])
}

/// A quoted string standing alone as the value: nothing may follow it.
fn parse_quoted_value(
    ctx: &Ctx<'_>,
    text: &str,
    quote: char,
    exact: bool,
) -> Result<FilterValue, FilterError> {
    let (content, rest) = parse_quoted(ctx, text, quote)?;
    check_nothing_after(ctx, rest, "the quoted string")?;
    if has_wildcard(&content) && !exact {
        Ok(FilterValue::Pattern(content))
    } else {
        Ok(FilterValue::Text(content))
    }
}

/// Reads a string opened by `quote` at the start of `text`, returning its content (with
/// `\<quote>` and `\\` unescaped, other backslashes kept) and the text after the closing
/// quote.
fn parse_quoted<'a>(
    ctx: &Ctx<'_>,
    text: &'a str,
    quote: char,
) -> Result<(String, &'a str), FilterError> {
    let body = &text[quote.len_utf8()..];
    let mut content = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == quote {
            return Ok((content, &body[at + c.len_utf8()..]));
        }
        if c == '\\'
            && let Some(&(_, next)) = chars.peek().filter(|(_, n)| *n == quote || *n == '\\')
        {
            content.push(next);
            chars.next();
            continue;
        }
        content.push(c);
    }
    Err(ctx.err(format_args!(
        "unterminated string: the value opened with {quote} has no closing {quote} \
         (write \\{quote} for a {quote} inside it)"
    )))
}

/// Refuses anything but whitespace after a complete value.
fn check_nothing_after(ctx: &Ctx<'_>, rest: &str, what: &str) -> Result<(), FilterError> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(());
    }
    Err(ctx.err(format_args!(
        "unexpected `{}` after {what}; quote the whole value if it is one string",
        part(rest)
    )))
}

/// `/pattern/` or `/pattern/i`.
fn parse_regex(ctx: &Ctx<'_>, text: &str) -> Result<FilterValue, FilterError> {
    let body = &text[1..];
    let mut pattern = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '/' => {
                let case_insensitive = parse_regex_flags(ctx, &body[at + 1..])?;
                if pattern.is_empty() {
                    return Err(ctx.err("the regex pattern between the slashes is empty"));
                }
                return Ok(FilterValue::Regex {
                    pattern,
                    case_insensitive,
                });
            }
            '\\' => match chars.next() {
                Some((_, '/')) => pattern.push('/'),
                Some((_, escaped)) => {
                    pattern.push('\\');
                    pattern.push(escaped);
                }
                None => break,
            },
            _ => pattern.push(c),
        }
    }
    Err(ctx.err(
        "unterminated regex: a regex value must be written /pattern/ or /pattern/i \
         (write \\/ for a / inside it)",
    ))
}

/// The text after a regex's closing slash: nothing, or the `i` flag.
fn parse_regex_flags(ctx: &Ctx<'_>, flags: &str) -> Result<bool, FilterError> {
    match flags {
        "" => Ok(false),
        "i" => Ok(true),
        _ if flags.starts_with(|c: char| c.is_ascii_alphabetic()) => Err(ctx.err(format_args!(
            "unknown regex flag `{}`; only i (case-insensitive) is supported",
            part(flags)
        ))),
        _ => check_nothing_after(ctx, flags, "the regex").map(|()| false),
    }
}

/// `[a, b, "c d"]`: one or more quoted strings or bare tokens.
fn parse_list(ctx: &Ctx<'_>, text: &str, exact: bool) -> Result<FilterValue, FilterError> {
    let mut rest = &text[1..];
    let mut items = Vec::new();
    loop {
        rest = rest.trim_start();
        if items.is_empty() && rest.starts_with(']') {
            return Err(ctx.err("the list is empty; a list needs at least one value"));
        }
        if items.len() == MAX_LIST_LEN {
            return Err(ctx.err(format_args!("the list has more than {MAX_LIST_LEN} values")));
        }
        let (item, after) = parse_list_item(ctx, rest, exact)?;
        items.push(item);
        rest = after.trim_start();
        match rest.chars().next() {
            Some(',') => rest = &rest[1..],
            Some(']') => break,
            Some(_) => {
                return Err(ctx.err(format_args!(
                    "expected , or ] after a list value, found `{}`",
                    part(rest)
                )));
            }
            None => return Err(ctx.err("unterminated list: the [ has no closing ]")),
        }
    }
    check_nothing_after(ctx, &rest[1..], "the list")?;
    Ok(FilterValue::List(items))
}

/// One list element (at the start of `text`, whitespace skipped) and the text after it.
fn parse_list_item<'a>(
    ctx: &Ctx<'_>,
    text: &'a str,
    exact: bool,
) -> Result<(FilterValue, &'a str), FilterError> {
    match text.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let (content, rest) = parse_quoted(ctx, text, quote)?;
            if has_wildcard(&content) && !exact {
                return Err(ctx.err(
                    "wildcards (% or *) are not supported inside a list; \
                     use separate `or` filters, or == for exact strings",
                ));
            }
            Ok((FilterValue::Text(content), rest))
        }
        Some('[') => Err(ctx.err("lists cannot be nested")),
        Some(',' | ']') => Err(ctx.err("the list has an empty value between commas")),
        None => Err(ctx.err("unterminated list: the [ has no closing ]")),
        Some(_) => {
            let end = text.find([',', ']']).unwrap_or(text.len());
            let token = text[..end].trim();
            if is_null_word(token) {
                return Err(ctx.err("NULL cannot be a list value; use a separate `or` filter"));
            }
            let bare = parse_bare(ctx, token, true)?;
            Ok((FilterValue::Bare(bare), &text[end..]))
        }
    }
}

/// An unquoted token: no whitespace, quotes, brackets, wildcards or (outside a list)
/// commas.
fn parse_bare(ctx: &Ctx<'_>, token: &str, in_list: bool) -> Result<String, FilterError> {
    let problem = token.chars().find_map(|c| match c {
        c if c.is_whitespace() => {
            Some("contains a space; quote strings, e.g. name = \"web server\"")
        }
        '"' | '\'' => Some("has a stray quote; quote the whole value, e.g. name = \"it's\""),
        '%' | '*' => {
            Some("has a wildcard; wildcards only work in quoted strings, e.g. name = \"web*\"")
        }
        '[' | ']' => Some("has a stray bracket; write a list as [a, b] or quote the value"),
        c if is_operator_char(c) => {
            Some("has an operator character (= ! < > ~); quote the value if it is a string")
        }
        ',' if !in_list => Some("has a comma; write a list as [a, b] or quote the value"),
        _ => None,
    });
    match problem {
        Some(problem) => Err(ctx.err(format_args!(
            "the unquoted value `{}` {problem}",
            part(token)
        ))),
        None => Ok(token.to_owned()),
    }
}

/// Refuses values the operator cannot take.
fn check_compatible(ctx: &Ctx<'_>, op: Op, value: &FilterValue) -> Result<(), FilterError> {
    let is_regex_value = matches!(value, FilterValue::Regex { .. });
    if is_regex_value && !op.is_regex() {
        return Err(ctx.err(format_args!(
            "a /regex/ value needs the =~ or !~ operator, not `{op}`"
        )));
    }
    if op.is_regex() && !is_regex_value {
        return Err(ctx.err(format_args!(
            "a regex value must be written /pattern/ or /pattern/i after `{op}`"
        )));
    }
    let what = match value {
        FilterValue::Pattern(_) => "a wildcard pattern (% or *)",
        FilterValue::Null => "NULL",
        FilterValue::List(_) => "a list",
        _ => return Ok(()),
    };
    if op.is_equality() {
        return Ok(());
    }
    Err(ctx.err(format_args!(
        "{what} can only be compared with = or !=, not `{op}`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Clause {
        match parse_clause(text) {
            Ok(clause) => clause,
            Err(e) => panic!("{text:?} should parse, got error: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse_clause(text) {
            Ok(clause) => panic!("{text:?} should fail, got {clause:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn attr(name: &str) -> AttrPath {
        AttrPath {
            assoc: None,
            name: name.into(),
        }
    }

    fn text(s: &str) -> FilterValue {
        FilterValue::Text(s.into())
    }

    fn bare(s: &str) -> FilterValue {
        FilterValue::Bare(s.into())
    }

    fn regex(pattern: &str, case_insensitive: bool) -> FilterValue {
        FilterValue::Regex {
            pattern: pattern.into(),
            case_insensitive,
        }
    }

    #[test]
    fn every_operator() {
        let cases = [
            ("cpus = 4", Op::Eq),
            ("cpus != 4", Op::Ne),
            ("cpus < 4", Op::Lt),
            ("cpus <= 4", Op::Le),
            ("cpus > 4", Op::Gt),
            ("cpus >= 4", Op::Ge),
            ("cpus == 4", Op::Eq),
            ("cpus !== 4", Op::Ne),
        ];
        for (input, op) in cases {
            let clause = ok(input);
            assert_eq!(clause.op, op, "{input}");
            assert_eq!(clause.attr, attr("cpus"));
            assert_eq!(clause.value, bare("4"));
            assert!(!clause.or);
        }
        assert_eq!(ok("name =~ /web/").op, Op::Regex);
        assert_eq!(ok("name !~ /web/").op, Op::NotRegex);
    }

    #[test]
    fn operators_without_spaces() {
        assert_eq!(ok("cpus<=4").op, Op::Le);
        assert_eq!(ok("cpus>=4").op, Op::Ge);
        assert_eq!(ok("cpus<4").value, bare("4"));
        assert_eq!(ok("cpus>-4").value, bare("-4"));
        assert_eq!(ok("name!='x'").op, Op::Ne);
        assert_eq!(ok("name=~/x/").value, regex("x", false));
        assert_eq!(ok("created_on>2019-09-01").value, bare("2019-09-01"));
    }

    #[test]
    fn op_display_round_trips_symbols() {
        assert_eq!(Op::Le.to_string(), "<=");
        assert_eq!(Op::NotRegex.symbol(), "!~");
        assert!(Op::Ne.is_equality());
        assert!(!Op::Lt.is_equality());
        assert!(Op::Regex.is_regex());
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(ok("name = \"web\"").value, text("web"));
        assert_eq!(ok("name = 'web'").value, text("web"));
        assert_eq!(ok("name='web server'").value, text("web server"));
        assert_eq!(ok("name = \"\"").value, text(""));
        assert_eq!(ok("name = 'a=b != c'").value, text("a=b != c"));
        assert_eq!(ok("name = \"日本 é\"").value, text("日本 é"));
        assert_eq!(ok("name = \"[1, 2]\"").value, text("[1, 2]"));
        assert_eq!(ok("name = 'nil'").value, text("nil"));
        assert_eq!(ok("name = \"/x/\"").value, text("/x/"));
        assert_eq!(ok("cpus < \"4\"").value, text("4"));
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(ok(r#"name = "say \"hi\"""#).value, text(r#"say "hi""#));
        assert_eq!(ok(r"name = 'it\'s'").value, text("it's"));
        assert_eq!(ok(r"name = 'a\\b'").value, text(r"a\b"));
        assert_eq!(ok(r#"name = "a\\""#).value, text(r"a\"));
        // Other escapes keep their backslash.
        assert_eq!(ok(r"name = 'C:\temp'").value, text(r"C:\temp"));
        assert_eq!(ok(r#"name = "it\'s""#).value, text(r"it\'s"));
        // The other quote needs no escape.
        assert_eq!(ok(r#"name = "it's""#).value, text("it's"));
        assert_eq!(ok(r#"name = 'say "hi"'"#).value, text(r#"say "hi""#));
    }

    #[test]
    fn wildcards_make_patterns() {
        assert_eq!(
            ok("name = 'sample%'").value,
            FilterValue::Pattern("sample%".into())
        );
        assert_eq!(
            ok("name != \"*web*\"").value,
            FilterValue::Pattern("*web*".into())
        );
        assert_eq!(
            ok(r#"name = "a\"*""#).value,
            FilterValue::Pattern("a\"*".into())
        );
        // `==` and `!==` compare exact strings: no wildcards.
        let exact = ok("name == 'sample%'");
        assert_eq!((exact.op, exact.value), (Op::Eq, text("sample%")));
        let exact = ok("name !== \"*\"");
        assert_eq!((exact.op, exact.value), (Op::Ne, text("*")));
    }

    #[test]
    fn null_and_nil() {
        for word in ["NULL", "null", "Null", "nil", "NIL", "nIl"] {
            assert_eq!(ok(&format!("service_id = {word}")).value, FilterValue::Null);
        }
        let clause = ok("retired_on != nil");
        assert_eq!((clause.op, clause.value), (Op::Ne, FilterValue::Null));
        assert_eq!(ok("name = nullable").value, bare("nullable"));
    }

    #[test]
    fn bare_tokens() {
        assert_eq!(ok("retired = true").value, bare("true"));
        assert_eq!(ok("cpus >= 1.5e3").value, bare("1.5e3"));
        assert_eq!(
            ok("created_on < 2024-01-01T10:00:00Z").value,
            bare("2024-01-01T10:00:00Z")
        );
        assert_eq!(ok("name = web-1").value, bare("web-1"));
        assert_eq!(ok("name = café").value, bare("café"));
        assert_eq!(ok("  name   =   web  ").value, bare("web"));
    }

    #[test]
    fn lists() {
        assert_eq!(
            ok("id = [1, 2, 3]").value,
            FilterValue::List(vec![bare("1"), bare("2"), bare("3")])
        );
        assert_eq!(
            ok("power_state != [ 'on' ,\"off\",unknown ]").value,
            FilterValue::List(vec![text("on"), text("off"), bare("unknown")])
        );
        assert_eq!(
            ok("name = [\"c d\", 'a, b', \"x]\"]").value,
            FilterValue::List(vec![text("c d"), text("a, b"), text("x]")])
        );
        assert_eq!(ok("id=[7]").value, FilterValue::List(vec![bare("7")]));
        assert_eq!(
            ok("name == ['a*']").value,
            FilterValue::List(vec![text("a*")])
        );
        let max = format!("id = [{}]", vec!["1"; MAX_LIST_LEN].join(","));
        assert!(matches!(ok(&max).value, FilterValue::List(v) if v.len() == MAX_LIST_LEN));
    }

    #[test]
    fn regexes() {
        assert_eq!(ok("name =~ /^web/").value, regex("^web", false));
        assert_eq!(ok("name =~ /^web/i").value, regex("^web", true));
        assert_eq!(ok("name !~ /a b/i ").value, regex("a b", true));
        assert_eq!(ok(r"name =~ /a\/b/").value, regex("a/b", false));
        assert_eq!(ok(r"name =~ /\d+\.\d/").value, regex(r"\d+\.\d", false));
        assert_eq!(ok(r"name =~ /a\\/").value, regex(r"a\\", false));
        assert_eq!(ok("name =~ /日本/").value, regex("日本", false));
    }

    #[test]
    fn or_prefix() {
        let clause = ok("or name = 'web'");
        assert!(clause.or);
        assert_eq!(clause.attr, attr("name"));
        assert!(ok("OR name = 'web'").or);
        assert!(ok("  Or   name = 'web'").or);
        // `or` without whitespace after it is part of the attribute.
        let clause = ok("order = 1");
        assert!(!clause.or);
        assert_eq!(clause.attr, attr("order"));
        let clause = ok("or_flag = 1");
        assert_eq!(clause.attr, attr("or_flag"));
    }

    #[test]
    fn association_hop() {
        let clause = ok("ext_management_system.name = 'k8s'");
        assert_eq!(
            clause.attr,
            AttrPath {
                assoc: Some("ext_management_system".into()),
                name: "name".into(),
            }
        );
        assert!(!clause.attr.is_label_key());
        assert_eq!(clause.attr.to_string(), "ext_management_system.name");
        assert_eq!(ok("_x._y9=1").attr.assoc.as_deref(), Some("_x"));
    }

    #[test]
    fn label_keys() {
        let clause = ok("labels.app.kubernetes.io/name = 'api'");
        assert_eq!(
            clause.attr,
            AttrPath {
                assoc: Some("labels".into()),
                name: "app.kubernetes.io/name".into(),
            }
        );
        assert!(clause.attr.is_label_key());
        assert_eq!(clause.attr.to_string(), "labels.app.kubernetes.io/name");
        let clause = ok("annotations.example.com/some-thing_1!=nil");
        assert_eq!(clause.attr.assoc.as_deref(), Some("annotations"));
        assert_eq!(clause.attr.name, "example.com/some-thing_1");
        assert_eq!(ok("labels.app =~ /x/i").attr.name, "app");
        let longest = format!("labels.{} = 'x'", "k".repeat(MAX_LABEL_KEY_LEN));
        assert_eq!(ok(&longest).attr.name.len(), MAX_LABEL_KEY_LEN);
        // A bare `labels` is a plain attribute.
        assert_eq!(ok("labels = 'x'").attr, attr("labels"));
    }

    #[test]
    fn malformed() {
        assert!(err("").contains("empty"));
        assert!(err("   ").contains("empty"));
        assert!(err("name").contains("no operator"));
        assert!(err("name 'web'").contains("no operator"));
        assert!(err("= 'web'").contains("attribute is missing"));
        assert!(err("or = 'web'").contains("attribute is missing"));
        assert!(err("name =").contains("value is missing"));
        assert!(err("name = foo bar").contains("quote strings"));
        assert!(err("name = foo\"bar").contains("stray quote"));
        assert!(err("name = web*").contains("wildcard"));
        assert!(err("name = a,b").contains("comma"));
        assert!(err("name = a]").contains("bracket"));
        assert!(err("name = =5").contains("operator character"));
        assert!(err("name = <5").contains("operator character"));
        assert!(err("id = [1, a=b]").contains("operator character"));
        assert!(err("x ==k8s.io/app!==y").contains("operator character"));
        assert!(err("na me = 'x'").contains("attribute `na me` is not valid"));
        assert!(err("1name = 'x'").contains("not valid"));
        assert!(err("name- = 'x'").contains("not valid"));
        assert!(err(".name = 'x'").contains("not valid"));
        assert!(err("a..b = 'x'").contains("not valid"));
        assert!(err("a. = 'x'").contains("not valid"));
        assert!(err("nämé = 'x'").contains("not valid"));
        assert!(err("labels. = 'x'").contains("key"));
        assert!(err("labels.a b = 'x'").contains("key"));
        assert!(err("labels.é = 'x'").contains("key"));
        let too_long = format!("labels.{} = 'x'", "k".repeat(MAX_LABEL_KEY_LEN + 1));
        assert!(err(&too_long).contains("key"));
    }

    #[test]
    fn unknown_operators() {
        for input in [
            "name => 5",
            "name =< 5",
            "name <> 5",
            "name ! 5",
            "name ~ 5",
            "name ~= 5",
            "name === 5",
            "name =!5",
            "name !=~ /x/",
        ] {
            assert!(err(input).contains("unknown operator"), "{input}");
        }
    }

    #[test]
    fn three_segments() {
        let message = err("a.b.c = 'x'");
        assert!(message.contains("more than one association"), "{message}");
        assert!(err("a.b.1 = 'x'").contains("not valid"));
    }

    #[test]
    fn regex_operator_compatibility() {
        assert_eq!(
            err("name =~ web"),
            "filter `name =~ web`: a regex value must be written /pattern/ or /pattern/i \
             after `=~`"
        );
        assert!(err("name !~ 'web'").contains("/pattern/"));
        assert!(err("name =~ [1]").contains("/pattern/"));
        assert!(err("name = /web/").contains("=~ or !~"));
        assert!(err("name < /web/").contains("=~ or !~"));
        assert!(err("name =~ /web/x").contains("unknown regex flag"));
        assert!(err("name =~ /web/ii").contains("unknown regex flag"));
        assert!(err("name =~ /web/ i").contains("unexpected `i`"));
        assert!(err("name =~ /web/.").contains("unexpected"));
        assert!(err("name =~ //").contains("empty"));
        assert!(err("name =~ /web").contains("unterminated regex"));
        assert!(err(r"name =~ /web\/").contains("unterminated regex"));
        assert!(err(r"name =~ /web\").contains("unterminated regex"));
    }

    #[test]
    fn equality_only_values() {
        assert!(err("id < [1, 2]").contains("a list can only be compared with = or !="));
        assert!(err("id >= [1]").contains("not `>=`"));
        assert!(err("name > NULL").contains("NULL can only"));
        assert!(err("name <= 'a%'").contains("wildcard pattern"));
    }

    #[test]
    fn bad_lists() {
        assert!(err("id = []").contains("list is empty"));
        assert!(err("id = [ ]").contains("list is empty"));
        assert!(err("id = [1,]").contains("empty value"));
        assert!(err("id = [,1]").contains("empty value"));
        assert!(err("id = [1,,2]").contains("empty value"));
        assert!(err("id = [1, [2]]").contains("nested"));
        assert!(err("id = [1, 2").contains("unterminated list"));
        assert!(err("id = [1, 2,").contains("unterminated list"));
        assert!(err("id = [").contains("unterminated list"));
        assert!(err("id = [1] 2").contains("unexpected `2` after the list"));
        assert!(err("id = ['a' 'b']").contains("expected , or ]"));
        assert!(err("id = [a b]").contains("space"));
        assert!(err("id = [nil]").contains("NULL cannot"));
        assert!(err("id = ['a*']").contains("wildcards"));
        assert!(err("id = ['a]").contains("unterminated string"));
        let over = format!("id = [{}]", vec!["1"; MAX_LIST_LEN + 1].join(","));
        assert!(err(&over).contains("more than 1000"));
    }

    #[test]
    fn bad_quotes() {
        assert!(err("name = 'web").contains("unterminated string"));
        assert!(err("name = \"web").contains("unterminated string"));
        assert!(err("name = \"web'").contains("unterminated string"));
        assert!(err(r#"name = "web\""#).contains("unterminated string"));
        assert!(err("name = 'web' x").contains("unexpected `x` after the quoted string"));
        assert!(err("name = 'a''b'").contains("unexpected"));
        assert!(err("name = \"a\"b\"").contains("unexpected"));
    }

    #[test]
    fn too_long() {
        let at_limit = format!("name = '{}'", "a".repeat(MAX_FILTER_LEN - 9));
        assert_eq!(at_limit.len(), MAX_FILTER_LEN);
        assert!(parse_clause(&at_limit).is_ok());
        let over = format!("name = '{}'", "a".repeat(MAX_FILTER_LEN));
        let message = err(&over);
        assert!(message.contains("at most 4096 bytes"), "{message}");
        assert!(message.chars().count() < 200, "{message}");
    }

    #[test]
    fn control_characters() {
        for input in ["name = 'a\0b'", "name\t= 1", "name = 1\n", "\u{7f}name = 1"] {
            let message = err(input);
            assert!(message.contains("control character"), "{message}");
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }

    #[test]
    fn messages_quote_little_of_the_input() {
        let long_attr = "a".repeat(500);
        let message = err(&format!("{long_attr} = x y"));
        assert!(message.starts_with("filter `aaaa"), "{message}");
        assert!(
            message.chars().filter(|&c| c == 'a').count() < 70,
            "{message}"
        );
        let message = err(&format!("name = '{}", "日".repeat(300)));
        assert!(
            message.chars().filter(|&c| c == '日').count() <= 60,
            "{message}"
        );
    }

    /// xorshift64*: a small deterministic generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Pieces that reach deep into the grammar, plus single characters.
    const FRAGMENTS: &[&str] = &[
        "name",
        "labels.",
        "annotations.",
        "a.b",
        "or ",
        "OR\u{a0}",
        "=",
        "!=",
        "==",
        "!==",
        "=~",
        "!~",
        "<",
        "<=",
        ">",
        ">=",
        "!",
        "~",
        "\"",
        "'",
        "\\",
        "\\\"",
        "\\'",
        "\\/",
        "[",
        "]",
        ",",
        "/",
        "/i",
        " ",
        "  ",
        ".",
        "%",
        "*",
        "null",
        "NIL",
        "i",
        "x",
        "_",
        "1",
        "-",
        "é",
        "日",
        "🦀",
        "\u{0}",
        "\t",
        "\n",
        "\u{85}",
        "\u{200b}",
        "k8s.io/app",
    ];

    /// Attributes, operators and values for grammar-shaped inputs.
    const ATTRS: &[&str] = &[
        "name",
        "ems.name",
        "labels.app.kubernetes.io/name",
        "annotations.a",
        "a.b.c",
        "日",
        "",
    ];
    const OPS: &[&str] = &[
        "=", "!=", "<", "<=", ">", ">=", "=~", "!~", "==", "!==", "=>", "",
    ];
    const VALUES: &[&str] = &[
        "'web'",
        "\"web*\"",
        "'a%'",
        "\"say \\\"hi\\\"\"",
        "'it\\'s'",
        "null",
        "nil",
        "42",
        "2024-01-01",
        "[1, 'b', \"c d\"]",
        "['日本', é]",
        "/^a\\/b$/i",
        "/x/",
        "[",
        "é",
        "",
    ];

    fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
        from[rng.below(from.len())]
    }

    /// A string of random fragments.
    fn random_pieces(rng: &mut Rng) -> String {
        let pieces = rng.below(16);
        (0..pieces).map(|_| pick(rng, FRAGMENTS)).collect()
    }

    /// `[or ]attr op value`, then a few fragments inserted at random places.
    fn random_clause(rng: &mut Rng) -> String {
        let or = if rng.below(4) == 0 { "or " } else { "" };
        let space = if rng.below(2) == 0 { " " } else { "" };
        let mut out = format!(
            "{or}{}{space}{}{space}{}",
            pick(rng, ATTRS),
            pick(rng, OPS),
            pick(rng, VALUES)
        );
        for _ in 0..rng.below(3) {
            let boundaries: Vec<usize> = out
                .char_indices()
                .map(|(at, _)| at)
                .chain([out.len()])
                .collect();
            let at = boundaries[rng.below(boundaries.len())];
            let fragment = pick(rng, FRAGMENTS);
            out.insert_str(at, fragment);
        }
        out
    }

    fn random_filter(rng: &mut Rng) -> String {
        if rng.below(2) == 0 {
            random_pieces(rng)
        } else {
            random_clause(rng)
        }
    }

    fn check_invariants(input: &str, clause: &Clause) {
        match &clause.value {
            FilterValue::Regex { pattern, .. } => {
                assert!(clause.op.is_regex(), "{input:?}");
                assert!(!pattern.is_empty(), "{input:?}");
            }
            FilterValue::Pattern(_) | FilterValue::Null => {
                assert!(clause.op.is_equality(), "{input:?}");
            }
            FilterValue::List(items) => {
                assert!(clause.op.is_equality(), "{input:?}");
                assert!(
                    !items.is_empty() && items.len() <= MAX_LIST_LEN,
                    "{input:?}"
                );
                assert!(
                    items
                        .iter()
                        .all(|i| matches!(i, FilterValue::Text(_) | FilterValue::Bare(_))),
                    "{input:?}"
                );
            }
            FilterValue::Bare(token) => {
                assert!(!clause.op.is_regex(), "{input:?}");
                assert!(!token.is_empty() && !token.contains(char::is_whitespace));
            }
            FilterValue::Text(_) => assert!(!clause.op.is_regex(), "{input:?}"),
        }
        assert!(!clause.attr.name.is_empty(), "{input:?}");
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut oks, mut errs) = (0, 0);
        for round in 0..20_000 {
            let input = if round % 500 == 0 {
                random_filter(&mut rng).repeat(300)
            } else {
                random_filter(&mut rng)
            };
            match parse_clause(&input) {
                Ok(clause) => {
                    check_invariants(&input, &clause);
                    oks += 1;
                }
                Err(e) => {
                    assert!(!e.0.is_empty(), "{input:?}");
                    assert!(!e.0.contains(char::is_control), "{input:?}: {e:?}");
                    errs += 1;
                }
            }
        }
        assert!(oks > 500 && errs > 500, "oks {oks}, errs {errs}");
    }
}
