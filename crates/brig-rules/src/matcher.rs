//! Matching one rule against one simple command, with three answers.
//!
//! A word that is only known when the command runs (`$X`, `$(…)`, `*.rs`) could be anything
//! that starts with its fixed lead, so a condition on it is neither true nor false but *maybe*.
//! Each condition answers [`Tri`]; a rule's answer is the conjunction (a `No` anywhere wins, then
//! a `Maybe`). What a `Maybe` means depends on the rule ([`crate::analyze`]): it never allows,
//! it does ask, and a forbid rule that maybe matches asks and counts as destructive. This is what
//! makes `X=-rf; rm $X ~` destructive and `find . $X` not known safe.

use crate::rule::{glob_matches, Rule};
use crate::verdict::Decision;
use crate::word::Word;

/// A three-valued answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tri {
    No,
    Maybe,
    Yes,
}

impl Tri {
    fn and(self, other: Tri) -> Tri {
        self.min(other)
    }

    fn not(self) -> Tri {
        match self {
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
            Tri::Yes => Tri::No,
        }
    }
}

/// What the matcher needs besides the words.
pub(crate) struct Ctx<'a> {
    /// Programs of earlier stages of the same pipeline.
    pub stdin_from: &'a [String],
    /// Programs run by substitutions in the arguments.
    pub args_from: &'a [String],
    /// `$TMPDIR` is the sandbox's private temp dir (the command line does not change it).
    pub tmpdir_trusted: bool,
    /// The simple command as written, for `{command}`.
    pub text: &'a str,
}

/// The answer for one rule, and for `No`/`Maybe` the first condition that said so.
pub(crate) struct Outcome {
    pub tri: Tri,
    pub why: String,
}

/// Matches `rule` against `argv` (program first, as a bare name).
pub(crate) fn check(rule: &Rule, argv: &[Word], cx: &Ctx<'_>) -> Outcome {
    // An allow rule needs certainty: a run-time word never certainly equals a rule word, even
    // when it is written the same (`$HOME` the rule means literally is not `$HOME` expanded).
    let allow = rule.decision == Decision::Allow;
    let mut acc = Acc {
        tri: Tri::Yes,
        why: String::new(),
    };

    // The prefix, word by word. After a word that may split, positions are uncertain.
    let mut split_seen = false;
    for (i, pat) in rule.prefix.iter().enumerate() {
        let Some(w) = argv.get(i) else {
            let t = if split_seen { Tri::Maybe } else { Tri::No };
            acc.note(t, &|| {
                format!(
                    "it has {} words, the prefix needs {}",
                    argv.len(),
                    rule.prefix.len()
                )
            });
            break;
        };
        let t = if split_seen {
            Tri::Maybe
        } else {
            pat.alternatives()
                .iter()
                .map(|a| word_matches(a, w, allow))
                .max()
                .unwrap_or(Tri::No)
        };
        acc.note(t, &|| {
            format!(
                "word {} is `{}`, the prefix wants {}",
                i + 1,
                w.text,
                alternatives(pat.alternatives())
            )
        });
        split_seen |= w.may_split;
    }
    if acc.tri == Tri::No {
        return acc.outcome();
    }
    let rest = argv.get(rule.prefix.len()..).unwrap_or(&[]);
    let scan = Scan::new(rest, &rule.takes_value);

    if rule.exact {
        let t = if rest.is_empty() {
            Tri::Yes
        } else if rest.iter().all(|w| !w.fixed && w.may_split) {
            Tri::Maybe
        } else {
            Tri::No
        };
        acc.note(t, &|| "more words follow the prefix".to_string());
    }
    if !rule.any_flag.is_empty() {
        let t = scan.any_flag(&rule.any_flag);
        acc.note(t, &|| {
            format!(
                "none of the options {} is given",
                alternatives(&rule.any_flag)
            )
        });
    }
    if !rule.no_flag.is_empty() {
        let t = scan.any_flag(&rule.no_flag).not();
        acc.note(t, &|| {
            format!(
                "one of the options {} is or may be given",
                alternatives(&rule.no_flag)
            )
        });
    }
    if !rule.any_arg.is_empty() {
        let t = any_arg(rest, &rule.any_arg, allow);
        acc.note(t, &|| {
            format!("none of the words {} is given", alternatives(&rule.any_arg))
        });
    }
    if !rule.no_arg.is_empty() {
        let t = any_arg(rest, &rule.no_arg, allow).not();
        acc.note(t, &|| {
            format!(
                "one of the words {} is or may be given",
                alternatives(&rule.no_arg)
            )
        });
    }
    if rule.no_operands {
        let t = if scan.operands.iter().any(|w| w.fixed) {
            Tri::No
        } else if scan.operands.is_empty() {
            Tri::Yes
        } else {
            Tri::Maybe
        };
        acc.note(t, &|| "it has operands".to_string());
    }
    if rule.except_temp_operands {
        let outside = scan.operands.iter().any(|w| !in_temp(w, cx.tmpdir_trusted));
        let t = if outside { Tri::Yes } else { Tri::No };
        acc.note(t, &|| "every operand is inside /tmp or $TMPDIR".to_string());
    }
    if !rule.stdin_from.is_empty() {
        let t = any_program(cx.stdin_from, &rule.stdin_from);
        acc.note(t, &|| {
            format!(
                "nothing in {} pipes into it",
                alternatives(&rule.stdin_from)
            )
        });
    }
    if !rule.args_from.is_empty() {
        let t = any_program(cx.args_from, &rule.args_from);
        acc.note(t, &|| {
            format!(
                "none of {} runs in its arguments",
                alternatives(&rule.args_from)
            )
        });
    }
    acc.outcome()
}

