//! THREATS A: writing outside the writable roots, directly or through aliases (symlinks,
//! hardlinks, `/proc/self/root`, `/proc/PID/cwd`), system directories, the host's `/tmp`,
//! `/proc/sys`, `/dev`, and read-only mode.

use std::path::Path;

use crate::support::*;

/// An attack whose effect is "`rel` in the world now contains `evil`".
fn contains_evil(rel: &'static str) -> impl Fn(&World) -> bool {
    move |w: &World| w.read(rel).is_some_and(|s| s.contains("evil"))
}

fn home_attack(t: &Test, name: &str, setup: &str, script: &str, file: &'static str) {
    home_attack_says(t, name, setup, script, file, WRITE_DENIED);
}

fn home_attack_says(
    t: &Test,
    name: &str,
    setup: &str,
    script: &str,
    file: &'static str,
    errors: &[&str],
) {
    Attack {
        name,
        setup,
        script,
        brig_args: &[],
        effect: &contains_evil(file),
        unchanged: &["home", "aux"],
        errors,
    }
    .both_ways(t);
}

both_identities!(
    home_persistence_files,
    home_gitconfig,
    symlink_aliases,
    hardlink_alias,
    proc_aliases,
    system_directories,
    tmp_is_private,
    proc_sys_and_sysrq,
    dev_is_minimal,
    read_only_mode,
    extra_writable_root,
);

/// Persistence through files in `$HOME` that run code later: rc files,
/// `~/.ssh/authorized_keys`, `~/.gitconfig`, `~/.local/bin`, autostart entries, systemd user
/// units, and brig's own user config.
fn home_persistence_files(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    home_attack(
        t,
        "append to ~/.bashrc",
        "echo '# rc' > ~/.bashrc",
        "echo 'evil' >> ~/.bashrc",
        "home/.bashrc",
    );
    home_attack(
        t,
        "create ~/.profile",
        "",
        "echo 'evil' > ~/.profile",
        "home/.profile",
    );
    home_attack(
        t,
        "~/.ssh/authorized_keys",
        "",
        "mkdir -p ~/.ssh\necho 'ssh-ed25519 AAAA evil' >> ~/.ssh/authorized_keys",
        "home/.ssh/authorized_keys",
    );
    home_attack(t, "~/.local/bin shadowing git", "",
        "mkdir -p ~/.local/bin\nprintf '#!/bin/sh\\necho evil\\n' > ~/.local/bin/git\nchmod +x ~/.local/bin/git",
        "home/.local/bin/git");
    home_attack(t, "~/.config/autostart", "",
        "mkdir -p ~/.config/autostart\nprintf '[Desktop Entry]\\nExec=evil\\n' > ~/.config/autostart/evil.desktop",
        "home/.config/autostart/evil.desktop");
    home_attack(t, "systemd user unit", "",
        "mkdir -p ~/.config/systemd/user\nprintf '[Service]\\nExecStart=/bin/evil\\n' > ~/.config/systemd/user/evil.service",
        "home/.config/systemd/user/evil.service");
    home_attack(t, "brig's own user config", "",
        "mkdir -p ~/.config/brig\necho 'allow_danger_full_access = true # evil' > ~/.config/brig/config.toml",
        "home/.config/brig/config.toml");
}

/// `git config --global` writes `~/.gitconfig` (core.hooksPath would run code in every repo).
fn home_gitconfig(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    home_attack(
        t,
        "git config --global core.hooksPath",
        "printf '[user]\\n\\tname = T\\n' > ~/.gitconfig",
        "git config --global core.hooksPath /evil/hooks",
        "home/.gitconfig",
    );
}

/// Symlinks in the workspace that point outside: dangling, to an existing file, to a
/// directory, and one planted by the command itself.
fn symlink_aliases(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    home_attack(
        t,
        "dangling symlink planted in the workspace",
        "ln -s ../home/.bashrc link",
        "echo evil >> link",
        "home/.bashrc",
    );
    home_attack(
        t,
        "symlink to an existing file",
        "echo '# profile' > ~/.profile\nln -s ../home/.profile plink",
        "echo evil >> plink",
        "home/.profile",
    );
    home_attack(
        t,
        "symlink to the home directory",
        "ln -s ../home hdir",
        "echo evil > hdir/.bash_logout",
        "home/.bash_logout",
    );
    home_attack(
        t,
        "symlink made by the command",
        "echo '# rc' > ~/.bashrc",
        "ln -s \"$HOME/.bashrc\" mylink\necho evil >> mylink",
        "home/.bashrc",
    );
}

