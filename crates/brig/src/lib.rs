//! brig as a library: load the policy for a workspace and run a command under it.
//!
//! This crate is the thin layer between the entry points (the `brig` CLI today, the MCP server
//! and review UI later) and the pure policy core plus the OS backend: it reads configuration
//! files and host facts (home, XDG directories, environment), asks [`brig_policy`] for the
//! [`EnforcementPlan`], and hands the plan to the platform backend chosen at compile time.
//! It never weakens a plan: a backend either enforces all of it or returns an error.
#![deny(unsafe_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use brig_policy::{CliOverrides, ConfigFile, HostFacts, Layers, ProjectConfig};

#[cfg(unix)]
pub mod approve;
#[cfg(target_os = "linux")]
mod output;
pub use brig_policy::{EnforcementPlan, Mode, NetworkMode, Policy};
pub use brig_sandbox::{Capabilities, Command, Exit, Layer, LimitHit, Limits, Outcome};

/// The status brig exits with for a finished command: the command's own, except 117 when the
/// wall-clock timeout stopped it and 119 when the memory limit ended it with a failure.
pub fn status_of(o: &Outcome) -> i32 {
    let status = o.exit.as_status();
    match o.limits_hit.first() {
        Some(LimitHit::Timeout { .. }) => exit_code::TIMEOUT,
        Some(LimitHit::Memory { .. }) if status != 0 => exit_code::MEMORY,
        _ => status,
    }
}

/// The resource limits for a plan: brig's defaults (from the machine's memory), with every
/// value the user chose (configuration or command line) as an explicit limit, which the
/// backend enforces or refuses to run without.
pub fn limits_for(plan: &EnforcementPlan) -> Result<Limits, Error> {
    use brig_sandbox::Limit;
    #[cfg(target_os = "linux")]
    let total = brig_linux::total_memory();
    #[cfg(not(target_os = "linux"))]
    let total: Option<u64> = None;
    let mut l = Limits::defaults(total);
    let c = plan.limits;
    let from = c.from_untrusted_project;
    // A user's value is explicit (enforced, or the run is refused); an untrusted project's is
    // applied like a default: best effort, and never above the default.
    fn choose<T: Copy + PartialOrd>(
        value: Option<T>,
        untrusted: bool,
        default: Option<Limit<T>>,
    ) -> Option<Limit<T>> {
        match (value, untrusted) {
            (None, _) => default,
            (Some(v), false) => Some(Limit::explicit(v)),
            (Some(v), true) => Some(Limit::by_default(match default {
                Some(d) if d.value < v => d.value,
                _ => v,
            })),
        }
    }
    l.memory_bytes = choose(c.memory, from.memory, l.memory_bytes);
    l.processes = choose(c.processes, from.processes, l.processes);
    l.cpus = choose(c.cpu_millis.map(|m| m as f64 / 1000.0), from.cpus, l.cpus);
    l.timeout = choose(c.timeout, from.timeout, l.timeout);
    l.tmp_bytes = choose(c.tmp_size, from.tmp_size, l.tmp_bytes);
    l.shm_bytes = choose(c.shm_size, from.shm_size, l.shm_bytes);
    l.file_bytes = choose(c.file_size, from.file_size, l.file_bytes);
    l.validate().map_err(Error::Config)?;
    Ok(l)
}

/// Exit codes brig uses for its own failures (the command's own status passes through).
pub mod exit_code {
    /// The wall-clock timeout ended the command (everything in its sandbox was stopped).
    pub const TIMEOUT: i32 = 117;
    /// The approval policy refused the command, or a human denied it, or nobody answered in
    /// time: it did not run.
    pub const REFUSED: i32 = 118;
    /// The memory limit ended (part of) the command: the out-of-memory killer stopped a process.
    pub const MEMORY: i32 = 119;
    /// The audit log cannot be written (disk full, unwritable state directory): the command
    /// was refused, or stopped while running.
    pub const AUDIT: i32 = 120;
    /// Bad configuration file, command-line value or workspace.
    pub const CONFIG: i32 = 121;
    /// A protection the policy needs is not available on this host (brig refused to run).
    pub const UNAVAILABLE: i32 = 122;
    /// Setting up the sandbox failed.
    pub const SETUP: i32 = 123;
    /// `danger-full-access` was requested without an acknowledgement.
    pub const DANGER_REFUSED: i32 = 124;
    /// Internal error in brig.
    pub const INTERNAL: i32 = 125;
    /// The command exists but could not be executed.
    pub const NOT_EXECUTABLE: i32 = 126;
    /// The command was not found.
    pub const NOT_FOUND: i32 = 127;
}

