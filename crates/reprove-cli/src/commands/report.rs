//! `reprove report`: the audit pack — the configuration management record (HTML or
//! Markdown), `SOUP-List.md` and `Configuration-Management.md`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use reprove_source::{Tag, rfc3339_utc, unix_now};

use crate::args::{ProductArgs, TrustArgs};
use crate::outcome::Outcome;
use crate::output::note;

/// The audit report of a release: a self-contained HTML (or Markdown) configuration
/// management record, plus SOUP-List.md and Configuration-Management.md beside it
///
/// Verifies the evidence first (offline) and reports clause by clause: IEC 62304 §8.1–8.3,
/// 5.8.4, 5.8.5, 5.8.8 and ISO 13485 §4.2.4, 4.2.5. Exit 0 when the evidence verifies, 1
/// when a check fails, 2 when one could not run; the documents are written in every case.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The release tag.
    tag: Tag,
    /// The release's evidence folder (default: evidence/<tag> in the repository).
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
    /// The published artifacts, to check against the provenance (without it the record
    /// says no artifact was checked).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    #[command(flatten)]
    product: ProductArgs,
    #[command(flatten)]
    trust: TrustArgs,
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    format: ReportFormat,
    /// The report file (default: reprove-report-<tag>.html or .md here); the two documents
    /// go in the same folder.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Markdown,
}

/// `reprove report`.
pub fn run(dir: &Path, args: ReportArgs) -> Result<Outcome> {
    let tag = &args.tag;
    let repo = super::optional_repo(dir)?;
    let evidence_dir = super::evidence_dir(args.evidence.as_deref(), repo.as_ref(), tag)?;
    if !evidence_dir.is_dir() {
        bail!(
            "no evidence for `{tag}` at `{}` (run `reprove release {tag}` first, or pass --evidence)",
            evidence_dir.display()
        );
    }
    let ext = match args.format {
        ReportFormat::Html => "html",
        ReportFormat::Markdown => "md",
    };
    let output = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "reprove-report-{}.{ext}",
            tag.as_str().replace('/', "-")
        ))
    });
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let soup_path = folder.join("SOUP-List.md");
    let cm_path = folder.join("Configuration-Management.md");
    if !args.force {
        for p in [&output, &soup_path, &cm_path] {
            if p.exists() {
                bail!(
                    "`{}` already exists; pass --force to overwrite it",
                    p.display()
                );
            }
        }
    }
    let signers = args.trust.signers()?;
    let checked = !signers.is_empty();
    let opts = reprove_release::verify::Options {
        tag: tag.clone(),
        evidence: evidence_dir.clone(),
        artifacts: match &args.artifacts {
            Some(dir) => reprove_release::verify::Artifacts::Folder(dir.clone()),
            None => reprove_release::verify::Artifacts::NotChecked,
        },
        signers: signers.clone(),
        rebuilders: Vec::new(),
        require: 1,
        trusted_root: args.trust.root()?,
        project: args.product.project.clone(),
        source_uri: args.product.source_uri.clone(),
        repo: repo.as_ref(),
        images: None,
        rebuild: None,
    };
    let show = std::io::stderr().is_terminal();
    let verified = reprove_release::verify::verify(&opts, &|m| {
        if show {
            note(m);
        }
    });
    // Without keys verify reads the statements as the files claim, and the report says so.
    let provenance_value = verified.provenance.clone();
    let baseline = verified.baseline_view.as_ref();
    // Only what the verification read and matched against the index, never a second read.
    let rebuild = verified.rebuild_report.clone();
    let index = verified.index_json.clone();
    let generated = rfc3339_utc(unix_now());
    let evidence_s = evidence_dir.display().to_string();
    let input = reprove_report::AuditInput {
        tag: tag.as_str(),
        evidence: &evidence_s,
        baseline,
        provenance: provenance_value.as_ref(),
        rebuild: rebuild.as_ref(),
        index: index.as_ref(),
        verify: &verified,
        signatures_checked: checked,
        generated_on: &generated,
        reprove_version: env!("CARGO_PKG_VERSION"),
    };
    let main = match args.format {
        ReportFormat::Html => reprove_report::to_html(&input),
        ReportFormat::Markdown => reprove_report::to_markdown(&input),
    };
    if !folder.as_os_str().is_empty() {
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("failed to create `{}`", folder.display()))?;
    }
    crate::output::write_file(&output, main.as_bytes(), args.force)?;
    crate::output::write_file(
        &soup_path,
        reprove_report::soup_list(&input).as_bytes(),
        args.force,
    )?;
    crate::output::write_file(
        &cm_path,
        reprove_report::configuration_management(&input).as_bytes(),
        args.force,
    )?;
    let gaps = reprove_report::clauses(&input)
        .iter()
        .filter(|c| c.status != reprove_report::ClauseStatus::Met)
        .count();
    crate::output::stdout_text(&format!(
        "wrote `{}`, `{}` and `{}`\nverification: {}; {} of the clauses show a gap or were not checked{}\n",
        output.display(),
        soup_path.display(),
        cm_path.display(),
        verified.verdict.as_str(),
        gaps,
        if checked {
            ""
        } else {
            " (signatures not checked: give --key)"
        }
    ))?;
    Ok(Outcome::from_verdict(verified.verdict))
}
