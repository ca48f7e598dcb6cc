//! A loaded rule set: the shipped defaults, a user's overrides, and the check of a command.

use std::collections::BTreeSet;

use crate::analyze::{Analyzer, Part};
use crate::load::{RuleFile, RulesError};
use crate::rule::Rule;
use crate::verdict::{Decision, Reason, Verdict};

/// The shipped default rules, in the rules file format.
pub const DEFAULT_RULES: &str = include_str!("defaults.toml");

/// The display name of the shipped defaults in errors and rule origins.
pub const DEFAULT_RULES_NAME: &str = "<brig defaults>";

/// The rules in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// The shipped defaults alone. Fails only if the shipped file is broken, which the crate's
    /// tests rule out.
    pub fn defaults() -> Result<Rules, RulesError> {
        Ok(Rules {
            rules: crate::load::default_rules_file()?.rules,
        })
    }

    /// `base` (normally the defaults) with a user's rules file on top: a user rule whose id is
    /// already in `base` replaces that rule, a new id adds a rule, and each id in the user's
    /// `disable` list removes a rule of `base` (an id that is not there is an error, so a typo
    /// cannot silently keep a rule in force).
    pub fn layered(base: RuleFile, user: Option<RuleFile>) -> Result<Rules, RulesError> {
        let mut rules = base.rules;
        if let Some(user) = user {
            for (id, at) in &user.disable {
                let before = rules.len();
                rules.retain(|r| &r.id != id);
                if rules.len() == before {
                    return Err(RulesError {
                        file: user.source.clone(),
                        line: at.line,
                        column: at.column,
                        message: format!(
                            "`disable` names rule `{id}`, which is not a shipped rule"
                        ),
                    });
                }
            }
            let mut set = Rules { rules };
            for rule in user.rules {
                set.add(rule);
            }
            rules = set.rules;
        }
        Ok(Rules { rules })
    }

    /// A rule set from explicit rules (later ids replace earlier ones).
    pub fn from_rules(rules: impl IntoIterator<Item = Rule>) -> Rules {
        let mut set = Rules { rules: Vec::new() };
        for r in rules {
            set.add(r);
        }
        set
    }

    /// Adds `rule`, replacing a rule with the same id (for approvals remembered for a session).
    pub fn add(&mut self, rule: Rule) {
        match self.rules.iter_mut().find(|r| r.id == rule.id) {
            Some(slot) => *slot = rule,
            None => self.rules.push(rule),
        }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with this id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Decides a command line as a shell would run it (`sh -c COMMAND`).
    pub fn check(&self, command: &str) -> Verdict {
        let mut an = Analyzer::new(&self.rules, &[command], false);
        an.program(command, &[]);
        verdict(an.parts)
    }

    /// Decides an argv that is executed directly, without a shell (`brig run -- PROGRAM ARGS`):
    /// no word is expanded, and `argv[0]` is the program.
    pub fn check_argv(&self, argv: &[String]) -> Verdict {
        let whole: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut an = Analyzer::new(&self.rules, &whole, false);
        an.argv(argv);
        verdict(an.parts)
    }
}

/// The verdict over all parts: the strictest decision wins.
fn verdict(parts: Vec<Part>) -> Verdict {
    let decision = parts
        .iter()
        .map(Part::decision)
        .max()
        .unwrap_or(Decision::Allow);
    let mut reasons = Vec::new();
    let mut destroyed: Vec<String> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut destructive = false;
    for part in &parts {
        let d = part.decision();
        for c in &part.causes {
            destructive |= c.destructive;
            for item in &c.destroys {
                if seen.insert(item.clone()) {
                    destroyed.push(item.clone());
                }
            }
            let duplicate = reasons.iter().any(|r: &Reason| {
                r.command == part.command && r.id == c.id && r.decision == c.decision
            });
            if (c.decision == d || c.destructive) && !duplicate {
                reasons.push(Reason {
                    command: part.command.clone(),
                    decision: c.decision,
                    destructive: c.destructive,
                    id: c.id.clone(),
                    builtin: c.builtin,
                    detail: c.detail.clone(),
                });
            }
        }
    }
    Verdict {
        decision,
        destructive,
        reasons,
        what_is_destroyed: destroyed,
    }
}
