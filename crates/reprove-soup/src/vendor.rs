//! Vendored crates (`cargo vendor`): a folder per crate holding its sources, its `Cargo.toml`
//! and `.cargo-checksum.json`, whose `package` is the sha256 of the `.crate` file the sources
//! came from. A vendored crate is one SOUP item — never its own lockfiles, CI files or
//! Dockerfiles, which `cargo vendor` copies along and no build of this project reads.

use crate::Parsed;
use crate::item::{Checksum, Ecosystem, Scope, SoupFinding, SoupItem};

/// The vendor directories a tree's cargo configuration (`.cargo/config.toml` or
/// `.cargo/config`) names as directory sources (`[source.<name>] directory = "vendor"`),
/// relative to the root; absolute paths and `..` are not the tree's.
pub fn vendor_directories(cargo_config: &str) -> Vec<String> {
    let Ok(table) = cargo_config.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut dirs: Vec<String> = table
        .get("source")
        .and_then(|s| s.as_table())
        .into_iter()
        .flat_map(|sources| sources.values())
        .filter_map(|src| src.get("directory")?.as_str())
        .map(|d| d.trim_start_matches("./").trim_end_matches('/').to_owned())
        .filter(|d| !d.is_empty() && !d.starts_with('/') && !d.split('/').any(|c| c == ".."))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The folders holding a vendored crate: those with a `.cargo-checksum.json` directly inside
/// one of `directories` (from [`vendor_directories`]), sorted. A `.cargo-checksum.json`
/// anywhere else is an ordinary file: planting one must not hide a folder's lockfiles or
/// Dockerfiles from the register — and pointing cargo at a vendor directory changes what it
/// builds, which the baseline records.
pub fn vendored_roots<'a>(
    paths: impl IntoIterator<Item = &'a str>,
    directories: &[String],
) -> Vec<String> {
    let mut roots: Vec<String> = paths
        .into_iter()
        .filter_map(|p| p.strip_suffix("/.cargo-checksum.json"))
        .filter(|root| {
            root.rsplit_once('/')
                .is_some_and(|(parent, _)| directories.iter().any(|d| d == parent))
        })
        .map(str::to_owned)
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// The vendored crate `path` lies inside, if any (`roots` sorted, as [`vendored_roots`]
/// returns them): each folder above `path` is looked up.
pub fn in_vendored<'a>(roots: &'a [String], path: &str) -> Option<&'a str> {
    path.match_indices('/')
        .map(|(i, _)| &path[..i])
        .find_map(|dir| {
            roots
                .binary_search_by(|r| r.as_str().cmp(dir))
                .ok()
                .and_then(|i| roots.get(i))
        })
        .map(String::as_str)
}

/// The SOUP item of the crate vendored at `root`, from its `.cargo-checksum.json` and
/// `Cargo.toml` (either may be missing or unreadable: a finding says so).
pub fn parse_vendored(
    root: &str,
    checksum_json: Option<&[u8]>,
    cargo_toml: Option<&[u8]>,
) -> Parsed {
    let mut parsed = Parsed::default();
    let manifest = format!("{root}/.cargo-checksum.json");
    let package = cargo_toml
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            let p = t.get("package")?;
            let name = p.get("name")?.as_str()?.to_owned();
            let version = p.get("version")?.as_str()?.to_owned();
            Some((name, version))
        });
    let Some((name, version)) = package else {
        parsed.findings.push(SoupFinding::unparsable(
            &manifest,
            None,
            &format!("`{root}/Cargo.toml` names no package and version"),
        ));
        return parsed;
    };
    let sha = checksum_json
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("package")?.as_str().map(str::to_owned))
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    let purl = format!("pkg:cargo/{name}@{version}");
    let mut item = SoupItem::new(&name, &version, Ecosystem::Cargo, purl);
    item.source = Some(format!("vendored at {root}"));
    item.checksum = sha.map(|s| Checksum::new("sha256", &s));
    item.scope = Scope::Unknown;
    item.manifest = manifest.clone();
    if item.checksum.is_none() {
        // A vendored git dependency has `"package": null`.
        parsed
            .findings
            .push(SoupFinding::missing_checksum(&manifest, None, &item));
    }
    parsed.items.push(item);
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vendored_crate_is_one_item_with_its_package_checksum() {
        let sha = "ab".repeat(32);
        let json = format!("{{\"files\":{{\"src/lib.rs\":\"00\"}},\"package\":\"{sha}\"}}");
        let p = parse_vendored(
            "vendor/itoa",
            Some(json.as_bytes()),
            Some(b"[package]\nname = \"itoa\"\nversion = \"1.0.19\"\n"),
        );
        assert!(p.findings.is_empty(), "{:?}", p.findings);
        let item = &p.items[0];
        assert_eq!(item.purl, "pkg:cargo/itoa@1.0.19");
        assert_eq!(item.checksum.as_ref().unwrap().value, sha);
        assert_eq!(item.manifest, "vendor/itoa/.cargo-checksum.json");
        // A git dependency has no package checksum: recorded, with a finding.
        let p = parse_vendored(
            "vendor/g",
            Some(b"{\"files\":{},\"package\":null}"),
            Some(b"[package]\nname = \"g\"\nversion = \"0.1.0\"\n"),
        );
        assert_eq!(p.findings[0].code.as_str(), "missing-checksum");
    }

    #[test]
    fn paths_inside_vendored_crates_are_found() {
        let dirs = vendor_directories(
            "[source.crates-io]\nreplace-with = \"v\"\n[source.v]\ndirectory = \"./vendor/\"\n[source.x]\ndirectory = \"/abs\"\n",
        );
        assert_eq!(dirs, ["vendor"]);
        let roots = vendored_roots(
            [
                "vendor/a/.cargo-checksum.json",
                "vendor/a-b/.cargo-checksum.json",
                "vendor/a/Cargo.lock",
                "src/main.rs",
                // planted outside the vendor directory: not a vendored crate
                "docker/.cargo-checksum.json",
                "vendor/a/nested/.cargo-checksum.json",
            ],
            &dirs,
        );
        assert_eq!(roots, ["vendor/a", "vendor/a-b"]);
        assert_eq!(in_vendored(&roots, "vendor/a/Cargo.lock"), Some("vendor/a"));
        assert_eq!(
            in_vendored(&roots, "vendor/a-b/.github/workflows/ci.yml"),
            Some("vendor/a-b")
        );
        assert_eq!(in_vendored(&roots, "vendor/ab/Cargo.lock"), None);
        assert_eq!(in_vendored(&roots, "Cargo.lock"), None);
        // Many siblings between a root and its files do not hide them.
        let many: Vec<String> = (0..200)
            .map(|i| format!("vendor/a-{i:03}/.cargo-checksum.json"))
            .chain(["vendor/a/.cargo-checksum.json".to_owned()])
            .collect();
        let roots = vendored_roots(many.iter().map(String::as_str), &dirs);
        assert_eq!(
            in_vendored(&roots, "vendor/a/deep/Cargo.lock"),
            Some("vendor/a")
        );
    }
}
