//! People-facing renderings of a baseline. Data in, text out: printing is the CLI's job.

use std::fmt::Write as _;

use reprove_escape::{markdown as md, terminal as t};

use crate::model::{BaselinePredicate, Finding};

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `file:line:col: ` with the file name escaped by `esc` for the channel.
fn location(f: &Finding, esc: fn(&str) -> String) -> String {
    match (&f.file, f.line, f.column) {
        (Some(file), Some(l), Some(c)) => format!("{}:{l}:{c}: ", esc(file)),
        (Some(file), Some(l), None) => format!("{}:{l}: ", esc(file)),
        (Some(file), None, _) => format!("{}: ", esc(file)),
        _ => String::new(),
    }
}

fn by_class(p: &BaselinePredicate) -> String {
    let mut classes: Vec<(&&str, &usize)> = p.summary.by_class.iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    classes
        .iter()
        .map(|(c, n)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn changes_line(p: &BaselinePredicate, esc: fn(&str) -> String) -> String {
    let c = &p.changes;
    let authorized = c.commits.iter().filter(|e| e.authorized).count();
    let since = match &c.base {
        Some(b) => format!("since `{}`", esc(&b.tag)),
        None => "(all history: no previous release tag)".to_owned(),
    };
    let incomplete = if c.complete {
        ""
    } else {
        ", INCOMPLETE (shallow clone)"
    };
    let n = c.commits.len();
    format!(
        "{n} commit{} {since}: {authorized} authorized, {} not{incomplete}",
        if n == 1 { "" } else { "s" },
        n - authorized
    )
}

/// A compact summary for a terminal.
pub fn to_text(p: &BaselinePredicate) -> String {
    let mut out = String::new();
    let r = &p.release;
    let who = match (&p.project.name, &p.project.supplier) {
        (Some(n), Some(s)) => format!(" — {}, supplied by {}", t(n), t(s)),
        (Some(n), None) => format!(" — {}", t(n)),
        _ => String::new(),
    };
    let _ = writeln!(out, "baseline of `{}`{who}", t(&r.tag));
    let _ = writeln!(out, "  commit    {}  {}", r.commit, r.commit_time);
    let _ = writeln!(out, "  tree      {}", r.tree);
    let kind = match &r.tag_object {
        Some(o) => format!("annotated {o}"),
        None => "lightweight".to_owned(),
    };
    let _ = writeln!(
        out,
        "  tag       {kind}, signature {}",
        r.tag_signature.status.as_str()
    );
    let _ = writeln!(
        out,
        "  items     {} files, {}: {}",
        p.summary.items,
        human_bytes(p.summary.bytes),
        by_class(p)
    );
    let mut eco: std::collections::BTreeMap<&str, usize> = Default::default();
    for s in &p.soup {
        *eco.entry(s.ecosystem.as_str()).or_default() += 1;
    }
    let eco_text = eco
        .iter()
        .map(|(e, n)| format!("{n} {e}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "  SOUP      {} components{}",
        p.soup.len(),
        if eco_text.is_empty() {
            String::new()
        } else {
            format!(" ({eco_text})")
        }
    );
    let unpinned = p.images.iter().filter(|i| !i.pinned).count();
    let _ = writeln!(
        out,
        "  images    {} references, {unpinned} unpinned",
        p.images.len()
    );
    let _ = writeln!(out, "  changes   {}", changes_line(p, t));
    if p.findings.is_empty() {
        let _ = writeln!(out, "\nno findings");
    } else {
        let _ = writeln!(out, "\nfindings ({}):", p.findings.len());
        let width = p
            .findings
            .iter()
            .map(|f| f.code.as_str().len())
            .max()
            .unwrap_or(0);
        for f in &p.findings {
            let mark = if f.policy { "  [policy]" } else { "" };
            let _ = writeln!(
                out,
                "  {:width$}  {}{}{mark}",
                f.code.as_str(),
                location(f, t),
                t(&f.message)
            );
        }
    }
    let _ = writeln!(
        out,
        "\npolicy: {} (require-authorization = {})",
        p.policy.result, p.policy.changes.require_authorization
    );
    out
}

/// A Markdown document: identity, items by class, SOUP, images, change trace, findings.
pub fn to_markdown(p: &BaselinePredicate) -> String {
    let r = &p.release;
    let mut out = String::new();
    let _ = writeln!(out, "# Configuration baseline: {}\n", md(&r.tag));
    let _ = writeln!(out, "| | |\n|---|---|");
    if let Some(n) = &p.project.name {
        let _ = writeln!(out, "| Project | {} |", md(n));
    }
    if let Some(s) = &p.project.supplier {
        let _ = writeln!(out, "| Supplier | {} |", md(s));
    }
    let _ = writeln!(out, "| Tag | {} |", md(&r.tag));
    if let Some(o) = &r.tag_object {
        let _ = writeln!(out, "| Tag object | `{o}` |");
    }
    let _ = writeln!(
        out,
        "| Tag signature | {} |",
        r.tag_signature.status.as_str()
    );
    let _ = writeln!(out, "| Commit | `{}` ({}) |", r.commit, r.commit_time);
    let _ = writeln!(out, "| Tree | `{}` |", r.tree);
    let _ = writeln!(out, "| Policy | {} |\n", p.policy.result);

    let _ = writeln!(
        out,
        "## Configuration items ({}, {})\n",
        p.summary.items,
        human_bytes(p.summary.bytes)
    );
    let _ = writeln!(
        out,
        "| Path | Class | Mode | Size | sha256 |\n|---|---|---|---|---|"
    );
    for i in &p.configuration_items {
        let digest = i
            .sha256
            .as_deref()
            .map(|d| format!("`{d}`"))
            .or_else(|| {
                i.submodule_commit
                    .as_deref()
                    .map(|c| format!("submodule `{c}`"))
            })
            .unwrap_or_default();
        let note = match (&i.target, &i.lfs) {
            (Some(target), _) => format!(" → {}", md(target)),
            (_, Some(_)) => " (LFS pointer)".to_owned(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {}{note} | {} | {} | {} | {digest} |",
            md(&i.path),
            i.class.as_str(),
            i.mode,
            i.size.map(|s| s.to_string()).unwrap_or_default(),
        );
    }
    let _ = writeln!(out, "\n## SOUP ({})\n", p.soup.len());
    if p.soup.is_empty() {
        let _ = writeln!(out, "No third-party components found.");
    } else {
        out.push_str(&reprove_soup::to_markdown(&p.soup));
    }
    let _ = writeln!(out, "\n## Container images ({})\n", p.images.len());
    if !p.images.is_empty() {
        let _ = writeln!(out, "| Where | Reference | Pinned |\n|---|---|---|");
        for i in &p.images {
            let _ = writeln!(
                out,
                "| {}:{}:{} | {} | {} |",
                md(&i.file),
                i.line,
                i.column,
                md(&i.reference),
                if i.pinned { "yes" } else { "**no**" }
            );
        }
    }
    let _ = writeln!(out, "\n## Changes\n\n{}\n", changes_line(p, md));
    if !p.changes.commits.is_empty() {
        let _ = writeln!(
            out,
            "| Commit | Date | Author | Subject | Authorization |\n|---|---|---|---|---|"
        );
        for c in &p.changes.commits {
            let auth = if c.authorized {
                c.evidence.join(", ")
            } else {
                "**none**".to_owned()
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                md(c.id.get(..12).unwrap_or(&c.id)),
                c.commit_time,
                md(&c.author),
                md(&c.subject),
                md(&auth)
            );
        }
    }
    let _ = writeln!(out, "\n## Findings ({})\n", p.findings.len());
    for f in &p.findings {
        let _ = writeln!(
            out,
            "- `{}` {}{}{}",
            f.code.as_str(),
            location(f, md),
            md(&f.message),
            if f.policy { " **(fails policy)**" } else { "" }
        );
    }
    out
}
