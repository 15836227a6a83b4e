//! Container image references: what they mean and where a repository names them.
//!
//! [`ImageRef`] follows the distribution reference grammar
//! (<https://github.com/distribution/reference/blob/main/reference.go>), including Docker Hub's
//! defaults (`alpine` is `docker.io/library/alpine`). [`scan`] finds references in Dockerfiles,
//! YAML (compose, Kubernetes, GitHub Actions, GitLab CI) and `reprove.toml`, each with file,
//! line and column.

#[cfg(feature = "registry")]
pub mod check;
pub mod media;
pub mod pin;
mod reference;
#[cfg(feature = "registry")]
pub mod registry;
mod scan;
pub mod sources;

pub use reference::{ImageRef, is_loopback};
pub use scan::{FileKind, ImageMention, MentionContext, file_kind, scan};

/// Errors from parsing image references.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciError {
    #[error("invalid image reference `{input}`: {reason}")]
    InvalidReference { input: String, reason: String },
    #[error("failed to list the files under `{}`: {reason}", path.display())]
    Walk {
        path: std::path::PathBuf,
        reason: String,
    },
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn references_never_panic_and_round_trip(s in "\\PC{0,80}") {
            if let Ok(r) = s.parse::<ImageRef>() {
                // A parsed reference prints in a form that parses to itself.
                let again: ImageRef = r.to_string().parse().unwrap();
                prop_assert_eq!(again, r);
            }
        }

        #[test]
        fn scanning_never_panics(s in "(FROM|ARG|image:|  - |services:|\\$\\{|\\\\\n|#|<<EOF|\\[build\\]|image = \"|\\PC){0,60}") {
            for kind in [FileKind::Dockerfile, FileKind::Yaml, FileKind::ReproveToml] {
                let _ = scan("f", kind, s.as_bytes());
            }
        }
    }
}

#[cfg(feature = "testing")]
pub mod testing;
