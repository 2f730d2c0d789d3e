//! The one HTML escape: untrusted text made safe for a page. It is
//! [`proto::text::plain`](backchannel_proto::text::plain) (controls, bidi overrides
//! and invisible characters written as visible `\u{..}` escapes, exactly as a terminal
//! shows them) followed by the five characters HTML gives meaning to, so a page and
//! the command line show the same words.

/// Escapes `s` for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let plain = backchannel_proto::text::plain(s);
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_and_terminal_controls_are_shown_not_obeyed() {
        let e = esc("<b>\"x\" & 'y'</b>\u{1b}[8m\u{202e}");
        assert_eq!(
            e,
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;\\u{1b}[8m\\u{202e}"
        );
    }
}
