//! PromQL: the syntax tree of the supported subset and its parser.

use super::eval::Labels;
use super::http::parse_duration;
use super::regex::Regex;
use super::series::{Index, LABEL_NAMES, LabelSet, Metric, NAME, SeriesRef};

#[derive(Debug)]
pub(super) enum Expr {
    Number(f64),
    Selector(Selector),
    /// `selector[window]`, only valid as the argument of a function.
    Range(Selector, f64),
    Call {
        func: Func,
        selector: Selector,
        window: f64,
    },
    Aggregate(Box<Aggregate>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Scalar,
    Vector,
    Range,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Scalar => "scalar",
            Kind::Vector => "instant vector",
            Kind::Range => "range vector",
        }
    }
}

impl Expr {
    pub(super) fn kind(&self) -> Kind {
        match self {
            Expr::Number(_) => Kind::Scalar,
            Expr::Range(..) => Kind::Range,
            Expr::Selector(_) | Expr::Call { .. } | Expr::Aggregate(_) => Kind::Vector,
            Expr::Binary(_, lhs, rhs)
                if lhs.kind() == Kind::Scalar && rhs.kind() == Kind::Scalar =>
            {
                Kind::Scalar
            }
            Expr::Binary(..) => Kind::Vector,
        }
    }

    /// The value of a scalar expression.
    pub(super) fn scalar(&self) -> f64 {
        match self {
            Expr::Number(v) => *v,
            Expr::Binary(op, lhs, rhs) => op.apply(lhs.scalar(), rhs.scalar()),
            _ => f64::NAN,
        }
    }
}

#[derive(Debug)]
pub(super) struct Selector {
    matchers: Vec<Matcher>,
}

impl Selector {
    /// Whether the `__name__` matchers admit `metric`.
    pub(super) fn admits_metric(&self, metric: Metric) -> bool {
        self.matchers
            .iter()
            .filter(|m| m.name == NAME)
            .all(|m| m.matches(metric.name()))
    }

    pub(super) fn matches(&self, index: &Index, r: SeriesRef) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(index.label(r, &m.name).as_deref().unwrap_or("")))
    }
}

#[derive(Debug)]
struct Matcher {
    name: String,
    op: MatchOp,
}

#[derive(Debug)]
enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(Regex),
    NotRegex(Regex),
}

impl Matcher {
    /// Whether a label value matches; an absent label has the value "".
    fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => value == v,
            MatchOp::NotEqual(v) => value != v,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Rate,
    Irate,
    Increase,
}

impl Func {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "rate" => Some(Func::Rate),
            "irate" => Some(Func::Irate),
            "increase" => Some(Func::Increase),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Func::Rate => "rate",
            Func::Irate => "irate",
            Func::Increase => "increase",
        }
    }
}

#[derive(Debug)]
pub(super) struct Aggregate {
    pub(super) op: AggOp,
    pub(super) grouping: Grouping,
    pub(super) arg: Expr,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum AggOp {
    Sum,
    Avg,
    Max,
    Min,
    Count,
}

impl AggOp {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sum" => Some(AggOp::Sum),
            "avg" => Some(AggOp::Avg),
            "max" => Some(AggOp::Max),
            "min" => Some(AggOp::Min),
            "count" => Some(AggOp::Count),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(super) enum Grouping {
    /// Keep these labels (known names only, in label order).
    By(Vec<&'static str>),
    /// Drop these labels and `__name__`.
    Without(Vec<String>),
}

impl Grouping {
    /// The labels of the group a series falls in, written into `key`.
    pub(super) fn key<'t>(&self, index: &'t Index, labels: Labels<'t>, key: &mut LabelSet<'t>) {
        key.clear();
        match self {
            Grouping::By(names) => {
                key.extend(
                    names
                        .iter()
                        .filter_map(|name| labels.get(index, name).map(|v| (*name, v))),
                );
            }
            Grouping::Without(names) => key.extend(
                labels
                    .into_set(index)
                    .into_iter()
                    .filter(|(name, _)| *name != NAME && !names.iter().any(|n| n == name)),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub(super) fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
        }
    }
}

/// Parses a query of the supported subset; the error is a message for `bad_data`.
pub(super) fn parse_query(src: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        src,
        pos: 0,
        depth: 0,
        nodes: 0,
    };
    parser.skip_ws();
    if parser.peek().is_none() {
        return Err("parse error: no expression found in input".into());
    }
    let expr = parser.expr()?;
    parser.skip_ws();
    if parser.peek().is_some() {
        return Err(parser.unexpected());
    }
    if expr.kind() == Kind::Range {
        return Err(
            "range vector selectors are only supported inside rate(), irate() and increase()"
                .into(),
        );
    }
    Ok(expr)
}

/// How deep a query may nest (parentheses, unary signs, function calls), and how many
/// operators and calls it may hold: the parser and the evaluator recurse over the tree,
/// so both are bounded by what is parsed (Prometheus answers such queries with an error
/// too, and no dashboard sends them).
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 1000;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    nodes: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'#' {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.pos += 1;
                }
            } else if b.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> String {
        format!("parse error at char {}: {message}", self.pos + 1)
    }

