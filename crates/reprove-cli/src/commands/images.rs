//! `reprove images check` and `reprove images pin`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::os::unix::ffi::OsStrExt as _;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use reprove_oci::check::{
    Verdict, VerdictCode, check_reference, concurrently, default_platform, resolve_tag,
};
use reprove_oci::pin::{Resolution, pin_text, unified_diff};
use reprove_oci::registry::{ClientOptions, RegistryClient};
use reprove_oci::sources::Source;
use reprove_oci::{ImageMention, ImageRef, file_kind, scan};

use reprove_escape::terminal;

use crate::outcome::Outcome;
use crate::output::{note, stdout};

/// The files named on the command line (read whether tracked or not), or the repository's
/// tracked files; each file once, however many ways it was named.
fn sources(dir: &Path, paths: &[PathBuf]) -> Result<Vec<Source>> {
    let mut all = collect_sources(dir, paths)?;
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|s| seen.insert(std::fs::canonicalize(&s.path).unwrap_or_else(|_| s.path.clone())));
    Ok(all)
}

fn collect_sources(dir: &Path, paths: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    if paths.is_empty() {
        let repo = reprove_source::Repository::discover(dir).context(
            "no paths given and not in a git repository; name the files or folders to check",
        )?;
        for p in repo.tracked_files()? {
            // A path that is not UTF-8 is read by its exact bytes and shown lossily.
            let rel = String::from_utf8_lossy(&p).into_owned();
            if file_kind(&rel).is_some() {
                let path = repo.root().join(std::ffi::OsStr::from_bytes(&p));
                let root =
                    std::fs::canonicalize(repo.root()).unwrap_or_else(|_| repo.root().to_owned());
                if !inside(&path, &root)
                    && matches!(
                        reprove_digest::file::kind_of(&path),
                        Ok(reprove_digest::EntryKind::Regular)
                    )
                {
                    note(&format!(
                        "{}: a folder on its path is a link out of the repository; not read",
                        reprove_escape::terminal(&rel)
                    ));
                    continue;
                }
                // A tracked symlink is scanned through the file it names, if that is tracked.
                match reprove_digest::file::kind_of(&path) {
                    Ok(reprove_digest::EntryKind::Regular) => {
                        out.push(Source { display: rel, path })
                    }
                    Ok(reprove_digest::EntryKind::Symlink) => {
                        note(&format!(
                            "{}: a symbolic link; not followed",
                            reprove_escape::terminal(&rel)
                        ));
                    }
                    _ => {}
                }
            }
        }
        return Ok(out);
    }
    for p in paths {
        let full = if p.is_absolute() {
            p.clone()
        } else {
            dir.join(p)
        };
        let meta = std::fs::metadata(&full)
            .with_context(|| format!("failed to read `{}`", p.display()))?;
        if meta.is_dir() {
            let shown = p.display().to_string();
            let repo = super::optional_repo(&full)?;
            let mut batch = reprove_oci::sources::walk(&full, &shown, repo.is_some())?;
            // A file the repository tracks counts even when an ignore file matches it (a
            // force-added `Dockerfile` must not hide behind a committed `.gitignore`).
            if let Some(repo) = &repo {
                batch.extend(tracked_under(repo, &full, &shown)?);
            }
            batch.sort_by(|a, b| a.display.cmp(&b.display));
            batch.dedup_by(|a, b| a.display == b.display);
            out.extend(batch);
        } else {
            out.push(Source {
                display: p.display().to_string(),
                path: full,
            });
        }
    }
    Ok(out)
}

