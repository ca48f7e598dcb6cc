//! brig's approval core: which commands are known safe, which need a human, which need two, and
//! what brig does about it under each approval policy. Pure: no OS calls, no `unsafe`.
//!
//! * [`Rules::check`] understands a command line as a shell does (parsed with `brush-parser`,
//!   walked by the private `analyze` module, with wrappers and program paths resolved in
//!   `command`) and decides every simple command in it with the rules: `allow`, `ask` or
//!   `forbid`, and whether it is destructive. The strictest part decides the whole; anything
//!   that cannot be understood is `ask`, never `allow`.
//! * Rules are data (`src/defaults.toml`, a user's rules file), loaded by [`parse_rules`] with
//!   `FILE:LINE:COL` errors; each rule's `match`/`not_match` examples are checked on load.
//! * [`action`] is the approval matrix: mode × approval policy × verdict → run, prompt (single or
//!   dual) or refuse. Approval never removes the sandbox.
//! * [`remember`] turns an approval into the narrowest rule (and refuses "always" for broad
//!   programs); [`ApprovalState`] counts distinct human approvers for dual approval.
//! * [`replay`] measures the defaults against a trace of agent commands (`bench/approvals`).
//!
//! Module map: `word` (static expansion of one word), `command` (program names, wrappers, git's
//! global options), `analyze` (the walk over the parsed command line), `matcher` (one rule
//! against one simple command, three-valued), `rule`/`load`/`rules` (the rule model, the file
//! parser with example checks, the rule set), `verdict`, `approval` (the matrix), `dual`,
//! `remember`, `replay`.
//!
//! What this crate does not do: prompt anyone, talk to a review channel, store rules, or write
//! the audit trail. The CLI and the approval service do that (see `docs/approvals.md`).

#![forbid(unsafe_code)]

mod analyze;
mod approval;
mod command;
mod dual;
mod load;
mod matcher;
mod remember;
mod replay;
mod rule;
mod rules;
mod verdict;
mod word;

pub use approval::{action, Action, ApprovalPolicy, RefuseReason};
pub use brig_policy::{Location, Mode};
pub use dual::{ApprovalState, Approver, Status};
pub use load::{default_rules_file, parse_rules, RuleFile, RulesError};
pub use remember::{
    always_refusal, can_remember_always, narrowest_rule, remember, RememberError, Remembered, Scope,
};
pub use replay::{replay, PolicyCount, Replay, Replayed, DESTRUCTIVE_LABEL};
pub use rule::{Pattern, Rule};
pub use rules::{Rules, DEFAULT_RULES, DEFAULT_RULES_NAME};
pub use verdict::{Class, Decision, Reason, Verdict};

#[cfg(test)]
mod tests;