/// The conjunction so far, and why it is not `Yes`.
struct Acc {
    tri: Tri,
    why: String,
}

impl Acc {
    fn note(&mut self, t: Tri, reason: &dyn Fn() -> String) {
        if t < self.tri {
            self.why = reason();
        }
        self.tri = self.tri.and(t);
    }

    fn outcome(self) -> Outcome {
        Outcome {
            tri: self.tri,
            why: self.why,
        }
    }
}

/// What `rule.destroys` names for this command.
pub(crate) fn destroyed(rule: &Rule, argv: &[Word], cx: &Ctx<'_>) -> Vec<String> {
    let rest = argv.get(rule.prefix.len()..).unwrap_or(&[]);
    let scan = Scan::new(rest, &rule.takes_value);
    let mut out = Vec::new();
    for template in &rule.destroys {
        out.extend(render(template, &scan, rest, cx));
    }
    out
}

/// Renders one `destroys` template. A template that is only a placeholder gives one entry per
/// item; a placeholder inside text gives one entry with the items joined by spaces.
fn render(template: &str, scan: &Scan<'_>, rest: &[Word], cx: &Ctx<'_>) -> Vec<String> {
    let Some(open) = template.find('{') else {
        return vec![template.to_string()];
    };
    let Some(close) = template[open..].find('}').map(|c| open + c) else {
        return vec![template.to_string()];
    };
    let inner = &template[open + 1..close];
    let (name, default) = match inner.split_once('|') {
        Some((n, d)) => (n, Some(d)),
        None => (inner, None),
    };
    let items: Vec<String> = if name == "command" {
        vec![cx.text.to_string()]
    } else if name == "operands" {
        scan.operands.iter().map(|w| w.text.clone()).collect()
    } else if let Some(n) = name.strip_prefix("operands:") {
        let skip = n.parse().unwrap_or(0);
        scan.operands
            .iter()
            .skip(skip)
            .map(|w| w.text.clone())
            .collect()
    } else if let Some(key) = name.strip_prefix("kv:") {
        let key = format!("{key}=");
        rest.iter()
            .filter_map(|w| w.text.strip_prefix(&key).map(str::to_string))
            .collect()
    } else {
        vec![format!("{{{inner}}}")]
    };
    let items = if items.is_empty() {
        vec![default.unwrap_or("(none named)").to_string()]
    } else {
        items
    };
    let (before, after) = (&template[..open], &template[close + 1..]);
    if before.is_empty() && after.is_empty() {
        items
    } else {
        vec![format!("{before}{}{after}", items.join(" "))]
    }
}

