//! `reprove report`: the audit pack — the configuration management record (HTML or
//! Markdown), `SOUP-List.md` and `Configuration-Management.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use reprove_source::{Tag, rfc3339_utc, unix_now};

use crate::args::{ProductArgs, TrustArgs};
use crate::outcome::Outcome;
use crate::output::note;
use reprove_escape::terminal;

/// The audit report of a release: a self-contained HTML (or Markdown) configuration
/// management record, plus SOUP-List.md and Configuration-Management.md beside it
///
/// Verifies the evidence first (offline) and reports clause by clause: IEC 62304 §8.1–8.3,
/// 5.8.4, 5.8.5, 5.8.8 and ISO 13485 §4.2.4, 4.2.5. Exit 0 when the evidence verifies, 1
/// when a check fails, 2 when one could not run; the documents are written in every case.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove report v1.4.0 --key release.pub --artifacts dist/\n  reprove report v1.4.0 --key release.pub --format markdown -o audit/v1.4.0.md\n  reprove report v1.4.0 --key release.pub --artifacts dist/ --document-id QMS-REC-0042 --revision B"
)]
pub struct ReportArgs {
    /// The release tag.
    tag: Tag,
    /// The release's evidence: a folder, or oci://REGISTRY/REPOSITORY[:TAG|@DIGEST] to pull
    /// it from a registry first (default: evidence/<tag> in the repository).
    #[arg(long, value_name = "DIR|OCI")]
    evidence: Option<reprove_release::registry::EvidenceSource>,
    /// The published artifacts, to check against the provenance (without it the record
    /// says no artifact was checked).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    #[command(flatten)]
    product: ProductArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// The record's format: self-contained HTML (prints to PDF) or Markdown.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    format: ReportFormat,
    /// The report file (default: reprove-report-<tag>.html or .md here); the two documents
    /// go in the same folder.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace this release's documents written earlier (never another release's, nor a file
    /// `reprove report` did not write).
    #[arg(long)]
    force: bool,
    /// The document id a QA system files the record under (default: CMR-<product>-<tag>); the
    /// two documents get it with -SOUP and -CM.
    #[arg(long, value_name = "ID")]
    document_id: Option<String>,
    /// The document's revision.
    #[arg(long, value_name = "REV", default_value = "1")]
    revision: String,
    #[command(flatten)]
    online: crate::args::OnlineChecks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Markdown,
}

