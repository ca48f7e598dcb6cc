use std::path::PathBuf;
use std::time::Duration;

use brig_policy::{
    ApprovalPolicy, ApprovalSettings, AuditFiles, AuditPlan, GitAccess, LimitSettings, NetworkPlan,
};
use brig_sandbox::{Limit, Limits};

use super::*;
use crate::acl::ObservedAce;
use crate::setup::{filters_for, InstalledFilter};

const USER: &str = "S-1-5-21-1111-2222-3333-1001";

fn p(s: &str) -> WinPath {
    WinPath::parse(s).unwrap()
}

fn dir(s: &str) -> WalkEntry {
    WalkEntry {
        path: p(s),
        is_dir: true,
        reparse_point: false,
    }
}

fn file(s: &str) -> WalkEntry {
    WalkEntry {
        path: p(s),
        is_dir: false,
        reparse_point: false,
    }
}

fn policy(mode: Mode, network: NetworkMode) -> EnforcementPlan {
    let writable_roots = match mode {
        Mode::WorkspaceWrite => vec![PathBuf::from(r"C:\w"), PathBuf::from(r"D:\extra")],
        _ => vec![],
    };
    EnforcementPlan {
        mode,
        network,
        network_rules: NetworkPlan::default(),
        workspace: PathBuf::from(r"C:\w"),
        cwd: PathBuf::from(r"C:\w\src"),
        writable_roots,
        protected_names: vec![".git".into(), ".vscode".into(), ".brig*".into()],
        git: GitAccess::ReadOnly,
        deny_read: vec![
            PathBuf::from(r"C:\Users\me\.ssh"),
            PathBuf::from(r"C:\Users\me\.aws"),
        ],
        env: vec![],
        env_removed: vec![],
        audit: AuditPlan {
            enabled: true,
            files: AuditFiles::Changes,
        },
        approvals: ApprovalSettings {
            policy: ApprovalPolicy::OnRequest,
            policy_is_default: true,
            two_approvers: false,
            timeout_secs: 60,
        },
        limits: LimitSettings::default(),
    }
}

fn record() -> SetupRecord {
    let accounts: Vec<SandboxAccount> = AccountRole::ALL
        .iter()
        .enumerate()
        .map(|(i, role)| SandboxAccount {
            role: *role,
            name: role.account_name().into(),
            sid: Sid::parse(&format!("S-1-5-21-7-8-9-{}", 2001 + i)).unwrap(),
        })
        .collect();
    let filters = accounts
        .iter()
        .flat_map(filters_for)
        .enumerate()
        .map(|(i, spec)| InstalledFilter {
            key: format!("{{f-{i}}}"),
            spec,
        })
        .collect();
    SetupRecord {
        version: 1,
        installation_key: "install-key".into(),
        wfp_provider: "{p}".into(),
        wfp_sublayer: "{s}".into(),
        accounts,
        filters,
        aces: vec![],
        dirs: vec![],
    }
}

fn host(setup: bool) -> WindowsHost {
    WindowsHost {
        user_sid: USER.into(),
        setup: setup.then(record),
        state_dir: p(r"C:\Users\me\AppData\Local\brig"),
        logical_cpus: 8,
        limits: Limits::default(),
        roots: vec![dir(r"C:\w"), dir(r"D:\extra")],
        walked: vec![],
        secrets: vec![],
        acls: AclState::default(),
    }
}

fn account(role: AccountRole) -> Sid {
    record().account(role).unwrap().sid.clone()
}

fn denies(plan: &WindowsPlan) -> Vec<(String, u32)> {
    plan.aces
        .iter()
        .filter(|a| a.kind == AceKind::Deny)
        .map(|a| (a.path.to_string(), a.mask))
        .collect()
}

fn grants(plan: &WindowsPlan, sid: &Sid) -> Vec<(String, u32)> {
    plan.aces
        .iter()
        .filter(|a| a.kind == AceKind::Allow && &a.sid == sid)
        .map(|a| (a.path.to_string(), a.mask))
        .collect()
}

fn cap(plan: &WindowsPlan) -> Sid {
    plan.token.as_ref().unwrap().capability_sid.clone()
}

