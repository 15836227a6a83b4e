//! Evidence kept in an OCI registry, beside the images and attestations an organisation
//! already keeps there (cosign, GitHub, Tekton Chains).
//!
//! One release is one OCI 1.1 artifact (image-spec `manifest.md`, "Guidelines for Artifact
//! Usage"): an image manifest whose `artifactType` is [`EVIDENCE_ARTIFACT_TYPE`], whose config
//! is the empty descriptor, and whose layers are the files of the evidence folder, each named
//! by `org.opencontainers.image.title` (so `oras pull` writes the same folder). It is tagged
//! with the release tag ([`oci_tag`]). Each Sigstore bundle of the folder is also attached to
//! that manifest as a referrer with the bundle media type
//! (`application/vnd.dev.sigstore.bundle.v0.3+json`) and the annotations cosign and
//! `@sigstore/oci` write, so `oras discover` and `cosign tree` list them; where the registry
//! has no referrers API (Distribution 2.8) the fallback tag `sha256-<hex>` is kept.
//!
//! Nothing read from a registry is trusted: every blob is checked against its digest and the
//! size its manifest gives, file names must be plain relative paths, counts and sizes are
//! bounded, and the pulled folder is placed only when complete. What it proves is decided by
//! `verify`, which checks the pulled folder against its own signed index exactly as it
//! checks a local one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use reprove_digest::{Digest, sha256_bytes};
use reprove_oci::ImageRef;
use reprove_oci::registry::{Descriptor, OCI_MANIFEST, RegistryClient, RegistryError};
use serde::Deserialize;

use crate::ReleaseError;
use crate::evidence;

/// `artifactType` of a release's evidence manifest.
pub const EVIDENCE_ARTIFACT_TYPE: &str = "application/vnd.dev.reprove.evidence.v1+json";
/// The Sigstore bundle media type (protobuf-specs `MediaType`), as cosign and `@sigstore/oci`
/// give it to attached bundles.
pub const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The empty config of an artifact (image-spec "Guidance for an Empty Descriptor").
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_JSON: &[u8] = b"{}";
/// A layer's file name (image-spec `annotations.md`), which ORAS also reads.
pub const TITLE: &str = "org.opencontainers.image.title";
const CREATED: &str = "org.opencontainers.image.created";
/// The release tag, commit and outcome, for people browsing a registry; never trusted (the
/// signed index says them again and `verify` reads only that).
pub const ANNOTATION_TAG: &str = "dev.reprove.release.tag";
pub const ANNOTATION_COMMIT: &str = "dev.reprove.release.commit";
pub const ANNOTATION_OUTCOME: &str = "dev.reprove.release.outcome";
/// The annotations cosign (`--new-bundle-format`) and `@sigstore/oci` put on an attached
/// bundle.
pub const BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
pub const BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";

/// Files of one release's evidence read from a registry at most.
pub const MAX_FILES: usize = 10_000;
/// One file at most (rebuilt artifacts are kept when they differ, so this is not small).
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// All the files of one release at most.
pub const MAX_TOTAL_BYTES: u64 = 16 << 30;
/// Blobs moved at once: enough to hide a registry's latency, few enough to be polite.
pub const CONCURRENCY: usize = 8;

/// Where evidence lives in a registry: `oci://REGISTRY/REPOSITORY`, optionally with one
/// release's `:TAG` or `@DIGEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRepo {
    image: ImageRef,
}

/// The scheme that says "a registry", not a folder.
pub const SCHEME: &str = "oci://";

/// `oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]` read as a reference — the one reading of
/// registry locations, for evidence and for images. The registry is always named, never
/// Docker Hub by default: something pushed to or read from the wrong place is worse than a
/// usage error. The error is the reason, for the caller's own error.
pub(crate) fn parse_oci_location(s: &str) -> Result<ImageRef, String> {
    let rest = s
        .strip_prefix(SCHEME)
        .ok_or_else(|| format!("a registry location starts with `{SCHEME}`"))?;
    let first = rest.split('/').next().unwrap_or_default();
    if !rest.contains('/') || !(first.contains('.') || first.contains(':') || first == "localhost")
    {
        return Err(
            "name the registry host and the repository: oci://REGISTRY/REPOSITORY".to_owned(),
        );
    }
    rest.parse()
        .map_err(|e: reprove_oci::OciError| e.to_string())
}

/// Writes `image` back as `oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]`.
pub(crate) fn show_oci_location(image: &ImageRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{SCHEME}{}", image.name())?;
    if let Some(t) = image.tag() {
        write!(f, ":{t}")?;
    }
    if let Some(d) = image.digest() {
        write!(f, "@{d}")?;
    }
    Ok(())
}

impl FromStr for EvidenceRepo {
    type Err = ReleaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let image = parse_oci_location(s).map_err(|reason| ReleaseError::BadEvidenceLocation {
            location: s.to_owned(),
            reason,
        })?;
        Ok(EvidenceRepo { image })
    }
}

impl fmt::Display for EvidenceRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        show_oci_location(&self.image, f)
    }
}

impl EvidenceRepo {
    /// The repository (its tag and digest are ignored by the transfer calls).
    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    /// `oci://REGISTRY/REPOSITORY`, without a release.
    pub fn repository(&self) -> String {
        format!("{SCHEME}{}", self.image.name())
    }

    /// Whether a release (`:TAG` or `@DIGEST`) is named.
    pub fn names_release(&self) -> bool {
        self.image.tag().is_some() || self.image.digest().is_some()
    }

