//! `reprove release`: baseline → rebuild → compare → provenance → sign both → evidence folder.
//!
//! Everything is written into a staging folder that becomes the evidence folder only at the
//! end. A release that fails a check (rebuild differs, build fails, change policy not met)
//! still gets its folder — baseline, rebuild report, build log, explanations, rebuilt
//! artifacts, no provenance — so the failure is on record; one that cannot run (no engine,
//! unreadable input) leaves nothing.

use std::path::{Path, PathBuf};

use reprove_attest::{ResourceDescriptor, StatementSigner};
use reprove_build::{BuildError, RebuildReport, RebuildVerdict, Verdict};
use reprove_source::{Repository, Tag, rfc3339_utc, unix_now};

use crate::ReleaseError;
use crate::evidence::{self, Index, ReleaseOutcome, Staging};
use crate::provenance;

/// Stages of the pipeline, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Baseline,
    Rebuild,
    Provenance,
    Writing,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The published files: a flat directory (`None`: the release publishes images only).
    pub artifacts: Option<PathBuf>,
    /// The published container images, resolved by digest from their registry
    /// ([`crate::image::resolve`]).
    pub images: Vec<reprove_build::image::PublishedImage>,
    /// The evidence folder to create.
    pub evidence: PathBuf,
    /// Replace an existing evidence folder.
    pub force: bool,
    pub engine: reprove_build::EngineChoice,
    /// Base of the change trace.
    pub previous: Option<Tag>,
    /// How the fetch phase runs here, when the recipe has one.
    pub fetch: reprove_build::FetchOptions,
    /// A recipe from outside the tag, for a tag made before the project had a `[build]`
    /// table: written to the evidence as `recipe.toml` and named by sha256 in the provenance.
    pub recipe: Option<OutsideRecipe>,
}

/// A recipe from outside the tag (`release --recipe FILE`, `--recipe-from REV`).
#[derive(Debug, Clone)]
pub struct OutsideRecipe {
    pub recipe: reprove_build::Recipe,
    pub external: reprove_build::ExternalRecipe,
    /// The bytes it was read from (their sha256 is `external.sha256`).
    pub bytes: Vec<u8>,
}

/// What a release produced.
#[derive(Debug)]
pub struct Released {
    pub evidence: PathBuf,
    pub index: Index,
    /// Absent when the build itself failed.
    pub report: Option<RebuildReport>,
    /// The source repository the provenance names (`None`: neither `[project] repository`
    /// nor an origin remote is known).
    pub repository: Option<String>,
}

/// A Sigstore bundle of a statement's bytes, by a key or keylessly (see
/// [`reprove_attest::StatementSigner`]).
pub(crate) fn sign_statement(
    statement_bytes: Vec<u8>,
    signer: &dyn StatementSigner,
) -> Result<Vec<u8>, ReleaseError> {
    signer
        .sign_statement(statement_bytes)
        .map_err(|source| ReleaseError::Statement { source })
}

fn move_into(from: &Path, to: &Path) -> Result<(), ReleaseError> {
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p).map_err(|source| ReleaseError::Io {
            path: p.to_owned(),
            source,
        })?;
    }
    std::fs::rename(from, to).map_err(|source| ReleaseError::Io {
        path: from.to_owned(),
        source,
    })
}

