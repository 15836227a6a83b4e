//! What makes a tree one git itself calls invalid (`git fsck`: `duplicateEntries`,
//! `hasDot`, `hasDotdot`, `hasDotgit`, `emptyName`, `fullPathname`), and what no checkout can
//! represent: a path that is a file, symlink or submodule *and* the folder of another path.
//! Such a tree can be written with `git hash-object --literally`; a checkout, an export and the
//! baseline's list of items would each read it differently.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::git::{TreeEntry, TreeEntryKind};
use crate::ids::ObjectId;
use crate::odb::{MAX_TREE, ObjectKind, ObjectReader};
use crate::{Result, SourceError};

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

/// Most paths a tree may expand to: a tree can name one subtree many times, so a few kilobytes
/// of objects can stand for billions of paths.
pub(crate) const MAX_PATHS: usize = 2_000_000;

/// One entry of a tree object, as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: Vec<u8>,
    pub node: Node,
    pub oid: ObjectId,
}

/// What a tree entry's mode makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Tree,
    /// A leaf with its kind and canonical mode, as git prints it.
    Leaf(TreeEntryKind, &'static str),
}

/// A mode as git reads it (`canon_mode`: any regular file is `100644` or `100755`), or `None`
/// for a type git has no name for.
fn node(mode: u32) -> Option<Node> {
    Some(match mode & 0o170000 {
        0o040000 => Node::Tree,
        0o100000 if mode & 0o100 != 0 => Node::Leaf(TreeEntryKind::Executable, "100755"),
        0o100000 => Node::Leaf(TreeEntryKind::File, "100644"),
        0o120000 => Node::Leaf(TreeEntryKind::Symlink, "120000"),
        0o160000 => Node::Leaf(TreeEntryKind::Submodule, "160000"),
        _ => return None,
    })
}

/// Parses a tree object: entries `<octal mode> <name>\0<binary id>`
/// (gitformat-tree; the id is as long as the tree's own).
pub(crate) fn parse_tree(tree: &ObjectId, raw: &[u8]) -> Result<Vec<RawEntry>> {
    let id_len = tree.as_str().len() / 2;
    let bad = |reason: String| SourceError::InvalidTree {
        tree: tree.to_string(),
        reason,
    };
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut out = Vec::new();
    // Each name and whether an entry of that name is a folder, to find a repeated name without
    // scanning what came before (a tree of a million `a`s must not take hours).
    let mut names: HashMap<&[u8], bool> = HashMap::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("an entry has no mode".into()))?;
        let mode_text = &rest[..sp];
        let mode = std::str::from_utf8(mode_text)
            .ok()
            .filter(|m| (1..=7).contains(&m.len()))
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .ok_or_else(|| bad(format!("an entry has the mode `{}`", lossy(mode_text))))?;
        rest = &rest[sp + 1..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad("an entry's name does not end".into()))?;
        let name = &rest[..nul];
        rest = &rest[nul + 1..];
        if name.is_empty() {
            return Err(bad("an entry has an empty name".into()));
        }
        if name.contains(&b'/') {
            return Err(bad(format!(
                "the entry `{}` has a `/` in its name",
                lossy(name)
            )));
        }
        let node = node(mode).ok_or_else(|| {
            bad(format!(
                "the entry `{}` has the mode `{mode:o}`",
                lossy(name)
            ))
        })?;
        let Some(id) = rest.get(..id_len) else {
            return Err(bad("the last entry is cut short".into()));
        };
        rest = &rest[id_len..];
        // Two entries of one name where one is a folder would merge or hide each other's
        // paths; two leaves of one name are reported by `tree_problems` instead.
        let folder = node == Node::Tree;
        match names.get_mut(name) {
            Some(seen_folder) if *seen_folder || folder => {
                return Err(bad(format!("`{}` appears twice", lossy(name))));
            }
            Some(_) => {}
            None => {
                names.insert(name, folder);
            }
        }
        if out.len() >= MAX_PATHS {
            return Err(bad(format!("it has more than {MAX_PATHS} entries")));
        }
        out.push(RawEntry {
            name: name.to_vec(),
            node,
            oid: hex::encode(id).parse()?,
        });
    }
    Ok(out)
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if prefix.is_empty() {
        return name.to_vec();
    }
    let mut p = Vec::with_capacity(prefix.len() + 1 + name.len());
    p.extend_from_slice(prefix);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// A leaf of a walked tree.
