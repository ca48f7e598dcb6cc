//! THREATS E (resources) and the timeout half of lifetime: `brig run`'s limits bound what a
//! runaway command can take (processes, memory, `/tmp` and `/dev/shm`, file size, wall-clock
//! time), the host keeps working meanwhile, and at the timeout everything in the sandbox goes,
//! SIGTERM-ignoring and stopped processes and a `tmux` server included, and a limit that was
//! reached is in the audit record. What `lifetime.rs` already covers (leftovers when the command
//! ends, `kill -9` of brig) is not repeated here.
//!
//! The flags: `--memory SIZE`, `--processes N`, `--cpus X`, `--timeout DURATION`,
//! `--tmp-size SIZE`, `--shm-size SIZE`, `--file-size SIZE` (SIZE like `512M`, DURATION like
//! `90s`). Which mechanism enforces a limit depends on the identity and the host: each test
//! reads `brig doctor --json` (`limit-memory`, `limit-processes`, `limit-cpus`) and checks the
//! behaviour that goes with it: bounded where a mechanism exists, refused (exit 122) where an
//! explicit limit cannot be enforced. Exit codes follow docs/limits.md: 117 for the timeout,
//! 119 for the memory limit (118 is the approval policy's refusal).
//!
//! Checked from the host by function (a command still runs, sizes written, processes left),
//! never by timing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::*;

both_identities!(
    fork_bomb_is_bounded,
    memory_bomb_is_bounded_or_refused,
    host_responsive_during_memory_bomb,
    tmp_and_shm_fill_is_bounded,
    host_responsive_during_tmp_fill,
    shm_size_flag_bounds_dev_shm,
    large_file_write_is_bounded,
    cpu_hog_is_stopped_at_the_timeout,
    timeout_kills_sigterm_ignoring_and_stopped_processes,
    tmux_server_killed_at_the_timeout,
    unenforceable_explicit_limits_are_refused,
    reached_limits_are_in_the_audit_record,
);

/// Exit status brig uses when the wall-clock timeout was reached.
const TIMEOUT_EXIT: i32 = 117;
/// Exit status brig uses when the memory limit ended the command.
const MEMORY_EXIT: i32 = 119;
/// brig's own exit status for a limit it cannot enforce.
const UNAVAILABLE_EXIT: i32 = 122;

/// The resource-limit lines of `brig doctor --json` for `who`: name → (available, detail).
fn limit_features(who: Who) -> &'static BTreeMap<String, (bool, String)> {
    static ROOT: OnceLock<BTreeMap<String, (bool, String)>> = OnceLock::new();
    static USER: OnceLock<BTreeMap<String, (bool, String)>> = OnceLock::new();
    let cell = if who == Who::Root { &ROOT } else { &USER };
    cell.get_or_init(|| {
        let mut cmd = identity_command(who, brig_bin().as_os_str());
        cmd.args(["doctor", "--json"])
            .env_clear()
            .env("PATH", PATH)
            .current_dir("/");
        let out = run_command(cmd, None, "brig doctor --json");
        assert!(out.success(), "brig doctor --json failed:\n{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        let mut m = BTreeMap::new();
        for f in v["features"].as_array().expect("features") {
            let name = f["name"].as_str().unwrap_or_default();
            if name == "resource-limits" || name.starts_with("limit-") {
                m.insert(
                    name.to_string(),
                    (
                        f["available"].as_bool().unwrap_or(false),
                        f["detail"].as_str().unwrap_or_default().to_string(),
                    ),
                );
            }
        }
        for name in [
            "resource-limits",
            "limit-memory",
            "limit-processes",
            "limit-cpus",
        ] {
            assert!(
                m.contains_key(name),
                "brig doctor does not report `{name}`:\n{out}"
            );
        }
        m
    })
}

/// Whether an explicit limit of this kind (`limit-memory`, ...) is enforced for `t`'s identity.
fn enforced(t: &Test, feature: &str) -> bool {
    limit_features(t.who)[feature].0
}

/// Whether a cgroup enforces it (and so brig can observe it being reached).
pub(crate) fn by_cgroup(t: &Test, feature: &str) -> bool {
    let (ok, detail) = &limit_features(t.who)[feature];
    *ok && detail.starts_with("cgroup")
}

