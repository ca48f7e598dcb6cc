//! What a simple command runs: the program's real name, the wrappers it goes through, and the
//! built-in findings about it.
//!
//! * Program names: `/bin/rm` is `rm` only for the standard system directories; `./rm`,
//!   `bin/rm` and `/opt/x/rm` are unknown programs; a name with non-ASCII characters (`rм` with a
//!   Cyrillic `м`) is never the ASCII tool it looks like; a name only known at run time (`$X`,
//!   `$(…)`) is unknown.
//! * Wrappers (`env`, `sudo`, `doas`, `nice`, `ionice`, `timeout`, `nohup`, `stdbuf`, `time`,
//!   `command`, `builtin`, `exec`, `xargs`, `setsid`) are looked through: each is a *layer*, and
//!   rules decide on the command it runs. A wrapper is never known safe by itself.
//! * `git` and `cargo` have their global options removed (`git -C dir push` is `git push`); a
//!   git configuration override (`-c core.pager=sh`) is a finding of its own.

use crate::verdict::Decision;
use crate::word::Word;

/// Directories whose programs are the real tools of their name.
pub(crate) const SYSTEM_DIRS: &[&str] = &[
    "/bin/",
    "/usr/bin/",
    "/usr/local/bin/",
    "/sbin/",
    "/usr/sbin/",
];

/// Shells whose `-c` strings and standard input are parsed as shell code.
pub(crate) const SHELLS: &[&str] = &["sh", "bash", "dash", "ksh", "mksh", "zsh", "ash"];

/// A built-in reason about a simple command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The built-in reason id (`unknown-program`, `redirect-write`, ...).
    pub id: &'static str,
    pub decision: Decision,
    pub detail: String,
    /// The finding already accounts for the program (no "no rule matches" on top).
    pub known: bool,
}

impl Finding {
    pub fn ask(id: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            id,
            decision: Decision::Ask,
            detail: detail.into(),
            known: false,
        }
    }

    pub fn known(mut self) -> Finding {
        self.known = true;
        self
    }

    pub fn allow(id: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            id,
            decision: Decision::Allow,
            detail: detail.into(),
            known: true,
        }
    }
}

/// One program in a chain of wrappers: its argv, program first (as a bare name).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub argv: Vec<Word>,
}

/// A simple command, resolved.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resolved {
    /// Outermost first; the last layer is what finally runs.
    pub layers: Vec<Layer>,
    pub findings: Vec<Finding>,
    /// Whether rules may be matched against the last layer (its program has a real name).
    pub matchable: bool,
    /// Shell code a wrapper runs through a shell (`sudo -s 'a b'`): words to join and parse.
    pub shell_code: Option<Vec<Word>>,
    /// Files a wrapper writes (`time -o FILE`).
    pub writes: Vec<Word>,
}

impl Resolved {
    /// The bare name of the program that finally runs, if known.
    pub fn program(&self) -> Option<&str> {
        if !self.matchable {
            return None;
        }
        self.layers.last()?.argv.first()?.as_fixed()
    }
}

/// Resolves program names and wrappers. `words` is the whole argv, program first.
pub(crate) fn resolve(words: Vec<Word>) -> Resolved {
    let mut out = Resolved::default();
    let mut rest = words;
    loop {
        let Some(first) = rest.first() else {
            return out;
        };
        let name = match program_name(first) {
            Ok(n) => n,
            Err(f) => {
                out.findings.push(f);
                out.layers.push(Layer { argv: rest });
                return out;
            }
        };
        rest[0] = Word::fixed(name.clone());
        let Some(unwrapped) = unwrap(&name, &rest) else {
            // Not a wrapper: this is what runs.
            let (argv, findings) = canonical(rest);
            out.findings.extend(findings);
            out.layers.push(Layer { argv });
            out.matchable = true;
            return out;
        };
        out.findings.extend(unwrapped.findings);
        out.writes.extend(unwrapped.writes);
        let mut inner: Vec<Word> = match unwrapped.next {
            Next::Command(i) if i < rest.len() => rest[i..].to_vec(),
            // xargs without a command runs `echo`.
            Next::Command(_) | Next::None if name == "xargs" => vec![Word::fixed("echo")],
            Next::Command(_) | Next::None => {
                // The wrapper alone (`env`, `sudo -l`): it is what runs.
                out.layers.push(Layer { argv: rest });
                out.matchable = true;
                return out;
            }
            Next::Shell(i) => {
                out.shell_code = Some(rest.get(i..).unwrap_or(&[]).to_vec());
                out.layers.push(Layer { argv: rest });
                return out;
            }
        };
        if name == "xargs" {
            match &unwrapped.replace {
                Some(r) => {
                    for w in inner.iter_mut().skip(1) {
                        if w.text.contains(r.as_str()) {
                            *w = Word::unknown(w.text.clone());
                        }
                    }
                }
                None => inner.push(Word::unknown("<xargs input>")),
            }
        }
        out.layers.push(Layer { argv: rest });
        rest = inner;
    }
}

