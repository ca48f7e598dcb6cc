//! Resource limits: which mechanism bounds what on this host, the cgroups of one run, and the
//! fallback (rlimits, tmpfs sizes). The user-facing account is `docs/limits.md`.
//!
//! Each limit is enforced by the best mechanism the host offers, chosen per cgroup controller:
//!
//! | limit | cgroup v2 | cgroup v1 | without a writable cgroup |
//! |---|---|---|---|
//! | memory | `memory.max`, `memory.swap.max` = 0 | `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`) | `RLIMIT_DATA` per process; an explicit limit is refused |
//! | processes | `pids.max` | `pids.max` | `RLIMIT_NPROC`, counted in the sandbox's user namespace (not for root; Linux 5.14+); otherwise an explicit limit is refused |
//! | CPUs | `cpu.max` | `cpu.cfs_quota_us` | none; an explicit limit is refused |
//! | file size | `RLIMIT_FSIZE` | | |
//! | `/tmp`, `/var/tmp`, `/dev/shm` | `tmpfs` `size=` and `nr_inodes=` | | |
//! | timeout | the sandbox's init: SIGTERM to everything, SIGKILL after the grace | | |
//!
//! **Explicit or default.** A limit the user asked for ([`Limit::explicit`]) is enforced as asked
//! or the run is refused ([`Refusal`], exit 122); one of brig's defaults degrades to what the
//! host offers ([`resolve`]).
//!
//! **Where the cgroups go.** Each run gets one cgroup, `run-PID-N`, in every hierarchy it uses:
//!
//! - as root, under a `brig` cgroup at the top of the hierarchy (`/sys/fs/cgroup/brig` on a
//!   unified host, `/sys/fs/cgroup/memory/brig`, `.../pids/brig`, `.../cpu/brig` on cgroup v1),
//!   as container runtimes do; the caller's own cgroup is left alone;
//! - as a user with a delegated cgroup v2 subtree (`systemd-run --user --scope -p Delegate=yes`,
//!   a service with `Delegate=yes`): inside brig's own cgroup. A cgroup with processes cannot
//!   hand controllers to children (the no-internal-processes rule), so on the first run brig
//!   moves itself into a `brig-supervisor` leaf of its own cgroup, enables the controllers there,
//!   and creates run cgroups beside that leaf. This only happens when brig is the only process
//!   in its cgroup: brig never moves anyone else.
//!
//! brig creates and configures the run's cgroups before the sandbox exists, and writes the
//! sandbox's init into them right after `clone`, before it sends init the protected-path walk
//! that init waits for before it starts the command: nothing of the command runs outside. At
//! the end it reads the peaks and the event counters, writes `cgroup.kill` (v2) and removes the
//! cgroups; the PID namespace has already killed every process. A run cgroup left behind by a
//! brig that was killed is empty (its processes died with the namespace) and is removed by the
//! next run.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use brig_sandbox::{format_bytes, Feature, Limit, Limits};

use crate::sys;

/// A cgroup controller brig uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ctrl {
    Memory,
    Pids,
    Cpu,
}

impl Ctrl {
    const ALL: [Ctrl; 3] = [Ctrl::Memory, Ctrl::Pids, Ctrl::Cpu];

    fn name(self) -> &'static str {
        match self {
            Ctrl::Memory => "memory",
            Ctrl::Pids => "pids",
            Ctrl::Cpu => "cpu",
        }
    }
}

/// The cgroup interface version of a hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

impl Version {
    fn name(self) -> &'static str {
        match self {
            Version::V1 => "cgroup v1",
            Version::V2 => "cgroup v2",
        }
    }
}

/// How brig may create cgroups in a hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// As root, under a `brig` cgroup at the top of the hierarchy (created on first use).
    Root,
    /// cgroup v2 delegated to this user, brig alone in its own cgroup: on the first run brig
    /// moves itself into a `brig-supervisor` leaf and enables the controllers.
    Delegated,
    /// cgroup v2 delegated, brig already in its `brig-supervisor` leaf.
    DelegatedReady,
    /// cgroup v1: a `brig` cgroup an administrator created and gave to this user.
    Prepared,
}

/// One hierarchy where brig can create run cgroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub version: Version,
    pub access: Access,
    /// The cgroup run cgroups are created in.
    pub parent: PathBuf,
    /// The controllers brig can use there.
    pub ctrls: Vec<Ctrl>,
}

impl Place {
    fn describe(&self) -> String {
        let how = match self.access {
            Access::Root => "root",
            Access::Delegated | Access::DelegatedReady => "delegated",
            Access::Prepared => "prepared",
        };
        format!("{} ({how}: {})", self.version.name(), self.parent.display())
    }
}

/// What discovery reads from the host: a seam, so that it can be tested on a fake tree.
pub(crate) trait HostFs {
    /// The contents of a file, if readable.
    fn read(&self, path: &Path) -> Option<String>;
    /// Whether this process may write the file or directory.
    fn writable(&self, path: &Path) -> bool;
    /// Whether the path exists.
    fn exists(&self, path: &Path) -> bool;
}

/// The real host.
pub(crate) struct RealFs;

