//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>,
//! protocol.md): the signature covers
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, with lengths in
//! ASCII decimal bytes, over the raw payload bytes — never a re-serialization.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keys::{PrivateKey, PublicKey, SignatureError};

/// The most signatures an envelope may carry.
pub const MAX_SIGNATURES: usize = 8;

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Pre-Authentication Encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Errors reading an envelope.
#[derive(Debug, thiserror::Error)]
pub enum DsseError {
    #[error("malformed DSSE envelope: {reason}")]
    Malformed { reason: String },
    /// The payload is no longer base64: nothing can have signed it (the signature is over the
    /// decoded bytes), so the envelope was altered after signing.
    #[error(
        "the signature does not match the payload: the payload is no longer base64, so it was altered after signing"
    )]
    PayloadAltered,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: Vec<u8>,
}

/// A DSSE envelope with its payload as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

/// Unknown members are refused: an envelope has exactly these (envelope.md).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Wire {
    payload: String,
    payload_type: String,
    signatures: Vec<WireSig>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSig {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// Decodes base64 as DSSE readers must: standard or URL-safe alphabet, padded or not.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s.as_bytes()).ok())
}

impl Envelope {
    /// Signs `payload` with one key. The keyid is securesystemslib's, so in-toto tooling
    /// picks the right key.
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &PrivateKey) -> Self {
        let sig = key.sign(&pae(payload_type, &payload));
        Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures: vec![EnvelopeSignature {
                keyid: key.public_key().sslib_keyid(),
                sig,
            }],
        }
    }

    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Standard padded base64, as every verifier accepts.
    pub fn to_json_value(&self) -> serde_json::Value {
        let e = base64::engine::general_purpose::STANDARD;
        serde_json::json!({
            "payload": e.encode(&self.payload),
            "payloadType": self.payload_type,
            "signatures": self.signatures.iter().map(|s| serde_json::json!({"keyid": s.keyid, "sig": e.encode(&s.sig)})).collect::<Vec<_>>(),
        })
    }

    /// Reads an envelope document strictly: no duplicate keys, no unknown members.
    pub fn parse(bytes: &[u8]) -> Result<Self, DsseError> {
        let v = crate::json::parse_limited(bytes, crate::json::Limits::BUNDLE).map_err(|e| {
            DsseError::Malformed {
                reason: e.to_string(),
            }
        })?;
        Self::from_json_value(&v)
    }

    pub fn from_json_value(v: &serde_json::Value) -> Result<Self, DsseError> {
        let wire: Wire = serde_json::from_value(v.clone()).map_err(|e| DsseError::Malformed {
            reason: e.to_string(),
        })?;
        let payload = decode_base64(&wire.payload).ok_or(DsseError::PayloadAltered)?;
        // Each signature costs a verification per key: a handful is all an envelope needs.
        if wire.signatures.len() > MAX_SIGNATURES {
            return Err(DsseError::Malformed {
                reason: format!(
                    "{} signatures, more than the {MAX_SIGNATURES} an envelope may carry",
                    wire.signatures.len()
                ),
            });
        }
        let mut signatures = Vec::with_capacity(wire.signatures.len());
        for s in wire.signatures {
            let sig = decode_base64(&s.sig).ok_or_else(|| DsseError::Malformed {
                reason: "a signature is not base64".into(),
            })?;
            signatures.push(EnvelopeSignature {
                keyid: s.keyid,
                sig,
            });
        }
        Ok(Envelope {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }

    /// Verifies that some signature was made by `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        let pae = self.pae();
        let mut last = SignatureError::Mismatch;
        for s in &self.signatures {
            match key.verify(&pae, &s.sig) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;

    #[test]
    fn pae_matches_the_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn sign_round_trip_and_tamper() {
        for alg in [KeyAlgorithm::P256, KeyAlgorithm::Ed25519] {
            let k = PrivateKey::generate(alg).unwrap();
            let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}".to_vec(), &k);
            let back = Envelope::from_json_value(&env.to_json_value()).unwrap();
            back.verify(&k.public_key()).unwrap();
            let mut t = back.clone();
            t.payload[2] ^= 1;
            assert!(t.verify(&k.public_key()).is_err());
            let mut t = back.clone();
            t.payload_type.push('x');
            assert!(t.verify(&k.public_key()).is_err());
            let other = PrivateKey::generate(alg).unwrap();
            assert!(back.verify(&other.public_key()).is_err());
        }
    }

    #[test]
    fn an_envelope_with_thousands_of_signatures_is_refused_unread() {
        // Regression (review of issue 11): each signature cost a verification per key.
        let sig = serde_json::json!({"keyid": "", "sig": "AAAA"});
        let env = serde_json::json!({
            "payload": "e30=",
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": vec![sig; MAX_SIGNATURES + 1],
        });
        let err = Envelope::parse(&serde_json::to_vec(&env).unwrap()).unwrap_err();
        assert!(err.to_string().contains("signatures"), "{err}");
    }

    #[test]
    fn accepts_url_safe_and_unpadded_base64() {
        assert_eq!(decode_base64("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_base64("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert!(decode_base64("!!").is_none());
    }
}
