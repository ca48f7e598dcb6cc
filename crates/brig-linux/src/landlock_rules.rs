//! Landlock: the second, independent layer for writes.
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
    Access, AccessFs, CompatLevel, Compatible, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
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

/// Restricts the calling process (and its future children) to writing only beneath `dirs`
/// and to the files `files`.
pub fn restrict(dirs: &[PathBuf], files: &[PathBuf]) -> Result<Enforced, LandlockError> {
    let write = AccessFs::from_write(ABI_TESTED);
    let mut created = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(write)?
        .scope(Scope::from_all(ABI_TESTED))?
        .create()?;
    for d in dirs {
        if let Some(fd) = open(d, EntryKind::Dir) {
            created = created
                .add_rule(PathBeneath::new(fd, write))
                .map_err(|source| LandlockError::Rule {
                    path: d.clone(),
                    source,
                })?;
        }
    }
    let file = write & AccessFs::from_file(ABI_TESTED);
    for f in files {
        if let Some(fd) = open(f, EntryKind::File) {
            created = created
                .add_rule(PathBeneath::new(fd, file))
                .map_err(|source| LandlockError::Rule {
                    path: f.clone(),
                    source,
                })?;
        }
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
