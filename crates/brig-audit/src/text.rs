//! Text that came from a sandboxed command (paths, command lines, request texts), made safe
//! to show to a person: on a terminal or in a page it must read as what runs.

/// `s` with control characters and the format characters that reorder or hide text
/// ([`is_deceptive`]) shown as `?`.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || is_deceptive(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Unicode format characters that reorder or hide text (bidirectional overrides and isolates,
/// zero-width characters, the byte-order mark).
pub fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bidi_and_invisible_characters_become_question_marks() {
        assert_eq!(printable("rm -rf build"), "rm -rf build");
        assert_eq!(printable("a\x1b[2Jb\n"), "a?[2Jb?");
        // "rm -rf /tmp/x" that a right-to-left override would show as something else.
        assert_eq!(printable("rm \u{202E}x/pmt/ fr-"), "rm ?x/pmt/ fr-");
        assert_eq!(printable("a\u{200B}b\u{2066}c\u{FEFF}"), "a?b?c?");
        assert_eq!(printable("bücher 日本"), "bücher 日本");
    }
}
