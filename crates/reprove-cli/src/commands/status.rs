//! `reprove status`: configuration status accounting (IEC 62304 §8.3) across every tag.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use reprove_release::registry::{self as store, EvidenceRepo, EvidenceSource};
use reprove_release::status::{Problem, ReleaseState, ReleaseStatus, Signatures};
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
    /// Where the evidence folders are, or oci://REGISTRY/REPOSITORY to read every release's
    /// evidence from a registry (default: evidence/ in the repository).
    #[arg(long, value_name = "DIR|OCI")]
    evidence_root: Option<EvidenceSource>,
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
    let signers = args.trust.signers()?;
    let trusted_root = args.trust.root()?;
    let pulled = match &args.evidence_root {
        Some(EvidenceSource::Registry(from)) => {
            // With a key, each release's signed index is checked before anything else is
            // downloaded, and only what it vouches for comes.
            let gate = store::Gate {
                signers: &signers,
                root: trusted_root.as_deref(),
            };
            let gate = (!signers.is_empty()).then_some(&gate);
            Some(pull_all(&repo, from, &args.insecure_registry, gate)?)
        }
        _ => None,
    };
    let root = match (&args.evidence_root, &pulled) {
        (_, Some(p)) => p.root.path().to_owned(),
        (Some(EvidenceSource::Folder(d)), None) => d.clone(),
        _ => repo.root().join("evidence"),
    };
    let images = args
        .check_images
        .then(|| image_check(&args.insecure_registry))
        .transpose()?;
    let checked = !signers.is_empty();
    let opts = reprove_release::status::Options {
        evidence_root: root.clone(),
        signers,
        trusted_root,
        images,
    };
    let mut list = reprove_release::status::status(&repo, &opts)?;
    if let Some(p) = &pulled {
        p.name_in(&mut list);
    }
    let list = list;
    let root_shown = match (&args.evidence_root, &pulled) {
        (Some(EvidenceSource::Registry(from)), _) => from.to_string(),
        _ => root.display().to_string(),
    };
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
                    "evidenceRoot": root_shown,
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
                reprove_escape::terminal(&root_shown)
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

/// Every release's evidence pulled from a registry into a temporary root, and what happened
/// to each.
struct Pulled {
    root: tempfile::TempDir,
    /// Git tag → the reference pulled, or why it could not be.
    outcome: std::collections::BTreeMap<String, std::result::Result<String, String>>,
}

impl Pulled {
    /// The registry's references where the temporary folders would show, and a release whose
    /// evidence could not be pulled as `invalid`, never `untracked`.
    fn name_in(&self, list: &mut [ReleaseStatus]) {
        let tmp = self.root.path().display().to_string();
        for s in list {
            match self.outcome.get(&s.tag) {
                // Pulled, yet no folder where status looked: never `untracked`.
                Some(Ok(reference)) if s.state == ReleaseState::Untracked => {
                    s.state = ReleaseState::Invalid;
                    s.evidence = Some(reference.clone());
                    s.problems.push(Problem {
                        check: None,
                        code: reprove_release::verify::FindingCode::EvidenceMissing
                            .as_str()
                            .to_owned(),
                        message: format!("the evidence pulled from `{reference}` was not found"),
                    });
                }
                Some(Ok(reference)) => {
                    s.evidence = Some(reference.clone());
                    for p in &mut s.problems {
                        p.message = p.message.replace(&tmp, reference);
                    }
                }
                Some(Err(why)) => {
                    s.state = ReleaseState::Invalid;
                    s.evidence = None;
                    s.problems.push(Problem {
                        check: None,
                        code: reprove_release::verify::FindingCode::Unreadable
                            .as_str()
                            .to_owned(),
                        message: why.clone(),
                    });
                }
                None => {}
            }
        }
    }
}

/// Pulls the evidence of every version tag of `repo` that `from` holds.
fn pull_all(
    repo: &Repository,
    from: &EvidenceRepo,
    insecure: &[String],
    gate: Option<&store::Gate<'_>>,
) -> Result<Pulled> {
    if from.names_release() {
        anyhow::bail!(
            "--evidence-root takes a repository (oci://REGISTRY/REPOSITORY), not one release"
        );
    }
    let client = super::registry::client(insecure)?;
    let held: std::collections::BTreeSet<String> =
        store::release_tags(&client, from)?.into_iter().collect();
    let tags: Vec<String> = repo
        .tags()?
        .into_iter()
        .filter(|t| reprove_source::VersionKey::parse(&t.name).is_some())
        .map(|t| t.name)
        .collect();
    // Git tags by the OCI tag that holds their evidence: two git tags can share one
    // (`v1+b` and `v1-b`); it is pulled once and belongs to one of them at most.
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for t in &tags {
        groups.entry(store::oci_tag(t)).or_default().push(t.clone());
    }
    let strays = held.iter().filter(|o| !groups.contains_key(*o)).count();
    if strays > 0 {
        note(&format!(
            "note: {strays} tag(s) of `{}` name no version tag of this repository",
            reprove_escape::terminal(&from.to_string())
        ));
    }
    groups.retain(|o, _| held.contains(o));
    // The git tag a pulled release goes to: the one its (unverified) annotation names when
    // that is in the group, else the first; verify then reads the signed index.
    let chosen = |o: &str, named: Option<&str>| -> String {
        let group = &groups[o];
        named
            .filter(|n| group.iter().any(|g| g == n))
            .unwrap_or(&group[0])
            .to_owned()
    };
    let root = tempfile::Builder::new()
        .prefix("reprove-status-")
        .tempdir()?;
    let oci: Vec<String> = groups.keys().cloned().collect();
    let dir = root.path().to_owned();
    let results = store::pull_each(
        &client,
        from,
        &oci,
        &|o, listing| Ok(dir.join(chosen(o, listing.release_tag.as_deref()))),
        false,
        // A temporary copy: no fsync.
        false,
        gate,
    );
    super::registry::client_notes(&client);
    let mut outcome = std::collections::BTreeMap::new();
    for (o, r) in oci.iter().zip(results) {
        let group = &groups[o];
        match r {
            Ok(p) => {
                let owner = chosen(o, p.release_tag.as_deref());
                for t in group {
                    let r = if *t == owner {
                        Ok(p.reference.clone())
                    } else {
                        Err(format!(
                            "the registry tag `{o}` holds the evidence of `{owner}`; git tags {} share it",
                            group.join(", ")
                        ))
                    };
                    outcome.insert(t.clone(), r);
                }
            }
            Err(e) => {
                let why = reprove_attest::verify::error_chain(&e);
                for t in group {
                    outcome.insert(t.clone(), Err(why.clone()));
                }
            }
        }
    }
    note(&format!(
        "pulled the evidence of {} release(s) from `{}`",
        outcome.values().filter(|r| r.is_ok()).count(),
        reprove_escape::terminal(&from.to_string())
    ));
    Ok(Pulled { root, outcome })
}
