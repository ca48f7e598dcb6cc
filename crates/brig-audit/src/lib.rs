//! brig's tamper-evident audit log.
//!
//! Every session (one `brig run`) appends [`Record`]s to its own *segment*,
//! `<dir>/<session>.jsonl` under brig's state directory (`$XDG_STATE_HOME/brig/audit/`), one JSON
//! object per line. [`Writer`] writes a segment; [`list`], [`read`] and [`verify`] look at them
//! afterwards; [`export_jsonl`] and [`export_csv`] hand them to compliance tooling.
//!
//! # What makes it tamper-evident
//!
//! - **A hash chain anyone can check.** Each record's `prev` is the SHA-256 of the previous line's
//!   bytes, and seq 0 starts from 64 zeros. Editing a record breaks the link to the next one
//!   ([`Problem::Edited`]), deleting one leaves a gap in `seq` ([`Problem::Deleted`]), moving one
//!   puts `seq` out of order ([`Problem::Reordered`]). No key is needed for these checks.
//! - **Signed checkpoints against a rewritten chain.** Someone who edits a record and recomputes
//!   every later `prev` produces a chain that is consistent again. So [`Writer::commit`] appends a
//!   `checkpoint` record whose `mac` is an HMAC-SHA256, under a 32-byte key, of the checkpoint line
//!   itself (serialized without `mac`). The line contains `prev`, so the signature covers the
//!   whole chain before it. The key lives in `<dir>/../audit.key` (0600), inside brig's state
//!   directory, which is hidden from every sandboxed command: an agent can neither read the key
//!   nor forge a checkpoint, and a rewritten chain shows up as [`Problem::BadSignature`].
//! - **Crashes are reported, never papered over.** Each line goes out in a single `write(2)` on an
//!   `O_APPEND` descriptor, so a crash leaves either whole lines or one torn final line. A torn
//!   tail is reported as [`Problem::Truncated`] (and [`read`] stops before it rather than
//!   guessing). Records after the last checkpoint are reported as [`Problem::Unsigned`]: that is
//!   what a session killed with SIGKILL, or one still running, looks like. Both are
//!   [`Problem::could_be_crash`]; every other problem means the file changed after it was written.
//! - **Durability by group commit.** [`Writer::append`] does not fsync; [`Writer::commit`] writes
//!   the checkpoint and fsyncs once (plus the directory, the first time), after which everything
//!   appended so far is on disk. brig commits before it reports an action back to its caller.
//! - **No silent gaps.** When the disk is full, `append` and `commit` return an error and brig
//!   stops the command instead of letting it run unaudited. A short write poisons the [`Writer`];
//!   the torn line it leaves is reported by `verify`.
//! - **Nothing interleaves.** Concurrent sessions write separate files, created with `O_EXCL`, so
//!   no two writers ever share a segment.
//!
//! # Limits
//!
//! Records after the last checkpoint are only as trustworthy as the file: an edit to the very last
//! unsigned record is not detectable, and whole lines cut off after the last checkpoint look like a
//! session that stopped there. brig therefore ends every session with a `session_end` record and a
//! commit; a log whose last signed record is not a session end was cut short, by a crash or by
//! someone deleting its tail. Anyone who can read the key can forge everything; keep the state
//! directory out of every sandbox.
//!
//! # Schema
//!
//! Version [`SCHEMA_VERSION`]: `{"v":1,"seq":0,"ts":"2026-12-03T18:07:20.123456Z","session":"…",
//! "kind":"…","data":{…},"prev":"<64 hex>"}`, and on checkpoints `"data":{"records":N}` (N = the
//! records before it = its seq) and a trailing `"mac":"<64 hex>"`. Timestamps are UTC with
//! microseconds, computed without a date library. Session ids from [`new_session_id`] sort by
//! start time.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod crypto;
mod error;
mod export;
mod fsutil;
mod key;
mod ocsf;
mod record;
mod store;
pub mod text;
mod time;
mod verify;
mod writer;

pub use error::AuditError;
pub use export::{export_csv, export_jsonl, summary};
pub use ocsf::{export_ocsf, OCSF_VERSION};
pub use record::{Record, CHECKPOINT, SCHEMA_VERSION};
pub use store::{list, read, SessionInfo};
pub use verify::{verify, Problem, Verdict};
pub use writer::{latest_session, new_session_id, Writer};
