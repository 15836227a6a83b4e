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

fn digest_file(path: &Path) -> Result<ArtifactDigest, BuildError> {
    let (d, size) =
        reprove_digest::sha256_file(path).map_err(|source| BuildError::Hash { source })?;
    Ok(ArtifactDigest {
        sha256: d.hex(),
        size: Some(size),
        path: Some(path.to_owned()),
    })
}

/// The published set: a flat directory of files, or a `SHA256SUMS` file.
pub fn published(path: &Path) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let io = |e| BuildError::Io {
        path: path.to_owned(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mut out = BTreeMap::new();
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            let ft = entry.file_type().map_err(io)?;
            if ft.is_file() {
                out.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    digest_file(&entry.path())?,
                );
            }
        }
        return Ok(out);
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
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
        let m = published(&p).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.contains_key("app"));
        std::fs::write(&p, "nothex  app\n").unwrap();
        assert!(published(&p).unwrap_err().to_string().contains("line 1"));
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
