//! Regular expressions: an RE2-like subset, fully anchored, run as a Pike VM.

use std::collections::HashSet;

/// A compiled, fully anchored regular expression. Top-level alternatives that are plain
/// literals (`pod=~"a|b|c…"`) go into a hash set; the rest run on a Pike VM.
#[derive(Debug)]
pub(super) struct Regex {
    literals: HashSet<String>,
    program: Option<Program>,
}

impl Regex {
    pub(super) fn new(pattern: &str) -> Result<Self, String> {
        let node = RegexParser::parse(pattern)?;
        let mut branches = Vec::new();
        flatten_alternatives(node, &mut branches);
        let mut literals = HashSet::new();
        let mut rest = Vec::new();
        for branch in branches {
            match branch.literal() {
                Some(text) => {
                    literals.insert(text);
                }
                None => rest.push(branch),
            }
        }
        let program = match rest.len() {
            0 => None,
            1 => Some(Program::compile(&rest[0])?),
            _ => Some(Program::compile(&Node::Alt(rest))?),
        };
        Ok(Regex { literals, program })
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        self.literals.contains(text) || self.program.as_ref().is_some_and(|p| p.is_match(text))
    }
}

fn flatten_alternatives(node: Node, out: &mut Vec<Node>) {
    match node {
        Node::Alt(branches) => branches
            .into_iter()
            .for_each(|b| flatten_alternatives(b, out)),
        other => out.push(other),
    }
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
}

impl Node {
    /// The text this node matches when it matches exactly one fixed string.
    fn literal(&self) -> Option<String> {
        match self {
            Node::Empty => Some(String::new()),
            Node::Char(c) => Some(c.to_string()),
            Node::Concat(items) => items.iter().map(Node::literal).collect(),
            _ => None,
        }
    }
}

/// A character class as code point ranges.
#[derive(Debug, Clone)]
struct Class {
    ranges: Vec<(u32, u32)>,
    negated: bool,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        let c = c as u32;
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];
const SPACE: &[(u32, u32)] = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];
/// RE2's limit on counted repetition.
const MAX_REPEAT: u32 = 1000;
const MAX_INSTRUCTIONS: usize = 200_000;

/// What a backslash escape denotes.
enum Escape {
    Char(char),
    Ranges(Vec<(u32, u32)>),
}

struct RegexParser {
    chars: Vec<char>,
    pos: usize,
}

impl RegexParser {
    fn parse(pattern: &str) -> Result<Node, String> {
        let mut parser = RegexParser {
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let node = parser.alternation()?;
        if parser.pos < parser.chars.len() {
            return Err("unexpected )".into());
        }
        Ok(node)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn alternation(&mut self) -> Result<Node, String> {
        let mut branches = vec![self.concatenation()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.concatenation()?);
        }
        Ok(if branches.len() == 1 {
            branches.swap_remove(0)
        } else {
            Node::Alt(branches)
        })
    }

    fn concatenation(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.repetition(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.swap_remove(0),
            _ => Node::Concat(items),
        })
    }

    fn repetition(&mut self, mut node: Node) -> Result<Node, String> {
        loop {
            let simple = match self.peek() {
                Some('*') => Some((0, None)),
                Some('+') => Some((1, None)),
                Some('?') => Some((0, Some(1))),
                _ => None,
            };
            let (min, max) = match simple {
                Some(bounds) => {
                    self.pos += 1;
                    bounds
                }
                None if self.peek() == Some('{') => match self.counted()? {
                    Some(bounds) => bounds,
                    None => return Ok(node),
                },
                None => return Ok(node),
            };
            if self.peek() == Some('?') {
                self.pos += 1; // non-greedy: the same language
            }
            node = Node::Repeat(Box::new(node), min, max);
        }
    }

