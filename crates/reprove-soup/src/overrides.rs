//! The human-maintained SOUP fields, from the repository's overrides file (`[soup] overrides`,
//! conventionally `soup.toml`). Entries match by name (and optionally ecosystem and version),
//! so a reviewed supplier or safety class carries over when a dependency is upgraded.
//!
//! ```toml
//! [[item]]
//! name = "serde"
//! ecosystem = "cargo"          # optional
//! version = "1.0.200"          # optional: only this version
//! supplier = "David Tolnay"
//! purpose = "serialization of configuration files"
//! safety-class = "A"
//! end-of-support = "none announced"
//! last-anomaly-review = "2026-10-01"
//! ```

use crate::item::{Ecosystem, SoupFinding, SoupFindingCode, SoupItem};
use crate::{SoupError, toml_error_line, toml_message};

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridesFile {
    #[serde(default)]
    item: Vec<Override>,
}

/// One overrides entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Override {
    pub name: String,
    pub ecosystem: Option<Ecosystem>,
    pub version: Option<String>,
    pub supplier: Option<String>,
    pub purpose: Option<String>,
    pub safety_class: Option<String>,
    pub end_of_support: Option<String>,
    pub last_anomaly_review: Option<String>,
}

impl Override {
    fn matches(&self, item: &SoupItem) -> bool {
        let name_eq = self.name == item.name
            || (item.ecosystem == Ecosystem::Oci
                && item.source.as_deref() == Some(self.name.as_str()));
        name_eq
            && self.ecosystem.is_none_or(|e| e == item.ecosystem)
            && self.version.as_deref().is_none_or(|v| v == item.version)
    }
}

/// The parsed overrides file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    path: String,
    entries: Vec<Override>,
}

impl Overrides {
    /// Parses the overrides file; unknown keys are errors so a typo never silently drops a
    /// reviewed field.
    pub fn parse(path: &str, text: &str) -> Result<Self, SoupError> {
        let file: OverridesFile = toml::from_str(text).map_err(|e| SoupError::Overrides {
            path: path.to_owned(),
            message: match toml_error_line(text, &e) {
                Some(l) => format!("line {l}: {}", toml_message(&e)),
                None => toml_message(&e),
            },
        })?;
        Ok(Overrides {
            path: path.to_owned(),
            entries: file.item,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Applies matching entries (later, more specific entries win field by field) and returns
    /// findings for entries that matched nothing and items still without a supplier.
    pub fn apply(&self, items: &mut [SoupItem]) -> Vec<SoupFinding> {
        let mut used = vec![false; self.entries.len()];
        for item in items.iter_mut() {
            // Least specific first, so a version-specific entry overrides a name-wide one.
            let mut matching: Vec<(usize, &Override)> = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, o)| o.matches(item))
                .collect();
            matching.sort_by_key(|(_, o)| {
                (o.ecosystem.is_some() as u8) + 2 * (o.version.is_some() as u8)
            });
            for (i, o) in matching {
                used[i] = true;
                if let Some(s) = &o.supplier {
                    item.supplier = Some(s.clone());
                    item.supplier_origin = Some("overrides");
                }
                let set = |field: &mut Option<String>, v: &Option<String>| {
                    if v.is_some() {
                        field.clone_from(v);
                    }
                };
                set(&mut item.purpose, &o.purpose);
                set(&mut item.safety_class, &o.safety_class);
                set(&mut item.end_of_support, &o.end_of_support);
                set(&mut item.last_anomaly_review, &o.last_anomaly_review);
            }
        }
        let mut findings: Vec<SoupFinding> = self
            .entries
            .iter()
            .zip(used)
            .filter(|(_, u)| !u)
            .map(|(o, _)| SoupFinding {
                code: SoupFindingCode::UnusedOverride,
                file: self.path.clone(),
                line: None,
                item: Some(o.name.clone()),
                message: format!("override for `{}` matches no SOUP item", o.name),
            })
            .collect();
        for item in items.iter().filter(|i| i.supplier.is_none()) {
            findings.push(SoupFinding::for_item(
                SoupFindingCode::MissingSupplier,
                &item.manifest,
                None,
                item,
                format!(
                    "no supplier known for `{}`; add one to the overrides file",
                    item.name
                ),
            ));
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, version: &str) -> SoupItem {
        SoupItem::new(
            name,
            version,
            Ecosystem::Cargo,
            format!("pkg:cargo/{name}@{version}"),
        )
    }

    #[test]
    fn applies_by_name_and_version_specificity() {
        let o = Overrides::parse(
            "soup.toml",
            "[[item]]\nname = \"serde\"\nsupplier = \"D. Tolnay\"\nsafety-class = \"A\"\n\n[[item]]\nname = \"serde\"\nversion = \"2.0.0\"\nsafety-class = \"B\"\n\n[[item]]\nname = \"gone\"\n",
        )
        .unwrap();
        let mut items = vec![
            item("serde", "1.0.0"),
            item("serde", "2.0.0"),
            item("other", "1"),
        ];
        let findings = o.apply(&mut items);
        assert_eq!(items[0].supplier.as_deref(), Some("D. Tolnay"));
        assert_eq!(items[0].supplier_origin, Some("overrides"));
        assert_eq!(items[0].safety_class.as_deref(), Some("A"));
        assert_eq!(items[1].safety_class.as_deref(), Some("B"));
        let codes: Vec<_> = findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["unused-override", "missing-supplier"]);
    }

    #[test]
    fn unknown_keys_are_errors_with_line() {
        let err = Overrides::parse("soup.toml", "[[item]]\nname = \"x\"\nsuplier = \"typo\"\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`soup.toml`"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("suplier"), "{msg}");
    }
}