/// The sandboxed processes of a marker: those running Python (not brig, whose own command
/// line holds the marker too).
fn pythons(marker: &str) -> Vec<(u32, String)> {
    procs_with(marker)
        .into_iter()
        .filter(|(_, c)| c.starts_with("python3 ") || c.contains("/python3 "))
        .collect()
}

/// Every process forks until forking fails, then keeps retrying: a bomb held at the limit.
const FORK_BOMB: &str = r#"
import os, time
while True:
    try:
        os.fork()
    except OSError:
        try:
            open("limit-reached", "x").close()
        except OSError:
            pass
        time.sleep(0.2)
"#;

/// A fork bomb stays at the process limit, and meanwhile the host (as the same user) can still
/// start a command. SIGTERM to brig then ends every process of the bomb.
fn fork_bomb_is_bounded(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.write("aux/bomb.py", FORK_BOMB);
    let bomb = w.path("aux/bomb.py").display().to_string();
    let m = t.marker("bomb");
    let _cleanup = KillOnDrop(m.clone());
    let mut c = w.command(brig_bin());
    c.args([
        "run",
        "--processes",
        "64",
        "--timeout",
        "80s",
        "--",
        "python3",
        &bomb,
        &m,
    ]);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut brig = c.spawn().unwrap();
    let mut ended = false;
    let reached = eventually(Duration::from_secs(40), || {
        ended = ended || brig.try_wait().ok().flatten().is_some();
        ended || w.exists("ws/limit-reached")
    }) && !ended;
    let during = w.sh("true");
    let count = pythons(&m).len();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &brig.id().to_string()])
        .status();
    if !reached {
        let _ = brig.kill();
    }
    let out = finish(brig, "brig run --processes 64 -- python3 bomb.py", DEADLINE);
    assert!(reached, "the bomb never reached the limit:\n{out}");
    assert!(
        during.success(),
        "the host could not run `true` during the bomb:\n{during}"
    );
    assert!(
        (2..=64).contains(&count),
        "{count} bomb processes under a limit of 64:\n{out}"
    );
    assert!(
        !matches!(out.code(), Some(121..=125)),
        "brig itself failed:\n{out}"
    );
    let gone = eventually(Duration::from_secs(15), || procs_with(&m).is_empty());
    assert!(gone, "bomb processes outlived brig: {:?}", procs_with(&m));
    if by_cgroup(t, "limit-processes") {
        out.says_one_of(&["process limit of 64 reached"]);
    }
}

/// Allocates (and touches) 1 GiB in 16 MiB steps; writes `ran` first.
const MEMORY_BOMB: &str = r#"
open("ran", "w").close()
chunks = []
for i in range(64):
    chunks.append(bytearray(16 << 20))
print("allocated 1 GiB")
"#;

/// `--memory 128M`: where a memory cgroup enforces it, the bomb is killed and brig says so
/// (exit 119); where none can, the explicit limit is refused before anything runs (exit 122).
fn memory_bomb_is_bounded_or_refused(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let out = w.brig_run(
        &["--memory", "128M", "--timeout", "80s"],
        &["python3", "-c", MEMORY_BOMB],
    );
    if enforced(t, "limit-memory") {
        out.code_is(MEMORY_EXIT)
            .says_one_of(&["memory limit of 128 MiB reached"]);
        assert!(w.exists("ws/ran"), "{out}");
        assert!(!out.stdout.contains("allocated 1 GiB"), "{out}");
    } else {
        out.code_is(UNAVAILABLE_EXIT)
            .says_one_of(&["memory limits unavailable"]);
        out.says_one_of(&["Delegate=yes"]);
        assert!(!w.exists("ws/ran"), "the command ran:\n{out}");
    }
    // The host is fine afterwards.
    w.sh("true").ok();
}

