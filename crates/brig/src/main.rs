//! The `brig` command line. Thin: parse arguments, call the library, print, pick the exit code.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use brig::{exit_code, Error, Mode, NetworkMode, Request};
use brig_audit::text::printable;
use clap::{Args, Parser, Subcommand};

/// Run every command an AI coding agent issues inside a kernel-enforced sandbox.
#[derive(Parser)]
#[command(name = "brig", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a command in the sandbox: `brig run [OPTIONS] -- CMD [ARGS...]`.
    Run(RunArgs),
    /// Show what this host can enforce, and how to fix what is missing.
    Doctor {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCmd,
    },
    /// Trust a workspace's `.brig.toml` so it may loosen the policy (recorded outside the workspace).
    Trust {
        /// Workspace (default: current directory).
        dir: Option<PathBuf>,
    },
    /// Withdraw trust from a workspace's `.brig.toml`.
    Untrust {
        /// Workspace (default: current directory).
        dir: Option<PathBuf>,
    },
    /// Read, verify and export the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// Answer the approval requests of waiting `brig run`s (from a second terminal).
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCmd,
    },
    /// A web UI on 127.0.0.1 for the audit trail and pending approvals (docs/review.md).
    Review {
        /// Port to listen on (default: a random free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Serve MCP on stdin/stdout: tools that run commands and read and write files, each
    /// through `brig run` (docs/mcp.md).
    Mcp {
        /// The workspace the tools work in (default: the current directory).
        #[arg(long, short = 'w')]
        workspace: Option<PathBuf>,
        /// The approval policy of the tools' commands (default: the configured one, else
        /// on-request; humans answer with `brig approvals`).
        #[arg(long, value_name = "P", value_parser = ["untrusted", "on-failure", "on-request", "never"])]
        approval_policy: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApprovalsCmd {
    /// The requests waiting for a human.
    List {
        /// Machine-readable output (one JSON object per request).
        #[arg(long)]
        json: bool,
    },
    /// One request in full: the command, why it needs a human, what it destroys.
    Show {
        /// Request id (or a unique prefix).
        id: String,
    },
    /// Approve a request.
    Approve {
        /// Request id (or a unique prefix).
        id: String,
        /// How long the approval is remembered: once (default), session or always, when the
        /// request offers it.
        #[arg(long, default_value = "once", value_parser = ["once", "session", "always"])]
        scope: String,
        /// Who approves (default: $USER). Dual approval with two approvers needs two names.
        #[arg(long = "as", value_name = "NAME")]
        approver: Option<String>,
    },
    /// Deny a request: the command does not run.
    Deny {
        /// Request id (or a unique prefix).
        id: String,
        /// Who denies (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        approver: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// List the recorded sessions.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one session's records.
    Show {
        /// Session id (or a unique prefix of it).
        session: String,
        /// Only records of this kind (e.g. file.change, denied, command.end).
        #[arg(long = "type", value_name = "KIND")]
        kind: Option<String>,
        /// Only records that mention this path (file changes and denials).
        #[arg(long, value_name = "PATH")]
        path: Option<String>,
        /// Only records at or after this time (RFC 3339, UTC, e.g. 2026-12-03T18:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Keep printing new records until the session ends.
        #[arg(long)]
        follow: bool,
        /// Machine-readable output (JSON Lines).
        #[arg(long)]
        json: bool,
        /// Colour the record kinds: auto (a terminal, and NO_COLOR unset), always or never.
        #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
        color: String,
    },
    /// Check that sessions are intact: exit 0 when they are, 1 with the first bad record otherwise.
    Verify {
        /// Session id (or a unique prefix); default: every session.
        session: Option<String>,
        /// Every session (the default when no session is given).
        #[arg(long)]
        all: bool,
    },
    /// Export records for a compliance review.
    Export {
        /// Output format.
        #[arg(long, value_parser = ["jsonl", "csv", "ocsf"])]
        format: String,
        /// Only this session (id or unique prefix); default: every session.
        #[arg(long)]
        session: Option<String>,
        /// Only records at or after this time (RFC 3339, UTC, e.g. 2026-12-03T18:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records before this time (RFC 3339, UTC).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would complicate clap's flatten"
)]
enum PolicyCmd {
    /// Print the decision for a command without running it: allow, ask or forbid, whether it
    /// is destructive, the rule or reason, and what brig would do under an approval policy.
    Check {
        /// Machine-readable output (one JSON object per command).
        #[arg(long)]
        json: bool,
        /// Read commands from standard input, one shell command line per line.
        #[arg(long, conflicts_with = "command")]
        stdin: bool,
        /// The sandbox mode to decide for (default: workspace-write).
        #[arg(long, value_parser = parse_mode)]
        mode: Option<Mode>,
        /// The approval policy: untrusted, on-failure, on-request (default) or never.
        #[arg(long, value_name = "POLICY", value_parser = parse_approval_policy)]
        approval_policy: Option<brig_rules::ApprovalPolicy>,
        /// A rules file to use instead of ~/.config/brig/rules.toml (on top of the defaults).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// The command: one argument is a shell command line (`'make && rm -rf build'`),
        /// several are an argv (`git push origin main`).
        #[arg(last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Print the effective policy for a directory.
    Explain {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

#[derive(Args, Clone, Default)]
struct PolicyArgs {
    /// Sandbox mode: read-only, workspace-write (default) or danger-full-access.
    #[arg(long, value_parser = parse_mode)]
    mode: Option<Mode>,
    /// The workspace (default: current directory).
    #[arg(long, short = 'w')]
    workspace: Option<PathBuf>,
    /// An extra writable root (repeatable).
    #[arg(long = "writable", value_name = "PATH")]
    writable: Vec<PathBuf>,
    /// Network: off (default), allowlist (only the hosts allowed, through brig's proxy) or on.
    #[arg(long, value_parser = parse_network)]
    network: Option<NetworkMode>,
    /// Allow this destination through the proxy: `example.com`, `*.example.com`,
    /// `example.com:443`, an IP address (repeatable). Implies --network allowlist when the
    /// network would otherwise be off.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_host: Vec<String>,
    /// An extra config file (user-level).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Pass this environment variable through even if it looks secret (repeatable).
    #[arg(long = "pass-env", value_name = "NAME")]
    pass_env: Vec<String>,
    /// Acknowledge that danger-full-access runs the command with no sandbox at all.
    #[arg(long)]
    acknowledge_danger: bool,
    /// File activity the audit trail records: off, changes (default) or all (adds reads).
    #[arg(long, value_name = "LEVEL", value_parser = parse_audit_files)]
    audit_files: Option<brig_policy::AuditFiles>,
    /// Memory limit of the whole sandbox (e.g. 2G, 512M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Maximum number of processes and threads in the sandbox.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4_194_304))]
    processes: Option<u64>,
    /// CPU limit in cores (e.g. 1.5).
    #[arg(long, value_name = "CORES", value_parser = parse_cpus)]
    cpus: Option<u64>,
    /// Wall-clock timeout (e.g. 90s, 10m, 1h): SIGTERM, a grace period, then SIGKILL.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Option<std::time::Duration>,
    /// Size of the private /tmp and /var/tmp (e.g. 1G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    tmp_size: Option<u64>,
    /// Size of the private /dev/shm (e.g. 256M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    shm_size: Option<u64>,
    /// Largest file the command may write (e.g. 8G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    file_size: Option<u64>,
    /// Pass on at most SIZE of the command's stdout, and as much of its stderr (e.g. 1M); the
    /// rest is dropped and counted (for callers that capture the output).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_output: Option<u64>,
    /// When to ask a human: untrusted, on-failure, on-request (default) or never.
    #[arg(long = "approval-policy", value_name = "POLICY", value_parser = parse_approval_policy)]
    approval_policy: Option<brig_rules::ApprovalPolicy>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Remember "session" approvals under this name (an agent session spanning many runs).
    #[arg(long, value_name = "ID")]
    approval_session: Option<String>,
    /// Never prompt on this terminal; answers come only from `brig approvals` (or the review UI).
    #[arg(long)]
    no_tty_prompt: bool,
    /// Ask a human to make PATH writable for this run (the agent's widening request; needs
    /// --justification). Repeatable.
    #[arg(
        long = "request-writable",
        value_name = "PATH",
        requires = "justification"
    )]
    request_writable: Vec<PathBuf>,
    /// Ask a human to turn the network on for this run (needs --justification).
    #[arg(long, requires = "justification")]
    request_network: bool,
    /// Ask a human to let the command reach HOST through the proxy for this run (network
    /// allowlist; needs --justification). Repeatable.
    #[arg(long = "request-host", value_name = "HOST", requires = "justification")]
    request_host: Vec<String>,
    /// Why the widening is needed, shown to the reviewer and recorded.
    #[arg(long, value_name = "TEXT")]
    justification: Option<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    Mode::parse(s).ok_or_else(|| {
        format!("unknown mode `{s}`; expected read-only, workspace-write or danger-full-access")
    })
}

fn parse_approval_policy(s: &str) -> Result<brig_rules::ApprovalPolicy, String> {
    brig_rules::ApprovalPolicy::parse(s).ok_or_else(|| {
        format!(
            "unknown approval policy `{s}`; expected untrusted, on-failure, on-request or never"
        )
    })
}

fn parse_size(s: &str) -> Result<u64, String> {
    brig_policy::units::parse_size(s).and_then(|n| {
        if n == 0 {
            Err("a size must be more than 0".into())
        } else {
            Ok(n)
        }
    })
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    brig_policy::units::parse_duration(s).and_then(|d| {
        if d.is_zero() {
            Err("a timeout must be longer than 0".into())
        } else {
            Ok(d)
        }
    })
}

fn parse_cpus(s: &str) -> Result<u64, String> {
    match s.parse::<f64>() {
        Ok(c) if (0.01..=4096.0).contains(&c) => Ok((c * 1000.0).round() as u64),
        _ => Err(format!(
            "`{s}` is not a number of cores from 0.01 to 4096, e.g. 1.5"
        )),
    }
}

fn parse_audit_files(s: &str) -> Result<brig_policy::AuditFiles, String> {
    brig_policy::AuditFiles::parse(s)
        .ok_or_else(|| format!("unknown audit level `{s}`; expected off, changes or all"))
}

fn parse_network(s: &str) -> Result<NetworkMode, String> {
    NetworkMode::parse(s)
        .ok_or_else(|| format!("unknown network mode `{s}`; expected off, allowlist or on"))
}

impl PolicyArgs {
    fn request(&self) -> anyhow::Result<Request> {
        let cwd = std::env::current_dir().context("current directory")?;
        let mut req = Request {
            workspace: self.workspace.clone(),
            config: self.config.clone(),
            ..Request::default()
        };
        req.cli.mode = self.mode;
        req.cli.network = self.network;
        req.cli.net_allow = self.allow_host.clone();
        // Paths typed on the command line are relative to where they were typed.
        req.cli.writable = self
            .writable
            .iter()
            .map(|p| {
                if p.is_absolute() || p.starts_with("~") {
                    p.clone()
                } else {
                    cwd.join(p)
                }
            })
            .collect();
        req.cli.acknowledge_danger = self.acknowledge_danger;
        req.cli.env_pass = self.pass_env.clone();
        req.cli.audit_files = self.audit_files;
        req.cli.approval_policy = self.approval_policy;
        req.cli.limits = brig_policy::LimitSettings {
            memory: self.memory,
            processes: self.processes,
            cpu_millis: self.cpus,
            timeout: self.timeout,
            tmp_size: self.tmp_size,
            shm_size: self.shm_size,
            file_size: self.file_size,
            output: self.max_output,
            from_untrusted_project: brig_policy::LimitSources::default(),
        };
        Ok(req)
    }
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("brig: {e}");
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(125))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit_code::CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(b) = e.downcast_ref::<Error>() {
                return fail(b);
            }
            // A closed pipe on stdout (`brig policy explain | head`) is not an error.
            let broken = |c: &(dyn std::error::Error + 'static)| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<serde_json::Error>()
                        .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
            };
            if e.chain().any(broken) {
                return ExitCode::SUCCESS;
            }
            eprintln!("brig: {e:#}");
            ExitCode::from(exit_code::INTERNAL as u8)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Run(args) => run(args),
        Cmd::Doctor { json } => doctor(json),
        Cmd::Policy {
            command: PolicyCmd::Explain { json, policy },
        } => explain(json, &policy),
        Cmd::Policy {
            command:
                PolicyCmd::Check {
                    json,
                    stdin,
                    mode,
                    approval_policy,
                    rules,
                    command,
                },
        } => check(
            json,
            stdin,
            mode.unwrap_or(Mode::WorkspaceWrite),
            approval_policy.unwrap_or_else(|| {
                // The configured policy, as `brig run` here would use it.
                brig::load(&brig::Request::default())
                    .map(|l| l.plan.approvals.policy)
                    .unwrap_or(brig_rules::ApprovalPolicy::OnRequest)
            }),
            rules.as_deref(),
            &command,
        ),
        Cmd::Trust { dir } => trust(dir, true),
        Cmd::Untrust { dir } => trust(dir, false),
        Cmd::Audit { command } => audit(command),
        Cmd::Approvals { command } => approvals(command),
        Cmd::Mcp {
            workspace,
            approval_policy,
        } => mcp(workspace, approval_policy),
        Cmd::Review { port } => review(port),
    }
}

/// `brig review`: the web UI, answering requests through the same service as `brig approvals`.
fn review(port: u16) -> anyhow::Result<ExitCode> {
    let dirs = brig::Dirs::from_env()?;
    let server = brig_review::Server::bind(port, brig::audit_dir(&dirs), Box::new(Service(dirs)))?;
    // The token goes to this terminal only: never into a file a sandbox could read.
    println!("brig review: open {}", server.url());
    println!("(the URL's token is the only key to this UI; Ctrl-C stops it)");
    std::io::stdout().flush()?;
    server.serve()
}

/// The approval service for `brig review`.
struct Service(brig::Dirs);

impl brig_review::Approvals for Service {
    fn list(&self) -> Vec<brig_review::PendingRequest> {
        #[cfg(unix)]
        return brig::approve::list(&brig::approve::approvals_dir(&self.0))
            .into_iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        #[cfg(not(unix))]
        {
            let _ = &self.0;
            Vec::new()
        }
    }

    fn answer(&self, id: &str, answer: &serde_json::Value) -> Result<(String, String), String> {
        #[cfg(unix)]
        return brig::approve::send(&brig::approve::approvals_dir(&self.0), id, answer)
            .map(|r| (r.status, r.message))
            .map_err(|e| e.to_string());
        #[cfg(not(unix))]
        Err(format!(
            "approvals need a Unix platform for now ({id}, {answer})"
        ))
    }
}

/// `brig mcp`: the server spawns this binary (`brig run ...`) for every tool call.
fn mcp(workspace: Option<PathBuf>, approval_policy: Option<String>) -> anyhow::Result<ExitCode> {
    let workspace = match workspace {
        Some(w) => w,
        None => std::env::current_dir().context("the current directory")?,
    };
    // A policy the user configured stands; with none, on-request: destructive commands wait
    // for `brig approvals` (with no terminal, brig's headless default would refuse them).
    let approval_policy = approval_policy.or_else(|| {
        let req = brig::Request {
            workspace: Some(workspace.clone()),
            ..Default::default()
        };
        let configured = brig::load(&req).is_ok_and(|l| !l.plan.approvals.policy_is_default);
        (!configured).then(|| "on-request".to_string())
    });
    let brig = std::env::current_exe().context("finding brig's own binary")?;
    brig_mcp::serve(brig_mcp::Config::new(workspace, brig, approval_policy)?)?;
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut req = args.policy.request()?;
    req.approval_session = args.approval_session.clone();
    let mut loaded = brig::load(&req)?;
    if loaded.plan.mode == Mode::DangerFullAccess {
        eprintln!(
            "brig: WARNING: danger-full-access: `{}` runs with NO sandbox (no filesystem, network or syscall confinement). \
             Use this only in a disposable environment.",
            args.command.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default()
        );
    }
    let dirs = brig::Dirs::from_env()?;
    // What the rules and the approval policy say, before anything runs.
    let rules = brig::load_rules_for_session(&dirs, args.approval_session.as_deref())?;
    let argv_text: Vec<String> = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let verdict = rules.check_argv(&argv_text);
    let mut policy = loaded.plan.approvals.policy;
    // Nobody chose a policy and there is no terminal to ask on: never wait for a human who is
    // probably not there; what needs one fails at once, saying how to wait instead.
    let headless = loaded.plan.approvals.policy_is_default
        && (args.no_tty_prompt
            || std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .is_err());
    if headless {
        policy = brig_rules::ApprovalPolicy::Never;
    }
    let action = brig_rules::action(loaded.plan.mode, policy, verdict.class());
    let decided = brig::Decided {
        verdict,
        action,
        policy,
    };
    let mut session = if loaded.plan.audit.enabled {
        Some(brig::AuditSession::start(
            &dirs,
            &loaded,
            &args.command,
            &decided,
        )?)
    } else {
        // `[audit] enabled = false` in the user's own configuration: no trail at all.
        None
    };
    let gate = approval_gate(
        &dirs,
        &loaded,
        &args,
        &argv_text,
        &decided,
        &rules,
        &mut session,
    );
    let gate = gate.and_then(|()| {
        if args.request_writable.is_empty() && !args.request_network && args.request_host.is_empty() {
            return Ok(());
        }
        // The agent asks for more than the policy gives: a human decides, and the command
        // then runs in a sandbox widened by exactly that, never without one.
        let cwd = std::env::current_dir().map_err(|e| Error::Internal(e.to_string()))?;
        let paths: Vec<PathBuf> = args
            .request_writable
            .iter()
            .map(|p| if p.is_absolute() { p.clone() } else { cwd.join(p) })
            .collect();
        let mut widened = req.clone();
        widened.cli.writable.extend(paths.iter().cloned());
        if args.request_network {
            widened.cli.network = Some(brig::NetworkMode::On);
        } else if !args.request_host.is_empty() {
            // One host more on the allowlist; a network that was off becomes the allowlist.
            widened.cli.net_allow.extend(args.request_host.iter().cloned());
            if loaded.plan.network == brig::NetworkMode::Off {
                widened.cli.network = Some(brig::NetworkMode::Allowlist);
            }
        }
        // Checked before anyone is asked: a widening the policy cannot express is an error.
        let candidate = brig::load(&widened)?;
        if policy == brig_rules::ApprovalPolicy::Never {
            return Err(Error::Refused(format!(
                "the command asks for {}, which needs a human's approval, and the approval policy is `never`{}; it did not run",
                widening_text(&paths, args.request_network, &args.request_host),
                if loaded.plan.approvals.policy_is_default {
                    " (no terminal to ask on: pass --approval-policy on-request to wait for `brig approvals`)"
                } else {
                    ""
                }
            )));
        }
        ask_widening(
            &dirs,
            &loaded,
            &args,
            &shell_line(&argv_text),
            "the agent asks for",
            &widening_text(&paths, args.request_network, &args.request_host),
            args.justification.as_deref().unwrap_or_default(),
            &mut session,
        )?;
        if let Some(s) = session.as_mut() {
            use sha2::Digest;
            let hash: String = sha2::Sha256::digest(serde_json::to_vec(&candidate.plan).unwrap_or_default())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            s.record(
                "policy.widened",
                serde_json::json!({
                    "writable_roots": candidate.plan.writable_roots,
                    "network": candidate.plan.network,
                    "network_allow": candidate.plan.network_rules.rules.allow.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                    "policy_sha256": hash,
                    "justification": args.justification,
                }),
            )?;
            s.commit()?;
        }
        loaded = candidate;
        Ok(())
    });
    if let Err(e) = gate {
        if let Some(s) = session {
            let failed: Result<brig::Outcome, Error> = Err(e);
            let finished = s.finish(&failed);
            let e = failed.map(|_| ()).expect_err("the gate failed");
            finished?;
            return Err(e.into());
        }
        return Err(e.into());
    }
    // What the sandbox refused, for `on-failure`'s offer to rerun with a widening.
    let on_failure = matches!(
        decided.action,
        brig_rules::Action::Run {
            prompt_on_denial: true
        }
    );
    let mut denials: Vec<(brig::Layer, String)> = Vec::new();
    let mut note = |ev: &brig_sandbox::Event<'_>| {
        if let brig_sandbox::Event::Denied { layer, what, .. } = ev {
            if on_failure && denials.len() < 100 {
                denials.push((*layer, what.to_string()));
            }
        }
    };
    let command = args.command.clone();
    let limits = match brig::limits_for(&loaded.plan) {
        Ok(l) => l,
        Err(e) => {
            if let Some(s) = session {
                let failed: Result<brig::Outcome, Error> = Err(e);
                let _ = s.finish(&failed);
                return failed
                    .map(|_| ExitCode::SUCCESS)
                    .map_err(anyhow::Error::from);
            }
            return Err(e.into());
        }
    };
    let (mut outcome, mut session) = match session {
        Some(mut session) => {
            let net = brig::NetHooks {
                recorder: Some(session.network_recorder()),
                ask_unknown: host_asker(
                    &dirs,
                    &loaded,
                    &argv_text,
                    policy,
                    args.approval_session.as_deref(),
                    Some(session.handle()),
                ),
            };
            let result = brig::run(&loaded.plan, command, &limits, net, &mut |ev| {
                note(&ev);
                session.event(ev)
            });
            match result {
                Ok(o) => (o, Some(session)),
                Err(e) => {
                    // The record of how the command ended is durable before brig reports it;
                    // the command's own failure is reported first.
                    let failed: Result<brig::Outcome, Error> = Err(e);
                    let _ = session.finish(&failed);
                    return failed
                        .map(|_| ExitCode::SUCCESS)
                        .map_err(anyhow::Error::from);
                }
            }
        }
        None => (
            brig::run(
                &loaded.plan,
                command,
                &limits,
                brig::NetHooks {
                    recorder: None,
                    ask_unknown: host_asker(
                        &dirs,
                        &loaded,
                        &argv_text,
                        policy,
                        args.approval_session.as_deref(),
                        None,
                    ),
                },
                &mut |ev| {
                    note(&ev);
                    Ok(())
                },
            )?,
            None,
        ),
    };
    let rerun = if on_failure && !denials.is_empty() {
        offer_rerun(
            &dirs,
            &req,
            &loaded,
            &args,
            &argv_text,
            &denials,
            &mut session,
        )
    } else {
        Ok(None)
    };
    if let Some(s) = session.take() {
        s.finish(&Ok(outcome.clone()))?;
    }
    if let Some(widened) = rerun? {
        eprintln!(
            "brig: rerunning `{}` with the approved widening",
            printable(&shell_line(&argv_text))
        );
        let mut session = if widened.plan.audit.enabled {
            Some(brig::AuditSession::start(
                &dirs,
                &widened,
                &args.command,
                &brig::Decided {
                    verdict: decided.verdict.clone(),
                    action: brig_rules::Action::Run {
                        prompt_on_denial: false,
                    },
                    policy,
                },
            )?)
        } else {
            None
        };
        let widened_limits = brig::limits_for(&widened.plan)?;
        let net = brig::NetHooks {
            recorder: session.as_ref().map(|s| s.network_recorder()),
            ask_unknown: host_asker(
                &dirs,
                &widened,
                &argv_text,
                policy,
                args.approval_session.as_deref(),
                session.as_ref().map(|s| s.handle()),
            ),
        };
        let result = brig::run(
            &widened.plan,
            args.command.clone(),
            &widened_limits,
            net,
            &mut |ev| match session.as_mut() {
                Some(s) => s.event(ev),
                None => Ok(()),
            },
        );
        if let Some(s) = session {
            s.finish(&result)?;
        }
        outcome = result?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for b in &outcome.blocked_creates {
        if seen.insert(b.clone()) && seen.len() <= 20 {
            eprintln!("brig: denied {} (see `brig policy explain`)", printable(b));
        }
    }
    let status = brig::status_of(&outcome);
    for hit in &outcome.limits_hit {
        match hit {
            brig::LimitHit::Timeout { .. } => eprintln!("brig: stopped: {hit}"),
            _ => eprintln!("brig: {hit}"),
        }
    }
    Ok(ExitCode::from(u8::try_from(status & 0xff).unwrap_or(1)))
}

/// What a destructive command destroys, for the reviewer: each entry that names a path (an
/// operand of `rm`, `dd of=`, `shred`, ...: a single word) with what is there now, counted
/// without following symlinks and within bounds (a huge tree is "at least"): `build (a
/// directory: 1234 files, 56.0 MiB)`, `x (does not exist)`. Other entries stay as they are.
#[cfg(unix)]
fn with_counts(cwd: &std::path::Path, entries: &[String]) -> Vec<String> {
    const MAX_ENTRIES: u64 = 100_000;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    let size = |b: u64| {
        if b < 1024 {
            format!("{b} B")
        } else if b < 1 << 20 {
            format!("{:.1} KiB", b as f64 / 1024.0)
        } else if b < 1 << 30 {
            format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20))
        } else {
            format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
        }
    };
    entries
        .iter()
        .map(|e| {
            if e.is_empty() || e.contains(char::is_whitespace) || e.starts_with('~') {
                return e.clone();
            }
            let path = cwd.join(e);
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return format!("{e} (does not exist)")
                }
                Err(_) => return e.clone(),
            };
            if meta.file_type().is_symlink() {
                return format!("{e} (a symlink)");
            }
            if !meta.is_dir() {
                return format!("{e} (a file, {})", size(meta.len()));
            }
            let (mut files, mut bytes, mut seen, mut cut) = (0u64, 0u64, 0u64, false);
            let mut stack = vec![path];
            while let Some(dir) = stack.pop() {
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for ent in rd.flatten() {
                    seen += 1;
                    if seen > MAX_ENTRIES || std::time::Instant::now() > deadline {
                        cut = true;
                        break;
                    }
                    match ent.file_type() {
                        Ok(t) if t.is_dir() => stack.push(ent.path()),
                        Ok(_) => {
                            files += 1;
                            bytes += ent.metadata().map(|m| m.len()).unwrap_or(0);
                        }
                        Err(_) => {}
                    }
                }
                if cut {
                    break;
                }
            }
            let at_least = if cut { "at least " } else { "" };
            format!(
                "{e} (a directory: {at_least}{files} file{}, {at_least}{})",
                if files == 1 { "" } else { "s" },
                size(bytes)
            )
        })
        .collect()
}

