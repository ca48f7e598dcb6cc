//! Remembered approvals: once, for this session, or always.
//!
//! An approval that is remembered becomes a rule: the *narrowest* one, an `allow` rule whose
//! prefix is the command's whole argv and that matches nothing longer (`exact = true`). "Always"
//! rules are written to the user's own rules file (never the workspace); session rules live in
//! memory ([`crate::Rules::add`]). What may be remembered is limited:
//!
//! * a destructive command is approved once, every time (its dual approval is per run);
//! * a command that a shipped rule asks about (rather than "no rule knows it") would still be
//!   asked about, since the strictest rule wins, so it is not offered either;
//! * "always" is never offered for broad programs, whose exact argv still runs code that can
//!   change ([`can_remember_always`]).

use std::fmt::Write as _;

use serde::Serialize;

use crate::analyze::quote;
use crate::command;
use crate::rule::{Pattern, Rule};
use crate::rules::Rules;
use crate::verdict::Decision;
use crate::word::Word;

/// How long an approval is remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// This run only.
    Once,
    /// Until the brig session ends (a rule kept in memory).
    Session,
    /// From now on (a rule appended to the user's rules file).
    Always,
}

/// An approval to remember, as the rule that encodes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Remembered {
    /// How long.
    pub scope: Scope,
    /// The narrowest rule that allows exactly the approved command; `None` for [`Scope::Once`],
    /// which is not remembered beyond this run.
    pub rule: Option<Rule>,
}

/// Why an approval cannot be remembered for the scope asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RememberError {
    /// Destructive commands need dual approval each time.
    #[error("a destructive command is approved once, each time it runs")]
    Destructive,
    /// A rule forbids the command.
    #[error("rule `{0}` forbids this command")]
    Forbidden(String),
    /// A rule (not just the absence of one) asks about the command; an allow rule would not
    /// override it.
    #[error("rule or check `{0}` asks about this command, and a remembered approval would not override it")]
    StillAsks(String),
    /// "Always" is not offered for this program.
    #[error("\"always\" is not offered here: {0}")]
    TooBroad(String),
    /// The argv cannot be written as an exact rule.
    #[error("this command cannot be written as a rule: {0}")]
    NotExpressible(String),
}

/// Programs whose exact argv still runs code that can change (interpreters, shells), reaches
/// out (`curl`, `wget`), or runs another command (wrappers): never remembered "always".
const BROAD: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "ksh",
    "mksh",
    "zsh",
    "ash",
    "fish",
    "csh",
    "tcsh",
    "python",
    "python2",
    "python3",
    "python3*",
    "pypy",
    "pypy3",
    "node",
    "nodejs",
    "deno",
    "bun",
    "perl",
    "ruby",
    "irb",
    "php",
    "lua",
    "luajit",
    "Rscript",
    "julia",
    "pwsh",
    "powershell",
    "osascript",
    "tclsh",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "curl",
    "wget",
    "sudo",
    "doas",
    "su",
    "runuser",
    "env",
    "xargs",
    "nice",
    "ionice",
    "timeout",
    "nohup",
    "stdbuf",
    "time",
    "command",
    "builtin",
    "exec",
    "setsid",
    "eval",
    "source",
    ".",
    "watch",
    "chroot",
    "nsenter",
    "unshare",
    "flock",
    "parallel",
    "ssh",
    "npx",
    "pnpx",
    "bunx",
    "uvx",
    "pipx",
];

/// Why "always" is refused for `argv`, or `None` when it may be offered.
pub fn always_refusal(argv: &[String]) -> Option<String> {
    let Some(first) = argv.first() else {
        return Some("the command is empty".into());
    };
    let name = match command::program_name(&Word::fixed(first.clone())) {
        Ok(n) => n,
        Err(f) => return Some(f.detail),
    };
    if BROAD.iter().any(|b| crate::rule::glob_matches(b, &name)) {
        return Some(format!(
            "`{name}` runs code or other commands that can change from run to run"
        ));
    }
    if name == "git" && argv.len() == 1 {
        return Some("`git` alone is too broad".into());
    }
    if let Some(flag @ ("-c" | "-e")) = argv.get(1).map(String::as_str) {
        // Any other interpreter given code on the command line.
        return Some(format!(
            "`{name} {flag}` runs code given on the command line"
        ));
    }
    None
}

