//! The approval matrix: what brig does before running a command, given the sandbox mode, the
//! approval policy and the rules' verdict.
//!
//! It is one pure function, [`action`], written as an explicit `match` so that the table in
//! `docs/approvals.md` can be read off it line by line. Three rules shape it:
//!
//! * **Approval never removes the sandbox.** Every [`Action::Run`] runs in the mode's sandbox,
//!   and so does a command a human approved after [`Action::Prompt`]; leaving the sandbox is
//!   `danger-full-access`, a mode of its own that is acknowledged separately.
//! * **`forbid` always refuses; a destructive command always needs dual approval**: the policy
//!   must be able to ask (every policy but `never`, which refuses instead) and a human must
//!   approve. This holds in every mode, so a destructive command never runs on a rule, a mode or
//!   a policy alone.
//! * `ask` means what the policy says: `untrusted` asks; `on-failure` runs sandboxed and asks
//!   for a specific widening when the sandbox denied something; `on-request` runs sandboxed and
//!   lets the agent ask for a widening; `never` runs sandboxed and never asks. In
//!   `danger-full-access` there is no sandbox to deny anything, so `on-failure` never prompts.

use brig_policy::Mode;
use serde::Serialize;

use crate::verdict::Class;

/// When brig asks a human (defined with the configuration, in `brig-policy`).
pub use brig_policy::ApprovalPolicy;

/// Why brig refuses to run a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefuseReason {
    /// A rule forbids it.
    Forbidden,
    /// It is destructive, and the policy is `never`: it would need a human, and none is asked.
    NeedsApproval,
}

/// What brig does before running a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Run it, in the mode's sandbox.
    Run {
        /// When the sandbox denies something, ask a human whether to rerun with the specific
        /// widening it needs (`on-failure`).
        prompt_on_denial: bool,
    },
    /// Ask a human first; if approved, run it in the mode's sandbox.
    Prompt {
        /// Dual approval: the command is destructive, so the prompt must show what it destroys,
        /// and a setting may require two distinct human approvers ([`crate::ApprovalState`]).
        dual: bool,
    },
    /// Do not run it.
    Refuse {
        /// Why.
        reason: RefuseReason,
    },
}

/// The approval matrix. See the module documentation and `docs/approvals.md` for the table.
pub fn action(mode: Mode, policy: ApprovalPolicy, class: Class) -> Action {
    use ApprovalPolicy::{Never, OnFailure, OnRequest, Untrusted};
    let sandboxed = mode != Mode::DangerFullAccess;
    match (class, policy) {
        (Class::Forbid, _) => Action::Refuse {
            reason: RefuseReason::Forbidden,
        },
        (Class::AskDestructive, Never) => Action::Refuse {
            reason: RefuseReason::NeedsApproval,
        },
        (Class::AskDestructive, Untrusted | OnFailure | OnRequest) => Action::Prompt { dual: true },
        (Class::Ask, Untrusted) => Action::Prompt { dual: false },
        (Class::Allow | Class::Ask, OnFailure) => Action::Run {
            prompt_on_denial: sandboxed,
        },
        (Class::Allow, Untrusted) | (Class::Allow | Class::Ask, OnRequest | Never) => Action::Run {
            prompt_on_denial: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Action = Action::Run {
        prompt_on_denial: false,
    };
    const RD: Action = Action::Run {
        prompt_on_denial: true,
    };
    const P: Action = Action::Prompt { dual: false };
    const P2: Action = Action::Prompt { dual: true };
    const F: Action = Action::Refuse {
        reason: RefuseReason::Forbidden,
    };
    const N: Action = Action::Refuse {
        reason: RefuseReason::NeedsApproval,
    };

    /// Every cell, written out by hand (mode, policy, [allow, ask, ask+destructive, forbid]).
    /// This is the table of docs/approvals.md.
    #[rustfmt::skip]
    const TABLE: [(Mode, ApprovalPolicy, [Action; 4]); 12] = [
        (Mode::ReadOnly,         ApprovalPolicy::Untrusted, [R,  P,  P2, F]),
        (Mode::ReadOnly,         ApprovalPolicy::OnFailure, [RD, RD, P2, F]),
        (Mode::ReadOnly,         ApprovalPolicy::OnRequest, [R,  R,  P2, F]),
        (Mode::ReadOnly,         ApprovalPolicy::Never,     [R,  R,  N,  F]),
        (Mode::WorkspaceWrite,   ApprovalPolicy::Untrusted, [R,  P,  P2, F]),
        (Mode::WorkspaceWrite,   ApprovalPolicy::OnFailure, [RD, RD, P2, F]),
        (Mode::WorkspaceWrite,   ApprovalPolicy::OnRequest, [R,  R,  P2, F]),
        (Mode::WorkspaceWrite,   ApprovalPolicy::Never,     [R,  R,  N,  F]),
        (Mode::DangerFullAccess, ApprovalPolicy::Untrusted, [R,  P,  P2, F]),
        (Mode::DangerFullAccess, ApprovalPolicy::OnFailure, [R,  R,  P2, F]),
        (Mode::DangerFullAccess, ApprovalPolicy::OnRequest, [R,  R,  P2, F]),
        (Mode::DangerFullAccess, ApprovalPolicy::Never,     [R,  R,  N,  F]),
    ];

    #[test]
    fn every_cell_of_the_matrix() {
        let classes = [
            Class::Allow,
            Class::Ask,
            Class::AskDestructive,
            Class::Forbid,
        ];
        let mut cells = 0;
        for (mode, policy, expected) in TABLE {
            for (class, want) in classes.into_iter().zip(expected) {
                assert_eq!(
                    action(mode, policy, class),
                    want,
                    "{mode:?} {policy:?} {class:?}"
                );
                cells += 1;
            }
        }
        assert_eq!(cells, 3 * 4 * 4);
        // The table covers each (mode, policy) pair once.
        for mode in [Mode::ReadOnly, Mode::WorkspaceWrite, Mode::DangerFullAccess] {
            for policy in ApprovalPolicy::ALL {
                let n = TABLE
                    .iter()
                    .filter(|(m, p, _)| *m == mode && *p == policy)
                    .count();
                assert_eq!(n, 1, "{mode:?} {policy:?}");
            }
        }
    }

    #[test]
    fn destructive_never_runs_without_a_dual_prompt() {
        for (mode, policy, _) in TABLE {
            let a = action(mode, policy, Class::AskDestructive);
            assert!(
                matches!(a, Action::Prompt { dual: true } | Action::Refuse { .. }),
                "{mode:?} {policy:?}"
            );
        }
    }

    #[test]
    fn policy_names_round_trip() {
        for p in ApprovalPolicy::ALL {
            assert_eq!(ApprovalPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(ApprovalPolicy::parse("always"), None);
    }

    #[test]
    fn actions_serialize_with_a_tag() {
        let json = serde_json::to_string(&P2).unwrap();
        assert_eq!(json, r#"{"action":"prompt","dual":true}"#);
        let json = serde_json::to_string(&N).unwrap();
        assert_eq!(json, r#"{"action":"refuse","reason":"needs-approval"}"#);
    }
}
