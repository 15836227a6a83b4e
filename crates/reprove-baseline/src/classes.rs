//! Configuration item classes. User globs from `[classes]` are checked first, then the
//! defaults, each list in the order below; the first match wins. A pattern without `/` matches
//! at any depth (as in `.gitignore`); `*` never crosses a `/`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config::Classes;

/// The class of a configuration item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemClass {
    SoupManifest,
    Build,
    Test,
    Docs,
    Config,
    Source,
    Other,
}

impl ItemClass {
    pub const ALL: [ItemClass; 7] = [
        ItemClass::SoupManifest,
        ItemClass::Build,
        ItemClass::Test,
        ItemClass::Docs,
        ItemClass::Config,
        ItemClass::Source,
        ItemClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemClass::SoupManifest => "soup-manifest",
            ItemClass::Build => "build",
            ItemClass::Test => "test",
            ItemClass::Docs => "docs",
            ItemClass::Config => "config",
            ItemClass::Source => "source",
            ItemClass::Other => "other",
        }
    }
}

const SOUP_MANIFEST: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "requirements*.txt",
    "requirements*.in",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile",
    "Pipfile.lock",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
    "composer.json",
    "composer.lock",
    "soup.toml",
    "vcpkg.json",
    "conanfile.*",
];
const BUILD: &[&str] = &[
    "Makefile",
    "GNUmakefile",
    "*.mk",
    "CMakeLists.txt",
    "*.cmake",
    "meson.build",
    "configure",
    "configure.ac",
    "Makefile.am",
    // Templates configure fills in, and the linker's version scripts (zlib's `zlib.map`).
    "Makefile.in",
    "*.pc.in",
    "*.cmake.in",
    "*.map",
    "build.rs",
    "Dockerfile",
    "Dockerfile.*",
    "*.Dockerfile",
    "Containerfile",
    "*.containerfile",
    "reprove.toml",
    ".github/workflows/**",
    ".gitlab-ci.yml",
    "Jenkinsfile",
    "justfile",
    "build.gradle*",
    "pom.xml",
    ".cargo/config*",
    "rust-toolchain*",
    "docker-compose*.yml",
    "compose*.yml",
    "compose*.yaml",
];
const TEST: &[&str] = &[
    "tests/**",
    "test/**",
    "spec/**",
    "testdata/**",
    "*_test.*",
    "test_*.py",
    "*.test.*",
    "*.spec.*",
    "**/tests/**",
    "**/test/**",
    // Test inputs named so, wherever they sit (zlib's `contrib/…/test.txt`).
    "test*.txt",
];
const DOCS: &[&str] = &[
    "docs/**",
    "doc/**",
    "*.md",
    "*.rst",
    "*.adoc",
    "LICENSE*",
    "COPYING*",
    "NOTICE*",
    "CHANGELOG*",
    "ChangeLog*",
    "NEWS*",
    "HISTORY*",
    "AUTHORS*",
    "README*",
    "FAQ*",
    "INSTALL*",
    // Man pages (`zlib.3`, `tool.1`).
    "*.[1-9]",
    // Text at the root only: elsewhere a `.txt` is as likely data or a test input.
    "/*.txt",
];
const CONFIG: &[&str] = &[
    ".gitignore",
    ".gitattributes",
    ".gitmodules",
    ".editorconfig",
    ".dockerignore",
    "*.toml",
    "*.yml",
    "*.yaml",
    "*.ini",
    "*.cfg",
    "*.conf",
    "*.json",
    ".*rc",
    ".env*",
];
const SOURCE: &[&str] = &[
    // A header configure fills in (`zconf.h.in`) is source.
    "*.h.in", "*.rs", "*.c", "*.h", "*.cc", "*.cpp", "*.cxx", "*.hpp", "*.hh", "*.go", "*.py",
    "*.js", "*.mjs", "*.cjs", "*.ts", "*.tsx", "*.jsx", "*.java", "*.kt", "*.swift", "*.rb",
    "*.php", "*.cs", "*.fs", "*.m", "*.mm", "*.s", "*.S", "*.asm", "*.sh", "*.bash", "*.ps1",
    "*.sql", "*.proto", "*.vhd", "*.v", "*.sv", "*.scala", "*.hs", "*.ml", "*.ex", "*.exs",
    "*.erl", "*.lua", "*.pl", "*.r", "*.R", "*.dart", "*.zig", "*.html", "*.css", "*.scss",
    "*.vue",
];

/// An invalid glob in `[classes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadGlob {
    pub class: &'static str,
    pub pattern: String,
    pub message: String,
}

/// Compiled classification rules.
#[derive(Debug)]
pub struct Classifier {
    rules: Vec<(ItemClass, GlobSet)>,
}

/// Globs of paths from the repository root (`Cargo.lock` is the root one only; `**/` says any
/// depth), for a setting other than a class; `what` names the setting in errors
/// (`[soup] exclude`).
pub fn glob_set(what: &'static str, patterns: &[String]) -> Result<GlobSet, BadGlob> {
    set_named(what, patterns, false)
}

