//! Turning the effective [`Policy`] and the facts about this host into an [`EnforcementPlan`].
//!
//! This is the last pure step before a backend. Everything host-specific arrives in
//! [`HostFacts`] (gathered by the binary, canonicalized there); this module only expands `~`,
//! makes paths absolute against the workspace, normalizes them *lexically* and checks them.
//!
//! The checks refuse plans that would let the command escape through its own writable roots:
//! a root that is the filesystem root, the home directory or an ancestor of it, one that contains
//! or lies inside brig's state or config directory (trust store, audit log, user config), and one
//! inside a hidden secret path (write-only access to `~/.ssh` still plants `authorized_keys`).
//! Lexical normalization cannot see symlinks: backends must canonicalize the roots they bind and
//! re-check these rules on the result.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::defaults;
use crate::env::filter_env;
use crate::plan::{ApprovalSettings, AuditPlan, EnforcementPlan, Mode, NetworkMode, NetworkPlan};
use crate::resolve::Policy;

/// What the policy needs to know about the host, gathered outside this crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// The user's home directory (absolute, canonical).
    pub home: PathBuf,
    /// The workspace (absolute, canonical).
    pub workspace: PathBuf,
    /// The command's working directory (absolute, canonical).
    pub cwd: PathBuf,
    /// The environment brig itself was started with.
    pub env: Vec<(OsString, OsString)>,
    /// brig's state directory (`$XDG_STATE_HOME/brig`): audit log and runtime state.
    pub state_dir: PathBuf,
    /// brig's config directory (`~/.config/brig`): user config and trust store.
    pub config_dir: PathBuf,
}

impl HostFacts {
    /// The trust store file inside [`HostFacts::config_dir`].
    pub fn trust_store_path(&self) -> PathBuf {
        self.config_dir.join(crate::trust::TRUST_FILE_NAME)
    }
}

/// Why a policy cannot be turned into a plan on this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A [`HostFacts`] path is relative (a bug in the caller).
    #[error("host fact `{what}` must be an absolute path, got `{}`", path.display())]
    HostPathNotAbsolute {
        /// Which field.
        what: &'static str,
        /// Its value.
        path: PathBuf,
    },
    /// `~user/...` was given (only `~` and `~/...` expand).
    #[error("`{}`: only `~` and `~/...` are expanded (to your home directory), not `~user`", path.display())]
    UnsupportedTilde {
        /// The path as written.
        path: PathBuf,
    },
    /// A writable root would give the command too much.
    #[error("writable root `{}` {reason}; choose a narrower directory", root.display())]
    WritableRootTooBroad {
        /// The offending root (expanded and normalized).
        root: PathBuf,
        /// Why, in words ("is your home directory").
        reason: String,
    },
    /// A network rule that does not parse (written by a caller that skipped the config parser).
    #[error("network rule {rule:?}: {why}")]
    BadNetworkRule {
        /// The rule as written.
        rule: String,
        /// Why it is refused.
        why: String,
    },
    /// `secrets.allow_read` names something that is not on the default secret list.
    #[error(
        "`{}` in secrets.allow_read is not on the default secret list, so it cannot be allowed; only whole \
         default entries can be removed (see `brig policy explain`)",
        path.display()
    )]
    AllowReadNotDefault {
        /// The entry as written.
        path: PathBuf,
    },
}

