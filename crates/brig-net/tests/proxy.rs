//! The proxy against the bypasses of THREATS.md section C, each sent twice: to a naive proxy
//! (string checks, resolves and connects to whatever the name gives), where it reaches the
//! server, which proves the attack is real; and to brig's proxy, where it must be refused
//! before any connection to the server is made, with a record that says why.
//!
//! Everything runs on the host's loopback; a test resolver stands in for DNS.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brig_net::proxy::{Config, Proxy, Record};
use brig_policy::net::{HostRule, NetRules};

/// An echo server; counts the connections it accepted.
struct Server {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

fn server() -> Server {
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
    Server { port, accepted }
}

/// The test's DNS: names ending in `.rebind.test` answer loopback, `meta.test` the cloud
/// metadata address, `mapped.test` an IPv4-mapped loopback; everything else loopback too (the
/// naive proxy uses it as well, so that its connections land on the test server).
fn resolve(name: &str) -> Vec<IpAddr> {
    match name {
        "meta.test" => vec![IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))],
        "mapped.test" => vec![IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped())],
        "v6.test" => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        _ => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    }
}

struct Brig {
    port: u16,
    proxy: Proxy,
    records: Arc<Mutex<Vec<Record>>>,
}

/// brig's proxy on a loopback port. `hosts` pins names to the test server (explicit, so
/// allowed to be loopback); other names go through [`resolve`].
fn brig(allow: &[&str], deny: &[&str], hosts: &[&str]) -> Brig {
    let rules = NetRules {
        allow: allow.iter().map(|r| HostRule::parse(r).unwrap()).collect(),
        deny: deny.iter().map(|r| HostRule::parse(r).unwrap()).collect(),
    };
    let records = Arc::new(Mutex::new(Vec::new()));
    let r = records.clone();
    let proxy = Proxy::new(
        Config {
            rules,
            hosts: hosts
                .iter()
                .map(|h| (h.to_string(), IpAddr::V4(Ipv4Addr::LOCALHOST)))
                .collect(),
            ask_unknown: None,
            resolver: Some(Box::new(|n, _| Ok(resolve(n)))),
        },
        Box::new(move |rec| {
            r.lock().unwrap().push(rec.clone());
            Ok(())
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    proxy.serve(l).unwrap();
    Brig {
        port,
        proxy,
        records,
    }
}

impl Brig {
    /// Stops the proxy and returns its records.
    fn finish(self) -> Vec<Record> {
        assert_eq!(self.proxy.shutdown(), None);
        let r = self.records.lock().unwrap().clone();
        r
    }
}

/// A naive proxy: finds the host with string splitting, checks it with `allowed` (a string
/// test, as many allowlists do), resolves it with [`resolve`] and connects.
fn naive(allowed: fn(&str) -> bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { break };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
                    if c.read(&mut b).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let first = text.lines().next().unwrap_or_default().to_string();
                let mut parts = first.split(' ');
                let method = parts.next().unwrap_or_default();
                let target = parts.next().unwrap_or_default();
                let authority = match target.strip_prefix("http://") {
                    Some(rest) => rest.split('/').next().unwrap_or_default(),
                    None => target,
                };
                // The check looks at the Host header when there is one, else the target.
                let host_header = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Host: "))
                    .map(|h| h.trim().to_string());
                let checked = host_header.unwrap_or_else(|| authority.to_string());
                if !allowed(&checked) {
                    let _ = c.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
                    return;
                }
                // Connecting uses what a URL parser would: the part after any userinfo.
                let connect_to = authority.rsplit('@').next().unwrap_or_default();
                let (h, p) = connect_to.rsplit_once(':').unwrap_or((connect_to, "80"));
                let h = h.trim_end_matches('.').trim_matches(['[', ']']);
                let ip = h.parse().unwrap_or_else(|_| resolve(h)[0]);
                let Ok(mut up) = TcpStream::connect((ip, p.parse().unwrap_or(80))) else {
                    return;
                };
                if method == "CONNECT" {
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
                } else {
                    let _ = up.write_all(&head);
                }
                let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up2, &mut c2);
                    let _ = c2.shutdown(Shutdown::Write);
                });
                let _ = std::io::copy(&mut c, &mut up);
            });
        }
    });
    port
}

