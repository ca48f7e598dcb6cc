//! Shared machinery of the sandbox suite: identities, temp worlds, running commands with a
//! deadline, declared kernel features, host-side snapshots and process scans.
//!
//! # Identities
//! Every threat test runs twice (see [`both_identities!`]):
//! - `as_root`: brig runs as the test process's user when that user is root; when the suite is
//!   not run as root, these variants are skipped (or fail when `BRIG_TEST_REQUIRE` lists `root`).
//! - `as_user`: brig runs unprivileged. When the suite runs as root, the support code creates the
//!   system user [`TEST_USER`] if it is missing
//!   (`useradd --system --create-home --shell /bin/sh brig-test`) and runs every command of the
//!   test as that user with `setpriv --reuid --regid --init-groups`; every temp dir of such a test
//!   is owned by that user. When the suite is not run as root, the current user is used.
//!
//! # Where files go
//! Each test gets its own directory under `$BRIG_TEST_TMPDIR` (default:
//! `$CARGO_TARGET_TMPDIR/sandbox-tests`), removed at the end unless `BRIG_TEST_KEEP=1`. It must
//! not be under `/tmp`, `/var/tmp` or `/dev/shm`: those are private inside the sandbox, which
//! would make every "host file" test vacuous. When the test user cannot traverse that directory,
//! the test user's home directory is used instead, and a copy of the brig binary (mode 0755) is
//! made when the test user cannot execute the one cargo built.
//!
//! # Declared features
//! [`Test::require`] checks what a test needs (`userns`, `landlock`, `seccomp`,
//! `seccomp-notify`, read from `brig doctor --json` as the test's identity; `root`, `x86_64`;
//! tools: `python3`, `gcc`, `git`, `unshare`, `setsid`, `nohup`, and the optional `tmux`,
//! `ssh-agent`, `ssh-add`, `strace`). A missing feature skips the test with a message, unless
//! `BRIG_TEST_REQUIRE` names it (comma-separated, or `all` for everything but the optional
//! tools): then the test fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// The unprivileged user the suite creates and uses when it runs as root.
pub const TEST_USER: &str = "brig-test";

/// What every real sandbox needs on this host (brig refuses to run without them).
pub const SANDBOX: &[&str] = &["userns", "landlock", "seccomp", "seccomp-notify"];

/// The PATH every command gets (no per-user shims such as pyenv's, which the test user cannot
/// read).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Deadline for one command. Generous: it only turns a hang into a failure.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// Who runs brig (and the "without brig" half of each test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Root (the suite's own user, when it is root).
    Root,
    /// An unprivileged user ([`TEST_USER`] when the suite is root, else the current user).
    User,
}

/// For each test function `name(t: &Test)`, generates
/// `mod name { #[test] fn as_root(); #[test] fn as_user(); }` that run it as each identity.
macro_rules! both_identities {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn as_root() {
                $crate::support::Test::run($crate::support::Who::Root, module_path!(), super::$name);
            }

            #[test]
            fn as_user() {
                $crate::support::Test::run($crate::support::Who::User, module_path!(), super::$name);
            }
        }
    )*};
}

// ---------------------------------------------------------------------------------------------
// Host facts

/// The effective uid of the test process.
pub fn euid() -> u32 {
    static EUID: OnceLock<u32> = OnceLock::new();
    *EUID.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|u| u.parse().ok())
            .expect("Uid line in /proc/self/status")
    })
}

/// Whether the suite runs as root.
pub fn suite_is_root() -> bool {
    euid() == 0
}

/// Optional tools: `BRIG_TEST_REQUIRE=all` does not cover them (CI does not install them);
/// name them explicitly to make their absence fail.
pub const OPTIONAL: &[&str] = &["tmux", "ssh-agent", "ssh-add", "strace"];

/// `BRIG_TEST_REQUIRE` lists `feature` (or `all`, for every feature but the [`OPTIONAL`] tools).
pub fn required_by_ci(feature: &str) -> bool {
    std::env::var("BRIG_TEST_REQUIRE")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .any(|f| f == feature || (f == "all" && !OPTIONAL.contains(&feature)))
        })
        .unwrap_or(false)
}