/// Builds the enforcement plan for `policy` on `host`.
pub fn plan(policy: &Policy, host: &HostFacts) -> Result<EnforcementPlan, PlanError> {
    for (what, path) in [
        ("home", &host.home),
        ("workspace", &host.workspace),
        ("cwd", &host.cwd),
        ("state_dir", &host.state_dir),
        ("config_dir", &host.config_dir),
    ] {
        if !path.is_absolute() {
            return Err(PlanError::HostPathNotAbsolute {
                what,
                path: path.clone(),
            });
        }
    }
    let workspace = normalize(&host.workspace);
    let cwd = normalize(&host.cwd);

    if policy.mode == Mode::DangerFullAccess {
        return Ok(EnforcementPlan {
            mode: policy.mode,
            network: policy.network,
            network_rules: NetworkPlan::default(),
            writable_roots: vec![filesystem_root(&workspace)],
            workspace,
            cwd,
            protected_names: vec![],
            git: policy.git,
            deny_read: vec![],
            env: host.env.clone(),
            env_removed: vec![],
            audit: audit_plan(policy),
            approvals: approval_settings(policy),
            limits: policy.limits,
        });
    }

    let deny_read = deny_read(policy, host, &workspace)?;

    let mut writable_roots = Vec::new();
    if policy.mode == Mode::WorkspaceWrite {
        writable_roots.push(workspace.clone());
        for w in &policy.writable {
            let root = expand_path(w, &host.home, &workspace)?;
            if !writable_roots.contains(&root) {
                writable_roots.push(root);
            }
        }
        let protected = protected_names(policy);
        for root in &writable_roots {
            check_writable_root(root, host, &deny_read, &protected)?;
        }
    }

    let mut env = filter_env(&host.env, &policy.env_pass, &policy.env_deny);
    // read-only means inspect only: no network, whatever the network setting says.
    let network = if policy.mode == Mode::ReadOnly {
        NetworkMode::Off
    } else {
        policy.network
    };
    let network_rules = if network == NetworkMode::Allowlist {
        set_proxy_env(&mut env.kept);
        network_plan(policy)?
    } else {
        NetworkPlan::default()
    };
    Ok(EnforcementPlan {
        mode: policy.mode,
        network,
        network_rules,
        workspace,
        cwd,
        writable_roots,
        protected_names: protected_names(policy),
        git: policy.git,
        deny_read,
        env: env.kept,
        env_removed: env.removed,
        audit: audit_plan(policy),
        approvals: approval_settings(policy),
        limits: policy.limits,
    })
}

/// The variables that point programs at brig's proxy, and the value of each (`{}` is the
/// proxy's `127.0.0.1:PORT`). Programs that ignore them simply have no route.
pub const PROXY_ENV: &[(&str, &str)] = &[
    ("http_proxy", "http://{}"),
    ("HTTP_PROXY", "http://{}"),
    ("https_proxy", "http://{}"),
    ("HTTPS_PROXY", "http://{}"),
    // socks5h: the proxy resolves names (there is no resolver inside the sandbox).
    ("all_proxy", "socks5h://{}"),
    ("ALL_PROXY", "socks5h://{}"),
    ("no_proxy", "localhost,127.0.0.1,::1"),
    ("NO_PROXY", "localhost,127.0.0.1,::1"),
    ("npm_config_proxy", "http://{}"),
    ("npm_config_https_proxy", "http://{}"),
    ("PIP_PROXY", "http://{}"),
    ("CARGO_HTTP_PROXY", "http://{}"),
    // Node.js 24+ (fetch, http) honours the variables above only with this set.
    ("NODE_USE_ENV_PROXY", "1"),
];

/// Replaces any proxy setting of the host's environment with brig's proxy.
fn set_proxy_env(env: &mut Vec<(std::ffi::OsString, std::ffi::OsString)>) {
    let addr = format!("127.0.0.1:{}", crate::plan::PROXY_PORT);
    env.retain(|(k, _)| {
        !PROXY_ENV
            .iter()
            .any(|(n, _)| k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(n)))
    });
    for (name, value) in PROXY_ENV {
        env.push((name.into(), value.replace("{}", &addr).into()));
    }
}

