//! `reprove verify`: the auditor's check of a release's evidence, offline by default.
//!
//! Every check has a stable id and ends `pass`, `fail`, `skipped` (with the reason) or
//! `error` (could not run). Nothing in the evidence folder is trusted before its signature
//! is checked: statements are read from the verified DSSE payloads, never from a file beside
//! them. The verdict fails closed: any `fail` is a failed verification, any `error` means it
//! could not be completed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use reprove_attest::ResourceDescriptor;
use reprove_attest::slsa::{
    PROVENANCE_V1, VSA_V1, VerificationResult, VerificationSummary, Verifier,
};
use reprove_attest::verify::{Signer, verify_statement};
use reprove_attest::{Statement, statement::STATEMENT_V1};
use reprove_build::EngineKind;
use reprove_oci::ImageRef;
use reprove_oci::registry::RegistryClient;
use reprove_source::{Repository, Tag};
use serde::Serialize;
use serde_json::Value;

use crate::evidence;
use crate::provenance::BUILD_TYPE;

/// Policy URI of the VSA: the set of checks below.
pub const POLICY_URI: &str = "https://reprove.dev/verify-policy/v1";
/// `verifier.id` of the VSA.
pub const VERIFIER_ID: &str = "https://reprove.dev/verifier/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Skipped,
    /// Could not run (exit 2 unless something failed).
    Error,
    Fail,
}

/// One check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable id: `evidence-index`, `baseline-signature`, `provenance-signature`,
    /// `artifact-digests`, `baseline-provenance-agree`, `tag-commit`, `change-policy`,
    /// `image-pins`, `rebuild`.
    pub id: &'static str,
    pub status: CheckStatus,
    pub detail: String,
    /// Each problem found, prefixed with its finding code (`digest-mismatch: …`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

impl CheckResult {
    pub fn new(id: &'static str, status: CheckStatus, detail: impl Into<String>) -> Self {
        CheckResult {
            id,
            status,
            detail: detail.into(),
            findings: Vec::new(),
        }
    }

    pub fn from_findings(id: &'static str, findings: Vec<String>, ok: impl Into<String>) -> Self {
        if findings.is_empty() {
            CheckResult::new(id, CheckStatus::Pass, ok)
        } else {
            CheckResult {
                id,
                status: CheckStatus::Fail,
                detail: format!("{} problem(s)", findings.len()),
                findings,
            }
        }
    }
}

/// The registry check of image pins (`--check-images`).
#[derive(Debug)]
pub struct ImageCheck {
    pub client: RegistryClient,
    pub platform: String,
}

/// A fresh rebuild (`--rebuild`).
#[derive(Debug, Clone)]
pub struct RebuildCheck {
    pub engine: Option<EngineKind>,
}

#[derive(Debug)]
pub struct Options<'a> {
    pub tag: Tag,
    pub evidence: PathBuf,
    pub artifacts: Option<PathBuf>,
    /// Who may have signed; the baseline must verify with one of them.
    pub signers: Vec<Signer>,
    /// How many independent provenance signers must agree (k-of-n).
    pub require: usize,
    pub trusted_root: Option<String>,
    /// The repository, when there is one (tag check, rebuild).
    pub repo: Option<&'a Repository>,
    pub images: Option<ImageCheck>,
    pub rebuild: Option<RebuildCheck>,
}

/// A bundle file that was read and verified.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputAttestation {
    pub file: String,
    pub sha256: String,
    /// Which given signer verified it (`key <hint>` or the identity).
    pub signer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyVerdict {
    Verified,
    Failed,
    CouldNotCheck,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub tag: String,
    pub evidence: String,
    pub verdict: VerifyVerdict,
    pub checks: Vec<CheckResult>,
    /// The release's artifacts as the verified provenance names them.
    pub subjects: Vec<ResourceDescriptor>,
    pub input_attestations: Vec<InputAttestation>,
    /// `git+…@refs/tags/<tag>` from the provenance, when it names a repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    /// The verified baseline statement, for reports built on this verification.
    #[serde(skip)]
    pub baseline: Option<Value>,
    /// The verified provenance statement (the primary one).
    #[serde(skip)]
    pub provenance: Option<Value>,
    /// False when no key or identity was given: nothing is then called verified.
    pub signatures_checked: bool,
}

impl VerifyReport {
    /// Adds a check run outside [`verify`] and decides the verdict again.
    pub fn push_check(&mut self, check: CheckResult) {
        self.checks.push(check);
        self.decide();
    }

    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }

    fn decide(&mut self) {
        let worst = self
            .checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Pass);
        self.verdict = match worst {
            CheckStatus::Fail => VerifyVerdict::Failed,
            CheckStatus::Error => VerifyVerdict::CouldNotCheck,
            // Nothing is verified without a key: at best it could not be checked.
            _ if !self.signatures_checked => VerifyVerdict::CouldNotCheck,
            _ => VerifyVerdict::Verified,
        };
    }
}