    /// `{n}`, `{n,}` or `{n,m}` at the cursor (consumed), or `None` for a literal `{`.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let rest: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| **c != '}')
            .collect();
        if self.chars.get(self.pos + rest.len()) != Some(&'}') {
            return Ok(None);
        }
        let inner = &rest[1..];
        let number = |s: &str| {
            if s.is_empty() {
                None
            } else {
                s.parse::<u32>().ok()
            }
        };
        let bounds = match inner.split_once(',') {
            None => number(inner).map(|n| (n, Some(n))),
            Some((lo, "")) => number(lo).map(|n| (n, None)),
            Some((lo, hi)) => number(lo).zip(number(hi)).map(|(lo, hi)| (lo, Some(hi))),
        };
        let Some((min, max)) = bounds else {
            return Ok(None);
        };
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
            return Err(format!("invalid repeat count {{{inner}}}"));
        }
        self.pos += rest.chars().count() + 1;
        Ok(Some((min, max)))
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(c) = self.next() else {
            return Err("missing argument".into());
        };
        match c {
            '(' => self.group(),
            '[' => self.class(),
            '.' => Ok(Node::Any),
            '^' => Ok(Node::Start),
            '$' => Ok(Node::End),
            '\\' => Ok(match self.escape()? {
                Escape::Char(c) => Node::Char(c),
                Escape::Ranges(ranges) => Node::Class(Class {
                    ranges,
                    negated: false,
                }),
            }),
            '*' | '+' | '?' => Err(format!("missing argument to repetition operator: {c}")),
            c => Ok(Node::Char(c)),
        }
    }

    fn group(&mut self) -> Result<Node, String> {
        if self.peek() == Some('?') {
            self.pos += 1;
            match self.next() {
                Some(':') => {}
                Some('P' | '<') => while self.next().is_some_and(|c| c != '>') {},
                _ => return Err("unsupported group flags".into()),
            }
        }
        let inner = self.alternation()?;
        if self.next() != Some(')') {
            return Err("missing closing )".into());
        }
        Ok(inner)
    }

    fn escape(&mut self) -> Result<Escape, String> {
        let Some(c) = self.next() else {
            return Err("trailing backslash at end of expression".into());
        };
        Ok(match c {
            'd' => Escape::Ranges(DIGIT.to_vec()),
            'D' => Escape::Ranges(complement(DIGIT)),
            'w' => Escape::Ranges(WORD.to_vec()),
            'W' => Escape::Ranges(complement(WORD)),
            's' => Escape::Ranges(SPACE.to_vec()),
            'S' => Escape::Ranges(complement(SPACE)),
            'n' => Escape::Char('\n'),
            't' => Escape::Char('\t'),
            'r' => Escape::Char('\r'),
            'f' => Escape::Char('\x0c'),
            'v' => Escape::Char('\x0b'),
            c if c.is_ascii_punctuation() => Escape::Char(c),
            c => return Err(format!("invalid escape sequence: \\{c}")),
        })
    }

    /// The class after `[`, through the closing `]`.
    fn class(&mut self) -> Result<Node, String> {
        let negated = self.peek() == Some('^');
        self.pos += usize::from(negated);
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.next() else {
                return Err("missing closing ]".into());
            };
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = match self.class_char(c)? {
                Escape::Char(lo) => lo,
                Escape::Ranges(set) => {
                    ranges.extend(set);
                    continue;
                }
            };
            let is_range =
                self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']');
            if !is_range {
                ranges.push((lo as u32, lo as u32));
                continue;
            }
            self.pos += 1;
            let hi = match self.next().map(|c| self.class_char(c)).transpose()? {
                Some(Escape::Char(hi)) if hi >= lo => hi,
                _ => return Err("invalid character class range".into()),
            };
            ranges.push((lo as u32, hi as u32));
        }
        Ok(Node::Class(Class { ranges, negated }))
    }

    fn class_char(&mut self, c: char) -> Result<Escape, String> {
        if c == '\\' {
            self.escape()
        } else {
            Ok(Escape::Char(c))
        }
    }
}

/// The code points not in `ranges`.
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut out = Vec::new();
    let mut next = 0u32;
    for (lo, hi) in sorted {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = next.max(hi.saturating_add(1));
    }
    if next <= char::MAX as u32 {
        out.push((next, char::MAX as u32));
    }
    out
}

#[derive(Debug)]
enum Inst {
    Char(char),
    Any,
    Class(Class),
    Split(usize, usize),
    Jmp(usize),
    Start,
    End,
    Match,
}

#[derive(Debug)]
struct Program {
    insts: Vec<Inst>,
}

impl Program {
    fn compile(node: &Node) -> Result<Self, String> {
        let mut program = Program { insts: Vec::new() };
        program.emit(node)?;
        program.insts.push(Inst::Match);
        Ok(program)
    }

    fn push(&mut self, inst: Inst) -> usize {
        self.insts.push(inst);
        self.insts.len() - 1
    }

