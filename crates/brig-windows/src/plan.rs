//! From an [`EnforcementPlan`] and facts about the host to everything the Windows runner
//! applies: [`windows_plan`].
//!
//! The function is pure: the host's facts (the user's SID, the setup record, the walk of the
//! writable roots, the secrets that exist, the ACL entries already applied) arrive as
//! [`WindowsHost`], and the result is data. It either returns a plan that enforces everything
//! the policy asks, or an error that says what is missing: it never weakens a policy to make
//! it fit. In particular, without the one-time elevated setup:
//! - `network = "off"` and `"allowlist"` are refused: blocking the network through environment
//!   variables (`HTTP_PROXY` and friends) is not blocking;
//! - hiding a secret that exists is refused: a write-restricted token consults its
//!   capability SID for writes only, so only a separate account can be denied reads.
//!
//! See `docs/windows.md` for the whole design.

use brig_policy::{EnforcementPlan, Mode, NetworkMode, PROXY_PORT};
use brig_sandbox::Limits;

use crate::acl::{self, mask, Ace, AceKind, AclDelta, AclState, Inherit};
use crate::guard::{protected_entries, CreateGuardPlan, Protection, WalkEntry};
use crate::job::{job_plan, JobPlan};
use crate::path::{PathError, WinPath};
use crate::setup::{AccountRole, SandboxAccount, SetupRecord};
use crate::sid::{workspace_identity, BadSid, Sid, ADMINISTRATORS};

/// A secret (a `deny_read` path, or an entry beneath one) that exists on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretEntry {
    /// The entry as found (not followed).
    pub entry: WalkEntry,
    /// For a reparse point: its final target (`GetFinalPathNameByHandle`), which is what must
    /// be denied as well.
    pub target: Option<WinPath>,
}

/// What the planner needs to know about the host, gathered by the (future) runner.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowsHost {
    /// The user's SID (string form), from the current process's token.
    pub user_sid: String,
    /// The record of the one-time elevated setup; `None` when it was not done. Its
    /// installation key enters the capability SID (empty without setup).
    pub setup: Option<SetupRecord>,
    /// brig's state directory (its per-workspace temp directories live in `tmp\` below it).
    pub state_dir: WinPath,
    /// Logical processors (for the CPU rate).
    pub logical_cpus: u32,
    /// The limits for this run (`brig::limits_for`).
    pub limits: Limits,
    /// Facts about each writable root of the plan (one entry per root).
    pub roots: Vec<WalkEntry>,
    /// What the walk of the writable roots found: at least every entry whose name is
    /// protected (and, with `git = "local-commit"`, the entries inside `.git`); other entries
    /// are ignored. The walk does not follow reparse points.
    pub walked: Vec<WalkEntry>,
    /// The `deny_read` paths that exist.
    pub secrets: Vec<SecretEntry>,
    /// The ACL entries for brig's SIDs now on the paths this plan manages, and on every path
    /// brig's ledger lists for this plan's capability SID (so that a grant the plan no longer
    /// wants is seen, and removed).
    pub acls: AclState,
}

/// Whose token the command runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenBase {
    /// The user's own token (no elevated setup).
    User(Sid),
    /// A sandbox account's token, logged on once and kept by the broker.
    Account(SandboxAccount),
}

/// The command's token: `CreateRestrictedToken` on the base token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenPlan {
    /// The token it is derived from.
    pub base: TokenBase,
    /// The workspace's capability SID.
    pub capability_sid: Sid,
    /// The restricting SIDs: the capability SID only, so a write needs an ACL entry for it.
    pub restricting_sids: Vec<Sid>,
    /// `WRITE_RESTRICTED`: restricting SIDs are checked for write access only.
    pub write_restricted: bool,
    /// `DISABLE_MAX_PRIVILEGE`: every privilege but `SeChangeNotifyPrivilege` removed.
    pub disable_max_privilege: bool,
    /// `LUA_TOKEN`: the filtered, non-elevated form.
    pub lua_token: bool,
    /// Groups made deny-only (`SidsToDisable`).
    pub deny_only: Vec<Sid>,
}

