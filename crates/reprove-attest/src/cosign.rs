//! cosign's encrypted private key format (sigstore `cryptoutils`, via go-tuf's `encrypted`
//! package): the PEM body is JSON
//! `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},"cipher":{"name":"nacl/secretbox","nonce"},"ciphertext"}`
//! where the secretbox key is scrypt(password, salt) and the plaintext is the PKCS#8 DER key.

use crypto_secretbox::aead::{Aead, KeyInit};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keys::{KeyError, random_bytes};

/// cosign's parameters (go-tuf `encrypted` "standard": N = 2^15, r = 8, p = 1).
const LOG_N: u8 = 15;
const R: u32 = 8;
const P: u32 = 1;
/// Refuse work factors that would take minutes or gigabytes: scrypt needs 128·r·(N + p) bytes.
/// cosign writes N = 2^15, r = 8 (32 MiB); older cosign N = 2^16 (64 MiB).
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
const MAX_LOG_N: u8 = 20;
const MAX_P: u32 = 4;

#[derive(Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: Params,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Params {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

fn derive(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let params = scrypt::Params::new(log_n, r, p).map_err(|e| KeyError::InvalidEncrypted {
        reason: format!("bad scrypt parameters: {e}"),
    })?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, key.as_mut()).map_err(|e| {
        KeyError::InvalidEncrypted {
            reason: format!("scrypt failed: {e}"),
        }
    })?;
    Ok(key)
}

pub(crate) fn encrypt(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    let salt = random_bytes(32)?;
    let nonce = random_bytes(24)?;
    let key = derive(password, &salt, LOG_N, R, P)?;
    let cipher =
        crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_ref()));
    let ciphertext = cipher
        .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| KeyError::Encode {
            reason: "secretbox encryption failed".into(),
        })?;
    let doc = Encrypted {
        kdf: Kdf {
            name: "scrypt".into(),
            params: Params {
                n: 1 << LOG_N,
                r: R,
                p: P,
            },
            salt,
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce,
        },
        ciphertext,
    };
    serde_json::to_vec(&doc).map_err(|e| KeyError::Encode {
        reason: e.to_string(),
    })
}

pub(crate) fn decrypt(body: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let bad = |reason: &str| KeyError::InvalidEncrypted {
        reason: reason.to_owned(),
    };
    let doc: Encrypted =
        serde_json::from_slice(body).map_err(|e| bad(&format!("not cosign's JSON: {e}")))?;
    if doc.kdf.name != "scrypt" {
        return Err(bad(&format!(
            "unsupported key derivation `{}`",
            doc.kdf.name
        )));
    }
    if doc.cipher.name != "nacl/secretbox" {
        return Err(bad(&format!("unsupported cipher `{}`", doc.cipher.name)));
    }
    let n = doc.kdf.params.n;
    if !n.is_power_of_two() || n < 2 {
        return Err(bad("scrypt N is not a power of two"));
    }
    let log_n = n.trailing_zeros() as u8;
    // scrypt holds V (128·r·N bytes) and the p parallel blocks B (128·r·p bytes) at once
    // (RFC 7914 §6): both count toward the bound.
    let memory = 128u64
        .saturating_mul(u64::from(doc.kdf.params.r))
        .saturating_mul(n.saturating_add(u64::from(doc.kdf.params.p)));
    if log_n > MAX_LOG_N
        || doc.kdf.params.r == 0
        || memory > MAX_SCRYPT_MEMORY
        || doc.kdf.params.p > MAX_P
    {
        return Err(bad("scrypt work factor too large"));
    }
    if doc.cipher.nonce.len() != 24 {
        return Err(bad("the nonce must be 24 bytes"));
    }
    let key = derive(
        password,
        &doc.kdf.salt,
        log_n,
        doc.kdf.params.r,
        doc.kdf.params.p,
    )?;
    let cipher =
        crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_ref()));
    cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&doc.cipher.nonce),
            doc.ciphertext.as_slice(),
        )
        .map(Zeroizing::new)
        // Poly1305 fails exactly when the key (so the password) is wrong or the data altered.
        .map_err(|_| KeyError::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn round_trip_and_wrong_password() {
        let body = encrypt(b"secret der", b"pw").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kdf"]["params"]["N"], 32768);
        assert_eq!(v["cipher"]["name"], "nacl/secretbox");
        assert_eq!(&decrypt(&body, b"pw").unwrap()[..], b"secret der");
        assert!(matches!(
            decrypt(&body, b"nope"),
            Err(KeyError::WrongPassword)
        ));
    }

    #[test]
    fn refuses_huge_work_factors() {
        for params in [
            r#""N":1073741824,"r":8,"p":1"#,
            r#""N":1048576,"r":32,"p":1"#,
            r#""N":32768,"r":8,"p":16"#,
            // Regression (issue 11): a small N with a huge r passed the bound that counted
            // 128·r·N only, and took ~900 MB through the p blocks.
            r#""N":2,"r":1048576,"p":4"#,
        ] {
            let body = format!(
                r#"{{"kdf":{{"name":"scrypt","params":{{{params}}},"salt":"AA=="}},"cipher":{{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},"ciphertext":"AA=="}}"#
            );
            assert!(
                decrypt(body.as_bytes(), b"x")
                    .unwrap_err()
                    .to_string()
                    .contains("work factor"),
                "{params}"
            );
        }
    }

    #[test]
    fn reads_a_key_encrypted_by_go_tuf_parameters() {
        // Independent check of the construction: derive + secretbox with known inputs, as
        // cosign would, then decrypt through the public path.
        let salt = [7u8; 32];
        let nonce = [9u8; 24];
        let key = derive(b"cosign", &salt, LOG_N, R, P).unwrap();
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(
            key.as_ref(),
        ));
        let ct = cipher
            .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), &b"payload"[..])
            .unwrap();
        let e = base64::engine::general_purpose::STANDARD;
        let body = format!(
            r#"{{"kdf":{{"name":"scrypt","params":{{"N":32768,"r":8,"p":1}},"salt":"{}"}},"cipher":{{"name":"nacl/secretbox","nonce":"{}"}},"ciphertext":"{}"}}"#,
            e.encode(salt),
            e.encode(nonce),
            e.encode(&ct)
        );
        assert_eq!(
            &decrypt(body.as_bytes(), b"cosign").unwrap()[..],
            b"payload"
        );
    }
}