/// Errors of the library, each with the exit code the CLI uses for it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file is invalid or not allowed to say what it says.
    #[error("{0}")]
    Config(String),
    /// danger-full-access was not acknowledged.
    #[error("{0}")]
    DangerRefused(String),
    /// The sandbox cannot be applied on this host.
    #[error("{0}")]
    Unavailable(String),
    /// Sandbox setup failed.
    #[error("{0}")]
    Setup(String),
    /// The command could not be started.
    #[error("{message}")]
    Exec {
        /// What failed.
        message: String,
        /// 126 or 127.
        code: i32,
    },
    /// The audit log cannot be written: the command was refused or stopped.
    #[error("{0}")]
    Audit(String),
    /// The approval policy refused the command, or a human denied it (it did not run).
    #[error("{0}")]
    Refused(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => exit_code::CONFIG,
            Error::DangerRefused(_) => exit_code::DANGER_REFUSED,
            Error::Unavailable(_) => exit_code::UNAVAILABLE,
            Error::Setup(_) => exit_code::SETUP,
            Error::Exec { code, .. } => *code,
            Error::Audit(_) => exit_code::AUDIT,
            Error::Refused(_) => exit_code::REFUSED,
            Error::Internal(_) => exit_code::INTERNAL,
        }
    }
}

/// What the caller asks for on top of the configuration files.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Workspace directory (default: current directory).
    pub workspace: Option<PathBuf>,
    /// Explicit config file (`--config`).
    pub config: Option<PathBuf>,
    /// Command-line overrides.
    pub cli: CliOverrides,
    /// The approval session whose remembered host approvals apply (`--approval-session`).
    pub approval_session: Option<String>,
}

/// Where brig keeps its files, from the environment (XDG rules).
#[derive(Clone, Debug)]
pub struct Dirs {
    /// Home directory.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME/brig`.
    pub config: PathBuf,
    /// `$XDG_STATE_HOME/brig`.
    pub state: PathBuf,
}

impl Dirs {
    /// Reads `HOME`, `XDG_CONFIG_HOME` and `XDG_STATE_HOME`.
    pub fn from_env() -> Result<Dirs, Error> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::Config(
                    "HOME is not set; brig needs it to find secrets to hide and its config".into(),
                )
            })?;
        let home = home.canonicalize().unwrap_or(home);
        let xdg = |var: &str, default: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(default))
                .join("brig")
        };
        Ok(Dirs {
            config: xdg("XDG_CONFIG_HOME", ".config"),
            state: xdg("XDG_STATE_HOME", ".local/state"),
            home,
        })
    }
}

/// The policy, plan and where they came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The effective policy.
    pub policy: Policy,
    /// The plan for this workspace and command.
    pub plan: EnforcementPlan,
    /// The files that contributed, for `brig policy explain`.
    pub sources: Vec<String>,
}

fn read_config(path: &Path, required: bool) -> Result<Option<ConfigFile>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => brig_policy::parse_config(&path.display().to_string(), &text)
            .map(Some)
            .map_err(|e| Error::Config(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        Err(e) => Err(Error::Config(format!(
            "{}: cannot read: {e}",
            path.display()
        ))),
    }
}

/// The project config file name inside a workspace.
pub const PROJECT_FILE: &str = ".brig.toml";

