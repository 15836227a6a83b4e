//! The checks on what the statements say: `release-tag`, `project-source`, `tag-commit`,
//! `change-policy`, `image-pins`, and the optional `rebuild`.

use super::codes::{Finding, found};
use std::collections::{BTreeMap, BTreeSet};

use reprove_oci::ImageRef;
use reprove_source::{Repository, Tag};
use serde_json::Value;

use super::codes::FindingCode;
use reprove_baseline::BaselineView;

use super::{CheckId, CheckResult, CheckStatus, ImageCheck, RebuildCheck, printable};
use crate::provenance::ProvenanceView;

/// `index`: the signed index's tag, commit and outcome.
pub(super) fn release_tag(
    tag: &str,
    baseline: Option<&BaselineView>,
    provenance: Option<&ProvenanceView>,
    index: Option<(&str, &str, &str)>,
) -> CheckResult {
    const ID: CheckId = CheckId::ReleaseTag;
    let index_tag = index.map(|(t, _, _)| t);
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    // The signed index is for the commit the baseline records, and says the release was made.
    if let Some((_, commit, outcome)) = index {
        let bcommit = baseline.map(|b| b.predicate.release.commit.as_str());
        if let Some(b) = bcommit
            && b != commit
        {
            findings.push(found!(
                FindingCode::WrongRelease,
                "the index is for commit {}, the baseline for {}",
                printable(commit),
                printable(b)
            ));
        }
        if outcome != "released" {
            findings.push(found!(
                FindingCode::ReleaseFailed,
                "the signed index records the outcome `{}`",
                printable(outcome)
            ));
        }
    }
    for (what, present, found) in [
        (
            "baseline",
            baseline.is_some(),
            baseline.map(|b| b.predicate.release.tag.as_str()),
        ),
        (
            "provenance",
            provenance.is_some(),
            provenance.and_then(ProvenanceView::tag),
        ),
        ("index", index_tag.is_some(), index_tag),
    ] {
        match found {
            Some(t) => {
                seen.push(what);
                if t != tag {
                    findings.push(found!(
                        FindingCode::WrongRelease,
                        "the {what} is for `{}`, not `{}`",
                        printable(t),
                        printable(tag)
                    ));
                }
            }
            // A statement that names no release cannot vouch for this one.
            None if present => findings.push(found!(
                FindingCode::WrongRelease,
                "the {what} names no release"
            )),
            None => {}
        }
    }
    if seen.is_empty() {
        // No verified statement at all: their own checks fail the verdict.
        return CheckResult::new(
            ID,
            CheckStatus::Skipped,
            "not checked: no verified statement names a release",
        );
    }
    CheckResult::from_findings(
        ID,
        findings,
        format!("the {} name `{}`", seen.join(", "), printable(tag)),
    )
}

/// A repository URL reduced to `host/path` so the forms people write compare equal:
/// `git+https://github.com/org/repo.git@refs/tags/v1`, `https://github.com/org/repo`,
/// `git@github.com:org/repo.git` and `github.com/org/repo` are all `github.com/org/repo`.
/// The host is lowercased and loses its user info; the path keeps its case, loses a trailing
/// `/` or `.git`. A URL with a query or fragment names no repository: it gets a form nothing
/// else has, so it matches nothing.
pub fn normalize_source(uri: &str) -> String {
    let mut s = uri.trim();
    s = s.strip_prefix("git+").unwrap_or(s);
    // `…@refs/tags/<tag>` names a revision, not the repository.
    if let Some(i) = s.find("@refs/") {
        s = &s[..i];
    }
    if s.contains(['?', '#']) || s.chars().any(char::is_whitespace) {
        return format!("\u{0}invalid:{s}");
    }
    let (authority, path) = match s.split_once("://") {
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        // scp-like `user@host:path`, or a bare `host/path`.
        None => match s.split_once(':') {
            Some((host, path)) if !host.contains('/') => (host, path),
            _ => s.split_once('/').unwrap_or((s, "")),
        },
    };
    // User info ends at the last `@` of the authority (never beyond it).
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut path = path.trim_matches('/');
    path = path.strip_suffix(".git").unwrap_or(path);
    format!("{}/{path}", host.to_ascii_lowercase())
}

