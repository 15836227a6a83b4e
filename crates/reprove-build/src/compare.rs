//! Comparing rebuilt artifacts with the published ones, by name and sha256. Release assets are
//! flat: an artifact is named by its file name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reprove_digest::Digest;

use crate::BuildError;

/// One artifact's digest and size, and where its bytes are (when they are on disk).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArtifactDigest {
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// The verdict for one name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Match,
    Mismatch,
    /// Different bytes, the same after the normalizations the comparison names: never a match.
    Equivalent,
    /// Published but not rebuilt.
    Missing,
    /// Rebuilt but not published.
    Extra,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    pub name: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<ArtifactDigest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt: Option<ArtifactDigest>,
    /// For an equivalent artifact: the normalizations that made the two the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normalizations: Vec<reprove_build_types::Normalization>,
    /// For a mismatch: why no normalization makes the two the same.
    #[serde(
        default,
        rename = "notEquivalent",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_equivalent: Option<String>,
}

pub(crate) fn digest_file(path: &Path) -> Result<ArtifactDigest, BuildError> {
    let (d, size) =
        reprove_digest::sha256_file(path).map_err(|source| BuildError::Hash { source })?;
    Ok(ArtifactDigest {
        sha256: d.hex(),
        size: Some(size),
        path: Some(path.to_owned()),
    })
}

/// The most output bytes a rebuild takes back from an engine (the same bound as an export).
pub(crate) const MAX_OUTPUT_BYTES: u64 = 64 << 30;
/// Free space left on the file system the outputs land on.
const OUTPUT_HEADROOM: u64 = 256 << 20;
/// The most files a rebuild takes back.
const MAX_OUTPUT_FILES: usize = 100_000;
/// The longest output file name taken back (a GNU long-name member).
const MAX_OUTPUT_NAME: u64 = 4096;
/// The largest PAX extended header read (a path and a few times and ids).
const MAX_PAX_HEADER: u64 = 64 << 10;

/// Unpacks the outputs tar `stream` an engine returns into `dest` (created), hashing each file
/// as it is written: only regular files with a plain file name, each name once (see
/// [`read_engine_tar`] for the bounds).
pub(crate) fn read_outputs(
    stream: impl std::io::Read,
    dest: &Path,
) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let mut out = BTreeMap::new();
    read_engine_tar(stream, dest, Shape::Flat, &|_| false, false, &mut |f| {
        out.insert(
            f.path,
            ArtifactDigest {
                sha256: f.sha256,
                size: Some(f.size),
                path: Some(f.target),
            },
        );
    })?;
    Ok(out)
}

/// How a tar stream from an engine is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Artifacts: plain file names, nothing else.
    Flat,
    /// A fetched store: relative paths and folders.
    Tree,
    /// The folder a job left, as a remote engine's copy returns it: relative paths and
    /// folders; links and other kinds are passed over (drained), as [`find_outputs`] passes
    /// them over on this machine.
    Left,
}

/// One file read from an engine's tar stream.
pub(crate) struct ReadFile {
    /// The name (flat) or `/`-separated relative path (tree).
    pub path: String,
    pub target: PathBuf,
    pub sha256: String,
    /// Lowercase hex, when asked for (an npm cache names its files by sha512).
    pub sha512: Option<String>,
    pub size: u64,
    pub executable: bool,
}

/// The most files a store brings back (cargo's unpacked sources of a large workspace run to
/// hundreds of thousands; they are drained, not written).
pub(crate) const MAX_STORE_FILES: usize = 2_000_000;
/// The most path bytes a store brings back in all (names are kept in memory while it is read).
const MAX_STORE_PATH_BYTES: usize = 256 << 20;

