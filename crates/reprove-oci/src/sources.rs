//! The files `images check` and `images pin` read when given folders: every file whose name
//! says it can hold image references ([`crate::file_kind`]), in name order, skipping what
//! `.gitignore` (and `.ignore`) files exclude — `node_modules`, `target`, vendored trees — the
//! way `git status` would, plus the `.git` folder itself. Symbolic links are never followed.

use std::path::{Path, PathBuf};

use crate::OciError;

/// A file to scan: how it is shown (relative to what the user named), and where it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub display: String,
    pub path: PathBuf,
}

/// The files under `dir` that can hold image references, shown under `display`.
///
/// Ignore files apply inside and outside a git repository, and the user's global excludes
/// file does not (the result must not depend on who runs it). Hidden files count:
/// `.gitlab-ci.yml` and `.github/workflows/*.yml` are where CI images are named.
pub fn walk(dir: &Path, display: &str) -> Result<Vec<Source>, OciError> {
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .follow_links(false)
        .git_global(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| OciError::Walk {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let rel = rel.to_string_lossy();
        let shown = if display.is_empty() || display == "." {
            rel.into_owned()
        } else {
            format!("{}/{rel}", display.trim_end_matches('/'))
        };
        if crate::file_kind(&shown).is_some() {
            out.push(Source {
                display: shown,
                path: entry.path().to_owned(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_trees_and_git_are_skipped_hidden_ci_files_are_not() {
        let d = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w(".gitignore", "node_modules/\n/target\n");
        w("Dockerfile", "FROM a:1\n");
        w(".gitlab-ci.yml", "image: b:1\n");
        w(".github/workflows/ci.yml", "jobs: {}\n");
        w("node_modules/pkg/Dockerfile", "FROM evil:1\n");
        w("target/debug/Dockerfile", "FROM evil:1\n");
        w(".git/Dockerfile", "FROM evil:1\n");
        w("sub/.ignore", "skip/\n");
        w("sub/skip/compose.yaml", "services: {}\n");
        w("sub/compose.yaml", "services: {}\n");
        let got: Vec<String> = walk(d.path(), "repo")
            .unwrap()
            .into_iter()
            .map(|s| s.display)
            .collect();
        assert_eq!(
            got,
            [
                "repo/.github/workflows/ci.yml",
                "repo/.gitlab-ci.yml",
                "repo/Dockerfile",
                "repo/sub/compose.yaml"
            ]
        );
    }

    #[test]
    fn links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("Dockerfile"), "FROM x:1\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("linked")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("Dockerfile"),
            d.path().join("Dockerfile"),
        )
        .unwrap();
        assert!(walk(d.path(), ".").unwrap().is_empty());
    }
}
