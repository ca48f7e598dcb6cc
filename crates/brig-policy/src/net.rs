//! The network allowlist: rule syntax, host normalization, matching, presets and IP classes.
//!
//! brig's allowlist proxy runs outside the sandbox and decides, per connection, whether the
//! sandboxed program may reach `host:port`. This module is the pure half of that decision; the
//! proxy does the I/O. The design follows from one threat: a program inside the sandbox chooses
//! the bytes of every request, and will try to make the proxy *check* one host while it
//! *connects* to another. So:
//!
//! - **One parser, strict.** [`parse_host`] and [`parse_authority`] accept exactly one spelling
//!   of each host: ASCII LDH names (plus `_`), lowercase, at most one trailing dot (stripped),
//!   canonical dotted-quad IPv4 and IPv6 literals. Everything a resolver or URL parser might
//!   read differently is refused rather than "repaired": control bytes, `@`, `%`, `\`, unicode
//!   (punycode `xn--` only), zone ids, and every numeric form `inet_aton` would turn into an
//!   address (`2130706433`, `127.1`, `0x7f.1`, `127.000.000.001`) because a name whose last
//!   label starts with a digit is never accepted as a name.
//! - **Check what you connect to.** The proxy must resolve and connect using the [`Host`] that
//!   was checked (its [`Host::as_string`] or IP), never the raw request bytes.
//! - **Names are not addresses.** A rule on a name never matches an IP literal and vice versa,
//!   and the proxy must still classify every *resolved* address with [`is_public`] (DNS can
//!   point an allowed name at `127.0.0.1` or `169.254.169.254`).
//! - **Deny by default.** [`NetRules::decide`] denies unless an allow rule matches and no deny
//!   rule does; an empty allowlist allows nothing.
//! - **Rules are checked at config load.** [`HostRule::parse`] refuses rules that would allow
//!   far more than they appear to (`*`, `*.com`, `*.github.io`) with a message saying why.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};

/// The longest host name, in characters, after normalization (RFC 1035 without the root dot).
const MAX_NAME_LEN: usize = 253;
/// The longest label of a host name (RFC 1035).
const MAX_LABEL_LEN: usize = 63;
/// How much of an offending input an error message shows.
const MAX_SHOWN: usize = 256;

/// A parsed request host: a normalized DNS name or an IP literal.
///
/// Build it with [`parse_host`] or [`parse_authority`]. A `Name` built by hand that is not in
/// normalized form never matches a rule (see [`NetRules::decide`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name: ASCII, lowercase, no trailing dot, never a numeric address form.
    Name(String),
    /// An IP address literal.
    Ip(IpAddr),
}

impl Host {
    /// The name, or the IP address (IPv6 without brackets).
    pub fn as_string(&self) -> String {
        match self {
            Host::Name(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }

    /// Whether this is what [`parse_host`] would produce: IPs always are, names only when
    /// already normalized.
    fn is_normalized(&self) -> bool {
        match self {
            Host::Ip(_) => true,
            Host::Name(name) => matches!(parse_host(name), Ok(Host::Name(ref n)) if n == name),
        }
    }
}

/// The same text as [`Host::as_string`].
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Serialized as the string [`Host::as_string`] returns.
impl Serialize for Host {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why a host, authority or rule is refused.
///
/// Every message names the offending input with control and non-ASCII characters escaped
/// (`\0`, `\r`, `\u{430}`), so a hostile host cannot forge log lines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// Nothing was written.
    #[error("the host is empty")]
    Empty,
    /// The name is longer than 253 characters.
    #[error("host `{}` is {len} characters long; a host name has at most 253", esc(.host))]
    TooLong {
        /// The offending input.
        host: String,
        /// Its length after normalization.
        len: usize,
    },
    /// The name contains a non-ASCII character.
    #[error(
        "host `{}` contains non-ASCII characters; write internationalized names in their \
         punycode form (`xn--...`, e.g. `xn--bcher-kva.example`)",
        esc(.host)
    )]
    NonAscii {
        /// The offending input.
        host: String,
    },
    /// The name contains a byte that is not a letter, digit, `-`, `_` or `.`.
    #[error(
        "host `{}` contains {ch:?}; host names may contain only ASCII letters, digits, `-`, `_` \
         and `.`",
        esc(.host)
    )]
    InvalidChar {
        /// The offending input.
        host: String,
        /// The first offending character.
        ch: char,
    },
    /// The name has an empty label: a leading dot, `..`, or more than one trailing dot.
    #[error(
        "host `{}` has an empty label (a leading dot, `..` or more than one trailing dot)",
        esc(.host)
    )]
    EmptyLabel {
        /// The offending input.
        host: String,
    },
    /// A label is longer than 63 characters.
    #[error(
        "host `{}` has a label of {} characters; a label has at most 63",
        esc(.host),
        .label.len()
    )]
    LabelTooLong {
        /// The offending input.
        host: String,
        /// The offending label.
        label: String,
    },
    /// A label starts or ends with `-`.
    #[error("host `{}` has a label `{}` that starts or ends with `-`", esc(.host), esc(.label))]
    LabelHyphen {
        /// The offending input.
        host: String,
        /// The offending label.
        label: String,
    },
    /// The last label starts with a digit: a numeric address form other than a canonical
    /// dotted quad (`2130706433`, `127.1`, `0x7f.1`, `127.000.000.001`), which resolvers would
    /// read as an IP address.
    #[error(
        "host `{}` is not a valid name (its last label starts with a digit) nor a canonical IPv4 \
         address; write IPv4 addresses as four decimal numbers 0-255 without leading zeros, \
         e.g. `127.0.0.1`",
        esc(.host)
    )]
    NumericName {
        /// The offending input.
        host: String,
    },
    /// An IPv6 literal with a zone id (`fe80::1%eth0`).
    #[error("host `{}` has an IPv6 zone id (`%...`); zone ids are not allowed", esc(.host))]
    ZoneId {
        /// The offending input.
        host: String,
    },
    /// Brackets that do not hold exactly one IPv6 address.
    #[error("host `{}` is in brackets but is not an IPv6 address", esc(.host))]
    BadBracket {
        /// The offending input.
        host: String,
    },
    /// An unbracketed IPv6 address in a `host:port` authority.
    #[error(
        "`{}` has more than one `:`; an IPv6 address with a port must be in brackets, e.g. \
         `[2001:db8::1]:443`",
        esc(.input)
    )]
    UnbracketedIpv6 {
        /// The offending input.
        input: String,
    },
    /// Something other than `:port` follows the host.
    #[error("`{}` is not `host:port`", esc(.input))]
    BadAuthority {
        /// The offending input.
        input: String,
    },
    /// No port was written and none is implied.
    #[error("`{}` has no port; write `host:port`", esc(.input))]
    MissingPort {
        /// The offending input.
        input: String,
    },
    /// The port is not a decimal number from 1 to 65535 (without sign or leading zeros).
    #[error(
        "port `{}` in `{}` is not a number from 1 to 65535 (decimal digits only, no leading \
         zeros)",
        esc(.port),
        esc(.input)
    )]
    BadPort {
        /// The whole input.
        input: String,
        /// The offending port text.
        port: String,
    },
    /// A rule that allows every host: `*` or `*:port`.
    #[error(
        "rule `{}` would match every host; name the hosts (e.g. `example.com` or \
         `*.example.com`) or turn the network fully on instead",
        esc(.rule)
    )]
    BareWildcard {
        /// The offending rule.
        rule: String,
    },
    /// `*` somewhere other than as the whole first label.
    #[error(
        "rule `{}` has `*` in the wrong place; `*` may only be the whole first label, as in \
         `*.example.com`",
        esc(.rule)
    )]
    BadWildcard {
        /// The offending rule.
        rule: String,
    },
    /// A rule on a single-label name (`com`, `*.com`, `localhost`).
    #[error(
        "rule `{}` names `{}`, a single-label name (a top-level domain such as `com`, or a \
         local name such as `localhost`); name a domain such as `example.com`, and map local \
         names to addresses in `[network.hosts]`",
        esc(.rule),
        esc(.name)
    )]
    SingleLabel {
        /// The offending rule.
        rule: String,
        /// The single-label name.
        name: String,
    },
    /// A rule on a public suffix (`co.uk`, `*.github.io`), which unrelated parties share.
    #[error(
        "rule `{}` names `{}`, a public suffix under which anyone can register names; name a \
         specific site such as `example.{}`",
        esc(.rule),
        esc(.suffix),
        esc(.suffix)
    )]
    PublicSuffix {
        /// The offending rule.
        rule: String,
        /// The public suffix.
        suffix: String,
    },
    /// The host part of a rule is refused by [`parse_host`].
    #[error("rule `{}`: {reason}", esc(.rule))]
    BadRuleHost {
        /// The offending rule.
        rule: String,
        /// Why its host part is refused.
        reason: Box<HostError>,
    },
}

