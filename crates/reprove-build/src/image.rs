//! Container images as release artifacts: an image pushed to a registry, named by digest, is
//! compared with the OCI image layouts (tar archives) among the rebuilt outputs.
//!
//! A published image is reproduced when a rebuilt layout holds a manifest (or index) whose
//! bytes hash to the published digest, reachable from the layout's `index.json`, with every
//! blob it names (config, layers, and for an index every child manifest and its blobs) present
//! in the layout at the size its descriptor says and hashing to its digest
//! ([OCI image layout](https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md),
//! [descriptors](https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md)).
//! Equal manifest digests mean equal manifest bytes, and those name every blob by digest, so
//! the image is the same to the byte; the blobs are required in the layout so that the
//! rebuild made them, not just a manifest that names them.
//!
//! The layout tar that carried a matched image is not a release file of its own unless it is
//! published as one: it is named in the image's comparison (`rebuiltIn`), not listed as an
//! extra artifact, and not a provenance subject.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use reprove_digest::{Digest, Sha256Hasher};

use crate::compare::{ArtifactDigest, Verdict};

pub use reprove_oci::media::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

/// The largest manifest or index read from a layout (the registry client's bound).
const MAX_JSON_BLOB: u64 = 4 << 20;
/// The most manifest bytes kept in memory while the layouts of one rebuild are read.
const MAX_JSON_TOTAL: u64 = 64 << 20;
/// The most descriptors followed while an image is checked whole.
const MAX_DESCRIPTORS: usize = 100_000;
/// The most entries read from one layout tar.
const MAX_LAYOUT_ENTRIES: usize = 100_000;
/// How deep indexes may nest (an index of indexes of manifests is already unusual).
const MAX_DEPTH: usize = 4;

/// An image the release publishes, as its registry serves it (resolved by digest, its bytes
/// hashed by the registry client before this is made).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedImage {
    /// `REGISTRY/REPOSITORY`, no tag or digest.
    pub repository: String,
    pub digest: Digest,
    pub media_type: String,
    /// For an index: the manifests it lists, each a subject of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ImageChild>,
}

/// One manifest an index lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageChild {
    pub digest: Digest,
    pub media_type: String,
    /// `os/architecture[/variant]`, when the index says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

impl PublishedImage {
    /// The subject name of the image itself: `REPOSITORY@sha256:HEX`.
    pub fn subject_name(&self) -> String {
        image_subject_name(&self.repository, &self.digest)
    }

    /// Every (name, digest) this image puts among the release's subjects: the image, then
    /// each manifest of an index.
    pub fn subjects(&self) -> Vec<(String, Digest)> {
        std::iter::once(&self.digest)
            .chain(self.children.iter().map(|c| &c.digest))
            .map(|d| (image_subject_name(&self.repository, d), d.clone()))
            .collect()
    }
}

/// `REPOSITORY@DIGEST`: the name an image subject carries. File subjects are plain file names,
/// which never hold a `/`, so the two cannot be confused.
pub fn image_subject_name(repository: &str, digest: &Digest) -> String {
    format!("{repository}@{digest}")
}

/// A subject name read back as an image: `(repository, digest)`, when it has the shape
/// [`image_subject_name`] writes and its digest is `sha256` hex equal to `sha256` (the
/// subject's own digest: a name claiming another image than its digest is not an image
/// subject, and a verifier reports it).
pub fn parse_image_subject(name: &str, sha256: &str) -> Option<(String, Digest)> {
    let (repository, digest) = name.rsplit_once('@')?;
    if !repository.contains('/') || repository.is_empty() {
        return None;
    }
    let digest: Digest = digest.parse().ok()?;
    (digest.algorithm() == reprove_digest::Algorithm::Sha256 && digest.hex() == sha256)
        .then(|| (repository.to_owned(), digest))
}

/// One published image against the rebuilt layouts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageComparison {
    pub image: PublishedImage,
    /// `match`: a rebuilt layout holds it whole; `mismatch`: layouts were rebuilt, none holds
    /// it; `missing`: no rebuilt output is an OCI layout.
    pub verdict: Verdict,
    /// The rebuilt output (an OCI layout tar) that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_in: Option<String>,
    /// For a mismatch: the images each rebuilt layout's `index.json` names, by output.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rebuilt: BTreeMap<String, Vec<Digest>>,
    /// Why a layout naming the digest still does not hold the image (a blob missing or
    /// altered), or why a layout could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// What one rebuilt output holds as an OCI image layout.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Blobs by digest: size, and whether the bytes hashed to the name they are stored under.
    blobs: BTreeMap<String, (u64, bool)>,
    /// Small blobs (manifests, indexes, configs) kept to be parsed, by hex.
    json: BTreeMap<String, Vec<u8>>,
    /// The descriptors of `index.json`.
    top: Vec<Descriptor>,
    /// Why the layout is unusable as a whole (duplicate entries, bad `index.json`).
    broken: Option<String>,
    /// Every descriptor reachable from `index.json` (through the indexes it can read), by
    /// digest: found once per layout, looked up once per image.
    reachable: BTreeMap<String, Descriptor>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Debug, serde::Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, serde::Deserialize)]
