//! The rebuild of a tag, and its report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reprove_source::{Repository, Tag, TagInfo, rfc3339_utc, unix_now};

use crate::BuildError;
use crate::compare::{ArtifactDigest, Comparison, Published, Verdict, compare, published};
use crate::engine::{CliEngine, ContainerEngine, Job, JobKind, RunEnd, StoreInput};
use crate::explain::{Explanation, explain};
use crate::export::SourceArchive;
use crate::recipe::Recipe;

/// The fixed build path, hostname and umask of the reference build.
pub use reprove_build_types::{BUILD_PATH, HOSTNAME, UMASK, reference_environment};

fn is_unsaid(site: &crate::engine::EngineSite) -> bool {
    *site == crate::engine::EngineSite::default()
}

/// What to rebuild and against what.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub engine: crate::engine::EngineChoice,
    /// A recipe from outside the tag (`--recipe FILE`, `--recipe-from REV`) to run instead of
    /// the tag's own `[build]`; the report records where it came from.
    pub recipe: Option<(Recipe, ExternalRecipe)>,
    /// What the rebuilt artifacts are compared with.
    pub published: Option<Published>,
    /// Container images the release publishes, compared with the OCI layouts among the
    /// rebuilt outputs ([`crate::image`]).
    pub images: Vec<crate::image::PublishedImage>,
    /// Build a second time under varied conditions.
    pub variations: bool,
    /// Keep the build log, rebuilt artifacts and reports here (created; must not exist).
    pub keep: Option<PathBuf>,
    /// How the fetch phase runs here (network, CA bundle, cache).
    pub fetch: crate::fetch::FetchOptions,
}

/// Where a recipe from outside the tag came from: it is not part of the release's baseline,
/// and whoever checks the rebuild must say they accept it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRecipe {
    /// `file <name>` or `commit <id>` (the `reprove.toml` at another revision).
    pub origin: String,
    /// sha256 of the bytes the recipe was read from.
    pub sha256: String,
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
    /// Not built: the fetched dependencies failed their checks against the lockfiles.
    InputsRejected,
    /// Every artifact matched or is the same after named normalizations
    /// (`Comparison::normalizations`): never `reproducible`. It holds only when the recipe's
    /// `accept-equivalent` names every normalization that was needed.
    Equivalent,
}

impl RebuildVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RebuildVerdict::Reproducible => "reproducible",
            RebuildVerdict::NotReproducible => "not-reproducible",
            RebuildVerdict::Built => "built",
            RebuildVerdict::InputsRejected => "inputs-rejected",
            RebuildVerdict::Equivalent => "equivalent",
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
    /// Set when the recipe did not come from the tag's `reprove.toml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_recipe: Option<ExternalRecipe>,
    pub image: String,
    pub image_id: String,
    /// The engine that ran the jobs ([`ContainerEngine::name`]).
    pub engine: String,
    pub engine_version: String,
    /// Where the engine is and how the files reached it (absent in reports made before
    /// reprove recorded it).
    #[serde(default, skip_serializing_if = "is_unsaid")]
    pub engine_site: crate::engine::EngineSite,
    /// Always `none`: the build container has no network (only the fetch phase has one).
    pub network: String,
    /// The fetch phase, when the recipe has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<crate::fetch::FetchReport>,
    pub conditions: Conditions,
    pub started_on: String,
    pub finished_on: String,
    pub artifacts: BTreeMap<String, ArtifactDigest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparison: Vec<Comparison>,
    /// Published container images against the rebuilt OCI layouts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<crate::image::ImageComparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variations: Option<VariationReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanations: Vec<Explanation>,
    pub verdict: RebuildVerdict,
}

impl RebuildReport {
    /// Whether every check passed (exit 0).
    pub fn holds(&self) -> bool {
        match self.verdict {
            RebuildVerdict::NotReproducible | RebuildVerdict::InputsRejected => false,
            RebuildVerdict::Equivalent => self.unaccepted_normalizations().is_empty(),
            RebuildVerdict::Reproducible | RebuildVerdict::Built => true,
        }
    }

