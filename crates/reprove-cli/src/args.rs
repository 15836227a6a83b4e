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
    /// Keyless: expected certificate identity (exact).
    #[arg(long, value_name = "ID", requires = "certificate_oidc_issuer")]
    pub certificate_identity: Option<String>,
    /// Keyless: expected OIDC issuer (exact).
    #[arg(long, value_name = "URL", requires = "certificate_identity")]
    pub certificate_oidc_issuer: Option<String>,
    /// Trusted root JSON for keyless bundles (default: Sigstore's production root, built in).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
}

impl TrustArgs {
    /// The signers the flags name (keys read and parsed now).
    pub fn signers(&self) -> Result<Vec<Signer>> {
        signers(
            &self.keys,
            self.certificate_identity
                .clone()
                .zip(self.certificate_oidc_issuer.clone()),
        )
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
pub fn signers(keys: &[PathBuf], identity: Option<(String, String)>) -> Result<Vec<Signer>> {
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

/// A trusted root JSON given with --trusted-root (a regular file of at most 16 MiB).
pub fn read_root(p: Option<&Path>) -> Result<Option<String>> {
    p.map(|p| {
        reprove_digest::read_regular_text(p, 16 << 20)
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
