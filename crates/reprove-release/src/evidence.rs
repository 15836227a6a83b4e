//! The evidence folder of one release (design: "Evidence layout").
//!
//! A release's folder is assembled in a hidden staging folder beside it
//! (`.<name>.partial-<pid>`) and renamed into place only when everything was written, so a
//! reader never sees half a folder: a run killed midway leaves at most a staging folder,
//! which the next run removes once its process is gone. `index.json` lists every other file
//! with its sha256 and size; it is what `verify` and `status` check the folder against.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ReleaseError;

/// The signed baseline manifest (Sigstore bundle).
pub const BASELINE: &str = "baseline.sigstore.json";
/// The signed SLSA provenance of the rebuild (Sigstore bundle); absent when the release failed.
pub const PROVENANCE: &str = "provenance.sigstore.json";
/// The rebuild report, as `reprove rebuild --format json` prints it.
pub const REBUILD_REPORT: &str = "rebuild-report.json";
/// The build's combined stdout and stderr.
pub const BUILD_LOG: &str = "build.log";
/// The SOUP register in three forms.
pub const SOUP_MARKDOWN: &str = "soup.md";
pub const SOUP_CSV: &str = "soup.csv";
pub const SOUP_CYCLONEDX: &str = "soup.cdx.json";
/// Mismatch explanations (diffoscope reports), when the rebuild differs.
pub const EXPLANATIONS: &str = "explanations";
/// The rebuilt artifacts, kept only when they differ from the published ones.
pub const REBUILT: &str = "rebuilt";
/// Every other file with its sha256.
pub const INDEX: &str = "index.json";

/// Whether the release passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseOutcome {
    /// Reproducible, policy met, provenance signed.
    Released,
    /// A check failed; the folder records why and holds no provenance.
    Failed,
}

/// One file of the folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Relative path, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub tag: String,
    pub commit: String,
    pub outcome: ReleaseOutcome,
    /// Why the release failed, one line per failed check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// RFC 3339 UTC.
    pub created_on: String,
    pub reprove_version: String,
    pub files: Vec<IndexEntry>,
}