/// The allowlist: allow rules (presets expanded), deny rules, fixed addresses.
fn network_plan(policy: &Policy) -> Result<NetworkPlan, PlanError> {
    let parse = |r: &str| {
        crate::net::HostRule::parse(r).map_err(|e| PlanError::BadNetworkRule {
            rule: r.to_string(),
            why: e.to_string(),
        })
    };
    let mut rules = crate::net::NetRules::default();
    let mut presets = Vec::new();
    for name in &policy.net_presets {
        let Some(list) = crate::net::preset(name) else {
            return Err(PlanError::BadNetworkRule {
                rule: format!("preset {name}"),
                why: "no such preset".into(),
            });
        };
        presets.push(name.clone());
        for r in list.iter() {
            let r = parse(r)?;
            if !rules.allow.contains(&r) {
                rules.allow.push(r);
            }
        }
    }
    for r in &policy.net_allow {
        let r = parse(r)?;
        if !rules.allow.contains(&r) {
            rules.allow.push(r);
        }
    }
    for r in &policy.net_deny {
        let r = parse(r)?;
        if !rules.deny.contains(&r) {
            rules.deny.push(r);
        }
    }
    Ok(NetworkPlan {
        rules,
        hosts: policy.net_hosts.clone(),
        presets,
    })
}

fn approval_settings(policy: &Policy) -> ApprovalSettings {
    ApprovalSettings {
        policy: policy.approval_policy,
        policy_is_default: policy.approval_policy_from == crate::resolve::FROM_DEFAULT,
        two_approvers: policy.two_approvers,
        timeout_secs: policy.approval_timeout_secs,
    }
}

fn audit_plan(policy: &Policy) -> AuditPlan {
    AuditPlan {
        enabled: policy.audit_enabled,
        files: policy.audit_files,
    }
}

/// Default protected names minus `unprotect` (never `.git` / `.brig*`), plus `protect`.
pub fn protected_names(policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = defaults::PROTECTED_NAMES
        .iter()
        .filter(|n| {
            defaults::NEVER_UNPROTECTED.contains(n)
                || !policy.unprotect.iter().any(|u| u.eq_ignore_ascii_case(n))
        })
        .map(|n| n.to_string())
        .collect();
    for n in &policy.protect {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
            out.push(n.clone());
        }
    }
    out
}

