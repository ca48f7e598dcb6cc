//! Dual approval as bookkeeping: who approved a prompt, and whether that is enough.
//!
//! A destructive command runs only when (1) the policy marks it approvable (the matrix says
//! [`Action::Prompt`], never `Run` or `Refuse`) and (2) enough distinct humans approved it
//! through a review channel: one, or two when the setting requires two distinct approvers. The
//! same approver twice counts once; any denial ends the request; so does a timeout. The channels
//! (TTY, approval service) feed this type and record each step in the audit trail.

use serde::Serialize;

use crate::approval::Action;

/// Someone who answered a prompt.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Approver {
    /// Who: the identity the channel established (a user name, a review-UI account).
    pub id: String,
    /// Through which channel (`tty`, `approval-service`, ...).
    pub channel: String,
}

impl Approver {
    /// An approver `id` answering through `channel`.
    pub fn new(id: impl Into<String>, channel: impl Into<String>) -> Approver {
        Approver {
            id: id.into(),
            channel: channel.into(),
        }
    }
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    /// Waiting for (more) approvals.
    Pending,
    /// Enough distinct humans approved.
    Approved,
    /// Someone denied it.
    Denied {
        /// Who.
        by: Approver,
    },
    /// Nobody answered in time: a timeout denies.
    TimedOut,
    /// The policy does not let anyone approve this command (the matrix said run or refuse).
    NotApprovable,
}

/// The approvals collected for one prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalState {
    required: usize,
    approvers: Vec<Approver>,
    status: Status,
}

impl ApprovalState {
    /// The state for a prompt the matrix asked for. `two_approvers` is the setting that requires
    /// two distinct human approvers for destructive commands. An action that is not a prompt is
    /// not approvable: nothing anyone does completes it.
    pub fn new(action: Action, two_approvers: bool) -> ApprovalState {
        match action {
            Action::Prompt { dual } => ApprovalState {
                required: if dual && two_approvers { 2 } else { 1 },
                approvers: Vec::new(),
                status: Status::Pending,
            },
            Action::Run { .. } | Action::Refuse { .. } => ApprovalState {
                required: 0,
                approvers: Vec::new(),
                status: Status::NotApprovable,
            },
        }
    }

    /// Records an approval. A second approval by the same approver (on any channel) counts
    /// once; an approval after the request ended changes nothing.
    pub fn approve(&mut self, approver: Approver) -> &Status {
        if self.status == Status::Pending {
            if !self.approvers.iter().any(|a| a.id == approver.id) {
                self.approvers.push(approver);
            }
            if self.approvers.len() >= self.required {
                self.status = Status::Approved;
            }
        }
        &self.status
    }

    /// Records a denial: it ends a pending request.
    pub fn deny(&mut self, approver: Approver) -> &Status {
        if self.status == Status::Pending {
            self.status = Status::Denied { by: approver };
        }
        &self.status
    }

    /// The deadline passed without enough approvals: a timeout denies.
    pub fn time_out(&mut self) -> &Status {
        if self.status == Status::Pending {
            self.status = Status::TimedOut;
        }
        &self.status
    }

    /// Whether the command may run: approvable, and enough distinct approvers approved.
    pub fn complete(&self) -> bool {
        self.status == Status::Approved
    }

    /// Where the request stands.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// How many distinct approvers are needed.
    pub fn required(&self) -> usize {
        self.required
    }

    /// The distinct approvers so far, in order.
    pub fn approvers(&self) -> &[Approver] {
        &self.approvers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::RefuseReason;

    fn alice() -> Approver {
        Approver::new("alice", "tty")
    }
    fn bob() -> Approver {
        Approver::new("bob", "approval-service")
    }

    #[test]
    fn one_approval_is_not_enough_when_two_are_required() {
        let mut s = ApprovalState::new(Action::Prompt { dual: true }, true);
        assert_eq!(s.required(), 2);
        s.approve(alice());
        assert!(!s.complete());
        assert_eq!(s.status(), &Status::Pending);
        s.approve(bob());
        assert!(s.complete());
        assert_eq!(s.approvers(), &[alice(), bob()]);
    }

    #[test]
    fn the_same_approver_twice_counts_once() {
        let mut s = ApprovalState::new(Action::Prompt { dual: true }, true);
        s.approve(alice());
        s.approve(alice());
        s.approve(Approver::new("alice", "approval-service"));
        assert!(!s.complete());
        assert_eq!(s.approvers().len(), 1);
    }

    #[test]
    fn one_approver_suffices_without_the_setting_or_for_non_destructive_prompts() {
        let mut s = ApprovalState::new(Action::Prompt { dual: true }, false);
        s.approve(alice());
        assert!(s.complete());
        let mut s = ApprovalState::new(Action::Prompt { dual: false }, true);
        assert_eq!(s.required(), 1);
        s.approve(alice());
        assert!(s.complete());
    }

    #[test]
    fn a_denial_ends_it() {
        let mut s = ApprovalState::new(Action::Prompt { dual: true }, true);
        s.approve(alice());
        s.deny(bob());
        s.approve(Approver::new("carol", "tty"));
        assert!(!s.complete());
        assert_eq!(s.status(), &Status::Denied { by: bob() });
    }

    #[test]
    fn a_timeout_denies() {
        let mut s = ApprovalState::new(Action::Prompt { dual: false }, false);
        s.time_out();
        s.approve(alice());
        assert!(!s.complete());
        assert_eq!(s.status(), &Status::TimedOut);
    }

    #[test]
    fn what_the_policy_does_not_let_anyone_approve_never_completes() {
        for action in [
            Action::Refuse {
                reason: RefuseReason::NeedsApproval,
            },
            Action::Refuse {
                reason: RefuseReason::Forbidden,
            },
            Action::Run {
                prompt_on_denial: false,
            },
        ] {
            let mut s = ApprovalState::new(action, false);
            s.approve(alice());
            s.approve(bob());
            assert!(!s.complete(), "{action:?}");
            assert_eq!(s.status(), &Status::NotApprovable);
        }
    }
}
