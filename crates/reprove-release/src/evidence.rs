//! The evidence folder of one release (design: "Evidence layout").
//!
//! A release's folder is assembled in a hidden staging folder beside it
//! (`.<name>.partial-<pid>-<random>`) and renamed into place only when everything was written,
//! so a reader never sees half a folder: a run killed midway leaves at most a staging folder,
//! which the next run removes once that run's lock is free. `index.json` lists every other
//! file with its sha256 and size, and `index.sigstore.json` signs all of them (index
//! included): `verify` and `status` check the folder against the signed index.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ReleaseError;

/// The signed baseline manifest (Sigstore bundle).
pub const BASELINE: &str = "baseline.sigstore.json";
/// The signed SLSA provenance of the rebuild (Sigstore bundle); absent when the release failed.
pub const PROVENANCE: &str = "provenance.sigstore.json";
/// The rebuild report, as `reprove rebuild --format json` prints it.
pub const REBUILD_REPORT: &str = "rebuild-report.json";
/// The recipe a release was built with when its tag had no `[build]` table
/// (`release --recipe`): the file's bytes, which the provenance names by sha256.
pub const RECIPE: &str = "recipe.toml";
/// The build's combined stdout and stderr.
pub const BUILD_LOG: &str = "build.log";
/// The fetch phase's log (`[build.fetch]`), when the rebuild fetched.
pub const FETCH_LOG: &str = "fetch.log";
/// The SOUP register in four forms: for people, spreadsheets, CycloneDX 1.6 and SPDX 2.3 tools.
pub const SOUP_MARKDOWN: &str = "soup.md";
pub const SOUP_CSV: &str = "soup.csv";
pub const SOUP_CYCLONEDX: &str = "soup.cdx.json";
pub const SOUP_SPDX: &str = "soup.spdx.json";
/// Mismatch explanations (diffoscope reports), when the rebuild differs.
pub const EXPLANATIONS: &str = "explanations";
/// The rebuilt artifacts, kept only when they differ from the published ones.
pub const REBUILT: &str = "rebuilt";
/// Every other file with its sha256.
pub const INDEX: &str = "index.json";
/// The index, signed: every file (including `index.json`) as a subject.
pub const SIGNED_INDEX: &str = "index.sigstore.json";

/// Whether the release passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseOutcome {
    /// Reproducible, policy met, provenance signed.
    Released,
    /// A check failed; the folder records why and holds no provenance.
    Failed,
}

impl ReleaseOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseOutcome::Released => "released",
            ReleaseOutcome::Failed => "failed",
        }
    }
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

/// How deep an evidence folder may nest (`explanations/<artifact>/…`): deeper is not something
/// a release writes, and is refused rather than walked.
pub const MAX_DEPTH: usize = 16;

/// One entry of an evidence folder: its `/`-separated relative path and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    pub path: String,
    pub size: u64,
}

/// Every regular file under `dir`, sorted by path, with its size — without reading any.
/// Anything else — a symlink, FIFO, socket or device — stops the listing at once: evidence is
/// plain files, and reading a FIFO would hang, a device never end. The walk is iterative and
/// refuses folders nested deeper than [`MAX_DEPTH`].
pub fn scan(dir: &Path) -> Result<Vec<FolderEntry>, ReleaseError> {
    use reprove_digest::EntryKind;
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(ReleaseError::EvidenceTooDeep { path: d });
        }
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let entry = entry.map_err(io(&d))?;
            let path = entry.path();
            let meta = entry.metadata().map_err(io(&path))?;
            match EntryKind::of(&meta.file_type()) {
                EntryKind::Directory => stack.push((path, depth + 1)),
                EntryKind::Regular => {
                    let rel = path
                        .strip_prefix(dir)
                        .map_err(|_| ReleaseError::EvidenceNotPlain {
                            path: path.clone(),
                            kind: EntryKind::Other,
                        })?
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    out.push(FolderEntry {
                        path: rel,
                        size: meta.len(),
                    });
                }
                kind => return Err(ReleaseError::EvidenceNotPlain { path, kind }),
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Every regular file under `dir` except `index.json` and `index.sigstore.json`, sorted, with
/// its digest and size (what the release signs).
pub fn list_files(dir: &Path) -> Result<Vec<IndexEntry>, ReleaseError> {
    let mut entries = Vec::new();
    for e in scan(dir)? {
        if e.path == INDEX || e.path == SIGNED_INDEX {
            continue;
        }
        let p = dir.join(&e.path);
        let (d, size) = reprove_digest::sha256_file(&p).map_err(|source| ReleaseError::Hash {
            path: p.clone(),
            source,
        })?;
        entries.push(IndexEntry {
            path: e.path,
            sha256: d.hex(),
            size,
        });
    }
    Ok(entries)
}

/// Reads a folder's `index.json` (a regular file, at most
/// [`reprove_attest::signed::MAX_BUNDLE_BYTES`]).
pub fn read_index(dir: &Path) -> Result<Index, ReleaseError> {
    let path = dir.join(INDEX);
    let bytes = read_small(&path)?;
    reprove_attest::json::from_slice(&bytes).map_err(|e| ReleaseError::Malformed {
        path,
        reason: e.to_string(),
    })
}

/// Reads a JSON file of the folder (`index.json`, `rebuild-report.json`): a regular file, not
/// followed, capped in size.
pub fn read_small(path: &Path) -> Result<Vec<u8>, ReleaseError> {
    reprove_digest::read_regular(path, reprove_attest::signed::MAX_BUNDLE_BYTES).map_err(|source| {
        ReleaseError::Evidence {
            path: path.to_owned(),
            source,
        }
    })
}

/// `predicateType` of the signed index: a Statement whose subjects are every file of the
/// folder (including `index.json`) and whose predicate is the release's outcome.
pub const INDEX_PREDICATE_TYPE: &str = "https://reprove.dev/evidence-index/v0.1";

/// A release folder being assembled.
///
/// While it is being written, the staging folder `.<name>.partial-<pid>-<random>` has a lock
/// file beside it (`….lock`) that the run holds locked. A later run removes a staging folder
/// only when it can take that lock — the owner is gone, even if it was killed with SIGKILL or
/// lives in another PID namespace — and never one whose lock it cannot take.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    force: bool,
    lock: Option<(std::fs::File, PathBuf)>,
    done: bool,
}

