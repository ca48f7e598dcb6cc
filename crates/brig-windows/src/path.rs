//! Windows paths as plain data, parsed and compared without asking the OS.
//!
//! The planning layer must run (and be tested) on Linux, where `std::path` does not know that
//! `\` separates components or that `C:` is a drive. [`WinPath`] is brig's own strict model
//! of the only paths the Windows backend accepts: absolute, canonical, drive-letter paths on a
//! local volume (`C:\Users\me\repo`, or the same with the `\\?\` prefix that
//! `std::fs::canonicalize` returns).
//!
//! Refused, each with its own [`PathError`]:
//! - **alternate data streams**: any `:` after the drive (`repo\.git:evil`, `file::$DATA`).
//!   An ADS is part of its file, so the ACL on the file covers all of its streams; a path that
//!   names a stream is never needed in a plan and would make "the same file" ambiguous;
//! - UNC and device paths (`\\server\share`, `\\?\UNC\...`, `\\.\PIPE\x`): the ACLs of a
//!   network share are enforced by the server, not by this machine;
//! - relative paths, `.` and `..` components, empty components (the plan holds canonical
//!   paths only);
//! - DOS device names as components (`NUL`, `CON`, `COM1`, `LPT1.txt`, ...), which Win32 maps to
//!   devices instead of files.
//!
//! Comparison is case-insensitive, as NTFS is: [`WinPath::key`] folds with Unicode lowercase
//! (close to NTFS's upcase table; a difference only makes two spellings compare unequal here,
//! which errs towards a duplicate ACL entry, never towards a missed one).

use std::fmt;

/// Why a path is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is not valid Unicode (an unpaired surrogate in the UTF-16 name).
    #[error("the path is not valid Unicode")]
    NotUnicode,
    /// Not an absolute drive-letter path.
    #[error("not an absolute path with a drive letter (such as C:\\work\\repo)")]
    NotAbsolute,
    /// A UNC or device path.
    #[error(
        "UNC and device paths are not supported (their ACLs are not enforced by this machine)"
    )]
    UncOrDevice,
    /// A `:` after the drive: an alternate data stream.
    #[error("the path names an alternate data stream (`:` after the drive); the ACL of the file covers its streams")]
    AlternateDataStream,
    /// `.`, `..` or an empty component.
    #[error("the path is not canonical (`.`, `..` or an empty component)")]
    NotCanonical,
    /// A DOS device name as a component.
    #[error("the component `{0}` is a DOS device name")]
    DeviceName(String),
}

/// An absolute, canonical, local Windows path.
#[derive(Clone, Debug)]
pub struct WinPath {
    /// The drive letter, uppercase.
    drive: char,
    /// The components below the drive's root, as spelled.
    parts: Vec<String>,
}

const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "CONIN$",
    "CONOUT$",
];

impl WinPath {
    /// Parses `s` (`\` or `/` as separators; an optional `\\?\` prefix).
    pub fn parse(s: &str) -> Result<WinPath, PathError> {
        let s = s.replace('/', "\\");
        let rest = if let Some(r) = s.strip_prefix(r"\\?\") {
            if r.len() >= 4 && r[..4].eq_ignore_ascii_case("UNC\\") {
                return Err(PathError::UncOrDevice);
            }
            r
        } else if s.starts_with(r"\\") {
            return Err(PathError::UncOrDevice);
        } else {
            &s
        };
        let mut chars = rest.chars();
        let (Some(drive), Some(':')) = (chars.next(), chars.next()) else {
            return Err(if rest.contains(':') {
                PathError::AlternateDataStream
            } else {
                PathError::NotAbsolute
            });
        };
        if !drive.is_ascii_alphabetic() {
            return Err(PathError::NotAbsolute);
        }
        let tail = chars.as_str();
        if tail.contains(':') {
            return Err(PathError::AlternateDataStream);
        }
        let Some(tail) = tail.strip_prefix('\\') else {
            return Err(PathError::NotAbsolute);
        };
        let tail = tail.strip_suffix('\\').unwrap_or(tail);
        let mut parts = Vec::new();
        if !tail.is_empty() {
            for p in tail.split('\\') {
                if p.is_empty() || p == "." || p == ".." {
                    return Err(PathError::NotCanonical);
                }
                let stem = p.split('.').next().unwrap_or(p).trim_end();
                if DEVICE_NAMES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
                    return Err(PathError::DeviceName(p.to_string()));
                }
                parts.push(p.to_string());
            }
        }
        Ok(WinPath {
            drive: drive.to_ascii_uppercase(),
            parts,
        })
    }

    /// Converts a path from the enforcement plan.
    pub fn from_path(p: &std::path::Path) -> Result<WinPath, PathError> {
        WinPath::parse(p.to_str().ok_or(PathError::NotUnicode)?)
    }

    /// The case-folded form used for comparison and hashing.
    pub fn key(&self) -> String {
        self.to_string().to_lowercase()
    }

    /// The components below the drive's root.
    pub fn components(&self) -> &[String] {
        &self.parts
    }

    /// The last component (`None` for a drive's root).
    pub fn file_name(&self) -> Option<&str> {
        self.parts.last().map(String::as_str)
    }

    /// The path one level up (`None` for a drive's root).
    pub fn parent(&self) -> Option<WinPath> {
        if self.parts.is_empty() {
            return None;
        }
        Some(WinPath {
            drive: self.drive,
            parts: self.parts[..self.parts.len() - 1].to_vec(),
        })
    }

    /// `self` with one more component (which must be a plain name: no separator, no `:`).
    pub fn join(&self, name: &str) -> Result<WinPath, PathError> {
        WinPath::parse(&format!("{self}\\{name}"))
    }

    /// True when `self` is `base` or lies beneath it (component-wise, case-insensitively).
    pub fn starts_with(&self, base: &WinPath) -> bool {
        self.drive == base.drive
            && self.parts.len() >= base.parts.len()
            && self
                .parts
                .iter()
                .zip(&base.parts)
                .all(|(a, b)| a.to_lowercase() == b.to_lowercase())
    }

    /// The components of `self` below `base`, when it lies strictly beneath it.
    pub fn strip_prefix(&self, base: &WinPath) -> Option<&[String]> {
        (self.starts_with(base) && self.parts.len() > base.parts.len())
            .then(|| &self.parts[base.parts.len()..])
    }
}