fn temp(plan: &WindowsPlan) -> String {
    plan.temp_root.as_ref().unwrap().to_string()
}

// --- modes --------------------------------------------------------------------------------

#[test]
fn workspace_write_grants_the_roots_and_temp_to_the_capability_sid_and_the_account() {
    let plan = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &host(true)).unwrap();
    let c = cap(&plan);
    let mut want = vec![
        (temp(&plan), mask::WRITABLE),
        (r"C:\w".to_string(), mask::WRITABLE),
        (r"D:\extra".to_string(), mask::WRITABLE),
    ];
    want.sort();
    assert_eq!(grants(&plan, &c), want);
    assert_eq!(grants(&plan, &account(AccountRole::Offline)), want);
    assert!(plan
        .aces
        .iter()
        .all(|a| a.inherit == Inherit::ObjectAndContainer));
    assert!(temp(&plan).starts_with(r"C:\Users\me\AppData\Local\brig\tmp\"));
    assert!(plan.guard.is_some());
    assert_eq!(plan.cwd, p(r"C:\w\src"));
    let token = plan.token.unwrap();
    assert_eq!(token.restricting_sids, vec![c.clone()]);
    assert!(token.write_restricted && token.disable_max_privilege && token.lua_token);
    assert_eq!(token.deny_only, vec![Sid::parse("S-1-5-32-544").unwrap()]);
    assert_eq!(
        token.base,
        TokenBase::Account(record().account(AccountRole::Offline).unwrap().clone())
    );
}

#[test]
fn read_only_grants_only_the_private_temp_and_a_read_of_the_workspace() {
    let plan = windows_plan(&policy(Mode::ReadOnly, NetworkMode::Off), &host(true)).unwrap();
    let c = cap(&plan);
    assert_eq!(grants(&plan, &c), vec![(temp(&plan), mask::WRITABLE)]);
    let mut want = vec![
        (temp(&plan), mask::WRITABLE),
        (r"C:\w".to_string(), mask::READABLE),
    ];
    want.sort();
    assert_eq!(grants(&plan, &account(AccountRole::Offline)), want);
    assert!(plan.guard.is_none());
    assert!(denies(&plan).is_empty());
}

#[test]
fn read_only_ignores_protected_entries_nothing_is_writable_there() {
    let mut h = host(true);
    h.walked = vec![dir(r"C:\w\.git")];
    let plan = windows_plan(&policy(Mode::ReadOnly, NetworkMode::Off), &h).unwrap();
    assert!(denies(&plan).is_empty());
}

#[test]
fn danger_full_access_has_no_token_no_acl_and_keeps_the_job() {
    let mut h = host(false);
    h.limits = Limits {
        memory_bytes: Some(Limit::explicit(1 << 30)),
        ..Limits::default()
    };
    let plan = windows_plan(&policy(Mode::DangerFullAccess, NetworkMode::On), &h).unwrap();
    assert_eq!(plan.token, None);
    assert!(plan.aces.is_empty() && plan.delta.is_empty());
    assert_eq!(plan.network, NetworkEnforcement::Unfiltered);
    assert_eq!(plan.job.job_memory_bytes, Some(1 << 30));
    assert!(plan.job.kill_on_close);
    assert!(plan.weaker[0].contains("no confinement"));
}

#[test]
fn the_capability_sid_is_per_workspace_and_mode_and_stable() {
    let a = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &host(true)).unwrap();
    let again = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::On), &host(true)).unwrap();
    assert_eq!(cap(&a), cap(&again));
    // Alternating modes does not make either undo the other's grants.
    let b = windows_plan(&policy(Mode::ReadOnly, NetworkMode::Off), &host(true)).unwrap();
    assert_ne!(cap(&a), cap(&b));
    let mut other = policy(Mode::WorkspaceWrite, NetworkMode::Off);
    other.workspace = PathBuf::from(r"C:\w2");
    other.writable_roots = vec![PathBuf::from(r"C:\w2")];
    let mut h = host(true);
    h.roots = vec![dir(r"C:\w2")];
    let c = windows_plan(&other, &h).unwrap();
    assert_ne!(cap(&a), cap(&c));
    assert_ne!(a.temp_root, c.temp_root);
}

