//! What kind of project a repository is (Cargo, npm, Python, autotools or make), read from its
//! tracked files, and the recipe that fits it: name, build command, artifacts where that build
//! puts them, a fetch phase for its dependencies, and classes for the files it has.
//! Pure: the caller hands in the tracked paths and a reader of their contents.

/// A project kind `reprove init` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cargo,
    Npm,
    Python,
    Autotools,
    Make,
    Unknown,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Cargo => "a Cargo project",
            Kind::Npm => "an npm project",
            Kind::Python => "a Python project",
            Kind::Autotools => "an autotools project",
            Kind::Make => "a make project",
            Kind::Unknown => "no project kind reprove recognises",
        }
    }
}

/// `[build.fetch]` for the project's dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub command: String,
    pub store: &'static str,
    pub allow: &'static [&'static str],
    /// Why the store cannot be checked against a lockfile, when it cannot (it must then be
    /// declared `fixed`).
    pub unchecked: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub kind: Kind,
    pub name: Option<String>,
    pub command: String,
    pub artifacts: Vec<String>,
    pub env: Vec<(&'static str, String)>,
    pub fetch: Option<Fetch>,
    /// `[classes]` suggestions: class → globs, for files the project has.
    pub classes: Vec<(&'static str, Vec<String>)>,
}

fn toml_of(read: &dyn Fn(&str) -> Option<String>, path: &str) -> Option<toml::Table> {
    read(path)?.parse().ok()
}

fn str_at<'a>(t: &'a toml::Table, table: &str, key: &str) -> Option<&'a str> {
    t.get(table)?.get(key)?.as_str()
}

/// A name fit to stand in a path and a shell command line.
fn plain(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '/'))
        && !name.starts_with(['-', '.', '/']);
    ok.then(|| name.to_owned())
}

/// The binaries of one package: its `[[bin]]` names, else its own name when it has
/// `src/main.rs`. `dir` is the package's folder (`""` at the root).
fn cargo_package(
    paths: &[String],
    read: &dyn Fn(&str) -> Option<String>,
    dir: &str,
) -> Option<(Option<String>, Vec<String>)> {
    let at = |rel: &str| {
        if dir.is_empty() {
            rel.to_owned()
        } else {
            format!("{dir}/{rel}")
        }
    };
    let manifest = toml_of(read, &at("Cargo.toml"))?;
    let package = str_at(&manifest, "package", "name").and_then(plain);
    let mut bins: Vec<String> = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("name")?.as_str().and_then(plain))
        .collect();
    if bins.is_empty()
        && let Some(p) = &package
        && paths.iter().any(|f| *f == at("src/main.rs"))
    {
        bins.push(p.clone());
    }
    Some((package, bins))
}

fn cargo(paths: &[String], read: &dyn Fn(&str) -> Option<String>) -> Detected {
    let (mut package, mut bins) = cargo_package(paths, read, "").unwrap_or_default();
    // A workspace: its members' binaries (plain member paths; globs are left to the user).
    let members: Vec<String> = toml_of(read, "Cargo.toml")
        .and_then(|m| m.get("workspace")?.get("members")?.as_array().cloned())
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m.as_str()
                .filter(|m| !m.contains(['*', '?', '[']))
                .and_then(plain)
        })
        .collect();
    for m in members {
        if let Some((_, member_bins)) = cargo_package(paths, read, &m) {
            bins.extend(member_bins);
        }
    }
    bins.sort();
    bins.dedup();
    // A workspace without a root package that builds one binary is named after it.
    if package.is_none() && bins.len() == 1 {
        package = bins.first().cloned();
    }
    let artifacts = if bins.is_empty() {
        // A library: name what its release ships.
        vec!["target/release/<binary>".to_owned()]
    } else {
        bins.iter().map(|b| format!("target/release/{b}")).collect()
    };
    let locked = paths.iter().any(|p| p == "Cargo.lock");
    Detected {
        kind: Kind::Cargo,
        name: package,
        command: "cargo build --release --locked --offline".into(),
        artifacts,
        env: Vec::new(),
        fetch: Some(Fetch {
            command: if locked {
                "cargo fetch --locked".into()
            } else {
                "cargo fetch".into()
            },
            // reprove builds with HOME=/tmp: cargo's registry is where an ordinary build has it.
            store: "/tmp/.cargo/registry",
            allow: &["index.crates.io", "static.crates.io"],
            unchecked: (!locked)
                .then_some("no Cargo.lock is committed: commit one so the store can be checked"),
        }),
        classes: Vec::new(),
    }
}

fn npm(paths: &[String], read: &dyn Fn(&str) -> Option<String>) -> Detected {
    let locked = paths.iter().any(|p| p == "package-lock.json");
    let name = read("package.json")
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("name")?.as_str().and_then(plain));
    Detected {
        kind: Kind::Npm,
        name,
        // npm's cache is ~/.npm, and reprove builds with HOME=/tmp.
        command: "npm ci --offline --ignore-scripts && npm pack".into(),
        artifacts: vec!["*.tgz".into()],
        env: Vec::new(),
        fetch: Some(Fetch {
            command: "npm ci --ignore-scripts".into(),
            store: "/tmp/.npm",
            allow: &["registry.npmjs.org"],
            unchecked: (!locked).then_some(
                "no package-lock.json is committed: commit one (npm install --package-lock-only) so the cache can be checked",
            ),
        }),
        classes: Vec::new(),
    }
}

