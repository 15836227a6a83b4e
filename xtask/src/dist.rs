//! `cargo xtask dist`: reprove released by reprove.
//!
//! The binary is made by `reprove rebuild` from this repository's own `reprove.toml`: in a
//! Debian bookworm image with `rustc-web`/`cargo-web` pinned by digest, the dependencies fetched
//! in reprove's fetch phase (checked against `Cargo.lock`), then built offline with the `dist`
//! profile (no debug info, stripped, thin LTO). `SHA256SUMS` names it, so a second build —
//! `reprove rebuild TAG --artifacts SHA256SUMS`, or `reprove release` — proves the same bytes
//! come out (`--check` does that here). Beside it, an OCI image of reprove for `docker run`: the
//! C runtime (`libc6`, `libgcc-s1`) taken from the same pinned image plus the binary, every
//! layer an uncompressed tar with sorted entries, owner 0 and the commit's time, so the image
//! digest is a function of the binary and the pin alone.
//!
//! The build image is made here by mmdebstrap from Debian's mirror, which serves only current
//! packages: the digest a tag pins can be made again only until Debian updates one of them.
//! `--rootfs FILE` takes the image from an archived root filesystem instead (`--keep-rootfs`
//! writes it beside the binary), and `--repin` pins what the mirror gives now, for the next tag.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use reprove_digest::{Digest, sha256_bytes};
use reprove_oci::ImageRef;
use reprove_oci::testing::TestRegistry;
use reprove_source::Tag;

use crate::util;

/// The Debian packages whose files make the image's base: what a Rust binary linked against
/// glibc needs at run time.
const RUNTIME_PACKAGES: &[&str] = &["libc6:amd64", "libgcc-s1:amd64"];

/// Where the binary sits in the image.
const IMAGE_BINARY: &str = "usr/local/bin/reprove";

#[derive(Debug, Default)]
pub struct DistArgs {
    /// The tag to build (default: the tag at HEAD).
    pub tag: Option<String>,
    /// The repository (default: this workspace).
    pub repo: Option<PathBuf>,
    /// The output folder (default: `target/dist/<tag>`).
    pub out: Option<PathBuf>,
    pub force: bool,
    /// The build image's root filesystem from this archive instead of mmdebstrap.
    pub rootfs: Option<PathBuf>,
    /// Copy the root filesystem the image was made of into the output folder.
    pub keep_rootfs: bool,
    /// Rewrite the pin in `reprove.toml` to the image made now, and stop.
    pub repin: bool,
    /// Build a second time and require the same bytes.
    pub check: bool,
    /// The engine to use (`unix://…`); default: the environment's, else one started here.
    pub docker_host: Option<String>,
    /// What `cargo xtask test` runs: [`check_in_clone`].
    pub check_in_clone: bool,
    /// Release with this key: `reprove release` (the second build, compared, signed) writes the
    /// evidence, and `reprove verify` checks it.
    pub key: Option<PathBuf>,
}

impl DistArgs {
    pub fn parse(args: &[String]) -> Result<DistArgs> {
        let mut d = DistArgs::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .with_context(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--tag" => d.tag = Some(value("--tag")?),
                "--repo" => d.repo = Some(value("--repo")?.into()),
                "--out" => d.out = Some(value("--out")?.into()),
                "--rootfs" => d.rootfs = Some(value("--rootfs")?.into()),
                "--key" => d.key = Some(value("--key")?.into()),
                "--force" => d.force = true,
                "--keep-rootfs" => d.keep_rootfs = true,
                "--repin" => d.repin = true,
                "--check" => d.check = true,
                "--check-in-clone" => d.check_in_clone = true,
                other => bail!(
                    "unknown argument `{other}`\nusage: cargo xtask dist [--tag TAG] [--out DIR] [--force] [--check] [--rootfs FILE] [--keep-rootfs] [--key FILE] [--repin] [--repo DIR] [--check-in-clone]"
                ),
            }
        }
        Ok(d)
    }
}