pub(crate) struct Leaf {
    pub path: Vec<u8>,
    pub kind: TreeEntryKind,
    pub mode: &'static str,
    pub oid: ObjectId,
}

/// Every leaf under `root`, each tree read and checked; one request per level of folders, and
/// each distinct tree read once however often it is named.
pub(crate) fn walk_tree(odb: &mut ObjectReader, root: &ObjectId) -> Result<Vec<Leaf>> {
    let mut trees: HashMap<ObjectId, Rc<Vec<RawEntry>>> = HashMap::new();
    let mut level = vec![(Vec::new(), root.clone())];
    let mut out = Vec::new();
    let mut paths = 0usize;
    while !level.is_empty() {
        let mut fresh: Vec<&ObjectId> = level
            .iter()
            .map(|(_, id)| id)
            .filter(|id| !trees.contains_key(*id))
            .collect();
        fresh.sort();
        fresh.dedup();
        odb.request(fresh.iter().copied())?;
        // Paths this level adds, counted as each tree is parsed: a level of a few huge trees
        // must be refused before all of them sit in memory.
        let mut uses: HashMap<&ObjectId, usize> = HashMap::new();
        for (_, id) in &level {
            *uses.entry(id).or_default() += 1;
        }
        let mut adding = paths;
        for id in fresh {
            let (_, raw) = odb.next_whole(Some(ObjectKind::Tree), MAX_TREE)?;
            let entries = parse_tree(id, &raw)?;
            let n = entries
                .len()
                .saturating_mul(uses.get(id).copied().unwrap_or(1));
            adding = adding.saturating_add(n);
            if adding > MAX_PATHS {
                // (The reader is dropped unfinished: git is stopped.)
                return Err(SourceError::InvalidTree {
                    tree: root.to_string(),
                    reason: format!(
                        "it holds more than {MAX_PATHS} paths (does it repeat its subtrees?)"
                    ),
                });
            }
            trees.insert(id.clone(), Rc::new(entries));
        }
        let mut next = Vec::new();
        for (prefix, id) in &level {
            let Some(entries) = trees.get(id) else {
                continue;
            };
            for e in entries.iter() {
                paths += 1;
                if paths > MAX_PATHS {
                    return Err(SourceError::InvalidTree {
                        tree: root.to_string(),
                        reason: format!(
                            "it holds more than {MAX_PATHS} paths (does it repeat its subtrees?)"
                        ),
                    });
                }
                let path = join(prefix, &e.name);
                match e.node {
                    Node::Tree => next.push((path, e.oid.clone())),
                    Node::Leaf(kind, mode) => out.push(Leaf {
                        path,
                        kind,
                        mode,
                        oid: e.oid.clone(),
                    }),
                }
            }
        }
        level = next;
    }
    Ok(out)
}

/// Trees read for [`changed_paths`], kept while they may be named again.
pub(crate) struct TreeCache<'a> {
    odb: &'a mut ObjectReader,
    trees: HashMap<ObjectId, Rc<Vec<RawEntry>>>,
}

/// Trees kept at most (beyond it the cache starts over; a level of a diff can exceed it).
const CACHED_TREES: usize = 100_000;

impl<'a> TreeCache<'a> {
    pub(crate) fn new(odb: &'a mut ObjectReader) -> Self {
        TreeCache {
            odb,
            trees: HashMap::new(),
        }
    }

    /// Reads every tree of `ids` not held yet, in one request.
    fn prefetch<'i>(&mut self, ids: impl Iterator<Item = &'i ObjectId>) -> Result<()> {
        let mut fresh: Vec<&ObjectId> = ids.filter(|id| !self.trees.contains_key(*id)).collect();
        fresh.sort();
        fresh.dedup();
        if self.trees.len() + fresh.len() > CACHED_TREES {
            self.trees.clear();
        }
        self.odb.request(fresh.iter().copied())?;
        for id in fresh {
            let (_, raw) = self.odb.next_whole(Some(ObjectKind::Tree), MAX_TREE)?;
            self.trees
                .insert(id.clone(), Rc::new(parse_tree(id, &raw)?));
        }
        Ok(())
    }

    fn get(&mut self, id: &ObjectId) -> Result<Rc<Vec<RawEntry>>> {
        if let Some(t) = self.trees.get(id) {
            return Ok(Rc::clone(t));
        }
        let (_, raw) = self.odb.read(id, Some(ObjectKind::Tree), MAX_TREE)?;
        let t = Rc::new(parse_tree(id, &raw)?);
        self.trees.insert(id.clone(), Rc::clone(&t));
        Ok(t)
    }
}

