//! `reprove attest`: the SLSA provenance of a rebuild report, signed.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use reprove_build::RebuildReport;
use reprove_source::{Repository, Tag};

use crate::outcome::Outcome;
use crate::output::{emit, note};

/// Write the SLSA provenance v1 of a rebuild report and sign it
///
/// The subjects are the rebuilt artifacts; the recipe, the pinned environment, the commit,
/// the build image and the lockfiles are recorded by digest. Refuses (exit 1) a report that
/// did not reproduce, or whose tag has moved since.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove rebuild v1.4.0 --artifacts dist/ --format json > r.json\n  reprove attest v1.4.0 --rebuild-report r.json --key mine.key -o evidence/v1.4.0/provenance-mine.sigstore.json"
)]
pub struct AttestArgs {
    /// The release tag.
    tag: Tag,
    /// The report of `reprove rebuild --format json`.
    #[arg(long, value_name = "FILE")]
    rebuild_report: PathBuf,
    /// Who signs the provenance.
    #[command(flatten)]
    signing: crate::args::SigningArgs,
    /// Other files the rebuild produced (build log, diffoscope output), recorded by digest.
    #[arg(long = "byproduct", value_name = "FILE")]
    byproducts: Vec<PathBuf>,
    /// Write the bundle to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// `reprove attest`: SLSA provenance for a rebuild report, signed.
pub fn run(dir: &Path, args: AttestArgs) -> Result<Outcome> {
    let tag = &args.tag;
    let repo = Repository::discover(dir)?;
    if !args.force
        && let Some(o) = &args.output
        && o.exists()
    {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            o.display()
        );
    }
    let key = args.signing.signer()?;
    let bytes = std::fs::read(&args.rebuild_report).with_context(|| {
        format!(
            "failed to read the rebuild report `{}`",
            args.rebuild_report.display()
        )
    })?;
    let report: RebuildReport = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "`{}` is not a reprove rebuild report (reprove rebuild --format json)",
            args.rebuild_report.display()
        )
    })?;
    if report.tag != tag.as_str() {
        bail!("the rebuild report is for `{}`, not `{tag}`", report.tag);
    }
    // The tag must still name the commit that was rebuilt.
    let info = repo
        .resolve_tag(tag)
        .with_context(|| format!("failed to resolve tag `{tag}`"))?;
    if info.commit.as_str() != report.commit {
        note(&format!(
            "tag-moved: `{tag}` now points at {} but the report rebuilt {}",
            info.commit, report.commit
        ));
        return Ok(Outcome::Fail);
    }
    if report.verdict == reprove_build::RebuildVerdict::Equivalent && !report.holds() {
        let names: Vec<&str> = report
            .unaccepted_normalizations()
            .into_iter()
            .map(|n| n.as_str())
            .collect();
        note(&format!(
            "the rebuild of `{tag}` is only equivalent to the published artifacts, after {}, which `[build] accept-equivalent` does not name: no provenance is written",
            names.join(", ")
        ));
        return Ok(Outcome::Fail);
    }
    if !matches!(
        report.verdict,
        reprove_build::RebuildVerdict::Reproducible | reprove_build::RebuildVerdict::Equivalent
    ) {
        note(&format!(
            "the report's verdict for `{tag}` is `{}`, not reproducible: provenance is written only for a rebuild shown to match the published artifacts (reprove rebuild --artifacts)",
            report.verdict.as_str()
        ));
        return Ok(Outcome::Fail);
    }
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut byproducts = vec![reprove_attest::ResourceDescriptor::named(
        name(&args.rebuild_report),
        "sha256",
        &reprove_digest::sha256_bytes(&bytes).hex(),
    )];
    for p in &args.byproducts {
        let (d, _) = reprove_digest::sha256_file(p)
            .with_context(|| format!("failed to hash `{}`", p.display()))?;
        byproducts.push(reprove_attest::ResourceDescriptor::named(
            name(p),
            "sha256",
            &d.hex(),
        ));
    }
    // The product and its repository, as the tag's own reprove.toml names them.
    let entries = repo
        .tree_entries(&info.commit)
        .with_context(|| format!("failed to list the tree at `{tag}`"))?;
    let project = reprove_baseline::load_config(&repo, &info, &entries)?
        .map(|c| c.project)
        .unwrap_or_default();
    let inputs = reprove_release::provenance::Inputs {
        project: project.name,
        repository: reprove_release::provenance::repository(project.repository.as_deref(), &repo),
        lockfiles: reprove_release::provenance::lockfile_digests(&repo, &info.commit)?,
        byproducts,
        invocation_id: reprove_release::provenance::invocation_id(),
    };
    let st = reprove_release::provenance::statement(&report, &inputs)?;
    let out = key.sign_statement(st.to_canonical_json()?)?;
    note(&format!("signed by {}", key.describe()));
    emit(
        args.output.as_deref(),
        &out,
        args.force,
        &format!("the provenance of `{tag}`"),
    )?;
    if let Some(o) = &args.output {
        note(&format!(
            "signed SLSA provenance for {} artifact(s) of `{tag}` → `{}`",
            report.artifacts.len(),
            o.display()
        ));
    }
    Ok(Outcome::Pass)
}
