//! Arguments several commands share: who is trusted to have signed (`TrustArgs`, flattened
//! into `verify`, `status` and `report`), the engine, and the output formats. A leaf module:
//! commands use it, it uses no command.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use reprove_attest::verify::Signer;

/// The release signer: keys, or a keyless identity, and the trusted root for keyless bundles.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// Public key of the release signer: the index, the baseline and the release's own
    /// provenance must be signed with it (repeatable, e.g. across a key rotation).
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Trusted root JSON for keyless bundles (default: Sigstore's production root, built in;
    /// a private Sigstore deployment's root here).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
}

/// The keyless signer expected: the certificate's identity and OIDC issuer, each exactly or
/// by a pattern (cosign's flags; patterns here must match the whole value).
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// Keyless: expected certificate identity (subject alternative name), exact match, e.g.
    /// https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// Keyless: expected certificate identity as a regular expression that must match all of
    /// it (anchored, unlike cosign's), e.g. 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*'.
    #[arg(long, value_name = "REGEX")]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: expected OIDC issuer, exact match, e.g.
    /// https://token.actions.githubusercontent.com.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// Keyless: expected OIDC issuer as a regular expression that must match all of it.
    #[arg(long, value_name = "REGEX")]
    pub certificate_oidc_issuer_regexp: Option<String>,
}

impl IdentityArgs {
    /// The identity and issuer expected, when the flags name one (both, or neither).
    pub fn expected(
        &self,
    ) -> Result<
        Option<(
            reprove_attest::verify::Expected,
            reprove_attest::verify::Expected,
        )>,
    > {
        use reprove_attest::verify::Expected;
        let one = |exact: &Option<String>, re: &Option<String>, flag: &str| -> Result<_> {
            Ok(match (exact, re) {
                (Some(e), _) => Some(Expected::Exact(e.clone())),
                (None, Some(r)) => Some(
                    Expected::pattern(r)
                        .with_context(|| format!("--{flag}-regexp `{r}` is not a valid pattern"))?,
                ),
                (None, None) => None,
            })
        };
        let id = one(
            &self.certificate_identity,
            &self.certificate_identity_regexp,
            "certificate-identity",
        )?;
        let iss = one(
            &self.certificate_oidc_issuer,
            &self.certificate_oidc_issuer_regexp,
            "certificate-oidc-issuer",
        )?;
        match (id, iss) {
            (Some(i), Some(s)) => Ok(Some((i, s))),
            (None, None) => Ok(None),
            (Some(_), None) => anyhow::bail!(
                "a keyless identity needs its issuer too: add --certificate-oidc-issuer (or -regexp)"
            ),
            (None, Some(_)) => anyhow::bail!(
                "a keyless issuer needs the identity too: add --certificate-identity (or -regexp)"
            ),
        }
    }

    pub fn is_given(&self) -> bool {
        self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
    }
}

impl TrustArgs {
    /// The signers the flags name (keys read and parsed now).
    pub fn signers(&self) -> Result<Vec<Signer>> {
        signers(&self.keys, self.identity.expected()?)
    }

    /// The trusted root's JSON, when one was given.
    pub fn root(&self) -> Result<Option<String>> {
        read_root(self.trusted_root.as_deref())
    }
}

/// The product the auditor is checking (`verify`, `report`): the signed statements must name
/// it, so another product's genuine release signed with the same key does not pass.
#[derive(Debug, Clone, Args)]
pub struct ProductArgs {
    /// The product: the signed baseline and provenance must name this `[project] name`.
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// The source repository the provenance must name (any form: github.com/org/repo,
    /// https://…, git@…).
    #[arg(long, value_name = "URI")]
    pub source_uri: Option<String>,
}

/// Who may have signed, from `--key`s and an identity.
pub fn signers(
    keys: &[PathBuf],
    identity: Option<(
        reprove_attest::verify::Expected,
        reprove_attest::verify::Expected,
    )>,
) -> Result<Vec<Signer>> {
    let mut out = Vec::new();
    for k in keys {
        out.push(Signer::Key {
            key: crate::keys::read_public_key(k)?,
        });
    }
    if let Some((identity, issuer)) = identity {
        out.push(Signer::Identity { identity, issuer });
    }
    Ok(out)
}

