//! The fetch phase (`[build.fetch]`): the one job of a rebuild with a network. It runs in the
//! same pinned image over the same build tree and fills a store; reprove reads the store back,
//! checks it against the tag's lockfiles ([`reprove_fetch`]), and hands the build what passed,
//! read-only at the same path (the folders a build derives, such as cargo's unpacked sources,
//! writable and its own), with no network. A store that fails its checks is
//! never given to a build.
//!
//! A checked store is cached by what determines it (image, fetch recipe, lockfiles): a warm
//! rebuild runs no fetch job and needs no network. The cache is not trusted — a cached store
//! goes through the same checks as a fresh one, and one that fails them is fetched again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reprove_build_types::FetchRecipe;
use reprove_fetch::{Checked, DependencyFinding, Lockfile, ResolvedPackage, StoreFile};
use reprove_source::{ObjectId, Repository, rfc3339_utc, unix_now};

use crate::BuildError;
use crate::compare::{Shape, read_engine_tar};
use crate::engine::{ContainerEngine, Job, JobKind, RunEnd};
use crate::export::{SourceArchive, StoreArchive};
use crate::rebuild::Conditions;

/// The most bytes of one lockfile read for the check.
const MAX_LOCKFILE: u64 = 64 << 20;

/// What the fetch phase did and found: recorded in the rebuild report and the provenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchReport {
    /// The lockfiles the store was checked against, with their sha256.
    pub lockfiles: BTreeMap<String, String>,
    /// The digest of the store the build was given (sha256 of its `sha256sum` listing).
    pub store_sha256: String,
    /// Files the build was given, and how many of them are index metadata.
    pub files: usize,
    pub metadata_files: usize,
    /// Files the fetch wrote that a build derives again (cargo's unpacked sources): dropped.
    pub dropped_files: usize,
    pub packages: Vec<ResolvedPackage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<DependencyFinding>,
    /// The engine network the fetch ran on (`default`: the engine's own).
    pub network: String,
    /// Whether the engine held the fetch to `[build.fetch] allow` (the docker and podman CLI
    /// engines cannot: the hosts are recorded, not enforced).
    pub allow_enforced: bool,
    /// The hosts the fetch asked reprove's egress proxy for, each with whether it was let
    /// through (`allow`); `None` when no proxy could serve the fetch (its network is not the
    /// host's, or the store came from the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_contacted: Option<Vec<crate::proxy::HostContact>>,
    /// Requests for hosts past the most the proxy names.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hosts_not_named: u64,
    /// sha256 of the CA bundle offered to the fetch (the host's, for a TLS-intercepting proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_sha256: Option<String>,
    /// The store came from reprove's cache (checked again): no fetch job ran.
    pub from_cache: bool,
    pub started_on: String,
    pub finished_on: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FetchReport {
    /// Whether a finding stops the build.
    pub fn rejected(&self) -> bool {
        self.findings.iter().any(|f| f.code.rejects())
    }
}

/// How the fetch phase runs on this machine (from the command line, not the recipe: none of
/// it may change what the build is given).
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// The engine network the fetch runs on (`None`: the engine's default).
    pub network: Option<String>,
    /// The CA bundle offered to the fetch (bytes of a PEM file).
    pub ca_bundle: Option<Vec<u8>>,
    /// Where checked stores are cached (`None`: no cache).
    pub cache: Option<PathBuf>,
    /// Whether a fetch job may run at all. `verify --rebuild` runs the fetch of someone else's
    /// recipe only when the auditor names a network for it; otherwise only a cached store
    /// (checked again) can serve.
    pub allow_network: bool,
    /// Keep the fetch off reprove's egress proxy (`--no-fetch-proxy`: for an engine whose
    /// host network cannot reach this machine's loopback); no hosts are recorded then.
    pub no_proxy: bool,
}

/// The outcome of the fetch phase: its report, and the store to give the build when it passed.
pub(crate) struct Fetched {
    pub report: FetchReport,
    pub store: Option<StoreArchive>,
}

/// A lockfile the store is checked against, with its sha256 (computed once: the cache key and
/// the report both record it).
struct Lock {
    path: String,
    bytes: Vec<u8>,
    sha256: String,
}

