//! Reading a git repository the way an auditor needs it: the committed tree at a tag, never
//! the working tree.
//!
//! Everything goes through the `git` binary's plumbing (`for-each-ref`, `ls-tree -z`,
//! `cat-file --batch`, `rev-list`): git itself then handles every repository layout a user can
//! have (packs, alternates, worktrees, sha256 object format, commit-graphs), and paths come
//! back as raw bytes so non-UTF-8 names survive. Replace refs are disabled and lazy fetching in
//! partial clones is refused, so what we read is exactly what the object store holds, offline.

mod blobs;
mod commit;
mod git;
mod ids;
mod signature;
mod time;
mod tree;
mod version;

pub use blobs::{BlobData, BlobRequest, LfsPointer};
pub use commit::{CommitInfo, Person, Trailer};
pub use git::{Repository, TagInfo, TagRef, TreeEntry, TreeEntryKind, git_command};
pub use ids::{ObjectId, Tag};
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
    #[error("failed to read git object data")]
    Io {
        #[source]
        source: std::io::Error,
    },
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
