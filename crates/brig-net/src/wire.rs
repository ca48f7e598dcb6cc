//! Wire formats of the proxy, parsed strictly and without I/O.
//!
//! Each parser takes the bytes received so far and answers one of three things: a complete,
//! checked value (with how many bytes it used), "incomplete, read more" (`Ok(None)` or
//! [`Hello::NeedMore`]), or a [`WireError`] the proxy reports (HTTP 400, a SOCKS failure reply)
//! and records. Parsers never block and never allocate without a bound: request heads stop at
//! [`MAX_HEAD`], ClientHellos at [`MAX_HELLO`].
//!
//! # Why strict
//!
//! The proxy decides which host a request goes to; the upstream server decides again on its own.
//! Any construct two parsers could read differently (a bare LF, a folded header, two Host
//! headers, Content-Length next to Transfer-Encoding, userinfo in the URL) lets a request look
//! allowed to the proxy and mean something else upstream. So each such construct is an error,
//! with a message saying what was wrong. Bytes from the request that appear in an error message
//! are escaped ([`slice::escape_ascii`]) and shortened, so a log line cannot be forged with
//! control characters.
//!
//! Hosts are returned as the `String` that was written, never normalized: the policy validates
//! and compares them. The parsers only make sure a host is delimited unambiguously (no `@`, no
//! stray `:`, `/` or `\`, IPv6 only in brackets, a port of 1-65535 without leading zeros).
//!
//! # What is here
//!
//! - HTTP/1.x proxy requests: [`parse_http_head`], [`upstream_head`] to forward an absolute-form
//!   request, [`HttpHead::body`] and [`ChunkedBody`] to know where its body ends.
//! - SOCKS5 (RFC 1928, no authentication): [`parse_socks_greeting`], [`parse_socks_request`],
//!   [`socks_reply`] and the `SOCKS_*` reply codes.
//! - TLS: [`sniff_client_hello`] finds the server name a tunnelled client asks for.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The most bytes of a request head the proxy reads (request line + headers).
pub const MAX_HEAD: usize = 32 * 1024;

/// The most header fields a request head may have.
pub const MAX_HEADERS: usize = 100;

/// The most bytes [`sniff_client_hello`] looks at: the TLS records carrying the ClientHello,
/// headers included.
pub const MAX_HELLO: usize = 64 * 1024;

/// The most bytes of a request quoted in an error message.
const QUOTE_MAX: usize = 64;

/// Why a request is malformed (the proxy answers 400 / SOCKS failure and records this reason).
///
/// Every `String` field holds request bytes escaped with [`slice::escape_ascii`] (so only
/// printable ASCII) and cut after 64 bytes with `...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// No end of the request head within [`MAX_HEAD`] bytes.
    #[error("the request head is larger than {limit} bytes")]
    HeadTooLarge {
        /// The limit, [`MAX_HEAD`].
        limit: usize,
    },
    /// A CR not followed by LF, or an LF not preceded by CR.
    #[error("bare {what} at byte {offset} of the request head: every line must end with CRLF")]
    BareLineEnding {
        /// `"CR"` or `"LF"`.
        what: &'static str,
        /// Where it is, from the start of the head.
        offset: usize,
    },
    /// A control byte other than CR, LF and (in header values) HTAB.
    #[error("control byte 0x{byte:02x} at byte {offset} of the request head")]
    ControlByte {
        /// The byte.
        byte: u8,
        /// Where it is, from the start of the head.
        offset: usize,
    },
    /// The request line is not `METHOD SP TARGET SP VERSION`.
    #[error("malformed request line `{line}`: expected `METHOD target HTTP/1.1`, single spaces")]
    RequestLine {
        /// The request line.
        line: String,
    },
    /// The method is not an RFC 9110 token.
    #[error("method `{method}` is not an HTTP token")]
    BadMethod {
        /// The method.
        method: String,
    },
    /// A version other than `HTTP/1.0` and `HTTP/1.1`.
    #[error("unsupported HTTP version `{version}`: only HTTP/1.0 and HTTP/1.1 are accepted")]
    UnsupportedVersion {
        /// The version as sent.
        version: String,
    },
    /// Text that must be UTF-8 is not.
    #[error("the {what} is not valid UTF-8")]
    NotUtf8 {
        /// Which part: `"request target"`, `"header value"`.
        what: &'static str,
    },
    /// An origin-form (`/path`) or asterisk-form (`*`) target, which only servers accept.
    #[error(
        "request target `{target}` is for a server, but this is a proxy: send an absolute-form \
         target (`http://host/path`), or use CONNECT host:port"
    )]
    OriginForm {
        /// The target.
        target: String,
    },
    /// A target that is not an absolute URL for a method other than CONNECT.
    #[error("request target `{target}` is not an absolute-form URL such as `http://host/path`")]
    NotAbsolute {
        /// The target.
        target: String,
    },
    /// An absolute-form `https://` target: the proxy does not originate TLS.
    #[error(
        "absolute-form https:// requests are not supported: use CONNECT host:443 and speak TLS \
         through the tunnel"
    )]
    HttpsAbsolute,
    /// An absolute-form URL with a scheme other than `http`.
    #[error("unsupported URL scheme `{scheme}`: only http:// is proxied (use CONNECT otherwise)")]
    UnsupportedScheme {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// Userinfo (`user@`) in an absolute-form URL, a classic host confusion.
    #[error("request target `{target}` has userinfo (`@` in the authority), which is not allowed")]
    Userinfo {
        /// The target.
        target: String,
    },
    /// A fragment (`#...`) in the target; clients must not send one.
    #[error("request target `{target}` has a fragment (`#`), which must not be sent")]
    Fragment {
        /// The target.
        target: String,
    },
    /// An authority (host with optional port) that cannot be split unambiguously.
    #[error("invalid authority `{authority}`: {reason}")]
    BadAuthority {
        /// The authority.
        authority: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header line without `:`.
    #[error("header line `{line}` has no `:`")]
    HeaderWithoutColon {
        /// The line.
        line: String,
    },
    /// A header name that is not an RFC 9110 token.
    #[error("header name `{name}` is not an HTTP token")]
    BadHeaderName {
        /// The name.
        name: String,
    },
    /// Whitespace between a header name and its `:` (RFC 9112 section 5.1 says reject).
    #[error("whitespace between header name `{name}` and `:` is not allowed")]
    SpaceBeforeColon {
        /// The name, without the whitespace.
        name: String,
    },
    /// A header line starting with whitespace (obsolete line folding).
    #[error(
        "obsolete line folding (a header line starting with whitespace) is not allowed: `{line}`"
    )]
    ObsoleteFolding {
        /// The line.
        line: String,
    },
    /// More than [`MAX_HEADERS`] header fields.
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The limit, [`MAX_HEADERS`].
        limit: usize,
    },
    /// A header that may appear only once appears again.
    #[error("more than one {name} header")]
    DuplicateHeader {
        /// `"Host"` or `"Transfer-Encoding"`.
        name: &'static str,
    },
    /// The Host header names another host than the request target.
    #[error("Host header does not match the request target (Host `{host}`, target `{target}`)")]
    HostMismatch {
        /// The Host header's value.
        host: String,
        /// The target's authority.
        target: String,
    },
    /// Both Content-Length and Transfer-Encoding, the classic smuggling vector.
    #[error("both Content-Length and Transfer-Encoding are present")]
    LengthAndChunked,
    /// A Content-Length that is not a decimal number of bytes.
    #[error("invalid Content-Length `{value}`: expected a decimal number of bytes")]
    BadContentLength {
        /// The value.
        value: String,
    },
    /// Several Content-Length headers that differ.
    #[error("Content-Length headers disagree: `{first}` and `{other}`")]
    ConflictingContentLength {
        /// The first value.
        first: String,
        /// A different later value.
        other: String,
    },
    /// A Transfer-Encoding other than exactly `chunked`.
    #[error("unsupported Transfer-Encoding `{value}`: only `chunked` is accepted")]
    UnsupportedTransferEncoding {
        /// The value.
        value: String,
    },
    /// A Connection header naming a header that frames or routes the request, which a proxy
    /// would then have to drop.
    #[error("the Connection header must not name `{name}`")]
    ConnectionNamesHeader {
        /// The named header.
        name: String,
    },
    /// A CONNECT request with a body; the bytes after its head belong to the tunnel.
    #[error("a CONNECT request must not have a body (it has {header})")]
    ConnectWithBody {
        /// `"Transfer-Encoding"` or `"a non-zero Content-Length"`.
        header: &'static str,
    },
    /// A chunked body that breaks the chunked syntax.
    #[error("malformed chunked body: {reason}")]
    BadChunk {
        /// What is wrong.
        reason: &'static str,
    },
    /// A SOCKS message whose version byte is not 5.
    #[error("unsupported SOCKS version {version}: only SOCKS5 is accepted")]
    SocksVersion {
        /// The version byte.
        version: u8,
    },
    /// A SOCKS greeting listing no authentication method.
    #[error("the SOCKS greeting offers no authentication method")]
    SocksNoMethods,
    /// A SOCKS request whose reserved byte is not 0.
    #[error("SOCKS reserved byte is 0x{value:02x}, expected 0")]
    SocksReserved {
        /// The byte.
        value: u8,
    },
    /// A SOCKS address type other than IPv4 (1), domain (3) and IPv6 (4).
    #[error("unsupported SOCKS address type 0x{atyp:02x}")]
    SocksAddressType {
        /// The ATYP byte.
        atyp: u8,
    },
    /// A SOCKS domain name that is empty, not UTF-8, or has control characters.
    #[error("invalid SOCKS domain name `{name}`: {reason}")]
    SocksDomain {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The ClientHello does not fit in [`MAX_HELLO`] bytes.
    #[error("the TLS ClientHello is larger than {limit} bytes")]
    HelloTooLarge {
        /// The limit, [`MAX_HELLO`].
        limit: usize,
    },
    /// The first handshake message is not a ClientHello.
    #[error("expected a TLS ClientHello, got handshake message type {msg_type}")]
    NotClientHello {
        /// The handshake message type.
        msg_type: u8,
    },
    /// A ClientHello or its records with inconsistent lengths or fields.
    #[error("malformed TLS ClientHello: {reason}")]
    BadHello {
        /// What is wrong.
        reason: &'static str,
    },
    /// An extension that appears twice (forbidden by RFC 8446 section 4.2).
    #[error("the TLS ClientHello has extension {ext_type} ({}) more than once", extension_name(*.ext_type))]
    DuplicateExtension {
        /// The extension type.
        ext_type: u16,
    },
    /// A server_name that is not printable ASCII.
    #[error("TLS server_name `{name}` is not printable ASCII")]
    BadServerName {
        /// The name.
        name: String,
    },
}

/// Request bytes as they may appear in a message: escaped and shortened.
fn quote(bytes: &[u8]) -> String {
    let cut = bytes.len().min(QUOTE_MAX);
    let mut quoted = bytes[..cut].escape_ascii().to_string();
    if cut < bytes.len() {
        quoted.push_str("...");
    }
    quoted
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// An HTTP request head sent to a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHead {
    /// The method as sent, an RFC 9110 token (case-sensitive: only `CONNECT` opens a tunnel).
    pub method: String,
    /// Where the request goes.
    pub target: Target,
    /// The protocol version.
    pub version: HttpVersion,
    /// The header fields in order: names as sent, values with surrounding whitespace trimmed.
    pub headers: Vec<(String, String)>,
    /// The bytes the head takes in the buffer, including the final CRLFCRLF; the body or the
    /// tunnel data starts here.
    pub head_len: usize,
}

/// The HTTP versions the proxy accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    /// `HTTP/1.0`.
    Http10,
    /// `HTTP/1.1`.
    Http11,
}

impl HttpVersion {
    /// The version as written on the wire, `HTTP/1.0` or `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
        }
    }
}

/// The target of a proxy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// CONNECT host:port — the authority exactly as written (`example.com:443`, `[::1]:443`).
    Authority(String),
    /// An absolute-form `http://authority/path?query` target.
    Absolute {
        /// The authority as written (host with optional port), never with userinfo.
        authority: String,
        /// The path and query, `/` when the URL had none (a bare `?query` becomes `/?query`).
        path: String,
    },
}

impl Target {
    /// The authority, host with optional port, as written.
    pub fn authority(&self) -> &str {
        match self {
            Target::Authority(authority) | Target::Absolute { authority, .. } => authority,
        }
    }
}

/// How a request body is framed (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: neither Content-Length nor Transfer-Encoding (or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A chunked body follows; [`ChunkedBody`] finds its end.
    Chunked,
}

impl HttpHead {
    /// The value of the first header named `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How the body after the head is framed, so the proxy forwards exactly the body and
    /// nothing after it. Applies the same rules as [`parse_http_head`], so it cannot fail on a
    /// head that came from there.
    pub fn body(&self) -> Result<Body, WireError> {
        framing(&self.headers, matches!(self.target, Target::Authority(_)))
    }
}

