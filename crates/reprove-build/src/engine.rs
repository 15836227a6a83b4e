//! Container engines behind one trait, [`ContainerEngine`], whose job shape a remote engine or
//! a cluster can serve: prepare an image by digest; run a job with the source handed over as a
//! tar stream, the log streamed back, and the outputs returned as a tar stream. Nothing in a
//! job names a path on this machine.
//!
//! [`CliEngine`] is the docker and podman CLIs (they take the same flags; `DOCKER_HOST` /
//! `CONTAINER_HOST` reach a remote daemon). It unpacks the source here with every entry
//! checked and compares it with the commit's listing, bind-mounts it, and tars the outputs
//! back. A fake engine for pipeline tests is in [`crate::testing`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reprove_oci::ImageRef;

use crate::BuildError;
use crate::export::{Listing, unpack_checked};

/// What every engine guarantees for a job — the hermetic conditions the provenance records:
/// no network for a build ([`JobKind::Build`]; only a [`JobKind::Fetch`] has one); a read-only root with a writable `/tmp` and build tree; the hostname, umask,
/// user, working folder and environment of the [`Job`] and nothing else from the host; the job
/// stopped at its timeout. An implementation that cannot hold one of them must refuse the job.
pub trait ContainerEngine: Send + Sync {
    /// `docker`, `podman`, …: recorded in the rebuild report and the provenance.
    fn name(&self) -> &'static str;
    /// The engine's own version (the server's, for a client/server engine); fails when the
    /// engine cannot be reached.
    fn version(&self) -> Result<String, BuildError>;
    /// Makes `image` available by its digest only (never a tag) and checks that what the
    /// engine holds carries that digest; returns the engine's image id.
    fn prepare_image(&self, image: &ImageRef) -> Result<String, BuildError>;
    /// Runs one job. `source` is the build tree as a tar stream (a
    /// [`crate::SourceArchive`]; `listing` says what it holds, for an engine that unpacks it
    /// where it can check); `store` is the checked dependency store a build is given at
    /// `job.store` (a [`crate::StoreArchive`]); `log` receives the job's output as it comes;
    /// when the job exits 0, `outputs` receives a tar of the files matching `job.outputs`,
    /// flat, by file name — or, for a fetch, of the store it filled, by relative path.
    fn run_job(
        &self,
        job: &Job,
        source: &mut dyn Read,
        listing: &Listing,
        store: Option<StoreInput<'_>>,
        log: &mut (dyn Write + Send),
        outputs: &mut dyn Write,
    ) -> Result<RunEnd, BuildError>;
    /// Removes what runs killed earlier left behind (containers whose owner is gone). Best
    /// effort; engines without leftovers do nothing.
    fn remove_abandoned(&self) {}
    /// Whether a job on the `host` network shares this machine's loopback, so that it can
    /// reach reprove's fetch proxy there. `false` unless an engine knows it runs here.
    fn shares_loopback(&self) -> bool {
        false
    }
    /// Where the engine is and how files reach it, for the provenance. Best effort: what
    /// cannot be asked is left out.
    fn site(&self) -> EngineSite {
        EngineSite::default()
    }
    /// Whether the engine's jobs see this machine's files, so that a store already unpacked
    /// here ([`StoreInput::prepared`]) can serve a build instead of its stream.
    fn shares_files(&self) -> bool {
        true
    }
}

/// Which CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn program(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }
}

/// How a job's files reach the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transfer {
    /// Unpacked on this machine and bind-mounted: the daemon shares this machine's files.
    Mount,
    /// Copied into the engine's own volumes and out again through its API (`docker cp`):
    /// nothing of this machine's disk is named, so a daemon elsewhere
    /// (`DOCKER_HOST=tcp://…`/`ssh://…`, `CONTAINER_HOST`) serves the same job.
    Copy,
}

impl Transfer {
    pub fn as_str(self) -> &'static str {
        match self {
            Transfer::Mount => "mount",
            Transfer::Copy => "copy",
        }
    }
}

/// Which engine a run asks for: the CLI (default: docker, else podman) and how files reach it
/// (default: [`Transfer::Mount`] for a daemon on this machine's socket, [`Transfer::Copy`] for
/// any other).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineChoice {
    pub kind: Option<EngineKind>,
    pub transfer: Option<Transfer>,
}

/// Where the engine that ran a job is, as the provenance records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineSite {
    /// `mount` or `copy` ([`Transfer`]); empty for an engine that does not say.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transfer: String,
    /// The daemon's address (`DOCKER_HOST`, `CONTAINER_HOST`, the context), credentials
    /// removed; absent for the CLI's default socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What the daemon says it is: its host name and id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<String>,
}

/// A container engine reached through its CLI (docker or podman).
#[derive(Debug, Clone)]
pub struct CliEngine {
    pub kind: EngineKind,
    pub transfer: Transfer,
    pub(crate) program: PathBuf,
}

