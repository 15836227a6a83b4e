//! The report as Markdown.

use std::fmt::Write as _;

use crate::AuditInput;
use crate::escape::{md_text, rich_md};
use crate::html::title;
use crate::sections::sections;

/// The same report as Markdown.
pub fn to_markdown(a: &AuditInput<'_>) -> String {
    let mut out = format!(
        "{}\n# {}\n",
        crate::documents::marker("record", &crate::documents::product(a), a.tag),
        md_text(&title(a))
    );
    for s in sections(a) {
        let _ = write!(out, "\n## {}\n\n", md_text(&s.title));
        for p in &s.intro {
            let _ = writeln!(out, "{}\n", rich_md(p, false));
        }
        if let Some(t) = &s.table {
            t.markdown(&mut out);
        }
    }
    out
}
