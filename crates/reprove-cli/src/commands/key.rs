//! `reprove key generate` and `reprove key public`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Subcommand, ValueEnum};
use reprove_attest::{KeyAlgorithm, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::keys::{KEY_FILE_LIMIT, env_password, read_private_key};
use crate::outcome::Outcome;
use crate::output::{note, stdout, write_file_mode};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write PREFIX.key (PKCS#8 PEM, mode 0600; cosign-encrypted when REPROVE_PASSWORD or
    /// COSIGN_PASSWORD is set) and PREFIX.pub (SPKI PEM)
    #[command(
        after_help = "Examples:\n  reprove key generate -o release\n  REPROVE_PASSWORD=… reprove key generate --algorithm ed25519 -o ci/release"
    )]
    Generate {
        /// The key's algorithm: ECDSA P-256 (cosign's default) or Ed25519.
        #[arg(long, value_enum, default_value_t = AlgorithmArg::P256)]
        algorithm: AlgorithmArg,
        /// Path prefix of the two files.
        #[arg(short, long, value_name = "PREFIX")]
        output: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
        /// Write the private key unencrypted (otherwise its password comes from
        /// REPROVE_PASSWORD or COSIGN_PASSWORD, or is asked for twice on a terminal).
        #[arg(long)]
        no_password: bool,
    },
    /// Print the public key (SPKI PEM) of a private or public key file
    #[command(
        after_help = "Examples:\n  reprove key public release.key > release.pub\n  reprove key public cosign.key"
    )]
    Public {
        /// The key file (a private key, encrypted or not, or a public key).
        key: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    P256,
    Ed25519,
}

pub fn run(cmd: KeyCommand) -> Result<Outcome> {
    match cmd {
        KeyCommand::Generate {
            algorithm,
            output,
            force,
            no_password,
        } => {
            let alg = match algorithm {
                AlgorithmArg::P256 => KeyAlgorithm::P256,
                AlgorithmArg::Ed25519 => KeyAlgorithm::Ed25519,
            };
            generate(alg, &output, force, no_password)?;
        }
        KeyCommand::Public { key } => public(&key)?,
    }
    Ok(Outcome::Pass)
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The password the new key is encrypted with: from the environment, else asked twice on the
/// terminal; `None` only with `--no-password`. Never an unencrypted key by default.
fn new_key_password(no_password: bool) -> Result<Option<Zeroizing<String>>> {
    use std::io::IsTerminal as _;
    if no_password {
        return Ok(None);
    }
    if let Some(pw) = env_password() {
        return Ok(Some(pw));
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!(
            "no password for the new key: set REPROVE_PASSWORD (or COSIGN_PASSWORD), run on a terminal to be asked for one, or pass --no-password to write it unencrypted"
        );
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("password for the new key: ")
            .context("failed to read the password from the terminal")?,
    );
    if first.is_empty() {
        bail!(
            "an empty password encrypts nothing: pass --no-password to write the key unencrypted"
        );
    }
    let again = Zeroizing::new(
        rpassword::prompt_password("the same password again: ")
            .context("failed to read the password from the terminal")?,
    );
    if *first != *again {
        bail!("the two passwords differ: no key was written");
    }
    Ok(Some(first))
}

fn generate(algorithm: KeyAlgorithm, prefix: &Path, force: bool, no_password: bool) -> Result<()> {
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
    let password = new_key_password(no_password)?;
    let key = PrivateKey::generate(algorithm)?;
    let (private_pem, encrypted) = match password {
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
        crate::output::warn(&format!(
            "wrote `{}` (UNENCRYPTED, as --no-password asked; mode 0600) and `{}` ({algorithm})",
            key_path.display(),
            pub_path.display()
        ));
    }
    Ok(())
}

fn public(key: &Path) -> Result<()> {
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
