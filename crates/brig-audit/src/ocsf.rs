//! Export to OCSF 1.5.0 (Open Cybersecurity Schema Framework) JSON Lines, for SIEMs and
//! compliance tooling.
//!
//! Mapping (one OCSF event per record that describes an activity):
//! - `command.start` → Process Activity (1007), Launch (1): the command line, user, host.
//! - `command.end` → Process Activity (1007), Terminate (2), with `exit_code`.
//! - `file.change` → File System Activity (1001): create/mkdir/mknod/symlink/link/socket →
//!   Create (1); truncate/open-write → Update (3); delete/rmdir → Delete (4); rename → Rename (5,
//!   `file` is the source and `file_result` the destination); chmod → Set Security (7).
//! - `file.read` → File System Activity (1001), Read (2).
//! - `network` (brig's proxy, issue 5) → HTTP Activity (4002) with the request's method as the
//!   activity when there is one (CONNECT, GET, ...), else Network Activity (4001) Open (1) or,
//!   when denied, Refuse (5); `dst_endpoint` host and port, `tls.sni`, `traffic` bytes.
//! - `approval.request` → User Access Management (3005), Other (99), status Unknown: brig asks a
//!   human for the privilege "run: COMMAND"; `user` is the session's user.
//! - `approval` → User Access Management (3005): Assign Privileges (1) when a human approved
//!   (the privilege is "run (SCOPE): COMMAND"), Other (99) with status Failure when denied or
//!   timed out; `user` is the approver.
//! - `exec` → Process Activity (1007), Launch (1): the program's path and arguments, its pid
//!   and its parent's.
//! - `denied` by the `seccomp` layer → Kernel Activity (1003), Invoke (4), `kernel` the refused
//!   system call, `status_id` Failure (2); other `denied` → File System Activity (1001), Other
//!   (99), `status_id` Failure (2). Both with the refusal in `status_detail` and the layer that
//!   refused in `unmapped.brig_layer`.
//!
//! The process that made a change or was refused (its pid inside the sandbox) is
//! `actor.process.pid`. `session.*` and `checkpoint` records describe the log itself and are not exported; every
//! event carries its session id and record hash-chain position in `metadata` so it can be
//! traced back to the verified segment. The tests validate the output with an independent
//! OCSF validator from PyPI (`ocsf-emitter`).

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::Record;

/// The OCSF schema version the export follows.
pub const OCSF_VERSION: &str = "1.5.0";

/// Milliseconds since the epoch of a record timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
fn epoch_ms(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let micros = if b.get(19) == Some(&b'.') {
        num(20..26).unwrap_or(0)
    } else {
        0
    };
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3_600 + mm * 60 + ss) * 1_000) + micros / 1_000)
}

/// The path a `denied` record's text names: between backticks, or after the operation word
/// and before `: error`.
fn path_in(what: &str) -> String {
    if let Some(start) = what.find('`') {
        if let Some(len) = what[start + 1..].find('`') {
            return what[start + 1..start + 1 + len].to_string();
        }
    }
    // "OP /abs/path: error" (OP may hold a space, as in "chmod 777"): paths are absolute.
    let rest = what.find('/').map(|i| &what[i..]).unwrap_or(what);
    rest.rsplit_once(": ")
        .map(|(p, _)| p)
        .unwrap_or(rest)
        .to_string()
}

fn file_obj(path: &str, type_id: u8) -> Value {
    let name = path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(path);
    json!({ "name": name, "path": path, "type_id": type_id })
}