    /// The manifest reference of `release`'s evidence: the location's digest or tag when it
    /// names one, else the release tag's OCI tag.
    pub fn reference(&self, release: Option<&str>) -> Result<String, ReleaseError> {
        if let Some(d) = self.image.digest() {
            return Ok(d.to_string());
        }
        if let Some(t) = self.image.tag() {
            return Ok(t.to_owned());
        }
        match release {
            Some(tag) => Ok(oci_tag(tag)),
            None => Err(ReleaseError::BadEvidenceLocation {
                location: self.to_string(),
                reason: "name the release: oci://REGISTRY/REPOSITORY:TAG".to_owned(),
            }),
        }
    }
}

/// Where `verify`, `report` and `status` read evidence from: a folder or a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceSource {
    Folder(PathBuf),
    Registry(EvidenceRepo),
}

impl FromStr for EvidenceSource {
    type Err = ReleaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with(SCHEME) {
            s.parse().map(EvidenceSource::Registry)
        } else {
            Ok(EvidenceSource::Folder(PathBuf::from(s)))
        }
    }
}

/// The OCI tag of a release tag (distribution-spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`):
/// the tag itself when it is one; otherwise each other character becomes `-` (`release/1.0`
/// → `release-1.0`), a leading `.` or `-` gets a `_` before it, and the result is cut to 128
/// characters. Two git tags can share an OCI tag this way; the evidence's signed index names
/// its own tag, so `verify` tells them apart (`wrong-release`) and `push` refuses to replace
/// one with the other.
pub fn oci_tag(tag: &str) -> String {
    let mut t: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        t.insert(0, '_');
    }
    t.truncate(128);
    t
}

/// Whether an OCI tag is a referrers fallback tag (`<alg>-<hex>`), not a release.
pub fn is_fallback_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(alg, hex)| {
        matches!(alg, "sha256" | "sha512")
            && hex.len() == 64
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `oci://REGISTRY/REPOSITORY:TAG@sha256:…`.
    pub reference: String,
    pub manifest: Digest,
    pub files: usize,
    pub bytes: u64,
    /// The registry already held this exact evidence under the tag.
    pub unchanged: bool,
    /// The bundles attached as referrers.
    pub referrers: Vec<Descriptor>,
}

fn registry_error(
    action: &str,
    location: &str,
) -> impl FnOnce(RegistryError) -> ReleaseError + use<> {
    let (action, location) = (action.to_owned(), location.to_owned());
    move |source| ReleaseError::Registry {
        action,
        location,
        source: Box::new(source),
    }
}

/// The media type a file of the folder is pushed with: bundles as bundles, JSON as JSON, text
/// as text; anything else as bytes.
fn media_type(path: &str, bytes: &[u8]) -> String {
    if path.ends_with(".sigstore.json") {
        // The bundle's own media type when it says one (a v0.2 bundle stays v0.2).
        #[derive(Deserialize)]
        struct Head {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
        }
        if let Ok(Head {
            media_type: Some(mt),
        }) = serde_json::from_slice::<Head>(bytes)
            && reprove_attest::bundle::parse_media_type(&mt).is_some()
            && !mt.contains(';')
        {
            return mt;
        }
        return SIGSTORE_BUNDLE.to_owned();
    }
    match path.rsplit('.').next() {
        Some("json") => "application/json",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("log" | "txt") => "text/plain",
        Some("toml") => "application/toml",
        Some("html") => "text/html",
        _ => "application/octet-stream",
    }
    .to_owned()
}

/// The predicate type a DSSE bundle's statement names, for the referrer's annotation (a
/// label for browsing, never trusted).
fn predicate_type(bundle: &[u8]) -> Option<String> {
    let parsed = reprove_attest::bundle::ParsedBundle::parse(bundle).ok()?;
    let reprove_attest::bundle::Content::Dsse(env) = parsed.content else {
        return None;
    };
    let v: serde_json::Value = serde_json::from_slice(&env.payload).ok()?;
    v.get("predicateType")?.as_str().map(str::to_owned)
}

fn empty_descriptor() -> serde_json::Value {
    serde_json::json!({
        "mediaType": EMPTY_CONFIG,
        "digest": sha256_bytes(EMPTY_JSON).to_string(),
        "size": EMPTY_JSON.len(),
    })
}

