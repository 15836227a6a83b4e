//! `reprove verify`: the auditor's check of a release's evidence, offline by default.
//!
//! Every check has a stable id and ends `pass`, `fail`, `skipped` (with the reason) or
//! `error` (could not run). Nothing in the evidence folder is trusted before its signature
//! is checked: statements are read through [`reprove_attest::signed`] from the verified DSSE
//! payloads, never from a file beside them. The verdict fails closed: any `fail` is a failed
//! verification, any `error` means it could not be completed.
//!
//! One module per group of checks:
//! - [`index`]: `evidence-index` — the folder against its signed index;
//! - [`provenance`]: `provenance-signature` (k-of-n) and `baseline-provenance-agree`, with the
//!   one agreement test every counted provenance passes;
//! - [`artifacts`]: `artifact-digests` — the downloaded files against the provenance subjects;
//! - [`checks`]: `release-tag`, `project-source`, `tag-commit`, `change-policy`,
//!   `image-pins`, `rebuild`;
//! - [`summary`]: the SLSA verification summary (VSA).

mod artifacts;
mod checks;
pub(crate) mod codes;
mod index;
mod provenance;
mod summary;

use codes::found;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reprove_attest::ResourceDescriptor;
use reprove_attest::signed::{
    SignedStatement, StatementError, read_statement_file, statement_from_bytes,
};
use reprove_attest::verify::Signer;
use reprove_baseline::BaselineView;
use reprove_oci::registry::RegistryClient;
use reprove_source::{Repository, Tag};
use serde::Serialize;
use serde_json::Value;

use crate::evidence;
use crate::provenance::ProvenanceView;

pub use artifacts::{Artifacts, PublishedImages};
pub use checks::{image_check_pub, normalize_source, tag_check};
pub use codes::{FindingCode, finding};
pub use index::{
    MAX_ADDED_PROVENANCE, MAX_EVIDENCE_FILE, document_cap, is_added_provenance, signed_index_files,
};
pub use provenance::agreement as provenance_agreement;
pub use summary::{POLICY_URI, VERIFIER_ID, summary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Skipped,
    /// Could not run (exit 2 unless something failed).
    Error,
    Fail,
}

/// The stable id of a check (`verify --format json`, JUnit test names, the VSA's policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    EvidenceIndex,
    BaselineSignature,
    ProvenanceSignature,
    ArtifactDigests,
    BaselineProvenanceAgree,
    SoupClosure,
    ReleaseTag,
    ProjectSource,
    TagCommit,
    ChangePolicy,
    ImagePins,
    Rebuild,
}

impl CheckId {
    /// Every check, in the order `verify` runs them.
    pub const ALL: [CheckId; 12] = [
        CheckId::EvidenceIndex,
        CheckId::BaselineSignature,
        CheckId::ProvenanceSignature,
        CheckId::ArtifactDigests,
        CheckId::BaselineProvenanceAgree,
        CheckId::SoupClosure,
        CheckId::ReleaseTag,
        CheckId::ProjectSource,
        CheckId::TagCommit,
        CheckId::ChangePolicy,
        CheckId::ImagePins,
        CheckId::Rebuild,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::EvidenceIndex => "evidence-index",
            CheckId::BaselineSignature => "baseline-signature",
            CheckId::ProvenanceSignature => "provenance-signature",
            CheckId::ArtifactDigests => "artifact-digests",
            CheckId::BaselineProvenanceAgree => "baseline-provenance-agree",
            CheckId::SoupClosure => "soup-closure",
            CheckId::ReleaseTag => "release-tag",
            CheckId::ProjectSource => "project-source",
            CheckId::TagCommit => "tag-commit",
            CheckId::ChangePolicy => "change-policy",
            CheckId::ImagePins => "image-pins",
            CheckId::Rebuild => "rebuild",
        }
    }

    /// What the check establishes, one line (the README's table of checks says the same).
    pub fn about(self) -> &'static str {
        match self {
            CheckId::EvidenceIndex => {
                "the evidence folder holds exactly the files its signed index lists, byte for byte"
            }
            CheckId::BaselineSignature => {
                "the configuration baseline is signed by the release signer"
            }
            CheckId::ProvenanceSignature => {
                "enough independent signers attest the rebuild (k-of-n provenance)"
            }
            CheckId::ArtifactDigests => {
                "every published file has the digest the provenance attests"
            }
            CheckId::BaselineProvenanceAgree => {
                "the provenance was built as the baseline says: commit, image, recipe, no network"
            }
            CheckId::SoupClosure => {
                "the SOUP register and the dependencies the build was given are the same set (IEC 62304 §8.1.2)"
            }
            CheckId::ReleaseTag => "every signed statement is for the tag asked about",
            CheckId::ProjectSource => {
                "the statements name the product and source repository the auditor expects"
            }
            CheckId::TagCommit => "the tag still points at the signed commit",
            CheckId::ChangePolicy => "every change policy switched on in reprove.toml holds",
            CheckId::ImagePins => {
                "every pinned image still resolves to its digest (--check-images)"
            }
            CheckId::Rebuild => "a fresh rebuild gives the attested digests (--rebuild)",
        }
    }
}

