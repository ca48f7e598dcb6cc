//! Reading TOML with positions: the shared machinery behind every `FILE:LINE:COL: message` error.
//!
//! brig does not let serde drive the parse. It parses a document into toml's spanned tree
//! ([`DeTable`]) and walks it by hand, so every error can name the key, say what was expected and
//! point at the exact byte that is wrong. Byte spans are turned into 1-based line and column
//! numbers here; columns count Unicode scalar values, which is what editors show.

use std::ops::Range;

use serde::Serialize;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use crate::config::ConfigError;

/// A 1-based position in a source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number (in characters), starting at 1.
    pub column: usize,
}

/// One source text being read, with its display name.
pub(crate) struct Doc<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

/// A key/value pair of a spanned table.
pub(crate) type Entry<'t, 'i> = (&'t Spanned<DeString<'i>>, &'t Spanned<DeValue<'i>>);

impl<'a> Doc<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Doc { file, text }
    }

    /// The line and column of byte `offset`.
    pub(crate) fn location(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }

    /// An error pointing at the start of `span`.
    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, self.location(span.start), message)
    }

    /// Parses the whole document into a spanned table.
    pub(crate) fn parse(&self) -> Result<Spanned<DeTable<'a>>, ConfigError> {
        DeTable::parse(self.text).map_err(|e| {
            let at = e
                .span()
                .map_or(Location { line: 1, column: 1 }, |s| self.location(s.start));
            ConfigError::new(
                self.file,
                at,
                format!("invalid TOML: {}", e.message().trim_end()),
            )
        })
    }
}

/// The entries of `table` in source order (toml stores them sorted by key).
pub(crate) fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut v: Vec<Entry<'t, 'i>> = table.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// `value` as a table, or an error naming `key`.
pub(crate) fn expect_table<'t, 'i>(
    doc: &Doc<'_>,
    key: &str,
    value: &'t Spanned<DeValue<'i>>,
) -> Result<&'t DeTable<'i>, ConfigError> {
    match value.get_ref() {
        DeValue::Table(t) => Ok(t),
        other => Err(doc.error(
            value.span(),
            format!("`{key}` must be a table, found {}", article(other)),
        )),
    }
}

/// `value` as a string, or an error naming `key`.
pub(crate) fn expect_str<'t>(
    doc: &Doc<'_>,
    key: &str,
    value: &'t Spanned<DeValue<'_>>,
) -> Result<&'t str, ConfigError> {
    match value.get_ref() {
        DeValue::String(s) => Ok(s.as_ref()),
        other => Err(doc.error(
            value.span(),
            format!("`{key}` must be a string, found {}", article(other)),
        )),
    }
}

/// `value` as a boolean, or an error naming `key`.
pub(crate) fn expect_bool(
    doc: &Doc<'_>,
    key: &str,
    value: &Spanned<DeValue<'_>>,
) -> Result<bool, ConfigError> {
    match value.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(doc.error(
            value.span(),
            format!("`{key}` must be true or false, found {}", article(other)),
        )),
    }
}

/// `value` as an array of strings, each checked by `check` (which returns a problem description),
/// or an error naming `key` (and the index of a bad element).
pub(crate) fn expect_str_array(
    doc: &Doc<'_>,
    key: &str,
    value: &Spanned<DeValue<'_>>,
    check: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ConfigError> {
    let DeValue::Array(items) = value.get_ref() else {
        return Err(doc.error(
            value.span(),
            format!(
                "`{key}` must be an array of strings, found {}",
                article(value.get_ref())
            ),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let DeValue::String(s) = item.get_ref() else {
            return Err(doc.error(
                item.span(),
                format!(
                    "`{key}[{i}]` must be a string, found {}",
                    article(item.get_ref())
                ),
            ));
        };
        if let Some(problem) = check(s) {
            return Err(doc.error(item.span(), format!("`{key}[{i}]` {problem}")));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

/// The error for a key that is not part of the schema.
pub(crate) fn unknown_key(
    doc: &Doc<'_>,
    key: &Spanned<DeString<'_>>,
    table: &str,
    expected: &[&str],
) -> ConfigError {
    let list = expected
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let place = if table.is_empty() {
        String::new()
    } else {
        format!(" in [{table}]")
    };
    doc.error(
        key.span(),
        format!(
            "unknown key `{}`{place}; expected one of {list}",
            key.get_ref()
        ),
    )
}

/// "a string", "an integer", ...
fn article(v: &DeValue<'_>) -> String {
    let t = v.type_str();
    let a = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{a} {t}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_and_count_characters() {
        let doc = Doc::new("f", "ab\nçd = 1\n\nx");
        assert_eq!(doc.location(0), Location { line: 1, column: 1 });
        assert_eq!(doc.location(2), Location { line: 1, column: 3 });
        assert_eq!(doc.location(3), Location { line: 2, column: 1 });
        // "ç" is two bytes but one column.
        assert_eq!(doc.location(5), Location { line: 2, column: 2 });
        assert_eq!(doc.location(12), Location { line: 4, column: 1 });
        // Past the end and inside a multi-byte character are clamped, never a panic.
        assert_eq!(doc.location(4), Location { line: 2, column: 1 });
        assert_eq!(doc.location(999), Location { line: 4, column: 2 });
    }

    #[test]
    fn entries_come_back_in_source_order() {
        let doc = Doc::new("f", "zeta = 1\nalpha = 2\nmid = 3\n");
        let root = doc.parse().unwrap();
        let keys: Vec<String> = entries(root.get_ref())
            .iter()
            .map(|(k, _)| k.get_ref().to_string())
            .collect();
        assert_eq!(keys, vec!["zeta", "alpha", "mid"]);
    }
}
