//! The audit pack of one release: a self-contained HTML report (no scripts, no external styles
//! or fonts; prints to PDF from a browser), the same as Markdown, and the two documents an
//! audit's evidence signals look for — `SOUP-List.md` and `Configuration-Management.md`.
//!
//! Pure: an [`AuditInput`] assembled from verified evidence goes in, text comes out. Every
//! value is escaped for its target (HTML entities, Markdown table cells).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use reprove_baseline::BaselineView;
use reprove_release::evidence::Index;
use reprove_release::verify::{CheckId, CheckStatus, VerifyReport};
use serde_json::Value;

/// A file of the evidence folder, by name and sha256.
#[derive(Debug, Clone)]
pub struct FileRef {
    pub name: String,
    pub sha256: String,
}

/// Everything the report shows. The statements come from verified payloads when
/// `signatures_checked`; otherwise the report says they were not checked.
#[derive(Debug)]
pub struct AuditInput<'a> {
    pub tag: &'a str,
    pub evidence: &'a str,
    pub baseline: Option<&'a BaselineView>,
    pub provenance: Option<&'a Value>,
    /// The rebuild report (`rebuild-report.json`).
    pub rebuild: Option<&'a Value>,
    pub index: Option<&'a Index>,
    pub verify: &'a VerifyReport,
    pub signatures_checked: bool,
    /// RFC 3339 UTC.
    pub generated_on: &'a str,
    pub reprove_version: &'a str,
}

impl AuditInput<'_> {
    fn file(&self, name: &str) -> Option<FileRef> {
        self.index?
            .files
            .iter()
            .find(|f| f.path == name)
            .map(|f| FileRef {
                name: f.path.clone(),
                sha256: f.sha256.clone(),
            })
    }

    fn check(&self, id: CheckId) -> Option<CheckStatus> {
        self.verify.check(id).map(|c| c.status)
    }
}

/// The status of a clause's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClauseStatus {
    Met,
    Gap,
    NotChecked,
}

impl ClauseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClauseStatus::Met => "met",
            ClauseStatus::Gap => "gap",
            ClauseStatus::NotChecked => "not checked",
        }
    }
}

/// One row of the clause table.
#[derive(Debug, Clone)]
pub struct Clause {
    pub standard: &'static str,
    pub clause: &'static str,
    pub requirement: &'static str,
    pub evidence: Vec<FileRef>,
    /// What the evidence shows, in a sentence.
    pub shows: String,
    pub status: ClauseStatus,
    pub gap: Option<String>,
}

