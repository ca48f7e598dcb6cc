//! Routing and the pages. [`App::handle`] is a pure function of the request, the audit
//! directory and the approval service, so the tests drive it without a socket.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use brig_audit::Record;
use serde_json::Value;

use crate::guard::{self, Secrets};
use crate::html::{escape, page, Nav};
use crate::http::{lookup, percent_encode, Request, Response};
use crate::Approvals;

/// Sessions shown on the list, newest first.
pub const MAX_SESSIONS: usize = 200;

/// The server's state.
pub struct App {
    port: u16,
    secrets: Secrets,
    audit_dir: PathBuf,
    approvals: Box<dyn Approvals>,
    flash: Mutex<Option<String>>,
}

impl App {
    /// An app for the server on `port`.
    pub fn new(
        port: u16,
        secrets: Secrets,
        audit_dir: PathBuf,
        approvals: Box<dyn Approvals>,
    ) -> App {
        App {
            port,
            secrets,
            audit_dir,
            approvals,
            flash: Mutex::new(None),
        }
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its secrets.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Answers one request: the [`guard`] checks first, then the route.
    pub fn handle(&self, req: &Request) -> Response {
        if let Err(refusal) = guard::check(req, self.port, &self.secrets) {
            return Response::text(403, refusal.message());
        }
        if req.method == "GET" && req.param("token").is_some() {
            // Trade the token in the URL for the cookie, and drop it from the address bar
            // and the history.
            // The path goes into a header: only plain path characters.
            let safe = req
                .path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
            return Response::redirect(if safe { &req.path } else { "/" })
                .with("Set-Cookie", &guard::set_cookie(&self.secrets));
        }
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("GET", "/") => self.sessions(),
            ("GET", "/sessions/state") => Response::text(200, &self.sessions_state()),
            ("GET", "/approvals") => self.approvals_page(),
            ("GET", "/approvals/state") => Response::text(200, &self.approvals_state()),
            ("POST", "/approvals/answer") => self.answer(req),
            ("GET", "/export") => self.export(req),
            ("GET", "/static/app.js") => Response::new(
                200,
                "text/javascript; charset=utf-8",
                include_str!("assets/app.js"),
            ),
            ("GET", "/static/style.css") => Response::new(
                200,
                "text/css; charset=utf-8",
                include_str!("assets/style.css"),
            ),
            ("GET", p) if p.starts_with("/session/") => self.session(&p["/session/".len()..], req),
            (m, _) if m != "GET" && m != "POST" => Response::text(405, "GET or POST only\n"),
            _ => Response::text(404, "not found\n"),
        }
    }

    fn pending_count(&self) -> usize {
        self.approvals.list().len()
    }

    fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            escape(&self.secrets.csrf)
        )
    }

    // ---- sessions --------------------------------------------------------------------------

    fn session_ids(&self) -> Vec<brig_audit::SessionInfo> {
        let mut all = brig_audit::list(&self.audit_dir).unwrap_or_default();
        all.sort_by(|a, b| b.id.cmp(&a.id));
        all.truncate(MAX_SESSIONS);
        all
    }

    fn sessions_state(&self) -> String {
        self.session_ids()
            .iter()
            .map(|s| format!("{}:{}", s.id, s.records))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn sessions(&self) -> Response {
        let sessions = self.session_ids();
        let mut body = String::from("<h1>Sessions</h1>");
        if sessions.is_empty() {
            body.push_str("<p class=\"empty\">No sessions recorded yet.</p>");
        } else {
            body.push_str(
                "<p class=\"exports\">Export every session: <a href=\"/export?format=jsonl\" \
                 download>JSONL</a> · <a href=\"/export?format=csv\" download>CSV</a> · \
                 <a href=\"/export?format=ocsf\" download>OCSF</a></p>\
                 <table id=\"sessions\"><tr><th>Session</th><th>Started</th><th>Command</th>\
                 <th>Mode</th><th>Status</th><th>Records</th><th>Verify</th></tr>",
            );
            for s in &sessions {
                let records = brig_audit::read(&self.audit_dir, &s.id).unwrap_or_default();
                let sum = Summary::of(&records);
                let _ = write!(
                    body,
                    "<tr class=\"session\"><td><a class=\"mono\" href=\"/session/{}\">{}</a></td>\
                     <td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    percent_encode(&s.id),
                    escape(&s.id),
                    escape(s.first_ts.as_deref().unwrap_or("")),
                    escape(&sum.command),
                    escape(&sum.mode),
                    escape(&sum.status),
                    s.records,
                    self.verify_cell(&s.id),
                );
            }
            body.push_str("</table>");
        }
        let state = self.sessions_state();
        Response::html(
            200,
            page(
                "Sessions",
                Nav::Sessions,
                self.pending_count(),
                Some(("/sessions/state", &state)),
                &body,
            ),
        )
    }

    /// `brig audit verify`'s verdict, as a table cell (HTML).
    fn verify_cell(&self, id: &str) -> String {
        match brig_audit::verify(&self.audit_dir, id) {
            Ok(v) if v.intact() => {
                format!("<span class=\"ok\">intact ({} records)</span>", v.records)
            }
            Ok(v) if !v.tampered() => format!(
                "<span class=\"warn\" title=\"{}\">unsigned tail (running, or it crashed)</span>",
                escape(&v.problems[0].to_string())
            ),
            Ok(v) => format!(
                "<span class=\"bad\">NOT INTACT: {}</span>",
                escape(&v.problems[0].to_string())
            ),
            Err(e) => format!(
                "<span class=\"bad\">cannot verify: {}</span>",
                escape(&e.to_string())
            ),
        }
    }

    fn session(&self, id: &str, req: &Request) -> Response {
        if !valid_id(id) {
            return Response::text(404, "no such session\n");
        }
        let Ok(records) = brig_audit::read(&self.audit_dir, id) else {
            return Response::text(404, "no such session\n");
        };
        let kind = req.param("type").unwrap_or("");
        let path = req.param("path").unwrap_or("");
        let decision = req.param("decision").unwrap_or("");
        let sum = Summary::of(&records);
        let full = records
            .first()
            .map(|r| r.session.clone())
            .unwrap_or_else(|| id.to_string());
        let enc = percent_encode(&full);
        let mut body = format!(
            "<h1>Session <span class=\"mono\">{}</span></h1>\
             <p><code>{}</code> · mode {} · {} · verify: {}</p>\
             <p class=\"exports\">Export: <a href=\"/export?session={enc}&amp;format=jsonl\" download>\
             JSONL</a> · <a href=\"/export?session={enc}&amp;format=csv\" download>CSV</a> · \
             <a href=\"/export?session={enc}&amp;format=ocsf\" download>OCSF</a></p>",
            escape(&full),
            escape(&sum.command),
            escape(&sum.mode),
            escape(&sum.status),
            self.verify_cell(&full),
        );
        // File changes per command.
        body.push_str("<h2>File changes</h2>");
        let mut any = false;
        let mut command = String::new();
        let mut open = false;
        for r in &records {
            if r.kind == "command.start" {
                command = argv_line(&r.data["argv"]);
                if open {
                    body.push_str("</table>");
                    open = false;
                }
            }
            if r.kind == "file.change" {
                if !open {
                    let _ = write!(
                        body,
                        "<h3><code>{}</code></h3><table class=\"changes\"><tr><th>Op</th><th>Path</th></tr>",
                        escape(&command)
                    );
                    open = true;
                }
                any = true;
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td><code>{}</code></td></tr>",
                    escape(r.data["op"].as_str().unwrap_or("")),
                    escape(r.data["path"].as_str().unwrap_or(""))
                );
            }
        }
        if open {
            body.push_str("</table>");
        }
        if !any {
            body.push_str("<p class=\"empty\">No file changes recorded.</p>");
        }
        // Records, filtered.
        let mut kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let _ = write!(
            body,
            "<h2>Records</h2><form class=\"filters\" method=\"get\" action=\"/session/{enc}\">\
             <label>Type <select name=\"type\"><option value=\"\">any</option>{}</select></label> \
             <label>Path contains <input type=\"text\" name=\"path\" value=\"{}\"></label> \
             <label>Decision <select name=\"decision\"><option value=\"\">any</option>{}</select></label> \
             <button type=\"submit\">Filter</button></form>",
            kinds
                .iter()
                .map(|k| option(k, kind))
                .collect::<String>(),
            escape(path),
            ["allow", "ask", "forbid", "approved", "denied", "timeout"]
                .iter()
                .map(|d| option(d, decision))
                .collect::<String>(),
        );
        body.push_str(
            "<table id=\"records\"><tr><th>Seq</th><th>Time</th><th>Kind</th><th>Data</th></tr>",
        );
        for r in records.iter().filter(|r| filter(r, kind, path, decision)) {
            let _ = write!(
                body,
                "<tr class=\"record\" data-kind=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&r.kind),
                r.seq,
                escape(&r.ts),
                escape(&r.kind),
                escape(&brig_audit::summary(&r.data)),
            );
        }
        body.push_str("</table>");
        let state = self.sessions_state();
        Response::html(
            200,
            page(
                "Session",
                Nav::Sessions,
                self.pending_count(),
                Some(("/sessions/state", &state)),
                &body,
            ),
        )
    }

    fn export(&self, req: &Request) -> Response {
        let format = req.param("format").unwrap_or("jsonl");
        let ids: Vec<String> = match req.param("session") {
            Some(s) if valid_id(s) => vec![s.to_string()],
            Some(_) => return Response::text(404, "no such session\n"),
            None => {
                let mut all: Vec<String> = brig_audit::list(&self.audit_dir)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                all.sort();
                all
            }
        };
        let mut records = Vec::new();
        for id in &ids {
            match brig_audit::read(&self.audit_dir, id) {
                Ok(r) => records.extend(r),
                Err(e) => return Response::text(404, &format!("{e}\n")),
            }
        }
        let mut out = Vec::new();
        let (result, ctype, ext) = match format {
            "csv" => (
                brig_audit::export_csv(&records, &mut out),
                "text/csv",
                "csv",
            ),
            "ocsf" => (
                brig_audit::export_ocsf(&records, &mut out),
                "application/x-ndjson",
                "ocsf.jsonl",
            ),
            "jsonl" => (
                brig_audit::export_jsonl(&records, &mut out),
                "application/x-ndjson",
                "jsonl",
            ),
            _ => return Response::text(400, "format: jsonl, csv or ocsf\n"),
        };
        if let Err(e) = result {
            return Response::text(502, &format!("export failed: {e}\n"));
        }
        let name = match ids.as_slice() {
            [one] => format!("brig-audit-{one}.{ext}"),
            _ => format!("brig-audit.{ext}"),
        };
        // `name` is made of id characters only (checked) and the fixed extension.
        Response::new(200, ctype, out).with(
            "Content-Disposition",
            &format!("attachment; filename=\"{}\"", name.replace('"', "")),
        )
    }

    // ---- approvals -------------------------------------------------------------------------

    fn approvals_state(&self) -> String {
        self.approvals
            .list()
            .iter()
            .map(|p| format!("{}:{}", p.id, p.approved_by.len()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn approvals_page(&self) -> Response {
        let pending = self.approvals.list();
        let mut body = String::from("<h1>Pending approvals</h1>");
        if let Some(msg) = self.flash.lock().ok().and_then(|mut f| f.take()) {
            let _ = write!(body, "<p class=\"flash\" id=\"flash\">{}</p>", escape(&msg));
        }
        if pending.is_empty() {
            body.push_str("<p class=\"empty\" id=\"none\">No request is waiting.</p>");
        }
        for p in &pending {
            let _ = write!(
                body,
                "<section class=\"request{}\" id=\"req-{}\"><h2><code>{}</code></h2><dl>\
                 <dt>Request</dt><dd class=\"mono\">{}</dd>\
                 <dt>Working dir</dt><dd><code>{}</code></dd>\
                 <dt>Runs in</dt><dd>{} (sandboxed once approved)</dd>\
                 <dt>Decision</dt><dd>{}{}</dd>",
                if p.destructive { " destructive" } else { "" },
                escape(&p.id),
                escape(&p.command),
                escape(&p.id),
                escape(&p.cwd),
                escape(&p.mode),
                escape(&p.decision),
                if p.destructive { " (destructive)" } else { "" },
            );
            for r in &p.reasons {
                let _ = write!(body, "<dt>Why</dt><dd>{}</dd>", escape(r));
            }
            if !p.destroys.is_empty() {
                let _ = write!(
                    body,
                    "<dt>Destroys</dt><dd class=\"bad\">{}</dd>",
                    escape(&p.destroys.join(", "))
                );
            }
            let _ = write!(
                body,
                "<dt>Approvals</dt><dd class=\"approvals\">{} of {} ({})</dd>\
                 <dt>Waits</dt><dd>{} s in all</dd></dl>",
                p.approved_by.len(),
                p.required,
                if p.approved_by.is_empty() {
                    "none yet".to_string()
                } else {
                    escape(&p.approved_by.join(", "))
                },
                p.timeout_secs,
            );
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/approvals/answer\">{}\
                 <input type=\"hidden\" name=\"id\" value=\"{}\">\
                 <label>Approver <input type=\"text\" name=\"approver\" required \
                 autocomplete=\"off\"></label> ",
                self.csrf_field(),
                escape(&p.id),
            );
            for scope in ["once", "session", "always"] {
                if p.scopes.iter().any(|s| s == scope) {
                    let _ = write!(
                        body,
                        "<button type=\"submit\" name=\"answer\" value=\"{scope}\">Approve {scope}</button>"
                    );
                }
            }
            body.push_str(
                "<button type=\"submit\" class=\"deny\" name=\"answer\" value=\"deny\">Deny</button>\
                 </form></section>",
            );
        }
        let state = self.approvals_state();
        Response::html(
            200,
            page(
                "Pending approvals",
                Nav::Approvals,
                pending.len(),
                Some(("/approvals/state", &state)),
                &body,
            ),
        )
    }

    fn answer(&self, req: &Request) -> Response {
        let form = req.form();
        let id = lookup(&form, "id").unwrap_or("");
        let approver = lookup(&form, "approver").unwrap_or("").trim();
        let answer = lookup(&form, "answer").unwrap_or("");
        let message = match (answer, approver.is_empty()) {
            (_, true) => "an answer needs an approver name".to_string(),
            _ if !self.approvals.list().iter().any(|p| p.id == id) => {
                format!("request {id} is no longer waiting")
            }
            ("deny", false) => {
                self.send(id, serde_json::json!({"op": "deny", "approver": approver}))
            }
            ("once" | "session" | "always", false) => self.send(
                id,
                serde_json::json!({"op": "approve", "approver": approver, "scope": answer}),
            ),
            _ => "unknown answer (approve once, session, always, or deny)".to_string(),
        };
        if let Ok(mut f) = self.flash.lock() {
            *f = Some(message);
        }
        Response::redirect("/approvals")
    }

    fn send(&self, id: &str, answer: Value) -> String {
        match self.approvals.answer(id, &answer) {
            Ok((status, message)) if status == "error" => format!("{id}: error: {message}"),
            Ok((_, message)) => format!("{id}: {message}"),
            Err(e) => format!("{id}: {e}"),
        }
    }
}

/// One session at a glance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The command line.
    pub command: String,
    /// The sandbox mode.
    pub mode: String,
    /// `running`, `exit N`, `refused (118)`, ...
    pub status: String,
}

