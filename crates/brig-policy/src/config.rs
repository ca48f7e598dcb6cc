//! The configuration file model and its strict parser.
//!
//! One schema serves all three places a config file can come from (the user's
//! `~/.config/brig/config.toml`, an explicit `--config FILE`, and a project's `.brig.toml`); which
//! keys a file may *use* depends on where it came from and is decided by [`crate::resolve`](mod@crate::resolve), not
//! here. Every key is optional; an unknown key, a wrong type or a bad value is an error, never
//! ignored, because a misspelt security setting that silently does nothing is worse than a
//! refusal to run.
//!
//! Each setting remembers where its key was written ([`Setting::at`]), so that later stages (for
//! example the "an untrusted project file may only tighten" check) can point at the offending line.
//!
//! Values are kept as written (`~/scratch` stays `~/scratch`): expansion needs the home directory
//! and the workspace, which only [`crate::plan()`] knows. The parser does reject shapes that could
//! never be valid (`~user/x`, empty names, names with a `/`), pointing at the array element.

use std::net::IpAddr;

use serde::Serialize;

use crate::defaults;
use crate::net::HostRule;
use crate::plan::{name_matches, ApprovalPolicy, AuditFiles, Mode, NetworkMode};
pub use crate::source::Location;
use crate::source::{
    entries, expect_bool, expect_str, expect_str_array, expect_table, unknown_key, Doc,
};

/// An error in a configuration or trust file: `FILE:LINE:COL: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file's display name, as given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, naming the key.
    pub message: String,
}

impl ConfigError {
    /// An error at `at` in `file`.
    pub fn new(file: &str, at: Location, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }

    /// Where the error is.
    pub fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }
}

/// A value set by a configuration file, with the position of its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    /// The value as written.
    pub value: T,
    /// Where the key was written.
    pub at: Location,
}

/// The `[git]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GitConfig {
    /// `allow_local_commit`: let the command commit (objects, refs, index) but never touch hooks
    /// or config.
    pub allow_local_commit: Option<Setting<bool>>,
}

/// The `[secrets]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SecretsConfig {
    /// `deny_read`: more unreadable paths, added to the defaults.
    pub deny_read: Option<Setting<Vec<String>>>,
    /// `allow_read`: entries removed from the default secret list.
    pub allow_read: Option<Setting<Vec<String>>>,
}

/// The `[env]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnvConfig {
    /// `pass`: names (or `PREFIX*`) that always pass, even when they look secret.
    pub pass: Option<Setting<Vec<String>>>,
    /// `deny`: names (or `PREFIX*`) that never pass.
    pub deny: Option<Setting<Vec<String>>>,
}

/// The `[protect]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtectConfig {
    /// `names`: more protected names (trailing `*` = prefix).
    pub names: Option<Setting<Vec<String>>>,
    /// `unprotect`: default protected names to drop (never `.git` or `.brig*`).
    pub unprotect: Option<Setting<Vec<String>>>,
}

/// `[audit]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditConfig {
    /// `enabled`: whether brig keeps an audit trail at all.
    pub enabled: Option<Setting<bool>>,
    /// `files`: how much file activity it records.
    pub files: Option<Setting<AuditFiles>>,
}

/// `[approvals]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApprovalsConfig {
    /// `policy`.
    pub policy: Option<Setting<ApprovalPolicy>>,
    /// `two_approvers`.
    pub two_approvers: Option<Setting<bool>>,
    /// `timeout`: seconds.
    pub timeout: Option<Setting<u64>>,
}

/// `[network]` (besides `mode`, which is [`ConfigFile::network`]): the allowlist.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkConfig {
    /// `allow`: destinations the proxy lets through (checked with [`HostRule::parse`]).
    pub allow: Option<Setting<Vec<String>>>,
    /// `deny`: destinations refused even when an allow rule matches.
    pub deny: Option<Setting<Vec<String>>>,
    /// `presets`: named groups of allow rules ([`crate::net::PRESETS`]).
    pub presets: Option<Setting<Vec<String>>>,
    /// `[network.hosts]`: names the proxy resolves to fixed addresses.
    pub hosts: Option<Setting<Vec<(String, IpAddr)>>>,
}

/// `[limits]`: each value with its location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LimitsConfig {
    /// `memory`.
    pub memory: Option<Setting<u64>>,
    /// `processes`.
    pub processes: Option<Setting<u64>>,
    /// `cpus`, in thousandths of a core.
    pub cpu_millis: Option<Setting<u64>>,
    /// `timeout`.
    pub timeout: Option<Setting<std::time::Duration>>,
    /// `tmp_size`.
    pub tmp_size: Option<Setting<u64>>,
    /// `shm_size`.
    pub shm_size: Option<Setting<u64>>,
    /// `file_size`.
    pub file_size: Option<Setting<u64>>,
    /// `output`.
    pub output: Option<Setting<u64>>,
}

