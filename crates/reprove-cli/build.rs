//! Names the commit and tag `reprove --version` was built from: `REPROVE_SOURCE_COMMIT` and
//! `REPROVE_SOURCE_TAG` when the build has them (reprove gives them to every build it runs: the
//! exported tree has no `.git`, so the bytes do not depend on whether a clone was at hand),
//! else git's answer for the checkout, else `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    for var in ["REPROVE_SOURCE_COMMIT", "REPROVE_SOURCE_TAG"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let top = git(&["rev-parse", "--show-toplevel"]);
    if let Some(top) = &top {
        for f in [
            ".git/HEAD",
            ".git/packed-refs",
            ".git/refs/tags",
            ".git/refs/heads",
        ] {
            println!("cargo:rerun-if-changed={top}/{f}");
        }
    }
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let commit = from_env("REPROVE_SOURCE_COMMIT")
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let tag = from_env("REPROVE_SOURCE_TAG").or_else(|| {
        git(&["describe", "--tags", "--exact-match", "HEAD"]).filter(|t| !t.is_empty())
    });
    let version = env!("CARGO_PKG_VERSION");
    let long = match tag {
        Some(t) => format!("{version} (commit {commit}, tag {t})"),
        None => format!("{version} (commit {commit}, not a tagged release)"),
    };
    println!("cargo:rustc-env=REPROVE_LONG_VERSION={long}");
}
