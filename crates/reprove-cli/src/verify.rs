//! `reprove verify-bundle`.

use std::path::Path;

use anyhow::{Context as _, Result};
use reprove_attest::verify::{ArtifactInput, Signer, VerifyError, verify_bundle as verify};

use crate::commands::{Outcome, TextOrJson};
use reprove_escape::terminal;

use crate::output::stdout;

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

pub fn verify_bundle(
    bundle: &Path,
    key: Option<&Path>,
    identity: Option<(String, String)>,
    trusted_root: Option<&Path>,
    format: TextOrJson,
    file_or_digest: &str,
) -> Result<Outcome> {
    let bundle_bytes =
        reprove_digest::read_regular(bundle, reprove_attest::signed::MAX_BUNDLE_BYTES)
            .with_context(|| format!("failed to read the bundle `{}`", bundle.display()))?;
    let signer = match (key, identity) {
        (Some(k), _) => Signer::Key {
            key: crate::sign::read_public_key(k)?,
        },
        (None, Some((identity, issuer))) => Signer::Identity { identity, issuer },
        (None, None) => {
            anyhow::bail!("give --key, or --certificate-identity with --certificate-oidc-issuer")
        }
    };
    let root = match trusted_root {
        Some(p) => Some(crate::audit::read_root(Some(p))?.unwrap_or_default()),
        None => None,
    };
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
        Err(e @ VerifyError::BadBundle { .. }) => Err(VerifyError::Rejected {
            message: format!("bad-bundle: {}", reprove_attest::verify::error_chain(&e)),
        }),
        other => other,
    };
    match result {
        Ok(v) => {
            let out = match format {
                TextOrJson::Json => {
                    let mut b = serde_json::to_vec_pretty(&serde_json::json!({
                        "verified": true,
                        "bundle": bundle.display().to_string(),
                        "artifact": file_or_digest,
                        "checks": v.checks,
                        "notes": v.notes,
                        "statement": v.statement,
                    }))?;
                    b.push(b'\n');
                    b
                }
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
                TextOrJson::Json => {
                    let mut b = serde_json::to_vec_pretty(&serde_json::json!({
                        "verified": false,
                        "bundle": bundle.display().to_string(),
                        "artifact": file_or_digest,
                        "reason": message,
                    }))?;
                    b.push(b'\n');
                    b
                }
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
