//! Layering configuration files and command-line overrides into one effective [`Policy`].
//!
//! Precedence, lowest first: built-in defaults, the user config (`~/.config/brig/config.toml`),
//! an explicit `--config FILE`, the project's `.brig.toml`, the command line. Scalars (`mode`,
//! `network`, `git.allow_local_commit`) are overridden by later layers; lists are unions.
//!
//! The project file is written by whoever wrote the repository, so it is treated as hostile until
//! the user trusts it (`brig trust DIR`, see [`crate::trust`](mod@crate::trust)). An **untrusted** project file may
//! only tighten: a stricter or equal mode, `network = "off"`, `allow_local_commit = false`, more
//! `secrets.deny_read`, `protect.names` and `env.deny`. Any key that would loosen the policy is an
//! error pointing at the key, never silently ignored, so the user learns why the file had no
//! effect. A **trusted** project file is merged like a user file, with one exception:
//! `allow_danger_full_access` only counts in a user-level file (user config, `--config`) because
//! turning the sandbox off must be the user's own decision, not the repository's.
//!
//! How lists combine: `secrets.allow_read` and `protect.unprotect` remove entries from the
//! *defaults* only, so a later layer's `deny_read` or `protect.names` always wins; `env.deny`
//! beats `env.pass`.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{ConfigError, ConfigFile, Location, Setting};
use crate::defaults;
use crate::plan::{ApprovalPolicy, AuditFiles, GitAccess, LimitSettings, Mode, NetworkMode};

/// The origin name used for settings nobody wrote.
pub const FROM_DEFAULT: &str = "default";
/// The origin name used for command-line overrides.
pub const FROM_CLI: &str = "command line";

/// The project's `.brig.toml` and whether the user trusts its current content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectConfig {
    /// The parsed file.
    pub file: ConfigFile,
    /// True when the trust store holds this workspace with this file's current hash.
    pub trusted: bool,
}

/// Command-line overrides: the highest layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CliOverrides {
    /// `--mode`.
    pub mode: Option<Mode>,
    /// `--network`.
    pub network: Option<NetworkMode>,
    /// `--allow-host`: allow rules added to the network allowlist (checked by the caller with
    /// [`crate::net::HostRule::parse`]; an invalid one is an error here too).
    pub net_allow: Vec<String>,
    /// Extra writable roots (`~` is expanded; relative paths are relative to the workspace, so
    /// the CLI should make paths typed relative to the current directory absolute first).
    pub writable: Vec<PathBuf>,
    /// The user acknowledged `danger-full-access` on the command line.
    pub acknowledge_danger: bool,
    /// Extra environment variable names (or `PREFIX*`) to pass through.
    pub env_pass: Vec<String>,
    /// `--audit-files`.
    pub audit_files: Option<AuditFiles>,
    /// `--approval-policy`.
    pub approval_policy: Option<ApprovalPolicy>,
    /// `--memory`, `--processes`, `--cpus`, `--timeout`, `--tmp-size`, `--file-size`.
    pub limits: LimitSettings,
}

/// Every input to [`resolve`], lowest precedence first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layers {
    /// `~/.config/brig/config.toml`, if it exists.
    pub user: Option<ConfigFile>,
    /// `--config FILE` (user-level), if given.
    pub explicit: Option<ConfigFile>,
    /// `<workspace>/.brig.toml`, if it exists.
    pub project: Option<ProjectConfig>,
    /// Command-line overrides.
    pub cli: CliOverrides,
}

impl Layers {
    /// The layers that contributed, for `brig policy explain`: file names with their role.
    pub fn sources(&self) -> Vec<String> {
        let mut out = vec![FROM_DEFAULT.to_string()];
        if let Some(f) = &self.user {
            out.push(format!("{} (user)", f.source));
        }
        if let Some(f) = &self.explicit {
            out.push(format!("{} (--config)", f.source));
        }
        if let Some(p) = &self.project {
            let trust = if p.trusted {
                "trusted"
            } else {
                "untrusted: may only tighten"
            };
            out.push(format!("{} (project, {trust})", p.file.source));
        }
        if self.cli != CliOverrides::default() {
            out.push(FROM_CLI.to_string());
        }
        out
    }
}

