//! brig-audit's integration tests, one binary split by topic.

mod common;
#[cfg(target_os = "linux")]
mod disk_full;
mod export;
mod sessions;
mod tamper;
mod write_read;