/// `s` with ASCII control characters and non-ASCII characters escaped, cut to a readable length.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_SHOWN));
    for (i, c) in s.chars().enumerate() {
        if i == MAX_SHOWN {
            out.push_str(&format!("... ({} bytes in all)", s.len()));
            break;
        }
        if c == '\\' {
            out.push_str("\\\\");
        } else if c == ' ' || c.is_ascii_graphic() {
            out.push(c);
        } else if c.is_ascii() {
            out.extend(c.escape_debug());
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out
}

/// Parses a host exactly as it arrived in a request (CONNECT authority host part, absolute URI
/// host, `Host` header host part, SOCKS5 domain), without port.
///
/// Accepts DNS names, IPv4 in canonical dotted-quad form only (four decimal parts 0-255, no
/// leading zeros) and IPv6 literals with or without brackets. Names are lowercased and exactly
/// one trailing dot is stripped (`Example.COM.` becomes `example.com`).
///
/// Refuses: the empty string; names longer than 253 characters; any character in a name other
/// than ASCII letters, digits, `-`, `_` and `.` (so NUL, CR, LF, space, `@`, `/`, `\`, `:`, `%`
/// and unicode: internationalized names must be written in punycode `xn--` form); empty labels
/// (`a..b`, `.a`, `a..`); labels longer than 63 characters or starting or ending with `-`; names
/// whose last label starts with a digit unless they are a canonical dotted quad (this refuses
/// every `inet_aton` form a resolver would treat as an address, like `2130706433`, `127.1`,
/// `0x7f.1` and `127.000.000.001`, and a dotted quad with a trailing dot); IPv6 zone ids; and
/// brackets around anything but an IPv6 address.
pub fn parse_host(s: &str) -> Result<Host, HostError> {
    if s.is_empty() {
        return Err(HostError::Empty);
    }
    let bad = |make: fn(String) -> HostError| Err(make(s.to_string()));
    if let Some(rest) = s.strip_prefix('[') {
        let Some(inner) = rest.strip_suffix(']') else {
            return bad(|host| HostError::BadBracket { host });
        };
        if inner.contains('%') {
            return bad(|host| HostError::ZoneId { host });
        }
        return match inner.parse::<Ipv6Addr>() {
            Ok(ip) => Ok(Host::Ip(IpAddr::V6(ip))),
            Err(_) => bad(|host| HostError::BadBracket { host }),
        };
    }
    if s.contains(':') {
        if let Some((addr, _zone)) = s.split_once('%') {
            if addr.parse::<Ipv6Addr>().is_ok() {
                return bad(|host| HostError::ZoneId { host });
            }
        }
        if let Ok(ip) = s.parse::<Ipv6Addr>() {
            return Ok(Host::Ip(IpAddr::V6(ip)));
        }
        // Not an IPv6 address: the name checks below refuse the `:`.
    }
    if !s.is_ascii() {
        return bad(|host| HostError::NonAscii { host });
    }
    if let Some(ch) = s
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
    {
        return Err(HostError::InvalidChar {
            host: s.to_string(),
            ch,
        });
    }
    let lower = s.to_ascii_lowercase();
    let (name, trailing_dot) = match lower.strip_suffix('.') {
        Some(name) => (name, true),
        None => (lower.as_str(), false),
    };
    if name.is_empty() {
        return bad(|host| HostError::EmptyLabel { host });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(HostError::TooLong {
            host: s.to_string(),
            len: name.len(),
        });
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return bad(|host| HostError::EmptyLabel { host });
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostError::LabelTooLong {
                host: s.to_string(),
                label: label.to_string(),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostError::LabelHyphen {
                host: s.to_string(),
                label: label.to_string(),
            });
        }
        last = label;
    }
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        return match canonical_ipv4(name) {
            Some(ip) if !trailing_dot => Ok(Host::Ip(IpAddr::V4(ip))),
            _ => bad(|host| HostError::NumericName { host }),
        };
    }
    Ok(Host::Name(name.to_string()))
}

/// `s` as an IPv4 address if it is exactly four decimal parts 0-255 without leading zeros.
fn canonical_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        let canonical = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && !(part.len() > 1 && part.starts_with('0'));
        if !canonical {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(Ipv4Addr::from(octets)),
    }
}

/// A port: decimal digits only, no sign, no leading zeros, 1 to 65535.
fn parse_port(input: &str, port: &str) -> Result<u16, HostError> {
    let canonical = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && !port.starts_with('0');
    match port.parse::<u16>() {
        Ok(p) if canonical && p != 0 => Ok(p),
        _ => Err(HostError::BadPort {
            input: input.to_string(),
            port: port.to_string(),
        }),
    }
}

/// Splits `host[:port]` / `[v6][:port]`. An unbracketed host with more than one `:` is an
/// error when `bare_ipv6` is false, and otherwise the whole of `s` with no port (an IPv6
/// address written without brackets, as rules may).
fn split_port(s: &str, bare_ipv6: bool) -> Result<(&str, Option<&str>), HostError> {
    if s.starts_with('[') {
        let Some(end) = s.find(']') else {
            return Err(HostError::BadBracket {
                host: s.to_string(),
            });
        };
        let (host, rest) = s.split_at(end + 1);
        if rest.is_empty() {
            return Ok((host, None));
        }
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None => Err(HostError::BadAuthority {
                input: s.to_string(),
            }),
        };
    }
    match s.matches(':').count() {
        0 => Ok((s, None)),
        1 => {
            let (host, port) = s.split_once(':').unwrap_or((s, ""));
            Ok((host, Some(port)))
        }
        _ if bare_ipv6 => Ok((s, None)),
        _ => Err(HostError::UnbracketedIpv6 {
            input: s.to_string(),
        }),
    }
}

