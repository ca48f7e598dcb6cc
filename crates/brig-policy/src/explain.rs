//! `brig policy explain`: the effective policy for a directory, in words.
//!
//! The report is built only from the resolved [`Policy`] and the [`EnforcementPlan`] the backend
//! would receive, so what it says is what will be enforced. It is deterministic (same inputs, same
//! bytes) so it can be golden-tested and diffed. Environment *values* never appear, only names.

use std::fmt::Write as _;

use crate::plan::{
    AuditFiles, EnforcementPlan, GitAccess, Mode, NetworkMode, GIT_ALWAYS_PROTECTED,
};
use crate::resolve::Policy;

/// Width of the label column.
const W: usize = 20;

/// Renders the report. `sources` are the contributing layers (see [`crate::Layers::sources`]).
pub fn explain(policy: &Policy, plan: &EnforcementPlan, sources: &[String]) -> String {
    let mut out = String::new();

    line(
        &mut out,
        "workspace:",
        &plan.workspace.display().to_string(),
    );
    let mode_note = match plan.mode {
        Mode::ReadOnly => "nothing writable except a private temp dir",
        Mode::WorkspaceWrite => "the workspace and the roots below are writable",
        Mode::DangerFullAccess => "NO SANDBOX: everything the user can do, the command can do",
    };
    line(
        &mut out,
        "mode:",
        &format!(
            "{} ({mode_note}; from {})",
            plan.mode.as_str(),
            policy.mode_from
        ),
    );
    let net_note = match plan.network {
        NetworkMode::Off => "no network, loopback only",
        NetworkMode::Allowlist => "only through brig's proxy, to the hosts allowed below",
        NetworkMode::On => "the host's network",
    };
    line(
        &mut out,
        "network:",
        &format!(
            "{} ({net_note}; from {})",
            plan.network.as_str(),
            policy.network_from
        ),
    );
    if plan.network == NetworkMode::Allowlist {
        let net = &plan.network_rules;
        let mut allow: Vec<String> = net.rules.allow.iter().map(|r| r.to_string()).collect();
        if allow.is_empty() {
            allow.push("(nothing: an empty allowlist allows no host)".into());
        }
        if !net.presets.is_empty() {
            allow.push(format!("(presets: {})", net.presets.join(", ")));
        }
        list(&mut out, "network allow:", &allow);
        let deny: Vec<String> = net.rules.deny.iter().map(|r| r.to_string()).collect();
        if !deny.is_empty() {
            list(&mut out, "network deny:", &deny);
        }
        let hosts: Vec<String> = net
            .hosts
            .iter()
            .map(|(n, ip)| format!("{n} = {ip}"))
            .collect();
        if !hosts.is_empty() {
            list(&mut out, "network hosts:", &hosts);
        }
    }

    let audit = if !plan.audit.enabled {
        "off (no audit trail: turned off in your own configuration, user config or --config)"
            .to_string()
    } else if plan.mode == Mode::DangerFullAccess {
        "commands only (no sandbox, so no file or exec events)".to_string()
    } else {
        let files = match plan.audit.files {
            AuditFiles::Off => "no file events",
            AuditFiles::Changes => "file changes and refusals",
            AuditFiles::All => "file changes, reads and refusals",
        };
        format!(
            "files = {} (commands, execs, refused syscalls, {files})",
            plan.audit.files.as_str()
        )
    };
    line(&mut out, "audit:", &audit);

    let mut roots: Vec<String> = plan
        .writable_roots
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if plan.mode != Mode::DangerFullAccess {
        roots.push("(a private temp dir, as $TMPDIR)".into());
    }
    list(&mut out, "writable roots:", &roots);

    if plan.mode == Mode::DangerFullAccess {
        line(&mut out, "git:", "unrestricted");
        line(&mut out, "protected names:", "none (no sandbox)");
        line(&mut out, "secrets hidden:", "none (no sandbox)");
        line(&mut out, "env removed:", "none (no sandbox)");
    } else {
        let git = match plan.git {
            GitAccess::ReadOnly => "read-only (every .git at any depth)".to_string(),
            GitAccess::LocalCommit => {
                format!(
                    "local commits allowed; still read-only: {}",
                    GIT_ALWAYS_PROTECTED.join(", ")
                )
            }
        };
        line(&mut out, "git:", &git);
        let protected = if plan.protected_names.is_empty() {
            "none".to_string()
        } else {
            format!(
                "{} (read-only at any depth in the writable roots)",
                plan.protected_names.join(", ")
            )
        };
        line(&mut out, "protected names:", &protected);
        let hidden: Vec<String> = plan
            .deny_read
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        list(
            &mut out,
            &format!("secrets hidden ({}):", hidden.len()),
            &hidden,
        );
        let removed = if plan.env_removed.is_empty() {
            "none".to_string()
        } else {
            plan.env_removed.join(", ")
        };
        line(&mut out, "env removed:", &removed);
    }
    list(&mut out, "config sources:", sources);
    out
}

