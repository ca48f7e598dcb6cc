//! THREATS A, git metadata at every depth: the workspace's `.git`, nested repositories,
//! `.git` pointer files and their targets (separate git dirs, worktrees), `.git` directories
//! created during the run, renaming `.git` away, hooks and every config key that runs code.

use crate::support::*;

/// Makes the current directory a repository with one commit.
pub const GIT_INIT: &str = "git init -q . && echo a > f && git add f && \
     git -c user.name=T -c user.email=t@example.com commit -qm init";

fn contains_evil(rel: &'static str) -> impl Fn(&World) -> bool {
    move |w: &World| w.read(rel).is_some_and(|s| s.contains("evil"))
}

fn git_attack(
    t: &Test,
    name: &str,
    setup: &str,
    script: &str,
    effect: &dyn Fn(&World) -> bool,
    unchanged: &[&str],
) -> Out {
    Attack {
        name,
        setup,
        script,
        brig_args: &[],
        effect,
        unchanged,
        errors: WRITE_DENIED,
    }
    .both_ways(t)
}

/// The config attacks that make host git run code, as `git -C DIR config ...` lines.
fn config_attacks(dir: &str) -> Vec<(String, String)> {
    [
        ("core.hooksPath", "core.hooksPath /evil/hooks"),
        ("core.fsmonitor", "core.fsmonitor 'echo evil'"),
        (
            "core.sshCommand",
            "core.sshCommand 'evil -o ProxyCommand=x'",
        ),
        ("filter driver", "filter.evil.clean 'sh -c evil'"),
        ("include.path", "include.path ../../evil.cfg"),
        ("core.pager", "core.pager 'evil | less'"),
    ]
    .iter()
    .map(|(n, c)| (format!("{dir}: {n}"), format!("git -C {dir} config {c}")))
    .collect()
}

both_identities!(
    workspace_git_dir,
    nested_repository,
    pointer_file_and_target,
    worktree_of_outside_repository,
    worktree_common_dir,
    new_git_dir_refused,
    rename_git_away,
    dangling_pointer_target,
    repository_in_an_unreadable_directory,
);

/// A repository inside a directory the user made unreadable (mode 000): the start-up walk
/// cannot see its `.git`, but the command (the directory's owner) could chmod the directory
/// and write its hooks. brig must either see it (root) or refuse to start (the owner).
fn repository_in_an_unreadable_directory(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let setup = "mkdir -p locked && git init -q locked/repo && chmod 000 locked";
    let attack = "chmod 755 locked && echo 'echo evil' > locked/repo/.git/hooks/pre-commit";
    let direct = t.world();
    direct.setup(setup);
    direct.sh(attack).ok();
    assert!(
        direct.exists("ws/locked/repo/.git/hooks/pre-commit"),
        "the attack does not work without brig"
    );

    let w = t.world();
    w.setup(setup);
    let out = w.brig_sh(&[], attack);
    w.sh("chmod 755 locked").ok();
    assert!(!out.success(), "{out}");
    assert!(
        !w.exists("ws/locked/repo/.git/hooks/pre-commit"),
        "ESCAPE: a hook was planted through an unreadable directory:\n{out}"
    );
    if out.code() == Some(123) {
        assert!(
            out.stderr
                .contains("cannot be searched for protected entries"),
            "{out}"
        );
    }
}

/// The workspace's own `.git`: hooks, config keys that run code, info/attributes, and
/// replacing the config or the hooks directory wholesale.
fn workspace_git_dir(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let cfg = contains_evil("ws/.git/config");
    for (name, script) in config_attacks(".") {
        git_attack(t, &name, GIT_INIT, &script, &cfg, &["ws/.git"]);
    }
    git_attack(
        t,
        "write a hook",
        GIT_INIT,
        "printf '#!/bin/sh\\necho evil\\n' > .git/hooks/pre-commit\nchmod +x .git/hooks/pre-commit",
        &contains_evil("ws/.git/hooks/pre-commit"),
        &["ws/.git"],
    );
    git_attack(
        t,
        "replace the hooks directory",
        GIT_INIT,
        "rm -rf .git/hooks\nmkdir .git/hooks\necho evil > .git/hooks/post-checkout",
        &contains_evil("ws/.git/hooks/post-checkout"),
        &["ws/.git"],
    );
    git_attack(
        t,
        "replace .git/config by rename",
        GIT_INIT,
        "cp .git/config cfg\nprintf '[core]\\n\\tfsmonitor = evil\\n' >> cfg\nmv cfg .git/config",
        &cfg,
        &["ws/.git"],
    );
    git_attack(
        t,
        "info/attributes",
        GIT_INIT,
        "echo '* filter=evil' >> .git/info/attributes",
        &contains_evil("ws/.git/info/attributes"),
        &["ws/.git"],
    );
}