/// Splits `host:port` / `[v6]:port` (a CONNECT authority or `Host` header value) and parses
/// both parts.
///
/// `default_port` is used when no port is written (`None`: the port is required). The port must
/// be 1 to 65535 in decimal digits only, without sign or leading zeros; an empty port (`host:`)
/// is refused. An unbracketed IPv6 address is refused, with or without a port, because
/// `2001:db8::1:443` cannot be split safely. The host part goes through [`parse_host`].
pub fn parse_authority(s: &str, default_port: Option<u16>) -> Result<(Host, u16), HostError> {
    if s.is_empty() {
        return Err(HostError::Empty);
    }
    let (host, port) = split_port(s, false)?;
    let port = match (port, default_port) {
        (Some(port), _) => parse_port(s, port)?,
        (None, Some(default)) => default,
        (None, None) => {
            return Err(HostError::MissingPort {
                input: s.to_string(),
            })
        }
    };
    Ok((parse_host(host)?, port))
}

/// Which hosts a rule names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostPattern {
    /// Exactly this name (`example.com`).
    Exact(String),
    /// Every name strictly below this one (`*.example.com`: `a.example.com`, `a.b.example.com`),
    /// not the name itself.
    Subdomains(String),
    /// Exactly this address. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the same as the
    /// IPv4 address it maps.
    Ip(IpAddr),
}

/// One allow or deny rule as written in config: `example.com`, `*.example.com`,
/// `example.com:443`, `*.example.com:8443`, `203.0.113.7`, `[2001:db8::1]:443`.
///
/// No port means every port. Build rules with [`HostRule::parse`]: it refuses rules that are
/// wider than they look. Serialized as its canonical written form ([`Display`](fmt::Display)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostRule {
    /// The hosts.
    pub pattern: HostPattern,
    /// The one port, or `None` for every port.
    pub port: Option<u16>,
}

/// Common multi-label public suffixes: names under which unrelated parties get subdomains, so
/// a rule on the suffix itself or on `*.` the suffix would allow strangers' sites.
///
/// This is NOT the full Public Suffix List (<https://publicsuffix.org>); it catches the usual
/// mistakes. Single-label names (`com`, `uk`, `localhost`) are refused separately.
const MULTI_LABEL_PUBLIC_SUFFIXES: &[&str] = &[
    // Country-code second-level registries.
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "go.jp",
    "co.nz",
    "net.nz",
    "org.nz",
    "com.br",
    "com.cn",
    "com.mx",
    "co.in",
    "net.in",
    "org.in",
    "co.za",
    "com.tr",
    "com.tw",
    "co.kr",
    "co.il",
    "com.sg",
    "com.hk",
    "com.ar",
    // Hosting platforms that give every customer a subdomain.
    "github.io",
    "gitlab.io",
    "pages.dev",
    "workers.dev",
    "r2.dev",
    "vercel.app",
    "netlify.app",
    "herokuapp.com",
    "appspot.com",
    "cloudfront.net",
    "amazonaws.com",
    "s3.amazonaws.com",
    "azurewebsites.net",
    "azureedge.net",
    "cloudapp.net",
    "blogspot.com",
    "firebaseapp.com",
    "web.app",
    "fly.dev",
    "deno.dev",
    "onrender.com",
    "readthedocs.io",
    "glitch.me",
    // Tunnels and dynamic DNS: anyone can point these at anything.
    "ngrok.io",
    "ngrok-free.app",
    "trycloudflare.com",
    "duckdns.org",
];

impl HostRule {
    /// Parses and validates a rule.
    ///
    /// Accepts `name`, `*.name`, an IPv4 address, an IPv6 address (bracketed or not), each
    /// optionally followed by `:port` (an IPv6 address with a port must be bracketed). Names
    /// are normalized like [`parse_host`] does.
    ///
    /// Refuses: `*` and `*:port`; `*` anywhere except as the whole first label followed by `.`
    /// (`foo*.com`, `*foo.com`, `a.*.com`, `**.com`); a wildcard over an IP address; a bad port;
    /// anything [`parse_host`] refuses in the host part (so unicode names must be written in
    /// punycode); and a public suffix as the name of an exact rule or the base of a `*.` rule:
    /// every single-label name (`com`, `*.com`, `localhost`) and a built-in list of common
    /// multi-label suffixes (`co.uk`, `github.io`, `amazonaws.com`, ...). That list is not the
    /// full Public Suffix List; it catches the common mistakes.
    pub fn parse(s: &str) -> Result<HostRule, HostError> {
        if s.is_empty() {
            return Err(HostError::Empty);
        }
        let rule_err = |reason: HostError| HostError::BadRuleHost {
            rule: s.to_string(),
            reason: Box::new(reason),
        };
        let (host, port) = split_port(s, true)?;
        let port = port.map(|p| parse_port(s, p)).transpose()?;
        if host == "*" || host == "*." {
            return Err(HostError::BareWildcard {
                rule: s.to_string(),
            });
        }
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(base) => (true, base),
            None => (false, host),
        };
        if name.contains('*') {
            return Err(HostError::BadWildcard {
                rule: s.to_string(),
            });
        }
        let pattern = match parse_host(name).map_err(rule_err)? {
            Host::Ip(_) if wildcard => {
                return Err(HostError::BadWildcard {
                    rule: s.to_string(),
                })
            }
            Host::Ip(ip) => HostPattern::Ip(ip),
            Host::Name(name) => {
                if !name.contains('.') {
                    return Err(HostError::SingleLabel {
                        rule: s.to_string(),
                        name,
                    });
                }
                if MULTI_LABEL_PUBLIC_SUFFIXES.contains(&name.as_str()) {
                    return Err(HostError::PublicSuffix {
                        rule: s.to_string(),
                        suffix: name,
                    });
                }
                if wildcard {
                    HostPattern::Subdomains(name)
                } else {
                    HostPattern::Exact(name)
                }
            }
        };
        Ok(HostRule { pattern, port })
    }

    /// Whether this rule covers `host` on `port`.
    ///
    /// A name never matches an IP pattern and an IP never matches a name pattern. Matching is on
    /// normalized forms; a [`Host::Name`] that [`parse_host`] would not have produced matches
    /// nothing. `Subdomains("example.com")` matches `a.example.com` and `a.b.example.com` but not
    /// `example.com`, `badexample.com` or `example.com.evil.com`.
    pub fn matches(&self, host: &Host, port: u16) -> bool {
        host.is_normalized() && self.matches_normalized(host, port)
    }

    /// [`HostRule::matches`] for a host already known to be normalized.
    fn matches_normalized(&self, host: &Host, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.pattern, host) {
            (HostPattern::Exact(rule), Host::Name(name)) => name == rule,
            (HostPattern::Subdomains(base), Host::Name(name)) => name
                .strip_suffix(base.as_str())
                .and_then(|prefix| prefix.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty()),
            (HostPattern::Ip(rule), Host::Ip(ip)) => rule.to_canonical() == ip.to_canonical(),
            _ => false,
        }
    }
}

/// The canonical written form, which [`HostRule::parse`] reads back to the same rule. IPv6
/// addresses are always bracketed.
impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pattern {
            HostPattern::Exact(name) => f.write_str(name)?,
            HostPattern::Subdomains(base) => write!(f, "*.{base}")?,
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// Serialized as the canonical written form.
impl Serialize for HostRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The allowlist in force.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetRules {
    /// Destinations that may be reached.
    pub allow: Vec<HostRule>,
    /// Destinations that may not be reached, even when an allow rule matches.
    pub deny: Vec<HostRule>,
}

/// The decision for one destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum NetDecision {
    /// The destination may be reached.
    Allow {
        /// The allow rule that matched, in canonical form.
        rule: String,
    },
    /// The destination may not be reached.
    Deny {
        /// The deny rule that matched, if one did.
        rule: Option<String>,
        /// Why, for the log and the user.
        reason: String,
    },
}