/// The bare name of the program `w` runs, or the finding that says why it has none.
pub(crate) fn program_name(w: &Word) -> Result<String, Finding> {
    let Some(text) = w.as_fixed() else {
        return Err(Finding::ask(
            "dynamic-program",
            format!(
                "the program `{}` is only known when the command runs",
                w.text
            ),
        )
        .known());
    };
    let name = if text.contains('/') {
        let base = SYSTEM_DIRS
            .iter()
            .find_map(|d| text.strip_prefix(d))
            .filter(|n| !n.is_empty() && !n.contains('/') && *n != "." && *n != "..");
        match base {
            Some(n) => n,
            None => {
                return Err(Finding::ask(
                    "not-system-program",
                    format!(
                        "`{text}` is a path outside {}: it runs whatever file is there, not the tool of that name",
                        SYSTEM_DIRS.join(", ")
                    ),
                )
                .known())
            }
        }
    } else {
        text
    };
    if name.is_empty() {
        return Err(Finding::ask("dynamic-program", "the program name is empty").known());
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii() || c.is_ascii_control()) {
        return Err(Finding::ask(
            "non-ascii-program",
            format!(
                "the program name `{name}` contains U+{:04X}: it is not the ASCII-named tool it may look like",
                u32::from(c)
            ),
        )
        .known());
    }
    Ok(name.to_string())
}

enum Next {
    /// The wrapped command starts at this index.
    Command(usize),
    /// Nothing is wrapped.
    None,
    /// The words from this index are joined and run by a shell.
    Shell(usize),
}

struct Unwrapped {
    next: Next,
    findings: Vec<Finding>,
    writes: Vec<Word>,
    /// xargs `-I R`: the replacement string.
    replace: Option<String>,
}

/// Option syntax of a wrapper.
struct Spec {
    /// Options without a value.
    flags: &'static [&'static str],
    /// Options whose value is attached (`--x=v`, `-xv`) or the next word.
    values: &'static [&'static str],
    /// Options whose value can only be attached (`-e[EOF]`).
    optional: &'static [&'static str],
    /// Options after which nothing is run.
    stop: &'static [&'static str],
    /// Options after which the remaining words are run by a shell.
    shell: &'static [&'static str],
    /// Operands before the command (`timeout DURATION`).
    positional: usize,
    /// `NAME=VALUE` words may precede the command.
    assignments: bool,
    /// A finding added whenever the wrapper is used.
    floor: Option<(&'static str, &'static str)>,
}

const NONE: &[&str] = &[];