/// The command as one readable line (each argument quoted for sh when it needs it).
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Decides whether the command may run before its sandbox exists: refuses what the approval
/// policy refuses, asks a human for what needs one (every request and answer goes to the audit
/// trail, made durable before the command runs), and remembers an approval as asked.
fn approval_gate(
    dirs: &brig::Dirs,
    loaded: &brig::Loaded,
    args: &RunArgs,
    argv: &[String],
    decided: &brig::Decided,
    rules: &brig_rules::Rules,
    session: &mut Option<brig::AuditSession>,
) -> Result<(), Error> {
    let line = shell_line(argv);
    let why: Vec<String> = decided
        .verdict
        .reasons
        .iter()
        .filter(|r| r.decision != brig_rules::Decision::Allow || r.destructive)
        .map(|r| format!("{}: {}", r.id, r.detail))
        .collect();
    match decided.action {
        brig_rules::Action::Run { .. } => Ok(()),
        brig_rules::Action::Refuse { reason } => {
            let because = match reason {
                brig_rules::RefuseReason::Forbidden => "a rule forbids it".to_string(),
                brig_rules::RefuseReason::NeedsApproval
                    if loaded.plan.approvals.policy_is_default =>
                {
                    "it needs a human's approval, and with no terminal to ask on the default \
                     approval policy is `never` (to wait for an answer from `brig approvals` \
                     instead, pass --approval-policy on-request or set [approvals] policy)"
                        .to_string()
                }
                brig_rules::RefuseReason::NeedsApproval => format!(
                    "it needs a human's approval and the approval policy is `{}`",
                    decided.policy.as_str()
                ),
            };
            Err(Error::Refused(format!(
                "refused `{}`: {because} ({}); it did not run",
                printable(&line),
                printable(&why.join("; "))
            )))
        }
        brig_rules::Action::Prompt { .. } => {
            #[cfg(unix)]
            {
                ask_humans(
                    dirs, loaded, args, argv, &line, why, decided, rules, session,
                )
            }
            #[cfg(not(unix))]
            {
                let _ = (dirs, loaded, args, rules, session);
                Err(Error::Refused(format!(
                    "`{line}` needs a human's approval, and this platform has no approval channel yet"
                )))
            }
        }
    }
}