/// The effective policy: every layer merged, nothing expanded yet (that needs [`crate::HostFacts`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The sandbox mode.
    pub mode: Mode,
    /// Which layer chose the mode ([`FROM_DEFAULT`], a file name, or [`FROM_CLI`]).
    pub mode_from: String,
    /// Network access.
    pub network: NetworkMode,
    /// Which layer chose the network mode.
    pub network_from: String,
    /// What may change inside `.git` directories.
    pub git: GitAccess,
    /// Extra writable roots as written (before `~` expansion).
    pub writable: Vec<PathBuf>,
    /// Secret paths added to the defaults.
    pub deny_read: Vec<PathBuf>,
    /// Entries removed from the default secret list.
    pub allow_read: Vec<PathBuf>,
    /// Environment names that always pass.
    pub env_pass: Vec<String>,
    /// Environment names that never pass.
    pub env_deny: Vec<String>,
    /// Protected names added to the defaults.
    pub protect: Vec<String>,
    /// Default protected names removed.
    pub unprotect: Vec<String>,
    /// `danger-full-access` was acknowledged (user-level config or command line).
    pub danger_acknowledged: bool,
    /// Whether brig keeps an audit trail (`[audit] enabled`; only the user can turn it off).
    pub audit_enabled: bool,
    /// How much file activity the audit trail records.
    pub audit_files: AuditFiles,
    /// When to ask a human (`[approvals] policy`).
    pub approval_policy: ApprovalPolicy,
    /// Which layer chose the approval policy.
    pub approval_policy_from: String,
    /// Destructive commands need two distinct approvers.
    pub two_approvers: bool,
    /// Seconds a request waits for a human before it is denied.
    pub approval_timeout_secs: u64,
    /// Resource limits chosen by a layer.
    pub limits: LimitSettings,
    /// `network.allow` and `--allow-host`: allow rules, as written.
    pub net_allow: Vec<String>,
    /// `network.deny`: deny rules, as written.
    pub net_deny: Vec<String>,
    /// `network.presets`: included presets, by name.
    pub net_presets: Vec<String>,
    /// `[network.hosts]`: fixed addresses for names.
    pub net_hosts: Vec<(String, std::net::IpAddr)>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: defaults::MODE,
            mode_from: FROM_DEFAULT.into(),
            network: defaults::NETWORK,
            network_from: FROM_DEFAULT.into(),
            git: defaults::GIT,
            writable: vec![],
            deny_read: vec![],
            allow_read: vec![],
            env_pass: vec![],
            env_deny: vec![],
            protect: vec![],
            unprotect: vec![],
            danger_acknowledged: false,
            audit_enabled: true,
            audit_files: defaults::AUDIT_FILES,
            approval_policy: defaults::APPROVAL_POLICY,
            approval_policy_from: FROM_DEFAULT.into(),
            two_approvers: false,
            approval_timeout_secs: defaults::APPROVAL_TIMEOUT_SECS,
            limits: LimitSettings::default(),
            net_allow: vec![],
            net_deny: vec![],
            net_presets: vec![],
            net_hosts: vec![],
        }
    }
}

/// Why the layers do not resolve to a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A key a file is not allowed to use where it is (`FILE:LINE:COL: ...`).
    #[error(transparent)]
    NotAllowed(#[from] ConfigError),
    /// `danger-full-access` without an acknowledgement.
    #[error(
        "mode danger-full-access (set by {mode_from}) turns the sandbox off entirely; acknowledge it either with \
         `allow_danger_full_access = true` in your user config (~/.config/brig/config.toml) or a --config file, \
         or with `--acknowledge-danger` on the command line"
    )]
    DangerNotAcknowledged {
        /// Which layer chose the mode.
        mode_from: String,
    },
    /// An `--allow-host` value that is not a valid destination.
    #[error("--allow-host {rule:?}: {why}")]
    BadAllowHost {
        /// The value as given.
        rule: String,
        /// Why it is refused.
        why: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    User,
    TrustedProject,
    UntrustedProject,
}

