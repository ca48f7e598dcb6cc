//! Running one command in a sandbox: the process tree and who does what.
//!
//! ```text
//! brig (outside; not confined)
//!  │ clone(NEWUSER|NEWNS|NEWPID|NEWIPC|NEWUTS[|NEWNET])
//!  ▼
//! PID 1 "init" (inside; root of the namespaces, no host privileges)
//!  │ id maps → mounts (mounts.rs) → hostname, loopback → drop capabilities → Landlock
//!  │ fork
//!  ▼
//! PID 2 command: setsid → seccomp (listener sent to init) → execve
//! ```
//!
//! Init then supervises: it answers create-guard notifications, relays SIGINT/SIGTERM/SIGHUP/
//! SIGQUIT to the command's process group, reaps every process, and when the command exits it
//! reports the status to brig and exits itself, which makes the kernel kill everything left in
//! the PID namespace (daemons, `setsid` children, stopped processes). If brig dies, init gets
//! SIGKILL (parent-death signal) and a hang-up on its pipe, and the same happens.
//!
//! Resource limits (`limits.rs`): brig creates the run's cgroups before the clone and moves
//! init into them before sending it the protected-path walk, which init waits for before it
//! starts the command; the command's process sets the fallback rlimits before `execve`; the
//! scratch filesystems get their sizes; and init keeps the wall clock: at the timeout it sends
//! SIGTERM (and SIGCONT) to every process of the namespace, after the grace SIGKILL. brig
//! keeps a later deadline of its own in case init does not act.
//!
//! Init talks to brig over a pipe with a line protocol (`exit N`, `signal N`, `execerr N`,
//! `blocked PATH`, `setup MESSAGE`, `started`, `limit timeout`).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brig_policy::{AuditFiles, EnforcementPlan, Mode, NetworkMode};
use brig_sandbox::{Command, Event, Exit, Layer, LimitHit, Limits, Outcome, Usage};

use crate::guard::{unescape, Guard};
use crate::landlock_rules;
use crate::limits::{Enforcement, HostView, Rlimits, RunCgroups, ScratchSizes};
use crate::mounts;
use crate::seccomp::{self, FilterSpec, Record};
use crate::sys::{self, seccomp as sc, Forked};
use crate::walkcache;

/// Why brig could not run the command.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A kernel feature the plan needs is missing or blocked (fail closed).
    #[error("cannot sandbox the command: {what} unavailable ({detail}); fix: {fix}")]
    Unavailable {
        /// The feature.
        what: &'static str,
        /// What the kernel said.
        detail: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// A kernel feature the plan needs turned out to be missing while the sandbox was being
    /// set up (fail closed).
    #[error("{0}")]
    Missing(String),
    /// Setting up the sandbox failed after it started.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The audit trail could not record an event: the command was stopped.
    #[error("the audit log cannot be written ({0}); the command was stopped")]
    Audit(String),
    /// The command could not be started.
    #[error("cannot run `{program}`: {source}")]
    Exec {
        /// The program.
        program: String,
        /// The error.
        source: io::Error,
    },
    /// An OS call in brig itself failed.
    #[error("{0}: {1}")]
    Os(&'static str, io::Error),
}

/// Prefix of a setup error that means "this kernel lacks a feature" (reported as unavailable).
const MISSING: &str = "\u{0}missing:";

/// What init's setup hands to the guard.
struct Scratch {
    devs: Vec<u64>,
    reserved: Vec<PathBuf>,
}

/// How to run, besides the plan.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Where the protected-path walk may keep its cache (brig's state directory); `None`
    /// walks every writable root in full each time.
    pub cache_dir: Option<PathBuf>,
    /// In [`NetworkMode::Allowlist`]: who serves the proxy. Required there.
    pub proxy: Option<ProxyHandler>,
    /// Called in brig once the command's process tree exists (right after the clone or
    /// fork), where brig may start threads: the backend forks only while single-threaded.
    pub after_start: Option<StartHook>,
}

/// See [`RunOptions::after_start`].
#[derive(Clone)]
pub struct StartHook(pub std::sync::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for StartHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StartHook")
    }
}

/// Takes the listening socket on the sandbox's loopback (`127.0.0.1:PROXY_PORT`, created inside
/// the sandbox's network namespace and handed out to brig) and serves brig's proxy on it,
/// outside the sandbox. Called once per run, right after the sandbox's PID 1 created the
/// socket and before the command starts; it must return quickly (serve on threads of its
/// own) and must not fork.
#[derive(Clone)]
pub struct ProxyHandler(pub std::sync::Arc<dyn Fn(std::net::TcpListener) + Send + Sync>);

impl std::fmt::Debug for ProxyHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyHandler")
    }
}

/// What the command should see as its temp dir.
const TMP: &str = "/tmp";

fn argv_c(cmd: &Command) -> Result<Vec<CString>, RunError> {
    cmd.argv
        .iter()
        .map(|a| {
            CString::new(a.as_bytes())
                .map_err(|_| RunError::Setup("an argument contains a NUL byte".into()))
        })
        .collect()
}

fn env_c(env: &[(OsString, OsString)], tmp: bool) -> Vec<CString> {
    let mut out: Vec<CString> = Vec::with_capacity(env.len() + 1);
    for (k, v) in env {
        if tmp && k.as_bytes() == b"TMPDIR" {
            continue;
        }
        let mut b = k.as_bytes().to_vec();
        b.push(b'=');
        b.extend_from_slice(v.as_bytes());
        if let Ok(c) = CString::new(b) {
            out.push(c);
        }
    }
    if tmp {
        out.push(CString::new(format!("TMPDIR={TMP}")).unwrap_or_default());
    }
    out
}

