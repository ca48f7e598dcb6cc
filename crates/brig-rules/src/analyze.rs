//! Walking a command line as the shell would run it, and deciding each simple command.
//!
//! The command line is parsed with `brush-parser` (a POSIX/bash parser). Every simple command
//! anywhere in it becomes a [`Part`]: in pipelines, `&&`/`||`/`;` lists, subshells, brace groups,
//! `if`/`while`/`for`/`case`, function bodies, command and process substitutions, here-documents
//! with expansions, the strings given to `sh -c`/`bash -c`/`eval`/`trap`, shell code fed to a
//! shell on standard input (`bash <<'EOF'`), and the commands `find -exec` and `xargs` run.
//! Each part is decided by the rules and by built-in findings; the command line's decision is the
//! strictest part ([`crate::Rules::check`]).
//!
//! What cannot be followed is never allowed: text that does not parse, nesting deeper than
//! [`MAX_NESTING`], shell code only known at run time, programs whose name is only known at run
//! time, and code the shell would evaluate inside arithmetic.

use std::collections::BTreeSet;

use brush_parser::ast::{
    self, AndOr, AssignmentName, AssignmentValue, Command, CommandPrefixOrSuffixItem,
    CompoundCommand, ExtendedTestExpr, IoFileRedirectKind, IoFileRedirectTarget, IoRedirect,
    SimpleCommand,
};
use brush_parser::ParserOptions;

use crate::command::{self, env_finding, shell_run, Finding, ShellRun, SHELLS};
use crate::matcher::{self, Ctx, Tri};
use crate::rule::Rule;
use crate::verdict::Decision;
use crate::word::{self, Substitutions, Word};

/// How many programs deep (`bash -c "$(sh -c '…')"`) brig follows before it gives up (ask).
pub(crate) const MAX_DEPTH: usize = 8;
/// How deeply brackets, compound commands and nested programs may nest (the parser is
/// recursive; deeper input is `ask`, never a crash).
pub(crate) const MAX_NESTING: usize = 40;
/// The longest command line brig analyzes.
pub(crate) const MAX_LEN: usize = 256 * 1024;

/// One cause for a part's decision.
#[derive(Clone, Debug)]
pub(crate) struct Cause {
    pub decision: Decision,
    pub destructive: bool,
    pub id: String,
    pub builtin: bool,
    pub detail: String,
    pub destroys: Vec<String>,
    /// For a rule: it certainly matched (not just maybe).
    pub certain: bool,
}

impl Cause {
    /// A built-in finding. What brig cannot read could be anything, destructive included: it
    /// needs dual approval.
    fn builtin(f: Finding) -> Cause {
        let unreadable = f.id == "unparsable";
        Cause {
            decision: f.decision,
            destructive: unreadable,
            id: f.id.to_string(),
            builtin: true,
            detail: f.detail,
            destroys: if unreadable {
                vec!["unknown: brig cannot read part of this command".to_string()]
            } else {
                Vec::new()
            },
            certain: true,
        }
    }
}

/// One simple command (or a piece that could not be understood) and its causes.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub command: String,
    /// The bare name of the program that runs, when known.
    pub program: Option<String>,
    pub causes: Vec<Cause>,
    /// In explain mode: why each rule did not certainly match this command.
    pub misses: Vec<(String, String)>,
}

impl Part {
    pub fn decision(&self) -> Decision {
        self.causes
            .iter()
            .map(|c| c.decision)
            .max()
            .unwrap_or(Decision::Allow)
    }
}

/// The walk over one command line.
pub(crate) struct Analyzer<'r> {
    rules: &'r [Rule],
    pub parts: Vec<Part>,
    tmpdir_trusted: bool,
    functions: BTreeSet<String>,
    depth: usize,
    /// How deep the walk is (programs and compound commands), for the nesting limit.
    level: usize,
    explain: bool,
    /// The program texts being walked, innermost last (spans index into them).
    sources: Vec<Vec<char>>,
}