/// One parsed configuration file. `None` means the key was not written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// The display name the file was parsed under (used in later errors and in `explain`).
    pub source: String,
    /// `mode`.
    pub mode: Option<Setting<Mode>>,
    /// `network`.
    pub network: Option<Setting<NetworkMode>>,
    /// `writable`: extra writable roots as written.
    pub writable: Option<Setting<Vec<String>>>,
    /// `allow_danger_full_access`.
    pub allow_danger_full_access: Option<Setting<bool>>,
    /// `[git]`.
    pub git: GitConfig,
    /// `[secrets]`.
    pub secrets: SecretsConfig,
    /// `[env]`.
    pub env: EnvConfig,
    /// `[protect]`.
    pub protect: ProtectConfig,
    /// `[audit]`.
    pub audit: AuditConfig,
    /// `[approvals]`.
    pub approvals: ApprovalsConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
    /// `[network]`'s allowlist.
    pub net: NetworkConfig,
}

const TOP_KEYS: &[&str] = &[
    "mode",
    "network",
    "writable",
    "allow_danger_full_access",
    "git",
    "secrets",
    "env",
    "protect",
    "audit",
    "approvals",
    "limits",
];
const GIT_KEYS: &[&str] = &["allow_local_commit"];
const NETWORK_KEYS: &[&str] = &["mode", "allow", "deny", "presets", "hosts"];
const SECRETS_KEYS: &[&str] = &["deny_read", "allow_read"];
const ENV_KEYS: &[&str] = &["pass", "deny"];
const PROTECT_KEYS: &[&str] = &["names", "unprotect"];
const AUDIT_KEYS: &[&str] = &["enabled", "files"];
const APPROVALS_KEYS: &[&str] = &["policy", "two_approvers", "timeout"];
const LIMITS_KEYS: &[&str] = &[
    "memory",
    "processes",
    "cpus",
    "timeout",
    "tmp_size",
    "shm_size",
    "file_size",
    "output",
];