fn count_findings(b: &BaselineView, code: &str) -> usize {
    b.predicate
        .findings
        .iter()
        .filter(|f| f.code == code)
        .count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The clause-by-clause table.
pub fn clauses(a: &AuditInput<'_>) -> Vec<Clause> {
    let baseline = a.file(reprove_release::evidence::BASELINE);
    let provenance = a.file(reprove_release::evidence::PROVENANCE);
    let report = a.file(reprove_release::evidence::REBUILD_REPORT);
    let soup_md = a.file(reprove_release::evidence::SOUP_MARKDOWN);
    let soup_cdx = a.file(reprove_release::evidence::SOUP_CYCLONEDX);
    let index = a.index.map(|_| FileRef {
        name: reprove_release::evidence::INDEX.to_owned(),
        sha256: String::from("(lists every other file)"),
    });
    let verified = |id: CheckId| a.check(id) == Some(CheckStatus::Pass);
    let base_ok =
        a.baseline.is_some() && (verified(CheckId::BaselineSignature) || !a.signatures_checked);
    let unchecked_or = |ok: bool| {
        if !a.signatures_checked {
            ClauseStatus::NotChecked
        } else if ok {
            ClauseStatus::Met
        } else {
            ClauseStatus::Gap
        }
    };
    let v = |f: Option<FileRef>| f.into_iter().collect::<Vec<_>>();
    let mut rows = Vec::new();
    let b = a.baseline;
    let items = b
        .map(|b| b.predicate.configuration_items.len())
        .unwrap_or(0);
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "8.1.1",
        requirement: "Establish means to identify configuration items",
        evidence: v(baseline.clone()),
        shows: format!(
            "{} identified by path, git blob, sha256 and class at commit {}",
            plural(items, "configuration item", "configuration items"),
            b.map(|b| short(&b.predicate.release.commit)).unwrap_or("?")
        ),
        status: unchecked_or(base_ok),
        gap: (!base_ok).then(|| "no verified baseline".to_owned()),
    });
    let soup_n = b.map(|b| b.predicate.soup.len()).unwrap_or(0);
    let no_supplier = b
        .map(|b| count_findings(b, "missing-supplier"))
        .unwrap_or(0);
    let unpinned = b
        .map(|b| count_findings(b, "unpinned-version"))
        .unwrap_or(0);
    let soup_gap = if !base_ok {
        Some("no verified baseline".to_owned())
    } else if no_supplier + unpinned > 0 {
        Some(format!(
            "{} without a supplier, {} without an exact version",
            plural(no_supplier, "item", "items"),
            plural(unpinned, "item", "items")
        ))
    } else {
        None
    };
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "8.1.2",
        requirement: "Identify SOUP: title, manufacturer, unique designator",
        evidence: [baseline.clone(), soup_md, soup_cdx]
            .into_iter()
            .flatten()
            .collect(),
        shows: format!(
            "{} with supplier, version, checksum and purl",
            plural(soup_n, "SOUP item", "SOUP items")
        ),
        status: unchecked_or(soup_gap.is_none()),
        gap: soup_gap,
    });
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "8.1.3",
        requirement: "Identify the system configuration documentation",
        evidence: v(baseline.clone()),
        shows: format!(
            "the baseline records {} and the build recipe; `reprove diff` compares releases",
            plural(
                b.map(|b| b.predicate.images.len()).unwrap_or(0),
                "image reference",
                "image references"
            )
        ),
        status: unchecked_or(base_ok),
        gap: (!base_ok).then(|| "no verified baseline".to_owned()),
    });
    let commits = b.map(|b| b.predicate.changes.commits.len()).unwrap_or(0);
    let unauthorized = b
        .map(|b| {
            b.predicate
                .changes
                .commits
                .iter()
                .filter(|c| !c.authorized)
                .count()
        })
        .unwrap_or(0);
    let complete = b.is_some_and(|b| b.predicate.changes.complete);
    let change_gap = if !base_ok {
        Some("no verified baseline".to_owned())
    } else if unauthorized > 0 {
        Some(format!(
            "{} without authorization evidence",
            plural(unauthorized, "change", "changes")
        ))
    } else if !complete {
        Some("the trace was cut short by a shallow clone".to_owned())
    } else {
        None
    };
    let since = b
        .and_then(|b| b.predicate.changes.base.as_ref())
        .map(|base| format!("since `{}`", base.tag))
        .unwrap_or_else(|| "since the first commit".to_owned());
    for (clause, requirement) in [
        ("8.2.1", "Approve change requests before implementation"),
        (
            "8.2.4",
            "Trace each change to its change request and approval",
        ),
    ] {
        rows.push(Clause {
            standard: "IEC 62304",
            clause,
            requirement,
            evidence: v(baseline.clone()),
            shows: format!(
                "{} {since}, each with its authorization evidence",
                plural(commits, "commit", "commits")
            ),
            status: unchecked_or(change_gap.is_none()),
            gap: change_gap.clone(),
        });
    }
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "8.2.2",
        requirement: "Implement changes as approved",
        evidence: v(baseline.clone()),
        shows: "every commit between the releases is in the trace; the tag names the signed commit"
            .to_owned(),
        status: match a.check(CheckId::TagCommit) {
            Some(CheckStatus::Pass) => unchecked_or(base_ok && complete),
            Some(CheckStatus::Fail) => ClauseStatus::Gap,
            _ => ClauseStatus::NotChecked,
        },
        gap: if !complete {
            Some("incomplete history".to_owned())
        } else {
            match a.check(CheckId::TagCommit) {
                Some(CheckStatus::Pass) => None,
                Some(CheckStatus::Fail) => {
                    Some("the tag no longer names the signed commit".to_owned())
                }
                _ => Some("the tag was not checked (no repository)".to_owned()),
            }
        },
    });
    let reproducible = a
        .rebuild
        .and_then(|r| r.get("verdict"))
        .and_then(Value::as_str)
        == Some("reproducible");
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "8.2.3",
        requirement: "Verify changes",
        evidence: [report.clone(), provenance.clone()]
            .into_iter()
            .flatten()
            .collect(),
        shows: "an independent hermetic rebuild reproduced the released artifacts bit for bit"
            .to_owned(),
        status: if reproducible && verified(CheckId::ProvenanceSignature) {
            ClauseStatus::Met
        } else if !a.signatures_checked && reproducible {
            ClauseStatus::NotChecked
        } else {
            ClauseStatus::Gap
        },
        gap: if !reproducible {
            Some("the rebuild did not reproduce the release".to_owned())
        } else if !verified(CheckId::ProvenanceSignature) {
            Some("no verified provenance (the release failed its checks, or a signature does not verify)".to_owned())
        } else {
            None
        },
    });
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "8.3",
        requirement: "Configuration status accounting",
        evidence: v(index.clone()),
        shows: format!(
            "the evidence folder of `{}` with every file's sha256; `reprove status` lists every release",
            a.tag
        ),
        status: unchecked_or(verified(CheckId::EvidenceIndex)),
        gap: (!verified(CheckId::EvidenceIndex)).then(|| "the evidence folder does not match its index".to_owned()),
    });
    let prov_ok = provenance.is_some() && verified(CheckId::ProvenanceSignature);
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "5.8.4",
        requirement: "Document the released version",
        evidence: v(baseline.clone()),
        shows: format!(
            "tag `{}`, commit {}, tree {}, {}",
            a.tag,
            b.map(|b| short(&b.predicate.release.commit)).unwrap_or("?"),
            b.map(|b| short(&b.predicate.release.tree)).unwrap_or("?"),
            plural(
                b.map(|b| b.artifacts().len()).unwrap_or(0),
                "artifact by sha256",
                "artifacts by sha256"
            )
        ),
        status: unchecked_or(base_ok),
        gap: (!base_ok).then(|| "no verified baseline".to_owned()),
    });
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "5.8.5",
        requirement: "Document how the released software was created",
        evidence: v(provenance.clone()),
        shows: "SLSA provenance: recipe, build image by digest, environment, SOURCE_DATE_EPOCH, lockfiles"
            .to_owned(),
        status: unchecked_or(prov_ok || (!a.signatures_checked && provenance.is_some())),
        gap: provenance.is_none().then(|| "no provenance (the release failed its checks)".to_owned()),
    });
    let delivered = verified(CheckId::ArtifactDigests);
    rows.push(Clause {
        standard: "IEC 62304",
        clause: "5.8.8",
        requirement: "Ensure the released software can be reliably delivered",
        evidence: v(provenance.clone()),
        shows:
            "each released file's sha256 is signed; `reprove verify` checks a download against it"
                .to_owned(),
        status: if a.check(CheckId::ArtifactDigests) == Some(CheckStatus::Skipped) {
            ClauseStatus::NotChecked
        } else {
            // Without keys the digests were compared with an unverified provenance.
            unchecked_or(delivered)
        },
        gap: match a.check(CheckId::ArtifactDigests) {
            Some(CheckStatus::Skipped) => {
                Some("artifacts not given to this report (--artifacts)".to_owned())
            }
            Some(CheckStatus::Pass) => None,
            _ => Some("the artifacts do not match the provenance".to_owned()),
        },
    });
    rows.push(Clause {
        standard: "ISO 13485",
        clause: "4.2.4",
        requirement: "Control of documents",
        evidence: [baseline.clone(), provenance.clone()].into_iter().flatten().collect(),
        shows: "the baseline and provenance are signed (DSSE, Sigstore bundle) and identified by digest"
            .to_owned(),
        status: unchecked_or(
            verified(CheckId::BaselineSignature)
                && (provenance.is_none() || verified(CheckId::ProvenanceSignature)),
        ),
        gap: (a.signatures_checked
            && !(verified(CheckId::BaselineSignature)
                && (provenance.is_none() || verified(CheckId::ProvenanceSignature))))
        .then(|| "a signature does not verify".to_owned()),
    });
    rows.push(Clause {
        standard: "ISO 13485",
        clause: "4.2.5",
        requirement: "Control of records",
        evidence: v(index),
        shows: "the evidence folder is written once, all or nothing, and never replaced without --force; its index holds every file's sha256"
            .to_owned(),
        status: unchecked_or(verified(CheckId::EvidenceIndex)),
        gap: (!verified(CheckId::EvidenceIndex)).then(|| "the evidence folder does not match its index".to_owned()),
    });
    rows
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