fn signer_label(s: &Signer) -> String {
    match s {
        Signer::Key { key } => format!("key {}", key.hint()),
        Signer::Identity { identity, issuer } => format!("{identity} ({issuer})"),
    }
}

fn sha256_of(bytes: &[u8]) -> String {
    reprove_digest::sha256_bytes(bytes).hex()
}

/// Verifies one bundle file against every signer; the first that verifies wins.
fn verify_file(
    path: &Path,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<(Value, InputAttestation), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let found = |st: Value, signer: String| {
        if st.get("_type").and_then(Value::as_str) != Some(STATEMENT_V1) {
            return Err("the signed payload is not an in-toto Statement v1".to_owned());
        }
        Ok((
            st,
            InputAttestation {
                file: path
                    .file_name()
                    .map(|n| printable(&n.to_string_lossy()))
                    .unwrap_or_default(),
                sha256: sha256_of(&bytes),
                signer,
            },
        ))
    };
    // No key or identity given: the statement as the file claims it, marked as such.
    if signers.is_empty() {
        let st = statement_of(&bytes).ok_or("not a DSSE bundle")?;
        return found(st, "NOT CHECKED".to_owned());
    }
    let mut reasons = Vec::new();
    for s in signers {
        match verify_statement(&bytes, s, root) {
            Ok(v) => return found(v.statement.unwrap_or(Value::Null), signer_label(s)),
            Err(e) => reasons.push(format!("{}: {e}", signer_label(s))),
        }
    }
    Err(reasons.join("; "))
}

/// The statement in a DSSE bundle's payload, unverified.
fn statement_of(bundle: &[u8]) -> Option<Value> {
    let parsed = reprove_attest::bundle::ParsedBundle::parse(bundle).ok()?;
    match parsed.content {
        reprove_attest::bundle::Content::Dsse(env) => serde_json::from_slice(&env.payload).ok(),
        reprove_attest::bundle::Content::MessageSignature { .. } => None,
    }
}

fn sha256_subjects(st: &Value) -> BTreeMap<String, String> {
    st.get("subject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s.get("name")?.as_str()?.to_owned(),
                s.get("digest")?.get("sha256")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |cur, p| cur.get(p))?.as_str()
}

fn provenance_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n == evidence::PROVENANCE
                    || (n.starts_with("provenance-") && n.ends_with(".sigstore.json"))
            })
        })
        .collect();
    out.sort();
    out
}

/// Reads a bundle's statement WITHOUT checking its signature — for reports made without a
/// key, which say so.
pub fn read_unverified(path: &Path) -> Option<Value> {
    statement_of(&std::fs::read(path).ok()?)
}

/// The `image-pins` check of a baseline statement on its own.
pub fn image_check_pub(ic: &ImageCheck, baseline: &Value) -> CheckResult {
    check_images(ic, baseline)
}

