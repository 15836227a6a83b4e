//! Reading git objects so that what reprove acts on is what their ids name.
//!
//! git's plumbing does not re-hash what it reads: `cat-file --batch`, `rev-list`, `ls-tree -r`
//! and `log` serve a loose object rewritten in place (or one in an `alternates` folder) under
//! its old id; only `parse_object` on a revision argument checks. An attacker who can write to
//! a clone's object store could then rewrite a reviewed blob, a commit's parents or a subtree
//! while every id the evidence names stays the same. So every object reprove reads comes
//! through [`ObjectReader`]: its header `<type> <size>\0` and content are hashed with the
//! algorithm its id implies (40 hex digits: SHA-1 with collision detection, as git itself uses
//! it since 2.13; 64: SHA-256) and refused unless the result is that id.
//! See gitformat-loose(5) and "Object format" in gitformat-index / hash-function-transition.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout};
use std::sync::mpsc;
use std::thread::JoinHandle;

use sha2::Digest as _;

use crate::git::Repository;
use crate::ids::ObjectId;
use crate::{Result, SourceError};

/// Largest commit or tag object read (a message of megabytes is already odd).
pub(crate) const MAX_COMMIT: u64 = 16 << 20;
/// Largest tree object read (about 400,000 entries).
pub(crate) const MAX_TREE: u64 = 64 << 20;

/// The four kinds of git object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Blob,
    Tree,
    Commit,
    Tag,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Blob => "blob",
            ObjectKind::Tree => "tree",
            ObjectKind::Commit => "commit",
            ObjectKind::Tag => "tag",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "blob" => ObjectKind::Blob,
            "tree" => ObjectKind::Tree,
            "commit" => ObjectKind::Commit,
            "tag" => ObjectKind::Tag,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Computes an object's id from its kind, size and content, as git does.
pub(crate) struct ObjectHasher(Hasher);

enum Hasher {
    // Boxed: the collision detector carries a few hundred bytes of state.
    Sha1(Box<sha1_checked::Sha1>),
    Sha256(sha2::Sha256),
}

