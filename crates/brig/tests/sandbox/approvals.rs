//! The approval gate of `brig run`: forbidden commands never run, destructive ones need a
//! human (two when so configured), answers come from the terminal or from `brig approvals` in
//! a second terminal, denials and timeouts refuse, everything is audited, and nothing inside a
//! sandbox can answer a request.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

both_identities!(
    forbidden_commands_never_run,
    headless_default_refuses_what_needs_a_human,
    second_terminal_approval_runs_the_command,
    dual_approval_needs_two_distinct_approvers,
    denial_and_timeout_refuse,
    tty_approval_through_a_pty,
    the_sandbox_cannot_answer_its_own_request,
    remembered_approvals,
    agent_widening_request,
    on_failure_offers_a_rerun_with_the_widening,
);

/// `on-failure`: the command runs sandboxed; when the sandbox refused a write, brig offers a
/// rerun with exactly the parent directory writable; approved, the rerun succeeds in its own
/// session; declined, the first result stands.
fn on_failure_offers_a_rerun_with_the_widening(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.t.make_dir(&w.aux.join("out"));
    let target = w.aux.join("out").join("f");
    let script = format!("touch {} && echo wrote", target.display());
    let args = ["--approval-policy", "on-failure", "--no-tty-prompt"];
    // Declined: the first run's failure stands.
    let (child, id) = spawn_waiting(&w, &args, &["sh", "-c", &script]);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(
        shown.contains(&format!("write access to {}", w.aux.join("out").display())),
        "{shown}"
    );
    assert!(shown.contains("Read-only file system"), "{shown}");
    w.brig(&["approvals", "deny", &id]).ok();
    let (code, _) = finish(child);
    assert_ne!(code, Some(0));
    assert!(!target.exists());
    // Approved: rerun, sandboxed, with that directory writable.
    let (child, id) = spawn_waiting(&w, &args, &["sh", "-c", &script]);
    w.brig(&["approvals", "approve", &id]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(target.exists());
    assert!(err.contains("rerunning"), "{err}");
}

/// `--request-writable PATH --justification TEXT` (on-request's widening): without a human it
/// fails; approved, the command runs sandboxed with exactly that path writable, and the
/// widening is recorded; without the request the same write is refused by the sandbox.
fn agent_widening_request(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.t.make_dir(&w.aux.join("out"));
    let target = w.aux.join("out").join("f");
    let target_s = target.to_str().unwrap().to_string();
    let out_dir = w.aux.join("out").display().to_string();
    // Not asked for: the sandbox refuses the write.
    w.brig(&["run", "--no-tty-prompt", "--", "touch", &target_s])
        .failed();
    assert!(!target.exists());
    // Asked for, with nobody to ask: refused before anything runs.
    let out = w.brig(&[
        "run",
        "--no-tty-prompt",
        "--request-writable",
        &out_dir,
        "--justification",
        "build output",
        "--",
        "touch",
        &target_s,
    ]);
    out.code_is(118);
    assert!(out.stderr.contains("write access to"), "{out}");
    // Asked for and approved: it runs, sandboxed, with that path writable.
    let (child, id) = spawn_waiting(
        &w,
        &[
            "--approval-policy",
            "on-request",
            "--no-tty-prompt",
            "--request-writable",
            &out_dir,
            "--justification",
            "build output",
        ],
        &["touch", &target_s],
    );
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(shown.contains("justification: build output"), "{shown}");
    w.brig(&["approvals", "approve", &id, "--as", "alice"]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(target.exists());
    let records = last_records(&w);
    let widened = records
        .iter()
        .find(|r| r["kind"] == "policy.widened")
        .expect("recorded");
    assert!(widened["data"]["writable_roots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str() == Some(out_dir.as_str())));
}

/// "session" remembers an approval for the runs that name the same approval session, "always"
/// writes the narrowest rule to the user's rules file (never the workspace); a destructive
/// command cannot be remembered at all.
fn remembered_approvals(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let untrusted = ["--approval-policy", "untrusted", "--no-tty-prompt"];
    w.write("aux/quick.toml", "[approvals]\ntimeout = 1\n");
    let quick = w.aux.join("quick.toml");
    let with_session = [&untrusted[..], &["--approval-session", "task-7"]].concat();
    // Session: asked once, then remembered for that session only.
    let (child, id) = spawn_waiting(&w, &with_session, &["touch", "fast.stamp"]);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(
        shown.contains("scopes:    once, session, always"),
        "{shown}"
    );
    w.brig(&["approvals", "approve", &id, "--scope", "session"])
        .ok();
    assert_eq!(finish(child).0, Some(0));
    let mut args = vec!["run"];
    args.extend(&with_session);
    args.extend(["--", "touch", "fast.stamp"]);
    let again = w.brig(&args);
    again.ok();
    assert!(w.exists("ws/fast.stamp"));
    let other = w.brig(&[
        "run",
        "--config",
        quick.to_str().unwrap(),
        "--approval-policy",
        "untrusted",
        "--no-tty-prompt",
        "--approval-session",
        "task-8",
        "--",
        "touch",
        "fast.stamp",
    ]);
    other.code_is(118);
    assert!(other.stderr.contains("nobody approved"), "{other}");
    // Always: written to ~/.config/brig/rules.toml, applies without a session.
    let (child, id) = spawn_waiting(&w, &untrusted, &["touch", "slow.stamp"]);
    w.brig(&["approvals", "approve", &id, "--scope", "always"])
        .ok();
    assert_eq!(finish(child).0, Some(0));
    let rules = w
        .read("home/.config/brig/rules.toml")
        .expect("the user's rules file");
    assert!(rules.contains("slow.stamp"), "{rules}");
    let out = w.brig(&[
        "run",
        "--approval-policy",
        "untrusted",
        "--no-tty-prompt",
        "--",
        "touch",
        "slow.stamp",
    ]);
    out.ok();
    assert!(!w.exists("ws/.brig.toml"));
    // Destructive: once only.
    w.setup("mkdir -p build");
    let (child, id) = spawn_waiting(&w, &untrusted, &["rm", "-rf", "build"]);
    let refused = w.brig(&["approvals", "approve", &id, "--scope", "always"]);
    refused.code_is(1);
    assert!(
        refused.stdout.contains("can be approved for: once"),
        "{refused}"
    );
    w.brig(&["approvals", "deny", &id]).ok();
    assert_eq!(finish(child).0, Some(118));
}

fn approvals_dir(w: &World) -> std::path::PathBuf {
    w.state_dir().join("brig/approvals")
}

/// `brig run ARGS -- argv` in the background, waiting for a human. The caller waits for the
/// child with [`finish`].
#[allow(clippy::zombie_processes)]
fn spawn_waiting(w: &World, args: &[&str], argv: &[&str]) -> (Child, String) {
    let mut c = w.command(brig_bin());
    c.arg("run")
        .args(args)
        .arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("start brig run");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(id) = pending_requests(&approvals_dir(w)).into_iter().next() {
            return (child, id);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no approval request appeared");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait for brig run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_records(w: &World) -> Vec<serde_json::Value> {
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
    w.brig(&["audit", "show", &id, "--json"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const ON_REQUEST: &[&str] = &["--approval-policy", "on-request", "--no-tty-prompt"];

/// A command a rule forbids is refused (exit 118) under every policy, without asking, and the
/// refusal is recorded; it did not run.
fn forbidden_commands_never_run(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    for policy in ["untrusted", "on-request", "never"] {
        let out = w.brig(&["run", "--approval-policy", policy, "--", "rm", "-rf", "/"]);
        out.code_is(118);
        assert!(out.stderr.contains("a rule forbids it"), "{out}");
    }
    let records = last_records(&w);
    assert_eq!(records[1]["data"]["decision"], "forbid");
    let end = records.iter().find(|r| r["kind"] == "command.end").unwrap();
    assert_eq!(end["data"]["status"], 118);
    assert!(!records.iter().any(|r| r["kind"] == "exec"));
}

/// With no terminal to ask on and no policy chosen, a destructive command fails at once
/// (exit 118, saying how to wait for an answer instead); commands that are merely unknown
/// still run, sandboxed.
fn headless_default_refuses_what_needs_a_human(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let out = w.brig(&["run", "--no-tty-prompt", "--", "rm", "-rf", "build"]);
    out.code_is(118);
    assert!(out.stderr.contains("--approval-policy on-request"), "{out}");
    assert!(w.exists("ws/build/keep"));
    w.brig(&["run", "--no-tty-prompt", "--", "touch", "made"])
        .ok();
    assert!(w.exists("ws/made"));
}

/// A destructive command waits; `brig approvals list/show` show it with what it destroys;
/// `brig approvals approve` from another terminal lets it run (sandboxed), and the request and
/// the answer are recorded before the command starts.
fn second_terminal_approval_runs_the_command(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let (child, id) = spawn_waiting(&w, ON_REQUEST, &["rm", "-rf", "build"]);
    let listed = w.brig(&["approvals", "list"]);
    assert!(
        listed.ok().stdout.contains(&format!(
            "{id}  ask (destructive)  0/1 approvals  rm -rf build"
        )),
        "{listed}"
    );
    let shown = w.brig(&["approvals", "show", &id[..20]]);
    assert!(shown.ok().stdout.contains("destroys:  build"), "{shown}");
    assert!(
        w.exists("ws/build/keep"),
        "it must not run before the approval"
    );
    let ok = w.brig(&["approvals", "approve", &id, "--as", "alice"]);
    assert!(ok.ok().stdout.starts_with("approved"), "{ok}");
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(!w.exists("ws/build"));
    let records = last_records(&w);
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    let req = kinds.iter().position(|k| *k == "approval.request").unwrap();
    let ans = kinds.iter().position(|k| *k == "approval").unwrap();
    let exec = kinds.iter().position(|k| *k == "exec").unwrap();
    assert!(req < ans && ans < exec, "{kinds:?}");
    assert_eq!(records[ans]["data"]["approver"], "alice");
    assert_eq!(records[ans]["data"]["channel"], "service");
    assert_eq!(records[ans]["data"]["dual"], true);
    // Approved, the command still ran in the sandbox.
    assert!(
        records.iter().find(|r| r["kind"] == "command.end").unwrap()["data"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "landlock")
    );
}

/// With `two_approvers`, one approval is not enough, the same person approving twice counts
/// once, and a second person makes it run; both approvals are audited.
fn dual_approval_needs_two_distinct_approvers(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.write(
        "home/.config/brig/config.toml",
        "[approvals]\ntwo_approvers = true\n",
    );
    w.setup("mkdir -p build && touch build/keep");
    let (child, id) = spawn_waiting(&w, ON_REQUEST, &["rm", "-rf", "build"]);
    let first = w.brig(&["approvals", "approve", &id, "--as", "alice"]);
    assert!(first.ok().stdout.contains("1 of 2"), "{first}");
    let again = w.brig(&["approvals", "approve", &id, "--as", "alice"]);
    assert!(again.ok().stdout.contains("already approved"), "{again}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(w.exists("ws/build/keep"), "one approver is not enough");
    let listed = w.brig(&["approvals", "list"]).ok().stdout.clone();
    assert!(listed.contains("1/2 approvals"), "{listed}");
    w.brig(&["approvals", "approve", &id, "--as", "bob"]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(!w.exists("ws/build"));
    let approvers: Vec<String> = last_records(&w)
        .iter()
        .filter(|r| r["kind"] == "approval")
        .map(|r| r["data"]["approver"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
}

/// A denial refuses (exit 118) and names who denied; so does nobody answering in time.
fn denial_and_timeout_refuse(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let (child, id) = spawn_waiting(&w, ON_REQUEST, &["rm", "-rf", "build"]);
    w.brig(&["approvals", "deny", &id, "--as", "carol"]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(118), "{err}");
    assert!(err.contains("denied by carol"), "{err}");
    assert!(w.exists("ws/build/keep"));
    w.write("aux/quick.toml", "[approvals]\ntimeout = 1\n");
    let quick = w.aux.join("quick.toml");
    let out = w.brig(&[
        "run",
        "--config",
        quick.to_str().unwrap(),
        "--approval-policy",
        "on-request",
        "--no-tty-prompt",
        "--",
        "rm",
        "-rf",
        "build",
    ]);
    out.code_is(118);
    assert!(out.stderr.contains("nobody approved"), "{out}");
    assert!(w.exists("ws/build/keep"));
    let records = last_records(&w);
    assert!(records
        .iter()
        .any(|r| r["kind"] == "approval" && r["data"]["decision"] == "timeout"));
}

/// The prompt on the reviewer's terminal (`/dev/tty`, here a pty made by `script`): the request
/// is shown with what it destroys, "o" approves once, the command runs.
fn tty_approval_through_a_pty(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["script"]) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let inner = format!(
        "{} run --approval-policy on-request -- rm -rf build; echo status=$?",
        brig_bin().display()
    );
    let out = w.sh(&format!(
        "(sleep 1; echo o) | script -qec '{inner}' /dev/null"
    ));
    assert!(out.stdout.contains("Approve? [o]nce"), "{out}");
    assert!(out.stdout.contains("destroys: build"), "{out}");
    assert!(out.stdout.contains("status=0"), "{out}");
    assert!(!w.exists("ws/build"));
    let records = last_records(&w);
    let answer = records.iter().find(|r| r["kind"] == "approval").unwrap();
    assert_eq!(answer["data"]["channel"], "tty");
}

/// While a request waits, a sandboxed command that knows where it is cannot list it, read it,
/// reach its socket or approve it with brig itself; the request stays unanswered.
fn the_sandbox_cannot_answer_its_own_request(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let (child, id) = spawn_waiting(&w, ON_REQUEST, &["rm", "-rf", "build"]);
    let dir = approvals_dir(&w);
    let brig = brig_bin().display().to_string();
    let script = format!(
        "ls {d} && echo LISTED; cat {d}/{id}.json && echo READ; \
         {brig} approvals approve {id} --as agent && echo APPROVED; \
         python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); \
         s.sendall(b\"{{\\\"op\\\":\\\"approve\\\",\\\"approver\\\":\\\"agent\\\"}}\\n\"); print(\"SENT\", s.recv(200))' {d}/{id}.sock; true",
        d = dir.display()
    );
    let out = w.brig(&[
        "run",
        "--pass-env",
        "XDG_STATE_HOME",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    out.ok();
    for bad in ["LISTED", "READ", "APPROVED", "SENT"] {
        assert!(
            !out.stdout.contains(bad),
            "the sandbox reached the request ({bad}):\n{out}"
        );
    }
    let listed = w.brig(&["approvals", "list"]).ok().stdout.clone();
    assert!(listed.contains("0/1 approvals"), "{listed}");
    assert!(w.exists("ws/build/keep"));
    w.brig(&["approvals", "deny", &id]).ok();
    let (code, _) = finish(child);
    assert_eq!(code, Some(118));
}
