//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Why an audit operation failed. Tampering found by [`verify`](crate::verify) is not an error:
/// it is reported as [`Problem`](crate::Problem)s in a [`Verdict`](crate::Verdict).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file-system operation failed. A full disk shows up here as `No space left on device`:
    /// the caller must stop the command rather than let it run unaudited.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "appending to audit log".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `write(2)` wrote only part of a line (typically a full disk). The segment now ends in a torn
    /// line that [`verify`](crate::verify) reports; this writer accepts no more records.
    #[error(
        "audit log {}: only {written} of {len} bytes of a record were written (disk full?); \
         the log now ends in a torn line and this session cannot be extended",
        path.display()
    )]
    ShortWrite {
        /// The segment file.
        path: PathBuf,
        /// Bytes written.
        written: usize,
        /// Bytes in the line.
        len: usize,
    },
    /// An earlier write or fsync failed, so the segment's state on disk is unknown.
    #[error(
        "audit log {}: an earlier write or fsync failed, so no more records can be appended",
        path.display()
    )]
    Poisoned {
        /// The segment file.
        path: PathBuf,
    },
    /// A session id that cannot be used as a file name.
    #[error("invalid audit session id {session:?}: {why}")]
    InvalidSession {
        /// The id given.
        session: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `append` was asked to write a record kind reserved for the writer itself.
    #[error("the record kind {kind:?} is reserved; use Writer::commit to write a checkpoint")]
    ReservedKind {
        /// The kind given.
        kind: String,
    },
    /// No session id starts with the given prefix.
    #[error("no audit session matching {prefix:?} in {} (see `brig audit list`)", dir.display())]
    SessionNotFound {
        /// The audit directory searched.
        dir: PathBuf,
        /// The id or prefix given.
        prefix: String,
    },
    /// More than one session id starts with the given prefix.
    #[error("audit session prefix {prefix:?} is ambiguous: it matches {}", matches.join(", "))]
    AmbiguousSession {
        /// The prefix given.
        prefix: String,
        /// Every matching id, sorted.
        matches: Vec<String>,
    },
    /// The signing key is missing, so signatures cannot be checked.
    #[error(
        "audit key {} is missing: checkpoint signatures cannot be checked \
         (the key is created with the first audit session)",
        path.display()
    )]
    KeyMissing {
        /// Where the key was expected.
        path: PathBuf,
    },
    /// The key file does not hold exactly 32 bytes.
    #[error("audit key {} holds {len} bytes, expected 32: it was damaged or replaced", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// A complete line of a segment is not a record (seen by [`read`](crate::read)).
    #[error(
        "audit log {} line {line}: not a valid record ({why}); run `brig audit verify` for details",
        path.display()
    )]
    Malformed {
        /// The segment file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's complaint.
        why: String,
    },
    /// A record could not be serialized (a bug: records contain only JSON values).
    #[error("serializing an audit record: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl AuditError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        AuditError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
