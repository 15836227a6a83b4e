//! `reprove baseline`: the configuration baseline manifest of a tag.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use reprove_baseline::{Options, Progress};
use reprove_source::Tag;

use super::{open_repo, progress_bar};
use crate::outcome::Outcome;
use crate::output::{emit, note};

/// Assemble the configuration baseline manifest of a tag (IEC 62304 §8.1)
///
/// Reads the committed tree at the tag, never the working tree: every tracked file with
/// its digests and class, the SOUP register, the container images, and every change since
/// the previous release tag with its authorization. The JSON form is an in-toto Statement
/// v1 in canonical JSON (RFC 8785): the same tag always gives the same bytes.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove baseline v1.4.0\n  reprove baseline v1.4.0 --format json -o baseline.json\n  reprove baseline v1.4.0 --sign --key release.key -o baseline.sigstore.json"
)]
pub struct BaselineArgs {
    /// The release tag.
    tag: Tag,
    /// Base of the change trace (default: the previous release tag by version order).
    #[arg(long, value_name = "TAG")]
    previous: Option<Tag>,
    /// Add the release artifacts in DIR (flat files) as subjects.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Output format (default: text, or json when writing to a file).
    #[arg(long, value_enum)]
    format: Option<BaselineFormat>,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Sign the manifest: the output is a Sigstore bundle (DSSE over the canonical bytes),
    /// signed with --key or --keyless.
    #[arg(long)]
    sign: bool,
    #[command(flatten)]
    signing: crate::args::SigningArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BaselineFormat {
    Text,
    Json,
    Markdown,
}

pub fn run(dir: &Path, args: BaselineArgs) -> Result<Outcome> {
    let BaselineArgs {
        tag,
        previous,
        artifacts,
        format,
        output,
        force,
        sign,
        signing,
    } = args;
    let (tag, artifacts, output) = (&tag, artifacts.as_deref(), output.as_deref());
    if !sign && (signing.key.is_some() || signing.keyless) {
        bail!("--key and --keyless sign the manifest: add --sign");
    }
    let repo = open_repo(dir)?;
    if !force
        && let Some(o) = output
        && o.exists()
    {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            o.display()
        );
    }
    if sign && format.is_some_and(|f| f != BaselineFormat::Json) {
        bail!(
            "--sign writes a Sigstore bundle; it cannot be combined with --format text or markdown"
        );
    }
    // Load the key (or find the identity token) first: a wrong password must not cost a full
    // baseline.
    let signing_key = if sign { Some(signing.signer()?) } else { None };
    let pb = progress_bar();
    let progress = |p: Progress| {
        if let Some(pb) = &pb {
            match p {
                Progress::Reading { files, bytes } => {
                    pb.set_length(bytes);
                    pb.set_message(format!("hashing {files} files"));
                }
                Progress::Hashed { bytes } => pb.inc(bytes),
                Progress::Tracing => pb.set_message("tracing changes"),
            }
        }
    };
    // The artifacts folder, hashed once: regular files only, at least one.
    let artifact_digests = artifacts
        .map(|dir| {
            reprove_digest::release_folder(dir)
                .map(|f| f.digests())
                .with_context(|| format!("cannot use `{}` as the release artifacts", dir.display()))
        })
        .transpose()?;
    let opts = Options {
        previous,
        artifacts: artifact_digests.as_ref(),
        progress: &progress,
    };
    let result = reprove_baseline::assemble(&repo, tag, &opts);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let baseline = result?;
    let format = format.unwrap_or(if output.is_some() || signing_key.is_some() {
        BaselineFormat::Json
    } else {
        BaselineFormat::Text
    });
    let bytes = match (format, &signing_key) {
        (_, Some(k)) => k.sign_statement(baseline.canonical_json()?)?,
        (BaselineFormat::Json, None) => {
            let mut b = baseline.canonical_json()?;
            if output.is_none() {
                b.push(b'\n');
            }
            b
        }
        (BaselineFormat::Text, None) => {
            reprove_baseline::to_text(baseline.predicate()).into_bytes()
        }
        (BaselineFormat::Markdown, None) => {
            reprove_baseline::to_markdown(baseline.predicate()).into_bytes()
        }
    };
    emit(output, &bytes, force, &format!("the baseline of `{tag}`"))?;
    let failures: Vec<_> = baseline.policy_failures().collect();
    if failures.is_empty() {
        Ok(Outcome::Pass)
    } else {
        note(&format!(
            "policy failed: {} finding(s) break a policy switched on in reprove.toml",
            failures.len()
        ));
        Ok(Outcome::Fail)
    }
}
