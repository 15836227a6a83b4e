//! Keyless signing (Sigstore): no long-lived key. For each statement, an ephemeral P-256 key;
//! a short-lived certificate for it from Fulcio that binds it to an OIDC identity (a CI
//! workflow, a person); the DSSE envelope entered in the Rekor transparency log; optionally an
//! RFC 3161 timestamp. The result is a Sigstore bundle v0.3 with the certificate, the log
//! entry (inclusion proof, checkpoint and promise) and the timestamp, which `verify-bundle`,
//! cosign and `@sigstore/verify` check against a trusted root and an expected identity.
//!
//! The protocol clients are sigstore-rust's (`sigstore-sign`), the same family as the verifier
//! reprove uses; this crate chooses the services, finds the identity token, runs the async
//! clients to completion, and checks what came back before it is written anywhere.
//!
//! Specs: Sigstore bundle v0.3 (<https://github.com/sigstore/protobuf-specs>), Fulcio's
//! `/api/v2/signingCert`, Rekor's `dsse` 0.0.1 entries, RFC 3161.

use std::path::{Path, PathBuf};

use reprove_attest::{AttestError, StatementSigner};
use sigstore_sign::oidc::IdentityToken;
use sigstore_sign::{SigningContext, SigningServices, SigstoreInstance};

/// Everything that can go wrong signing keylessly.
#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    #[error(
        "no identity token: give --identity-token, set SIGSTORE_ID_TOKEN, or run in a CI job that grants one (GitHub Actions: `permissions: id-token: write`)"
    )]
    NoToken,
    #[error("failed to read the identity token from `{path}`")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the identity token from {origin} is not a JWT Fulcio can read")]
    BadToken {
        origin: &'static str,
        #[source]
        source: sigstore_sign::oidc::Error,
    },
    #[error("the identity token from {origin} expired; ask for a fresh one")]
    Expired { origin: &'static str },
    #[error("failed to ask the CI environment for an identity token")]
    Ambient {
        #[source]
        source: sigstore_sign::oidc::Error,
    },
    #[error("failed to read the signing config `{path}`")]
    SigningConfig {
        path: PathBuf,
        #[source]
        source: sigstore_sign::trust_root::Error,
    },
    #[error("the signing config does not name usable services")]
    Services {
        #[source]
        source: sigstore_sign::Error,
    },
    #[error("`{url}` is not an http(s) URL for the {service}")]
    BadUrl { service: &'static str, url: String },
    #[error("failed to start the runtime the Sigstore clients run on")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the Sigstore services did not sign for `{identity}` (Fulcio `{fulcio}`, Rekor `{rekor}`)"
    )]
    Sign {
        identity: String,
        fulcio: String,
        rekor: String,
        #[source]
        source: Redacted,
    },
    #[error("the Sigstore services returned a bundle that {problem}")]
    BadBundle { problem: String },
    #[error(
        "a keyless signature is verified against a sha256 subject of the statement, and this one has none (a baseline needs --artifacts)"
    )]
    NoSha256Subject,
    #[error(
        "the Sigstore services returned a bundle that does not verify against the trusted root"
    )]
    Unverifiable {
        #[source]
        source: reprove_attest::verify::VerifyError,
    },
}

/// A service's error with the identity token cut out: a service may echo the request, and
/// the token is a bearer credential that must not reach a log.
#[derive(Debug)]
pub struct Redacted(String);

impl Redacted {
    fn new(e: &dyn std::error::Error, token: &str) -> Redacted {
        let chain = reprove_attest::verify::error_chain(e);
        Redacted(if token.is_empty() {
            chain
        } else {
            chain.replace(token, "<identity token>")
        })
    }
}

impl std::fmt::Display for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Redacted {}

/// Where the identity token comes from, strongest first.
#[derive(Debug, Clone, Default)]
pub enum TokenSource {
    /// `--identity-token`: the token itself, or `@FILE` to read it from a file.
    Given(String),
    /// `SIGSTORE_ID_TOKEN` (GitLab's `id_tokens:` with `aud: sigstore`), then the CI's ambient
    /// credentials (GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`, audience
    /// `sigstore`; others the `ambient-id` crate knows).
    #[default]
    Environment,
}

