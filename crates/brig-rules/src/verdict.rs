//! What [`Rules::check`](crate::Rules::check) says about a command: the decision, whether it is
//! destructive, why (one reason per simple command and cause) and what it would destroy.

use serde::Serialize;

/// A rule's decision. Ordered from the most to the least permissive: when several apply, the
/// greatest (strictest) wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Known safe: runs without asking (under every approval policy).
    Allow,
    /// Not known safe: what happens depends on the approval policy ([`crate::action`]).
    Ask,
    /// Never runs.
    Forbid,
}

impl Decision {
    /// The name used in rule files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Ask => "ask",
            Decision::Forbid => "forbid",
        }
    }

    /// Parses the rule-file name of a decision.
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "allow" => Some(Decision::Allow),
            "ask" => Some(Decision::Ask),
            "forbid" => Some(Decision::Forbid),
            _ => None,
        }
    }
}

/// The four columns of the approval matrix: a verdict's decision, with `ask` split by whether
/// the command is destructive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Known safe.
    Allow,
    /// Not known safe, not destructive.
    Ask,
    /// Destructive: needs dual approval (the policy must allow asking, and a human must approve).
    AskDestructive,
    /// Forbidden.
    Forbid,
}

impl Class {
    /// The class of a decision and destructiveness. A destructive command is never `Allow`.
    pub fn of(decision: Decision, destructive: bool) -> Class {
        match (decision, destructive) {
            (Decision::Forbid, _) => Class::Forbid,
            (_, true) => Class::AskDestructive,
            (Decision::Ask, false) => Class::Ask,
            (Decision::Allow, false) => Class::Allow,
        }
    }
}

/// One cause behind a verdict: which simple command, what decided it and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The simple command this reason is about, as written (or as run, for a command found
    /// inside another one, e.g. after `find -exec`).
    pub command: String,
    /// What this cause decides for that command.
    pub decision: Decision,
    /// Whether this cause makes the command destructive.
    pub destructive: bool,
    /// The rule id, or a built-in reason (see [`Reason::builtin`]) such as `unparsable`,
    /// `unknown-program` or `redirect-write`.
    pub id: String,
    /// `true` when `id` is a built-in reason rather than a rule from a rules file.
    pub builtin: bool,
    /// The rule's justification, or the built-in explanation.
    pub detail: String,
}

/// What the rules say about one command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The strictest decision over every simple command in it.
    pub decision: Decision,
    /// Whether any part is destructive: it needs dual approval to run.
    pub destructive: bool,
    /// The causes of the decision, per simple command. For each simple command, the causes that
    /// reach its own decision, and every destructive cause.
    pub reasons: Vec<Reason>,
    /// What a destructive part would destroy, where that can be named (operands as written:
    /// `build`, `~/x`, `$DIR`; or a description such as "untracked files in the working tree").
    pub what_is_destroyed: Vec<String>,
}

impl Verdict {
    /// The approval-matrix column of this verdict.
    pub fn class(&self) -> Class {
        Class::of(self.decision, self.destructive)
    }
}