/// Parses a request head from `buf`.
///
/// `Ok(None)` means the head is incomplete and `buf` is shorter than [`MAX_HEAD`]: read more and
/// call again with everything received. Without a complete head at or beyond [`MAX_HEAD`] bytes
/// the answer is [`WireError::HeadTooLarge`]. Errors in the bytes received so far (a bare CR or
/// LF, a control byte) are reported as soon as they arrive.
///
/// The rules:
///
/// - Every line ends with CRLF; a bare LF or CR anywhere is an error. No control byte other
///   than HTAB, and HTAB only in header values.
/// - The request line is exactly `METHOD SP TARGET SP HTTP/1.x` with a token method and
///   version 1.0 or 1.1.
/// - `CONNECT` takes an authority-form target `host:port` (port required); every other method
///   an absolute-form `http://` URL without userinfo or fragment. Origin-form (`/x`, `*`) and
///   `https://` targets are errors that say what to send instead.
/// - Header names are tokens directly followed by `:`; no obsolete line folding; at most
///   [`MAX_HEADERS`] fields; values must be UTF-8.
/// - At most one Host header; if present it must equal the target's authority, ignoring ASCII
///   case and (for absolute-form) a default `:80` on either side.
/// - Content-Length is decimal digits, and equal if repeated; Transfer-Encoding (at most one)
///   is exactly `chunked`; never both; a CONNECT request has no body.
/// - The Connection header must not name Host, Content-Length or Transfer-Encoding (a proxy
///   drops the headers Connection names).
pub fn parse_http_head(buf: &[u8]) -> Result<Option<HttpHead>, WireError> {
    let Some(head_len) = find_head_end(buf)? else {
        if buf.len() >= MAX_HEAD {
            return Err(WireError::HeadTooLarge { limit: MAX_HEAD });
        }
        return Ok(None);
    };
    // Without the final CRLFCRLF. Every LF in it is preceded by CR (checked above), so
    // splitting at LF and dropping the CR splits exactly at CRLF.
    let text = &buf[..head_len - 4];
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let (method, target, version) = parse_request_line(request_line)?;

    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(WireError::TooManyHeaders { limit: MAX_HEADERS });
        }
        headers.push(parse_header_line(line)?);
    }

    let target = if method == "CONNECT" {
        check_authority(target, true)?;
        Target::Authority(target.to_owned())
    } else {
        parse_absolute(target)?
    };
    check_host(&target, &headers)?;
    check_connection(&headers)?;
    framing(&headers, matches!(target, Target::Authority(_)))?;

    Ok(Some(HttpHead {
        method,
        target,
        version,
        headers,
        head_len,
    }))
}

/// Finds the end of the head (just after the first CRLFCRLF) within [`MAX_HEAD`] bytes,
/// rejecting bare CR/LF and control bytes on the way.
fn find_head_end(buf: &[u8]) -> Result<Option<usize>, WireError> {
    for (offset, &byte) in buf.iter().enumerate().take(MAX_HEAD) {
        match byte {
            b'\n' => {
                if offset == 0 || buf[offset - 1] != b'\r' {
                    return Err(WireError::BareLineEnding { what: "LF", offset });
                }
                if offset >= 3 && buf[offset - 3..offset] == *b"\r\n\r" {
                    return Ok(Some(offset + 1));
                }
            }
            b'\r' if buf.get(offset + 1).is_some_and(|&next| next != b'\n') => {
                return Err(WireError::BareLineEnding { what: "CR", offset });
            }
            b'\r' | b'\t' => {}
            _ if byte < 0x20 || byte == 0x7f => {
                return Err(WireError::ControlByte { byte, offset });
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Splits and checks `METHOD SP TARGET SP VERSION`.
fn parse_request_line(line: &[u8]) -> Result<(String, &str, HttpVersion), WireError> {
    let bad_line = || WireError::RequestLine { line: quote(line) };
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_line());
    };
    if method.is_empty() || target.is_empty() || version.is_empty() || line.contains(&b'\t') {
        return Err(bad_line());
    }
    if !is_token(method) {
        return Err(WireError::BadMethod {
            method: quote(method),
        });
    }
    let version = match version {
        b"HTTP/1.1" => HttpVersion::Http11,
        b"HTTP/1.0" => HttpVersion::Http10,
        _ => {
            return Err(WireError::UnsupportedVersion {
                version: quote(version),
            })
        }
    };
    let target = std::str::from_utf8(target).map_err(|_| WireError::NotUtf8 {
        what: "request target",
    })?;
    Ok((ascii_string(method), target, version))
}

/// Splits and checks one `name: value` line.
fn parse_header_line(line: &[u8]) -> Result<(String, String), WireError> {
    if line.first().is_some_and(|&b| is_ows(b)) {
        return Err(WireError::ObsoleteFolding { line: quote(line) });
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(WireError::HeaderWithoutColon { line: quote(line) });
    };
    let name = &line[..colon];
    if name.last().is_some_and(|&b| is_ows(b)) {
        return Err(WireError::SpaceBeforeColon {
            name: quote(name.trim_ascii_end()),
        });
    }
    if !is_token(name) {
        return Err(WireError::BadHeaderName { name: quote(name) });
    }
    let value = trim_ows(&line[colon + 1..]);
    let value = std::str::from_utf8(value).map_err(|_| WireError::NotUtf8 {
        what: "header value",
    })?;
    Ok((ascii_string(name), value.to_owned()))
}

/// Parses an absolute-form target of a request other than CONNECT.
fn parse_absolute(target: &str) -> Result<Target, WireError> {
    if target.starts_with('/') || target == "*" {
        return Err(WireError::OriginForm {
            target: quote(target.as_bytes()),
        });
    }
    if target.contains('#') {
        return Err(WireError::Fragment {
            target: quote(target.as_bytes()),
        });
    }
    let not_absolute = || WireError::NotAbsolute {
        target: quote(target.as_bytes()),
    };
    let (scheme, rest) = target.split_once("://").ok_or_else(not_absolute)?;
    if !is_scheme(scheme) {
        return Err(not_absolute());
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "https" {
        return Err(WireError::HttpsAbsolute);
    }
    if scheme != "http" {
        return Err(WireError::UnsupportedScheme {
            scheme: quote(scheme.as_bytes()),
        });
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err(WireError::Userinfo {
            target: quote(target.as_bytes()),
        });
    }
    check_authority(authority, false)?;
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(Target::Absolute {
        authority: authority.to_owned(),
        path,
    })
}

/// Checks that `authority` is `host[:port]` with one unambiguous reading.
fn check_authority(authority: &str, port_required: bool) -> Result<(), WireError> {
    match authority_problem(authority, port_required) {
        None => Ok(()),
        Some(reason) => Err(WireError::BadAuthority {
            authority: quote(authority.as_bytes()),
            reason,
        }),
    }
}

/// What makes `authority` ambiguous or invalid, if anything.
fn authority_problem(authority: &str, port_required: bool) -> Option<&'static str> {
    if authority.is_empty() {
        return Some("the host is empty");
    }
    if authority.contains('@') {
        return Some("userinfo (`@`) is not allowed");
    }
    let port = if let Some(rest) = authority.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Some("`[` without `]`");
        };
        let ipv6_chars = inside
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !inside.contains(':') || !ipv6_chars {
            return Some("only an IPv6 address may be in brackets (no zone, no IPvFuture)");
        }
        if after.is_empty() {
            None
        } else {
            match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Some("only `:port` may follow `]`"),
            }
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|port| port.contains(':')) {
            return Some("more than one `:` (an IPv6 address must be in brackets)");
        }
        if host.is_empty() {
            return Some("the host is empty");
        }
        if host.chars().any(|c| c.is_whitespace() || is_hidden(c)) {
            return Some("the host has whitespace, a control or an invisible character");
        }
        if host.chars().any(|c| HOST_DELIMITERS.contains(c)) {
            return Some("the host has one of @/?#\\[]%\"<>^`{|}");
        }
        port
    };
    match port {
        None if port_required => Some("a port is required (host:port)"),
        None => None,
        Some(port) => port_problem(port),
    }
}

/// Characters that delimit URL parts or that URL parsers treat specially (`\\` as `/`, `%` as an
/// escape): in a host they could make another parser see another host.
const HOST_DELIMITERS: &str = "@/?#\\[]%\"<>^`{|}";

/// Control characters (C0, DEL, C1) and the invisible format characters that can make a name
/// look like another one: soft hyphen, zero-width and joiner characters, bidirectional
/// controls, word joiners, the byte order mark.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// What is wrong with a port, if anything.
fn port_problem(port: &str) -> Option<&'static str> {
    if port.is_empty() {
        return Some("the port is empty");
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Some("the port must be decimal digits");
    }
    if port.len() > 1 && port.starts_with('0') {
        return Some("the port must not have leading zeros");
    }
    match port.parse::<u16>() {
        Ok(1..) => None,
        _ => Some("the port must be 1-65535"),
    }
}

/// At most one Host header, and it names the target's authority.
fn check_host(target: &Target, headers: &[(String, String)]) -> Result<(), WireError> {
    let mut hosts = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("host"));
    let Some((_, host)) = hosts.next() else {
        return Ok(());
    };
    if hosts.next().is_some() {
        return Err(WireError::DuplicateHeader { name: "Host" });
    }
    let matches = match target {
        Target::Authority(authority) => host.eq_ignore_ascii_case(authority),
        Target::Absolute { authority, .. } => {
            without_default_port(host).eq_ignore_ascii_case(without_default_port(authority))
        }
    };
    if matches {
        Ok(())
    } else {
        Err(WireError::HostMismatch {
            host: quote(host.as_bytes()),
            target: quote(target.authority().as_bytes()),
        })
    }
}

/// `host:80` -> `host`; anything else unchanged.
fn without_default_port(authority: &str) -> &str {
    authority.strip_suffix(":80").unwrap_or(authority)
}

/// Headers a Connection header must never name: dropping them would change where the request
/// goes or where its body ends.
const NEVER_HOP_BY_HOP: [&str; 3] = ["host", "content-length", "transfer-encoding"];

/// The Connection header names no header that routes or frames the request.
fn check_connection(headers: &[(String, String)]) -> Result<(), WireError> {
    for name in connection_named(headers) {
        if NEVER_HOP_BY_HOP
            .iter()
            .any(|never| never.eq_ignore_ascii_case(name))
        {
            return Err(WireError::ConnectionNamesHeader {
                name: quote(name.as_bytes()),
            });
        }
    }
    Ok(())
}

/// The header names listed in Connection headers.
fn connection_named(headers: &[(String, String)]) -> impl Iterator<Item = &str> {
    headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|name| name.trim_matches([' ', '\t']))
        .filter(|name| !name.is_empty())
}

/// The body framing the headers declare, with the smuggling checks.
fn framing(headers: &[(String, String)], connect: bool) -> Result<Body, WireError> {
    let mut length: Option<&str> = None;
    let mut chunked = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(WireError::BadContentLength {
                    value: quote(value.as_bytes()),
                });
            }
            match length {
                Some(first) if first != value => {
                    return Err(WireError::ConflictingContentLength {
                        first: quote(first.as_bytes()),
                        other: quote(value.as_bytes()),
                    })
                }
                _ => length = Some(value),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked {
                return Err(WireError::DuplicateHeader {
                    name: "Transfer-Encoding",
                });
            }
            if !value.eq_ignore_ascii_case("chunked") {
                return Err(WireError::UnsupportedTransferEncoding {
                    value: quote(value.as_bytes()),
                });
            }
            chunked = true;
        }
    }
    match (length, chunked) {
        (Some(_), true) => Err(WireError::LengthAndChunked),
        (None, true) if connect => Err(WireError::ConnectWithBody {
            header: "Transfer-Encoding",
        }),
        (None, true) => Ok(Body::Chunked),
        (Some(value), false) => match value.parse::<u64>() {
            Ok(0) => Ok(Body::Empty),
            Ok(_) if connect => Err(WireError::ConnectWithBody {
                header: "a non-zero Content-Length",
            }),
            Ok(n) => Ok(Body::Length(n)),
            Err(_) => Err(WireError::BadContentLength {
                value: quote(value.as_bytes()),
            }),
        },
        (None, false) => Ok(Body::Empty),
    }
}

/// Headers that describe one connection, never forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
];

/// Rebuilds the head to send upstream for an absolute-form request.
///
/// The result is the origin-form request line `METHOD path HTTP/1.1`; the Host header (the
/// original one as sent, or `Host: <target authority>` if there was none) first; every other
/// header in order except the hop-by-hop ones (Connection, Proxy-Connection, Keep-Alive,
/// Proxy-Authorization, Proxy-Authenticate, TE, Trailer, Upgrade) and any header named in a
/// Connection value; then `Connection: close` and the empty line. Host, Content-Length and
/// Transfer-Encoding are always kept, whatever Connection says, so the upstream sees the same
/// host and body framing the proxy checked.
///
/// A CONNECT head has nothing to forward; given one, the request line carries its authority.
pub fn upstream_head(head: &HttpHead) -> Vec<u8> {
    let request_target = match &head.target {
        Target::Authority(authority) => authority,
        Target::Absolute { path, .. } => path,
    };
    let named: Vec<&str> = connection_named(&head.headers).collect();
    let dropped = |name: &str| {
        let never = NEVER_HOP_BY_HOP
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name));
        !never
            && (HOP_BY_HOP.iter().any(|n| n.eq_ignore_ascii_case(name))
                || named.iter().any(|n| n.eq_ignore_ascii_case(name)))
    };

    let mut out = Vec::with_capacity(head.head_len + 64);
    let mut line = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    match head
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        Some((name, value)) => line(name, value),
        None => line("Host", head.target.authority()),
    }
    for (name, value) in &head.headers {
        if !name.eq_ignore_ascii_case("host") && !dropped(name) {
            line(name, value);
        }
    }
    line("Connection", "close");
    let headers = out;

    let mut out = Vec::with_capacity(headers.len() + request_target.len() + 32);
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(request_target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    out.extend_from_slice(&headers);
    out.extend_from_slice(b"\r\n");
    out
}

