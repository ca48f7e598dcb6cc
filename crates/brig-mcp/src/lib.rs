//! `brig mcp`: a Model Context Protocol server over stdio, so that any agent can use brig as
//! its tools (`run`, `read_file`, `write_file`, `apply_patch`, `policy`).
//!
//! What this crate owns: the MCP side (the tool list and schemas, argument checking, the
//! answers), and turning each tool call into a `brig run` command line.
//!
//! What it must never do:
//! - touch a file or run a command itself. brig's sandbox backend forks and must start from a
//!   single-threaded process, and this server runs on tokio's threads; more importantly, the
//!   kernel sandbox must stand between the agent and the machine for every tool. So every
//!   tool spawns the brig binary ([`Config::brig`]) as a child: `brig run ... -- CMD`, with
//!   reads and writes done by `cat` and `sh` inside it, so protected names, secrets and
//!   symlinks out of the workspace are refused by the kernel exactly as for any command. The
//!   lexical path check here ([`paths`]) only gives a clearer error first.
//! - answer an approval. Children run with `--no-tty-prompt` (and `--approval-policy
//!   on-request` unless the server or the user's configuration chose another), so a destructive command waits
//!   for a human using `brig approvals`; the tool call waits with it and returns what
//!   happened. There is no tool to approve, and there must never be one.
//! - widen the sandbox on the agent's word: `network` is `off` or the user's `allowlist`
//!   (never `on`), extra hosts are `--request-host` requests a human approves, and variables
//!   that look secret cannot be passed with `env`.

#![forbid(unsafe_code)]

pub mod paths;
pub mod tools;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// How the server runs its children.
#[derive(Debug, Clone)]
pub struct Config {
    /// The workspace: absolute; every tool path is relative to it.
    pub workspace: PathBuf,
    /// The brig binary the tools run (`brig run ...`).
    pub brig: PathBuf,
    /// `--approval-policy` for the children (`None`: the one the user's configuration chose).
    pub approval_policy: Option<String>,
}

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The workspace does not exist or cannot be resolved.
    #[error("the workspace {path}: {source}")]
    Workspace {
        /// The directory given.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The client did not complete the MCP initialization on stdin/stdout.
    #[error("MCP initialization on stdio failed: {0}")]
    Initialize(String),
    /// The service's task failed.
    #[error("the MCP service stopped abnormally: {0}")]
    Service(String),
}

