//! The git folder looked at before git runs in it.
//!
//! git opens whatever its folder holds: a FIFO named `HEAD`, like a ref or like an object makes
//! it block forever (and reprove with it); a device is read without end. So before the first
//! git command, and again for the folders git then names, reprove walks the git folder, its
//! common folder (linked worktrees) and every object folder `objects/info/alternates` names
//! (nested, as git follows them), following folder links, and refuses a FIFO or a device.
//! Sockets are allowed: they cannot be opened as files, and git's own fsmonitor daemon and
//! git-annex keep them there. See gitrepository-layout(5).

use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{Result, SourceError};

/// How deep alternates may nest (git's own limit is 5).
const MAX_ALTERNATE_DEPTH: usize = 5;
/// How deep folders inside a git folder may nest.
const MAX_DEPTH: usize = 64;

/// The git folder git would use for `path`, found as git finds it (`GIT_DIR`, else the first
/// `.git` folder or `gitdir:` file upward, stopping below `GIT_CEILING_DIRECTORIES`, or a bare
/// repository folder); `None` when there is none.
pub(crate) fn find(path: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GIT_DIR") {
        return Some(PathBuf::from(dir));
    }
    for d in ancestors(path) {
        let dot_git = d.join(".git");
        match std::fs::symlink_metadata(&dot_git) {
            Ok(m) if m.is_file() => {
                return Some(gitdir_file_target(&d, &dot_git).unwrap_or(dot_git));
            }
            Ok(_) => return Some(dot_git),
            Err(_) => {}
        }
        // A bare repository: `HEAD` and `objects` right there.
        if d.join("HEAD").symlink_metadata().is_ok() && d.join("objects").is_dir() {
            return Some(d);
        }
    }
    None
}

/// `path` and the folders above it that git's discovery visits: it does not move up into a
/// folder of `GIT_CEILING_DIRECTORIES`.
pub(crate) fn ancestors(path: &Path) -> Vec<PathBuf> {
    let ceilings: Vec<PathBuf> = std::env::var_os("GIT_CEILING_DIRECTORIES")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| p.is_absolute())
                .collect()
        })
        .unwrap_or_default();
    ancestors_below(path, &ceilings)
}

fn ancestors_below(path: &Path, ceilings: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(start) = std::path::absolute(path) else {
        return Vec::new();
    };
    // A ceiling counts only for a start below (or at) it.
    let ceilings: Vec<&PathBuf> = ceilings.iter().filter(|c| start.starts_with(c)).collect();
    let mut out = Vec::new();
    for (i, d) in start.ancestors().enumerate() {
        if i > 0 && ceilings.iter().any(|c| c.starts_with(d)) {
            break;
        }
        out.push(d.to_path_buf());
    }
    out
}

/// The folder a `.git` file names (`gitdir: <path>`, relative to the file's folder).
fn gitdir_file_target(dir: &Path, file: &Path) -> Option<PathBuf> {
    let bytes = reprove_digest::read_regular(file, 64 << 10).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir: ")?.trim_end();
    Some(dir.join(target))
}

/// Refuses `git_dir` when it, its common folder or an object folder it borrows from holds a
/// FIFO or a device (or a link to one). `seen` holds folders already walked.
pub(crate) fn check(git_dir: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<()> {
    walk(git_dir, seen)?;
    // A linked worktree's folder names the main one in `commondir`, relative to itself.
    let common = match reprove_digest::read_regular(&git_dir.join("commondir"), 64 << 10) {
        Ok(bytes) => {
            let rel = String::from_utf8_lossy(&bytes).trim_end().to_owned();
            let common = git_dir.join(rel);
            walk(&common, seen)?;
            common
        }
        Err(_) => git_dir.to_path_buf(),
    };
    let mut objects = vec![(common.join("objects"), 0usize)];
    while let Some((dir, depth)) = objects.pop() {
        if depth > 0 {
            walk(&dir, seen)?;
        }
        if depth < MAX_ALTERNATE_DEPTH {
            objects.extend(alternates(&dir).into_iter().map(|a| (a, depth + 1)));
        }
    }
    Ok(())
}

fn refuse(path: PathBuf) -> SourceError {
    SourceError::UnreadableRepository {
        path,
        reason: "it holds a FIFO or a device, which git would block on or read without end".into(),
    }
}

fn special(t: std::fs::FileType) -> bool {
    t.is_fifo() || t.is_char_device() || t.is_block_device()
}

/// Walks `dir`, following links to folders (each folder once), refusing a FIFO or a device.
fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<()> {
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        // `metadata` follows a link: a linked folder is walked like its target, once.
        let Ok(meta) = std::fs::metadata(&d) else {
            continue;
        };
        if !meta.is_dir() || !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(t) = entry.file_type() else { continue };
            let path = entry.path();
            if special(t) {
                return Err(refuse(path));
            }
            if t.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(m) if special(m.file_type()) => return Err(refuse(path)),
                    Ok(m) if m.is_dir() && depth < MAX_DEPTH => stack.push((path, depth + 1)),
                    _ => {}
                }
            } else if t.is_dir() && depth < MAX_DEPTH {
                stack.push((path, depth + 1));
            }
        }
    }
    Ok(())
}

