//! The rebuild of a tag, and its report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reprove_source::{Repository, Tag, TagInfo, rfc3339_utc, unix_now};

use crate::BuildError;
use crate::compare::{ArtifactDigest, Comparison, Published, Verdict, collect, compare, published};
use crate::engine::{Engine, EngineKind, RunEnd, RunSpec};
use crate::explain::{Explanation, explain};
use crate::recipe::Recipe;

/// The fixed build path, hostname and umask of the reference build.
pub use reprove_build_types::{BUILD_PATH, HOSTNAME, UMASK, reference_environment};

/// What to rebuild and against what.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub engine: Option<EngineKind>,
    /// What the rebuilt artifacts are compared with.
    pub published: Option<Published>,
    /// Build a second time under varied conditions.
    pub variations: bool,
    /// Keep the build log, rebuilt artifacts and reports here (created; must not exist).
    pub keep: Option<PathBuf>,
}

/// Conditions of one build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    pub build_path: String,
    pub hostname: String,
    pub umask: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub environment: BTreeMap<String, String>,
}

/// An artifact that came out differently under the varied conditions.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VariationFinding {
    pub artifact: String,
    pub reference: Option<String>,
    pub varied: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariationReport {
    pub conditions: Conditions,
    /// Which conditions differ from the reference build.
    pub varied: Vec<String>,
    pub changed: Vec<VariationFinding>,
}

/// The overall verdict of a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebuildVerdict {
    /// Every artifact matched the published set (and the varied build, when asked).
    Reproducible,
    /// Some artifact differs, is missing or is extra.
    NotReproducible,
    /// Built, with nothing to compare with.
    Built,
}

impl RebuildVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RebuildVerdict::Reproducible => "reproducible",
            RebuildVerdict::NotReproducible => "not-reproducible",
            RebuildVerdict::Built => "built",
        }
    }
}

/// Everything that went into a rebuild and what came out: the input of SLSA provenance.
/// Written as `rebuild-report.json` and read back by `reprove attest`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    pub tag: String,
    pub commit: String,
    pub tree: String,
    pub source_date_epoch: i64,
    /// sha256 of the tar stream the build tree was unpacked from: the committed tree exactly
    /// (paths, modes, bytes; mtime the commit time), whatever the clone's attributes say.
    pub source_archive_sha256: String,
    pub recipe: Recipe,
    pub image: String,
    pub image_id: String,
    pub engine: EngineKind,
    pub engine_version: String,
    /// Always `none`: the build container has no network.
    pub network: String,
    pub conditions: Conditions,
    pub started_on: String,
    pub finished_on: String,
    pub artifacts: BTreeMap<String, ArtifactDigest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparison: Vec<Comparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variations: Option<VariationReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanations: Vec<Explanation>,
    pub verdict: RebuildVerdict,
}

impl RebuildReport {
    /// Whether every check passed (exit 0).
    pub fn holds(&self) -> bool {
        self.verdict != RebuildVerdict::NotReproducible
    }
}

fn read_config(
    repo: &Repository,
    commit: &reprove_source::ObjectId,
    tag: &Tag,
) -> Result<String, BuildError> {
    let git = |action: &'static str| move |source| BuildError::Git { action, source };
    let entries = repo
        .tree_entries(commit)
        .map_err(git("list the tree at the tag"))?;
    let Some(bytes) = repo
        .read_tree_file(&entries, b"reprove.toml", 1 << 20)
        .map_err(git("read `reprove.toml`"))?
    else {
        return Err(BuildError::Recipe {
            tag: tag.to_string(),
            message: "no `reprove.toml` (of at most 1 MiB) at the tag".into(),
        });
    };
    String::from_utf8(bytes).map_err(|_| BuildError::Recipe {
        tag: tag.to_string(),
        message: "`reprove.toml` is not UTF-8".into(),
    })
}

fn base_env(recipe: &Recipe, epoch: i64, lang: &str, tz: &str) -> BTreeMap<String, String> {
    reprove_build_types::environment(&recipe.env, epoch, lang, tz)
}

