//! Running one command under `/usr/bin/sandbox-exec` (macOS only).
//!
//! brig writes nothing into the command's process: `sandbox-exec` applies the profile to
//! itself and then executes the command, which inherits the sandbox, as do all its
//! descendants. brig waits for it, with the wall-clock timeout if one was asked for.
//!
//! Not verified on a real Mac: this compiles for `aarch64-apple-darwin` and nothing more has
//! been checked (docs/macos.md has the test plan).

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use brig_policy::{EnforcementPlan, Mode, NetworkMode, PROXY_PORT};
use brig_sandbox::{Command, Event, Exit, LimitHit, Limits, Outcome, Usage};

use crate::profile::{
    seatbelt_profile_with_brig_dirs, tmpdir_regex, ProfileError, TMPDIR_PARAM, TMPDIR_RE_PARAM,
};

/// The program that applies a Seatbelt profile and executes the command.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// Why a command could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Something the plan needs is not available here (fail closed).
    #[error("cannot sandbox the command: {what} unavailable ({detail}); fix: {fix}")]
    Unavailable {
        /// The feature.
        what: &'static str,
        /// What was found.
        detail: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// The plan cannot be turned into a profile.
    #[error("cannot build the Seatbelt profile: {0}")]
    Profile(#[from] ProfileError),
    /// Setting up the run failed.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The command could not be started.
    #[error("cannot run `{program}`: {source}")]
    Exec {
        /// The program.
        program: String,
        /// The error.
        source: io::Error,
    },
}

/// Takes the listening socket of brig's proxy (`127.0.0.1:PROXY_PORT`, on the host's loopback:
/// macOS has no network namespaces) and serves the proxy on it, on threads of its own.
#[derive(Clone)]
pub struct ProxyHandler(pub std::sync::Arc<dyn Fn(std::net::TcpListener) + Send + Sync>);

impl std::fmt::Debug for ProxyHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyHandler")
    }
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// In [`NetworkMode::Allowlist`]: who serves the proxy. Required there.
    pub proxy: Option<ProxyHandler>,
    /// brig's own directories (state, configuration): denied for writing, and checked to lie
    /// outside the writable roots.
    pub brig_dirs: Vec<PathBuf>,
    /// `--max-output`: at most this many bytes of the command's stdout, and as many of its
    /// stderr, are passed on (through pipes); the rest is dropped and reported as
    /// [`LimitHit::Output`]. `None`: the command writes to brig's stdout and stderr directly.
    pub max_output: Option<u64>,
}