/// A request as reviewers see it, asked now by this brig.
#[cfg(unix)]
#[allow(clippy::too_many_arguments)]
fn new_pending(
    loaded: &brig::Loaded,
    line: &str,
    decision: &str,
    destructive: bool,
    destroys: Vec<String>,
    reasons: Vec<String>,
    required: usize,
    scopes: Vec<String>,
) -> brig::approve::Pending {
    brig::approve::Pending {
        id: brig_audit::new_session_id(),
        command: line.to_string(),
        cwd: loaded.plan.cwd.display().to_string(),
        mode: loaded.plan.mode.as_str().to_string(),
        decision: decision.to_string(),
        destructive,
        destroys,
        reasons,
        required,
        approved_by: Vec::new(),
        scopes,
        asked_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        timeout_secs: loaded.plan.approvals.timeout_secs,
        pid: std::process::id(),
    }
}

#[cfg(unix)]
#[allow(clippy::too_many_arguments)]
fn ask_humans(
    dirs: &brig::Dirs,
    loaded: &brig::Loaded,
    args: &RunArgs,
    argv: &[String],
    line: &str,
    why: Vec<String>,
    decided: &brig::Decided,
    rules: &brig_rules::Rules,
    session: &mut Option<brig::AuditSession>,
) -> Result<(), Error> {
    use brig::approve;
    use brig_rules::Scope;
    let settings = loaded.plan.approvals;
    let state = brig_rules::ApprovalState::new(decided.action, settings.two_approvers);
    let mut scopes = vec!["once".to_string()];
    if args.approval_session.is_some()
        && brig_rules::remember(rules, argv, Scope::Session, "approved").is_ok()
    {
        scopes.push("session".into());
    }
    if brig_rules::remember(rules, argv, Scope::Always, "approved").is_ok() {
        scopes.push("always".into());
    }
    let pending = new_pending(
        loaded,
        line,
        decided.verdict.decision.as_str(),
        decided.verdict.destructive,
        with_counts(&loaded.plan.cwd, &decided.verdict.what_is_destroyed),
        why,
        state.required(),
        scopes,
    );
    let id = pending.id.clone();
    if let Some(s) = session.as_mut() {
        s.record(
            "approval.request",
            serde_json::json!({
                "request": id,
                "command": line,
                "decision": pending.decision,
                "destructive": pending.destructive,
                "destroys": pending.destroys,
                "reasons": pending.reasons,
                "required": pending.required,
                "scopes": pending.scopes,
                "timeout_secs": pending.timeout_secs,
            }),
        )?;
        s.commit()?;
    }
    let dual = pending.destructive;
    let mut asking = approve::Asking::new(
        &approve::approvals_dir(dirs),
        pending,
        state,
        !args.no_tty_prompt,
        user_name(),
    )?;
    let mut failed: Option<Error> = None;
    let ended = asking.wait(&mut |(approver, channel, decision, scope)| {
        if let Some(s) = session.as_mut() {
            let r = s.record(
                "approval",
                serde_json::json!({
                    "request": id,
                    "command": line,
                    "decision": decision,
                    "approver": approver,
                    "channel": channel,
                    "scope": scope.map(|s| match s { Scope::Once => "once", Scope::Session => "session", Scope::Always => "always" }),
                    "dual": dual,
                }),
            );
            if let Err(e) = r {
                failed.get_or_insert(e);
            }
        }
    });
    drop(asking);
    if let Some(e) = failed {
        return Err(e);
    }
    let result = match ended {
        approve::Ended::Approved { by, scope } => {
            let remembered = match scope {
                Scope::Once => None,
                Scope::Session => args
                    .approval_session
                    .as_deref()
                    .map(|s| brig::session_rules_path(dirs, s))
                    .transpose()?,
                Scope::Always => Some(brig::rules_path(dirs)),
            };
            if let Some(path) = remembered {
                let r = brig_rules::remember(
                    rules,
                    argv,
                    scope,
                    &format!("approved by {}", by.join(", ")),
                )
                .map_err(|e| Error::Refused(e.to_string()))?;
                if let Some(rule) = r.rule {
                    brig::append_rule(&path, &rule)?;
                }
            }
            Ok(())
        }
        approve::Ended::Denied { by } => Err(Error::Refused(format!(
            "`{}` was denied by {}; it did not run",
            printable(line),
            printable(&by)
        ))),
        approve::Ended::TimedOut => {
            if let Some(s) = session.as_mut() {
                s.record(
                    "approval",
                    serde_json::json!({"request": id, "command": line, "decision": "timeout", "approver": null, "channel": null, "scope": null, "dual": dual}),
                )?;
            }
            Err(Error::Refused(format!(
                "nobody approved `{}` within {} s; it did not run",
                printable(line),
                settings.timeout_secs
            )))
        }
        approve::Ended::NoChannel(why) => {
            if let Some(s) = session.as_mut() {
                s.record(
                    "approval",
                    serde_json::json!({"request": id, "command": line, "decision": "no-channel", "approver": null, "channel": null, "scope": null, "dual": dual}),
                )?;
            }
            Err(Error::Refused(format!(
                "`{}` needs a human's approval, but {why}; it did not run",
                printable(line)
            )))
        }
    };
    if let Some(s) = session.as_mut() {
        s.commit()?;
    }
    result
}

