//! The proxy server: one listener, HTTP proxy protocol (CONNECT and absolute-form requests)
//! and SOCKS5 (CONNECT, domain names resolved here), sniffed from the first byte.
//!
//! One connection's path:
//!
//! ```text
//! accept ─▶ handshake (wire.rs, strict) ─▶ host parsed and normalized (brig_policy::net)
//!        ─▶ allowlist decision (deny wins; empty allows nothing; unknown hosts may be asked)
//!        ─▶ resolved here ([network.hosts] first) ─▶ every address public, or refused
//!        ─▶ connected to exactly the address checked ─▶ for tunnels, the TLS ClientHello's
//!           SNI must name the same host ─▶ relayed both ways ─▶ one record
//! ```
//!
//! Each connection runs on threads of its own (two while relaying), so a slow client never
//! holds up another. Every connection, allowed or refused, ends in exactly one [`Record`]
//! handed to the recorder; when the recorder fails (the audit log cannot be written), the
//! proxy refuses everything from then on: nothing crosses the network unrecorded.
//! [`Proxy::shutdown`] closes the listener and every open connection, waits for their
//! records, and returns the recorder's first error, if any.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use brig_policy::net::{is_public, parse_authority, parse_host, Host, NetDecision, NetRules};

use crate::wire::{self, Hello, HttpHead, SocksAddr, Target};

/// How long a client may take to send its request (and, in a tunnel, its first bytes).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to an upstream address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a tunnel waits for the client's first bytes before relaying them unchecked (a
/// protocol where the server speaks first, which has no ClientHello to check).
const SNIFF_TIMEOUT: Duration = Duration::from_secs(10);
/// Relay buffer size, each direction.
const BUF: usize = 64 * 1024;
/// Connections served at once; beyond, a new one is closed at once (and recorded): the
/// sandbox cannot make brig start threads without bound.
pub const MAX_CONNECTIONS: usize = 256;

/// What the proxy was asked to do and what it did: one per connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When the connection was accepted.
    pub started: SystemTime,
    /// `http` (absolute-form request), `connect` (HTTP CONNECT tunnel) or `socks5`; `unknown`
    /// when the handshake could not be read.
    pub protocol: &'static str,
    /// The HTTP method (`CONNECT`, `GET`, ...), if any.
    pub method: Option<String>,
    /// The destination host as normalized (or as written, escaped, when it did not parse).
    pub host: String,
    /// The destination port (0 when unknown).
    pub port: u16,
    /// The full URL of an absolute-form request.
    pub url: Option<String>,
    /// The TLS server name the client sent in its ClientHello, if any.
    pub sni: Option<String>,
    /// The TLS version of the ClientHello (`TLS 1.2`, `TLS 1.3`), if any.
    pub tls_version: Option<String>,
    /// The address connected to, when a connection was made.
    pub address: Option<SocketAddr>,
    /// Whether the connection was allowed.
    pub allowed: bool,
    /// The rule behind the decision (`example.com`, `approved: example.com`), if any.
    pub rule: Option<String>,
    /// Why it was refused or failed, in words.
    pub reason: Option<String>,
    /// Bytes from the destination to the client.
    pub bytes_in: u64,
    /// Bytes from the client to the destination.
    pub bytes_out: u64,
    /// From accept to close.
    pub duration: Duration,
    /// The client's port on the sandbox's loopback (to match a connection to a process).
    pub client_port: u16,
}

impl Record {
    /// The record of a connection just accepted from `peer`: nothing known yet, refused
    /// until something allows it.
    fn accepted(peer: SocketAddr) -> Record {
        Record {
            started: SystemTime::now(),
            protocol: "unknown",
            method: None,
            host: String::new(),
            port: 0,
            url: None,
            sni: None,
            tls_version: None,
            address: None,
            allowed: false,
            rule: None,
            reason: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::ZERO,
            client_port: peer.port(),
        }
    }
}

