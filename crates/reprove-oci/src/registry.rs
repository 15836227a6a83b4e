//! A registry client for the OCI distribution API
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>), trusting nothing
//! it has not hashed. Reading manifests is here; pushing and pulling blobs, manifests and
//! referrers (for evidence kept in a registry) is in `transfer`.
//!
//! - Every request sends both OCI and Docker manifest media types in `Accept` (CNCF
//!   Distribution returns 404 for a manifest whose type was not accepted).
//! - A manifest fetched by digest must hash to that digest; one fetched by tag is identified by
//!   the hash of its bytes, and a `Docker-Content-Digest` header that disagrees is an error.
//! - Manifests are capped at 4 MiB (the distribution spec's recommended limit).
//! - Plain HTTP only for loopback registries and hosts named as insecure.
//! - Redirects are followed only within the same host, and credentials never leave it (a
//!   blob's redirect to a CDN is followed over HTTPS without them: its digest is the check).
//! - Anonymous, bearer-token (RFC 6750 via the registry's token service) and basic auth, with
//!   credentials from `~/.docker/config.json` or `REGISTRY_AUTH_FILE`. Secrets are never
//!   included in errors.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use reprove_digest::{Digest, digest_bytes, sha256_bytes};

use crate::ImageRef;

mod transfer;
use transfer::{Access, token_key};
pub use transfer::{Descriptor, fallback_tag};

pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

pub use crate::media::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Why a registry could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("registry `{registry}` is unreachable: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error(
        "registry `{registry}` refused access to `{repository}` (HTTP {status}); check the credentials in ~/.docker/config.json or REGISTRY_AUTH_FILE"
    )]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
    },
    #[error("registry `{registry}` is rate-limiting requests (HTTP 429); retry later")]
    RateLimited { registry: String },
    #[error("registry `{registry}` answered HTTP {status} for `{what}`{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Http {
        registry: String,
        what: String,
        status: u16,
        detail: Option<String>,
    },
    #[error("the manifest `{what}` from `{registry}` is larger than {} MiB; refused", MAX_MANIFEST_BYTES >> 20)]
    TooLarge { registry: String, what: String },
    #[error(
        "registry `{registry}` served bytes for `{what}` that hash to `{actual}`, not `{expected}`"
    )]
    DigestMismatch {
        registry: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error("registry `{registry}` redirected `{what}` to another host (`{location}`); refused")]
    ForeignRedirect {
        registry: String,
        what: String,
        location: String,
    },
    #[error(
        "the blob `{what}` from `{registry}` is larger than the {limit} bytes allowed; refused"
    )]
    BlobTooLarge {
        registry: String,
        what: String,
        limit: u64,
    },
    #[error("failed to write the blob `{what}` where it was asked for: {reason}")]
    Write { what: String, reason: String },
    #[error("invalid credentials file `{path}`: {reason}")]
    AuthFile { path: String, reason: String },
}

/// A manifest as served, with the digest of its exact bytes.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Manifest {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    /// For an index: the digest of the manifest for `platform` (`os/arch[/variant]`).
    pub fn platform_digest(&self, platform: &str) -> Option<Digest> {
        let v: serde_json::Value = serde_json::from_slice(&self.bytes).ok()?;
        let mut parts = platform.split('/');
        let (os, arch, variant) = (parts.next()?, parts.next()?, parts.next());
        v.get("manifests")?.as_array()?.iter().find_map(|m| {
            let p = m.get("platform")?;
            let matches = p.get("os")?.as_str()? == os
                && p.get("architecture")?.as_str()? == arch
                && variant
                    .is_none_or(|want| p.get("variant").and_then(|x| x.as_str()) == Some(want));
            if matches {
                m.get("digest")?.as_str()?.parse().ok()
            } else {
                None
            }
        })
    }

    /// For an index: every manifest digest it lists.
    pub fn child_digests(&self) -> Vec<Digest> {
        let v: serde_json::Value = match serde_json::from_slice(&self.bytes) {
            Ok(v) => v,
            Err(_) => return Vec::new(),
        };
        v.get("manifests")
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("digest")?.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Hosts (with port) reached over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    pub timeout: Duration,
    /// Credentials file; default `REGISTRY_AUTH_FILE`, else `~/.docker/config.json`.
    pub auth_file: Option<PathBuf>,
    /// Token-service hosts a registry's credentials may be sent to besides the registry's own
    /// host (and Docker Hub's `auth.docker.io`); `REPROVE_TOKEN_HOSTS` (comma-separated) adds
    /// to it.
    pub token_hosts: Vec<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure_registries: Vec::new(),
            timeout: Duration::from_secs(30),
            auth_file: None,
            token_hosts: Vec::new(),
        }
    }
}

