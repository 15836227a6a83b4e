//! The one reader of signed statements from files: evidence bundles, baselines named on the
//! command line, and bare DSSE envelopes.
//!
//! Every command that acts on a signed statement (`verify`, `status`, `report`, `diff`,
//! `images check --baseline`) reads it here, so they all refuse the same things: a file that is
//! not a regular file or is too large ([`reprove_digest::file`]), a bundle two readers could
//! read differently ([`crate::bundle::ParsedBundle::parse`]), a message signature standing in
//! for a statement, a payload that is not an in-toto Statement v1, and a signature that no
//! given signer made. The statement returned is always decoded from the exact payload bytes
//! whose signature was checked.

use std::path::Path;

use reprove_digest::FileError;
use serde_json::Value;

use crate::bundle::{BundleError, Content, ParsedBundle};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::verify::{Signer, VerifyError, decode_statement, verify_statement_parsed};

/// The largest bundle or envelope file read (64 MiB). A baseline of 100,000 files is about
/// 50 MiB signed; anything larger is refused rather than parsed into gigabytes of memory.
pub const MAX_BUNDLE_BYTES: u64 = 64 << 20;

/// What kind of document held the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A Sigstore bundle around a DSSE envelope.
    Bundle,
    /// A bare DSSE envelope (`reprove sign --dsse`).
    Envelope,
    /// The statement itself, unsigned (read only when no signer was given).
    Manifest,
}

/// A statement read from a file.
#[derive(Debug, Clone)]
pub struct SignedStatement {
    /// The in-toto Statement v1.
    pub statement: Value,
    /// sha256 of the file's bytes.
    pub file_sha256: String,
    /// Which given signer verified it; `None` when no signer was given and the statement was
    /// read unverified (the caller must say so).
    pub verified_by: Option<String>,
    /// The signing certificate's identity, for keyless bundles: who actually signed, for
    /// people (a role is compared by `verified_by`, never by this).
    pub certificate_identity: Option<String>,
    pub form: Form,
}

/// Why a file did not yield a statement. Each kind maps to one finding code.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    /// Missing, not a regular file, or too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// Not a bundle or envelope a reader can read unambiguously.
    #[error("{0}")]
    BadBundle(#[source] BundleError),
    /// Well-formed, but what it signs is not an in-toto Statement v1.
    #[error("{reason}")]
    NotStatement { reason: String },
    /// No given signer verifies it (each signer's reason, `; `-separated).
    #[error("{reasons}")]
    Signature { reasons: String },
    /// A bare statement where a signer was given: with a key, only signed documents count.
    #[error(
        "the statement is not signed; with a key or identity only a signed bundle or envelope is accepted"
    )]
    Unsigned,
}

impl StatementError {
    /// The stable finding code: `evidence-missing`, `not-regular-file`, `too-large`,
    /// `bad-bundle`, `wrong-predicate`, `bad-signature`.
    pub fn code(&self) -> &'static str {
        match self {
            StatementError::File(e) if e.is_not_found() => "evidence-missing",
            StatementError::File(FileError::NotRegular { .. }) => "not-regular-file",
            StatementError::File(FileError::TooLarge { .. }) => "too-large",
            StatementError::File(_) => "unreadable",
            StatementError::BadBundle(BundleError::Altered { .. }) => "bad-signature",
            StatementError::BadBundle(_) => "bad-bundle",
            StatementError::NotStatement { .. } => "wrong-predicate",
            StatementError::Signature { .. } | StatementError::Unsigned => "bad-signature",
        }
    }
}

impl crate::verify::Signer {
    /// `key <hint>` or `<identity> (<issuer>)`, for reports.
    pub fn label(&self) -> String {
        match self {
            Signer::Key { key } => format!("key {}", key.hint()),
            Signer::Identity { identity, issuer } => format!("{identity} ({issuer})"),
        }
    }
}

fn require_v1(statement: Value) -> Result<Value, StatementError> {
    if statement.get("_type").and_then(Value::as_str) != Some(crate::STATEMENT_V1) {
        return Err(StatementError::NotStatement {
            reason: "the signed payload is not an in-toto Statement v1".into(),
        });
    }
    Ok(statement)
}

/// What a document is, by its members: a bundle always has `mediaType`, an envelope
/// `payloadType`, a statement `_type`. Anything else is read as a bundle (and refused there).
fn form_of(bytes: &[u8]) -> Result<Form, StatementError> {
    // Only the top-level names matter here: read them without building the values.
    let v: std::collections::HashMap<String, serde::de::IgnoredAny> = serde_json::from_slice(bytes)
        .map_err(|e| {
            StatementError::BadBundle(BundleError::NotJson {
                reason: e.to_string(),
            })
        })?;
    let has = |k: &str| v.contains_key(k);
    Ok(if has("mediaType") {
        Form::Bundle
    } else if has("payloadType") {
        Form::Envelope
    } else if has("_type") || has("predicateType") {
        Form::Manifest
    } else {
        Form::Bundle
    })
}