/// Reads the trust store (missing = empty).
pub fn read_trust_store(dirs: &Dirs) -> Result<brig_policy::TrustStore, Error> {
    let path = dirs.config.join(brig_policy::trust::TRUST_FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => brig_policy::parse_trust_store(&path.display().to_string(), &text)
            .map_err(|e| Error::Config(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(brig_policy::TrustStore::default())
        }
        Err(e) => Err(Error::Config(format!(
            "{}: cannot read: {e}",
            path.display()
        ))),
    }
}

/// Canonical workspace for a request.
pub fn workspace_of(req: &Request) -> Result<PathBuf, Error> {
    let ws = match &req.workspace {
        Some(w) => w.clone(),
        None => {
            std::env::current_dir().map_err(|e| Error::Config(format!("current directory: {e}")))?
        }
    };
    let canon = ws
        .canonicalize()
        .map_err(|e| Error::Config(format!("workspace {}: {e}", ws.display())))?;
    if !canon.is_dir() {
        return Err(Error::Config(format!(
            "workspace {} is not a directory",
            canon.display()
        )));
    }
    Ok(canon)
}

/// Loads every configuration layer and builds the plan.
pub fn load(req: &Request) -> Result<Loaded, Error> {
    let dirs = Dirs::from_env()?;
    let workspace = workspace_of(req)?;
    let cwd = match std::env::current_dir().and_then(|c| c.canonicalize()) {
        Ok(c) if req.workspace.is_none() || c.starts_with(&workspace) => c,
        _ => workspace.clone(),
    };
    let user = read_config(&dirs.config.join("config.toml"), false)?;
    let explicit = match &req.config {
        Some(p) => read_config(p, true)?,
        None => None,
    };
    let project_path = workspace.join(PROJECT_FILE);
    let project = match std::fs::read(&project_path) {
        Ok(bytes) => {
            let store = read_trust_store(&dirs)?;
            let trusted = brig_policy::is_trusted(&store, &workspace, &bytes);
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::Config(format!("{}: not valid UTF-8", project_path.display()))
            })?;
            let file = brig_policy::parse_config(&project_path.display().to_string(), &text)
                .map_err(|e| Error::Config(e.to_string()))?;
            Some(ProjectConfig { file, trusted })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Error::Config(format!(
                "{}: cannot read: {e}",
                project_path.display()
            )))
        }
    };
    let layers = Layers {
        user,
        explicit,
        project,
        cli: req.cli.clone(),
    };
    let sources = layers.sources();
    let policy = brig_policy::resolve(&layers).map_err(|e| match e {
        brig_policy::ResolveError::DangerNotAcknowledged { .. } => {
            Error::DangerRefused(e.to_string())
        }
        other => Error::Config(other.to_string()),
    })?;
    // Hosts a human approved "always", or for this approval session, are allow rules of the
    // user's own (they matter only when the network is the allowlist).
    let mut policy = policy;
    let mut remembered = read_host_list(&remembered_hosts_path(&dirs))?;
    if let Some(session) = &req.approval_session {
        remembered.extend(read_host_list(&session_hosts_path(&dirs, session)?)?);
    }
    for rule in remembered {
        if !policy.net_allow.contains(&rule) {
            policy.net_allow.push(rule);
        }
    }
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    // The policy compares paths as written; the kernel follows symlinks. So every path it
    // compares is given as the kernel will resolve it: a writable root that is a symlink to
    // brig's config directory, or a config directory that is a symlink into the workspace
    // (a dotfiles repository), must be caught by the checks, not slip past them.
    let base = workspace.clone();
    policy.writable = policy
        .writable
        .iter()
        .map(|w| {
            brig_policy::expand_path(w, &dirs.home, &base)
                .map(|p| real_path(&p))
                .unwrap_or_else(|_| w.clone())
        })
        .collect();
    let host = HostFacts {
        home: dirs.home,
        workspace,
        cwd,
        env,
        state_dir: real_path(&dirs.state),
        config_dir: real_path(&dirs.config),
    };
    let plan = brig_policy::plan(&policy, &host).map_err(|e| Error::Config(e.to_string()))?;
    Ok(Loaded {
        policy,
        plan,
        sources,
    })
}

/// The user's rules file: `$XDG_CONFIG_HOME/brig/rules.toml` (never in a workspace).
pub fn rules_path(dirs: &Dirs) -> PathBuf {
    dirs.config.join("rules.toml")
}

/// The approval rules: brig's shipped defaults with the user's rules file on top (`explicit`
/// instead of `rules_path` when given). A file that does not load is an error with its
/// location.
pub fn load_rules(dirs: &Dirs, explicit: Option<&Path>) -> Result<brig_rules::Rules, Error> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (rules_path(dirs), false),
    };
    let user = match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            brig_rules::parse_rules(&path.display().to_string(), &text)
                .map_err(|e| Error::Config(e.to_string()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
        Err(e) => {
            return Err(Error::Config(format!(
                "{}: cannot read: {e}",
                path.display()
            )))
        }
    };
    let base = brig_rules::default_rules_file()
        .map_err(|e| Error::Internal(format!("brig's default rules do not load: {e}")))?;
    brig_rules::Rules::layered(base, user).map_err(|e| Error::Config(e.to_string()))
}