#[derive(Clone)]
struct Credentials {
    user: String,
    secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, [redacted])", self.user)
    }
}

/// A registry client shared across threads; connections are pooled per host.
#[derive(Debug)]
pub struct RegistryClient {
    agent: ureq::Agent,
    options: ClientOptions,
    credentials: HashMap<String, Credentials>,
    /// Bearer tokens by `registry/repository#actions`.
    tokens: Mutex<HashMap<String, String>>,
    /// Registries that asked for basic auth: later requests send it at once, so a pushed
    /// body is not sent once unauthenticated first (a server may close the connection on it).
    basic_registries: Mutex<std::collections::HashSet<String>>,
    /// Repositories whose registry answered the referrers API with 404 (it has none): later
    /// questions go to the fallback tag at once.
    no_referrers_api: Mutex<std::collections::HashSet<String>>,
    /// What the caller should tell the user (credentials withheld from a token service).
    notes: Mutex<std::collections::BTreeSet<String>>,
}

pub use crate::reference::is_loopback;

fn parse_auth_file(path: &str, text: &str) -> Result<HashMap<String, Credentials>, RegistryError> {
    let bad = |reason: String| RegistryError::AuthFile {
        path: path.to_owned(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let mut out = HashMap::new();
    if let Some(auths) = v.get("auths").and_then(|a| a.as_object()) {
        for (host, entry) in auths {
            let Some(b64) = entry
                .get("auth")
                .and_then(|a| a.as_str())
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad(format!("the `auth` of `{host}` is not base64")))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| bad(format!("the `auth` of `{host}` is not UTF-8")))?;
            let Some((user, secret)) = text.split_once(':') else {
                return Err(bad(format!(
                    "the `auth` of `{host}` is not `user:password`"
                )));
            };
            // Keys may be URLs (`https://index.docker.io/v1/`); keep the host.
            let key = host
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or(host);
            let key = if key == "index.docker.io" {
                "docker.io"
            } else {
                key
            };
            out.insert(
                key.to_owned(),
                Credentials {
                    user: user.to_owned(),
                    secret: secret.to_owned(),
                },
            );
        }
    }
    Ok(out)
}

/// Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`.
pub fn parse_challenge(header: &str) -> Option<(String, HashMap<String, String>)> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = HashMap::new();
    let mut s = rest;
    while !s.is_empty() {
        let s2 = s.trim_start_matches([',', ' ']);
        let Some((k, after)) = s2.split_once('=') else {
            break;
        };
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(k.trim().to_ascii_lowercase(), v.to_owned());
        s = tail;
    }
    Some((scheme.to_ascii_lowercase(), params))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

enum Auth {
    None,
    Basic(String),
    Bearer(String),
}