fn git_out(repo: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .context("failed to run git")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed in `{}`: {}",
            args.join(" "),
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The image a root filesystem makes (one layer, the config `push_rootfs` writes) and its
/// digest: what a pin of it names.
fn rootfs_image(rootfs: &Path) -> Result<(Vec<u8>, Digest)> {
    let layer = std::fs::read(rootfs)
        .with_context(|| format!("failed to read the root filesystem `{}`", rootfs.display()))?;
    let digest = reprove_oci::testing::rootfs_image_digest(&layer);
    Ok((layer, digest))
}

/// The build image's root filesystem: `--rootfs`, else the one mmdebstrap made (`fresh`: made
/// again from the mirror now, not the cached one, whose packages may be months old).
fn rootfs(args: &DistArgs, fresh: bool) -> Result<PathBuf> {
    if let Some(p) = &args.rootfs {
        return Ok(p.clone());
    }
    util::ensure_tools(&[("mmdebstrap", "mmdebstrap")])?;
    if fresh {
        util::forget_debian_rust_rootfs()?;
    }
    util::debian_rust_rootfs()
}

/// How old a file is, for messages: "made 3 day(s) ago".
fn age(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map(|d| format!("made {} day(s) ago", d.as_secs() / 86_400))
        .unwrap_or_else(|| "of unknown age".to_owned())
}

/// The `image = "…"` line of `reprove.toml`'s `[build]` table rewritten to `digest`; the rest
/// kept byte for byte. The result is parsed again and must pin exactly `digest`.
fn repinned(text: &str, digest: &Digest) -> Result<String> {
    let mut done = false;
    let mut table = String::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            table = trimmed.to_owned();
        }
        let is_image = trimmed
            .strip_prefix("image")
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if done || table != "[build]" || !is_image {
            out.push_str(line);
            continue;
        }
        // The digest inside the quoted value, not one in a comment after it.
        let value_end = line
            .find('=')
            .and_then(|eq| {
                let open = eq + 1 + line[eq + 1..].find('"')?;
                Some(open + 1 + line[open + 1..].find('"')?)
            })
            .context("the `image` line of `reprove.toml` has no quoted value")?;
        let at = line[..value_end]
            .find("@sha256:")
            .context("the `image` of `reprove.toml` is not pinned by a sha256 digest")?;
        let hex_start = at + "@sha256:".len();
        if value_end - hex_start != 64
            || !line[hex_start..value_end]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        {
            bail!("the `image` of `reprove.toml` has no full sha256 digest");
        }
        out.push_str(&line[..at]);
        out.push('@');
        out.push_str(&digest.to_string());
        out.push_str(&line[value_end..]);
        done = true;
    }
    if !done {
        bail!("`reprove.toml` has no `image = \"…@sha256:…\"` line in `[build]` to repin");
    }
    let recipe = reprove_build::parse_recipe(&out, "HEAD")?;
    if recipe.image.digest() != Some(digest) {
        bail!("the repinned `reprove.toml` does not pin {digest}");
    }
    Ok(out)
}

/// `reprove.toml` in `repo`'s working tree pinned to the image of `rootfs`.
fn repin(repo: &Path, rootfs: &Path) -> Result<Digest> {
    let (_, digest) = rootfs_image(rootfs)?;
    let path = repo.join("reprove.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let new = repinned(&text, &digest)?;
    if new != text {
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, &new)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(digest)
}

/// A folder removed when dropped unless kept: a failed dist leaves no half-made output.
struct Staging(Option<PathBuf>);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// The commit a tag names, through `refs/tags/` only (a tag named `HEAD` or like a branch
/// resolves to nothing else), with git told where its options end.
fn tag_commit(repo: &Path, tag: &Tag) -> Result<String> {
    let spec = format!("refs/tags/{tag}^{{commit}}");
    let commit = git_out(repo, &["rev-parse", "--verify", "--end-of-options", &spec])
        .with_context(|| format!("failed to resolve the tag `{tag}`"))?;
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the tag `{tag}` resolved to `{commit}`, not a commit id");
    }
    Ok(commit)
}

