//! JSON Lines and CSV export.

use crate::common::*;
use brig_audit::{export_csv, export_jsonl, read, Record, SCHEMA_VERSION};
use serde_json::{json, Value};
use std::fs;

fn record(seq: u64, kind: &str, data: Value) -> Record {
    Record {
        v: SCHEMA_VERSION,
        seq,
        ts: format!("2026-12-03T18:07:2{seq}.123456Z"),
        session: "s1".to_owned(),
        kind: kind.to_owned(),
        data,
        prev: "0".repeat(64),
        mac: None,
    }
}

#[test]
fn csv_quotes_commas_quotes_and_newlines() {
    let records = [
        record(0, "file", json!({"op": "create", "path": "/work/a,b.txt"})),
        record(1, "command", json!({"argv": ["echo", "say \"hi\""]})),
        record(2, "note", json!("two\nlines")),
        record(3, "weird,kind", Value::Null),
    ];
    let mut out = Vec::new();
    export_csv(&records, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "session,seq,ts,kind,summary\r\n\
         s1,0,2026-12-03T18:07:20.123456Z,file,\"op=create path=/work/a,b.txt\"\r\n\
         s1,1,2026-12-03T18:07:21.123456Z,command,\"argv=[\"\"echo\"\",\"\"say \\\"\"hi\\\"\"\"\"]\"\r\n\
         s1,2,2026-12-03T18:07:22.123456Z,note,\"\"\"two\\nlines\"\"\"\r\n\
         s1,3,2026-12-03T18:07:23.123456Z,\"weird,kind\",\r\n"
    );
}

#[test]
fn csv_fields_parse_back_to_the_originals() {
    // A minimal RFC 4180 reader, to check the quoting from the other side.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = vec![];
        let mut row = vec![];
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'));
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(
            field.is_empty() && row.is_empty(),
            "the last row ends in CRLF"
        );
        rows
    }
    let records = [record(0, "k,\"\n", json!({"path": "a,\"b\"\r\nc"}))];
    let mut out = Vec::new();
    export_csv(&records, &mut out).unwrap();
    assert_eq!(
        parse(&String::from_utf8(out).unwrap()),
        vec![
            vec!["session", "seq", "ts", "kind", "summary"],
            vec![
                "s1",
                "0",
                "2026-12-03T18:07:20.123456Z",
                "k,\"\n",
                r#"path="a,\"b\"\r\nc""#
            ],
        ]
    );
}

#[test]
fn jsonl_export_of_an_intact_segment_is_byte_identical() {
    let state = State::new("jsonl");
    let path = standard_session(&state);
    let mut out = Vec::new();
    export_jsonl(&read(&state.dir(), SESSION).unwrap(), &mut out).unwrap();
    assert_eq!(out, fs::read(&path).unwrap());
}

#[test]
fn jsonl_export_keeps_floats_and_unicode_exact() {
    let state = State::new("jsonl-floats");
    let mut w = brig_audit::Writer::create(&state.dir(), SESSION).unwrap();
    w.append(
        "command",
        json!({"cpu_s": 0.1 + 0.2, "tiny": 5e-324, "big": 1.7976931348623157e308,
               "path": "/work/é\u{1}\u{2028}", "neg": -12}),
    )
    .unwrap();
    w.commit().unwrap();
    let mut out = Vec::new();
    export_jsonl(&read(&state.dir(), SESSION).unwrap(), &mut out).unwrap();
    assert_eq!(out, fs::read(state.segment(SESSION)).unwrap());
    assert!(brig_audit::verify(&state.dir(), SESSION).unwrap().intact());
}
