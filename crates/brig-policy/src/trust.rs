//! The trust store: which project config files the user has reviewed.
//!
//! A project's `.brig.toml` comes with the repository, so by default it may only tighten the
//! policy ([`crate::resolve`](mod@crate::resolve)). `brig trust DIR` records the workspace path together with the
//! SHA-256 of the file's current content in `~/.config/brig/trusted.toml`:
//!
//! ```toml
//! [[trusted]]
//! path = "/home/me/src/project"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! ```
//!
//! Trust is bound to the content, not the path: any change to the file (a `git pull`, an edit by
//! the agent) breaks it, and the file is back to "may only tighten" until the user trusts it
//! again. This module is the pure model: reading and writing the file is the binary's job, and
//! the store itself is hidden from the sandboxed command ([`crate::plan()`] denies reading it).

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::ConfigError;
use crate::source::{entries, expect_str, expect_table, unknown_key, Doc};
use toml::de::DeValue;

/// The trust store's file name inside brig's config directory.
pub const TRUST_FILE_NAME: &str = "trusted.toml";

/// One trusted project config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrustEntry {
    /// The workspace (absolute, canonical), as a string.
    pub path: String,
    /// Lowercase hex SHA-256 of the `.brig.toml` content that was reviewed.
    pub sha256: String,
}

/// The whole trust store, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrustStore {
    /// The entries; at most one per path.
    #[serde(rename = "trusted")]
    pub entries: Vec<TrustEntry>,
}

/// Why a workspace cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The trust store is TOML, which holds only UTF-8.
    #[error("cannot trust `{}`: the path is not valid UTF-8", path.display())]
    NonUtf8Path {
        /// The workspace.
        path: std::path::PathBuf,
    },
    /// Only absolute (canonical) workspace paths are recorded.
    #[error("cannot trust `{}`: the workspace path must be absolute", path.display())]
    NotAbsolute {
        /// The workspace.
        path: std::path::PathBuf,
    },
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses the trust store. Errors are `FILE:LINE:COL: message`, like config errors.
pub fn parse_trust_store(source_name: &str, text: &str) -> Result<TrustStore, ConfigError> {
    let doc = Doc::new(source_name, text);
    let root = doc.parse()?;
    let mut store = TrustStore::default();
    for (key, value) in entries(root.get_ref()) {
        if key.get_ref().as_ref() != "trusted" {
            return Err(unknown_key(&doc, key, "", &["trusted"]));
        }
        let DeValue::Array(items) = value.get_ref() else {
            return Err(doc.error(
                value.span(),
                "`trusted` must be an array of tables ([[trusted]])",
            ));
        };
        for (i, item) in items.iter().enumerate() {
            let name = format!("trusted[{i}]");
            let table = expect_table(&doc, &name, item)?;
            let (mut path, mut sha) = (None, None);
            for (k, v) in entries(table) {
                match k.get_ref().as_ref() {
                    "path" => {
                        let s = expect_str(&doc, &format!("{name}.path"), v)?;
                        if !Path::new(s).is_absolute() {
                            return Err(doc.error(
                                v.span(),
                                format!("`{name}.path` must be an absolute path, found {s:?}"),
                            ));
                        }
                        if store.entries.iter().any(|e| e.path == s) {
                            return Err(
                                doc.error(v.span(), format!("`{name}.path` {s:?} is listed twice"))
                            );
                        }
                        path = Some(s.to_string());
                    }
                    "sha256" => {
                        let s = expect_str(&doc, &format!("{name}.sha256"), v)?;
                        if s.len() != 64
                            || !s
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                        {
                            return Err(doc.error(
                                v.span(),
                                format!("`{name}.sha256` must be 64 lowercase hex digits"),
                            ));
                        }
                        sha = Some(s.to_string());
                    }
                    _ => return Err(unknown_key(&doc, k, "[trusted]", &["path", "sha256"])),
                }
            }
            match (path, sha) {
                (Some(path), Some(sha256)) => store.entries.push(TrustEntry { path, sha256 }),
                (p, _) => {
                    let missing = if p.is_none() { "path" } else { "sha256" };
                    return Err(doc.error(item.span(), format!("`{name}` is missing `{missing}`")));
                }
            }
        }
    }
    Ok(store)
}

/// Writes the store as TOML (the inverse of [`parse_trust_store`]).
pub fn serialize_trust_store(store: &TrustStore) -> String {
    let mut out = String::from(
        "# brig trust store: project config files (.brig.toml) you reviewed, bound to their content.\n\
         # Written by `brig trust DIR`; an entry stops counting as soon as the file changes.\n\n",
    );
    if !store.entries.is_empty() {
        // Serializing plain strings into a table cannot fail.
        out.push_str(&toml::to_string(store).unwrap_or_default());
    }
    out
}

/// True when `store` trusts the project file of `workspace` with exactly this content.
pub fn is_trusted(store: &TrustStore, workspace: &Path, project_file: &[u8]) -> bool {
    let Some(path) = workspace.to_str() else {
        return false;
    };
    let hash = content_hash(project_file);
    store
        .entries
        .iter()
        .any(|e| e.path == path && e.sha256 == hash)
}