struct ManifestJson {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// Reads `path` as an OCI image layout tar: `Ok(None)` when it is not a tar holding both
/// `oci-layout` and `index.json` (an ordinary release file). `json_budget` bounds the manifest
/// bytes kept in memory across every layout of a rebuild.
pub(crate) fn read_layout(
    path: &Path,
    json_budget: &mut u64,
) -> Result<Option<Layout>, std::io::Error> {
    let (mut file, _) = reprove_digest::open_regular(path).map_err(std::io::Error::other)?;
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..])? {
            0 => return Ok(None),
            n => got += n,
        }
    }
    // ustar magic (POSIX `ustar\0` or GNU `ustar  `) at offset 257.
    if &head[257..262] != b"ustar" {
        return Ok(None);
    }
    let mut layout = Layout::default();
    let mut has_marker = false;
    let mut index_bytes: Option<Vec<u8>> = None;
    let mut seen = BTreeSet::new();
    let mut count = 0usize;
    let mut saw_layout_member = false;
    std::io::Seek::rewind(&mut file)?;
    // Read raw, once, as the engine's outputs are ([`crate::compare::raw_members`]): extended
    // headers bounded, a PAX size or a global header refused, so no other reader of this tar
    // walks it at other offsets than this one.
    let read = crate::compare::raw_members(
        std::io::BufReader::new(file),
        &|e: std::io::Error| format!("the tar cannot be read: {}", shown(&e.to_string())),
        &|why: String| shown(&why),
        &mut |kind, raw, entry| -> Result<(), String> {
            count += 1;
            if count > MAX_LAYOUT_ENTRIES {
                return Err(format!("more than {MAX_LAYOUT_ENTRIES} entries"));
            }
            let raw = String::from_utf8_lossy(&raw).into_owned();
            let name = raw.strip_prefix("./").unwrap_or(&raw).trim_end_matches('/');
            // A name another extractor would read as a layout's file (`/blobs/…`,
            // `a/../index.json`) but this reader would not: the two could check other bytes.
            let plain = !name.starts_with('/')
                && name
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..");
            let canonical: String = name
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect::<Vec<_>>()
                .join("/");
            let interesting =
                |n: &str| n == "oci-layout" || n == "index.json" || n.starts_with("blobs/");
            if !plain {
                if interesting(&canonical) || canonical.contains("..") {
                    layout.broken = Some(format!("`{}` is not a plain path", shown(&raw)));
                }
                return Ok(());
            }
            if kind == tar::EntryType::Directory || !interesting(name) {
                return Ok(());
            }
            saw_layout_member = true;
            // Other algorithms' blobs are never followed (descriptors must be sha256); a
            // sha256 one must be named by its lowercase hex, so no two names stand for one
            // digest. Checked before the name is kept: names are bounded by what they can be.
            let blob_hex = match name.strip_prefix("blobs/") {
                None => None,
                Some(rest) => match rest.strip_prefix("sha256/") {
                    None => return Ok(()),
                    Some(hex) => match format!("sha256:{hex}").parse::<Digest>() {
                        Ok(d) => Some(d),
                        Err(_) => {
                            layout.broken = Some(format!(
                                "`{}` is not a blob name (lowercase sha256 hex)",
                                shown(name)
                            ));
                            return Ok(());
                        }
                    },
                },
            };
            if kind != tar::EntryType::Regular {
                // A link in place of a blob would let one stored file answer for two digests;
                // a sparse member is read otherwise by other tools.
                layout.broken = Some(format!("`{}` is not a regular file", shown(name)));
                return Ok(());
            }
            let name = name.to_owned();
            if !seen.insert(name.clone()) {
                layout.broken = Some(format!("`{}` appears twice", shown(&name)));
                return Ok(());
            }
            let io =
                |e: std::io::Error| format!("the tar cannot be read: {}", shown(&e.to_string()));
            match name.as_str() {
                "oci-layout" => {
                    let mut b = Vec::new();
                    entry.take(4096).read_to_end(&mut b).map_err(io)?;
                    has_marker = serde_json::from_slice::<serde_json::Value>(&b)
                        .ok()
                        .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_owned))
                        .is_some();
                }
                "index.json" => {
                    let mut b = Vec::new();
                    entry
                        .take(MAX_JSON_BLOB + 1)
                        .read_to_end(&mut b)
                        .map_err(io)?;
                    index_bytes = Some(b);
                }
                _ => {
                    let Some(want) = blob_hex else {
                        return Ok(());
                    };
                    // Kept only within the bounds, whatever the entry says its size is: the
                    // bytes read decide; and only JSON (manifests, configs), never a layer.
                    let mut keep = entry.size() <= MAX_JSON_BLOB.min(*json_budget);
                    let mut hasher = Sha256Hasher::new();
                    let mut bytes = Vec::new();
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        let k = entry.read(&mut buf).map_err(io)?;
                        if k == 0 {
                            break;
                        }
                        if hasher.is_empty()
                            && buf[..k].iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
                        {
                            keep = false;
                        }
                        hasher.update(&buf[..k]);
                        if keep {
                            if (bytes.len() + k) as u64 > MAX_JSON_BLOB.min(*json_budget) {
                                keep = false;
                                bytes = Vec::new();
                            } else {
                                bytes.extend_from_slice(&buf[..k]);
                            }
                        }
                    }
                    let read = hasher.len();
                    let ok = hasher.finish() == want;
                    if keep && ok {
                        *json_budget -= bytes.len() as u64;
                        layout.json.insert(want.hex(), bytes);
                    }
                    layout.blobs.insert(want.hex(), (read, ok));
                }
            }
            Ok(())
        },
    );
    if let Err(why) = read {
        // Refused part way: a layout (if it is one — any of its files was seen) that cannot
        // be trusted whole, and says why.
        layout.broken = Some(why);
        if saw_layout_member {
            return Ok(Some(layout));
        }
        return Ok(None);
    }
    let Some(index_bytes) = index_bytes else {
        return Ok(None);
    };
    if !has_marker {
        return Ok(None);
    }
    match serde_json::from_slice::<IndexJson>(&index_bytes) {
        Ok(i) => {
            layout.top = i.manifests;
            layout.find_reachable();
        }
        Err(e) => {
            layout.broken.get_or_insert(format!(
                "its `index.json` cannot be read: {}",
                shown(&e.to_string())
            ));
        }
    }
    Ok(Some(layout))
}