/// What [`raw_members`] calls for each member: its kind, its name, the entry to read.
pub(crate) type OnMember<'a, R, E> =
    dyn FnMut(tar::EntryType, Vec<u8>, &mut tar::Entry<'_, R>) -> Result<(), E> + 'a;

/// Reads the members of a tar `stream` written by someone else, raw: a PAX extended header or
/// a GNU long name — whose data the tar crate would load whole, of any size — is read here
/// bounded and gives the name of the member after it; a PAX `size` (which would make this
/// reader and another walk the archive at different offsets) and a global header are refused.
/// `on_member` gets each other member with its name (the long one when given) and the entry,
/// to read or leave (what it leaves is skipped).
pub(crate) fn raw_members<R: std::io::Read, E>(
    stream: R,
    io: &dyn Fn(std::io::Error) -> E,
    bad: &dyn Fn(String) -> E,
    on_member: &mut OnMember<'_, R, E>,
) -> Result<(), E> {
    let mut archive = tar::Archive::new(stream);
    let mut long_name: Option<Vec<u8>> = None;
    let entries = archive.entries().map_err(io)?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(io)?;
        let kind = entry.header().entry_type();
        // A PAX extended header (what Go's `archive/tar`, and so `docker cp`, writes for a
        // name over 100 bytes or not ASCII): its `path` names the member after it. A size or a
        // global header is refused rather than guessed at, since a member read with the wrong
        // size turns its bytes into headers.
        if kind == tar::EntryType::XGlobalHeader {
            return Err(bad("a global PAX header".into()));
        }
        // One extended header names one member: a second before it (read by another tool
        // for its size or name) and a sparse member (whose extension blocks this walk does
        // not follow) would put two readers at different offsets.
        let extension = matches!(
            kind,
            tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink
        );
        if extension && long_name.is_some() {
            return Err(bad("two extended headers for one member".into()));
        }
        if kind == tar::EntryType::GNUSparse {
            return Err(bad("a sparse member".into()));
        }
        if kind == tar::EntryType::XHeader {
            if entry.size() > MAX_PAX_HEADER {
                return Err(bad(format!(
                    "a PAX header of {} bytes (at most {MAX_PAX_HEADER})",
                    entry.size()
                )));
            }
            let mut records = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut records).map_err(io)?;
            for r in tar::PaxExtensions::new(&records) {
                let r = r.map_err(|_| bad("a PAX header that does not parse".into()))?;
                match r.key_bytes() {
                    b"path" => long_name = Some(r.value_bytes().to_vec()),
                    b"size" => {
                        return Err(bad(format!(
                            "a member whose size only a PAX header gives ({} bytes)",
                            String::from_utf8_lossy(r.value_bytes())
                        )));
                    }
                    key if key.starts_with(b"GNU.sparse.") => {
                        return Err(bad("a sparse member".into()));
                    }
                    _ => {}
                }
            }
            continue;
        }
        if kind == tar::EntryType::GNULongName {
            if entry.size() > MAX_OUTPUT_NAME {
                return Err(bad(format!(
                    "a file name of {} bytes (at most {MAX_OUTPUT_NAME})",
                    entry.size()
                )));
            }
            let mut name = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut name).map_err(io)?;
            while name.last() == Some(&0) {
                name.pop();
            }
            long_name = Some(name);
            continue;
        }
        let name = long_name
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        on_member(kind, name, &mut entry)?;
    }
    Ok(())
}

