//! brig's macOS backend. Not implemented yet: brig refuses to run commands on macOS rather
//! than run them unconfined (see the macOS issue). This crate exists so the workspace builds
//! for `aarch64-apple-darwin`.
#![forbid(unsafe_code)]

/// Why this backend cannot run a command.
#[derive(Debug, thiserror::Error)]
#[error("the macOS sandbox backend is not implemented yet; brig refuses to run unconfined")]
pub struct NotImplemented;