fn html_escape(s: &str) -> String {
    reprove_escape::html(s)
}

/// Markdown text from untrusted values ([`reprove_escape::markdown`]).
pub fn md_text(s: &str) -> String {
    reprove_escape::markdown(s)
}

fn md_cell(s: &str) -> String {
    md_text(s)
}

/// A value inside a shell code block ([`reprove_escape::markdown_code`]).
pub fn fence_safe(s: &str) -> String {
    reprove_escape::markdown_code(s)
}

/// A rendered table: header and rows of plain text.
struct Table {
    id: &'static str,
    head: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn html(&self, out: &mut String) {
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
                let _ = write!(out, "<td{class}>{}</td>", html_escape(c));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }

    fn markdown(&self, out: &mut String) {
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
            out.push_str(&r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
            out.push_str(" |\n");
        }
    }
}

fn evidence_cell(files: &[FileRef]) -> String {
    if files.is_empty() {
        return "—".to_owned();
    }
    files
        .iter()
        .map(
            |f| match f.sha256.get(..16).filter(|_| f.sha256.len() == 64) {
                Some(head) => format!("{} (sha256:{head}…)", f.name),
                None => f.name.clone(),
            },
        )
        .collect::<Vec<_>>()
        .join("; ")
}

struct Section {
    title: String,
    intro: Vec<String>,
    table: Option<Table>,
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "—".to_owned())
}