/// Finds `program` in [`PATH`].
pub fn which(program: &str) -> Option<PathBuf> {
    PATH.split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// uid and gid of the unprivileged test user (created on first use). Only when root.
fn test_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        assert!(suite_is_root(), "only root creates the test user");
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, TEST_USER]).output().ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if id("-u").is_none() {
            let out = Command::new("useradd")
                .args(["--system", "--create-home", "--shell", "/bin/sh", TEST_USER])
                .output()
                .expect("run useradd (package passwd) to create the test user");
            // Another process may have created it meanwhile: check again below.
            if id("-u").is_none() {
                panic!(
                    "cannot create the test user {TEST_USER}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        (id("-u").unwrap(), id("-g").unwrap())
    })
}

/// The home directory of the test user, from the passwd database.
fn test_user_home() -> PathBuf {
    let out = Command::new("getent")
        .args(["passwd", TEST_USER])
        .output()
        .expect("getent passwd");
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let home = line.trim().split(':').nth(5).unwrap_or("").to_string();
    assert!(
        !home.is_empty(),
        "no home directory for {TEST_USER}: {line}"
    );
    let home = PathBuf::from(home);
    if !home.is_dir() {
        std::fs::create_dir_all(&home).expect("create the test user's home");
        let (uid, gid) = test_user();
        std::os::unix::fs::chown(&home, Some(uid), Some(gid)).expect("chown home");
    }
    home
}

/// Whether the test user can do `test <flag> path` (resolving the path as that user).
fn test_user_can(flag: &str, path: &Path) -> bool {
    let (uid, gid) = test_user();
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--init-groups")
        .arg("--")
        .arg("test")
        .arg(flag)
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn mkdir_mode(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// Where the per-test directories go.
fn base_dir() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        const SCRATCH: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];
        let under_scratch = |p: &Path| SCRATCH.iter().any(|s| p.starts_with(s));
        let preferred = match std::env::var_os("BRIG_TEST_TMPDIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-tests");
                if !under_scratch(&target) {
                    target
                } else if suite_is_root() {
                    // A checkout under /tmp (as CI may use): the test user's home is outside.
                    test_user();
                    test_user_home().join("sandbox-tests")
                } else {
                    let home = std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_default();
                    home.join(".cache/brig-sandbox-tests")
                }
            }
        };
        for scratch in SCRATCH {
            assert!(
                !preferred.starts_with(scratch),
                "BRIG_TEST_TMPDIR must not be under {scratch}: it is private inside the sandbox"
            );
        }
        mkdir_mode(&preferred, 0o755);
        if suite_is_root() && !test_user_can("-x", &preferred) {
            let home = test_user_home().join("sandbox-tests");
            mkdir_mode(&home, 0o755);
            return home;
        }
        preferred
    })
}

/// The brig binary, executable by both identities.
pub fn brig_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_brig"));
        if !suite_is_root() || test_user_can("-x", &built) {
            return built;
        }
        // Remove copies left by earlier runs whose process is gone.
        if let Ok(rd) = std::fs::read_dir(base_dir()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if let Some(pid) = name.strip_prefix("bin-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = base_dir().join(format!("bin-{}", std::process::id()));
        mkdir_mode(&dir, 0o755);
        let copy = dir.join("brig");
        std::fs::copy(&built, &copy).expect("copy the brig binary");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        copy
    })
}

// ---------------------------------------------------------------------------------------------
// Features

/// Features read from `brig doctor --json`, per identity.
fn doctor_features(who: Who) -> &'static BTreeMap<String, (bool, String)> {
    static ROOT: OnceLock<BTreeMap<String, (bool, String)>> = OnceLock::new();
    static USER: OnceLock<BTreeMap<String, (bool, String)>> = OnceLock::new();
    let cell = if who == Who::Root { &ROOT } else { &USER };
    cell.get_or_init(|| {
        let mut cmd = identity_command(who, brig_bin().as_os_str());
        cmd.args(["doctor", "--json"])
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", base_dir())
            .current_dir(base_dir());
        let out = run_command(cmd, None, "brig doctor --json");
        assert!(out.success(), "brig doctor --json failed:\n{out}");
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).expect("brig doctor --json prints JSON");
        let mut m = BTreeMap::new();
        for f in v["features"].as_array().expect("features array") {
            let name = f["name"].as_str().unwrap_or_default().to_string();
            let ok = f["available"].as_bool().unwrap_or(false);
            let detail = format!(
                "{} {}",
                f["detail"].as_str().unwrap_or_default(),
                f["fix"]
                    .as_str()
                    .map(|s| format!("(fix: {s})"))
                    .unwrap_or_default()
            );
            m.insert(name, (ok, detail));
        }
        m
    })
}