fn spec(name: &str) -> Option<Spec> {
    let base = Spec {
        flags: NONE,
        values: NONE,
        optional: NONE,
        stop: NONE,
        shell: NONE,
        positional: 0,
        assignments: false,
        floor: None,
    };
    Some(match name {
        "env" => Spec {
            flags: &["-i", "--ignore-environment", "-0", "--null", "-v", "--debug", "--default-signal", "--ignore-signal", "--block-signal", "--list-signal-handling"],
            values: &["-u", "--unset", "-C", "--chdir"],
            shell: &["-S", "--split-string"],
            assignments: true,
            ..base
        },
        "sudo" => Spec {
            flags: &["-A", "--askpass", "-b", "--background", "-E", "--preserve-env", "-H", "--set-home", "-n", "--non-interactive", "-P", "--preserve-groups", "-S", "--stdin", "-k", "--reset-timestamp", "-B", "--bell", "-N", "--no-update"],
            values: &["-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h", "--host", "-p", "--prompt", "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user", "-R", "--chroot"],
            stop: &["-e", "--edit", "-l", "--list", "-v", "--validate", "-K", "--remove-timestamp", "-V", "--version", "--help"],
            shell: &["-s", "--shell", "-i", "--login"],
            assignments: true,
            floor: Some(("runs-as-another-user", "runs the command as another user (`sudo`); inside the sandbox it gains no privilege, but it is never known safe")),
            ..base
        },
        "doas" => Spec {
            flags: &["-n", "-L"],
            values: &["-u", "-C"],
            shell: &["-s"],
            floor: Some(("runs-as-another-user", "runs the command as another user (`doas`)")),
            ..base
        },
        "nice" => Spec {
            values: &["-n", "--adjustment"],
            ..base
        },
        "ionice" => Spec {
            flags: &["-t", "--ignore"],
            values: &["-c", "--class", "-n", "--classdata"],
            stop: &["-p", "--pid", "-P", "--pgid", "-u", "--uid"],
            ..base
        },
        "timeout" => Spec {
            flags: &["-v", "--verbose", "--preserve-status", "--foreground"],
            values: &["-s", "--signal", "-k", "--kill-after"],
            positional: 1,
            ..base
        },
        "nohup" | "builtin" => base,
        "stdbuf" => Spec {
            values: &["-i", "--input", "-o", "--output", "-e", "--error"],
            ..base
        },
        "time" => Spec {
            flags: &["-p", "--portability", "-v", "--verbose", "-a", "--append", "-q", "--quiet"],
            values: &["-f", "--format", "-o", "--output"],
            ..base
        },
        "command" => Spec {
            flags: &["-p"],
            stop: &["-v", "-V"],
            ..base
        },
        "exec" => Spec {
            flags: &["-c", "-l"],
            values: &["-a"],
            floor: Some(("exec", "`exec` replaces the shell with the command")),
            ..base
        },
        "xargs" => Spec {
            flags: &["-0", "--null", "-r", "--no-run-if-empty", "-t", "--verbose", "-p", "--interactive", "-x", "--exit", "-o", "--open-tty"],
            values: &["-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars", "--process-slot-var"],
            optional: &["-e", "--eof", "-i", "--replace", "-l", "--max-lines"],
            ..base
        },
        "setsid" => Spec {
            flags: &["-c", "--ctty", "-f", "--fork", "-w", "--wait"],
            ..base
        },
        _ => return None,
    })
}

/// Looks through wrapper `name`; `None` if it is not a wrapper.
fn unwrap(name: &str, argv: &[Word]) -> Option<Unwrapped> {
    let spec = spec(name)?;
    let mut u = Unwrapped {
        next: Next::None,
        findings: Vec::new(),
        writes: Vec::new(),
        replace: None,
    };
    if let Some((id, detail)) = spec.floor {
        u.findings.push(Finding::ask(id, detail));
    }
    let mut i = 1;
    let mut positional = spec.positional;
    while i < argv.len() {
        let w = &argv[i];
        let Some(t) = w.as_fixed() else {
            if w.may_be_option() {
                u.findings.push(Finding::ask(
                    "dynamic-wrapper-argument",
                    format!("`{}` of `{name}` is only known when the command runs: it may be an option that changes what runs", w.text),
                ));
            }
            break;
        };
        if t == "--" {
            i += 1;
            break;
        }
        if !t.starts_with('-') || t == "-" {
            break;
        }
        let (opt, attached) = match t.strip_prefix("--") {
            Some(long) => match long.split_once('=') {
                Some((n, _)) => (format!("--{n}"), true),
                None => (t.to_string(), false),
            },
            None => (t[..2.min(t.len())].to_string(), t.len() > 2),
        };
        if spec.stop.contains(&opt.as_str()) {
            u.next = Next::None;
            return Some(u);
        }
        if spec.shell.contains(&opt.as_str()) {
            u.findings.push(Finding::ask(
                "wrapper-runs-shell",
                format!("`{name} {opt}` runs the rest of the command line through a shell"),
            ));
            u.next = Next::Shell(i + 1);
            return Some(u);
        }
        let is_short = !t.starts_with("--");
        if spec.values.contains(&opt.as_str()) {
            let value = if attached {
                let v = if is_short {
                    &t[2..]
                } else {
                    t.split_once('=').map_or("", |(_, v)| v)
                };
                Some(Word::fixed(v))
            } else {
                i += 1;
                argv.get(i).cloned()
            };
            if name == "time" && (opt == "-o" || opt == "--output") {
                u.writes.extend(value.clone());
            }
            if name == "xargs" && opt == "-I" {
                u.replace = value.map(|v| v.text);
            }
            i += 1;
            continue;
        }
        if spec.optional.contains(&opt.as_str()) {
            if name == "xargs" && (opt == "-i" || opt == "--replace") {
                let r = if attached {
                    if is_short {
                        t[2..].to_string()
                    } else {
                        t.split_once('=')
                            .map_or(String::new(), |(_, v)| v.to_string())
                    }
                } else {
                    "{}".to_string()
                };
                u.replace = Some(r);
            }
            i += 1;
            continue;
        }
        let known_flag = if is_short {
            // A bundle of short flags (`-iv`), or `nice -10`.
            (name == "nice" && t[1..].chars().all(|c| c.is_ascii_digit()))
                || t[1..]
                    .chars()
                    .all(|c| spec.flags.contains(&format!("-{c}").as_str()))
        } else {
            spec.flags.contains(&opt.as_str())
        };
        if !known_flag {
            u.findings.push(Finding::ask(
                "unknown-wrapper-option",
                format!("`{t}` is not an option of `{name}` that brig knows; it is taken as a flag without a value"),
            ));
        }
        i += 1;
    }
    while positional > 0 && i < argv.len() {
        positional -= 1;
        i += 1;
    }
    if spec.assignments {
        while let Some(w) = argv.get(i) {
            match assignment_name(&w.text).filter(|_| w.fixed || !w.text.starts_with('$')) {
                Some(n) => {
                    if let Some(f) =
                        env_finding(n, w.text.split_once('=').map_or("", |(_, v)| v), name)
                    {
                        u.findings.push(f);
                    }
                    i += 1;
                }
                None => break,
            }
        }
    }
    u.next = if i < argv.len() {
        Next::Command(i)
    } else {
        Next::None
    };
    Some(u)
}

