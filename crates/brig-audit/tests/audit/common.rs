//! Shared helpers: a private state directory per test, segment surgery, and an independent
//! recomputation of hashes and signatures with `sha2` directly.

use brig_audit::{Record, Writer};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `<tmp>/brig-audit-test-<pid>-<n>-<name>/` with `audit/` inside; removed on drop.
pub struct State {
    root: PathBuf,
}

impl State {
    pub fn new(name: &str) -> State {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("brig-audit-test-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        State { root }
    }

    /// The audit directory (created by the first `Writer::create`).
    pub fn dir(&self) -> PathBuf {
        self.root.join("audit")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn key_path(&self) -> PathBuf {
        self.root.join("audit.key")
    }

    pub fn key(&self) -> Vec<u8> {
        fs::read(self.key_path()).unwrap()
    }

    pub fn segment(&self, session: &str) -> PathBuf {
        self.dir().join(format!("{session}.jsonl"))
    }
}

impl Drop for State {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

pub const SESSION: &str = "20261203T180720Z-4242-9f3a1c";

/// The standard session used by the tampering tests, six lines:
///
/// | line | seq | kind       |
/// |------|-----|------------|
/// | 1    | 0   | session    |
/// | 2    | 1   | file       |
/// | 3    | 2   | file       |
/// | 4    | 3   | checkpoint |
/// | 5    | 4   | command    |
/// | 6    | 5   | checkpoint |
pub fn standard_session(state: &State) -> PathBuf {
    let mut w = Writer::create(&state.dir(), SESSION).unwrap();
    w.append("session", json!({"event": "start", "user": "ada"}))
        .unwrap();
    w.append("file", json!({"op": "write", "path": "/work/a.rs"}))
        .unwrap();
    w.append("file", json!({"op": "delete", "path": "/work/b.rs"}))
        .unwrap();
    w.commit().unwrap();
    w.append("command", json!({"argv": ["cargo", "build"], "exit": 0}))
        .unwrap();
    w.commit().unwrap();
    state.segment(SESSION)
}

/// The segment's complete lines, without newlines.
pub fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    assert_eq!(bytes.last(), Some(&b'\n'), "segment ends in a newline");
    bytes[..bytes.len() - 1]
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Writes `lines` back, each followed by a newline.
pub fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    fs::write(path, bytes).unwrap();
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    assert!(key.len() <= 64);
    let mut k = [0_u8; 64];
    k[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    hex(&outer.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces the first occurrence of `from` in `line`.
pub fn replace(line: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(line).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

/// What an attacker without the key does after editing: recompute every `prev` so the chain is
/// consistent again, keeping the old signatures (or signing with `forged_key`).
pub fn rechain(lines: &mut [Vec<u8>], forged_key: Option<&[u8]>) {
    let mut prev = "0".repeat(64);
    for line in lines.iter_mut() {
        let mut record: Record = serde_json::from_slice(line).unwrap();
        record.prev = prev;
        if let (Some(key), Some(_)) = (forged_key, &record.mac) {
            record.mac = None;
            let unsigned = serde_json::to_vec(&record).unwrap();
            record.mac = Some(hmac_hex(key, &unsigned));
        }
        *line = serde_json::to_vec(&record).unwrap();
        prev = sha256_hex(line);
    }
}

/// Whether `ts` has the shape `2026-12-03T18:07:20.123456Z`.
pub fn is_rfc3339_micros(ts: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    ts.len() == shape.len()
        && ts.chars().zip(shape.chars()).all(|(c, s)| match s {
            'd' => c.is_ascii_digit(),
            other => c == other,
        })
}
