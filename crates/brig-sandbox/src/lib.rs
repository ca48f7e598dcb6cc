//! The backend-neutral sandbox interface.
//!
//! Every OS backend (`brig-linux`, `brig-windows`, `brig-macos`) reports what the host can do as
//! [`Capabilities`], derives from it the [`Layer`]s a mode gets, and runs a command from an
//! [`brig_policy::EnforcementPlan`] within [`Limits`]. This crate holds only data and the rules
//! that relate them; it never touches the OS.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// One independent protection layer a backend can apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// User namespace: no real privileges inside, capabilities dropped.
    UserNamespace,
    /// Mount namespace: read-only root, writable binds, protected paths, masked secrets.
    MountNamespace,
    /// PID namespace: the command cannot see or signal host processes; everything dies with it.
    PidNamespace,
    /// Network namespace with loopback only (network off).
    NetworkNamespace,
    /// IPC and UTS namespaces.
    IpcUtsNamespace,
    /// Landlock filesystem rules (a second, independent layer for writes and denied reads).
    Landlock,
    /// seccomp-bpf syscall filter.
    Seccomp,
    /// seccomp user-notification supervisor that blocks creating protected names.
    CreateGuard,
    /// no_new_privs.
    NoNewPrivs,
}

impl Layer {
    /// Short human name.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::UserNamespace => "user-namespace",
            Layer::MountNamespace => "mount-namespace",
            Layer::PidNamespace => "pid-namespace",
            Layer::NetworkNamespace => "network-namespace",
            Layer::IpcUtsNamespace => "ipc-uts-namespace",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
            Layer::CreateGuard => "create-guard",
            Layer::NoNewPrivs => "no-new-privs",
        }
    }
}

/// What one host feature looks like on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Feature {
    /// Short identifier, e.g. `user-namespaces`.
    pub name: &'static str,
    /// Whether it is usable by this user right now.
    pub available: bool,
    /// What was found (version, ABI, reason it is unusable).
    pub detail: String,
    /// When unavailable: the exact fix, if one is known.
    pub fix: Option<String>,
}

/// What a host offers, as found by a backend's probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Platform name (`linux`, `windows`, `macos`).
    pub platform: &'static str,
    /// Kernel / OS release.
    pub release: String,
    /// Every feature checked, in a stable order.
    pub features: Vec<Feature>,
    /// The layers this host can apply.
    pub layers: Vec<Layer>,
}

impl Capabilities {
    /// Whether `layer` can be applied here.
    pub fn has(&self, layer: Layer) -> bool {
        self.layers.contains(&layer)
    }

    /// The feature named `name`, if probed.
    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// How a finished command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Exit {
    /// Exited with this status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The status brig itself exits with: the code, or 128+N for signal N.
    pub fn as_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// Something the sandbox reports while the command runs (for the audit trail). `pid` is the
/// process's pid inside the sandbox (the command is PID 2), `program` its executable, when
/// known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A layer refused something, e.g. the create guard refusing a protected name, or the
    /// seccomp filter refusing a syscall.
    Denied {
        /// The layer that refused.
        layer: Layer,
        /// What was refused, readable.
        what: &'a str,
        /// The process that tried.
        pid: Option<u32>,
        /// Its executable.
        program: Option<&'a str>,
    },
    /// A file-system change made by the command (as seen by the supervisor): `create`,
    /// `truncate`, `open-write`, `mkdir`, `mknod`, `symlink`, `link`, `rename`, `socket`,
    /// `delete`, `rmdir`, `chmod MODE`.
    Changed {
        /// The operation.
        op: &'a str,
        /// The absolute path (for a rename: `FROM -> TO`).
        path: &'a str,
        /// The process that made the change.
        pid: Option<u32>,
        /// Its executable.
        program: Option<&'a str>,
    },
    /// A file opened for reading (only when file reads are audited).
    Read {
        /// The absolute path.
        path: &'a str,
        /// The process that opened it.
        pid: Option<u32>,
        /// Its executable.
        program: Option<&'a str>,
    },
    /// A process connected to brig's proxy (network allowlist) from this local port on the
    /// sandbox's loopback: not recorded on its own, it names the process in the connection's
    /// record.
    ProxyClient {
        /// The client's local port.
        port: u16,
        /// The process that connected.
        pid: Option<u32>,
        /// Its executable.
        program: Option<&'a str>,
    },
    /// A program executed inside the sandbox.
    Exec {
        /// The program's path.
        path: &'a str,
        /// Its arguments (at most 256; a final `...` when cut).
        argv: &'a [String],
        /// The process that executed it (it keeps its pid).
        pid: Option<u32>,
        /// Its parent.
        ppid: Option<u32>,
        /// The executable the process ran before.
        program: Option<&'a str>,
    },
}

