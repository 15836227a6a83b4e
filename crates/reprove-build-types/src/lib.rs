//! The `[build]` recipe of `reprove.toml` and the reference conditions of a rebuild: the one
//! schema that the baseline records, the rebuild runs and the provenance attests, so a verifier
//! compares `Recipe == Recipe` instead of re-implementing defaults. Pure: no I/O.

use std::collections::BTreeMap;

use reprove_oci::ImageRef;
use serde::Deserialize;

/// Keys the recipe knows, for "did you mean" suggestions.
const KEYS: &[&str] = &[
    "image",
    "command",
    "artifacts",
    "env",
    "workdir",
    "timeout",
    "user",
    "fetch",
    "accept-equivalent",
];

/// Keys of `[build.fetch]`, for "did you mean" suggestions.
const FETCH_KEYS: &[&str] = &[
    "command",
    "store",
    "lockfiles",
    "allow",
    "fixed",
    "env",
    "timeout",
];

/// The `[build]` table as written: the defaults are applied by [`Recipe::from_raw`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    image: String,
    command: CommandSpec,
    #[serde(default)]
    artifacts: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    workdir: Option<String>,
    timeout: Option<u64>,
    user: Option<String>,
    fetch: Option<RawFetch>,
    #[serde(default, rename = "accept-equivalent")]
    accept_equivalent: Vec<String>,
}

/// The `[build.fetch]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    command: CommandSpec,
    store: String,
    #[serde(default)]
    lockfiles: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    fixed: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    timeout: Option<u64>,
}

/// `command` as written: an argument vector, or a string run by `/bin/sh -c`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CommandSpec {
    Argv(Vec<String>),
    Shell(String),
}

/// A validated rebuild recipe. Read back (from a provenance or a rebuild report) only as it
/// is written: a member reprove does not know is refused, not ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The fetch phase: the one step of a rebuild that has network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchRecipe>,
    /// The normalizations under which an artifact that differs bit for bit is accepted as the
    /// same build (`[build] accept-equivalent`); empty: only bit-for-bit matches are accepted.
    #[serde(
        default,
        rename = "acceptEquivalent",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub accept_equivalent: Vec<Normalization>,
}

/// A named normalization under which two artifacts that differ bit for bit are compared again,
/// as OSS Rebuild's stabilizers do. Two artifacts equal after some of them are `equivalent`,
/// never `reproducible`; a release accepts that only for the ones `accept-equivalent` names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// gzip compared by what it decompresses to: header (mtime, OS, file name) and
    /// compression level ignored.
    Gzip,
    /// tar members compared as a set of paths, not in archive order.
    TarOrder,
    /// tar member modification times (and pax atime/ctime) ignored.
    TarMtime,
    /// tar member owner and group, by id and by name, ignored.
    TarOwner,
    /// the mode of tar directory members ignored (files keep theirs).
    TarDirMode,
    /// zip entries compared as a set of names, not in archive order.
    ZipOrder,
    /// zip entry timestamps (DOS time and the extended-timestamp extra field) ignored.
    ZipTime,
    /// zip entries compared by what they decompress to: method and level ignored.
    ZipCompression,
    /// `ar` member headers' mtime, owner, group and mode ignored (what `ar D` zeroes).
    ArHeader,
}