/// Parses one configuration file. `source_name` is used in error messages and remembered in
/// [`ConfigFile::source`].
pub fn parse_config(source_name: &str, text: &str) -> Result<ConfigFile, ConfigError> {
    let doc = Doc::new(source_name, text);
    let root = doc.parse()?;
    let mut cfg = ConfigFile {
        source: source_name.to_string(),
        ..ConfigFile::default()
    };
    for (key, value) in entries(root.get_ref()) {
        let at = doc.location(key.span().start);
        match key.get_ref().as_ref() {
            "mode" => {
                let s = expect_str(&doc, "mode", value)?;
                let m = Mode::parse(s).ok_or_else(|| {
                    doc.error(
                        value.span(),
                        bad_enum(
                            "mode",
                            s,
                            &[Mode::ReadOnly, Mode::WorkspaceWrite, Mode::DangerFullAccess]
                                .map(Mode::as_str),
                        ),
                    )
                })?;
                cfg.mode = Some(Setting { value: m, at });
            }
            "network" => match value.get_ref() {
                toml::de::DeValue::Table(t) => {
                    parse_network_table(&doc, t, &mut cfg)?;
                }
                _ => {
                    let s = expect_str(&doc, "network", value).map_err(|_| {
                        doc.error(
                            value.span(),
                            "`network` must be a string (\"off\", \"allowlist\", \"on\") or a [network] table",
                        )
                    })?;
                    cfg.network = Some(Setting {
                        value: parse_network_mode(&doc, "network", s, value.span())?,
                        at,
                    });
                }
            },
            "writable" => {
                cfg.writable = Some(Setting {
                    value: expect_str_array(&doc, "writable", value, check_path)?,
                    at,
                })
            }
            "allow_danger_full_access" => {
                cfg.allow_danger_full_access = Some(Setting {
                    value: expect_bool(&doc, "allow_danger_full_access", value)?,
                    at,
                })
            }
            "git" => {
                for (k, v) in entries(expect_table(&doc, "git", value)?) {
                    let at = doc.location(k.span().start);
                    match k.get_ref().as_ref() {
                        "allow_local_commit" => {
                            cfg.git.allow_local_commit = Some(Setting {
                                value: expect_bool(&doc, "git.allow_local_commit", v)?,
                                at,
                            })
                        }
                        _ => return Err(unknown_key(&doc, k, "git", GIT_KEYS)),
                    }
                }
            }
            "secrets" => {
                for (k, v) in entries(expect_table(&doc, "secrets", value)?) {
                    let at = doc.location(k.span().start);
                    match k.get_ref().as_ref() {
                        "deny_read" => {
                            cfg.secrets.deny_read = Some(Setting {
                                value: expect_str_array(&doc, "secrets.deny_read", v, check_path)?,
                                at,
                            })
                        }
                        "allow_read" => {
                            cfg.secrets.allow_read = Some(Setting {
                                value: expect_str_array(&doc, "secrets.allow_read", v, check_path)?,
                                at,
                            })
                        }
                        _ => return Err(unknown_key(&doc, k, "secrets", SECRETS_KEYS)),
                    }
                }
            }
            "env" => {
                for (k, v) in entries(expect_table(&doc, "env", value)?) {
                    let at = doc.location(k.span().start);
                    match k.get_ref().as_ref() {
                        "pass" => {
                            cfg.env.pass = Some(Setting {
                                value: expect_str_array(&doc, "env.pass", v, check_env_name)?,
                                at,
                            })
                        }
                        "deny" => {
                            cfg.env.deny = Some(Setting {
                                value: expect_str_array(&doc, "env.deny", v, check_env_name)?,
                                at,
                            })
                        }
                        _ => return Err(unknown_key(&doc, k, "env", ENV_KEYS)),
                    }
                }
            }
            "protect" => {
                for (k, v) in entries(expect_table(&doc, "protect", value)?) {
                    let at = doc.location(k.span().start);
                    match k.get_ref().as_ref() {
                        "names" => {
                            cfg.protect.names = Some(Setting {
                                value: expect_str_array(
                                    &doc,
                                    "protect.names",
                                    v,
                                    check_protected_name,
                                )?,
                                at,
                            })
                        }
                        "unprotect" => {
                            cfg.protect.unprotect = Some(Setting {
                                value: expect_str_array(
                                    &doc,
                                    "protect.unprotect",
                                    v,
                                    check_unprotect,
                                )?,
                                at,
                            })
                        }
                        _ => return Err(unknown_key(&doc, k, "protect", PROTECT_KEYS)),
                    }
                }
            }
            "audit" => {
                for (k, v) in entries(expect_table(&doc, "audit", value)?) {
                    let at = doc.location(k.span().start);
                    match k.get_ref().as_ref() {
                        "enabled" => {
                            cfg.audit.enabled = Some(Setting {
                                value: expect_bool(&doc, "audit.enabled", v)?,
                                at,
                            })
                        }
                        "files" => {
                            let s = expect_str(&doc, "audit.files", v)?;
                            let f = AuditFiles::parse(s).ok_or_else(|| {
                                doc.error(
                                    v.span(),
                                    bad_enum(
                                        "audit.files",
                                        s,
                                        &[AuditFiles::Off, AuditFiles::Changes, AuditFiles::All]
                                            .map(AuditFiles::as_str),
                                    ),
                                )
                            })?;
                            cfg.audit.files = Some(Setting { value: f, at });
                        }
                        _ => return Err(unknown_key(&doc, k, "audit", AUDIT_KEYS)),
                    }
                }
            }
            "approvals" => {
                for (k, v) in entries(expect_table(&doc, "approvals", value)?) {
                    let at = doc.location(k.span().start);
                    match k.get_ref().as_ref() {
                        "policy" => {
                            let s = expect_str(&doc, "approvals.policy", v)?;
                            let p = ApprovalPolicy::parse(s).ok_or_else(|| {
                                doc.error(
                                    v.span(),
                                    bad_enum(
                                        "approvals.policy",
                                        s,
                                        &[
                                            ApprovalPolicy::Untrusted,
                                            ApprovalPolicy::OnFailure,
                                            ApprovalPolicy::OnRequest,
                                            ApprovalPolicy::Never,
                                        ]
                                        .map(ApprovalPolicy::as_str),
                                    ),
                                )
                            })?;
                            cfg.approvals.policy = Some(Setting { value: p, at });
                        }
                        "two_approvers" => {
                            cfg.approvals.two_approvers = Some(Setting {
                                value: expect_bool(&doc, "approvals.two_approvers", v)?,
                                at,
                            })
                        }
                        "timeout" => {
                            let n = match v.get_ref() {
                                toml::de::DeValue::Integer(i) => i
                                    .to_string()
                                    .parse::<u64>()
                                    .ok()
                                    .filter(|n| (1..=86_400).contains(n)),
                                _ => None,
                            };
                            let Some(n) = n else {
                                return Err(doc.error(
                                    v.span(),
                                    "`approvals.timeout` must be a number of seconds from 1 to 86400",
                                ));
                            };
                            cfg.approvals.timeout = Some(Setting { value: n, at });
                        }
                        _ => return Err(unknown_key(&doc, k, "approvals", APPROVALS_KEYS)),
                    }
                }
            }
            "limits" => {
                for (k, v) in entries(expect_table(&doc, "limits", value)?) {
                    let at = doc.location(k.span().start);
                    let name = k.get_ref().as_ref();
                    let key = format!("limits.{name}");
                    let text = match v.get_ref() {
                        toml::de::DeValue::String(s) => s.to_string(),
                        toml::de::DeValue::Integer(i) => i.to_string(),
                        toml::de::DeValue::Float(f) => f.to_string(),
                        _ => String::new(),
                    };
                    let size = |what: &str| -> Result<Setting<u64>, ConfigError> {
                        match crate::units::parse_size(&text) {
                            Ok(n) if n > 0 => Ok(Setting { value: n, at }),
                            _ => Err(doc.error(
                                v.span(),
                                format!("`{key}` must be {what}, e.g. \"2G\" or \"512M\""),
                            )),
                        }
                    };
                    match name {
                        "memory" => cfg.limits.memory = Some(size("a size")?),
                        "tmp_size" => cfg.limits.tmp_size = Some(size("a size")?),
                        "shm_size" => cfg.limits.shm_size = Some(size("a size")?),
                        "file_size" => cfg.limits.file_size = Some(size("a size")?),
                        "output" => cfg.limits.output = Some(size("a size")?),
                        "processes" => {
                            let n = text
                                .parse::<u64>()
                                .ok()
                                .filter(|n| (1..=1 << 22).contains(n));
                            let Some(n) = n else {
                                return Err(doc.error(
                                    v.span(),
                                    "`limits.processes` must be a whole number from 1 to 4194304",
                                ));
                            };
                            cfg.limits.processes = Some(Setting { value: n, at });
                        }
                        "cpus" => {
                            let n = text
                                .parse::<f64>()
                                .ok()
                                .filter(|c| *c >= 0.01 && *c <= 4096.0);
                            let Some(n) = n else {
                                return Err(doc.error(
                                    v.span(),
                                    "`limits.cpus` must be a number of cores from 0.01 to 4096, e.g. 1.5",
                                ));
                            };
                            cfg.limits.cpu_millis = Some(Setting {
                                value: (n * 1000.0).round() as u64,
                                at,
                            });
                        }
                        "timeout" => {
                            let d = crate::units::parse_duration(&text)
                                .ok()
                                .filter(|d| !d.is_zero());
                            let Some(d) = d else {
                                return Err(doc.error(
                                    v.span(),
                                    "`limits.timeout` must be a duration, e.g. \"90s\", \"10m\" or \"1h\"",
                                ));
                            };
                            cfg.limits.timeout = Some(Setting { value: d, at });
                        }
                        _ => return Err(unknown_key(&doc, k, "limits", LIMITS_KEYS)),
                    }
                }
            }
            _ => return Err(unknown_key(&doc, key, "", TOP_KEYS)),
        }
    }
    Ok(cfg)
}

