//! Signing keys: ECDSA P-256 (SHA-256, DER signatures — what cosign, securesystemslib and
//! sigstore-js expect) and Ed25519 (raw 64-byte signatures).
//!
//! Private keys read from PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) and cosign's
//! `ENCRYPTED SIGSTORE PRIVATE KEY` / legacy `ENCRYPTED COSIGN PRIVATE KEY`; they are written
//! as PKCS#8 or the cosign format. Public keys are SPKI (`PUBLIC KEY`). Private key material
//! never appears in `Debug` output or error messages.

use std::fmt;

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::cosign;

/// Errors from reading, writing and using keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported key: {what} (reprove signs with ECDSA P-256 or Ed25519)")]
    Unsupported { what: String },
    #[error("invalid {what} PEM: {reason}")]
    InvalidPem { what: &'static str, reason: String },
    #[error(
        "the key is encrypted and no password was given (set REPROVE_PASSWORD or COSIGN_PASSWORD, or run on a terminal)"
    )]
    PasswordRequired,
    #[error("wrong password for the encrypted private key")]
    WrongPassword,
    #[error("invalid encrypted private key: {reason}")]
    InvalidEncrypted { reason: String },
    #[error("failed to read random bytes from the operating system")]
    Random { reason: String },
    #[error("failed to encode the key: {reason}")]
    Encode { reason: String },
}

/// Which signature scheme a key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    P256,
    Ed25519,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::P256 => "ecdsa-p256",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }`
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A private signing key.
pub struct PrivateKey(PrivateInner);

enum PrivateInner {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, [redacted])", self.algorithm())
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, KeyError> {
    let mut buf = Zeroizing::new([0u8; N]);
    getrandom::fill(buf.as_mut()).map_err(|e| KeyError::Random {
        reason: e.to_string(),
    })?;
    Ok(buf)
}

pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, KeyError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| KeyError::Random {
        reason: e.to_string(),
    })?;
    Ok(buf)
}

/// What to do when a key is encrypted: return the password, or an error if none can be had.
pub type PasswordSource<'a> = &'a dyn Fn() -> Result<Zeroizing<String>, KeyError>;

impl PrivateKey {
    /// A new random key from the operating system's generator.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        Ok(PrivateKey(match algorithm {
            KeyAlgorithm::P256 => loop {
                // Rejection sampling: 32 random bytes are a valid scalar unless ≥ n or 0.
                let bytes = random::<32>()?;
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(bytes.as_ref()) {
                    break PrivateInner::P256(k);
                }
            },
            KeyAlgorithm::Ed25519 => {
                let seed = random::<32>()?;
                PrivateInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        }))
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.0 {
            PrivateInner::P256(_) => KeyAlgorithm::P256,
            PrivateInner::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// Reads a PEM private key; `password` is asked only for encrypted keys.
    pub fn from_pem(text: &str, password: PasswordSource<'_>) -> Result<Self, KeyError> {
        single_block(text, "private key")?;
        let label = pem_label(text).ok_or_else(|| KeyError::InvalidPem {
            what: "private key",
            reason: "no `-----BEGIN …-----` line".into(),
        })?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_pem(text),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_pem(text)
                .map(p256::ecdsa::SigningKey::from)
                .map(|k| PrivateKey(PrivateInner::P256(k)))
                .map_err(|e| KeyError::InvalidPem { what: "SEC1 private key", reason: e.to_string() }),
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                let body = pem_body(text)?;
                let password = password()?;
                let der = cosign::decrypt(&body, password.as_bytes())?;
                Self::from_pkcs8_der(&der)
            }
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Unsupported {
                what: "PKCS#8 encrypted keys (`ENCRYPTED PRIVATE KEY`); re-encrypt in cosign's format or decrypt it".into(),
            }),
            "PUBLIC KEY" => Err(KeyError::InvalidPem {
                what: "private key",
                reason: "this is a public key; signing needs the private key".into(),
            }),
            other => Err(KeyError::Unsupported { what: format!("PEM type `{other}`") }),
        }
    }

    fn from_pkcs8_pem(text: &str) -> Result<Self, KeyError> {
        let der = pem_body(text)?;
        Self::from_pkcs8_der(&der)
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey(PrivateInner::P256(k)));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey(PrivateInner::Ed25519(k)));
        }
        Err(KeyError::Unsupported {
            what: "a PKCS#8 key that is neither P-256 nor Ed25519".into(),
        })
    }

    fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match &self.0 {
            PrivateInner::P256(k) => {
                let doc = k.to_pkcs8_der().map_err(|e| KeyError::Encode {
                    reason: e.to_string(),
                })?;
                Ok(Zeroizing::new(doc.as_bytes().to_vec()))
            }
            // RFC 8410 §7 version 1 (seed only). The v2 form with the public key attached,
            // which ed25519-dalek writes, is refused by OpenSSL 3.0.
            PrivateInner::Ed25519(k) => {
                let mut der = Zeroizing::new(ED25519_PKCS8_V1_PREFIX.to_vec());
                der.extend_from_slice(k.as_bytes());
                Ok(der)
            }
        }
    }

    /// Unencrypted PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        Ok(Zeroizing::new(pem_encode(
            "PRIVATE KEY",
            &self.pkcs8_der()?,
        )))
    }

    /// cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` PEM, interchangeable with `cosign generate-key-pair`.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String, KeyError> {
        let body = cosign::encrypt(&self.pkcs8_der()?, password)?;
        Ok(pem_encode("ENCRYPTED SIGSTORE PRIVATE KEY", &body))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            PrivateInner::P256(k) => PublicInner::P256(*k.verifying_key()),
            PrivateInner::Ed25519(k) => PublicInner::Ed25519(k.verifying_key()),
        })
    }

    /// Signs `message`: ECDSA P-256 over SHA-256 (DER), or Ed25519 (64 raw bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.0 {
            PrivateInner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            PrivateInner::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

