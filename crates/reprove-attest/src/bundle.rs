//! Sigstore bundles (<https://github.com/sigstore/protobuf-specs>, `sigstore_bundle.proto`).
//!
//! reprove writes key-signed v0.3 bundles: `verificationMaterial.publicKey.hint` (base64 of
//! sha256 over the DER SPKI), `tlogEntries: []` written explicitly (strict protobuf-JSON
//! readers reject omitted fields), and exactly one DSSE signature. Reading accepts v0.1–v0.3,
//! both media-type spellings, and DSSE or message-signature content.

use serde_json::{Value, json};

use crate::dsse::{Envelope, decode_base64};
use crate::keys::PublicKey;

pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Errors reading a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is not JSON: {reason}")]
    NotJson { reason: String },
    #[error("unsupported bundle media type `{media_type}`")]
    UnknownMediaType { media_type: String },
    #[error("malformed bundle: {reason}")]
    Malformed { reason: String },
}

/// Bundle versions reprove reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    V01,
    V02,
    V03,
}

/// Parses a bundle media type: `application/vnd.dev.sigstore.bundle+json;version=0.x` or
/// `application/vnd.dev.sigstore.bundle.v0.x+json`.
pub fn parse_media_type(mt: &str) -> Option<BundleVersion> {
    let v = if let Some(rest) = mt.strip_prefix("application/vnd.dev.sigstore.bundle+json;version=")
    {
        rest
    } else {
        mt.strip_prefix("application/vnd.dev.sigstore.bundle.v")?
            .strip_suffix("+json")?
    };
    match v {
        "0.1" => Some(BundleVersion::V01),
        "0.2" => Some(BundleVersion::V02),
        "0.3" => Some(BundleVersion::V03),
        _ => None,
    }
}

/// A key-signed v0.3 bundle around one DSSE envelope.
pub fn key_signed_bundle(envelope: &Envelope, key: &PublicKey) -> Value {
    json!({
        "mediaType": MEDIA_TYPE_V03,
        "verificationMaterial": {
            "publicKey": { "hint": key.hint() },
            "tlogEntries": [],
        },
        "dsseEnvelope": envelope.to_json_value(),
    })
}

/// What a bundle signs.
#[derive(Debug, Clone)]
pub enum Content {
    Dsse(Envelope),
    /// A signature over the artifact itself, with the artifact's digest.
    MessageSignature {
        algorithm: String,
        digest: Option<Vec<u8>>,
        signature: Vec<u8>,
    },
}

/// How a bundle identifies its signer.
#[derive(Debug, Clone)]
pub enum Material {
    PublicKeyHint(String),
    /// DER certificates, leaf first.
    Certificates(Vec<Vec<u8>>),
}

