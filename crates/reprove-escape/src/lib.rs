//! Text from outside — file and artifact names, commit subjects, SOUP names and licences,
//! image references, registry messages, anything read from a bundle — leaves reprove through
//! exactly one function per output channel, here. Each makes the text inert for its channel:
//!
//! - [`terminal`]: no control character reaches the terminal (an `ESC [` sequence can move the
//!   cursor and overwrite a `FAIL` line with a fake `pass`), no newline can forge a line, and
//!   no bidirectional override or invisible character can make a name read as another
//!   (Trojan Source, CVE-2021-42574). They are shown as `\u{…}` escapes.
//! - [`markdown`]: no link, image, autolink, raw HTML, code span, emphasis or table cell
//!   boundary can start; the text stays on one line.
//! - [`html`] and [`xml`]: element text and attribute values; XML 1.0 cannot carry most
//!   control characters at all, so they become U+FFFD.
//! - [`csv`]: RFC 4180 quoting, and a cell a spreadsheet would run as a formula (`=`, `+`, `-`,
//!   `@`, tab, carriage return first) is prefixed with `'` (OWASP CSV injection).
//! - [`sarif`]: SARIF messages are shown as plain text by code-scanning UIs: as [`terminal`].
//!
//! The functions are pure and total; a property test checks that no output carries a control
//! character or active markup for its channel, whatever the input.

use std::fmt::Write as _;

/// Characters that change how the text around them is displayed, or look like nothing at
/// all: Unicode's Default_Ignorable_Code_Point set (bidirectional embeddings, overrides,
/// isolates and marks; zero-width and invisible format characters; fillers that render blank;
/// variation selectors; tag characters; shorthand and musical format controls), the line and
/// paragraph separators, and the braille blank.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
            // Blank-looking, though not "ignorable": a braille blank reads as a space.
            | '\u{2800}'
    )
}

/// Whether a terminal (or a reader) would treat `c` as anything but a visible character.
/// The style markers ([`Style`]) count: only reprove's own words may carry them.
pub fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control() || invisible(c) || is_style_marker(c)
}

/// How one of reprove's status words is shown on a colour terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A check that failed, a mismatch: bold red.
    Bad,
    /// A check that held: green.
    Good,
    /// Not checked, skipped, equivalent: yellow.
    Note,
}

const STYLE_BAD: char = '\u{E000}';
const STYLE_GOOD: char = '\u{E001}';
const STYLE_NOTE: char = '\u{E002}';
const STYLE_END: char = '\u{E003}';

fn is_style_marker(c: char) -> bool {
    matches!(c, STYLE_BAD | STYLE_GOOD | STYLE_NOTE | STYLE_END)
}

/// `word` (reprove's own text, already padded) marked for `style`: [`terminal_block_styled`]
/// turns the marks into colour or drops them. A value from outside never carries a mark:
/// [`terminal`] escapes them like any invisible character.
pub fn styled(word: &str, style: Style) -> String {
    let start = match style {
        Style::Bad => STYLE_BAD,
        Style::Good => STYLE_GOOD,
        Style::Note => STYLE_NOTE,
    };
    let plain: String = word.chars().filter(|c| !is_style_marker(*c)).collect();
    format!("{start}{plain}{STYLE_END}")
}