impl<'r> Analyzer<'r> {
    /// An analyzer for one command line whose full text is `whole` (used to decide whether
    /// `$TMPDIR` can be trusted).
    pub fn new(rules: &'r [Rule], whole: &[&str], explain: bool) -> Analyzer<'r> {
        Analyzer {
            rules,
            parts: Vec::new(),
            tmpdir_trusted: whole.iter().all(|t| tmpdir_untouched(t)),
            functions: BTreeSet::new(),
            depth: 0,
            level: 0,
            explain,
            sources: Vec::new(),
        }
    }

    /// Analyzes shell code. Returns its output when that is known statically (a lone
    /// `cat <<'EOF'`), for command substitutions.
    pub fn program(&mut self, text: &str, stdin: &[String]) -> Option<String> {
        self.program_as(text, stdin, false)
    }

    /// Analyzes shell code only known at run time, as written (`sh -c "rm -rf $d"` runs at
    /// least `rm -rf …`). The caller has already said it is `ask`; this adds what can be seen
    /// in it, and a text that does not parse as written adds nothing.
    fn program_as_written(&mut self, text: &str, stdin: &[String]) {
        self.program_as(text, stdin, true);
    }

    fn program_as(&mut self, text: &str, stdin: &[String], as_written: bool) -> Option<String> {
        let shown = first_line(text);
        if as_written
            && (self.depth >= MAX_DEPTH
                || text.len() > MAX_LEN
                || self.level + nesting(text) > MAX_NESTING)
        {
            return None;
        }
        if self.depth >= MAX_DEPTH {
            self.problem(
                &shown,
                "unparsable",
                format!("shell code nested more than {MAX_DEPTH} levels deep is not followed"),
            );
            return None;
        }
        if text.len() > MAX_LEN {
            self.problem(
                &shown,
                "unparsable",
                format!("a command line longer than {MAX_LEN} bytes is not analyzed"),
            );
            return None;
        }
        if self.level + nesting(text) > MAX_NESTING {
            self.problem(&shown, "unparsable", format!("brackets and compound commands nested more than {MAX_NESTING} deep are not analyzed"));
            return None;
        }
        let mut parser = brush_parser::Parser::new(text.as_bytes(), &ParserOptions::default());
        let program = match parser.parse_program() {
            Ok(p) => p,
            Err(_) if as_written => return None,
            Err(e) => {
                self.problem(
                    &shown,
                    "unparsable",
                    format!("the shell cannot parse it: {e}"),
                );
                return None;
            }
        };
        let output = static_output(&program);
        self.depth += 1;
        self.level += 1;
        self.sources.push(text.chars().collect());
        for list in &program.complete_commands {
            self.list(list, stdin);
        }
        self.sources.pop();
        self.level -= 1;
        self.depth -= 1;
        output
    }

    /// Analyzes an argv run directly (no shell in between).
    pub fn argv(&mut self, argv: &[String]) {
        let words: Vec<Word> = argv.iter().map(Word::fixed).collect();
        let text = argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        if words.is_empty() {
            return;
        }
        self.invoke(text, words, Vec::new(), &[], &[], None);
    }

    fn problem(&mut self, command: &str, id: &'static str, detail: String) {
        self.parts.push(Part {
            command: command.to_string(),
            program: None,
            causes: vec![Cause::builtin(Finding::ask(id, detail))],
            misses: Vec::new(),
        });
    }

    fn list(&mut self, list: &ast::CompoundList, stdin: &[String]) {
        for item in &list.0 {
            self.pipeline(&item.0.first, stdin);
            for next in &item.0.additional {
                match next {
                    AndOr::And(p) | AndOr::Or(p) => self.pipeline(p, stdin),
                }
            }
        }
    }

    fn pipeline(&mut self, p: &ast::Pipeline, stdin: &[String]) {
        // What earlier stages run flows into later ones (transitively: `curl | cat | sh`).
        let mut fed: Vec<String> = stdin.to_vec();
        for cmd in &p.seq {
            let start = self.parts.len();
            self.command(cmd, &fed);
            let produced: Vec<String> = self.parts[start..]
                .iter()
                .filter_map(|p| p.program.clone())
                .collect();
            fed.extend(produced);
        }
    }

    fn command(&mut self, cmd: &Command, stdin: &[String]) {
        match cmd {
            Command::Simple(s) => self.simple(s, stdin),
            Command::Compound(c, redirects) => {
                self.compound(c, stdin);
                if let Some(r) = redirects {
                    self.redirect_only(&r.0, "compound command");
                }
            }
            Command::Function(f) => {
                self.functions.insert(f.fname.value.clone());
                self.compound(&f.body.0, &[]);
                if let Some(r) = &f.body.1 {
                    self.redirect_only(&r.0, "function");
                }
            }
            Command::ExtendedTest(t, redirects) => {
                self.extended_test(&t.expr);
                if let Some(r) = redirects {
                    self.redirect_only(&r.0, "test");
                }
            }
        }
    }

    fn compound(&mut self, c: &CompoundCommand, stdin: &[String]) {
        self.level += 1;
        self.compound_inner(c, stdin);
        self.level -= 1;
    }

    fn compound_inner(&mut self, c: &CompoundCommand, stdin: &[String]) {
        match c {
            CompoundCommand::Arithmetic(a) => {
                // The parser reads `( (cmd) )` as arithmetic; bash reads nested subshells unless
                // the source says `((`.
                let start = a.loc.start.index;
                let real = self
                    .sources
                    .last()
                    .is_some_and(|src| src.get(start..start + 2) == Some(&['(', '('][..]));
                if real {
                    self.arithmetic(&a.expr.value);
                } else {
                    let inner = a.expr.value.clone();
                    self.program(&inner, stdin);
                }
            }
            CompoundCommand::ArithmeticForClause(f) => {
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&e.value);
                }
                self.list(&f.body.list, stdin);
            }
            CompoundCommand::BraceGroup(b) => self.list(&b.list, stdin),
            CompoundCommand::Subshell(s) => self.list(&s.list, stdin),
            CompoundCommand::ForClause(f) => {
                if let Some(finding) = env_finding(&f.variable_name, "", "a `for` loop variable") {
                    self.finding_part(format!("for {} in …", f.variable_name), finding);
                }
                for w in f.values.iter().flatten() {
                    self.loose_word(&w.value);
                }
                self.list(&f.body.list, stdin);
            }
            CompoundCommand::CaseClause(c) => {
                self.loose_word(&c.value.value);
                for item in &c.cases {
                    for p in &item.patterns {
                        self.loose_word(&p.value);
                    }
                    if let Some(l) = &item.cmd {
                        self.list(l, stdin);
                    }
                }
            }
            CompoundCommand::IfClause(i) => {
                self.list(&i.condition, stdin);
                self.list(&i.then, stdin);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, stdin);
                    }
                    self.list(&e.body, stdin);
                }
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.list(&w.0, stdin);
                self.list(&w.1.list, stdin);
            }
            CompoundCommand::Coprocess(c) => self.command(&c.body, stdin),
        }
    }

    fn finding_part(&mut self, command: String, f: Finding) {
        self.parts.push(Part {
            command,
            program: None,
            causes: vec![Cause::builtin(f)],
            misses: Vec::new(),
        });
    }

    /// Arithmetic: pure, unless it can run code (a command substitution, or an array subscript
    /// with an expansion, which bash evaluates again).
    fn arithmetic(&mut self, expr: &str) {
        if expr.contains("$(") || expr.contains('`') || (expr.contains('[') && expr.contains('$')) {
            self.finding_part(
                format!("(( {expr} ))"),
                Finding::ask("code-in-arithmetic", "bash may run code inside this arithmetic (a command substitution or an array subscript)"),
            );
        }
    }

    /// A word outside a simple command (`for` values, `case` words): only its substitutions
    /// matter.
    fn loose_word(&mut self, raw: &str) {
        let mut subs = Subs::new(self);
        word::expand(raw, &mut subs);
        let problems = std::mem::take(&mut subs.problems);
        for p in problems {
            self.finding_part(first_line(raw), Finding::ask("unparsable", p));
        }
    }

    fn extended_test(&mut self, e: &ExtendedTestExpr) {
        let mut raws: Vec<&str> = Vec::new();
        collect_test_words(e, &mut raws);
        let mut causes = Vec::new();
        for raw in raws {
            let mut subs = Subs::new(self);
            let w = word::expand(raw, &mut subs);
            let problems = std::mem::take(&mut subs.problems);
            causes.extend(
                problems
                    .into_iter()
                    .map(|p| Cause::builtin(Finding::ask("unparsable", p))),
            );
            if w.fixed && (w.text.contains("$(") || w.text.contains('`')) {
                causes.push(Cause::builtin(Finding::ask(
                    "code-in-arguments",
                    format!("bash may evaluate `{}` as code (arithmetic comparisons and `-v` evaluate subscripts)", w.text),
                )));
            }
        }
        if causes.is_empty() {
            causes.push(Cause::builtin(Finding::allow(
                "test-expression",
                "a conditional expression only tests",
            )));
        }
        self.parts.push(Part {
            command: "[[ … ]]".into(),
            program: None,
            causes,
            misses: Vec::new(),
        });
    }

    /// Redirections of a compound command or function: a part of their own.
    fn redirect_only(&mut self, redirects: &[IoRedirect], what: &str) {
        let mut info = RedirectInfo::default();
        let mut subs = Subs::new(self);
        for r in redirects {
            info.add(r, &mut subs);
        }
        let problems = std::mem::take(&mut subs.problems);
        let mut causes: Vec<Cause> = problems
            .into_iter()
            .map(|p| Cause::builtin(Finding::ask("unparsable", p)))
            .collect();
        causes.extend(info.write_findings().into_iter().map(Cause::builtin));
        if !causes.is_empty() {
            let text = redirects
                .iter()
                .map(render_redirect)
                .collect::<Vec<_>>()
                .join(" ");
            self.parts.push(Part {
                command: format!("{what} {text}"),
                program: None,
                causes,
                misses: Vec::new(),
            });
        }
    }

    fn simple(&mut self, s: &SimpleCommand, stdin: &[String]) {
        let text = render_simple(s);
        let mut env: Vec<(String, Word)> = Vec::new();
        let mut words: Vec<Word> = Vec::new();
        let mut info = RedirectInfo::default();
        let (args_from, problems) = {
            let mut subs = Subs::new(self);
            let prefix = s.prefix.iter().flat_map(|p| p.0.iter());
            for item in prefix {
                match item {
                    CommandPrefixOrSuffixItem::AssignmentWord(a, _) => {
                        let value = match &a.value {
                            AssignmentValue::Scalar(v) => word::expand(&v.value, &mut subs),
                            AssignmentValue::Array(items) => {
                                for (k, v) in items {
                                    if let Some(k) = k {
                                        word::expand(&k.value, &mut subs);
                                    }
                                    word::expand(&v.value, &mut subs);
                                }
                                Word::unknown("(…)")
                            }
                        };
                        let name = match &a.name {
                            AssignmentName::VariableName(n)
                            | AssignmentName::ArrayElementName(n, _) => n.clone(),
                        };
                        env.push((name, value));
                    }
                    other => subs.item(other, &mut words, &mut info),
                }
            }
            if let Some(w) = &s.word_or_name {
                words.push(word::expand(&w.value, &mut subs));
            }
            for item in s.suffix.iter().flat_map(|p| p.0.iter()) {
                subs.item(item, &mut words, &mut info);
            }
            (
                std::mem::take(&mut subs.names),
                std::mem::take(&mut subs.problems),
            )
        };
        let mut findings: Vec<Finding> = problems
            .into_iter()
            .map(|p| Finding::ask("unparsable", p))
            .collect();
        let via = if words.is_empty() {
            "for the rest of the command line"
        } else {
            "for this command"
        };
        for (name, value) in &env {
            if let Some(f) = env_finding(name, &value.text, via) {
                findings.push(f);
            }
        }
        findings.extend(info.write_findings());
        let mut fed: Vec<String> = stdin.to_vec();
        fed.extend(info.stdin_from.iter().cloned());
        if words.is_empty() {
            if findings.is_empty() {
                findings.push(Finding::allow(
                    "assignment",
                    "only sets shell variables or opens files for reading",
                ));
            }
            self.parts.push(Part {
                command: text,
                program: None,
                causes: findings.into_iter().map(Cause::builtin).collect(),
                misses: Vec::new(),
            });
            return;
        }
        self.invoke(text, words, findings, &fed, &args_from, info.stdin_code);
    }

    /// Decides one simple command given as words.
    fn invoke(
        &mut self,
        text: String,
        words: Vec<Word>,
        mut findings: Vec<Finding>,
        stdin: &[String],
        args_from: &[String],
        stdin_code: Option<Word>,
    ) {
        let resolved = command::resolve(words);
        findings.extend(resolved.findings.iter().cloned());
        for w in &resolved.writes {
            if !is_sink(w) {
                findings.push(Finding::ask(
                    "redirect-write",
                    format!("writes the file `{}`", w.text),
                ));
            }
        }
        if let Some(code) = &resolved.shell_code {
            self.shell_code(code, stdin, &mut findings);
        }
        let program = resolved.program().map(str::to_string);
        let Some(last) = resolved.layers.last() else {
            return;
        };
        if let Some(p) = program.as_deref() {
            self.special(p, &last.argv, stdin, stdin_code, &mut findings);
        }
        let known = findings.iter().any(|f| f.known);
        let mut causes: Vec<Cause> = findings.into_iter().map(Cause::builtin).collect();
        let mut misses = Vec::new();
        let cx = Ctx {
            stdin_from: stdin,
            args_from,
            tmpdir_trusted: self.tmpdir_trusted,
            text: &text,
        };
        let mut allowed = false;
        let mut ruled = false;
        for (i, layer) in resolved.layers.iter().enumerate() {
            let is_last = i + 1 == resolved.layers.len();
            if is_last && !resolved.matchable {
                continue;
            }
            for rule in self.rules {
                if rule.decision == Decision::Allow && !is_last {
                    continue;
                }
                let m = matcher::check(rule, &layer.argv, &cx);
                let (decision, destructive) = match (m.tri, rule.decision) {
                    (Tri::Yes, d) => (d, rule.destructive),
                    (Tri::Maybe, Decision::Ask) => (Decision::Ask, rule.destructive),
                    (Tri::Maybe, Decision::Forbid) => (Decision::Ask, true),
                    _ => {
                        if self.explain && is_last {
                            misses.push((rule.id.clone(), m.why));
                        }
                        continue;
                    }
                };
                if self.explain && is_last && m.tri == Tri::Maybe {
                    misses.push((rule.id.clone(), m.why.clone()));
                }
                allowed |= is_last && decision == Decision::Allow;
                ruled |= is_last;
                let detail = if m.tri == Tri::Yes {
                    rule.justification.clone()
                } else {
                    format!(
                        "may match, since a word is only known when the command runs ({}): {}",
                        m.why, rule.justification
                    )
                };
                causes.push(Cause {
                    decision,
                    destructive,
                    id: rule.id.clone(),
                    builtin: false,
                    detail,
                    destroys: if destructive {
                        matcher::destroyed(rule, &layer.argv, &cx)
                    } else {
                        Vec::new()
                    },
                    certain: m.tri == Tri::Yes,
                });
            }
        }
        if !allowed && !known && !ruled {
            let name = program.as_deref().unwrap_or("?");
            causes.push(Cause::builtin(Finding::ask(
                "unknown-program",
                format!("no rule says `{name}` is safe here"),
            )));
        }
        self.parts.push(Part {
            command: text,
            program,
            causes,
            misses,
        });
    }

    /// Shell code a wrapper runs (`sudo -s …`, `env -S …`): the words joined.
    fn shell_code(&mut self, code: &[Word], stdin: &[String], findings: &mut Vec<Finding>) {
        if code.iter().all(|w| w.fixed) {
            let joined = code
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            if !joined.trim().is_empty() {
                self.program(&joined, stdin);
            }
        } else {
            findings.push(
                Finding::ask(
                    "dynamic-shell-code",
                    "the shell code is only known when the command runs",
                )
                .known(),
            );
            let written = code
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            self.program_as_written(&written, stdin);
        }
    }

    /// Programs that run code or change the shell.
    fn special(
        &mut self,
        program: &str,
        argv: &[Word],
        stdin: &[String],
        stdin_code: Option<Word>,
        findings: &mut Vec<Finding>,
    ) {
        let args = argv.get(1..).unwrap_or(&[]);
        match program {
            p if SHELLS.contains(&p) => match shell_run(argv) {
                ShellRun::Code(i) => match argv.get(i) {
                    Some(w) if w.fixed => {
                        self.program(&w.text, stdin);
                        findings.push(Finding::allow(
                            "shell-code",
                            format!("`{p} -c` runs shell code; each of its commands is checked"),
                        ));
                    }
                    Some(w) => {
                        findings.push(Finding::ask("dynamic-shell-code", format!("the code `{}` given to `{p} -c` is only known when the command runs", w.text)).known());
                        let written = w.text.clone();
                        self.program_as_written(&written, stdin);
                    }
                    None => findings.push(
                        Finding::ask("dynamic-shell-code", format!("`{p} -c` without code"))
                            .known(),
                    ),
                },
                ShellRun::Script(i) => findings.push(
                    Finding::ask(
                        "runs-script",
                        format!(
                            "runs the shell script `{}`, which brig does not check",
                            argv[i].text
                        ),
                    )
                    .known(),
                ),
                ShellRun::Stdin => match stdin_code {
                    Some(w) if w.fixed => {
                        self.program(&w.text, stdin);
                        findings.push(Finding::allow("shell-code", format!("`{p}` runs the here-document as shell code; each of its commands is checked")));
                    }
                    Some(_) => findings.push(
                        Finding::ask(
                            "dynamic-shell-code",
                            format!("the code `{p}` reads is only known when the command runs"),
                        )
                        .known(),
                    ),
                    None => findings.push(
                        Finding::ask(
                            "reads-stdin",
                            format!("`{p}` runs whatever shell code arrives on its standard input"),
                        )
                        .known(),
                    ),
                },
                ShellRun::Unsure(why) => {
                    findings.push(Finding::ask("unknown-shell-option", why).known())
                }
            },
            "eval" => {
                findings
                    .push(Finding::ask("eval", "`eval` runs its arguments as shell code").known());
                if args.iter().all(|w| w.fixed) {
                    let joined = args
                        .iter()
                        .map(|w| w.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.program(&joined, stdin);
                } else {
                    findings.push(Finding::ask(
                        "dynamic-shell-code",
                        "the code given to `eval` is only known when the command runs",
                    ));
                    let written = args
                        .iter()
                        .map(|w| w.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.program_as_written(&written, stdin);
                }
            }
            "source" | "." => findings.push(
                Finding::ask(
                    "runs-script",
                    format!(
                        "`{program}` runs a shell script in this shell, which brig does not check"
                    ),
                )
                .known(),
            ),
            "trap" => {
                match args.first() {
                    Some(w) if w.fixed && !w.text.starts_with('-') && args.len() >= 2 => {
                        self.program(&w.text, stdin);
                    }
                    Some(w) if !w.fixed => findings.push(Finding::ask(
                        "dynamic-shell-code",
                        "the code given to `trap` is only known when the command runs",
                    )),
                    _ => {}
                }
                findings.push(Finding::allow(
                    "trap",
                    "`trap` sets shell code to run on a signal; that code is checked",
                ));
            }
            "export" | "declare" | "typeset" | "local" | "readonly" | "unset" => {
                for w in args {
                    let t = &w.text;
                    if w.fixed && (t.starts_with('-') || t.starts_with('+')) {
                        if t.contains('n') {
                            findings.push(Finding::ask("sets-environment", format!("`{program} {t}` makes a name reference, which can set any variable")));
                        }
                        continue;
                    }
                    let (name, value) = t.split_once('=').unwrap_or((t, ""));
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid || w.lead.len() < name.len() {
                        findings.push(Finding::ask("sets-environment", format!("`{program} {t}`: which variable it sets is only known when the command runs")));
                    } else if let Some(f) = env_finding(name, value, &format!("`{program}`")) {
                        findings.push(f);
                    }
                }
                findings.push(Finding::allow(
                    "shell-variables",
                    format!("`{program}` only changes shell variables"),
                ));
            }
            "alias" => {
                // An alias's text runs as code wherever the alias is used.
                for w in args {
                    if let Some((_, code)) = w.text.split_once('=') {
                        let code = code.to_string();
                        self.program_as_written(&code, stdin);
                    }
                }
            }
            "fd" | "fdfind" => {
                if let Some(cmd) = fd_exec(argv) {
                    let text = cmd
                        .iter()
                        .map(|w| w.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.invoke(text, cmd, Vec::new(), &[], &[], None);
                }
            }
            "sed" if sed_prints_lines(args) => {
                findings.push(Finding::allow(
                    "sed-print",
                    "`sed -n` with a script of line numbers and `p` only prints lines",
                ));
            }
            "find" => {
                for cmd in find_exec(argv) {
                    let text = cmd
                        .iter()
                        .map(|w| w.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.invoke(text, cmd, Vec::new(), &[], &[], None);
                }
            }
            p if self.functions.contains(p) => {
                findings.push(Finding::allow("function-call", format!("calls the shell function `{p}` defined in this command line (its body is checked)")));
            }
            _ => {}
        }
        if matches!(
            program,
            "let"
                | "printf"
                | "read"
                | "test"
                | "["
                | "mapfile"
                | "readarray"
                | "unset"
                | "declare"
                | "typeset"
                | "local"
                | "export"
                | "wait"
        ) {
            for w in args.iter().filter(|w| w.fixed) {
                if w.text.contains("$(") || w.text.contains('`') {
                    findings.push(Finding::ask(
                        "code-in-arguments",
                        format!("`{program}` may evaluate `{}` as code (an array subscript or arithmetic)", w.text),
                    ));
                }
            }
        }
    }
}

/// The command substitution and redirection side of expansion, with access to the analyzer.
struct Subs<'s, 'r> {
    an: &'s mut Analyzer<'r>,
    /// Programs run by substitutions (for `args_from`).
    names: Vec<String>,
    problems: Vec<String>,
}

impl<'s, 'r> Subs<'s, 'r> {
    fn new(an: &'s mut Analyzer<'r>) -> Self {
        Subs {
            an,
            names: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Runs `f` on the analyzer and returns the programs of the parts it added.
    fn nested(&mut self, f: impl FnOnce(&mut Analyzer<'r>)) -> Vec<String> {
        let start = self.an.parts.len();
        f(self.an);
        self.an.parts[start..]
            .iter()
            .filter_map(|p| p.program.clone())
            .collect()
    }

    fn item(
        &mut self,
        item: &CommandPrefixOrSuffixItem,
        words: &mut Vec<Word>,
        info: &mut RedirectInfo,
    ) {
        match item {
            CommandPrefixOrSuffixItem::Word(w)
            | CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                words.push(word::expand(&w.value, self));
            }
            CommandPrefixOrSuffixItem::IoRedirect(r) => info.add(r, self),
            CommandPrefixOrSuffixItem::ProcessSubstitution(kind, sub) => {
                let names = self.nested(|an| an.list(&sub.list, &[]));
                self.names.extend(names);
                let op = match kind {
                    ast::ProcessSubstitutionKind::Read => "<",
                    ast::ProcessSubstitutionKind::Write => ">",
                };
                words.push(Word::path_placeholder(format!("{op}(…)")));
            }
        }
    }
}

impl Substitutions for Subs<'_, '_> {
    fn command(&mut self, program: &str) -> Option<String> {
        let mut output = None;
        let names = self.nested(|an| output = an.program(program, &[]));
        self.names.extend(names);
        output
    }

    fn problem(&mut self, what: String) {
        self.problems.push(what);
    }
}

/// What a simple command's redirections do.
#[derive(Default)]
struct RedirectInfo {
    /// Files written.
    writes: Vec<Word>,
    /// A here-document or here-string (what a shell reading stdin would run).
    stdin_code: Option<Word>,
    /// Programs feeding standard input through `< <(…)`.
    stdin_from: Vec<String>,
}

impl RedirectInfo {
    fn add(&mut self, r: &IoRedirect, subs: &mut Subs<'_, '_>) {
        match r {
            IoRedirect::File(_, kind, target) => match target {
                IoFileRedirectTarget::Filename(w) => {
                    let w = word::expand(&w.value, subs);
                    if matches!(
                        kind,
                        IoFileRedirectKind::Write
                            | IoFileRedirectKind::Append
                            | IoFileRedirectKind::Clobber
                            | IoFileRedirectKind::ReadAndWrite
                            | IoFileRedirectKind::DuplicateOutput
                    ) {
                        self.writes.push(w);
                    }
                }
                IoFileRedirectTarget::Duplicate(w) => {
                    let w = word::expand(&w.value, subs);
                    let fd_like = w.fixed
                        && !w.text.is_empty()
                        && w.text
                            .trim_end_matches('-')
                            .chars()
                            .all(|c| c.is_ascii_digit());
                    if !fd_like && matches!(kind, IoFileRedirectKind::DuplicateOutput) {
                        // `>&file` writes stdout and stderr to a file.
                        self.writes.push(w);
                    }
                }
                IoFileRedirectTarget::Fd(_) => {}
                IoFileRedirectTarget::ProcessSubstitution(pkind, sub) => {
                    let names = subs.nested(|an| an.list(&sub.list, &[]));
                    if matches!(pkind, ast::ProcessSubstitutionKind::Read) {
                        self.stdin_from.extend(names);
                    }
                }
            },
            IoRedirect::HereDocument(_, doc) => {
                self.stdin_code = Some(if doc.requires_expansion {
                    word::expand_heredoc(&doc.doc.value, subs)
                } else {
                    Word::fixed(doc.doc.value.clone())
                });
            }
            IoRedirect::HereString(_, w) => {
                self.stdin_code = Some(word::expand(&w.value, subs));
            }
            IoRedirect::OutputAndError(w, _) => {
                let w = word::expand(&w.value, subs);
                self.writes.push(w);
            }
        }
    }

    fn write_findings(&self) -> Vec<Finding> {
        self.writes
            .iter()
            .filter(|w| !is_sink(w))
            .map(|w| {
                Finding::ask(
                    "redirect-write",
                    format!("a redirection writes the file `{}`", w.text),
                )
            })
            .collect()
    }
}

/// Writing these changes no file.
fn is_sink(w: &Word) -> bool {
    matches!(
        w.as_fixed(),
        Some("/dev/null" | "/dev/stdout" | "/dev/stderr")
    )
}

/// `sed -n 'N,Mp' FILE…`: a script of line addresses and `p` (no `w`, `e`, `r` or regexes),
/// no in-place editing and no script files. Codex reads files this way.
fn sed_prints_lines(args: &[Word]) -> bool {
    let mut quiet = false;
    let mut script: Option<&str> = None;
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let Some(t) = w.as_fixed() else {
            // A run-time word could be `-i`, or the script.
            return false;
        };
        match t {
            "-n" | "--quiet" | "--silent" => quiet = true,
            "-E" | "-r" | "-s" | "-u" | "-z" | "--posix" | "--regexp-extended" | "--separate"
            | "--unbuffered" | "--null-data" => {}
            "-e" | "--expression" => {
                i += 1;
                match args.get(i).and_then(Word::as_fixed) {
                    Some(s) if script.is_none() => script = Some(s),
                    _ => return false,
                }
            }
            "--" => {
                if script.is_none() {
                    script = args.get(i + 1).and_then(Word::as_fixed);
                }
                break;
            }
            t if t.starts_with('-') && t.len() > 1 => {
                // Bundles of the flags above (`-nE`); anything else (`-i`, `-f`) is not known.
                if !t[1..].chars().all(|c| "nErsuz".contains(c)) {
                    return false;
                }
                quiet |= t.contains('n');
            }
            t => {
                if script.is_none() {
                    script = Some(t);
                }
            }
        }
        i += 1;
    }
    quiet
        && script.is_some_and(|s| {
            !s.trim().is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || ",$p; \n".contains(c))
        })
}

/// The commands `find -exec/-execdir/-ok/-okdir … ;` runs, with `{}` as a path.
fn find_exec(argv: &[Word]) -> Vec<Vec<Word>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        if matches!(
            argv[i].as_fixed(),
            Some("-exec" | "-execdir" | "-ok" | "-okdir")
        ) {
            let mut cmd = Vec::new();
            i += 1;
            while let Some(w) = argv.get(i) {
                if matches!(w.as_fixed(), Some(";" | "+")) {
                    break;
                }
                cmd.push(if w.text.contains("{}") {
                    Word::path_placeholder(w.text.clone())
                } else {
                    w.clone()
                });
                i += 1;
            }
            if !cmd.is_empty() {
                out.push(cmd);
            }
        }
        i += 1;
    }
    out
}

/// The command `fd -x/-X …` runs for each file: `{…}` placeholders are file names (which may
/// start with `-`), appended when there is none.
fn fd_exec(argv: &[Word]) -> Option<Vec<Word>> {
    let i = argv
        .iter()
        .position(|w| matches!(w.as_fixed(), Some("-x" | "--exec" | "-X" | "--exec-batch")))?;
    let mut cmd: Vec<Word> = Vec::new();
    let mut placeholder = false;
    for w in &argv[i + 1..] {
        if w.as_fixed() == Some(";") {
            break;
        }
        if w.text.contains('{') && w.text.contains('}') {
            placeholder = true;
            cmd.push(Word::one_unknown(w.text.clone()));
        } else {
            cmd.push(w.clone());
        }
    }
    if !placeholder {
        cmd.push(Word::one_unknown("<file>"));
    }
    (cmd.len() > 1 || placeholder).then_some(cmd)
}

/// The output of a program that is a lone `cat` of a here-document without expansions.
fn static_output(p: &ast::Program) -> Option<String> {
    let [list] = p.complete_commands.as_slice() else {
        return None;
    };
    let [item] = list.0.as_slice() else {
        return None;
    };
    if !item.0.additional.is_empty() {
        return None;
    }
    let [Command::Simple(s)] = item.0.first.seq.as_slice() else {
        return None;
    };
    if s.prefix.is_some() || s.word_or_name.as_ref()?.value != "cat" {
        return None;
    }
    let [CommandPrefixOrSuffixItem::IoRedirect(IoRedirect::HereDocument(None, doc))] =
        s.suffix.as_ref()?.0.as_slice()
    else {
        return None;
    };
    let body = &doc.doc.value;
    if doc.requires_expansion && (body.contains('$') || body.contains('`') || body.contains('\\')) {
        return None;
    }
    Some(body.trim_end_matches('\n').to_string())
}

fn collect_test_words<'a>(e: &'a ExtendedTestExpr, out: &mut Vec<&'a str>) {
    match e {
        ExtendedTestExpr::And(a, b) | ExtendedTestExpr::Or(a, b) => {
            collect_test_words(a, out);
            collect_test_words(b, out);
        }
        ExtendedTestExpr::Not(a) | ExtendedTestExpr::Parenthesized(a) => collect_test_words(a, out),
        ExtendedTestExpr::UnaryTest(_, w) => out.push(&w.value),
        ExtendedTestExpr::BinaryTest(_, a, b) => {
            out.push(&a.value);
            out.push(&b.value);
        }
    }
}

