//! Each kind of tampering is caught at the right record. The standard session's lines are listed
//! in `common::standard_session`.

use crate::common::*;
use brig_audit::{verify, AuditError, Problem, Record, Verdict};
use std::fs;

fn problems(state: &State) -> Vec<Problem> {
    verify(&state.dir(), SESSION).unwrap().problems
}

#[test]
fn editing_one_byte_of_a_middle_record_is_caught_at_that_record() {
    let state = State::new("edit");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[1] = replace(&raw[1], "/work/a.rs", "/work/c.rs");
    write_lines(&path, &raw);
    let verdict = verify(&state.dir(), SESSION).unwrap();
    assert_eq!(
        verdict,
        Verdict {
            session: SESSION.to_owned(),
            records: 6,
            problems: vec![Problem::Edited { seq: 1, line: 2 }],
        }
    );
    assert!(verdict.tampered());
    assert_eq!(
        verdict.problems[0].to_string(),
        "line 2: record seq 1 was edited (its hash does not match the next record's prev)"
    );
}

#[test]
fn editing_the_first_record_is_caught() {
    let state = State::new("edit-first");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[0] = replace(&raw[0], "ada", "eve");
    write_lines(&path, &raw);
    assert_eq!(problems(&state), vec![Problem::Edited { seq: 0, line: 1 }]);
}

#[test]
fn editing_a_checkpoint_breaks_its_signature_and_the_chain() {
    let state = State::new("edit-checkpoint");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[3] = replace(&raw[3], r#""records":3"#, r#""records":2"#);
    write_lines(&path, &raw);
    assert_eq!(
        problems(&state),
        vec![
            Problem::BadSignature { seq: 3, line: 4 },
            Problem::Edited { seq: 3, line: 4 },
        ]
    );
}

#[test]
fn deleting_a_line_is_caught_where_the_gap_is() {
    let state = State::new("delete");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw.remove(2); // seq 2
    write_lines(&path, &raw);
    let verdict = verify(&state.dir(), SESSION).unwrap();
    assert_eq!(verdict.records, 5);
    assert_eq!(
        verdict.problems,
        vec![Problem::Deleted {
            from_seq: 2,
            to_seq: 2,
            line: 3
        }]
    );
    assert_eq!(
        verdict.problems[0].to_string(),
        "line 3: record seq 2 was deleted before this line"
    );
}

#[test]
fn deleting_the_first_lines_is_caught() {
    let state = State::new("delete-head");
    let path = standard_session(&state);
    let raw = lines(&path);
    write_lines(&path, &raw[2..]);
    assert_eq!(
        problems(&state),
        vec![Problem::Deleted {
            from_seq: 0,
            to_seq: 1,
            line: 1
        }]
    );
}

#[test]
fn swapping_two_lines_is_caught_as_reordering() {
    let state = State::new("swap");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw.swap(1, 2); // file order is now seq 0, 2, 1, 3, 4, 5
    write_lines(&path, &raw);
    assert_eq!(
        problems(&state),
        vec![Problem::Reordered { seq: 2, line: 2 }]
    );
}

#[test]
fn moving_a_line_far_ahead_flags_only_that_line() {
    let state = State::new("move");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    let last = raw.remove(4); // seq 4
    raw.insert(1, last); // file order: 0, 4, 1, 2, 3, 5
    write_lines(&path, &raw);
    assert_eq!(
        problems(&state),
        vec![Problem::Reordered { seq: 4, line: 2 }]
    );
}

#[test]
fn cutting_the_file_mid_line_reports_the_torn_tail() {
    let state = State::new("truncate");
    let path = standard_session(&state);
    let bytes = fs::read(&path).unwrap();
    let raw = lines(&path);
    // Cut in the middle of the last line, the final checkpoint: a crash during commit.
    let last_start = bytes.len() - 1 - raw[5].len();
    fs::write(&path, &bytes[..last_start + 40]).unwrap();
    let verdict = verify(&state.dir(), SESSION).unwrap();
    assert_eq!(
        verdict,
        Verdict {
            session: SESSION.to_owned(),
            records: 5,
            problems: vec![
                Problem::Unsigned {
                    after_seq: Some(3),
                    records: 1,
                    line: 5
                },
                Problem::Truncated { line: 6, bytes: 40 },
            ],
        }
    );
    assert!(!verdict.tampered());
}

#[test]
fn cutting_the_file_in_an_earlier_line_reports_it_at_that_line() {
    let state = State::new("truncate-middle");
    let path = standard_session(&state);
    let raw = lines(&path);
    let start_of_line_3 = raw[0].len() + raw[1].len() + 2;
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..start_of_line_3 + 7]).unwrap();
    assert_eq!(
        problems(&state),
        vec![
            Problem::Unsigned {
                after_seq: None,
                records: 2,
                line: 1
            },
            Problem::Truncated { line: 3, bytes: 7 },
        ]
    );
}

