//! `artifact-digests`: the published bytes against the provenance subjects.
//!
//! A folder (`--artifacts DIR`) is checked as a whole: every entry counts, and an entry that
//! is not a regular file — a subfolder, a symlink (never followed), a FIFO, a device — is an
//! `unattested-artifact`, never skipped. Single files (`--artifact FILE`, as slsa-verifier's
//! `--artifact-path`) are each matched to the subject of their name; the release's other
//! subjects are then not required.
//!
//! Images (`--artifacts oci://REGISTRY/REPOSITORY:TAG` or `@sha256:…`) are resolved in their
//! registry now, and the digest served must be one an image subject attests
//! (`REPOSITORY@sha256:…`, [`reprove_build::image`]); a tag that moved to other bytes is an
//! `unattested-artifact`, an image gone from its registry a `missing-artifact`. Image subjects
//! are never looked for among files.

use super::codes::found;
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::codes::FindingCode;
use super::{CheckId, CheckResult, CheckStatus, printable, sha256_subjects};

const ID: CheckId = CheckId::ArtifactDigests;

/// Which published bytes `verify` compares with the provenance.
#[derive(Debug, Clone)]
pub enum Artifacts {
    /// A folder of downloaded release assets: all of them, and nothing else.
    Folder(PathBuf),
    /// These files, each by its file name.
    Files(Vec<PathBuf>),
    /// None (`--no-artifacts`, and `status`): the verdict says so.
    NotChecked,
}

/// Published images to resolve and compare with the image subjects.
#[derive(Debug)]
pub struct PublishedImages {
    pub client: reprove_oci::registry::RegistryClient,
    pub images: Vec<crate::image::ImageArtifact>,
}

/// The check that could not run (exit 2), with why; no subject was compared.
fn could_not_check(detail: impl Into<String>) -> (CheckResult, Vec<String>) {
    (CheckResult::new(ID, CheckStatus::Error, detail), Vec::new())
}

/// The subjects that name files: every subject but those that read as images
/// (`REPOSITORY@sha256:…` with their own digest). One shaped like an image that does not read
/// as one stays a file subject, which no folder holds: it fails, never skipped.
fn file_subjects(provenance: &Value) -> BTreeMap<String, String> {
    sha256_subjects(provenance)
        .into_iter()
        .filter(|(n, h)| reprove_build::image::parse_image_subject(n, h).is_none())
        .collect()
}

/// The image subjects: subject name by digest (`sha256:…`).
fn image_subjects(provenance: &Value) -> BTreeMap<String, String> {
    sha256_subjects(provenance)
        .into_iter()
        .filter_map(|(n, h)| {
            reprove_build::image::parse_image_subject(&n, &h).map(|(_, d)| (d.to_string(), n))
        })
        .collect()
}