/// Reads a tar stream that came from an engine, not from reprove, into `dest` (created),
/// hashing each file as it is written. Entries are read raw (a GNU long-name or PAX member,
/// whose data the tar crate would load whole, is read here bounded or refused); only regular
/// files (and, in a tree, folders) are accepted, every path made of plain parts and taken
/// once; the bytes are bounded by [`MAX_OUTPUT_BYTES`] and the free space of `dest` — a sparse
/// file that costs the build nothing cannot fill this machine's disk. A file for which `skip`
/// holds is drained, neither written nor counted against the bytes.
pub(crate) fn read_engine_tar(
    stream: impl std::io::Read,
    dest: &Path,
    shape: Shape,
    skip: &dyn Fn(&str) -> bool,
    sha512: bool,
    on_file: &mut dyn FnMut(ReadFile),
) -> Result<TarRead, BuildError> {
    let bad = |detail: String| BuildError::Outputs { detail };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Io { path, source }
    };
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let max_files = match shape {
        Shape::Flat => MAX_OUTPUT_FILES,
        Shape::Tree | Shape::Left => MAX_STORE_FILES,
    };
    // Measured when the first output arrives — after the build, whose own files share this
    // file system — not when the job starts.
    let mut budget: Option<u64> = None;
    let mut seen = std::collections::BTreeSet::new();
    let mut skipped = 0usize;
    let mut path_bytes = 0usize;
    // Drained bytes are bounded too: a sparse file that costs the job nothing must not keep
    // this machine reading zeros for hours.
    let mut drain_left = MAX_OUTPUT_BYTES;
    let mut links = Vec::new();
    let io_dest = |source| BuildError::Io {
        path: dest.to_owned(),
        source,
    };
    raw_members(stream, &io_dest, &bad, &mut |kind,
                                              name,
                                              mut entry|
     -> Result<(), BuildError> {
        let folder = kind == tar::EntryType::Directory && shape != Shape::Flat;
        if kind != tar::EntryType::Regular && !folder && shape == Shape::Left {
            // A symbolic link, a device: not an output, whatever its name. A hard link is a
            // second name of a file sent earlier (cargo links `target/release/rg` to
            // `deps/rg-…`): when that name is wanted, the caller fetches it by name.
            if kind == tar::EntryType::Link
                && let Ok(text) = String::from_utf8(name)
                && let Some(rel) = plain_path(&text)
                && !skip(rel)
            {
                if links.len() >= MAX_OUTPUT_FILES {
                    return Err(bad(format!("more than {MAX_OUTPUT_FILES} hard links")));
                }
                links.push(rel.to_owned());
            }
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(io(dest))?;
            return Ok(());
        }
        if kind != tar::EntryType::Regular && !folder {
            let shown = String::from_utf8_lossy(&name).into_owned();
            return Err(bad(format!("`{shown}` is not a regular file")));
        }
        let text =
            String::from_utf8(name).map_err(|_| bad("a file name that is not UTF-8".into()))?;
        let Some(rel) = plain_path(&text).filter(|r| shape != Shape::Flat || !r.contains('/'))
        else {
            return Err(bad(format!(
                "`{text}` is not a plain {}",
                if shape == Shape::Flat {
                    "file name"
                } else {
                    "relative path"
                }
            )));
        };
        // No control characters: a newline in a path could forge a line of the store's
        // `sha256sum` listing, and no tool writes one.
        if rel.chars().any(char::is_control) {
            return Err(bad(format!(
                "`{}` holds a control character",
                rel.escape_debug()
            )));
        }
        path_bytes += rel.len();
        if path_bytes > MAX_STORE_PATH_BYTES {
            return Err(bad(format!(
                "more than {MAX_STORE_PATH_BYTES} bytes of file names"
            )));
        }
        let rel = rel.to_owned();
        if !seen.insert(rel.clone()) {
            return Err(bad(format!("`{rel}` is returned twice")));
        }
        if seen.len() > max_files {
            return Err(bad(format!("more than {max_files} files")));
        }
        let target = dest.join(&rel);
        if folder {
            // Made with the first file it holds: an empty folder (a scratch folder whose
            // files are drained) is not kept, as the store's archive keeps none.
            return Ok(());
        }
        if skip(&rel) {
            if entry.size() > drain_left {
                return Err(bad(format!(
                    "`{rel}` is {} bytes, more than a store may hold",
                    entry.size()
                )));
            }
            drain_left -= entry.size();
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(io(&target))?;
            skipped += 1;
            return Ok(());
        }
        let budget = budget.get_or_insert_with(|| {
            let free = rustix::fs::statvfs(dest)
                .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                .unwrap_or(u64::MAX);
            MAX_OUTPUT_BYTES.min(free.saturating_sub(OUTPUT_HEADROOM))
        });
        let size = entry.size();
        if size > *budget {
            return Err(bad(format!(
                "`{rel}` is {size} bytes, more than the {budget} left for outputs (at most {MAX_OUTPUT_BYTES} in all, and the free space of `{}`)",
                dest.display()
            )));
        }
        *budget -= size;
        if let Some(parent) = target.parent() {
            // Parents under `dest` only: every part is plain, and nothing here is a link.
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
        // A store's files keep their executable bit, as its archive does: a build may be
        // given this folder itself.
        let mode = if executable && shape != Shape::Flat {
            0o755
        } else {
            0o644
        };
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&target)
            .map_err(io(&target))?;
        let mut hasher = reprove_digest::Sha256Hasher::new();
        let mut hasher512 = sha512.then(<sha2::Sha512 as sha2::Digest>::new);
        let mut buf = vec![0u8; 1 << 20];
        let mut written = 0u64;
        loop {
            let n = std::io::Read::read(&mut entry, &mut buf).map_err(io(&target))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if let Some(h) = hasher512.as_mut() {
                sha2::Digest::update(h, &buf[..n]);
            }
            std::io::Write::write_all(&mut f, &buf[..n]).map_err(io(&target))?;
            written += n as u64;
        }
        if written != size {
            return Err(bad(format!(
                "`{rel}` ends early ({written} of {size} bytes)"
            )));
        }
        if shape == Shape::Tree {
            // The time the store's archive gives every file (mtime 0): a build given this
            // folder sees what a build given the archive (from the cache, or on a remote
            // engine) sees. With the time it was read back, `ls -l` of the store differed.
            f.set_modified(std::time::UNIX_EPOCH).map_err(io(&target))?;
        }
        on_file(ReadFile {
            path: rel,
            target,
            sha256: hasher.finish().hex(),
            sha512: hasher512.map(|h| hex::encode(sha2::Digest::finalize(h))),
            size,
            executable,
        });
        Ok(())
    })?;
    Ok(TarRead { skipped, links })
}

