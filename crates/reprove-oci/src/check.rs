//! Re-checking image pins against their registries: one verdict per reference, with a stable
//! code. A mismatch is a result, not an error; only "could not ask" is `registry-unreachable`.

use std::sync::atomic::{AtomicUsize, Ordering};

use reprove_digest::Digest;

use crate::ImageRef;
use crate::registry::{RegistryClient, RegistryError};

/// Stable verdict codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictCode {
    /// The pinned manifest exists, hashes to the pin, and the tag (if any) still resolves to it.
    Ok,
    /// No digest in the reference.
    UnpinnedImage,
    /// The tag now resolves to another digest (or no longer exists).
    TagMoved,
    /// The registry no longer has the pinned manifest.
    DigestMissing,
    /// A multi-arch index was republished under the tag, but the platform manifest is unchanged.
    IndexRepublished,
    /// The registry served bytes that do not hash to the digest asked for.
    DigestMismatch,
    /// The reference is not a valid image reference (or uses an unresolved variable).
    UnparsableImage,
    /// The registry could not be asked (network, auth, rate limit, server error).
    RegistryUnreachable,
}

impl VerdictCode {
    /// Every verdict.
    pub const ALL: [VerdictCode; 8] = [
        VerdictCode::Ok,
        VerdictCode::UnpinnedImage,
        VerdictCode::TagMoved,
        VerdictCode::DigestMissing,
        VerdictCode::IndexRepublished,
        VerdictCode::DigestMismatch,
        VerdictCode::UnparsableImage,
        VerdictCode::RegistryUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerdictCode::Ok => "ok",
            VerdictCode::UnpinnedImage => "unpinned-image",
            VerdictCode::TagMoved => "tag-moved",
            VerdictCode::DigestMissing => "digest-missing",
            VerdictCode::IndexRepublished => "index-republished",
            VerdictCode::DigestMismatch => "digest-mismatch",
            VerdictCode::UnparsableImage => "unparsable-image",
            VerdictCode::RegistryUnreachable => "registry-unreachable",
        }
    }

    /// Exit status contribution: 0 holds, 1 broken pin, 2 could not check.
    pub fn severity(self) -> u8 {
        match self {
            VerdictCode::Ok => 0,
            VerdictCode::RegistryUnreachable => 2,
            _ => 1,
        }
    }
}

/// The outcome for one reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub code: VerdictCode,
    pub message: String,
    /// What the tag resolves to now, when it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

impl Verdict {
    pub fn new(code: VerdictCode, message: String) -> Self {
        Verdict {
            code,
            message,
            current: None,
        }
    }
}

fn from_error(e: RegistryError) -> Verdict {
    match e {
        RegistryError::DigestMismatch { .. } => {
            Verdict::new(VerdictCode::DigestMismatch, e.to_string())
        }
        other => Verdict::new(VerdictCode::RegistryUnreachable, other.to_string()),
    }
}

/// The platform used to compare index entries when a reference names none.
pub fn default_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("linux/{arch}")
}

