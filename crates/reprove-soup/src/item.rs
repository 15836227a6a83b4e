use std::fmt;

/// Which package ecosystem an item comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Ecosystem {
    Cargo,
    Npm,
    Pypi,
    Golang,
    Oci,
}

impl Ecosystem {
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Cargo => "cargo",
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Golang => "golang",
            Ecosystem::Oci => "oci",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the release depends on an item, as far as the lockfile says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Direct,
    Dev,
    Transitive,
    /// The lockfile does not say.
    Unknown,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Direct => "direct",
            Scope::Dev => "dev",
            Scope::Transitive => "transitive",
            Scope::Unknown => "unknown",
        }
    }
}

/// A checksum as the lockfile records it. `algorithm` is `sha256`, `sha512`, `sha1`, or `h1`
/// (Go's dirhash); `value` is lowercase hex for the sha family, as written for `h1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Checksum {
    pub algorithm: String,
    pub value: String,
}

impl Checksum {
    pub fn new(algorithm: &str, value: &str) -> Self {
        Checksum {
            algorithm: algorithm.to_owned(),
            value: value.to_ascii_lowercase(),
        }
    }

    /// Parses `sha256:<hex>` (pip, poetry, uv).
    pub fn from_prefixed_hex(s: &str) -> Option<Self> {
        let (alg, hex_str) = s.split_once(':')?;
        let len = match alg {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            "sha1" => 40,
            _ => return None,
        };
        (hex_str.len() == len && hex_str.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Checksum::new(alg, hex_str))
    }

    /// Parses a Subresource Integrity string (`sha512-<base64>`, npm's `integrity`).
    pub fn from_sri(s: &str) -> Option<Self> {
        use base64::Engine as _;
        // An SRI may list several hashes; take the strongest listed first by npm.
        let first = s.split_whitespace().next()?;
        let (alg, b64) = first.split_once('-')?;
        if !matches!(alg, "sha512" | "sha384" | "sha256" | "sha1") {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        Some(Checksum::new(alg, &hex::encode(bytes)))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.value)
    }
}

/// One third-party component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoupItem {
    pub name: String,
    /// The exact version; for an unpinned item, the requirement as written.
    pub version: String,
    pub ecosystem: Ecosystem,
    /// The manufacturer (IEC 62304 §8.1.2 b): from the overrides file, else from the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// `overrides` when a person stated the supplier, `derived` when reprove inferred it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier_origin: Option<&'static str>,
    /// Where it comes from: registry URL, git URL with revision, or image repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    /// The other files of the same release the lockfile accepts (a Python requirement's wheel
    /// per platform and its sdist): a build given any one of them was given this component.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_checksums: Vec<Checksum>,
    /// Package URL: the unique designator (IEC 62304 §8.1.2 c).
    pub purl: String,
    pub scope: Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The file that declared it.
    pub manifest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_support: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_anomaly_review: Option<String>,
    /// Installed only where it applies (npm's `optional`: a package for one platform, such as
    /// `@esbuild/linux-x64`): a build on another platform is not given it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl SoupItem {
    /// A new item with the required fields; the rest start empty.
    pub fn new(name: &str, version: &str, ecosystem: Ecosystem, purl: String) -> Self {
        SoupItem {
            name: name.to_owned(),
            version: version.to_owned(),
            ecosystem,
            supplier: None,
            supplier_origin: None,
            source: None,
            checksum: None,
            other_checksums: Vec::new(),
            purl,
            scope: Scope::Unknown,
            license: None,
            manifest: String::new(),
            purpose: None,
            safety_class: None,
            end_of_support: None,
            last_anomaly_review: None,
            optional: false,
        }
    }

    /// Sets the checksum to the first of `all` and keeps the rest as the other accepted files.
    pub fn set_checksums(&mut self, all: Vec<Checksum>) {
        let mut all = all.into_iter();
        self.checksum = all.next();
        self.other_checksums = all.collect();
    }

    /// Every sha256 (lowercase hex) the lockfile accepts for this component.
    pub fn sha256s(&self) -> impl Iterator<Item = &str> {
        self.checksum
            .iter()
            .chain(&self.other_checksums)
            .filter(|c| c.algorithm == "sha256")
            .map(|c| c.value.as_str())
    }

    pub fn with_derived_supplier(mut self, supplier: Option<String>) -> Self {
        if let Some(s) = supplier {
            self.supplier = Some(s);
            self.supplier_origin = Some("derived");
        }
        self
    }

    /// Sort key for a stable register: ecosystem, name, version, then declaring file.
    pub fn sort_key(&self) -> (Ecosystem, &str, &str, &str) {
        (self.ecosystem, &self.name, &self.version, &self.manifest)
    }
}

/// Stable codes for SOUP problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SoupFindingCode {
    UnpinnedVersion,
    MissingChecksum,
    UnparsableLockfile,
    UnsupportedLockfile,
    MissingSupplier,
    UnusedOverride,
}

impl SoupFindingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            SoupFindingCode::UnpinnedVersion => "unpinned-version",
            SoupFindingCode::MissingChecksum => "missing-checksum",
            SoupFindingCode::UnparsableLockfile => "unparsable-lockfile",
            SoupFindingCode::UnsupportedLockfile => "unsupported-lockfile",
            SoupFindingCode::MissingSupplier => "missing-supplier",
            SoupFindingCode::UnusedOverride => "unused-override",
        }
    }
}

/// A SOUP problem that does not invalidate the rest of the register.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SoupFinding {
    pub code: SoupFindingCode,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// `name@version` of the item concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    pub message: String,
}

impl SoupFinding {
    pub(crate) fn unparsable(file: &str, line: Option<usize>, message: &str) -> Self {
        SoupFinding {
            code: SoupFindingCode::UnparsableLockfile,
            file: file.to_owned(),
            line,
            item: None,
            message: message.to_owned(),
        }
    }

    pub(crate) fn for_item(
        code: SoupFindingCode,
        file: &str,
        line: Option<usize>,
        item: &SoupItem,
        message: String,
    ) -> Self {
        SoupFinding {
            code,
            file: file.to_owned(),
            line,
            item: Some(format!("{}@{}", item.name, item.version)),
            message,
        }
    }

    pub(crate) fn missing_checksum(file: &str, line: Option<usize>, item: &SoupItem) -> Self {
        Self::for_item(
            SoupFindingCode::MissingChecksum,
            file,
            line,
            item,
            format!(
                "`{}@{}` has no checksum in the lockfile",
                item.name, item.version
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        let c = Checksum::from_sri("sha512-AAAA").unwrap();
        assert_eq!(c.to_string(), "sha512:000000");
        assert!(Checksum::from_sri("md5-AAAA").is_none());
        let hex64 = "a".repeat(64);
        assert!(Checksum::from_prefixed_hex(&format!("sha256:{hex64}")).is_some());
        assert!(Checksum::from_prefixed_hex("sha256:abc").is_none());
    }
}
