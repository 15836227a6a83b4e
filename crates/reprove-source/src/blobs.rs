//! Streaming every blob of a tree through sha256 on every core.
//!
//! Each worker thread drives its own `git cat-file --batch` process: git inflates objects on
//! one core while we hash on another, and the blobs are spread over the workers largest first
//! (longest-processing-time scheduling) so one huge file does not leave a core idle at the end.
//! Memory stays bounded: blobs are hashed from a 1 MiB read buffer and kept whole only when
//! the caller asks (lockfiles, image files) and they are under its size limit.

use std::collections::HashMap;
use std::io::Read;

use reprove_digest::{Digest, Sha256Hasher};

use crate::git::Repository;
use crate::ids::ObjectId;
use crate::odb::{ObjectKind, ObjectReader};
use crate::{Result, SourceError};

/// The largest blob that can be a Git LFS pointer (the spec caps pointers at 1024 bytes).
const LFS_POINTER_MAX: u64 = 1024;
const LFS_VERSION_LINE: &[u8] = b"version https://git-lfs.github.com/spec/v1\n";

/// A blob a reader thread reads: its id, whether to keep the content, its listed size.
type Wanted = (ObjectId, bool, u64);

/// A blob to read.
#[derive(Debug, Clone)]
pub struct BlobRequest {
    pub oid: ObjectId,
    /// Size from the tree listing ([`Repository::tree_entries`]): it balances work across
    /// cores, and the blob read must have exactly this size.
    pub size: u64,
    /// Keep the content in memory (subject to the size limit passed to `read_blobs`).
    pub keep: bool,
}

/// A Git LFS pointer's target (<https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsPointer {
    pub oid: Digest,
    pub size: u64,
}

/// What reading a blob produced.
#[derive(Debug, Clone)]
pub struct BlobData {
    pub sha256: Digest,
    pub size: u64,
    /// The content, when requested and under the limit.
    pub content: Option<Vec<u8>>,
    /// Set when the blob is a Git LFS pointer file.
    pub lfs: Option<LfsPointer>,
}

impl Repository {
    /// Reads and hashes every requested blob. `progress` is called with byte counts as blobs
    /// complete, from worker threads.
    pub fn read_blobs(
        &self,
        requests: &[BlobRequest],
        keep_limit: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<HashMap<ObjectId, BlobData>> {
        // One read per distinct blob, however many paths share it.
        let mut unique: HashMap<&ObjectId, (u64, bool)> = HashMap::new();
        for r in requests {
            let e = unique.entry(&r.oid).or_insert((r.size, false));
            e.1 |= r.keep;
        }
        let mut work: Vec<(&ObjectId, u64, bool)> =
            unique.into_iter().map(|(o, (s, k))| (o, s, k)).collect();
        work.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));

        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(work.len())
            .max(1);
        let mut shards: Vec<(u64, Vec<Wanted>)> = vec![(0, Vec::new()); workers];
        for (oid, size, keep) in work {
            // Largest remaining blob to the least-loaded worker; +1 accounts per-object cost.
            if let Some(shard) = shards.iter_mut().min_by_key(|s| s.0) {
                shard.0 += size + 1;
                shard.1.push((oid.clone(), keep, size));
            }
        }