/// `NAME` of a `NAME=value` word.
fn assignment_name(text: &str) -> Option<&str> {
    let (name, _) = text.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some(name)
}

/// Environment variables that never change what a command does in a way that matters here.
const SAFE_ENV: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLUMNS",
    "LINES",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "RUST_TEST_THREADS",
    "CARGO_TERM_COLOR",
    "CARGO_INCREMENTAL",
    "CI",
    "DEBUG",
    "VERBOSE",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "NODE_ENV",
    "GIT_TERMINAL_PROMPT",
];

/// Variables that are harmless when set to `cat` (a pager that does nothing).
const PAGER_ENV: &[&str] = &["PAGER", "GIT_PAGER", "MANPAGER", "SYSTEMD_PAGER"];

/// The finding for setting environment variable `name` to `value` for a command (`via` names
/// where: `env`, `sudo` or the shell), or `None` when that is harmless.
pub(crate) fn env_finding(name: &str, value: &str, via: &str) -> Option<Finding> {
    let lower = name.chars().any(|c| c.is_ascii_lowercase())
        && !name.chars().any(|c| c.is_ascii_uppercase());
    let safe = SAFE_ENV.iter().any(|p| crate::rule::glob_matches(p, name))
        || (PAGER_ENV.contains(&name) && value == "cat")
        || lower;
    if safe {
        return None;
    }
    Some(Finding::ask(
        "sets-environment",
        format!("sets the environment variable `{name}` ({via}), which can change what the command runs or does"),
    ))
}

/// Removes global options before the subcommand of `git` and `cargo`.
fn canonical(argv: Vec<Word>) -> (Vec<Word>, Vec<Finding>) {
    match argv.first().and_then(Word::as_fixed) {
        Some("git") => git_canonical(argv),
        Some("cargo") => {
            let mut argv = argv;
            if argv
                .get(1)
                .and_then(Word::as_fixed)
                .is_some_and(|t| t.starts_with('+'))
            {
                argv.remove(1);
            }
            (argv, Vec::new())
        }
        _ => (argv, Vec::new()),
    }
}

const GIT_VALUES: &[&str] = &[
    "-C",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--super-prefix",
    "--list-cmds",
    "--attr-source",
];
const GIT_OVERRIDES: &[&str] = &["-c", "--config-env", "--exec-path"];
const GIT_FLAGS: &[&str] = &[
    "-p",
    "--paginate",
    "-P",
    "--no-pager",
    "--bare",
    "--no-replace-objects",
    "--literal-pathspecs",
    "--glob-pathspecs",
    "--noglob-pathspecs",
    "--icase-pathspecs",
    "--no-optional-locks",
    "--no-advice",
    "--no-lazy-fetch",
    "--html-path",
    "--man-path",
    "--info-path",
];

