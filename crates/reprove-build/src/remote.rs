//! The copy transfer ([`Transfer::Copy`](crate::Transfer)): a job on an engine that does not
//! share this machine's files — a daemon reached over `tcp://` or `ssh://`, podman remote, a
//! daemon in a virtual machine. Nothing names a path here:
//!
//! 1. the job's container is created (not started) with the same options as a local one, a
//!    volume holding the build tree's parent folder, and — for a build with a
//!    dependency store — a named volume mounted read-only at the store, filled beforehand
//!    through a helper container that never starts;
//! 2. the source (and store) archives go in with `docker cp -`, each entry checked against its
//!    listing on the way ([`crate::export::retar_checked`]);
//! 3. `docker start --attach` streams the log, under the same deadline as a local run;
//! 4. on exit 0 the outputs come back with `docker cp … -`: only the folders the artifact
//!    patterns can match, read as any tar from an engine is ([`crate::compare::read_engine_tar`]),
//!    then matched exactly as on this machine ([`crate::compare::find_outputs`]);
//! 5. the container, its volumes and the store volume are removed whatever happened; a run
//!    killed on the way leaves them labelled with its owner, for the next run's sweep.
//!
//! The tree's parent folder is a volume, not the tree itself: a fresh volume's root belongs to
//! root with mode 0755, which the varied build (another user) could not write to, and
//! `docker cp` cannot change it. Its folder entry in the archive can.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::BuildError;
use crate::engine::{CliEngine, Job, JobKind, RunEnd, StoreInput};
use crate::export::{Listing, retar_checked};

/// Where inside the helper container the store volume is filled.
const FILL_AT: &str = "/reprove-fill";

/// The containers and volumes a job made, removed when it ends however it ends.
struct Made<'a> {
    engine: &'a CliEngine,
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self
                .engine
                .quiet()
                .args(["rm", "--force", "--volumes", c])
                .status();
        }
        for v in &self.volumes {
            let _ = self
                .engine
                .quiet()
                .args(["volume", "rm", "--force", v])
                .status();
        }
    }
}

/// The build tree's parent folder and its own name: `/build/src` is `/build` and `src`.
fn split_build_path(build_path: &str) -> Result<(String, String), BuildError> {
    let refuse = |detail: String| BuildError::Engine {
        engine: "remote engine",
        action: "place the build tree",
        detail,
    };
    let parts: Vec<&str> = build_path
        .strip_prefix('/')
        .ok_or_else(|| refuse(format!("the build path `{build_path}` is not absolute")))?
        .split('/')
        .collect();
    if parts.len() < 2
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(refuse(format!(
            "the build path `{build_path}` must be a plain path two folders deep or more (its parent becomes the job's volume)"
        )));
    }
    let (name, parent) = parts.split_last().unwrap_or((&"", &[]));
    Ok((format!("/{}", parent.join("/")), (*name).to_owned()))
}

/// The top folders of the build tree the artifact `patterns` can match files in (none for a
/// pattern whose first part is a glob or the file itself); `""` is the whole tree.
pub(crate) fn output_folders(patterns: &[String]) -> Vec<String> {
    let mut folders: Vec<String> = patterns
        .iter()
        .map(|p| {
            let parts: Vec<&str> = p.trim_start_matches("./").split('/').collect();
            let (_, dirs) = parts.split_last().unwrap_or((&"", &[]));
            // The top folder only: `docker cp C:/build/src/target/release` follows `target`
            // when it is a link (to the image's files, say), where the tree's walk here does
            // not; a link named as the copy's own path is copied as the link.
            dirs.first()
                .filter(|d| {
                    !d.is_empty()
                        && **d != "."
                        && **d != ".."
                        && !d.contains(['*', '?', '[', ']', '{', '}', '\\'])
                })
                .map(|d| (*d).to_owned())
                .unwrap_or_default()
        })
        .collect();
    folders.sort();
    folders.dedup();
    let all = folders.clone();
    folders.retain(|f| {
        !all.iter()
            .any(|o| o != f && (o.is_empty() || f.starts_with(&format!("{o}/"))))
    });
    folders
}

