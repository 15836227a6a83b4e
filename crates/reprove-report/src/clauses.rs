//! The clause-by-clause table: IEC 62304 §8.1–8.3, 5.8.4, 5.8.5, 5.8.8, ISO 13485 §4.2.4, 4.2.5,
//! each with the evidence that meets it or the true reason it does not.

use reprove_baseline::BaselineView;
use reprove_release::verify::{CheckId, CheckStatus};
use serde_json::Value;

use crate::{AuditInput, FileRef};

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

pub(crate) fn count_findings(b: &BaselineView, code: &str) -> usize {
    b.predicate
        .findings
        .iter()
        .filter(|f| f.code == code)
        .count()
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The clause-by-clause table.
pub fn clauses(a: &AuditInput<'_>) -> Vec<Clause> {
    let baseline = a.file(reprove_release::evidence::BASELINE);
    let provenance = a.file(reprove_release::evidence::PROVENANCE);
    let report = a.file(reprove_release::evidence::REBUILD_REPORT);
    let soup_md = a.file(reprove_release::evidence::SOUP_MARKDOWN);
    let soup_cdx = a.file(reprove_release::evidence::SOUP_CYCLONEDX);
    let soup_spdx = a.file(reprove_release::evidence::SOUP_SPDX);
    let index = a.index.map(|_| FileRef {
        name: reprove_release::evidence::INDEX.to_owned(),
        sha256: String::from("(lists every other file)"),
    });
    let verified = |id: CheckId| a.check(id) == Some(CheckStatus::Pass);
    // Why the evidence holds no provenance: the failures the signed index lists when the
    // release failed its checks — the true reason, never a consequence of it.
    let no_provenance = || match a.index {
        Some(i) if i.outcome == reprove_release::evidence::ReleaseOutcome::Failed => {
            if i.failures.is_empty() {
                "no provenance: the release failed its checks".to_owned()
            } else {
                format!(
                    "no provenance: the release failed its checks ({})",
                    i.failures.join("; ")
                )
            }
        }
        _ => "no provenance in the evidence".to_owned(),
    };
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
    // What `--check-images` and `--rebuild` found now, when they ran.
    let pins_broken = a.check(CheckId::ImagePins) == Some(CheckStatus::Fail);
    let fresh_rebuild = a.check(CheckId::Rebuild);
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
            b.map(|b| b.predicate.release.commit.as_str())
                .unwrap_or("?")
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
        evidence: [baseline.clone(), soup_md, soup_cdx, soup_spdx]
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
        // `--check-images`: the pins were asked of their registries now.
        status: if pins_broken {
            ClauseStatus::Gap
        } else {
            unchecked_or(base_ok)
        },
        gap: if !base_ok {
            Some("no verified baseline".to_owned())
        } else if pins_broken {
            Some("an image pin no longer holds in its registry (image-pins)".to_owned())
        } else {
            None
        },
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
            _ if a.signatures_checked && !base_ok => ClauseStatus::Gap,
            _ => ClauseStatus::NotChecked,
        },
        gap: if a.signatures_checked && !base_ok {
            Some("no verified baseline".to_owned())
        } else if !complete {
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
        shows: if fresh_rebuild == Some(CheckStatus::Pass) {
            "an independent hermetic rebuild reproduced the released artifacts bit for bit, and did again for this record (--rebuild)".to_owned()
        } else {
            "an independent hermetic rebuild reproduced the released artifacts bit for bit"
                .to_owned()
        },
        // `--rebuild`: a fresh rebuild now, which must agree with the one on record.
        status: if fresh_rebuild == Some(CheckStatus::Fail) {
            ClauseStatus::Gap
        } else if reproducible && verified(CheckId::ProvenanceSignature) {
            ClauseStatus::Met
        } else if !a.signatures_checked && reproducible {
            ClauseStatus::NotChecked
        } else {
            ClauseStatus::Gap
        },
        gap: if fresh_rebuild == Some(CheckStatus::Fail) {
            Some("the fresh rebuild (--rebuild) did not reproduce the attested artifacts".to_owned())
        } else if provenance.is_none() {
            Some(no_provenance())
        } else if !reproducible {
            Some(
                match a
                    .rebuild
                    .and_then(|r| r.get("verdict"))
                    .and_then(Value::as_str)
                {
                    Some(v) => format!("the rebuild's verdict is {v}, not reproducible"),
                    None => "no rebuild on record".to_owned(),
                },
            )
        } else if a.signatures_checked && !verified(CheckId::ProvenanceSignature) {
            Some("the provenance's signature does not verify".to_owned())
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
            b.map(|b| b.predicate.release.commit.as_str())
                .unwrap_or("?"),
            b.map(|b| b.predicate.release.tree.as_str()).unwrap_or("?"),
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
        gap: if provenance.is_none() {
            Some(no_provenance())
        } else if a.signatures_checked && !prov_ok {
            Some("the provenance's signature does not verify".to_owned())
        } else {
            None
        },
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
            _ if provenance.is_none() => Some(format!(
                "{}, so there is nothing to check the artifacts against",
                no_provenance()
            )),
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
