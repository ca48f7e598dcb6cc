//! Replaying a trace of agent commands against the rules and the approval matrix: how often
//! brig would ask, and whether any destructive command would run without dual approval.
//!
//! A trace has one command per line. Blank lines and lines starting with `#` are skipped. A line
//! that ends in `#destructive` (after white space) is labelled destructive by whoever wrote the
//! trace; the label is a shell comment, so the command itself is unchanged. The labels are the
//! reference the rules are measured against: a labelled command that would run without a dual
//! prompt under any policy is *unguarded*, and there must be none.

use brig_policy::Mode;
use serde::Serialize;

use crate::approval::{action, Action, ApprovalPolicy};
use crate::rules::Rules;
use crate::verdict::{Class, Verdict};

/// The label that marks a trace line as destructive.
pub const DESTRUCTIVE_LABEL: &str = "#destructive";

/// One command of a trace, decided.
#[derive(Clone, Debug, Serialize)]
pub struct Replayed {
    /// 1-based line in the trace.
    pub line: usize,
    /// The command (label included).
    pub command: String,
    /// Whether the trace labels it destructive.
    pub labelled_destructive: bool,
    /// What the rules say.
    pub verdict: Verdict,
}

/// Prompt counts under one approval policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyCount {
    /// The policy.
    pub policy: ApprovalPolicy,
    /// Commands that prompt a human before running.
    pub prompts: usize,
    /// Of those, dual prompts (destructive).
    pub dual_prompts: usize,
    /// Commands refused outright.
    pub refused: usize,
    /// Prompts per 100 commands.
    pub prompts_per_100: f64,
}

/// The result of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct Replay {
    /// The sandbox mode the matrix was evaluated for.
    pub mode: &'static str,
    /// Every command, decided.
    pub commands: Vec<Replayed>,
    /// Prompt counts per approval policy, in [`ApprovalPolicy::ALL`] order.
    pub policies: Vec<PolicyCount>,
    /// Commands the rules find destructive.
    pub destructive: usize,
    /// Commands the trace labels destructive.
    pub labelled_destructive: usize,
    /// Labelled-destructive commands that would run without dual approval under some policy
    /// (must be empty).
    pub unguarded: Vec<String>,
    /// Commands the rules find destructive that the trace does not label (over-asking).
    pub unlabelled_destructive: Vec<String>,
}

/// Replays `trace` under `rules` for `mode`.
pub fn replay(rules: &Rules, trace: &str, mode: Mode) -> Replay {
    let mut commands = Vec::new();
    for (i, raw) in trace.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let labelled = line
            .strip_suffix(DESTRUCTIVE_LABEL)
            .is_some_and(|rest| rest.ends_with(char::is_whitespace));
        commands.push(Replayed {
            line: i + 1,
            command: line.to_string(),
            labelled_destructive: labelled,
            verdict: rules.check(line),
        });
    }
    let n = commands.len();
    let policies = ApprovalPolicy::ALL
        .into_iter()
        .map(|policy| {
            let actions: Vec<Action> = commands
                .iter()
                .map(|c| action(mode, policy, c.verdict.class()))
                .collect();
            let prompts = actions
                .iter()
                .filter(|a| matches!(a, Action::Prompt { .. }))
                .count();
            let dual_prompts = actions
                .iter()
                .filter(|a| matches!(a, Action::Prompt { dual: true }))
                .count();
            let refused = actions
                .iter()
                .filter(|a| matches!(a, Action::Refuse { .. }))
                .count();
            PolicyCount {
                policy,
                prompts,
                dual_prompts,
                refused,
                prompts_per_100: if n == 0 {
                    0.0
                } else {
                    prompts as f64 * 100.0 / n as f64
                },
            }
        })
        .collect();
    let unguarded = commands
        .iter()
        .filter(|c| c.labelled_destructive)
        .filter(|c| {
            ApprovalPolicy::ALL.into_iter().any(|p| {
                !matches!(
                    action(mode, p, c.verdict.class()),
                    Action::Prompt { dual: true } | Action::Refuse { .. }
                )
            })
        })
        .map(|c| format!("line {}: {}", c.line, c.command))
        .collect();
    let unlabelled_destructive = commands
        .iter()
        .filter(|c| !c.labelled_destructive && matches!(c.verdict.class(), Class::AskDestructive))
        .map(|c| format!("line {}: {}", c.line, c.command))
        .collect();
    Replay {
        mode: mode.as_str(),
        destructive: commands.iter().filter(|c| c.verdict.destructive).count(),
        labelled_destructive: commands.iter().filter(|c| c.labelled_destructive).count(),
        commands,
        policies,
        unguarded,
        unlabelled_destructive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_counts() {
        let rules = Rules::defaults().unwrap();
        let trace = "# a comment\n\nls -la\ncargo test\ngit push origin main #destructive\nrm -rf build  #destructive\ngit status #destructive\n";
        let r = replay(&rules, trace, Mode::WorkspaceWrite);
        assert_eq!(r.commands.len(), 5);
        assert_eq!(r.labelled_destructive, 3);
        assert_eq!(r.destructive, 2);
        // `git status` is labelled but allowed: unguarded, which is what the bench must catch.
        assert_eq!(r.unguarded, vec!["line 7: git status #destructive"]);
        let untrusted = &r.policies[0];
        assert_eq!((untrusted.prompts, untrusted.dual_prompts), (3, 2));
        assert!((untrusted.prompts_per_100 - 60.0).abs() < 1e-9);
        let never = &r.policies[3];
        assert_eq!((never.prompts, never.refused), (0, 2));
    }
}
