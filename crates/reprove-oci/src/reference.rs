use std::fmt;
use std::str::FromStr;

use reprove_digest::Digest;

use crate::OciError;

const DOCKER_HUB: &str = "docker.io";
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalized image reference: `registry/repository[:tag][@digest]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Pinned means "carries a digest": the only form reprove trusts.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The Package URL (<https://github.com/package-url/purl-spec>, `oci` type).
    pub fn purl(&self) -> String {
        let last = self
            .repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
            .to_ascii_lowercase();
        let mut purl = format!("pkg:oci/{last}");
        if let Some(d) = &self.digest {
            purl.push_str(&format!("@{}%3A{}", d.algorithm(), d.hex()));
        }
        purl.push_str(&format!("?repository_url={}", self.name()));
        if let Some(t) = &self.tag {
            purl.push_str(&format!("&tag={t}"));
        }
        purl
    }

    /// Who publishes the image, as far as the reference tells: the namespace that owns the
    /// repository (its first path part: the Docker Hub user, the GitHub owner, a private
    /// registry's project), with the registry; the registry alone for a repository with no
    /// namespace there.
    pub fn supplier(&self) -> String {
        let first = self.repository.split('/').next().unwrap_or_default();
        match self.registry.as_str() {
            DOCKER_HUB if first == "library" => "Docker Official Images (docker.io)".to_owned(),
            "mcr.microsoft.com" => "Microsoft (mcr.microsoft.com)".to_owned(),
            registry if self.repository.contains('/') => format!("{first} ({registry})"),
            registry => registry.to_owned(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageRef({self})")
    }
}

impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry host: DNS labels or an IPv6 literal in brackets, with an optional port.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if d.starts_with('[') {
        return !host.is_empty() && host.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

impl FromStr for ImageRef {
    type Err = OciError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| OciError::InvalidReference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(err("empty"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                let digest: Digest = d
                    .parse()
                    .map_err(|e: reprove_digest::DigestError| err(&format!("bad digest: {e}")))?;
                (r, Some(digest))
            }
            None => (input, None),
        };
        // A tag follows the last `:` that comes after the last `/` (a `:` before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(err(&format!("invalid tag `{t}`")));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(err("repository name longer than 255 characters"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[')
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                if !valid_domain(first) {
                    return Err(err(&format!("invalid registry host `{first}`")));
                }
                let registry = if first == "index.docker.io" || first == "registry-1.docker.io" {
                    DOCKER_HUB.to_owned()
                } else {
                    first.to_owned()
                };
                (registry, remainder.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if let Some(bad) = repository.split('/').find(|c| !valid_path_component(c)) {
            return Err(err(&format!(
                "invalid repository path component `{bad}` (lowercase letters, digits and separators only)"
            )));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

/// Whether a registry host is on the loopback interface (plain HTTP allowed).
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn docker_hub_defaults() {
        let r: ImageRef = "alpine:3.19".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine:3.19");
        assert!(!r.is_pinned());
        let r: ImageRef = "bitnami/redis".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/bitnami/redis");
        let r: ImageRef = "index.docker.io/library/debian:12".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/debian:12");
    }

    #[test]
    fn registry_with_port_and_digest() {
        let input = format!("127.0.0.1:5000/build/gcc:14@{D}");
        let r: ImageRef = input.parse().unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "build/gcc");
        assert_eq!(r.tag(), Some("14"));
        assert!(r.is_pinned());
        assert_eq!(r.to_string(), input);
        let r: ImageRef = format!("localhost:5000/x@{D}").parse().unwrap();
        assert_eq!(r.tag(), None);
        let r: ImageRef = "[::1]:5000/x:1".parse().unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:-bad",
            "alpine@sha256:abc",
            "alpine@md5:d41d8cd98f00b204e9800998ecf8427e",
            "a//b",
            "-x/y",
            "host:port/x",
            "x/y_-z",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn purl_and_supplier() {
        let r: ImageRef = format!("debian:12@{D}").parse().unwrap();
        assert_eq!(
            r.purl(),
            "pkg:oci/debian@sha256%3Ae3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855?repository_url=docker.io/library/debian&tag=12"
        );
        assert_eq!(r.supplier(), "Docker Official Images (docker.io)");
        let r: ImageRef = "ghcr.io/acme/tool:1".parse().unwrap();
        assert_eq!(r.supplier(), "acme (ghcr.io)");
        // A private registry's project, not its host.
        let r: ImageRef = "registry.example.com:5000/platform/base:1".parse().unwrap();
        assert_eq!(r.supplier(), "platform (registry.example.com:5000)");
        let r: ImageRef = "registry.example.com/base:1".parse().unwrap();
        assert_eq!(r.supplier(), "registry.example.com");
    }
}
