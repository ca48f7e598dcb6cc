//! The checkpoint signing key: 32 random bytes in `<audit dir>/../audit.key`.

use crate::crypto;
use crate::fsutil;
use crate::AuditError;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Bytes in the key.
pub(crate) const KEY_LEN: usize = 32;

/// The key's path for an audit directory: beside it, so `<state>/audit/` and `<state>/audit.key`.
pub(crate) fn key_path(dir: &Path) -> PathBuf {
    dir.join("..").join("audit.key")
}

/// Reads the key; a missing key is [`AuditError::KeyMissing`].
pub(crate) fn load(path: &Path) -> Result<[u8; KEY_LEN], AuditError> {
    let bytes = fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => AuditError::KeyMissing {
            path: path.to_owned(),
        },
        _ => AuditError::io("reading audit key", path, e),
    })?;
    bytes.as_slice().try_into().map_err(|_| AuditError::BadKey {
        path: path.to_owned(),
        len: bytes.len(),
    })
}

/// Reads the key, creating it first if it does not exist. An existing key is never rewritten.
///
/// Creation is race-free between concurrent sessions: the key is written and synced under a
/// private temporary name, then hard-linked into place, which fails if another process got there
/// first. Either way, nobody ever reads a partly written key.
pub(crate) fn load_or_create(path: &Path) -> Result<[u8; KEY_LEN], AuditError> {
    match load(path) {
        Err(AuditError::KeyMissing { .. }) => {}
        other => return other,
    }
    let mut key = [0_u8; KEY_LEN];
    crypto::random_bytes(&mut key).map_err(|e| {
        AuditError::io(
            "reading randomness for the audit key from",
            "/dev/urandom",
            e,
        )
    })?;
    let mut suffix = [0_u8; 8];
    crypto::random_bytes(&mut suffix)
        .map_err(|e| AuditError::io("reading randomness from", "/dev/urandom", e))?;
    let tmp = path.with_file_name(format!(
        ".audit.key.{}.{}",
        std::process::id(),
        crypto::hex(&suffix)
    ));
    let written = write_synced(&tmp, &key)
        .map_err(|e| AuditError::io("writing audit key", &tmp, e))
        .and_then(|()| match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(AuditError::io("installing audit key", path, e)),
        });
    let removed = fs::remove_file(&tmp);
    written?;
    removed.map_err(|e| AuditError::io("removing temporary key", &tmp, e))?;
    if let Some(parent) = path.parent() {
        fsutil::sync_dir(parent).map_err(|e| AuditError::io("syncing directory", parent, e))?;
    }
    load(path)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fsutil::create_new_append(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