/// Writes the OCSF events for `records`, one JSON object per line.
pub fn export_ocsf(records: &[Record], out: &mut dyn Write) -> io::Result<()> {
    let mut user = json!({});
    let mut host = String::new();
    let mut cmd_line = String::new();
    for r in records {
        let time = epoch_ms(&r.ts).unwrap_or(0);
        let base = |class_uid: u32, activity_id: u32, severity_id: u32| {
            let (category_uid, category_name) = match class_uid / 1000 {
                3 => (3, "Identity & Access Management"),
                4 => (4, "Network Activity"),
                _ => (1, "System Activity"),
            };
            json!({
                "class_uid": class_uid,
                "category_uid": category_uid,
                "category_name": category_name,
                "activity_id": activity_id,
                "type_uid": class_uid * 100 + activity_id,
                "time": time,
                "severity_id": severity_id,
                "metadata": {
                    "version": OCSF_VERSION,
                    "product": { "name": "brig", "vendor_name": "brig", "version": env!("CARGO_PKG_VERSION") },
                    "log_name": r.session,
                    "uid": format!("{}:{}", r.session, r.seq),
                    "original_time": r.ts,
                },
            })
        };
        let device = json!({ "type_id": 0, "hostname": host });
        let event = match r.kind.as_str() {
            "session.start" => {
                host = r.data["host"].as_str().unwrap_or_default().to_string();
                user = json!({ "name": r.data["user"], "uid": r.data["uid"].as_u64().map(|u| u.to_string()) });
                None
            }
            "command.start" => {
                let argv: Vec<String> = r.data["argv"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                cmd_line = argv.join(" ");
                let mut e = base(1007, 1, 1);
                e["class_name"] = json!("Process Activity");
                e["process"] = json!({ "cmd_line": cmd_line, "name": argv.first().cloned().unwrap_or_default() });
                Some(e)
            }
            "command.end" => {
                let mut e = base(1007, 2, 1);
                e["class_name"] = json!("Process Activity");
                e["process"] = json!({ "cmd_line": cmd_line });
                if let Some(code) = r.data["exit_code"].as_i64() {
                    e["exit_code"] = json!(code);
                }
                Some(e)
            }
            "file.change" => {
                let op = r.data["op"].as_str().unwrap_or_default();
                let path = r.data["path"].as_str().unwrap_or_default();
                let (activity, type_id) = match op {
                    "mkdir" => (1, 2),
                    "create" | "mknod" | "link" => (1, 1),
                    "symlink" => (1, 7),
                    "socket" => (1, 5),
                    "truncate" | "open-write" => (3, 1),
                    "delete" => (4, 1),
                    "rmdir" => (4, 2),
                    "rename" => (5, 0),
                    o if o.starts_with("chmod") => (7, 0),
                    _ => (99, 0),
                };
                let mut e = base(1001, activity, 1);
                e["class_name"] = json!("File System Activity");
                match path.split_once(" -> ") {
                    Some((from, to)) => {
                        e["file"] = file_obj(from, type_id);
                        e["file_result"] = file_obj(to, type_id);
                    }
                    None => e["file"] = file_obj(path, type_id),
                }
                Some(e)
            }
            "file.read" => {
                let mut e = base(1001, 2, 1);
                e["class_name"] = json!("File System Activity");
                e["file"] = file_obj(r.data["path"].as_str().unwrap_or_default(), 0);
                Some(e)
            }
            "exec" => {
                let argv: Vec<&str> = r.data["argv"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let path = r.data["path"].as_str().unwrap_or_default();
                let mut e = base(1007, 1, 1);
                e["class_name"] = json!("Process Activity");
                e["process"] = json!({
                    "cmd_line": argv.join(" "),
                    "name": path.rsplit('/').next().unwrap_or(path),
                    "file": file_obj(path, 1),
                    "pid": r.data["pid"],
                });
                if let Some(ppid) = r.data["ppid"].as_u64() {
                    e["process"]["parent_process"] = json!({ "pid": ppid });
                }
                Some(e)
            }
            "network" => {
                // One connection or request through brig's proxy (issue 5 fills these).
                let allowed = r.data["decision"] == "allow";
                let method = r.data["method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let http_activity = match method.as_str() {
                    "CONNECT" => Some(1),
                    "DELETE" => Some(2),
                    "GET" => Some(3),
                    "HEAD" => Some(4),
                    "OPTIONS" => Some(5),
                    "POST" => Some(6),
                    "PUT" => Some(7),
                    "TRACE" => Some(8),
                    "PATCH" => Some(9),
                    _ => None,
                };
                let dst = json!({ "hostname": r.data["host"], "port": r.data["port"] });
                let mut e = match http_activity {
                    Some(a) => {
                        let mut e = base(4002, a, if allowed { 1 } else { 3 });
                        e["class_name"] = json!("HTTP Activity");
                        let mut url = json!({ "hostname": r.data["host"], "port": r.data["port"] });
                        if let Some(u) = r.data["url"].as_str() {
                            url["url_string"] = json!(u);
                        }
                        e["http_request"] = json!({ "http_method": method, "url": url });
                        e
                    }
                    None => {
                        // Open (1) when allowed, Refuse (5) when denied.
                        let mut e = base(
                            4001,
                            if allowed { 1 } else { 5 },
                            if allowed { 1 } else { 3 },
                        );
                        e["class_name"] = json!("Network Activity");
                        e
                    }
                };
                e["dst_endpoint"] = dst;
                // OCSF's `tls` needs the protocol version; without it the SNI is kept unmapped.
                match (r.data["sni"].as_str(), r.data["tls_version"].as_str()) {
                    (Some(sni), Some(v)) => e["tls"] = json!({ "sni": sni, "version": v }),
                    (Some(sni), None) => e["unmapped"] = json!({ "brig_sni": sni }),
                    _ => {}
                }
                e["status_id"] = json!(if allowed { 1 } else { 2 });
                e["status"] = json!(if allowed { "Success" } else { "Failure" });
                e["status_detail"] = r.data["rule"].clone();
                if let (Some(i), Some(o)) =
                    (r.data["bytes_in"].as_u64(), r.data["bytes_out"].as_u64())
                {
                    e["traffic"] = json!({ "bytes_in": i, "bytes_out": o, "bytes": i + o });
                }
                Some(e)
            }
            "approval.request" => {
                // brig asked for a human: the privilege is requested, not yet assigned.
                let mut e = base(3005, 99, if r.data["destructive"] == true { 3 } else { 2 });
                e["class_name"] = json!("User Access Management");
                e["user"] = user.clone();
                e["privileges"] = json!([format!(
                    "run: {}",
                    r.data["command"].as_str().unwrap_or_default()
                )]);
                e["status_id"] = json!(0);
                e["status"] = json!("Unknown");
                e["status_detail"] = json!(format!(
                    "approval requested ({}{} approver(s) needed)",
                    if r.data["destructive"] == true {
                        "destructive; "
                    } else {
                        ""
                    },
                    r.data["required"].as_u64().unwrap_or(1)
                ));
                e["unmapped"] = json!({ "brig_request": r.data["request"], "brig_destroys": r.data["destroys"] });
                Some(e)
            }
            "approval" => {
                // A human decision on a request (issue 4 fills these): granting the command the
                // right to run is a privilege assigned to the session.
                let approved = r.data["decision"] == "approved";
                let mut e = base(3005, if approved { 1 } else { 99 }, 1);
                e["class_name"] = json!("User Access Management");
                e["user"] = match r.data["approver"].as_str() {
                    Some(name) => json!({ "name": name }),
                    None => user.clone(),
                };
                e["privileges"] = json!([format!(
                    "run ({}): {}",
                    r.data["scope"].as_str().unwrap_or("once"),
                    r.data["command"].as_str().unwrap_or_default()
                )]);
                e["status_id"] = json!(if approved { 1 } else { 2 });
                e["status"] = json!(if approved { "Success" } else { "Failure" });
                let decision = r.data["decision"].as_str().unwrap_or_default();
                e["status_detail"] = json!(match (
                    r.data["approver"].as_str(),
                    r.data["channel"].as_str()
                ) {
                    (Some(who), Some(via)) => format!("{decision} by {who} via {via}"),
                    _ => decision.to_string(),
                });
                e["unmapped"] =
                    json!({ "brig_request": r.data["request"], "brig_dual": r.data["dual"] });
                Some(e)
            }
            "denied" if r.data["layer"] == "seccomp" => {
                let what = r.data["what"].as_str().unwrap_or_default();
                // "ptrace: ...", "socket(family 2): ...": the call's name; a summary line
                // ("N more refused syscalls ...") names none.
                let call = what
                    .split([':', '('])
                    .next()
                    .filter(|c| {
                        !c.is_empty()
                            && c.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                            && !c.bytes().all(|b| b.is_ascii_digit())
                    })
                    .unwrap_or("(several)");
                let mut e = base(1003, 4, 3);
                e["class_name"] = json!("Kernel Activity");
                e["kernel"] = json!({ "name": call, "type_id": 2, "type": "System Call", "system_call": call });
                e["status_id"] = json!(2);
                e["status"] = json!("Failure");
                e["status_detail"] = json!(what);
                e["unmapped"] = json!({ "brig_layer": r.data["layer"] });
                Some(e)
            }
            "denied" => {
                let what = r.data["what"].as_str().unwrap_or_default();
                let mut e = base(1001, 99, 3);
                e["class_name"] = json!("File System Activity");
                e["file"] = file_obj(&path_in(what), 0);
                e["status_id"] = json!(2);
                e["status"] = json!("Failure");
                e["status_detail"] = json!(what);
                e["unmapped"] = json!({ "brig_layer": r.data["layer"] });
                Some(e)
            }
            _ => None,
        };
        if let Some(mut e) = event {
            e["device"] = device;
            e["actor"] = json!({ "user": user });
            if let Some(pid) = r.data["pid"].as_u64() {
                e["actor"]["process"] = json!({ "pid": pid });
                if let Some(program) = r.data["program"].as_str() {
                    e["actor"]["process"]["file"] = file_obj(program, 1);
                    e["actor"]["process"]["name"] =
                        json!(program.rsplit('/').next().unwrap_or(program));
                }
            }
            serde_json::to_writer(&mut *out, &e)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_epoch_milliseconds() {
        assert_eq!(epoch_ms("1970-01-01T00:00:00.000000Z"), Some(0));
        assert_eq!(
            epoch_ms("2026-12-03T18:07:20.123456Z"),
            Some(1_796_321_240_123)
        );
        assert_eq!(epoch_ms("2000-03-01T00:00:01Z"), Some(951_868_801_000));
        assert_eq!(epoch_ms("garbage"), None);
    }

    #[test]
    fn denial_texts_name_their_path() {
        assert_eq!(path_in("creating `sub/.git` (protected name)"), "sub/.git");
        assert_eq!(
            path_in("mkdir /etc/x: Read-only file system (os error 30)"),
            "/etc/x"
        );
        assert_eq!(
            path_in("chmod 777 /w/.git: Read-only file system (os error 30)"),
            "/w/.git"
        );
    }
}