pub fn run(args: &DistArgs) -> Result<()> {
    if args.check_in_clone {
        return check_in_clone(None);
    }
    let repo = args.repo.clone().unwrap_or_else(util::root);
    if args.repin {
        let rootfs = rootfs(args, true)?;
        let digest = repin(&repo, &rootfs)?;
        util::say(&format!(
            "xtask: `reprove.toml` pins {digest}, the image of `{}`; commit it, then tag the release",
            rootfs.display()
        ));
        return Ok(());
    }
    util::ensure_tools(&[("/usr/bin/docker-registry", "docker-registry")])?;
    let tag_name = match &args.tag {
        Some(t) => t.clone(),
        None => git_out(&repo, &["describe", "--tags", "--exact-match", "HEAD"]).context(
            "HEAD is not tagged: cargo xtask dist builds a tag (tag the release, or give --tag)",
        )?,
    };
    let tag: Tag = tag_name
        .parse()
        .with_context(|| format!("`{tag_name}` is not a tag name reprove takes"))?;
    let commit = tag_commit(&repo, &tag)?;
    let epoch: i64 = git_out(&repo, &["log", "-1", "--format=%ct", &commit])?
        .parse()
        .context("failed to read the commit time")?;
    let recipe_text = git_out(&repo, &["show", &format!("{commit}:reprove.toml")])?;
    let recipe = reprove_build::parse_recipe(&recipe_text, tag.as_str())?;
    let pinned = recipe.image.clone();
    let Some(pin) = pinned.digest().cloned() else {
        bail!("`reprove.toml` at `{tag}` does not pin its image by digest");
    };
    let port = loopback_port(&pinned)?;

    // Outside `target/dist`, which is cargo's own folder for the `dist` profile.
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| util::target().join("reprove-dist").join(tag.as_str()));
    if out.exists() && !args.force {
        bail!("`{}` exists: pass --force to replace it", out.display());
    }

    let rootfs_path = rootfs(args, false)?;
    let (layer, made) = rootfs_image(&rootfs_path)?;
    if made != pin {
        bail!(
            "the build image made of `{}` ({}) is {made}, but `reprove.toml` at `{tag}` pins {pin}. Debian's mirror serves only current packages, so an image pinned before a package was updated cannot be made again from it. Build with the root filesystem archived with that release (--rootfs FILE), or pin the image made from the mirror now for the next tag (cargo xtask dist --repin, commit, tag)",
            rootfs_path.display(),
            age(&rootfs_path)
        );
    }
    // Before the hour of building: a build image without its runtime packages fails now.
    let base = base_layer(&layer, epoch)?;
    util::say(&format!(
        "xtask: build image {pinned} made again from `{}`",
        rootfs_path.display()
    ));

    // The registry the pin names, on loopback, holding the image for the engine to pull.
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!(
            "127.0.0.1:{port} is in use: the pinned build image is served there while reprove builds (a registry left by a killed dist?); stop what listens on it"
        );
    }
    let registry = TestRegistry::start_on(port);
    registry.push_rootfs(
        pinned.repository(),
        pinned.tag().unwrap_or("latest"),
        &layer,
    );
    drop(layer);
    if !registry.has_manifest(pinned.repository(), &pin) {
        bail!("the registry on 127.0.0.1:{port} does not serve the pinned {pin} after the push");
    }

    let engine = match &args.docker_host {
        Some(h) => util::Engine::at(h),
        None => util::ensure_engine()?,
    };
    util::cargo(&["build", "-p", "reprove-cli"], &[])?;
    let reprove = util::target().join("debug").join("reprove");

    let staging_path = out.with_file_name(format!(
        ".{}.partial",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("dist")
    ));
    if staging_path.exists() {
        std::fs::remove_dir_all(&staging_path).with_context(|| {
            format!("failed to remove the leftover `{}`", staging_path.display())
        })?;
    }
    std::fs::create_dir_all(&staging_path)
        .with_context(|| format!("failed to create `{}`", staging_path.display()))?;
    let mut staging = Staging(Some(staging_path.clone()));
    let kept = staging_path.join("rebuild");
    let started = std::time::Instant::now();
    // -v: progress (the fetch, the build) in a log that is not a terminal.
    util::run(
        engine
            .apply(&mut Command::new(&reprove))
            .arg("-v")
            .arg("-C")
            .arg(&repo)
            .args(["rebuild", "--keep"])
            .arg(&kept)
            .args(["--fetch-network", "host", "--", tag.as_str()]),
    )?;
    let first = started.elapsed();
    let binary = std::fs::read(kept.join("artifacts").join("reprove"))
        .context("the rebuild kept no `reprove` artifact")?;
    let write = |name: &str, data: &[u8]| {
        std::fs::write(staging_path.join(name), data)
            .with_context(|| format!("failed to write `{name}` in `{}`", staging_path.display()))
    };
    write("reprove", &binary)?;
    write(
        "SHA256SUMS",
        format!("{}  reprove\n", sha256_bytes(&binary).hex()).as_bytes(),
    )?;

    // The OCI image.
    let image = OciImage::new(
        tag.as_str(),
        &commit,
        epoch,
        &pinned,
        base,
        binary_layer(&binary, epoch)?,
    )?;
    let archive = image.archive(epoch)?;
    write("reprove-image.oci.tar", &archive)?;
    // Not in SHA256SUMS, which lists what a rebuild makes and compares.
    write(
        "reprove-image.oci.tar.sha256",
        format!("{}  reprove-image.oci.tar\n", sha256_bytes(&archive).hex()).as_bytes(),
    )?;
    drop(archive);
    if args.keep_rootfs {
        std::fs::copy(&rootfs_path, staging_path.join("build-rootfs.tar"))
            .context("failed to copy the root filesystem")?;
    }

    // The image runs: loaded into the engine, `reprove --version` names the tag and commit.
    let image_path = staging_path.join("reprove-image.oci.tar");
    docker(
        &engine,
        &["load", "--input", &image_path.display().to_string()],
    )?;
    let version = docker(
        &engine,
        &["run", "--rm", "--network", "none", &image.name, "--version"],
    );
    let _ = docker(&engine, &["image", "rm", &image.name]);
    let version = version?;
    if !version.contains(&commit) || !version.contains(tag.as_str()) {
        bail!(
            "the image's `reprove --version` does not name `{tag}` and {commit}: {}",
            version.trim()
        );
    }
    util::out(&format!(
        "dist {tag} (commit {commit})\n  {}  reprove ({:.1} MiB, built in {:.0} s)\n  image {} ({}): {}",
        sha256_bytes(&binary).hex(),
        binary.len() as f64 / f64::from(1u32 << 20),
        first.as_secs_f64(),
        image.manifest_digest,
        image.name,
        version.trim(),
    ));

    if let Some(key) = &args.key {
        release(&reprove, &repo, &tag, key, &staging_path, &engine)?;
    } else if args.check {
        let mut again = Command::new(&reprove);
        engine
            .apply(&mut again)
            .arg("-v")
            .arg("-C")
            .arg(&repo)
            .args(["rebuild", "--artifacts"])
            .arg(staging_path.join("SHA256SUMS"))
            .arg("--keep")
            .arg(staging_path.join("check"))
            .args(["--fetch-network", "host", "--", tag.as_str()]);
        match util::exit_code(&mut again)? {
            Some(0) => {}
            // reprove rebuild: 1 is a difference, 2 a build that could not run.
            Some(1) => {
                // Both builds are kept for diffoscope, beside where the output would have gone.
                let failed = out.with_extension("failed");
                let _ = std::fs::remove_dir_all(&failed);
                std::fs::rename(&staging_path, &failed)?;
                bail!(
                    "the second build of reprove gave different bytes (both kept in `{}`: rebuild/ and check/)",
                    failed.display()
                );
            }
            other => bail!("the second build of reprove could not run (exit {other:?})"),
        }
        std::fs::remove_dir_all(staging_path.join("check"))?;
        util::out(&format!("dist {tag}: a second build gave the same bytes"));
    }
    drop(registry);
    // Only now is the previous output replaced.
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .with_context(|| format!("failed to remove the previous `{}`", out.display()))?;
    }
    std::fs::rename(&staging_path, &out)
        .with_context(|| format!("failed to move the output to `{}`", out.display()))?;
    staging.0 = None;
    util::out(&format!("  {}", out.display()));
    Ok(())
}