/// The members of an image manifest or index, and of a descriptor (image-spec
/// `manifest.md`, `image-index.md`, `descriptor.md`).
const DOCUMENT_FIELDS: [&str; 8] = [
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
];
const DESCRIPTOR_FIELDS: [&str; 8] = [
    "mediaType",
    "digest",
    "size",
    "urls",
    "annotations",
    "data",
    "platform",
    "artifactType",
];

const PLATFORM_FIELDS: [&str; 6] = [
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "features",
];

/// A name as Go's `encoding/json` matches it to a field: without regard to case, with `ſ` as
/// `s` and the Kelvin sign as `k` (the two letters outside ASCII that fold into it).
fn go_fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Refuses a manifest or index that a Go reader — a registry, containerd, docker, podman —
/// would read otherwise than this one: a member whose name is not a field's but matches one
/// without regard to case (`"Layers"` beside `"layers"`: Go takes the last of the two, serde
/// only the exact one), in the document or in any of its descriptors.
pub fn check_field_names(doc: &serde_json::Value) -> Result<(), String> {
    fn check(v: &serde_json::Value, fields: &[&str], what: &str) -> Result<(), String> {
        let Some(obj) = v.as_object() else {
            return Ok(());
        };
        for k in obj.keys() {
            if fields.contains(&k.as_str()) {
                continue;
            }
            let folded = go_fold(k);
            if let Some(field) = fields.iter().find(|f| go_fold(f) == folded) {
                return Err(format!(
                    "{what} has a member `{}`, which Go's JSON reads as `{field}`",
                    shown(k)
                ));
            }
        }
        Ok(())
    }
    check(doc, &DOCUMENT_FIELDS, "the manifest")?;
    for key in ["config", "subject"] {
        if let Some(d) = doc.get(key) {
            check(d, &DESCRIPTOR_FIELDS, "a descriptor")?;
        }
    }
    for key in ["layers", "manifests"] {
        for d in doc
            .get(key)
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten()
        {
            check(d, &DESCRIPTOR_FIELDS, "a descriptor")?;
            if let Some(p) = d.get("platform") {
                check(p, &PLATFORM_FIELDS, "a platform")?;
            }
        }
    }
    Ok(())
}

/// A name from the build's tar, for a message: control characters escaped.
fn shown(name: &str) -> String {
    reprove_escape::terminal(name)
}

impl Layout {
    /// The digests `index.json` names.
    fn tops(&self) -> Vec<Digest> {
        self.top
            .iter()
            .filter_map(|d| d.digest.parse().ok())
            .collect()
    }

