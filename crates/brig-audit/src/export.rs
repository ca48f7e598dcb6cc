//! Exporting records as JSON Lines or CSV, and the one-line summary of a record's data.

use crate::Record;
use serde_json::Value;
use std::io::{self, Write};

/// Writes one JSON object per line, exactly as the segment stores them: records read from an
/// intact segment export to the same bytes, so the export carries the hash chain along.
pub fn export_jsonl(records: &[Record], out: &mut dyn Write) -> io::Result<()> {
    for record in records {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes `session,seq,ts,kind,summary` rows after a header, RFC 4180 style: CRLF line ends, and
/// fields holding a comma, quote, CR or LF quoted with quotes doubled. `summary` is
/// [`summary`]`(&record.data)`.
pub fn export_csv(records: &[Record], out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"session,seq,ts,kind,summary\r\n")?;
    for r in records {
        let row = [
            csv_field(&r.session),
            r.seq.to_string(),
            csv_field(&r.ts),
            csv_field(&r.kind),
            csv_field(&summary(&r.data)),
        ];
        out.write_all(row.join(",").as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

/// A compact one-line rendering of a record's `data`: an object becomes `key=value` pairs in
/// key order, separated by spaces; strings appear bare unless they are empty or hold whitespace,
/// control characters or quotes, in which case they are JSON-quoted; other values are compact
/// JSON. Never contains a line break.
pub fn summary(data: &Value) -> String {
    match data {
        Value::Null => String::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}={}", text(k), value(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => value(other),
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => text(s),
        other => other.to_string(),
    }
}

fn text(s: &str) -> String {
    let bare = !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    if bare {
        s.to_owned()
    } else {
        Value::from(s).to_string()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summary_of_an_object_is_one_line_of_pairs() {
        let data = json!({
            "argv": ["cargo", "build"],
            "cwd": "/work/my project",
            "exit": 0,
            "note": "line one\nline two",
            "path": "a,b",
            "empty": "",
            "none": null,
        });
        assert_eq!(
            summary(&data),
            r#"argv=["cargo","build"] cwd="/work/my project" empty="" exit=0 none=null note="line one\nline two" path=a,b"#
        );
    }

    #[test]
    fn summary_of_other_values() {
        assert_eq!(summary(&Value::Null), "");
        assert_eq!(summary(&json!("plain")), "plain");
        assert_eq!(summary(&json!([1, 2])), "[1,2]");
        assert_eq!(summary(&json!(1.5)), "1.5");
    }

    #[test]
    fn csv_fields_quote_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
    }
}
