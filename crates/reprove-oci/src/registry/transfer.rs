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

/// A manifest the registry took.
struct PushedManifest {
    digest: Digest,
    /// The registry answered `OCI-Subject`: it has the referrers API and indexes the
    /// manifest's subject itself.
    has_subject_header: bool,
}

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
        let known_basic = self
            .basic_registries
            .lock()
            .is_ok_and(|b| b.contains(registry));
        let mut auth = match self.tokens.lock().ok().and_then(|t| t.get(&key).cloned()) {
            Some(t) => Auth::Bearer(t),
            None if known_basic => self.basic_auth(registry),
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
                    match auth {
                        Auth::None => return Err(self.refused(image, status)),
                        Auth::Basic(_) => {
                            if let Ok(mut b) = self.basic_registries.lock() {
                                b.insert(registry.to_owned());
                            }
                        }
                        Auth::Bearer(_) => {}
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

    /// The registry's basic credentials from the credentials file, if it has any.
    fn basic_auth(&self, registry: &str) -> Auth {
        use base64::Engine as _;
        self.credentials.get(registry).map_or(Auth::None, |c| {
            Auth::Basic(
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.user, c.secret)),
            )
        })
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
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if let Some(absolute) = self.on_registry(registry, &location) {
            Ok(absolute)
        } else if location.is_empty() {
            Err(RegistryError::Http {
                registry: registry.to_owned(),
                what: what.to_owned(),
                status: resp.status().as_u16(),
                detail: Some("the answer has no `Location`".to_owned()),
            })
        } else {
            Err(RegistryError::ForeignRedirect {
                registry: registry.to_owned(),
                what: what.to_owned(),
                location: without_query(&location),
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
            &[],
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
        Ok(self
            .push_manifest_answer(repo, reference, media_type, bytes)?
            .digest)
    }

    fn push_manifest_answer(
        &self,
        repo: &ImageRef,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<PushedManifest, RegistryError> {
        let what = format!("{}:{reference}", repo.name());
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(RegistryError::TooLarge {
                registry: repo.registry().to_owned(),
                what,
            });
        }
        let digest = sha256_bytes(bytes);
        // By digest: the bytes' digest in that algorithm, refused before anything is sent.
        if let Ok(want) = reference.parse::<Digest>() {
            let got = reprove_digest::digest_bytes(want.algorithm(), bytes);
            if got != want {
                return Err(RegistryError::DigestMismatch {
                    registry: repo.registry().to_owned(),
                    what,
                    expected: want.to_string(),
                    actual: got.to_string(),
                });
            }
        }
        let resp = self.send(
            repo,
            Access::Push,
            Method::Put,
            &format!("{}/manifests/{reference}", self.repo_url(repo)),
            &[("Content-Type", media_type)],
            bytes,
        )?;
        // 201 is the spec's answer; some registries answer 200 or 202 for the same success.
        if !(200..=202).contains(&resp.status().as_u16()) {
            return Err(Self::unexpected(repo, &what, resp));
        }
        // What the registry says it stored, in the algorithm it names.
        if let Some(reported) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            let ours = reported
                .parse::<Digest>()
                .map(|r| reprove_digest::digest_bytes(r.algorithm(), bytes) == r);
            if !matches!(ours, Ok(true)) {
                return Err(RegistryError::DigestMismatch {
                    registry: repo.registry().to_owned(),
                    what,
                    expected: digest.to_string(),
                    actual: reported.to_owned(),
                });
            }
        }
        Ok(PushedManifest {
            digest,
            has_subject_header: resp.headers().contains_key("oci-subject"),
        })
    }

    /// Reads the blob `digest` of `repo`, at most `limit` bytes; `Ok(None)` when the registry
    /// does not have it. The bytes must hash to `digest`.
    pub fn get_blob(
        &self,
        repo: &ImageRef,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let mut out = Vec::new();
        Ok(self
            .get_blob_to(repo, digest, limit, &mut out)?
            .map(|_| out))
    }

    /// [`RegistryClient::get_blob`] streamed into `out`, with the number of bytes: memory
    /// stays flat whatever the blob's size. On an error `out` holds a part of the blob (or
    /// bytes that are not it), which the caller must throw away.
    pub fn get_blob_to(
        &self,
        repo: &ImageRef,
        digest: &Digest,
        limit: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<Option<u64>, RegistryError> {
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
                        location: without_query(&location),
                    });
                }
            };
        }
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(Self::unexpected(repo, &what, resp)),
        }
        let too_large = || RegistryError::BlobTooLarge {
            registry: registry.to_owned(),
            what: what.clone(),
            limit,
        };
        let mut reader = resp.into_body().into_with_config().limit(limit).reader();
        let failed =
            |e: std::io::Error| match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                Some(ureq::Error::BodyExceedsLimit(_)) => too_large(),
                _ => RegistryError::Unreachable {
                    registry: registry.to_owned(),
                    reason: e.to_string(),
                },
            };
        let wrote = |e: std::io::Error| RegistryError::Write {
            what: what.clone(),
            reason: e.to_string(),
        };
        // sha256 is hashed as it streams; another algorithm is read whole first (capped).
        let (got, len) = if digest.algorithm() == reprove_digest::Algorithm::Sha256 {
            let mut hasher = reprove_digest::Sha256Hasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match std::io::Read::read(&mut reader, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(failed(e)),
                };
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(wrote)?;
            }
            let len = hasher.len();
            (hasher.finish(), len)
        } else {
            let mut all = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut all).map_err(failed)?;
            out.write_all(&all).map_err(wrote)?;
            (
                reprove_digest::digest_bytes(digest.algorithm(), &all),
                all.len() as u64,
            )
        };
        if &got != digest {
            return Err(RegistryError::DigestMismatch {
                registry: registry.to_owned(),
                what,
                expected: digest.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(Some(len))
    }

    /// The manifests the registry says have `subject` as their subject, of `artifact_type`
    /// when given: from the referrers API (every page), else from the fallback tag. What the
    /// registry says: a caller fetches each by digest and checks its `subject` itself.
    /// Entries that are not descriptors are skipped, not fatal (anyone who may push could
    /// otherwise hide every referrer behind one bad entry).
    pub fn referrers(
        &self,
        repo: &ImageRef,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        /// Pages and entries read at most: a registry cannot make a listing unbounded.
        const MAX_PAGES: usize = 16;
        const MAX_ENTRIES: usize = 10_000;
        let what = format!("referrers of {}@{subject}", repo.name());
        let mut url = format!("{}/referrers/{subject}", self.repo_url(repo));
        let mut found: Vec<Descriptor> = Vec::new();
        let without_api = self
            .no_referrers_api
            .lock()
            .is_ok_and(|k| k.contains(&repo.name()));
        if without_api {
            found = self.fallback_referrers(repo, subject)?;
        }
        for page in 0.. {
            if without_api {
                break;
            }
            if page == MAX_PAGES {
                return Err(too_many(
                    repo,
                    &what,
                    &format!("{MAX_PAGES} pages of referrers"),
                ));
            }
            let resp = self.send(
                repo,
                Access::Pull,
                Method::Get,
                &url,
                &[("Accept", OCI_INDEX)],
                &[],
            )?;
            let status = resp.status().as_u16();
            let is_index = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.split(';').next().unwrap_or(t).trim() == OCI_INDEX);
            // No referrers API (404, or an answer that is not an index): the fallback tag.
            // A registry with the API never answers it with 404 (distribution-spec "Listing
            // Referrers"), so the next question to this repository goes to the tag at once.
            if page == 0 && (status == 404 || (status == 200 && !is_index)) {
                if let Ok(mut known) = self.no_referrers_api.lock() {
                    known.insert(repo.name());
                }
                found = self.fallback_referrers(repo, subject)?;
                break;
            }
            if status != 200 || !is_index {
                return Err(Self::unexpected(repo, &what, resp));
            }
            let next = next_link(&resp);
            let bytes = read_limited(repo, &what, resp)?;
            found.extend(
                index_entries(&bytes)
                    .map_err(|reason| Self::bad_index(repo, &what, reason))?
                    .iter()
                    .filter_map(|v| serde_json::from_value(v.clone()).ok()),
            );
            if found.len() > MAX_ENTRIES {
                return Err(too_many(repo, &what, &format!("{MAX_ENTRIES} referrers")));
            }
            match self.next_page(repo, &what, next)? {
                Some(next) => url = next,
                None => break,
            }
        }
        // A registry may ignore the filter (it says so in `OCI-Filters-Applied`): filter here.
        if let Some(t) = artifact_type {
            found.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        let mut seen = std::collections::HashSet::new();
        found.retain(|d| seen.insert(d.digest.clone()));
        Ok(found)
    }

    /// The referrers the fallback tag lists (none when there is no such tag).
    fn fallback_referrers(
        &self,
        repo: &ImageRef,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let tag = fallback_tag(subject);
        let Some(m) = self.get_manifest(repo, &tag)? else {
            return Ok(Vec::new());
        };
        Ok(index_entries(&m.bytes)
            .map_err(|reason| Self::bad_index(repo, &tag, reason))?
            .iter()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect())
    }

    /// Every tag of `repo` (distribution-spec "Listing Tags"), every page; empty when the
    /// repository does not exist. Bounded: at most 256 pages and 100,000 tags.
    pub fn list_tags(&self, repo: &ImageRef) -> Result<Vec<String>, RegistryError> {
        const MAX_PAGES: usize = 256;
        const MAX_TAGS: usize = 100_000;
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let what = format!("tags of {}", repo.name());
        let mut url = format!("{}/tags/list?n=1000", self.repo_url(repo));
        let mut tags = Vec::new();
        for page in 0.. {
            if page == MAX_PAGES {
                return Err(too_many(repo, &what, &format!("{MAX_PAGES} pages of tags")));
            }
            let resp = self.send(repo, Access::Pull, Method::Get, &url, &[], &[])?;
            match resp.status().as_u16() {
                200 => {}
                404 if page == 0 => return Ok(Vec::new()),
                _ => return Err(Self::unexpected(repo, &what, resp)),
            }
            let next = next_link(&resp);
            let bytes = read_limited(repo, &what, resp)?;
            let list: TagList = serde_json::from_slice(&bytes)
                .map_err(|e| Self::bad_index(repo, &what, format!("not a tag list: {e}")))?;
            tags.extend(list.tags.unwrap_or_default());
            if tags.len() > MAX_TAGS {
                return Err(too_many(repo, &what, &format!("{MAX_TAGS} tags")));
            }
            match self.next_page(repo, &what, next)? {
                Some(next) => url = next,
                None => break,
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// The URL of a paginated answer's next page (`Link: <…>; rel="next"`), on the registry
    /// itself only: a page elsewhere would take the credentials there.
    fn next_page(
        &self,
        repo: &ImageRef,
        what: &str,
        link: Option<String>,
    ) -> Result<Option<String>, RegistryError> {
        let Some(link) = link else {
            return Ok(None);
        };
        match self.on_registry(repo.registry(), &link) {
            Some(next) => Ok(Some(next)),
            None => Err(RegistryError::ForeignRedirect {
                registry: repo.registry().to_owned(),
                what: what.to_owned(),
                location: without_query(&link),
            }),
        }
    }

    fn bad_index(repo: &ImageRef, what: &str, reason: String) -> RegistryError {
        RegistryError::Http {
            registry: repo.registry().to_owned(),
            what: what.to_owned(),
            status: 200,
            detail: Some(reason),
        }
    }

    /// Pushes `manifest` (an image manifest whose `subject` is `subject`) by its digest and,
    /// where the registry does not answer with `OCI-Subject` (no referrers API), lists it in
    /// the fallback tag's index, read again afterwards to make sure a concurrent pusher did
    /// not drop it. The descriptor is the manifest's own (distribution-spec "Pushing
    /// Manifests with Subject": `artifactType`, else `config.mediaType`, and its annotations).
    pub fn push_referrer(
        &self,
        repo: &ImageRef,
        subject: &Digest,
        media_type: &str,
        manifest: &[u8],
    ) -> Result<Descriptor, RegistryError> {
        let digest = sha256_bytes(manifest);
        let what = format!("{}@{digest}", repo.name());
        let bad = |reason: &str| RegistryError::Http {
            registry: repo.registry().to_owned(),
            what: what.clone(),
            status: 0,
            detail: Some(format!("not pushed: {reason}")),
        };
        let parsed: serde_json::Value =
            serde_json::from_slice(manifest).map_err(|_| bad("the manifest is not JSON"))?;
        if parsed.pointer("/subject/digest").and_then(|d| d.as_str()) != Some(&subject.to_string())
        {
            return Err(bad(
                "the manifest's `subject` is not the subject it is attached to",
            ));
        }
        let artifact_type = parsed
            .get("artifactType")
            .or_else(|| parsed.pointer("/config/mediaType"))
            .and_then(|t| t.as_str())
            .map(str::to_owned);
        let annotations: BTreeMap<String, String> = parsed
            .get("annotations")
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .unwrap_or_default();
        let pushed = self.push_manifest_answer(repo, &digest.to_string(), media_type, manifest)?;
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size: manifest.len() as u64,
            artifact_type,
            annotations,
        };
        if pushed.has_subject_header {
            return Ok(descriptor);
        }
        let tag = fallback_tag(subject);
        let entry = serde_json::to_value(&descriptor).map_err(|e| bad(&e.to_string()))?;
        // Read, add, write, read again: two pushers racing can each drop the other's entry.
        for _ in 0..5 {
            let mut entries = match self.get_manifest(repo, &tag)? {
                Some(m) if m.media_type == OCI_INDEX => {
                    index_entries(&m.bytes).map_err(|reason| Self::bad_index(repo, &tag, reason))?
                }
                Some(m) => {
                    return Err(Self::bad_index(
                        repo,
                        &tag,
                        format!(
                            "the fallback tag holds a `{}`, not an image index: left as it is",
                            m.media_type
                        ),
                    ));
                }
                None => Vec::new(),
            };
            let listed = |entries: &[serde_json::Value]| {
                entries.iter().any(|v| {
                    v.get("digest").and_then(|d| d.as_str()) == Some(&descriptor.digest.to_string())
                })
            };
            if listed(&entries) {
                return Ok(descriptor);
            }
            // Other tools' entries are kept as they are, with fields this client does not know.
            entries.push(entry.clone());
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": entries,
            });
            let bytes = serde_json::to_vec(&index).map_err(|e| bad(&e.to_string()))?;
            self.push_manifest(repo, &tag, OCI_INDEX, &bytes)?;
            if let Some(m) = self.get_manifest(repo, &tag)?
                && index_entries(&m.bytes).is_ok_and(|e| listed(&e))
            {
                return Ok(descriptor);
            }
            std::thread::sleep(std::time::Duration::from_millis(
                50 + u64::from(descriptor.digest.as_bytes()[0]),
            ));
        }
        Err(bad(
            "the fallback tag kept losing this entry to other pushers",
        ))
    }
}

/// A URL without its query: presigned URLs carry their signature there, which an error
/// message must not repeat.
fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// A listing longer than this client reads.
fn too_many(repo: &ImageRef, what: &str, limit: &str) -> RegistryError {
    RegistryError::Http {
        registry: repo.registry().to_owned(),
        what: what.to_owned(),
        status: 200,
        detail: Some(format!("more than {limit}")),
    }
}

/// The `next` page of a paginated answer (`Link: <url>; rel="next"`, RFC 8288).
fn next_link(resp: &Response) -> Option<String> {
    resp.headers().get_all("link").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        v.split(',').find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .any(|p| {
                    let p = p.trim().replace(' ', "");
                    p == "rel=\"next\"" || p == "rel=next"
                })
                .then(|| target.to_owned())
        })
    })
}