/// The name of the user running brig: `$USER`, `$LOGNAME`, or the `/etc/passwd` entry of the
/// real uid.
#[cfg_attr(not(unix), allow(dead_code))]
fn user_name() -> String {
    if let Some(u) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
    {
        return u;
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_default();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// `on-failure`: the sandbox refused something; offers the human the narrowest widening that
/// would have allowed it (the parent directories of the refused writes, the network for a
/// refused socket) and returns the widened plan when approved. Nothing is offered for what
/// no widening may allow (protected names, reads of secrets, brig's own directories: the
/// policy refuses those roots).
fn offer_rerun(
    dirs: &brig::Dirs,
    req: &brig::Request,
    loaded: &brig::Loaded,
    args: &RunArgs,
    argv: &[String],
    denials: &[(brig::Layer, String)],
    session: &mut Option<brig::AuditSession>,
) -> Result<Option<brig::Loaded>, Error> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut network = false;
    let mut shown = Vec::new();
    for (layer, what) in denials {
        match layer {
            brig::Layer::MountNamespace | brig::Layer::Landlock => {
                if what.starts_with("read ") {
                    continue;
                }
                let Some(start) = what.find('/') else {
                    continue;
                };
                let Some((path, _)) = what[start..].rsplit_once(": ") else {
                    continue;
                };
                let path = path.rsplit(" -> ").next().unwrap_or(path);
                let Some(parent) = std::path::Path::new(path).parent() else {
                    continue;
                };
                if parent == std::path::Path::new("/") {
                    continue;
                }
                let parent = parent.to_path_buf();
                // A protected entry (.git, .envrc, ...) stays read-only whatever is writable:
                // offering its directory would only fail the same way again.
                let protected = std::path::Path::new(path).components().any(|c| {
                    loaded
                        .plan
                        .is_protected_name(&c.as_os_str().to_string_lossy())
                });
                if protected {
                    continue;
                }
                if !paths.contains(&parent) && paths.len() < 5 {
                    paths.push(parent);
                    shown.push(what.clone());
                }
            }
            brig::Layer::Seccomp
                if !network
                    && (what.starts_with("socket(family 2)")
                        || what.starts_with("socket(family 10)")) =>
            {
                network = true;
                shown.push(what.clone());
            }
            _ => {}
        }
    }
    // Only what the policy can express (a root it refuses is not offered).
    paths.retain(|p| {
        let mut r = req.clone();
        r.cli.writable.push(p.clone());
        brig::load(&r).is_ok()
    });
    if paths.is_empty() && !network {
        return Ok(None);
    }
    let mut widened = req.clone();
    widened.cli.writable.extend(paths.iter().cloned());
    if network {
        widened.cli.network = Some(brig::NetworkMode::On);
    }
    let candidate = brig::load(&widened)?;
    let justification = format!("the sandbox refused: {}", shown.join("; "));
    match ask_widening(
        dirs,
        loaded,
        args,
        &shell_line(argv),
        "the sandbox refused it (on-failure); brig offers a rerun with",
        &widening_text(&paths, network, &[]),
        &justification,
        session,
    ) {
        Ok(()) => {
            if let Some(s) = session.as_mut() {
                s.record(
                    "policy.widened",
                    serde_json::json!({
                        "writable_roots": candidate.plan.writable_roots,
                        "network": candidate.plan.network,
                        "justification": justification,
                        "rerun": true,
                    }),
                )?;
            }
            Ok(Some(candidate))
        }
        // Declined or unanswered: the first run's result stands.
        Err(e) => {
            eprintln!("brig: {e}");
            Ok(None)
        }
    }
}

/// In the network allowlist, under an approval policy that asks humans (`on-request`,
/// `untrusted`): the question for a host the allowlist does not name, asked once per host and
/// port for the run through the approval service (`brig approvals`; the command owns the
/// terminal), with a line on stderr saying so. Approved, the host stays allowed for the rest
/// of the run. Every request and answer is recorded before the connection goes on.
#[cfg(unix)]
fn host_asker(
    dirs: &brig::Dirs,
    loaded: &brig::Loaded,
    argv: &[String],
    policy: brig_rules::ApprovalPolicy,
    session: Option<&str>,
    log: Option<brig::AuditHandle>,
) -> Option<brig_net::proxy::AskUnknown> {
    use brig::approve;
    use brig_rules::ApprovalPolicy as P;
    if loaded.plan.network != brig::NetworkMode::Allowlist
        || !matches!(policy, P::OnRequest | P::Untrusted)
    {
        return None;
    }
    let dir = approve::approvals_dir(dirs);
    let line = shell_line(argv);
    let cwd = loaded.plan.cwd.display().to_string();
    let mode = loaded.plan.mode.as_str().to_string();
    let timeout_secs = loaded.plan.approvals.timeout_secs;
    let decided: std::sync::Mutex<std::collections::HashMap<String, bool>> = Default::default();
    let one_at_a_time = std::sync::Mutex::new(());
    // Where an approval "for the session" or "always" is kept.
    let session_file = session.and_then(|s| brig::session_hosts_path(dirs, s).ok());
    let always_file = brig::remembered_hosts_path(dirs);
    let mut scopes = vec!["once".to_string()];
    if session_file.is_some() {
        scopes.push("session".into());
    }
    scopes.push("always".into());
    Some(Box::new(move |host, port| {
        let key = match host {
            brig_policy::net::Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            other => format!("{other}:{port}"),
        };
        let _turn = one_at_a_time.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = decided.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return *d;
        }
        let what = format!("network access to {key}");
        let pending = approve::Pending {
            id: brig_audit::new_session_id(),
            command: line.clone(),
            cwd: cwd.clone(),
            mode: mode.clone(),
            decision: "network".into(),
            destructive: false,
            destroys: Vec::new(),
            reasons: vec![format!(
                "the command asks for {what}, which the network allowlist does not name"
            )],
            required: 1,
            approved_by: Vec::new(),
            scopes: scopes.clone(),
            asked_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            timeout_secs,
            pid: std::process::id(),
        };
        let id = pending.id.clone();
        let record = |kind: &str, data: serde_json::Value| match &log {
            Some(l) => l.record(kind, data).and_then(|()| l.commit()).is_ok(),
            None => true,
        };
        // Nothing is asked, and nothing passes, unrecorded.
        if !record(
            "approval.request",
            serde_json::json!({
                "request": id, "command": line, "decision": "network", "destructive": false,
                "widening": what, "host": host.to_string(), "port": port, "required": 1,
                "scopes": scopes, "timeout_secs": timeout_secs,
            }),
        ) {
            return false;
        }
        let state =
            brig_rules::ApprovalState::new(brig_rules::Action::Prompt { dual: false }, false);
        let Ok(mut asking) = approve::Asking::new(&dir, pending, state, false, user_name()) else {
            return false;
        };
        eprintln!(
            "brig: the command asks for {}; approve with `brig approvals approve {id}` or deny with `brig approvals deny {id}` (waiting up to {timeout_secs} s)",
            printable(&what)
        );
        let mut ok = true;
        let ended = asking.wait(&mut |(approver, channel, decision, scope)| {
            let scope = scope.map(|s| format!("{s:?}").to_ascii_lowercase());
            ok &= record(
                "approval",
                serde_json::json!({
                    "request": id, "command": line, "decision": decision, "approver": approver,
                    "channel": channel, "scope": scope, "dual": false, "widening": what,
                }),
            );
        });
        drop(asking);
        let allowed = ok && matches!(ended, approve::Ended::Approved { .. });
        // Remembered as an allow rule for this host and port: for the approval session's
        // later runs, or for every run (the user's own file, outside every sandbox).
        if let approve::Ended::Approved { scope, .. } = &ended {
            let file = match scope {
                brig_rules::Scope::Session => session_file.as_deref(),
                brig_rules::Scope::Always => Some(always_file.as_path()),
                brig_rules::Scope::Once => None,
            };
            if let Some(f) = file {
                if let Err(e) = brig::append_host(f, &key) {
                    eprintln!("brig: could not remember the approval of {key}: {e}");
                }
            }
        }
        if let approve::Ended::TimedOut | approve::Ended::NoChannel(_) = ended {
            let decision = if matches!(ended, approve::Ended::TimedOut) {
                "timeout"
            } else {
                "no-channel"
            };
            record(
                "approval",
                serde_json::json!({
                    "request": id, "command": line, "decision": decision, "approver": null,
                    "channel": null, "scope": null, "dual": false, "widening": what,
                }),
            );
        }
        decided
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, allowed);
        allowed
    }))
}