fn deny_read(
    policy: &Policy,
    host: &HostFacts,
    workspace: &Path,
) -> Result<Vec<PathBuf>, PlanError> {
    let home = normalize(&host.home);
    let defaults: Vec<PathBuf> = defaults::SECRET_PATHS
        .iter()
        .map(|p| normalize(&home.join(p)))
        .collect();
    let mut allowed = Vec::new();
    for a in &policy.allow_read {
        let abs = expand_path(a, &home, workspace)?;
        if !defaults.contains(&abs) {
            return Err(PlanError::AllowReadNotDefault { path: a.clone() });
        }
        allowed.push(abs);
    }
    let mut out: Vec<PathBuf> = defaults
        .into_iter()
        .filter(|d| !allowed.contains(d))
        .collect();
    // The same secrets where the environment moved them (XDG base directories, tool-specific
    // variables): hiding `~/.config/gh` is no use when `GH_CONFIG_DIR` says it is elsewhere.
    let env = |name: &str| {
        host.env
            .iter()
            .find(|(k, _)| k.as_os_str() == name)
            .and_then(|(_, v)| v.to_str())
            .filter(|v| !v.is_empty())
    };
    for (var, prefix) in defaults::XDG_RELOCATIONS {
        let Some(base) = env(var).map(Path::new).filter(|b| b.is_absolute()) else {
            continue;
        };
        for p in defaults::SECRET_PATHS {
            if let Some(rest) = p.strip_prefix(prefix) {
                let moved = normalize(&base.join(rest));
                if !allowed.contains(&normalize(&home.join(p))) {
                    out.push(moved);
                }
            }
        }
    }
    for var in defaults::SECRET_LOCATION_VARS {
        let Some(value) = env(var) else { continue };
        // KUBECONFIG is a list.
        for part in value.split(':').map(Path::new).filter(|p| p.is_absolute()) {
            out.push(normalize(part));
        }
    }
    for d in &policy.deny_read {
        out.push(expand_path(d, &home, workspace)?);
    }
    // brig's own secrets: the runtime state (audit log) and the trust store. The user config stays
    // readable so tools can show it; it is still unwritable (outside every writable root).
    out.push(normalize(&host.state_dir));
    out.push(normalize(&host.trust_store_path()));
    // Deduplicate, keeping the first occurrence (a hash set: this runs on every command).
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

fn check_writable_root(
    root: &Path,
    host: &HostFacts,
    deny_read: &[PathBuf],
    protected: &[String],
) -> Result<(), PlanError> {
    let too_broad = |reason: String| {
        Err(PlanError::WritableRootTooBroad {
            root: root.to_path_buf(),
            reason,
        })
    };
    let home = normalize(&host.home);
    let state = normalize(&host.state_dir);
    let config = normalize(&host.config_dir);
    if root.parent().is_none() {
        return too_broad("is the filesystem root".into());
    }
    if root == home {
        return too_broad("is your home directory".into());
    }
    if home.starts_with(root) {
        return too_broad(format!("contains your home directory `{}`", home.display()));
    }
    for (dir, what) in [
        (&state, "brig's state directory"),
        (&config, "brig's config directory"),
    ] {
        if root == dir.as_path() {
            return too_broad(format!("is {what}"));
        }
        if root.starts_with(dir) {
            return too_broad(format!("is inside {what} `{}`", dir.display()));
        }
        if dir.starts_with(root) {
            return too_broad(format!("contains {what} `{}`", dir.display()));
        }
    }
    // A root that is, or is inside, a protected entry (`repo/.git`, `.vscode/x`) would make
    // that entry writable: protection applies inside roots, not to the roots themselves.
    if let Some(c) = root.components().find(|c| {
        let name = c.as_os_str().to_string_lossy();
        crate::plan::name_matches(protected, &name)
    }) {
        return too_broad(format!(
            "is or is inside the protected entry `{}`",
            c.as_os_str().to_string_lossy()
        ));
    }
    if let Some(secret) = deny_read.iter().find(|s| root.starts_with(s)) {
        return too_broad(format!(
            "is inside the hidden secret path `{}`",
            secret.display()
        ));
    }
    Ok(())
}

/// Expands `~` / `~/...` to `home`, makes a relative path absolute against `base`, and
/// normalizes the result lexically.
pub fn expand_path(path: &Path, home: &Path, base: &Path) -> Result<PathBuf, PlanError> {
    let mut comps = path.components();
    let abs = match comps.next() {
        Some(Component::Normal(first)) if first == "~" => home.join(comps.as_path()),
        Some(Component::Normal(first)) if first.to_string_lossy().starts_with('~') => {
            return Err(PlanError::UnsupportedTilde {
                path: path.to_path_buf(),
            })
        }
        _ if path.is_absolute() => path.to_path_buf(),
        _ => base.join(path),
    };
    Ok(normalize(&abs))
}

/// Removes `.` components and resolves `..` against the preceding component, without touching the
/// filesystem. `..` at the root stays at the root.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn filesystem_root(path: &Path) -> PathBuf {
    path.ancestors()
        .last()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::plan::{GitAccess, NetworkMode};

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn host() -> HostFacts {
        HostFacts {
            home: p("/home/u"),
            workspace: p("/home/u/proj"),
            cwd: p("/home/u/proj/sub"),
            env: vec![
                (OsString::from("PATH"), OsString::from("/usr/bin")),
                (OsString::from("GITHUB_TOKEN"), OsString::from("ghp_x")),
                (OsString::from("HOME"), OsString::from("/home/u")),
            ],
            state_dir: p("/home/u/.local/state/brig"),
            config_dir: p("/home/u/.config/brig"),
        }
    }

    fn default_secrets(home: &str) -> Vec<PathBuf> {
        defaults::SECRET_PATHS
            .iter()
            .map(|s| Path::new(home).join(s))
            .collect()
    }

    fn default_protected() -> Vec<String> {
        strs(defaults::PROTECTED_NAMES)
    }

    #[test]
    fn default_policy_plan() {
        let mut deny = default_secrets("/home/u");
        deny.extend(paths(&[
            "/home/u/.local/state/brig",
            "/home/u/.config/brig/trusted.toml",
        ]));
        let expected = EnforcementPlan {
            mode: Mode::WorkspaceWrite,
            network: NetworkMode::Off,
            network_rules: NetworkPlan::default(),
            workspace: p("/home/u/proj"),
            cwd: p("/home/u/proj/sub"),
            writable_roots: paths(&["/home/u/proj"]),
            protected_names: default_protected(),
            git: GitAccess::ReadOnly,
            deny_read: deny,
            env: vec![
                (OsString::from("PATH"), OsString::from("/usr/bin")),
                (OsString::from("HOME"), OsString::from("/home/u")),
            ],
            env_removed: strs(&["GITHUB_TOKEN"]),
            audit: crate::plan::AuditPlan {
                enabled: true,
                files: crate::plan::AuditFiles::Changes,
            },
            approvals: crate::plan::ApprovalSettings {
                policy: crate::plan::ApprovalPolicy::OnRequest,
                policy_is_default: true,
                two_approvers: false,
                timeout_secs: 300,
            },
            limits: crate::plan::LimitSettings::default(),
        };
        assert_eq!(plan(&Policy::default(), &host()).unwrap(), expected);
    }

    #[test]
    fn read_only_has_no_writable_roots_but_keeps_the_rest() {
        let policy = Policy {
            mode: Mode::ReadOnly,
            writable: paths(&["/data"]),
            ..Policy::default()
        };
        let got = plan(&policy, &host()).unwrap();
        let default = plan(&Policy::default(), &host()).unwrap();
        assert_eq!(
            got,
            EnforcementPlan {
                mode: Mode::ReadOnly,
                writable_roots: vec![],
                ..default
            }
        );
    }

    #[test]
    fn secrets_follow_the_variables_that_move_them() {
        let mut h = host();
        h.env.push(("XDG_CONFIG_HOME".into(), "/home/u/cfg".into()));
        h.env
            .push(("KUBECONFIG".into(), "/k/one:/k/two:relative".into()));
        h.env.push(("GNUPGHOME".into(), "/g".into()));
        let deny = plan(&Policy::default(), &h).unwrap().deny_read;
        for p in [
            "/home/u/cfg/gh",
            "/home/u/cfg/gcloud",
            "/k/one",
            "/k/two",
            "/g",
            "/home/u/.config/gh",
        ] {
            assert!(deny.contains(&PathBuf::from(p)), "{p} not hidden");
        }
        assert!(!deny.iter().any(|d| d.ends_with("relative")));
    }

    #[test]
    fn read_only_means_network_off_even_when_asked_for() {
        let policy = Policy {
            mode: Mode::ReadOnly,
            network: NetworkMode::On,
            ..Policy::default()
        };
        assert_eq!(plan(&policy, &host()).unwrap().network, NetworkMode::Off);
        let ww = Policy {
            network: NetworkMode::On,
            ..Policy::default()
        };
        assert_eq!(plan(&ww, &host()).unwrap().network, NetworkMode::On);
    }

    #[test]
    fn read_only_allows_running_in_home() {
        let h = HostFacts {
            workspace: p("/home/u"),
            cwd: p("/home/u"),
            ..host()
        };
        let policy = Policy {
            mode: Mode::ReadOnly,
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy, &h).unwrap().writable_roots,
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn extra_roots_are_expanded_normalized_and_deduplicated() {
        let policy = Policy {
            writable: paths(&[
                "~/scratch",
                "/data/out/",
                "../sibling/./x",
                "/data/out",
                "build/../gen",
                "/home/u/proj",
            ]),
            ..Policy::default()
        };
        let got = plan(&policy, &host()).unwrap();
        assert_eq!(
            got.writable_roots,
            paths(&[
                "/home/u/proj",
                "/home/u/scratch",
                "/data/out",
                "/home/u/sibling/x",
                "/home/u/proj/gen"
            ])
        );
    }

    #[test]
    fn too_broad_roots_are_refused_by_name() {
        let cases: &[(&str, &str, &str)] = &[
            ("/", "/", "is the filesystem root"),
            ("/../..", "/", "is the filesystem root"),
            ("~", "/home/u", "is your home directory"),
            ("~/", "/home/u", "is your home directory"),
            ("/home", "/home", "contains your home directory `/home/u`"),
            (
                "~/.local",
                "/home/u/.local",
                "contains brig's state directory `/home/u/.local/state/brig`",
            ),
            (
                "~/.config",
                "/home/u/.config",
                "contains brig's config directory `/home/u/.config/brig`",
            ),
            (
                "~/.config/brig/x",
                "/home/u/.config/brig/x",
                "is inside brig's config directory `/home/u/.config/brig`",
            ),
            (
                "~/.local/state/brig",
                "/home/u/.local/state/brig",
                "is brig's state directory",
            ),
            (
                "~/.config/brig",
                "/home/u/.config/brig",
                "is brig's config directory",
            ),
            (
                "~/.ssh",
                "/home/u/.ssh",
                "is inside the hidden secret path `/home/u/.ssh`",
            ),
            (
                "~/.aws/sso",
                "/home/u/.aws/sso",
                "is inside the hidden secret path `/home/u/.aws`",
            ),
        ];
        for (w, root, reason) in cases {
            let policy = Policy {
                writable: paths(&[w]),
                ..Policy::default()
            };
            assert_eq!(
                plan(&policy, &host()).unwrap_err(),
                PlanError::WritableRootTooBroad {
                    root: p(root),
                    reason: reason.to_string()
                },
                "{w}"
            );
        }
        let e = PlanError::WritableRootTooBroad {
            root: p("/home/u"),
            reason: "is your home directory".into(),
        };
        assert_eq!(
            e.to_string(),
            "writable root `/home/u` is your home directory; choose a narrower directory"
        );
    }

    #[test]
    fn the_workspace_itself_is_checked() {
        let h = HostFacts {
            workspace: p("/home/u"),
            cwd: p("/home/u"),
            ..host()
        };
        assert_eq!(
            plan(&Policy::default(), &h).unwrap_err(),
            PlanError::WritableRootTooBroad {
                root: p("/home/u"),
                reason: "is your home directory".into()
            }
        );
    }

    #[test]
    fn secrets_are_defaults_minus_allowed_plus_added() {
        let policy = Policy {
            allow_read: paths(&["~/.npmrc", "/home/u/.pypirc"]),
            deny_read: paths(&["~/.config/mytool", "secrets.env", "~/.ssh"]),
            ..Policy::default()
        };
        let got = plan(&policy, &host()).unwrap();
        let mut want: Vec<PathBuf> = default_secrets("/home/u")
            .into_iter()
            .filter(|s| s != Path::new("/home/u/.npmrc") && s != Path::new("/home/u/.pypirc"))
            .collect();
        want.extend(paths(&[
            "/home/u/.config/mytool",
            "/home/u/proj/secrets.env",
            "/home/u/.local/state/brig",
            "/home/u/.config/brig/trusted.toml",
        ]));
        assert_eq!(got.deny_read, want);
    }

    #[test]
    fn an_explicit_deny_beats_an_allow() {
        let policy = Policy {
            allow_read: paths(&["~/.npmrc"]),
            deny_read: paths(&["~/.npmrc"]),
            ..Policy::default()
        };
        let got = plan(&policy, &host()).unwrap();
        assert_eq!(
            got.deny_read
                .iter()
                .filter(|d| d == &Path::new("/home/u/.npmrc"))
                .count(),
            1
        );
    }

    #[test]
    fn allow_read_must_name_a_default_entry() {
        let policy = Policy {
            allow_read: paths(&["~/.ssh/known_hosts"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy, &host()).unwrap_err(),
            PlanError::AllowReadNotDefault {
                path: p("~/.ssh/known_hosts")
            }
        );
    }

    #[test]
    fn protected_names_follow_protect_and_unprotect() {
        let policy = Policy {
            protect: strs(&[".tool-config", ".VSCODE", ".gen*"]),
            unprotect: strs(&[".IDEA", ".husky", ".git", ".brig*"]),
            ..Policy::default()
        };
        let mut want: Vec<String> = default_protected()
            .into_iter()
            .filter(|n| n != ".idea" && n != ".husky")
            .collect();
        want.extend(strs(&[".tool-config", ".gen*"]));
        assert_eq!(plan(&policy, &host()).unwrap().protected_names, want);
    }

    #[test]
    fn env_pass_and_deny_reach_the_plan() {
        let policy = Policy {
            env_pass: strs(&["GITHUB_TOKEN"]),
            env_deny: strs(&["PATH"]),
            ..Policy::default()
        };
        let got = plan(&policy, &host()).unwrap();
        assert_eq!(
            (got.env, got.env_removed),
            (
                vec![
                    (OsString::from("GITHUB_TOKEN"), OsString::from("ghp_x")),
                    (OsString::from("HOME"), OsString::from("/home/u")),
                ],
                strs(&["PATH"])
            )
        );
    }

    #[test]
    fn danger_mode_confines_nothing() {
        let policy = Policy {
            mode: Mode::DangerFullAccess,
            danger_acknowledged: true,
            network: NetworkMode::On,
            deny_read: paths(&["~/x"]),
            ..Policy::default()
        };
        let h = HostFacts {
            workspace: p("/home/u"),
            ..host()
        };
        let expected = EnforcementPlan {
            mode: Mode::DangerFullAccess,
            network: NetworkMode::On,
            network_rules: NetworkPlan::default(),
            workspace: p("/home/u"),
            cwd: p("/home/u/proj/sub"),
            writable_roots: paths(&["/"]),
            protected_names: vec![],
            git: GitAccess::ReadOnly,
            deny_read: vec![],
            env: h.env.clone(),
            env_removed: vec![],
            audit: crate::plan::AuditPlan {
                enabled: true,
                files: crate::plan::AuditFiles::Changes,
            },
            approvals: crate::plan::ApprovalSettings {
                policy: crate::plan::ApprovalPolicy::OnRequest,
                policy_is_default: true,
                two_approvers: false,
                timeout_secs: 300,
            },
            limits: crate::plan::LimitSettings::default(),
        };
        assert_eq!(plan(&policy, &h).unwrap(), expected);
    }

    #[test]
    fn host_paths_must_be_absolute() {
        let h = HostFacts {
            state_dir: p("state"),
            ..host()
        };
        assert_eq!(
            plan(&Policy::default(), &h).unwrap_err(),
            PlanError::HostPathNotAbsolute {
                what: "state_dir",
                path: p("state")
            }
        );
    }

    #[test]
    fn tilde_user_is_refused() {
        let policy = Policy {
            writable: paths(&["~bob/x"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy, &host()).unwrap_err(),
            PlanError::UnsupportedTilde { path: p("~bob/x") }
        );
    }

    #[test]
    fn lexical_normalization() {
        for (input, want) in [
            ("/a/./b/../c", "/a/c"),
            ("/../a", "/a"),
            ("/a/b/../../..", "/"),
            ("a/../../b", "../b"),
            ("/a//b/", "/a/b"),
        ] {
            assert_eq!(normalize(Path::new(input)), p(want), "{input}");
        }
        assert_eq!(
            expand_path(Path::new("~"), Path::new("/h"), Path::new("/w")).unwrap(),
            p("/h")
        );
        assert_eq!(
            expand_path(Path::new("~/a/../b"), Path::new("/h"), Path::new("/w")).unwrap(),
            p("/h/b")
        );
        assert_eq!(
            expand_path(Path::new("x"), Path::new("/h"), Path::new("/w")).unwrap(),
            p("/w/x")
        );
        assert_eq!(
            expand_path(Path::new("/abs"), Path::new("/h"), Path::new("/w")).unwrap(),
            p("/abs")
        );
    }
}
