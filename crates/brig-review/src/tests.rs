//! The checks and pages, driven through [`App::handle`] without a socket: each check must
//! refuse what it exists to refuse.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::guard::{self, Secrets};
use crate::html::escape;
use crate::http::{parse_query, percent_decode, read_request, Request};
use crate::{App, Approvals, PendingRequest};

const PORT: u16 = 4711;

#[derive(Clone, Default)]
struct Fake {
    pending: Arc<Mutex<Vec<PendingRequest>>>,
    answers: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Approvals for Fake {
    fn list(&self) -> Vec<PendingRequest> {
        self.pending.lock().unwrap().clone()
    }
    fn answer(&self, id: &str, answer: &serde_json::Value) -> Result<(String, String), String> {
        self.answers
            .lock()
            .unwrap()
            .push((id.to_string(), answer.clone()));
        Ok(("pending".into(), "recorded; 1 of 2 approvals".into()))
    }
}

fn secrets() -> Secrets {
    Secrets {
        token: "t0ken".repeat(8),
        csrf: "c5rf".repeat(8),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brig-review-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("audit")).unwrap();
    d.join("audit")
}

fn app(name: &str) -> (App, Fake) {
    let fake = Fake::default();
    fake.pending.lock().unwrap().push(PendingRequest {
        id: "req1".into(),
        command: "rm -rf build <img src=x onerror=alert(1)>".into(),
        cwd: "/ws".into(),
        mode: "workspace-write".into(),
        decision: "ask".into(),
        destructive: true,
        destroys: vec!["build (3 files, 12 bytes)".into()],
        reasons: vec!["rm-recursive: deletes a tree".into()],
        required: 2,
        approved_by: vec!["alice".into()],
        scopes: vec!["once".into(), "session".into()],
        asked_unix: 0,
        timeout_secs: 300,
    });
    (
        App::new(PORT, secrets(), temp_dir(name), Box::new(fake.clone())),
        fake,
    )
}

/// A request with the good Host and cookie, plus `extra` headers.
fn get(path: &str) -> Request {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    Request {
        method: "GET".into(),
        path: p.into(),
        query: parse_query(q),
        headers: vec![
            ("host".into(), format!("127.0.0.1:{PORT}")),
            (
                "cookie".into(),
                format!("x=1; brig_review={}", secrets().token),
            ),
        ],
        body: Vec::new(),
    }
}

fn post(body: &str) -> Request {
    let mut r = get("/approvals/answer");
    r.method = "POST".into();
    r.headers
        .push(("origin".into(), format!("http://127.0.0.1:{PORT}")));
    r.body = body.as_bytes().to_vec();
    r
}

fn without(mut r: Request, header: &str) -> Request {
    r.headers.retain(|(n, _)| n != header);
    r
}

fn with(mut r: Request, header: &str, value: &str) -> Request {
    r.headers.retain(|(n, _)| n != header);
    r.headers.push((header.into(), value.into()));
    r
}

fn body(r: &crate::http::Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn good_form() -> String {
    format!("csrf={}&id=req1&approver=bob&answer=once", secrets().csrf)
}

#[test]
fn the_host_header_must_name_this_server() {
    let (app, _) = app("host");
    assert_eq!(app.handle(&get("/")).status, 200);
    let localhost = with(get("/"), "host", &format!("localhost:{PORT}"));
    assert_eq!(app.handle(&localhost).status, 200);
    for bad in [
        "evil.example",
        "127.0.0.1",
        "127.0.0.1:1",
        "localhost",
        "[::1]:4711",
    ] {
        let r = app.handle(&with(get("/"), "host", bad));
        assert_eq!(
            (r.status, body(&r)),
            (403, guard::Refusal::Host.message().into()),
            "{bad}"
        );
    }
    assert_eq!(app.handle(&without(get("/"), "host")).status, 403);
    let mut twice = get("/");
    twice.headers.push(("host".into(), "evil.example".into()));
    assert_eq!(app.handle(&twice).status, 403);
}

#[test]
fn without_the_token_everything_is_refused() {
    let (app, _) = app("token");
    for path in [
        "/",
        "/approvals",
        "/approvals/state",
        "/static/app.js",
        "/export",
        "/nope",
    ] {
        let r = app.handle(&without(get(path), "cookie"));
        assert_eq!(
            (r.status, body(&r)),
            (403, guard::Refusal::Token.message().into()),
            "{path}"
        );
        let wrong = with(get(path), "cookie", "brig_review=t0ken");
        assert_eq!(app.handle(&wrong).status, 403, "{path}");
        let wrong_url = without(get(&format!("{path}?token=abc")), "cookie");
        assert_eq!(app.handle(&wrong_url).status, 403, "{path}");
    }
    // A POST cannot use the URL's token.
    let p = without(post(&good_form()), "cookie");
    let p = Request {
        query: parse_query(&format!("token={}", secrets().token)),
        ..p
    };
    assert_eq!(app.handle(&p).status, 403);
}

#[test]
fn the_url_token_becomes_an_http_only_strict_cookie() {
    let (app, _) = app("cookie");
    let first = without(
        get(&format!("/approvals?token={}", secrets().token)),
        "cookie",
    );
    let r = app.handle(&first);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/approvals"));
    assert_eq!(
        r.header("set-cookie"),
        Some(
            format!(
                "brig_review={}; Path=/; HttpOnly; SameSite=Strict",
                secrets().token
            )
            .as_str()
        )
    );
    // A path that could split the header is not echoed.
    let mut odd = first.clone();
    odd.path = "/x\r\nSet-Cookie: a=b".into();
    assert_eq!(app.handle(&odd).header("location"), Some("/"));
}

#[test]
fn a_post_needs_this_origin_and_the_csrf_token() {
    let (app, fake) = app("origin");
    let refused = |r: Request, why: guard::Refusal| {
        let resp = app.handle(&r);
        assert_eq!((resp.status, body(&resp)), (403, why.message().to_string()));
    };
    refused(
        without(post(&good_form()), "origin"),
        guard::Refusal::Origin,
    );
    refused(
        with(post(&good_form()), "origin", "http://evil.example"),
        guard::Refusal::Origin,
    );
    refused(
        with(post(&good_form()), "origin", "null"),
        guard::Refusal::Origin,
    );
    refused(
        with(
            post(&good_form()),
            "origin",
            &format!("http://localhost:{PORT}"),
        ),
        guard::Refusal::Origin,
    );
    refused(
        post("id=req1&approver=bob&answer=once"),
        guard::Refusal::Csrf,
    );
    refused(
        post("csrf=wrong&id=req1&approver=bob&answer=once"),
        guard::Refusal::Csrf,
    );
    refused(
        post(&format!("csrf={}&id=req1", secrets().token)),
        guard::Refusal::Csrf,
    );
    assert!(
        fake.answers.lock().unwrap().is_empty(),
        "nothing refused reached the service"
    );
    let ok = app.handle(&post(&good_form()));
    assert_eq!(
        (ok.status, ok.header("location")),
        (303, Some("/approvals"))
    );
    assert_eq!(
        fake.answers.lock().unwrap().clone(),
        [(
            "req1".to_string(),
            serde_json::json!({"op": "approve", "approver": "bob", "scope": "once"})
        )]
    );
    // The result is shown once on the next page.
    let page = body(&app.handle(&get("/approvals")));
    assert!(page.contains("req1: recorded; 1 of 2 approvals"), "{page}");
    assert!(!body(&app.handle(&get("/approvals"))).contains("recorded;"));
}

#[test]
fn answers_are_checked_before_they_are_sent() {
    let (app, fake) = app("answers");
    let c = secrets().csrf;
    for form in [
        format!("csrf={c}&id=req1&approver=&answer=once"),
        format!("csrf={c}&id=req1&approver=%20&answer=once"),
        format!("csrf={c}&id=other&approver=bob&answer=once"),
        format!("csrf={c}&id=req1&approver=bob&answer=forever"),
    ] {
        assert_eq!(app.handle(&post(&form)).status, 303);
    }
    assert!(fake.answers.lock().unwrap().is_empty());
    app.handle(&post(&format!(
        "csrf={c}&id=req1&approver=carol&answer=deny"
    )));
    assert_eq!(
        fake.answers.lock().unwrap()[0].1,
        serde_json::json!({"op": "deny", "approver": "carol"})
    );
}

#[test]
fn the_pending_page_shows_what_will_happen_and_only_the_offered_scopes() {
    let (app, _) = app("pending");
    let page = body(&app.handle(&get("/approvals")));
    for needle in [
        "rm -rf build &lt;img src=x onerror=alert(1)&gt;",
        "/ws",
        "workspace-write",
        "ask (destructive)",
        "rm-recursive: deletes a tree",
        "build (3 files, 12 bytes)",
        "1 of 2 (alice)",
        "value=\"once\">Approve once",
        "value=\"session\">Approve session",
        "value=\"deny\">Deny",
        &format!("name=\"csrf\" value=\"{}\"", secrets().csrf),
    ] {
        assert!(page.contains(needle), "{needle} missing:\n{page}");
    }
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("Approve always"), "{page}");
    assert!(
        !page.contains(&secrets().token),
        "the token is never in a page"
    );
    assert_eq!(body(&app.handle(&get("/approvals/state"))), "req1:1");
}

#[test]
fn routes() {
    let (app, _) = app("routes");
    assert_eq!(app.handle(&get("/")).status, 200);
    assert_eq!(app.handle(&get("/nope")).status, 404);
    assert_eq!(app.handle(&get("/session/..%2f..")).status, 404);
    assert_eq!(app.handle(&get("/session/missing")).status, 404);
    assert_eq!(app.handle(&get("/export?format=xml")).status, 400);
    let js = app.handle(&get("/static/app.js"));
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let mut put = get("/");
    put.method = "PUT".into();
    let put = with(put, "origin", &format!("http://127.0.0.1:{PORT}"));
    let put = Request {
        body: format!("csrf={}", secrets().csrf).into_bytes(),
        ..put
    };
    assert_eq!(app.handle(&put).status, 405);
    let wire = String::from_utf8(app.handle(&get("/")).to_bytes()).unwrap();
    for h in [
        "Content-Security-Policy: default-src 'none'",
        "X-Frame-Options: DENY",
        "Cache-Control: no-store",
        "Referrer-Policy: same-origin",
    ] {
        assert!(wire.contains(h), "{h}");
    }
}

#[test]
fn sessions_and_records_are_escaped_and_filtered() {
    let (app, _) = app("sessions");
    let dir = temp_dir("sessions");
    let mut w = brig_audit::Writer::create(&dir, "20261204T100000Z-aaaa").unwrap();
    w.append(
        "session.start",
        serde_json::json!({"mode": "workspace-write"}),
    )
    .unwrap();
    w.append(
        "command.start",
        serde_json::json!({"argv": ["sh", "-c", "<b>x</b>"], "decision": "ask"}),
    )
    .unwrap();
    w.append(
        "file.change",
        serde_json::json!({"op": "create", "path": "/ws/<i>a</i>"}),
    )
    .unwrap();
    w.append(
        "file.change",
        serde_json::json!({"op": "delete", "path": "/ws/other"}),
    )
    .unwrap();
    w.append(
        "approval",
        serde_json::json!({"decision": "approved", "approver": "alice"}),
    )
    .unwrap();
    w.append("command.end", serde_json::json!({"status": 0}))
        .unwrap();
    w.commit().unwrap();
    drop(w);
    let list = body(&app.handle(&get("/")));
    assert!(list.contains("sh -c &lt;b&gt;x&lt;/b&gt;"), "{list}");
    assert!(
        list.contains("exit 0") && list.contains("workspace-write"),
        "{list}"
    );
    assert!(list.contains("class=\"ok\">intact"), "{list}");
    let s = "/session/20261204T100000Z-aaaa";
    let page = body(&app.handle(&get(s)));
    assert!(
        page.contains("/ws/&lt;i&gt;a&lt;/i&gt;") && !page.contains("<i>"),
        "{page}"
    );
    let rows = |q: &str| {
        body(&app.handle(&get(&format!("{s}?{q}"))))
            .matches("class=\"record\"")
            .count()
    };
    assert_eq!(rows(""), 7);
    assert_eq!(rows("type=file.change"), 2);
    assert_eq!(rows("path=other"), 1);
    assert_eq!(rows("decision=approved"), 1);
    assert_eq!(rows("type=file.change&path=%3Ci%3E"), 1);
    let csv = app.handle(&get("/export?session=20261204T100000Z-aaaa&format=csv"));
    assert_eq!(csv.status, 200);
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("brig-audit-20261204T100000Z-aaaa.csv"));
    let jsonl = body(&app.handle(&get("/export?format=jsonl")));
    assert_eq!(jsonl.lines().count(), 7, "{jsonl}");
}

