//! The command line: exit status pass-through, brig's own exit codes and messages, danger mode
//! acknowledgement, config errors with file:line:col, `policy explain`, `doctor --json`.

use crate::support::*;

/// Finds `name:LINE:COL` in `text`.
fn has_location(text: &str, name: &str) -> bool {
    text.match_indices(&format!("{name}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or("");
        let col = parts.next().unwrap_or("");
        !line.is_empty()
            && line.chars().all(|c| c.is_ascii_digit())
            && !col.is_empty()
            && col.chars().all(|c| c.is_ascii_digit())
    })
}

both_identities!(
    exit_status_passthrough,
    bad_arguments,
    danger_mode_needs_acknowledgement,
    bad_config_file,
    policy_explain,
    doctor_json,
    untrusted_project_config_cannot_loosen,
    fails_closed_without_user_namespaces,
    policy_check,
    project_limits_are_best_effort_and_status_is_recorded,
    symlinks_cannot_make_brigs_own_files_writable,
    file_size_limit_covers_truncation,
    output_is_bounded_for_callers_that_capture,
);

/// `--max-output` (and `[limits] output`): at most that much of stdout and of stderr reaches
/// the caller, the command is not blocked by its flood and keeps its status, and the cut is
/// reported and recorded. Without the limit the whole output arrives.
fn output_is_bounded_for_callers_that_capture(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let script = "head -c 300000 /dev/zero | tr '\\0' o; head -c 5000 /dev/zero | tr '\\0' e >&2; echo finished > done; exit 3";
    let full = w.brig(&["run", "--", "sh", "-c", script]);
    full.code_is(3);
    assert_eq!(full.stdout.len(), 300_000);
    let out = w.brig(&["run", "--max-output", "4K", "--", "sh", "-c", script]);
    out.code_is(3);
    assert_eq!(out.stdout.len(), 4096, "{}", out.stderr);
    assert!(out.stdout.bytes().all(|b| b == b'o'));
    assert!(out.stderr.starts_with(&"e".repeat(4096)), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("output limit of 4 KiB reached on stdout: 295904 more bytes were dropped"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("reached on stderr: 904 more bytes"),
        "{}",
        out.stderr
    );
    assert_eq!(
        w.read("ws/done").as_deref(),
        Some("finished\n"),
        "the command ran to its end"
    );
    let (_, records) = crate::audit::last_session(&w);
    let end = records.iter().find(|r| r["kind"] == "command.end").unwrap();
    let hits = end["data"]["limits_hit"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{end}");
    assert!(hits[0].as_str().unwrap().contains("on stdout"), "{end}");
    // The same from a config file.
    w.write(
        "home/.config/brig/config.toml",
        "[limits]\noutput = \"1K\"\n",
    );
    let out = w.brig(&["run", "--", "sh", "-c", script]);
    out.code_is(3);
    assert_eq!(out.stdout.len(), 1024);
}

/// Paths are checked as the kernel resolves them: a config directory that is a symlink into
/// the workspace (a dotfiles repository), or an extra writable root that is a symlink to the
/// config directory, is refused (121) instead of letting the command rewrite brig's rules; and
/// a writable root inside a protected entry (`repo/.git`) is refused too.
fn symlinks_cannot_make_brigs_own_files_writable(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.t.make_dir(&w.ws.join("brigcfg"));
    w.t.make_dir(&w.home.join(".config"));
    std::os::unix::fs::symlink(w.ws.join("brigcfg"), w.home.join(".config/brig")).unwrap();
    let out = w.brig(&[
        "run",
        "--",
        "sh",
        "-c",
        "echo 'disable = [\"rm\"]' > brigcfg/rules.toml",
    ]);
    out.code_is(121);
    assert!(out.stderr.contains("config directory"), "{out}");
    assert!(!w.ws.join("brigcfg/rules.toml").exists());
    std::fs::remove_file(w.home.join(".config/brig")).unwrap();
    w.t.make_dir(&w.home.join(".config/brig"));
    std::os::unix::fs::symlink(w.home.join(".config/brig"), w.aux.join("cfglink")).unwrap();
    let link = w.aux.join("cfglink");
    let out = w.brig(&["run", "--writable", link.to_str().unwrap(), "--", "true"]);
    out.code_is(121);
    assert!(out.stderr.contains("config directory"), "{out}");
    w.t.make_dir(&w.ws.join("repo"));
    w.t.make_dir(&w.ws.join("repo/.git"));
    let git = w.ws.join("repo/.git");
    let out = w.brig(&["run", "--writable", git.to_str().unwrap(), "--", "true"]);
    out.code_is(121);
    assert!(out.stderr.contains("protected entry"), "{out}");
}

/// `--file-size` also bounds the truncations the supervisor makes for the command
/// (`truncate`, `ftruncate`), not only its own writes.
fn file_size_limit_covers_truncation(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let out = w.brig(&[
        "run",
        "--file-size",
        "1M",
        "--",
        "python3",
        "-c",
        "import errno, os\n\
         for grow in (lambda: os.truncate('big', 10 << 30), lambda: os.ftruncate(os.open('big2', os.O_RDWR | os.O_CREAT), 10 << 30)):\n\
         \x20   try:\n\
         \x20       grow(); print('GREW')\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', errno.errorcode[e.errno])\n",
    ]);
    out.ok();
    assert!(!out.stdout.contains("GREW"), "{out}");
    assert_eq!(out.stdout.matches("refused EFBIG").count(), 2, "{out}");
}

/// Limits from an untrusted `.brig.toml` are applied where the host can, but can never stop
/// brig from running (a repository must not be able to refuse every command on a host
/// without cgroups); and a run stopped by the timeout exits 117 and records 117 as its status
/// in `command.end`, with the command's own status beside it.
fn project_limits_are_best_effort_and_status_is_recorded(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.write(
        "ws/.brig.toml",
        "[limits]\nmemory = \"2G\"\nprocesses = 500\n",
    );
    w.brig(&["run", "--", "true"]).ok();
    let out = w.brig(&["run", "--timeout", "1s", "--", "sleep", "30"]);
    out.code_is(117);
    assert!(out.stderr.contains("timeout"), "{out}");
    let last = w
        .brig(&["audit", "list", "--json"])
        .ok()
        .stdout
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let id = serde_json::from_str::<serde_json::Value>(&last).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = w.brig(&["audit", "show", &id, "--type", "command.end", "--json"]);
    let end: serde_json::Value = serde_json::from_str(shown.ok().stdout.trim()).unwrap();
    assert_eq!(end["data"]["status"], 117, "{end}");
    assert_ne!(end["data"]["command_status"], 117, "{end}");
}

/// `brig policy check` decides without running anything: known read-only commands are
/// allowed, destructive ones need dual approval (and say what they destroy), a compound
/// command takes its strictest part, `--stdin` checks one command per line, `--json` is
/// machine-readable, the user's rules file counts, and a rules file that does not load is a
/// configuration error with its location.
fn policy_check(t: &Test) {
    let w = t.world();
    let out = w.brig(&["policy", "check", "--", "git", "status"]);
    out.ok();
    assert!(out.stdout.starts_with("allow: git status\n"), "{out}");
    assert!(out.stdout.contains("run it sandboxed"), "{out}");
    let out = w.brig(&["policy", "check", "--", "make && rm -rf build"]);
    out.ok();
    assert!(
        out.stdout
            .starts_with("ask (destructive): make && rm -rf build"),
        "{out}"
    );
    assert!(out.stdout.contains("destroys: build"), "{out}");
    assert!(out.stdout.contains("dual approval"), "{out}");
    // Nothing ran: the command was only read.
    w.setup("mkdir -p build && touch build/keep");
    w.brig(&["policy", "check", "--", "rm -rf build"]).ok();
    assert!(w.exists("ws/build/keep"));
    let out = w.brig(&[
        "policy",
        "check",
        "--json",
        "--approval-policy",
        "never",
        "--",
        "git push --force",
    ]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    assert_eq!(v["decision"], "ask");
    assert_eq!(v["destructive"], true);
    assert_eq!(v["then"]["action"], "refuse");
    assert_eq!(v["approval_policy"], "never");
    let mut c = w.command(brig_bin());
    c.args(["policy", "check", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"ls -la\n# a comment\n\n./rm -rf x\nrm -rf /\n",
    )
    .unwrap();
    let done = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&done.stdout);
    let heads: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        heads,
        [
            "allow: ls -la",
            "ask: ./rm -rf x",
            "forbid (destructive): rm -rf /"
        ],
        "{text}"
    );
    // The user's rules file: allow a project tool.
    w.write("home/.config/brig/rules.toml", "[[rule]]\nid = \"mytool\"\nprefix = [\"mytool\", \"lint\"]\ndecision = \"allow\"\njustification = \"our linter only reads\"\nmatch = [\"mytool lint src\"]\n");
    let out = w.brig(&["policy", "check", "--", "mytool lint src"]);
    assert!(
        out.ok().stdout.starts_with("allow: mytool lint src"),
        "{out}"
    );
    // A rule whose example does not match is a load error with its place.
    w.write("aux/bad.toml", "[[rule]]\nid = \"bad\"\nprefix = [\"ls\"]\ndecision = \"allow\"\njustification = \"x\"\nmatch = [\"cat x\"]\n");
    let bad = w.aux.join("bad.toml");
    let out = w.brig(&[
        "policy",
        "check",
        "--rules",
        bad.to_str().unwrap(),
        "--",
        "ls",
    ]);
    out.code_is(121);
    assert!(out.stderr.contains(&format!("{}:", bad.display())), "{out}");
    assert!(out.stderr.contains("cat x"), "{out}");
}

/// Where user namespaces cannot be created (here: inside brig's own sandbox, whose seccomp
/// filter refuses them) brig refuses to run the command, exits 122 and names the missing
/// feature and a fix; the command does not run unconfined.
fn fails_closed_without_user_namespaces(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    // A copy outside /tmp (a checkout under /tmp is not visible inside the sandbox).
    let brig = w.aux.join("brig-inner");
    std::fs::copy(brig_bin(), &brig).unwrap();
    // The inner brig keeps its (audit) state in the sandbox's private /tmp.
    let inner = format!(
        "XDG_STATE_HOME=/tmp/inner-state {} run -- touch ran-unconfined",
        brig.display()
    );
    let out = w.brig_sh(&["--writable", w.aux.to_str().unwrap()], &inner);
    out.code_is(122);
    assert!(out.stderr.contains("user namespaces"), "{out}");
    assert!(
        out.stderr.contains("sysctl") || out.stderr.contains("container"),
        "no fix named: {out}"
    );
    assert!(
        !w.ws.join("ran-unconfined").exists(),
        "the command ran without a sandbox"
    );
}

/// The command's exit code and death signal come back as brig's status.
fn exit_status_passthrough(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.brig_sh(&[], "exit 0").code_is(0);
    w.brig_sh(&[], "exit 3").code_is(3);
    w.brig_sh(&[], "exit 120").code_is(120);
    w.brig_sh(&[], "kill -TERM $$").code_is(128 + 15);
    w.brig_sh(&[], "kill -KILL $$").code_is(128 + 9);
    w.brig_sh(&[], "kill -SEGV $$").code_is(128 + 11);
    let out = w.brig_run(&[], &["brig-no-such-command-xyz"]);
    out.code_is(127);
    assert!(out.stderr.contains("brig-no-such-command-xyz"), "{out}");
    w.write("ws/not-exec.sh", "#!/bin/sh\necho hi\n");
    w.brig_run(&[], &["./not-exec.sh"]).code_is(126);
    let out = w.brig_sh(&[], "echo to-out; echo to-err >&2");
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");
    let mut c = w.command(brig_bin());
    c.args(["run", "--", "cat"]);
    let out = run_command(c, Some(b"stdin passes through\n"), "brig run -- cat");
    assert_eq!(out.ok().stdout, "stdin passes through\n");
}

/// Bad values: 121 with a message naming the valid ones; brig does not run the command.
fn bad_arguments(t: &Test) {
    let w = t.world();
    let out = w.brig(&["run", "--mode", "bogus", "--", "touch", "ran"]);
    out.code_is(121);
    for m in ["read-only", "workspace-write", "danger-full-access"] {
        assert!(
            out.stderr.contains(m),
            "the message does not name {m}:\n{out}"
        );
    }
    let out = w.brig(&["run", "--network", "maybe", "--", "touch", "ran"]);
    out.code_is(121);
    assert!(!w.exists("ws/ran"));
    w.brig(&["run", "--workspace", "/nonexistent/brig/ws", "--", "true"])
        .code_is(121);
}

/// danger-full-access: refused (124) without an acknowledgement; with `--acknowledge-danger`
/// it runs unconfined and warns on stderr.
fn danger_mode_needs_acknowledgement(t: &Test) {
    let w = t.world();
    let out = w.brig(&[
        "run",
        "--mode",
        "danger-full-access",
        "--",
        "touch",
        "../aux/ran",
    ]);
    out.code_is(124);
    assert!(out.stderr.contains("acknowledge"), "{out}");
    assert!(!w.exists("aux/ran"));
    let out = w.brig(&[
        "run",
        "--mode",
        "danger-full-access",
        "--acknowledge-danger",
        "--",
        "touch",
        "../aux/ran",
    ]);
    out.code_is(0);
    assert!(
        w.exists("aux/ran"),
        "danger-full-access did not run the command unconfined"
    );
    assert!(
        out.stderr.contains("WARNING") && out.stderr.contains("danger-full-access"),
        "no warning on stderr:\n{out}"
    );
}

/// Config errors are 121 and point at file:line:col.
fn bad_config_file(t: &Test) {
    let w = t.world();
    w.write(
        "aux/unknown-key.toml",
        "mode = \"read-only\"\nbogus_key = 1\n",
    );
    w.write("aux/bad-value.toml", "network = \"off\"\nmode = \"nope\"\n");
    w.write("aux/bad-syntax.toml", "mode = \n");
    for f in ["unknown-key.toml", "bad-value.toml", "bad-syntax.toml"] {
        let path = w.path(&format!("aux/{f}")).display().to_string();
        let out = w.brig(&["run", "--config", &path, "--", "touch", "ran"]);
        out.code_is(121);
        assert!(
            has_location(&out.stderr, f),
            "no {f}:LINE:COL in the message:\n{out}"
        );
        assert!(!w.exists("ws/ran"));
    }
    let path = w.path("aux/unknown-key.toml").display().to_string();
    let out = w.brig(&["run", "--config", &path, "--", "true"]);
    assert!(
        out.stderr.contains("unknown-key.toml:2:"),
        "wrong line:\n{out}"
    );
    assert!(out.stderr.contains("bogus_key"), "{out}");
}

/// `brig policy explain` shows the mode and the protected names.
fn policy_explain(t: &Test) {
    let w = t.world();
    let out = w.brig(&["policy", "explain"]);
    out.ok();
    for want in [
        "workspace-write",
        ".git",
        ".envrc",
        ".vscode",
        ".mcp.json",
        ".claude",
    ] {
        assert!(
            out.stdout.contains(want),
            "explain does not mention {want}:\n{out}"
        );
    }
    assert!(out.stdout.contains(&w.ws.display().to_string()), "{out}");
    let out = w.brig(&["policy", "explain", "--mode", "read-only"]);
    assert!(out.ok().stdout.contains("read-only"), "{out}");
    let out = w.brig(&["policy", "explain", "--json"]);
    let _: serde_json::Value =
        serde_json::from_str(&out.ok().stdout).expect("explain --json is JSON");
}

/// `brig doctor --json` parses and reports the kernel features and the modes.
fn doctor_json(t: &Test) {
    let w = t.world();
    let out = w.brig(&["doctor", "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(&out.ok().stdout).expect("doctor --json is JSON");
    let names: Vec<&str> = v["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    for want in ["user-namespaces", "landlock", "seccomp"] {
        assert!(
            names.contains(&want),
            "doctor does not report {want}: {names:?}"
        );
    }
    for mode in ["read-only", "workspace-write", "danger-full-access"] {
        assert!(
            v["modes"][mode]["ready"].is_boolean(),
            "mode {mode} missing:\n{out}"
        );
    }
    w.brig(&["doctor"]).ok();
}

/// An untrusted project file (`.brig.toml` shipped in a repository) cannot loosen the
/// policy: danger mode, extra writable roots, network, unprotecting names, passing secrets.
fn untrusted_project_config_cannot_loosen(t: &Test) {
    let w = t.world();
    for (name, toml) in [
        (
            "danger",
            "mode = \"danger-full-access\"\nallow_danger_full_access = true\n",
        ),
        ("writable home", "writable = [\"../home\"]\n"),
        ("network", "network = \"on\"\n"),
        (
            "unprotect",
            "[protect]\nunprotect = [\".envrc\", \".vscode\"]\n",
        ),
        ("env pass", "[env]\npass = [\"FOO_TOKEN\"]\n"),
    ] {
        w.write("ws/.brig.toml", toml);
        let mut c = w.command(brig_bin());
        c.args([
            "run",
            "--",
            "sh",
            "-c",
            "echo evil > ~/.bashrc; touch .envrc; env",
        ]);
        c.env("FOO_TOKEN", "tok-4242");
        let out = run_command(
            c,
            None,
            &format!("brig run with an untrusted .brig.toml ({name})"),
        );
        assert!(
            !w.exists("home/.bashrc") && !w.exists("ws/.envrc"),
            "{name}: the project file loosened the sandbox:\n{out}"
        );
        assert!(
            !out.stdout.contains("tok-4242"),
            "{name}: the project file passed a secret:\n{out}"
        );
        if !out.success() {
            out.code_is(121);
            assert!(out.stderr.contains(".brig.toml"), "{out}");
        }
    }
}
