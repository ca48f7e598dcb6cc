//! Bounded output (`--max-output`, `[limits] output`): the command's stdout and stderr go
//! through pipes that brig reads, passing on at most the limit of each stream to brig's own
//! stdout and stderr and dropping (and counting) the rest, so a caller that captures the output
//! never holds more than that, and a command that floods its output is not blocked: it keeps
//! running, its excess is discarded.
//!
//! While a run is bounded, brig's own descriptors 1 and 2 are the pipes (the sandbox inherits
//! them); [`Capture::finish`] puts the originals back. The relay threads start only once the
//! sandbox exists ([`Capture::start`], from the backend's start hook), because the backend forks
//! only while brig is single-threaded.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::thread::JoinHandle;

use brig_sandbox::LimitHit;

/// One bounded run's pipes and relays.
pub struct Capture {
    limit: u64,
    /// The original stdout and stderr, to relay to and to restore.
    saved: [OwnedFd; 2],
    /// The pipes' read ends until the relays take them.
    readers: Mutex<Option<[OwnedFd; 2]>>,
    relays: Mutex<Vec<JoinHandle<u64>>>,
}

impl Capture {
    /// Replaces descriptors 1 and 2 with pipes.
    pub fn install(limit: u64) -> io::Result<Capture> {
        let saved = [
            io::stdout().as_fd().try_clone_to_owned()?,
            io::stderr().as_fd().try_clone_to_owned()?,
        ];
        let flags = rustix::pipe::PipeFlags::CLOEXEC;
        let (out_r, out_w) = rustix::pipe::pipe_with(flags)?;
        let (err_r, err_w) = rustix::pipe::pipe_with(flags)?;
        let _ = io::stdout().flush();
        rustix::stdio::dup2_stdout(&out_w)?;
        rustix::stdio::dup2_stderr(&err_w)?;
        Ok(Capture {
            limit,
            saved,
            readers: Mutex::new(Some([out_r, err_r])),
            relays: Mutex::new(Vec::new()),
        })
    }

    /// Starts relaying (once).
    pub fn start(&self) {
        let Some(readers) = self
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let mut relays = self.relays.lock().unwrap_or_else(|p| p.into_inner());
        for (r, to) in readers.into_iter().zip(&self.saved) {
            let Ok(to) = to.try_clone() else { continue };
            let limit = self.limit;
            if let Ok(h) = std::thread::Builder::new()
                .name("brig-output".into())
                .spawn(move || relay(r, to, limit))
            {
                relays.push(h);
            }
        }
    }

    /// Restores brig's stdout and stderr, waits until the relays have passed on what the
    /// command wrote, and says which stream went over the limit.
    pub fn finish(self) -> Vec<LimitHit> {
        // Relays never started (the run failed before its sandbox existed): start them now
        // so that what was written is passed on.
        self.start();
        let _ = rustix::stdio::dup2_stdout(&self.saved[0]);
        let _ = rustix::stdio::dup2_stderr(&self.saved[1]);
        let relays = std::mem::take(&mut *self.relays.lock().unwrap_or_else(|p| p.into_inner()));
        let mut hits = Vec::new();
        for (h, stream) in relays.into_iter().zip(["stdout", "stderr"]) {
            let dropped = h.join().unwrap_or(0);
            if dropped > 0 {
                hits.push(LimitHit::Output {
                    stream,
                    limit_bytes: self.limit,
                    dropped_bytes: dropped,
                });
            }
        }
        hits
    }
}

/// Copies `from` to `to` up to `limit` bytes, then drains; returns the bytes dropped.
fn relay(from: OwnedFd, to: OwnedFd, limit: u64) -> u64 {
    let mut from = std::fs::File::from(from);
    let mut to = std::fs::File::from(to);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut passed, mut dropped) = (0u64, 0u64);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let room = usize::try_from(limit.saturating_sub(passed)).unwrap_or(usize::MAX);
        let keep = n.min(room);
        if keep > 0 && to.write_all(&buf[..keep]).is_ok() {
            passed += keep as u64;
        }
        dropped += (n - keep) as u64;
    }
    dropped
}
