//! A full disk: the writer fails loudly and the log says how far it got.
//!
//! The test re-runs itself inside a private user and mount namespace (`unshare`) on a 16 KiB
//! tmpfs, so it needs neither root nor a real full disk. Where unprivileged namespaces are not
//! available it is skipped with a message, unless `BRIG_AUDIT_REQUIRE_TMPFS=1` (set it in CI) makes
//! that a failure.

use brig_audit::{read, verify, AuditError, Problem, Verdict, Writer};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const INSIDE: &str = "BRIG_AUDIT_TEST_FULL_DIR";
const SKIP: i32 = 77;

#[test]
fn a_full_disk_stops_the_writer_and_the_log_verifies_up_to_its_last_complete_record() {
    if let Some(root) = std::env::var_os(INSIDE) {
        return on_a_full_disk(Path::new(&root));
    }
    let state = crate::common::State::new("disk-full");
    let mnt = state.root().join("tmpfs");
    std::fs::create_dir(&mnt).unwrap();
    let script = format!(
        r#"mount -t tmpfs -o size=16k brig-audit-test "$1" || exit {SKIP}; exec "$2" --exact "$3" --nocapture --test-threads=1"#
    );
    let status = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", &script, "sh"])
        .arg(&mnt)
        .arg(std::env::current_exe().unwrap())
        .arg("disk_full::a_full_disk_stops_the_writer_and_the_log_verifies_up_to_its_last_complete_record")
        .env(INSIDE, &mnt)
        .status();
    let why = match status {
        Ok(s) if s.success() => return,
        Ok(s) if s.code() == Some(SKIP) => "mounting a tmpfs in a user namespace failed".to_owned(),
        Ok(s) => panic!("the test failed inside the namespace: {s}"),
        Err(e) => format!("cannot run unshare: {e}"),
    };
    if std::env::var_os("BRIG_AUDIT_REQUIRE_TMPFS").is_some_and(|v| v == "1") {
        panic!("BRIG_AUDIT_REQUIRE_TMPFS=1 but {why}");
    }
    eprintln!("skipped: {why}");
}

fn on_a_full_disk(root: &Path) {
    let dir = root.join("audit");
    let mut w = Writer::create(&dir, "full").unwrap();
    let filler = "x".repeat(900);
    let err = loop {
        if let Err(e) = w.append("file", json!({"op": "write", "path": filler})) {
            break e;
        }
        if w.records() % 4 == 3 {
            if let Err(e) = w.commit() {
                break e;
            }
        }
        assert!(w.records() < 100, "a 16 KiB tmpfs never filled up");
    };
    let torn = match &err {
        AuditError::ShortWrite { written, .. } => *written,
        AuditError::Io { source, .. } if source.raw_os_error() == Some(28) => 0,
        other => panic!("expected ENOSPC, got {other:?}"),
    };
    assert!(err.to_string().contains("disk full") || err.to_string().contains("No space left"));
    // Nothing more gets in.
    assert!(w.append("file", json!({})).is_err());
    assert!(w.commit().is_err());

    // The log is whole up to its last complete record and says what happened after that.
    let records = read(&dir, "full").unwrap();
    let written = w.records();
    assert_eq!(records.len() as u64, written);
    let last_checkpoint = records
        .iter()
        .rfind(|r| r.kind == "checkpoint")
        .map(|r| r.seq);
    let mut problems = Vec::new();
    let first_unsigned = last_checkpoint.map_or(0, |c| c + 1);
    if first_unsigned < written {
        problems.push(Problem::Unsigned {
            after_seq: last_checkpoint,
            records: (written - first_unsigned) as usize,
            line: first_unsigned as usize + 1,
        });
    }
    if torn > 0 {
        problems.push(Problem::Truncated {
            line: written as usize + 1,
            bytes: torn,
        });
    }
    let verdict = verify(&dir, "full").unwrap();
    assert_eq!(
        verdict,
        Verdict {
            session: "full".to_owned(),
            records: written as usize,
            problems,
        }
    );
    assert!(!verdict.intact());
    assert!(!verdict.tampered());
    eprintln!("disk full after {written} records: {err}");
}