/// The tracked files under `dir` that can hold image references, when `dir` is inside a
/// repository (none otherwise), shown under `shown`.
fn tracked_under(
    repo: &reprove_source::Repository,
    dir: &Path,
    shown: &str,
) -> Result<Vec<Source>> {
    let root = std::fs::canonicalize(repo.root()).unwrap_or_else(|_| repo.root().to_owned());
    let Ok(rel) = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_owned())
        .strip_prefix(&root)
        .map(Path::to_path_buf)
    else {
        return Ok(Vec::new());
    };
    let prefix = rel.as_os_str().as_bytes();
    let mut out = Vec::new();
    for p in repo.tracked_files()? {
        // Paths as bytes: one that is not UTF-8 is read exactly and shown lossily.
        let under: &[u8] = if prefix.is_empty() {
            &p
        } else {
            match p.strip_prefix(prefix).and_then(|r| r.strip_prefix(b"/")) {
                Some(r) => r,
                None => continue,
            }
        };
        let shown_under = String::from_utf8_lossy(under);
        let display = if shown.is_empty() || shown == "." {
            shown_under.into_owned()
        } else {
            format!("{}/{shown_under}", shown.trim_end_matches('/'))
        };
        let path = dir.join(std::ffi::OsStr::from_bytes(under));
        if file_kind(&display).is_some()
            && matches!(
                reprove_digest::file::kind_of(&path),
                Ok(reprove_digest::EntryKind::Regular)
            )
            && inside(&path, &root)
        {
            out.push(Source { display, path });
        }
    }
    Ok(out)
}

/// Whether `path`, with every link in its folders resolved, is still inside `root`: a tracked
/// path whose parent folder was replaced by a link in the working tree is not read (nor
/// rewritten by `pin`).
fn inside(path: &Path, root: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p.starts_with(root))
}

fn read_mentions(sources: &[Source]) -> Result<Vec<ImageMention>> {
    let mut mentions = Vec::new();
    for s in sources {
        // A path named explicitly is scanned by its kind; unknown names are read as YAML.
        let kind = file_kind(&s.display).unwrap_or(reprove_oci::FileKind::Yaml);
        // A regular file of at most 16 MiB, never followed: a committed symlink to
        // `/proc/self/pagemap` or a FIFO is refused, not read.
        let bytes = reprove_digest::read_regular(&s.path, 16 << 20)
            .with_context(|| format!("failed to read `{}`", s.display))?;
        mentions.extend(scan(&s.display, kind, &bytes));
    }
    Ok(mentions)
}

/// Image references recorded in a baseline: a manifest, a Sigstore bundle of one, or a bare
/// DSSE envelope, read through the library's one reader of signed baselines. With `key`, only
/// a signed document that verifies is accepted.
fn baseline_mentions(path: &Path, key: Option<&Path>) -> Result<Vec<ImageMention>> {
    let signers = match key {
        Some(k) => vec![reprove_attest::verify::Signer::Key {
            key: crate::keys::read_public_key(k)?,
        }],
        None => Vec::new(),
    };
    let view = super::read_baseline_arg(path, &signers, None)?;
    Ok(view
        .predicate
        .images
        .into_iter()
        .map(|i| ImageMention {
            file: i.file,
            line: i.line,
            column: i.column,
            reference: i.reference.parse::<ImageRef>().map_err(|e| e.to_string()),
            raw: i.reference,
            context: reprove_oci::MentionContext::YamlImage,
            platform: i.platform,
        })
        .collect())
}

fn client(insecure: &[String], timeout: std::time::Duration) -> Result<RegistryClient> {
    Ok(RegistryClient::new(ClientOptions {
        insecure_registries: insecure.to_vec(),
        timeout,
        ..Default::default()
    })?)
}

fn platform_of(m: &ImageMention) -> String {
    m.platform
        .clone()
        .filter(|p| !p.contains('$'))
        .unwrap_or_else(default_platform)
}

