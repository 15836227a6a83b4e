//! `reprove status`: configuration status accounting (IEC 62304 §8.3) — every release tag
//! with the state its evidence proves, re-verified rather than trusted.
//!
//! The state is the furthest step the evidence supports: `untracked` (no evidence folder),
//! `baselined`, `rebuilt`, `reproducible` or `not-reproducible`, `attested`, `verified` (every
//! offline check of `reprove verify` passes with the given keys). Evidence that fails a check
//! it should pass (bad signature, files that do not match the index, a moved tag) is
//! `invalid`. Without keys signatures are not checked, the state stops at `attested`, and the
//! output says so.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use reprove_attest::verify::Signer;
use reprove_baseline::BaselineView;
use reprove_source::{Repository, Tag, VersionKey};
use serde::Serialize;
use serde_json::Value;

use crate::ReleaseError;
use crate::evidence;
use crate::verify::{self, CheckId, CheckStatus, FindingCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseState {
    Untracked,
    Invalid,
    /// The release ran and failed a check (rebuild differs, build failed, change policy): its
    /// signed index says `failed`, and it has no provenance.
    Failed,
    Baselined,
    Rebuilt,
    NotReproducible,
    Reproducible,
    Attested,
    Verified,
}

impl ReleaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Untracked => "untracked",
            ReleaseState::Invalid => "invalid",
            ReleaseState::Failed => "failed",
            ReleaseState::Baselined => "baselined",
            ReleaseState::Rebuilt => "rebuilt",
            ReleaseState::NotReproducible => "not-reproducible",
            ReleaseState::Reproducible => "reproducible",
            ReleaseState::Attested => "attested",
            ReleaseState::Verified => "verified",
        }
    }
}

/// Whether the signatures were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signatures {
    Verified,
    Failed,
    NotChecked,
    /// No evidence to check.
    None,
}

/// One release tag's status.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    pub tag: String,
    /// What the tag points at in the repository.
    pub commit: String,
    pub state: ReleaseState,
    pub signatures: Signatures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Open findings by code (`unauthorized-change`, `unpinned-image`, `missing-supplier`,
    /// `image-drift`, …) with their counts.
    pub findings: BTreeMap<String, usize>,
    /// Checks that failed or could not run, with what they found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// The normalizations the release's artifacts needed to match (an `equivalent` rebuild the
    /// recipe accepted): not bit for bit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub equivalent: Vec<String>,
}

/// A problem with a release's evidence: the check that found it (when one did), a stable
/// kebab-case code, and what was found. Printed as `check: code: message`; in JSON an object
/// whose message carries no Markdown backticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub check: Option<CheckId>,
    pub code: String,
    pub message: String,
}

