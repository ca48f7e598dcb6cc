//! The approval gate of `brig run`: forbidden commands never run, destructive ones need a
//! human (two when so configured), answers come from the terminal or from `brig approvals` in
//! a second terminal, denials and timeouts refuse, everything is audited, and nothing inside a
//! sandbox can answer a request. Cells of the mode × policy × rule matrix in every mode, and
//! the agent's widening requests (writable paths, the network, one host more).

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
    read_only_destructive_asks_and_stays_read_only,
    danger_full_access_destructive_still_asks,
    untrusted_asks_for_what_is_not_known_safe,
    on_failure_asks_before_a_destructive_command,
    network_widening_request,
    host_widening_request,
    a_killed_runs_request_is_removed,
);

/// Matrix cell read-only × on-request × ask+destructive: `Prompt²` (docs/approvals.md, "The
/// approval matrix"; `every_cell_of_the_matrix`). Approved, the command runs in the read-only
/// sandbox all the same: the deletion fails with EROFS and nothing is deleted.
fn read_only_destructive_asks_and_stays_read_only(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let args = [&["--mode", "read-only"], ON_REQUEST].concat();
    let (child, id) = spawn_waiting(&w, &args, &["rm", "-rf", "build"]);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(shown.contains("mode:      read-only"), "{shown}");
    assert!(
        shown.contains("decision:  ask (destructive: dual approval)"),
        "{shown}"
    );
    w.brig(&["approvals", "approve", &id, "--as", "alice"]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "rm's own failure: {err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(w.exists("ws/build/keep"), "read-only, yet it deleted");
    let records = last_records(&w);
    assert_eq!(
        then_of(&records),
        serde_json::json!({"action": "prompt", "dual": true})
    );
    assert!(records
        .iter()
        .any(|r| r["kind"] == "approval" && r["data"]["approver"] == "alice"));
    assert!(records.iter().any(|r| r["kind"] == "exec"), "it ran");
}

/// Matrix cell danger-full-access × on-request × ask+destructive: `Prompt²` too. The mode
/// removes the sandbox, not the approval: the command waits, and runs (unconfined) only once
/// approved.
fn danger_full_access_destructive_still_asks(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let args = [
        &["--mode", "danger-full-access", "--acknowledge-danger"],
        ON_REQUEST,
    ]
    .concat();
    let (child, id) = spawn_waiting(&w, &args, &["rm", "-rf", "build"]);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(shown.contains("mode:      danger-full-access"), "{shown}");
    assert!(shown.contains("destroys:  build"), "{shown}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(w.exists("ws/build/keep"), "it ran before the approval");
    w.brig(&["approvals", "approve", &id, "--as", "alice"]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(!w.exists("ws/build"));
    assert_eq!(
        then_of(&last_records(&w)),
        serde_json::json!({"action": "prompt", "dual": true})
    );
    // Denied, it does not run either.
    w.setup("mkdir -p build && touch build/keep");
    let (child, id) = spawn_waiting(&w, &args, &["rm", "-rf", "build"]);
    w.brig(&["approvals", "deny", &id]).ok();
    assert_eq!(finish(child).0, Some(118));
    assert!(w.exists("ws/build/keep"));
}

/// Matrix row untrusted: a command a rule allows (`ls`) runs without asking (`Run`); one no
/// rule knows (`touch`, not destructive) asks first (`Prompt`), and runs once approved.
fn untrusted_asks_for_what_is_not_known_safe(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("touch listed-file");
    // A prompt would end in 118 after a second: nobody answers here.
    w.write("aux/quick.toml", "[approvals]\ntimeout = 1\n");
    let quick = w.aux.join("quick.toml");
    let untrusted = [
        "--config",
        quick.to_str().unwrap(),
        "--approval-policy",
        "untrusted",
        "--no-tty-prompt",
    ];
    let mut args = vec!["run"];
    args.extend(untrusted);
    args.extend(["--", "ls"]);
    let out = w.brig(&args);
    out.ok();
    assert!(out.stdout.contains("listed-file"), "{out}");
    let records = last_records(&w);
    assert!(!records.iter().any(|r| r["kind"] == "approval.request"));
    assert_eq!(
        then_of(&records),
        serde_json::json!({"action": "run", "prompt_on_denial": false})
    );
    // Not known safe: asked, not destructive.
    let untrusted = ["--approval-policy", "untrusted", "--no-tty-prompt"];
    let (child, id) = spawn_waiting(&w, &untrusted, &["touch", "made"]);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(shown.contains("decision:  ask\n"), "{shown}");
    assert!(shown.contains("unknown-program"), "{shown}");
    assert!(shown.contains("approvals: 0 of 1"), "{shown}");
    assert!(!w.exists("ws/made"), "it ran before the approval");
    w.brig(&["approvals", "approve", &id]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(w.exists("ws/made"));
    let records = last_records(&w);
    assert_eq!(
        then_of(&records),
        serde_json::json!({"action": "prompt", "dual": false})
    );
    let asked = records
        .iter()
        .find(|r| r["kind"] == "approval.request")
        .expect("asked");
    assert_eq!(asked["data"]["destructive"], false);
}

/// Matrix cell on-failure × ask+destructive: `Prompt²`, before anything runs (on-failure's
/// "run first, ask on a denial" is for `allow` and `ask`). Denied, it never ran; approved, it
/// runs in the sandbox.
fn on_failure_asks_before_a_destructive_command(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let args = ["--approval-policy", "on-failure", "--no-tty-prompt"];
    let (child, id) = spawn_waiting(&w, &args, &["rm", "-rf", "build"]);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(
        shown.contains("decision:  ask (destructive: dual approval)"),
        "{shown}"
    );
    assert!(w.exists("ws/build/keep"), "it ran before the approval");
    w.brig(&["approvals", "deny", &id]).ok();
    assert_eq!(finish(child).0, Some(118));
    assert!(w.exists("ws/build/keep"));
    let records = last_records(&w);
    assert_eq!(
        then_of(&records),
        serde_json::json!({"action": "prompt", "dual": true})
    );
    assert!(!records.iter().any(|r| r["kind"] == "exec"), "it ran");
    let (child, id) = spawn_waiting(&w, &args, &["rm", "-rf", "build"]);
    w.brig(&["approvals", "approve", &id]).ok();
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(!w.exists("ws/build"));
}

/// `tcp.py PORT`: a TCP connection to the host's 127.0.0.1:PORT; prints `tcp: connected` or
/// `tcp: ERROR`.
const TCP: &str = r#"
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("tcp: connected")
except OSError as e:
    print("tcp:", e.strerror or str(e))
"#;

/// Connections made to a (non-blocking) listener since the last call: accepts them all.
fn accepted(l: &std::net::TcpListener) -> usize {
    let mut n = 0;
    while l.accept().is_ok() {
        n += 1;
    }
    n
}

/// `--request-network --justification TEXT`: without it the sandbox has no network; with it
/// and nobody to ask, it is refused (118); approved, the command runs with the host's network
/// (it reaches a listener on the host's loopback) and `policy.widened` says so; denied, 118
/// and the command did not run.
fn network_widening_request(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.write("aux/tcp.py", TCP);
    let tcp = w.aux.join("tcp.py").display().to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let argv = ["python3", tcp.as_str(), port.as_str()];
    // Without brig, the listener is there.
    let direct = w.sh(&format!("python3 {tcp} {port}"));
    assert_eq!(direct.stdout.trim(), "tcp: connected", "{direct}");
    assert_eq!(accepted(&listener), 1);
    // Not asked for: no network.
    let mut args = vec!["run", "--no-tty-prompt", "--"];
    args.extend(argv);
    let out = w.brig(&args);
    out.ok();
    // The seccomp filter refuses IP sockets when the network is off.
    assert_eq!(out.stdout.trim(), "tcp: Operation not permitted", "{out}");
    assert_eq!(accepted(&listener), 0);
    let request = ["--request-network", "--justification", "fetch the fixtures"];
    // Asked for, nobody to ask: refused before it runs.
    let mut args = vec!["run", "--no-tty-prompt"];
    args.extend(request);
    args.push("--");
    args.extend(argv);
    let out = w.brig(&args);
    out.code_is(118);
    assert!(
        out.stderr.contains("the command asks for the network"),
        "{out}"
    );
    assert_eq!(out.stdout, "", "it ran");
    // Approved: the network is on.
    let with = [ON_REQUEST, &request[..]].concat();
    let (child, id) = spawn_waiting(&w, &with, &argv);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(shown.contains("decision:  widen"), "{shown}");
    assert!(shown.contains("the agent asks for the network"), "{shown}");
    assert!(
        shown.contains("justification: fetch the fixtures"),
        "{shown}"
    );
    w.brig(&["approvals", "approve", &id, "--as", "alice"]).ok();
    let (code, out, err) = finish_all(child);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "tcp: connected", "{err}");
    assert_eq!(accepted(&listener), 1);
    let records = last_records(&w);
    let widened = records
        .iter()
        .find(|r| r["kind"] == "policy.widened")
        .expect("recorded");
    assert_eq!(widened["data"]["network"], "on");
    assert_eq!(widened["data"]["justification"], "fetch the fixtures");
    // Denied: 118, it did not run.
    let (child, id) = spawn_waiting(&w, &with, &argv);
    w.brig(&["approvals", "deny", &id, "--as", "carol"]).ok();
    let (code, out, err) = finish_all(child);
    assert_eq!(code, Some(118), "{err}");
    assert!(
        err.contains("the network for `python3")
            && err.contains("was denied by carol; it did not run"),
        "{err}"
    );
    assert_eq!(out, "", "it ran");
    assert_eq!(accepted(&listener), 0);
    let records = last_records(&w);
    assert!(!records.iter().any(|r| r["kind"] == "exec"));
    assert!(!records.iter().any(|r| r["kind"] == "policy.widened"));
}

/// `get.py URL`: an HTTP GET through the proxy the environment names (if any); prints
/// `get: STATUS BODY` or `get: ERROR`.
const GET: &str = r#"
import sys, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
    print("get:", r.status, r.read().decode())
except Exception as e:
    print("get:", type(e).__name__, e)
"#;

/// `--request-host HOST --justification TEXT`: approved, the command reaches HOST through the
/// proxy (the network, off before, becomes the allowlist with HOST on it; nobody is asked about
/// HOST again); denied, 118 and nothing reached the server. `[network.hosts]` in the user's
/// config points `pkg.test` at a server the test runs on the host's loopback.
fn host_widening_request(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.write("aux/get.py", GET);
    let get = w.aux.join("get.py").display().to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for c in listener.incoming() {
            let Ok(mut c) = c else { break };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                match c.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    let served = || served.load(std::sync::atomic::Ordering::SeqCst);
    // A second prompt (about the host itself) would be denied after 20 s: nobody answers it.
    w.write(
        "home/.config/brig/config.toml",
        "[approvals]\ntimeout = 20\n\n[network.hosts]\n\"pkg.test\" = \"127.0.0.1\"\n",
    );
    let url = format!("http://pkg.test:{port}/");
    let argv = ["python3", get.as_str(), url.as_str()];
    // Not asked for: the network is off.
    let mut args = vec![
        "run",
        "--approval-policy",
        "on-request",
        "--no-tty-prompt",
        "--",
    ];
    args.extend(argv);
    let out = w.brig(&args);
    out.ok();
    assert!(out.stdout.starts_with("get: "), "{out}");
    assert!(!out.stdout.contains("200"), "{out}");
    assert_eq!(served(), 0);
    let with = [
        ON_REQUEST,
        &[
            "--request-host",
            "pkg.test",
            "--justification",
            "fetch deps",
        ],
    ]
    .concat();
    // Approved: through the proxy to pkg.test.
    let (child, id) = spawn_waiting(&w, &with, &argv);
    let shown = w.brig(&["approvals", "show", &id]).ok().stdout.clone();
    assert!(
        shown.contains("the agent asks for the network to pkg.test"),
        "{shown}"
    );
    w.brig(&["approvals", "approve", &id, "--as", "alice"]).ok();
    let (code, out, err) = finish_all(child);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "get: 200 hello", "{err}");
    assert_eq!(served(), 1);
    let records = last_records(&w);
    let asked: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["kind"] == "approval.request")
        .collect();
    assert_eq!(asked.len(), 1, "asked only for the widening: {asked:?}");
    let widened = records
        .iter()
        .find(|r| r["kind"] == "policy.widened")
        .expect("recorded");
    assert_eq!(widened["data"]["network"], "allowlist");
    assert!(widened["data"]["network_allow"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h == "pkg.test"));
    let net = records
        .iter()
        .find(|r| r["kind"] == "network")
        .expect("a network record");
    assert_eq!(net["data"]["decision"], "allow");
    assert_eq!(net["data"]["host"], "pkg.test");
    assert_eq!(
        net["data"]["rule"], "pkg.test",
        "allowed by the widened list: {net}"
    );
    // Denied: 118, nothing reached the server.
    let (child, id) = spawn_waiting(&w, &with, &argv);
    w.brig(&["approvals", "deny", &id]).ok();
    let (code, out, err) = finish_all(child);
    assert_eq!(code, Some(118), "{err}");
    assert!(
        err.contains("the network to pkg.test for `python3"),
        "{err}"
    );
    assert_eq!(out, "", "it ran");
    assert_eq!(served(), 1);
}

/// A `brig run` killed while it waits leaves its request's files; the next `brig approvals`
/// command sees that the request's pid is gone and removes them, so nobody is shown a request
/// that nobody waits for (docs/approvals.md, "The request lifecycle").
fn a_killed_runs_request_is_removed(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    let (mut child, id) = spawn_waiting(&w, ON_REQUEST, &["rm", "-rf", "build"]);
    let dir = approvals_dir(&w);
    let (json, sock) = (
        dir.join(format!("{id}.json")),
        dir.join(format!("{id}.sock")),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(json.exists() && sock.exists(), "SIGKILL left no files");
    let listed = w.brig(&["approvals", "list"]).ok().stdout.clone();
    assert!(!listed.contains(&id), "{listed}");
    assert!(!json.exists() && !sock.exists(), "the files stayed");
    let out = w.brig(&["approvals", "approve", &id]);
    out.code_is(121);
    assert!(out.stderr.contains("no pending approval request"), "{out}");
    assert!(w.exists("ws/build/keep"));
}

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
        // Published: the socket first, then the description (`brig approvals` lists a
        // request by its description).
        if let Some(id) = pending_requests(&approvals_dir(w))
            .into_iter()
            .find(|id| approvals_dir(w).join(format!("{id}.json")).exists())
        {
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
    let (code, _, err) = finish_all(child);
    (code, err)
}

/// [`finish`], with the command's stdout too: (status, stdout, stderr).
fn finish_all(child: Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().expect("wait for brig run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What `command.start` says the matrix decided (`then`).
fn then_of(records: &[serde_json::Value]) -> serde_json::Value {
    records
        .iter()
        .find(|r| r["kind"] == "command.start")
        .expect("command.start")["data"]["then"]
        .clone()
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
    // What will be destroyed, counted now (one empty file).
    assert!(
        shown
            .ok()
            .stdout
            .contains("destroys:  build (a directory: 1 file, 0 B)"),
        "{shown}"
    );
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

/// `script -qec INNER /dev/null`: runs the shell line `INNER` on a new pty that is its
/// controlling terminal (`/dev/tty`), and types `answer` (a line) on that pty once brig's
/// prompt has appeared there. Returns everything written to the pty. The pty is only the
/// terminal: `INNER` gives brig another stdin, so an answer read from stdin cannot pass for one
/// typed on the terminal.
fn on_a_pty(w: &World, inner: &str, answer: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut c = w.command("script");
    c.args(["-qec", inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("start script");
    let mut keyboard = child.stdin.take().expect("piped stdin");
    let mut screen = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = screen.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut answer = answer;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => seen.extend_from_slice(&chunk),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(a) = answer {
            if String::from_utf8_lossy(&seen).contains("Approve? ") {
                keyboard
                    .write_all(format!("{a}\n").as_bytes())
                    .expect("type on the pty");
                answer = None;
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{inner}` on a pty did not finish:\n{}",
                String::from_utf8_lossy(&seen)
            );
        }
    }
    // Kept open until the end: an EOF on script's stdin would reach the pty as ^D.
    let _ = child.wait();
    drop(keyboard);
    String::from_utf8_lossy(&seen).into_owned()
}

/// The prompt on the reviewer's terminal (`/dev/tty`, here a pty made by `script`), never the
/// command's stdin: brig's stdin is a pipe holding the opposite answer, and its stdout and
/// stderr go to files, so what reaches the pty was written to `/dev/tty` and what answers was
/// typed there. "o" approves once (it runs), "d" denies (exit 118, it did not run), "s"
/// approves for the session (it runs, and the next run naming the session is not asked).
fn tty_approval_through_a_pty(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["script"]) {
        return;
    }
    let w = t.world();
    // Bounded, so that a prompt nobody can answer fails the test instead of hanging it.
    w.write("aux/quick.toml", "[approvals]\ntimeout = 60\n");
    let brig = format!(
        "{} run --config {}",
        brig_bin().display(),
        w.aux.join("quick.toml").display()
    );
    let (out, err) = (w.aux.join("out"), w.aux.join("err"));
    let redirect = format!(">{} 2>{}", out.display(), err.display());
    let stderr = || std::fs::read_to_string(&err).unwrap_or_default();

    // Once: typed "o" on the terminal; stdin says "d".
    w.setup("mkdir -p build && touch build/keep");
    let screen = on_a_pty(
        &w,
        &format!(
            "printf 'd\\n' | {brig} --approval-policy on-request -- rm -rf build {redirect}; echo status=$?"
        ),
        Some("o"),
    );
    assert!(screen.contains("Approve? [o]nce, [d]eny"), "{screen}");
    assert!(screen.contains("destroys: build"), "{screen}");
    assert!(screen.contains("status=0"), "{screen}\n{}", stderr());
    assert!(
        !stderr().contains("Approve?"),
        "the prompt went to stderr: {}",
        stderr()
    );
    assert!(!w.exists("ws/build"));
    let records = last_records(&w);
    let answer = records.iter().find(|r| r["kind"] == "approval").unwrap();
    assert_eq!(answer["data"]["channel"], "tty");
    assert_eq!(answer["data"]["decision"], "approved");
    assert_eq!(answer["data"]["scope"], "once");
    assert_eq!(answer["data"]["approver"], t.user_name().as_str());

    // Deny: typed "d" on the terminal; stdin says "o".
    w.setup("mkdir -p build && touch build/keep");
    let screen = on_a_pty(
        &w,
        &format!(
            "printf 'o\\n' | {brig} --approval-policy on-request -- rm -rf build {redirect}; echo status=$?"
        ),
        Some("d"),
    );
    assert!(screen.contains("Approve? [o]nce, [d]eny"), "{screen}");
    assert!(screen.contains("status=118"), "{screen}\n{}", stderr());
    assert!(
        stderr().contains(&format!(
            "`rm -rf build` was denied by {}; it did not run",
            t.user_name()
        )),
        "{}",
        stderr()
    );
    assert!(w.exists("ws/build/keep"), "denied, yet it ran");
    let records = last_records(&w);
    let answer = records.iter().find(|r| r["kind"] == "approval").unwrap();
    assert_eq!(answer["data"]["channel"], "tty");
    assert_eq!(answer["data"]["decision"], "denied");
    assert!(!records.iter().any(|r| r["kind"] == "exec"));

    // Session: typed "s"; stdin says "d". Then the same command in the same session runs
    // without a prompt (with nobody to answer one, a prompt would end in 118).
    let session = format!(
        "{brig} --approval-policy untrusted --approval-session pty-1 -- touch stamp {redirect}"
    );
    let screen = on_a_pty(
        &w,
        &format!("printf 'd\\n' | {session}; echo status=$?"),
        Some("s"),
    );
    assert!(
        screen.contains("Approve? [o]nce, [s]ession, [a]lways, [d]eny"),
        "{screen}"
    );
    assert!(screen.contains("status=0"), "{screen}\n{}", stderr());
    assert!(w.exists("ws/stamp"));
    let records = last_records(&w);
    let answer = records.iter().find(|r| r["kind"] == "approval").unwrap();
    assert_eq!(answer["data"]["channel"], "tty");
    assert_eq!(answer["data"]["scope"], "session");
    assert!(w
        .state_dir()
        .join("brig/approvals/sessions/pty-1.toml")
        .exists());
    std::fs::remove_file(w.path("ws/stamp")).unwrap();
    let screen = on_a_pty(&w, &format!("{session} </dev/null; echo status=$?"), None);
    assert!(!screen.contains("Approve?"), "asked again:\n{screen}");
    assert!(screen.contains("status=0"), "{screen}\n{}", stderr());
    assert!(w.exists("ws/stamp"));
    let records = last_records(&w);
    assert!(
        !records.iter().any(|r| r["kind"] == "approval.request"),
        "{records:?}"
    );
}

/// `knock.py SOCKET LINE`: connects to the Unix socket `SOCKET` and sends `LINE`; prints
/// `connect: ERRNO strerror` (exit 3) or `reply: REPLY`. It connects through a symlink in a
/// fresh temp dir, so that a socket path longer than `sun_path` (the test directories are
/// deep) is no reason to fail: the kernel resolves the link, with the caller's access.
const KNOCK: &str = r#"
import errno, os, socket, sys, tempfile
target, line = sys.argv[1:3]
tmp = tempfile.mkdtemp()
link = os.path.join(tmp, "s")
os.symlink(target, link)
try:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(link)
    except OSError as e:
        print("connect:", errno.errorcode.get(e.errno, e.errno), e.strerror)
        sys.exit(3)
    s.sendall(line.encode() + b"\n")
    print("reply:", s.recv(4096).decode().strip())
finally:
    os.unlink(link)
    os.rmdir(tmp)
"#;

/// The output of one attempt in [`the_sandbox_cannot_answer_its_own_request`]'s script: what
/// it printed between `TRY-name` and `END-name=STATUS`, and that status.
fn attempt(out: &Out, name: &str) -> (String, i32) {
    let text = &out.stdout;
    let start = text
        .find(&format!("TRY-{name}\n"))
        .unwrap_or_else(|| panic!("attempt {name} did not start:\n{out}"));
    let end_tag = format!("END-{name}=");
    let end = text[start..]
        .find(&end_tag)
        .map(|i| start + i)
        .unwrap_or_else(|| panic!("attempt {name} did not finish:\n{out}"));
    let body = text[start + name.len() + 5..end].to_string();
    let status = text[end + end_tag.len()..]
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no status for {name}:\n{out}"));
    (body, status)
}

/// While a request waits, a sandboxed command that knows where it is cannot list it, read it,
/// reach its socket or approve it with brig itself; the request stays unanswered. Each attempt
/// is first made without brig (with harmless `show` requests), where it works, so the paths
/// and the client are right; inside, each one runs and fails for the reason the sandbox gives.
fn the_sandbox_cannot_answer_its_own_request(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p build && touch build/keep");
    w.write("aux/knock.py", KNOCK);
    let knock = w.aux.join("knock.py");
    let (child, id) = spawn_waiting(&w, ON_REQUEST, &["rm", "-rf", "build"]);
    let dir = approvals_dir(&w);
    let brig = brig_bin().display().to_string();
    let script = |brig_op: &str, line: &str| {
        format!(
            "echo TRY-ls; ls {d} 2>&1; echo END-ls=$?; \
             echo TRY-cat; cat {d}/{id}.json 2>&1; echo END-cat=$?; \
             echo TRY-brig; {brig} approvals {brig_op} 2>&1; echo END-brig=$?; \
             echo TRY-sock; python3 {k} {d}/{id}.sock '{line}' 2>&1; echo END-sock=$?; \
             echo DONE",
            d = dir.display(),
            k = knock.display(),
        )
    };
    // Without brig: every attempt reaches the request.
    let direct = w.sh(&script(&format!("show {id}"), r#"{"op":"show"}"#));
    assert!(direct.stdout.contains("DONE"), "{direct}");
    let (ls, code) = attempt(&direct, "ls");
    assert!(code == 0 && ls.contains(&format!("{id}.sock")), "{direct}");
    let (cat, code) = attempt(&direct, "cat");
    assert!(
        code == 0 && cat.contains(&format!("\"id\": \"{id}\"")),
        "{direct}"
    );
    let (shown, code) = attempt(&direct, "brig");
    assert!(
        code == 0 && shown.contains(&format!("request:   {id}")),
        "{direct}"
    );
    let (sock, code) = attempt(&direct, "sock");
    assert!(
        code == 0 && sock.contains("reply: {\"status\":\"pending\""),
        "{direct}"
    );
    // Inside: each attempt runs and fails.
    let out = w.brig(&[
        "run",
        "--pass-env",
        "XDG_STATE_HOME",
        "--",
        "sh",
        "-c",
        &script(
            &format!("approve {id} --as agent"),
            r#"{"op":"approve","approver":"agent"}"#,
        ),
    ]);
    out.ok();
    assert!(out.stdout.contains("DONE"), "{out}");
    // The state directory is an empty mode-000 directory inside: not even the path resolves.
    let (ls, code) = attempt(&out, "ls");
    assert!(code != 0 && ls.contains("Permission denied"), "ls:\n{out}");
    assert!(!ls.contains(&id), "{out}");
    let (cat, code) = attempt(&out, "cat");
    assert!(
        code != 0 && cat.contains("Permission denied"),
        "cat:\n{out}"
    );
    assert!(!cat.contains("\"command\""), "{out}");
    let (approve, code) = attempt(&out, "brig");
    assert_eq!(code, 121, "brig approvals approve:\n{out}");
    assert!(
        approve.contains(&format!("no pending approval request `{id}`")),
        "{out}"
    );
    let (sock, code) = attempt(&out, "sock");
    assert_eq!(code, 3, "the socket:\n{out}");
    assert!(
        sock.contains("connect: EACCES Permission denied"),
        "the socket:\n{out}"
    );
    let listed = w.brig(&["approvals", "list"]).ok().stdout.clone();
    assert!(listed.contains("0/1 approvals"), "{listed}");
    assert!(w.exists("ws/build/keep"));
    w.brig(&["approvals", "deny", &id]).ok();
    let (code, _) = finish(child);
    assert_eq!(code, Some(118));
    assert!(!last_records(&w)
        .iter()
        .any(|r| r["kind"] == "approval" && r["data"]["approver"] == "agent"));
}