/// Candidate paths for `argv[0]`, searched in the plan's PATH (execvp semantics).
fn candidates(program: &OsStr, env: &[(OsString, OsString)]) -> Vec<CString> {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') {
        return CString::new(bytes).into_iter().collect();
    }
    let path = env
        .iter()
        .find(|(k, _)| k.as_bytes() == b"PATH")
        .map(|(_, v)| v.as_bytes().to_vec())
        .unwrap_or_else(|| b"/usr/local/bin:/usr/bin:/bin".to_vec());
    path.split(|&b| b == b':')
        .map(|d| {
            let mut p = if d.is_empty() {
                b".".to_vec()
            } else {
                d.to_vec()
            };
            p.push(b'/');
            p.extend_from_slice(bytes);
            p
        })
        .filter_map(|p| CString::new(p).ok())
        .collect()
}

/// Tries every candidate like execvp; returns the most telling error.
fn exec_candidates(cands: &[CString], argv: &[CString], envp: &[CString]) -> io::Error {
    let mut best = io::Error::from_raw_os_error(libc::ENOENT);
    // Skip the `PATH` entries that cannot work: each failed execve would be one more round
    // trip to the supervisor. When none looks executable, try them all for the right error.
    let likely: Vec<&CString> = cands.iter().filter(|c| sys::executable(c)).collect();
    let order: Vec<&CString> = if likely.is_empty() {
        cands.iter().collect()
    } else {
        likely
    };
    for c in order {
        let e = sys::execve(c, argv, envp);
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            _ => best = e,
        }
    }
    best
}

/// Runs `cmd` confined by `plan`, with no resource limits. Blocks until the command ends.
///
/// Must be called while the process is single-threaded (it forks).
pub fn run(
    plan: &EnforcementPlan,
    cmd: &Command,
    opts: &RunOptions,
    sink: &mut dyn FnMut(Event<'_>) -> Result<(), String>,
) -> Result<Outcome, RunError> {
    run_with_limits(plan, cmd, opts, &Limits::default(), sink)
}

/// Runs `cmd` confined by `plan` and bounded by `limits`. Blocks until the command ends.
///
/// An explicit limit this host cannot enforce is refused ([`RunError::Unavailable`], before
/// anything runs); a default one is enforced by the best mechanism available (see
/// `docs/limits.md`, and [`crate::probe`] for what applies here). In `danger-full-access`
/// nothing is enforced: an explicit limit is refused, defaults are ignored.
///
/// Must be called while the process is single-threaded (it forks).
pub fn run_with_limits(
    plan: &EnforcementPlan,
    cmd: &Command,
    opts: &RunOptions,
    limits: &Limits,
    sink: &mut dyn FnMut(Event<'_>) -> Result<(), String>,
) -> Result<Outcome, RunError> {
    let argv = argv_c(cmd)?;
    limits
        .validate()
        .map_err(|e| RunError::Setup(format!("invalid resource limit: {e}")))?;
    if plan.mode == Mode::DangerFullAccess {
        if let Some(name) = first_explicit(limits) {
            return Err(RunError::Unavailable {
                what: "resource limits",
                detail: format!(
                    "{name} was asked for, but danger-full-access runs the command without a sandbox and limits are enforced only inside one"
                ),
                fix: "drop the limit, or run in workspace-write or read-only mode",
            });
        }
        return run_unconfined(plan, cmd, argv, opts);
    }
    let enforcement = crate::limits::resolve(limits, &HostView::discover()).map_err(|r| {
        RunError::Unavailable {
            what: r.what,
            detail: r.detail,
            fix: r.fix,
        }
    })?;
    run_confined(plan, cmd, argv, opts, &enforcement, sink)
}

/// The name of the first limit the user asked for, if any.
fn first_explicit(l: &Limits) -> Option<&'static str> {
    let e = |x: Option<bool>| x.unwrap_or(false);
    [
        ("a memory limit", e(l.memory_bytes.map(|x| x.explicit))),
        ("a process limit", e(l.processes.map(|x| x.explicit))),
        ("a CPU limit", e(l.cpus.map(|x| x.explicit))),
        ("a timeout", e(l.timeout.map(|x| x.explicit))),
        ("a /tmp size", e(l.tmp_bytes.map(|x| x.explicit))),
        ("a /dev/shm size", e(l.shm_bytes.map(|x| x.explicit))),
        ("a file size limit", e(l.file_bytes.map(|x| x.explicit))),
    ]
    .into_iter()
    .find_map(|(name, explicit)| explicit.then_some(name))
}

/// danger-full-access: no confinement at all, but still a child brig waits for, so that the
/// command's end, status and resource use can be reported (and audited).
fn run_unconfined(
    plan: &EnforcementPlan,
    cmd: &Command,
    argv: Vec<CString>,
    opts: &RunOptions,
) -> Result<Outcome, RunError> {
    let program = cmd.argv.first().cloned().unwrap_or_default();
    let envp = env_c(&plan.env, false);
    let cands = candidates(&program, &plan.env);
    let cwd = sys::cstr(&plan.cwd).map_err(|e| RunError::Os("cwd", e))?;
    let sigfd =
        sys::block_signals_to_fd(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT])
            .map_err(|e| RunError::Os("signalfd", e))?;
    let (err_r, err_w) = sys::pipe().map_err(|e| RunError::Os("pipe", e))?;
    let child = match sys::fork().map_err(|e| RunError::Os("fork", e))? {
        Forked::Child => {
            sys::reset_signals();
            let e = match sys::chdir(&cwd) {
                Err(e) => e,
                Ok(()) => exec_candidates(&cands, &argv, &envp),
            };
            let _ = sys::write_all(
                err_w.as_fd(),
                &e.raw_os_error().unwrap_or(libc::ENOENT).to_ne_bytes(),
            );
            sys::exit_now(127)
        }
        Forked::Parent(pid) => pid,
    };
    drop(err_w);
    if let Some(h) = &opts.after_start {
        (h.0)();
    }
    let pidfd = sys::pidfd_open(child).map_err(|e| RunError::Os("pidfd_open", e))?;
    loop {
        let rev = sys::poll_in(&[pidfd.as_fd(), sigfd.as_fd()], -1)
            .map_err(|e| RunError::Os("poll", e))?;
        if rev[1] != 0 {
            while let Ok(Some(sig)) = sys::read_signal(sigfd.as_fd()) {
                let _ = sys::kill(child, sig);
            }
        }
        if rev[0] != 0 {
            break;
        }
    }
    let (status, ru) = sys::wait4(child).map_err(|e| RunError::Os("wait4", e))?;
    let mut errno = [0u8; 4];
    if sys::read(err_r.as_fd(), &mut errno).unwrap_or(0) == 4 {
        return Err(RunError::Exec {
            program: program.to_string_lossy().into_owned(),
            source: io::Error::from_raw_os_error(i32::from_ne_bytes(errno)),
        });
    }
    Ok(Outcome {
        exit: exit_of(status),
        layers: Vec::new(),
        usage: usage_of(&ru),
        blocked_creates: Vec::new(),
        limits_hit: Vec::new(),
    })
}

