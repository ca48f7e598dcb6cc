//! brig's network proxy.
//!
//! A sandboxed command reaches the network only through a proxy on its loopback. The proxy speaks
//! the HTTP proxy protocol (`CONNECT host:port` tunnels and absolute-form `GET http://host/path`
//! requests) and SOCKS5 on one port, telling them apart by the first byte (`0x05` is SOCKS5).
//! Every destination is checked against the policy before a connection is made, and for tunnels
//! the TLS ClientHello's server name is checked against the `CONNECT` host.
//!
//! The crate is split so the security boundary can be tested on its own:
//!
//! - [`wire`] holds the wire formats as pure functions over byte slices: no sockets, no threads,
//!   no OS calls. They parse strictly (one spelling of each construct, everything ambiguous is an
//!   error) because the proxy, the policy and the upstream server must all agree on which host a
//!   request is for and where it ends: a lenient parser here is how request smuggling and host
//!   confusion get in. Hosts are returned exactly as written; validating and normalizing them is
//!   the policy's job.
//! - [`proxy`] (the server) owns the sockets and threads and uses [`wire`] for every byte it
//!   interprets and `brig_policy::net` for every host it decides on. It runs outside the
//!   sandbox, in brig, on a listener created inside the sandbox's network namespace.
#![deny(missing_docs)]

pub mod proxy;
pub mod wire;
