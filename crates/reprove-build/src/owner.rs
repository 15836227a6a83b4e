//! Who owns a build container and a build tree, so that a run killed with SIGKILL leaves
//! nothing behind for long.
//!
//! Each rebuild holds an *owner lock*: a file `<tmp>/reprove-owners/<id>.lock` it keeps locked
//! (flock) for as long as it lives; the kernel releases the lock when the process dies,
//! however it dies, in whatever PID namespace. Everything the run creates carries the id: the
//! container's `dev.reprove.owner` label (with a `dev.reprove.deadline` label: start + timeout),
//! and the names of its temporary folders (`reprove-build-<id>-…`, `.reprove-rebuild-<id>-…`).
//! The next run [`sweep`]s: containers whose owner's lock is free, or whose deadline passed, are
//! removed, and so are folders whose owner is gone. A watchdog process started beside each
//! container ([`Watchdog`], its own session, so a SIGKILL of reprove does not reach it) removes
//! the container at its deadline even if no run ever comes again: no container outlives its
//! timeout by more than the grace period.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::BuildError;

/// Container label naming the owner.
pub const OWNER_LABEL: &str = "dev.reprove.owner";
/// Container label with the absolute path of the owner's lock file: another run on the same
/// machine checks that very file, whatever its own temporary folder is.
pub const LOCK_LABEL: &str = "dev.reprove.lock";
/// Container label with the unix time after which the container must not exist.
pub const DEADLINE_LABEL: &str = "dev.reprove.deadline";
/// How long after its timeout a container may linger before the watchdog removes it.
pub const GRACE: Duration = Duration::from_secs(30);

/// `<tmp>/reprove-owners-<uid>`: one per user, so another local user cannot plant or hold the
/// lock files that decide what a sweep removes.
fn owners_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "reprove-owners-{}",
        rustix::process::getuid().as_raw()
    ))
}

/// Creates the owners folder `0700`, and refuses one that someone else owns or can write.
fn ensure_owners_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    let dir = owners_dir();
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir()
        || meta.uid() != rustix::process::getuid().as_raw()
        || meta.mode() & 0o022 != 0
    {
        return Err(std::io::Error::other(format!(
            "`{}` is not a private folder of this user",
            dir.display()
        )));
    }
    Ok(dir)
}

fn lock_path(id: &str) -> PathBuf {
    owners_dir().join(format!("{id}.lock"))
}

/// The lock of a live run. Dropping it releases the lock and removes the file.
#[derive(Debug)]
pub struct Owner {
    id: String,
    file: Option<std::fs::File>,
}

