//! Evidence folders made with reprove's own library and no container engine, for unit tests
//! and benchmarks: the real baseline of a tag, a rebuild report stating that the recipe at the
//! tag rebuilt exactly the given files under the reference conditions, its SLSA provenance,
//! and the signed index — every signature real. (Feature `testing`.)

use std::path::Path;

use reprove_attest::PrivateKey;
use reprove_build::{ArtifactDigest, Conditions, EngineKind, RebuildReport, RebuildVerdict};
use reprove_source::{Repository, Tag, rfc3339_utc};

use crate::ReleaseError;
use crate::evidence::{self, Index, ReleaseOutcome, Staging};
use crate::pipeline::sign_statement;
use crate::provenance;

fn git(action: &'static str) -> impl FnOnce(reprove_source::SourceError) -> ReleaseError {
    move |source| ReleaseError::Git { action, source }
}

/// The report of a rebuild of `tag` that produced exactly the files in `dist`, under the
/// reference conditions (the recipe is the `[build]` table at the tag).
pub fn synthetic_report(
    repo: &Repository,
    tag: &Tag,
    dist: &Path,
) -> Result<RebuildReport, ReleaseError> {
    let info = repo.resolve_tag(tag).map_err(git("resolve the tag"))?;
    let entries = repo
        .tree_entries(&info.commit)
        .map_err(git("list the tree"))?;
    let text = repo
        .read_tree_file(&entries, b"reprove.toml", 1 << 20)
        .map_err(git("read reprove.toml"))?
        .unwrap_or_default();
    let recipe = reprove_build::parse_recipe(&String::from_utf8_lossy(&text), tag.as_str())
        .map_err(|source| ReleaseError::Rebuild { source })?;
    let published =
        reprove_build::published_folder(dist).map_err(|source| ReleaseError::Rebuild { source })?;
    let epoch = info.commit_info.committer.time;
    Ok(RebuildReport {
        external_recipe: None,
        tag: tag.to_string(),
        commit: info.commit.to_string(),
        tree: info.tree.to_string(),
        source_date_epoch: epoch,
        source_archive_sha256: "0".repeat(64),
        image: recipe.image.to_string(),
        image_id: format!("sha256:{}", "1".repeat(64)),
        engine: EngineKind::Docker.program().to_owned(),
        engine_version: "synthetic".into(),
        engine_site: Default::default(),
        network: "none".into(),
        fetch: None,
        conditions: Conditions {
            build_path: reprove_build::BUILD_PATH.into(),
            hostname: reprove_build::HOSTNAME.into(),
            umask: reprove_build::UMASK.into(),
            user: recipe.user.clone(),
            environment: reprove_build::reference_environment(
                &recipe.env,
                epoch,
                reprove_build::BuildSource {
                    commit: &info.commit.to_string(),
                    tag: tag.as_str(),
                },
            ),
        },
        recipe,
        started_on: rfc3339_utc(epoch),
        finished_on: rfc3339_utc(epoch),
        artifacts: published
            .into_iter()
            .map(|(n, a)| (n, ArtifactDigest { path: None, ..a }))
            .collect(),
        comparison: Vec::new(),
        images: Vec::new(),
        variations: None,
        explanations: Vec::new(),
        verdict: RebuildVerdict::Reproducible,
    })
}

/// A signed provenance bundle of `report`, naming the project and repository of the tag.
pub fn signed_provenance(
    repo: &Repository,
    report: &RebuildReport,
    key: &PrivateKey,
) -> Result<Vec<u8>, ReleaseError> {
    let tag: Tag = report.tag.parse().map_err(|_| ReleaseError::Malformed {
        path: "rebuild report".into(),
        reason: "bad tag".into(),
    })?;
    let info = repo.resolve_tag(&tag).map_err(git("resolve the tag"))?;
    let entries = repo
        .tree_entries(&info.commit)
        .map_err(git("list the tree"))?;
    let project = reprove_baseline::load_config(repo, &info, &entries)
        .map_err(|source| ReleaseError::Baseline { source })?
        .map(|c| c.project)
        .unwrap_or_default();
    let inputs = provenance::Inputs {
        project: project.name,
        repository: provenance::repository(project.repository.as_deref(), repo),
        lockfiles: provenance::lockfile_digests(repo, &info.commit)?,
        byproducts: Vec::new(),
        invocation_id: provenance::invocation_id(),
    };
    let st = provenance::statement(report, &inputs)?;
    sign_statement(
        st.to_canonical_json()
            .map_err(|source| ReleaseError::Statement { source })?,
        key,
    )
}

/// Writes the evidence folder of `tag` at `evidence`: released (baseline, rebuild report,
/// provenance, signed index) or, with `released = false`, failed (no provenance, the index
/// says why).
pub fn synthetic_release(
    repo: &Repository,
    tag: &Tag,
    dist: &Path,
    key: &PrivateKey,
    evidence: &Path,
    released: bool,
) -> Result<Index, ReleaseError> {
    let published =
        reprove_build::published_folder(dist).map_err(|source| ReleaseError::Rebuild { source })?;
    let digests = published
        .iter()
        .map(|(n, a)| (n.clone(), a.sha256.clone()))
        .collect();
    let baseline = reprove_baseline::assemble(
        repo,
        tag,
        &reprove_baseline::Options {
            previous: None,
            artifacts: Some(&digests),
            progress: &|_| {},
        },
    )
    .map_err(|source| ReleaseError::Baseline { source })?;
    let staging = Staging::create(evidence, false)?;
    staging.write(
        evidence::BASELINE,
        &sign_statement(
            baseline
                .canonical_json()
                .map_err(|source| ReleaseError::Baseline { source })?,
            key,
        )?,
    )?;
    let report = synthetic_report(repo, tag, dist)?;
    let mut report_bytes =
        serde_json::to_vec_pretty(&report).map_err(|e| ReleaseError::Malformed {
            path: evidence::REBUILD_REPORT.into(),
            reason: e.to_string(),
        })?;
    report_bytes.push(b'\n');
    staging.write(evidence::REBUILD_REPORT, &report_bytes)?;
    let (outcome, failures) = if released {
        staging.write(
            evidence::PROVENANCE,
            &signed_provenance(repo, &report, key)?,
        )?;
        (ReleaseOutcome::Released, Vec::new())
    } else {
        (
            ReleaseOutcome::Failed,
            vec!["change policy: unauthorized-change (synthetic)".to_owned()],
        )
    };
    staging.finish(
        tag.as_str(),
        &report.commit,
        outcome,
        failures,
        rfc3339_utc(report.source_date_epoch),
        key,
    )
}
