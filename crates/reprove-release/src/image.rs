//! Container images as release artifacts: `--artifacts oci://REGISTRY/REPOSITORY@sha256:…`.
//!
//! A release reads the image's manifest from its registry by digest (the client hashes the
//! bytes and refuses others), and for an index every manifest it lists, so the provenance
//! attests what the registry serves: the image by its manifest digest, and an index's
//! manifests each by theirs ([`reprove_build::image::PublishedImage::subjects`]). `verify`
//! resolves the image again — by tag or digest — and checks the digest served now is one the
//! provenance attests ([`crate::verify`]'s `image-digests`).

use std::fmt;
use std::str::FromStr;

use reprove_build::image::{
    DOCKER_LIST, DOCKER_MANIFEST, ImageChild, OCI_INDEX, OCI_MANIFEST, PublishedImage,
};
use reprove_digest::Digest;
use reprove_oci::ImageRef;
use reprove_oci::registry::{Manifest, RegistryClient};

use crate::ReleaseError;
use crate::registry::SCHEME;

/// The most manifests an index may list for a release to read them all.
pub const MAX_INDEX_MANIFESTS: usize = 256;

/// An image named on the command line: `oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]`. The
/// registry host is always named (never Docker Hub by default), as for evidence locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageArtifact {
    image: ImageRef,
}

impl FromStr for ImageArtifact {
    type Err = ReleaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ReleaseError::BadImage {
            location: s.to_owned(),
            reason: reason.to_owned(),
        };
        let image = crate::registry::parse_oci_location(s).map_err(|r| bad(&r))?;
        if image.tag().is_none() && image.digest().is_none() {
            return Err(bad("name the image's digest (`@sha256:…`) or tag (`:TAG`)"));
        }
        // Image subjects are sha256 (in-toto `digest.sha256`), as registries name manifests.
        if image
            .digest()
            .is_some_and(|d| d.algorithm() != reprove_digest::Algorithm::Sha256)
        {
            return Err(bad("an image is named by a sha256 digest"));
        }
        Ok(ImageArtifact { image })
    }
}

impl fmt::Display for ImageArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::registry::show_oci_location(&self.image, f)
    }
}

impl ImageArtifact {
    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    /// `REGISTRY/REPOSITORY`: the repository part of the image's subject names.
    pub fn repository(&self) -> String {
        self.image.name()
    }

    /// Whether `s` is meant as an image rather than a path (`oci://`).
    pub fn is_image(s: &str) -> bool {
        s.starts_with(SCHEME)
    }

    /// The manifest reference to ask for: the digest when named (the tag beside it is then
    /// only a label, as for `docker pull`), else the tag.
    fn reference(&self) -> String {
        match (self.image.digest(), self.image.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            // The parser refuses an image with neither.
            (None, None) => "latest".to_owned(),
        }
    }

    /// The manifest as the registry serves it now, its bytes hashed (and, by digest, checked).
    pub fn fetch(&self, client: &RegistryClient) -> Result<Manifest, ReleaseError> {
        self.fetch_reference(client, &self.reference(), &self.to_string())
    }

    fn fetch_reference(
        &self,
        client: &RegistryClient,
        reference: &str,
        shown: &str,
    ) -> Result<Manifest, ReleaseError> {
        client
            .get_manifest(&self.image, reference)
            .map_err(|source| ReleaseError::Registry {
                action: "read the image's manifest".to_owned(),
                location: shown.to_owned(),
                source: Box::new(source),
            })?
            .ok_or_else(|| ReleaseError::ImageNotFound {
                image: shown.to_owned(),
            })
    }
}

