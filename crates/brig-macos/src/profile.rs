//! The Seatbelt profile of a plan: a pure function from [`EnforcementPlan`] to SBPL text.
//!
//! Seatbelt (`sandbox-exec`, the `sandbox_init` profile language, SBPL) evaluates the rules of a
//! profile in order and **the last rule that matches an operation wins**. The profile is
//! therefore built in layers, each later layer narrowing or widening the one before:
//!
//! 1. `(deny default)`: nothing is allowed that a later rule does not allow.
//! 2. Processes, `sysctl` reads and a short list of Mach services (each with its reason).
//! 3. `(allow file-read*)`: the whole filesystem is readable...
//! 4. ...`file-write*` beneath each writable root and the private temp dir (an SBPL parameter,
//!    `BRIG_TMPDIR`, given to `sandbox-exec -D` by the runner, so the text does not depend on
//!    the run), and a few device files;
//! 5. then `(deny file-write* (regex ...))` for every protected name at any depth of every
//!    writable root: a regex matches paths that do not exist yet, so creating `.envrc` or
//!    `sub/.git` is refused like writing into an existing one;
//! 6. then brig's own directories, then every secret path (`deny_read`: neither readable nor
//!    writable), after rules 3 and 4 so that they win;
//! 7. the network.
//!
//! Paths and names are matched **ASCII-case-insensitively** in every deny rule (macOS
//! filesystems are case-insensitive by default: `.GiT` is `.git`, `~/.SSH` is `~/.ssh`).
//! Everything put into the text is escaped twice: for regex syntax where it becomes a regex,
//! then for SBPL string syntax. Control characters (newlines included) and non-UTF-8 paths are
//! refused with an error rather than escaped: no legitimate workspace needs them, and refusing
//! is simpler to trust.
//!
//! Nothing here calls the OS; it is unit- and golden-tested on any host.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use brig_policy::{
    EnforcementPlan, GitAccess, Mode, NetworkMode, GIT_ALWAYS_PROTECTED, PROXY_PORT,
};

/// The SBPL parameter that names the private temp dir (`sandbox-exec -D BRIG_TMPDIR=...`).
pub const TMPDIR_PARAM: &str = "BRIG_TMPDIR";

/// The SBPL parameter that holds the private temp dir as a regex (see [`tmpdir_regex`]).
pub const TMPDIR_RE_PARAM: &str = "BRIG_TMPDIR_RE";

/// The value of [`TMPDIR_RE_PARAM`] for the temp dir `tmp`: the path as a case-insensitive
/// regex, without anchors.
pub fn tmpdir_regex(tmp: &Path) -> Result<String, ProfileError> {
    Ok(regex_ci(trim_slash(path_str("temp dir", tmp)?)))
}

/// Mach services the command may look up, each with the reason it needs it. Everything else is
/// denied: services are brokers outside the sandbox that act with the user's full rights, so
/// each one is a possible way out (`com.apple.cfprefsd.*` writes preference files anywhere in
/// `~/Library/Preferences`, `com.apple.SecurityServer` hands out keychain items; both are left
/// out on purpose).
pub const MACH_SERVICES: &[(&str, &str)] = &[
    (
        "com.apple.system.opendirectoryd.libinfo",
        "user and group lookups (getpwuid, getgrgid): whoami, id, git, ssh, most shells",
    ),
    (
        "com.apple.system.notification_center",
        "notify(3), which libSystem uses to learn about time zone and configuration changes",
    ),
    (
        "com.apple.system.logger",
        "syslog(3) and the legacy logging of system libraries",
    ),
    (
        "com.apple.logd",
        "os_log(3): system frameworks log through it and misbehave when it is unreachable",
    ),
];

/// Mach services allowed only when the network is not off.
pub const NETWORK_MACH_SERVICES: &[(&str, &str)] = &[(
    "com.apple.trustd.agent",
    "certificate evaluation for TLS (curl, git over https, package managers), also through the proxy",
)];