/// A bomb that holds the sandbox at its memory limit until `stop` appears in the workspace:
/// one child at a time allocates (and touches) 1 GiB in 16 MiB steps; the parent, which stays
/// small, records how each child ended in `ended` (`oom`: killed by SIGKILL, the out-of-memory
/// killer; `enomem`: `MemoryError`; `allocated`: not bounded) and exits 0 when told to stop.
const HELD_MEMORY_BOMB: &str = r#"
import os
while not os.path.exists("stop"):
    pid = os.fork()
    if pid == 0:
        try:
            chunks = [bytearray(16 << 20) for i in range(64)]
        except MemoryError:
            os._exit(12)
        print("allocated 1 GiB", flush=True)
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st) and os.WTERMSIG(st) == 9:
        how = "oom"
    elif os.WIFEXITED(st) and os.WEXITSTATUS(st) == 12:
        how = "enomem"
    else:
        how = "allocated" if os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0 else "other:%d" % st
    with open("ended", "a") as f:
        f.write(how + "\n")
print("stopped", flush=True)
"#;

/// Starts `brig run ARGS -- argv` in the background as the identity (stdout and stderr piped),
/// without a terminal; nothing it runs may need an approval.
fn spawn_brig(w: &World, args: &[&str], argv: &[&str]) -> Child {
    let mut c = w.command(brig_bin());
    c.arg("run")
        .args(["--approval-policy", "on-request", "--no-tty-prompt"])
        .args(args)
        .arg("--")
        .args(argv);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("start brig run")
}

/// While `brig` runs a bomb that has reached its bound (`ready` holds), the host, as the same
/// user, runs `echo`: returns its output, after asserting that the bomb was still running
/// before and after it (so the command really ran during the bomb). Kills brig on failure.
fn host_command_during(w: &World, brig: &mut Child, what: &str, ready: impl Fn() -> bool) -> Out {
    let mut ended = false;
    let reached = eventually(Duration::from_secs(60), || {
        ended = ended || brig.try_wait().ok().flatten().is_some();
        ended || ready()
    }) && !ended;
    let during = w.sh("echo host-still-works");
    let still = brig.try_wait().ok().flatten().is_none();
    if !(reached && still) {
        let _ = brig.kill();
        let _ = brig.wait();
        panic!("{what}: the bomb did not reach its bound while running (reached: {reached}, still running after the host command: {still})");
    }
    during
}

/// The memory bomb held at its limit (128 MiB: `--memory` where a memory cgroup enforces it,
/// otherwise an untrusted project's `[limits] memory`, which brig applies as a default, per
/// process as `RLIMIT_DATA`): meanwhile the host runs a command; every child was bounded (the
/// out-of-memory killer under a cgroup, `MemoryError` under the rlimit), none got its 1 GiB.
fn host_responsive_during_memory_bomb(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let cgroup = by_cgroup(t, "limit-memory");
    let args: &[&str] = if enforced(t, "limit-memory") {
        &["--memory", "128M", "--timeout", "80s"]
    } else {
        w.write("ws/.brig.toml", "[limits]\nmemory = \"128M\"\n");
        &["--timeout", "80s"]
    };
    let mut brig = spawn_brig(&w, args, &["python3", "-c", HELD_MEMORY_BOMB]);
    let during = host_command_during(&w, &mut brig, "memory bomb", || {
        w.read("ws/ended").is_some_and(|e| e.lines().count() >= 2)
    });
    w.write("ws/stop", "");
    let out = finish(brig, "brig run -- python3 <held memory bomb>", DEADLINE);
    during.ok();
    assert_eq!(during.stdout.trim(), "host-still-works", "{during}");
    out.ok();
    assert!(out.stdout.contains("stopped"), "{out}");
    assert!(!out.stdout.contains("allocated 1 GiB"), "unbounded:\n{out}");
    let ended = w.read("ws/ended").unwrap_or_default();
    let want = if cgroup { "oom" } else { "enomem" };
    assert!(
        !ended.is_empty() && ended.lines().all(|l| l == want),
        "every child should have ended `{want}`: {ended:?}\n{out}"
    );
    if cgroup {
        out.says_one_of(&["memory limit of 128 MiB reached"]);
    }
}

