//! Replays a trace of agent commands against brig's default rules and the approval matrix.
//!
//! ```text
//! cargo run -p brig-rules --example replay -- bench/approvals/trace.txt \
//!     [--policy untrusted|on-failure|on-request|never] [--mode read-only|workspace-write|danger-full-access] [--verbose]
//! ```
//!
//! Prints the number of commands, prompts per 100 commands under each approval policy (or only
//! `--policy`, with the commands that prompt), the number of destructive commands, and the
//! number of destructive commands that would run without dual approval, which must be 0: the
//! example exits 1 otherwise. `--verbose` lists every command with its decision.

use std::process::ExitCode;

use brig_rules::{action, replay, Action, ApprovalPolicy, Mode, Rules};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut path: Option<String> = None;
    let mut policy: Option<ApprovalPolicy> = None;
    let mut mode = Mode::WorkspaceWrite;
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--policy" => {
                let v = args.next().ok_or("--policy needs a value")?;
                policy = Some(ApprovalPolicy::parse(&v).ok_or(format!("unknown policy `{v}`"))?);
            }
            "--mode" => {
                let v = args.next().ok_or("--mode needs a value")?;
                mode = Mode::parse(&v).ok_or(format!("unknown mode `{v}`"))?;
            }
            "--verbose" | "-v" => verbose = true,
            _ if a.starts_with('-') => return Err(format!("unknown option `{a}`")),
            _ => path = Some(a),
        }
    }
    let path = path.ok_or("usage: replay TRACE [--policy P] [--mode M] [--verbose]")?;
    let trace = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let rules = Rules::defaults().map_err(|e| e.to_string())?;
    let r = replay(&rules, &trace, mode);

    if verbose {
        for c in &r.commands {
            let v = &c.verdict;
            let why: Vec<&str> = v
                .reasons
                .iter()
                .filter(|r| r.decision == v.decision || r.destructive)
                .map(|r| r.id.as_str())
                .collect();
            println!(
                "{:>4}  {:<6} {:<11} {:<60} {}",
                c.line,
                v.decision.as_str(),
                if v.destructive { "destructive" } else { "" },
                c.command,
                why.join(",")
            );
        }
        println!();
    }

    println!("trace:        {path}");
    println!("mode:         {}", r.mode);
    println!("commands:     {}", r.commands.len());
    println!();
    println!(
        "{:<12} {:>8} {:>13} {:>6} {:>8}",
        "policy", "prompts", "per 100 cmds", "dual", "refused"
    );
    for p in &r.policies {
        if policy.is_some_and(|want| want != p.policy) {
            continue;
        }
        println!(
            "{:<12} {:>8} {:>13.1} {:>6} {:>8}",
            p.policy.as_str(),
            p.prompts,
            p.prompts_per_100,
            p.dual_prompts,
            p.refused
        );
    }
    if let Some(want) = policy {
        println!();
        println!("commands that prompt under {}:", want.as_str());
        for c in &r.commands {
            if let Action::Prompt { dual } = action(mode, want, c.verdict.class()) {
                println!(
                    "  {:>4} {} {}",
                    c.line,
                    if dual { "dual  " } else { "single" },
                    c.command
                );
            }
        }
    }
    println!();
    println!("destructive commands (rules):   {}", r.destructive);
    println!("destructive commands (labels):  {}", r.labelled_destructive);
    println!(
        "destructive commands that would run without dual approval: {}",
        r.unguarded.len()
    );
    for u in &r.unguarded {
        println!("  {u}");
    }
    if !r.unlabelled_destructive.is_empty() {
        println!(
            "destructive by the rules but not labelled (over-asking): {}",
            r.unlabelled_destructive.len()
        );
        for u in &r.unlabelled_destructive {
            println!("  {u}");
        }
    }
    Ok(if r.unguarded.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
