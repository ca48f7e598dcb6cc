//! brig's macOS backend: Seatbelt.
//!
//! [`profile`] turns an [`brig_policy::EnforcementPlan`] into a Seatbelt profile (SBPL text): a
//! pure function, golden-tested on every host (`tests/golden/*.sb`). On macOS, `run` (compiled
//! only there) starts the command under `/usr/bin/sandbox-exec` with that profile, the plan's
//! environment, its working directory and a private temp dir, and maps how it ended to a
//! [`brig_sandbox::Outcome`]. See docs/macos.md for what is enforced, what is weaker than on
//! Linux, and the test plan for a real Mac: **none of this has run on macOS yet**.
#![forbid(unsafe_code)]

pub mod profile;
#[cfg(target_os = "macos")]
mod run;

pub use profile::{seatbelt_profile, seatbelt_profile_with_brig_dirs, Profile, ProfileError};
#[cfg(target_os = "macos")]
pub use run::{run_with_limits, ProxyHandler, RunError, RunOptions, SANDBOX_EXEC};