impl HostFs for RealFs {
    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn writable(&self, path: &Path) -> bool {
        sys::writable(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// What this host offers for resource limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostView {
    /// Hierarchies brig can use, cgroup v2 first.
    pub places: Vec<Place>,
    /// Why other hierarchies are not usable (for `brig doctor` and refusals).
    pub notes: Vec<String>,
    /// The real uid.
    pub uid: u32,
    /// `RLIMIT_NPROC` bounds the sandbox alone: counted per user namespace (Linux 5.14+), and
    /// the user is not root (exempt from it).
    pub nproc_per_userns: bool,
}

impl HostView {
    /// Reads the host as this process sees it.
    pub fn discover() -> HostView {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        discover(&RealFs, sys::ids().0, sys::getpid() as u32, release.trim())
    }

    fn place_for(&self, c: Ctrl) -> Option<&Place> {
        self.places.iter().find(|p| p.ctrls.contains(&c))
    }

    fn why_not(&self) -> String {
        if self.notes.is_empty() {
            "no cgroup hierarchy found".into()
        } else {
            self.notes.join("; ")
        }
    }
}

/// One mount from `/proc/self/mountinfo`.
struct Mount {
    point: PathBuf,
    fstype: String,
    super_opts: Vec<String>,
}

/// Undoes the octal escapes of mountinfo (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) if b[i] == b'\\' => {
                out.push(
                    d.iter()
                        .fold(0u8, |v, c| v.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let point = head.split(' ').nth(4)?;
            let mut t = tail.split(' ');
            let fstype = t.next()?.to_string();
            let _source = t.next();
            let super_opts = t
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::to_string)
                .collect();
            Some(Mount {
                point: PathBuf::from(unescape_mount(point)),
                fstype,
                super_opts,
            })
        })
        .collect()
}

/// The controllers named in a `cgroup.controllers` / `cgroup.subtree_control` text.
fn ctrls_in(text: &str) -> Vec<Ctrl> {
    let names: Vec<&str> = text.split_whitespace().collect();
    Ctrl::ALL
        .into_iter()
        .filter(|c| names.contains(&c.name()))
        .collect()
}

/// Joins an absolute cgroup path below a mount point.
fn below(mount: &Path, cgroup: &str) -> PathBuf {
    let rel = cgroup.trim_start_matches('/');
    if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

/// Reads the host through `fs` (as uid `uid`, process `pid`, kernel `release`).
pub(crate) fn discover(fs: &dyn HostFs, uid: u32, pid: u32, release: &str) -> HostView {
    let mounts = parse_mountinfo(
        &fs.read(Path::new("/proc/self/mountinfo"))
            .unwrap_or_default(),
    );
    let own = fs
        .read(Path::new("/proc/self/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string));
    let mut places: Vec<Place> = Vec::new();
    let mut notes = Vec::new();

    if let Some(m) = mounts.iter().find(|m| m.fstype == "cgroup2") {
        match v2_place(fs, &m.point, own.as_deref(), uid, pid) {
            Ok(p) => places.push(p),
            Err(why) => notes.push(why),
        }
    }
    for c in Ctrl::ALL {
        if places.iter().any(|p| p.ctrls.contains(&c)) {
            continue;
        }
        let Some(m) = mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == c.name()))
        else {
            continue;
        };
        let parent = m.point.join("brig");
        if let Some(p) = places.iter_mut().find(|p| p.parent == parent) {
            p.ctrls.push(c);
            continue;
        }
        let access = if uid == 0 && fs.writable(&m.point) {
            Some(Access::Root)
        } else if fs.exists(&parent) && fs.writable(&parent) {
            Some(Access::Prepared)
        } else {
            None
        };
        match access {
            Some(access) => places.push(Place {
                version: Version::V1,
                access,
                parent,
                ctrls: vec![c],
            }),
            None => notes.push(format!(
                "cgroup v1 {} at {}: not writable by uid {uid}",
                c.name(),
                m.point.display()
            )),
        }
    }
    HostView {
        places,
        notes,
        uid,
        nproc_per_userns: uid != 0 && crate::probe::release_at_least(release, 5, 14),
    }
}

/// The cgroup v2 place for this process, or why there is none.
fn v2_place(
    fs: &dyn HostFs,
    mount: &Path,
    own: Option<&str>,
    uid: u32,
    pid: u32,
) -> Result<Place, String> {
    let at = |p: &Path, f: &str| p.join(f);
    let mut why = Vec::new();
    if uid == 0 {
        let parent = mount.join("brig");
        let avail = if fs.exists(&parent) {
            fs.read(&at(&parent, "cgroup.controllers"))
        } else {
            fs.read(&at(mount, "cgroup.subtree_control"))
        };
        let ctrls = ctrls_in(&avail.unwrap_or_default());
        if !ctrls.is_empty() && fs.writable(mount) {
            return Ok(Place {
                version: Version::V2,
                access: Access::Root,
                parent,
                ctrls,
            });
        }
        why.push(format!(
            "cgroup2 at {}: no memory, pids or cpu controller enabled at its top",
            mount.display()
        ));
    }
    match own {
        None => why.push("this process has no cgroup v2 path".into()),
        Some(own) => {
            if let Some(parent_path) = own.strip_suffix("/brig-supervisor") {
                let base = below(mount, parent_path);
                let ctrls = ctrls_in(
                    &fs.read(&at(&base, "cgroup.subtree_control"))
                        .unwrap_or_default(),
                );
                if !ctrls.is_empty() && fs.writable(&base) {
                    return Ok(Place {
                        version: Version::V2,
                        access: Access::DelegatedReady,
                        parent: base,
                        ctrls,
                    });
                }
            }
            let base = below(mount, own);
            let ctrls = ctrls_in(
                &fs.read(&at(&base, "cgroup.controllers"))
                    .unwrap_or_default(),
            );
            let procs: Vec<String> = fs
                .read(&at(&base, "cgroup.procs"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let writable = fs.writable(&base)
                && fs.writable(&at(&base, "cgroup.procs"))
                && fs.writable(&at(&base, "cgroup.subtree_control"));
            if ctrls.is_empty() {
                why.push(format!(
                    "own cgroup {}: no memory, pids or cpu controller available",
                    base.display()
                ));
            } else if !writable {
                why.push(format!(
                    "own cgroup {}: not delegated to uid {uid} (not writable)",
                    base.display()
                ));
            } else if procs != [pid.to_string()] {
                why.push(format!(
                    "own cgroup {} holds {} other process(es): controllers cannot be enabled below it (run brig alone in a delegated scope)",
                    base.display(),
                    procs.iter().filter(|p| **p != pid.to_string()).count()
                ));
            } else {
                return Ok(Place {
                    version: Version::V2,
                    access: Access::Delegated,
                    parent: base,
                    ctrls,
                });
            }
        }
    }
    Err(why.join("; "))
}

/// How one limit is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum By {
    /// A cgroup controller: the whole sandbox.
    Cgroup(Version),
    /// An rlimit on the command and everything it starts.
    Rlimit,
}

/// Every limit of one run with its mechanism.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Enforcement {
    pub memory: Option<(u64, By)>,
    pub processes: Option<(u64, By)>,
    pub cpus: Option<f64>,
    pub file_bytes: Option<u64>,
    pub tmp_bytes: Option<u64>,
    pub shm_bytes: Option<u64>,
    pub timeout: Option<Duration>,
    pub grace: Duration,
    /// The hierarchies a run creates a cgroup in, with the controllers it uses there.
    pub cgroups: Vec<(Place, Vec<Ctrl>)>,
}

/// An explicit limit no mechanism of this host can enforce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub what: &'static str,
    pub detail: String,
    pub fix: &'static str,
}

