//! A pip wheelhouse (what `pip download --require-hashes -r requirements.txt -d <store>`
//! fills): distribution files — wheels and sdists — side by side, no index metadata. A file is
//! a locked package when its sha256 is one of the `--hash` values the requirements file gives
//! for a pinned requirement ([pip's hash-checking mode](https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode));
//! its name only serves to tell a tampered file (`dependency-mismatch`) from a planted one
//! (`dependency-unlocked`).

use std::collections::BTreeMap;

use reprove_soup::LockfileKind;

use crate::{
    Checked, DependencyCode, DependencyFinding, FetchError, Lockfile, ResolvedPackage, StoreFile,
    locked_items, prefixed, unlocked,
};

/// A pinned requirement and the files it accepts.
#[derive(Debug)]
struct Locked {
    purl: String,
    name: String,
    version: String,
    /// sha256 hex of every file the lockfile accepts; empty: nothing to check.
    sha256s: Vec<String>,
    lockfile: String,
    /// Required only where its environment marker holds: its absence is no finding.
    optional: bool,
}

/// PEP 503 normalization: lowercase, runs of `-`, `_`, `.` become one `-`.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The distribution and version a file name says it holds: a wheel
/// (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, PEP 427) or an sdist
/// (`{name}-{version}.tar.gz`/`.zip`, PEP 625). `None`: not a distribution file.
fn distribution(file: &str) -> Option<(String, String)> {
    if let Some(stem) = file.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let (name, version) = (parts.next()?, parts.next()?);
        return Some((normalize(name), version.to_owned()));
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((normalize(name), version.to_owned()))
}

fn locked_packages(lockfiles: &[Lockfile<'_>]) -> Result<Vec<Locked>, FetchError> {
    let mut out = Vec::new();
    for l in lockfiles {
        for item in locked_items(l, LockfileKind::Requirements)? {
            out.push(Locked {
                sha256s: item.sha256s().map(str::to_owned).collect(),
                purl: item.purl.clone(),
                name: normalize(&item.name),
                version: item.version.clone(),
                lockfile: l.path.to_owned(),
                optional: item.optional,
            });
        }
    }
    Ok(out)
}

pub(crate) fn check(
    files: Vec<StoreFile>,
    lockfiles: &[Lockfile<'_>],
) -> Result<Checked, FetchError> {
    let locked = locked_packages(lockfiles)?;
    let mut findings = Vec::new();
    // sha256 → the requirements that accept a file with those bytes.
    let mut by_sha: BTreeMap<&str, Vec<&Locked>> = BTreeMap::new();
    for l in &locked {
        if l.sha256s.is_empty() {
            findings.push(DependencyFinding {
                code: DependencyCode::UnverifiableDependency,
                package: Some(l.purl.clone()),
                path: None,
                expected: None,
                actual: None,
                message: format!(
                    "`{}` {} has no sha256 `--hash` in `{}`: its bytes cannot be checked",
                    l.name, l.version, l.lockfile
                ),
            });
        }
        for sha in &l.sha256s {
            by_sha.entry(sha.as_str()).or_default().push(l);
        }
    }
    let mut kept = Vec::new();
    let mut packages = Vec::new();
    // Requirements (by lockfile and purl) some file in the store satisfies.
    let mut satisfied: BTreeMap<(&str, &str), ()> = BTreeMap::new();
    let mut mismatched: BTreeMap<&str, ()> = BTreeMap::new();
    for f in files {
        // pip writes the wheelhouse flat; a folder in it is not something pip downloaded.
        let flat = !f.path.contains('/');
        // The bytes of a locked file count only under a name that says so: pip's find-links
        // reads every file in the folder (an `.html` one as an index page), by its name.
        let named = flat.then(|| distribution(&f.path)).flatten();
        let reqs: Option<Vec<&Locked>> = by_sha.get(f.sha256.as_str()).map(|reqs| {
            reqs.iter()
                .copied()
                .filter(|r| {
                    named
                        .as_ref()
                        .is_some_and(|(n, v)| *n == r.name && *v == r.version)
                })
                .collect()
        });
        match reqs.filter(|r| !r.is_empty()) {
            Some(reqs) => {
                let mut lockfiles: Vec<String> = Vec::new();
                for r in &reqs {
                    satisfied.insert((r.lockfile.as_str(), r.purl.as_str()), ());
                    if !lockfiles.contains(&r.lockfile) {
                        lockfiles.push(r.lockfile.clone());
                    }
                }
                let first = reqs.first().map_or("", |r| r.purl.as_str());
                packages.push(ResolvedPackage {
                    purl: first.to_owned(),
                    sha256: f.sha256.clone(),
                    sha512: None,
                    path: f.path.clone(),
                    download: None,
                    lockfiles,
                });
                kept.push(f);
            }
            None => {
                let claimed = named.as_ref().and_then(|(name, version)| {
                    locked
                        .iter()
                        .find(|l| l.name == *name && l.version == *version)
                });
                match claimed {
                    Some(l) => {
                        mismatched.insert(l.purl.as_str(), ());
                        findings.push(DependencyFinding {
                            code: DependencyCode::DependencyMismatch,
                            package: Some(l.purl.clone()),
                            path: Some(f.path.clone()),
                            expected: Some(prefixed(&l.sha256s)),
                            actual: Some(format!("sha256:{}", f.sha256)),
                            message: format!(
                                "`{}` in the store has none of the hashes `{}` accepts for `{}`",
                                f.path, l.lockfile, l.purl
                            ),
                        });
                    }
                    None => findings.push(unlocked(
                        &f,
                        format!(
                            "`{}` is not a file any requirement's `--hash` accepts: a build must not be given it",
                            f.path
                        ),
                    )),
                }
            }
        }
    }
    for l in &locked {
        if l.sha256s.is_empty()
            || l.optional
            || satisfied.contains_key(&(l.lockfile.as_str(), l.purl.as_str()))
            || mismatched.contains_key(l.purl.as_str())
        {
            continue;
        }
        findings.push(DependencyFinding {
            code: DependencyCode::DependencyMissing,
            package: Some(l.purl.clone()),
            path: None,
            expected: Some(prefixed(&l.sha256s)),
            actual: None,
            message: format!(
                "`{}` {} (required by {}) is not in the store",
                l.name, l.version, l.lockfile
            ),
        });
    }
    kept.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    packages.sort_by(|a, b| (&a.purl, &a.path).cmp(&(&b.purl, &b.path)));
    Ok(Checked {
        kept,
        dropped: 0,
        metadata: 0,
        packages,
        findings,
        sha256: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_and_files_say_what_they_hold() {
        assert_eq!(normalize("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(
            distribution("six-1.16.0-py2.py3-none-any.whl"),
            Some(("six".into(), "1.16.0".into()))
        );
        assert_eq!(
            distribution("zope.interface-6.0.tar.gz"),
            Some(("zope-interface".into(), "6.0".into()))
        );
        assert_eq!(distribution("README"), None);
    }
}
