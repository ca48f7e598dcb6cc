//! THREATS E (lifetime): nothing the command started outlives it (`setsid`, double fork,
//! `nohup`, SIGTERM ignored, stopped processes), and killing brig itself tears the sandbox down,
//! every one of those tricks (and a `tmux` server) included.
//! Checked from the host by scanning /proc for a unique marker; polls, never times.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

/// Starts five long sleepers that try to survive, waits until all run, stops the last one.
const SPAWN: &str = r#"M=$1
S='import pathlib, sys, time
pathlib.Path("ready-" + sys.argv[1].rsplit("-", 1)[1]).touch()
time.sleep(300)'
setsid python3 -c "$S" "$M-setsid" </dev/null >/dev/null 2>&1 &
(python3 -c "$S" "$M-double" </dev/null >/dev/null 2>&1 &)
nohup python3 -c "$S" "$M-nohup" </dev/null >/dev/null 2>&1 &
(trap '' TERM; exec python3 -c "$S" "$M-noterm") </dev/null >/dev/null 2>&1 &
python3 -c "$S" "$M-stopped" </dev/null >/dev/null 2>&1 &
STOPPED=$!
i=0
while [ "$(ls ready-* 2>/dev/null | wc -l)" -lt 5 ]; do
    i=$((i+1)); [ $i -gt 600 ] && { echo "sleepers did not start"; exit 7; }
    sleep 0.05
done
kill -STOP $STOPPED
echo started
"#;

const KINDS: &[&str] = &["setsid", "double", "nohup", "noterm", "stopped"];

/// The marker processes that are the sleepers themselves (argv[0] python3).
fn sleepers(marker: &str) -> Vec<(u32, String)> {
    procs_with(marker)
        .into_iter()
        .filter(|(_, c)| c.starts_with("python3 ") || c.contains("/python3 -c"))
        .collect()
}

both_identities!(
    leftover_processes_killed,
    killing_brig_kills_the_sandbox,
    killing_brig_kills_every_daemonizing_trick,
    tmux_server_killed,
);

/// Without brig the five escapees survive the command; under brig none does.
fn leftover_processes_killed(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3", "setsid", "nohup"]) {
        return;
    }
    let w = t.world();
    w.write("aux/spawn.sh", SPAWN);
    let spawn = w.path("aux/spawn.sh").display().to_string();

    let m = t.marker("left");
    let _cleanup = KillOnDrop(m.clone());
    w.sh(&format!("sh {spawn} {m}")).ok();
    let alive = sleepers(&m);
    for k in KINDS {
        assert!(alive.iter().any(|(_, c)| c.contains(&format!("{m}-{k}"))),
            "without brig the `{k}` sleeper did not survive, the test would prove nothing: {alive:?}");
    }
    drop(_cleanup);

    let m = t.marker("boxed");
    let _cleanup = KillOnDrop(m.clone());
    let out = w.brig_sh(&[], &format!("rm -f ready-*; sh {spawn} {m}"));
    out.ok();
    assert!(out.stdout.contains("started"), "{out}");
    let gone = eventually(Duration::from_secs(15), || procs_with(&m).is_empty());
    assert!(
        gone,
        "processes outlived the sandboxed command: {:?}",
        procs_with(&m)
    );
}

/// `kill -9` of brig while the command runs: the sandboxed process dies too. Without brig,
/// killing the parent shell leaves its child running.
fn killing_brig_kills_the_sandbox(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let sleep = "import time; time.sleep(300)";

    let m = t.marker("orphan");
    let _cleanup = KillOnDrop(m.clone());
    let mut c = w.command("sh");
    c.arg("-c").arg(format!("python3 -c '{sleep}' {m} & wait"));
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut parent = c.spawn().unwrap();
    assert!(
        eventually(Duration::from_secs(15), || !sleepers(&m).is_empty()),
        "the sleeper did not start"
    );
    parent.kill().unwrap();
    parent.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !sleepers(&m).is_empty(),
        "without brig the orphan died: the test would prove nothing"
    );
    drop(_cleanup);

    let m = t.marker("brigkill");
    let _cleanup = KillOnDrop(m.clone());
    let mut c = w.command(brig_bin());
    c.args(["run", "--", "python3", "-c", sleep, &m]);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut brig = c.spawn().unwrap();
    assert!(
        eventually(Duration::from_secs(15), || !sleepers(&m).is_empty()),
        "the sandboxed sleeper did not start: {:?}",
        procs_with(&m)
    );
    brig.kill().unwrap(); // SIGKILL to brig itself (setpriv exec'd it: same pid)
    brig.wait().unwrap();
    let gone = eventually(Duration::from_secs(15), || procs_with(&m).is_empty());
    assert!(
        gone,
        "the sandbox survived kill -9 of brig: {:?}",
        procs_with(&m)
    );
}

