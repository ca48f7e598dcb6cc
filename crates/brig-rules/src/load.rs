//! The rules file: strict TOML parsing with `FILE:LINE:COL` errors, and the check of every rule's
//! `match` / `not_match` examples.
//!
//! Like brig's configuration parser (`brig-policy`), the document is parsed into toml's spanned
//! tree and walked by hand, so that an unknown key, a wrong type, a bad value or a failing
//! example points at the exact place. A rule whose examples fail is a load error: the examples
//! are the rule's tests, and they run every time the rules load.

use std::collections::BTreeSet;
use std::ops::Range;

use brig_policy::Location;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use crate::analyze::Analyzer;
use crate::rule::{Pattern, Rule};
use crate::verdict::Decision;

/// An error in a rules file: `FILE:LINE:COL: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct RulesError {
    /// The file's display name, as given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, naming the rule and key.
    pub message: String,
}

/// One parsed rules file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFile {
    /// The display name the file was parsed under.
    pub source: String,
    /// Its `[[rule]]` tables, in order.
    pub rules: Vec<Rule>,
    /// Its `disable` list: ids of shipped rules to drop, with where each was written.
    pub disable: Vec<(String, Location)>,
}

const TOP_KEYS: &[&str] = &["rule", "disable"];
const RULE_KEYS: &[&str] = &[
    "id",
    "prefix",
    "decision",
    "destructive",
    "justification",
    "any_flag",
    "no_flag",
    "any_arg",
    "no_arg",
    "takes_value",
    "no_operands",
    "exact",
    "except_temp_operands",
    "stdin_from",
    "args_from",
    "destroys",
    "match",
    "not_match",
];

/// Parses one rules file and checks every rule's examples. `source_name` is used in errors.
pub fn parse_rules(source_name: &str, text: &str) -> Result<RuleFile, RulesError> {
    parse_rules_with(source_name, text, true)
}

/// brig's shipped defaults, parsed without re-running their examples: a unit test
/// (`defaults_examples_hold`) checks them on every build, and checking 69 rules' examples costs
/// milliseconds that every `brig run` would pay.
pub fn default_rules_file() -> Result<RuleFile, RulesError> {
    parse_rules_with(crate::DEFAULT_RULES_NAME, crate::DEFAULT_RULES, false)
}

fn parse_rules_with(
    source_name: &str,
    text: &str,
    check_examples: bool,
) -> Result<RuleFile, RulesError> {
    let doc = Doc {
        file: source_name,
        text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
    };
    let root = DeTable::parse(text).map_err(|e| {
        let at = e
            .span()
            .map_or(Location { line: 1, column: 1 }, |s| doc.location(s.start));
        doc.error_at(at, format!("invalid TOML: {}", e.message().trim_end()))
    })?;
    let mut file = RuleFile {
        source: source_name.to_string(),
        rules: Vec::new(),
        disable: Vec::new(),
    };
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for (key, value) in entries(root.get_ref()) {
        match key.get_ref().as_ref() {
            "rule" => {
                let DeValue::Array(tables) = value.get_ref() else {
                    return Err(doc.error(
                        value.span(),
                        "`rule` must be an array of tables: write each rule as `[[rule]]`",
                    ));
                };
                for t in tables {
                    let DeValue::Table(table) = t.get_ref() else {
                        return Err(doc.error(t.span(), "each `rule` must be a table"));
                    };
                    let rule = parse_rule(&doc, table, t.span(), check_examples)?;
                    if !ids.insert(rule.id.clone()) {
                        let at = table.get("id").map_or(t.span(), |v| v.span());
                        return Err(doc.error(
                            at,
                            format!("rule id `{}` is used twice in this file", rule.id),
                        ));
                    }
                    file.rules.push(rule);
                }
            }
            "disable" => {
                for (s, span) in string_items(&doc, "disable", value)? {
                    file.disable.push((s, doc.location(span.start)));
                }
            }
            _ => return Err(unknown_key(&doc, key, "", TOP_KEYS)),
        }
    }
    Ok(file)
}

