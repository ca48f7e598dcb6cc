//! The tools: their JSON schemas, their arguments, and the `brig run` command line each one
//! becomes. Pure (no I/O), so every mapping is unit-tested.

use std::ffi::OsString;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{paths, Config, ToolError};

/// At most this much of a command's stdout, and as much of its stderr, comes back.
pub const MAX_OUTPUT: u64 = 256 * 1024;
/// `run`'s timeout when the call names none.
pub const DEFAULT_RUN_TIMEOUT_SECS: u64 = 600;
/// The longest timeout a call may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// The timeout of `read_file`, `write_file`, `apply_patch` and `policy`.
pub const FILE_TIMEOUT_SECS: u64 = 60;

/// One tool: name, description, input schema.
pub struct Spec {
    /// The tool's name.
    pub name: &'static str,
    /// What it does, for the agent.
    pub description: &'static str,
    /// JSON Schema of its arguments.
    pub schema: Value,
}

/// Every tool this server offers.
pub fn specs() -> Vec<Spec> {
    vec![
        Spec {
            name: "run",
            description: "Run a command inside brig's kernel-enforced sandbox, in the workspace. \
                Give `argv` (an array, run without a shell) or `shell` (a string run as `sh -c`). \
                Returns the exit status, stdout and stderr (at most 256 KiB each; a note says \
                when more was dropped) and brig's own `brig:` lines, which say why anything was \
                refused. Destructive commands (rm -rf, git push, ...) wait until a human \
                approves them with `brig approvals`; a refusal or denial is exit status 118. \
                Exit 117 is brig's timeout.",
            schema: json!({
                "type": "object",
                "properties": {
                    "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                        "description": "The command and its arguments, run without a shell."},
                    "shell": {"type": "string",
                        "description": "A shell command line, run as `sh -c`."},
                    "mode": {"type": "string", "enum": ["read-only", "workspace-write"],
                        "description": "read-only: nothing writable but a private /tmp. workspace-write: the user's configured mode (by default workspace-write: the workspace is writable, protected names such as .git and .envrc stay read-only); it never widens a configured read-only. Default: the user's configuration."},
                    "timeout_secs": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECS,
                        "description": "Wall-clock limit in seconds (default 600): then the whole sandbox is stopped, exit 117."},
                    "env": {"type": "array", "items": {"type": "string"},
                        "description": "Names of environment variables to pass through into the sandbox (variables that look like secrets are refused; the user's `env.pass` config decides those)."},
                    "network": {"type": "string", "enum": ["off", "allowlist"],
                        "description": "off: no network. allowlist (default): the user's configured network, which never gets wider from this argument (hosts beyond it: allow_hosts, approved by a human)."},
                    "allow_hosts": {"type": "array", "items": {"type": "string"},
                        "description": "Hosts the command needs to reach beyond the user's allowlist. Each is a request that a human approves with `brig approvals` before the command runs; needs `justification`."},
                    "justification": {"type": "string",
                        "description": "Why the command needs `allow_hosts`, shown to the human who approves."}
                },
                "additionalProperties": false
            }),
        },
        Spec {
            name: "read_file",
            description: "Read a text file in the workspace, through a read-only sandbox (secrets \
                and files outside what the sandbox may read are refused by the kernel). The path \
                is relative to the workspace. At most `max_bytes` (default and limit 256 KiB) \
                come back, with a note when the file is longer.",
            schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace."},
                    "max_bytes": {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT,
                        "description": "Return at most this many bytes (default 262144)."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        },
        Spec {
            name: "write_file",
            description: "Create or replace a file in the workspace with `content` (parent \
                directories are created), through the sandbox: protected names (.git, .envrc, \
                .vscode/, .mcp.json, ...), symlinks out of the workspace and everything outside \
                it are refused by the kernel.",
            schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace."},
                    "content": {"type": "string", "description": "The file's new content (UTF-8)."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        },
        Spec {
            name: "apply_patch",
            description: "Apply a unified diff to the workspace with `patch`, through the sandbox \
                (the same rules as write_file). Paths in the diff are relative to the workspace, \
                with one leading component to strip (`a/` and `b/`, as `git diff` writes them) \
                unless `strip` says otherwise.",
            schema: json!({
                "type": "object",
                "properties": {
                    "patch": {"type": "string", "description": "The unified diff."},
                    "strip": {"type": "integer", "minimum": 0, "maximum": 16,
                        "description": "Leading path components to strip, as `patch -pN` (default 1)."}
                },
                "required": ["patch"],
                "additionalProperties": false
            }),
        },
        Spec {
            name: "policy",
            description: "The policy in force for the workspace, as `brig policy explain --json` \
                prints it: mode, network, writable roots, protected names, hidden secrets, removed \
                environment variables, approval policy, and which configuration file said what.",
            schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        },
    ]
}

/// `run`'s arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    argv: Option<Vec<String>>,
    shell: Option<String>,
    mode: Option<SandboxMode>,
    timeout_secs: Option<u64>,
    #[serde(default)]
    env: Vec<String>,
    network: Option<Network>,
    #[serde(default)]
    allow_hosts: Vec<String>,
    justification: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum SandboxMode {
    ReadOnly,
    WorkspaceWrite,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Network {
    Off,
    Allowlist,
}

/// `read_file`'s arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadArgs {
    path: String,
    max_bytes: Option<u64>,
}

/// `write_file`'s arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    path: String,
    /// The new content, sent on the command's stdin.
    pub content: String,
}

