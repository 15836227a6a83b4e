//! The `[build]` recipe of `reprove.toml`, read from the tag's tree.

use std::collections::BTreeMap;

use reprove_oci::ImageRef;
use serde::Deserialize;

use crate::BuildError;

/// Keys the recipe knows, for "did you mean" suggestions.
const KEYS: &[&str] = &[
    "image",
    "command",
    "artifacts",
    "env",
    "workdir",
    "timeout",
    "user",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    image: String,
    command: Vec<String>,
    #[serde(default)]
    artifacts: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    workdir: Option<String>,
    timeout: Option<u64>,
    user: Option<String>,
}

/// A validated rebuild recipe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    pub image: ImageRef,
    pub command: Vec<String>,
    /// Paths or globs inside the build tree.
    pub artifacts: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Working directory relative to the build tree (default: its root).
    pub workdir: Option<String>,
    /// Seconds before the build is stopped.
    pub timeout: u64,
    /// `uid[:gid]` to build as (default: the image's user).
    pub user: Option<String>,
}

pub const DEFAULT_TIMEOUT: u64 = 3600;

/// Variables reprove sets itself; a recipe may not override them.
pub const RESERVED_ENV: &[&str] = &["SOURCE_DATE_EPOCH", "TZ", "LANG", "LC_ALL", "HOME"];

fn suggest(unknown: &str) -> String {
    KEYS.iter()
        .map(|k| (strsim::levenshtein(unknown, k), *k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

impl Recipe {
    /// Parses `reprove.toml` text and validates its `[build]` table.
    pub fn from_config(text: &str, tag: &str) -> Result<Recipe, BuildError> {
        let bad = |message: String| BuildError::Recipe {
            tag: tag.to_owned(),
            message,
        };
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.message().to_owned()))?;
        let Some(build) = doc.get("build") else {
            return Err(bad(
                "no `[build]` table: add `image`, `command` and `artifacts`".into(),
            ));
        };
        let raw: Raw = build.clone().try_into().map_err(|e: toml::de::Error| {
            let msg = e.message().to_owned();
            let hint = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field"))
                .map(suggest)
                .unwrap_or_default();
            bad(format!(
                "[build]: {}{hint}",
                msg.lines().next().unwrap_or_default()
            ))
        })?;
        let image: ImageRef = raw
            .image
            .parse()
            .map_err(|e| bad(format!("[build] image: {e}")))?;
        if !image.is_pinned() {
            return Err(bad(format!(
                "[build] image `{}` is not pinned by digest; a rebuild must use exactly the image that was used (run `reprove images pin reprove.toml`)",
                raw.image
            )));
        }
        if raw.command.is_empty() {
            return Err(bad("[build] command is empty".into()));
        }
        if let Some(k) = raw.env.keys().find(|k| RESERVED_ENV.contains(&k.as_str())) {
            return Err(bad(format!(
                "[build] env may not set `{k}`: reprove fixes it for every rebuild"
            )));
        }
        if let Some(w) = &raw.workdir
            && (w.starts_with('/') || w.split('/').any(|c| c == ".."))
        {
            return Err(bad(format!(
                "[build] workdir `{w}` must be a relative path inside the build tree"
            )));
        }
        let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout == 0 || timeout > MAX_TIMEOUT {
            return Err(bad(format!(
                "[build] timeout {timeout} is out of range: 1 to {MAX_TIMEOUT} seconds (7 days)"
            )));
        }
        Ok(Recipe {
            image,
            command: raw.command,
            artifacts: raw.artifacts,
            env: raw.env,
            workdir: raw.workdir,
            timeout,
            user: raw.user,
        })
    }
}

/// The longest a build may be given: a week. Longer is a typo, or a way to overflow a clock.
pub const MAX_TIMEOUT: u64 = 7 * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn valid_recipe() {
        let r = Recipe::from_config(
            &format!("[build]\nimage = \"127.0.0.1:5000/b:1@{D}\"\ncommand = [\"make\", \"dist\"]\nartifacts = [\"dist/*\"]\nenv = {{ CFLAGS = \"-O2\" }}\n"),
            "v1",
        )
        .unwrap();
        assert_eq!(r.command, ["make", "dist"]);
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn refusals_explain_themselves() {
        let cases = [
            (
                "[build]\nimage = \"alpine:3\"\ncommand = [\"x\"]\n",
                "is not pinned by digest",
            ),
            (
                &format!("[build]\nimage = \"a@{D}\"\ncommand = [\"x\"]\nartefacts = []\n"),
                "did you mean `artifacts`?",
            ),
            (
                &format!("[build]\nimage = \"a@{D}\"\ncommand = []\n"),
                "command is empty",
            ),
            // Regression (review of issue 11): an i64::MAX timeout overflowed the clock.
            (
                &format!(
                    "[build]\nimage = \"a@{D}\"\ncommand = [\"x\"]\ntimeout = 9223372036854775807\n"
                ),
                "out of range",
            ),
            (
                &format!("[build]\nimage = \"a@{D}\"\ncommand = [\"x\"]\nenv = {{ TZ = \"x\" }}\n"),
                "may not set `TZ`",
            ),
            (
                &format!("[build]\nimage = \"a@{D}\"\ncommand = [\"x\"]\nworkdir = \"../up\"\n"),
                "relative path",
            ),
            ("[project]\nname = \"x\"\n", "no `[build]` table"),
        ];
        for (text, want) in cases {
            let err = Recipe::from_config(text, "v1").unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
