//! SLSA provenance v1 for a rebuild (<https://slsa.dev/spec/v1.0/provenance>).
//!
//! The rebuild report has everything that went in: the tag and commit, the recipe (external
//! parameters, which a user controls through `reprove.toml`), the environment reprove fixes
//! (internal parameters), the build image by digest and the engine. Lockfiles are added as
//! resolved dependencies by digest, read from the tag's tree — the same bytes the baseline
//! records.

use std::collections::{BTreeMap, BTreeSet};

use reprove_attest::ResourceDescriptor;
use reprove_attest::Statement;
use reprove_attest::slsa::{
    BuildDefinition, BuildMetadata, Builder, PROVENANCE_V1, Provenance, RunDetails,
};
use reprove_build::{RebuildReport, RebuildVerdict};
use reprove_source::{BlobRequest, ObjectId, Repository, TreeEntryKind};
use serde_json::{Map, Value, json};

use crate::ReleaseError;

/// `buildType` of a reprove container rebuild: the parameters below are its schema.
pub const BUILD_TYPE: &str = "https://reprove.dev/container-build/v1";
/// `builder.id`: reprove running a recipe in a local container engine.
pub const BUILDER_ID: &str = "https://reprove.dev/rebuilder/v1";

/// What the provenance refers to besides the report.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `[project] name` at the tag: which product this is.
    pub project: Option<String>,
    /// The source repository: `[project] repository` at the tag when set, else the clone's
    /// origin URL (credentials removed); `None` (recorded as `null`) when neither is known.
    pub repository: Option<String>,
    /// Lockfiles at the tag: path → sha256.
    pub lockfiles: Vec<(String, String)>,
    /// Files the build produced besides the artifacts (report, log, explanations), by digest.
    pub byproducts: Vec<ResourceDescriptor>,
    /// `metadata.invocationId`.
    pub invocation_id: String,
}

/// Random bytes for labels (invocation ids, staging folder names). Without the OS's
/// randomness they fall back to the clock and pid: still unique enough for a label, which
/// carries no security weight (the signatures do).
pub(crate) fn label_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let fallback = (t ^ u128::from(std::process::id())).to_le_bytes();
        for (dst, src) in b.iter_mut().zip(fallback.iter().cycle()) {
            *dst = *src;
        }
    }
    b
}

/// A fresh invocation id: `urn:uuid:` and a random (version 4) UUID.
pub fn invocation_id() -> String {
    let mut b: [u8; 16] = label_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The lockfiles in the tree at `commit`, with their sha256, sorted by path.
/// The lockfiles among a baseline's configuration items: path → sha256, sorted by path —
/// what [`lockfile_digests`] reads from the tree, taken from the hashes the baseline made.
pub fn lockfiles_of(baseline: &reprove_baseline::BaselinePredicate) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = baseline
        .configuration_items
        .iter()
        .filter(|i| {
            i.path_base64.is_none()
                && matches!(i.kind, TreeEntryKind::File | TreeEntryKind::Executable)
                && reprove_soup::lockfile_kind(&i.path).is_some()
        })
        .filter_map(|i| Some((i.path.clone(), i.sha256.clone()?)))
        .collect();
    out.sort();
    out
}