// --- protected names ----------------------------------------------------------------------

#[test]
fn protected_names_at_depth_with_prefixes_and_case_variants_are_denied() {
    let mut h = host(true);
    h.walked = vec![
        dir(r"C:\w\.git"),
        dir(r"C:\w\.git\hooks"),
        dir(r"C:\w\vendor\lib\deep\.GiT"),
        file(r"D:\extra\a\.BRIG.toml"),
        file(r"C:\w\.brigignore"),
        dir(r"C:\w\pkg\.VSCode"),
        file(r"C:\w\.gitignore"),
        dir(r"C:\w\src"),
    ];
    let plan = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &h).unwrap();
    let c = cap(&plan);
    assert!(plan
        .aces
        .iter()
        .filter(|a| a.kind == AceKind::Deny)
        .all(|a| a.sid == c));
    let mut want = vec![
        (r"C:\w\.git".to_string(), mask::PROTECT),
        (r"C:\w\vendor\lib\deep\.GiT".to_string(), mask::PROTECT),
        (r"D:\extra\a\.BRIG.toml".to_string(), mask::PROTECT),
        (r"C:\w\.brigignore".to_string(), mask::PROTECT),
        (r"C:\w\pkg\.VSCode".to_string(), mask::PROTECT),
    ];
    want.sort_by_key(|(p, _)| p.to_lowercase());
    let mut got = denies(&plan);
    got.sort_by_key(|(p, _)| p.to_lowercase());
    assert_eq!(got, want);
    // Directories deny everything inside them; files only themselves.
    let inherit = |path: &str| {
        plan.aces
            .iter()
            .find(|a| a.path == p(path))
            .unwrap()
            .inherit
    };
    assert_eq!(inherit(r"C:\w\.git"), Inherit::ObjectAndContainer);
    assert_eq!(inherit(r"C:\w\.brigignore"), Inherit::None);
    let guard = plan.guard.unwrap();
    assert_eq!(guard.existing.len(), 5);
    assert_eq!(guard.roots, vec![p(r"C:\w"), p(r"D:\extra")]);
}

#[test]
fn local_commit_denies_the_git_internals_and_the_git_dir_itself() {
    let mut pol = policy(Mode::WorkspaceWrite, NetworkMode::Off);
    pol.git = GitAccess::LocalCommit;
    let mut h = host(true);
    h.walked = vec![
        dir(r"C:\w\.git"),
        dir(r"C:\w\.git\hooks"),
        file(r"C:\w\.git\config"),
        dir(r"C:\w\.git\objects"),
        file(r"C:\w\.git\worktrees\t\gitdir"),
    ];
    let plan = windows_plan(&pol, &h).unwrap();
    let mut got = denies(&plan);
    got.sort();
    assert_eq!(
        got,
        vec![
            (r"C:\w\.git".to_string(), mask::GIT_DIR_SHELL),
            (r"C:\w\.git\config".to_string(), mask::PROTECT),
            (r"C:\w\.git\hooks".to_string(), mask::PROTECT),
            (r"C:\w\.git\worktrees\t\gitdir".to_string(), mask::PROTECT),
        ]
    );
    let shell = plan
        .aces
        .iter()
        .find(|a| a.path == p(r"C:\w\.git"))
        .unwrap();
    assert_eq!(shell.inherit, Inherit::None);
}

#[test]
fn names_that_do_not_exist_yet_are_left_to_the_guard() {
    let plan = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &host(true)).unwrap();
    assert!(denies(&plan).is_empty());
    let guard = plan.guard.unwrap();
    assert!(guard.is_protected(&p(r"C:\w\new\sub\.git"), true));
    assert_eq!(
        guard.new_protected(&[dir(r"C:\w\new\sub\.git")]),
        vec![p(r"C:\w\new\sub\.git")]
    );
    assert!(plan.weaker.iter().any(|w| w.contains("not prevented")));
}

// --- paths, streams, reparse points -------------------------------------------------------