impl RegistryClient {
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        let path = options
            .auth_file
            .clone()
            .or_else(|| std::env::var_os("REGISTRY_AUTH_FILE").map(PathBuf::from))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
            });
        let credentials = match path {
            Some(p) => match std::fs::read_to_string(&p) {
                Ok(text) => parse_auth_file(&p.display().to_string(), &text)?,
                Err(_) => HashMap::new(),
            },
            None => HashMap::new(),
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_idle_connections_per_host(64)
            .max_idle_connections(256)
            .user_agent(concat!("reprove/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(RegistryClient {
            agent: config.into(),
            options,
            credentials,
            tokens: Mutex::new(HashMap::new()),
            basic_registries: Mutex::new(Default::default()),
            no_referrers_api: Mutex::new(Default::default()),
            notes: Mutex::new(Default::default()),
        })
    }

    /// Notes for the user gathered while asking registries, once each.
    pub fn notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `registry`'s credentials may go to a token service at `authority`: its own
    /// host, Docker Hub's token service for Docker Hub, or a host the user allowed.
    fn may_receive_credentials(&self, registry: &str, authority: &str) -> bool {
        let host = |a: &str| -> String {
            let h = if let Some(rest) = a.strip_prefix('[') {
                rest.split(']').next().unwrap_or_default()
            } else {
                a.rsplit_once(':').map_or(a, |(h, _)| h)
            };
            h.to_ascii_lowercase()
        };
        let realm = host(authority);
        if realm == host(registry) {
            return true;
        }
        let docker_hub = ["docker.io", "registry-1.docker.io", "index.docker.io"];
        if docker_hub.contains(&host(registry).as_str()) && realm == "auth.docker.io" {
            return true;
        }
        let from_env = std::env::var("REPROVE_TOKEN_HOSTS").unwrap_or_default();
        self.options
            .token_hosts
            .iter()
            .map(String::as_str)
            .chain(from_env.split(',').map(str::trim))
            .any(|h| !h.is_empty() && host(h) == realm)
    }

    fn scheme(&self, registry: &str) -> &'static str {
        if is_loopback(registry)
            || self
                .options
                .insecure_registries
                .iter()
                .any(|h| h == registry)
        {
            "http"
        } else {
            "https"
        }
    }

    /// `location` (absolute, or a path) as an absolute URL on `registry` itself, or `None`:
    /// same scheme and same authority only, so nothing is downgraded to plain HTTP and no
    /// credentials are carried to another host.
    fn on_registry(&self, registry: &str, location: &str) -> Option<String> {
        let host = Self::api_host(registry);
        let absolute = if location.starts_with('/') {
            format!("{}://{host}{location}", self.scheme(registry))
        } else {
            location.to_owned()
        };
        split_url(&absolute)
            .is_some_and(|(scheme, authority)| scheme == self.scheme(registry) && authority == host)
            .then_some(absolute)
    }

    fn api_host(registry: &str) -> &str {
        if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        }
    }

    fn unreachable(registry: &str, e: &ureq::Error) -> RegistryError {
        let reason = match e {
            ureq::Error::Timeout(_) => "timed out".to_owned(),
            other => other.to_string(),
        };
        RegistryError::Unreachable {
            registry: registry.to_owned(),
            reason,
        }
    }

    /// Fetches a manifest by tag or digest. `Ok(None)` when the registry says it does not
    /// exist (404, `MANIFEST_UNKNOWN` or `NAME_UNKNOWN`).
    pub fn get_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let registry = image.registry();
        let host = Self::api_host(registry);
        let url = format!(
            "{}://{host}/v2/{}/manifests/{reference}",
            self.scheme(registry),
            image.repository()
        );
        let what = format!("{}:{reference}", image.name());
        let key = token_key(image, Access::Pull);
        let mut auth = match self.tokens.lock().ok().and_then(|t| t.get(&key).cloned()) {
            Some(t) => Auth::Bearer(t),
            None => Auth::None,
        };
        let mut url = url;
        let mut hops = 0;
        let mut authed = false;
        loop {
            let mut req = self.agent.get(&url).header("Accept", ACCEPT);
            match &auth {
                Auth::None => {}
                Auth::Basic(b) => req = req.header("Authorization", &format!("Basic {b}")),
                Auth::Bearer(t) => req = req.header("Authorization", &format!("Bearer {t}")),
            }
            let resp = req.call().map_err(|e| Self::unreachable(registry, &e))?;
            let status = resp.status().as_u16();
            match status {
                200 => {
                    let media_type = resp
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(|s| s.split(';').next().unwrap_or(s).trim().to_owned())
                        .unwrap_or_default();
                    let header_digest = resp
                        .headers()
                        .get("docker-content-digest")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let bytes = resp
                        .into_body()
                        .into_with_config()
                        .limit(MAX_MANIFEST_BYTES)
                        .read_to_vec()
                        .map_err(|e| match e {
                            ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge {
                                registry: registry.to_owned(),
                                what: what.clone(),
                            },
                            other => Self::unreachable(registry, &other),
                        })?;
                    let digest = sha256_bytes(&bytes);
                    // By digest: the bytes must hash to it, with the pin's own algorithm.
                    if let Ok(want) = reference.parse::<Digest>() {
                        let got = digest_bytes(want.algorithm(), &bytes);
                        if got != want {
                            return Err(RegistryError::DigestMismatch {
                                registry: registry.to_owned(),
                                what,
                                expected: want.to_string(),
                                actual: got.to_string(),
                            });
                        }
                    }
                    if let Some(h) = header_digest
                        && h.starts_with("sha256:")
                        && h != digest.to_string()
                    {
                        return Err(RegistryError::DigestMismatch {
                            registry: registry.to_owned(),
                            what,
                            expected: h,
                            actual: digest.to_string(),
                        });
                    }
                    let media_type = if media_type.is_empty() || media_type == "application/json" {
                        serde_json::from_slice::<serde_json::Value>(&bytes)
                            .ok()
                            .and_then(|v| {
                                v.get("mediaType")
                                    .and_then(|m| m.as_str())
                                    .map(str::to_owned)
                            })
                            .unwrap_or(media_type)
                    } else {
                        media_type
                    };
                    return Ok(Some(Manifest {
                        digest,
                        media_type,
                        bytes,
                    }));
                }
                404 => return Ok(None),
                401 if !authed => {
                    authed = true;
                    let challenge = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    auth = self.authenticate(image, &challenge, Access::Pull)?;
                    if matches!(auth, Auth::None) {
                        return Err(RegistryError::Unauthorized {
                            registry: registry.to_owned(),
                            repository: image.repository().to_owned(),
                            status,
                        });
                    }
                }
                401 | 403 => {
                    return Err(RegistryError::Unauthorized {
                        registry: registry.to_owned(),
                        repository: image.repository().to_owned(),
                        status,
                    });
                }
                429 => {
                    return Err(RegistryError::RateLimited {
                        registry: registry.to_owned(),
                    });
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    hops += 1;
                    match self.on_registry(registry, &location) {
                        Some(next) if hops <= 5 => url = next,
                        _ => {
                            return Err(RegistryError::ForeignRedirect {
                                registry: registry.to_owned(),
                                what,
                                location,
                            });
                        }
                    }
                }
                _ => {
                    let detail = resp
                        .into_body()
                        .into_with_config()
                        .limit(64 * 1024)
                        .read_to_string()
                        .ok()
                        .and_then(|b| error_detail(&b));
                    return Err(RegistryError::Http {
                        registry: registry.to_owned(),
                        what,
                        status,
                        detail,
                    });
                }
            }
        }
    }

    /// Answers a 401 challenge: basic credentials, or a bearer token from the token service.
    fn authenticate(
        &self,
        image: &ImageRef,
        challenge: &str,
        access: Access,
    ) -> Result<Auth, RegistryError> {
        let registry = image.registry();
        let creds = self.credentials.get(registry);
        let basic = creds.map(|c| {
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.secret))
        });
        let Some((scheme, params)) = parse_challenge(challenge) else {
            return Ok(basic.map_or(Auth::None, Auth::Basic));
        };
        if scheme == "basic" {
            return Ok(basic.map_or(Auth::None, Auth::Basic));
        }
        let Some(realm) = params.get("realm") else {
            return Ok(Auth::None);
        };
        let mut url = format!(
            "{realm}?scope={}",
            percent_encode(&format!(
                "repository:{}:{}",
                image.repository(),
                access.actions()
            ))
        );
        if let Some(service) = params.get("service") {
            url.push_str(&format!("&service={}", percent_encode(service)));
        }
        // Credentials go to the token service only over HTTPS, or to a loopback one.
        let authority = split_url(realm).map(|(_, a)| a);
        let acceptable = match split_url(realm) {
            Some(("https", _)) => true,
            Some(("http", authority)) => is_loopback(authority),
            _ => false,
        };
        if !acceptable {
            return Err(RegistryError::Http {
                registry: registry.to_owned(),
                what: "token service".into(),
                status: 401,
                detail: Some(format!(
                    "refusing the token realm `{realm}` (not HTTPS, or not a plain host)"
                )),
            });
        }
        let mut req = self.agent.get(&url);
        // A registry names its token service; it does not get to send our credentials for it
        // to another host. Then an anonymous token is asked for, and the user told.
        let send = authority.is_some_and(|a| self.may_receive_credentials(registry, a));
        match &basic {
            Some(b) if send => req = req.header("Authorization", &format!("Basic {b}")),
            Some(_) => {
                if let Ok(mut n) = self.notes.lock() {
                    n.insert(format!(
                        "the credentials for `{registry}` were not sent to its token service `{}` (another host); an anonymous token was asked for instead (REPROVE_TOKEN_HOSTS={} allows it)",
                        authority.unwrap_or(realm),
                        authority.unwrap_or(realm)
                    ));
                }
            }
            None => {}
        }
        let resp = req.call().map_err(|e| Self::unreachable(registry, &e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(RegistryError::Unauthorized {
                registry: registry.to_owned(),
                repository: image.repository().to_owned(),
                status,
            });
        }
        let body = resp
            .into_body()
            .into_with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| Self::unreachable(registry, &e))?;
        match token_from_response(&body) {
            Some(t) => {
                if let Ok(mut cache) = self.tokens.lock() {
                    cache.insert(token_key(image, access), t.clone());
                }
                Ok(Auth::Bearer(t))
            }
            None => Ok(Auth::None),
        }
    }
}