pub fn lockfile_digests(
    repo: &Repository,
    commit: &ObjectId,
) -> Result<Vec<(String, String)>, ReleaseError> {
    let git = |action: &'static str| move |source| ReleaseError::Git { action, source };
    let entries = repo
        .tree_entries(commit)
        .map_err(git("list the tree at the tag"))?;
    let wanted: Vec<_> = entries
        .iter()
        .filter(|e| matches!(e.kind, TreeEntryKind::File | TreeEntryKind::Executable))
        .filter_map(|e| {
            let p = std::str::from_utf8(&e.path).ok()?;
            reprove_soup::lockfile_kind(p).map(|_| (p.to_owned(), e))
        })
        .collect();
    let requests: Vec<BlobRequest> = wanted
        .iter()
        .map(|(_, e)| BlobRequest {
            oid: e.oid.clone(),
            size: e.size.unwrap_or(0),
            keep: false,
        })
        .collect();
    let blobs = repo
        .read_blobs(&requests, 0, &|_| {})
        .map_err(git("read the lockfiles"))?;
    let mut out = Vec::new();
    for (path, e) in wanted {
        let b = blobs.get(&e.oid).ok_or_else(|| ReleaseError::Git {
            action: "read the lockfiles",
            source: reprove_source::SourceError::GitFailed {
                args: "cat-file --batch".into(),
                stderr: format!("no content for `{path}`"),
            },
        })?;
        out.push((path, b.sha256.hex()));
    }
    out.sort();
    Ok(out)
}

fn to_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The repository a provenance names: `[project] repository` when the project set one, else
/// the clone's origin — as a URI others can use ([`repository_uri`]), or none.
pub fn repository(configured: Option<&str>, repo: &Repository) -> Option<String> {
    configured
        .map(str::to_owned)
        .or_else(|| repo.origin_url())
        .and_then(|r| repository_uri(&r))
}

/// A repository location as a URI a signed statement may carry (SLSA `resourceUri`,
/// RFC 3986): `https://`, `http://`, `ssh://` or `git://`, with any credentials removed
/// (an origin such as `https://user:token@host/x` must never be signed into evidence); git's
/// scp-like `git@host:org/x.git` becomes `ssh://git@host/org/x.git`. A local path, `file://`,
/// or anything else names a place on the releasing machine only: `None`.
pub fn repository_uri(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("git+").unwrap_or(raw);
    // No query or fragment: a token in one would be signed, and `host?x@evil` would move the
    // host.
    if raw.is_empty()
        || raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return None;
    }
    if let Some((scheme, rest)) = raw.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "https" | "http" | "ssh" | "git") {
            return None;
        }
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, format!("/{p}")),
            None => (rest, String::new()),
        };
        // Only an ssh user name (no password) is kept: it is part of how to reach the host.
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) if scheme == "ssh" && !user.contains(':') => {
                format!("{user}@{host}")
            }
            Some((_, host)) => host.to_owned(),
            None => authority.to_owned(),
        };
        if authority.is_empty() || authority.ends_with('@') {
            return None;
        }
        return Some(format!("{scheme}://{authority}{path}"));
    }
    // scp-like `[user@]host:path`: a colon before any slash.
    let (left, path) = raw.split_once(':')?;
    // Not a Windows drive (`C:/…`), not a bracketed address git's scp syntax cannot hold.
    if left.is_empty()
        || left.contains(['/', '[', ']'])
        || (left.len() == 1 && left.chars().all(|c| c.is_ascii_alphabetic()))
        || path.is_empty()
    {
        return None;
    }
    let (user, host) = match left.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, left),
    };
    if host.is_empty() {
        return None;
    }
    let path = path.trim_start_matches('/');
    Some(match user {
        Some(u) if !u.is_empty() => format!("ssh://{u}@{host}/{path}"),
        _ => format!("ssh://{host}/{path}"),
    })
}

/// The source as a resource URI: `git+<repository>@refs/tags/<tag>` (SLSA's convention).
pub fn source_uri(repository: Option<&str>, tag: &str) -> Option<String> {
    repository.map(|r| {
        if r.starts_with("git+") {
            format!("{r}@refs/tags/{tag}")
        } else {
            format!("git+{r}@refs/tags/{tag}")
        }
    })
}

/// The `resolvedDependencies` name of the fetched store.
pub const FETCH_STORE: &str = "fetch-store";
/// The `role` annotation of a package the build was given from the fetched store.
pub const FETCHED_DEPENDENCY: &str = "fetched-dependency";