/// Mach services allowed only with the host's network (`on`): DNS goes through mDNSResponder,
/// which would otherwise be a way to send data out with the network off.
pub const DNS_MACH_SERVICES: &[(&str, &str)] = &[(
    "com.apple.dnssd.service",
    "name resolution (getaddrinfo asks mDNSResponder); only with the host's network",
)];

/// Device files the command may open for writing, with the reason.
const WRITABLE_DEVICES: &[(&str, &str)] = &[
    ("/dev/null", "the usual sink"),
    ("/dev/zero", "read and written by dd and test suites"),
    (
        "/dev/tty",
        "prompts of git, ssh and sudo-less tools on the controlling terminal",
    ),
];

/// A generated profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    text: String,
}

impl Profile {
    /// The SBPL text, for `sandbox-exec -p`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Why no profile can be generated for a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// `danger-full-access` has no profile: the runner must not call `sandbox-exec` at all.
    #[error("danger-full-access runs without a sandbox: there is no Seatbelt profile for it")]
    Unconfined,
    /// A path contains a control character (a newline, a tab, ...).
    #[error("{what} `{}` contains a control character; brig refuses to put it into a Seatbelt profile (rename the directory)", path.escape_debug())]
    ControlCharacter {
        /// Which path (`writable root`, `secret path`, ...).
        what: &'static str,
        /// The path, lossily converted.
        path: String,
    },
    /// A path is not valid UTF-8.
    #[error("{what} `{path}` is not valid UTF-8; brig refuses to put it into a Seatbelt profile")]
    NotUtf8 {
        /// Which path.
        what: &'static str,
        /// The path, lossily converted.
        path: String,
    },
    /// A path is relative (a bug in the caller: plans hold absolute paths).
    #[error("{what} `{path}` is not absolute")]
    NotAbsolute {
        /// Which path.
        what: &'static str,
        /// The path, lossily converted.
        path: String,
    },
    /// A protected name cannot be turned into a rule.
    #[error("protected name `{}` cannot be enforced: {why}", name.escape_debug())]
    BadProtectedName {
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
    },
    /// One of brig's own directories lies inside (or contains) a writable root.
    #[error("brig's directory `{dir}` overlaps the writable root `{root}`; brig refuses to run (move the workspace or brig's state)")]
    BrigDirInRoot {
        /// brig's directory.
        dir: String,
        /// The writable root.
        root: String,
    },
}

/// The profile for `plan`. See the module documentation for its layout.
pub fn seatbelt_profile(plan: &EnforcementPlan) -> Result<Profile, ProfileError> {
    seatbelt_profile_with_brig_dirs(plan, &[])
}

