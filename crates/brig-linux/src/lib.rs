//! brig's Linux backend (also WSL2).
//!
//! Turns an [`brig_policy::EnforcementPlan`] into kernel-enforced confinement: user, mount, PID,
//! network, IPC and UTS namespaces; a read-only view of the host with writable binds for the
//! writable roots and read-only binds over every protected path; Landlock as an independent
//! second layer for writes; a seccomp filter; and a supervisor (the sandbox's PID 1) that reaps,
//! relays signals and refuses the creation of protected names through seccomp user
//! notifications; and resource limits (cgroup v2, cgroup v1 or rlimits, tmpfs sizes, a
//! wall-clock timeout: `limits.rs`, docs/limits.md). See ARCHITECTURE.md for the path of one
//! command.
//!
//! Only the `sys` module contains `unsafe`. Off Linux this crate is empty so the workspace still
//! builds everywhere.
#![cfg(target_os = "linux")]

mod guard;
mod landlock_rules;
mod limits;
mod mounts;
pub mod probe;
mod run;
pub mod seccomp;
mod sys;
mod walk;
mod walkcache;

pub use probe::probe;
pub use run::{run, run_with_limits, ProxyHandler, RunError, RunOptions, StartHook};

/// The machine's memory (`MemTotal` of `/proc/meminfo`), bytes: the base of the default memory
/// limit ([`brig_sandbox::Limits::defaults`]).
pub fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}