/// The suite's proof, a stage of `cargo xtask test`: this repository's HEAD, cloned, pinned
/// to the build image made now (the committed pin follows Debian's mirror, see the module
/// comment) and tagged, is built by `cargo xtask dist`, built again by `reprove rebuild` to the
/// same bytes, and its image runs.
pub fn check_in_clone(docker_host: Option<&str>) -> Result<()> {
    let dirty = git_out(
        &util::root(),
        &["status", "--porcelain", "--untracked-files=no"],
    )?;
    if !dirty.is_empty() {
        util::say("xtask: dist check: uncommitted changes are not in it (it builds HEAD)");
    }
    let dir = util::target().join("xtask").join("dist-check");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let clone = dir.join("reprove");
    util::run(
        Command::new("git")
            .args(["clone", "-q", "--no-local"])
            .arg(util::root())
            .arg(&clone),
    )?;
    let home = dir.join("home");
    std::fs::create_dir_all(&home)?;
    // The image this run's suite made (cargo xtask test made it minutes ago).
    repin(&clone, &util::debian_rust_rootfs()?)?;
    // A fixed time: the tag's commit time is the binary's SOURCE_DATE_EPOCH.
    let time = 1_767_225_600;
    util::git(
        &clone,
        &home,
        time,
        &[
            "commit",
            "-q",
            "-a",
            "--allow-empty",
            "-m",
            "dist check: pin the build image made now",
        ],
    )?;
    let tag = "v0.0.0-dist-check";
    util::git(&clone, &home, time, &["tag", tag])?;
    // A release key of this check's own: the second build is `reprove release`'s, and its
    // evidence is verified.
    util::cargo(&["build", "-p", "reprove-cli"], &[])?;
    util::run(
        Command::new(util::target().join("debug").join("reprove"))
            .args(["key", "generate", "--no-password", "--output"])
            .arg(dir.join("release")),
    )?;
    run(&DistArgs {
        repo: Some(clone),
        tag: Some(tag.to_owned()),
        out: Some(dir.join("out")),
        key: Some(dir.join("release.key")),
        docker_host: docker_host.map(str::to_owned),
        ..DistArgs::default()
    })?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// `reprove release` of the tag against the binary just built: the second build, compared,
/// then the baseline, provenance and index signed with `key` into `staging/evidence`; then
/// `reprove verify` of that evidence with the key's public half, as a user would.
fn release(
    reprove: &Path,
    repo: &Path,
    tag: &Tag,
    key: &Path,
    staging: &Path,
    engine: &util::Engine,
) -> Result<()> {
    // The release compares a folder of exactly the published artifacts.
    let published = staging.join("artifacts");
    std::fs::create_dir_all(&published)?;
    std::fs::copy(staging.join("reprove"), published.join("reprove"))
        .context("failed to copy the binary for the release")?;
    let evidence = staging.join("evidence");
    let code = |cmd: &mut Command| util::exit_code(engine.apply(cmd));
    match code(
        Command::new(reprove)
            .arg("-v")
            .arg("-C")
            .arg(repo)
            .arg("release")
            .arg("--artifacts")
            .arg(&published)
            .arg("--key")
            .arg(key)
            .arg("--evidence")
            .arg(&evidence)
            .args(["--fetch-network", "host", "--", tag.as_str()]),
    )? {
        Some(0) => {}
        // reprove release: 1 is a release refused (a second build that differs), 2 an error.
        Some(1) => bail!("reprove release refused `{tag}`: see its report above"),
        other => bail!("reprove release of `{tag}` could not run ({other:?})"),
    }
    let public = staging.join("release.pub");
    let pem = Command::new(reprove)
        .args(["key", "public"])
        .arg(key)
        .output()
        .context("failed to run reprove key public")?;
    if !pem.status.success() {
        bail!(
            "reprove key public failed: {}",
            String::from_utf8_lossy(&pem.stderr).trim()
        );
    }
    std::fs::write(&public, &pem.stdout)?;
    match code(
        Command::new(reprove)
            .arg("-C")
            .arg(repo)
            .arg("verify")
            .arg("--artifacts")
            .arg(&published)
            .arg("--key")
            .arg(&public)
            .arg("--evidence")
            .arg(&evidence)
            .args(["--", tag.as_str()]),
    )? {
        Some(0) => {}
        other => bail!("reprove verify of the evidence just written failed ({other:?})"),
    }
    std::fs::remove_dir_all(&published)?;
    util::out(&format!(
        "dist {tag}: released (a second build gave the same bytes), evidence verified"
    ));
    Ok(())
}

/// The port of a `127.0.0.1:PORT` registry: the only kind `cargo xtask dist` serves.
fn loopback_port(image: &ImageRef) -> Result<u16> {
    image
        .registry()
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .filter(|&p: &u16| p != 0)
        .with_context(|| {
            format!(
                "the build image `{image}` is not on a 127.0.0.1:PORT registry, which is where cargo xtask dist serves it"
            )
        })
}

fn docker(engine: &util::Engine, args: &[&str]) -> Result<String> {
    let out = engine
        .apply(&mut Command::new("docker"))
        .args(args)
        .output()
        .context("failed to run docker")?;
    if !out.status.success() {
        bail!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One tar entry of a layer, with everything but its name, kind, mode and content fixed.
#[derive(Debug, Clone)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
}

/// A deterministic tar: entries sorted by path (parents first), owner 0, mtime `epoch`.
fn layer_tar(nodes: &BTreeMap<String, Node>, epoch: i64) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mtime = u64::try_from(epoch).unwrap_or(0);
    for (path, node) in nodes {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        match node {
            Node::Dir { mode } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            Node::File { mode, data } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_slice())?;
            }
            Node::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target)?;
            }
        }
    }
    Ok(b.into_inner()?)
}