/// [`seatbelt_profile`], plus a `file-write*` deny for each of brig's own directories (state,
/// configuration). They lie outside the writable roots by construction (`brig-policy` refuses
/// such plans); this checks it again on the final paths and fails if not.
pub fn seatbelt_profile_with_brig_dirs(
    plan: &EnforcementPlan,
    brig_dirs: &[PathBuf],
) -> Result<Profile, ProfileError> {
    if plan.mode == Mode::DangerFullAccess {
        return Err(ProfileError::Unconfined);
    }
    let roots: Vec<&str> = match plan.mode {
        Mode::ReadOnly => Vec::new(),
        _ => plan
            .writable_roots
            .iter()
            .map(|r| path_str("writable root", r))
            .collect::<Result<_, _>>()?,
    };
    let roots: Vec<&str> = roots.into_iter().map(trim_slash).collect();
    for d in brig_dirs {
        let d = trim_slash(path_str("brig directory", d)?);
        if let Some(root) = roots.iter().find(|r| is_within(d, r) || is_within(r, d)) {
            return Err(ProfileError::BrigDirInRoot {
                dir: d.to_string(),
                root: root.to_string(),
            });
        }
    }
    let rules = protected_rules(&plan.protected_names, plan.git)?;

    let mut p = String::new();
    p.push_str("(version 1)\n");
    p.push_str("; Generated by brig from the enforcement plan. Rules are evaluated in order and\n");
    p.push_str("; the LAST rule that matches wins: every deny below an allow narrows it.\n");
    let _ = writeln!(
        p,
        "; mode {}, network {}.",
        plan.mode.as_str(),
        plan.network.as_str()
    );
    p.push_str("(deny default)\n\n");

    p.push_str(
        "; Processes: run programs, fork, signal and inspect only processes of this sandbox.\n",
    );
    p.push_str("(allow process-exec)\n(allow process-fork)\n");
    p.push_str("(allow signal (target same-sandbox))\n");
    p.push_str("(allow process-info* (target same-sandbox))\n");
    p.push_str("(allow sysctl-read)\n\n");

    p.push_str("; Mach services (everything else is denied).\n");
    let mut services: Vec<(&str, &str)> = MACH_SERVICES.to_vec();
    if plan.network != NetworkMode::Off {
        services.extend_from_slice(NETWORK_MACH_SERVICES);
    }
    if plan.network == NetworkMode::On {
        services.extend_from_slice(DNS_MACH_SERVICES);
    }
    for (name, why) in services {
        let _ = writeln!(p, "; {why}");
        let _ = writeln!(p, "(allow mach-lookup (global-name {}))", sbpl_string(name));
    }
    p.push('\n');

    p.push_str("; Reads: everything, except the secret paths denied further down.\n");
    p.push_str("(allow file-read*)\n\n");

    p.push_str("; Writes: devices, the private temp dir and the writable roots.\n");
    for (dev, why) in WRITABLE_DEVICES {
        let _ = writeln!(
            p,
            "(allow file-write* (literal {})) ; {why}",
            sbpl_string(dev)
        );
    }
    p.push_str(
        "(allow file-write* (subpath \"/dev/fd\")) ; /dev/fd/N duplicates an open descriptor\n",
    );
    let _ = writeln!(
        p,
        "(allow file-write* (subpath (param \"{TMPDIR_PARAM}\")))"
    );
    for r in &roots {
        let _ = writeln!(p, "(allow file-write* (subpath {}))", sbpl_string(r));
    }
    p.push('\n');

    if !rules.is_empty() {
        p.push_str(
            "; Protected names, at any depth of every writable root, existing or not, in any\n\
             ; letter case. After the allows above, so they win. The private temp dir gets them\n\
             ; too: otherwise `mv ROOT/sub $TMPDIR/sub`, an edit of `sub/.git/hooks` there and\n\
             ; a move back would get around them (its regex is the BRIG_TMPDIR_RE parameter).\n",
        );
        for r in &roots {
            for rule in &rules {
                let re = rule.regex(r);
                let _ = writeln!(p, "(deny file-write* (regex {}))", sbpl_string(&re));
            }
        }
        for rule in &rules {
            let _ = writeln!(
                p,
                "(deny file-write* (regex (string-append \"^\" (param \"{TMPDIR_RE_PARAM}\") {})))",
                sbpl_string(&rule.below())
            );
        }
        p.push('\n');
    }

    if !brig_dirs.is_empty() {
        p.push_str("; brig's own state and configuration: never writable.\n");
        for d in brig_dirs {
            let d = trim_slash(path_str("brig directory", d)?);
            let _ = writeln!(p, "(deny file-write* {})", subtree_filters(d));
        }
        p.push('\n');
    }

    if !plan.deny_read.is_empty() {
        p.push_str(
            "; Secret paths: neither readable nor writable. After the broad allows, so they win.\n",
        );
        for s in &plan.deny_read {
            let s = trim_slash(path_str("secret path", s)?);
            let _ = writeln!(p, "(deny file-read* file-write* {})", subtree_filters(s));
        }
        p.push('\n');
    }

    p.push_str("; Network.\n");
    match plan.network {
        NetworkMode::Off => p.push_str("(deny network*)\n"),
        NetworkMode::Allowlist => {
            p.push_str("(deny network*)\n");
            p.push_str(
                "; Only brig's proxy, on the loopback; it decides which hosts are reached.\n",
            );
            let _ = writeln!(
                p,
                "(allow network-outbound (remote ip \"localhost:{PROXY_PORT}\"))"
            );
        }
        NetworkMode::On => {
            p.push_str("; The host's network, unfiltered (IP only; Unix sockets as below).\n");
            p.push_str("(allow network-outbound (remote ip \"*:*\"))\n");
            p.push_str("(allow network-bind network-inbound (local ip \"*:*\"))\n");
        }
    }
    p.push_str(
        "; Unix sockets: only inside the writable roots and the private temp dir, never the\n",
    );
    p.push_str("; host's (docker.sock, ssh-agent, ...).\n");
    let mut socket_dirs = vec![format!("(subpath (param \"{TMPDIR_PARAM}\"))")];
    socket_dirs.extend(
        roots
            .iter()
            .map(|r| format!("(subpath {})", sbpl_string(r))),
    );
    for d in &socket_dirs {
        let _ = writeln!(
            p,
            "(allow network-bind network-inbound (local unix-socket {d}))"
        );
        let _ = writeln!(p, "(allow network-outbound (remote unix-socket {d}))");
    }
    Ok(Profile { text: p })
}

