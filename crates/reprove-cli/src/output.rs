//! Writing results: stdout, or a file written atomically (temp file + rename) that is never
//! overwritten without `--force`.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// Writes `bytes` to `path` atomically. Without `force` an existing file is left untouched and
/// the call fails.
pub fn write_file(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    write_file_mode(path, bytes, force, 0o644)
}

/// Like [`write_file`], with the file mode set before the content is written (a private key is
/// never readable by others, not even for a moment).
pub fn write_file_mode(path: &Path, bytes: &[u8], force: bool, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if !force && path.exists() {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".reprove-")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set the mode of `{}`", path.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    if force {
        tmp.persist(path).map_err(|e| e.error).with_context(|| {
            format!(
                "failed to move the output into place at `{}`",
                path.display()
            )
        })?;
    } else {
        // No-clobber rename: a file that appeared meanwhile is still not overwritten.
        tmp.persist_noclobber(path)
            .map_err(|e| e.error)
            .with_context(|| {
                format!(
                    "failed to move the output into place at `{}` (does it exist now?)",
                    path.display()
                )
            })?;
    }
    Ok(())
}

/// Writes `bytes` (JSON, XML, a file's content) to stdout as they are.
pub fn stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("failed to write to stdout")
}

/// Text for people on stdout. Every value from outside was escaped where it was put in
/// ([`reprove_escape::terminal`]); this second pass makes sure no control character of any
/// origin reaches the terminal.
pub fn stdout_text(text: &str) -> Result<()> {
    stdout(reprove_escape::terminal_block_styled(text, color()).as_bytes())
}

/// Whether stdout takes colour: a terminal, `NO_COLOR` unset (<https://no-color.org>), and a
/// `TERM` other than `dumb`. Piped output never carries an escape sequence.
pub fn color() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// How much reprove says on stderr besides errors (`-q`, `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Errors and warnings only.
    Quiet,
    /// Progress on a terminal, notes.
    Normal,
    /// Progress even when stderr is not a terminal.
    Verbose,
}

static VERBOSITY: std::sync::OnceLock<Verbosity> = std::sync::OnceLock::new();

/// Set once, from the command line.
pub fn set_verbosity(v: Verbosity) {
    let _ = VERBOSITY.set(v);
}

fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or(Verbosity::Normal)
}

/// Whether progress lines are shown: on a terminal (or with `REPROVE_PROGRESS` set), always
/// with `-v`, never with `-q`.
pub fn show_progress() -> bool {
    use std::io::IsTerminal as _;
    match verbosity() {
        Verbosity::Quiet => false,
        Verbosity::Verbose => true,
        Verbosity::Normal => {
            std::io::stderr().is_terminal() || std::env::var_os("REPROVE_PROGRESS").is_some()
        }
    }
}

/// A diagnostic line on stderr (escaped as [`stdout_text`]); not shown with `-q`.
pub fn note(message: &str) {
    if verbosity() == Verbosity::Quiet {
        return;
    }
    warn(message);
}

/// A line on stderr that `-q` does not hide: what a user must know (an unencrypted key, a
/// statement read without its signature checked).
pub fn warn(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", reprove_escape::terminal_block(message));
}

/// Sends data either to a file (`-o`) or to stdout.
pub fn emit(output: Option<&Path>, bytes: &[u8], force: bool, what: &str) -> Result<()> {
    match output {
        Some(p) => {
            write_file(p, bytes, force)?;
            note(&format!("wrote {what} to `{}`", p.display()));
            Ok(())
        }
        None => stdout(bytes),
    }
}

/// The JSON documents reprove prints (`--format json`), each described by a JSON Schema
/// (2020-12) in `schemas/<name>.json` that the test suite validates every output against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonDoc {
    Soup,
    Rebuild,
    Verify,
    Status,
    Diff,
    ImagesCheck,
    VerifyBundle,
}

impl JsonDoc {
    #[cfg(test)]
    pub const ALL: [JsonDoc; 7] = [
        JsonDoc::Soup,
        JsonDoc::Rebuild,
        JsonDoc::Verify,
        JsonDoc::Status,
        JsonDoc::Diff,
        JsonDoc::ImagesCheck,
        JsonDoc::VerifyBundle,
    ];

    /// The schema's file name in `schemas/`, without `.json`.
    #[cfg(test)]
    pub fn name(self) -> &'static str {
        match self {
            JsonDoc::Soup => "soup",
            JsonDoc::Rebuild => "rebuild-report",
            JsonDoc::Verify => "verify",
            JsonDoc::Status => "status",
            JsonDoc::Diff => "diff",
            JsonDoc::ImagesCheck => "images-check",
            JsonDoc::VerifyBundle => "verify-bundle",
        }
    }
}

/// The version of every JSON document's shape: the major part changes when a member is
/// removed or changes meaning, the minor part when one is added.
pub const SCHEMA_VERSION: &str = "1.0";

/// A JSON document as printed: `value` (an object) with its `schemaVersion`, pretty, with a
/// final newline.
pub fn json_doc(_doc: JsonDoc, value: impl serde::Serialize) -> Result<Vec<u8>> {
    let mut v = serde_json::to_value(value).context("failed to render the JSON output")?;
    if let serde_json::Value::Object(m) = &mut v {
        m.insert(
            "schemaVersion".into(),
            serde_json::Value::String(SCHEMA_VERSION.into()),
        );
    }
    let mut b = serde_json::to_vec_pretty(&v).context("failed to render the JSON output")?;
    b.push(b'\n');
    Ok(b)
}

/// The last `lines` lines of a job's log (from its last 64 KiB), each escaped for the
/// terminal, under a line naming the log: what a user reads first when a build failed.
pub fn log_tail(path: &Path, lines: usize) -> Option<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    const TAIL: u64 = 64 << 10;
    let (mut f, meta) = reprove_digest::open_regular(path).ok()?;
    let start = meta.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    f.take(TAIL).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    // A partial first line (cut by the 64 KiB window) is not shown.
    let skip = usize::from(start > 0);
    let shown: Vec<&str> = all[skip.min(all.len())..]
        .iter()
        .rev()
        .take(lines)
        .rev()
        .copied()
        .collect();
    if shown.is_empty() {
        return Some(format!("the log `{}` is empty", path.display()));
    }
    let mut out = format!("last {} line(s) of `{}`:\n", shown.len(), path.display());
    for l in shown {
        out.push_str("  | ");
        out.push_str(&reprove_escape::terminal(l));
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    /// Every JSON document reprove prints has its schema checked in, with the version it
    /// prints.
    #[test]
    fn every_json_document_has_its_schema() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        for doc in super::JsonDoc::ALL {
            let path = dir.join(format!("{}.json", doc.name()));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{path:?}"
            );
            assert_eq!(
                schema["$id"],
                format!("https://reprove.dev/schemas/{}.json", doc.name())
            );
            assert!(
                schema["required"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!("schemaVersion")),
                "{path:?}"
            );
            let printed = super::json_doc(doc, serde_json::json!({})).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&printed).unwrap();
            assert_eq!(v["schemaVersion"], super::SCHEMA_VERSION);
        }
    }

    use super::*;

    #[test]
    fn refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_file(&p, b"one", false).unwrap();
        let err = write_file(&p, b"two", false).unwrap_err();
        assert!(err.to_string().contains("--force"));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_file(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
