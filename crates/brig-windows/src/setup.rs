//! The one-time elevated setup, as data: the sandbox accounts, their Windows Filtering
//! Platform filters, and the record of what was added.
//!
//! ## Why an account, and why once
//!
//! A restricted token derived from the user's own token cannot hide secrets: a write-restricted
//! token consults its restricting SIDs for *write* access only, so a deny-read entry for the
//! capability SID is never evaluated for a read, and the user's own SID reads everything the
//! user can. Nor can it be singled out by the firewall: WFP matches the connecting token's
//! user, and that is the user. Both need a different user: a local **sandbox account** that
//! brig's setup creates once (as administrator), with WFP filters keyed on its SID.
//!
//! There is one account per network mode, so the filters are static (installed once, never
//! rewritten per command): `Offline` (every outbound connection and inbound accept blocked,
//! loopback included: the host's loopback is not private as a Linux network namespace is),
//! `Proxy` (only TCP to `127.0.0.1:PROXY_PORT`, where brig's proxy listens), and `Online` (no
//! filter, for `--network on` with secrets still hidden). The runner logs each account on once
//! and keeps the token in a long-lived broker (Codex logged on per command, one of its
//! multi-second costs).

use std::net::Ipv4Addr;

use brig_policy::PROXY_PORT;

use crate::acl::Ace;
use crate::path::WinPath;
use crate::sid::Sid;

/// What a sandbox account is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountRole {
    /// `network = "off"`.
    Offline,
    /// `network = "allowlist"`: only brig's proxy.
    Proxy,
    /// `network = "on"`.
    Online,
}

impl AccountRole {
    /// Every role, in setup order.
    pub const ALL: [AccountRole; 3] = [
        AccountRole::Offline,
        AccountRole::Proxy,
        AccountRole::Online,
    ];

    /// The local account name setup creates.
    pub fn account_name(self) -> &'static str {
        match self {
            AccountRole::Offline => "brig-sandbox-offline",
            AccountRole::Proxy => "brig-sandbox-proxy",
            AccountRole::Online => "brig-sandbox-online",
        }
    }
}

/// A local account setup created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxAccount {
    /// What it is for.
    pub role: AccountRole,
    /// Its name.
    pub name: String,
    /// Its SID.
    pub sid: Sid,
}

/// A WFP layer brig filters at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WfpLayer {
    /// `FWPM_LAYER_ALE_AUTH_CONNECT_V4`: outbound connections and first datagrams, IPv4.
    ConnectV4,
    /// `FWPM_LAYER_ALE_AUTH_CONNECT_V6`.
    ConnectV6,
    /// `FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4`: accepting inbound connections, IPv4.
    RecvAcceptV4,
    /// `FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6`.
    RecvAcceptV6,
}

/// Block or permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WfpAction {
    /// `FWP_ACTION_BLOCK`.
    Block,
    /// `FWP_ACTION_PERMIT`.
    Permit,
}

/// One filter: at `layer`, for connections whose token user is `account`
/// (`FWPM_CONDITION_ALE_USER_ID`), optionally only to `remote` over TCP.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilterSpec {
    /// The layer.
    pub layer: WfpLayer,
    /// The action.
    pub action: WfpAction,
    /// The account the filter matches.
    pub account: Sid,
    /// Only TCP to this address and port (`None`: any).
    pub remote: Option<(Ipv4Addr, u16)>,
    /// The weight within brig's sublayer: permits above blocks.
    pub weight: u8,
}

/// The filters an account needs (none for [`AccountRole::Online`]).
pub fn filters_for(account: &SandboxAccount) -> Vec<FilterSpec> {
    let block = |layer| FilterSpec {
        layer,
        action: WfpAction::Block,
        account: account.sid.clone(),
        remote: None,
        weight: 1,
    };
    let blocks = || {
        [
            WfpLayer::ConnectV4,
            WfpLayer::ConnectV6,
            WfpLayer::RecvAcceptV4,
            WfpLayer::RecvAcceptV6,
        ]
        .map(block)
        .to_vec()
    };
    match account.role {
        AccountRole::Offline => blocks(),
        AccountRole::Proxy => {
            let mut v = vec![FilterSpec {
                layer: WfpLayer::ConnectV4,
                action: WfpAction::Permit,
                account: account.sid.clone(),
                remote: Some((Ipv4Addr::LOCALHOST, PROXY_PORT)),
                weight: 15,
            }];
            v.extend(blocks());
            v
        }
        AccountRole::Online => vec![],
    }
}

/// A filter setup installed, by its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledFilter {
    /// The filter's GUID (`FWPM_FILTER0::filterKey`), braced.
    pub key: String,
    /// What it does.
    pub spec: FilterSpec,
}

/// Everything the elevated setup added, as brig stores it (in its state directory, readable
/// only by the user and administrators). `brig windows uninstall` undoes exactly this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupRecord {
    /// The record's format.
    pub version: u32,
    /// The random string that enters every capability SID (see [`crate::sid`]).
    pub installation_key: String,
    /// brig's WFP provider key (persistent objects are owned by it).
    pub wfp_provider: String,
    /// brig's WFP sublayer key.
    pub wfp_sublayer: String,
    /// The accounts, in creation order.
    pub accounts: Vec<SandboxAccount>,
    /// The filters, in installation order.
    pub filters: Vec<InstalledFilter>,
    /// ACL entries setup itself wrote (e.g. the accounts' access to brig's temp root).
    pub aces: Vec<Ace>,
    /// Directories setup created (e.g. the temp root), parents first.
    pub dirs: Vec<WinPath>,
}

impl SetupRecord {
    /// The account for `role`, if setup created it.
    pub fn account(&self, role: AccountRole) -> Option<&SandboxAccount> {
        self.accounts.iter().find(|a| a.role == role)
    }

    /// The filters `account` needs that are not installed.
    pub fn missing_filters(&self, account: &SandboxAccount) -> Vec<FilterSpec> {
        filters_for(account)
            .into_iter()
            .filter(|f| !self.filters.iter().any(|i| &i.spec == f))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(role: AccountRole, rid: u32) -> SandboxAccount {
        SandboxAccount {
            role,
            name: role.account_name().into(),
            sid: Sid::parse(&format!("S-1-5-21-7-8-9-{rid}")).unwrap(),
        }
    }

    #[test]
    fn offline_blocks_everything_both_ways() {
        let f = filters_for(&account(AccountRole::Offline, 1001));
        assert_eq!(f.len(), 4);
        assert!(f
            .iter()
            .all(|f| f.action == WfpAction::Block && f.remote.is_none()));
    }

    #[test]
    fn proxy_permits_only_the_proxy_port_on_loopback() {
        let f = filters_for(&account(AccountRole::Proxy, 1002));
        let permits: Vec<_> = f.iter().filter(|f| f.action == WfpAction::Permit).collect();
        assert_eq!(permits.len(), 1);
        assert_eq!(
            permits[0].remote,
            Some((Ipv4Addr::new(127, 0, 0, 1), PROXY_PORT))
        );
        assert_eq!(permits[0].layer, WfpLayer::ConnectV4);
        assert!(f
            .iter()
            .filter(|f| f.action == WfpAction::Block)
            .all(|b| b.weight < permits[0].weight));
        assert_eq!(f.iter().filter(|f| f.action == WfpAction::Block).count(), 4);
    }

    #[test]
    fn online_has_no_filter() {
        assert!(filters_for(&account(AccountRole::Online, 1003)).is_empty());
    }
}
