//! What makes a tree one git itself calls invalid (`git fsck`: `duplicateEntries`,
//! `hasDot`, `hasDotdot`, `hasDotgit`, `emptyName`, `fullPathname`), and what no checkout can
//! represent: a path that is a file, symlink or submodule *and* the folder of another path.
//! Such a tree can be written with `git hash-object --literally`; a checkout, an export and the
//! baseline's list of items would each read it differently.

use crate::git::{TreeEntry, TreeEntryKind};

/// One problem with a tree, naming the path (lossily decoded) it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeProblem {
    pub path: String,
    pub reason: &'static str,
}

fn component_problem(c: &[u8]) -> Option<&'static str> {
    match c {
        b"" => Some("has an empty path component"),
        b"." => Some("has a `.` path component"),
        b".." => Some("has a `..` path component"),
        // Case-insensitively, as fsck does: on case-insensitive file systems `.GIT` is `.git`.
        c if c.eq_ignore_ascii_case(b".git") => Some("has a `.git` path component"),
        _ => None,
    }
}

/// Every problem of a recursively listed tree (entries sorted by path bytes, as
/// [`crate::Repository::tree_entries`] returns them).
pub fn tree_problems(entries: &[TreeEntry]) -> Vec<TreeProblem> {
    let mut out = Vec::new();
    let name = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for e in entries {
        if e.path.starts_with(b"/") {
            out.push(TreeProblem {
                path: name(&e.path),
                reason: "is absolute",
            });
        }
        if let Some(reason) = e.path.split(|&b| b == b'/').find_map(component_problem) {
            out.push(TreeProblem {
                path: name(&e.path),
                reason,
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in entries {
        if !seen.insert(e.path.as_slice()) {
            out.push(TreeProblem {
                path: name(&e.path),
                reason: "appears twice in the tree",
            });
        }
    }
    let leaves: std::collections::BTreeSet<&[u8]> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                TreeEntryKind::File
                    | TreeEntryKind::Executable
                    | TreeEntryKind::Symlink
                    | TreeEntryKind::Submodule
            )
        })
        .map(|e| e.path.as_slice())
        .collect();
    for e in entries {
        let p = e.path.as_slice();
        for (i, _) in p.iter().enumerate().filter(|(_, b)| **b == b'/') {
            if leaves.contains(&p[..i]) {
                out.push(TreeProblem {
                    path: name(&p[..i]),
                    reason: "is both a file (or symlink, or submodule) and a folder",
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path).then(a.reason.cmp(b.reason)));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: TreeEntryKind) -> TreeEntry {
        TreeEntry {
            path: path.as_bytes().to_vec(),
            mode: "100644".into(),
            kind,
            oid: "0123456789abcdef0123456789abcdef01234567".parse().unwrap(),
            size: Some(0),
        }
    }

    #[test]
    fn a_sound_tree_has_no_problems() {
        let t = [
            e("a.c", TreeEntryKind::File),
            e("a/b", TreeEntryKind::File),
            e("lib/x", TreeEntryKind::Symlink),
        ];
        assert_eq!(tree_problems(&t), []);
    }

    #[test]
    fn git_fsck_problems_are_found() {
        let t = [
            e("a", TreeEntryKind::Symlink),
            e("a/b", TreeEntryKind::File),
            e("dup", TreeEntryKind::File),
            e("dup", TreeEntryKind::Executable),
            e("x/.GIT/config", TreeEntryKind::File),
            e("y/../z", TreeEntryKind::File),
        ];
        let problems = tree_problems(&t);
        let p: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.path.as_str(), p.reason))
            .collect();
        assert!(
            p.contains(&(
                "a",
                "is both a file (or symlink, or submodule) and a folder"
            )),
            "{p:?}"
        );
        assert!(p.contains(&("dup", "appears twice in the tree")), "{p:?}");
        assert!(
            p.contains(&("x/.GIT/config", "has a `.git` path component")),
            "{p:?}"
        );
        assert!(
            p.contains(&("y/../z", "has a `..` path component")),
            "{p:?}"
        );
    }
}