fn exit_of(status: libc::c_int) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

fn usage_of(ru: &libc::rusage) -> Usage {
    let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    Usage {
        user_us: us(ru.ru_utime),
        sys_us: us(ru.ru_stime),
        max_rss_kb: ru.ru_maxrss as u64,
        peak_memory_bytes: None,
        peak_processes: None,
    }
}

fn run_confined(
    plan: &EnforcementPlan,
    cmd: &Command,
    argv: Vec<CString>,
    opts: &RunOptions,
    limits: &Enforcement,
    sink: &mut dyn FnMut(Event<'_>) -> Result<(), String>,
) -> Result<Outcome, RunError> {
    let program = cmd.argv.first().cloned().unwrap_or_default();
    let envp = env_c(&plan.env, true);
    let cands = candidates(&program, &plan.env);
    let cwd = sys::cstr(&plan.cwd).map_err(|e| RunError::Os("cwd", e))?;
    let proxy = match (plan.network, &opts.proxy) {
        (NetworkMode::Allowlist, Some(p)) => Some(p.clone()),
        (NetworkMode::Allowlist, None) => {
            return Err(RunError::Setup(
                "the network allowlist needs brig's proxy, and none was given".into(),
            ))
        }
        _ => None,
    };
    let spec = FilterSpec {
        network_off: plan.network == NetworkMode::Off,
        network_loopback: plan.network == NetworkMode::Allowlist,
        create_guard: true,
        record: record_level(plan),
    };
    let filter = seccomp::build(&spec);
    let (uid, gid) = sys::ids();
    // Before anything exists: a cgroup that cannot be set up stops the run here.
    let cgroups = RunCgroups::create(limits)
        .map_err(|e| RunError::Setup(format!("setting up resource limits: {e}")))?;
    let bounds = InitLimits {
        scratch: limits.scratch(),
        rlimits: limits.rlimits(),
        timeout: limits.timeout.map(|t| (t, limits.grace)),
    };

    let (report_r, report_w) = sys::pipe().map_err(|e| RunError::Os("pipe", e))?;
    let (alive_r, alive_w) = sys::pipe().map_err(|e| RunError::Os("pipe", e))?;
    let (found_r, found_w) = sys::pipe().map_err(|e| RunError::Os("pipe", e))?;
    // The proxy's listener travels from PID 1 (inside the network namespace) to brig.
    let proxy_pair = match proxy {
        Some(_) => Some(sys::seqpacket_pair().map_err(|e| RunError::Os("socketpair", e))?),
        None => None,
    };
    let (proxy_r, proxy_w) = match proxy_pair {
        Some((r, w)) => (Some(r), Some(w)),
        None => (None, None),
    };

    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    if plan.network != NetworkMode::On {
        flags |= libc::CLONE_NEWNET;
    }
    // Signals brig relays: blocked here so none is lost between clone and the relay loop.
    let sigfd =
        sys::block_signals_to_fd(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT])
            .map_err(|e| RunError::Os("signalfd", e))?;
    match sys::clone_fork(flags) {
        Err(e) => Err(unavailable_userns(e)),
        Ok(Forked::Child) => {
            drop(report_r);
            drop(alive_w);
            drop(sigfd);
            drop(found_w);
            drop(proxy_r);
            let code = init_main(
                plan, uid, gid, &report_w, alive_r, found_r, proxy_w, spec, filter, &cands, &argv,
                &envp, &cwd, bounds,
            );
            sys::exit_now(code)
        }
        Ok(Forked::Parent(pid)) => {
            drop(report_w);
            drop(alive_r);
            drop(found_r);
            drop(proxy_w);
            if let Some(h) = &opts.after_start {
                (h.0)();
            }
            // Into the run's cgroups before PID 1 gets the walk: it starts the command only
            // after reading it.
            if let Err(e) = cgroups.attach(pid) {
                let _ = sys::kill(pid, libc::SIGKILL);
                drop(found_w);
                let _ = parent_main(pid, report_r, &sigfd, sink, limits, &cgroups);
                return Err(RunError::Setup(format!(
                    "moving the sandbox into its cgroup: {e}"
                )));
            }
            // While PID 1 builds the mounts, find the protected entries of the writable roots.
            let _ = sys::write_all(found_w.as_fd(), &walk_roots(plan, opts));
            drop(found_w);
            // PID 1 creates the proxy's listener once its loopback is up, before it starts
            // the command; if its setup fails first, its end closes (nothing received) and
            // parent_main reports why. brig failing to receive it stops the run here: the
            // command must not run believing it has the allowlist.
            if let (Some(sock), Some(handler)) = (&proxy_r, &proxy) {
                match sys::recv_fd(sock.as_fd()) {
                    Ok(Some(fd)) => (handler.0)(std::net::TcpListener::from(fd)),
                    Ok(None) => {}
                    Err(e) => {
                        let _ = sys::kill(pid, libc::SIGKILL);
                        drop(proxy_r);
                        let _ = parent_main(pid, report_r, &sigfd, sink, limits, &cgroups);
                        return Err(RunError::Setup(format!(
                            "receiving the proxy's listener from the sandbox: {e}"
                        )));
                    }
                }
            }
            drop(proxy_r);
            let r = parent_main(pid, report_r, &sigfd, sink, limits, &cgroups);
            drop(alive_w);
            r
        }
    }
}

