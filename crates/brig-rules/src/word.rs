//! Words as the shell hands them to a program.
//!
//! Quoting, escapes and `$'…'` are removed exactly as the shell removes them, so `r''m`, `"rm"`,
//! `\rm` and `$'\x72m'` are all the word `rm`. What is only known when the command runs
//! (parameters, command substitution, arithmetic, `~`, globs and brace expansion) is kept as
//! written and the word is marked *not fixed*; the matcher then treats it as "could be anything
//! that starts with its fixed lead", and whether it could be an option or split into several
//! words.
//!
//! Command substitutions are handed to a [`Substitutions`] callback (the analyzer), which
//! checks the program inside and may know its output: `"$(cat <<'EOF' … EOF)"`, the way agents
//! write commit messages, is a fixed word.

use brush_parser::word::{Parameter, ParameterExpr, WordPiece, WordPieceWithSource};
use brush_parser::ParserOptions;

/// One argument of a simple command, after static expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    /// The argument when [`Word::fixed`]; otherwise a rendering with the run-time parts as
    /// written (`$HOME/x`, `*.rs`, `~/src`).
    pub text: String,
    /// `text` is exactly what the program receives, as one argument.
    pub fixed: bool,
    /// What the argument certainly starts with: the text before its first run-time part
    /// (`/` for a leading `~`). Equal to `text` when fixed.
    pub lead: String,
    /// What the argument certainly ends with: the fixed text after its last run-time part.
    /// Equal to `text` when fixed.
    pub tail: String,
    /// It could become zero or several arguments (an unquoted expansion, a glob, braces).
    pub may_split: bool,
    /// It starts with a plain `$TMPDIR` / `${TMPDIR}` and the rest is fixed text or a glob.
    pub tmpdir: bool,
    /// It contains a parameter, command substitution, arithmetic or `~` (other than a leading
    /// `$TMPDIR`), as opposed to only globs or braces.
    pub runtime: bool,
}

impl Word {
    /// A word known exactly.
    pub fn fixed(text: impl Into<String>) -> Word {
        let text = text.into();
        Word {
            lead: text.clone(),
            tail: text.clone(),
            text,
            fixed: true,
            may_split: false,
            tmpdir: false,
            runtime: false,
        }
    }

    /// A word that is only known when the command runs and may be anything, even several words
    /// (what `xargs` appends).
    pub fn unknown(text: impl Into<String>) -> Word {
        Word {
            text: text.into(),
            fixed: false,
            lead: String::new(),
            tail: String::new(),
            may_split: true,
            tmpdir: false,
            runtime: true,
        }
    }

    /// A run-time word that is exactly one argument, of any value (a file name `fd` passes).
    pub fn one_unknown(text: impl Into<String>) -> Word {
        Word {
            may_split: false,
            ..Word::unknown(text)
        }
    }

    /// A run-time word that is one argument and cannot start with `-` (`{}` of `find -exec`,
    /// which is a path under find's starting point).
    pub fn path_placeholder(text: impl Into<String>) -> Word {
        Word {
            text: text.into(),
            fixed: false,
            lead: "/".into(),
            tail: String::new(),
            may_split: false,
            tmpdir: false,
            runtime: true,
        }
    }

    /// The exact argument, when known.
    pub fn as_fixed(&self) -> Option<&str> {
        self.fixed.then_some(self.text.as_str())
    }

    /// Whether the argument could be `literal` when the command runs.
    pub fn may_equal(&self, literal: &str) -> bool {
        if self.fixed {
            return self.text == literal;
        }
        literal.len() >= self.lead.len() + self.tail.len()
            && literal.starts_with(&self.lead)
            && literal.ends_with(&self.tail)
    }

    /// Whether the argument is, or could be, an option (starts with `-`).
    pub fn may_be_option(&self) -> bool {
        if self.fixed {
            self.text.starts_with('-')
        } else {
            self.lead.is_empty() || self.lead.starts_with('-')
        }
    }
}

/// The analyzer's side of expansion: command substitutions and code that cannot be followed.
pub(crate) trait Substitutions {
    /// Called for each `$(…)` or `` `…` `` with the program inside, which the callee checks.
    /// Returns the substitution's output when it is known without running anything.
    fn command(&mut self, program: &str) -> Option<String>;
    /// Called with a description of code the shell would run that cannot be checked (a command
    /// substitution inside arithmetic, text that does not parse).
    fn problem(&mut self, what: String);
}

