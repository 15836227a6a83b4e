//! Verifying Sigstore bundles, failing closed.
//!
//! Two paths, chosen by what the bundle carries:
//!
//! - **Offline key-signed** (a public key, no transparency-log entry, no timestamp — what
//!   `reprove sign` writes): reprove's own check. The DSSE signature over PAE of the raw
//!   payload, the in-toto statement, the artifact against its subjects; or, for a message
//!   signature, the artifact digest and the signature over it. The key is the only trust
//!   anchor, and the report says so.
//! - **Everything else** (keyless certificates, or keys with Rekor entries/timestamps):
//!   sigstore-rust's verifier against a trusted root — Sigstore's production root embedded in
//!   the binary unless another is given — for the certificate chain at signing time, SCTs,
//!   inclusion proofs or SETs, RFC 3161 timestamps and the identity policy.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::bundle::{BundleError, Content, Material, ParsedBundle};
use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::keys::PublicKey;

/// Files up to this size are handed to the keyless verifier whole (it can then check any
/// digest a statement uses); larger ones by their sha256.
const WHOLE_FILE_LIMIT: u64 = 256 << 20;

/// What was signed: a file, or a sha256 digest given on the command line.
#[derive(Debug, Clone)]
pub enum ArtifactInput {
    File(PathBuf),
    Sha256([u8; 32]),
    /// No artifact at hand: the caller matches the verified statement's subjects itself
    /// ([`verify_statement`]). Only a DSSE statement can be verified this way.
    StatementOnly,
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Signer {
    Key {
        key: PublicKey,
    },
    Identity {
        identity: Expected,
        issuer: Expected,
    },
}

/// A value a keyless certificate must carry (its identity, its OIDC issuer): exactly, or
/// matching a regular expression (cosign's `--certificate-identity-regexp`).
///
/// A pattern must match the whole value: it is anchored (`^(?:…)$`), unlike cosign's, so
/// `github.com/acme/` does not accept `https://evil.example/?github.com/acme/`.
#[derive(Debug, Clone)]
pub enum Expected {
    Exact(String),
    /// The pattern as given, and its anchored form.
    Pattern(String, regex::Regex),
}

impl Expected {
    /// An anchored pattern; a pattern that does not compile is an error naming it.
    ///
    /// The pattern must compile on its own before it is wrapped: `x)|(.*` is unbalanced alone,
    /// and wrapped it would read `^(?:x)|(.*)$`, which accepts anything.
    pub fn pattern(re: &str) -> Result<Expected, regex::Error> {
        regex::Regex::new(re)?;
        regex::Regex::new(&format!("^(?:{re})$")).map(|r| Expected::Pattern(re.to_owned(), r))
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Expected::Exact(s) => s == value,
            Expected::Pattern(_, re) => re.is_match(value),
        }
    }

    fn exact(&self) -> Option<&str> {
        match self {
            Expected::Exact(s) => Some(s),
            Expected::Pattern(..) => None,
        }
    }
}

impl From<&str> for Expected {
    fn from(s: &str) -> Expected {
        Expected::Exact(s.to_owned())
    }
}

impl From<String> for Expected {
    fn from(s: String) -> Expected {
        Expected::Exact(s)
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Exact(s) => f.write_str(s),
            Expected::Pattern(re, _) => write!(f, "pattern `{re}`"),
        }
    }
}

/// One check that ran and passed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub detail: String,
}

/// A successful verification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
    /// The verified in-toto statement, for DSSE bundles: decoded from exactly the payload
    /// bytes whose signature was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<serde_json::Value>,
    /// The signing certificate's identity (its subject alternative name), for keyless bundles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_identity: Option<String>,
}

/// The statement of a DSSE bundle whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedStatement {
    /// Decoded (strictly: no duplicate keys) from the verified payload bytes.
    pub statement: serde_json::Value,
    pub verified: Verified,
}

/// Why verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The inputs cannot be used at all (exit 2).
    #[error("{message}")]
    Unusable { message: String },
    /// The bundle was checked and does not verify (exit 1).
    #[error("{message}")]
    Rejected { message: String },
    /// The bundle is not one a verifier can read unambiguously (two contents, a duplicate
    /// key, an unknown member…): rejected before any signature is looked at. Not JSON at all
    /// is unusable input instead ([`VerifyError::is_unusable`]).
    #[error("unusable bundle: {source}")]
    BadBundle {
        #[source]
        source: BundleError,
    },
}