/// Sends `req` to the proxy on `port`, then `then`; returns what came back (status line and
/// any echo).
fn send(port: u16, req: &[u8], then: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(req).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The proxy's answer to the request.
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let ok = got.starts_with(b"HTTP/1.1 200");
    if ok && !then.is_empty() {
        let _ = s.write_all(then);
        let mut echo = Vec::new();
        while echo.len() < then.len() {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => echo.extend_from_slice(&buf[..n]),
            }
        }
        if echo == then {
            got.extend_from_slice(b" ECHOED");
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().unwrap_or_default().to_string()
        + if text.ends_with(" ECHOED") {
            " ECHOED"
        } else {
            ""
        }
}

/// Runs one attack both ways: through the naive proxy it reaches the server; through brig's
/// it does not, and the one record is a denial whose reason contains `why`.
#[track_caller]
fn both_ways(naive_allows: fn(&str) -> bool, brig_rules: (&[&str], &[&str]), req: &str, why: &str) {
    let srv = server();
    let req = req.replace("PORT", &srv.port.to_string());
    let n = naive(naive_allows);
    let via_naive = send(n, req.as_bytes(), b"ping");
    // A tunnel echoes "ping"; a forwarded request comes back as the echo of itself.
    assert!(
        via_naive.ends_with("ECHOED") || via_naive == req.lines().next().unwrap_or_default(),
        "the attack must work against a naive proxy: {req:?} gave {via_naive:?}"
    );
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
    let b = brig(brig_rules.0, brig_rules.1, &[]);
    let via_brig = send(b.port, req.as_bytes(), b"ping");
    assert!(
        !via_brig.starts_with("HTTP/1.1 200"),
        "brig let {req:?} through: {via_brig:?}"
    );
    assert!(
        via_brig.starts_with("HTTP/1.1 400") || via_brig.starts_with("HTTP/1.1 403"),
        "{via_brig:?}"
    );
    assert_eq!(
        srv.accepted.load(Ordering::SeqCst),
        1,
        "brig connected to the server for {req:?}"
    );
    let recs = b.finish();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert!(!recs[0].allowed, "{:?}", recs[0]);
    let reason = recs[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains(why),
        "{req:?}: reason {reason:?} lacks {why:?}"
    );
}

fn mentions_allowed(h: &str) -> bool {
    h.contains("allowed.test")
}

fn not_secret(h: &str) -> bool {
    h != "secret.corp.test" && !h.starts_with("secret.corp.test:")
}

fn anything(_: &str) -> bool {
    true
}

#[test]
fn allowed_tunnel_relays_and_is_recorded() {
    let srv = server();
    let b = brig(&["allowed.test"], &[], &["allowed.test"]);
    let got = send(
        b.port,
        format!(
            "CONNECT allowed.test:{0} HTTP/1.1\r\nHost: allowed.test:{0}\r\n\r\n",
            srv.port
        )
        .as_bytes(),
        b"hello",
    );
    assert_eq!(got, "HTTP/1.1 200 Connection established ECHOED");
    let recs = b.finish();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert!(r.allowed);
    assert_eq!(r.protocol, "connect");
    assert_eq!(r.host, "allowed.test");
    assert_eq!(r.port, srv.port);
    assert_eq!(r.rule.as_deref(), Some("allowed.test"));
    assert_eq!(r.bytes_out, 5);
    assert_eq!(r.bytes_in, 5);
    assert_eq!(
        r.address,
        Some(SocketAddr::from(([127, 0, 0, 1], srv.port)))
    );
}

/// DNS rebinding: an allowed name that resolves to loopback.
#[test]
fn rebinding_to_loopback_is_refused() {
    both_ways(
        anything,
        (&["evil.rebind.test"], &[]),
        "CONNECT evil.rebind.test:PORT HTTP/1.1\r\n\r\n",
        "not a public address",
    );
}

/// An allowed name whose address is IPv4-mapped IPv6 loopback.
#[test]
fn ipv4_mapped_loopback_is_refused() {
    both_ways(
        anything,
        (&["mapped.test"], &[]),
        "CONNECT mapped.test:PORT HTTP/1.1\r\n\r\n",
        "not a public address",
    );
}

/// Cloud metadata (169.254.169.254) behind an allowed name: refused without connecting.
#[test]
fn link_local_metadata_is_refused() {
    let b = brig(&["meta.test"], &[], &[]);
    let got = send(
        b.port,
        b"GET http://meta.test/latest/meta-data/ HTTP/1.1\r\nHost: meta.test\r\n\r\n",
        b"",
    );
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
    let recs = b.finish();
    assert!(recs[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("169.254.169.254"));
    assert_eq!(recs[0].address, None, "no connection was attempted");
}

/// `allowed.test.evil.test` passes a "contains the allowed name" check.
#[test]
fn allowed_name_as_a_prefix_of_another_domain_is_refused() {
    both_ways(
        mentions_allowed,
        (&["allowed.test"], &[]),
        "CONNECT allowed.test.evil.test:PORT HTTP/1.1\r\n\r\n",
        "not allowed",
    );
}

/// A NUL byte hides the real host from a string check.
#[test]
fn nul_in_the_host_is_refused() {
    both_ways(
        mentions_allowed,
        (&["allowed.test"], &[]),
        "CONNECT evil.test\0.allowed.test:PORT HTTP/1.1\r\n\r\n",
        "malformed",
    );
}

/// The absolute URI says one host, the Host header another: the naive check reads the header.
#[test]
fn absolute_uri_and_host_header_mismatch_is_refused() {
    both_ways(
        mentions_allowed,
        (&["allowed.test"], &[]),
        "GET http://evil.test:PORT/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n",
        "Host",
    );
}

/// Bare LF line ends (a parser that accepts them sees other headers than one that does not).
#[test]
fn bare_lf_requests_are_refused() {
    both_ways(
        mentions_allowed,
        (&["allowed.test"], &[]),
        "CONNECT evil.test:PORT HTTP/1.1\nHost: allowed.test\n\n",
        "malformed",
    );
}

/// CR/LF smuggled into the CONNECT target to add a Host header the naive check trusts.
#[test]
fn crlf_in_the_connect_line_is_refused() {
    both_ways(
        mentions_allowed,
        (&["allowed.test"], &[]),
        "CONNECT evil.test:PORT\r\nHost: allowed.test\r\n\r\n",
        "malformed",
    );
}

/// Userinfo: `http://allowed.test@evil.test/` is a request for evil.test.
#[test]
fn userinfo_is_refused() {
    both_ways(
        mentions_allowed,
        (&["allowed.test"], &[]),
        "GET http://allowed.test@evil.test:PORT/ HTTP/1.1\r\n\r\n",
        "malformed",
    );
}

/// A trailing dot and upper case slip past an exact-string deny rule; brig normalizes first.
#[test]
fn trailing_dot_and_case_do_not_escape_a_deny_rule() {
    for host in ["secret.corp.test.", "SECRET.Corp.Test"] {
        both_ways(
            not_secret,
            (&["*.corp.test"], &["secret.corp.test"]),
            &format!("CONNECT {host}:PORT HTTP/1.1\r\n\r\n"),
            "denied",
        );
    }
}

/// A look-alike with a Cyrillic letter slips past an exact-string deny rule; brig accepts
/// only ASCII (punycode) names.
#[test]
fn unicode_look_alikes_are_refused() {
    both_ways(
        not_secret,
        (&["*.corp.test"], &["secret.corp.test"]),
        "CONNECT secr\u{0435}t.corp.test:PORT HTTP/1.1\r\n\r\n",
        "",
    );
}

/// Punycode is a different name: `xn--` forms of a look-alike do not match the real one.
#[test]
fn punycode_is_not_the_name_it_looks_like() {
    both_ways(
        anything,
        (&["secret.corp.test"], &[]),
        "CONNECT xn--secrt-2ve.corp.test:PORT HTTP/1.1\r\n\r\n",
        "not allowed",
    );
}

/// An empty allowlist allows nothing (a proxy that treats "no rules" as "no restriction"
/// lets everything through).
#[test]
fn an_empty_allowlist_allows_nothing() {
    both_ways(
        anything,
        (&[], &[]),
        "CONNECT anything.test:PORT HTTP/1.1\r\n\r\n",
        "not allowed",
    );
}

/// Numeric host forms that getaddrinfo reads as 127.0.0.1.
#[test]
fn numeric_host_tricks_are_refused() {
    for host in ["2130706433", "127.1", "0x7f000001", "0177.0.0.1"] {
        both_ways(
            anything,
            (&["allowed.test"], &[]),
            &format!("CONNECT {host}:PORT HTTP/1.1\r\n\r\n"),
            "",
        );
    }
}

/// SOCKS5 by IP literal without an IP rule, and by an allowed name that rebinds to loopback.
#[test]
fn socks5_applies_the_same_rules() {
    let srv = server();
    let b = brig(&["evil.rebind.test", "ok.test"], &[], &["ok.test"]);
    let socks = |addr: &[u8]| -> u8 {
        let mut s = TcpStream::connect(("127.0.0.1", b.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&[5, 1, 0]).unwrap();
        let mut g = [0u8; 2];
        s.read_exact(&mut g).unwrap();
        assert_eq!(g, [5, 0]);
        let mut req = vec![5, 1, 0];
        req.extend_from_slice(addr);
        req.extend_from_slice(&srv.port.to_be_bytes());
        s.write_all(&req).unwrap();
        let mut rep = [0u8; 10];
        s.read_exact(&mut rep).unwrap();
        rep[1]
    };
    assert_eq!(
        socks(&[1, 127, 0, 0, 1]),
        2,
        "an IP literal needs an IP rule"
    );
    let name = |n: &str| {
        let mut v = vec![3, n.len() as u8];
        v.extend_from_slice(n.as_bytes());
        v
    };
    assert_eq!(socks(&name("evil.rebind.test")), 2);
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(socks(&name("ok.test")), 0);
    let recs = b.finish();
    assert_eq!(recs.iter().filter(|r| !r.allowed).count(), 2);
    assert_eq!(recs.iter().filter(|r| r.allowed).count(), 1);
}

/// Shutdown closes open tunnels (a command's connection does not outlive its run) and every
/// connection is recorded by the time it returns.
#[test]
fn shutdown_closes_open_tunnels_and_records_them() {
    let srv = server();
    let b = brig(&["allowed.test"], &[], &["allowed.test"]);
    let mut s = TcpStream::connect(("127.0.0.1", b.port)).unwrap();
    s.write_all(format!("CONNECT allowed.test:{} HTTP/1.1\r\n\r\n", srv.port).as_bytes())
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    s.write_all(b"\x00\x01 not tls").unwrap();
    // The tunnel is up and relaying: the echo came back.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut echo = [0u8; 10];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"\x00\x01 not tls");
    let recs = b.finish();
    assert_eq!(recs.len(), 1);
    assert!(recs[0].allowed);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Then the end: the proxy closed the tunnel.
    assert!(rest.is_empty(), "{rest:?}");
}

/// When the recorder fails (the audit log cannot be written), nothing goes through any more.
#[test]
fn a_failing_recorder_stops_all_traffic() {
    let srv = server();
    let proxy = Proxy::new(
        Config {
            rules: NetRules {
                allow: vec![HostRule::parse("allowed.test").unwrap()],
                deny: vec![],
            },
            hosts: vec![("allowed.test".into(), IpAddr::V4(Ipv4Addr::LOCALHOST))],
            ask_unknown: None,
            resolver: None,
        },
        Box::new(|_| Err("disk full".into())),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    proxy.serve(l).unwrap();
    let req = format!("CONNECT allowed.test:{} HTTP/1.1\r\n\r\n", srv.port);
    // The first connection is made (its record fails at its end)...
    assert_eq!(
        send(port, req.as_bytes(), b"x"),
        "HTTP/1.1 200 Connection established ECHOED"
    );
    // ...and once that failure is in (the record is written when the connection has ended,
    // on the proxy's thread), every later connection is closed without one upstream.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !send(port, req.as_bytes(), b"x").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy never stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = srv.accepted.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(send(port, req.as_bytes(), b"x"), "");
    }
    assert_eq!(srv.accepted.load(Ordering::SeqCst), before);
    assert_eq!(proxy.shutdown().as_deref(), Some("disk full"));
}

/// A second request pipelined behind an allowed one (naming another host on the same server)
/// is not forwarded: only the first request's head and body reach the server.
#[test]
fn pipelined_requests_do_not_reach_the_server() {
    let srv = server();
    let req = format!(
        "POST http://allowed.test:{0}/ HTTP/1.1\r\nHost: allowed.test:{0}\r\nContent-Length: 4\r\n\r\nbody\
         GET http://evil.test:{0}/ HTTP/1.1\r\nHost: evil.test:{0}\r\n\r\n",
        srv.port
    );
    let read_all = |port: u16| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    // The echo server sends back what reached it.
    let naive_port = naive(mentions_allowed);
    assert!(
        read_all(naive_port).contains("Host: evil.test"),
        "the naive proxy forwards it"
    );
    let b = brig(&["allowed.test"], &[], &["allowed.test"]);
    let echoed = read_all(b.port);
    assert!(echoed.starts_with("POST / HTTP/1.1\r\n"), "{echoed:?}");
    assert!(echoed.ends_with("\r\n\r\nbody"), "{echoed:?}");
    assert!(!echoed.contains("evil"), "{echoed:?}");
    let recs = b.finish();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].method.as_deref(), Some("POST"));
}

/// The sandbox cannot make brig start threads without bound: beyond
/// `MAX_CONNECTIONS` open at once, a new connection is closed at once and recorded.
#[test]
fn connections_beyond_the_cap_are_refused() {
    let b = brig(&["allowed.test"], &[], &["allowed.test"]);
    // Idle clients that never send their request hold their slots.
    let mut idle: Vec<TcpStream> = (0..brig_net::proxy::MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", b.port)).unwrap())
        .collect();
    // Once the proxy has taken them all, the next one is closed at once (end of stream or a
    // reset) instead of waiting for its request like the idle ones. Until then (the acceptor
    // may still be catching up) a newcomer is simply one more idle client.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 16];
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no connection was refused"
        );
        let mut extra = TcpStream::connect(("127.0.0.1", b.port)).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        match extra.read(&mut buf) {
            Ok(0) => break,
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                break
            }
            _ => idle.push(extra),
        }
    }
    drop(idle);
    let recs = b.finish();
    assert!(recs.iter().any(|r| r
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("too many connections"))));
}
