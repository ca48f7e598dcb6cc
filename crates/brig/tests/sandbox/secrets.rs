//! THREATS D: reading secrets: the environment (allowlist, secret veto, `--pass-env`), secret
//! files under `$HOME` in every confined mode, other processes' `/proc/PID/environ`, and the
//! supervisor's own (unfiltered) environment.

use std::process::Stdio;

use crate::support::*;

/// Secret files created in the fake home (relative to it).
const SECRET_FILES: &[&str] = &[
    ".ssh/id_rsa",
    ".ssh/id_ed25519",
    ".aws/credentials",
    ".netrc",
    ".git-credentials",
    ".config/gh/hosts.yml",
    ".docker/config.json",
    ".kube/config",
    ".npmrc",
    ".pypirc",
    ".bash_history",
    ".config/gcloud/credentials.db",
    ".gnupg/private-keys-v1.d/key.key",
    ".codex/auth.json",
    ".claude/.credentials.json",
];

fn secret_setup() -> String {
    let mut s = String::from("true");
    for f in SECRET_FILES {
        s.push_str(&format!(
            " && mkdir -p \"$(dirname ~/{f})\" && echo 'SECRET-VALUE {f}' > ~/{f}"
        ));
    }
    s
}

const SECRET_ENV: &[(&str, &str)] = &[
    ("FOO_TOKEN", "tok-foo-4242"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-4242"),
    ("GITHUB_TOKEN", "ghp_secret4242"),
    ("OPENAI_API_KEY", "sk-secret-4242"),
    ("DB_PASSWORD", "pw-secret-4242"),
    ("SSH_AUTH_SOCK", "/run/user/0/ssh-agent-4242"),
];

both_identities!(
    environment_filtered,
    secret_files_unreadable,
    secret_inside_writable_root,
    other_process_environ_hidden,
    supervisor_environ_hidden,
    symlinks_to_secrets,
    git_credential_helper,
    ssh_agent_unreachable,
    symlinked_secret_paths,
    relocated_xdg_config_secrets,
);

/// Secret-looking variables are dropped, ordinary ones kept, `--pass-env NAME` passes one.
fn environment_filtered(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let run = |brig_args: Option<&[&str]>| {
        let mut c = match brig_args {
            Some(a) => {
                let mut c = w.command(brig_bin());
                c.arg("run").args(a).args(["--", "env"]);
                c
            }
            None => w.command("env"),
        };
        for (k, v) in SECRET_ENV {
            c.env(k, v);
        }
        run_command(c, None, "")
    };
    let outside = run(None);
    outside.ok();
    for (k, v) in SECRET_ENV {
        assert!(outside.stdout.contains(&format!("{k}={v}")), "{outside}");
    }
    let inside = run(Some(&[]));
    inside.ok();
    for (k, v) in SECRET_ENV {
        assert!(
            !inside.stdout.contains(v),
            "{k} leaked into the sandbox:\n{inside}"
        );
    }
    for kept in [
        format!("PATH={PATH}"),
        format!("HOME={}", w.home.display()),
        "LANG=C.UTF-8".to_string(),
    ] {
        assert!(
            inside.stdout.lines().any(|l| l == kept),
            "{kept} missing inside:\n{inside}"
        );
    }
    let inside = run(Some(&["--pass-env", "OPENAI_API_KEY"]));
    inside.ok();
    assert!(
        inside
            .stdout
            .lines()
            .any(|l| l == "OPENAI_API_KEY=sk-secret-4242"),
        "{inside}"
    );
    for (k, v) in SECRET_ENV.iter().filter(|(k, _)| *k != "OPENAI_API_KEY") {
        assert!(
            !inside.stdout.contains(v),
            "{k} leaked with --pass-env OPENAI_API_KEY:\n{inside}"
        );
    }
}

/// Credential files in the fake home are unreadable (and unlistable) in read-only and
/// workspace-write, and stay untouched.
fn secret_files_unreadable(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup(&secret_setup());
    for f in SECRET_FILES {
        let out = w.sh(&format!("cat ~/{f}"));
        assert!(out.ok().stdout.contains("SECRET-VALUE"), "{out}");
    }
    let before = w.snapshot("home");
    for mode in ["read-only", "workspace-write"] {
        for f in SECRET_FILES {
            let out = w.brig_sh(&["--mode", mode], &format!("cat ~/{f}"));
            out.failed();
            assert!(
                !out.all().contains("SECRET-VALUE"),
                "~/{f} readable in {mode}:\n{out}"
            );
            let out = w.brig_sh(&["--mode", mode], &format!("cp ~/{f} ./stolen"));
            out.failed();
            assert!(!w.exists("ws/stolen"), "~/{f} copied out in {mode}");
        }
        let out = w.brig_sh(
            &["--mode", mode],
            "grep -r SECRET-VALUE ~ 2>/dev/null; ls -a ~/.ssh ~/.aws 2>/dev/null; true",
        );
        out.ok();
        assert!(
            !out.stdout.contains("SECRET-VALUE"),
            "a secret is readable in {mode}:\n{out}"
        );
        assert!(
            !out.stdout.contains("id_rsa") && !out.stdout.contains("credentials"),
            "secret directories are listable in {mode}:\n{out}"
        );
    }
    before.assert_same(&w.snapshot("home"), "secret files after the runs");
}

/// A secret path inside an extra writable root stays hidden and cannot be moved away.
fn secret_inside_writable_root(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p ~/.docker && echo 'SECRET-VALUE docker' > ~/.docker/config.json");
    w.sh("cat ~/.docker/config.json").ok();
    let before = w.snapshot("home");
    let docker = w.home.join(".docker").display().to_string();
    let out = w.brig_sh(&["--writable", &docker], "cat ~/.docker/config.json");
    out.failed();
    assert!(!out.all().contains("SECRET-VALUE"), "{out}");
    w.brig_sh(
        &["--writable", &docker],
        "mv ~/.docker/config.json ~/.docker/moved",
    )
    .failed();
    w.brig_sh(&["--writable", &docker], "rm -f ~/.docker/config.json")
        .failed();
    before.assert_same(&w.snapshot("home"), "the secret inside a writable root");
}

/// Another process's `/proc/PID/environ`: readable outside (same user), absent inside (only
/// the sandbox's own processes are visible).
fn other_process_environ_hidden(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let marker = t.marker("environ");
    let _cleanup = KillOnDrop(marker.clone());
    let secret = format!("s3cr3t-{marker}");
    let mut c = w.command("sh");
    c.arg("-c").arg("while :; do sleep 1; done").arg(&marker);
    c.env("HOST_API_TOKEN", &secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("start the host process");
    let pid = child.id();
    // Right after fork the child still shows the test's own environment: wait for its exec.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let outside = loop {
        let out = w.sh(&format!("cat /proc/{pid}/environ | tr '\\0' '\\n'"));
        if out.stdout.contains(&secret) || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(outside.ok().stdout.contains(&secret), "{outside}");
    let inside = w.brig_sh(&[], &format!(
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; echo; ls /proc | grep -x {pid}; test ! -e /proc/{pid}"
    ));
    let _ = child.kill();
    let _ = child.wait();
    inside.ok();
    assert!(
        !inside.stdout.contains(&secret),
        "a host process's environment is readable inside:\n{inside}"
    );
    let pids: Vec<u32> = inside
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(pids.is_empty(), "host pid {pid} visible inside:\n{inside}");
    let inside = w.brig_sh(
        &[],
        "ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '",
    );
    inside.ok();
    let visible: Vec<u32> = inside
        .stdout
        .split_whitespace()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert!(
        !visible.is_empty() && visible.len() < 10,
        "/proc shows more than the sandbox:\n{inside}"
    );
}

/// brig's own environment (unfiltered, with the user's tokens) is not readable through the
/// sandbox's PID 1 or any other /proc entry. Outside, a child reads its parent's.
fn supervisor_environ_hidden(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let secret = format!("tok-{}", t.marker("supervisor"));
    let mut c = w.command("sh");
    c.arg("-c")
        .arg("sh -c 'cat /proc/$PPID/environ' | tr '\\0' '\\n'; true");
    c.env("FOO_TOKEN", &secret);
    let outside = run_command(c, None, "read the parent's environ");
    assert!(outside.ok().stdout.contains(&secret), "{outside}");
    let mut c = w.command(brig_bin());
    c.args(["run", "--", "sh", "-c",
        "for f in /proc/[0-9]*/environ /proc/[0-9]*/task/*/environ; do cat $f 2>/dev/null | tr '\\0' '\\n'; done; true"]);
    c.env("FOO_TOKEN", &secret).env("GITHUB_TOKEN", &secret);
    let inside = run_command(c, None, "brig run: read every environ");
    inside.ok();
    assert!(!inside.stdout.contains(&secret),
        "brig's unfiltered environment (FOO_TOKEN, GITHUB_TOKEN) is readable inside the sandbox:\n{inside}");
}

/// A protected name or an ordinary workspace symlink pointing at a secret directory does not
/// unmask it (the ro bind of a protected symlink's target must not undo the secret mask).
fn symlinks_to_secrets(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p ~/.ssh && echo 'SECRET-VALUE key' > ~/.ssh/id_rsa && \
             ln -s ../home/.ssh .vscode && ln -s ../home/.ssh/id_rsa .envrc && ln -s ../home/.ssh keys");
    for f in [".vscode/id_rsa", ".envrc", "keys/id_rsa"] {
        let out = w.sh(&format!("cat {f}"));
        assert!(out.ok().stdout.contains("SECRET-VALUE"));
        let out = w.brig_sh(&[], &format!("cat {f}"));
        out.failed();
        assert!(
            !out.all().contains("SECRET-VALUE"),
            "{f} reveals the secret:\n{out}"
        );
    }
    let out = w.brig_sh(&[], "cat ~/.ssh/id_rsa");
    out.failed();
    assert!(!out.all().contains("SECRET-VALUE"), "{out}");
}

/// Credential brokers: `git credential fill` with the store helper gives the password outside
/// and nothing inside (the store file is masked).
fn git_credential_helper(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["git"]) {
        return;
    }
    let w = t.world();
    w.setup("git config --global credential.helper store && \
             printf 'https://bob:SECRETPW-4242@example.com\\n' > ~/.git-credentials && chmod 600 ~/.git-credentials");
    let fill = "printf 'protocol=https\\nhost=example.com\\n\\n' | GIT_TERMINAL_PROMPT=0 git credential fill";
    let outside = w.sh(fill);
    assert!(
        outside.ok().stdout.contains("password=SECRETPW-4242"),
        "{outside}"
    );
    let inside = w.brig_sh(&[], fill);
    assert!(
        !inside.all().contains("SECRETPW-4242"),
        "git credential fill leaks the password:\n{inside}"
    );
}

/// An ssh-agent of the user (socket outside the writable roots): reachable outside through
/// SSH_AUTH_SOCK; inside the variable is dropped and the socket unreachable even by path.
fn ssh_agent_unreachable(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["ssh-agent", "ssh-add"]) {
        return;
    }
    let w = t.world();
    let sock = w.path("aux/agent.sock");
    let mut c = w.command("ssh-agent");
    c.arg("-D").arg("-a").arg(&sock);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut agent = c.spawn().expect("start ssh-agent");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let started = eventually(std::time::Duration::from_secs(10), || sock.exists());
    agent.try_wait().ok();
    let _agent = Kill(agent);
    assert!(started, "ssh-agent did not create its socket");
    let sock = sock.display().to_string();
    // ssh-add -l: 1 = connected, no identities; 2 = cannot reach the agent.
    let mut c = w.command("ssh-add");
    c.arg("-l").env("SSH_AUTH_SOCK", &sock);
    run_command(c, None, "ssh-add -l outside").code_is(1);
    let mut c = w.command(brig_bin());
    c.args(["run", "--", "ssh-add", "-l"])
        .env("SSH_AUTH_SOCK", &sock);
    run_command(c, None, "brig run -- ssh-add -l").code_is(2);
    w.brig_sh(&[], &format!("SSH_AUTH_SOCK={sock} ssh-add -l"))
        .code_is(2);
}

