//! Assembling the baseline of a tag from the committed tree — never the working tree.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use reprove_attest::{ResourceDescriptor, Statement};
use reprove_oci::{FileKind, ImageMention, file_kind};
use reprove_soup::{LockfileKind, Overrides, SoupFinding, SoupItem, lockfile_kind, parse_lockfile};
use reprove_source::{
    BlobData, BlobRequest, ObjectId, Repository, Tag, TagInfo, TreeEntry, TreeEntryKind,
    previous_release_tag, rfc3339_utc,
};

use crate::BaselineError;
use crate::classes::Classifier;
use crate::config::Config;
use crate::model::*;
use crate::trace::authorize;

/// Files kept in memory for parsing (lockfiles, image files, config) are capped at this size;
/// bigger ones are hashed like any other file and reported.
pub const PARSE_LIMIT: u64 = 64 << 20;

/// Progress events for a front end to display.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// About to read `files` blobs totalling `bytes`.
    Reading { files: usize, bytes: u64 },
    /// `bytes` more have been hashed.
    Hashed { bytes: u64 },
    /// Reading done; tracing changes.
    Tracing,
}

/// What to assemble.
pub struct Options<'a> {
    /// The change-trace base; default: the previous release tag by version order.
    pub previous: Option<Tag>,
    /// Release artifacts to add as subjects: file name → sha256 hex (a folder hashed once by
    /// the caller, [`reprove_digest::release_folder`]).
    pub artifacts: Option<&'a std::collections::BTreeMap<String, String>>,
    pub progress: &'a (dyn Fn(Progress) + Sync),
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("previous", &self.previous)
            .field("artifacts", &self.artifacts)
            .finish_non_exhaustive()
    }
}

/// An assembled baseline.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub statement: Statement<BaselinePredicate>,
    /// `reprove.toml` at the tag as parsed for this baseline (`None`: the tag has none), so
    /// the release takes its recipe from the same parse instead of reading the file again.
    pub config: Option<Config>,
}

impl Baseline {
    /// The rebuild recipe of `reprove.toml`'s `[build]` table, validated with the one schema
    /// ([`reprove_build_types::Recipe`]).
    pub fn recipe(&self) -> Result<reprove_build_types::Recipe, reprove_build_types::RecipeError> {
        let build = self
            .config
            .as_ref()
            .ok_or_else(|| reprove_build_types::RecipeError::new("no `reprove.toml` at the tag"))?
            .build
            .as_ref()
            .ok_or_else(|| {
                reprove_build_types::RecipeError::new(
                    "no `[build]` table: add `image`, `command` and `artifacts`",
                )
            })?;
        reprove_build_types::Recipe::from_build_table(&toml::Value::Table(build.clone()))
    }

    pub fn predicate(&self) -> &BaselinePredicate {
        &self.statement.predicate
    }

    /// Findings that fail a policy switched on in `reprove.toml` (exit 1).
    pub fn policy_failures(&self) -> impl Iterator<Item = &Finding> {
        self.statement
            .predicate
            .findings
            .iter()
            .filter(|f| f.policy)
    }

    /// The RFC 8785 bytes of the statement: the manifest as signed and compared.
    pub fn canonical_json(&self) -> Result<Vec<u8>, BaselineError> {
        self.statement
            .to_canonical_json()
            .map_err(|source| BaselineError::Serialize { source })
    }
}

fn display_path(p: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(p) {
        Ok(s) => (s.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(p).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(p)),
        ),
    }
}

/// Should this file's content be kept for parsing?
fn wanted_for_parsing(path: &str, overrides: Option<&str>) -> bool {
    lockfile_kind(path).is_some()
        || file_kind(path).is_some()
        || Some(path) == overrides
        // a vendored crate: what it is, and the package it came from
        || path.ends_with("/.cargo-checksum.json")
        || path.ends_with("/Cargo.toml")
        || path == ".cargo/config.toml"
        || path == ".cargo/config"
}

