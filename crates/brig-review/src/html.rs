//! HTML output: escaping and the page frame.

/// `s` safe inside HTML text and quoted attribute values: `& < > " '` become entities, and
/// control and bidirectional-override characters (which would make a command read differently
/// from what runs) become `?`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || brig_audit::text::is_deceptive(c) => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Which navigation entry is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    /// The sessions list (and a session).
    Sessions,
    /// The pending approvals.
    Approvals,
}

/// A whole page around `body` (already HTML). `poll` names the `/state` endpoint the script
/// watches to reload the page when it changes (with the value it had when rendered).
pub fn page(
    title: &str,
    nav: Nav,
    pending: usize,
    poll: Option<(&str, &str)>,
    body: &str,
) -> String {
    let cur = |n: Nav| if n == nav { " class=\"current\"" } else { "" };
    let poll = poll
        .map(|(url, sig)| {
            format!(
                " data-poll=\"{}\" data-state=\"{}\"",
                escape(url),
                escape(sig)
            )
        })
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · brig review</title><link rel=\"stylesheet\" href=\"/static/style.css\">\
         <script src=\"/static/app.js\" defer></script></head>\
         <body{poll}><header><strong>brig review</strong><nav>\
         <a href=\"/\"{}>Sessions</a> <a href=\"/approvals\"{}>Pending approvals \
         <span class=\"count{}\" id=\"pending-count\">{pending}</span></a></nav></header>\
         <main>{body}</main></body></html>\n",
        escape(title),
        cur(Nav::Sessions),
        cur(Nav::Approvals),
        if pending == 0 { " zero" } else { "" },
    )
}
