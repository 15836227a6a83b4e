//! `reprove rebuild`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use reprove_build::{Options, RebuildReport, Verdict};
use reprove_escape::{Style, styled, terminal, xml};
use reprove_source::{Repository, Tag};

use crate::args::RebuildFormat;
use crate::outcome::Outcome;
use crate::output::{stdout, stdout_text};

/// Rebuild a tag in its pinned image with no network and compare with the published artifacts
///
/// Exit 0 when every artifact matches (or, without --artifacts, the build succeeded),
/// 1 on any difference, 2 when the rebuild could not run.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove rebuild v1.4.0 --artifacts dist/\n  reprove rebuild v1.4.0 --variations --keep kept/\n  reprove rebuild v1.0.0 --recipe-from main --artifacts dist/ --fetch-network host"
)]
pub struct RebuildArgs {
    /// The release tag.
    tag: Tag,
    /// Published artifacts: a flat directory, or a SHA256SUMS file.
    #[arg(long, value_name = "DIR|SHA256SUMS")]
    artifacts: Option<PathBuf>,
    #[command(flatten)]
    engine: crate::args::EngineArgs,
    /// Build a second time varying build path, time zone, locale, umask, hostname and user.
    #[arg(long)]
    variations: bool,
    #[command(flatten)]
    fetch: crate::args::FetchArgs,
    /// Keep the build log, rebuilt artifacts, explanations and report in DIR.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Replace DIR if it exists.
    #[arg(long)]
    force: bool,
    /// Output format: text for people, JSON (the rebuild report), or JUnit XML for CI.
    #[arg(long, value_enum, default_value_t = RebuildFormat::Text)]
    format: RebuildFormat,
    #[command(flatten)]
    recipe: crate::args::RecipeArgs,
}

fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

/// The fetch phase's lines: the store, the packages checked, the findings by code.
fn fetch_text(s: &mut String, f: &reprove_build::FetchReport) {
    s.push_str(&format!(
        "fetch: {} package(s) checked against {} (store sha256:{}, {} file(s), {} index metadata{}{})\n",
        f.packages.len(),
        f.lockfiles
            .keys()
            .map(|l| terminal(l))
            .collect::<Vec<_>>()
            .join(", "),
        f.store_sha256,
        f.files,
        f.metadata_files,
        if f.from_cache { "; from the cache, no network" } else { "" },
        match (&f.ca_bundle_sha256, f.from_cache) {
            (Some(ca), false) => format!("; CA bundle sha256:{}… offered", short(ca)),
            _ => String::new(),
        }
    ));
    if let Some(hosts) = &f.hosts_contacted {
        let shown: Vec<String> = hosts
            .iter()
            .map(|h| {
                format!(
                    "{}:{}{}",
                    h.host,
                    h.port,
                    if h.allowed { "" } else { " (refused)" }
                )
            })
            .collect();
        s.push_str(&format!(
            "  hosts contacted (through reprove's proxy): {}\n",
            if shown.is_empty() {
                "none".to_owned()
            } else {
                terminal(&shown.join(", "))
            }
        ));
    }
    for finding in &f.findings {
        s.push_str(&format!(
            "  {:<9} {}\n",
            if finding.code.rejects() {
                "REJECTED"
            } else {
                "note"
            },
            terminal(&format!("{}: {}", finding.code, finding.message))
        ));
    }
}

