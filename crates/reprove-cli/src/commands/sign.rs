//! `reprove sign`: a statement file's exact bytes into a Sigstore bundle or DSSE envelope.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use reprove_attest::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};

use crate::keys::read_private_key;
use crate::outcome::Outcome;
use crate::output::note;

/// Sign an in-toto statement into a Sigstore bundle (or, with --dsse, a DSSE envelope)
///
/// The statement file's exact bytes are the signed payload. The password of an encrypted
/// key comes from REPROVE_PASSWORD or COSIGN_PASSWORD, or a prompt on the terminal.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove sign statement.json --key release.key -o statement.sigstore.json\n  reprove sign statement.json --key release.key --dsse -o statement.dsse.json\n  reprove sign statement.json --keyless -o statement.sigstore.json"
)]
pub struct SignArgs {
    /// The in-toto Statement v1 (JSON) to sign.
    statement: PathBuf,
    #[command(flatten)]
    signing: crate::args::SigningArgs,
    /// Where to write the bundle (atomically).
    #[arg(short, long, value_name = "BUNDLE")]
    output: PathBuf,
    /// Write a bare DSSE envelope (for in-toto/securesystemslib tools) instead of a bundle
    /// (key signing only: a keyless signature needs the bundle's certificate and log entry).
    #[arg(long, conflicts_with = "keyless")]
    dsse: bool,
    /// Overwrite BUNDLE if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: SignArgs) -> Result<Outcome> {
    sign(
        &args.statement,
        &args.signing,
        &args.output,
        args.dsse,
        args.force,
    )?;
    Ok(Outcome::Pass)
}

/// Checks the in-toto Statement v1 rules a verifier will enforce, on a parsed copy; the
/// signed payload stays the file's exact bytes.
fn validate_statement(bytes: &[u8], path: &Path) -> Result<()> {
    // Strict: a statement with a key twice reads differently in different verifiers, and
    // must never be signed.
    let v: serde_json::Value = reprove_attest::json::parse(bytes)
        .with_context(|| format!("`{}` cannot be signed", path.display()))?;
    let st: reprove_attest::Statement<serde_json::Value> = serde_json::from_value(v)
        .with_context(|| format!("`{}` is not an in-toto statement (needs `_type`, `subject`, `predicateType`, `predicate`)", path.display()))?;
    if st.type_ != reprove_attest::STATEMENT_V1 {
        bail!(
            "`{}` has `_type` `{}`; reprove signs in-toto Statement v1 (`{}`)",
            path.display(),
            st.type_,
            reprove_attest::STATEMENT_V1
        );
    }
    if st.predicate_type.is_empty() {
        bail!("`{}` has an empty `predicateType`", path.display());
    }
    st.validate()
        .with_context(|| format!("`{}` is not a valid in-toto Statement v1", path.display()))?;
    Ok(())
}

fn sign(
    statement: &Path,
    signing: &crate::args::SigningArgs,
    output: &Path,
    dsse: bool,
    force: bool,
) -> Result<()> {
    if !force && output.exists() {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            output.display()
        );
    }
    let bytes = reprove_digest::read_regular(statement, reprove_attest::signed::MAX_BUNDLE_BYTES)
        .with_context(|| format!("failed to read `{}`", statement.display()))?;
    validate_statement(&bytes, statement)?;
    let Some(key) = &signing.key else {
        if dsse {
            bail!("--dsse writes a key-signed envelope: give --key");
        }
        let signer = signing.signer()?;
        let out = signer.sign_statement(bytes)?;
        crate::output::write_file(output, &out, force)?;
        note(&format!(
            "signed `{}` as {} → `{}` (Sigstore bundle v0.3)",
            statement.display(),
            signer.describe(),
            output.display()
        ));
        return Ok(());
    };
    let key = read_private_key(key)?;
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, bytes, &key);
    let doc = if dsse {
        envelope.to_json_value()
    } else {
        reprove_attest::bundle::key_signed_bundle(&envelope, &key.public_key())
    };
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    crate::output::write_file(output, &out, force)?;
    note(&format!(
        "signed `{}` with {} key {} → `{}` ({})",
        statement.display(),
        key.algorithm(),
        key.public_key().hint(),
        output.display(),
        if dsse {
            "DSSE envelope"
        } else {
            "Sigstore bundle v0.3"
        }
    ));
    Ok(())
}