/// Resources the whole sandbox used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// User CPU time, microseconds.
    pub user_us: u64,
    /// System CPU time, microseconds.
    pub sys_us: u64,
    /// Peak resident set size of the largest process, KiB.
    pub max_rss_kb: u64,
    /// Peak memory charged to the whole sandbox (its cgroup: resident memory, page cache and
    /// `tmpfs` pages, kernel memory), bytes. `None` without a memory cgroup.
    pub peak_memory_bytes: Option<u64>,
    /// Most processes (threads included) that existed at once in the sandbox. `None` without a
    /// pids cgroup.
    pub peak_processes: Option<u64>,
}

/// What a backend reports after a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// How the command ended.
    pub exit: Exit,
    /// Layers that were applied.
    pub layers: Vec<Layer>,
    /// CPU time and peak memory of the sandbox's processes.
    pub usage: Usage,
    /// Attempts the create guard refused, e.g. "creating `sub/.git` (protected name)": how a
    /// `git init` inside the workspace is reported.
    pub blocked_creates: Vec<String>,
    /// The limits the sandbox ran into, most decisive first (a timeout, then memory, then
    /// processes); empty when none was reached or none could be observed (see [`LimitHit`]).
    pub limits_hit: Vec<LimitHit>,
}

/// The command to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments; `argv[0]` is looked up in the plan's `PATH` when it has no `/`.
    pub argv: Vec<OsString>,
}

/// One resource limit: its value and whether the user asked for it.
///
/// The distinction decides what happens on a host that cannot enforce the limit: an
/// **explicit** limit (from a configuration file or the command line) is enforced as asked or
/// the command is refused (fail closed); a **default** (brig's own) degrades to the best
/// mechanism the host offers, and `brig doctor` says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limit<T> {
    /// The value.
    pub value: T,
    /// Asked for by the user: enforced or refused, never weakened.
    pub explicit: bool,
}

impl<T> Limit<T> {
    /// A limit the user asked for.
    pub fn explicit(value: T) -> Limit<T> {
        Limit {
            value,
            explicit: true,
        }
    }

    /// One of brig's defaults.
    pub fn by_default(value: T) -> Limit<T> {
        Limit {
            value,
            explicit: false,
        }
    }
}

/// Default grace period between SIGTERM and SIGKILL when the timeout is reached.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// Default process limit (threads count too).
pub const DEFAULT_PROCESSES: u64 = 4096;
/// Default size of the private `/tmp` and of `/var/tmp` (each).
pub const DEFAULT_TMP_BYTES: u64 = 1 << 30;
/// Default size of the private `/dev/shm`.
pub const DEFAULT_SHM_BYTES: u64 = 256 << 20;
/// Default largest file the command may write.
pub const DEFAULT_FILE_BYTES: u64 = 8 << 30;
/// The default memory limit is half the machine's memory, at most this.
pub const DEFAULT_MEMORY_CAP_BYTES: u64 = 16 << 30;