/// `git [global options] SUBCOMMAND ...` → `git SUBCOMMAND ...`.
fn git_canonical(argv: Vec<Word>) -> (Vec<Word>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut i = 1;
    while let Some(w) = argv.get(i) {
        let Some(t) = w.as_fixed() else { break };
        // `--version` and `--help` act like subcommands: rules see them.
        if !t.starts_with('-') || matches!(t, "--version" | "--help" | "-v" | "-h") {
            break;
        }
        let (opt, attached) = match t.split_once('=') {
            Some((o, _)) if t.starts_with("--") => (o, true),
            _ if !t.starts_with("--") && t.len() > 2 => (&t[..2], true),
            _ => (t, false),
        };
        if GIT_OVERRIDES.contains(&opt) {
            // `--exec-path` alone only prints the path.
            if opt != "--exec-path" || attached {
                let value = if attached {
                    t.to_string()
                } else {
                    format!("{t} {}", argv.get(i + 1).map_or("", |w| w.text.as_str()))
                };
                findings.push(Finding::ask(
                    "git-config-override",
                    format!("`git {value}` overrides git's configuration for this command; configuration can make git run programs (pager, editor, diff drivers)"),
                ));
                if !attached {
                    i += 1;
                }
            }
        } else if GIT_VALUES.contains(&opt) {
            if !attached {
                i += 1;
            }
        } else if !GIT_FLAGS.contains(&opt) {
            findings.push(Finding::ask(
                "unknown-git-option",
                format!(
                    "`{t}` is not a git option brig knows; it is taken as a flag without a value"
                ),
            ));
        }
        i += 1;
    }
    let mut out = vec![argv[0].clone()];
    out.extend(argv.into_iter().skip(i));
    (out, findings)
}

/// How a shell is asked to run code.
pub(crate) enum ShellRun {
    /// `-c STRING`: the index of the string.
    Code(usize),
    /// A script file operand.
    Script(usize),
    /// Commands from standard input.
    Stdin,
    /// An option brig does not know, or a run-time word where an option could be.
    Unsure(String),
}

