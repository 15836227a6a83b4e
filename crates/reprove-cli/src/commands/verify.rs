//! `reprove verify`: the auditor's offline check of a release's evidence.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use reprove_escape::{Style, styled, terminal, xml};
use reprove_release::verify::{CheckStatus, VerifyReport};
use reprove_source::{Tag, rfc3339_utc, unix_now};

use crate::args::{ProductArgs, RebuildFormat, TrustArgs};
use crate::outcome::Outcome;
use crate::output::{note, stdout, stdout_text};

/// Verify a release's evidence, offline: signatures, artifacts, agreement, tag, policy
///
/// Checks every bundle's signature, each artifact's sha256 against the provenance, that
/// baseline and provenance agree, that the tag still points at the signed commit, and the
/// change policy; --check-images asks the registries, --rebuild rebuilds. Exit 0 verified,
/// 1 a check failed, 2 a check could not run.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove verify v1.4.0 --artifacts dist/ --key release.pub\n  reprove verify v1.4.0 --no-artifacts --key release.pub --format junit > verify.xml\n  reprove verify v1.4.0 --artifacts dist/ --key release.pub --check-images --rebuild\n  reprove verify v2.0.0 --artifacts oci://ghcr.io/acme/app:2.0.0 --key release.pub\n  reprove verify v1.4.0 --artifacts dist/ --certificate-identity-regexp 'https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/heads/main' --certificate-oidc-issuer https://token.actions.githubusercontent.com --junit verify.xml --summary \"$GITHUB_STEP_SUMMARY\""
)]
pub struct VerifyArgs {
    /// The release tag: the signed baseline, provenance and index must name it.
    #[arg(required_unless_present = "source_tag")]
    tag: Option<Tag>,
    /// The release tag as slsa-verifier spells it: the same check as TAG (given both, they
    /// must be the same tag).
    #[arg(long, value_name = "TAG")]
    source_tag: Option<Tag>,
    /// The release's evidence: a folder, or oci://REGISTRY/REPOSITORY[:TAG|@DIGEST] to pull
    /// it from a registry first (default: evidence/<tag> in the repository).
    #[arg(long, value_name = "DIR|OCI")]
    evidence: Option<reprove_release::registry::EvidenceSource>,
    /// The published artifacts: the folder of downloaded files, whose bytes are hashed —
    /// every entry counts: a file no subject names, a subfolder or a symlink fails — and/or
    /// container images, oci://REGISTRY/REPOSITORY:TAG or @sha256:…, resolved in their
    /// registry now: the digest served must be an attested one (repeatable).
    #[arg(long, value_name = "DIR|OCI", conflicts_with_all = ["artifact", "no_artifacts"])]
    artifacts: Vec<crate::args::PublishedArg>,
    /// One published file to check against the subject of its name (repeatable); the
    /// release's other artifacts are then not required.
    #[arg(
        long = "artifact",
        value_name = "FILE",
        conflicts_with = "no_artifacts"
    )]
    artifact: Vec<PathBuf>,
    /// Check the evidence only, no published file; the verdict and the summary say so.
    #[arg(long)]
    no_artifacts: bool,
    #[command(flatten)]
    product: ProductArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// Public key of another rebuilder whose provenance counts toward --require; it can
    /// never sign for the release itself (repeatable).
    #[arg(long = "rebuilder-key", value_name = "PUB")]
    rebuilder_keys: Vec<PathBuf>,
    /// Independent signers whose provenance must agree (k-of-n).
    #[arg(long, value_name = "N", default_value_t = 1)]
    require: usize,
    #[command(flatten)]
    online: crate::args::OnlineChecks,
    /// Output format: text for people, JSON (every check and finding), or JUnit XML for CI.
    #[arg(long, value_enum, default_value_t = RebuildFormat::Text)]
    format: RebuildFormat,
    /// Also write the JUnit XML report to FILE (replaced each run), whatever --format prints.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write the JSON report to FILE (replaced each run), whatever --format prints.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Append a Markdown summary (verdict, checks, findings) to FILE, e.g.
    /// "$GITHUB_STEP_SUMMARY" (created if missing).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Sign the SLSA verification summary with this key.
    #[arg(long, value_name = "KEY")]
    vsa_key: Option<PathBuf>,
    /// Sign the SLSA verification summary keylessly instead: the identity token and services
    /// as `release --keyless` finds them without flags (SIGSTORE_ID_TOKEN or the CI's own
    /// token; REPROVE_FULCIO_URL, REPROVE_REKOR_URL, REPROVE_TSA_URL, REPROVE_SIGNING_CONFIG,
    /// else the public-good instance).
    #[arg(long, conflicts_with = "vsa_key")]
    vsa_keyless: bool,
    /// Write the signed verification summary (bundle) to FILE.
    #[arg(long, value_name = "FILE")]
    vsa_output: Option<PathBuf>,
    /// Overwrite the --vsa-output file.
    #[arg(long)]
    force: bool,
}

fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Error => "ERROR",
    }
}

fn text(r: &VerifyReport) -> String {
    let mut s = format!(
        "verifying `{}` with the evidence in `{}`\n",
        terminal(&r.tag),
        terminal(&r.evidence)
    );
    let w = r
        .checks
        .iter()
        .map(|c| c.id.as_str().len())
        .max()
        .unwrap_or(0);
    for c in &r.checks {
        let style = match c.status {
            CheckStatus::Pass => Style::Good,
            CheckStatus::Skipped => Style::Note,
            CheckStatus::Fail | CheckStatus::Error => Style::Bad,
        };
        s.push_str(&format!(
            "  {}  {:w$}  {}\n",
            styled(&format!("{:<7}", status_word(c.status)), style),
            c.id,
            c.detail
        ));
        for f in &c.findings {
            s.push_str(&format!("           {:w$}  - {f}\n", ""));
        }
    }
    s.push_str(&format!("verdict: {}\n", r.verdict.as_str()));
    s
}

fn junit(r: &VerifyReport) -> String {
    let failures = r
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    let errors = r
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Error)
        .count();
    let skipped = r
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Skipped)
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"reprove verify {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n",
        xml(&r.tag),
        r.checks.len()
    );
    for c in &r.checks {
        let open = format!(
            "    <testcase classname=\"reprove.verify\" name=\"{}\"",
            xml(c.id.as_str())
        );
        let message = if c.findings.is_empty() {
            c.detail.clone()
        } else {
            c.findings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        match c.status {
            CheckStatus::Pass => out.push_str(&format!("{open}/>\n")),
            CheckStatus::Skipped => out.push_str(&format!(
                "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                xml(&c.detail)
            )),
            CheckStatus::Fail => out.push_str(&format!(
                "{open}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml(&c.detail),
                xml(&message)
            )),
            CheckStatus::Error => out.push_str(&format!(
                "{open}>\n      <error message=\"{}\">{}</error>\n    </testcase>\n",
                xml(&c.detail),
                xml(&message)
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `reprove verify`.
pub fn run(dir: &Path, args: VerifyArgs) -> Result<Outcome> {
    let tag = match (&args.tag, &args.source_tag) {
        (Some(t), Some(s)) if t != s => bail!(
            "the tag `{}` and --source-tag `{}` differ: a release is checked against one tag",
            terminal(t.as_str()),
            terminal(s.as_str())
        ),
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => bail!("no tag given (TAG or --source-tag)"),
    };
    // The identity flags first: a usage mistake is said before anything is looked for (the
    // key files are read where they were, after the repository is found).
    let identity = args.trust.identity.expected()?;
    let repo = super::optional_repo(dir)?;
    let signers = crate::args::signers(&args.trust.keys, identity)?;
    if signers.is_empty() {
        bail!(
            "give --key PUB (repeatable), or --certificate-identity with --certificate-oidc-issuer"
        );
    }
    if args.require == 0 {
        bail!("--require must be at least 1");
    }
    let rebuilders = crate::args::signers(&args.rebuilder_keys, None)?;
    // The release signer counts once, however many --key it has; each rebuilder once more.
    if args.require > 1 + rebuilders.len() {
        bail!(
            "--require {} needs the release signer and {} rebuilder(s) (--rebuilder-key), {} given",
            args.require,
            args.require - 1,
            rebuilders.len()
        );
    }
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
    // Which published bytes are compared: saying none is a choice the verdict reports, never
    // a default.
    let (folder, image_args) = crate::args::split_published(&args.artifacts)?;
    let published_images = if image_args.is_empty() {
        None
    } else {
        Some(reprove_release::verify::PublishedImages {
            client: super::registry::client(&args.online.insecure_registry)?,
            images: image_args,
        })
    };
    let artifacts = match (&folder, args.artifact.is_empty(), args.no_artifacts) {
        (Some(dir), _, _) => reprove_release::verify::Artifacts::Folder(dir.clone()),
        (None, false, _) => reprove_release::verify::Artifacts::Files(args.artifact.clone()),
        (None, true, true) => reprove_release::verify::Artifacts::NotChecked,
        (None, true, false) if published_images.is_some() => {
            reprove_release::verify::Artifacts::NotChecked
        }
        (None, true, false) => bail!(
            "give --artifacts DIR (the downloaded release files), --artifact FILE (repeatable), or --no-artifacts to verify the evidence alone"
        ),
    };
    if args.vsa_output.is_some() && args.vsa_key.is_none() && !args.vsa_keyless {
        bail!("--vsa-output writes the signed summary; give --vsa-key or --vsa-keyless too");
    }
    if let Some(o) = &args.vsa_output
        && o.exists()
        && !args.force
    {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            o.display()
        );
    }
    // The signer is ready (password asked, token found) before the verification runs.
    let vsa_key: Option<Box<dyn reprove_attest::StatementSigner>> = match &args.vsa_key {
        Some(k) => Some(Box::new(crate::keys::read_private_key(k)?)),
        None if args.vsa_keyless => Some(crate::args::SigningArgs::keyless_from_env().signer()?),
        None => None,
    };
    let opts = reprove_release::verify::Options {
        tag: tag.clone(),
        evidence: evidence_dir,
        artifacts,
        published_images,
        signers,
        rebuilders,
        require: args.require,
        trusted_root,
        project: args.product.project.clone(),
        source_uri: args.product.source_uri.clone(),
        repo: repo.as_ref(),
        images: args.online.images()?,
        rebuild: args.online.rebuild()?,
    };
    let show = crate::output::show_progress();
    let mut report = reprove_release::verify::verify(&opts, &|m| {
        if show {
            note(m);
        }
    });
    evidence.name_in(&mut report);
    let report = report;
    if let Some(ic) = &opts.images {
        for n in ic.client.notes() {
            note(&format!("note: {n}"));
        }
    }
    if let Some(pi) = &opts.published_images {
        super::registry::client_notes(&pi.client);
    }
    let summary = reprove_release::verify::summary(&report, args.require, rfc3339_utc(unix_now()));
    let signed_summary = match &vsa_key {
        Some(k) => Some(k.sign_statement(summary.to_canonical_json()?)?),
        None => None,
    };
    if let (Some(o), Some(b)) = (&args.vsa_output, &signed_summary) {
        crate::output::write_file(o, b, args.force)?;
        note(&format!(
            "wrote the signed verification summary to `{}`",
            o.display()
        ));
    }
    let json_doc = || -> Result<Vec<u8>> {
        let mut v = serde_json::to_value(&report)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert(
                "verificationSummary".into(),
                serde_json::to_value(&summary)?,
            );
            if let Some(b) = &signed_summary {
                m.insert(
                    "verificationSummaryBundle".into(),
                    serde_json::from_slice(b)?,
                );
            }
        }
        crate::output::json_doc(crate::output::JsonDoc::Verify, v)
    };
    // The files a CI job keeps, written before stdout so a closed pipe cannot lose them.
    if let Some(p) = &args.junit {
        crate::output::write_file(p, junit(&report).as_bytes(), true)?;
    }
    if let Some(p) = &args.json {
        crate::output::write_file(p, &json_doc()?, true)?;
    }
    if let Some(p) = &args.summary {
        append_summary(p, &markdown_summary(&report))?;
    }
    if args.format == RebuildFormat::Text {
        stdout_text(&text(&report))?;
        return Ok(Outcome::from_verdict(report.verdict));
    }
    let out = match args.format {
        RebuildFormat::Text | RebuildFormat::Junit => junit(&report).into_bytes(),
        RebuildFormat::Json => json_doc()?,
    };
    stdout(&out)?;
    Ok(Outcome::from_verdict(report.verdict))
}

/// The verdict, every check and every finding as Markdown (GitHub's job summary, a merge
/// request note): values from the evidence escaped, reprove's own code spans kept.
fn markdown_summary(r: &VerifyReport) -> String {
    use reprove_escape::{markdown, markdown_rich};
    let icon = if r.verdict.is_verified() {
        "✅"
    } else {
        "❌"
    };
    let mut s = format!(
        "### {icon} reprove verify `{}`: {}\n\n| status | check | detail |\n|---|---|---|\n",
        reprove_escape::markdown_code(&r.tag).replace('|', "\\|"),
        markdown(r.verdict.as_str())
    );
    for c in &r.checks {
        let status = match c.status {
            CheckStatus::Fail | CheckStatus::Error => format!("**{}**", status_word(c.status)),
            _ => status_word(c.status).to_owned(),
        };
        s.push_str(&format!(
            "| {status} | {} | {} |\n",
            c.id.as_str(),
            markdown_rich(&c.detail, true)
        ));
    }
    let findings: Vec<_> = r
        .checks
        .iter()
        .flat_map(|c| c.findings.iter().map(move |f| (c.id, f)))
        .collect();
    if !findings.is_empty() {
        s.push_str("\n**Findings**\n\n");
        for (id, f) in findings {
            s.push_str(&format!(
                "- {id}: `{}` {}\n",
                f.code,
                markdown_rich(&f.message, false)
            ));
        }
    }
    s.push('\n');
    s
}

/// Appends to a summary file that other steps write too (GitHub's `$GITHUB_STEP_SUMMARY`):
/// one write of the whole text, so two steps' summaries never interleave.
fn append_summary(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open the summary file `{}`", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("failed to write the summary to `{}`", path.display()))
}
