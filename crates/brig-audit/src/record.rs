//! The record schema and how lines are split and parsed.

use serde::{Deserialize, Serialize};

/// Version of the record schema written into every record's `v`.
pub const SCHEMA_VERSION: u32 = 1;

/// The kind of the signed records that [`Writer::commit`](crate::Writer::commit) writes.
pub const CHECKPOINT: &str = "checkpoint";

/// One event: serialized as one JSON object per line, fields in this order.
///
/// `kind`-specific fields live in `data`. `mac` is last so that a checkpoint's signed bytes are its
/// own line with the `,"mac":"…"` member removed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Record {
    /// Schema version, [`SCHEMA_VERSION`].
    pub v: u32,
    /// Position in the session, from 0 with no gaps.
    pub seq: u64,
    /// When the record was written: RFC 3339 UTC with microseconds, `2026-12-03T18:07:20.123456Z`.
    pub ts: String,
    /// The session (segment) this record belongs to.
    pub session: String,
    /// What happened, e.g. `command`, `exec`, `file`, `denied`, or `checkpoint`.
    pub kind: String,
    /// The `kind`-specific fields.
    pub data: serde_json::Value,
    /// Hex SHA-256 of the previous line's bytes (without its newline); 64 zeros for seq 0.
    pub prev: String,
    /// Only on checkpoints: hex HMAC-SHA256 under the audit key of this line serialized without
    /// `mac`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mac: Option<String>,
}

/// A segment's bytes cut into complete lines and a torn tail.
pub(crate) struct Lines<'a> {
    /// Every line that ends in `\n`, without it.
    pub(crate) complete: Vec<&'a [u8]>,
    /// Bytes after the last `\n`, if any: a line whose write never finished.
    pub(crate) torn: Option<&'a [u8]>,
}

pub(crate) fn split_lines(bytes: &[u8]) -> Lines<'_> {
    let mut complete: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // `split` yields the (possibly empty) remainder after the last newline last.
    let tail = complete.pop().unwrap_or_default();
    Lines {
        complete,
        torn: (!tail.is_empty()).then_some(tail),
    }
}

/// Parses one complete line.
pub(crate) fn parse_line(raw: &[u8]) -> Result<Record, String> {
    if raw.is_empty() {
        return Err("empty line".to_owned());
    }
    serde_json::from_slice(raw).map_err(|e| e.to_string())
}
