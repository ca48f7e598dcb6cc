//! The environment filter: an allowlist with a secret veto.
//!
//! The decision for one variable, in order:
//!
//! 1. a name that is not UTF-8 or contains `=` is removed (no tool needs one; they are a classic
//!    way to smuggle values past string filters);
//! 2. `TMPDIR` is dropped without being reported: the backend sets it to the private temp dir;
//! 3. a name matching `deny` (config `env.deny`) is removed;
//! 4. a name matching `pass` (user config `env.pass`, command line) is kept, even if it looks secret;
//! 5. a name on [`defaults::ENV_ALLOW`] is kept unless the secret veto
//!    ([`defaults::SECRET_NAME_WORDS`], [`defaults::SECRET_NAMES`]) matches it;
//! 6. everything else is removed.
//!
//! Names are compared ASCII-case-insensitively (Windows does), `PREFIX*` patterns match by prefix.
//! Values are never looked at and never reported; only names of removed variables are.

use std::ffi::OsString;

use crate::defaults;
use crate::plan::name_matches;

/// The result of [`filter_env`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilteredEnv {
    /// The variables passed to the command, in their original order.
    pub kept: Vec<(OsString, OsString)>,
    /// Names of removed variables, sorted and deduplicated (non-UTF-8 names lossily converted).
    pub removed: Vec<String>,
}

/// Filters `env` through the allowlist, the secret veto and the `pass` / `deny` lists.
pub fn filter_env(env: &[(OsString, OsString)], pass: &[String], deny: &[String]) -> FilteredEnv {
    let mut out = FilteredEnv::default();
    for (name, value) in env {
        let keep = match name.to_str() {
            None => false,
            Some(n) if n.eq_ignore_ascii_case("TMPDIR") => continue,
            Some(n) => n_is_kept(n, pass, deny),
        };
        if keep {
            out.kept.push((name.clone(), value.clone()));
        } else {
            out.removed.push(name.to_string_lossy().into_owned());
        }
    }
    out.removed.sort();
    out.removed.dedup();
    out
}

fn n_is_kept(name: &str, pass: &[String], deny: &[String]) -> bool {
    if name.is_empty() || name.contains(['=', '\0']) || name_matches(deny, name) {
        return false;
    }
    name_matches(pass, name) || (is_allowlisted(name) && !looks_secret(name))
}

/// True when `name` is on the default allowlist (before the secret veto).
pub fn is_allowlisted(name: &str) -> bool {
    defaults::ENV_ALLOW.iter().any(|p| matches_pattern(p, name))
}

/// True when the secret veto removes `name` even if it is allowlisted.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    defaults::SECRET_NAME_WORDS
        .iter()
        .any(|w| upper.contains(w))
        || defaults::SECRET_NAMES
            .iter()
            .any(|p| matches_pattern(p, name))
}

fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            name.len() >= prefix.len()
                && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        }
        None => name.eq_ignore_ascii_case(pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn allowlist_keeps_dev_basics_and_removes_the_rest() {
        let input = env(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("LC_ALL", "C.UTF-8"),
            ("TERM", "xterm"),
            ("CARGO_HOME", "/home/u/.cargo"),
            ("MY_RANDOM_VAR", "x"),
            ("OPENAI_API_KEY", "sk-..."),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("SSH_AUTH_SOCK", "/run/ssh"),
            ("TMPDIR", "/tmp/host"),
            ("GITHUB_TOKEN", "ghp"),
        ]);
        let got = filter_env(&input, &[], &[]);
        assert_eq!(
            got,
            FilteredEnv {
                kept: env(&[
                    ("PATH", "/usr/bin"),
                    ("HOME", "/home/u"),
                    ("LC_ALL", "C.UTF-8"),
                    ("TERM", "xterm"),
                    ("CARGO_HOME", "/home/u/.cargo"),
                ]),
                removed: strs(&[
                    "AWS_SECRET_ACCESS_KEY",
                    "GITHUB_TOKEN",
                    "MY_RANDOM_VAR",
                    "OPENAI_API_KEY",
                    "SSH_AUTH_SOCK"
                ]),
            }
        );
    }

    #[test]
    fn the_veto_applies_to_allowlisted_prefixes() {
        // LC_* is allowlisted, but a name with a secret word in it is still removed.
        let got = filter_env(
            &env(&[("LC_TIME", "C"), ("LC_SESSION_TOKEN", "t")]),
            &[],
            &[],
        );
        assert_eq!(
            got,
            FilteredEnv {
                kept: env(&[("LC_TIME", "C")]),
                removed: strs(&["LC_SESSION_TOKEN"])
            }
        );
    }

    #[test]
    fn pass_overrides_the_veto_and_deny_overrides_everything() {
        let input = env(&[
            ("MY_API_TOKEN", "t"),
            ("PATH", "/bin"),
            ("EDITOR", "vi"),
            ("TOOL_A", "1"),
            ("TOOL_B", "2"),
        ]);
        let got = filter_env(
            &input,
            &strs(&["my_api_token", "TOOL_*", "EDITOR"]),
            &strs(&["EDITOR", "TOOL_B"]),
        );
        assert_eq!(
            got,
            FilteredEnv {
                kept: env(&[("MY_API_TOKEN", "t"), ("PATH", "/bin"), ("TOOL_A", "1")]),
                removed: strs(&["EDITOR", "TOOL_B"]),
            }
        );
    }

    #[test]
    fn tmpdir_is_neither_kept_nor_reported_even_when_passed() {
        let got = filter_env(
            &env(&[("TMPDIR", "/tmp"), ("tmpdir", "/x")]),
            &strs(&["TMPDIR"]),
            &[],
        );
        assert_eq!(got, FilteredEnv::default());
    }

    #[test]
    fn removed_names_are_sorted_and_deduplicated() {
        let got = filter_env(
            &env(&[("ZED", "1"), ("ALPHA", "1"), ("ZED", "2")]),
            &[],
            &[],
        );
        assert_eq!(
            got,
            FilteredEnv {
                kept: vec![],
                removed: strs(&["ALPHA", "ZED"])
            }
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_removed_and_non_utf8_values_kept() {
        use std::os::unix::ffi::OsStringExt;
        let bad_name = OsString::from_vec(vec![b'P', 0xff]);
        let bad_value = OsString::from_vec(vec![b'/', 0xfe]);
        let input = vec![
            (bad_name, OsString::from("x")),
            (OsString::from("PATH"), bad_value.clone()),
        ];
        let got = filter_env(&input, &strs(&["P*"]), &[]);
        assert_eq!(
            got,
            FilteredEnv {
                kept: vec![(OsString::from("PATH"), bad_value)],
                removed: strs(&["P\u{fffd}"])
            }
        );
    }

    #[test]
    fn veto_and_allowlist_decisions() {
        for secret in [
            "GH_TOKEN",
            "GITLAB_HOST",
            "AWS_PROFILE",
            "AZURE_CLIENT_ID",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "CLOUDSDK_CONFIG",
            "NPM_CONFIG__AUTHTOKEN",
            "DBUS_SESSION_BUS_ADDRESS",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "XAUTHORITY",
            "XDG_RUNTIME_DIR",
            "KUBECONFIG",
            "DOCKER_HOST",
            "GPG_AGENT_INFO",
            "private_thing",
            "db_password",
            "HTTP_COOKIE",
            "CREDENTIALS_FILE",
        ] {
            assert!(looks_secret(secret), "{secret}");
        }
        for fine in ["PATH", "HOME", "LANG", "RUSTFLAGS", "GOPATH", "CI", "TERM"] {
            assert!(is_allowlisted(fine) && !looks_secret(fine), "{fine}");
        }
        assert!(is_allowlisted("lc_all"));
        assert!(!is_allowlisted("LD_PRELOAD"));
        assert!(!is_allowlisted("GIT_SSH_COMMAND"));
    }
}