/// Moves what `rebuild --keep` left in `work` into the evidence layout.
fn adopt_rebuild(
    staging: &Staging,
    work: &Path,
    report: Option<&RebuildReport>,
    keep_rebuilt: bool,
) -> Result<(), ReleaseError> {
    let kept = reprove_build::KeptRebuild::at(work, report);
    let mut moves: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut to = |from: &Option<PathBuf>, rel: &str| {
        if let Some(from) = from {
            moves.push((from.clone(), staging.path().join(rel)));
        }
    };
    to(&kept.log, evidence::BUILD_LOG);
    to(&kept.fetch_log, evidence::FETCH_LOG);
    to(&kept.variant_log, "build-variant.log");
    to(&kept.report, evidence::REBUILD_REPORT);
    if keep_rebuilt {
        to(&kept.artifacts, evidence::REBUILT);
    }
    // Only what differs is evidence of the difference: a matching artifact is the published
    // file again.
    // An OCI layout that carried a matching image is the published image again.
    let matching: Vec<String> = report
        .map(|r| {
            r.comparison
                .iter()
                .filter(|c| c.verdict == Verdict::Match)
                .map(|c| c.name.clone())
                .chain(r.image_carriers().into_iter().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for e in &kept.explanations {
        if let Some(name) = e.file_name() {
            moves.push((
                e.clone(),
                staging.path().join(evidence::EXPLANATIONS).join(name),
            ));
        }
    }
    for (from, to) in moves {
        move_into(&from, &to)?;
    }
    for name in matching {
        let p = staging.path().join(evidence::REBUILT).join(&name);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|source| ReleaseError::Io { path: p, source })?;
        }
    }
    let _ = std::fs::remove_dir_all(work);
    Ok(())
}

fn digest_of(staging: &Staging, rel: &str) -> Result<Option<ResourceDescriptor>, ReleaseError> {
    let p = staging.path().join(rel);
    if !p.exists() {
        return Ok(None);
    }
    let (d, _) = reprove_digest::sha256_file(&p).map_err(|source| ReleaseError::Hash {
        path: p.clone(),
        source,
    })?;
    Ok(Some(ResourceDescriptor::named(rel, "sha256", &d.hex())))
}

pub(crate) fn rebuild_failures(report: &RebuildReport) -> Vec<String> {
    let mut out = Vec::new();
    for f in report
        .fetch
        .iter()
        .flat_map(|f| f.findings.iter())
        .filter(|f| f.code.rejects())
    {
        out.push(format!("fetch: {}: {}", f.code, f.message));
    }
    for c in &report.comparison {
        match c.verdict {
            Verdict::Match => {}
            Verdict::Equivalent => {
                let unaccepted: Vec<&str> = report
                    .unaccepted(&c.normalizations)
                    .into_iter()
                    .map(|n| n.as_str())
                    .collect();
                if !unaccepted.is_empty() {
                    out.push(format!(
                        "rebuild: `{}` is only equivalent to the published one, after {}, which `[build] accept-equivalent` does not name",
                        c.name,
                        unaccepted.join(", ")
                    ));
                }
            }
            Verdict::Mismatch => out.push(format!(
                "rebuild: `{}` differs (published sha256:{}, rebuilt sha256:{})",
                c.name,
                c.published
                    .as_ref()
                    .map(|a| a.sha256.as_str())
                    .unwrap_or("?"),
                c.rebuilt.as_ref().map(|a| a.sha256.as_str()).unwrap_or("?")
            )),
            Verdict::Missing => out.push(format!(
                "rebuild: `{}` is published but the rebuild did not produce it",
                c.name
            )),
            Verdict::Extra => out.push(format!(
                "rebuild: `{}` was rebuilt but is not among the published artifacts",
                c.name
            )),
        }
    }
    for i in &report.images {
        let name = i.image.subject_name();
        match i.verdict {
            Verdict::Match => {}
            Verdict::Missing => out.push(format!(
                "rebuild: the image `{name}` is published but no rebuilt output is an OCI image layout{}",
                reasons(&i.reasons)
            )),
            _ => out.push(format!(
                "rebuild: the image `{name}` is not in the rebuilt OCI layouts (they hold {}){}",
                if i.rebuilt.is_empty() {
                    "nothing".to_owned()
                } else {
                    i.rebuilt
                        .iter()
                        .map(|(file, tops)| {
                            let tops: Vec<String> = tops.iter().map(|d| format!("`{d}`")).collect();
                            format!("`{file}`: {}", if tops.is_empty() { "no image".to_owned() } else { tops.join(", ") })
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                reasons(&i.reasons)
            )),
        }
    }
    out
}

fn reasons(list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(": {}", list.join("; "))
    }
}

/// Runs the whole pipeline for `tag` on the local docker or podman engine.
pub fn release(
    repo: &Repository,
    tag: &Tag,
    opts: &Options,
    key: &dyn StatementSigner,
    progress: &dyn Fn(Stage, &str),
) -> Result<Released, ReleaseError> {
    let engine = reprove_build::CliEngine::detect(opts.engine)
        .map_err(|source| ReleaseError::Rebuild { source })?;
    release_with(&engine, repo, tag, opts, key, progress)
}

/// Runs the whole pipeline for `tag` on `engine`.
pub fn release_with(
    engine: &dyn reprove_build::ContainerEngine,
    repo: &Repository,
    tag: &Tag,
    opts: &Options,
    key: &dyn StatementSigner,
    progress: &dyn Fn(Stage, &str),
) -> Result<Released, ReleaseError> {
    // The published files, hashed once, before anything is written: an empty folder, or one
    // holding anything but regular files, cannot be released (exit 2, nothing written).
    let published = match &opts.artifacts {
        Some(dir) => reprove_build::published_folder(dir).map_err(|source| match source {
            BuildError::Published { path, source } => ReleaseError::Artifacts { path, source },
            other => ReleaseError::Rebuild { source: other },
        })?,
        None if !opts.images.is_empty() => Default::default(),
        None => return Err(ReleaseError::NothingPublished),
    };
    // The baseline's subjects: the files, then each image (and an index's manifests) by
    // `REPOSITORY@sha256:…` — the same names and digests the provenance gives them.
    let mut digests: std::collections::BTreeMap<String, String> = published
        .iter()
        .map(|(n, a)| (n.clone(), a.sha256.clone()))
        .collect();
    // The same image twice (an index and one of its manifests, two indexes that share one)
    // is one subject: its name says its digest.
    for i in &opts.images {
        for (name, d) in i.subjects() {
            digests.insert(name, d.hex());
        }
    }
    let staging = Staging::create(&opts.evidence, opts.force)?;
    let mut failures = Vec::new();

    progress(
        Stage::Baseline,
        &format!("assembling the baseline of `{tag}`"),
    );
    // The tag is resolved once: the baseline, the rebuild and the provenance all describe this
    // commit, whatever happens to the tag meanwhile.
    let info = repo
        .resolve_tag(tag)
        .map_err(|source| ReleaseError::Baseline {
            source: reprove_baseline::BaselineError::ResolveTag {
                tag: tag.to_string(),
                source,
            },
        })?;
    let baseline = reprove_baseline::assemble_at(
        repo,
        &info,
        &reprove_baseline::Options {
            previous: opts.previous.clone(),
            artifacts: Some(&digests),
            progress: &|_| {},
        },
    )
    .map_err(|source| ReleaseError::Baseline { source })?;
    let canonical = baseline
        .canonical_json()
        .map_err(|source| ReleaseError::Baseline { source })?;
    staging.write(evidence::BASELINE, &sign_statement(canonical, key)?)?;
    let p = baseline.predicate();
    let meta = reprove_soup::BomMetadata {
        name: p.project.name.clone(),
        version: Some(tag.to_string()),
        supplier: p.project.supplier.clone(),
        commit: Some(p.release.commit.clone()),
        created: Some(p.release.commit_time.clone()),
    };
    staging.write(
        evidence::SOUP_MARKDOWN,
        reprove_soup::to_markdown(&p.soup).as_bytes(),
    )?;
    staging.write(evidence::SOUP_CSV, reprove_soup::to_csv(&p.soup).as_bytes())?;
    for (name, doc) in [
        (
            evidence::SOUP_CYCLONEDX,
            reprove_soup::to_cyclonedx(&meta, &p.soup, reprove_soup::CycloneDxVersion::V1_6),
        ),
        (evidence::SOUP_SPDX, reprove_soup::to_spdx(&meta, &p.soup)),
    ] {
        let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| ReleaseError::Malformed {
            path: PathBuf::from(name),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        staging.write(name, &bytes)?;
    }
    let policy: Vec<_> = baseline.policy_failures().collect();
    for f in &policy {
        failures.push(format!("change policy: {} {}", f.code.as_str(), f.message));
    }

    progress(
        Stage::Rebuild,
        &format!("rebuilding `{tag}` in its pinned image, no network"),
    );
    let work = staging.path().join(".rebuild");
    // The recipe from the same parse of `reprove.toml` the baseline records — or, for a tag
    // without a `[build]` table, the one from outside, kept in the evidence.
    let own_build = baseline.config.as_ref().is_some_and(|c| c.build.is_some());
    let recipe = match (&opts.recipe, baseline.recipe()) {
        // Even an invalid one: the baseline records it, and a verifier reads it.
        (Some(_), _) if own_build => {
            return Err(ReleaseError::RecipeOfItsOwn {
                tag: tag.to_string(),
            });
        }
        (Some(outside), _) => {
            staging.write(evidence::RECIPE, &outside.bytes)?;
            outside.recipe.clone()
        }
        (None, r) => r.map_err(|e| ReleaseError::Rebuild {
            source: BuildError::Recipe {
                tag: tag.to_string(),
                message: e.message,
            },
        })?,
    };
    let rebuilt = reprove_build::rebuild_with(
        engine,
        repo,
        &info,
        recipe,
        &reprove_build::Options {
            recipe: opts
                .recipe
                .as_ref()
                .map(|o| (o.recipe.clone(), o.external.clone())),
            engine: opts.engine,
            published: Some(reprove_build::Published::Digests(published)),
            images: opts.images.clone(),
            variations: false,
            keep: Some(work.clone()),
            fetch: opts.fetch.clone(),
        },
        &|m| progress(Stage::Rebuild, m),
    );
    let report = match rebuilt {
        Ok(r) => Some(r),
        // The recipe ran and failed: that is the release failing, on record with its log.
        Err(
            e @ (BuildError::BuildFailed { .. }
            | BuildError::TimedOut { .. }
            | BuildError::FetchFailed { .. }
            | BuildError::FetchTimedOut { .. }
            | BuildError::NoArtifacts { .. }),
        ) => {
            // The log moves into the evidence folder: the failure names it there, never by
            // the staging path it had (gone by now, and a path of this machine).
            let mut text = e.to_string();
            if let Some(log) = e.log()
                && let Some(name) = log.file_name()
            {
                text = text.replace(
                    &format!("`{}`", log.display()),
                    &format!("`{}` in the evidence folder", name.to_string_lossy()),
                );
            }
            failures.push(format!("rebuild: {text}"));
            None
        }
        Err(source) => return Err(ReleaseError::Rebuild { source }),
    };
    if work.exists() {
        let keep_rebuilt = report.as_ref().is_some_and(|r| !r.holds());
        adopt_rebuild(&staging, &work, report.as_ref(), keep_rebuilt)?;
    }
    // A rebuild staging folder that could not be renamed is not evidence.
    if let Ok(rd) = std::fs::read_dir(staging.path()) {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(".reprove-rebuild-")
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    if let Some(r) = &report {
        failures.extend(rebuild_failures(r));
        if r.commit != p.release.commit {
            return Err(ReleaseError::TagMoved {
                tag: tag.to_string(),
                expected: p.release.commit.clone(),
                found: r.commit.clone(),
            });
        }
    }

    let repository = provenance::repository(p.project.repository.as_deref(), repo);
    let outcome = match (&report, failures.is_empty()) {
        (Some(r), true)
            if matches!(
                r.verdict,
                RebuildVerdict::Reproducible | RebuildVerdict::Equivalent
            ) && r.holds() =>
        {
            progress(Stage::Provenance, "writing and signing the SLSA provenance");
            let mut byproducts = Vec::new();
            for rel in [evidence::REBUILD_REPORT, evidence::BUILD_LOG] {
                byproducts.extend(digest_of(&staging, rel)?);
            }
            let inputs = provenance::Inputs {
                project: p.project.name.clone(),
                repository: repository.clone(),
                // The lockfiles as the baseline hashed them, not read a second time.
                lockfiles: provenance::lockfiles_of(p),
                byproducts,
                invocation_id: provenance::invocation_id(),
            };
            let st = provenance::statement(r, &inputs)?;
            let bytes = st
                .to_canonical_json()
                .map_err(|source| ReleaseError::Statement { source })?;
            staging.write(evidence::PROVENANCE, &sign_statement(bytes, key)?)?;
            ReleaseOutcome::Released
        }
        _ => ReleaseOutcome::Failed,
    };

    progress(Stage::Writing, "writing the evidence folder");
    let index = staging.finish(
        tag.as_str(),
        &p.release.commit,
        outcome,
        failures,
        rfc3339_utc(unix_now()),
        key,
    )?;
    Ok(Released {
        evidence: opts.evidence.clone(),
        index,
        report,
        repository,
    })
}