fn staging_prefix(target: &Path) -> String {
    format!(".{}.partial-", leaf(target))
}

fn leaf(target: &Path) -> String {
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn lock_path(dir: &Path) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Whether the run that owns `dir` is gone: its lock file can be locked (or, for a folder
/// without one, nobody can own it any more).
fn abandoned(dir: &Path) -> bool {
    let lock = lock_path(dir);
    match std::fs::OpenOptions::new().write(true).open(&lock) {
        Ok(f) => f.try_lock().is_ok(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn random_suffix() -> String {
    hex::encode(crate::provenance::label_bytes::<6>())
}

impl Staging {
    /// Starts a folder that will become `target`. Refuses an existing `target` unless `force`.
    pub fn create(target: &Path, force: bool) -> Result<Staging, ReleaseError> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        recover(parent, target);
        if target.exists() && !force {
            return Err(ReleaseError::EvidenceExists {
                path: target.to_owned(),
            });
        }
        let dir = parent.join(format!(
            "{}{}-{}",
            staging_prefix(target),
            std::process::id(),
            random_suffix()
        ));
        let lock = lock_path(&dir);
        let file = std::fs::File::create(&lock).map_err(io(&lock))?;
        // File systems without locks (some network mounts) cannot host a release safely:
        // refuse rather than risk another run removing this one's folder.
        if let Err(e) = file.lock().and_then(|()| std::fs::create_dir(&dir)) {
            let _ = std::fs::remove_file(&lock);
            return Err(ReleaseError::Io {
                path: dir.clone(),
                source: e,
            });
        }
        Ok(Staging {
            dir,
            target: target.to_owned(),
            force,
            lock: Some((file, lock)),
            done: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes one file (relative path) into the staging folder, and flushes it to disk.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), ReleaseError> {
        use std::io::Write as _;
        let path = self.dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        let mut f = std::fs::File::create(&path).map_err(io(&path))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(io(&path))
    }

    /// Writes `index.json` over everything staged, signs the index (`index.sigstore.json`,
    /// whose subjects are every file including `index.json`), and renames the folder into
    /// place. Without `force` an existing target is never replaced, even one that appeared
    /// while this run was working; with it, the old folder is moved aside and removed only
    /// after the new one is in place (and put back if that fails).
    pub fn finish(
        self,
        tag: &str,
        commit: &str,
        outcome: ReleaseOutcome,
        failures: Vec<String>,
        created_on: String,
        key: &dyn reprove_attest::StatementSigner,
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
        let malformed = |path: PathBuf| {
            move |e: serde_json::Error| ReleaseError::Malformed {
                path,
                reason: e.to_string(),
            }
        };
        let mut bytes =
            serde_json::to_vec_pretty(&index).map_err(malformed(self.dir.join(INDEX)))?;
        bytes.push(b'\n');
        self.write(INDEX, &bytes)?;
        // list_files leaves both indexes out; the signed one covers index.json too.
        let mut files = list_files(&self.dir)?;
        files.push(IndexEntry {
            path: INDEX.to_owned(),
            sha256: reprove_digest::sha256_bytes(&bytes).hex(),
            size: bytes.len() as u64,
        });
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let signed = index_statement(&index, &files)?;
        self.write(SIGNED_INDEX, &crate::pipeline::sign_statement(signed, key)?)?;
        self.place(true)?;
        Ok(index)
    }

    /// Renames the staged folder into place as it is (a folder pulled from a registry, whose
    /// own signed index is the check): the same no-overwrite-without-force rules as
    /// [`Staging::finish`]. With `durable`, every file and the rename are flushed to disk first; a temporary copy
    /// (a registry's evidence pulled for one `verify`) skips the thousands of fsyncs.
    pub fn place(mut self, durable: bool) -> Result<(), ReleaseError> {
        // Everything on disk before the folder appears (files moved in from the rebuild were
        // not synced where they were written), and the rename itself after.
        if durable {
            sync_tree(&self.dir)?;
        }
        // rename(2) replaces only an empty folder: a folder with evidence in it, even one
        // that appeared while this run worked, makes it fail and is never replaced here.
        let placed = if self.target.exists() {
            None
        } else {
            Some(std::fs::rename(&self.dir, &self.target))
        };
        match placed {
            Some(Ok(())) => {}
            Some(Err(e)) if !self.target.exists() => {
                return Err(ReleaseError::Io {
                    path: self.target.clone(),
                    source: e,
                });
            }
            _ if !self.force => {
                return Err(ReleaseError::EvidenceExists {
                    path: self.target.clone(),
                });
            }
            _ => {
                // The old folder is moved aside under this run's (locked) staging name, so no
                // other run touches it until this one is gone.
                let old = replaced_path(&self.dir);
                std::fs::rename(&self.target, &old).map_err(io(&self.target))?;
                if let Err(e) = std::fs::rename(&self.dir, &self.target) {
                    let _ = std::fs::rename(&old, &self.target);
                    return Err(ReleaseError::Io {
                        path: self.target.clone(),
                        source: e,
                    });
                }
                let _ = std::fs::remove_dir_all(&old);
            }
        }
        self.done = true;
        if durable {
            sync_dir(
                self.target
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
            )?;
        }
        if let Some((_, lock)) = self.lock.take() {
            let _ = std::fs::remove_file(lock);
        }
        Ok(())
    }
}

/// fsync(2) of a folder: makes the entries in it (a rename into it) durable.
fn sync_dir(dir: &Path) -> Result<(), ReleaseError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir))
}

/// fsync(2) of every file and folder under `dir`, `dir` last.
fn sync_tree(dir: &Path) -> Result<(), ReleaseError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(io(&path))?;
        if ft.is_dir() {
            sync_tree(&path)?;
        } else if ft.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
        }
    }
    sync_dir(dir)
}