/// Which Sigstore services to use, and the root their signatures are checked against.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// The deployment's trusted root (JSON), to check each bundle before it is written.
    /// Without one, public-good bundles are checked against Sigstore's production root and
    /// other deployments' are not checked (see [`KeylessSigner::checks_bundles`]).
    pub trusted_root: Option<String>,
    /// A Sigstore signing config (`signing_config.json`, v0.2) naming Fulcio, Rekor and a TSA.
    pub signing_config: Option<PathBuf>,
    pub fulcio_url: Option<String>,
    pub rekor_url: Option<String>,
    pub tsa_url: Option<String>,
}

impl Services {
    /// Whether any service was named (else the public-good instance is used).
    pub fn is_custom(&self) -> bool {
        self.signing_config.is_some()
            || self.fulcio_url.is_some()
            || self.rekor_url.is_some()
            || self.tsa_url.is_some()
    }

    fn resolve(&self) -> Result<SigningServices, KeylessError> {
        let base = match &self.signing_config {
            Some(path) => {
                let config = sigstore_sign::trust_root::SigningConfig::from_file(path).map_err(
                    |source| KeylessError::SigningConfig {
                        path: path.clone(),
                        source,
                    },
                )?;
                Some(
                    SigningServices::from_signing_config(&config)
                        .map_err(|source| KeylessError::Services { source })?,
                )
            }
            None if self.fulcio_url.is_none() && self.rekor_url.is_none() => Some(
                SigningServices::from_embedded(SigstoreInstance::PublicGood)
                    .map_err(|source| KeylessError::Services { source })?,
            ),
            None => None,
        };
        for (service, url) in [
            ("Fulcio", &self.fulcio_url),
            ("Rekor log", &self.rekor_url),
            ("timestamp authority", &self.tsa_url),
        ] {
            if let Some(u) = url
                && !(u.starts_with("https://") || u.starts_with("http://"))
            {
                return Err(KeylessError::BadUrl {
                    service,
                    url: u.clone(),
                });
            }
        }
        let fulcio = self
            .fulcio_url
            .clone()
            .or_else(|| base.as_ref().map(|b| b.fulcio_url().to_owned()));
        let rekor = self
            .rekor_url
            .clone()
            .or_else(|| base.as_ref().map(|b| b.rekor_url().to_owned()));
        let (Some(fulcio), Some(rekor)) = (fulcio, rekor) else {
            return Err(KeylessError::BadUrl {
                service: if self.fulcio_url.is_none() {
                    "Fulcio (give --fulcio-url with --rekor-url)"
                } else {
                    "Rekor log (give --rekor-url with --fulcio-url)"
                },
                url: String::new(),
            });
        };
        let mut out = match (&base, &self.rekor_url) {
            // The log named by the signing config keeps its API version.
            (Some(b), None) => {
                SigningServices::new(fulcio, rekor.clone()).with_rekor(rekor, b.rekor_api_version())
            }
            _ => SigningServices::new(fulcio, rekor),
        };
        let tsa = self
            .tsa_url
            .clone()
            .or_else(|| base.as_ref().and_then(|b| b.tsa_url().map(str::to_owned)));
        if let Some(t) = tsa {
            out = out.with_tsa_url(t);
        }
        out.validate()
            .map_err(|source| KeylessError::Services { source })?;
        Ok(out)
    }
}

/// A keyless signer: one identity token, fresh key and certificate per statement.
pub struct KeylessSigner {
    runtime: tokio::runtime::Runtime,
    context: SigningContext,
    token: IdentityToken,
    identity: String,
    issuer: String,
    /// `Some(root)` (`None` inside: the production root) when each bundle is verified before
    /// it is returned.
    check_root: Option<Option<String>>,
    /// The identity of the last certificate Fulcio issued, as verifiers must pin it.
    certificate_identity: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for KeylessSigner {
    // The token is a bearer credential: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessSigner")
            .field("identity", &self.identity)
            .field("issuer", &self.issuer)
            .field("services", self.context.services())
            .finish_non_exhaustive()
    }
}