    fn unexpected(&self) -> String {
        match self.src[self.pos..].chars().next() {
            Some(c) => self.error(format!("unexpected character {c:?}")),
            None => self.error("unexpected end of input"),
        }
    }

    /// Skips whitespace and consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            return Ok(());
        }
        Err(match self.src[self.pos..].chars().next() {
            Some(c) => self.error(format!("expected {:?}, found {c:?}", b as char)),
            None => self.error(format!("expected {:?}, found end of input", b as char)),
        })
    }

    /// An identifier (metric names may contain `:`), or "" when none is next.
    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn label_name(&mut self) -> Result<&'a str, String> {
        self.skip_ws();
        if !self.peek().is_some_and(is_ident_start) {
            return Err(self.error("expected a label name"));
        }
        Ok(self.ident())
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut lhs = self.term()?;
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(b'+') => BinOp::Add,
                Some(b'-') => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.operand()?;
            let rhs = self.term_rest(rhs)?;
            lhs = binary(op, lhs, rhs)?;
        }
    }

    fn term(&mut self) -> Result<Expr, String> {
        let first = self.unary()?;
        self.term_rest(first)
    }

    /// Continues a product after its first factor.
    fn term_rest(&mut self, mut lhs: Expr) -> Result<Expr, String> {
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(b'*') => BinOp::Mul,
                Some(b'/') => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.operand()?;
            lhs = binary(op, lhs, rhs)?;
        }
    }

    /// The right operand of a binary operator; vector matching modifiers are refused.
    fn operand(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        let save = self.pos;
        let word = self.ident();
        if matches!(
            word,
            "bool" | "on" | "ignoring" | "group_left" | "group_right"
        ) {
            self.pos = save;
            return Err(self.error(format!("{word:?} modifiers are not supported")));
        }
        self.pos = save;
        self.unary()
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        self.nodes += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "the expression nests deeper than {MAX_DEPTH} levels"
            )));
        }
        if self.nodes > MAX_NODES {
            return Err(self.error(format!("the expression has more than {MAX_NODES} terms")));
        }
        let parsed = self.unary_inner();
        self.depth -= 1;
        parsed
    }

    fn unary_inner(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                match self.unary()? {
                    Expr::Number(v) => Ok(Expr::Number(-v)),
                    e => binary(BinOp::Mul, Expr::Number(-1.0), e),
                }
            }
            Some(b'+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect(b')')?;
                if inner.kind() == Kind::Range {
                    return Err(self.error("a range vector cannot be parenthesised"));
                }
                Ok(inner)
            }
            Some(b) if b.is_ascii_digit() || b == b'.' => self.number(),
            Some(b'{') => self.selector(None),
            Some(b) if is_ident_start(b) => self.identifier_expr(),
            _ => Err(self.unexpected()),
        }
    }

    fn number(&mut self) -> Result<Expr, String> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit() || b == b'.') {
            self.pos += 1;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let bytes = self.src.as_bytes();
            let mut end = self.pos + 1;
            if matches!(bytes.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            if bytes.get(end).is_some_and(u8::is_ascii_digit) {
                self.pos = end;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
        }
        let text = &self.src[start..self.pos];
        text.parse()
            .map(Expr::Number)
            .map_err(|_| self.error(format!("bad number {text:?}")))
    }

    /// A name: an aggregation, a function call, `Inf`/`NaN` or a metric selector.
    fn identifier_expr(&mut self) -> Result<Expr, String> {
        let name = self.ident();
        if name.eq_ignore_ascii_case("inf") {
            return Ok(Expr::Number(f64::INFINITY));
        }
        if name.eq_ignore_ascii_case("nan") {
            return Ok(Expr::Number(f64::NAN));
        }
        if let Some(op) = AggOp::from_name(name) {
            return self.aggregation(op);
        }
        self.skip_ws();
        if self.peek() == Some(b'(') {
            return match Func::from_name(name) {
                Some(func) => self.call(func),
                None => Err(self.error(format!("unknown or unsupported function {name:?}"))),
            };
        }
        self.selector(Some(name))
    }

    fn call(&mut self, func: Func) -> Result<Expr, String> {
        self.expect(b'(')?;
        let arg = self.expr()?;
        self.expect(b')')?;
        match arg {
            Expr::Range(selector, window) => Ok(Expr::Call {
                func,
                selector,
                window,
            }),
            other => Err(self.error(format!(
                "expected type range vector in call to function {:?}, got {}",
                func.name(),
                other.kind().name()
            ))),
        }
    }

    fn aggregation(&mut self, op: AggOp) -> Result<Expr, String> {
        let prefix = self.grouping()?;
        self.expect(b'(')?;
        let arg = self.expr()?;
        self.expect(b')')?;
        let suffix = self.grouping()?;
        let grouping = match (prefix, suffix) {
            (Some(_), Some(_)) => {
                return Err(self.error("aggregation has both a prefix and a suffix grouping"));
            }
            (Some(g), None) | (None, Some(g)) => g,
            (None, None) => Grouping::By(Vec::new()),
        };
        if arg.kind() != Kind::Vector {
            return Err(self.error(format!(
                "expected type instant vector in aggregation expression, got {}",
                arg.kind().name()
            )));
        }
        Ok(Expr::Aggregate(Box::new(Aggregate { op, grouping, arg })))
    }

    /// An optional `by (…)` or `without (…)`.
    fn grouping(&mut self) -> Result<Option<Grouping>, String> {
        let save = self.pos;
        self.skip_ws();
        let by = match self.ident() {
            "by" => true,
            "without" => false,
            _ => {
                self.pos = save;
                return Ok(None);
            }
        };
        self.expect(b'(')?;
        let mut names = Vec::new();
        while !self.eat(b')') {
            names.push(self.label_name()?.to_string());
            if !self.eat(b',') {
                self.expect(b')')?;
                break;
            }
        }
        Ok(Some(if by {
            Grouping::By(
                LABEL_NAMES
                    .iter()
                    .copied()
                    .filter(|l| names.iter().any(|n| n == l))
                    .collect(),
            )
        } else {
            Grouping::Without(names)
        }))
    }

    fn selector(&mut self, name: Option<&str>) -> Result<Expr, String> {
        let mut matchers = Vec::new();
        if let Some(name) = name {
            matchers.push(Matcher {
                name: NAME.into(),
                op: MatchOp::Equal(name.into()),
            });
        }
        if self.eat(b'{') {
            self.matchers(&mut matchers)?;
        }
        if matchers.iter().all(|m| m.matches("")) {
            return Err(self.error("vector selector must contain at least one non-empty matcher"));
        }
        let selector = Selector { matchers };
        if self.eat(b'[') {
            let window = self.window()?;
            return Ok(Expr::Range(selector, window));
        }
        Ok(Expr::Selector(selector))
    }

    /// The matchers after `{`, through the closing `}`.
    fn matchers(&mut self, matchers: &mut Vec<Matcher>) -> Result<(), String> {
        while !self.eat(b'}') {
            let name = self.label_name()?.to_string();
            let op = self.match_op()?;
            self.skip_ws();
            let value = self.string()?;
            let op = match op {
                "=" => MatchOp::Equal(value),
                "!=" => MatchOp::NotEqual(value),
                "=~" => MatchOp::Regex(self.regex(&value)?),
                _ => MatchOp::NotRegex(self.regex(&value)?),
            };
            matchers.push(Matcher { name, op });
            if !self.eat(b',') {
                self.expect(b'}')?;
                break;
            }
        }
        Ok(())
    }

    fn match_op(&mut self) -> Result<&'static str, String> {
        self.skip_ws();
        let rest = &self.src[self.pos..];
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op));
        let op = op.ok_or_else(|| self.error("expected a label matching operator"))?;
        self.pos += op.len();
        Ok(op)
    }

    fn regex(&self, pattern: &str) -> Result<Regex, String> {
        Regex::new(pattern)
            .map_err(|e| self.error(format!("invalid regular expression {pattern:?}: {e}")))
    }

    /// A quoted string: "…" and '…' with Go escapes, `…` raw.
    fn string(&mut self) -> Result<String, String> {
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'' | b'`')) => q as char,
            _ => return Err(self.error("expected a quoted string")),
        };
        let mut out = String::new();
        let mut chars = self.src[self.pos + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += 1 + i + 1;
                return Ok(out);
            }
            if c != '\\' || quote == '`' {
                out.push(c);
                continue;
            }
            let escaped = match chars.next().map(|(_, e)| e) {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('a') => '\x07',
                Some('b') => '\x08',
                Some('f') => '\x0c',
                Some('v') => '\x0b',
                Some(e @ ('\\' | '"' | '\'')) => e,
                Some(e) => return Err(self.error(format!("unknown escape sequence \\{e}"))),
                None => break,
            };
            out.push(escaped);
        }
        Err(self.error("unterminated quoted string"))
    }

    /// The duration after `[`, through the closing `]`, in seconds.
    fn window(&mut self) -> Result<f64, String> {
        let rest = &self.src[self.pos..];
        let Some(close) = rest.find(']') else {
            return Err(self.error("unterminated range selector"));
        };
        let text = rest[..close].trim();
        match parse_duration(text) {
            Some(ms) if ms > 0 => {
                self.pos += close + 1;
                Ok(ms as f64 / 1000.0)
            }
            _ => Err(self.error(format!("bad range duration {text:?}"))),
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn binary(op: BinOp, lhs: Expr, rhs: Expr) -> Result<Expr, String> {
    if lhs.kind() == Kind::Range || rhs.kind() == Kind::Range {
        return Err("binary expression must contain only scalar and instant vector types".into());
    }
    Ok(Expr::Binary(op, Box::new(lhs), Box::new(rhs)))
}