/// A trusted root JSON given with --trusted-root, else named by `REPROVE_TRUSTED_ROOT` (a
/// regular file of at most 16 MiB). What decides trust is said when it comes from the
/// environment, where a CI variable can set it unseen.
pub fn read_root(p: Option<&Path>) -> Result<Option<String>> {
    let from_env = std::env::var_os("REPROVE_TRUSTED_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let path = match (p, &from_env) {
        (Some(p), _) => Some(p.to_owned()),
        (None, Some(e)) => {
            crate::output::warn(&format!(
                "trusting the Sigstore root `{}` named by REPROVE_TRUSTED_ROOT instead of the production root",
                reprove_escape::terminal(&e.display().to_string())
            ));
            Some(e.clone())
        }
        (None, None) => None,
    };
    path.map(|p| {
        reprove_digest::read_regular_text(&p, 16 << 20)
            .with_context(|| format!("failed to read the trusted root `{}`", p.display()))
    })
    .transpose()
}

/// The registry check of image pins for --check-images.
pub fn image_check(insecure: &[String]) -> Result<reprove_release::verify::ImageCheck> {
    Ok(reprove_release::verify::ImageCheck {
        client: reprove_oci::registry::RegistryClient::new(reprove_oci::registry::ClientOptions {
            insecure_registries: insecure.to_vec(),
            ..Default::default()
        })?,
        platform: reprove_oci::check::default_platform(),
    })
}

/// The checks of `verify` and `report` that reach out: image pins against their registries,
/// and a fresh rebuild of the tag.
#[derive(Debug, Clone, Args)]
pub struct OnlineChecks {
    /// Also check every image pin against its registry (needs the network).
    #[arg(long)]
    pub check_images: bool,
    /// A registry (host:port) reached over plain HTTP; loopback registries always are (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registry: Vec<String>,
    /// Also rebuild the tag and compare with the attested digests (needs an engine).
    #[arg(long)]
    pub rebuild: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// Which container engine runs the jobs, and how the files reach it.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// The container engine (default: docker, else podman, whichever is found first).
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// The engine does not share this machine's files: copy the source in and the outputs out
    /// through its API instead of mounting folders (the default when DOCKER_HOST or
    /// CONTAINER_HOST is not a local unix socket).
    #[arg(long)]
    pub remote_engine: bool,
}

impl EngineArgs {
    pub fn choice(&self) -> reprove_build::EngineChoice {
        reprove_build::EngineChoice {
            kind: self.engine.map(reprove_build::EngineKind::from),
            transfer: self.remote_engine.then_some(reprove_build::Transfer::Copy),
        }
    }
}

impl OnlineChecks {
    /// The registry check, when `--check-images` asks for it.
    pub fn images(&self) -> Result<Option<reprove_release::verify::ImageCheck>> {
        self.check_images
            .then(|| image_check(&self.insecure_registry))
            .transpose()
    }