/// Reads one small file from the tree at the tag (used for `reprove.toml`).
fn read_small(
    repo: &Repository,
    entries: &[TreeEntry],
    path: &str,
) -> Result<Option<Vec<u8>>, BaselineError> {
    repo.read_tree_file(entries, path.as_bytes(), PARSE_LIMIT)
        .map_err(|source| BaselineError::Git {
            action: "read `reprove.toml`",
            source,
        })
}

/// Reads `reprove.toml` from the tag's tree.
pub fn load_config(
    repo: &Repository,
    tag: &TagInfo,
    entries: &[TreeEntry],
) -> Result<Option<Config>, BaselineError> {
    let Some(bytes) = read_small(repo, entries, "reprove.toml")? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|_| BaselineError::Config {
        tag: tag.name.to_string(),
        line: None,
        message: "not valid UTF-8".into(),
    })?;
    Config::parse(&text)
        .map(Some)
        .map_err(|(line, message)| BaselineError::Config {
            tag: tag.name.to_string(),
            line,
            message,
        })
}

/// Assembles the baseline manifest for `tag`.
pub fn assemble(
    repo: &Repository,
    tag: &Tag,
    opts: &Options<'_>,
) -> Result<Baseline, BaselineError> {
    let info = repo
        .resolve_tag(tag)
        .map_err(|source| BaselineError::ResolveTag {
            tag: tag.to_string(),
            source,
        })?;
    assemble_at(repo, &info, opts)
}