/// The filters that match `path` and everything beneath it: the exact `subpath`, and a
/// case-insensitive regex (a different letter case names the same file), for `/private`
/// aliases too (`/tmp`, `/var` and `/etc` are symlinks into `/private`, and Seatbelt matches
/// the resolved path).
fn subtree_filters(path: &str) -> String {
    let mut out = Vec::new();
    let mut variants = vec![path.to_string()];
    for alias in ["/tmp", "/var", "/etc"] {
        if is_within(path, alias) {
            variants.push(format!("/private{path}"));
        }
    }
    for v in &variants {
        out.push(format!("(subpath {})", sbpl_string(v)));
        out.push(format!(
            "(regex {})",
            sbpl_string(&format!("^{}(/.*)?$", regex_ci(v)))
        ));
    }
    out.join(" ")
}

/// One protected-name rule: `NAME` (and what is beneath it) at any depth, or only `NAME/SUB...`
/// for the `.git` entries of [`GitAccess::LocalCommit`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct NameRule {
    /// The regex for the name component (already escaped).
    name: String,
    /// `None`: the name and everything beneath it. `Some(alternation)`: the entry itself
    /// (`$`) and these entries beneath it.
    only: Option<String>,
}

impl NameRule {
    /// The regex for this rule beneath `root` (no trailing slash).
    fn regex(&self, root: &str) -> String {
        let root = if root == "/" { "" } else { root };
        format!("^{}{}", regex_ci(root), self.below())
    }

    /// The part of the regex after the root: any depth, the name, what is beneath it.
    fn below(&self) -> String {
        let base = format!("(/.*)?/{}", self.name);
        match &self.only {
            None => format!("{base}(/.*)?$"),
            Some(subs) => format!("{base}(/({subs})(/.*)?)?$"),
        }
    }
}

/// The rules for `names`, refusing names that cannot be one path component.
fn protected_rules(names: &[String], git: GitAccess) -> Result<Vec<NameRule>, ProfileError> {
    let mut out = Vec::new();
    for n in names {
        let bad = |why| ProfileError::BadProtectedName {
            name: n.clone(),
            why,
        };
        let (lit, prefix) = match n.strip_suffix('*') {
            Some(p) => (p, true),
            None => (n.as_str(), false),
        };
        if lit.is_empty() {
            return Err(bad("it is empty (a bare `*` would protect everything)"));
        }
        if lit.contains('/') {
            return Err(bad("it contains `/` (a name is one path component)"));
        }
        if lit.contains('*') {
            return Err(bad("`*` is allowed only at the end"));
        }
        if !prefix && (lit == "." || lit == "..") {
            return Err(bad("`.` and `..` are not names"));
        }
        if lit.chars().any(char::is_control) {
            return Err(bad("it contains a control character"));
        }
        let mut name = regex_ci(lit);
        if prefix {
            name.push_str("[^/]*");
        }
        let only = (git == GitAccess::LocalCommit && !prefix && lit.eq_ignore_ascii_case(".git"))
            .then(|| {
                GIT_ALWAYS_PROTECTED
                    .iter()
                    .map(|s| regex_ci(s))
                    .collect::<Vec<_>>()
                    .join("|")
            });
        out.push(NameRule { name, only });
    }
    Ok(out)
}

