use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use reprove_baseline::{Options, Progress};
use reprove_source::{Repository, Tag};

use crate::output::{emit, note};

/// Exit status of a command that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The check holds.
    Pass = 0,
    /// The check ran and failed (a policy failed).
    Fail = 1,
}

/// Rebuild a tagged release, prove it matches, and sign the evidence.
///
/// Exit status: 0 the check holds, 1 the check ran and failed, 2 it could not run.
#[derive(Debug, Parser)]
#[command(name = "reprove", version, about, max_term_width = 100)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Assemble the configuration baseline manifest of a tag (IEC 62304 §8.1)
    ///
    /// Reads the committed tree at the tag, never the working tree: every tracked file with
    /// its digests and class, the SOUP register, the container images, and every change since
    /// the previous release tag with its authorization. The JSON form is an in-toto Statement
    /// v1 in canonical JSON (RFC 8785): the same tag always gives the same bytes.
    Baseline {
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
    },
    /// Print the SOUP register (IEC 62304 §8.1.2) of a tag, or of HEAD
    Soup {
        /// The release tag (default: the commit at HEAD).
        tag: Option<Tag>,
        #[arg(long, value_enum, default_value_t = SoupFormat::Markdown)]
        format: SoupFormat,
        /// Write to FILE (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Write a commented reprove.toml for this repository (never overwrites one)
    Init,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BaselineFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SoupFormat {
    #[value(alias = "text")]
    Markdown,
    Csv,
    Json,
    Cyclonedx,
}

pub fn run(cli: Cli) -> Result<Outcome> {
    let dir = match cli.dir.clone() {
        Some(d) => d,
        None => std::env::current_dir().context("failed to read the current directory")?,
    };
    match cli.command {
        Command::Baseline {
            tag,
            previous,
            artifacts,
            format,
            output,
            force,
        } => baseline(
            &dir,
            &tag,
            previous,
            artifacts.as_deref(),
            format,
            output.as_deref(),
            force,
        ),
        Command::Soup {
            tag,
            format,
            output,
            force,
        } => soup(&dir, tag.as_ref(), format, output.as_deref(), force),
        Command::Init => init(&dir),
    }
}

fn open_repo(dir: &Path) -> Result<Repository> {
    Ok(Repository::discover(dir)?)
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Some(pb)
}

fn baseline(
    dir: &Path,
    tag: &Tag,
    previous: Option<Tag>,
    artifacts: Option<&Path>,
    format: Option<BaselineFormat>,
    output: Option<&Path>,
    force: bool,
) -> Result<Outcome> {
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
    let opts = Options {
        previous,
        artifacts,
        progress: &progress,
    };
    let result = reprove_baseline::assemble(&repo, tag, &opts);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let baseline = result?;
    let format = format.unwrap_or(if output.is_some() {
        BaselineFormat::Json
    } else {
        BaselineFormat::Text
    });
    let bytes = match format {
        BaselineFormat::Json => {
            let mut b = baseline.canonical_json()?;
            if output.is_none() {
                b.push(b'\n');
            }
            b
        }
        BaselineFormat::Text => reprove_baseline::to_text(baseline.predicate()).into_bytes(),
        BaselineFormat::Markdown => {
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

fn soup(
    dir: &Path,
    tag: Option<&Tag>,
    format: SoupFormat,
    output: Option<&Path>,
    force: bool,
) -> Result<Outcome> {
    let repo = open_repo(dir)?;
    let reg = reprove_baseline::soup_register(&repo, tag)?;
    let mut bytes = match format {
        SoupFormat::Markdown => {
            let mut s = reprove_soup::to_markdown(&reg.items);
            if !reg.findings.is_empty() {
                s.push_str(&format!("\n**Findings ({}):**\n\n", reg.findings.len()));
                for f in &reg.findings {
                    let at = match (&f.file, f.line) {
                        (Some(file), Some(l)) => format!("{file}:{l}: "),
                        (Some(file), None) => format!("{file}: "),
                        _ => String::new(),
                    };
                    s.push_str(&format!("- `{}` {at}{}\n", f.code.as_str(), f.message));
                }
            }
            s.into_bytes()
        }
        SoupFormat::Csv => reprove_soup::to_csv(&reg.items).into_bytes(),
        SoupFormat::Json => serde_json::to_vec_pretty(&serde_json::json!({
            "commit": reg.commit.to_string(),
            "items": reg.items,
            "findings": reg.findings,
        }))?,
        SoupFormat::Cyclonedx => {
            let meta = reprove_soup::BomMetadata {
                name: reg.project.name.clone(),
                version: tag.map(ToString::to_string),
                supplier: reg.project.supplier.clone(),
                commit: Some(reg.commit.to_string()),
            };
            serde_json::to_vec_pretty(&reprove_soup::to_cyclonedx(&meta, &reg.items))?
        }
    };
    if format != SoupFormat::Csv && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    if format == SoupFormat::Csv || format == SoupFormat::Cyclonedx {
        for f in &reg.findings {
            note(&format!("{}: {}", f.code.as_str(), f.message));
        }
    }
    emit(output, &bytes, force, "the SOUP register")?;
    Ok(Outcome::Pass)
}

fn init(dir: &Path) -> Result<Outcome> {
    let repo = open_repo(dir)?;
    let path = repo.root().join("reprove.toml");
    if path.exists() {
        bail!(
            "`{}` already exists; reprove init never overwrites it",
            path.display()
        );
    }
    let text = crate::init::render(&repo).context("failed to inspect the repository")?;
    crate::output::write_file(&path, text.as_bytes(), false)?;
    note(&format!(
        "wrote `{}`; review it, then commit it (it is read from each release tag)",
        path.display()
    ));
    Ok(Outcome::Pass)
}