/// How the network is confined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkEnforcement {
    /// No filter (`network = "on"`).
    Unfiltered,
    /// The account's WFP filters block every connection.
    BlockAll {
        /// The account they match.
        account: Sid,
    },
    /// The account's WFP filters permit only TCP to `127.0.0.1:port` (brig's proxy).
    ProxyOnly {
        /// The account they match.
        account: Sid,
        /// The proxy's port.
        port: u16,
    },
}

/// Everything the Windows runner applies for one command.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowsPlan {
    /// The mode.
    pub mode: Mode,
    /// The token; `None` in `danger-full-access` (no confinement: the job only).
    pub token: Option<TokenPlan>,
    /// Every ACL entry this plan needs, sorted.
    pub aces: Vec<Ace>,
    /// What must change given what is applied: empty on a second run with nothing changed.
    pub delta: AclDelta,
    /// The guard for protected names created during the run (workspace-write only).
    pub guard: Option<CreateGuardPlan>,
    /// The network.
    pub network: NetworkEnforcement,
    /// The job object.
    pub job: JobPlan,
    /// The workspace's private temp root (`<state>\tmp\<tag>`), granted once; the runner
    /// creates a fresh directory in it per run (which inherits the grant when it is created, no
    /// ACL write) and points `TEMP` and `TMP` there.
    pub temp_root: Option<WinPath>,
    /// The working directory.
    pub cwd: WinPath,
    /// What is weaker than on Linux for this run, for `brig doctor` and the report.
    pub weaker: Vec<String>,
}

/// Why no Windows plan can enforce the policy here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A path brig cannot use.
    #[error("{what} `{path}`: {source}")]
    Path {
        /// Which path.
        what: &'static str,
        /// As given.
        path: String,
        /// Why.
        source: PathError,
    },
    /// The user's SID is malformed.
    #[error("the user's SID: {0}")]
    Sid(#[from] BadSid),
    /// A writable root is a reparse point.
    #[error("the writable root `{0}` is a symbolic link, junction or mount point; give its target instead")]
    ReparsePointRoot(WinPath),
    /// A protected entry is a reparse point (its target cannot be protected by an entry on the link).
    #[error("the protected entry `{0}` is a symbolic link, junction or mount point; replace it with the real file or directory, or remove it")]
    ReparsePointProtected(WinPath),
    /// A secret is a reparse point whose target is unknown.
    #[error("the secret `{0}` is a symbolic link or junction whose target is unknown")]
    SecretTargetUnknown(WinPath),
    /// The host gave no facts about a writable root.
    #[error("no facts about the writable root `{0}` (does it exist?)")]
    NoRootFacts(WinPath),
    /// The policy needs the elevated setup and it was not done.
    #[error("{what} needs brig's one-time elevated Windows setup (a sandbox account with Windows Filtering Platform filters), which has not been done on this machine; brig refuses rather than run with {what} unenforced ({why})")]
    NeedsSetup {
        /// What needs it.
        what: &'static str,
        /// Why nothing else will do.
        why: &'static str,
    },
    /// The setup record lacks something the policy needs.
    #[error("brig's Windows setup is incomplete: {0} is missing; run the setup again")]
    SetupIncomplete(String),
    /// An explicit limit Windows cannot enforce.
    #[error("{limit} cannot be enforced on Windows; remove it from the configuration or the command line")]
    LimitUnsupported {
        /// Which limit.
        limit: &'static str,
    },
    /// The limits are invalid.
    #[error("{0}")]
    Limits(String),
}

fn win(what: &'static str, p: &std::path::Path) -> Result<WinPath, PlanError> {
    WinPath::from_path(p).map_err(|source| PlanError::Path {
        what,
        path: p.display().to_string(),
        source,
    })
}

fn ace(path: &WinPath, kind: AceKind, sid: &Sid, mask: u32, is_dir: bool) -> Ace {
    Ace {
        path: path.clone(),
        kind,
        sid: sid.clone(),
        mask,
        inherit: if is_dir {
            Inherit::ObjectAndContainer
        } else {
            Inherit::None
        },
    }
}