/// The media type a manifest is: its own `mediaType`, which must agree with the registry's
/// `Content-Type` when that names an image type too, else the `Content-Type`; an image
/// manifest or index, and never a document that is both (CVE-2021-41190: one tool reads an
/// index where another pulls layers).
fn image_media_type(m: &Manifest, shown: &str) -> Result<String, ReleaseError> {
    const IMAGE_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
    let bad = |reason: String| ReleaseError::BadImage {
        location: shown.to_owned(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_slice(&m.bytes)
        .map_err(|e| bad(format!("its manifest is not JSON: {e}")))?;
    let own = v
        .get("mediaType")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    if let Some(own) = &own
        && IMAGE_TYPES.contains(&m.media_type.as_str())
        && *own != m.media_type
    {
        return Err(bad(format!(
            "it says it is `{}`, its registry serves it as `{}`",
            reprove_escape::terminal(own),
            m.media_type
        )));
    }
    // A registry or client written in Go reads members without regard to case: a document
    // with `"Layers"` beside `"layers"` is another image to it.
    reprove_build::image::check_field_names(&v).map_err(bad)?;
    if v.get("manifests").is_some() && (v.get("config").is_some() || v.get("layers").is_some()) {
        return Err(bad(
            "its manifest is both an image manifest and an index".to_owned()
        ));
    }
    let media = own.unwrap_or_else(|| m.media_type.clone());
    if IMAGE_TYPES.contains(&media.as_str()) {
        Ok(media)
    } else {
        Err(ReleaseError::NotAnImage {
            image: shown.to_owned(),
            media_type: reprove_escape::terminal(&media),
        })
    }
}

#[derive(serde::Deserialize)]
struct IndexManifests {
    #[serde(default)]
    manifests: Vec<ChildDescriptor>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChildDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(serde::Deserialize)]
struct Platform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// Reads a release's image from its registry: by digest only (a tag can move between the
/// rebuild and the signature), its manifest hashed, and for an index every manifest it lists
/// read by digest too, so each one the provenance will attest is there.
pub fn resolve(
    client: &RegistryClient,
    artifact: &ImageArtifact,
) -> Result<PublishedImage, ReleaseError> {
    let shown = artifact.to_string();
    let Some(digest) = artifact.image().digest().cloned() else {
        return Err(ReleaseError::ImageNotPinned { image: shown });
    };
    let m = artifact.fetch(client)?;
    let media_type = image_media_type(&m, &shown)?;
    let mut children = Vec::new();
    if media_type == OCI_INDEX || media_type == DOCKER_LIST {
        let index: IndexManifests =
            serde_json::from_slice(&m.bytes).map_err(|e| ReleaseError::BadImage {
                location: shown.clone(),
                reason: format!("its index cannot be read: {e}"),
            })?;
        if index.manifests.len() > MAX_INDEX_MANIFESTS {
            return Err(ReleaseError::BadImage {
                location: shown,
                reason: format!(
                    "its index lists {} manifests, more than the {MAX_INDEX_MANIFESTS} a release reads",
                    index.manifests.len()
                ),
            });
        }
        for c in index.manifests {
            let child_digest: Digest = c.digest.parse().map_err(|_| ReleaseError::BadImage {
                location: shown.clone(),
                reason: format!(
                    "its index lists `{}`, not a digest",
                    reprove_escape::terminal(&c.digest)
                ),
            })?;
            if child_digest.algorithm() != reprove_digest::Algorithm::Sha256 {
                return Err(ReleaseError::BadImage {
                    location: shown,
                    reason: format!("its index lists `{child_digest}`, not a sha256 digest"),
                });
            }
            let child_shown = format!("{SCHEME}{}@{child_digest}", artifact.repository());
            let served =
                artifact.fetch_reference(client, &child_digest.to_string(), &child_shown)?;
            let child_media = image_media_type(&served, &child_shown)?;
            if !c.media_type.is_empty() && c.media_type != child_media {
                return Err(ReleaseError::BadImage {
                    location: shown,
                    reason: format!(
                        "its index says `{child_digest}` is `{}`, the manifest says `{child_media}`",
                        reprove_escape::terminal(&c.media_type)
                    ),
                });
            }
            children.push(ImageChild {
                digest: child_digest,
                media_type: child_media,
                platform: c.platform.map(|p| match p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                }),
            });
        }
    }
    Ok(PublishedImage {
        repository: artifact.repository(),
        digest,
        media_type,
        children,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn images_are_named_with_their_registry_and_a_tag_or_digest() {
        let d = "sha256:".to_owned() + &"a".repeat(64);
        let a: ImageArtifact = format!("oci://127.0.0.1:5000/team/app@{d}")
            .parse()
            .unwrap();
        assert_eq!(a.repository(), "127.0.0.1:5000/team/app");
        assert_eq!(a.to_string(), format!("oci://127.0.0.1:5000/team/app@{d}"));
        let t: ImageArtifact = "oci://ghcr.io/acme/app:1.0".parse().unwrap();
        assert_eq!(t.reference(), "1.0");
        for bad in [
            "ghcr.io/acme/app:1.0".to_owned(),
            "oci://app:1.0".to_owned(),
            "oci://library/app:1.0".to_owned(),
            "oci://ghcr.io/acme/app".to_owned(),
            "oci://ghcr.io/acme/APP:1".to_owned(),
            // Subjects are sha256: a sha512 pin has no place in `digest.sha256`.
            format!("oci://ghcr.io/acme/app@sha512:{}", "a".repeat(128)),
        ] {
            assert!(bad.parse::<ImageArtifact>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_document_both_index_and_image_or_served_as_another_type_is_no_image() {
        // Distribution 2.8 refuses to store these (CVE-2021-41190); a registry that serves
        // them anyway is not believed either.
        let served = |media: &str, doc: &str| Manifest {
            digest: reprove_digest::sha256_bytes(doc.as_bytes()),
            media_type: media.to_owned(),
            bytes: doc.as_bytes().to_vec(),
        };
        let both = r#"{"schemaVersion":2,"manifests":[],"config":{"digest":"sha256:00","size":2},"layers":[]}"#;
        let other = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
        // `Layers` is `layers` to a Go reader.
        let folded = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{}},"layers":[],"Layers":[]}}"#
        );
        for m in [
            served(OCI_INDEX, both),
            served(OCI_MANIFEST, both),
            served(OCI_MANIFEST, &other),
            served(OCI_MANIFEST, &folded),
        ] {
            assert!(
                matches!(
                    image_media_type(&m, "x"),
                    Err(ReleaseError::BadImage { .. })
                ),
                "{}",
                String::from_utf8_lossy(&m.bytes)
            );
        }
        assert!(matches!(
            image_media_type(
                &served("application/json", r#"{"mediaType":"application/x.other"}"#),
                "x"
            ),
            Err(ReleaseError::NotAnImage { .. })
        ));
        assert_eq!(
            image_media_type(&served(OCI_INDEX, &other), "x").unwrap(),
            OCI_INDEX
        );
        // No media type of its own: the registry's says.
        assert_eq!(
            image_media_type(
                &served(
                    DOCKER_MANIFEST,
                    r#"{"schemaVersion":2,"config":{},"layers":[]}"#
                ),
                "x"
            )
            .unwrap(),
            DOCKER_MANIFEST
        );
    }

    fn client() -> RegistryClient {
        RegistryClient::new(reprove_oci::registry::ClientOptions {
            auth_file: Some("/nonexistent".into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn an_index_is_read_with_every_manifest_it_lists_and_a_missing_one_refuses_it() {
        let reg = reprove_oci::testing::TestRegistry::start();
        let (amd, amd_size) = reg.push_image("team/app", None, "amd", "linux/amd64");
        let (arm, arm_size) = reg.push_image("team/app", None, "arm", "linux/arm64");
        let index = reg.push_index(
            "team/app",
            "1.0",
            &[
                (amd.clone(), amd_size, "linux/amd64"),
                (arm.clone(), arm_size, "linux/arm64"),
            ],
            "one",
        );
        let c = client();
        let a: ImageArtifact = format!("oci://{}/team/app@{index}", reg.host)
            .parse()
            .unwrap();
        let img = resolve(&c, &a).unwrap();
        assert_eq!(img.media_type, OCI_INDEX);
        assert_eq!(img.repository, format!("{}/team/app", reg.host));
        let kids: Vec<_> = img
            .children
            .iter()
            .map(|k| (k.digest.clone(), k.platform.clone().unwrap()))
            .collect();
        assert_eq!(
            kids,
            vec![
                (amd.clone(), "linux/amd64".to_owned()),
                (arm.clone(), "linux/arm64".to_owned())
            ]
        );
        // Every manifest is a subject of its own, named by its digest.
        let names: Vec<String> = img.subjects().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[2], format!("{}/team/app@{arm}", reg.host));
        // A tag is not enough for a release; an image by digest alone is.
        let t: ImageArtifact = format!("oci://{}/team/app:1.0", reg.host).parse().unwrap();
        assert!(matches!(
            resolve(&c, &t),
            Err(ReleaseError::ImageNotPinned { .. })
        ));
        let one: ImageArtifact = format!("oci://{}/team/app@{amd}", reg.host)
            .parse()
            .unwrap();
        let img = resolve(&c, &one).unwrap();
        assert_eq!(
            (img.media_type.as_str(), img.children.len()),
            (OCI_MANIFEST, 0)
        );
        // An index whose manifest is gone from the registry is not released.
        reg.delete_manifest("team/app", &arm);
        let err = resolve(&c, &a).unwrap_err();
        assert!(
            matches!(&err, ReleaseError::ImageNotFound { image } if image.contains(&arm.to_string())),
            "{err}"
        );
    }
}
