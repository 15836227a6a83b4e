//! `cargo xtask demo`: the whole story on a fresh machine. A container engine, a local base
//! image pinned by digest in a loopback registry, a sample repository with two releases (the
//! second carries an unreviewed change), `reprove release` for both, and `reprove verify` as an
//! auditor would run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use reprove_oci::testing::TestRegistry;

use crate::util::{
    Engine, cargo, copy_dir, debian_gcc_rootfs, ensure_engine, ensure_tools, git, root, say, target,
};

const T0: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

struct Demo {
    bin: PathBuf,
    home: PathBuf,
    engine: Engine,
}

impl Demo {
    fn reprove(&self, dir: &Path, args: &[&str]) -> Result<i32> {
        say(&format!("\n$ reprove {}", args.join(" ")));
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(dir)
            .args(args)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            // An unencrypted demo key: no password prompt.
            .env_remove("REPROVE_PASSWORD")
            .env_remove("COSIGN_PASSWORD")
            .env("REPROVE_PROGRESS", "1");
        self.engine.apply(&mut cmd);
        let status = cmd.status().context("failed to run reprove")?;
        Ok(status.code().unwrap_or(2))
    }

    /// The release build as a CI job would run it: plain `docker run` of `make dist` on the
    /// tag's source in the pinned image — not reprove, so the rebuild has something
    /// independent to match.
    fn ci_build(&self, repo: &Path, tag: &str, image: &str, out: &Path) -> Result<()> {
        let src = out.with_file_name(format!(
            ".{}-src",
            out.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_dir_all(&src);
        std::fs::create_dir_all(&src)?;
        let archive = Command::new("git")
            .current_dir(repo)
            .args(["archive", "--format=tar", tag])
            .output()
            .context("failed to run git archive")?;
        if !archive.status.success() {
            bail!("git archive {tag} failed");
        }
        let mut tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&src)
            .stdin(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = tar.stdin.take() {
            use std::io::Write as _;
            stdin.write_all(&archive.stdout)?;
        }
        if !tar.wait()?.success() {
            bail!("failed to unpack the source of {tag}");
        }
        let epoch = String::from_utf8(
            Command::new("git")
                .current_dir(repo)
                .args(["log", "-1", "--format=%ct", tag])
                .output()?
                .stdout,
        )?;
        let uid = String::from_utf8(Command::new("id").arg("-u").output()?.stdout)?;
        let gid = String::from_utf8(Command::new("id").arg("-g").output()?.stdout)?;
        let mut cmd = Command::new("docker");
        cmd.args(["run", "--rm", "--network", "none", "--user"])
            .arg(format!("{}:{}", uid.trim(), gid.trim()))
            .arg("-e")
            .arg(format!("SOURCE_DATE_EPOCH={}", epoch.trim()))
            .args(["-e", "HOME=/tmp", "-v"])
            .arg(format!("{}:/work", src.display()))
            .args(["-w", "/work", image, "make", "dist"])
            .stdout(Stdio::null());
        self.engine.apply(&mut cmd);
        crate::util::run(&mut cmd)?;
        std::fs::create_dir_all(out)?;
        for name in ["hello", "hello.tar.gz"] {
            std::fs::copy(src.join("dist").join(name), out.join(name))?;
        }
        std::fs::remove_dir_all(&src)?;
        Ok(())
    }
}

fn make_repository(repo: &Path, home: &Path, image: &str) -> Result<()> {
    copy_dir(&root().join("examples").join("hello"), repo)?;
    // Pin the image this machine just built and pushed.
    let toml = std::fs::read_to_string(repo.join("reprove.toml"))?;
    let pinned: String = toml
        .lines()
        .map(|l| {
            if l.starts_with("image = ") {
                format!("image = \"{image}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(repo.join("reprove.toml"), pinned)?;
    git(repo, home, T0, &["init", "-q", "-b", "main"])?;
    git(repo, home, T0, &["add", "-A"])?;
    git(
        repo,
        home,
        T0,
        &[
            "commit",
            "-q",
            "-m",
            "hello 1.0\n\nApproved-by: Quality <qa@acme.example>",
        ],
    )?;
    git(
        repo,
        home,
        T0,
        &["tag", "-a", "v1.0.0", "-m", "hello 1.0.0"],
    )?;
    let c = std::fs::read_to_string(repo.join("src/hello.c"))?;
    std::fs::write(
        repo.join("src/hello.c"),
        c.replace("a reproducible release", "a reproducible, reviewed release"),
    )?;
    git(
        repo,
        home,
        T0 + 86_400,
        &[
            "commit",
            "-qam",
            "Clarify the greeting\n\nReviewed-by: Rita Reviewer <rita@acme.example>\nRefs: CR-42",
        ],
    )?;
    let r = std::fs::read_to_string(repo.join("README.md"))?;
    std::fs::write(repo.join("README.md"), r + "\nBuilt with `make dist`.\n")?;
    git(
        repo,
        home,
        T0 + 2 * 86_400,
        &["commit", "-qam", "Hotfix README, pushed without review"],
    )?;
    git(
        repo,
        home,
        T0 + 2 * 86_400,
        &["tag", "-a", "v1.1.0", "-m", "hello 1.1.0"],
    )?;
    Ok(())
}

pub fn run() -> Result<()> {
    let started = std::time::Instant::now();
    ensure_tools(&[
        ("git", "git"),
        ("/usr/bin/docker-registry", "docker-registry"),
        ("mmdebstrap", "mmdebstrap"),
    ])?;
    let engine = ensure_engine()?;
    cargo(&["build", "--quiet", "-p", "reprove-cli"], &[])?;
    let demo = Demo {
        bin: target().join("debug").join("reprove"),
        home: target().join("demo").join("home"),
        engine,
    };
    let dir = target().join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&demo.home)?;

    say(
        "xtask: building the base image: Debian bookworm with gcc and make (mmdebstrap, SOURCE_DATE_EPOCH fixed)",
    );
    let rootfs = debian_gcc_rootfs()?;
    let layer = std::fs::read(&rootfs)?;
    let registry = TestRegistry::start();
    let digest = registry.push_rootfs("reprove/build-gcc", "bookworm", &layer);
    let image = format!("{}/reprove/build-gcc:bookworm@{digest}", registry.host);
    say(&format!(
        "xtask: pushed it to a registry on loopback and pinned it: {image}"
    ));

    let repo = dir.join("hello");
    say(
        "xtask: creating the sample repository `target/demo/hello`: v1.0.0 reviewed, v1.1.0 with an unreviewed hotfix",
    );
    make_repository(&repo, &demo.home, &image)?;

    say("xtask: the CI release build (plain `docker run … make dist`) publishes the artifacts");
    let published = dir.join("published");
    demo.ci_build(&repo, "v1.0.0", &image, &published.join("v1.0.0"))?;
    demo.ci_build(&repo, "v1.1.0", &image, &published.join("v1.1.0"))?;

    let key = dir.join("keys").join("release");
    std::fs::create_dir_all(key.parent().unwrap_or(&dir))?;
    let key_s = key.display().to_string();
    demo.reprove(
        &repo,
        &["key", "generate", "--no-password", "--output", &key_s],
    )?;
    let private = format!("{key_s}.key");
    let public = format!("{key_s}.pub");

    say("\nxtask: the release engineer releases v1.0.0");
    let a1 = published.join("v1.0.0").display().to_string();
    let first = demo.reprove(
        &repo,
        &["release", "v1.0.0", "--artifacts", &a1, "--key", &private],
    )?;
    say("\nxtask: … and v1.1.0, whose README hotfix was never reviewed");
    let a2 = published.join("v1.1.0").display().to_string();
    let second = demo.reprove(
        &repo,
        &["release", "v1.1.0", "--artifacts", &a2, "--key", &private],
    )?;

    say("\nxtask: the auditor verifies v1.0.0 offline with the public key and the published files");
    let evidence = repo.join("evidence").join("v1.0.0");
    let verdict = demo.reprove(
        &repo,
        &[
            "verify",
            "v1.0.0",
            "--evidence",
            &evidence.display().to_string(),
            "--artifacts",
            &a1,
            "--key",
            &public,
        ],
    )?;

    say(
        "\nxtask: configuration status accounting across every release, re-verified (v1.1.0 failed: exit 1)",
    );
    let status = demo.reprove(&repo, &["status", "--key", &public])?;
    say("\nxtask: the audit record of v1.0.0, to file");
    let audit = dir.join("audit").join("v1.0.0.html");
    let report = demo.reprove(
        &repo,
        &[
            "report",
            "v1.0.0",
            "--key",
            &public,
            "--artifacts",
            &a1,
            "-o",
            &audit.display().to_string(),
        ],
    )?;

    say("\nxtask: what happened");
    say(&format!(
        "  v1.0.0: release exit {first} — rebuilt bit for bit in {image}, every change reviewed, baseline and provenance signed"
    ));
    say(&format!(
        "  v1.1.0: release exit {second} — the unreviewed hotfix breaks the change policy; the failure is on record in evidence/v1.1.0 with no provenance"
    ));
    say(&format!("  took {:.0} s", started.elapsed().as_secs_f64()));
    if first != 0 || second != 1 {
        bail!(
            "unexpected release outcomes: v1.0.0 exit {first} (want 0), v1.1.0 exit {second} (want 1)"
        );
    }
    if verdict != 0 {
        bail!("the v1.0.0 evidence did not verify (exit {verdict})");
    }
    // status lists v1.1.0 as `failed`, so it exits 1: a dashboard must not show it green.
    if status != 1 || report != 0 {
        bail!(
            "unexpected status (exit {status}, want 1: v1.1.0 failed) or report (exit {report}, want 0)"
        );
    }
    say(&format!(
        "  audit record: {} (open it in a browser; prints to PDF), with SOUP-List-v1.0.0.md and Configuration-Management-v1.0.0.md beside it",
        audit.display()
    ));
    say(&format!(
        "\nverified — evidence folder: {}",
        evidence.display()
    ));
    drop(registry);
    Ok(())
}
