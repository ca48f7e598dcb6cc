//! The create guard: refuses to create, rename or link *protected names* inside writable roots.
//!
//! Mount binds protect what exists when the command starts; they cannot cover a name that does
//! not exist yet (`.envrc`, `.mcp.json`, `sub/.git` after `git init sub`), and placeholder files
//! would litter the user's tree and race between concurrent runs. So every syscall that gives a
//! name to an inode (`mkdir*`, `mknod*`, `symlink*`, `link*`, `rename*`, `open*`/`creat` with
//! `O_CREAT`, `bind` of a path-named Unix socket) and every `connect` is sent by the seccomp
//! filter to this supervisor, which runs in the sandbox's PID 1 (same mount namespace, same
//! Landlock domain, no capabilities, non-dumpable).
//!
//! The guard never answers "continue" where it decides something: the target's path argument
//! lives in memory the target can change after we looked at it. Instead the guard copies the
//! path once, resolves the parent
//! directory itself (relative to the target's cwd or directory descriptor), checks the final
//! component against the protected names (and the reserved paths: missing targets of `.git`
//! pointer files), and performs the operation on the parent's descriptor. The result (or, for
//! `open`, the new descriptor injected with `ADDFD`) is what the target sees. A name inside the
//! private scratch filesystems (`/tmp`, `/var/tmp`, `/dev/shm`) is never protected.
//!
//! Calls sent here only to be recorded (with `[audit]`; see `seccomp::Record`) decide nothing,
//! and some are left to the kernel with "continue" after they are recorded: every `execve`
//! (nobody can run an exec for another process), reads that the kernel must resolve in the
//! caller's own view (`/proc`), and calls of a process whose memory or descriptors the guard
//! cannot read (a process that made itself non-dumpable, such as ssh-agent). A creation is
//! never continued: a path the guard cannot read is refused.
//!
//! Acting for the command, the guard must never lend it more than it has itself:
//! - `/proc/self` resolved here is PID 1: a parent directory that lands in PID 1's `/proc`
//!   entry is re-resolved under the command's own `/proc/PID`, other processes' entries are
//!   refused (so `/dev/fd/N` is the command's descriptor N, never PID 1's pipe to brig);
//! - a final symlink is followed here, step by step, so the name finally created is the one
//!   checked (`ln -s .envrc x; echo > x` is refused); `/proc` magic links are left to the kernel;
//! - a directory holding protected entries cannot be renamed (another sandbox on the same
//!   workspace relies on finding them where its start-up walk saw them);
//! - a path-named Unix socket outside the writable roots and scratch space cannot be
//!   connected to (host daemons), and an allowed one is connected through a descriptor of
//!   exactly the checked inode.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use brig_policy::{name_matches, GitAccess, GIT_ALWAYS_PROTECTED};

use crate::seccomp::{FilterSpec, Record};
use crate::sys::{self, seccomp as notif, EntryKind};

/// How many refused syscalls one run records; more are counted, not recorded (a loop calling
/// `ptrace` must not fill the disk).
const MAX_SYSCALL_RECORDS: u32 = 1000;

/// Decisions for one sandbox.
pub struct Guard {
    listener: OwnedFd,
    protected: Vec<String>,
    git: GitAccess,
    scratch_devs: Vec<u64>,
    writable: Vec<PathBuf>,
    /// Paths that must not be created (missing targets of `.git` pointer files).
    reserved: Vec<PathBuf>,
    proc_dev: u64,
    root: OwnedFd,
    /// The filter the command runs under (to answer the refusals it sends here).
    spec: FilterSpec,
    /// Set when a path led into another process's `/proc` entry, which the guard does not open.
    foreign_proc: std::cell::Cell<bool>,
    syscall_records: u32,
    /// Refused syscalls beyond [`MAX_SYSCALL_RECORDS`], not recorded one by one.
    pub syscalls_suppressed: u64,
    /// The command's `RLIMIT_FSIZE`: the guard truncates files for the command, so it applies
    /// the command's limit itself (its own process has none).
    file_size_limit: Option<u64>,
    /// brig's proxy port on `127.0.0.1`, when the network allowlist is on.
    proxy_port: Option<u16>,
    /// Every report below starts with "PID\tPROGRAM\t": the process (its pid inside the
    /// sandbox) and its executable, escaped with [`escape`].
    /// Refused attempts: "description" (the path as given by the command), in order.
    pub blocked: Vec<String>,
    /// Changes made on the command's behalf: "op\tpath" (for the audit trail).
    pub changes: Vec<String>,
    /// Changes the kernel refused: "layer\top path: error" (for the audit trail).
    pub refusals: Vec<String>,
    /// Files opened for reading (with [`Record::All`]): "path".
    pub reads: Vec<String>,
    /// Programs executed: "ppid\tpath\targ0\targ1...", each field escaped.
    pub execs: Vec<String>,
    /// Connections to brig's proxy: "PORT" (the client's local port on the sandbox's
    /// loopback), so that brig can name the process behind each proxied connection.
    pub proxy_clients: Vec<String>,
}

/// Escapes `%`, tab and newline so that a field can travel in a tab-separated line.
pub fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\t', "%09")
        .replace('\n', "%0A")
}

/// Escapes the part of a guard report after its first tab (or all of it, without one).
fn escape_last_field(line: &str) -> String {
    match line.split_once('\t') {
        Some((head, rest)) => format!("{head}\t{}", escape(rest)),
        None => escape(line),
    }
}