impl Summary {
    /// From a session's records.
    pub fn of(records: &[Record]) -> Summary {
        let find = |k: &str| records.iter().find(|r| r.kind == k);
        let command = find("command.start")
            .map(|r| argv_line(&r.data["argv"]))
            .unwrap_or_default();
        let mode = find("session.start")
            .and_then(|r| r.data["mode"].as_str())
            .unwrap_or("")
            .to_string();
        let status = match (find("command.end"), find("session.end")) {
            (Some(e), _) => match e.data["status"].as_i64() {
                Some(0) => "exit 0".to_string(),
                Some(118) => "refused (118)".to_string(),
                Some(n) => format!("exit {n}"),
                None => "ended".to_string(),
            },
            (None, Some(_)) => "ended".to_string(),
            (None, None) if records.iter().any(|r| r.kind == "approval.request") => {
                "waiting for approval, or running".to_string()
            }
            (None, None) => "running".to_string(),
        };
        Summary {
            command,
            mode,
            status,
        }
    }
}

/// `argv` (a JSON array) as one line.
fn argv_line(argv: &Value) -> String {
    argv.as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("?"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn option(value: &str, selected: &str) -> String {
    format!(
        "<option value=\"{0}\"{1}>{0}</option>",
        escape(value),
        if value == selected { " selected" } else { "" }
    )
}

/// Whether record `r` passes the session page's filters (empty: any).
pub fn filter(r: &Record, kind: &str, path: &str, decision: &str) -> bool {
    (kind.is_empty() || r.kind == kind)
        && (path.is_empty()
            || ["path", "what"]
                .iter()
                .any(|f| r.data[f].as_str().is_some_and(|v| v.contains(path))))
        && (decision.is_empty() || r.data["decision"].as_str() == Some(decision))
}

/// A session id (or prefix) as brig makes them: letters, digits, `-`, `_`, `.`; no `..`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && !id.contains("..")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}
