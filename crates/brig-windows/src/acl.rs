//! ACL entries as data, and the delta between the entries a plan needs and those applied.
//!
//! ## Why a delta
//!
//! Writing an inheritable entry on a directory is cheap; making the existing files below it
//! inherit it is not (one security-descriptor write per file). Codex's elevated sandbox
//! re-ran that work before every command, from about 20 s to minutes on large trees
//! (openai/codex#32314, #34062, #34529). brig instead reads the entries it cares about on the
//! few paths it manages (the roots, the protected entries, the secrets: one
//! `GetSecurityInfo` each, no recursion), passes them in as [`AclState`], and [`delta`]
//! returns only what differs. A second run with nothing changed applies nothing.
//!
//! An entry counts as present when the path has it explicitly, or **inherited** with the same
//! rights and inheritance (a writable root nested in another, or a protected entry inside a
//! denied directory): openai/codex#34889 re-ran its repair because it did not count inherited
//! rights.
//!
//! Reconciliation is complete for the workspace's own capability SID (`owned`): an explicit
//! entry for it that the plan no longer wants (a writable root removed from the
//! configuration, a protected entry that was deleted) is removed, so a stale grant cannot
//! keep a path writable. Entries for the sandbox accounts are only added here (they are shared
//! by every workspace); `brig windows uninstall` removes them.

use crate::path::WinPath;
use crate::sid::Sid;

/// Access-mask bits for files and directories (winnt.h).
pub mod mask {
    /// Read a file's data / list a directory.
    pub const FILE_READ_DATA: u32 = 0x1;
    /// Write a file's data / create a file in a directory (`FILE_ADD_FILE`).
    pub const FILE_WRITE_DATA: u32 = 0x2;
    /// Append to a file / create a subdirectory (`FILE_ADD_SUBDIRECTORY`).
    pub const FILE_APPEND_DATA: u32 = 0x4;
    /// Read extended attributes.
    pub const FILE_READ_EA: u32 = 0x8;
    /// Write extended attributes.
    pub const FILE_WRITE_EA: u32 = 0x10;
    /// Execute a file / traverse a directory.
    pub const FILE_EXECUTE: u32 = 0x20;
    /// Delete any child of a directory, whatever the child's own ACL says.
    pub const FILE_DELETE_CHILD: u32 = 0x40;
    /// Read attributes.
    pub const FILE_READ_ATTRIBUTES: u32 = 0x80;
    /// Write attributes (the read-only bit among them).
    pub const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
    /// Delete (or rename) the object itself.
    pub const DELETE: u32 = 0x1_0000;
    /// Read the security descriptor.
    pub const READ_CONTROL: u32 = 0x2_0000;
    /// Change the DACL.
    pub const WRITE_DAC: u32 = 0x4_0000;
    /// Change the owner.
    pub const WRITE_OWNER: u32 = 0x8_0000;
    /// Wait on the handle.
    pub const SYNCHRONIZE: u32 = 0x10_0000;
    /// `FILE_GENERIC_READ`.
    pub const GENERIC_READ: u32 =
        READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE;
    /// `FILE_GENERIC_WRITE`.
    pub const GENERIC_WRITE: u32 = READ_CONTROL
        | FILE_WRITE_DATA
        | FILE_WRITE_ATTRIBUTES
        | FILE_WRITE_EA
        | FILE_APPEND_DATA
        | SYNCHRONIZE;
    /// `FILE_GENERIC_EXECUTE`.
    pub const GENERIC_EXECUTE: u32 =
        READ_CONTROL | FILE_READ_ATTRIBUTES | FILE_EXECUTE | SYNCHRONIZE;

    /// What a writable root grants: read, write, execute and delete of each object. Not
    /// `FILE_DELETE_CHILD` (it would let the command delete or rename a protected entry
    /// through its parent, whatever the entry's own deny says), not `WRITE_DAC` or
    /// `WRITE_OWNER` (the command must not edit ACLs, not even of files it created).
    pub const WRITABLE: u32 = GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | DELETE;
    /// What a read grant gives (the sandbox account reading the workspace).
    pub const READABLE: u32 = GENERIC_READ | GENERIC_EXECUTE;
    /// What a protected entry denies: writing, appending, creating children, deleting it or
    /// its children, changing its attributes, extended attributes, DACL or owner.
    pub const PROTECT: u32 = FILE_WRITE_DATA
        | FILE_APPEND_DATA
        | FILE_WRITE_EA
        | FILE_DELETE_CHILD
        | FILE_WRITE_ATTRIBUTES
        | DELETE
        | WRITE_DAC
        | WRITE_OWNER;
    /// What a `.git` directory itself denies with `git = "local-commit"` (not inherited: the
    /// objects, refs and index inside stay writable): deleting, renaming or re-permissioning it.
    pub const GIT_DIR_SHELL: u32 =
        DELETE | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA | WRITE_DAC | WRITE_OWNER;
    /// What a secret denies: reading data, extended attributes, executing / listing.
    pub const DENY_READ: u32 = FILE_READ_DATA | FILE_READ_EA | FILE_EXECUTE;
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AceKind {
    /// `ACCESS_ALLOWED_ACE`.
    Allow,
    /// `ACCESS_DENIED_ACE`.
    Deny,
}

/// How an entry propagates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Inherit {
    /// This object only.
    None,
    /// `OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE`: the object and everything beneath it.
    ObjectAndContainer,
}