/// Merges `layers` into the effective policy.
pub fn resolve(layers: &Layers) -> Result<Policy, ResolveError> {
    let mut p = Policy::default();
    if let Some(f) = &layers.user {
        apply(&mut p, f, Level::User)?;
    }
    if let Some(f) = &layers.explicit {
        apply(&mut p, f, Level::User)?;
    }
    if let Some(proj) = &layers.project {
        apply(
            &mut p,
            &proj.file,
            if proj.trusted {
                Level::TrustedProject
            } else {
                Level::UntrustedProject
            },
        )?;
    }
    let cli = &layers.cli;
    if let Some(m) = cli.mode {
        p.mode = m;
        p.mode_from = FROM_CLI.into();
    }
    if let Some(n) = cli.network {
        p.network = n;
        p.network_from = FROM_CLI.into();
    }
    for r in &cli.net_allow {
        if let Err(e) = crate::net::HostRule::parse(r) {
            return Err(ResolveError::BadAllowHost {
                rule: r.clone(),
                why: e.to_string(),
            });
        }
    }
    union(&mut p.net_allow, cli.net_allow.iter().cloned());
    // `--allow-host` without `--network` means the allowlist (when the network was off).
    if !cli.net_allow.is_empty() && cli.network.is_none() && p.network == NetworkMode::Off {
        p.network = NetworkMode::Allowlist;
        p.network_from = FROM_CLI.into();
    }
    union(&mut p.writable, cli.writable.iter().cloned());
    union(&mut p.env_pass, cli.env_pass.iter().cloned());
    if let Some(f) = cli.audit_files {
        p.audit_files = f;
    }
    let l = cli.limits;
    let lim = &mut p.limits;
    let src = &mut lim.from_untrusted_project;
    src.memory &= l.memory.is_none();
    src.processes &= l.processes.is_none();
    src.cpus &= l.cpu_millis.is_none();
    src.timeout &= l.timeout.is_none();
    src.tmp_size &= l.tmp_size.is_none();
    src.shm_size &= l.shm_size.is_none();
    src.file_size &= l.file_size.is_none();
    lim.memory = l.memory.or(lim.memory);
    lim.processes = l.processes.or(lim.processes);
    lim.cpu_millis = l.cpu_millis.or(lim.cpu_millis);
    lim.timeout = l.timeout.or(lim.timeout);
    lim.tmp_size = l.tmp_size.or(lim.tmp_size);
    lim.shm_size = l.shm_size.or(lim.shm_size);
    lim.file_size = l.file_size.or(lim.file_size);
    lim.output = l.output.or(lim.output);
    if let Some(a) = cli.approval_policy {
        p.approval_policy = a;
        p.approval_policy_from = FROM_CLI.into();
    }
    if cli.acknowledge_danger {
        p.danger_acknowledged = true;
    }
    if p.mode == Mode::DangerFullAccess && !p.danger_acknowledged {
        return Err(ResolveError::DangerNotAcknowledged {
            mode_from: p.mode_from,
        });
    }
    Ok(p)
}