/// The lockfiles the store is checked against, read from the commit's checked objects.
fn lockfiles(
    repo: &Repository,
    commit: &ObjectId,
    fetch: &FetchRecipe,
) -> Result<Vec<Lock>, BuildError> {
    let entries = repo
        .tree_entries(commit)
        .map_err(|source| BuildError::Git {
            action: "list the tree for the fetch check",
            source,
        })?;
    let names = if fetch.lockfiles.is_empty() {
        let paths: Vec<String> = entries
            .iter()
            .filter_map(|e| String::from_utf8(e.path.clone()).ok())
            .collect();
        reprove_fetch::default_lockfiles(paths.iter().map(String::as_str))
    } else {
        fetch.lockfiles.clone()
    };
    let mut out = Vec::new();
    for name in names {
        let bytes = repo
            .read_tree_file(&entries, name.as_bytes(), MAX_LOCKFILE)
            .map_err(|source| BuildError::Git {
                action: "read a lockfile for the fetch check",
                source,
            })?
            .ok_or_else(|| BuildError::FetchLockfile { path: name.clone() })?;
        let sha256 = reprove_digest::sha256_bytes(&bytes).hex();
        out.push(Lock {
            path: name,
            bytes,
            sha256,
        });
    }
    Ok(out)
}

/// The cache key: everything that determines what a fetch may put in the store.
fn cache_key(
    image: &str,
    fetch: &FetchRecipe,
    env: &BTreeMap<String, String>,
    locks: &[Lock],
) -> String {
    let locks: BTreeMap<&str, &str> = locks
        .iter()
        .map(|l| (l.path.as_str(), l.sha256.as_str()))
        .collect();
    let key = serde_json::json!({
        "v": 1,
        "image": image,
        "fetch": fetch,
        "env": env,
        "lockfiles": locks,
    });
    reprove_digest::sha256_bytes(key.to_string().as_bytes()).hex()
}

/// Reads a store tar (from the engine or the cache) into `dir` and checks it; files under
/// the `scratch` folders (derived again by the build) are drained, never kept. Returns the
/// checked store, how many files were drained, and how many were written into `dir`.
fn read_and_check(
    stream: impl std::io::Read,
    dir: &Path,
    locks: &[Lock],
    scratch: &[String],
    fixed: Option<&str>,
) -> Result<(Checked, usize, usize), BuildError> {
    let mut files = Vec::new();
    let skip = |p: &str| {
        scratch.iter().any(|d| {
            p.strip_prefix(d.as_str())
                .is_some_and(|r| r.starts_with('/'))
        })
    };
    // An npm cache names its content by sha512: that digest is checked too.
    let sha512 = reprove_fetch::wants_sha512(locks.iter().map(|l| l.path.as_str()));
    let dropped = read_engine_tar(stream, dir, Shape::Tree, &skip, sha512, &mut |f| {
        files.push(StoreFile {
            path: f.path,
            sha256: f.sha256,
            sha512: f.sha512,
            size: f.size,
            executable: f.executable,
        });
    })?
    .skipped;
    let lockfiles: Vec<Lockfile<'_>> = locks
        .iter()
        .map(|l| Lockfile {
            path: &l.path,
            content: &l.bytes,
        })
        .collect();
    let fixed_hex = fixed.and_then(reprove_build_types::sha256_hex);
    let written = files.len();
    let checked = reprove_fetch::check(files, &lockfiles, fixed_hex.as_deref())
        .map_err(|source| BuildError::FetchCheck { source })?;
    Ok((checked, dropped, written))
}

