//! Text from the evidence, escaped for each channel of the report (through `reprove-escape`).

pub(crate) fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

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
