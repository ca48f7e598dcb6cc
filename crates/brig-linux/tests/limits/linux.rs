//! The harness and the cases (Linux only).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, ExitCode, Stdio};
use std::time::{Duration, Instant};

use brig_policy::{EnforcementPlan, HostFacts, Mode, Policy};
use brig_sandbox::{Command, Exit, Limit, LimitHit, Limits, Outcome};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const MIB: u64 = 1 << 20;
/// Only turns a hang into a failure.
const CASE_DEADLINE: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Root,
    User,
}

type Case = fn(&Ctx);

const CASES: &[(&str, Case)] = &[
    ("defaults_never_refuse", defaults_never_refuse),
    ("timeout_terms_the_command", timeout_terms_the_command),
    (
        "timeout_kills_what_ignores_sigterm",
        timeout_kills_what_ignores_sigterm,
    ),
    ("file_size_is_bounded", file_size_is_bounded),
    (
        "scratch_filesystems_are_bounded",
        scratch_filesystems_are_bounded,
    ),
    ("processes_are_bounded", processes_are_bounded),
    (
        "explicit_memory_is_bounded_or_refused",
        explicit_memory_is_bounded_or_refused,
    ),
    ("default_memory_degrades", default_memory_degrades),
    ("cpus_are_capped_or_refused", cpus_are_capped_or_refused),
    (
        "danger_mode_refuses_explicit_limits",
        danger_mode_refuses_explicit_limits,
    ),
    ("probe_names_the_mechanism", probe_names_the_mechanism),
];

// ---------------------------------------------------------------------------------------------
// The harness

fn euid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse().ok())
        })
        .expect("the effective uid from /proc/self/status")
}

fn required(feature: &str) -> bool {
    std::env::var("BRIG_TEST_REQUIRE")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .any(|f| f == feature || f == "all")
        })
        .unwrap_or(false)
}