impl KeylessSigner {
    /// Finds the identity token and the services; contacts nothing yet, except the CI's token
    /// endpoint when the token is ambient.
    pub fn new(token: &TokenSource, services: &Services) -> Result<KeylessSigner, KeylessError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| KeylessError::Runtime { source })?;
        let token = find_token(token, &runtime)?;
        let context = SigningContext::new(services.resolve()?);
        let check_root = match (&services.trusted_root, services.is_custom()) {
            (Some(root), _) => Some(Some(root.clone())),
            (None, false) => Some(None),
            (None, true) => None,
        };
        Ok(KeylessSigner {
            runtime,
            context,
            identity: token.identity().to_owned(),
            issuer: token.issuer().to_owned(),
            token,
            check_root,
            certificate_identity: std::sync::Mutex::new(None),
        })
    }

    /// Whether each bundle is verified against a trusted root before it is returned (always
    /// for the public-good instance; for another deployment only with its root).
    pub fn checks_bundles(&self) -> bool {
        self.check_root.is_some()
    }

    /// The identity the last certificate carried: what `--certificate-identity` must name.
    pub fn certificate_identity(&self) -> Option<String> {
        self.certificate_identity
            .lock()
            .ok()
            .and_then(|g| g.clone())
    }

    /// The token's identity (its `email` or `sub`); the certificate's may differ (on GitHub
    /// it is the workflow's URL): see [`Self::certificate_identity`].
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The token's issuer (the certificate's OIDC issuer extension).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn fulcio_url(&self) -> &str {
        self.context.services().fulcio_url()
    }

    pub fn rekor_url(&self) -> &str {
        self.context.services().rekor_url()
    }

    pub fn tsa_url(&self) -> Option<&str> {
        self.context.services().tsa_url()
    }

    /// Signs `statement` and returns the bundle's JSON, checked: the envelope carries exactly
    /// these bytes, with one signature, a certificate, and a log entry.
    pub fn sign(&self, statement: &[u8]) -> Result<Vec<u8>, KeylessError> {
        if self.token.is_expired() {
            return Err(KeylessError::Expired { origin: "the CI" });
        }
        // Verifiers of keyless bundles (sigstore-rust's, cosign's, reprove's own, through the
        // same reader) match an artifact digest against the statement: one without a sha256
        // subject could never be verified.
        if reprove_attest::verify::first_sha256_subject(statement).is_none() {
            return Err(KeylessError::NoSha256Subject);
        }
        let signer = self.context.signer(self.token.clone());
        let bundle = self
            .runtime
            .block_on(signer.sign_raw_statement(statement))
            .map_err(|source| KeylessError::Sign {
                identity: self.identity.clone(),
                fulcio: self.fulcio_url().to_owned(),
                rekor: self.rekor_url().to_owned(),
                source: Redacted::new(&source, self.token.expose_secret()),
            })?;
        let mut bytes =
            serde_json::to_vec_pretty(&bundle).map_err(|e| KeylessError::BadBundle {
                problem: format!("cannot be written as JSON: {e}"),
            })?;
        check_bundle(&bytes, statement)?;
        // The whole bundle verified as a verifier will (certificate chain and SCT, log entry
        // with its inclusion proof, timestamps, the token's issuer), so a service that
        // returned a bundle no one can verify is caught here, not by the auditor.
        if let Some(root) = &self.check_root {
            use reprove_attest::verify::{Expected, Signer, verify_statement};
            let signer = Signer::Identity {
                identity: Expected::pattern(".*").map_err(|e| KeylessError::BadBundle {
                    problem: e.to_string(),
                })?,
                issuer: Expected::Exact(self.issuer.clone()),
            };
            let verified = verify_statement(&bytes, &signer, root.as_deref())
                .map_err(|source| KeylessError::Unverifiable { source })?;
            if let Ok(mut g) = self.certificate_identity.lock() {
                *g = verified.verified.certificate_identity;
            }
        }
        bytes.push(b'\n');
        Ok(bytes)
    }
}

