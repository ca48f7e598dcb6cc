//! Process, namespace, mount and file-descriptor primitives.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Converts a path to a C string, refusing interior NUL bytes.
pub fn cstr(p: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a freshly returned descriptor.
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = check_long(fd)?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: `fd` was just returned by the kernel as a new descriptor of this process and
    // nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Result of a fork-like call.
pub enum Forked {
    /// In the parent: the child's pid.
    Parent(libc::pid_t),
    /// In the child.
    Child,
}

/// `clone(flags | SIGCHLD)` without a new stack: fork semantics, with new namespaces.
///
/// The caller must be single-threaded (brig forks before it starts any thread).
pub fn clone_fork(flags: libc::c_int) -> io::Result<Forked> {
    let flags = libc::c_ulong::try_from(flags | libc::SIGCHLD).unwrap_or(0);
    // SAFETY: raw clone with a NULL stack behaves like fork(2): the child continues on a copy of
    // the caller's stack and address space. The process is single-threaded (documented
    // precondition), so no lock held by another thread is copied in a locked state. The
    // remaining pointer arguments (parent_tid, child_tid, tls) are NULL/0 and unused because no
    // CLONE_*SETTID/SETTLS flag is passed.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match check_long(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// fork(2). The caller must be single-threaded.
pub fn fork() -> io::Result<Forked> {
    clone_fork(0)
}

/// waitpid(2), retrying on EINTR. Returns (pid, raw status).
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable c_int for the duration of the call.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r >= 0 {
            return Ok((r, status));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// wait4(2): blocks for `pid`; returns its raw status and the resource usage of it and every
/// descendant it waited for.
pub fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid buffer for the kernel to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `ru` are valid, writable locals for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r >= 0 {
            return Ok((status, ru));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// kill(2).
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers and has no memory-safety preconditions.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// _exit(2): ends the process without running destructors or atexit handlers (used in
/// children after fork).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Real uid and gid.
pub fn ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: getuid/getgid have no preconditions.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// setsid(2).
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no preconditions.
    check(unsafe { libc::setsid() }).map(drop)
}

/// Sets the signal the process receives when its parent dies.
pub fn set_parent_death_signal(sig: libc::c_int) -> io::Result<()> {
    let sig = libc::c_ulong::try_from(sig).unwrap_or(0);
    // SAFETY: PR_SET_PDEATHSIG takes a plain integer argument.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) }).map(drop)
}

/// Drops every capability: bounding set, ambient set, and the effective, permitted and
/// inheritable sets, so that even uid 0 gains nothing on execve.
pub fn drop_all_capabilities() -> io::Result<()> {
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_DROP takes a capability number; unknown numbers fail with EINVAL,
        // which ends the loop.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            return Err(e);
        }
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes only integer arguments.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    })?;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads one header and, for version 3, exactly two data structs; both are
    // live, correctly laid out (#[repr(C)], matching the kernel's __user_cap_*_struct) locals.
    check_long(unsafe {
        libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr())
    })?;
    Ok(())
}

/// Marks every descriptor from `first` upward close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes flags of this process's descriptors; no pointers.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

/// pipe2(O_CLOEXEC): (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two c_ints as pipe2 requires.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created by pipe2 and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC).
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two c_ints as socketpair requires.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both descriptors were just created by socketpair and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Writes all of `buf`, retrying on EINTR.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes.
        let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Reads up to `buf.len()` bytes, retrying on EINTR. 0 means end of file.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is a valid writable slice of `buf.len()` bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Sends one descriptor over a Unix socket (SCM_RIGHTS) with a one-byte payload.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: an all-zero msghdr is a valid empty message header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `cbuf`, which is CMSG_SPACE(sizeof(int)) bytes long, so
    // CMSG_FIRSTHDR returns a pointer to a header that fits, and CMSG_DATA has room for one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    // SAFETY: `msg` points at live buffers (`iov`, `byte`, `cbuf`) for the duration of the call.
    check_long(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } as libc::c_long)
        .map(drop)
}

