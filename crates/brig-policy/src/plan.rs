//! The enforcement plan: plain data that every backend turns into kernel rules.
//!
//! A plan is the single hand-off between the pure policy world and the OS backends. It holds
//! only absolute paths and decisions; it never holds a file descriptor or asks the OS anything.
//! Backends must enforce *everything* in it or refuse to run.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;

/// The three sandbox modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Nothing writable except a private temp dir.
    ReadOnly,
    /// The workspace, extra writable roots and a private temp dir are writable.
    WorkspaceWrite,
    /// No confinement at all. Only for disposable environments; must be acknowledged.
    DangerFullAccess,
}

impl Mode {
    /// The name used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read-only",
            Mode::WorkspaceWrite => "workspace-write",
            Mode::DangerFullAccess => "danger-full-access",
        }
    }

    /// Parses the configuration / command-line name of a mode.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "read-only" => Some(Mode::ReadOnly),
            "workspace-write" => Some(Mode::WorkspaceWrite),
            "danger-full-access" => Some(Mode::DangerFullAccess),
            _ => None,
        }
    }
}

/// Network access for the sandboxed command. Ordered from the least to the most open (an
/// untrusted project may only move down the list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    /// Own network namespace with loopback only; no route anywhere.
    Off,
    /// Own network namespace with loopback only, where brig's proxy listens on
    /// [`PROXY_PORT`]: the only way out, to the hosts the allowlist names.
    Allowlist,
    /// The host's network.
    On,
}

/// The port on the sandbox's own loopback (`127.0.0.1`) where brig's proxy listens in
/// [`NetworkMode::Allowlist`] (HTTP proxy and SOCKS5 on the same port). The sandbox has a
/// network namespace of its own, so the port is always free there.
pub const PROXY_PORT: u16 = 3128;

/// The allowlist the proxy enforces ([`NetworkMode::Allowlist`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkPlan {
    /// Allowed and denied destinations (presets expanded); deny wins.
    pub rules: crate::net::NetRules,
    /// Names the proxy resolves to these addresses instead of asking DNS (`[network.hosts]`).
    /// Addresses written here are the user's explicit choice, so they may be loopback or
    /// private; every other name must resolve to public addresses only.
    pub hosts: Vec<(String, std::net::IpAddr)>,
    /// The presets that were included, by name (their rules are in `rules.allow`).
    pub presets: Vec<String>,
}

impl NetworkMode {
    /// The name used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Off => "off",
            NetworkMode::Allowlist => "allowlist",
            NetworkMode::On => "on",
        }
    }

    /// Parses the configuration / command-line name of a network mode.
    pub fn parse(s: &str) -> Option<NetworkMode> {
        match s {
            "off" => Some(NetworkMode::Off),
            "allowlist" => Some(NetworkMode::Allowlist),
            "on" => Some(NetworkMode::On),
            _ => None,
        }
    }
}

/// How much file activity the audit trail records (`[audit] files`). Ordered from least to
/// most recorded: recording more is the tighter setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditFiles {
    /// No file events (commands, execs and refused syscalls are still recorded).
    Off,
    /// Every change inside the sandbox (create, write, truncate, delete, rename, link, mkdir,
    /// rmdir, chmod) and every refused change.
    Changes,
    /// Changes, plus every file opened for reading and every refused read.
    All,
}

impl AuditFiles {
    /// The name used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditFiles::Off => "off",
            AuditFiles::Changes => "changes",
            AuditFiles::All => "all",
        }
    }

    /// Parses the configuration / command-line name.
    pub fn parse(s: &str) -> Option<AuditFiles> {
        match s {
            "off" => Some(AuditFiles::Off),
            "changes" => Some(AuditFiles::Changes),
            "all" => Some(AuditFiles::All),
            _ => None,
        }
    }
}

/// When brig asks a human before running a command (`[approvals] policy`). See
/// docs/approvals.md for the full matrix; the decision itself is `brig-rules`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Ask for everything that is not known safe.
    Untrusted,
    /// Run sandboxed; ask when the sandbox denied something.
    OnFailure,
    /// Run sandboxed; the agent may request a widening (the default).
    OnRequest,
    /// Never ask: what needs a human fails.
    Never,
}

impl ApprovalPolicy {
    /// Every policy, in the order of the documentation.
    pub const ALL: [ApprovalPolicy; 4] = [
        ApprovalPolicy::Untrusted,
        ApprovalPolicy::OnFailure,
        ApprovalPolicy::OnRequest,
        ApprovalPolicy::Never,
    ];

    /// The name used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Untrusted => "untrusted",
            ApprovalPolicy::OnFailure => "on-failure",
            ApprovalPolicy::OnRequest => "on-request",
            ApprovalPolicy::Never => "never",
        }
    }

    /// Parses the configuration / command-line name.
    pub fn parse(s: &str) -> Option<ApprovalPolicy> {
        match s {
            "untrusted" => Some(ApprovalPolicy::Untrusted),
            "on-failure" => Some(ApprovalPolicy::OnFailure),
            "on-request" => Some(ApprovalPolicy::OnRequest),
            "never" => Some(ApprovalPolicy::Never),
            _ => None,
        }
    }
}

/// How approvals are asked for (`[approvals]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalSettings {
    /// The approval policy.
    pub policy: ApprovalPolicy,
    /// No layer chose it: brig may adapt it (no terminal to ask on: `never`).
    pub policy_is_default: bool,
    /// Destructive commands need two distinct human approvers.
    pub two_approvers: bool,
    /// Seconds to wait for a human before the request is denied.
    pub timeout_secs: u64,
}

