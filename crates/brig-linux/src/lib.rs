//! brig's Linux backend (also WSL2).
//!
//! Turns an [`brig_policy::EnforcementPlan`] into kernel-enforced confinement: user, mount, PID,
//! network, IPC and UTS namespaces; a read-only view of the host with writable binds for the
//! writable roots and read-only binds over every protected path; Landlock as an independent
//! second layer for writes; a seccomp filter; and a supervisor (the sandbox's PID 1) that reaps,
//! relays signals and refuses the creation of protected names through seccomp user
//! notifications. See ARCHITECTURE.md for the path of one command.
//!
//! Only the `sys` module contains `unsafe`. Off Linux this crate is empty so the workspace still
//! builds everywhere.
#![cfg(target_os = "linux")]

mod guard;
mod landlock_rules;
mod mounts;
pub mod probe;
mod run;
pub mod seccomp;
mod sys;
mod walk;
mod walkcache;

pub use probe::probe;
pub use run::{run, RunError, RunOptions};