/// Receives one descriptor sent with [`send_fd`]. `Ok(None)` when the peer closed.
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: an all-zero msghdr is a valid empty message header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` points at live, writable buffers for the duration of the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    if n == 0 {
        return Ok(None);
    }
    // SAFETY: the kernel filled `msg` and `cbuf`; CMSG_FIRSTHDR returns NULL or a header
    // inside `cbuf`. We only read an int from an SCM_RIGHTS header whose length covers it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
            || ((*cmsg).cmsg_len as usize)
                < libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize
        {
            return Err(io::Error::from_raw_os_error(libc::EPROTO));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
        Ok(Some(OwnedFd::from_raw_fd(fd)))
    }
}

/// mount(2).
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is either NULL or a NUL-terminated string borrowed for the call.
    check(unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) })
        .map(drop)
}

/// open_tree(2): with OPEN_TREE_CLONE, a detached copy of the mount at `path`.
pub fn open_tree(dirfd: BorrowedFd<'_>, path: &CStr, flags: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a NUL-terminated string and `dirfd` an open descriptor for the call.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, dirfd.as_raw_fd(), path.as_ptr(), flags) })
}

/// move_mount(2) of a detached tree (`from`) onto `to_dirfd`/`to_path`.
pub fn move_mount(
    from: BorrowedFd<'_>,
    to_dirfd: BorrowedFd<'_>,
    to_path: &CStr,
    flags: libc::c_uint,
) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    let empty = c"";
    // SAFETY: both paths are NUL-terminated strings and both descriptors are open for the call.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to_dirfd.as_raw_fd(),
            to_path.as_ptr(),
            flags | MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Attribute flags for [`mount_setattr`].
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// nosuid.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// nodev.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;

/// mount_setattr(2) on the mount at `dirfd`/`path` (empty path: `dirfd` itself).
pub fn mount_setattr(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    recursive: bool,
    set: u64,
    clear: u64,
) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = 0 as libc::c_uint;
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `attr` is a live struct laid out as the kernel's `struct mount_attr` (four u64),
    // its size is passed alongside; `path` is NUL-terminated and `dirfd` is open.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// openat(2).
pub fn openat(
    dirfd: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let d = dirfd.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `path` is NUL-terminated; `d` is AT_FDCWD or an open descriptor.
    owned(unsafe {
        libc::openat(
            d,
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    } as libc::c_long)
}

/// openat(2) without forcing O_CLOEXEC (the supervisor passes the caller's own flags).
pub fn openat_raw(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and `dirfd` is open.
    owned(unsafe {
        libc::openat(
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            mode as libc::c_uint,
        )
    } as libc::c_long)
}

/// Opens `path` as an `O_PATH` descriptor without following a final symlink.
pub fn open_path_nofollow(path: &Path) -> io::Result<OwnedFd> {
    openat(None, &cstr(path)?, libc::O_PATH | libc::O_NOFOLLOW, 0)
}

/// fstat(2).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid buffer for the kernel to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is writable and `fd` is open.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// fstatat(2) with AT_SYMLINK_NOFOLLOW.
pub fn lstatat(dirfd: BorrowedFd<'_>, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid buffer for the kernel to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is writable, `name` NUL-terminated and `dirfd` open.
    check(unsafe {
        libc::fstatat(
            dirfd.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

/// mkdirat(2).
pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and `dirfd` open.
    check(unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// mknodat(2).
pub fn mknodat(
    dirfd: BorrowedFd<'_>,
    name: &CStr,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and `dirfd` open.
    check(unsafe { libc::mknodat(dirfd.as_raw_fd(), name.as_ptr(), mode, dev) }).map(drop)
}

/// symlinkat(2).
pub fn symlinkat(target: &CStr, dirfd: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated and `dirfd` is open.
    check(unsafe { libc::symlinkat(target.as_ptr(), dirfd.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// linkat(2).
pub fn linkat(
    olddir: BorrowedFd<'_>,
    oldname: &CStr,
    newdir: BorrowedFd<'_>,
    newname: &CStr,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated and both descriptors open.
    check(unsafe {
        libc::linkat(
            olddir.as_raw_fd(),
            oldname.as_ptr(),
            newdir.as_raw_fd(),
            newname.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// renameat2(2).
pub fn renameat2(
    olddir: BorrowedFd<'_>,
    oldname: &CStr,
    newdir: BorrowedFd<'_>,
    newname: &CStr,
    flags: libc::c_uint,
) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated and both descriptors open.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            olddir.as_raw_fd(),
            oldname.as_ptr(),
            newdir.as_raw_fd(),
            newname.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// umask(2); returns the previous mask.
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: umask takes and returns plain integers.
    unsafe { libc::umask(mask) }
}

/// Reads `buf.len()` bytes at `addr` in process `pid` (process_vm_readv). Returns bytes read.
pub fn read_process_memory(pid: libc::pid_t, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes our writable `buf`; `remote` is an address in *another*
    // process, which the kernel validates (it is never dereferenced here).
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Blocks `signals` for the calling thread and returns a signalfd that reports them.
pub fn block_signals_to_fd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    // SAFETY: an all-zero sigset_t is valid storage for sigemptyset to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid, writable storage; signal numbers are plain integers.
    unsafe {
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
    }
    // SAFETY: `set` was initialised above; the old-set pointer is NULL.
    check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })?;
    // SAFETY: -1 asks for a new signalfd; `set` is initialised.
    owned(
        unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) } as libc::c_long,
    )
}

/// Unblocks every signal and resets the handled ones to their defaults (in a child before exec).
pub fn reset_signals() {
    // SAFETY: an all-zero sigset_t is valid storage; sigemptyset initialises it; sigprocmask with
    // an initialised set; signal(SIG_DFL) on valid signal numbers has no memory preconditions.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for s in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
            libc::SIGCHLD,
        ] {
            libc::signal(s, libc::SIG_DFL);
        }
    }
}

/// Reads one `signalfd_siginfo`; `Ok(None)` when none is pending.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<libc::c_int>> {
    // SAFETY: signalfd_siginfo is plain old data; all-zero is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is writable storage of exactly the size passed.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            std::mem::size_of_val(&info),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EAGAIN) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(info.ssi_signo as libc::c_int))
}

/// poll(2) on `fds` (events POLLIN); returns the revents of each.
pub fn poll_in(fds: &[BorrowedFd<'_>], timeout_ms: libc::c_int) -> io::Result<Vec<libc::c_short>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` is a live array of `p.len()` pollfd structs.
        let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if r >= 0 {
            return Ok(p.iter().map(|x| x.revents).collect());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// execve(2). Returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: `path` and every element are NUL-terminated strings that outlive the call; both
    // arrays are NULL-terminated as execve requires.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// Whether `path` exists and is executable for this process (access(2) with `X_OK`).
pub fn executable(path: &CStr) -> bool {
    // SAFETY: `path` is NUL-terminated; access only reads it.
    unsafe { libc::access(path.as_ptr(), libc::X_OK) == 0 }
}

/// chdir(2).
pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// sethostname(2) (inside a private UTS namespace).
pub fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: `name` is a readable slice of `name.len()` bytes.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// Brings up the loopback interface of the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: creating a socket takes plain integers.
    let sock =
        owned(
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }
                as libc::c_long,
        )?;
    // SAFETY: an all-zero ifreq is a valid request buffer.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the live `req` buffer.
    unsafe {
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req))?;
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req))?;
    }
    Ok(())
}