impl StatementSigner for KeylessSigner {
    fn sign_statement(&self, statement_bytes: Vec<u8>) -> Result<Vec<u8>, AttestError> {
        self.sign(&statement_bytes)
            .map_err(|e| AttestError::Signer {
                signer: self.describe(),
                source: Box::new(e),
            })
    }

    fn describe(&self) -> String {
        format!(
            "`{}` (issuer `{}`), keyless",
            self.certificate_identity()
                .unwrap_or_else(|| self.identity.clone()),
            self.issuer
        )
    }
}

/// What a service returned must be what was asked for: a v0.3 bundle whose DSSE payload is
/// the statement as given, one signature, a certificate and at least one log entry. A service
/// that swapped the payload, or left out the log entry, is caught here rather than by the
/// auditor.
fn check_bundle(bytes: &[u8], statement: &[u8]) -> Result<(), KeylessError> {
    use base64::Engine as _;
    let bad = |problem: &str| KeylessError::BadBundle {
        problem: problem.to_owned(),
    };
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| bad("is not JSON"))?;
    if v["mediaType"] != "application/vnd.dev.sigstore.bundle.v0.3+json" {
        return Err(bad("is not a v0.3 bundle"));
    }
    let env = &v["dsseEnvelope"];
    let payload = env["payload"]
        .as_str()
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .ok_or_else(|| bad("has no DSSE payload"))?;
    if payload != statement {
        return Err(bad("signs another payload than the statement given"));
    }
    if env["payloadType"] != "application/vnd.in-toto+json" {
        return Err(bad("has another payload type than in-toto"));
    }
    if env["signatures"].as_array().map(Vec::len) != Some(1) {
        return Err(bad("does not carry exactly one signature"));
    }
    let material = &v["verificationMaterial"];
    if material["certificate"]["rawBytes"].as_str().is_none() {
        return Err(bad("carries no signing certificate"));
    }
    if material["tlogEntries"].as_array().is_none_or(Vec::is_empty) {
        return Err(bad("carries no transparency log entry"));
    }
    Ok(())
}

fn find_token(
    source: &TokenSource,
    runtime: &tokio::runtime::Runtime,
) -> Result<IdentityToken, KeylessError> {
    let (raw, origin) = match source {
        TokenSource::Given(t) => match t.strip_prefix('@') {
            Some(path) => (read_token_file(Path::new(path))?, "--identity-token"),
            None => (t.trim().to_owned(), "--identity-token"),
        },
        TokenSource::Environment => match std::env::var("SIGSTORE_ID_TOKEN") {
            Ok(t) if !t.trim().is_empty() => (t.trim().to_owned(), "SIGSTORE_ID_TOKEN"),
            _ => {
                let found = runtime
                    .block_on(IdentityToken::detect_ambient())
                    .map_err(|source| KeylessError::Ambient { source })?;
                return match found {
                    Some(t) if t.is_expired() => Err(KeylessError::Expired {
                        origin: "the CI environment",
                    }),
                    Some(t) => Ok(t),
                    None => Err(KeylessError::NoToken),
                };
            }
        },
    };
    let token = IdentityToken::from_jwt(&raw)
        .map_err(|source| KeylessError::BadToken { origin, source })?;
    if token.is_expired() {
        return Err(KeylessError::Expired { origin });
    }
    Ok(token)
}

/// A token file is small; a bigger one is not a token.
fn read_token_file(path: &Path) -> Result<String, KeylessError> {
    use std::io::Read as _;
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_string(&mut s))
        .map_err(|source| KeylessError::TokenFile {
            path: path.to_owned(),
            source,
        })?;
    Ok(s.trim().to_owned())
}

