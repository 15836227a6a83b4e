//! Pushing and pulling content, for evidence kept in registries (distribution-spec v1.1,
//! <https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md>):
//!
//! - a blob is uploaded only when a `HEAD` says the registry lacks it, monolithically
//!   (`POST` then `PUT …?digest=`, "Pushing a blob monolithically");
//! - a manifest is `PUT` by tag or digest, and the digest the registry reports must be the
//!   hash of the bytes sent;
//! - a blob read back must hash to its digest and stay under a size given by the caller; a
//!   redirect to another host (registries send blobs from a CDN) is followed without
//!   credentials, over HTTPS only;
//! - referrers come from the referrers API, or, where the registry has none (CNCF
//!   Distribution 2.8), from the fallback tag `sha256-<hex>` ("Referrers Tag Schema"), which
//!   [`RegistryClient::push_referrer`] keeps up to date.

use std::collections::BTreeMap;

use reprove_digest::{Digest, sha256_bytes};

use super::{
    Auth, MAX_MANIFEST_BYTES, OCI_INDEX, RegistryClient, RegistryError, error_detail,
    percent_encode, split_url,
};
use crate::ImageRef;

/// What a request asks of the registry's token service (`scope=repository:<name>:<actions>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Pull,
    Push,
}

impl Access {
    pub(crate) fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        }
    }
}

/// The token cache key: a pull token cannot push.
pub(crate) fn token_key(image: &ImageRef, access: Access) -> String {
    format!("{}#{}", image.name(), access.actions())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Put,
    Post,
}

/// A content descriptor (image-spec `descriptor.md`), as an index lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

type Response = ureq::http::Response<ureq::Body>;

impl RegistryClient {
    fn repo_url(&self, image: &ImageRef) -> String {
        let registry = image.registry();
        format!(
            "{}://{}/v2/{}",
            self.scheme(registry),
            Self::api_host(registry),
            image.repository()
        )
    }

