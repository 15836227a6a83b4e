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
    let evidence = demo.join("evidence").join("v1.0.0");
    std::fs::create_dir_all(&evidence)?;
    let out = evidence.join("baseline.json");
    reprove(
        &bin,
        &repo,
        &home,
        &[
            "baseline",
            "v1.0.0",
            "--format",
            "json",
            "-o",
            &out.display().to_string(),
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
        "  canonical baseline manifest (in-toto Statement v1): {}",
        out.display()
    ));
    say("  signing, the hermetic rebuild and `reprove verify` arrive with the next issues");
    Ok(())
}
