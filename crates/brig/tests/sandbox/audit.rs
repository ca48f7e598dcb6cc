//! The audit trail of `brig run`: what a session records, that `brig audit verify` notices
//! tampering, that the command cannot reach the log, and that a log that cannot be written
//! stops the command instead of letting it run unaudited.

use crate::support::*;

both_identities!(
    session_is_recorded_and_verifies,
    tampering_is_detected,
    log_is_out_of_the_commands_reach,
    full_disk_stops_the_command,
    deletions_modes_and_refusals_are_recorded,
    show_filters_and_follows,
    ocsf_export_validates,
    scripted_session_records_exactly_what_happened,
    writes_through_descriptors_are_recorded,
    refused_syscalls_are_recorded_and_bounded,
    audit_levels_and_switching_off,
    sigkill_mid_session_leaves_a_verifiable_prefix,
    odd_cases_are_recorded_faithfully,
    network_and_approval_records_export_to_valid_ocsf,
    long_runs_get_periodic_checkpoints,
);

/// A run that keeps recording for longer than the checkpoint interval (2 s) gets a signed
/// checkpoint while it runs, not only at its end; the session verifies.
fn long_runs_get_periodic_checkpoints(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(&[], "echo a > a; sleep 2.3; echo b > b").ok();
    let (id, records) = last_session(&w);
    let checkpoints: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r["kind"] == "checkpoint")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(checkpoints.len(), 2, "{records:?}");
    assert!(checkpoints[0] < records.len() - 1);
    assert!(records[..checkpoints[0]]
        .iter()
        .any(|r| r["kind"] == "file.change"));
    w.brig(&["audit", "verify", &id]).code_is(0);
}