/// Runs `cmd` under `plan` within `limits`.
///
/// Only the wall-clock timeout is enforced; any other *explicit* limit is refused
/// ([`RunError::Unavailable`]) and brig's defaults are ignored (there is no cgroup or
/// equivalent here yet). `sink` receives nothing: this backend reports no events.
pub fn run_with_limits(
    plan: &EnforcementPlan,
    cmd: &Command,
    opts: &RunOptions,
    limits: &Limits,
    sink: &mut dyn FnMut(Event<'_>) -> Result<(), String>,
) -> Result<Outcome, RunError> {
    let _ = sink;
    limits
        .validate()
        .map_err(|e| RunError::Setup(format!("invalid resource limit: {e}")))?;
    if let Some(name) = first_explicit_unsupported(limits) {
        return Err(RunError::Unavailable {
            what: "resource limits",
            detail: format!("{name} was asked for; the macOS backend enforces only --timeout"),
            fix: "drop the limit (brig's default limits are not applied on macOS either)",
        });
    }
    let timeout = limits.timeout.map(|t| t.value);
    let program = cmd.argv.first().cloned().unwrap_or_default();
    let resolved = resolve_program(&program, &plan.env).ok_or_else(|| RunError::Exec {
        program: program.to_string_lossy().into_owned(),
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;

    if plan.mode == Mode::DangerFullAccess {
        let mut c = std::process::Command::new(&resolved);
        c.args(&cmd.argv[1..])
            .env_clear()
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&plan.cwd);
        let child = spawn(&mut c, &program, opts.max_output)?;
        return finish(child, timeout, limits.grace, opts.max_output);
    }

    if !Path::new(SANDBOX_EXEC).is_file() {
        return Err(RunError::Unavailable {
            what: "sandbox-exec",
            detail: format!("{SANDBOX_EXEC} does not exist"),
            fix: "brig needs macOS's own /usr/bin/sandbox-exec; it refuses to run unconfined",
        });
    }
    let profile = seatbelt_profile_with_brig_dirs(plan, &opts.brig_dirs)?;
    let run_dir = RunDir::create()?;

    if plan.network == NetworkMode::Allowlist {
        let handler = opts.proxy.as_ref().ok_or_else(|| {
            RunError::Setup("the network allowlist needs brig's proxy, and none was given".into())
        })?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", PROXY_PORT)).map_err(|e| {
            RunError::Unavailable {
                what: "the proxy port",
                detail: format!("cannot listen on 127.0.0.1:{PROXY_PORT}: {e}"),
                fix: "stop whatever listens on that port (another brig run with the allowlist?)",
            }
        })?;
        (handler.0)(listener);
    }

    let mut env: Vec<(OsString, OsString)> = plan
        .env
        .iter()
        .filter(|(k, _)| k != "TMPDIR")
        .cloned()
        .collect();
    env.push(("TMPDIR".into(), run_dir.tmp.clone().into_os_string()));

    let mut define = OsString::from(format!("{TMPDIR_PARAM}="));
    define.push(&run_dir.tmp);
    let define_re = format!("{TMPDIR_RE_PARAM}={}", tmpdir_regex(&run_dir.tmp)?);
    let mut c = std::process::Command::new(SANDBOX_EXEC);
    c.arg("-D")
        .arg(define)
        .arg("-D")
        .arg(define_re)
        .arg("-p")
        .arg(profile.as_str())
        .arg("--")
        .arg(&resolved)
        .args(&cmd.argv[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.cwd);
    let child = spawn(&mut c, &program, opts.max_output)?;
    finish(child, timeout, limits.grace, opts.max_output)
}

fn spawn(
    c: &mut std::process::Command,
    program: &OsString,
    max_output: Option<u64>,
) -> Result<Child, RunError> {
    if max_output.is_some() {
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
    }
    c.spawn().map_err(|source| RunError::Exec {
        program: program.to_string_lossy().into_owned(),
        source,
    })
}

/// Waits for `child`; at the timeout sends SIGTERM, and SIGKILL after `grace`. Only the direct
/// child is signalled (no PID namespace or process group here).
fn finish(
    mut child: Child,
    timeout: Option<Duration>,
    grace: Duration,
    max_output: Option<u64>,
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let mut limits_hit = Vec::new();
    let mut relays = Vec::new();
    if let Some(max) = max_output {
        if let Some(out) = child.stdout.take() {
            relays.push(relay("stdout", out, io::stdout(), max));
        }
        if let Some(err) = child.stderr.take() {
            relays.push(relay("stderr", err, io::stderr(), max));
        }
    }
    let status = match timeout {
        None => child
            .wait()
            .map_err(|e| RunError::Setup(format!("wait: {e}")))?,
        Some(after) => loop {
            if let Some(s) = child
                .try_wait()
                .map_err(|e| RunError::Setup(format!("wait: {e}")))?
            {
                break s;
            }
            if started.elapsed() >= after {
                limits_hit.push(LimitHit::Timeout { after });
                let _ = std::process::Command::new("/bin/kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status();
                let deadline = Instant::now() + grace;
                let s = loop {
                    if let Ok(Some(s)) = child.try_wait() {
                        break Some(s);
                    }
                    if Instant::now() >= deadline {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                break match s {
                    Some(s) => s,
                    None => {
                        let _ = child.kill();
                        child
                            .wait()
                            .map_err(|e| RunError::Setup(format!("wait: {e}")))?
                    }
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        },
    };
    // The pipes close when the last process holding them ends.
    for r in relays {
        if let Ok(Some(hit)) = r.join() {
            limits_hit.push(hit);
        }
    }
    Ok(Outcome {
        exit: exit_of(status),
        layers: Vec::new(),
        usage: Usage::default(),
        blocked_creates: Vec::new(),
        limits_hit,
    })
}

/// Copies at most `max` bytes from `from` to `to` on a thread of its own and counts the rest.
fn relay(
    stream: &'static str,
    mut from: impl io::Read + Send + 'static,
    mut to: impl io::Write + Send + 'static,
    max: u64,
) -> std::thread::JoinHandle<Option<LimitHit>> {
    std::thread::spawn(move || {
        let (mut passed, mut dropped) = (0u64, 0u64);
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let room = usize::try_from(max.saturating_sub(passed)).unwrap_or(usize::MAX);
            let keep = n.min(room);
            if keep > 0
                && to
                    .write_all(&buf[..keep])
                    .and_then(|()| to.flush())
                    .is_err()
            {
                // brig's own stream is gone: drain the rest so the command does not block.
                dropped += n as u64;
                passed = max;
                continue;
            }
            passed += keep as u64;
            dropped += (n - keep) as u64;
        }
        (dropped > 0).then_some(LimitHit::Output {
            stream,
            limit_bytes: max,
            dropped_bytes: dropped,
        })
    })
}

fn exit_of(s: ExitStatus) -> Exit {
    match (s.code(), s.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(1),
    }
}

/// The first explicit limit other than the timeout.
fn first_explicit_unsupported(l: &Limits) -> Option<&'static str> {
    let explicit = [
        ("a memory limit", l.memory_bytes.is_some_and(|x| x.explicit)),
        ("a process limit", l.processes.is_some_and(|x| x.explicit)),
        ("a CPU limit", l.cpus.is_some_and(|x| x.explicit)),
        ("a /tmp size", l.tmp_bytes.is_some_and(|x| x.explicit)),
        ("a /dev/shm size", l.shm_bytes.is_some_and(|x| x.explicit)),
        (
            "a file size limit",
            l.file_bytes.is_some_and(|x| x.explicit),
        ),
    ];
    explicit.iter().find(|(_, e)| *e).map(|(n, _)| *n)
}

/// `program` as a path: as given when it contains `/`, else the first executable file of that
/// name in the plan's `PATH` (brig resolves it so that "not found" is brig's error, not
/// sandbox-exec's exit status).
fn resolve_program(program: &OsString, env: &[(OsString, OsString)]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if program.is_empty() {
        return None;
    }
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v)?;
    std::env::split_paths(path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The run's private directory (`$TMPDIR/brig-run-PID-NANOS`, mode 0700) and the command's
/// temp dir inside it; removed when dropped.
struct RunDir {
    dir: PathBuf,
    tmp: PathBuf,
}

impl RunDir {
    fn create() -> Result<RunDir, RunError> {
        let base = std::env::temp_dir()
            .canonicalize()
            .map_err(|e| RunError::Setup(format!("the system temp dir: {e}")))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = base.join(format!("brig-run-{}-{nanos}", std::process::id()));
        let tmp = dir.join("tmp");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .and_then(|()| std::fs::DirBuilder::new().mode(0o700).create(&tmp))
            .map_err(|e| RunError::Setup(format!("creating {}: {e}", dir.display())))?;
        Ok(RunDir { dir, tmp })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