/// The fix for a limit that needs a writable cgroup.
pub(crate) const FIX_CGROUP: &str = "run brig as root, or in a cgroup v2 subtree delegated to you with brig alone in it (e.g. `systemd-run --user --scope -p Delegate=yes -- brig run ...`); or leave this limit to brig's default, which degrades to what the host offers (docs/limits.md)";
const FIX_PIDS_ROOT: &str = "root is exempt from RLIMIT_NPROC: mount the cgroup pids controller (cgroup v1 or v2), or run brig as an unprivileged user (docs/limits.md)";
const FIX_PIDS_OLD: &str = "before Linux 5.14 RLIMIT_NPROC counts every process of the user: upgrade the kernel, or run brig as root or in a delegated cgroup v2 subtree (docs/limits.md)";

/// Chooses the mechanism of every limit; refuses an explicit limit nothing can enforce.
pub(crate) fn resolve(limits: &Limits, host: &HostView) -> Result<Enforcement, Refusal> {
    let mut used: Vec<Ctrl> = Vec::new();
    let cgroup = |c: Ctrl, used: &mut Vec<Ctrl>| {
        host.place_for(c).map(|p| {
            used.push(c);
            By::Cgroup(p.version)
        })
    };
    let memory = match limits.memory_bytes {
        None => None,
        Some(l) => match cgroup(Ctrl::Memory, &mut used) {
            Some(by) => Some((l.value, by)),
            None if l.explicit => {
                return Err(Refusal {
                    what: "memory limits",
                    detail: format!(
                        "a memory limit of {} for the whole sandbox needs a writable memory cgroup, and there is none here ({})",
                        format_bytes(l.value),
                        host.why_not()
                    ),
                    fix: FIX_CGROUP,
                })
            }
            None => Some((l.value, By::Rlimit)),
        },
    };
    let processes = match limits.processes {
        None => None,
        Some(l) => match cgroup(Ctrl::Pids, &mut used) {
            Some(by) => Some((l.value, by)),
            None if host.nproc_per_userns => Some((l.value, By::Rlimit)),
            None if l.explicit => {
                let (why, fix) = if host.uid == 0 {
                    ("root is exempt from RLIMIT_NPROC", FIX_PIDS_ROOT)
                } else {
                    (
                        "this kernel counts RLIMIT_NPROC across all of the user's processes (before Linux 5.14)",
                        FIX_PIDS_OLD,
                    )
                };
                return Err(Refusal {
                    what: "process limits",
                    detail: format!(
                        "a limit of {} processes needs a writable pids cgroup or RLIMIT_NPROC; no pids cgroup is writable here ({}) and {why}",
                        l.value,
                        host.why_not()
                    ),
                    fix,
                });
            }
            None => None,
        },
    };
    let cpus = match limits.cpus {
        None => None,
        Some(l) => match cgroup(Ctrl::Cpu, &mut used) {
            Some(_) => Some(l.value),
            None if l.explicit => {
                return Err(Refusal {
                    what: "CPU limits",
                    detail: format!(
                    "a limit of {} CPUs needs a writable cpu cgroup, and there is none here ({})",
                    l.value,
                    host.why_not()
                ),
                    fix: FIX_CGROUP,
                })
            }
            None => None,
        },
    };
    let mut cgroups: Vec<(Place, Vec<Ctrl>)> = Vec::new();
    for c in used {
        if let Some(p) = host.place_for(c) {
            match cgroups.iter_mut().find(|(q, _)| q == p) {
                Some((_, cs)) => cs.push(c),
                None => cgroups.push((p.clone(), vec![c])),
            }
        }
    }
    let value = |l: Option<Limit<u64>>| l.map(|l| l.value);
    Ok(Enforcement {
        memory,
        processes,
        cpus,
        file_bytes: value(limits.file_bytes),
        tmp_bytes: value(limits.tmp_bytes),
        shm_bytes: value(limits.shm_bytes),
        timeout: limits.timeout.map(|l| l.value),
        grace: limits.grace,
        cgroups,
    })
}