/// `reprove report`.
pub fn run(dir: &Path, args: ReportArgs) -> Result<Outcome> {
    let tag = &args.tag;
    // The identity flags first: a usage mistake is said before anything is looked for (the
    // key files are read where they were, after the repository is found).
    let identity = args.trust.identity.expected()?;
    let repo = super::optional_repo(dir)?;
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
    // Per release: several releases' records share a folder.
    let file_tag = tag.as_str().replace('/', "-");
    let soup_path = folder.join(format!("SOUP-List-{file_tag}.md"));
    let cm_path = folder.join(format!("Configuration-Management-{file_tag}.md"));
    let documents = [
        (&output, "record"),
        (&soup_path, "soup-list"),
        (&cm_path, "configuration-management"),
    ];
    if output == soup_path || output == cm_path {
        bail!(
            "`{}` is where the record's companion document goes; write the record elsewhere",
            output.display()
        );
    }
    // Before the (possibly long) verification: nothing is replaced without --force.
    if !args.force
        && let Some((p, _)) = documents.iter().find(|(p, _)| p.exists())
    {
        bail!(
            "`{}` already exists; pass --force to replace this release's documents",
            p.display()
        );
    }
    let signers = crate::args::signers(&args.trust.keys, identity)?;
    let checked = !signers.is_empty();
    let trusted_root = args.trust.root()?;
    let evidence = super::registry::evidence_for(
        args.evidence.as_ref(),
        repo.as_ref(),
        tag,
        &args.online.insecure_registry,
        &signers,
        trusted_root.as_deref(),
    )?;
    let evidence_dir = evidence.dir.clone();
    let opts = reprove_release::verify::Options {
        tag: tag.clone(),
        evidence: evidence_dir.clone(),
        artifacts: match &args.artifacts {
            Some(dir) => reprove_release::verify::Artifacts::Folder(dir.clone()),
            None => reprove_release::verify::Artifacts::NotChecked,
        },
        published_images: None,
        signers: signers.clone(),
        rebuilders: Vec::new(),
        require: 1,
        trusted_root: trusted_root.clone(),
        project: args.product.project.clone(),
        source_uri: args.product.source_uri.clone(),
        repo: repo.as_ref(),
        images: args.online.images()?,
        rebuild: args.online.rebuild()?,
    };
    let show = crate::output::show_progress();
    let verified = reprove_release::verify::verify(&opts, &|m| {
        if show {
            note(m);
        }
    });
    // No path of this machine in the record: the artifacts folder as the auditor may know it.
    let mut verified = verified;
    evidence.name_in(&mut verified);
    if let Some(dir) = &args.artifacts {
        let abs = std::path::absolute(dir)
            .unwrap_or_else(|_| dir.clone())
            .display()
            .to_string();
        let given = dir.display().to_string();
        let shown = shown_path(dir, repo.as_ref());
        for c in &mut verified.checks {
            for text in
                std::iter::once(&mut c.detail).chain(c.findings.iter_mut().map(|f| &mut f.message))
            {
                *text = text.replace(&abs, &shown).replace(&given, &shown);
            }
        }
    }
    let verified = verified;
    // Without keys verify reads the statements as the files claim, and the report says so.
    let provenance_value = verified.provenance.clone();
    let baseline = verified.baseline_view.as_ref();
    // Only what the verification read and matched against the index, never a second read.
    let rebuild = verified.rebuild_report.clone();
    let index = verified.index_json.clone();
    let generated = rfc3339_utc(unix_now());
    let evidence_s = evidence
        .from_registry
        .clone()
        .unwrap_or_else(|| shown_path(&evidence_dir, repo.as_ref()));
    let product = baseline
        .and_then(|b| b.predicate.project.name.clone())
        .unwrap_or_else(|| "release".into());
    let document_id = args.document_id.clone().unwrap_or_else(|| {
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        };
        format!("CMR-{}-{}", safe(&product), safe(tag.as_str()))
    });
    // With --force, only this product's release's own documents are replaced.
    let marked_product = baseline
        .and_then(|b| b.predicate.project.name.clone())
        .unwrap_or_default();
    for (p, kind) in documents {
        refuse_to_replace(p, kind, &marked_product, tag.as_str())?;
    }
    let trusted = describe_signers(&args.trust, &signers);
    // Named as the signed index only when the verification found it so.
    let index_ok = verified
        .check(reprove_release::verify::CheckId::EvidenceIndex)
        .map(|c| c.status)
        == Some(reprove_release::verify::CheckStatus::Pass);
    let index_sha256 = index_ok
        .then(|| {
            reprove_digest::file::read_regular(
                &evidence_dir.join(reprove_release::evidence::SIGNED_INDEX),
                64 << 20,
            )
            .ok()
        })
        .flatten()
        .map(|b| reprove_digest::sha256_bytes(&b).hex());
    let recipe = recipe_text(repo.as_ref(), &evidence_dir, baseline, index_ok);
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
        document_id: &document_id,
        revision: &args.revision,
        index_sha256,
        trusted: &trusted,
        recipe: recipe.as_ref(),
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
        terminal(&output.display().to_string()),
        terminal(&soup_path.display().to_string()),
        terminal(&cm_path.display().to_string()),
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