/// `apply_patch`'s arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchArgs {
    /// The diff, sent on `patch`'s stdin.
    pub patch: String,
    strip: Option<u32>,
}

/// `policy`'s arguments (none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyArgs {}

/// Parses a tool's arguments; a missing `arguments` is an empty object.
pub fn parse<T: serde::de::DeserializeOwned>(
    tool: &str,
    args: Option<Map<String, Value>>,
) -> Result<T, String> {
    serde_json::from_value(Value::Object(args.unwrap_or_default()))
        .map_err(|e| format!("invalid arguments for `{tool}`: {e}"))
}

/// The common head of every child: `run --workspace WS --approval-policy P --no-tty-prompt
/// --max-output N --timeout Ts`.
fn head(cfg: &Config, timeout_secs: u64, max_output: u64) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["run".into(), "--workspace".into()];
    a.push(cfg.workspace.clone().into_os_string());
    if let Some(p) = &cfg.approval_policy {
        a.extend(["--approval-policy".into(), p.into()]);
    }
    a.push("--no-tty-prompt".into());
    a.extend([
        "--max-output".into(),
        max_output.to_string().into(),
        "--timeout".into(),
        format!("{timeout_secs}s").into(),
    ]);
    a
}

/// The `brig` arguments for a `run` call.
pub fn run_argv(cfg: &Config, args: &RunArgs) -> Result<Vec<OsString>, ToolError> {
    let invalid = |m: &str| ToolError::Arguments(m.to_string());
    let timeout = args.timeout_secs.unwrap_or(DEFAULT_RUN_TIMEOUT_SECS);
    if timeout == 0 || timeout > MAX_TIMEOUT_SECS {
        return Err(invalid(&format!(
            "timeout_secs must be between 1 and {MAX_TIMEOUT_SECS}"
        )));
    }
    let mut a = head(cfg, timeout, MAX_OUTPUT);
    // The agent may only tighten what the user configured: `read-only` is passed on,
    // `workspace-write` is the configured mode (it never widens a configured read-only).
    if let Some(SandboxMode::ReadOnly) = args.mode {
        a.extend(["--mode".into(), "read-only".into()]);
    }
    for name in &args.env {
        let plain = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !plain {
            return Err(invalid(&format!(
                "env: `{name}` is not a variable name (letters, digits and `_`; no patterns)"
            )));
        }
        if brig_policy::env::looks_secret(name) {
            return Err(invalid(&format!(
                "env: `{name}` looks like a secret; only the user can pass it (`env.pass` in brig's configuration)"
            )));
        }
        a.extend(["--pass-env".into(), name.into()]);
    }
    // Likewise the network: `off` is passed on; `allowlist` is the configured network (the
    // agent cannot turn on one the user left off; hosts beyond it need a human: allow_hosts).
    if let Some(Network::Off) = args.network {
        a.extend(["--network".into(), "off".into()]);
    }
    if !args.allow_hosts.is_empty() {
        let Some(why) = args
            .justification
            .as_deref()
            .filter(|j| !j.trim().is_empty())
        else {
            return Err(invalid(
                "allow_hosts needs a `justification`: it is shown to the human who approves",
            ));
        };
        // `--flag=VALUE`, one argument each: a value such as `--network=on` stays a value.
        for h in &args.allow_hosts {
            a.push(format!("--request-host={h}").into());
        }
        a.push(format!("--justification={why}").into());
    }
    a.push("--".into());
    match (&args.argv, &args.shell) {
        (Some(argv), None) if !argv.is_empty() => a.extend(argv.iter().map(OsString::from)),
        (None, Some(line)) if !line.trim().is_empty() => {
            a.extend(["sh".into(), "-c".into(), line.into()])
        }
        (Some(_), Some(_)) => return Err(invalid("give `argv` or `shell`, not both")),
        _ => return Err(invalid("give the command: `argv` (non-empty) or `shell`")),
    }
    Ok(a)
}