/// Control characters in a name from the folder would let it rewrite the terminal or break
/// XML: show them escaped.
pub fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The index the folder is checked against: the signed one when there are signers (and then
/// only it), `index.json` as the files claim otherwise.
struct IndexView {
    files: BTreeMap<String, String>,
    tag: String,
    outcome: String,
    failures: Vec<String>,
    signed_by: Option<String>,
}

fn read_signed_index(
    dir: &Path,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<(IndexView, InputAttestation), String> {
    let path = dir.join(evidence::SIGNED_INDEX);
    if !path.is_file() {
        // Folders written before the index was signed land here too: fail closed, and say how
        // to get a signed one.
        return Err(format!(
            "index-unsigned: no `{}`, so the folder's files are not signed as a whole (a folder made by an earlier reprove: re-release with --force)",
            evidence::SIGNED_INDEX
        ));
    }
    let (st, input) = verify_file(&path, signers, root)
        .map_err(|r| format!("bad-signature: `{}`: {r}", evidence::SIGNED_INDEX))?;
    if st.get("predicateType").and_then(Value::as_str) != Some(evidence::INDEX_PREDICATE_TYPE) {
        return Err(format!(
            "wrong-predicate: `{}` is not a reprove evidence index",
            evidence::SIGNED_INDEX
        ));
    }
    let p = st.get("predicate").cloned().unwrap_or(Value::Null);
    Ok((
        IndexView {
            files: sha256_subjects(&st),
            tag: p
                .get("tag")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            outcome: p
                .get("outcome")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            failures: p
                .get("failures")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect(),
            signed_by: Some(input.signer.clone()),
        },
        input,
    ))
}

fn unsigned_index(dir: &Path) -> Result<IndexView, String> {
    let index = evidence::read_index(dir).map_err(|e| format!("index-missing: {e}"))?;
    let mut files: BTreeMap<String, String> = index
        .files
        .iter()
        .map(|f| (f.path.clone(), f.sha256.clone()))
        .collect();
    // index.json lists the others, not itself.
    if let Ok((d, _)) = reprove_digest::sha256_file(&dir.join(evidence::INDEX)) {
        files.insert(evidence::INDEX.to_owned(), d.hex());
    }
    Ok(IndexView {
        files,
        tag: index.tag,
        outcome: match index.outcome {
            evidence::ReleaseOutcome::Released => "released".into(),
            evidence::ReleaseOutcome::Failed => "failed".into(),
        },
        failures: index.failures,
        signed_by: None,
    })
}

type IndexCheck = (CheckResult, Option<IndexView>, Option<InputAttestation>);

fn check_index(dir: &Path, signers: &[Signer], root: Option<&str>) -> IndexCheck {
    const ID: &str = "evidence-index";
    let fail = |f: String, detail: &str| -> IndexCheck {
        (
            CheckResult {
                id: ID,
                status: CheckStatus::Fail,
                detail: detail.into(),
                findings: vec![f],
            },
            None,
            None,
        )
    };
    let (index, input) = if signers.is_empty() {
        match unsigned_index(dir) {
            Ok(i) => (i, None),
            Err(f) => return fail(f, "no usable index"),
        }
    } else {
        match read_signed_index(dir, signers, root) {
            Ok((i, input)) => (i, Some(input)),
            Err(f) => return fail(f, "no verified index"),
        }
    };
    let found = match evidence::list_files(dir) {
        Ok(f) => f,
        Err(e) => {
            return (
                CheckResult::new(ID, CheckStatus::Error, e.to_string()),
                None,
                None,
            );
        }
    };
    let mut present: BTreeMap<String, String> = found
        .iter()
        .map(|f| (f.path.clone(), f.sha256.clone()))
        .collect();
    if let Ok((d, _)) = reprove_digest::sha256_file(&dir.join(evidence::INDEX)) {
        present.insert(evidence::INDEX.to_owned(), d.hex());
    }
    let mut findings = Vec::new();
    for (p, want) in &index.files {
        let shown = printable(p);
        match present.get(p) {
            None => findings.push(format!("evidence-missing: `{shown}` is listed but absent")),
            Some(have) if have != want => findings.push(format!(
                "digest-mismatch: `{shown}` has sha256:{have} but the index lists sha256:{want}"
            )),
            Some(_) => {}
        }
    }
    for p in present.keys() {
        // Further rebuilders' provenance may be added after the release.
        let added_provenance = p.starts_with("provenance-") && p.ends_with(".sigstore.json");
        if !index.files.contains_key(p) && !added_provenance {
            findings.push(format!(
                "evidence-unlisted: `{}` is not in the index",
                printable(p)
            ));
        }
    }
    let detail = format!(
        "{} file(s) match the {} (release outcome: {})",
        index.files.len(),
        match &index.signed_by {
            Some(s) => format!("signed index ({s})"),
            None => "UNSIGNED index.json (no key given)".to_owned(),
        },
        index.outcome
    );
    (
        CheckResult::from_findings(ID, findings, detail),
        Some(index),
        input,
    )
}

/// Runs every check.
pub fn verify(opts: &Options<'_>, progress: &dyn Fn(&str)) -> VerifyReport {
    let root = opts.trusted_root.as_deref();
    let mut report = VerifyReport {
        tag: opts.tag.to_string(),
        evidence: opts.evidence.display().to_string(),
        verdict: VerifyVerdict::CouldNotCheck,
        checks: Vec::new(),
        subjects: Vec::new(),
        input_attestations: Vec::new(),
        source_uri: None,
        baseline: None,
        provenance: None,
        signatures_checked: !opts.signers.is_empty(),
    };
    if !opts.evidence.is_dir() {
        report.checks.push(CheckResult::new(
            "evidence-index",
            CheckStatus::Error,
            format!("`{}` is not a folder", opts.evidence.display()),
        ));
        report.decide();
        return report;
    }
    progress("checking the evidence folder against its index");
    let unkeyed = opts.signers.is_empty();
    let (index_check, index, index_input) = check_index(&opts.evidence, &opts.signers, root);
    report.checks.push(index_check);
    if let Some(i) = index_input {
        report.input_attestations.push(i);
    }

    // Baseline.
    progress("verifying the baseline signature");
    let baseline_path = opts.evidence.join(evidence::BASELINE);
    let baseline_result = verify_file(&baseline_path, &opts.signers, root);
    let baseline = match baseline_result {
        Ok((st, input)) => {
            let ok = st.get("predicateType").and_then(Value::as_str)
                == Some(reprove_baseline::BASELINE_PREDICATE_TYPE);
            if ok {
                report.checks.push(if unkeyed {
                    CheckResult::new(
                        "baseline-signature",
                        CheckStatus::Skipped,
                        "NOT CHECKED: no key or identity given",
                    )
                } else {
                    CheckResult::new(
                        "baseline-signature",
                        CheckStatus::Pass,
                        format!("`{}` signed by {}", input.file, input.signer),
                    )
                });
                report.input_attestations.push(input);
                Some(st)
            } else {
                report.checks.push(CheckResult {
                    id: "baseline-signature",
                    status: CheckStatus::Fail,
                    detail: "wrong predicate type".into(),
                    findings: vec![format!(
                        "wrong-predicate: `{}` is not a reprove baseline",
                        evidence::BASELINE
                    )],
                });
                None
            }
        }
        Err(reason) => {
            report.checks.push(CheckResult {
                id: "baseline-signature",
                status: CheckStatus::Fail,
                detail: format!("`{}` does not verify", evidence::BASELINE),
                findings: vec![format!("bad-signature: `{}`: {reason}", evidence::BASELINE)],
            });
            None
        }
    };

    // Provenance, k-of-n.
    progress("verifying the provenance signatures");
    let files = provenance_files(&opts.evidence);
    let mut provenances: Vec<(Value, InputAttestation)> = Vec::new();
    let mut prov_findings = Vec::new();
    let mut not_counted = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| printable(&n.to_string_lossy()))
            .unwrap_or_default();
        // Without keys only the release's own provenance is read: the others are outside the
        // index, and anyone could have dropped them in.
        if unkeyed && name != evidence::PROVENANCE {
            not_counted.push(name);
            continue;
        }
        let result = verify_file(f, &opts.signers, root);
        match result {
            Ok((st, input)) => {
                let t = st.get("predicateType").and_then(Value::as_str);
                let bt = str_at(&st, &["predicate", "buildDefinition", "buildType"]);
                if t != Some(PROVENANCE_V1) || bt != Some(BUILD_TYPE) {
                    prov_findings.push(format!(
                        "wrong-predicate: `{}` is not reprove's SLSA provenance v1",
                        input.file
                    ));
                    continue;
                }
                provenances.push((st, input));
            }
            // The release's own provenance must verify; another rebuilder's, signed by a key
            // not given here, is simply not counted.
            Err(reason) if name == evidence::PROVENANCE => {
                prov_findings.push(format!("bad-signature: `{name}`: {reason}"));
            }
            Err(_) => not_counted.push(name),
        }
    }
    let primary = provenances
        .iter()
        .find(|(_, i)| i.file == evidence::PROVENANCE)
        .or(provenances.first())
        .cloned();
    if !opts.evidence.join(evidence::PROVENANCE).is_file() {
        let why = index
            .as_ref()
            .filter(|i| i.outcome == "failed")
            .map(|i| format!(" — the release failed: {}", i.failures.join("; ")))
            .unwrap_or_default();
        prov_findings.push(format!(
            "provenance-missing: no provenance in the folder{why}"
        ));
    }
    let mut agreeing: BTreeSet<String> = BTreeSet::new();
    if let Some((pst, _)) = &primary {
        let want = sha256_subjects(pst);
        let commit = dependency_digest(pst, "source", "gitCommit");
        for (st, input) in &provenances {
            // Every counted rebuilder attests the same artifacts, commit, and the tag asked about.
            if sha256_subjects(st) == want
                && dependency_digest(st, "source", "gitCommit") == commit
                && provenance_tag(st) == Some(opts.tag.as_str())
            {
                agreeing.insert(input.signer.clone());
            } else {
                prov_findings.push(format!(
                    "rebuilders-disagree: `{}` ({}) attests other artifacts, another commit or another tag",
                    input.file, input.signer
                ));
            }
        }
    }
    if agreeing.len() < opts.require {
        prov_findings.push(format!(
            "not-enough-rebuilders: {} independent signer(s) agree, {} required",
            agreeing.len(),
            opts.require
        ));
    }
    let mut prov_check = CheckResult::from_findings(
        "provenance-signature",
        prov_findings,
        format!(
            "{} provenance bundle(s) verified; {} independent signer(s) agree ({} required): {}{}",
            provenances.len(),
            agreeing.len(),
            opts.require,
            agreeing.iter().cloned().collect::<Vec<_>>().join(", "),
            if not_counted.is_empty() {
                String::new()
            } else {
                format!(
                    "; not counted (signed by none of the given keys): {}",
                    not_counted.join(", ")
                )
            }
        ),
    );
    if unkeyed && prov_check.status == CheckStatus::Pass {
        prov_check.status = CheckStatus::Skipped;
        prov_check.detail = "NOT CHECKED: no key or identity given".into();
    }
    report.checks.push(prov_check);
    for (_, i) in &provenances {
        report.input_attestations.push(i.clone());
    }
    let provenance = primary.map(|(st, _)| st);
    if let Some(p) = &provenance {
        report.subjects = sha256_subjects(p)
            .into_iter()
            .map(|(n, h)| ResourceDescriptor::named(n, "sha256", &h))
            .collect();
        report.source_uri = dependency(p, "source")
            .and_then(|d| d.get("uri"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }

    // Artifacts against the provenance subjects.
    progress("hashing the artifacts");
    report.checks.push(match (&opts.artifacts, &provenance) {
        (None, _) => CheckResult::new(
            "artifact-digests",
            CheckStatus::Skipped,
            "no --artifacts given",
        ),
        (Some(_), None) => CheckResult::new(
            "artifact-digests",
            CheckStatus::Fail,
            "no verified provenance to check the artifacts against",
        ),
        (Some(dir), _) if !dir.is_dir() => CheckResult::new(
            "artifact-digests",
            CheckStatus::Error,
            format!(
                "`{}` is not a folder: --artifacts names the folder of downloaded files, whose bytes are hashed",
                dir.display()
            ),
        ),
        (Some(dir), Some(p)) => check_artifacts(dir, &sha256_subjects(p)),
    });

    // Baseline and provenance describe the same release.
    report.checks.push(match (&baseline, &provenance) {
        (Some(b), Some(p)) => check_agreement(b, p),
        _ => CheckResult::new(
            "baseline-provenance-agree",
            CheckStatus::Fail,
            "needs both a verified baseline and a verified provenance",
        ),
    });

    // Every statement is about the tag asked for (a folder of another release, with valid
    // signatures, must not pass as this one).
    report.checks.push(check_release_tag(
        opts.tag.as_str(),
        baseline.as_ref(),
        provenance.as_ref(),
        index.as_ref().map(|i| i.tag.as_str()),
    ));

    // The tag still names the commit.
    report.checks.push(match (&baseline, opts.repo) {
        (_, None) => CheckResult::new(
            "tag-commit",
            CheckStatus::Skipped,
            "no git repository here (run inside a clone, or with -C DIR, to check the tag)",
        ),
        (None, Some(_)) => CheckResult::new(
            "tag-commit",
            CheckStatus::Fail,
            "no verified baseline to compare the tag with",
        ),
        (Some(b), Some(repo)) => check_tag(repo, &opts.tag, b),
    });

    // The change policy recorded in the signed baseline.
    report.checks.push(match &baseline {
        Some(b) => check_policy(b),
        None => CheckResult::new(
            "change-policy",
            CheckStatus::Fail,
            "no verified baseline to read the policy from",
        ),
    });

    report.checks.push(match (&opts.images, &baseline) {
        (None, _) => CheckResult::new(
            "image-pins",
            CheckStatus::Skipped,
            "offline; --check-images asks the registries",
        ),
        (Some(_), None) => CheckResult::new(
            "image-pins",
            CheckStatus::Fail,
            "no verified baseline to read the images from",
        ),
        (Some(ic), Some(b)) => {
            progress("checking image pins against their registries");
            check_images(ic, b)
        }
    });

    report
        .checks
        .push(match (&opts.rebuild, opts.repo, &provenance) {
            (None, _, _) => CheckResult::new(
                "rebuild",
                CheckStatus::Skipped,
                "--rebuild rebuilds the tag and compares",
            ),
            (Some(_), None, _) => CheckResult::new(
                "rebuild",
                CheckStatus::Error,
                "--rebuild needs the repository (run inside a clone, or with -C DIR)",
            ),
            (Some(_), Some(_), None) => CheckResult::new(
                "rebuild",
                CheckStatus::Fail,
                "no verified provenance to compare the rebuild with",
            ),
            (Some(rc), Some(repo), Some(p)) => {
                progress("rebuilding the tag");
                check_rebuild(rc, repo, &opts.tag, &sha256_subjects(p), progress)
            }
        });
    report.baseline = baseline;
    report.provenance = provenance;
    report.decide();
    report
}

fn provenance_tag(p: &Value) -> Option<&str> {
    str_at(
        p,
        &[
            "predicate",
            "buildDefinition",
            "externalParameters",
            "source",
            "tag",
        ],
    )
}

fn check_release_tag(
    tag: &str,
    baseline: Option<&Value>,
    provenance: Option<&Value>,
    index_tag: Option<&str>,
) -> CheckResult {
    const ID: &str = "release-tag";
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    for (what, present, found) in [
        (
            "baseline",
            baseline.is_some(),
            baseline.and_then(|b| str_at(b, &["predicate", "release", "tag"])),
        ),
        (
            "provenance",
            provenance.is_some(),
            provenance.and_then(provenance_tag),
        ),
        ("index", index_tag.is_some(), index_tag),
    ] {
        match found {
            Some(t) => {
                seen.push(what);
                if t != tag {
                    findings.push(format!(
                        "wrong-release: the {what} is for `{}`, not `{tag}`",
                        printable(t)
                    ));
                }
            }
            // A statement that names no release cannot vouch for this one.
            None if present => findings.push(format!("wrong-release: the {what} names no release")),
            None => {}
        }
    }
    if seen.is_empty() {
        return CheckResult::new(ID, CheckStatus::Fail, "no statement names a release");
    }
    CheckResult::from_findings(
        ID,
        findings,
        format!("the {} name `{tag}`", seen.join(", ")),
    )
}

fn dependency<'v>(st: &'v Value, name: &str) -> Option<&'v Value> {
    st.get("predicate")?
        .get("buildDefinition")?
        .get("resolvedDependencies")?
        .as_array()?
        .iter()
        .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
}