#[test]
fn a_consistently_rechained_edit_is_caught_by_the_signatures() {
    let state = State::new("rechain");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[1] = replace(&raw[1], "/work/a.rs", "/work/c.rs");
    rechain(&mut raw, None);
    write_lines(&path, &raw);
    assert_eq!(
        problems(&state),
        vec![
            Problem::BadSignature { seq: 3, line: 4 },
            Problem::BadSignature { seq: 5, line: 6 },
        ]
    );
}

#[test]
fn signatures_forged_with_another_key_are_caught() {
    let state = State::new("forged");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[4] = replace(&raw[4], "cargo", "curl");
    // The forger re-signs every checkpoint, so both carry a signature the real key did not make.
    rechain(&mut raw, Some(&[7_u8; 32]));
    write_lines(&path, &raw);
    assert_eq!(
        problems(&state),
        vec![
            Problem::BadSignature { seq: 3, line: 4 },
            Problem::BadSignature { seq: 5, line: 6 },
        ]
    );
}

#[test]
fn rechaining_with_the_real_key_is_accepted_which_is_why_the_key_stays_outside_the_sandbox() {
    // Guards the test helper itself: with the key, a rewrite is indistinguishable.
    let state = State::new("real-key");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[4] = replace(&raw[4], "cargo", "curl");
    rechain(&mut raw, Some(&state.key()));
    write_lines(&path, &raw);
    assert_eq!(problems(&state), vec![]);
}

#[test]
fn stripping_a_signature_is_caught() {
    let state = State::new("strip-mac");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    let mut record: Record = serde_json::from_slice(&raw[5]).unwrap();
    record.mac = None;
    raw[5] = serde_json::to_vec(&record).unwrap();
    write_lines(&path, &raw);
    assert_eq!(
        problems(&state),
        vec![Problem::BadSignature { seq: 5, line: 6 }]
    );
}

#[test]
fn a_garbled_line_is_malformed_and_not_also_a_deletion() {
    let state = State::new("garbled");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    raw[2] = replace(&raw[2], r#""seq":2,"#, r#""seq":2;"#);
    write_lines(&path, &raw);
    let why = serde_json::from_slice::<Record>(&raw[2])
        .unwrap_err()
        .to_string();
    assert_eq!(problems(&state), vec![Problem::Malformed { line: 3, why }]);
}

#[test]
fn a_duplicated_line_is_reported() {
    let state = State::new("duplicate");
    let path = standard_session(&state);
    let mut raw = lines(&path);
    let copy = raw[1].clone();
    raw.insert(4, copy); // 0, 1, 2, 3, 1 (again), 4, 5
    write_lines(&path, &raw);
    assert_eq!(
        problems(&state),
        vec![Problem::Malformed {
            line: 5,
            why: "duplicate of seq 1 at line 2".to_owned()
        }]
    );
}

#[test]
fn a_segment_copied_under_another_session_name_is_caught() {
    let state = State::new("wrong-session");
    let path = standard_session(&state);
    fs::copy(&path, state.segment("20270101T000000Z-1-000000")).unwrap();
    let verdict = verify(&state.dir(), "2027").unwrap();
    assert_eq!(
        verdict,
        Verdict {
            session: "20270101T000000Z-1-000000".to_owned(),
            records: 6,
            problems: vec![Problem::WrongSession {
                seq: 0,
                line: 1,
                found: SESSION.to_owned()
            }],
        }
    );
}

#[test]
fn verify_without_the_key_is_an_error_not_a_verdict() {
    let state = State::new("no-key");
    standard_session(&state);
    fs::remove_file(state.key_path()).unwrap();
    let err = verify(&state.dir(), SESSION).unwrap_err();
    assert!(matches!(err, AuditError::KeyMissing { .. }), "{err:?}");
}

#[test]
fn an_emptied_segment_is_not_intact() {
    let state = State::new("emptied");
    let path = standard_session(&state);
    fs::write(&path, "").unwrap();
    assert_eq!(
        problems(&state),
        vec![Problem::Unsigned {
            after_seq: None,
            records: 0,
            line: 1
        }]
    );
}
