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

/// One of reprove's sentences as HTML ([`reprove_escape::html_rich`]).
pub(crate) fn rich_html(s: &str) -> String {
    reprove_escape::html_rich(s)
}

/// One of reprove's sentences as Markdown ([`reprove_escape::markdown_rich`]).
pub(crate) fn rich_md(s: &str, cell: bool) -> String {
    reprove_escape::markdown_rich(s, cell)
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