fn dependency_digest(st: &Value, name: &str, alg: &str) -> Option<String> {
    dependency(st, name)?
        .get("digest")?
        .get(alg)?
        .as_str()
        .map(str::to_owned)
}

fn check_artifacts(dir: &Path, subjects: &BTreeMap<String, String>) -> CheckResult {
    const ID: &str = "artifact-digests";
    let published = match reprove_build::published(dir) {
        Ok(p) => p,
        Err(e) => return CheckResult::new(ID, CheckStatus::Error, e.to_string()),
    };
    let mut findings = Vec::new();
    for (name, want) in subjects {
        match published.get(name) {
            None => findings.push(format!(
                "missing-artifact: `{name}` is attested but not in `{}`",
                dir.display()
            )),
            Some(a) if &a.sha256 != want => findings.push(format!(
                "digest-mismatch: `{name}` has sha256:{} but the provenance attests sha256:{want}",
                a.sha256
            )),
            Some(_) => {}
        }
    }
    for name in published.keys() {
        if !subjects.contains_key(name) {
            findings.push(format!(
                "unattested-artifact: `{name}` is in `{}` but no provenance subject names it",
                dir.display()
            ));
        }
    }
    CheckResult::from_findings(
        ID,
        findings,
        format!(
            "{} artifact(s) match the provenance subjects",
            subjects.len()
        ),
    )
}

