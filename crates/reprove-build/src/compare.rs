//! Comparing rebuilt artifacts with the published ones, by name and sha256. Release assets are
//! flat: an artifact is named by its file name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reprove_digest::Digest;

use crate::BuildError;

/// One artifact's digest and size, and where its bytes are (when they are on disk).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArtifactDigest {
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// The verdict for one name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Match,
    Mismatch,
    /// Published but not rebuilt.
    Missing,
    /// Rebuilt but not published.
    Extra,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    pub name: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<ArtifactDigest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt: Option<ArtifactDigest>,
}

pub(crate) fn digest_file(path: &Path) -> Result<ArtifactDigest, BuildError> {
    let (d, size) =
        reprove_digest::sha256_file(path).map_err(|source| BuildError::Hash { source })?;
    Ok(ArtifactDigest {
        sha256: d.hex(),
        size: Some(size),
        path: Some(path.to_owned()),
    })
}

/// Unpacks the outputs tar an engine returned into `dest` (created) and hashes each file.
/// The stream comes from the engine, not from reprove: only regular files with a plain file
/// name are accepted, each name once.
pub(crate) fn read_outputs(
    tar_path: &Path,
    dest: &Path,
) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let bad = |detail: String| BuildError::Outputs { detail };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Io { path, source }
    };
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let file = std::fs::File::open(tar_path).map_err(io(tar_path))?;
    let mut archive = tar::Archive::new(file);
    let mut out = BTreeMap::new();
    for entry in archive.entries().map_err(io(tar_path))? {
        let mut entry = entry.map_err(io(tar_path))?;
        let path = entry.path().map_err(io(tar_path))?.into_owned();
        let name = match (path.components().count(), path.file_name()) {
            (1, Some(n)) => n.to_string_lossy().into_owned(),
            _ => {
                return Err(bad(format!(
                    "`{}` is not a plain file name",
                    path.display()
                )));
            }
        };
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("`{name}` is not a regular file")));
        }
        if out.contains_key(&name) {
            return Err(bad(format!("`{name}` is returned twice")));
        }
        let target = dest.join(&name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(io(&target))?;
        std::io::copy(&mut entry, &mut f).map_err(io(&target))?;
        drop(f);
        out.insert(name, digest_file(&target)?);
    }
    Ok(out)
}

/// What the rebuilt artifacts are compared with.
#[derive(Debug, Clone)]
pub enum Published {
    /// A flat folder of the published files (regular files only, at least one).
    Dir(PathBuf),
    /// A `SHA256SUMS` file (`<hex>  <name>` lines).
    Sums(PathBuf),
    /// Digests already known: the subjects of a verified provenance, or a folder hashed once
    /// by the caller. Entries may carry the file's path (for explanations).
    Digests(BTreeMap<String, ArtifactDigest>),
}

impl Published {
    /// `--artifacts DIR|SHA256SUMS`: a folder or a sums file, decided by what the path is.
    pub fn from_path(path: &Path) -> Published {
        if path.is_dir() {
            Published::Dir(path.to_owned())
        } else {
            Published::Sums(path.to_owned())
        }
    }

    /// Digests by name, as `sha256` hex.
    pub fn digests(map: &BTreeMap<String, String>) -> Published {
        Published::Digests(
            map.iter()
                .map(|(n, h)| {
                    (
                        n.clone(),
                        ArtifactDigest {
                            sha256: h.clone(),
                            size: None,
                            path: None,
                        },
                    )
                })
                .collect(),
        )
    }
}

/// A folder of release files, hashed: every entry must be a regular file, and there must be
/// one. (`verify` lists odd entries as findings instead: [`reprove_digest::hash_flat_folder`].)
pub fn published_folder(dir: &Path) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let folder = reprove_digest::release_folder(dir).map_err(|source| BuildError::Published {
        path: dir.to_owned(),
        source,
    })?;
    Ok(folder
        .files
        .into_iter()
        .map(|(name, f)| {
            (
                name,
                ArtifactDigest {
                    sha256: f.sha256.hex(),
                    size: Some(f.size),
                    path: Some(f.path),
                },
            )
        })
        .collect())
}

/// The published set, by name. An empty set is an error: a comparison with nothing proves
/// nothing.
pub fn published(p: &Published) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let out = match p {
        Published::Dir(dir) => return published_folder(dir),
        Published::Digests(m) => m.clone(),
        Published::Sums(path) => sums(path)?,
    };
    if out.is_empty() {
        return Err(BuildError::Published {
            path: match p {
                Published::Sums(path) | Published::Dir(path) => path.clone(),
                Published::Digests(_) => PathBuf::from("(attested digests)"),
            },
            source: reprove_digest::DigestError::EmptyFolder {
                path: PathBuf::from("the list of published artifacts"),
            },
        });
    }
    Ok(out)
}