/// Bounds on what one sandbox may use. Every limit is optional; [`Limits::default`] has none
/// (what a backend applies when nobody asked), [`Limits::defaults`] has brig's defaults.
///
/// What enforces each limit depends on the host (cgroup v2, cgroup v1, rlimits): see
/// `docs/limits.md` and `brig doctor`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// Memory of the whole sandbox, bytes (swap is not granted on top).
    pub memory_bytes: Option<Limit<u64>>,
    /// Processes (and threads) that may exist at once in the sandbox.
    pub processes: Option<Limit<u64>>,
    /// CPU bandwidth, in cores (`1.5` = one and a half CPUs' worth of time per period).
    pub cpus: Option<Limit<f64>>,
    /// Wall-clock time the command may run; then SIGTERM to everything, and SIGKILL after
    /// [`Limits::grace`].
    #[serde(serialize_with = "ser_opt_limit_secs")]
    pub timeout: Option<Limit<Duration>>,
    /// Size of the private `/tmp` and of the private `/var/tmp` (each), bytes.
    pub tmp_bytes: Option<Limit<u64>>,
    /// Size of the private `/dev/shm`, bytes.
    pub shm_bytes: Option<Limit<u64>>,
    /// Largest file the command may write (`RLIMIT_FSIZE`), bytes.
    pub file_bytes: Option<Limit<u64>>,
    /// Time between SIGTERM and SIGKILL when the timeout is reached.
    #[serde(serialize_with = "ser_secs")]
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: None,
            processes: None,
            cpus: None,
            timeout: None,
            tmp_bytes: None,
            shm_bytes: None,
            file_bytes: None,
            grace: DEFAULT_GRACE,
        }
    }
}

impl Limits {
    /// brig's defaults, none of them explicit: memory half of `total_memory` (at most 16 GiB;
    /// none when the machine's memory is unknown), 4096 processes, `/tmp` and `/var/tmp` 1 GiB
    /// each, `/dev/shm` 256 MiB, files 8 GiB, no CPU cap, no timeout, a 2 s grace.
    pub fn defaults(total_memory: Option<u64>) -> Limits {
        Limits {
            memory_bytes: total_memory
                .map(|m| Limit::by_default((m / 2).min(DEFAULT_MEMORY_CAP_BYTES))),
            processes: Some(Limit::by_default(DEFAULT_PROCESSES)),
            cpus: None,
            timeout: None,
            tmp_bytes: Some(Limit::by_default(DEFAULT_TMP_BYTES)),
            shm_bytes: Some(Limit::by_default(DEFAULT_SHM_BYTES)),
            file_bytes: Some(Limit::by_default(DEFAULT_FILE_BYTES)),
            grace: DEFAULT_GRACE,
        }
    }

    /// Checks that every value can be enforced meaningfully (not how: that is the backend's
    /// question). The message names the limit and the smallest value allowed.
    pub fn validate(&self) -> Result<(), String> {
        let min = |name: &str, v: Option<Limit<u64>>, floor: u64| match v {
            Some(l) if l.value < floor => Err(format!(
                "{name} of {} is too small (at least {})",
                format_bytes(l.value),
                format_bytes(floor)
            )),
            _ => Ok(()),
        };
        min("the memory limit", self.memory_bytes, 1 << 20)?;
        min("the size of /tmp", self.tmp_bytes, 1 << 20)?;
        min("the size of /dev/shm", self.shm_bytes, 1 << 20)?;
        min("the file size limit", self.file_bytes, 1)?;
        if let Some(p) = self.processes {
            if p.value < 2 {
                return Err(format!(
                    "a process limit of {} is too small (at least 2: the sandbox's own init and the command)",
                    p.value
                ));
            }
        }
        if let Some(c) = self.cpus {
            if !c.value.is_finite() || c.value < 0.01 {
                return Err(format!(
                    "a CPU limit of {} is not allowed (at least 0.01 cores)",
                    c.value
                ));
            }
        }
        if let Some(t) = self.timeout {
            if t.value.is_zero() {
                return Err("a timeout of 0 is not allowed".into());
            }
        }
        Ok(())
    }
}