impl Normalization {
    pub const ALL: [Normalization; 9] = [
        Normalization::Gzip,
        Normalization::TarOrder,
        Normalization::TarMtime,
        Normalization::TarOwner,
        Normalization::TarDirMode,
        Normalization::ZipOrder,
        Normalization::ZipTime,
        Normalization::ZipCompression,
        Normalization::ArHeader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Normalization::Gzip => "gzip",
            Normalization::TarOrder => "tar-order",
            Normalization::TarMtime => "tar-mtime",
            Normalization::TarOwner => "tar-owner",
            Normalization::TarDirMode => "tar-dir-mode",
            Normalization::ZipOrder => "zip-order",
            Normalization::ZipTime => "zip-time",
            Normalization::ZipCompression => "zip-compression",
            Normalization::ArHeader => "ar-header",
        }
    }

    /// What the normalization ignores, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Normalization::Gzip => "gzip header and compression level",
            Normalization::TarOrder => "tar member order",
            Normalization::TarMtime => "tar member modification times",
            Normalization::TarOwner => "tar member owner and group",
            Normalization::TarDirMode => "tar directory modes",
            Normalization::ZipOrder => "zip entry order",
            Normalization::ZipTime => "zip entry timestamps",
            Normalization::ZipCompression => "zip compression method and level",
            Normalization::ArHeader => "ar member mtime, owner and mode",
        }
    }
}

impl std::fmt::Display for Normalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Normalization {
    type Err = RecipeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Normalization::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Normalization::ALL.iter().map(|n| n.as_str()).collect();
                bad_key(
                    "accept-equivalent",
                    format!(
                        "[build] accept-equivalent: `{s}` is not a normalization reprove knows (it knows {}){}",
                        names.join(", "),
                        suggest_in(&names, s)
                    ),
                )
            })
    }
}

/// `[build.fetch]`: the one step of a rebuild with network. It runs in the same pinned image,
/// over the same build tree, and fills a *store* (cargo's registry under `CARGO_HOME`, a pip
/// wheelhouse, …) that reprove reads back, checks against the tag's lockfiles, and hands to
/// the build — which runs with no network — at the same path, so paths a compiler embeds are
/// those of an ordinary build that fetched as it went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRecipe {
    pub command: Vec<String>,
    /// Absolute path of the store inside the container (outside the build tree).
    pub store: String,
    /// Lockfiles (paths in the tree) the store is checked against; empty: every lockfile reprove
    /// can check at the root of the tree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lockfiles: Vec<String>,
    /// Hosts the fetch may reach: recorded in the provenance (the docker and podman engines do
    /// not enforce it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// A fixed-output fetch: the store digest every rebuild must reproduce (`sha256:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Seconds before the fetch is stopped.
    pub timeout: u64,
}

/// Why a `[build]` table is not a recipe reprove can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecipeError {
    pub message: String,
    /// The `[build]` key at fault, when one is (so a reader can point at its line).
    pub key: Option<&'static str>,
}

impl RecipeError {
    pub fn new(message: impl Into<String>) -> RecipeError {
        RecipeError {
            message: message.into(),
            key: None,
        }
    }
}

pub const DEFAULT_TIMEOUT: u64 = 3600;

/// The longest a build may be given: a week. Longer is a typo, or a way to overflow a clock.
pub const MAX_TIMEOUT: u64 = 7 * 24 * 3600;

/// Variables reprove sets itself; a recipe may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "SOURCE_DATE_EPOCH",
    "TZ",
    "LANG",
    "LC_ALL",
    "HOME",
    SOURCE_COMMIT_VAR,
    SOURCE_TAG_VAR,
];

/// The variable that tells a build the commit it builds: the exported tree has no `.git`, and
/// a program that reports its version (as reprove's own `--version` does) has no other way to
/// know it. Deterministic for a tag, so it is part of the reference environment.
pub const SOURCE_COMMIT_VAR: &str = "REPROVE_SOURCE_COMMIT";
/// The variable that tells a build the tag it builds (see [`SOURCE_COMMIT_VAR`]).
pub const SOURCE_TAG_VAR: &str = "REPROVE_SOURCE_TAG";

/// The release a build is of: the tag and the commit it names.
#[derive(Debug, Clone, Copy)]
pub struct BuildSource<'a> {
    pub commit: &'a str,
    pub tag: &'a str,
}

/// Where the source tree is mounted in the reference build.
pub const BUILD_PATH: &str = "/build/src";
/// The reference build's hostname.
pub const HOSTNAME: &str = "reprove";
/// The reference build's umask.
pub const UMASK: &str = "022";

