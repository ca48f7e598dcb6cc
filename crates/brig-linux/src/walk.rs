//! Finding the protected entries inside a writable root.
//!
//! The walk goes through directory descriptors only (`openat` with `O_NOFOLLOW` at every
//! step), so a tree full of symlinks cannot lead it outside the root or make it protect the
//! wrong object. It does not descend into a protected directory: the whole directory becomes
//! read-only. With [`GitAccess::LocalCommit`] a `.git` directory is entered one level to protect
//! only the entries in [`GIT_ALWAYS_PROTECTED`] (and the same inside `worktrees/*`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use brig_policy::{EnforcementPlan, GitAccess, GIT_ALWAYS_PROTECTED};

use crate::sys::{self, EntryKind};

/// A protected object, opened (`O_PATH`) so it can be bound without resolving its path again.
pub struct Protected {
    /// Where it is (for reports).
    pub path: PathBuf,
    /// The object itself (the target, when the protected name is a symlink).
    pub fd: OwnedFd,
}

fn open_dir(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    sys::openat(
        Some(dir),
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// Opens a protected entry. A symlink is followed (once, by the kernel) so that its target is
/// what becomes read-only: `.vscode -> docs/` must not leave `docs/tasks.json` writable.
fn open_entry(dir: BorrowedFd<'_>, name: &CStr, kind: EntryKind) -> io::Result<OwnedFd> {
    let flags = if kind == EntryKind::Symlink {
        libc::O_PATH
    } else {
        libc::O_PATH | libc::O_NOFOLLOW
    };
    sys::openat(Some(dir), name, flags, 0)
}

/// Records one protected entry `name` of `dir` (at `path`).
pub fn protect(
    dir: BorrowedFd<'_>,
    path: &Path,
    name: &CStr,
    kind: EntryKind,
    plan: &EnforcementPlan,
    out: &mut Vec<Protected>,
) -> io::Result<()> {
    let child = path.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
    let is_git = name.to_bytes().eq_ignore_ascii_case(b".git");
    if is_git && kind == EntryKind::Dir && plan.git == GitAccess::LocalCommit {
        let gd = open_dir(dir, name)?;
        protect_git_internals(gd.as_fd(), &child, out)?;
        if let Ok(wt) = open_dir(gd.as_fd(), c"worktrees") {
            for (n, k) in sys::read_dir_fd(wt.as_fd())? {
                if k == EntryKind::Dir {
                    let d = open_dir(wt.as_fd(), &n)?;
                    let p = child
                        .join("worktrees")
                        .join(std::ffi::OsStr::from_bytes(n.as_bytes()));
                    protect_git_internals(d.as_fd(), &p, out)?;
                }
            }
        }
        return Ok(());
    }
    match open_entry(dir, name, kind) {
        Ok(fd) => out.push(Protected { path: child, fd }),
        // A dangling symlink: there is nothing to bind; creating through it is refused by the
        // create guard.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Whether the directory `dir` contains a protected entry at any depth (used by the guard
/// before it renames a directory).
pub fn contains_protected(dir: OwnedFd, path: &Path, plan_names: &[String]) -> io::Result<bool> {
    let mut found = false;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let mut subdirs = Vec::new();
        sys::for_each_entry(d.as_fd(), &mut |name, kind| {
            let text = String::from_utf8_lossy(name.to_bytes());
            if brig_policy::name_matches(plan_names, &text) {
                found = true;
            } else if kind == EntryKind::Dir {
                subdirs.push(name.to_owned());
            }
        })?;
        if found {
            return Ok(true);
        }
        for n in subdirs {
            match open_dir(d.as_fd(), &n) {
                Ok(fd) => stack.push(fd),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            }
        }
    }
    Ok(false)
}

fn protect_git_internals(
    gitdir: BorrowedFd<'_>,
    path: &Path,
    out: &mut Vec<Protected>,
) -> io::Result<()> {
    for name in GIT_ALWAYS_PROTECTED {
        let c = CString::new(*name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        match sys::openat(Some(gitdir), &c, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => out.push(Protected {
                path: path.join(name),
                fd,
            }),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Git directories named by `.git` pointer files (worktrees, submodules) that lie inside a
/// writable root, and the shared repository a worktree's `commondir` names (its config and
/// hooks are what host-side git runs in that worktree). The pointer files themselves are
/// already protected. Returns (existing, missing): a missing target must not be created by the
/// command either, or host-side git would adopt whatever it plants there.
pub fn pointer_targets(protected: &[PathBuf], roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut existing = Vec::new();
    let mut missing = Vec::new();
    let inside = |p: &Path| roots.iter().any(|r| p.starts_with(r));
    for p in protected {
        let is_git_name = p
            .file_name()
            .is_some_and(|n| n.as_bytes().eq_ignore_ascii_case(b".git"));
        if !is_git_name || !p.is_file() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        let Some(target) = text.lines().next().and_then(|l| l.strip_prefix("gitdir:")) else {
            continue;
        };
        let base = p.parent().unwrap_or(Path::new("/"));
        let gitdir = resolve(base, Path::new(target.trim()));
        if !gitdir.exists() {
            if inside(&gitdir) {
                missing.push(gitdir);
            }
            continue;
        }
        if inside(&gitdir) {
            existing.push(gitdir.clone());
        }
        if let Ok(common) = std::fs::read_to_string(gitdir.join("commondir")) {
            let common = resolve(&gitdir, Path::new(common.trim()));
            if inside(&common) {
                if common.exists() {
                    existing.push(common);
                } else {
                    missing.push(common);
                }
            }
        }
    }
    (existing, missing)
}

/// `rel` against `base`, symlinks resolved as far as the path exists, `..` applied lexically
/// beyond that.
fn resolve(base: &Path, rel: &Path) -> PathBuf {
    let joined = base.join(rel);
    if let Ok(c) = joined.canonicalize() {
        return c;
    }
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    match out.parent().and_then(|p| p.canonicalize().ok()) {
        Some(parent) => parent.join(out.file_name().unwrap_or_default()),
        None => out,
    }
}