/// The parts of a bundle the key path needs; the raw JSON stays available for the keyless
/// verifier.
#[derive(Debug, Clone)]
pub struct ParsedBundle {
    pub version: BundleVersion,
    pub material: Material,
    pub content: Content,
    pub tlog_entries: usize,
    pub rfc3161_timestamps: usize,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

impl ParsedBundle {
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| BundleError::NotJson {
            reason: e.to_string(),
        })?;
        let malformed = |r: &str| BundleError::Malformed {
            reason: r.to_owned(),
        };
        let mt = str_at(&v, &["mediaType"]).ok_or_else(|| malformed("no `mediaType`"))?;
        let version = parse_media_type(mt).ok_or_else(|| BundleError::UnknownMediaType {
            media_type: mt.to_owned(),
        })?;
        let vm = v
            .get("verificationMaterial")
            .ok_or_else(|| malformed("no `verificationMaterial`"))?;
        let material = if let Some(pk) = vm.get("publicKey") {
            Material::PublicKeyHint(
                pk.get("hint")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )
        } else if let Some(chain) = vm.get("x509CertificateChain") {
            let certs = chain
                .get("certificates")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed("`x509CertificateChain` without `certificates`"))?;
            let ders: Option<Vec<Vec<u8>>> = certs
                .iter()
                .map(|c| str_at(c, &["rawBytes"]).and_then(decode_base64))
                .collect();
            let ders = ders.ok_or_else(|| malformed("a certificate is not base64"))?;
            if ders.is_empty() {
                return Err(malformed("empty certificate chain"));
            }
            Material::Certificates(ders)
        } else if let Some(cert) = vm.get("certificate") {
            let der = str_at(cert, &["rawBytes"])
                .and_then(decode_base64)
                .ok_or_else(|| malformed("the certificate is not base64"))?;
            Material::Certificates(vec![der])
        } else {
            return Err(malformed(
                "no public key or certificate in `verificationMaterial`",
            ));
        };
        let content = if let Some(env) = v.get("dsseEnvelope") {
            let env = Envelope::from_json_value(env).map_err(|e| malformed(&e.to_string()))?;
            // One signature per bundle: sigstore-js enforces it, and it keeps the meaning clear.
            if env.signatures.len() != 1 {
                return Err(malformed(&format!(
                    "a bundle's DSSE envelope must have exactly one signature, not {}",
                    env.signatures.len()
                )));
            }
            Content::Dsse(env)
        } else if let Some(ms) = v.get("messageSignature") {
            let signature = str_at(ms, &["signature"])
                .and_then(decode_base64)
                .ok_or_else(|| malformed("`messageSignature.signature` is not base64"))?;
            let algorithm = str_at(ms, &["messageDigest", "algorithm"])
                .unwrap_or("SHA2_256")
                .to_owned();
            let digest = match str_at(ms, &["messageDigest", "digest"]) {
                Some(d) => Some(
                    decode_base64(d)
                        .ok_or_else(|| malformed("`messageDigest.digest` is not base64"))?,
                ),
                None => None,
            };
            Content::MessageSignature {
                algorithm,
                digest,
                signature,
            }
        } else {
            return Err(malformed("neither `dsseEnvelope` nor `messageSignature`"));
        };
        let tlog_entries = vm
            .get("tlogEntries")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let rfc3161_timestamps = vm
            .get("timestampVerificationData")
            .and_then(|t| t.get("rfc3161Timestamps"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        Ok(ParsedBundle {
            version,
            material,
            content,
            tlog_entries,
            rfc3161_timestamps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
    use crate::keys::{KeyAlgorithm, PrivateKey};

    #[test]
    fn media_types() {
        assert_eq!(
            parse_media_type("application/vnd.dev.sigstore.bundle+json;version=0.1"),
            Some(BundleVersion::V01)
        );
        assert_eq!(
            parse_media_type("application/vnd.dev.sigstore.bundle.v0.3+json"),
            Some(BundleVersion::V03)
        );
        assert_eq!(
            parse_media_type("application/vnd.dev.sigstore.bundle.v0.4+json"),
            None
        );
        assert_eq!(parse_media_type("application/json"), None);
    }

    #[test]
    fn written_bundle_shape_and_round_trip() {
        let k = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}".to_vec(), &k);
        let b = key_signed_bundle(&env, &k.public_key());
        assert_eq!(b["mediaType"], MEDIA_TYPE_V03);
        assert_eq!(b["verificationMaterial"]["tlogEntries"], json!([]));
        assert_eq!(
            b["verificationMaterial"]["publicKey"]["hint"],
            k.public_key().hint()
        );
        let parsed = ParsedBundle::parse(serde_json::to_vec(&b).unwrap().as_slice()).unwrap();
        assert!(matches!(parsed.content, Content::Dsse(_)));
        assert!(
            matches!(parsed.material, Material::PublicKeyHint(ref h) if k.public_key().matches_hint(h))
        );
    }

    #[test]
    fn malformed_bundles_are_errors() {
        for bad in [
            &b"{"[..],
            b"{}",
            br#"{"mediaType":"x"}"#,
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#,
        ] {
            assert!(ParsedBundle::parse(bad).is_err());
        }
    }
}