/// Checks one reference. `platform` (`os/arch[/variant]`) picks the index entry compared when
/// an index was republished.
pub fn check_reference(client: &RegistryClient, image: &ImageRef, platform: &str) -> Verdict {
    let Some(pin) = image.digest() else {
        return Verdict::new(
            VerdictCode::UnpinnedImage,
            format!("`{image}` is not pinned by digest"),
        );
    };
    // The common case costs one request: the tag's manifest hashes to the pin, which proves
    // both that the pinned manifest exists with those bytes and that the tag still names it.
    let current = match image.tag() {
        Some(tag) => match client.get_manifest(image, tag) {
            Ok(Some(m)) if reprove_digest::digest_bytes(pin.algorithm(), &m.bytes) == *pin => {
                return Verdict::new(
                    VerdictCode::Ok,
                    format!("`{tag}` still resolves to `{pin}`"),
                );
            }
            Ok(other) => other,
            Err(e) => return from_error(e),
        },
        None => None,
    };
    let pinned = match client.get_manifest(image, &pin.to_string()) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Verdict::new(
                VerdictCode::DigestMissing,
                format!("`{}` no longer has the manifest `{pin}`", image.name()),
            );
        }
        Err(e) => return from_error(e),
    };
    let Some(tag) = image.tag() else {
        return Verdict::new(
            VerdictCode::Ok,
            format!("`{pin}` exists and its bytes hash to the pin"),
        );
    };
    let Some(current) = current else {
        return Verdict::new(
            VerdictCode::TagMoved,
            format!("the tag `{tag}` no longer exists in `{}`", image.name()),
        );
    };
    let mut v = if pinned.is_index() && current.is_index() {
        match (
            pinned.platform_digest(platform),
            current.platform_digest(platform),
        ) {
            (Some(a), Some(b)) if a == b => Verdict::new(
                VerdictCode::IndexRepublished,
                format!(
                    "`{tag}` now resolves to the index `{}`, but its {platform} manifest `{a}` is unchanged; re-pin to the new index",
                    current.digest
                ),
            ),
            (Some(a), Some(b)) => Verdict::new(
                VerdictCode::TagMoved,
                format!("`{tag}` moved: its {platform} manifest changed from `{a}` to `{b}`"),
            ),
            _ => Verdict::new(
                VerdictCode::TagMoved,
                format!(
                    "`{tag}` now resolves to `{}` (no {platform} entry to compare)",
                    current.digest
                ),
            ),
        }
    } else if current.is_index() && current.child_digests().contains(pin) {
        // The pin names a platform manifest that the tag's index still lists.
        Verdict::new(
            VerdictCode::Ok,
            format!("`{tag}` resolves to an index that still lists `{pin}`"),
        )
    } else {
        Verdict::new(
            VerdictCode::TagMoved,
            format!(
                "`{tag}` now resolves to `{}`, not the pinned `{pin}`",
                current.digest
            ),
        )
    };
    if v.code != VerdictCode::Ok {
        v.current = Some(current.digest.to_string());
    }
    v
}

/// Resolves a tag to the digest to pin: the manifest (or index) the tag names now.
pub fn resolve_tag(
    client: &RegistryClient,
    image: &ImageRef,
) -> Result<Option<Digest>, RegistryError> {
    let tag = image.tag().unwrap_or("latest");
    Ok(client.get_manifest(image, tag)?.map(|m| m.digest))
}

/// Runs `f` over `items` on up to `concurrency` threads, keeping the order of results.
pub fn concurrently<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let workers = concurrency.clamp(1, items.len().max(1));
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(item)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {

    /// Every verdict is unique and named in the README (and so in `images check --help`).
    #[test]
    fn every_verdict_is_unique_and_documented() {
        const README: &str = include_str!("../../../README.md");
        let mut seen = std::collections::BTreeSet::new();
        for code in VerdictCode::ALL.map(VerdictCode::as_str) {
            assert!(seen.insert(code), "`{code}` twice");
            assert!(
                README.contains(&format!("`{code}`")),
                "verdict `{code}` is not in the README"
            );
        }
    }

    use super::*;

    #[test]
    fn concurrency_keeps_order() {
        let items: Vec<u32> = (0..100).collect();
        let out = concurrently(&items, 7, |x| x * 2);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert!(concurrently(&Vec::<u32>::new(), 4, |x| *x).is_empty());
    }

    #[test]
    fn unpinned_needs_no_network() {
        let client = RegistryClient::new(Default::default()).unwrap();
        let r: ImageRef = "127.0.0.1:1/x:1".parse().unwrap();
        assert_eq!(
            check_reference(&client, &r, "linux/amd64").code,
            VerdictCode::UnpinnedImage
        );
    }

    #[test]
    fn an_unreachable_registry_is_never_ok() {
        let client = RegistryClient::new(Default::default()).unwrap();
        let r: ImageRef = "127.0.0.1:9/x:1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().unwrap();
        let v = check_reference(&client, &r, "linux/amd64");
        assert_eq!(v.code, VerdictCode::RegistryUnreachable, "{v:?}");
        assert!(v.message.contains("127.0.0.1:9"));
    }
}