impl fmt::Display for WinPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:\\{}", self.drive, self.parts.join("\\"))
    }
}

impl PartialEq for WinPath {
    fn eq(&self, other: &WinPath) -> bool {
        self.key() == other.key()
    }
}

impl Eq for WinPath {}

impl PartialOrd for WinPath {
    fn partial_cmp(&self, other: &WinPath) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WinPath {
    fn cmp(&self, other: &WinPath) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for WinPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> WinPath {
        WinPath::parse(s).unwrap()
    }

    #[test]
    fn parses_drive_paths_and_the_verbatim_prefix() {
        assert_eq!(p(r"C:\work\repo").to_string(), r"C:\work\repo");
        assert_eq!(p(r"\\?\c:\work\repo\").to_string(), r"C:\work\repo");
        assert_eq!(p("d:/a/b").to_string(), r"D:\a\b");
        assert_eq!(p(r"C:\").to_string(), r"C:\");
        assert_eq!(p(r"C:\").file_name(), None);
    }

    #[test]
    fn compares_case_insensitively() {
        assert_eq!(p(r"C:\Work\Repo\.GiT"), p(r"c:\work\repo\.git"));
        assert!(p(r"C:\work\REPO\sub").starts_with(&p(r"c:\Work\repo")));
        assert!(!p(r"C:\work\repo2").starts_with(&p(r"C:\work\repo")));
        assert!(!p(r"D:\work\repo").starts_with(&p(r"C:\work\repo")));
        assert_eq!(
            p(r"C:\w\r\a\b").strip_prefix(&p(r"C:\W\R")).unwrap(),
            &["a".to_string(), "b".to_string()]
        );
        assert_eq!(p(r"C:\w\r").strip_prefix(&p(r"C:\w\r")), None);
    }

    #[test]
    fn refuses_alternate_data_streams() {
        for s in [
            r"C:\work\repo\.git:evil",
            r"C:\work\repo\file::$DATA",
            r"\\?\C:\work\x:y",
            r"repo:stream",
        ] {
            assert_eq!(
                WinPath::parse(s),
                Err(PathError::AlternateDataStream),
                "{s}"
            );
        }
    }

    #[test]
    fn refuses_unc_device_relative_and_non_canonical_paths() {
        assert_eq!(
            WinPath::parse(r"\\server\share\x"),
            Err(PathError::UncOrDevice)
        );
        assert_eq!(
            WinPath::parse(r"\\?\UNC\server\share"),
            Err(PathError::UncOrDevice)
        );
        assert_eq!(WinPath::parse(r"\\.\PIPE\x"), Err(PathError::UncOrDevice));
        assert_eq!(WinPath::parse(r"work\repo"), Err(PathError::NotAbsolute));
        assert_eq!(WinPath::parse(r"C:work"), Err(PathError::NotAbsolute));
        assert_eq!(WinPath::parse(r"1:\x"), Err(PathError::NotAbsolute));
        assert_eq!(WinPath::parse(r"C:\a\..\b"), Err(PathError::NotCanonical));
        assert_eq!(WinPath::parse(r"C:\a\\b"), Err(PathError::NotCanonical));
        assert_eq!(
            WinPath::parse(r"C:\a\nul.txt"),
            Err(PathError::DeviceName("nul.txt".into()))
        );
        assert_eq!(
            WinPath::parse(r"C:\a\COM1"),
            Err(PathError::DeviceName("COM1".into()))
        );
        assert!(WinPath::parse(r"C:\a\null").is_ok());
    }

    #[test]
    fn join_refuses_streams() {
        assert_eq!(p(r"C:\a").join("b:c"), Err(PathError::AlternateDataStream));
        assert_eq!(p(r"C:\a").join("b").unwrap(), p(r"C:\a\b"));
    }
}