/// A hardlink from the workspace to a file outside, made by the command: the kernel refuses
/// links across the workspace's bind mount (EXDEV), so the inode cannot be reached.
fn hardlink_alias(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    Attack {
        name: "hardlink to ~/.bashrc made in the workspace",
        setup: "echo '# rc' > ~/.bashrc",
        script: "ln ~/.bashrc hl\necho evil >> hl",
        brig_args: &[],
        effect: &contains_evil("home/.bashrc"),
        unchanged: &["home"],
        errors: &[
            "Invalid cross-device link",
            "Operation not permitted",
            "Permission denied",
        ],
    }
    .both_ways(t);
}

/// `/proc/self/root/...` and `/proc/PID/cwd` of a host process as aliases of `$HOME`.
fn proc_aliases(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    home_attack(
        t,
        "/proc/self/root",
        "echo '# rc' > ~/.bashrc",
        "echo evil >> /proc/self/root$HOME/.bashrc",
        "home/.bashrc",
    );
    let marker = t.marker("cwd");
    let _cleanup = KillOnDrop(marker.clone());
    // A host process whose cwd is $HOME; its pid is in aux/hostpid.
    let setup = format!(
        "cd ~ && nohup python3 -c 'import time; time.sleep(120)' {marker} >/dev/null 2>&1 </dev/null &\n\
         echo $! > ../aux/hostpid"
    );
    // Inside, the host pid does not exist in the sandbox's PID namespace.
    home_attack_says(t, "/proc/PID/cwd of a host process", &setup,
        "pid=$(cat ../aux/hostpid)\nfor i in 1 2 3 4 5 6 7 8 9 10; do [ -e /proc/$pid/cwd/. ] && break; sleep 0.1; done\necho evil > /proc/$pid/cwd/.bashrc",
        "home/.bashrc", &["nonexistent", "No such file", "Permission denied", "Read-only file system"]);
}

/// System directories stay read-only (checked from the host: nothing appeared). Root could
/// write them without brig; the test only checks that permission outside, never writes.
fn system_directories(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let m = t.marker("sys");
    let dirs = [
        "/etc",
        "/usr",
        "/usr/local/bin",
        "/var/lib",
        "/opt",
        "/root",
        "/boot",
    ];
    let dirs: Vec<&str> = dirs.into_iter().filter(|d| Path::new(d).is_dir()).collect();
    if t.is_root() {
        for d in &dirs {
            w.sh(&format!("test -w {d}")).ok();
        }
    }
    for d in &dirs {
        let target = format!("{d}/{m}");
        let out = w.brig_sh(&[], &format!("echo evil > {target}"));
        out.failed()
            .says_one_of(&["Read-only file system", "Permission denied"]);
        assert!(
            !Path::new(&target).exists(),
            "{target} was created on the host:\n{out}"
        );
    }
}

/// The host's /tmp (and /var/tmp, /dev/shm) is not shared: a host file is invisible inside,
/// and a file written inside never reaches the host.
fn tmp_is_private(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let m = t.marker("tmp");
    let host_files: Vec<String> = ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .filter(|d| Path::new(d).is_dir())
        .map(|d| format!("{d}/{m}-host"))
        .collect();
    struct Rm(Vec<String>);
    impl Drop for Rm {
        fn drop(&mut self) {
            for f in &self.0 {
                let _ = std::fs::remove_file(f);
            }
        }
    }
    let mut cleanup = Rm(host_files.clone());
    for f in &host_files {
        std::fs::write(f, "host secret scratch\n").unwrap();
        t.chown(Path::new(f));
        // Without brig: the file is there, and a new one lands on the host.
        w.sh(&format!("cat {f} && echo direct > {f}-direct")).ok();
        assert!(Path::new(&format!("{f}-direct")).exists());
        cleanup.0.push(format!("{f}-direct"));
        // Under brig: not there, and what is written stays inside.
        let out = w.brig_sh(
            &[],
            &format!("if cat {f}; then exit 9; fi; echo inside > {f}-inside && cat {f}-inside"),
        );
        out.ok();
        assert!(out.stdout.contains("inside"), "{out}");
        assert!(!out.stdout.contains("host secret"), "{out}");
        cleanup.0.push(format!("{f}-inside"));
        assert!(
            !Path::new(&format!("{f}-inside")).exists(),
            "a file written to a scratch dir inside the sandbox appeared on the host:\n{out}"
        );
    }
}