fn line(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{label:<W$}{value}");
}

fn list(out: &mut String, label: &str, items: &[String]) {
    if items.is_empty() {
        let _ = writeln!(out, "{label:<W$}none");
        return;
    }
    for (i, item) in items.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        let _ = writeln!(out, "{label:<W$}{item}");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::path::PathBuf;

    fn plan_for(mode: Mode) -> EnforcementPlan {
        EnforcementPlan {
            mode,
            network: NetworkMode::Off,
            network_rules: Default::default(),
            workspace: PathBuf::from("/w"),
            cwd: PathBuf::from("/w"),
            writable_roots: if mode == Mode::ReadOnly {
                vec![]
            } else {
                vec![PathBuf::from("/w"), PathBuf::from("/data")]
            },
            protected_names: vec![".git".into(), ".brig*".into()],
            git: GitAccess::LocalCommit,
            deny_read: vec![PathBuf::from("/h/.ssh"), PathBuf::from("/h/.aws")],
            env: vec![(OsString::from("PATH"), OsString::from("/bin"))],
            env_removed: vec!["AWS_SECRET_ACCESS_KEY".into(), "GH_TOKEN".into()],
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
        }
    }

    #[test]
    fn workspace_write_report() {
        let policy = Policy {
            mode_from: "/h/.config/brig/config.toml".into(),
            ..Policy::default()
        };
        let got = explain(
            &policy,
            &plan_for(Mode::WorkspaceWrite),
            &[
                "default".into(),
                "/h/.config/brig/config.toml (user)".into(),
            ],
        );
        let want = "\
workspace:          /w
mode:               workspace-write (the workspace and the roots below are writable; from /h/.config/brig/config.toml)
network:            off (no network, loopback only; from default)
audit:              files = changes (commands, execs, refused syscalls, file changes and refusals)
writable roots:     /w
                    /data
                    (a private temp dir, as $TMPDIR)
git:                local commits allowed; still read-only: config, config.worktree, hooks, info, commondir, gitdir, modules
protected names:    .git, .brig* (read-only at any depth in the writable roots)
secrets hidden (2): /h/.ssh
                    /h/.aws
env removed:        AWS_SECRET_ACCESS_KEY, GH_TOKEN
config sources:     default
                    /h/.config/brig/config.toml (user)
";
        assert_eq!(got, want);
    }

    #[test]
    fn read_only_and_danger_reports() {
        let mut plan = plan_for(Mode::ReadOnly);
        plan.git = GitAccess::ReadOnly;
        plan.env_removed.clear();
        let got = explain(
            &Policy {
                mode: Mode::ReadOnly,
                ..Policy::default()
            },
            &plan,
            &[],
        );
        let want = "\
workspace:          /w
mode:               read-only (nothing writable except a private temp dir; from default)
network:            off (no network, loopback only; from default)
audit:              files = changes (commands, execs, refused syscalls, file changes and refusals)
writable roots:     (a private temp dir, as $TMPDIR)
git:                read-only (every .git at any depth)
protected names:    .git, .brig* (read-only at any depth in the writable roots)
secrets hidden (2): /h/.ssh
                    /h/.aws
env removed:        none
config sources:     none
";
        assert_eq!(got, want);

        let mut danger = plan_for(Mode::DangerFullAccess);
        danger.writable_roots = vec![PathBuf::from("/")];
        danger.network = NetworkMode::On;
        let policy = Policy {
            mode: Mode::DangerFullAccess,
            mode_from: "command line".into(),
            ..Policy::default()
        };
        let got = explain(&policy, &danger, &["command line".into()]);
        let want = "\
workspace:          /w
mode:               danger-full-access (NO SANDBOX: everything the user can do, the command can do; from command line)
network:            on (the host's network; from default)
audit:              commands only (no sandbox, so no file or exec events)
writable roots:     /
git:                unrestricted
protected names:    none (no sandbox)
secrets hidden:     none (no sandbox)
env removed:        none (no sandbox)
config sources:     command line
";
        assert_eq!(got, want);
    }

    #[test]
    fn deterministic() {
        let p = Policy::default();
        let plan = plan_for(Mode::WorkspaceWrite);
        assert_eq!(
            explain(&p, &plan, &["a".into()]),
            explain(&p, &plan, &["a".into()])
        );
    }
}
