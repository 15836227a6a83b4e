//! `reprove status`: configuration status accounting (IEC 62304 §8.3) across every tag.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use reprove_release::status::{ReleaseState, ReleaseStatus, Signatures};
use reprove_source::Repository;

use crate::args::{TextOrJson, TrustArgs, image_check};
use crate::outcome::Outcome;
use crate::output::{note, stdout};

/// Every release tag with the state its evidence proves (IEC 62304 §8.3)
///
/// untracked, baselined, rebuilt, reproducible / not-reproducible, attested, verified —
/// re-verified from each `evidence/<tag>/`, not trusted; `invalid` when evidence fails a
/// check (bad signature, files not matching the index, a moved tag). Without --key the
/// signatures are not checked and the state stops at attested. Exit 1 when any release's
/// evidence is invalid.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove status --key release.pub\n  reprove status --key release.pub --format json\n  reprove status --evidence-root /srv/evidence --key release.pub --check-images"
)]
pub struct StatusArgs {
    /// Where the evidence folders are (default: evidence/ in the repository).
    #[arg(long, value_name = "DIR")]
    evidence_root: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Also check every release's image pins against the registries (drift).
    #[arg(long)]
    check_images: bool,
    /// A registry (host:port) reached over plain HTTP; loopback registries always are (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,
    /// Output format: a table for people, or JSON.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

fn findings_text(s: &ReleaseStatus) -> String {
    if s.findings.is_empty() {
        return "—".into();
    }
    s.findings
        .iter()
        .map(|(code, n)| format!("{n} {}", reprove_escape::terminal(code)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `reprove status`.
pub fn run(dir: &Path, args: StatusArgs) -> Result<Outcome> {
    let repo = Repository::discover(dir)?;
    let root = args
        .evidence_root
        .clone()
        .unwrap_or_else(|| repo.root().join("evidence"));
    let signers = args.trust.signers()?;
    let images = args
        .check_images
        .then(|| image_check(&args.insecure_registry))
        .transpose()?;
    let checked = !signers.is_empty();
    let opts = reprove_release::status::Options {
        evidence_root: root.clone(),
        signers,
        trusted_root: args.trust.root()?,
        images,
    };
    let list = reprove_release::status::status(&repo, &opts)?;
    if let Some(ic) = &opts.images {
        for n in ic.client.notes() {
            note(&format!("note: {n}"));
        }
    }
    // Evidence that fails a check, and releases that failed their own checks, are both
    // something a dashboard must not show green.
    let invalid = list
        .iter()
        .any(|s| matches!(s.state, ReleaseState::Invalid | ReleaseState::Failed));
    let out = match args.format {
        TextOrJson::Json => {
            let mut counts = std::collections::BTreeMap::new();
            for s in &list {
                *counts.entry(s.state.as_str()).or_insert(0usize) += 1;
            }
            crate::output::json_doc(
                crate::output::JsonDoc::Status,
                serde_json::json!({
                    "evidenceRoot": root.display().to_string(),
                    "signaturesChecked": checked,
                    "summary": counts,
                    "releases": list,
                }),
            )?
        }
        TextOrJson::Text => {
            let tags: Vec<String> = list
                .iter()
                .map(|s| reprove_escape::terminal(&s.tag))
                .collect();
            let tw = tags
                .iter()
                .map(|t| t.chars().count())
                .max()
                .unwrap_or(3)
                .max(3);
            let mut s = format!(
                "{:tw$}  {:16}  {:11}  {}\n",
                "TAG", "STATE", "SIGNATURES", "OPEN FINDINGS"
            );
            for (r, tag) in list.iter().zip(&tags) {
                use reprove_escape::{Style, styled};
                use reprove_release::status::ReleaseState as S;
                let state = format!("{:16}", r.state.as_str());
                let state = match r.state {
                    S::Verified | S::Reproducible | S::Attested => styled(&state, Style::Good),
                    S::Failed | S::Invalid | S::NotReproducible => styled(&state, Style::Bad),
                    _ => styled(&state, Style::Note),
                };
                let (sig, style) = match r.signatures {
                    Signatures::Verified => ("verified", Style::Good),
                    Signatures::Failed => ("FAILED", Style::Bad),
                    Signatures::NotChecked => ("not checked", Style::Note),
                    Signatures::None => ("—", Style::Note),
                };
                s.push_str(&format!(
                    "{:tw$}  {}  {}  {}\n",
                    tag,
                    state,
                    styled(&format!("{sig:11}"), style),
                    findings_text(r)
                ));
                if !r.equivalent.is_empty() {
                    s.push_str(&format!(
                        "{:tw$}    NOT bit for bit: equivalent after {}, as its recipe accepts\n",
                        "",
                        r.equivalent.join(", ")
                    ));
                }
                for p in &r.problems {
                    s.push_str(&format!(
                        "{:tw$}    ! {}\n",
                        "",
                        reprove_escape::terminal(&p.to_string())
                    ));
                }
            }
            if !checked {
                s.push_str(
                    "signatures were not checked: give --key (or an identity) to verify them\n",
                );
            }
            s.push_str(&format!(
                "{} release tag(s), evidence under `{}`\n",
                list.len(),
                reprove_escape::terminal(&root.display().to_string())
            ));
            reprove_escape::terminal_block_styled(&s, crate::output::color()).into_bytes()
        }
    };
    stdout(&out)?;
    Ok(if invalid {
        Outcome::Fail
    } else {
        Outcome::Pass
    })
}