fn suggest(unknown: &str) -> String {
    suggest_in(KEYS, unknown)
}

fn suggest_in(keys: &[&str], unknown: &str) -> String {
    keys.iter()
        .map(|k| (strsim::levenshtein(unknown, k), *k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

fn bad(message: String) -> RecipeError {
    RecipeError::new(message)
}

fn bad_key(key: &'static str, message: String) -> RecipeError {
    RecipeError {
        message,
        key: Some(key),
    }
}

impl Recipe {
    /// Parses `reprove.toml` text and validates its `[build]` table.
    pub fn from_config(text: &str) -> Result<Recipe, RecipeError> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.message().to_owned()))?;
        let Some(build) = doc.get("build") else {
            return Err(bad(
                "no `[build]` table: add `image`, `command` and `artifacts`".into(),
            ));
        };
        Recipe::from_build_table(build)
    }

    /// Validates a `[build]` table already parsed out of `reprove.toml` (the baseline parses
    /// the file once; the rebuild takes its recipe from there).
    pub fn from_build_table(build: &toml::Value) -> Result<Recipe, RecipeError> {
        let raw: Raw = build.clone().try_into().map_err(|e: toml::de::Error| {
            let msg = e.message().to_owned();
            let hint = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field"))
                .map(|k| {
                    let top = suggest(k);
                    if top.is_empty() {
                        suggest_in(FETCH_KEYS, k)
                    } else {
                        top
                    }
                })
                .unwrap_or_default();
            bad(format!(
                "[build]: {}{hint}",
                msg.lines().next().unwrap_or_default()
            ))
        })?;
        Recipe::from_raw(raw)
    }

    /// The recipe a baseline records: its `predicate.build`, the `[build]` table exactly as
    /// `reprove.toml` held it (in JSON), read with the same defaults and checks as a rebuild.
    pub fn from_baseline_build(build: &serde_json::Value) -> Result<Recipe, RecipeError> {
        let raw: Raw =
            serde_json::from_value(build.clone()).map_err(|e| bad(format!("[build]: {e}")))?;
        Recipe::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Recipe, RecipeError> {
        let image: ImageRef = raw
            .image
            .parse()
            .map_err(|e| bad_key("image", format!("[build] image: {e}")))?;
        if !image.is_pinned() {
            return Err(bad_key(
                "image",
                format!(
                    "[build] image `{}` is not pinned by digest; a rebuild must use exactly the image that was used (run `reprove images pin reprove.toml`)",
                    raw.image
                ),
            ));
        }
        let command = command_of(raw.command);
        if command.is_empty() {
            return Err(bad_key("command", "[build] command is empty".into()));
        }
        check_env("env", "[build]", &raw.env)?;
        if let Some(w) = &raw.workdir
            && (w.starts_with('/') || w.split('/').any(|c| c == ".."))
        {
            return Err(bad_key(
                "workdir",
                format!("[build] workdir `{w}` must be a relative path inside the build tree"),
            ));
        }
        let timeout = check_timeout("timeout", "[build]", raw.timeout.unwrap_or(DEFAULT_TIMEOUT))?;
        let fetch = raw.fetch.map(FetchRecipe::from_raw).transpose()?;
        let mut accept_equivalent = raw
            .accept_equivalent
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<Normalization>, _>>()?;
        accept_equivalent.sort();
        accept_equivalent.dedup();
        Ok(Recipe {
            image,
            command,
            artifacts: raw.artifacts,
            env: raw.env,
            workdir: raw.workdir,
            timeout,
            user: raw.user,
            fetch,
            accept_equivalent,
        })
    }

    /// The fields in which `other` differs from `self`, by their `[build]` key, each with both
    /// values in JSON (the image compared by repository and digest: a tag is only a label).
    pub fn differences(
        &self,
        other: &Recipe,
    ) -> Vec<(&'static str, serde_json::Value, serde_json::Value)> {
        use serde_json::json;
        let mut out = Vec::new();
        let same_image =
            self.image.name() == other.image.name() && self.image.digest() == other.image.digest();
        if !same_image {
            out.push((
                "image",
                json!(self.image.to_string()),
                json!(other.image.to_string()),
            ));
        }
        let mut field = |key: &'static str, a: serde_json::Value, b: serde_json::Value| {
            if a != b {
                out.push((key, a, b));
            }
        };
        field("command", json!(self.command), json!(other.command));
        field("artifacts", json!(self.artifacts), json!(other.artifacts));
        field("env", json!(self.env), json!(other.env));
        field("workdir", json!(self.workdir), json!(other.workdir));
        field("user", json!(self.user), json!(other.user));
        field("timeout", json!(self.timeout), json!(other.timeout));
        field("fetch", json!(self.fetch), json!(other.fetch));
        field(
            "accept-equivalent",
            json!(self.accept_equivalent),
            json!(other.accept_equivalent),
        );
        out
    }
}

