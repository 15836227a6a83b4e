//! Exporting the tree at a commit — never the working tree — into a fresh directory, byte for
//! byte as it is committed.
//!
//! Not through `git archive`: it applies `export-subst` and `export-ignore` from the tree's
//! `.gitattributes` *and* from the clone's own `.git/info/attributes`, and `tar.umask` from its
//! config, so two clones of one tag could hand the build different sources — a branch name in
//! a `$Format:%D$`, an emptied tree — while the baseline lists the raw blobs. Instead reprove
//! lists the tree (`ls-tree`), refuses one git itself calls invalid, streams every blob from
//! the object store (`cat-file --batch`: no filters, no attributes), writes a deterministic tar
//! of exactly those paths, modes and bytes (mtime = the commit time, owner 0), unpacks it with
//! every entry checked to stay inside the root, and then compares what is on disk with the
//! tree. Anything that differs is refused: the build never starts.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use reprove_digest::{Digest, Sha256Hasher};
use reprove_source::{ObjectId, Repository, TreeEntry, TreeEntryKind};

use crate::BuildError;

/// A reader that hashes everything that passes through it.
struct Tee<R> {
    inner: R,
    hasher: Sha256Hasher,
}

/// The read end of the tar pipe; closed early (dropped) when unpacking stops, so the writer
/// sees a closed pipe instead of blocking on a full one.
type PipeEnd = Option<std::io::PipeReader>;

impl std::io::Read for Tee<PipeEnd> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(r) = self.inner.as_mut() else {
            return Ok(0);
        };
        let n = r.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: std::io::Read + ?Sized> std::io::Read for Tee<&mut R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The largest tree exported (sum of the file sizes over every path).
const MAX_EXPORT_BYTES: u64 = 64 << 30;
/// The most paths an export writes (the Linux kernel has about 90,000).
const MAX_EXPORT_ENTRIES: usize = 2_000_000;
/// Space left free beside the export, for the build's own outputs.
const EXPORT_HEADROOM: u64 = 256 << 20;

/// A symlink target is a path: anything longer is not one a checkout would create.
const SYMLINK_TARGET_LIMIT: u64 = 4096;

/// What a path must be once exported.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    File {
        executable: bool,
        sha256: String,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// A submodule: an empty folder, as `git archive` and a checkout without submodules leave.
    Folder,
}

fn export_err(commit: &ObjectId, detail: impl Into<String>) -> BuildError {
    BuildError::Export {
        commit: commit.to_string(),
        detail: detail.into(),
    }
}

/// What an archive holds: the build tree of a commit, or a checked dependency store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Commit(ObjectId),
    Store,
}

impl Origin {
    fn err(&self, detail: impl Into<String>) -> BuildError {
        match self {
            Origin::Commit(c) => export_err(c, detail),
            Origin::Store => BuildError::StoreTransfer {
                detail: detail.into(),
            },
        }
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// A symlink entry whose target is written byte for byte: `append_link` would normalise it
/// (`d//g` and `d/./g` are valid targets git stores as they are). A target longer than the
/// header's field goes in a GNU long-link record first, as GNU tar writes it.
fn append_symlink<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    path: &[u8],
    target: &[u8],
    mtime: u64,
) -> std::io::Result<()> {
    let mut h = header(tar::EntryType::Symlink, 0o777, 0, mtime);
    if target.len() < 100 {
        h.set_link_name_literal(target)?;
    } else {
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongLink);
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        long.set_size(target.len() as u64 + 1);
        long.set_cksum();
        let mut data = target.to_vec();
        data.push(0);
        builder.append(&long, data.as_slice())?;
        h.set_link_name_literal(&target[..99])?;
    }
    builder.append_data(&mut h, os(path), std::io::empty())
}

fn os(path: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(path))
}

