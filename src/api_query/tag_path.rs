//! How a tag is named in the API: `/category/name` (ManageIQ's full name is
//! `/managed/category/name`; both are accepted). Used by `by_tag`, group filters and
//! the tags API.

/// Longest category or tag name.
pub const MAX_NAME_CHARS: usize = 128;

/// A tag by its category and name: `/category/name` (ManageIQ's full name is
/// `/managed/category/name`; both are accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagRef {
    pub category: String,
    pub name: String,
}

impl TagRef {
    /// `/managed/category/name`.
    pub fn full_name(&self) -> String {
        format!("/managed/{}/{}", self.category, self.name)
    }
}

/// Checks a category or tag name: 1–128 of `A-Z a-z 0-9 . _ - :`.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} must be 1-{MAX_NAME_CHARS} characters of A-Z a-z 0-9 . _ - :, not `{}`",
            crate::text::truncate(name, 60)
        ))
    }
}

/// Parses `/category/name` or `/managed/category/name`.
pub fn parse_tag_path(text: &str) -> Result<TagRef, String> {
    let trimmed = text.trim();
    let rest = trimmed
        .strip_prefix("/managed/")
        .or_else(|| trimmed.strip_prefix('/'))
        .ok_or_else(|| {
            format!(
                "a tag is written /category/name, not `{}`",
                crate::text::truncate(trimmed, 60)
            )
        })?;
    let (category, name) = rest.split_once('/').ok_or_else(|| {
        format!(
            "a tag is written /category/name, not `{}`",
            crate::text::truncate(trimmed, 60)
        )
    })?;
    check_name("a category", category)?;
    check_name("a tag", name)?;
    Ok(TagRef {
        category: category.to_string(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_paths() {
        let t = parse_tag_path("/department/finance").expect("parse");
        assert_eq!(
            (t.category.as_str(), t.name.as_str()),
            ("department", "finance")
        );
        assert_eq!(parse_tag_path("/managed/department/finance"), Ok(t.clone()));
        assert_eq!(t.full_name(), "/managed/department/finance");
        for bad in [
            "department/finance",
            "/department",
            "/a/b/c",
            "/a b/c",
            "/",
            "",
        ] {
            assert!(parse_tag_path(bad).is_err(), "{bad}");
        }
    }
}