impl VerifyError {
    /// Exit 2 rather than 1: the input could not be used at all.
    pub fn is_unusable(&self) -> bool {
        match self {
            VerifyError::Unusable { .. } => true,
            VerifyError::BadBundle { source } => source.is_not_json(),
            VerifyError::Rejected { .. } => false,
        }
    }
}

fn rejected(message: impl Into<String>) -> VerifyError {
    VerifyError::Rejected {
        message: message.into(),
    }
}

fn unusable(message: impl Into<String>) -> VerifyError {
    VerifyError::Unusable {
        message: message.into(),
    }
}

struct Digests {
    sha256: [u8; 32],
    sha512: Option<[u8; 64]>,
}

fn file_digests(path: &Path, with_sha512: bool) -> Result<Digests, VerifyError> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        unusable(format!(
            "failed to read the artifact `{}`: {e}",
            path.display()
        ))
    })?;
    let mut s256 = sha2::Sha256::new();
    let mut s512 = with_sha512.then(sha2::Sha512::new);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| {
            unusable(format!(
                "failed to read the artifact `{}`: {e}",
                path.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        s256.update(&buf[..n]);
        if let Some(h) = s512.as_mut() {
            h.update(&buf[..n]);
        }
    }
    Ok(Digests {
        sha256: s256.finalize().into(),
        sha512: s512.map(|h| h.finalize().into()),
    })
}

/// Verifies `bundle_bytes` for `artifact` by `signer`. `trusted_root_json` replaces the
/// embedded production trusted root.
pub fn verify_bundle(
    bundle_bytes: &[u8],
    artifact: &ArtifactInput,
    signer: &Signer,
    trusted_root_json: Option<&str>,
) -> Result<Verified, VerifyError> {
    let parsed =
        ParsedBundle::parse(bundle_bytes).map_err(|source| VerifyError::BadBundle { source })?;
    verify_parsed(bundle_bytes, &parsed, artifact, signer, trusted_root_json)
}

fn verify_parsed(
    bundle_bytes: &[u8],
    parsed: &ParsedBundle,
    artifact: &ArtifactInput,
    signer: &Signer,
    trusted_root_json: Option<&str>,
) -> Result<Verified, VerifyError> {
    let offline_key = matches!(parsed.material, Material::PublicKeyHint(_))
        && parsed.tlog_entries == 0
        && parsed.rfc3161_timestamps == 0;
    match (signer, offline_key) {
        (Signer::Key { key }, true) => verify_offline_key(parsed, artifact, key),
        (Signer::Identity { .. }, true) => Err(rejected(
            "the bundle is signed with a key, not a certificate; verify it with --key",
        )),
        _ => verify_with_sigstore(bundle_bytes, parsed, artifact, signer, trusted_root_json),
    }
}

/// The first sha256 subject an (unverified) statement names, read without building anything
/// else: the other subjects and the predicate are skipped as they are parsed.
pub fn first_sha256_subject(payload: &[u8]) -> Option<[u8; 32]> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
    /// `{ "subject": [...], ... }` → the first sha256 found.
    struct Head;
    /// `[ {"digest": {"sha256": ...}}, ... ]` → the first sha256, the rest skipped.
    struct Subjects;
    #[derive(serde::Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: Digests,
    }
    #[derive(serde::Deserialize, Default)]
    struct Digests {
        sha256: Option<String>,
    }
    impl<'de> Visitor<'de> for Head {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a statement")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == "subject" && found.is_none() {
                    found = map.next_value_seed(Subjects)?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Subjects {
        type Value = Option<String>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Subjects {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of subjects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
            let mut found = None;
            while found.is_none() {
                match seq.next_element::<Subject>()? {
                    Some(s) => found = s.digest.sha256,
                    None => return Ok(None),
                }
            }
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    let hex_str = de.deserialize_map(Head).ok()??;
    hex::decode(hex_str)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// The in-toto statement in a payload, read strictly (no duplicate keys: one reading only).
pub fn decode_statement(payload: &[u8]) -> Result<serde_json::Value, VerifyError> {
    crate::json::parse(payload)
        .map_err(|e| rejected(format!("the signed payload is not a JSON statement: {e}")))
}

/// Verifies a DSSE bundle that carries an in-toto statement, without an artifact at hand:
/// the signature (and, for keyless bundles, the certificate chain, transparency log and
/// identity) is checked, and the verified statement is returned for the caller to match
/// its subjects against whatever it has. The keyless verifier is given the first sha256
/// subject the signed payload names, which it checks against the signed statement.
///
/// A message-signature bundle never yields a statement: it is rejected here.
pub fn verify_statement(
    bundle_bytes: &[u8],
    signer: &Signer,
    trusted_root_json: Option<&str>,
) -> Result<VerifiedStatement, VerifyError> {
    let parsed =
        ParsedBundle::parse(bundle_bytes).map_err(|source| VerifyError::BadBundle { source })?;
    verify_statement_parsed(bundle_bytes, &parsed, signer, trusted_root_json)
}

/// [`verify_statement`] for a bundle already parsed (once, for every signer tried).
pub fn verify_statement_parsed(
    bundle_bytes: &[u8],
    parsed: &ParsedBundle,
    signer: &Signer,
    trusted_root_json: Option<&str>,
) -> Result<VerifiedStatement, VerifyError> {
    let Content::Dsse(env) = &parsed.content else {
        return Err(rejected(
            "the bundle signs a message, not an in-toto statement",
        ));
    };
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(rejected(format!(
            "unsupported DSSE payload type `{}` (expected `{IN_TOTO_PAYLOAD_TYPE}`)",
            env.payload_type
        )));
    }
    let offline_key = matches!(parsed.material, Material::PublicKeyHint(_))
        && parsed.tlog_entries == 0
        && parsed.rfc3161_timestamps == 0;
    let artifact = if offline_key && matches!(signer, Signer::Key { .. }) {
        // reprove's own key path: the signature is checked before the payload is decoded at
        // all, and no artifact is needed (a baseline's subjects may be only `gitCommit` and
        // `gitTree`).
        ArtifactInput::StatementOnly
    } else {
        // The keyless verifier matches an artifact against the statement: give it the first
        // sha256 subject the payload names (it then checks the signed statement names it).
        // Only the subjects are read from the not-yet-verified payload, into small structs
        // (the predicate is skipped, not built).
        first_sha256_subject(&env.payload)
            .map_or(ArtifactInput::StatementOnly, ArtifactInput::Sha256)
    };
    let verified = verify_parsed(bundle_bytes, parsed, &artifact, signer, trusted_root_json)?;
    // Both paths decode the statement from the payload bytes they verified; it is never taken
    // from anything that was not.
    let statement = verified
        .statement
        .clone()
        .ok_or_else(|| rejected("the verified bundle carries no statement"))?;
    Ok(VerifiedStatement {
        statement,
        verified,
    })
}

fn subject_matches(statement: &serde_json::Value, d: &Digests) -> Result<String, VerifyError> {
    let subjects = statement
        .get("subject")
        .and_then(|s| s.as_array())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| rejected("the statement has no subjects"))?;
    let want256 = hex::encode(d.sha256);
    let want512 = d.sha512.map(hex::encode);
    for s in subjects {
        let digest = s.get("digest");
        let name = s
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("(unnamed)");
        if digest
            .and_then(|g| g.get("sha256"))
            .and_then(|v| v.as_str())
            == Some(want256.as_str())
        {
            return Ok(format!("subject `{name}` sha256:{want256}"));
        }
        if let (Some(w), Some(v)) = (
            &want512,
            digest
                .and_then(|g| g.get("sha512"))
                .and_then(|v| v.as_str()),
        ) && v == w
        {
            return Ok(format!("subject `{name}` sha512:{w}"));
        }
    }
    Err(rejected(format!(
        "the artifact (sha256:{want256}) matches none of the statement's {} subjects",
        subjects.len()
    )))
}

fn verify_offline_key(
    parsed: &ParsedBundle,
    artifact: &ArtifactInput,
    key: &PublicKey,
) -> Result<Verified, VerifyError> {
    let mut checks = Vec::new();
    let mut notes = vec!["no transparency-log entry or timestamp: the key is the only trust anchor, and the signing time is not attested".to_owned()];
    if let Material::PublicKeyHint(h) = &parsed.material
        && !key.matches_hint(h)
    {
        notes.push(format!("the bundle's key hint `{h}` names a different key than the one given; the signature decides"));
    }
    match &parsed.content {
        Content::Dsse(env) => {
            if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(rejected(format!(
                    "unsupported DSSE payload type `{}` (expected `{IN_TOTO_PAYLOAD_TYPE}`)",
                    env.payload_type
                )));
            }
            env.verify(key).map_err(|e| {
                // Which key the bundle says signed it (unauthenticated, but what a user
                // needs to see when they gave the wrong one).
                let named = match &parsed.material {
                    Material::PublicKeyHint(h) if !h.is_empty() && !key.matches_hint(h) => {
                        format!("; the bundle names key {h} as its signer")
                    }
                    _ => String::new(),
                };
                rejected(format!("DSSE signature: {e}{named}"))
            })?;
            checks.push(Check {
                name: "signature",
                detail: format!("DSSE over PAE, {} key {}", key.algorithm(), key.hint()),
            });
            let statement = decode_statement(&env.payload)?;
            let t = statement
                .get("_type")
                .and_then(|t| t.as_str())
                .unwrap_or_default();
            if t != crate::STATEMENT_V1 && t != "https://in-toto.io/Statement/v0.1" {
                return Err(rejected(format!(
                    "the payload is not an in-toto statement (`_type` `{t}`)"
                )));
            }
            checks.push(Check {
                name: "statement",
                detail: format!(
                    "in-toto statement, predicate `{}`",
                    statement
                        .get("predicateType")
                        .and_then(|p| p.as_str())
                        .unwrap_or("?")
                ),
            });
            let digests = match artifact {
                ArtifactInput::File(p) => {
                    let needs512 = statement
                        .get("subject")
                        .and_then(|s| s.as_array())
                        .is_some_and(|subs| {
                            subs.iter()
                                .any(|s| s.get("digest").is_some_and(|d| d.get("sha256").is_none()))
                        });
                    file_digests(p, needs512)?
                }
                ArtifactInput::Sha256(d) => Digests {
                    sha256: *d,
                    sha512: None,
                },
                ArtifactInput::StatementOnly => {
                    return Ok(Verified {
                        checks,
                        notes,
                        statement: Some(statement),
                        certificate_identity: None,
                    });
                }
            };
            checks.push(Check {
                name: "artifact",
                detail: subject_matches(&statement, &digests)?,
            });
            Ok(Verified {
                checks,
                notes,
                statement: Some(statement),
                certificate_identity: None,
            })
        }
        Content::MessageSignature {
            algorithm,
            digest,
            signature,
        } => {
            if algorithm != "SHA2_256" {
                return Err(rejected(format!(
                    "unsupported message digest algorithm `{algorithm}`"
                )));
            }
            let d = match artifact {
                ArtifactInput::File(p) => file_digests(p, false)?.sha256,
                ArtifactInput::Sha256(d) => *d,
                ArtifactInput::StatementOnly => {
                    return Err(rejected(
                        "the bundle signs a message, not an in-toto statement",
                    ));
                }
            };
            if let Some(bd) = digest
                && bd.as_slice() != d.as_slice()
            {
                return Err(rejected(format!(
                    "the bundle's message digest does not match the artifact (sha256:{})",
                    hex::encode(d)
                )));
            }
            match key.algorithm() {
                crate::KeyAlgorithm::P256 => key.verify_sha256_prehash(&d, signature),
                crate::KeyAlgorithm::Ed25519 => match artifact {
                    ArtifactInput::File(p) => {
                        let bytes = std::fs::read(p).map_err(|e| unusable(format!("failed to read `{}`: {e}", p.display())))?;
                        key.verify(&bytes, signature)
                    }
                    ArtifactInput::Sha256(_) | ArtifactInput::StatementOnly => {
                        return Err(unusable("an Ed25519 message signature covers the artifact's bytes; pass the file, not its digest"));
                    }
                },
            }
            .map_err(|e| rejected(format!("message signature: {e}")))?;
            checks.push(Check {
                name: "signature",
                detail: format!("message signature, {} key {}", key.algorithm(), key.hint()),
            });
            checks.push(Check {
                name: "artifact",
                detail: format!("sha256:{}", hex::encode(d)),
            });
            Ok(Verified {
                checks,
                notes,
                statement: None,
                certificate_identity: None,
            })
        }
    }
}