/// Returns `store` trusting `workspace`'s project file with this content (replacing an older
/// entry for the same workspace, keeping the others in order).
pub fn trust(
    mut store: TrustStore,
    workspace: &Path,
    project_file: &[u8],
) -> Result<TrustStore, TrustError> {
    if !workspace.is_absolute() {
        return Err(TrustError::NotAbsolute {
            path: workspace.to_path_buf(),
        });
    }
    let path = workspace.to_str().ok_or_else(|| TrustError::NonUtf8Path {
        path: workspace.to_path_buf(),
    })?;
    let entry = TrustEntry {
        path: path.to_string(),
        sha256: content_hash(project_file),
    };
    match store.entries.iter_mut().find(|e| e.path == path) {
        Some(existing) => *existing = entry,
        None => store.entries.push(entry),
    }
    Ok(store)
}

/// Returns `store` without any entry for `workspace`.
pub fn untrust(mut store: TrustStore, workspace: &Path) -> TrustStore {
    store
        .entries
        .retain(|e| Some(e.path.as_str()) != workspace.to_str());
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hash_is_lowercase_hex_sha256() {
        assert_eq!(content_hash(b""), EMPTY_SHA);
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[cfg(unix)]
    #[test]
    fn trust_then_check_and_break_on_change() {
        let ws = Path::new("/home/u/proj");
        let store = trust(TrustStore::default(), ws, b"mode = \"read-only\"\n").unwrap();
        assert_eq!(
            store,
            TrustStore {
                entries: vec![TrustEntry {
                    path: "/home/u/proj".into(),
                    sha256: content_hash(b"mode = \"read-only\"\n")
                }]
            }
        );
        assert!(is_trusted(&store, ws, b"mode = \"read-only\"\n"));
        assert!(!is_trusted(
            &store,
            ws,
            b"mode = \"read-only\"\nwritable = [\"/\"]\n"
        ));
        assert!(!is_trusted(
            &store,
            Path::new("/home/u/other"),
            b"mode = \"read-only\"\n"
        ));

        // Re-trusting replaces the entry in place.
        let store = trust(trust(store, Path::new("/b"), b"").unwrap(), ws, b"x").unwrap();
        assert_eq!(
            store.entries,
            vec![
                TrustEntry {
                    path: "/home/u/proj".into(),
                    sha256: content_hash(b"x")
                },
                TrustEntry {
                    path: "/b".into(),
                    sha256: EMPTY_SHA.into()
                },
            ]
        );
        assert_eq!(
            untrust(store, ws).entries,
            vec![TrustEntry {
                path: "/b".into(),
                sha256: EMPTY_SHA.into()
            }]
        );
    }

    #[cfg(unix)]
    #[test]
    fn trust_refuses_relative_and_non_utf8_paths() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            trust(TrustStore::default(), Path::new("proj"), b"").unwrap_err(),
            TrustError::NotAbsolute {
                path: "proj".into()
            }
        );
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"/p\xff"));
        assert_eq!(
            trust(TrustStore::default(), bad, b"").unwrap_err(),
            TrustError::NonUtf8Path { path: bad.into() }
        );
        assert!(!is_trusted(&TrustStore::default(), bad, b""));
    }

    #[cfg(unix)]
    #[test]
    fn serialize_and_parse_round_trip() {
        let store = TrustStore {
            entries: vec![
                TrustEntry {
                    path: "/home/u/a \"quoted\" dir".into(),
                    sha256: EMPTY_SHA.into(),
                },
                TrustEntry {
                    path: "/srv/ünï".into(),
                    sha256: content_hash(b"abc"),
                },
            ],
        };
        let text = serialize_trust_store(&store);
        assert!(text.starts_with("# brig trust store"), "{text}");
        assert_eq!(parse_trust_store("trusted.toml", &text).unwrap(), store);
        assert_eq!(
            parse_trust_store("t", &serialize_trust_store(&TrustStore::default())).unwrap(),
            TrustStore::default()
        );
    }

    #[cfg(unix)]
    #[test]
    fn parse_errors_have_positions() {
        let err = |t: &str| {
            parse_trust_store("trusted.toml", t)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("[[trust]]\npath = \"/a\""),
            "trusted.toml:1:3: unknown key `trust`; expected one of `trusted`"
        );
        assert_eq!(
            err("trusted = 1"),
            "trusted.toml:1:11: `trusted` must be an array of tables ([[trusted]])"
        );
        assert_eq!(
            err(&format!(
                "[[trusted]]\npath = \"rel\"\nsha256 = \"{EMPTY_SHA}\""
            )),
            "trusted.toml:2:8: `trusted[0].path` must be an absolute path, found \"rel\""
        );
        assert_eq!(
            err("[[trusted]]\npath = \"/a\"\nsha256 = \"ABC\""),
            "trusted.toml:3:10: `trusted[0].sha256` must be 64 lowercase hex digits"
        );
        assert_eq!(
            err("[[trusted]]\npath = \"/a\"\nhash = \"x\""),
            "trusted.toml:3:1: unknown key `hash` in [[trusted]]; expected one of `path`, `sha256`"
        );
        let e = parse_trust_store("t", "[[trusted]]\npath = \"/a\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (1, "`trusted[0]` is missing `sha256`")
        );
        let dup = format!("[[trusted]]\npath = \"/a\"\nsha256 = \"{EMPTY_SHA}\"\n[[trusted]]\npath = \"/a\"\nsha256 = \"{EMPTY_SHA}\"\n");
        assert_eq!(
            err(&dup),
            "trusted.toml:5:8: `trusted[1].path` \"/a\" is listed twice"
        );
        assert!(err("[[trusted]\n").starts_with("trusted.toml:1:"));
    }
}
