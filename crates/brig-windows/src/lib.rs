//! brig's Windows backend. Not implemented yet: brig refuses to run commands on Windows rather
//! than run them unconfined (see the Windows issue). This crate exists so the workspace builds
//! for `x86_64-pc-windows-gnu`.
#![forbid(unsafe_code)]

/// Why this backend cannot run a command.
#[derive(Debug, thiserror::Error)]
#[error("the Windows sandbox backend is not implemented yet; brig refuses to run unconfined")]
pub struct NotImplemented;