/// The `brig` arguments for `read_file`, and the byte limit.
pub fn read_argv(cfg: &Config, args: &ReadArgs) -> Result<(Vec<OsString>, u64), ToolError> {
    let rel = paths::resolve(&cfg.workspace, &args.path)?;
    let max = args.max_bytes.unwrap_or(MAX_OUTPUT).clamp(1, MAX_OUTPUT);
    let mut a = head(cfg, FILE_TIMEOUT_SECS, max);
    a.extend(["--mode".into(), "read-only".into(), "--".into()]);
    a.extend(["cat".into(), "--".into(), rel.into_os_string()]);
    Ok((a, max))
}

/// The shell script `write_file` runs: create the parents, then replace the file with stdin.
pub const WRITE_SCRIPT: &str = r#"mkdir -p -- "$(dirname -- "$1")" && cat > "$1""#;

/// The `brig` arguments for `write_file` (the content goes on stdin).
pub fn write_argv(cfg: &Config, args: &WriteArgs) -> Result<Vec<OsString>, ToolError> {
    let rel = paths::resolve(&cfg.workspace, &args.path)?;
    let mut a = head(cfg, FILE_TIMEOUT_SECS, MAX_OUTPUT);
    a.extend(["--".into(), "sh".into(), "-c".into(), WRITE_SCRIPT.into()]);
    a.extend(["sh".into(), rel.into_os_string()]);
    Ok(a)
}

/// The `brig` arguments for `apply_patch` (the diff goes on stdin). Every file the diff names
/// is checked as a tool path first.
pub fn patch_argv(cfg: &Config, args: &PatchArgs) -> Result<Vec<OsString>, ToolError> {
    let strip = args.strip.unwrap_or(1);
    let names = patch_paths(&args.patch);
    if names.is_empty() {
        return Err(ToolError::Arguments(
            "the patch names no file: expected a unified diff (`--- a/FILE` and `+++ b/FILE` lines)"
                .into(),
        ));
    }
    for name in names {
        if strip == 0 {
            paths::resolve(&cfg.workspace, name)?;
            continue;
        }
        // As `patch -pN`: N leading components go, a leading `/` counting as one.
        let comps: Vec<&str> = name.split('/').collect();
        let rest = comps.get(strip as usize..).unwrap_or_default().join("/");
        if rest.is_empty() {
            return Err(ToolError::Arguments(format!(
                "the patch's file name `{name}` has no more than {strip} components to strip"
            )));
        }
        paths::resolve(&cfg.workspace, &rest)?;
    }
    let mut a = head(cfg, FILE_TIMEOUT_SECS, MAX_OUTPUT);
    a.extend(["--".into(), "patch".into()]);
    a.extend([
        format!("-p{strip}").into(),
        "--forward".into(),
        "--batch".into(),
        "--no-backup-if-mismatch".into(),
        "--reject-file=-".into(),
    ]);
    Ok(a)
}

/// The file names of a unified diff's `---` and `+++` lines (without `/dev/null`).
fn patch_paths(patch: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in patch.lines() {
        let Some(rest) = line
            .strip_prefix("--- ")
            .or_else(|| line.strip_prefix("+++ "))
        else {
            continue;
        };
        // A timestamp may follow a tab.
        let name = rest.split('\t').next().unwrap_or("").trim_end();
        if !name.is_empty() && name != "/dev/null" {
            out.push(name);
        }
    }
    out
}

