//! brig's policy core.
//!
//! Owns the configuration model (TOML files with file:line:column errors), the three modes, the
//! default protected names and secret paths, the environment allowlist, and the pure function that
//! turns all of it into an [`EnforcementPlan`]. It must never make an OS call or contain `unsafe`:
//! everything it needs from the host arrives as plain data ([`HostFacts`], file contents).
//!
//! The flow, one module per step:
//!
//! 1. [`config`]: [`parse_config`] reads one file into a [`ConfigFile`], remembering where each
//!    key was written.
//! 2. [`resolve`](mod@resolve): [`resolve()`] layers defaults, user config, `--config`, the
//!    project's `.brig.toml` (which may only tighten unless [`trust`](mod@trust)ed) and the command line
//!    into one [`Policy`].
//! 3. [`compile`]: [`plan()`] combines the policy with [`HostFacts`] into the
//!    [`EnforcementPlan`] a backend enforces: expanded, checked paths, protected names, hidden
//!    secrets and the filtered environment ([`filter_env`]).
//! 4. [`explain()`] renders policy and plan for people; [`Policy`] and [`EnforcementPlan`] are
//!    `Serialize` for machines.
//!
//! Every default (protected names, secret paths, environment allowlist and veto) lives in
//! [`defaults`] as data with a reason per entry.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod carve;
pub mod compile;
pub mod config;
pub mod defaults;
pub mod env;
pub mod explain;
pub mod net;
pub mod plan;
pub mod resolve;
mod source;
pub mod trust;
pub mod units;

pub use compile::{expand_path, normalize, plan, protected_names, HostFacts, PlanError};
pub use config::{parse_config, ConfigError, ConfigFile, Location, Setting};
pub use env::{filter_env, FilteredEnv};
pub use explain::explain;
pub use plan::{
    name_matches, ApprovalPolicy, ApprovalSettings, AuditFiles, AuditPlan, EnforcementPlan,
    GitAccess, LimitSettings, LimitSources, Mode, NetworkMode, NetworkPlan, GIT_ALWAYS_PROTECTED,
    PROXY_PORT,
};
pub use resolve::{resolve, CliOverrides, Layers, Policy, ProjectConfig, ResolveError};
pub use trust::{
    is_trusted, parse_trust_store, serialize_trust_store, trust, TrustEntry, TrustError, TrustStore,
};