/// The first 64 KiB of a child's stderr, read on a thread of its own (so the child never
/// blocks on it while its other pipe is served), for the error message.
fn stderr_text(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    let mut stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(64 << 10).read_to_string(&mut text);
            // Drained to the end, kept or not.
            let _ = std::io::copy(e, &mut std::io::sink());
        }
        text
    })
}

impl CliEngine {
    /// The CLI with its output dropped (clean-ups, whose failure changes nothing).
    fn quiet(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// The CLI started with `args` and the given stdin and stdout, its stderr read on a thread
    /// of its own ([`stderr_text`]).
    fn spawn(
        &self,
        args: &[&str],
        stdin: Stdio,
        stdout: Stdio,
        action: &'static str,
    ) -> Result<(std::process::Child, std::thread::JoinHandle<String>), BuildError> {
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.failed(action, e.to_string()))?;
        let err = stderr_text(&mut child);
        Ok((child, err))
    }

    /// Runs the CLI with `args`, its stdin fed by `feed` (its stderr read on a thread of its
    /// own, so neither pipe blocks the other).
    fn fed(
        &self,
        args: &[&str],
        action: &'static str,
        feed: impl FnOnce(&mut dyn Write) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let fail = |detail: String| self.failed(action, detail);
        let (mut child, err_reader) = self.spawn(args, Stdio::piped(), Stdio::null(), action)?;
        let stdin = child.stdin.take();
        let fed = match stdin {
            Some(mut w) => {
                let r = feed(&mut w);
                // Closed, so the CLI sees the end of the stream.
                drop(w);
                r
            }
            None => Err(fail("no stdin".into())),
        };
        if fed.is_err() {
            let _ = child.kill();
        }
        let status = child.wait().map_err(|e| fail(e.to_string()))?;
        let err = err_reader.join().unwrap_or_default();
        fed?;
        if !status.success() {
            return Err(fail(err.trim().to_owned()));
        }
        Ok(())
    }

