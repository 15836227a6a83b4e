//! The evidence folder as `verify` reads it, and `evidence-index`: every file against the
//! signed index (`index.sigstore.json`, whose subjects are every file the release wrote, each
//! with its size).
//!
//! The folder is listed once without reading anything ([`evidence::scan`]); a non-regular
//! entry or a folder nested too deep stops it. The small documents — the bundles,
//! `index.json`, `rebuild-report.json` — are then read once each, capped by role, and those
//! very bytes are both hashed against the index and the ones whose statements are read: a file
//! swapped between the two is not a way in. Other files are hashed only when the index lists
//! them, and only when their size is the one it records.

use super::codes::{Finding, found};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reprove_attest::signed::StatementError;
use reprove_attest::verify::Signer;
use reprove_digest::FileError;
use serde_json::Value;

use super::codes::FindingCode;
use super::{CheckId, CheckResult, InputAttestation, printable, read_bundle};
use crate::{ReleaseError, evidence};

const ID: CheckId = CheckId::EvidenceIndex;

/// The largest evidence file hashed (rebuilt artifacts kept on a mismatch are the big ones).
pub const MAX_EVIDENCE_FILE: u64 = 64 << 30;

/// Other rebuilders' provenance read from one folder at most; more are listed, not read.
pub const MAX_ADDED_PROVENANCE: usize = 32;

/// The most a document of each role may weigh: a baseline lists every file of the tree; the
/// index, provenance and VSA are a few kilobytes.
fn cap_for(name: &str) -> u64 {
    match name {
        evidence::BASELINE => reprove_attest::signed::MAX_BUNDLE_BYTES,
        evidence::REBUILD_REPORT => 16 << 20,
        _ => 8 << 20,
    }
}

/// The folder, listed and with its documents read.
#[derive(Debug, Default)]
pub(super) struct Folder {
    /// Every regular file: relative path → size.
    pub entries: BTreeMap<String, u64>,
    /// The documents, read once (or why not).
    pub docs: BTreeMap<String, Result<Vec<u8>, FileError>>,
    /// Why the folder could not be listed: `code: message`.
    pub problem: Option<Finding>,
    /// Added provenance beyond [`MAX_ADDED_PROVENANCE`], not read.
    pub skipped: Vec<String>,
}

impl Folder {
    /// The bytes of a document, or why there are none (a missing file is `NotFound`).
    pub fn doc(&self, name: &str) -> Result<&[u8], StatementError> {
        match self.docs.get(name) {
            Some(Ok(b)) => Ok(b),
            Some(Err(e)) => Err(StatementError::File(clone_file_error(e))),
            None => Err(StatementError::File(FileError::Io {
                path: name.into(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })),
        }
    }

    /// Top-level added provenance that was read, sorted.
    pub fn added_provenance(&self) -> Vec<&str> {
        self.docs
            .keys()
            .map(String::as_str)
            .filter(|n| is_added_provenance(n))
            .collect()
    }
}

fn clone_file_error(e: &FileError) -> FileError {
    match e {
        FileError::NotRegular { path, kind } => FileError::NotRegular {
            path: path.clone(),
            kind: *kind,
        },
        FileError::TooLarge { path, size, cap } => FileError::TooLarge {
            path: path.clone(),
            size: *size,
            cap: *cap,
        },
        FileError::Io { path, source } => FileError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
    }
}

/// Lists `dir` and reads its documents.
pub(super) fn read_folder(dir: &Path) -> Folder {
    let mut folder = Folder::default();
    match evidence::scan(dir) {
        Ok(entries) => {
            folder.entries = entries.into_iter().map(|e| (e.path, e.size)).collect();
        }
        // A FIFO, symlink or device in the folder is not something a release writes: the
        // folder was tampered with, and reading on could hang or never end.
        Err(ReleaseError::EvidenceNotPlain { path, kind }) => {
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            folder.problem = Some(found!(
                FindingCode::NotRegularFile,
                "`{}` is {}; evidence holds only regular files",
                printable(&rel),
                kind.describe()
            ));
        }
        Err(ReleaseError::EvidenceTooDeep { path }) => {
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            folder.problem = Some(found!(
                FindingCode::NotRegularFile,
                "`{}` is nested deeper than {} folders",
                printable(&rel),
                evidence::MAX_DEPTH
            ));
        }
        Err(e) => {
            folder.problem = Some(found!(
                FindingCode::Unreadable,
                "{}",
                printable(&reprove_attest::verify::error_chain(&e))
            ));
        }
    }
    let mut names: Vec<&str> = vec![
        evidence::SIGNED_INDEX,
        evidence::INDEX,
        evidence::BASELINE,
        evidence::PROVENANCE,
        evidence::REBUILD_REPORT,
        evidence::RECIPE,
    ];
    let added: Vec<String> = folder
        .entries
        .keys()
        .filter(|n| is_added_provenance(n))
        .cloned()
        .collect();
    for (i, n) in added.iter().enumerate() {
        if i < MAX_ADDED_PROVENANCE {
            names.push(n);
        } else {
            folder.skipped.push(n.clone());
        }
    }
    for name in names {
        // Only what the listing saw as a regular file is opened (and opening checks again).
        if folder.problem.is_none() && !folder.entries.contains_key(name) {
            continue;
        }
        let read = reprove_digest::read_regular(&dir.join(name), cap_for(name));
        if matches!(&read, Err(e) if e.is_not_found()) {
            continue;
        }
        folder.docs.insert(name.to_owned(), read);
    }
    folder
}

/// The index the folder is checked against: the signed one when there are signers (and then
/// only it), `index.json` as the files claim otherwise.
#[derive(Debug)]
pub(super) struct IndexView {
    pub files: BTreeMap<String, String>,
    sizes: BTreeMap<String, u64>,
    pub tag: String,
    pub commit: String,
    pub outcome: String,
    pub failures: Vec<String>,
    signed_by: Option<String>,
}

/// The files a signed index names: path → sha256, and path → size where it says.
fn subjects(st: &Value) -> (BTreeMap<String, String>, BTreeMap<String, u64>) {
    let mut files = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    for s in st
        .get("subject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(sha)) = (
            s.get("name").and_then(Value::as_str),
            s.get("digest")
                .and_then(|d| d.get("sha256"))
                .and_then(Value::as_str),
        ) else {
            continue;
        };
        files.insert(name.to_owned(), sha.to_owned());
        if let Some(size) = s
            .get("annotations")
            .and_then(|a| a.get("size"))
            .and_then(Value::as_u64)
        {
            sizes.insert(name.to_owned(), size);
        }
    }
    (files, sizes)
}

