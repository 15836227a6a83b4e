//! `reprove key …` and `reprove sign`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use reprove_attest::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use reprove_attest::keys::KeyError;
use reprove_attest::{KeyAlgorithm, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::output::{note, stdout, write_file_mode};

/// The password from `REPROVE_PASSWORD`, else `COSIGN_PASSWORD`; empty counts as unset.
pub fn env_password() -> Option<Zeroizing<String>> {
    ["REPROVE_PASSWORD", "COSIGN_PASSWORD"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|p| !p.is_empty())
        .map(Zeroizing::new)
}

/// Password for reading an encrypted key: the environment — where a variable set to the
/// empty string means the empty password, as with cosign — else a prompt on the terminal.
fn password_for_reading() -> Result<Zeroizing<String>, KeyError> {
    let set: Vec<Zeroizing<String>> = ["REPROVE_PASSWORD", "COSIGN_PASSWORD"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(Zeroizing::new)
        .collect();
    if let Some(p) = set.iter().find(|p| !p.is_empty()).or(set.first()) {
        return Ok(p.clone());
    }
    if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
        return Err(KeyError::PasswordRequired);
    }
    rpassword::prompt_password("password for the private key: ")
        .map(Zeroizing::new)
        .map_err(|_| KeyError::PasswordRequired)
}

/// A key file is a few hundred bytes of PEM; anything far larger is not one.
const KEY_FILE_LIMIT: u64 = 64 << 10;

pub fn read_private_key(path: &Path) -> Result<PrivateKey> {
    let text = Zeroizing::new(
        reprove_digest::read_regular_text(path, KEY_FILE_LIMIT)
            .with_context(|| format!("failed to read the private key `{}`", path.display()))?,
    );
    PrivateKey::from_pem(&text, &password_for_reading)
        .with_context(|| format!("failed to load the private key `{}`", path.display()))
}

pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    let text = reprove_digest::read_regular_text(path, KEY_FILE_LIMIT)
        .with_context(|| format!("failed to read the public key `{}`", path.display()))?;
    PublicKey::from_pem(&text)
        .with_context(|| format!("failed to load the public key `{}`", path.display()))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn generate(algorithm: KeyAlgorithm, prefix: &Path, force: bool) -> Result<()> {
    let key_path = with_suffix(prefix, ".key");
    let pub_path = with_suffix(prefix, ".pub");
    for p in [&key_path, &pub_path] {
        if !force && p.exists() {
            bail!(
                "`{}` already exists; pass --force to overwrite it",
                p.display()
            );
        }
    }
    let key = PrivateKey::generate(algorithm)?;
    let (private_pem, encrypted) = match env_password() {
        Some(pw) => (Zeroizing::new(key.to_encrypted_pem(pw.as_bytes())?), true),
        None => (key.to_pkcs8_pem()?, false),
    };
    write_file_mode(&key_path, private_pem.as_bytes(), force, 0o600)?;
    write_file_mode(
        &pub_path,
        key.public_key().to_pem().as_bytes(),
        force,
        0o644,
    )?;
    if encrypted {
        note(&format!(
            "wrote `{}` (encrypted, cosign format, mode 0600) and `{}` ({algorithm})",
            key_path.display(),
            pub_path.display()
        ));
    } else {
        note(&format!(
            "wrote `{}` (UNENCRYPTED: set REPROVE_PASSWORD or COSIGN_PASSWORD to encrypt it; mode 0600) and `{}` ({algorithm})",
            key_path.display(),
            pub_path.display()
        ));
    }
    Ok(())
}

pub fn public(key: &Path) -> Result<()> {
    let text = Zeroizing::new(
        reprove_digest::read_regular_text(key, KEY_FILE_LIMIT)
            .with_context(|| format!("failed to read `{}`", key.display()))?,
    );
    let public = if text.contains("-----BEGIN PUBLIC KEY-----") {
        PublicKey::from_pem(&text)
            .with_context(|| format!("failed to load the public key `{}`", key.display()))?
    } else {
        read_private_key(key)?.public_key()
    };
    stdout(public.to_pem().as_bytes())
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

pub fn sign(statement: &Path, key: &Path, output: &Path, dsse: bool, force: bool) -> Result<()> {
    if !force && output.exists() {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            output.display()
        );
    }
    let bytes = reprove_digest::read_regular(statement, reprove_attest::signed::MAX_BUNDLE_BYTES)
        .with_context(|| format!("failed to read `{}`", statement.display()))?;
    validate_statement(&bytes, statement)?;
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
