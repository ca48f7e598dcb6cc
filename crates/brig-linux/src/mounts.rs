//! The sandbox's view of the filesystem, built inside its own mount namespace.
//!
//! Runs in the sandbox's PID 1 right after the user namespace got its id maps, while it still
//! holds every capability *of that namespace* (never of the host). The order matters:
//!
//! 1. everything becomes private, so nothing propagates back to the host;
//! 2. a detached recursive copy of each writable root is taken while it is still writable;
//! 3. every mount becomes read-only and nosuid (one recursive `mount_setattr`);
//! 4. the writable copies are attached over their roots;
//! 5. protected entries inside the writable roots (found by [`crate::walk`] through descriptors,
//!    never following symlinks) get read-only binds of themselves;
//! 6. secrets are covered by an empty, mode-000, read-only file or directory;
//! 7. private `/tmp`, `/var/tmp`, minimal `/dev`, fresh `/proc` (with read-only `/proc/sys`),
//!    and an empty `/run` (host daemons' sockets: docker, D-Bus, ssh-agent, ...). The private
//!    `/tmp`, `/var/tmp` and `/dev/shm` are bounded in size and inodes when the limits say so.
//!
//! Every bind is placed with `move_mount` onto a descriptor opened with `O_NOFOLLOW`, so a
//! workspace that a previous command filled with symlinks cannot redirect a mount.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use brig_policy::{EnforcementPlan, Mode, NetworkMode};

use crate::limits::{tmpfs_options, ScratchSizes};
use crate::sys::{self, cstr, EntryKind};
use crate::walk::{self, Protected};

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// A failed mount step: what was being done, on which path, and the OS error.
#[derive(Debug)]
pub struct MountError {
    /// The step, e.g. "bind the workspace writable".
    pub step: String,
    /// The path involved.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

impl std::fmt::Display for MountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.step,
            self.path.display(),
            self.source
        )
    }
}