/// Parses the options of a shell invocation (`bash -lc 'cmd'`, `sh script.sh`, `bash -s`).
pub(crate) fn shell_run(argv: &[Word]) -> ShellRun {
    let mut code = false;
    let mut stdin = false;
    let mut i = 1;
    while let Some(w) = argv.get(i) {
        let Some(t) = w.as_fixed() else {
            if w.may_be_option() && !code {
                return ShellRun::Unsure(format!(
                    "`{}` is only known when the command runs",
                    w.text
                ));
            }
            break;
        };
        if t == "--" || t == "-" {
            i += 1;
            break;
        }
        if let Some(long) = t.strip_prefix("--") {
            match long {
                "norc" | "noprofile" | "login" | "posix" | "noediting" | "verbose"
                | "restricted" => {}
                "rcfile" | "init-file" => i += 1,
                _ => return ShellRun::Unsure(format!("`{t}` is not a shell option brig knows")),
            }
            i += 1;
            continue;
        }
        if !(t.starts_with('-') || t.starts_with('+')) || t.len() < 2 {
            break;
        }
        for c in t[1..].chars() {
            match c {
                'c' => code = true,
                's' => stdin = true,
                'o' | 'O' => i += 1,
                'e' | 'u' | 'x' | 'v' | 'l' | 'i' | 'f' | 'h' | 'a' | 'b' | 'm' | 'n' | 'p'
                | 't' | 'B' | 'C' | 'E' | 'H' | 'P' | 'T' | 'r' | 'k' => {}
                _ => return ShellRun::Unsure(format!("`{t}` is not a shell option brig knows")),
            }
        }
        i += 1;
    }
    if code {
        ShellRun::Code(i)
    } else if stdin {
        // `-s`: commands from standard input, the operands are positional parameters.
        ShellRun::Stdin
    } else if i < argv.len() {
        ShellRun::Script(i)
    } else {
        ShellRun::Stdin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(v: &[&str]) -> Vec<Word> {
        v.iter().map(|s| Word::fixed(*s)).collect()
    }

    fn names(r: &Resolved) -> Vec<Vec<String>> {
        r.layers
            .iter()
            .map(|l| l.argv.iter().map(|w| w.text.clone()).collect())
            .collect()
    }

    #[test]
    fn system_paths_only() {
        assert_eq!(program_name(&Word::fixed("/bin/rm")).unwrap(), "rm");
        assert_eq!(
            program_name(&Word::fixed("/usr/local/bin/git")).unwrap(),
            "git"
        );
        for bad in [
            "./rm",
            "bin/ls",
            "/opt/bin/rm",
            "/bin/../tmp/rm",
            "/bin/",
            "/usr/bin/x/rm",
            "//bin/rm",
        ] {
            assert_eq!(
                program_name(&Word::fixed(bad)).unwrap_err().id,
                "not-system-program",
                "{bad}"
            );
        }
        assert_eq!(
            program_name(&Word::fixed("r\u{43c}")).unwrap_err().id,
            "non-ascii-program"
        );
        assert_eq!(
            program_name(&Word::unknown("$X")).unwrap_err().id,
            "dynamic-program"
        );
    }

    #[test]
    fn wrappers_are_looked_through() {
        let r = resolve(fixed(&[
            "sudo", "-u", "root", "env", "-i", "FOO=1", "nice", "-n", "5", "timeout", "-s", "KILL",
            "10", "rm", "-rf", "x",
        ]));
        assert_eq!(names(&r).last().unwrap(), &vec!["rm", "-rf", "x"]);
        assert_eq!(r.layers.len(), 5);
        assert!(r.matchable);
        // `-i` after FOO=1 is the command for env, not an option.
        let r = resolve(fixed(&["env", "FOO=1", "rm", "x"]));
        assert_eq!(names(&r).last().unwrap(), &vec!["rm", "x"]);
        assert!(r.findings.iter().any(|f| f.id == "sets-environment"));
        let r = resolve(fixed(&["env", "LANG=C", "ls"]));
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn xargs_appends_unknown_input() {
        let r = resolve(fixed(&["xargs", "-0", "rm", "-f"]));
        let last = &r.layers.last().unwrap().argv;
        assert_eq!(last[0].text, "rm");
        assert!(!last.last().unwrap().fixed);
        let r = resolve(fixed(&["xargs", "-I{}", "mv", "{}", "/tmp/"]));
        let last = &r.layers.last().unwrap().argv;
        assert!(!last[1].fixed && last[2].fixed && last.len() == 3);
        let r = resolve(fixed(&["xargs"]));
        assert_eq!(r.layers.last().unwrap().argv[0].text, "echo");
    }

    #[test]
    fn wrapper_without_command_is_the_program() {
        let r = resolve(fixed(&["env"]));
        assert_eq!(r.program(), Some("env"));
        let r = resolve(fixed(&["command", "-v", "git"]));
        assert_eq!(r.program(), Some("command"));
    }

    #[test]
    fn git_global_options_are_removed() {
        for argv in [
            &["git", "-C", "dir", "push"][..],
            &["git", "--git-dir=x", "push"],
            &[
                "git",
                "--git-dir",
                "x",
                "--work-tree",
                "y",
                "--no-pager",
                "push",
            ],
            &["/usr/bin/git", "-P", "push"],
        ] {
            let r = resolve(fixed(argv));
            assert_eq!(names(&r).last().unwrap(), &vec!["git", "push"], "{argv:?}");
            assert!(r.findings.is_empty());
        }
        let r = resolve(fixed(&["git", "-c", "core.pager=sh", "log"]));
        assert_eq!(names(&r).last().unwrap(), &vec!["git", "log"]);
        assert_eq!(r.findings[0].id, "git-config-override");
        let r = resolve(fixed(&["git", "--bogus", "push"]));
        assert_eq!(names(&r).last().unwrap(), &vec!["git", "push"]);
        assert_eq!(r.findings[0].id, "unknown-git-option");
    }

    #[test]
    fn shell_invocations() {
        assert!(matches!(
            shell_run(&fixed(&["bash", "-c", "x"])),
            ShellRun::Code(2)
        ));
        assert!(matches!(
            shell_run(&fixed(&["bash", "-lc", "x"])),
            ShellRun::Code(2)
        ));
        assert!(matches!(
            shell_run(&fixed(&["bash", "-e", "-o", "pipefail", "-c", "x"])),
            ShellRun::Code(5)
        ));
        assert!(matches!(
            shell_run(&fixed(&["sh", "x.sh"])),
            ShellRun::Script(1)
        ));
        assert!(matches!(shell_run(&fixed(&["sh", "-s"])), ShellRun::Stdin));
        assert!(matches!(
            shell_run(&fixed(&["sh", "-s", "--", "-y"])),
            ShellRun::Stdin
        ));
        assert!(matches!(shell_run(&fixed(&["bash"])), ShellRun::Stdin));
        assert!(matches!(
            shell_run(&fixed(&["bash", "--weird"])),
            ShellRun::Unsure(_)
        ));
    }
}