/// What a verified `index.sigstore.json` vouches for, before the files are at hand: each
/// file's sha256 and, where the index says, its size. `None` when `bytes` is larger than an
/// index may be, is not an evidence index, or does not verify with one of `signers`. What a
/// pull from a registry downloads for a verification ([`crate::registry::Gate`]).
pub fn signed_index_files(
    bytes: &[u8],
    signers: &[Signer],
    root: Option<&str>,
) -> Option<BTreeMap<String, (String, Option<u64>)>> {
    if signers.is_empty() || bytes.len() as u64 > cap_for(evidence::SIGNED_INDEX) {
        return None;
    }
    let signed = reprove_attest::signed::statement_from_bytes(bytes, signers, root).ok()?;
    let st = signed.statement;
    if st.get("predicateType").and_then(Value::as_str) != Some(evidence::INDEX_PREDICATE_TYPE) {
        return None;
    }
    let (files, sizes) = subjects(&st);
    Some(
        files
            .into_iter()
            .map(|(name, sha)| {
                let size = sizes.get(&name).copied();
                (name, (sha, size))
            })
            .collect(),
    )
}

/// The most an evidence document of `name`'s role is read: what a pull for a verification
/// downloads of a file the signed index does not name (`index.json`, added provenance).
pub fn document_cap(name: &str) -> u64 {
    cap_for(name)
}