/// Assembles the baseline manifest of a tag already resolved (the release resolves it once
/// and hands the same [`TagInfo`] to the rebuild).
pub fn assemble_at(
    repo: &Repository,
    info: &TagInfo,
    opts: &Options<'_>,
) -> Result<Baseline, BaselineError> {
    let tag = &info.name;
    let git = |action: &'static str| move |source| BaselineError::Git { action, source };
    let entries = repo
        .tree_entries(&info.commit)
        .map_err(git("list the tree at the tag"))?;
    let config = load_config(repo, info, &entries)?;
    let parsed_config = config.clone();
    let mut findings: Vec<Finding> = Vec::new();
    if config.is_none() {
        findings.push(Finding {
            code: FindingCode::NoConfig,
            file: None,
            line: None,
            column: None,
            item: None,
            message: format!("no `reprove.toml` at `{tag}`; default classes and policy used, no project name or supplier"),
            policy: false,
        });
    }
    // A `[build]` table no rebuild could run is said so here, where it is first read, with
    // the key and its line — not only when a rebuild fails later.
    if let Some(c) = &config
        && let Some(build) = &c.build
        && let Err(e) =
            reprove_build_types::Recipe::from_build_table(&toml::Value::Table(build.clone()))
    {
        findings.push(Finding {
            code: FindingCode::InvalidRecipe,
            file: Some("reprove.toml".into()),
            line: e
                .key
                .and_then(|k| c.build_lines.get(k).copied())
                .or_else(|| c.build_lines.values().min().map(|l| l.saturating_sub(1))),
            column: None,
            item: None,
            message: e.message,
            policy: false,
        });
    }
    // A tree git itself calls invalid is recorded as found, and said so.
    for p in reprove_source::tree_problems(&entries) {
        findings.push(Finding {
            code: FindingCode::InvalidTree,
            file: Some(p.path.clone()),
            line: None,
            column: None,
            item: None,
            message: format!(
                "`{}` {}: git fsck refuses this tree, and no checkout or export can represent it (reprove rebuild refuses it)",
                p.path, p.reason
            ),
            policy: false,
        });
    }
    let config = config.unwrap_or_default();
    let classifier = Classifier::new(&config.classes).map_err(|b| BaselineError::Config {
        tag: tag.to_string(),
        line: None,
        message: format!(
            "invalid glob `{}` in [classes] {}: {}",
            b.pattern, b.class, b.message
        ),
    })?;
    let overrides_path = config.soup.overrides.clone();

    // 1. Read and hash every blob once, keeping the files we parse.
    let requests: Vec<BlobRequest> = entries
        .iter()
        .filter(|e| e.kind != TreeEntryKind::Submodule)
        .map(|e| {
            let p = String::from_utf8_lossy(&e.path);
            BlobRequest {
                oid: e.oid.clone(),
                size: e.size.unwrap_or(0),
                keep: e.kind == TreeEntryKind::Symlink
                    || wanted_for_parsing(&p, overrides_path.as_deref()),
            }
        })
        .collect();
    (opts.progress)(Progress::Reading {
        files: requests.len(),
        bytes: requests.iter().map(|r| r.size).sum(),
    });
    let blobs = repo
        .read_blobs(&requests, PARSE_LIMIT, &|bytes| {
            (opts.progress)(Progress::Hashed { bytes })
        })
        .map_err(git("read the files at the tag"))?;

    // 2. Configuration items.
    let mut items = Vec::with_capacity(entries.len());
    let mut by_class: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut total_bytes = 0u64;
    for e in &entries {
        let (path, path_base64) = display_path(&e.path);
        let class = classifier.classify(&e.path);
        *by_class.entry(class.as_str()).or_default() += 1;
        let blob = blobs.get(&e.oid);
        let mut item = ConfigurationItem {
            path: path.clone(),
            path_base64,
            mode: e.mode.clone(),
            kind: e.kind,
            class,
            size: e.size,
            git_blob: None,
            sha256: None,
            target: None,
            submodule_commit: None,
            lfs: None,
        };
        if e.kind == TreeEntryKind::Submodule {
            item.submodule_commit = Some(e.oid.to_string());
        } else {
            let Some(b) = blob else {
                return Err(BaselineError::MissingBlob {
                    path,
                    oid: e.oid.to_string(),
                });
            };
            total_bytes += b.size;
            item.git_blob = Some(e.oid.to_string());
            item.sha256 = Some(b.sha256.hex());
            if e.kind == TreeEntryKind::Symlink {
                item.target = b
                    .content
                    .as_deref()
                    .map(|t| String::from_utf8_lossy(t).into_owned());
            }
            if let Some(l) = &b.lfs {
                item.lfs = Some(LfsRef {
                    oid: l.oid.to_string(),
                    size: l.size,
                });
                findings.push(Finding {
                    code: FindingCode::LfsPointer,
                    file: Some(path.clone()),
                    line: None,
                    column: None,
                    item: None,
                    message: format!(
                        "`{path}` is a Git LFS pointer; the baseline records the pointer and the object id `{}`, not the content",
                        l.oid
                    ),
                    policy: false,
                });
            }
        }
        items.push(item);
    }

    // 3. SOUP and images.
    let scope = SoupScope::new(&config, tag.as_str())?;
    let (soup, images) = collect_soup(&entries, &blobs, &config, &scope, &mut findings)?;

    // 4. Change trace.
    (opts.progress)(Progress::Tracing);
    let changes = trace_changes(repo, info, opts.previous.as_ref(), &config, &mut findings)?;

    findings.sort();
    findings.dedup();
    let policy_failed = findings.iter().any(|f| f.policy);

    let mut subject = vec![
        ResourceDescriptor::named(
            subject_name(&config, tag, ""),
            "gitCommit",
            info.commit.as_str(),
        ),
        ResourceDescriptor::named(
            subject_name(&config, tag, "^{tree}"),
            "gitTree",
            info.tree.as_str(),
        ),
    ];
    if let Some(artifacts) = opts.artifacts {
        subject.extend(
            artifacts
                .iter()
                .map(|(name, hex)| ResourceDescriptor::named(name.clone(), "sha256", hex)),
        );
    }
    let predicate = BaselinePredicate {
        project: config.project.clone(),
        release: Release {
            tag: tag.to_string(),
            tag_object: info.tag_object.as_ref().map(ToString::to_string),
            commit: info.commit.to_string(),
            tree: info.tree.to_string(),
            commit_time: rfc3339_utc(info.commit_info.committer.time),
            source_date_epoch: info.commit_info.committer.time,
            tag_time: info.tag_time.map(rfc3339_utc),
            tagger: info.tagger.clone(),
            tag_signature: info.signature.clone(),
        },
        build: config.build_json(),
        policy: Policy {
            changes: config.changes.clone(),
            result: if policy_failed { "fail" } else { "pass" },
        },
        summary: Summary {
            items: items.len(),
            bytes: total_bytes,
            by_class,
            soup_items: soup.len(),
            images: images.len(),
            commits: changes.commits.len(),
            findings: findings.len(),
        },
        configuration_items: items,
        soup,
        images,
        changes,
        findings,
    };
    let statement = Statement::new(subject, BASELINE_PREDICATE_TYPE, predicate);
    statement
        .validate()
        .map_err(|source| BaselineError::Statement { source })?;
    Ok(Baseline {
        statement,
        config: parsed_config,
    })
}