/// Reads the statement in `bytes`: a Sigstore bundle; a bare DSSE envelope (verified with a
/// key only: it carries no certificate); or, when no signer is given, an unsigned statement.
/// With no signers the statement is read unverified and `verified_by` is `None`.
pub fn statement_from_bytes(
    bytes: &[u8],
    signers: &[Signer],
    trusted_root: Option<&str>,
) -> Result<SignedStatement, StatementError> {
    let file_sha256 = reprove_digest::sha256_bytes(bytes).hex();
    match form_of(bytes)? {
        Form::Envelope => return bare_envelope(bytes, signers, file_sha256),
        Form::Manifest if signers.is_empty() => {
            let statement =
                crate::json::parse(bytes).map_err(|e| StatementError::NotStatement {
                    reason: e.to_string(),
                })?;
            return Ok(SignedStatement {
                statement: require_v1(statement)?,
                file_sha256,
                verified_by: None,
                certificate_identity: None,
                form: Form::Manifest,
            });
        }
        Form::Manifest => return Err(StatementError::Unsigned),
        Form::Bundle => {}
    }
    if signers.is_empty() {
        let parsed = ParsedBundle::parse(bytes).map_err(StatementError::BadBundle)?;
        let Content::Dsse(env) = parsed.content else {
            return Err(StatementError::NotStatement {
                reason: "the bundle signs a message, not an in-toto statement".into(),
            });
        };
        return unverified(&env, file_sha256, Form::Bundle);
    }
    // Parsed once, whatever the number of signers tried.
    let parsed = ParsedBundle::parse(bytes).map_err(StatementError::BadBundle)?;
    let mut reasons = Vec::new();
    for s in signers {
        match verify_statement_parsed(bytes, &parsed, s, trusted_root) {
            Ok(v) => {
                // The signer's label, never the certificate's identity: callers compare labels
                // to tell the release role from rebuilders (k-of-n), and under a pattern two
                // certificates of one role must still count as that one role.
                return Ok(SignedStatement {
                    statement: require_v1(v.statement)?,
                    file_sha256,
                    verified_by: Some(s.label()),
                    certificate_identity: v.verified.certificate_identity,
                    form: Form::Bundle,
                });
            }
            // The bundle itself is unreadable: no signer will do better.
            Err(VerifyError::BadBundle { source }) => {
                return Err(StatementError::BadBundle(source));
            }
            Err(e) => reasons.push(format!("{}: {e}", s.label())),
        }
    }
    Err(StatementError::Signature {
        reasons: reasons.join("; "),
    })
}

fn unverified(
    env: &Envelope,
    file_sha256: String,
    form: Form,
) -> Result<SignedStatement, StatementError> {
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(StatementError::NotStatement {
            reason: format!("payload type `{}` is not in-toto", env.payload_type),
        });
    }
    let statement = decode_statement(&env.payload).map_err(|e| StatementError::NotStatement {
        reason: e.to_string(),
    })?;
    Ok(SignedStatement {
        statement: require_v1(statement)?,
        file_sha256,
        verified_by: None,
        certificate_identity: None,
        form,
    })
}

fn bare_envelope(
    bytes: &[u8],
    signers: &[Signer],
    file_sha256: String,
) -> Result<SignedStatement, StatementError> {
    let env = Envelope::parse(bytes).map_err(|e| {
        StatementError::BadBundle(match e {
            crate::dsse::DsseError::PayloadAltered => BundleError::Altered {
                reason: e.to_string(),
            },
            e => BundleError::Malformed {
                reason: e.to_string(),
            },
        })
    })?;
    if signers.is_empty() {
        return unverified(&env, file_sha256, Form::Envelope);
    }
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(StatementError::NotStatement {
            reason: format!("payload type `{}` is not in-toto", env.payload_type),
        });
    }
    let mut reasons = Vec::new();
    for s in signers {
        match s {
            Signer::Key { key } => match env.verify(key) {
                Ok(()) => {
                    let mut st = unverified(&env, file_sha256, Form::Envelope)?;
                    st.verified_by = Some(s.label());
                    return Ok(st);
                }
                Err(e) => reasons.push(format!("{}: DSSE signature: {e}", s.label())),
            },
            Signer::Identity { .. } => reasons.push(format!(
                "{}: a bare DSSE envelope carries no certificate; verify it with a key",
                s.label()
            )),
        }
    }
    Err(StatementError::Signature {
        reasons: reasons.join("; "),
    })
}

/// Reads `path` (a regular file of at most [`MAX_BUNDLE_BYTES`]) and its statement.
pub fn read_statement_file(
    path: &Path,
    signers: &[Signer],
    trusted_root: Option<&str>,
) -> Result<SignedStatement, StatementError> {
    let bytes = reprove_digest::read_regular(path, MAX_BUNDLE_BYTES)?;
    statement_from_bytes(&bytes, signers, trusted_root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, PrivateKey};

    /// A signed bundle whose payload was altered after signing is `bad-signature` ("the
    /// signature does not match"), whether the altered payload still decodes or not — never a
    /// parse error that hides the forgery.
    #[test]
    fn an_altered_payload_is_a_bad_signature() {
        let key = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let statement = serde_json::json!({
            "_type": crate::STATEMENT_V1,
            "subject": [{"name": "a", "digest": {"sha256": "00".repeat(32)}}],
            "predicateType": "https://example.com/p",
            "predicate": {}
        });
        let bundle =
            crate::bundle::sign_statement(serde_json::to_vec(&statement).unwrap(), &key).unwrap();
        let signers = [Signer::Key {
            key: key.public_key(),
        }];
        assert!(statement_from_bytes(&bundle, &signers, None).is_ok());
        let mut v: Value = serde_json::from_slice(&bundle).unwrap();
        let payload = v["dsseEnvelope"]["payload"].as_str().unwrap().to_owned();
        use base64::Engine as _;
        let other = base64::engine::general_purpose::STANDARD.encode(b"{\"not\": \"a statement\"");
        for altered in [format!("!{}", &payload[1..]), other] {
            v["dsseEnvelope"]["payload"] = Value::String(altered.clone());
            let bytes = serde_json::to_vec(&v).unwrap();
            let e = statement_from_bytes(&bytes, &signers, None).unwrap_err();
            assert_eq!(e.code(), "bad-signature", "{altered}: {e}");
            assert!(e.to_string().contains("signature does not match"), "{e}");
        }
    }
}
