//! `brig review` in a real browser: Debian's chromium driven by playwright-core
//! (`tests/tools/review_e2e.mjs`). The policy flags `rm -rf build` as destructive, two
//! approvers approve it in the page, the command runs, and the session page shows both
//! approvals; a request without the token and a cross-origin POST are refused.
//!
//! `BRIG_REVIEW_SCREENSHOTS=DIR` copies the screenshots to DIR (docs/images for the docs).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::support::*;

both_identities!(approve_in_the_browser_end_to_end);

/// The test tools' directory (the script and its `node_modules`).
fn tools() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools")
}

/// Kills and reaps a child when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines `r` prints, as they come.
fn lines(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line starting with `prefix`; panics with everything seen otherwise.
fn expect_line(rx: &mpsc::Receiver<String>, prefix: &str, what: &str) -> String {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(DEADLINE) {
            Ok(l) if l.starts_with(prefix) => return l,
            Ok(l) => seen.push(l),
            Err(_) => panic!("{what}: no `{prefix}` line; got {seen:?}"),
        }
    }
}

/// One raw HTTP request to the server; returns the status code.
fn status_of(port: u16, request: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(request.as_bytes()).expect("send");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"))
}

fn approve_in_the_browser_end_to_end(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["chromium", "node", "playwright-core", "python3"]) {
        return;
    }
    let w = t.world();
    w.write(
        "home/.config/brig/config.toml",
        "[approvals]\ntwo_approvers = true\n",
    );
    w.setup("mkdir -p build && touch build/keep");

    // The server, as the identity; its first line is the URL with the token.
    let mut c = w.command(brig_bin());
    c.arg("review")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut server = Reaped(c.spawn().expect("start brig review"));
    let out = lines(server.0.stdout.take().expect("stdout"));
    let line = expect_line(&out, "brig review: open ", "brig review");
    let url = line["brig review: open ".len()..].trim().to_string();
    let token = url
        .split_once("?token=")
        .expect("token in the URL")
        .1
        .to_string();
    let port: u16 = url["http://127.0.0.1:".len()..]
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in the URL");
    assert_eq!(token.len(), 64, "{url}");
    assert!(
        !std::fs::read_to_string(w.state_dir().join("brig/audit/latest"))
            .unwrap_or_default()
            .contains(&token),
        "the token is not in the state directory"
    );

    // The browser (as the suite's own user; chromium's sandbox is off, see the script).
    let profile = w.root.join("profile");
    let shots = w.root.join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut node = Command::new("node");
    node.arg(tools().join("review_e2e.mjs"))
        .current_dir(tools())
        .env("REVIEW_URL", &url)
        .env("APPROVERS", "alice,bob")
        .env("SHOTS", &shots)
        .env("PROFILE", &profile)
        .env("HOME", w.root.join("browser-home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut browser = Reaped(node.spawn().expect("start node"));
    let said = lines(browser.0.stdout.take().expect("stdout"));
    let complaints = lines(browser.0.stderr.take().expect("stderr"));
    let fail = |what: &str| -> ! {
        let err: Vec<String> = complaints.try_iter().collect();
        panic!("{what}\nbrowser stderr:\n{}", err.join("\n"))
    };
    let step = |prefix: &str| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            expect_line(&said, prefix, "the browser")
        }))
        .unwrap_or_else(|_| fail(&format!("the browser never said {prefix}")))
    };
    step("READY");

    // The agent's command: flagged destructive, it waits for two approvals.
    let mut c = w.command(brig_bin());
    c.args([
        "run",
        "--approval-policy",
        "on-request",
        "--no-tty-prompt",
        "--",
    ])
    .args(["rm", "-rf", "build"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let run = c.spawn().expect("start brig run");
    step("APPROVED");
    let done = finish(run, "brig run -- rm -rf build", DEADLINE);
    assert_eq!(done.code(), Some(0), "{done}");
    assert!(!w.exists("ws/build"), "the approved command ran");
    let summary = step("DONE");
    assert!(
        summary.contains("\"refused\":403") && summary.contains("\"evil\":403"),
        "{summary}"
    );

    // The same checks without a browser, byte for byte.
    let host = format!("127.0.0.1:{port}");
    let cookie = format!("Cookie: brig_review={token}\r\n");
    assert_eq!(
        status_of(port, &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")),
        403
    );
    assert_eq!(
        status_of(
            port,
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\n{cookie}\r\n")
        ),
        200
    );
    assert_eq!(
        status_of(
            port,
            &format!("GET / HTTP/1.1\r\nHost: evil.example\r\n{cookie}\r\n")
        ),
        403
    );
    for origin in ["Origin: http://evil.example\r\n", ""] {
        let body = "csrf=x&id=x&approver=mallory&answer=once";
        let post = format!(
            "POST /approvals/answer HTTP/1.1\r\nHost: {host}\r\n{cookie}{origin}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(status_of(port, &post), 403, "{origin:?}");
    }

    // From inside a sandbox: its own network namespace has no route to the server, and with
    // `--network on` (the host's network) it gets through but has no token.
    let probe = format!(
        "import http.client\n\
         try:\n    c = http.client.HTTPConnection('127.0.0.1', {port}, timeout=5)\n    \
         c.request('GET', '/approvals')\n    print('status', c.getresponse().status)\n\
         except OSError as e:\n    print('unreachable', e)\n"
    );
    let off = w.brig_run(&[], &["python3", "-c", &probe]);
    assert!(off.ok().stdout.starts_with("unreachable"), "{off}");
    let on = w.brig_run(&["--network", "on"], &["python3", "-c", &probe]);
    assert_eq!(on.ok().stdout.trim(), "status 403", "{on}");

    // The audit trail has both approvals, through the service.
    let audit = w.state_dir().join("brig/audit");
    let records: Vec<serde_json::Value> = std::fs::read_dir(&audit)
        .expect("audit dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<serde_json::Value>>()
        })
        .filter(|r: &serde_json::Value| r["kind"] == "approval")
        .collect();
    let who: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["data"]["approver"].as_str().unwrap_or(""),
                r["data"]["channel"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(who, [("alice", "service"), ("bob", "service")]);

    let status = browser.0.wait().expect("wait for node");
    assert!(status.success(), "node: {status}");
    if let Some(dir) = std::env::var_os("BRIG_REVIEW_SCREENSHOTS") {
        for name in [
            "review-approvals.png",
            "review-sessions.png",
            "review-session.png",
        ] {
            std::fs::copy(shots.join(name), std::path::Path::new(&dir).join(name))
                .unwrap_or_else(|e| panic!("copy {name}: {e}"));
        }
    }
    drop(server);
}