/// Why one tool call could not be carried out (returned to the agent as a tool error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// A path argument is refused before anything runs.
    #[error("path `{path}`: {why}")]
    Path {
        /// The path as given.
        path: String,
        /// Why it is refused.
        why: String,
    },
    /// The arguments are well-formed but do not make sense together.
    #[error("{0}")]
    Arguments(String),
    /// The brig child could not be started or waited for.
    #[error("starting {brig}: {source}")]
    Spawn {
        /// The brig binary.
        brig: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl Config {
    /// A configuration for `workspace` (made absolute and canonical), running `brig`.
    pub fn new(
        workspace: PathBuf,
        brig: PathBuf,
        approval_policy: Option<String>,
    ) -> Result<Config, Error> {
        let workspace = std::fs::canonicalize(&workspace).map_err(|source| Error::Workspace {
            path: workspace.clone(),
            source,
        })?;
        if !workspace.is_dir() {
            return Err(Error::Workspace {
                path: workspace,
                source: std::io::Error::other("not a directory"),
            });
        }
        Ok(Config {
            workspace,
            brig,
            approval_policy,
        })
    }
}

/// Serves MCP on stdin/stdout until the client closes stdin.
pub fn serve(config: Config) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let result = rt.block_on(async {
        let server = Server {
            cfg: Arc::new(config),
        };
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::Initialize(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| Error::Service(e.to_string()))?;
        Ok(())
    });
    // A read of stdin may still be pending on a blocking thread: do not wait for it.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

/// The MCP handler.
#[derive(Clone)]
struct Server {
    cfg: Arc<Config>,
}

/// What a brig child did.
struct Ran {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    brig: Vec<String>,
}

impl Ran {
    fn exit_status(&self) -> i64 {
        match (self.code, self.signal) {
            (Some(c), _) => i64::from(c),
            (None, Some(s)) => 128 + i64::from(s),
            (None, None) => -1,
        }
    }

    fn truncated(&self, stream: &str) -> bool {
        self.brig
            .iter()
            .any(|l| l.contains("output limit") && l.contains(&format!("on {stream}")))
    }
}

impl Server {
    /// Runs `brig ARGS` in the workspace with `input` on stdin (or /dev/null).
    async fn brig(&self, args: Vec<OsString>, input: Option<Vec<u8>>) -> Result<Ran, ToolError> {
        let spawn_err = |source| ToolError::Spawn {
            brig: self.cfg.brig.clone(),
            source,
        };
        let mut child = tokio::process::Command::new(&self.cfg.brig)
            .args(&args)
            .current_dir(&self.cfg.workspace)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A cancelled call (the client gave up) kills brig.
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            // A command that exits without reading its input is not an error here.
            tokio::spawn(async move {
                let _ = stdin.write_all(&data).await;
            });
        }
        let out = child.wait_with_output().await.map_err(spawn_err)?;
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&out.status);
        #[cfg(not(unix))]
        let signal = None;
        // brig bounds the command's output with --max-output; this bounds brig's own lines too.
        let bound = usize::try_from(tools::MAX_OUTPUT).unwrap_or(usize::MAX) + 64 * 1024;
        let mut stdout = out.stdout;
        stdout.truncate(bound);
        let mut stderr_bytes = out.stderr;
        stderr_bytes.truncate(bound);
        let (mut stderr, mut brig) = (String::new(), Vec::new());
        for line in String::from_utf8_lossy(&stderr_bytes).split_inclusive('\n') {
            if line.starts_with("brig: ") {
                brig.push(line.trim_end().to_string());
            } else {
                stderr.push_str(line);
            }
        }
        Ok(Ran {
            code: out.status.code(),
            signal,
            stdout,
            stderr,
            brig,
        })
    }

    async fn call(&self, name: &str, args: Option<serde_json::Map<String, Value>>) -> Answer {
        let cfg = &self.cfg;
        let parsed = match name {
            "run" => tools::parse::<tools::RunArgs>(name, args)
                .map(|a| (tools::run_argv(cfg, &a), None)),
            "read_file" => tools::parse::<tools::ReadArgs>(name, args)
                .map(|a| (tools::read_argv(cfg, &a).map(|(argv, _)| argv), None)),
            "write_file" => tools::parse::<tools::WriteArgs>(name, args).map(|a| {
                let argv = tools::write_argv(cfg, &a);
                (argv, Some(a.content.into_bytes()))
            }),
            "apply_patch" => tools::parse::<tools::PatchArgs>(name, args).map(|a| {
                let argv = tools::patch_argv(cfg, &a);
                (argv, Some(a.patch.into_bytes()))
            }),
            "policy" => tools::parse::<tools::PolicyArgs>(name, args)
                .map(|_| (Ok(tools::policy_argv(cfg)), None)),
            _ => {
                return Answer::Invalid(format!(
                    "unknown tool `{name}`: this server has run, read_file, write_file, apply_patch and policy"
                ))
            }
        };
        let (argv, input) = match parsed {
            Ok(p) => p,
            Err(msg) => return Answer::Invalid(msg),
        };
        let argv = match argv {
            Ok(a) => a,
            Err(e) => return Answer::Failed(e.to_string()),
        };
        match self.brig(argv, input).await {
            Ok(ran) => Answer::Ran(name.to_string(), ran),
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
}

/// A tool call's outcome.
enum Answer {
    /// Malformed: a JSON-RPC "invalid params" error.
    Invalid(String),
    /// Refused or failed before anything ran: a tool error the agent reads.
    Failed(String),
    /// brig ran.
    Ran(String, Ran),
}

/// The tool result for what brig did.
fn result_of(tool: &str, ran: &Ran) -> CallToolResult {
    let status = ran.exit_status();
    let stdout = String::from_utf8_lossy(&ran.stdout).into_owned();
    let (out_cut, err_cut) = (ran.truncated("stdout"), ran.truncated("stderr"));
    let mut text = String::new();
    match tool {
        // The file itself, or the policy JSON, when it worked.
        "read_file" | "policy" if status == 0 => {
            text.push_str(&stdout);
            if out_cut {
                text.push_str("\n[brig: the output was truncated at the limit]");
            }
        }
        _ => {
            text.push_str(&format!("exit status: {status}\n"));
            if !stdout.is_empty() {
                text.push_str(&format!("--- stdout\n{stdout}"));
                if !stdout.ends_with('\n') {
                    text.push('\n');
                }
                if out_cut {
                    text.push_str("[truncated]\n");
                }
            }
            if !ran.stderr.is_empty() {
                text.push_str(&format!("--- stderr\n{}", ran.stderr));
                if !ran.stderr.ends_with('\n') {
                    text.push('\n');
                }
                if err_cut {
                    text.push_str("[truncated]\n");
                }
            }
            if !ran.brig.is_empty() {
                text.push_str(&format!("--- brig\n{}\n", ran.brig.join("\n")));
            }
        }
    }
    let structured = json!({
        "exit_status": status,
        "signal": ran.signal,
        "stdout": stdout,
        "stderr": ran.stderr,
        "brig": ran.brig,
        "stdout_truncated": out_cut,
        "stderr_truncated": err_cut,
    });
    let mut r = if status == 0 {
        CallToolResult::success(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::error(vec![ContentBlock::text(text)])
    };
    r.structured_content = Some(structured);
    r
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("brig", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "Every tool runs inside brig's kernel-enforced sandbox, in the workspace {}. \
                 Destructive commands wait for a human to approve them with `brig approvals`; \
                 exit status 118 means brig refused or a human denied.",
                self.cfg.workspace.display()
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = tools::specs()
            .into_iter()
            .map(|s| {
                let Value::Object(schema) = s.schema else {
                    unreachable!("every schema is a JSON object")
                };
                Tool::new(s.name, s.description, Arc::new(schema))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let answer = tokio::select! {
            a = self.call(&request.name, request.arguments) => a,
            // `notifications/cancelled`: dropping the call kills its brig child (kill_on_drop).
            () = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("the call was cancelled", None));
            }
        };
        match answer {
            Answer::Invalid(msg) => Err(ErrorData::invalid_params(msg, None)),
            Answer::Failed(msg) => Ok(CallToolResult::error(vec![ContentBlock::text(msg)]).into()),
            Answer::Ran(tool, ran) => Ok(result_of(&tool, &ran).into()),
        }
    }
}
