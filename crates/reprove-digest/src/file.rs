//! Opening files that someone else controls: an evidence folder, a downloaded artifacts
//! folder, a bundle named on the command line.
//!
//! Such a path may be a FIFO (reading it hangs forever), a symlink to `/dev/zero` (reading it
//! never ends), or a file swapped for one of those between a directory listing and the open.
//! So a file is opened with `O_NOFOLLOW | O_NONBLOCK` — a symlink in the last component fails
//! the open, a FIFO opens without waiting for a writer — and then the *open descriptor* is
//! checked (`fstat`) to be a regular file before a byte is read. Whole-file reads are capped:
//! the cap is checked against the size before reading and enforced while reading, since a file
//! can grow.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// What a path turned out to be, when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Other,
}

impl EntryKind {
    pub fn of(ft: &std::fs::FileType) -> EntryKind {
        if ft.is_file() {
            EntryKind::Regular
        } else if ft.is_dir() {
            EntryKind::Directory
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else if ft.is_socket() {
            EntryKind::Socket
        } else if ft.is_char_device() {
            EntryKind::CharDevice
        } else if ft.is_block_device() {
            EntryKind::BlockDevice
        } else {
            EntryKind::Other
        }
    }

    /// `a symlink`, `a FIFO`, … for messages.
    pub fn describe(self) -> &'static str {
        match self {
            EntryKind::Regular => "a regular file",
            EntryKind::Directory => "a folder",
            EntryKind::Symlink => "a symlink",
            EntryKind::Fifo => "a FIFO",
            EntryKind::Socket => "a socket",
            EntryKind::CharDevice => "a character device",
            EntryKind::BlockDevice => "a block device",
            EntryKind::Other => "not a regular file",
        }
    }
}

/// Why an untrusted file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("`{}` is {}, not a regular file (it is never followed or read)", path.display(), kind.describe())]
    NotRegular { path: PathBuf, kind: EntryKind },
    #[error("`{}` is {size} bytes, more than the {cap} bytes allowed for it", path.display())]
    TooLarge { path: PathBuf, size: u64, cap: u64 },
    #[error("failed to read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl FileError {
    /// The file does not exist (as opposed to existing and being unusable).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// `O_NOFOLLOW`: refuse a symlink as the last path component (`open` fails with `ELOOP`).