/// Runs the fetch phase (or takes a cached store), checks the store, and spools what passed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fetch_phase(
    engine: &dyn ContainerEngine,
    repo: &Repository,
    commit: &ObjectId,
    source: &SourceArchive,
    fetch: &FetchRecipe,
    image: &str,
    conditions: &Conditions,
    log: &Path,
    opts: &FetchOptions,
    owner: &crate::owner::Owner,
    progress: &dyn Fn(&str),
) -> Result<Fetched, BuildError> {
    let started = unix_now();
    let locks = lockfiles(repo, commit, fetch)?;
    let mut env = conditions.environment.clone();
    env.extend(fetch.env.clone());
    let key = cache_key(image, fetch, &env, &locks);
    // Folders the build derives again (cargo's `src`): scratch in the fetch job, drained on read.
    let scratch: Vec<String> =
        reprove_fetch::derived_folders(locks.iter().map(|l| l.path.as_str()))
            .into_iter()
            .map(str::to_owned)
            .collect();
    // The store read back: in memory when there is room (a build mounts it read-only, and
    // its writes go to folders of its own on disk).
    let work = crate::owner::owned_memory_tempdir(owner.id())?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Io { path, source }
    };
    let cached = opts.cache.as_ref().map(|d| d.join(format!("{key}.tar")));
    let mut from_cache = None;
    if let Some(path) = cached.as_ref().filter(|p| p.is_file()) {
        progress(&format!(
            "checking the cached dependency store `{}`",
            path.display()
        ));
        let dir = work.path().join("cached");
        let file = std::fs::File::open(path).map_err(io(path))?;
        match read_and_check(file, &dir, &locks, &scratch, fetch.fixed.as_deref()) {
            Ok(c) if !c.0.rejected() => from_cache = Some((c, dir)),
            // A cache is not evidence: a store that fails its checks is fetched again.
            _ => {
                progress("the cached store failed its checks: fetching again");
                let _ = std::fs::remove_file(path);
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    let was_cached = from_cache.is_some();
    let mut contacts = None;
    let ((checked, dropped, written), dir) = match from_cache {
        Some(c) => c,
        None if !opts.allow_network => {
            return Err(BuildError::FetchNotAllowed {
                command: fetch.command.join(" "),
            });
        }
        None => {
            progress(&format!(
                "fetching dependencies: `{}` (network: {})",
                fetch.command.join(" "),
                opts.network.as_deref().unwrap_or("the engine's default")
            ));
            // The egress proxy, where the job shares this machine's loopback: the host's
            // network on an engine that runs here.
            let proxy = match opts.network.as_deref() {
                Some("host") if !opts.no_proxy && engine.shares_loopback() => {
                    let upstream = crate::proxy::upstream_from_env();
                    if upstream.is_none() && crate::proxy::unusable_upstream() {
                        progress(
                            "this machine's HTTPS_PROXY is not `http://host:port` without credentials: the fetch proxy connects directly",
                        );
                    }
                    Some(crate::proxy::EgressProxy::start(
                        fetch.allow.clone(),
                        upstream,
                    )?)
                }
                _ => None,
            };
            let mut job_env = env.clone();
            if let Some(p) = &proxy {
                job_env.extend(p.env());
            }
            let job = Job {
                image: image.to_owned(),
                command: fetch.command.clone(),
                env: job_env,
                build_path: conditions.build_path.clone(),
                workdir: None,
                user: conditions.user.clone(),
                hostname: conditions.hostname.clone(),
                umask: conditions.umask.clone(),
                timeout: Duration::from_secs(fetch.timeout),
                name: format!("reprove-{}-fetch-{}", owner.id(), unix_now()),
                owner: owner.id().to_owned(),
                owner_lock: owner.lock_path(),
                outputs: Vec::new(),
                open_tree: false,
                kind: JobKind::Fetch {
                    network: opts.network.clone(),
                    ca_bundle: opts.ca_bundle.clone(),
                },
                store: Some(fetch.store.clone()),
                store_scratch: scratch.clone(),
            };
            let dir = work.path().join("fetched");
            let mut log_file = std::fs::File::create(log).map_err(io(log))?;
            let mut tar = source.open()?;
            let (reader, mut writer) = std::io::pipe().map_err(io(work.path()))?;
            // A larger pipe: the store's tar crosses it in fewer, larger steps.
            let _ = rustix::pipe::fcntl_setpipe_size(&writer, 1 << 20);
            let (end, read) = std::thread::scope(|s| {
                let consumer = s.spawn(|| {
                    read_and_check(reader, &dir, &locks, &scratch, fetch.fixed.as_deref())
                });
                let end = engine.run_job(
                    &job,
                    &mut tar,
                    source.listing(),
                    None,
                    &mut log_file,
                    &mut writer,
                );
                drop(writer);
                let read = consumer.join().unwrap_or_else(|_| {
                    Err(BuildError::Outputs {
                        detail: "the store reader panicked".into(),
                    })
                });
                (end, read)
            });
            contacts = proxy.map(crate::proxy::EgressProxy::stop);
            let refused: Vec<String> = contacts
                .iter()
                .flat_map(|(hosts, _)| hosts)
                .filter(|h| !h.allowed)
                .map(|h| format!("{}:{}", h.host, h.port))
                .collect();
            if !refused.is_empty() {
                use std::io::Write as _;
                let _ = writeln!(
                    log_file,
                    "\n[reprove: the fetch proxy refused {}: not in [build.fetch] allow, or plain HTTP]",
                    refused.join(", ")
                );
            }
            log_file.sync_all().map_err(io(log))?;
            match end? {
                RunEnd::Exited(0) => {}
                RunEnd::Exited(code) => {
                    return Err(BuildError::FetchFailed {
                        code,
                        log: log.to_owned(),
                        refused,
                    });
                }
                RunEnd::TimedOut => {
                    return Err(BuildError::FetchTimedOut {
                        seconds: fetch.timeout,
                        log: log.to_owned(),
                    });
                }
            }
            (read?, dir)
        }
    };
    let report = FetchReport {
        lockfiles: locks
            .iter()
            .map(|l| (l.path.clone(), l.sha256.clone()))
            .collect(),
        store_sha256: checked.sha256.clone(),
        files: checked.kept.len(),
        metadata_files: checked.metadata,
        dropped_files: dropped + checked.dropped,
        packages: checked.packages.clone(),
        findings: checked.findings.clone(),
        network: opts.network.clone().unwrap_or_else(|| "default".into()),
        allow_enforced: false,
        hosts_not_named: contacts.as_ref().map_or(0, |(_, n)| *n),
        hosts_contacted: contacts.map(|(hosts, _)| hosts),
        ca_bundle_sha256: opts
            .ca_bundle
            .as_ref()
            .filter(|_| !was_cached)
            .map(|b| reprove_digest::sha256_bytes(b).hex()),
        from_cache: was_cached,
        started_on: rfc3339_utc(started),
        finished_on: rfc3339_utc(unix_now()),
    };
    if checked.rejected() {
        return Ok(Fetched {
            report,
            store: None,
        });
    }
    // The archive (for a second build and the cache) is written while the first build runs
    // from the folder read back, which that build mounts read-only.
    let spool = crate::owner::owned_tempdir(owner.id())?;
    let work = std::sync::Arc::new(work);
    let to_cache = cached.filter(|_| !was_cached);
    let mut archive = StoreArchive::spawn(
        std::sync::Arc::clone(&work),
        dir.clone(),
        checked.kept.clone(),
        spool,
        move |file| {
            if let Some(path) = to_cache {
                // Best effort: a cache that cannot be written costs the next run a fetch.
                let _ = save_to_cache(file, &path);
            }
        },
    )?
    .with_derived(scratch);
    // The folder read back holds exactly the kept files (hashed as they were written) when
    // every file written was kept; otherwise the first build unpacks the archive like any other.
    if written == checked.kept.len() {
        archive = archive.with_prepared(crate::export::PreparedStore::new(work, dir));
    }
    Ok(Fetched {
        report,
        store: Some(archive),
    })
}

/// Copies the spooled store into the cache (temporary file + rename: a reader sees the whole
/// file or none).
fn save_to_cache(archive: &tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // On the same file system, the spooled file itself is linked into the cache (no copy);
    // reprove never writes to it again. A link is made under a temporary name and renamed, so
    // a reader sees the whole file or none.
    let linked = dir.join(format!(
        ".reprove-store-{}-{}.tar",
        std::process::id(),
        reprove_source::unix_now()
    ));
    if std::fs::hard_link(archive.path(), &linked).is_ok() {
        return std::fs::rename(&linked, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&linked);
        });
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".reprove-store-")
        .tempfile_in(dir)?;
    let mut src = archive.reopen()?;
    std::io::copy(&mut src, tmp.as_file_mut())?;
    // No fsync: the cache is not evidence — a file a crash left short fails its checks on
    // the next run and is fetched again — and a sync is a tenth of a cold fetch.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