#[test]
fn a_path_with_a_stream_is_refused() {
    let mut pol = policy(Mode::WorkspaceWrite, NetworkMode::Off);
    pol.writable_roots.push(PathBuf::from(r"C:\w\x:stream"));
    let err = windows_plan(&pol, &host(true)).unwrap_err();
    assert!(
        matches!(
            err,
            PlanError::Path {
                source: PathError::AlternateDataStream,
                ..
            }
        ),
        "{err}"
    );

    let mut pol = policy(Mode::ReadOnly, NetworkMode::Off);
    pol.deny_read
        .push(PathBuf::from(r"C:\Users\me\secret.txt:hidden"));
    let err = windows_plan(&pol, &host(true)).unwrap_err();
    assert!(
        matches!(
            err,
            PlanError::Path {
                source: PathError::AlternateDataStream,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn relative_or_unc_workspaces_are_refused() {
    let mut pol = policy(Mode::ReadOnly, NetworkMode::Off);
    pol.workspace = PathBuf::from(r"\\server\share\w");
    assert!(matches!(
        windows_plan(&pol, &host(true)),
        Err(PlanError::Path {
            source: PathError::UncOrDevice,
            ..
        })
    ));
    pol.workspace = PathBuf::from("w");
    assert!(matches!(
        windows_plan(&pol, &host(true)),
        Err(PlanError::Path {
            source: PathError::NotAbsolute,
            ..
        })
    ));
}

#[test]
fn a_writable_root_that_is_a_reparse_point_is_refused() {
    let mut h = host(true);
    h.roots[1].reparse_point = true;
    let err = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &h).unwrap_err();
    assert!(
        matches!(&err, PlanError::ReparsePointRoot(r) if *r == p(r"D:\extra")),
        "{err}"
    );
    assert!(err.to_string().contains("junction"));
}

#[test]
fn a_writable_root_without_facts_is_refused() {
    let mut h = host(true);
    h.roots.pop();
    assert!(matches!(
        windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &h),
        Err(PlanError::NoRootFacts(_))
    ));
}

#[test]
fn a_protected_entry_that_is_a_reparse_point_is_refused() {
    let mut h = host(true);
    h.walked = vec![WalkEntry {
        path: p(r"C:\w\sub\.vscode"),
        is_dir: true,
        reparse_point: true,
    }];
    let err = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &h).unwrap_err();
    assert!(matches!(&err, PlanError::ReparsePointProtected(e) if *e == p(r"C:\w\sub\.vscode")));
}

// --- secrets ------------------------------------------------------------------------------

#[test]
fn secrets_are_denied_to_the_account_including_a_links_target() {
    let mut h = host(true);
    h.secrets = vec![
        SecretEntry {
            entry: dir(r"C:\Users\me\.ssh"),
            target: None,
        },
        SecretEntry {
            entry: WalkEntry {
                path: p(r"C:\Users\me\.aws"),
                is_dir: true,
                reparse_point: true,
            },
            target: Some(p(r"E:\dotfiles\aws")),
        },
        // Not a deny_read path: ignored.
        SecretEntry {
            entry: dir(r"C:\Users\me\Documents"),
            target: None,
        },
    ];
    let plan = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Allowlist), &h).unwrap();
    let acct = account(AccountRole::Proxy);
    let mut got: Vec<(String, u32, &Sid)> = plan
        .aces
        .iter()
        .filter(|a| a.kind == AceKind::Deny)
        .map(|a| (a.path.to_string(), a.mask, &a.sid))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (r"C:\Users\me\.aws".to_string(), mask::DENY_READ, &acct),
            (r"C:\Users\me\.ssh".to_string(), mask::DENY_READ, &acct),
            (r"E:\dotfiles\aws".to_string(), mask::DENY_READ, &acct),
        ]
    );
}

#[test]
fn a_secret_link_without_a_known_target_is_refused() {
    let mut h = host(true);
    h.secrets = vec![SecretEntry {
        entry: WalkEntry {
            path: p(r"C:\Users\me\.ssh"),
            is_dir: true,
            reparse_point: true,
        },
        target: None,
    }];
    assert!(matches!(
        windows_plan(&policy(Mode::ReadOnly, NetworkMode::Off), &h),
        Err(PlanError::SecretTargetUnknown(_))
    ));
}

