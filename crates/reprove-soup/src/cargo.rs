//! `Cargo.lock` (all lockfile versions, via the `cargo-lock` crate).
//!
//! Packages without a source are the workspace's own crates, not SOUP; their dependencies are
//! the direct ones. Registry packages carry a sha256 checksum; git packages are pinned by the
//! commit in their source URL, recorded as the checksum (`git:<commit>`).

use std::collections::BTreeSet;
use std::str::FromStr;

use cargo_lock::Lockfile;

use crate::item::{Checksum, Ecosystem, Scope, SoupFinding, SoupItem};
use crate::{Parsed, toml_error_line, toml_message};

/// The line where `[[package]]` for `name`/`version` starts, for findings.
fn package_line(text: &str, name: &str, version: &str) -> Option<usize> {
    let needle = format!("name = \"{name}\"\nversion = \"{version}\"");
    text.find(&needle)
        .map(|off| text[..off].matches('\n').count() + 1)
}

/// The first checksum (in `[[package]]` or the v1 `[metadata]` table) that is not ASCII hex.
fn non_hex_checksum(table: &toml::Table) -> Option<String> {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let packages = table
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("checksum")?.as_str());
    let metadata = table
        .get("metadata")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("checksum "))
        .filter_map(|(_, v)| v.as_str());
    packages
        .chain(metadata)
        .find(|c| !hex(c))
        .map(|c| c.chars().take(80).collect())
}