/// Reverses [`escape`].
pub fn unescape(s: &str) -> String {
    s.replace("%09", "\t")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

enum Reply {
    Value(i64),
    Errno(i32),
    Fd(OwnedFd, bool),
    /// An open that may block: run on its own thread, which answers.
    Deferred(Box<dyn FnOnce() -> Result<OwnedFd, i32> + Send>, bool),
    /// A call that may block and returns a value (connect): run on its own thread.
    DeferredValue(Box<dyn FnOnce() -> Result<i64, i32> + Send>),
    /// Let the kernel run the call (only where the guard decides nothing: exec, recorded).
    Continue,
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// A `connect`/`bind` request: a duplicate of the socket, the copied address, and the path of
/// a path-named `AF_UNIX` address.
type SocketRequest = (OwnedFd, Vec<u8>, Option<Vec<u8>>);

/// A parent directory descriptor and a final component.
struct Target {
    parent: OwnedFd,
    name: CString,
    shown: String,
}

impl Guard {
    /// A guard answering on `listener`.
    pub fn new(
        listener: OwnedFd,
        protected: Vec<String>,
        git: GitAccess,
        scratch_devs: Vec<u64>,
        writable: Vec<PathBuf>,
        reserved: Vec<PathBuf>,
        spec: FilterSpec,
    ) -> io::Result<Guard> {
        // Lower latency per request where the kernel supports it (6.6+); optional.
        let _ = notif::set_sync_wakeup(listener.as_fd());
        Ok(Guard {
            listener,
            protected,
            git,
            scratch_devs,
            writable,
            reserved,
            proc_dev: sys::fstat(
                sys::openat(None, c"/proc", libc::O_PATH | libc::O_DIRECTORY, 0)?.as_fd(),
            )?
            .st_dev,
            root: sys::open_root()?,
            spec,
            foreign_proc: std::cell::Cell::new(false),
            syscall_records: 0,
            syscalls_suppressed: 0,
            file_size_limit: None,
            blocked: Vec::new(),
            changes: Vec::new(),
            refusals: Vec::new(),
            reads: Vec::new(),
            execs: Vec::new(),
            proxy_clients: Vec::new(),
            proxy_port: None,
        })
    }

    /// Applies the command's file size limit to the truncations the guard makes for it.
    pub fn with_file_size_limit(mut self, limit: Option<u64>) -> Guard {
        self.file_size_limit = limit;
        self
    }

    /// Reports which process connects to brig's proxy on `127.0.0.1:port`.
    pub fn with_proxy_port(mut self, port: Option<u16>) -> Guard {
        self.proxy_port = port;
        self
    }

    /// Whether growing a file to `len` bytes is beyond the command's file size limit (the
    /// kernel's answer would be `EFBIG`).
    fn too_big(&self, len: i64) -> bool {
        self.file_size_limit
            .is_some_and(|max| u64::try_from(len).is_ok_and(|l| l > max))
    }

    /// The notification descriptor, for polling.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Receives and answers one notification.
    pub fn handle_one(&mut self) -> io::Result<()> {
        let n = match notif::recv(self.listener.as_fd()) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let before = [
            self.blocked.len(),
            self.changes.len(),
            self.refusals.len(),
            self.reads.len(),
            self.execs.len(),
            self.proxy_clients.len(),
        ];
        self.foreign_proc.set(false);
        let reply = match self.dispatch(&n) {
            Ok(r) => r,
            Err(e) => Reply::Errno(e),
        };
        if self.spec.record < Record::Changes {
            // `[audit] files = "off"`: the guard still does its job, but file events are not
            // reported (refused syscalls and the guard's own refusals are).
            self.changes.truncate(before[1]);
            let mut i = before[2];
            while i < self.refusals.len() {
                if self.refusals[i].starts_with("seccomp\t") {
                    i += 1;
                } else {
                    self.refusals.remove(i);
                }
            }
        }
        // Which process did it (its pid inside the sandbox, and its program), for the audit
        // trail.
        let mut who: Option<String> = None;
        for (i, list, from) in [
            &mut self.blocked,
            &mut self.changes,
            &mut self.refusals,
            &mut self.reads,
            &mut self.execs,
            &mut self.proxy_clients,
        ]
        .into_iter()
        .zip(before)
        .enumerate()
        .map(|(i, (list, from))| (i, list, from))
        {
            for c in &mut list[from..] {
                // The free-text field (path, refusal) may hold tabs and newlines. Blocked
                // attempts and reads are one field; changes and refusals are "op\tfree text";
                // exec reports are escaped field by field already.
                match i {
                    0 | 3 => *c = escape(c),
                    1 | 2 => *c = escape_last_field(c),
                    _ => {}
                }
                let who = who.get_or_insert_with(|| {
                    let exe = sys::readlink(
                        &CString::new(format!("/proc/{}/exe", n.pid)).unwrap_or_default(),
                    )
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                    format!("{}\t{}\t", n.pid, escape(&exe))
                });
                c.insert_str(0, who);
            }
        }
        let fd = self.listener.as_fd();
        match reply {
            Reply::Continue => notif::respond_continue(fd, n.id).map(drop),
            Reply::Value(v) => notif::respond_value(fd, n.id, v).map(drop),
            Reply::Errno(e) => notif::respond_errno(fd, n.id, e).map(drop),
            Reply::Fd(file, cloexec) => match notif::add_fd_send(fd, n.id, file.as_fd(), cloexec) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => notif::respond_errno(fd, n.id, errno_of(&e)).map(drop),
            },
            Reply::Deferred(open, cloexec) => {
                let listener = self.listener.try_clone()?;
                let id = n.id;
                let spawned = std::thread::Builder::new().spawn(move || {
                    let fd = listener.as_fd();
                    let _ = match open() {
                        Ok(file) => notif::add_fd_send(fd, id, file.as_fd(), cloexec).map(drop),
                        Err(e) => notif::respond_errno(fd, id, e).map(drop),
                    };
                });
                self.unless_spawned(spawned, id)
            }
            Reply::DeferredValue(call) => {
                let listener = self.listener.try_clone()?;
                let id = n.id;
                let spawned = std::thread::Builder::new().spawn(move || {
                    let fd = listener.as_fd();
                    let _ = match call() {
                        Ok(v) => notif::respond_value(fd, id, v).map(drop),
                        Err(e) => notif::respond_errno(fd, id, e).map(drop),
                    };
                });
                self.unless_spawned(spawned, id)
            }
        }
    }

    /// When no thread could be started for a blocking call (the sandbox is at its process
    /// limit, which counts the supervisor's threads too), the call fails with `EAGAIN`, as a
    /// `fork` would, instead of taking the supervisor down.
    fn unless_spawned(
        &self,
        spawned: io::Result<std::thread::JoinHandle<()>>,
        id: u64,
    ) -> io::Result<()> {
        match spawned {
            Ok(_) => Ok(()),
            Err(_) => notif::respond_errno(self.listener.as_fd(), id, libc::EAGAIN).map(drop),
        }
    }

    fn dispatch(&mut self, n: &notif::Notif) -> Result<Reply, i32> {
        let a = n.args;
        let pid = n.pid as libc::pid_t;
        let nr = n.nr;
        let i = |x: u64| x as u32 as i32;
        let fd = |x: u64| x as u32 as i32 as i64;
        if self.spec.record >= Record::Commands {
            // A call the filter refuses, sent here only to be recorded.
            if let Some(r) = crate::seccomp::refusal(&self.spec, nr, a) {
                self.syscall_refused(&r, a);
                return Err(r.errno);
            }
        }
        if nr == libc::SYS_execve {
            return self.exec(pid, libc::AT_FDCWD as i64, a[0], a[1], 0);
        }
        if nr == libc::SYS_execveat {
            return self.exec(pid, fd(a[0]), a[1], a[2], i(a[4]));
        }
        if nr == libc::SYS_fchmod {
            return self.on_descriptor(n, pid, i(a[0]), FdOp::Chmod(i(a[1])));
        }
        if nr == libc::SYS_ftruncate {
            return self.on_descriptor(n, pid, i(a[0]), FdOp::Truncate(a[1] as i64));
        }
        #[cfg(target_arch = "x86_64")]
        {
            // The legacy calls work relative to the current directory.
            let at = libc::AT_FDCWD as i64;
            if nr == libc::SYS_mkdir {
                return self.mkdir(n, pid, at, a[0], i(a[1]));
            }
            if nr == libc::SYS_mknod {
                return self.mknod(n, pid, at, a[0], i(a[1]), a[2]);
            }
            if nr == libc::SYS_symlink {
                return self.symlink(n, pid, a[0], at, a[1]);
            }
            if nr == libc::SYS_link {
                return self.link(n, pid, at, a[0], at, a[1], 0);
            }
            if nr == libc::SYS_rename {
                return self.rename(n, pid, at, a[0], at, a[1], 0);
            }
            if nr == libc::SYS_creat {
                return self.open(
                    n,
                    pid,
                    at,
                    a[0],
                    libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                    i(a[1]),
                );
            }
            if nr == libc::SYS_open {
                return self.open(n, pid, at, a[0], i(a[1]), i(a[2]));
            }
            if nr == libc::SYS_unlink {
                return self.unlink(n, pid, at, a[0], 0);
            }
            if nr == libc::SYS_rmdir {
                return self.unlink(n, pid, at, a[0], libc::AT_REMOVEDIR);
            }
            if nr == libc::SYS_chmod {
                return self.chmod(n, pid, at, a[0], i(a[1]));
            }
            if nr == libc::SYS_renameat {
                return self.rename(
                    n,
                    pid,
                    a[0] as i32 as i64,
                    a[1],
                    a[2] as i32 as i64,
                    a[3],
                    0,
                );
            }
        }
        if nr == libc::SYS_mkdirat {
            return self.mkdir(n, pid, fd(a[0]), a[1], i(a[2]));
        }
        if nr == libc::SYS_mknodat {
            return self.mknod(n, pid, fd(a[0]), a[1], i(a[2]), a[3]);
        }
        if nr == libc::SYS_symlinkat {
            return self.symlink(n, pid, a[0], fd(a[1]), a[2]);
        }
        if nr == libc::SYS_linkat {
            return self.link(n, pid, fd(a[0]), a[1], fd(a[2]), a[3], i(a[4]));
        }
        if nr == libc::SYS_renameat2 {
            return self.rename(n, pid, fd(a[0]), a[1], fd(a[2]), a[3], i(a[4]) as u32);
        }
        #[cfg(target_arch = "aarch64")]
        if nr == 38 {
            // renameat (missing from libc's aarch64 list).
            return self.rename(n, pid, fd(a[0]), a[1], fd(a[2]), a[3], 0);
        }
        if nr == libc::SYS_unlinkat {
            return self.unlink(n, pid, fd(a[0]), a[1], i(a[2]));
        }
        if nr == libc::SYS_fchmodat || nr == 452 {
            // fchmodat2 (452) adds flags; AT_SYMLINK_NOFOLLOW is refused for files by Linux
            // anyway, so both are done as fchmodat.
            return self.chmod(n, pid, fd(a[0]), a[1], i(a[2]));
        }
        if nr == libc::SYS_truncate {
            return self.truncate(n, pid, a[0], a[1] as i64);
        }
        if nr == libc::SYS_bind {
            return self.bind(n, pid, i(a[0]), a[1], a[2]);
        }
        if nr == libc::SYS_connect {
            return self.connect(n, pid, i(a[0]), a[1], a[2]);
        }
        if nr == libc::SYS_openat {
            return self.open(n, pid, fd(a[0]), a[1], i(a[2]), i(a[3]));
        }
        Err(libc::ENOSYS)
    }

    /// Copies a NUL-terminated string out of the target.
    fn read_path(&self, pid: libc::pid_t, addr: u64) -> Result<CString, i32> {
        if addr == 0 {
            return Err(libc::EFAULT);
        }
        let mut out = Vec::new();
        let mut cur = addr;
        while out.len() <= libc::PATH_MAX as usize {
            let page_left = 4096 - (cur % 4096) as usize;
            let mut buf = vec![
                0u8;
                page_left
                    .min(libc::PATH_MAX as usize + 1 - out.len())
                    .max(1)
            ];
            // EPERM: the process is not dumpable (its memory is closed to us); EFAULT: a bad
            // address, which the caller gets back as the kernel would answer it.
            let got = sys::read_process_memory(pid, cur, &mut buf).map_err(|e| {
                if e.raw_os_error() == Some(libc::EPERM) {
                    libc::EPERM
                } else {
                    libc::EFAULT
                }
            })?;
            if got == 0 {
                return Err(libc::EFAULT);
            }
            if let Some(z) = buf[..got].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..z]);
                return CString::new(out).map_err(|_| libc::EINVAL);
            }
            out.extend_from_slice(&buf[..got]);
            cur += got as u64;
        }
        Err(libc::ENAMETOOLONG)
    }

    /// The directory a relative path starts from: the target's cwd or one of its descriptors.
    fn base(&self, pid: libc::pid_t, dirfd: i64, path: &CStr) -> Result<OwnedFd, i32> {
        if path.to_bytes().first() == Some(&b'/') {
            return sys::openat(
                Some(self.root.as_fd()),
                c".",
                libc::O_PATH | libc::O_DIRECTORY,
                0,
            )
            .map_err(|e| errno_of(&e));
        }
        let link = if dirfd == libc::AT_FDCWD as i64 {
            format!("/proc/{pid}/cwd")
        } else if dirfd < 0 {
            return Err(libc::EBADF);
        } else {
            format!("/proc/{pid}/fd/{dirfd}")
        };
        let c = CString::new(link).map_err(|_| libc::EINVAL)?;
        sys::openat(None, &c, libc::O_PATH, 0).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => libc::EBADF,
            _ => errno_of(&e),
        })
    }

    /// Resolves everything but the final component, as the kernel would.
    fn target(&self, pid: libc::pid_t, dirfd: i64, addr: u64) -> Result<Target, i32> {
        let path = self.read_path(pid, addr)?;
        self.target_path(pid, dirfd, path.to_bytes())
    }

    /// Resolves `bytes` as the target would: everything but the final component.
    fn target_path(&self, pid: libc::pid_t, dirfd: i64, bytes: &[u8]) -> Result<Target, i32> {
        if bytes.is_empty() {
            return Err(libc::ENOENT);
        }
        let path = CString::new(bytes).map_err(|_| libc::EINVAL)?;
        let base = self.base(pid, dirfd, &path)?;
        let (dir, name) = split_path(bytes);
        let dir_c = CString::new(dir).map_err(|_| libc::EINVAL)?;
        let parent = sys::openat(
            Some(base.as_fd()),
            &dir_c,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .map_err(|e| errno_of(&e))?;
        let parent = self.as_target_proc(parent, pid)?;
        Ok(Target {
            parent,
            name: CString::new(name).map_err(|_| libc::EINVAL)?,
            shown: String::from_utf8_lossy(bytes).into_owned(),
        })
    }

    /// `/proc/self` (and `/dev/fd`, `/dev/stdout`, ... which lead there) resolved in this
    /// supervisor means the supervisor's own `/proc/1`: its environment and the descriptors
    /// that talk to brig. A parent directory that lands there is re-resolved under the
    /// target's own `/proc/PID`; one that lands in another process's `/proc` directory is
    /// refused. The guard never lends the target more than the target itself could reach.
    fn as_target_proc(&self, parent: OwnedFd, pid: libc::pid_t) -> Result<OwnedFd, i32> {
        let st = sys::fstat(parent.as_fd()).map_err(|e| errno_of(&e))?;
        if st.st_dev != self.proc_dev {
            return Ok(parent);
        }
        let where_ = fd_path(&parent)?;
        let Some(rest) = where_.strip_prefix(b"/proc/") else {
            return Ok(parent);
        };
        let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let Ok(n) = std::str::from_utf8(&rest[..end])
            .unwrap_or("x")
            .parse::<libc::pid_t>()
        else {
            return Ok(parent);
        };
        if n == pid || Some(n) == tgid_of(pid) {
            return Ok(parent);
        }
        if n as u32 != std::process::id() {
            self.foreign_proc.set(true);
            return Err(libc::EACCES);
        }
        let mut mine = format!("/proc/{pid}").into_bytes();
        mine.extend_from_slice(&rest[end..]);
        let c = CString::new(mine).map_err(|_| libc::EINVAL)?;
        sys::openat(None, &c, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| errno_of(&e))
    }

    /// Whether creating `t` must be refused.
    fn is_protected(&self, t: &Target) -> bool {
        let name = String::from_utf8_lossy(t.name.to_bytes());
        if name == "." || name == ".." {
            return false;
        }
        if let Ok(st) = sys::fstat(t.parent.as_fd()) {
            if self.scratch_devs.contains(&st.st_dev) {
                return false;
            }
        }
        if name_matches(&self.protected, &name) {
            return true;
        }
        if !self.reserved.is_empty() {
            if let Ok(mut p) = fd_path(&t.parent) {
                p.push(b'/');
                p.extend_from_slice(t.name.to_bytes());
                let p = PathBuf::from(std::ffi::OsString::from_vec(p));
                if self.reserved.contains(&p) {
                    return true;
                }
            }
        }
        if self.git == GitAccess::LocalCommit {
            // Inside a git directory, hooks, config and info stay protected.
            let link = format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&t.parent)
            );
            if let Ok(c) = CString::new(link) {
                if let Ok(p) = sys::readlink(&c) {
                    let in_git = p
                        .split(|&b| b == b'/')
                        .any(|c| c.eq_ignore_ascii_case(b".git"));
                    if in_git
                        && GIT_ALWAYS_PROTECTED
                            .iter()
                            .any(|g| name.eq_ignore_ascii_case(g))
                    {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether `t` is a directory (outside the scratch space) holding a protected entry.
    fn moves_protected(&self, t: &Target) -> bool {
        let Ok(st) = sys::lstatat(t.parent.as_fd(), &t.name) else {
            return false;
        };
        if sys::kind_of_mode(st.st_mode) != EntryKind::Dir || self.scratch_devs.contains(&st.st_dev)
        {
            return false;
        }
        match sys::openat(
            Some(t.parent.as_fd()),
            &t.name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        ) {
            // On doubt (an unreadable subtree), refuse.
            Ok(fd) => {
                crate::walk::contains_protected(fd, std::path::Path::new(&t.shown), &self.protected)
                    .unwrap_or(true)
            }
            // Vanished: the kernel answers the rename itself. Unreadable (the command may have
            // made it so): it cannot be checked, so it does not move.
            Err(e) => e.raw_os_error() != Some(libc::ENOENT),
        }
    }

    /// Refuses `t` when protected; also makes sure the target is still waiting (so the pid in
    /// the `/proc` paths we used was not reused).
    fn check(&mut self, n: &notif::Notif, targets: &[&Target]) -> Result<(), i32> {
        self.still_waiting(n)?;
        for t in targets {
            if self.is_protected(t) {
                self.blocked
                    .push(format!("creating `{}` (protected name)", t.shown));
                return Err(libc::EPERM);
            }
        }
        Ok(())
    }

    /// `connect`: a path-named `AF_UNIX` socket may only be reached when it lives inside a
    /// writable root or the private scratch space; everything else (abstract names, which the
    /// network namespace and Landlock scope, and IP, which the network namespace confines) is
    /// connected as asked. Either way the connect is done here, on a duplicate of the caller's
    /// socket, with the address we copied: the caller cannot swap it after the check.
    fn connect(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        sockfd: i32,
        addr: u64,
        len: u64,
    ) -> Result<Reply, i32> {
        let (sock, mut raw, unix_path) = self.socket_request(pid, sockfd, addr, len)?;
        let mut keep: Option<OwnedFd> = None;
        if let Some(path) = unix_path {
            let path = CString::new(path).map_err(|_| libc::EINVAL)?;
            let t = self.target_path(pid, libc::AT_FDCWD as i64, path.to_bytes())?;
            let target = sys::openat(Some(t.parent.as_fd()), &t.name, libc::O_PATH, 0)
                .map_err(|e| errno_of(&e))?;
            let st = sys::fstat(target.as_fd()).map_err(|e| errno_of(&e))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                return Err(libc::ECONNREFUSED);
            }
            let inside = self.scratch_devs.contains(&st.st_dev) || {
                let link = CString::new(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&target)
                ))
                .map_err(|_| libc::EINVAL)?;
                let real =
                    sys::readlink(&link).map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)));
                real.is_ok_and(|r| self.writable.iter().any(|w| r.starts_with(w)))
            };
            if !inside {
                self.blocked.push(format!(
                    "connecting to the host socket `{}` (outside the writable roots)",
                    String::from_utf8_lossy(path.to_bytes())
                ));
                return Err(libc::EACCES);
            }
            // Connect to exactly the inode we checked, through its descriptor.
            let mut un = Vec::with_capacity(40);
            un.extend_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
            un.extend_from_slice(
                format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&target)).as_bytes(),
            );
            un.push(0);
            raw = un;
            keep = Some(target);
        } else if let Some(port) = self.proxy_port.filter(|p| is_loopback_v4(&raw, *p)) {
            // A connection to brig's proxy: its local port (bound here if the socket has none
            // yet, as connect would) lets brig name the process in the connection's record.
            let mut local = sys::local_port(sock.as_fd()).unwrap_or(0);
            if local == 0 {
                let mut any = Vec::with_capacity(16);
                any.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                any.extend_from_slice(&0u16.to_be_bytes());
                any.extend_from_slice(&[127, 0, 0, 1]);
                any.extend_from_slice(&[0u8; 8]);
                if sys::bind_raw(sock.as_fd(), &any).is_ok() {
                    local = sys::local_port(sock.as_fd()).unwrap_or(0);
                }
            }
            let _ = port;
            if local != 0 {
                self.proxy_clients.push(local.to_string());
            }
        }
        self.still_waiting(n)?;
        Ok(Reply::DeferredValue(Box::new(move || {
            let r = sys::connect_raw(sock.as_fd(), &raw)
                .map(|()| 0)
                .map_err(|e| errno_of(&e));
            drop(keep);
            r
        })))
    }

    /// Copies a `connect`/`bind` request's socket address and takes a duplicate of its socket;
    /// also returns the path of a path-named `AF_UNIX` address.
    fn socket_request(
        &self,
        pid: libc::pid_t,
        sockfd: i32,
        addr: u64,
        len: u64,
    ) -> Result<SocketRequest, i32> {
        if addr == 0 {
            return Err(libc::EFAULT);
        }
        if len > 4096 {
            return Err(libc::EINVAL);
        }
        let mut raw = vec![0u8; len as usize];
        let got = sys::read_process_memory(pid, addr, &mut raw).map_err(|_| libc::EFAULT)?;
        if got != raw.len() {
            return Err(libc::EFAULT);
        }
        let sock = sys::take_fd(pid, sockfd).map_err(|e| errno_of(&e))?;
        let family = if raw.len() >= 2 {
            u16::from_ne_bytes([raw[0], raw[1]])
        } else {
            0
        };
        let path = (family == libc::AF_UNIX as u16 && raw.len() > 2 && raw[2] != 0).then(|| {
            let bytes = &raw[2..];
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            bytes[..end].to_vec()
        });
        Ok((sock, raw, path))
    }

    /// `bind`: a path-named `AF_UNIX` socket creates a file, so its name is checked like any
    /// other creation, and the bind is done here on a duplicate of the caller's socket, in the
    /// parent directory we resolved and checked.
    fn bind(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        sockfd: i32,
        addr: u64,
        len: u64,
    ) -> Result<Reply, i32> {
        let (sock, raw, unix_path) = self.socket_request(pid, sockfd, addr, len)?;
        if let Some(path) = unix_path {
            let t = self.target_path(pid, libc::AT_FDCWD as i64, &path)?;
            self.check(n, &[&t])?;
            let mut un = Vec::with_capacity(110);
            un.extend_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
            un.extend_from_slice(
                format!(
                    "/proc/self/fd/{}/",
                    std::os::fd::AsRawFd::as_raw_fd(&t.parent)
                )
                .as_bytes(),
            );
            un.extend_from_slice(t.name.to_bytes());
            if un.len() >= 2 + 108 {
                return Err(libc::ENAMETOOLONG);
            }
            un.push(0);
            let r = self.with_umask(pid, || sys::bind_raw(sock.as_fd(), &un));
            return self.done(r, "socket", &t);
        }
        self.still_waiting(n)?;
        sys::bind_raw(sock.as_fd(), &raw)
            .map(|()| Reply::Value(0))
            .map_err(|e| errno_of(&e))
    }

    /// The target still waits for our answer (so the pid in the `/proc` paths we used was not
    /// reused meanwhile).
    fn still_waiting(&self, n: &notif::Notif) -> Result<(), i32> {
        if notif::id_valid(self.listener.as_fd(), n.id).unwrap_or(false) {
            Ok(())
        } else {
            Err(libc::ESRCH)
        }
    }

    /// Resolves a path argument for an operation that creates nothing, with its location for
    /// the record.
    fn located(
        &self,
        n: &notif::Notif,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
    ) -> Result<(Target, String), i32> {
        let t = self.target(pid, dirfd, path)?;
        self.still_waiting(n)?;
        let at = self.where_(&t);
        Ok((t, at))
    }

    /// `unlink`/`unlinkat`/`rmdir`: done here so that every deletion is on the record.
    fn unlink(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
        flags: i32,
    ) -> Result<Reply, i32> {
        let (t, at) = self.located(n, pid, dirfd, path)?;
        let r = sys::unlinkat(t.parent.as_fd(), &t.name, flags & libc::AT_REMOVEDIR);
        let op = if flags & libc::AT_REMOVEDIR != 0 {
            "rmdir"
        } else {
            "delete"
        };
        self.record(r, op, at)
    }

    /// `chmod`/`fchmodat`: done here so that every mode change is on the record.
    fn chmod(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
        mode: i32,
    ) -> Result<Reply, i32> {
        let (t, at) = self.located(n, pid, dirfd, path)?;
        let r = sys::fchmodat(t.parent.as_fd(), &t.name, mode as libc::mode_t);
        self.record(r, &format!("chmod {:o}", mode & 0o7777), at)
    }

    /// `truncate(path)`: the file is opened for writing (following symlinks like truncate(2))
    /// and truncated through that descriptor.
    fn truncate(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        path: u64,
        len: i64,
    ) -> Result<Reply, i32> {
        let (t, at) = self.located(n, pid, libc::AT_FDCWD as i64, path)?;
        if self.too_big(len) {
            return Err(libc::EFBIG);
        }
        let r = sys::openat_raw(
            t.parent.as_fd(),
            &t.name,
            libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            0,
        )
        .and_then(|f| sys::ftruncate(f.as_fd(), len));
        self.record(r, "truncate", at)
    }

    /// Records `op` at `at` when `r` succeeded, and turns `r` into the reply.
    fn record(&mut self, r: io::Result<()>, op: &str, at: String) -> Result<Reply, i32> {
        match r {
            Ok(()) => {
                self.changes.push(format!("{op}\t{at}"));
                Ok(Reply::Value(0))
            }
            Err(e) => {
                // A change the kernel refused: a read-only mount (EROFS) or Landlock / file
                // permissions (EACCES). Recorded for the audit trail, not printed.
                let layer = match e.raw_os_error() {
                    Some(libc::EROFS) => Some("mount-namespace"),
                    Some(libc::EACCES) => Some("landlock"),
                    _ => None,
                };
                if let Some(layer) = layer {
                    self.refusals.push(format!("{layer}\t{op} {at}: {e}"));
                }
                Err(errno_of(&e))
            }
        }
    }

    /// Where `t` is, as the kernel names its parent (for reports).
    fn where_(&self, t: &Target) -> String {
        match fd_path(&t.parent) {
            Ok(mut p) => {
                if p != b"/" {
                    p.push(b'/');
                }
                p.extend_from_slice(t.name.to_bytes());
                String::from_utf8_lossy(&p).into_owned()
            }
            Err(_) => t.shown.clone(),
        }
    }

    /// Records a successful change of `t` and turns `r` into the reply.
    fn done(&mut self, r: io::Result<()>, op: &str, t: &Target) -> Result<Reply, i32> {
        let at = self.where_(t);
        self.record(r, op, at)
    }

    fn with_umask<T>(&self, pid: libc::pid_t, f: impl FnOnce() -> T) -> T {
        let mask = target_umask(pid).unwrap_or(0o022);
        let old = sys::umask(mask);
        let r = f();
        sys::umask(old);
        r
    }

    fn mkdir(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
        mode: i32,
    ) -> Result<Reply, i32> {
        let t = self.target(pid, dirfd, path)?;
        self.check(n, &[&t])?;
        let r = self.with_umask(pid, || {
            sys::mkdirat(t.parent.as_fd(), &t.name, mode as libc::mode_t)
        });
        self.done(r, "mkdir", &t)
    }

    fn mknod(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
        mode: i32,
        dev: u64,
    ) -> Result<Reply, i32> {
        let t = self.target(pid, dirfd, path)?;
        self.check(n, &[&t])?;
        let r = self.with_umask(pid, || {
            sys::mknodat(
                t.parent.as_fd(),
                &t.name,
                mode as libc::mode_t,
                dev as libc::dev_t,
            )
        });
        self.done(r, "mknod", &t)
    }

    fn symlink(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        target: u64,
        dirfd: i64,
        path: u64,
    ) -> Result<Reply, i32> {
        let dest = self.read_path(pid, target)?;
        let t = self.target(pid, dirfd, path)?;
        self.check(n, &[&t])?;
        let r = sys::symlinkat(&dest, t.parent.as_fd(), &t.name);
        self.done(r, "symlink", &t)
    }

    #[allow(clippy::too_many_arguments)]
    fn link(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        olddir: i64,
        oldpath: u64,
        newdir: i64,
        newpath: u64,
        flags: i32,
    ) -> Result<Reply, i32> {
        let new = self.target(pid, newdir, newpath)?;
        if flags & libc::AT_EMPTY_PATH != 0 {
            let p = self.read_path(pid, oldpath)?;
            if p.to_bytes().is_empty() {
                let src = self.base(pid, olddir, &p)?;
                self.check(n, &[&new])?;
                let r = sys::linkat(
                    src.as_fd(),
                    c"",
                    new.parent.as_fd(),
                    &new.name,
                    libc::AT_EMPTY_PATH,
                );
                return self.done(r, "link", &new);
            }
        }
        let old = self.target(pid, olddir, oldpath)?;
        self.check(n, &[&new])?;
        let r = sys::linkat(
            old.parent.as_fd(),
            &old.name,
            new.parent.as_fd(),
            &new.name,
            flags & libc::AT_SYMLINK_FOLLOW,
        );
        self.done(r, "link", &new)
    }

    #[allow(clippy::too_many_arguments)]
    fn rename(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        olddir: i64,
        oldpath: u64,
        newdir: i64,
        newpath: u64,
        flags: u32,
    ) -> Result<Reply, i32> {
        let old = self.target(pid, olddir, oldpath)?;
        let new = self.target(pid, newdir, newpath)?;
        // Renaming a protected entry away (and then recreating it) is refused too.
        self.check(n, &[&old, &new])?;
        // So is moving a directory that holds one: the protected entries found when each
        // sandbox started must stay where they are, even while another sandbox runs on the
        // same workspace (its walk could miss an entry moved under its feet). With
        // RENAME_EXCHANGE both sides move.
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        for side in if exchange {
            vec![&old, &new]
        } else {
            vec![&old]
        } {
            if self.moves_protected(side) {
                self.blocked.push(format!(
                    "moving `{}`, which contains protected entries",
                    side.shown
                ));
                return Err(libc::EPERM);
            }
        }
        let from = self.where_(&old);
        let r = sys::renameat2(
            old.parent.as_fd(),
            &old.name,
            new.parent.as_fd(),
            &new.name,
            flags,
        );
        let to = self.where_(&new);
        self.record(r, "rename", format!("{from} -> {to}"))
    }

    /// A syscall the filter refuses: recorded (up to [`MAX_SYSCALL_RECORDS`]), then refused.
    fn syscall_refused(&mut self, r: &crate::seccomp::Refusal, a: [u64; 6]) {
        if self.syscall_records >= MAX_SYSCALL_RECORDS {
            self.syscalls_suppressed += 1;
            return;
        }
        self.syscall_records += 1;
        let call = match r.name {
            "socket" | "socketpair" => format!("{}(family {})", r.name, a[0] as u32),
            "ioctl" => format!("ioctl(request {:#x})", a[1] as u32),
            "clone" => format!("clone(flags {:#x})", a[0] as u32),
            "personality" => format!("personality({:#x})", a[0] as u32),
            name => name.to_string(),
        };
        self.refusals.push(format!("seccomp\t{call}: {}", r.why));
    }

    /// `execve`/`execveat`: recorded, then run by the kernel. The guard cannot run an exec for
    /// the caller, and needs not: it decides nothing here (the mounts, Landlock and the filter
    /// confine the new program). Calls that will fail because the file does not exist (a
    /// `PATH` search trying each directory) are not recorded.
    fn exec(
        &mut self,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
        argv: u64,
        flags: i32,
    ) -> Result<Reply, i32> {
        let p = match self.read_path(pid, path) {
            Ok(p) => p,
            Err(libc::EPERM) => {
                self.unreadable(pid, Some("exec"));
                return Ok(Reply::Continue);
            }
            Err(_) => return Ok(Reply::Continue),
        };
        let shown = if p.to_bytes().is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
            // fexecve: the program is the descriptor.
            sys::readlink(&CString::new(format!("/proc/{pid}/fd/{dirfd}")).unwrap_or_default())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok()
        } else {
            self.target_path(pid, dirfd, p.to_bytes())
                .ok()
                .and_then(|t| {
                    let f = sys::openat(Some(t.parent.as_fd()), &t.name, libc::O_PATH, 0).ok()?;
                    let st = sys::fstat(f.as_fd()).ok()?;
                    // A file that is not executable fails to exec: not recorded either.
                    (st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0)
                        .then(|| self.where_(&t))
                })
        };
        let Some(shown) = shown else {
            return Ok(Reply::Continue);
        };
        let args = self.read_argv(pid, argv);
        let ppid = parent_of(pid).map(|p| p.to_string()).unwrap_or_default();
        let mut line = format!("{ppid}\t{}", escape(&shown));
        for a in args {
            line.push('\t');
            line.push_str(&escape(&a));
        }
        self.execs.push(line);
        Ok(Reply::Continue)
    }

    /// Copies an `argv` array out of the target: at most 256 arguments and 64 KiB, each
    /// argument at most `PATH_MAX` bytes (longer ones end in `...`).
    fn read_argv(&self, pid: libc::pid_t, addr: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut total = 0usize;
        if addr == 0 {
            return out;
        }
        for i in 0..256u64 {
            let mut ptr = [0u8; 8];
            match sys::read_process_memory(pid, addr + 8 * i, &mut ptr) {
                Ok(8) => {}
                _ => break,
            }
            let p = u64::from_ne_bytes(ptr);
            if p == 0 {
                return out;
            }
            let arg = match self.read_path(pid, p) {
                Ok(c) => String::from_utf8_lossy(c.to_bytes()).into_owned(),
                Err(libc::ENAMETOOLONG) => "...".to_string(),
                Err(_) => break,
            };
            total += arg.len();
            out.push(arg);
            if total > 65536 {
                break;
            }
        }
        out.push("...".to_string());
        out
    }

    /// Records a call whose arguments the guard could not read (the process is not dumpable,
    /// so its memory and descriptors are closed to the guard), before the kernel runs it.
    /// `op`: the change or exec it may be; `None` for a read.
    fn unreadable(&mut self, pid: libc::pid_t, op: Option<&str>) {
        const WHY: &str = "(unknown: the process is not dumpable, its memory is closed to brig)";
        match op {
            Some("exec") => self.execs.push(format!(
                "{}\t{}",
                parent_of(pid).map(|p| p.to_string()).unwrap_or_default(),
                escape(WHY)
            )),
            Some(_) if self.spec.record < Record::Changes => {}
            Some(op) => self.changes.push(format!("{op}\t{WHY}")),
            None if self.spec.record >= Record::All => self.reads.push(WHY.to_string()),
            None => {}
        }
    }

    /// Whether `t`'s parent directory is in /proc.
    fn on_proc(&self, t: &Target) -> bool {
        sys::fstat(t.parent.as_fd()).is_ok_and(|p| p.st_dev == self.proc_dev)
    }

    /// `fchmod`/`ftruncate`: done here on a duplicate of the caller's descriptor (the same
    /// open file, so the same rights), and recorded with the file's path.
    fn on_descriptor(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        fd: i32,
        op: FdOp,
    ) -> Result<Reply, i32> {
        let file = match sys::take_fd(pid, fd) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                // A non-dumpable process: its descriptor cannot be borrowed. The kernel does the
                // call with the caller's own rights; the record says what is unknown.
                self.unreadable(
                    pid,
                    Some(match op {
                        FdOp::Chmod(_) => "chmod",
                        FdOp::Truncate(_) => "truncate",
                    }),
                );
                return Ok(Reply::Continue);
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Err(libc::ESRCH),
            Err(_) => return Err(libc::EBADF),
        };
        self.still_waiting(n)?;
        let (r, name) = match op {
            FdOp::Chmod(mode) => (
                sys::fchmod(file.as_fd(), mode as libc::mode_t),
                format!("chmod {:o}", mode & 0o7777),
            ),
            FdOp::Truncate(len) if self.too_big(len) => return Err(libc::EFBIG),
            FdOp::Truncate(len) => (sys::ftruncate(file.as_fd(), len), "truncate".to_string()),
        };
        let at = fd_path(&file).map(|b| String::from_utf8_lossy(&b).into_owned());
        match at {
            // Anonymous memory files and sockets are not file-system changes.
            Ok(at) if at.starts_with('/') && !at.starts_with("/memfd:") => {
                self.record(r, &name, at)
            }
            _ => r.map(|()| Reply::Value(0)).map_err(|e| errno_of(&e)),
        }
    }

    fn open(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
        flags: i32,
        mode: i32,
    ) -> Result<Reply, i32> {
        let read_only =
            flags & (libc::O_CREAT | libc::O_WRONLY | libc::O_RDWR | libc::O_TRUNC) == 0;
        let creating = flags & libc::O_CREAT != 0;
        if !creating && self.read_path(pid, path) == Err(libc::EPERM) {
            // The caller's memory cannot be read (a non-dumpable process): nothing is created,
            // so the kernel may open it; the record says what is missing.
            let what = if read_only { None } else { Some("open-write") };
            self.unreadable(pid, what);
            return Ok(Reply::Continue);
        }
        match self.open_as_target(n, pid, dirfd, path, flags, mode) {
            Err(libc::EACCES) if read_only && self.foreign_proc.get() => {
                // A read of another sandboxed process's /proc entry (ps, top): the guard does
                // not open those on anyone's behalf (it may reach more than the caller), so the
                // kernel does it, with the caller's own rights.
                let shown = self
                    .read_path(pid, path)
                    .map(|p| String::from_utf8_lossy(p.to_bytes()).into_owned())
                    .unwrap_or_default();
                self.reads.push(shown);
                Ok(Reply::Continue)
            }
            r => r,
        }
    }

    fn open_as_target(
        &mut self,
        n: &notif::Notif,
        pid: libc::pid_t,
        dirfd: i64,
        path: u64,
        flags: i32,
        mode: i32,
    ) -> Result<Reply, i32> {
        let creating = flags & libc::O_CREAT != 0;
        let mut t = self.target(pid, dirfd, path)?;
        let cloexec = flags & libc::O_CLOEXEC != 0;
        let writing = flags & (libc::O_WRONLY | libc::O_RDWR | libc::O_TRUNC) != 0;
        if !creating && !writing && self.on_proc(&t) {
            // A read in /proc: only the kernel resolves `/proc/1` (the sandbox's init, not us)
            // and `/proc/self` in the caller's own view; a read decides nothing here.
            if self.spec.record >= Record::All {
                // As given: resolving it here would name our own /proc/1 as the caller's.
                self.reads.push(t.shown.clone());
            }
            return Ok(Reply::Continue);
        }
        let excl = flags & libc::O_EXCL != 0;
        let nofollow = flags & libc::O_NOFOLLOW != 0;
        let mut hops = 0;
        // With O_EXCL the kernel neither follows a final symlink nor opens an existing file.
        loop {
            if excl {
                break;
            }
            let Ok(st) = sys::lstatat(t.parent.as_fd(), &t.name) else {
                break;
            };
            let kind = sys::kind_of_mode(st.st_mode);
            let on_proc = sys::fstat(t.parent.as_fd())
                .map(|p| p.st_dev == self.proc_dev)
                .unwrap_or(false);
            if kind == EntryKind::Symlink && !nofollow && on_proc {
                // A /proc magic link of the target's own (e.g. /dev/stderr → /proc/self/fd/2):
                // only the kernel can follow it; the parent is already the target's. It may
                // lead to a pipe, whose open can wait: treated like a fifo.
                self.still_waiting(n)?;
                return Ok(open_existing(t, flags, cloexec, libc::S_IFIFO, false));
            }
            if kind == EntryKind::Symlink && !nofollow {
                // Follow it ourselves, so that the name finally created is the one we check.
                hops += 1;
                if hops > 40 {
                    return Err(libc::ELOOP);
                }
                let text = sys::readlinkat(t.parent.as_fd(), &t.name).map_err(|e| errno_of(&e))?;
                let next = if text.first() == Some(&b'/') {
                    text
                } else {
                    let mut p = fd_path(&t.parent)?;
                    p.push(b'/');
                    p.extend_from_slice(&text);
                    p
                };
                let shown = t.shown.clone();
                t = self.target_path(pid, libc::AT_FDCWD as i64, &next)?;
                t.shown = format!("{shown} -> {}", String::from_utf8_lossy(&next));
                continue;
            }
            if kind == EntryKind::Other {
                self.still_waiting(n)?;
                if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(5, 0) {
                    // /dev/tty means the caller's controlling terminal, not ours.
                    return Ok(open_controlling_tty(pid, flags, cloexec));
                }
                // An existing fifo, device or socket: nothing is created; the open may block.
                return Ok(open_existing(t, flags, cloexec, st.st_mode, true));
            }
            break;
        }
        if creating {
            self.check(n, &[&t])?;
        } else {
            self.still_waiting(n)?;
        }
        let existed = sys::lstatat(t.parent.as_fd(), &t.name).is_ok();
        // O_NOFOLLOW: if the name became a symlink since we looked, fail instead of following.
        let f = (flags | libc::O_NOFOLLOW) & !libc::O_CLOEXEC;
        let r = self.with_umask(pid, || {
            sys::openat_raw(
                t.parent.as_fd(),
                &t.name,
                f | libc::O_CLOEXEC,
                mode as libc::mode_t,
            )
        });
        let tmpfile = flags & libc::O_TMPFILE == libc::O_TMPFILE;
        let op = if tmpfile {
            // An unnamed file: it appears (and is recorded) only when `linkat` names it.
            None
        } else if !existed && creating {
            Some("create")
        } else if !writing {
            Some("read")
        } else if flags & libc::O_TRUNC != 0 {
            Some("truncate")
        } else {
            Some("open-write")
        };
        match (r, op) {
            (Ok(fd), Some("read")) => {
                if self.spec.record >= Record::All {
                    let at = self.where_(&t);
                    self.reads.push(at);
                }
                Ok(Reply::Fd(fd, cloexec))
            }
            (Ok(fd), Some(op)) => {
                let at = self.where_(&t);
                self.changes.push(format!("{op}\t{at}"));
                Ok(Reply::Fd(fd, cloexec))
            }
            (Ok(fd), None) => Ok(Reply::Fd(fd, cloexec)),
            (Err(e), op) => {
                let at = self.where_(&t);
                let op = op.unwrap_or("create");
                self.record(Err(e), op, at).map(|_| Reply::Value(0))
            }
        }
    }
}