/// One access-control entry on one path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ace {
    /// The object.
    pub path: WinPath,
    /// Allow or deny.
    pub kind: AceKind,
    /// The SID it names.
    pub sid: Sid,
    /// The rights ([`mask`]).
    pub mask: u32,
    /// How it propagates.
    pub inherit: Inherit,
}

/// One entry as found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedAce {
    /// The entry.
    pub ace: Ace,
    /// It is inherited from a parent (`INHERITED_ACE`), not set on this path.
    pub inherited: bool,
}

/// The entries for brig's SIDs found on the paths a plan manages (data from the host).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclState {
    /// Every entry found, explicit and inherited.
    pub aces: Vec<ObservedAce>,
}

/// What must change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclDelta {
    /// Entries to add (an inheritable one on a directory also propagates, once).
    pub add: Vec<Ace>,
    /// Explicit entries to remove.
    pub remove: Vec<Ace>,
}

impl AclDelta {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// The changes that turn `state` into one that has every entry of `desired`; explicit entries
/// for a SID in `owned` that `desired` does not list are removed.
pub fn delta(desired: &[Ace], state: &AclState, owned: &[Sid]) -> AclDelta {
    let mut add: Vec<Ace> = desired
        .iter()
        .filter(|d| !state.aces.iter().any(|o| &o.ace == *d))
        .cloned()
        .collect();
    add.sort();
    add.dedup();
    let mut remove: Vec<Ace> = state
        .aces
        .iter()
        .filter(|o| !o.inherited && owned.contains(&o.ace.sid) && !desired.contains(&o.ace))
        .map(|o| o.ace.clone())
        .collect();
    remove.sort();
    remove.dedup();
    AclDelta { add, remove }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ace(path: &str, sid: &str, kind: AceKind, mask: u32) -> Ace {
        Ace {
            path: WinPath::parse(path).unwrap(),
            kind,
            sid: Sid::parse(sid).unwrap(),
            mask,
            inherit: Inherit::ObjectAndContainer,
        }
    }

    #[test]
    fn the_masks_are_what_windows_calls_them() {
        assert_eq!(mask::GENERIC_READ, 0x0012_0089);
        assert_eq!(mask::GENERIC_WRITE, 0x0012_0116);
        assert_eq!(mask::GENERIC_EXECUTE, 0x0012_00A0);
        assert_eq!(mask::WRITABLE & mask::FILE_DELETE_CHILD, 0);
        assert_eq!(mask::WRITABLE & (mask::WRITE_DAC | mask::WRITE_OWNER), 0);
        assert_eq!(mask::PROTECT & mask::FILE_READ_DATA, 0);
    }

    #[test]
    fn explicit_and_inherited_entries_count_as_present() {
        let a = ace(r"C:\w", "S-1-5-21-1-2-3-4", AceKind::Allow, mask::WRITABLE);
        let b = ace(
            r"C:\w\sub",
            "S-1-5-21-1-2-3-4",
            AceKind::Allow,
            mask::WRITABLE,
        );
        let state = AclState {
            aces: vec![
                ObservedAce {
                    ace: a.clone(),
                    inherited: false,
                },
                ObservedAce {
                    ace: b.clone(),
                    inherited: true,
                },
            ],
        };
        let owned = [a.sid.clone()];
        assert!(delta(&[a.clone(), b.clone()], &state, &owned).is_empty());
    }

    #[test]
    fn stale_owned_entries_are_removed_and_others_left_alone() {
        let cap = "S-1-5-21-1-2-3-4";
        let keep = ace(r"C:\w", cap, AceKind::Allow, mask::WRITABLE);
        let stale = ace(r"C:\old-root", cap, AceKind::Allow, mask::WRITABLE);
        let other_ws = ace(
            r"C:\other",
            "S-1-5-21-9-9-9-9",
            AceKind::Allow,
            mask::WRITABLE,
        );
        let inherited_stale = ace(r"C:\w\x", cap, AceKind::Deny, mask::PROTECT);
        let state = AclState {
            aces: vec![
                ObservedAce {
                    ace: keep.clone(),
                    inherited: false,
                },
                ObservedAce {
                    ace: stale.clone(),
                    inherited: false,
                },
                ObservedAce {
                    ace: other_ws,
                    inherited: false,
                },
                ObservedAce {
                    ace: inherited_stale,
                    inherited: true,
                },
            ],
        };
        let d = delta(&[keep], &state, &[Sid::parse(cap).unwrap()]);
        assert_eq!(
            d,
            AclDelta {
                add: vec![],
                remove: vec![stale]
            }
        );
    }

    #[test]
    fn a_changed_mask_is_replaced() {
        let cap = "S-1-5-21-1-2-3-4";
        let old = ace(
            r"C:\w",
            cap,
            AceKind::Allow,
            mask::WRITABLE | mask::FILE_DELETE_CHILD,
        );
        let new = ace(r"C:\w", cap, AceKind::Allow, mask::WRITABLE);
        let state = AclState {
            aces: vec![ObservedAce {
                ace: old.clone(),
                inherited: false,
            }],
        };
        let d = delta(
            std::slice::from_ref(&new),
            &state,
            &[Sid::parse(cap).unwrap()],
        );
        assert_eq!(
            d,
            AclDelta {
                add: vec![new],
                remove: vec![old]
            }
        );
    }
}