/// Secret paths managed as symlinks (dotfile managers: `~/.aws -> ~/dotfiles/aws`,
/// `~/.config -> elsewhere`): both the link and its target stay unreadable.
fn symlinked_secret_paths(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    w.setup("mkdir -p ../aux/aws ../aux/cfg/gh && echo 'SECRET-VALUE aws' > ../aux/aws/credentials && \
             echo 'SECRET-VALUE netrc' > ../aux/netrc && echo 'SECRET-VALUE gh' > ../aux/cfg/gh/hosts.yml && \
             ln -s ../aux/aws ~/.aws && ln -s ../aux/netrc ~/.netrc && ln -s ../aux/cfg ~/.config");
    for f in [
        "~/.aws/credentials",
        "../aux/aws/credentials",
        "~/.netrc",
        "../aux/netrc",
        "~/.config/gh/hosts.yml",
        "../aux/cfg/gh/hosts.yml",
    ] {
        let out = w.sh(&format!("cat {f}"));
        assert!(out.ok().stdout.contains("SECRET-VALUE"), "{out}");
        let out = w.brig_sh(&["--mode", "read-only"], &format!("cat {f}"));
        assert!(
            !out.all().contains("SECRET-VALUE"),
            "{f} readable inside:\n{out}"
        );
    }
}

