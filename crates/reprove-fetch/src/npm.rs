//! npm's cache (`$npm_config_cache`, `~/.npm` — what `npm ci` fills): `_cacache/content-v2/
//! sha512/<2>/<2>/<rest>` holds each package tarball under its own sha512, which is what
//! `package-lock.json`'s `integrity` locks ([cacache](https://github.com/npm/cacache#readme));
//! `_cacache/index-v5/` maps request URLs to content (index metadata, recorded); npm's logs
//! and temporary files are dropped.

use std::collections::BTreeMap;

use reprove_soup::LockfileKind;

use crate::{
    Checked, DependencyCode, DependencyFinding, FetchError, Lockfile, ResolvedPackage, StoreFile,
    locked_items, stray, unlocked,
};

enum Kind {
    /// A content file and the sha512 (hex) its path names.
    Content(String),
    Metadata,
    Derived,
    Other,
}

fn kind(path: &str) -> Kind {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["_cacache", "content-v2", "sha512", a, b, rest]
            if a.len() == 2 && b.len() == 2 && a.len() + b.len() + rest.len() == 128 =>
        {
            let hex = format!("{a}{b}{rest}");
            if hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            {
                Kind::Content(hex)
            } else {
                Kind::Other
            }
        }
        ["_cacache", "index-v5", ..] => Kind::Metadata,
        ["_cacache", "tmp", ..] | ["_logs", ..] | ["_update-notifier-last-checked"] => {
            Kind::Derived
        }
        _ => Kind::Other,
    }
}

/// A package `package-lock.json` locks by sha512.
struct Locked {
    purl: String,
    /// npm installs it only on the platforms it names: its absence is no finding.
    optional: bool,
    name: String,
    version: String,
    resolved: Option<String>,
    lockfile: String,
}

pub(crate) fn check(
    files: Vec<StoreFile>,
    lockfiles: &[Lockfile<'_>],
) -> Result<Checked, FetchError> {
    let mut findings = Vec::new();
    // sha512 hex → the packages locked with it.
    let mut by_sha: BTreeMap<String, Vec<Locked>> = BTreeMap::new();
    for l in lockfiles {
        for item in locked_items(l, LockfileKind::PackageLock)? {
            match item.checksum.as_ref().filter(|c| c.algorithm == "sha512") {
                Some(c) => by_sha.entry(c.value.clone()).or_default().push(Locked {
                    purl: item.purl.clone(),
                    optional: item.optional,
                    name: item.name.clone(),
                    version: item.version.clone(),
                    resolved: item.source.clone(),
                    lockfile: l.path.to_owned(),
                }),
                // A link, a bundled dependency or an old sha1 integrity: nothing reprove can
                // hold the cache's bytes to. (npm caches such a tarball under its own sha512,
                // which no lockfile locks: the store is then refused as unlocked content.)
                None => findings.push(DependencyFinding {
                    code: DependencyCode::UnverifiableDependency,
                    package: Some(item.purl.clone()),
                    path: None,
                    expected: item.checksum.as_ref().map(ToString::to_string),
                    actual: None,
                    message: format!(
                        "`{}` {} has no sha512 integrity in `{}`: its bytes cannot be checked (a tarball npm fetches for it is refused as unlocked content)",
                        item.name, item.version, l.path
                    ),
                }),
            }
        }
    }
    let mut kept = Vec::new();
    let mut dropped = 0;
    let mut metadata = 0;
    let mut packages = Vec::new();
    // (purl, sha512) pairs the store holds: the same package locked twice with different
    // bytes (nested node_modules, two lockfiles) needs both.
    let mut found: BTreeMap<(String, String), ()> = BTreeMap::new();
    for f in files {
        match kind(&f.path) {
            Kind::Metadata => {
                metadata += 1;
                kept.push(f);
            }
            Kind::Derived => dropped += 1,
            Kind::Content(named) => {
                // npm reads content by the digest its path names: the bytes must be those.
                if f.sha512.as_deref() != Some(named.as_str()) {
                    let locked = by_sha.get(&named).and_then(|v| v.first());
                    findings.push(DependencyFinding {
                        code: DependencyCode::DependencyMismatch,
                        package: locked.map(|l| l.purl.clone()),
                        path: Some(f.path.clone()),
                        expected: Some(format!("sha512:{named}")),
                        actual: f.sha512.as_ref().map(|s| format!("sha512:{s}")),
                        message: format!(
                            "`{}` does not hold the bytes its name says{}",
                            f.path,
                            locked
                                .map(|l| format!(" (the lockfile's `{}`)", l.purl))
                                .unwrap_or_default()
                        ),
                    });
                    if let Some(l) = locked {
                        found.insert((l.purl.clone(), named.clone()), ());
                    }
                    continue;
                }
                match by_sha.get(&named) {
                    Some(locked) => {
                        let mut lockfiles: Vec<String> = Vec::new();
                        for l in locked {
                            found.insert((l.purl.clone(), named.clone()), ());
                            if !lockfiles.contains(&l.lockfile) {
                                lockfiles.push(l.lockfile.clone());
                            }
                        }
                        if let Some(l) = locked.first() {
                            packages.push(ResolvedPackage {
                                purl: l.purl.clone(),
                                sha256: f.sha256.clone(),
                                sha512: Some(named.clone()),
                                path: f.path.clone(),
                                download: l.resolved.clone(),
                                lockfiles,
                            });
                        }
                        kept.push(f);
                    }
                    None => findings.push(unlocked(
                        &f,
                        format!("`{}` is a package no lockfile locks", f.path),
                    )),
                }
            }
            Kind::Other => findings.push(stray(&f, "cache metadata")),
        }
    }
    for (sha, locked) in &by_sha {
        // An optional package (one platform's binary) that npm did not fetch here is not one
        // the build is given: the SOUP closure holds the same.
        for l in locked
            .iter()
            .filter(|l| !l.optional && !found.contains_key(&(l.purl.clone(), sha.clone())))
        {
            findings.push(DependencyFinding {
                code: DependencyCode::DependencyMissing,
                package: Some(l.purl.clone()),
                path: None,
                expected: Some(format!("sha512:{sha}")),
                actual: None,
                message: format!(
                    "`{}` {} (locked by {}) is not in the store",
                    l.name, l.version, l.lockfile
                ),
            });
        }
    }
    kept.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    packages.sort_by(|a, b| (&a.purl, &a.path).cmp(&(&b.purl, &b.path)));
    Ok(Checked {
        kept,
        dropped,
        metadata,
        packages,
        findings,
        sha256: String::new(),
    })
}