fn ctx<T>(r: io::Result<T>, step: &str, path: &Path) -> Result<T, MountError> {
    r.map_err(|source| MountError {
        step: step.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

/// Protected entries per writable root: (root, [(path relative to the root, kind)]).
pub type Found = Vec<(PathBuf, Vec<(Vec<u8>, EntryKind)>)>;

fn open_dir_nofollow(p: &Path) -> io::Result<OwnedFd> {
    sys::openat(
        None,
        &cstr(p)?,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// What the mount setup found, for the supervisor and the report.
#[derive(Debug, Default)]
pub struct Mounted {
    /// Device numbers of the private scratch filesystems (`/tmp`, `/var/tmp`, `/dev/shm`),
    /// inside which protected names may be created.
    pub scratch_devs: Vec<u64>,
    /// Protected entries that were bound read-only.
    pub protected: Vec<PathBuf>,
    /// Paths that must not come into existence during the run (git directories named by a
    /// `.git` pointer file that do not exist yet); the create guard refuses them.
    pub reserved: Vec<PathBuf>,
    /// Canonical paths of the secrets that exist and were hidden (for Landlock's read rules).
    pub hidden: Vec<PathBuf>,
}

/// Detached clone of the mount tree at `fd` (recursive).
fn clone_tree(fd: &OwnedFd) -> io::Result<OwnedFd> {
    sys::open_tree(
        fd.as_fd(),
        c"",
        OPEN_TREE_CLONE | AT_RECURSIVE | libc::AT_EMPTY_PATH as libc::c_uint,
    )
}

/// Attaches the detached tree `tree` on top of the object `target` refers to.
fn attach(tree: &OwnedFd, target: &OwnedFd) -> io::Result<()> {
    sys::move_mount(tree.as_fd(), target.as_fd(), c"", MOVE_MOUNT_T_EMPTY_PATH)
}

/// Binds `target` read-only onto itself.
fn bind_readonly(target: &OwnedFd) -> io::Result<()> {
    let tree = clone_tree(target)?;
    sys::mount_setattr(
        tree.as_fd(),
        c"",
        true,
        sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
        0,
    )?;
    attach(&tree, target)
}

fn open_nofollow(path: &Path) -> io::Result<OwnedFd> {
    sys::open_path_nofollow(path)
}

fn open_follow(path: &Path) -> io::Result<OwnedFd> {
    sys::openat(None, &cstr(path)?, libc::O_PATH, 0)
}

/// Mounts a new tmpfs at `path` with `options`.
fn tmpfs(path: &Path, options: &str, flags: libc::c_ulong) -> Result<(), MountError> {
    let target = ctx(cstr(path), "tmpfs path", path)?;
    let data = CString::new(options).unwrap_or_default();
    ctx(
        sys::mount(
            Some(c"tmpfs"),
            &target,
            Some(c"tmpfs"),
            flags | libc::MS_NOSUID | libc::MS_NODEV,
            Some(&data),
        ),
        "mount a private tmpfs",
        path,
    )
}

/// The detached, read-only, mode-000 filesystem whose empty entries cover secrets.
struct Mask {
    mnt: OwnedFd,
}

impl Mask {
    fn new() -> io::Result<Mask> {
        let fs = sys::fsopen(c"tmpfs")?;
        sys::fsconfig_set(fs.as_fd(), c"size", c"4k")?;
        sys::fsconfig_set(fs.as_fd(), c"mode", c"0")?;
        let mnt = sys::fsmount(fs.as_fd(), sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV)?;
        sys::mkdirat(mnt.as_fd(), c"d", 0)?;
        drop(sys::openat(
            Some(mnt.as_fd()),
            c"f",
            libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL,
            0,
        )?);
        sys::mount_setattr(mnt.as_fd(), c"", false, sys::MOUNT_ATTR_RDONLY, 0)?;
        Ok(Mask { mnt })
    }

    /// Covers the object at `target` with the empty directory or file.
    fn cover(&self, target: &OwnedFd, dir: bool) -> io::Result<()> {
        let name = if dir { c"d" } else { c"f" };
        let tree = sys::open_tree(self.mnt.as_fd(), name, OPEN_TREE_CLONE)?;
        attach(&tree, target)
    }
}

/// Builds the whole filesystem view for `plan`, with the private scratch filesystems of
/// `sizes`. Must run in a fresh mount namespace, in the sandbox's PID namespace (for `/proc`).
pub fn setup(
    plan: &EnforcementPlan,
    sizes: ScratchSizes,
    found: &mut dyn FnMut() -> Result<Found, String>,
) -> Result<Mounted, MountError> {
    let root = Path::new("/");
    ctx(
        sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None),
        "make mounts private",
        root,
    )?;

    // Writable roots: detached copies, taken before everything turns read-only.
    let mut roots = plan.writable_roots.clone();
    roots.sort_by_key(|p| p.components().count());
    let mut writable = Vec::new();
    for r in &roots {
        let fd = ctx(open_nofollow(r), "open writable root", r)?;
        let st = ctx(sys::fstat(fd.as_fd()), "stat writable root", r)?;
        if sys::kind_of_mode(st.st_mode) != EntryKind::Dir {
            return Err(MountError {
                step: "writable root is not a directory (symlinks are refused)".into(),
                path: r.clone(),
                source: io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        writable.push((r.clone(), ctx(clone_tree(&fd), "copy writable root", r)?));
    }
    // In read-only mode the workspace is still the command's world: when it lives under a path
    // the private scratch space covers (/tmp, /var/tmp), it is bound back read-only.
    if plan.mode == Mode::ReadOnly
        && ["/tmp", "/var/tmp"]
            .iter()
            .any(|b| plan.workspace.starts_with(b))
    {
        let w = &plan.workspace;
        let fd = ctx(open_nofollow(w), "open workspace", w)?;
        let tree = ctx(clone_tree(&fd), "copy workspace", w)?;
        ctx(
            sys::mount_setattr(
                tree.as_fd(),
                c"",
                true,
                sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
                0,
            ),
            "make workspace read-only",
            w,
        )?;
        writable.push((w.clone(), tree));
    }

    // Devices to keep, also taken before /dev is replaced.
    let mut devices = Vec::new();
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let p = Path::new("/dev").join(name);
        if let Ok(fd) = open_nofollow(&p) {
            if let Ok(tree) = sys::open_tree(
                fd.as_fd(),
                c"",
                OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as libc::c_uint,
            ) {
                devices.push((name, tree));
            }
        }
    }
    // DNS configuration survives the /run mask when the network is on.
    let mut keep_run = Vec::new();
    if plan.network == NetworkMode::On {
        for p in [
            "/run/systemd/resolve",
            "/run/resolvconf",
            "/run/NetworkManager",
        ] {
            if let Ok(fd) = open_nofollow(Path::new(p)) {
                if let Ok(tree) = clone_tree(&fd) {
                    keep_run.push((PathBuf::from(p), tree));
                }
            }
        }
    }

    let rootfd = ctx(sys::open_root(), "open /", root)?;
    ctx(
        sys::mount_setattr(
            rootfd.as_fd(),
            c"",
            true,
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
            0,
        ),
        "make the host read-only",
        root,
    )?;

    let mut mounted = Mounted::default();
    // Private scratch space, before the writable roots: a workspace under /tmp is bound on top.
    for p in ["/tmp", "/var/tmp"] {
        let p = Path::new(p);
        if open_nofollow(p).is_ok() {
            tmpfs(p, &tmpfs_options("mode=1777", sizes.tmp), 0)?;
            mounted.scratch_devs.push(dev_of(p)?);
        }
    }

    for (path, tree) in &writable {
        let target = match open_nofollow(path) {
            Ok(fd) => fd,
            // Hidden by a private scratch tmpfs: recreate the mount point there (only there).
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let base = ["/tmp", "/var/tmp"]
                    .iter()
                    .map(Path::new)
                    .find(|b| path.starts_with(b));
                let Some(base) = base else {
                    return Err(MountError {
                        step: "reopen writable root".into(),
                        path: path.clone(),
                        source: e,
                    });
                };
                make_dirs(base, path.strip_prefix(base).unwrap_or(path))?;
                ctx(open_nofollow(path), "reopen writable root", path)?
            }
            Err(e) => {
                return Err(MountError {
                    step: "reopen writable root".into(),
                    path: path.clone(),
                    source: e,
                })
            }
        };
        ctx(attach(tree, &target), "bind writable root", path)?;
    }

    // Protected entries inside the (now writable) roots, as found by brig's walk (which ran
    // meanwhile). Each is reopened below its root without following any symlink.
    let found = found().map_err(|m| MountError {
        step: format!("search protected paths: {m}"),
        path: plan.workspace.clone(),
        source: io::Error::from_raw_os_error(libc::EIO),
    })?;
    for (root, entries) in &found {
        let rootfd = ctx(open_dir_nofollow(root), "open writable root", root)?;
        for (rel, kind) in entries {
            let rel_path = Path::new(std::ffi::OsStr::from_bytes(rel));
            let abs = root.join(rel_path);
            let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
                Some(i) => (&rel[..i], &rel[i + 1..]),
                None => (&b"."[..], &rel[..]),
            };
            let dir_c = ctx(
                CString::new(dir).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)),
                "path",
                &abs,
            )?;
            let name_c = ctx(
                CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)),
                "path",
                &abs,
            )?;
            let parent = match sys::open_beneath(rootfd.as_fd(), &dir_c, libc::O_PATH | libc::O_DIRECTORY) {
                Ok(fd) => fd,
                // Gone since the walk: nothing to protect.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(MountError {
                    step: "reopen a protected path's directory (the workspace changed during start-up?)".into(),
                    path: abs,
                    source: e,
                }),
            };
            // The kind now, not the kind when the walk saw it.
            let kind = match sys::lstatat(parent.as_fd(), &name_c) {
                Ok(st) => sys::kind_of_mode(st.st_mode),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(_) => *kind,
            };
            let mut entries = Vec::new();
            ctx(
                walk::protect(
                    parent.as_fd(),
                    abs.parent().unwrap_or(root),
                    &name_c,
                    kind,
                    plan,
                    &mut entries,
                ),
                "open protected path",
                &abs,
            )?;
            for Protected { path: p, fd } in entries {
                ctx(bind_readonly(&fd), "bind protected path read-only", &p)?;
                mounted.protected.push(p);
            }
        }
    }
    // Git directories named by `.git` pointer files; bound after the walk so that nothing
    // inside them is re-bound writable.
    let (targets, missing) = walk::pointer_targets(&mounted.protected, &roots);
    for path in targets {
        if let Ok(fd) = open_follow(&path) {
            ctx(bind_readonly(&fd), "bind git directory read-only", &path)?;
            mounted.protected.push(path);
        }
    }
    mounted.reserved = missing;

    // Secrets.
    let mask = ctx(Mask::new(), "create the secret mask", root)?;
    for p in &plan.deny_read {
        let Ok(fd) = open_follow(p) else { continue };
        let st = ctx(sys::fstat(fd.as_fd()), "stat secret", p)?;
        let dir = sys::kind_of_mode(st.st_mode) == EntryKind::Dir;
        // Where it really is (the path may go through symlinks), read from the kernel.
        let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let real = sys::readlink(&ctx(cstr(&link), "path", p)?)
            .map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)));
        mounted.hidden.push(real.unwrap_or_else(|_| p.clone()));
        ctx(mask.cover(&fd, dir), "hide secret", p)?;
    }

    // /run: empty, so no host daemon socket is reachable by path.
    let run = Path::new("/run");
    if open_nofollow(run).is_ok() {
        tmpfs(run, "mode=755", 0)?;
        for (p, tree) in &keep_run {
            let rel = p.strip_prefix("/").unwrap_or(p);
            make_dirs(run, rel.strip_prefix("run").unwrap_or(rel))?;
            let target = ctx(open_nofollow(p), "reopen", p)?;
            ctx(attach(tree, &target), "keep DNS configuration", p)?;
        }
        ctx(
            sys::mount_setattr(
                ctx(open_nofollow(run), "open /run", run)?.as_fd(),
                c"",
                false,
                sys::MOUNT_ATTR_RDONLY,
                0,
            ),
            "make /run read-only",
            run,
        )?;
    }

    setup_dev(&devices, sizes.shm, &mut mounted)?;
    setup_proc()?;
    Ok(mounted)
}