/// Sizes of the private scratch filesystems.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScratchSizes {
    /// `/tmp` and `/var/tmp` (each).
    pub tmp: Option<u64>,
    /// `/dev/shm`.
    pub shm: Option<u64>,
}

/// The rlimits the command's process sets before it executes the command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rlimits {
    /// `RLIMIT_FSIZE` (and SIGXFSZ ignored, so writes fail with `EFBIG`).
    pub file_size: Option<u64>,
    /// `RLIMIT_DATA`: the memory fallback.
    pub data: Option<u64>,
    /// `RLIMIT_NPROC`: the process fallback.
    pub processes: Option<u64>,
}

impl Enforcement {
    /// Sizes of `/tmp`, `/var/tmp` and `/dev/shm`.
    pub fn scratch(&self) -> ScratchSizes {
        ScratchSizes {
            tmp: self.tmp_bytes,
            shm: self.shm_bytes,
        }
    }

    /// The rlimits of the command.
    pub fn rlimits(&self) -> Rlimits {
        let rl = |x: Option<(u64, By)>| match x {
            Some((v, By::Rlimit)) => Some(v),
            _ => None,
        };
        Rlimits {
            file_size: self.file_bytes,
            data: rl(self.memory),
            processes: rl(self.processes),
        }
    }
}

/// Mount options of a private tmpfs of `size` bytes (`base`: its other options): at most one
/// inode per 4 KiB, so that empty files cannot pin unbounded kernel memory either.
pub(crate) fn tmpfs_options(base: &str, size: Option<u64>) -> String {
    match size {
        Some(b) => format!("{base},size={b},nr_inodes={}", (b / 4096).max(1024)),
        None => base.to_string(),
    }
}

/// CFS period brig uses, microseconds.
const CPU_PERIOD_US: u64 = 100_000;

fn cpu_quota_us(cpus: f64) -> u64 {
    ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000)
}

static RUN_SEQ: AtomicU32 = AtomicU32::new(0);

/// The cgroups of one run, removed on drop.
pub(crate) struct RunCgroups {
    leaves: Vec<Leaf>,
    creator: libc::pid_t,
}

struct Leaf {
    version: Version,
    dir: PathBuf,
    ctrls: Vec<Ctrl>,
}

/// What the cgroups observed during the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Observed {
    pub peak_memory: Option<u64>,
    pub peak_processes: Option<u64>,
    /// Processes the out-of-memory killer ended in the sandbox.
    pub oom_kills: u64,
    /// Times creating a process failed at `pids.max`.
    pub pids_max_hits: u64,
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    let p = dir.join(file);
    std::fs::write(&p, value).map_err(|e| format!("writing `{value}` to {}: {e}", p.display()))
}

fn mkdir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("creating the cgroup {}: {e}", dir.display())),
    }
}

