//! Commit history walked over checked commits.
//!
//! `git rev-list` and `git merge-base` walk parents as the object store says, without checking
//! a commit against its id, and honour whatever `.git/shallow` claims. A rewritten loose
//! commit can then drop an unreviewed commit from `base..tip`, or make a rollback look like
//! progress. Here git only suggests which commits to read: every commit is checked against its
//! id ([`crate::odb`]), the walks follow those checked parents, and a commit `.git/shallow`
//! names (whose parents are hidden) makes every answer that depends on it incomplete or
//! unknown rather than silently shorter.

use std::collections::{HashMap, HashSet};

use crate::Result;
use crate::commit::{CommitInfo, parse_commit};
use crate::git::Repository;
use crate::ids::ObjectId;
use crate::odb::{MAX_COMMIT, ObjectKind, ObjectReader};
use crate::signature::SignatureStatus;

/// The checked commits reachable from some tips: their parents and trees.
#[derive(Debug, Default)]
pub struct History {
    nodes: HashMap<ObjectId, Node>,
    /// Commits whose parents a shallow clone hides.
    shallow: HashSet<ObjectId>,
}

#[derive(Debug)]
struct Node {
    parents: Vec<ObjectId>,
    tree: ObjectId,
}

/// Whether one commit is an ancestor of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ancestry {
    Yes,
    No,
    /// Not found, but a shallow clone hides part of the history that was searched.
    Unknown,
}

/// The commits reachable from a tip but not from a base.
#[derive(Debug, Clone, Default)]
pub struct Range {
    /// Newest first, in git's `--topo-order`: no parent before all its children, and a merge's
    /// last parent's line first.
    pub ids: Vec<ObjectId>,
    /// Commits of the range whose parents a shallow clone hides: the range may go on behind
    /// them.
    pub cut: Vec<ObjectId>,
}

impl Range {
    pub fn complete(&self) -> bool {
        self.cut.is_empty()
    }
}

/// The commits of a range, parsed, with the history they were walked in.
#[derive(Debug)]
pub struct CommitRange {
    pub commits: Vec<CommitInfo>,
    /// See [`Range::cut`].
    pub cut: Vec<ObjectId>,
    pub history: History,
}

impl History {
    fn hidden_parents(&self, id: &ObjectId) -> Option<&[ObjectId]> {
        if self.shallow.contains(id) {
            return None;
        }
        self.nodes.get(id).map(|n| n.parents.as_slice())
    }

    /// The tree of a commit of this history.
    pub fn tree(&self, id: &ObjectId) -> Option<&ObjectId> {
        self.nodes.get(id).map(|n| &n.tree)
    }

    /// The first parent of a commit of this history (`None` for a root commit, an unknown
    /// commit or one whose parents a shallow clone hides: git then treats it as a root too).
    pub fn first_parent(&self, id: &ObjectId) -> Option<&ObjectId> {
        self.hidden_parents(id).and_then(|p| p.first())
    }

    /// Whether `id` is a merge (two or more parents).
    pub fn is_merge(&self, id: &ObjectId) -> bool {
        self.nodes.get(id).is_some_and(|n| n.parents.len() > 1)
    }

    /// Every ancestor of `tips` (themselves included), and whether some are hidden.
    fn ancestors(&self, tips: &[&ObjectId]) -> (HashSet<ObjectId>, bool) {
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut hidden = false;
        let mut stack: Vec<&ObjectId> = tips.to_vec();
        while let Some(c) = stack.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            match self.hidden_parents(c) {
                Some(parents) => stack.extend(parents.iter()),
                None => hidden = true,
            }
        }
        (seen, hidden)
    }

    /// The commits reachable from `tip` but not from `base` (`git rev-list tip ^base`).
    pub fn range(&self, base: Option<&ObjectId>, tip: &ObjectId) -> Range {
        // A base whose history is hidden can only make the range too long (commits listed that
        // the base in fact reaches): more to review, never less.
        let excluded = match base {
            Some(b) => self.ancestors(&[b]).0,
            None => HashSet::new(),
        };
        let mut included: Vec<&ObjectId> = Vec::new();
        let mut seen: HashSet<&ObjectId> = HashSet::new();
        let mut cut = Vec::new();
        let mut stack = vec![tip];
        while let Some(c) = stack.pop() {
            if excluded.contains(c) || !seen.insert(c) {
                continue;
            }
            included.push(c);
            match self.hidden_parents(c) {
                Some(parents) => stack.extend(parents.iter()),
                None => cut.push(c.clone()),
            }
        }
        // git's topological sort (`sort_in_topological_order`): a commit is ready once all its
        // children in the range are out; ready commits wait on a stack, pushed in parent
        // order, so a merge's last parent comes out first.
        let mut children: HashMap<&ObjectId, usize> = HashMap::new();
        for c in &included {
            for p in self.hidden_parents(c).unwrap_or_default() {
                if seen.contains(p) {
                    *children.entry(p).or_default() += 1;
                }
            }
        }
        let mut ready: Vec<&ObjectId> = included
            .iter()
            .copied()
            .filter(|c| !children.contains_key(c))
            .collect();
        ready.reverse();
        let mut ids = Vec::with_capacity(included.len());
        while let Some(c) = ready.pop() {
            ids.push(c.clone());
            for p in self.hidden_parents(c).unwrap_or_default() {
                if let Some(n) = children.get_mut(p) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push(p);
                    }
                }
            }
        }
        Range { ids, cut }
    }

    /// Whether `ancestor` is `of` or one of its ancestors.
    pub fn ancestry(&self, ancestor: &ObjectId, of: &ObjectId) -> Ancestry {
        let (seen, hidden) = self.ancestors(&[of]);
        if seen.contains(ancestor) {
            Ancestry::Yes
        } else if hidden {
            Ancestry::Unknown
        } else {
            Ancestry::No
        }
    }
}

