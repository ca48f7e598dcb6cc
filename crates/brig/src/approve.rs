//! Asking humans before a command runs: the pending request, the TTY prompt and the local
//! approval service (`brig approvals ...` from a second terminal, later the review UI).
//!
//! A request lives while `brig run` waits for it: `<state>/approvals/<id>.json` describes it and
//! `<id>.sock` (a Unix socket, `0600`, in a `0700` directory inside brig's state directory) takes
//! answers. The state directory is hidden from every sandbox (an empty mode-000 mount and
//! Landlock), and the guard refuses `connect` to host sockets outside the writable roots, so no
//! sandboxed command can reach a request, let alone answer it. The TTY prompt is written to and
//! read from `/dev/tty`, the terminal of the person running brig, never the command's stdin
//! (the command has not started yet, and inside its sandbox it has no controlling terminal).
//!
//! What counts as approved is `brig_rules::ApprovalState`'s business: the policy must make the
//! command approvable, and enough distinct humans (one, or two for a destructive command when
//! `two_approvers` is set) must approve; a denial or the timeout ends the request.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brig_audit::text::printable;
use brig_rules::{ApprovalState, Approver, Scope, Status};
use serde::{Deserialize, Serialize};

use crate::{Dirs, Error};

/// `O_NONBLOCK` (the same on every Linux architecture brig builds for).
const O_NONBLOCK: i32 = 0o4000;

/// The directory of pending requests.
pub fn approvals_dir(dirs: &Dirs) -> PathBuf {
    dirs.state.join("approvals")
}

/// What a reviewer sees about a pending request (`<id>.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The request id.
    pub id: String,
    /// The command as given to `brig run`.
    pub command: String,
    /// Its working directory.
    pub cwd: String,
    /// The sandbox mode it will run in once approved.
    pub mode: String,
    /// `ask` or `forbid`.
    pub decision: String,
    /// Destructive: dual approval.
    pub destructive: bool,
    /// What it destroys, where known.
    pub destroys: Vec<String>,
    /// Why it needs a human: "rule-id: detail" per reason.
    pub reasons: Vec<String>,
    /// Distinct approvers needed.
    pub required: usize,
    /// Who approved so far.
    pub approved_by: Vec<String>,
    /// The scopes a reviewer may choose ("once", "session", "always").
    pub scopes: Vec<String>,
    /// When it was asked (seconds since the Unix epoch).
    pub asked_unix: u64,
    /// Seconds it waits in all.
    pub timeout_secs: u64,
    /// brig's pid.
    pub pid: u32,
}

/// An answer from a reviewer, as sent on the socket (one JSON line).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    /// `approve` or `deny`.
    pub op: String,
    /// Who answers.
    pub approver: String,
    /// `once`, `session` or `always` (approvals only).
    #[serde(default)]
    pub scope: Option<String>,
}

/// The service's reply (one JSON line).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reply {
    /// `pending`, `approved`, `denied`, or `error`.
    pub status: String,
    /// Readable detail.
    pub message: String,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Approved by these people, to be remembered for `scope`.
    Approved {
        /// Who approved.
        by: Vec<String>,
        /// How long the approval is remembered.
        scope: Scope,
    },
    /// Denied by this person.
    Denied {
        /// Who denied.
        by: String,
    },
    /// Nobody answered in time.
    TimedOut,
    /// No channel to ask on (no terminal and the service could not be set up).
    NoChannel(String),
}

/// One answer, for the audit trail: (approver, channel, decision, scope).
pub type Recorded = (String, String, &'static str, Option<Scope>);

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Once => "once",
        Scope::Session => "session",
        Scope::Always => "always",
    }
}

fn parse_scope(s: &str) -> Option<Scope> {
    match s {
        "once" => Some(Scope::Once),
        "session" => Some(Scope::Session),
        "always" => Some(Scope::Always),
        _ => None,
    }
}

/// A request waiting for answers on the terminal and the service.
pub struct Asking {
    dir: PathBuf,
    pending: Pending,
    listener: Option<UnixListener>,
    tty: Option<std::fs::File>,
    tty_line: Vec<u8>,
    state: ApprovalState,
    scope: Scope,
    timeout: Duration,
    tty_user: String,
}

