//! Appending records to one session's segment.

use crate::crypto::{self, GENESIS};
use crate::key::{self, KEY_LEN};
use crate::record::{Record, CHECKPOINT, SCHEMA_VERSION};
use crate::{fsutil, time, AuditError};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file in the audit directory that names the most recently started session.
const LATEST: &str = "latest";

/// The session started most recently in `dir` (as recorded by [`Writer::create`]), for a new
/// session to name as its predecessor in its start record (`previous_session`), so that
/// [`verify`](crate::verify) notices a deleted segment. `None` before the first session, or
/// when the pointer is unreadable.
pub fn latest_session(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(LATEST)).ok()?;
    let id = text.trim();
    validate_session(id).ok().map(|()| id.to_owned())
}

/// Appends the records of one session to its own segment file, `<dir>/<session>.jsonl`.
///
/// [`append`](Writer::append) is cheap (one `write(2)`, no fsync); [`commit`](Writer::commit)
/// signs what was appended and makes it durable. Call `commit` before reporting an action back to
/// the caller, and as the last thing a session does: records after the last commit verify as
/// [`Problem::Unsigned`](crate::Problem::Unsigned).
///
/// After a short write or a failed fsync the writer is poisoned and every later call fails: the
/// caller should stop the command rather than let it run unaudited.
pub struct Writer {
    file: File,
    dir: PathBuf,
    path: PathBuf,
    session: String,
    key: [u8; KEY_LEN],
    /// The seq of the next record, which is also the number written so far.
    seq: u64,
    /// Hex SHA-256 of the last line written.
    prev: String,
    /// Nothing has been appended since the last successful commit.
    committed: bool,
    /// The segment's directory entry has been synced.
    dir_synced: bool,
    poisoned: bool,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("session", &self.session)
            .field("seq", &self.seq)
            .field("committed", &self.committed)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Creates `<dir>/<session>.jsonl` (the directory owner-only, 0700, if it is created; the file
    /// 0600 and exclusively, so an existing session is never appended to) and the signing key
    /// `<dir>/../audit.key` (32 bytes from `/dev/urandom`, 0600) if it does not exist yet.
    ///
    /// `session` must be usable as a file name: see [`new_session_id`](crate::new_session_id).
    pub fn create(dir: &Path, session: &str) -> Result<Writer, AuditError> {
        validate_session(session)?;
        fsutil::create_private_dir(dir)
            .map_err(|e| AuditError::io("creating audit directory", dir, e))?;
        let key = key::load_or_create(&key::key_path(dir))?;
        let path = dir.join(format!("{session}.jsonl"));
        let file = fsutil::create_new_append(&path)
            .map_err(|e| AuditError::io("creating audit log", &path, e))?;
        // Point `latest` at this session, for the next one to name as its predecessor.
        let tmp = dir.join(format!(".latest.{session}"));
        let latest = dir.join(LATEST);
        std::fs::write(&tmp, session)
            .and_then(|()| std::fs::rename(&tmp, &latest))
            .map_err(|e| AuditError::io("updating", &latest, e))?;
        Ok(Writer {
            file,
            dir: dir.to_owned(),
            path,
            session: session.to_owned(),
            key,
            seq: 0,
            prev: GENESIS.to_owned(),
            committed: false,
            dir_synced: false,
            poisoned: false,
        })
    }

    /// Appends one record, filling in `v`, `seq`, `ts`, `session` and `prev`, with a single
    /// `write(2)` of the whole line and its newline. The record is not durable until
    /// [`commit`](Writer::commit).
    ///
    /// `kind` must not be `"checkpoint"`, which only `commit` writes.
    pub fn append(&mut self, kind: &str, data: serde_json::Value) -> Result<(), AuditError> {
        if kind == CHECKPOINT {
            return Err(AuditError::ReservedKind {
                kind: kind.to_owned(),
            });
        }
        // Cleared first: after a short write, a later commit must not claim the log is whole.
        self.committed = false;
        self.write_record(kind, data, false)
    }

    /// Appends a signed checkpoint, `{"kind": "checkpoint", "data": {"records": N}}` where N is the
    /// number of records before it, and fsyncs: when this returns, everything appended so far is
    /// durable (group commit). Does nothing if nothing was appended since the last commit.
    pub fn commit(&mut self) -> Result<(), AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
        if self.committed {
            return Ok(());
        }
        let data = serde_json::json!({ "records": self.seq });
        self.write_record(CHECKPOINT, data, true)?;
        if let Err(e) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages: nothing later can
            // be trusted to reach the disk.
            self.poisoned = true;
            return Err(AuditError::io("syncing audit log", &self.path, e));
        }
        if !self.dir_synced {
            fsutil::sync_dir(&self.dir)
                .map_err(|e| AuditError::io("syncing audit directory", &self.dir, e))?;
            self.dir_synced = true;
        }
        self.committed = true;
        Ok(())
    }

    /// The segment file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The session id.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Records written so far, checkpoints included; also the `seq` of the next record.
    pub fn records(&self) -> u64 {
        self.seq
    }

    fn write_record(
        &mut self,
        kind: &str,
        data: serde_json::Value,
        sign: bool,
    ) -> Result<(), AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
        let mut record = Record {
            v: SCHEMA_VERSION,
            seq: self.seq,
            ts: time::now_rfc3339(),
            session: self.session.clone(),
            kind: kind.to_owned(),
            data,
            prev: self.prev.clone(),
            mac: None,
        };
        let mut line = serde_json::to_vec(&record)?;
        if sign {
            record.mac = Some(crypto::hex(&crypto::hmac_sha256(&self.key, &line)));
            line = serde_json::to_vec(&record)?;
        }
        let hash = crypto::sha256_hex(&line);
        line.push(b'\n');
        self.write_line(&line)?;
        self.prev = hash;
        self.seq += 1;
        Ok(())
    }

    /// One `write(2)` of the whole line. A failed write wrote nothing, so the segment is still
    /// whole and the writer stays usable; a short write leaves a torn line and poisons it.
    fn write_line(&mut self, line: &[u8]) -> Result<(), AuditError> {
        loop {
            match self.file.write(line) {
                Ok(n) if n == line.len() => return Ok(()),
                Ok(n) => {
                    self.poisoned = true;
                    return Err(AuditError::ShortWrite {
                        path: self.path.clone(),
                        written: n,
                        len: line.len(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(AuditError::io("appending to audit log", &self.path, e)),
            }
        }
    }
}

/// Session ids become file names: plain, non-empty, no separators, not hidden.
pub(crate) fn validate_session(session: &str) -> Result<(), AuditError> {
    let why = if session.is_empty() {
        Some("it is empty")
    } else if session.len() > 200 {
        Some("it is longer than 200 bytes")
    } else if session.starts_with('.') {
        Some("it starts with '.'")
    } else if !session
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
    {
        Some("only ASCII letters, digits, '-', '_', '.' and '+' are allowed")
    } else {
        None
    };
    match why {
        Some(why) => Err(AuditError::InvalidSession {
            session: session.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

/// A new session id that sorts by creation time: UTC timestamp, process id and 24 random bits,
/// e.g. `20261203T180720Z-12345-9f3a1c`.
pub fn new_session_id() -> String {
    let (secs, micros) = time::now();
    let mut random = [0_u8; 3];
    if crypto::random_bytes(&mut random).is_err() {
        // No /dev/urandom: the id only needs to be unique, not secret; the microseconds will do.
        random.copy_from_slice(&micros.to_be_bytes()[1..]);
    }
    format!(
        "{}-{}-{}",
        time::format_compact(secs),
        std::process::id(),
        crypto::hex(&random)
    )
}