    /// Whether the layout holds `want`, reachable from `index.json`: `Ok(())` when whole,
    /// `Err(reason)` when it names it but a blob is missing or altered, `None` when it does
    /// not name it at all. `media_type` is what the image is published as: it — or the
    /// document's own `mediaType` — says whether it is a manifest or an index, never the
    /// layout's descriptors, which nothing attests.
    fn holds(&self, want: &Digest, media_type: &str) -> Option<Result<(), String>> {
        let d = self.reachable.get(&want.to_string())?;
        if let Some(why) = &self.broken {
            return Some(Err(why.clone()));
        }
        let expected = (!media_type.is_empty()).then_some(media_type);
        let mut done = BTreeSet::new();
        let mut work = 0;
        Some(self.whole(d, expected, 0, &mut done, &mut work))
    }

    /// Fills [`Layout::reachable`]: the descriptors of `index.json`, and those of every index
    /// among them that reads, to [`MAX_DEPTH`], each once, at most [`MAX_DESCRIPTORS`].
    fn find_reachable(&mut self) {
        let mut stack: Vec<(Descriptor, usize)> =
            self.top.iter().cloned().map(|d| (d, 0)).collect();
        let mut found = BTreeMap::new();
        while let Some((d, depth)) = stack.pop() {
            if found.contains_key(&d.digest) {
                continue;
            }
            if found.len() >= MAX_DESCRIPTORS {
                self.broken
                    .get_or_insert(format!("it names more than {MAX_DESCRIPTORS} manifests"));
                break;
            }
            if depth < MAX_DEPTH
                && let Ok(m) = self.parse(&d)
                && let Some(children) = m.manifests
            {
                stack.extend(children.into_iter().map(|c| (c, depth + 1)));
            }
            found.insert(d.digest.clone(), d);
        }
        self.reachable = found;
    }

    fn hex_of(d: &Descriptor) -> Result<String, String> {
        let digest: Digest = d
            .digest
            .parse()
            .map_err(|_| format!("a descriptor names `{}`, not a digest", shown(&d.digest)))?;
        if digest.algorithm() != reprove_digest::Algorithm::Sha256 {
            return Err(format!("`{digest}` is not a sha256 digest"));
        }
        Ok(digest.hex())
    }

    /// The blob of `d` is present, at its size, with its digest.
    fn blob(&self, d: &Descriptor) -> Result<(), String> {
        let hex = Self::hex_of(d)?;
        match self.blobs.get(&hex) {
            None => Err(format!("`sha256:{hex}` is not in the rebuilt layout")),
            Some((_, false)) => Err(format!(
                "the rebuilt layout's `blobs/sha256/{hex}` does not hash to its name"
            )),
            Some((size, true)) if *size != d.size => Err(format!(
                "`sha256:{hex}` is {size} bytes in the rebuilt layout, its descriptor says {}",
                d.size
            )),
            Some(_) => Ok(()),
        }
    }

    fn parse(&self, d: &Descriptor) -> Result<ManifestJson, String> {
        self.blob(d)?;
        let hex = Self::hex_of(d)?;
        let bytes = self
            .json
            .get(&hex)
            .ok_or_else(|| format!("the manifest `sha256:{hex}` is too large to read"))?;
        let unreadable = |e: serde_json::Error| {
            format!(
                "the manifest `sha256:{hex}` cannot be read: {}",
                shown(&e.to_string())
            )
        };
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(unreadable)?;
        check_field_names(&v).map_err(|why| format!("`sha256:{hex}`: {why}"))?;
        serde_json::from_slice(bytes).map_err(unreadable)
    }

    /// The manifest or index `d` and everything it names are in the layout. `expected` is
    /// the media type something attested gives `d` (the published image, or the index that
    /// lists it); the document's own `mediaType` must agree with it.
    fn whole(
        &self,
        d: &Descriptor,
        expected: Option<&str>,
        depth: usize,
        done: &mut BTreeSet<String>,
        work: &mut usize,
    ) -> Result<(), String> {
        if done.contains(&d.digest) {
            return Ok(());
        }
        *work += 1;
        if *work > MAX_DESCRIPTORS {
            return Err(format!(
                "the image names more than {MAX_DESCRIPTORS} manifests"
            ));
        }
        if depth > MAX_DEPTH {
            return Err(format!("indexes nest deeper than {MAX_DEPTH}"));
        }
        let m = self.parse(d)?;
        let media = match (m.media_type.as_deref(), expected) {
            (Some(own), Some(exp)) if own != exp => {
                return Err(format!(
                    "`{}` says it is `{}` but is published as `{}`",
                    shown(&d.digest),
                    shown(own),
                    shown(exp)
                ));
            }
            (Some(own), _) => own.to_owned(),
            (None, Some(exp)) => exp.to_owned(),
            (None, None) => {
                return Err(format!(
                    "`{}` has no media type of its own and none is attested",
                    shown(&d.digest)
                ));
            }
        };
        // A document that is both (CVE-2021-41190) reads as an index to one tool and as an
        // image to another.
        if m.manifests.is_some() && (m.config.is_some() || !m.layers.is_empty()) {
            return Err(format!(
                "`{}` is both a manifest and an index",
                shown(&d.digest)
            ));
        }
        if media == OCI_INDEX || media == DOCKER_LIST {
            let children = m
                .manifests
                .ok_or_else(|| format!("the index `{}` lists no manifests", shown(&d.digest)))?;
            for c in &children {
                let exp = (!c.media_type.is_empty()).then_some(c.media_type.as_str());
                self.whole(c, exp, depth + 1, done, work)?;
            }
        } else if media == OCI_MANIFEST || media == DOCKER_MANIFEST {
            let config = m
                .config
                .as_ref()
                .ok_or_else(|| format!("the manifest `{}` has no config", shown(&d.digest)))?;
            self.blob(config)?;
            for l in &m.layers {
                self.blob(l)?;
            }
        } else {
            return Err(format!(
                "`{}` is `{}`, not an image manifest or index",
                shown(&d.digest),
                shown(&media)
            ));
        }
        done.insert(d.digest.clone());
        Ok(())
    }
}

