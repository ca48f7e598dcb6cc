//! Writing a session and reading it back.

use crate::common::*;
use brig_audit::{read, verify, AuditError, Problem, Record, Verdict, Writer, SCHEMA_VERSION};
use serde_json::json;
use std::fs;

#[test]
fn round_trip_gives_back_every_record_with_chain_and_signatures() {
    let state = State::new("round-trip");
    let path = standard_session(&state);
    let raw = lines(&path);
    let read_back = read(&state.dir(), SESSION).unwrap();
    assert_eq!(raw.len(), 6);
    assert_eq!(read_back.len(), 6);

    // Rebuild what the file must say, independently: prev is the SHA-256 of the previous line,
    // and a checkpoint's mac is HMAC-SHA256 of its own line without the mac.
    let key = state.key();
    let contents = [
        ("session", json!({"event": "start", "user": "ada"})),
        ("file", json!({"op": "write", "path": "/work/a.rs"})),
        ("file", json!({"op": "delete", "path": "/work/b.rs"})),
        ("checkpoint", json!({"records": 3})),
        ("command", json!({"argv": ["cargo", "build"], "exit": 0})),
        ("checkpoint", json!({"records": 5})),
    ];
    let mut expected = Vec::new();
    let mut prev = "0".repeat(64);
    for (seq, (kind, data)) in contents.into_iter().enumerate() {
        let mut record = Record {
            v: SCHEMA_VERSION,
            seq: seq as u64,
            ts: read_back[seq].ts.clone(),
            session: SESSION.to_owned(),
            kind: kind.to_owned(),
            data,
            prev: prev.clone(),
            mac: None,
        };
        if kind == "checkpoint" {
            record.mac = Some(hmac_hex(&key, &serde_json::to_vec(&record).unwrap()));
        }
        prev = sha256_hex(&raw[seq]);
        expected.push(record);
    }
    assert_eq!(read_back, expected);
    // ...and the lines are exactly those records serialized.
    let reserialized: Vec<Vec<u8>> = expected
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap())
        .collect();
    assert_eq!(raw, reserialized);
}

#[test]
fn timestamps_are_rfc3339_utc_with_microseconds_and_do_not_go_backwards() {
    let state = State::new("ts");
    standard_session(&state);
    let records = read(&state.dir(), SESSION).unwrap();
    for r in &records {
        assert!(is_rfc3339_micros(&r.ts), "{}", r.ts);
        assert!(r.ts.as_str() >= "2024-01-01T00:00:00.000000Z", "{}", r.ts);
    }
    let ts: Vec<&str> = records.iter().map(|r| r.ts.as_str()).collect();
    let mut sorted = ts.clone();
    sorted.sort();
    assert_eq!(ts, sorted);
}

#[test]
fn an_untouched_session_verifies_intact() {
    let state = State::new("intact");
    standard_session(&state);
    let verdict = verify(&state.dir(), SESSION).unwrap();
    assert_eq!(
        verdict,
        Verdict {
            session: SESSION.to_owned(),
            records: 6,
            problems: vec![],
        }
    );
    assert!(verdict.intact());
    assert!(!verdict.tampered());
}

#[test]
fn records_after_the_last_commit_are_reported_unsigned() {
    let state = State::new("unsigned");
    let mut w = Writer::create(&state.dir(), SESSION).unwrap();
    w.append("session", json!({"event": "start"})).unwrap();
    w.commit().unwrap(); // seq 1
    w.append("exec", json!({"pid": 7})).unwrap(); // seq 2, line 3
    w.append("exec", json!({"pid": 8})).unwrap(); // seq 3, line 4
    drop(w); // as if brig were killed with SIGKILL before its final commit

    let verdict = verify(&state.dir(), SESSION).unwrap();
    assert_eq!(
        verdict.problems,
        vec![Problem::Unsigned {
            after_seq: Some(1),
            records: 2,
            line: 3
        }]
    );
    assert!(!verdict.tampered());
    // The records are all readable.
    assert_eq!(read(&state.dir(), SESSION).unwrap().len(), 4);
}