/// `/proc/sys`, `/proc/sysrq-trigger` and cgroup files are not writable.
fn proc_sys_and_sysrq(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    // Without brig, root may open them for writing (the probe writes nothing).
    let open_w =
        |p: &str| format!("python3 -c 'import os; os.close(os.open(\"{p}\", os.O_WRONLY))'");
    if t.is_root() {
        w.sh(&open_w("/proc/sys/kernel/domainname")).ok();
        if Path::new("/proc/sysrq-trigger").exists() {
            w.sh(&open_w("/proc/sysrq-trigger")).ok();
        }
    }
    let before = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap_or_default();
    let out = w.brig_sh(&[], "echo brig-evil > /proc/sys/kernel/domainname");
    out.failed()
        .says_one_of(&["Read-only file system", "Permission denied"]);
    let out = w.brig_sh(&[], &open_w("/proc/sys/vm/drop_caches"));
    out.failed()
        .says_one_of(&["Read-only file system", "Permission denied"]);
    let out = w.brig_sh(&[], "echo h > /proc/sysrq-trigger");
    out.failed();
    let m = t.marker("cg");
    if Path::new("/sys/fs/cgroup").is_dir() {
        let out = w.brig_sh(&[], &format!("mkdir /sys/fs/cgroup/{m}"));
        out.failed();
        assert!(!Path::new(&format!("/sys/fs/cgroup/{m}")).exists());
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap_or_default(),
        before
    );
}

/// /dev inside holds only the harmless character devices, no disks, memory or consoles.
fn dev_is_minimal(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let allowed = [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin",
        "stdout", "stderr", "console", "mqueue", "core",
    ];
    let host = std::fs::read_dir("/dev").unwrap().count();
    let out = w.brig_sh(&[], "ls -A /dev; echo ---; find /dev -xdev -type b; echo x > /dev/null; head -c 4 /dev/urandom | wc -c");
    out.ok();
    let (list, rest) = out.stdout.split_once("---").unwrap();
    let inside: Vec<&str> = list.split_whitespace().collect();
    for e in &inside {
        assert!(
            allowed.contains(e),
            "unexpected /dev/{e} inside the sandbox:\n{out}"
        );
    }
    assert!(
        inside.len() < host,
        "host /dev has {host} entries, sandbox {}",
        inside.len()
    );
    assert!(rest.trim().ends_with('4'), "{out}");
    assert!(!rest.contains("/dev/"), "block devices inside:\n{out}");
}

/// read-only mode: nothing in the workspace is writable, but /tmp is.
fn read_only_mode(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    Attack {
        name: "write the workspace in read-only mode",
        setup: "echo original > file.txt",
        script: "echo evil > new.txt",
        brig_args: &["--mode", "read-only"],
        effect: &|w: &World| w.exists("ws/new.txt"),
        unchanged: &["ws", "home"],
        errors: &["Read-only file system"],
    }
    .both_ways(t);
    Attack {
        name: "modify a workspace file in read-only mode",
        setup: "echo original > file.txt",
        script: "echo evil >> file.txt",
        brig_args: &["--mode", "read-only"],
        effect: &contains_evil("ws/file.txt"),
        unchanged: &["ws", "home"],
        errors: &["Read-only file system"],
    }
    .both_ways(t);
    let w = t.world();
    let out = w.brig_sh(
        &["--mode", "read-only"],
        "echo scratch > /tmp/x && cat /tmp/x && echo \"$TMPDIR\"",
    );
    out.ok();
    assert!(out.stdout.contains("scratch"), "{out}");
}

/// `--writable DIR` makes exactly that directory writable, nothing next to it.
fn extra_writable_root(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    t.make_dir(&w.path("aux/extra"));
    t.make_dir(&w.path("aux/other"));
    let extra = w.path("aux/extra");
    let other = w.path("aux/other");
    let out = w.brig_sh(
        &["--writable", extra.to_str().unwrap()],
        &format!(
            "echo ok > {}/f && echo evil > {}/f",
            extra.display(),
            other.display()
        ),
    );
    out.failed().says_one_of(&["Read-only file system"]);
    assert_eq!(w.read("aux/extra/f").as_deref(), Some("ok\n"));
    assert!(!w.exists("aux/other/f"));
}