/// The `brig` arguments for `policy`.
pub fn policy_argv(cfg: &Config) -> Vec<OsString> {
    vec![
        "policy".into(),
        "explain".into(),
        "--json".into(),
        "--workspace".into(),
        cfg.workspace.clone().into_os_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cfg() -> Config {
        Config {
            workspace: PathBuf::from("/ws"),
            brig: PathBuf::from("/bin/brig"),
            approval_policy: Some("on-request".into()),
        }
    }

    fn strs(a: &[OsString]) -> Vec<String> {
        a.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    const HEAD: [&str; 11] = [
        "run",
        "--workspace",
        "/ws",
        "--approval-policy",
        "on-request",
        "--no-tty-prompt",
        "--max-output",
        "262144",
        "--timeout",
        "600s",
        "--",
    ];

    fn run(v: Value) -> Result<Vec<String>, String> {
        let args: RunArgs = parse("run", v.as_object().cloned())?;
        run_argv(&cfg(), &args)
            .map(|a| strs(&a))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn run_maps_argv_and_shell() {
        let mut want: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
        want.extend(["echo".into(), "hi".into()]);
        assert_eq!(run(json!({"argv": ["echo", "hi"]})).unwrap(), want);
        let mut want: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
        want.extend(["sh".into(), "-c".into(), "make && rm -rf build".into()]);
        assert_eq!(run(json!({"shell": "make && rm -rf build"})).unwrap(), want);
    }

    /// The agent can tighten the configured mode and network, never widen them: read-only and
    /// off are passed on, workspace-write and allowlist add no flag (the configuration decides).
    #[test]
    fn mode_and_network_only_tighten() {
        let flags = |v: Value| {
            let a = run(v).unwrap();
            let end = a.iter().position(|x| x == "--").unwrap();
            a[..end].join(" ")
        };
        let ro = flags(json!({"argv": ["true"], "mode": "read-only", "network": "off"}));
        assert!(ro.contains("--mode read-only"), "{ro}");
        assert!(ro.contains("--network off"), "{ro}");
        let wide =
            flags(json!({"argv": ["true"], "mode": "workspace-write", "network": "allowlist"}));
        assert!(!wide.contains("--mode"), "{wide}");
        assert!(!wide.contains("--network"), "{wide}");
    }

    #[test]
    fn run_maps_every_option() {
        let got = run(json!({
            "argv": ["curl", "https://example.com"],
            "mode": "workspace-write",
            "timeout_secs": 5,
            "env": ["RUST_LOG"],
            "network": "allowlist",
            "allow_hosts": ["example.com"],
            "justification": "fetch the page"
        }))
        .unwrap();
        assert_eq!(
            got,
            [
                "run",
                "--workspace",
                "/ws",
                "--approval-policy",
                "on-request",
                "--no-tty-prompt",
                "--max-output",
                "262144",
                "--timeout",
                "5s",
                "--pass-env",
                "RUST_LOG",
                "--request-host=example.com",
                "--justification=fetch the page",
                "--",
                "curl",
                "https://example.com"
            ]
        );
    }

    #[test]
    fn hostile_values_stay_values() {
        let got = run(json!({
            "argv": ["true"],
            "allow_hosts": ["--network=on"],
            "justification": "--acknowledge-danger"
        }))
        .unwrap();
        assert_eq!(
            got[10..],
            [
                "--request-host=--network=on",
                "--justification=--acknowledge-danger",
                "--",
                "true"
            ]
        );
        let mut c = cfg();
        c.approval_policy = None;
        let args: RunArgs = parse("run", json!({"argv": ["true"]}).as_object().cloned()).unwrap();
        assert_eq!(
            strs(&run_argv(&c, &args).unwrap())[3..5],
            ["--no-tty-prompt", "--max-output"]
        );
    }

    #[test]
    fn run_refuses_bad_arguments() {
        assert_eq!(
            run(json!({})).unwrap_err(),
            "give the command: `argv` (non-empty) or `shell`"
        );
        assert_eq!(
            run(json!({"argv": ["a"], "shell": "b"})).unwrap_err(),
            "give `argv` or `shell`, not both"
        );
        assert_eq!(
            run(json!({"argv": []})).unwrap_err(),
            "give the command: `argv` (non-empty) or `shell`"
        );
        assert!(run(json!({"argv": "echo"}))
            .unwrap_err()
            .starts_with("invalid arguments for `run`: invalid type: string"));
        assert!(run(json!({"argv": ["x"], "mode": "danger-full-access"}))
            .unwrap_err()
            .starts_with("invalid arguments for `run`: unknown variant `danger-full-access`"));
        assert!(run(json!({"argv": ["x"], "network": "on"}))
            .unwrap_err()
            .starts_with("invalid arguments for `run`: unknown variant `on`"));
        assert!(run(json!({"argv": ["x"], "sudo": true}))
            .unwrap_err()
            .starts_with("invalid arguments for `run`: unknown field `sudo`"));
        assert_eq!(
            run(json!({"argv": ["x"], "timeout_secs": 0})).unwrap_err(),
            "timeout_secs must be between 1 and 3600"
        );
        assert_eq!(
            run(json!({"argv": ["x"], "env": ["GITHUB_TOKEN"]})).unwrap_err(),
            "env: `GITHUB_TOKEN` looks like a secret; only the user can pass it (`env.pass` in brig's configuration)"
        );
        assert_eq!(
            run(json!({"argv": ["x"], "env": ["AWS_*"]})).unwrap_err(),
            "env: `AWS_*` is not a variable name (letters, digits and `_`; no patterns)"
        );
        assert_eq!(
            run(json!({"argv": ["x"], "allow_hosts": ["a.com"]})).unwrap_err(),
            "allow_hosts needs a `justification`: it is shown to the human who approves"
        );
    }

    #[test]
    fn file_tools_check_paths_and_map_to_sandboxed_commands() {
        let (a, max) = read_argv(
            &cfg(),
            &parse::<ReadArgs>(
                "read_file",
                json!({"path": "./src/a.rs", "max_bytes": 10})
                    .as_object()
                    .cloned(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(max, 10);
        assert_eq!(
            strs(&a)[5..],
            [
                "--no-tty-prompt",
                "--max-output",
                "10",
                "--timeout",
                "60s",
                "--mode",
                "read-only",
                "--",
                "cat",
                "--",
                "src/a.rs"
            ]
        );
        let w: WriteArgs = parse(
            "write_file",
            json!({"path": "/ws/x/y", "content": "z"})
                .as_object()
                .cloned(),
        )
        .unwrap();
        assert_eq!(
            strs(&write_argv(&cfg(), &w).unwrap())[10..],
            ["--", "sh", "-c", WRITE_SCRIPT, "sh", "x/y"]
        );
        let w: WriteArgs = parse(
            "write_file",
            json!({"path": "../x", "content": ""}).as_object().cloned(),
        )
        .unwrap();
        assert_eq!(
            write_argv(&cfg(), &w).unwrap_err().to_string(),
            "path `../x`: `..` climbs out of the workspace /ws"
        );
        assert!(
            parse::<WriteArgs>("write_file", json!({"path": "x"}).as_object().cloned())
                .unwrap_err()
                .contains("missing field `content`")
        );
    }

    #[test]
    fn patches_are_checked_before_they_are_applied() {
        let ok = "--- a/src/x.rs\t2026-01-01\n+++ b/src/x.rs\n@@ -1 +1 @@\n-a\n+b\n";
        let p = PatchArgs {
            patch: ok.into(),
            strip: None,
        };
        assert_eq!(
            strs(&patch_argv(&cfg(), &p).unwrap())[10..],
            [
                "--",
                "patch",
                "-p1",
                "--forward",
                "--batch",
                "--no-backup-if-mismatch",
                "--reject-file=-"
            ]
        );
        let new = "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+n\n";
        assert!(patch_argv(
            &cfg(),
            &PatchArgs {
                patch: new.into(),
                strip: None
            }
        )
        .is_ok());
        let bad = "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n";
        assert_eq!(
            patch_argv(
                &cfg(),
                &PatchArgs {
                    patch: bad.into(),
                    strip: None
                }
            )
            .unwrap_err()
            .to_string(),
            "path `../../etc/passwd`: `..` climbs out of the workspace /ws"
        );
        let abs = "--- /etc/passwd\n+++ /etc/passwd\n";
        assert_eq!(
            patch_argv(
                &cfg(),
                &PatchArgs {
                    patch: abs.into(),
                    strip: Some(0)
                }
            )
            .unwrap_err()
            .to_string(),
            "path `/etc/passwd`: it is outside the workspace /ws (tool paths are relative to it)"
        );
        assert_eq!(
            patch_argv(&cfg(), &PatchArgs { patch: "hello".into(), strip: None }).unwrap_err().to_string(),
            "the patch names no file: expected a unified diff (`--- a/FILE` and `+++ b/FILE` lines)"
        );
    }

    #[test]
    fn every_tool_has_an_object_schema_that_forbids_unknown_fields() {
        let names: Vec<_> = specs().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            ["run", "read_file", "write_file", "apply_patch", "policy"]
        );
        for s in specs() {
            assert_eq!(s.schema["type"], "object", "{}", s.name);
            assert_eq!(s.schema["additionalProperties"], false, "{}", s.name);
        }
    }
}