/// With `XDG_CONFIG_HOME` moved (it passes into the sandbox, and gh, gcloud, rclone... keep
/// their tokens under it), the secret paths below it are as hidden as under `~/.config`.
fn relocated_xdg_config_secrets(t: &Test) {
    if !t.require(SANDBOX) {
        return;
    }
    let w = t.world();
    let xdg = w.home.join("cfg").display().to_string();
    w.setup("mkdir -p ~/cfg/gh ~/cfg/gcloud && echo 'oauth_token: SECRET-VALUE gh' > ~/cfg/gh/hosts.yml && \
             echo 'SECRET-VALUE gcloud' > ~/cfg/gcloud/credentials.db");
    for f in ["gh/hosts.yml", "gcloud/credentials.db"] {
        let mut c = w.command("sh");
        c.arg("-c")
            .arg(format!("cat \"$XDG_CONFIG_HOME/{f}\""))
            .env("XDG_CONFIG_HOME", &xdg);
        let out = run_command(c, None, "");
        assert!(out.ok().stdout.contains("SECRET-VALUE"), "{out}");
        let mut c = w.command(brig_bin());
        c.args([
            "run",
            "--",
            "sh",
            "-c",
            &format!("cat \"$XDG_CONFIG_HOME/{f}\""),
        ])
        .env("XDG_CONFIG_HOME", &xdg);
        let out = run_command(
            c,
            None,
            &format!("XDG_CONFIG_HOME={xdg} brig run -- cat $XDG_CONFIG_HOME/{f}"),
        );
        assert!(
            !out.all().contains("SECRET-VALUE"),
            "$XDG_CONFIG_HOME/{f} is readable inside (only ~/.config/{f} is hidden):\n{out}"
        );
    }
}
