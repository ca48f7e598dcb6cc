//! Real-kernel tests of resource limits and the timeout: `brig_linux::run_with_limits` on a
//! plan from `brig_policy`, as root and as an unprivileged user, each case checking what the
//! kernel did (sizes written, errors seen, processes left) rather than how long it took.
//!
//! A harness of its own (`harness = false`): `run_with_limits` forks and must be called from a
//! single-threaded process, which libtest's threads are not. So this `main` starts every case
//! in a fresh process of this same binary (`limits --case NAME`), as root or, through
//! `std::process::Command::uid`, as the unprivileged user (`brig-test` when it exists, else
//! `nobody`); when not run as root, the current user plays the unprivileged part and the root
//! cases are skipped.
//!
//! The mechanism differs by identity and host (on the development VM: cgroup v1 as root, the
//! rlimit fallback as a user). Each case reads what `brig_linux::probe()` reports and checks
//! the behaviour that goes with it, so neither identity is skipped silently.
//!
//! Like the sandbox suite, `BRIG_TEST_REQUIRE` (`all`, or a list: `root`, `userns`, `python3`)
//! turns a missing prerequisite from a skip into a failure.
//!
//! Run: `cargo test -p brig-linux --test limits [-- FILTER]`.

#[cfg(target_os = "linux")]
mod linux;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {}