/// Expands one shell word (as it appears in the source) statically.
pub(crate) fn expand(raw: &str, subs: &mut dyn Substitutions) -> Word {
    match brush_parser::word::parse(raw, &ParserOptions::default()) {
        Ok(pieces) => {
            let mut b = Builder::default();
            b.walk(raw, &pieces, false, subs);
            b.finish()
        }
        Err(e) => {
            subs.problem(format!("cannot parse the word `{raw}`: {e}"));
            Word::unknown(raw)
        }
    }
}

/// Expands a here-document body (quotes are ordinary characters there). `None` when the body
/// does not parse; the problem has been reported.
pub(crate) fn expand_heredoc(body: &str, subs: &mut dyn Substitutions) -> Word {
    match brush_parser::word::parse_heredoc(body, &ParserOptions::default()) {
        Ok(pieces) => {
            let mut b = Builder::default();
            b.walk(body, &pieces, true, subs);
            b.finish()
        }
        Err(e) => {
            subs.problem(format!("cannot parse a here-document: {e}"));
            Word::unknown(body)
        }
    }
}

#[derive(Default)]
struct Builder {
    text: String,
    lead: String,
    tail: String,
    lead_done: bool,
    started: bool,
    may_split: bool,
    tmpdir: bool,
    runtime: bool,
    pattern: bool,
}

impl Builder {
    fn fixed(&mut self, s: &str) {
        self.text.push_str(s);
        self.tail.push_str(s);
        if !self.lead_done {
            self.lead.push_str(s);
        }
        self.started = true;
    }

    fn dynamic(&mut self, rendered: &str, splits: bool) {
        self.text.push_str(rendered);
        self.tail.clear();
        self.lead_done = true;
        self.started = true;
        self.may_split |= splits;
    }

    fn finish(self) -> Word {
        let fixed = !self.runtime && !self.pattern && !self.tmpdir;
        Word {
            lead: if fixed { self.text.clone() } else { self.lead },
            tail: if fixed { self.text.clone() } else { self.tail },
            text: self.text,
            fixed,
            may_split: self.may_split,
            tmpdir: self.tmpdir,
            runtime: self.runtime,
        }
    }

    fn walk(
        &mut self,
        raw: &str,
        pieces: &[WordPieceWithSource],
        quoted: bool,
        subs: &mut dyn Substitutions,
    ) {
        for p in pieces {
            let source = raw.get(p.start_index..p.end_index).unwrap_or("");
            match &p.piece {
                WordPiece::Text(t) if quoted => self.fixed(t),
                WordPiece::Text(t) => self.unquoted_text(t),
                WordPiece::SingleQuotedText(t) => self.fixed(t),
                WordPiece::AnsiCQuotedText(t) => self.fixed(&ansi_c(t)),
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    self.walk(raw, inner, true, subs);
                }
                WordPiece::EscapeSequence(e) => {
                    // `\x` stands for `x`; a backslash-newline disappears.
                    let c = e.strip_prefix('\\').unwrap_or(e);
                    if c != "\n" {
                        self.fixed(c);
                    }
                }
                WordPiece::TildeExpansion(_) => {
                    // `~` becomes a home directory: an absolute path, never an option.
                    if !self.lead_done {
                        self.lead.push('/');
                    }
                    self.runtime = true;
                    self.dynamic(source, false);
                }
                WordPiece::ParameterExpansion(expr) => {
                    for code in parameter_strings(expr) {
                        if code.contains("$(") || code.contains('`') || code.contains("$((") {
                            // Defaults and patterns are words of their own: check what they run.
                            let _ = expand(code, subs);
                        }
                    }
                    if !self.started && is_plain_tmpdir(expr) {
                        self.tmpdir = true;
                    } else {
                        self.runtime = true;
                    }
                    self.dynamic(source, !quoted);
                }
                WordPiece::CommandSubstitution(program)
                | WordPiece::BackquotedCommandSubstitution(program) => {
                    let output = subs.command(program);
                    match output {
                        // Inside double quotes the known output is one fixed argument.
                        Some(out) if quoted => self.fixed(&out),
                        _ => {
                            self.runtime = true;
                            self.dynamic(source, !quoted);
                        }
                    }
                }
                WordPiece::ArithmeticExpression(e) => {
                    if e.value.contains("$(") || e.value.contains('`') {
                        subs.problem(format!(
                            "a command substitution inside arithmetic `{source}` is not checked"
                        ));
                    }
                    self.runtime = true;
                    self.dynamic(source, !quoted);
                }
            }
        }
    }

    /// Unquoted text: fixed up to the first glob or brace expansion, and after the last one.
    fn unquoted_text(&mut self, t: &str) {
        match pattern_start(t) {
            None => self.fixed(t),
            Some(i) => {
                let end = t
                    .rfind(['*', '?', ']', '}', ')'])
                    .map_or(t.len(), |j| j + 1)
                    .max(i + 1);
                self.fixed(&t[..i]);
                self.pattern = true;
                self.dynamic(&t[i..end], true);
                self.fixed(&t[end..]);
            }
        }
    }
}

