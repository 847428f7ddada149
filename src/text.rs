//! Small text helpers shared by whoever bounds or logs text from outside.

/// `text` cut to at most `max` characters (on a character boundary).
pub fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// `text` cut to at most `max` characters, with `…(N bytes)` appended when cut, for
/// log lines that must stay short whatever a caller sent.
pub fn elide(text: &str, max: usize) -> String {
    let cut = truncate(text, max);
    if cut.len() == text.len() {
        text.to_string()
    } else {
        format!("{cut}…({} bytes)", text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
        assert_eq!(elide("abcdef", 3), "abc…(6 bytes)");
        assert_eq!(elide("abc", 3), "abc");
    }
}
