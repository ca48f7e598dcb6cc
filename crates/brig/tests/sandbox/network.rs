//! The network allowlist (`network = "allowlist"`): brig's proxy is the only way out of the
//! sandbox, it lets through exactly the hosts the allowlist names (HTTP, CONNECT tunnels,
//! SOCKS5), refuses the rest and anything whose TLS server name differs from the tunnel's host,
//! programs that ignore the proxy variables have no route at all, and every connection is an
//! audit record.
//!
//! The servers run in the test, on the host's loopback, outside the sandbox; `[network.hosts]`
//! points the names the tests use (`pkg.test`, ...) at them, so nothing needs the internet.
//! Each refusal is first shown to work without brig (the same bytes reach the server directly).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::audit::last_session;
use crate::support::*;

/// `net.py MODE ARGS`: one client action through the proxy brig configured (or, for `raw`,
/// around it); prints `MODE: RESULT`.
const CLIENT: &str = r#"
import os, socket, ssl, sys, urllib.request
mode = sys.argv[1]

def hello(name):
    # A real TLS ClientHello naming `name`, as Python's TLS stack sends it.
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()

def proxy():
    hp = os.environ["https_proxy"].split("//", 1)[1]
    h, p = hp.rsplit(":", 1)
    return h, int(p)

def echoed(s, data):
    s.sendall(data)
    got = b""
    try:
        while len(got) < len(data):
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError:
        pass
    return "echoed" if got == data else "closed after %d bytes" % len(got)

try:
    if mode == "get":
        r = urllib.request.urlopen(sys.argv[2], timeout=10)
        print("get:", r.status, r.read().decode())
    elif mode == "connect":
        target, sni = sys.argv[2], sys.argv[3]
        if len(sys.argv) > 4:  # direct, without a proxy (the "without brig" half)
            s = socket.create_connection(("127.0.0.1", int(sys.argv[4])), timeout=10)
        else:
            s = socket.create_connection(proxy(), timeout=10)
            s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
            status = s.recv(4096).decode(errors="replace").split("\r\n")[0]
            if " 200 " not in status:
                print("connect:", status)
                sys.exit()
        print("connect:", echoed(s, hello(sni)))
    elif mode == "socks":
        host, port = sys.argv[2], int(sys.argv[3])
        s = socket.create_connection(proxy(), timeout=10)
        s.sendall(b"\x05\x01\x00")
        assert s.recv(2) == b"\x05\x00"
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + port.to_bytes(2, "big"))
        rep = s.recv(10)
        if rep[1] != 0:
            print("socks: refused with code", rep[1])
            sys.exit()
        print("socks:", echoed(s, b"ping"))
    elif mode == "raw":
        # A program that ignores the proxy variables: straight to an address.
        host, port = sys.argv[2], int(sys.argv[3])
        socket.create_connection((host, port), timeout=5)
        print("raw: connected")
    elif mode == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", (sys.argv[2], int(sys.argv[3])))
        print("udp: sent")
    elif mode == "resolve":
        print("resolve:", socket.getaddrinfo(sys.argv[2], 80)[0][4][0])
    elif mode == "netlink":
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        print("netlink: ok")
except OSError as e:
    print(mode + ":", type(e).__name__, e.strerror or str(e))
"#;