/// A member's name without its trailing `/`, when it is a plain relative path: parts neither
/// empty, `.`, `..` nor longer than a file name can be.
fn plain_path(text: &str) -> Option<&str> {
    let rel = text.trim_end_matches('/');
    let plain = !rel.is_empty()
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && c.len() <= 255);
    plain.then_some(rel)
}

/// What [`read_engine_tar`] passed over.
#[derive(Debug, Default)]
pub(crate) struct TarRead {
    /// Files drained because `skip` held.
    pub skipped: usize,
    /// Hard links ([`Shape::Left`]) whose names `skip` wants: second names of files the
    /// stream sent earlier, to be fetched by name.
    pub links: Vec<String>,
}

/// What the rebuilt artifacts are compared with.
#[derive(Debug, Clone)]
pub enum Published {
    /// A flat folder of the published files (regular files only, at least one).
    Dir(PathBuf),
    /// A `SHA256SUMS` file (`<hex>  <name>` lines).
    Sums(PathBuf),
    /// Digests already known: the subjects of a verified provenance, or a folder hashed once
    /// by the caller. Entries may carry the file's path (for explanations).
    Digests(BTreeMap<String, ArtifactDigest>),
}

impl Published {
    /// `--artifacts DIR|SHA256SUMS`: a folder or a sums file, decided by what the path is.
    pub fn from_path(path: &Path) -> Published {
        if path.is_dir() {
            Published::Dir(path.to_owned())
        } else {
            Published::Sums(path.to_owned())
        }
    }

    /// Digests by name, as `sha256` hex.
    pub fn digests(map: &BTreeMap<String, String>) -> Published {
        Published::Digests(
            map.iter()
                .map(|(n, h)| {
                    (
                        n.clone(),
                        ArtifactDigest {
                            sha256: h.clone(),
                            size: None,
                            path: None,
                        },
                    )
                })
                .collect(),
        )
    }
}

/// A folder of release files, hashed: every entry must be a regular file, and there must be
/// one. (`verify` lists odd entries as findings instead: [`reprove_digest::hash_flat_folder`].)
pub fn published_folder(dir: &Path) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let folder = reprove_digest::release_folder(dir).map_err(|source| BuildError::Published {
        path: dir.to_owned(),
        source,
    })?;
    Ok(folder
        .files
        .into_iter()
        .map(|(name, f)| {
            (
                name,
                ArtifactDigest {
                    sha256: f.sha256.hex(),
                    size: Some(f.size),
                    path: Some(f.path),
                },
            )
        })
        .collect())
}

/// The published set, by name. An empty set is an error: a comparison with nothing proves
/// nothing.
pub fn published(p: &Published) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let out = match p {
        Published::Dir(dir) => return published_folder(dir),
        Published::Digests(m) => m.clone(),
        Published::Sums(path) => sums(path)?,
    };
    if out.is_empty() {
        return Err(BuildError::Published {
            path: match p {
                Published::Sums(path) | Published::Dir(path) => path.clone(),
                Published::Digests(_) => PathBuf::from("(attested digests)"),
            },
            source: reprove_digest::DigestError::EmptyFolder {
                path: PathBuf::from("the list of published artifacts"),
            },
        });
    }
    Ok(out)
}