/// `$TMPDIR` keeps the value the sandbox gave it unless the command line names `TMPDIR` other
/// than to expand it (`TMPDIR=/`, `export TMPDIR`, `unset TMPDIR`, `read TMPDIR`).
fn tmpdir_untouched(text: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find("TMPDIR") {
        let before = &rest[..i];
        if !(before.ends_with('$') || before.ends_with("${")) {
            return false;
        }
        let after = &rest[i + "TMPDIR".len()..];
        if before.ends_with("${") && !after.starts_with('}') {
            // `${TMPDIR:=…}` assigns.
            return false;
        }
        rest = after;
    }
    true
}

/// A conservative measure of how deeply `text` nests (brackets, braces and compound commands),
/// ignoring quotes.
fn nesting(text: &str) -> usize {
    let mut depth: usize = 0;
    let mut max: usize = 0;
    let mut word = String::new();
    let mut escaped_backticks = 0;
    let mut prev = '\0';
    let bump = |word: &mut String, depth: &mut usize, max: &mut usize| {
        match word.as_str() {
            "if" | "while" | "until" | "for" | "case" | "select" => *depth += 1,
            "fi" | "done" | "esac" => *depth = depth.saturating_sub(1),
            _ => {}
        }
        *max = (*max).max(*depth);
        word.clear();
    };
    for c in text.chars() {
        match c {
            '(' | '{' | '[' => {
                bump(&mut word, &mut depth, &mut max);
                depth += 1;
                max = max.max(depth);
            }
            ')' | '}' | ']' => {
                bump(&mut word, &mut depth, &mut max);
                depth = depth.saturating_sub(1);
            }
            '`' if prev == '\\' => escaped_backticks += 1,
            c if c.is_ascii_alphanumeric() || c == '_' => word.push(c),
            _ => bump(&mut word, &mut depth, &mut max),
        }
        prev = c;
    }
    bump(&mut word, &mut depth, &mut max);
    max + escaped_backticks
}