/// `/tmp` and `/var/tmp` stop at `--tmp-size`, `/dev/shm` at its default (256 MiB): writes get
/// "No space left on device".
fn tmp_and_shm_fill_is_bounded(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let out = w.brig_sh(
        &["--tmp-size", "8M"],
        "for d in /tmp /var/tmp; do head -c 67108864 /dev/zero > $d/fill; echo \"$d=$(wc -c < $d/fill)\"; done\n\
         head -c 536870912 /dev/zero > /dev/shm/fill; echo \"/dev/shm=$(wc -c < /dev/shm/fill)\"",
    );
    let sizes: BTreeMap<&str, u64> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k, v.trim().parse().ok()?)))
        .collect();
    for (d, max) in [
        ("/tmp", 8u64 << 20),
        ("/var/tmp", 8 << 20),
        ("/dev/shm", 256 << 20),
    ] {
        let got = *sizes
            .get(d)
            .unwrap_or_else(|| panic!("no size for {d}:\n{out}"));
        assert!(
            got <= max && got > max / 2,
            "{d}: {got} bytes written, expected at most {max}:\n{out}"
        );
    }
    assert_eq!(
        out.stderr.matches("No space left on device").count(),
        3,
        "{out}"
    );
}

/// A loop that keeps appending 16 MiB to `/tmp` under `--tmp-size 16M` until `stop` appears:
/// meanwhile the host runs a command; `/tmp` held at most 16 MiB, the writes failed with
/// `ENOSPC`, and nothing reached the host's `/tmp`.
fn host_responsive_during_tmp_fill(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let m = t.marker("fill");
    let fill = format!("/tmp/{m}");
    let script = format!(
        "while [ ! -e stop ]; do\n\
         head -c 16777216 /dev/zero >> {fill} 2>err || touch full\n\
         sleep 0.05\n\
         done\n\
         echo \"size=$(wc -c < {fill})\"; cat err"
    );
    let mut brig = spawn_brig(
        &w,
        &["--tmp-size", "16M", "--timeout", "80s"],
        &["/bin/sh", "-c", &script],
    );
    let during = host_command_during(&w, &mut brig, "/tmp fill", || w.exists("ws/full"));
    let host_saw = Path::new(&fill).exists();
    w.write("ws/stop", "");
    let out = finish(
        brig,
        "brig run --tmp-size 16M -- sh -c <fill /tmp>",
        DEADLINE,
    );
    during.ok();
    assert_eq!(during.stdout.trim(), "host-still-works", "{during}");
    out.ok();
    let size: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("size="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no size:\n{out}"));
    assert!(
        size <= 16 << 20 && size > 8 << 20,
        "{size} bytes in /tmp under --tmp-size 16M:\n{out}"
    );
    out.says_one_of(&["No space left on device"]);
    assert!(
        !host_saw && !Path::new(&fill).exists(),
        "the fill reached the host's /tmp ({fill})"
    );
}

/// `--shm-size 1M`: a 4 MiB `dd` into `/dev/shm` fails with `ENOSPC` after at most 1 MiB; the
/// same write without the flag (256 MiB by default) succeeds; neither reaches the host's
/// `/dev/shm`.
fn shm_size_flag_bounds_dev_shm(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let name = format!("/dev/shm/{}", t.marker("shm"));
    let script = format!(
        "dd if=/dev/zero of={name} bs=1M count=4; echo \"rc=$?\"; echo \"size=$(wc -c < {name})\""
    );
    let size_of = |out: &Out| -> u64 {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("size="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no size:\n{out}"))
    };
    let bounded = w.brig_sh(&["--shm-size", "1M"], &script);
    bounded.ok();
    assert!(bounded.stdout.contains("rc=1"), "{bounded}");
    bounded.says_one_of(&["No space left on device"]);
    let size = size_of(&bounded);
    assert!(
        ((512 << 10)..=(1 << 20)).contains(&size),
        "{size} bytes in /dev/shm under --shm-size 1M:\n{bounded}"
    );
    assert!(
        !Path::new(&name).exists(),
        "the write reached the host's /dev/shm"
    );
    let control = w.brig_sh(&[], &script);
    control.ok();
    assert!(control.stdout.contains("rc=0"), "{control}");
    assert_eq!(size_of(&control), 4 << 20, "{control}");
    assert!(
        !Path::new(&name).exists(),
        "the write reached the host's /dev/shm"
    );
}

/// `--file-size 1M`: a 3 MiB write fails with "File too large" (the writer is not killed), and
/// the file on the host stops at 1 MiB.
fn large_file_write_is_bounded(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let out = w.brig_sh(
        &["--file-size", "1M"],
        "head -c 3145728 /dev/zero > big; echo \"rc=$?\"",
    );
    out.ok();
    assert!(out.stdout.contains("rc=1"), "{out}");
    out.says_one_of(&["File too large"]);
    let size = std::fs::metadata(w.path("ws/big")).unwrap().len();
    assert_eq!(size, 1 << 20, "{out}");
}

/// `--timeout 2s` on a CPU hog: stopped, brig says so, exit 117, nothing left.
fn cpu_hog_is_stopped_at_the_timeout(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let m = t.marker("hog");
    let _cleanup = KillOnDrop(m.clone());
    let out = w.brig_run(
        &["--timeout", "2s"],
        &["python3", "-c", "while True: pass", &m],
    );
    out.code_is(TIMEOUT_EXIT)
        .says_one_of(&["wall-clock timeout of 2s reached"]);
    assert!(procs_with(&m).is_empty(), "{:?}", procs_with(&m));
}

/// A command that ignores SIGTERM, a child that catches it and goes on, a `setsid` daemon
/// that ignores it, a stopped process: at the timeout all get SIGTERM, after the grace all are
/// killed.
fn timeout_kills_sigterm_ignoring_and_stopped_processes(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3", "setsid"]) {
        return;
    }
    let w = t.world();
    let m = t.marker("noterm");
    let _cleanup = KillOnDrop(m.clone());
    let script = format!(
        r#"python3 -c 'import signal, time
signal.signal(signal.SIGTERM, lambda *a: open("got-term", "a").write("x"))
open("ready", "w").close()
while True: time.sleep(0.05)' {m}-catch &
python3 -c 'import time; time.sleep(300)' {m}-stopped &
STOPPED=$!
setsid sh -c 'trap "" TERM; while :; do sleep 1; done' {m}-daemon &
while [ ! -e ready ]; do sleep 0.05; done
kill -STOP $STOPPED
trap '' TERM
echo started
wait"#
    );
    // The processes must be in place before the timeout: on a loaded machine a longer one is
    // tried (what is asserted never depends on how long anything took).
    for secs in [3, 10, 40] {
        let _ = std::fs::remove_file(w.path("ws/ready"));
        let _ = std::fs::remove_file(w.path("ws/got-term"));
        let out = w.brig_sh(&["--timeout", &format!("{secs}s")], &script);
        if !out.stdout.contains("started") && secs < 40 && out.code() == Some(TIMEOUT_EXIT) {
            continue;
        }
        assert!(out.stdout.contains("started"), "{out}");
        out.code_is(TIMEOUT_EXIT)
            .says_one_of(&[&format!("wall-clock timeout of {secs}s reached")]);
        assert_eq!(
            w.read("ws/got-term").as_deref(),
            Some("x"),
            "SIGTERM first:\n{out}"
        );
        break;
    }
    let gone = eventually(Duration::from_secs(15), || procs_with(&m).is_empty());
    assert!(gone, "processes outlived the timeout: {:?}", procs_with(&m));
}

/// `tmux new -d` inside, the command still running at the timeout: the tmux server and its
/// session go with the sandbox.
fn tmux_server_killed_at_the_timeout(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["tmux", "python3"]) {
        return;
    }
    let w = t.world();
    let m = t.marker("tmuxto");
    let _cleanup = KillOnDrop(m.clone());
    for secs in [3, 10, 40] {
        let out = w.brig_sh(
            &["--timeout", &format!("{secs}s")],
            &format!(
                "tmux -S /tmp/t.sock new-session -d \"python3 -c 'import time; time.sleep(300)' {m}\" && echo started; sleep 300"
            ),
        );
        if !out.stdout.contains("started") && secs < 40 && out.code() == Some(TIMEOUT_EXIT) {
            continue;
        }
        assert!(out.stdout.contains("started"), "{out}");
        out.code_is(TIMEOUT_EXIT);
        break;
    }
    let gone = eventually(Duration::from_secs(15), || procs_with(&m).is_empty());
    assert!(
        gone,
        "the tmux server outlived the timeout: {:?}",
        procs_with(&m)
    );
}

