//! The SOUP register as text for people (Markdown), spreadsheets (CSV, RFC 4180) and tools
//! (CycloneDX 1.5 JSON, <https://cyclonedx.org/docs/1.5/json/>). Pure functions: data in,
//! text out.

use serde_json::{Value, json};

use crate::item::{Ecosystem, Scope, SoupItem};

/// The component the SBOM describes.
#[derive(Debug, Clone, Default)]
pub struct BomMetadata {
    pub name: Option<String>,
    pub version: Option<String>,
    pub supplier: Option<String>,
    /// The commit the register was taken from, recorded as a property.
    pub commit: Option<String>,
}

fn md_escape(s: &str) -> String {
    reprove_escape::markdown(s)
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// A Markdown table, one row per item. Review columns appear when any item has them.
pub fn to_markdown(items: &[SoupItem]) -> String {
    let review = items.iter().any(|i| {
        i.purpose.is_some()
            || i.safety_class.is_some()
            || i.end_of_support.is_some()
            || i.last_anomaly_review.is_some()
    });
    let mut out = String::from(
        "| Name | Version | Ecosystem | Supplier | Scope | Licence | Checksum | Declared in |",
    );
    if review {
        out.push_str(" Purpose | Safety class | End of support | Last anomaly review |");
    }
    out.push('\n');
    out.push_str("|---|---|---|---|---|---|---|---|");
    if review {
        out.push_str("---|---|---|---|");
    }
    out.push('\n');
    for i in items {
        let checksum = i
            .checksum
            .as_ref()
            .map(|c| md_escape(&c.to_string()))
            .unwrap_or_else(|| "**none**".into());
        let supplier = match (&i.supplier, i.supplier_origin) {
            (Some(s), Some("derived")) => format!("{} (derived)", md_escape(s)),
            (Some(s), _) => md_escape(s),
            (None, _) => "**unknown**".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md_escape(&i.name),
            md_escape(&i.version),
            i.ecosystem,
            supplier,
            i.scope.as_str(),
            md_escape(opt(&i.license)),
            checksum,
            md_escape(&i.manifest),
        ));
        if review {
            out.push_str(&format!(
                " {} | {} | {} | {} |",
                md_escape(opt(&i.purpose)),
                md_escape(opt(&i.safety_class)),
                md_escape(opt(&i.end_of_support)),
                md_escape(opt(&i.last_anomaly_review)),
            ));
        }
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    reprove_escape::csv(s)
}

/// RFC 4180 CSV with a header row and CRLF line endings.
pub fn to_csv(items: &[SoupItem]) -> String {
    let mut out = String::from(
        "name,version,ecosystem,supplier,supplier_origin,scope,license,checksum,purl,source,declared_in,purpose,safety_class,end_of_support,last_anomaly_review\r\n",
    );
    for i in items {
        let fields = [
            i.name.clone(),
            i.version.clone(),
            i.ecosystem.to_string(),
            opt(&i.supplier).to_owned(),
            i.supplier_origin.unwrap_or("").to_owned(),
            i.scope.as_str().to_owned(),
            opt(&i.license).to_owned(),
            i.checksum
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            i.purl.clone(),
            opt(&i.source).to_owned(),
            i.manifest.clone(),
            opt(&i.purpose).to_owned(),
            opt(&i.safety_class).to_owned(),
            opt(&i.end_of_support).to_owned(),
            opt(&i.last_anomaly_review).to_owned(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

fn cdx_hash_alg(alg: &str) -> Option<&'static str> {
    match alg {
        "sha1" => Some("SHA-1"),
        "sha256" => Some("SHA-256"),
        "sha384" => Some("SHA-384"),
        "sha512" => Some("SHA-512"),
        _ => None,
    }
}

/// A CycloneDX 1.5 BOM. Deterministic: no timestamp or random serial number, so the same
/// release gives the same bytes.
pub fn to_cyclonedx(meta: &BomMetadata, items: &[SoupItem]) -> Value {
    let mut components = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for i in items {
        // bom-ref must be unique; the same purl declared in two lockfiles is one component.
        if !seen.insert(i.purl.clone()) {
            continue;
        }
        let mut c = json!({
            "type": if i.ecosystem == Ecosystem::Oci { "container" } else { "library" },
            "bom-ref": i.purl,
            "name": i.name,
            "version": i.version,
            "purl": i.purl,
            "scope": match i.scope { Scope::Dev => "excluded", _ => "required" },
        });
        if let Some(s) = &i.supplier {
            c["supplier"] = json!({ "name": s });
        }
        if let Some(ck) = &i.checksum
            && let Some(alg) = cdx_hash_alg(&ck.algorithm)
        {
            c["hashes"] = json!([{ "alg": alg, "content": ck.value }]);
        }
        if let Some(l) = &i.license {
            c["licenses"] = json!([{ "expression": l }]);
        }
        let mut props = vec![
            json!({"name": "reprove:declared-in", "value": i.manifest}),
            json!({"name": "reprove:scope", "value": i.scope.as_str()}),
        ];
        if let Some(ck) = &i.checksum
            && cdx_hash_alg(&ck.algorithm).is_none()
        {
            props.push(json!({"name": "reprove:checksum", "value": ck.to_string()}));
        }
        for (k, v) in [
            ("reprove:purpose", &i.purpose),
            ("reprove:safety-class", &i.safety_class),
            ("reprove:end-of-support", &i.end_of_support),
            ("reprove:last-anomaly-review", &i.last_anomaly_review),
        ] {
            if let Some(v) = v {
                props.push(json!({"name": k, "value": v}));
            }
        }
        c["properties"] = Value::Array(props);
        if let Some(src) = &i.source
            && (src.starts_with("http://")
                || src.starts_with("https://")
                || src.starts_with("git+"))
        {
            c["externalReferences"] = json!([{ "type": "distribution", "url": src }]);
        }
        components.push(c);
    }
    let mut component = json!({
        "type": "application",
        "bom-ref": "reprove:release",
        "name": meta.name.clone().unwrap_or_else(|| "unnamed".into()),
    });
    if let Some(v) = &meta.version {
        component["version"] = json!(v);
    }
    if let Some(s) = &meta.supplier {
        component["supplier"] = json!({ "name": s });
    }
    let mut metadata = json!({
        "tools": { "components": [{ "type": "application", "name": "reprove", "version": env!("CARGO_PKG_VERSION") }] },
        "component": component,
    });
    if let Some(commit) = &meta.commit {
        metadata["properties"] = json!([{ "name": "reprove:git-commit", "value": commit }]);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [{ "ref": "reprove:release", "dependsOn": items.iter().filter(|i| i.scope == Scope::Direct).map(|i| i.purl.clone()).collect::<std::collections::BTreeSet<_>>() }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Checksum;

    fn items() -> Vec<SoupItem> {
        let mut a = SoupItem::new("a|b", "1.0", Ecosystem::Npm, "pkg:npm/a@1.0".into())
            .with_derived_supplier(Some("npmjs.com".into()));
        a.checksum = Some(Checksum::new("sha512", "ab"));
        a.manifest = "package-lock.json".into();
        a.scope = Scope::Direct;
        let mut b = SoupItem::new("x,y", "2", Ecosystem::Golang, "pkg:golang/x@2".into());
        b.checksum = Some(Checksum {
            algorithm: "h1".into(),
            value: "Zz=".into(),
        });
        b.purpose = Some("says \"hi\"".into());
        vec![a, b]
    }

    #[test]
    fn markdown_escapes_and_flags_unknowns() {
        let md = to_markdown(&items());
        assert!(md.contains("| a\\|b | 1.0 | npm | npmjs.com (derived) | direct |"));
        assert!(md.contains("**unknown**"));
        assert!(md.contains("Safety class"));
    }

    #[test]
    fn csv_quotes() {
        let csv = to_csv(&items());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[2].starts_with("\"x,y\",2,golang"));
        assert!(lines[2].contains("\"says \"\"hi\"\"\""));
    }

    #[test]
    fn cyclonedx_shape() {
        let bom = to_cyclonedx(
            &BomMetadata {
                name: Some("app".into()),
                ..Default::default()
            },
            &items(),
        );
        assert_eq!(bom["specVersion"], "1.5");
        assert_eq!(bom["components"][0]["hashes"][0]["alg"], "SHA-512");
        assert!(bom["components"][1].get("hashes").is_none());
        assert_eq!(bom["dependencies"][0]["dependsOn"][0], "pkg:npm/a@1.0");
    }
}