fn parse_rule(
    doc: &Doc<'_>,
    table: &DeTable<'_>,
    span: Range<usize>,
    check_examples: bool,
) -> Result<Rule, RulesError> {
    let mut rule = Rule::new("", Vec::new(), Decision::Ask, "");
    rule.origin = {
        let at = doc.location(span.start);
        format!("{}:{}", doc.file, at.line)
    };
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut examples: Vec<(String, Range<usize>)> = Vec::new();
    let mut counter_examples: Vec<(String, Range<usize>)> = Vec::new();
    let mut spans: Vec<(&str, Range<usize>)> = Vec::new();
    for (key, value) in entries(table) {
        let k = key.get_ref().as_ref();
        let Some(&name) = RULE_KEYS.iter().find(|n| **n == k) else {
            return Err(unknown_key(doc, key, "rule", RULE_KEYS));
        };
        seen.insert(name);
        spans.push((name, value.span()));
        match name {
            "id" => {
                let id = string(doc, name, value)?;
                let ok = id
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                if !ok {
                    return Err(doc.error(value.span(), format!("rule id `{id}` must be lowercase ASCII letters, digits, `-`, `_` or `.`")));
                }
                rule.id = id;
            }
            "prefix" => rule.prefix = prefix(doc, value)?,
            "decision" => {
                let s = string(doc, name, value)?;
                rule.decision = Decision::parse(&s).ok_or_else(|| {
                    doc.error(
                        value.span(),
                        format!("`decision` must be \"allow\", \"ask\" or \"forbid\", not \"{s}\""),
                    )
                })?;
            }
            "destructive" => rule.destructive = boolean(doc, name, value)?,
            "justification" => {
                rule.justification = string(doc, name, value)?;
                if rule.justification.trim().is_empty() {
                    return Err(
                        doc.error(value.span(), "`justification` must not be empty: say why")
                    );
                }
            }
            "any_flag" | "no_flag" | "takes_value" => {
                let items = string_items(doc, name, value)?;
                for (s, span) in &items {
                    if !s.starts_with('-') || s == "-" || s == "--" {
                        return Err(doc.error(span.clone(), format!("`{name}` entries are options such as \"-r\" or \"--force\", not \"{s}\"")));
                    }
                }
                let v = items.into_iter().map(|(s, _)| s).collect();
                match name {
                    "any_flag" => rule.any_flag = v,
                    "no_flag" => rule.no_flag = v,
                    _ => rule.takes_value = v,
                }
            }
            "any_arg" | "no_arg" | "stdin_from" | "args_from" | "destroys" => {
                let v: Vec<String> = string_items(doc, name, value)?
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                match name {
                    "any_arg" => rule.any_arg = v,
                    "no_arg" => rule.no_arg = v,
                    "stdin_from" => rule.stdin_from = v,
                    "args_from" => rule.args_from = v,
                    _ => rule.destroys = v,
                }
            }
            "no_operands" => rule.no_operands = boolean(doc, name, value)?,
            "exact" => rule.exact = boolean(doc, name, value)?,
            "except_temp_operands" => rule.except_temp_operands = boolean(doc, name, value)?,
            "match" => examples = string_items(doc, name, value)?,
            "not_match" => counter_examples = string_items(doc, name, value)?,
            _ => {}
        }
    }
    let at = |key: &str| {
        spans
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(span.clone(), |(_, s)| s.clone())
    };
    for required in ["id", "prefix", "decision", "justification"] {
        if !seen.contains(required) {
            let what = if rule.id.is_empty() {
                String::from("a rule")
            } else {
                format!("rule `{}`", rule.id)
            };
            return Err(doc.error(span.clone(), format!("{what} has no `{required}`")));
        }
    }
    if rule.destructive && rule.decision == Decision::Allow {
        return Err(doc.error(at("destructive"), format!(
            "rule `{}` is destructive but allows: a destructive command needs dual approval, so use \"ask\" (or \"forbid\"), or set `destructive = false`",
            rule.id
        )));
    }
    if !rule.destroys.is_empty() && !rule.destructive {
        return Err(doc.error(
            at("destroys"),
            format!("rule `{}` has `destroys` but is not destructive", rule.id),
        ));
    }
    rule.examples = examples.iter().map(|(s, _)| s.clone()).collect();
    rule.counter_examples = counter_examples.iter().map(|(s, _)| s.clone()).collect();
    if !check_examples {
        return Ok(rule);
    }
    for (example, span) in &examples {
        if let Err(why) = check_example(&rule, example, true) {
            return Err(doc.error(
                span.clone(),
                format!("rule `{}`: `match` example {example:?} {why}", rule.id),
            ));
        }
    }
    for (example, span) in &counter_examples {
        if let Err(why) = check_example(&rule, example, false) {
            return Err(doc.error(
                span.clone(),
                format!("rule `{}`: `not_match` example {example:?} {why}", rule.id),
            ));
        }
    }
    Ok(rule)
}