fn first_line(text: &str) -> String {
    let trimmed = text.trim();
    match trimmed.split_once('\n') {
        Some((first, _)) => format!("{first} …"),
        None => trimmed.to_string(),
    }
}

/// Quotes one argument for display as shell input.
pub(crate) fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn render_simple(s: &SimpleCommand) -> String {
    let mut out: Vec<String> = Vec::new();
    let items = s
        .prefix
        .iter()
        .flat_map(|p| p.0.iter())
        .map(render_item)
        .chain(s.word_or_name.iter().map(|w| w.value.clone()))
        .chain(s.suffix.iter().flat_map(|p| p.0.iter()).map(render_item));
    out.extend(items);
    out.join(" ")
}

fn render_item(item: &CommandPrefixOrSuffixItem) -> String {
    match item {
        CommandPrefixOrSuffixItem::IoRedirect(r) => render_redirect(r),
        CommandPrefixOrSuffixItem::Word(w) | CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
            w.value.clone()
        }
        CommandPrefixOrSuffixItem::ProcessSubstitution(kind, s) => {
            let op = match kind {
                ast::ProcessSubstitutionKind::Read => "<",
                ast::ProcessSubstitutionKind::Write => ">",
            };
            format!("{op}({})", first_line(&s.list.to_string()))
        }
    }
}

