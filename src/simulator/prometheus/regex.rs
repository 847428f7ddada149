//! Label regular expressions as Prometheus runs them: RE2 syntax (the `regex` crate's,
//! which is RE2's), fully anchored (`^(?:…)$`). Top-level alternatives that are plain
//! literals (`pod=~"a|b|c…"`, what metrics capture sends for thousands of pods) are
//! looked up in a hash set; the rest is one compiled `regex::Regex`.

use std::collections::HashSet;

/// The most nested groups a pattern may have (the crate refuses deeper ones with an
/// error rather than recursing).
const NEST_LIMIT: u32 = 100;
/// The most memory one compiled pattern may take.
const SIZE_LIMIT: usize = 8 << 20;

/// A compiled, fully anchored regular expression.
#[derive(Debug)]
pub(super) struct Regex {
    literals: HashSet<String>,
    rest: Option<regex::Regex>,
}

impl Regex {
    pub(super) fn new(pattern: &str) -> Result<Self, String> {
        let mut literals = HashSet::new();
        let mut rest = Vec::new();
        match split_top_level(pattern) {
            Some(branches) => {
                for branch in branches {
                    match literal(branch) {
                        Some(text) => {
                            literals.insert(text);
                        }
                        None => rest.push(branch),
                    }
                }
            }
            None => rest.push(pattern),
        }
        let rest = if rest.is_empty() {
            None
        } else {
            let anchored = format!("^(?:{})$", rest.join("|"));
            Some(
                regex::RegexBuilder::new(&anchored)
                    .nest_limit(NEST_LIMIT)
                    .size_limit(SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?,
            )
        };
        Ok(Regex { literals, rest })
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        self.literals.contains(text) || self.rest.as_ref().is_some_and(|r| r.is_match(text))
    }
}

/// The top-level `|` branches of `pattern`, or None when a group or class makes the
/// split unsafe to do by hand (then the whole pattern goes to the regex engine).
fn split_top_level(pattern: &str) -> Option<Vec<&str>> {
    if pattern.contains(['(', ')', '[', ']']) {
        return None;
    }
    let mut branches = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in pattern.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' => {
                branches.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    branches.push(&pattern[start..]);
    Some(branches)
}

/// The text a branch matches when it is a literal (metacharacters only escaped).
fn literal(branch: &str) -> Option<String> {
    let mut out = String::with_capacity(branch.len());
    let mut chars = branch.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next()?;
                if !regex_syntax::is_meta_character(next) {
                    return None;
                }
                out.push(next);
            }
            c if regex_syntax::is_meta_character(c) => return None,
            c => out.push(c),
        }
    }
    Some(out)
}