fn sections(a: &AuditInput<'_>) -> Vec<Section> {
    let mut out = Vec::new();
    let b = a.baseline;
    let verdict = a.verify.verdict.as_str();
    let mut intro = vec![format!(
        "Verification verdict: {verdict}. Generated {} by reprove {} from `{}`.",
        a.generated_on, a.reprove_version, a.evidence
    )];
    if !a.signatures_checked {
        intro.push("Signatures were NOT checked (no --key or identity was given): every statement below is as the files claim.".to_owned());
    }
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
        }),
    });
    if let Some(b) = b {
        let r = &b.predicate.release;
        out.push(Section {
            title: "Release identity".to_owned(),
            intro: Vec::new(),
            table: Some(Table {
                id: "identity",
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
                    .map(|base| format!("since `{}` ({})", base.tag, short(&base.commit)))
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
                            short(&c.id).to_owned(),
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
    }
    let artifacts: BTreeMap<String, String> = b.map(|b| b.artifacts()).unwrap_or_default();
    let compared: BTreeMap<String, String> = a
        .rebuild
        .and_then(|r| r.get("comparison"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c.get("name")?.as_str()?.to_owned(),
                c.get("verdict")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    out.push(Section {
        title: "Rebuild and artifacts".to_owned(),
        intro: rebuild_intro,
        table: Some(Table {
            id: "artifacts",
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
            head: vec!["Check", "Status", "Detail"],
            rows: a
                .verify
                .checks
                .iter()
                .map(|c| {
                    let mut detail = c.detail.clone();
                    for f in &c.findings {
                        detail.push_str("; ");
                        detail.push_str(f);
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
            head: vec!["Check", "Why"],
            rows: not_run,
        }),
    });
    out
}

fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Error => "ERROR",
    }
}

fn soup_table(b: &BaselineView) -> Table {
    Table {
        id: "soup",
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

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#111;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;font-size:.85em;margin:.5em 0}\
th,td{border:1px solid #bbb;padding:.3em .5em;text-align:left;vertical-align:top;word-break:break-word}\
th{background:#eee}#clauses td:nth-child(-n+2),#clauses td:nth-child(5),#clauses th{white-space:nowrap;word-break:normal}td.s-met{background:#e3f4e3}td.s-gap{background:#fbe3e3;font-weight:bold}\
td.s-not-checked{background:#fff4d6}p.meta{color:#444}\
@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}";

fn title(a: &AuditInput<'_>) -> String {
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
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        html_escape(&t),
        html_escape(&t)
    );
    for s in sections(a) {
        let _ = writeln!(out, "<h2>{}</h2>", html_escape(&s.title));
        for p in &s.intro {
            let _ = writeln!(out, "<p class=\"meta\">{}</p>", html_escape(p));
        }
        if let Some(t) = &s.table {
            t.html(&mut out);
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The same report as Markdown.
pub fn to_markdown(a: &AuditInput<'_>) -> String {
    let mut out = format!("# {}\n", md_text(&title(a)));
    for s in sections(a) {
        let _ = write!(out, "\n## {}\n\n", md_text(&s.title));
        for p in &s.intro {
            let _ = writeln!(out, "{}\n", md_text(p));
        }
        if let Some(t) = &s.table {
            t.markdown(&mut out);
        }
    }
    out
}

/// `SOUP-List.md`: the SOUP register as a document.
pub fn soup_list(a: &AuditInput<'_>) -> String {
    let mut out = format!(
        "# SOUP list: {} {}\n\nSoftware of unknown provenance (IEC 62304 §3.29, §8.1.2) in release `{}` (commit {}), generated by reprove {} on {} from the signed baseline.\n\n",
        md_text(
            &a.baseline
                .and_then(|b| b.predicate.project.name.clone())
                .unwrap_or_else(|| "release".into())
        ),
        md_text(a.tag),
        fence_safe(a.tag),
        md_text(
            a.baseline
                .map(|b| b.predicate.release.commit.as_str())
                .unwrap_or("?")
        ),
        a.reprove_version,
        a.generated_on
    );
    match a.baseline {
        Some(b) => {
            soup_table(b).markdown(&mut out);
            let gaps: Vec<&reprove_baseline::view::FindingView> = b
                .predicate
                .findings
                .iter()
                .filter(|f| {
                    matches!(
                        f.code.as_str(),
                        "missing-supplier"
                            | "unpinned-version"
                            | "missing-checksum"
                            | "unsupported-lockfile"
                            | "unparsable-lockfile"
                    )
                })
                .collect();
            if !gaps.is_empty() {
                out.push_str("\n## Open points\n\n");
                for f in gaps {
                    let _ = writeln!(out, "- `{}` {}", fence_safe(&f.code), md_text(&f.message));
                }
            }
            out.push_str("\nHuman-maintained fields (purpose, safety class, end of support, anomaly review) come from the `[soup] overrides` file named in `reprove.toml`.\n");
        }
        None => out.push_str("No verified baseline: the SOUP list cannot be given.\n"),
    }
    out
}

/// `Configuration-Management.md`: how configuration items are identified, how changes are
/// approved and traced, and how any release is reproduced — with the exact commands.
pub fn configuration_management(a: &AuditInput<'_>) -> String {
    let b = a.baseline;
    let name = md_text(
        &b.and_then(|b| b.predicate.project.name.clone())
            .unwrap_or_else(|| "the product".into()),
    );
    let policy = b.map(|b| &b.predicate.policy);
    let trailers = policy
        .and_then(|p| p.get("trailers"))
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(|t| format!("`{}:`", fence_safe(t)))
                .collect::<Vec<_>>()
                .join(" or ")
        })
        .unwrap_or_else(|| "`Reviewed-by:` or `Approved-by:`".into());
    let flag = |k: &str| {
        policy
            .and_then(|p| p.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let image = b
        .and_then(|b| b.predicate.build.as_ref())
        .and_then(|m| m.get("image"))
        .and_then(Value::as_str)
        .map(fence_safe)
        .unwrap_or_else(|| "(the [build] image of reprove.toml)".into());
    let command = b
        .and_then(|b| b.predicate.build.as_ref())
        .and_then(|m| m.get("command"))
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|c| fence_safe(&c))
        .unwrap_or_else(|| "(the [build] command)".into());
    // The tag appears in code spans and in shell commands: git allows backticks, `;`, `$` and
    // `|` in tag names, so the code spans get it fence-safe and the commands shell-quoted.
    let t = fence_safe(a.tag);
    let ts = reprove_escape::shell(a.tag);
    format!(
        r#"# Configuration management: {name}

Generated by reprove {ver} on {when} for release `{t}`. This plan describes the practice the
evidence of every release follows (IEC 62304 §8, ISO 13485 §4.2.4–4.2.5).

## 1. Configuration identification (IEC 62304 §8.1)

- A release is a git tag. Its configuration is the committed tree at that tag — never a
  working tree: every tracked file is a configuration item, identified by path, git blob id,
  sha256 and class (source, build, test, docs, config, soup-manifest, other; globs in
  `reprove.toml` `[classes]`).
- Third-party software (SOUP) is read from the lockfiles at the tag, with name, exact
  version, supplier, checksum and package URL; human fields (purpose, safety class, end of
  support, anomaly review) live in the overrides file named by `reprove.toml`. See
  `SOUP-List.md`.
- Container images are referenced by digest; `reprove images check` re-checks every pin.
- The configuration baseline of a release is a signed in-toto statement
  (`baseline.sigstore.json`), canonical JSON: the same tag always yields the same bytes.

```sh
reprove baseline {ts}                 # the baseline, for people
reprove baseline {ts} --format json   # the manifest, canonical JSON
reprove soup {ts} --format cyclonedx  # the SOUP register as an SBOM
```

## 2. Change control (IEC 62304 §8.2)

- Every commit between two releases is traced with its author, time, signature and
  authorization. A commit is authorized by a {trailers} trailer{signed}{merges}.
- Authorization is required for a release: {required}.
- Changes between two releases, with the commits that made them:

```sh
reprove diff <previous-tag> {ts}
```

## 3. Configuration status accounting (IEC 62304 §8.3)

- Each release's evidence lives in `evidence/<tag>/`, written once, all or nothing, with
  `index.json` listing every file's sha256; it is never replaced without `--force`.
- The state of every release (untracked, baselined, rebuilt, reproducible, attested,
  verified), re-verified from the evidence:

```sh
reprove status --key release.pub
```

## 4. Release and reproduction (IEC 62304 §5.8)

- The release is built by `{command}` in `{image}`, with no network, a fixed build path,
  `SOURCE_DATE_EPOCH` = the commit time, `TZ=UTC`, `LANG=C.UTF-8` and `umask 022`.
- The release engineer runs, at tag time:

```sh
reprove release {ts} --artifacts dist/ --key release.key
```

- Anyone reproduces and verifies a release, offline except for the rebuild's image:

```sh
git clone <repository> && cd <repository> && git checkout {ts}
reprove verify {ts} --evidence evidence/{ts} --artifacts dist/ --key release.pub --rebuild
reprove report {ts} --key release.pub --artifacts dist/
```

## 5. Records (ISO 13485 §4.2.5)

The audit record of a release is `reprove report`'s output together with the evidence folder.
"#,
        ver = a.reprove_version,
        when = a.generated_on,
        signed = if flag("accept-signed-commits") {
            ", or by a good signature"
        } else {
            ""
        },
        merges = if flag("authorized-merges-cover-their-commits") {
            "; an authorized merge authorizes the commits it brings in"
        } else {
            ""
        },
        required = if flag("require-authorization") {
            "yes — a release with an unauthorized change fails and carries no provenance"
        } else {
            "no (recorded, not enforced; set `[changes] require-authorization = true`)"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprove_release::verify::{CheckResult, VerifyVerdict};

    fn baseline(subject: &str, supplier: &str) -> BaselineView {
        BaselineView::from_value(&serde_json::json!({
            "predicateType": reprove_baseline::BASELINE_PREDICATE_TYPE,
            "subject": [{"name": "app", "digest": {"sha256": "ab"}}],
            "predicate": {
                "project": {"name": "x<y", "supplier": supplier},
                "release": {"tag": "v1", "commit": "c0ffee", "tree": "7ree"},
                "policy": {"require-authorization": true, "result": "pass", "trailers": ["Reviewed-by"]},
                "configurationItems": [],
                "soup": [{"name": "left|pad", "version": "1.0.0", "ecosystem": "npm", "supplier": supplier}],
                "images": [],
                "changes": {"complete": true, "commits": [{"id": "c0ffee", "subject": subject, "authorized": true}]},
                "findings": []
            }
        }))
        .unwrap()
    }

    fn verify_report(status: CheckStatus) -> VerifyReport {
        VerifyReport {
            tag: "v1".into(),
            evidence: "e".into(),
            verdict: VerifyVerdict::Verified,
            checks: vec![
                CheckResult::new(CheckId::BaselineSignature, status, "ok"),
                CheckResult::new(CheckId::ImagePins, CheckStatus::Skipped, "offline"),
            ],
            subjects: Vec::new(),
            artifacts_checked: vec!["app".into()],
            input_attestations: Vec::new(),
            source_uri: None,
            project: None,
            baseline: None,
            provenance: None,
            outcome: None,
            index_json: None,
            rebuild_report: None,
            provenance_present: true,
            signatures_checked: true,
        }
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let evil = "<script>alert(1)</script><img src=x onerror=alert(2)> | \"q\" 'a' & done ![t](http://evil.example/p.png) `x`";
        let b = baseline(evil, evil);
        let v = verify_report(CheckStatus::Pass);
        let a = AuditInput {
            tag: "v1",
            evidence: "<evidence>",
            baseline: Some(&b),
            provenance: None,
            rebuild: None,
            index: None,
            verify: &v,
            signatures_checked: true,
            generated_on: "2026-01-01T00:00:00Z",
            reprove_version: "0",
        };
        let html = to_html(&a);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("x&lt;y"));
        // In Markdown a `|` cannot break out of its cell, nor `<` start a tag.
        let md = to_markdown(&a);
        assert!(md.contains("left\\|pad"), "{md}");
        assert!(!md.contains("<script"), "{md}");
        // Escaped brackets cannot open a link or an image.
        assert!(
            !md.contains("![t]"),
            "no link or image can be injected: {md}"
        );
        assert!(md.contains("!\\[t\\](http"), "{md}");
        let cm = configuration_management(&a);
        assert!(!cm.contains("![t]"), "{cm}");
        assert!(!cm.contains("<script"), "{cm}");
        let soup = soup_list(&a);
        assert!(soup.contains("left\\|pad"), "{soup}");
    }

    #[test]
    fn unchecked_signatures_are_never_called_met() {
        let b = baseline("fine", "Acme");
        let v = verify_report(CheckStatus::Skipped);
        let a = AuditInput {
            tag: "v1",
            evidence: "e",
            baseline: Some(&b),
            provenance: None,
            rebuild: None,
            index: None,
            verify: &v,
            signatures_checked: false,
            generated_on: "t",
            reprove_version: "0",
        };
        let rows = clauses(&a);
        assert_eq!(rows.len(), 13);
        let met: Vec<&str> = rows
            .iter()
            .filter(|c| c.status == ClauseStatus::Met)
            .map(|c| c.clause)
            .collect();
        assert!(met.is_empty(), "met without any signature checked: {met:?}");
        let c811 = rows.iter().find(|c| c.clause == "8.1.1").unwrap();
        assert_eq!(c811.status, ClauseStatus::NotChecked);
        assert!(to_html(&a).contains("Signatures were NOT checked"));
        assert!(
            to_markdown(&a).contains("| signatures | no --key or certificate identity was given |")
        );
    }
}