/// Whether "always" may be offered for this argv (see [`always_refusal`]).
pub fn can_remember_always(argv: &[String]) -> bool {
    always_refusal(argv).is_none()
}

/// The narrowest rule that allows exactly `argv`: its canonical words as the prefix, nothing
/// after them, and the command itself as the `match` example.
pub fn narrowest_rule(argv: &[String], justification: &str) -> Result<Rule, RememberError> {
    if argv.is_empty() {
        return Err(RememberError::NotExpressible("the command is empty".into()));
    }
    let resolved = command::resolve(argv.iter().map(Word::fixed).collect());
    if let Some(f) = resolved.findings.first() {
        return Err(RememberError::NotExpressible(f.detail.clone()));
    }
    if resolved.layers.len() != 1 || !resolved.matchable {
        return Err(RememberError::NotExpressible(
            "it runs through a wrapper; approve the wrapped command".into(),
        ));
    }
    let words: Vec<String> = resolved.layers[0]
        .argv
        .iter()
        .map(|w| w.text.clone())
        .collect();
    if let Some(w) = words.iter().find(|w| w.ends_with('*')) {
        return Err(RememberError::NotExpressible(format!(
            "the word `{w}` ends in `*`, which a rule reads as a wildcard"
        )));
    }
    let text = argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let mut rule = Rule::new(
        rule_id(&words),
        words.into_iter().map(Pattern::Word).collect(),
        Decision::Allow,
        justification,
    );
    rule.exact = true;
    rule.examples = vec![text];
    Ok(rule)
}

/// Checks that an approval of `argv` can be remembered for `scope` under `rules`, and returns
/// the rule to remember. `Once` is always possible.
pub fn remember(
    rules: &Rules,
    argv: &[String],
    scope: Scope,
    justification: &str,
) -> Result<Remembered, RememberError> {
    if scope == Scope::Once {
        return Ok(Remembered { scope, rule: None });
    }
    let verdict = rules.check_argv(argv);
    if let Some(r) = verdict
        .reasons
        .iter()
        .find(|r| r.decision == Decision::Forbid)
    {
        return Err(RememberError::Forbidden(r.id.clone()));
    }
    if verdict.destructive {
        return Err(RememberError::Destructive);
    }
    if let Some(r) = verdict
        .reasons
        .iter()
        .find(|r| r.decision == Decision::Ask && r.id != "unknown-program")
    {
        return Err(RememberError::StillAsks(r.id.clone()));
    }
    if scope == Scope::Always {
        if let Some(why) = always_refusal(argv) {
            return Err(RememberError::TooBroad(why));
        }
    }
    let rule = narrowest_rule(argv, justification)?;
    Ok(Remembered {
        scope,
        rule: Some(rule),
    })
}