/// Whether `feature` is available to `who`, with a reason when it is not.
pub fn feature(who: Who, feature: &str) -> Result<(), String> {
    let doctor = |name: &str| -> Result<(), String> {
        match doctor_features(who).get(name) {
            Some((true, _)) => Ok(()),
            Some((false, why)) => Err(format!("brig doctor: {name} missing: {why}")),
            None => Err(format!("brig doctor does not report `{name}`")),
        }
    };
    let tool = |name: &str| -> Result<(), String> {
        which(name)
            .map(drop)
            .ok_or_else(|| format!("`{name}` is not installed (looked in {PATH})"))
    };
    match feature {
        "userns" => doctor("user-namespaces"),
        "landlock" => doctor("landlock"),
        "seccomp" => doctor("seccomp"),
        "seccomp-notify" => doctor("seccomp-user-notification"),
        "root" => {
            if suite_is_root() {
                Ok(())
            } else {
                Err("the suite does not run as root".into())
            }
        }
        "x86_64" => {
            if cfg!(target_arch = "x86_64") {
                Ok(())
            } else {
                Err("the probe uses x86_64 syscall numbers and assembly".into())
            }
        }
        "python3" | "gcc" | "cc" | "git" | "strace" | "unshare" | "setsid" | "nohup" | "tmux"
        | "ssh-agent" | "ssh-add" | "script" | "openssl" => tool(feature),
        // The review UI's browser test: Debian's chromium, Node.js, and playwright-core
        // installed under tests/tools (`npm ci --prefix crates/brig/tests/tools`).
        "chromium" | "node" => tool(feature),
        "playwright-core" => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/tools/node_modules/playwright-core");
            if dir.join("package.json").exists() {
                Ok(())
            } else {
                Err(format!(
                    "{} is missing: npm ci --prefix crates/brig/tests/tools",
                    dir.display()
                ))
            }
        }
        other => Err(format!("unknown feature `{other}`")),
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands

/// A finished command.
pub struct Out {
    /// What ran (for messages).
    pub what: String,
    /// Its status.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Out {
    /// Exit code, when it exited.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Asserts exit 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// Asserts a non-zero exit.
    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert!(!self.success(), "expected failure:\n{self}");
        self
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code_is(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "unexpected exit status:\n{self}");
        self
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts that stderr (or stdout) contains one of `needles`.
    #[track_caller]
    pub fn says_one_of(&self, needles: &[&str]) -> &Self {
        let all = self.all();
        assert!(
            needles.iter().any(|n| all.contains(n)),
            "expected one of {needles:?} in the output:\n{self}"
        );
        self
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- command: {}", self.what)?;
        writeln!(f, "--- status: {}", self.status)?;
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

/// `program` run as `who` (through `setpriv` for the test user).
pub fn identity_command(who: Who, program: &OsStr) -> Command {
    if who == Who::User && suite_is_root() {
        let (uid, gid) = test_user();
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            .arg("--")
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().to_string();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(char::is_whitespace) || a.is_empty() {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` to completion (stdin from `input` or /dev/null) within [`DEADLINE`].
/// `args` with `--approval-policy on-request --no-tty-prompt` unless they choose a policy: the
/// requests wait for [`World::approving`] instead of failing for want of a terminal.
fn approving_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = args.to_vec();
    if !args.contains(&"--approval-policy") {
        out.extend(["--approval-policy", "on-request"]);
    }
    if !args.contains(&"--no-tty-prompt") {
        out.push("--no-tty-prompt");
    }
    out
}

/// The ids of the approval requests waiting in `dir` (brig's `<state>/approvals`).
pub fn pending_requests(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sock").map(str::to_string)
        })
        .collect();
    ids.sort();
    ids
}

/// Sends one JSON answer to request `id` in `dir` the way `brig approvals` does, through the
/// socket (by a short `/proc/self/fd` path: test directories are deep) and returns the reply.
pub fn answer_request(dir: &Path, id: &str, json: &str) -> std::io::Result<String> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir)?;
    let path = format!("/proc/self/fd/{}/{id}.sock", d.as_raw_fd());
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    writeln!(s, "{json}")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply)
}

pub fn run_command(mut cmd: Command, input: Option<&[u8]>, what: &str) -> Out {
    let what = if what.is_empty() {
        describe(&cmd)
    } else {
        what.to_string()
    };
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    finish(child, &what, DEADLINE)
}

fn reader(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Waits for `child` (stdout/stderr piped), killing it at the deadline.
pub fn finish(mut child: Child, what: &str, deadline: Duration) -> Out {
    let out_rx = reader(child.stdout.take().expect("piped stdout"));
    let err_rx = reader(child.stderr.take().expect("piped stderr"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let so = out_rx
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_default();
            let se = err_rx
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_default();
            panic!(
                "{what}: still running after {deadline:?}; killed.\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&so),
                String::from_utf8_lossy(&se)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Leftover processes holding the pipes would block here: that is a lifetime failure.
    let left = Duration::from_secs(20);
    let stdout = out_rx.recv_timeout(left).unwrap_or_else(|_| {
        panic!("{what}: exited ({status}) but its stdout stayed open: a process outlived it")
    });
    let stderr = err_rx.recv_timeout(left).unwrap_or_else(|_| {
        panic!("{what}: exited ({status}) but its stderr stayed open: a process outlived it")
    });
    Out {
        what: what.to_string(),
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests and worlds

/// One running test: an identity and a private directory.
pub struct Test {
    /// Who runs brig.
    pub who: Who,
    /// `module::test` (for markers and messages).
    pub name: String,
    dir: PathBuf,
    worlds: AtomicU32,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Test {
    /// Runs `body` as `who`, unless the identity is unavailable (skip, or fail when required).
    pub fn run(who: Who, module: &str, body: fn(&Test)) {
        let name = module.split("::").skip(1).collect::<Vec<_>>().join("::");
        if who == Who::Root && !suite_is_root() {
            if required_by_ci("root") {
                panic!("{name} as root: the suite does not run as root and BRIG_TEST_REQUIRE lists root");
            }
            eprintln!("SKIP {name} as root: the suite does not run as root");
            return;
        }
        let t = Test::new(who, &name);
        body(&t);
    }

    fn new(who: Who, name: &str) -> Test {
        // Short, so that unix socket paths inside stay under 108 bytes.
        let slug: String = name
            .rsplit("::")
            .next()
            .unwrap_or("t")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(20)
            .collect();
        let dir = base_dir().join(format!(
            "{}-{}{}-{}",
            slug,
            if who == Who::Root { "r" } else { "u" },
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let t = Test {
            who,
            name: name.to_string(),
            dir,
            worlds: AtomicU32::new(0),
        };
        t.make_dir(&t.dir);
        t
    }

    /// The identity's uid.
    pub fn uid(&self) -> u32 {
        if self.who == Who::User && suite_is_root() {
            test_user().0
        } else {
            euid()
        }
    }

    /// Whether brig runs as root in this test.
    pub fn is_root(&self) -> bool {
        self.uid() == 0
    }

    /// The user name to show in `USER`.
    pub fn user_name(&self) -> String {
        if self.who == Who::User && suite_is_root() {
            TEST_USER.to_string()
        } else if self.is_root() {
            "root".to_string()
        } else {
            std::env::var("USER").unwrap_or_else(|_| format!("uid{}", self.uid()))
        }
    }

    /// Checks declared features; `false` means skip (the caller returns).
    pub fn require(&self, features: &[&str]) -> bool {
        for f in features {
            if let Err(why) = feature(self.who, f) {
                if required_by_ci(f) {
                    panic!(
                        "{} ({:?}): required feature `{f}` is missing: {why} (BRIG_TEST_REQUIRE={})",
                        self.name,
                        self.who,
                        std::env::var("BRIG_TEST_REQUIRE").unwrap_or_default()
                    );
                }
                eprintln!(
                    "SKIP {} ({:?}): feature `{f}` missing: {why}",
                    self.name, self.who
                );
                return false;
            }
        }
        true
    }

    /// Creates a directory owned by the identity (mode 0755).
    pub fn make_dir(&self, p: &Path) {
        mkdir_mode(p, 0o755);
        self.chown(p);
    }

    /// Gives `p` (not recursively) to the identity.
    pub fn chown(&self, p: &Path) {
        if self.who == Who::User && suite_is_root() {
            let (uid, gid) = test_user();
            std::os::unix::fs::lchown(p, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
    }

    /// A fresh world: `home/` (the fake `$HOME`), `ws/` (the workspace) and `aux/` (files
    /// outside the workspace: probes, other repositories), all owned by the identity.
    pub fn world(&self) -> World<'_> {
        let n = self.worlds.fetch_add(1, Ordering::SeqCst);
        let root = self.dir.join(format!("w{n}"));
        self.make_dir(&root);
        let w = World {
            t: self,
            home: root.join("home"),
            ws: root.join("ws"),
            aux: root.join("aux"),
            root,
        };
        self.make_dir(&w.home);
        self.make_dir(&w.ws);
        self.make_dir(&w.aux);
        w
    }

    /// A marker unique to this test run, for process scans.
    pub fn marker(&self, what: &str) -> String {
        format!(
            "brigmark{}x{}x{}x{what}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst),
            if self.who == Who::Root { "r" } else { "u" }
        )
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        if std::env::var_os("BRIG_TEST_KEEP").is_some() {
            eprintln!("kept {}", self.dir.display());
            return;
        }
        // Directories a test made unreadable (mode 000) need their bits back first.
        let _ = Command::new("chmod")
            .args(["-R", "u+rwX"])
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One set of directories: fake home, workspace, auxiliary files.
pub struct World<'a> {
    /// The test.
    pub t: &'a Test,
    /// Parent of the three.
    pub root: PathBuf,
    /// The fake `$HOME`.
    pub home: PathBuf,
    /// The workspace (brig's cwd and `--workspace`).
    pub ws: PathBuf,
    /// Outside the workspace, not under `$HOME`.
    pub aux: PathBuf,
}

impl World<'_> {
    /// Base environment: PATH, HOME, XDG_STATE_HOME, USER, LOGNAME, LANG, LC_ALL=C (English
    /// error messages).
    pub fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", PATH)
            .env("HOME", &self.home)
            // brig's own state (the walk cache) lives beside the watched trees, not in them.
            .env("XDG_STATE_HOME", self.state_dir())
            .env("USER", self.t.user_name())
            .env("LOGNAME", self.t.user_name())
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C")
            .current_dir(&self.ws);
    }

    /// brig's state directory for this world: beside the world's root, outside every tree
    /// the tests snapshot.
    pub fn state_dir(&self) -> PathBuf {
        let mut name = self.root.file_name().unwrap_or_default().to_os_string();
        name.push("-brig-state");
        self.root.with_file_name(name)
    }

    /// `program` as the identity, in the workspace, with the base environment.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = identity_command(self.t.who, program.as_ref());
        self.env(&mut c);
        c
    }

    /// `sh -c script` without brig.
    pub fn sh(&self, script: &str) -> Out {
        let mut c = self.command("/bin/sh");
        c.arg("-c").arg(script);
        run_command(c, None, &format!("(no brig) sh -c {script:?}"))
    }

    /// `sh -c script` without brig; must succeed.
    #[track_caller]
    pub fn setup(&self, script: &str) {
        let out = self.sh(script);
        assert!(out.success(), "setup failed:\n{out}");
    }

    /// `brig ARGS` (raw).
    pub fn brig(&self, args: &[&str]) -> Out {
        let mut c = self.command(brig_bin());
        c.args(args);
        run_command(c, None, "")
    }

    /// `brig run ARGS -- sh -c script`, with approvals answered (see [`World::approving`]).
    pub fn brig_sh(&self, args: &[&str], script: &str) -> Out {
        let mut c = self.command(brig_bin());
        c.arg("run")
            .args(approving_args(args))
            .arg("--")
            .arg("/bin/sh")
            .arg("-c")
            .arg(script);
        self.approving(|| {
            run_command(
                c,
                None,
                &format!("brig run {} -- sh -c {script:?}", args.join(" ")),
            )
        })
    }

    /// `brig run ARGS -- argv...`, with approvals answered (see [`World::approving`]).
    pub fn brig_run(&self, args: &[&str], argv: &[&str]) -> Out {
        let mut c = self.command(brig_bin());
        c.arg("run").args(approving_args(args)).arg("--").args(argv);
        self.approving(|| run_command(c, None, ""))
    }

    /// Runs `f` while a reviewer approves (twice, as `tester-1` and `tester-2`, once each) every
    /// request that this world's waiting `brig run`s publish. Most tests run destructive
    /// commands (`rm -rf .git`) to prove the sandbox stops them; the approval gate is tested on
    /// its own in `approvals.rs`, without this.
    pub fn approving<T>(&self, f: impl FnOnce() -> T) -> T {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let dir = self.state_dir().join("brig/approvals");
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let reviewer = std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                for id in pending_requests(&dir) {
                    for who in ["tester-1", "tester-2"] {
                        let _ = answer_request(
                            &dir,
                            &id,
                            &format!(r#"{{"op":"approve","approver":"{who}","scope":"once"}}"#),
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let r = f();
        stop.store(true, Ordering::Relaxed);
        let _ = reviewer.join();
        r
    }

    /// A path inside the world (`"home/.bashrc"`, `"ws/.git/config"`).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes `rel` (creating parents) and gives it to the identity.
    pub fn write(&self, rel: &str, contents: &str) {
        let p = self.path(rel);
        let mut created = Vec::new();
        let mut anc = p.parent();
        while let Some(a) = anc {
            if a.exists() {
                break;
            }
            created.push(a.to_path_buf());
            anc = a.parent();
        }
        for d in created.iter().rev() {
            self.t.make_dir(d);
        }
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        self.t.chown(&p);
    }

    /// Contents of `rel`, if it is a readable file.
    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read(self.path(rel))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Whether `rel` exists (without following a final symlink).
    pub fn exists(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.path(rel)).is_ok()
    }

    /// A snapshot of the tree at `rel`.
    pub fn snapshot(&self, rel: &str) -> Snapshot {
        Snapshot::of(&self.path(rel))
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// Everything observable about a tree: kinds, modes, owners, contents, link targets.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, String>);

impl Snapshot {
    /// Walks `root` without following symlinks.
    pub fn of(root: &Path) -> Snapshot {
        let mut m = BTreeMap::new();
        fn walk(root: &Path, p: &Path, m: &mut BTreeMap<String, String>) {
            let rel = match p.strip_prefix(root) {
                Ok(r) if r.as_os_str().is_empty() => String::new(),
                Ok(r) => format!("/{}", r.display()),
                Err(_) => p.display().to_string(),
            };
            let Ok(md) = std::fs::symlink_metadata(p) else {
                m.insert(rel, "vanished".into());
                return;
            };
            let mode = md.mode() & 0o7777;
            let owner = format!("{}:{}", md.uid(), md.gid());
            let ft = md.file_type();
            if ft.is_symlink() {
                let t = std::fs::read_link(p).unwrap_or_default();
                m.insert(rel, format!("symlink -> {}", t.display()));
            } else if ft.is_dir() {
                m.insert(rel, format!("dir {mode:o} {owner}"));
                let mut kids: Vec<PathBuf> = match std::fs::read_dir(p) {
                    Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
                    Err(e) => {
                        m.insert(format!("{}/<unreadable>", p.display()), e.to_string());
                        return;
                    }
                };
                kids.sort();
                for k in kids {
                    walk(root, &k, m);
                }
            } else if ft.is_file() {
                let content = match std::fs::read(p) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => format!("<unreadable: {e}>"),
                };
                m.insert(
                    rel,
                    format!("file {mode:o} {owner} nlink={} {content:?}", md.nlink()),
                );
            } else {
                m.insert(rel, format!("special {:o} {mode:o} {owner}", md.mode()));
            }
        }
        walk(root, root, &mut m);
        Snapshot(m)
    }

    /// Differences to `after`, one per line.
    pub fn diff(&self, after: &Snapshot) -> String {
        let mut s = String::new();
        for (k, v) in &self.0 {
            match after.0.get(k) {
                None => s.push_str(&format!("  removed {k} ({v})\n")),
                Some(w) if w != v => s.push_str(&format!("  changed {k}: {v} => {w}\n")),
                _ => {}
            }
        }
        for (k, v) in &after.0 {
            if !self.0.contains_key(k) {
                s.push_str(&format!("  added {k} ({v})\n"));
            }
        }
        s
    }

    /// Asserts no difference.
    #[track_caller]
    pub fn assert_same(&self, after: &Snapshot, context: &str) {
        let d = self.diff(after);
        assert!(d.is_empty(), "{context}: the host tree changed:\n{d}");
    }
}

// ---------------------------------------------------------------------------------------------
// Attacks both ways

/// One attack, run first without brig (must work) and then under brig (must fail).
pub struct Attack<'a> {
    /// What it is (for messages).
    pub name: &'a str,
    /// Shell run as the identity without brig in each world before the attack.
    pub setup: &'a str,
    /// The attack: a shell script that exits 0 when every step worked (run with `sh -ec`).
    pub script: &'a str,
    /// Extra `brig run` arguments.
    pub brig_args: &'a [&'a str],
    /// Observes the host after the attack: `true` when the attack had its effect.
    pub effect: &'a dyn Fn(&World) -> bool,
    /// Trees (relative to the world) that must be byte-identical before and after under brig.
    pub unchanged: &'a [&'a str],
    /// Under brig, the output must contain one of these (empty: not checked).
    pub errors: &'a [&'a str],
}

/// Default error strings of a blocked write.
pub const WRITE_DENIED: &[&str] = &[
    "Read-only file system",
    "Operation not permitted",
    "Permission denied",
    "Invalid cross-device link",
    "Device or resource busy",
    "could not lock config file",
];

impl Attack<'_> {
    /// Runs the attack both ways; returns the brig run's output.
    #[track_caller]
    pub fn both_ways(&self, t: &Test) -> Out {
        let script = format!("set -e\n{}", self.script);
        // Without brig: the attack must work, or the test proves nothing.
        let direct = t.world();
        if !self.setup.is_empty() {
            direct.setup(self.setup);
        }
        let out = direct.sh(&script);
        assert!(
            out.success(),
            "[{}] the attack does not even work without brig (the test would prove nothing):\n{out}",
            self.name
        );
        assert!(
            (self.effect)(&direct),
            "[{}] without brig the attack ran but its effect is not visible on the host:\n{out}",
            self.name
        );
        // Under brig: it must fail and leave the host as it was.
        let boxed = t.world();
        if !self.setup.is_empty() {
            boxed.setup(self.setup);
        }
        let before: Vec<Snapshot> = self.unchanged.iter().map(|r| boxed.snapshot(r)).collect();
        let out = boxed.brig_sh(self.brig_args, &script);
        assert!(
            !(self.effect)(&boxed),
            "[{}] ESCAPE: under brig the attack had its effect on the host:\n{out}",
            self.name
        );
        assert!(
            !out.success(),
            "[{}] under brig every step of the attack succeeded:\n{out}",
            self.name
        );
        assert!(
            !matches!(out.code(), Some(121..=125)),
            "[{}] brig itself failed instead of running the command:\n{out}",
            self.name
        );
        for (rel, b) in self.unchanged.iter().zip(&before) {
            b.assert_same(&boxed.snapshot(rel), &format!("[{}] {rel}", self.name));
        }
        if !self.errors.is_empty() {
            let all = out.all();
            assert!(
                self.errors.iter().any(|e| all.contains(e)),
                "[{}] expected one of {:?} in the output under brig:\n{out}",
                self.name,
                self.errors
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Host processes (other than this one) whose command line contains `marker`.
pub fn procs_with(marker: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(marker) {
            // A zombie still has its entry until reaped; it holds no resources and runs nothing.
            let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false);
            if !zombie {
                out.push((pid, cmdline));
            }
        }
    }
    out
}

/// Polls until `cond` holds or `within` elapses; returns whether it held.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Kills (SIGKILL) every process with `marker` in its command line when dropped: cleanup for
/// tests that start long-lived processes on the host on purpose.
pub struct KillOnDrop(pub String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for _ in 0..3 {
            let pids = procs_with(&self.0);
            if pids.is_empty() {
                return;
            }
            for (pid, _) in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Probes

/// A Python probe for syscalls seccomp must deny: `probe.py NAME...` prints `NAME: ok` or
/// `NAME: errno=ENAME` for each. x86_64 syscall numbers.
pub const SYSCALL_PROBE: &str = r#"
import ctypes, errno, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(*a):
    args = [ctypes.c_long(x) if isinstance(x, int) else x for x in a]
    r = libc.syscall(*args)
    return r, (ctypes.get_errno() if r < 0 else 0)
def child():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    return pid
def reap(pid):
    os.kill(pid, 9)
    os.waitpid(pid, 0)
for w in sys.argv[1:]:
    if w == "io_uring_setup":
        params = ctypes.create_string_buffer(120)
        r, e = sc(425, 4, params)
    elif w == "keyctl":
        r, e = sc(250, 0, -3, 1)  # KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create
    elif w == "add_key":
        r, e = sc(248, b"user", b"brig-test-key", b"x", 1, -2)  # into KEY_SPEC_PROCESS_KEYRING
    elif w == "bpf":
        r, e = sc(321, 0x7fff, 0, 0)  # unknown command: EINVAL once the kernel sees it
    elif w == "perf_event_open":
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("IIQ", attr, 0, 1, 128, 0)  # PERF_TYPE_SOFTWARE, size, CPU_CLOCK
        struct.pack_into("Q", attr, 40, (1 << 5) | (1 << 6))  # exclude_kernel | exclude_hv
        r, e = sc(298, attr, 0, -1, -1, 0)
    elif w == "userfaultfd":
        r, e = sc(323, os.O_CLOEXEC | 1)  # UFFD_USER_MODE_ONLY
    elif w == "personality":
        r, e = sc(135, 0x0040000)  # ADDR_NO_RANDOMIZE
    elif w == "unshare":
        r, e = sc(272, 0x10000000)  # CLONE_NEWUSER
    elif w == "ptrace":
        pid = child()
        r, e = sc(101, 16, pid, 0, 0)  # PTRACE_ATTACH
        reap(pid)
    elif w == "process_vm_readv":
        src = ctypes.create_string_buffer(b"abcdefg")
        dst = ctypes.create_string_buffer(8)
        liov = ctypes.create_string_buffer(struct.pack("QQ", ctypes.addressof(dst), 8))
        riov = ctypes.create_string_buffer(struct.pack("QQ", ctypes.addressof(src), 8))
        pid = child()
        r, e = sc(310, pid, liov, 1, riov, 1, 0)
        reap(pid)
    else:
        print(f"{w}: unknown probe")
        continue
    print(f"{w}: " + ("ok" if r >= 0 else "errno=" + errno.errorcode.get(e, str(e))), flush=True)
"#;

/// Terminal injection probe: a child on a new pty (its controlling terminal) pushes a byte
/// with TIOCSTI; `high` sets bit 32 of the request (the kernel truncates it to 32 bits).
/// Prints `TIOCSTI ok` or `TIOCSTI errno=ENAME`, and `session-leader` when the probe itself
/// leads its session.
pub const TIOCSTI_PROBE: &str = r#"
import errno, fcntl, os, pty, sys, termios
if os.getsid(0) == os.getpid():
    print("session-leader", flush=True)
req = termios.TIOCSTI | ((1 << 32) if "high" in sys.argv[1:] else 0)
pid, master = pty.fork()
if pid == 0:
    try:
        fcntl.ioctl(0, req, b"Z")
        os._exit(0)
    except OSError as e:
        os._exit(100 + e.errno)
try:
    while os.read(master, 100):
        pass
except OSError:
    pass
_, st = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(st)
print("TIOCSTI " + ("ok" if code == 0 else "errno=" + errno.errorcode.get(code - 100, str(code))))
"#;

/// i386 `int 0x80` and x32 system calls from a native x86_64 program.
pub const ARCH_PROBE_C: &str = r#"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    long r;
    if (argc > 1 && strcmp(argv[1], "int80") == 0) {
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* i386 getpid */
    } else {
        r = syscall(39 | 0x40000000L); /* x32 getpid */
    }
    printf("returned %ld\n", r);
    return 0;
}
"#;

/// The rest of the line of `out`'s stdout that starts with `KIND: ` (probe scripts print one
/// such line per attempt); fails the test when there is none.
#[track_caller]
pub fn probe_line(out: &Out, kind: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{kind}: ")))
        .unwrap_or_else(|| panic!("no `{kind}:` line:\n{out}"))
        .to_string()
}