    /// One request with the registry's authentication: a cached token for `access`, else the
    /// answer to the first 401's challenge. Other statuses are the caller's to read.
    fn send(
        &self,
        image: &ImageRef,
        access: Access,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, RegistryError> {
        let registry = image.registry();
        let key = token_key(image, access);
        let mut auth = match self.tokens.lock().ok().and_then(|t| t.get(&key).cloned()) {
            Some(t) => Auth::Bearer(t),
            None => Auth::None,
        };
        let mut authed = false;
        loop {
            let mut all: Vec<(&str, String)> =
                headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            match &auth {
                Auth::None => {}
                Auth::Basic(b) => all.push(("Authorization", format!("Basic {b}"))),
                Auth::Bearer(t) => all.push(("Authorization", format!("Bearer {t}"))),
            }
            fn with<B>(
                mut req: ureq::RequestBuilder<B>,
                headers: &[(&str, String)],
            ) -> ureq::RequestBuilder<B> {
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                req
            }
            let resp = match method {
                Method::Get => with(self.agent.get(url), &all).call(),
                Method::Head => with(self.agent.head(url), &all).call(),
                Method::Put => with(self.agent.put(url), &all).send(body),
                Method::Post => with(self.agent.post(url), &all).send(body),
            }
            .map_err(|e| Self::unreachable(registry, &e))?;
            let status = resp.status().as_u16();
            match status {
                401 if !authed => {
                    authed = true;
                    let challenge = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    auth = self.authenticate(image, &challenge, access)?;
                    if matches!(auth, Auth::None) {
                        return Err(self.refused(image, status));
                    }
                }
                401 | 403 => return Err(self.refused(image, status)),
                429 => {
                    return Err(RegistryError::RateLimited {
                        registry: registry.to_owned(),
                    });
                }
                _ => return Ok(resp),
            }
        }
    }

    fn refused(&self, image: &ImageRef, status: u16) -> RegistryError {
        RegistryError::Unauthorized {
            registry: image.registry().to_owned(),
            repository: image.repository().to_owned(),
            status,
        }
    }

    /// The error for an answer the protocol does not allow here, with the registry's own
    /// error text when it sent one.
    fn unexpected(image: &ImageRef, what: &str, resp: Response) -> RegistryError {
        let status = resp.status().as_u16();
        let detail = resp
            .into_body()
            .into_with_config()
            .limit(64 * 1024)
            .read_to_string()
            .ok()
            .and_then(|b| error_detail(&b));
        RegistryError::Http {
            registry: image.registry().to_owned(),
            what: what.to_owned(),
            status,
            detail,
        }
    }

    /// A `Location` the registry answered, as an absolute URL on the registry itself: an
    /// upload session elsewhere would take our credentials and the content there.
    fn same_place(
        &self,
        image: &ImageRef,
        what: &str,
        resp: &Response,
    ) -> Result<String, RegistryError> {
        let registry = image.registry();
        let host = Self::api_host(registry);
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let absolute = if location.starts_with('/') {
            format!("{}://{host}{location}", self.scheme(registry))
        } else {
            location.clone()
        };
        let ok = split_url(&absolute).is_some_and(|(scheme, authority)| {
            scheme == self.scheme(registry) && authority == host
        });
        if ok {
            Ok(absolute)
        } else {
            Err(RegistryError::ForeignRedirect {
                registry: registry.to_owned(),
                what: what.to_owned(),
                location,
            })
        }
    }

    /// Uploads `data` as a blob of `repo` unless the registry has it; its digest.
    pub fn push_blob(&self, repo: &ImageRef, data: &[u8]) -> Result<Digest, RegistryError> {
        let digest = sha256_bytes(data);
        let what = format!("{}@{digest}", repo.name());
        let base = self.repo_url(repo);
        let head = self.send(
            repo,
            Access::Push,
            Method::Head,
            &format!("{base}/blobs/{digest}"),
            &[],
            &[],
        )?;
        if head.status().as_u16() == 200 {
            return Ok(digest);
        }
        let start = self.send(
            repo,
            Access::Push,
            Method::Post,
            &format!("{base}/blobs/uploads/"),
            &[("Content-Length", "0")],
            &[],
        )?;
        if start.status().as_u16() != 202 {
            return Err(Self::unexpected(repo, &what, start));
        }
        let session = self.same_place(repo, &what, &start)?;
        let sep = if session.contains('?') { '&' } else { '?' };
        let put = self.send(
            repo,
            Access::Push,
            Method::Put,
            &format!(
                "{session}{sep}digest={}",
                percent_encode(&digest.to_string())
            ),
            &[("Content-Type", "application/octet-stream")],
            data,
        )?;
        if put.status().as_u16() != 201 {
            return Err(Self::unexpected(repo, &what, put));
        }
        Ok(digest)
    }

    /// Puts a manifest under `reference` (a tag, or its own digest); its digest. The
    /// registry's `Docker-Content-Digest` must be that digest.
    pub fn push_manifest(
        &self,
        repo: &ImageRef,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let what = format!("{}:{reference}", repo.name());
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(RegistryError::TooLarge {
                registry: repo.registry().to_owned(),
                what,
            });
        }
        let digest = sha256_bytes(bytes);
        if let Ok(want) = reference.parse::<Digest>()
            && want != digest
        {
            return Err(RegistryError::DigestMismatch {
                registry: repo.registry().to_owned(),
                what,
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
        let resp = self.send(
            repo,
            Access::Push,
            Method::Put,
            &format!("{}/manifests/{reference}", self.repo_url(repo)),
            &[("Content-Type", media_type)],
            bytes,
        )?;
        if resp.status().as_u16() != 201 {
            return Err(Self::unexpected(repo, &what, resp));
        }
        if let Some(reported) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && reported != digest.to_string()
        {
            return Err(RegistryError::DigestMismatch {
                registry: repo.registry().to_owned(),
                what,
                expected: digest.to_string(),
                actual: reported.to_owned(),
            });
        }
        Ok(digest)
    }

    /// Reads the blob `digest` of `repo`, at most `limit` bytes; `Ok(None)` when the registry
    /// does not have it. The bytes must hash to `digest`.
    pub fn get_blob(
        &self,
        repo: &ImageRef,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let registry = repo.registry();
        let what = format!("{}@{digest}", repo.name());
        let mut resp = self.send(
            repo,
            Access::Pull,
            Method::Get,
            &format!("{}/blobs/{digest}", self.repo_url(repo)),
            &[],
            &[],
        )?;
        let mut hops = 0;
        while matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
            hops += 1;
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            resp = match self.same_place(repo, &what, &resp) {
                // On the registry itself: with its authentication.
                Ok(url) if hops <= 5 => {
                    self.send(repo, Access::Pull, Method::Get, &url, &[], &[])?
                }
                // Elsewhere (a CDN): HTTPS only, and no credentials; the digest is the check.
                Err(_) if hops <= 5 && split_url(&location).is_some_and(|(s, _)| s == "https") => {
                    self.agent
                        .get(&location)
                        .call()
                        .map_err(|e| Self::unreachable(registry, &e))?
                }
                _ => {
                    return Err(RegistryError::ForeignRedirect {
                        registry: registry.to_owned(),
                        what,
                        location,
                    });
                }
            };
        }
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(Self::unexpected(repo, &what, resp)),
        }
        let bytes = resp
            .into_body()
            .into_with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => RegistryError::BlobTooLarge {
                    registry: registry.to_owned(),
                    what: what.clone(),
                    limit,
                },
                other => Self::unreachable(registry, &other),
            })?;
        let got = reprove_digest::digest_bytes(digest.algorithm(), &bytes);
        if &got != digest {
            return Err(RegistryError::DigestMismatch {
                registry: registry.to_owned(),
                what,
                expected: digest.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(Some(bytes))
    }

    /// The manifests whose `subject` is `subject`, of `artifact_type` when given: from the
    /// referrers API, else from the fallback tag.
    pub fn referrers(
        &self,
        repo: &ImageRef,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let what = format!("referrers of {}@{subject}", repo.name());
        let resp = self.send(
            repo,
            Access::Pull,
            Method::Get,
            &format!("{}/referrers/{subject}", self.repo_url(repo)),
            &[("Accept", OCI_INDEX)],
            &[],
        )?;
        let index = match resp.status().as_u16() {
            200 => resp
                .into_body()
                .into_with_config()
                .limit(MAX_MANIFEST_BYTES)
                .read_to_vec()
                .map_err(|e| match e {
                    ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge {
                        registry: repo.registry().to_owned(),
                        what: what.clone(),
                    },
                    other => Self::unreachable(repo.registry(), &other),
                })?,
            // No referrers API: the fallback tag, if anything was ever attached.
            404 => match self.get_manifest(repo, &fallback_tag(subject))? {
                Some(m) => m.bytes,
                None => return Ok(Vec::new()),
            },
            _ => return Err(Self::unexpected(repo, &what, resp)),
        };
        let mut found = index_manifests(&index).map_err(|reason| RegistryError::Http {
            registry: repo.registry().to_owned(),
            what: what.clone(),
            status: 200,
            detail: Some(reason),
        })?;
        // A registry may ignore the filter (it says so in `OCI-Filters-Applied`): filter here.
        if let Some(t) = artifact_type {
            found.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(found)
    }

    /// Pushes `manifest` (an image manifest with a `subject`) by its digest, and, where the
    /// registry does not answer with `OCI-Subject` (no referrers API), adds it to the
    /// fallback tag's index of `subject`. The manifest's descriptor.
    pub fn push_referrer(
        &self,
        repo: &ImageRef,
        subject: &Digest,
        media_type: &str,
        artifact_type: &str,
        annotations: BTreeMap<String, String>,
        manifest: &[u8],
    ) -> Result<Descriptor, RegistryError> {
        let digest = sha256_bytes(manifest);
        let what = format!("{}@{digest}", repo.name());
        let resp = self.send(
            repo,
            Access::Push,
            Method::Put,
            &format!("{}/manifests/{digest}", self.repo_url(repo)),
            &[("Content-Type", media_type)],
            manifest,
        )?;
        if resp.status().as_u16() != 201 {
            return Err(Self::unexpected(repo, &what, resp));
        }
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size: manifest.len() as u64,
            artifact_type: Some(artifact_type.to_owned()),
            annotations,
        };
        if resp.headers().contains_key("oci-subject") {
            return Ok(descriptor);
        }
        let tag = fallback_tag(subject);
        let mut listed = match self.get_manifest(repo, &tag)? {
            Some(m) => index_manifests(&m.bytes).map_err(|reason| RegistryError::Http {
                registry: repo.registry().to_owned(),
                what: format!("{}:{tag}", repo.name()),
                status: 200,
                detail: Some(reason),
            })?,
            None => Vec::new(),
        };
        if !listed.iter().any(|d| d.digest == descriptor.digest) {
            listed.push(descriptor.clone());
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": listed,
        });
        let bytes = serde_json::to_vec(&index).map_err(|e| RegistryError::Http {
            registry: repo.registry().to_owned(),
            what: format!("{}:{tag}", repo.name()),
            status: 0,
            detail: Some(e.to_string()),
        })?;
        self.push_manifest(repo, &tag, OCI_INDEX, &bytes)?;
        Ok(descriptor)
    }
}

/// The fallback tag of the referrers of `subject`: `<alg>-<hex>` (distribution-spec
/// "Referrers Tag Schema").
pub fn fallback_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().as_str(), subject.hex())
}

