//! Landlock: the second, independent layer for writes and for reading secrets.
//!
//! The mount namespace already makes everything but the writable roots read-only. Landlock
//! restates the same rule in a different kernel subsystem, so that a mistake in mount setup (a
//! missed submount, a bind that landed elsewhere) is not an escape. It also scopes abstract
//! Unix sockets and signals to the sandbox (ABI 6), which matters when the network namespace is
//! shared (`network = on`): X11 and D-Bus listen on abstract sockets.
//!
//! Rules are attached to inodes, so they are added after the mounts exist, from the sandbox's
//! own view: writable roots, the private scratch filesystems, the few writable devices, and the
//! files the command's standard streams point at (so `echo > /dev/stderr` keeps working when
//! stderr is a terminal or a file the user redirected to). Protected entries inside writable
//! roots are read-only through their mounts (`EROFS`), which Landlock cannot express per name.
//!
//! Landlock is applied in the sandbox's PID 1, before it forks the command: the command
//! inherits the domain, and the create guard (which acts on the command's behalf in PID 1) is
//! bound by exactly the same rules.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::sys::{self, EntryKind};

/// The ABI whose rights brig requests (best effort below it; reported).
const ABI_TESTED: ABI = ABI::V6;

/// How Landlock ended up being enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    /// Every requested right is enforced.
    Fully,
    /// Older kernel: write restrictions hold, some newer rights (truncate, ioctl, scopes) do not.
    Partially,
}

/// Errors applying Landlock.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The kernel does not enforce Landlock at all.
    #[error("Landlock is not enforced by this kernel (needs Linux 5.13+ with CONFIG_SECURITY_LANDLOCK and `landlock` in the lsm= boot list)")]
    NotEnforced,
    /// A rule could not be created or applied.
    #[error("Landlock rule for {path}: {source}")]
    Rule {
        /// The path of the rule.
        path: PathBuf,
        /// The error.
        source: landlock::RulesetError,
    },
    /// Creating or applying the ruleset failed.
    #[error("Landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

/// Restricts the calling process (and its future children): writing only beneath `dirs` and to
/// `files`; and, when `read_deny` is not empty, reading file contents everywhere except beneath
/// those paths (granted by carving, see [`brig_policy::carve`]). `read_deny` holds the
/// canonical paths of the secrets that exist: one that does not exist cannot be created either
/// (it lies outside every writable root), so it needs no carving.
pub fn restrict(
    dirs: &[PathBuf],
    files: &[PathBuf],
    read_deny: &[PathBuf],
) -> Result<Enforced, LandlockError> {
    let write = AccessFs::from_write(ABI_TESTED);
    let read = if read_deny.is_empty() {
        BitFlags::EMPTY
    } else {
        BitFlags::from(AccessFs::ReadFile)
    };
    let mut created = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(write | read)?
        .scope(Scope::from_all(ABI_TESTED))?
        .create()?;
    let add = |created: RulesetCreated, p: &Path, kind: EntryKind, access: BitFlags<AccessFs>| {
        let access = if kind == EntryKind::File {
            access & AccessFs::from_file(ABI_TESTED)
        } else {
            access
        };
        match open(p, kind) {
            Some(fd) => created
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|source| LandlockError::Rule {
                    path: p.to_path_buf(),
                    source,
                }),
            None => Ok(created),
        }
    };
    if !read_deny.is_empty() {
        let mut list = |d: &Path| -> Option<Vec<std::ffi::OsString>> {
            Some(
                std::fs::read_dir(d)
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.file_name()))
                    .collect(),
            )
        };
        for p in brig_policy::carve::allow_all_except(read_deny, &mut list) {
            let kind = if p.is_dir() {
                EntryKind::Dir
            } else {
                EntryKind::File
            };
            created = add(created, &p, kind, read)?;
        }
    }
    for d in dirs {
        created = add(created, d, EntryKind::Dir, write | read)?;
    }
    for f in files {
        created = add(created, f, EntryKind::File, write | read)?;
    }
    let status = created.restrict_self()?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(Enforced::Fully),
        RulesetStatus::PartiallyEnforced => Ok(Enforced::Partially),
        _ => Err(LandlockError::NotEnforced),
    }
}

/// Opens `p` (following symlinks: rules attach to the object) when it has the wanted kind;
/// device nodes count as files; pipes and sockets are skipped.
fn open(p: &Path, want: EntryKind) -> Option<OwnedFd> {
    let fd = sys::openat(None, &sys::cstr(p).ok()?, libc::O_PATH, 0).ok()?;
    let mode = sys::fstat(std::os::fd::AsFd::as_fd(&fd)).ok()?.st_mode;
    let kind = sys::kind_of_mode(mode);
    // Pipes and sockets (e.g. a piped stdout) live on internal filesystems that Landlock does
    // not restrict and cannot take rules for.
    let pseudo = matches!(mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK);
    match (want, kind) {
        (EntryKind::Dir, EntryKind::Dir) => Some(fd),
        (EntryKind::File, EntryKind::File | EntryKind::Other) if !pseudo => Some(fd),
        _ => None,
    }
}