/// Builds the provenance statement of a rebuild. Refuses a rebuild that did not reproduce the
/// published artifacts: provenance states what was built, and a release must not carry
/// provenance for bytes other than the ones it ships.
pub fn statement(
    report: &RebuildReport,
    inputs: &Inputs,
) -> Result<Statement<Provenance>, ReleaseError> {
    // A rebuild compared with nothing (`built`) proves nothing about the released bytes; an
    // equivalent one counts only when the recipe accepts every normalization it needed.
    let attestable = match report.verdict {
        RebuildVerdict::Reproducible => true,
        RebuildVerdict::Equivalent => report.holds(),
        _ => false,
    };
    if !attestable {
        return Err(ReleaseError::NotReproducible {
            tag: report.tag.clone(),
        });
    }
    if report.artifacts.is_empty() {
        return Err(ReleaseError::NoArtifacts {
            tag: report.tag.clone(),
        });
    }
    // The subjects are the bytes the release ships. An equivalent artifact is attested by
    // its published digest, and `internalParameters.equivalence` records the rebuilt one and
    // the normalizations that made them the same.
    let published_of: BTreeMap<&str, &str> = report
        .comparison
        .iter()
        .filter(|c| c.verdict == reprove_build::Verdict::Equivalent)
        .filter_map(|c| Some((c.name.as_str(), c.published.as_ref()?.sha256.as_str())))
        .collect();
    // An OCI layout that only carried a published image is not a release file; the image is
    // the subject, by its manifest digest (and an index's manifests each by theirs), named
    // `REPOSITORY@sha256:…` with its media type.
    let carriers = report.image_carriers();
    let mut subject: Vec<ResourceDescriptor> = report
        .artifacts
        .iter()
        .filter(|(name, _)| !carriers.contains(name.as_str()))
        .map(|(name, a)| {
            let sha = published_of
                .get(name.as_str())
                .copied()
                .unwrap_or(&a.sha256);
            ResourceDescriptor::named(name.clone(), "sha256", sha)
        })
        .collect();
    for i in report
        .images
        .iter()
        .filter(|i| i.verdict == reprove_build::Verdict::Match)
    {
        let media = std::iter::once(&i.image.media_type)
            .chain(i.image.children.iter().map(|c| &c.media_type));
        for ((name, digest), media) in i.image.subjects().into_iter().zip(media) {
            if subject
                .iter()
                .any(|s| s.name.as_deref() == Some(name.as_str()))
            {
                continue;
            }
            let mut d = ResourceDescriptor::named(name, "sha256", &digest.hex());
            d.media_type = Some(media.clone()).filter(|m| !m.is_empty());
            subject.push(d);
        }
    }
    let equivalence: Vec<Value> = report
        .comparison
        .iter()
        .filter(|c| c.verdict == reprove_build::Verdict::Equivalent)
        .map(|c| {
            json!({
                "artifact": c.name,
                "publishedSha256": c.published.as_ref().map(|a| &a.sha256),
                "rebuiltSha256": c.rebuilt.as_ref().map(|a| &a.sha256),
                "normalizations": c.normalizations,
            })
        })
        .collect();
    let r = &report.recipe;
    let mut external = json!({
        "source": {
            "repository": inputs.repository,
            "tag": report.tag,
        },
        // The one recipe schema (reprove-build-types), as the verifier reads it back.
        "recipe": r,
    });
    if let (Some(name), Value::Object(m)) = (&inputs.project, &mut external) {
        m.insert("project".into(), json!({ "name": name }));
    }
    // A recipe from outside the tag is said to be one: its origin and the sha256 of its bytes.
    if let (Some(e), Value::Object(m)) = (&report.external_recipe, &mut external) {
        m.insert(
            "externalRecipe".into(),
            json!({ "origin": e.origin, "sha256": e.sha256 }),
        );
    }
    let c = &report.conditions;
    let mut internal = json!({
        "sourceDateEpoch": report.source_date_epoch,
        "environment": c.environment,
        "buildPath": c.build_path,
        "hostname": c.hostname,
        "umask": c.umask,
        "network": report.network,
        "readOnlyRootFilesystem": true,
        "engine": engine_record(&report.engine, &report.engine_version, &report.engine_site),
        "imageId": report.image_id,
    });
    if let (false, Value::Object(m)) = (equivalence.is_empty(), &mut internal) {
        m.insert("equivalence".into(), Value::Array(equivalence));
    }
    // The fetch phase: the one step with a network, recorded as it ran (its network, the CA
    // bundle offered, whether the allowed hosts were enforced), and the store it produced.
    if let (Some(f), Value::Object(m)) = (&report.fetch, &mut internal) {
        m.insert(
            "fetch".into(),
            json!({
                "network": f.network,
                "allowedHosts": r.fetch.as_ref().map(|x| x.allow.clone()).unwrap_or_default(),
                "allowedHostsEnforced": f.allow_enforced,

                "caBundleSha256": f.ca_bundle_sha256,
                "fromCache": f.from_cache,
                "lockfiles": f.lockfiles,
                "storeSha256": f.store_sha256,
                "files": f.files,
                "metadataFiles": f.metadata_files,
                "droppedFiles": f.dropped_files,
            }),
        );
        // What reprove's egress proxy saw, when one served the fetch: the hosts asked for
        // through it (a process that bypasses the proxy is not in it), and how many requests
        // went to hosts past the most it names.
        if let (Some(hosts), Some(Value::Object(fm))) = (&f.hosts_contacted, m.get_mut("fetch")) {
            fm.insert("hostsContacted".into(), json!(hosts));
            if f.hosts_not_named > 0 {
                fm.insert("hostsNotNamed".into(), json!(f.hosts_not_named));
            }
        }
    }
    let mut deps = Vec::new();
    let mut source = ResourceDescriptor::named("source", "gitCommit", &report.commit);
    source.uri = source_uri(inputs.repository.as_deref(), &report.tag);
    deps.push(source);
    deps.push(ResourceDescriptor::named(
        "source.tar",
        "sha256",
        &report.source_archive_sha256,
    ));
    if let Some(d) = r.image.digest() {
        let mut image = ResourceDescriptor::named("build-image", d.algorithm().as_str(), &d.hex());
        image.uri = Some(r.image.purl());
        deps.push(image);
    }
    for (path, sha) in &inputs.lockfiles {
        deps.push(ResourceDescriptor::named(path.clone(), "sha256", sha));
    }
    // What the build was given besides its tree and image: the checked store (its digest is
    // the sha256 of its `sha256sum` listing) and every package in it, by purl — the set the
    // verifier's `soup-closure` check holds against the SOUP register.
    if let (Some(f), Some(fr)) = (&report.fetch, &r.fetch) {
        let mut store = ResourceDescriptor::named(FETCH_STORE, "sha256", &f.store_sha256);
        store.annotations = Some([("path".to_owned(), json!(fr.store))].into_iter().collect());
        deps.push(store);
        for p in &f.packages {
            let mut d = ResourceDescriptor::named(p.purl.clone(), "sha256", &p.sha256);
            // npm locks a package by sha512: that digest too, for the SOUP register to match.
            if let Some(sha512) = &p.sha512 {
                d.digest.insert("sha512".into(), sha512.clone());
            }
            d.name = None;
            d.uri = Some(p.purl.clone());
            let mut a = serde_json::Map::new();
            a.insert("role".into(), json!(FETCHED_DEPENDENCY));
            a.insert("lockfiles".into(), json!(p.lockfiles));
            a.insert("storePath".into(), json!(p.path));
            if let Some(dl) = &p.download {
                a.insert("downloadLocation".into(), json!(dl));
            }
            d.annotations = Some(a);
            deps.push(d);
        }
    }
    let mut version = BTreeMap::new();
    version.insert("reprove".to_owned(), env!("CARGO_PKG_VERSION").to_owned());
    version.insert(report.engine.clone(), report.engine_version.clone());
    let predicate = Provenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.to_owned(),
            external_parameters: to_map(external),
            internal_parameters: to_map(internal),
            resolved_dependencies: deps,
        },
        run_details: RunDetails {
            builder: Builder {
                id: BUILDER_ID.to_owned(),
                version,
                builder_dependencies: Vec::new(),
            },
            metadata: Some(BuildMetadata {
                invocation_id: Some(inputs.invocation_id.clone()),
                started_on: Some(report.started_on.clone()),
                finished_on: Some(report.finished_on.clone()),
            }),
            byproducts: inputs.byproducts.clone(),
        },
    };
    let st = Statement::new(subject, PROVENANCE_V1, predicate);
    st.validate()
        .map_err(|source| ReleaseError::Statement { source })?;
    Ok(st)
}