fn verify_with_sigstore(
    bundle_bytes: &[u8],
    parsed: &ParsedBundle,
    artifact: &ArtifactInput,
    signer: &Signer,
    trusted_root_json: Option<&str>,
) -> Result<Verified, VerifyError> {
    let root_text =
        trusted_root_json.unwrap_or(sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT);
    let root = sigstore_trust_root::TrustedRoot::from_json(root_text)
        .map_err(|e| unusable(format!("invalid trusted root: {e}")))?;
    let text =
        std::str::from_utf8(bundle_bytes).map_err(|_| rejected("the bundle is not UTF-8"))?;
    let bundle = sigstore_types::Bundle::from_json(text)
        .map_err(|e| rejected(format!("unusable bundle: {e}")))?;
    // The verifier must be looking at the content reprove will act on. The strict parse has
    // already refused anything two readers could read differently; this says so again on the
    // exact bytes sigstore-verify checks.
    let verified_payload: Option<&[u8]> = match &bundle.content {
        sigstore_types::SignatureContent::DsseEnvelope(e) => Some(e.payload.as_bytes()),
        _ => None,
    };
    match (&parsed.content, verified_payload) {
        (Content::Dsse(env), Some(p)) if env.payload == p => {}
        (Content::MessageSignature { .. }, None) => {}
        _ => {
            return Err(rejected(
                "the verifier and reprove read different content from the bundle",
            ));
        }
    }
    let whole = match artifact {
        ArtifactInput::File(p) => {
            let len = std::fs::metadata(p)
                .map_err(|e| {
                    unusable(format!(
                        "failed to read the artifact `{}`: {e}",
                        p.display()
                    ))
                })?
                .len();
            if len <= WHOLE_FILE_LIMIT {
                Some(std::fs::read(p).map_err(|e| {
                    unusable(format!(
                        "failed to read the artifact `{}`: {e}",
                        p.display()
                    ))
                })?)
            } else {
                None
            }
        }
        ArtifactInput::Sha256(_) => None,
        ArtifactInput::StatementOnly => {
            return Err(rejected(
                "the statement has no sha256 subject, which the keyless verifier needs to match",
            ));
        }
    };
    let sha256 = match artifact {
        ArtifactInput::Sha256(d) => *d,
        ArtifactInput::StatementOnly => [0; 32],
        ArtifactInput::File(p) => match &whole {
            Some(b) => sha2::Sha256::digest(b).into(),
            None => file_digests(p, false)?.sha256,
        },
    };
    let digest = sigstore_types::Sha256Hash::from_hex(&hex::encode(sha256))
        .map_err(|e| unusable(format!("bad digest: {e}")))?;
    let result = match signer {
        Signer::Key { key } => {
            let der = sigstore_types::DerPublicKey::from_pem(&key.to_pem())
                .map_err(|e| unusable(format!("the key cannot be used by the verifier: {e}")))?;
            let policy = sigstore_verify::PublicKeyVerificationPolicy::new(der);
            match &whole {
                Some(b) => sigstore_verify::verify(b.as_slice(), &bundle, &policy, &root),
                None => sigstore_verify::verify(digest, &bundle, &policy, &root),
            }
        }
        Signer::Identity { identity, issuer } => {
            // Exact values are the verifier's own policy; a pattern is checked below against
            // the identity and issuer of the certificate the verifier accepted.
            let mut policy = match identity.exact() {
                Some(id) => {
                    sigstore_verify::VerificationPolicy::any_identity().require_identity(id)
                }
                None => sigstore_verify::VerificationPolicy::any_identity(),
            };
            if let Some(iss) = issuer.exact() {
                policy = policy.require_issuer(iss);
            }
            match &whole {
                Some(b) => sigstore_verify::verify(b.as_slice(), &bundle, &policy, &root),
                None => sigstore_verify::verify(digest, &bundle, &policy, &root),
            }
        }
    }
    .map_err(|e| rejected(error_chain(&e)))?;
    if let Signer::Identity { identity, issuer } = signer {
        let got_id = result.identity().map(|i| i.as_str().to_owned());
        let got_iss = result.issuer().map(str::to_owned);
        match (&got_id, &got_iss) {
            (Some(id), Some(iss)) if identity.matches(id) && issuer.matches(iss) => {}
            _ => {
                return Err(rejected(format!(
                    "identity mismatch: expected {identity} issued by {issuer}, got {} issued by {}",
                    got_id.as_deref().unwrap_or("no identity"),
                    got_iss.as_deref().unwrap_or("no issuer")
                )));
            }
        }
    }

    let mut checks = Vec::new();
    let signature_detail = match (&parsed.content, signer) {
        (Content::Dsse(_), _) => "DSSE over PAE".to_owned(),
        (Content::MessageSignature { .. }, _) => "message signature".to_owned(),
    };
    checks.push(Check {
        name: "signature",
        detail: signature_detail,
    });
    if result.certificate_verified() {
        checks.push(Check {
            name: "certificate-chain",
            detail: "leaf chains to a Fulcio CA of the trusted root, valid at signing time".into(),
        });
    }
    if result.sct_verified() {
        checks.push(Check {
            name: "sct",
            detail: "certificate transparency timestamp from a trusted CT log".into(),
        });
    }
    if result.tlog_verified() {
        checks.push(Check {
            name: "transparency-log",
            detail: format!(
                "{} Rekor entr{} verified",
                parsed.tlog_entries,
                if parsed.tlog_entries == 1 { "y" } else { "ies" }
            ),
        });
    }
    let stamps = result.verified_timestamps();
    if !stamps.is_empty() {
        checks.push(Check {
            name: "timestamps",
            detail: format!("{} verified time source(s)", stamps.len()),
        });
    }
    // Checked above for every keyless signer (by the verifier too when both are exact).
    if let Signer::Identity { identity, issuer } = signer
        && let (Some(id), Some(iss)) = (result.identity(), result.issuer())
    {
        let shown = |want: &Expected, got: &str| match want {
            Expected::Exact(_) => format!("`{got}`"),
            Expected::Pattern(..) => format!("`{got}` (matches {want})"),
        };
        checks.push(Check {
            name: "identity",
            detail: format!(
                "SAN {}, issuer {}",
                shown(identity, id.as_str()),
                shown(issuer, iss)
            ),
        });
    }
    checks.push(Check {
        name: "artifact",
        detail: format!("sha256:{}", hex::encode(sha256)),
    });
    // Decoded from the payload sigstore-verify checked (equal to reprove's own reading).
    let statement = match verified_payload {
        Some(p) => Some(decode_statement(p)?),
        None => None,
    };
    Ok(Verified {
        checks,
        notes: Vec::new(),
        statement,
        certificate_identity: result.identity().map(|i| i.as_str().to_owned()),
    })
}

/// An error and its sources on one line, each cause once.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::Expected;

    #[test]
    fn a_pattern_matches_the_whole_value_and_cannot_break_out() {
        let p = Expected::pattern(r"https://github\.com/acme/app/.*").unwrap();
        assert!(p.matches("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main"));
        assert!(!p.matches("https://evil.example/?https://github.com/acme/app/x"));
        assert!(!p.matches("https://github.com/acme/app/x\n"));
        // Alternation stays inside the group.
        let p = Expected::pattern("a|b").unwrap();
        assert!(p.matches("a") && !p.matches("ab") && !p.matches("xb"));
        // A pattern that would close the anchoring group is refused, not widened to `.*`.
        for escape in [
            "nomatch)|(.*",
            r"https://github\.com/acme/app/.*)|(?:.*",
            "x)(?m)(?:y",
        ] {
            assert!(Expected::pattern(escape).is_err(), "{escape}");
        }
        // Flags set inside the pattern stay inside it.
        let p = Expected::pattern("(?m)a").unwrap();
        assert!(!p.matches("a\nb"));
    }
}
