//! Checking a segment: the hash chain, the signed checkpoints and the tail.

use crate::crypto::{self, GENESIS};
use crate::key;
use crate::record::{parse_line, split_lines, Record, CHECKPOINT, SCHEMA_VERSION};
use crate::store::resolve;
use crate::AuditError;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

/// Something wrong with a segment. Line numbers are 1-based.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The record's bytes changed after it was written: its hash no longer matches the `prev` of
    /// the record after it.
    #[error(
        "line {line}: record seq {seq} was edited (its hash does not match the next record's prev)"
    )]
    Edited {
        /// The edited record's seq.
        seq: u64,
        /// Its line.
        line: usize,
    },
    /// The record is out of place: lines were moved.
    #[error("line {line}: record seq {seq} is out of order (lines were moved)")]
    Reordered {
        /// The misplaced record's seq.
        seq: u64,
        /// Its line.
        line: usize,
    },
    /// Records are missing before this line.
    #[error("line {line}: {} deleted before this line", missing(*.from_seq, *.to_seq))]
    Deleted {
        /// The first missing seq.
        from_seq: u64,
        /// The last missing seq.
        to_seq: u64,
        /// The line of the first record after the gap.
        line: usize,
    },
    /// The segment ends in a line without a newline: the writer crashed mid-write, the disk filled,
    /// or the file was cut.
    #[error("line {line}: torn tail of {bytes} bytes without a newline (a crash, a full disk, or the file was cut)")]
    Truncated {
        /// The torn line.
        line: usize,
        /// Its length.
        bytes: usize,
    },
    /// A checkpoint's signature is missing or wrong: the chain up to it was rewritten by someone
    /// without the key (or the key was replaced).
    #[error("line {line}: checkpoint seq {seq} has a bad signature (the log was rewritten, or the key changed)")]
    BadSignature {
        /// The checkpoint's seq.
        seq: u64,
        /// Its line.
        line: usize,
    },
    /// Records after the last checkpoint: nobody vouches for them. Normal while a session runs;
    /// afterwards it means brig was killed (e.g. SIGKILL) before its final commit.
    #[error(
        "line {line}: {records} record(s) after {} are unsigned (the session is still running, or was killed before its final commit)",
        after(*.after_seq)
    )]
    Unsigned {
        /// The seq of the last checkpoint; `None` if the segment has none.
        after_seq: Option<u64>,
        /// How many records follow it.
        records: usize,
        /// The line of the first unsigned record.
        line: usize,
    },
    /// A complete line that is not a valid record of this schema.
    #[error("line {line}: malformed record: {why}")]
    Malformed {
        /// The line.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// The session before this one, named in this session's start record, has no segment: it
    /// was deleted (or lost when the machine crashed before it was synced).
    #[error("line {line}: the previous session {previous:?}, named here, has no segment (it was deleted)")]
    PreviousMissing {
        /// The session start's line.
        line: usize,
        /// The missing session.
        previous: String,
    },
    /// The record names another session: it was copied or moved here from another segment.
    #[error("line {line}: record seq {seq} belongs to session {found:?}, not to this one")]
    WrongSession {
        /// The record's seq.
        seq: u64,
        /// Its line.
        line: usize,
        /// The session it names.
        found: String,
    },
}

fn missing(from: u64, to: u64) -> String {
    if from == to {
        format!("record seq {from} was")
    } else {
        format!("records seq {from}..={to} were")
    }
}

fn after(seq: Option<u64>) -> String {
    match seq {
        Some(seq) => format!("the last checkpoint (seq {seq})"),
        None => "the start (the segment has no checkpoint)".to_owned(),
    }
}

impl Problem {
    /// The line the problem is on (for [`Problem::Unsigned`], the first unsigned line).
    pub fn line(&self) -> usize {
        match *self {
            Problem::Edited { line, .. }
            | Problem::Reordered { line, .. }
            | Problem::Deleted { line, .. }
            | Problem::Truncated { line, .. }
            | Problem::BadSignature { line, .. }
            | Problem::Unsigned { line, .. }
            | Problem::Malformed { line, .. }
            | Problem::PreviousMissing { line, .. }
            | Problem::WrongSession { line, .. } => line,
        }
    }

    /// Whether a crash can explain the problem without tampering: a torn tail or an unsigned
    /// tail. Everything else means the file was changed after it was written.
    pub fn could_be_crash(&self) -> bool {
        matches!(self, Problem::Truncated { .. } | Problem::Unsigned { .. })
    }
}