/// The bearer token in a token service's answer (`token`, or OAuth2's `access_token`).
pub fn token_from_response(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty() && !t.chars().any(|c| c.is_control()))
        .map(str::to_owned)
}

/// Splits `scheme://authority/...` into scheme and authority; `None` for anything with
/// userinfo (`user@host`) or without a scheme, which a registry has no reason to send.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((scheme, authority))
}

/// The first `errors[].code: message` of a distribution-spec error body.
fn error_detail(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v.get("errors")?.as_array()?.first()?;
    Some(
        format!(
            "{} {}",
            e.get("code")?.as_str()?,
            e.get("message").and_then(|m| m.as_str()).unwrap_or("")
        )
        .trim()
        .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "ghcr.io",
            "docker.io",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn urls_with_userinfo_are_not_hosts() {
        assert_eq!(
            split_url("https://ghcr.io/token?x=1"),
            Some(("https", "ghcr.io"))
        );
        assert_eq!(split_url("http://localhost:1@evil.com/token"), None);
        assert_eq!(split_url("/relative"), None);
    }

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#).unwrap();
        assert_eq!(s, "bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(s, "basic");
        assert_eq!(p["realm"], "Registry Realm");
    }

    #[test]
    fn auth_files_never_leak_secrets_in_debug() {
        let text = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpzM2NyZXQ="},"ghcr.io":{"auth":""}}}"#;
        let creds = parse_auth_file("config.json", text).unwrap();
        let c = &creds["docker.io"];
        assert_eq!(c.user, "user");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(parse_auth_file("x", r#"{"auths":{"h":{"auth":"!!"}}}"#).is_err());
    }

    #[test]
    fn index_platforms() {
        let d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let bytes = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{d1}","platform":{{"os":"linux","architecture":"amd64"}}}},{{"digest":"{d2}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        );
        let m = Manifest {
            digest: sha256_bytes(bytes.as_bytes()),
            media_type: OCI_INDEX.into(),
            bytes: bytes.into_bytes(),
        };
        assert!(m.is_index());
        assert_eq!(m.platform_digest("linux/amd64").unwrap().to_string(), d1);
        assert_eq!(m.platform_digest("linux/arm64/v8").unwrap().to_string(), d2);
        assert!(m.platform_digest("windows/amd64").is_none());
        assert_eq!(m.child_digests().len(), 2);
    }
}

#[cfg(test)]
mod token_realm_tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;

    /// Serves one HTTP request per accepted connection with `answer`, recording each request's
    /// `Authorization` header.
    fn serve(
        answer: impl Fn(&str) -> String + Send + 'static,
    ) -> (u16, std::sync::Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let mut auth = String::from("none");
                let mut first = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    if first.is_empty() {
                        first = line.clone();
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                        auth = v.trim().to_owned();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                seen2.lock().unwrap().push(auth.clone());
                let _ = (&conn).write_all(answer(&auth).as_bytes());
            }
        });
        (port, seen)
    }

    fn client_with_creds(
        registry: &str,
        token_hosts: Vec<String>,
    ) -> (tempfile::TempDir, RegistryClient) {
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("config.json");
        // user:s3cret
        std::fs::write(
            &auth,
            format!(r#"{{"auths":{{"{registry}":{{"auth":"dXNlcjpzM2NyZXQ="}}}}}}"#),
        )
        .unwrap();
        let c = RegistryClient::new(ClientOptions {
            auth_file: Some(auth),
            token_hosts,
            ..Default::default()
        })
        .unwrap();
        (dir, c)
    }

    fn run(token_hosts: Vec<String>) -> (Vec<String>, Vec<String>) {
        let (token_port, token_seen) = serve(|_| {
            let body = r#"{"token":"t0k"}"#;
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        });
        let (reg_port, _) = serve(move |auth| {
            if auth.starts_with("bearer") {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            } else {
                // The token service on another host name (localhost, not 127.0.0.1).
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://localhost:{token_port}/token\",service=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            }
        });
        let registry = format!("127.0.0.1:{reg_port}");
        let (_dir, client) = client_with_creds(&registry, token_hosts);
        let image: ImageRef = format!("{registry}/app:1").parse().unwrap();
        let _ = client.get_manifest(&image, "1");
        let seen = token_seen.lock().unwrap().clone();
        (seen, client.notes())
    }

    #[test]
    fn credentials_go_only_to_the_registrys_own_token_host() {
        // Regression (issue 11): basic credentials went to whatever realm the registry named.
        let (seen, notes) = run(Vec::new());
        assert_eq!(seen, ["none"], "an anonymous token was asked for");
        assert!(notes.iter().any(|n| n.contains("not sent")), "{notes:?}");
        // A host the user allows gets them.
        let (seen, notes) = run(vec!["localhost".into()]);
        assert!(seen[0].starts_with("basic "), "{seen:?}");
        assert!(notes.is_empty());
    }

    #[test]
    fn docker_hub_and_the_registrys_own_host_are_allowed() {
        let (_d, c) = client_with_creds("ghcr.io", Vec::new());
        assert!(c.may_receive_credentials("ghcr.io", "ghcr.io"));
        assert!(c.may_receive_credentials("ghcr.io:443", "ghcr.io"));
        assert!(c.may_receive_credentials("docker.io", "auth.docker.io"));
        assert!(!c.may_receive_credentials("ghcr.io", "auth.docker.io"));
        assert!(!c.may_receive_credentials("registry.example", "evil.example"));
    }
}