impl NetDecision {
    /// Whether the destination may be reached.
    pub fn is_allowed(&self) -> bool {
        matches!(self, NetDecision::Allow { .. })
    }
}

impl NetRules {
    /// Decides whether `host` may be reached on `port`.
    ///
    /// Deny rules win over allow rules. Without a matching allow rule the answer is
    /// `Deny { rule: None, reason: "not in the allowlist" }`, so an empty allowlist allows
    /// nothing. A [`Host::Name`] that is not normalized (not what [`parse_host`] returns) is
    /// denied.
    pub fn decide(&self, host: &Host, port: u16) -> NetDecision {
        if !host.is_normalized() {
            return NetDecision::Deny {
                rule: None,
                reason: format!("`{}` is not a normalized host name", esc(&host.as_string())),
            };
        }
        if let Some(rule) = self.deny.iter().find(|r| r.matches_normalized(host, port)) {
            return NetDecision::Deny {
                rule: Some(rule.to_string()),
                reason: "matches a deny rule".to_string(),
            };
        }
        match self.allow.iter().find(|r| r.matches_normalized(host, port)) {
            Some(rule) => NetDecision::Allow {
                rule: rule.to_string(),
            },
            None => NetDecision::Deny {
                rule: None,
                reason: "not in the allowlist".to_string(),
            },
        }
    }
}

/// Named presets a user includes with `presets = ["rust"]`: each a list of rules that
/// [`HostRule::parse`] accepts.
///
/// Package registries are HTTPS-only (port 443); Debian and Ubuntu mirrors are also reached
/// over plain HTTP (port 80) because apt verifies signatures itself and defaults to `http://`.
///
/// There is deliberately no "git forges, read-only" preset: the proxy sees only `host:port` of
/// a TLS connection, so allowing `github.com` allows pushes, API writes and gist uploads as much
/// as clones. Telling them apart would need TLS interception, which brig does not do. Allow a
/// forge explicitly, knowing that it can then be written to.
pub const PRESETS: &[(&str, &[&str])] = &[
    (
        "rust",
        &[
            // The registry web API (publish is also here, but needs a token).
            "crates.io:443",
            // The sparse index.
            "index.crates.io:443",
            // Crate downloads.
            "static.crates.io:443",
            // rustup toolchains and components.
            "static.rust-lang.org:443",
        ],
    ),
    (
        "python",
        &[
            // The package index (simple and JSON APIs).
            "pypi.org:443",
            // Package downloads.
            "files.pythonhosted.org:443",
        ],
    ),
    (
        "node",
        &[
            // npm's registry.
            "registry.npmjs.org:443",
            // Yarn's mirror of it.
            "registry.yarnpkg.com:443",
        ],
    ),
    (
        "debian",
        &[
            // Debian's CDN mirror and security updates.
            "deb.debian.org:80",
            "deb.debian.org:443",
            "security.debian.org:80",
            "security.debian.org:443",
            // Ubuntu's archive, security updates, and non-x86 ports.
            "archive.ubuntu.com:80",
            "archive.ubuntu.com:443",
            "security.ubuntu.com:80",
            "security.ubuntu.com:443",
            "ports.ubuntu.com:80",
            "ports.ubuntu.com:443",
        ],
    ),
];

/// The rules of the preset called `name`, if there is one.
pub fn preset(name: &str) -> Option<&'static [&'static str]> {
    PRESETS
        .iter()
        .find(|(preset, _)| *preset == name)
        .map(|(_, rules)| *rules)
}

/// Whether a resolved address is on the public internet.
///
/// False for: unspecified, loopback (127/8, `::1`), private (10/8, 172.16/12, 192.168/16),
/// link-local (169.254/16 including the 169.254.169.254 metadata service, `fe80::/10`), CGNAT
/// 100.64/10, 0/8, multicast (224/4, `ff00::/8`), broadcast, 192.0.0/24, the deprecated 6to4
/// relay anycast 192.88.99/24, documentation (192.0.2/24, 198.51.100/24, 203.0.113/24,
/// `2001:db8::/32`, `3fff::/20`), benchmarking 198.18/15, reserved 240/4, IPv6 ULA `fc00::/7`,
/// site-local `fec0::/10`, discard `100::/64`, the IETF protocol block `2001::/23` (which holds
/// Teredo `2001::/32`, benchmarking and ORCHID), the local-use NAT64 prefix `64:ff9b:1::/48`
/// (not globally reachable, and where its IPv4 sits depends on the local prefix length), and
/// every IPv6 address outside global unicast `2000::/3`.
///
/// IPv6 forms that embed an IPv4 address are classified by that address: IPv4-mapped
/// `::ffff:0:0/96`, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, and 6to4 `2002::/16` (the
/// IPv4 in bits 16..48).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// [`is_public`] for IPv4.
fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let not_public = a == 0 // "this network", including 0.0.0.0
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64/10
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (b & 0xf0) == 16) // private 172.16/12
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // deprecated 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !not_public
}