/// A limit the sandbox ran into, as far as the backend could observe it.
///
/// A timeout is always observed. Memory and process limits are observed only where a cgroup
/// enforces them (its `oom_kill` and `max` event counters); under the rlimit fallback the
/// command only sees failing allocations (`ENOMEM`) or forks (`EAGAIN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LimitHit {
    /// The wall-clock timeout was reached: everything got SIGTERM, then SIGKILL after the grace.
    Timeout {
        /// The timeout.
        #[serde(serialize_with = "ser_secs")]
        after: Duration,
    },
    /// The memory limit was reached and the kernel's out-of-memory killer ended a process.
    Memory {
        /// The limit, bytes.
        limit_bytes: u64,
    },
    /// The process limit was reached: creating a process (or thread) failed.
    Processes {
        /// The limit.
        limit: u64,
    },
    /// The output limit was reached on a stream: what came after was dropped.
    Output {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The limit, bytes.
        limit_bytes: u64,
        /// Bytes dropped.
        dropped_bytes: u64,
    },
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitHit::Timeout { after } => write!(
                f,
                "wall-clock timeout of {} reached",
                format_duration(*after)
            ),
            LimitHit::Memory { limit_bytes } => write!(
                f,
                "memory limit of {} reached (the out-of-memory killer ended a process)",
                format_bytes(*limit_bytes)
            ),
            LimitHit::Processes { limit } => write!(
                f,
                "process limit of {limit} reached (creating a process failed)"
            ),
            LimitHit::Output {
                stream,
                limit_bytes,
                dropped_bytes,
            } => write!(
                f,
                "output limit of {} reached on {stream}: {dropped_bytes} more bytes were dropped",
                format_bytes(*limit_bytes)
            ),
        }
    }
}

fn ser_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn ser_opt_limit_secs<S: Serializer>(d: &Option<Limit<Duration>>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|l| Limit {
        value: l.value.as_secs_f64(),
        explicit: l.explicit,
    })
    .serialize(s)
}

/// `512 MiB`, `1.5 GiB`, `4096 B`: binary units, at most one decimal.
pub fn format_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, size) in UNITS {
        if b >= size {
            let whole = b / size;
            let tenth = (b % size) * 10 / size;
            return if tenth == 0 {
                format!("{whole} {name}")
            } else {
                format!("{whole}.{tenth} {name}")
            };
        }
    }
    format!("{b} B")
}

/// `90s` → `1m30s`, `500ms`, `2h`: the largest units, down to milliseconds.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || rest > 0 {
        if rest > 0 {
            out.push_str(&format!(
                "{s}.{}s",
                format!("{rest:03}").trim_end_matches('0')
            ));
        } else {
            out.push_str(&format!("{s}s"));
        }
    }
    out
}

pub use brig_policy::units::{parse_duration, parse_size};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_for_people() {
        assert_eq!(format_bytes(512 << 20), "512 MiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(100), "100 B");
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn defaults_are_not_explicit_and_cap_memory() {
        let d = Limits::defaults(Some(64 << 30));
        assert_eq!(d.memory_bytes, Some(Limit::by_default(16 << 30)));
        let d = Limits::defaults(Some(8 << 30));
        assert_eq!(d.memory_bytes, Some(Limit::by_default(4 << 30)));
        assert_eq!(d.processes, Some(Limit::by_default(4096)));
        assert_eq!(d.tmp_bytes, Some(Limit::by_default(1 << 30)));
        assert_eq!(d.shm_bytes, Some(Limit::by_default(256 << 20)));
        assert_eq!(d.file_bytes, Some(Limit::by_default(8 << 30)));
        assert_eq!((d.cpus, d.timeout, d.grace), (None, None, DEFAULT_GRACE));
        assert_eq!(Limits::defaults(None).memory_bytes, None);
        assert_eq!(d.validate(), Ok(()));
        assert_eq!(Limits::default().grace, Duration::from_secs(2));
    }

    #[test]
    fn validation_names_the_limit() {
        let l = Limits {
            processes: Some(Limit::explicit(1)),
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().contains("process limit of 1"));
        let l = Limits {
            cpus: Some(Limit::explicit(f64::NAN)),
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().contains("CPU limit"));
        let l = Limits {
            memory_bytes: Some(Limit::explicit(4096)),
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().contains("memory limit of 4 KiB"));
    }

    #[test]
    fn hits_read_as_messages_and_serialize_in_seconds() {
        let t = LimitHit::Timeout {
            after: Duration::from_secs(10),
        };
        assert_eq!(t.to_string(), "wall-clock timeout of 10s reached");
        assert_eq!(
            LimitHit::Memory {
                limit_bytes: 512 << 20
            }
            .to_string(),
            "memory limit of 512 MiB reached (the out-of-memory killer ended a process)"
        );
        assert_eq!(
            LimitHit::Processes { limit: 64 }.to_string(),
            "process limit of 64 reached (creating a process failed)"
        );
    }
}
