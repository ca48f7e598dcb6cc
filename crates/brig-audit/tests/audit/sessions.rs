//! Listing sessions and finding one by prefix.

use crate::common::*;
use brig_audit::{list, new_session_id, read, AuditError, SessionInfo, Writer};
use serde_json::json;
use std::fs;

fn write(state: &State, session: &str, records: usize) {
    let mut w = Writer::create(&state.dir(), session).unwrap();
    for i in 0..records {
        w.append("exec", json!({"i": i, "session": session}))
            .unwrap();
    }
    w.commit().unwrap();
}

#[test]
fn list_is_oldest_first_and_summarizes_each_session() {
    let state = State::new("list");
    // Written in this order; as text the ids sort otherwise (pid 10000 before pid 9999 in
    // the same second, and a misleading stamp): the list follows the records' timestamps.
    let ids = [
        "20261203T180720Z-9999-bbbbbb",
        "20261203T180720Z-10000-aaaaaa",
        "20250101T000000Z-99-aaaaaa",
    ];
    for (n, id) in ids.iter().enumerate() {
        write(&state, id, n + 1);
    }
    // Files that are not segments are ignored.
    fs::write(state.dir().join("notes.txt"), "x").unwrap();
    fs::create_dir(state.dir().join("sub.jsonl")).unwrap();

    let listed = list(&state.dir()).unwrap();
    let mut expected = Vec::new();
    for id in ids {
        let records = read(&state.dir(), id).unwrap();
        expected.push(SessionInfo {
            id: id.to_owned(),
            path: state.segment(id),
            records: records.len(),
            first_ts: records.first().map(|r| r.ts.clone()),
            last_ts: records.last().map(|r| r.ts.clone()),
            first: records.first().cloned(),
        });
    }
    assert_eq!(listed, expected);
    assert_eq!(
        listed.iter().map(|s| s.records).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(
        listed[0].first.as_ref().map(|r| &r.data),
        Some(&json!({"i": 0, "session": ids[0]}))
    );
}

#[test]
fn list_of_a_missing_directory_is_empty() {
    let state = State::new("list-missing");
    assert_eq!(list(&state.dir()).unwrap(), vec![]);
}

#[test]
fn a_unique_prefix_finds_a_session_and_an_ambiguous_or_unknown_one_is_an_error() {
    let state = State::new("prefix");
    for id in ["abc", "abcd", "abce", "xyz"] {
        write(&state, id, 1);
    }
    let session_of = |prefix: &str| read(&state.dir(), prefix).map(|r| r[0].session.clone());
    assert_eq!(session_of("x").unwrap(), "xyz");
    assert_eq!(session_of("abcd").unwrap(), "abcd");
    // An exact id wins over being a prefix of others.
    assert_eq!(session_of("abc").unwrap(), "abc");
    match session_of("ab") {
        Err(AuditError::AmbiguousSession { prefix, matches }) => {
            assert_eq!(prefix, "ab");
            assert_eq!(matches, ["abc", "abcd", "abce"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        session_of("q"),
        Err(AuditError::SessionNotFound { .. })
    ));
    assert!(matches!(
        session_of(""),
        Err(AuditError::InvalidSession { .. })
    ));
}

#[test]
fn new_session_ids_sort_by_time_and_name_a_file() {
    let id = new_session_id();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(parts.len(), 3, "{id}");
    let stamp = parts[0];
    assert_eq!(stamp.len(), 16, "{id}");
    assert!(stamp[..8].chars().all(|c| c.is_ascii_digit()), "{id}");
    assert_eq!(&stamp[8..9], "T");
    assert!(stamp[9..15].chars().all(|c| c.is_ascii_digit()), "{id}");
    assert_eq!(&stamp[15..], "Z");
    assert_eq!(parts[1], std::process::id().to_string());
    assert_eq!(parts[2].len(), 6);
    assert!(parts[2].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert!(stamp >= "20240101T000000Z");
    // Usable as a session, and distinct from the next one.
    let state = State::new("ids");
    Writer::create(&state.dir(), &id).unwrap();
    assert_ne!(new_session_id(), id);
}

/// Each session names the one started before it (`latest_session`, recorded by the caller in
/// its start record), so deleting a segment in the middle of the history is caught when the
/// next one is verified; the segments around it stay intact.
#[test]
fn a_deleted_segment_is_caught_by_the_next_session() {
    let state = State::new("deleted-segment");
    let dir = state.dir();
    assert_eq!(brig_audit::latest_session(&dir), None);
    let ids = [
        "20261203T190000Z-1-aaaaaa",
        "20261203T190001Z-2-bbbbbb",
        "20261203T190002Z-3-cccccc",
    ];
    for id in ids {
        let previous = brig_audit::latest_session(&dir);
        let mut w = Writer::create(&dir, id).unwrap();
        w.append("session.start", json!({ "previous_session": previous }))
            .unwrap();
        w.commit().unwrap();
        assert_eq!(brig_audit::latest_session(&dir).as_deref(), Some(id));
    }
    for id in ids {
        assert!(brig_audit::verify(&dir, id).unwrap().intact(), "{id}");
    }
    fs::remove_file(state.segment(ids[1])).unwrap();
    let v = brig_audit::verify(&dir, ids[2]).unwrap();
    assert_eq!(
        v.problems,
        vec![brig_audit::Problem::PreviousMissing {
            line: 1,
            previous: ids[1].to_owned()
        }]
    );
    assert!(v.tampered());
    assert_eq!(
        v.problems[0].to_string(),
        format!(
            "line 1: the previous session \"{}\", named here, has no segment (it was deleted)",
            ids[1]
        )
    );
    assert!(brig_audit::verify(&dir, ids[0]).unwrap().intact());
}
