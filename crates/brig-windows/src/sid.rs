//! Security identifiers as data, and the per-workspace capability SID.
//!
//! ## The capability SID scheme
//!
//! Every workspace gets its own SID, used only as the *restricting* SID of the command's
//! write-restricted token and in the ACL entries brig writes. Writes succeed only where an
//! ACL grants that SID, so a command started for workspace A cannot write into workspace B even
//! when both are writable by the same user or the same sandbox account.
//!
//! The SID is derived, not stored: `SHA-256("brig-windows-capability-v1\0" || user SID || "\0"
//! || installation key || "\0" || mode || "\0" || case-folded canonical workspace path)`, of which the first
//! 16 bytes become four little-endian 32-bit sub-authorities of `S-1-5-21-a-b-c-d`. The same
//! workspace always yields the same SID (so the ACLs applied once stay valid and nothing grows
//! per run: Codex's per-workspace SID file grew until a token's default DACL overflowed,
//! openai/codex#34889), and two users of one machine get different SIDs for the same path.
//! The mode is part of it so that alternating `read-only` and `workspace-write` runs of one
//! workspace do not remove and re-apply the grants each time: each (workspace, mode) pair
//! keeps its own, and a `read-only` SID is granted nothing but its temp directory.
//! The installation key is a random string brig's setup stores; without the setup it is empty,
//! which only makes the SIDs predictable (they are not secrets: a SID grants nothing unless a
//! token carries it, and only brig puts it into one).
//!
//! `S-1-5-21-...` is the form of a domain or machine account; 96 random bits of "domain" make a
//! collision with a real one negligible, and `LookupAccountSid` finds no name for it (Explorer
//! shows the ACL entries as an unknown account, which is what they are).

use brig_policy::Mode;
use sha2::{Digest, Sha256};

use crate::path::WinPath;

/// A SID in its string form (`S-1-5-21-...`), checked for shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(String);

/// Why a string is not a SID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a SID in string form (S-1-<authority>-<sub-authority>...)")]
pub struct BadSid(pub String);

impl Sid {
    /// Parses the string form: `S-1-`, an authority, then 1 to 15 decimal sub-authorities that
    /// fit 32 bits.
    pub fn parse(s: &str) -> Result<Sid, BadSid> {
        let bad = || BadSid(s.to_string());
        let rest = s
            .strip_prefix("S-1-")
            .or_else(|| s.strip_prefix("s-1-"))
            .ok_or_else(bad)?;
        let fields: Vec<&str> = rest.split('-').collect();
        if fields.len() < 2 || fields.len() > 16 {
            return Err(bad());
        }
        fields[0].parse::<u64>().map_err(|_| bad())?;
        for f in &fields[1..] {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            f.parse::<u32>().map_err(|_| bad())?;
        }
        Ok(Sid(format!("S-1-{rest}")))
    }

    /// The string form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The well-known Administrators group, made deny-only in the command's token.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";

/// A workspace's identity: its capability SID and a short tag naming its private directories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceIdentity {
    /// The capability SID (see the module documentation).
    pub sid: Sid,
    /// 16 lowercase hex digits from the same hash, for directory names.
    pub tag: String,
}

/// Derives the capability SID of `workspace` in `mode` for `user` (see the module
/// documentation).
pub fn workspace_identity(
    user: &Sid,
    installation_key: &str,
    workspace: &WinPath,
    mode: Mode,
) -> WorkspaceIdentity {
    let mut h = Sha256::new();
    h.update(b"brig-windows-capability-v1\0");
    h.update(user.as_str().as_bytes());
    h.update(b"\0");
    h.update(installation_key.as_bytes());
    h.update(b"\0");
    h.update(mode.as_str().as_bytes());
    h.update(b"\0");
    h.update(workspace.key().as_bytes());
    let d = h.finalize();
    let sub = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    let sid = Sid(format!(
        "S-1-5-21-{}-{}-{}-{}",
        sub(0),
        sub(4),
        sub(8),
        sub(12)
    ));
    let tag = d[16..24].iter().map(|b| format!("{b:02x}")).collect();
    WorkspaceIdentity { sid, tag }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Sid {
        Sid::parse("S-1-5-21-1111-2222-3333-1001").unwrap()
    }

    #[test]
    fn parses_and_refuses_sids() {
        assert_eq!(Sid::parse("S-1-5-32-544").unwrap().as_str(), "S-1-5-32-544");
        assert_eq!(Sid::parse("s-1-5-18").unwrap().as_str(), "S-1-5-18");
        for bad in [
            "",
            "S-1-5",
            "S-1-5-",
            "S-2-5-18",
            "S-1-5-x",
            "S-1-5-4294967296",
            "S-1-5--1",
        ] {
            assert!(Sid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_capability_sid_is_deterministic_and_case_insensitive_in_the_path() {
        let ww = Mode::WorkspaceWrite;
        let a = workspace_identity(&user(), "k", &WinPath::parse(r"C:\Work\Repo").unwrap(), ww);
        let b = workspace_identity(
            &user(),
            "k",
            &WinPath::parse(r"\\?\c:\work\repo").unwrap(),
            ww,
        );
        assert_eq!(a, b);
        assert!(a.sid.as_str().starts_with("S-1-5-21-"));
        assert_eq!(a.sid.as_str().split('-').count(), 8);
        assert!(Sid::parse(a.sid.as_str()).is_ok());
        assert_eq!(a.tag.len(), 16);
    }

    #[test]
    fn the_capability_sid_differs_per_workspace_mode_user_and_installation() {
        let ws = WinPath::parse(r"C:\work\repo").unwrap();
        let base = workspace_identity(&user(), "k", &ws, Mode::WorkspaceWrite).sid;
        let other_ws = workspace_identity(
            &user(),
            "k",
            &WinPath::parse(r"C:\work\repo2").unwrap(),
            Mode::WorkspaceWrite,
        )
        .sid;
        let other_user = workspace_identity(
            &Sid::parse("S-1-5-21-1111-2222-3333-1002").unwrap(),
            "k",
            &ws,
            Mode::WorkspaceWrite,
        )
        .sid;
        let other_key = workspace_identity(&user(), "k2", &ws, Mode::WorkspaceWrite).sid;
        let other_mode = workspace_identity(&user(), "k", &ws, Mode::ReadOnly).sid;
        assert_ne!(base, other_mode);
        assert_ne!(base, other_ws);
        assert_ne!(base, other_user);
        assert_ne!(base, other_key);
    }
}