/// A path in the root filesystem without `./` and trailing `/`.
fn clean(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

/// The files of [`RUNTIME_PACKAGES`] (as dpkg lists them) and the directories above them, from
/// the build image's root filesystem; dpkg's list paths go through the merged-/usr links
/// (`/lib` → `usr/lib`) the root filesystem has.
fn base_layer(rootfs: &[u8], epoch: i64) -> Result<Vec<u8>> {
    let mut lists: BTreeMap<String, String> = BTreeMap::new();
    let mut top_links: BTreeMap<String, String> = BTreeMap::new();
    let mut archive = tar::Archive::new(rootfs);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = clean(&entry.path()?.to_string_lossy());
        if entry.header().entry_type() == tar::EntryType::Symlink
            && !path.contains('/')
            && let Some(t) = entry.link_name()?
        {
            top_links.insert(path.clone(), clean(&t.to_string_lossy()));
        }
        for p in RUNTIME_PACKAGES {
            if path == format!("var/lib/dpkg/info/{p}.list") {
                let mut s = String::new();
                entry.read_to_string(&mut s)?;
                lists.insert((*p).to_owned(), s);
            }
        }
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for p in RUNTIME_PACKAGES {
        let Some(list) = lists.get(*p) else {
            bail!("the build image has no `/var/lib/dpkg/info/{p}.list`: is `{p}` installed?");
        };
        for line in list.lines() {
            let path = clean(line);
            if path.is_empty() || path == "." {
                continue;
            }
            let (first, rest) = path.split_once('/').unwrap_or((path.as_str(), ""));
            let path = match top_links.get(first) {
                Some(target) => {
                    wanted.insert(first.to_owned());
                    if rest.is_empty() {
                        target.clone()
                    } else {
                        format!("{target}/{rest}")
                    }
                }
                None => path.clone(),
            };
            let mut parent = path.as_str();
            wanted.insert(path.clone());
            while let Some((p, _)) = parent.rsplit_once('/') {
                wanted.insert(p.to_owned());
                parent = p;
            }
        }
    }
    let mut nodes = BTreeMap::new();
    let mut archive = tar::Archive::new(rootfs);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = clean(&entry.path()?.to_string_lossy());
        if !wanted.contains(&path) {
            continue;
        }
        let node = match entry.header().entry_type() {
            tar::EntryType::Directory => Node::Dir {
                mode: entry.header().mode()? & 0o7777,
            },
            tar::EntryType::Regular => {
                let mode = entry.header().mode()? & 0o7777;
                let mut data = Vec::new();
                entry.read_to_end(&mut data)?;
                Node::File { mode, data }
            }
            tar::EntryType::Symlink => Node::Symlink {
                target: entry
                    .link_name()?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            },
            other => bail!(
                "`{path}` in the build image is a {other:?}, which the base layer does not copy"
            ),
        };
        nodes.insert(path, node);
    }
    if !nodes.keys().any(|p| p.ends_with("/libc.so.6")) {
        bail!(
            "the base layer has no `libc.so.6`: the build image's file lists do not match its files"
        );
    }
    layer_tar(&nodes, epoch)
}

