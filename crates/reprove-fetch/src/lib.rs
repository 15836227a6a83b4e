//! The dependency store of a rebuild's fetch phase (`[build.fetch]`), checked: every package
//! the tag's lockfiles lock is in it with the lockfile's checksum, nothing else that a build
//! could use is, and its digest is what a fixed-output fetch declared. Pure: the rebuild reads
//! the store back from the engine and hands this crate its files and their sha256.
//!
//! The store's digest is the sha256 of its `sha256sum` listing — one line `<sha256>  <path>`
//! per file, sorted by path bytes — so anyone can recompute it with
//! `find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum` (paths without `./`).

mod cargo;
mod npm;
mod python;

use std::collections::BTreeMap;

use reprove_soup::{LockfileKind, lockfile_kind};
use sha2::{Digest as _, Sha256};

/// One regular file of the store, as read back from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFile {
    /// Relative to the store, `/`-separated.
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
    /// Lowercase hex, when the reader computed it (an npm cache names content by sha512).
    pub sha512: Option<String>,
    pub size: u64,
    /// Kept as the fetch left it; not part of the store digest (a `sha256sum` listing).
    pub executable: bool,
}

/// A lockfile of the tag the store is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Lockfile<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
}

/// Why a store cannot be checked at all (exit 2): a finding is a result, this is not.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "reprove cannot check a fetched store against `{path}` yet (it checks Cargo.lock, package-lock.json and pip requirements files); declare the fetch `fixed` or leave that lockfile out of `[build.fetch] lockfiles`"
    )]
    UnsupportedLockfile { path: String },
    #[error(
        "one store cannot be checked against both `{first}` and `{second}`: a fetch fills one ecosystem's store (cargo's registry, npm's cache or a pip wheelhouse); name one kind in `[build.fetch] lockfiles`"
    )]
    MixedLockfiles { first: String, second: String },
    #[error(
        "the fetch phase has nothing to check its store against: no lockfile reprove can check at the root of the tree; name them in `[build.fetch] lockfiles` or declare the fetch `fixed`"
    )]
    NothingToCheck,
    #[error("`{path}` cannot be read as a lockfile: {detail}")]
    BadLockfile { path: String, detail: String },
}

/// What a finding says, by stable code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DependencyCode {
    /// A package the lockfiles lock is not in the store.
    DependencyMissing,
    /// A package is in the store with other bytes than the lockfile's checksum.
    DependencyMismatch,
    /// The store holds a file that is neither a locked package nor index metadata.
    DependencyUnlocked,
    /// A locked package has no checksum to check (a git or path source): recorded, not refused.
    UnverifiableDependency,
    /// A fixed-output fetch produced another store than the one declared.
    FetchDrift,
}

impl DependencyCode {
    pub const ALL: [DependencyCode; 5] = [
        DependencyCode::DependencyMissing,
        DependencyCode::DependencyMismatch,
        DependencyCode::DependencyUnlocked,
        DependencyCode::UnverifiableDependency,
        DependencyCode::FetchDrift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DependencyCode::DependencyMissing => "dependency-missing",
            DependencyCode::DependencyMismatch => "dependency-mismatch",
            DependencyCode::DependencyUnlocked => "dependency-unlocked",
            DependencyCode::UnverifiableDependency => "unverifiable-dependency",
            DependencyCode::FetchDrift => "fetch-drift",
        }
    }

    /// Whether the finding stops the build: every one but an unverifiable dependency, which
    /// is recorded for the reviewer.
    pub fn rejects(self) -> bool {
        self != DependencyCode::UnverifiableDependency
    }
}

impl std::fmt::Display for DependencyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyFinding {
    pub code: DependencyCode,
    /// The package's purl, when the finding is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The file in the store, when the finding is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    pub message: String,
}