fn alternatives(v: &[String]) -> String {
    v.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Whether word `w` matches the rule word `pattern`. A run-time word written exactly as the
/// pattern (`~`, `$HOME`) matches textually, except for allow rules (`strict`), where it only
/// may match.
fn word_matches(pattern: &str, w: &Word, strict: bool) -> Tri {
    if pattern == "*" {
        return Tri::Yes;
    }
    if w.fixed {
        return if glob_matches(pattern, &w.text) {
            Tri::Yes
        } else {
            Tri::No
        };
    }
    // The rendering itself (`~`, `$HOME`) matches textually.
    if w.text == pattern {
        return if strict { Tri::Maybe } else { Tri::Yes };
    }
    match pattern.strip_suffix('*') {
        Some(stem) if w.lead.starts_with(stem) => Tri::Yes,
        Some(stem) if stem.starts_with(w.lead.as_str()) => Tri::Maybe,
        None if w.may_equal(pattern) => Tri::Maybe,
        _ => Tri::No,
    }
}

fn any_arg(rest: &[Word], patterns: &[String], strict: bool) -> Tri {
    rest.iter()
        .flat_map(|w| patterns.iter().map(move |p| word_matches(p, w, strict)))
        .max()
        .unwrap_or(Tri::No)
}

fn any_program(have: &[String], want: &[String]) -> Tri {
    if have.iter().any(|h| want.iter().any(|p| glob_matches(p, h))) {
        Tri::Yes
    } else {
        Tri::No
    }
}

/// Whether the option word `word` (fixed) is `spec`. `-x` specs also match inside bundles of
/// short options (`-rf`), `--long` specs also match abbreviations (`--rec`, as getopt accepts) and
/// `--long=value`; a spec ending in `*` matches any option starting with the text before it.
fn flag_matches(spec: &str, word: &str) -> bool {
    if let Some(stem) = spec.strip_suffix('*') {
        return word.starts_with(stem);
    }
    if let Some(long) = spec.strip_prefix("--") {
        let Some(given) = word.strip_prefix("--") else {
            return false;
        };
        let name = given.split('=').next().unwrap_or("");
        return !name.is_empty() && long.starts_with(name);
    }
    let short = &spec[1..];
    if short.chars().count() == 1 {
        // A bundle of short options: `-rf`, `-fdx`.
        return !word.starts_with("--") && word.len() > 1 && word[1..].contains(short);
    }
    // A single-dash long option (`-delete`, `-exec`).
    word == spec || word.strip_prefix(spec).is_some_and(|r| r.starts_with('='))
}

/// The words after the prefix, sorted into options, operands and option values.
struct Scan<'a> {
    /// Fixed option words before `--`.
    options: Vec<&'a str>,
    /// Run-time words before `--` that could be options.
    maybe_options: Vec<&'a Word>,
    /// Operands (run-time words count: they may be operands).
    operands: Vec<&'a Word>,
}