fn parse_network_mode(
    doc: &Doc<'_>,
    key: &str,
    s: &str,
    span: std::ops::Range<usize>,
) -> Result<NetworkMode, ConfigError> {
    NetworkMode::parse(s).ok_or_else(|| {
        doc.error(
            span,
            bad_enum(
                key,
                s,
                &[NetworkMode::Off, NetworkMode::Allowlist, NetworkMode::On]
                    .map(NetworkMode::as_str),
            ),
        )
    })
}

/// `[network]`: `mode`, `allow`, `deny`, `presets`, `[network.hosts]`.
fn parse_network_table(
    doc: &Doc<'_>,
    table: &toml::de::DeTable<'_>,
    cfg: &mut ConfigFile,
) -> Result<(), ConfigError> {
    let check_rule = |r: &str| {
        HostRule::parse(r)
            .err()
            .map(|e| format!("is not a valid destination: {e}"))
    };
    for (k, v) in entries(table) {
        let at = doc.location(k.span().start);
        match k.get_ref().as_ref() {
            "mode" => {
                let s = expect_str(doc, "network.mode", v)?;
                cfg.network = Some(Setting {
                    value: parse_network_mode(doc, "network.mode", s, v.span())?,
                    at,
                });
            }
            "allow" => {
                cfg.net.allow = Some(Setting {
                    value: expect_str_array(doc, "network.allow", v, check_rule)?,
                    at,
                })
            }
            "deny" => {
                cfg.net.deny = Some(Setting {
                    value: expect_str_array(doc, "network.deny", v, check_rule)?,
                    at,
                })
            }
            "presets" => {
                let names: Vec<&str> = crate::net::PRESETS.iter().map(|(n, _)| *n).collect();
                cfg.net.presets = Some(Setting {
                    value: expect_str_array(doc, "network.presets", v, |p| {
                        crate::net::preset(p).is_none().then(|| {
                            format!(
                                "is {p:?}, not a preset; the presets are {}",
                                names.join(", ")
                            )
                        })
                    })?,
                    at,
                })
            }
            "hosts" => {
                let mut hosts = Vec::new();
                for (name, addr) in entries(expect_table(doc, "network.hosts", v)?) {
                    let key = format!("network.hosts.{}", name.get_ref());
                    match crate::net::parse_host(name.get_ref()) {
                        Ok(crate::net::Host::Name(n)) => {
                            let a = expect_str(doc, &key, addr)?;
                            let ip: IpAddr = a.parse().map_err(|_| {
                                doc.error(
                                    addr.span(),
                                    format!("`{key}` must be an IP address such as \"127.0.0.1\" or \"::1\"; found {a:?}"),
                                )
                            })?;
                            hosts.push((n, ip));
                        }
                        Ok(crate::net::Host::Ip(_)) => {
                            return Err(doc.error(
                                name.span(),
                                format!("`{key}`: the key must be a host name, not an address"),
                            ))
                        }
                        Err(e) => return Err(doc.error(name.span(), format!("`{key}`: {e}"))),
                    }
                }
                cfg.net.hosts = Some(Setting { value: hosts, at });
            }
            _ => return Err(unknown_key(doc, k, "network", NETWORK_KEYS)),
        }
    }
    Ok(())
}