#[derive(serde::Serialize)]
struct Row<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    reference: &'a str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<&'a str>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Check every image reference's pin against its registry
    ///
    /// Verdicts: ok, unpinned-image, tag-moved, digest-missing, index-republished,
    /// digest-mismatch, unparsable-image, registry-unreachable. Exit 0 when every pin holds,
    /// 1 when one is broken or missing, 2 when a registry could not be asked.
    Check(CheckArgs),
    /// Rewrite unpinned references to `name:tag@sha256:…` in place (multi-arch: the index)
    Pin(PinArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove images check\n  reprove images check Dockerfile compose.yaml --format json\n  reprove images check --baseline evidence/v1.4.0/baseline.sigstore.json --key release.pub"
)]
pub struct CheckArgs {
    /// Files or folders to scan (default: the repository's tracked files).
    paths: Vec<PathBuf>,
    /// Check the images recorded in a baseline (manifest or signed bundle) instead.
    #[arg(long, value_name = "B", conflicts_with = "paths")]
    baseline: Option<PathBuf>,
    /// Public key to check the baseline bundle's signature with.
    #[arg(long, value_name = "PUB", requires = "baseline")]
    key: Option<PathBuf>,
    /// Registry host (with port) to reach over plain HTTP; loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds before a registry request is abandoned (registry-unreachable).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// Output format: text for people, or JSON (one verdict per reference).
    #[arg(long, value_enum, default_value_t = ImagesFormat::Text)]
    format: ImagesFormat,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove images pin --dry-run\n  reprove images pin Dockerfile .github/workflows/"
)]
pub struct PinArgs {
    /// Files or folders to rewrite (default: the repository's tracked files).
    paths: Vec<PathBuf>,
    /// Print the diff instead of writing.
    #[arg(long)]
    dry_run: bool,
    /// A registry (host:port) reached over plain HTTP; loopback registries always are (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,
    /// Registry requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds before a registry request is abandoned.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImagesFormat {
    Text,
    Json,
    Sarif,
}

pub fn run(dir: &Path, cmd: ImagesCommand) -> Result<Outcome> {
    match cmd {
        ImagesCommand::Check(args) => check(dir, args),
        ImagesCommand::Pin(args) => pin(
            dir,
            &args.paths,
            &args.insecure_registry,
            args.concurrency,
            std::time::Duration::from_secs(args.timeout),
            args.dry_run,
        ),
    }
}