#[test]
fn an_existing_secret_without_setup_fails_closed() {
    let mut h = host(false);
    h.secrets = vec![SecretEntry {
        entry: dir(r"C:\Users\me\.ssh"),
        target: None,
    }];
    let err = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::On), &h).unwrap_err();
    assert!(matches!(
        err,
        PlanError::NeedsSetup {
            what: "hiding secrets (deny_read)",
            ..
        }
    ));
    assert!(err.to_string().contains("one-time elevated Windows setup"));
}

// --- network ------------------------------------------------------------------------------

#[test]
fn network_off_and_allowlist_without_setup_fail_closed() {
    for (net, what) in [
        (NetworkMode::Off, "network off"),
        (NetworkMode::Allowlist, "the network allowlist"),
    ] {
        let err = windows_plan(&policy(Mode::WorkspaceWrite, net), &host(false)).unwrap_err();
        assert!(
            matches!(err, PlanError::NeedsSetup { what: w, .. } if w == what),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("environment-only network blocking is not blocking"),
            "{msg}"
        );
        assert!(msg.contains("setup"), "{msg}");
    }
}

#[test]
fn network_on_without_setup_runs_as_the_user_and_says_what_is_weaker() {
    let plan = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::On), &host(false)).unwrap();
    assert_eq!(plan.network, NetworkEnforcement::Unfiltered);
    let token = plan.token.as_ref().unwrap();
    assert_eq!(token.base, TokenBase::User(Sid::parse(USER).unwrap()));
    assert!(token.write_restricted);
    // Only the capability SID is granted: there is no account.
    assert!(plan.aces.iter().all(|a| a.sid == cap(&plan)));
    assert!(plan.weaker.iter().any(|w| w.contains("no elevated setup")));
}

#[test]
fn with_setup_each_network_mode_uses_its_account_and_filters() {
    let off = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &host(true)).unwrap();
    assert_eq!(
        off.network,
        NetworkEnforcement::BlockAll {
            account: account(AccountRole::Offline)
        }
    );
    let allow = windows_plan(
        &policy(Mode::WorkspaceWrite, NetworkMode::Allowlist),
        &host(true),
    )
    .unwrap();
    assert_eq!(
        allow.network,
        NetworkEnforcement::ProxyOnly {
            account: account(AccountRole::Proxy),
            port: PROXY_PORT
        }
    );
    let on = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::On), &host(true)).unwrap();
    assert_eq!(on.network, NetworkEnforcement::Unfiltered);
    assert_eq!(
        on.token.unwrap().base,
        TokenBase::Account(record().account(AccountRole::Online).unwrap().clone())
    );
    assert!(off.weaker.iter().any(|w| w.contains("DNS Client")));
}

#[test]
fn an_incomplete_setup_fails_closed() {
    let mut h = host(true);
    h.setup
        .as_mut()
        .unwrap()
        .filters
        .retain(|f| f.spec.action != crate::setup::WfpAction::Permit);
    let err = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Allowlist), &h).unwrap_err();
    assert!(
        matches!(&err, PlanError::SetupIncomplete(m) if m.contains("brig-sandbox-proxy")),
        "{err}"
    );
    // The other accounts' filters are intact.
    assert!(windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &h).is_ok());

    let mut h = host(true);
    h.setup
        .as_mut()
        .unwrap()
        .accounts
        .retain(|a| a.role != AccountRole::Offline);
    let err = windows_plan(&policy(Mode::ReadOnly, NetworkMode::Off), &h).unwrap_err();
    assert!(
        matches!(&err, PlanError::SetupIncomplete(m) if m.contains("brig-sandbox-offline")),
        "{err}"
    );
}

// --- limits -------------------------------------------------------------------------------