/// A package the build was given: in the store, with the bytes its lockfile locks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPackage {
    /// Package URL (the SOUP register's designator).
    pub purl: String,
    /// sha256 of the package file, lowercase hex.
    pub sha256: String,
    /// sha512 of the package file, lowercase hex, when its lockfile locks that digest (npm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    /// Where it is in the store.
    pub path: String,
    /// Where the registry serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<String>,
    /// The lockfiles that lock it.
    pub lockfiles: Vec<String>,
}

/// The store after the checks: what the build is given and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The files the build gets, sorted by path: packages and index metadata (files a build
    /// derives again from the packages, such as cargo's unpacked `src/`, are dropped).
    pub kept: Vec<StoreFile>,
    /// How many derived files were dropped.
    pub dropped: usize,
    /// How many kept files are index metadata (recorded, not required to be identical).
    pub metadata: usize,
    pub packages: Vec<ResolvedPackage>,
    pub findings: Vec<DependencyFinding>,
    /// The digest of `kept` (see the crate documentation), lowercase hex.
    pub sha256: String,
}

impl Checked {
    /// Whether a finding stops the build.
    pub fn rejected(&self) -> bool {
        self.findings.iter().any(|f| f.code.rejects())
    }
}

/// The digest of a store: sha256 of its `sha256sum` listing, sorted by path bytes.
pub fn store_digest(files: &[StoreFile]) -> String {
    let mut sorted: Vec<&StoreFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.sha256.as_bytes());
        h.update(b"  ");
        h.update(f.path.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Folders of the store (relative) that a fetch writes and a build derives again from the
/// checked packages: cargo's unpacked sources (`src`), npm's logs (`_logs`). A fetch job keeps them in scratch space
/// (never returned, never checked, never given to a build).
pub fn derived_folders<'a>(lockfiles: impl IntoIterator<Item = &'a str>) -> Vec<&'static str> {
    let kinds: Vec<Option<LockfileKind>> = lockfiles.into_iter().map(lockfile_kind).collect();
    if kinds.contains(&Some(LockfileKind::CargoLock)) {
        vec!["src"]
    } else if kinds.contains(&Some(LockfileKind::PackageLock)) {
        // npm's logs; its `_cacache/tmp` stays on the store's file system (cacache renames
        // from there into place).
        vec!["_logs"]
    } else {
        Vec::new()
    }
}

/// Whether the store's files must be read with their sha512 too: an npm cache names its
/// content by it, and `package-lock.json` locks it.
pub fn wants_sha512<'a>(lockfiles: impl IntoIterator<Item = &'a str>) -> bool {
    lockfiles
        .into_iter()
        .any(|p| lockfile_kind(p) == Some(LockfileKind::PackageLock))
}

/// Which lockfiles of the tree the store is checked against when the recipe names none: the
/// root `Cargo.lock`, else the root `package-lock.json`, else the root `requirements.txt` (a
/// project with several, or with other requirements files, names them).
pub fn default_lockfiles<'a>(tree_paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let paths: Vec<&str> = tree_paths.into_iter().collect();
    ["Cargo.lock", "package-lock.json", "requirements.txt"]
        .into_iter()
        .find(|want| paths.contains(want))
        .map(|p| vec![p.to_owned()])
        .unwrap_or_default()
}