/// The raw regex (before SBPL string escaping) that protects `name` at any depth of `root`.
/// For tests and `brig doctor`-style explanations.
pub fn protected_name_regex(root: &Path, name: &str) -> Result<String, ProfileError> {
    let root = trim_slash(path_str("writable root", root)?);
    let rules = protected_rules(&[name.to_string()], GitAccess::ReadOnly)?;
    Ok(rules[0].regex(root))
}

/// `path` as UTF-8, absolute, without control characters.
fn path_str<'a>(what: &'static str, path: &'a Path) -> Result<&'a str, ProfileError> {
    let s = path.to_str().ok_or_else(|| ProfileError::NotUtf8 {
        what,
        path: path.to_string_lossy().into_owned(),
    })?;
    if s.chars().any(char::is_control) {
        return Err(ProfileError::ControlCharacter {
            what,
            path: s.to_string(),
        });
    }
    if !s.starts_with('/') {
        return Err(ProfileError::NotAbsolute {
            what,
            path: s.to_string(),
        });
    }
    Ok(s)
}

/// `/a/b/` → `/a/b`; `/` stays `/`.
fn trim_slash(s: &str) -> &str {
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}

/// `path` is `dir` or beneath it (component-wise; both without trailing slashes).
fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// A regex that matches `s` literally, ASCII letters in either case (`.Git` → `\.[gG][iI][tT]`).
/// Every regex metacharacter is escaped with a backslash; other characters stand for themselves.
pub fn regex_ci(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 4);
    for c in s.chars() {
        if c.is_ascii_alphabetic() {
            out.push('[');
            out.push(c.to_ascii_lowercase());
            out.push(c.to_ascii_uppercase());
            out.push(']');
        } else if ".^$*+?()[]{}|\\".contains(c) {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` as an SBPL string literal: in quotes, with `"` and `\` escaped. The caller has refused
/// control characters.
pub fn sbpl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(root: &str, name: &str) -> regex::Regex {
        let raw = protected_name_regex(Path::new(root), name).unwrap();
        regex::Regex::new(&raw).unwrap()
    }

    #[test]
    fn a_protected_name_matches_at_any_depth_in_any_case_and_nothing_else() {
        let git = re("/ws", ".git");
        for yes in [
            "/ws/.git",
            "/ws/.git/config",
            "/ws/a/b/.GIT/hooks/x",
            "/ws/sub/.GiT",
            "/ws/.git/hooks/pre-commit",
            "/WS/.git",
        ] {
            assert!(git.is_match(yes), "{yes} should match");
        }
        for no in [
            "/ws/.gitignore",
            "/ws/x.git",
            "/other/.git",
            "/wsx/.git",
            "/ws",
            "/ws/a/.gitmodules",
            "/ws/agit",
            "/w/.git",
        ] {
            assert!(!git.is_match(no), "{no} should not match");
        }
        let envrc = re("/ws", ".envrc");
        assert!(envrc.is_match("/ws/.envrc"));
        assert!(envrc.is_match("/ws/deep/down/.ENVRC"));
        assert!(!envrc.is_match("/ws/.envrc.bak"));
    }

    #[test]
    fn a_trailing_star_is_a_prefix_of_one_component() {
        let brig = re("/ws", ".brig*");
        for yes in [
            "/ws/.brig",
            "/ws/.brig.toml",
            "/ws/a/.BRIG-x/y",
            "/ws/.Brig",
        ] {
            assert!(brig.is_match(yes), "{yes} should match");
        }
        for no in ["/ws/.bri", "/ws/x.brig", "/ws/a.brig/b", "/elsewhere/.brig"] {
            assert!(!brig.is_match(no), "{no} should not match");
        }
    }

    #[test]
    fn metacharacters_in_roots_and_names_are_literal() {
        let root = "/Users/me/my (proj) [v1.0]+$^|{x}\\ \"q\"";
        let r = re(root, "a.b");
        assert!(r.is_match(&format!("{root}/a.b")));
        assert!(r.is_match(&format!("{root}/x/A.B/c")));
        assert!(!r.is_match(&format!("{root}/aXb")));
        assert!(!r.is_match("/Users/me/my (proj) [v1.0]+$^|{x}\\ \"q\"x/a.b"));
        let plus = re("/ws", "c++*");
        assert!(plus.is_match("/ws/c++17"));
        assert!(!plus.is_match("/ws/cc"));
    }

    #[test]
    fn sbpl_strings_escape_quotes_and_backslashes() {
        assert_eq!(sbpl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(regex_ci("a.\\"), "[aA]\\.\\\\");
    }

    #[test]
    fn bad_names_and_paths_are_refused_with_a_reason() {
        for (name, why) in [
            ("*", "empty"),
            ("a/b", "contains `/`"),
            ("a*b", "only at the end"),
            ("..", "not names"),
            ("a\nb", "control character"),
        ] {
            let e = protected_name_regex(Path::new("/ws"), name).unwrap_err();
            assert!(e.to_string().contains(why), "{name}: {e}");
        }
        let e = protected_name_regex(Path::new("/ws\nx"), ".git").unwrap_err();
        assert!(matches!(e, ProfileError::ControlCharacter { .. }), "{e}");
        let e = protected_name_regex(Path::new("ws"), ".git").unwrap_err();
        assert!(matches!(e, ProfileError::NotAbsolute { .. }), "{e}");
    }

    #[test]
    fn local_commit_leaves_objects_writable_but_not_hooks_or_config() {
        let rules = protected_rules(&[".git".into()], GitAccess::LocalCommit).unwrap();
        let r = regex::Regex::new(&rules[0].regex("/ws")).unwrap();
        for yes in [
            "/ws/.git",
            "/ws/.git/hooks/pre-commit",
            "/ws/a/.GIT/config",
            "/ws/.git/info/exclude",
        ] {
            assert!(r.is_match(yes), "{yes} should match");
        }
        for no in [
            "/ws/.git/objects/ab/cd",
            "/ws/.git/refs/heads/main",
            "/ws/.git/index",
            "/ws/.git/configx",
        ] {
            assert!(!r.is_match(no), "{no} should not match");
        }
    }

    #[test]
    fn secret_filters_cover_case_and_private_aliases() {
        let f = subtree_filters("/var/secret");
        assert!(f.contains("(subpath \"/private/var/secret\")"), "{f}");
        let raw = format!("^{}(/.*)?$", regex_ci("/Users/me/.ssh"));
        let r = regex::Regex::new(&raw).unwrap();
        assert!(r.is_match("/users/ME/.SSH/id_ed25519"));
        assert!(!r.is_match("/Users/me/.sshx"));
    }

    #[test]
    fn the_temp_dir_regex_composes_like_a_root() {
        let rule = &protected_rules(&[".git".into()], GitAccess::ReadOnly).unwrap()[0];
        let tmp = tmpdir_regex(Path::new("/private/var/folders/x y/T/brig-run-1/tmp/")).unwrap();
        let r = regex::Regex::new(&format!("^{tmp}{}", rule.below())).unwrap();
        assert!(r.is_match("/private/var/folders/x y/T/brig-run-1/tmp/sub/.Git/hooks/x"));
        assert!(!r.is_match("/private/var/folders/x y/T/brig-run-1/tmp/sub/file"));
        assert!(!r.is_match("/private/var/folders/x y/T/brig-run-10/tmp/.git"));
    }

    #[test]
    fn within_is_component_wise() {
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/x", "/"));
    }
}