impl Owner {
    /// Takes a fresh owner lock.
    pub fn acquire() -> Result<Owner, BuildError> {
        let dir = ensure_owners_dir().map_err(|e| BuildError::Io {
            path: owners_dir(),
            source: e,
        })?;
        let mut b = [0u8; 6];
        getrandom::fill(&mut b).map_err(|e| BuildError::Io {
            path: dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let id = b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let path = lock_path(&id);
        let file = std::fs::File::create(&path).map_err(|e| BuildError::Io {
            path: path.clone(),
            source: e,
        })?;
        file.lock().map_err(|e| BuildError::Io {
            path: path.clone(),
            source: e,
        })?;
        Ok(Owner {
            id,
            file: Some(file),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lock file's absolute path (for the container's [`LOCK_LABEL`]).
    pub fn lock_path(&self) -> PathBuf {
        let p = lock_path(&self.id);
        std::path::absolute(&p).unwrap_or(p)
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(lock_path(&self.id));
        self.file.take();
    }
}

/// Whether the run `id` is known to be gone: its lock file is in this user's owners folder and
/// nobody holds it. A missing lock file says nothing (a run with another temporary folder, in
/// another mount namespace, of another user): its folders are left alone.
pub fn is_gone(id: &str) -> bool {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(lock_path(id))
        .is_ok_and(|f| f.try_lock().is_ok())
}

/// Whether the run holding the lock file `path` (a container's [`LOCK_LABEL`]) is known to be
/// gone: the file exists on this machine and nobody holds it. A missing file says nothing —
/// the container may belong to a run on another machine sharing the engine, or one with
/// another temporary folder — and such a container is left to its deadline.
pub fn lock_is_free(path: &Path) -> bool {
    // Only a lock of this user's own owners folder is consulted: a label naming any other
    // path (a FIFO, say) decides nothing, and is never opened.
    let name_ok = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".lock"))
        .is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    let ours = path.parent().is_some_and(|p| {
        std::path::absolute(owners_dir()).is_ok_and(|mine| p == mine) || p == owners_dir()
    });
    name_ok && ours && reprove_digest::open_regular(path).is_ok_and(|(f, _)| f.try_lock().is_ok())
}

/// The owner id in a folder name `<prefix><id>-…`, if it has one.
fn owner_of<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    let (id, _) = rest.split_once('-')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Folder-name prefixes a run's temporary folders carry before its owner id.
pub const TREE_PREFIX: &str = "reprove-build-";

/// A temporary folder named after its owner (`reprove-build-<id>-…`): a run killed midway
/// leaves one the next run's [`sweep`] removes.
pub fn owned_tempdir(owner: &str) -> Result<tempfile::TempDir, BuildError> {
    tempfile::Builder::new()
        .prefix(&format!("{TREE_PREFIX}{owner}-"))
        .tempdir()
        .map_err(|e| BuildError::Io {
            path: std::env::temp_dir(),
            source: e,
        })
}

/// Where [`owned_memory_tempdir`] puts its folders: a memory-backed file system.
pub const MEMORY_DIR: &str = "/dev/shm";

/// The free space [`owned_memory_tempdir`] asks of [`MEMORY_DIR`] before using it.
const MEMORY_HEADROOM: u64 = 2 << 30;

/// Like [`owned_tempdir`], in memory when this machine has room there: for what a job writes
/// once and reprove reads back at once (a fetch's store — a tenth the size of the unpacked
/// sources the fetch already keeps in a tmpfs). On disk it costs a cold fetch a tenth of its
/// time for nothing. Falls back to [`owned_tempdir`] when `/dev/shm` is missing, not
/// writable, mounted `noexec`, or has less than [`MEMORY_HEADROOM`] free.
pub fn owned_memory_tempdir(owner: &str) -> Result<tempfile::TempDir, BuildError> {
    let dir = Path::new(MEMORY_DIR);
    let roomy = rustix::fs::statvfs(dir).is_ok_and(|s| {
        s.f_bavail.saturating_mul(s.f_frsize) >= MEMORY_HEADROOM
            && !s.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC)
            && !s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY)
    });
    if roomy
        && let Ok(d) = tempfile::Builder::new()
            .prefix(&format!("{TREE_PREFIX}{owner}-"))
            .tempdir_in(dir)
    {
        return Ok(d);
    }
    owned_tempdir(owner)
}

pub const STAGING_PREFIX: &str = ".reprove-rebuild-";

/// Removes what dead runs left: containers (through `engine`'s CLI) and, in each of `dirs`,
/// folders named after an owner that is gone; then their stale lock files. Best effort: a
/// failure to clean up never stops a run.
pub fn sweep(engine: Option<&dyn crate::ContainerEngine>, dirs: &[&Path]) {
    if let Some(engine) = engine {
        engine.remove_abandoned();
    }
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = owner_of(&name, TREE_PREFIX).or_else(|| owner_of(&name, STAGING_PREFIX));
            if let Some(id) = id
                && is_gone(id)
                && e.file_type().is_ok_and(|t| t.is_dir())
            {
                let _ = make_writable(&e.path());
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(owners_dir()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".lock")
                && is_gone(id)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// A build may leave read-only folders (`chmod -w`), which `remove_dir_all` cannot empty.
fn make_writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            make_writable(&e.path())?;
        }
    }
    Ok(())
}

/// A process in its own session that removes a container at its deadline, whatever happens to
/// the run that started it. Dropped (the run finished), it is stopped.
#[derive(Debug)]
pub struct Watchdog {
    child: Option<std::process::Child>,
}