fn python(paths: &[String], read: &dyn Fn(&str) -> Option<String>) -> Detected {
    let name = toml_of(read, "pyproject.toml")
        .and_then(|t| {
            str_at(&t, "project", "name")
                .or_else(|| t.get("tool")?.get("poetry")?.get("name")?.as_str())
                .and_then(plain)
        })
        .or_else(|| {
            // setup.cfg's `[metadata] name = …`.
            read("setup.cfg")?.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "name").then(|| plain(v.trim())).flatten()
            })
        });
    let hashed = paths.iter().any(|p| p == "requirements.txt")
        && read("requirements.txt").is_some_and(|t| t.contains("--hash="));
    let fetch = if hashed {
        Fetch {
            command: "pip download --no-deps --require-hashes -r requirements.txt -d /tmp/wheels"
                .into(),
            store: "/tmp/wheels",
            allow: &["pypi.org", "files.pythonhosted.org"],
            unchecked: None,
        }
    } else {
        Fetch {
            command: "pip download --no-deps -r requirements.txt -d /tmp/wheels".into(),
            store: "/tmp/wheels",
            allow: &["pypi.org", "files.pythonhosted.org"],
            unchecked: Some(
                "no requirements.txt with --hash: lock it (pip-compile --generate-hashes, or uv export --format requirements-txt) so the wheelhouse can be checked",
            ),
        }
    };
    Detected {
        kind: Kind::Python,
        name,
        command:
            "pip wheel --no-deps --no-build-isolation --no-index --find-links /tmp/wheels -w dist ."
                .into(),
        artifacts: vec!["dist/*.whl".into()],
        env: Vec::new(),
        fetch: Some(fetch),
        classes: Vec::new(),
    }
}

/// autotools' and C projects' own files, by class, when the project has them.
fn c_classes(paths: &[String]) -> Vec<(&'static str, Vec<String>)> {
    let has = |glob: &str| -> bool {
        let name_match = |p: &str| {
            let name = p.rsplit('/').next().unwrap_or(p);
            match glob.strip_prefix('*') {
                Some(suffix) => name.ends_with(suffix),
                None => name == glob,
            }
        };
        paths.iter().any(|p| name_match(p))
    };
    let build: Vec<String> = [
        "Makefile.in",
        "*.h.in",
        "*.pc.in",
        "*.m4",
        "*.cmake.in",
        "config.guess",
        "config.sub",
        "install-sh",
        "ltmain.sh",
    ]
    .into_iter()
    .filter(|g| has(g))
    .map(str::to_owned)
    .collect();
    let mut docs: Vec<String> = ["ChangeLog", "NEWS", "README", "INSTALL", "FAQ"]
        .into_iter()
        .filter(|g| has(g))
        .map(str::to_owned)
        .collect();
    // Man pages: `*.1` … `*.9`.
    if paths.iter().any(|p| {
        let ext = p.rsplit_once('.').map(|(_, e)| e);
        matches!(ext, Some(e) if e.len() == 1 && e.as_bytes()[0].is_ascii_digit() && e != "0")
    }) {
        docs.push("*.[1-9]".into());
    }
    let mut out = Vec::new();
    if !build.is_empty() {
        out.push(("build", build));
    }
    if !docs.is_empty() {
        out.push(("docs", docs));
    }
    out
}

