//! Hermetic rebuilds (design: "Hermetic rebuild").
//!
//! The tree at the tag's commit is exported into a fresh directory; the recipe's image is
//! pulled by digest only and checked; the recipe runs with no network, a read-only root,
//! writable `/tmp` and build tree, a fixed build path, hostname and umask, and an environment of
//! the recipe's `env` plus `SOURCE_DATE_EPOCH` (the commit time), `REPROVE_SOURCE_COMMIT` and
//! `REPROVE_SOURCE_TAG`, `TZ=UTC`, `LANG=C.UTF-8`,
//! `HOME`. Artifacts are hashed and compared with the published ones by name; `--variations`
//! builds again under different conditions; mismatches are explained.

mod compare;
mod engine;
pub mod equivalence;
mod explain;
mod export;
mod fetch;
pub mod image;
pub mod owner;
mod proxy;
mod rebuild;
mod recipe;
mod remote;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use compare::{
    ArtifactDigest, Comparison, Published, Verdict, collect, compare, published, published_folder,
};
pub use engine::{
    CliEngine, ContainerEngine, EngineChoice, EngineKind, EngineSite, Job, JobKind, RunEnd,
    StoreInput, Transfer,
};
pub use explain::{Explanation, explain, summarize};
pub use export::{
    Listing, PreparedStore, SourceArchive, StoreArchive, export_tree, unpack_checked,
};
pub use fetch::{FetchOptions, FetchReport};
pub use rebuild::{
    BUILD_PATH, Conditions, ExternalRecipe, HOSTNAME, KeptRebuild, Options, RebuildReport,
    RebuildVerdict, UMASK, VariationFinding, VariationReport, rebuild, rebuild_at, rebuild_with,
    reference_environment,
};
pub use recipe::{DEFAULT_TIMEOUT, Recipe, parse_recipe};
pub use reprove_build_types::BuildSource;

use std::path::PathBuf;

/// Why a rebuild could not run (exit 2). A difference in the artifacts is a result, not this.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid build recipe at `{tag}`: {message}")]
    Recipe { tag: String, message: String },
    #[error("image `{image}` is not pinned by digest")]
    Unpinned { image: String },
    #[error("no container engine found: install {wanted} (e.g. apt-get install docker.io)")]
    EngineMissing { wanted: String },
    #[error("the {engine} engine is not running or not reachable: {detail}")]
    EngineNotRunning {
        engine: &'static str,
        detail: String,
    },
    #[error("{engine} failed to {action}: {detail}")]
    Engine {
        engine: &'static str,
        action: &'static str,
        detail: String,
    },
    #[error("the engine's image `{image}` does not carry the pinned digest (it has: {found})")]
    ImageDigestMismatch { image: String, found: String },
    #[error("failed to export the source at `{commit}`: {detail}")]
    Export { commit: String, detail: String },
    #[error("the engine returned outputs reprove does not accept: {detail}")]
    Outputs { detail: String },
    #[error("failed to hand the checked dependency store to the build: {detail}")]
    StoreTransfer { detail: String },
    #[error("the fetch phase failed with exit code {code}{}; see `{}`", refused_note(refused), log.display())]
    FetchFailed {
        code: i32,
        log: PathBuf,
        /// Hosts reprove's egress proxy refused (`host:port`): the likely cause.
        refused: Vec<String>,
    },
    #[error("the fetch phase did not finish within {seconds} s and was stopped; see `{}`", log.display())]
    FetchTimedOut { seconds: u64, log: PathBuf },
    #[error("failed to check the fetched store against the lockfiles")]
    FetchCheck {
        #[source]
        source: reprove_fetch::FetchError,
    },
    #[error(
        "the recipe fetches dependencies (`{command}`) and no checked store is cached: pass --fetch-network NAME to let the release's own fetch command reach the network from this machine"
    )]
    FetchNotAllowed { command: String },
    #[error("failed to read `{path}` at the tag for the fetch check")]
    FetchLockfile { path: String },
    #[error("the build failed with exit code {code}; see `{}`", log.display())]
    BuildFailed { code: i32, log: PathBuf },
    /// The reference build passed; the build under varied conditions (`--variations`) failed.
    #[error("the varied build (another path, time zone, locale, umask, hostname and user) failed with exit code {code}; see `{}`", log.display())]
    VariantFailed { code: i32, log: PathBuf },
    #[error("the build did not finish within {seconds} s and was stopped; see `{}`", log.display())]
    TimedOut { seconds: u64, log: PathBuf },
    #[error("the build produced no file matching {patterns}; see `{}`", log.display())]
    NoArtifacts { patterns: String, log: PathBuf },
    #[error(
        "two artifacts are named `{name}` (`{first}` and `{second}`); release assets are flat, so names must be unique"
    )]
    DuplicateArtifact {
        name: String,
        first: String,
        second: String,
    },
    #[error("invalid artifact pattern `{pattern}`: {detail}")]
    RecipeGlob { pattern: String, detail: String },
    #[error("failed to read the published artifacts `{}`", path.display())]
    Published {
        path: PathBuf,
        #[source]
        source: reprove_digest::DigestError,
    },
    #[error("`{}` line {line} is not `<sha256>  <name>`", path.display())]
    Sums { path: PathBuf, line: usize },
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
    #[error("failed to hash an artifact")]
    Hash {
        #[source]
        source: reprove_digest::DigestError,
    },
    #[error("failed to write the rebuild report: {detail}")]
    Report { detail: String },
}

impl BuildError {
    /// The log of a job that ran and failed (build, variant, fetch), when the error has one.
    pub fn log(&self) -> Option<&std::path::Path> {
        match self {
            BuildError::BuildFailed { log, .. }
            | BuildError::VariantFailed { log, .. }
            | BuildError::TimedOut { log, .. }
            | BuildError::FetchFailed { log, .. }
            | BuildError::FetchTimedOut { log, .. }
            | BuildError::NoArtifacts { log, .. } => Some(log),
            _ => None,
        }
    }
}

/// "; reprove's fetch proxy refused `a:443`, `b:443` (not in `[build.fetch] allow`)", or nothing.
fn refused_note(refused: &[String]) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let hosts: Vec<String> = refused.iter().map(|h| format!("`{h}`")).collect();
    format!(
        "; reprove's fetch proxy refused {} (not in `[build.fetch] allow`, or plain HTTP)",
        hosts.join(", ")
    )
}
