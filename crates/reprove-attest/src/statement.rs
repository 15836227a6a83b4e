//! The in-toto Statement.
//!
//! The in-toto Statement v1 envelope
//! (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>) and its
//! ResourceDescriptor (<https://github.com/in-toto/attestation/blob/main/spec/v1/resource_descriptor.md>),
//! written from the spec because the `in-toto` crate only knows Statement v0.1. Statements are
//! serialized canonically (RFC 8785, JCS) so the same content is always the same bytes — what
//! gets signed and what gets compared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// Errors from building or serializing attestations.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("failed to serialize the statement as canonical JSON")]
    Canonical {
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid statement: {reason}")]
    Invalid { reason: String },
    #[error("failed to serialize the bundle")]
    Bundle {
        #[source]
        source: serde_json::Error,
    },
    /// A signer other than a local key (keyless: Fulcio, Rekor, a timestamp authority) failed.
    #[error("failed to sign with {signer}")]
    Signer {
        signer: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A ResourceDescriptor: something identified by name and/or digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm → lowercase hex (in-toto DigestSet). Keys such as `sha256`, `gitCommit`,
    /// `gitTree`, `gitBlob`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ResourceDescriptor {
    /// A descriptor with a name and one digest.
    pub fn named(name: impl Into<String>, algorithm: &str, hex: &str) -> Self {
        ResourceDescriptor {
            name: Some(name.into()),
            uri: None,
            digest: BTreeMap::from([(algorithm.to_owned(), hex.to_owned())]),
            media_type: None,
            annotations: None,
        }
    }
}

/// An in-toto Statement v1 with a typed predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<ResourceDescriptor>,
    pub predicate_type: String,
    pub predicate: P,
}

impl<P: Serialize> Statement<P> {
    pub fn new(subject: Vec<ResourceDescriptor>, predicate_type: &str, predicate: P) -> Self {
        Statement {
            type_: STATEMENT_V1.to_owned(),
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// Checks the Statement v1 rules a verifier enforces: at least one subject, and every
    /// subject has a non-empty digest set of lowercase hex.
    pub fn validate(&self) -> Result<(), AttestError> {
        if self.subject.is_empty() {
            return Err(AttestError::Invalid {
                reason: "a statement needs at least one subject".into(),
            });
        }
        for s in &self.subject {
            if s.digest.is_empty() {
                return Err(AttestError::Invalid {
                    reason: format!(
                        "subject `{}` has no digest",
                        s.name.as_deref().unwrap_or("?")
                    ),
                });
            }
            for (alg, value) in &s.digest {
                if value.is_empty()
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(AttestError::Invalid {
                        reason: format!("subject digest `{alg}` is not lowercase hex"),
                    });
                }
            }
        }
        Ok(())
    }

    /// RFC 8785 canonical JSON bytes.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, AttestError> {
        to_canonical_json(self)
    }
}

/// RFC 8785 canonical JSON of any serializable value.
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, AttestError> {
    serde_jcs::to_vec(value).map_err(|source| AttestError::Canonical { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_statement_bytes() {
        let s = Statement::new(
            vec![ResourceDescriptor::named("app", "sha256", "ab")],
            "https://example.com/p/v1",
            serde_json::json!({"z": 1, "a": [true, "é"]}),
        );
        s.validate().unwrap();
        let bytes = s.to_canonical_json().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"_type":"https://in-toto.io/Statement/v1","predicate":{"a":[true,"é"],"z":1},"predicateType":"https://example.com/p/v1","subject":[{"digest":{"sha256":"ab"},"name":"app"}]}"#
        );
    }

    #[test]
    fn validation_rejects_bad_subjects() {
        let mut s = Statement::new(vec![], "p", serde_json::json!({}));
        assert!(s.validate().is_err());
        s.subject
            .push(ResourceDescriptor::named("x", "sha256", "ABC"));
        assert!(s.validate().is_err());
    }
}
