//! The backend-neutral sandbox interface.
//!
//! Every OS backend (`brig-linux`, `brig-windows`, `brig-macos`) reports what the host can do as
//! [`Capabilities`], derives from it the [`Layer`]s a mode gets, and runs a command from an
//! [`brig_policy::EnforcementPlan`]. This crate holds only data and the rules that relate them;
//! it never touches the OS.
#![forbid(unsafe_code)]

use std::ffi::OsString;

use serde::Serialize;

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
}

/// The command to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments; `argv[0]` is looked up in the plan's `PATH` when it has no `/`.
    pub argv: Vec<OsString>,
}