/// Whether this process looks like a CI job that can hand out an identity token (so `--keyless`
/// can be the default there): GitHub Actions with `id-token: write`, or `SIGSTORE_ID_TOKEN`.
pub fn ambient_token_available() -> bool {
    std::env::var_os("SIGSTORE_ID_TOKEN").is_some_and(|v| !v.is_empty())
        || (std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
            && std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_URL").is_some()
            && std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_TOKEN").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned_jwt(claims: &serde_json::Value) -> String {
        use base64::Engine as _;
        let e = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.",
            e(br#"{"alg":"none","typ":"JWT"}"#),
            e(claims.to_string().as_bytes())
        )
    }

    fn bundle(payload: &[u8]) -> serde_json::Value {
        use base64::Engine as _;
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": "AA=="}, "tlogEntries": [{}]},
            "dsseEnvelope": {
                "payload": base64::engine::general_purpose::STANDARD.encode(payload),
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": "AA=="}]
            }
        })
    }

    #[test]
    fn a_bundle_must_sign_the_statement_given_with_a_log_entry() {
        let ok = bundle(b"{}");
        assert!(check_bundle(ok.to_string().as_bytes(), b"{}").is_ok());
        let err = check_bundle(ok.to_string().as_bytes(), b"{\"x\":1}").unwrap_err();
        assert!(err.to_string().contains("another payload"), "{err}");
        let mut no_log = bundle(b"{}");
        no_log["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
        let err = check_bundle(no_log.to_string().as_bytes(), b"{}").unwrap_err();
        assert!(
            err.to_string().contains("no transparency log entry"),
            "{err}"
        );
        let mut two = bundle(b"{}");
        two["dsseEnvelope"]["signatures"] = serde_json::json!([{}, {}]);
        assert!(check_bundle(two.to_string().as_bytes(), b"{}").is_err());
        let mut v1 = bundle(b"{}");
        v1["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
        assert!(check_bundle(v1.to_string().as_bytes(), b"{}").is_err());
    }

    #[test]
    fn tokens_are_read_and_expired_ones_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let far: i64 = 4_102_444_800; // 2100-01-01
        let good = unsigned_jwt(&serde_json::json!({
            "iss": "https://issuer.example", "sub": "ci@example.com", "aud": "sigstore",
            "exp": far, "iat": 0
        }));
        let t = find_token(&TokenSource::Given(good.clone()), &rt).unwrap();
        assert_eq!(t.issuer(), "https://issuer.example");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{good}\n")).unwrap();
        let from_file =
            find_token(&TokenSource::Given(format!("@{}", file.display())), &rt).unwrap();
        assert_eq!(from_file.subject(), "ci@example.com");
        let old = unsigned_jwt(&serde_json::json!({
            "iss": "https://issuer.example", "sub": "x", "aud": "sigstore", "exp": 1, "iat": 0
        }));
        let err = find_token(&TokenSource::Given(old), &rt).unwrap_err();
        assert!(matches!(err, KeylessError::Expired { .. }), "{err}");
        let err = find_token(&TokenSource::Given("not a jwt".into()), &rt).unwrap_err();
        assert!(matches!(err, KeylessError::BadToken { .. }), "{err}");
    }

    #[test]
    fn a_service_error_never_carries_the_token() {
        #[derive(Debug)]
        struct Echo(String);
        impl std::fmt::Display for Echo {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "bad request: {}", self.0)
            }
        }
        impl std::error::Error for Echo {}
        let r = Redacted::new(&Echo("token=eyJ.secret.x".into()), "eyJ.secret.x");
        assert_eq!(r.to_string(), "bad request: token=<identity token>");
    }

    #[test]
    fn services_need_both_urls_or_a_config() {
        let only_fulcio = Services {
            fulcio_url: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        assert!(only_fulcio.resolve().is_err());
        let not_http = Services {
            fulcio_url: Some("file:///etc/passwd".into()),
            rekor_url: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        assert!(matches!(
            not_http.resolve().unwrap_err(),
            KeylessError::BadUrl { .. }
        ));
        let both = Services {
            fulcio_url: Some("http://127.0.0.1:1".into()),
            rekor_url: Some("http://127.0.0.1:2".into()),
            tsa_url: Some("http://127.0.0.1:3/api/v1/timestamp".into()),
            ..Default::default()
        };
        let s = both.resolve().unwrap();
        assert_eq!(s.rekor_url(), "http://127.0.0.1:2");
        assert_eq!(s.tsa_url(), Some("http://127.0.0.1:3/api/v1/timestamp"));
        // The public-good instance when nothing is named.
        let public = Services::default().resolve().unwrap();
        assert!(public.fulcio_url().contains("sigstore.dev"), "{public:?}");
    }
}
