//! Installing a seccomp filter and serving its user-notification listener: the thin `unsafe`
//! layer under [`crate::seccomp`], which builds the program.
//!
//! Everything here is a safe wrapper around one syscall or ioctl. The supervisor's loop is:
//! `poll` the listener (`POLLIN`: a request is pending; `POLLHUP`: no process is left under the
//! filter), [`recv`] a [`Notif`], decide, then answer exactly once with [`respond_errno`],
//! [`respond_value`], [`respond_continue`] or [`add_fd_send`]. A target can die at any moment:
//! answers then report `Ok(false)` (or `ErrorKind::NotFound` for [`recv`] and [`add_fd_send`]).
//!
//! Security note on answers: the target's memory (the path a pointer argument names) can change
//! between the supervisor's read and the kernel's, so "continue" must never be the answer to a
//! check of pointed-to data. To allow a guarded creation, perform it in the supervisor and hand
//! the result back ([`add_fd_send`] for opens, [`respond_value`] for the others).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use libc::c_ulong;

/// Sets `no_new_privs` for the calling thread (inherited by children and kept across `execve`):
/// setuid/setcap binaries no longer gain privileges, and an unprivileged process may install
/// seccomp filters.
pub fn set_no_new_privs() -> io::Result<()> {
    let one: c_ulong = 1;
    let zero: c_ulong = 0;
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only; no memory is read or written.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, one, zero, zero, zero) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs `prog` (from [`crate::seccomp::build`]) for the calling thread; its children inherit
/// it. Needs `no_new_privs` (see [`set_no_new_privs`]) or `CAP_SYS_ADMIN`.
///
/// With `listener`, passes `SECCOMP_FILTER_FLAG_NEW_LISTENER` and returns the notification fd
/// (close-on-exec). Hand it to the supervisor (e.g. over `SCM_RIGHTS`) and close it in the
/// sandboxed process: whoever holds it answers the notifications, so the confined process must
/// not keep a copy. Without a listener, `SECCOMP_RET_USER_NOTIF` rules fail with `ENOSYS`.
///
/// Only async-signal-safe work is done, so this may run between `fork` and `execve`.
pub fn install(prog: &[libc::sock_filter], listener: bool) -> io::Result<Option<OwnedFd>> {
    let max = usize::from(u16::try_from(libc::BPF_MAXINSNS).unwrap_or(u16::MAX));
    if prog.is_empty() || prog.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seccomp program must have 1 to BPF_MAXINSNS instructions",
        ));
    }
    let len = libc::c_ushort::try_from(prog.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // The kernel only reads the program; `sock_fprog` just spells its pointer `*mut`.
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    let op = c_ulong::from(libc::SECCOMP_SET_MODE_FILTER);
    let flags: c_ulong = if listener {
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        0
    };
    // SAFETY: `fprog` lives until the call returns and points to `prog`, whose `len` instructions
    // are initialised and borrowed for the call; the kernel copies them and writes nothing.
    let ret = unsafe { libc::syscall(libc::SYS_seccomp, op, flags, &raw const fprog) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if !listener {
        return Ok(None);
    }
    let fd = RawFd::try_from(ret).map_err(|_| io::Error::other("seccomp returned a bad fd"))?;
    // SAFETY: with NEW_LISTENER, a successful seccomp() returns a newly opened fd that nothing
    // else owns; we take sole ownership of it here.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// The sizes of the notification structures as the running kernel knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // used by the kernel tests; kept for the audit supervisor
pub struct NotifSizes {
    /// `sizeof(struct seccomp_notif)`.
    pub notif: u16,
    /// `sizeof(struct seccomp_notif_resp)`.
    pub resp: u16,
    /// `sizeof(struct seccomp_data)`.
    pub data: u16,
}

/// Asks the kernel for its notification structure sizes (`SECCOMP_GET_NOTIF_SIZES`), to check
/// that the layouts used here are the kernel's (a `brig doctor` check).
#[cfg_attr(not(test), allow(dead_code))] // used by the kernel tests; kept for the audit supervisor
pub fn notif_sizes() -> io::Result<NotifSizes> {
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    let op = c_ulong::from(libc::SECCOMP_GET_NOTIF_SIZES);
    let flags: c_ulong = 0;
    // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one `struct seccomp_notif_sizes` through the
    // pointer, which points to a live, writable value of exactly that type.
    let ret = unsafe { libc::syscall(libc::SYS_seccomp, op, flags, &raw mut sizes) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(NotifSizes {
        notif: sizes.seccomp_notif,
        resp: sizes.seccomp_notif_resp,
        data: sizes.seccomp_data,
    })
}

/// A syscall waiting for the supervisor's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notif {
    /// The request's cookie, to pass back in the answer.
    pub id: u64,
    /// The target thread, in the pid namespace of the process that called [`recv`].
    pub pid: u32,
    /// The syscall number (in the ABI of `arch`).
    pub nr: i64,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The six raw register arguments. Pointed-to memory belongs to the target and may change.
    pub args: [u64; 6],
    /// Where the call was made.
    pub instruction_pointer: u64,
}

/// Waits for the next notification (`SECCOMP_IOCTL_NOTIF_RECV`), retrying on `EINTR`.
///
/// Blocks: poll the fd first in an event loop. Fails with `ErrorKind::NotFound` (`ENOENT`) when
/// the target was killed after the wake-up; there is then nothing to answer, poll again.
pub fn recv(fd: BorrowedFd<'_>) -> io::Result<Notif> {
    loop {
        // The kernel insists on a zeroed buffer.
        let mut notif = libc::seccomp_notif {
            id: 0,
            pid: 0,
            flags: 0,
            data: libc::seccomp_data {
                nr: 0,
                arch: 0,
                instruction_pointer: 0,
                args: [0; 6],
            },
        };
        // SAFETY: NOTIF_RECV writes one `struct seccomp_notif` (the size encoded in the request
        // number) through the pointer, which points to a live, writable, zeroed value of it.
        let ret = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &raw mut notif,
            )
        };
        if ret == 0 {
            return Ok(Notif {
                id: notif.id,
                pid: notif.pid,
                nr: i64::from(notif.data.nr),
                arch: notif.data.arch,
                args: notif.data.args,
                instruction_pointer: notif.data.instruction_pointer,
            });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Whether the request `id` is still pending (`SECCOMP_IOCTL_NOTIF_ID_VALID`). `Ok(false)` means
/// the target died or the call was interrupted: data read from its memory since [`recv`] must
/// not be trusted to belong to this request.
pub fn id_valid(fd: BorrowedFd<'_>, id: u64) -> io::Result<bool> {
    // SAFETY: NOTIF_ID_VALID reads one `u64` through the pointer, which points to `id`, alive
    // for the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &raw const id,
        )
    };
    if ret == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOENT) => Ok(false),
        _ => Err(err),
    }
}