/// Decides a host the allowlist does not name (not denied by a rule either): `true` lets it
/// through. brig asks a human here when the approval policy allows it.
pub type AskUnknown = Box<dyn Fn(&Host, u16) -> bool + Send + Sync>;
/// Receives every [`Record`]; an error means the record was not kept (the proxy then refuses
/// everything).
pub type Recorder = Box<dyn Fn(&Record) -> Result<(), String> + Send + Sync>;
/// Resolves a name to addresses (DNS by default; tests may replace it).
pub type Resolver = Box<dyn Fn(&str, u16) -> io::Result<Vec<IpAddr>> + Send + Sync>;

/// What the proxy enforces.
pub struct Config {
    /// The allowlist.
    pub rules: NetRules,
    /// Fixed addresses for names (`[network.hosts]`): used instead of DNS, and allowed to be
    /// loopback or private because the user wrote them.
    pub hosts: Vec<(String, IpAddr)>,
    /// Asked about hosts the allowlist does not name; `None` refuses them.
    pub ask_unknown: Option<AskUnknown>,
    /// The resolver; `None` is the system's (`getaddrinfo`).
    pub resolver: Option<Resolver>,
}

struct Inner {
    config: Config,
    recorder: Recorder,
    stopping: AtomicBool,
    failed: Mutex<Option<String>>,
    next_id: AtomicU64,
    active: std::sync::atomic::AtomicUsize,
    /// Open client and upstream sockets, to be shut down at the end.
    open: Mutex<Vec<(u64, TcpStream)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    listeners: Mutex<Vec<TcpListener>>,
}