fn sums(path: &Path) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let mut out = BTreeMap::new();
    let text =
        reprove_digest::read_regular_text(path, 16 << 20).map_err(|e| BuildError::Published {
            path: path.to_owned(),
            source: reprove_digest::DigestError::File(e),
        })?;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || BuildError::Sums {
            path: path.to_owned(),
            line: i + 1,
        };
        let (hex, name) = line.split_once(' ').ok_or_else(bad)?;
        let name = name.trim_start().trim_start_matches('*');
        let d: Digest = format!("sha256:{}", hex.to_ascii_lowercase())
            .parse()
            .map_err(|_| bad())?;
        let name = name.rsplit('/').next().unwrap_or(name);
        if name.is_empty() {
            return Err(bad());
        }
        out.insert(
            name.to_owned(),
            ArtifactDigest {
                sha256: d.hex(),
                size: None,
                path: None,
            },
        );
    }
    Ok(out)
}

/// Compares by name; the result is sorted by name.
pub fn compare(
    published: &BTreeMap<String, ArtifactDigest>,
    rebuilt: &BTreeMap<String, ArtifactDigest>,
) -> Vec<Comparison> {
    let mut names: Vec<&String> = published.keys().chain(rebuilt.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let p = published.get(name);
            let r = rebuilt.get(name);
            let verdict = match (p, r) {
                (Some(p), Some(r)) if p.sha256 == r.sha256 => Verdict::Match,
                (Some(_), Some(_)) => Verdict::Mismatch,
                (Some(_), None) => Verdict::Missing,
                _ => Verdict::Extra,
            };
            Comparison {
                name: name.clone(),
                verdict,
                published: p.cloned(),
                rebuilt: r.cloned(),
            }
        })
        .collect()
}

/// Hashes the recipe's artifacts in the build tree; two artifacts with one file name are a
/// recipe error.
pub fn collect(
    tree: &Path,
    patterns: &[String],
) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let mut set = globset::GlobSetBuilder::new();
    for p in patterns {
        let g = globset::GlobBuilder::new(p.trim_start_matches("./"))
            .literal_separator(true)
            .build()
            .map_err(|e| BuildError::RecipeGlob {
                pattern: p.clone(),
                detail: e.kind().to_string(),
            })?;
        set.add(g);
    }
    let set = set.build().map_err(|e| BuildError::RecipeGlob {
        pattern: patterns.join(", "),
        detail: e.kind().to_string(),
    })?;
    let mut found: BTreeMap<String, ArtifactDigest> = BTreeMap::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    let mut stack = vec![tree.to_owned()];
    while let Some(dir) = stack.pop() {
        let io = |e| BuildError::Io {
            path: dir.clone(),
            source: e,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let ft = entry.file_type().map_err(io)?;
            let path = entry.path();
            let rel = path
                .strip_prefix(tree)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() && set.is_match(&rel) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(first) = origin.insert(name.clone(), rel.clone()) {
                    return Err(BuildError::DuplicateArtifact {
                        name,
                        first,
                        second: rel,
                    });
                }
                found.insert(name, digest_file(&path)?);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> ArtifactDigest {
        ArtifactDigest {
            sha256: s.into(),
            size: None,
            path: None,
        }
    }

    #[test]
    fn verdicts() {
        let p = BTreeMap::from([
            ("a".to_owned(), d("1")),
            ("b".to_owned(), d("2")),
            ("c".to_owned(), d("3")),
        ]);
        let r = BTreeMap::from([
            ("a".to_owned(), d("1")),
            ("b".to_owned(), d("9")),
            ("x".to_owned(), d("4")),
        ]);
        let v: Vec<_> = compare(&p, &r)
            .into_iter()
            .map(|c| (c.name, c.verdict))
            .collect();
        assert_eq!(
            v,
            [
                ("a".into(), Verdict::Match),
                ("b".into(), Verdict::Mismatch),
                ("c".into(), Verdict::Missing),
                ("x".into(), Verdict::Extra)
            ]
        );
    }

    #[test]
    fn sha256sums_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("SHA256SUMS");
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        std::fs::write(&p, format!("{h}  dist/app\n{h} *app.tar.gz\n")).unwrap();
        let m = published(&Published::Sums(p.clone())).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.contains_key("app"));
        std::fs::write(&p, "nothex  app\n").unwrap();
        assert!(
            published(&Published::Sums(p.clone()))
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        std::fs::write(&p, "").unwrap();
        assert!(published(&Published::Sums(p.clone())).is_err());
    }

    #[test]
    fn a_published_folder_holds_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(published(&Published::Dir(dir.path().to_owned())).is_err());
        std::fs::write(dir.path().join("app"), b"1").unwrap();
        assert_eq!(
            published(&Published::Dir(dir.path().to_owned()))
                .unwrap()
                .len(),
            1
        );
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("z")).unwrap();
        let err = published(&Published::Dir(dir.path().to_owned())).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains("symlink"), "{chain}");
    }

    #[test]
    fn duplicate_names_are_a_recipe_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("a/app"), b"1").unwrap();
        std::fs::write(dir.path().join("b/app"), b"2").unwrap();
        let err = collect(dir.path(), &["*/app".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`app`"), "{err}");
        let ok = collect(dir.path(), &["a/*".into()]).unwrap();
        assert_eq!(ok.len(), 1);
    }
}