/// For each pair of trees, the leaf paths that differ (either tree may be absent: everything
/// under the other counts), as `git diff-tree -r --name-only --no-renames` lists them: added,
/// removed, changed content or mode, and both sides of a file that became a folder.
///
/// All pairs go down a folder level together, so the trees of a level are one request however
/// many commits are compared (a round trip per tree made long histories slow).
pub(crate) fn changed_paths(
    cache: &mut TreeCache<'_>,
    pairs: &[(Option<ObjectId>, Option<ObjectId>)],
) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut out: Vec<Vec<Vec<u8>>> = vec![Vec::new(); pairs.len()];
    // Paths listed plus folders compared, per pair: a commit that adds or removes a tree
    // repeating its subtrees must be refused, not expanded (and a level of all pairs together
    // is bounded too).
    let mut work: Vec<usize> = vec![0; pairs.len()];
    let too_much = |a: &Option<ObjectId>, b: &Option<ObjectId>| SourceError::InvalidTree {
        tree: b
            .as_ref()
            .or(a.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default(),
        reason: format!("comparing it means more than {MAX_PATHS} paths"),
    };
    // Level by level rather than recursively: a tree nested a hundred thousand folders deep
    // must not overflow our stack.
    type Pending = (usize, Vec<u8>, Option<ObjectId>, Option<ObjectId>);
    let mut level: Vec<Pending> = pairs
        .iter()
        .enumerate()
        .map(|(i, (a, b))| (i, Vec::new(), a.clone(), b.clone()))
        .collect();
    while !level.is_empty() {
        level.retain(|(_, _, a, b)| a != b);
        cache.prefetch(
            level
                .iter()
                .flat_map(|(_, _, a, b)| a.iter().chain(b.iter())),
        )?;
        let mut next = Vec::new();
        for (i, prefix, a, b) in level {
            let read = |cache: &mut TreeCache<'_>, id: &Option<ObjectId>| match id {
                Some(id) => cache.get(id).map(Some),
                None => Ok(None),
            };
            let (ta, tb) = (read(cache, &a)?, read(cache, &b)?);
            let mut both: BTreeMap<&[u8], (Option<&RawEntry>, Option<&RawEntry>)> = BTreeMap::new();
            for e in ta.iter().flat_map(|t| t.iter()) {
                both.entry(&e.name).or_default().0 = Some(e);
            }
            for e in tb.iter().flat_map(|t| t.iter()) {
                both.entry(&e.name).or_default().1 = Some(e);
            }
            for (name, (x, y)) in both {
                if let (Some(x), Some(y)) = (x, y)
                    && x.node == y.node
                    && x.oid == y.oid
                {
                    continue;
                }
                let path = join(&prefix, name);
                let tree_of = |e: Option<&RawEntry>| {
                    e.filter(|e| e.node == Node::Tree).map(|e| e.oid.clone())
                };
                let leaf = |e: Option<&RawEntry>| e.is_some_and(|e| e.node != Node::Tree);
                let (tx, ty) = (tree_of(x), tree_of(y));
                let adds =
                    usize::from(leaf(x) || leaf(y)) + usize::from(tx.is_some() || ty.is_some());
                work[i] += adds;
                if work[i] > MAX_PATHS || next.len() > MAX_PATHS.saturating_mul(4) {
                    return Err(too_much(&a, &b));
                }
                if leaf(x) || leaf(y) {
                    out[i].push(path.clone());
                }
                if tx.is_some() || ty.is_some() {
                    next.push((i, path, tx, ty));
                }
            }
        }
        level = next;
    }
    for paths in &mut out {
        paths.sort();
    }
    Ok(out)
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
