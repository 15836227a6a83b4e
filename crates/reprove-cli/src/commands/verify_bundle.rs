//! `reprove verify-bundle`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;
use reprove_attest::verify::{ArtifactInput, Signer, VerifyError, verify_bundle as verify};
use reprove_escape::terminal;

use crate::args::TextOrJson;
use crate::outcome::Outcome;
use crate::output::stdout;

/// Verify a Sigstore bundle for a file or digest, offline
///
/// Key-signed bundles are checked against --key; keyless ones against the certificate
/// identity and OIDC issuer, with Sigstore's production trusted root built in
/// (--trusted-root replaces it). Follows the sigstore-conformance CLI protocol.
/// Exit 0 verified, 1 rejected, 2 unusable input.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove verify-bundle --bundle app.sigstore.json --key release.pub dist/app.tar.gz\n  reprove verify-bundle --bundle app.sigstore.json --certificate-identity https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com dist/app.tar.gz"
)]
pub struct VerifyBundleArgs {
    /// The Sigstore bundle (or bare DSSE envelope) to verify.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// Public key (SPKI PEM) for key-signed bundles.
    #[arg(long, value_name = "PUB")]
    key: Option<PathBuf>,
    #[command(flatten)]
    identity: crate::args::IdentityArgs,
    /// Trusted root JSON to use instead of Sigstore's production root.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Output format: text for people, or JSON.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
    /// The signed file, or `sha256:<64 hex>`.
    file_or_digest: String,
}

pub fn run(args: VerifyBundleArgs) -> Result<Outcome> {
    if args.key.is_some() && args.identity.is_given() {
        anyhow::bail!("--key cannot be used with a keyless identity (--certificate-identity…)");
    }
    if args.key.is_none() && !args.identity.is_given() {
        anyhow::bail!(
            "give --key, or --certificate-identity (or -regexp) with --certificate-oidc-issuer (or -regexp)"
        );
    }
    verify_bundle(
        &args.bundle,
        args.key.as_deref(),
        args.identity.expected()?,
        args.trusted_root.as_deref(),
        args.format,
        &args.file_or_digest,
    )
}

/// `sha256:<64 lowercase hex>` is a digest; anything else is a path (the conformance rule).
fn artifact_input(arg: &str) -> ArtifactInput {
    if let Some(hex_str) = arg.strip_prefix("sha256:")
        && hex_str.len() == 64
        && let Ok(bytes) = hex::decode(hex_str)
        && let Ok(d) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return ArtifactInput::Sha256(d);
    }
    ArtifactInput::File(arg.into())
}

fn verify_bundle(
    bundle: &Path,
    key: Option<&Path>,
    identity: Option<(
        reprove_attest::verify::Expected,
        reprove_attest::verify::Expected,
    )>,
    trusted_root: Option<&Path>,
    format: TextOrJson,
    file_or_digest: &str,
) -> Result<Outcome> {
    let bundle_bytes =
        reprove_digest::read_regular(bundle, reprove_attest::signed::MAX_BUNDLE_BYTES)
            .with_context(|| format!("failed to read the bundle `{}`", bundle.display()))?;
    let signer = match (key, identity) {
        (Some(k), _) => Signer::Key {
            key: crate::keys::read_public_key(k)?,
        },
        (None, Some((identity, issuer))) => Signer::Identity { identity, issuer },
        (None, None) => {
            anyhow::bail!(
                "give --key, or --certificate-identity (or -regexp) with --certificate-oidc-issuer (or -regexp)"
            )
        }
    };
    let root = crate::args::read_root(trusted_root)?;
    let artifact = artifact_input(file_or_digest);
    if let ArtifactInput::File(p) = &artifact
        && !p.is_file()
    {
        anyhow::bail!(
            "the artifact `{}` is not a readable file (or a `sha256:<64 hex>` digest)",
            p.display()
        );
    }
    let result = match verify(&bundle_bytes, &artifact, &signer, root.as_deref()) {
        // Not JSON at all: unusable input (exit 2), not a rejection.
        Err(e) if e.is_unusable() => {
            return Err(anyhow::anyhow!(reprove_attest::verify::error_chain(&e)));
        }
        // A bundle readers could read differently is rejected before any signature is looked
        // at (finding `bad-bundle`).
        // A signed part altered so that it no longer decodes: a signature that does not match.
        Err(
            e @ VerifyError::BadBundle {
                source: reprove_attest::bundle::BundleError::Altered { .. },
            },
        ) => Err(VerifyError::Rejected {
            message: format!("bad-signature: {}", reprove_attest::verify::error_chain(&e)),
        }),
        Err(e @ VerifyError::BadBundle { .. }) => Err(VerifyError::Rejected {
            message: format!("bad-bundle: {}", reprove_attest::verify::error_chain(&e)),
        }),
        other => other,
    };
    match result {
        Ok(v) => {
            let out = match format {
                TextOrJson::Json => crate::output::json_doc(
                    crate::output::JsonDoc::VerifyBundle,
                    serde_json::json!({
                        "verified": true,
                        "bundle": bundle.display().to_string(),
                        "artifact": file_or_digest,
                        "checks": v.checks,
                        "notes": v.notes,
                        "statement": v.statement,
                    }),
                )?,
                TextOrJson::Text => {
                    let mut s = format!(
                        "verified `{}` against `{}`\n",
                        terminal(&bundle.display().to_string()),
                        terminal(file_or_digest)
                    );
                    let w = v.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
                    for c in &v.checks {
                        // Details quote the bundle (subject names, identities).
                        s.push_str(&format!("  {:w$}  {}\n", c.name, terminal(&c.detail)));
                    }
                    for n in &v.notes {
                        s.push_str(&format!("note: {}\n", terminal(n)));
                    }
                    s.into_bytes()
                }
            };
            stdout(&out)?;
            Ok(Outcome::Pass)
        }
        Err(VerifyError::Rejected { message }) => {
            let out = match format {
                TextOrJson::Json => crate::output::json_doc(
                    crate::output::JsonDoc::VerifyBundle,
                    serde_json::json!({
                        "verified": false,
                        "bundle": bundle.display().to_string(),
                        "artifact": file_or_digest,
                        "reason": message,
                    }),
                )?,
                TextOrJson::Text => format!(
                    "rejected `{}`: {}\n",
                    terminal(&bundle.display().to_string()),
                    terminal(&message)
                )
                .into_bytes(),
            };
            stdout(&out)?;
            Ok(Outcome::Fail)
        }
        Err(VerifyError::Unusable { message }) => Err(anyhow::anyhow!(message)),
        Err(e @ VerifyError::BadBundle { .. }) => Err(anyhow::anyhow!(e.to_string())),
    }
}