impl Watchdog {
    /// Starts `setsid sh -c 'sleep <after>; exec <engine> rm -f -v <name>'` (the container with its anonymous volumes). Without `setsid` the
    /// watchdog is skipped: the next run's [`sweep`] still removes the container.
    pub fn start(program: &Path, name: &str, after: Duration) -> Watchdog {
        let script = format!(
            "sleep {}; exec \"$0\" rm -f -v \"$1\" >/dev/null 2>&1",
            after.as_secs().max(1)
        );
        let child = Command::new("setsid")
            .args(["sh", "-c", &script])
            .arg(program)
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Watchdog { child }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // The whole session (its `sleep` too), not only the shell: `setsid` made the shell
            // the leader of a process group of its own.
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", c.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Makes the build tree, folders and files, writable for any user (the varied build runs as
/// another uid).
pub(crate) fn open_up(dir: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |e| BuildError::Io {
        path: dir.to_owned(),
        source: e,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            open_up(&entry.path())?;
        } else if kind.is_file() {
            // Writable too: `./configure` and friends rewrite tracked files, and the varied
            // build runs as another user. Execute bits stay as committed.
            let mode = entry.metadata().map_err(io)?.permissions().mode();
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode | 0o666))
                .map_err(io)?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_is_not_gone_and_a_dead_one_is() {
        let o = Owner::acquire().unwrap();
        assert!(!is_gone(o.id()));
        let id = o.id().to_owned();
        drop(o);
        // Finished cleanly: its lock file is gone, which says nothing about its folders.
        assert!(!is_gone(&id));
        // A lock file left by a killed run (present, unlocked) is gone.
        std::fs::write(lock_path("0123456789ab"), b"").unwrap();
        assert!(is_gone("0123456789ab"));
        assert!(!is_gone("../etc/passwd"));
        // Regression (review of issue 11): no lock file at all (a run with another temporary
        // folder) is not "gone".
        assert!(!is_gone("ba9876543210"));
    }

    /// A stand-in engine CLI that records its arguments.
    fn recorder(dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt as _;
        let out = dir.join("called");
        let prog = dir.join("engine");
        std::fs::write(
            &prog,
            format!("#!/bin/sh\necho \"$@\" > {}\n", out.display()),
        )
        .unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        (prog, out)
    }

    #[test]
    fn a_watchdog_outlives_its_owner_and_removes_the_container() {
        let dir = tempfile::tempdir().unwrap();
        let (prog, out) = recorder(dir.path());
        // The owner "killed": the watchdog is never dropped.
        std::mem::forget(Watchdog::start(&prog, "reprove-x", Duration::from_secs(1)));
        for _ in 0..100 {
            if out.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "rm -f -v reprove-x"
        );
    }

    #[test]
    fn a_finished_run_stops_its_watchdog_and_its_sleep() {
        let dir = tempfile::tempdir().unwrap();
        let (prog, out) = recorder(dir.path());
        let w = Watchdog::start(&prog, "reprove-y", Duration::from_secs(2));
        let pgid = w.child.as_ref().map(|c| c.id()).unwrap();
        drop(w);
        std::thread::sleep(Duration::from_secs(3));
        assert!(!out.exists(), "a stopped watchdog removes nothing");
        // Nothing of its process group is left (the `sleep` included): /proc/<pid>/stat's
        // fifth field is the process group.
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest.split_whitespace().collect())
                    .unwrap_or_default();
                // A zombie is dead already, waiting for its reaper.
                fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z")
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn sweep_removes_only_folders_of_dead_owners() {
        let dir = tempfile::tempdir().unwrap();
        let live = Owner::acquire().unwrap();
        let live_tree = dir.path().join(format!("{TREE_PREFIX}{}-x", live.id()));
        let dead_tree = dir.path().join(format!("{TREE_PREFIX}0123456789ab-y"));
        let dead_staging = dir.path().join(format!("{STAGING_PREFIX}0123456789ab-z"));
        let unrelated = dir.path().join("reprove-build-notanid-x");
        for d in [&live_tree, &dead_tree, &dead_staging, &unrelated] {
            std::fs::create_dir_all(d.join("sub")).unwrap();
        }
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dead_tree.join("sub"),
            std::fs::Permissions::from_mode(0o500),
        )
        .unwrap();
        sweep(None, &[dir.path()]);
        assert!(live_tree.exists());
        assert!(!dead_tree.exists());
        assert!(!dead_staging.exists());
        assert!(unrelated.exists());
    }
}