/// Cleans up after runs that died: staging folders whose owner is gone are removed; a folder
/// moved aside by a `--force` run that died before the new one was in place is put back.
fn recover(parent: &Path, target: &Path) {
    let sp = staging_prefix(target);
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&sp) && !n.ends_with(".lock"))
        .collect();
    // Moved-aside folders first: put back while their run's lock still tells us it is gone.
    names.sort_by_key(|n| !n.ends_with(REPLACED_SUFFIX));
    for name in names {
        let path = parent.join(&name);
        if let Some(staging) = name.strip_suffix(REPLACED_SUFFIX) {
            let staging = parent.join(staging);
            if !abandoned(&staging) {
                continue;
            }
            if target.exists() {
                let _ = std::fs::remove_dir_all(&path);
            } else {
                let _ = std::fs::rename(&path, target);
            }
        } else if abandoned(&path) {
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(lock_path(&path));
        }
    }
}

/// Where a `--force` run moves the old folder: named after its own staging folder.
const REPLACED_SUFFIX: &str = ".replaced";

fn replaced_path(staging: &Path) -> PathBuf {
    let mut s = staging.as_os_str().to_owned();
    s.push(REPLACED_SUFFIX);
    PathBuf::from(s)
}

/// The signed index's statement: every file as a subject, the outcome as the predicate.
pub fn index_statement(index: &Index, files: &[IndexEntry]) -> Result<Vec<u8>, ReleaseError> {
    // Each subject carries its size too, so a verifier can refuse a file of another size
    // (a sparse terabyte, say) without reading it.
    let subject = files
        .iter()
        .filter(|f| f.path != SIGNED_INDEX)
        .map(|f| {
            let mut d =
                reprove_attest::ResourceDescriptor::named(f.path.clone(), "sha256", &f.sha256);
            d.annotations = Some(serde_json::Map::from_iter([(
                "size".to_owned(),
                serde_json::Value::from(f.size),
            )]));
            d
        })
        .collect();
    let predicate = serde_json::json!({
        "tag": index.tag,
        "commit": index.commit,
        "outcome": index.outcome,
        "failures": index.failures,
        "createdOn": index.created_on,
        "reproveVersion": index.reprove_version,
    });
    let st = reprove_attest::Statement::new(subject, INDEX_PREDICATE_TYPE, predicate);
    st.validate()
        .map_err(|source| ReleaseError::Statement { source })?;
    st.to_canonical_json()
        .map_err(|source| ReleaseError::Statement { source })
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if let Some((_, lock)) = self.lock.take() {
            let _ = std::fs::remove_file(lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> reprove_attest::PrivateKey {
        reprove_attest::PrivateKey::generate(reprove_attest::KeyAlgorithm::P256).unwrap()
    }

    #[test]
    fn a_folder_appears_only_when_finished_and_its_index_is_signed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("evidence/v1.0.0");
        let s = Staging::create(&target, false).unwrap();
        s.write("a.txt", b"a").unwrap();
        s.write("sub/b.txt", b"b").unwrap();
        assert!(!target.exists());
        let k = key();
        let index = s
            .finish(
                "v1.0.0",
                "c0",
                ReleaseOutcome::Released,
                vec![],
                "t".into(),
                &k,
            )
            .unwrap();
        assert!(target.join("a.txt").exists());
        let paths: Vec<&str> = index.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "sub/b.txt"]);
        assert_eq!(read_index(&target).unwrap(), index);
        // The signed index names every file, index.json included.
        let bundle = std::fs::read(target.join(SIGNED_INDEX)).unwrap();
        let v = reprove_attest::verify::verify_statement(
            &bundle,
            &reprove_attest::verify::Signer::Key {
                key: k.public_key(),
            },
            None,
        )
        .unwrap();
        let st = v.statement;
        let names: Vec<&str> = st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a.txt", "index.json", "sub/b.txt"]);
        assert_eq!(st["predicate"]["outcome"], "released");
        // Only the final folder is left beside it: no staging folder, no lock file.
        let names: Vec<_> = std::fs::read_dir(root.path().join("evidence"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["v1.0.0"]);
    }

    #[test]
    fn existing_evidence_needs_force_even_when_it_appears_midway() {
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
        let k = key();
        let s = Staging::create(&target, true).unwrap();
        s.write("new", b"y").unwrap();
        s.finish(
            "v1",
            "c",
            ReleaseOutcome::Failed,
            vec!["x".into()],
            "t".into(),
            &k,
        )
        .unwrap();
        assert!(!target.join("keep").exists());
        assert!(target.join("new").exists());
        // Regression: a second run without --force that started before the first finished
        // must not replace the first's folder.
        let other = root.path().join("v2");
        let slow = Staging::create(&other, false).unwrap();
        let fast = Staging::create(&other, false).unwrap();
        fast.finish("v2", "c", ReleaseOutcome::Released, vec![], "t".into(), &k)
            .unwrap();
        let before = std::fs::read(other.join(INDEX)).unwrap();
        slow.write("late", b"z").unwrap();
        let err = slow
            .finish("v2", "c", ReleaseOutcome::Released, vec![], "t".into(), &k)
            .unwrap_err();
        assert!(matches!(err, ReleaseError::EvidenceExists { .. }), "{err}");
        assert_eq!(std::fs::read(other.join(INDEX)).unwrap(), before);
    }

    #[test]
    fn leftovers_of_dead_runs_are_removed_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("v1");
        // A dead run: its lock file is not held by anyone.
        let dead = root.path().join(".v1.partial-4294967-aa");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(lock_path(&dead), b"").unwrap();
        // A live run (this test holds its lock), even with a pid that looks dead.
        let live = Staging::create(&target, false).unwrap();
        assert!(!dead.exists());
        assert!(!lock_path(&dead).exists());
        let _second = Staging::create(&target, false).unwrap();
        assert!(
            live.path().exists(),
            "a live run's staging folder is never removed"
        );
    }

    #[test]
    fn a_force_run_killed_between_its_renames_is_undone() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("v1");
        let aside = root.path().join(".v1.partial-4294967-aa.replaced");
        std::fs::create_dir(&aside).unwrap();
        std::fs::write(aside.join("old"), b"x").unwrap();
        let _s = Staging::create(&target, true).unwrap();
        assert!(target.join("old").exists(), "the old evidence is put back");
        assert!(!aside.exists());
    }

    #[test]
    fn a_live_force_runs_moved_aside_folder_is_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("v1");
        let live = Staging::create(&target, true).unwrap();
        // As if `live` were between its two renames: the old folder moved aside, no target.
        let aside = replaced_path(live.path());
        std::fs::create_dir(&aside).unwrap();
        let _other = Staging::create(&target, true).unwrap();
        assert!(
            aside.exists(),
            "another run must not act on a live run's folder"
        );
        assert!(!target.exists());
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
