//! `reprove attest`, `reprove release` and `reprove verify`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use reprove_build::{EngineKind, RebuildReport};
use reprove_release::evidence::{self, ReleaseOutcome};
use reprove_release::pipeline::sign_statement;
use reprove_release::verify::{CheckStatus, VerifyReport, VerifyVerdict};
use reprove_source::{Repository, Tag, rfc3339_utc, unix_now};

use crate::audit::{image_check, read_root, signers};
use crate::commands::{EngineArg, Outcome, RebuildFormat};
use reprove_escape::{terminal, xml};

use crate::output::{emit, note, stdout, stdout_text};

pub struct AttestArgs {
    pub rebuild_report: PathBuf,
    pub key: PathBuf,
    pub output: Option<PathBuf>,
    pub force: bool,
    pub byproducts: Vec<PathBuf>,
}

/// `reprove attest`: SLSA provenance for a rebuild report, signed.
pub fn attest(dir: &Path, tag: &Tag, args: AttestArgs) -> Result<Outcome> {
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
    let key = crate::sign::read_private_key(&args.key)?;
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
    if report.verdict != reprove_build::RebuildVerdict::Reproducible {
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
    let out = sign_statement(st.to_canonical_json()?, &key)?;
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

pub struct ReleaseArgs {
    pub artifacts: PathBuf,
    pub key: PathBuf,
    pub evidence: Option<PathBuf>,
    pub force: bool,
    pub engine: Option<EngineArg>,
    pub previous: Option<Tag>,
}

/// What each evidence file proves, for the closing summary.
pub fn describe(file: &str) -> &'static str {
    match file {
        evidence::BASELINE => {
            "signed configuration baseline: every file, SOUP item, image and change (IEC 62304 §8.1)"
        }
        evidence::PROVENANCE => {
            "signed SLSA provenance: what was rebuilt, from which commit, in which image (§5.8)"
        }
        evidence::REBUILD_REPORT => "the rebuild and its artifact-by-artifact comparison",
        evidence::BUILD_LOG => "the build's output",
        evidence::SOUP_MARKDOWN | evidence::SOUP_CSV => "the SOUP register (§8.1.2)",
        evidence::SOUP_CYCLONEDX => "the SOUP register as a CycloneDX 1.5 SBOM",
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
pub fn release(dir: &Path, tag: &Tag, args: ReleaseArgs) -> Result<Outcome> {
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
    // The password is asked before any work.
    let key = crate::sign::read_private_key(&args.key)?;
    let show = std::io::stderr().is_terminal() || std::env::var_os("REPROVE_PROGRESS").is_some();
    let opts = reprove_release::pipeline::Options {
        artifacts: args.artifacts,
        evidence: evidence_dir.clone(),
        force: args.force,
        engine: args.engine.map(EngineKind::from),
        previous: args.previous,
    };
    let released = reprove_release::pipeline::release(&repo, tag, &opts, &key, &|_, m| {
        if show {
            note(m);
        }
    })?;
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
    stdout_text(&s)?;
    Ok(match index.outcome {
        ReleaseOutcome::Released => Outcome::Pass,
        ReleaseOutcome::Failed => Outcome::Fail,
    })
}

pub struct VerifyArgs {
    pub evidence: Option<PathBuf>,
    pub artifacts: Option<PathBuf>,
    pub artifact: Vec<PathBuf>,
    pub no_artifacts: bool,
    pub project: Option<String>,
    pub source_uri: Option<String>,
    pub keys: Vec<PathBuf>,
    pub rebuilder_keys: Vec<PathBuf>,
    pub identity: Option<(String, String)>,
    pub trusted_root: Option<PathBuf>,
    pub require: usize,
    pub check_images: bool,
    pub insecure_registry: Vec<String>,
    pub rebuild: bool,
    pub engine: Option<EngineArg>,
    pub format: RebuildFormat,
    pub vsa_key: Option<PathBuf>,
    pub vsa_output: Option<PathBuf>,
    pub force: bool,
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
    let w = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        s.push_str(&format!(
            "  {:<7}  {:w$}  {}\n",
            status_word(c.status),
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
            xml(c.id)
        );
        let message = if c.findings.is_empty() {
            c.detail.clone()
        } else {
            c.findings.join("\n")
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
pub fn verify(dir: &Path, tag: &Tag, args: VerifyArgs) -> Result<Outcome> {
    let repo = crate::commands::optional_repo(dir)?;
    let evidence_dir = match (&args.evidence, &repo) {
        (Some(e), _) => e.clone(),
        (None, Some(r)) => evidence::default_dir(r.root(), tag.as_str()),
        (None, None) => bail!("give --evidence DIR (not inside a repository)"),
    };
    // Which published bytes are compared: saying none is a choice the verdict reports, never
    // a default.
    let artifacts = match (&args.artifacts, args.artifact.is_empty(), args.no_artifacts) {
        (Some(dir), _, _) => reprove_release::verify::Artifacts::Folder(dir.clone()),
        (None, false, _) => reprove_release::verify::Artifacts::Files(args.artifact.clone()),
        (None, true, true) => reprove_release::verify::Artifacts::NotChecked,
        (None, true, false) => bail!(
            "give --artifacts DIR (the downloaded release files), --artifact FILE (repeatable), or --no-artifacts to verify the evidence alone"
        ),
    };
    let signers = signers(&args.keys, args.identity.clone())?;
    if signers.is_empty() {
        bail!(
            "give --key PUB (repeatable), or --certificate-identity with --certificate-oidc-issuer"
        );
    }
    if args.require == 0 {
        bail!("--require must be at least 1");
    }
    let rebuilders = crate::audit::signers(&args.rebuilder_keys, None)?;
    // The release signer counts once, however many --key it has; each rebuilder once more.
    if args.require > 1 + rebuilders.len() {
        bail!(
            "--require {} needs the release signer and {} rebuilder(s) (--rebuilder-key), {} given",
            args.require,
            args.require - 1,
            rebuilders.len()
        );
    }
    let trusted_root = read_root(args.trusted_root.as_deref())?;
    if args.vsa_output.is_some() && args.vsa_key.is_none() {
        bail!("--vsa-output writes the signed summary; give --vsa-key too");
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
    let vsa_key = match &args.vsa_key {
        Some(k) => Some(crate::sign::read_private_key(k)?),
        None => None,
    };
    let images = args
        .check_images
        .then(|| image_check(&args.insecure_registry))
        .transpose()?;
    let opts = reprove_release::verify::Options {
        tag: tag.clone(),
        evidence: evidence_dir,
        artifacts,
        signers,
        rebuilders,
        require: args.require,
        trusted_root,
        project: args.project.clone(),
        source_uri: args.source_uri.clone(),
        repo: repo.as_ref(),
        images,
        rebuild: args.rebuild.then(|| reprove_release::verify::RebuildCheck {
            engine: args.engine.map(EngineKind::from),
        }),
    };
    let show = std::io::stderr().is_terminal();
    let report = reprove_release::verify::verify(&opts, &|m| {
        if show {
            note(m);
        }
    });
    if let Some(ic) = &opts.images {
        for n in ic.client.notes() {
            note(&format!("note: {n}"));
        }
    }
    let summary = reprove_release::verify::summary(&report, args.require, rfc3339_utc(unix_now()));
    let signed_summary = match &vsa_key {
        Some(k) => Some(sign_statement(summary.to_canonical_json()?, k)?),
        None => None,
    };
    if let (Some(o), Some(b)) = (&args.vsa_output, &signed_summary) {
        crate::output::write_file(o, b, args.force)?;
        note(&format!(
            "wrote the signed verification summary to `{}`",
            o.display()
        ));
    }
    if args.format == RebuildFormat::Text {
        stdout_text(&text(&report))?;
        return Ok(outcome(report.verdict));
    }
    let out = match args.format {
        RebuildFormat::Text | RebuildFormat::Junit => junit(&report).into_bytes(),
        RebuildFormat::Json => {
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
            let mut b = serde_json::to_vec_pretty(&v)?;
            b.push(b'\n');
            b
        }
    };
    stdout(&out)?;
    Ok(outcome(report.verdict))
}

/// The exit status of a verification.
pub fn outcome(v: VerifyVerdict) -> Outcome {
    match v {
        VerifyVerdict::Verified | VerifyVerdict::VerifiedNoArtifactsChecked => Outcome::Pass,
        VerifyVerdict::Failed => Outcome::Fail,
        VerifyVerdict::CouldNotCheck => Outcome::CouldNotCheck,
    }
}