/// `evidence/<tag>` under the repository root.
pub fn default_dir(root: &Path, tag: &str) -> PathBuf {
    root.join("evidence").join(tag)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError + '_ {
    move |source| ReleaseError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every regular file under `dir` except `index.json`, sorted, with its digest. Symlinks are
/// refused: evidence is plain files.
pub fn list_files(dir: &Path) -> Result<Vec<IndexEntry>, ReleaseError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReleaseError> {
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() {
                walk(&path, out)?;
            } else if kind.is_file() {
                out.push(path);
            } else {
                return Err(ReleaseError::EvidenceNotPlain { path });
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    let mut entries = Vec::new();
    for p in paths {
        let rel = p
            .strip_prefix(dir)
            .map_err(|_| ReleaseError::EvidenceNotPlain { path: p.clone() })?;
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if rel == INDEX {
            continue;
        }
        let (d, size) = reprove_digest::sha256_file(&p).map_err(|source| ReleaseError::Hash {
            path: p.clone(),
            source,
        })?;
        entries.push(IndexEntry {
            path: rel,
            sha256: d.hex(),
            size,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Reads a folder's `index.json`.
pub fn read_index(dir: &Path) -> Result<Index, ReleaseError> {
    let path = dir.join(INDEX);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| ReleaseError::Malformed {
        path,
        reason: e.to_string(),
    })
}

/// A release folder being assembled.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    done: bool,
}

fn staging_prefix(target: &Path) -> String {
    format!(
        ".{}.partial-",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    )
}

/// Whether a process with this id is still running (Linux `/proc`; elsewhere assume it is).
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Staging {
    /// Starts a folder that will become `target`. Refuses an existing `target` unless `force`.
    pub fn create(target: &Path, force: bool) -> Result<Staging, ReleaseError> {
        if target.exists() && !force {
            return Err(ReleaseError::EvidenceExists {
                path: target.to_owned(),
            });
        }
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let prefix = staging_prefix(target);
        // Leftovers of runs that were killed: their process is gone.
        if let Ok(rd) = std::fs::read_dir(parent) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix(&prefix)
                    && let Ok(pid) = pid.parse::<u32>()
                    && !alive(pid)
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = parent.join(format!("{prefix}{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        Ok(Staging {
            dir,
            target: target.to_owned(),
            done: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes one file (relative path) into the staging folder.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), ReleaseError> {
        let path = self.dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))
    }

    /// Writes `index.json` over everything staged and renames the folder into place. An
    /// existing folder (allowed by `force`) is replaced only after the new one is complete.
    pub fn finish(
        mut self,
        tag: &str,
        commit: &str,
        outcome: ReleaseOutcome,
        failures: Vec<String>,
        created_on: String,
    ) -> Result<Index, ReleaseError> {
        let index = Index {
            tag: tag.to_owned(),
            commit: commit.to_owned(),
            outcome,
            failures,
            created_on,
            reprove_version: env!("CARGO_PKG_VERSION").to_owned(),
            files: list_files(&self.dir)?,
        };
        let mut bytes = serde_json::to_vec_pretty(&index).map_err(|e| ReleaseError::Malformed {
            path: self.dir.join(INDEX),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        self.write(INDEX, &bytes)?;
        if self.target.exists() {
            let old = self.dir.with_extension("replaced");
            std::fs::rename(&self.target, &old).map_err(io(&self.target))?;
            std::fs::rename(&self.dir, &self.target).map_err(io(&self.target))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&self.dir, &self.target).map_err(io(&self.target))?;
        }
        self.done = true;
        Ok(index)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_appears_only_when_finished() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("evidence/v1.0.0");
        let s = Staging::create(&target, false).unwrap();
        s.write("a.txt", b"a").unwrap();
        s.write("sub/b.txt", b"b").unwrap();
        assert!(!target.exists());
        let index = s
            .finish("v1.0.0", "c0", ReleaseOutcome::Released, vec![], "t".into())
            .unwrap();
        assert!(target.join("a.txt").exists());
        let paths: Vec<&str> = index.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "sub/b.txt"]);
        assert_eq!(read_index(&target).unwrap(), index);
        // Only the final folder is left beside it.
        let names: Vec<_> = std::fs::read_dir(root.path().join("evidence"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["v1.0.0"]);
    }

    #[test]
    fn existing_evidence_needs_force_and_survives_a_failed_run() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("v1");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"x").unwrap();
        let err = Staging::create(&target, false).unwrap_err();
        assert!(matches!(err, ReleaseError::EvidenceExists { .. }), "{err}");
        {
            let s = Staging::create(&target, true).unwrap();
            s.write("new", b"y").unwrap();
            // dropped without finish: a failed run
        }
        assert!(target.join("keep").exists());
        let s = Staging::create(&target, true).unwrap();
        s.write("new", b"y").unwrap();
        s.finish(
            "v1",
            "c",
            ReleaseOutcome::Failed,
            vec!["x".into()],
            "t".into(),
        )
        .unwrap();
        assert!(!target.join("keep").exists());
        assert!(target.join("new").exists());
    }

    #[test]
    fn leftovers_of_dead_runs_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("v1");
        // No process has pid 4294967; a live pid (ours) must be left alone.
        let dead = root.path().join(".v1.partial-4294967");
        std::fs::create_dir(&dead).unwrap();
        let s = Staging::create(&target, false).unwrap();
        assert!(!dead.exists());
        assert!(s.path().exists());
    }

    #[test]
    fn symlinks_are_not_evidence() {
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("l")).unwrap();
        assert!(matches!(
            list_files(root.path()).unwrap_err(),
            ReleaseError::EvidenceNotPlain { .. }
        ));
    }
}