#[cfg(not(unix))]
fn host_asker(
    _dirs: &brig::Dirs,
    _loaded: &brig::Loaded,
    _argv: &[String],
    _policy: brig_rules::ApprovalPolicy,
    _session: Option<&str>,
    _log: Option<brig::AuditHandle>,
) -> Option<brig_net::proxy::AskUnknown> {
    None
}

/// "write access to A, B and the network", for prompts and messages.
fn widening_text(paths: &[PathBuf], network: bool, hosts: &[String]) -> String {
    let mut parts: Vec<String> = paths
        .iter()
        .map(|p| format!("write access to {}", p.display()))
        .collect();
    if network {
        parts.push("the network".into());
    } else if !hosts.is_empty() {
        parts.push(format!("the network to {}", hosts.join(", ")));
    }
    parts.join(" and ")
}

/// Asks a human to approve the agent's widening request (once; approvals of widenings are not
/// remembered), recording the request and every answer.
#[cfg(unix)]
#[allow(clippy::too_many_arguments)]
fn ask_widening(
    dirs: &brig::Dirs,
    loaded: &brig::Loaded,
    args: &RunArgs,
    line: &str,
    asker: &str,
    widening: &str,
    justification: &str,
    session: &mut Option<brig::AuditSession>,
) -> Result<(), Error> {
    use brig::approve;
    let action = brig_rules::Action::Prompt { dual: false };
    let state = brig_rules::ApprovalState::new(action, false);
    let pending = new_pending(
        loaded,
        line,
        "widen",
        false,
        Vec::new(),
        vec![
            format!("{asker} {widening}"),
            format!("justification: {justification}"),
        ],
        state.required(),
        vec!["once".into()],
    );
    let id = pending.id.clone();
    if let Some(s) = session.as_mut() {
        s.record(
            "approval.request",
            serde_json::json!({
                "request": id, "command": line, "decision": "widen", "destructive": false,
                "widening": widening, "justification": justification, "required": 1,
                "scopes": ["once"], "timeout_secs": pending.timeout_secs,
            }),
        )?;
        s.commit()?;
    }
    let mut asking = approve::Asking::new(
        &approve::approvals_dir(dirs),
        pending,
        state,
        !args.no_tty_prompt,
        user_name(),
    )?;
    let mut failed: Option<Error> = None;
    let ended = asking.wait(&mut |(approver, channel, decision, _)| {
        if let Some(s) = session.as_mut() {
            if let Err(e) = s.record(
                "approval",
                serde_json::json!({
                    "request": id, "command": line, "decision": decision, "approver": approver,
                    "channel": channel, "scope": "once", "dual": false, "widening": widening,
                }),
            ) {
                failed.get_or_insert(e);
            }
        }
    });
    drop(asking);
    if let Some(e) = failed {
        return Err(e);
    }
    let unanswered = |decision: &str, session: &mut Option<brig::AuditSession>| {
        if let Some(s) = session.as_mut() {
            s.record(
                "approval",
                serde_json::json!({
                    "request": id, "command": line, "decision": decision, "approver": null,
                    "channel": null, "scope": null, "dual": false, "widening": widening,
                }),
            )?;
            s.commit()?;
        }
        Ok::<(), Error>(())
    };
    // For a rerun (on-failure) the command already ran once; for a request it has not.
    let what = if asker.contains("rerun") {
        "it is not run again"
    } else {
        "it did not run"
    };
    match ended {
        approve::Ended::Approved { .. } => Ok(()),
        approve::Ended::Denied { by } => Err(Error::Refused(format!(
            "{} for `{}` was denied by {}; {what}",
            widening,
            printable(line),
            printable(&by)
        ))),
        approve::Ended::TimedOut => {
            unanswered("timeout", session)?;
            Err(Error::Refused(format!(
                "nobody approved {widening} for `{}` in time; {what}",
                printable(line)
            )))
        }
        approve::Ended::NoChannel(why) => {
            unanswered("no-channel", session)?;
            Err(Error::Refused(format!(
                "{widening} needs a human's approval, but {why}; {what}"
            )))
        }
    }
}