/// Records stay true in the odd cases: a file name with a newline, a process that made itself
/// non-dumpable (its calls still work and are recorded as unknown), `/proc/1` read at the
/// `all` level (the sandbox's init, not the reader), and a read-only `O_CREAT` open of an
/// existing file at the default level (no read record).
fn odd_cases_are_recorded_faithfully(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.write("ws/existing", "e");
    w.brig_run(
        &[],
        &[
            "python3",
            "-c",
            "import ctypes, os\n\
             open('a\\nb', 'w').close()\n\
             os.close(os.open('existing', os.O_RDONLY | os.O_CREAT))\n\
             ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n\
             f = os.open('existing', os.O_WRONLY)\n\
             os.fchmod(f, 0o640)\n\
             print('still works')\n",
        ],
    )
    .ok();
    let (_, records) = last_session(&w);
    let ws = w.ws.display().to_string();
    let unknown = "(unknown: the process is not dumpable, its memory is closed to brig)";
    let ev = |a: &str, b: String| ("file.change".to_string(), a.to_string(), b);
    assert_eq!(
        file_events(&records),
        vec![
            ev("create", format!("{ws}/a\nb")),
            ev("open-write", unknown.to_string()),
            ev("chmod", unknown.to_string()),
        ]
    );
    assert!(!records.iter().any(|r| r["kind"] == "file.read"));
    assert_eq!(
        std::fs::metadata(w.ws.join("existing"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap(),
        0o640
    );
    let out = w.brig_sh(&["--audit-files", "all"], "cat /proc/1/comm");
    out.ok();
    assert_eq!(out.stdout.trim(), "brig", "{out}");
}

/// `kill -9` of brig while its command runs: what was recorded stays, verifies up to its last
/// complete record, and `verify` says the tail is unsigned (killed before the final commit)
/// rather than calling the session intact.
fn sigkill_mid_session_leaves_a_verifiable_prefix(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let before = w
        .brig(&["audit", "list", "--json"])
        .ok()
        .stdout
        .lines()
        .count();
    let mut c = w.command(brig_bin());
    c.args([
        "run",
        "--",
        "sh",
        "-c",
        "echo a > one; echo b > two; exec sleep 300",
    ])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut brig = c.spawn().expect("start brig run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (id, records) = loop {
        let listed = w.brig(&["audit", "list", "--json"]).ok().stdout.clone();
        if listed.lines().count() > before {
            let (id, records) = last_session(&w);
            if records
                .iter()
                .any(|r| r["kind"] == "exec" && r["data"]["argv"][0] == "sleep")
            {
                break (id, records);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session never got to sleep"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    brig.kill().expect("SIGKILL brig");
    brig.wait().unwrap();
    let out = w.brig(&["audit", "verify", &id]);
    out.code_is(1);
    assert!(
        out.stdout.contains("unsigned") && out.stdout.contains("killed before its final commit"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("edited") && !out.stdout.contains("deleted"),
        "{out}"
    );
    // Everything recorded before the kill is still there and readable.
    let (_, after) = last_session(&w);
    assert!(after.len() >= records.len());
    let ws = w.ws.display().to_string();
    for name in ["one", "two"] {
        assert!(
            after
                .iter()
                .any(|r| r["kind"] == "file.change" && r["data"]["path"] == format!("{ws}/{name}")),
            "{after:?}"
        );
    }
    assert!(!after.iter().any(|r| r["kind"] == "command.end"));
}

/// The file events of a session outside the private scratch space (`/tmp`, where compilers
/// keep throw-away files), as (kind, op or layer, path or refusal text).
fn file_events(records: &[serde_json::Value]) -> Vec<(String, String, String)> {
    records
        .iter()
        .filter_map(|r| {
            let d = &r["data"];
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let e = match r["kind"].as_str()? {
                "file.change" => ("file.change".to_string(), s(&d["op"]), s(&d["path"])),
                "denied" => ("denied".to_string(), s(&d["layer"]), s(&d["what"])),
                _ => return None,
            };
            (!e.2.starts_with("/tmp/")).then_some(e)
        })
        .collect()
}

/// The scripted session: edit, create, delete, rename, compile, a denied write to
/// $HOME and a denied read of ~/.ssh produce exactly the expected events (with
/// `--audit-files all`, which records reads and so refused reads too).
fn scripted_session_records_exactly_what_happened(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["cc"]) {
        return;
    }
    let w = t.world();
    w.write("home/.ssh/id_ed25519", "PRIVATE KEY");
    let out = w.brig_sh(
        &["--audit-files", "all"],
        "printf 'int main(void) { return 0; }\\n' > hello.c; echo '/* edited */' >> hello.c; \
         cc -o hello hello.c; mv hello hello.bin; rm hello.bin; \
         echo planted > \"$HOME/planted\"; cat \"$HOME/.ssh/id_ed25519\"; exit 0",
    );
    out.ok();
    let (id, records) = last_session(&w);
    let ws = w.ws.display().to_string();
    let home = w.home.display().to_string();
    let ev = |k: &str, a: &str, b: String| (k.to_string(), a.to_string(), b);
    assert_eq!(
        file_events(&records),
        vec![
            ev("file.change", "create", format!("{ws}/hello.c")),
            ev("file.change", "open-write", format!("{ws}/hello.c")),
            ev("file.change", "create", format!("{ws}/hello")),
            ev("file.change", "chmod 755", format!("{ws}/hello")),
            ev(
                "file.change",
                "rename",
                format!("{ws}/hello -> {ws}/hello.bin")
            ),
            ev("file.change", "delete", format!("{ws}/hello.bin")),
            ev(
                "denied",
                "mount-namespace",
                format!("create {home}/planted: Read-only file system (os error 30)")
            ),
            ev(
                "denied",
                "landlock",
                format!("read {home}/.ssh/id_ed25519: Permission denied (os error 13)")
            ),
        ],
        "{out}"
    );
    // The compile ran the compiler's programs, each recorded with its parent.
    let names: Vec<String> = records
        .iter()
        .filter(|r| r["kind"] == "exec")
        .map(|r| {
            let p = r["data"]["path"].as_str().unwrap_or_default();
            p.rsplit('/').next().unwrap_or(p).to_string()
        })
        .collect();
    for needed in ["sh", "cc", "cc1", "as", "ld", "mv", "rm", "cat"] {
        assert!(
            names.iter().any(|n| n == needed),
            "no exec of {needed}: {names:?}"
        );
    }
    // Reads were recorded (the source the compiler read), the secret's content never.
    assert!(records
        .iter()
        .any(|r| r["kind"] == "file.read" && r["data"]["path"] == format!("{ws}/hello.c")));
    let segment =
        std::fs::read_to_string(w.state_dir().join("brig/audit").join(format!("{id}.jsonl")))
            .unwrap();
    assert!(!segment.contains("PRIVATE KEY"));
    w.brig(&["audit", "verify", &id]).code_is(0);
}

/// Changes made through descriptors and through `open` without `O_CREAT` are recorded:
/// writing an existing file, `ftruncate` and `fchmod`.
fn writes_through_descriptors_are_recorded(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.write("ws/old.txt", "old");
    w.brig(&[
        "run",
        "--",
        "python3",
        "-c",
        "import os\n\
         f = os.open('old.txt', os.O_WRONLY)\n\
         os.write(f, b'new')\n\
         os.ftruncate(f, 2)\n\
         os.fchmod(f, 0o600)\n\
         g = os.open('old.txt', os.O_RDWR | os.O_TRUNC)\n\
         r = os.open('old.txt', os.O_RDONLY)\n",
    ])
    .ok();
    let (_, records) = last_session(&w);
    let p = format!("{}/old.txt", w.ws.display());
    let ev = |a: &str| ("file.change".to_string(), a.to_string(), p.clone());
    // The read-only open is not a change (and reads are not recorded at the default level).
    assert_eq!(
        file_events(&records),
        vec![
            ev("open-write"),
            ev("truncate"),
            ev("chmod 600"),
            ev("truncate")
        ]
    );
    assert!(!records.iter().any(|r| r["kind"] == "file.read"));
    assert_eq!(std::fs::read_to_string(w.ws.join("old.txt")).unwrap(), "");
}

/// A syscall the seccomp filter refuses is recorded with its layer (and still refused); a
/// program calling one in a loop cannot flood the log: after 1000 records the rest are
/// counted in one record.
fn refused_syscalls_are_recorded_and_bounded(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let out = w.brig(&[
        "run",
        "--",
        "python3",
        "-c",
        "import ctypes, errno, socket\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         assert libc.syscall(101, 0, 0, 0, 0) == -1 and ctypes.get_errno() == errno.EPERM\n\
         try:\n    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\nexcept PermissionError:\n    print('socket refused')\n\
         for _ in range(1500):\n    libc.syscall(101, 0, 0, 0, 0)\n\
         print('done')\n",
    ]);
    out.ok();
    assert!(
        out.stdout.contains("socket refused") && out.stdout.contains("done"),
        "{out}"
    );
    let (_, records) = last_session(&w);
    let seccomp: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "denied" && r["data"]["layer"] == "seccomp")
        .map(|r| r["data"]["what"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(seccomp[0], "ptrace: denied by the seccomp filter");
    assert_eq!(
        seccomp[1],
        "socket(family 2): the network is off: only AF_UNIX sockets"
    );
    assert_eq!(seccomp.len(), 1001, "1000 records and one count");
    assert_eq!(
        seccomp[1000],
        "502 more refused syscalls were not recorded one by one"
    );
}

/// `--audit-files off` keeps commands and execs but no file events; `[audit] enabled = false`
/// in the user's config means no session at all; a project file cannot turn auditing off.
fn audit_levels_and_switching_off(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(&["--audit-files", "off"], "echo x > f; rm f")
        .ok();
    let (_, records) = last_session(&w);
    assert!(file_events(&records).is_empty(), "{records:?}");
    assert!(records
        .iter()
        .any(|r| r["kind"] == "exec" && r["data"]["argv"][0] == "rm"));
    let sessions = || {
        w.brig(&["audit", "list", "--json"])
            .ok()
            .stdout
            .lines()
            .count()
    };
    let before = sessions();
    w.write("aux/noaudit.toml", "[audit]\nenabled = false\n");
    let cfg = w.aux.join("noaudit.toml");
    w.brig(&["run", "--config", cfg.to_str().unwrap(), "--", "true"])
        .ok();
    assert_eq!(sessions(), before, "no session with auditing off");
    w.write("ws/.brig.toml", "[audit]\nenabled = false\n");
    let out = w.brig(&["run", "--", "true"]);
    out.code_is(121);
    assert!(out.stderr.contains("audit.enabled"), "{out}");
}

/// `brig audit export --format ocsf` produces OCSF 1.5.0 events that an independent OCSF
/// library (PyPI `ocsf-emitter`, installed by .ci/run) accepts: every line is schema- and
/// invariant-checked by `tests/tools/validate_ocsf.py`.
fn ocsf_export_validates(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.brig_sh(
        &["--audit-files", "all"],
        "echo x > o1; mkdir od; mv o1 od/; chmod 700 od; rm -r od; touch .envrc; echo > /etc/q; \
         python3 -c 'import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)'; exit 2",
    )
    .code_is(2);
    let (id, records) = last_session(&w);
    let out_file = w.aux.join("export.ocsf.jsonl");
    w.brig(&[
        "audit",
        "export",
        "--format",
        "ocsf",
        "--session",
        &id,
        "-o",
        out_file.to_str().unwrap(),
    ])
    .ok();
    let Some(stdout) = validate_ocsf(t, &out_file) else {
        return;
    };
    // Every class brig maps to is in this session.
    for kind in ["exec", "file.read", "file.change", "denied", "command.end"] {
        assert!(
            records.iter().any(|r| r["kind"] == kind),
            "no {kind} record"
        );
    }
    assert!(records
        .iter()
        .any(|r| r["kind"] == "denied" && r["data"]["layer"] == "seccomp"));
    let activities = records
        .iter()
        .filter(|r| {
            !matches!(
                r["kind"].as_str(),
                Some("session.start" | "session.end" | "checkpoint")
            )
        })
        .count();
    assert_eq!(stdout.trim(), format!("{activities} events valid"));
}

/// Runs the independent OCSF validator on `file`; `None` when it is not installed (a skip,
/// which BRIG_TEST_REQUIRE turns into a failure). Returns its output ("N events valid").
fn validate_ocsf(t: &Test, file: &std::path::Path) -> Option<String> {
    let validator =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/validate_ocsf.py");
    let out = std::process::Command::new("python3")
        .arg(&validator)
        .arg(file)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.code() == Some(3) {
        let required = std::env::var("BRIG_TEST_REQUIRE").unwrap_or_default();
        assert!(
            required.is_empty(),
            "the OCSF validator (pip install ocsf-emitter) is missing and BRIG_TEST_REQUIRE={required}"
        );
        eprintln!(
            "SKIP {}: pip install ocsf-emitter to validate the OCSF export",
            t.name
        );
        return None;
    }
    assert!(
        out.status.success(),
        "OCSF validation failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

/// The record kinds the proxy (issue 5) and the approvals (issue 4) will write already have
/// their OCSF classes: a session holding them, written through the audit crate as brig writes
/// any session, exports to events the independent validator accepts, with the classes and
/// activities expected.
fn network_and_approval_records_export_to_valid_ocsf(t: &Test) {
    if !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let dir = w.state_dir().join("brig/audit");
    let id = brig_audit::new_session_id();
    let mut log = brig_audit::Writer::create(&dir, &id).expect("create a segment");
    let records = [
        (
            "session.start",
            serde_json::json!({"user": "dev", "uid": 1000, "host": "box"}),
        ),
        (
            "command.start",
            serde_json::json!({"argv": ["git", "push"], "cwd": "/w"}),
        ),
        (
            "approval",
            serde_json::json!({"request": "r1", "command": "git push origin main", "decision": "approved", "approver": "alice", "channel": "tty", "scope": "once", "dual": true}),
        ),
        (
            "approval",
            serde_json::json!({"request": "r1", "command": "git push origin main", "decision": "approved", "approver": "bob", "channel": "review-ui", "scope": "once", "dual": true}),
        ),
        (
            "approval",
            serde_json::json!({"request": "r2", "command": "rm -rf build", "decision": "denied", "approver": "alice", "channel": "tty", "scope": "once", "dual": true}),
        ),
        (
            "network",
            serde_json::json!({"decision": "allow", "rule": "crates.io", "host": "index.crates.io", "port": 443, "method": "CONNECT", "sni": "index.crates.io", "bytes_in": 5120, "bytes_out": 880, "duration_ms": 41.0, "pid": 7}),
        ),
        (
            "network",
            serde_json::json!({"decision": "allow", "rule": "pypi", "host": "pypi.org", "port": 80, "method": "GET", "url": "http://pypi.org/simple/", "bytes_in": 900, "bytes_out": 120}),
        ),
        (
            "network",
            serde_json::json!({"decision": "deny", "rule": "not in the allowlist", "host": "169.254.169.254", "port": 80, "pid": 8}),
        ),
        (
            "command.end",
            serde_json::json!({"status": 0, "exit_code": 0}),
        ),
        ("session.end", serde_json::json!({})),
    ];
    for (kind, data) in records {
        log.append(kind, data).unwrap();
    }
    log.commit().unwrap();
    // Written by the test (root); give the state to the identity brig runs as.
    let state = w.state_dir().join("brig");
    for p in [
        w.state_dir(),
        state.clone(),
        state.join("audit.key"),
        dir.clone(),
        dir.join("latest"),
        dir.join(format!("{id}.jsonl")),
    ] {
        t.chown(&p);
    }
    let out_file = w.aux.join("synthetic.ocsf.jsonl");
    w.brig(&[
        "audit",
        "export",
        "--format",
        "ocsf",
        "--session",
        &id,
        "-o",
        out_file.to_str().unwrap(),
    ])
    .ok();
    let Some(stdout) = validate_ocsf(t, &out_file) else {
        return;
    };
    assert_eq!(stdout.trim(), "8 events valid");
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let classes: Vec<(u64, u64)> = events
        .iter()
        .map(|e| {
            (
                e["class_uid"].as_u64().unwrap(),
                e["activity_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        classes,
        [
            (1007, 1),
            (3005, 1),
            (3005, 1),
            (3005, 99),
            (4002, 1),
            (4002, 3),
            (4001, 5),
            (1007, 2)
        ]
    );
    assert_eq!(events[2]["user"]["name"], "bob");
    assert_eq!(events[6]["status"], "Failure");
    assert_eq!(events[4]["unmapped"]["brig_sni"], "index.crates.io");
}

/// `brig audit show --path/--type/--since` filter; `--follow` prints records of a running
/// session as they are written and returns when it ends.
fn show_filters_and_follows(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let before = w
        .brig(&["audit", "list", "--json"])
        .ok()
        .stdout
        .lines()
        .count();
    let mut c = w.command(brig_bin());
    c.args([
        "run",
        "--",
        "sh",
        "-c",
        "echo a > first; sleep 1; echo b > second",
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut running = c.spawn().expect("start brig run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let id = loop {
        let out = w.brig(&["audit", "list", "--json"]);
        let lines: Vec<String> = out.ok().stdout.lines().map(str::to_string).collect();
        if lines.len() > before {
            let v: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
            break v["id"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let followed = w.brig(&["audit", "show", &id, "--follow"]);
    assert!(running.wait().unwrap().success());
    let text = followed.ok().stdout.clone();
    for want in ["/first", "/second", "command.end", "session.end"] {
        assert!(text.contains(want), "--follow missed {want}:\n{text}");
    }
    let only = w.brig(&["audit", "show", &id, "--path", "/second"]);
    assert_eq!(only.ok().stdout.lines().count(), 1, "{only}");
    let ends = w.brig(&["audit", "show", &id, "--type", "command.end", "--json"]);
    assert_eq!(ends.ok().stdout.lines().count(), 1, "{ends}");
    let none = w.brig(&["audit", "show", &id, "--since", "9999-01-01T00:00:00Z"]);
    assert_eq!(none.ok().stdout, "");
    let all = w.brig(&["audit", "export", "--format", "jsonl", "--session", &id]);
    let total = all.ok().stdout.lines().count();
    let early = w.brig(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--session",
        &id,
        "--until",
        "2000-01-01T00:00:00Z",
    ]);
    assert_eq!(early.ok().stdout, "");
    let late = w.brig(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--session",
        &id,
        "--since",
        "2000-01-01T00:00:00Z",
    ]);
    assert_eq!(late.ok().stdout.lines().count(), total);
}

/// Deleting, chmod and writes the kernel refused are on the record too.
fn deletions_modes_and_refusals_are_recorded(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(
        &[],
        "echo x > f; chmod 700 f; rm f; mkdir d; rmdir d; echo evil > /etc/brig-audit-probe 2>/dev/null; true",
    )
    .ok();
    let (_, records) = last_session(&w);
    let ws = w.ws.display().to_string();
    let ops: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["kind"] == "file.change")
        .map(|r| {
            (
                r["data"]["op"].as_str().unwrap_or_default().to_string(),
                r["data"]["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let f = format!("{ws}/f");
    let d = format!("{ws}/d");
    let want: Vec<(String, String)> = [
        ("create", f.as_str()),
        ("chmod 700", f.as_str()),
        ("delete", f.as_str()),
        ("mkdir", d.as_str()),
        ("rmdir", d.as_str()),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(ops, want);
    let denied: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["kind"] == "denied").collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["data"]["layer"], "mount-namespace");
    // Colour on request, none when the output is not a terminal (as here) by default.
    let (id, _) = last_session(&w);
    let coloured = w.brig(&["audit", "show", &id, "--color", "always"]);
    assert!(
        coloured.ok().stdout.contains("\x1b[1;31mdenied"),
        "{coloured}"
    );
    let plain = w.brig(&["audit", "show", &id]);
    assert!(!plain.ok().stdout.contains('\x1b'), "{plain}");
    assert!(denied[0]["data"]["what"]
        .as_str()
        .unwrap_or_default()
        .contains("/etc/brig-audit-probe"));
}

/// A state directory on a full filesystem: brig refuses to run the command (exit 120) rather
/// than run it unaudited. Needs root to mount a tiny tmpfs.
fn full_disk_stops_the_command(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    if !t.is_root() {
        eprintln!(
            "SKIP {} as user: mounting a full filesystem needs root",
            t.name
        );
        return;
    }
    let w = t.world();
    let full = w.aux.join("full");
    std::fs::create_dir_all(&full).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "mount a tmpfs (needs root and util-linux)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(full.clone());
    // Fill it completely.
    let _ = std::fs::write(full.join("filler"), vec![0u8; 1 << 20]);
    let mut c = w.command(brig_bin());
    c.env("XDG_STATE_HOME", &full)
        .args(["run", "--", "touch", "ran-unaudited"]);
    let out = run_command(c, None, "brig run with a full state directory");
    out.code_is(120);
    assert!(out.stderr.contains("audit log"), "{out}");
    assert!(
        !w.ws.join("ran-unaudited").exists(),
        "the command ran unaudited"
    );
}

/// The newest session's records, as JSON values.
pub fn last_session(w: &World) -> (String, Vec<serde_json::Value>) {
    let out = w.brig(&["audit", "list", "--json"]);
    let last = out
        .ok()
        .stdout
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let id = serde_json::from_str::<serde_json::Value>(&last).expect("list --json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let shown = w.brig(&["audit", "show", &id, "--json"]);
    let records = shown
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("show --json prints JSON lines"))
        .collect();
    (id, records)
}

fn kinds(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// One `brig run` is one session: start, the command with its argv, every program it ran, the
/// file changes and the refusal the guard saw (each with the process and its program), the end
/// with its status and resource use, a signed checkpoint.
fn session_is_recorded_and_verifies(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(
        &[],
        "echo hi > made.txt; mkdir dir; mv made.txt dir/; touch .envrc; exit 3",
    )
    .code_is(3);
    let (id, records) = last_session(&w);
    assert_eq!(
        kinds(&records),
        [
            "session.start",
            "command.start",
            "exec",
            "file.change",
            "exec",
            "file.change",
            "exec",
            "file.change",
            "exec",
            "denied",
            "command.end",
            "session.end",
            "checkpoint"
        ]
    );
    assert_eq!(records[1]["data"]["argv"][0], "/bin/sh");
    let ws = w.ws.display().to_string();
    // Every exec of the process tree: the shell (PID 2, started by brig's PID 1), then what it
    // ran, each with its arguments, pid and parent.
    let execs: Vec<(serde_json::Value, serde_json::Value)> = records
        .iter()
        .filter(|r| r["kind"] == "exec")
        .map(|r| (r["data"]["argv"].clone(), r["data"]["ppid"].clone()))
        .collect();
    assert_eq!(execs[0].1, 1, "{execs:?}");
    assert_eq!(execs[0].0[0], "/bin/sh");
    let ran: Vec<&serde_json::Value> = execs[1..].iter().map(|(argv, _)| argv).collect();
    assert_eq!(
        ran,
        [
            &serde_json::json!(["mkdir", "dir"]),
            &serde_json::json!(["mv", "made.txt", "dir/"]),
            &serde_json::json!(["touch", ".envrc"]),
        ]
    );
    assert!(execs[1..].iter().all(|(_, ppid)| *ppid == 2), "{execs:?}");
    // The process that made each change (a pid inside the sandbox) and its program.
    let pid = |i: usize| records[i]["data"]["pid"].clone();
    assert_eq!(pid(3), 2, "{:?}", records[3]);
    let program = |i: usize| {
        let p = records[i]["data"]["program"].as_str().unwrap_or_default();
        std::path::Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        records[3]["data"],
        serde_json::json!({"op": "create", "path": format!("{ws}/made.txt"), "pid": 2, "program": records[3]["data"]["program"]})
    );
    assert_eq!(
        records[5]["data"],
        serde_json::json!({"op": "mkdir", "path": format!("{ws}/dir"), "pid": pid(4), "program": records[5]["data"]["program"]})
    );
    assert_eq!(program(5), "mkdir");
    assert_eq!(
        records[7]["data"]["path"],
        format!("{ws}/made.txt -> {ws}/dir/made.txt")
    );
    assert_eq!(program(7), "mv");
    assert_eq!(records[9]["data"]["layer"], "create-guard");
    assert_eq!(program(9), "touch");
    assert_eq!(records[10]["data"]["status"], 3);
    assert!(
        records[10]["data"]["cpu_sys_ms"].is_number(),
        "{:?}",
        records[10]
    );
    let v = w.brig(&["audit", "verify", &id]);
    assert!(v.ok().stdout.contains("intact"), "{v}");
    let csv = w.brig(&["audit", "export", "--format", "csv", "--session", &id]);
    assert_eq!(csv.ok().stdout.lines().count(), 1 + records.len(), "{csv}");
}

/// Editing one byte of a recorded line, or cutting the log short, is reported by
/// `brig audit verify` (exit 1, naming the line); an untouched log verifies (exit 0).
fn tampering_is_detected(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(&[], "echo one > a.txt; echo two > b.txt").ok();
    let (id, _) = last_session(&w);
    let file = w.state_dir().join("brig/audit").join(format!("{id}.jsonl"));
    let original = std::fs::read_to_string(&file).expect("segment");
    w.brig(&["audit", "verify", &id]).code_is(0);

    let edited = original.replacen("a.txt", "z.txt", 1);
    assert_ne!(edited, original);
    std::fs::write(&file, &edited).unwrap();
    let out = w.brig(&["audit", "verify", &id]);
    out.code_is(1);
    assert!(
        out.stdout.contains("NOT INTACT") && out.stdout.contains("line 2"),
        "{out}"
    );

    let lines: Vec<&str> = original.lines().collect();
    let verify_says = |text: String, needles: &[&str]| {
        std::fs::write(&file, text).unwrap();
        let out = w.brig(&["audit", "verify", &id]);
        out.code_is(1);
        for n in needles {
            assert!(out.stdout.contains(n), "expected {n:?}:\n{out}");
        }
    };
    // Deleting a record: the next line names the gap.
    let mut deleted = lines.clone();
    deleted.remove(3);
    verify_says(deleted.join("\n") + "\n", &["line 4", "deleted"]);
    // Swapping two records.
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    verify_says(swapped.join("\n") + "\n", &["line 4", "out of order"]);
    // Deleting a whole segment: the next session names it as its predecessor.
    std::fs::write(&file, &original).unwrap();
    w.brig_sh(&[], "true").ok();
    let (next, records) = last_session(&w);
    assert_eq!(records[0]["data"]["previous_session"], id.as_str());
    w.brig(&["audit", "verify", "--all"]).code_is(0);
    std::fs::remove_file(&file).unwrap();
    let out = w.brig(&["audit", "verify", &next]);
    out.code_is(1);
    assert!(
        out.stdout.contains(&format!(
            "the previous session \"{id}\", named here, has no segment (it was deleted)"
        )),
        "{out}"
    );
    // Cutting the end (the checkpoint and what precedes it) leaves unsigned records.
    verify_says(lines[..lines.len() - 3].join("\n") + "\n", &["unsigned"]);
    // A torn last line.
    let torn = &original[..original.len() - 10];
    verify_says(torn.to_string(), &["torn tail"]);
    std::fs::write(&file, &original).unwrap();
    w.brig(&["audit", "verify", "--all"]).code_is(0);
}

/// The command can neither read nor write the audit log or its key, and a fake line it prints
/// is only output, not a record.
fn log_is_out_of_the_commands_reach(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(&[], "true").ok();
    let state = w.state_dir().join("brig");
    let dir = state.join("audit").display().to_string();
    let key = state.join("audit.key").display().to_string();
    let script = format!(
        "ls {dir} && echo LISTED; cat {key} && echo READ; echo x >> {dir}/forged.jsonl && echo WROTE; \
         echo '{{\"kind\":\"command.end\",\"data\":{{\"status\":0}}}}'; true"
    );
    let out = w.brig_sh(&["--pass-env", "XDG_STATE_HOME"], &script);
    out.ok();
    for bad in ["LISTED", "READ", "WROTE"] {
        assert!(
            !out.stdout.contains(bad),
            "the command reached the audit log ({bad}):\n{out}"
        );
    }
    assert!(!state.join("audit/forged.jsonl").exists());
    let (_, records) = last_session(&w);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["kind"] == "command.end")
            .count(),
        1
    );
}