/// `O_NONBLOCK`: open a FIFO without waiting for a writer, so it can be refused instead of
/// hanging. The values differ between architectures, hence libc's constants.
const OPEN_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// Opens `path` for reading if, and only if, it is a regular file (not followed when it is a
/// symlink). Returns the file and its size.
pub fn open_regular(path: &Path) -> Result<(File, u64), FileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(|source| {
            if source.raw_os_error() == Some(libc::ELOOP) {
                FileError::NotRegular {
                    path: path.to_owned(),
                    kind: EntryKind::Symlink,
                }
            } else {
                FileError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
    let meta = file.metadata().map_err(|source| FileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let kind = EntryKind::of(&meta.file_type());
    if kind != EntryKind::Regular {
        return Err(FileError::NotRegular {
            path: path.to_owned(),
            kind,
        });
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, FileError> {
    let (file, size) = open_regular(path)?;
    let too_large = |size| FileError::TooLarge {
        path: path.to_owned(),
        size,
        cap,
    };
    if size > cap {
        return Err(too_large(size));
    }
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| FileError::Io {
            path: path.to_owned(),
            source,
        })?;
    if out.len() as u64 > cap {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// Like [`read_regular`], as UTF-8 text.
pub fn read_regular_text(path: &Path, cap: u64) -> Result<String, FileError> {
    let bytes = read_regular(path, cap)?;
    String::from_utf8(bytes).map_err(|_| FileError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text"),
    })
}

/// What `path` itself is (never following a symlink).
pub fn kind_of(path: &Path) -> io::Result<EntryKind> {
    std::fs::symlink_metadata(path).map(|m| EntryKind::of(&m.file_type()))
}

/// An entry of a flat folder that is not a regular file with a UTF-8 name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherEntry {
    /// The name (lossily decoded when it is not UTF-8).
    pub name: String,
    /// What it is, for messages: `a symlink`, `a folder`, `a file whose name is not UTF-8`…
    pub what: &'static str,
}

/// One regular file of a flat folder, hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedFile {
    pub sha256: crate::Digest,
    pub size: u64,
    pub path: PathBuf,
}

/// A flat folder of release files (downloaded assets, published artifacts), every entry
/// accounted for: regular files hashed by name, everything else listed, nothing followed.
#[derive(Debug, Clone, Default)]
pub struct FlatFolder {
    pub files: std::collections::BTreeMap<String, HashedFile>,
    pub others: Vec<OtherEntry>,
}

impl FlatFolder {
    /// name → sha256 hex.
    pub fn digests(&self) -> std::collections::BTreeMap<String, String> {
        self.files
            .iter()
            .map(|(n, f)| (n.clone(), f.sha256.hex()))
            .collect()
    }
}

/// A flat folder listed without reading: regular files by name (path and size), everything
/// else accounted for.
#[derive(Debug, Clone, Default)]
pub struct FlatListing {
    pub files: std::collections::BTreeMap<String, (PathBuf, u64)>,
    pub others: Vec<OtherEntry>,
}

/// Lists every entry of `dir` without opening any.
pub fn list_flat_folder(dir: &Path) -> Result<FlatListing, crate::DigestError> {
    let read_err = |source| crate::DigestError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut out = FlatListing::default();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let meta = entry.metadata().map_err(read_err)?;
        let kind = EntryKind::of(&meta.file_type());
        let name = entry.file_name();
        match (kind, name.to_str()) {
            (EntryKind::Regular, Some(n)) => {
                out.files.insert(n.to_owned(), (entry.path(), meta.len()));
            }
            (EntryKind::Regular, None) => out.others.push(OtherEntry {
                name: name.to_string_lossy().into_owned(),
                what: "a file whose name is not UTF-8",
            }),
            (k, _) => out.others.push(OtherEntry {
                name: name.to_string_lossy().into_owned(),
                what: k.describe(),
            }),
        }
    }
    out.others.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Lists and hashes (on every core) every entry of `dir`.
pub fn hash_flat_folder(dir: &Path) -> Result<FlatFolder, crate::DigestError> {
    let listing = list_flat_folder(dir)?;
    let mut out = FlatFolder {
        files: std::collections::BTreeMap::new(),
        others: listing.others,
    };
    let (names, paths): (Vec<String>, Vec<PathBuf>) =
        listing.files.into_iter().map(|(n, (p, _))| (n, p)).unzip();
    for ((name, path), h) in names
        .into_iter()
        .zip(paths.iter().cloned())
        .zip(crate::sha256_files(&paths))
    {
        let (sha256, size) = h?;
        out.files.insert(name, HashedFile { sha256, size, path });
    }
    Ok(out)
}

/// A folder of release files as `release`, `rebuild` and `baseline --artifacts` need it: at
/// least one file, and nothing but regular files (a subfolder, symlink or FIFO is an error
/// naming it, never skipped).
pub fn release_folder(dir: &Path) -> Result<FlatFolder, crate::DigestError> {
    match kind_of(dir) {
        Ok(EntryKind::Directory) => {}
        // A symlink to a folder the user named is theirs to follow.
        Ok(EntryKind::Symlink) if dir.is_dir() => {}
        Ok(k) => {
            return Err(crate::DigestError::NotAFolder {
                path: dir.to_owned(),
                what: k.describe(),
            });
        }
        Err(source) => {
            return Err(crate::DigestError::Read {
                path: dir.to_owned(),
                source,
            });
        }
    }
    let folder = hash_flat_folder(dir)?;
    if let Some(o) = folder.others.first() {
        return Err(crate::DigestError::NotAReleaseFile {
            path: dir.join(&o.name),
            what: o.what,
        });
    }
    if folder.files.is_empty() {
        return Err(crate::DigestError::EmptyFolder {
            path: dir.to_owned(),
        });
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_refuses_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular(&f, 4).unwrap_err(),
            FileError::TooLarge {
                size: 5,
                cap: 4,
                ..
            }
        ));

        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read_regular(&link, 1 << 30).unwrap_err(),
            FileError::NotRegular {
                kind: EntryKind::Symlink,
                ..
            }
        ));
        // A symlink to a regular file is refused too: never followed.
        let link2 = dir.path().join("to-f");
        std::os::unix::fs::symlink(&f, &link2).unwrap();
        assert!(matches!(
            open_regular(&link2).unwrap_err(),
            FileError::NotRegular { .. }
        ));
        // A device opened directly.
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 10).unwrap_err(),
            FileError::NotRegular {
                kind: EntryKind::CharDevice,
                ..
            }
        ));
        assert!(matches!(
            read_regular(dir.path(), 10).unwrap_err(),
            FileError::NotRegular {
                kind: EntryKind::Directory,
                ..
            }
        ));
        let missing = read_regular(&dir.path().join("nope"), 10).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }

    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("provenance-x.sigstore.json");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        // No writer ever opens it: a blocking open would hang this test forever.
        let err = read_regular(&fifo, 1 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: EntryKind::Fifo,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(kind_of(&fifo).unwrap(), EntryKind::Fifo);
    }

    #[test]
    fn flat_folders_account_for_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("app.tar.gz"), b"x").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("app.tar.gz", d.join("latest.tar.gz")).unwrap();
        std::process::Command::new("mkfifo")
            .arg(d.join("pipe"))
            .status()
            .unwrap();
        let f = hash_flat_folder(d).unwrap();
        assert_eq!(f.files.keys().collect::<Vec<_>>(), ["app.tar.gz"]);
        let others: Vec<(&str, &str)> =
            f.others.iter().map(|o| (o.name.as_str(), o.what)).collect();
        assert_eq!(
            others,
            [
                ("latest.tar.gz", "a symlink"),
                ("pipe", "a FIFO"),
                ("sub", "a folder")
            ]
        );
        let err = release_folder(d).unwrap_err().to_string();
        assert!(
            err.contains("latest.tar.gz") && err.contains("symlink"),
            "{err}"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(
            release_folder(empty.path())
                .unwrap_err()
                .to_string()
                .contains("no files")
        );
        assert!(release_folder(&d.join("app.tar.gz")).is_err());
        assert!(release_folder(&d.join("missing")).is_err());
    }
}