/// An operation on a descriptor.
enum FdOp {
    Chmod(i32),
    Truncate(i64),
}

/// `/dev/tty` for process `pid`: its controlling terminal (from `/proc/PID/stat`), opened here
/// through `/dev/pts/N` without becoming ours. `ENXIO` when it has none, as the kernel says.
fn open_controlling_tty(pid: libc::pid_t, flags: i32, cloexec: bool) -> Reply {
    let tty = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            rest.split(' ').nth(4)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    let (major, minor) = ((tty >> 8) & 0xfff, (tty & 0xff) | ((tty >> 12) & 0xfff00));
    if tty == 0 || !(136..=143).contains(&major) {
        return Reply::Errno(libc::ENXIO);
    }
    let n = (major - 136) * 256 + minor;
    let Ok(path) = CString::new(format!("/dev/pts/{n}")) else {
        return Reply::Errno(libc::ENXIO);
    };
    let f = (flags & !libc::O_CREAT & !libc::O_CLOEXEC) | libc::O_CLOEXEC | libc::O_NOCTTY;
    Reply::Deferred(
        Box::new(move || sys::openat(None, &path, f, 0).map_err(|e| errno_of(&e))),
        cloexec,
    )
}

/// The parent of process `pid`, from `/proc/PID/stat`.
fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// Opens an object that already exists (no `O_CREAT`), in a thread of its own when the open can
/// block (fifos), so that one waiting `open` does not stall every other request.
fn open_existing(
    t: Target,
    flags: i32,
    cloexec: bool,
    mode: libc::mode_t,
    nofollow: bool,
) -> Reply {
    let mut f = (flags & !libc::O_CREAT & !libc::O_CLOEXEC) | libc::O_CLOEXEC;
    if nofollow {
        f |= libc::O_NOFOLLOW;
    }
    let run = move || sys::openat_raw(t.parent.as_fd(), &t.name, f, 0).map_err(|e| errno_of(&e));
    // Only a fifo's open waits (for the other end); devices in the sandbox's /dev and
    // sockets answer at once, so they are opened inline (a thread per open of /dev/null
    // would cost more than the open).
    if mode & libc::S_IFMT != libc::S_IFIFO {
        match run() {
            Ok(fd) => Reply::Fd(fd, cloexec),
            Err(e) => Reply::Errno(e),
        }
    } else {
        Reply::Deferred(Box::new(run), cloexec)
    }
}

