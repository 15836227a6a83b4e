//! Text from the evidence, escaped for each channel of the report (through `reprove-escape`).

pub(crate) fn html_escape(s: &str) -> String {
    reprove_escape::html(s)
}

/// Markdown text from untrusted values ([`reprove_escape::markdown`]).
pub fn md_text(s: &str) -> String {
    reprove_escape::markdown(s)
}

pub(crate) fn md_cell(s: &str) -> String {
    md_text(s)
}

/// A value inside a shell code block ([`reprove_escape::markdown_code`]).
pub fn fence_safe(s: &str) -> String {
    reprove_escape::markdown_code(s)
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
pub(crate) fn rich_html(s: &str) -> String {
    pieces(s)
        .into_iter()
        .map(|(code, p)| {
            if code {
                format!("<code>{}</code>", html_escape(p))
            } else {
                html_escape(p)
            }
        })
        .collect()
}

/// One of reprove's sentences as Markdown: code spans kept (their content made safe for a
/// span, and for a table cell when `cell`), the rest escaped.
pub(crate) fn rich_md(s: &str, cell: bool) -> String {
    pieces(s)
        .into_iter()
        .map(|(code, p)| {
            if code {
                let inner = fence_safe(p);
                let inner = if cell {
                    inner.replace('|', "\\|")
                } else {
                    inner
                };
                format!("`{inner}`")
            } else {
                md_text(p)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_render_as_code_and_never_break_out() {
        assert_eq!(
            rich_html("run `reprove verify` on <b>"),
            "run <code>reprove verify</code> on &lt;b&gt;"
        );
        assert_eq!(
            rich_md("tag `a|b` and *x*", true),
            "tag `a\\|b` and \\*x\\*"
        );
        // An odd backtick (a value that holds one) leaves everything text.
        assert_eq!(rich_html("tag `v1`x`"), "tag `v1`x`");
        assert_eq!(rich_md("tag `v1`x`", false), "tag \\`v1\\`x\\`");
        assert_eq!(rich_html("`<script>`"), "<code>&lt;script&gt;</code>");
        // Two pieces escaped apart must not join into an autolink.
        let md = rich_md("see http:``//evil.example and www``.evil.example", false);
        assert!(!md.contains("http://") && !md.contains("www.evil"), "{md}");
    }
}
