//! `reprove init`: a commented `reprove.toml` from what the repository holds (tracked files,
//! read from the working tree since the file is written before the next commit).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use reprove_source::Repository;

use super::open_repo;
use crate::outcome::Outcome;
use crate::output::note;

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn render(repo: &Repository) -> Result<String> {
    let tracked = repo.tracked_files()?;
    let paths: Vec<String> = tracked
        .iter()
        .filter_map(|p| std::str::from_utf8(p).ok().map(str::to_owned))
        .collect();
    let lockfiles: Vec<&String> = paths
        .iter()
        .filter(|p| reprove_soup::lockfile_kind(p).is_some())
        .collect();
    let mut mentions = Vec::new();
    for p in &paths {
        if let Some(kind) = reprove_oci::file_kind(p) {
            let full = repo.root().join(p);
            // Tracked files can be missing or unreadable in the working tree; skip those.
            if let Ok(meta) = std::fs::symlink_metadata(&full)
                && meta.is_file()
                && meta.len() <= reprove_baseline::PARSE_LIMIT
                && let Ok(bytes) = std::fs::read(&full)
            {
                mentions.extend(reprove_oci::scan(p, kind, &bytes));
            }
        }
    }
    let top_dirs: std::collections::BTreeSet<&str> = paths
        .iter()
        .filter_map(|p| p.split_once('/').map(|(d, _)| d))
        .collect();
    // What kind of project it is, from its tracked manifests (read from the working tree,
    // bounded, regular files only).
    let read = |p: &str| -> Option<String> {
        if !paths.iter().any(|t| t == p) {
            return None;
        }
        let bytes = reprove_digest::read_regular(&repo.root().join(p), 1 << 20).ok()?;
        String::from_utf8(bytes).ok()
    };
    let detected = super::init_detect::detect(&paths, &read);
    let name = detected.name.clone().unwrap_or_else(|| {
        repo.root()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "my-project".into())
    });

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# reprove.toml: how reprove baselines, rebuilds and checks this repository."
    );
    let _ = writeln!(
        out,
        "# It is a configuration item itself: commit it. reprove reads it from each"
    );
    let _ = writeln!(out, "# release tag, never from the working tree.\n");
    let _ = writeln!(out, "[project]");
    let _ = writeln!(out, "name = {}", toml_string(&name));
    let _ = writeln!(
        out,
        "# The manufacturer of the released software (recorded in every baseline)."
    );
    let _ = writeln!(out, "# supplier = \"Your Organisation\"\n");

    let pinned = mentions
        .iter()
        .find_map(|m| m.reference.as_ref().ok().filter(|r| r.is_pinned()));
    let _ = writeln!(
        out,
        "# The hermetic rebuild recipe. The image must carry a digest; the build runs with"
    );
    let _ = writeln!(
        out,
        "# no network, SOURCE_DATE_EPOCH = the commit time, TZ=UTC, LANG=C.UTF-8."
    );
    let _ = writeln!(out, "# [build]");
    match pinned {
        Some(r) => {
            let _ = writeln!(out, "# image = {}", toml_string(&r.to_string()));
        }
        None => {
            let hint = match detected.kind {
                super::init_detect::Kind::Cargo => "rust:1",
                super::init_detect::Kind::Npm => "node:22",
                super::init_detect::Kind::Python => "python:3",
                _ => "gcc:14",
            };
            let _ = writeln!(
                out,
                "# image = \"registry.example.com/build/{hint}@sha256:…\"  # pin with `reprove images pin`"
            );
        }
    }
    let _ = writeln!(
        out,
        "# command = {}  # {}",
        toml_string(&detected.command),
        detected.kind.describe()
    );
    let artifacts: Vec<String> = detected.artifacts.iter().map(|a| toml_string(a)).collect();
    let _ = writeln!(out, "# artifacts = [{}]", artifacts.join(", "));
    if let Some(f) = &detected.fetch {
        let _ = writeln!(
            out,
            "# The one step with network: it fills the store, which reprove checks against the"
        );
        let _ = writeln!(
            out,
            "# lockfiles before the build gets it (read-only, at the same path, no network)."
        );
        let _ = writeln!(out, "# [build.fetch]");
        let _ = writeln!(out, "# command = {}", toml_string(&f.command));
        let _ = writeln!(out, "# store = {}", toml_string(f.store));
        let allow: Vec<String> = f.allow.iter().map(|a| toml_string(a)).collect();
        let _ = writeln!(out, "# allow = [{}]", allow.join(", "));
        if let Some(why) = f.unchecked {
            let _ = writeln!(out, "# NOTE: {why}");
            let _ = writeln!(out, "# fixed = \"sha256:…\"");
        }
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "[changes]");
    let _ = writeln!(
        out,
        "# Exit 1 from `reprove baseline` when a commit since the previous release tag has"
    );
    let _ = writeln!(
        out,
        "# no authorization (IEC 62304 §8.2). A commit is authorized by one of `trailers`,"
    );
    let _ = writeln!(
        out,
        "# by an authorized merge that brings it in, or (if accepted) a good signature."
    );
    let _ = writeln!(out, "require-authorization = false");
    let _ = writeln!(out, "trailers = [\"Reviewed-by\", \"Approved-by\"]");
    let _ = writeln!(out, "# accept-signed-commits = false\n");

    let _ = writeln!(
        out,
        "# Configuration item classes: globs checked before reprove's defaults"
    );
    let _ = writeln!(
        out,
        "# (source, build, test, docs, config, soup-manifest, other)."
    );
    let _ = writeln!(out, "[classes]");
    let suggestions = [
        ("docs", &["docs", "doc"][..]),
        ("test", &["tests", "test", "spec"][..]),
    ];
    // One key per class: the project kind's globs, then its test and docs folders.
    let mut classes: Vec<(&str, Vec<String>)> = detected.classes.clone();
    for (class, dirs) in suggestions {
        let found = dirs
            .iter()
            .filter(|d| top_dirs.contains(*d))
            .map(|d| format!("{d}/**"));
        match classes.iter_mut().find(|(c, _)| *c == class) {
            Some((_, globs)) => globs.extend(found),
            None => classes.push((class, found.collect())),
        }
    }
    let mut any = false;
    for (class, globs) in classes.iter().filter(|(_, g)| !g.is_empty()) {
        any = true;
        let globs: Vec<String> = globs.iter().map(|g| toml_string(g)).collect();
        let _ = writeln!(out, "{class} = [{}]", globs.join(", "));
    }
    if !any {
        let _ = writeln!(out, "# docs = [\"docs/**\", \"*.md\"]");
        let _ = writeln!(out, "# test = [\"tests/**\"]");
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "[soup]");
    let _ = writeln!(
        out,
        "# Human-maintained SOUP fields (supplier, purpose, safety-class, end-of-support,"
    );
    let _ = writeln!(
        out,
        "# last-anomaly-review), keyed by name so they carry over between releases."
    );
    let _ = writeln!(out, "# overrides = \"soup.toml\"");
    if lockfiles.is_empty() {
        let _ = writeln!(out, "\n# No lockfiles found.");
    } else {
        let _ = writeln!(out, "\n# Lockfiles found (read for the SOUP register):");
        for l in &lockfiles {
            let kind = match reprove_soup::lockfile_kind(l) {
                Some(reprove_soup::LockfileKind::Unsupported(tool)) => {
                    format!("  ({tool}: not read yet)")
                }
                _ => String::new(),
            };
            let _ = writeln!(out, "#   {l}{kind}");
        }
    }
    if mentions.is_empty() {
        let _ = writeln!(out, "# No container image references found.");
    } else {
        let _ = writeln!(out, "# Container image references found:");
        for m in &mentions {
            let state = match &m.reference {
                Ok(r) if r.is_pinned() => "pinned".to_owned(),
                Ok(_) => "NOT PINNED: add @sha256:… (reprove images pin)".to_owned(),
                Err(e) => format!("unreadable: {e}"),
            };
            let _ = writeln!(
                out,
                "#   {}:{}:{}  {}  ({state})",
                m.file, m.line, m.column, m.raw
            );
        }
    }
    Ok(out)
}

/// `reprove init`: write a commented reprove.toml for this repository (never overwrites one).
pub fn run(dir: &Path) -> Result<Outcome> {
    let repo = open_repo(dir)?;
    let path = repo.root().join("reprove.toml");
    if path.exists() {
        bail!(
            "`{}` already exists; reprove init never overwrites it",
            path.display()
        );
    }
    let text = render(&repo).context("failed to inspect the repository")?;
    crate::output::write_file(&path, text.as_bytes(), false)?;
    note(&format!(
        "wrote `{}`; review it, then commit it (it is read from each release tag)",
        path.display()
    ));
    Ok(Outcome::Pass)
}
