//! From config text to the plan and the explain report, through the public API only.
#![cfg(unix)]

use std::ffi::OsString;
use std::path::PathBuf;

use brig_policy::{
    explain, is_trusted, parse_config, plan, resolve, trust, CliOverrides, EnforcementPlan,
    GitAccess, HostFacts, Layers, Mode, NetworkMode, ProjectConfig, ResolveError, TrustStore,
};

const USER: &str = r#"
mode = "workspace-write"
writable = ["~/scratch"]
[secrets]
allow_read = ["~/.npmrc"]
[env]
pass = ["MY_API_TOKEN"]
"#;

const PROJECT: &str = r#"
network = "off"
[git]
allow_local_commit = true
"#;

fn host() -> HostFacts {
    let env = [
        ("PATH", "/usr/bin"),
        ("MY_API_TOKEN", "t"),
        ("AWS_ACCESS_KEY_ID", "a"),
        ("TMPDIR", "/tmp"),
    ];
    HostFacts {
        home: "/home/u".into(),
        workspace: "/home/u/proj".into(),
        cwd: "/home/u/proj".into(),
        env: env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect(),
        state_dir: "/home/u/.local/state/brig".into(),
        config_dir: "/home/u/.config/brig".into(),
    }
}

fn layers(trusted: bool) -> Layers {
    Layers {
        user: Some(parse_config("~/.config/brig/config.toml", USER).unwrap()),
        explicit: None,
        project: Some(ProjectConfig {
            file: parse_config("/home/u/proj/.brig.toml", PROJECT).unwrap(),
            trusted,
        }),
        cli: CliOverrides {
            writable: vec![PathBuf::from("/data/out")],
            ..Default::default()
        },
    }
}

#[test]
fn untrusted_project_that_loosens_is_refused_with_its_position() {
    let err = resolve(&layers(false)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/home/u/proj/.brig.toml:4:1: `git.allow_local_commit` loosens the policy; an untrusted project file may only \
         tighten it (trust it with `brig trust DIR`)"
    );
    assert!(matches!(err, ResolveError::NotAllowed(_)));
}

#[test]
fn trusting_the_file_makes_it_count_until_it_changes() {
    let ws = host().workspace;
    let store = trust(TrustStore::default(), &ws, PROJECT.as_bytes()).unwrap();
    assert!(is_trusted(&store, &ws, PROJECT.as_bytes()));
    assert!(!is_trusted(
        &store,
        &ws,
        format!("{PROJECT}\nwritable = [\"/\"]").as_bytes()
    ));

    let layers = layers(is_trusted(&store, &ws, PROJECT.as_bytes()));
    let policy = resolve(&layers).unwrap();
    let plan = plan(&policy, &host()).unwrap();

    let mut deny: Vec<PathBuf> = brig_policy::defaults::SECRET_PATHS
        .iter()
        .filter(|p| **p != ".npmrc")
        .map(|p| PathBuf::from("/home/u").join(p))
        .collect();
    deny.push("/home/u/.local/state/brig".into());
    deny.push("/home/u/.config/brig/trusted.toml".into());
    let expected = EnforcementPlan {
        mode: Mode::WorkspaceWrite,
        network: NetworkMode::Off,
        network_rules: Default::default(),
        workspace: "/home/u/proj".into(),
        cwd: "/home/u/proj".into(),
        writable_roots: vec![
            "/home/u/proj".into(),
            "/home/u/scratch".into(),
            "/data/out".into(),
        ],
        protected_names: brig_policy::defaults::PROTECTED_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        git: GitAccess::LocalCommit,
        deny_read: deny,
        env: vec![
            (OsString::from("PATH"), OsString::from("/usr/bin")),
            (OsString::from("MY_API_TOKEN"), OsString::from("t")),
        ],
        env_removed: vec!["AWS_ACCESS_KEY_ID".into()],
        audit: brig_policy::AuditPlan {
            enabled: true,
            files: brig_policy::AuditFiles::Changes,
        },
        approvals: brig_policy::ApprovalSettings {
            policy: brig_policy::ApprovalPolicy::OnRequest,
            policy_is_default: true,
            two_approvers: false,
            timeout_secs: 300,
        },
        limits: brig_policy::LimitSettings::default(),
    };
    assert_eq!(plan, expected);

    let report = explain(&policy, &plan, &layers.sources());
    let head: Vec<&str> = report.lines().take(8).collect();
    assert_eq!(
        head,
        vec![
            "workspace:          /home/u/proj",
            "mode:               workspace-write (the workspace and the roots below are writable; from ~/.config/brig/config.toml)",
            "network:            off (no network, loopback only; from /home/u/proj/.brig.toml)",
            "audit:              files = changes (commands, execs, refused syscalls, file changes and refusals)",
            "writable roots:     /home/u/proj",
            "                    /home/u/scratch",
            "                    /data/out",
            "                    (a private temp dir, as $TMPDIR)",
        ]
    );
    let tail: Vec<&str> = report
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(
        tail,
        vec![
            "env removed:        AWS_ACCESS_KEY_ID",
            "config sources:     default",
            "                    ~/.config/brig/config.toml (user)",
            "                    /home/u/proj/.brig.toml (project, trusted)",
            "                    command line",
        ]
    );
    assert!(
        !report.contains("MY_API_TOKEN=") && !report.contains("/usr/bin"),
        "values must never be shown"
    );
}

#[test]
fn policy_serializes_for_explain_json() {
    let policy = resolve(&Layers::default()).unwrap();
    let json = serde_json::to_value(&policy).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "mode": "workspace-write", "mode_from": "default",
            "audit_enabled": true, "audit_files": "changes",
            "approval_policy": "on-request", "approval_policy_from": "default", "approval_timeout_secs": 300, "two_approvers": false,
            "limits": {"cpu_millis": null, "file_size": null, "memory": null, "output": null, "processes": null, "shm_size": null, "timeout": null, "tmp_size": null,
                "from_untrusted_project": {"cpus": false, "file_size": false, "memory": false, "processes": false, "shm_size": false, "timeout": false, "tmp_size": false}},
            "network": "off", "network_from": "default",
            "net_allow": [], "net_deny": [], "net_presets": [], "net_hosts": [],
            "git": "read-only",
            "writable": [], "deny_read": [], "allow_read": [],
            "env_pass": [], "env_deny": [], "protect": [], "unprotect": [],
            "danger_acknowledged": false
        })
    );
}

#[test]
fn parser_never_panics_on_truncated_input() {
    let text = format!("{USER}{PROJECT}[protect]\nnames = [\"ünï*\"]\n# é\n");
    for end in 0..=text.len() {
        if let Some(prefix) = text.get(..end) {
            let _ = parse_config("t.toml", prefix);
            let _ = brig_policy::parse_trust_store("t.toml", prefix);
        }
    }
}