fn sums(path: &Path) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    let mut out = BTreeMap::new();
    let text =
        reprove_digest::read_regular_text(path, 16 << 20).map_err(|e| BuildError::Published {
            path: path.to_owned(),
            source: reprove_digest::DigestError::File(e),
        })?;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || BuildError::Sums {
            path: path.to_owned(),
            line: i + 1,
        };
        let (hex, name) = line.split_once(' ').ok_or_else(bad)?;
        let name = name.trim_start().trim_start_matches('*');
        let d: Digest = format!("sha256:{}", hex.to_ascii_lowercase())
            .parse()
            .map_err(|_| bad())?;
        let name = name.rsplit('/').next().unwrap_or(name);
        if name.is_empty() {
            return Err(bad());
        }
        out.insert(
            name.to_owned(),
            ArtifactDigest {
                sha256: d.hex(),
                size: None,
                path: None,
            },
        );
    }
    Ok(out)
}

/// Compares by name; the result is sorted by name.
pub fn compare(
    published: &BTreeMap<String, ArtifactDigest>,
    rebuilt: &BTreeMap<String, ArtifactDigest>,
) -> Vec<Comparison> {
    let mut names: Vec<&String> = published.keys().chain(rebuilt.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let p = published.get(name);
            let r = rebuilt.get(name);
            let verdict = match (p, r) {
                (Some(p), Some(r)) if p.sha256 == r.sha256 => Verdict::Match,
                (Some(_), Some(_)) => Verdict::Mismatch,
                (Some(_), None) => Verdict::Missing,
                _ => Verdict::Extra,
            };
            Comparison {
                name: name.clone(),
                verdict,
                published: p.cloned(),
                rebuilt: r.cloned(),
                normalizations: Vec::new(),
                not_equivalent: None,
            }
        })
        .collect()
}

/// Compares each mismatch whose two files are at hand again after the named normalizations
/// ([`crate::equivalence`]): equal then, it is `equivalent`, with the normalizations it
/// needed; otherwise the reason stays on record.
pub(crate) fn settle_equivalence(comparison: &mut [Comparison]) {
    for c in comparison
        .iter_mut()
        .filter(|c| c.verdict == Verdict::Mismatch)
    {
        let (Some(p), Some(ra)) = (
            c.published.as_ref(),
            c.rebuilt.as_ref().and_then(|x| x.path.as_ref()),
        ) else {
            continue;
        };
        let Some(pa) = p.path.as_ref() else { continue };
        // The file compared must be the one whose digest is on record (a caller may name a
        // file beside a digest it hashed earlier): hashed and compared through one handle.
        match crate::equivalence::compare_expecting(pa, Some(&p.sha256), ra) {
            Ok(crate::equivalence::Equivalence::Equivalent(set)) => {
                c.verdict = Verdict::Equivalent;
                c.normalizations = set.into_iter().collect();
            }
            Ok(crate::equivalence::Equivalence::Different(why)) => c.not_equivalent = Some(why),
            Err(e) => {
                c.not_equivalent = Some(format!("cannot be compared after normalization: {e}"))
            }
        }
    }
}

/// The recipe's artifact patterns (`[build] artifacts`) as one set, matched against paths
/// relative to the build tree; `/` is matched only by `/`.
pub(crate) fn output_globs(patterns: &[String]) -> Result<globset::GlobSet, BuildError> {
    let mut set = globset::GlobSetBuilder::new();
    for p in patterns {
        let g = globset::GlobBuilder::new(p.trim_start_matches("./"))
            .literal_separator(true)
            .build()
            .map_err(|e| BuildError::RecipeGlob {
                pattern: p.clone(),
                detail: e.kind().to_string(),
            })?;
        set.add(g);
    }
    set.build().map_err(|e| BuildError::RecipeGlob {
        pattern: patterns.join(", "),
        detail: e.kind().to_string(),
    })
}