/// Runs `work` over `items` on at most `concurrency` threads; the first error wins.
fn bounded<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    work: impl Fn(&T) -> Result<R, ReleaseError> + Sync,
) -> Result<Vec<R>, ReleaseError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let failed: Mutex<Option<ReleaseError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..concurrency.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    match work(item) {
                        Ok(r) => {
                            if let Ok(mut all) = results.lock() {
                                all[i] = Some(r);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(e);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .map(|v| v.into_iter().flatten().collect())
        .unwrap_or_default())
}

/// Pushes the evidence folder `dir` to `to` (a repository: the tag comes from the folder's
/// `index.json`). A tag that already holds other evidence is replaced only with `force`;
/// the same evidence again changes nothing. Blobs first, then the manifest under the tag,
/// then the bundles as its referrers.
pub fn push(
    client: &RegistryClient,
    dir: &Path,
    to: &EvidenceRepo,
    force: bool,
) -> Result<Pushed, ReleaseError> {
    if to.names_release() {
        return Err(ReleaseError::BadEvidenceLocation {
            location: to.to_string(),
            reason:
                "push to a repository (oci://REGISTRY/REPOSITORY): the tag comes from the evidence"
                    .to_owned(),
        });
    }
    let index = evidence::read_index(dir)?;
    let entries = evidence::scan(dir)?;
    if !entries.iter().any(|e| e.path == evidence::SIGNED_INDEX) {
        return Err(ReleaseError::Malformed {
            path: dir.join(evidence::SIGNED_INDEX),
            reason: "missing: only signed evidence is pushed".to_owned(),
        });
    }
    if entries.len() > MAX_FILES {
        return Err(ReleaseError::Malformed {
            path: dir.to_owned(),
            reason: format!("more than {MAX_FILES} files"),
        });
    }
    let repo = to.image();
    let tag = oci_tag(&index.tag);
    let location = format!("{}:{tag}", to.repository());
    let err = |action: &str| registry_error(action, &location);

    // Each file's blob, in parallel; the bytes are read in the worker so at most
    // CONCURRENCY files are in memory.
    let layers = bounded(&entries, CONCURRENCY, |e| {
        let path = dir.join(&e.path);
        let bytes = reprove_digest::read_regular(&path, MAX_FILE_BYTES).map_err(|source| {
            ReleaseError::Evidence {
                path: path.clone(),
                source,
            }
        })?;
        let digest = client
            .push_blob(repo, &bytes)
            .map_err(err(&format!("push `{}`", e.path)))?;
        Ok((
            e.path.clone(),
            media_type(&e.path, &bytes),
            digest,
            bytes.len() as u64,
            e.path
                .ends_with(".sigstore.json")
                .then(|| predicate_type(&bytes))
                .flatten(),
        ))
    })?;
    client
        .push_blob(repo, EMPTY_JSON)
        .map_err(err("push the empty config"))?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": EVIDENCE_ARTIFACT_TYPE,
        "config": empty_descriptor(),
        "layers": layers.iter().map(|(path, mt, digest, size, _)| serde_json::json!({
            "mediaType": mt,
            "digest": digest.to_string(),
            "size": size,
            "annotations": { TITLE: path },
        })).collect::<Vec<_>>(),
        "annotations": {
            CREATED: index.created_on,
            ANNOTATION_TAG: index.tag,
            ANNOTATION_COMMIT: index.commit,
            ANNOTATION_OUTCOME: index.outcome.as_str(),
        },
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| ReleaseError::Malformed {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    let digest = sha256_bytes(&bytes);
    let existing = client
        .get_manifest(repo, &tag)
        .map_err(err("read the tag's current evidence"))?;
    let unchanged = existing.as_ref().is_some_and(|m| m.digest == digest);
    match &existing {
        Some(m) if !unchanged && !force => {
            return Err(ReleaseError::EvidenceInRegistry {
                location: location.clone(),
                existing: m.digest.to_string(),
            });
        }
        _ => {}
    }
    if !unchanged {
        client
            .push_manifest(repo, &tag, OCI_MANIFEST, &bytes)
            .map_err(err("push the evidence manifest"))?;
    }
    // Every top-level bundle as a referrer of the evidence manifest.
    let mut referrers = Vec::new();
    for (path, mt, blob, size, predicate) in &layers {
        if path.contains('/') || !path.ends_with(".sigstore.json") {
            continue;
        }
        let m = bundle_referrer(
            &digest,
            bytes.len() as u64,
            mt,
            blob,
            *size,
            predicate.as_deref(),
            &index.created_on,
        )
        .map_err(|e| ReleaseError::Malformed {
            path: dir.join(path),
            reason: e.to_string(),
        })?;
        referrers.push(
            client
                .push_referrer(repo, &digest, OCI_MANIFEST, &m)
                .map_err(err(&format!("attach `{path}`")))?,
        );
    }
    Ok(Pushed {
        reference: format!("{location}@{digest}"),
        manifest: digest,
        files: layers.len(),
        bytes: layers.iter().map(|l| l.3).sum(),
        unchanged,
        referrers,
    })
}

/// The manifest that attaches one of a release's own bundles to its evidence manifest
/// (`subject`, `subject_size`), as cosign and `@sigstore/oci` attach theirs: deterministic, so
/// a push again changes nothing and a pull knows the release's own referrers without reading
/// them.
fn bundle_referrer(
    subject: &Digest,
    subject_size: u64,
    media_type: &str,
    blob: &Digest,
    size: u64,
    predicate: Option<&str>,
    created: &str,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut annotations = BTreeMap::new();
    annotations.insert(CREATED, created);
    annotations.insert(BUNDLE_CONTENT, "dsse-envelope");
    if let Some(p) = predicate {
        annotations.insert(BUNDLE_PREDICATE_TYPE, p);
    }
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": media_type,
        "config": empty_descriptor(),
        "layers": [{ "mediaType": media_type, "digest": blob.to_string(), "size": size }],
        "subject": {
            "mediaType": OCI_MANIFEST,
            "digest": subject.to_string(),
            "size": subject_size,
        },
        "annotations": annotations,
    }))
}