/// The read side of reprove's provenance: the parts a verifier compares, parsed once into
/// types (the writer above stays write-only, so the signed bytes never depend on a round
/// trip). Unknown members are ignored, so provenance from other reprove versions reads.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ProvenanceView {
    #[serde(default)]
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: ProvenancePredicateView,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenancePredicateView {
    pub build_definition: BuildDefinitionView,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinitionView {
    pub build_type: String,
    #[serde(default)]
    pub external_parameters: ExternalView,
    #[serde(default)]
    pub internal_parameters: InternalView,
    #[serde(default)]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// `externalParameters`: what the user controls through `reprove.toml`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ExternalView {
    #[serde(default)]
    pub source: Option<SourceView>,
    /// The recipe as attested; read into a [`Recipe`](reprove_build::Recipe) by
    /// [`ProvenanceView::recipe`].
    #[serde(default)]
    pub recipe: Option<Value>,
    #[serde(default)]
    pub project: Option<ProjectNameView>,
    /// Set when the recipe came from outside the tag (`rebuild --recipe`).
    #[serde(default, rename = "externalRecipe")]
    pub external_recipe: Option<Value>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SourceView {
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ProjectNameView {
    #[serde(default)]
    pub name: Option<String>,
}

/// `internalParameters`: how the build ran. Kept as JSON values: a verifier compares each
/// with what the baseline fixes and prints both as recorded.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InternalView {
    #[serde(default)]
    pub network: Option<Value>,
    #[serde(default)]
    pub read_only_root_filesystem: Option<Value>,
    #[serde(default)]
    pub build_path: Option<Value>,
    #[serde(default)]
    pub hostname: Option<Value>,
    #[serde(default)]
    pub umask: Option<Value>,
    #[serde(default)]
    pub source_date_epoch: Option<Value>,
    #[serde(default)]
    pub environment: Option<Value>,
    /// The fetch phase, when the build had one.
    #[serde(default)]
    pub fetch: Option<Value>,
    /// Artifacts attested as equivalent to the rebuilt ones, not bit for bit.
    #[serde(default)]
    pub equivalence: Option<Value>,
}

/// The equivalence records of a provenance statement; none when it does not read as reprove's.
pub fn equivalences_of(provenance: &Value) -> Vec<EquivalenceView> {
    ProvenanceView::from_value(provenance)
        .ok()
        .and_then(|v| {
            v.predicate
                .build_definition
                .internal_parameters
                .equivalences()
                .ok()
        })
        .unwrap_or_default()
}

/// One artifact attested as equivalent (`internalParameters.equivalence`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EquivalenceView {
    pub artifact: String,
    pub published_sha256: String,
    pub rebuilt_sha256: String,
    pub normalizations: Vec<reprove_build_types::Normalization>,
}

impl InternalView {
    /// The equivalence records; `Err` when they do not read as reprove writes them.
    pub fn equivalences(&self) -> Result<Vec<EquivalenceView>, String> {
        match &self.equivalence {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string()),
        }
    }
}