/// A server that echoes what it gets; counts connections.
struct Echo {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

fn echo_server() -> Echo {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let n = accepted.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { break };
            n.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(k) = c.read(&mut buf) {
                    if k == 0 || c.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Echo { port, accepted }
}

/// An HTTP server answering every request with `hello from <Host>`; keeps the request heads.
struct Web {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

fn web_server() -> Web {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { break };
            let h = h.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                    match c.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let host = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Host: "))
                    .and_then(|h| h.split(':').next())
                    .unwrap_or("?")
                    .to_string();
                h.lock().unwrap().push(text);
                let body = format!("hello from {host}");
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    Web { port, heads }
}

/// Writes the user config with an allowlist and names for the test servers.
fn config(w: &World, allow: &[&str], deny: &[&str]) {
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    w.write(
        "home/.config/brig/config.toml",
        &format!(
            "[network]\nmode = \"allowlist\"\nallow = [{}]\ndeny = [{}]\n\n[network.hosts]\n\"pkg.test\" = \"127.0.0.1\"\n\"other.test\" = \"127.0.0.1\"\n\"a.pkg.test\" = \"127.0.0.1\"\n\"bad.pkg.test\" = \"127.0.0.1\"\n",
            list(allow),
            list(deny)
        ),
    );
}

fn client(w: &World) -> String {
    w.write("aux/net.py", CLIENT);
    w.path("aux/net.py").display().to_string()
}

fn network_records(w: &World) -> Vec<serde_json::Value> {
    let (_, records) = last_session(w);
    records
        .into_iter()
        .filter(|r| r["kind"] == "network")
        .map(|r| r["data"].clone())
        .collect()
}

both_identities!(
    allowed_traffic_passes_and_is_recorded,
    unlisted_denied_and_empty_allowlists_refuse,
    tls_server_name_must_match_the_tunnel,
    programs_ignoring_the_proxy_have_no_route,
    untrusted_project_cannot_open_the_network,
    git_over_https_through_the_proxy,
    unknown_hosts_ask_a_human_once,
);

/// Under `on-request`, the first request to a host the allowlist does not name waits for a
/// human (`brig approvals`); approved, the host is reachable for the rest of the run without
/// asking again; denied, it is refused. Request, answer and connection are all recorded.
fn unknown_hosts_ask_a_human_once(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let c = client(&w);
    let web = web_server();
    config(&w, &[], &[]);
    let dir = w.state_dir().join("brig/approvals");
    let answers = Arc::new(Mutex::new(Vec::<String>::new()));
    let run = |op: &'static str, scope: &'static str, extra: &[&str]| {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (d, s, a) = (dir.clone(), stop.clone(), answers.clone());
        let reviewer = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for id in pending_requests(&d) {
                    let json =
                        std::fs::read_to_string(d.join(format!("{id}.json"))).unwrap_or_default();
                    if json.contains("\"network\"") && !a.lock().unwrap().contains(&id) {
                        a.lock().unwrap().push(id.clone());
                        let _ = answer_request(
                            &d,
                            &id,
                            &format!(r#"{{"op":"{op}","approver":"rev","scope":"{scope}"}}"#),
                        );
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        let mut cmd = w.command(brig_bin());
        cmd.args(["run", "--approval-policy", "on-request", "--no-tty-prompt"])
            .args(extra)
            .args(["--", "sh", "-c"])
            .arg(format!(
                "python3 {c} get http://pkg.test:{p}/one; python3 {c} get http://pkg.test:{p}/two",
                p = web.port
            ));
        let out = run_command(cmd, None, "brig run (network approval)");
        stop.store(true, Ordering::SeqCst);
        reviewer.join().unwrap();
        out
    };
    let out = run("approve", "once", &[]);
    out.ok();
    let gets: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("get: "))
        .collect();
    assert_eq!(
        gets,
        ["200 hello from pkg.test", "200 hello from pkg.test"],
        "{out}"
    );
    assert!(out.stderr.contains("network access to pkg.test:"), "{out}");
    assert_eq!(
        answers.lock().unwrap().len(),
        1,
        "asked once for two requests"
    );
    let (_, records) = last_session(&w);
    let req = records
        .iter()
        .find(|r| r["kind"] == "approval.request")
        .expect("request");
    assert_eq!(req["data"]["decision"], "network");
    assert_eq!(req["data"]["host"], "pkg.test");
    let ans = records
        .iter()
        .find(|r| r["kind"] == "approval")
        .expect("answer");
    assert_eq!(ans["data"]["approver"], "rev");
    let nets: Vec<&serde_json::Value> = records.iter().filter(|r| r["kind"] == "network").collect();
    assert_eq!(nets.len(), 2);
    assert!(nets
        .iter()
        .all(|r| r["data"]["decision"] == "allow" && r["data"]["rule"] == "approved: pkg.test"));

    let out = run("deny", "once", &[]);
    out.ok();
    let gets: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("get: "))
        .collect();
    assert_eq!(gets.len(), 2, "{out}");
    assert!(gets.iter().all(|g| g.contains("403")), "{out}");
    assert_eq!(
        answers.lock().unwrap().len(),
        2,
        "asked once more, in the new run"
    );
    assert_eq!(
        web.heads.lock().unwrap().len(),
        2,
        "only the approved run's requests arrived"
    );
}

/// HTTP (absolute-form, through `http_proxy`), a CONNECT tunnel and SOCKS5 to an allowed name
/// reach the servers, and each is one `network` record with its method, host, port, rule,
/// TLS server name and byte counts.
fn allowed_traffic_passes_and_is_recorded(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let c = client(&w);
    let web = web_server();
    let echo = echo_server();
    config(&w, &["pkg.test"], &[]);
    let url = format!("http://pkg.test:{}/index", web.port);
    let out = w.brig_sh(
        &[],
        &format!(
            "python3 {c} get {url}; python3 {c} connect pkg.test:{e} pkg.test; python3 {c} socks pkg.test {e}",
            e = echo.port
        ),
    );
    out.ok();
    assert_eq!(probe_line(&out, "get"), "200 hello from pkg.test", "{out}");
    assert_eq!(probe_line(&out, "connect"), "echoed", "{out}");
    assert_eq!(probe_line(&out, "socks"), "echoed", "{out}");
    // The server got an origin-form request with the Host it was sent to, and no proxy
    // headers.
    let heads = web.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("GET /index HTTP/1.1\r\n"), "{heads:?}");
    assert!(heads[0].contains(&format!("Host: pkg.test:{}", web.port)));
    assert!(
        !heads[0].to_ascii_lowercase().contains("proxy-"),
        "{heads:?}"
    );
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 2);

    let recs = network_records(&w);
    assert_eq!(recs.len(), 3, "{recs:#?}");
    for r in &recs {
        assert_eq!(r["decision"], "allow", "{r}");
        assert_eq!(r["host"], "pkg.test", "{r}");
        assert_eq!(r["rule"], "pkg.test", "{r}");
        assert!(r["bytes_in"].as_u64().unwrap() > 0, "{r}");
        assert!(r["bytes_out"].as_u64().unwrap() > 0, "{r}");
        assert!(r["duration_ms"].as_f64().is_some(), "{r}");
        // The process behind the connection, as the supervisor saw its connect.
        assert!(r["pid"].as_u64().is_some_and(|p| p > 1), "{r}");
        assert!(
            r["program"].as_str().is_some_and(|p| p.contains("python3")),
            "{r}"
        );
    }
    let get = recs.iter().find(|r| r["protocol"] == "http").expect("http");
    assert_eq!(get["method"], "GET");
    assert_eq!(get["port"], web.port);
    assert_eq!(get["url"], url.as_str());
    let tunnel = recs
        .iter()
        .find(|r| r["protocol"] == "connect")
        .expect("connect");
    assert_eq!(tunnel["method"], "CONNECT");
    assert_eq!(tunnel["sni"], "pkg.test");
    assert_eq!(tunnel["port"], echo.port);
    assert!(recs.iter().any(|r| r["protocol"] == "socks5"));
    // The session says how the network was configured.
    let (_, all) = last_session(&w);
    let start = all.iter().find(|r| r["kind"] == "session.start").unwrap();
    assert_eq!(start["data"]["network"], "allowlist");
}

/// A host not on the list, a host a deny rule names (deny wins over `*.pkg.test`), and any
/// host when the allowlist is empty: refused (403 / SOCKS "not allowed") before a connection
/// is made, and recorded as denied. Directly, the same servers answer.
fn unlisted_denied_and_empty_allowlists_refuse(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let c = client(&w);
    let web = web_server();
    let echo = echo_server();
    // Without brig the servers are there.
    let direct = w.sh(&format!("python3 {c} connect x pkg.test {}", echo.port));
    assert_eq!(probe_line(&direct, "connect"), "echoed", "{direct}");
    config(&w, &["*.pkg.test"], &["bad.pkg.test"]);
    // `never`: nobody is asked about hosts the list does not name.
    let out = w.brig_sh(
        &["--approval-policy", "never"],
        &format!(
            "python3 {c} get http://a.pkg.test:{p}/; python3 {c} get http://other.test:{p}/; \
             python3 {c} connect bad.pkg.test:{e} bad.pkg.test; python3 {c} socks pkg.test {e}",
            p = web.port,
            e = echo.port
        ),
    );
    out.ok();
    let gets: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("get: "))
        .collect();
    assert_eq!(gets[0], "200 hello from a.pkg.test", "{out}");
    assert!(gets[1].contains("403"), "{out}");
    assert_eq!(
        probe_line(&out, "connect"),
        "HTTP/1.1 403 Forbidden",
        "{out}"
    );
    // `*.pkg.test` does not cover pkg.test itself.
    assert_eq!(probe_line(&out, "socks"), "refused with code 2", "{out}");
    assert_eq!(web.heads.lock().unwrap().len(), 1);
    assert_eq!(
        echo.accepted.load(Ordering::SeqCst),
        1,
        "only the direct one"
    );
    let recs = network_records(&w);
    let denied: Vec<&serde_json::Value> = recs.iter().filter(|r| r["decision"] == "deny").collect();
    assert_eq!(denied.len(), 3, "{recs:#?}");
    let bad = denied.iter().find(|r| r["host"] == "bad.pkg.test").unwrap();
    assert_eq!(bad["rule"], "bad.pkg.test", "the deny rule is named: {bad}");
    assert!(denied
        .iter()
        .any(|r| r["host"] == "other.test" && r["rule"].is_null()));

    // An empty allowlist allows nothing (and, with `never`, asks nobody).
    config(&w, &[], &[]);
    let out = w.brig_sh(
        &["--approval-policy", "never"],
        &format!("python3 {c} get http://pkg.test:{}/", web.port),
    );
    assert!(probe_line(&out, "get").contains("403"), "{out}");
    assert_eq!(web.heads.lock().unwrap().len(), 1);
}

/// A tunnel opened for an allowed host whose TLS ClientHello names another host (domain
/// fronting) is cut before the hello reaches the server; sent directly, the server gets it.
fn tls_server_name_must_match_the_tunnel(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let c = client(&w);
    let echo = echo_server();
    let direct = w.sh(&format!("python3 {c} connect x evil.example {}", echo.port));
    assert_eq!(probe_line(&direct, "connect"), "echoed", "{direct}");
    config(&w, &["pkg.test"], &[]);
    let out = w.brig_sh(
        &[],
        &format!("python3 {c} connect pkg.test:{} evil.example", echo.port),
    );
    out.ok();
    assert_eq!(probe_line(&out, "connect"), "closed after 0 bytes", "{out}");
    let recs = network_records(&w);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0]["decision"], "deny");
    assert_eq!(recs[0]["sni"], "evil.example");
    assert!(
        recs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("TLS server name"),
        "{}",
        recs[0]
    );
    assert_eq!(
        recs[0]["bytes_out"], 0,
        "nothing of the hello went upstream"
    );
}