/// What the seccomp filter sends to the supervisor for the audit trail.
fn record_level(plan: &EnforcementPlan) -> Record {
    if !plan.audit.enabled {
        return Record::Nothing;
    }
    match plan.audit.files {
        AuditFiles::Off => Record::Commands,
        AuditFiles::Changes => Record::Changes,
        AuditFiles::All => Record::All,
    }
}

fn unavailable_userns(e: io::Error) -> RunError {
    let restricted =
        std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
            .map(|s| s.trim() == "1")
            .unwrap_or(false);
    RunError::Unavailable {
        what: "user namespaces",
        detail: format!("clone(CLONE_NEWUSER) failed: {e}"),
        fix: if restricted {
            "AppArmor restricts unprivileged user namespaces: run `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0` or install the AppArmor profile in contrib/apparmor/brig (see docs/linux.md#hosts-without-user-namespaces)"
        } else {
            "enable them with `sudo sysctl user.max_user_namespaces=15000` (and kernel.unprivileged_userns_clone=1 on Debian kernels); inside a container, allow the unshare/clone syscalls"
        },
    }
}

/// How long after init's own deadline (timeout + grace) brig kills init itself.
const BACKSTOP: Duration = Duration::from_secs(5);

/// Milliseconds until `t` for poll(2), rounded up (0 when past).
fn ms_until(t: Instant) -> libc::c_int {
    let left = t.saturating_duration_since(Instant::now());
    libc::c_int::try_from(left.as_millis() + 1).unwrap_or(libc::c_int::MAX)
}

