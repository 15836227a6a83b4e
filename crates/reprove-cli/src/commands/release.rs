//! `reprove release`: baseline, rebuild, compare, provenance, sign, evidence folder.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use reprove_escape::terminal;
use reprove_release::evidence::{self, ReleaseOutcome};
use reprove_source::{Repository, Tag};

use crate::outcome::Outcome;
use crate::output::{note, stdout_text};

/// Release a tag: baseline, rebuild, compare, provenance, sign, evidence folder
///
/// Writes the evidence folder (default `evidence/<tag>/`) all at once: it appears only when
/// everything was written. Exit 0 released; 1 the rebuild differs, the build fails or the
/// change policy fails (the folder records why, with no provenance); 2 it could not run
/// (nothing is written).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove release v1.4.0 --artifacts dist/ --key release.key\n  reprove release v1.4.0 --artifacts dist/ --key release.key --fetch-network host\n  reprove release v2.0.0 --artifacts oci://ghcr.io/acme/app@sha256:… --key release.key\n  reprove release v1.0.0 --artifacts dist/ --key release.key --recipe reprove.toml\n  reprove release v1.4.0 --artifacts dist/ --keyless   # in CI, with an OIDC identity"
)]
pub struct ReleaseArgs {
    /// The release tag.
    tag: Tag,
    /// What the release publishes: a flat folder of files, and/or container images by digest,
    /// oci://REGISTRY/REPOSITORY@sha256:… (repeatable). An image is reproduced when an OCI
    /// image layout among the rebuilt outputs holds it, blob for blob.
    #[arg(long, value_name = "DIR|OCI", required = true)]
    artifacts: Vec<crate::args::PublishedArg>,
    /// Who signs the baseline, the provenance and the index.
    #[command(flatten)]
    signing: crate::args::SigningArgs,
    /// The evidence folder to create (default: evidence/<tag> in the repository).
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
    /// Replace an existing evidence folder.
    #[arg(long)]
    force: bool,
    /// Base of the change trace (default: the previous release tag by version order).
    #[arg(long, value_name = "TAG")]
    previous: Option<Tag>,
    #[command(flatten)]
    engine: crate::args::EngineArgs,
    #[command(flatten)]
    fetch: crate::args::FetchArgs,
    #[command(flatten)]
    recipe: crate::args::RecipeArgs,
    /// Also store the evidence in an OCI registry (oci://REGISTRY/REPOSITORY), tagged with the
    /// release tag, its bundles attached as referrers (see `reprove push-evidence`); --force
    /// then also replaces other evidence under that tag.
    #[arg(long, value_name = "OCI")]
    push: Option<reprove_release::registry::EvidenceRepo>,
    /// A registry (host:port) reached over plain HTTP, for --push and the published images;
    /// loopback registries always are (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,
}

/// What each evidence file proves, for the closing summary.
fn describe(file: &str) -> &'static str {
    match file {
        evidence::BASELINE => {
            "signed configuration baseline: every file, SOUP item, image and change (IEC 62304 §8.1)"
        }
        evidence::PROVENANCE => {
            "signed SLSA provenance: what was rebuilt, from which commit, in which image (§5.8)"
        }
        evidence::REBUILD_REPORT => "the rebuild and its artifact-by-artifact comparison",
        evidence::BUILD_LOG => "the build's output",
        evidence::RECIPE => {
            "the recipe it was built with, from outside the tag (the provenance names its sha256)"
        }
        evidence::SOUP_MARKDOWN | evidence::SOUP_CSV => "the SOUP register (§8.1.2)",
        evidence::SOUP_CYCLONEDX => "the SOUP register as a CycloneDX 1.6 SBOM",
        evidence::SOUP_SPDX => "the SOUP register as an SPDX 2.3 document",
        evidence::INDEX => "every file above with its sha256",
        evidence::SIGNED_INDEX => "index.json and every file above, signed: the folder as a whole",
        f if f.starts_with("explanations/") => "why an artifact differs",
        f if f.starts_with("rebuilt/") => {
            "an artifact as rebuilt (it differs from the published one)"
        }
        _ => "",
    }
}