/// The state letter of `pid` in `/proc/PID/stat` (`T` for a stopped process).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Every escapee of [`SPAWN`] (`setsid`, double fork, `nohup`, SIGTERM ignored, stopped), a
/// `tmux new -d` session (where tmux is installed) and a child the command waits for, all
/// running (the stopped one stopped) when `kill -9` reaches brig itself: every one of them is
/// gone soon after. Without brig, `kill -9` of the shell that started them leaves all running.
fn killing_brig_kills_every_daemonizing_trick(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3", "setsid", "nohup"]) {
        return;
    }
    // tmux is optional (CI may not install it): without it the other tricks are still tested,
    // unless BRIG_TEST_REQUIRE names it.
    let tmux = match feature(t.who, "tmux") {
        Ok(()) => true,
        Err(why) => {
            assert!(
                !required_by_ci("tmux"),
                "{}: tmux is required: {why}",
                t.name
            );
            eprintln!(
                "NOTE {} ({:?}): without the tmux case: {why}",
                t.name, t.who
            );
            false
        }
    };
    let mut kinds: Vec<&str> = KINDS.to_vec();
    kinds.push("fg");
    if tmux {
        kinds.push("tmux");
    }
    let script = |spawn: &str, m: &str| {
        let mut s = format!("sh {spawn} {m} || exit 7\n");
        if tmux {
            s.push_str(&format!(
                "tmux -S \"${{TMPDIR:-../aux}}/t.sock\" new-session -d \"python3 -c 'import time; time.sleep(300)' {m}-tmux\" || exit 8\n"
            ));
        }
        s.push_str(&format!(
            "echo all-started\npython3 -c 'import time; time.sleep(300)' {m}-fg &\nwait\n"
        ));
        s
    };
    // All running, by marker, the stopped one in state T.
    let all_running = |m: &str| {
        let alive = sleepers(m);
        kinds.iter().all(|k| {
            alive.iter().any(|(pid, c)| {
                c.contains(&format!("{m}-{k}")) && (*k != "stopped" || state_of(*pid) == Some('T'))
            })
        })
    };
    let missing = |m: &str| -> Vec<&str> {
        let alive = sleepers(m);
        kinds
            .iter()
            .copied()
            .filter(|k| !alive.iter().any(|(_, c)| c.contains(&format!("{m}-{k}"))))
            .collect()
    };

    // Without brig: kill -9 of the parent shell leaves every one of them running.
    let w = t.world();
    w.write("aux/spawn.sh", SPAWN);
    let spawn = w.path("aux/spawn.sh").display().to_string();
    let m = t.marker("nokill");
    let _cleanup = KillOnDrop(m.clone());
    let mut c = w.command("/bin/sh");
    c.arg("-c").arg(script(&spawn, &m));
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut parent = c.spawn().unwrap();
    let up = eventually(Duration::from_secs(60), || all_running(&m));
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert!(
        up,
        "without brig not all started: missing {:?}",
        missing(&m)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        missing(&m).is_empty(),
        "without brig `kill -9` of the parent shell killed {:?}: the test would prove nothing",
        missing(&m)
    );
    drop(_cleanup);

    // Under brig: kill -9 of brig itself, and nothing is left.
    let w = t.world();
    w.write("aux/spawn.sh", SPAWN);
    let spawn = w.path("aux/spawn.sh").display().to_string();
    let m = t.marker("brigkill9");
    let _cleanup = KillOnDrop(m.clone());
    let mut c = w.command(brig_bin());
    c.args([
        "run",
        "--approval-policy",
        "on-request",
        "--no-tty-prompt",
        "--",
        "/bin/sh",
        "-c",
        &script(&spawn, &m),
    ]);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut brig = c.spawn().unwrap();
    let mut ended = false;
    let up = eventually(Duration::from_secs(60), || {
        ended = ended || brig.try_wait().ok().flatten().is_some();
        ended || all_running(&m)
    }) && !ended;
    let not_started = missing(&m);
    if !ended {
        brig.kill().unwrap(); // SIGKILL to brig itself (setpriv exec'd it: same pid)
    }
    let gone = eventually(Duration::from_secs(15), || procs_with(&m).is_empty());
    let left = procs_with(&m);
    // Survivors would hold brig's stdout open: kill them before reading it.
    drop(_cleanup);
    let out = finish(brig, "brig run -- sh -c <every trick> (kill -9)", DEADLINE);
    assert!(
        up,
        "under brig not all started (missing {not_started:?}; brig ended early: {ended}):\n{out}"
    );
    assert!(gone, "processes survived kill -9 of brig: {left:?}\n{out}");
}

/// `tmux new -d`: the tmux server (a daemon) survives outside; inside it dies with the
/// command.
fn tmux_server_killed(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["tmux", "python3"]) {
        return;
    }
    let w = t.world();
    let script = |m: &str| {
        format!(
        "tmux -S \"${{TMPDIR:-../aux}}/t.sock\" new-session -d \"python3 -c 'import time; time.sleep(300)' {m}\" && echo started"
    )
    };
    let m = t.marker("tmux");
    let _cleanup = KillOnDrop(m.clone());
    w.sh(&script(&m)).ok();
    assert!(
        eventually(Duration::from_secs(10), || !sleepers(&m).is_empty()),
        "without brig the tmux session did not survive: {:?}",
        procs_with(&m)
    );
    drop(_cleanup);
    let m = t.marker("tmuxboxed");
    let _cleanup = KillOnDrop(m.clone());
    let out = w.brig_sh(&[], &format!("{}; sleep 0.5", script(&m)));
    out.ok();
    let gone = eventually(Duration::from_secs(15), || procs_with(&m).is_empty());
    assert!(
        gone,
        "the tmux server outlived the sandbox: {:?}",
        procs_with(&m)
    );
}