impl Asking {
    /// Publishes the request (`<dir>/<id>.json` and `<id>.sock`) and opens `/dev/tty` when
    /// `use_tty` and there is one.
    pub fn new(
        dir: &Path,
        pending: Pending,
        state: ApprovalState,
        use_tty: bool,
        tty_user: String,
    ) -> Result<Asking, Error> {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|e| Error::Internal(format!("approval directory {}: {e}", dir.display())))?;
        let sock = dir.join(format!("{}.sock", pending.id));
        let (_dirfd, short) = short_path(dir, &format!("{}.sock", pending.id));
        let listener = UnixListener::bind(&short)
            .and_then(|l| {
                std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))?;
                l.set_nonblocking(true)?;
                Ok(l)
            })
            .ok();
        let tty = if use_tty {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open("/dev/tty")
                .ok()
        } else {
            None
        };
        let timeout = Duration::from_secs(pending.timeout_secs);
        let mut a = Asking {
            dir: dir.to_path_buf(),
            pending,
            listener,
            tty,
            tty_line: Vec::new(),
            state,
            scope: Scope::Once,
            timeout,
            tty_user,
        };
        a.publish();
        Ok(a)
    }

    fn json_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.pending.id))
    }

    fn publish(&mut self) {
        self.pending.approved_by = self
            .state
            .approvers()
            .iter()
            .map(|a| a.id.clone())
            .collect();
        let tmp = self.dir.join(format!(".{}.json.tmp", self.pending.id));
        let text = serde_json::to_string_pretty(&self.pending).unwrap_or_default();
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, self.json_path()));
    }

    /// Whether anybody can answer.
    pub fn has_channel(&self) -> bool {
        self.listener.is_some() || self.tty.is_some()
    }

    fn prompt(&mut self) {
        let Some(tty) = self.tty.as_mut() else {
            return;
        };
        let p = &self.pending;
        let mut text = String::new();
        text.push_str(&format!(
            "\nbrig: approval needed ({}) for: {}\n",
            if p.destructive {
                "destructive: dual approval"
            } else {
                "not known safe"
            },
            printable(&p.command)
        ));
        for r in &p.reasons {
            text.push_str(&format!("  - {}\n", printable(r)));
        }
        if !p.destroys.is_empty() {
            text.push_str(&format!(
                "  destroys: {}\n",
                printable(&p.destroys.join(", "))
            ));
        }
        if p.required > 1 {
            text.push_str(&format!(
                "  needs {} distinct approvers; approved so far by: {}\n",
                p.required,
                if p.approved_by.is_empty() {
                    "nobody".to_string()
                } else {
                    p.approved_by.join(", ")
                }
            ));
        }
        text.push_str(&format!(
            "  (request {}; or answer from another terminal: brig approvals approve {})\n",
            p.id, p.id
        ));
        let mut choices: Vec<&str> = vec!["[o]nce"];
        if p.scopes.iter().any(|s| s == "session") {
            choices.push("[s]ession");
        }
        if p.scopes.iter().any(|s| s == "always") {
            choices.push("[a]lways");
        }
        choices.push("[d]eny");
        text.push_str(&format!("Approve? {}: ", choices.join(", ")));
        let _ = tty.write_all(text.as_bytes());
        let _ = tty.flush();
    }

    /// Applies one answer; returns the reply for its sender.
    fn apply(&mut self, answer: &Answer, channel: &str, log: &mut Vec<Recorded>) -> Reply {
        let who = Approver::new(answer.approver.clone(), channel.to_string());
        match answer.op.as_str() {
            "approve" => {
                let scope = match answer.scope.as_deref().map(parse_scope) {
                    None => Scope::Once,
                    Some(Some(s)) if self.pending.scopes.iter().any(|x| x == scope_name(s)) => s,
                    Some(_) => {
                        return Reply {
                            status: "error".into(),
                            message: format!(
                                "this request can be approved for: {}",
                                self.pending.scopes.join(", ")
                            ),
                        }
                    }
                };
                let before = self.state.approvers().len();
                self.state.approve(who.clone());
                if self.state.approvers().len() > before {
                    log.push((who.id.clone(), channel.to_string(), "approved", Some(scope)));
                    // The narrowest scope any approver chose wins.
                    if before == 0 || scope_rank(scope) < scope_rank(self.scope) {
                        self.scope = scope;
                    }
                } else {
                    return Reply {
                        status: "pending".into(),
                        message: format!(
                            "{} already approved this request; it needs {} distinct approvers",
                            who.id,
                            self.state.required()
                        ),
                    };
                }
            }
            "deny" => {
                self.state.deny(who.clone());
                log.push((who.id.clone(), channel.to_string(), "denied", None));
            }
            other => {
                return Reply {
                    status: "error".into(),
                    message: format!("unknown op `{other}` (approve or deny)"),
                }
            }
        }
        self.publish();
        let (status, message) = match self.state.status() {
            Status::Approved => ("approved", "approved: the command runs now".to_string()),
            Status::Denied { by } => ("denied", format!("denied by {}", by.id)),
            _ => (
                "pending",
                format!(
                    "recorded; {} of {} approvals",
                    self.state.approvers().len(),
                    self.state.required()
                ),
            ),
        };
        Reply {
            status: status.into(),
            message,
        }
    }

    fn serve(&mut self, stream: UnixStream, log: &mut Vec<Recorded>) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut line = String::new();
        let mut limited = (&mut reader).take(64 * 1024);
        let reply = match limited.read_line(&mut line) {
            Ok(_) => match serde_json::from_str::<serde_json::Value>(line.trim()) {
                Ok(v) if v["op"] == "show" => Reply {
                    status: "pending".into(),
                    message: serde_json::to_string(&self.pending).unwrap_or_default(),
                },
                Ok(v) => match serde_json::from_value::<Answer>(v) {
                    Ok(a) if !a.approver.trim().is_empty() => self.apply(&a, "service", log),
                    Ok(_) => Reply {
                        status: "error".into(),
                        message: "an answer needs an approver name".into(),
                    },
                    Err(e) => Reply {
                        status: "error".into(),
                        message: format!("bad answer: {e}"),
                    },
                },
                Err(e) => Reply {
                    status: "error".into(),
                    message: format!("bad answer (one JSON object per line): {e}"),
                },
            },
            Err(e) => Reply {
                status: "error".into(),
                message: format!("reading the answer: {e}"),
            },
        };
        let mut stream = stream;
        let _ = writeln!(
            stream,
            "{}",
            serde_json::to_string(&reply).unwrap_or_default()
        );
    }

    fn tty_answer(&mut self, log: &mut Vec<Recorded>) {
        let Some(tty) = self.tty.as_mut() else {
            return;
        };
        let mut buf = [0u8; 256];
        loop {
            match tty.read(&mut buf) {
                Ok(0) => {
                    self.tty = None;
                    return;
                }
                Ok(n) => self.tty_line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.tty = None;
                    return;
                }
            }
        }
        while let Some(end) = self.tty_line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.tty_line.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line).trim().to_ascii_lowercase();
            let user = self.tty_user.clone();
            let answer = match text.as_str() {
                "o" | "once" | "y" | "yes" => Some(("approve", Some("once"))),
                "s" | "session" => Some(("approve", Some("session"))),
                "a" | "always" => Some(("approve", Some("always"))),
                "d" | "deny" | "n" | "no" => Some(("deny", None)),
                _ => None,
            };
            match answer {
                Some((op, scope)) => {
                    let reply = self.apply(
                        &Answer {
                            op: op.into(),
                            approver: user,
                            scope: scope.map(str::to_string),
                        },
                        "tty",
                        log,
                    );
                    if let Some(tty) = self.tty.as_mut() {
                        let _ = writeln!(tty, "brig: {}", reply.message);
                    }
                    if reply.status == "pending" || reply.status == "error" {
                        self.prompt();
                    }
                }
                None => self.prompt(),
            }
        }
    }

    /// Waits for the request to end, calling `record` for each answer as it comes.
    pub fn wait(&mut self, record: &mut dyn FnMut(&Recorded)) -> Ended {
        if !self.has_channel() {
            return Ended::NoChannel(
                "no terminal to ask on (/dev/tty) and the approval service could not start".into(),
            );
        }
        self.prompt();
        let start = Instant::now();
        loop {
            let mut log = Vec::new();
            if let Some(l) = self.listener.as_ref() {
                match l.accept() {
                    Ok((stream, _)) => self.serve(stream, &mut log),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {}
                }
            }
            self.tty_answer(&mut log);
            for r in &log {
                record(r);
            }
            match self.state.status() {
                Status::Approved => {
                    return Ended::Approved {
                        by: self
                            .state
                            .approvers()
                            .iter()
                            .map(|a| a.id.clone())
                            .collect(),
                        scope: self.scope,
                    }
                }
                Status::Denied { by } => return Ended::Denied { by: by.id.clone() },
                Status::TimedOut => return Ended::TimedOut,
                _ => {}
            }
            if start.elapsed() >= self.timeout {
                self.state.time_out();
                if let Some(tty) = self.tty.as_mut() {
                    let _ = writeln!(tty, "\nbrig: nobody answered in time: denied");
                }
                return Ended::TimedOut;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(format!("{}.sock", self.pending.id)));
        let _ = std::fs::remove_file(self.json_path());
    }
}