/// Checks the store against the lockfiles and, for a fixed-output fetch, the declared digest
/// (`fixed`, lowercase hex). With no lockfile and a fixed digest the store is taken as it is.
pub fn check(
    files: Vec<StoreFile>,
    lockfiles: &[Lockfile<'_>],
    fixed: Option<&str>,
) -> Result<Checked, FetchError> {
    if lockfiles.is_empty() && fixed.is_none() {
        return Err(FetchError::NothingToCheck);
    }
    let mut kind = None;
    for l in lockfiles {
        let k = match lockfile_kind(l.path) {
            Some(
                k @ (LockfileKind::CargoLock
                | LockfileKind::PackageLock
                | LockfileKind::Requirements),
            ) => k,
            _ => {
                return Err(FetchError::UnsupportedLockfile {
                    path: l.path.to_owned(),
                });
            }
        };
        match kind {
            Some((first, first_path)) if first != k => {
                return Err(FetchError::MixedLockfiles {
                    first: first_path,
                    second: l.path.to_owned(),
                });
            }
            None => kind = Some((k, l.path.to_owned())),
            Some(_) => {}
        }
    }
    let mut checked = if let Some((LockfileKind::CargoLock, _)) = kind {
        cargo::check(files, lockfiles)?
    } else if let Some((LockfileKind::PackageLock, _)) = kind {
        npm::check(files, lockfiles)?
    } else if kind.is_some() {
        python::check(files, lockfiles)?
    } else {
        let mut kept = files;
        kept.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Checked {
            kept,
            dropped: 0,
            metadata: 0,
            packages: Vec::new(),
            findings: Vec::new(),
            sha256: String::new(),
        }
    };
    checked.sha256 = store_digest(&checked.kept);
    if let Some(want) = fixed
        && want != checked.sha256
    {
        checked.findings.push(DependencyFinding {
            code: DependencyCode::FetchDrift,
            package: None,
            path: None,
            expected: Some(format!("sha256:{want}")),
            actual: Some(format!("sha256:{}", checked.sha256)),
            message: format!(
                "the fetch produced the store `sha256:{}`, not the fixed `sha256:{want}` the recipe declares",
                checked.sha256
            ),
        });
    }
    checked
        .findings
        .sort_by(|a, b| (a.code, &a.package, &a.path).cmp(&(b.code, &b.package, &b.path)));
    Ok(checked)
}

/// The items a lockfile locks, or why it cannot be read (a lockfile that does not parse is no
/// ground to check a store on).
pub(crate) fn locked_items(
    l: &Lockfile<'_>,
    kind: LockfileKind,
) -> Result<Vec<reprove_soup::SoupItem>, FetchError> {
    let parsed = reprove_soup::parse_lockfile(l.path, kind, l.content, &|_| None);
    if let Some(f) = parsed
        .findings
        .iter()
        .find(|f| f.code == reprove_soup::SoupFindingCode::UnparsableLockfile)
    {
        return Err(FetchError::BadLockfile {
            path: l.path.to_owned(),
            detail: f.message.clone(),
        });
    }
    Ok(parsed.items)
}

/// `sha256:<hex>` of each, space-separated: what a finding says was expected.
pub(crate) fn prefixed(shas: &[String]) -> String {
    shas.iter()
        .map(|s| format!("sha256:{s}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A file of the store no lockfile accounts for.
pub(crate) fn unlocked(f: &StoreFile, message: String) -> DependencyFinding {
    DependencyFinding {
        code: DependencyCode::DependencyUnlocked,
        package: None,
        path: Some(f.path.clone()),
        expected: None,
        actual: Some(format!("sha256:{}", f.sha256)),
        message,
    }
}

/// A file that is neither a package nor `metadata` (what the layout calls its metadata).
pub(crate) fn stray(f: &StoreFile, metadata: &str) -> DependencyFinding {
    unlocked(
        f,
        format!(
            "`{}` is neither a locked package nor {metadata}: a build must not be given it",
            f.path
        ),
    )
}

/// Locked packages by purl, with the lockfiles that lock them.
pub(crate) fn group_by_purl<T: Clone>(
    items: impl IntoIterator<Item = (String, T, String)>,
) -> BTreeMap<String, (T, Vec<String>)> {
    let mut out: BTreeMap<String, (T, Vec<String>)> = BTreeMap::new();
    for (purl, item, lockfile) in items {
        let e = out.entry(purl).or_insert_with(|| (item, Vec::new()));
        if !e.1.contains(&lockfile) {
            e.1.push(lockfile);
        }
    }
    out
}

#[cfg(test)]
mod tests;