/// A `BorrowedFd` for AT_FDCWD-style "no directory" is not expressible; this returns the root
/// directory opened as O_PATH, used as a base for absolute paths.
pub fn open_root() -> io::Result<OwnedFd> {
    openat(None, c"/", libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// fsopen(2) of a filesystem type (e.g. `tmpfs`).
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: `fstype` is NUL-terminated for the call.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })
}

/// fsconfig(FSCONFIG_SET_STRING).
pub fn fsconfig_set(fs: BorrowedFd<'_>, key: &CStr, value: &CStr) -> io::Result<()> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    // SAFETY: both strings are NUL-terminated and `fs` is an open fs context.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// fsconfig(FSCONFIG_CMD_CREATE) followed by fsmount(2): a detached mount of the new superblock.
pub fn fsmount(fs: BorrowedFd<'_>, attrs: u64) -> io::Result<OwnedFd> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: CMD_CREATE takes no pointers (NULL key/value); `fs` is an open fs context.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<u8>(),
            std::ptr::null::<u8>(),
            0,
        )
    })?;
    // SAFETY: fsmount takes an open fs context and integer flags.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

/// Kind of a directory entry, from `d_type` (or lstat when the filesystem does not say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A regular file.
    File,
    /// Anything else (device, socket, fifo).
    Other,
}