    /// The rebuild check, when `--rebuild` asks for it.
    pub fn rebuild(&self) -> Result<Option<reprove_release::verify::RebuildCheck>> {
        if !self.rebuild {
            return Ok(None);
        }
        // Someone else's fetch command reaches the network from the auditor's machine only
        // when the auditor names a network for it; otherwise a cached store must serve.
        let mut fetch = self.fetch.options()?;
        fetch.allow_network = self.fetch.fetch_network.is_some();
        Ok(Some(reprove_release::verify::RebuildCheck {
            engine: self.engine.choice(),
            fetch,
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Docker,
    Podman,
}

impl From<EngineArg> for reprove_build::EngineKind {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Docker => reprove_build::EngineKind::Docker,
            EngineArg::Podman => reprove_build::EngineKind::Podman,
        }
    }
}

/// The formats of `rebuild` and `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RebuildFormat {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

/// How the fetch phase (`[build.fetch]`) runs on this machine: none of it changes what the
/// build is given, which reprove checks against the lockfiles either way.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Fetch phase ([build.fetch])")]
pub struct FetchArgs {
    /// Engine network the fetch runs on (e.g. `host` when the engine has no bridge; default:
    /// the engine's own). The build itself never has a network.
    #[arg(long, value_name = "NAME")]
    pub fetch_network: Option<String>,
    /// CA bundle offered to the fetch, for a TLS-intercepting proxy (default: $SSL_CERT_FILE,
    /// else /etc/ssl/certs/ca-certificates.crt when present). Recorded in the provenance.
    #[arg(long, value_name = "PEM", conflicts_with = "no_ca_bundle")]
    pub ca_bundle: Option<PathBuf>,
    /// Offer no CA bundle: the image's own trust store only.
    #[arg(long)]
    pub no_ca_bundle: bool,
    /// Where checked dependency stores are cached (default: $XDG_CACHE_HOME/reprove/fetch or
    /// ~/.cache/reprove/fetch). A cached store is checked again before use.
    #[arg(long, value_name = "DIR", conflicts_with = "no_fetch_cache")]
    pub fetch_cache: Option<PathBuf>,
    /// Always fetch afresh; cache nothing.
    #[arg(long)]
    pub no_fetch_cache: bool,
    /// Do not point the fetch at reprove's egress proxy (which records the hosts contacted and
    /// refuses those `allow` does not name): for an engine whose host network cannot reach
    /// this machine's loopback. The provenance then records no hosts.
    #[arg(long)]
    pub no_fetch_proxy: bool,
}

/// The most bytes of a CA bundle read (Debian's is about 200 KiB).
const MAX_CA_BUNDLE: u64 = 16 << 20;

impl FetchArgs {
    pub fn options(&self) -> Result<reprove_build::FetchOptions> {
        let ca_path = if self.no_ca_bundle {
            None
        } else if let Some(p) = &self.ca_bundle {
            Some(p.clone())
        } else {
            std::env::var_os("SSL_CERT_FILE")
                .map(PathBuf::from)
                .filter(|p| p.is_file())
                .or_else(|| {
                    Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))
                        .filter(|p| p.is_file())
                })
        };
        let ca_bundle = match ca_path {
            Some(p) => {
                // A system bundle is often a link (`/etc/ssl/cert.pem`): follow it, then read
                // the file it names as a regular file, capped.
                let bytes = std::fs::canonicalize(&p)
                    .map_err(anyhow::Error::from)
                    .and_then(|real| {
                        reprove_digest::file::read_regular(&real, MAX_CA_BUNDLE)
                            .map_err(anyhow::Error::from)
                    })
                    .with_context(|| format!("failed to read the CA bundle `{}`", p.display()))?;
                // Only the certificates go to the container: a combined PEM may hold a key.
                let certs = certificates_only(&bytes);
                if certs.is_empty() {
                    anyhow::bail!("the CA bundle `{}` holds no PEM certificate", p.display());
                }
                Some(certs)
            }
            None => None,
        };
        let cache = if self.no_fetch_cache {
            None
        } else if let Some(d) = &self.fetch_cache {
            Some(d.clone())
        } else {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|d| d.join("reprove").join("fetch"))
        };
        Ok(reprove_build::FetchOptions {
            network: self.fetch_network.clone(),
            ca_bundle,
            cache,
            allow_network: true,
            no_proxy: self.no_fetch_proxy,
        })
    }
}