/// With the allowlist, IP sockets exist but reach only the sandbox's own loopback: a program
/// that ignores the proxy variables cannot reach a server on the host's loopback, a public
/// address, or UDP, and cannot resolve names; netlink sockets are refused. Without brig the
/// host's server answers.
fn programs_ignoring_the_proxy_have_no_route(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let c = client(&w);
    let echo = echo_server();
    let direct = w.sh(&format!("python3 {c} raw 127.0.0.1 {}", echo.port));
    assert_eq!(probe_line(&direct, "raw"), "connected", "{direct}");
    config(&w, &["pkg.test"], &[]);
    let out = w.brig_sh(
        &[],
        &format!(
            "python3 {c} raw 127.0.0.1 {e}; python3 {c} raw 1.1.1.1 443 | sed s/^raw/public/; \
             python3 {c} udp 8.8.8.8 53; python3 {c} resolve pkg.test; python3 {c} netlink",
            e = echo.port
        ),
    );
    out.ok();
    assert!(
        probe_line(&out, "raw").contains("Connection refused"),
        "{out}"
    );
    assert!(
        probe_line(&out, "public").contains("Network is unreachable"),
        "{out}"
    );
    assert!(
        probe_line(&out, "udp").contains("Network is unreachable"),
        "{out}"
    );
    assert!(probe_line(&out, "resolve").starts_with("gaierror"), "{out}");
    assert!(
        probe_line(&out, "netlink").contains("Operation not permitted"),
        "{out}"
    );
    assert_eq!(
        echo.accepted.load(Ordering::SeqCst),
        1,
        "only the direct one"
    );
}