/// Each explicit limit runs where `brig doctor` says it is enforced, and is refused (exit 122,
/// naming the limit and the fix, the command never started) where it says it is not.
fn unenforceable_explicit_limits_are_refused(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    for (flag, value, feature, words) in [
        (
            "--memory",
            "64M",
            "limit-memory",
            "memory limits unavailable",
        ),
        (
            "--processes",
            "64",
            "limit-processes",
            "process limits unavailable",
        ),
        ("--cpus", "0.5", "limit-cpus", "CPU limits unavailable"),
    ] {
        let ran = format!("ran{}", flag.trim_start_matches('-'));
        let out = w.brig_sh(&[flag, value], &format!("echo yes > {ran}"));
        if enforced(t, feature) {
            out.ok();
            assert!(w.exists(&format!("ws/{ran}")), "{out}");
        } else {
            out.code_is(UNAVAILABLE_EXIT).says_one_of(&[words]);
            assert!(!w.exists(&format!("ws/{ran}")), "the command ran:\n{out}");
        }
    }
}

/// The `command.end` record of `w`'s newest session.
fn last_command_end(w: &World) -> serde_json::Value {
    let (id, records) = crate::audit::last_session(w);
    let ends: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["kind"] == "command.end")
        .collect();
    assert_eq!(ends.len(), 1, "session {id}: {records:?}");
    ends[0]["data"].clone()
}