/// The `CERTIFICATE` blocks of a PEM file, and nothing else (no private key, no comment).
fn certificates_only(pem: &[u8]) -> Vec<u8> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        out.push_str(&rest[start..start + len + END.len()]);
        out.push('\n');
        rest = &rest[start + len + END.len()..];
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_certificates_leave_a_ca_bundle() {
        let pem = b"# comment\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let out = String::from_utf8(certificates_only(pem)).unwrap();
        assert!(!out.contains("SECRET") && !out.contains("PRIVATE"));
        assert_eq!(out.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(
            certificates_only(b"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
                .is_empty()
        );
    }
}

/// A recipe from outside the tag: for releases made before the project had a `[build]` table.
#[derive(Debug, Clone, Args)]
pub struct RecipeArgs {
    /// Run the `[build]` table of FILE (a reprove.toml) instead of the tag's own: for releases
    /// made before the project had one. Recorded by sha256; not part of the release's baseline.
    #[arg(long, value_name = "FILE", conflicts_with = "recipe_from")]
    recipe: Option<PathBuf>,
    /// Run the `[build]` table of `reprove.toml` at REV (a branch, tag or commit) instead of
    /// the tag's own.
    #[arg(long, value_name = "REV")]
    recipe_from: Option<String>,
}

impl RecipeArgs {
    /// The recipe named by `--recipe FILE` or `--recipe-from REV`, with where it came from and
    /// the bytes it was read from.
    pub fn read(
        &self,
        repo: &reprove_source::Repository,
    ) -> Result<Option<reprove_release::pipeline::OutsideRecipe>> {
        let (bytes, origin) = match (&self.recipe, &self.recipe_from) {
            (Some(f), _) => {
                let bytes = reprove_digest::read_regular(f, 1 << 20)
                    .with_context(|| format!("failed to read the recipe `{}`", f.display()))?;
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (bytes, format!("file {name}"))
            }
            (None, Some(rev)) => {
                if rev.starts_with('-') {
                    anyhow::bail!("`{rev}` is not a revision");
                }
                let commit = repo
                    .resolve_commit(rev)
                    .with_context(|| format!("failed to resolve `{rev}` for --recipe-from"))?;
                let entries = repo
                    .tree_entries(&commit)
                    .with_context(|| format!("failed to list the tree at `{rev}`"))?;
                let Some(bytes) = repo
                    .read_tree_file(&entries, b"reprove.toml", 1 << 20)
                    .with_context(|| format!("failed to read `reprove.toml` at `{rev}`"))?
                else {
                    anyhow::bail!(
                        "there is no `reprove.toml` (of at most 1 MiB) at `{rev}` ({commit})"
                    );
                };
                (bytes, format!("commit {commit}"))
            }
            (None, None) => return Ok(None),
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| anyhow::anyhow!("the recipe ({origin}) is not UTF-8"))?;
        let recipe = reprove_build::Recipe::from_config(text)
            .map_err(|e| anyhow::anyhow!("invalid build recipe ({origin}): {e}"))?;
        let sha256 = reprove_digest::sha256_bytes(&bytes).hex();
        Ok(Some(reprove_release::pipeline::OutsideRecipe {
            recipe,
            external: reprove_build::ExternalRecipe { origin, sha256 },
            bytes,
        }))
    }
}

/// Who signs what a command writes: a private key, or keylessly (an OIDC identity, Fulcio,
/// Rekor). Flattened into `release`, `attest`, `sign` and `baseline --sign`.
#[derive(Debug, Clone, Args)]
pub struct SigningArgs {
    /// Private key to sign with (PKCS#8, SEC1, or cosign's encrypted format). Its password
    /// comes from REPROVE_PASSWORD or COSIGN_PASSWORD, or a prompt on the terminal.
    #[arg(long, value_name = "KEY", conflicts_with = "keyless")]
    pub key: Option<PathBuf>,
    /// Sign keylessly: an ephemeral key, a Fulcio certificate for your OIDC identity, and a
    /// Rekor log entry (the default in a CI job that can hand out an identity token, when no
    /// --key is given).
    #[arg(long)]
    pub keyless: bool,
    /// Keyless: the OIDC identity token, or @FILE to read it from a file (default:
    /// SIGSTORE_ID_TOKEN, else the CI's ambient token, e.g. GitHub Actions with
    /// `id-token: write`).
    #[arg(long, value_name = "TOKEN", requires = "keyless")]
    pub identity_token: Option<String>,
    /// Keyless: a Sigstore signing config (signing_config.json) naming Fulcio, Rekor and a
    /// timestamp authority (default: the public-good instance).
    #[arg(long, value_name = "FILE", env = "REPROVE_SIGNING_CONFIG")]
    pub signing_config: Option<PathBuf>,
    /// Keyless: the Fulcio certificate authority (with --rekor-url; overrides the signing config).
    #[arg(long, value_name = "URL", env = "REPROVE_FULCIO_URL")]
    pub fulcio_url: Option<String>,
    /// Keyless: the Rekor transparency log (with --fulcio-url; overrides the signing config).
    #[arg(long, value_name = "URL", env = "REPROVE_REKOR_URL")]
    pub rekor_url: Option<String>,
    /// Keyless: an RFC 3161 timestamp authority, e.g. https://timestamp.sigstore.dev/api/v1/timestamp.
    #[arg(long, value_name = "URL", env = "REPROVE_TSA_URL")]
    pub tsa_url: Option<String>,
    /// Keyless: the deployment's trusted root, to verify each signature before it is written
    /// (default: Sigstore's production root for the public-good instance; REPROVE_TRUSTED_ROOT).
    #[arg(long = "trusted-root", value_name = "FILE")]
    pub signing_trusted_root: Option<PathBuf>,
}

impl SigningArgs {
    /// Keyless, with everything from the environment as the flags' `env` would give it (for
    /// a command whose own flags name something else, as `verify --vsa-keyless`).
    pub fn keyless_from_env() -> SigningArgs {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        SigningArgs {
            key: None,
            keyless: true,
            identity_token: None,
            signing_config: var("REPROVE_SIGNING_CONFIG").map(PathBuf::from),
            fulcio_url: var("REPROVE_FULCIO_URL"),
            rekor_url: var("REPROVE_REKOR_URL"),
            tsa_url: var("REPROVE_TSA_URL"),
            signing_trusted_root: None,
        }
    }

    /// The signer: the key read now (a wrong password fails before any work), or the keyless
    /// signer with its identity token found now (an expired token fails before any work).
    pub fn signer(&self) -> Result<Box<dyn reprove_attest::StatementSigner>> {
        if let Some(k) = &self.key {
            return Ok(Box::new(crate::keys::read_private_key(k)?));
        }
        if !self.keyless && !reprove_keyless::ambient_token_available() {
            anyhow::bail!(
                "nothing to sign with: give --key KEY, or --keyless to sign with an OIDC identity"
            );
        }
        let services = reprove_keyless::Services {
            trusted_root: read_root(self.signing_trusted_root.as_deref())?,
            signing_config: self.signing_config.clone(),
            fulcio_url: self.fulcio_url.clone(),
            rekor_url: self.rekor_url.clone(),
            tsa_url: self.tsa_url.clone(),
        };
        if !self.keyless {
            crate::output::warn(&format!(
                "no --key given and this CI job can hand out an identity token: signing keylessly, {}",
                if services.is_custom() {
                    "with the Sigstore services named".to_owned()
                } else {
                    "with an entry naming this job's identity in Sigstore's PUBLIC transparency log (give --key to sign with a key instead)".to_owned()
                }
            ));
        }
        let token = match &self.identity_token {
            Some(t) => reprove_keyless::TokenSource::Given(t.clone()),
            None => reprove_keyless::TokenSource::Environment,
        };
        let signer = reprove_keyless::KeylessSigner::new(&token, &services)
            .context("failed to prepare keyless signing")?;
        if !signer.checks_bundles() {
            crate::output::warn(
                "the signatures cannot be verified before they are written: give --trusted-root (the deployment's trusted_root.json)",
            );
        }
        crate::output::note(&format!(
            "signing keylessly with a token for `{}` from `{}`, with Fulcio `{}`, Rekor `{}`{}",
            reprove_escape::terminal(signer.identity()),
            reprove_escape::terminal(signer.issuer()),
            reprove_escape::terminal(signer.fulcio_url()),
            reprove_escape::terminal(signer.rekor_url()),
            signer
                .tsa_url()
                .map(|t| format!(", timestamps from `{}`", reprove_escape::terminal(t)))
                .unwrap_or_default()
        ));
        Ok(Box::new(signer))
    }
}

/// One `--artifacts` value: a folder of published files, or a published container image
/// (`oci://REGISTRY/REPOSITORY@sha256:…`, or `:TAG` where only resolving it is asked).
#[derive(Debug, Clone)]
pub enum PublishedArg {
    Folder(PathBuf),
    Image(reprove_release::image::ImageArtifact),
}

impl std::str::FromStr for PublishedArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if reprove_release::image::ImageArtifact::is_image(s) {
            s.parse()
                .map(PublishedArg::Image)
                .map_err(|e: reprove_release::ReleaseError| e.to_string())
        } else {
            Ok(PublishedArg::Folder(PathBuf::from(s)))
        }
    }
}

/// The `--artifacts` values split: at most one folder, any number of images (each once).
pub fn split_published(
    values: &[PublishedArg],
) -> Result<(Option<PathBuf>, Vec<reprove_release::image::ImageArtifact>)> {
    let mut folder = None;
    let mut images: Vec<reprove_release::image::ImageArtifact> = Vec::new();
    for v in values {
        match v {
            PublishedArg::Folder(p) => {
                if let Some(first) = folder.replace(p.clone()) {
                    anyhow::bail!(
                        "--artifacts names two folders (`{}` and `{}`): the published files are one flat folder",
                        first.display(),
                        p.display()
                    );
                }
            }
            PublishedArg::Image(i) => {
                if images.contains(i) {
                    anyhow::bail!("--artifacts names `{i}` twice");
                }
                images.push(i.clone());
            }
        }
    }
    Ok((folder, images))
}
