//! The report's sections and tables, shared by the HTML and Markdown renderings.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use reprove_baseline::BaselineView;
use reprove_release::verify::{CheckId, CheckStatus};
use serde_json::Value;

use crate::clauses::{clauses, plural};
use crate::escape::{html_escape, md_cell, rich_html, rich_md};
use crate::{AuditInput, FileRef};

/// A rendered table: header and rows of plain text.
pub(crate) struct Table {
    pub(crate) id: &'static str,
    pub(crate) head: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<String>>,
    /// Columns that hold reprove's own sentences (their `code` spans rendered as code); the
    /// others hold values, shown as they are.
    pub(crate) rich: &'static [usize],
}

impl Table {
    pub(crate) fn html(&self, out: &mut String) {
        let _ = write!(out, "<table id=\"{}\"><thead><tr>", self.id);
        for h in &self.head {
            let _ = write!(out, "<th>{}</th>", html_escape(h));
        }
        out.push_str("</tr></thead><tbody>\n");
        for r in &self.rows {
            out.push_str("<tr>");
            for (i, c) in r.iter().enumerate() {
                let class = if self.id == "clauses" && i == 4 {
                    format!(" class=\"s-{}\"", c.replace(' ', "-"))
                } else {
                    String::new()
                };
                let text = if self.rich.contains(&i) {
                    rich_html(c)
                } else {
                    html_escape(c)
                };
                let _ = write!(out, "<td{class}>{text}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }

    pub(crate) fn markdown(&self, out: &mut String) {
        out.push_str("| ");
        out.push_str(&self.head.join(" | "));
        out.push_str(" |\n|");
        for _ in &self.head {
            out.push_str("---|");
        }
        out.push('\n');
        if self.rows.is_empty() {
            out.push_str(&format!(
                "| (none){} |\n",
                " | ".repeat(self.head.len() - 1)
            ));
        }
        for r in &self.rows {
            out.push_str("| ");
            out.push_str(
                &r.iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if self.rich.contains(&i) {
                            rich_md(c, true)
                        } else {
                            md_cell(c)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
            out.push_str(" |\n");
        }
    }
}

pub(crate) fn evidence_cell(files: &[FileRef]) -> String {
    if files.is_empty() {
        return "—".to_owned();
    }
    files
        .iter()
        .map(|f| {
            if f.sha256.len() == 64 {
                format!("{} (sha256:{})", f.name, f.sha256)
            } else {
                f.name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) intro: Vec<String>,
    pub(crate) table: Option<Table>,
}

pub(crate) fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "—".to_owned())
}

pub(crate) fn sections(a: &AuditInput<'_>) -> Vec<Section> {
    let mut out = Vec::new();
    let b = a.baseline;
    let verdict = a.verify.verdict.as_str();
    let mut intro = vec![format!(
        "Verification verdict: {verdict}, from the evidence in `{}`.",
        a.evidence
    )];
    if !a.signatures_checked {
        intro.push("Signatures were NOT checked (no --key or identity was given): every statement below is as the files claim.".to_owned());
    }
    out.push(document_control(a));
    out.push(Section {
        title: "Clause by clause".to_owned(),
        intro,
        table: Some(Table {
            id: "clauses",
            head: vec![
                "Standard",
                "Clause",
                "Requirement",
                "Evidence",
                "Status",
                "What it shows",
                "Gap",
            ],
            rows: clauses(a)
                .into_iter()
                .map(|c| {
                    vec![
                        c.standard.to_owned(),
                        c.clause.to_owned(),
                        c.requirement.to_owned(),
                        evidence_cell(&c.evidence),
                        c.status.as_str().to_owned(),
                        c.shows,
                        c.gap.unwrap_or_else(|| "—".to_owned()),
                    ]
                })
                .collect(),
            rich: &[5, 6],
        }),
    });
    if let Some(b) = b {
        let r = &b.predicate.release;
        out.push(Section {
            title: "Release identity".to_owned(),
            intro: Vec::new(),
            table: Some(Table {
                id: "identity",
                rich: &[],
                head: vec!["Field", "Value"],
                rows: vec![
                    vec!["Product".into(), opt(&b.predicate.project.name)],
                    vec!["Manufacturer".into(), opt(&b.predicate.project.supplier)],
                    vec!["Tag".into(), r.tag.clone()],
                    vec!["Tag object".into(), opt(&r.tag_object)],
                    vec!["Commit".into(), r.commit.clone()],
                    vec!["Tree".into(), r.tree.clone()],
                    vec!["Commit time".into(), r.commit_time.clone()],
                    vec!["Tag time".into(), opt(&r.tag_time)],
                    vec!["Tagger".into(), opt(&r.tagger)],
                    vec![
                        "Tag signature".into(),
                        format!(
                            "{}{}",
                            r.tag_signature
                                .status
                                .clone()
                                .unwrap_or_else(|| "unknown".into()),
                            r.tag_signature
                                .format
                                .as_ref()
                                .map(|f| format!(" ({f})"))
                                .unwrap_or_default()
                        ),
                    ],
                ],
            }),
        });
        out.push(Section {
            title: "SOUP register".to_owned(),
            intro: vec![format!(
                "{} third-party items (IEC 62304 §8.1.2).",
                b.predicate.soup.len()
            )],
            table: Some(soup_table(b)),
        });
        let trace = &b.predicate.changes;
        out.push(Section {
            title: "Change trace".to_owned(),
            intro: vec![format!(
                "{} {}; policy requires authorization: {}.",
                plural(trace.commits.len(), "commit", "commits"),
                trace
                    .base
                    .as_ref()
                    .map(|base| format!("since `{}` ({})", base.tag, base.commit))
                    .unwrap_or_else(|| "since the first commit".into()),
                b.predicate
                    .policy
                    .get("require-authorization")
                    .and_then(Value::as_bool)
                    .map(|x| if x { "yes" } else { "no" })
                    .unwrap_or("no")
            )],
            table: Some(Table {
                id: "changes",
                rich: &[],
                head: vec![
                    "Commit",
                    "Time",
                    "Author",
                    "Subject",
                    "Authorized",
                    "Evidence",
                    "Change requests",
                ],
                rows: trace
                    .commits
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.clone(),
                            c.commit_time.clone(),
                            c.author.clone(),
                            c.subject.clone(),
                            if c.authorized { "yes" } else { "NO" }.to_owned(),
                            if c.evidence.is_empty() {
                                "—".into()
                            } else {
                                c.evidence.join(", ")
                            },
                            if c.change_requests.is_empty() {
                                "—".into()
                            } else {
                                c.change_requests.join(", ")
                            },
                        ]
                    })
                    .collect(),
            }),
        });
        let pin_check = a.verify.check(CheckId::ImagePins);
        out.push(Section {
            title: "Container images".to_owned(),
            intro: vec![match pin_check {
                Some(c) => format!(
                    "Pins against their registries: {} — {}",
                    status_word(c.status),
                    c.detail
                ),
                None => "Pins were not checked against their registries.".into(),
            }],
            table: Some(Table {
                id: "images",
                rich: &[],
                head: vec!["File", "Line", "Reference", "Pinned"],
                rows: b
                    .predicate
                    .images
                    .iter()
                    .map(|i| {
                        vec![
                            i.file.clone(),
                            i.line.to_string(),
                            i.reference.clone(),
                            if i.pinned { "yes" } else { "NO" }.to_owned(),
                        ]
                    })
                    .collect(),
            }),
        });
    }
    let verdict = a
        .rebuild
        .and_then(|r| r.get("verdict"))
        .and_then(Value::as_str)
        .unwrap_or("no rebuild on record");
    let mut rebuild_intro = vec![format!("Rebuild verdict: {verdict}.")];
    if let Some(r) = a.rebuild {
        rebuild_intro.push(format!(
            "Built in {} with {} {}, network {}, SOURCE_DATE_EPOCH {}.",
            r.get("image").and_then(Value::as_str).unwrap_or("?"),
            r.get("engine").and_then(Value::as_str).unwrap_or("?"),
            r.get("engineVersion")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            r.get("network").and_then(Value::as_str).unwrap_or("?"),
            r.get("sourceDateEpoch")
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
        // The fetch phase: what the build was given, checked against which lockfiles, and
        // which hosts the fetch reached (IEC 62304 §8.1.2 with evidence, not a list).
        if let Some(f) = r.get("fetch").filter(|f| f.is_object()) {
            let locks: Vec<&str> = f
                .get("lockfiles")
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let packages = f
                .get("packages")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            rebuild_intro.push(format!(
                "Dependencies fetched before the build (the only step with a network, {}): {} checked against {}; the build was given the store sha256:{}{}.",
                f.get("network").and_then(Value::as_str).unwrap_or("?"),
                crate::clauses::plural(packages, "package", "packages"),
                if locks.is_empty() { "no lockfile".to_owned() } else { locks.join(", ") },
                f.get("storeSha256").and_then(Value::as_str).unwrap_or("?"),
                if f.get("fromCache").and_then(Value::as_bool) == Some(true) {
                    ", taken from the cache and checked again"
                } else {
                    ""
                }
            ));
            if let Some(hosts) = f.get("hostsContacted").and_then(Value::as_array) {
                let shown: Vec<String> = hosts
                    .iter()
                    .filter_map(|h| {
                        Some(format!(
                            "{}:{}{}",
                            h.get("host")?.as_str()?,
                            h.get("port")?,
                            if h.get("allowed").and_then(Value::as_bool) == Some(false) {
                                " (refused)"
                            } else {
                                ""
                            }
                        ))
                    })
                    .collect();
                rebuild_intro.push(format!(
                    "Hosts the fetch asked for through reprove's egress proxy: {}.",
                    if shown.is_empty() {
                        "none".to_owned()
                    } else {
                        shown.join(", ")
                    }
                ));
            }
        }
    }
    let artifacts: BTreeMap<String, String> = b.map(|b| b.artifacts()).unwrap_or_default();
    let compared: BTreeMap<String, String> = a
        .rebuild
        .and_then(|r| r.get("comparison"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let verdict = c.get("verdict")?.as_str()?;
            // Equivalent is not bit for bit: the normalizations it needed are named.
            let shown = match c.get("normalizations").and_then(Value::as_array) {
                Some(n) if verdict == "equivalent" && !n.is_empty() => format!(
                    "equivalent after {} (NOT bit for bit)",
                    n.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => verdict.to_owned(),
            };
            Some((c.get("name")?.as_str()?.to_owned(), shown))
        })
        .collect();
    out.push(Section {
        title: "Rebuild and artifacts".to_owned(),
        intro: rebuild_intro,
        table: Some(Table {
            id: "artifacts",
            rich: &[],
            head: vec!["Artifact", "sha256", "Rebuild"],
            rows: artifacts
                .iter()
                .map(|(n, h)| {
                    vec![
                        n.clone(),
                        h.clone(),
                        compared.get(n).cloned().unwrap_or_else(|| "—".into()),
                    ]
                })
                .collect(),
        }),
    });
    out.push(Section {
        title: "Verification".to_owned(),
        intro: vec![format!(
            "`reprove verify` verdict: {verdict_word}.",
            verdict_word = a.verify.verdict.as_str()
        )],
        table: Some(Table {
            id: "checks",
            rich: &[2],
            head: vec!["Check", "Status", "Detail"],
            rows: a
                .verify
                .checks
                .iter()
                .map(|c| {
                    let mut detail = c.detail.clone();
                    for f in &c.findings {
                        detail.push_str("; ");
                        detail.push_str(&f.to_string());
                    }
                    vec![
                        c.id.as_str().to_owned(),
                        status_word(c.status).to_owned(),
                        detail,
                    ]
                })
                .collect(),
        }),
    });
    let mut not_run: Vec<Vec<String>> = a
        .verify
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Skipped)
        .map(|c| vec![c.id.as_str().to_owned(), c.detail.clone()])
        .collect();
    if !a.signatures_checked {
        not_run.insert(
            0,
            vec![
                "signatures".into(),
                "no --key or certificate identity was given".into(),
            ],
        );
    }
    out.push(Section {
        title: "Checks not run".to_owned(),
        intro: Vec::new(),
        table: Some(Table {
            id: "not-run",
            rich: &[1],
            head: vec!["Check", "Why"],
            rows: not_run,
        }),
    });
    out.push(approval());
    out
}

/// Document control (ISO 13485 §4.2.4): what the document is, its id and revision, where it
/// comes from, whom it trusts, and the one time in it that is not from signed evidence.
pub(crate) fn document_control(a: &AuditInput<'_>) -> Section {
    let product = a
        .baseline
        .and_then(|b| b.predicate.project.name.clone())
        .unwrap_or_else(|| "—".into());
    let commit = a
        .baseline
        .map(|b| b.predicate.release.commit.clone())
        .unwrap_or_else(|| "—".into());
    let trusted = if a.trusted.is_empty() {
        "none given: the signatures were NOT checked".to_owned()
    } else {
        a.trusted.join("; ")
    };
    Section {
        title: "Document control".to_owned(),
        intro: Vec::new(),
        table: Some(Table {
            id: "document",
            head: vec!["Field", "Value"],
            rows: vec![
                vec![
                    "Document".into(),
                    format!("Configuration management record of {product} {}", a.tag),
                ],
                vec!["Document ID".into(), a.document_id.to_owned()],
                vec!["Revision".into(), a.revision.to_owned()],
                vec!["Release".into(), format!("tag {}, commit {commit}", a.tag)],
                vec![
                    "Evidence".into(),
                    match &a.index_sha256 {
                        Some(d) => format!("{} (signed index sha256:{d})", a.evidence),
                        None => a.evidence.to_owned(),
                    },
                ],
                vec!["Trusted signers".into(), trusted],
                vec![
                    "Generated on".into(),
                    format!(
                        "{} by reprove {} — the clock of the machine that made this document, the only time in it not taken from the signed evidence",
                        a.generated_on, a.reprove_version
                    ),
                ],
                vec![
                    "Verification verdict".into(),
                    a.verify.verdict.as_str().to_owned(),
                ],
            ],
            rich: &[],
        }),
    }
}

/// The block a QA system has the record signed in: prepared, reviewed, approved.
pub(crate) fn approval() -> Section {
    Section {
        title: "Approval".to_owned(),
        intro: vec![
            "Signed by hand (or in the QA system) once the record has been reviewed.".to_owned(),
        ],
        table: Some(Table {
            id: "approval",
            head: vec!["Role", "Name", "Function", "Signature", "Date"],
            rows: ["Prepared by", "Reviewed by", "Approved by"]
                .into_iter()
                .map(|r| {
                    vec![
                        r.to_owned(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]
                })
                .collect(),
            rich: &[],
        }),
    }
}

pub(crate) fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Error => "ERROR",
    }
}

pub(crate) fn soup_table(b: &BaselineView) -> Table {
    Table {
        id: "soup",
        rich: &[],
        head: vec![
            "Name",
            "Version",
            "Ecosystem",
            "Supplier",
            "Checksum",
            "Licence",
            "Purpose",
            "Safety class",
            "End of support",
            "Last anomaly review",
        ],
        rows: b
            .predicate
            .soup
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.version.clone(),
                    s.ecosystem.clone(),
                    opt(&s.supplier),
                    s.checksum
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "—".into()),
                    opt(&s.license),
                    opt(&s.purpose),
                    opt(&s.safety_class),
                    opt(&s.end_of_support),
                    opt(&s.last_anomaly_review),
                ]
            })
            .collect(),
    }
}
