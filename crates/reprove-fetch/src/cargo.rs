//! cargo's registry layout (`$CARGO_HOME/registry`, what `cargo fetch` fills): the packages
//! are `cache/<registry>/<name>-<version>.crate`, whose sha256 is the lockfile's `checksum`
//! ([Cargo.lock](https://doc.rust-lang.org/cargo/guide/cargo-toml-vs-cargo-lock.html));
//! `index/` is index metadata; `src/` holds the packages unpacked, which cargo derives again
//! from the `.crate` files — it is dropped, so a build never compiles sources that were not
//! checked.

use std::collections::BTreeMap;

use reprove_soup::LockfileKind;

use crate::{
    Checked, DependencyCode, DependencyFinding, FetchError, Lockfile, ResolvedPackage, StoreFile,
    group_by_purl, locked_items, stray, unlocked,
};

/// A package a Cargo.lock locks from a registry.
#[derive(Debug, Clone)]
struct Locked {
    name: String,
    version: String,
    /// sha256 hex; `None` for a git source (or a registry entry without a checksum).
    sha256: Option<String>,
    crates_io: bool,
}

enum Kind<'a> {
    Metadata,
    Derived,
    Package { file_name: &'a str },
    Other,
}

fn kind(path: &str) -> Kind<'_> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        // cargo's cache markers, where cargo writes them.
        ["CACHEDIR.TAG"] | ["cache" | "index" | "src", "CACHEDIR.TAG"] => Kind::Metadata,
        // A sparse registry's index: its `config.json` and the `.cache` entries. Anything else
        // there (a git index's `.git`, a file beside them) is not what cargo fetch writes.
        ["index", _, "config.json"] | ["index", _, ".cache", ..] => Kind::Metadata,
        ["src", _, ..] => Kind::Derived,
        ["cache", _, file] if file.ends_with(".crate") => Kind::Package { file_name: file },
        _ => Kind::Other,
    }
}

fn locked_packages(
    lockfiles: &[Lockfile<'_>],
) -> Result<Vec<(String, Locked, String)>, FetchError> {
    let mut out = Vec::new();
    for l in lockfiles {
        for item in locked_items(l, LockfileKind::CargoLock)? {
            let sha256 = item
                .checksum
                .as_ref()
                .filter(|c| c.algorithm == "sha256")
                .map(|c| c.value.clone());
            let crates_io = item.source.as_deref() == Some("https://crates.io");
            out.push((
                item.purl.clone(),
                Locked {
                    name: item.name.clone(),
                    version: item.version.clone(),
                    sha256,
                    crates_io,
                },
                l.path.to_owned(),
            ));
        }
    }
    Ok(out)
}

pub(crate) fn check(
    files: Vec<StoreFile>,
    lockfiles: &[Lockfile<'_>],
) -> Result<Checked, FetchError> {
    let locked = group_by_purl(locked_packages(lockfiles)?);
    // `<name>-<version>.crate` → the purls locked under that file name.
    let mut by_file: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut findings = Vec::new();
    for (purl, (l, _)) in &locked {
        if l.sha256.is_some() {
            by_file
                .entry(format!("{}-{}.crate", l.name, l.version))
                .or_default()
                .push(purl);
        } else {
            findings.push(DependencyFinding {
                code: DependencyCode::UnverifiableDependency,
                package: Some(purl.clone()),
                path: None,
                expected: None,
                actual: None,
                message: format!(
                    "`{}` {} has no checksum in the lockfile (a git source): its bytes cannot be checked",
                    l.name, l.version
                ),
            });
        }
    }
    let mut kept = Vec::new();
    let mut dropped = 0;
    let mut metadata = 0;
    let mut found: BTreeMap<String, ResolvedPackage> = BTreeMap::new();
    for f in files {
        match kind(&f.path) {
            Kind::Metadata => {
                metadata += 1;
                kept.push(f);
            }
            Kind::Derived => dropped += 1,
            Kind::Package { file_name } => {
                let candidates = by_file.get(file_name).map(Vec::as_slice).unwrap_or(&[]);
                // One file name locked from two sources: the folder does not tell reprove which
                // source a file is from, so bytes could be swapped between them.
                if candidates.len() > 1 {
                    findings.push(DependencyFinding {
                        code: DependencyCode::DependencyMismatch,
                        package: candidates.first().map(|p| (*p).to_owned()),
                        path: Some(f.path.clone()),
                        expected: None,
                        actual: Some(format!("sha256:{}", f.sha256)),
                        message: format!(
                            "`{}` is locked from {} sources ({}); reprove cannot tell which copy is which",
                            file_name,
                            candidates.len(),
                            candidates.join(", ")
                        ),
                    });
                    continue;
                }
                let matching = candidates.iter().find(|purl| {
                    locked.get(**purl).and_then(|(l, _)| l.sha256.as_deref())
                        == Some(f.sha256.as_str())
                });
                match (matching, candidates.first()) {
                    (Some(purl), _) if !found.contains_key(*purl) => {
                        let (l, lockfiles) = &locked[*purl];
                        found.insert(
                            (*purl).to_owned(),
                            ResolvedPackage {
                                purl: (*purl).to_owned(),
                                sha256: f.sha256.clone(),
                                sha512: None,
                                path: f.path.clone(),
                                download: l.crates_io.then(|| {
                                    format!(
                                        "https://static.crates.io/crates/{}/{}/download",
                                        l.name, l.version
                                    )
                                }),
                                lockfiles: lockfiles.clone(),
                            },
                        );
                        kept.push(f);
                    }
                    // The same package twice (two registries' folders): one copy is enough,
                    // and a second is not something the lockfile names.
                    (Some(purl), _) => findings.push(unlocked(
                        &f,
                        format!("`{}` is a second copy of `{purl}`", f.path),
                    )),
                    (None, Some(purl)) => {
                        let want = locked[*purl].0.sha256.clone().unwrap_or_default();
                        findings.push(DependencyFinding {
                            code: DependencyCode::DependencyMismatch,
                            package: Some((*purl).to_owned()),
                            path: Some(f.path.clone()),
                            expected: Some(format!("sha256:{want}")),
                            actual: Some(format!("sha256:{}", f.sha256)),
                            message: format!(
                                "`{}` in the store does not have the checksum the lockfile locks for `{purl}`",
                                f.path
                            ),
                        });
                    }
                    (None, None) => findings.push(unlocked(
                        &f,
                        format!("`{}` is a package no lockfile locks", f.path),
                    )),
                }
            }
            Kind::Other => findings.push(stray(&f, "index metadata")),
        }
    }
    for (purl, (l, lockfiles)) in &locked {
        let mismatched = findings
            .iter()
            .any(|f| f.package.as_deref() == Some(purl.as_str()));
        if l.sha256.is_some() && !found.contains_key(purl) && !mismatched {
            findings.push(DependencyFinding {
                code: DependencyCode::DependencyMissing,
                package: Some(purl.clone()),
                path: None,
                expected: l.sha256.as_ref().map(|s| format!("sha256:{s}")),
                actual: None,
                message: format!(
                    "`{}` {} (locked by {}) is not in the store",
                    l.name,
                    l.version,
                    lockfiles.join(", ")
                ),
            });
        }
    }
    kept.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(Checked {
        kept,
        dropped,
        metadata,
        packages: found.into_values().collect(),
        findings,
        sha256: String::new(),
    })
}
