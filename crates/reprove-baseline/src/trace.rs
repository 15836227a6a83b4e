//! Change authorization (IEC 62304 §8.2.1 "approve before implementing", §8.2.4 "trace each
//! change to its authorization").
//!
//! A commit is authorized by any of: a configured trailer (`Reviewed-by:`, `Approved-by:` by
//! default) — the convention of kernel-style and Gerrit review; a good signature, when
//! `accept-signed-commits` is on; or being brought in by an authorized merge, when
//! `authorized-merges-cover-their-commits` is on (the merge of a reviewed change request).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use reprove_source::{CommitInfo, ObjectId, Repository, SignatureStatus, rfc3339_utc};

use crate::config::Changes;
use crate::model::ChangeEntry;

fn own_evidence(c: &CommitInfo, policy: &Changes) -> Vec<String> {
    let mut ev = Vec::new();
    for key in &policy.trailers {
        if c.trailer_values(key).next().is_some() {
            ev.push(format!("trailer:{key}"));
        }
    }
    if policy.accept_signed_commits && c.signature.status == SignatureStatus::Good {
        ev.push("signature".to_owned());
    }
    ev
}

fn change_requests(c: &CommitInfo, policy: &Changes) -> Vec<String> {
    let mut out = BTreeSet::new();
    for key in &policy.change_request_trailers {
        for v in c.trailer_values(key) {
            out.insert(format!("{key}: {v}"));
        }
    }
    // GitHub's and GitLab's merge subjects name the change request.
    if let Some(rest) = c.subject.strip_prefix("Merge pull request #") {
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !n.is_empty() {
            out.insert(format!("pull request #{n}"));
        }
    }
    if let Some(pos) = c.message.find("See merge request ") {
        let r: String = c.message[pos + 18..]
            .chars()
            .take_while(|ch| !ch.is_whitespace())
            .collect();
        out.insert(format!("merge request {r}"));
    }
    out.into_iter().collect()
}

/// Builds the trace entries, deciding authorization for each commit.
pub(crate) fn authorize(commits: &[CommitInfo], policy: &Changes) -> Vec<ChangeEntry> {
    let mut evidence: BTreeMap<ObjectId, Vec<String>> = commits
        .iter()
        .map(|c| (c.id.clone(), own_evidence(c, policy)))
        .collect();
    if policy.authorized_merges_cover_their_commits {
        // The commits a merge brings in: reachable from its other parents, not its first.
        // Walked inside the range only: a commit of the range reachable from another is reached
        // through commits of the range (anything on the way outside it would put it outside
        // too), so this is the whole answer, at the range's cost rather than the history's.
        let parents: HashMap<&ObjectId, &[ObjectId]> = commits
            .iter()
            .map(|c| (&c.id, c.parents.as_slice()))
            .collect();
        let within = |start: &ObjectId| -> HashSet<&ObjectId> {
            let mut seen = HashSet::new();
            let mut stack: Vec<&ObjectId> = vec![start];
            while let Some(c) = stack.pop() {
                let Some((id, ps)) = parents.get_key_value(c) else {
                    continue;
                };
                if seen.insert(*id) {
                    stack.extend(ps.iter());
                }
            }
            seen
        };
        for m in commits.iter().filter(|c| c.is_merge()) {
            if evidence.get(&m.id).is_none_or(Vec::is_empty) {
                continue;
            }
            let first = within(&m.parents[0]);
            let mut others: Vec<&ObjectId> = m.parents[1..]
                .iter()
                .filter(|p| **p != m.parents[0])
                .collect();
            // A parent named twice brings in nothing more the second time.
            others.sort();
            others.dedup();
            let mut brought: HashSet<&ObjectId> = HashSet::new();
            for other in others {
                brought.extend(within(other).into_iter().filter(|id| !first.contains(id)));
            }
            let tag = format!("merge:{}", m.id);
            for id in brought {
                if let Some(ev) = evidence.get_mut(id)
                    && !ev.contains(&tag)
                {
                    ev.push(tag.clone());
                }
            }
        }
    }
    commits
        .iter()
        .map(|c| {
            let ev = evidence.remove(&c.id).unwrap_or_default();
            ChangeEntry {
                id: c.id.to_string(),
                parents: c.parents.iter().map(ToString::to_string).collect(),
                author: c.author.ident.clone(),
                author_time: rfc3339_utc(c.author.time),
                committer: c.committer.ident.clone(),
                commit_time: rfc3339_utc(c.committer.time),
                subject: c.subject.clone(),
                merge: c.is_merge(),
                signature: c.signature.clone(),
                trailers: c.trailers.clone(),
                change_requests: change_requests(c, policy),
                authorized: !ev.is_empty(),
                evidence: ev,
            }
        })
        .collect()
}

/// The change trace of `base..tip` under `policy`: each commit with its authorization, as a
/// baseline would record it (used by `diff` when the releases are not adjacent).
pub fn trace_between(
    repo: &Repository,
    base: &ObjectId,
    tip: &ObjectId,
    policy: &Changes,
) -> Result<Trace, crate::BaselineError> {
    let git = |action: &'static str| move |source| crate::BaselineError::Git { action, source };
    let range = repo
        .commits_between(Some(base), tip)
        .map_err(git("list the commits between the releases"))?;
    // A shallow clone can cut the range short: a commit at the boundary has parents we
    // cannot see, so the range is not known to be whole.
    let complete = range.cut.is_empty();
    let entries = authorize(&range.commits, policy);
    Ok(Trace { entries, complete })
}

/// The commits between two releases, and whether all of them could be seen.
#[derive(Debug)]
pub struct Trace {
    pub entries: Vec<ChangeEntry>,
    /// False when a shallow clone cut the range short.
    pub complete: bool,
}