pub(crate) fn parse(path: &str, text: &str) -> Parsed {
    // Parse as TOML first: its errors carry a position, cargo-lock's do not.
    let table = match text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(e) => {
            return Parsed {
                items: Vec::new(),
                findings: vec![SoupFinding::unparsable(
                    path,
                    toml_error_line(text, &e),
                    &toml_message(&e),
                )],
            };
        }
    };
    // cargo-lock 11 slices checksums by byte pairs and panics on a non-ASCII one (found by
    // `cargo xtask fuzz`): refuse those first, as the lockfile error they are.
    if let Some(bad) = non_hex_checksum(&table) {
        return Parsed {
            items: Vec::new(),
            findings: vec![SoupFinding::unparsable(
                path,
                None,
                &format!("the checksum `{bad}` is not hexadecimal"),
            )],
        };
    }
    let lock = match Lockfile::from_str(text) {
        Ok(l) => l,
        Err(e) => {
            return Parsed {
                items: Vec::new(),
                findings: vec![SoupFinding::unparsable(path, None, &e.to_string())],
            };
        }
    };
    // The workspace's own crates — and, in a v1 lockfile, the `[root]` package, which
    // cargo-lock keeps apart from `packages` — name the direct dependencies.
    let members: Vec<_> = lock
        .packages
        .iter()
        .filter(|p| p.source.is_none())
        .chain(lock.root.iter())
        .collect();
    let direct: BTreeSet<String> = members
        .iter()
        .flat_map(|m| m.dependencies.iter().map(|d| d.name.as_str().to_owned()))
        .collect();
    let mut parsed = Parsed::default();
    for p in lock.packages.iter().filter(|p| p.source.is_some()) {
        let name = p.name.as_str();
        let version = p.version.to_string();
        let Some(source) = &p.source else {
            continue;
        };
        let url = source.url().to_string();
        let mut purl = format!("pkg:cargo/{name}@{version}");
        let (supplier, source_text, checksum) = if source.is_default_registry() {
            (
                Some("crates.io".to_owned()),
                "https://crates.io".to_owned(),
                p.checksum
                    .as_ref()
                    .map(|c| Checksum::new("sha256", &c.to_string())),
            )
        } else if source.is_git() {
            let rev = source.precise().map(str::to_owned);
            purl.push_str(&format!("?vcs_url=git%2B{}", url.replace(':', "%3A")));
            if let Some(r) = &rev {
                purl.push_str(&format!("%40{r}"));
            }
            let host = url
                .split("://")
                .nth(1)
                .map(|rest| rest.split('/').take(2).collect::<Vec<_>>().join("/"));
            (
                host,
                format!("{url}#{}", rev.clone().unwrap_or_default()),
                rev.map(|r| Checksum::new("git", &r)),
            )
        } else {
            purl.push_str(&format!("?repository_url={}", url.replace(':', "%3A")));
            (
                url.split("://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .map(str::to_owned),
                url.clone(),
                p.checksum
                    .as_ref()
                    .map(|c| Checksum::new("sha256", &c.to_string())),
            )
        };
        let mut item =
            SoupItem::new(name, &version, Ecosystem::Cargo, purl).with_derived_supplier(supplier);
        item.source = Some(source_text);
        item.checksum = checksum;
        item.scope = if direct.contains(name) {
            Scope::Direct
        } else {
            Scope::Transitive
        };
        if item.checksum.is_none() {
            parsed.findings.push(SoupFinding::missing_checksum(
                path,
                package_line(text, name, &version),
                &item,
            ));
        }
        parsed.items.push(item);
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: in a v1 lockfile the root package lives in `[root]`; its dependencies are
    /// direct, not transitive.
    #[test]
    fn v1_root_dependencies_are_direct() {
        let text = "[root]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"libc 0.2.40 (registry+https://github.com/rust-lang/crates.io-index)\",\n]\n\n[[package]]\nname = \"libc\"\nversion = \"0.2.40\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\ndependencies = [\n \"cc 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)\",\n]\n\n[[package]]\nname = \"cc\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[metadata]\n\"checksum libc 0.2.40 (registry+https://github.com/rust-lang/crates.io-index)\" = \"1111111111111111111111111111111111111111111111111111111111111111\"\n\"checksum cc 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)\" = \"2222222222222222222222222222222222222222222222222222222222222222\"\n";
        let parsed = parse("Cargo.lock", text);
        assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
        let scope = |n: &str| {
            parsed
                .items
                .iter()
                .find(|i| i.name == n)
                .map(|i| i.scope)
                .unwrap()
        };
        assert_eq!(scope("libc"), Scope::Direct);
        assert_eq!(scope("cc"), Scope::Transitive);
    }

    /// Regression (fuzz, lockfile): a non-ASCII checksum of 64 bytes panicked in cargo-lock.
    #[test]
    fn a_non_ascii_checksum_is_a_finding_not_a_panic() {
        let checksum = format!("{}\u{359}{}", "a".repeat(13), "b".repeat(49));
        assert_eq!(checksum.len(), 64);
        let text = format!(
            "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{checksum}\"\n"
        );
        let parsed = parse("Cargo.lock", &text);
        assert!(parsed.items.is_empty());
        assert_eq!(parsed.findings.len(), 1);
        assert!(parsed.findings[0].message.contains("not hexadecimal"));
    }
    use crate::SoupFindingCode;

    const LOCK: &str = r#"version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "serde",
 "mygit",
]

[[package]]
name = "mygit"
version = "0.2.0"
source = "git+https://github.com/acme/mygit?rev=abc#0123456789abcdef0123456789abcdef01234567"

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "ddc6f9cc94d67c0e21aaf7eda3a010fd3af78ebf6e096aa6e2e13c79749cce4f"
dependencies = [
 "serde_derive",
]

[[package]]
name = "serde_derive"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    #[test]
    fn parses_registry_git_and_members() {
        let p = parse("Cargo.lock", LOCK);
        let names: Vec<_> = p.items.iter().map(|i| (i.name.as_str(), i.scope)).collect();
        assert_eq!(
            names,
            [
                ("mygit", Scope::Direct),
                ("serde", Scope::Direct),
                ("serde_derive", Scope::Transitive)
            ]
        );
        let serde = &p.items[1];
        assert_eq!(serde.purl, "pkg:cargo/serde@1.0.200");
        assert_eq!(serde.supplier.as_deref(), Some("crates.io"));
        assert_eq!(
            serde.checksum.as_ref().unwrap().to_string(),
            "sha256:ddc6f9cc94d67c0e21aaf7eda3a010fd3af78ebf6e096aa6e2e13c79749cce4f"
        );
        let git = &p.items[0];
        assert_eq!(git.checksum.as_ref().unwrap().algorithm, "git");
        assert_eq!(git.supplier.as_deref(), Some("github.com/acme"));
        // serde_derive has no checksum: a finding with its line.
        assert_eq!(p.findings.len(), 1);
        assert_eq!(p.findings[0].code, SoupFindingCode::MissingChecksum);
        assert_eq!(p.findings[0].line, Some(26));
    }

    #[test]
    fn corrupted_lockfile_names_the_line() {
        let p = parse(
            "Cargo.lock",
            "version = 4\n\n[[package]]\nname = \"x\nversion = 1\n",
        );
        assert_eq!(p.findings[0].code, SoupFindingCode::UnparsableLockfile);
        assert_eq!(p.findings[0].line, Some(4));
        assert!(p.items.is_empty());
    }
}