/// brig's side: relay signals, hand PID 1's reports to `sink` as they arrive, reap PID 1,
/// then read what the cgroups saw.
fn parent_main(
    init: libc::pid_t,
    report: OwnedFd,
    sigfd: &OwnedFd,
    sink: &mut dyn FnMut(Event<'_>) -> Result<(), String>,
    limits: &Enforcement,
    cgroups: &RunCgroups,
) -> Result<Outcome, RunError> {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut outcome = Outcome {
        exit: Exit::Code(125),
        layers: Vec::new(),
        usage: Usage::default(),
        blocked_creates: Vec::new(),
        limits_hit: Vec::new(),
    };
    let mut exited = false;
    let mut timed_out = false;
    let mut backstop: Option<Instant> = None;
    let mut failure: Option<RunError> = None;
    loop {
        let wait = backstop.map_or(-1, ms_until);
        let rev = sys::poll_in(&[report.as_fd(), sigfd.as_fd()], wait)
            .map_err(|e| RunError::Os("poll", e))?;
        if backstop.is_some_and(|b| Instant::now() >= b) {
            // Init did not end the sandbox at the timeout: end it from here.
            let _ = sys::kill(init, libc::SIGKILL);
            timed_out = true;
            backstop = None;
        }
        if rev[1] != 0 {
            while let Ok(Some(sig)) = sys::read_signal(sigfd.as_fd()) {
                let _ = sys::kill(init, sig);
            }
        }
        if rev[0] == 0 {
            continue;
        }
        let n = sys::read(report.as_fd(), &mut chunk).map_err(|e| RunError::Os("read", e))?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&chunk[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let (kind, rest) = text.split_once(' ').unwrap_or((&text, ""));
            let exec_path: String;
            let exec_argv: Vec<String>;
            let free: String;
            // Guard reports start with "PID\tPROGRAM\t".
            let (pid, program, body) = split_who(rest);
            let program = program.as_deref();
            let event = match kind {
                "exit" => {
                    outcome.exit = Exit::Code(rest.parse().unwrap_or(125));
                    exited = true;
                    None
                }
                "signal" => {
                    outcome.exit = Exit::Signal(rest.parse().unwrap_or(libc::SIGKILL));
                    exited = true;
                    None
                }
                "blocked" => {
                    free = unescape(body);
                    let what = free.as_str();
                    // Kept for the summary brig prints; bounded (a loop must not grow brig).
                    if outcome.blocked_creates.len() < 1000 {
                        outcome.blocked_creates.push(what.to_string());
                    }
                    Some(Event::Denied {
                        layer: Layer::CreateGuard,
                        what,
                        pid,
                        program,
                    })
                }
                "refused" => {
                    let (layer, what) = body.split_once('\t').unwrap_or(("", body));
                    free = unescape(what);
                    let what = free.as_str();
                    layer_named(layer).map(|layer| Event::Denied {
                        layer,
                        what,
                        pid,
                        program,
                    })
                }
                "changed" => {
                    let (op, path) = body.split_once('\t').unwrap_or(("change", body));
                    free = unescape(path);
                    let path = free.as_str();
                    Some(Event::Changed {
                        op,
                        path,
                        pid,
                        program,
                    })
                }
                "read" => {
                    free = unescape(body);
                    let path = free.as_str();
                    Some(Event::Read { path, pid, program })
                }
                "proxyclient" => {
                    body.parse()
                        .ok()
                        .map(|port| Event::ProxyClient { port, pid, program })
                }
                "exec" => {
                    let mut fields = body.split('\t');
                    let ppid = fields.next().and_then(|p| p.parse().ok());
                    exec_path = fields.next().map(unescape).unwrap_or_default();
                    exec_argv = fields.map(unescape).collect();
                    Some(Event::Exec {
                        path: &exec_path,
                        argv: &exec_argv,
                        pid,
                        ppid,
                        program,
                    })
                }
                "layer" => {
                    if let Some(l) = layer_named(rest) {
                        outcome.layers.push(l);
                    }
                    None
                }
                "started" => {
                    backstop = limits
                        .timeout
                        .map(|t| Instant::now() + t + limits.grace + BACKSTOP);
                    None
                }
                "limit" => {
                    if rest == "timeout" {
                        timed_out = true;
                    }
                    None
                }
                "setup" => {
                    failure.get_or_insert(RunError::Setup(rest.to_string()));
                    None
                }
                "unavailable" => {
                    failure.get_or_insert(RunError::Missing(rest.to_string()));
                    None
                }
                "trace" => {
                    eprintln!("brig: trace: {rest}");
                    None
                }
                "execerr" => {
                    let errno: i32 = rest.parse().unwrap_or(libc::ENOENT);
                    failure.get_or_insert(RunError::Exec {
                        program: String::new(),
                        source: io::Error::from_raw_os_error(errno),
                    });
                    None
                }
                _ => None,
            };
            if let Some(ev) = event {
                if failure.is_none() {
                    if let Err(why) = sink(ev) {
                        // Nothing may run unaudited: stop the whole sandbox.
                        let _ = sys::kill(init, libc::SIGKILL);
                        failure = Some(RunError::Audit(why));
                    }
                }
            }
        }
    }
    let (status, ru) = sys::wait4(init).map_err(|e| RunError::Os("wait4", e))?;
    outcome.usage = usage_of(&ru);
    let seen = cgroups.observed();
    outcome.usage.peak_memory_bytes = seen.peak_memory;
    outcome.usage.peak_processes = seen.peak_processes;
    if timed_out {
        if let Some(after) = limits.timeout {
            outcome.limits_hit.push(LimitHit::Timeout { after });
        }
    }
    if let (true, Some((limit_bytes, _))) = (seen.oom_kills > 0, limits.memory) {
        outcome.limits_hit.push(LimitHit::Memory { limit_bytes });
    }
    if let (true, Some((limit, _))) = (seen.pids_max_hits > 0, limits.processes) {
        outcome.limits_hit.push(LimitHit::Processes { limit });
    }
    if let Some(f) = failure {
        return Err(f);
    }
    // Init itself killed at a limit (by brig's backstop, or chosen by the out-of-memory
    // killer): the command ended there, which the outcome says.
    let killed = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
    if !exited && killed && !outcome.limits_hit.is_empty() {
        outcome.exit = Exit::Signal(libc::SIGKILL);
        exited = true;
    }
    if !exited {
        let why = if libc::WIFSIGNALED(status) {
            format!(
                "the sandbox's init was killed by signal {}",
                libc::WTERMSIG(status)
            )
        } else {
            format!(
                "the sandbox's init exited with status {} before reporting",
                libc::WEXITSTATUS(status)
            )
        };
        return Err(RunError::Setup(why));
    }
    Ok(outcome)
}

/// Splits the leading "PID\tPROGRAM\t" of a guard report.
fn split_who(s: &str) -> (Option<u32>, Option<String>, &str) {
    let mut parts = s.splitn(3, '\t');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(pid), Some(program), Some(rest)) => (
            pid.parse().ok(),
            Some(unescape(program)).filter(|p| !p.is_empty()),
            rest,
        ),
        _ => (None, None, s),
    }
}

fn layer_named(s: &str) -> Option<Layer> {
    [
        Layer::UserNamespace,
        Layer::MountNamespace,
        Layer::PidNamespace,
        Layer::NetworkNamespace,
        Layer::IpcUtsNamespace,
        Layer::Landlock,
        Layer::Seccomp,
        Layer::CreateGuard,
        Layer::NoNewPrivs,
    ]
    .into_iter()
    .find(|l| l.as_str() == s)
}

/// Walks every writable root (with the cache) and encodes the result for PID 1: a status byte
/// (0 ok, 1 error) then the encoded lists or the error message.
fn walk_roots(plan: &EnforcementPlan, opts: &RunOptions) -> Vec<u8> {
    let mut results = Vec::new();
    for root in &plan.writable_roots {
        let mut cache = walkcache::load(opts.cache_dir.as_deref(), root);
        match walkcache::find(root, &plan.protected_names, &mut cache) {
            Ok(found) => {
                walkcache::store(opts.cache_dir.as_deref(), root, &cache);
                results.push(found);
            }
            Err(e) => {
                let mut out = vec![1u8];
                out.extend_from_slice(format!("{}: {e}", root.display()).as_bytes());
                return out;
            }
        }
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&walkcache::encode(&results));
    out
}