impl Repository {
    /// Reads and checks every commit reachable from `tips`.
    pub fn history(&self, tips: &[&ObjectId]) -> Result<History> {
        let shallow: HashSet<ObjectId> = self.shallow_boundary()?.into_iter().collect();
        // git's list of what is reachable is only a prefetch: one bulk read instead of a round
        // trip per generation. What counts is the walk over the checked parents below, which
        // reads any commit git left out.
        let mut args = vec!["rev-list".to_owned()];
        args.extend(tips.iter().map(|t| t.to_string()));
        args.push("--".into());
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let listed = self.run(&arg_refs)?;
        let mut want: Vec<ObjectId> = tips.iter().map(|t| (*t).clone()).collect();
        for line in String::from_utf8_lossy(&listed).lines() {
            want.push(line.parse()?);
        }
        let mut history = History {
            nodes: HashMap::new(),
            shallow,
        };
        let mut odb = ObjectReader::start(self)?;
        let mut queued: HashSet<ObjectId> = HashSet::new();
        let mut stack: Vec<ObjectId> = tips.iter().map(|t| (*t).clone()).collect();
        let mut walked: HashSet<ObjectId> = HashSet::new();
        loop {
            want.retain(|id| !history.nodes.contains_key(id) && queued.insert(id.clone()));
            odb.request(&want)?;
            for id in want.drain(..) {
                let (_, raw) = odb.next_whole(Some(ObjectKind::Commit), MAX_COMMIT)?;
                let info = parse_commit(id.clone(), &raw)?;
                history.nodes.insert(
                    id,
                    Node {
                        parents: info.parents,
                        tree: info.tree,
                    },
                );
            }
            // Walk what is read; parents not read yet are the next batch.
            let mut deferred = Vec::new();
            while let Some(c) = stack.pop() {
                if walked.contains(&c) {
                    continue;
                }
                if !history.nodes.contains_key(&c) {
                    if queued.contains(&c) {
                        // Asked for and not delivered (git answers "missing" with an error
                        // above; this is a guard against looping).
                        return Err(crate::SourceError::MissingObject { oid: c.to_string() });
                    }
                    want.push(c.clone());
                    deferred.push(c);
                    continue;
                }
                walked.insert(c.clone());
                if let Some(parents) = history.hidden_parents(&c) {
                    stack.extend(parents.iter().cloned());
                }
            }
            if want.is_empty() {
                break;
            }
            // Commits git did not list but the checked parents name: read them next.
            stack = deferred;
        }
        odb.finish()?;
        Ok(history)
    }

    /// The commits reachable from `tip` but not from `base`, newest first in topological
    /// order, each read and checked from its raw object, with their signature status.
    pub fn commits_between(&self, base: Option<&ObjectId>, tip: &ObjectId) -> Result<CommitRange> {
        let mut tips = vec![tip];
        tips.extend(base);
        let history = self.history(&tips)?;
        let range = history.range(base, tip);
        let mut odb = ObjectReader::start(self)?;
        odb.request(&range.ids)?;
        let mut commits = Vec::with_capacity(range.ids.len());
        for id in &range.ids {
            let (_, raw) = odb.next_whole(Some(ObjectKind::Commit), MAX_COMMIT)?;
            commits.push(parse_commit(id.clone(), &raw)?);
        }
        odb.finish()?;
        self.signature_status(&mut commits)?;
        Ok(CommitRange {
            commits,
            cut: range.cut,
            history,
        })
    }

    /// Asks git about the commits that carry a signature (the objects are the checked ones).
    fn signature_status(&self, commits: &mut [CommitInfo]) -> Result<()> {
        let signed: Vec<String> = commits
            .iter()
            .filter(|c| c.signature.format.is_some())
            .map(|c| c.id.to_string())
            .collect();
        if signed.is_empty() {
            return Ok(());
        }
        let input = signed.join("\n") + "\n";
        let out = self.run_with_input(
            &[
                "log",
                "--no-walk=unsorted",
                "--stdin",
                "--format=%H %G? %GK",
            ],
            Some(input.as_bytes()),
        )?;
        for line in String::from_utf8_lossy(&out).lines() {
            let mut f = line.split(' ');
            let (Some(id), Some(code)) = (f.next(), f.next()) else {
                continue;
            };
            let key = f.next().filter(|k| !k.is_empty()).map(str::to_owned);
            if let Some(c) = commits.iter_mut().find(|c| c.id.as_str() == id) {
                c.signature.status = SignatureStatus::from_git_code(code);
                c.signature.key = key;
            }
        }
        Ok(())
    }
}
