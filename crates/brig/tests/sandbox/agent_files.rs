//! THREATS A, files that run code later outside the sandbox (`.envrc`, `.vscode/`, `.mcp.json`,
//! `.claude/`, ...): read-only when they exist, impossible to create when they do not, in any
//! case spelling and through any syscall that names an inode; no stray entries left in the
//! user's tree; concurrent runs on one workspace.

use std::time::Duration;

use crate::support::*;

/// Protected files created by the setup of the "existing" tests.
const EXISTING: &[&str] = &[
    ".envrc",
    ".vscode/tasks.json",
    ".mcp.json",
    ".claude/settings.json",
    ".idea/workspace.xml",
    ".cursor/mcp.json",
    ".gemini/settings.json",
    ".codex/config.toml",
    ".gitmodules",
    ".brig.toml",
    "sub/deeper/.envrc",
];

/// Protected names that do not exist at start (the parent directories do).
const MISSING: &[&str] = &[
    ".envrc",
    ".mcp.json",
    ".vscode/tasks.json",
    ".claude/settings.json",
    ".idea/workspace.xml",
    ".cursor/mcp.json",
    ".gemini/settings.json",
    ".codex/config.toml",
    ".gitmodules",
    ".brig.toml",
    ".devcontainer/devcontainer.json",
    ".husky/pre-commit",
    ".pre-commit-config.yaml",
    "sub/deeper/.envrc",
    "sub/deeper/.vscode/settings.json",
];

/// Case variants (harmless on ext4, dangerous on case-insensitive filesystems).
const CASE_VARIANTS: &[&str] = &[
    ".GIT/config",
    ".Git/HEAD",
    ".VSCode/tasks.json",
    ".Envrc",
    ".ENVRC",
    ".MCP.json",
    ".Claude/settings.json",
    ".Brig.toml",
];

fn setup_existing() -> String {
    let mut s = String::from("mkdir -p sub/deeper");
    for f in EXISTING {
        s.push_str(&format!(
            " && mkdir -p \"$(dirname {f})\" && echo '# original' > {f}"
        ));
    }
    s
}

fn create_script(f: &str) -> String {
    format!("mkdir -p \"$(dirname {f})\"\necho evil > {f}")
}

fn exists(rel: String) -> impl Fn(&World) -> bool {
    move |w: &World| w.exists(&rel)
}

fn contains_evil(rel: String) -> impl Fn(&World) -> bool {
    move |w: &World| w.read(&rel).is_some_and(|s| s.contains("evil"))
}

fn attack(t: &Test, name: &str, setup: &str, script: &str, effect: &dyn Fn(&World) -> bool) -> Out {
    Attack {
        name,
        setup,
        script,
        brig_args: &[],
        effect,
        unchanged: &["ws", "home", "aux"],
        errors: WRITE_DENIED,
    }
    .both_ways(t)
}

both_identities!(
    existing_files_are_read_only,
    missing_files_cannot_be_created,
    case_variants,
    other_creation_paths,
    unix_socket_cannot_take_protected_name,
    symlinked_protected_dir,
    no_stray_entries,
    concurrent_runs,
);

/// Existing agent/IDE files: appending, deleting, renaming away and recreating, adding a
/// file to a protected directory.
fn existing_files_are_read_only(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let setup = setup_existing();
    for f in EXISTING {
        attack(
            t,
            &format!("append to existing {f}"),
            &setup,
            &format!("echo evil >> {f}"),
            &contains_evil(format!("ws/{f}")),
        );
    }
    attack(t, "delete .envrc", &setup, "rm .envrc", &|w: &World| {
        !w.exists("ws/.envrc")
    });
    attack(
        t,
        "rename .envrc away and recreate",
        &setup,
        "mv .envrc old-envrc\necho evil > .envrc",
        &|w: &World| {
            w.exists("ws/old-envrc") || w.read("ws/.envrc").is_some_and(|s| s.contains("evil"))
        },
    );
    attack(
        t,
        "rename .claude away",
        &setup,
        "mv .claude claude-old\nmkdir .claude\necho evil > .claude/settings.json",
        &|w: &World| w.exists("ws/claude-old"),
    );
    attack(
        t,
        "add a file to .vscode",
        &setup,
        "echo evil > .vscode/settings.json",
        &exists("ws/.vscode/settings.json".into()),
    );
}

/// Protected names that do not exist yet cannot be created, at the root or deeper; brig
/// reports the refusal and leaves nothing behind.
fn missing_files_cannot_be_created(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    for f in MISSING {
        let out = attack(
            t,
            &format!("create {f}"),
            "mkdir -p sub/deeper",
            &create_script(f),
            &exists(format!("ws/{f}")),
        );
        out.says_one_of(&["Operation not permitted"]);
        let top = f.split('/').find(|c| c.starts_with('.')).unwrap();
        assert!(
            out.stderr.contains(top),
            "brig did not report refusing {top}:\n{out}"
        );
    }
}

/// `.GIT`, `.VSCode`, `.Envrc`...: refused as well (they alias the real names on
/// case-insensitive filesystems).
fn case_variants(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    for f in CASE_VARIANTS {
        attack(
            t,
            &format!("create {f}"),
            "",
            &create_script(f),
            &exists(format!("ws/{f}")),
        );
    }
}

