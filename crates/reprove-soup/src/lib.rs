//! Software of unknown provenance (IEC 62304 §3.29, §8.1.2): every third-party component a
//! release is built from, with the title, manufacturer and unique designator the standard asks
//! for.
//!
//! Parsers turn lockfiles into [`SoupItem`]s; problems that leave the rest trustworthy
//! (a range instead of a version, a missing checksum, an unparsable file) become
//! [`SoupFinding`]s with stable codes rather than errors. The human-maintained fields
//! (supplier, purpose, safety class, end of support, anomaly review) come from an overrides
//! file keyed by name, so they carry over from one release to the next.

mod cargo;
mod golang;
mod item;
mod npm;
mod overrides;
mod python;
mod render;
mod vendor;

pub use item::{Checksum, Ecosystem, Scope, SoupFinding, SoupFindingCode, SoupItem};
pub use overrides::{Override, Overrides};
pub use render::{BomMetadata, CycloneDxVersion, to_csv, to_cyclonedx, to_markdown, to_spdx};
pub use vendor::{in_vendored, parse_vendored, vendor_directories, vendored_roots};

/// Errors that make the SOUP register untrustworthy as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SoupError {
    #[error("failed to parse the SOUP overrides file `{path}`: {message}")]
    Overrides { path: String, message: String },
}

/// A file the SOUP scan understands, recognised by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockfileKind {
    CargoLock,
    PackageLock,
    Requirements,
    PoetryLock,
    UvLock,
    GoSum,
    /// `go.mod`: read alongside `go.sum` to tell direct from indirect requirements.
    GoMod,
    /// A lockfile reprove knows but cannot read yet; reported, never silently skipped.
    Unsupported(&'static str),
}

/// Recognises lockfiles by file name.
pub fn lockfile_kind(path: &str) -> Option<LockfileKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    Some(match name {
        "Cargo.lock" => LockfileKind::CargoLock,
        "package-lock.json" | "npm-shrinkwrap.json" => LockfileKind::PackageLock,
        "poetry.lock" => LockfileKind::PoetryLock,
        "uv.lock" => LockfileKind::UvLock,
        "go.sum" => LockfileKind::GoSum,
        "go.mod" => LockfileKind::GoMod,
        "yarn.lock" => LockfileKind::Unsupported("yarn"),
        "pnpm-lock.yaml" => LockfileKind::Unsupported("pnpm"),
        "Pipfile.lock" => LockfileKind::Unsupported("pipenv"),
        "Gemfile.lock" => LockfileKind::Unsupported("bundler"),
        "composer.lock" => LockfileKind::Unsupported("composer"),
        "packages.lock.json" => LockfileKind::Unsupported("nuget"),
        "gradle.lockfile" => LockfileKind::Unsupported("gradle"),
        n if n.starts_with("requirements") && n.ends_with(".txt") => LockfileKind::Requirements,
        _ => return None,
    })
}

/// What parsing one lockfile produced.
#[derive(Debug, Default)]
pub struct Parsed {
    pub items: Vec<SoupItem>,
    pub findings: Vec<SoupFinding>,
}

/// Parses one lockfile. `sibling` supplies the content of a file next to it (used to read
/// `go.mod` beside `go.sum`). Never fails: unreadable input becomes a finding.
pub fn parse_lockfile(
    path: &str,
    kind: LockfileKind,
    content: &[u8],
    sibling: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Parsed {
    let text = match std::str::from_utf8(content) {
        Ok(t) => t,
        Err(e) => {
            return Parsed {
                items: Vec::new(),
                findings: vec![SoupFinding::unparsable(
                    path,
                    line_of_offset(content, e.valid_up_to()),
                    "not valid UTF-8",
                )],
            };
        }
    };
    let mut parsed = match kind {
        LockfileKind::CargoLock => cargo::parse(path, text),
        LockfileKind::PackageLock => npm::parse(path, text),
        LockfileKind::Requirements => python::parse_requirements(path, text),
        LockfileKind::PoetryLock => python::parse_poetry(path, text),
        LockfileKind::UvLock => python::parse_uv(path, text),
        LockfileKind::GoSum => {
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            let go_mod_path = if dir.is_empty() {
                "go.mod".to_owned()
            } else {
                format!("{dir}/go.mod")
            };
            let go_mod = sibling(&go_mod_path).map(|b| String::from_utf8_lossy(&b).into_owned());
            golang::parse(path, text, go_mod.as_deref())
        }
        LockfileKind::GoMod => Parsed::default(),
        LockfileKind::Unsupported(tool) => Parsed {
            items: Vec::new(),
            findings: vec![SoupFinding {
                code: SoupFindingCode::UnsupportedLockfile,
                file: path.to_owned(),
                line: None,
                item: None,
                message: format!(
                    "{tool} lockfiles are not read yet; list these components in the overrides file"
                ),
            }],
        },
    };
    for item in &mut parsed.items {
        item.manifest = path.to_owned();
    }
    parsed
}

pub(crate) fn line_of_offset(content: &[u8], offset: usize) -> Option<usize> {
    Some(
        content[..offset.min(content.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
    )
}

/// Line number of a TOML parse error, from its byte span.
pub(crate) fn toml_error_line(text: &str, err: &toml::de::Error) -> Option<usize> {
    err.span()
        .and_then(|s| line_of_offset(text.as_bytes(), s.start))
}

/// The first line of a TOML error message, without the source excerpt toml appends.
pub(crate) fn toml_message(err: &toml::de::Error) -> String {
    err.message()
        .lines()
        .next()
        .unwrap_or("invalid TOML")
        .to_owned()
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn lockfile_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400),
                                         text in "(\\[\\[package\\]\\]\n|name = \"x\"\n|version = \"1\"\n|\\{|\\}|\"packages\":|==| \\\\\n|--hash=sha256:|h1:|/go.mod|\\PC){0,40}") {
            let kinds = [
                LockfileKind::CargoLock, LockfileKind::PackageLock, LockfileKind::Requirements,
                LockfileKind::PoetryLock, LockfileKind::UvLock, LockfileKind::GoSum,
            ];
            for kind in kinds {
                let _ = parse_lockfile("f", kind, &data, &|_| None);
                let _ = parse_lockfile("f", kind, text.as_bytes(), &|_| Some(text.as_bytes().to_vec()));
            }
            let _ = Overrides::parse("soup.toml", &text);
        }
    }
}