/// The recipe's artifacts in the build tree, by file name (not read); two artifacts with one
/// file name are a recipe error.
pub fn find_outputs(
    tree: &Path,
    patterns: &[String],
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let set = output_globs(patterns)?;
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    let mut stack = vec![tree.to_owned()];
    while let Some(dir) = stack.pop() {
        let io = |e| BuildError::Io {
            path: dir.clone(),
            source: e,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let ft = entry.file_type().map_err(io)?;
            let path = entry.path();
            let rel = path
                .strip_prefix(tree)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() && set.is_match(&rel) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(first) = origin.insert(name.clone(), rel.clone()) {
                    return Err(BuildError::DuplicateArtifact {
                        name,
                        first,
                        second: rel,
                    });
                }
                found.insert(name, path);
            }
        }
    }
    Ok(found)
}

/// Hashes the recipe's artifacts in the build tree; two artifacts with one file name are a
/// recipe error.
pub fn collect(
    tree: &Path,
    patterns: &[String],
) -> Result<BTreeMap<String, ArtifactDigest>, BuildError> {
    find_outputs(tree, patterns)?
        .into_iter()
        .map(|(name, path)| Ok((name, digest_file(&path)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    /// A PAX extended header member holding `records` (`key`, `value`).
    fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut data = Vec::new();
        for (k, v) in records {
            // "LEN key=value\n", LEN counting itself.
            let body = k.len() + v.len() + 3;
            let mut len = body + body.to_string().len();
            if len.to_string().len() != body.to_string().len() {
                len += 1;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeaders/x").unwrap();
        h.set_size(data.len() as u64);
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    /// A plain member: a regular file (`0`) with `data`, or a hard link (`1`) to `target`.
    fn member(kind: u8, name: &str, data: &[u8], target: &str) -> Vec<u8> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(0o644);
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        if !target.is_empty() {
            h.set_link_name(target).unwrap();
        }
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    /// Regression (attack review of the remote engine): `docker cp` writes PAX headers (Go's
    /// tar) for a long or non-ASCII name, which were drained as if they were links, so a file
    /// kept the truncated name of its plain header; and a hard link dropped a wanted name.
    #[test]
    fn pax_names_apply_sizes_are_refused_and_wanted_hard_links_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let long = format!("src/{}/app", "d".repeat(120));
        let mut bytes = pax(&[("path", long.as_bytes()), ("mtime", b"1.5")]);
        bytes.extend(member(b'0', "src/truncated", b"long", ""));
        bytes.extend(pax(&[("path", "src/dist/appé".as_bytes())]));
        bytes.extend(member(b'0', "src/dist/app?", b"accent", ""));
        bytes.extend(member(b'1', "src/dist/copy", b"", "src/dist/appé"));
        bytes.extend(member(b'1', "src/other/copy", b"", "src/dist/appé"));
        bytes.extend_from_slice(&[0u8; 1024]);
        let mut seen = Vec::new();
        let read = read_engine_tar(
            &bytes[..],
            d.path(),
            Shape::Left,
            &|p| !p.starts_with("src/dist/") && !p.ends_with("/app"),
            false,
            &mut |f| seen.push((f.path, f.size)),
        )
        .unwrap();
        assert_eq!(seen, [(long.clone(), 4), ("src/dist/appé".into(), 6)]);
        assert!(!d.path().join("src/truncated").exists());
        assert_eq!(read.links, ["src/dist/copy"]);
        // A size only a PAX header gives (a file over 8 GiB), or a global header: refused,
        // never guessed at.
        for (kind, records) in [
            (tar::EntryType::XHeader, &[("size", &b"9000000000"[..])][..]),
            (tar::EntryType::XGlobalHeader, &[("path", &b"x"[..])][..]),
        ] {
            let mut bytes = pax(records);
            bytes[156] = kind.as_byte();
            let mut h = tar::Header::from_byte_slice(&bytes[..512]).clone();
            h.set_cksum();
            bytes[..512].copy_from_slice(h.as_bytes());
            bytes.extend(member(b'0', "src/dist/app", b"x", ""));
            bytes.extend_from_slice(&[0u8; 1024]);
            let dest = tempfile::tempdir().unwrap();
            let err = read_engine_tar(
                &bytes[..],
                dest.path(),
                Shape::Left,
                &|_| false,
                false,
                &mut |_| {},
            )
            .unwrap_err();
            assert!(err.to_string().contains("PAX"), "{err}");
        }
    }

    /// A hostile engine's outputs: a declared size beyond the bound (refused before a byte is
    /// read), a GNU long-name member (whose data the tar crate would load whole), a link.
    #[test]
    fn outputs_from_an_engine_are_bounded_and_plain() {
        let d = tempfile::tempdir().unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_path("huge.bin").unwrap();
        h.set_size(MAX_OUTPUT_BYTES + 1);
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 1024]);
        let err = read_outputs(&bytes[..], &d.path().join("a")).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");

        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(1 << 40);
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_cksum();
        let mut bytes = long.as_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 1024]);
        let err = read_outputs(&bytes[..], &d.path().join("b")).unwrap_err();
        assert!(err.to_string().contains("a file name of"), "{err}");
        // A PAX member is read bounded: one of any size is refused before it is read.
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(1 << 40);
        pax.set_cksum();
        let mut bytes = pax.as_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 1024]);
        let err = read_outputs(&bytes[..], &d.path().join("b2")).unwrap_err();
        assert!(err.to_string().contains("a PAX header of"), "{err}");

        let mut b = tar::Builder::new(Vec::new());
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "app", "/etc/passwd").unwrap();
        let bytes = b.into_inner().unwrap();
        let err = read_outputs(&bytes[..], &d.path().join("c")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let mut b = tar::Builder::new(Vec::new());
        let mut f = tar::Header::new_gnu();
        f.set_entry_type(tar::EntryType::Regular);
        f.set_size(3);
        f.set_mode(0o644);
        b.append_data(&mut f, "app", &b"abc"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let ok = read_outputs(&bytes[..], &d.path().join("d")).unwrap();
        assert_eq!(ok["app"].sha256, reprove_digest::sha256_bytes(b"abc").hex());
    }

    use super::*;

    fn d(s: &str) -> ArtifactDigest {
        ArtifactDigest {
            sha256: s.into(),
            size: None,
            path: None,
        }
    }

    #[test]
    fn verdicts() {
        let p = BTreeMap::from([
            ("a".to_owned(), d("1")),
            ("b".to_owned(), d("2")),
            ("c".to_owned(), d("3")),
        ]);
        let r = BTreeMap::from([
            ("a".to_owned(), d("1")),
            ("b".to_owned(), d("9")),
            ("x".to_owned(), d("4")),
        ]);
        let v: Vec<_> = compare(&p, &r)
            .into_iter()
            .map(|c| (c.name, c.verdict))
            .collect();
        assert_eq!(
            v,
            [
                ("a".into(), Verdict::Match),
                ("b".into(), Verdict::Mismatch),
                ("c".into(), Verdict::Missing),
                ("x".into(), Verdict::Extra)
            ]
        );
    }

    #[test]
    fn sha256sums_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("SHA256SUMS");
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        std::fs::write(&p, format!("{h}  dist/app\n{h} *app.tar.gz\n")).unwrap();
        let m = published(&Published::Sums(p.clone())).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.contains_key("app"));
        std::fs::write(&p, "nothex  app\n").unwrap();
        assert!(
            published(&Published::Sums(p.clone()))
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        std::fs::write(&p, "").unwrap();
        assert!(published(&Published::Sums(p.clone())).is_err());
    }

    #[test]
    fn a_published_folder_holds_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(published(&Published::Dir(dir.path().to_owned())).is_err());
        std::fs::write(dir.path().join("app"), b"1").unwrap();
        assert_eq!(
            published(&Published::Dir(dir.path().to_owned()))
                .unwrap()
                .len(),
            1
        );
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("z")).unwrap();
        let err = published(&Published::Dir(dir.path().to_owned())).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains("symlink"), "{chain}");
    }

    #[test]
    fn duplicate_names_are_a_recipe_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("a/app"), b"1").unwrap();
        std::fs::write(dir.path().join("b/app"), b"2").unwrap();
        let err = collect(dir.path(), &["*/app".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`app`"), "{err}");
        let ok = collect(dir.path(), &["a/*".into()]).unwrap();
        assert_eq!(ok.len(), 1);
    }
}