/// Every other way to give an inode a protected name: symlink, hardlink, rename, fifo,
/// exclusive create, copy, archive extraction.
fn other_creation_paths(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let envrc = || exists("ws/.envrc".into());
    attack(
        t,
        "symlink named .envrc",
        "",
        "ln -s /etc/passwd .envrc",
        &envrc(),
    );
    attack(
        t,
        "hardlink named .envrc",
        "echo 'echo evil' > payload",
        "ln payload .envrc",
        &envrc(),
    );
    attack(
        t,
        "rename a directory to .vscode",
        "mkdir d && echo '{}' > d/tasks.json",
        "mv d .vscode",
        &exists("ws/.vscode".into()),
    );
    attack(
        t,
        "rename a file to .mcp.json",
        "echo '{}' > m.json",
        "mv m.json .mcp.json",
        &exists("ws/.mcp.json".into()),
    );
    attack(t, "fifo named .envrc", "", "mkfifo .envrc", &envrc());
    attack(
        t,
        "O_EXCL create",
        "",
        "python3 -c \"open('.mcp.json', 'x').write('evil')\"",
        &exists("ws/.mcp.json".into()),
    );
    attack(
        t,
        "create .envrc through a symlink",
        "ln -s .envrc x",
        "echo 'echo evil' > x",
        &envrc(),
    );
    attack(
        t,
        "create a nested .git through a symlink",
        "mkdir sub && ln -s sub/.git y",
        "echo 'gitdir: /elsewhere' > y",
        &exists("ws/sub/.git".into()),
    );
    attack(
        t,
        "cp onto .envrc",
        "echo evil > ../aux/payload",
        "cp ../aux/payload .envrc",
        &envrc(),
    );
    attack(t, "tar extracts .envrc and .vscode/",
        "mkdir -p ../aux/t/.vscode && echo evil > ../aux/t/.envrc && echo evil > ../aux/t/.vscode/tasks.json && tar cf ../aux/t.tar -C ../aux/t .envrc .vscode",
        "tar xf ../aux/t.tar", &|w: &World| w.exists("ws/.envrc") || w.exists("ws/.vscode"));
}

/// `bind()` of an AF_UNIX socket creates a filesystem entry too: it must not be able to
/// take a protected name either.
fn unix_socket_cannot_take_protected_name(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    attack(
        t,
        "bind a unix socket at .envrc",
        "",
        "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('.envrc')\"",
        &exists("ws/.envrc".into()),
    );
    attack(
        t,
        "bind a unix socket at sub/.git",
        "mkdir sub",
        "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('sub/.git')\"",
        &exists("ws/sub/.git".into()),
    );
}

/// A protected name that is a symlink protects its target: `.vscode -> docs/` must not
/// leave `docs/tasks.json` writable.
fn symlinked_protected_dir(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    attack(
        t,
        "write the target of a .vscode symlink",
        "mkdir docs && echo '{}' > docs/tasks.json && ln -s docs .vscode",
        "echo evil >> docs/tasks.json",
        &contains_evil("ws/docs/tasks.json".into()),
    );
}

/// brig leaves no stray mount points or placeholders: the whole world (home, workspace,
/// neighbours) is identical before and after runs, with and without protected names, in
/// both modes, including runs that are refused creations.
fn no_stray_entries(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    // An empty workspace, a plain one, and one full of protected names.
    let setups = [
        String::new(),
        "mkdir -p src/a && echo x > src/a/f.c && echo y > README".to_string(),
        format!("{} && git init -q . && git init -q sub/deeper/nested && ln -s sub dirlink && ln -s missing dangling", setup_existing()),
    ];
    for setup in &setups {
        let w = t.world();
        if !setup.is_empty() {
            w.setup(setup);
        }
        let before = Snapshot::of(&w.root);
        for mode in ["workspace-write", "read-only"] {
            w.brig_run(&["--mode", mode], &["true"]).ok();
            w.brig_sh(&["--mode", mode],
                "touch .envrc .mcp.json sub/.envrc 2>/dev/null; mkdir .vscode .claude 2>/dev/null; \
                 echo tmp > scratch.txt 2>/dev/null && rm scratch.txt; true").ok();
            before.assert_same(
                &Snapshot::of(&w.root),
                &format!("after runs in {mode} (setup: {setup:?})"),
            );
        }
    }
}

/// Two (four) concurrent runs on one workspace all work and see the protections; nothing
/// stray is left behind afterwards.
fn concurrent_runs(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup(&setup_existing());
    let before = Snapshot::of(&w.root);
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut c = w.command(brig_bin());
            c.args(["run", "--", "/bin/sh", "-c"]).arg(format!(
                "echo {i} > out-{i}; sleep 0.3; \
                 if touch .kiro 2>/dev/null || touch .idea/x 2>/dev/null; then exit 10; fi; \
                 if echo evil >> .envrc 2>/dev/null; then exit 11; fi; \
                 if mkdir .cursor/new 2>/dev/null; then exit 12; fi; \
                 cat .vscode/tasks.json >/dev/null; test \"$(cat out-{i})\" = {i}"
            ));
            c.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().expect("spawn brig")
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        finish(c, &format!("concurrent run {i}"), Duration::from_secs(60)).ok();
    }
    let mut expected = before.clone();
    for i in 0..4 {
        let p = w.ws.join(format!("out-{i}"));
        let after = Snapshot::of(&p);
        for (k, v) in after.0 {
            expected.0.insert(format!("/ws/out-{i}{k}"), v);
        }
    }
    expected.assert_same(&Snapshot::of(&w.root), "after concurrent runs");
}
