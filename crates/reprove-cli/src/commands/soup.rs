//! `reprove soup`: the SOUP register (IEC 62304 §8.1.2) of a tag or of HEAD.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};
use reprove_source::Tag;

use super::open_repo;
use crate::outcome::Outcome;
use crate::output::{emit, note};

/// Print the SOUP register (IEC 62304 §8.1.2) of a tag, or of HEAD
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove soup v1.4.0\n  reprove soup v1.4.0 --format cyclonedx -o sbom.cdx.json\n  reprove soup v1.4.0 --format spdx -o sbom.spdx.json\n  reprove soup --format csv"
)]
pub struct SoupArgs {
    /// The release tag (default: the commit at HEAD).
    tag: Option<Tag>,
    /// Output format: a Markdown table, CSV, JSON, a CycloneDX 1.6 (or 1.5) SBOM, or an SPDX 2.3
    /// JSON document.
    #[arg(long, value_enum, default_value_t = SoupFormat::Markdown)]
    format: SoupFormat,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SoupFormat {
    #[value(alias = "text")]
    Markdown,
    Csv,
    Json,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// CycloneDX 1.5 JSON, for tools that do not read 1.6 yet.
    #[value(name = "cyclonedx-1.5")]
    Cyclonedx15,
    /// SPDX 2.3 JSON.
    Spdx,
}

impl SoupFormat {
    /// The formats for tools, which carry no findings: those go to stderr.
    fn is_sbom(self) -> bool {
        matches!(
            self,
            SoupFormat::Csv | SoupFormat::Cyclonedx | SoupFormat::Cyclonedx15 | SoupFormat::Spdx
        )
    }
}

pub fn run(dir: &Path, args: SoupArgs) -> Result<Outcome> {
    soup(
        dir,
        args.tag.as_ref(),
        args.format,
        args.output.as_deref(),
        args.force,
    )
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
                // Names and versions from lockfiles are in these messages: escaped as the
                // table is, so none can carry a terminal escape or Markdown of its own.
                for f in &reg.findings {
                    let at = match (&f.file, f.line) {
                        (Some(file), Some(l)) => {
                            format!("{}:{l}: ", reprove_escape::markdown(file))
                        }
                        (Some(file), None) => format!("{}: ", reprove_escape::markdown(file)),
                        _ => String::new(),
                    };
                    s.push_str(&format!(
                        "- `{}` {at}{}\n",
                        f.code.as_str(),
                        reprove_escape::markdown_rich(&f.message, false)
                    ));
                }
            }
            s.into_bytes()
        }
        SoupFormat::Csv => reprove_soup::to_csv(&reg.items).into_bytes(),
        SoupFormat::Json => crate::output::json_doc(
            crate::output::JsonDoc::Soup,
            serde_json::json!({
                "commit": reg.commit.to_string(),
                "items": reg.items,
                "findings": reg.findings,
            }),
        )?,
        SoupFormat::Cyclonedx | SoupFormat::Cyclonedx15 | SoupFormat::Spdx => {
            let meta = reprove_soup::BomMetadata {
                name: reg.project.name.clone(),
                version: tag.map(ToString::to_string),
                supplier: reg.project.supplier.clone(),
                commit: Some(reg.commit.to_string()),
                created: Some(reg.commit_time.clone()),
            };
            let doc = match format {
                SoupFormat::Spdx => reprove_soup::to_spdx(&meta, &reg.items),
                SoupFormat::Cyclonedx15 => reprove_soup::to_cyclonedx(
                    &meta,
                    &reg.items,
                    reprove_soup::CycloneDxVersion::V1_5,
                ),
                _ => reprove_soup::to_cyclonedx(
                    &meta,
                    &reg.items,
                    reprove_soup::CycloneDxVersion::V1_6,
                ),
            };
            serde_json::to_vec_pretty(&doc)?
        }
    };
    if format != SoupFormat::Csv && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    if format.is_sbom() {
        for f in &reg.findings {
            note(&format!("{}: {}", f.code.as_str(), f.message));
        }
    }
    emit(output, &bytes, force, "the SOUP register")?;
    Ok(Outcome::Pass)
}
