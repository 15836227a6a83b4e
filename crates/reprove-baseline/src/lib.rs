//! The configuration baseline manifest (IEC 62304 §8.1): every configuration item, every SOUP
//! component and image, and every change since the previous release with its authorization,
//! for one tag, as an in-toto Statement v1 serialized canonically.

mod assemble;
mod classes;
mod config;
pub mod diff;
mod model;
mod render;
mod trace;
pub mod view;

pub use assemble::{
    Baseline, Options, PARSE_LIMIT, Progress, SoupRegister, assemble, assemble_at, load_config,
    soup_register,
};
pub use classes::{Classifier, ItemClass};
pub use config::{Changes, Classes, Config, Project};
pub use model::*;
pub use render::{to_markdown, to_text};
pub use trace::{Trace, trace_between};
pub use view::BaselineView;

/// Errors that stop a baseline from being assembled.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("failed to resolve tag `{tag}`")]
    ResolveTag {
        tag: String,
        #[source]
        source: reprove_source::SourceError,
    },
    #[error("failed to {action}")]
    Git {
        action: &'static str,
        #[source]
        source: reprove_source::SourceError,
    },
    #[error("invalid `reprove.toml` at `{tag}`{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Config {
        tag: String,
        line: Option<usize>,
        message: String,
    },
    #[error(
        "the SOUP overrides file `{path}` named in `reprove.toml` is not in the tree at the tag"
    )]
    OverridesMissing { path: String },
    #[error("failed to read the SOUP overrides")]
    Overrides {
        #[source]
        source: reprove_soup::SoupError,
    },
    #[error("git did not return the content of `{path}` (blob `{oid}`)")]
    MissingBlob { path: String, oid: String },
    #[error("the assembled baseline is not a valid in-toto statement")]
    Statement {
        #[source]
        source: reprove_attest::AttestError,
    },
    #[error("failed to serialize the baseline")]
    Serialize {
        #[source]
        source: reprove_attest::AttestError,
    },
}