fn check_agreement(b: &Value, p: &Value) -> CheckResult {
    const ID: &str = "baseline-provenance-agree";
    let mut findings = Vec::new();
    let bcommit = str_at(b, &["predicate", "release", "commit"]);
    let pcommit = dependency_digest(p, "source", "gitCommit");
    if bcommit.is_none() || bcommit != pcommit.as_deref() {
        findings.push(format!(
            "commit-mismatch: the baseline records commit {} but the provenance {}",
            bcommit.unwrap_or("(none)"),
            pcommit.as_deref().unwrap_or("(none)")
        ));
    }
    let recipe = |v: &Value, path: &[&str]| -> Option<Value> {
        path.iter().try_fold(v, |cur, k| cur.get(k)).cloned()
    };
    let bimage = str_at(b, &["predicate", "build", "image"]);
    let pimage = str_at(
        p,
        &[
            "predicate",
            "buildDefinition",
            "externalParameters",
            "recipe",
            "image",
        ],
    );
    let norm = |s: Option<&str>| -> Option<String> {
        s.and_then(|s| s.parse::<ImageRef>().ok()).map(|r| {
            format!(
                "{}@{}",
                r.name(),
                r.digest().map(ToString::to_string).unwrap_or_default()
            )
        })
    };
    if norm(bimage).is_none() || norm(bimage) != norm(pimage) {
        findings.push(format!(
            "image-mismatch: the baseline's recipe uses `{}` but the provenance `{}`",
            bimage.unwrap_or("(none)"),
            pimage.unwrap_or("(none)")
        ));
    }
    for key in ["command", "artifacts", "env", "workdir", "user", "timeout"] {
        let bv = recipe(b, &["predicate", "build", key]).unwrap_or(match key {
            "env" => Value::Object(Default::default()),
            "artifacts" => Value::Array(Vec::new()),
            "timeout" => Value::from(reprove_build::DEFAULT_TIMEOUT),
            _ => Value::Null,
        });
        let pv = recipe(
            p,
            &[
                "predicate",
                "buildDefinition",
                "externalParameters",
                "recipe",
                key,
            ],
        )
        .unwrap_or(Value::Null);
        if bv != pv {
            findings.push(format!(
                "recipe-mismatch: `{key}` is {bv} in the baseline but {pv} in the provenance"
            ));
        }
    }
    let bsubjects = sha256_subjects(b);
    let psubjects = sha256_subjects(p);
    if bsubjects != psubjects {
        let names: BTreeSet<&String> = bsubjects.keys().chain(psubjects.keys()).collect();
        for n in names {
            if bsubjects.get(n) != psubjects.get(n) {
                findings.push(format!(
                    "subject-mismatch: `{n}` is sha256:{} in the baseline but sha256:{} in the provenance",
                    bsubjects.get(n).map(String::as_str).unwrap_or("(absent)"),
                    psubjects.get(n).map(String::as_str).unwrap_or("(absent)")
                ));
            }
        }
    }
    CheckResult::from_findings(
        ID,
        findings,
        format!(
            "same commit {}, image, recipe and artifacts",
            bcommit.unwrap_or("?")
        ),
    )
}