/// uid and gid of the unprivileged identity when this harness runs as root.
fn unprivileged() -> (u32, u32) {
    let id = |flag: &str| -> Option<u32> {
        let out = Proc::new("id").args([flag, "brig-test"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => (u, g),
        _ => (65534, 65534),
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        return child(&args[i + 1..]);
    }
    if args.iter().any(|a| a == "--list") {
        for (name, _) in CASES {
            for who in ["as_root", "as_user"] {
                println!("{name}::{who}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let root = euid() == 0;
    let base =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("brig-limits-{}", std::process::id()));
    std::fs::create_dir_all(&base).expect("create the test directory");
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = runnable_copy(&base);
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for (name, _) in CASES {
        for who in [Who::Root, Who::User] {
            let full = format!(
                "{name}::{}",
                if who == Who::Root {
                    "as_root"
                } else {
                    "as_user"
                }
            );
            if !filters.is_empty() && !filters.iter().any(|f| full.contains(f.as_str())) {
                continue;
            }
            if who == Who::Root && !root {
                if required("root") {
                    println!("test {full} ... FAILED (not root, and BRIG_TEST_REQUIRE lists root)");
                    failed.push(full);
                } else {
                    println!("test {full} ... skipped (not root)");
                    skipped += 1;
                }
                continue;
            }
            match run_case(&exe, &base, name, who, root) {
                Ok(out) if out.contains("SKIP:") => {
                    println!(
                        "test {full} ... skipped ({})",
                        out.lines().find(|l| l.contains("SKIP:")).unwrap_or("")
                    );
                    skipped += 1;
                }
                Ok(_) => {
                    println!("test {full} ... ok");
                    passed += 1;
                }
                Err(out) => {
                    println!("test {full} ... FAILED\n{out}");
                    failed.push(full);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {skipped} skipped",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failed {
            println!("    {f}");
        }
        ExitCode::FAILURE
    }
}

/// This binary, where the unprivileged identity can execute it.
fn runnable_copy(base: &Path) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let copy = base.join("limits-harness");
    std::fs::copy(&exe, &copy).expect("copy the harness binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// Runs one case in a new process; its output on success, or the reason it failed.
fn run_case(exe: &Path, base: &Path, name: &str, who: Who, root: bool) -> Result<String, String> {
    let dir = base.join(format!(
        "{name}-{}",
        if who == Who::Root { "r" } else { "u" }
    ));
    let (uid, gid) = match (who, root) {
        (Who::User, true) => unprivileged(),
        _ => (euid(), 0),
    };
    for d in ["", "ws", "home", "state", "config"] {
        let p = dir.join(d);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        if who == Who::User && root {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
    }
    let log = dir.join("output");
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = Proc::new(exe);
    cmd.args([
        "--case",
        name,
        if who == Who::Root { "root" } else { "user" },
    ])
    .arg(&dir)
    .env_clear()
    .env("PATH", PATH)
    .env("HOME", dir.join("home"))
    .env("LC_ALL", "C")
    .stdin(Stdio::null())
    .stdout(file.try_clone().unwrap())
    .stderr(file)
    .current_dir(&dir);
    if let Ok(r) = std::env::var("BRIG_TEST_REQUIRE") {
        cmd.env("BRIG_TEST_REQUIRE", r);
    }
    if who == Who::User && root {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the case: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > CASE_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "still running after {CASE_DEADLINE:?}; killed\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{status}\n{out}"))
    }
}

/// One case, in its own process.
fn child(args: &[String]) -> ExitCode {
    let name = args[0].as_str();
    let who = if args[1] == "root" {
        Who::Root
    } else {
        Who::User
    };
    let dir = PathBuf::from(&args[2]);
    let Some((_, case)) = CASES.iter().find(|(n, _)| *n == name) else {
        eprintln!("no case {name}");
        return ExitCode::FAILURE;
    };
    let caps = brig_linux::probe();
    let features: BTreeMap<&str, (bool, String)> = caps
        .features
        .iter()
        .map(|f| (f.name, (f.available, f.detail.clone())))
        .collect();
    for (feature, req) in [
        ("user-namespaces", "userns"),
        ("landlock", "landlock"),
        ("seccomp", "seccomp"),
        ("seccomp-user-notification", "seccomp-notify"),
    ] {
        if !features.get(feature).is_some_and(|f| f.0) {
            if required(req) {
                eprintln!("{name}: required feature {feature} is missing");
                return ExitCode::FAILURE;
            }
            println!("SKIP: {feature} missing");
            return ExitCode::SUCCESS;
        }
    }
    if !Path::new("/usr/bin/python3").exists() {
        if required("python3") {
            eprintln!("{name}: /usr/bin/python3 is missing");
            return ExitCode::FAILURE;
        }
        println!("SKIP: python3 missing");
        return ExitCode::SUCCESS;
    }
    let ws = dir.join("ws");
    let host = HostFacts {
        home: dir.join("home"),
        workspace: ws.clone(),
        cwd: ws.clone(),
        env: vec![
            (OsString::from("PATH"), OsString::from(PATH)),
            (OsString::from("HOME"), dir.join("home").into_os_string()),
            (OsString::from("LC_ALL"), OsString::from("C")),
        ],
        state_dir: dir.join("state"),
        config_dir: dir.join("config"),
    };
    let plan = brig_policy::plan(&Policy::default(), &host).expect("a plan for the test world");
    let ctx = Ctx {
        who,
        ws,
        plan,
        features,
        marker: format!("brigltest{}x{name}", std::process::id()),
    };
    println!("{name} as {who:?} (uid {}):", euid());
    case(&ctx);
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------------------
// What a case has

struct Ctx {
    who: Who,
    ws: PathBuf,
    plan: EnforcementPlan,
    /// `brig_linux::probe()`'s features: name → (available, detail).
    features: BTreeMap<&'static str, (bool, String)>,
    /// Unique to this case's process, for scanning /proc.
    marker: String,
}

impl Ctx {
    /// `sh -c script` in the workspace under `limits`.
    fn run(&self, limits: &Limits, script: &str) -> Result<Outcome, brig_linux::RunError> {
        self.run_plan(&self.plan, limits, script)
    }

    fn run_plan(
        &self,
        plan: &EnforcementPlan,
        limits: &Limits,
        script: &str,
    ) -> Result<Outcome, brig_linux::RunError> {
        let cmd = Command {
            argv: ["/bin/sh", "-c", script, &self.marker]
                .iter()
                .map(OsString::from)
                .collect(),
        };
        let opts = brig_linux::RunOptions::default();
        brig_linux::run_with_limits(plan, &cmd, &opts, limits, &mut |_| Ok(()))
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.ws.join(rel)).unwrap_or_default()
    }

    /// Whether `brig_linux::probe()` says a cgroup enforces `limit` (`limit-memory`, ...).
    fn by_cgroup(&self, limit: &str) -> bool {
        let (ok, detail) = self.features.get(limit).cloned().unwrap_or_default();
        ok && detail.starts_with("cgroup")
    }

    /// Host processes (other than this one) whose command line holds this case's marker.
    fn leftovers(&self) -> Vec<String> {
        let me = std::process::id().to_string();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            if cmdline.contains(&self.marker) && !zombie {
                out.push(format!("{pid}: {cmdline}"));
            }
        }
        out
    }
}

fn explicit<T>(v: T) -> Option<Limit<T>> {
    Some(Limit::explicit(v))
}

/// The unit in which a case's command reports: `KEY=VALUE` lines in a file.
fn kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Cases

/// brig's defaults degrade, they never make a run fail, on either identity.
fn defaults_never_refuse(c: &Ctx) {
    let limits = Limits::defaults(brig_linux::total_memory());
    let out = c
        .run(&limits, "echo ran > ran")
        .expect("defaults run everywhere");
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.limits_hit, vec![]);
    assert_eq!(c.read("ran"), "ran\n");
    // With no limits at all (what `run` applies) nothing changes either.
    let plain = brig_linux::run(
        &c.plan,
        &Command {
            argv: vec!["/bin/true".into()],
        },
        &brig_linux::RunOptions::default(),
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!((plain.exit, plain.limits_hit), (Exit::Code(0), vec![]));
}

/// At the timeout the command gets SIGTERM and, when it dies of it, that is the end.
fn timeout_terms_the_command(c: &Ctx) {
    let limits = Limits {
        timeout: explicit(Duration::from_millis(500)),
        ..Limits::default()
    };
    let out = c.run(&limits, "exec sleep 60").unwrap();
    assert_eq!(out.exit, Exit::Signal(libc::SIGTERM));
    assert_eq!(
        out.limits_hit,
        vec![LimitHit::Timeout {
            after: Duration::from_millis(500)
        }]
    );
    // Without a timeout a command that ends is not reported as hitting one.
    let out = c.run(&limits, "exit 3").unwrap();
    assert_eq!((out.exit, out.limits_hit), (Exit::Code(3), vec![]));
}

/// SIGTERM ignored (by the command itself, a TERM-catching child, a `setsid` daemon) and a
/// stopped process: after the grace everything is killed, and nothing is left on the host.
fn timeout_kills_what_ignores_sigterm(c: &Ctx) {
    let script = r#"
M=$0
python3 -c 'import signal, time
signal.signal(signal.SIGTERM, lambda *a: open("got-term", "a").write("x"))
open("ready-term", "w").close()
while True: time.sleep(0.05)' "$M-noterm" &
python3 -c 'import time; time.sleep(300)' "$M-stopped" &
STOPPED=$!
setsid sh -c 'trap "" TERM; while :; do sleep 1; done' "$M-daemon" &
while [ ! -e ready-term ]; do sleep 0.05; done
kill -STOP $STOPPED
trap '' TERM
echo started > started
wait
"#;
    // The processes must be in place before the timeout: on a loaded machine a longer one is
    // tried (what is asserted never depends on how long anything took).
    for secs in [1, 5, 30] {
        for f in ["ready-term", "got-term", "started"] {
            let _ = std::fs::remove_file(c.ws.join(f));
        }
        let after = Duration::from_secs(secs);
        let limits = Limits {
            timeout: explicit(after),
            grace: Duration::from_millis(500),
            ..Limits::default()
        };
        let out = c.run(&limits, script).unwrap();
        if c.read("started") != "started\n" && secs < 30 {
            continue;
        }
        assert_eq!(
            c.read("started"),
            "started\n",
            "the processes did not start"
        );
        assert_eq!(out.exit, Exit::Signal(libc::SIGKILL), "{out:?}");
        assert_eq!(out.limits_hit, vec![LimitHit::Timeout { after }]);
        assert_eq!(c.read("got-term"), "x", "SIGTERM came first, once");
        break;
    }
    let left = c.leftovers();
    assert!(left.is_empty(), "processes outlived the timeout: {left:?}");
}

/// A write beyond the file size limit fails with EFBIG ("File too large"), the writer is not
/// killed by SIGXFSZ, and the file stops at the limit.
fn file_size_is_bounded(c: &Ctx) {
    let limits = Limits {
        file_bytes: explicit(MIB),
        ..Limits::default()
    };
    let out = c
        .run(
            &limits,
            "head -c 3145728 /dev/zero > big 2> err; echo \"rc=$?\" > result",
        )
        .unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    let r = kv(&c.read("result"));
    assert_eq!(
        r["rc"], "1",
        "head failed without being killed by SIGXFSZ (153)"
    );
    assert!(
        c.read("err").contains("File too large"),
        "{}",
        c.read("err")
    );
    assert_eq!(std::fs::metadata(c.ws.join("big")).unwrap().len(), MIB);
}

/// /tmp, /var/tmp and /dev/shm fill up at their sizes (ENOSPC), and their inodes are bounded.
fn scratch_filesystems_are_bounded(c: &Ctx) {
    let limits = Limits {
        tmp_bytes: explicit(4 * MIB),
        shm_bytes: explicit(2 * MIB),
        ..Limits::default()
    };
    let script = r#"
for d in /tmp /var/tmp /dev/shm; do
    head -c 16777216 /dev/zero > $d/fill 2>> err
    echo "$d=$(wc -c < $d/fill)" >> sizes
done
rm /tmp/fill
python3 -c 'import os
n = 0
try:
    while n < 5000:
        os.close(os.open("/tmp/f%d" % n, os.O_CREAT | os.O_WRONLY))
        n += 1
except OSError as e:
    print("errno=%d" % e.errno)
print("files=%d" % n)' > inodes
"#;
    let out = c.run(&limits, script).unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    let sizes = kv(&c.read("sizes"));
    for (d, size) in [
        ("/tmp", 4 * MIB),
        ("/var/tmp", 4 * MIB),
        ("/dev/shm", 2 * MIB),
    ] {
        let got: u64 = sizes[d].parse().unwrap();
        assert!(
            got <= size && got > size / 2,
            "{d}: {got} bytes written, size {size}"
        );
    }
    assert_eq!(
        c.read("err").matches("No space left on device").count(),
        3,
        "{}",
        c.read("err")
    );
    // 4 MiB of tmpfs: at most 1024 inodes (one per 4 KiB, at least 1024), the root counting.
    let inodes = kv(&c.read("inodes"));
    assert_eq!(inodes["errno"], libc::ENOSPC.to_string());
    let files: u64 = inodes["files"].parse().unwrap();
    assert!(
        (900..1024).contains(&files),
        "{files} files in a 4 MiB /tmp"
    );
}

/// Forking stops at the process limit (EAGAIN), whatever enforces it; a cgroup also reports it.
fn processes_are_bounded(c: &Ctx) {
    let limits = Limits {
        processes: explicit(16),
        ..Limits::default()
    };
    let script = r#"exec python3 -c 'import os, signal, time
kids = []
err = 0
while len(kids) < 100:
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.kill(k, signal.SIGKILL)
    os.waitpid(k, 0)
open("result", "w").write("forked=%d\nerrno=%d\n" % (len(kids), err))'"#;
    let out = c.run(&limits, script).unwrap();
    assert_eq!(
        out.exit,
        Exit::Code(0),
        "the supervisor and the command survive the limit"
    );
    let r = kv(&c.read("result"));
    assert_eq!(r["errno"], libc::EAGAIN.to_string(), "{r:?}");
    let forked: u64 = r["forked"].parse().unwrap();
    // 16 with the sandbox's init and the command itself.
    assert!(
        (10..=14).contains(&forked),
        "forked {forked} children under a limit of 16"
    );
    if c.by_cgroup("limit-processes") {
        assert_eq!(out.limits_hit, vec![LimitHit::Processes { limit: 16 }]);
        assert_eq!(out.usage.peak_processes, Some(16));
    } else {
        // RLIMIT_NPROC: the command sees EAGAIN, nothing is observed from outside.
        assert_eq!(out.limits_hit, vec![]);
        assert_eq!(out.usage.peak_processes, None);
    }
}

const MEMORY_BOMB: &str = r#"exec python3 -c 'import sys
chunks = []
try:
    for i in range(64):
        chunks.append(bytearray(8 << 20))
    open("result", "w").write("allocated=512MiB\n")
except MemoryError:
    open("result", "w").write("MemoryError after %d MiB\n" % (8 * len(chunks)))'"#;

/// An explicit memory limit: the whole sandbox is bounded by a memory cgroup (a process is
/// killed, brig reports it), or, where no cgroup can be written, the run is refused.
fn explicit_memory_is_bounded_or_refused(c: &Ctx) {
    let limits = Limits {
        memory_bytes: explicit(64 * MIB),
        ..Limits::default()
    };
    let r = c.run(&limits, MEMORY_BOMB);
    if c.by_cgroup("limit-memory") {
        let out = r.expect("enforced by a cgroup");
        assert_eq!(
            out.exit,
            Exit::Signal(libc::SIGKILL),
            "{}",
            c.read("result")
        );
        assert_eq!(
            out.limits_hit,
            vec![LimitHit::Memory {
                limit_bytes: 64 * MIB
            }]
        );
        let peak = out.usage.peak_memory_bytes.expect("the cgroup's peak");
        assert!(peak <= 64 * MIB && peak > 32 * MIB, "peak {peak}");
        assert_eq!(c.read("result"), "");
    } else {
        let e = r.expect_err("an explicit memory limit without a memory cgroup is refused");
        let msg = e.to_string();
        assert!(
            matches!(e, brig_linux::RunError::Unavailable { .. }),
            "{msg}"
        );
        assert!(msg.contains("memory limits unavailable"), "{msg}");
        assert!(msg.contains("64 MiB"), "{msg}");
        assert!(msg.contains("Delegate=yes"), "{msg}");
        assert!(!c.ws.join("result").exists(), "the command ran");
    }
}

/// brig's default memory limit is enforced by a cgroup where there is one, and per process by
/// RLIMIT_DATA elsewhere (the allocation fails: MemoryError), never refused.
fn default_memory_degrades(c: &Ctx) {
    let limits = Limits {
        memory_bytes: Some(Limit::by_default(64 * MIB)),
        ..Limits::default()
    };
    let out = c
        .run(&limits, MEMORY_BOMB)
        .expect("a default never refuses");
    if c.by_cgroup("limit-memory") {
        assert_eq!(out.exit, Exit::Signal(libc::SIGKILL));
        assert_eq!(
            out.limits_hit,
            vec![LimitHit::Memory {
                limit_bytes: 64 * MIB
            }]
        );
    } else {
        assert_eq!(out.exit, Exit::Code(0));
        let r = c.read("result");
        assert!(r.starts_with("MemoryError after "), "{r}");
        assert_eq!(out.limits_hit, vec![]);
    }
}

/// An explicit CPU limit: the run's cgroup carries the quota (read from inside, no timing),
/// and the cgroup is gone afterwards; without a cpu cgroup the run is refused.
fn cpus_are_capped_or_refused(c: &Ctx) {
    let limits = Limits {
        cpus: explicit(0.5),
        ..Limits::default()
    };
    let script = r#"
v1=$(sed -n 's/^[0-9]*:\(.*,\)\{0,1\}cpu\(,.*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
v2=$(sed -n 's/^0:://p' /proc/self/cgroup)
if [ -n "$v1" ] && [ -r "/sys/fs/cgroup/cpu$v1/cpu.cfs_quota_us" ]; then
    echo "dir=/sys/fs/cgroup/cpu$v1" > result
    echo "quota=$(cat /sys/fs/cgroup/cpu$v1/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu$v1/cpu.cfs_period_us)" >> result
else
    echo "dir=/sys/fs/cgroup$v2" > result
    echo "quota=$(cat /sys/fs/cgroup$v2/cpu.max)" >> result
fi
"#;
    let r = c.run(&limits, script);
    if c.by_cgroup("limit-cpus") {
        let out = r.expect("enforced by a cgroup");
        assert_eq!(out.exit, Exit::Code(0));
        let res = kv(&c.read("result"));
        assert_eq!(res["quota"], "50000 100000", "{res:?}");
        let dir = Path::new(&res["dir"]);
        assert!(
            dir.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-")),
            "{dir:?}"
        );
        assert!(!dir.exists(), "the run's cgroup {dir:?} was not removed");
    } else {
        let e = r.expect_err("an explicit CPU limit without a cpu cgroup is refused");
        assert!(e.to_string().contains("CPU limits unavailable"), "{e}");
    }
}

/// danger-full-access has no sandbox: an explicit limit is refused, defaults are ignored.
fn danger_mode_refuses_explicit_limits(c: &Ctx) {
    let mut plan = c.plan.clone();
    plan.mode = Mode::DangerFullAccess;
    let limits = Limits {
        timeout: explicit(Duration::from_secs(5)),
        ..Limits::default()
    };
    let e = c.run_plan(&plan, &limits, "echo ran > ran").unwrap_err();
    assert!(e.to_string().contains("danger-full-access"), "{e}");
    assert_eq!(c.read("ran"), "");
    let out = c
        .run_plan(&plan, &Limits::defaults(Some(1 << 30)), "echo ran > ran")
        .unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(c.read("ran"), "ran\n");
}

/// `probe()` names the mechanism, and says the same as the other cases found.
fn probe_names_the_mechanism(c: &Ctx) {
    let (ok, detail) = c.features["resource-limits"].clone();
    println!("resource-limits: {detail}");
    for f in ["limit-memory", "limit-processes", "limit-cpus"] {
        println!("{f}: {:?}", c.features[f]);
    }
    let kinds = ["cgroup v2 (", "cgroup v1 (", "rlimits + PID namespace"];
    assert!(kinds.iter().any(|k| detail.starts_with(k)), "{detail}");
    assert_eq!(ok, detail.starts_with("cgroup"), "{detail}");
    if c.who == Who::User {
        // Unprivileged: never cgroup v1 at the top of a hierarchy.
        assert!(!detail.contains("(root"), "{detail}");
    }
    // Processes are bounded for everyone but root without a pids cgroup.
    let (pids_ok, pids) = c.features["limit-processes"].clone();
    assert!(pids_ok || c.who == Who::Root, "{pids}");
}