/// Makes the build tree writable for any user (the varied build runs as another uid).
fn open_up(dir: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |e| BuildError::Io {
        path: dir.to_owned(),
        source: e,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_dir() {
            open_up(&entry.path())?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(io)
}

struct Build {
    artifacts: BTreeMap<String, ArtifactDigest>,
    /// Holds the artifacts' files until they are copied or compared.
    _tree: tempfile::TempDir,
}

#[allow(clippy::too_many_arguments)]
fn one_build(
    engine: &Engine,
    repo: &Repository,
    commit: &reprove_source::ObjectId,
    epoch: i64,
    recipe: &Recipe,
    image: &str,
    conditions: &Conditions,
    log: &Path,
    open: bool,
    owner: &crate::owner::Owner,
) -> Result<(Build, String), BuildError> {
    // Named after the owner: a run killed midway leaves a tree the next run removes.
    let tree = tempfile::Builder::new()
        .prefix(&format!("{}{}-", crate::owner::TREE_PREFIX, owner.id()))
        .tempdir()
        .map_err(|e| BuildError::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
    let archive = crate::export::export_tree(repo, commit, epoch, tree.path())?;
    if open {
        open_up(tree.path())?;
    }
    let spec = RunSpec {
        image: image.to_owned(),
        command: recipe.command.clone(),
        env: conditions.environment.clone(),
        source: tree.path().to_owned(),
        build_path: conditions.build_path.clone(),
        workdir: recipe.workdir.clone(),
        user: conditions.user.clone(),
        hostname: conditions.hostname.clone(),
        umask: conditions.umask.clone(),
        timeout: Duration::from_secs(recipe.timeout),
        name: format!("reprove-{}-{}", owner.id(), unix_now()),
        owner: owner.id().to_owned(),
        owner_lock: owner.lock_path(),
    };
    match engine.run(&spec, log)? {
        RunEnd::Exited(0) => {}
        RunEnd::Exited(code) => {
            return Err(BuildError::BuildFailed {
                code,
                log: log.to_owned(),
            });
        }
        RunEnd::TimedOut => {
            return Err(BuildError::TimedOut {
                seconds: recipe.timeout,
                log: log.to_owned(),
            });
        }
    }
    let artifacts = collect(tree.path(), &recipe.artifacts)?;
    if artifacts.is_empty() && !recipe.artifacts.is_empty() {
        return Err(BuildError::NoArtifacts {
            patterns: recipe.artifacts.join(", "),
            log: log.to_owned(),
        });
    }
    Ok((
        Build {
            artifacts,
            _tree: tree,
        },
        archive.hex(),
    ))
}

fn copy_artifacts(
    artifacts: &BTreeMap<String, ArtifactDigest>,
    dir: &Path,
) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir).map_err(|e| BuildError::Io {
        path: dir.to_owned(),
        source: e,
    })?;
    for (name, a) in artifacts {
        if let Some(p) = &a.path {
            std::fs::copy(p, dir.join(name)).map_err(|e| BuildError::Io {
                path: p.clone(),
                source: e,
            })?;
        }
    }
    Ok(())
}

/// Rebuilds `tag` and compares. `progress` receives one-line status messages.
pub fn rebuild(
    repo: &Repository,
    tag: &Tag,
    opts: &Options,
    progress: &dyn Fn(&str),
) -> Result<RebuildReport, BuildError> {
    let info = repo.resolve_tag(tag).map_err(|source| BuildError::Git {
        action: "resolve the tag",
        source,
    })?;
    let recipe = crate::recipe::parse_recipe(&read_config(repo, &info.commit, tag)?, tag.as_str())?;
    rebuild_at(repo, &info, recipe, opts, progress)
}

/// Rebuilds a tag already resolved, with its recipe already read: the release resolves the
/// tag and parses `reprove.toml` once, for the baseline and the rebuild alike.
pub fn rebuild_at(
    repo: &Repository,
    info: &TagInfo,
    recipe: Recipe,
    opts: &Options,
    progress: &dyn Fn(&str),
) -> Result<RebuildReport, BuildError> {
    let tag = &info.name;
    // The published set is read before anything is built: an empty or odd folder is refused
    // (exit 2) with nothing written.
    let published_set = opts.published.as_ref().map(published).transpose()?;
    let engine = Engine::detect(opts.engine)?;
    let engine_version = engine.server_version()?;
    progress(&format!("pulling {} by digest", recipe.image));
    let image_id = engine.pull_verified(&recipe.image)?;
    let image = format!(
        "{}@{}",
        recipe.image.name(),
        recipe
            .image
            .digest()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    // Everything goes to a staging folder that becomes `keep` only when the rebuild finished.
    if let Some(k) = &opts.keep
        && k.exists()
    {
        return Err(BuildError::Io {
            path: k.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the folder to keep the rebuild in already exists",
            ),
        });
    }
    // Beside `keep` when there is one, so the final rename never crosses file systems.
    let staging_parent = opts
        .keep
        .as_deref()
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            if opts.keep.is_some() {
                PathBuf::from(".")
            } else {
                std::env::temp_dir()
            }
        });
    // What runs killed earlier left (containers, trees, staging folders) goes first.
    crate::owner::sweep(Some(&engine), &[&std::env::temp_dir(), &staging_parent]);
    let owner = crate::owner::Owner::acquire()?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("{}{}-", crate::owner::STAGING_PREFIX, owner.id()))
        .tempdir_in(&staging_parent)
        .map_err(|e| BuildError::Io {
            path: staging_parent.clone(),
            source: e,
        })?;
    let staged = (|| -> Result<RebuildReport, BuildError> {
        let epoch = info.commit_info.committer.time;
        let conditions = Conditions {
            build_path: BUILD_PATH.into(),
            hostname: HOSTNAME.into(),
            umask: UMASK.into(),
            user: recipe.user.clone(),
            environment: base_env(&recipe, epoch, "C.UTF-8", "UTC"),
        };
        let started = unix_now();
        progress(&format!(
            "building `{}` in {image}",
            recipe.command.join(" ")
        ));
        let log = staging.path().join("build.log");
        let (build, archive) = one_build(
            &engine,
            repo,
            &info.commit,
            epoch,
            &recipe,
            &image,
            &conditions,
            &log,
            false,
            &owner,
        )?;

        let variations = if opts.variations {
            // Everything reprotest varies that a container can: path, time zone, locale, umask,
            // hostname and user.
            let varied_conditions = Conditions {
                build_path: "/var/tmp/reprove/variant/tree".into(),
                hostname: "variant-host".into(),
                umask: "002".into(),
                user: Some("1234:1234".into()),
                environment: base_env(&recipe, epoch, "fr_FR.UTF-8", "XYZ-14"),
            };
            progress("building again under varied conditions");
            let vlog = staging.path().join("build-variant.log");
            let (vbuild, _) = one_build(
                &engine,
                repo,
                &info.commit,
                epoch,
                &recipe,
                &image,
                &varied_conditions,
                &vlog,
                true,
                &owner,
            )?;
            let changed: Vec<VariationFinding> = build
                .artifacts
                .keys()
                .chain(vbuild.artifacts.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|n| {
                    build.artifacts.get(*n).map(|a| &a.sha256)
                        != vbuild.artifacts.get(*n).map(|a| &a.sha256)
                })
                .map(|n| VariationFinding {
                    artifact: n.clone(),
                    reference: build.artifacts.get(n).map(|a| a.sha256.clone()),
                    varied: vbuild.artifacts.get(n).map(|a| a.sha256.clone()),
                })
                .collect();
            let mut explanations = Vec::new();
            for c in &changed {
                if let (Some(a), Some(b)) = (
                    build.artifacts.get(&c.artifact),
                    vbuild.artifacts.get(&c.artifact),
                ) && let (Some(pa), Some(pb)) = (&a.path, &b.path)
                {
                    explanations.push(explain(&c.artifact, pa, pb, staging.path()));
                }
            }
            Some((
                VariationReport {
                    conditions: varied_conditions,
                    varied: [
                        "build path",
                        "time zone",
                        "locale",
                        "umask",
                        "hostname",
                        "user",
                    ]
                    .map(String::from)
                    .to_vec(),
                    changed,
                },
                explanations,
                vbuild,
            ))
        } else {
            None
        };

        let mut explanations = Vec::new();
        let comparison = match &published_set {
            Some(published) => {
                let cmp = compare(published, &build.artifacts);
                for c in cmp.iter().filter(|c| c.verdict == Verdict::Mismatch) {
                    if let (Some(pa), Some(ra)) = (
                        c.published.as_ref().and_then(|x| x.path.as_ref()),
                        c.rebuilt.as_ref().and_then(|x| x.path.as_ref()),
                    ) {
                        explanations.push(explain(&c.name, pa, ra, staging.path()));
                    }
                }
                cmp
            }
            None => Vec::new(),
        };
        let variation_failed = variations
            .as_ref()
            .is_some_and(|(v, _, _)| !v.changed.is_empty());
        let compare_failed = comparison.iter().any(|c| c.verdict != Verdict::Match);
        let verdict = if compare_failed || variation_failed {
            RebuildVerdict::NotReproducible
        } else if opts.published.is_some() || opts.variations {
            RebuildVerdict::Reproducible
        } else {
            RebuildVerdict::Built
        };
        let (variations, vexpl) = match variations {
            Some((v, e, vbuild)) => {
                if opts.keep.is_some() {
                    copy_artifacts(&vbuild.artifacts, &staging.path().join("artifacts-variant"))?;
                }
                (Some(v), e)
            }
            None => (None, Vec::new()),
        };
        explanations.extend(vexpl);
        let report = RebuildReport {
            tag: tag.to_string(),
            commit: info.commit.to_string(),
            tree: info.tree.to_string(),
            source_date_epoch: epoch,
            source_archive_sha256: archive,
            recipe,
            image,
            image_id,
            engine: engine.kind,
            engine_version,
            network: "none".into(),
            conditions,
            started_on: rfc3339_utc(started),
            finished_on: rfc3339_utc(unix_now()),
            artifacts: build.artifacts.clone(),
            comparison,
            variations,
            explanations,
            verdict,
        };
        if opts.keep.is_some() {
            copy_artifacts(&report.artifacts, &staging.path().join("artifacts"))?;
        }
        Ok(report)
    })();
    let report = match staged {
        Ok(r) => r,
        Err(e) => return Err(keep_failure(staging, opts.keep.as_deref(), e)),
    };
    if let Some(keep) = &opts.keep {
        let json = serde_json::to_vec_pretty(&report).map_err(|e| BuildError::Report {
            detail: e.to_string(),
        })?;
        std::fs::write(staging.path().join("rebuild-report.json"), json).map_err(|e| {
            BuildError::Io {
                path: staging.path().to_owned(),
                source: e,
            }
        })?;
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, keep) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(BuildError::Io {
                path: keep.clone(),
                source: e,
            });
        }
    }
    Ok(report)
}

/// A failed build keeps its log: the staging folder becomes `keep` (or stays in the temporary
/// directory) and the error names the log where it now is. Other errors drop the folder.
fn keep_failure(staging: tempfile::TempDir, keep: Option<&Path>, err: BuildError) -> BuildError {
    let (BuildError::BuildFailed { log, .. }
    | BuildError::TimedOut { log, .. }
    | BuildError::NoArtifacts { log, .. }) = &err
    else {
        return err;
    };
    let name = log.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = staging.keep();
    let dir = match keep {
        Some(k) if std::fs::rename(&dir, k).is_ok() => k.to_owned(),
        _ => dir,
    };
    let log = dir.join(name);
    match err {
        BuildError::BuildFailed { code, .. } => BuildError::BuildFailed { code, log },
        BuildError::TimedOut { seconds, .. } => BuildError::TimedOut { seconds, log },
        BuildError::NoArtifacts { patterns, .. } => BuildError::NoArtifacts { patterns, log },
        other => other,
    }
}