/// Sends one answer. `Ok(false)`: the target is gone (`ENOENT`), nothing was delivered.
fn send(fd: BorrowedFd<'_>, resp: libc::seccomp_notif_resp) -> io::Result<bool> {
    loop {
        // SAFETY: NOTIF_SEND reads one `struct seccomp_notif_resp` through the pointer, which
        // points to `resp`, alive and initialised for the call.
        let ret = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &raw const resp,
            )
        };
        if ret == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOENT) => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// Fails the target's syscall with `errno` (a positive errno such as `libc::EACCES`).
/// `Ok(false)`: the target is gone.
pub fn respond_errno(fd: BorrowedFd<'_>, id: u64, errno: i32) -> io::Result<bool> {
    if !(1..=4095).contains(&errno) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "errno must be in 1..=4095",
        ));
    }
    send(
        fd,
        libc::seccomp_notif_resp {
            id,
            val: 0,
            error: -errno,
            flags: 0,
        },
    )
}

/// Makes the target's syscall return `val` without running it (e.g. 0 after the supervisor did
/// the work itself). `Ok(false)`: the target is gone.
pub fn respond_value(fd: BorrowedFd<'_>, id: u64, val: i64) -> io::Result<bool> {
    send(
        fd,
        libc::seccomp_notif_resp {
            id,
            val,
            error: 0,
            flags: 0,
        },
    )
}

/// Lets the kernel run the target's syscall as if there were no filter
/// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). Not a security decision: see the module doc.
/// `Ok(false)`: the target is gone.
pub fn respond_continue(fd: BorrowedFd<'_>, id: u64) -> io::Result<bool> {
    let flags = u32::try_from(libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        .map_err(|_| io::Error::other("SECCOMP_USER_NOTIF_FLAG_CONTINUE out of range"))?;
    send(
        fd,
        libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags,
        },
    )
}