fn text(r: &RebuildReport) -> String {
    if r.verdict == reprove_build::RebuildVerdict::InputsRejected {
        let mut s = format!(
            "not built `{}` (commit {}): the fetched dependencies do not match the lockfiles\n",
            terminal(&r.tag),
            terminal(&r.commit)
        );
        if let Some(f) = &r.fetch {
            fetch_text(&mut s, f);
        }
        s.push_str(&format!("verdict: {}\n", r.verdict.as_str()));
        return s;
    }
    let mut s = format!(
        "rebuilt `{}` (commit {}) in {} with {} {}, no network\n",
        terminal(&r.tag),
        terminal(&r.commit),
        terminal(&r.image),
        terminal(&r.engine),
        terminal(&r.engine_version)
    );
    let site = &r.engine_site;
    // Said for a remote engine: which daemon built it is part of the result.
    if site.transfer == "copy" {
        s.push_str(&format!(
            "engine: {} at {}{}, files copied in and out\n",
            terminal(&r.engine),
            terminal(site.endpoint.as_deref().unwrap_or("its default socket")),
            r.engine_site
                .daemon
                .as_deref()
                .map(|d| format!(" (daemon {})", terminal(d)))
                .unwrap_or_default()
        ));
    }
    if let Some(e) = &r.external_recipe {
        s.push_str(&format!(
            "recipe: {} (sha256:{}), not the tag's own: it is not part of the release's baseline\n",
            terminal(&e.origin),
            terminal(&e.sha256)
        ));
    }
    if let Some(f) = &r.fetch {
        fetch_text(&mut s, f);
    }
    if r.comparison.is_empty() {
        for (name, a) in &r.artifacts {
            s.push_str(&format!(
                "  built     {}  sha256:{}\n",
                terminal(name),
                a.sha256
            ));
        }
    }
    for c in &r.comparison {
        let name = terminal(&c.name);
        let line = match c.verdict {
            Verdict::Match => format!(
                "  {}  {}  sha256:{}",
                styled("match   ", Style::Good),
                name,
                c.rebuilt.as_ref().map(|a| a.sha256.as_str()).unwrap_or("")
            ),
            Verdict::Mismatch => format!(
                "  {}  {}  published sha256:{}… ({} B), rebuilt sha256:{}… ({} B)",
                styled("MISMATCH", Style::Bad),
                name,
                c.published.as_ref().map(|a| short(&a.sha256)).unwrap_or(""),
                c.published
                    .as_ref()
                    .and_then(|a| a.size)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
                c.rebuilt.as_ref().map(|a| short(&a.sha256)).unwrap_or(""),
                c.rebuilt
                    .as_ref()
                    .and_then(|a| a.size)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
            ),
            Verdict::Equivalent => {
                let passes: Vec<&str> = c.normalizations.iter().map(|n| n.as_str()).collect();
                let accepted = r.unaccepted(&c.normalizations).is_empty();
                format!(
                    "  {}  {}  the same after {} ({})",
                    if accepted {
                        styled("equivalent", Style::Note)
                    } else {
                        styled("EQUIVALENT", Style::Bad)
                    },
                    name,
                    passes.join(", "),
                    if accepted {
                        "accepted by [build] accept-equivalent"
                    } else {
                        "NOT accepted: [build] accept-equivalent does not name them all"
                    }
                )
            }
            Verdict::Missing => format!(
                "  {}  {name}  published but not rebuilt",
                styled("MISSING ", Style::Bad)
            ),
            Verdict::Extra => format!(
                "  {}  {name}  rebuilt but not published",
                styled("EXTRA   ", Style::Bad)
            ),
        };
        s.push_str(&line);
        s.push('\n');
        if let Some(why) = &c.not_equivalent {
            s.push_str(&format!("            not equivalent: {}\n", terminal(why)));
        }
    }
    if let Some(v) = &r.variations {
        s.push_str(&format!(
            "variations ({}): {}\n",
            v.varied.join(", "),
            if v.changed.is_empty() {
                "every artifact identical".to_owned()
            } else {
                format!("{} artifact(s) changed", v.changed.len())
            }
        ));
        for c in &v.changed {
            s.push_str(&format!("  CHANGED   {}\n", terminal(&c.artifact)));
        }
    }
    for e in &r.explanations {
        s.push_str(&format!(
            "why `{}` differs ({}):\n",
            terminal(&e.artifact),
            terminal(&e.tool)
        ));
        for l in &e.summary {
            s.push_str(&format!("    {}\n", terminal(l)));
        }
    }
    s.push_str(&format!("verdict: {}", r.verdict.as_str()));
    if r.verdict == reprove_build::RebuildVerdict::Equivalent {
        let unaccepted: Vec<&str> = r
            .unaccepted_normalizations()
            .into_iter()
            .map(|n| n.as_str())
            .collect();
        if unaccepted.is_empty() {
            s.push_str(
                " (not bit for bit; every normalization it needed is accepted by the recipe)",
            );
        } else {
            s.push_str(&format!(
                " (not bit for bit; add {} to `[build] accept-equivalent` to accept it)",
                unaccepted
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    s.push('\n');
    s
}

/// JUnit XML: one test case per artifact (and per varied artifact).
fn junit(r: &RebuildReport) -> String {
    let mut cases = Vec::new();
    for f in r.fetch.iter().flat_map(|f| f.findings.iter()) {
        cases.push((
            format!(
                "dependency {}",
                f.package
                    .as_deref()
                    .or(f.path.as_deref())
                    .unwrap_or("store")
            ),
            f.code
                .rejects()
                .then(|| format!("{}: {}", f.code, f.message)),
        ));
    }
    for c in &r.comparison {
        let failure = match c.verdict {
            Verdict::Match => None,
            Verdict::Equivalent if r.unaccepted(&c.normalizations).is_empty() => None,
            other => Some(format!("{other:?}").to_lowercase()),
        };
        cases.push((format!("artifact {}", c.name), failure));
    }
    if r.comparison.is_empty() {
        for name in r.artifacts.keys() {
            cases.push((format!("build {name}"), None));
        }
    }
    if let Some(v) = &r.variations {
        for name in r.artifacts.keys() {
            let changed = v.changed.iter().any(|c| &c.artifact == name);
            cases.push((
                format!("variations {name}"),
                changed.then(|| "changed under varied conditions".to_owned()),
            ));
        }
    }
    let failures = cases.iter().filter(|(_, f)| f.is_some()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"reprove rebuild {}\" tests=\"{}\" failures=\"{failures}\">\n",
        xml(&r.tag),
        cases.len()
    );
    for (name, failure) in &cases {
        match failure {
            None => out.push_str(&format!("    <testcase classname=\"reprove.rebuild\" name=\"{}\"/>\n", xml(name))),
            Some(f) => out.push_str(&format!(
                "    <testcase classname=\"reprove.rebuild\" name=\"{}\">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                xml(name),
                xml(f)
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

pub fn run(dir: &Path, args: RebuildArgs) -> Result<Outcome> {
    let tag = &args.tag;
    let repo = Repository::discover(dir)?;
    if let Some(k) = &args.keep
        && k.exists()
    {
        if !args.force {
            bail!(
                "`{}` already exists; pass --force to replace it",
                k.display()
            );
        }
        std::fs::remove_dir_all(k)?;
    }
    let opts = Options {
        recipe: args.recipe.read(&repo)?.map(|o| (o.recipe, o.external)),
        engine: args.engine.choice(),
        published: args
            .artifacts
            .as_deref()
            .map(reprove_build::Published::from_path),
        images: Vec::new(),
        variations: args.variations,
        keep: args.keep,
        fetch: args.fetch.options()?,
    };
    let progress = super::Progress::start();
    let report = reprove_build::rebuild(&repo, tag, &opts, &|msg| {
        progress.step(msg);
    })?;
    drop(progress);
    let out = match args.format {
        RebuildFormat::Text => {
            stdout_text(&text(&report))?;
            return Ok(if report.holds() {
                Outcome::Pass
            } else {
                Outcome::Fail
            });
        }
        RebuildFormat::Json => crate::output::json_doc(crate::output::JsonDoc::Rebuild, &report)?,
        RebuildFormat::Junit => junit(&report).into_bytes(),
    };
    stdout(&out)?;
    Ok(if report.holds() {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}