#[cfg(not(unix))]
#[allow(clippy::too_many_arguments)]
fn ask_widening(
    _dirs: &brig::Dirs,
    _loaded: &brig::Loaded,
    _args: &RunArgs,
    _line: &str,
    _asker: &str,
    widening: &str,
    _justification: &str,
    _session: &mut Option<brig::AuditSession>,
) -> Result<(), Error> {
    Err(Error::Refused(format!(
        "{widening} needs a human's approval, and this platform has no approval channel yet"
    )))
}

/// `brig approvals ...`.
fn approvals(cmd: ApprovalsCmd) -> anyhow::Result<ExitCode> {
    #[cfg(unix)]
    {
        use brig::approve;
        let dirs = brig::Dirs::from_env()?;
        let dir = approve::approvals_dir(&dirs);
        let me = user_name;
        let mut out = std::io::stdout().lock();
        match cmd {
            ApprovalsCmd::List { json } => {
                for p in approve::list(&dir) {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&p)?)?;
                    } else {
                        writeln!(
                            out,
                            "{}  {}{}  {}/{} approvals  {}",
                            p.id,
                            p.decision,
                            if p.destructive { " (destructive)" } else { "" },
                            p.approved_by.len(),
                            p.required,
                            printable(&p.command)
                        )?;
                    }
                }
            }
            ApprovalsCmd::Show { id } => {
                let p = approve::find(&dir, &id)?;
                writeln!(out, "request:   {}", p.id)?;
                writeln!(out, "command:   {}", printable(&p.command))?;
                writeln!(out, "cwd:       {}", printable(&p.cwd))?;
                writeln!(
                    out,
                    "mode:      {} (it runs sandboxed once approved)",
                    p.mode
                )?;
                writeln!(
                    out,
                    "decision:  {}{}",
                    p.decision,
                    if p.destructive {
                        " (destructive: dual approval)"
                    } else {
                        ""
                    }
                )?;
                for r in &p.reasons {
                    writeln!(out, "  why:     {}", printable(r))?;
                }
                if !p.destroys.is_empty() {
                    writeln!(out, "destroys:  {}", printable(&p.destroys.join(", ")))?;
                }
                writeln!(
                    out,
                    "approvals: {} of {} ({})",
                    p.approved_by.len(),
                    p.required,
                    if p.approved_by.is_empty() {
                        "none yet".to_string()
                    } else {
                        p.approved_by.join(", ")
                    }
                )?;
                writeln!(out, "scopes:    {}", p.scopes.join(", "))?;
            }
            ApprovalsCmd::Approve {
                id,
                scope,
                approver,
            } => {
                let p = approve::find(&dir, &id)?;
                let r = approve::send(
                    &dir,
                    &p.id,
                    &serde_json::json!({"op": "approve", "approver": approver.unwrap_or_else(me), "scope": scope}),
                )?;
                if r.status == "error" {
                    writeln!(out, "error: {}", r.message)?;
                } else {
                    writeln!(out, "{}", r.message)?;
                }
                if r.status == "error" {
                    return Ok(ExitCode::from(1));
                }
            }
            ApprovalsCmd::Deny { id, approver } => {
                let p = approve::find(&dir, &id)?;
                let r = approve::send(
                    &dir,
                    &p.id,
                    &serde_json::json!({"op": "deny", "approver": approver.unwrap_or_else(me)}),
                )?;
                if r.status == "error" {
                    writeln!(out, "error: {}", r.message)?;
                } else {
                    writeln!(out, "{}", r.message)?;
                }
                if r.status == "error" {
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(unix))]
    {
        let _ = cmd;
        Err(Error::Unavailable("approvals need a Unix platform for now".into()).into())
    }
}