fn check_tag(repo: &Repository, tag: &Tag, b: &Value) -> CheckResult {
    let now = repo
        .resolve_tag(tag)
        .map(|info| info.commit.to_string())
        .map_err(|e| e.to_string());
    tag_check(tag.as_str(), now, b)
}

/// The `tag-commit` check: `now` is what the tag resolves to in the repository.
pub fn tag_check(tag: &str, now: Result<String, String>, b: &Value) -> CheckResult {
    const ID: &str = "tag-commit";
    let want = str_at(b, &["predicate", "release", "commit"]).unwrap_or_default();
    let btag = str_at(b, &["predicate", "release", "tag"]).unwrap_or_default();
    let mut findings = Vec::new();
    if btag != tag {
        findings.push(format!(
            "wrong-release: the baseline is for `{btag}`, not `{tag}`"
        ));
    }
    match now {
        Ok(commit) if commit == want => {}
        Ok(commit) => findings.push(format!(
            "tag-moved: `{tag}` now points at {commit} but the signed baseline records {want}"
        )),
        Err(e) => findings.push(format!("tag-missing: `{tag}`: {e}")),
    }
    CheckResult::from_findings(ID, findings, format!("`{tag}` still points at {want}"))
}

fn check_policy(b: &Value) -> CheckResult {
    const ID: &str = "change-policy";
    let findings: Vec<String> = b
        .get("predicate")
        .and_then(|p| p.get("findings"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|f| f.get("policy").and_then(Value::as_bool) == Some(true))
        .map(|f| {
            format!(
                "{}: {}",
                f.get("code").and_then(Value::as_str).unwrap_or("policy"),
                f.get("message").and_then(Value::as_str).unwrap_or_default()
            )
        })
        .collect();
    let result = str_at(b, &["predicate", "policy", "result"]).unwrap_or("?");
    if findings.is_empty() && result != "pass" {
        return CheckResult {
            id: ID,
            status: CheckStatus::Fail,
            detail: format!("policy result `{result}`"),
            findings: vec![format!(
                "policy-failed: the baseline's policy result is `{result}`"
            )],
        };
    }
    let commits = b
        .get("predicate")
        .and_then(|p| p.get("changes"))
        .and_then(|c| c.get("commits"))
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    CheckResult::from_findings(
        ID,
        findings,
        format!("every policy in reprove.toml holds ({commits} commit(s) traced)"),
    )
}

fn check_images(ic: &ImageCheck, b: &Value) -> CheckResult {
    const ID: &str = "image-pins";
    let mut refs: BTreeSet<String> = b
        .get("predicate")
        .and_then(|p| p.get("images"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("reference")?.as_str().map(str::to_owned))
        .collect();
    if let Some(img) = str_at(b, &["predicate", "build", "image"]) {
        refs.insert(img.to_owned());
    }
    let parsed: Vec<(String, Result<ImageRef, String>)> = refs
        .into_iter()
        .map(|r| {
            let p = r.parse::<ImageRef>().map_err(|e| e.to_string());
            (r, p)
        })
        .collect();
    let verdicts = reprove_oci::check::concurrently(&parsed, 8, |(raw, r)| match r {
        Ok(r) => reprove_oci::check::check_reference(&ic.client, r, &ic.platform),
        Err(e) => reprove_oci::check::Verdict::new(
            reprove_oci::check::VerdictCode::UnparsableImage,
            format!("`{raw}`: {e}"),
        ),
    });
    let mut findings = Vec::new();
    let mut unreachable = Vec::new();
    for ((raw, _), v) in parsed.iter().zip(&verdicts) {
        match v.code.severity() {
            0 => {}
            1 => findings.push(format!("{}: `{raw}`: {}", v.code.as_str(), v.message)),
            _ => unreachable.push(format!("{}: `{raw}`: {}", v.code.as_str(), v.message)),
        }
    }
    if findings.is_empty() && !unreachable.is_empty() {
        return CheckResult {
            id: ID,
            status: CheckStatus::Error,
            detail: "a registry could not be asked".into(),
            findings: unreachable,
        };
    }
    findings.extend(unreachable);
    CheckResult::from_findings(
        ID,
        findings,
        format!(
            "{} pinned image(s) still resolve to their digests",
            parsed.len()
        ),
    )
}

fn check_rebuild(
    rc: &RebuildCheck,
    repo: &Repository,
    tag: &Tag,
    subjects: &BTreeMap<String, String>,
    progress: &dyn Fn(&str),
) -> CheckResult {
    const ID: &str = "rebuild";
    // The attested digests play the published set: a SHA256SUMS file of the subjects.
    let sums = match tempfile::Builder::new()
        .prefix("reprove-verify-")
        .suffix(".SHA256SUMS")
        .tempfile()
    {
        Ok(f) => f,
        Err(e) => return CheckResult::new(ID, CheckStatus::Error, e.to_string()),
    };
    let text: String = subjects
        .iter()
        .map(|(n, h)| format!("{h}  {n}\n"))
        .collect();
    if let Err(e) = std::fs::write(sums.path(), text) {
        return CheckResult::new(ID, CheckStatus::Error, e.to_string());
    }
    let opts = reprove_build::Options {
        engine: rc.engine,
        published: Some(sums.path().to_owned()),
        variations: false,
        keep: None,
    };
    match reprove_build::rebuild(repo, tag, &opts, progress) {
        Ok(r) => {
            let findings = crate::pipeline::rebuild_failures(&r);
            CheckResult::from_findings(
                ID,
                findings,
                format!(
                    "rebuilt in {} with {} {}: every artifact matches the provenance",
                    r.image,
                    r.engine.program(),
                    r.engine_version
                ),
            )
        }
        Err(
            e @ (reprove_build::BuildError::BuildFailed { .. }
            | reprove_build::BuildError::TimedOut { .. }
            | reprove_build::BuildError::NoArtifacts { .. }),
        ) => CheckResult {
            id: ID,
            status: CheckStatus::Fail,
            detail: "the rebuild failed".into(),
            findings: vec![format!("build-failed: {e}")],
        },
        Err(e) => CheckResult::new(
            ID,
            CheckStatus::Error,
            reprove_attest::verify::error_chain(&e),
        ),
    }
}

/// The policy the checks embody, as a digestible description: which checks ran, with what
/// requirements.
fn policy_descriptor(report: &VerifyReport, require: usize) -> ResourceDescriptor {
    let ran: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Skipped)
        .map(|c| c.id)
        .collect();
    let text = serde_json::json!({ "checks": ran, "require": require }).to_string();
    let mut d = ResourceDescriptor::named("reprove verify", "sha256", &sha256_of(text.as_bytes()));
    d.name = None;
    d.uri = Some(POLICY_URI.to_owned());
    d
}

/// The SLSA verification summary of a report (<https://slsa.dev/spec/v1.0/verification_summary>).
pub fn summary(
    report: &VerifyReport,
    require: usize,
    time_verified: String,
) -> Statement<VerificationSummary> {
    let passed = report.verdict == VerifyVerdict::Verified;
    let resource_uri = report
        .source_uri
        .clone()
        .unwrap_or_else(|| format!("urn:reprove:release:{}", report.tag));
    let inputs = report
        .input_attestations
        .iter()
        .map(|i| {
            let mut d = ResourceDescriptor::named(i.file.clone(), "sha256", &i.sha256);
            d.uri = Some(i.file.clone());
            d.name = None;
            d
        })
        .collect();
    let predicate = VerificationSummary {
        verifier: Verifier {
            id: VERIFIER_ID.to_owned(),
            version: BTreeMap::from([("reprove".to_owned(), env!("CARGO_PKG_VERSION").to_owned())]),
        },
        time_verified,
        resource_uri,
        policy: policy_descriptor(report, require),
        input_attestations: inputs,
        verification_result: if passed {
            VerificationResult::Passed
        } else {
            VerificationResult::Failed
        },
        // Provenance signed by a key on a machine that is not a hosted build platform is
        // SLSA Build L1; the independent rebuild is stated in the checks, not as a level.
        verified_levels: vec![if passed {
            "SLSA_BUILD_LEVEL_1".to_owned()
        } else {
            "FAILED".to_owned()
        }],
        dependency_levels: BTreeMap::new(),
        slsa_version: "1.0".to_owned(),
    };
    Statement::new(report.subjects.clone(), VSA_V1, predicate)
}
