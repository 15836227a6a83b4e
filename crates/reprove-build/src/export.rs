//! Exporting the tree at a commit — never the working tree — into a fresh directory, through
//! `git archive` (which reads only objects) and a checked unpack: no entry may escape the root.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use reprove_digest::{Digest, Sha256Hasher};
use reprove_source::{ObjectId, Repository};

use crate::BuildError;

/// A reader that hashes everything that passes through it.
struct Tee<R> {
    inner: R,
    hasher: Sha256Hasher,
}

impl<R: std::io::Read> std::io::Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpacks the tree at `commit` into `dest` (which must exist and be empty) and returns the
/// sha256 of the `git archive --format=tar` stream, the deterministic source archive.
pub fn export_tree(
    repo: &Repository,
    commit: &ObjectId,
    dest: &Path,
) -> Result<Digest, BuildError> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo.root())
        .args(["archive", "--format=tar", commit.as_str()])
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_NO_LAZY_FETCH", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BuildError::Export {
            commit: commit.to_string(),
            detail: e.to_string(),
        })?;
    let stdout = child.stdout.take().ok_or_else(|| BuildError::Export {
        commit: commit.to_string(),
        detail: "no output".into(),
    })?;
    let mut tee = Tee {
        inner: stdout,
        hasher: Sha256Hasher::new(),
    };
    let unpacked = (|| -> Result<(), BuildError> {
        let mut archive = tar::Archive::new(&mut tee);
        archive.set_preserve_permissions(true);
        archive.set_overwrite(false);
        let entries = archive.entries().map_err(|e| BuildError::Export {
            commit: commit.to_string(),
            detail: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| BuildError::Export {
                commit: commit.to_string(),
                detail: e.to_string(),
            })?;
            let path = entry
                .path()
                .map_err(|e| BuildError::Export {
                    commit: commit.to_string(),
                    detail: e.to_string(),
                })?
                .into_owned();
            // `unpack_in` refuses `..` and absolute paths and never writes through a symlink
            // outside `dest`; a refused entry is an error, not a skipped file.
            let ok = entry.unpack_in(dest).map_err(|e| BuildError::Export {
                commit: commit.to_string(),
                detail: format!("`{}`: {e}", path.display()),
            })?;
            if !ok {
                return Err(BuildError::Export {
                    commit: commit.to_string(),
                    detail: format!(
                        "the archive entry `{}` escapes the build tree",
                        path.display()
                    ),
                });
            }
        }
        // Drain trailing padding so the digest covers the whole stream.
        std::io::copy(&mut tee, &mut std::io::sink())
            .map(|_| ())
            .map_err(|e| BuildError::Export {
                commit: commit.to_string(),
                detail: e.to_string(),
            })
    })();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(|e| BuildError::Export {
        commit: commit.to_string(),
        detail: e.to_string(),
    })?;
    unpacked?;
    if !status.success() {
        return Err(BuildError::Export {
            commit: commit.to_string(),
            detail: stderr.trim().to_owned(),
        });
    }
    Ok(tee.hasher.finish())
}