impl Problem {
    fn of(check: CheckId, f: &crate::verify::codes::Finding) -> Problem {
        Problem {
            check: Some(check),
            code: f.code.clone(),
            message: f.message.clone(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(c) = self.check {
            write!(f, "{}: ", c.as_str())?;
        }
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Problem", 3)?;
        if let Some(c) = self.check {
            st.serialize_field("check", c.as_str())?;
        }
        st.serialize_field("code", &self.code)?;
        st.serialize_field("message", &self.message.replace('`', ""))?;
        st.end()
    }
}

#[derive(Debug)]
pub struct Options {
    pub evidence_root: PathBuf,
    pub signers: Vec<Signer>,
    pub trusted_root: Option<String>,
    pub images: Option<verify::ImageCheck>,
}

fn baseline_findings(view: Option<&BaselineView>, out: &mut BTreeMap<String, usize>) {
    let Some(view) = view else {
        return;
    };
    for f in &view.predicate.findings {
        if matches!(
            f.code.as_str(),
            "unauthorized-change" | "unpinned-image" | "missing-supplier" | "incomplete-history"
        ) {
            *out.entry(f.code.clone()).or_default() += 1;
        }
    }
}

fn one(tag: &str, commit: &str, opts: &Options) -> ReleaseStatus {
    let dir = opts.evidence_root.join(tag);
    let mut st = ReleaseStatus {
        tag: tag.to_owned(),
        commit: commit.to_owned(),
        state: ReleaseState::Untracked,
        signatures: Signatures::None,
        evidence: None,
        findings: BTreeMap::new(),
        problems: Vec::new(),
        equivalent: Vec::new(),
    };
    if !dir.is_dir() {
        return st;
    }
    st.evidence = Some(dir.display().to_string());
    let tag_parsed: Result<Tag, _> = tag.parse();
    let Ok(tag_parsed) = tag_parsed else {
        st.problems.push(Problem {
            check: None,
            code: "invalid-tag".into(),
            message: format!("`{}` is not a valid tag name", verify::printable(tag)),
        });
        st.state = ReleaseState::Invalid;
        return st;
    };
    // One verification reads the folder once; the state below comes from what it read.
    let vopts = verify::Options {
        tag: tag_parsed,
        evidence: dir.clone(),
        artifacts: verify::Artifacts::NotChecked,
        published_images: None,
        signers: opts.signers.clone(),
        rebuilders: Vec::new(),
        require: 1,
        trusted_root: opts.trusted_root.clone(),
        project: None,
        source_uri: None,
        repo: None,
        images: None,
        rebuild: None,
    };
    let mut report = verify::verify(&vopts, &|_| {});
    let verdict = report
        .rebuild_report
        .as_ref()
        .and_then(|r| r.get("verdict"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    // The furthest step the evidence claims.
    let mut claimed = ReleaseState::Invalid;
    if report.baseline.is_some() {
        claimed = ReleaseState::Baselined;
    }
    if claimed == ReleaseState::Baselined && verdict.is_some() {
        claimed = match verdict.as_deref() {
            Some("reproducible") => ReleaseState::Reproducible,
            Some("not-reproducible") => ReleaseState::NotReproducible,
            _ => ReleaseState::Rebuilt,
        };
    }
    if claimed >= ReleaseState::Baselined
        && claimed != ReleaseState::NotReproducible
        && report.provenance_present
    {
        claimed = ReleaseState::Attested;
    }
    if claimed == ReleaseState::Invalid {
        st.problems.push(Problem {
            check: None,
            code: FindingCode::EvidenceMissing.as_str().into(),
            message: format!(
                "no readable `{}` in the evidence folder",
                evidence::BASELINE
            ),
        });
    }
    // An equivalent release is verified, and not bit for bit: say which normalizations.
    let mut equivalent: Vec<String> = report
        .provenance
        .as_ref()
        .map(crate::provenance::equivalences_of)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|e| e.normalizations)
        .map(|n| n.as_str().to_owned())
        .collect();
    equivalent.sort();
    equivalent.dedup();
    st.equivalent = equivalent;
    let view = report.baseline_view.take();
    if let Some(b) = &view {
        report.push_check(verify::tag_check(tag, Ok(commit.to_owned()), b));
    }
    if let (Some(ic), Some(b)) = (&opts.images, &view) {
        let c = verify::image_check_pub(ic, b);
        if c.status == CheckStatus::Fail {
            *st.findings.entry("image-drift".into()).or_default() += c.findings.len();
        }
        if c.status == CheckStatus::Error {
            st.problems
                .extend(c.findings.iter().map(|f| Problem::of(c.id, f)));
        }
    }
    baseline_findings(view.as_ref(), &mut st.findings);
    let sig_ok = report
        .check(CheckId::BaselineSignature)
        .is_some_and(|c| c.status == CheckStatus::Pass);
    st.signatures = if opts.signers.is_empty() {
        Signatures::NotChecked
    } else if sig_ok {
        Signatures::Verified
    } else {
        Signatures::Failed
    };
    // What breaks trust in the folder, as opposed to what the release itself failed (a
    // failed release has no provenance; a policy failure is an open finding).
    // The release's own provenance, not another rebuilder's, decides whether it was attested.
    let no_provenance = !report.provenance_present;
    let mut broken = false;
    for c in &report.checks {
        if !matches!(c.status, CheckStatus::Fail | CheckStatus::Error) {
            continue;
        }
        let benign = match c.id {
            CheckId::ChangePolicy => true,
            CheckId::ProvenanceSignature => {
                no_provenance
                    && c.findings.iter().all(|f| {
                        FindingCode::ProvenanceMissing.is_code_of(f)
                            || FindingCode::NotEnoughRebuilders.is_code_of(f)
                    })
            }
            CheckId::BaselineProvenanceAgree | CheckId::ArtifactDigests => no_provenance,
            // The index's own record of the failure, not a sign of tampering.
            CheckId::ReleaseTag => {
                no_provenance
                    && c.findings
                        .iter()
                        .all(|f| FindingCode::ReleaseFailed.is_code_of(f))
            }
            _ => false,
        };
        if benign {
            continue;
        }
        broken = true;
        if c.findings.is_empty() {
            st.problems.push(Problem {
                check: Some(c.id),
                code: if c.status == CheckStatus::Error {
                    "check-could-not-run"
                } else {
                    "check-failed"
                }
                .into(),
                message: c.detail.clone(),
            });
        }
        for f in &c.findings {
            st.problems.push(Problem::of(c.id, f));
        }
    }
    st.state = if broken {
        ReleaseState::Invalid
    } else if report.outcome.as_deref() == Some("failed") {
        // The (signed, with a key) index records that the release failed: whatever the rebuild
        // report says, this release was not released.
        for f in report
            .check(CheckId::ProvenanceSignature)
            .into_iter()
            .flat_map(|c| c.findings.iter())
            .filter(|f| FindingCode::ProvenanceMissing.is_code_of(f))
        {
            st.problems
                .push(Problem::of(CheckId::ProvenanceSignature, f));
        }
        ReleaseState::Failed
    } else if claimed == ReleaseState::Attested && report.verdict.is_verified() {
        ReleaseState::Verified
    } else {
        claimed
    };
    st
}

/// The status of every version tag (tags with a digit), newest first by tag date — across
/// prefixes, so `ignore-0.4.33` and `15.1.0` interleave as they were released — then by
/// version.
pub fn status(repo: &Repository, opts: &Options) -> Result<Vec<ReleaseStatus>, ReleaseError> {
    let tags = repo.tags().map_err(|source| ReleaseError::Git {
        action: "list the tags",
        source,
    })?;
    let mut tags: Vec<((Option<i64>, VersionKey), String, String)> = tags
        .into_iter()
        .filter_map(|t| {
            let key = VersionKey::parse(&t.name)?;
            let commit = t.commit.as_ref()?.to_string();
            Some(((t.date, key), t.name, commit))
        })
        .collect();
    // Newest date first (an undated tag last), then the higher version, then by name.
    tags.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    // Each tag is independent: spread them over the cores.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ReleaseStatus>>> = Mutex::new(vec![None; tags.len()]);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(tags.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, name, commit)) = tags.get(i) else {
                        break;
                    };
                    let r = one(name, commit, opts);
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    Ok(results.into_iter().flatten().collect())
}