/// Where the approvals remembered for an approval session live (`--approval-session ID`).
pub fn session_rules_path(dirs: &Dirs, session: &str) -> Result<PathBuf, Error> {
    let ok = !session.is_empty()
        && session.len() <= 128
        && session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !session.starts_with('.');
    if !ok {
        return Err(Error::Config(format!(
            "approval session `{session}`: use 1 to 128 letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(dirs
        .state
        .join("approvals")
        .join("sessions")
        .join(format!("{session}.toml")))
}

/// Where hosts approved "always" are kept: `~/.config/brig/network-allow.txt`, one allow rule
/// per line (`#` starts a comment); read on every run as allow rules of the user's own.
pub fn remembered_hosts_path(dirs: &Dirs) -> PathBuf {
    dirs.config.join("network-allow.txt")
}

/// Where hosts approved for an approval session are kept.
pub fn session_hosts_path(dirs: &Dirs, session: &str) -> Result<PathBuf, Error> {
    Ok(session_rules_path(dirs, session)?.with_extension("hosts"))
}

/// The allow rules in a remembered-hosts file (none when it does not exist); a line that is
/// not a valid rule is an error naming the file and line.
pub fn read_host_list(path: &Path) -> Result<Vec<String>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Config(format!("{}: {e}", path.display()))),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let rule = line.split('#').next().unwrap_or_default().trim();
        if rule.is_empty() {
            continue;
        }
        brig_policy::net::HostRule::parse(rule)
            .map_err(|e| Error::Config(format!("{}:{}: {e}", path.display(), i + 1)))?;
        out.push(rule.to_string());
    }
    Ok(out)
}

/// Appends one allow rule to a remembered-hosts file (created `0600` with its directory).
pub fn append_host(path: &Path, rule: &str) -> Result<(), Error> {
    use std::io::Write;
    brig_policy::net::HostRule::parse(rule)
        .map_err(|e| Error::Internal(format!("remembering {rule:?}: {e}")))?;
    let fail = |e: std::io::Error| Error::Internal(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut f = std::fs::OpenOptions::new();
    f.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut f, 0o600);
    let mut f = f.open(path).map_err(fail)?;
    writeln!(f, "{rule}").map_err(fail)?;
    f.sync_all().map_err(fail)
}

/// The rules for deciding a run: [`load_rules`], plus the approvals remembered for `session`.
pub fn load_rules_for_session(
    dirs: &Dirs,
    session: Option<&str>,
) -> Result<brig_rules::Rules, Error> {
    let mut rules = load_rules(dirs, None)?;
    if let Some(s) = session {
        let path = session_rules_path(dirs, s)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file = brig_rules::parse_rules(&path.display().to_string(), &text)
                    .map_err(|e| Error::Config(e.to_string()))?;
                for r in file.rules {
                    rules.add(r);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Config(format!(
                    "{}: cannot read: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(rules)
}

/// Appends `rule` (a remembered approval) to the TOML rules file at `path`, creating it (and
/// its directory) if needed.
pub fn append_rule(path: &Path, rule: &brig_rules::Rule) -> Result<(), Error> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Internal(format!("{}: {e}", dir.display())))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
    writeln!(f, "\n{}", rule.to_toml())
        .and_then(|()| f.sync_data())
        .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))
}

/// What the rules and the approval policy decided about a command, for `command.start`.
#[derive(Clone, Debug)]
pub struct Decided {
    /// The rules' verdict.
    pub verdict: brig_rules::Verdict,
    /// What the matrix says brig does.
    pub action: brig_rules::Action,
    /// The approval policy in force.
    pub policy: brig_rules::ApprovalPolicy,
}