/// `approved-<words>-<hash>`: readable and unique per argv.
fn rule_id(words: &[String]) -> String {
    let mut slug = String::new();
    for c in words.join("-").chars() {
        if slug.len() >= 40 {
            break;
        }
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    // FNV-1a over the words (with separators), so different argvs get different ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut id = format!("approved-{slug}-");
    let _ = write!(id, "{:08x}", h >> 32);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_rules;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn always_is_refused_for_broad_programs() {
        for argv in [
            &["bash", "-c", "ls"][..],
            &["sh", "-c", "ls"],
            &["python"],
            &["python3", "script.py"],
            &["python3.12", "-c", "print(1)"],
            &["node", "-e", "1"],
            &["node", "x.js"],
            &["perl", "-e", "1"],
            &["ruby", "-e", "1"],
            &["git"],
            &["curl", "https://example.com"],
            &["wget", "x"],
            &["sudo", "ls"],
            &["env", "ls"],
            &["xargs", "ls"],
            &["./build.sh"],
            &["/opt/tool", "x"],
            &["mytool", "-c", "code"],
            &[],
        ] {
            assert!(!can_remember_always(&s(argv)), "{argv:?}");
        }
        for argv in [
            &["cargo", "test"][..],
            &["git", "status"],
            &["make", "check"],
            &["npm", "test"],
            &["/usr/bin/make"],
        ] {
            assert!(can_remember_always(&s(argv)), "{argv:?}");
        }
    }

    #[test]
    fn the_narrowest_rule_matches_exactly_the_command() {
        let rule = narrowest_rule(
            &s(&["/usr/bin/cargo", "test", "-p", "my crate"]),
            "approved by alice",
        )
        .unwrap();
        assert!(
            rule.id.starts_with("approved-cargo-test-p-my-crate-"),
            "{}",
            rule.id
        );
        assert!(rule.exact);
        let toml = rule.to_toml();
        assert_eq!(
            toml,
            format!(
                "[[rule]]\nid = \"{}\"\nprefix = [\"cargo\", \"test\", \"-p\", \"my crate\"]\ndecision = \"allow\"\njustification = \"approved by alice\"\nexact = true\nmatch = [\"/usr/bin/cargo test -p 'my crate'\"]\n",
                rule.id
            )
        );
        // It loads back (its example is checked), equal to itself apart from the origin.
        let file = parse_rules("rules.toml", &toml).unwrap();
        let mut loaded = file.rules[0].clone();
        loaded.origin.clear();
        assert_eq!(loaded, rule);
        let rules = Rules::from_rules(file.rules);
        assert_eq!(
            rules.check("cargo test -p 'my crate'").decision,
            Decision::Allow
        );
        assert_eq!(
            rules.check("cargo test -p 'my crate' --release").decision,
            Decision::Ask
        );
        assert_eq!(rules.check("cargo test -p my").decision, Decision::Ask);
        assert_eq!(rules.check("cargo test -p \"$C\"").decision, Decision::Ask);
    }

    #[test]
    fn what_cannot_be_a_rule() {
        assert!(matches!(
            narrowest_rule(&s(&["ls", "*"]), "j"),
            Err(RememberError::NotExpressible(_))
        ));
        assert!(matches!(
            narrowest_rule(&s(&["git", "-c", "a=b", "log"]), "j"),
            Err(RememberError::NotExpressible(_))
        ));
        assert!(matches!(
            narrowest_rule(&s(&["sudo", "ls"]), "j"),
            Err(RememberError::NotExpressible(_))
        ));
        assert!(matches!(
            narrowest_rule(&s(&["./x"]), "j"),
            Err(RememberError::NotExpressible(_))
        ));
        // git's global options are not part of what rules see.
        let r = narrowest_rule(&s(&["git", "-C", "sub", "fetch"]), "j").unwrap();
        assert_eq!(
            r.prefix,
            vec![Pattern::Word("git".into()), Pattern::Word("fetch".into())]
        );
    }

    #[test]
    fn scopes() {
        let rules = Rules::defaults().unwrap();
        let ok = remember(&rules, &s(&["cargo", "test"]), Scope::Always, "j").unwrap();
        assert_eq!(ok.scope, Scope::Always);
        assert_eq!(
            remember(&rules, &s(&["git", "push"]), Scope::Session, "j"),
            Err(RememberError::Destructive)
        );
        assert_eq!(
            remember(&rules, &s(&["git", "push"]), Scope::Once, "j"),
            Ok(Remembered {
                scope: Scope::Once,
                rule: None
            })
        );
        assert!(matches!(
            remember(&rules, &s(&["python3", "x.py"]), Scope::Always, "j"),
            Err(RememberError::TooBroad(_))
        ));
        assert_eq!(
            remember(&rules, &s(&["python3", "x.py"]), Scope::Session, "j")
                .unwrap()
                .scope,
            Scope::Session
        );
        assert!(matches!(
            remember(&rules, &s(&["rm", "-rf", "/"]), Scope::Always, "j"),
            Err(RememberError::Forbidden(_))
        ));
        assert!(matches!(
            remember(
                &rules,
                &s(&["find", ".", "-exec", "ls", ";"]),
                Scope::Session,
                "j"
            ),
            Err(RememberError::StillAsks(_))
        ));
        // A session rule takes effect once added.
        let mut session = rules.clone();
        let r = remember(&rules, &s(&["cargo", "build"]), Scope::Session, "j").unwrap();
        assert_eq!(session.check("cargo build").decision, Decision::Ask);
        session.add(r.rule.unwrap());
        assert_eq!(session.check("cargo build").decision, Decision::Allow);
        assert_eq!(
            session.check("cargo build --release").decision,
            Decision::Ask
        );
    }
}