fn apply(p: &mut Policy, f: &ConfigFile, level: Level) -> Result<(), ConfigError> {
    let untrusted = level == Level::UntrustedProject;
    let loosens = |key: &str, at: Location| {
        ConfigError::new(
            &f.source,
            at,
            format!(
                "`{key}` loosens the policy; an untrusted project file may only tighten it \
                 (trust it with `brig trust DIR`)"
            ),
        )
    };

    if let Some(Setting { value, at }) = f.mode {
        if untrusted && value > p.mode {
            return Err(loosens("mode", at));
        }
        p.mode = value;
        p.mode_from = f.source.clone();
    }
    if let Some(Setting { value, at }) = f.network {
        if untrusted && value > p.network {
            return Err(loosens("network", at));
        }
        p.network = value;
        p.network_from = f.source.clone();
    }
    if let Some(Setting { value, at }) = f.git.allow_local_commit {
        if untrusted && value && p.git == GitAccess::ReadOnly {
            return Err(loosens("git.allow_local_commit", at));
        }
        p.git = if value {
            GitAccess::LocalCommit
        } else {
            GitAccess::ReadOnly
        };
    }
    if let Some(Setting { value, at }) = f.allow_danger_full_access {
        match level {
            Level::User => p.danger_acknowledged = value,
            Level::UntrustedProject if value => return Err(loosens("allow_danger_full_access", at)),
            Level::TrustedProject if value => {
                return Err(ConfigError::new(
                    &f.source,
                    at,
                    "`allow_danger_full_access` is only honoured in your user config (~/.config/brig/config.toml) \
                     or a --config file: turning the sandbox off must be your decision, not the project's",
                ))
            }
            // `false` in a project file withdraws a user-level acknowledgement: a tightening.
            _ => p.danger_acknowledged = false,
        }
    }

    if let Some(Setting { value, at }) = f.audit.files {
        if untrusted && value < p.audit_files {
            return Err(loosens("audit.files", at));
        }
        p.audit_files = value;
    }
    if let Some(Setting { value, at }) = f.audit.enabled {
        match level {
            Level::User => p.audit_enabled = value,
            Level::UntrustedProject if !value => return Err(loosens("audit.enabled", at)),
            Level::TrustedProject if !value => {
                return Err(ConfigError::new(
                    &f.source,
                    at,
                    "`audit.enabled = false` is only honoured in your user config (~/.config/brig/config.toml) \
                     or a --config file: turning the audit trail off must be your decision, not the project's",
                ))
            }
            _ => p.audit_enabled = true,
        }
    }

    // Approvals: an untrusted project may ask more (`untrusted`), require two approvers, or wait
    // less; nothing else.
    if let Some(Setting { value, at }) = f.approvals.policy {
        if untrusted && value != ApprovalPolicy::Untrusted && value != p.approval_policy {
            return Err(loosens("approvals.policy", at));
        }
        p.approval_policy = value;
        p.approval_policy_from = f.source.clone();
    }
    if let Some(Setting { value, at }) = f.approvals.two_approvers {
        if untrusted && !value && p.two_approvers {
            return Err(loosens("approvals.two_approvers", at));
        }
        p.two_approvers = value;
    }
    if let Some(Setting { value, at }) = f.approvals.timeout {
        if untrusted && value > p.approval_timeout_secs {
            return Err(loosens("approvals.timeout", at));
        }
        p.approval_timeout_secs = value;
    }

    // Limits: an untrusted project may only lower them (below what a user-level layer chose,
    // or below `defaults::UNTRUSTED_LIMIT_BOUNDS` where none did).
    {
        let bounds = defaults::UNTRUSTED_LIMIT_BOUNDS;
        let l = &f.limits;
        let check = |key: &str,
                     s: &Option<Setting<u64>>,
                     current: Option<u64>,
                     bound: Option<u64>|
         -> Result<Option<u64>, ConfigError> {
            let Some(s) = s else { return Ok(None) };
            if untrusted {
                if let Some(max) = current.or(bound) {
                    if s.value > max {
                        return Err(loosens(key, s.at));
                    }
                }
            }
            Ok(Some(s.value))
        };
        let cur = p.limits;
        if let Some(v) = check("limits.memory", &l.memory, cur.memory, bounds.memory)? {
            p.limits.memory = Some(v);
            p.limits.from_untrusted_project.memory = untrusted;
        }
        if let Some(v) = check(
            "limits.processes",
            &l.processes,
            cur.processes,
            bounds.processes,
        )? {
            p.limits.processes = Some(v);
            p.limits.from_untrusted_project.processes = untrusted;
        }
        if let Some(v) = check(
            "limits.cpus",
            &l.cpu_millis,
            cur.cpu_millis,
            bounds.cpu_millis,
        )? {
            p.limits.cpu_millis = Some(v);
            p.limits.from_untrusted_project.cpus = untrusted;
        }
        if let Some(v) = check(
            "limits.tmp_size",
            &l.tmp_size,
            cur.tmp_size,
            bounds.tmp_size,
        )? {
            p.limits.tmp_size = Some(v);
            p.limits.from_untrusted_project.tmp_size = untrusted;
        }
        if let Some(v) = check(
            "limits.shm_size",
            &l.shm_size,
            cur.shm_size,
            bounds.shm_size,
        )? {
            p.limits.shm_size = Some(v);
            p.limits.from_untrusted_project.shm_size = untrusted;
        }
        if let Some(v) = check(
            "limits.file_size",
            &l.file_size,
            cur.file_size,
            bounds.file_size,
        )? {
            p.limits.file_size = Some(v);
            p.limits.from_untrusted_project.file_size = untrusted;
        }
        // Bounding the output is always possible, so a project's value needs no fallback.
        if let Some(v) = check("limits.output", &l.output, cur.output, bounds.output)? {
            p.limits.output = Some(v);
        }
        if let Some(Setting { value, at }) = l.timeout {
            if untrusted && cur.timeout.is_some_and(|t| value > t) {
                return Err(loosens("limits.timeout", at));
            }
            p.limits.timeout = Some(value);
            p.limits.from_untrusted_project.timeout = untrusted;
        }
    }

    // The allowlist: allow rules, presets and fixed addresses open the network, so an
    // untrusted file may not write them; deny rules only close it.
    if untrusted {
        if let Some(s) = f.net.hosts.as_ref().filter(|s| !s.value.is_empty()) {
            return Err(loosens("network.hosts", s.at));
        }
    }
    for (key, setting) in [
        ("network.allow", &f.net.allow),
        ("network.presets", &f.net.presets),
    ] {
        if untrusted {
            if let Some(s) = setting.as_ref().filter(|s| !s.value.is_empty()) {
                return Err(loosens(key, s.at));
            }
        }
    }
    union(&mut p.net_allow, list(&f.net.allow));
    union(&mut p.net_presets, list(&f.net.presets));
    union(&mut p.net_deny, list(&f.net.deny));
    if let Some(h) = &f.net.hosts {
        for (name, ip) in &h.value {
            // A later layer's address for a name replaces an earlier one.
            p.net_hosts.retain(|(n, _)| n != name);
            p.net_hosts.push((name.clone(), *ip));
        }
    }

    // Loosening lists: an untrusted file may only leave them empty.
    let loosening_lists: [(&str, &Option<Setting<Vec<String>>>); 4] = [
        ("writable", &f.writable),
        ("secrets.allow_read", &f.secrets.allow_read),
        ("env.pass", &f.env.pass),
        ("protect.unprotect", &f.protect.unprotect),
    ];
    if untrusted {
        for (key, setting) in loosening_lists {
            if let Some(s) = setting.as_ref().filter(|s| !s.value.is_empty()) {
                return Err(loosens(key, s.at));
            }
        }
    }
    union(&mut p.writable, list(&f.writable).map(PathBuf::from));
    union(
        &mut p.allow_read,
        list(&f.secrets.allow_read).map(PathBuf::from),
    );
    union(&mut p.env_pass, list(&f.env.pass));
    union(&mut p.unprotect, list(&f.protect.unprotect));

    // Tightening lists: anyone may add to them.
    union(
        &mut p.deny_read,
        list(&f.secrets.deny_read).map(PathBuf::from),
    );
    union(&mut p.env_deny, list(&f.env.deny));
    union(&mut p.protect, list(&f.protect.names));
    Ok(())
}