/// One file of a pulled manifest.
#[derive(Debug, Clone)]
struct Layer {
    path: String,
    media_type: String,
    digest: Digest,
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    layers: Vec<RawLayer>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawLayer {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A file name from a manifest as a path inside the evidence folder: `/`-separated parts,
/// none empty, `.` or `..`, no control characters or backslashes, no deeper than an evidence
/// folder goes.
fn safe_path(title: &str) -> Result<String, String> {
    if title.is_empty() || title.len() > 1024 {
        return Err("an empty or overlong file name".to_owned());
    }
    let parts: Vec<&str> = title.split('/').collect();
    if parts.len() > evidence::MAX_DEPTH {
        return Err(format!("`{title}` is nested too deep"));
    }
    for p in &parts {
        if p.is_empty() || *p == "." || *p == ".." {
            return Err(format!(
                "`{}` is not a plain relative path",
                reprove_escape::terminal(title)
            ));
        }
        if p.chars().any(|c| c.is_control() || c == '\\') {
            return Err(format!(
                "`{}` has a control character or a backslash",
                reprove_escape::terminal(title)
            ));
        }
    }
    Ok(title.to_owned())
}

/// The files a manifest lists, checked: an evidence artifact, every layer named once by a safe
/// path, no file where another one needs a folder, the counts and sizes bounded.
fn layers_of(
    bytes: &[u8],
    location: &str,
) -> Result<(Vec<Layer>, BTreeMap<String, String>), ReleaseError> {
    let not = |reason: String| ReleaseError::NotEvidence {
        location: location.to_owned(),
        reason,
    };
    let raw: RawManifest = reprove_attest::json::from_slice(bytes)
        .map_err(|e| not(format!("its manifest does not read: {e}")))?;
    if raw.media_type.as_deref() != Some(OCI_MANIFEST) {
        return Err(not(format!(
            "its manifest is a `{}`, not an OCI image manifest",
            reprove_escape::terminal(raw.media_type.as_deref().unwrap_or("(no mediaType)"))
        )));
    }
    if raw.artifact_type.as_deref() != Some(EVIDENCE_ARTIFACT_TYPE) {
        return Err(not(format!(
            "its artifactType is `{}`, not `{EVIDENCE_ARTIFACT_TYPE}`",
            reprove_escape::terminal(raw.artifact_type.as_deref().unwrap_or("(none)"))
        )));
    }
    if raw.layers.len() > MAX_FILES {
        return Err(not(format!("more than {MAX_FILES} files")));
    }
    let mut layers = Vec::new();
    let mut paths = BTreeSet::new();
    let mut total = 0u64;
    for l in raw.layers {
        let title = l.annotations.get(TITLE).ok_or_else(|| {
            not(format!(
                "the layer `{}` has no file name ({TITLE})",
                l.digest
            ))
        })?;
        let path = safe_path(title).map_err(&not)?;
        // The signed index names files by sha256: another algorithm cannot match it, and
        // would be read whole to be hashed.
        if l.digest.algorithm() != reprove_digest::Algorithm::Sha256 {
            return Err(not(format!("`{path}` is not named by a sha256 digest")));
        }
        if l.size > MAX_FILE_BYTES {
            return Err(not(format!(
                "`{path}` is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        total = total.saturating_add(l.size);
        if total > MAX_TOTAL_BYTES {
            return Err(not(format!(
                "the files add up to more than {MAX_TOTAL_BYTES} bytes"
            )));
        }
        if !paths.insert(path.clone()) {
            return Err(not(format!("`{path}` is listed twice")));
        }
        layers.push(Layer {
            path,
            media_type: l.media_type,
            digest: l.digest,
            size: l.size,
        });
    }
    // `a` and `a/b` cannot both be files.
    for p in &paths {
        let mut prefix = String::new();
        for part in p.split('/').collect::<Vec<_>>().iter().rev().skip(1).rev() {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if paths.contains(&prefix) {
                return Err(not(format!("`{prefix}` is both a file and a folder")));
            }
        }
    }
    if !paths.contains(evidence::INDEX) || !paths.contains(evidence::SIGNED_INDEX) {
        return Err(not(format!(
            "it has no `{}` or `{}`",
            evidence::INDEX,
            evidence::SIGNED_INDEX
        )));
    }
    Ok((layers, raw.annotations))
}

/// What a pull wrote.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// `oci://REGISTRY/REPOSITORY:TAG@sha256:…` (or `…@sha256:…` when pulled by digest).
    pub reference: String,
    pub manifest: Digest,
    /// The release tag the manifest's annotation names (unverified: `verify` reads the
    /// signed index).
    pub release_tag: Option<String>,
    pub files: usize,
    pub bytes: u64,
    /// Bundles attached to the release as referrers, written as added provenance.
    pub attached: Vec<String>,
    /// Files a gated pull left as placeholders of their size: not vouched for by a verified
    /// signed index ([`Gate`]).
    pub not_downloaded: usize,
}

/// One release's manifest, read and checked, before anything is downloaded.
#[derive(Debug, Clone)]
pub struct Listing {
    /// `oci://REGISTRY/REPOSITORY:TAG` or `…@sha256:…`, as asked.
    pub location: String,
    pub manifest: Digest,
    /// The release tag the manifest's annotation names (unverified: `verify` reads the
    /// signed index).
    pub release_tag: Option<String>,
    layers: Vec<Layer>,
    /// The manifest's size and `org.opencontainers.image.created`: what the release's own
    /// referrers were made from.
    size: u64,
    created: Option<String>,
}

impl Listing {
    /// The folder name this release gets under an evidence root: its release tag when the
    /// annotation names one that parses as a tag and maps to `oci_tag` (so a registry
    /// cannot steer it elsewhere), else the OCI tag itself.
    pub fn folder_name(&self, oci: &str) -> String {
        let plain = |t: &str| {
            !t.is_empty()
                && Path::new(t)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
        };
        match &self.release_tag {
            Some(t)
                if t.parse::<reprove_source::Tag>().is_ok() && plain(t) && oci_tag(t) == oci =>
            {
                t.clone()
            }
            _ => oci.to_owned(),
        }
    }
}

/// `root/<name>` for a release folder named from a registry: `name` must be plain relative
/// parts (a registry's words never reach outside `root`), and no folder between `root` and
/// the target may already be an evidence folder (one release planted inside another).
pub fn folder_under(root: &Path, name: &str) -> Result<PathBuf, ReleaseError> {
    let bad = |reason: &str| ReleaseError::NotEvidence {
        location: name.to_owned(),
        reason: reason.to_owned(),
    };
    // The same rules as a file name from a manifest (`safe_path`), and no hidden parts: a
    // release folder is never `.git` or a staging folder.
    let parts: Vec<&str> = name.split('/').collect();
    if safe_path(name).is_err() || parts.iter().any(|p| p.starts_with('.')) {
        return Err(bad("its folder name is not a plain relative path"));
    }
    let mut at = root.to_path_buf();
    for p in &parts[..parts.len() - 1] {
        at.push(p);
        if at.join(evidence::INDEX).exists() {
            return Err(bad(&format!(
                "its folder would be inside the evidence folder `{}`",
                at.display()
            )));
        }
    }
    Ok(root.join(name))
}

/// Whether `s` is an OCI tag (distribution-spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
pub fn is_oci_tag(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Reads and checks the evidence manifest `reference` (an OCI tag or a manifest digest).
pub fn list(
    client: &RegistryClient,
    from: &EvidenceRepo,
    reference: &str,
) -> Result<Listing, ReleaseError> {
    let sep = if reference.parse::<Digest>().is_ok() {
        '@'
    } else if is_oci_tag(reference) {
        ':'
    } else {
        return Err(ReleaseError::BadEvidenceLocation {
            location: format!("{}:{reference}", from.repository()),
            reason: "not an OCI tag or a digest".to_owned(),
        });
    };
    let location = format!("{}{sep}{reference}", from.repository());
    let manifest = client
        .get_manifest(from.image(), reference)
        .map_err(registry_error("read the evidence manifest", &location))?
        .ok_or_else(|| ReleaseError::NoEvidenceInRegistry {
            location: location.clone(),
        })?;
    let (layers, annotations) = layers_of(&manifest.bytes, &location)?;
    Ok(Listing {
        location,
        manifest: manifest.digest,
        release_tag: annotations.get(ANNOTATION_TAG).cloned(),
        layers,
        size: manifest.bytes.len() as u64,
        created: annotations.get(CREATED).cloned(),
    })
}

/// Pulls one release's evidence (`reference`: an OCI tag or a manifest digest) into the new
/// folder `target`, replacing an existing one only with `force`. Every blob is checked
/// against its digest and size before the folder is placed; with `durable` the folder is on
/// disk (fsync) before it appears, which a temporary copy does without.
pub fn pull(
    client: &RegistryClient,
    from: &EvidenceRepo,
    reference: &str,
    target: &Path,
    force: bool,
    durable: bool,
    gate: Option<&Gate<'_>>,
) -> Result<Pulled, ReleaseError> {
    let listing = list(client, from, reference)?;
    download(
        client,
        from,
        &listing,
        target,
        force,
        CONCURRENCY,
        durable,
        gate,
    )
}

/// What a pull for a verification may download: the release's signed index first, then only
/// what it vouches for. Without a gate (`pull-evidence`, an offline copy) every file comes, up
/// to the bounds of [`list`]; with one, anyone who may push cannot make a verifier download
/// more than the release signer signed.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub signers: &'a [reprove_attest::verify::Signer],
    /// The Sigstore trusted root (JSON) for keyless signers.
    pub root: Option<&'a str>,
}

/// Whether a layer is downloaded, or stands in the folder as a sparse file of its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    Download,
    /// Never read by a verification: a file the signed index does not name, or whose size
    /// is not the signed one, is a finding from its name and size alone.
    Placeholder,
}

/// What to do with each layer, once the signed index (already in `root`) was checked by
/// `gate`. A file the verified index names at its signed size is downloaded (its bytes are
/// bounded by what the signer signed; another digest is then a finding with the real one);
/// `index.json` and added provenance are downloaded up to their documents' bounds; anything
/// else, and everything when the index does not verify, is a placeholder.
fn plan(layers: &[Layer], signed_index: Option<&[u8]>, gate: &Gate<'_>) -> Vec<Fetch> {
    let signed = signed_index
        .and_then(|bytes| crate::verify::signed_index_files(bytes, gate.signers, gate.root));
    layers
        .iter()
        .map(|l| {
            let named = signed.as_ref().and_then(|s| s.get(&l.path));
            let small = l.size <= crate::verify::document_cap(&l.path);
            let fetch = match named {
                _ if l.path == evidence::SIGNED_INDEX => small,
                Some((_, Some(size))) => *size == l.size,
                Some((_, None)) => l.size <= crate::verify::MAX_EVIDENCE_FILE,
                None => {
                    (l.path == evidence::INDEX || crate::verify::is_added_provenance(&l.path))
                        && small
                }
            };
            if fetch {
                Fetch::Download
            } else {
                Fetch::Placeholder
            }
        })
        .collect()
}

/// Downloads one layer into `root`, checked against its digest and size as it streams.
fn fetch_layer(
    client: &RegistryClient,
    repo: &ImageRef,
    location: &str,
    l: &Layer,
    root: &Path,
    fetch: Fetch,
) -> Result<(), ReleaseError> {
    let path = root.join(&l.path);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|source| ReleaseError::Io {
            path: p.to_owned(),
            source,
        })?;
    }
    let io = |source| ReleaseError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    if fetch == Fetch::Placeholder {
        // Sparse: its size costs no disk.
        return file.set_len(l.size).map_err(io);
    }
    let mut out = std::io::BufWriter::new(file);
    let got = client
        .get_blob_to(repo, &l.digest, l.size, &mut out)
        .map_err(registry_error(&format!("pull `{}`", l.path), location))?;
    match got {
        Some(n) if n == l.size => {}
        Some(n) => {
            return Err(ReleaseError::NotEvidence {
                location: location.to_owned(),
                reason: format!("`{}` is {n} bytes, its manifest says {}", l.path, l.size),
            });
        }
        None => {
            return Err(ReleaseError::NotEvidence {
                location: location.to_owned(),
                reason: format!("the registry has no blob `{}` for `{}`", l.digest, l.path),
            });
        }
    }
    out.into_inner().map_err(|e| io(e.into_error()))?;
    Ok(())
}

/// Downloads a listed release into `target`, `concurrency` blobs at a time; with a `gate`,
/// the signed index first and then only what it vouches for ([`Gate`]).
#[allow(clippy::too_many_arguments)]
pub fn download(
    client: &RegistryClient,
    from: &EvidenceRepo,
    listing: &Listing,
    target: &Path,
    force: bool,
    concurrency: usize,
    durable: bool,
    gate: Option<&Gate<'_>>,
) -> Result<Pulled, ReleaseError> {
    let repo = from.image();
    let location = &listing.location;
    // Refuse an existing folder before anything is downloaded.
    let staging = evidence::Staging::create(target, force)?;
    let root = staging.path().to_owned();
    // The signed index, when a gate read it first: not downloaded a second time.
    let mut read_first = None;
    let plan = match gate {
        None => vec![Fetch::Download; listing.layers.len()],
        Some(g) => {
            let index = listing
                .layers
                .iter()
                .find(|l| l.path == evidence::SIGNED_INDEX);
            let signed = match index {
                Some(l) if l.size <= crate::verify::document_cap(&l.path) => {
                    fetch_layer(client, repo, location, l, &root, Fetch::Download)?;
                    read_first = Some(l.path.as_str());
                    let path = root.join(&l.path);
                    Some(std::fs::read(&path).map_err(|source| ReleaseError::Io { path, source })?)
                }
                _ => None,
            };
            plan(&listing.layers, signed.as_deref(), g)
        }
    };
    let plan: Vec<(&Layer, Fetch)> = listing.layers.iter().zip(plan).collect();
    let todo: Vec<&(&Layer, Fetch)> = plan
        .iter()
        .filter(|(l, _)| Some(l.path.as_str()) != read_first)
        .collect();
    bounded(&todo, concurrency, |(l, fetch)| {
        fetch_layer(client, repo, location, l, &root, *fetch)
    })?;
    // What came for real: every layer not a placeholder (the signed index read first too).
    let downloaded: BTreeSet<&str> = plan
        .iter()
        .filter(|(_, f)| *f == Fetch::Download)
        .map(|(l, _)| l.path.as_str())
        .collect();
    let skipped = plan.len() - downloaded.len();
    let bytes = plan
        .iter()
        .filter(|(_, f)| *f == Fetch::Download)
        .map(|(l, _)| l.size)
        .sum();
    let attached = attached_bundles(client, from, listing, &root, &downloaded, gate.is_some())?;
    staging.place(durable)?;
    Ok(Pulled {
        reference: format!(
            "{}@{}",
            location.split('@').next().unwrap_or(location),
            listing.manifest
        ),
        manifest: listing.manifest.clone(),
        release_tag: listing.release_tag.clone(),
        files: listing.layers.len(),
        bytes,
        attached,
        not_downloaded: skipped,
    })
}

/// Bundles attached to a release after it was made read at most (another rebuilder's
/// provenance, attached with `@sigstore/oci`, cosign or `reprove push-evidence`).
pub const MAX_ATTACHED: usize = 64;

/// The name an attached bundle gets in the pulled folder: where `verify` looks for other
/// rebuilders' provenance (`provenance-*.sigstore.json`), named by its manifest.
fn attached_name(manifest: &Digest) -> String {
    format!("provenance-oci-{}.sigstore.json", &manifest.hex()[..16])
}

/// Writes the Sigstore bundles attached to the release's manifest as referrers — other than
/// the release's own — into `root` as added provenance, which `verify` counts only when one
/// of the given rebuilders signed it for this release. Each referrer is read by digest and
/// must name this manifest as its subject and hold exactly one bundle layer; one that does not
/// is skipped (anyone who may push can attach anything, and must not hide the others).
fn attached_bundles(
    client: &RegistryClient,
    from: &EvidenceRepo,
    listing: &Listing,
    root: &Path,
    downloaded: &BTreeSet<&str>,
    gated: bool,
) -> Result<Vec<String>, ReleaseError> {
    #[derive(Deserialize)]
    struct Referrer {
        subject: Option<Subject>,
        layers: Vec<ReferrerLayer>,
    }
    #[derive(Deserialize)]
    struct Subject {
        digest: Digest,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ReferrerLayer {
        media_type: String,
        digest: Digest,
        size: u64,
    }
    let repo = from.image();
    let found = client
        .referrers(repo, &listing.manifest, None)
        .map_err(registry_error(
            "list the bundles attached",
            &listing.location,
        ))?;
    let own: BTreeSet<&Digest> = listing.layers.iter().map(|l| &l.digest).collect();
    let is_bundle = |t: &str| t.starts_with("application/vnd.dev.sigstore.bundle");
    // The release's own referrers, made again from what was pulled: not read a second time.
    // Only files downloaded (a placeholder is never read), and each within a bundle's bound.
    let created = listing.created.as_deref();
    let own_referrers: BTreeSet<Digest> = listing
        .layers
        .iter()
        .filter(|l| !l.path.contains('/') && l.path.ends_with(".sigstore.json"))
        .filter(|l| downloaded.contains(l.path.as_str()))
        .filter(|l| l.size <= reprove_attest::signed::MAX_BUNDLE_BYTES && created.is_some())
        .filter_map(|l| {
            let bytes = reprove_digest::file::read_regular(
                &root.join(&l.path),
                reprove_attest::signed::MAX_BUNDLE_BYTES,
            )
            .ok()?;
            let m = bundle_referrer(
                &listing.manifest,
                listing.size,
                &l.media_type,
                &l.digest,
                l.size,
                predicate_type(&bytes).as_deref(),
                created?,
            )
            .ok()?;
            Some(sha256_bytes(&m))
        })
        .collect();
    // A verification reads at most `MAX_ADDED_PROVENANCE` added provenance files, each within
    // a document's bound: a gated pull fetches no more than that, nor larger.
    let (most, largest) = if gated {
        let listed = listing
            .layers
            .iter()
            .filter(|l| crate::verify::is_added_provenance(&l.path))
            .count();
        (
            crate::verify::MAX_ADDED_PROVENANCE
                .saturating_sub(listed)
                .min(MAX_ATTACHED),
            crate::verify::document_cap(evidence::PROVENANCE),
        )
    } else {
        (MAX_ATTACHED, reprove_attest::signed::MAX_BUNDLE_BYTES)
    };
    let mut written = Vec::new();
    for d in found
        .iter()
        .filter(|d| d.artifact_type.as_deref().is_some_and(is_bundle))
        .filter(|d| !own_referrers.contains(&d.digest))
        .take(most)
    {
        let Ok(Some(m)) = client.get_manifest(repo, &d.digest.to_string()) else {
            continue;
        };
        let Ok(r) = serde_json::from_slice::<Referrer>(&m.bytes) else {
            continue;
        };
        let bundles: Vec<&ReferrerLayer> = r
            .layers
            .iter()
            .filter(|l| is_bundle(&l.media_type))
            .collect();
        let ([layer], Some(subject)) = (bundles.as_slice(), &r.subject) else {
            continue;
        };
        if subject.digest != listing.manifest
            || own.contains(&layer.digest)
            || layer.size > largest
            || layer.digest.algorithm() != reprove_digest::Algorithm::Sha256
        {
            continue;
        }
        let name = attached_name(&m.digest);
        if listing.layers.iter().any(|l| l.path == name) {
            continue;
        }
        let Ok(Some(bytes)) = client.get_blob(repo, &layer.digest, layer.size) else {
            continue;
        };
        let path = root.join(&name);
        std::fs::write(&path, &bytes).map_err(|source| ReleaseError::Io { path, source })?;
        written.push(name);
    }
    Ok(written)
}

/// Pulls every release `oci_tags` names, each into the folder `target` gives it (from its
/// OCI tag and checked listing), [`CONCURRENCY`] releases at a time (each release's blobs one
/// after another, so connections stay bounded); one result per tag, in order. A release that
/// fails does not stop the others.
pub fn pull_each(
    client: &RegistryClient,
    from: &EvidenceRepo,
    oci_tags: &[String],
    target: &(dyn Fn(&str, &Listing) -> Result<PathBuf, ReleaseError> + Sync),
    force: bool,
    durable: bool,
    gate: Option<&Gate<'_>>,
) -> Vec<Result<Pulled, ReleaseError>> {
    let one = |t: &String| -> Result<Result<Pulled, ReleaseError>, ReleaseError> {
        Ok(list(client, from, t).and_then(|listing| {
            download(
                client,
                from,
                &listing,
                &target(t, &listing)?,
                force,
                1,
                durable,
                gate,
            )
        }))
    };
    bounded(oci_tags, CONCURRENCY, one).unwrap_or_default()
}

/// The OCI tags of `from` that can hold releases (every tag but referrers fallback tags).
pub fn release_tags(
    client: &RegistryClient,
    from: &EvidenceRepo,
) -> Result<Vec<String>, ReleaseError> {
    let location = from.repository();
    let tags = client
        .list_tags(from.image())
        .map_err(registry_error("list the tags", &location))?;
    // A registry's answer is words from outside: only real OCI tags go further (they name
    // URLs and folders).
    Ok(tags
        .into_iter()
        .filter(|t| is_oci_tag(t) && !is_fallback_tag(t))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_tags_become_oci_tags() {
        assert_eq!(oci_tag("v1.4.0"), "v1.4.0");
        assert_eq!(oci_tag("release/1.0"), "release-1.0");
        assert_eq!(oci_tag("v1.0.0+build.5"), "v1.0.0-build.5");
        assert_eq!(oci_tag(".hidden"), "_.hidden");
        assert_eq!(oci_tag("-x"), "_-x");
        assert_eq!(oci_tag(&"a".repeat(300)).len(), 128);
        assert_eq!(oci_tag("ü"), "_-");
    }

    /// Regression (attack review): an annotation naming an absolute path, or a folder inside
    /// another release's evidence, must not choose where a pull writes.
    #[test]
    fn a_registry_cannot_choose_a_folder_outside_the_root() {
        let listing = |tag: &str| Listing {
            location: "oci://r/x".into(),
            manifest: sha256_bytes(b"m"),
            release_tag: Some(tag.into()),
            layers: Vec::new(),
            size: 0,
            created: None,
        };
        let oci = oci_tag("/home/runner/work/pwn");
        assert_eq!(listing("/home/runner/work/pwn").folder_name(&oci), oci);
        assert_eq!(
            listing("release/1.0").folder_name("release-1.0"),
            "release/1.0"
        );
        assert_eq!(listing("v2").folder_name("v1"), "v1");
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("v1.0.0")).unwrap();
        std::fs::write(root.path().join("v1.0.0").join(evidence::INDEX), b"{}").unwrap();
        assert!(folder_under(root.path(), "v1.0.0/planted").is_err());
        for bad in ["/abs", "../up", "a/../b", ".hidden", "a//b", ""] {
            assert!(folder_under(root.path(), bad).is_err(), "{bad}");
        }
        assert_eq!(
            folder_under(root.path(), "release/1.0").unwrap(),
            root.path().join("release/1.0")
        );
        assert!(is_oci_tag("v1.0.0") && is_oci_tag("_x") && !is_oci_tag("../x"));
        assert!(!is_oci_tag("/abs") && !is_oci_tag("") && !is_oci_tag(&"a".repeat(129)));
    }

    #[test]
    fn fallback_tags_are_not_releases() {
        assert!(is_fallback_tag(&format!("sha256-{}", "a".repeat(64))));
        assert!(!is_fallback_tag("sha256-abc"));
        assert!(!is_fallback_tag("v1.0.0"));
    }

    #[test]
    fn locations_name_a_registry() {
        let r: EvidenceRepo = "oci://127.0.0.1:5000/acme/evidence".parse().unwrap();
        assert_eq!(r.image().registry(), "127.0.0.1:5000");
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/acme/evidence");
        assert!(!r.names_release());
        assert_eq!(r.reference(Some("release/1")).unwrap(), "release-1");
        let t: EvidenceRepo = "oci://ghcr.io/acme/evidence:v1.0.0".parse().unwrap();
        assert_eq!(t.reference(Some("v2")).unwrap(), "v1.0.0");
        let d = format!("oci://ghcr.io/acme/evidence@sha256:{}", "a".repeat(64));
        let d: EvidenceRepo = d.parse().unwrap();
        assert!(d.reference(None).unwrap().starts_with("sha256:"));
        // No silent Docker Hub, no missing repository, no other scheme.
        for bad in [
            "oci://acme/evidence",
            "oci://ghcr.io",
            "ghcr.io/acme/e",
            "oci://",
        ] {
            assert!(bad.parse::<EvidenceRepo>().is_err(), "{bad}");
        }
        assert_eq!(
            "evidence/v1".parse::<EvidenceSource>().unwrap(),
            EvidenceSource::Folder("evidence/v1".into())
        );
        assert!(matches!(
            "oci://localhost:5000/e".parse::<EvidenceSource>().unwrap(),
            EvidenceSource::Registry(_)
        ));
    }

    fn manifest(layers: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": EVIDENCE_ARTIFACT_TYPE,
            "config": empty_descriptor(),
            "layers": layers,
        }))
        .unwrap()
    }