    fn emit(&mut self, node: &Node) -> Result<(), String> {
        if self.insts.len() > MAX_INSTRUCTIONS {
            return Err("expression too large".into());
        }
        match node {
            Node::Empty => {}
            Node::Char(c) => {
                self.push(Inst::Char(*c));
            }
            Node::Any => {
                self.push(Inst::Any);
            }
            Node::Class(class) => {
                self.push(Inst::Class(class.clone()));
            }
            Node::Start => {
                self.push(Inst::Start);
            }
            Node::End => {
                self.push(Inst::End);
            }
            Node::Concat(items) => {
                for item in items {
                    self.emit(item)?;
                }
            }
            Node::Alt(branches) => self.alternation(branches)?,
            Node::Repeat(inner, min, max) => self.repetition(inner, *min, *max)?,
        }
        Ok(())
    }

    fn alternation(&mut self, branches: &[Node]) -> Result<(), String> {
        let mut exits = Vec::new();
        for (i, branch) in branches.iter().enumerate() {
            if i + 1 == branches.len() {
                self.emit(branch)?;
                break;
            }
            let split = self.push(Inst::Split(0, 0));
            self.emit(branch)?;
            exits.push(self.push(Inst::Jmp(0)));
            self.insts[split] = Inst::Split(split + 1, self.insts.len());
        }
        let end = self.insts.len();
        for exit in exits {
            self.insts[exit] = Inst::Jmp(end);
        }
        Ok(())
    }

    fn repetition(&mut self, inner: &Node, min: u32, max: Option<u32>) -> Result<(), String> {
        for _ in 0..min {
            self.emit(inner)?;
        }
        match max {
            None => {
                let split = self.push(Inst::Split(0, 0));
                self.emit(inner)?;
                self.push(Inst::Jmp(split));
                self.insts[split] = Inst::Split(split + 1, self.insts.len());
            }
            Some(max) => {
                for _ in min..max {
                    let split = self.push(Inst::Split(0, 0));
                    self.emit(inner)?;
                    self.insts[split] = Inst::Split(split + 1, self.insts.len());
                }
            }
        }
        Ok(())
    }

    /// Whether the whole of `text` matches (a Pike VM: linear in the text).
    fn is_match(&self, text: &str) -> bool {
        let mut current = Threads::new(self.insts.len());
        let mut next = Threads::new(self.insts.len());
        let mut stack = Vec::new();
        self.add(&mut current, &mut stack, 0, true, text.is_empty());
        for (i, c) in text.char_indices() {
            if current.list.is_empty() {
                return false;
            }
            let at_end = i + c.len_utf8() == text.len();
            next.clear();
            for k in 0..current.list.len() {
                let pc = current.list[k];
                let step = match &self.insts[pc] {
                    Inst::Char(x) => *x == c,
                    Inst::Any => c != '\n',
                    Inst::Class(class) => class.matches(c),
                    _ => false,
                };
                if step {
                    self.add(&mut next, &mut stack, pc + 1, false, at_end);
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        current
            .list
            .iter()
            .any(|pc| matches!(self.insts[*pc], Inst::Match))
    }

    /// Adds `pc` and everything reachable from it without consuming input.
    fn add(
        &self,
        threads: &mut Threads,
        stack: &mut Vec<usize>,
        pc: usize,
        at_start: bool,
        at_end: bool,
    ) {
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if !threads.insert(pc) {
                continue;
            }
            match self.insts[pc] {
                Inst::Jmp(to) => stack.push(to),
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Inst::Start if at_start => stack.push(pc + 1),
                Inst::End if at_end => stack.push(pc + 1),
                _ => {}
            }
        }
    }
}

/// The set of program counters alive at one position, in insertion order.
struct Threads {
    list: Vec<usize>,
    present: Vec<bool>,
}

impl Threads {
    fn new(size: usize) -> Self {
        Threads {
            list: Vec::with_capacity(size),
            present: vec![false; size],
        }
    }

    fn insert(&mut self, pc: usize) -> bool {
        let fresh = !self.present[pc];
        if fresh {
            self.present[pc] = true;
            self.list.push(pc);
        }
        fresh
    }

    fn clear(&mut self) {
        for pc in self.list.drain(..) {
            self.present[pc] = false;
        }
    }
}