/// A public verification key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(PublicInner);

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.algorithm(), self.hint())
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is not well-formed for {algorithm}")]
    Malformed { algorithm: KeyAlgorithm },
    #[error("the signature does not match the key and data")]
    Mismatch,
    #[error("{algorithm} cannot verify a signature over a bare digest")]
    DigestOnly { algorithm: KeyAlgorithm },
}

impl PublicKey {
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.0 {
            PublicInner::P256(_) => KeyAlgorithm::P256,
            PublicInner::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// Reads an SPKI `PUBLIC KEY` PEM.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        single_block(text, "public key")?;
        match pem_label(text).as_deref() {
            Some("PUBLIC KEY") => {}
            Some(l) if l.contains("PRIVATE KEY") => {
                return Err(KeyError::InvalidPem {
                    what: "public key",
                    reason: "this is a private key; pass the `.pub` file (reprove key public KEY prints it)".into(),
                });
            }
            Some(other) => {
                return Err(KeyError::Unsupported {
                    what: format!("PEM type `{other}`"),
                });
            }
            None => {
                return Err(KeyError::InvalidPem {
                    what: "public key",
                    reason: "no `-----BEGIN PUBLIC KEY-----` line".into(),
                });
            }
        }
        let der = pem_body(text)?;
        Self::from_spki_der(&der)
    }

    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey(PublicInner::P256(k)));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey(PublicInner::Ed25519(k)));
        }
        Err(KeyError::Unsupported {
            what: "a public key that is neither P-256 nor Ed25519".into(),
        })
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        let doc = match &self.0 {
            PublicInner::P256(k) => k.to_public_key_der(),
            PublicInner::Ed25519(k) => k.to_public_key_der(),
        };
        // Encoding a valid in-memory key cannot fail; an empty result would fail every check.
        doc.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// SPKI PEM with 64-column lines and a trailing newline (as securesystemslib writes it).
    pub fn to_pem(&self) -> String {
        let pem = match &self.0 {
            PublicInner::P256(k) => k.to_public_key_pem(LineEnding::LF),
            PublicInner::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        };
        pem.unwrap_or_else(|_| pem_encode("PUBLIC KEY", &self.spki_der()))
    }

    /// The Sigstore bundle key hint: standard base64 of sha256 over the DER SPKI (cosign's and
    /// sigstore-rust's convention).
    pub fn hint(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(self.spki_der()))
    }

    /// model-signing's key hint: hex sha256 of the PEM text.
    pub fn pem_hint(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.to_pem().as_bytes()))
    }

    /// Whether a bundle's `publicKey.hint` names this key under either convention. An empty
    /// hint names no key in particular.
    pub fn matches_hint(&self, hint: &str) -> bool {
        hint.is_empty() || hint == self.hint() || hint.eq_ignore_ascii_case(&self.pem_hint())
    }

    /// securesystemslib's keyid: sha256 of the OLPC canonical JSON of
    /// `{"keytype", "keyval": {"public"}, "scheme"}` (strings escape only `"` and `\`).
    pub fn sslib_keyid(&self) -> String {
        let (keytype, scheme, public) = match &self.0 {
            PublicInner::P256(_) => ("ecdsa", "ecdsa-sha2-nistp256", self.to_pem()),
            PublicInner::Ed25519(k) => ("ed25519", "ed25519", hex::encode(k.as_bytes())),
        };
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let canonical = format!(
            "{{\"keytype\":\"{}\",\"keyval\":{{\"public\":\"{}\"}},\"scheme\":\"{}\"}}",
            esc(keytype),
            esc(&public),
            esc(scheme)
        );
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// Verifies `signature` over `message`. ECDSA accepts DER (the standard) and, for
    /// compatibility, fixed-size r‖s.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        match &self.0 {
            PublicInner::P256(k) => {
                let sig = parse_ecdsa(signature)?;
                k.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            PublicInner::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| {
                    SignatureError::Malformed {
                        algorithm: KeyAlgorithm::Ed25519,
                    }
                })?;
                k.verify_strict(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
        }
    }

    /// Verifies an ECDSA signature over a message known only by its sha256 digest.
    pub fn verify_sha256_prehash(
        &self,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        match &self.0 {
            PublicInner::P256(k) => {
                let sig = parse_ecdsa(signature)?;
                k.verify_prehash(digest, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            PublicInner::Ed25519(_) => Err(SignatureError::DigestOnly {
                algorithm: KeyAlgorithm::Ed25519,
            }),
        }
    }
}

fn parse_ecdsa(signature: &[u8]) -> Result<p256::ecdsa::Signature, SignatureError> {
    p256::ecdsa::Signature::from_der(signature)
        .or_else(|_| p256::ecdsa::Signature::from_slice(signature))
        .map_err(|_| SignatureError::Malformed {
            algorithm: KeyAlgorithm::P256,
        })
}

/// A key file holds one key. With several PEM blocks, which one is meant is a guess — and a
/// file that says one key to one tool and another to the next is refused.
fn single_block(text: &str, what: &'static str) -> Result<(), KeyError> {
    let n = text.matches("-----BEGIN ").count();
    if n > 1 {
        return Err(KeyError::InvalidPem {
            what,
            reason: format!("the file holds {n} PEM blocks; give a file with exactly one key"),
        });
    }
    Ok(())
}

fn pem_label(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = text[start..].find("-----")?;
    Some(text[start..start + end].to_owned())
}

/// The base64 body of the first PEM block, decoded.
fn pem_body(text: &str) -> Result<Vec<u8>, KeyError> {
    let label = pem_label(text).ok_or_else(|| KeyError::InvalidPem {
        what: "key",
        reason: "no BEGIN line".into(),
    })?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).map(|i| i + begin.len()).unwrap_or(0);
    let stop = text[start..]
        .find(&end)
        .map(|i| start + i)
        .ok_or_else(|| KeyError::InvalidPem {
            what: "key",
            reason: format!("no `{end}` line"),
        })?;
    let b64: String = text[start..stop]
        .lines()
        // Skip RFC 1421 headers (`Proc-Type:`), which encrypted legacy keys may carry.
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| KeyError::InvalidPem {
            what: "key",
            reason: format!("bad base64: {e}"),
        })
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_password() -> Result<Zeroizing<String>, KeyError> {
        Err(KeyError::PasswordRequired)
    }

    #[test]
    fn generate_sign_verify_round_trip_both_algorithms() {
        for alg in [KeyAlgorithm::P256, KeyAlgorithm::Ed25519] {
            let k = PrivateKey::generate(alg).unwrap();
            let pem = k.to_pkcs8_pem().unwrap();
            let back = PrivateKey::from_pem(&pem, &no_password).unwrap();
            assert_eq!(back.public_key(), k.public_key());
            let sig = back.sign(b"hello");
            let pubk = PublicKey::from_pem(&k.public_key().to_pem()).unwrap();
            pubk.verify(b"hello", &sig).unwrap();
            assert_eq!(pubk.verify(b"hellO", &sig), Err(SignatureError::Mismatch));
            assert!(!format!("{k:?}").contains(&pem[40..60]));
        }
    }

    #[test]
    fn ed25519_private_keys_are_pkcs8_v1() {
        let k = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let der = k.pkcs8_der().unwrap();
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..16], &ED25519_PKCS8_V1_PREFIX);
        let back = PrivateKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.public_key(), k.public_key());
    }

    #[test]
    fn a_file_with_two_keys_is_refused() {
        // Regression (issue 11): the second key was silently ignored.
        let a = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let b = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let two_public = format!("{}{}", a.public_key().to_pem(), b.public_key().to_pem());
        let err = PublicKey::from_pem(&two_public).unwrap_err().to_string();
        assert!(err.contains("2 PEM blocks"), "{err}");
        let two_private = format!(
            "{}{}",
            a.to_pkcs8_pem().unwrap().as_str(),
            b.to_pkcs8_pem().unwrap().as_str()
        );
        assert!(PrivateKey::from_pem(&two_private, &|| unreachable!()).is_err());
        // Explanatory text around one block is fine (RFC 7468 §2).
        let one = format!("a comment\n{}", a.public_key().to_pem());
        assert!(PublicKey::from_pem(&one).is_ok());
    }

    #[test]
    fn wrong_kinds_of_pem_are_explained() {
        let k = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let public = k.public_key().to_pem();
        assert!(
            PrivateKey::from_pem(&public, &no_password)
                .unwrap_err()
                .to_string()
                .contains("public key")
        );
        let private = k.to_pkcs8_pem().unwrap();
        let err = PublicKey::from_pem(&private).unwrap_err().to_string();
        assert!(err.contains("private key"), "{err}");
        assert!(!err.contains(&private[30..60]), "never echo key material");
        assert!(PublicKey::from_pem("garbage").is_err());
    }
}