    /// Runs the CLI with `args`, its stdout read by `read`; the CLI is killed when `read`
    /// stops early.
    fn read_from(
        &self,
        args: &[&str],
        action: &'static str,
        deadline: Instant,
        read: impl FnOnce(&mut dyn Read) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let fail = |detail: String| self.failed(action, detail);
        let (mut child, err_reader) = self.spawn(args, Stdio::null(), Stdio::piped(), action)?;
        // What the job left is read under a deadline: a build must not keep this machine
        // reading its tree for ever (a sparse file costs it nothing).
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let pid = child.id();
        let timer = std::thread::spawn(move || {
            let left = deadline.saturating_duration_since(Instant::now());
            let late = matches!(
                finished.recv_timeout(left),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
            if late
                && let Some(p) = i32::try_from(pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
            late
        });
        let read = match child.stdout.take() {
            Some(mut out) => {
                let r = read(&mut out);
                if r.is_err() {
                    let _ = child.kill();
                }
                // Drained (under the deadline), so the CLI never blocks on a full pipe.
                let _ = std::io::copy(&mut out, &mut std::io::sink());
                r
            }
            None => Err(fail("no stdout".into())),
        };
        let status = child.wait().map_err(|e| fail(e.to_string()));
        let _ = done.send(());
        let late = timer.join().unwrap_or(false);
        let err = err_reader.join().unwrap_or_default();
        if late {
            return Err(fail(
                "it did not finish before the job's deadline (its timeout again, after the build)"
                    .into(),
            ));
        }
        read?;
        // The CLI's own verdict too: a folder that is not there, a daemon that failed.
        if !status?.success() {
            return Err(fail(err.trim().to_owned()));
        }
        Ok(())
    }

    /// When reading back what a job left must be done: the job's own timeout again, from now.
    fn copy_deadline(job: &Job) -> Instant {
        let now = Instant::now();
        now.checked_add(job.timeout).unwrap_or(now)
    }

    /// Runs `job` with its files copied in and out ([`Transfer::Copy`](crate::Transfer)).
    pub(crate) fn run_copied(
        &self,
        job: &Job,
        source: &mut dyn Read,
        listing: &Listing,
        store: Option<StoreInput<'_>>,
        log: &mut (dyn Write + Send),
        outputs: &mut dyn Write,
    ) -> Result<RunEnd, BuildError> {
        let (parent, tree_name) = split_build_path(&job.build_path)?;
        let mut made = Made {
            engine: self,
            containers: Vec::new(),
            volumes: Vec::new(),
        };
        // Volumes and helpers outlive the job's own run by its timeout again: the copies in and
        // out take time too.
        let labels = crate::engine::owner_labels(job, job.timeout.saturating_mul(2));
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        // Every volume is named and labelled (a killed run's are swept), and mounted
        // `nocopy`: a new volume would otherwise start with what the image holds at its path,
        // and those files would join the checked tree or store unchecked, where a bind mount
        // hides them. (`-v NAME:DST:nocopy` is the form docker and podman both take.)
        let new_volume = |made: &mut Made<'_>, what: &str| -> Result<String, BuildError> {
            let volume = format!("{}-{what}", job.name);
            let mut args = vec!["volume", "create"];
            args.extend(&labels);
            args.push(&volume);
            self.output(&args, "create a volume for the job")?;
            made.volumes.push(volume.clone());
            Ok(volume)
        };
        // A build's store: a named volume, filled through a helper container that never starts
        // (the job mounts it read-only, and `docker cp` cannot write to a read-only mount).
        let store_volume = match (&job.kind, &job.store, store) {
            (_, None, None) | (JobKind::Fetch { .. }, Some(_), None) => None,
            (JobKind::Build, Some(_), Some(input)) => {
                let volume = new_volume(&mut made, "store")?;
                let helper = format!("{}-fill", job.name);
                let mount = format!("{volume}:{FILL_AT}:nocopy");
                let mut args = vec!["create", "--name", &helper, "--network", "none"];
                args.extend(&labels);
                args.extend([
                    "--volume",
                    &mount,
                    "--entrypoint",
                    "/reprove-never-started",
                    &job.image,
                ]);
                self.output(&args, "create the store's helper container")?;
                made.containers.push(helper.clone());
                let into = format!("{helper}:{FILL_AT}");
                let (stream, store_listing) = (input.stream, input.listing);
                self.fed(&["cp", "-", &into], "copy the store in", |w| {
                    retar_checked(stream, store_listing, None, false, &job.store_scratch, w)
                })?;
                Some(volume)
            }
            _ => return Err(crate::engine::store_mismatch()),
        };
        let tree_volume = new_volume(&mut made, "tree")?;
        let fetch_volume = match (&job.kind, &job.store) {
            (JobKind::Fetch { .. }, Some(_)) => Some(new_volume(&mut made, "fetched")?),
            _ => None,
        };
        let mut cmd = self.command();
        cmd.arg("create");
        self.container_options(job, &mut cmd);
        cmd.arg("--volume")
            .arg(format!("{tree_volume}:{parent}:nocopy"));
        if let Some(at) = &job.store {
            match (&store_volume, &fetch_volume) {
                (Some(volume), _) => {
                    cmd.arg("--volume").arg(format!("{volume}:{at}:ro,nocopy"));
                }
                (None, Some(volume)) => {
                    cmd.arg("--volume").arg(format!("{volume}:{at}:nocopy"));
                }
                (None, None) => return Err(crate::engine::store_mismatch()),
            }
            // What a build derives from the store (and a fetch writes but never returns) is
            // scratch space in memory, writable by any user: the mount points exist in the
            // store's volume, made when it was filled.
            for name in &job.store_scratch {
                cmd.args(["--tmpfs", &format!("{at}/{name}:rw,exec,mode=1777")]);
            }
        }
        // The CA bundle offered to a fetch: the root is read-only and nothing of this machine
        // is mounted, so its folder is a volume of the job's own. A new volume starts with
        // what the image holds there (the engine copies it up at creation); the bundle then
        // replaces the image's own, as the bind mount of a local job does.
        let ca_bundle = match &job.kind {
            JobKind::Fetch {
                ca_bundle: Some(bytes),
                ..
            } => {
                let (folder, file) = reprove_build_types::CA_BUNDLE_PATH
                    .rsplit_once('/')
                    .unwrap_or(("", ""));
                cmd.arg("--mount").arg(format!("type=volume,dst={folder}"));
                for var in reprove_build_types::CA_BUNDLE_ENV {
                    cmd.arg("--env")
                        .arg(format!("{var}={}", reprove_build_types::CA_BUNDLE_PATH));
                }
                Some((folder, file, bytes))
            }
            _ => None,
        };
        self.job_command(job, &mut cmd)?;
        let action = "create the job's container";
        let created = cmd
            .output()
            .map_err(|e| self.failed(action, e.to_string()))?;
        if !created.status.success() {
            let detail = String::from_utf8_lossy(&created.stderr).trim().to_owned();
            return Err(self.failed(action, detail));
        }
        made.containers.push(job.name.clone());
        if let Some((folder, file, bytes)) = ca_bundle {
            let into = format!("{}:{folder}", job.name);
            self.fed(&["cp", "-", &into], "copy the CA bundle in", |w| {
                let mut builder = tar::Builder::new(w);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(bytes.len() as u64);
                h.set_mtime(0);
                builder
                    .append_data(&mut h, file, bytes.as_slice())
                    .and_then(|()| builder.finish())
                    .map_err(|e| BuildError::Io {
                        path: reprove_build_types::CA_BUNDLE_PATH.into(),
                        source: e,
                    })
            })?;
        }
        let into = format!("{}:{parent}", job.name);
        self.fed(&["cp", "-", &into], "copy the build tree in", |w| {
            retar_checked(source, listing, Some(&tree_name), job.open_tree, &[], w)
        })?;
        let mut start = self.command();
        start.args(["start", "--attach", &job.name]);
        let end = self.supervise(job, start, log)?;
        if end != RunEnd::Exited(0) {
            return Ok(end);
        }
        let stage = crate::owner::owned_tempdir(&job.owner)?;
        match (&job.kind, &job.store) {
            (JobKind::Fetch { .. }, Some(at)) => {
                self.copy_store_out(job, at, stage.path(), outputs)?;
            }
            _ => self.copy_outputs_out(job, &tree_name, stage.path(), outputs)?,
        }
        Ok(end)
    }

    /// The store a fetch filled, read back and written as [`crate::engine::write_store`] writes
    /// a local one.
    fn copy_store_out(
        &self,
        job: &Job,
        at: &str,
        stage: &Path,
        outputs: &mut dyn Write,
    ) -> Result<(), BuildError> {
        let name = at.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if name.is_empty() {
            return Err(BuildError::StoreTransfer {
                detail: format!("the store path `{at}` has no folder name"),
            });
        }
        let from = format!("{}:{at}", job.name);
        let scratch: Vec<String> = job
            .store_scratch
            .iter()
            .map(|s| format!("{name}/{s}"))
            .collect();
        let skip = |rel: &str| {
            scratch
                .iter()
                .any(|s| rel == s || rel.starts_with(&format!("{s}/")))
        };
        let deadline = Self::copy_deadline(job);
        self.read_from(
            &["cp", &from, "-"],
            "copy the fetched store out",
            deadline,
            |r| {
                crate::compare::read_engine_tar(
                    r,
                    stage,
                    crate::compare::Shape::Tree,
                    &skip,
                    false,
                    &mut |_| {},
                )
                .map(|_| ())
            },
        )?;
        let dir = stage.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::Io {
            path: dir.clone(),
            source: e,
        })?;
        crate::engine::write_store(&dir, &job.store_scratch, outputs)
    }

