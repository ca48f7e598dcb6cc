//! Finding and reading segments.

use crate::record::{parse_line, split_lines, Record};
use crate::AuditError;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const EXTENSION: &str = "jsonl";

/// One session's segment, as [`list`] sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    /// The session id (the file name without `.jsonl`).
    pub id: String,
    /// The segment file.
    pub path: PathBuf,
    /// Complete lines that parse as records, checkpoints included.
    pub records: usize,
    /// `ts` of the first record.
    pub first_ts: Option<String>,
    /// `ts` of the last record.
    pub last_ts: Option<String>,
    /// The first record, typically the session start with user, host, mode and workspace.
    pub first: Option<Record>,
}

/// Every session in `dir`, oldest first: by the timestamp of its first record (microseconds),
/// then by id. (Ids alone sort by start time only to the second, and then by pid as text:
/// pid 10000 would come before pid 9999.) A missing directory has no sessions; a segment
/// without a record sorts first.
///
/// Lenient: lines that do not parse are skipped and a torn tail is ignored; use
/// [`verify`](crate::verify) to judge a segment.
pub fn list(dir: &Path) -> Result<Vec<SessionInfo>, AuditError> {
    let mut sessions = Vec::new();
    for (id, path) in segments(dir)? {
        let bytes = fs::read(&path).map_err(|e| AuditError::io("reading audit log", &path, e))?;
        let mut records = 0;
        let mut first = None;
        let mut last_ts = None;
        for record in split_lines(&bytes)
            .complete
            .into_iter()
            .filter_map(|raw| parse_line(raw).ok())
        {
            records += 1;
            last_ts = Some(record.ts.clone());
            first.get_or_insert(record);
        }
        sessions.push(SessionInfo {
            id,
            path,
            records,
            first_ts: first.as_ref().map(|r| r.ts.clone()),
            last_ts,
            first,
        });
    }
    sessions.sort_by(|a, b| (&a.first_ts, &a.id).cmp(&(&b.first_ts, &b.id)));
    Ok(sessions)
}

/// The records of one session in file order. `session` may be any prefix of exactly one id (an
/// exact id always wins).
///
/// Stops before a torn tail (a line without its newline: a crash, or a write still in progress
/// when following a live session); [`verify`](crate::verify) reports it. A complete line that is
/// not a record is an error.
pub fn read(dir: &Path, session: &str) -> Result<Vec<Record>, AuditError> {
    let (_, path) = resolve(dir, session)?;
    let bytes = fs::read(&path).map_err(|e| AuditError::io("reading audit log", &path, e))?;
    split_lines(&bytes)
        .complete
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            parse_line(raw).map_err(|why| AuditError::Malformed {
                path: path.clone(),
                line: i + 1,
                why,
            })
        })
        .collect()
}

/// Resolves an id or unique prefix to `(id, path)`.
pub(crate) fn resolve(dir: &Path, prefix: &str) -> Result<(String, PathBuf), AuditError> {
    if prefix.is_empty() {
        return Err(AuditError::InvalidSession {
            session: String::new(),
            why: "it is empty",
        });
    }
    let mut matches: Vec<(String, PathBuf)> = segments(dir)?
        .into_iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .collect();
    if let Some(exact) = matches.iter().position(|(id, _)| id == prefix) {
        return Ok(matches.swap_remove(exact));
    }
    match matches.len() {
        0 => Err(AuditError::SessionNotFound {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
        }),
        1 => Ok(matches.remove(0)),
        _ => Err(AuditError::AmbiguousSession {
            prefix: prefix.to_owned(),
            matches: matches.into_iter().map(|(id, _)| id).collect(),
        }),
    }
}

/// Every `<id>.jsonl` regular file in `dir`, sorted by id.
fn segments(dir: &Path) -> Result<Vec<(String, PathBuf)>, AuditError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io("listing audit directory", dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io("listing audit directory", dir, e))?;
        let path = entry.path();
        let is_file = entry
            .file_type()
            .map_err(|e| AuditError::io("inspecting", &path, e))?
            .is_file();
        let id = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(EXTENSION)?.strip_suffix('.'));
        if let (true, Some(id)) = (is_file, id) {
            if !id.is_empty() {
                found.push((id.to_owned(), path.clone()));
            }
        }
    }
    found.sort();
    Ok(found)
}
