//! `cargo xtask demo`: a sample repository with two releases, baselined end to end.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::util::{cargo, copy_dir, ensure_tools, git, root, say, target};

const T0: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

fn reprove(bin: &Path, repo: &Path, home: &Path, args: &[&str]) -> Result<i32> {
    say(&format!("\n$ reprove {}", args.join(" ")));
    let mut cmd = Command::new(bin);
    cmd.current_dir(repo)
        .args(args)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let status = cmd.status().context("failed to run reprove")?;
    Ok(status.code().unwrap_or(2))
}

pub fn run() -> Result<()> {
    ensure_tools(&[("git", "git")])?;
    cargo(&["build", "--quiet", "-p", "reprove-cli"], &[])?;
    let bin = target().join("debug").join("reprove");
    let demo = target().join("demo");
    let _ = std::fs::remove_dir_all(&demo);
    let repo = demo.join("hello");
    let home = demo.join("home");
    std::fs::create_dir_all(&home)?;
    copy_dir(&root().join("examples").join("hello"), &repo)?;

    say("xtask: creating the sample repository `target/demo/hello` with two releases");
    git(&repo, &home, T0, &["init", "-q", "-b", "main"])?;
    git(&repo, &home, T0, &["add", "-A"])?;
    git(
        &repo,
        &home,
        T0,
        &[
            "commit",
            "-q",
            "-m",
            "hello 1.0\n\nApproved-by: Quality <qa@acme.example>",
        ],
    )?;
    git(
        &repo,
        &home,
        T0,
        &["tag", "-a", "v1.0.0", "-m", "hello 1.0.0"],
    )?;

    let c = std::fs::read_to_string(repo.join("src/hello.c"))?;
    std::fs::write(
        repo.join("src/hello.c"),
        c.replace("a reproducible release", "a reproducible, reviewed release"),
    )?;
    git(
        &repo,
        &home,
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
        &repo,
        &home,
        T0 + 2 * 86_400,
        &["commit", "-qam", "Hotfix README, pushed without review"],
    )?;
    git(
        &repo,
        &home,
        T0 + 2 * 86_400,
        &["tag", "-a", "v1.1.0", "-m", "hello 1.1.0"],
    )?;

    let first = reprove(&bin, &repo, &home, &["baseline", "v1.0.0"])?;
    let second = reprove(&bin, &repo, &home, &["baseline", "v1.1.0"])?;
    reprove(&bin, &repo, &home, &["soup", "v1.1.0"])?;

    say("\nxtask: signing the v1.0.0 baseline as a release engineer would");
    let keys = demo.join("keys");
    std::fs::create_dir_all(&keys)?;
    let key = keys.join("release");
    reprove(
        &bin,
        &repo,
        &home,
        &["key", "generate", "--output", &key.display().to_string()],
    )?;
    // The release artifact: the source archive of the tag (the hermetic rebuild of the binary
    // arrives with the rebuild issue).
    let dist = demo.join("dist");
    std::fs::create_dir_all(&dist)?;
    let archive = dist.join("hello-1.0.0.tar.gz");
    git(
        &repo,
        &home,
        T0,
        &[
            "archive",
            "--format=tar.gz",
            "--prefix=hello-1.0.0/",
            "-o",
            &archive.display().to_string(),
            "v1.0.0",
        ],
    )?;
    let evidence = demo.join("evidence").join("v1.0.0");
    std::fs::create_dir_all(&evidence)?;
    let bundle = evidence.join("baseline.sigstore.json");
    reprove(
        &bin,
        &repo,
        &home,
        &[
            "baseline",
            "v1.0.0",
            "--artifacts",
            &dist.display().to_string(),
            "--sign",
            "--key",
            &key.with_extension("key").display().to_string(),
            "-o",
            &bundle.display().to_string(),
        ],
    )?;

    say("\nxtask: verifying it as an auditor would, offline, with only the public key");
    let verdict = reprove(
        &bin,
        &repo,
        &home,
        &[
            "verify-bundle",
            "--bundle",
            &bundle.display().to_string(),
            "--key",
            &key.with_extension("pub").display().to_string(),
            &archive.display().to_string(),
        ],
    )?;

    say("\nxtask: what happened");
    say(&format!(
        "  v1.0.0: baseline exit {first} — every change authorized, policy passes"
    ));
    say(&format!(
        "  v1.1.0: baseline exit {second} — the README hotfix has no Reviewed-by/Approved-by, and reprove.toml requires one"
    ));
    say(&format!(
        "  signed baseline (Sigstore bundle, in-toto Statement v1): {}",
        bundle.display()
    ));
    say(
        "  `reprove rebuild` works (see README); provenance, `reprove release` and `reprove verify` arrive with the next issue",
    );
    if verdict != 0 {
        anyhow::bail!("the signed baseline did not verify (exit {verdict})");
    }
    say(&format!(
        "\nverified — evidence folder: {}",
        evidence.display()
    ));
    Ok(())
}