/// A repository nested two levels down is as protected as the workspace's.
fn nested_repository(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let setup = format!("{GIT_INIT} && mkdir -p a/b/nested && cd a/b/nested && {GIT_INIT}");
    let cfg = contains_evil("ws/a/b/nested/.git/config");
    for (name, script) in config_attacks("a/b/nested").into_iter().take(2) {
        git_attack(
            t,
            &name,
            &setup,
            &script,
            &cfg,
            &["ws/a/b/nested/.git", "ws/.git"],
        );
    }
    let deep = (0..30)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/");
    let deep_setup = format!("mkdir -p {deep} && cd {deep} && {GIT_INIT}");
    let deep_cfg = format!("ws/{deep}/.git/config");
    git_attack(
        t,
        "repository 30 levels deep",
        &deep_setup,
        &format!("git -C {deep} config core.hooksPath /evil"),
        &move |w: &World| w.read(&deep_cfg).is_some_and(|s| s.contains("evil")),
        &[],
    );
    git_attack(
        t,
        "nested hook",
        &setup,
        "echo evil > a/b/nested/.git/hooks/post-merge",
        &contains_evil("ws/a/b/nested/.git/hooks/post-merge"),
        &["ws/a/b/nested/.git"],
    );
}

/// A `.git` pointer file (`git init --separate-git-dir`): the pointer itself and its target
/// directory, which has an ordinary name, are both protected.
fn pointer_file_and_target(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let setup = "git init -q --separate-git-dir=\"$PWD/storage\" proj";
    let watch = ["ws/storage", "ws/proj"];
    git_attack(
        t,
        "config through the pointer",
        setup,
        "git -C proj config core.fsmonitor 'echo evil'",
        &contains_evil("ws/storage/config"),
        &watch,
    );
    git_attack(
        t,
        "hook in the pointer's target",
        setup,
        "echo evil > storage/hooks/pre-commit",
        &contains_evil("ws/storage/hooks/pre-commit"),
        &watch,
    );
    git_attack(
        t,
        "rewrite the pointer",
        setup,
        "echo 'gitdir: /evil' > proj/.git",
        &contains_evil("ws/proj/.git"),
        &watch,
    );
}

/// A worktree in the workspace of a repository outside it: the pointer and the main
/// repository's config stay untouched.
fn worktree_of_outside_repository(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let setup = format!("mkdir -p ../aux/main && (cd ../aux/main && {GIT_INIT}) && git -C ../aux/main worktree add -q \"$PWD/wt\" 2>/dev/null");
    git_attack(
        t,
        "config from the worktree",
        &setup,
        "git -C wt config core.hooksPath /evil",
        &contains_evil("aux/main/.git/config"),
        &["aux", "ws/wt/.git"],
    );
    git_attack(
        t,
        "worktree's own git dir",
        &setup,
        "echo evil > \"$(sed 's/^gitdir: //' wt/.git)/HEAD\"",
        &contains_evil("aux/main/.git/worktrees/wt/HEAD"),
        &["aux"],
    );
    git_attack(
        t,
        "rewrite the worktree's pointer",
        &setup,
        "echo 'gitdir: /evil' > wt/.git",
        &contains_evil("ws/wt/.git"),
        &["ws/wt/.git"],
    );
}