/// Allocates (and touches) 512 MiB at once; prints `allocated` if it got them.
const ALLOC_512M: &str = "x = bytearray(512 << 20)\nprint('allocated')\n";

/// A reached limit is in the audit trail: after `--timeout 1s`, `command.end` has status 117
/// (the command's own 143 beside it) and names the timeout in `limits_hit`; after a 512 MiB
/// allocation under `--memory 64M`, where a memory cgroup enforces it, status 119, the memory
/// limit in `limits_hit` and the cgroup's `peak_memory_bytes` (at most the limit, near it);
/// where none can, the refusal (122) is what is recorded, with its error and nothing reached.
fn reached_limits_are_in_the_audit_record(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let out = w.brig_run(&["--timeout", "1s"], &["sleep", "30"]);
    out.code_is(TIMEOUT_EXIT)
        .says_one_of(&["wall-clock timeout of 1s reached"]);
    let end = last_command_end(&w);
    assert_eq!(end["status"], TIMEOUT_EXIT, "{end}");
    assert_eq!(end["command_status"], 128 + 15, "{end}");
    assert_eq!(
        end["limits_hit"],
        serde_json::json!(["wall-clock timeout of 1s reached"]),
        "{end}"
    );

    let out = w.brig_run(&["--memory", "64M"], &["python3", "-c", ALLOC_512M]);
    let end = last_command_end(&w);
    if enforced(t, "limit-memory") {
        out.code_is(MEMORY_EXIT)
            .says_one_of(&["memory limit of 64 MiB reached"]);
        assert!(!out.stdout.contains("allocated"), "{out}");
        assert_eq!(end["status"], MEMORY_EXIT, "{end}");
        assert_eq!(end["command_status"], 128 + 9, "{end}");
        assert_eq!(
            end["limits_hit"],
            serde_json::json!([
                "memory limit of 64 MiB reached (the out-of-memory killer ended a process)"
            ]),
            "{end}"
        );
        let peak = end["peak_memory_bytes"]
            .as_u64()
            .unwrap_or_else(|| panic!("peak_memory_bytes is not a number: {end}"));
        assert!(
            peak <= 64 << 20 && peak > 32 << 20,
            "peak_memory_bytes {peak} under a limit of 64 MiB: {end}"
        );
    } else {
        out.code_is(UNAVAILABLE_EXIT)
            .says_one_of(&["memory limits unavailable"]);
        assert_eq!(end["status"], UNAVAILABLE_EXIT, "{end}");
        assert!(
            end["error"]
                .as_str()
                .is_some_and(|e| e.contains("memory limits unavailable")),
            "{end}"
        );
        assert!(end["limits_hit"].is_null(), "{end}");
    }
}