/// Lists a directory given a descriptor opened for reading at offset 0. `.` and `..` are
/// skipped.
pub fn read_dir_fd(dir: BorrowedFd<'_>) -> io::Result<Vec<(CString, EntryKind)>> {
    let mut out = Vec::new();
    for_each_entry(dir, &mut |name, kind| out.push((name.to_owned(), kind)))?;
    Ok(out)
}

/// Calls `f` for every entry of a directory opened for reading at offset 0 (`getdents64`, no
/// `stat` unless the filesystem does not report the entry type). `.` and `..` are skipped.
pub fn for_each_entry(dir: BorrowedFd<'_>, f: &mut dyn FnMut(&CStr, EntryKind)) -> io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes; the kernel writes whole
        // `linux_dirent64` records into it and returns how many bytes it used.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        let n = check_long(n)? as usize;
        if n == 0 {
            return Ok(());
        }
        let mut off = 0;
        while off + 19 < n {
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, then the NUL-terminated name.
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 || off + reclen > n {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            let dtype = buf[off + 18];
            let record = &buf[off + 19..off + reclen];
            off += reclen;
            let Ok(name) = CStr::from_bytes_until_nul(record) else {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            };
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let kind = match dtype {
                libc::DT_DIR => EntryKind::Dir,
                libc::DT_LNK => EntryKind::Symlink,
                libc::DT_REG => EntryKind::File,
                libc::DT_UNKNOWN => match lstatat(dir, name) {
                    Ok(st) => kind_of_mode(st.st_mode),
                    Err(_) => EntryKind::Other,
                },
                _ => EntryKind::Other,
            };
            f(name, kind);
        }
    }
}

/// Kind of an inode from its `st_mode`.
pub fn kind_of_mode(mode: libc::mode_t) -> EntryKind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => EntryKind::Dir,
        libc::S_IFLNK => EntryKind::Symlink,
        libc::S_IFREG => EntryKind::File,
        _ => EntryKind::Other,
    }
}