fn render_redirect(r: &IoRedirect) -> String {
    let fd = |fd: &Option<i32>| fd.map(|f| f.to_string()).unwrap_or_default();
    match r {
        IoRedirect::File(n, kind, target) => {
            let op = match kind {
                IoFileRedirectKind::Read => "<",
                IoFileRedirectKind::Write => ">",
                IoFileRedirectKind::Append => ">>",
                IoFileRedirectKind::ReadAndWrite => "<>",
                IoFileRedirectKind::Clobber => ">|",
                IoFileRedirectKind::DuplicateInput => "<&",
                IoFileRedirectKind::DuplicateOutput => ">&",
            };
            let t = match target {
                IoFileRedirectTarget::Filename(w) | IoFileRedirectTarget::Duplicate(w) => {
                    w.value.clone()
                }
                IoFileRedirectTarget::Fd(f) => f.to_string(),
                IoFileRedirectTarget::ProcessSubstitution(_, s) => {
                    format!("({})", first_line(&s.list.to_string()))
                }
            };
            format!("{}{op}{t}", fd(n))
        }
        IoRedirect::HereDocument(n, d) => format!(
            "{}<<{}{}",
            fd(n),
            if d.remove_tabs { "-" } else { "" },
            d.here_end.value
        ),
        IoRedirect::HereString(n, w) => format!("{}<<<{}", fd(n), w.value),
        IoRedirect::OutputAndError(w, append) => {
            format!("{}{}", if *append { "&>>" } else { "&>" }, w.value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpdir_trust() {
        assert!(tmpdir_untouched("rm -rf $TMPDIR/x ${TMPDIR}/y"));
        assert!(!tmpdir_untouched("TMPDIR=/ rm -rf $TMPDIR/x"));
        assert!(!tmpdir_untouched("unset TMPDIR; rm -rf $TMPDIR/usr"));
        assert!(!tmpdir_untouched("rm -rf ${TMPDIR:=/}/x"));
        assert!(!tmpdir_untouched("export TMPDIR=/home"));
    }

    #[test]
    fn nesting_counts_brackets_and_keywords() {
        assert_eq!(nesting("ls -la"), 0);
        assert_eq!(nesting("(a) && (b)"), 1);
        assert_eq!(nesting("echo $(echo $(echo x))"), 2);
        assert_eq!(nesting("if a; then if b; then c; fi; fi"), 2);
        assert_eq!(nesting("iffy; done"), 0);
    }

    #[test]
    fn quoting_for_display() {
        assert_eq!(quote("ls"), "ls");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }
}
