//! One policy rule: which simple commands it is about and what it decides for them.
//!
//! The file format is documented in `docs/approvals.md`; [`crate::load`] parses it. A rule is
//! plain data: matching is [`crate::matcher`], and a rule is always tested against one simple
//! command at a time (after wrappers such as `sudo` or `env` have been looked through), never
//! against a whole command line.

use serde::Serialize;

use crate::verdict::Decision;

/// One element of a rule's `prefix`: a word, or a list of alternative words. A word ending in
/// `*` matches any word that starts with the text before the `*` (`mkfs*`, `python3*`), and `*`
/// alone matches any word.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Pattern {
    /// One word.
    Word(String),
    /// Any of these words.
    AnyOf(Vec<String>),
}

impl Pattern {
    /// The alternatives of this element.
    pub fn alternatives(&self) -> &[String] {
        match self {
            Pattern::Word(w) => std::slice::from_ref(w),
            Pattern::AnyOf(v) => v,
        }
    }
}

/// A policy rule. Every condition that is set must hold for the rule to match a simple command;
/// conditions left empty (or `false`) are not checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Unique name; a user rules file replaces a shipped rule by using its id.
    pub id: String,
    /// The command's first words (the program, then e.g. a subcommand). Programs are bare
    /// names: `/usr/bin/git` is matched as `git`, `./git` never is.
    pub prefix: Vec<Pattern>,
    /// What the rule decides.
    pub decision: Decision,
    /// The command is destructive: it needs dual approval (never with `allow`).
    pub destructive: bool,
    /// Why, shown to whoever is asked.
    pub justification: String,
    /// At least one of these options appears after the prefix.
    pub any_flag: Vec<String>,
    /// None of these options appears after the prefix.
    pub no_flag: Vec<String>,
    /// At least one of these words appears after the prefix (a trailing `*` is a prefix match).
    pub any_arg: Vec<String>,
    /// None of these words appears after the prefix.
    pub no_arg: Vec<String>,
    /// Options whose value is the next word (so that word is neither an option nor an operand).
    pub takes_value: Vec<String>,
    /// No operand (word that is not an option or an option's value) follows the prefix.
    pub no_operands: bool,
    /// Nothing at all follows the prefix.
    pub exact: bool,
    /// The rule does not match when every operand is a path inside `/tmp` or `$TMPDIR`.
    pub except_temp_operands: bool,
    /// An earlier stage of the same pipeline runs one of these programs (`curl … | sh`).
    pub stdin_from: Vec<String>,
    /// One of these programs runs in a command or process substitution in the command's
    /// arguments (`sh -c "$(curl …)"`, `bash <(curl …)`).
    pub args_from: Vec<String>,
    /// What the command destroys, as templates: `{operands}`, `{operands:N}` (from the N-th
    /// operand on, counting from 0), `{kv:KEY}` (the value of `KEY=value` words) and `{command}`,
    /// each optionally with a text for "none": `{operands|the working tree}`.
    pub destroys: Vec<String>,
    /// Commands the rule must match (checked when the rules load).
    #[serde(rename = "match")]
    pub examples: Vec<String>,
    /// Commands the rule must not match (checked when the rules load).
    #[serde(rename = "not_match")]
    pub counter_examples: Vec<String>,
    /// Where the rule was written: `FILE:LINE`.
    #[serde(skip)]
    pub origin: String,
}

impl Rule {
    /// A rule with only the required fields set (no conditions, no examples).
    pub fn new(
        id: impl Into<String>,
        prefix: Vec<Pattern>,
        decision: Decision,
        justification: impl Into<String>,
    ) -> Rule {
        Rule {
            id: id.into(),
            prefix,
            decision,
            destructive: false,
            justification: justification.into(),
            any_flag: Vec::new(),
            no_flag: Vec::new(),
            any_arg: Vec::new(),
            no_arg: Vec::new(),
            takes_value: Vec::new(),
            no_operands: false,
            exact: false,
            except_temp_operands: false,
            stdin_from: Vec::new(),
            args_from: Vec::new(),
            destroys: Vec::new(),
            examples: Vec::new(),
            counter_examples: Vec::new(),
            origin: String::new(),
        }
    }

    /// This rule as a `[[rule]]` table of the rules file format, ready to be appended to a
    /// user's rules file. Fields left at their defaults are not written.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("[[rule]]\n");
        let mut line = |key: &str, value: String| {
            out.push_str(key);
            out.push_str(" = ");
            out.push_str(&value);
            out.push('\n');
        };
        line("id", quote(&self.id));
        let prefix: Vec<String> = self
            .prefix
            .iter()
            .map(|p| match p {
                Pattern::Word(w) => quote(w),
                Pattern::AnyOf(v) => list(v),
            })
            .collect();
        line("prefix", format!("[{}]", prefix.join(", ")));
        line("decision", quote(self.decision.as_str()));
        if self.destructive {
            line("destructive", "true".into());
        }
        line("justification", quote(&self.justification));
        for (key, v) in [
            ("any_flag", &self.any_flag),
            ("no_flag", &self.no_flag),
            ("any_arg", &self.any_arg),
            ("no_arg", &self.no_arg),
            ("takes_value", &self.takes_value),
        ] {
            if !v.is_empty() {
                line(key, list(v));
            }
        }
        for (key, b) in [
            ("no_operands", self.no_operands),
            ("exact", self.exact),
            ("except_temp_operands", self.except_temp_operands),
        ] {
            if b {
                line(key, "true".into());
            }
        }
        for (key, v) in [
            ("stdin_from", &self.stdin_from),
            ("args_from", &self.args_from),
            ("destroys", &self.destroys),
            ("match", &self.examples),
            ("not_match", &self.counter_examples),
        ] {
            if !v.is_empty() {
                line(key, list(v));
            }
        }
        out
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
    format!("[{}]", items.join(", "))
}

/// Whether `pattern` (a word, `stem*` or `*`) matches the text `s`.
pub(crate) fn glob_matches(pattern: &str, s: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(stem) => s.starts_with(stem),
        None => pattern == s,
    }
}
