//! Thin wrappers over the Linux system calls brig needs and no crate covers well.
//!
//! This is the only module of brig-linux that contains `unsafe`. Every wrapper is safe to call:
//! its `unsafe` block states the invariant that makes the raw call sound.
#![allow(unsafe_code)]

pub mod linux;
pub mod seccomp;

pub use linux::*;