/// Finds where a chunked body ends (RFC 9112 section 7.1), incrementally and without buffering
/// it, so the proxy forwards exactly the body and nothing of what follows.
///
/// Strict like the head parser: chunk sizes are 1-16 hex digits; chunk extensions (`;name`)
/// are rejected; every line ends with CRLF; trailer fields are `token: value` without control
/// bytes (other than HTAB), folding or whitespace before `:`, at most [`MAX_HEAD`] bytes in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedBody {
    state: Chunk,
    trailer_len: usize,
}

/// Where a [`ChunkedBody`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line, `digits` hex digits read so far.
    Size { digits: u8, size: u64 },
    /// After the CR of a chunk-size line.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { left: u64 },
    /// After chunk data, expecting CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// After the CR of a trailer line.
    TrailerLf,
    /// After the CR of the final empty line.
    EndLf,
    /// The body has ended.
    Done,
}

impl Default for ChunkedBody {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedBody {
    /// A scanner at the start of a chunked body.
    pub fn new() -> Self {
        ChunkedBody {
            state: Chunk::Size { digits: 0, size: 0 },
            trailer_len: 0,
        }
    }

    /// Whether the end of the body has been seen.
    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Feeds the next bytes received after the head (or after the previous call's bytes).
    ///
    /// `Ok(None)`: all of `data` is body and more is to come. `Ok(Some(n))`: the body ends after
    /// the first `n` bytes of `data`; the rest is not part of this request (`Some(0)` once the
    /// body has ended). An error means the body is malformed; stop forwarding.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, WireError> {
        let bad = |reason| Err(WireError::BadChunk { reason });
        let mut i = 0;
        while i < data.len() {
            let byte = data[i];
            let in_trailer = matches!(
                self.state,
                Chunk::TrailerStart | Chunk::TrailerName | Chunk::TrailerValue | Chunk::TrailerLf
            );
            self.state = match self.state {
                Chunk::Done => return Ok(Some(i)),
                Chunk::Data { left } => {
                    let available = (data.len() - i) as u64;
                    let take = available.min(left);
                    // `take` <= `available`, which came from a usize.
                    i += take as usize;
                    self.state = if take == left {
                        Chunk::DataCr
                    } else {
                        Chunk::Data { left: left - take }
                    };
                    continue;
                }
                Chunk::Size { digits, size } => match byte {
                    b'\r' if digits > 0 => Chunk::SizeLf { size },
                    b';' if digits > 0 => return bad("chunk extensions are not accepted"),
                    _ => match (byte as char).to_digit(16) {
                        Some(_) if digits == 16 => {
                            return bad("a chunk size has more than 16 hex digits")
                        }
                        Some(digit) => Chunk::Size {
                            digits: digits + 1,
                            size: size << 4 | u64::from(digit),
                        },
                        None => return bad("expected a hexadecimal chunk size ending with CRLF"),
                    },
                },
                Chunk::SizeLf { size } => match byte {
                    b'\n' if size == 0 => Chunk::TrailerStart,
                    b'\n' => Chunk::Data { left: size },
                    _ => return bad("a chunk size line must end with CRLF"),
                },
                Chunk::DataCr => match byte {
                    b'\r' => Chunk::DataLf,
                    _ => return bad("chunk data must be followed by CRLF"),
                },
                Chunk::DataLf => match byte {
                    b'\n' => Chunk::Size { digits: 0, size: 0 },
                    _ => return bad("chunk data must be followed by CRLF"),
                },
                Chunk::TrailerStart => match byte {
                    b'\r' => Chunk::EndLf,
                    b' ' | b'\t' => return bad("obsolete line folding in the trailer section"),
                    _ if is_tchar(byte) => Chunk::TrailerName,
                    _ => return bad("a trailer field name must be an HTTP token"),
                },
                Chunk::TrailerName => match byte {
                    b':' => Chunk::TrailerValue,
                    b' ' | b'\t' => return bad("whitespace before `:` in a trailer field"),
                    _ if is_tchar(byte) => Chunk::TrailerName,
                    _ => return bad("a trailer field name must be an HTTP token"),
                },
                Chunk::TrailerValue => match byte {
                    b'\r' => Chunk::TrailerLf,
                    b'\t' => Chunk::TrailerValue,
                    _ if byte < 0x20 || byte == 0x7f => {
                        return bad("a control byte or bare LF in a trailer field")
                    }
                    _ => Chunk::TrailerValue,
                },
                Chunk::TrailerLf => match byte {
                    b'\n' => Chunk::TrailerStart,
                    _ => return bad("a trailer line must end with CRLF"),
                },
                Chunk::EndLf => match byte {
                    b'\n' => {
                        self.state = Chunk::Done;
                        return Ok(Some(i + 1));
                    }
                    _ => return bad("the body must end with an empty line (CRLF)"),
                },
            };
            if in_trailer {
                self.trailer_len += 1;
                if self.trailer_len > MAX_HEAD {
                    return bad("the trailer section is larger than 32 KiB");
                }
            }
            i += 1;
        }
        Ok(if self.is_done() {
            Some(data.len())
        } else {
            None
        })
    }
}

/// An RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An RFC 9110 `token`: one or more `tchar`s.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// An RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Optional whitespace: SP or HTAB.
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `bytes` without leading and trailing SP/HTAB.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Bytes known to be ASCII as a `String`.
fn ascii_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

// ---------------------------------------------------------------------------------------------
// SOCKS5
// ---------------------------------------------------------------------------------------------

/// SOCKS5 reply: succeeded.
pub const SOCKS_OK: u8 = 0;
/// SOCKS5 reply: general SOCKS server failure.
pub const SOCKS_GENERAL_FAILURE: u8 = 1;
/// SOCKS5 reply: connection not allowed by ruleset (the policy said no).
pub const SOCKS_NOT_ALLOWED: u8 = 2;
/// SOCKS5 reply: network unreachable.
pub const SOCKS_NET_UNREACHABLE: u8 = 3;
/// SOCKS5 reply: host unreachable.
pub const SOCKS_HOST_UNREACHABLE: u8 = 4;
/// SOCKS5 reply: connection refused.
pub const SOCKS_CONNECTION_REFUSED: u8 = 5;
/// SOCKS5 reply: TTL expired.
pub const SOCKS_TTL_EXPIRED: u8 = 6;
/// SOCKS5 reply: command not supported.
pub const SOCKS_COMMAND_NOT_SUPPORTED: u8 = 7;
/// SOCKS5 reply: address type not supported.
pub const SOCKS_ADDRESS_NOT_SUPPORTED: u8 = 8;

/// SOCKS5 command CONNECT, the only one the proxy carries out.
pub const SOCKS_CMD_CONNECT: u8 = 1;

/// SOCKS5 method "no authentication required".
const SOCKS_NO_AUTH: u8 = 0;

/// SOCKS5 (RFC 1928), no authentication only.
///
/// Parses the greeting (VER=5, NMETHODS, METHODS). `Ok(None)` = incomplete. Returns the bytes
/// consumed and whether method 0x00 (no authentication) was offered. A version other than 5 and
/// an empty method list are errors.
pub fn parse_socks_greeting(buf: &[u8]) -> Result<Option<(usize, bool)>, WireError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != 5 {
        return Err(WireError::SocksVersion { version });
    }
    let Some(&count) = buf.get(1) else {
        return Ok(None);
    };
    if count == 0 {
        return Err(WireError::SocksNoMethods);
    }
    let len = 2 + usize::from(count);
    let Some(methods) = buf.get(2..len) else {
        return Ok(None);
    };
    Ok(Some((len, methods.contains(&SOCKS_NO_AUTH))))
}

/// A SOCKS5 destination address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksAddr {
    /// A domain name as sent (ATYP 3): 1-255 bytes of UTF-8 without control characters.
    Domain(String),
    /// An IPv4 address (ATYP 1).
    V4(Ipv4Addr),
    /// An IPv6 address (ATYP 4).
    V6(Ipv6Addr),
}

/// A SOCKS5 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksRequest {
    /// The command: 1 CONNECT, 2 BIND, 3 UDP ASSOCIATE, or anything else the client sent.
    pub command: u8,
    /// The destination address.
    pub addr: SocksAddr,
    /// The destination port (as sent; may be 0).
    pub port: u16,
    /// The bytes the request takes in the buffer.
    pub len: usize,
}

/// Parses the request (VER=5, CMD, RSV=0, ATYP, DST.ADDR, DST.PORT). `Ok(None)` = incomplete.
///
/// A domain must be 1..=255 bytes of UTF-8 with no control character (NUL included); otherwise,
/// and for an unknown ATYP, a version other than 5 or a non-zero reserved byte, it is an error.
/// Any command value is returned (the proxy replies [`SOCKS_COMMAND_NOT_SUPPORTED`] for anything
/// but [`SOCKS_CMD_CONNECT`]).
pub fn parse_socks_request(buf: &[u8]) -> Result<Option<SocksRequest>, WireError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != 5 {
        return Err(WireError::SocksVersion { version });
    }
    let (Some(&command), Some(&reserved), Some(&atyp)) = (buf.get(1), buf.get(2), buf.get(3))
    else {
        // Report a bad reserved byte as soon as it arrives.
        return match buf.get(2) {
            Some(&value) if value != 0 => Err(WireError::SocksReserved { value }),
            _ => Ok(None),
        };
    };
    if reserved != 0 {
        return Err(WireError::SocksReserved { value: reserved });
    }
    let (addr_len, addr_start) = match atyp {
        1 => (4, 4),
        4 => (16, 4),
        3 => match buf.get(4) {
            None => return Ok(None),
            Some(0) => {
                return Err(WireError::SocksDomain {
                    name: String::new(),
                    reason: "it is empty",
                })
            }
            Some(&n) => (usize::from(n), 5),
        },
        _ => return Err(WireError::SocksAddressType { atyp }),
    };
    let addr_end = addr_start + addr_len;
    let len = addr_end + 2;
    let Some(raw) = buf.get(addr_start..addr_end) else {
        return Ok(None);
    };
    // Check a domain before waiting for the port, so a bad one fails early.
    let addr = match atyp {
        1 => SocksAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(raw).unwrap_or_default())),
        4 => SocksAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(raw).unwrap_or_default(),
        )),
        _ => SocksAddr::Domain(socks_domain(raw)?),
    };
    let Some(port) = buf.get(addr_end..len) else {
        return Ok(None);
    };
    Ok(Some(SocksRequest {
        command,
        addr,
        port: u16::from_be_bytes([port[0], port[1]]),
        len,
    }))
}

/// Checks a SOCKS domain name: UTF-8 without control characters.
fn socks_domain(raw: &[u8]) -> Result<String, WireError> {
    let bad = |reason| WireError::SocksDomain {
        name: quote(raw),
        reason,
    };
    let name = std::str::from_utf8(raw).map_err(|_| bad("it is not valid UTF-8"))?;
    if name.chars().any(char::is_control) {
        return Err(bad("it has a control character"));
    }
    if name.chars().any(is_hidden) {
        return Err(bad(
            "it has an invisible or bidirectional-control character",
        ));
    }
    Ok(name.to_owned())
}