impl std::str::FromStr for CheckId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown check `{s}`"))
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so `{:w$}` columns line up as they did for the plain strings.
        f.pad(self.as_str())
    }
}

/// One check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: CheckId,
    pub status: CheckStatus,
    pub detail: String,
    /// Each problem found, with its finding code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<codes::Finding>,
}

impl CheckResult {
    pub fn new(id: CheckId, status: CheckStatus, detail: impl Into<String>) -> Self {
        CheckResult {
            id,
            status,
            detail: detail.into(),
            findings: Vec::new(),
        }
    }

    pub fn from_findings(
        id: CheckId,
        findings: Vec<codes::Finding>,
        ok: impl Into<String>,
    ) -> Self {
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

    fn failed(id: CheckId, detail: impl Into<String>, finding: codes::Finding) -> Self {
        CheckResult {
            id,
            status: CheckStatus::Fail,
            detail: detail.into(),
            findings: vec![finding],
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
    pub engine: reprove_build::EngineChoice,
    /// How the fetch phase runs here, when the recipe has one.
    pub fetch: reprove_build::FetchOptions,
}

#[derive(Debug)]
pub struct Options<'a> {
    pub tag: Tag,
    pub evidence: PathBuf,
    /// Which published bytes to check against the provenance subjects.
    pub artifacts: Artifacts,
    /// Published images to resolve in their registry and check against the image subjects.
    pub published_images: Option<PublishedImages>,
    /// The release signers (`--key`, or the identity): the index, the baseline and the
    /// release's own provenance must verify with one of them.
    pub signers: Vec<Signer>,
    /// Further rebuilders (`--rebuilder-key`): their provenance counts toward `require`; they
    /// cannot sign for the release itself.
    pub rebuilders: Vec<Signer>,
    /// How many independent provenance signers must agree (k-of-n).
    pub require: usize,
    pub trusted_root: Option<String>,
    /// The product the auditor is checking: the signed baseline and provenance must name it.
    pub project: Option<String>,
    /// The source repository the auditor expects (`github.com/org/repo`, any URL form).
    pub source_uri: Option<String>,
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
    /// Which given signer verified it (`key <hint>` or the identity): the role, compared for
    /// k-of-n.
    pub signer: String,
    /// The certificate's identity, for keyless bundles: who signed, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_as: Option<String>,
}

impl InputAttestation {
    /// The signer for people: the role, and the certificate's identity when a pattern
    /// matched it (an exact identity is its own).
    pub fn signer_shown(&self) -> String {
        match &self.signed_as {
            Some(id) if !self.signer.starts_with(id.as_str()) => {
                format!("{} as {}", self.signer, printable(id))
            }
            _ => self.signer.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyVerdict {
    Verified,
    /// Every check that ran passed, but the user said `--no-artifacts`: the evidence is
    /// genuine, and no published byte was compared with it.
    VerifiedNoArtifactsChecked,
    Failed,
    CouldNotCheck,
}

impl VerifyVerdict {
    /// The verdict in words, as every output channel prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyVerdict::Verified => "verified",
            VerifyVerdict::VerifiedNoArtifactsChecked => "verified, no artifacts checked",
            VerifyVerdict::Failed => "FAILED",
            VerifyVerdict::CouldNotCheck => "could not check",
        }
    }

    /// Both forms of "the evidence holds".
    pub fn is_verified(self) -> bool {
        matches!(
            self,
            VerifyVerdict::Verified | VerifyVerdict::VerifiedNoArtifactsChecked
        )
    }
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
    /// Which of them were compared with published bytes (all, some with `--artifact`, none
    /// with `--no-artifacts`).
    pub artifacts_checked: Vec<String>,
    pub input_attestations: Vec<InputAttestation>,
    /// `git+…@refs/tags/<tag>` from the provenance, when it names a repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    /// `[project] name` as the signed baseline records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The verified baseline statement, for reports built on this verification.
    #[serde(skip)]
    pub baseline: Option<Value>,
    /// The same baseline read into its view (read once, here).
    #[serde(skip)]
    pub baseline_view: Option<BaselineView>,
    /// The verified provenance statement (the primary one).
    #[serde(skip)]
    pub provenance: Option<Value>,
    /// The signed index's outcome (`released`, `failed`), when the index was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `index.json`, from the bytes that matched the (signed, with a key) index.
    #[serde(skip)]
    pub index_json: Option<crate::evidence::Index>,
    /// `rebuild-report.json`, from the bytes that matched the index.
    #[serde(skip)]
    pub rebuild_report: Option<Value>,
    /// Whether the release's own provenance file is in the folder (verified or not).
    #[serde(skip)]
    pub provenance_present: bool,
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
    pub fn check(&self, id: CheckId) -> Option<&CheckResult> {
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
            _ if self.artifacts_checked.is_empty() => VerifyVerdict::VerifiedNoArtifactsChecked,
            _ => VerifyVerdict::Verified,
        };
    }
}

/// Reads one bundle of the folder, from the bytes read once ([`index::Folder`]), with the
/// given signers (unverified without any).
fn read_bundle(
    folder: &index::Folder,
    name: &str,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<(Value, InputAttestation), StatementError> {
    let bytes = folder.doc(name)?;
    let SignedStatement {
        statement,
        file_sha256,
        verified_by,
        certificate_identity,
        ..
    } = statement_from_bytes(bytes, signers, root)?;
    Ok((
        statement,
        InputAttestation {
            file: printable(name),
            sha256: file_sha256,
            signer: verified_by.unwrap_or_else(|| "NOT CHECKED".to_owned()),
            signed_as: certificate_identity,
        },
    ))
}

/// `code: `file`: reason` for a bundle that did not yield a statement.
fn statement_finding(file: &str, e: &StatementError) -> codes::Finding {
    codes::Finding::other(
        e.code(),
        format!("`{}`: {}", printable(file), printable(&e.to_string())),
    )
}

fn sha256_subjects(st: &Value) -> BTreeMap<String, String> {
    subjects_by_name(st, |s| s.get("digest")?.get("sha256"))
}

/// Each subject's value at `field` (a string), by subject name.
fn subjects_by_name(
    st: &Value,
    field: impl Fn(&Value) -> Option<&Value>,
) -> BTreeMap<String, String> {
    st.get("subject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s.get("name")?.as_str()?.to_owned(),
                field(s)?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Each subject's `mediaType`, by name, where it has one (images).
fn subject_media_types(st: &Value) -> BTreeMap<String, String> {
    subjects_by_name(st, |s| s.get("mediaType"))
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |cur, p| cur.get(p))?.as_str()
}

/// Reads a bundle's statement WITHOUT checking its signature — for reports made without a
/// key, which say so. Still strict: a confused bundle or a non-regular file yields nothing.
pub fn read_unverified(path: &Path) -> Option<Value> {
    read_statement_file(path, &[], None)
        .ok()
        .map(|s| s.statement)
}

/// Control characters in a name from the folder would let it rewrite the terminal or break
/// XML: show them escaped.
pub fn printable(s: &str) -> String {
    reprove_escape::terminal(s)
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
        artifacts_checked: Vec::new(),
        input_attestations: Vec::new(),
        source_uri: None,
        project: None,
        baseline: None,
        baseline_view: None,
        provenance: None,
        outcome: None,
        index_json: None,
        rebuild_report: None,
        provenance_present: false,
        signatures_checked: !opts.signers.is_empty(),
    };
    if !opts.evidence.is_dir() {
        report.checks.push(CheckResult::new(
            CheckId::EvidenceIndex,
            CheckStatus::Error,
            format!(
                "`{}` is not a folder",
                printable(&opts.evidence.display().to_string())
            ),
        ));
        report.decide();
        return report;
    }
    progress("checking the evidence folder against its index");
    let unkeyed = opts.signers.is_empty();
    let folder = index::read_folder(&opts.evidence);
    let ic = index::check(&opts.evidence, &folder, &opts.signers, root);
    report.checks.push(ic.check);
    if let Some(i) = ic.input {
        report.input_attestations.push(i);
    }
    let index = ic.index;
    report.outcome = index.as_ref().map(|i| i.outcome.clone());
    report.provenance_present = folder.entries.contains_key(evidence::PROVENANCE);
    // The plain documents, only as the index vouches for them.
    let vouched = |name: &str| -> Option<&[u8]> {
        if ic.matched.contains(name) {
            folder.doc(name).ok()
        } else {
            None
        }
    };
    report.index_json =
        vouched(evidence::INDEX).and_then(|b| reprove_attest::json::from_slice(b).ok());
    report.rebuild_report =
        vouched(evidence::REBUILD_REPORT).and_then(|b| reprove_attest::json::parse(b).ok());

    // Baseline.
    progress("verifying the baseline signature");
    let baseline = match read_bundle(&folder, evidence::BASELINE, &opts.signers, root) {
        Ok((st, input)) => match BaselineView::from_value(&st) {
            // Read once into its typed view: every check below works on the same reading.
            Ok(view) => {
                report.checks.push(if unkeyed {
                    CheckResult::new(
                        CheckId::BaselineSignature,
                        CheckStatus::Skipped,
                        "NOT CHECKED: no key or identity given",
                    )
                } else {
                    CheckResult::new(
                        CheckId::BaselineSignature,
                        CheckStatus::Pass,
                        format!("`{}` signed by {}", input.file, input.signer_shown()),
                    )
                });
                report.input_attestations.push(input);
                Some((st, view))
            }
            Err(reason) => {
                report.checks.push(CheckResult::failed(
                    CheckId::BaselineSignature,
                    "not a reprove baseline",
                    found!(
                        FindingCode::WrongPredicate,
                        "`{}` is not a reprove baseline: {}",
                        evidence::BASELINE,
                        printable(&reason)
                    ),
                ));
                None
            }
        },
        Err(e) => {
            report.checks.push(CheckResult::failed(
                CheckId::BaselineSignature,
                format!("`{}` does not verify", evidence::BASELINE),
                statement_finding(evidence::BASELINE, &e),
            ));
            None
        }
    };

    // Provenance, k-of-n, every counted one agreeing with the baseline.
    progress("verifying the provenance signatures");
    let (baseline, baseline_view) = match baseline {
        Some((st, mut view)) => {
            // A tag without a `[build]` of its own was built with the evidence's recipe
            // (`release --recipe`), when the signed index vouches for it.
            if let Some(bytes) = vouched(evidence::RECIPE) {
                view.attach_external_recipe(bytes);
            }
            (Some(st), Some(view))
        }
        None => (None, None),
    };
    let counted = provenance::check(opts, &folder, baseline_view.as_ref(), index.as_ref());
    report.checks.push(counted.check);
    report.input_attestations.extend(counted.inputs);
    let provenance = counted.primary;
    // A provenance that does not read as reprove's is read as naming nothing: every check
    // that needs what it names then fails.
    let provenance_view = provenance
        .as_ref()
        .map(|p| ProvenanceView::from_value(p).unwrap_or_default());
    if let Some(p) = &provenance {
        report.subjects = sha256_subjects(p)
            .into_iter()
            .map(|(n, h)| ResourceDescriptor::named(n, "sha256", &h))
            .collect();
        report.source_uri = provenance::dependency(p, "source")
            .and_then(|d| d.get("uri"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }

    // Artifacts against the provenance subjects.
    progress("hashing the artifacts");
    let (artifact_check, checked) = artifacts::check(
        &opts.artifacts,
        opts.published_images.as_ref(),
        provenance.as_ref(),
    );
    report.checks.push(artifact_check);
    report.artifacts_checked = checked;

    // Baseline and provenance describe the same release, built the same way.
    report.checks.push(match (&baseline_view, &provenance) {
        (Some(b), Some(p)) => provenance::agreement_check(b, p),
        // Not run: the statement that failed its own check already fails the verdict; a
        // second FAIL for the same cause would only bury it.
        _ => CheckResult::new(
            CheckId::BaselineProvenanceAgree,
            CheckStatus::Skipped,
            "not checked: needs both a verified baseline and a verified provenance",
        ),
    });

    // The SOUP register and the build's fetched inputs are the same set.
    report.checks.push(match (&baseline_view, &provenance) {
        (Some(b), Some(p)) => provenance::soup_closure(b, p),
        // Nothing to close: the missing statement already fails its own check (a release that
        // failed has no provenance, and is reported as failed, not as invalid).
        _ => CheckResult::new(
            CheckId::SoupClosure,
            CheckStatus::Skipped,
            "needs both a verified baseline and a verified provenance",
        ),
    });

    // Every statement is about the tag asked for (a folder of another release, with valid
    // signatures, must not pass as this one).
    report.checks.push(checks::release_tag(
        opts.tag.as_str(),
        baseline_view.as_ref(),
        provenance_view.as_ref(),
        index
            .as_ref()
            .map(|i| (i.tag.as_str(), i.commit.as_str(), i.outcome.as_str())),
    ));

    // …and about the product the auditor names.
    let (product_check, project) = checks::project_source(
        opts.project.as_deref(),
        opts.source_uri.as_deref(),
        baseline_view.as_ref(),
        provenance_view.as_ref(),
    );
    report.checks.push(product_check);
    report.project = project;

    // The tag still names the commit.
    report.checks.push(match (&baseline_view, opts.repo) {
        (_, None) => CheckResult::new(
            CheckId::TagCommit,
            CheckStatus::Skipped,
            "no git repository here (run inside a clone, or with -C DIR, to check the tag)",
        ),
        (None, Some(_)) => CheckResult::new(
            CheckId::TagCommit,
            CheckStatus::Skipped,
            "not checked: no verified baseline to compare the tag with",
        ),
        (Some(b), Some(repo)) => checks::tag(repo, &opts.tag, b),
    });

    // The change policy recorded in the signed baseline.
    report.checks.push(match &baseline_view {
        Some(b) => checks::policy(b),
        None => CheckResult::new(
            CheckId::ChangePolicy,
            CheckStatus::Skipped,
            "not checked: no verified baseline to read the policy from",
        ),
    });

    report.checks.push(match (&opts.images, &baseline_view) {
        (None, _) => CheckResult::new(
            CheckId::ImagePins,
            CheckStatus::Skipped,
            "offline; --check-images asks the registries",
        ),
        (Some(_), None) => CheckResult::new(
            CheckId::ImagePins,
            CheckStatus::Skipped,
            "not checked: no verified baseline to read the images from",
        ),
        (Some(ic), Some(b)) => {
            progress("checking image pins against their registries");
            checks::images(ic, b)
        }
    });

    report
        .checks
        .push(match (&opts.rebuild, opts.repo, &provenance) {
            (None, _, _) => CheckResult::new(
                CheckId::Rebuild,
                CheckStatus::Skipped,
                "--rebuild rebuilds the tag and compares",
            ),
            (Some(_), None, _) => CheckResult::new(
                CheckId::Rebuild,
                CheckStatus::Error,
                "--rebuild needs the repository (run inside a clone, or with -C DIR)",
            ),
            (Some(_), Some(_), None) => CheckResult::new(
                CheckId::Rebuild,
                CheckStatus::Fail,
                "no verified provenance to compare the rebuild with",
            ),
            // The recipe run comes from the baseline: only a signed one may say what runs.
            (Some(_), Some(_), Some(_)) if unkeyed => CheckResult::new(
                CheckId::Rebuild,
                CheckStatus::Error,
                "--rebuild runs the recipe the signed baseline records: give a key or identity",
            ),
            (Some(rc), Some(repo), Some(p)) => {
                progress("rebuilding the tag");
                checks::rebuild(
                    rc,
                    repo,
                    &opts.tag,
                    baseline_view.as_ref(),
                    p,
                    match &opts.artifacts {
                        Artifacts::Folder(dir) => Some(dir.as_path()),
                        _ => None,
                    },
                    progress,
                )
            }
        });
    report.baseline = baseline;
    report.baseline_view = baseline_view;
    report.provenance = provenance;
    report.decide();
    report
}

#[cfg(test)]
mod tests;
