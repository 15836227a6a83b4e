//! Container image references: what they mean and where a repository names them.
//!
//! [`ImageRef`] follows the distribution reference grammar
//! (<https://github.com/distribution/reference/blob/main/reference.go>), including Docker Hub's
//! defaults (`alpine` is `docker.io/library/alpine`). [`scan`] finds references in Dockerfiles,
//! YAML (compose, Kubernetes, GitHub Actions, GitLab CI) and `reprove.toml`, each with file,
//! line and column.

mod reference;
mod scan;

pub use reference::ImageRef;
pub use scan::{FileKind, ImageMention, MentionContext, file_kind, scan};

/// Errors from parsing image references.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciError {
    #[error("invalid image reference `{input}`: {reason}")]
    InvalidReference { input: String, reason: String },
}