/// The result of [`verify`]: the segment is intact when `problems` is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The full session id.
    pub session: String,
    /// Complete lines that parse as records, checkpoints included.
    pub records: usize,
    /// Everything found, in line order.
    pub problems: Vec<Problem>,
}

impl Verdict {
    /// No problems at all.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// Some problem that a crash cannot explain.
    pub fn tampered(&self) -> bool {
        self.problems.iter().any(|p| !p.could_be_crash())
    }
}

/// Checks the segment of `session` (an id or unique prefix) in `dir` against its hash chain and
/// the checkpoint signatures made with the key at `<dir>/../audit.key`.
pub fn verify(dir: &Path, session: &str) -> Result<Verdict, AuditError> {
    let (id, path) = resolve(dir, session)?;
    let key = key::load(&key::key_path(dir))?;
    let bytes = fs::read(&path).map_err(|e| AuditError::io("reading audit log", &path, e))?;
    let mut verdict = check(&id, &bytes, &key);
    // Segments link to the one started before them, so that deleting a whole segment shows.
    if let Some(first) = split_lines(&bytes).complete.first() {
        if let Ok(r) = parse_line(first) {
            if let Some(prev) = r.data["previous_session"].as_str() {
                let known = crate::writer::validate_session(prev).is_ok();
                if !known || !dir.join(format!("{prev}.jsonl")).exists() {
                    verdict.problems.insert(
                        0,
                        Problem::PreviousMissing {
                            line: 1,
                            previous: prev.to_owned(),
                        },
                    );
                }
            }
        }
    }
    Ok(verdict)
}

/// A parsed line that takes part in the chain.
struct Entry {
    line: usize,
    hash: String,
    record: Record,
}

/// The pure check behind [`verify`].
pub(crate) fn check(session: &str, bytes: &[u8], key: &[u8]) -> Verdict {
    let lines = split_lines(bytes);
    let mut problems = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut records = 0;
    // Lines that did not parse, in order: they may be where missing seqs went.
    let mut unparsed: Vec<usize> = Vec::new();
    let mut line_of_seq: HashMap<u64, usize> = HashMap::new();
    let mut other_sessions: HashSet<String> = HashSet::new();

    // Pass 1, file order: each line on its own.
    for (i, raw) in lines.complete.iter().enumerate() {
        let line = i + 1;
        let record = match parse_line(raw) {
            Ok(record) => record,
            Err(why) => {
                problems.push(Problem::Malformed { line, why });
                unparsed.push(line);
                continue;
            }
        };
        records += 1;
        if record.v != SCHEMA_VERSION {
            problems.push(Problem::Malformed {
                line,
                why: format!("schema version {}, expected {SCHEMA_VERSION}", record.v),
            });
        }
        if record.session != session && other_sessions.insert(record.session.clone()) {
            problems.push(Problem::WrongSession {
                seq: record.seq,
                line,
                found: record.session.clone(),
            });
        }
        if let Some(first) = line_of_seq.get(&record.seq) {
            problems.push(Problem::Malformed {
                line,
                why: format!("duplicate of seq {} at line {first}", record.seq),
            });
            continue;
        }
        line_of_seq.insert(record.seq, line);
        if record.kind == CHECKPOINT {
            problems.extend(check_checkpoint(raw, &record, line, key));
        } else if record.mac.is_some() {
            problems.push(Problem::Malformed {
                line,
                why: "a signature on a record that is not a checkpoint".to_owned(),
            });
        }
        entries.push(Entry {
            line,
            hash: crypto::sha256_hex(raw),
            record,
        });
    }

    // Pass 2, file order: records outside a longest increasing run of seqs were moved.
    let seqs: Vec<u64> = entries.iter().map(|e| e.record.seq).collect();
    let in_order = longest_increasing(&seqs);
    for (entry, _) in entries.iter().zip(&in_order).filter(|(_, &ok)| !ok) {
        problems.push(Problem::Reordered {
            seq: entry.record.seq,
            line: entry.line,
        });
    }

    // Pass 3, seq order: the chain. Moved records are still linked to their true neighbours.
    let mut by_seq: Vec<&Entry> = entries.iter().collect();
    by_seq.sort_by_key(|e| e.record.seq);
    let mut before: Option<&Entry> = None;
    for entry in &by_seq {
        let expected_seq = before.map_or(0, |b| b.record.seq + 1);
        if entry.record.seq > expected_seq {
            // Missing seqs may still be there as lines that no longer parse, between the two
            // neighbours; those are reported as malformed already.
            let gap = entry.record.seq - expected_seq;
            let from_line = before.map_or(0, |b| b.line);
            let garbled = if from_line < entry.line {
                unparsed.partition_point(|&l| l < entry.line)
                    - unparsed.partition_point(|&l| l <= from_line)
            } else {
                0
            };
            if (garbled as u64) < gap {
                problems.push(Problem::Deleted {
                    from_seq: expected_seq,
                    to_seq: entry.record.seq - 1,
                    line: entry.line,
                });
            }
        } else {
            let expected_prev = before.map_or(GENESIS, |b| b.hash.as_str());
            if entry.record.prev != expected_prev {
                // Blame the record whose bytes no longer hash to what its successor recorded;
                // for seq 0 the expected value is fixed, so the record itself changed.
                let edited = before.unwrap_or(entry);
                problems.push(Problem::Edited {
                    seq: edited.record.seq,
                    line: edited.line,
                });
            }
        }
        before = Some(entry);
    }

    // The tail: records after the last checkpoint, and a torn line.
    let last_checkpoint = by_seq
        .iter()
        .filter(|e| e.record.kind == CHECKPOINT)
        .map(|e| e.record.seq)
        .max();
    let unsigned: Vec<&&Entry> = by_seq
        .iter()
        .filter(|e| last_checkpoint.is_none_or(|c| e.record.seq > c))
        .collect();
    if let Some(first) = unsigned.iter().map(|e| e.line).min() {
        problems.push(Problem::Unsigned {
            after_seq: last_checkpoint,
            records: unsigned.len(),
            line: first,
        });
    }
    // A segment with no signed record at all (emptied, or created and never committed) has
    // nothing vouching for it.
    if last_checkpoint.is_none() && unsigned.is_empty() && lines.torn.is_none() {
        problems.push(Problem::Unsigned {
            after_seq: None,
            records: 0,
            line: 1,
        });
    }
    if let Some(torn) = lines.torn {
        problems.push(Problem::Truncated {
            line: lines.complete.len() + 1,
            bytes: torn.len(),
        });
    }

    problems.sort_by_key(Problem::line);
    Verdict {
        session: session.to_owned(),
        records,
        problems,
    }
}