fn list(s: &Option<Setting<Vec<String>>>) -> impl Iterator<Item = String> + '_ {
    s.iter().flat_map(|s| s.value.iter().cloned())
}

fn union<T: PartialEq>(into: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for item in items {
        if !into.contains(&item) {
            into.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;

    fn file(name: &str, text: &str) -> ConfigFile {
        parse_config(name, text).unwrap()
    }

    fn project(text: &str, trusted: bool) -> Option<ProjectConfig> {
        Some(ProjectConfig {
            file: file("/ws/.brig.toml", text),
            trusted,
        })
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn loosens(line: usize, col: usize, key: &str) -> ResolveError {
        ResolveError::NotAllowed(ConfigError {
            file: "/ws/.brig.toml".into(),
            line,
            column: col,
            message: format!(
                "`{key}` loosens the policy; an untrusted project file may only tighten it (trust it with `brig trust DIR`)"
            ),
        })
    }

    #[test]
    fn no_layers_give_the_defaults() {
        let p = resolve(&Layers::default()).unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(
            (p.mode, p.network, p.git),
            (Mode::WorkspaceWrite, NetworkMode::Off, GitAccess::ReadOnly)
        );
    }

    #[test]
    fn layers_apply_in_precedence_order() {
        let layers = Layers {
            user: Some(file(
                "user.toml",
                "mode = \"read-only\"\nnetwork = \"on\"\nwritable = [\"~/a\"]\n[env]\npass = [\"TOK\"]\n[secrets]\nallow_read = [\"~/.npmrc\"]",
            )),
            explicit: Some(file("extra.toml", "mode = \"workspace-write\"\nwritable = [\"~/b\", \"~/a\"]\n[git]\nallow_local_commit = true")),
            project: project("network = \"off\"\n[secrets]\ndeny_read = [\"~/.npmrc\"]\n[protect]\nnames = [\".x\"]\n[env]\ndeny = [\"TOK\"]", false),
            cli: CliOverrides {
                mode: None,
                network: None,
                writable: paths(&["/data"]),
                acknowledge_danger: false,
                env_pass: strs(&["EXTRA"]),
                audit_files: None,
                approval_policy: None,
                limits: LimitSettings::default(),
                net_allow: vec![],
            },
        };
        let expected = Policy {
            mode: Mode::WorkspaceWrite,
            mode_from: "extra.toml".into(),
            network: NetworkMode::Off,
            network_from: "/ws/.brig.toml".into(),
            git: GitAccess::LocalCommit,
            writable: paths(&["~/a", "~/b", "/data"]),
            deny_read: paths(&["~/.npmrc"]),
            allow_read: paths(&["~/.npmrc"]),
            env_pass: strs(&["TOK", "EXTRA"]),
            env_deny: strs(&["TOK"]),
            protect: strs(&[".x"]),
            unprotect: vec![],
            danger_acknowledged: false,
            audit_enabled: true,
            audit_files: AuditFiles::Changes,
            approval_policy: ApprovalPolicy::OnRequest,
            approval_policy_from: FROM_DEFAULT.into(),
            two_approvers: false,
            approval_timeout_secs: 300,
            limits: LimitSettings::default(),
            net_allow: vec![],
            net_deny: vec![],
            net_presets: vec![],
            net_hosts: vec![],
        };
        assert_eq!(resolve(&layers).unwrap(), expected);
    }

    #[test]
    fn the_command_line_wins() {
        let layers = Layers {
            user: Some(file("user.toml", "mode = \"read-only\"")),
            project: project("network = \"off\"", false),
            cli: CliOverrides {
                mode: Some(Mode::WorkspaceWrite),
                network: Some(NetworkMode::On),
                ..Default::default()
            },
            ..Default::default()
        };
        let p = resolve(&layers).unwrap();
        assert_eq!(
            (
                p.mode,
                p.mode_from.as_str(),
                p.network,
                p.network_from.as_str()
            ),
            (Mode::WorkspaceWrite, FROM_CLI, NetworkMode::On, FROM_CLI)
        );
    }

    #[test]
    fn an_untrusted_project_may_tighten() {
        let layers = Layers {
            user: Some(file("user.toml", "network = \"on\"\ngit.allow_local_commit = true")),
            project: project(
                "mode = \"read-only\"\nnetwork = \"off\"\n[git]\nallow_local_commit = false\n[env]\npass = []\n",
                false,
            ),
            ..Default::default()
        };
        let p = resolve(&layers).unwrap();
        assert_eq!(
            (p.mode, p.network, p.git),
            (Mode::ReadOnly, NetworkMode::Off, GitAccess::ReadOnly)
        );
        // Restating the current value is not a loosening.
        let same = Layers {
            project: project("mode = \"workspace-write\"\nnetwork = \"off\"", false),
            ..Default::default()
        };
        assert_eq!(resolve(&same).unwrap().mode_from, "/ws/.brig.toml");
    }

    #[test]
    fn an_untrusted_project_may_not_loosen() {
        let cases: &[(&str, ResolveError)] = &[
            ("mode = \"danger-full-access\"", loosens(1, 1, "mode")),
            ("# c\nnetwork = \"on\"", loosens(2, 1, "network")),
            (
                "[git]\nallow_local_commit = true",
                loosens(2, 1, "git.allow_local_commit"),
            ),
            ("writable = [\"/tmp/x\"]", loosens(1, 1, "writable")),
            (
                "allow_danger_full_access = true",
                loosens(1, 1, "allow_danger_full_access"),
            ),
            (
                "[secrets]\n  allow_read = [\"~/.npmrc\"]",
                loosens(2, 3, "secrets.allow_read"),
            ),
            ("[env]\npass = [\"X\"]", loosens(2, 1, "env.pass")),
            (
                "[protect]\nunprotect = [\".idea\"]",
                loosens(2, 1, "protect.unprotect"),
            ),
        ];
        for (text, want) in cases {
            let layers = Layers {
                project: project(text, false),
                ..Default::default()
            };
            assert_eq!(resolve(&layers).unwrap_err(), *want, "{text}");
        }
        // Looser than what the user chose, even though equal to the built-in default.
        let layers = Layers {
            user: Some(file("user.toml", "mode = \"read-only\"")),
            project: project("mode = \"workspace-write\"", false),
            ..Default::default()
        };
        assert_eq!(resolve(&layers).unwrap_err(), loosens(1, 1, "mode"));
        assert_eq!(
            resolve(&layers).unwrap_err().to_string(),
            "/ws/.brig.toml:1:1: `mode` loosens the policy; an untrusted project file may only tighten it \
             (trust it with `brig trust DIR`)"
        );
    }

    #[test]
    fn a_trusted_project_merges_like_a_user_file() {
        let layers = Layers {
            project: project(
                "network = \"on\"\nwritable = [\"../out\"]\n[secrets]\nallow_read = [\"~/.npmrc\"]\n[env]\npass = [\"X\"]\n[protect]\nunprotect = [\".idea\"]",
                true,
            ),
            ..Default::default()
        };
        let expected = Policy {
            network: NetworkMode::On,
            network_from: "/ws/.brig.toml".into(),
            writable: paths(&["../out"]),
            allow_read: paths(&["~/.npmrc"]),
            env_pass: strs(&["X"]),
            unprotect: strs(&[".idea"]),
            ..Policy::default()
        };
        assert_eq!(resolve(&layers).unwrap(), expected);
    }

    #[test]
    fn only_user_level_files_acknowledge_danger() {
        let layers = Layers {
            project: project(
                "mode = \"danger-full-access\"\nallow_danger_full_access = true",
                true,
            ),
            ..Default::default()
        };
        assert_eq!(
            resolve(&layers).unwrap_err(),
            ResolveError::NotAllowed(ConfigError {
                file: "/ws/.brig.toml".into(),
                line: 2,
                column: 1,
                message: "`allow_danger_full_access` is only honoured in your user config (~/.config/brig/config.toml) \
                          or a --config file: turning the sandbox off must be your decision, not the project's"
                    .into(),
            })
        );
    }

    #[test]
    fn danger_mode_needs_an_acknowledgement() {
        let unack = Layers {
            cli: CliOverrides {
                mode: Some(Mode::DangerFullAccess),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = resolve(&unack).unwrap_err();
        assert_eq!(
            e,
            ResolveError::DangerNotAcknowledged {
                mode_from: FROM_CLI.into()
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains("allow_danger_full_access = true") && msg.contains("command line"),
            "{msg}"
        );

        let by_cli = Layers {
            cli: CliOverrides {
                mode: Some(Mode::DangerFullAccess),
                acknowledge_danger: true,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(resolve(&by_cli).unwrap().mode, Mode::DangerFullAccess);

        let by_user = Layers {
            user: Some(file("user.toml", "allow_danger_full_access = true")),
            explicit: Some(file("x.toml", "mode = \"danger-full-access\"")),
            ..Default::default()
        };
        let p = resolve(&by_user).unwrap();
        assert_eq!(
            (p.mode, p.danger_acknowledged),
            (Mode::DangerFullAccess, true)
        );

        // A project file can withdraw the acknowledgement (a tightening), the CLI can restore it.
        let withdrawn = Layers {
            user: Some(file(
                "user.toml",
                "allow_danger_full_access = true\nmode = \"danger-full-access\"",
            )),
            project: project("allow_danger_full_access = false", false),
            ..Default::default()
        };
        assert_eq!(
            resolve(&withdrawn).unwrap_err(),
            ResolveError::DangerNotAcknowledged {
                mode_from: "user.toml".into()
            }
        );
    }

    #[test]
    fn sources_name_each_layer() {
        let layers = Layers {
            user: Some(file("~/.config/brig/config.toml", "")),
            explicit: Some(file("ci.toml", "")),
            project: project("", false),
            cli: CliOverrides {
                network: Some(NetworkMode::On),
                ..Default::default()
            },
        };
        assert_eq!(
            layers.sources(),
            strs(&[
                "default",
                "~/.config/brig/config.toml (user)",
                "ci.toml (--config)",
                "/ws/.brig.toml (project, untrusted: may only tighten)",
                "command line",
            ])
        );
        assert_eq!(Layers::default().sources(), strs(&["default"]));
    }

    #[test]
    fn audit_settings_resolve_and_only_the_user_turns_the_trail_off() {
        // Defaults: on, changes.
        let p = resolve(&Layers::default()).unwrap();
        assert_eq!(
            (p.audit_enabled, p.audit_files),
            (true, AuditFiles::Changes)
        );
        // The user may turn it off and choose any level; the CLI overrides the level.
        let user = Layers {
            user: Some(file(
                "user.toml",
                "[audit]\nenabled = false\nfiles = \"off\"",
            )),
            ..Default::default()
        };
        let p = resolve(&user).unwrap();
        assert_eq!((p.audit_enabled, p.audit_files), (false, AuditFiles::Off));
        let cli = Layers {
            cli: CliOverrides {
                audit_files: Some(AuditFiles::All),
                ..Default::default()
            },
            ..user.clone()
        };
        assert_eq!(resolve(&cli).unwrap().audit_files, AuditFiles::All);
        // An untrusted project may record more, never less, and may not turn it off.
        let more = Layers {
            project: project("[audit]\nfiles = \"all\"\nenabled = true", false),
            ..Default::default()
        };
        let p = resolve(&more).unwrap();
        assert_eq!((p.audit_enabled, p.audit_files), (true, AuditFiles::All));
        let less = Layers {
            project: project("[audit]\nfiles = \"off\"", false),
            ..Default::default()
        };
        assert_eq!(resolve(&less).unwrap_err(), loosens(2, 1, "audit.files"));
        let off = Layers {
            project: project("[audit]\nenabled = false", false),
            ..Default::default()
        };
        assert_eq!(resolve(&off).unwrap_err(), loosens(2, 1, "audit.enabled"));
        // A trusted project may lower the level but still not turn the trail off.
        let trusted = Layers {
            project: project("[audit]\nfiles = \"off\"", true),
            ..Default::default()
        };
        assert_eq!(resolve(&trusted).unwrap().audit_files, AuditFiles::Off);
        let trusted_off = Layers {
            project: project("[audit]\nenabled = false", true),
            ..Default::default()
        };
        let e = resolve(&trusted_off).unwrap_err().to_string();
        assert!(
            e.starts_with("/ws/.brig.toml:2:1: `audit.enabled = false` is only honoured"),
            "{e}"
        );
        // A project saying `enabled = true` re-enables a user-level `false`: a tightening.
        let back_on = Layers {
            user: Some(file("user.toml", "[audit]\nenabled = false")),
            project: project("[audit]\nenabled = true", false),
            ..Default::default()
        };
        assert!(resolve(&back_on).unwrap().audit_enabled);
    }

    #[test]
    fn approvals_resolve_and_an_untrusted_project_may_only_ask_more() {
        let p = resolve(&Layers::default()).unwrap();
        assert_eq!(
            (p.approval_policy, p.two_approvers, p.approval_timeout_secs),
            (ApprovalPolicy::OnRequest, false, 300)
        );
        let user = Layers {
            user: Some(file(
                "user.toml",
                "[approvals]\npolicy = \"never\"\ntimeout = 30",
            )),
            cli: CliOverrides {
                approval_policy: Some(ApprovalPolicy::OnFailure),
                ..Default::default()
            },
            ..Default::default()
        };
        let p = resolve(&user).unwrap();
        assert_eq!(
            (p.approval_policy, p.approval_timeout_secs),
            (ApprovalPolicy::OnFailure, 30)
        );
        // Tightening from an untrusted project: untrusted, two approvers, a shorter wait.
        let tighter = Layers {
            project: project(
                "[approvals]\npolicy = \"untrusted\"\ntwo_approvers = true\ntimeout = 10",
                false,
            ),
            ..Default::default()
        };
        let p = resolve(&tighter).unwrap();
        assert_eq!(
            (p.approval_policy, p.two_approvers, p.approval_timeout_secs),
            (ApprovalPolicy::Untrusted, true, 10)
        );
        for (text, key) in [
            ("[approvals]\npolicy = \"never\"", "approvals.policy"),
            ("[approvals]\ntimeout = 3600", "approvals.timeout"),
        ] {
            let l = Layers {
                project: project(text, false),
                ..Default::default()
            };
            assert_eq!(resolve(&l).unwrap_err(), loosens(2, 1, key), "{text}");
        }
        let off = Layers {
            user: Some(file("user.toml", "[approvals]\ntwo_approvers = true")),
            project: project("[approvals]\ntwo_approvers = false", false),
            ..Default::default()
        };
        assert_eq!(
            resolve(&off).unwrap_err(),
            loosens(2, 1, "approvals.two_approvers")
        );
        // Trusted, the project may choose.
        let trusted = Layers {
            project: project("[approvals]\npolicy = \"never\"", true),
            ..Default::default()
        };
        assert_eq!(
            resolve(&trusted).unwrap().approval_policy,
            ApprovalPolicy::Never
        );
    }

    #[test]
    fn limits_layer_and_an_untrusted_project_may_only_lower_them() {
        let user = Layers {
            user: Some(file(
                "user.toml",
                "[limits]\nmemory = \"8G\"\nprocesses = 1000",
            )),
            cli: CliOverrides {
                limits: LimitSettings {
                    processes: Some(200),
                    ..LimitSettings::default()
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let p = resolve(&user).unwrap();
        assert_eq!(
            (p.limits.memory, p.limits.processes),
            (Some(8 << 30), Some(200))
        );
        // Lower than the user's 8G: fine. Higher: a loosening.
        let lower = Layers {
            user: Some(file("user.toml", "[limits]\nmemory = \"8G\"")),
            project: project("[limits]\nmemory = \"6G\"\ntimeout = \"5m\"", false),
            ..Default::default()
        };
        assert_eq!(resolve(&lower).unwrap().limits.memory, Some(6 << 30));
        let higher = Layers {
            user: Some(file("user.toml", "[limits]\nmemory = \"8G\"")),
            project: project("[limits]\nmemory = \"12G\"", false),
            ..Default::default()
        };
        assert_eq!(
            resolve(&higher).unwrap_err(),
            loosens(2, 1, "limits.memory")
        );
        // Without a user setting the bound is brig's default.
        let over_default = Layers {
            project: project("[limits]\nprocesses = 100000", false),
            ..Default::default()
        };
        assert_eq!(
            resolve(&over_default).unwrap_err(),
            loosens(2, 1, "limits.processes")
        );
        let longer = Layers {
            user: Some(file("user.toml", "[limits]\ntimeout = \"1m\"")),
            project: project("[limits]\ntimeout = \"1h\"", false),
            ..Default::default()
        };
        assert_eq!(
            resolve(&longer).unwrap_err(),
            loosens(2, 1, "limits.timeout")
        );
        // Trusted, it may raise them.
        let trusted = Layers {
            project: project("[limits]\nprocesses = 100000", true),
            ..Default::default()
        };
        assert_eq!(resolve(&trusted).unwrap().limits.processes, Some(100000));
    }
}
