//! The baseline predicate: what `reprove baseline` records about a release. Field order is
//! irrelevant (the manifest is serialized with RFC 8785); every list is sorted so the same tag
//! always gives the same bytes, and nothing depends on the clock or the clone.

use std::collections::BTreeMap;

use reprove_soup::SoupItem;
use reprove_source::{SignatureInfo, Trailer};
use serde::Serialize;

use crate::classes::ItemClass;
use crate::config::{Changes, Project};

/// The predicate type URI of a reprove baseline.
pub const BASELINE_PREDICATE_TYPE: &str = "https://reprove.dev/baseline/v0.1";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselinePredicate {
    pub project: Project,
    pub release: Release,
    /// The `[build]` recipe as written at the tag, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BTreeMap<String, serde_json::Value>>,
    pub policy: Policy,
    pub summary: Summary,
    pub configuration_items: Vec<ConfigurationItem>,
    pub soup: Vec<SoupItem>,
    pub images: Vec<ImageEntry>,
    pub changes: ChangeTrace,
    pub findings: Vec<Finding>,
}

/// Identity of the release (IEC 62304 §8.1.1).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub tag: String,
    /// Tag object id for annotated tags; absent for lightweight tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_object: Option<String>,
    pub commit: String,
    pub tree: String,
    /// Committer time of the tagged commit (also the rebuild's SOURCE_DATE_EPOCH).
    pub commit_time: String,
    pub source_date_epoch: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagger: Option<String>,
    /// As seen by this machine's `git verify-tag` and keyring.
    pub tag_signature: SignatureInfo,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(flatten)]
    pub changes: Changes,
    /// `pass` or `fail`: whether every policy `reprove.toml` turns on holds.
    pub result: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub items: usize,
    pub bytes: u64,
    pub by_class: BTreeMap<&'static str, usize>,
    pub soup_items: usize,
    pub images: usize,
    pub commits: usize,
    pub findings: usize,
}

/// A Git LFS pointer: the tree holds only the pointer, the content lives elsewhere.
#[derive(Debug, Clone, Serialize)]
pub struct LfsRef {
    pub oid: String,
    pub size: u64,
}

/// One tracked path at the tag.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationItem {
    /// The path; when it is not valid UTF-8 this is a lossy rendering and `pathBase64` holds
    /// the exact bytes.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_base64: Option<String>,
    pub mode: String,
    pub kind: reprove_source::TreeEntryKind,
    pub class: ItemClass,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The blob id (for submodules, the submodule's commit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_blob: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Symlink target, recorded as stored; never followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submodule_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfs: Option<LfsRef>,
}

/// One container image reference found in the tree.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageEntry {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub reference: String,
    pub pinned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub context: reprove_oci::MentionContext,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeBase {
    pub tag: String,
    pub commit: String,
}

/// The change trace between the previous release and this one (IEC 62304 §8.2).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeTrace {
    /// The previous release; absent when the trace covers all history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<ChangeBase>,
    /// False when a shallow clone cut the history short.
    pub complete: bool,
    pub commits: Vec<ChangeEntry>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEntry {
    pub id: String,
    pub parents: Vec<String>,
    pub author: String,
    pub author_time: String,
    pub committer: String,
    pub commit_time: String,
    pub subject: String,
    pub merge: bool,
    pub signature: SignatureInfo,
    pub trailers: Vec<Trailer>,
    pub change_requests: Vec<String>,
    pub authorized: bool,
    /// What authorizes it: `trailer:Reviewed-by`, `signature`, `merge:<id>`.
    pub evidence: Vec<String>,
}

/// Stable finding codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingCode {
    UnauthorizedChange,
    IncompleteHistory,
    UnpinnedImage,
    UnparsableImage,
    UnpinnedVersion,
    MissingChecksum,
    MissingSupplier,
    UnparsableLockfile,
    UnsupportedLockfile,
    UnusedOverride,
    LfsPointer,
    NoConfig,
    /// A tree `git fsck` refuses (duplicate entries, `.git` or `..` components, a path that is
    /// both a file and a folder): no checkout or export represents it faithfully.
    InvalidTree,
    /// `reprove.toml` has a `[build]` table no rebuild can run (the key and line are named).
    InvalidRecipe,
}

impl FindingCode {
    /// Every code a baseline records.
    pub const ALL: [FindingCode; 14] = [
        FindingCode::UnauthorizedChange,
        FindingCode::IncompleteHistory,
        FindingCode::UnpinnedImage,
        FindingCode::UnparsableImage,
        FindingCode::UnpinnedVersion,
        FindingCode::MissingChecksum,
        FindingCode::MissingSupplier,
        FindingCode::UnparsableLockfile,
        FindingCode::UnsupportedLockfile,
        FindingCode::UnusedOverride,
        FindingCode::LfsPointer,
        FindingCode::NoConfig,
        FindingCode::InvalidTree,
        FindingCode::InvalidRecipe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::UnauthorizedChange => "unauthorized-change",
            FindingCode::IncompleteHistory => "incomplete-history",
            FindingCode::UnpinnedImage => "unpinned-image",
            FindingCode::UnparsableImage => "unparsable-image",
            FindingCode::UnpinnedVersion => "unpinned-version",
            FindingCode::MissingChecksum => "missing-checksum",
            FindingCode::MissingSupplier => "missing-supplier",
            FindingCode::UnparsableLockfile => "unparsable-lockfile",
            FindingCode::UnsupportedLockfile => "unsupported-lockfile",
            FindingCode::UnusedOverride => "unused-override",
            FindingCode::LfsPointer => "lfs-pointer",
            FindingCode::NoConfig => "no-config",
            FindingCode::InvalidTree => "invalid-tree",
            FindingCode::InvalidRecipe => "invalid-recipe",
        }
    }
}

/// A recorded problem. Findings are results, not errors; only those marked `policy` change
/// the exit code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub code: FindingCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    pub message: String,
    /// True when a policy switched on in `reprove.toml` makes this finding fail the command.
    pub policy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = include_str!("../../../README.md");

    /// cargo-deny's rule: every finding code is stable, unique and documented.
    #[test]
    fn every_baseline_and_diff_code_is_unique_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for code in FindingCode::ALL.map(FindingCode::as_str) {
            assert!(seen.insert(code), "`{code}` twice");
            assert!(
                README.contains(&format!("`{code}`")),
                "baseline finding `{code}` is not in the README"
            );
        }
        let mut diff = std::collections::BTreeSet::new();
        for code in crate::diff::DiffCode::ALL.map(crate::diff::DiffCode::as_str) {
            assert!(diff.insert(code), "`{code}` twice");
            assert!(
                README.contains(&format!("`{code}`")),
                "diff finding `{code}` is not in the README"
            );
        }
    }
}