/// Where unquoted text starts to be a pattern the shell expands (glob, extglob, braces).
fn pattern_start(t: &str) -> Option<usize> {
    let bytes = t.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'*' | b'?' => return Some(i),
            b'[' if t[i + 1..].contains(']') => return Some(i),
            b'@' | b'!' | b'+' if bytes.get(i + 1) == Some(&b'(') => return Some(i),
            b'{' => {
                if let Some(end) = t[i..].find('}') {
                    let inner = &t[i + 1..i + end];
                    if inner.contains(',') || inner.contains("..") {
                        return Some(i);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

fn is_plain_tmpdir(expr: &ParameterExpr) -> bool {
    matches!(
        expr,
        ParameterExpr::Parameter { parameter: Parameter::Named(n), indirect: false } if n == "TMPDIR"
    )
}

/// The strings inside a parameter expansion that the shell expands or evaluates.
fn parameter_strings(expr: &ParameterExpr) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    match expr {
        ParameterExpr::Parameter { parameter, .. }
        | ParameterExpr::ParameterLength { parameter, .. }
        | ParameterExpr::Transform { parameter, .. } => {
            if let Parameter::NamedWithIndex { index, .. } = parameter {
                out.push(index);
            }
        }
        ParameterExpr::UseDefaultValues { default_value, .. }
        | ParameterExpr::AssignDefaultValues { default_value, .. } => {
            out.extend(default_value.as_deref());
        }
        ParameterExpr::IndicateErrorIfNullOrUnset { error_message, .. } => {
            out.extend(error_message.as_deref());
        }
        ParameterExpr::UseAlternativeValue {
            alternative_value, ..
        } => out.extend(alternative_value.as_deref()),
        ParameterExpr::RemoveSmallestSuffixPattern { pattern, .. }
        | ParameterExpr::RemoveLargestSuffixPattern { pattern, .. }
        | ParameterExpr::RemoveSmallestPrefixPattern { pattern, .. }
        | ParameterExpr::RemoveLargestPrefixPattern { pattern, .. }
        | ParameterExpr::UppercaseFirstChar { pattern, .. }
        | ParameterExpr::UppercasePattern { pattern, .. }
        | ParameterExpr::LowercaseFirstChar { pattern, .. }
        | ParameterExpr::LowercasePattern { pattern, .. } => out.extend(pattern.as_deref()),
        ParameterExpr::Substring { offset, length, .. } => {
            out.push(&offset.value);
            out.extend(length.as_ref().map(|l| l.value.as_str()));
        }
        ParameterExpr::ReplaceSubstring {
            pattern,
            replacement,
            ..
        } => {
            out.push(pattern);
            out.extend(replacement.as_deref());
        }
        ParameterExpr::VariableNames { .. } | ParameterExpr::MemberKeys { .. } => {}
    }
    out
}

/// Decodes the body of `$'…'` as bash does.
pub(crate) fn ansi_c(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push('\\');
            break;
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'e' | 'E' => out.push('\u{1b}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match it.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                out.extend(char::from_u32(v & 0xff));
            }
            'x' | 'u' | 'U' => {
                let max = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v: u32 = 0;
                let mut n = 0;
                while n < max {
                    match it.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v.wrapping_mul(16).wrapping_add(d);
                            it.next();
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.push('\\');
                    out.push(e);
                } else {
                    out.extend(char::from_u32(v));
                }
            }
            'c' => match it.next() {
                Some(x) => out.extend(char::from_u32(u32::from(x) & 0x1f)),
                None => out.push_str("\\c"),
            },
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSubs(Vec<String>);
    impl Substitutions for NoSubs {
        fn command(&mut self, program: &str) -> Option<String> {
            self.0.push(program.to_string());
            None
        }
        fn problem(&mut self, what: String) {
            self.0.push(format!("problem: {what}"));
        }
    }

    fn w(raw: &str) -> Word {
        expand(raw, &mut NoSubs(Vec::new()))
    }

    #[test]
    fn quoting_is_removed() {
        for raw in [
            "rm",
            "r''m",
            "\"rm\"",
            "\\rm",
            "r\\m",
            "$'\\x72m'",
            "$'\\162m'",
            "'r'\"m\"",
        ] {
            assert_eq!(w(raw), Word::fixed("rm"), "{raw}");
        }
        assert_eq!(w("'a b'").text, "a b");
        assert_eq!(w("\"a\\\"b\"").text, "a\"b");
        assert_eq!(w("\"a\\nb\"").text, "a\\nb");
        assert_eq!(w("'*'"), Word::fixed("*"));
        assert_eq!(w("\"\""), Word::fixed(""));
    }

    #[test]
    fn runtime_parts_are_marked() {
        let x = w("$X");
        assert!(!x.fixed && x.may_split && x.lead.is_empty() && x.may_be_option());
        let q = w("\"$X\"");
        assert!(!q.fixed && !q.may_split && q.may_be_option());
        let p = w("./$X");
        assert_eq!(p.lead, "./");
        assert!(!p.may_be_option() && !p.may_equal("-rf") && p.may_equal("./a"));
        let t = w("~/project/build");
        assert!(!t.may_equal("/") && t.may_equal("/home/u/project/build"));
        assert!(w("$X").may_equal("/"));
        let t = w("~/x");
        assert!(!t.fixed && !t.may_be_option() && t.text == "~/x" && t.lead == "/");
        let g = w("src/*.rs");
        assert!(!g.fixed && !g.runtime && g.lead == "src/" && g.tail == ".rs" && g.may_split);
        assert_eq!(g.text, "src/*.rs");
        let b = w("x{a,b}");
        assert!(!b.fixed && b.lead == "x");
        assert!(w("{-rf,x}").may_be_option());
        assert!(w("[").fixed, "a lone [ is the test command, not a glob");
        assert!(!w("a[bc]").fixed);
        assert!(!w("$((1+2))").fixed);
    }

    #[test]
    fn tmpdir_is_recognized_only_as_a_real_leading_expansion() {
        for raw in ["$TMPDIR/x", "${TMPDIR}/x", "\"$TMPDIR\"/x", "\"$TMPDIR/x\""] {
            let x = w(raw);
            assert!(x.tmpdir && !x.runtime && !x.fixed, "{raw}");
        }
        assert!(!w("'$TMPDIR/x'").tmpdir);
        assert!(w("'$TMPDIR/x'").fixed);
        let later = w("$TMPDIR/$X");
        assert!(later.tmpdir && later.runtime);
        assert!(!w("x$TMPDIR").tmpdir);
        assert!(!w("${TMPDIR:-/}x").tmpdir);
    }

    #[test]
    fn command_substitutions_are_reported_everywhere() {
        let mut subs = NoSubs(Vec::new());
        let x = expand("a\"$(b c)\"`d`${X:-$(e)}", &mut subs);
        assert!(!x.fixed);
        assert_eq!(subs.0, vec!["b c", "d", "e"]);
        let mut subs = NoSubs(Vec::new());
        expand("$((a[$(id)]))", &mut subs);
        assert!(subs.0[0].starts_with("problem:"), "{:?}", subs.0);
    }

    #[test]
    fn known_substitution_output_is_fixed_only_when_quoted() {
        struct Known;
        impl Substitutions for Known {
            fn command(&mut self, _: &str) -> Option<String> {
                Some("msg".into())
            }
            fn problem(&mut self, _: String) {}
        }
        assert_eq!(expand("\"$(cat)\"", &mut Known), Word::fixed("msg"));
        assert!(!expand("$(cat)", &mut Known).fixed);
    }

    #[test]
    fn ansi_c_escapes() {
        assert_eq!(ansi_c("a\\tb\\x41\\u00e9\\101\\'\\q"), "a\tbAéA'\\q");
        assert_eq!(ansi_c("\\cA"), "\u{1}");
        assert_eq!(ansi_c("\\x"), "\\x");
    }
}
