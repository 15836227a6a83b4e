use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

pub fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Runs a command, echoing it, failing on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    say(&format!("$ {}", describe(cmd)));
    let status = cmd
        .status()
        .with_context(|| format!("failed to start `{}`", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", describe(cmd));
    }
    Ok(())
}

/// Runs a command, echoing it; its exit code (`None`: killed by a signal), for callers that
/// tell one failure from another.
pub fn exit_code(cmd: &mut Command) -> Result<Option<i32>> {
    say(&format!("$ {}", describe(cmd)));
    Ok(cmd
        .status()
        .with_context(|| format!("failed to start `{}`", describe(cmd)))?
        .code())
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// A line of data on stdout.
pub fn out(msg: &str) {
    let _ = writeln!(std::io::stdout(), "{msg}");
}

/// Counts from cargo's `test result:` lines.
#[derive(Debug, Default)]
pub struct Totals {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// cargo's own exit status (a build failure has no `test result:` line).
    pub ok: bool,
}

/// Runs `cargo test …`, passing its output through, and adds up the per-binary results.
pub fn cargo_test(args: &[&str], env: &[(&str, &str)]) -> Result<Totals> {
    use std::io::BufRead as _;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root())
        .args(args)
        .stdout(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    say(&format!("$ {}", describe(&cmd)));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to start `{}`", describe(&cmd)))?;
    let mut totals = Totals::default();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            out(&line);
            if let Some(rest) = line.strip_prefix("test result: ") {
                for part in rest.split(';') {
                    let mut words = part.split_whitespace().rev();
                    let (Some(what), Some(n)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let n: u64 = n.parse().unwrap_or(0);
                    match what {
                        "passed" => totals.passed += n,
                        "failed" => totals.failed += n,
                        "ignored" => totals.ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait()?;
    totals.ok = status.success();
    Ok(totals)
}

pub fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Makes sure each `(program, debian package)` is installed, installing with apt when running
/// as root on Debian; otherwise says exactly what to install.
pub fn ensure_tools(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(p, _)| !have(p))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

/// Installs Debian packages when running as root with apt; otherwise says what to install.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    if !(is_root() && have("apt-get")) {
        bail!(
            "missing tools; install them with: sudo apt-get install {}",
            packages.join(" ")
        );
    }
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// A Python virtual environment under `target/` with `packages`, reused while `probe` imports.
pub fn python_venv(packages: &[&str], probe: &str) -> Result<PathBuf> {
    let venv = target().join("xtask").join("venv");
    let python = venv.join("bin").join("python");
    let works = |p: &Path| {
        Command::new(p)
            .args(["-c", probe])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if python.exists() && works(&python) {
        return Ok(python);
    }
    if !have("python3") {
        ensure_tools(&[("python3", "python3")])?;
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !created {
        // Debian's python3 keeps venv in a separate package.
        apt_install(&["python3-venv"])?;
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(packages))?;
    if !works(&python) {
        bail!(
            "`{probe}` still fails in `{}` after installing {}",
            venv.display(),
            packages.join(" ")
        );
    }
    Ok(python)
}

/// npm packages under `target/xtask/node`, reused while `probe` runs; returns `node_modules`.
pub fn node_modules(packages: &[&str], probe: &str) -> Result<PathBuf> {
    let dir = target().join("xtask").join("node");
    let modules = dir.join("node_modules");
    let works = || {
        Command::new("node")
            .args(["-e", probe])
            .env("NODE_PATH", &modules)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if works() {
        return Ok(modules);
    }
    std::fs::create_dir_all(&dir)?;
    run(Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args(packages))?;
    if !works() {
        bail!(
            "`{probe}` still fails after installing {} into `{}`",
            packages.join(" "),
            dir.display()
        );
    }
    Ok(modules)
}

/// The isolating environment for git in generated repositories: fixed identity, no user or
/// system configuration.
pub fn git_env(cmd: &mut Command, home: &Path, time: i64) {
    cmd.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Author")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Carl Committer")
        .env("GIT_COMMITTER_EMAIL", "carl@example.com")
        .env("GIT_AUTHOR_DATE", format!("@{time} +0000"))
        .env("GIT_COMMITTER_DATE", format!("@{time} +0000"));
}

pub fn git(dir: &Path, home: &Path, time: i64, args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::null());
    git_env(&mut cmd, home, time);
    let status = cmd.status().context("failed to run git")?;
    if !status.success() {
        bail!("`git {}` failed in `{}`", args.join(" "), dir.display());
    }
    Ok(())
}

pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("failed to read `{}`", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The engine xtask's commands use: one that already runs, or one it starts.
#[derive(Debug)]
pub struct Engine {
    /// DOCKER_HOST for reprove and docker (`None`: the client's default).
    pub host: Option<String>,
    _own: Option<Dockerd>,
}

impl Engine {
    /// An engine someone else runs at `host`.
    pub fn at(host: &str) -> Engine {
        Engine {
            host: Some(host.to_owned()),
            _own: None,
        }
    }

    /// Points `cmd` (reprove or docker) at this engine.
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        if let Some(h) = &self.host {
            cmd.env("DOCKER_HOST", h);
        }
        cmd
    }
}

fn docker_works(host: Option<&str>) -> bool {
    let mut cmd = Command::new("docker");
    cmd.arg("info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(h) = host {
        cmd.env("DOCKER_HOST", h);
    }
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

/// `DOCKER_HOST`'s engine when it answers, else the client's default one, else a dockerd of
/// our own (installing Debian's docker.io when running as root with apt).
pub fn ensure_engine() -> Result<Engine> {
    if let Ok(h) = std::env::var("DOCKER_HOST")
        && have("docker")
        && docker_works(Some(&h))
    {
        say(&format!("xtask: using the docker engine at {h}"));
        return Ok(Engine::at(&h));
    }
    if have("docker") && docker_works(None) {
        say("xtask: using the running docker engine");
        return Ok(Engine {
            host: None,
            _own: None,
        });
    }
    ensure_tools(&[("dockerd", "docker.io"), ("docker", "docker.io")]).context(
        "no container engine: install Debian's docker.io (sudo apt-get install docker.io) or point DOCKER_HOST at a running engine",
    )?;
    say("xtask: starting a docker engine of our own (no bridge, no iptables)");
    let own = Dockerd::start()?;
    Ok(Engine {
        host: Some(own.host.clone()),
        _own: Some(own),
    })
}

/// A Docker engine of our own, started without touching the host's network (no bridge, no
/// iptables) and with its own data root and socket; stopped when dropped.
#[derive(Debug)]
pub struct Dockerd {
    child: std::process::Child,
    dir: PathBuf,
    /// `unix://…` for DOCKER_HOST.
    pub host: String,
}

impl Dockerd {
    pub fn start() -> Result<Dockerd> {
        // A short path: unix socket paths are limited to 108 bytes.
        let dir = std::env::temp_dir().join(format!("reprove-dockerd-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let host = format!("unix://{}/sock", dir.display());
        let log = std::fs::File::create(dir.join("log"))?;
        let child = Command::new("dockerd")
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .args(["-H", &host])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("failed to start dockerd")?;
        let engine = Dockerd { child, dir, host };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let ok = Command::new("docker")
                .args(["-H", &engine.host, "info"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                say(&format!("xtask: dockerd ready at {}", engine.host));
                return Ok(engine);
            }
            if std::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(engine.dir.join("log")).unwrap_or_default();
                bail!("dockerd did not start within 60 s:\n{log}");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop containers and unmount its layers.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // What dockerd left mounted (a container's overlay when it was killed) would keep its
        // layers on disk, a gigabyte a run: detach those mounts, deepest first, then remove.
        let prefix = self.dir.display().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount")
                .args(["-l", &m])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Debian bookworm root filesystem with gcc, libc6-dev and make, as one tar, made by
/// mmdebstrap with a fixed SOURCE_DATE_EPOCH (~20 s here; reused while it exists). Its digest
/// follows the Debian mirror, so tests compare two rebuilds, never a hard-coded digest.
pub fn debian_gcc_rootfs() -> Result<PathBuf> {
    let dir = target().join("xtask").join("rootfs");
    let tar = dir.join("bookworm-gcc.tar");
    if tar.exists() {
        return Ok(tar);
    }
    std::fs::create_dir_all(&dir)?;
    // mmdebstrap picks the output format from the extension: keep `.tar` last.
    let partial = dir.join("bookworm-gcc.partial.tar");
    run(Command::new("mmdebstrap")
        .args([
            "--quiet",
            "--format=tar",
            "--variant=minbase",
            "--include=gcc,libc6-dev,make",
            "bookworm",
        ])
        .arg(&partial)
        .env("SOURCE_DATE_EPOCH", "1700000000"))?;
    std::fs::rename(&partial, &tar)?;
    Ok(tar)
}

/// A Debian bookworm root filesystem with Rust — bookworm's `rustc-web` and `cargo-web`
/// (a recent rustc, from bookworm-security) — gcc and libc6-dev, as one tar. No
/// `ca-certificates`: like many stock images it trusts nothing, so the fetch phase works only
/// with the CA bundle reprove offers.
pub fn debian_rust_rootfs() -> Result<PathBuf> {
    debian_rootfs("bookworm-rust", "rustc-web,cargo-web,gcc,libc6-dev", true)
}

/// Removes the cached Rust root filesystem, so the next [`debian_rust_rootfs`] makes it from
/// the mirror as it is now.
pub fn forget_debian_rust_rootfs() -> Result<()> {
    let tar = target()
        .join("xtask")
        .join("rootfs")
        .join("bookworm-rust.tar");
    if tar.exists() {
        std::fs::remove_file(&tar)
            .with_context(|| format!("failed to remove `{}`", tar.display()))?;
    }
    Ok(())
}

/// A Debian bookworm root filesystem with Python 3 and pip (bookworm's `python3-pip`), as one
/// tar; no `ca-certificates` either.
pub fn debian_python_rootfs() -> Result<PathBuf> {
    debian_rootfs("bookworm-python", "python3-pip", false)
}

/// A Debian bookworm root filesystem with Node.js and npm (bookworm's `nodejs` and `npm`), as
/// one tar; no `ca-certificates` either.
pub fn debian_node_rootfs() -> Result<PathBuf> {
    debian_rootfs("bookworm-node", "nodejs,npm", false)
}

/// A minbase Debian bookworm with `include` (comma-separated packages), made by mmdebstrap with
/// a fixed SOURCE_DATE_EPOCH, documentation left out; reused while it exists.
fn debian_rootfs(name: &str, include: &str, security: bool) -> Result<PathBuf> {
    let dir = target().join("xtask").join("rootfs");
    let tar = dir.join(format!("{name}.tar"));
    if tar.exists() {
        return Ok(tar);
    }
    std::fs::create_dir_all(&dir)?;
    let partial = dir.join(format!("{name}.partial.tar"));
    let mut cmd = Command::new("mmdebstrap");
    cmd.args([
        "--quiet",
        "--format=tar",
        "--variant=minbase",
        &format!("--include={include}"),
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "bookworm",
    ])
    .arg(&partial)
    .arg("deb http://deb.debian.org/debian bookworm main");
    if security {
        cmd.arg("deb http://deb.debian.org/debian-security bookworm-security main");
    }
    run(cmd.env("SOURCE_DATE_EPOCH", "1700000000"))?;
    std::fs::rename(&partial, &tar)?;
    Ok(tar)
}

/// One line saying how much disk is free where the suite writes (the target directory and the
/// temporary directory, where the engine keeps its images): a run that fills the disk fails in
/// whatever test was writing, and this line is what tells the reader why.
pub fn disk_line(when: &str) -> String {
    let mut parts = Vec::new();
    for (what, dir) in [("target", target()), ("tmp", std::env::temp_dir())] {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&dir)
            .output();
        let avail = out
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().nth(1).and_then(|l| l.trim().parse::<u64>().ok()));
        match avail {
            Some(b) => parts.push(format!("{what} {:.1} GiB", b as f64 / (1u64 << 30) as f64)),
            None => parts.push(format!("{what} unknown")),
        }
    }
    format!("xtask: disk free {when}: {}", parts.join(", "))
}