impl ObjectHasher {
    /// A hasher for the object `id` claims to be (its length picks the algorithm).
    pub(crate) fn new(id: &ObjectId, kind: ObjectKind, size: u64) -> Self {
        let mut h = if id.as_str().len() == 40 {
            // Detect (and refuse) a SHA-1 collision attack rather than compute git's "safe
            // hash" variant: the object is then simply not the one the id names.
            Hasher::Sha1(Box::new(
                sha1_checked::Builder::default().safe_hash(false).build(),
            ))
        } else {
            Hasher::Sha256(sha2::Sha256::new())
        };
        let header = format!("{} {size}\0", kind.as_str());
        match &mut h {
            Hasher::Sha1(s) => sha1_checked::Digest::update(s.as_mut(), header.as_bytes()),
            Hasher::Sha256(s) => s.update(header.as_bytes()),
        }
        ObjectHasher(h)
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            Hasher::Sha1(s) => sha1_checked::Digest::update(s.as_mut(), data),
            Hasher::Sha256(s) => s.update(data),
        }
    }

    /// `Ok` when what was hashed is the object `id`.
    pub(crate) fn check(self, id: &ObjectId) -> Result<()> {
        let (actual, collision) = match self.0 {
            Hasher::Sha1(s) => {
                let r = s.try_finalize();
                (hex::encode(r.hash()), r.has_collision())
            }
            Hasher::Sha256(s) => (hex::encode(s.finalize()), false),
        };
        if collision {
            return Err(SourceError::ObjectCollision {
                oid: id.to_string(),
            });
        }
        if actual != id.as_str() {
            return Err(SourceError::ObjectMismatch {
                oid: id.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

/// The id of the object `kind` with `content` (for tests and for ids reprove computes).
#[cfg(test)]
pub(crate) fn object_id(sha256: bool, kind: ObjectKind, content: &[u8]) -> String {
    let fake: ObjectId = if sha256 {
        "0".repeat(64)
    } else {
        "0".repeat(40)
    }
    .parse()
    .unwrap_or_else(|_| unreachable!());
    let mut h = ObjectHasher::new(&fake, kind, content.len() as u64);
    h.update(content);
    match h.check(&fake) {
        Err(SourceError::ObjectMismatch { actual, .. }) => actual,
        _ => String::new(),
    }
}

/// One `git cat-file --batch` process that hands out objects only after checking their ids.
///
/// Ids are sent from a writer thread, so any number can be requested ahead without a deadlock
/// against git's output; git flushes after each object (no `--buffer`), so one request can be
/// answered at a time too (a tree walk asks for what the last tree named).
pub(crate) struct ObjectReader {
    child: Child,
    requests: Option<mpsc::Sender<String>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    stderr: Option<JoinHandle<String>>,
    reader: BufReader<ChildStdout>,
    header: Vec<u8>,
    /// Requested but not yet read, in order.
    pending: std::collections::VecDeque<ObjectId>,
}

const ARGS: &str = "cat-file --batch";

/// What reads one object's content: given its id, kind, size and a reader of exactly that size.
pub(crate) type EachObject<'a> =
    dyn FnMut(&ObjectId, ObjectKind, u64, &mut dyn Read) -> std::io::Result<()> + 'a;

fn unexpected(detail: String) -> SourceError {
    SourceError::Unexpected {
        args: ARGS.into(),
        detail,
    }
}

impl ObjectReader {
    pub(crate) fn start(repo: &Repository) -> Result<Self> {
        let mut child = repo.spawn_batch(&["cat-file", "--batch"])?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(unexpected("no pipes to git".into()));
        };
        // Drain stderr as it comes, so a chatty git can never block on a full pipe.
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = e.read_to_string(&mut text);
                text
            })
        });
        let (tx, rx) = mpsc::channel::<String>();
        let writer = std::thread::spawn(move || {
            for chunk in rx {
                stdin.write_all(chunk.as_bytes())?;
                stdin.flush()?;
            }
            Ok(())
        });
        Ok(ObjectReader {
            child,
            requests: Some(tx),
            writer: Some(writer),
            stderr,
            reader: BufReader::with_capacity(reprove_digest::BUFFER_SIZE, stdout),
            header: Vec::new(),
            pending: Default::default(),
        })
    }

    /// Asks git for `ids`; their records are then read, in this order, with the `next_*`
    /// methods.
    pub(crate) fn request<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a ObjectId>,
    ) -> Result<()> {
        let mut chunk = String::new();
        for id in ids {
            chunk.push_str(id.as_str());
            chunk.push('\n');
            self.pending.push_back(id.clone());
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let sent = self.requests.as_ref().map(|tx| tx.send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.failed(unexpected("git stopped reading requests".into()))),
        }
    }

    /// Requests `id` and reads it whole: its kind and content, checked against the id.
    /// Refused when it is not `expect` (if given) or larger than `limit`.
    pub(crate) fn read(
        &mut self,
        id: &ObjectId,
        expect: Option<ObjectKind>,
        limit: u64,
    ) -> Result<(ObjectKind, Vec<u8>)> {
        self.request([id])?;
        self.next_whole(expect, limit)
    }

    /// Reads the next requested object whole (see [`ObjectReader::read`]).
    pub(crate) fn next_whole(
        &mut self,
        expect: Option<ObjectKind>,
        limit: u64,
    ) -> Result<(ObjectKind, Vec<u8>)> {
        let mut content = Vec::new();
        let mut too_large = None;
        let kind = self.next_streamed(expect, &mut |oid, kind, size, r| {
            if size > limit {
                too_large = Some(SourceError::ObjectTooLarge {
                    oid: oid.to_string(),
                    kind,
                    size,
                    limit,
                });
                return Ok(());
            }
            content.reserve_exact(size as usize);
            r.read_to_end(&mut content).map(|_| ())
        })?;
        match too_large {
            Some(e) => Err(e),
            None => Ok((kind, content)),
        }
    }

    /// Reads the next requested object, streaming its content through `each` (what `each`
    /// leaves unread is read and hashed after it). The content is checked against the id only
    /// once all of it has been read: `each` must treat what it got as unverified until this
    /// returns `Ok`, and undo what it did on an error.
    pub(crate) fn next_streamed(
        &mut self,
        expect: Option<ObjectKind>,
        each: &mut EachObject<'_>,
    ) -> Result<ObjectKind> {
        let Some(oid) = self.pending.pop_front() else {
            return Err(unexpected(
                "an object was read that was not requested".into(),
            ));
        };
        match self.record(&oid, expect, each) {
            Ok(kind) => Ok(kind),
            // A missing object or a bad hash is an answer; anything else broke the stream.
            Err(e @ SourceError::MissingObject { .. }) => Err(e),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn record(
        &mut self,
        oid: &ObjectId,
        expect: Option<ObjectKind>,
        each: &mut EachObject<'_>,
    ) -> Result<ObjectKind> {
        let io_err = |source| SourceError::Io { source };
        self.header.clear();
        self.reader
            .read_until(b'\n', &mut self.header)
            .map_err(io_err)?;
        if self.header.last() != Some(&b'\n') {
            return Err(unexpected(format!("git stopped before `{oid}`")));
        }
        let text = String::from_utf8_lossy(&self.header[..self.header.len() - 1]).into_owned();
        let mut f = text.split(' ');
        // `<oid> <type> <size>`, or `<oid> missing`; the echoed id must be the one asked for.
        let (Some(echoed), Some(typ)) = (f.next(), f.next()) else {
            return Err(unexpected(text));
        };
        if echoed != oid.as_str() {
            return Err(unexpected(format!("asked for `{oid}`, got `{text}`")));
        }
        if typ == "missing" {
            return Err(SourceError::MissingObject {
                oid: oid.to_string(),
            });
        }
        let (Some(kind), Some(Ok(size)), None) = (
            ObjectKind::parse(typ),
            f.next().map(str::parse::<u64>),
            f.next(),
        ) else {
            return Err(unexpected(text));
        };
        if let Some(want) = expect.filter(|w| *w != kind) {
            return Err(SourceError::WrongObjectKind {
                oid: oid.to_string(),
                expected: want,
                actual: kind,
            });
        }
        let mut hashing = Hashing {
            inner: &mut self.reader,
            remaining: size,
            hasher: ObjectHasher::new(oid, kind, size),
        };
        let outcome = each(oid, kind, size, &mut hashing);
        // Whatever `each` left (or all of it after an error), so the stream stays in step.
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io_err)?;
        if hashing.remaining != 0 {
            return Err(unexpected(format!("`{oid}` ended early")));
        }
        let hasher = hashing.hasher;
        let mut lf = [0u8; 1];
        self.reader.read_exact(&mut lf).map_err(io_err)?;
        if lf != *b"\n" {
            return Err(unexpected(format!(
                "`{oid}` is longer than its header says"
            )));
        }
        // The id first: a callback failing on content that is not the object is that content's
        // fault.
        hasher.check(oid)?;
        outcome.map_err(io_err)?;
        Ok(kind)
    }

    /// Stops git after a broken stream and prefers git's own words for why.
    fn failed(&mut self, err: SourceError) -> SourceError {
        self.requests = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        match err {
            // Those say exactly what is wrong; git has nothing to add.
            e @ (SourceError::ObjectMismatch { .. }
            | SourceError::ObjectCollision { .. }
            | SourceError::WrongObjectKind { .. }
            | SourceError::ObjectTooLarge { .. }) => e,
            e if stderr.trim().is_empty() => e,
            _ => SourceError::GitFailed {
                args: ARGS.into(),
                stderr: stderr.trim().to_owned(),
            },
        }
    }

    /// Ends git once every requested object was read; a non-zero exit is an error.
    pub(crate) fn finish(mut self) -> Result<()> {
        if !self.pending.is_empty() {
            return Err(self.failed(unexpected("requested objects were left unread".into())));
        }
        self.requests = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let status = self
            .child
            .wait()
            .map_err(|source| SourceError::Io { source })?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !status.success() {
            return Err(SourceError::GitFailed {
                args: ARGS.into(),
                stderr: if stderr.trim().is_empty() {
                    format!("exited with {status}")
                } else {
                    stderr.trim().to_owned()
                },
            });
        }
        Ok(())
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        if self.writer.is_some() || self.stderr.is_some() {
            // Not finished: git may be blocked writing what nobody will read.
            self.requests = None;
            let _ = self.child.kill();
            let _ = self.child.wait();
            if let Some(w) = self.writer.take() {
                let _ = w.join();
            }
            if let Some(h) = self.stderr.take() {
                let _ = h.join();
            }
        }
    }
}