/// The `manifests` of an image index.
fn index_manifests(bytes: &[u8]) -> Result<Vec<Descriptor>, String> {
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    serde_json::from_slice::<Index>(bytes)
        .map(|i| i.manifests)
        .map_err(|e| format!("not an image index: {e}"))
}

#[cfg(all(test, feature = "testing"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::{ClientOptions, OCI_MANIFEST};
    use crate::testing::TestRegistry;

    fn client() -> RegistryClient {
        RegistryClient::new(ClientOptions {
            auth_file: Some("/nonexistent".into()),
            ..Default::default()
        })
        .unwrap()
    }

    fn artifact(
        config: &Digest,
        layer: &Digest,
        layer_len: usize,
        subject: Option<(&Digest, usize)>,
    ) -> Vec<u8> {
        let mut m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": layer.to_string(), "size": layer_len}],
        });
        if let Some((d, size)) = subject {
            m["subject"] = serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": size});
        }
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn blobs_and_manifests_round_trip_on_a_real_registry() {
        let reg = TestRegistry::start();
        let c = client();
        let repo: ImageRef = format!("{}/evidence/app:v1", reg.host).parse().unwrap();
        let data = b"{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}".to_vec();
        let d = c.push_blob(&repo, &data).unwrap();
        // Again: the HEAD finds it, nothing is uploaded twice.
        assert_eq!(c.push_blob(&repo, &data).unwrap(), d);
        assert_eq!(c.get_blob(&repo, &d, 1 << 20).unwrap().unwrap(), data);
        // Too large for the caller's limit: refused, not truncated.
        assert!(matches!(
            c.get_blob(&repo, &d, 4),
            Err(RegistryError::BlobTooLarge { .. })
        ));
        let missing = sha256_bytes(b"never pushed");
        assert_eq!(c.get_blob(&repo, &missing, 1 << 20).unwrap(), None);

        let empty = c.push_blob(&repo, b"{}").unwrap();
        let m = artifact(&empty, &d, data.len(), None);
        let md = c.push_manifest(&repo, "v1", OCI_MANIFEST, &m).unwrap();
        let got = c.get_manifest(&repo, "v1").unwrap().unwrap();
        assert_eq!((got.digest, got.bytes), (md.clone(), m.clone()));
        // By a digest that is not the bytes': refused before anything is sent.
        assert!(matches!(
            c.push_manifest(&repo, &missing.to_string(), OCI_MANIFEST, &m),
            Err(RegistryError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn referrers_through_the_fallback_tag_where_the_registry_has_no_api() {
        let reg = TestRegistry::start();
        let c = client();
        let repo: ImageRef = format!("{}/evidence/app:v1", reg.host).parse().unwrap();
        let empty = c.push_blob(&repo, b"{}").unwrap();
        let layer = c.push_blob(&repo, b"artifact").unwrap();
        let subject_bytes = artifact(&empty, &layer, 8, None);
        let subject = c
            .push_manifest(&repo, "v1", OCI_MANIFEST, &subject_bytes)
            .unwrap();
        assert!(c.referrers(&repo, &subject, None).unwrap().is_empty());

        let mut pushed = Vec::new();
        for body in [b"bundle one".as_slice(), b"bundle two"] {
            let b = c.push_blob(&repo, body).unwrap();
            let m = artifact(
                &empty,
                &b,
                body.len(),
                Some((&subject, subject_bytes.len())),
            );
            let annotations = BTreeMap::from([("dev.reprove.name".to_owned(), "x".to_owned())]);
            pushed.push(
                c.push_referrer(
                    &repo,
                    &subject,
                    OCI_MANIFEST,
                    "application/vnd.dev.sigstore.bundle.v0.3+json",
                    annotations,
                    &m,
                )
                .unwrap(),
            );
        }
        let found = c.referrers(&repo, &subject, None).unwrap();
        assert_eq!(found, pushed);
        assert_eq!(
            c.referrers(
                &repo,
                &subject,
                Some("application/vnd.dev.sigstore.bundle.v0.3+json")
            )
            .unwrap()
            .len(),
            2
        );
        assert!(
            c.referrers(&repo, &subject, Some("text/plain"))
                .unwrap()
                .is_empty()
        );
        // The fallback tag is an index a plain manifest read sees.
        let tag = c
            .get_manifest(&repo, &fallback_tag(&subject))
            .unwrap()
            .unwrap();
        assert_eq!(tag.media_type, OCI_INDEX);
    }

    #[test]
    fn pushing_needs_the_registrys_credentials() {
        let reg = TestRegistry::start_with_basic_auth("ci", "s3cret");
        let repo: ImageRef = format!("{}/evidence/app:v1", reg.host).parse().unwrap();
        assert!(matches!(
            client().push_blob(&repo, b"x"),
            Err(RegistryError::Unauthorized { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("config.json");
        // ci:s3cret
        std::fs::write(
            &auth,
            format!(
                r#"{{"auths":{{"{}":{{"auth":"Y2k6czNjcmV0"}}}}}}"#,
                reg.host
            ),
        )
        .unwrap();
        let c = RegistryClient::new(ClientOptions {
            auth_file: Some(auth),
            ..Default::default()
        })
        .unwrap();
        let d = c.push_blob(&repo, b"x").unwrap();
        assert_eq!(c.get_blob(&repo, &d, 16).unwrap().unwrap(), b"x");
    }
}