/// An index's body, at most [`MAX_MANIFEST_BYTES`].
fn read_limited(repo: &ImageRef, what: &str, resp: Response) -> Result<Vec<u8>, RegistryError> {
    resp.into_body()
        .into_with_config()
        .limit(MAX_MANIFEST_BYTES)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge {
                registry: repo.registry().to_owned(),
                what: what.to_owned(),
            },
            other => RegistryClient::unreachable(repo.registry(), &other),
        })
}

/// The fallback tag of the referrers of `subject`: `<alg>-<hex>`, the hex cut to 64
/// characters (distribution-spec "Referrers Tag Schema").
pub fn fallback_tag(subject: &Digest) -> String {
    let hex = subject.hex();
    format!(
        "{}-{}",
        subject.algorithm().as_str(),
        &hex[..hex.len().min(64)]
    )
}

/// The `manifests` of an image index, each as it is (a member that is not one is an error).
fn index_entries(bytes: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    match v.get("manifests") {
        Some(serde_json::Value::Array(a)) => Ok(a.clone()),
        _ => Err("not an image index (no `manifests` list)".to_owned()),
    }
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

    /// A client with `ci:s3cret` for `registry` in its credentials file (kept while the
    /// returned folder lives).
    fn client_with_basic_auth(registry: &str) -> (tempfile::TempDir, RegistryClient) {
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("config.json");
        // ci:s3cret
        std::fs::write(
            &auth,
            format!(r#"{{"auths":{{"{registry}":{{"auth":"Y2k6czNjcmV0"}}}}}}"#),
        )
        .unwrap();
        let c = RegistryClient::new(ClientOptions {
            auth_file: Some(auth),
            ..Default::default()
        })
        .unwrap();
        (dir, c)
    }

    /// A real registry holding `v1`, an artifact to attach referrers to.
    struct Subject {
        _reg: TestRegistry,
        c: RegistryClient,
        repo: ImageRef,
        empty: Digest,
        layer: Digest,
        bytes: Vec<u8>,
        digest: Digest,
    }

    fn subject() -> Subject {
        let reg = TestRegistry::start();
        let c = client();
        let repo: ImageRef = format!("{}/evidence/app:v1", reg.host).parse().unwrap();
        let empty = c.push_blob(&repo, b"{}").unwrap();
        let layer = c.push_blob(&repo, b"artifact").unwrap();
        let bytes = artifact(&empty, &layer, 8, None);
        let digest = c.push_manifest(&repo, "v1", OCI_MANIFEST, &bytes).unwrap();
        Subject {
            _reg: reg,
            c,
            repo,
            empty,
            layer,
            bytes,
            digest,
        }
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
            m["annotations"] = serde_json::json!({"dev.reprove.name": layer.to_string()});
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
        let Subject {
            _reg,
            c,
            repo,
            empty,
            layer,
            bytes: subject_bytes,
            digest: subject,
        } = subject();
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
            pushed.push(c.push_referrer(&repo, &subject, OCI_MANIFEST, &m).unwrap());
            // Again: listed once.
            c.push_referrer(&repo, &subject, OCI_MANIFEST, &m).unwrap();
        }
        // The descriptors are the manifests' own: artifactType and annotations copied.
        assert_eq!(
            pushed[0].artifact_type.as_deref(),
            Some("application/vnd.dev.sigstore.bundle.v0.3+json")
        );
        assert!(pushed[0].annotations.contains_key("dev.reprove.name"));
        let found = c.referrers(&repo, &subject, None).unwrap();
        assert_eq!(found, pushed);
        // A manifest whose subject is another one is not attached to this subject.
        let other = artifact(&empty, &layer, 8, Some((&empty, 2)));
        assert!(
            c.push_referrer(&repo, &subject, OCI_MANIFEST, &other)
                .is_err()
        );
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
    fn tags_are_listed_across_pages_and_a_missing_repository_has_none() {
        let Subject {
            _reg,
            c,
            repo,
            bytes,
            ..
        } = subject();
        for t in ["v2", "v10", "a-b_c.d"] {
            c.push_manifest(&repo, t, OCI_MANIFEST, &bytes).unwrap();
        }
        assert_eq!(c.list_tags(&repo).unwrap(), ["a-b_c.d", "v1", "v10", "v2"]);
        let none: ImageRef = format!("{}/evidence/none", repo.registry())
            .parse()
            .unwrap();
        assert!(c.list_tags(&none).unwrap().is_empty());
    }

    #[test]
    fn pushing_needs_the_registrys_credentials() {
        let reg = TestRegistry::start_with_basic_auth("ci", "s3cret");
        let repo: ImageRef = format!("{}/evidence/app:v1", reg.host).parse().unwrap();
        assert!(matches!(
            client().push_blob(&repo, b"x"),
            Err(RegistryError::Unauthorized { .. })
        ));
        let (_creds, c) = client_with_basic_auth(&reg.host);
        let d = c.push_blob(&repo, b"x").unwrap();
        assert_eq!(c.get_blob(&repo, &d, 16).unwrap().unwrap(), b"x");
    }

    /// Regression (attack review): basic auth was asked for again on every request, so each
    /// pushed body went out once without credentials first (a server may close the
    /// connection on an unread body).
    #[test]
    fn once_a_registry_asked_for_basic_auth_every_request_carries_it() {
        let (host, seen) = fake(|req, auth| {
            if auth == "none" {
                reply(
                    "401 Unauthorized",
                    "WWW-Authenticate: Basic realm=\"x\"\r\n",
                )
            } else if req.starts_with("POST") {
                reply(
                    "202 Accepted",
                    "Location: /v2/evidence/app/blobs/uploads/u1\r\n",
                )
            } else if req.starts_with("PUT") {
                reply("201 Created", "")
            } else {
                reply("404 Not Found", "")
            }
        });
        let (_creds, c) = client_with_basic_auth(&host);
        let repo: ImageRef = format!("{host}/evidence/app:v1").parse().unwrap();
        c.push_blob(&repo, &vec![7u8; 1 << 20]).unwrap();
        let seen = seen.lock().unwrap().clone();
        // The HEAD asked once without; the POST and the PUT with its body had them at once.
        let auths: Vec<bool> = seen.iter().map(|(_, a)| a.starts_with("basic ")).collect();
        assert_eq!(
            auths,
            [false, true, true, true],
            "HEAD, HEAD, POST, PUT: {seen:?}"
        );
    }

    #[test]
    fn a_sha512_subject_has_a_64_character_fallback_tag() {
        let d = reprove_digest::digest_bytes(reprove_digest::Algorithm::Sha512, b"x");
        let tag = fallback_tag(&d);
        assert_eq!(tag, format!("sha512-{}", &d.hex()[..64]));
    }

    /// Each request line with its `Authorization` header.
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

    /// A registry that answers every request with `answer(request line, authorization)`, recording each
    /// request line and its `Authorization` header.
    fn fake(answer: impl Fn(&str, &str) -> String + Send + 'static) -> (String, Seen) {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("127.0.0.1:{}", l.local_addr().unwrap().port());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let (mut first, mut auth, mut len) = (String::new(), String::from("none"), 0usize);
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    if first.is_empty() {
                        first = line.trim().to_owned();
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("authorization:") {
                        auth = v.trim().to_owned();
                    }
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                // Recorded before the answer goes out: a client done with its last request
                // then finds every request in `seen`.
                let answer = answer(&first, &auth);
                seen2.lock().unwrap().push((first.clone(), auth));
                let _ = (&conn).write_all(answer.as_bytes());
            }
        });
        (host, seen)
    }

    fn reply(status: &str, headers: &str) -> String {
        format!("HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")
    }

    #[test]
    fn an_upload_session_on_another_host_gets_neither_content_nor_credentials() {
        let (evil, evil_seen) = fake(|_, _| reply("201 Created", ""));
        let (host, seen) = fake(move |req, _| {
            if req.starts_with("HEAD") {
                reply("404 Not Found", "")
            } else {
                reply(
                    "202 Accepted",
                    &format!("Location: http://{evil}/upload?x=1\r\n"),
                )
            }
        });
        let repo: ImageRef = format!("{host}/evidence/app:v1").parse().unwrap();
        let err = client().push_blob(&repo, b"secret bundle").unwrap_err();
        assert!(
            matches!(err, RegistryError::ForeignRedirect { .. }),
            "{err}"
        );
        assert!(evil_seen.lock().unwrap().is_empty());
        assert_eq!(seen.lock().unwrap().len(), 2, "HEAD and POST only");
    }

    #[test]
    fn a_registry_that_misreports_what_it_stored_or_serves_other_bytes_is_caught() {
        let wrong = sha256_bytes(b"other");
        let (host, _) = fake(move |req, _| {
            if req.starts_with("PUT") {
                reply(
                    "201 Created",
                    &format!("Docker-Content-Digest: {wrong}\r\n"),
                )
            } else {
                // Any blob: five bytes that are not what was asked for.
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nother".to_owned()
            }
        });
        let repo: ImageRef = format!("{host}/evidence/app:v1").parse().unwrap();
        let err = client()
            .push_manifest(&repo, "v1", OCI_MANIFEST, b"{}")
            .unwrap_err();
        assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
        let err = client()
            .get_blob(&repo, &sha256_bytes(b"asked"), 1 << 10)
            .unwrap_err();
        assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    }

    #[test]
    fn a_blob_redirect_elsewhere_is_followed_only_over_https_and_never_with_credentials() {
        // To plain HTTP on another port: refused (a CDN is HTTPS), and never asked.
        let (cdn, cdn_seen) = fake(|_, _| reply("200 OK", ""));
        let (host, _) = fake(move |_, _| {
            reply(
                "307 Temporary Redirect",
                &format!("Location: http://{cdn}/blob\r\n"),
            )
        });
        let repo: ImageRef = format!("{host}/evidence/app:v1").parse().unwrap();
        let err = client()
            .get_blob(&repo, &sha256_bytes(b"x"), 16)
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::ForeignRedirect { .. }),
            "{err}"
        );
        assert!(cdn_seen.lock().unwrap().is_empty());
        // On the registry itself: followed, at most five times.
        let (host, seen) = fake(|_, _| {
            reply(
                "307 Temporary Redirect",
                "Location: /v2/evidence/app/blobs/again\r\n",
            )
        });
        let repo: ImageRef = format!("{host}/evidence/app:v1").parse().unwrap();
        assert!(client().get_blob(&repo, &sha256_bytes(b"x"), 16).is_err());
        assert_eq!(seen.lock().unwrap().len(), 6);
    }

    #[test]
    fn a_fallback_tag_that_is_not_an_index_is_left_alone() {
        let Subject {
            _reg,
            c,
            repo,
            empty,
            layer,
            bytes: subject_bytes,
            digest: subject,
        } = subject();
        // Someone put an image manifest where the fallback index would be.
        c.push_manifest(&repo, &fallback_tag(&subject), OCI_MANIFEST, &subject_bytes)
            .unwrap();
        let m = artifact(&empty, &layer, 8, Some((&subject, subject_bytes.len())));
        assert!(c.push_referrer(&repo, &subject, OCI_MANIFEST, &m).is_err());
        let still = c
            .get_manifest(&repo, &fallback_tag(&subject))
            .unwrap()
            .unwrap();
        assert_eq!(still.bytes, subject_bytes);
    }
}
