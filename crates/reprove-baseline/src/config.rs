//! `reprove.toml`, read from the tag's tree (it is itself a configuration item).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file. Unknown keys are errors: a misspelt policy switch must never be ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub project: Project,
    /// The rebuild recipe; read by the rebuild, recorded here as configuration.
    #[serde(default)]
    pub build: Option<toml::Table>,
    #[serde(default)]
    pub changes: Changes,
    #[serde(default)]
    pub classes: Classes,
    #[serde(default)]
    pub soup: Soup,
    /// The line of each key of the `[build]` table, for findings that point at one.
    #[serde(skip)]
    pub build_lines: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub name: Option<String>,
    /// The manufacturer of the released software.
    pub supplier: Option<String>,
    /// The canonical source repository (`https://github.com/org/repo`). Recorded in the
    /// baseline and the provenance so an auditor can require it (`verify --source-uri`); a
    /// clone's own remote says nothing about which product it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

fn default_trailers() -> Vec<String> {
    vec!["Reviewed-by".into(), "Approved-by".into()]
}

fn default_change_request_trailers() -> Vec<String> {
    ["Change-Id", "Refs", "Fixes", "Closes", "Issue"]
        .map(String::from)
        .to_vec()
}

fn yes() -> bool {
    true
}

/// The change-authorization policy (IEC 62304 §8.2.1, §8.2.4).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Changes {
    /// Fail (exit 1) when a commit in the trace is not authorized.
    #[serde(default)]
    pub require_authorization: bool,
    /// Trailers whose presence authorizes a commit.
    #[serde(default = "default_trailers")]
    pub trailers: Vec<String>,
    /// Trailers that name a change request, recorded with each commit.
    #[serde(default = "default_change_request_trailers")]
    pub change_request_trailers: Vec<String>,
    /// A good signature on a commit counts as authorization.
    #[serde(default)]
    pub accept_signed_commits: bool,
    /// An authorized merge authorizes the commits it brings in (a reviewed change request).
    #[serde(default = "yes")]
    pub authorized_merges_cover_their_commits: bool,
    /// Which tags can be the previous release (a glob, e.g. `v[0-9]*.[0-9]*.[0-9]` leaves out
    /// a repackaging `v1.3.1-r1`); the latest of them by version order before the release is
    /// the change trace's base. Default: every version tag with the release's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            require_authorization: false,
            trailers: default_trailers(),
            change_request_trailers: default_change_request_trailers(),
            accept_signed_commits: false,
            authorized_merges_cover_their_commits: true,
            previous: None,
        }
    }
}

/// Configuration item classes by glob; checked before the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Classes {
    #[serde(default)]
    pub source: Vec<String>,
    #[serde(default)]
    pub build: Vec<String>,
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub docs: Vec<String>,
    #[serde(default)]
    pub config: Vec<String>,
    #[serde(default)]
    pub soup_manifest: Vec<String>,
    #[serde(default)]
    pub other: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Soup {
    /// Path (in the repository) of the overrides file.
    pub overrides: Option<String>,
    /// The lockfiles that make up the release's SOUP (globs, as `[classes]` writes them);
    /// default: every tracked lockfile.
    #[serde(default)]
    pub lockfiles: Option<Vec<String>>,
    /// Paths left out of the SOUP and the image scan (globs): a vendored tree, fuzz targets,
    /// examples that do not ship.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The line (1-based) of each `key =` inside the `[build]` table.
fn build_key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut in_build = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(header) = t.strip_prefix('[') {
            let name = header.split(']').next().map(str::trim);
            in_build = name == Some("build");
            // `[build.fetch]` is the `fetch` key of `[build]`: its findings point at the header.
            if name == Some("build.fetch") {
                out.entry("fetch".to_owned()).or_insert(i + 1);
            }
            continue;
        }
        if in_build && let Some((key, _)) = t.split_once('=') {
            let key = key.trim().trim_matches('"');
            if !key.is_empty() && !key.starts_with('#') {
                out.entry(key.to_owned()).or_insert(i + 1);
            }
        }
    }
    out
}

impl Config {
    /// Parses `reprove.toml`; the error is `(line, message)`.
    pub fn parse(text: &str) -> Result<Config, (Option<usize>, String)> {
        let mut config = toml::from_str::<Config>(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            (
                line,
                e.message()
                    .lines()
                    .next()
                    .unwrap_or("invalid TOML")
                    .to_owned(),
            )
        })?;
        config.build_lines = build_key_lines(text);
        Ok(config)
    }

    /// The recorded form of the build recipe (canonical via the manifest's JCS).
    pub fn build_json(&self) -> Option<BTreeMap<String, serde_json::Value>> {
        self.build.as_ref().map(|t| {
            t.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                    )
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_full_file() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.changes.trailers, ["Reviewed-by", "Approved-by"]);
        assert!(!c.changes.require_authorization);
        let c = Config::parse(
            "[project]\nname = \"hello\"\nsupplier = \"Acme\"\n[build]\nimage = \"x\"\ncommand = [\"make\"]\n[changes]\nrequire-authorization = true\n[classes]\ndocs = [\"docs/**\"]\n[soup]\noverrides = \"soup.toml\"\n",
        )
        .unwrap();
        assert!(c.changes.require_authorization);
        assert_eq!(c.classes.docs, ["docs/**"]);
        assert_eq!(c.soup.overrides.as_deref(), Some("soup.toml"));
        assert!(c.build_json().unwrap().contains_key("command"));
    }

    #[test]
    fn misspelt_keys_are_errors_with_the_line() {
        let (line, msg) = Config::parse("[changes]\nrequire-authorisation = true\n").unwrap_err();
        assert_eq!(line, Some(2));
        assert!(msg.contains("require-authorisation"), "{msg}");
        assert!(msg.contains("require-authorization"), "{msg}");
    }
}

#[cfg(test)]
mod build_lines {
    use super::*;

    #[test]
    fn build_keys_are_found_by_line_in_their_table_only() {
        let c = Config::parse(
            "[project]\nname = \"x\"\n\n[build]\nimage = \"a\"\n# note\ncommand = [\"make\"]\n\n[changes]\ntrailers = []\n",
        )
        .unwrap();
        assert_eq!(c.build_lines.get("image"), Some(&5));
        assert_eq!(c.build_lines.get("command"), Some(&7));
        assert!(!c.build_lines.contains_key("name"));
        assert!(!c.build_lines.contains_key("trailers"));
    }
}