/// The binary at [`IMAGE_BINARY`], a world-writable `/tmp` and the working directory `/work`.
fn binary_layer(binary: &[u8], epoch: i64) -> Result<Vec<u8>> {
    let mut nodes = BTreeMap::new();
    for d in ["usr", "usr/local", "usr/local/bin", "work"] {
        nodes.insert(d.to_owned(), Node::Dir { mode: 0o755 });
    }
    nodes.insert("tmp".to_owned(), Node::Dir { mode: 0o1777 });
    nodes.insert(
        IMAGE_BINARY.to_owned(),
        Node::File {
            mode: 0o755,
            data: binary.to_vec(),
        },
    );
    layer_tar(&nodes, epoch)
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// An OCI image (image-spec 1.1: `image-layout.md`, `manifest.md`, `config.md`) as the blobs
/// of an image layout.
struct OciImage {
    /// `reprove:<tag>` as the engine names it on load.
    name: String,
    manifest_digest: Digest,
    /// Every blob by digest: the layers, the config, the manifest.
    blobs: BTreeMap<String, Vec<u8>>,
    manifest_size: usize,
    config_digest: Digest,
    layer_digests: Vec<Digest>,
    tag: String,
}

/// A Docker tag from a git tag: Docker allows `[A-Za-z0-9_.-]`, 128 at most, not starting with
/// `.` or `-`.
fn docker_tag(tag: &str) -> String {
    let mut t: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    if t.starts_with(['.', '-']) || t.is_empty() {
        t.insert(0, '_');
        t.truncate(128);
    }
    t
}

impl OciImage {
    fn new(
        tag: &str,
        commit: &str,
        epoch: i64,
        base: &ImageRef,
        base_layer: Vec<u8>,
        binary_layer: Vec<u8>,
    ) -> Result<OciImage> {
        // The commit's time, not today's.
        let created = reprove_source::rfc3339_utc(epoch);
        let layers = [base_layer, binary_layer];
        let layer_digests: Vec<Digest> = layers.iter().map(|l| sha256_bytes(l)).collect();
        let labels = serde_json::json!({
            "org.opencontainers.image.title": "reprove",
            "org.opencontainers.image.version": tag,
            "org.opencontainers.image.revision": commit,
            // Not `org.opencontainers.image.base.*`: this image is not a layer on top of the
            // build image; its runtime files were taken from it.
            "dev.reprove.runtime-from": base.to_string(),
        });
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {
                "Entrypoint": [format!("/{IMAGE_BINARY}")],
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"],
                "WorkingDir": "/work",
                "Labels": labels,
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layer_digests.iter().map(ToString::to_string).collect::<Vec<_>>(),
            },
            "history": [
                {"created": created, "created_by": format!("cargo xtask dist: {} from {base}", RUNTIME_PACKAGES.join(", "))},
                {"created": created, "created_by": format!("cargo xtask dist: reprove {tag}")},
            ],
        });
        let config = serde_json::to_vec(&config)?;
        let config_digest = sha256_bytes(&config);
        let mut annotations = labels;
        annotations["org.opencontainers.image.created"] = serde_json::Value::from(created);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest.to_string(),
                "size": config.len(),
            },
            "layers": layers.iter().zip(&layer_digests).map(|(l, d)| serde_json::json!({
                "mediaType": LAYER,
                "digest": d.to_string(),
                "size": l.len(),
            })).collect::<Vec<_>>(),
            "annotations": annotations,
        });
        let manifest = serde_json::to_vec(&manifest)?;
        let manifest_digest = sha256_bytes(&manifest);
        let manifest_size = manifest.len();
        let mut blobs = BTreeMap::new();
        for (l, d) in layers.into_iter().zip(&layer_digests) {
            blobs.insert(d.hex(), l);
        }
        blobs.insert(config_digest.hex(), config);
        blobs.insert(manifest_digest.hex(), manifest);
        Ok(OciImage {
            name: format!("reprove:{}", docker_tag(tag)),
            manifest_digest,
            blobs,
            manifest_size,
            config_digest,
            layer_digests,
            tag: tag.to_owned(),
        })
    }

    /// The image layout as one tar, with Docker's `manifest.json` beside `index.json` so
    /// engines that predate OCI layouts load it too (as `docker save` writes since 25.0).
    fn archive(&self, epoch: i64) -> Result<Vec<u8>> {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": MANIFEST,
                "digest": self.manifest_digest.to_string(),
                "size": self.manifest_size,
                "annotations": {
                    "org.opencontainers.image.ref.name": docker_tag(&self.tag),
                    "io.containerd.image.name": format!("docker.io/library/{}", self.name),
                },
            }],
        });
        let docker = serde_json::json!([{
            "Config": format!("blobs/sha256/{}", self.config_digest.hex()),
            "RepoTags": [self.name],
            "Layers": self.layer_digests.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
        }]);
        let mut nodes = BTreeMap::new();
        nodes.insert("blobs".to_owned(), Node::Dir { mode: 0o755 });
        nodes.insert("blobs/sha256".to_owned(), Node::Dir { mode: 0o755 });
        for (hex, data) in &self.blobs {
            nodes.insert(
                format!("blobs/sha256/{hex}"),
                Node::File {
                    mode: 0o644,
                    data: data.clone(),
                },
            );
        }
        for (name, value) in [("index.json", index), ("manifest.json", docker)] {
            nodes.insert(
                name.to_owned(),
                Node::File {
                    mode: 0o644,
                    data: serde_json::to_vec(&value)?,
                },
            );
        }
        nodes.insert(
            "oci-layout".to_owned(),
            Node::File {
                mode: 0o644,
                data: br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            },
        );
        layer_tar(&nodes, epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_tags_are_valid() {
        assert_eq!(docker_tag("v1.2.3"), "v1.2.3");
        assert_eq!(docker_tag("release/1.0"), "release-1.0");
        assert_eq!(docker_tag("-x"), "_-x");
        assert_eq!(docker_tag(&"a".repeat(300)).len(), 128);
    }

    #[test]
    fn repin_rewrites_only_the_pin_of_the_build_image() {
        let (b, c) = ("b".repeat(64), "c".repeat(64));
        let d: Digest = format!("sha256:{c}").parse().unwrap();
        let recipe = |image_line: &str| {
            format!(
                "[project]\nname = \"x\"\n[other]\nimage = \"y@sha256:{b}\"\n[build]\n# image = \"x@sha256:{b}\"\n{image_line}\ncommand = \"make\"\nartifacts = [\"out\"]\n"
            )
        };
        let old = recipe(&format!(
            "image = \"127.0.0.1:5151/r/b:bookworm@sha256:{b}\" # was @sha256:{b}\r"
        ));
        let new = repinned(&old, &d).unwrap();
        // Only the value in [build] changes: not [other], the comment line or the comment after.
        assert_eq!(
            new,
            old.replacen(
                &format!("bookworm@sha256:{b}"),
                &format!("bookworm@sha256:{c}"),
                1
            )
        );
        // No pin, a pin only in a comment, a short or non-hex digest: refused, nothing written.
        for bad in [
            "image = \"x:1\"".to_owned(),
            format!("image = \"x:1\" # x@sha256:{b}"),
            format!("image = \"x@sha256:{}\"", &b[..60]),
            format!("image = \"x@sha256:{}g\"", &b[..63]),
        ] {
            assert!(repinned(&recipe(&bad), &d).is_err(), "{bad}");
        }
    }

    /// A root filesystem as mmdebstrap writes one on merged /usr: dpkg lists `/lib/…`, the
    /// files are under `usr/lib`, `./lib` links there.
    fn rootfs() -> Vec<u8> {
        let mut nodes = BTreeMap::new();
        for d in [
            "usr",
            "usr/lib",
            "usr/lib/x86_64-linux-gnu",
            "usr/lib64",
            "var",
            "var/lib",
            "var/lib/dpkg",
            "var/lib/dpkg/info",
            "etc",
        ] {
            nodes.insert(d.to_owned(), Node::Dir { mode: 0o755 });
        }
        let file = |data: &str| Node::File {
            mode: 0o644,
            data: data.as_bytes().to_vec(),
        };
        nodes.insert(
            "lib".into(),
            Node::Symlink {
                target: "usr/lib".into(),
            },
        );
        nodes.insert(
            "lib64".into(),
            Node::Symlink {
                target: "usr/lib64".into(),
            },
        );
        nodes.insert("usr/lib/x86_64-linux-gnu/libc.so.6".into(), file("libc"));
        nodes.insert(
            "usr/lib/x86_64-linux-gnu/libgcc_s.so.1".into(),
            file("libgcc"),
        );
        nodes.insert(
            "usr/lib/x86_64-linux-gnu/libstdc++.so.6".into(),
            file("not wanted"),
        );
        nodes.insert(
            "usr/lib64/ld-linux-x86-64.so.2".into(),
            Node::Symlink {
                target: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into(),
            },
        );
        nodes.insert("etc/passwd".into(), file("root:x:0:0"));
        nodes.insert("var/lib/dpkg/info/libc6:amd64.list".into(), file("/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n/lib64\n/lib64/ld-linux-x86-64.so.2\n/usr/share/doc/libc6\n"));
        nodes.insert(
            "var/lib/dpkg/info/libgcc-s1:amd64.list".into(),
            file("/.\n/lib/x86_64-linux-gnu/libgcc_s.so.1\n"),
        );
        let mut tar = Vec::new();
        let mut b = tar::Builder::new(&mut tar);
        for (path, node) in &nodes {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            match node {
                Node::Dir { .. } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    b.append_data(&mut h, format!("./{path}/"), std::io::empty())
                        .unwrap();
                }
                Node::File { data, .. } => {
                    h.set_size(data.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, format!("./{path}"), data.as_slice())
                        .unwrap();
                }
                Node::Symlink { target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, format!("./{path}"), target).unwrap();
                }
            }
        }
        b.finish().unwrap();
        drop(b);
        tar
    }

    #[test]
    fn the_base_layer_is_the_runtime_packages_through_merged_usr() {
        let layer = base_layer(&rootfs(), 7).unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(layer.as_slice()).entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 7);
            assert_eq!(e.header().uid().unwrap(), 0);
            names.push(e.path().unwrap().display().to_string());
        }
        assert_eq!(
            names,
            [
                "lib",
                "lib64",
                "usr/",
                "usr/lib/",
                "usr/lib/x86_64-linux-gnu/",
                "usr/lib/x86_64-linux-gnu/libc.so.6",
                "usr/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "usr/lib64/",
                "usr/lib64/ld-linux-x86-64.so.2",
            ]
        );
        // A root filesystem without the packages is refused, not turned into an empty base.
        let mut nodes = BTreeMap::new();
        nodes.insert("etc".to_owned(), Node::Dir { mode: 0o755 });
        assert!(base_layer(&layer_tar(&nodes, 0).unwrap(), 0).is_err());
    }

    #[test]
    fn layers_and_images_are_deterministic() {
        let a = binary_layer(b"\x7fELF...", 1_700_000_000).unwrap();
        let b = binary_layer(b"\x7fELF...", 1_700_000_000).unwrap();
        assert_eq!(a, b);
        let names: Vec<String> = tar::Archive::new(a.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "tmp/",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/reprove",
                "work/"
            ]
        );
        let base: ImageRef = format!("127.0.0.1:5151/r/b:bookworm@sha256:{}", "b".repeat(64))
            .parse()
            .unwrap();
        let one = OciImage::new("v1.0.0", "c0ffee", 0, &base, vec![1], a.clone()).unwrap();
        let two = OciImage::new("v1.0.0", "c0ffee", 0, &base, vec![1], a).unwrap();
        assert_eq!(one.manifest_digest, two.manifest_digest);
        assert_eq!(one.archive(0).unwrap(), two.archive(0).unwrap());
    }
}