/// Resource limits chosen in configuration or on the command line (`[limits]`). `None`: not
/// chosen; brig then applies its defaults (see `brig_sandbox::Limits::defaults`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LimitSettings {
    /// Memory of the whole sandbox, bytes.
    pub memory: Option<u64>,
    /// Processes (and threads) in the sandbox.
    pub processes: Option<u64>,
    /// CPU, in thousandths of a core.
    pub cpu_millis: Option<u64>,
    /// Wall-clock timeout.
    pub timeout: Option<std::time::Duration>,
    /// Size of the private /tmp and /var/tmp, bytes.
    pub tmp_size: Option<u64>,
    /// Size of the private /dev/shm, bytes.
    pub shm_size: Option<u64>,
    /// Largest file the command may write, bytes.
    pub file_size: Option<u64>,
    /// Most bytes of the command's standard output, and as many of its standard error, that
    /// brig passes on; the rest is dropped (and counted). `None`: no bound, the command writes
    /// to brig's own stdout and stderr directly.
    pub output: Option<u64>,
    /// The values above that an *untrusted* project file chose: applied where the host can
    /// enforce them and never above brig's defaults, but not a reason to refuse the run (a
    /// repository must not be able to stop brig from running on hosts without cgroups).
    pub from_untrusted_project: LimitSources,
}

/// Which limits came from an untrusted project file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LimitSources {
    /// `memory`.
    pub memory: bool,
    /// `processes`.
    pub processes: bool,
    /// `cpus`.
    pub cpus: bool,
    /// `timeout`.
    pub timeout: bool,
    /// `tmp_size`.
    pub tmp_size: bool,
    /// `shm_size`.
    pub shm_size: bool,
    /// `file_size`.
    pub file_size: bool,
}

/// What the audit trail records for one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AuditPlan {
    /// Whether there is an audit trail at all. Only the user's own configuration can turn it
    /// off (for disposable environments and benchmarks).
    pub enabled: bool,
    /// How much file activity it records.
    pub files: AuditFiles,
}

/// How much of every `.git` inside the writable roots the command may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GitAccess {
    /// Every `.git` (at any depth, and the target of a `.git` pointer file) is read-only.
    ReadOnly,
    /// Objects, refs, index and logs are writable so the agent can commit locally; hooks, config,
    /// info/ and the other entries in [`GIT_ALWAYS_PROTECTED`] stay read-only.
    LocalCommit,
}

/// Entries directly inside a git directory that stay read-only even with [`GitAccess::LocalCommit`]:
/// everything that makes host-side git run code or trust a path later.
pub const GIT_ALWAYS_PROTECTED: &[&str] = &[
    "config",
    "config.worktree",
    "hooks",
    "info",
    "commondir",
    "gitdir",
    "modules",
];

/// What the backend must enforce for one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnforcementPlan {
    /// The sandbox mode.
    pub mode: Mode,
    /// Network access.
    pub network: NetworkMode,
    /// What the proxy allows, in [`NetworkMode::Allowlist`] (empty otherwise).
    pub network_rules: NetworkPlan,
    /// The workspace (absolute, canonical).
    pub workspace: PathBuf,
    /// Working directory of the command (absolute, canonical).
    pub cwd: PathBuf,
    /// Roots the command may write beneath (absolute, canonical). Empty in read-only mode;
    /// in workspace-write it contains the workspace first, then the extra roots. The private
    /// temp dir is not listed: every backend always provides one.
    pub writable_roots: Vec<PathBuf>,
    /// File names that stay read-only (and cannot be created, renamed or replaced) at any depth
    /// inside the writable roots. Compared ASCII-case-insensitively; an entry ending in `*` is a
    /// prefix (`.brig*`).
    pub protected_names: Vec<String>,
    /// What may change inside `.git` directories.
    pub git: GitAccess,
    /// Absolute paths that must be unreadable (secrets). They may not exist.
    pub deny_read: Vec<PathBuf>,
    /// The complete environment of the command (after the allowlist).
    #[serde(skip)]
    pub env: Vec<(OsString, OsString)>,
    /// Names of variables removed from the environment (never their values).
    pub env_removed: Vec<String>,
    /// What the audit trail records.
    pub audit: AuditPlan,
    /// How approvals are asked for.
    pub approvals: ApprovalSettings,
    /// Resource limits chosen by the user (the rest are brig's defaults).
    pub limits: LimitSettings,
}

impl EnforcementPlan {
    /// True when `name` (one path component) is protected by this plan.
    pub fn is_protected_name(&self, name: &str) -> bool {
        name_matches(&self.protected_names, name)
    }
}

/// True when `name` matches one of `patterns` (ASCII case-insensitive; trailing `*` = prefix).
pub fn name_matches(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => {
            name.len() >= prefix.len()
                && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        }
        None => name.eq_ignore_ascii_case(p),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_case_insensitively_and_by_prefix() {
        let pats = vec![".git".to_string(), ".brig*".to_string()];
        assert!(name_matches(&pats, ".git"));
        assert!(name_matches(&pats, ".GiT"));
        assert!(name_matches(&pats, ".brig.toml"));
        assert!(name_matches(&pats, ".BRIG"));
        assert!(!name_matches(&pats, ".gitignore"));
        assert!(!name_matches(&pats, "git"));
        assert!(!name_matches(&pats, ".bri"));
    }
}