/// `project-source`: which product the evidence is about, as the signed statements name it.
/// It always says; with `--project` / `--source-uri` it fails when they name another one, so
/// another product's genuine release signed with the same key does not pass.
pub(super) fn project_source(
    want_project: Option<&str>,
    want_source: Option<&str>,
    baseline: Option<&BaselineView>,
    provenance: Option<&ProvenanceView>,
) -> (CheckResult, Option<String>) {
    const ID: CheckId = CheckId::ProjectSource;
    let bproject = baseline.and_then(|b| b.predicate.project.name.as_deref());
    let pproject = provenance.and_then(ProvenanceView::project);
    let brepo = baseline.and_then(|b| b.predicate.project.repository.as_deref());
    let prepo = provenance.and_then(ProvenanceView::repository);
    let mut findings = Vec::new();
    if let Some(want) = want_project {
        for (what, have) in [("baseline", bproject), ("provenance", pproject)] {
            match have {
                Some(h) if h == want => {}
                Some(h) => findings.push(
                    found!(
                        FindingCode::WrongProject,
                        "the {what} is for project `{}`, not `{}`",
                        printable(h),
                        printable(want)
                    )
                    .compared(printable(want), printable(h)),
                ),
                None => findings.push(found!(FindingCode::WrongProject, "the {what} names no project (`[project] name` in reprove.toml), so it cannot be shown to be `{}`",
                    printable(want)
                )),
            }
        }
    }
    if let Some(want) = want_source {
        let want_n = normalize_source(want);
        match prepo {
            Some(h) if normalize_source(h) == want_n => {}
            Some(h) => findings.push(
                found!(
                    FindingCode::WrongSource,
                    "the provenance was built from `{}`, not `{}`",
                    printable(h),
                    printable(want)
                )
                .compared(printable(want), printable(h)),
            ),
            None => findings.push(found!(FindingCode::WrongSource, "the provenance names no source repository, so it cannot be shown to come from `{}`",
                printable(want)
            )),
        }
        // The source dependency's URI (what the VSA's resourceUri comes from) must name it
        // too.
        if let Some(u) = provenance.and_then(ProvenanceView::source_uri)
            && normalize_source(u) != want_n
        {
            findings.push(
                found!(
                    FindingCode::WrongSource,
                    "the provenance's source dependency is `{}`, not `{}`",
                    printable(u),
                    printable(want)
                )
                .compared(printable(want), printable(u)),
            );
        }
        if let Some(h) = brepo
            && normalize_source(h) != want_n
        {
            findings.push(
                found!(
                    FindingCode::WrongSource,
                    "the baseline's `[project] repository` is `{}`, not `{}`",
                    printable(h),
                    printable(want)
                )
                .compared(printable(want), printable(h)),
            );
        }
    }
    let project = bproject.or(pproject).map(str::to_owned);
    let named = format!(
        "project {}, source {}",
        project
            .as_deref()
            .map(|p| format!("`{}`", printable(p)))
            .unwrap_or_else(|| "not named".into()),
        prepo
            .or(brepo)
            .map(|r| format!("`{}`", printable(r)))
            .unwrap_or_else(|| "unknown (no repository recorded)".into())
    );
    let check = if want_project.is_none() && want_source.is_none() {
        CheckResult::new(
            ID,
            CheckStatus::Skipped,
            format!("{named} (give --project and --source-uri to require them)"),
        )
    } else {
        CheckResult::from_findings(ID, findings, named)
    };
    (check, project)
}

pub(super) fn tag(repo: &Repository, tag: &Tag, b: &BaselineView) -> CheckResult {
    let now = repo
        .resolve_tag(tag)
        .map(|info| info.commit.to_string())
        .map_err(|e| e.to_string());
    tag_check(tag.as_str(), now, b)
}

/// The `tag-commit` check: `now` is what the tag resolves to in the repository.
pub fn tag_check(tag: &str, now: Result<String, String>, b: &BaselineView) -> CheckResult {
    const ID: CheckId = CheckId::TagCommit;
    let want = b.predicate.release.commit.as_str();
    let btag = b.predicate.release.tag.as_str();
    let mut findings = Vec::new();
    if btag != tag {
        findings.push(
            found!(
                FindingCode::WrongRelease,
                "the baseline is for `{}`, not `{}`",
                printable(btag),
                printable(tag)
            )
            .about(tag)
            .compared(printable(tag), printable(btag)),
        );
    }
    match now {
        Ok(commit) if commit == want => {}
        Ok(commit) => findings.push(
            found!(
                FindingCode::TagMoved,
                "`{}` now points at {commit} but the signed baseline records {}",
                printable(tag),
                printable(want)
            )
            .about(tag)
            .compared(printable(want), printable(&commit)),
        ),
        Err(e) => findings.push(found!(
            FindingCode::TagMissing,
            "`{}`: {}",
            printable(tag),
            printable(&e)
        )),
    }
    CheckResult::from_findings(
        ID,
        findings,
        format!("`{}` still points at {}", printable(tag), printable(want)),
    )
}