/// One job: what a container run is asked to do. No host path: the source comes as a tar
/// stream and the outputs go back as one.
#[derive(Debug, Clone)]
pub struct Job {
    /// `name@digest`: the engine never resolves a tag.
    pub image: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Where the build tree appears inside the container.
    pub build_path: String,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: String,
    pub umask: String,
    pub timeout: Duration,
    /// A unique container name, so a timed-out build can be stopped.
    pub name: String,
    /// The run that owns the container ([`crate::owner`]): its id and lock file, as labels, so
    /// a later run can tell an abandoned container from a live one.
    pub owner: String,
    pub owner_lock: PathBuf,
    /// Globs, relative to the build tree, of the files returned as outputs.
    pub outputs: Vec<String>,
    /// Make the build tree writable by any user (a job that runs as another uid than the one
    /// that unpacked the tree).
    pub open_tree: bool,
    pub kind: JobKind,
    /// Where the dependency store appears inside the container (`[build.fetch] store`).
    pub store: Option<String>,
    /// Folders of the store (relative) that a fetch writes but a build derives again (cargo's
    /// unpacked `src`): scratch space in the fetch job, never returned.
    pub store_scratch: Vec<String>,
}

/// What a job is for — the one thing that decides whether it has a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    /// The build: no network; the checked store (when the recipe fetches) at `Job::store`.
    Build,
    /// The fetch phase: the engine's network (`network`: a network name, or the engine's
    /// default), an empty store at `Job::store`, the host's CA bundle offered at
    /// [`reprove_build_types::CA_BUNDLE_PATH`]; the outputs stream returns the store.
    Fetch {
        network: Option<String>,
        ca_bundle: Option<Vec<u8>>,
    },
}

/// The checked store handed to a build job, and what its unpack must hold.
pub struct StoreInput<'a> {
    pub stream: &'a mut dyn Read,
    pub listing: &'a Listing,
    /// The same store already unpacked on this machine: an engine that builds here may use it
    /// (once) instead of the stream; a remote engine reads the stream.
    pub prepared: Option<crate::PreparedStore>,
}

/// A job's store folder: its own, or one prepared by the fetch phase.
enum StoreDir {
    Own(tempfile::TempDir),
    Prepared(crate::PreparedStore),
}

impl StoreDir {
    fn path(&self) -> &Path {
        match self {
            StoreDir::Own(d) => d.path(),
            StoreDir::Prepared(p) => p.path(),
        }
    }
}

impl std::fmt::Debug for StoreInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreInput").finish_non_exhaustive()
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Exited(i32),
    TimedOut,
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

impl CliEngine {
    /// The engine asked for, or the first of docker and podman found on `PATH`; files reach
    /// it as asked, or bind-mounted only when its daemon is on this machine's socket.
    pub fn detect(choice: EngineChoice) -> Result<CliEngine, BuildError> {
        let candidates = match choice.kind {
            Some(k) => vec![k],
            None => vec![EngineKind::Docker, EngineKind::Podman],
        };
        for kind in &candidates {
            if let Some(program) = which(kind.program()) {
                let (host, context) = daemon_address(*kind);
                let transfer = choice.transfer.unwrap_or(
                    if files_shared(host.as_deref(), context.as_deref()) {
                        Transfer::Mount
                    } else {
                        Transfer::Copy
                    },
                );
                return Ok(CliEngine {
                    kind: *kind,
                    transfer,
                    program,
                });
            }
        }
        Err(BuildError::EngineMissing {
            wanted: candidates
                .iter()
                .map(|k| k.program())
                .collect::<Vec<_>>()
                .join(" or "),
        })
    }

    /// The engine failed to do `action`.
    pub(crate) fn failed(&self, action: &'static str, detail: String) -> BuildError {
        BuildError::Engine {
            engine: self.kind.program(),
            action,
            detail,
        }
    }