/// Writes the tar of `entries` to `out`, returning what each path must be.
fn write_tar(
    repo: &Repository,
    entries: &[TreeEntry],
    mtime: u64,
    out: impl std::io::Write,
) -> std::io::Result<BTreeMap<Vec<u8>, Expected>> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    let mut expected = BTreeMap::new();
    let mut dirs: BTreeSet<Vec<u8>> = BTreeSet::new();
    // Parent folders first, once each, in path order.
    let mut add_dirs = |builder: &mut tar::Builder<_>, path: &[u8]| -> std::io::Result<()> {
        for (i, _) in path.iter().enumerate().filter(|(_, b)| **b == b'/') {
            let d = &path[..i];
            if dirs.insert(d.to_vec()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
                builder.append_data(&mut h, os(d), std::io::empty())?;
            }
        }
        Ok(())
    };
    let blob_entries: Vec<&TreeEntry> = entries
        .iter()
        .filter(|e| e.kind != TreeEntryKind::Submodule)
        .collect();
    let oids: Vec<ObjectId> = blob_entries.iter().map(|e| e.oid.clone()).collect();
    let mut next = 0usize;
    let mut submodules = entries
        .iter()
        .filter(|e| e.kind == TreeEntryKind::Submodule)
        .peekable();
    let streamed = repo.stream_blobs(&oids, &mut |_, size, reader| {
        let e = blob_entries[next];
        next += 1;
        // Submodules that sort before this path.
        while let Some(s) = submodules.next_if(|s| s.path < e.path) {
            add_dirs(&mut builder, &s.path)?;
            let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
            builder.append_data(&mut h, os(&s.path), std::io::empty())?;
            expected.insert(s.path.clone(), Expected::Folder);
        }
        add_dirs(&mut builder, &e.path)?;
        match e.kind {
            TreeEntryKind::Symlink => {
                if size > SYMLINK_TARGET_LIMIT {
                    return Err(std::io::Error::other(format!(
                        "the symlink `{}` has a {size}-byte target",
                        String::from_utf8_lossy(&e.path)
                    )));
                }
                let mut target = Vec::with_capacity(size as usize);
                reader.read_to_end(&mut target)?;
                append_symlink(&mut builder, &e.path, &target, mtime)?;
                expected.insert(e.path.clone(), Expected::Symlink { target });
            }
            _ => {
                let executable = e.kind == TreeEntryKind::Executable;
                let mut h = header(
                    tar::EntryType::Regular,
                    if executable { 0o755 } else { 0o644 },
                    size,
                    mtime,
                );
                let mut tee = Tee {
                    inner: &mut *reader,
                    hasher: Sha256Hasher::new(),
                };
                builder.append_data(&mut h, os(&e.path), &mut tee)?;
                expected.insert(
                    e.path.clone(),
                    Expected::File {
                        executable,
                        sha256: tee.hasher.finish().hex(),
                    },
                );
            }
        }
        Ok(())
    });
    if let Err(e) = streamed {
        return Err(std::io::Error::other(error_chain(&e)));
    }
    for s in submodules {
        add_dirs(&mut builder, &s.path)?;
        let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
        builder.append_data(&mut h, os(&s.path), std::io::empty())?;
        expected.insert(s.path.clone(), Expected::Folder);
    }
    builder.finish()?;
    Ok(expected)
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Unpacks `stream` into `dest`, refusing any entry that would land outside it.
fn unpack(commit: &Origin, stream: impl std::io::Read, dest: &Path) -> Result<(), BuildError> {
    let mut archive = tar::Archive::new(stream);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(false);
    let entries = archive.entries().map_err(|e| commit.err(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| commit.err(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| commit.err(e.to_string()))?
            .into_owned();
        // `unpack_in` refuses `..` and absolute paths and never writes through a symlink
        // outside `dest`; a refused entry is an error, not a skipped file.
        let ok = entry
            .unpack_in(dest)
            .map_err(|e| commit.err(format!("`{}`: {e}", path.display())))?;
        if !ok {
            return Err(commit.err(format!(
                "the archive entry `{}` escapes the build tree",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The folders the listed paths lie in (a tree lists files, links and submodules; their
/// parents are implied).
fn implied_folders(expected: &BTreeMap<Vec<u8>, Expected>) -> BTreeSet<Vec<u8>> {
    expected
        .keys()
        .flat_map(|p| {
            p.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'/')
                .map(|(i, _)| p[..i].to_vec())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Compares the unpacked tree with what the commit holds: same paths, kinds, executable bits
/// and bytes, nothing more.
fn compare(
    commit: &Origin,
    dest: &Path,
    expected: &BTreeMap<Vec<u8>, Expected>,
) -> Result<(), BuildError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let ft = entry.file_type()?;
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            if ft.is_dir() {
                walk(root, &path, out)?;
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(dest, dest, &mut found).map_err(|e| commit.err(e.to_string()))?;
    let mut problems = Vec::new();
    let folders = implied_folders(expected);
    let mut files = Vec::new();
    for rel in &found {
        let key = rel.as_os_str().as_bytes().to_vec();
        let full = dest.join(rel);
        let meta = std::fs::symlink_metadata(&full).map_err(|e| commit.err(e.to_string()))?;
        let shown = rel.display().to_string();
        match expected.get(&key) {
            None if meta.is_dir() && folders.contains(&key) => {}
            None => problems.push(format!("`{shown}` is not in the commit")),
            Some(Expected::Folder) if meta.is_dir() => {}
            Some(Expected::Symlink { target }) if meta.file_type().is_symlink() => {
                let have = std::fs::read_link(&full).map_err(|e| commit.err(e.to_string()))?;
                if have.as_os_str().as_bytes() != target.as_slice() {
                    problems.push(format!("the symlink `{shown}` points elsewhere"));
                }
            }
            Some(Expected::File { executable, sha256 }) if meta.is_file() => {
                use std::os::unix::fs::PermissionsExt as _;
                if (meta.permissions().mode() & 0o111 != 0) != *executable {
                    problems.push(format!("`{shown}` has another mode"));
                }
                files.push((full, shown, sha256.clone()));
            }
            Some(_) => problems.push(format!("`{shown}` is another kind of entry")),
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|(p, _, _)| p.clone()).collect();
    for ((_, shown, want), got) in files.iter().zip(reprove_digest::sha256_files(&paths)) {
        match got {
            Ok((d, _)) if d.hex() == *want => {}
            Ok(_) => problems.push(format!("`{shown}` has other bytes")),
            Err(e) => problems.push(format!("`{shown}`: {e}")),
        }
    }
    let on_disk: BTreeSet<Vec<u8>> = found
        .iter()
        .map(|r| r.as_os_str().as_bytes().to_vec())
        .collect();
    for p in expected.keys().filter(|p| !on_disk.contains(*p)) {
        problems.push(format!("`{}` is missing", String::from_utf8_lossy(p)));
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.sort();
    let n = problems.len();
    problems.truncate(5);
    Err(commit.err(format!(
        "the exported tree is not the committed tree ({n} difference(s): {})",
        problems.join("; ")
    )))
}

/// What a build tree must hold, path by path: the listing a checked unpack of a
/// [`SourceArchive`] compares the unpacked folder with.
#[derive(Debug, Clone)]
pub struct Listing {
    origin: Origin,
    expected: BTreeMap<Vec<u8>, Expected>,
}

/// The build tree of a commit as a tar stream, as a job hands it to an engine: deterministic
/// (the commit's paths, modes and bytes, mtime the commit time, owner 0), made from checked git
/// objects, spooled to a private temporary file so every job of a rebuild (the build and its
/// varied twin) reads the same bytes, and its sha256 — the provenance's `source.tar`.
#[derive(Debug)]
pub struct SourceArchive {
    file: tempfile::NamedTempFile,
    sha256: Digest,
    listing: Listing,
}

impl SourceArchive {
    /// Writes the archive of `commit` into a temporary file in `spool` (refused when the tree
    /// is invalid, absurdly large, or would not fit).
    pub fn create(
        repo: &Repository,
        commit: &ObjectId,
        mtime: i64,
        spool: &Path,
    ) -> Result<SourceArchive, BuildError> {
        let entries = checked_entries(repo, commit, spool)?;
        let file = spool_file(spool, ".reprove-source-")?;
        let mtime = u64::try_from(mtime).unwrap_or(0);
        let (expected, sha256) = {
            let mut tee = HashingWriter {
                inner: std::io::BufWriter::new(file.as_file()),
                hasher: Sha256Hasher::new(),
            };
            let expected = write_tar(repo, &entries, mtime, &mut tee)
                .map_err(|e| export_err(commit, e.to_string()))?;
            std::io::Write::flush(&mut tee.inner).map_err(|e| export_err(commit, e.to_string()))?;
            (expected, tee.hasher.finish())
        };
        Ok(SourceArchive {
            file,
            sha256,
            listing: Listing {
                origin: Origin::Commit(commit.clone()),
                expected,
            },
        })
    }

    /// sha256 of the tar stream.
    pub fn sha256(&self) -> &Digest {
        &self.sha256
    }

    /// What the unpacked tree must hold.
    pub fn listing(&self) -> &Listing {
        &self.listing
    }

    /// The tar stream from its start (each call reads it afresh).
    pub fn open(&self) -> Result<std::fs::File, BuildError> {
        reopen(&self.file)
    }
}

/// A spooled archive from its start, through a handle of its own.
fn reopen(file: &tempfile::NamedTempFile) -> Result<std::fs::File, BuildError> {
    file.reopen().map_err(|e| BuildError::Io {
        path: file.path().to_owned(),
        source: e,
    })
}

/// A writer that hashes everything written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256Hasher,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Unpacks a source archive's tar `stream` into `dest` (existing, empty), every entry checked
/// to stay inside it, then compares the folder with the `listing`: the same paths, kinds,
/// executable bits and bytes, nothing more. What an engine that unpacks on this machine uses.
pub fn unpack_checked(
    stream: impl std::io::Read,
    dest: &Path,
    listing: &Listing,
) -> Result<(), BuildError> {
    unpack(&listing.origin, stream, dest)?;
    compare(&listing.origin, dest, &listing.expected)
}

/// Writes an archive `stream` (a [`SourceArchive`] or [`StoreArchive`]) again for an engine
/// that unpacks it where reprove cannot look (a remote daemon): every entry is checked against
/// the `listing` on the way — the same paths, kinds, executable bits and bytes, nothing more,
/// nothing missing — and written under `prefix/` (a folder entry of its own first) when there
/// is one, folders and files opened to any user when `open` (as [`crate::owner::open_up`]
/// does), then an empty folder for each of `extra_dirs` the listing does not hold.
///
/// A difference fails the call; the engine may have read part of the stream by then, and the
/// caller removes the job without starting it.
pub(crate) fn retar_checked(
    stream: impl std::io::Read,
    listing: &Listing,
    prefix: Option<&str>,
    open: bool,
    extra_dirs: &[String],
    out: impl std::io::Write,
) -> Result<(), BuildError> {
    let origin = &listing.origin;
    let err = |e: std::io::Error| origin.err(e.to_string());
    let folders = implied_folders(&listing.expected);
    let placed = |path: &[u8]| -> Vec<u8> {
        match prefix {
            Some(p) => [p.as_bytes(), b"/", path].concat(),
            None => path.to_vec(),
        }
    };
    let folder_mode = if open { 0o777 } else { 0o755 };
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    if let Some(p) = prefix {
        let mut h = header(tar::EntryType::Directory, folder_mode, 0, 0);
        builder
            .append_data(&mut h, Path::new(p), std::io::empty())
            .map_err(err)?;
    }
    let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        let raw = entry.path_bytes().into_owned();
        let path = raw.strip_suffix(b"/").unwrap_or(&raw).to_vec();
        let shown = String::from_utf8_lossy(&path).into_owned();
        let plain = !path.is_empty()
            && path
                .split(|b| *b == b'/')
                .all(|c| !c.is_empty() && c != b"." && c != b"..");
        if !plain {
            return Err(origin.err(format!("the archive entry `{shown}` is not a plain path")));
        }
        if !seen.insert(path.clone()) {
            return Err(origin.err(format!("the archive holds `{shown}` twice")));
        }
        let mtime = entry.header().mtime().unwrap_or(0);
        let kind = entry.header().entry_type();
        match (listing.expected.get(&path), kind) {
            (Some(Expected::Folder), tar::EntryType::Directory) => {}
            (None, tar::EntryType::Directory) if folders.contains(&path) => {}
            (Some(Expected::Symlink { target }), tar::EntryType::Symlink) => {
                let have = entry.link_name_bytes().map(|l| l.into_owned());
                if have.as_deref() != Some(target.as_slice()) {
                    return Err(origin.err(format!("the symlink `{shown}` points elsewhere")));
                }
                append_symlink(&mut builder, &placed(&path), target, mtime).map_err(err)?;
                continue;
            }
            (Some(Expected::File { executable, sha256 }), tar::EntryType::Regular) => {
                let mode = entry.header().mode().unwrap_or(0);
                if (mode & 0o111 != 0) != *executable {
                    return Err(origin.err(format!("`{shown}` has another mode")));
                }
                let mode = match (executable, open) {
                    (true, true) => 0o777,
                    (true, false) => 0o755,
                    (false, true) => 0o666,
                    (false, false) => 0o644,
                };
                let mut h = header(tar::EntryType::Regular, mode, entry.size(), mtime);
                let mut tee = Tee {
                    inner: &mut entry,
                    hasher: Sha256Hasher::new(),
                };
                builder
                    .append_data(&mut h, os(&placed(&path)), &mut tee)
                    .map_err(err)?;
                if tee.hasher.finish().hex() != *sha256 {
                    return Err(origin.err(format!("`{shown}` has other bytes")));
                }
                continue;
            }
            (None, _) => return Err(origin.err(format!("`{shown}` is not in the commit"))),
            (Some(_), _) => {
                return Err(origin.err(format!("`{shown}` is another kind of entry")));
            }
        }
        let mut h = header(tar::EntryType::Directory, folder_mode, 0, mtime);
        builder
            .append_data(&mut h, os(&placed(&path)), std::io::empty())
            .map_err(err)?;
    }
    if let Some(missing) = listing.expected.keys().find(|p| !seen.contains(*p)) {
        return Err(origin.err(format!("`{}` is missing", String::from_utf8_lossy(missing))));
    }
    for d in extra_dirs {
        if seen.contains(d.as_bytes()) || folders.contains(d.as_bytes()) {
            continue;
        }
        let mut h = header(tar::EntryType::Directory, folder_mode, 0, 0);
        builder
            .append_data(&mut h, os(&placed(d.as_bytes())), std::io::empty())
            .map_err(err)?;
    }
    builder.finish().map_err(err)
}

/// The tree's entries, refused when git would call the tree invalid, when it has absurdly many
/// paths or bytes, or when it would not fit in `dest`'s file system.
fn checked_entries(
    repo: &Repository,
    commit: &ObjectId,
    dest: &Path,
) -> Result<Vec<TreeEntry>, BuildError> {
    let git = |action: &'static str| move |source| BuildError::Git { action, source };
    let entries = repo
        .tree_entries(commit)
        .map_err(git("list the tree to export"))?;
    if let Some(p) = reprove_source::tree_problems(&entries).first() {
        return Err(export_err(
            commit,
            format!(
                "the tree is invalid (git fsck would refuse it): `{}` {}",
                p.path, p.reason
            ),
        ));
    }
    // One blob can stand at many paths: what is written is the sum over paths, which a tiny
    // repository can make terabytes. Refuse what would not fit (or is absurd) before writing.
    // Each path takes at least a block and an inode, however small: count them so.
    if entries.len() > MAX_EXPORT_ENTRIES {
        return Err(export_err(
            commit,
            format!(
                "the tree has {} paths, more than the {MAX_EXPORT_ENTRIES} an export takes",
                entries.len()
            ),
        ));
    }
    let total: u64 = entries
        .iter()
        .map(|e| e.size.unwrap_or(0).max(4096))
        .fold(0, u64::saturating_add);
    let free = rustix::fs::statvfs(dest)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(u64::MAX);
    if total > MAX_EXPORT_BYTES || total.saturating_add(EXPORT_HEADROOM) > free {
        return Err(export_err(
            commit,
            format!(
                "the tree holds {total} bytes, more than {} (free space in `{}`: {free} bytes)",
                MAX_EXPORT_BYTES,
                dest.display()
            ),
        ));
    }
    Ok(entries)
}

/// Unpacks the tree at `commit` into `dest` (which must exist and be empty), checks it against
/// the commit, and returns the sha256 of the tar stream the build tree was made from (a
/// deterministic function of the commit's tree and `mtime`, its commit time).
pub fn export_tree(
    repo: &Repository,
    commit: &ObjectId,
    mtime: i64,
    dest: &Path,
) -> Result<Digest, BuildError> {
    let entries = checked_entries(repo, commit, dest)?;
    let mtime = u64::try_from(mtime).unwrap_or(0);
    let (reader, writer) = std::io::pipe().map_err(|e| export_err(commit, e.to_string()))?;
    let mut tee: Tee<PipeEnd> = Tee {
        inner: Some(reader),
        hasher: Sha256Hasher::new(),
    };
    let (written, unpacked) = std::thread::scope(|s| {
        let producer = s.spawn(move || write_tar(repo, &entries, mtime, writer));
        let unpacked = unpack(&Origin::Commit(commit.clone()), &mut tee, dest).and_then(|()| {
            // The trailing blocks, so the digest covers the whole stream.
            std::io::copy(&mut tee, &mut std::io::sink())
                .map(|_| ())
                .map_err(|e| export_err(commit, e.to_string()))
        });
        // If unpacking stopped early, close the pipe: the producer then fails instead of
        // waiting for a reader, and the unpacking error is reported first.
        if unpacked.is_err() {
            tee.inner = None;
        }
        let written = producer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the tar writer panicked")));
        (written, unpacked)
    });
    unpacked?;
    let expected = written.map_err(|e| export_err(commit, e.to_string()))?;
    compare(&Origin::Commit(commit.clone()), dest, &expected)?;
    Ok(tee.hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@example.com")
            .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A repository whose tree asks `git archive` to rewrite and drop files.
    fn repo_with_export_attributes() -> (tempfile::TempDir, Repository, ObjectId) {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        git(r, &["init", "-q", "-b", "main"]);
        std::fs::write(
            r.join(".gitattributes"),
            "version.txt export-subst\nignored.txt export-ignore\n",
        )
        .unwrap();
        std::fs::write(r.join("version.txt"), "refs: $Format:%D$\n").unwrap();
        std::fs::write(r.join("ignored.txt"), "still here\n").unwrap();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::write(r.join("bin/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(
            r.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")),
            "latin-1 name\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("bin/run.sh", r.join("run")).unwrap();
        // Targets git stores byte for byte (regression, review of issue 11: `append_link`
        // normalised them), and one longer than a tar header's link field.
        std::os::unix::fs::symlink("bin//run.sh", r.join("run2")).unwrap();
        std::os::unix::fs::symlink("bin/./run.sh", r.join("run3")).unwrap();
        let long = format!("{}/target", "x".repeat(150));
        std::os::unix::fs::symlink(&long, r.join("long")).unwrap();
        git(r, &["add", "-A"]);
        git(r, &["update-index", "--chmod=+x", "bin/run.sh"]);
        // A submodule entry (gitlink) without its repository.
        git(
            r,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                "160000,0123456789abcdef0123456789abcdef01234567,vendor/sub",
            ],
        );
        git(r, &["commit", "-q", "-m", "one"]);
        git(r, &["tag", "v1"]);
        // The clone's own attributes and branches must change nothing.
        std::fs::write(r.join(".git/info/attributes"), "* export-ignore\n").unwrap();
        git(r, &["branch", "evil-branch-name"]);
        git(r, &["config", "tar.umask", "0777"]);
        let repo = Repository::discover(r).unwrap();
        let commit = repo.resolve_tag(&"v1".parse().unwrap()).unwrap().commit;
        (dir, repo, commit)
    }

    #[test]
    fn the_export_is_the_committed_tree_whatever_the_attributes_say() {
        let (_dir, repo, commit) = repo_with_export_attributes();
        let out = tempfile::tempdir().unwrap();
        let d = export_tree(&repo, &commit, 1_700_000_000, out.path()).unwrap();
        let o = out.path();
        // export-subst and the branch name did not touch the file; export-ignore removed none.
        assert_eq!(
            std::fs::read_to_string(o.join("version.txt")).unwrap(),
            "refs: $Format:%D$\n"
        );
        assert_eq!(
            std::fs::read_to_string(o.join("ignored.txt")).unwrap(),
            "still here\n"
        );
        assert!(o.join(".gitattributes").exists());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &str| std::fs::metadata(o.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("bin/run.sh"), 0o755);
        assert_eq!(mode("version.txt"), 0o644);
        assert_eq!(
            std::fs::read_link(o.join("run")).unwrap(),
            Path::new("bin/run.sh")
        );
        assert!(
            o.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"))
                .is_file()
        );
        assert!(o.join("vendor/sub").is_dir());
        let mtime = std::fs::metadata(o.join("version.txt"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            mtime,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
        );
        // The stream is a function of the tree and time alone.
        let again = tempfile::tempdir().unwrap();
        assert_eq!(
            export_tree(&repo, &commit, 1_700_000_000, again.path()).unwrap(),
            d
        );
    }

    /// The archive a job hands an engine is the export's own stream: same bytes, same
    /// digest, and an unpack of anything else is refused against its listing.
    #[test]
    fn the_source_archive_is_the_exported_stream_and_its_listing_holds() {
        let (_dir, repo, commit) = repo_with_export_attributes();
        let out = tempfile::tempdir().unwrap();
        let exported = export_tree(&repo, &commit, 1_700_000_000, out.path()).unwrap();
        let spool = tempfile::tempdir().unwrap();
        let archive = SourceArchive::create(&repo, &commit, 1_700_000_000, spool.path()).unwrap();
        assert_eq!(archive.sha256(), &exported);
        // Read twice (the build and its varied twin): the same tree both times.
        for _ in 0..2 {
            let dest = tempfile::tempdir().unwrap();
            unpack_checked(archive.open().unwrap(), dest.path(), archive.listing()).unwrap();
            assert_eq!(
                std::fs::read_to_string(dest.path().join("version.txt")).unwrap(),
                "refs: $Format:%D$\n"
            );
        }
        // A stream that is not the listing's tree (an engine's or a disk's doing) is refused.
        let mut other = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        other
            .append_data(&mut h, "version.txt", &b"evil"[..])
            .unwrap();
        let bytes = other.into_inner().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let err = unpack_checked(&bytes[..], dest.path(), archive.listing()).unwrap_err();
        assert!(err.to_string().contains("not the committed tree"), "{err}");
    }

    #[test]
    fn a_tree_git_calls_invalid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        git(r, &["init", "-q", "-b", "main"]);
        let blob = git(r, &["hash-object", "-w", "--stdin"]);
        // Two entries named `dup`: only `--literally` writes such a tree.
        let mut raw = Vec::new();
        for _ in 0..2 {
            raw.extend_from_slice(b"100644 dup\0");
            raw.extend_from_slice(&hex::decode(&blob).unwrap());
        }
        let raw_path = r.join("tree.raw");
        std::fs::write(&raw_path, &raw).unwrap();
        let tree = git(
            r,
            &["hash-object", "-t", "tree", "--literally", "-w", "tree.raw"],
        );
        let commit = git(r, &["commit-tree", &tree, "-m", "dup"]);
        let repo = Repository::discover(r).unwrap();
        let out = tempfile::tempdir().unwrap();
        let err = export_tree(&repo, &commit.parse().unwrap(), 0, out.path()).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "nothing was written"
        );
    }

    #[test]
    fn a_tree_that_would_fill_the_disk_is_refused_before_writing() {
        // Regression (review of issue 11): one 1 MiB blob at 70,000 paths is a 100 KiB
        // repository and a 70 GiB export.
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        git(r, &["init", "-q", "-b", "main"]);
        std::fs::write(r.join("blob"), vec![0u8; 1 << 20]).unwrap();
        let blob = git(r, &["hash-object", "-w", "blob"]);
        let listing: String = (0..70_000)
            .map(|i| format!("100644 blob {blob}\tf{i}\n"))
            .collect();
        std::fs::write(r.join("listing"), listing).unwrap();
        let out = Command::new("sh")
            .current_dir(r)
            .args(["-c", "git mktree < listing"])
            .output()
            .unwrap();
        let tree = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let commit = git(r, &["commit-tree", &tree, "-m", "big"]);
        let repo = Repository::discover(r).unwrap();
        let out = tempfile::tempdir().unwrap();
        let err = export_tree(&repo, &commit.parse().unwrap(), 0, out.path()).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }

    /// A tar of `(path, kind, mode, bytes)` entries; kind `d`, `f` or `l` (bytes: target).
    fn tar_of(entries: &[(&[u8], char, u32, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, mode, bytes) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(*mode);
            match kind {
                'd' => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, os(path), std::io::empty()).unwrap();
                }
                'l' => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, os(path), std::str::from_utf8(bytes).unwrap())
                        .unwrap();
                }
                _ => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(bytes.len() as u64);
                    b.append_data(&mut h, os(path), *bytes).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn an_archive_sent_to_a_remote_engine_is_checked_on_the_way_and_placed_below_its_folder() {
        let (_dir, repo, commit) = repo_with_export_attributes();
        let spool = tempfile::tempdir().unwrap();
        let archive = SourceArchive::create(&repo, &commit, 1_700_000_000, spool.path()).unwrap();
        let listing = archive.listing();
        // The committed tree passes, under `src/`, opened to any user when asked.
        for open in [false, true] {
            let mut out = Vec::new();
            retar_checked(
                archive.open().unwrap(),
                listing,
                Some("src"),
                open,
                &[],
                &mut out,
            )
            .unwrap();
            let mut seen = Vec::new();
            for e in tar::Archive::new(&out[..]).entries().unwrap() {
                let e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let mode = e.header().mode().unwrap();
                seen.push((path, mode));
            }
            assert_eq!(
                seen[0],
                ("src".into(), if open { 0o777 } else { 0o755 }),
                "{seen:?}"
            );
            assert!(seen.iter().all(|(p, _)| p.starts_with("src")), "{seen:?}");
            let version = seen.iter().find(|(p, _)| p == "src/version.txt").unwrap();
            assert_eq!(version.1, if open { 0o666 } else { 0o644 });
            // Unpacked here, below the prefix, it is the committed tree.
            let dest = tempfile::tempdir().unwrap();
            let mut a = tar::Archive::new(&out[..]);
            a.unpack(dest.path()).unwrap();
            assert!(compare(&listing.origin, &dest.path().join("src"), &listing.expected).is_ok());
        }
        // Everything else is refused: other bytes, a planted file, another mode, a missing
        // file, a path that climbs out.
        let files: Vec<(Vec<u8>, u32, Vec<u8>)> = listing
            .expected
            .iter()
            .filter_map(|(p, e)| match e {
                Expected::File { executable, .. } => {
                    let dest = tempfile::tempdir().unwrap();
                    unpack_checked(archive.open().unwrap(), dest.path(), listing).unwrap();
                    let bytes = std::fs::read(dest.path().join(os(p))).unwrap();
                    Some((p.clone(), if *executable { 0o755 } else { 0o644 }, bytes))
                }
                _ => None,
            })
            .collect();
        let good: Vec<(&[u8], char, u32, &[u8])> = files
            .iter()
            .map(|(p, m, b)| (p.as_slice(), 'f', *m, b.as_slice()))
            .collect();
        let refused = |entries: Vec<(&[u8], char, u32, &[u8])>, why: &str| {
            let bytes = tar_of(&entries);
            let err = retar_checked(
                &bytes[..],
                listing,
                Some("src"),
                false,
                &[],
                std::io::sink(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(why), "{why}: {err}");
        };
        let mut other = good.clone();
        other[0].3 = b"evil";
        refused(other, "has other bytes");
        let mut planted = good.clone();
        planted.push((b"planted.sh", 'f', 0o755, b"curl | sh"));
        refused(planted, "`planted.sh` is not in the commit");
        let mut mode = good.clone();
        mode[0].2 ^= 0o111;
        refused(mode, "has another mode");
        refused(good[1..].to_vec(), "is missing");
        let mut link = good.clone();
        link.push((b"version.txt.lnk", 'l', 0o777, b"/etc/passwd"));
        refused(link, "is not in the commit");
        let mut twice = good.clone();
        twice.push(good[0]);
        refused(twice, "twice");
    }

    #[test]
    fn anything_planted_in_the_tree_is_caught() {
        let (_dir, repo, commit) = repo_with_export_attributes();
        let out = tempfile::tempdir().unwrap();
        export_tree(&repo, &commit, 0, out.path()).unwrap();
        let entries = repo.tree_entries(&commit).unwrap();
        let expected = write_tar(&repo, &entries, 0, std::io::sink()).unwrap();
        assert!(compare(&Origin::Commit(commit.clone()), out.path(), &expected).is_ok());
        std::fs::write(out.path().join("planted.sh"), b"curl | sh").unwrap();
        std::fs::write(out.path().join("version.txt"), b"refs: HEAD -> evil\n").unwrap();
        let err = compare(&Origin::Commit(commit.clone()), out.path(), &expected)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("planted.sh") && err.contains("version.txt"),
            "{err}"
        );
    }
}

/// A new tar file in `spool` named `<prefix>….tar`, removed when dropped.
fn spool_file(spool: &Path, prefix: &str) -> Result<tempfile::NamedTempFile, BuildError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tar")
        .tempfile_in(spool)
        .map_err(|e| BuildError::Io {
            path: spool.to_owned(),
            source: e,
        })
}

/// A checked dependency store as the tar stream a build job is handed: the kept files only,
/// in path order, mode 0644 (0755 when executable), mtime 0, owner 0; spooled once for every
/// job of a rebuild, with the listing an engine checks its unpack against.
#[derive(Debug)]
pub struct StoreArchive {
    spooled: Spooled,
    listing: Listing,
    /// The same store already unpacked here, for the first build that takes it.
    prepared: std::sync::Mutex<Option<PreparedStore>>,
    /// Folders of the store a build derives again (cargo's `src`): writable in a build.
    derived: Vec<String>,
    /// The folder the file is spooled in, when the archive owns it (dropped after the file).
    _spool: Option<tempfile::TempDir>,
}

/// The spooled tar: written, or being written on a thread of its own.
#[derive(Debug)]
struct Spooled {
    done: std::sync::OnceLock<Result<tempfile::NamedTempFile, String>>,
    pending: std::sync::Mutex<
        Option<std::thread::JoinHandle<Result<tempfile::NamedTempFile, BuildError>>>,
    >,
}

/// A checked store already unpacked on this machine, holding exactly what the archive's
/// listing says: the folder the fetch phase wrote while hashing what the engine returned,
/// every file of it checked against the lockfiles. An engine that builds on this machine may
/// hand it to one build instead of unpacking the archive and hashing it again (a quarter of a
/// cold fetch's overhead). A build mounts it read-only, but gets writable folders mounted over
/// empty folders made in it for the purpose: it serves one build only.
#[derive(Debug)]
pub struct PreparedStore {
    /// Removed with the store, once the archive written from it is done too.
    _owner: std::sync::Arc<tempfile::TempDir>,
    path: PathBuf,
}

impl PreparedStore {
    /// `path` (inside `owner`, a folder of this run) holds exactly the store.
    pub(crate) fn new(owner: std::sync::Arc<tempfile::TempDir>, path: PathBuf) -> PreparedStore {
        PreparedStore {
            _owner: owner,
            path,
        }
    }

    /// Where the store is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What the unpacked store must hold: the kept files with their digests.
fn store_listing(kept: &[reprove_fetch::StoreFile]) -> Listing {
    Listing {
        origin: Origin::Store,
        expected: kept
            .iter()
            .map(|f| {
                (
                    f.path.as_bytes().to_vec(),
                    Expected::File {
                        executable: f.executable,
                        sha256: f.sha256.clone(),
                    },
                )
            })
            .collect(),
    }
}

/// Writes the archive of the files `kept` (paths relative to `dir`) into `file`.
fn write_store_tar(
    dir: &Path,
    kept: &[reprove_fetch::StoreFile],
    file: &tempfile::NamedTempFile,
) -> Result<(), BuildError> {
    let origin = Origin::Store;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file.as_file()));
    let mut folders = BTreeSet::new();
    for reprove_fetch::StoreFile {
        path, executable, ..
    } in kept
    {
        // Each folder once, before what it holds.
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let folder = parts[..i].join("/");
            if folders.insert(folder.clone()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0, 0);
                builder
                    .append_data(&mut h, format!("{folder}/"), std::io::empty())
                    .map_err(|e| origin.err(e.to_string()))?;
            }
        }
        let full = dir.join(path);
        let io = |e| BuildError::Io {
            path: full.clone(),
            source: e,
        };
        let f = std::fs::File::open(&full).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        let mode = if *executable { 0o755 } else { 0o644 };
        let mut h = header(tar::EntryType::Regular, mode, size, 0);
        builder
            .append_data(&mut h, path, std::io::Read::take(f, size))
            .map_err(|e| origin.err(format!("`{path}`: {e}")))?;
    }
    let inner = builder
        .into_inner()
        .map_err(|e| origin.err(e.to_string()))?;
    inner.into_inner().map_err(|e| origin.err(e.to_string()))?;
    Ok(())
}

impl StoreArchive {
    /// Writes the archive of the files `kept` (paths relative to `dir`) into `spool`.
    pub fn create(
        dir: &Path,
        kept: &[reprove_fetch::StoreFile],
        spool: &Path,
    ) -> Result<StoreArchive, BuildError> {
        let file = spool_file(spool, ".reprove-store-")?;
        write_store_tar(dir, kept, &file)?;
        Ok(StoreArchive {
            spooled: Spooled {
                done: std::sync::OnceLock::from(Ok(file)),
                pending: std::sync::Mutex::new(None),
            },
            listing: store_listing(kept),
            prepared: std::sync::Mutex::new(None),
            derived: Vec::new(),
            _spool: None,
        })
    }

    /// The same, written on a thread of its own while the first build runs from `dir` (which
    /// the build mounts read-only, and `owner` keeps until the archive is written); `then` is
    /// given the written file (to cache it). [`StoreArchive::open`] waits for it.
    pub(crate) fn spawn(
        owner: std::sync::Arc<tempfile::TempDir>,
        dir: PathBuf,
        kept: Vec<reprove_fetch::StoreFile>,
        spool: tempfile::TempDir,
        then: impl FnOnce(&tempfile::NamedTempFile) + Send + 'static,
    ) -> Result<StoreArchive, BuildError> {
        let file = spool_file(spool.path(), ".reprove-store-")?;
        let listing = store_listing(&kept);
        let handle = std::thread::spawn(move || {
            let _owner = owner;
            write_store_tar(&dir, &kept, &file)?;
            then(&file);
            Ok(file)
        });
        Ok(StoreArchive {
            spooled: Spooled {
                done: std::sync::OnceLock::new(),
                pending: std::sync::Mutex::new(Some(handle)),
            },
            listing,
            prepared: std::sync::Mutex::new(None),
            derived: Vec::new(),
            _spool: Some(spool),
        })
    }

    /// The spooled file, once written.
    fn file(&self) -> Result<&tempfile::NamedTempFile, BuildError> {
        let done = self.spooled.done.get_or_init(|| {
            let handle = self.spooled.pending.lock().ok().and_then(|mut p| p.take());
            match handle.map(std::thread::JoinHandle::join) {
                Some(Ok(Ok(file))) => Ok(file),
                Some(Ok(Err(e))) => Err(e.to_string()),
                Some(Err(_)) => Err("the store archive's writer panicked".into()),
                None => Err("the store archive was not written".into()),
            }
        });
        done.as_ref().map_err(|detail| BuildError::StoreTransfer {
            detail: detail.clone(),
        })
    }

    /// The same archive, whose builds may write the folders `derived` (relative, plain).
    pub(crate) fn with_derived(mut self, derived: Vec<String>) -> StoreArchive {
        self.derived = derived;
        self
    }

    /// The folders of the store a build derives again.
    pub fn derived(&self) -> &[String] {
        &self.derived
    }

    /// The same archive, with the store already unpacked at `prepared`.
    pub(crate) fn with_prepared(self, prepared: PreparedStore) -> StoreArchive {
        if let Ok(mut p) = self.prepared.lock() {
            *p = Some(prepared);
        }
        self
    }

    /// The unpacked store, to the first caller only.
    pub fn take_prepared(&self) -> Option<PreparedStore> {
        self.prepared.lock().ok().and_then(|mut p| p.take())
    }

    /// What the unpacked store must hold.
    pub fn listing(&self) -> &Listing {
        &self.listing
    }

    /// The tar stream from its start (each call reads it afresh; the first waits for it to
    /// be written).
    pub fn open(&self) -> Result<std::fs::File, BuildError> {
        reopen(self.file()?)
    }
}

impl Drop for StoreArchive {
    /// A rebuild does not end with the archive half written (or its cache copy half made).
    fn drop(&mut self) {
        let _ = self.file();
    }
}
