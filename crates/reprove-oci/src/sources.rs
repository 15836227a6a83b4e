//! The files `images check` and `images pin` read when given folders: every file whose name
//! says it can hold image references ([`crate::file_kind`]), in name order, skipping what the
//! repository's `.gitignore` files exclude — `node_modules`, `target`, vendored trees — the way
//! `git status` would, plus the `.git` folder itself. Symbolic links are never followed.
//!
//! Ignore files count only inside a git repository as git itself finds it (the caller asks
//! git; a planted `.git` or `.jj` entry does not make one) and only within the folder named
//! (not from the folders above it, not `.ignore`): a file a hostile folder plants cannot hide
//! anything outside a repository. The caller adds the repository's tracked files, which no
//! ignore file hides.

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
/// The user's global excludes file does not apply (the result must not depend on who runs it).
/// Hidden files count: `.gitlab-ci.yml` and `.github/workflows/*.yml` are where CI images are
/// named.
///
/// `in_repository` says whether git itself finds a repository at `dir` (the caller asks git):
/// the `ignore` crate would take any planted `.git` or `.jj` entry for one.
pub fn walk(dir: &Path, display: &str, in_repository: bool) -> Result<Vec<Source>, OciError> {
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .follow_links(false)
        .git_global(false)
        .git_ignore(in_repository)
        .git_exclude(in_repository)
        .ignore(false)
        .parents(false)
        .require_git(true)
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
        std::fs::create_dir(d.path().join(".git")).unwrap();
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
        // `.ignore` files are not git's: they hide nothing.
        w("sub/.ignore", "compose.yaml\n");
        w("sub/compose.yaml", "services: {}\n");
        let got: Vec<String> = walk(d.path(), "repo", true)
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

    /// Outside a repository, and from the folders above the one named, ignore files hide
    /// nothing.
    #[test]
    fn ignore_files_outside_a_repository_or_above_the_folder_hide_nothing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".gitignore"), "*\n").unwrap();
        std::fs::create_dir(d.path().join("proj")).unwrap();
        std::fs::write(d.path().join("proj/.gitignore"), "Dockerfile\n").unwrap();
        std::fs::write(d.path().join("proj/Dockerfile"), "FROM a:1\n").unwrap();
        let got: Vec<String> = walk(&d.path().join("proj"), "proj", false)
            .unwrap()
            .into_iter()
            .map(|s| s.display)
            .collect();
        assert_eq!(got, ["proj/Dockerfile"]);
    }

    /// Regression (review of issue 12): a planted `.jj` (or `.git`) entry made the walker
    /// treat a plain folder as a repository and honour its `.gitignore`.
    #[test]
    fn a_planted_repository_marker_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".jj"), "").unwrap();
        std::fs::write(d.path().join(".gitignore"), "Dockerfile\n").unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM evil:1\n").unwrap();
        let got: Vec<String> = walk(d.path(), ".", false)
            .unwrap()
            .into_iter()
            .map(|s| s.display)
            .collect();
        assert_eq!(got, ["Dockerfile"]);
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
        assert!(walk(d.path(), ".", true).unwrap().is_empty());
    }
}