/// [`terminal_block`], with reprove's style marks turned into SGR colour sequences when
/// `color`, or dropped.
pub fn terminal_block_styled(s: &str, color: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            STYLE_BAD if color => out.push_str("\u{1b}[1;31m"),
            STYLE_GOOD if color => out.push_str("\u{1b}[32m"),
            STYLE_NOTE if color => out.push_str("\u{1b}[33m"),
            STYLE_END if color => out.push_str("\u{1b}[0m"),
            c if is_style_marker(c) => {}
            '\n' | '\t' => out.push(c),
            c if is_unsafe_for_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A value (name, subject, message) for a terminal line: every control and invisible
/// character, newlines included, is shown escaped (`\n`, `\t`, `\u{1b}`, `\u{202e}`), and a
/// backslash is doubled, so a name spelling `\u{1b}` reads differently from one holding ESC.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_for_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A whole block of terminal output that reprove composed: line breaks and tabs are kept,
/// every other control or invisible character is escaped. A second line of defence behind
/// [`terminal`] on each value, applied to everything the CLI prints as text.
pub fn terminal_block(s: &str) -> String {
    if !s
        .chars()
        .any(|c| is_unsafe_for_terminal(c) && c != '\n' && c != '\t')
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if is_unsafe_for_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// SARIF `message.text`: plain text, as [`terminal`], with `[` and `]` escaped — SARIF lets a
/// message's text carry `[text](url)` links (§3.11.6).
pub fn sarif(s: &str) -> String {
    terminal(s).replace('[', "\\[").replace(']', "\\]")
}

/// One POSIX shell word: single-quoted, so nothing in it is expanded or ends the command.
pub fn shell(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/+=:@,".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", terminal(s).replace('\'', "'\\''"))
}

/// Inline Markdown text (a table cell, a list item, a paragraph): every character that could
/// start markup is backslash-escaped or entity-encoded, line breaks become spaces, control and
/// invisible characters become U+FFFD. CommonMark §2.4 lets any ASCII punctuation be escaped;
/// so are the `:` of `://`, the `.` of `www.` and every `@`, so GitHub's extended autolinks and
/// @mentions never fire.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        let rest = &s[i + c.len_utf8()..];
        match c {
            // `scheme://` and `www.` start GitHub's extended autolinks; `@` its mentions and
            // email autolinks.
            ':' if rest.starts_with("//") => out.push_str("\\:"),
            '.' if out
                .as_bytes()
                .get(out.len().saturating_sub(3)..)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"www")) =>
            {
                out.push_str("\\.")
            }
            '@' => out.push_str("\\@"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' | '#' | '{' | '}' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c if is_unsafe_for_terminal(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A value inside a fenced code block (a shell command): nothing that could close the fence,
/// and no control or invisible character.
pub fn markdown_code(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '`' || c == '~' || is_unsafe_for_terminal(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// The pieces of one of reprove's own sentences: text, and the code spans it marks with
/// backticks (`reprove verify`, a tag, a path). A sentence with an odd number of backticks
/// (a value that holds one) is all text.
fn pieces(s: &str) -> Vec<(bool, &str)> {
    // An odd backtick, or an empty span (two texts that would be escaped apart and then
    // joined, so that `http:` and `//evil` meet as a link), leaves it all text.
    if !s.matches('`').count().is_multiple_of(2) || s.contains("``") {
        return vec![(false, s)];
    }
    s.split('`')
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(i, p)| (i % 2 == 1, p))
        .collect()
}

/// One of reprove's sentences as HTML: its code spans as `<code>`, never literal backticks.
pub fn html_rich(s: &str) -> String {
    pieces(s)
        .into_iter()
        .map(|(code, p)| {
            if code {
                format!("<code>{}</code>", html(p))
            } else {
                html(p)
            }
        })
        .collect()
}

/// One of reprove's sentences as Markdown: code spans kept (their content made safe for a
/// span, and for a table cell when `cell`), the rest escaped.
pub fn markdown_rich(s: &str, cell: bool) -> String {
    pieces(s)
        .into_iter()
        .map(|(code, p)| {
            if code {
                let inner = markdown_code(p);
                let inner = if cell {
                    inner.replace('|', "\\|")
                } else {
                    inner
                };
                format!("`{inner}`")
            } else {
                markdown(p)
            }
        })
        .collect()
}

/// HTML element text or a double- or single-quoted attribute value.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if is_unsafe_for_terminal(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// XML 1.0 element text or attribute value (JUnit). Characters XML cannot carry
/// (§2.2 `Char`) and invisible ones become U+FFFD.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if is_unsafe_for_terminal(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a leading
/// `=`, `+`, `-`, `@`, tab or carriage return — which spreadsheets evaluate as a formula — is
/// neutralised with a leading `'`. Control characters other than line breaks become U+FFFD.
pub fn csv(s: &str) -> String {
    let mut cell: String = s
        .chars()
        .map(|c| {
            if (c.is_control() && c != '\n' && c != '\r' && c != '\t') || invisible(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        cell.insert(0, '\'');
    }
    // `;` separates cells where the decimal comma is in use: quoted too.
    if cell.contains([',', ';', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_reprove_words_are_coloured() {
        let line = format!(
            "  {} check {}",
            styled("FAIL   ", Style::Bad),
            terminal("x\u{e000}y")
        );
        assert_eq!(
            terminal_block_styled(&line, true),
            "  \u{1b}[1;31mFAIL   \u{1b}[0m check x\\u{e000}y"
        );
        assert_eq!(
            terminal_block_styled(&line, false),
            "  FAIL    check x\\u{e000}y"
        );
        // A value that slipped past `terminal` still cannot colour anything.
        assert_eq!(terminal_block("\u{e001}ok"), "\\u{e001}ok");
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn terminal_shows_what_would_rewrite_the_screen() {
        assert_eq!(
            terminal("app\u{1b}[2K\rpass artifact-digests"),
            "app\\u{1b}[2K\\rpass artifact-digests"
        );
        assert_eq!(terminal("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(terminal("evil\u{202e}gz.exe"), "evil\\u{202e}gz.exe");
        assert_eq!(terminal("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(terminal("Grüße 日本"), "Grüße 日本");
        assert_eq!(terminal("a\\u{1b}b"), "a\\\\u{1b}b");
        assert_eq!(
            terminal("soft\u{ad}hyphen\u{2028}"),
            "soft\\u{ad}hyphen\\u{2028}"
        );
        assert_eq!(terminal("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(
            terminal("\u{1d173}\u{1bca0}\u{2800}"),
            "\\u{1d173}\\u{1bca0}\\u{2800}"
        );
        assert_eq!(
            terminal_block("ok\n\u{1b}[31mred\n"),
            "ok\n\\u{1b}[31mred\n"
        );
    }

    #[test]
    fn markdown_links_images_code_and_html_are_inert() {
        assert_eq!(markdown("[x](http://e)"), "\\[x\\](http\\://e)");
        assert_eq!(
            markdown("![i](http://e/p.png)"),
            "\\!\\[i\\](http\\://e/p.png)"
        );
        assert_eq!(
            markdown("see www.evil.example or @team"),
            "see www\\.evil.example or \\@team"
        );
        assert_eq!(
            markdown("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(markdown("`code`"), "\\`code\\`");
        assert_eq!(markdown("a|b\nc"), "a\\|b c");
        assert_eq!(markdown_code("rm `x`\u{1b}"), "rm ?x??");
    }

    #[test]
    fn shell_words_expand_nothing() {
        assert_eq!(shell("v1.4.0"), "v1.4.0");
        assert_eq!(shell("v9;touch${IFS}/tmp/x"), "'v9;touch${IFS}/tmp/x'");
        assert_eq!(shell("it's"), "'it'\\''s'");
        assert_eq!(shell(""), "''");
        assert_eq!(sarif("[x](http://e)"), "\\[x\\](http://e)");
    }

    #[test]
    fn csv_formulas_are_neutralised() {
        assert_eq!(
            csv("=HYPERLINK(\"http://e\")"),
            "\"'=HYPERLINK(\"\"http://e\"\")\""
        );
        assert_eq!(csv("+1"), "'+1");
        assert_eq!(csv("-2+3"), "'-2+3");
        assert_eq!(csv("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv("serde"), "serde");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("a;=1"), "\"a;=1\"");
    }

    #[test]
    fn xml_and_html() {
        assert_eq!(xml("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}");
        assert_eq!(html("<script>'"), "&lt;script&gt;&#39;");
    }

    /// An `&` in the output only ever starts one of the entities the escaper writes.
    fn entities_only(out: &str) -> bool {
        out.match_indices('&').all(|(i, _)| {
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;"]
                .iter()
                .any(|e| out[i..].starts_with(e))
        })
    }

    /// Whether `c` at byte `i` of `out` is preceded by an odd number of backslashes.
    fn escaped(out: &str, i: usize) -> bool {
        out[..i].chars().rev().take_while(|&b| b == '\\').count() % 2 == 1
    }

    proptest! {
        #[test]
        fn no_channel_lets_control_characters_or_markup_through(s in "\\PC*|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}<>\\[\\]`*_|&\"'=+@!:/w.-]{0,40}") {
            let t = terminal(&s);
            prop_assert!(!t.chars().any(is_unsafe_for_terminal));
            prop_assert!(!sarif(&s).chars().any(is_unsafe_for_terminal));

            let m = markdown(&s);
            prop_assert!(!m.chars().any(is_unsafe_for_terminal));
            for (i, c) in m.char_indices() {
                if matches!(c, '[' | ']' | '`' | '*' | '_' | '|' | '!' | '~' | '@') {
                    prop_assert!(escaped(&m, i), "unescaped {:?} in {:?}", c, m);
                }
            }
            prop_assert!(!m.contains('<') && !m.contains('>'));
            for (i, _) in m.match_indices("://") {
                prop_assert!(escaped(&m, i), "an autolink scheme in {:?}", m);
            }
            prop_assert!(entities_only(&m));

            for out in [html(&s), xml(&s)] {
                prop_assert!(!out.contains(['<', '>', '"', '\'']));
                prop_assert!(entities_only(&out));
                prop_assert!(!out.chars().any(|c| is_unsafe_for_terminal(c) && c != '\n' && c != '\t'));
            }

            let c = csv(&s);
            let inner = c.strip_prefix('"').unwrap_or(&c);
            prop_assert!(!inner.starts_with(['=', '+', '-', '@', '\t', '\r']));
            prop_assert!(!c.chars().any(|ch| is_unsafe_for_terminal(ch) && !matches!(ch, '\n' | '\r' | '\t')));

            let b = terminal_block(&s);
            prop_assert!(!b.chars().any(|c| is_unsafe_for_terminal(c) && c != '\n' && c != '\t'));
        }
    }
}
