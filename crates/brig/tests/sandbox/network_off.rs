//! With the network off (the default): no IP socket at all (not even to a listener on the
//! host's loopback), no host daemon socket under /run, no host abstract unix socket; AF_UNIX
//! inside the sandbox still works.

use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::Path;

use crate::support::*;

/// `net.py KIND ARG`: tries one socket operation, prints `KIND: ok` or `KIND: <error>`.
const NET_PROBE: &str = r#"
import socket, sys
kind, arg = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
try:
    if kind == "tcp":
        s = socket.create_connection(("127.0.0.1", int(arg)), timeout=5)
    elif kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", ("127.0.0.1", int(arg)))
    elif kind == "tcp6":
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    elif kind == "netlink":
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    elif kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(arg)
    elif kind == "abstract":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect("\0" + arg)
    elif kind == "local":
        a, b = socket.socketpair()
        a.sendall(b"ping")
        assert b.recv(4) == b"ping"
        srv = socket.socket(socket.AF_UNIX)
        srv.bind("/tmp/inside.sock")
        srv.listen(1)
        c = socket.socket(socket.AF_UNIX)
        c.connect("/tmp/inside.sock")
    print(kind + ": ok")
except OSError as e:
    print(kind + ": " + (e.strerror or str(e)))
"#;

fn probe(w: &World) -> String {
    w.write("aux/net.py", NET_PROBE);
    w.path("aux/net.py").display().to_string()
}

both_identities!(
    ip_sockets_refused,
    run_socket_unreachable,
    abstract_socket_unreachable,
    local_unix_sockets_work,
    host_socket_outside_roots_unreachable,
);

/// TCP to a listener on the host's loopback, UDP, IPv6 and netlink sockets: fine outside,
/// refused at socket creation inside.
fn ip_sockets_refused(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let p = probe(&w);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let uport = udp.local_addr().unwrap().port().to_string();
    for (kind, arg) in [
        ("tcp", port.as_str()),
        ("udp", uport.as_str()),
        ("tcp6", ""),
        ("netlink", ""),
    ] {
        let outside = w.sh(&format!("python3 {p} {kind} {arg}"));
        assert_eq!(
            probe_line(&outside, kind),
            "ok",
            "{kind} outside:\n{outside}"
        );
        let inside = w.brig_sh(&[], &format!("python3 {p} {kind} {arg}"));
        inside.ok();
        assert_eq!(
            probe_line(&inside, kind),
            "Operation not permitted",
            "{kind} inside:\n{inside}"
        );
    }
    drop(listener);
}

/// A host daemon's unix socket under /run (made by the test, root only) is unreachable.
fn run_socket_unreachable(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3", "root"]) {
        return;
    }
    if !Path::new("/run").is_dir() {
        eprintln!("SKIP {}: no /run on this host", t.name);
        return;
    }
    let w = t.world();
    let p = probe(&w);
    let path = format!("/run/brig-test-{}.sock", t.marker("run"));
    struct Rm(String);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(path.clone());
    let _listener = UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let outside = w.sh(&format!("python3 {p} unix {path}"));
    assert_eq!(probe_line(&outside, "unix"), "ok", "{outside}");
    let inside = w.brig_sh(&[], &format!("python3 {p} unix {path}; ls -A /run"));
    inside.ok();
    assert_ne!(
        probe_line(&inside, "unix"),
        "ok",
        "host /run socket reachable:\n{inside}"
    );
    assert!(
        !inside.stdout.contains("brig-test-"),
        "host /run visible inside:\n{inside}"
    );
}

/// A host abstract unix socket is unreachable (separate network namespace).
fn abstract_socket_unreachable(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let p = probe(&w);
    let name = t.marker("abstract");
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = UnixListener::bind_addr(&addr).unwrap();
    let outside = w.sh(&format!("python3 {p} abstract {name}"));
    assert_eq!(probe_line(&outside, "abstract"), "ok", "{outside}");
    let inside = w.brig_sh(&[], &format!("python3 {p} abstract {name}"));
    inside.ok();
    assert_ne!(
        probe_line(&inside, "abstract"),
        "ok",
        "host abstract socket reachable:\n{inside}"
    );
}

/// AF_UNIX inside the sandbox (socketpair, a socket in /tmp) works with the network off.
fn local_unix_sockets_work(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let p = probe(&w);
    let inside = w.brig_sh(&[], &format!("python3 {p} local"));
    inside.ok();
    assert_eq!(probe_line(&inside, "local"), "ok", "{inside}");
}

/// A host daemon's unix socket outside /run and outside the writable roots (a socket in a
/// directory next to the workspace, like `~/.docker/run/docker.sock`) is unreachable.
fn host_socket_outside_roots_unreachable(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let p = probe(&w);
    let path = w.path("aux/d.sock");
    if path.as_os_str().len() > 100 {
        eprintln!(
            "SKIP {}: {} is too long for a unix socket",
            t.name,
            path.display()
        );
        return;
    }
    let _listener = UnixListener::bind(&path).unwrap();
    t.chown(&path);
    let path = path.display().to_string();
    let outside = w.sh(&format!("python3 {p} unix {path}"));
    assert_eq!(probe_line(&outside, "unix"), "ok", "{outside}");
    let inside = w.brig_sh(&[], &format!("python3 {p} unix {path}"));
    inside.ok();
    assert_ne!(
        probe_line(&inside, "unix"),
        "ok",
        "a host daemon socket is reachable:\n{inside}"
    );
}