#[test]
fn limits_become_job_settings() {
    let mut h = host(true);
    h.limits = Limits {
        memory_bytes: Some(Limit::explicit(2 << 30)),
        processes: Some(Limit::explicit(100)),
        cpus: Some(Limit::explicit(2.0)),
        timeout: Some(Limit::explicit(Duration::from_secs(60))),
        ..Limits::defaults(Some(32 << 30))
    };
    let plan = windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &h).unwrap();
    assert_eq!(plan.job.job_memory_bytes, Some(2 << 30));
    assert_eq!(plan.job.active_processes, Some(100));
    assert_eq!(plan.job.cpu_rate, Some(2500));
    assert_eq!(plan.job.timeout, Some(Duration::from_secs(60)));
    assert!(plan
        .weaker
        .iter()
        .any(|w| w.starts_with("the file size limit is not enforced")));

    h.limits.file_bytes = Some(Limit::explicit(1 << 20));
    assert!(matches!(
        windows_plan(&policy(Mode::WorkspaceWrite, NetworkMode::Off), &h),
        Err(PlanError::LimitUnsupported {
            limit: "the file size limit"
        })
    ));
}

// --- the ACL delta ------------------------------------------------------------------------

fn applied(plan: &WindowsPlan) -> AclState {
    AclState {
        aces: plan
            .aces
            .iter()
            .map(|a| ObservedAce {
                ace: a.clone(),
                inherited: false,
            })
            .collect(),
    }
}

#[test]
fn a_second_run_with_nothing_changed_applies_nothing() {
    let mut h = host(true);
    h.walked = vec![dir(r"C:\w\.git"), dir(r"C:\w\sub\.git")];
    h.secrets = vec![SecretEntry {
        entry: dir(r"C:\Users\me\.ssh"),
        target: None,
    }];
    let pol = policy(Mode::WorkspaceWrite, NetworkMode::Off);
    let first = windows_plan(&pol, &h).unwrap();
    assert_eq!(first.delta.add, first.aces);
    assert!(first.delta.remove.is_empty());
    h.acls = applied(&first);
    let second = windows_plan(&pol, &h).unwrap();
    assert!(second.delta.is_empty(), "{:?}", second.delta);
    assert_eq!(second.aces, first.aces);
}

#[test]
fn inherited_entries_count_and_only_what_changed_is_applied() {
    let mut h = host(true);
    let pol = policy(Mode::WorkspaceWrite, NetworkMode::Off);
    let first = windows_plan(&pol, &h).unwrap();
    h.acls = applied(&first);
    // A new protected entry appeared, and the extra root's grant is inherited (say D:\ is
    // itself granted): only the new deny is applied.
    for o in &mut h.acls.aces {
        if o.ace.path == p(r"D:\extra") {
            o.inherited = true;
        }
    }
    h.walked = vec![dir(r"C:\w\lib\.vscode")];
    let second = windows_plan(&pol, &h).unwrap();
    assert_eq!(
        second.delta,
        AclDelta {
            add: vec![Ace {
                path: p(r"C:\w\lib\.vscode"),
                kind: AceKind::Deny,
                sid: cap(&second),
                mask: mask::PROTECT,
                inherit: Inherit::ObjectAndContainer,
            }],
            remove: vec![],
        }
    );
}

#[test]
fn a_removed_root_loses_its_grant_for_this_workspace() {
    let mut h = host(true);
    let pol = policy(Mode::WorkspaceWrite, NetworkMode::Off);
    let first = windows_plan(&pol, &h).unwrap();
    h.acls = applied(&first);
    let mut narrower = pol.clone();
    narrower.writable_roots.pop();
    let second = windows_plan(&narrower, &h).unwrap();
    let c = cap(&second);
    assert!(second.delta.add.is_empty());
    // The capability SID's grant goes; the account's (shared by every workspace) stays until
    // uninstall, and writing there needs both.
    assert_eq!(
        second.delta.remove,
        vec![Ace {
            path: p(r"D:\extra"),
            kind: AceKind::Allow,
            sid: c,
            mask: mask::WRITABLE,
            inherit: Inherit::ObjectAndContainer,
        }]
    );
}

#[test]
fn a_bad_user_sid_is_refused() {
    let mut h = host(true);
    h.user_sid = "me".into();
    assert!(matches!(
        windows_plan(&policy(Mode::ReadOnly, NetworkMode::Off), &h),
        Err(PlanError::Sid(_))
    ));
}