/// A worktree of a bare repository, both in the workspace (`git clone --bare x repo.git;
/// git -C repo.git worktree add ../wt`): the worktree's pointer leads to
/// `repo.git/worktrees/wt`, whose `commondir` is `repo.git`, so host git in `wt` reads
/// `repo.git/config` and runs `repo.git/hooks`. Both must be read-only.
fn worktree_common_dir(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let setup = format!("mkdir src && (cd src && {GIT_INIT}) && git clone -q --bare src repo.git && git -C repo.git worktree add -q ../wt 2>/dev/null");
    git_attack(
        t,
        "core.hooksPath via the worktree (lands in the common dir)",
        &setup,
        "cd wt\ngit config core.hooksPath /evil/hooks",
        &contains_evil("ws/repo.git/config"),
        &["ws/repo.git"],
    );
    git_attack(
        t,
        "hook in the worktree's common dir",
        &setup,
        "printf '#!/bin/sh\\necho evil\\n' > repo.git/hooks/pre-commit",
        &contains_evil("ws/repo.git/hooks/pre-commit"),
        &["ws/repo.git"],
    );
}

/// New `.git` directories during the run (`git init sub`, `git clone`) are refused and
/// reported on brig's stderr.
fn new_git_dir_refused(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let exists = |rel: &'static str| move |w: &World| w.exists(rel);
    let out = git_attack(
        t,
        "git init sub",
        GIT_INIT,
        "git init -q sub",
        &exists("ws/sub/.git"),
        &["ws/.git"],
    );
    assert!(
        out.stderr.contains("sub/.git"),
        "brig did not report the refused .git:\n{out}"
    );
    git_attack(
        t,
        "git init deep inside",
        "",
        "mkdir -p deep/er\ncd deep/er\ngit init -q",
        &exists("ws/deep/er/.git"),
        &[],
    );
    let setup = format!("mkdir -p ../aux/src && cd ../aux/src && {GIT_INIT}");
    git_attack(
        t,
        "git clone into the workspace",
        &setup,
        "git clone -q ../aux/src clone",
        &exists("ws/clone/.git"),
        &[],
    );
    git_attack(
        t,
        "mkdir .git by hand",
        "",
        "mkdir -p x/.git/hooks\necho evil > x/.git/hooks/pre-commit",
        &exists("ws/x/.git"),
        &[],
    );
}

/// Renaming `.git` (or its parent) away and recreating it.
fn rename_git_away(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    git_attack(
        t,
        "mv .git away and git init",
        GIT_INIT,
        "mv .git .git-old\ngit init -q .\ngit config core.hooksPath /evil",
        &|w: &World| {
            w.exists("ws/.git-old") || w.read("ws/.git/config").is_some_and(|c| c.contains("evil"))
        },
        &["ws/.git"],
    );
    git_attack(
        t,
        "rm -rf .git",
        GIT_INIT,
        "rm -rf .git",
        &|w: &World| !w.exists("ws/.git/HEAD"),
        &["ws/.git"],
    );
    let setup = format!("mkdir sub && cd sub && {GIT_INIT}");
    git_attack(
        t,
        "rename the parent and recreate the repository",
        &setup,
        "mv sub sub2\nmkdir sub\ngit init -q sub\ngit -C sub config core.hooksPath /evil",
        &contains_evil("ws/sub/.git/config"),
        &[],
    );
    // Whatever happened to `sub`, the original repository is intact somewhere.
    // Moving a directory that holds a repository is refused outright: a second sandbox
    // running on the same workspace must find every `.git` where its own walk saw it.
    git_attack(
        t,
        "move a directory that holds a nested repository",
        &setup,
        "mv sub sub2",
        &|w: &World| w.exists("ws/sub2/.git"),
        &["ws"],
    );
}

/// A `.git` pointer file whose target does not exist (a worktree whose repository was
/// removed): creating the target would hand host git a config and hooks written by the
/// command, so the target must not be creatable either.
fn dangling_pointer_target(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    git_attack(t, "create the missing target of a .git pointer",
        "mkdir proj && echo 'gitdir: ../storage' > proj/.git",
        "git init -q --bare storage\ngit -C storage config core.fsmonitor 'echo evil'\ngit -C proj rev-parse --git-dir",
        &contains_evil("ws/storage/config"), &["ws/proj"]);
}