    fn layer(title: &str, size: u64) -> serde_json::Value {
        serde_json::json!({
            "mediaType": "application/json",
            "digest": sha256_bytes(title.as_bytes()).to_string(),
            "size": size,
            "annotations": { TITLE: title },
        })
    }

    #[test]
    fn a_manifest_cannot_write_outside_its_folder_or_lie_about_its_shape() {
        let ok = |extra: serde_json::Value| {
            let mut all = vec![layer("index.json", 1), layer("index.sigstore.json", 1)];
            all.push(extra);
            layers_of(&manifest(serde_json::Value::Array(all)), "oci://r/x:t")
        };
        assert!(ok(layer("explanations/app/report.txt", 3)).is_ok());
        for bad in [
            "../escape",
            "/etc/passwd",
            "a//b",
            "./a",
            "a/../../b",
            "a\\b",
            "a\nb",
            "",
        ] {
            let e = ok(layer(bad, 1)).unwrap_err().to_string();
            assert!(e.contains("not reprove evidence"), "{bad}: {e}");
        }
        // Listed twice, or a file where a folder must be.
        assert!(ok(layer("index.json", 1)).is_err());
        assert!(ok(layer("index.json/x", 1)).is_err());
        // Sizes bounded before anything is read.
        assert!(ok(layer("big", MAX_FILE_BYTES + 1)).is_err());
        // sha256 only: the signed index cannot name anything else.
        let mut sha512 = layer("other", 1);
        sha512["digest"] = serde_json::json!(format!("sha512:{}", "a".repeat(128)));
        assert!(ok(sha512).is_err());
        // Not an evidence artifact at all.
        let image = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": empty_descriptor(), "layers": [],
        }))
        .unwrap();
        assert!(layers_of(&image, "oci://r/x:t").is_err());
        // No signed index.
        assert!(layers_of(&manifest(serde_json::json!([layer("index.json", 1)])), "x").is_err());
        // A layer without a name.
        let mut nameless = layer("x", 1);
        nameless["annotations"] = serde_json::json!({});
        let mut all = vec![layer("index.json", 1), layer("index.sigstore.json", 1)];
        all.push(nameless);
        assert!(layers_of(&manifest(serde_json::Value::Array(all)), "x").is_err());
        // Duplicate keys in the manifest itself.
        let dup = br#"{"mediaType":"a","mediaType":"b","layers":[]}"#;
        assert!(layers_of(dup, "x").is_err());
    }
}