/// Checks a checkpoint's signature and count.
fn check_checkpoint(raw: &[u8], record: &Record, line: usize, key: &[u8]) -> Option<Problem> {
    let bad = Some(Problem::BadSignature {
        seq: record.seq,
        line,
    });
    let Some(mac) = &record.mac else { return bad };
    // `mac` is serialized last, so the signed bytes are the line without `,"mac":"…"`.
    let suffix = format!(",\"mac\":\"{mac}\"}}");
    let Some(body) = raw.strip_suffix(suffix.as_bytes()) else {
        return bad;
    };
    let mut signed = body.to_vec();
    signed.push(b'}');
    let expected = crypto::hex(&crypto::hmac_sha256(key, &signed));
    if !crypto::constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
        return bad;
    }
    let count = record
        .data
        .get("records")
        .and_then(serde_json::Value::as_u64);
    if count != Some(record.seq) {
        return Some(Problem::Malformed {
            line,
            why: format!(
                "checkpoint seq {} counts {} records",
                record.seq,
                record
                    .data
                    .get("records")
                    .map_or("no".to_owned(), |c| c.to_string())
            ),
        });
    }
    None
}

/// Marks the members of one longest strictly increasing subsequence of `seqs` (patience sorting,
/// O(n log n)). For a log in order that is everything.
fn longest_increasing(seqs: &[u64]) -> Vec<bool> {
    // tails[k]: index of the smallest tail of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut parent: Vec<Option<usize>> = vec![None; seqs.len()];
    for (i, &seq) in seqs.iter().enumerate() {
        let k = tails.partition_point(|&t| seqs[t] < seq);
        parent[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut keep = vec![false; seqs.len()];
    let mut next = tails.last().copied();
    while let Some(i) = next {
        keep[i] = true;
        next = parent[i];
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_increasing_keeps_the_ordered_run() {
        assert_eq!(longest_increasing(&[]), Vec::<bool>::new());
        assert_eq!(longest_increasing(&[0, 1, 2]), [true; 3]);
        assert_eq!(longest_increasing(&[0, 2, 1, 3]), [true, false, true, true]);
        assert_eq!(
            longest_increasing(&[0, 9, 1, 2, 3]),
            [true, false, true, true, true]
        );
        assert_eq!(
            longest_increasing(&[0, 2, 3, 4, 1]),
            [true, true, true, true, false]
        );
    }
}