pub(super) fn policy(b: &BaselineView) -> CheckResult {
    const ID: CheckId = CheckId::ChangePolicy;
    let findings: Vec<Finding> = b
        .predicate
        .findings
        .iter()
        .filter(|f| f.policy)
        .map(|f| Finding::other(&f.code, printable(&f.message)))
        .collect();
    let result = b
        .predicate
        .policy
        .get("result")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if findings.is_empty() && result != "pass" {
        return CheckResult::failed(
            ID,
            format!("policy result `{}`", printable(result)),
            found!(
                FindingCode::PolicyFailed,
                "the baseline's policy result is `{}`",
                printable(result)
            ),
        );
    }
    let commits = b.predicate.changes.commits.len();
    CheckResult::from_findings(
        ID,
        findings,
        format!("every policy in reprove.toml holds ({commits} commit(s) traced)"),
    )
}

/// The `image-pins` check of a baseline statement on its own.
pub fn image_check_pub(ic: &ImageCheck, baseline: &BaselineView) -> CheckResult {
    images(ic, baseline)
}

pub(super) fn images(ic: &ImageCheck, b: &BaselineView) -> CheckResult {
    const ID: CheckId = CheckId::ImagePins;
    let mut refs: BTreeSet<String> = b
        .predicate
        .images
        .iter()
        .map(|i| i.reference.clone())
        .collect();
    if let Some(img) = b
        .predicate
        .build
        .as_ref()
        .and_then(|build| build.get("image"))
        .and_then(Value::as_str)
    {
        refs.insert(img.to_owned());
    }
    // A release built with a recipe from outside the tag: that recipe's image is the build's.
    if let Some(Ok(r)) = b.external_recipe.as_ref().map(|e| &e.recipe) {
        refs.insert(r.image.to_string());
    }
    let parsed: Vec<(String, Result<ImageRef, String>)> = refs
        .into_iter()
        .map(|r| {
            let p = r.parse::<ImageRef>().map_err(|e| e.to_string());
            (r, p)
        })
        .collect();
    let verdicts = reprove_oci::check::concurrently(&parsed, 8, |(raw, r)| match r {
        Ok(r) => reprove_oci::check::check_reference(&ic.client, r, &ic.platform),
        Err(e) => reprove_oci::check::Verdict::new(
            reprove_oci::check::VerdictCode::UnparsableImage,
            format!("`{raw}`: {e}"),
        ),
    });
    let mut findings = Vec::new();
    let mut unreachable = Vec::new();
    for ((raw, _), v) in parsed.iter().zip(&verdicts) {
        let line = Finding::other(
            v.code.as_str(),
            format!("`{}`: {}", printable(raw), printable(&v.message)),
        );
        match v.code.severity() {
            0 => {}
            1 => findings.push(line),
            _ => unreachable.push(line),
        }
    }
    if findings.is_empty() && !unreachable.is_empty() {
        return CheckResult {
            id: ID,
            status: CheckStatus::Error,
            detail: "a registry could not be asked".into(),
            findings: unreachable,
        };
    }
    findings.extend(unreachable);
    CheckResult::from_findings(
        ID,
        findings,
        format!(
            "{} pinned image(s) still resolve to their digests",
            parsed.len()
        ),
    )
}

/// The most image subjects `verify --rebuild` compares with the rebuilt layouts.
const MAX_IMAGE_SUBJECTS: usize = 4096;