const NO_ENV_BLOCKING: &str = "environment-only network blocking is not blocking";

/// Turns `plan` into what the Windows runner applies on `host` (see the module documentation).
pub fn windows_plan(plan: &EnforcementPlan, host: &WindowsHost) -> Result<WindowsPlan, PlanError> {
    let user = Sid::parse(&host.user_sid)?;
    let job = job_plan(&host.limits, host.logical_cpus)?;
    let cwd = win("the working directory", &plan.cwd)?;
    let mut weaker: Vec<String> = job
        .not_enforced
        .iter()
        .map(|l| format!("{l} is not enforced (Windows has no equivalent)"))
        .collect();

    if plan.mode == Mode::DangerFullAccess {
        weaker.insert(
            0,
            "danger-full-access: no confinement, only the job object".into(),
        );
        return Ok(WindowsPlan {
            mode: plan.mode,
            token: None,
            aces: vec![],
            delta: AclDelta::default(),
            guard: None,
            network: NetworkEnforcement::Unfiltered,
            job,
            temp_root: None,
            cwd,
            weaker,
        });
    }

    let workspace = win("the workspace", &plan.workspace)?;
    let key = host
        .setup
        .as_ref()
        .map_or("", |s| s.installation_key.as_str());
    let identity = workspace_identity(&user, key, &workspace, plan.mode);
    let cap = identity.sid.clone();

    let mut roots = Vec::new();
    for r in &plan.writable_roots {
        let r = win("the writable root", r)?;
        let facts = host
            .roots
            .iter()
            .find(|f| f.path == r)
            .ok_or_else(|| PlanError::NoRootFacts(r.clone()))?;
        if facts.reparse_point {
            return Err(PlanError::ReparsePointRoot(r));
        }
        roots.push(r);
    }
    let mut deny_read = Vec::new();
    for d in &plan.deny_read {
        deny_read.push(win("the secret", d)?);
    }

    // Whose token, and the network.
    let role = match plan.network {
        NetworkMode::Off => AccountRole::Offline,
        NetworkMode::Allowlist => AccountRole::Proxy,
        NetworkMode::On => AccountRole::Online,
    };
    let (base, network, account) = match &host.setup {
        Some(record) => {
            let account = record.account(role).ok_or_else(|| {
                PlanError::SetupIncomplete(format!("the sandbox account {}", role.account_name()))
            })?;
            let missing = record.missing_filters(account);
            if !missing.is_empty() {
                return Err(PlanError::SetupIncomplete(format!(
                    "{} Windows Filtering Platform filter(s) for {}",
                    missing.len(),
                    account.name
                )));
            }
            let network = match role {
                AccountRole::Offline => NetworkEnforcement::BlockAll {
                    account: account.sid.clone(),
                },
                AccountRole::Proxy => NetworkEnforcement::ProxyOnly {
                    account: account.sid.clone(),
                    port: PROXY_PORT,
                },
                AccountRole::Online => NetworkEnforcement::Unfiltered,
            };
            (
                TokenBase::Account(account.clone()),
                network,
                Some(account.sid.clone()),
            )
        }
        None => {
            match plan.network {
                NetworkMode::Off => {
                    return Err(PlanError::NeedsSetup {
                        what: "network off",
                        why: NO_ENV_BLOCKING,
                    })
                }
                NetworkMode::Allowlist => {
                    return Err(PlanError::NeedsSetup {
                        what: "the network allowlist",
                        why: NO_ENV_BLOCKING,
                    })
                }
                NetworkMode::On => {}
            }
            (
                TokenBase::User(user.clone()),
                NetworkEnforcement::Unfiltered,
                None,
            )
        }
    };

    let mut aces = Vec::new();

    // Secrets: deny reads for the account (the only SID a read check consults that is not the
    // user's).
    for s in &host.secrets {
        if !deny_read.iter().any(|d| s.entry.path.starts_with(d)) {
            continue;
        }
        let Some(account) = &account else {
            return Err(PlanError::NeedsSetup {
                what: "hiding secrets (deny_read)",
                why: "a write-restricted token of your own account reads everything you can",
            });
        };
        aces.push(ace(
            &s.entry.path,
            AceKind::Deny,
            account,
            mask::DENY_READ,
            s.entry.is_dir,
        ));
        if s.entry.reparse_point {
            let target = s
                .target
                .as_ref()
                .ok_or_else(|| PlanError::SecretTargetUnknown(s.entry.path.clone()))?;
            aces.push(ace(
                target,
                AceKind::Deny,
                account,
                mask::DENY_READ,
                s.entry.is_dir,
            ));
        }
    }

    // The private temp root: writable for this workspace.
    let temp_root = host
        .state_dir
        .join("tmp")
        .and_then(|t| t.join(&identity.tag))
        .map_err(|source| PlanError::Path {
            what: "brig's state directory",
            path: host.state_dir.to_string(),
            source,
        })?;
    let mut writable = vec![temp_root.clone()];
    writable.extend(roots.iter().cloned());
    for w in &writable {
        aces.push(ace(w, AceKind::Allow, &cap, mask::WRITABLE, true));
        if let Some(a) = &account {
            aces.push(ace(w, AceKind::Allow, a, mask::WRITABLE, true));
        }
    }
    // The sandbox account is another user: it reads the workspace (and the working directory,
    // if elsewhere) through a grant.
    if let Some(a) = &account {
        let mut readable: Vec<&WinPath> = Vec::new();
        for r in [&workspace, &cwd] {
            let covered = writable
                .iter()
                .chain(readable.iter().copied())
                .any(|w| r.starts_with(w));
            if !covered {
                readable.push(r);
                aces.push(ace(r, AceKind::Allow, a, mask::READABLE, true));
            }
        }
    }

    // Protected entries that exist: denied for the capability SID.
    let guard = if roots.is_empty() {
        None
    } else {
        let found = protected_entries(&plan.protected_names, plan.git, &roots, &host.walked);
        let mut existing = Vec::new();
        for (e, protection) in found {
            if e.reparse_point {
                return Err(PlanError::ReparsePointProtected(e.path.clone()));
            }
            aces.push(match protection {
                Protection::Full => ace(&e.path, AceKind::Deny, &cap, mask::PROTECT, e.is_dir),
                Protection::GitDirShell => {
                    ace(&e.path, AceKind::Deny, &cap, mask::GIT_DIR_SHELL, false)
                }
            });
            existing.push(e.path.clone());
        }
        weaker.push(
            "a protected name created during the run is denied when the watch sees it and \
             removed after the run, not prevented"
                .into(),
        );
        Some(CreateGuardPlan {
            roots: roots.clone(),
            names: plan.protected_names.clone(),
            git: plan.git,
            existing,
        })
    };

    match (&account, plan.network) {
        (None, _) => weaker.push(
            "no elevated setup: the command runs as you (write-restricted) and reads everything \
             you can; no secret exists now, one created during the run would be readable"
                .into(),
        ),
        (Some(_), NetworkMode::Off | NetworkMode::Allowlist) => weaker.push(
            "name lookups through the DNS Client service and requests other local services \
             make on the command's behalf are not filtered"
                .into(),
        ),
        (Some(_), NetworkMode::On) => {}
    }

    aces.sort();
    aces.dedup();
    let delta = acl::delta(&aces, &host.acls, std::slice::from_ref(&cap));
    let administrators = Sid::parse(ADMINISTRATORS)?;
    Ok(WindowsPlan {
        mode: plan.mode,
        token: Some(TokenPlan {
            base,
            capability_sid: cap.clone(),
            restricting_sids: vec![cap],
            write_restricted: true,
            disable_max_privilege: true,
            lua_token: true,
            deny_only: vec![administrators],
        }),
        aces,
        delta,
        guard,
        network,
        job,
        temp_root: Some(temp_root),
        cwd,
        weaker,
    })
}

#[cfg(test)]
mod tests;