/// A running proxy. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl Proxy {
    /// A proxy enforcing `config`, reporting to `recorder`.
    pub fn new(config: Config, recorder: Recorder) -> Proxy {
        Proxy {
            inner: Arc::new(Inner {
                config,
                recorder,
                stopping: AtomicBool::new(false),
                failed: Mutex::new(None),
                next_id: AtomicU64::new(0),
                active: std::sync::atomic::AtomicUsize::new(0),
                open: Mutex::new(Vec::new()),
                threads: Mutex::new(Vec::new()),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Serves connections accepted on `listener` on a thread of its own, until
    /// [`Proxy::shutdown`].
    pub fn serve(&self, listener: TcpListener) -> io::Result<()> {
        let keep = listener.try_clone()?;
        lock(&self.inner.listeners).push(keep);
        let me = self.clone();
        let t = std::thread::Builder::new()
            .name("brig-proxy".into())
            .spawn(move || me.accept_loop(listener))?;
        lock(&self.inner.threads).push(t);
        Ok(())
    }

    fn accept_loop(&self, listener: TcpListener) {
        loop {
            let (client, peer) = match listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if self.inner.stopping.load(Ordering::SeqCst) {
                break;
            }
            if self.inner.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                self.inner.active.fetch_sub(1, Ordering::SeqCst);
                self.refuse_busy(client, peer);
                continue;
            }
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("brig-proxy-conn".into())
                .spawn(move || {
                    me.handle(client, peer);
                    me.inner.active.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                self.inner.active.fetch_sub(1, Ordering::SeqCst);
            }
            if let Ok(t) = spawned {
                let mut threads = lock(&self.inner.threads);
                threads.retain(|t| !t.is_finished());
                threads.push(t);
            }
        }
    }

    /// Closes a connection beyond [`MAX_CONNECTIONS`] and records it as refused.
    fn refuse_busy(&self, client: TcpStream, peer: SocketAddr) {
        let _ = client.shutdown(Shutdown::Both);
        let mut rec = Record::accepted(peer);
        rec.reason = Some(format!(
            "too many connections at once (brig serves at most {MAX_CONNECTIONS})"
        ));
        if let Err(e) = (self.inner.recorder)(&rec) {
            lock(&self.inner.failed).get_or_insert(e);
        }
    }

    /// Stops accepting, closes every open connection, waits until each has been recorded and
    /// returns the recorder's first error (the audit log could not be written), if any.
    pub fn shutdown(&self) -> Option<String> {
        self.inner.stopping.store(true, Ordering::SeqCst);
        for l in lock(&self.inner.listeners).drain(..) {
            wake_listener(&l);
        }
        for (_, s) in lock(&self.inner.open).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        loop {
            let t = lock(&self.inner.threads).pop();
            let Some(t) = t else { break };
            let _ = t.join();
            // Connections accepted while we waited are shut down too.
            for (_, s) in lock(&self.inner.open).drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        lock(&self.inner.failed).clone()
    }

    fn register(&self, s: &TcpStream) -> Option<u64> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let c = s.try_clone().ok()?;
        let mut open = lock(&self.inner.open);
        if self.inner.stopping.load(Ordering::SeqCst) {
            let _ = s.shutdown(Shutdown::Both);
            return None;
        }
        open.push((id, c));
        Some(id)
    }

    fn unregister(&self, id: Option<u64>) {
        if let Some(id) = id {
            lock(&self.inner.open).retain(|(i, _)| *i != id);
        }
    }

    fn handle(&self, mut client: TcpStream, peer: SocketAddr) {
        let t0 = Instant::now();
        let mut rec = Record::accepted(peer);
        if lock(&self.inner.failed).is_some() {
            // The audit log is broken: nothing goes through unrecorded.
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let cid = self.register(&client);
        if cid.is_some() {
            self.serve_client(&mut client, &mut rec);
        } else {
            rec.reason = Some("brig is shutting down".into());
        }
        self.unregister(cid);
        let _ = client.shutdown(Shutdown::Both);
        rec.duration = t0.elapsed();
        if let Err(e) = (self.inner.recorder)(&rec) {
            lock(&self.inner.failed).get_or_insert(e);
        }
    }

    fn serve_client(&self, client: &mut TcpStream, rec: &mut Record) {
        let _ = client.set_nodelay(true);
        let _ = client.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        let mut buf = Vec::with_capacity(4096);
        if let Err(e) = read_more(client, &mut buf) {
            rec.reason = Some(format!("the client sent nothing ({e})"));
            return;
        }
        if buf.first() == Some(&5) {
            rec.protocol = "socks5";
            self.socks(client, buf, rec);
        } else {
            self.http(client, buf, rec);
        }
    }

    fn http(&self, client: &mut TcpStream, mut buf: Vec<u8>, rec: &mut Record) {
        let head = loop {
            match wire::parse_http_head(&buf) {
                Ok(Some(h)) => break h,
                Ok(None) => {
                    if let Err(e) = read_more(client, &mut buf) {
                        rec.reason = Some(format!("incomplete request ({e})"));
                        return;
                    }
                }
                Err(e) => {
                    rec.protocol = "http";
                    rec.reason = Some(format!("malformed request: {e}"));
                    http_error(client, 400, "Bad Request", &format!("brig: {e}"));
                    return;
                }
            }
        };
        rec.method = Some(head.method.clone());
        let (authority, default_port) = match &head.target {
            Target::Authority(a) => {
                rec.protocol = "connect";
                (a.clone(), None)
            }
            Target::Absolute { authority, path } => {
                rec.protocol = "http";
                rec.url = Some(format!("http://{authority}{path}"));
                (authority.clone(), Some(80))
            }
        };
        let (host, port) = match parse_authority(&authority, default_port) {
            Ok(hp) => hp,
            Err(e) => {
                rec.host = authority.escape_debug().to_string();
                rec.reason = Some(format!("bad destination: {e}"));
                http_error(client, 400, "Bad Request", &format!("brig: {e}"));
                return;
            }
        };
        rec.host = host.as_string();
        rec.port = port;
        let upstream = match self.open_upstream(&host, port, rec) {
            Ok(u) => u,
            Err(status) => {
                let why = rec.reason.clone().unwrap_or_default();
                let (code, text) = status;
                http_error(client, code, text, &format!("brig: {why}"));
                return;
            }
        };
        let rest = buf[head.head_len..].to_vec();
        match &head.target {
            Target::Authority(_) => {
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .is_err()
                {
                    rec.reason = Some("the client went away".into());
                    return;
                }
                self.tunnel(client, upstream, rest, &host, rec);
            }
            Target::Absolute { .. } => {
                let body = match head.body() {
                    Ok(b) => b,
                    Err(e) => {
                        rec.allowed = false;
                        rec.reason = Some(format!("malformed request: {e}"));
                        http_error(client, 400, "Bad Request", &format!("brig: {e}"));
                        return;
                    }
                };
                self.forward(client, upstream, &head, body, rest, rec);
            }
        }
    }

    fn socks(&self, client: &mut TcpStream, mut buf: Vec<u8>, rec: &mut Record) {
        let (used, no_auth) = loop {
            match wire::parse_socks_greeting(&buf) {
                Ok(Some(g)) => break g,
                Ok(None) => {
                    if let Err(e) = read_more(client, &mut buf) {
                        rec.reason = Some(format!("incomplete SOCKS5 greeting ({e})"));
                        return;
                    }
                }
                Err(e) => {
                    rec.reason = Some(format!("malformed SOCKS5 greeting: {e}"));
                    return;
                }
            }
        };
        buf.drain(..used);
        if !no_auth {
            let _ = client.write_all(&[5, 0xff]);
            rec.reason = Some(
                "the SOCKS5 client offered no method brig supports (no authentication)".into(),
            );
            return;
        }
        if client.write_all(&[5, 0]).is_err() {
            return;
        }
        let req = loop {
            match wire::parse_socks_request(&buf) {
                Ok(Some(r)) => break r,
                Ok(None) => {
                    if let Err(e) = read_more(client, &mut buf) {
                        rec.reason = Some(format!("incomplete SOCKS5 request ({e})"));
                        return;
                    }
                }
                Err(e) => {
                    rec.reason = Some(format!("malformed SOCKS5 request: {e}"));
                    let _ = client.write_all(&wire::socks_reply(wire::SOCKS_GENERAL_FAILURE));
                    return;
                }
            }
        };
        rec.port = req.port;
        let host = match &req.addr {
            SocksAddr::Domain(d) => match parse_host(d) {
                Ok(h) => h,
                Err(e) => {
                    rec.host = d.escape_debug().to_string();
                    rec.reason = Some(format!("bad destination: {e}"));
                    let _ = client.write_all(&wire::socks_reply(wire::SOCKS_NOT_ALLOWED));
                    return;
                }
            },
            SocksAddr::V4(a) => Host::Ip(IpAddr::V4(*a)),
            SocksAddr::V6(a) => Host::Ip(IpAddr::V6(*a)),
        };
        rec.host = host.as_string();
        if req.command != 1 {
            rec.reason = Some(format!(
                "SOCKS5 command {} is not supported (only CONNECT)",
                req.command
            ));
            let _ = client.write_all(&wire::socks_reply(wire::SOCKS_COMMAND_NOT_SUPPORTED));
            return;
        }
        let upstream = match self.open_upstream(&host, req.port, rec) {
            Ok(u) => u,
            Err((code, _)) => {
                let rep = match code {
                    403 => wire::SOCKS_NOT_ALLOWED,
                    504 => wire::SOCKS_HOST_UNREACHABLE,
                    _ => wire::SOCKS_CONNECTION_REFUSED,
                };
                let _ = client.write_all(&wire::socks_reply(rep));
                return;
            }
        };
        if client
            .write_all(&wire::socks_reply(wire::SOCKS_OK))
            .is_err()
        {
            rec.reason = Some("the client went away".into());
            return;
        }
        let rest = buf[req.len..].to_vec();
        self.tunnel(client, upstream, rest, &host, rec);
    }

    /// Decides, resolves and connects. On refusal or failure, `rec.reason` says why and the
    /// HTTP status to answer is returned (403 refused, 502 failed, 504 unresolvable).
    fn open_upstream(
        &self,
        host: &Host,
        port: u16,
        rec: &mut Record,
    ) -> Result<TcpStream, (u16, &'static str)> {
        let cfg = &self.inner.config;
        match cfg.rules.decide(host, port) {
            NetDecision::Allow { rule } => rec.rule = Some(rule),
            NetDecision::Deny {
                rule: Some(rule),
                reason,
            } => {
                rec.rule = Some(rule);
                rec.reason = Some(format!("{host}:{port} is denied ({reason})"));
                return Err((403, "Forbidden"));
            }
            NetDecision::Deny { rule: None, reason } => {
                let approved = cfg.ask_unknown.as_ref().is_some_and(|ask| ask(host, port));
                if !approved {
                    rec.reason = Some(format!(
                        "{host}:{port} is not allowed ({reason}; allow it with `--allow-host {host}` or `[network] allow`)"
                    ));
                    return Err((403, "Forbidden"));
                }
                rec.rule = Some(format!("approved: {host}"));
            }
        }
        // Where to connect: an address written by the user, an IP literal, or DNS, whose
        // answers must all be public (DNS rebinding to loopback, cloud metadata).
        let addrs: Vec<IpAddr> = match host {
            Host::Ip(ip) => {
                // An IP literal is allowed only by a rule naming it, which is explicit.
                vec![*ip]
            }
            Host::Name(n) => {
                if let Some((_, ip)) = cfg.hosts.iter().find(|(h, _)| h == n) {
                    vec![*ip]
                } else {
                    let found = match &cfg.resolver {
                        Some(r) => r(n, port),
                        None => system_resolve(n, port),
                    };
                    let found = match found {
                        Ok(a) if !a.is_empty() => a,
                        Ok(_) => {
                            rec.reason = Some(format!("{n} has no address"));
                            return Err((504, "Gateway Timeout"));
                        }
                        Err(e) => {
                            rec.reason = Some(format!("{n} could not be resolved ({e})"));
                            return Err((504, "Gateway Timeout"));
                        }
                    };
                    if let Some(bad) = found.iter().find(|a| !is_public(**a)) {
                        rec.allowed = false;
                        rec.reason = Some(format!(
                            "{n} resolves to {bad}, which is not a public address (loopback, private, link-local or reserved); name it in [network.hosts] to reach it"
                        ));
                        return Err((403, "Forbidden"));
                    }
                    found
                }
            }
        };
        let mut last = None;
        for ip in addrs {
            let sa = SocketAddr::new(ip, port);
            match TcpStream::connect_timeout(&sa, CONNECT_TIMEOUT) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    rec.address = Some(sa);
                    rec.allowed = true;
                    return Ok(s);
                }
                Err(e) => last = Some((sa, e)),
            }
        }
        rec.allowed = true;
        rec.reason = Some(match last {
            Some((sa, e)) => format!("connecting to {sa} failed: {e}"),
            None => "no address to connect to".into(),
        });
        Err((502, "Bad Gateway"))
    }

    /// A tunnel (CONNECT, SOCKS5): the server's bytes flow at once; the client's first bytes
    /// are checked first. When they are a TLS ClientHello, its server name must be the host
    /// the tunnel was opened for.
    fn tunnel(
        &self,
        client: &mut TcpStream,
        upstream: TcpStream,
        mut first: Vec<u8>,
        host: &Host,
        rec: &mut Record,
    ) {
        let uid = self.register(&upstream);
        if uid.is_none() {
            return;
        }
        // Server to client starts now (protocols where the server speaks first).
        let down = self.spawn_copy(&upstream, client);
        let _ = client.set_read_timeout(Some(SNIFF_TIMEOUT));
        let verdict = loop {
            match wire::sniff_client_hello(&first) {
                Ok(Hello::NeedMore) => match read_more(client, &mut first) {
                    Ok(()) => continue,
                    // Nothing more from the client: whatever it sent (if anything) is not a
                    // ClientHello, and the tunnel stays as allowed.
                    // A TLS record started but never completed is not let through unchecked.
                    Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::UnexpectedEof => {
                        if first.first() == Some(&0x16) {
                            break Err(format!(
                                "the TLS ClientHello never completed ({} bytes)",
                                first.len()
                            ));
                        }
                        break Ok(());
                    }
                    Err(e) => break Err(format!("the client went away ({e})")),
                },
                Ok(Hello::NotTls) => break Ok(()),
                Ok(Hello::ClientHello { sni, version }) => {
                    rec.tls_version = Some(version);
                    if let Some(name) = sni {
                        rec.sni = Some(name.escape_debug().to_string());
                        match parse_host(&name) {
                            Ok(h) if &h == host => {}
                            _ => {
                                break Err(format!(
                                    "the TLS server name {:?} is not the host the tunnel was opened for ({host})",
                                    name
                                ))
                            }
                        }
                    }
                    break Ok(());
                }
                Err(e) => break Err(format!("malformed TLS ClientHello: {e}")),
            }
        };
        let _ = client.set_read_timeout(None);
        match verdict {
            Ok(()) => {
                rec.bytes_out = copy_from(client, &upstream, first);
            }
            Err(why) => {
                rec.allowed = false;
                rec.reason = Some(why);
                let _ = upstream.shutdown(Shutdown::Both);
            }
        }
        rec.bytes_in = join_copy(down);
        let _ = upstream.shutdown(Shutdown::Both);
        self.unregister(uid);
    }

    /// A forwarded request: the rewritten head, then exactly its body (by Content-Length or
    /// chunked framing) and nothing after it: a second request pipelined behind the first is
    /// never sent to the first one's server (it could name another host on a shared server).
    /// The response is relayed until the server closes (`Connection: close` upstream).
    fn forward(
        &self,
        client: &mut TcpStream,
        upstream: TcpStream,
        head: &HttpHead,
        body: wire::Body,
        rest: Vec<u8>,
        rec: &mut Record,
    ) {
        let uid = self.register(&upstream);
        if uid.is_none() {
            return;
        }
        let down = self.spawn_copy(&upstream, client);
        if let Ok(mut up) = upstream.try_clone() {
            rec.bytes_out = send_request(client, &mut up, head, body, rest, rec);
        }
        // Anything the client sends after the request (a pipelined request) is dropped; when
        // it closes, or the response has been relayed and the client went, so does upstream.
        let mut sink = [0u8; 8192];
        while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
        let _ = upstream.shutdown(Shutdown::Both);
        rec.bytes_in = join_copy(down);
        let _ = upstream.shutdown(Shutdown::Both);
        self.unregister(uid);
    }

    /// Copies `from` to `to` on a thread of its own; the count comes back from the handle.
    fn spawn_copy(&self, from: &TcpStream, to: &TcpStream) -> Option<JoinHandle<u64>> {
        let (mut f, mut t) = (from.try_clone().ok()?, to.try_clone().ok()?);
        std::thread::Builder::new()
            .name("brig-proxy-relay".into())
            .spawn(move || {
                let n = pump(&mut f, &mut t);
                // The other side sees the end of this direction.
                let _ = t.shutdown(Shutdown::Write);
                n
            })
            .ok()
    }
}

/// Sends the rewritten head and exactly the body that follows it; returns the bytes sent.
fn send_request(
    client: &mut TcpStream,
    up: &mut TcpStream,
    head: &HttpHead,
    body: wire::Body,
    rest: Vec<u8>,
    rec: &mut Record,
) -> u64 {
    let head_bytes = wire::upstream_head(head);
    if up.write_all(&head_bytes).is_err() {
        return 0;
    }
    let mut sent = head_bytes.len() as u64;
    let mut chunked = wire::ChunkedBody::new();
    let is_chunked = matches!(body, wire::Body::Chunked);
    let mut left = match body {
        wire::Body::Length(n) => n,
        _ => 0,
    };
    let mut pending = rest;
    let mut buf = vec![0u8; BUF];
    while left > 0 || (is_chunked && !chunked.is_done()) {
        if pending.is_empty() {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        let take = if is_chunked {
            match chunked.feed(&pending) {
                Ok(None) => pending.len(),
                Ok(Some(n)) => n,
                Err(e) => {
                    rec.reason = Some(format!("malformed request body: {e}"));
                    break;
                }
            }
        } else {
            pending
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX))
        };
        if up.write_all(&pending[..take]).is_err() {
            break;
        }
        sent += take as u64;
        left = left.saturating_sub(take as u64);
        pending.drain(..take);
        if is_chunked && chunked.is_done() {
            break;
        }
    }
    sent
}

fn join_copy(h: Option<JoinHandle<u64>>) -> u64 {
    h.and_then(|h| h.join().ok()).unwrap_or(0)
}

/// Sends `first`, then copies the client's bytes upstream until it closes; half-closes the
/// upstream's write side at the end. Returns the bytes sent.
fn copy_from(client: &mut TcpStream, upstream: &TcpStream, first: Vec<u8>) -> u64 {
    let Ok(mut up) = upstream.try_clone() else {
        return 0;
    };
    let mut n = 0u64;
    if !first.is_empty() {
        if up.write_all(&first).is_err() {
            return 0;
        }
        n += first.len() as u64;
    }
    n += pump(client, &mut up);
    let _ = up.shutdown(Shutdown::Write);
    n
}

/// Copies until end of stream or an error; returns the bytes written.
fn pump(from: &mut TcpStream, to: &mut TcpStream) -> u64 {
    #[cfg(target_os = "linux")]
    if let Some(n) = splice_pump(from, to) {
        return n;
    }
    copy_pump(from, to)
}

/// [`pump`] with splice(2) through a pipe: the bytes move from socket to socket inside the
/// kernel (what makes the proxy nearly as fast as a direct connection). `None` when no pipe
/// can be made (then nothing was read, and the caller copies instead).
#[cfg(target_os = "linux")]
fn splice_pump(from: &TcpStream, to: &TcpStream) -> Option<u64> {
    use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};
    const PIPE: usize = 1 << 20;
    let (r, w) = pipe_with(PipeFlags::CLOEXEC).ok()?;
    // A larger pipe moves more per call; the default (64 KiB) is what an unprivileged user
    // may be limited to, and works too.
    let cap = fcntl_setpipe_size(&w, PIPE).unwrap_or(BUF);
    let mut total = 0u64;
    loop {
        let got = match splice(from, None, &w, None, cap, SpliceFlags::MOVE) {
            Ok(0) => return Some(total),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return Some(total),
        };
        let mut left = got;
        while left > 0 {
            match splice(&r, None, to, None, left, SpliceFlags::MOVE) {
                Ok(0) => return Some(total),
                Ok(n) => {
                    left -= n;
                    total += n as u64;
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return Some(total),
            }
        }
    }
}

/// [`pump`] through a buffer.
fn copy_pump(from: &mut TcpStream, to: &mut TcpStream) -> u64 {
    let mut buf = vec![0u8; BUF];
    let mut n = 0u64;
    loop {
        let r = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if to.write_all(&buf[..r]).is_err() {
            break;
        }
        n += r as u64;
    }
    n
}

/// Reads what is available into `buf` (at most what a handshake may need); end of stream
/// is an error here.
fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.len() >= wire::MAX_HEAD * 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the handshake is too long",
        ));
    }
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ))
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn http_error(client: &mut TcpStream, code: u16, text: &str, body: &str) {
    // Only printable text in the body: it may quote what the client sent.
    let body: String = body
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let body = format!("{body}\n");
    let msg = format!(
        "HTTP/1.1 {code} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(msg.as_bytes());
}

fn system_resolve(name: &str, port: u16) -> io::Result<Vec<IpAddr>> {
    use std::net::ToSocketAddrs;
    Ok((name, port).to_socket_addrs()?.map(|a| a.ip()).collect())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes a thread blocked in `accept` on `l` return.
fn wake_listener(l: &TcpListener) {
    #[cfg(unix)]
    {
        // shutdown(2) on a listening socket makes a blocked accept fail at once (Linux).
        let _ = rustix::net::shutdown(l, rustix::net::Shutdown::Read);
    }
    #[cfg(not(unix))]
    {
        let _ = l.set_nonblocking(true);
    }
}