#[test]
fn escaping_and_decoding() {
    assert_eq!(
        escape("<a href=\"x\" onclick='y'>&</a>\u{202E}\u{1b}"),
        "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;??"
    );
    assert_eq!(percent_decode("a%20b%3c%zz%"), "a b<%zz%");
    assert_eq!(
        parse_query("a=1+2&b=%26&c"),
        [
            ("a".into(), "1 2".into()),
            ("b".into(), "&".into()),
            ("c".into(), String::new())
        ]
    );
    assert!(guard::same_secret("abc", "abc") && !guard::same_secret("abc", "abd"));
    assert!(!guard::same_secret("abc", "ab"));
}

#[test]
fn requests_are_parsed_and_bounded() {
    let raw =
        b"POST /approvals/answer?x=1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 3\r\n\r\na=b";
    let r = read_request(&mut &raw[..]).unwrap();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/approvals/answer")
    );
    assert_eq!(r.header("host"), Some("127.0.0.1:1"));
    assert_eq!(r.form(), [("a".to_string(), "b".to_string())]);
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert!(read_request(&mut huge.as_bytes()).is_err());
    let big = b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n";
    assert!(read_request(&mut &big[..]).is_err());
    assert!(read_request(&mut &b"GET / SPDY/3\r\n\r\n"[..]).is_err());
}

#[test]
fn secrets_are_fresh_and_long() {
    let (a, b) = (Secrets::generate().unwrap(), Secrets::generate().unwrap());
    assert_eq!(a.token.len(), 64);
    assert_ne!(a.token, b.token);
    assert_ne!(a.token, a.csrf);
}
