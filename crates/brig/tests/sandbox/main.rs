//! The sandbox suite: real `brig run` sandboxes, as root and as an unprivileged user.
//!
//! Every threat test runs its attack first without brig (it must work, or the test would prove
//! nothing) and then under brig (it must fail, and the host must be unchanged, checked from
//! outside). Sections A, B, D and the lifetime part of E of THREATS.md, plus normal agent work
//! and the command line. See `support.rs` for identities, temp dirs and `BRIG_TEST_REQUIRE`.
//!
//! Run: `cargo test -p brig --test sandbox` (as root to cover both identities; CI sets
//! `BRIG_TEST_REQUIRE=all` so that a missing kernel feature fails instead of skipping).

#[macro_use]
mod support;

mod agent_files;
mod approvals;
mod audit;
mod cli;
mod git;
mod lifetime;
mod limits;
mod mcp;
mod network;
mod network_off;
mod normal_work;
mod privilege;
mod review;
mod secrets;
mod write_escape;