/// Runs the check over files and images; also returns the names of the subjects whose bytes
/// were compared.
pub(super) fn check(
    artifacts: &Artifacts,
    images: Option<&PublishedImages>,
    provenance: Option<&Value>,
) -> (CheckResult, Vec<String>) {
    let Some(images) = images.filter(|i| !i.images.is_empty()) else {
        let (mut r, checked) = check_files(artifacts, provenance);
        // Files checked, images attested beside them: the verdict says they were not.
        let unchecked = provenance.map(image_subjects).unwrap_or_default().len();
        if r.status == CheckStatus::Pass && unchecked > 0 {
            r.detail.push_str(&format!(
                "; {unchecked} attested image(s) not checked (give --artifacts oci://REGISTRY/REPOSITORY:TAG)"
            ));
        }
        return (r, checked);
    };
    let Some(p) = provenance else {
        return check_files(artifacts, None);
    };
    let (mut findings, mut checked, mut ok) = match artifacts {
        Artifacts::NotChecked => (Vec::new(), Vec::new(), Vec::new()),
        a => {
            let (r, c) = check_files(a, provenance);
            match r.status {
                CheckStatus::Pass => (Vec::new(), c, vec![r.detail]),
                CheckStatus::Fail => (r.findings, c, Vec::new()),
                _ => return (r, Vec::new()),
            }
        }
    };
    let attested = image_subjects(p);
    let mut images_ok = Vec::new();
    for image in &images.images {
        let shown = printable(&image.to_string());
        let served = match image.fetch(&images.client) {
            Ok(m) => m,
            Err(crate::ReleaseError::ImageNotFound { .. }) => {
                findings.push(
                    found!(
                        FindingCode::MissingArtifact,
                        "`{shown}` is not in its registry"
                    )
                    .about(&image.to_string()),
                );
                continue;
            }
            Err(e) => {
                return could_not_check(printable(&reprove_attest::verify::error_chain(&e)));
            }
        };
        let digest = served.digest.to_string();
        match attested.get(&digest) {
            Some(subject) => {
                checked.push(subject.clone());
                images_ok.push(format!("`{shown}` is `{digest}`"));
            }
            None => findings.push(
                found!(
                    FindingCode::UnattestedArtifact,
                    "`{shown}` is served as `{digest}`, which no provenance subject attests{}",
                    if attested.is_empty() {
                        " (the provenance attests no image)".to_owned()
                    } else {
                        format!(
                            " (attested: {})",
                            attested
                                .values()
                                .map(|n| format!("`{}`", printable(n)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )
                .about(&image.to_string())
                .compared(
                    attested.keys().cloned().collect::<Vec<_>>().join(" "),
                    digest.clone(),
                ),
            ),
        }
    }
    ok.push(format!(
        "{} image(s) served as attested: {}",
        images_ok.len(),
        images_ok.join(", ")
    ));
    if matches!(artifacts, Artifacts::NotChecked) && !file_subjects(p).is_empty() {
        ok.push("the attested files were not checked (give --artifacts DIR)".to_owned());
    }
    if !findings.is_empty() {
        checked.clear();
    }
    (
        CheckResult::from_findings(ID, findings, ok.join("; ")),
        checked,
    )
}

fn check_files(artifacts: &Artifacts, provenance: Option<&Value>) -> (CheckResult, Vec<String>) {
    let subjects = provenance.map(file_subjects);
    match (artifacts, subjects) {
        (Artifacts::NotChecked, _) => (
            CheckResult::new(
                ID,
                CheckStatus::Skipped,
                "NO ARTIFACTS CHECKED: the evidence was verified, not the published files",
            ),
            Vec::new(),
        ),
        (_, None) => (
            CheckResult::new(
                ID,
                CheckStatus::Fail,
                "no verified provenance to check the artifacts against",
            ),
            Vec::new(),
        ),
        (Artifacts::Folder(dir), Some(subjects)) => folder(dir, &subjects),
        (Artifacts::Files(files), Some(subjects)) => single_files(files, &subjects),
    }
}

fn folder(
    dir: &std::path::Path,
    subjects: &BTreeMap<String, String>,
) -> (CheckResult, Vec<String>) {
    let shown_dir = printable(&dir.display().to_string());
    if !dir.is_dir() {
        return could_not_check(format!(
            "`{shown_dir}` is not a folder: --artifacts names the folder of downloaded files, whose bytes are hashed (--artifact FILE checks single files)"
        ));
    }
    // Listed without reading: only files a subject names are hashed, so a planted sparse
    // terabyte costs nothing.
    let set = match reprove_digest::list_flat_folder(dir) {
        Ok(p) => p,
        Err(e) => {
            return could_not_check(printable(&reprove_attest::verify::error_chain(&e)));
        }
    };
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    for (name, want) in subjects {
        let Some((path, size)) = set.files.get(name) else {
            findings.push(
                found!(
                    FindingCode::MissingArtifact,
                    "`{}` is attested but not in `{shown_dir}`",
                    printable(name)
                )
                .at(name),
            );
            continue;
        };
        match reprove_digest::sha256_file_sized(path, Some(*size)) {
            Ok((d, _)) if d.hex() != *want => findings.push(
                found!(
                    FindingCode::DigestMismatch,
                    "`{}` has sha256:{} but the provenance attests sha256:{want}",
                    printable(name),
                    d.hex()
                )
                .at(name)
                .compared(format!("sha256:{want}"), format!("sha256:{}", d.hex())),
            ),
            Ok(_) => checked.push(name.clone()),
            Err(e) => findings.push(
                found!(
                    FindingCode::DigestMismatch,
                    "`{}` could not be read as it was listed: {}",
                    printable(name),
                    printable(&e.to_string())
                )
                .at(name),
            ),
        }
    }
    for name in set.files.keys() {
        if !subjects.contains_key(name) {
            findings.push(
                found!(
                    FindingCode::UnattestedArtifact,
                    "`{}` is in `{shown_dir}` but no provenance subject names it",
                    printable(name)
                )
                .at(name),
            );
        }
    }
    for other in &set.others {
        findings.push(
            found!(
                FindingCode::UnattestedArtifact,
                "`{}` in `{shown_dir}` is {}, not a release file (never followed or read)",
                printable(&other.name),
                other.what
            )
            .at(&other.name),
        );
    }
    let ok = format!(
        "{} artifact(s) match the provenance subjects",
        subjects.len()
    );
    if !findings.is_empty() {
        checked.clear();
    }
    (CheckResult::from_findings(ID, findings, ok), checked)
}

fn single_files(
    files: &[PathBuf],
    subjects: &BTreeMap<String, String>,
) -> (CheckResult, Vec<String>) {
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        let shown = printable(&f.display().to_string());
        let Some(name) = f.file_name().and_then(|n| n.to_str()) else {
            findings.push(found!(
                FindingCode::UnattestedArtifact,
                "`{shown}` has no file name a subject can carry"
            ));
            continue;
        };
        if !seen.insert(name.to_owned()) {
            return could_not_check(format!(
                "two --artifact files are named `{}`",
                printable(name)
            ));
        }
        let have = match reprove_digest::sha256_file(f) {
            Ok((d, _)) => d.hex(),
            Err(e) => {
                return could_not_check(printable(&e.to_string()));
            }
        };
        match subjects.get(name) {
            None => findings.push(
                found!(
                    FindingCode::UnattestedArtifact,
                    "`{}` is not named by any provenance subject",
                    printable(name)
                )
                .at(name),
            ),
            Some(want) if *want != have => findings.push(
                found!(
                    FindingCode::DigestMismatch,
                    "`{}` has sha256:{have} but the provenance attests sha256:{want}",
                    printable(name)
                )
                .at(name)
                .compared(format!("sha256:{want}"), format!("sha256:{have}")),
            ),
            Some(_) => checked.push(name.to_owned()),
        }
    }
    let ok = format!(
        "{} of the {} attested artifact(s) checked, and they match: {}",
        checked.len(),
        subjects.len(),
        checked
            .iter()
            .map(|n| printable(n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !findings.is_empty() {
        checked.clear();
    }
    (CheckResult::from_findings(ID, findings, ok), checked)
}