impl InternalView {
    /// The recorded value of an internal parameter by its provenance key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match key {
            "network" => self.network.as_ref(),
            "readOnlyRootFilesystem" => self.read_only_root_filesystem.as_ref(),
            "buildPath" => self.build_path.as_ref(),
            "hostname" => self.hostname.as_ref(),
            "umask" => self.umask.as_ref(),
            "sourceDateEpoch" => self.source_date_epoch.as_ref(),
            "environment" => self.environment.as_ref(),
            _ => None,
        }
    }
}

impl ProvenanceView {
    /// Reads a provenance statement (the JSON value of a verified payload).
    pub fn from_value(v: &Value) -> Result<ProvenanceView, String> {
        let view: ProvenanceView = serde::Deserialize::deserialize(v).map_err(|e| e.to_string())?;
        if view.predicate_type != PROVENANCE_V1 {
            return Err(format!(
                "not SLSA provenance v1 (predicate type `{}`)",
                view.predicate_type
            ));
        }
        Ok(view)
    }

    /// The recipe the provenance attests, with the schema a rebuild uses.
    pub fn recipe(&self) -> Result<reprove_build::Recipe, String> {
        let raw = self
            .predicate
            .build_definition
            .external_parameters
            .recipe
            .as_ref()
            .ok_or("no recipe in `externalParameters`")?;
        serde_json::from_value(raw.clone()).map_err(|e| e.to_string())
    }

