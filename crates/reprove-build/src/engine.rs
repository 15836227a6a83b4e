//! Container engines behind one small interface: the docker and podman CLIs take the same
//! flags. Remote engines work through `DOCKER_HOST` / `CONTAINER_HOST`, which the CLIs read.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reprove_oci::ImageRef;

use crate::BuildError;

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

/// A container engine reached through its CLI.
#[derive(Debug, Clone)]
pub struct Engine {
    pub kind: EngineKind,
    program: PathBuf,
}

/// What a container run is asked to do.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `name@digest`: the engine never resolves a tag.
    pub image: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Host directory mounted read-write as the build tree.
    pub source: PathBuf,
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

impl Engine {
    /// The engine asked for, or the first of docker and podman found on `PATH`.
    pub fn detect(preferred: Option<EngineKind>) -> Result<Engine, BuildError> {
        let candidates = match preferred {
            Some(k) => vec![k],
            None => vec![EngineKind::Docker, EngineKind::Podman],
        };
        for kind in &candidates {
            if let Some(program) = which(kind.program()) {
                return Ok(Engine {
                    kind: *kind,
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

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.stdin(Stdio::null());
        c
    }

    fn output(&self, args: &[&str], action: &'static str) -> Result<String, BuildError> {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|e| BuildError::Engine {
                engine: self.kind.program(),
                action,
                detail: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(BuildError::Engine {
                engine: self.kind.program(),
                action,
                detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
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
        for name in names
            .lines()
            .map(str::trim)
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            // The deadline first: a lock path may hold spaces.
            let format = format!(
                "{{{{index .Config.Labels \"{}\"}}}} {{{{index .Config.Labels \"{}\"}}}}",
                crate::owner::DEADLINE_LABEL,
                crate::owner::LOCK_LABEL
            );
            let Ok(labels) = self.output(
                &["inspect", "--format", &format, name],
                "inspect a container",
            ) else {
                continue;
            };
            let (deadline, lock) = labels.split_once(' ').unwrap_or((labels.as_str(), ""));
            let overdue = deadline.trim().parse::<i64>().is_ok_and(|d: i64| {
                d.saturating_add(i64::try_from(crate::owner::GRACE.as_secs()).unwrap_or(0)) <= now
            });
            if overdue || crate::owner::lock_is_free(Path::new(lock.trim())) {
                let _ = self
                    .command()
                    .args(["rm", "-f", name])
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

    /// Runs the build: no network, read-only root, writable /tmp and build tree, fixed
    /// hostname and umask, environment from `spec.env` only (plus the image's own), output to
    /// `log`. Stops the container at the timeout.
    pub fn run(&self, spec: &RunSpec, log: &Path) -> Result<RunEnd, BuildError> {
        let io = |e: std::io::Error| BuildError::Io {
            path: log.to_owned(),
            source: e,
        };
        let out = File::create(log).map_err(io)?;
        let err = out.try_clone().map_err(io)?;
        let workdir = match &spec.workdir {
            Some(w) => format!("{}/{w}", spec.build_path),
            None => spec.build_path.clone(),
        };
        let mut cmd = self.command();
        let deadline_unix = reprove_source::unix_now()
            .saturating_add(i64::try_from(spec.timeout.as_secs()).unwrap_or(i64::MAX));
        cmd.args([
            "run",
            "--rm",
            "--name",
            &spec.name,
            "--network",
            "none",
            "--read-only",
        ]);
        cmd.arg("--label")
            .arg(format!("{}={}", crate::owner::OWNER_LABEL, spec.owner));
        cmd.arg("--label").arg(format!(
            "{}={}",
            crate::owner::LOCK_LABEL,
            spec.owner_lock.display()
        ));
        cmd.arg("--label")
            .arg(format!("{}={deadline_unix}", crate::owner::DEADLINE_LABEL));
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
        cmd.arg("--volume")
            .arg(format!("{}:{}:rw", spec.source.display(), spec.build_path));
        cmd.args(["--workdir", &workdir]);
        for (k, v) in &spec.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        if let Some(u) = &spec.user {
            cmd.args(["--user", u]);
        }
        cmd.args(["--entrypoint", "/bin/sh", &spec.image, "-c"]);
        cmd.arg(format!("umask {} && exec \"$@\"", spec.umask));
        cmd.arg("reprove-build");
        cmd.args(&spec.command);
        cmd.stdout(out).stderr(err);
        // The deadline before anything starts: a timeout no clock can hold is refused first.
        let Some(deadline) = Instant::now().checked_add(spec.timeout) else {
            return Err(BuildError::Engine {
                engine: self.kind.program(),
                action: "start the build container",
                detail: format!("the timeout of {} s cannot be kept", spec.timeout.as_secs()),
            });
        };
        let mut child = cmd.spawn().map_err(|e| BuildError::Engine {
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
        loop {
            if let Some(status) = child.try_wait().map_err(io)? {
                return Ok(RunEnd::Exited(status.code().unwrap_or(-1)));
            }
            if Instant::now() >= deadline {
                let _ = self
                    .command()
                    .args(["kill", &spec.name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = child.wait();
                return Ok(RunEnd::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