/// `brig policy check`.
fn check(
    json: bool,
    stdin: bool,
    mode: Mode,
    policy: brig_rules::ApprovalPolicy,
    rules: Option<&std::path::Path>,
    command: &[String],
) -> anyhow::Result<ExitCode> {
    let dirs = brig::Dirs::from_env()?;
    let rules = brig::load_rules(&dirs, rules)?;
    let mut lines: Vec<(String, brig_rules::Verdict)> = Vec::new();
    if stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading commands from standard input")?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            lines.push((line.to_string(), rules.check(line)));
        }
    } else {
        match command {
            [] => {
                return Err(Error::Config(
                    "no command given (usage: brig policy check [--json] -- CMD... | --stdin)"
                        .into(),
                )
                .into())
            }
            [one] => lines.push((one.clone(), rules.check(one))),
            argv => lines.push((argv.join(" "), rules.check_argv(argv))),
        }
    }
    let mut out = std::io::stdout().lock();
    for (text, verdict) in &lines {
        let action = brig_rules::action(mode, policy, verdict.class());
        if json {
            let mut v = serde_json::to_value(verdict)?;
            v["command"] = serde_json::json!(text);
            v["mode"] = serde_json::json!(mode);
            v["approval_policy"] = serde_json::json!(policy.as_str());
            v["then"] = serde_json::to_value(action)?;
            writeln!(out, "{}", serde_json::to_string(&v)?)?;
            continue;
        }
        let then = match action {
            brig_rules::Action::Run {
                prompt_on_denial: false,
            } => "run it sandboxed".to_string(),
            brig_rules::Action::Run {
                prompt_on_denial: true,
            } => "run it sandboxed; ask to rerun with a widening if the sandbox denies something"
                .to_string(),
            brig_rules::Action::Prompt { dual: false } => "ask a human first".to_string(),
            brig_rules::Action::Prompt { dual: true } => {
                "dual approval: the policy allows asking, and a human must approve".to_string()
            }
            brig_rules::Action::Refuse {
                reason: brig_rules::RefuseReason::Forbidden,
            } => "refuse it: a rule forbids it".to_string(),
            brig_rules::Action::Refuse {
                reason: brig_rules::RefuseReason::NeedsApproval,
            } => "refuse it: it needs a human's approval and this policy never asks".to_string(),
        };
        let mut flags = verdict.decision.as_str().to_string();
        if verdict.destructive {
            flags.push_str(" (destructive)");
        }
        writeln!(out, "{flags}: {}", printable(text))?;
        for r in &verdict.reasons {
            let who = if r.builtin {
                format!("[{}]", r.id)
            } else {
                format!("rule {}", r.id)
            };
            writeln!(
                out,
                "  {} {}: {} ({})",
                r.decision.as_str(),
                printable(&r.command),
                who,
                printable(&r.detail)
            )?;
        }
        if !verdict.what_is_destroyed.is_empty() {
            writeln!(
                out,
                "  destroys: {}",
                printable(&verdict.what_is_destroyed.join(", "))
            )?;
        }
        writeln!(
            out,
            "  under {} in {}: {then}",
            policy.as_str(),
            mode.as_str()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The terminal colour (SGR parameters) of a record kind in `brig audit show`.
fn sgr_for(kind: &str) -> Option<&'static str> {
    match kind {
        "denied" => Some("1;31"),
        "file.change" => Some("33"),
        "exec" => Some("36"),
        "file.read" => Some("2"),
        "command.start" | "command.end" => Some("1"),
        "session.start" | "session.end" | "checkpoint" => Some("2"),
        _ => None,
    }
}

fn doctor(json: bool) -> anyhow::Result<ExitCode> {
    let caps = brig::probe();
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &doctor_json(&caps))?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "brig {} on {} {}",
        env!("CARGO_PKG_VERSION"),
        caps.platform,
        caps.release
    )?;
    writeln!(out)?;
    for f in &caps.features {
        let mark = if f.available { "ok     " } else { "MISSING" };
        writeln!(out, "  {mark} {:<28} {}", f.name, f.detail)?;
        if let Some(fix) = &f.fix {
            writeln!(out, "          fix: {fix}")?;
        }
    }
    writeln!(out)?;
    for (mode, layers, missing) in mode_layers(&caps) {
        write!(out, "  {:<20} ", mode)?;
        if mode == "danger-full-access" {
            writeln!(
                out,
                "no confinement (by design; needs --acknowledge-danger)"
            )?;
        } else if missing.is_empty() {
            writeln!(out, "ready: {}", layers.join(", "))?;
        } else {
            writeln!(out, "REFUSED (fail closed): missing {}", missing.join(", "))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Layers each mode uses, and which of them this host lacks.
fn mode_layers(
    caps: &brig::Capabilities,
) -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    use brig::Layer::*;
    let needed = [
        UserNamespace,
        MountNamespace,
        PidNamespace,
        NetworkNamespace,
        IpcUtsNamespace,
        Landlock,
        Seccomp,
        CreateGuard,
        NoNewPrivs,
    ];
    let have: Vec<&'static str> = needed
        .iter()
        .filter(|l| caps.has(**l))
        .map(|l| l.as_str())
        .collect();
    let missing: Vec<&'static str> = needed
        .iter()
        .filter(|l| !caps.has(**l))
        .map(|l| l.as_str())
        .collect();
    vec![
        ("read-only", have.clone(), missing.clone()),
        ("workspace-write", have, missing),
        ("danger-full-access", Vec::new(), Vec::new()),
    ]
}

fn doctor_json(caps: &brig::Capabilities) -> serde_json::Value {
    let modes: serde_json::Map<String, serde_json::Value> = mode_layers(caps)
        .into_iter()
        .map(|(m, layers, missing)| {
            let ready = missing.is_empty();
            (
                m.to_string(),
                serde_json::json!({ "ready": ready, "layers": layers, "missing": missing }),
            )
        })
        .collect();
    serde_json::json!({
        "brig_version": env!("CARGO_PKG_VERSION"),
        "platform": caps.platform,
        "release": caps.release,
        "features": caps.features,
        "modes": modes,
    })
}

fn explain(json: bool, args: &PolicyArgs) -> anyhow::Result<ExitCode> {
    let loaded = brig::load(&args.request()?)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "policy": loaded.policy, "plan": loaded.plan, "sources": loaded.sources }),
        )?;
        writeln!(out)?;
    } else {
        write!(
            out,
            "{}",
            brig_policy::explain(&loaded.policy, &loaded.plan, &loaded.sources)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn trust(dir: Option<PathBuf>, add: bool) -> anyhow::Result<ExitCode> {
    let dirs = brig::Dirs::from_env()?;
    let ws = brig::workspace_of(&Request {
        workspace: dir,
        ..Request::default()
    })?;
    let store = brig::read_trust_store(&dirs)?;
    let path = dirs.config.join(brig_policy::trust::TRUST_FILE_NAME);
    let store = if add {
        let file = ws.join(brig::PROJECT_FILE);
        let bytes = std::fs::read(&file)
            .with_context(|| format!("{}: nothing to trust", file.display()))?;
        brig_policy::trust(store, &ws, &bytes).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        brig_policy::trust::untrust(store, &ws)
    };
    std::fs::create_dir_all(&dirs.config)
        .with_context(|| format!("creating {}", dirs.config.display()))?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, brig_policy::serialize_trust_store(&store))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    if add {
        println!(
            "trusted {} (content hash recorded in {}; any change to it withdraws trust)",
            ws.join(brig::PROJECT_FILE).display(),
            path.display()
        );
    } else {
        println!("no longer trusting {}", ws.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn audit(cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    let dirs = brig::Dirs::from_env()?;
    let dir = brig::audit_dir(&dirs);
    let mut out = std::io::stdout().lock();
    let all_ids = || -> anyhow::Result<Vec<String>> {
        if !dir.exists() {
            return Ok(Vec::new());
        }
        Ok(brig_audit::list(&dir)?.into_iter().map(|s| s.id).collect())
    };
    match cmd {
        AuditCmd::List { json } => {
            let sessions = if dir.exists() {
                brig_audit::list(&dir)?
            } else {
                Vec::new()
            };
            for s in sessions {
                let first = s
                    .first
                    .as_ref()
                    .map(|r| brig_audit::summary(&r.data))
                    .unwrap_or_default();
                if json {
                    let v = serde_json::json!({
                        "id": s.id, "path": s.path, "records": s.records,
                        "first": s.first_ts, "last": s.last_ts,
                    });
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(
                        out,
                        "{}  {:>5} records  {} .. {}  {first}",
                        s.id,
                        s.records,
                        s.first_ts.unwrap_or_default(),
                        s.last_ts.unwrap_or_default()
                    )?;
                }
            }
        }
        AuditCmd::Show {
            session,
            kind,
            path,
            since,
            follow,
            json,
            color,
        } => {
            use std::io::IsTerminal;
            let colour = match color.as_str() {
                "always" => true,
                "never" => false,
                _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            let wanted = |r: &brig_audit::Record| {
                kind.as_deref().is_none_or(|k| r.kind == k)
                    && since.as_deref().is_none_or(|t| r.ts.as_str() >= t)
                    && path.as_deref().is_none_or(|p| {
                        ["path", "what"]
                            .iter()
                            .any(|f| r.data[f].as_str().is_some_and(|v| v.contains(p)))
                    })
            };
            let mut shown = 0usize;
            loop {
                let records = brig_audit::read(&dir, &session)?;
                let ended = records.iter().any(|r| r.kind == "session.end");
                for r in records.iter().skip(shown).filter(|r| wanted(r)) {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(r)?)?;
                    } else {
                        let summary = brig_audit::summary(&r.data);
                        // Record contents come from the sandboxed command: no control
                        // characters reach the reviewer's terminal.
                        let (kind, summary) = (printable(&r.kind), printable(&summary));
                        let kind = format!("{kind:<14}");
                        let kind = match (colour, sgr_for(&r.kind)) {
                            (true, Some(sgr)) => format!("\x1b[{sgr}m{kind}\x1b[0m"),
                            _ => kind,
                        };
                        writeln!(out, "{:>5} {}  {kind} {summary}", r.seq, r.ts)?;
                    }
                }
                shown = records.len();
                if !follow || ended {
                    break;
                }
                out.flush()?;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        AuditCmd::Verify { session, all } => {
            let ids = match (session, all) {
                (Some(s), false) => vec![s],
                _ => all_ids()?,
            };
            let mut bad = 0;
            for id in &ids {
                let v = brig_audit::verify(&dir, id)?;
                if v.intact() {
                    writeln!(out, "{}: intact ({} records)", v.session, v.records)?;
                } else {
                    bad += 1;
                    writeln!(out, "{}: NOT INTACT: {}", v.session, v.problems[0])?;
                    for p in &v.problems[1..] {
                        writeln!(out, "    also: {p}")?;
                    }
                }
            }
            if bad > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        AuditCmd::Export {
            format,
            session,
            since,
            until,
            output,
        } => {
            let ids = match session {
                Some(s) => vec![s],
                None => all_ids()?,
            };
            let mut records = Vec::new();
            for id in &ids {
                records.extend(brig_audit::read(&dir, id)?.into_iter().filter(|r| {
                    since.as_deref().is_none_or(|t| r.ts.as_str() >= t)
                        && until.as_deref().is_none_or(|t| r.ts.as_str() < t)
                }));
            }
            let mut sink: Box<dyn std::io::Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            match format.as_str() {
                "csv" => brig_audit::export_csv(&records, &mut sink)?,
                "ocsf" => brig_audit::export_ocsf(&records, &mut sink)?,
                _ => brig_audit::export_jsonl(&records, &mut sink)?,
            }
            sink.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
