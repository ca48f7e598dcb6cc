//! `brig review`: a local web UI for the audit trail and the pending approval requests.
//!
//! # Design
//!
//! A small HTTP/1.1 server on [`std::net`], one thread per connection (at most
//! [`MAX_CONNECTIONS`] at once), one request per connection. Pages are rendered on the server
//! ([`pages`]), every value from a record or a request HTML-escaped ([`html::escape`]); the
//! one script (auto-refresh of the pending requests) and the style sheet are compiled into the
//! binary, so the UI works offline and the Content-Security-Policy allows nothing else.
//!
//! # Who may talk to it
//!
//! The server listens on `127.0.0.1` only, and every request must pass [`guard`]:
//!
//! - **A per-start token**: 32 random bytes, printed once as `http://127.0.0.1:PORT/?token=…`
//!   on the terminal of the person who started it and never written to a file. The first
//!   request trades it for an `HttpOnly; SameSite=Strict` cookie; a request with neither is
//!   refused (403).
//! - **The Host header** must be `127.0.0.1:PORT` or `localhost:PORT` (no DNS rebinding).
//! - **Every POST** must carry an `Origin` that is this server's own (a missing one is
//!   refused) and the per-start CSRF token of the form.
//!
//! Sandboxed commands run in their own network namespace by default and cannot reach the
//! host's loopback at all; with `--network on` they can connect, but without the token they
//! get 403 for everything.
//!
//! # Approvals
//!
//! The UI is an approval channel like `brig approvals`: it lists and answers requests through
//! an [`Approvals`] implementation that the `brig` binary passes in (the request files and
//! sockets are the binary's business, so this crate does not depend on it).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod guard;
pub mod html;
pub mod http;
pub mod pages;

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use guard::Secrets;
pub use pages::App;

/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 32;

/// What can go wrong starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be set up.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for (0: any).
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// No random bytes for the token.
    #[error("cannot read random bytes for the access token from /dev/urandom: {0}")]
    Random(std::io::Error),
}

/// A pending approval request as the UI shows it (the fields of `<state>/approvals/<id>.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The request id.
    pub id: String,
    /// The command as given to `brig run`.
    pub command: String,
    /// Its working directory.
    pub cwd: String,
    /// The sandbox mode it will run in once approved.
    pub mode: String,
    /// `ask`, or `widen` for a widening.
    pub decision: String,
    /// Destructive: may need two approvers.
    pub destructive: bool,
    /// What it destroys, where known.
    #[serde(default)]
    pub destroys: Vec<String>,
    /// Why it needs a human.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Distinct approvers needed.
    pub required: usize,
    /// Who approved so far.
    #[serde(default)]
    pub approved_by: Vec<String>,
    /// The scopes a reviewer may choose (`once`, `session`, `always`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When it was asked (seconds since the Unix epoch).
    #[serde(default)]
    pub asked_unix: u64,
    /// Seconds it waits in all.
    #[serde(default)]
    pub timeout_secs: u64,
}

/// The approval service, as the UI uses it.
pub trait Approvals: Send + Sync {
    /// The requests waiting now, oldest first.
    fn list(&self) -> Vec<PendingRequest>;
    /// Sends `{"op": "approve"|"deny", "approver": NAME, "scope": SCOPE}` to request `id`;
    /// returns the service's `(status, message)` or why it could not be reached.
    fn answer(&self, id: &str, answer: &serde_json::Value) -> Result<(String, String), String>;
}

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
}

impl Server {
    /// Binds `127.0.0.1:port` (0: a random free port) and makes fresh secrets.
    pub fn bind(
        port: u16,
        audit_dir: PathBuf,
        approvals: Box<dyn Approvals>,
    ) -> Result<Server, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|source| Error::Bind { port, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| Error::Bind { port, source })?
            .port();
        let secrets = Secrets::generate().map_err(Error::Random)?;
        let app = App::new(port, secrets, audit_dir, approvals);
        Ok(Server {
            listener,
            app: Arc::new(app),
        })
    }

    /// The URL to open, token included. Show it only to the person who started the server.
    pub fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/?token={}",
            self.app.port(),
            self.app.secrets().token
        )
    }

    /// Serves until the process ends.
    pub fn serve(self) -> ! {
        let active = Arc::new(AtomicUsize::new(0));
        loop {
            let Ok((stream, _)) = self.listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                let mut s = stream;
                let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = s.write_all(&http::Response::text(503, "busy\n").to_bytes());
                continue;
            }
            active.fetch_add(1, Ordering::SeqCst);
            let (app, mine) = (self.app.clone(), active.clone());
            let spawned = std::thread::Builder::new()
                .name("review-conn".into())
                .spawn(move || {
                    connection(&app, stream);
                    mine.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

fn connection(app: &App, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let response = match http::read_request(&mut stream) {
        Ok(req) => app.handle(&req),
        Err(e) => http::Response::text(400, &format!("bad request: {e}\n")),
    };
    let _ = stream.write_all(&response.to_bytes());
    let _ = stream.flush();
}

#[cfg(test)]
mod tests;
