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
    start_records_name_who_where_and_under_which_policy,
    command_end_records_how_it_ended,
    links_and_symlinks_are_recorded,
    disk_full_during_a_run_stops_the_command,
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
    let _guard = small_tmpfs(&full, "64k");
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

/// A tmpfs of `size` mounted at `dir` (created), unmounted when the guard is dropped. Needs
/// root.
fn small_tmpfs(dir: &std::path::Path, size: &str) -> Unmount {
    std::fs::create_dir_all(dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "mount a tmpfs (needs root and util-linux)");
    Unmount(dir.to_path_buf())
}

/// Unmounts its directory when dropped (also when the test fails).
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The newest session's records, as JSON values. The newest is the one `latest` names (the
/// session started last): `audit list` sorts by id, and ids of one second sort by process id
/// as text, which is not start order (pid 10000 sorts before pid 9999).
pub fn last_session(w: &World) -> (String, Vec<serde_json::Value>) {
    let id = brig_audit::latest_session(&w.state_dir().join("brig/audit"))
        .expect("a session was started in this world");
    (id.clone(), session_records(w, &id))
}

/// The records of session `id`, as JSON values (`brig audit show --json`).
fn session_records(w: &World, id: &str) -> Vec<serde_json::Value> {
    let shown = w.brig(&["audit", "show", id, "--json"]);
    shown
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("show --json prints JSON lines"))
        .collect()
}