impl<'a> Scan<'a> {
    fn new(rest: &'a [Word], takes_value: &[String]) -> Scan<'a> {
        let mut s = Scan {
            options: Vec::new(),
            maybe_options: Vec::new(),
            operands: Vec::new(),
        };
        let mut ended = false;
        let mut skip_value = false;
        for w in rest {
            if skip_value {
                skip_value = false;
                continue;
            }
            if ended {
                s.operands.push(w);
                continue;
            }
            match w.as_fixed() {
                Some("--") => ended = true,
                Some(t) if t.starts_with('-') && t.len() > 1 => {
                    s.options.push(t);
                    skip_value = takes_value.iter().any(|v| v == t);
                }
                Some(_) => s.operands.push(w),
                None => {
                    if w.may_be_option() {
                        s.maybe_options.push(w);
                    }
                    s.operands.push(w);
                }
            }
        }
        s
    }

    fn any_flag(&self, specs: &[String]) -> Tri {
        if self
            .options
            .iter()
            .any(|o| specs.iter().any(|s| flag_matches(s, o)))
        {
            return Tri::Yes;
        }
        for w in &self.maybe_options {
            // A lead such as `-rf` in `-rf$X` already decides.
            if w.lead.len() > 1 && specs.iter().any(|s| flag_matches(s, &w.lead)) {
                return Tri::Yes;
            }
        }
        if self.maybe_options.is_empty() {
            Tri::No
        } else {
            Tri::Maybe
        }
    }
}

/// The standard temporary directories, as a path prefix.
const TEMP_ROOTS: &[&str] = &["/tmp/"];

/// Whether `w` is certainly a path strictly inside `/tmp` or (when trusted) `$TMPDIR`: no `..`,
/// no `.`-names that a glob could turn into `..`, nothing that is only known at run time except
/// globs.
pub(crate) fn in_temp(w: &Word, tmpdir_trusted: bool) -> bool {
    if w.runtime {
        return false;
    }
    let rest = if w.tmpdir {
        if !tmpdir_trusted {
            return false;
        }
        match w
            .text
            .strip_prefix("$TMPDIR/")
            .or_else(|| w.text.strip_prefix("${TMPDIR}/"))
        {
            Some(r) => r,
            None => return false,
        }
    } else {
        match TEMP_ROOTS.iter().find_map(|t| w.text.strip_prefix(t)) {
            Some(r) => r,
            None => return false,
        }
    };
    let parts: Vec<&str> = rest.split('/').filter(|c| !c.is_empty()).collect();
    !parts.is_empty()
        && parts.iter().all(|c| {
            *c != "."
                && !c.contains("..")
                && !(c.starts_with('.') && c.contains(['*', '?', '[', '{']))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Pattern;

    fn words(v: &[&str]) -> Vec<Word> {
        v.iter().map(|s| Word::fixed(*s)).collect()
    }

    fn cx() -> Ctx<'static> {
        Ctx {
            stdin_from: &[],
            args_from: &[],
            tmpdir_trusted: true,
            text: "",
        }
    }

    fn rule(prefix: &[&str]) -> Rule {
        Rule::new(
            "r",
            prefix
                .iter()
                .map(|p| Pattern::Word(p.to_string()))
                .collect(),
            Decision::Ask,
            "j",
        )
    }

    #[test]
    fn flags_match_bundles_abbreviations_and_values() {
        assert!(flag_matches("-r", "-rf"));
        assert!(flag_matches("-r", "-fr"));
        assert!(!flag_matches("-r", "-R"));
        assert!(!flag_matches("-r", "--recursive"));
        assert!(flag_matches("--recursive", "--recursive"));
        assert!(flag_matches("--recursive", "--rec"));
        assert!(flag_matches("--output", "--output=x"));
        assert!(!flag_matches("--force", "--format"));
        assert!(!flag_matches("--force", "--"));
        assert!(flag_matches("--delete*", "--delete-after"));
        assert!(flag_matches("-delete", "-delete"));
        assert!(!flag_matches("-delete", "-deletex"));
    }

    #[test]
    fn options_after_double_dash_are_operands() {
        let mut r = rule(&["rm"]);
        r.any_flag = vec!["-r".into()];
        assert_eq!(check(&r, &words(&["rm", "--", "-rf"]), &cx()).tri, Tri::No);
        assert_eq!(
            check(&r, &words(&["rm", "-rf", "--", "x"]), &cx()).tri,
            Tri::Yes
        );
    }

    #[test]
    fn option_values_are_skipped() {
        let mut r = rule(&["git", "commit"]);
        r.any_flag = vec!["--amend".into()];
        r.takes_value = vec!["-m".into()];
        let argv = words(&["git", "commit", "-m", "--amend"]);
        assert_eq!(check(&r, &argv, &cx()).tri, Tri::No);
        let argv = words(&["git", "commit", "--amend", "-m", "x"]);
        assert_eq!(check(&r, &argv, &cx()).tri, Tri::Yes);
    }

    #[test]
    fn run_time_words_are_maybe() {
        let mut r = rule(&["rm"]);
        r.any_flag = vec!["-r".into()];
        let argv = vec![Word::fixed("rm"), Word::unknown("$X"), Word::fixed("x")];
        assert_eq!(check(&r, &argv, &cx()).tri, Tri::Maybe);
        let p = rule(&["git", "push"]);
        let argv = vec![Word::fixed("git"), Word::unknown("$X")];
        assert_eq!(check(&p, &argv, &cx()).tri, Tri::Maybe);
        let placeholder = vec![Word::fixed("rm"), Word::path_placeholder("{}")];
        assert_eq!(check(&r, &placeholder, &cx()).tri, Tri::No);
    }

    #[test]
    fn temp_paths() {
        let t = |s: &str| in_temp(&Word::fixed(s), true);
        assert!(t("/tmp/x"));
        assert!(t("/tmp/a/b/"));
        assert!(!t("/tmp"));
        assert!(!t("/tmp/"));
        assert!(!t("/tmp/.."));
        assert!(!t("/tmp/../home"));
        assert!(!t("/tmp/./"));
        assert!(!t("/tmpx/y"));
        assert!(!t("tmp/x"));
        assert!(!t("/var/tmp/x"));
        let mut tmpdir = Word::unknown("$TMPDIR/x");
        tmpdir.tmpdir = true;
        tmpdir.runtime = false;
        assert!(in_temp(&tmpdir, true));
        assert!(!in_temp(&tmpdir, false));
    }

    #[test]
    fn destroys_templates() {
        let mut r = rule(&["git", "clean"]);
        r.destroys = vec![
            "untracked files in {operands|the working tree}".into(),
            "{operands}".into(),
        ];
        let c = cx();
        assert_eq!(
            destroyed(&r, &words(&["git", "clean", "-fd"]), &c),
            vec!["untracked files in the working tree", "(none named)"]
        );
        assert_eq!(
            destroyed(&r, &words(&["git", "clean", "-f", "a", "b"]), &c),
            vec!["untracked files in a b", "a", "b"]
        );
        let mut dd = rule(&["dd"]);
        dd.destroys = vec!["{kv:of}".into()];
        assert_eq!(
            destroyed(&dd, &words(&["dd", "if=x", "of=/dev/sda"]), &c),
            vec!["/dev/sda"]
        );
    }
}