pub(super) fn rebuild(
    rc: &RebuildCheck,
    repo: &Repository,
    tag: &Tag,
    baseline: Option<&BaselineView>,
    provenance: &serde_json::Value,
    published_dir: Option<&std::path::Path>,
    progress: &dyn Fn(&str),
) -> CheckResult {
    const ID: CheckId = CheckId::Rebuild;
    // What is rebuilt is the signed release: the commit and the recipe the verified baseline
    // records, never whatever the tag names in this clone today.
    let Some(b) = baseline else {
        return CheckResult::new(
            ID,
            CheckStatus::Skipped,
            "not checked: no verified baseline to say what to rebuild",
        );
    };
    let info = match repo.resolve_tag(tag) {
        Ok(info) => info,
        Err(e) => {
            return CheckResult::new(ID, CheckStatus::Error, printable(&e.to_string()));
        }
    };
    if info.commit.as_str() != b.predicate.release.commit {
        return CheckResult::failed(
            ID,
            "the tag names another commit than the signed one",
            found!(
                FindingCode::TagMoved,
                "`{}` now points at {} but the signed baseline records {}; not rebuilt",
                printable(tag.as_str()),
                info.commit,
                printable(&b.predicate.release.commit)
            ),
        );
    }
    let recipe = match b.release_recipe() {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            return CheckResult::new(
                ID,
                CheckStatus::Fail,
                format!(
                    "the signed baseline's recipe is not valid: {}",
                    printable(&e.message)
                ),
            );
        }
        None => {
            return CheckResult::new(
                ID,
                CheckStatus::Fail,
                "the signed baseline records no `[build]` recipe",
            );
        }
    };
    // Image subjects (`REPOSITORY@sha256:…`) are compared with the rebuilt OCI layouts, the
    // others with the rebuilt files by name.
    let subjects = &super::sha256_subjects(provenance);
    let media_types = super::subject_media_types(provenance);
    let mut files = BTreeMap::new();
    let mut images = Vec::new();
    for (name, hex) in subjects {
        match reprove_build::image::parse_image_subject(name, hex) {
            Some((repository, digest)) => images.push(reprove_build::image::PublishedImage {
                repository,
                digest,
                // As attested: a manifest or an index is what the release says it is, never
                // what the rebuilt layout says.
                media_type: media_types.get(name).cloned().unwrap_or_default(),
                children: Vec::new(),
            }),
            None => {
                files.insert(name.clone(), hex.clone());
            }
        }
    }
    // Each image is looked for in every rebuilt layout: a provenance is not an open-ended
    // work list.
    if images.len() > MAX_IMAGE_SUBJECTS {
        return CheckResult::new(
            ID,
            CheckStatus::Error,
            format!(
                "the provenance attests {} images, more than the {MAX_IMAGE_SUBJECTS} a rebuild compares",
                images.len()
            ),
        );
    }
    let opts = reprove_build::Options {
        // The evidence's recipe runs as what it is: from outside the release.
        recipe: b.external_recipe.as_ref().map(|e| {
            (
                recipe.clone(),
                reprove_build::ExternalRecipe {
                    origin: format!("evidence {}", crate::evidence::RECIPE),
                    sha256: e.sha256.clone(),
                },
            )
        }),
        engine: rc.engine,
        // The attested digests play the published set; the auditor's files beside them (when
        // given as a folder) let an equivalent artifact be compared after normalization.
        published: Some(match reprove_build::Published::digests(&files) {
            reprove_build::Published::Digests(mut m) => {
                if let Some(dir) = published_dir {
                    for (name, a) in m.iter_mut() {
                        a.path = Some(dir.join(name));
                    }
                }
                reprove_build::Published::Digests(m)
            }
            other => other,
        }),
        images,
        variations: false,
        keep: None,
        fetch: rc.fetch.clone(),
    };
    match reprove_build::rebuild_at(repo, &info, recipe, &opts, progress) {
        Ok(r) => {
            let findings = crate::pipeline::rebuild_failures(&r)
                .into_iter()
                .map(|f| Finding::new(FindingCode::RebuildDiffers, f))
                .collect();
            CheckResult::from_findings(
                ID,
                findings,
                format!(
                    "rebuilt in {} with {} {}: {}",
                    printable(&r.image),
                    r.engine.as_str(),
                    printable(&r.engine_version),
                    if r.verdict == reprove_build::RebuildVerdict::Equivalent {
                        let passes: Vec<&str> =
                            r.normalizations().into_iter().map(|n| n.as_str()).collect();
                        format!(
                            "every artifact matches the provenance, NOT bit for bit: equivalent after {}, as the recipe accepts",
                            passes.join(", ")
                        )
                    } else {
                        "every artifact matches the provenance".to_owned()
                    }
                ),
            )
        }
        Err(
            e @ (reprove_build::BuildError::BuildFailed { .. }
            | reprove_build::BuildError::TimedOut { .. }
            | reprove_build::BuildError::NoArtifacts { .. }),
        ) => CheckResult::failed(
            ID,
            "the rebuild failed",
            found!(FindingCode::BuildFailed, "{}", printable(&e.to_string())),
        ),
        Err(e) => CheckResult::new(
            ID,
            CheckStatus::Error,
            printable(&reprove_attest::verify::error_chain(&e)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_uris_in_every_form_compare_equal() {
        let want = "github.com/org/repo";
        for form in [
            "git+https://github.com/org/repo.git@refs/tags/v1.0.0",
            "https://github.com/org/repo",
            "https://github.com/org/repo/",
            "https://user:token@github.com/org/repo.git",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "HTTPS://GitHub.com/org/repo",
        ] {
            assert_eq!(normalize_source(form), want, "{form}");
        }
        assert_ne!(normalize_source("https://github.com/org/repo2"), want);
        assert_ne!(normalize_source("https://gitlab.com/org/repo"), want);
        // Regression (review of issue 11): user info "after" a fragment moved the host.
        assert_ne!(
            normalize_source("https://evil.example#@github.com/org/repo"),
            want
        );
        assert_ne!(
            normalize_source("https://evil.example/?@github.com/org/repo"),
            want
        );
        assert_ne!(
            normalize_source("https://evil.example/x@github.com/org/repo"),
            want
        );
    }
}