#[test]
fn a_session_that_never_committed_is_unsigned_from_the_start() {
    let state = State::new("never-committed");
    let mut w = Writer::create(&state.dir(), SESSION).unwrap();
    w.append("session", json!({"event": "start"})).unwrap();
    drop(w);
    let verdict = verify(&state.dir(), SESSION).unwrap();
    assert_eq!(
        verdict.problems,
        vec![Problem::Unsigned {
            after_seq: None,
            records: 1,
            line: 1
        }]
    );
    assert_eq!(
        verdict.problems[0].to_string(),
        "line 1: 1 record(s) after the start (the segment has no checkpoint) are unsigned \
         (the session is still running, or was killed before its final commit)"
    );
}

#[test]
fn commit_without_new_records_writes_nothing() {
    let state = State::new("idempotent-commit");
    let mut w = Writer::create(&state.dir(), SESSION).unwrap();
    w.append("session", json!({})).unwrap();
    w.commit().unwrap();
    w.commit().unwrap();
    assert_eq!(w.records(), 2);
    let kinds: Vec<String> = read(&state.dir(), SESSION)
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds, ["session", "checkpoint"]);
}

#[test]
fn checkpoint_is_reserved_for_commit() {
    let state = State::new("reserved");
    let mut w = Writer::create(&state.dir(), SESSION).unwrap();
    let err = w.append("checkpoint", json!({"records": 0})).unwrap_err();
    assert!(
        matches!(&err, AuditError::ReservedKind { kind } if kind == "checkpoint"),
        "{err:?}"
    );
    assert_eq!(w.records(), 0);
}

#[test]
fn a_session_file_is_created_exclusively_and_the_key_never_rewritten() {
    let state = State::new("exclusive");
    standard_session(&state);
    let key = state.key();
    assert_eq!(key.len(), 32);
    let err = Writer::create(&state.dir(), SESSION).unwrap_err();
    assert!(
        matches!(&err, AuditError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
        "{err:?}"
    );
    Writer::create(&state.dir(), "another").unwrap();
    assert_eq!(state.key(), key);
    // No temporary key files are left behind.
    let mut names: Vec<String> = fs::read_dir(state.dir().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["audit", "audit.key"]);
}

#[cfg(unix)]
#[test]
fn directory_segment_and_key_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let state = State::new("modes");
    let path = standard_session(&state);
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        [mode(&state.dir()), mode(&path), mode(&state.key_path())],
        [0o700, 0o600, 0o600]
    );
}

#[test]
fn session_ids_that_are_not_plain_file_names_are_refused() {
    let state = State::new("bad-ids");
    for bad in ["", "../escape", "a/b", ".hidden", "sp ace", "nul\0"] {
        let err = Writer::create(&state.dir(), bad).unwrap_err();
        assert!(
            matches!(err, AuditError::InvalidSession { .. }),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn read_stops_before_a_torn_tail() {
    let state = State::new("torn-read");
    let path = standard_session(&state);
    let before = read(&state.dir(), SESSION).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"v":1,"seq":6,"ts":"2026-"#);
    fs::write(&path, bytes).unwrap();
    assert_eq!(read(&state.dir(), SESSION).unwrap(), before);
}

#[test]
fn read_refuses_a_complete_line_that_is_not_a_record() {
    let state = State::new("malformed-read");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[1] = b"not json".to_vec();
    write_lines(&path, &raw);
    let err = read(&state.dir(), SESSION).unwrap_err();
    assert!(
        matches!(&err, AuditError::Malformed { line: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn two_sessions_written_concurrently_both_verify() {
    let state = State::new("threads");
    let dir = state.dir();
    let sessions = ["20261203T180720Z-1-aaaaaa", "20261203T180720Z-2-bbbbbb"];
    std::thread::scope(|s| {
        for (t, session) in sessions.iter().enumerate() {
            let dir = &dir;
            s.spawn(move || {
                let mut w = Writer::create(dir, session).unwrap();
                for i in 0..300 {
                    w.append("exec", json!({"thread": t, "i": i})).unwrap();
                    if i % 25 == 24 {
                        w.commit().unwrap();
                    }
                }
                w.commit().unwrap();
            });
        }
    });
    for (t, session) in sessions.iter().enumerate() {
        let verdict = verify(&dir, session).unwrap();
        // 300 records and 12 checkpoints (the final commit has nothing new after i = 299).
        assert_eq!(
            verdict,
            Verdict {
                session: session.to_string(),
                records: 312,
                problems: vec![]
            }
        );
        let threads: Vec<u64> = read(&dir, session)
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == "exec")
            .map(|r| r.data["thread"].as_u64().unwrap())
            .collect();
        assert_eq!(threads, vec![t as u64; 300]);
    }
}