/// Refuses to replace `path` (which `--force` allows) unless it is `kind` of `product`'s
/// release `tag` as `reprove report` wrote it: one release's record never replaces another's,
/// another product's, nor a file of someone else (nor anything but a regular file).
fn refuse_to_replace(path: &Path, kind: &str, product: &str, tag: &str) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let head = if meta.is_file() {
        std::fs::File::open(path)
            .and_then(|f| {
                let mut head = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut head)
                    .map(|_| head)
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    // Cut anywhere: read as lossy text, the marker line is whole or absent.
    if !reprove_report::written_for(&String::from_utf8_lossy(&head), kind, product, tag) {
        bail!(
            "`{}` is not the {kind} of `{tag}` written by `reprove report`: not replaced, even with --force",
            path.display()
        );
    }
    Ok(())
}

/// The evidence folder as the record shows it: relative to the repository (or the current
/// folder), never a local absolute path.
fn shown_path(dir: &Path, repo: Option<&reprove_source::Repository>) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let bases = [
        repo.map(|r| r.root().to_owned()),
        std::env::current_dir().ok(),
    ];
    for base in bases.into_iter().flatten() {
        let base = std::path::absolute(&base).unwrap_or(base);
        if let Ok(rel) = abs.strip_prefix(&base) {
            return rel.display().to_string();
        }
    }
    // Elsewhere: its last two parts (`evidence/v1.0.0`), no more of this machine's layout.
    let parts: Vec<_> = abs.components().rev().take(2).collect();
    parts
        .into_iter()
        .rev()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The signers the verification trusted, for the record: each key by the sha256 of its public
/// key (and the file's name), the identity with its issuer.
fn describe_signers(trust: &TrustArgs, signers: &[reprove_attest::verify::Signer]) -> Vec<String> {
    let mut names = trust.keys.iter();
    signers
        .iter()
        .map(|s| match s {
            reprove_attest::verify::Signer::Key { key } => format!(
                "key sha256:{} ({})",
                reprove_digest::sha256_bytes(&key.spki_der()).hex(),
                names
                    .next()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            reprove_attest::verify::Signer::Identity { identity, issuer } => {
                format!("certificate identity {identity} issued by {issuer}")
            }
        })
        .collect()
}

/// The release's recipe as its file holds it: `recipe.toml` of the evidence when the release
/// took one from outside (its sha256 the one the provenance names), else `reprove.toml` at the
/// signed commit (its sha256 the baseline's). `None` when neither can be read and matched.
fn recipe_text(
    repo: Option<&reprove_source::Repository>,
    evidence: &Path,
    baseline: Option<&reprove_baseline::BaselineView>,
    index_ok: bool,
) -> Option<reprove_report::RecipeText> {
    const MAX: u64 = 1 << 20;
    let b = baseline?;
    let (file, bytes, want, external) = match &b.external_recipe {
        // An outside recipe is vouched for by the signed index (its digest, which
        // evidence-index checked) and named by the provenance (`recipe-mismatch` otherwise).
        Some(_) if !index_ok => return None,
        Some(ext) => (
            reprove_release::evidence::RECIPE,
            reprove_digest::file::read_regular(
                &evidence.join(reprove_release::evidence::RECIPE),
                MAX,
            )
            .ok()?,
            ext.sha256.clone(),
            true,
        ),
        None => {
            let item = b
                .predicate
                .configuration_items
                .iter()
                .find(|i| i.path == "reprove.toml")?;
            let commit: reprove_source::ObjectId = b.predicate.release.commit.parse().ok()?;
            let repo = repo?;
            let entries = repo.tree_entries(&commit).ok()?;
            (
                "reprove.toml",
                repo.read_tree_file(&entries, b"reprove.toml", MAX).ok()??,
                item.sha256.clone()?,
                false,
            )
        }
    };
    if reprove_digest::sha256_bytes(&bytes).hex() != want {
        return None;
    }
    Some(reprove_report::RecipeText {
        file: file.to_owned(),
        text: String::from_utf8(bytes).ok()?,
        external,
    })
}
