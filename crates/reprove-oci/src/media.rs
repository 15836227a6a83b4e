//! Media types of image manifests and indexes
//! ([image-spec `media-types.md`](https://github.com/opencontainers/image-spec/blob/v1.1.0/media-types.md),
//! and Docker's schema 2): no I/O, so crates that read layouts without a registry client
//! name them too.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