fn set(class: ItemClass, patterns: &[String]) -> Result<GlobSet, BadGlob> {
    set_named(class.as_str(), patterns, true)
}

/// `anywhere`: a pattern without `/` also matches at any depth (the `[classes]` rule).
fn set_named(class: &'static str, patterns: &[String], anywhere: bool) -> Result<GlobSet, BadGlob> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let bad = |e: globset::Error| BadGlob {
            class,
            pattern: p.clone(),
            message: e.kind().to_string(),
        };
        let anchored = p.trim_start_matches('/');
        let variants = if p.contains('/') || !anywhere {
            vec![anchored.to_owned()]
        } else {
            vec![anchored.to_owned(), format!("**/{anchored}")]
        };
        for v in variants {
            b.add(
                GlobBuilder::new(&v)
                    .literal_separator(true)
                    .build()
                    .map_err(bad)?,
            );
        }
    }
    b.build().map_err(|e| BadGlob {
        class,
        pattern: patterns.join(", "),
        message: e.kind().to_string(),
    })
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Classifier {
    pub fn new(user: &Classes) -> Result<Self, BadGlob> {
        let user_lists = [
            (ItemClass::SoupManifest, &user.soup_manifest),
            (ItemClass::Build, &user.build),
            (ItemClass::Test, &user.test),
            (ItemClass::Docs, &user.docs),
            (ItemClass::Config, &user.config),
            (ItemClass::Source, &user.source),
            (ItemClass::Other, &user.other),
        ];
        let mut rules = Vec::new();
        for (class, patterns) in user_lists {
            if !patterns.is_empty() {
                rules.push((class, set(class, patterns)?));
            }
        }
        for (class, patterns) in [
            (ItemClass::SoupManifest, SOUP_MANIFEST),
            (ItemClass::Build, BUILD),
            (ItemClass::Test, TEST),
            (ItemClass::Docs, DOCS),
            (ItemClass::Config, CONFIG),
            (ItemClass::Source, SOURCE),
        ] {
            rules.push((class, set(class, &owned(patterns))?));
        }
        Ok(Classifier { rules })
    }

    /// The class of a path given as raw bytes.
    pub fn classify(&self, path: &[u8]) -> ItemClass {
        let p = Path::new(OsStr::from_bytes(path));
        self.rules
            .iter()
            .find(|(_, s)| s.is_match(p))
            .map_or(ItemClass::Other, |(c, _)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Classifier::new(&Classes::default()).unwrap();
        let cases = [
            ("src/main.rs", ItemClass::Source),
            ("Cargo.lock", ItemClass::SoupManifest),
            ("sub/package-lock.json", ItemClass::SoupManifest),
            ("requirements-dev.txt", ItemClass::SoupManifest),
            ("Makefile", ItemClass::Build),
            (".github/workflows/ci.yml", ItemClass::Build),
            ("tests/it.rs", ItemClass::Test),
            ("crates/x/tests/it.rs", ItemClass::Test),
            ("README.md", ItemClass::Docs),
            ("docs/a/b.png", ItemClass::Docs),
            (".gitignore", ItemClass::Config),
            ("assets/logo.png", ItemClass::Other),
            // What a C library such as zlib holds.
            ("Makefile.in", ItemClass::Build),
            ("zlib.pc.in", ItemClass::Build),
            ("zlib.map", ItemClass::Build),
            ("zconf.h.in", ItemClass::Source),
            ("ChangeLog", ItemClass::Docs),
            ("README", ItemClass::Docs),
            ("FAQ", ItemClass::Docs),
            ("zlib.3", ItemClass::Docs),
            ("doc/tool.1", ItemClass::Docs),
            ("notes.txt", ItemClass::Docs),
            ("contrib/minizip/test.txt", ItemClass::Test),
            ("contrib/data/words.txt", ItemClass::Other),
        ];
        for (p, want) in cases {
            assert_eq!(c.classify(p.as_bytes()), want, "{p}");
        }
    }

    #[test]
    fn user_globs_win_and_bad_globs_are_reported() {
        let user = Classes {
            test: vec!["qa/**".into()],
            docs: vec!["src/manual.rs".into()],
            ..Classes::default()
        };
        let c = Classifier::new(&user).unwrap();
        assert_eq!(c.classify(b"qa/x.rs"), ItemClass::Test);
        assert_eq!(c.classify(b"src/manual.rs"), ItemClass::Docs);
        let bad = Classifier::new(&Classes {
            docs: vec!["docs/[".into()],
            ..Classes::default()
        })
        .unwrap_err();
        assert_eq!(bad.class, "docs");
    }

    #[test]
    fn non_utf8_paths_classify() {
        let c = Classifier::new(&Classes::default()).unwrap();
        assert_eq!(c.classify(b"src/caf\xe9.c"), ItemClass::Source);
    }
}