/// The value after `key` in a flat-keyed file (`oom_kill 3`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Enables `ctrls` for the children of `dir` (cgroup v2), those not enabled yet.
fn enable_controllers(dir: &Path, ctrls: &[Ctrl]) -> Result<(), String> {
    let on =
        ctrls_in(&std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default());
    let missing: Vec<String> = ctrls
        .iter()
        .filter(|c| !on.contains(c))
        .map(|c| format!("+{}", c.name()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    write(dir, "cgroup.subtree_control", &missing.join(" "))
}

/// Gets a place ready for run cgroups (idempotent).
fn prepare(place: &Place, ctrls: &[Ctrl]) -> Result<(), String> {
    match (place.version, place.access) {
        (_, Access::Prepared) | (_, Access::DelegatedReady) => Ok(()),
        (Version::V1, _) => mkdir(&place.parent),
        (Version::V2, Access::Root) => {
            mkdir(&place.parent)?;
            enable_controllers(&place.parent, ctrls)
        }
        (Version::V2, Access::Delegated) => {
            let leaf = place.parent.join("brig-supervisor");
            mkdir(&leaf)?;
            write(&leaf, "cgroup.procs", &sys::getpid().to_string())?;
            enable_controllers(&place.parent, ctrls)
        }
    }
}

/// Removes run cgroups left by brig processes that no longer exist (killed before cleaning
/// up; their processes died with the sandbox's PID namespace, so the cgroups are empty).
fn remove_stale(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("run-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

impl RunCgroups {
    /// Creates and configures the run's cgroups (none when no limit uses one).
    pub fn create(enf: &Enforcement) -> Result<RunCgroups, String> {
        let me = sys::getpid();
        let name = format!("run-{me}-{}", RUN_SEQ.fetch_add(1, Ordering::Relaxed));
        RunCgroups::create_named(enf, &name)
    }

    fn create_named(enf: &Enforcement, name: &str) -> Result<RunCgroups, String> {
        let mut run = RunCgroups {
            leaves: Vec::new(),
            creator: sys::getpid(),
        };
        for (place, ctrls) in &enf.cgroups {
            prepare(place, ctrls)?;
            remove_stale(&place.parent);
            let dir = place.parent.join(name);
            std::fs::create_dir(&dir)
                .map_err(|e| format!("creating the cgroup {}: {e}", dir.display()))?;
            let leaf = Leaf {
                version: place.version,
                dir,
                ctrls: ctrls.clone(),
            };
            let configured = leaf.configure(enf);
            // Kept even when configuring failed, so that dropping `run` removes it.
            run.leaves.push(leaf);
            configured?;
        }
        Ok(run)
    }

    /// Moves process `pid` (the sandbox's init, before it starts the command) into every
    /// cgroup of the run.
    pub fn attach(&self, pid: libc::pid_t) -> Result<(), String> {
        for l in &self.leaves {
            write(&l.dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Peaks and event counters.
    pub fn observed(&self) -> Observed {
        let mut o = Observed::default();
        for l in &self.leaves {
            let f = |name: &str| l.dir.join(name);
            for c in &l.ctrls {
                match (c, l.version) {
                    (Ctrl::Memory, Version::V2) => {
                        o.peak_memory = read_u64(&f("memory.peak"));
                        o.oom_kills = std::fs::read_to_string(f("memory.events"))
                            .ok()
                            .and_then(|t| keyed(&t, "oom_kill"))
                            .unwrap_or(0);
                    }
                    (Ctrl::Memory, Version::V1) => {
                        o.peak_memory = read_u64(&f("memory.max_usage_in_bytes"));
                        o.oom_kills = std::fs::read_to_string(f("memory.oom_control"))
                            .ok()
                            .and_then(|t| keyed(&t, "oom_kill"))
                            .unwrap_or(0);
                    }
                    (Ctrl::Pids, _) => {
                        o.peak_processes = read_u64(&f("pids.peak"));
                        o.pids_max_hits = std::fs::read_to_string(f("pids.events"))
                            .ok()
                            .and_then(|t| keyed(&t, "max"))
                            .unwrap_or(0);
                    }
                    (Ctrl::Cpu, _) => {}
                }
            }
        }
        o
    }

    /// Kills whatever is left (cgroup v2 `cgroup.kill`; the PID namespace has normally done
    /// it already) and removes the cgroups.
    pub fn remove(&mut self) {
        for l in self.leaves.drain(..) {
            if l.version == Version::V2 && l.dir.join("cgroup.kill").exists() {
                let _ = std::fs::write(l.dir.join("cgroup.kill"), "1");
            }
            // The last processes may still be leaving (a cgroup with tasks cannot be removed).
            for _ in 0..200 {
                match std::fs::remove_dir(&l.dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => break,
                }
            }
        }
    }
}

impl Drop for RunCgroups {
    fn drop(&mut self) {
        // A forked child holds a copy of this value; only brig itself cleans up.
        if sys::getpid() == self.creator {
            self.remove();
        }
    }
}

impl Leaf {
    fn configure(&self, enf: &Enforcement) -> Result<(), String> {
        let d = &self.dir;
        for c in &self.ctrls {
            match (c, self.version) {
                (Ctrl::Memory, v) => {
                    let Some((bytes, _)) = enf.memory else {
                        continue;
                    };
                    let b = bytes.to_string();
                    if v == Version::V2 {
                        write(d, "memory.max", &b)?;
                        if d.join("memory.swap.max").exists() {
                            write(d, "memory.swap.max", "0")?;
                        }
                    } else {
                        write(d, "memory.limit_in_bytes", &b)?;
                        if d.join("memory.memsw.limit_in_bytes").exists() {
                            write(d, "memory.memsw.limit_in_bytes", &b)?;
                        }
                    }
                }
                (Ctrl::Pids, _) => {
                    let Some((n, _)) = enf.processes else {
                        continue;
                    };
                    write(d, "pids.max", &n.to_string())?;
                }
                (Ctrl::Cpu, v) => {
                    let Some(cpus) = enf.cpus else { continue };
                    let quota = cpu_quota_us(cpus);
                    if v == Version::V2 {
                        write(d, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?;
                    } else {
                        write(d, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
                        write(d, "cpu.cfs_quota_us", &quota.to_string())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The `brig doctor` lines: the mechanism in use, and for each of memory, processes and CPUs
/// whether an explicit limit is enforced (and how) or refused.
pub(crate) fn features(host: &HostView) -> Vec<Feature> {
    let summary = if host.places.is_empty() {
        "rlimits + PID namespace (no writable cgroup)".to_string()
    } else {
        host.places
            .iter()
            .map(Place::describe)
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let mut detail = format!(
        "{summary}; file size: RLIMIT_FSIZE; /tmp, /var/tmp, /dev/shm: tmpfs size; timeout: SIGTERM to the whole sandbox, SIGKILL after the grace"
    );
    if !host.notes.is_empty() {
        detail.push_str(&format!(" ({})", host.notes.join("; ")));
    }
    let cgroup_line = |c: Ctrl, how: &str| {
        host.place_for(c).map(|p| {
            format!(
                "{}: {how} of a cgroup per run under {} (the whole sandbox)",
                p.version.name(),
                p.parent.display()
            )
        })
    };
    let memory = cgroup_line(
        Ctrl::Memory,
        if host.place_for(Ctrl::Memory).map(|p| p.version) == Some(Version::V2) {
            "memory.max, memory.swap.max = 0"
        } else {
            "memory.limit_in_bytes (and memory.memsw.limit_in_bytes)"
        },
    );
    let processes = cgroup_line(Ctrl::Pids, "pids.max");
    let cpus = cgroup_line(
        Ctrl::Cpu,
        if host.place_for(Ctrl::Cpu).map(|p| p.version) == Some(Version::V2) {
            "cpu.max"
        } else {
            "cpu.cfs_quota_us"
        },
    );
    vec![
        Feature {
            name: "resource-limits",
            available: !host.places.is_empty(),
            detail,
            fix: host.places.is_empty().then(|| FIX_CGROUP.to_string()),
        },
        Feature {
            name: "limit-memory",
            available: memory.is_some(),
            detail: memory.unwrap_or_else(|| {
                "no writable memory cgroup: brig's default applies per process as RLIMIT_DATA (private writable memory, not resident memory); an explicit memory limit is refused".into()
            }),
            fix: host
                .place_for(Ctrl::Memory)
                .is_none()
                .then(|| FIX_CGROUP.to_string()),
        },
        Feature {
            name: "limit-processes",
            available: processes.is_some() || host.nproc_per_userns,
            detail: match processes {
                Some(p) => p,
                None if host.nproc_per_userns => "RLIMIT_NPROC, counted in the sandbox's own user namespace (Linux 5.14+): the whole sandbox, its init included".into(),
                None if host.uid == 0 => "no writable pids cgroup, and root is exempt from RLIMIT_NPROC: only the default applies (unbounded); an explicit process limit is refused".into(),
                None => "no writable pids cgroup, and before Linux 5.14 RLIMIT_NPROC counts all of the user's processes: an explicit process limit is refused".into(),
            },
            fix: match (host.place_for(Ctrl::Pids).is_some() || host.nproc_per_userns, host.uid) {
                (true, _) => None,
                (false, 0) => Some(FIX_PIDS_ROOT.to_string()),
                (false, _) => Some(FIX_PIDS_OLD.to_string()),
            },
        },
        Feature {
            name: "limit-cpus",
            available: cpus.is_some(),
            detail: cpus.unwrap_or_else(|| {
                "no writable cpu cgroup: no CPU cap (the default); an explicit CPU limit is refused".into()
            }),
            fix: host
                .place_for(Ctrl::Cpu)
                .is_none()
                .then(|| FIX_CGROUP.to_string()),
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use brig_sandbox::Limit;

    use super::*;

    /// A fake host: files with contents, and the paths this process may write.
    #[derive(Default)]
    struct Fake {
        files: BTreeMap<PathBuf, String>,
        writable: BTreeSet<PathBuf>,
    }

    impl Fake {
        fn file(mut self, p: &str, text: &str) -> Fake {
            self.files.insert(PathBuf::from(p), text.to_string());
            self
        }

        fn writable(mut self, p: &str) -> Fake {
            self.writable.insert(PathBuf::from(p));
            self
        }
    }

    impl HostFs for Fake {
        fn read(&self, path: &Path) -> Option<String> {
            self.files.get(path).cloned()
        }

        fn writable(&self, path: &Path) -> bool {
            self.writable.contains(path)
        }

        fn exists(&self, path: &Path) -> bool {
            self.files.contains_key(path)
                || self.writable.contains(path)
                || self.files.keys().any(|k| k.starts_with(path))
        }
    }

    /// This machine: cgroup v1 controllers, an empty cgroup2 at /sys/fs/cgroup/unified.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const UNIFIED: &str = "\
25 1 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    const SCOPE: &str = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope";

    fn hybrid() -> Fake {
        Fake::default()
            .file("/proc/self/mountinfo", HYBRID)
            .file("/proc/self/cgroup", "4:memory:/x\n1:cpu:/\n0::/\n")
            .file("/sys/fs/cgroup/unified/cgroup.controllers", "")
            .file("/sys/fs/cgroup/unified/cgroup.subtree_control", "")
    }

    fn unified(procs: &str) -> Fake {
        let base = format!("/sys/fs/cgroup{SCOPE}");
        Fake::default()
            .file("/proc/self/mountinfo", UNIFIED)
            .file("/proc/self/cgroup", &format!("0::{SCOPE}\n"))
            .file(
                "/sys/fs/cgroup/cgroup.subtree_control",
                "cpuset cpu io memory pids",
            )
            .file(&format!("{base}/cgroup.controllers"), "cpu memory pids")
            .file(&format!("{base}/cgroup.procs"), procs)
            .file(&format!("{base}/cgroup.subtree_control"), "")
    }

    fn delegate(f: Fake) -> Fake {
        let base = format!("/sys/fs/cgroup{SCOPE}");
        f.writable(&base)
            .writable(&format!("{base}/cgroup.procs"))
            .writable(&format!("{base}/cgroup.subtree_control"))
    }

    fn explicit_all() -> Limits {
        Limits {
            memory_bytes: Some(Limit::explicit(256 << 20)),
            processes: Some(Limit::explicit(64)),
            cpus: Some(Limit::explicit(1.5)),
            timeout: Some(Limit::explicit(Duration::from_secs(10))),
            tmp_bytes: Some(Limit::explicit(8 << 20)),
            shm_bytes: Some(Limit::explicit(4 << 20)),
            file_bytes: Some(Limit::explicit(1 << 20)),
            grace: Duration::from_secs(1),
        }
    }

    #[test]
    fn mountinfo_is_parsed_with_escapes() {
        let m = parse_mountinfo(
            "41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw - cgroup2 cgroup2 rw\nbad line\n",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].point, PathBuf::from("/sys/fs/cgroup/uni fied"));
        assert_eq!(m[0].fstype, "cgroup2");
    }

    #[test]
    fn root_on_this_machine_uses_cgroup_v1() {
        let fs = hybrid()
            .writable("/sys/fs/cgroup/memory")
            .writable("/sys/fs/cgroup/pids")
            .writable("/sys/fs/cgroup/cpu")
            .writable("/sys/fs/cgroup/unified");
        let h = discover(&fs, 0, 100, "6.18.44");
        let v1 = |c: &str, ctrl| Place {
            version: Version::V1,
            access: Access::Root,
            parent: PathBuf::from(format!("/sys/fs/cgroup/{c}/brig")),
            ctrls: vec![ctrl],
        };
        assert_eq!(
            h.places,
            vec![
                v1("memory", Ctrl::Memory),
                v1("pids", Ctrl::Pids),
                v1("cpu", Ctrl::Cpu)
            ]
        );
        assert!(!h.nproc_per_userns, "root is exempt from RLIMIT_NPROC");
        let e = resolve(&explicit_all(), &h).unwrap();
        assert_eq!(e.memory, Some((256 << 20, By::Cgroup(Version::V1))));
        assert_eq!(e.processes, Some((64, By::Cgroup(Version::V1))));
        assert_eq!(e.cpus, Some(1.5));
        assert_eq!(e.cgroups.len(), 3);
        assert_eq!(
            e.rlimits(),
            Rlimits {
                file_size: Some(1 << 20),
                data: None,
                processes: None
            }
        );
        let f = features(&h);
        assert!(f[0]
            .detail
            .starts_with("cgroup v1 (root: /sys/fs/cgroup/memory/brig)"));
        assert!(f.iter().all(|f| f.available), "{f:?}");
    }

    #[test]
    fn a_user_on_this_machine_falls_back() {
        let h = discover(&hybrid(), 1000, 100, "6.18.44");
        assert!(h.places.is_empty());
        assert!(h.nproc_per_userns);
        assert!(
            h.notes
                .iter()
                .any(|n| n.contains("cgroup v1 memory at /sys/fs/cgroup/memory: not writable")),
            "{:?}",
            h.notes
        );
        // Explicit memory and CPU limits are refused, processes fall back to RLIMIT_NPROC.
        let r = resolve(&explicit_all(), &h).unwrap_err();
        assert_eq!((r.what, r.fix), ("memory limits", FIX_CGROUP));
        assert!(r.detail.contains("256 MiB"), "{}", r.detail);
        let no_mem = Limits {
            memory_bytes: None,
            ..explicit_all()
        };
        assert_eq!(resolve(&no_mem, &h).unwrap_err().what, "CPU limits");
        let only_pids = Limits {
            memory_bytes: None,
            cpus: None,
            ..explicit_all()
        };
        let e = resolve(&only_pids, &h).unwrap();
        assert_eq!(e.processes, Some((64, By::Rlimit)));
        assert!(e.cgroups.is_empty());
        // Defaults degrade instead.
        let d = Limits {
            cpus: Some(Limit::by_default(2.0)),
            ..Limits::defaults(Some(8 << 30))
        };
        let e = resolve(&d, &h).unwrap();
        assert_eq!(e.memory, Some((4 << 30, By::Rlimit)));
        assert_eq!(e.cpus, None);
        assert_eq!(
            e.rlimits(),
            Rlimits {
                file_size: Some(8 << 30),
                data: Some(4 << 30),
                processes: Some(4096)
            }
        );
        let f = features(&h);
        assert_eq!(
            f.iter().map(|f| (f.name, f.available)).collect::<Vec<_>>(),
            vec![
                ("resource-limits", false),
                ("limit-memory", false),
                ("limit-processes", true),
                ("limit-cpus", false)
            ]
        );
        assert!(f[0]
            .detail
            .starts_with("rlimits + PID namespace (no writable cgroup)"));
    }

    #[test]
    fn process_limits_without_cgroup_or_userns_nproc_are_refused() {
        let h = discover(&hybrid(), 1000, 100, "5.10.0");
        assert!(!h.nproc_per_userns);
        let l = Limits {
            processes: Some(Limit::explicit(64)),
            ..Limits::default()
        };
        let r = resolve(&l, &h).unwrap_err();
        assert_eq!((r.what, r.fix), ("process limits", FIX_PIDS_OLD));
        let d = Limits {
            processes: Some(Limit::by_default(64)),
            ..Limits::default()
        };
        assert_eq!(resolve(&d, &h).unwrap().processes, None);
        // Root without a pids cgroup: exempt from RLIMIT_NPROC.
        let h = discover(&hybrid(), 0, 100, "6.18.44");
        assert_eq!(resolve(&l, &h).unwrap_err().fix, FIX_PIDS_ROOT);
    }

    #[test]
    fn a_delegated_scope_with_brig_alone_is_used() {
        let h = discover(&delegate(unified("100\n")), 1000, 100, "6.18.44");
        let base = PathBuf::from(format!("/sys/fs/cgroup{SCOPE}"));
        assert_eq!(
            h.places,
            vec![Place {
                version: Version::V2,
                access: Access::Delegated,
                parent: base,
                ctrls: vec![Ctrl::Memory, Ctrl::Pids, Ctrl::Cpu],
            }]
        );
        let e = resolve(&explicit_all(), &h).unwrap();
        assert_eq!(e.memory, Some((256 << 20, By::Cgroup(Version::V2))));
        assert_eq!(e.cgroups.len(), 1);
        assert_eq!(e.cgroups[0].1, vec![Ctrl::Memory, Ctrl::Pids, Ctrl::Cpu]);
        assert!(features(&h)[0]
            .detail
            .starts_with("cgroup v2 (delegated: /sys/fs/cgroup/user.slice/"));
    }

    #[test]
    fn a_shared_or_undelegated_cgroup_is_not_used() {
        let h = discover(&delegate(unified("100\n4242\n")), 1000, 100, "6.18.44");
        assert!(h.places.is_empty());
        assert!(
            h.notes[0].contains("holds 1 other process(es)"),
            "{:?}",
            h.notes
        );
        let h = discover(&unified("100\n"), 1000, 100, "6.18.44");
        assert!(h.places.is_empty());
        assert!(
            h.notes[0].contains("not delegated to uid 1000"),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn brig_already_in_its_supervisor_leaf_keeps_using_the_parent() {
        let base = format!("/sys/fs/cgroup{SCOPE}");
        let fs = Fake::default()
            .file("/proc/self/mountinfo", UNIFIED)
            .file(
                "/proc/self/cgroup",
                &format!("0::{SCOPE}/brig-supervisor\n"),
            )
            .file(&format!("{base}/cgroup.subtree_control"), "memory pids")
            .writable(&base);
        let h = discover(&fs, 1000, 100, "6.18.44");
        assert_eq!(h.places[0].access, Access::DelegatedReady);
        assert_eq!(h.places[0].parent, PathBuf::from(&base));
        assert_eq!(h.places[0].ctrls, vec![Ctrl::Memory, Ctrl::Pids]);
    }

    #[test]
    fn root_on_a_unified_host_uses_a_top_level_brig_cgroup() {
        let fs = unified("1\n").writable("/sys/fs/cgroup");
        let h = discover(&fs, 0, 100, "6.18.44");
        assert_eq!(h.places[0].access, Access::Root);
        assert_eq!(h.places[0].parent, PathBuf::from("/sys/fs/cgroup/brig"));
    }

    #[test]
    fn tmpfs_options_bound_size_and_inodes() {
        assert_eq!(tmpfs_options("mode=1777", None), "mode=1777");
        assert_eq!(
            tmpfs_options("mode=1777", Some(1 << 30)),
            "mode=1777,size=1073741824,nr_inodes=262144"
        );
        assert_eq!(
            tmpfs_options("mode=1777", Some(1 << 20)),
            "mode=1777,size=1048576,nr_inodes=1024"
        );
        assert_eq!(cpu_quota_us(1.5), 150_000);
        assert_eq!(cpu_quota_us(0.001), 1000);
    }

    /// Run cgroups against a fake cgroupfs (a temp dir of plain files): what is written where.
    #[test]
    fn run_cgroups_write_limits_and_read_events() {
        let tmp = std::env::temp_dir().join(format!("brig-limits-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let v1 = tmp.join("memory/brig");
        let v2 = tmp.join("unified");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::create_dir_all(&v2).unwrap();
        let place = |version, parent: &Path, access| Place {
            version,
            access,
            parent: parent.to_path_buf(),
            ctrls: vec![],
        };
        let enf = Enforcement {
            memory: Some((64 << 20, By::Cgroup(Version::V1))),
            processes: Some((32, By::Cgroup(Version::V2))),
            cpus: Some(0.5),
            file_bytes: None,
            tmp_bytes: None,
            shm_bytes: None,
            timeout: None,
            grace: Duration::from_secs(2),
            cgroups: vec![
                (
                    place(Version::V1, &v1, Access::Prepared),
                    vec![Ctrl::Memory, Ctrl::Cpu],
                ),
                (
                    place(Version::V2, &v2, Access::DelegatedReady),
                    vec![Ctrl::Pids],
                ),
            ],
        };
        // A stale run cgroup of a dead brig is removed; a live one is not.
        std::fs::create_dir(v1.join("run-999999999-0")).unwrap();
        let live = format!("run-{}-77", std::process::id());
        std::fs::create_dir(v1.join(&live)).unwrap();
        let mut run = RunCgroups::create_named(&enf, "run-t-1").unwrap();
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert!(!v1.join("run-999999999-0").exists());
        assert!(v1.join(&live).exists());
        assert_eq!(read(v1.join("run-t-1/memory.limit_in_bytes")), "67108864");
        assert_eq!(read(v1.join("run-t-1/cpu.cfs_quota_us")), "50000");
        assert_eq!(read(v1.join("run-t-1/cpu.cfs_period_us")), "100000");
        assert_eq!(read(v2.join("run-t-1/pids.max")), "32");
        assert!(!v1.join("run-t-1/memory.memsw.limit_in_bytes").exists());
        run.attach(4242).unwrap();
        assert_eq!(read(v2.join("run-t-1/cgroup.procs")), "4242");
        std::fs::write(
            v1.join("run-t-1/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        std::fs::write(v1.join("run-t-1/memory.max_usage_in_bytes"), "1234\n").unwrap();
        std::fs::write(v2.join("run-t-1/pids.events"), "max 5\n").unwrap();
        std::fs::write(v2.join("run-t-1/pids.peak"), "32\n").unwrap();
        assert_eq!(
            run.observed(),
            Observed {
                peak_memory: Some(1234),
                peak_processes: Some(32),
                oom_kills: 2,
                pids_max_hits: 5
            }
        );
        // Plain directories with files cannot be removed like cgroups: only check the call
        // does not hang or panic, then clean up.
        run.remove();
        drop(run);
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