    pub(crate) fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.stdin(Stdio::null());
        c
    }

    pub(crate) fn output(&self, args: &[&str], action: &'static str) -> Result<String, BuildError> {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|e| self.failed(action, e.to_string()))?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(self.failed(action, detail));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Removes containers left by runs that are gone, or kept past their deadline (labels of
    /// [`crate::owner`]). Best effort.
    pub fn remove_abandoned_containers(&self) {
        // By full id, never by name: a name can be taken by another container between the
        // listing and the removal.
        let filter = format!("label={}", crate::owner::OWNER_LABEL);
        let Ok(names) = self.output(
            &[
                "ps",
                "-a",
                "--no-trunc",
                "--filter",
                &filter,
                "--format",
                "{{.ID}}",
            ],
            "list containers",
        ) else {
            return;
        };
        let now = reprove_source::unix_now();
        // Whether what carries these labels (the deadline first: a lock path may hold spaces)
        // belongs to a run that is gone or overdue.
        let abandoned = |labels: &str| {
            let (deadline, lock) = labels.split_once(' ').unwrap_or((labels, ""));
            let overdue = deadline.trim().parse::<i64>().is_ok_and(|d: i64| {
                d.saturating_add(i64::try_from(crate::owner::GRACE.as_secs()).unwrap_or(0)) <= now
            });
            overdue || crate::owner::lock_is_free(Path::new(lock.trim()))
        };
        let labels_format = |at: &str| {
            format!(
                "{{{{index {at} \"{}\"}}}} {{{{index {at} \"{}\"}}}}",
                crate::owner::DEADLINE_LABEL,
                crate::owner::LOCK_LABEL
            )
        };
        let format = labels_format(".Config.Labels");
        for name in names
            .lines()
            .map(str::trim)
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            let Ok(labels) = self.output(
                &["inspect", "--format", &format, name],
                "inspect a container",
            ) else {
                continue;
            };
            if abandoned(&labels) {
                // With its anonymous volumes (a copied job's tree, an image's `VOLUME`s).
                let _ = self
                    .command()
                    .args(["rm", "-f", "-v", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        // The stores of copied jobs ([`Transfer::Copy`]), once no container uses them.
        let Ok(volumes) = self.output(
            &["volume", "ls", "--quiet", "--filter", &filter],
            "list volumes",
        ) else {
            return;
        };
        let format = labels_format(".Labels");
        for volume in volumes.lines().map(str::trim).filter(|v| {
            v.starts_with("reprove-")
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            let Ok(labels) = self.output(
                &["volume", "inspect", "--format", &format, volume],
                "inspect a volume",
            ) else {
                continue;
            };
            if abandoned(&labels) {
                let _ = self
                    .command()
                    .args(["volume", "rm", "-f", volume])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// The server's version; fails when the engine is not running.
    pub fn server_version(&self) -> Result<String, BuildError> {
        let format = match self.kind {
            EngineKind::Docker => "{{.Server.Version}}",
            EngineKind::Podman => "{{.Version}}",
        };
        self.output(
            &["version", "--format", format],
            "ask the engine for its version",
        )
        .map_err(|e| match e {
            BuildError::Engine { detail, .. } => BuildError::EngineNotRunning {
                engine: self.kind.program(),
                detail,
            },
            other => other,
        })
    }

    /// Pulls `image` by its digest only, then confirms the engine's image carries that digest.
    /// Returns the engine's image id.
    pub fn pull_verified(&self, image: &ImageRef) -> Result<String, BuildError> {
        let digest = image.digest().ok_or_else(|| BuildError::Unpinned {
            image: image.to_string(),
        })?;
        let by_digest = format!("{}@{digest}", image.name());
        // Loopback registries are plain HTTP; podman needs to be told, docker allows it.
        let mut args = vec!["pull", "--quiet"];
        if self.kind == EngineKind::Podman && reprove_oci::is_loopback(image.registry()) {
            args.push("--tls-verify=false");
        }
        args.push(&by_digest);
        self.output(&args, "pull the build image by digest")?;
        let repo_digests = self.output(
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                &by_digest,
            ],
            "inspect the pulled image",
        )?;
        let digests: Vec<String> = serde_json::from_str(&repo_digests).unwrap_or_default();
        if !digests.iter().any(|d| d.ends_with(&format!("@{digest}"))) {
            return Err(BuildError::ImageDigestMismatch {
                image: by_digest,
                found: digests.join(", "),
            });
        }
        self.output(
            &["image", "inspect", "--format", "{{.Id}}", &by_digest],
            "inspect the pulled image",
        )
    }

    /// Runs the build with `tree` bind-mounted: no network, read-only root, writable /tmp and
    /// build tree, fixed hostname and umask, environment from `spec.env` only (plus the
    /// image's own), stdout and stderr streamed to `log`. Stops the container at the timeout.
    fn run_container(
        &self,
        spec: &Job,
        tree: &Path,
        store: Option<&Path>,
        derived: Option<&Path>,
        log: &mut (dyn Write + Send),
    ) -> Result<RunEnd, BuildError> {
        let io = |e: std::io::Error| BuildError::Io {
            path: tree.to_owned(),
            source: e,
        };
        let mut cmd = self.command();
        cmd.args(["run", "--rm"]);
        self.container_options(spec, &mut cmd);
        cmd.arg("--volume")
            .arg(format!("{}:{}:rw", tree.display(), spec.build_path));
        // The store: an empty folder the fetch fills, or the checked store, read-only — a
        // build cannot change what was checked — with the folders it derives from it (cargo
        // unpacks its crates into `src/`) writable, each a fresh folder of this job.
        if let (Some(dir), Some(at)) = (store, &spec.store) {
            match &spec.kind {
                JobKind::Fetch { .. } => {
                    cmd.arg("--volume")
                        .arg(format!("{}:{at}:rw", dir.display()));
                    // What a fetch writes and a build derives again (cargo's unpacked sources,
                    // ten times the size of the packages) lives in memory: never written to
                    // disk, never returned. On disk it made `cargo fetch` six times slower.
                    for name in &spec.store_scratch {
                        cmd.args(["--tmpfs", &format!("{at}/{name}:rw,exec,mode=1777")]);
                    }
                }
                JobKind::Build => {
                    cmd.arg("--volume")
                        .arg(format!("{}:{at}:ro", dir.display()));
                    if let Some(derived) = derived {
                        for name in &spec.store_scratch {
                            cmd.arg("--volume")
                                .arg(format!("{}:{at}/{name}:rw", derived.join(name).display()));
                        }
                    }
                }
            }
        }
        let ca_file = match &spec.kind {
            JobKind::Fetch {
                ca_bundle: Some(bytes),
                ..
            } => {
                let f = tempfile::Builder::new()
                    .prefix(".reprove-ca-")
                    .tempfile()
                    .map_err(io)?;
                // Through the handle created exclusively, not by path.
                std::io::Write::write_all(&mut f.as_file(), bytes).map_err(io)?;
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    // Readable by the job's user, whoever that is: it is public data.
                    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644))
                        .map_err(io)?;
                }
                cmd.arg("--volume").arg(format!(
                    "{}:{}:ro",
                    f.path().display(),
                    reprove_build_types::CA_BUNDLE_PATH
                ));
                for var in reprove_build_types::CA_BUNDLE_ENV {
                    cmd.arg("--env")
                        .arg(format!("{var}={}", reprove_build_types::CA_BUNDLE_PATH));
                }
                Some(f)
            }
            _ => None,
        };
        self.job_command(spec, &mut cmd)?;
        // Kept until the container is gone.
        let _ca_file = ca_file;
        self.supervise(spec, cmd, log)
    }

    /// The options of every job's container but its files: network (none for a build), a
    /// read-only root with a writable `/tmp`, the owner's labels, hostname, no new privileges,
    /// limits.
    pub(crate) fn container_options(&self, spec: &Job, cmd: &mut Command) {
        cmd.args(["--name", &spec.name]);
        // Only a fetch has a network; a build has none, whatever else it asks.
        match &spec.kind {
            JobKind::Build => {
                cmd.args(["--network", "none"]);
            }
            JobKind::Fetch {
                network: Some(n), ..
            } => {
                cmd.args(["--network", n]);
            }
            JobKind::Fetch { network: None, .. } => {}
        }
        cmd.arg("--read-only");
        cmd.args(owner_labels(spec, spec.timeout));
        cmd.args(["--tmpfs", "/tmp:rw,exec,mode=1777"]);
        cmd.args(["--hostname", &spec.hostname]);
        cmd.args(["--security-opt", "no-new-privileges"]);
        // Limits this kernel allows for podman too (nofile ≤ 20000, nproc ≤ 32768).
        cmd.args([
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
        ]);
    }

    /// The working folder, environment, user, and the command — the last arguments of a
    /// container's creation.
    pub(crate) fn job_command(&self, spec: &Job, cmd: &mut Command) -> Result<(), BuildError> {
        let workdir = match &spec.workdir {
            Some(w) => format!("{}/{w}", spec.build_path),
            None => spec.build_path.clone(),
        };
        cmd.args(["--workdir", &workdir]);
        for (k, v) in &spec.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        // podman gives every container `container=podman` and `TERM=xterm`, and a build this
        // machine's proxy variables; docker gives none of the first two. A build sees the
        // image's and the recipe's environment on both engines (a build that embeds its
        // environment gave other bytes on podman): the two are unset unless the image or the
        // recipe sets them — an image's own value is given back as it is (its last, as the
        // engines read it) — and a build gets no proxy variable (a fetch may need one).
        if self.kind == EngineKind::Podman {
            if matches!(spec.kind, JobKind::Build) {
                cmd.arg("--http-proxy=false");
            }
            let image_env = self.output(
                &[
                    "image",
                    "inspect",
                    "--format",
                    "{{json .Config.Env}}",
                    &spec.image,
                ],
                "inspect the build image's environment",
            )?;
            let image_env: Vec<String> = serde_json::from_str(&image_env).unwrap_or_default();
            for var in ["container", "TERM"] {
                if spec.env.contains_key(var) {
                    continue;
                }
                match image_env
                    .iter()
                    .rev()
                    .find_map(|e| e.strip_prefix(var)?.strip_prefix('='))
                {
                    Some(value) => cmd.arg("--env").arg(format!("{var}={value}")),
                    None => cmd.args(["--unsetenv", var]),
                };
            }
        }
        if let Some(u) = &spec.user {
            cmd.args(["--user", u]);
        }
        cmd.args(["--entrypoint", "/bin/sh", &spec.image, "-c"]);
        // stderr joins stdout inside the container: the engine carries the two streams apart
        // and interleaves them as it likes, so a log read back showed a build's errors before
        // the output that led to them.
        cmd.arg(format!("umask {} && exec \"$@\" 2>&1", spec.umask));
        cmd.arg("reprove-build");
        cmd.args(&spec.command);
        Ok(())
    }

    /// Runs `cmd` (which starts the job's container attached) with its output streamed to
    /// `log`, capped; stops the container at the job's deadline, even if this process is killed.
    pub(crate) fn supervise(
        &self,
        spec: &Job,
        mut cmd: Command,
        log: &mut (dyn Write + Send),
    ) -> Result<RunEnd, BuildError> {
        let io = |e: std::io::Error| BuildError::Io {
            path: PathBuf::from(format!("(the log of `{}`)", spec.name)),
            source: e,
        };
        let (mut log_reader, out) = std::io::pipe().map_err(io)?;
        let err = out.try_clone().map_err(io)?;
        cmd.stdout(out).stderr(err);
        // The deadline before anything starts: a timeout no clock can hold is refused first.
        let Some(deadline) = Instant::now().checked_add(spec.timeout) else {
            return Err(BuildError::Engine {
                engine: self.kind.program(),
                action: "start the build container",
                detail: format!("the timeout of {} s cannot be kept", spec.timeout.as_secs()),
            });
        };
        let spawned = cmd.spawn();
        // The command holds the pipe's write ends: drop them, so the log ends with the child.
        drop(cmd);
        let mut child = spawned.map_err(|e| BuildError::Engine {
            engine: self.kind.program(),
            action: "start the build container",
            detail: e.to_string(),
        })?;
        // Removes the container at its deadline even if this process is killed.
        let _watchdog = crate::owner::Watchdog::start(
            &self.program,
            &spec.name,
            spec.timeout.saturating_add(crate::owner::GRACE),
        );
        std::thread::scope(|s| {
            // The log streams to `log` while the job runs, capped; the pipe is drained to the
            // end either way, so the container never blocks on a full pipe.
            let copier = s.spawn(move || {
                let mut capped = CappedLog {
                    inner: log,
                    left: MAX_LOG_BYTES,
                    truncated: false,
                };
                let copied = std::io::copy(&mut log_reader, &mut capped);
                if capped.truncated {
                    let _ = writeln!(
                        capped.inner,
                        "\n[reprove: the log was cut at {MAX_LOG_BYTES} bytes]"
                    );
                }
                copied
            });
            // The child is waited for on its own thread, so its end is seen at once (a poll
            // cost every job half its period) and the deadline by a timed receive.
            let (done, ended) = std::sync::mpsc::channel();
            let pid = child.id();
            s.spawn(move || {
                let _ = done.send(child.wait());
            });
            let left = deadline.saturating_duration_since(Instant::now());
            let end = match ended.recv_timeout(left) {
                Ok(Ok(status)) => Ok(RunEnd::Exited(status.code().unwrap_or(-1))),
                Ok(Err(e)) => Err(io(e)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self
                        .command()
                        .args(["kill", &spec.name])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                    // The CLI ends once the container is gone; one that does not (a daemon
                    // that no longer answers) is killed, so this run never hangs.
                    if ended.recv_timeout(crate::owner::GRACE).is_err() {
                        if let Some(p) = i32::try_from(pid)
                            .ok()
                            .and_then(rustix::process::Pid::from_raw)
                        {
                            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                        }
                        let _ = ended.recv();
                    }
                    Ok(RunEnd::TimedOut)
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(io(
                    std::io::Error::other("the job's waiter ended without a status"),
                )),
            };
            let copied = copier
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the log copier panicked")));
            if end.is_err() || copied.is_err() {
                // Whatever went wrong here, the container does not outlive it.
                let _ = self
                    .command()
                    .args(["rm", "-f", "-v", &spec.name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let end = end?;
            copied.map_err(io)?;
            Ok(end)
        })
    }
}

/// The `--label` arguments that tie what a job makes (its container, volumes, helpers) to the
/// run that owns it — its id, its lock file, and the deadline `lifetime` from now — so a later
/// run can tell an abandoned one from a live one ([`crate::owner`]).
pub(crate) fn owner_labels(job: &Job, lifetime: Duration) -> Vec<String> {
    let deadline = reprove_source::unix_now()
        .saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
    vec![
        "--label".into(),
        format!("{}={}", crate::owner::OWNER_LABEL, job.owner),
        "--label".into(),
        format!("{}={}", crate::owner::LOCK_LABEL, job.owner_lock.display()),
        "--label".into(),
        format!("{}={deadline}", crate::owner::DEADLINE_LABEL),
    ]
}

/// The daemon's address and the CLI's context, from the engine's own variables (and docker's
/// config file).
fn daemon_address(kind: EngineKind) -> (Option<String>, Option<String>) {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match kind {
        EngineKind::Docker => (
            var("DOCKER_HOST"),
            var("DOCKER_CONTEXT")
                .or_else(docker_config_context)
                .filter(|c| c != "default"),
        ),
        EngineKind::Podman => (var("CONTAINER_HOST"), var("CONTAINER_CONNECTION")),
    }
}

/// Whether a daemon reached through `host` and `context` sees this machine's files: only one
/// on a local socket (`unix://`), without a context that could lead elsewhere. A socket that
/// leads into a virtual machine (Docker Desktop, colima) shares only some folders: such a
/// daemon is given `--remote-engine`.
fn files_shared(host: Option<&str>, context: Option<&str>) -> bool {
    host.is_none_or(|h| h.starts_with("unix://")) && context.is_none()
}

/// An address as the provenance records it: `user:password@` removed.
fn endpoint_shown(address: &str) -> String {
    match (address.find("://"), address.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &address[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}@{}", &address[..scheme + 3], &address[at + 1..])
                }
                None => address.to_owned(),
            }
        }
        _ => address.to_owned(),
    }
}

/// Whether an engine reached through `host` (`DOCKER_HOST`/`CONTAINER_HOST`) and `context`
/// (docker's context, podman's connection) runs its `host`-network jobs in this machine's
/// network namespace.
fn loopback_shared(kind: EngineKind, host: Option<&str>, context: Option<&str>) -> bool {
    match kind {
        // A rootless daemon's socket is under the user's runtime folder (`/run/user/<uid>`).
        EngineKind::Docker => {
            host.is_none_or(|h| h.starts_with("unix://") && !h.contains("/run/user/"))
                && context.is_none_or(|c| c == "default")
        }
        // Rootless podman shares the host's network namespace on `--network host`.
        EngineKind::Podman => host.is_none() && context.is_none(),
    }
}

/// The docker CLI's current context from its config file (`currentContext`), if it names one.
fn docker_config_context() -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let (file, _) = reprove_digest::open_regular(&dir.join("config.json")).ok()?;
    let mut text = String::new();
    std::io::Read::take(file, 1 << 20)
        .read_to_string(&mut text)
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("currentContext")?.as_str().map(str::to_owned)
}

/// The most of a build's log kept (1 GiB); the rest is drained and dropped.
const MAX_LOG_BYTES: u64 = 1 << 30;

/// A log writer that keeps the first [`MAX_LOG_BYTES`] and accepts (drops) the rest.
struct CappedLog<'a> {
    inner: &'a mut (dyn Write + Send),
    left: u64,
    truncated: bool,
}

impl Write for CappedLog<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let keep = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if keep > 0 {
            self.inner.write_all(&buf[..keep])?;
            self.left -= keep as u64;
        }
        if keep < buf.len() {
            self.truncated = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl ContainerEngine for CliEngine {
    fn name(&self) -> &'static str {
        self.kind.program()
    }

    fn version(&self) -> Result<String, BuildError> {
        self.server_version()
    }

    fn prepare_image(&self, image: &ImageRef) -> Result<String, BuildError> {
        self.pull_verified(image)
    }

    fn run_job(
        &self,
        job: &Job,
        source: &mut dyn Read,
        listing: &Listing,
        store: Option<StoreInput<'_>>,
        log: &mut (dyn Write + Send),
        outputs: &mut dyn Write,
    ) -> Result<RunEnd, BuildError> {
        if self.transfer == Transfer::Copy {
            return self.run_copied(job, source, listing, store, log, outputs);
        }
        run_in_tree(
            job,
            source,
            listing,
            store,
            outputs,
            |tree, store, derived| self.run_container(job, tree, store, derived, log),
        )
    }

    fn remove_abandoned(&self) {
        self.remove_abandoned_containers();
    }

    /// A daemon on this machine's socket runs its jobs here; their `host` network is this
    /// machine's unless the daemon is rootless (RootlessKit gives it a network namespace of its
    /// own) or reached through a context or `*_HOST` variable.
    fn shares_loopback(&self) -> bool {
        let (host, context) = daemon_address(self.kind);
        loopback_shared(self.kind, host.as_deref(), context.as_deref())
    }

    fn shares_files(&self) -> bool {
        self.transfer == Transfer::Mount
    }

    fn site(&self) -> EngineSite {
        let (host, context) = daemon_address(self.kind);
        let endpoint = match (host, context) {
            (Some(h), _) => Some(endpoint_shown(&h)),
            (None, Some(c)) => Some(format!("context {c}")),
            (None, None) => None,
        };
        let format = match self.kind {
            EngineKind::Docker => "{{.Name}} {{.ID}}",
            EngineKind::Podman => "{{.Host.Hostname}}",
        };
        let daemon = self
            .output(&["info", "--format", format], "describe the daemon")
            .ok()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        EngineSite {
            transfer: self.transfer.as_str().to_owned(),
            endpoint,
            daemon,
        }
    }
}

/// What an engine that builds on this machine does around the run: unpack the source (and a
/// build's store) into owner-named folders, each checked against its listing, open them up
/// when the job asks, run, and on exit 0 return the outputs — or the fetched store — as a tar
/// stream.
pub(crate) fn run_in_tree(
    job: &Job,
    source: &mut dyn Read,
    listing: &Listing,
    store: Option<StoreInput<'_>>,
    outputs: &mut dyn Write,
    run: impl FnOnce(&Path, Option<&Path>, Option<&Path>) -> Result<RunEnd, BuildError>,
) -> Result<RunEnd, BuildError> {
    let tree = crate::owner::owned_tempdir(&job.owner)?;
    unpack_checked(source, tree.path(), listing)?;
    let store_dir = match (&job.kind, &job.store, store) {
        (_, None, None) => None,
        // What a fetch writes is read back at once: in memory when there is room.
        (JobKind::Fetch { .. }, Some(_), None) => Some(StoreDir::Own(
            crate::owner::owned_memory_tempdir(&job.owner)?,
        )),
        (JobKind::Build, Some(_), Some(input)) => match input.prepared {
            Some(p) => Some(StoreDir::Prepared(p)),
            None => {
                let dir = crate::owner::owned_tempdir(&job.owner)?;
                unpack_checked(input.stream, dir.path(), input.listing)?;
                Some(StoreDir::Own(dir))
            }
        },
        _ => return Err(store_mismatch()),
    };
    // A build's derived store folders (`job.store_scratch`): fresh folders on disk (cargo's
    // unpacked sources are ten times the store), each mounted over an empty folder of the
    // read-only store.
    let derived = match (&job.kind, &store_dir) {
        (JobKind::Build, Some(d)) if !job.store_scratch.is_empty() => {
            let dir = crate::owner::owned_tempdir(&job.owner)?;
            for name in &job.store_scratch {
                for at in [dir.path().join(name), d.path().join(name)] {
                    std::fs::create_dir_all(&at).map_err(|e| BuildError::Io {
                        path: at.clone(),
                        source: e,
                    })?;
                }
            }
            Some(dir)
        }
        _ => None,
    };
    if job.open_tree {
        crate::owner::open_up(tree.path())?;
        for d in [
            store_dir.as_ref().map(StoreDir::path),
            derived.as_ref().map(|d| d.path()),
        ]
        .into_iter()
        .flatten()
        {
            crate::owner::open_up(d)?;
        }
    }
    let end = run(
        tree.path(),
        store_dir.as_ref().map(StoreDir::path),
        derived.as_ref().map(|d| d.path()),
    )?;
    if end == RunEnd::Exited(0) {
        match (&job.kind, &store_dir) {
            (JobKind::Fetch { .. }, Some(d)) => write_store(d.path(), &job.store_scratch, outputs)?,
            _ => {
                let found = crate::compare::find_outputs(tree.path(), &job.outputs)?;
                write_outputs(&found, outputs)?;
            }
        }
    }
    Ok(end)
}

/// A job whose store does not fit its kind.
pub(crate) fn store_mismatch() -> BuildError {
    BuildError::StoreTransfer {
        detail: "a fetch job starts with an empty store, and a build with a store is given one"
            .into(),
    }
}

/// The store a fetch filled, as a tar stream: folders and regular files by relative path, in
/// path order, mode 0644 or 0755, mtime 0. Anything else (a link, a device) is refused: the
/// store is data a build reads, and a link could point it anywhere.
pub(crate) fn write_store(
    dir: &Path,
    scratch: &[String],
    out: &mut dyn Write,
) -> Result<(), BuildError> {
    fn walk(
        root: &Path,
        dir: &Path,
        scratch: &[String],
        out: &mut Vec<(String, PathBuf, bool)>,
    ) -> Result<(), BuildError> {
        let io = |e| BuildError::Io {
            path: dir.to_owned(),
            source: e,
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ft = e.file_type().map_err(io)?;
            if scratch.contains(&rel) {
                // Scratch space (an engine that could not mount it there wrote it here).
                continue;
            }
            if out.len() >= crate::compare::MAX_STORE_FILES {
                return Err(BuildError::Outputs {
                    detail: format!(
                        "the fetched store holds more than {} entries",
                        crate::compare::MAX_STORE_FILES
                    ),
                });
            }
            if ft.is_dir() {
                out.push((rel, path.clone(), true));
                walk(root, &path, scratch, out)?;
            } else if ft.is_file() {
                out.push((rel, path, false));
            } else {
                return Err(BuildError::Outputs {
                    detail: format!(
                        "the fetched store holds `{rel}`, which is not a regular file or folder"
                    ),
                });
            }
        }
        Ok(())
    }
    let mut entries = Vec::new();
    walk(dir, dir, scratch, &mut entries)?;
    let mut builder = tar::Builder::new(out);
    for (rel, path, folder) in entries {
        let io = |e: std::io::Error| BuildError::Io {
            path: path.clone(),
            source: e,
        };
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        if folder {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            builder
                .append_data(&mut h, format!("{rel}/"), std::io::empty())
                .map_err(io)?;
            continue;
        }
        let file = std::fs::File::open(&path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        use std::os::unix::fs::PermissionsExt as _;
        let executable = meta.permissions().mode() & 0o111 != 0;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(if executable { 0o755 } else { 0o644 });
        h.set_size(meta.len());
        builder
            .append_data(&mut h, &rel, std::io::Read::take(file, meta.len()))
            .map_err(io)?;
    }
    builder.finish().map_err(|e| BuildError::Io {
        path: dir.to_owned(),
        source: e,
    })
}

/// The outputs as a tar stream: flat, by file name, in name order, mode 0644, mtime 0 (the
/// bytes are what count; the reader hashes them). Refused before a byte is sent when they
/// hold more than a rebuild takes back (a sparse file costs a build nothing).
pub(crate) fn write_outputs(
    found: &BTreeMap<String, PathBuf>,
    out: &mut dyn Write,
) -> Result<(), BuildError> {
    // Sizes first (no file held open: a build may return thousands), then one file at a time.
    let mut total = 0u64;
    let mut sizes = Vec::with_capacity(found.len());
    for (name, path) in found {
        let size = std::fs::symlink_metadata(path)
            .map_err(|e| BuildError::Io {
                path: path.clone(),
                source: e,
            })?
            .len();
        total = total.saturating_add(size);
        if total > crate::compare::MAX_OUTPUT_BYTES {
            return Err(BuildError::Outputs {
                detail: format!(
                    "the outputs hold more than {} bytes (`{name}` is {size})",
                    crate::compare::MAX_OUTPUT_BYTES
                ),
            });
        }
        sizes.push((name, path, size));
    }
    let mut builder = tar::Builder::new(out);
    for (name, path, size) in sizes {
        let io = |e: std::io::Error| BuildError::Io {
            path: path.clone(),
            source: e,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() != size {
            return Err(BuildError::Outputs {
                detail: format!("`{name}` changed size while it was being returned"),
            });
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        builder
            .append_data(&mut h, name, std::io::Read::take(file, size))
            .map_err(io)?;
    }
    builder.finish().map_err(|e| BuildError::Io {
        path: PathBuf::from("(outputs)"),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_daemon_on_a_local_socket_is_given_mounts() {
        use super::files_shared;
        assert!(files_shared(None, None));
        assert!(files_shared(Some("unix:///var/run/docker.sock"), None));
        assert!(files_shared(
            Some("unix:///run/user/1000/docker.sock"),
            None
        ));
        for remote in [
            "tcp://10.0.0.2:2375",
            "ssh://builder@ci",
            "npipe:////./pipe/docker_engine",
            "fd://",
        ] {
            assert!(!files_shared(Some(remote), None), "{remote}");
        }
        assert!(!files_shared(None, Some("colima")));
    }

    #[test]
    fn an_endpoint_is_recorded_without_its_password() {
        use super::endpoint_shown;
        assert_eq!(endpoint_shown("tcp://10.0.0.2:2375"), "tcp://10.0.0.2:2375");
        assert_eq!(endpoint_shown("ssh://ci@builder:22"), "ssh://ci@builder:22");
        assert_eq!(
            endpoint_shown("tcp://ci:s3cret@builder:2376"),
            "tcp://ci@builder:2376"
        );
        // A password holding `@` or `:` goes whole.
        assert_eq!(
            endpoint_shown("ssh://ci:p@ss:w@builder"),
            "ssh://ci@builder"
        );
        assert_eq!(
            endpoint_shown("unix:///run/docker.sock"),
            "unix:///run/docker.sock"
        );
        assert_eq!(endpoint_shown("builder@host"), "builder@host");
    }

    #[test]
    fn only_an_engine_on_this_machines_network_is_offered_the_fetch_proxy() {
        use super::{EngineKind::*, loopback_shared};
        assert!(loopback_shared(Docker, None, None));
        assert!(loopback_shared(
            Docker,
            Some("unix:///tmp/dk/sock"),
            Some("default")
        ));
        assert!(!loopback_shared(
            Docker,
            Some("unix:///run/user/1000/docker.sock"),
            None
        ));
        assert!(!loopback_shared(Docker, Some("tcp://10.0.0.2:2375"), None));
        assert!(!loopback_shared(Docker, Some("ssh://builder"), None));
        assert!(!loopback_shared(Docker, None, Some("rootless")));
        assert!(loopback_shared(Podman, None, None));
        assert!(!loopback_shared(
            Podman,
            Some("ssh://core@vm/run/podman.sock"),
            None
        ));
        assert!(!loopback_shared(Podman, None, Some("machine-default")));
    }

    use super::*;

    #[test]
    fn the_log_is_capped_but_drained() {
        let mut kept = Vec::new();
        let mut capped = CappedLog {
            inner: &mut kept,
            left: 5,
            truncated: false,
        };
        // Every byte is accepted (the pipe is drained), only the first five kept.
        assert_eq!(capped.write(b"abc").unwrap(), 3);
        assert_eq!(capped.write(b"defgh").unwrap(), 5);
        assert!(capped.truncated);
        assert_eq!(kept, b"abcde");
    }

    /// Regression (review of issue 12): an artifact name over 100 bytes travels as a GNU
    /// long-name member, which the raw reader refused; many artifacts are sent one open file
    /// at a time.
    #[test]
    fn long_names_and_many_files_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let mut found = BTreeMap::new();
        let long = format!("{}.tar.gz", "a".repeat(150));
        for i in 0..300 {
            let name = if i == 0 {
                long.clone()
            } else {
                format!("f{i}")
            };
            let p = d.path().join(&name);
            std::fs::write(&p, format!("content {i}")).unwrap();
            found.insert(name, p);
        }
        let mut tar = Vec::new();
        write_outputs(&found, &mut tar).unwrap();
        let back = crate::compare::read_outputs(&tar[..], &d.path().join("back")).unwrap();
        assert_eq!(back.len(), 300);
        assert_eq!(
            back[&long].sha256,
            reprove_digest::sha256_bytes(b"content 0").hex()
        );
    }

    #[test]
    fn outputs_over_the_bound_are_refused_before_a_byte_is_sent() {
        let d = tempfile::tempdir().unwrap();
        let big = d.path().join("big.bin");
        // Sparse: costs nothing on disk, would cost everything copied.
        std::fs::File::create(&big)
            .unwrap()
            .set_len(crate::compare::MAX_OUTPUT_BYTES + 1)
            .unwrap();
        let mut sent = Vec::new();
        let found = BTreeMap::from([("big.bin".to_owned(), big)]);
        let err = write_outputs(&found, &mut sent).unwrap_err();
        assert!(matches!(err, BuildError::Outputs { .. }), "{err}");
        assert!(sent.is_empty());
    }
}