/// A path to `dir/name` short enough for a Unix socket address (108 bytes): through an open
/// descriptor of `dir` (`/proc/self/fd/N/name`) when the full path is long. Keep the returned
/// descriptor open while the path is used.
fn short_path(dir: &Path, name: &str) -> (Option<std::fs::File>, PathBuf) {
    let full = dir.join(name);
    if full.as_os_str().len() < 100 {
        return (None, full);
    }
    match std::fs::File::open(dir) {
        Ok(f) => {
            use std::os::fd::AsRawFd;
            let p = PathBuf::from(format!("/proc/self/fd/{}/{name}", f.as_raw_fd()));
            (Some(f), p)
        }
        Err(_) => (None, full),
    }
}

fn scope_rank(s: Scope) -> u8 {
    match s {
        Scope::Once => 0,
        Scope::Session => 1,
        Scope::Always => 2,
    }
}

/// The pending requests in `dir` (oldest first), for `brig approvals list`.
pub fn list(dir: &Path) -> Vec<Pending> {
    let mut out: Vec<Pending> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str::<Pending>(&t).ok())
        .filter(|p| dir.join(format!("{}.sock", p.id)).exists())
        .filter(|p| {
            // Left by a `brig run` that was killed while it waited: nobody answers it any more.
            let alive = Path::new(&format!("/proc/{}", p.pid)).exists();
            if !alive {
                let _ = std::fs::remove_file(dir.join(format!("{}.sock", p.id)));
                let _ = std::fs::remove_file(dir.join(format!("{}.json", p.id)));
            }
            alive
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Finds the one pending request whose id starts with `prefix`.
pub fn find(dir: &Path, prefix: &str) -> Result<Pending, Error> {
    let all = list(dir);
    let hits: Vec<Pending> = all
        .into_iter()
        .filter(|p| p.id.starts_with(prefix))
        .collect();
    match hits.len() {
        1 => Ok(hits.into_iter().next().expect("one")),
        0 => Err(Error::Config(format!(
            "no pending approval request `{prefix}` (see `brig approvals list`)"
        ))),
        n => Err(Error::Config(format!(
            "`{prefix}` matches {n} pending requests; give more of the id"
        ))),
    }
}

/// Sends one answer to the request `id` and returns the reply.
pub fn send(dir: &Path, id: &str, answer: &serde_json::Value) -> Result<Reply, Error> {
    let sock = dir.join(format!("{id}.sock"));
    let (_dirfd, short) = short_path(dir, &format!("{id}.sock"));
    let mut s = UnixStream::connect(&short).map_err(|e| {
        Error::Internal(format!(
            "cannot reach request {id} ({}): {e}; is its `brig run` still waiting?",
            sock.display()
        ))
    })?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    writeln!(s, "{answer}").map_err(|e| Error::Internal(format!("sending the answer: {e}")))?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| Error::Internal(format!("reading the reply: {e}")))?;
    serde_json::from_str(line.trim())
        .map_err(|e| Error::Internal(format!("bad reply from request {id}: {e}")))
}