        let results: Vec<Result<Vec<(ObjectId, BlobData)>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = shards
                .into_iter()
                .filter(|s| !s.1.is_empty())
                .map(|(_, shard)| {
                    scope.spawn(move || self.read_shard(&shard, keep_limit, progress))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(SourceError::Unexpected {
                            args: "cat-file --batch".into(),
                            detail: "a blob reader thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let mut map = HashMap::new();
        for r in results {
            map.extend(r?);
        }
        Ok(map)
    }

    /// The content of the file at `path` in a listed tree (`None` when there is no such file,
    /// or it is a submodule, or it is larger than `limit`).
    pub fn read_tree_file(
        &self,
        entries: &[crate::TreeEntry],
        path: &[u8],
        limit: u64,
    ) -> Result<Option<Vec<u8>>> {
        let Some(e) = entries
            .iter()
            .find(|e| e.path == path && e.kind != crate::TreeEntryKind::Submodule)
        else {
            return Ok(None);
        };
        let req = [BlobRequest {
            oid: e.oid.clone(),
            size: e.size.unwrap_or(0),
            keep: true,
        }];
        let mut map = self.read_blobs(&req, limit, &|_| {})?;
        Ok(map.remove(&e.oid).and_then(|b| b.content))
    }

    fn read_shard(
        &self,
        shard: &[Wanted],
        keep_limit: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<(ObjectId, BlobData)>> {
        let oids: Vec<ObjectId> = shard.iter().map(|(oid, _, _)| oid.clone()).collect();
        let mut out = Vec::with_capacity(shard.len());
        let mut buf = vec![0u8; reprove_digest::BUFFER_SIZE];
        let mut requests = shard.iter();
        self.stream_blobs(&oids, &mut |oid, size, reader| {
            let Some((_, keep, listed)) = requests.next() else {
                return Err(std::io::Error::other("a blob nobody asked for"));
            };
            // The listing's size (from `cat-file --batch-check`) is what the baseline records;
            // the size hashed with the blob must be the same.
            if size != *listed {
                return Err(std::io::Error::other(format!(
                    "blob `{oid}` has {size} bytes, the tree listing said {listed}"
                )));
            }
            let keep = *keep && size <= keep_limit;
            let mut content = keep.then(|| Vec::with_capacity(size as usize));
            let mut small = (size <= LFS_POINTER_MAX).then(Vec::new);
            let mut hasher = Sha256Hasher::new();
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let chunk = &buf[..n];
                hasher.update(chunk);
                if let Some(c) = content.as_mut() {
                    c.extend_from_slice(chunk);
                }
                if let Some(s) = small.as_mut() {
                    s.extend_from_slice(chunk);
                }
            }
            // A record shorter than its header said is caught by `stream_blobs`.
            let lfs = small.as_deref().and_then(parse_lfs_pointer);
            progress(size);
            out.push((
                oid.clone(),
                BlobData {
                    sha256: hasher.finish(),
                    size,
                    content,
                    lfs,
                },
            ));
            Ok(())
        })?;
        Ok(out)
    }
}

impl Repository {
    /// Streams the blobs `oids`, in this order, through one `git cat-file --batch`: `each` gets
    /// the id, the size and a reader of exactly that many bytes (what it leaves unread is
    /// skipped). For exporting a tree: memory stays one buffer whatever the blob sizes.
    ///
    /// Each blob is checked against its id once it has been read whole, so `each` sees bytes
    /// that are only known to be the blob when this returns `Ok` (an error ends the stream).
    pub fn stream_blobs(
        &self,
        oids: &[ObjectId],
        each: &mut dyn FnMut(&ObjectId, u64, &mut dyn Read) -> std::io::Result<()>,
    ) -> Result<()> {
        let mut odb = ObjectReader::start(self)?;
        odb.request(oids)?;
        for _ in oids {
            odb.next_streamed(Some(ObjectKind::Blob), &mut |oid, _, size, r| {
                each(oid, size, r)
            })?;
        }
        odb.finish()
    }
}

/// Recognises a Git LFS pointer: the version line first, then `oid sha256:…` and `size …`.
pub(crate) fn parse_lfs_pointer(data: &[u8]) -> Option<LfsPointer> {
    if !data.starts_with(LFS_VERSION_LINE) {
        return None;
    }
    let text = std::str::from_utf8(data).ok()?;
    let mut oid = None;
    let mut size = None;
    for line in text.lines().skip(1) {
        if let Some(v) = line.strip_prefix("oid ") {
            oid = v.parse::<Digest>().ok();
        } else if let Some(v) = line.strip_prefix("size ") {
            size = v.parse().ok();
        }
    }
    Some(LfsPointer {
        oid: oid?,
        size: size?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfs_pointer() {
        let p = b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";
        let lfs = parse_lfs_pointer(p).unwrap();
        assert_eq!(lfs.size, 12345);
        assert!(
            parse_lfs_pointer(b"version https://git-lfs.github.com/spec/v1\nsize 1\n").is_none()
        );
        assert!(parse_lfs_pointer(b"hello").is_none());
    }
}