    /// The digest of a resolved dependency (`source` → `gitCommit`).
    pub fn dependency_digest(&self, name: &str, algorithm: &str) -> Option<&str> {
        self.predicate
            .build_definition
            .resolved_dependencies
            .iter()
            .find(|d| d.name.as_deref() == Some(name))?
            .digest
            .get(algorithm)
            .map(String::as_str)
    }

    /// The release it is for (`externalParameters.source.tag`).
    pub fn tag(&self) -> Option<&str> {
        self.external().source.as_ref()?.tag.as_deref()
    }

    /// The product it names (`externalParameters.project.name`).
    pub fn project(&self) -> Option<&str> {
        self.external().project.as_ref()?.name.as_deref()
    }

    /// The repository it says it was built from (`externalParameters.source.repository`).
    pub fn repository(&self) -> Option<&str> {
        self.external().source.as_ref()?.repository.as_deref()
    }

    /// The `uri` of the `source` dependency (what a VSA's `resourceUri` comes from).
    pub fn source_uri(&self) -> Option<&str> {
        self.predicate
            .build_definition
            .resolved_dependencies
            .iter()
            .find(|d| d.name.as_deref() == Some("source"))?
            .uri
            .as_deref()
    }

    fn external(&self) -> &ExternalView {
        &self.predicate.build_definition.external_parameters
    }