/// The object folders `objects/info/alternates` names: one per line, `#` comments, relative
/// to the objects folder, C-quoted when they start with `"`.
fn alternates(objects: &Path) -> Vec<PathBuf> {
    let Ok(bytes) = reprove_digest::read_regular(&objects.join("info/alternates"), 1 << 20) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| objects.join(unquote(l)))
        .collect()
}

/// git's C-style quoting of a path (`"a\tb\"c\\d"`, octal escapes for other bytes).
fn unquote(line: &str) -> PathBuf {
    let Some(inner) = line.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return PathBuf::from(line);
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'a') => out.push(0x07),
            Some(b'b') => out.push(0x08),
            Some(b'f') => out.push(0x0c),
            Some(b'r') => out.push(b'\r'),
            Some(b'v') => out.push(0x0b),
            Some(d @ b'0'..=b'3') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(o) = bytes.next_if(|c| (b'0'..=b'7').contains(c)) {
                        v = v * 8 + u32::from(o - b'0');
                    }
                }
                out.push(u8::try_from(v).unwrap_or(b'?'));
            }
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fifth review of issue 11): a `.git` above `GIT_CEILING_DIRECTORIES`, which
    /// git does not look at, made reprove call the folder an unreadable repository.
    #[test]
    fn discovery_stops_below_a_ceiling() {
        let up = |p: &str, c: &[&str]| -> Vec<PathBuf> {
            let c: Vec<PathBuf> = c.iter().map(PathBuf::from).collect();
            ancestors_below(Path::new(p), &c)
        };
        assert_eq!(up("/a/b/c", &[]).len(), 4);
        assert_eq!(
            up("/a/b/c", &["/a"]),
            vec![PathBuf::from("/a/b/c"), PathBuf::from("/a/b")]
        );
        // The ceiling itself is looked at when git starts there.
        assert_eq!(up("/a", &["/a"]), vec![PathBuf::from("/a")]);
        assert_eq!(up("/x/y", &["/a"]).len(), 3);
    }

    #[test]
    fn quoted_alternates_are_unquoted() {
        assert_eq!(unquote("/plain/path"), PathBuf::from("/plain/path"));
        assert_eq!(
            unquote(r#""/with \"quote\" and\ttab\303\251""#),
            PathBuf::from("/with \"quote\" and\ttabé")
        );
    }

    #[test]
    fn a_fifo_behind_a_folder_link_or_a_nested_alternate_is_found() {
        let d = tempfile::tempdir().unwrap();
        let git = d.path().join("repo/.git");
        std::fs::create_dir_all(git.join("objects/info")).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let mut seen = HashSet::new();
        check(&git, &mut seen).unwrap();

        // An alternate whose own alternates name a folder with a FIFO.
        let a = d.path().join("alt1/objects");
        let b = d.path().join("alt2/objects");
        std::fs::create_dir_all(a.join("info")).unwrap();
        std::fs::create_dir_all(b.join("ab")).unwrap();
        std::fs::write(
            git.join("objects/info/alternates"),
            format!("{}\n", a.display()),
        )
        .unwrap();
        std::fs::write(a.join("info/alternates"), format!("\"{}\"\n", b.display())).unwrap();
        let fifo = b.join("ab/cdef");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = check(&git, &mut HashSet::new()).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        std::fs::remove_file(&fifo).unwrap();
        check(&git, &mut HashSet::new()).unwrap();

        // `objects/pack` a link to a folder holding a FIFO.
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, git.join("objects/pack")).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(elsewhere.join("x.pack"))
                .status()
                .unwrap()
                .success()
        );
        assert!(check(&git, &mut HashSet::new()).is_err());

        // A socket is fine (git's fsmonitor daemon keeps one there).
        std::fs::remove_file(elsewhere.join("x.pack")).unwrap();
        let _sock =
            std::os::unix::net::UnixListener::bind(git.join("fsmonitor--daemon.ipc")).unwrap();
        check(&git, &mut HashSet::new()).unwrap();
    }
}