/// What the repository is, from its tracked `paths` (at the root first: a Cargo workspace
/// with a Makefile beside it is a Cargo project).
pub fn detect(paths: &[String], read: &dyn Fn(&str) -> Option<String>) -> Detected {
    let root = |name: &str| paths.iter().any(|p| p == name);
    let mut d = if root("Cargo.toml") {
        cargo(paths, read)
    } else if root("package.json") {
        npm(paths, read)
    } else if root("pyproject.toml") || root("setup.py") || root("requirements.txt") {
        python(paths, read)
    } else if root("configure.ac") || root("configure") {
        Detected {
            kind: Kind::Autotools,
            name: None,
            // A release tarball as `make dist` writes it; configure rewrites tracked files, so
            // the build runs as the image's user with a writable tree.
            command: match (root("configure.ac"), root("Makefile.am")) {
                (true, _) if !root("configure") => {
                    "autoreconf -fi && ./configure && make && make dist".into()
                }
                (_, true) => "./configure && make && make dist".into(),
                // A hand-written configure (zlib's): no automake `dist` target.
                _ => "./configure && make".into(),
            },
            artifacts: vec![if root("Makefile.am") || root("configure.ac") {
                "*.tar.gz".into()
            } else {
                "*.a".into()
            }],
            env: Vec::new(),
            fetch: None,
            classes: Vec::new(),
        }
    } else if root("Makefile") || root("GNUmakefile") {
        Detected {
            kind: Kind::Make,
            name: None,
            command: "make dist".into(),
            artifacts: vec!["dist/*".into()],
            env: Vec::new(),
            fetch: None,
            classes: Vec::new(),
        }
    } else {
        Detected {
            kind: Kind::Unknown,
            name: None,
            command: "./build.sh".into(),
            artifacts: vec!["dist/*".into()],
            env: Vec::new(),
            fetch: None,
            classes: Vec::new(),
        }
    };
    d.classes = c_classes(paths);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
        (
            list.iter().map(|(p, _)| (*p).to_owned()).collect(),
            list.iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect(),
        )
    }

    fn run(list: &[(&str, &str)]) -> Detected {
        let (paths, texts) = files(list);
        detect(&paths, &|p| texts.get(p).cloned())
    }

    #[test]
    fn a_cargo_binary_is_built_offline_with_its_registry_fetched() {
        let d = run(&[
            (
                "Cargo.toml",
                "[package]\nname = \"rg\"\nversion = \"1.0.0\"\n",
            ),
            ("Cargo.lock", ""),
            ("src/main.rs", ""),
            ("Makefile", ""),
        ]);
        assert_eq!(d.kind, Kind::Cargo);
        assert_eq!(d.name.as_deref(), Some("rg"));
        assert_eq!(d.artifacts, ["target/release/rg"]);
        let f = d.fetch.unwrap();
        assert_eq!(f.command, "cargo fetch --locked");
        assert_eq!(f.store, "/tmp/.cargo/registry");
        assert!(f.unchecked.is_none());
        // [[bin]] names win; a workspace without a root package names none.
        let d = run(&[(
            "Cargo.toml",
            "[package]\nname = \"x\"\n[[bin]]\nname = \"tool\"\npath = \"src/tool.rs\"\n",
        )]);
        assert_eq!(d.artifacts, ["target/release/tool"]);
        assert!(d.fetch.unwrap().unchecked.is_some(), "no Cargo.lock");
        let d = run(&[("Cargo.toml", "[workspace]\nmembers = [\"a\"]\n")]);
        assert_eq!(d.name, None);
        assert_eq!(d.artifacts, ["target/release/<binary>"]);
        // A workspace's binaries are its members'.
        let d = run(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"app\", \"util\", \"crates/*\"]\n",
            ),
            ("app/Cargo.toml", "[package]\nname = \"app\"\n"),
            ("app/src/main.rs", ""),
            ("util/Cargo.toml", "[package]\nname = \"util\"\n"),
            ("util/src/lib.rs", ""),
        ]);
        assert_eq!(d.name.as_deref(), Some("app"));
        assert_eq!(d.artifacts, ["target/release/app"]);
    }

    #[test]
    fn npm_and_python_projects_are_named_from_their_manifests() {
        let d = run(&[(
            "package.json",
            "{\"name\": \"@acme/web\", \"version\": \"1.0.0\"}",
        )]);
        assert_eq!(d.kind, Kind::Npm);
        assert_eq!(d.name.as_deref(), Some("@acme/web"));
        assert!(d.fetch.unwrap().unchecked.is_some(), "no package-lock.json");
        let d = run(&[("package.json", "{}"), ("package-lock.json", "{}")]);
        let f = d.fetch.unwrap();
        assert_eq!((f.store, f.unchecked), ("/tmp/.npm", None));
        let d = run(&[
            ("pyproject.toml", "[project]\nname = \"acme-tool\"\n"),
            ("requirements.txt", "six==1.16.0 --hash=sha256:ab\n"),
        ]);
        assert_eq!(d.kind, Kind::Python);
        assert_eq!(d.name.as_deref(), Some("acme-tool"));
        let f = d.fetch.unwrap();
        assert!(f.command.contains("--require-hashes"));
        assert_eq!(f.unchecked, None);
        // A name that could break out of a command line or a path is not taken.
        let d = run(&[("package.json", "{\"name\": \"x; rm -rf /\"}")]);
        assert_eq!(d.name, None);
    }

    #[test]
    fn autotools_projects_get_classes_for_their_files() {
        let d = run(&[
            ("configure.ac", ""),
            ("Makefile.in", ""),
            ("zconf.h.in", ""),
            ("zlib.pc.in", ""),
            ("ChangeLog", ""),
            ("zlib.3", ""),
            ("m4/libtool.m4", ""),
        ]);
        assert_eq!(d.kind, Kind::Autotools);
        assert_eq!(
            d.command,
            "autoreconf -fi && ./configure && make && make dist"
        );
        // zlib: a hand-written configure, no automake.
        let z = run(&[("configure", ""), ("Makefile.in", "")]);
        assert_eq!(
            (z.command.as_str(), z.artifacts[0].as_str()),
            ("./configure && make", "*.a")
        );
        assert_eq!(
            d.classes,
            [
                (
                    "build",
                    vec![
                        "Makefile.in".to_owned(),
                        "*.h.in".into(),
                        "*.pc.in".into(),
                        "*.m4".into()
                    ]
                ),
                ("docs", vec!["ChangeLog".to_owned(), "*.[1-9]".into()]),
            ]
        );
        assert_eq!(run(&[("README.md", "")]).kind, Kind::Unknown);
    }
}