/// readlink of a `/proc/self/fd/N`-style magic link or any symlink.
pub fn readlink(path: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for `buf.len()` bytes and `path` is NUL-terminated.
    let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// The Landlock ABI version of the running kernel (0 when Landlock is unavailable).
pub fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the VERSION flag, landlock_create_ruleset takes a NULL attribute pointer and
    // size 0 and only returns an integer.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        0
    } else {
        v as i32
    }
}

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// A duplicate of descriptor `fd` of process `pid` (pidfd_open + pidfd_getfd, close-on-exec).
pub fn take_fd(pid: libc::pid_t, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let pidfd = owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: pidfd_getfd takes an open pidfd, a descriptor number and flags (0: the result is
    // close-on-exec).
    owned(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
}

/// connect(2) of socket `sock` to the raw socket address `addr`.
pub fn connect_raw(sock: BorrowedFd<'_>, addr: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(addr.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `addr` is a readable buffer of `len` bytes holding a socket address; the kernel
    // copies it and validates its family and length.
    check(unsafe { libc::connect(sock.as_raw_fd(), addr.as_ptr().cast(), len) }).map(drop)
}

/// Marks the process non-dumpable: its `/proc/PID/{environ,fd,mem,...}` become unreachable to
/// processes without CAP_SYS_PTRACE over it (the sandboxed command has none).
pub fn set_non_dumpable() -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer argument; no memory is involved.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// Marks the process dumpable again (undoes [`set_non_dumpable`] in a child that inherited it).
pub fn set_dumpable() -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer argument; no memory is involved.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1 as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// readlinkat(2) of `name` in `dir`.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for `buf.len()` bytes, `name` is NUL-terminated, `dir` is open.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// The local port of an `AF_INET` socket (getsockname(2)); 0 when it has none or is another
/// family.
pub fn local_port(sock: BorrowedFd<'_>) -> io::Result<u16> {
    let mut addr = std::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` is a writable sockaddr_storage of `len` bytes, the largest address the
    // kernel writes; it writes at most `len` bytes and updates `len`.
    check(unsafe { libc::getsockname(sock.as_raw_fd(), addr.as_mut_ptr().cast(), &mut len) })?;
    // SAFETY: zero-initialized above, and the kernel filled in what it wrote; every bit
    // pattern is a valid sockaddr_storage.
    let addr = unsafe { addr.assume_init() };
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let v4 =
                unsafe { &*(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Ok(u16::from_be(v4.sin_port))
        }
        _ => Ok(0),
    }
}

/// bind(2) of socket `sock` to the raw socket address `addr`.
pub fn bind_raw(sock: BorrowedFd<'_>, addr: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(addr.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `addr` is a readable buffer of `len` bytes holding a socket address; the kernel
    // copies it and validates its family and length.
    check(unsafe { libc::bind(sock.as_raw_fd(), addr.as_ptr().cast(), len) }).map(drop)
}

/// openat2(2) with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`: `path` must
/// stay below `dir` and contain no symlink at all.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // struct open_how { u64 flags; u64 mode; u64 resolve; } (linux/openat2.h).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `how` is a live `open_how` whose size is passed; `path` is NUL-terminated and
    // `dir` is open for the duration of the call.
    owned(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })
}

/// unlinkat(2).
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and `dir` open.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// fchmodat(2) without following a final symlink is not supported by Linux for files; this
/// follows it, like chmod(2).
pub fn fchmodat(dir: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and `dir` open.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// fchmod(2).
pub fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: fchmod takes an open descriptor and a mode.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// truncate(2) of an object opened for writing (`O_WRONLY`), through its descriptor.
pub fn ftruncate(fd: BorrowedFd<'_>, len: i64) -> io::Result<()> {
    // SAFETY: ftruncate takes an open descriptor and a length.
    check(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// A resource limit brig sets on the sandboxed command (both the soft and the hard limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rlimit {
    /// `RLIMIT_FSIZE`: the largest file the process may write.
    FileSize,
    /// `RLIMIT_DATA`: private writable memory (heap, anonymous mappings) per process.
    Data,
    /// `RLIMIT_NPROC`: processes of the real user in its user namespace.
    Processes,
}

/// setrlimit(2): sets both the soft and the hard limit of `which` to `value`, so that the
/// process (which holds no `CAP_SYS_RESOURCE` in the initial user namespace) cannot raise it.
pub fn set_rlimit(which: Rlimit, value: u64) -> io::Result<()> {
    let resource = match which {
        Rlimit::FileSize => libc::RLIMIT_FSIZE,
        Rlimit::Data => libc::RLIMIT_DATA,
        Rlimit::Processes => libc::RLIMIT_NPROC,
    };
    let lim = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: `lim` is a valid, initialised rlimit that outlives the call; setrlimit only reads
    // it.
    check(unsafe { libc::setrlimit(resource, &lim) }).map(drop)
}

/// Ignores `sig` (SIG_IGN), which survives execve: used for SIGXFSZ, so that a write beyond
/// `RLIMIT_FSIZE` fails with `EFBIG` instead of killing the writer.
pub fn ignore_signal(sig: libc::c_int) {
    // SAFETY: installing SIG_IGN stores no handler address; `sig` is a plain signal number
    // (an invalid one makes signal() fail with EINVAL, which changes nothing).
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// Whether this process may write `path` (access(2) with `W_OK`, real ids).
pub fn writable(path: &Path) -> bool {
    let Ok(c) = cstr(path) else { return false };
    // SAFETY: `c` is NUL-terminated and outlives the call; access only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// getpid(2).
pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}
