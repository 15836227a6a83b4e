//! Sigstore bundles (<https://github.com/sigstore/protobuf-specs>, `sigstore_bundle.proto`).
//!
//! reprove writes key-signed v0.3 bundles: `verificationMaterial.publicKey.hint` (base64 of
//! sha256 over the DER SPKI), `tlogEntries: []` written explicitly (strict protobuf-JSON
//! readers reject omitted fields), and exactly one DSSE signature. Reading accepts v0.1–v0.3,
//! both media-type spellings, and DSSE or message-signature content.

use serde_json::{Value, json};

use crate::AttestError;
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, decode_base64};
use crate::keys::{PrivateKey, PublicKey};

pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Errors reading a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not JSON at all: unusable input, not a forgery to report.
    #[error("the bundle is not JSON: {reason}")]
    NotJson { reason: String },
    #[error(
        "the bundle has the key `{key}` twice in one object, so readers disagree on what it says"
    )]
    DuplicateKey { key: String },
    #[error("unsupported bundle media type `{media_type}`")]
    UnknownMediaType { media_type: String },
    #[error("malformed bundle: {reason}")]
    Malformed { reason: String },
    /// A signed part no longer decodes: the bundle was altered after signing (a finding of
    /// `bad-signature`, not of a malformed bundle).
    #[error("{reason}")]
    Altered { reason: String },
}

impl BundleError {
    /// A strict-JSON refusal as a bundle error.
    pub fn from_json(e: crate::json::StrictJsonError) -> BundleError {
        match e {
            crate::json::StrictJsonError::Syntax(e) => BundleError::NotJson {
                reason: e.to_string(),
            },
            crate::json::StrictJsonError::DuplicateKey { key } => BundleError::DuplicateKey { key },
            e @ crate::json::StrictJsonError::TooLong { .. } => BundleError::Malformed {
                reason: e.to_string(),
            },
        }
    }

    /// Whether the input was not JSON at all (exit 2) rather than a bundle that is wrong (a
    /// rejection, exit 1).
    pub fn is_not_json(&self) -> bool {
        matches!(self, BundleError::NotJson { .. })
    }
}

/// The most transparency-log entries, or RFC 3161 timestamps, a bundle may carry.
pub const MAX_PROOFS: usize = 16;

/// The top-level members of a bundle (`sigstore_bundle.proto`, `Bundle`): `content` is a
/// `oneof` of `messageSignature` and `dsseEnvelope`.
const BUNDLE_KEYS: &[&str] = &[
    "mediaType",
    "verificationMaterial",
    "messageSignature",
    "dsseEnvelope",
];
/// `VerificationMaterial`: `content` is a `oneof` of the first three.
const MATERIAL_KEYS: &[&str] = &[
    "publicKey",
    "x509CertificateChain",
    "certificate",
    "tlogEntries",
    "timestampVerificationData",
];
const MESSAGE_SIGNATURE_KEYS: &[&str] = &["messageDigest", "signature"];

/// Refuses members a reader does not know: two readers that skip different unknown members
/// (protobuf-JSON also accepts `snake_case` names) can be made to read different content.
fn known_keys(v: &Value, what: &str, allowed: &[&str]) -> Result<(), BundleError> {
    let Some(obj) = v.as_object() else {
        return Err(BundleError::Malformed {
            reason: format!("`{what}` is not an object"),
        });
    };
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(BundleError::Malformed {
            reason: format!("unknown member `{k}` in `{what}`"),
        }),
        None => Ok(()),
    }
}