/// PID 1's side of [`walk_roots`]: reads everything brig sent.
fn read_found(fd: &OwnedFd, plan: &EnforcementPlan) -> Result<mounts::Found, String> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match sys::read(fd.as_fd(), &mut chunk) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("reading the walk: {e}")),
        }
    }
    match data.split_first() {
        Some((0, rest)) => {
            let lists = walkcache::decode(rest).ok_or("brig's walk result is malformed")?;
            if lists.len() != plan.writable_roots.len() {
                return Err("brig's walk result does not match the writable roots".into());
            }
            Ok(plan.writable_roots.iter().cloned().zip(lists).collect())
        }
        Some((_, msg)) => Err(String::from_utf8_lossy(msg).into_owned()),
        None => Err("brig stopped before sending its walk".into()),
    }
}

struct Reporter<'a>(&'a OwnedFd);

impl Reporter<'_> {
    fn line(&self, kind: &str, rest: &str) {
        let clean: String = rest
            .chars()
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        let _ = sys::write_all(self.0.as_fd(), format!("{kind} {clean}\n").as_bytes());
    }
}

/// What PID 1 and the command's process need of the limits.
#[derive(Clone, Copy)]
struct InitLimits {
    scratch: ScratchSizes,
    rlimits: Rlimits,
    /// The wall-clock timeout and the grace between SIGTERM and SIGKILL.
    timeout: Option<(Duration, Duration)>,
}

/// The sandbox's PID 1. Returns its exit code (only meaningful to brig for setup failures).
#[allow(clippy::too_many_arguments)]
fn init_main(
    plan: &EnforcementPlan,
    uid: libc::uid_t,
    gid: libc::gid_t,
    report_w: &OwnedFd,
    alive_r: OwnedFd,
    found_r: OwnedFd,
    proxy_w: Option<OwnedFd>,
    spec: FilterSpec,
    filter: Vec<libc::sock_filter>,
    cands: &[CString],
    argv: &[CString],
    envp: &[CString],
    cwd: &CString,
    bounds: InitLimits,
) -> i32 {
    let rep = Reporter(report_w);
    match init_setup(plan, uid, gid, &rep, &found_r, proxy_w, bounds.scratch) {
        Ok((scratch, layers)) => {
            for l in layers {
                rep.line("layer", l.as_str());
            }
            match supervise(
                plan, scratch, &rep, alive_r, spec, filter, cands, argv, envp, cwd, bounds,
            ) {
                Ok(()) => 0,
                Err(e) => {
                    rep.line("setup", &e);
                    1
                }
            }
        }
        Err(e) => {
            match e.strip_prefix(MISSING) {
                Some(m) => rep.line("unavailable", m),
                None => rep.line("setup", &e),
            }
            1
        }
    }
}

fn write_id_maps(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    Ok(())
}

fn init_setup(
    plan: &EnforcementPlan,
    uid: libc::uid_t,
    gid: libc::gid_t,
    rep: &Reporter<'_>,
    found_r: &OwnedFd,
    proxy_w: Option<OwnedFd>,
    sizes: ScratchSizes,
) -> Result<(Scratch, Vec<Layer>), String> {
    let start = std::time::Instant::now();
    let trace = |what: &str| {
        if std::env::var_os("BRIG_TRACE_STARTUP").is_some() {
            rep.line(
                "trace",
                &format!("{what} at {} us", start.elapsed().as_micros()),
            );
        }
    };
    sys::set_parent_death_signal(libc::SIGKILL).map_err(|e| format!("parent-death signal: {e}"))?;
    write_id_maps(uid, gid).map_err(|e| format!("writing the user namespace id maps: {e}"))?;
    // PID 1 is a copy of brig: its environment is unfiltered and its descriptors talk to brig.
    // Non-dumpable, its /proc/1/{environ,fd,mem} are closed to the command (which never gets
    // CAP_SYS_PTRACE), so it can neither read host secrets there nor forge reports.
    sys::set_non_dumpable().map_err(|e| format!("making the supervisor non-dumpable: {e}"))?;
    trace("id maps");
    let mounted = mounts::setup(plan, sizes, &mut || read_found(found_r, plan)).map_err(|e| {
        if matches!(e.source.raw_os_error(), Some(libc::ENOSYS)) {
            format!("{MISSING}the new mount API (open_tree/move_mount/mount_setattr, Linux 5.12+) is not available: {e}")
        } else {
            e.to_string()
        }
    })?;
    trace("mounts");
    sys::sethostname(b"brig").map_err(|e| format!("sethostname: {e}"))?;
    let mut layers = vec![
        Layer::UserNamespace,
        Layer::MountNamespace,
        Layer::PidNamespace,
        Layer::IpcUtsNamespace,
    ];
    if plan.network != NetworkMode::On {
        sys::loopback_up().map_err(|e| format!("bringing up loopback: {e}"))?;
        layers.push(Layer::NetworkNamespace);
    }
    if let Some(sock) = proxy_w {
        // The proxy's socket lives in this network namespace, so the command can reach it;
        // brig accepts on it from outside, where the proxy has the host's network.
        let listener = std::net::TcpListener::bind((
            std::net::Ipv4Addr::LOCALHOST,
            brig_policy::PROXY_PORT,
        ))
        .map_err(|e| format!("creating the proxy's listener on the sandbox's loopback: {e}"))?;
        sys::send_fd(sock.as_fd(), listener.as_fd())
            .map_err(|e| format!("handing the proxy's listener to brig: {e}"))?;
    }
    sys::drop_all_capabilities().map_err(|e| format!("dropping capabilities: {e}"))?;
    sc::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    layers.push(Layer::NoNewPrivs);
    trace("capabilities");

    let mut dirs: Vec<PathBuf> = plan.writable_roots.clone();
    for d in [TMP, "/var/tmp", "/dev/shm", "/dev/pts"] {
        dirs.push(PathBuf::from(d));
    }
    let mut files: Vec<PathBuf> = ["null", "zero", "full", "random", "urandom", "tty", "ptmx"]
        .iter()
        .map(|n| Path::new("/dev").join(n))
        .collect();
    for fd in 0..3 {
        files.push(PathBuf::from(format!("/proc/self/fd/{fd}")));
    }
    landlock_rules::restrict(&dirs, &files, &mounted.hidden).map_err(|e| match e {
        landlock_rules::LandlockError::NotEnforced => format!("{MISSING}{e}"),
        other => other.to_string(),
    })?;
    layers.push(Layer::Landlock);
    trace("landlock");
    Ok((
        Scratch {
            devs: mounted.scratch_devs,
            reserved: mounted.reserved,
        },
        layers,
    ))
}