    /// The rebuilt outputs that carried a published image and are not published files
    /// themselves: not release files, so not provenance subjects.
    pub fn image_carriers(&self) -> std::collections::BTreeSet<&str> {
        self.images
            .iter()
            .filter_map(|i| i.rebuilt_in.as_deref())
            .filter(|n| !self.comparison.iter().any(|c| c.name == *n))
            .collect()
    }

    /// Every normalization some artifact needed to be equivalent, sorted.
    pub fn normalizations(&self) -> Vec<reprove_build_types::Normalization> {
        let set: std::collections::BTreeSet<_> = self
            .comparison
            .iter()
            .flat_map(|c| c.normalizations.iter().copied())
            .collect();
        set.into_iter().collect()
    }

    /// The normalizations needed that the recipe's `accept-equivalent` does not name.
    pub fn unaccepted_normalizations(&self) -> Vec<reprove_build_types::Normalization> {
        self.unaccepted(&self.normalizations())
    }

    /// Of `normalizations` (one artifact's, say), those the recipe's `accept-equivalent` does
    /// not name: the one place that decides what an equivalent artifact is accepted with.
    pub fn unaccepted(
        &self,
        normalizations: &[reprove_build_types::Normalization],
    ) -> Vec<reprove_build_types::Normalization> {
        normalizations
            .iter()
            .copied()
            .filter(|n| !self.recipe.accept_equivalent.contains(n))
            .collect()
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

fn base_env(
    recipe: &Recipe,
    epoch: i64,
    source: reprove_build_types::BuildSource<'_>,
    lang: &str,
    tz: &str,
) -> BTreeMap<String, String> {
    reprove_build_types::environment(&recipe.env, epoch, source, lang, tz)
}

struct Build {
    artifacts: BTreeMap<String, ArtifactDigest>,
    /// Holds the artifacts' files until they are copied or compared.
    _outputs: tempfile::TempDir,
}

/// One job on `engine`: the source archive in, the log into `log`, the outputs back and
/// unpacked into a private folder.
#[allow(clippy::too_many_arguments)]
fn one_build(
    engine: &dyn ContainerEngine,
    source: &SourceArchive,
    recipe: &Recipe,
    image: &str,
    conditions: &Conditions,
    log: &Path,
    open: bool,
    owner: &crate::owner::Owner,
    store: Option<&crate::export::StoreArchive>,
) -> Result<Build, BuildError> {
    let job = Job {
        image: image.to_owned(),
        command: recipe.command.clone(),
        env: conditions.environment.clone(),
        build_path: conditions.build_path.clone(),
        workdir: recipe.workdir.clone(),
        user: conditions.user.clone(),
        hostname: conditions.hostname.clone(),
        umask: conditions.umask.clone(),
        timeout: Duration::from_secs(recipe.timeout),
        name: format!("reprove-{}-{}", owner.id(), unix_now()),
        owner: owner.id().to_owned(),
        owner_lock: owner.lock_path(),
        outputs: recipe.artifacts.clone(),
        open_tree: open,
        kind: JobKind::Build,
        store: recipe.fetch.as_ref().map(|f| f.store.clone()),
        store_scratch: store.map(|s| s.derived().to_vec()).unwrap_or_default(),
    };
    let outputs = crate::owner::owned_tempdir(owner.id())?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Io { path, source }
    };
    let mut log_file = std::fs::File::create(log).map_err(io(log))?;
    let mut tar = source.open()?;
    // The folder the fetch phase read back serves the first build as is; any other build
    // unpacks the archive (waiting for it to be written).
    // An engine elsewhere reads the archive: the folder here is left for a later build.
    let prepared = store
        .filter(|_| engine.shares_files())
        .and_then(|s| s.take_prepared());
    let mut store_tar = match (store, &prepared) {
        (Some(s), None) => Some(s.open()?),
        _ => None,
    };
    let mut nothing = std::io::empty();
    let store_input = store.map(|s| StoreInput {
        stream: match store_tar.as_mut() {
            Some(t) => t,
            None => &mut nothing,
        },
        listing: s.listing(),
        prepared,
    });
    // The outputs stream from the engine straight into checked files: never spooled whole.
    let (reader, mut writer) = std::io::pipe().map_err(io(outputs.path()))?;
    let out_dir = outputs.path().join("out");
    let (end, read) = std::thread::scope(|s| {
        let consumer = s.spawn(|| crate::compare::read_outputs(reader, &out_dir));
        let end = engine.run_job(
            &job,
            &mut tar,
            source.listing(),
            store_input,
            &mut log_file,
            &mut writer,
        );
        // End of stream for the reader, whatever the engine did.
        drop(writer);
        let read = consumer.join().unwrap_or_else(|_| {
            Err(BuildError::Outputs {
                detail: "the outputs reader panicked".into(),
            })
        });
        (end, read)
    });
    log_file.sync_all().map_err(io(log))?;
    // The reader's refusal explains an engine's broken pipe: it goes first.
    // When both failed, the reader's error is the cause (a refused output, a full disk) and
    // the engine's broken pipe its consequence.
    let end = match (end, read) {
        (Err(_), Err(e)) => return Err(e),
        (end, read) => (end?, read),
    };
    let (end, read) = end;
    match end {
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
    let artifacts = read?;
    if artifacts.is_empty() && !recipe.artifacts.is_empty() {
        return Err(BuildError::NoArtifacts {
            patterns: recipe.artifacts.join(", "),
            log: log.to_owned(),
        });
    }
    Ok(Build {
        artifacts,
        _outputs: outputs,
    })
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

// The layout of a kept rebuild (`Options::keep`). Callers read it through [`KeptRebuild`].
const KEPT_LOG: &str = "build.log";
const KEPT_FETCH_LOG: &str = "fetch.log";
const KEPT_VARIANT_LOG: &str = "build-variant.log";
const KEPT_REPORT: &str = "rebuild-report.json";
const KEPT_ARTIFACTS: &str = "artifacts";
const KEPT_VARIANT_ARTIFACTS: &str = "artifacts-variant";

/// What a kept rebuild folder holds, by role: callers take paths from here instead of
/// matching file names in reprove-build's folder layout. Absent parts are `None` (a failed
/// build keeps only its log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRebuild {
    pub log: Option<PathBuf>,
    /// The fetch phase's log.
    pub fetch_log: Option<PathBuf>,
    pub variant_log: Option<PathBuf>,
    /// `rebuild-report.json`.
    pub report: Option<PathBuf>,
    /// The rebuilt artifacts.
    pub artifacts: Option<PathBuf>,
    /// The artifacts of the varied build.
    pub variant_artifacts: Option<PathBuf>,
    /// The explanation reports of the artifacts that differ (diffoscope text and HTML).
    pub explanations: Vec<PathBuf>,
}

impl KeptRebuild {
    /// The parts of the kept folder `dir`; `report` (when the build finished) names the
    /// explanation files.
    pub fn at(dir: &Path, report: Option<&RebuildReport>) -> KeptRebuild {
        let part = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
        let explanations = report
            .map(|r| {
                r.explanations
                    .iter()
                    .flat_map(|e| e.reports.iter())
                    .filter_map(|f| part(&f.to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default();
        KeptRebuild {
            log: part(KEPT_LOG),
            fetch_log: part(KEPT_FETCH_LOG),
            variant_log: part(KEPT_VARIANT_LOG),
            report: part(KEPT_REPORT),
            artifacts: part(KEPT_ARTIFACTS),
            variant_artifacts: part(KEPT_VARIANT_ARTIFACTS),
            explanations,
        }
    }
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
    let recipe = match &opts.recipe {
        Some((recipe, _)) => recipe.clone(),
        None => crate::recipe::parse_recipe(&read_config(repo, &info.commit, tag)?, tag.as_str())?,
    };
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
    // The published set is read before anything is built: an empty or odd folder is refused
    // (exit 2) with nothing written. Read once: the rebuild takes the digests from here.
    let mut opts = opts.clone();
    if let Some(set) = published_files(&opts)? {
        opts.published = Some(Published::Digests(set));
    }
    let engine = CliEngine::detect(opts.engine)?;
    rebuild_with(&engine, repo, info, recipe, &opts, progress)
}

/// The published files by name. No files at all is refused — a comparison with nothing proves
/// nothing — unless images are published: then every rebuilt file is compared with none, and
/// one the release does not publish is `extra`.
fn published_files(opts: &Options) -> Result<Option<BTreeMap<String, ArtifactDigest>>, BuildError> {
    match &opts.published {
        Some(Published::Digests(m)) if m.is_empty() && !opts.images.is_empty() => {
            Ok(Some(BTreeMap::new()))
        }
        p => p.as_ref().map(published).transpose(),
    }
}

/// Rebuilds on the given engine (the pipeline's tests hand it a fake one).
pub fn rebuild_with(
    engine: &dyn ContainerEngine,
    repo: &Repository,
    info: &TagInfo,
    recipe: Recipe,
    opts: &Options,
    progress: &dyn Fn(&str),
) -> Result<RebuildReport, BuildError> {
    let tag = &info.name;
    let published_set = published_files(opts)?;
    let engine_version = engine.version()?;
    let engine_site = engine.site();
    progress(&format!("pulling {} by digest", recipe.image));
    let image_id = engine.prepare_image(&recipe.image)?;
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
    crate::owner::sweep(
        Some(engine),
        &[
            &std::env::temp_dir(),
            &staging_parent,
            Path::new(crate::owner::MEMORY_DIR),
        ],
    );
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
        let commit = info.commit.to_string();
        let build_source = reprove_build_types::BuildSource {
            commit: &commit,
            tag: tag.as_str(),
        };
        let conditions = Conditions {
            build_path: BUILD_PATH.into(),
            hostname: HOSTNAME.into(),
            umask: UMASK.into(),
            user: recipe.user.clone(),
            environment: base_env(&recipe, epoch, build_source, "C.UTF-8", "UTC"),
        };
        let started = unix_now();
        // The build tree, exported once from checked git objects for every job of this run.
        // Spooled in a folder named after the owner: a killed run's archive is swept too.
        let spool = crate::owner::owned_tempdir(owner.id())?;
        let source = SourceArchive::create(repo, &info.commit, epoch, spool.path())?;
        let archive = source.sha256().hex();
        let fetched = match &recipe.fetch {
            Some(fetch) => Some(crate::fetch::fetch_phase(
                engine,
                repo,
                &info.commit,
                &source,
                fetch,
                &image,
                &conditions,
                &staging.path().join(KEPT_FETCH_LOG),
                &opts.fetch,
                &owner,
                progress,
            )?),
            None => None,
        };
        let fetch_report = fetched.as_ref().map(|f| f.report.clone());
        // The report, whatever the outcome: what went in, then what came out.
        let report = |artifacts: BTreeMap<String, ArtifactDigest>,
                      comparison: Vec<Comparison>,
                      variations: Option<VariationReport>,
                      explanations: Vec<Explanation>,
                      verdict: RebuildVerdict| RebuildReport {
            tag: tag.to_string(),
            commit: info.commit.to_string(),
            tree: info.tree.to_string(),
            source_date_epoch: epoch,
            source_archive_sha256: archive.clone(),
            recipe: recipe.clone(),
            external_recipe: opts.recipe.as_ref().map(|(_, e)| e.clone()),
            image: image.clone(),
            image_id: image_id.clone(),
            engine: engine.name().to_owned(),
            engine_version: engine_version.clone(),
            engine_site: engine_site.clone(),
            network: "none".into(),
            fetch: fetch_report.clone(),
            conditions: conditions.clone(),
            started_on: rfc3339_utc(started),
            finished_on: rfc3339_utc(unix_now()),
            artifacts,
            comparison,
            images: Vec::new(),
            variations,
            explanations,
            verdict,
        };
        if let Some(f) = &fetched
            && f.store.is_none()
        {
            // The store failed its checks: it is never given to a build.
            progress("the fetched dependencies failed their checks: not building");
            return Ok(report(
                BTreeMap::new(),
                Vec::new(),
                None,
                Vec::new(),
                RebuildVerdict::InputsRejected,
            ));
        }
        let store = fetched.as_ref().and_then(|f| f.store.as_ref());
        // After the fetch phase, which reports its own progress: the lines come in the order
        // the jobs run.
        progress(&format!(
            "building `{}` in {image}",
            recipe.command.join(" ")
        ));
        let log = staging.path().join(KEPT_LOG);
        let build = one_build(
            engine,
            &source,
            &recipe,
            &image,
            &conditions,
            &log,
            false,
            &owner,
            store,
        )?;

        let variations = if opts.variations {
            // Everything reprotest varies that a container can: path, time zone, locale, umask,
            // hostname and user.
            let varied_conditions = Conditions {
                build_path: "/var/tmp/reprove/variant/tree".into(),
                hostname: "variant-host".into(),
                umask: "002".into(),
                user: Some("1234:1234".into()),
                environment: base_env(&recipe, epoch, build_source, "fr_FR.UTF-8", "XYZ-14"),
            };
            progress("building again under varied conditions");
            let vlog = staging.path().join(KEPT_VARIANT_LOG);
            let vbuild = match one_build(
                engine,
                &source,
                &recipe,
                &image,
                &varied_conditions,
                &vlog,
                true,
                &owner,
                store,
            ) {
                Ok(b) => b,
                Err(BuildError::BuildFailed { code, log }) => {
                    return Err(BuildError::VariantFailed { code, log });
                }
                Err(e) => return Err(e),
            };
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
                    explanations.push(crate::explain::explain_as(
                        &c.artifact,
                        pa,
                        pb,
                        staging.path(),
                        crate::explain::REFERENCE_VARIANT,
                    ));
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
        // Published images first: the layouts that carry them are not extra files.
        let (images, carriers) = if opts.images.is_empty() {
            (Vec::new(), std::collections::BTreeSet::new())
        } else {
            progress("comparing the published images with the rebuilt OCI layouts");
            crate::image::compare_images(&opts.images, &build.artifacts)
        };
        let comparison = match &published_set {
            Some(published) => {
                let mut cmp = compare(published, &build.artifacts);
                cmp.retain(|c| !(c.verdict == Verdict::Extra && carriers.contains(&c.name)));
                crate::compare::settle_equivalence(&mut cmp);
                for c in cmp
                    .iter()
                    .filter(|c| matches!(c.verdict, Verdict::Mismatch | Verdict::Equivalent))
                {
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
        let compare_failed = comparison
            .iter()
            .any(|c| !matches!(c.verdict, Verdict::Match | Verdict::Equivalent))
            || images.iter().any(|i| i.verdict != Verdict::Match);
        let equivalent = comparison.iter().any(|c| c.verdict == Verdict::Equivalent);
        let verdict = if compare_failed || variation_failed {
            RebuildVerdict::NotReproducible
        } else if equivalent {
            RebuildVerdict::Equivalent
        } else if opts.published.is_some() || !opts.images.is_empty() || opts.variations {
            RebuildVerdict::Reproducible
        } else {
            RebuildVerdict::Built
        };
        let (variations, vexpl) = match variations {
            Some((v, e, vbuild)) => {
                if opts.keep.is_some() {
                    copy_artifacts(
                        &vbuild.artifacts,
                        &staging.path().join(KEPT_VARIANT_ARTIFACTS),
                    )?;
                }
                (Some(v), e)
            }
            None => (None, Vec::new()),
        };
        explanations.extend(vexpl);
        let mut report = report(
            build.artifacts.clone(),
            comparison,
            variations,
            explanations,
            verdict,
        );
        report.images = images;
        if opts.keep.is_some() {
            copy_artifacts(&report.artifacts, &staging.path().join(KEPT_ARTIFACTS))?;
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
        std::fs::write(staging.path().join(KEPT_REPORT), json).map_err(|e| BuildError::Io {
            path: staging.path().to_owned(),
            source: e,
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
    | BuildError::VariantFailed { log, .. }
    | BuildError::TimedOut { log, .. }
    | BuildError::FetchFailed { log, .. }
    | BuildError::FetchTimedOut { log, .. }
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
        BuildError::VariantFailed { code, .. } => BuildError::VariantFailed { code, log },
        BuildError::TimedOut { seconds, .. } => BuildError::TimedOut { seconds, log },
        BuildError::NoArtifacts { patterns, .. } => BuildError::NoArtifacts { patterns, log },
        BuildError::FetchFailed { code, refused, .. } => {
            BuildError::FetchFailed { code, log, refused }
        }
        BuildError::FetchTimedOut { seconds, .. } => BuildError::FetchTimedOut { seconds, log },
        other => other,
    }
}