fn subject_name(config: &Config, tag: &Tag, suffix: &str) -> String {
    match &config.project.name {
        Some(n) => format!("{n}@{tag}{suffix}"),
        None => format!("{tag}{suffix}"),
    }
}

fn soup_finding(f: SoupFinding) -> Finding {
    let code = match f.code {
        reprove_soup::SoupFindingCode::UnpinnedVersion => FindingCode::UnpinnedVersion,
        reprove_soup::SoupFindingCode::MissingChecksum => FindingCode::MissingChecksum,
        reprove_soup::SoupFindingCode::UnparsableLockfile => FindingCode::UnparsableLockfile,
        reprove_soup::SoupFindingCode::UnsupportedLockfile => FindingCode::UnsupportedLockfile,
        reprove_soup::SoupFindingCode::MissingSupplier => FindingCode::MissingSupplier,
        reprove_soup::SoupFindingCode::UnusedOverride => FindingCode::UnusedOverride,
    };
    Finding {
        code,
        file: Some(f.file),
        line: f.line,
        column: None,
        item: f.item,
        message: f.message,
        policy: false,
    }
}

fn image_soup(m: &ImageMention) -> Option<SoupItem> {
    let r = m.reference.as_ref().ok()?;
    // The version is the tag the project names (the digest, its unique designator, is the
    // checksum); a reference by digest alone has no other version.
    let version = match (r.tag(), r.digest()) {
        (Some(t), _) => t.to_owned(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".to_owned(),
    };
    let mut item = SoupItem::new(&r.name(), &version, reprove_soup::Ecosystem::Oci, r.purl())
        .with_derived_supplier(Some(r.supplier()));
    item.source = Some(r.name());
    item.checksum = r
        .digest()
        .map(|d| reprove_soup::Checksum::new(d.algorithm().as_str(), &d.hex()));
    item.scope = reprove_soup::Scope::Direct;
    item.manifest = m.file.clone();
    Some(item)
}

/// Which paths count for the SOUP register and the image scan (`[soup] lockfiles`,
/// `[soup] exclude`).
struct SoupScope {
    lockfiles: Option<globset::GlobSet>,
    exclude: globset::GlobSet,
}

impl SoupScope {
    fn new(config: &Config, tag: &str) -> Result<SoupScope, BaselineError> {
        let bad = |b: crate::classes::BadGlob| BaselineError::Config {
            tag: tag.to_owned(),
            line: None,
            message: format!("invalid glob `{}` in {}: {}", b.pattern, b.class, b.message),
        };
        Ok(SoupScope {
            lockfiles: config
                .soup
                .lockfiles
                .as_ref()
                .map(|l| crate::classes::glob_set("[soup] lockfiles", l))
                .transpose()
                .map_err(bad)?,
            exclude: crate::classes::glob_set("[soup] exclude", &config.soup.exclude)
                .map_err(bad)?,
        })
    }

    fn excluded(&self, path: &str) -> bool {
        self.exclude.is_match(path)
    }

    fn lockfile_counts(&self, path: &str) -> bool {
        self.lockfiles.as_ref().is_none_or(|l| l.is_match(path))
    }
}

fn collect_soup(
    entries: &[TreeEntry],
    blobs: &HashMap<ObjectId, BlobData>,
    config: &Config,
    scope: &SoupScope,
    findings: &mut Vec<Finding>,
) -> Result<(Vec<SoupItem>, Vec<ImageEntry>), BaselineError> {
    let by_path: HashMap<&[u8], &TreeEntry> =
        entries.iter().map(|e| (e.path.as_slice(), e)).collect();
    let content = |path: &str| -> Option<Vec<u8>> {
        let e = by_path.get(path.as_bytes())?;
        if e.kind == TreeEntryKind::Symlink {
            return None;
        }
        blobs.get(&e.oid)?.content.clone()
    };
    let mut soup = Vec::new();
    let mut images = Vec::new();
    // Vendored crates (`cargo vendor`, in a directory the tree's cargo configuration names):
    // each one item, never read for its own lockfiles or image references.
    let vendor_dirs: Vec<String> = [".cargo/config.toml", ".cargo/config"]
        .into_iter()
        .filter_map(&content)
        .flat_map(|b| reprove_soup::vendor_directories(&String::from_utf8_lossy(&b)))
        .collect();
    let vendored = reprove_soup::vendored_roots(
        entries
            .iter()
            .filter(|e| matches!(e.kind, TreeEntryKind::File | TreeEntryKind::Executable))
            .filter_map(|e| std::str::from_utf8(&e.path).ok())
            .filter(|p| !scope.excluded(p)),
        &vendor_dirs,
    );
    for e in entries
        .iter()
        .filter(|e| matches!(e.kind, TreeEntryKind::File | TreeEntryKind::Executable))
    {
        let Ok(path) = std::str::from_utf8(&e.path) else {
            continue;
        };
        if scope.excluded(path) || reprove_soup::in_vendored(&vendored, path).is_some() {
            continue;
        }
        let is_lockfile = lockfile_kind(path).is_some();
        let lock = lockfile_kind(path).filter(|_| scope.lockfile_counts(path));
        let image_kind = file_kind(path);
        if is_lockfile && lock.is_none() && image_kind == Some(FileKind::Yaml) {
            continue; // a lockfile left out of the SOUP is still not a deployment file
        }
        if lock.is_none() && image_kind.is_none() {
            continue;
        }
        let Some(bytes) = content(path) else {
            if lock.is_some_and(|k| k != LockfileKind::GoMod) {
                findings.push(Finding {
                    code: FindingCode::UnparsableLockfile,
                    file: Some(path.to_owned()),
                    line: None,
                    column: None,
                    item: None,
                    message: format!(
                        "`{path}` is larger than {} MiB; not parsed",
                        PARSE_LIMIT >> 20
                    ),
                    policy: false,
                });
            }
            continue;
        };
        if let Some(kind) = lock {
            let parsed = parse_lockfile(path, kind, &bytes, &content);
            soup.extend(parsed.items);
            findings.extend(parsed.findings.into_iter().map(soup_finding));
        }
        if let Some(kind) = image_kind {
            if kind == FileKind::Yaml && lock.is_some() {
                continue; // pnpm-lock.yaml is a lockfile, not a deployment file
            }
            for m in reprove_oci::scan(path, kind, &bytes) {
                let mut entry = ImageEntry {
                    file: m.file.clone(),
                    line: m.line,
                    column: m.column,
                    reference: m.raw.clone(),
                    pinned: false,
                    digest: None,
                    platform: m.platform.clone(),
                    context: m.context,
                };
                let at = |code, message| Finding {
                    code,
                    file: Some(m.file.clone()),
                    line: Some(m.line),
                    column: Some(m.column),
                    item: Some(m.raw.clone()),
                    message,
                    policy: false,
                };
                match &m.reference {
                    Ok(r) => {
                        entry.reference = r.to_string();
                        entry.pinned = r.is_pinned();
                        entry.digest = r.digest().map(ToString::to_string);
                        if !r.is_pinned() {
                            findings.push(at(
                                FindingCode::UnpinnedImage,
                                format!("image `{}` is not pinned by digest", m.raw),
                            ));
                        }
                    }
                    Err(msg) => findings.push(at(FindingCode::UnparsableImage, msg.clone())),
                }
                if let Some(item) = image_soup(&m) {
                    soup.push(item);
                }
                images.push(entry);
            }
        }
    }
    for root in &vendored {
        let parsed = reprove_soup::parse_vendored(
            root,
            content(&format!("{root}/.cargo-checksum.json")).as_deref(),
            content(&format!("{root}/Cargo.toml")).as_deref(),
        );
        findings.extend(parsed.findings.into_iter().map(soup_finding));
        for item in parsed.items {
            // A crate the root Cargo.lock already locks with the same checksum is that item.
            let locked = soup.iter().any(|s: &SoupItem| {
                s.purl.split('?').next() == Some(item.purl.as_str()) && s.checksum == item.checksum
            });
            if !locked {
                soup.push(item);
            }
        }
    }
    // Overrides, from the tag's tree like everything else.
    if let Some(path) = &config.soup.overrides {
        let Some(bytes) = content(path) else {
            return Err(BaselineError::OverridesMissing { path: path.clone() });
        };
        let text = String::from_utf8_lossy(&bytes);
        let overrides =
            Overrides::parse(path, &text).map_err(|source| BaselineError::Overrides { source })?;
        findings.extend(overrides.apply(&mut soup).into_iter().map(soup_finding));
    } else {
        findings.extend(
            Overrides::default()
                .apply(&mut soup)
                .into_iter()
                .map(soup_finding),
        );
    }
    soup.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    images.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    Ok((soup, images))
}

fn trace_changes(
    repo: &Repository,
    info: &TagInfo,
    previous: Option<&Tag>,
    config: &Config,
    findings: &mut Vec<Finding>,
) -> Result<ChangeTrace, BaselineError> {
    let git = |action: &'static str| move |source| BaselineError::Git { action, source };
    // `[changes] previous` naming one tag is that tag (a repackaging `v1.3.1-r1` follows
    // `v1.3.1`, which version order puts after it); a glob narrows the candidates instead.
    let is_glob = |p: &str| p.contains(['*', '?', '[', '{']);
    let configured: Option<Tag> = match config.changes.previous.as_deref() {
        Some(p) if !is_glob(p) => Some(p.parse().map_err(|_| BaselineError::Config {
            tag: info.name.to_string(),
            line: None,
            message: format!("[changes] previous: `{p}` is not a tag name"),
        })?),
        _ => None,
    };
    let base = match previous.or(configured.as_ref()) {
        Some(p) => Some(
            repo.resolve_tag(p)
                .map_err(|source| BaselineError::ResolveTag {
                    tag: p.to_string(),
                    source,
                })?,
        ),
        None => {
            let tags = repo.tags().map_err(git("list tags"))?;
            let pattern = config
                .changes
                .previous
                .as_deref()
                .filter(|p| is_glob(p))
                .map(|p| {
                    globset::Glob::new(p)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| BaselineError::Config {
                            tag: info.name.to_string(),
                            line: None,
                            message: format!(
                                "invalid glob `{p}` in [changes] previous: {}",
                                e.kind()
                            ),
                        })
                })
                .transpose()?;
            let names: Vec<&str> = tags
                .iter()
                .filter(|t| t.commit.is_some())
                .map(|t| t.name.as_str())
                .filter(|n| pattern.as_ref().is_none_or(|p| p.is_match(n)))
                .collect();
            match previous_release_tag(info.name.as_str(), names) {
                Some(name) => {
                    let t: Tag = name.parse().map_err(git("parse a tag name"))?;
                    Some(
                        repo.resolve_tag(&t)
                            .map_err(|source| BaselineError::ResolveTag { tag: name, source })?,
                    )
                }
                None => None,
            }
        }
    };
    let range = repo
        .commits_between(base.as_ref().map(|b| &b.commit), &info.commit)
        .map_err(git("list the commits since the previous release"))?;
    let cut: Vec<&ObjectId> = range.cut.iter().collect();
    let complete = cut.is_empty();
    if !complete {
        findings.push(Finding {
            code: FindingCode::IncompleteHistory,
            file: None,
            line: None,
            column: None,
            item: Some(cut[0].to_string()),
            message: match &base {
                Some(b) => format!(
                    "shallow clone: history stops at `{}` before reaching the previous release `{}`; run `git fetch --unshallow`",
                    cut[0].short(),
                    b.name
                ),
                None => format!(
                    "shallow clone: history stops at `{}` and no previous release tag was found; run `git fetch --unshallow --tags`",
                    cut[0].short()
                ),
            },
            policy: config.changes.require_authorization,
        });
    }
    let entries = authorize(&range.commits, &config.changes);
    for c in entries.iter().filter(|c| !c.authorized) {
        findings.push(Finding {
            code: FindingCode::UnauthorizedChange,
            file: None,
            line: None,
            column: None,
            item: Some(c.id.clone()),
            message: format!(
                "commit `{}` \"{}\" has no authorization ({})",
                &c.id[..12],
                c.subject,
                authorization_hint(&config.changes)
            ),
            policy: config.changes.require_authorization,
        });
    }
    Ok(ChangeTrace {
        base: base.map(|b| ChangeBase {
            tag: b.name.to_string(),
            commit: b.commit.to_string(),
        }),
        complete,
        commits: entries,
    })
}