/// Checks one example against `rule` alone: it must certainly match (`should_match`), or must not
/// match at all (not even maybe). `Err` says why not.
pub(crate) fn check_example(rule: &Rule, example: &str, should_match: bool) -> Result<(), String> {
    let rules = std::slice::from_ref(rule);
    let mut an = Analyzer::new(rules, &[example], true);
    an.program(example, &[]);
    let causes = an
        .parts
        .iter()
        .flat_map(|p| p.causes.iter().map(move |c| (p, c)))
        .filter(|(_, c)| !c.builtin && c.id == rule.id);
    let mut maybe = None;
    for (part, cause) in causes {
        if cause.certain {
            return if should_match {
                Ok(())
            } else {
                Err(format!("matches the rule (in `{}`)", part.command))
            };
        }
        maybe = Some(part);
    }
    if let Some(part) = maybe {
        let why = part
            .misses
            .iter()
            .find(|(id, _)| *id == rule.id)
            .map_or(String::new(), |(_, w)| format!(": {w}"));
        return Err(format!(
            "only may match the rule (in `{}`, a word is only known when the command runs{why})",
            part.command
        ));
    }
    if !should_match {
        return Ok(());
    }
    if let Some(problem) = an
        .parts
        .iter()
        .flat_map(|p| &p.causes)
        .find(|c| c.id == "unparsable")
    {
        return Err(format!("cannot be checked: {}", problem.detail));
    }
    let misses: Vec<String> = an
        .parts
        .iter()
        .flat_map(|p| {
            p.misses
                .iter()
                .filter(|(id, _)| *id == rule.id)
                .map(move |(_, why)| format!("`{}`: {why}", p.command))
        })
        .collect();
    if misses.is_empty() {
        Err("does not match: it runs no command the rule could apply to".into())
    } else {
        Err(format!("does not match ({})", misses.join("; ")))
    }
}

