//! Who may talk to the server: the token, the Host and Origin headers, the CSRF token.
//!
//! Each check is a pure function of the request and the per-start [`Secrets`], so the tests
//! can show that each one refuses what it must.

use std::io::Read;

use crate::http::Request;

/// The cookie that carries the token after the first request.
pub const COOKIE: &str = "brig_review";

/// The per-start secrets: 32 random bytes each, in hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets {
    /// Grants access: in the printed URL once, then in the cookie.
    pub token: String,
    /// Proves a POST came from one of this server's forms.
    pub csrf: String,
}

impl Secrets {
    /// Fresh secrets from `/dev/urandom`.
    pub fn generate() -> std::io::Result<Secrets> {
        let mut f = std::fs::File::open("/dev/urandom")?;
        let mut hex = || -> std::io::Result<String> {
            let mut b = [0u8; 32];
            f.read_exact(&mut b)?;
            Ok(b.iter().map(|x| format!("{x:02x}")).collect())
        };
        Ok(Secrets {
            token: hex()?,
            csrf: hex()?,
        })
    }
}

/// Why a request was refused (the body of the 403).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The Host header is missing, repeated, or not this server.
    Host,
    /// Neither the token in the URL nor the cookie.
    Token,
    /// A POST without this server's Origin.
    Origin,
    /// A POST without the form's CSRF token.
    Csrf,
}

impl Refusal {
    /// What the 403 says.
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Host => "refused: the Host header must be 127.0.0.1:PORT or localhost:PORT\n",
            Refusal::Token => "refused: open the URL with the token that `brig review` printed\n",
            Refusal::Origin => "refused: a POST must come from this page (Origin)\n",
            Refusal::Csrf => "refused: the form's CSRF token is missing or wrong\n",
        }
    }
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The Host header names this server: exactly one, `127.0.0.1:PORT` or `localhost:PORT`.
pub fn host_ok(req: &Request, port: u16) -> bool {
    if req.header_count("host") != 1 {
        return false;
    }
    let host = req.header("host").unwrap_or_default();
    host == format!("127.0.0.1:{port}") || host.eq_ignore_ascii_case(&format!("localhost:{port}"))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The token in the cookie.
pub fn cookie_ok(req: &Request, secrets: &Secrets) -> bool {
    cookie(req, COOKIE).is_some_and(|t| same_secret(t, &secrets.token))
}

/// The token in the URL (`?token=`).
pub fn url_token_ok(req: &Request, secrets: &Secrets) -> bool {
    req.param("token")
        .is_some_and(|t| same_secret(t, &secrets.token))
}

/// A POST's Origin is this server as the browser addressed it (`http://` + its Host).
/// A missing Origin is refused: every browser that sends this server's cookie sends it.
pub fn origin_ok(req: &Request, port: u16) -> bool {
    if req.header_count("origin") != 1 {
        return false;
    }
    let origin = req.header("origin").unwrap_or_default();
    let host = req.header("host").unwrap_or_default();
    host_ok(req, port) && origin.eq_ignore_ascii_case(&format!("http://{host}"))
}

/// The form's `csrf` field is this start's CSRF token.
pub fn csrf_ok(form: &[(String, String)], secrets: &Secrets) -> bool {
    crate::http::lookup(form, "csrf").is_some_and(|t| same_secret(t, &secrets.csrf))
}

/// Every check a request must pass before it is routed: the Host, then the token (cookie, or
/// the URL for the first request), and for a POST the Origin and the CSRF token of its form.
pub fn check(req: &Request, port: u16, secrets: &Secrets) -> Result<(), Refusal> {
    if !host_ok(req, port) {
        return Err(Refusal::Host);
    }
    let token = cookie_ok(req, secrets) || (req.method == "GET" && url_token_ok(req, secrets));
    if !token {
        return Err(Refusal::Token);
    }
    if req.method != "GET" && req.method != "HEAD" {
        if !origin_ok(req, port) {
            return Err(Refusal::Origin);
        }
        if !csrf_ok(&req.form(), secrets) {
            return Err(Refusal::Csrf);
        }
    }
    Ok(())
}

/// The `Set-Cookie` value that keeps the token: not readable by scripts, never sent with a
/// request that another site starts, gone when the browser closes.
pub fn set_cookie(secrets: &Secrets) -> String {
    format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        secrets.token
    )
}