/// Compares each published image with the OCI layouts among `rebuilt` (read from the files
/// the outputs were written to). Returns the comparisons and the names of the outputs that
/// carried a matched image.
pub fn compare_images(
    published: &[PublishedImage],
    rebuilt: &BTreeMap<String, ArtifactDigest>,
) -> (Vec<ImageComparison>, BTreeSet<String>) {
    let mut layouts: Vec<(String, Layout)> = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    let mut json_budget = MAX_JSON_TOTAL;
    for (name, a) in rebuilt {
        let Some(path) = &a.path else { continue };
        match read_layout(path, &mut json_budget) {
            Ok(Some(l)) => layouts.push((name.clone(), l)),
            Ok(None) => {}
            Err(e) => unreadable.push(format!("`{}` could not be read: {e}", shown(name))),
        }
    }
    let mut carriers = BTreeSet::new();
    let mut out = Vec::new();
    for image in published {
        let mut cmp = ImageComparison {
            image: image.clone(),
            verdict: Verdict::Missing,
            rebuilt_in: None,
            rebuilt: BTreeMap::new(),
            reasons: unreadable.clone(),
        };
        for (name, layout) in &layouts {
            match layout.holds(&image.digest, &image.media_type) {
                Some(Ok(())) => {
                    cmp.verdict = Verdict::Match;
                    cmp.rebuilt_in = Some(name.clone());
                    carriers.insert(name.clone());
                    break;
                }
                Some(Err(why)) => cmp.reasons.push(format!("`{}`: {why}", shown(name))),
                None => {
                    if let Some(why) = &layout.broken {
                        cmp.reasons.push(format!("`{}`: {why}", shown(name)));
                    }
                }
            }
        }
        if cmp.verdict != Verdict::Match {
            if image.media_type == DOCKER_MANIFEST || image.media_type == DOCKER_LIST {
                // `docker push` of a built image serves Docker-format manifests; an OCI layout
                // holds OCI ones, so their digests can never be equal.
                cmp.reasons.push(format!(
                    "the registry serves `{}` as a Docker-format manifest (`{}`), and an OCI layout holds OCI manifests: publish the rebuilt layout as it is (e.g. `skopeo copy oci-archive:…`) so the registry serves its bytes",
                    image.subject_name(),
                    image.media_type
                ));
            }
            if !layouts.is_empty() {
                cmp.verdict = Verdict::Mismatch;
                cmp.rebuilt = layouts.iter().map(|(n, l)| (n.clone(), l.tops())).collect();
            }
        } else {
            cmp.reasons.clear();
        }
        out.push(cmp);
    }
    (out, carriers)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> Digest {
        reprove_digest::sha256_bytes(b)
    }

    fn desc(media: &str, b: &[u8]) -> serde_json::Value {
        serde_json::json!({"mediaType": media, "digest": sha(b).to_string(), "size": b.len()})
    }

    struct Img {
        layer: Vec<u8>,
        config: Vec<u8>,
        manifest: Vec<u8>,
    }

    fn image(content: &[u8]) -> Img {
        let layer = content.to_vec();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": String::from_utf8_lossy(content),
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": desc("application/vnd.oci.image.config.v1+json", &config),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar", &layer)],
        }))
        .unwrap();
        Img {
            layer,
            config,
            manifest,
        }
    }

    /// A layout tar with these blobs and an `index.json` naming `tops` (media, bytes).
    fn layout_tar(blobs: &[&[u8]], tops: &[(&str, &[u8])], extra: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": tops.iter().map(|(m, b)| desc(m, b)).collect::<Vec<_>>(),
        });
        add("index.json", &serde_json::to_vec(&index).unwrap());
        for blob in blobs {
            add(&format!("blobs/sha256/{}", sha(blob).hex()), blob);
        }
        for (n, d) in extra {
            add(n, d);
        }
        b.into_inner().unwrap()
    }

    fn rebuilt(files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, BTreeMap<String, ArtifactDigest>) {
        let dir = tempfile::tempdir().unwrap();
        let mut m = BTreeMap::new();
        for (n, b) in files {
            let p = dir.path().join(n);
            std::fs::write(&p, b).unwrap();
            m.insert(
                n.to_string(),
                ArtifactDigest {
                    sha256: sha(b).hex(),
                    size: Some(b.len() as u64),
                    path: Some(p),
                },
            );
        }
        (dir, m)
    }

    fn published(d: &[u8], media: &str) -> PublishedImage {
        PublishedImage {
            repository: "127.0.0.1:5000/app".into(),
            digest: sha(d),
            media_type: media.into(),
            children: Vec::new(),
        }
    }

    #[test]
    fn a_whole_layout_holding_the_digest_matches_and_carries_it() {
        let i = image(b"layer bytes");
        let tar = layout_tar(
            &[&i.layer, &i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[],
        );
        let (_d, r) = rebuilt(&[("app.oci.tar", tar), ("app.bin", b"x".to_vec())]);
        let (c, carriers) = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r);
        assert_eq!(c[0].verdict, Verdict::Match, "{:?}", c[0].reasons);
        assert_eq!(c[0].rebuilt_in.as_deref(), Some("app.oci.tar"));
        assert_eq!(
            carriers.into_iter().collect::<Vec<_>>(),
            vec!["app.oci.tar"]
        );
    }

    #[test]
    fn an_index_matches_only_with_every_child_whole() {
        let a = image(b"amd64");
        let b = image(b"arm64");
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [desc(OCI_MANIFEST, &a.manifest), desc(OCI_MANIFEST, &b.manifest)],
        }))
        .unwrap();
        let all: Vec<&[u8]> = vec![
            &a.layer,
            &a.config,
            &a.manifest,
            &b.layer,
            &b.config,
            &b.manifest,
            &index,
        ];
        let tar = layout_tar(&all, &[(OCI_INDEX, &index)], &[]);
        let (_d, r) = rebuilt(&[("img.tar", tar)]);
        let pubd = published(&index, OCI_INDEX);
        assert_eq!(
            compare_images(std::slice::from_ref(&pubd), &r).0[0].verdict,
            Verdict::Match
        );
        // A child of the index, published on its own, is found through the index.
        let child = published(&b.manifest, OCI_MANIFEST);
        assert_eq!(compare_images(&[child], &r).0[0].verdict, Verdict::Match);
        // Without the second child's layer the index is not whole.
        let some: Vec<&[u8]> = vec![
            &a.layer,
            &a.config,
            &a.manifest,
            &b.config,
            &b.manifest,
            &index,
        ];
        let tar = layout_tar(&some, &[(OCI_INDEX, &index)], &[]);
        let (_d, r) = rebuilt(&[("img.tar", tar)]);
        let c = compare_images(&[pubd], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(
            c[0].reasons[0].contains(&sha(&b.layer).hex()),
            "{:?}",
            c[0].reasons
        );
    }

    #[test]
    fn a_manifest_alone_without_its_layers_does_not_match() {
        // A recipe that copies a committed manifest into a layout names the image without
        // having built it.
        let i = image(b"layer");
        let tar = layout_tar(
            &[&i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[],
        );
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let (c, carriers) = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r);
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(carriers.is_empty());
    }

    #[test]
    fn a_blob_stored_under_another_digest_or_twice_does_not_count() {
        let i = image(b"layer");
        // The layer's name holds other bytes.
        let fake = format!("blobs/sha256/{}", sha(&i.layer).hex());
        let tar = layout_tar(
            &[&i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[(&fake, b"other")],
        );
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(
            c[0].reasons[0].contains("does not hash"),
            "{:?}",
            c[0].reasons
        );
        // The right bytes first, then other bytes under the same name: refused, whichever a
        // reader would take.
        let tar = layout_tar(
            &[&i.layer, &i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[(&fake, b"other")],
        );
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(c[0].reasons[0].contains("twice"), "{:?}", c[0].reasons);
    }

    #[test]
    fn a_size_other_than_the_descriptor_says_does_not_match() {
        let i = image(b"layer");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": desc("application/vnd.oci.image.config.v1+json", &i.config),
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(&i.layer).to_string(), "size": 1}],
        }))
        .unwrap();
        let tar = layout_tar(
            &[&i.layer, &i.config, &manifest],
            &[(OCI_MANIFEST, &manifest)],
            &[],
        );
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(
            c[0].reasons[0].contains("descriptor says 1"),
            "{:?}",
            c[0].reasons
        );
    }

    #[test]
    fn another_image_is_a_mismatch_naming_what_was_rebuilt_and_no_layout_is_missing() {
        let i = image(b"published");
        let j = image(b"rebuilt");
        let tar = layout_tar(
            &[&j.layer, &j.config, &j.manifest],
            &[(OCI_MANIFEST, &j.manifest)],
            &[],
        );
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert_eq!(c[0].rebuilt["app.tar"], vec![sha(&j.manifest)]);
        // A plain file, or a tar that is no layout, is not a layout.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_cksum();
        b.append_data(&mut h, "index.json", &b"{}"[..]).unwrap();
        let plain = b.into_inner().unwrap();
        let (_d, r) = rebuilt(&[("app.bin", b"binary".to_vec()), ("x.tar", plain)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Missing);
    }

    #[test]
    fn a_manifest_dressed_as_an_empty_index_does_not_match() {
        // Review finding: a document with `config`, `layers` and `"manifests": []`, no
        // `mediaType` of its own, named as an index by the layout's `index.json`, passed as a
        // whole index with no blob checked.
        let i = image(b"backdoor");
        let v: serde_json::Value = serde_json::from_slice(&i.manifest).unwrap();
        let mut v = v.as_object().unwrap().clone();
        v.remove("mediaType");
        v.insert("manifests".into(), serde_json::json!([]));
        let doc = serde_json::to_vec(&v).unwrap();
        let tar = layout_tar(&[&doc], &[(OCI_INDEX, &doc)], &[]);
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        for media in [OCI_MANIFEST, OCI_INDEX, ""] {
            let c = compare_images(&[published(&doc, media)], &r).0;
            assert_eq!(
                c[0].verdict,
                Verdict::Mismatch,
                "{media}: {:?}",
                c[0].reasons
            );
        }
        // Without `manifests`, it is judged as what it is published as: a manifest whose
        // blobs are missing.
        v.remove("manifests");
        let doc = serde_json::to_vec(&v).unwrap();
        let tar = layout_tar(&[&doc], &[(OCI_INDEX, &doc)], &[]);
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&doc, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(
            c[0].reasons[0].contains("not in the rebuilt layout"),
            "{:?}",
            c[0].reasons
        );
        // Its own `mediaType` against what it is published as.
        let tar = layout_tar(
            &[&i.layer, &i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[],
        );
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_INDEX)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(
            c[0].reasons[0].contains("published as"),
            "{:?}",
            c[0].reasons
        );
    }

    #[test]
    fn blob_names_another_reader_would_take_otherwise_refuse_the_layout() {
        let i = image(b"layer");
        let all: [&[u8]; 3] = [&i.layer, &i.config, &i.manifest];
        let upper = format!("blobs/sha256/{}", sha(&i.layer).hex().to_uppercase());
        let rooted = format!("/blobs/sha256/{}", sha(b"x").hex());
        for (name, data) in [
            (upper.as_str(), &b"x"[..]),
            (rooted.as_str(), b"x"),
            ("blobs/../index.json", b"{}"),
        ] {
            let tar = {
                let mut t = layout_tar(&all, &[(OCI_MANIFEST, &i.manifest)], &[]);
                // Appended by hand: the tar builder refuses such names.
                assert!(t.ends_with(&[0u8; 1024]));
                t.truncate(t.len() - 1024);
                let mut h = tar::Header::new_gnu();
                h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                let mut b = tar::Builder::new(t);
                b.append(&h, data).unwrap();
                b.into_inner().unwrap()
            };
            let (_d, r) = rebuilt(&[("app.tar", tar)]);
            let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
            assert_eq!(c[0].verdict, Verdict::Mismatch, "{name}");
            assert!(!c[0].reasons.is_empty(), "{name}");
        }
    }

    #[test]
    fn a_huge_extended_header_is_refused_unread() {
        let i = image(b"layer");
        let mut t = layout_tar(
            &[&i.layer, &i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[],
        );
        t.truncate(t.len() - 1024);
        let mut b = tar::Builder::new(t);
        let big = vec![b'a'; (64 << 10) + 1];
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(big.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, "PaxHeader", &big[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_ne!(c[0].verdict, Verdict::Match);
    }

    #[test]
    fn a_member_go_reads_as_another_field_refuses_the_manifest() {
        // Second review: `"Layers"` beside `"layers"` — Go's JSON (registries, containerd,
        // docker) takes the layers the layout never had; serde only the exact name.
        let i = image(b"built");
        let evil = image(b"only in the registry");
        let mut v: serde_json::Value = serde_json::from_slice(&i.manifest).unwrap();
        let mut doc = v.as_object().unwrap().clone();
        doc.insert(
            "Layers".into(),
            serde_json::json!([desc("application/vnd.oci.image.layer.v1.tar", &evil.layer)]),
        );
        let bytes = serde_json::to_vec(&doc).unwrap();
        let tar = layout_tar(
            &[&i.layer, &i.config, &bytes],
            &[(OCI_MANIFEST, &bytes)],
            &[],
        );
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&bytes, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(c[0].reasons[0].contains("Go's JSON"), "{:?}", c[0].reasons);
        // In a descriptor, and with the Kelvin sign for `k`.
        v["config"]["Digest"] = serde_json::json!(sha(&evil.config).to_string());
        assert!(check_field_names(&v).is_err());
        let mut v: serde_json::Value = serde_json::from_slice(&i.manifest).unwrap();
        v["\u{212a}ind"] = serde_json::json!("not a field");
        assert!(check_field_names(&v).is_ok());
        v["\u{212a}"] = serde_json::json!(1);
        v["mediaTyp\u{212a}"] = serde_json::json!(1);
        assert!(check_field_names(&v).is_ok(), "no field folds to these");
        v["ſchemaVersion"] = serde_json::json!(2);
        assert!(check_field_names(&v).is_err());
    }

    #[test]
    fn a_size_only_a_pax_header_gives_refuses_the_layout() {
        let i = image(b"layer");
        let mut t = layout_tar(
            &[&i.layer, &i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[],
        );
        t.truncate(t.len() - 1024);
        let mut b = tar::Builder::new(t);
        let record = b"16 size=1048576\n";
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(record.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, "PaxHeader", &record[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, "blobs/sha256/zz", &b""[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(
            c[0].reasons.iter().any(|r| r.contains("PAX")),
            "{:?}",
            c[0].reasons
        );
    }

    #[test]
    fn a_second_extended_header_or_a_refusal_before_index_json_is_said() {
        // Third review: `x` after `x` reached the walk as a member, read by other tools for
        // its size; and a layout refused before its `index.json` vanished with no reason.
        let i = image(b"layer");
        let pax = |b: &mut tar::Builder<Vec<u8>>, record: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_size(record.len() as u64);
            h.set_cksum();
            b.append_data(&mut h, "PaxHeader", record).unwrap();
        };
        let mut t = layout_tar(
            &[&i.layer, &i.config, &i.manifest],
            &[(OCI_MANIFEST, &i.manifest)],
            &[],
        );
        t.truncate(t.len() - 1024);
        let mut b = tar::Builder::new(t);
        pax(&mut b, b"16 path=junk/aa\n");
        pax(&mut b, b"19 path=index.json\n");
        let tar = b.into_inner().unwrap();
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch);
        assert!(
            c[0].reasons
                .iter()
                .any(|r| r.contains("two extended headers")),
            "{:?}",
            c[0].reasons
        );
        // A blob first, then a global header: refused before `index.json`, still reported.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(i.layer.len() as u64);
        h.set_cksum();
        b.append_data(
            &mut h,
            format!("blobs/sha256/{}", sha(&i.layer).hex()),
            &i.layer[..],
        )
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XGlobalHeader);
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, "Global", &b""[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let (_d, r) = rebuilt(&[("app.tar", tar)]);
        let c = compare_images(&[published(&i.manifest, OCI_MANIFEST)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Mismatch, "{:?}", c[0]);
        assert!(
            c[0].reasons.iter().any(|r| r.contains("global")),
            "{:?}",
            c[0].reasons
        );
    }

    #[test]
    fn a_diamond_of_indexes_is_checked_once_per_manifest() {
        let a = image(b"a");
        let inner = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": vec![desc(OCI_MANIFEST, &a.manifest); 400],
        }))
        .unwrap();
        let outer = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": vec![desc(OCI_INDEX, &inner); 400],
        }))
        .unwrap();
        let tar = layout_tar(
            &[&a.layer, &a.config, &a.manifest, &inner, &outer],
            &[(OCI_INDEX, &outer)],
            &[],
        );
        let (_d, r) = rebuilt(&[("img.tar", tar)]);
        let c = compare_images(&[published(&outer, OCI_INDEX)], &r).0;
        assert_eq!(c[0].verdict, Verdict::Match, "{:?}", c[0].reasons);
    }

    #[test]
    fn image_subject_names_read_back_only_with_their_own_digest() {
        let d = sha(b"m");
        let name = image_subject_name("reg.example/app", &d);
        assert_eq!(
            parse_image_subject(&name, &d.hex()),
            Some(("reg.example/app".to_owned(), d.clone()))
        );
        assert_eq!(parse_image_subject(&name, &sha(b"other").hex()), None);
        assert_eq!(parse_image_subject("app.tar", &d.hex()), None);
    }
}