fn read_signed(
    folder: &Folder,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<(IndexView, InputAttestation), Finding> {
    let (st, input) = match read_bundle(folder, evidence::SIGNED_INDEX, signers, root) {
        Ok(x) => x,
        // Folders written before the index was signed land here too: fail closed, and say how
        // to get a signed one.
        Err(StatementError::File(e)) if e.is_not_found() => {
            return Err(found!(
                FindingCode::IndexUnsigned,
                "no `{}`, so the folder's files are not signed as a whole (a folder made by an earlier reprove: re-release with --force)",
                evidence::SIGNED_INDEX
            ));
        }
        Err(e) => return Err(super::statement_finding(evidence::SIGNED_INDEX, &e)),
    };
    if st.get("predicateType").and_then(Value::as_str) != Some(evidence::INDEX_PREDICATE_TYPE) {
        return Err(found!(
            FindingCode::WrongPredicate,
            "`{}` is not a reprove evidence index",
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
    let (files, sizes) = subjects(&st);
    Ok((
        IndexView {
            files,
            sizes,
            tag: text("tag"),
            commit: text("commit"),
            outcome: text("outcome"),
            failures: p
                .get("failures")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect(),
            signed_by: (!signers.is_empty()).then(|| input.signer_shown()),
        },
        input,
    ))
}

fn unsigned(folder: &Folder) -> Result<IndexView, Finding> {
    let bytes = folder
        .doc(evidence::INDEX)
        .map_err(|e| found!(FindingCode::IndexMissing, "{e}"))?;
    let index: evidence::Index = reprove_attest::json::from_slice(bytes).map_err(|e| {
        found!(
            FindingCode::IndexMissing,
            "`{}` is malformed: {e}",
            evidence::INDEX
        )
    })?;
    let mut files: BTreeMap<String, String> = index
        .files
        .iter()
        .map(|f| (f.path.clone(), f.sha256.clone()))
        .collect();
    // index.json lists the others, not itself.
    files.insert(
        evidence::INDEX.to_owned(),
        reprove_digest::sha256_bytes(bytes).hex(),
    );
    Ok(IndexView {
        sizes: index
            .files
            .iter()
            .map(|f| (f.path.clone(), f.size))
            .collect(),
        files,
        tag: index.tag,
        commit: index.commit,
        outcome: index.outcome.as_str().to_owned(),
        failures: index.failures,
        signed_by: None,
    })
}

/// Another rebuilder's provenance, dropped into the folder after the release: a top-level
/// `provenance-<name>.sigstore.json` only. Anything deeper is unlisted evidence.
pub fn is_added_provenance(rel: &str) -> bool {
    !rel.contains('/') && rel.starts_with("provenance-") && rel.ends_with(".sigstore.json")
}

/// What the index check found.
pub(super) struct IndexCheck {
    pub check: CheckResult,
    pub index: Option<IndexView>,
    pub input: Option<InputAttestation>,
    /// Files whose bytes match the index (every file, without a key: as the folder claims).
    pub matched: BTreeSet<String>,
}

pub(super) fn check(
    dir: &Path,
    folder: &Folder,
    signers: &[Signer],
    root: Option<&str>,
) -> IndexCheck {
    let fail = |f: Finding, detail: &str| IndexCheck {
        check: CheckResult::failed(ID, detail, f),
        index: None,
        input: None,
        matched: BTreeSet::new(),
    };
    if let Some(p) = &folder.problem {
        return fail(
            p.clone(),
            "the folder holds something other than regular files",
        );
    }
    let (index, input) = if signers.is_empty() {
        match unsigned(folder) {
            Ok(i) => (i, None),
            Err(f) => return fail(f, "no usable index"),
        }
    } else {
        match read_signed(folder, signers, root) {
            Ok((i, input)) => (i, Some(input)),
            Err(f) => return fail(f, "no verified index"),
        }
    };
    let mut findings = Vec::new();
    let mut matched = BTreeSet::new();
    for (p, want) in &index.files {
        let shown = printable(p);
        let Some(size) = folder.entries.get(p) else {
            findings.push(
                found!(
                    FindingCode::EvidenceMissing,
                    "`{shown}` is listed but absent"
                )
                .at(p),
            );
            continue;
        };
        // No release writes a file this large; refusing it unread bounds what a folder can
        // cost to check, signed sizes or not (without a key they come from `index.json`).
        if *size > MAX_EVIDENCE_FILE {
            findings.push(
                found!(
                    FindingCode::TooLarge,
                    "`{shown}` is {size} bytes, more than any evidence file (not read)"
                )
                .at(p),
            );
            continue;
        }
        if let Some(listed) = index.sizes.get(p)
            && listed != size
        {
            findings.push(
                found!(
                    FindingCode::DigestMismatch,
                    "`{shown}` is {size} bytes but the index lists {listed} (not read)"
                )
                .at(p)
                .compared(format!("{listed} bytes"), format!("{size} bytes")),
            );
            continue;
        }
        // A document already in memory is hashed from those bytes: the ones read later.
        let have = match folder.docs.get(p) {
            Some(Ok(bytes)) => Ok(reprove_digest::sha256_bytes(bytes).hex()),
            Some(Err(e)) => Err(e.to_string()),
            // Exactly the size listed: a file that changed since is not read on and on.
            None => reprove_digest::sha256_file_sized(&dir.join(p), Some(*size))
                .map(|(d, _)| d.hex())
                .map_err(|e| e.to_string()),
        };
        match have {
            Ok(have) if have == *want => {
                matched.insert(p.clone());
            }
            Ok(have) => findings.push(
                found!(
                    FindingCode::DigestMismatch,
                    "`{shown}` has sha256:{have} but the index lists sha256:{want}"
                )
                .at(p)
                .compared(format!("sha256:{want}"), format!("sha256:{have}")),
            ),
            Err(e) => {
                findings.push(found!(FindingCode::Unreadable, "`{shown}`: {}", printable(&e)).at(p))
            }
        }
    }
    for p in folder.entries.keys() {
        // Further rebuilders' provenance may be added after the release, at the top level.
        if !index.files.contains_key(p) && !is_added_provenance(p) && p != evidence::SIGNED_INDEX {
            findings.push(
                found!(
                    FindingCode::EvidenceUnlisted,
                    "`{}` is not in the index",
                    printable(p)
                )
                .at(p),
            );
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
    IndexCheck {
        check: CheckResult::from_findings(ID, findings, detail),
        index: Some(index),
        input,
        matched,
    }
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
