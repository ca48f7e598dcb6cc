//! Normal agent work under workspace-write must just work: edit files, inspect the repository
//! with git, compile and run C, run Python, pipes, background jobs, /tmp, nested build dirs,
//! a scratch repository in /tmp; reading everything in read-only mode.

use crate::git::GIT_INIT;
use crate::support::*;

both_identities!(
    edit_and_inspect_repository,
    compile_and_run_c,
    python_pipes_jobs_and_tmp,
    read_only_mode_reads,
    dev_tty_is_the_callers_terminal,
);

/// `/dev/tty` is the caller's controlling terminal even though the supervisor opens files for
/// the command: a program under a pty (`script`) writes to it, and one without a terminal gets
/// ENXIO, as without brig.
fn dev_tty_is_the_callers_terminal(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["script"]) {
        return;
    }
    let w = t.world();
    let out = w.brig_run(
        &[],
        &[
            "script",
            "-qec",
            "echo via-tty > /dev/tty; tty",
            "/dev/null",
        ],
    );
    out.ok();
    assert!(out.stdout.contains("via-tty"), "{out}");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    let none = w.brig_sh(&[], "echo x > /dev/tty");
    none.failed();
    assert!(none.stderr.contains("No such device or address"), "{none}");
}

/// Edit files and look at the result with git status/diff/log.
fn edit_and_inspect_repository(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let w = t.world();
    w.setup(GIT_INIT);
    let out = w.brig_sh(
        &[],
        "set -e\n\
        echo more >> f\n\
        sed -i 's/^a$/A/' f\n\
        mkdir -p src/lib && printf 'int x;\\n' > src/lib/new.c\n\
        cp f f.bak && mv f.bak f.orig && rm f.orig\n\
        git status --short\n\
        git diff --stat\n\
        git diff | grep '^+A$'\n\
        git log --oneline | wc -l\n\
        git show --stat HEAD >/dev/null\n\
        git branch --show-current",
    );
    out.ok();
    assert!(out.stdout.contains(" M f"), "{out}");
    assert!(out.stdout.contains("?? src/"), "{out}");
    assert!(out.stdout.contains("1 file changed"), "{out}");
    assert_eq!(w.read("ws/f").as_deref(), Some("A\nmore\n"));
    assert!(w.exists("ws/src/lib/new.c"));
}

/// Compile a C program into a nested build directory of the workspace and run it.
fn compile_and_run_c(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["gcc"]) {
        return;
    }
    let w = t.world();
    w.write(
        "ws/hello.c",
        "#include <stdio.h>\nint main(void) { puts(\"hello from brig\"); return 0; }\n",
    );
    let out = w.brig_sh(
        &[],
        "set -e\nmkdir -p build/out\ngcc -O1 -Wall -o build/out/hello hello.c\n./build/out/hello",
    );
    out.ok();
    assert!(out.stdout.contains("hello from brig"), "{out}");
    let out = w.sh("./build/out/hello");
    assert!(out.ok().stdout.contains("hello from brig"));
}

/// Python, pipes, background jobs that finish, /tmp and $TMPDIR, a repository in /tmp.
fn python_pipes_jobs_and_tmp(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3", "git"]) {
        return;
    }
    let w = t.world();
    let out = w.brig_sh(&[], "set -e\n\
        python3 -c 'print(\"py\", sum(range(10)))'\n\
        seq 1 1000 | sort -rn | head -1 | sed 's/^/top /'\n\
        (sleep 0.1; echo bg-one) & (echo bg-two) & wait\n\
        f=$(mktemp) && echo tmpdata > \"$f\" && cat \"$f\" && rm \"$f\"\n\
        mkdir -p \"$TMPDIR/a/b\" && echo deep > /tmp/a/b/c && cat /tmp/a/b/c\n\
        git init -q /tmp/x && cd /tmp/x && echo x > x && git add x\n\
        git -c user.name=T -c user.email=t@example.com commit -qm scratch && git log --oneline | wc -l | sed 's/^/commits /'\n\
        cd - >/dev/null && echo result > result.txt");
    out.ok();
    for want in [
        "py 45",
        "top 1000",
        "bg-one",
        "bg-two",
        "tmpdata",
        "deep",
        "commits 1",
    ] {
        assert!(out.stdout.contains(want), "missing {want:?}:\n{out}");
    }
    assert_eq!(w.read("ws/result.txt").as_deref(), Some("result\n"));
}

/// read-only mode still reads everything in the workspace, git included.
fn read_only_mode_reads(t: &Test) {
    read_only_network_is_off(t);
    read_only_workspace_under_tmp(t);
    create_through_symlink(t);
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let w = t.world();
    w.setup(GIT_INIT);
    let out = w.brig_sh(
        &["--mode", "read-only"],
        "set -e\ncat f\ngit log --oneline | wc -l\ngit status --short | wc -l\nls -a",
    );
    out.ok();
    assert!(out.stdout.contains(".git"), "{out}");
}

/// read-only means no network, even when `--network on` is asked for.
fn read_only_network_is_off(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    let probe = "python3 -c \"import socket; socket.socket(socket.AF_INET)\"";
    w.brig_sh(&["--network", "on"], probe).ok();
    let out = w.brig_sh(&["--mode", "read-only", "--network", "on"], probe);
    assert!(
        !out.success(),
        "read-only with --network on could open an IP socket:\n{out}"
    );
}

/// A workspace under /tmp (which is private inside) is still visible, read-only, in
/// read-only mode.
fn read_only_workspace_under_tmp(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    // Unique per test and identity (both identities run at once).
    let dir = std::env::temp_dir().join(format!("brig-ro-ws-{}", t.marker("ro-ws")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("seen.txt"), "visible\n").unwrap();
    if !t.is_root() {
        // The unprivileged identity must be able to enter it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let mut c = w.command(brig_bin());
    c.args(["run", "--mode", "read-only", "--workspace"])
        .arg(&dir)
        .args(["--", "sh", "-c", "cat seen.txt; touch new.txt"]);
    c.current_dir(&dir);
    let out = run_command(c, None, "brig run --mode read-only (workspace under /tmp)");
    assert!(out.stdout.contains("visible"), "{out}");
    assert!(
        !dir.join("new.txt").exists(),
        "read-only workspace was written"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Creating a file through a symlink whose target name is not protected works.
fn create_through_symlink(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let out = w.brig_sh(
        &[],
        "mkdir -p build && ln -s build/out.txt link && echo through > link && cat build/out.txt",
    );
    assert_eq!(out.ok().stdout, "through\n");
}
