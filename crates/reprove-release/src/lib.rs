//! Releases: the pipeline that turns a tag into signed evidence, the evidence folder, SLSA
//! provenance from a rebuild, and the auditor's verification of it all.
//!
//! - [`pipeline`]: `reprove release` — baseline → rebuild → compare → provenance → sign.
//! - [`evidence`]: the folder's layout, `index.json`, and its all-or-nothing creation.
//! - [`provenance`]: SLSA provenance v1 from a [`reprove_build::RebuildReport`].
//! - [`verify`]: `reprove verify` — every check with a stable id, k-of-n rebuilders, the VSA.
//! - [`status`]: `reprove status` — every release tag with the state its evidence proves.
//! - [`image`]: container images as release artifacts, resolved by digest from their registry.
//! - [`registry`]: evidence as OCI artifacts — push, pull, the releases a repository holds.
//! - [`baseline_file`]: a baseline file named on the command line, read and verified.

pub mod baseline_file;
pub mod evidence;
pub mod image;
pub mod pipeline;
pub mod provenance;
pub mod registry;
pub mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;

use std::path::PathBuf;

/// Why a release could not be made or evidence could not be read (exit 2). A release that
/// ran and failed its checks is a result ([`evidence::ReleaseOutcome::Failed`]), not this.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A statement file that the one reader of signed statements refused (not a regular
    /// file, a malformed bundle, a signature no given signer made).
    #[error("`{}` {}", path.display(), if *.signed { "does not verify" } else { "cannot be read as a statement" })]
    ReadStatement {
        path: PathBuf,
        signed: bool,
        #[source]
        source: reprove_attest::signed::StatementError,
    },
    /// A statement that is not a reprove baseline, or whose predicate does not read as one.
    #[error("`{}`: {reason}", path.display())]
    NotABaseline { path: PathBuf, reason: String },
    #[error("the evidence folder `{}` already exists; pass --force to replace it", path.display())]
    EvidenceExists { path: PathBuf },
    #[error("`{location}` is not an evidence location: {reason}")]
    BadEvidenceLocation { location: String, reason: String },
    #[error("failed to {action} at `{location}`")]
    Registry {
        action: String,
        location: String,
        // Boxed: registry errors are large, and every function here returns this enum.
        #[source]
        source: Box<reprove_oci::registry::RegistryError>,
    },
    #[error("`{location}` already holds other evidence (`{existing}`); pass --force to replace it")]
    EvidenceInRegistry { location: String, existing: String },
    #[error(
        "no evidence at `{location}` (push it with `reprove release --push` or `reprove push-evidence`)"
    )]
    NoEvidenceInRegistry { location: String },
    #[error("`{location}` is not reprove evidence: {reason}")]
    NotEvidence { location: String, reason: String },
    #[error("`{}` is {}; evidence holds only regular files and folders", path.display(), kind.describe())]
    EvidenceNotPlain {
        path: PathBuf,
        kind: reprove_digest::EntryKind,
    },
    #[error("`{}` is nested deeper than any evidence folder is", path.display())]
    EvidenceTooDeep { path: PathBuf },
    #[error("failed to read the evidence file `{}`", path.display())]
    Evidence {
        path: PathBuf,
        #[source]
        source: reprove_digest::FileError,
    },
    #[error("cannot release with the published artifacts `{}`", path.display())]
    Artifacts {
        path: PathBuf,
        #[source]
        source: reprove_digest::DigestError,
    },
    #[error("failed to assemble the baseline")]
    Baseline {
        #[source]
        source: reprove_baseline::BaselineError,
    },
    #[error(
        "`{tag}` has a `[build]` table of its own, which says how it is built: a release records it; --recipe is for tags made before the project had one (`reprove rebuild --recipe` tries another recipe without releasing)"
    )]
    RecipeOfItsOwn { tag: String },
    #[error("failed to rebuild")]
    Rebuild {
        #[source]
        source: reprove_build::BuildError,
    },
    #[error("`{tag}` moved during the release: the baseline read {expected}, the rebuild {found}")]
    TagMoved {
        tag: String,
        expected: String,
        found: String,
    },
    #[error(
        "the rebuild of `{tag}` was not shown to reproduce the published artifacts (rebuild with --artifacts); provenance is written only for a reproducible rebuild"
    )]
    NotReproducible { tag: String },
    #[error("the rebuild of `{tag}` produced no artifacts to attest")]
    NoArtifacts { tag: String },
    #[error(
        "nothing published to release: give --artifacts DIR, or an image `oci://REGISTRY/REPOSITORY@sha256:…`"
    )]
    NothingPublished,
    #[error("`{location}` is not an image: {reason}")]
    BadImage { location: String, reason: String },
    #[error(
        "`{image}` names no digest: a release attests an image by digest (`oci://REGISTRY/REPOSITORY@sha256:…`), never by a tag that can move"
    )]
    ImageNotPinned { image: String },
    #[error("`{image}` is not in its registry")]
    ImageNotFound { image: String },
    #[error("`{image}` is served as `{media_type}`, not an image manifest or index")]
    NotAnImage { image: String, media_type: String },
    #[error("failed to sign a statement of the evidence")]
    Statement {
        #[source]
        source: reprove_attest::AttestError,
    },
    #[error("failed to {action}")]
    Git {
        action: &'static str,
        #[source]
        source: reprove_source::SourceError,
    },
    #[error("failed to read or write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to hash `{}`", path.display())]
    Hash {
        path: PathBuf,
        #[source]
        source: reprove_digest::DigestError,
    },
    #[error("`{}` is malformed: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
}