fn dev_of(p: &Path) -> Result<u64, MountError> {
    let fd = ctx(open_nofollow(p), "open", p)?;
    Ok(ctx(sys::fstat(fd.as_fd()), "stat", p)?.st_dev)
}

fn make_dirs(base: &Path, rel: &Path) -> Result<(), MountError> {
    let mut cur = base.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match std::fs::create_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(MountError {
                    step: "create directory".into(),
                    path: cur,
                    source: e,
                })
            }
        }
    }
    Ok(())
}

fn setup_dev(
    devices: &[(&str, OwnedFd)],
    shm_size: Option<u64>,
    mounted: &mut Mounted,
) -> Result<(), MountError> {
    let dev = Path::new("/dev");
    tmpfs(dev, "mode=755", libc::MS_NOEXEC)?;
    for (name, tree) in devices {
        let p = dev.join(name);
        ctx(
            std::fs::File::create(&p).map(drop),
            "create device placeholder",
            &p,
        )?;
        let target = ctx(open_nofollow(&p), "open device placeholder", &p)?;
        ctx(attach(tree, &target), "bind device", &p)?;
    }
    let pts = dev.join("pts");
    ctx(std::fs::create_dir(&pts), "create /dev/pts", &pts)?;
    let pts_c = ctx(cstr(&pts), "path", &pts)?;
    ctx(
        sys::mount(
            Some(c"devpts"),
            &pts_c,
            Some(c"devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(c"newinstance,ptmxmode=0666,mode=620"),
        ),
        "mount /dev/pts",
        &pts,
    )?;
    let shm = dev.join("shm");
    ctx(std::fs::create_dir(&shm), "create /dev/shm", &shm)?;
    tmpfs(&shm, &tmpfs_options("mode=1777", shm_size), 0)?;
    mounted.scratch_devs.push(dev_of(&shm)?);
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let p = dev.join(link);
        ctx(std::os::unix::fs::symlink(to, &p), "create /dev link", &p)?;
    }
    let fd = ctx(open_nofollow(dev), "open /dev", dev)?;
    ctx(
        sys::mount_setattr(fd.as_fd(), c"", false, sys::MOUNT_ATTR_RDONLY, 0),
        "make /dev read-only",
        dev,
    )
}

fn setup_proc() -> Result<(), MountError> {
    let proc_ = Path::new("/proc");
    ctx(
        sys::mount(
            Some(c"proc"),
            c"/proc",
            Some(c"proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
        "mount a fresh /proc",
        proc_,
    )?;
    for p in ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"] {
        let p = Path::new(p);
        if let Ok(fd) = open_nofollow(p) {
            ctx(bind_readonly(&fd), "make read-only", p)?;
        }
    }
    Ok(())
}