/// Exactly one object's content, hashed as it is read.
struct Hashing<'a> {
    inner: &'a mut BufReader<ChildStdout>,
    remaining: u64,
    hasher: ObjectHasher,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_computed_as_git_does() {
        // `printf 'hello\n' | git hash-object --stdin` and the same with
        // `--object-format=sha256`; the empty tree's well-known ids.
        assert_eq!(
            object_id(false, ObjectKind::Blob, b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            object_id(true, ObjectKind::Blob, b"hello\n"),
            "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4"
        );
        assert_eq!(
            object_id(false, ObjectKind::Tree, b""),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
    }

    #[test]
    fn content_that_is_not_the_object_is_refused() {
        // (Collision detection itself is sha1-checked's, tested there against SHAttered and
        // Shambles; a collision cannot be built around git's `blob <size>\0` header here.)
        let id: ObjectId = "ce013625030ba8dba906f756967f9e9ca394464a".parse().unwrap();
        let mut h = ObjectHasher::new(&id, ObjectKind::Blob, 6);
        h.update(b"hello\n");
        assert!(h.check(&id).is_ok());
        let mut h = ObjectHasher::new(&id, ObjectKind::Blob, 6);
        h.update(b"hellO\n");
        assert!(matches!(
            h.check(&id),
            Err(SourceError::ObjectMismatch { .. })
        ));
    }
}