fn bad_enum(key: &str, found: &str, valid: &[&str]) -> String {
    let list = valid
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!("`{key}` must be one of {list}; found {found:?}")
}

/// Why a path string can never be valid, if it cannot.
pub(crate) fn check_path(p: &str) -> Option<String> {
    if p.is_empty() {
        Some("is an empty path".into())
    } else if p.contains('\0') {
        Some("contains a NUL byte".into())
    } else if p.starts_with('~') && p != "~" && !p.starts_with("~/") {
        Some(format!(
            "is {p:?}: only `~` and `~/...` are expanded (to your home directory), not `~user`"
        ))
    } else {
        None
    }
}

/// Why an environment variable name (or `PREFIX*` pattern) can never be valid, if it cannot.
pub(crate) fn check_env_name(n: &str) -> Option<String> {
    let body = n.strip_suffix('*').unwrap_or(n);
    if body.is_empty() {
        Some(format!(
            "is {n:?}: expected a variable name or a `PREFIX*` pattern"
        ))
    } else if body.contains(['=', '\0', '*']) {
        Some(format!("is {n:?}: a variable name cannot contain `=` or NUL, and `*` is only allowed at the end"))
    } else {
        None
    }
}

/// Why a protected-name pattern can never be valid, if it cannot.
pub(crate) fn check_protected_name(n: &str) -> Option<String> {
    let body = n.strip_suffix('*').unwrap_or(n);
    if n == "*" {
        Some("is \"*\", which would protect every file; use `mode = \"read-only\"` instead".into())
    } else if body.is_empty() || body == "." || body == ".." {
        Some(format!(
            "is {n:?}: expected a file name such as \".tool-config\""
        ))
    } else if body.contains(['/', '\\', '\0', '*']) {
        Some(format!(
            "is {n:?}: a protected name is one path component (it applies at any depth), without `/`, and `*` is only allowed at the end"
        ))
    } else {
        None
    }
}

/// Like [`check_protected_name`], and refuses anything that would unprotect `.git` or `.brig*`.
pub(crate) fn check_unprotect(n: &str) -> Option<String> {
    if let Some(problem) = check_protected_name(n) {
        return Some(problem);
    }
    if touches_never_unprotected(n) {
        return Some(format!(
            "is {n:?}: `.git` and `.brig*` are always protected and can never be unprotected"
        ));
    }
    None
}