/// The bytes of session `id`'s segment file, as text.
fn segment_text(w: &World, id: &str) -> String {
    let path = w.state_dir().join("brig/audit").join(format!("{id}.jsonl"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
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

/// `session.start` says who ran brig, where, under which plan and after which session;
/// `command.start` has the command as given, its working directory, the names (never the
/// values) of the variables it got and of those brig removed, and the rules' verdict. The
/// policy hash is the same for the same plan (another command, another value of a passed
/// variable) and changes with the mode, the network and the audit level.
fn start_records_name_who_where_and_under_which_policy(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    use serde_json::json;
    const SECRET: &str = "sekrit-4b1d9e";
    let w = t.world();
    let sub = w.ws.join("sub");
    t.make_dir(&sub);
    let ws = std::fs::canonicalize(&w.ws).unwrap().display().to_string();
    let cwd = std::fs::canonicalize(&sub).unwrap().display().to_string();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    assert!(!host.is_empty());
    let sorted = |v: &serde_json::Value| {
        let mut names: Vec<String> = v
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let mut ids: Vec<String> = Vec::new();

    // From `ws/sub`, with `--workspace ws` and a secret-looking variable in brig's environment,
    // which brig removes: the command does not see it, the log has its name only.
    let script = "test -z \"$MY_API_TOKEN\" && echo token-absent";
    let mut c = w.command(brig_bin());
    c.env("MY_API_TOKEN", SECRET)
        .current_dir(&sub)
        .args(["run", "--workspace"])
        .arg(&w.ws)
        .args(["--", "/bin/sh", "-c", script]);
    let out = run_command(c, None, "brig run --workspace ws -- sh -c (from ws/sub)");
    out.ok();
    assert_eq!(out.stdout, "token-absent\n", "{out}");
    let (id, records) = last_session(&w);
    ids.push(id.clone());
    assert_eq!(records[0]["kind"], "session.start");
    let start = &records[0]["data"];
    let hash = start["policy_sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        hash.len() == 64 && hash.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "policy_sha256 is not 64 lowercase hex digits: {start}"
    );
    assert_eq!(
        *start,
        json!({
            "user": t.user_name(),
            "uid": t.uid(),
            "host": host,
            "platform": "linux",
            "brig_version": env!("CARGO_PKG_VERSION"),
            "mode": "workspace-write",
            "network": "off",
            "workspace": ws,
            "writable_roots": [ws],
            "policy_sha256": hash,
            // `--workspace` says where, not what: no configuration layer.
            "config_sources": ["default"],
            "previous_session": null,
            "audit_files": "changes",
        })
    );
    assert_eq!(records[1]["kind"], "command.start");
    let cmd = &records[1]["data"];
    assert_eq!(cmd["argv"], json!(["/bin/sh", "-c", script]));
    assert_eq!(cmd["cwd"], cwd.as_str());
    assert_eq!(
        sorted(&cmd["env_names"]),
        ["HOME", "LANG", "LC_ALL", "LOGNAME", "PATH", "USER"]
    );
    assert_eq!(
        sorted(&cmd["env_removed"]),
        ["MY_API_TOKEN", "XDG_STATE_HOME"]
    );
    assert_eq!(cmd["decision"], "allow");
    assert_eq!(cmd["destructive"], false);
    assert_eq!(cmd["destroys"], json!([]));
    assert_eq!(
        cmd["rules"],
        json!(["text-output", "text-output", "shell-code"])
    );
    // No terminal and no policy chosen: the headless default, which runs what is not refused.
    assert_eq!(cmd["approval_policy"], "never");
    assert_eq!(
        cmd["then"],
        json!({"action": "run", "prompt_on_denial": false})
    );
    let segment = segment_text(&w, &id);
    assert!(segment.contains("MY_API_TOKEN"));
    assert!(
        !segment.contains(SECRET),
        "the value is in the log:\n{segment}"
    );

    // Passed on purpose: the command gets the value (it writes it to a file), the log still
    // has only the name. A redirection makes the verdict `ask`.
    let script = "echo \"got:$MY_API_TOKEN\" > seen.txt";
    let mut c = w.command(brig_bin());
    c.env("MY_API_TOKEN", SECRET)
        .current_dir(&sub)
        .args(["run", "--pass-env", "MY_API_TOKEN", "--workspace"])
        .arg(&w.ws)
        .args(["--", "/bin/sh", "-c", script]);
    run_command(c, None, "brig run --pass-env MY_API_TOKEN ...").ok();
    assert_eq!(
        std::fs::read_to_string(sub.join("seen.txt")).unwrap(),
        format!("got:{SECRET}\n")
    );
    let (id, records) = last_session(&w);
    ids.push(id.clone());
    let cmd = &records[1]["data"];
    assert_eq!(
        sorted(&cmd["env_names"]),
        [
            "HOME",
            "LANG",
            "LC_ALL",
            "LOGNAME",
            "MY_API_TOKEN",
            "PATH",
            "USER"
        ]
    );
    assert_eq!(sorted(&cmd["env_removed"]), ["XDG_STATE_HOME"]);
    assert_eq!(cmd["decision"], "ask");
    assert_eq!(cmd["rules"], json!(["redirect-write", "shell-code"]));
    assert_eq!(
        cmd["then"],
        json!({"action": "run", "prompt_on_denial": false})
    );
    assert!(records
        .iter()
        .any(|r| r["kind"] == "file.change" && r["data"]["path"] == format!("{cwd}/seen.txt")));
    let segment = segment_text(&w, &id);
    assert!(
        !segment.contains(SECRET),
        "the value is in the log:\n{segment}"
    );

    // The policy hash, run after run from the workspace.
    let start_of = |args: &[&str], lang: &str, id_list: &mut Vec<String>| -> serde_json::Value {
        let mut c = w.command(brig_bin());
        c.env("LANG", lang).arg("run").args(args);
        run_command(c, None, "").ok();
        let (id, records) = last_session(&w);
        id_list.push(id);
        assert_eq!(records[0]["kind"], "session.start");
        records[0]["data"].clone()
    };
    let plain = start_of(&["--", "true"], "C.UTF-8", &mut ids);
    // The same plan: neither the command nor the values of the variables are part of it.
    let same = start_of(&["--", "/bin/sh", "-c", "exit 0"], "POSIX", &mut ids);
    let read_only = start_of(&["--mode", "read-only", "--", "true"], "C.UTF-8", &mut ids);
    let read_only_net = start_of(
        &["--mode", "read-only", "--network", "on", "--", "true"],
        "C.UTF-8",
        &mut ids,
    );
    let network = start_of(&["--network", "on", "--", "true"], "C.UTF-8", &mut ids);
    let all_files = start_of(&["--audit-files", "all", "--", "true"], "C.UTF-8", &mut ids);
    assert_eq!(plain["config_sources"], json!(["default"]));
    assert_eq!(plain["workspace"], ws.as_str());
    assert_eq!(plain["policy_sha256"], same["policy_sha256"]);
    assert_eq!(read_only["mode"], "read-only");
    assert_eq!(read_only["writable_roots"], json!([]));
    assert_eq!(read_only["network"], "off");
    assert_eq!(
        read_only["config_sources"],
        json!(["default", "command line"])
    );
    // `read-only` keeps the network off, whatever `--network` says; the record says so.
    assert_eq!(read_only_net["network"], "off");
    assert_eq!(network["mode"], "workspace-write");
    assert_eq!(network["network"], "on");
    assert_eq!(all_files["audit_files"], "all");
    assert_eq!(plain["audit_files"], "changes");
    let hashes: Vec<&serde_json::Value> = [&plain, &read_only, &network, &all_files]
        .iter()
        .map(|s| &s["policy_sha256"])
        .collect();
    for (i, a) in hashes.iter().enumerate() {
        assert!(a.as_str().is_some_and(|h| h.len() == 64), "{a}");
        for b in &hashes[i + 1..] {
            assert_ne!(a, b, "two plans with the same policy_sha256");
        }
    }
    // Each session names the one started before it; the first names none.
    let previous: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| session_records(&w, id)[0]["data"]["previous_session"].clone())
        .collect();
    let mut want = vec![serde_json::Value::Null];
    want.extend(ids[..ids.len() - 1].iter().map(|id| json!(id)));
    assert_eq!(previous, want, "{ids:?}");
    w.brig(&["audit", "verify", "--all"]).code_is(0);
}

/// `command.end` says how the command ended (exit code, or the signal that killed it), what it
/// used (CPU time, peak resident memory, and the cgroup's peaks where a cgroup measures them)
/// and which limit stopped it.
fn command_end_records_how_it_ended(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    use serde_json::json;
    let w = t.world();
    let memory_cgroup = crate::limits::by_cgroup(t, "limit-memory");
    // Where `brig doctor` says a cgroup enforces the limit for this identity (as root on a
    // cgroup v1 or v2 host), brig measures the peaks with it; without one they are `null`.
    let pids_cgroup = crate::limits::by_cgroup(t, "limit-processes");
    // The one `command.end` of the newest session, checked for what every finished run has.
    let end = |min_processes: u64| -> serde_json::Value {
        let (_, records) = last_session(&w);
        let ends: Vec<&serde_json::Value> = records
            .iter()
            .filter(|r| r["kind"] == "command.end")
            .collect();
        assert_eq!(ends.len(), 1, "{records:?}");
        let e = ends[0]["data"].clone();
        for k in ["cpu_user_ms", "cpu_sys_ms", "duration_ms"] {
            assert!(e[k].as_f64().is_some_and(|v| v >= 0.0), "{k}: {e}");
        }
        assert!(e["max_rss_kb"].as_u64().is_some_and(|kb| kb > 0), "{e}");
        if memory_cgroup {
            assert!(
                e["peak_memory_bytes"].as_u64().is_some_and(|b| b > 0),
                "{e}"
            );
        } else {
            assert!(e["peak_memory_bytes"].is_null(), "no memory cgroup: {e}");
        }
        if pids_cgroup {
            assert!(
                e["peak_processes"]
                    .as_u64()
                    .is_some_and(|n| n >= min_processes),
                "at least {min_processes} processes: {e}"
            );
        } else {
            assert!(e["peak_processes"].is_null(), "no pids cgroup: {e}");
        }
        assert!(
            e["layers"]
                .as_array()
                .is_some_and(|l| l.contains(&json!("seccomp"))),
            "{e}"
        );
        e
    };

    // An exit code, after some CPU work and four processes at once (init, the shell, two
    // sleeps).
    w.brig_sh(
        &[],
        "i=0; while [ $i -lt 200000 ]; do i=$((i + 1)); done; sleep 0.3 & sleep 0.3 & wait; exit 5",
    )
    .code_is(5);
    let e = end(4);
    assert_eq!(
        (
            &e["exit_code"],
            &e["signal"],
            &e["status"],
            &e["command_status"]
        ),
        (&json!(5), &json!(null), &json!(5), &json!(5)),
        "{e}"
    );
    assert_eq!(e["limits_hit"], json!([]));
    let cpu = e["cpu_user_ms"].as_f64().unwrap() + e["cpu_sys_ms"].as_f64().unwrap();
    assert!(cpu > 10.0, "200000 shell iterations took no CPU time: {e}");

    // A signal: no exit code, 128 + 9.
    w.brig_sh(&[], "kill -9 $$").code_is(137);
    let e = end(2);
    assert_eq!(
        (
            &e["exit_code"],
            &e["signal"],
            &e["status"],
            &e["command_status"]
        ),
        (&json!(null), &json!(9), &json!(137), &json!(137)),
        "{e}"
    );
    assert_eq!(e["limits_hit"], json!([]));

    // The timeout: brig exits 117 and says so; the command itself ended by the SIGTERM.
    let out = w.brig(&["run", "--timeout", "1s", "--", "sleep", "30"]);
    out.code_is(117);
    assert!(
        out.stderr
            .contains("brig: stopped: wall-clock timeout of 1s reached"),
        "{out}"
    );
    let e = end(2);
    assert_eq!(e["limits_hit"], json!(["wall-clock timeout of 1s reached"]));
    assert_eq!(
        (
            &e["exit_code"],
            &e["signal"],
            &e["status"],
            &e["command_status"]
        ),
        (&json!(null), &json!(15), &json!(117), &json!(143)),
        "{e}"
    );
    assert!(
        e["duration_ms"].as_f64().is_some_and(|d| d >= 1000.0),
        "{e}"
    );
}

/// Hard links and symlinks made in the workspace are `link` and `symlink` changes at the new
/// name, and refused ones outside it are `denied` with the same op.
fn links_and_symlinks_are_recorded(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(
        &[],
        "echo x > a; ln a b; ln -s a c; mkdir d; ln -s ../a d/e; \
         ln a \"$HOME/hard\" 2>/dev/null; ln -s a \"$HOME/soft\" 2>/dev/null; true",
    )
    .ok();
    let (id, records) = last_session(&w);
    let ws = w.ws.display().to_string();
    let home = w.home.display().to_string();
    let ev = |k: &str, a: &str, b: String| (k.to_string(), a.to_string(), b);
    let rofs = "Read-only file system (os error 30)";
    assert_eq!(
        file_events(&records),
        vec![
            ev("file.change", "create", format!("{ws}/a")),
            ev("file.change", "link", format!("{ws}/b")),
            ev("file.change", "symlink", format!("{ws}/c")),
            ev("file.change", "mkdir", format!("{ws}/d")),
            ev("file.change", "symlink", format!("{ws}/d/e")),
            ev(
                "denied",
                "mount-namespace",
                format!("link {home}/hard: {rofs}")
            ),
            ev(
                "denied",
                "mount-namespace",
                format!("symlink {home}/soft: {rofs}")
            ),
        ]
    );
    // Made by `ln`, and really made: a second name of `a`, and links to it.
    for r in records
        .iter()
        .filter(|r| matches!(r["data"]["op"].as_str(), Some("link" | "symlink")))
    {
        let program = r["data"]["program"].as_str().unwrap_or_default();
        assert!(program.ends_with("/ln"), "{r}");
    }
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(w.ws.join("a")).unwrap();
    let b = std::fs::symlink_metadata(w.ws.join("b")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(
        std::fs::read_link(w.ws.join("c")).unwrap(),
        std::path::Path::new("a")
    );
    assert_eq!(
        std::fs::read_link(w.ws.join("d/e")).unwrap(),
        std::path::Path::new("../a")
    );
    assert!(!w.exists("home/hard") && !w.exists("home/soft"));
    w.brig(&["audit", "verify", &id]).code_is(0);
}

/// The state file system fills up while the command runs: brig stops the command (exit 120,
/// naming the audit log) instead of letting it go on unrecorded, and what was recorded before
/// stays: `verify` finds every complete record chained, unsigned (there was no final
/// checkpoint), and at most a torn last line, nothing edited or deleted. Root mounts a small
/// tmpfs as the run's `XDG_STATE_HOME` (brig itself runs as each identity).
fn disk_full_during_a_run_stops_the_command(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["root"]) {
        return;
    }
    const FILES: usize = 5000;
    let w = t.world();
    let state = w.aux.join("small-state");
    // Room for the key, `latest` and a segment of a few hundred records, not thousands.
    let _guard = small_tmpfs(&state, "64k");
    t.chown(&state);
    let with_state = |args: &[&str]| {
        let mut c = w.command(brig_bin());
        c.env("XDG_STATE_HOME", &state).args(args);
        run_command(c, None, "")
    };
    let out = with_state(&[
        "run",
        "--",
        "sh",
        "-c",
        &format!("for i in $(seq 1 {FILES}); do : > f$i; done; echo finished"),
    ]);
    out.code_is(120);
    assert!(
        out.stderr.contains("brig: the audit log cannot be written")
            && out.stderr.contains("the command was stopped"),
        "{out}"
    );
    assert!(!out.stdout.contains("finished"), "{out}");
    let made = (1..=FILES)
        .filter(|i| w.ws.join(format!("f{i}")).exists())
        .count();
    assert!(made > 0, "the command never ran");
    assert!(made < FILES, "the command ran to its end: {made} files");

    // What was recorded: the start, the command, its exec and its first creations, in order,
    // each of a file that exists; no end.
    let dir = state.join("brig/audit");
    let id = brig_audit::latest_session(&dir).expect("the session was started");
    let shown = with_state(&["audit", "show", &id, "--json"]);
    let records: Vec<serde_json::Value> = shown
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        kinds(&records[..3]),
        ["session.start", "command.start", "exec"]
    );
    assert!(!records.iter().any(|r| r["kind"] == "command.end"));
    let ws = w.ws.display().to_string();
    let created: Vec<String> = records
        .iter()
        .filter(|r| r["kind"] == "file.change")
        .map(|r| r["data"]["path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(created.len() > 10, "{records:?}");
    assert!(created.len() <= made, "more records than files");
    let want: Vec<String> = (1..=created.len()).map(|i| format!("{ws}/f{i}")).collect();
    assert_eq!(created, want);

    // `verify`: the complete records are unsigned (no checkpoint after them), a cut last line is
    // a torn tail, and nothing reads as tampering.
    let bytes = std::fs::read(dir.join(format!("{id}.jsonl"))).unwrap();
    let torn = !bytes.ends_with(b"\n");
    let signed = records
        .iter()
        .rposition(|r| r["kind"] == "checkpoint")
        .map_or(0, |i| i + 1);
    let v = with_state(&["audit", "verify", &id]);
    v.code_is(1);
    assert!(v.stdout.contains("NOT INTACT"), "{v}");
    assert!(
        v.stdout
            .contains(&format!("{} record(s) after", records.len() - signed))
            && v.stdout.contains("are unsigned"),
        "{v}"
    );
    assert_eq!(
        v.stdout.contains(&format!(
            "line {}: torn tail of {} bytes",
            records.len() + 1,
            bytes.len() - bytes.iter().rposition(|b| *b == b'\n').unwrap() - 1
        )),
        torn,
        "{v}"
    );
    for tampered in [
        "edited",
        "deleted",
        "out of order",
        "bad signature",
        "malformed",
    ] {
        assert!(!v.stdout.contains(tampered), "{v}");
    }
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