#[allow(clippy::too_many_arguments)]
fn supervise(
    plan: &EnforcementPlan,
    scratch: Scratch,
    rep: &Reporter<'_>,
    alive_r: OwnedFd,
    spec: FilterSpec,
    filter: Vec<libc::sock_filter>,
    cands: &[CString],
    argv: &[CString],
    envp: &[CString],
    cwd: &CString,
    bounds: InitLimits,
) -> Result<(), String> {
    let sigfd = sys::block_signals_to_fd(&[
        libc::SIGCHLD,
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
    ])
    .map_err(|e| format!("signalfd: {e}"))?;
    let (sock_init, sock_cmd) = sys::seqpacket_pair().map_err(|e| format!("socketpair: {e}"))?;
    let (err_r, err_w) = sys::pipe().map_err(|e| format!("pipe: {e}"))?;
    let child = match sys::fork().map_err(|e| format!("fork: {e}"))? {
        Forked::Child => {
            drop(sock_init);
            drop(err_r);
            drop(sigfd);
            drop(alive_r);
            command_main(
                &sock_cmd,
                &err_w,
                filter,
                cands,
                argv,
                envp,
                cwd,
                bounds.rlimits,
            )
        }
        Forked::Parent(pid) => pid,
    };
    // The wall clock starts with the command.
    let mut deadline = bounds.timeout.map(|(t, _)| Instant::now() + t);
    let mut kill_at: Option<Instant> = None;
    rep.line("started", "");
    drop(sock_cmd);
    drop(err_w);
    let listener = sys::recv_fd(sock_init.as_fd())
        .map_err(|e| format!("receiving the seccomp listener: {e}"))?;
    let mut guard = match listener {
        Some(l) => {
            rep.line("layer", Layer::Seccomp.as_str());
            rep.line("layer", Layer::CreateGuard.as_str());
            Some(
                Guard::new(
                    l,
                    plan.protected_names.clone(),
                    plan.git,
                    scratch.devs,
                    plan.writable_roots.clone(),
                    scratch.reserved,
                    spec,
                )
                .map(|g| {
                    g.with_file_size_limit(bounds.rlimits.file_size)
                        .with_proxy_port(
                            (plan.network == NetworkMode::Allowlist)
                                .then_some(brig_policy::PROXY_PORT),
                        )
                })
                .map_err(|e| format!("guard: {e}"))?,
            )
        }
        None => None,
    };
    drop(sock_init);
    let mut suppressed = 0u64;
    loop {
        let mut fds = vec![sigfd.as_fd(), alive_r.as_fd()];
        if let Some(g) = &guard {
            fds.push(g.fd());
        }
        let wait = match (deadline, kill_at) {
            (Some(t), _) | (None, Some(t)) => ms_until(t),
            (None, None) => -1,
        };
        let rev = sys::poll_in(&fds, wait).map_err(|e| format!("poll: {e}"))?;
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            // The timeout: every process of the namespace (init excepted) gets SIGTERM, and
            // SIGCONT so that stopped ones can act on it; after the grace, SIGKILL.
            rep.line("limit", "timeout");
            let _ = sys::kill(-1, libc::SIGTERM);
            let _ = sys::kill(-1, libc::SIGCONT);
            deadline = None;
            kill_at = Some(now + bounds.timeout.map_or(Duration::ZERO, |(_, g)| g));
        }
        if kill_at.is_some_and(|k| now >= k) {
            let _ = sys::kill(-1, libc::SIGKILL);
            kill_at = None;
        }
        if rev[1] != 0 {
            // brig is gone: take everything down.
            let _ = sys::kill(-1, libc::SIGKILL);
            return Ok(());
        }
        if rev.len() > 2 && rev[2] != 0 {
            if let Some(g) = guard.as_mut() {
                if rev[2] & (libc::POLLHUP | libc::POLLERR) != 0 && rev[2] & libc::POLLIN == 0 {
                    guard = None;
                } else if let Err(e) = g.handle_one() {
                    if e.raw_os_error() != Some(libc::ENOENT) {
                        return Err(format!("create guard: {e}"));
                    }
                }
            }
        }
        if let Some(g) = guard.as_mut() {
            for b in g.blocked.drain(..) {
                rep.line("blocked", &b);
            }
            for c in g.changes.drain(..) {
                rep.line("changed", &c);
            }
            for r in g.refusals.drain(..) {
                rep.line("refused", &r);
            }
            for r in g.reads.drain(..) {
                rep.line("read", &r);
            }
            for e in g.execs.drain(..) {
                rep.line("exec", &e);
            }
            for c in g.proxy_clients.drain(..) {
                rep.line("proxyclient", &c);
            }
            // Kept here: the guard goes away when the last filtered process exits.
            suppressed = g.syscalls_suppressed;
        }
        if rev[0] != 0 {
            while let Ok(Some(sig)) = sys::read_signal(sigfd.as_fd()) {
                if sig != libc::SIGCHLD {
                    let _ = sys::kill(-child, sig);
                    let _ = sys::kill(child, sig);
                }
            }
            loop {
                match sys::waitpid(-1, libc::WNOHANG) {
                    Ok((0, _)) | Err(_) => break,
                    Ok((pid, status)) if pid == child => {
                        let mut msg = [0u8; 5];
                        let n = sys::read(err_r.as_fd(), &mut msg).unwrap_or(0);
                        if n == 5 {
                            let errno = i32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]);
                            if msg[4] == Stage::Exec as u8 {
                                rep.line("execerr", &errno.to_string());
                            } else {
                                let err = io::Error::from_raw_os_error(errno);
                                let missing = msg[4] == Stage::Seccomp as u8
                                    && matches!(
                                        errno,
                                        libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP
                                    );
                                let kind = if missing { "unavailable" } else { "setup" };
                                let fix = if missing {
                                    " (seccomp user notification needs Linux 5.14+)"
                                } else {
                                    ""
                                };
                                rep.line(kind, &format!("{}: {err}{fix}", Stage::describe(msg[4])));
                            }
                        } else if libc::WIFSIGNALED(status) {
                            rep.line("signal", &libc::WTERMSIG(status).to_string());
                        } else {
                            rep.line("exit", &libc::WEXITSTATUS(status).to_string());
                        }
                        if suppressed > 0 {
                            rep.line(
                                "refused",
                                &format!(
                                    "\t\tseccomp\t{suppressed} more refused syscalls were not recorded one by one"
                                ),
                            );
                        }
                        // Returning ends PID 1, and with it every process left in the namespace.
                        return Ok(());
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}

/// Where the command's process failed before running the command.
#[derive(Clone, Copy)]
enum Stage {
    Exec = 0,
    Setsid = 1,
    Chdir = 2,
    Cloexec = 3,
    Seccomp = 4,
    SendListener = 5,
    Rlimits = 6,
}

impl Stage {
    fn describe(b: u8) -> &'static str {
        match b {
            1 => "setsid",
            2 => "entering the working directory",
            3 => "closing inherited descriptors",
            4 => "installing the seccomp filter",
            5 => "handing the seccomp listener to the supervisor",
            6 => "setting the resource limits (setrlimit)",
            _ => "exec",
        }
    }
}

/// The command's process, between fork and execve.
#[allow(clippy::too_many_arguments)]
fn command_main(
    sock: &OwnedFd,
    err_w: &OwnedFd,
    filter: Vec<libc::sock_filter>,
    cands: &[CString],
    argv: &[CString],
    envp: &[CString],
    cwd: &CString,
    rlimits: Rlimits,
) -> ! {
    let fail = |stage: Stage, e: io::Error| -> ! {
        let mut msg = e.raw_os_error().unwrap_or(libc::EIO).to_ne_bytes().to_vec();
        msg.push(stage as u8);
        let _ = sys::write_all(err_w.as_fd(), &msg);
        sys::exit_now(127)
    };
    sys::reset_signals();
    // Forked from the non-dumpable PID 1, this process is non-dumpable too until it execs, so
    // the supervisor could not read the path and arguments of its first execve for the audit
    // trail. It is the only process in the sandbox yet: nobody else can look at its memory.
    let _ = sys::set_dumpable();
    if let Err(e) = sys::setsid() {
        fail(Stage::Setsid, e);
    }
    if let Err(e) = sys::chdir(cwd) {
        fail(Stage::Chdir, e);
    }
    if let Err(e) = sys::cloexec_from(3) {
        fail(Stage::Cloexec, e);
    }
    // On the command and what it starts, not on PID 1: the supervisor keeps working (and
    // can start its helper threads) when the command is at its limits.
    for (which, value) in [
        (sys::Rlimit::FileSize, rlimits.file_size),
        (sys::Rlimit::Data, rlimits.data),
        (sys::Rlimit::Processes, rlimits.processes),
    ] {
        if let Some(v) = value {
            if let Err(e) = sys::set_rlimit(which, v) {
                fail(Stage::Rlimits, e);
            }
        }
    }
    if rlimits.file_size.is_some() {
        // A write beyond the limit then fails with EFBIG ("File too large") instead of
        // killing the writer with SIGXFSZ (and a core dump).
        sys::ignore_signal(libc::SIGXFSZ);
    }
    let listener = match sc::install(&filter, true) {
        Ok(Some(l)) => l,
        Ok(None) => fail(Stage::Seccomp, io::Error::from_raw_os_error(libc::EINVAL)),
        Err(e) => fail(Stage::Seccomp, e),
    };
    if let Err(e) = sys::send_fd(sock.as_fd(), listener.as_fd()) {
        fail(Stage::SendListener, e);
    }
    drop(listener);
    let e = exec_candidates(cands, argv, envp);
    fail(Stage::Exec, e)
}
