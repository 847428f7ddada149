//! SQL functions SQLite lacks and the API needs: `regexp(pattern, text)` (the
//! `filter[]=attr =~ /re/` operator), with Rust's `regex` and a small per-thread
//! cache of compiled patterns.

use std::cell::RefCell;
use std::collections::HashMap;

use diesel::sql_types::{Nullable, Text};
use diesel::sqlite::SqliteConnection;

diesel::define_sql_function! {
    /// Whether `value` matches `pattern`; NULL for a NULL value or a bad pattern.
    fn regexp(pattern: Text, value: Nullable<Text>) -> Nullable<Bool>;
}

const CACHE_MAX: usize = 64;
/// Longest compiled program a pattern may need (bounded work per row).
const SIZE_LIMIT: usize = 1 << 20;

thread_local! {
    static CACHE: RefCell<HashMap<String, Option<regex::Regex>>> = RefCell::new(HashMap::new());
}

fn matches(pattern: String, value: Option<String>) -> Option<bool> {
    let value = value?;
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(&pattern) {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            let compiled = regex::RegexBuilder::new(&pattern)
                .size_limit(SIZE_LIMIT)
                .build()
                .ok();
            cache.insert(pattern.clone(), compiled);
        }
        cache
            .get(&pattern)
            .and_then(|r| r.as_ref())
            .map(|r| r.is_match(&value))
    })
}

/// Registers the functions on a new connection.
pub fn register(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    regexp_utils::register_impl(conn, matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_the_regex_crate() {
        assert_eq!(matches("^we".into(), Some("web".into())), Some(true));
        assert_eq!(matches("(?i)^WE".into(), Some("web".into())), Some(true));
        assert_eq!(matches("^x".into(), Some("web".into())), Some(false));
        assert_eq!(matches("(".into(), Some("web".into())), None);
        assert_eq!(matches("a".into(), None), None);
    }
}
