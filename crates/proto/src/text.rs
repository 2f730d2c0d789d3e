//! Untrusted text on its way to a human: the one escaping function every
//! human-readable output uses (the CLI, the broker's log, notices, the judge).
//!
//! Everything a peer, a broker, a transcript or a config file says is data. Shown raw,
//! a newline could forge a whole line ("[bravo] accepted #1 ..."), `ESC[8m` could hide
//! the rest, a bidi override could reverse what follows and a zero-width character
//! could make two different ids look alike. [`plain`] writes each such character as a
//! visible `\u{..}` escape and leaves everything else as it is; [`quoted`] also wraps
//! the text in double quotes (escaping `"` and `\`), for free text. JSON output carries
//! the raw values instead (JSON escaping is the JSON writer's job).

use std::fmt::Write as _;

/// Whether `c` could move the cursor, change the terminal's state, reorder or hide
/// text: C0 and C1 controls, DEL, line and paragraph separators, bidi embeddings,
/// overrides and isolates, zero-width and invisible formatting characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// `s` with every unsafe character written as `\u{XXXX}` (and `\` as `\\`, so an
/// escape cannot be faked).
pub fn plain(s: &str) -> String {
    escape(s, false)
}

/// `s` in double quotes, escaped as by [`plain`], with `"` written as `\"`.
pub fn quoted(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, quote: bool) -> String {
    // Most text is printable ASCII with nothing to escape: copied whole (a node prints
    // every message it receives, and the loop below was a fifth of its CPU in
    // deniable mode).
    let nothing_to_escape = s
        .bytes()
        .all(|b| matches!(b, b' '..=b'~') && b != b'\\' && !(quote && b == b'"'));
    if !nothing_to_escape {
        return escape_each_char(s, quote);
    }
    let mut out = String::with_capacity(s.len() + 2);
    if quote {
        out.push('"');
    }
    out.push_str(s);
    if quote {
        out.push('"');
    }
    out
}

/// [`escape`] one character at a time: the definition the shortcut must agree with.
fn escape_each_char(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    if quote {
        out.push('"');
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' if quote => out.push_str("\\\""),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    if quote {
        out.push('"');
    }
    out
}

/// The characters an assurance id may use: `A-Z a-z 0-9 . _ : -`, 1 to 64 of them
/// (`proto-spec/protocol.md` §5.3). Ids are what a reader compares by eye, so they are
/// kept to characters that look like what they are.
pub fn is_valid_assurance_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_that_steers_a_terminal_survives() {
        let hostile =
            "A-1\n[bravo] accepted #1\r\u{1b}[8m\u{202e}gnp.exe\u{200b}\u{7f}\u{85}\u{2066}x\\";
        let shown = plain(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert_eq!(
            shown,
            "A-1\\u{a}[bravo] accepted #1\\u{d}\\u{1b}[8m\\u{202e}gnp.exe\\u{200b}\\u{7f}\\u{85}\\u{2066}x\\\\"
        );
        assert_eq!(quoted("say \"no\""), "\"say \\\"no\\\"\"");
        // Ordinary text, accents and emoji pass unchanged.
        assert_eq!(plain("Évitez le couloir 🙂"), "Évitez le couloir 🙂");
        // The all-ASCII shortcut still escapes what it must.
        assert_eq!(plain("a\\b"), "a\\\\b");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert_eq!(plain("a\"b"), "a\"b");
        assert_eq!(plain("a\u{7f}b"), "a\\u{7f}b");
        assert_eq!(plain("tab\there"), "tab\\u{9}here");
    }

    proptest::proptest! {
        /// The printable-ASCII shortcut says exactly what the character loop says,
        /// for mostly-ASCII text with the odd quote, backslash or control in it.
        #[test]
        fn the_shortcut_agrees_with_the_character_loop(
            s in "[ -~]{0,40}|[ -~\\\\\"\\t\\n\\u{7f}\\u{85}é\\u{202e}]{0,40}",
            quote: bool,
        ) {
            proptest::prop_assert_eq!(escape(&s, quote), escape_each_char(&s, quote));
        }
    }

    #[test]
    fn assurance_ids_are_short_and_plain() {
        for ok in ["A-1", "a.b_c:d-9", &"x".repeat(64)] {
            assert!(is_valid_assurance_id(ok), "{ok}");
        }
        for bad in ["", "A 1", "A-1\n", "A\u{202e}1", "А-1", &"x".repeat(65)] {
            assert!(!is_valid_assurance_id(bad), "{bad:?}");
        }
    }
}