/// An untrusted project file may deny hosts, and turn an open network into the allowlist, but
/// neither allow a host, include a preset, pin an address nor turn the network on (or from
/// off to the allowlist).
fn untrusted_project_cannot_open_the_network(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    for (text, key) in [
        ("[network]\nallow = [\"evil.example\"]\n", "network.allow"),
        ("[network]\npresets = [\"python\"]\n", "network.presets"),
        (
            "[network.hosts]\n\"pkg.test\" = \"127.0.0.1\"\n",
            "network.hosts",
        ),
        ("network = \"on\"\n", "network"),
        ("[network]\nmode = \"allowlist\"\n", "network"),
    ] {
        w.write("ws/.brig.toml", text);
        let out = w.brig(&["run", "--", "true"]);
        out.code_is(121);
        assert!(out.stderr.contains(key), "{key}: {out}");
        assert!(out.stderr.contains("loosens"), "{out}");
    }
    // With the network on in the user's config, the project may narrow it to an allowlist
    // and deny hosts.
    w.write("home/.config/brig/config.toml", "network = \"on\"\n");
    w.write(
        "ws/.brig.toml",
        "[network]\nmode = \"allowlist\"\ndeny = [\"evil.example\"]\n",
    );
    let out = w.brig(&["policy", "explain"]);
    out.ok();
    assert!(
        out.stdout.contains("network:            allowlist"),
        "{out}"
    );
    assert!(out.stdout.contains("(nothing: an empty allowlist"), "{out}");
    assert!(out.stdout.contains("evil.example"), "{out}");
}