    /// The artifacts, read back from the folders their patterns can match in
    /// ([`output_folders`]), then found as on this machine. A folder that cannot be copied
    /// (it does not exist, or the engine failed) makes the whole tree be copied instead.
    fn copy_outputs_out(
        &self,
        job: &Job,
        tree_name: &str,
        stage: &Path,
        outputs: &mut dyn Write,
    ) -> Result<(), BuildError> {
        let globs = crate::compare::output_globs(&job.outputs)?;
        let tree = stage.join(tree_name);
        let deadline = Self::copy_deadline(job);
        // One copy: `folder` (a top folder of the tree, or `""` for the tree) lands where it is
        // in the tree here; its files are matched by their path in the tree. Returns the hard
        // links it passed over whose names are wanted, by their path in the tree.
        let copy = |folder: &str| -> Result<Vec<String>, BuildError> {
            let (from, dest) = if folder.is_empty() {
                (job.build_path.clone(), stage.to_owned())
            } else {
                (format!("{}/{folder}", job.build_path), tree.clone())
            };
            // `docker cp C:/build/src -` names its entries `src/…`; `C:/build/src/dist`,
            // `dist/…`.
            let in_tree = |rel: &str| -> Option<String> {
                if folder.is_empty() {
                    rel.strip_prefix(tree_name)
                        .and_then(|r| r.strip_prefix('/'))
                        .map(str::to_owned)
                } else {
                    Some(rel.to_owned())
                }
            };
            let skip = |rel: &str| in_tree(rel).is_none_or(|p| !globs.is_match(p));
            let source = format!("{}:{from}", job.name);
            let mut links = Vec::new();
            self.read_from(
                &["cp", &source, "-"],
                "copy the outputs out",
                deadline,
                |r| {
                    let read = crate::compare::read_engine_tar(
                        r,
                        &dest,
                        crate::compare::Shape::Left,
                        &skip,
                        false,
                        &mut |_| {},
                    )?;
                    links = read.links.iter().filter_map(|l| in_tree(l)).collect();
                    Ok(())
                },
            )?;
            Ok(links)
        };
        let folders = output_folders(&job.outputs);
        let mut copied = Ok(Vec::new());
        for f in &folders {
            match copy(f) {
                Ok(links) => {
                    if let Ok(all) = copied.as_mut() {
                        all.extend(links);
                    }
                }
                Err(e) => {
                    copied = Err(e);
                    break;
                }
            }
        }
        if copied.is_err() && folders != [""] {
            // Anything read so far goes, and the whole tree comes instead.
            let _ = std::fs::remove_dir_all(&tree);
            copied = copy("");
        }
        // A wanted name that came as a hard link (cargo's `target/release/rg`, a second name
        // of `deps/rg-…`) is fetched by its own path: a copy of one file is that file.
        for link in copied? {
            let parent = link.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            let dest = if parent.is_empty() {
                tree.clone()
            } else {
                tree.join(parent)
            };
            let source = format!("{}:{}/{link}", job.name, job.build_path);
            self.read_from(
                &["cp", &source, "-"],
                "copy a hard-linked output out",
                deadline,
                |r| {
                    crate::compare::read_engine_tar(
                        r,
                        &dest,
                        crate::compare::Shape::Left,
                        &|_| false,
                        false,
                        &mut |_| {},
                    )
                    .map(|_| ())
                },
            )?;
        }
        std::fs::create_dir_all(&tree).map_err(|e| BuildError::Io {
            path: tree.clone(),
            source: e,
        })?;
        let found = crate::compare::find_outputs(&tree, &job.outputs)?;
        crate::engine::write_outputs(&found, outputs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_goes_below_a_folder_of_its_own() {
        assert_eq!(
            split_build_path("/build/src").unwrap(),
            ("/build".into(), "src".into())
        );
        assert_eq!(
            split_build_path("/var/tmp/reprove/variant/tree").unwrap(),
            ("/var/tmp/reprove/variant".into(), "tree".into())
        );
        for bad in ["/src", "build/src", "/build//src", "/build/../src", "/", ""] {
            assert!(split_build_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_folders_patterns_can_match_in_are_copied() {
        let f = |p: &[&str]| output_folders(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(f(&["dist/*"]), ["dist"]);
        assert_eq!(
            f(&["./target/release/rg", "target/release/*.d"]),
            ["target"]
        );
        assert_eq!(f(&["target/*/rg", "out/x"]), ["out", "target"]);
        assert_eq!(f(&["dist/*", "*.tar.gz"]), [""]);
        assert_eq!(f(&["**/x.so"]), [""]);
        assert_eq!(f(&["*/x.so"]), [""]);
        assert_eq!(f(&["a/b/*", "a/c/*", "d/{e,f}/*"]), ["a", "d"]);
        assert_eq!(f(&["a/*", "ab/*"]), ["a", "ab"]);
    }
}
