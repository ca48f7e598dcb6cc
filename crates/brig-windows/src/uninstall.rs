//! What `brig windows uninstall` must undo, computed from the setup record and brig's ledger
//! of ACL entries.
//!
//! The list is exactly what brig added, in the reverse order of adding it: the WFP filters
//! (by key), brig's sublayer and provider, every ACL entry (by path, SID, kind and rights:
//! the entry is removed, never the whole ACL replaced, so entries the user added stay), the
//! accounts' profiles and the accounts, then the directories setup created (children first).
//! Nothing that is not in the record is touched.

use crate::acl::{Ace, AclState};
use crate::path::WinPath;
use crate::setup::SetupRecord;
use crate::sid::Sid;

/// One undo step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UninstallStep {
    /// `FwpmFilterDeleteByKey0`.
    RemoveFilter {
        /// The filter's key.
        key: String,
    },
    /// `FwpmSubLayerDeleteByKey0`.
    RemoveSublayer {
        /// The sublayer's key.
        key: String,
    },
    /// `FwpmProviderDeleteByKey0`.
    RemoveProvider {
        /// The provider's key.
        key: String,
    },
    /// Remove this one explicit entry from the path's DACL (absent: nothing to do).
    RemoveAce(Ace),
    /// `DeleteProfileW`: the account's profile directory and registry hive.
    DeleteProfile {
        /// The account's SID.
        sid: Sid,
    },
    /// `NetUserDel`.
    DeleteAccount {
        /// The account's name.
        name: String,
        /// Its SID (checked before deleting: a same-named account created by someone else
        /// is left alone).
        sid: Sid,
    },
    /// Remove a directory setup created, with what brig put in it.
    RemoveDir(WinPath),
}

/// The undo list for `record` (when setup was done) and the explicit entries of `applied`
/// (brig's ledger of every ACL entry it wrote for a workspace, with or without setup).
pub fn uninstall_steps(record: Option<&SetupRecord>, applied: &AclState) -> Vec<UninstallStep> {
    let mut steps = Vec::new();
    let mut aces: Vec<&Ace> = Vec::new();
    if let Some(r) = record {
        steps.extend(
            r.filters
                .iter()
                .rev()
                .map(|f| UninstallStep::RemoveFilter { key: f.key.clone() }),
        );
        steps.push(UninstallStep::RemoveSublayer {
            key: r.wfp_sublayer.clone(),
        });
        steps.push(UninstallStep::RemoveProvider {
            key: r.wfp_provider.clone(),
        });
        aces.extend(r.aces.iter());
    }
    aces.extend(applied.aces.iter().filter(|o| !o.inherited).map(|o| &o.ace));
    let mut seen: Vec<&Ace> = Vec::new();
    for a in aces.into_iter().rev() {
        if !seen.contains(&a) {
            seen.push(a);
            steps.push(UninstallStep::RemoveAce(a.clone()));
        }
    }
    if let Some(r) = record {
        for a in r.accounts.iter().rev() {
            steps.push(UninstallStep::DeleteProfile { sid: a.sid.clone() });
            steps.push(UninstallStep::DeleteAccount {
                name: a.name.clone(),
                sid: a.sid.clone(),
            });
        }
        steps.extend(r.dirs.iter().rev().cloned().map(UninstallStep::RemoveDir));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{mask, AceKind, Inherit, ObservedAce};
    use crate::setup::{filters_for, AccountRole, InstalledFilter, SandboxAccount};

    fn p(s: &str) -> WinPath {
        WinPath::parse(s).unwrap()
    }

    fn sid(s: &str) -> Sid {
        Sid::parse(s).unwrap()
    }

    fn ace(path: &str, s: &str, kind: AceKind, m: u32) -> Ace {
        Ace {
            path: p(path),
            kind,
            sid: sid(s),
            mask: m,
            inherit: Inherit::ObjectAndContainer,
        }
    }

    fn record() -> SetupRecord {
        let accounts: Vec<SandboxAccount> = AccountRole::ALL
            .iter()
            .enumerate()
            .map(|(i, role)| SandboxAccount {
                role: *role,
                name: role.account_name().into(),
                sid: sid(&format!("S-1-5-21-7-8-9-{}", 1001 + i)),
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
            installation_key: "k".into(),
            wfp_provider: "{provider}".into(),
            wfp_sublayer: "{sublayer}".into(),
            accounts,
            filters,
            aces: vec![ace(
                r"C:\state\tmp",
                "S-1-5-21-7-8-9-1001",
                AceKind::Allow,
                mask::READABLE,
            )],
            dirs: vec![p(r"C:\state"), p(r"C:\state\tmp")],
        }
    }

    #[test]
    fn uninstall_lists_exactly_what_setup_added_in_reverse() {
        let r = record();
        let cap = "S-1-5-21-1-2-3-4";
        let applied = AclState {
            aces: vec![
                ObservedAce {
                    ace: ace(r"C:\w", cap, AceKind::Allow, mask::WRITABLE),
                    inherited: false,
                },
                ObservedAce {
                    ace: ace(r"C:\w\.git", cap, AceKind::Deny, mask::PROTECT),
                    inherited: false,
                },
                // Inherited entries go with their source.
                ObservedAce {
                    ace: ace(r"C:\w\sub", cap, AceKind::Allow, mask::WRITABLE),
                    inherited: true,
                },
            ],
        };
        let steps = uninstall_steps(Some(&r), &applied);
        // Offline 4 filters, proxy 5, online none.
        let mut want: Vec<UninstallStep> = (0..9)
            .rev()
            .map(|i| UninstallStep::RemoveFilter {
                key: format!("{{f-{i}}}"),
            })
            .collect();
        want.push(UninstallStep::RemoveSublayer {
            key: "{sublayer}".into(),
        });
        want.push(UninstallStep::RemoveProvider {
            key: "{provider}".into(),
        });
        want.push(UninstallStep::RemoveAce(ace(
            r"C:\w\.git",
            cap,
            AceKind::Deny,
            mask::PROTECT,
        )));
        want.push(UninstallStep::RemoveAce(ace(
            r"C:\w",
            cap,
            AceKind::Allow,
            mask::WRITABLE,
        )));
        want.push(UninstallStep::RemoveAce(r.aces[0].clone()));
        for a in r.accounts.iter().rev() {
            want.push(UninstallStep::DeleteProfile { sid: a.sid.clone() });
            want.push(UninstallStep::DeleteAccount {
                name: a.name.clone(),
                sid: a.sid.clone(),
            });
        }
        want.push(UninstallStep::RemoveDir(p(r"C:\state\tmp")));
        want.push(UninstallStep::RemoveDir(p(r"C:\state")));
        assert_eq!(steps, want);
    }

    #[test]
    fn without_setup_only_the_acl_entries_are_undone() {
        let cap = "S-1-5-21-1-2-3-4";
        let a = ace(r"C:\w", cap, AceKind::Allow, mask::WRITABLE);
        let applied = AclState {
            aces: vec![
                ObservedAce {
                    ace: a.clone(),
                    inherited: false,
                },
                ObservedAce {
                    ace: a.clone(),
                    inherited: false,
                },
            ],
        };
        assert_eq!(
            uninstall_steps(None, &applied),
            vec![UninstallStep::RemoveAce(a)]
        );
        assert!(uninstall_steps(None, &AclState::default()).is_empty());
    }
}
