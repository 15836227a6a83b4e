//! The self-contained HTML report: no scripts, no external styles or fonts.

use std::fmt::Write as _;

use crate::AuditInput;
use crate::escape::{html_escape, rich_html};
use crate::sections::sections;

// Print: A4 with narrow margins and a smaller table font, so the ten SOUP columns fit; words
// (headers, status words) never break inside, long values (digests, references) wrap
// anywhere rather than overflow.
pub(crate) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#111;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;font-size:.85em;margin:.5em 0}\
th,td{border:1px solid #bbb;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere;hyphens:none}\
th{background:#eee;overflow-wrap:normal;word-break:keep-all}\
code{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.92em;background:#f3f3f3;padding:0 .15em}\
#clauses td:nth-child(-n+2),#clauses td:nth-child(5),#clauses th{white-space:nowrap;overflow-wrap:normal}\
#checks td:nth-child(2),#changes td:nth-child(2),#changes td:nth-child(5),#images td:nth-child(-n+2),#images td:nth-child(4),#artifacts td:nth-child(3){white-space:nowrap}\
#document td:first-child{white-space:nowrap;width:12em}#approval td{height:2.6em}\
td.s-met{background:#e3f4e3}td.s-gap{background:#fbe3e3;font-weight:bold}\
td.s-not-checked{background:#fff4d6}p.meta{color:#444}\
@page{size:A4;margin:12mm}\
@media print{body{margin:0;font-size:9pt}table{font-size:7pt}h2{break-after:avoid}tr{break-inside:avoid}th,td{padding:.2em .3em}}";

pub(crate) fn title(a: &AuditInput<'_>) -> String {
    let name = a
        .baseline
        .and_then(|b| b.predicate.project.name.clone())
        .unwrap_or_else(|| "release".into());
    format!("Configuration management record: {name} {}", a.tag)
}

/// The self-contained HTML report.
pub fn to_html(a: &AuditInput<'_>) -> String {
    let t = title(a);
    let mut out = format!(
        "<!DOCTYPE html>\n{}\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        crate::documents::marker("record", &crate::documents::product(a), a.tag),
        html_escape(&t),
        html_escape(&t)
    );
    for s in sections(a) {
        let _ = writeln!(out, "<h2>{}</h2>", html_escape(&s.title));
        for p in &s.intro {
            let _ = writeln!(out, "<p class=\"meta\">{}</p>", rich_html(p));
        }
        if let Some(t) = &s.table {
            t.html(&mut out);
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