fn authorization_hint(c: &crate::config::Changes) -> String {
    let mut ways: Vec<String> = c.trailers.iter().map(|t| format!("`{t}:`")).collect();
    if c.accept_signed_commits {
        ways.push("a good signature".into());
    }
    if c.authorized_merges_cover_their_commits {
        ways.push("an authorized merge".into());
    }
    format!("expected {}", ways.join(" or "))
}

/// The SOUP register at a commit, reading only the files it needs.
#[derive(Debug, Clone)]
pub struct SoupRegister {
    pub commit: ObjectId,
    /// Committer time of `commit`, RFC 3339 UTC: the only date an SBOM of it carries.
    pub commit_time: String,
    pub project: crate::config::Project,
    pub items: Vec<SoupItem>,
    pub images: Vec<ImageEntry>,
    pub findings: Vec<Finding>,
}

/// Builds the SOUP register of `tag`, or of `HEAD` when no tag is given.
pub fn soup_register(repo: &Repository, tag: Option<&Tag>) -> Result<SoupRegister, BaselineError> {
    let git = |action: &'static str| move |source| BaselineError::Git { action, source };
    let (commit, commit_time, label) = match tag {
        Some(t) => {
            let info = repo
                .resolve_tag(t)
                .map_err(|source| BaselineError::ResolveTag {
                    tag: t.to_string(),
                    source,
                })?;
            (info.commit, info.commit_info.committer.time, t.to_string())
        }
        None => {
            let commit = repo.resolve_commit("HEAD").map_err(git("resolve `HEAD`"))?;
            let info = repo
                .commit_info(&commit)
                .map_err(git("read the commit at `HEAD`"))?;
            (commit, info.committer.time, "HEAD".to_owned())
        }
    };
    let entries = repo.tree_entries(&commit).map_err(git("list the tree"))?;
    let config = match read_small(repo, &entries, "reprove.toml")? {
        Some(bytes) => {
            Config::parse(&String::from_utf8_lossy(&bytes)).map_err(|(line, message)| {
                BaselineError::Config {
                    tag: label.clone(),
                    line,
                    message,
                }
            })?
        }
        None => Config::default(),
    };
    let overrides = config.soup.overrides.clone();
    let requests: Vec<BlobRequest> = entries
        .iter()
        .filter(|e| matches!(e.kind, TreeEntryKind::File | TreeEntryKind::Executable))
        .filter(|e| {
            let p = String::from_utf8_lossy(&e.path);
            wanted_for_parsing(&p, overrides.as_deref())
        })
        .map(|e| BlobRequest {
            oid: e.oid.clone(),
            size: e.size.unwrap_or(0),
            keep: true,
        })
        .collect();
    let blobs = repo
        .read_blobs(&requests, PARSE_LIMIT, &|_| {})
        .map_err(git("read the lockfiles"))?;
    let mut findings = Vec::new();
    let scope = SoupScope::new(&config, &label)?;
    let (items, images) = collect_soup(&entries, &blobs, &config, &scope, &mut findings)?;
    findings.sort();
    findings.dedup();
    Ok(SoupRegister {
        commit,
        commit_time: rfc3339_utc(commit_time),
        project: config.project,
        items,
        images,
        findings,
    })
}
