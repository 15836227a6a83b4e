//! Reading keys named on the command line: regular files only, capped, the password of an
//! encrypted key from the environment or a prompt (never printed or logged).

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use reprove_attest::keys::KeyError;
use reprove_attest::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

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
pub const KEY_FILE_LIMIT: u64 = 64 << 10;

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
