//! brig's Windows backend.
//!
//! What is here is the **pure planning layer**: functions that turn an
//! [`brig_policy::EnforcementPlan`] and facts about the host (plain data) into everything a
//! Windows runner would apply: a restricted, write-restricted token with a capability SID per
//! workspace ([`sid`]), the ACL entries on writable roots, protected entries and secrets, as a
//! delta against the ACLs already applied ([`acl`]), the create guard for protected names that
//! do not exist yet ([`guard`]), the job object ([`job`]), the Windows Filtering Platform
//! filters of the one-time elevated setup ([`setup`]) and the list of what that setup must undo
//! ([`uninstall`]). None of it makes an OS call; it is unit-tested on Linux.
//!
//! What is **not** here: the runner that would create the token, write the ACLs and start a
//! process. Until it exists, brig refuses to run commands on Windows ([`NotImplemented`], exit
//! 122) rather than run them unconfined. See `docs/windows.md` for the design, what is weaker
//! without the elevated setup, and the test plan for a Windows machine.
#![forbid(unsafe_code)]

pub mod acl;
pub mod guard;
pub mod job;
pub mod path;
pub mod plan;
pub mod setup;
pub mod sid;
pub mod uninstall;

pub use plan::{windows_plan, PlanError, WindowsHost, WindowsPlan};

/// Why this backend cannot run a command.
#[derive(Debug, thiserror::Error)]
#[error("the Windows sandbox backend is not implemented yet; brig refuses to run unconfined")]
pub struct NotImplemented;