/// Reply bytes: VER 5, REP `code`, RSV 0, ATYP 1, BND.ADDR 0.0.0.0, BND.PORT 0.
pub fn socks_reply(code: u8) -> [u8; 10] {
    [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// TLS ClientHello sniffing (for checking the SNI against the CONNECT host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// More bytes needed to decide.
    NeedMore,
    /// The first bytes are not a TLS handshake record (0x16, version major 3).
    NotTls,
    /// A complete ClientHello.
    ClientHello {
        /// Its server_name (host_name, type 0) if any, printable ASCII, as sent.
        sni: Option<String>,
        /// The highest version offered: `"TLS 1.0"` to `"TLS 1.3"` (`"SSL 3.0"` and
        /// `"unknown (0x....)"` for others), from the supported_versions extension if present,
        /// else from client_version.
        version: String,
    },
}

/// Record content type of handshake records.
const TLS_HANDSHAKE: u8 = 0x16;
/// Handshake message type of a ClientHello.
const TLS_CLIENT_HELLO: u8 = 1;
/// Extension type server_name (RFC 6066).
const EXT_SERVER_NAME: u16 = 0;
/// Extension type supported_versions (RFC 8446).
const EXT_SUPPORTED_VERSIONS: u16 = 43;
/// The largest TLS plaintext record fragment (RFC 8446 section 5.1).
const MAX_RECORD: usize = 1 << 14;

/// Sniffs the ClientHello at the start of `buf`, what the client sent first after the tunnel
/// opened.
///
/// Handles a ClientHello split over several TLS records (handshake fragments of consecutive
/// handshake records are reassembled) and over several reads ([`Hello::NeedMore`]: call again
/// with everything received). The records carrying it may take at most [`MAX_HELLO`] bytes,
/// else [`WireError::HelloTooLarge`]. Errors: a non-handshake record or a handshake message
/// other than ClientHello before it is complete, empty or oversized records, data after the
/// ClientHello in its last record, lengths that overrun their container or leave bytes over,
/// an extension that appears twice (so two server_name extensions), more than one host_name in
/// server_name, a zero-length name, a name that is not printable ASCII.
pub fn sniff_client_hello(buf: &[u8]) -> Result<Hello, WireError> {
    match buf {
        [] | [TLS_HANDSHAKE] => return Ok(Hello::NeedMore),
        [TLS_HANDSHAKE, 3, ..] => {}
        _ => return Ok(Hello::NotTls),
    }
    let too_large = WireError::HelloTooLarge { limit: MAX_HELLO };
    let mut handshake = Vec::new();
    let mut pos = 0;
    loop {
        let Some(header) = buf.get(pos..pos + 5) else {
            return if pos + 5 > MAX_HELLO {
                Err(too_large)
            } else {
                Ok(Hello::NeedMore)
            };
        };
        if header[0] != TLS_HANDSHAKE {
            return Err(WireError::BadHello {
                reason: "a record that is not a handshake record before the ClientHello's end",
            });
        }
        if header[1] != 3 {
            return Err(WireError::BadHello {
                reason: "a record with a version other than 3.x",
            });
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 {
            return Err(WireError::BadHello {
                reason: "an empty handshake record",
            });
        }
        if len > MAX_RECORD {
            return Err(WireError::BadHello {
                reason: "a record longer than 16 KiB",
            });
        }
        let end = pos + 5 + len;
        if end > MAX_HELLO {
            return Err(too_large);
        }
        let Some(fragment) = buf.get(pos + 5..end) else {
            return Ok(Hello::NeedMore);
        };
        handshake.extend_from_slice(fragment);
        pos = end;
        if let [msg_type, l0, l1, l2, ..] = handshake[..] {
            if msg_type != TLS_CLIENT_HELLO {
                return Err(WireError::NotClientHello { msg_type });
            }
            let body_len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            if 4 + body_len > MAX_HELLO {
                return Err(too_large);
            }
            if handshake.len() > 4 + body_len {
                return Err(WireError::BadHello {
                    reason: "data after the ClientHello in its last record",
                });
            }
            if handshake.len() == 4 + body_len {
                return parse_client_hello(&handshake[4..]);
            }
        }
    }
}

/// Reads a ClientHello body field by field; every overrun is a [`WireError::BadHello`].
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, reason: &'static str) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::BadHello { reason });
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self, reason: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, reason)?[0])
    }

    fn u16(&mut self, reason: &'static str) -> Result<u16, WireError> {
        let bytes = self.take(2, reason)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// A vector with a one-byte length.
    fn vec8(&mut self, reason: &'static str) -> Result<&'a [u8], WireError> {
        let len = self.u8(reason)?;
        self.take(usize::from(len), reason)
    }

    /// A vector with a two-byte length.
    fn vec16(&mut self, reason: &'static str) -> Result<&'a [u8], WireError> {
        let len = self.u16(reason)?;
        self.take(usize::from(len), reason)
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Errors unless everything has been read.
    fn finish(&self, reason: &'static str) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::BadHello { reason })
        }
    }
}

/// Parses a ClientHello body (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2).
fn parse_client_hello(body: &[u8]) -> Result<Hello, WireError> {
    let bad = |reason| Err(WireError::BadHello { reason });
    let mut r = Reader { rest: body };
    let client_version = r.u16("truncated client_version")?;
    r.take(32, "truncated random")?;
    if r.vec8("session_id overruns the ClientHello")?.len() > 32 {
        return bad("session_id is longer than 32 bytes");
    }
    let suites = r.vec16("cipher_suites overrun the ClientHello")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return bad("cipher_suites is not a non-empty list of 2-byte values");
    }
    if r.vec8("compression_methods overrun the ClientHello")?
        .is_empty()
    {
        return bad("compression_methods is empty");
    }
    let mut sni = None;
    let mut best_version = None;
    // Extensions are optional (before TLS 1.2 a ClientHello may end here).
    if !r.is_empty() {
        let mut exts = Reader {
            rest: r.vec16("extensions overrun the ClientHello")?,
        };
        r.finish("bytes after the extensions")?;
        let mut seen = HashSet::new();
        while !exts.is_empty() {
            let ext_type = exts.u16("truncated extension header")?;
            let data = exts.vec16("an extension overruns the extensions block")?;
            if !seen.insert(ext_type) {
                return Err(WireError::DuplicateExtension { ext_type });
            }
            match ext_type {
                EXT_SERVER_NAME => sni = parse_server_name(data)?,
                EXT_SUPPORTED_VERSIONS => best_version = parse_supported_versions(data)?,
                _ => {}
            }
        }
    }
    Ok(Hello::ClientHello {
        sni,
        version: version_name(best_version.unwrap_or(client_version)),
    })
}

/// The host_name of a server_name extension (RFC 6066 section 3).
fn parse_server_name(data: &[u8]) -> Result<Option<String>, WireError> {
    let mut r = Reader { rest: data };
    let mut list = Reader {
        rest: r.vec16("server_name list overruns the extension")?,
    };
    r.finish("bytes after the server_name list")?;
    if list.is_empty() {
        return Err(WireError::BadHello {
            reason: "empty server_name list",
        });
    }
    let mut host = None;
    while !list.is_empty() {
        let name_type = list.u8("truncated server_name entry")?;
        let name = list.vec16("a server name overruns the server_name list")?;
        if name.is_empty() {
            return Err(WireError::BadHello {
                reason: "zero-length server name",
            });
        }
        if name_type != 0 {
            continue;
        }
        if host.is_some() {
            return Err(WireError::BadHello {
                reason: "more than one host_name in server_name",
            });
        }
        if !name.iter().all(u8::is_ascii_graphic) {
            return Err(WireError::BadServerName { name: quote(name) });
        }
        host = Some(ascii_string(name));
    }
    Ok(host)
}

/// The highest known version (SSL 3.0 to TLS 1.3) in a supported_versions extension; GREASE
/// and unknown values are skipped.
fn parse_supported_versions(data: &[u8]) -> Result<Option<u16>, WireError> {
    let mut r = Reader { rest: data };
    let list = r.vec8("supported_versions list overruns the extension")?;
    r.finish("bytes after the supported_versions list")?;
    if list.is_empty() || list.len() % 2 != 0 {
        return Err(WireError::BadHello {
            reason: "supported_versions is not a non-empty list of 2-byte values",
        });
    }
    Ok(list
        .chunks_exact(2)
        .map(|v| u16::from_be_bytes([v[0], v[1]]))
        .filter(|v| (0x0300..=0x0304).contains(v))
        .max())
}

/// A protocol version's name.
fn version_name(version: u16) -> String {
    match version {
        0x0300 => "SSL 3.0".to_owned(),
        0x0301 => "TLS 1.0".to_owned(),
        0x0302 => "TLS 1.1".to_owned(),
        0x0303 => "TLS 1.2".to_owned(),
        0x0304 => "TLS 1.3".to_owned(),
        _ => format!("unknown (0x{version:04x})"),
    }
}

/// A TLS extension's name, for messages.
fn extension_name(ext_type: u16) -> &'static str {
    match ext_type {
        EXT_SERVER_NAME => "server_name",
        EXT_SUPPORTED_VERSIONS => "supported_versions",
        _ => "see the IANA TLS ExtensionType registry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // -----------------------------------------------------------------------------------------
    // HTTP helpers
    // -----------------------------------------------------------------------------------------

    fn parse(s: &str) -> Result<Option<HttpHead>, WireError> {
        parse_http_head(s.as_bytes())
    }

    fn ok(s: &str) -> HttpHead {
        match parse(s) {
            Ok(Some(head)) => head,
            other => panic!("{s:?} should parse, got {other:?}"),
        }
    }

    fn err(s: &str) -> WireError {
        match parse(s) {
            Err(e) => e,
            other => panic!("{s:?} should be rejected, got {other:?}"),
        }
    }

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn bad_authority(reason: &'static str, authority: &str) -> WireError {
        WireError::BadAuthority {
            authority: authority.to_owned(),
            reason,
        }
    }

    /// Every error message is printable ASCII, whatever the request contained.
    fn assert_printable(e: &WireError) {
        let message = e.to_string();
        assert!(
            message.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "message not printable ASCII: {message:?}"
        );
    }

    // -----------------------------------------------------------------------------------------
    // HTTP: valid heads
    // -----------------------------------------------------------------------------------------

    #[test]
    fn connect_is_parsed_and_head_len_stops_before_the_tunnel() {
        let head = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
                    User-Agent: curl/8.5.0\r\n\r\n";
        let buf = format!("{head}\x16\x03\x01tunnel bytes");
        assert_eq!(
            parse_http_head(buf.as_bytes()),
            Ok(Some(HttpHead {
                method: "CONNECT".into(),
                target: Target::Authority("example.com:443".into()),
                version: HttpVersion::Http11,
                headers: headers(&[("Host", "example.com:443"), ("User-Agent", "curl/8.5.0")]),
                head_len: head.len(),
            }))
        );
    }

    #[test]
    fn connect_to_ip_literals_keeps_the_authority_as_written() {
        for authority in [
            "[::1]:443",
            "[2001:db8::1]:8443",
            "127.0.0.1:22",
            "[::ffff:1.2.3.4]:1",
        ] {
            let head = ok(&format!("CONNECT {authority} HTTP/1.1\r\n\r\n"));
            assert_eq!(head.target, Target::Authority(authority.into()));
            assert_eq!(head.headers, vec![]);
        }
        // Not normalized: case and trailing dots stay for the policy to judge.
        let head = ok("CONNECT ExAmple.COM.:443 HTTP/1.0\r\nHost: example.com.:443\r\n\r\n");
        assert_eq!(head.target, Target::Authority("ExAmple.COM.:443".into()));
        assert_eq!(head.version, HttpVersion::Http10);
    }

    #[test]
    fn absolute_get_is_parsed_with_trimmed_values_in_order() {
        let s = "GET http://example.com/a/b?c=d&e HTTP/1.1\r\nHost: example.com\r\n\
                 Accept:  */* \t\r\nX-Tab: a\tb\r\nX-Empty:\r\nX-Utf8: caf\u{e9}\r\n\r\n";
        assert_eq!(
            parse(s),
            Ok(Some(HttpHead {
                method: "GET".into(),
                target: Target::Absolute {
                    authority: "example.com".into(),
                    path: "/a/b?c=d&e".into(),
                },
                version: HttpVersion::Http11,
                headers: headers(&[
                    ("Host", "example.com"),
                    ("Accept", "*/*"),
                    ("X-Tab", "a\tb"),
                    ("X-Empty", ""),
                    ("X-Utf8", "caf\u{e9}"),
                ]),
                head_len: s.len(),
            }))
        );
    }

    #[test]
    fn absolute_targets_scheme_case_empty_path_and_bare_query() {
        let cases = [
            ("HTTP://Example.com", "Example.com", "/"),
            ("hTtP://example.com:8080", "example.com:8080", "/"),
            ("http://a.com?x=1", "a.com", "/?x=1"),
            ("http://a.com/", "a.com", "/"),
            ("http://[::1]:80/x", "[::1]:80", "/x"),
            ("http://a.com//double/@at", "a.com", "//double/@at"),
        ];
        for (target, authority, path) in cases {
            let head = ok(&format!("GET {target} HTTP/1.0\r\n\r\n"));
            assert_eq!(
                head.target,
                Target::Absolute {
                    authority: authority.into(),
                    path: path.into()
                },
                "{target}"
            );
        }
    }

    #[test]
    fn methods_are_tokens_as_sent_and_only_uppercase_connect_tunnels() {
        let head = ok("get http://a.com/ HTTP/1.1\r\n\r\n");
        assert_eq!(head.method, "get");
        let head = ok("M-SEARCH http://a.com/ HTTP/1.1\r\n\r\n");
        assert_eq!(head.method, "M-SEARCH");
        assert_eq!(
            err("connect a.com:443 HTTP/1.1\r\n\r\n"),
            WireError::NotAbsolute {
                target: "a.com:443".into()
            }
        );
        assert_eq!(
            err("GE(T http://a.com/ HTTP/1.1\r\n\r\n"),
            WireError::BadMethod {
                method: "GE(T".into()
            }
        );
    }

    #[test]
    fn body_framing() {
        let cases = [
            ("", Body::Empty),
            ("Content-Length: 0\r\n", Body::Empty),
            ("Content-Length: 5\r\n", Body::Length(5)),
            (
                "Content-Length: 5\r\ncontent-length: 5\r\n",
                Body::Length(5),
            ),
            (
                "Content-Length: 18446744073709551615\r\n",
                Body::Length(u64::MAX),
            ),
            ("Transfer-Encoding: chunked\r\n", Body::Chunked),
            ("transfer-encoding: CHUNKED\r\n", Body::Chunked),
        ];
        for (extra, body) in cases {
            let head = ok(&format!(
                "POST http://a.com/upload HTTP/1.1\r\nHost: a.com\r\n{extra}\r\nBODY"
            ));
            assert_eq!(head.body(), Ok(body), "{extra:?}");
        }
        let head = ok("POST http://a.com/ HTTP/1.1\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(head.header("content-length"), Some("12"));
        assert_eq!(head.header("host"), None);
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_incomplete() {
        let heads = [
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
            "POST http://a.com/ HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
            "GET http://a.com/ HTTP/1.1\r\n\r\n",
        ];
        for head in heads {
            for end in 0..head.len() {
                assert_eq!(
                    parse_http_head(&head.as_bytes()[..end]),
                    Ok(None),
                    "{:?}",
                    &head[..end]
                );
            }
            assert_eq!(ok(head).head_len, head.len());
        }
    }

    // -----------------------------------------------------------------------------------------
    // HTTP: framing errors
    // -----------------------------------------------------------------------------------------

    #[test]
    fn bare_lf_and_bare_cr_are_rejected_even_before_the_head_is_complete() {
        assert_eq!(
            err("GET http://a/ HTTP/1.1\nHost: a\r\n\r\n"),
            WireError::BareLineEnding {
                what: "LF",
                offset: 22
            }
        );
        assert_eq!(
            err("GET http://a/ HTTP/1.1\r\n\n"),
            WireError::BareLineEnding {
                what: "LF",
                offset: 24
            }
        );
        assert_eq!(
            err("\n"),
            WireError::BareLineEnding {
                what: "LF",
                offset: 0
            }
        );
        assert_eq!(
            err("GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n"),
            WireError::BareLineEnding {
                what: "CR",
                offset: 28
            }
        );
        assert_eq!(
            err("GET http://a/ HTTP/1.1\r\r\n"),
            WireError::BareLineEnding {
                what: "CR",
                offset: 22
            }
        );
        // Incomplete input: reported at once, not after a timeout.
        assert_eq!(
            err("GET http://a/ HTTP/1.1\nHost"),
            WireError::BareLineEnding {
                what: "LF",
                offset: 22
            }
        );
        // A CR at the very end may still be followed by LF.
        assert_eq!(parse("GET http://a/ HTTP/1.1\r"), Ok(None));
    }

    #[test]
    fn control_bytes_are_rejected() {
        assert_eq!(
            err("GET http://a.com/\0 HTTP/1.1\r\n\r\n"),
            WireError::ControlByte {
                byte: 0,
                offset: 17
            }
        );
        assert_eq!(
            err("CONNECT a.com\0.evil.com:443 HTTP/1.1\r\n\r\n"),
            WireError::ControlByte {
                byte: 0,
                offset: 13
            }
        );
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nX: \x1b[31m\r\n\r\n"),
            WireError::ControlByte {
                byte: 0x1b,
                offset: 31
            }
        );
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nX: \x7f\r\n\r\n"),
            WireError::ControlByte {
                byte: 0x7f,
                offset: 31
            }
        );
        // HTAB only in header values.
        assert_eq!(
            err("GET\thttp://a.com/ HTTP/1.1\r\n\r\n"),
            WireError::RequestLine {
                line: "GET\\thttp://a.com/ HTTP/1.1".into()
            }
        );
        assert_eq!(
            err("CONNECT a.com\t:443 HTTP/1.1\r\n\r\n"),
            WireError::RequestLine {
                line: "CONNECT a.com\\t:443 HTTP/1.1".into()
            }
        );
    }

    #[test]
    fn crlf_injection_in_the_authority_cannot_add_a_host() {
        // The CRLF ends the request line early: "CONNECT allowed.com" has two parts.
        assert_eq!(
            err("CONNECT allowed.com\r\nHost: evil.com:443 HTTP/1.1\r\n\r\n"),
            WireError::RequestLine {
                line: "CONNECT allowed.com".into()
            }
        );
        assert_eq!(
            err("CONNECT allowed.com:443\rHost: evil.com:443 HTTP/1.1\r\n\r\n"),
            WireError::BareLineEnding {
                what: "CR",
                offset: 23
            }
        );
        assert_eq!(
            err("CONNECT allowed.com:443\nevil.com:443 HTTP/1.1\r\n\r\n"),
            WireError::BareLineEnding {
                what: "LF",
                offset: 23
            }
        );
        // Percent-encoded CRLF is not decoded, and `%` is not a host character.
        assert_eq!(
            err("CONNECT allowed.com%0d%0a:443 HTTP/1.1\r\n\r\n"),
            bad_authority(
                "the host has one of @/?#\\[]%\"<>^`{|}",
                "allowed.com%0d%0a:443"
            )
        );
    }

    #[test]
    fn malformed_request_lines() {
        let lines = [
            "GET  http://a.com/ HTTP/1.1",
            " GET http://a.com/ HTTP/1.1",
            "GET http://a.com/ HTTP/1.1 ",
            "GET http://a.com/",
            "GET http://a.com/ HTTP/1.1 extra",
            "",
        ];
        for line in lines {
            assert_eq!(
                err(&format!("{line}\r\n\r\n")),
                WireError::RequestLine {
                    line: line.escape_default().to_string()
                },
                "{line:?}"
            );
        }
        for version in ["HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.10", "HTTP/1"] {
            assert_eq!(
                err(&format!("GET http://a.com/ {version}\r\n\r\n")),
                WireError::UnsupportedVersion {
                    version: version.into()
                }
            );
        }
        // The HTTP/2 preface is turned away as a version, not misread.
        assert_eq!(
            err("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            WireError::UnsupportedVersion {
                version: "HTTP/2.0".into()
            }
        );
    }

    #[test]
    fn invalid_utf8_in_target_or_header_value() {
        assert_eq!(
            parse_http_head(b"GET http://a.com/\xff HTTP/1.1\r\n\r\n"),
            Err(WireError::NotUtf8 {
                what: "request target"
            })
        );
        assert_eq!(
            parse_http_head(b"GET http://a.com/ HTTP/1.1\r\nX: \xc3\x28\r\n\r\n"),
            Err(WireError::NotUtf8 {
                what: "header value"
            })
        );
    }

    // -----------------------------------------------------------------------------------------
    // HTTP: header errors
    // -----------------------------------------------------------------------------------------

    #[test]
    fn obsolete_line_folding_is_rejected() {
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n"),
            WireError::ObsoleteFolding { line: " b".into() }
        );
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\n\tHost: evil.com\r\n\r\n"),
            WireError::ObsoleteFolding {
                line: "\\tHost: evil.com".into()
            }
        );
    }

    #[test]
    fn whitespace_before_colon_and_bad_names_are_rejected() {
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nHost : evil.com\r\n\r\n"),
            WireError::SpaceBeforeColon {
                name: "Host".into()
            }
        );
        assert_eq!(
            err("POST http://a.com/ HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n"),
            WireError::SpaceBeforeColon {
                name: "Transfer-Encoding".into()
            }
        );
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nX(Y): 1\r\n\r\n"),
            WireError::BadHeaderName {
                name: "X(Y)".into()
            }
        );
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\n: v\r\n\r\n"),
            WireError::BadHeaderName { name: "".into() }
        );
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nX Y: 1\r\n\r\n"),
            WireError::BadHeaderName { name: "X Y".into() }
        );
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nNoColon\r\n\r\n"),
            WireError::HeaderWithoutColon {
                line: "NoColon".into()
            }
        );
    }

    #[test]
    fn host_header_rules() {
        assert_eq!(
            err("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nhost: a.com\r\n\r\n"),
            WireError::DuplicateHeader { name: "Host" }
        );
        let e = err("GET http://allowed.com/ HTTP/1.1\r\nHost: evil.com\r\n\r\n");
        assert_eq!(
            e,
            WireError::HostMismatch {
                host: "evil.com".into(),
                target: "allowed.com".into()
            }
        );
        assert!(e
            .to_string()
            .contains("Host header does not match the request target"));
        assert_eq!(
            err("CONNECT allowed.com:443 HTTP/1.1\r\nHost: evil.com:443\r\n\r\n"),
            WireError::HostMismatch {
                host: "evil.com:443".into(),
                target: "allowed.com:443".into()
            }
        );
        // CONNECT compares exactly (but case-insensitively).
        ok("CONNECT a.com:443 HTTP/1.1\r\nHost: A.COM:443\r\n\r\n");
        err("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n");
        // Absolute form: a default :80 on either side is ignored, nothing else.
        ok("GET http://a.com/ HTTP/1.1\r\nHost: a.com:80\r\n\r\n");
        ok("GET http://a.com:80/ HTTP/1.1\r\nHost: A.com\r\n\r\n");
        ok("GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]\r\n\r\n");
        for (target, host) in [
            ("http://a.com:8080/", "a.com"),
            ("http://a.com/", "a.com:8080"),
            ("http://a.com/", "a.com:443"),
            ("http://a.com/", "a.com."),
            ("http://a.com/", ""),
        ] {
            assert!(
                matches!(
                    err(&format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n")),
                    WireError::HostMismatch { .. }
                ),
                "{target} {host}"
            );
        }
    }

    #[test]
    fn too_many_headers() {
        let head = |n: usize| {
            let mut s = String::from("GET http://a.com/ HTTP/1.1\r\n");
            for i in 0..n {
                s.push_str(&format!("X-{i}: {i}\r\n"));
            }
            s + "\r\n"
        };
        assert_eq!(ok(&head(MAX_HEADERS)).headers.len(), MAX_HEADERS);
        assert_eq!(
            err(&head(MAX_HEADERS + 1)),
            WireError::TooManyHeaders { limit: MAX_HEADERS }
        );
    }

    #[test]
    fn oversize_heads() {
        let mut buf = b"GET http://a.com/ HTTP/1.1\r\nX: ".to_vec();
        buf.resize(MAX_HEAD - 1, b'a');
        assert_eq!(parse_http_head(&buf), Ok(None));
        buf.push(b'a');
        assert_eq!(
            parse_http_head(&buf),
            Err(WireError::HeadTooLarge { limit: MAX_HEAD })
        );
        // The end of the head just past the limit is not looked for.
        let mut buf = b"GET http://a.com/ HTTP/1.1\r\nX: ".to_vec();
        buf.resize(MAX_HEAD - 3, b'a');
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_http_head(&buf),
            Err(WireError::HeadTooLarge { limit: MAX_HEAD })
        );
        // Exactly MAX_HEAD bytes is fine.
        buf.truncate(MAX_HEAD - 4);
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_http_head(&buf).map(|h| h.map(|h| h.head_len)),
            Ok(Some(MAX_HEAD))
        );
    }

    #[test]
    fn content_length_and_transfer_encoding_rules() {
        let post = |extra: &str| err(&format!("POST http://a.com/ HTTP/1.1\r\n{extra}\r\n"));
        assert_eq!(
            post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
            WireError::LengthAndChunked
        );
        assert_eq!(
            post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"),
            WireError::LengthAndChunked
        );
        for value in [
            "5, 5",
            "-1",
            "+5",
            "",
            "0x10",
            "1e3",
            "5 5",
            "99999999999999999999",
        ] {
            assert_eq!(
                post(&format!("Content-Length: {value}\r\n")),
                WireError::BadContentLength {
                    value: value.into()
                },
                "{value:?}"
            );
        }
        assert_eq!(
            post("Content-Length: 5\r\nContent-Length: 6\r\n"),
            WireError::ConflictingContentLength {
                first: "5".into(),
                other: "6".into()
            }
        );
        assert_eq!(
            post("Content-Length: 5\r\nContent-Length: 05\r\n"),
            WireError::ConflictingContentLength {
                first: "5".into(),
                other: "05".into()
            }
        );
        for value in [
            "gzip, chunked",
            "chunked, chunked",
            "identity",
            "chunked;x",
            "\"chunked\"",
        ] {
            assert_eq!(
                post(&format!("Transfer-Encoding: {value}\r\n")),
                WireError::UnsupportedTransferEncoding {
                    value: quote(value.as_bytes())
                },
                "{value:?}"
            );
        }
        assert_eq!(
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            WireError::DuplicateHeader {
                name: "Transfer-Encoding"
            }
        );
    }

    #[test]
    fn connect_has_no_body() {
        assert_eq!(
            err("CONNECT a.com:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            WireError::ConnectWithBody {
                header: "Transfer-Encoding"
            }
        );
        assert_eq!(
            err("CONNECT a.com:443 HTTP/1.1\r\nContent-Length: 10\r\n\r\n"),
            WireError::ConnectWithBody {
                header: "a non-zero Content-Length"
            }
        );
        let head = ok("CONNECT a.com:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(head.body(), Ok(Body::Empty));
    }

    #[test]
    fn connection_must_not_name_routing_or_framing_headers() {
        for name in ["Host", "content-length", "Transfer-Encoding"] {
            assert_eq!(
                err(&format!(
                    "POST http://a.com/ HTTP/1.1\r\nConnection: close, {name}\r\n\r\n"
                )),
                WireError::ConnectionNamesHeader { name: name.into() }
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // HTTP: target errors
    // -----------------------------------------------------------------------------------------

    #[test]
    fn userinfo_is_rejected() {
        for target in [
            "http://allowed.com@evil.com/",
            "http://user:pass@evil.com/",
            "http://allowed.com\\@evil.com/",
            "http://@evil.com",
        ] {
            assert_eq!(
                err(&format!("GET {target} HTTP/1.1\r\n\r\n")),
                WireError::Userinfo {
                    target: quote(target.as_bytes())
                },
                "{target}"
            );
        }
        assert_eq!(
            err("CONNECT allowed.com@evil.com:443 HTTP/1.1\r\n\r\n"),
            bad_authority("userinfo (`@`) is not allowed", "allowed.com@evil.com:443")
        );
    }

    #[test]
    fn https_absolute_form_and_other_schemes() {
        let e = err("GET https://a.com/ HTTP/1.1\r\n\r\n");
        assert_eq!(e, WireError::HttpsAbsolute);
        assert!(e.to_string().contains("CONNECT"));
        assert_eq!(
            err("GET HTTPS://a.com/ HTTP/1.1\r\n\r\n"),
            WireError::HttpsAbsolute
        );
        assert_eq!(
            err("GET ftp://a.com/ HTTP/1.1\r\n\r\n"),
            WireError::UnsupportedScheme {
                scheme: "ftp".into()
            }
        );
        for target in [
            "http:/a.com/",
            "http:a.com",
            "a.com:80",
            "1http://a.com/",
            "http:\\\\a.com",
        ] {
            assert_eq!(
                err(&format!("GET {target} HTTP/1.1\r\n\r\n")),
                WireError::NotAbsolute {
                    target: quote(target.as_bytes())
                },
                "{target}"
            );
        }
    }

    #[test]
    fn fragments_are_rejected() {
        assert_eq!(
            err("GET http://a.com/x#frag HTTP/1.1\r\n\r\n"),
            WireError::Fragment {
                target: "http://a.com/x#frag".into()
            }
        );
        assert_eq!(
            err("GET http://allowed.com#@evil.com/ HTTP/1.1\r\n\r\n"),
            WireError::Fragment {
                target: "http://allowed.com#@evil.com/".into()
            }
        );
    }

    #[test]
    fn origin_and_asterisk_form_are_for_servers() {
        let e = err("GET /x HTTP/1.1\r\nHost: a.com\r\n\r\n");
        assert_eq!(
            e,
            WireError::OriginForm {
                target: "/x".into()
            }
        );
        assert!(e.to_string().contains("this is a proxy"));
        assert_eq!(
            err("OPTIONS * HTTP/1.1\r\n\r\n"),
            WireError::OriginForm { target: "*".into() }
        );
        assert_eq!(
            err("GET //evil.com/ HTTP/1.1\r\n\r\n"),
            WireError::OriginForm {
                target: "//evil.com/".into()
            }
        );
    }

    #[test]
    fn authorities_must_split_one_way() {
        let host_chars = "the host has one of @/?#\\[]%\"<>^`{|}";
        let hidden = "the host has whitespace, a control or an invisible character";
        let cases = [
            ("a.com", "a port is required (host:port)"),
            ("a.com:", "the port is empty"),
            (":443", "the host is empty"),
            ("a.com:0", "the port must be 1-65535"),
            ("a.com:65536", "the port must be 1-65535"),
            ("a.com:0443", "the port must not have leading zeros"),
            ("a.com:44x", "the port must be decimal digits"),
            ("a.com:+443", "the port must be decimal digits"),
            (
                "::1:443",
                "more than one `:` (an IPv6 address must be in brackets)",
            ),
            (
                "a.com:443:443",
                "more than one `:` (an IPv6 address must be in brackets)",
            ),
            ("[::1]", "a port is required (host:port)"),
            ("[::1:443", "`[` without `]`"),
            ("[::1]443", "only `:port` may follow `]`"),
            ("[::1]x:443", "only `:port` may follow `]`"),
            (
                "[]:443",
                "only an IPv6 address may be in brackets (no zone, no IPvFuture)",
            ),
            (
                "[a.com]:443",
                "only an IPv6 address may be in brackets (no zone, no IPvFuture)",
            ),
            (
                "[fe80::1%25eth0]:443",
                "only an IPv6 address may be in brackets (no zone, no IPvFuture)",
            ),
            (
                "[v1.x]:443",
                "only an IPv6 address may be in brackets (no zone, no IPvFuture)",
            ),
            ("a.com/x:443", host_chars),
            ("a.com\\b:443", host_chars),
            ("a[b]:443", host_chars),
            ("a.com?:443", host_chars),
            ("a\u{a0}b.com:443", hidden),
            ("\u{202e}moc.lla:443", hidden),
            ("a\u{200b}.com:443", hidden),
            ("a\u{feff}.com:443", hidden),
            ("a\u{85}.com:443", hidden),
            ("http://a.com/", "the port must be decimal digits"),
        ];
        for (authority, reason) in cases {
            assert_eq!(
                err(&format!("CONNECT {authority} HTTP/1.1\r\n\r\n")),
                bad_authority(reason, &quote(authority.as_bytes())),
                "{authority}"
            );
        }
        // The same checks apply to absolute-form authorities, where the port is optional.
        for authority in [
            "", "a.com:", ":80", "a.com:0", "::1", "[::1]x", "a%2ecom", "a.com\\b",
        ] {
            let e = err(&format!("GET http://{authority}/ HTTP/1.1\r\n\r\n"));
            assert!(
                matches!(e, WireError::BadAuthority { .. }),
                "{authority}: {e:?}"
            );
        }
        ok("CONNECT a.com:65535 HTTP/1.1\r\n\r\n");
        ok("CONNECT a.com:1 HTTP/1.1\r\n\r\n");
        ok("CONNECT xn--caf-dma.example:443 HTTP/1.1\r\n\r\n");
        ok("CONNECT caf\u{e9}.example:443 HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn error_messages_are_printable_ascii() {
        let inputs: [&[u8]; 8] = [
            b"GET http://caf\xc3\xa9.com/ HTTP/1.1\r\nHost: \xc3\xa9vil\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nX: \x1b]0;pwned\x07\r\n\r\n",
            b"CONNECT \xe2\x80\xae.com:443 HTTP/1.1\r\n\r\n",
            b"CONNECT a\xe2\x80\x8b.com:443 HTTP/1.1\r\nHost: b:443\r\n\r\n",
            b"GET http://a.com/ HTTP/\xc3\xa9\r\n\r\n",
            b"GET ht\xc3\xa9tp://a.com/ HTTP/1.1\r\n\r\n",
            b"GET http://a.com/ HTTP/1.1\r\nX\xc3\xa9: 1\r\n\r\n",
            b"GET http://a.com/ HTTP/1.1\r\n \xc3\xa9\r\n\r\n",
        ];
        for input in inputs {
            let e = parse_http_head(input).expect_err("malformed");
            assert_printable(&e);
        }
        let long = format!("GET http://a.com/ HTTP/1.1\r\n{}\r\n\r\n", "x".repeat(1000));
        let e = err(&long);
        assert_eq!(
            e,
            WireError::HeaderWithoutColon {
                line: format!("{}...", "x".repeat(QUOTE_MAX))
            }
        );
    }

    // -----------------------------------------------------------------------------------------
    // upstream_head
    // -----------------------------------------------------------------------------------------

    #[test]
    fn upstream_head_strips_hop_by_hop_and_connection_named_headers() {
        let head = ok("GET http://a.com/p?q HTTP/1.0\r\n\
                       User-Agent: x\r\n\
                       Connection: keep-alive, X-Secret\r\n\
                       X-Secret: s\r\n\
                       x-secret: s2\r\n\
                       Proxy-Connection: keep-alive\r\n\
                       Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
                       Proxy-Authenticate: Basic\r\n\
                       Keep-Alive: timeout=5\r\n\
                       TE: trailers\r\n\
                       Trailer: X-Checksum\r\n\
                       Upgrade: h2c\r\n\
                       host: a.com\r\n\
                       Accept: */*\r\n\
                       connection: X-Other\r\n\
                       X-Other: o\r\n\r\n");
        assert_eq!(
            String::from_utf8(upstream_head(&head)).unwrap(),
            "GET /p?q HTTP/1.1\r\nhost: a.com\r\nUser-Agent: x\r\nAccept: */*\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn upstream_head_adds_host_and_keeps_body_headers() {
        let head = ok("POST http://a.com:8080 HTTP/1.1\r\nContent-Length: 3\r\n\
                       Content-Type: text/plain\r\n\r\nabc");
        assert_eq!(
            String::from_utf8(upstream_head(&head)).unwrap(),
            "POST / HTTP/1.1\r\nHost: a.com:8080\r\nContent-Length: 3\r\n\
             Content-Type: text/plain\r\nConnection: close\r\n\r\n"
        );
        let head = ok(
            "PUT http://a.com/f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\
                       Connection: Upgrade\r\n\r\n",
        );
        assert_eq!(
            String::from_utf8(upstream_head(&head)).unwrap(),
            "PUT /f HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn upstream_head_never_drops_framing_even_for_a_hand_built_head() {
        let head = HttpHead {
            method: "POST".into(),
            target: Target::Absolute {
                authority: "a.com".into(),
                path: "/".into(),
            },
            version: HttpVersion::Http11,
            headers: headers(&[
                ("Connection", "Content-Length, Host"),
                ("Host", "a.com"),
                ("Content-Length", "1"),
            ]),
            head_len: 0,
        };
        assert_eq!(
            String::from_utf8(upstream_head(&head)).unwrap(),
            "POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"
        );
    }

    // -----------------------------------------------------------------------------------------
    // ChunkedBody
    // -----------------------------------------------------------------------------------------

    fn chunked_end(body: &[u8]) -> Result<Option<usize>, WireError> {
        ChunkedBody::new().feed(body)
    }

    #[test]
    fn chunked_body_end_is_found_whole_and_byte_by_byte() {
        let bodies: [&[u8]; 4] = [
            b"5\r\nhello\r\n0\r\n\r\n",
            b"A\r\n0123456789\r\n1\r\n!\r\n000\r\n\r\n",
            b"3\r\nabc\r\n0\r\nX-Checksum: 1\t2\r\nX-B:\r\n\r\n",
            b"0\r\n\r\n",
        ];
        for body in bodies {
            let with_next = [body, b"GET http://evil.com/ HTTP/1.1\r\n\r\n"].concat();
            assert_eq!(chunked_end(&with_next), Ok(Some(body.len())));
            let mut scanner = ChunkedBody::new();
            for (i, &byte) in body.iter().enumerate() {
                let expected = if i + 1 == body.len() { Some(1) } else { None };
                assert_eq!(scanner.feed(&[byte]), Ok(expected), "byte {i}");
            }
            assert!(scanner.is_done());
            assert_eq!(scanner.feed(b"more"), Ok(Some(0)));
        }
    }

    #[test]
    fn chunked_body_large_chunk_across_feeds() {
        let mut scanner = ChunkedBody::new();
        assert_eq!(scanner.feed(b"10000\r\n"), Ok(None));
        assert_eq!(scanner.feed(&[b'x'; 0x8000]), Ok(None));
        assert_eq!(scanner.feed(&[b'x'; 0x7fff]), Ok(None));
        assert_eq!(scanner.feed(b"x\r"), Ok(None));
        assert_eq!(scanner.feed(b"\n0\r\n\r\nrest"), Ok(Some(6)));
        assert!(scanner.is_done());
    }

    #[test]
    fn chunked_body_errors() {
        let cases: [(&[u8], &str); 12] = [
            (
                b"5;ext=1\r\nhello\r\n0\r\n\r\n",
                "chunk extensions are not accepted",
            ),
            (
                b"x\r\n",
                "expected a hexadecimal chunk size ending with CRLF",
            ),
            (
                b"\r\n",
                "expected a hexadecimal chunk size ending with CRLF",
            ),
            (
                b" 5\r\n",
                "expected a hexadecimal chunk size ending with CRLF",
            ),
            (
                b"5 \r\n",
                "expected a hexadecimal chunk size ending with CRLF",
            ),
            (b"5\n", "expected a hexadecimal chunk size ending with CRLF"),
            (b"5\r\r", "a chunk size line must end with CRLF"),
            (b"5\r\nhelloX", "chunk data must be followed by CRLF"),
            (b"5\r\nhello\rX", "chunk data must be followed by CRLF"),
            (
                b"10000000000000000\r\n",
                "a chunk size has more than 16 hex digits",
            ),
            (
                b"0\r\n X: 1\r\n\r\n",
                "obsolete line folding in the trailer section",
            ),
            (
                b"0\r\nX : 1\r\n\r\n",
                "whitespace before `:` in a trailer field",
            ),
        ];
        for (body, reason) in cases {
            assert_eq!(
                chunked_end(body),
                Err(WireError::BadChunk { reason }),
                "{}",
                body.escape_ascii()
            );
        }
        let more: [(&[u8], &str); 4] = [
            (
                b"0\r\nX: a\nb\r\n\r\n",
                "a control byte or bare LF in a trailer field",
            ),
            (b"0\r\nX: a\rb\r\n\r\n", "a trailer line must end with CRLF"),
            (b"0\r\n\rX", "the body must end with an empty line (CRLF)"),
            (
                b"0\r\n(: a\r\n\r\n",
                "a trailer field name must be an HTTP token",
            ),
        ];
        for (body, reason) in more {
            assert_eq!(chunked_end(body), Err(WireError::BadChunk { reason }));
        }
        let mut big = b"0\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(
            chunked_end(&big),
            Err(WireError::BadChunk {
                reason: "the trailer section is larger than 32 KiB"
            })
        );
        // 16 hex digits are fine.
        assert_eq!(chunked_end(b"000000000000000F\r\n"), Ok(None));
    }

    // -----------------------------------------------------------------------------------------
    // SOCKS5
    // -----------------------------------------------------------------------------------------

    #[test]
    fn socks_greeting() {
        assert_eq!(parse_socks_greeting(&[5, 1, 0]), Ok(Some((3, true))));
        assert_eq!(parse_socks_greeting(&[5, 2, 1, 2]), Ok(Some((4, false))));
        assert_eq!(
            parse_socks_greeting(&[5, 3, 2, 1, 0, 5, 1]),
            Ok(Some((5, true)))
        );
        for end in 0..5 {
            assert_eq!(parse_socks_greeting(&[5, 3, 2, 1, 0][..end]), Ok(None));
        }
        assert_eq!(
            parse_socks_greeting(&[4, 1, 0]),
            Err(WireError::SocksVersion { version: 4 })
        );
        assert_eq!(
            parse_socks_greeting(b"GET /"),
            Err(WireError::SocksVersion { version: b'G' })
        );
        assert_eq!(
            parse_socks_greeting(&[5, 0]),
            Err(WireError::SocksNoMethods)
        );
        let mut all = vec![5, 255];
        all.extend(1..=255);
        assert_eq!(parse_socks_greeting(&all), Ok(Some((257, false))));
    }

    fn socks_domain_request(command: u8, name: &[u8], port: u16) -> Vec<u8> {
        let mut buf = vec![5, command, 0, 3, name.len() as u8];
        buf.extend_from_slice(name);
        buf.extend_from_slice(&port.to_be_bytes());
        buf
    }

    #[test]
    fn socks_request_with_a_domain_and_split_input() {
        let buf = socks_domain_request(1, b"example.com", 443);
        let expected = SocksRequest {
            command: SOCKS_CMD_CONNECT,
            addr: SocksAddr::Domain("example.com".into()),
            port: 443,
            len: buf.len(),
        };
        for end in 0..buf.len() {
            assert_eq!(parse_socks_request(&buf[..end]), Ok(None), "prefix {end}");
        }
        let with_data = [&buf[..], b"\x16\x03\x01"].concat();
        assert_eq!(parse_socks_request(&with_data), Ok(Some(expected)));
        // Any command is returned; the proxy refuses what it does not do.
        let buf = socks_domain_request(3, "caf\u{e9}.example".as_bytes(), 0);
        assert_eq!(
            parse_socks_request(&buf),
            Ok(Some(SocksRequest {
                command: 3,
                addr: SocksAddr::Domain("caf\u{e9}.example".into()),
                port: 0,
                len: buf.len(),
            }))
        );
        let long = [b'a'; 255];
        let buf = socks_domain_request(1, &long, 80);
        assert_eq!(
            parse_socks_request(&buf).map(|r| r.map(|r| r.addr)),
            Ok(Some(SocksAddr::Domain("a".repeat(255))))
        );
    }

    #[test]
    fn socks_request_with_ip_addresses() {
        let buf = [5, 1, 0, 1, 10, 0, 0, 1, 0x1f, 0x90];
        assert_eq!(
            parse_socks_request(&buf),
            Ok(Some(SocksRequest {
                command: 1,
                addr: SocksAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                port: 8080,
                len: 10,
            }))
        );
        for end in 0..buf.len() {
            assert_eq!(parse_socks_request(&buf[..end]), Ok(None));
        }
        let mut buf = vec![5, 2, 0, 4];
        buf.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        buf.extend_from_slice(&[0, 22]);
        assert_eq!(
            parse_socks_request(&buf),
            Ok(Some(SocksRequest {
                command: 2,
                addr: SocksAddr::V6(Ipv6Addr::LOCALHOST),
                port: 22,
                len: 22,
            }))
        );
        for end in 0..buf.len() {
            assert_eq!(parse_socks_request(&buf[..end]), Ok(None));
        }
    }

    #[test]
    fn socks_request_errors() {
        let domain = |name: &str, reason| {
            Err(WireError::SocksDomain {
                name: name.into(),
                reason,
            })
        };
        assert_eq!(
            parse_socks_request(&socks_domain_request(1, b"allowed.com\0.evil.com", 443)),
            domain("allowed.com\\x00.evil.com", "it has a control character")
        );
        // Rejected before the port arrives.
        assert_eq!(
            parse_socks_request(&[5, 1, 0, 3, 3, b'a', 0, b'b']),
            domain("a\\x00b", "it has a control character")
        );
        assert_eq!(
            parse_socks_request(&socks_domain_request(1, b"a\r\nb", 443)),
            domain("a\\r\\nb", "it has a control character")
        );
        assert_eq!(
            parse_socks_request(&socks_domain_request(1, "a\u{85}b".as_bytes(), 443)),
            domain("a\\xc2\\x85b", "it has a control character")
        );
        assert_eq!(
            parse_socks_request(&socks_domain_request(1, b"a\xffb", 443)),
            domain("a\\xffb", "it is not valid UTF-8")
        );
        assert_eq!(
            parse_socks_request(&socks_domain_request(1, "a\u{202e}b".as_bytes(), 443)),
            domain(
                "a\\xe2\\x80\\xaeb",
                "it has an invisible or bidirectional-control character"
            )
        );
        assert_eq!(
            parse_socks_request(&[5, 1, 0, 3, 0, 1, 187]),
            domain("", "it is empty")
        );
        assert_eq!(
            parse_socks_request(&[5, 1, 0, 2, 1, 2, 3, 4, 0, 80]),
            Err(WireError::SocksAddressType { atyp: 2 })
        );
        assert_eq!(
            parse_socks_request(&[5, 1, 1, 1, 1, 2, 3, 4, 0, 80]),
            Err(WireError::SocksReserved { value: 1 })
        );
        assert_eq!(
            parse_socks_request(&[5, 1, 1]),
            Err(WireError::SocksReserved { value: 1 })
        );
        assert_eq!(
            parse_socks_request(&[4, 1, 0, 80, 1, 2, 3, 4, 0]),
            Err(WireError::SocksVersion { version: 4 })
        );
    }

    #[test]
    fn socks_replies() {
        assert_eq!(socks_reply(SOCKS_OK), [5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            socks_reply(SOCKS_NOT_ALLOWED),
            [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            [
                SOCKS_OK,
                SOCKS_GENERAL_FAILURE,
                SOCKS_NOT_ALLOWED,
                SOCKS_NET_UNREACHABLE,
                SOCKS_HOST_UNREACHABLE,
                SOCKS_CONNECTION_REFUSED,
                SOCKS_TTL_EXPIRED,
                SOCKS_COMMAND_NOT_SUPPORTED,
                SOCKS_ADDRESS_NOT_SUPPORTED,
            ],
            [0, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    // -----------------------------------------------------------------------------------------
    // TLS ClientHello
    // -----------------------------------------------------------------------------------------

    /// A ClientHello generated by Python 3's ssl module (OpenSSL 3.0) with
    /// `server_hostname="example.com"`: one record, TLS 1.3 via supported_versions.
    const OPENSSL_HELLO_TLS13: &str = "\
        1603010200010001fc030392c5cd19976ac30fd8013f9f69aeaba86d0f5f10687849d83335948014b49bfa\
        206d02e4f09c8d673f263f4cc4571e0157053f141311b361c38d05658d27c480320024130213031301c02c\
        c030c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100018f00000010000e00000b6578\
        616d706c652e636f6d000b000403000102000a00160014001d0017001e0019001801000101010201030104\
        002300000016000000170000000d002a0028040305030603080708080809080a080b080408050806040105\
        010601030303010302040205020602002b00050403040303002d00020101003300260024001d00207243c7\
        b398d90643766fa1931d42c85ab2c8f6f4511b086563159524fa18bd50001500e2";

    /// The same with `maximum_version = TLSv1_2` and `server_hostname="api.example.org"`: no
    /// supported_versions extension.
    const OPENSSL_HELLO_TLS12: &str = "\
        16030100b5010000b103034c2136d79c907ea4080d0b2d3835a544858c6c10f2e257cfe47664d9af52fdf5\
        00001ec02cc030c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100006a000000140012\
        00000f6170692e6578616d706c652e6f7267000b000403000102000a000c000a001d0017001e0019001800\
        2300000016000000170000000d002a0028040305030603080708080809080a080b08040805080604010501\
        0601030303010302040205020602";

    /// Decodes hex; the padding extension's 226 zero bytes are appended by the caller.
    fn unhex(hex: &str) -> Vec<u8> {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn openssl_tls13() -> Vec<u8> {
        let mut bytes = unhex(OPENSSL_HELLO_TLS13);
        // The last extension is padding (0x0015) of 0xe2 zero bytes.
        bytes.resize(bytes.len() + 0xe2, 0);
        assert_eq!(bytes.len(), 517);
        bytes
    }

    /// One extension: type and data.
    type Ext = (u16, Vec<u8>);

    /// The body of a ClientHello with these extensions (`None`: no extensions block at all).
    fn hello_body(client_version: u16, exts: Option<&[Ext]>) -> Vec<u8> {
        let mut body = client_version.to_be_bytes().to_vec();
        body.extend_from_slice(&[0x11; 32]); // random
        body.push(32);
        body.extend_from_slice(&[0x22; 32]); // session_id
        body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]); // cipher_suites
        body.extend_from_slice(&[1, 0]); // compression_methods: null
        if let Some(exts) = exts {
            let mut block = Vec::new();
            for (ext_type, data) in exts {
                block.extend_from_slice(&ext_type.to_be_bytes());
                block.extend_from_slice(&(data.len() as u16).to_be_bytes());
                block.extend_from_slice(data);
            }
            body.extend_from_slice(&(block.len() as u16).to_be_bytes());
            body.extend_from_slice(&block);
        }
        body
    }

    /// A handshake message: type, 24-bit length, body.
    fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let mut msg = vec![msg_type];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(body);
        msg
    }

    fn client_hello(client_version: u16, exts: &[Ext]) -> Vec<u8> {
        handshake(TLS_CLIENT_HELLO, &hello_body(client_version, Some(exts)))
    }

    /// Handshake records of at most `size` bytes of `msg` each.
    fn records(msg: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for fragment in msg.chunks(size) {
            out.extend_from_slice(&[TLS_HANDSHAKE, 3, 1]);
            out.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
            out.extend_from_slice(fragment);
        }
        out
    }

    fn sni_ext(entries: &[(u8, &[u8])]) -> Ext {
        let mut list = Vec::new();
        for (name_type, name) in entries {
            list.push(*name_type);
            list.extend_from_slice(&(name.len() as u16).to_be_bytes());
            list.extend_from_slice(name);
        }
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&list);
        (EXT_SERVER_NAME, data)
    }

    fn versions_ext(versions: &[u16]) -> Ext {
        let mut data = vec![(versions.len() * 2) as u8];
        for v in versions {
            data.extend_from_slice(&v.to_be_bytes());
        }
        (EXT_SUPPORTED_VERSIONS, data)
    }

    fn hello(sni: Option<&str>, version: &str) -> Result<Hello, WireError> {
        Ok(Hello::ClientHello {
            sni: sni.map(str::to_owned),
            version: version.to_owned(),
        })
    }

    fn bad_hello(reason: &'static str) -> Result<Hello, WireError> {
        Err(WireError::BadHello { reason })
    }

    /// A typical modern ClientHello: GREASE, SNI, supported_versions, key_share-ish filler.
    fn modern_hello() -> Vec<u8> {
        client_hello(
            0x0303,
            &[
                (0x0a0a, vec![]),
                sni_ext(&[(0, b"example.com")]),
                versions_ext(&[0x1a1a, 0x0304, 0x0303]),
                (0x0033, vec![0x42; 40]),
                (0x4a4a, vec![0]),
            ],
        )
    }

    #[test]
    fn sni_and_version_from_a_built_hello() {
        let msg = modern_hello();
        assert_eq!(
            sniff_client_hello(&records(&msg, MAX_RECORD)),
            hello(Some("example.com"), "TLS 1.3")
        );
        let tls12 = client_hello(0x0303, &[sni_ext(&[(0, b"a.example")])]);
        assert_eq!(
            sniff_client_hello(&records(&tls12, MAX_RECORD)),
            hello(Some("a.example"), "TLS 1.2")
        );
        let only_12 = client_hello(0x0303, &[versions_ext(&[0x0303, 0x0302])]);
        assert_eq!(
            sniff_client_hello(&records(&only_12, MAX_RECORD)),
            hello(None, "TLS 1.2")
        );
        let only_grease = client_hello(0x0301, &[versions_ext(&[0x3a3a])]);
        assert_eq!(
            sniff_client_hello(&records(&only_grease, MAX_RECORD)),
            hello(None, "TLS 1.0")
        );
        let no_exts = handshake(TLS_CLIENT_HELLO, &hello_body(0x0302, None));
        assert_eq!(
            sniff_client_hello(&records(&no_exts, MAX_RECORD)),
            hello(None, "TLS 1.1")
        );
        let odd = client_hello(0x0305, &[]);
        assert_eq!(
            sniff_client_hello(&records(&odd, MAX_RECORD)),
            hello(None, "unknown (0x0305)")
        );
        // Other name types are skipped.
        let other_type = client_hello(0x0303, &[sni_ext(&[(7, b"x"), (0, b"b.example")])]);
        assert_eq!(
            sniff_client_hello(&records(&other_type, MAX_RECORD)),
            hello(Some("b.example"), "TLS 1.2")
        );
    }

    #[test]
    fn hello_split_over_records_and_reads() {
        let msg = modern_hello();
        // Two records (the brief's case), and every other fragment size down to one byte.
        for size in 1..=msg.len() {
            let buf = records(&msg, size);
            assert_eq!(
                sniff_client_hello(&buf),
                hello(Some("example.com"), "TLS 1.3"),
                "fragment size {size}"
            );
            if size == msg.len() / 2 + 1 || size == 1 || size == msg.len() {
                for end in 0..buf.len() {
                    assert_eq!(
                        sniff_client_hello(&buf[..end]),
                        Ok(Hello::NeedMore),
                        "size {size}, prefix {end}"
                    );
                }
            }
        }
        // Bytes after the ClientHello's records (0-RTT data, say) are not its business.
        let buf = [records(&msg, 100), vec![0x17, 3, 3, 0, 2, 1, 2]].concat();
        assert_eq!(
            sniff_client_hello(&buf),
            hello(Some("example.com"), "TLS 1.3")
        );
    }

    #[test]
    fn real_openssl_hellos() {
        let tls13 = openssl_tls13();
        assert_eq!(
            sniff_client_hello(&tls13),
            hello(Some("example.com"), "TLS 1.3")
        );
        for end in 0..tls13.len() {
            assert_eq!(sniff_client_hello(&tls13[..end]), Ok(Hello::NeedMore));
        }
        // Re-fragmented into two records, as some clients and middleboxes do.
        let split = records(&tls13[5..], 300);
        assert_eq!(
            sniff_client_hello(&split),
            hello(Some("example.com"), "TLS 1.3")
        );
        let tls12 = unhex(OPENSSL_HELLO_TLS12);
        assert_eq!(
            sniff_client_hello(&tls12),
            hello(Some("api.example.org"), "TLS 1.2")
        );
    }

    #[test]
    fn not_tls() {
        for buf in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"G",
            b"\x16\x02\x00",
            b"\x17\x03\x03\x00\x01\x00",
            b"\x80\x2e\x01\x00\x02", // SSLv2-compatible hello
            b"SSH-2.0-OpenSSH_9.6\r\n",
        ] {
            assert_eq!(
                sniff_client_hello(buf),
                Ok(Hello::NotTls),
                "{}",
                buf.escape_ascii()
            );
        }
        assert_eq!(sniff_client_hello(b""), Ok(Hello::NeedMore));
        assert_eq!(sniff_client_hello(b"\x16"), Ok(Hello::NeedMore));
    }

    #[test]
    fn duplicate_server_names() {
        let two_exts = client_hello(
            0x0303,
            &[
                sni_ext(&[(0, b"allowed.com")]),
                sni_ext(&[(0, b"evil.com")]),
            ],
        );
        let e = sniff_client_hello(&records(&two_exts, MAX_RECORD));
        assert_eq!(e, Err(WireError::DuplicateExtension { ext_type: 0 }));
        assert!(e.unwrap_err().to_string().contains("server_name"));
        let two_names = client_hello(0x0303, &[sni_ext(&[(0, b"allowed.com"), (0, b"evil.com")])]);
        assert_eq!(
            sniff_client_hello(&records(&two_names, MAX_RECORD)),
            bad_hello("more than one host_name in server_name")
        );
        let two_versions =
            client_hello(0x0303, &[versions_ext(&[0x0304]), versions_ext(&[0x0303])]);
        assert_eq!(
            sniff_client_hello(&records(&two_versions, MAX_RECORD)),
            Err(WireError::DuplicateExtension { ext_type: 43 })
        );
    }

    #[test]
    fn bad_server_names() {
        let cases: [(&[u8], Result<Hello, WireError>); 5] = [
            (b"", bad_hello("zero-length server name")),
            (
                b"allowed.com\0.evil.com",
                Err(WireError::BadServerName {
                    name: "allowed.com\\x00.evil.com".into(),
                }),
            ),
            (b"a b", Err(WireError::BadServerName { name: "a b".into() })),
            (
                b"caf\xc3\xa9.com",
                Err(WireError::BadServerName {
                    name: "caf\\xc3\\xa9.com".into(),
                }),
            ),
            (
                b"a\x1b[2J",
                Err(WireError::BadServerName {
                    name: "a\\x1b[2J".into(),
                }),
            ),
        ];
        for (name, expected) in cases {
            let msg = client_hello(0x0303, &[sni_ext(&[(0, name)])]);
            let got = sniff_client_hello(&records(&msg, MAX_RECORD));
            if let Err(e) = &got {
                assert_printable(e);
            }
            assert_eq!(got, expected, "{}", name.escape_ascii());
        }
        let empty_list = client_hello(0x0303, &[(EXT_SERVER_NAME, vec![0, 0])]);
        assert_eq!(
            sniff_client_hello(&records(&empty_list, MAX_RECORD)),
            bad_hello("empty server_name list")
        );
        let empty_ext = client_hello(0x0303, &[(EXT_SERVER_NAME, vec![])]);
        assert_eq!(
            sniff_client_hello(&records(&empty_ext, MAX_RECORD)),
            bad_hello("server_name list overruns the extension")
        );
    }

    #[test]
    fn malformed_lengths() {
        let sniff_body = |body: &[u8]| {
            sniff_client_hello(&records(&handshake(TLS_CLIENT_HELLO, body), MAX_RECORD))
        };
        let good = hello_body(0x0303, Some(&[sni_ext(&[(0, b"a.com")])]));
        assert_eq!(sniff_body(&good), hello(Some("a.com"), "TLS 1.2"));
        // Offsets in `good`: 0 version, 2 random, 34 session_id len, 35 session_id,
        // 67 suites len, 69 suites, 73 compression, 75 extensions len, 77 first extension.
        let patched = |offset: usize, bytes: &[u8]| {
            let mut body = good.clone();
            body[offset..offset + bytes.len()].copy_from_slice(bytes);
            body
        };
        let ext_len = u16::from_be_bytes([good[75], good[76]]);
        let cases = [
            (
                patched(75, &(ext_len + 1).to_be_bytes()),
                "extensions overrun the ClientHello",
            ),
            (
                patched(75, &(ext_len - 1).to_be_bytes()),
                "bytes after the extensions",
            ),
            (
                patched(79, &[0, 99]),
                "an extension overruns the extensions block",
            ),
            (
                patched(81, &[0, 99]),
                "server_name list overruns the extension",
            ),
            (patched(81, &[0, 1]), "bytes after the server_name list"),
            (
                patched(84, &[0, 50]),
                "a server name overruns the server_name list",
            ),
            (patched(34, &[33]), "session_id is longer than 32 bytes"),
            (
                patched(67, &[0xff, 0xff]),
                "cipher_suites overrun the ClientHello",
            ),
            (patched(34, &[200]), "session_id overruns the ClientHello"),
            (
                patched(67, &[0, 3]),
                "cipher_suites is not a non-empty list of 2-byte values",
            ),
            (
                patched(67, &[0, 0]),
                "cipher_suites is not a non-empty list of 2-byte values",
            ),
            (patched(73, &[0]), "compression_methods is empty"),
            (good[..20].to_vec(), "truncated random"),
            (good[..1].to_vec(), "truncated client_version"),
            ([&good[..], &[0]].concat(), "bytes after the extensions"),
        ];
        for (body, reason) in cases {
            assert_eq!(sniff_body(&body), bad_hello(reason), "{reason}");
        }
        // A trailing byte inside the extensions block is a truncated extension header.
        let mut body = good.clone();
        body.push(0);
        body[75..77].copy_from_slice(&(ext_len + 1).to_be_bytes());
        assert_eq!(sniff_body(&body), bad_hello("truncated extension header"));
        let bad_versions = [
            (
                vec![3, 3, 4, 3],
                "supported_versions is not a non-empty list of 2-byte values",
            ),
            (
                vec![0],
                "supported_versions is not a non-empty list of 2-byte values",
            ),
            (
                vec![4, 3, 4],
                "supported_versions list overruns the extension",
            ),
            (vec![2, 3, 4, 0], "bytes after the supported_versions list"),
        ];
        for (data, reason) in bad_versions {
            let msg = client_hello(0x0303, &[(EXT_SUPPORTED_VERSIONS, data)]);
            assert_eq!(
                sniff_client_hello(&records(&msg, MAX_RECORD)),
                bad_hello(reason)
            );
        }
    }

    #[test]
    fn malformed_records() {
        let msg = modern_hello();
        // A non-handshake record before the ClientHello is complete.
        let mut buf = records(&msg[..50], 50);
        buf.extend_from_slice(&[0x17, 3, 3, 0, 1, 0]);
        assert_eq!(
            sniff_client_hello(&buf),
            bad_hello("a record that is not a handshake record before the ClientHello's end")
        );
        let mut buf = records(&msg[..50], 50);
        buf.extend_from_slice(&[TLS_HANDSHAKE, 2, 0, 0, 1, 0]);
        assert_eq!(
            sniff_client_hello(&buf),
            bad_hello("a record with a version other than 3.x")
        );
        assert_eq!(
            sniff_client_hello(&[TLS_HANDSHAKE, 3, 1, 0, 0]),
            bad_hello("an empty handshake record")
        );
        assert_eq!(
            sniff_client_hello(&[TLS_HANDSHAKE, 3, 1, 0x40, 0x01]),
            bad_hello("a record longer than 16 KiB")
        );
        // A ServerHello (type 2) is not what a client sends first.
        let server_hello = handshake(2, &hello_body(0x0303, Some(&[])));
        assert_eq!(
            sniff_client_hello(&records(&server_hello, MAX_RECORD)),
            Err(WireError::NotClientHello { msg_type: 2 })
        );
        // More handshake data after the ClientHello in its last record.
        let mut two = msg.clone();
        two.extend_from_slice(&handshake(TLS_CLIENT_HELLO, b"x"));
        assert_eq!(
            sniff_client_hello(&records(&two, MAX_RECORD)),
            bad_hello("data after the ClientHello in its last record")
        );
        // An inner length overrunning the handshake message.
        let mut short = msg.clone();
        short[3] -= 10;
        short.truncate(short.len() - 10);
        assert!(matches!(
            sniff_client_hello(&records(&short, MAX_RECORD)),
            Err(WireError::BadHello { .. })
        ));
    }

    #[test]
    fn hello_size_limit() {
        // A declared handshake length over the limit fails at once.
        let buf = [
            TLS_HANDSHAKE,
            3,
            1,
            0,
            4,
            TLS_CLIENT_HELLO,
            0x01,
            0x00,
            0x00,
        ];
        assert_eq!(
            sniff_client_hello(&buf),
            Err(WireError::HelloTooLarge { limit: MAX_HELLO })
        );
        // So do records adding up to more than the limit, even if each is fine.
        let big = client_hello(0x0303, &[(0xffce, vec![0; 0xfff0])]);
        assert!(big.len() > MAX_HELLO);
        assert_eq!(
            sniff_client_hello(&records(&big, MAX_RECORD)),
            Err(WireError::HelloTooLarge { limit: MAX_HELLO })
        );
        // Below the limit (in four full-size records) it parses.
        let fits = client_hello(
            0x0303,
            &[sni_ext(&[(0, b"a.com")]), (0xffce, vec![0; 60000])],
        );
        let buf = records(&fits, MAX_RECORD);
        assert!(buf.len() <= MAX_HELLO);
        assert_eq!(sniff_client_hello(&buf), hello(Some("a.com"), "TLS 1.2"));
    }
}