/// [`is_public`] for IPv6.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let o = ip.octets();
    let low_v4 = || Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    // IPv4-mapped ::ffff:0:0/96.
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return is_public_v4(low_v4());
    }
    // IPv4-compatible ::/96, which holds :: and ::1 (0.0.0.0 and 0.0.0.1: not public).
    if s[..6] == [0; 6] {
        return is_public_v4(low_v4());
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(low_v4());
    }
    // 6to4 2002::/16: the IPv4 is in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    // Outside global unicast 2000::/3: ULA, link-local, site-local, multicast, discard,
    // local-use NAT64 64:ff9b:1::/48, SRv6 SIDs and the unassigned space.
    if (s[0] & 0xe000) != 0x2000 {
        return false;
    }
    match s[0] {
        // The IETF protocol block 2001::/23 (Teredo, benchmarking, ORCHID) and documentation
        // 2001:db8::/32.
        0x2001 => s[1] >= 0x200 && s[1] != 0xdb8,
        // Documentation 3fff::/20.
        0x3fff => s[1] >= 0x1000,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Host {
        Host::Name(s.to_string())
    }

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    fn rule(s: &str) -> HostRule {
        HostRule::parse(s).unwrap_or_else(|e| panic!("rule {s:?}: {e}"))
    }

    fn rules(allow: &[&str], deny: &[&str]) -> NetRules {
        NetRules {
            allow: allow.iter().map(|s| rule(s)).collect(),
            deny: deny.iter().map(|s| rule(s)).collect(),
        }
    }

    /// What the proxy does with a raw request host: parse strictly, then decide.
    fn proxy(rules: &NetRules, raw: &str, port: u16) -> NetDecision {
        match parse_host(raw) {
            Ok(host) => rules.decide(&host, port),
            Err(e) => NetDecision::Deny {
                rule: None,
                reason: e.to_string(),
            },
        }
    }

    fn allowed(rules: &NetRules, raw: &str, port: u16) -> bool {
        proxy(rules, raw, port).is_allowed()
    }

    /// The kind of matcher this module exists to replace.
    fn naive_ends_with(raw: &str, rule: &str) -> bool {
        raw.to_ascii_lowercase().ends_with(rule)
    }

    fn naive_contains(raw: &str, rule: &str) -> bool {
        raw.to_ascii_lowercase().contains(rule)
    }

    fn naive_starts_with(raw: &str, rule: &str) -> bool {
        raw.to_ascii_lowercase().starts_with(rule)
    }

    // ---- parse_host: accepted forms and normalization ----

    #[test]
    fn names_are_lowercased_and_lose_one_trailing_dot() {
        assert_eq!(parse_host("example.com"), Ok(name("example.com")));
        assert_eq!(parse_host("ALLOWED.COM."), Ok(name("allowed.com")));
        assert_eq!(parse_host("Sub.Example.Com"), Ok(name("sub.example.com")));
        assert_eq!(
            parse_host("_dmarc.example.com"),
            Ok(name("_dmarc.example.com"))
        );
        assert_eq!(parse_host("a-b.c_d.example"), Ok(name("a-b.c_d.example")));
        assert_eq!(parse_host("1e100.net"), Ok(name("1e100.net")));
        assert_eq!(parse_host("localhost"), Ok(name("localhost")));
    }

    #[test]
    fn punycode_is_plain_ascii() {
        assert_eq!(
            parse_host("xn--80ak6aa92e.com"),
            Ok(name("xn--80ak6aa92e.com"))
        );
        assert_eq!(
            parse_host("XN--80AK6AA92E.COM"),
            Ok(name("xn--80ak6aa92e.com"))
        );
    }

    #[test]
    fn canonical_ipv4_becomes_an_ip() {
        assert_eq!(parse_host("127.0.0.1"), Ok(ip("127.0.0.1")));
        assert_eq!(parse_host("0.0.0.0"), Ok(ip("0.0.0.0")));
        assert_eq!(parse_host("255.255.255.255"), Ok(ip("255.255.255.255")));
        assert_eq!(parse_host("203.0.113.7"), Ok(ip("203.0.113.7")));
    }

    #[test]
    fn ipv6_with_or_without_brackets() {
        assert_eq!(parse_host("::1"), Ok(ip("::1")));
        assert_eq!(parse_host("[::1]"), Ok(ip("::1")));
        assert_eq!(parse_host("[2001:DB8::1]"), Ok(ip("2001:db8::1")));
        assert_eq!(parse_host("2001:db8::1"), Ok(ip("2001:db8::1")));
        assert_eq!(parse_host("[::ffff:127.0.0.1]"), Ok(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn length_limits() {
        let label63 = "a".repeat(63);
        let ok = format!("{label63}.com");
        assert_eq!(parse_host(&ok), Ok(name(&ok)));
        let label64 = "a".repeat(64);
        assert!(matches!(
            parse_host(&format!("{label64}.com")),
            Err(HostError::LabelTooLong { .. })
        ));
        // Four labels of 61, four dots and "com": 251; two more letters make 253.
        let l = "b".repeat(61);
        let n251 = format!("{l}.{l}.{l}.{l}.com");
        assert_eq!(n251.len(), 251);
        let n253 = format!("ab{n251}");
        assert_eq!(n253.len(), 253);
        assert_eq!(parse_host(&n253), Ok(name(&n253)));
        // The trailing dot does not count.
        assert_eq!(parse_host(&format!("{n253}.")), Ok(name(&n253)));
        let n254 = format!("c{n253}");
        assert_eq!(
            parse_host(&n254),
            Err(HostError::TooLong {
                host: n254.clone(),
                len: 254
            })
        );
    }

    // ---- parse_host: refusals ----

    #[test]
    fn empty_and_empty_labels_are_refused() {
        assert_eq!(parse_host(""), Err(HostError::Empty));
        for s in [".", "..", "a..b", ".a", ".a.com", "allowed.com..", "a.b..."] {
            assert_eq!(
                parse_host(s),
                Err(HostError::EmptyLabel {
                    host: s.to_string()
                }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn bad_characters_are_refused() {
        for (s, ch) in [
            ("evil.com\0.allowed.com", '\0'),
            ("allowed.com\r\nHost: evil", '\r'),
            ("allowed.com\n", '\n'),
            ("allowed.com ", ' '),
            ("\tallowed.com", '\t'),
            ("user@allowed.com", '@'),
            ("allowed.com/path", '/'),
            ("allowed.com\\evil.com", '\\'),
            ("allowed.com:443", ':'),
            ("allowed%2ecom", '%'),
            ("allowed.com#", '#'),
            ("allowed.com?", '?'),
            ("::1]", ':'),
            ("a]b.com", ']'),
            ("a*.com", '*'),
            ("a+b.com", '+'),
        ] {
            assert_eq!(
                parse_host(s),
                Err(HostError::InvalidChar {
                    host: s.to_string(),
                    ch
                }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn unicode_is_refused_with_a_punycode_hint() {
        // Cyrillic а (U+0430) in place of the Latin a.
        let e = parse_host("\u{430}pple.com").unwrap_err();
        assert_eq!(
            e,
            HostError::NonAscii {
                host: "\u{430}pple.com".to_string()
            }
        );
        let msg = e.to_string();
        assert!(msg.contains("punycode"), "{msg}");
        assert!(msg.contains("`\\u{430}pple.com`"), "{msg}");
        assert!(parse_host("bücher.de").is_err());
        // Fullwidth dot and full stop look-alikes.
        assert!(parse_host("allowed\u{ff0e}com").is_err());
        assert!(parse_host("allowed\u{3002}com").is_err());
    }

    #[test]
    fn hyphens_at_label_edges_are_refused() {
        for s in ["-a.com", "a-.com", "a.-b.com", "a.com-"] {
            assert!(
                matches!(parse_host(s), Err(HostError::LabelHyphen { .. })),
                "{s:?}"
            );
        }
        assert_eq!(parse_host("xn--a.com"), Ok(name("xn--a.com")));
    }

    #[test]
    fn numeric_address_tricks_are_refused() {
        for s in [
            "2130706433",
            "127.1",
            "127.0.1",
            "0x7f.1",
            "0x7f000001",
            "0X7F000001",
            "017700000001",
            "0177.0.0.1",
            "127.000.000.001",
            "127.0.0.01",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.256",
            "1.2.3.4.5",
            "1.2.3",
            "0",
            "1.2.3.4.",
            "example.123",
            "example.1com",
            "0x7f",
        ] {
            assert_eq!(
                parse_host(s),
                Err(HostError::NumericName {
                    host: s.to_string()
                }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn zone_ids_are_refused() {
        for s in [
            "fe80::1%eth0",
            "[fe80::1%eth0]",
            "[fe80::1%25eth0]",
            "fe80::1%25eth0",
        ] {
            assert_eq!(
                parse_host(s),
                Err(HostError::ZoneId {
                    host: s.to_string()
                }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn brackets_hold_only_ipv6() {
        for s in [
            "[example.com]",
            "[1.2.3.4]",
            "[]",
            "[::1]]",
            "[[::1]]",
            "[::1",
            "[::1]x",
        ] {
            assert_eq!(
                parse_host(s),
                Err(HostError::BadBracket {
                    host: s.to_string()
                }),
                "{s:?}"
            );
        }
        assert!(parse_host("[:::1]").is_err());
        assert!(parse_host("[1::2::3]").is_err());
    }

    #[test]
    fn error_messages_escape_control_characters() {
        let msg = parse_host("evil.com\0.allowed.com")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("evil.com\\0.allowed.com"), "{msg}");
        assert!(!msg.contains('\0'));
        let msg = parse_host("allowed.com\r\nHost: evil")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("allowed.com\\r\\nHost: evil"), "{msg}");
        assert!(!msg.contains('\r') && !msg.contains('\n'));
        let long = format!("{}\n", "a".repeat(5000));
        let msg = parse_host(&long).unwrap_err().to_string();
        assert!(msg.len() < 600, "{}", msg.len());
    }

    // ---- parse_authority ----

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            parse_authority("Example.com:443", None),
            Ok((name("example.com"), 443))
        );
        assert_eq!(
            parse_authority("example.com.:8443", None),
            Ok((name("example.com"), 8443))
        );
        assert_eq!(parse_authority("[::1]:443", None), Ok((ip("::1"), 443)));
        assert_eq!(
            parse_authority("203.0.113.7:65535", None),
            Ok((ip("203.0.113.7"), 65535))
        );
        assert_eq!(
            parse_authority("example.com", Some(80)),
            Ok((name("example.com"), 80))
        );
        assert_eq!(parse_authority("[::1]", Some(80)), Ok((ip("::1"), 80)));
        assert_eq!(
            parse_authority("example.com:1", Some(80)),
            Ok((name("example.com"), 1))
        );
    }

    #[test]
    fn authority_ports_are_strict() {
        assert_eq!(
            parse_authority("example.com", None),
            Err(HostError::MissingPort {
                input: "example.com".to_string()
            })
        );
        for (s, port) in [
            ("example.com:", ""),
            ("example.com:0", "0"),
            ("example.com:65536", "65536"),
            ("example.com:99999999999999999999", "99999999999999999999"),
            ("example.com:+443", "+443"),
            ("example.com:-1", "-1"),
            ("example.com: 443", " 443"),
            ("example.com:443 ", "443 "),
            ("example.com:0443", "0443"),
            ("example.com:44a", "44a"),
            ("example.com:0x1bb", "0x1bb"),
            ("example.com:٤٤٣", "٤٤٣"),
            ("[::1]:", ""),
            ("[::1]:0", "0"),
        ] {
            assert_eq!(
                parse_authority(s, Some(443)),
                Err(HostError::BadPort {
                    input: s.to_string(),
                    port: port.to_string()
                }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn authority_refusals() {
        assert_eq!(parse_authority("", Some(443)), Err(HostError::Empty));
        assert_eq!(parse_authority(":443", None), Err(HostError::Empty));
        for s in ["::1:443", "2001:db8::1", "a.com:443:1", "::1"] {
            assert_eq!(
                parse_authority(s, Some(443)),
                Err(HostError::UnbracketedIpv6 {
                    input: s.to_string()
                }),
                "{s:?}"
            );
        }
        assert_eq!(
            parse_authority("[::1]x", None),
            Err(HostError::BadAuthority {
                input: "[::1]x".to_string()
            })
        );
        assert_eq!(
            parse_authority("[::1]]:443", None),
            Err(HostError::BadAuthority {
                input: "[::1]]:443".to_string()
            })
        );
        assert!(parse_authority("[::1:443", None).is_err());
        assert!(parse_authority("user@allowed.com:443", None).is_err());
        assert!(parse_authority("allowed.com\0:443", None).is_err());
        assert!(parse_authority("127.1:443", None).is_err());
        assert!(parse_authority("[fe80::1%eth0]:443", None).is_err());
        assert!(parse_authority("[1.2.3.4]:443", None).is_err());
    }

    // ---- HostRule ----

    #[test]
    fn rules_parse_into_patterns() {
        assert_eq!(
            rule("example.com"),
            HostRule {
                pattern: HostPattern::Exact("example.com".to_string()),
                port: None
            }
        );
        assert_eq!(
            rule("*.Example.com:8443"),
            HostRule {
                pattern: HostPattern::Subdomains("example.com".to_string()),
                port: Some(8443)
            }
        );
        assert_eq!(
            rule("example.com.:443"),
            HostRule {
                pattern: HostPattern::Exact("example.com".to_string()),
                port: Some(443)
            }
        );
        assert_eq!(
            rule("203.0.113.7"),
            HostRule {
                pattern: HostPattern::Ip("203.0.113.7".parse().unwrap()),
                port: None
            }
        );
        assert_eq!(
            rule("[2001:db8::1]:443"),
            HostRule {
                pattern: HostPattern::Ip("2001:db8::1".parse().unwrap()),
                port: Some(443)
            }
        );
        assert_eq!(rule("2001:db8::1"), rule("[2001:db8::1]"));
        assert_eq!(rule("xn--80ak6aa92e.com").port, None);
        assert_eq!(
            rule("user.github.io").pattern,
            HostPattern::Exact("user.github.io".to_string())
        );
        assert_eq!(
            rule("*.example.co.uk").pattern,
            HostPattern::Subdomains("example.co.uk".to_string())
        );
    }

    #[test]
    fn rules_display_round_trip() {
        for (written, canonical) in [
            ("example.com", "example.com"),
            ("EXAMPLE.com.", "example.com"),
            ("*.example.com", "*.example.com"),
            ("*.Example.COM:8443", "*.example.com:8443"),
            ("example.com:443", "example.com:443"),
            ("203.0.113.7", "203.0.113.7"),
            ("203.0.113.7:22", "203.0.113.7:22"),
            ("2001:DB8::1", "[2001:db8::1]"),
            ("[2001:db8:0::1]:443", "[2001:db8::1]:443"),
            ("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]"),
        ] {
            let r = rule(written);
            assert_eq!(r.to_string(), canonical, "{written:?}");
            assert_eq!(rule(&r.to_string()), r, "{written:?}");
        }
        assert_eq!(
            serde_json::to_string(&rule("*.example.com:443")).unwrap(),
            "\"*.example.com:443\""
        );
    }

    #[test]
    fn wildcards_are_only_a_whole_first_label() {
        for s in ["*", "*:443", "*."] {
            assert_eq!(
                HostRule::parse(s),
                Err(HostError::BareWildcard {
                    rule: s.to_string()
                }),
                "{s:?}"
            );
        }
        for s in [
            "foo*.com",
            "*foo.com",
            "a.*.com",
            "**.com",
            "*.*.com",
            "*.example.*",
            "example.com*",
            "*.1.2.3.4",
            "*.[::1]",
        ] {
            let e = HostRule::parse(s).unwrap_err();
            assert!(
                matches!(
                    e,
                    HostError::BadWildcard { .. } | HostError::BadRuleHost { .. }
                ),
                "{s:?}: {e:?}"
            );
        }
        assert_eq!(
            HostRule::parse("*.1.2.3.4"),
            Err(HostError::BadWildcard {
                rule: "*.1.2.3.4".to_string()
            })
        );
    }

    #[test]
    fn single_label_names_are_refused() {
        for (s, n) in [
            ("com", "com"),
            ("*.com", "com"),
            ("*.COM:443", "com"),
            ("localhost", "localhost"),
            ("localhost:8080", "localhost"),
            ("internal.", "internal"),
        ] {
            let e = HostRule::parse(s).unwrap_err();
            assert_eq!(
                e,
                HostError::SingleLabel {
                    rule: s.to_string(),
                    name: n.to_string()
                },
                "{s:?}"
            );
            assert!(e.to_string().contains("[network.hosts]"));
        }
    }

    #[test]
    fn public_suffixes_are_refused() {
        for suffix in MULTI_LABEL_PUBLIC_SUFFIXES {
            for s in [
                suffix.to_string(),
                format!("*.{suffix}"),
                format!("{suffix}:443"),
            ] {
                assert_eq!(
                    HostRule::parse(&s),
                    Err(HostError::PublicSuffix {
                        rule: s.clone(),
                        suffix: suffix.to_string()
                    }),
                    "{s:?}"
                );
            }
            // One level below is a specific site.
            assert!(HostRule::parse(&format!("site.{suffix}")).is_ok());
        }
        for s in [
            "co.uk",
            "org.uk",
            "ac.uk",
            "gov.uk",
            "com.au",
            "net.au",
            "org.au",
            "co.jp",
            "ne.jp",
            "or.jp",
            "co.nz",
            "com.br",
            "com.cn",
            "com.mx",
            "co.in",
            "co.za",
            "com.tr",
            "com.tw",
            "github.io",
            "gitlab.io",
            "pages.dev",
            "workers.dev",
            "vercel.app",
            "netlify.app",
            "herokuapp.com",
            "appspot.com",
            "cloudfront.net",
            "amazonaws.com",
            "s3.amazonaws.com",
            "azurewebsites.net",
            "blogspot.com",
            "firebaseapp.com",
            "web.app",
            "fly.dev",
            "onrender.com",
            "ngrok.io",
            "ngrok-free.app",
            "trycloudflare.com",
            "duckdns.org",
        ] {
            assert!(MULTI_LABEL_PUBLIC_SUFFIXES.contains(&s), "{s}");
        }
        let msg = HostRule::parse("*.github.io").unwrap_err().to_string();
        assert!(msg.contains("public suffix"), "{msg}");
    }

    #[test]
    fn rule_hosts_are_checked_like_request_hosts() {
        let e = HostRule::parse("bücher.de").unwrap_err();
        assert!(
            matches!(&e, HostError::BadRuleHost { reason, .. } if matches!(**reason, HostError::NonAscii { .. })),
            "{e:?}"
        );
        assert!(e.to_string().contains("punycode"), "{e}");
        for s in [
            "",
            "a..com",
            "-a.com",
            "127.1",
            "2130706433",
            "[1.2.3.4]",
            "[example.com]",
            "fe80::1%eth0",
            "example.com:0",
            "example.com:65536",
            "example.com:",
            "example.com:+1",
            "user@example.com",
            "example.com/",
            " example.com",
            "example.com ",
            "[::1]x",
            "example.com:443:1",
        ] {
            assert!(HostRule::parse(s).is_err(), "{s:?}");
        }
    }

    // ---- matching ----

    #[test]
    fn exact_rules_match_only_the_name() {
        let r = rule("example.com");
        assert!(r.matches(&name("example.com"), 443));
        assert!(r.matches(&name("example.com"), 1));
        assert!(!r.matches(&name("a.example.com"), 443));
        assert!(!r.matches(&name("badexample.com"), 443));
        assert!(!r.matches(&name("example.com.evil.com"), 443));
        assert!(!r.matches(&name("example.co"), 443));
    }

    #[test]
    fn wildcards_match_strictly_below_the_base() {
        let r = rule("*.example.com");
        assert!(r.matches(&name("a.example.com"), 443));
        assert!(r.matches(&name("a.b.example.com"), 443));
        assert!(r.matches(&name("_x.example.com"), 443));
        assert!(!r.matches(&name("example.com"), 443));
        assert!(!r.matches(&name("badexample.com"), 443));
        assert!(!r.matches(&name("a.badexample.com"), 443));
        assert!(!r.matches(&name("example.com.evil.com"), 443));
        assert!(!r.matches(&name("a.example.com.evil.com"), 443));
        assert!(!r.matches(&name("com"), 443));
    }

    #[test]
    fn port_specific_rules() {
        let r = rule("example.com:443");
        assert!(r.matches(&name("example.com"), 443));
        assert!(!r.matches(&name("example.com"), 80));
        let w = rule("*.example.com:8443");
        assert!(w.matches(&name("a.example.com"), 8443));
        assert!(!w.matches(&name("a.example.com"), 443));
        let i = rule("[2001:db8::1]:443");
        assert!(i.matches(&ip("2001:db8::1"), 443));
        assert!(!i.matches(&ip("2001:db8::1"), 444));
    }

    #[test]
    fn names_and_ips_never_match_each_other() {
        let by_ip = rule("203.0.113.7");
        assert!(by_ip.matches(&ip("203.0.113.7"), 443));
        assert!(!by_ip.matches(&ip("203.0.113.8"), 443));
        // A hand-built name that spells an IP is not normalized and matches nothing.
        assert!(!by_ip.matches(&name("203.0.113.7"), 443));
        assert!(!rule("example.com").matches(&ip("203.0.113.7"), 443));
        assert!(!rule("*.example.com").matches(&ip("::1"), 443));
    }

    #[test]
    fn ipv4_mapped_addresses_match_their_ipv4_rule() {
        assert!(rule("192.0.2.1").matches(&ip("::ffff:192.0.2.1"), 443));
        assert!(rule("[::ffff:192.0.2.1]").matches(&ip("192.0.2.1"), 443));
        // IPv4-compatible is a different address.
        assert!(!rule("192.0.2.1").matches(&ip("::192.0.2.1"), 443));
        let n = rules(&["[::ffff:192.0.2.1]"], &["192.0.2.1"]);
        assert!(!n.decide(&ip("::ffff:192.0.2.1"), 443).is_allowed());
    }

    #[test]
    fn unnormalized_hand_built_names_match_nothing() {
        let n = rules(&["allowed.com", "*.allowed.com"], &[]);
        for raw in [
            "ALLOWED.COM",
            "allowed.com.",
            "evil.com\0.allowed.com",
            "x.allowed.com\r\n",
            "user@allowed.com",
            "",
        ] {
            let host = name(raw);
            assert!(!n.decide(&host, 443).is_allowed(), "{raw:?}");
            assert!(!n.allow.iter().any(|r| r.matches(&host, 443)), "{raw:?}");
        }
    }

    // ---- decisions ----

    #[test]
    fn empty_allowlist_allows_nothing() {
        let n = NetRules::default();
        for host in [name("example.com"), ip("8.8.8.8"), ip("::1")] {
            assert_eq!(
                n.decide(&host, 443),
                NetDecision::Deny {
                    rule: None,
                    reason: "not in the allowlist".to_string()
                }
            );
        }
        // Deny rules alone allow nothing either.
        let n = rules(&[], &["evil.com"]);
        assert_eq!(
            n.decide(&name("example.com"), 443),
            NetDecision::Deny {
                rule: None,
                reason: "not in the allowlist".to_string()
            }
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let n = rules(
            &["*.example.com", "example.com"],
            &[
                "secret.example.com",
                "*.internal.example.com",
                "example.com:22",
            ],
        );
        assert_eq!(
            n.decide(&name("www.example.com"), 443),
            NetDecision::Allow {
                rule: "*.example.com".to_string()
            }
        );
        assert_eq!(
            n.decide(&name("example.com"), 443),
            NetDecision::Allow {
                rule: "example.com".to_string()
            }
        );
        assert_eq!(
            n.decide(&name("secret.example.com"), 443),
            NetDecision::Deny {
                rule: Some("secret.example.com".to_string()),
                reason: "matches a deny rule".to_string()
            }
        );
        assert!(!n.decide(&name("db.internal.example.com"), 443).is_allowed());
        assert!(n.decide(&name("internal.example.com"), 443).is_allowed());
        assert!(!n.decide(&name("example.com"), 22).is_allowed());
        assert!(n.decide(&name("example.com"), 23).is_allowed());
    }

    #[test]
    fn decisions_serialize_with_a_tag() {
        let d = NetDecision::Allow {
            rule: "example.com".to_string(),
        };
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"decision": "allow", "rule": "example.com"})
        );
        let n = rules(&["example.com:443"], &["[::1]"]);
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            serde_json::json!({"allow": ["example.com:443"], "deny": ["[::1]"]})
        );
        assert_eq!(
            serde_json::to_value(ip("::1")).unwrap(),
            serde_json::json!("::1")
        );
    }

    #[test]
    fn host_display_and_as_string() {
        assert_eq!(name("example.com").as_string(), "example.com");
        assert_eq!(ip("2001:db8::1").as_string(), "2001:db8::1");
        assert_eq!(ip("2001:db8::1").to_string(), "2001:db8::1");
        assert_eq!(ip("192.0.2.1").to_string(), "192.0.2.1");
        assert_eq!(name("a.example").to_string(), "a.example");
    }

    // ---- adversarial: the proxy path, with naive matchers that are fooled ----

    #[test]
    fn suffix_tricks_fool_naive_matchers_not_decide() {
        let n = rules(&["allowed.com"], &[]);
        for raw in ["allowed.com.evil.com", "allowed.com.evil.com."] {
            assert!(naive_contains(raw, "allowed.com"), "{raw:?}");
            assert!(naive_starts_with(raw, "allowed.com"), "{raw:?}");
            assert!(!allowed(&n, raw, 443), "{raw:?}");
        }
        for raw in ["badallowed.com", "evilallowed.com"] {
            assert!(naive_ends_with(raw, "allowed.com"), "{raw:?}");
            assert!(!allowed(&n, raw, 443), "{raw:?}");
        }
        let w = rules(&["*.allowed.com"], &[]);
        assert!(naive_ends_with("evil-allowed.com", "allowed.com"));
        assert!(!allowed(&w, "evil-allowed.com", 443));
        assert!(!allowed(&w, "allowed.com", 443));
        assert!(allowed(&w, "api.allowed.com", 443));
    }

    #[test]
    fn byte_tricks_fool_naive_matchers_not_decide() {
        let n = rules(&["allowed.com", "*.allowed.com"], &[]);
        for raw in [
            // A C resolver stops at the NUL and looks up evil.com.
            "evil.com\0.allowed.com",
            // Userinfo: a URL parser connects to allowed.com... or evil, depending on who parses.
            "evil.com@allowed.com",
            "evil.com\\@allowed.com",
            "evil.com/.allowed.com",
            "evil.com#.allowed.com",
            "evil.com?.allowed.com",
            "evil.com%00.allowed.com",
            "evil.com .allowed.com",
            "evil.com:443.allowed.com",
        ] {
            assert!(naive_ends_with(raw, "allowed.com"), "{raw:?}");
            assert!(!allowed(&n, raw, 443), "{raw:?}");
        }
        for raw in [
            "allowed.com\r\nHost: evil",
            "allowed.com\0evil",
            "allowed.com\n",
        ] {
            assert!(naive_starts_with(raw, "allowed.com"), "{raw:?}");
            assert!(naive_contains(raw, "allowed.com"), "{raw:?}");
            assert!(!allowed(&n, raw, 443), "{raw:?}");
        }
        assert!(!allowed(&n, "user@allowed.com", 443));
    }

    #[test]
    fn case_and_trailing_dot_normalize_and_match() {
        let n = rules(&["allowed.com"], &[]);
        assert!(allowed(&n, "ALLOWED.COM.", 443));
        assert!(allowed(&n, "Allowed.Com", 443));
        assert!(!allowed(&n, "allowed.com..", 443));
        assert!(!allowed(&n, ".allowed.com", 443));
        // A deny rule cannot be dodged by case or a trailing dot either.
        let d = rules(&["*.example.com"], &["secret.example.com"]);
        assert!(!allowed(&d, "SECRET.example.com.", 443));
    }

    #[test]
    fn homographs_and_punycode() {
        let n = rules(&["apple.com"], &[]);
        // Cyrillic а: refused outright.
        assert!(parse_host("\u{430}pple.com").is_err());
        assert!(!allowed(&n, "\u{430}pple.com", 443));
        // Its punycode spelling is a different ASCII name.
        assert_eq!(parse_host("xn--pple-43d.com"), Ok(name("xn--pple-43d.com")));
        assert!(!allowed(&n, "xn--pple-43d.com", 443));
        assert!(!allowed(&n, "xn--80ak6aa92e.com", 443));
        let p = rules(&["xn--80ak6aa92e.com"], &[]);
        assert!(allowed(&p, "xn--80ak6aa92e.com", 443));
        assert!(!allowed(&p, "apple.com", 443));
    }

    #[test]
    fn numeric_ip_tricks_never_reach_a_rule() {
        // An allow rule on 127.0.0.1 matches only the canonical literal.
        let n = rules(&["127.0.0.1"], &[]);
        assert!(allowed(&n, "127.0.0.1", 443));
        for raw in [
            "2130706433",
            "127.1",
            "0x7f.1",
            "0x7f000001",
            "017700000001",
            "127.000.000.001",
        ] {
            assert!(!allowed(&n, raw, 443), "{raw:?}");
        }
        // And a name rule can never be satisfied by a numeric form that resolves elsewhere.
        let w = rules(&["*.nip.example"], &[]);
        assert!(!allowed(&w, "127.0.0.1.nip.example.1", 443));
        // IPv6 spellings of loopback are IPs, not names, and are not public.
        let h = parse_host("[::ffff:127.0.0.1]").unwrap();
        assert_eq!(h, ip("::ffff:127.0.0.1"));
        let Host::Ip(addr) = h else {
            panic!("not an IP")
        };
        assert!(!is_public(addr));
        assert!(!rules(&["*.allowed.com"], &[]).decide(&h, 443).is_allowed());
    }

    // ---- presets ----

    #[test]
    fn every_preset_parses() {
        assert!(!PRESETS.is_empty());
        for (name, list) in PRESETS {
            assert!(!list.is_empty(), "{name}");
            for s in *list {
                let r = HostRule::parse(s).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(r.to_string(), *s, "{name}: rules are written canonically");
            }
        }
        let mut names: Vec<_> = PRESETS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PRESETS.len(), "preset names are unique");
    }

    #[test]
    fn presets_by_name() {
        for (preset_name, hosts) in [
            (
                "rust",
                &[
                    "crates.io",
                    "index.crates.io",
                    "static.crates.io",
                    "static.rust-lang.org",
                ][..],
            ),
            ("python", &["pypi.org", "files.pythonhosted.org"][..]),
            ("node", &["registry.npmjs.org", "registry.yarnpkg.com"][..]),
            (
                "debian",
                &[
                    "deb.debian.org",
                    "security.debian.org",
                    "archive.ubuntu.com",
                    "security.ubuntu.com",
                    "ports.ubuntu.com",
                ][..],
            ),
        ] {
            let list = preset(preset_name).unwrap_or_else(|| panic!("{preset_name}"));
            let n = rules(list, &[]);
            for h in hosts {
                assert!(n.decide(&name(h), 443).is_allowed(), "{preset_name}: {h}");
            }
            assert!(!n.decide(&name("github.com"), 443).is_allowed());
        }
        assert!(preset("debian")
            .unwrap()
            .iter()
            .any(|r| rule(r).matches(&name("deb.debian.org"), 80)));
        assert_eq!(preset("Rust"), None);
        assert_eq!(preset("git"), None);
        assert_eq!(preset(""), None);
    }

    // ---- is_public ----

    #[test]
    fn public_addresses() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:200::1",
        ] {
            assert!(is_public(s.parse().unwrap()), "{s}");
        }
    }

    #[test]
    fn non_public_addresses() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.7",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:20::1",
            "3fff::1",
            "5f00::1",
            "4000::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::1",
        ] {
            assert!(!is_public(s.parse().unwrap()), "{s}");
        }
    }
}