    /// The lockfiles the fetched store was checked against (`None`: the build fetched
    /// nothing).
    pub fn fetched_lockfiles(&self) -> Option<BTreeSet<String>> {
        let fetch = self
            .predicate
            .build_definition
            .internal_parameters
            .fetch
            .as_ref()?;
        Some(
            fetch
                .get("lockfiles")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// The resolved dependencies marked as fetched (role `fetched-dependency`).
    fn fetched_entries(&self) -> impl Iterator<Item = &ResourceDescriptor> {
        self.predicate
            .build_definition
            .resolved_dependencies
            .iter()
            .filter(|d| {
                d.annotations
                    .as_ref()
                    .and_then(|a| a.get("role"))
                    .and_then(Value::as_str)
                    == Some(FETCHED_DEPENDENCY)
            })
    }

    /// How many resolved dependencies say they were fetched but carry no purl or no sha256.
    pub fn malformed_fetched(&self) -> usize {
        self.fetched_entries()
            .filter(|d| d.uri.is_none() || !d.digest.contains_key("sha256"))
            .count()
    }

    /// Every fetched package: purl → the digests (algorithm → hex) of each file of it the
    /// build was given (a Python requirement may come as a wheel and an sdist; an npm package
    /// carries its sha512 beside the sha256).
    pub fn fetched_packages(&self) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
        let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for d in self
            .fetched_entries()
            .filter(|d| d.digest.contains_key("sha256"))
        {
            if let Some(purl) = &d.uri {
                out.entry(purl.clone())
                    .or_default()
                    .push(d.digest.clone().into_iter().collect());
            }
        }
        out
    }

    /// The artifacts attested: name → sha256.
    pub fn subjects(&self) -> BTreeMap<String, String> {
        self.subject
            .iter()
            .filter_map(|s| Some((s.name.clone()?, s.digest.get("sha256")?.clone())))
            .collect()
    }
}

/// The engine as the provenance records it: its name and version, and — when it says — how the
/// files reached it (`mount`, `copy`) and where its daemon is (address without credentials,
/// the daemon's own name and id), so a rebuild on a remote engine says which one.
fn engine_record(name: &str, version: &str, site: &reprove_build::EngineSite) -> Value {
    let mut e = json!({
        "name": name,
        "version": version,
    });
    if let Value::Object(m) = &mut e {
        if !site.transfer.is_empty() {
            m.insert("transfer".into(), json!(site.transfer));
        }
        if let Some(endpoint) = &site.endpoint {
            m.insert("endpoint".into(), json!(endpoint));
        }
        if let Some(daemon) = &site.daemon {
            m.insert("daemon".into(), json!(daemon));
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_engine_is_named_in_the_provenance_and_a_local_one_as_before() {
        // As before the engine's site was recorded: a report made then verifies the same.
        assert_eq!(
            engine_record("docker", "26.1", &Default::default()),
            json!({"name": "docker", "version": "26.1"})
        );
        let site = reprove_build::EngineSite {
            transfer: "copy".into(),
            endpoint: Some("tcp://10.0.0.2:2375".into()),
            daemon: Some("builder 7QXZ:ABCD".into()),
        };
        assert_eq!(
            engine_record("docker", "26.1", &site),
            json!({
                "name": "docker",
                "version": "26.1",
                "transfer": "copy",
                "endpoint": "tcp://10.0.0.2:2375",
                "daemon": "builder 7QXZ:ABCD",
            })
        );
    }

    #[test]
    fn invocation_ids_are_v4_uuids() {
        let a = invocation_id();
        let b = invocation_id();
        assert_ne!(a, b);
        let u = a.strip_prefix("urn:uuid:").unwrap();
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
    }

    #[test]
    fn source_uris_follow_slsa() {
        assert_eq!(
            source_uri(Some("https://example.com/x.git"), "v1").as_deref(),
            Some("git+https://example.com/x.git@refs/tags/v1")
        );
        assert_eq!(source_uri(None, "v1"), None);
        // Only URIs, never a path of the releasing machine, never a credential.
        for (raw, want) in [
            (
                "https://github.com/acme/app.git",
                Some("https://github.com/acme/app.git"),
            ),
            (
                "https://user:ghp_secret@github.com/acme/app",
                Some("https://github.com/acme/app"),
            ),
            (
                "git@github.com:acme/app.git",
                Some("ssh://git@github.com/acme/app.git"),
            ),
            (
                "ssh://git@host:2222/x.git",
                Some("ssh://git@host:2222/x.git"),
            ),
            ("ssh://git:pw@host/x.git", Some("ssh://host/x.git")),
            ("git+https://host/x", Some("https://host/x")),
            ("/home/ada/src/app", None),
            ("../app", None),
            ("file:///home/ada/app", None),
            ("https://host/x y", None),
            ("https://host?x@evil.example/r", None),
            ("https://host/r?private_token=s3cret", None),
            ("https://host#@evil.example/r", None),
            ("C:/Users/ada/app", None),
            ("git@[::1]:x", None),
        ] {
            assert_eq!(repository_uri(raw).as_deref(), want, "{raw}");
        }
    }
}
