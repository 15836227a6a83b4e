//! Reading a git repository the way an auditor needs it: the committed tree at a tag, never
//! the working tree.
//!
//! Objects come out of the `git` binary (`cat-file --batch`): git itself then handles every
//! repository layout a user can have (packs, alternates, worktrees, sha256 object format), and
//! paths come back as raw bytes so non-UTF-8 names survive. But git does not re-hash what it
//! reads, so reprove does: every commit, tag, tree and blob is checked against its id
//! ([`odb`]), and trees, history walks and change lists are computed here from those checked
//! objects rather than by `ls-tree`, `rev-list` or `log`. Replace refs, grafts and
//! commit-graphs are disabled and lazy fetching in partial clones is refused, so what we read is
//! exactly what the object ids name, offline.

mod blobs;
mod commit;
mod git;
mod gitdir;
mod history;
mod ids;
mod odb;
mod signature;
mod time;
mod tree;
mod version;

pub use blobs::{BlobData, BlobRequest, LfsPointer};
pub use commit::{CommitInfo, Person, Trailer};
pub use git::{Repository, TagInfo, TagRef, TreeEntry, TreeEntryKind, git_command};
pub use history::{Ancestry, CommitRange, History, Range};
pub use ids::{ObjectId, Tag};
pub use odb::ObjectKind;
pub use signature::{SignatureFormat, SignatureInfo, SignatureStatus};
pub use time::{rfc3339_utc, unix_now};
pub use tree::{TreeProblem, tree_problems};
pub use version::{VersionKey, previous_release_tag};

use std::path::PathBuf;

/// Errors from reading a git repository.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("not a git repository: `{path}`")]
    NotARepository { path: PathBuf },
    #[error("`{}` is not a repository git can read: {reason}", path.display())]
    UnreadableRepository { path: PathBuf, reason: String },
    #[error("failed to run `git {args}`; is git installed?")]
    GitMissing {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`git {args}` failed: {stderr}")]
    GitFailed { args: String, stderr: String },
    #[error("unknown tag `{tag}`{}", nearest_hint(.nearest))]
    UnknownTag { tag: String, nearest: Vec<String> },
    #[error("unknown revision `{rev}` (does the repository have a commit yet?)")]
    UnknownRevision { rev: String },
    #[error("tag `{tag}` points to a {kind}, not a commit")]
    TagNotCommit { tag: String, kind: String },
    #[error("invalid tag name `{input}`: {reason}")]
    InvalidTagName { input: String, reason: &'static str },
    #[error("invalid git object id `{input}`")]
    InvalidObjectId { input: String },
    #[error("unexpected output from `git {args}`: {detail}")]
    Unexpected { args: String, detail: String },
    #[error("git object `{oid}` is missing from the repository (partial or damaged clone?)")]
    MissingObject { oid: String },
    #[error(
        "git object `{oid}` does not hash to its id (its content hashes to `{actual}`): the repository is damaged or was tampered with; `git fsck --full` shows where"
    )]
    ObjectMismatch { oid: String, actual: String },
    #[error(
        "git object `{oid}` carries a SHA-1 collision attack: it is not the object its id names"
    )]
    ObjectCollision { oid: String },
    #[error("git object `{oid}` is a {actual}, expected a {expected}")]
    WrongObjectKind {
        oid: String,
        expected: ObjectKind,
        actual: ObjectKind,
    },
    #[error("git object `{oid}` is a {kind} of {size} bytes, more than the {limit} reprove reads")]
    ObjectTooLarge {
        oid: String,
        kind: ObjectKind,
        size: u64,
        limit: u64,
    },
    #[error("git commit `{oid}` is refused: {reason}")]
    InvalidCommit { oid: String, reason: String },
    #[error("git tree `{tree}` is invalid: {reason}")]
    InvalidTree { tree: String, reason: String },
    #[error("failed to read git object data")]
    Io {
        #[source]
        source: std::io::Error,
    },
}

/// Entry points for the fuzz targets (`crates/reprove-fuzz`): the parsers of git objects a
/// clone supplies. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::ids::ObjectId;

    /// The first byte picks the parser: a commit, a tree (SHA-1 or SHA-256 ids), a tag's
    /// `object` line; the rest is the object.
    pub fn git_object(data: &[u8]) {
        let Some((&which, raw)) = data.split_first() else {
            return;
        };
        let sha1: ObjectId = match "0123456789abcdef0123456789abcdef01234567".parse() {
            Ok(id) => id,
            Err(_) => return,
        };
        let sha256: ObjectId =
            match "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".parse() {
                Ok(id) => id,
                Err(_) => return,
            };
        match which % 4 {
            0 => {
                let _ = crate::commit::parse_commit(sha1, raw);
            }
            1 => {
                let _ = crate::tree::parse_tree(&sha1, raw);
            }
            2 => {
                let _ = crate::tree::parse_tree(&sha256, raw);
            }
            _ => {
                let _ = crate::git::parse_tag_target(&sha1, raw);
            }
        }
    }
}

fn nearest_hint(nearest: &[String]) -> String {
    if nearest.is_empty() {
        "; the repository has no tags".to_owned()
    } else {
        let list: Vec<String> = nearest.iter().map(|t| format!("`{t}`")).collect();
        format!("; nearest existing tags: {}", list.join(", "))
    }
}

pub type Result<T, E = SourceError> = std::result::Result<T, E>;

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn text_parsers_never_panic(s in "\\PC{0,120}") {
            let _ = commit::parse_trailers(&s);
            let _ = VersionKey::parse(&s);
            let _ = previous_release_tag(&s, ["v1.0", "v2", s.as_str()]);
            let _ = s.parse::<Tag>();
            let _ = s.parse::<ObjectId>();
            let id: ObjectId = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
            let _ = commit::parse_commit(id, s.as_bytes());
        }
    }
}