/// `p` as the kernel resolves it: its longest existing ancestor canonicalized (symlinks
/// followed), with the rest appended.
pub fn real_path(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// What the host can enforce.
pub fn probe() -> Capabilities {
    #[cfg(target_os = "linux")]
    {
        brig_linux::probe()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Capabilities {
            platform: std::env::consts::OS,
            release: String::new(),
            features: Vec::new(),
            layers: Vec::new(),
        }
    }
}

/// brig's proxy for a plan with the network allowlist (`None` otherwise), reporting to and
/// asking through `net`.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn start_proxy(plan: &EnforcementPlan, net: NetHooks) -> Option<brig_net::proxy::Proxy> {
    (plan.network == NetworkMode::Allowlist).then(|| {
        brig_net::proxy::Proxy::new(
            brig_net::proxy::Config {
                rules: plan.network_rules.rules.clone(),
                hosts: plan.network_rules.hosts.clone(),
                ask_unknown: net.ask_unknown,
                resolver: None,
            },
            net.recorder.unwrap_or_else(|| Box::new(|_| Ok(()))),
        )
    })
}

/// What a backend calls with the listening socket it made for the proxy.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn serve_on(
    proxy: &brig_net::proxy::Proxy,
) -> std::sync::Arc<dyn Fn(std::net::TcpListener) + Send + Sync> {
    let p = proxy.clone();
    std::sync::Arc::new(move |listener| {
        // Without its thread nothing is served: the command's connections fail.
        let _ = p.serve(listener);
    })
}

/// Closes and records every connection before the result is reported; a record that could
/// not be written makes a run that succeeded an audit failure (120).
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn stop_proxy(proxy: Option<brig_net::proxy::Proxy>, ran: bool) -> Result<(), Error> {
    match proxy.and_then(|p| p.shutdown()) {
        Some(why) if ran => Err(Error::Audit(format!(
            "the audit log cannot be written ({why}); the proxy refused every connection after that"
        ))),
        _ => Ok(()),
    }
}