/// `git clone` over HTTPS of a repository on a local TLS server, through the proxy (git's
/// libcurl does the CONNECT and sends the server name); recorded with its SNI.
fn git_over_https_through_the_proxy(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3", "git", "openssl"]) {
        return;
    }
    let w = t.world();
    let srv = w.path("aux/srv");
    w.setup(&format!(
        "set -e; mkdir -p {s}/www; cd {s}; \
         openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=git.test -addext subjectAltName=DNS:git.test \
           -days 1 -keyout key.pem -out cert.pem 2>/dev/null; \
         git init -q src; cd src; git config user.email t@e; git config user.name t; \
         echo hello > README; git add README; git commit -qm one; cd ..; \
         git clone -q --bare src www/repo.git; git -C www/repo.git update-server-info",
        s = srv.display()
    ));
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!(
        "import http.server, ssl, functools\n\
         h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='{s}/www')\n\
         httpd = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), h)\n\
         ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
         ctx.load_cert_chain('{s}/cert.pem', '{s}/key.pem')\n\
         httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)\n\
         httpd.serve_forever()\n",
        s = srv.display()
    );
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _py = Kill(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(&server)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 server"),
    );
    let up = eventually(std::time::Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "the TLS server did not start");
    w.write(
        "home/.config/brig/config.toml",
        "[network]\nmode = \"allowlist\"\nallow = [\"git.test\"]\n[network.hosts]\n\"git.test\" = \"127.0.0.1\"\n",
    );
    let out = w.brig_sh(
        &[],
        &format!(
            "git -c http.sslVerify=false clone -q --bare https://git.test:{port}/repo.git cloned.git && git --git-dir cloned.git show HEAD:README"
        ),
    );
    out.ok();
    assert_eq!(out.stdout.trim(), "hello", "{out}");
    let recs = network_records(&w);
    assert!(!recs.is_empty());
    assert!(
        recs.iter().all(|r| r["decision"] == "allow"
            && r["protocol"] == "connect"
            && r["sni"] == "git.test"),
        "{recs:#?}"
    );
}