fn command_of(spec: CommandSpec) -> Vec<String> {
    match spec {
        CommandSpec::Argv(argv) => argv,
        // A string is a shell command line, as people write it in a CI file.
        CommandSpec::Shell(line) if !line.trim().is_empty() => {
            vec!["/bin/sh".to_owned(), "-c".to_owned(), line]
        }
        CommandSpec::Shell(_) => Vec::new(),
    }
}

fn check_timeout(key: &'static str, what: &str, timeout: u64) -> Result<u64, RecipeError> {
    if timeout == 0 || timeout > MAX_TIMEOUT {
        return Err(bad_key(
            key,
            format!(
                "{what} timeout {timeout} is out of range: 1 to {MAX_TIMEOUT} seconds (7 days)"
            ),
        ));
    }
    Ok(timeout)
}

fn check_env(
    key: &'static str,
    what: &str,
    env: &BTreeMap<String, String>,
) -> Result<(), RecipeError> {
    if let Some(k) = env.keys().find(|k| RESERVED_ENV.contains(&k.as_str())) {
        return Err(bad_key(
            key,
            format!("{what} env may not set `{k}`: reprove fixes it for every rebuild"),
        ));
    }
    Ok(())
}

/// A path inside the tree, as a lockfile or workdir is named: relative, no `..`, no empty part.
fn is_tree_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// A host name as `allow` takes it: letters, digits, `-`, `.`, optionally a leading `*.`.
fn is_host(h: &str) -> bool {
    let rest = h.strip_prefix("*.").unwrap_or(h);
    !rest.is_empty()
        && rest.len() <= 253
        && rest.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The hex of a `sha256:<64 hex>` digest, lowercase.
pub fn sha256_hex(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// Where the host's CA bundle appears inside a fetch container (and the variables that point
/// the usual tools at it): a stock image does not trust a company's TLS-intercepting proxy.
pub const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The variables set in a fetch job that is offered the host's CA bundle.
pub const CA_BUNDLE_ENV: &[&str] = &[
    "SSL_CERT_FILE",
    "CARGO_HTTP_CAINFO",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
    "NPM_CONFIG_CAFILE",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
];

/// The variables that point a fetch at reprove's egress proxy (set in a fetch job on the host
/// network), each tool's own included so that none of them is left to pick another proxy.
/// A recipe may not set them, in any case (npm reads its `npm_config_*` in any case).
pub const PROXY_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "CARGO_HTTP_PROXY",
    "npm_config_proxy",
    "npm_config_https_proxy",
    "PIP_PROXY",
];

/// The variables emptied in a fetch job pointed at the proxy: nothing bypasses it.
pub const NO_PROXY_ENV: &[&str] = &["NO_PROXY", "no_proxy", "npm_config_noproxy"];

impl FetchRecipe {
    fn from_raw(raw: RawFetch) -> Result<FetchRecipe, RecipeError> {
        let command = command_of(raw.command);
        if command.is_empty() {
            return Err(bad_key("fetch", "[build.fetch] command is empty".into()));
        }
        let store = raw.store.trim_end_matches('/').to_owned();
        let inside_build = store == BUILD_PATH
            || store.starts_with(&format!("{BUILD_PATH}/"))
            || BUILD_PATH.starts_with(&format!("{store}/"));
        if !store.starts_with('/')
            || store
                .split('/')
                .skip(1)
                .any(|c| c.is_empty() || c == "." || c == "..")
            || inside_build
            || ["/tmp", "/proc", "/sys", "/dev", "/etc"].contains(&store.as_str())
        {
            return Err(bad_key(
                "fetch",
                format!(
                    "[build.fetch] store `{}` must be an absolute folder outside the build tree `{BUILD_PATH}` (e.g. `/tmp/.cargo/registry`)",
                    raw.store
                ),
            ));
        }
        if let Some(l) = raw.lockfiles.iter().find(|l| !is_tree_path(l)) {
            return Err(bad_key(
                "fetch",
                format!("[build.fetch] lockfile `{l}` must be a relative path in the tree"),
            ));
        }
        if let Some(h) = raw.allow.iter().find(|h| !is_host(h)) {
            return Err(bad_key(
                "fetch",
                format!("[build.fetch] allow `{h}` is not a host name (no scheme, port or path)"),
            ));
        }
        let fixed = match raw.fixed {
            Some(f) => Some(format!(
                "sha256:{}",
                sha256_hex(&f).ok_or_else(|| bad_key(
                    "fetch",
                    format!("[build.fetch] fixed `{f}` is not `sha256:<64 hex digits>`")
                ))?
            )),
            None => None,
        };
        check_env("fetch", "[build.fetch]", &raw.env)?;
        if let Some(k) = raw.env.keys().find(|k| {
            PROXY_ENV
                .iter()
                .chain(NO_PROXY_ENV)
                .any(|p| p.eq_ignore_ascii_case(k))
        }) {
            return Err(bad_key(
                "fetch",
                format!(
                    "[build.fetch] env may not set `{k}`: reprove points the fetch at its own proxy, which records the hosts contacted"
                ),
            ));
        }
        if let Some(k) = raw.env.keys().find(|k| CA_BUNDLE_ENV.contains(&k.as_str())) {
            return Err(bad_key(
                "fetch",
                format!(
                    "[build.fetch] env may not set `{k}`: reprove points it at the CA bundle it offers"
                ),
            ));
        }
        let timeout = check_timeout(
            "fetch",
            "[build.fetch]",
            raw.timeout.unwrap_or(DEFAULT_TIMEOUT),
        )?;
        let mut lockfiles = raw.lockfiles;
        lockfiles.sort();
        lockfiles.dedup();
        let mut allow = raw.allow;
        allow.iter_mut().for_each(|h| h.make_ascii_lowercase());
        allow.sort();
        allow.dedup();
        Ok(FetchRecipe {
            command,
            store,
            lockfiles,
            allow,
            fixed,
            env: raw.env,
            timeout,
        })
    }
}

/// The environment of the reference build: the recipe's `env`, then what reprove fixes. A
/// verifier derives it from the signed baseline to check what a provenance records.
pub fn reference_environment(
    recipe_env: &BTreeMap<String, String>,
    epoch: i64,
    source: BuildSource<'_>,
) -> BTreeMap<String, String> {
    environment(recipe_env, epoch, source, "C.UTF-8", "UTC")
}

/// A build's environment: the recipe's `env`, then the variables reprove fixes (the varied
/// build passes another locale and time zone).
pub fn environment(
    recipe_env: &BTreeMap<String, String>,
    epoch: i64,
    source: BuildSource<'_>,
    lang: &str,
    tz: &str,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = recipe_env.clone();
    env.insert("SOURCE_DATE_EPOCH".into(), epoch.to_string());
    env.insert(SOURCE_COMMIT_VAR.into(), source.commit.into());
    env.insert(SOURCE_TAG_VAR.into(), source.tag.into());
    env.insert("TZ".into(), tz.into());
    env.insert("LANG".into(), lang.into());
    env.insert("LC_ALL".into(), lang.into());
    env.insert("HOME".into(), "/tmp".into());
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn valid_recipe() {
        let r = Recipe::from_config(
            &format!("[build]\nimage = \"127.0.0.1:5000/b:1@{D}\"\ncommand = [\"make\", \"dist\"]\nartifacts = [\"dist/*\"]\nenv = {{ CFLAGS = \"-O2\" }}\n"),
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
            let err = Recipe::from_config(text).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn a_baseline_build_table_reads_with_the_same_defaults() {
        let written = Recipe::from_config(&format!(
            "[build]\nimage = \"reg.example/b:1@{D}\"\ncommand = [\"make\"]\n"
        ))
        .unwrap();
        let recorded =
            serde_json::json!({ "image": format!("reg.example/b:1@{D}"), "command": ["make"] });
        let read = Recipe::from_baseline_build(&recorded).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.timeout, DEFAULT_TIMEOUT);
        assert!(read.differences(&written).is_empty());
        // What a rebuild refuses, a baseline's recorded table is refused for too.
        let unknown =
            serde_json::json!({ "image": format!("a@{D}"), "command": ["x"], "network": "host" });
        assert!(Recipe::from_baseline_build(&unknown).is_err());
    }

    #[test]
    fn differences_name_every_field_and_ignore_only_the_image_tag() {
        let a = Recipe::from_config(&format!(
            "[build]\nimage = \"reg.example/b:1@{D}\"\ncommand = [\"make\"]\n"
        ))
        .unwrap();
        let mut b = a.clone();
        b.image = format!("reg.example/b:2@{D}").parse().unwrap();
        assert!(a.differences(&b).is_empty(), "a tag is only a label");
        b.image = format!("reg.example/other:1@{D}").parse().unwrap();
        b.command.push("x".into());
        b.env.insert("A".into(), "1".into());
        b.workdir = Some("w".into());
        b.user = Some("0".into());
        b.timeout = 5;
        b.artifacts.push("*".into());
        let keys: Vec<&str> = a.differences(&b).into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(
            keys,
            [
                "image",
                "command",
                "artifacts",
                "env",
                "workdir",
                "user",
                "timeout"
            ]
        );
    }

    /// The provenance records the recipe by serializing it: the shape is part of the
    /// `buildType` schema and must not drift.
    #[test]
    fn the_recipe_serializes_as_the_provenance_schema_says() {
        let r = Recipe::from_config(&format!(
            "[build]\nimage = \"reg.example/b:1@{D}\"\ncommand = [\"make\"]\nenv = {{ A = \"1\" }}\n"
        ))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "image": format!("reg.example/b:1@{D}"),
                "command": ["make"],
                "artifacts": [],
                "env": { "A": "1" },
                "workdir": null,
                "timeout": 3600,
                "user": null,
            })
        );
        let back: Recipe = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // A recipe with a member reprove does not know (another build type's `network`) is
        // not the same recipe with that member dropped.
        let mut extra = serde_json::to_value(&r).unwrap();
        extra["network"] = serde_json::json!("host");
        assert!(serde_json::from_value::<Recipe>(extra).is_err());
    }

    #[test]
    fn a_command_string_runs_through_the_shell() {
        let r = Recipe::from_config(&format!(
            "[build]\nimage = \"a@{D}\"\ncommand = \"./configure && make\"\n"
        ))
        .unwrap();
        assert_eq!(r.command, ["/bin/sh", "-c", "./configure && make"]);
        let err = Recipe::from_config(&format!("[build]\nimage = \"a@{D}\"\ncommand = \" \"\n"))
            .unwrap_err();
        assert_eq!(err.key, Some("command"));
        let err =
            Recipe::from_config("[build]\nimage = \"alpine:3\"\ncommand = [\"x\"]\n").unwrap_err();
        assert_eq!(err.key, Some("image"));
    }

    fn fetch_recipe(table: &str) -> Result<Recipe, RecipeError> {
        Recipe::from_config(&format!(
            "[build]\nimage = \"a@{D}\"\ncommand = \"cargo build --offline\"\n\n[build.fetch]\n{table}"
        ))
    }

    #[test]
    fn a_fetch_phase_is_read_with_its_defaults_and_sorted_lists() {
        let r = fetch_recipe(
            "command = \"cargo fetch --locked\"\nstore = \"/tmp/.cargo/registry/\"\nallow = [\"static.crates.io\", \"Index.crates.io\"]\n",
        )
        .unwrap();
        let f = r.fetch.clone().unwrap();
        assert_eq!(f.command, ["/bin/sh", "-c", "cargo fetch --locked"]);
        assert_eq!(f.store, "/tmp/.cargo/registry");
        assert_eq!(f.allow, ["index.crates.io", "static.crates.io"]);
        assert_eq!(f.timeout, DEFAULT_TIMEOUT);
        assert!(f.lockfiles.is_empty() && f.fixed.is_none());
        // Round trip through the provenance's JSON; a recipe without fetch is a different one.
        let back: Recipe = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let mut without = r.clone();
        without.fetch = None;
        assert_eq!(r.differences(&without)[0].0, "fetch");
    }

    #[test]
    fn a_fetch_phase_that_could_fool_the_build_is_refused() {
        for (table, what) in [
            ("command = []\nstore = \"/s\"", "empty command"),
            ("command = \"x\"\nstore = \"relative\"", "relative store"),
            (
                "command = \"x\"\nstore = \"/build/src/vendor\"",
                "store inside the tree",
            ),
            (
                "command = \"x\"\nstore = \"/build\"",
                "store above the tree",
            ),
            ("command = \"x\"\nstore = \"/tmp/../etc\"", "dot-dot"),
            ("command = \"x\"\nstore = \"/etc\"", "a system folder"),
            (
                "command = \"x\"\nstore = \"/s\"\nlockfiles = [\"../Cargo.lock\"]",
                "lockfile outside",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nallow = [\"https://x\"]",
                "a URL as host",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nfixed = \"md5:00\"",
                "not sha256",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nenv = { HOME = \"/\" }",
                "reserved env",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nenv = { SSL_CERT_FILE = \"/x\" }",
                "CA env",
            ),
            // A proxy of the recipe's choosing would take the fetch past reprove's, which
            // records the hosts and holds `allow`: refused in any spelling.
            (
                "command = \"x\"\nstore = \"/s\"\nenv = { https_proxy = \"http://x:1\" }",
                "proxy env",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nenv = { NPM_CONFIG_HTTPS_PROXY = \"http://x:1\" }",
                "npm proxy env, upper case",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nenv = { CARGO_HTTP_PROXY = \"x:1\" }",
                "cargo proxy env",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nenv = { No_Proxy = \"*\" }",
                "no-proxy env",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\ntimeout = 0",
                "zero timeout",
            ),
            (
                "command = \"x\"\nstore = \"/s\"\nnetwork = \"host\"",
                "unknown key",
            ),
        ] {
            let err = fetch_recipe(table).expect_err(what);
            assert!(
                err.key == Some("fetch")
                    || err.message.contains("fetch")
                    || err.message.contains("network"),
                "{what}: {err}"
            );
        }
        let ok = fetch_recipe(&format!(
            "command = \"x\"\nstore = \"/s\"\nfixed = \"sha256:{}\"",
            "AB".repeat(32)
        ))
        .unwrap();
        assert_eq!(
            ok.fetch.unwrap().fixed.unwrap(),
            format!("sha256:{}", "ab".repeat(32))
        );
    }
}
