//! `evidence-index`: every file of the folder against the signed index
//! (`index.sigstore.json`, whose subjects are every file the release wrote).

use std::collections::BTreeMap;
use std::path::Path;

use reprove_attest::signed::StatementError;
use reprove_attest::verify::Signer;
use serde_json::Value;

use super::{CheckResult, CheckStatus, InputAttestation, printable, read_bundle, sha256_subjects};
use crate::{ReleaseError, evidence};

const ID: &str = "evidence-index";

/// The index the folder is checked against: the signed one when there are signers (and then
/// only it), `index.json` as the files claim otherwise.
#[derive(Debug)]
pub(super) struct IndexView {
    pub files: BTreeMap<String, String>,
    pub tag: String,
    pub outcome: String,
    pub failures: Vec<String>,
    signed_by: Option<String>,
}

fn read_signed(
    dir: &Path,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<(IndexView, InputAttestation), String> {
    let (st, input) = match read_bundle(&dir.join(evidence::SIGNED_INDEX), signers, root) {
        Ok(x) => x,
        // Folders written before the index was signed land here too: fail closed, and say how
        // to get a signed one.
        Err(StatementError::File(e)) if e.is_not_found() => {
            return Err(format!(
                "index-unsigned: no `{}`, so the folder's files are not signed as a whole (a folder made by an earlier reprove: re-release with --force)",
                evidence::SIGNED_INDEX
            ));
        }
        Err(e) => return Err(super::statement_finding(evidence::SIGNED_INDEX, &e)),
    };
    if st.get("predicateType").and_then(Value::as_str) != Some(evidence::INDEX_PREDICATE_TYPE) {
        return Err(format!(
            "wrong-predicate: `{}` is not a reprove evidence index",
            evidence::SIGNED_INDEX
        ));
    }
    let p = st.get("predicate").cloned().unwrap_or(Value::Null);
    let text = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok((
        IndexView {
            files: sha256_subjects(&st),
            tag: text("tag"),
            outcome: text("outcome"),
            failures: p
                .get("failures")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect(),
            signed_by: (!signers.is_empty()).then(|| input.signer.clone()),
        },
        input,
    ))
}

fn unsigned(dir: &Path) -> Result<IndexView, String> {
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
        outcome: index.outcome.as_str().to_owned(),
        failures: index.failures,
        signed_by: None,
    })
}

/// Another rebuilder's provenance, dropped into the folder after the release: a top-level
/// `provenance-<name>.sigstore.json` only. Anything deeper is unlisted evidence.
pub(super) fn is_added_provenance(rel: &str) -> bool {
    !rel.contains('/') && rel.starts_with("provenance-") && rel.ends_with(".sigstore.json")
}

pub(super) type IndexCheck = (CheckResult, Option<IndexView>, Option<InputAttestation>);

pub(super) fn check(dir: &Path, signers: &[Signer], root: Option<&str>) -> IndexCheck {
    let fail = |f: String, detail: &str| -> IndexCheck {
        (CheckResult::failed(ID, detail, f), None, None)
    };
    let (index, input) = if signers.is_empty() {
        match unsigned(dir) {
            Ok(i) => (i, None),
            Err(f) => return fail(f, "no usable index"),
        }
    } else {
        match read_signed(dir, signers, root) {
            Ok((i, input)) => (i, Some(input)),
            Err(f) => return fail(f, "no verified index"),
        }
    };
    let found = match evidence::list_files(dir) {
        Ok(f) => f,
        // A FIFO, symlink or device in the folder is not something a release writes: the
        // folder was tampered with, and reading on could hang or never end.
        Err(ReleaseError::EvidenceNotPlain { path, kind }) => {
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            return (
                CheckResult::failed(
                    ID,
                    "the folder holds something other than regular files",
                    format!(
                        "not-regular-file: `{}` is {}; evidence holds only regular files",
                        printable(&rel.display().to_string()),
                        kind.describe()
                    ),
                ),
                Some(index),
                input,
            );
        }
        Err(e) => {
            return (
                CheckResult::new(ID, CheckStatus::Error, printable(&error_chain(&e))),
                Some(index),
                input,
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
        // Further rebuilders' provenance may be added after the release, at the top level.
        if !index.files.contains_key(p) && !is_added_provenance(p) {
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
        printable(&index.outcome)
    );
    (
        CheckResult::from_findings(ID, findings, detail),
        Some(index),
        input,
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    reprove_attest::verify::error_chain(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_top_level_provenance_may_be_added() {
        assert!(is_added_provenance("provenance-alice.sigstore.json"));
        assert!(!is_added_provenance(
            "provenance-x/deep/anything.sigstore.json"
        ));
        assert!(!is_added_provenance(
            "explanations/provenance-x.sigstore.json"
        ));
        assert!(!is_added_provenance("provenance-x.json"));
    }
}