/// Runs `argv` under `plan` and waits for it (in danger-full-access with no sandbox, but still as a
/// child whose end is recorded).
///
/// Must be called while the process is single-threaded.
///
/// In [`NetworkMode::Allowlist`] brig's proxy serves the sandbox for as long as the command
/// runs; `net.recorder` receives one record per connection (from the proxy's threads), and
/// when it fails the proxy refuses every later connection and the run ends with
/// [`Error::Audit`]; `net.ask_unknown` decides hosts the allowlist does not name.
pub fn run(
    plan: &EnforcementPlan,
    argv: Vec<OsString>,
    limits: &Limits,
    net: NetHooks,
    sink: &mut dyn FnMut(brig_sandbox::Event<'_>) -> Result<(), String>,
) -> Result<Outcome, Error> {
    if argv.is_empty() {
        return Err(Error::Config(
            "no command given (usage: brig run [OPTIONS] -- CMD [ARGS...])".into(),
        ));
    }
    let program = argv[0].to_string_lossy().into_owned();
    let cmd = Command { argv };
    #[cfg(target_os = "linux")]
    {
        use brig_linux::RunError;
        let proxy = start_proxy(plan, net);
        // `--max-output`: the command's stdout and stderr go through brig, bounded.
        let capture = match plan.limits.output {
            Some(max) => Some(std::sync::Arc::new(output::Capture::install(max).map_err(
                |e| Error::Internal(format!("setting up the output limit: {e}")),
            )?)),
            None => None,
        };
        let opts = brig_linux::RunOptions {
            after_start: capture
                .clone()
                .map(|c| brig_linux::StartHook(std::sync::Arc::new(move || c.start()))),
            cache_dir: Dirs::from_env().ok().map(|d| d.state.join("walk-cache")),
            proxy: proxy
                .as_ref()
                .map(|p| brig_linux::ProxyHandler(serve_on(p))),
        };
        let result = brig_linux::run_with_limits(plan, &cmd, &opts, limits, sink);
        drop(opts);
        let output_hits = capture
            .and_then(std::sync::Arc::into_inner)
            .map(output::Capture::finish)
            .unwrap_or_default();
        let result = result.map(|mut o| {
            o.limits_hit.extend(output_hits);
            o
        });
        stop_proxy(proxy, result.is_ok())?;
        result.map_err(|e| match e {
            RunError::Unavailable { .. } | RunError::Missing(_) => {
                Error::Unavailable(e.to_string())
            }
            RunError::Setup(m) => Error::Setup(format!("sandbox setup failed: {m}")),
            RunError::Exec { source, .. } => {
                let code = match source.raw_os_error() {
                    Some(libc_enoent) if libc_enoent == 2 || libc_enoent == 20 => {
                        exit_code::NOT_FOUND
                    }
                    _ => exit_code::NOT_EXECUTABLE,
                };
                let what = if code == exit_code::NOT_FOUND {
                    "command not found".to_string()
                } else {
                    source.to_string()
                };
                Error::Exec {
                    message: format!("cannot run `{program}`: {what}"),
                    code,
                }
            }
            RunError::Audit(_) => Error::Audit(e.to_string()),
            RunError::Os(..) => Error::Internal(e.to_string()),
        })
    }
    #[cfg(target_os = "macos")]
    {
        // Seatbelt (crates/brig-macos, docs/macos.md); not verified on a real Mac yet, and the
        // user is told so on every run until it is.
        use brig_macos::RunError;
        if plan.mode != Mode::DangerFullAccess {
            eprintln!(
                "brig: note: the macOS sandbox (Seatbelt) has not been verified on a real Mac yet; \
                 run the test plan in docs/macos.md before relying on it"
            );
        }
        let _ = program; // sandbox-exec's errors name the program themselves.
        let proxy = start_proxy(plan, net);
        let opts = brig_macos::RunOptions {
            proxy: proxy
                .as_ref()
                .map(|p| brig_macos::ProxyHandler(serve_on(p))),
            brig_dirs: Dirs::from_env()
                .map(|d| vec![d.state, d.config])
                .unwrap_or_default(),
            // `--max-output`: the command's stdout and stderr go through brig, bounded.
            max_output: plan.limits.output,
        };
        let result = brig_macos::run_with_limits(plan, &cmd, &opts, limits, sink);
        drop(opts);
        stop_proxy(proxy, result.is_ok())?;
        result.map_err(|e| match e {
            RunError::Unavailable { .. } => Error::Unavailable(e.to_string()),
            RunError::Exec { ref source, .. } => {
                let code = if source.kind() == std::io::ErrorKind::NotFound {
                    exit_code::NOT_FOUND
                } else {
                    exit_code::NOT_EXECUTABLE
                };
                Error::Exec {
                    message: e.to_string(),
                    code,
                }
            }
            RunError::Profile(_) | RunError::Setup(_) => Error::Setup(e.to_string()),
            _ => Error::Internal(e.to_string()),
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = (plan, cmd, program, sink, limits, net);
        Err(Error::Unavailable(format!(
            "brig has no sandbox backend for {} yet; refusing to run unconfined",
            std::env::consts::OS
        )))
    }
}

/// The audit trail of one `brig run`: a session with one command, in its own segment under
/// `$XDG_STATE_HOME/brig/audit/` (hidden from, and unwritable by, every sandbox). Records are
/// appended as they happen and made durable (fsync, signed checkpoint) before brig reports
/// the command's result; a record that cannot be written stops the command (exit 120).
pub struct AuditSession {
    /// Shared with the network proxy's threads, which record each connection as it ends.
    log: std::sync::Arc<std::sync::Mutex<Log>>,
    started: std::time::Instant,
    /// Who connected to the proxy from which local port (from the supervisor), for the
    /// connection's record.
    clients: std::sync::Arc<std::sync::Mutex<ProxyClients>>,
}

/// Local port on the sandbox's loopback → (pid, program) of the process that connected.
type ProxyClients = std::collections::HashMap<u16, (Option<u32>, Option<String>)>;

/// Records into an [`AuditSession`] from another thread.
#[derive(Clone)]
pub struct AuditHandle(std::sync::Arc<std::sync::Mutex<Log>>);

impl AuditHandle {
    /// Appends one record of `kind`.
    pub fn record(&self, kind: &str, data: serde_json::Value) -> Result<(), Error> {
        lock_log(&self.0)
            .writer
            .append(kind, data)
            .map_err(audit_err)
    }

    /// Signs and syncs what was recorded so far.
    pub fn commit(&self) -> Result<(), Error> {
        let mut log = lock_log(&self.0);
        log.writer.commit().map_err(audit_err)?;
        log.last_commit = std::time::Instant::now();
        Ok(())
    }
}

/// What the network proxy reports to and asks of its caller (see [`run`]).
#[derive(Default)]
pub struct NetHooks {
    /// Receives one record per connection.
    pub recorder: Option<brig_net::proxy::Recorder>,
    /// Asked about hosts the allowlist does not name; `None` refuses them.
    pub ask_unknown: Option<brig_net::proxy::AskUnknown>,
}

/// The session's segment and when it was last made durable.
struct Log {
    writer: brig_audit::Writer,
    last_commit: std::time::Instant,
}

impl Log {
    /// Appends one record; signs and syncs when the last checkpoint is old enough.
    fn append_event(&mut self, kind: &str, data: serde_json::Value) -> Result<(), String> {
        self.writer.append(kind, data).map_err(|e| e.to_string())?;
        if self.last_commit.elapsed() >= CHECKPOINT_INTERVAL {
            self.writer.commit().map_err(|e| e.to_string())?;
            self.last_commit = std::time::Instant::now();
        }
        Ok(())
    }
}

/// The `network` audit record of one proxied connection (docs/audit.md).
pub fn network_record(
    r: &brig_net::proxy::Record,
    who: Option<(Option<u32>, Option<String>)>,
) -> serde_json::Value {
    let (pid, program) = who.unwrap_or((None, None));
    let started = r
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    serde_json::json!({
        "protocol": r.protocol,
        "method": r.method,
        "host": r.host,
        "port": r.port,
        "url": r.url,
        "sni": r.sni,
        "tls_version": r.tls_version,
        "address": r.address.map(|a| a.to_string()),
        "decision": if r.allowed { "allow" } else { "deny" },
        "rule": r.rule,
        "reason": r.reason,
        "bytes_in": r.bytes_in,
        "bytes_out": r.bytes_out,
        "started_unix": started,
        "duration_ms": r.duration.as_secs_f64() * 1000.0,
        "client_port": r.client_port,
        "pid": pid,
        "program": program,
    })
}

fn lock_log(m: &std::sync::Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// While a command runs, brig signs and syncs what it recorded at most this often (a periodic
/// checkpoint), so that a long run's records do not wait for its end to become durable.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

fn audit_err(e: impl std::fmt::Display) -> Error {
    Error::Audit(format!(
        "the audit log cannot be written ({e}); brig does not run commands unaudited (set XDG_STATE_HOME to a writable directory)"
    ))
}

/// brig's audit directory.
pub fn audit_dir(dirs: &Dirs) -> PathBuf {
    dirs.state.join("audit")
}

impl AuditSession {
    /// Opens a new session and records its start and the command's start.
    pub fn start(
        dirs: &Dirs,
        loaded: &Loaded,
        argv: &[OsString],
        decided: &Decided,
    ) -> Result<AuditSession, Error> {
        use sha2::Digest;
        let id = brig_audit::new_session_id();
        let previous = brig_audit::latest_session(&audit_dir(dirs));
        let mut writer = brig_audit::Writer::create(&audit_dir(dirs), &id).map_err(audit_err)?;
        let plan = &loaded.plan;
        let plan_json = serde_json::to_vec(plan).unwrap_or_default();
        let policy_sha256: String = sha2::Sha256::digest(&plan_json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_default();
        #[cfg(unix)]
        let uid = std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .ok();
        #[cfg(not(unix))]
        let uid: Option<u32> = None;
        writer
            .append(
                "session.start",
                serde_json::json!({
                    "user": user,
                    "uid": uid,
                    "host": host.trim(),
                    "platform": std::env::consts::OS,
                    "brig_version": env!("CARGO_PKG_VERSION"),
                    "mode": plan.mode,
                    "network": plan.network,
                    "workspace": plan.workspace,
                    "writable_roots": plan.writable_roots,
                    "policy_sha256": policy_sha256,
                    "config_sources": loaded.sources,
                    "previous_session": previous,
                    "audit_files": plan.audit.files,
                }),
            )
            .map_err(audit_err)?;
        let env_names: Vec<String> = plan
            .env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        writer
            .append(
                "command.start",
                serde_json::json!({
                    "argv": argv.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
                    "cwd": plan.cwd,
                    "env_names": env_names,
                    "env_removed": plan.env_removed,
                    "decision": decided.verdict.decision.as_str(),
                    "destructive": decided.verdict.destructive,
                    "rules": decided.verdict.reasons.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                    "destroys": decided.verdict.what_is_destroyed,
                    "approval_policy": decided.policy.as_str(),
                    "then": decided.action,
                }),
            )
            .map_err(audit_err)?;
        Ok(AuditSession {
            log: std::sync::Arc::new(std::sync::Mutex::new(Log {
                writer,
                last_commit: std::time::Instant::now(),
            })),
            started: std::time::Instant::now(),
            clients: Default::default(),
        })
    }

    /// Appends one record of `kind` (approvals: `approval.request`, `approval`).
    pub fn record(&mut self, kind: &str, data: serde_json::Value) -> Result<(), Error> {
        lock_log(&self.log)
            .writer
            .append(kind, data)
            .map_err(audit_err)
    }

    /// Signs and syncs what was recorded so far (before acting on an approval).
    pub fn commit(&mut self) -> Result<(), Error> {
        let mut log = lock_log(&self.log);
        log.writer.commit().map_err(audit_err)?;
        log.last_commit = std::time::Instant::now();
        Ok(())
    }

    /// A handle that records into this session from other threads (the network proxy's).
    pub fn handle(&self) -> AuditHandle {
        AuditHandle(std::sync::Arc::clone(&self.log))
    }

    /// What the network proxy records each connection with (`network` records), from its own
    /// threads.
    pub fn network_recorder(&self) -> brig_net::proxy::Recorder {
        let log = std::sync::Arc::clone(&self.log);
        let clients = std::sync::Arc::clone(&self.clients);
        Box::new(move |r| {
            let who = clients
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&r.client_port);
            lock_log(&log).append_event("network", network_record(r, who))
        })
    }

    /// Records one event reported by the sandbox while the command runs.
    pub fn event(&mut self, ev: brig_sandbox::Event<'_>) -> Result<(), String> {
        use brig_sandbox::Event;
        let (kind, data) = match ev {
            Event::ProxyClient { port, pid, program } => {
                let mut c = self.clients.lock().unwrap_or_else(|p| p.into_inner());
                // Bounded: entries whose connection never reached the proxy are dropped.
                if c.len() >= 4096 {
                    c.clear();
                }
                c.insert(port, (pid, program.map(str::to_string)));
                return Ok(());
            }
            Event::Denied {
                layer,
                what,
                pid,
                program,
            } => (
                "denied",
                serde_json::json!({ "layer": layer, "what": what, "pid": pid, "program": program }),
            ),
            Event::Changed {
                op,
                path,
                pid,
                program,
            } => (
                "file.change",
                serde_json::json!({ "op": op, "path": path, "pid": pid, "program": program }),
            ),
            Event::Read { path, pid, program } => (
                "file.read",
                serde_json::json!({ "path": path, "pid": pid, "program": program }),
            ),
            Event::Exec {
                path,
                argv,
                pid,
                ppid,
                program,
            } => (
                "exec",
                serde_json::json!({ "path": path, "argv": argv, "pid": pid, "ppid": ppid, "program": program }),
            ),
        };
        lock_log(&self.log).append_event(kind, data)
    }

    /// Records how the command ended and closes the session durably.
    pub fn finish(self, result: &Result<Outcome, Error>) -> Result<(), Error> {
        let elapsed = self.started.elapsed();
        let data = match result {
            Ok(o) => serde_json::json!({
                "exit_code": match o.exit { Exit::Code(c) => Some(c), Exit::Signal(_) => None },
                "signal": match o.exit { Exit::Signal(s) => Some(s), Exit::Code(_) => None },
                "status": status_of(o),
                "command_status": o.exit.as_status(),
                "duration_ms": elapsed.as_secs_f64() * 1000.0,
                "cpu_user_ms": o.usage.user_us as f64 / 1000.0,
                "cpu_sys_ms": o.usage.sys_us as f64 / 1000.0,
                "max_rss_kb": o.usage.max_rss_kb,
                "peak_memory_bytes": o.usage.peak_memory_bytes,
                "peak_processes": o.usage.peak_processes,
                "limits_hit": o.limits_hit.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                "layers": o.layers,
            }),
            Err(e) => serde_json::json!({
                "error": e.to_string(),
                "status": e.exit_code(),
                "duration_ms": elapsed.as_secs_f64() * 1000.0,
            }),
        };
        let mut log = lock_log(&self.log);
        log.writer.append("command.end", data).map_err(audit_err)?;
        log.writer
            .append("session.end", serde_json::json!({}))
            .map_err(audit_err)?;
        log.writer.commit().map_err(audit_err)
    }
}