fn prefix(doc: &Doc<'_>, value: &Spanned<DeValue<'_>>) -> Result<Vec<Pattern>, RulesError> {
    let DeValue::Array(items) = value.get_ref() else {
        return Err(doc.error(
            value.span(),
            "`prefix` must be an array: [\"git\", \"push\"]",
        ));
    };
    if items.is_empty() {
        return Err(doc.error(value.span(), "`prefix` must name at least the program"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = match item.get_ref() {
            DeValue::String(s) => Pattern::Word(s.to_string()),
            DeValue::Array(alts) => {
                let mut v = Vec::new();
                for a in alts {
                    match a.get_ref() {
                        DeValue::String(s) => v.push(s.to_string()),
                        _ => {
                            return Err(doc.error(
                                a.span(),
                                format!("`prefix[{i}]` alternatives must be strings"),
                            ))
                        }
                    }
                }
                if v.is_empty() {
                    return Err(doc.error(
                        item.span(),
                        format!("`prefix[{i}]` must list at least one word"),
                    ));
                }
                Pattern::AnyOf(v)
            }
            _ => {
                return Err(doc.error(
                    item.span(),
                    format!("`prefix[{i}]` must be a string or an array of strings"),
                ))
            }
        };
        for alt in p.alternatives() {
            if i == 0 && (alt.contains('/') || alt.is_empty()) {
                return Err(doc.error(item.span(), format!(
                    "`prefix[0]` is a bare program name: `/usr/bin/git` is matched as `git`, and other paths are never the real tool; not \"{alt}\""
                )));
            }
            if i == 0 && !alt.is_ascii() {
                return Err(doc.error(
                    item.span(),
                    format!(
                        "`prefix[0]` must be ASCII: \"{alt}\" would match a look-alike program"
                    ),
                ));
            }
        }
        out.push(p);
    }
    Ok(out)
}

/// One source text being read.
struct Doc<'a> {
    file: &'a str,
    text: &'a str,
    /// Byte offsets where lines start (0 first), for `location` in O(log n).
    line_starts: Vec<usize>,
}

impl Doc<'_> {
    fn location(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let line_start = self.line_starts[line - 1];
        let column = self.text[line_start..offset].chars().count() + 1;
        Location { line, column }
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> RulesError {
        self.error_at(self.location(span.start), message)
    }

    fn error_at(&self, at: Location, message: impl Into<String>) -> RulesError {
        RulesError {
            file: self.file.to_string(),
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }
}

type Entry<'t, 'i> = (&'t Spanned<DeString<'i>>, &'t Spanned<DeValue<'i>>);

/// The entries of `table` in source order.
fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut v: Vec<Entry<'t, 'i>> = table.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

fn unknown_key(
    doc: &Doc<'_>,
    key: &Spanned<DeString<'_>>,
    table: &str,
    expected: &[&str],
) -> RulesError {
    let list = expected
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let place = if table.is_empty() {
        String::new()
    } else {
        format!(" in [[{table}]]")
    };
    doc.error(
        key.span(),
        format!(
            "unknown key `{}`{place}; expected one of {list}",
            key.get_ref()
        ),
    )
}

fn type_name(v: &DeValue<'_>) -> String {
    let t = v.type_str();
    let a = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{a} {t}")
}

fn string(doc: &Doc<'_>, key: &str, value: &Spanned<DeValue<'_>>) -> Result<String, RulesError> {
    match value.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(doc.error(
            value.span(),
            format!("`{key}` must be a string, found {}", type_name(other)),
        )),
    }
}

fn boolean(doc: &Doc<'_>, key: &str, value: &Spanned<DeValue<'_>>) -> Result<bool, RulesError> {
    match value.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(doc.error(
            value.span(),
            format!("`{key}` must be true or false, found {}", type_name(other)),
        )),
    }
}

fn string_items(
    doc: &Doc<'_>,
    key: &str,
    value: &Spanned<DeValue<'_>>,
) -> Result<Vec<(String, Range<usize>)>, RulesError> {
    let DeValue::Array(items) = value.get_ref() else {
        return Err(doc.error(
            value.span(),
            format!(
                "`{key}` must be an array of strings, found {}",
                type_name(value.get_ref())
            ),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.get_ref() {
            DeValue::String(s) => Ok((s.to_string(), item.span())),
            other => Err(doc.error(
                item.span(),
                format!("`{key}[{i}]` must be a string, found {}", type_name(other)),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped defaults load with every example checked (`brig run` skips the check).
    #[test]
    fn defaults_examples_hold() {
        let checked = parse_rules(crate::DEFAULT_RULES_NAME, crate::DEFAULT_RULES).unwrap();
        let fast = default_rules_file().unwrap();
        assert_eq!(checked.rules.len(), fast.rules.len());
        assert!(checked.rules.iter().all(|r| !r.examples.is_empty()));
    }
}