/// `reprove release`.
pub fn run(dir: &Path, args: ReleaseArgs) -> Result<Outcome> {
    let tag = &args.tag;
    let repo = Repository::discover(dir)?;
    repo.resolve_tag(tag)
        .with_context(|| format!("failed to resolve tag `{tag}`"))?;
    let evidence_dir = args
        .evidence
        .clone()
        .unwrap_or_else(|| evidence::default_dir(repo.root(), tag.as_str()));
    if evidence_dir.exists() && !args.force {
        bail!(
            "the evidence folder `{}` already exists; pass --force to replace it",
            evidence_dir.display()
        );
    }
    let recipe = args.recipe.read(&repo)?;
    // The published images, read from their registries by digest before anything is built.
    let (folder, image_args) = crate::args::split_published(&args.artifacts)?;
    let mut images = Vec::new();
    if !image_args.is_empty() {
        let client = super::registry::client(&args.insecure_registry)?;
        for i in &image_args {
            images.push(reprove_release::image::resolve(&client, i)?);
        }
        super::registry::client_notes(&client);
    }
    // The registry before the hour of building: a wrong location or credentials file is a
    // usage mistake to say at once.
    let push = match &args.push {
        Some(to) if to.names_release() => bail!(
            "--push takes a repository (oci://REGISTRY/REPOSITORY): the tag comes from the release"
        ),
        Some(to) => Some((
            to.clone(),
            super::registry::client(&args.insecure_registry)?,
        )),
        None => None,
    };
    // The password is asked (or the identity token found) before any work.
    let key = args.signing.signer()?;
    let opts = reprove_release::pipeline::Options {
        artifacts: folder,
        images,
        evidence: evidence_dir.clone(),
        force: args.force,
        engine: args.engine.choice(),
        fetch: args.fetch.options()?,
        previous: args.previous,
        recipe,
    };
    let progress = super::Progress::start();
    let released = reprove_release::pipeline::release(&repo, tag, &opts, key.as_ref(), &|_, m| {
        progress.step(m);
    })?;
    drop(progress);
    // The identity verifiers must pin (a keyless certificate's, which may differ from the
    // token's) or the key's hint.
    note(&format!("signed by {}", key.describe()));
    let index = &released.index;
    let mut s = String::new();
    match index.outcome {
        ReleaseOutcome::Released => s.push_str(&format!(
            "released `{tag}` (commit {}): reproducible, policy met, baseline and provenance signed\n",
            index.commit
        )),
        ReleaseOutcome::Failed => {
            s.push_str(&format!(
                "release of `{tag}` FAILED (commit {}); no provenance was signed\n",
                index.commit
            ));
            for f in &index.failures {
                s.push_str(&format!("  - {}\n", terminal(f)));
            }
            // A build or fetch that failed: the end of its log, from the evidence folder.
            for (log, what) in [(evidence::FETCH_LOG, "fetch"), (evidence::BUILD_LOG, "build")] {
                if index
                    .failures
                    .iter()
                    .any(|f| f.contains(&format!("`{log}` in the evidence folder")))
                    && let Some(tail) =
                        crate::output::log_tail(&released.evidence.join(log), 20)
                {
                    note(&format!("the {what} failed; {tail}"));
                }
            }
        }
    }
    if released.repository.is_none() {
        s.push_str("note: no `[project] repository` in reprove.toml and no origin remote: the provenance names no source repository, so `verify --source-uri` cannot match it\n");
    }
    s.push_str(&format!(
        "evidence: {}\n",
        terminal(&released.evidence.display().to_string())
    ));
    for f in &index.files {
        let what = describe(&f.path);
        s.push_str(&format!(
            "  {:<26} {}\n",
            terminal(&f.path),
            if what.is_empty() { "" } else { what }
        ));
    }
    for f in [evidence::INDEX, evidence::SIGNED_INDEX] {
        s.push_str(&format!("  {:<26} {}\n", f, describe(f)));
    }
    if let Some((to, client)) = &push {
        // The folder is written whatever happens here; a failed push is said and exits 2.
        let pushed = reprove_release::registry::push(client, &released.evidence, to, args.force)
            .map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "the evidence is in `{}` but was not pushed (retry with `reprove push-evidence`)",
                    released.evidence.display()
                ))
            });
        super::registry::client_notes(client);
        match pushed {
            Ok(p) => s.push_str(&format!("pushed: {}\n", p.reference)),
            Err(e) => {
                stdout_text(&s)?;
                return Err(e);
            }
        }
    }
    stdout_text(&s)?;
    Ok(match index.outcome {
        ReleaseOutcome::Released => Outcome::Pass,
        ReleaseOutcome::Failed => Outcome::Fail,
    })
}