/// Exactly one of `oneof` is present (and not `null`).
fn exactly_one<'v>(
    v: &'v Value,
    what: &str,
    oneof: &[&str],
) -> Result<(&'v str, &'v Value), BundleError> {
    let present: Vec<(&str, &Value)> = oneof
        .iter()
        .filter_map(|k| v.as_object()?.get_key_value(*k))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    match present.as_slice() {
        [(k, v)] if !v.is_null() => Ok((k, v)),
        [(k, _)] => Err(BundleError::Malformed {
            reason: format!("`{what}.{k}` is null"),
        }),
        [] => Err(BundleError::Malformed {
            reason: format!("`{what}` has none of {}", list(oneof)),
        }),
        many => Err(BundleError::Malformed {
            reason: format!(
                "`{what}` has {} where exactly one of them is allowed",
                list(&many.iter().map(|(k, _)| *k).collect::<Vec<_>>())
            ),
        }),
    }
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
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

/// The key-signed Sigstore bundle of a statement's exact bytes (DSSE with the in-toto payload
/// type), as reprove writes evidence: pretty JSON and a final newline. The bytes are signed as
/// given, never re-serialized (DSSE signs PAE over the payload: `dsse/protocol.md`).
/// Whatever signs reprove's statements into Sigstore bundles: a local key, or a keyless signer
/// (an ephemeral key, a Fulcio certificate and a Rekor entry, in `reprove-keyless`).
pub trait StatementSigner {
    /// The in-toto statement's bytes, as they are, in a DSSE envelope inside a Sigstore bundle
    /// (pretty JSON, newline-terminated).
    fn sign_statement(&self, statement_bytes: Vec<u8>) -> Result<Vec<u8>, AttestError>;
    /// Who signs, for people: a key's hint, or the identity and issuer.
    fn describe(&self) -> String;
}

impl StatementSigner for PrivateKey {
    fn sign_statement(&self, statement_bytes: Vec<u8>) -> Result<Vec<u8>, AttestError> {
        sign_statement(statement_bytes, self)
    }

    fn describe(&self) -> String {
        format!("key {}", self.public_key().hint())
    }
}

pub fn sign_statement(statement_bytes: Vec<u8>, key: &PrivateKey) -> Result<Vec<u8>, AttestError> {
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement_bytes, key);
    let mut b = serde_json::to_vec_pretty(&key_signed_bundle(&envelope, &key.public_key()))
        .map_err(|source| AttestError::Bundle { source })?;
    b.push(b'\n');
    Ok(b)
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
    /// Reads a bundle strictly: valid JSON with no duplicate key anywhere, no unknown member
    /// in the bundle, its verification material, envelope or message signature, and exactly
    /// one content (`dsseEnvelope` or `messageSignature`) and one kind of signer material.
    /// What this accepts, every reader reads the same way.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let v = crate::json::parse_limited(bytes, crate::json::Limits::BUNDLE)
            .map_err(BundleError::from_json)?;
        let malformed = |r: &str| BundleError::Malformed {
            reason: r.to_owned(),
        };
        known_keys(&v, "bundle", BUNDLE_KEYS)?;
        let mt = str_at(&v, &["mediaType"]).ok_or_else(|| malformed("no `mediaType`"))?;
        let version = parse_media_type(mt).ok_or_else(|| BundleError::UnknownMediaType {
            media_type: mt.to_owned(),
        })?;
        let vm = v
            .get("verificationMaterial")
            .ok_or_else(|| malformed("no `verificationMaterial`"))?;
        known_keys(vm, "verificationMaterial", MATERIAL_KEYS)?;
        let material = match exactly_one(vm, "verificationMaterial", &MATERIAL_KEYS[..3])? {
            ("publicKey", pk) => {
                known_keys(pk, "verificationMaterial.publicKey", &["hint"])?;
                Material::PublicKeyHint(
                    pk.get("hint")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                )
            }
            ("x509CertificateChain", chain) => {
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
            }
            (_, cert) => {
                let der = str_at(cert, &["rawBytes"])
                    .and_then(decode_base64)
                    .ok_or_else(|| malformed("the certificate is not base64"))?;
                Material::Certificates(vec![der])
            }
        };
        let content = match exactly_one(&v, "bundle", &BUNDLE_KEYS[2..])? {
            ("dsseEnvelope", env) => {
                let env = Envelope::from_json_value(env).map_err(|e| match e {
                    crate::dsse::DsseError::PayloadAltered => BundleError::Altered {
                        reason: e.to_string(),
                    },
                    e => malformed(&e.to_string()),
                })?;
                // One signature per bundle: sigstore-js enforces it, and it keeps the meaning
                // clear.
                if env.signatures.len() != 1 {
                    return Err(malformed(&format!(
                        "a bundle's DSSE envelope must have exactly one signature, not {}",
                        env.signatures.len()
                    )));
                }
                Content::Dsse(env)
            }
            (_, ms) => {
                known_keys(ms, "messageSignature", MESSAGE_SIGNATURE_KEYS)?;
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
            }
        };
        let tlog_entries = match vm.get("tlogEntries") {
            None | Some(Value::Null) => 0,
            Some(Value::Array(a)) => a.len(),
            Some(_) => return Err(malformed("`tlogEntries` is not a list")),
        };
        let rfc3161_timestamps = vm
            .get("timestampVerificationData")
            .and_then(|t| t.get("rfc3161Timestamps"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        // A signature is logged or timestamped a few times at most; thousands are only a way
        // to make a verifier work.
        if tlog_entries > MAX_PROOFS || rfc3161_timestamps > MAX_PROOFS {
            return Err(malformed(&format!(
                "more than {MAX_PROOFS} transparency-log entries or timestamps"
            )));
        }
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

    fn signed_bundle() -> Value {
        let k = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}".to_vec(), &k);
        key_signed_bundle(&env, &k.public_key())
    }

    fn parse_value(v: &Value) -> Result<ParsedBundle, BundleError> {
        ParsedBundle::parse(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn a_bundle_has_exactly_one_content() {
        // Regression (issue 11): a genuine message signature plus an unsigned DSSE envelope
        // was verified as the one and read as the other.
        let mut two = signed_bundle();
        two["messageSignature"] = json!({"signature": "AAAA"});
        let err = parse_value(&two).unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
        let mut none = signed_bundle();
        none.as_object_mut().unwrap().remove("dsseEnvelope");
        assert!(
            parse_value(&none)
                .unwrap_err()
                .to_string()
                .contains("none of")
        );
        let mut null = signed_bundle();
        null["dsseEnvelope"] = Value::Null;
        assert!(parse_value(&null).is_err());
    }

    #[test]
    fn unknown_members_are_refused() {
        // protobuf-JSON readers accept snake_case names; one reader skipping what another reads
        // is the same confusion.
        for (at, key) in [
            ("", "dsse_envelope"),
            ("", "message_signature"),
            ("", "extra"),
            ("verificationMaterial", "x509_certificate_chain"),
            ("dsseEnvelope", "payload_type"),
        ] {
            let mut b = signed_bundle();
            let target = if at.is_empty() { &mut b } else { &mut b[at] };
            target[key] = json!({});
            let err = parse_value(&b).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        let mut b = signed_bundle();
        b["dsseEnvelope"]["signatures"][0]["cert"] = json!("x");
        assert!(parse_value(&b).is_err());
    }

    #[test]
    fn two_kinds_of_signer_material_are_refused() {
        let mut b = signed_bundle();
        b["verificationMaterial"]["certificate"] = json!({"rawBytes": "AAAA"});
        assert!(
            parse_value(&b)
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
    }

    #[test]
    fn duplicate_keys_anywhere_are_refused_and_not_json_is_told_apart() {
        let good = serde_json::to_string(&signed_bundle()).unwrap();
        let dup_top = good.replacen("\"mediaType\"", "\"mediaType\":\"x\",\"mediaType\"", 1);
        let dup_deep = good.replacen(
            "\"payloadType\"",
            "\"payloadType\":\"x\",\"payloadType\"",
            1,
        );
        for text in [dup_top, dup_deep] {
            let err = ParsedBundle::parse(text.as_bytes()).unwrap_err();
            assert!(matches!(err, BundleError::DuplicateKey { .. }), "{err}");
            assert!(!err.is_not_json());
        }
        let err = ParsedBundle::parse(b"not json").unwrap_err();
        assert!(err.is_not_json());
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