/// The path of an open descriptor, as the kernel names it.
fn fd_path(fd: &OwnedFd) -> Result<Vec<u8>, i32> {
    let link = CString::new(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(fd)
    ))
    .map_err(|_| libc::EINVAL)?;
    sys::readlink(&link).map_err(|e| errno_of(&e))
}

/// The thread-group id of thread `tid`.
fn tgid_of(tid: libc::pid_t) -> Option<libc::pid_t> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Splits a path into the part the kernel resolves as directories and the final component, as
/// path resolution does: trailing slashes belong to the final component, a bare final `/` or
/// empty name means the directory itself (`.`).
fn split_path(bytes: &[u8]) -> (&[u8], &[u8]) {
    let mut trimmed = bytes;
    while trimmed.len() > 1 && trimmed.ends_with(b"/") {
        trimmed = &trimmed[..trimmed.len() - 1];
    }
    let (dir, name): (&[u8], &[u8]) = match trimmed.iter().rposition(|&c| c == b'/') {
        Some(0) => (b"/", &trimmed[1..]),
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (b".", trimmed),
    };
    (dir, if name.is_empty() { b"." } else { name })
}

/// The umask of process `pid`, from `/proc/PID/status` (one read).
fn target_umask(pid: libc::pid_t) -> Option<libc::mode_t> {
    use std::io::Read;
    let mut f = std::fs::File::open(format!("/proc/{pid}/status")).ok()?;
    let mut buf = [0u8; 512];
    let n = f.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let line = text.lines().find(|l| l.starts_with("Umask:"))?;
    libc::mode_t::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
}

/// Whether `raw` (a socket address as the caller gave it) is `127.0.0.1:port`.
fn is_loopback_v4(raw: &[u8], port: u16) -> bool {
    raw.len() >= 8
        && u16::from_ne_bytes([raw[0], raw[1]]) == libc::AF_INET as u16
        && raw[2..4] == port.to_be_bytes()
        && raw[4..8] == [127, 0, 0, 1]
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn paths_split_like_the_kernel_resolves_them() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            (b".envrc", b".", b".envrc"),
            (b"sub/.git", b"sub", b".git"),
            (b"sub/.git/", b"sub", b".git"),
            (b"sub/.git//", b"sub", b".git"),
            (b"/abs/dir/.vscode", b"/abs/dir", b".vscode"),
            (b"/.mcp.json", b"/", b".mcp.json"),
            (b"/", b"/", b"."),
            (b"a//b", b"a/", b"b"),
            (b"..", b".", b".."),
        ];
        for (path, dir, name) in cases {
            assert_eq!(
                split_path(path),
                (*dir, *name),
                "{}",
                String::from_utf8_lossy(path)
            );
        }
    }
}