/// Installs a copy of `srcfd` in the target and, atomically, answers its syscall with the new
/// fd number (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`, Linux 5.14): the
/// supervisor opens the file, the target's `openat` returns it. With `cloexec`, the new fd is
/// close-on-exec (pass the target's `O_CLOEXEC` flag). Returns the fd number in the target;
/// `ErrorKind::NotFound` when the target is gone.
pub fn add_fd_send(
    fd: BorrowedFd<'_>,
    id: u64,
    srcfd: BorrowedFd<'_>,
    cloexec: bool,
) -> io::Result<i32> {
    let flags = u32::try_from(libc::SECCOMP_ADDFD_FLAG_SEND)
        .map_err(|_| io::Error::other("SECCOMP_ADDFD_FLAG_SEND out of range"))?;
    let srcfd = u32::try_from(srcfd.as_raw_fd()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let newfd_flags = if cloexec {
        libc::O_CLOEXEC.unsigned_abs()
    } else {
        0
    };
    let addfd = libc::seccomp_notif_addfd {
        id,
        flags,
        srcfd,
        newfd: 0,
        newfd_flags,
    };
    // SAFETY: NOTIF_ADDFD reads one `struct seccomp_notif_addfd` through the pointer, which
    // points to `addfd`, alive and initialised for the call; `srcfd` is open (it is borrowed).
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &raw const addfd,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

/// Asks the kernel to wake the supervisor synchronously (on the notifying task's CPU) for each
/// notification (Linux 6.6+, `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`). Purely a latency
/// optimisation: an older kernel answers EINVAL and nothing changes.
pub fn set_sync_wakeup(fd: BorrowedFd<'_>) -> io::Result<()> {
    const SECCOMP_IOCTL_NOTIF_SET_FLAGS: libc::c_ulong = 0x4008_2104;
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
    // SAFETY: this ioctl takes its flag word by value (no pointer) on an open listener fd.
    let r = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Real-kernel tests: each forks a child (in the child only raw syscalls, then `_exit`),
    //! installs the filter there, and reports through the exit status.

    use std::ffi::CString;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::panic::AssertUnwindSafe;
    use std::sync::atomic::{AtomicU32, Ordering};

    use libc::{c_int, c_long};

    use super::*;
    use crate::seccomp::{build, FilterSpec};

    const TIMEOUT_MS: c_int = 10_000;

    /// Forks. The child runs `child`, which must do only async-signal-safe work (no allocation,
    /// no locks: other test threads may hold them), and exits with its return value.
    fn fork_child(child: impl FnOnce() -> i32) -> libc::pid_t {
        // SAFETY: the child runs only `child` (raw syscalls on memory prepared before the fork)
        // and then `_exit`s, never returning into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            let code = std::panic::catch_unwind(AssertUnwindSafe(child)).unwrap_or(101);
            // SAFETY: `_exit` ends the child at once, without atexit handlers or destructors
            // that belong to the parent's state.
            unsafe { libc::_exit(code) };
        }
        pid
    }

    /// The child's safety net: a hung child dies of SIGALRM instead of hanging the suite.
    fn arm_alarm() {
        // SAFETY: alarm only sets a timer; no memory is involved.
        unsafe { libc::alarm(30) };
    }

    /// For children that expect to be killed: no core file (SIGSYS dumps core by default).
    fn no_core_dump() {
        let zero: c_ulong = 0;
        // SAFETY: PR_SET_DUMPABLE takes an integer; no memory is involved.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, zero, zero, zero, zero) };
    }

    fn wait_status(pid: libc::pid_t) -> c_int {
        let mut status: c_int = 0;
        loop {
            // SAFETY: waitpid writes one int through the pointer, which points to `status`.
            let ret = unsafe { libc::waitpid(pid, &raw mut status, 0) };
            if ret == pid {
                return status;
            }
            let err = io::Error::last_os_error();
            assert_eq!(err.kind(), io::ErrorKind::Interrupted, "waitpid: {err}");
        }
    }

    /// `Ok(exit code)` or `Err(signal)`.
    fn wait_child(pid: libc::pid_t) -> Result<i32, i32> {
        let status = wait_status(pid);
        if libc::WIFEXITED(status) {
            Ok(libc::WEXITSTATUS(status))
        } else {
            assert!(
                libc::WIFSIGNALED(status),
                "child neither exited nor was killed"
            );
            Err(libc::WTERMSIG(status))
        }
    }

    fn errno() -> i32 {
        io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// A raw syscall with integer (or null-pointer) arguments only.
    fn sys(nr: c_long, args: [c_ulong; 6]) -> Result<c_long, i32> {
        let [a, b, c, d, e, f] = args;
        // SAFETY: every call in these tests passes integers or null pointers, never a pointer
        // the kernel could write through, and none of the calls creates a process sharing our
        // memory (clone is called separately).
        let ret = unsafe { libc::syscall(nr, a, b, c, d, e, f) };
        if ret == -1 {
            Err(errno())
        } else {
            Ok(ret)
        }
    }

    fn install_in_child(prog: &[libc::sock_filter]) -> Result<(), i32> {
        set_no_new_privs().map_err(|_| 2)?;
        install(prog, false).map_err(|_| 3)?;
        Ok(())
    }

    #[derive(Debug, Clone, Copy)]
    enum Expect {
        Errno(i32),
        Succeeds,
    }

    /// One syscall and what the filter makes of it. `control`: without the filter the result
    /// is different, deterministically (this is what makes the filtered assertions able to
    /// fail).
    #[derive(Debug, Clone, Copy)]
    struct Probe {
        what: &'static str,
        nr: c_long,
        args: [c_ulong; 6],
        filtered: Expect,
        control: bool,
    }

    const fn probe(
        what: &'static str,
        nr: c_long,
        args: [c_ulong; 6],
        filtered: Expect,
        control: bool,
    ) -> Probe {
        Probe {
            what,
            nr,
            args,
            filtered,
            control,
        }
    }

    const EPERM: Expect = Expect::Errno(libc::EPERM);
    const HIGH: c_ulong = 1 << 32;
    const AF_INET: c_ulong = libc::AF_INET as c_ulong;
    const AF_INET6: c_ulong = libc::AF_INET6 as c_ulong;
    const AF_UNIX: c_ulong = libc::AF_UNIX as c_ulong;
    const AF_VSOCK: c_ulong = libc::AF_VSOCK as c_ulong;
    const STREAM: c_ulong = (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as c_ulong;
    const BADF: c_ulong = c_ulong::MAX; // fd -1
    const TIOCSTI: c_ulong = libc::TIOCSTI as c_ulong;
    const TIOCLINUX: c_ulong = libc::TIOCLINUX as c_ulong;
    const TCGETS: c_ulong = libc::TCGETS as c_ulong;

    /// With `network_off`.
    const PROBES: &[Probe] = &[
        probe(
            "ptrace(PTRACE_TRACEME)",
            libc::SYS_ptrace,
            [0; 6],
            EPERM,
            false,
        ),
        probe(
            "ioctl(-1, TIOCSTI)",
            libc::SYS_ioctl,
            [BADF, TIOCSTI, 0, 0, 0, 0],
            EPERM,
            true,
        ),
        probe(
            "ioctl(-1, TIOCSTI|1<<32)",
            libc::SYS_ioctl,
            [BADF, TIOCSTI | HIGH, 0, 0, 0, 0],
            EPERM,
            true,
        ),
        probe(
            "ioctl(-1, TIOCLINUX)",
            libc::SYS_ioctl,
            [BADF, TIOCLINUX, 0, 0, 0, 0],
            EPERM,
            true,
        ),
        probe(
            "ioctl(-1, TCGETS) reaches the kernel",
            libc::SYS_ioctl,
            [BADF, TCGETS, 0, 0, 0, 0],
            Expect::Errno(libc::EBADF),
            false,
        ),
        probe(
            "socket(AF_INET)",
            libc::SYS_socket,
            [AF_INET, STREAM, 0, 0, 0, 0],
            EPERM,
            true,
        ),
        probe(
            "socket(AF_INET|1<<32)",
            libc::SYS_socket,
            [AF_INET | HIGH, STREAM, 0, 0, 0, 0],
            EPERM,
            true,
        ),
        probe(
            "socket(AF_INET6)",
            libc::SYS_socket,
            [AF_INET6, STREAM, 0, 0, 0, 0],
            EPERM,
            false,
        ),
        probe(
            "socket(AF_UNIX)",
            libc::SYS_socket,
            [AF_UNIX, STREAM, 0, 0, 0, 0],
            Expect::Succeeds,
            false,
        ),
        probe(
            "socket(AF_VSOCK)",
            libc::SYS_socket,
            [AF_VSOCK, STREAM, 0, 0, 0, 0],
            EPERM,
            false,
        ),
        probe(
            "unshare(CLONE_NEWUSER)",
            libc::SYS_unshare,
            [libc::CLONE_NEWUSER as c_ulong, 0, 0, 0, 0, 0],
            EPERM,
            false,
        ),
        probe("unshare(0)", libc::SYS_unshare, [0; 6], EPERM, true),
        probe(
            "io_uring_setup(1, NULL)",
            libc::SYS_io_uring_setup,
            [1, 0, 0, 0, 0, 0],
            EPERM,
            false,
        ),
        probe(
            "clone3(NULL, 0)",
            libc::SYS_clone3,
            [0; 6],
            Expect::Errno(libc::ENOSYS),
            true,
        ),
        probe(
            "personality(ADDR_NO_RANDOMIZE)",
            libc::SYS_personality,
            [0x0040000, 0, 0, 0, 0, 0],
            EPERM,
            true,
        ),
        probe(
            "personality(query)",
            libc::SYS_personality,
            [0xffff_ffff, 0, 0, 0, 0, 0],
            Expect::Succeeds,
            false,
        ),
        probe(
            "keyctl(GET_KEYRING_ID, SESSION)",
            libc::SYS_keyctl,
            [0, (-3i64) as c_ulong, 0, 0, 0, 0],
            EPERM,
            false,
        ),
        probe("mount(NULL, ...)", libc::SYS_mount, [0; 6], EPERM, false),
        probe("bpf(0, NULL, 0)", libc::SYS_bpf, [0; 6], EPERM, false),
        probe("getpid()", libc::SYS_getpid, [0; 6], Expect::Succeeds, true),
    ];

    /// Runs `probes` and returns 0, or 10 + the index of the first probe that failed.
    fn run_probes(probes: &[Probe], filtered: bool) -> i32 {
        for (i, p) in probes.iter().enumerate() {
            if !filtered && !p.control {
                continue;
            }
            let got = sys(p.nr, p.args);
            let as_expected = match p.filtered {
                Expect::Errno(e) => got == Err(e),
                Expect::Succeeds => got.is_ok(),
            };
            // Unfiltered, errno probes must come out differently; successes must still succeed.
            let pass = match (filtered, p.filtered) {
                (true, _) | (false, Expect::Succeeds) => as_expected,
                (false, Expect::Errno(_)) => !as_expected,
            };
            if !pass {
                return 10 + i32::try_from(i).unwrap_or(200);
            }
        }
        0
    }

    fn describe(code: Result<i32, i32>, probes: &[Probe]) -> String {
        match code {
            Ok(0) => "ok".into(),
            Ok(2) => "set_no_new_privs failed".into(),
            Ok(3) => "install failed".into(),
            Ok(c) if c >= 10 => match probes.get(usize::try_from(c - 10).unwrap_or(usize::MAX)) {
                Some(p) => format!("probe {:?} gave the wrong result", p.what),
                None => format!("exit code {c}"),
            },
            Ok(c) => format!("exit code {c}"),
            Err(sig) => format!("killed by signal {sig}"),
        }
    }

    /// `clone(flags)` like fork; returns 0 (a child ran and exited 0), or the clone errno.
    fn clone_errno(flags: c_ulong) -> i32 {
        let zero: c_ulong = 0;
        // SAFETY: clone without CLONE_VM and with a null stack behaves like fork: the new
        // process gets a copy of our memory, and it `_exit`s at once below.
        let ret = unsafe { libc::syscall(libc::SYS_clone, flags, zero, zero, zero, zero) };
        match ret {
            -1 => errno(),
            0 => {
                // SAFETY: `_exit` ends the grandchild at once.
                unsafe { libc::_exit(0) }
            }
            pid => match libc::pid_t::try_from(pid).map(wait_child) {
                Ok(Ok(0)) => 0,
                _ => -1,
            },
        }
    }

    #[test]
    fn kernel_enforces_the_deny_rules() {
        let spec = FilterSpec {
            network_off: true,
            create_guard: false,
            ..FilterSpec::default()
        };
        let prog = build(&spec);
        let pid = fork_child(|| {
            arm_alarm();
            if let Err(code) = install_in_child(&prog) {
                return code;
            }
            let code = run_probes(PROBES, true);
            if code != 0 {
                return code;
            }
            let sigchld = libc::SIGCHLD as c_ulong;
            if clone_errno(libc::CLONE_NEWUSER as c_ulong | sigchld) != libc::EPERM {
                return 4;
            }
            if clone_errno(sigchld) != 0 {
                return 5; // plain fork-like clone must work
            }
            0
        });
        let code = wait_child(pid);
        assert_eq!(code, Ok(0), "{}", describe(code, PROBES));
    }

    #[test]
    fn probes_differ_without_the_filter() {
        let pid = fork_child(|| {
            arm_alarm();
            run_probes(PROBES, false)
        });
        let code = wait_child(pid);
        assert_eq!(code, Ok(0), "unfiltered: {}", describe(code, PROBES));
    }

    #[test]
    fn kernel_network_on_allows_inet_but_not_vsock() {
        let probes = [
            probe(
                "socket(AF_INET)",
                libc::SYS_socket,
                [AF_INET, STREAM, 0, 0, 0, 0],
                Expect::Succeeds,
                true,
            ),
            probe(
                "socket(AF_VSOCK)",
                libc::SYS_socket,
                [AF_VSOCK, STREAM, 0, 0, 0, 0],
                EPERM,
                false,
            ),
            probe(
                "socketpair(AF_VSOCK)",
                libc::SYS_socketpair,
                [AF_VSOCK, STREAM, 0, 0, 0, 0],
                EPERM,
                false,
            ),
            probe(
                "ptrace(PTRACE_TRACEME)",
                libc::SYS_ptrace,
                [0; 6],
                EPERM,
                false,
            ),
        ];
        let spec = FilterSpec {
            network_off: false,
            create_guard: false,
            ..FilterSpec::default()
        };
        let prog = build(&spec);
        let pid = fork_child(|| {
            arm_alarm();
            if let Err(code) = install_in_child(&prog) {
                return code;
            }
            run_probes(&probes, true)
        });
        let code = wait_child(pid);
        assert_eq!(code, Ok(0), "{}", describe(code, &probes));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn kernel_kills_x32_syscalls() {
        let spec = FilterSpec::default();
        let prog = build(&spec);
        let pid = fork_child(|| {
            arm_alarm();
            no_core_dump();
            if let Err(code) = install_in_child(&prog) {
                return code;
            }
            let _ = sys(0x4000_0000 | libc::SYS_getpid, [0; 6]);
            1 // still alive
        });
        assert_eq!(wait_child(pid), Err(libc::SIGSYS));
    }

    /// getpid through the i386 entry point (`int 0x80`, i386 number 20).
    #[cfg(target_arch = "x86_64")]
    fn int80_getpid() -> i64 {
        let mut rax: i64 = 20;
        // SAFETY: i386 getpid reads and writes no memory; the kernel returns in eax and zeroes
        // r8-r11 on this entry path, all declared as clobbered; the stack is not touched.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inout("rax") rax,
                lateout("r8") _, lateout("r9") _, lateout("r10") _, lateout("r11") _,
                options(nostack)
            );
        }
        rax
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn kernel_kills_i386_int80() {
        // Control: without the filter, int 0x80 works where IA32 emulation is on.
        let pid = fork_child(|| {
            arm_alarm();
            no_core_dump();
            let expected = sys(libc::SYS_getpid, [0; 6]).unwrap_or(-1);
            if int80_getpid() == expected {
                0
            } else {
                1
            }
        });
        if wait_child(pid) != Ok(0) {
            eprintln!("skipped: int 0x80 does not work here (IA32 emulation off)");
            return;
        }
        let spec = FilterSpec::default();
        let prog = build(&spec);
        let pid = fork_child(|| {
            arm_alarm();
            no_core_dump();
            if let Err(code) = install_in_child(&prog) {
                return code;
            }
            let _ = int80_getpid();
            1 // still alive
        });
        assert_eq!(wait_child(pid), Err(libc::SIGSYS));
    }

    #[test]
    fn install_rejects_bad_programs() {
        // Rejected before any syscall: safe to try in the test process itself.
        let kind = |prog: &[libc::sock_filter]| install(prog, false).unwrap_err().kind();
        assert_eq!(kind(&[]), io::ErrorKind::InvalidInput);
        let allow = libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        };
        assert_eq!(kind(&vec![allow; 4097]), io::ErrorKind::InvalidInput);
        // Rejected by the kernel's checker (a jump past the end): in a child, in case it is not.
        let bad = [
            libc::sock_filter {
                code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                jt: 9,
                jf: 9,
                k: 0,
            },
            allow,
        ];
        let pid = fork_child(|| {
            arm_alarm();
            if set_no_new_privs().is_err() {
                return 2;
            }
            match install(&bad, false) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => 0,
                _ => 1,
            }
        });
        assert_eq!(wait_child(pid), Ok(0));
    }

    #[test]
    fn notif_sizes_match_our_layouts() {
        let sizes = notif_sizes().unwrap();
        assert_eq!(usize::from(sizes.data), size_of::<libc::seccomp_data>());
        assert!(usize::from(sizes.notif) >= size_of::<libc::seccomp_notif>());
        assert!(usize::from(sizes.resp) >= size_of::<libc::seccomp_notif_resp>());
    }

    // --- The listener, end to end ---

    /// A path under the temp dir unique to this test.
    fn scratch_path(tag: &str) -> std::path::PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("brig-seccomp-{}-{tag}-{n}", std::process::id()))
    }

    fn cpath(path: &std::path::Path) -> CString {
        CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
    }

    /// In the child: set no_new_privs, install with a listener, and write the listener's fd
    /// number into `tx` for the parent to fetch with pidfd_getfd.
    fn child_install_listener(prog: &[libc::sock_filter], tx: &mut UnixStream) -> Result<(), i32> {
        set_no_new_privs().map_err(|_| 2)?;
        let listener = install(prog, true).map_err(|_| 3)?.ok_or(3)?;
        // SAFETY: F_GETFD takes no pointer; `listener` is open.
        let fd_flags = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_GETFD) };
        if fd_flags < 0 || fd_flags & libc::FD_CLOEXEC == 0 {
            return Err(7); // the kernel creates the listener close-on-exec
        }
        tx.write_all(&listener.as_raw_fd().to_ne_bytes())
            .map_err(|_| 6)?;
        std::mem::forget(listener); // keep it open; the parent copies it
        Ok(())
    }

    /// In the parent: read the child's listener fd number and copy the fd out of the child.
    fn fetch_listener(pid: libc::pid_t, rx: &mut UnixStream) -> OwnedFd {
        let mut buf = [0u8; 4];
        rx.read_exact(&mut buf)
            .expect("child did not report its listener fd");
        let remote = c_ulong::from(u32::from_ne_bytes(buf));
        let zero: c_ulong = 0;
        let pid = c_ulong::try_from(pid).unwrap();
        // SAFETY: pidfd_open takes integers only.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, zero) };
        assert!(pidfd >= 0, "pidfd_open: {}", io::Error::last_os_error());
        let pidfd = c_int::try_from(pidfd).unwrap();
        // SAFETY: pidfd_open just returned this new fd; we own it.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        let pidfd_raw = c_ulong::try_from(pidfd.as_raw_fd()).unwrap();
        // SAFETY: pidfd_getfd takes integers only.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd_raw, remote, zero) };
        assert!(fd >= 0, "pidfd_getfd: {}", io::Error::last_os_error());
        let fd = c_int::try_from(fd).unwrap();
        // SAFETY: pidfd_getfd just returned this new fd; we own it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    /// Waits up to TIMEOUT_MS for a pending notification, then receives it.
    fn recv_timeout(fd: BorrowedFd<'_>) -> Notif {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll reads and writes one `pollfd` through the pointer, which points to `pfd`.
        let ready = unsafe { libc::poll(&raw mut pfd, 1, TIMEOUT_MS) };
        assert!(ready == 1, "no notification within {TIMEOUT_MS} ms");
        recv(fd).expect("NOTIF_RECV")
    }

    fn is_mkdir(nr: i64) -> bool {
        #[cfg(target_arch = "x86_64")]
        if nr == libc::SYS_mkdir {
            return true;
        }
        nr == libc::SYS_mkdirat
    }

    fn guard_prog() -> Vec<libc::sock_filter> {
        build(&FilterSpec {
            network_off: true,
            create_guard: true,
            ..FilterSpec::default()
        })
    }

    #[test]
    fn listener_answers_mkdir_with_an_errno_and_a_value() {
        let prog = guard_prog();
        let dir = scratch_path("mkdir");
        let dir_c = cpath(&dir);
        let (mut rx, mut tx) = UnixStream::pair().unwrap();
        let pid = fork_child(|| {
            arm_alarm();
            if let Err(code) = child_install_listener(&prog, &mut tx) {
                return code;
            }
            // SAFETY: `dir_c` is a NUL-terminated string alive across the call.
            let ret = unsafe { libc::mkdir(dir_c.as_ptr(), 0o700) };
            if ret != -1 || errno() != libc::EACCES {
                return 20; // the supervisor answered EACCES
            }
            // SAFETY: as above.
            let ret = unsafe { libc::mkdir(dir_c.as_ptr(), 0o700) };
            if ret != 0 {
                return 21; // the supervisor answered 0
            }
            0
        });
        drop(tx);
        let listener = fetch_listener(pid, &mut rx);

        let first = recv_timeout(listener.as_fd());
        assert!(is_mkdir(first.nr), "unexpected syscall {}", first.nr);
        assert_eq!(first.pid, u32::try_from(pid).unwrap());
        assert_eq!(first.arch, crate::seccomp::Arch::NATIVE.audit_arch());
        assert!(id_valid(listener.as_fd(), first.id).unwrap());
        assert!(respond_errno(listener.as_fd(), first.id, libc::EACCES).unwrap());
        // Answered: the id is spent.
        assert!(!id_valid(listener.as_fd(), first.id).unwrap());

        let second = recv_timeout(listener.as_fd());
        assert!(is_mkdir(second.nr));
        assert_ne!(second.id, first.id);
        assert!(respond_value(listener.as_fd(), second.id, 0).unwrap());

        assert_eq!(wait_child(pid), Ok(0));
        assert!(!dir.exists(), "the filter let mkdir through");
    }

    #[test]
    fn listener_injects_an_fd_and_continues() {
        let prog = guard_prog();
        let dir = scratch_path("continue");
        let dir_c = cpath(&dir);
        let missing = CString::new("/nonexistent-brig-seccomp-test/file").unwrap();
        let (mut rx, mut tx) = UnixStream::pair().unwrap();
        let pid = fork_child(|| {
            arm_alarm();
            if let Err(code) = child_install_listener(&prog, &mut tx) {
                return code;
            }
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC;
            // SAFETY: `missing` is a NUL-terminated string alive across the call.
            let fd = unsafe { libc::openat(libc::AT_FDCWD, missing.as_ptr(), flags, 0o600) };
            if fd < 0 {
                return 20; // the supervisor injected an fd
            }
            // SAFETY: F_GETFD takes no pointer.
            let fd_flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            if fd_flags & libc::FD_CLOEXEC == 0 {
                return 21;
            }
            // SAFETY: writes 2 bytes from a static string to `fd`.
            let written = unsafe { libc::write(fd, b"ok".as_ptr().cast(), 2) };
            if written != 2 {
                return 22;
            }
            // SAFETY: `dir_c` is a NUL-terminated string alive across the call.
            if unsafe { libc::mkdir(dir_c.as_ptr(), 0o700) } != 0 {
                return 23; // continued: the kernel created the directory
            }
            0
        });
        drop(tx);
        let listener = fetch_listener(pid, &mut rx);

        let open = recv_timeout(listener.as_fd());
        assert_eq!(open.nr, libc::SYS_openat);
        assert_ne!(open.args[2] & libc::O_CREAT as u64, 0);
        let (mut pipe_rx, pipe_tx) = UnixStream::pair().unwrap();
        let remote = add_fd_send(listener.as_fd(), open.id, pipe_tx.as_fd(), true).unwrap();
        assert!(remote >= 0);
        drop(pipe_tx);

        let mkdir = recv_timeout(listener.as_fd());
        assert!(is_mkdir(mkdir.nr));
        assert!(respond_continue(listener.as_fd(), mkdir.id).unwrap());

        assert_eq!(wait_child(pid), Ok(0));
        let mut got = String::new();
        pipe_rx.read_to_string(&mut got).unwrap();
        assert_eq!(got, "ok");
        assert!(dir.is_dir(), "respond_continue did not let mkdir run");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn answers_to_a_dead_target_report_it() {
        let prog = guard_prog();
        let dir = scratch_path("dead");
        let dir_c = cpath(&dir);
        let (mut rx, mut tx) = UnixStream::pair().unwrap();
        let pid = fork_child(|| {
            arm_alarm();
            if let Err(code) = child_install_listener(&prog, &mut tx) {
                return code;
            }
            // SAFETY: `dir_c` is a NUL-terminated string alive across the call.
            unsafe { libc::mkdir(dir_c.as_ptr(), 0o700) };
            0
        });
        drop(tx);
        let listener = fetch_listener(pid, &mut rx);
        let notif = recv_timeout(listener.as_fd());
        // SAFETY: kill takes integers only; `pid` is our unreaped child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        assert_eq!(wait_child(pid), Err(libc::SIGKILL));
        assert!(!id_valid(listener.as_fd(), notif.id).unwrap());
        assert!(!respond_errno(listener.as_fd(), notif.id, libc::EACCES).unwrap());
        assert!(!respond_continue(listener.as_fd(), notif.id).unwrap());
        let (_r, w) = UnixStream::pair().unwrap();
        let err = add_fd_send(listener.as_fd(), notif.id, w.as_fd(), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!dir.exists());
    }

    #[test]
    fn respond_errno_rejects_bad_errnos() {
        let (r, _w) = UnixStream::pair().unwrap();
        for errno in [0, -1, 4096] {
            let err = respond_errno(r.as_fd(), 1, errno).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