fn check(dir: &Path, args: CheckArgs) -> Result<Outcome> {
    let mentions = match &args.baseline {
        Some(b) => baseline_mentions(b, args.key.as_deref())?,
        None => read_mentions(&sources(dir, &args.paths)?)?,
    };
    let client = client(
        &args.insecure_registry,
        std::time::Duration::from_secs(args.timeout),
    )?;
    // One registry round trip per distinct (reference, platform).
    let mut unique: Vec<(ImageRef, String)> = mentions
        .iter()
        .filter_map(|m| {
            m.reference
                .as_ref()
                .ok()
                .map(|r| (r.clone(), platform_of(m)))
        })
        .collect();
    unique.sort();
    unique.dedup();
    let verdicts = concurrently(&unique, args.concurrency, |(r, p)| {
        check_reference(&client, r, p)
    });
    for n in client.notes() {
        note(&format!("note: {n}"));
    }
    let by_ref: BTreeMap<&(ImageRef, String), &Verdict> =
        unique.iter().zip(verdicts.iter()).collect();
    let rows: Vec<(Row<'_>, VerdictCode)> = mentions
        .iter()
        .map(|m| {
            let (code, message, current) = match &m.reference {
                Ok(r) => {
                    let key = (r.clone(), platform_of(m));
                    let v = by_ref.get(&key).copied();
                    match v {
                        Some(v) => (v.code, v.message.as_str(), v.current.as_deref()),
                        None => (VerdictCode::RegistryUnreachable, "not checked", None),
                    }
                }
                Err(e) => (VerdictCode::UnparsableImage, e.as_str(), None),
            };
            (
                Row {
                    file: &m.file,
                    line: m.line,
                    column: m.column,
                    reference: &m.raw,
                    code: code.as_str(),
                    message,
                    current,
                },
                code,
            )
        })
        .collect();
    let worst = rows
        .iter()
        .map(|(_, c)| {
            if *c == VerdictCode::UnparsableImage {
                2
            } else {
                c.severity()
            }
        })
        .max()
        .unwrap_or(0);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (r, _) in &rows {
        *counts.entry(r.code).or_default() += 1;
    }
    let summary = counts
        .iter()
        .map(|(c, n)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let out = match args.format {
        ImagesFormat::Text => {
            let mut s = String::new();
            // File names come from the repository, messages partly from registries.
            let locs: Vec<String> = rows
                .iter()
                .map(|(r, _)| format!("{}:{}:{}", terminal(r.file), r.line, r.column))
                .collect();
            let wl = locs.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            let wc = rows.iter().map(|(r, _)| r.code.len()).max().unwrap_or(0);
            for ((r, _), loc) in rows.iter().zip(&locs) {
                s.push_str(&format!(
                    "{loc:wl$}  {:wc$}  {}\n",
                    r.code,
                    terminal(r.message)
                ));
            }
            s.push_str(&format!(
                "{} reference{}: {}\n",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                if summary.is_empty() {
                    "none found".into()
                } else {
                    summary
                }
            ));
            reprove_escape::terminal_block(&s).into_bytes()
        }
        ImagesFormat::Json => {
            let list: Vec<&Row<'_>> = rows.iter().map(|(r, _)| r).collect();
            crate::output::json_doc(
                crate::output::JsonDoc::ImagesCheck,
                serde_json::json!({ "references": list, "summary": counts }),
            )?
        }
        ImagesFormat::Sarif => {
            let mut b = serde_json::to_vec_pretty(&sarif(&rows))?;
            b.push(b'\n');
            b
        }
    };
    stdout(&out)?;
    Ok(Outcome::from_severity(worst))
}

const RULES: [(&str, &str); 7] = [
    ("unpinned-image", "Image reference is not pinned by digest"),
    (
        "tag-moved",
        "The tag resolves to another digest than the pin",
    ),
    (
        "digest-missing",
        "The registry no longer has the pinned manifest",
    ),
    (
        "index-republished",
        "A multi-arch index was republished; the platform manifest is unchanged",
    ),
    (
        "digest-mismatch",
        "The registry served bytes that do not match the pinned digest",
    ),
    ("unparsable-image", "The image reference cannot be parsed"),
    ("registry-unreachable", "The registry could not be asked"),
];

/// A repository path as a relative URI reference (RFC 3986): everything but unreserved
/// characters and `/` percent-encoded, so a name with `[`, `%`, a space or a control character
/// stays one path and shows nothing active.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SARIF 2.1.0 (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html>) for GitHub
/// code scanning: one rule per verdict code, one result per reference that is not `ok`.
fn sarif(rows: &[(Row<'_>, VerdictCode)]) -> serde_json::Value {
    let results: Vec<serde_json::Value> = rows
        .iter()
        .filter(|(_, c)| *c != VerdictCode::Ok)
        .map(|(r, c)| {
            serde_json::json!({
                "ruleId": r.code,
                "level": match c { VerdictCode::IndexRepublished => "warning", VerdictCode::RegistryUnreachable => "note", _ => "error" },
                "message": { "text": reprove_escape::sarif(&format!("{}: {}", r.reference, r.message)) },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": uri_path(r.file) },
                    "region": { "startLine": r.line, "startColumn": r.column },
                }}],
            })
        })
        .collect();
    serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "reprove",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/reprove/reprove",
                "rules": RULES.iter().map(|(id, text)| serde_json::json!({ "id": id, "shortDescription": { "text": text } })).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

/// A file whose text changes.
struct Edit {
    src_index: usize,
    old: String,
    new: String,
    pinned: usize,
}

fn pin(
    dir: &Path,
    paths: &[PathBuf],
    insecure: &[String],
    concurrency: usize,
    timeout: std::time::Duration,
    dry_run: bool,
) -> Result<Outcome> {
    let srcs = sources(dir, paths)?;
    // Read every file first; decide everything before writing anything.
    let mut texts: Vec<Option<String>> = Vec::with_capacity(srcs.len());
    let mut worst = 0u8;
    for s in &srcs {
        let meta = std::fs::symlink_metadata(&s.path)
            .with_context(|| format!("failed to read `{}`", s.display))?;
        if meta.file_type().is_symlink() {
            note(&format!(
                "{}: a symbolic link; not rewritten (pin the file it points to)",
                s.display
            ));
            texts.push(None);
            continue;
        }
        if meta.permissions().readonly() {
            note(&format!("{}: read-only; not rewritten", s.display));
            texts.push(None);
            continue;
        }
        let bytes =
            std::fs::read(&s.path).with_context(|| format!("failed to read `{}`", s.display))?;
        match String::from_utf8(bytes) {
            Ok(t) => texts.push(Some(t)),
            Err(_) => {
                note(&format!("{}: not UTF-8; not rewritten", s.display));
                worst = worst.max(1);
                texts.push(None);
            }
        }
    }
    let mut mentions_by_file: Vec<Vec<ImageMention>> = Vec::with_capacity(srcs.len());
    for (s, t) in srcs.iter().zip(&texts) {
        let kind = file_kind(&s.display).unwrap_or(reprove_oci::FileKind::Yaml);
        mentions_by_file.push(
            t.as_ref()
                .map(|t| scan(&s.display, kind, t.as_bytes()))
                .unwrap_or_default(),
        );
    }
    let client = client(insecure, timeout)?;
    let mut todo: Vec<ImageRef> = mentions_by_file
        .iter()
        .flatten()
        .filter_map(|m| {
            m.reference
                .as_ref()
                .ok()
                .filter(|r| !r.is_pinned())
                .cloned()
        })
        .collect();
    todo.sort();
    todo.dedup();
    let resolved = concurrently(&todo, concurrency, |r| resolve_tag(&client, r));
    let resolved: BTreeMap<ImageRef, Resolution> = todo
        .iter()
        .cloned()
        .zip(resolved)
        .map(|(r, d)| {
            let res = match d {
                Ok(Some(d)) => Resolution::Digest(d),
                Ok(None) => Resolution::Missing,
                Err(e) => Resolution::Unreachable(e.to_string()),
            };
            (r, res)
        })
        .collect();
    let mut edits = Vec::new();
    for (idx, (text, mentions)) in texts.iter().zip(&mentions_by_file).enumerate() {
        let Some(text) = text else { continue };
        let pinned = pin_text(text, mentions, &resolved);
        for n in &pinned.notes {
            note(&n.to_string());
            worst = worst.max(n.severity());
        }
        if pinned.count > 0 {
            edits.push(Edit {
                src_index: idx,
                old: text.clone(),
                new: pinned.text,
                pinned: pinned.count,
            });
        }
    }
    let pinned: usize = edits.iter().map(|e| e.pinned).sum();
    for e in &edits {
        let src = &srcs[e.src_index];
        if dry_run {
            stdout(unified_diff(&src.display, &e.old, &e.new).as_bytes())?;
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&src.path)?.permissions().mode() & 0o7777;
            crate::output::write_file_mode(&src.path, e.new.as_bytes(), true, mode)?;
        }
    }
    note(&format!(
        "{} {pinned} reference{} in {} file{}",
        if dry_run { "would pin" } else { "pinned" },
        if pinned == 1 { "" } else { "s" },
        edits.len(),
        if edits.len() == 1 { "" } else { "s" }
    ));
    Ok(Outcome::from_severity(worst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sarif_locations_are_uri_references() {
        assert_eq!(uri_path("deploy/Dockerfile"), "deploy/Dockerfile");
        assert_eq!(uri_path("x[1]/a b%\\"), "x%5B1%5D/a%20b%25%5C");
    }
}