/// True when removing `n` could affect one of [`defaults::NEVER_UNPROTECTED`].
pub(crate) fn touches_never_unprotected(n: &str) -> bool {
    let never: Vec<String> = defaults::NEVER_UNPROTECTED
        .iter()
        .map(|s| s.to_string())
        .collect();
    let body = n.strip_suffix('*').unwrap_or(n);
    // The entry itself is (or starts like) one of them...
    if name_matches(&never, body) {
        return true;
    }
    // ...or it is a prefix pattern that covers one of them (`.g*`, `.bri*`).
    n.ends_with('*')
        && defaults::NEVER_UNPROTECTED.iter().any(|p| {
            let p = p.strip_suffix('*').unwrap_or(p);
            p.len() >= body.len()
                && p.as_bytes()[..body.len()].eq_ignore_ascii_case(body.as_bytes())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Location {
        Location { line, column }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn err(text: &str) -> String {
        parse_config("cfg.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn empty_file_sets_nothing() {
        assert_eq!(
            parse_config("a.toml", "").unwrap(),
            ConfigFile {
                source: "a.toml".into(),
                ..Default::default()
            }
        );
        assert_eq!(
            parse_config("a.toml", "# only a comment\n\n").unwrap(),
            ConfigFile {
                source: "a.toml".into(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn full_example_parses_with_key_positions() {
        let text = r#"mode = "workspace-write"
network = "off"
writable = ["~/scratch", "/data/out"]
allow_danger_full_access = false
[git]
allow_local_commit = true
[secrets]
deny_read = ["~/.config/mytool"]
allow_read = ["~/.npmrc"]
[env]
pass = ["MY_API_TOKEN"]
deny = ["FOO", "BAR_*"]
[protect]
names = [".tool-config", ".gen*"]
unprotect = [".idea"]
"#;
        let expected = ConfigFile {
            source: "user.toml".into(),
            mode: Some(Setting {
                value: Mode::WorkspaceWrite,
                at: at(1, 1),
            }),
            network: Some(Setting {
                value: NetworkMode::Off,
                at: at(2, 1),
            }),
            writable: Some(Setting {
                value: strs(&["~/scratch", "/data/out"]),
                at: at(3, 1),
            }),
            allow_danger_full_access: Some(Setting {
                value: false,
                at: at(4, 1),
            }),
            git: GitConfig {
                allow_local_commit: Some(Setting {
                    value: true,
                    at: at(6, 1),
                }),
            },
            secrets: SecretsConfig {
                deny_read: Some(Setting {
                    value: strs(&["~/.config/mytool"]),
                    at: at(8, 1),
                }),
                allow_read: Some(Setting {
                    value: strs(&["~/.npmrc"]),
                    at: at(9, 1),
                }),
            },
            env: EnvConfig {
                pass: Some(Setting {
                    value: strs(&["MY_API_TOKEN"]),
                    at: at(11, 1),
                }),
                deny: Some(Setting {
                    value: strs(&["FOO", "BAR_*"]),
                    at: at(12, 1),
                }),
            },
            protect: ProtectConfig {
                names: Some(Setting {
                    value: strs(&[".tool-config", ".gen*"]),
                    at: at(14, 1),
                }),
                unprotect: Some(Setting {
                    value: strs(&[".idea"]),
                    at: at(15, 1),
                }),
            },
            audit: AuditConfig::default(),
            approvals: ApprovalsConfig::default(),
            limits: LimitsConfig::default(),
            net: NetworkConfig::default(),
        };
        assert_eq!(parse_config("user.toml", text).unwrap(), expected);
    }

    #[test]
    fn dotted_keys_and_inline_tables_are_the_same_settings() {
        let cfg = parse_config(
            "p.toml",
            "  git.allow_local_commit = false\nenv = { deny = [\"X\"] }\n",
        )
        .unwrap();
        assert_eq!(
            cfg,
            ConfigFile {
                source: "p.toml".into(),
                git: GitConfig {
                    allow_local_commit: Some(Setting {
                        value: false,
                        at: at(1, 7)
                    })
                },
                env: EnvConfig {
                    pass: None,
                    deny: Some(Setting {
                        value: strs(&["X"]),
                        at: at(2, 9)
                    })
                },
                ..Default::default()
            }
        );
    }

    #[test]
    fn every_mode_and_network_value_parses() {
        for m in [Mode::ReadOnly, Mode::WorkspaceWrite, Mode::DangerFullAccess] {
            let cfg = parse_config("f", &format!("mode = \"{}\"", m.as_str())).unwrap();
            assert_eq!(
                cfg.mode,
                Some(Setting {
                    value: m,
                    at: at(1, 1)
                })
            );
        }
        for n in [NetworkMode::Off, NetworkMode::On] {
            let cfg = parse_config("f", &format!("\nnetwork = \"{}\"", n.as_str())).unwrap();
            assert_eq!(
                cfg.network,
                Some(Setting {
                    value: n,
                    at: at(2, 1)
                })
            );
        }
    }

    #[test]
    fn bad_enum_values_list_the_valid_ones() {
        assert_eq!(
            err("network = \"off\"\nmode = \"readonly\"\n"),
            "cfg.toml:2:8: `mode` must be one of \"read-only\", \"workspace-write\", \"danger-full-access\"; found \"readonly\""
        );
        assert_eq!(
            err("network = \"yes\""),
            "cfg.toml:1:11: `network` must be one of \"off\", \"allowlist\", \"on\"; found \"yes\""
        );
    }

    #[test]
    fn the_network_section_parses_and_points_at_bad_entries() {
        let cfg = parse_config(
            "cfg.toml",
            "[network]\nmode = \"allowlist\"\nallow = [\"crates.io\", \"*.example.com:443\"]\n\
             deny = [\"evil.example.com\"]\npresets = [\"python\"]\n[network.hosts]\n\"pkg.test\" = \"127.0.0.1\"\n",
        )
        .unwrap();
        assert_eq!(cfg.network.map(|s| s.value), Some(NetworkMode::Allowlist));
        assert_eq!(
            cfg.net.allow.unwrap().value,
            vec!["crates.io".to_string(), "*.example.com:443".to_string()]
        );
        assert_eq!(
            cfg.net.deny.unwrap().value,
            vec!["evil.example.com".to_string()]
        );
        assert_eq!(cfg.net.presets.unwrap().value, vec!["python".to_string()]);
        assert_eq!(
            cfg.net.hosts.unwrap().value,
            vec![("pkg.test".to_string(), "127.0.0.1".parse().unwrap())]
        );
        // The string form still works.
        let cfg = parse_config("cfg.toml", "network = \"allowlist\"\n").unwrap();
        assert_eq!(cfg.network.map(|s| s.value), Some(NetworkMode::Allowlist));
        for (text, want) in [
            (
                "[network]\nallow = [\"*\"]\n",
                "cfg.toml:2:10: `network.allow[0]` is not a valid destination",
            ),
            (
                "[network]\nallow = [\"ok.example\", \"com\"]\n",
                "cfg.toml:2:24: `network.allow[1]` is not a valid destination",
            ),
            (
                "[network]\ndeny = [\"*.co.uk\"]\n",
                "cfg.toml:2:9: `network.deny[0]` is not a valid destination",
            ),
            (
                "[network]\nallow = [\"b\u{fc}cher.de\"]\n",
                "cfg.toml:2:10: `network.allow[0]` is not a valid destination",
            ),
            (
                "[network]\npresets = [\"rustt\"]\n",
                "cfg.toml:2:12: `network.presets[0]` is \"rustt\", not a preset",
            ),
            (
                "[network]\nmode = \"proxy\"\n",
                "cfg.toml:2:8: `network.mode` must be one of",
            ),
            (
                "[network]\nallows = []\n",
                "cfg.toml:2:1: unknown key `allows` in [network]",
            ),
            (
                "[network.hosts]\n\"pkg.test\" = \"localhost\"\n",
                "cfg.toml:2:14: `network.hosts.pkg.test` must be an IP address",
            ),
            (
                "[network.hosts]\n\"10.0.0.1\" = \"10.0.0.2\"\n",
                "cfg.toml:2:1: `network.hosts.10.0.0.1`: the key must be a host name",
            ),
        ] {
            let e = err(text);
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        assert_eq!(
            err("mode = \"read-only\"\nnetwrok = \"off\"\n"),
            "cfg.toml:2:1: unknown key `netwrok`; expected one of `mode`, `network`, `writable`, \
             `allow_danger_full_access`, `git`, `secrets`, `env`, `protect`, `audit`, `approvals`, `limits`"
        );
        assert_eq!(
            err("[git]\n\nallow_local_commits = true\n"),
            "cfg.toml:3:1: unknown key `allow_local_commits` in [git]; expected one of `allow_local_commit`"
        );
        assert_eq!(err("[secrets]\nallow = []"), "cfg.toml:2:1: unknown key `allow` in [secrets]; expected one of `deny_read`, `allow_read`");
        assert_eq!(
            err("[env]\n  passs = []"),
            "cfg.toml:2:3: unknown key `passs` in [env]; expected one of `pass`, `deny`"
        );
        assert_eq!(
            err("[protect]\nname = []"),
            "cfg.toml:2:1: unknown key `name` in [protect]; expected one of `names`, `unprotect`"
        );
    }

    #[test]
    fn wrong_types_are_errors_naming_the_key() {
        assert_eq!(
            err("mode = 1"),
            "cfg.toml:1:8: `mode` must be a string, found an integer"
        );
        assert_eq!(
            err("writable = \"/tmp\""),
            "cfg.toml:1:12: `writable` must be an array of strings, found a string"
        );
        assert_eq!(
            err("writable = [\"/a\", 2]"),
            "cfg.toml:1:19: `writable[1]` must be a string, found an integer"
        );
        assert_eq!(
            err("allow_danger_full_access = \"yes\""),
            "cfg.toml:1:28: `allow_danger_full_access` must be true or false, found a string"
        );
        assert_eq!(
            err("git = true"),
            "cfg.toml:1:7: `git` must be a table, found a boolean"
        );
        assert_eq!(
            err("[git]\nallow_local_commit = 1.5"),
            "cfg.toml:2:22: `git.allow_local_commit` must be true or false, found a float"
        );
        assert_eq!(
            err("[[protect]]\nnames = []"),
            "cfg.toml:1:1: `protect` must be a table, found an array"
        );
        assert_eq!(
            err("[env]\ndeny = [[\"X\"]]"),
            "cfg.toml:2:9: `env.deny[0]` must be a string, found an array"
        );
    }

    #[test]
    fn toml_syntax_errors_carry_a_position() {
        let e = parse_config("bad.toml", "mode = \"read-only\"\nnetwork = \n").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("bad.toml", 2));
        assert!(e.message.starts_with("invalid TOML: "), "{e}");
        assert!(e.to_string().starts_with("bad.toml:2:"), "{e}");

        let e =
            parse_config("dup.toml", "mode = \"read-only\"\nmode = \"read-only\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1), "{e}");
    }

    #[test]
    fn impossible_values_point_at_the_element() {
        assert_eq!(
            err("writable = [\"/ok\", \"~bob/x\"]"),
            "cfg.toml:1:20: `writable[1]` is \"~bob/x\": only `~` and `~/...` are expanded (to your home directory), not `~user`"
        );
        assert_eq!(
            err("[secrets]\ndeny_read = [\"\"]"),
            "cfg.toml:2:14: `secrets.deny_read[0]` is an empty path"
        );
        assert_eq!(
            err("[env]\npass = [\"A=B\"]"),
            "cfg.toml:2:9: `env.pass[0]` is \"A=B\": a variable name cannot contain `=` or NUL, and `*` is only allowed at the end"
        );
        assert_eq!(
            err("[env]\ndeny = [\"*\"]"),
            "cfg.toml:2:9: `env.deny[0]` is \"*\": expected a variable name or a `PREFIX*` pattern"
        );
        assert_eq!(
            err("[protect]\nnames = [\"a/b\"]"),
            "cfg.toml:2:10: `protect.names[0]` is \"a/b\": a protected name is one path component (it applies at any depth), \
             without `/`, and `*` is only allowed at the end"
        );
        assert_eq!(
            err("[protect]\nnames = [\"*\"]"),
            "cfg.toml:2:10: `protect.names[0]` is \"*\", which would protect every file; use `mode = \"read-only\"` instead"
        );
    }

    #[test]
    fn git_and_brig_can_never_be_unprotected() {
        for bad in [
            ".git",
            ".GIT",
            ".brig",
            ".brig.toml",
            ".brig*",
            ".Brig-local",
            ".g*",
            ".bri*",
            ".GI*",
        ] {
            assert_eq!(
                err(&format!("[protect]\nunprotect = [\".idea\", {bad:?}]")),
                format!(
                    "cfg.toml:2:23: `protect.unprotect[1]` is {bad:?}: `.git` and `.brig*` are always protected and can never be unprotected"
                ),
                "{bad}"
            );
        }
        for ok in [".gitmodules", ".idea", ".vscode*", ".bri", ".gi"] {
            assert!(
                parse_config("f", &format!("[protect]\nunprotect = [{ok:?}]")).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn first_error_in_source_order_wins() {
        // toml keeps keys sorted; errors must still follow the file.
        assert_eq!(
            err("zzz = 1\naaa = 2\n")
                .split(':')
                .take(3)
                .collect::<Vec<_>>(),
            vec!["cfg.toml", "1", "1"]
        );
    }

    #[test]
    fn audit_section_parses_and_rejects_bad_values() {
        let cfg = parse_config("c.toml", "[audit]\nenabled = false\nfiles = \"all\"\n").unwrap();
        assert_eq!(cfg.audit.enabled.map(|s| s.value), Some(false));
        assert_eq!(
            cfg.audit.files.map(|s| (s.value, s.at)),
            Some((AuditFiles::All, at(3, 1)))
        );
        assert_eq!(
            err("[audit]\nfiles = \"some\""),
            "cfg.toml:2:9: `audit.files` must be one of \"off\", \"changes\", \"all\"; found \"some\""
        );
        assert!(err("[audit]\nreads = true").starts_with("cfg.toml:2:1: unknown key `reads`"));
    }

    #[test]
    fn approvals_section_parses_and_rejects_bad_values() {
        let cfg = parse_config(
            "c.toml",
            "[approvals]\npolicy = \"untrusted\"\ntwo_approvers = true\ntimeout = 60\n",
        )
        .unwrap();
        assert_eq!(
            cfg.approvals.policy.map(|s| s.value),
            Some(ApprovalPolicy::Untrusted)
        );
        assert_eq!(cfg.approvals.two_approvers.map(|s| s.value), Some(true));
        assert_eq!(
            cfg.approvals.timeout.map(|s| (s.value, s.at)),
            Some((60, at(4, 1)))
        );
        assert_eq!(
            err("[approvals]\npolicy = \"sometimes\""),
            "cfg.toml:2:10: `approvals.policy` must be one of \"untrusted\", \"on-failure\", \"on-request\", \"never\"; found \"sometimes\""
        );
        for bad in ["0", "-5", "100000", "\"60\""] {
            assert_eq!(
                err(&format!("[approvals]\ntimeout = {bad}")),
                "cfg.toml:2:11: `approvals.timeout` must be a number of seconds from 1 to 86400",
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_section_parses_and_rejects_bad_values() {
        let cfg = parse_config(
            "c.toml",
            "[limits]\nmemory = \"2G\"\nprocesses = 512\ncpus = 1.5\ntimeout = \"10m\"\ntmp_size = \"512M\"\nshm_size = 1048576\nfile_size = \"1G\"\n",
        )
        .unwrap();
        let l = &cfg.limits;
        assert_eq!(l.memory.as_ref().map(|s| s.value), Some(2 << 30));
        assert_eq!(l.processes.as_ref().map(|s| s.value), Some(512));
        assert_eq!(l.cpu_millis.as_ref().map(|s| s.value), Some(1500));
        assert_eq!(
            l.timeout.as_ref().map(|s| s.value),
            Some(std::time::Duration::from_secs(600))
        );
        assert_eq!(l.tmp_size.as_ref().map(|s| s.value), Some(512 << 20));
        assert_eq!(l.shm_size.as_ref().map(|s| s.value), Some(1 << 20));
        assert_eq!(
            l.file_size.as_ref().map(|s| (s.value, s.at)),
            Some((1 << 30, at(8, 1)))
        );
        assert_eq!(
            err("[limits]\nmemory = \"lots\""),
            "cfg.toml:2:10: `limits.memory` must be a size, e.g. \"2G\" or \"512M\""
        );
        assert_eq!(
            err("[limits]\nprocesses = 0"),
            "cfg.toml:2:13: `limits.processes` must be a whole number from 1 to 4194304"
        );
        assert!(err("[limits]\ntimeout = \"soon\"")
            .starts_with("cfg.toml:2:11: `limits.timeout` must be a duration"));
        assert!(err("[limits]\ncpus = 0").starts_with("cfg.toml:2:8: `limits.cpus` must be"));
        assert!(err("[limits]\nswap = 1").starts_with("cfg.toml:2:1: unknown key `swap`"));
    }
}
