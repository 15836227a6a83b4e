//! The SOUP register as text for people (Markdown), spreadsheets (CSV, RFC 4180) and tools
//! (CycloneDX 1.6 or 1.5 JSON, <https://cyclonedx.org/docs/1.6/json/>; SPDX 2.3 JSON,
//! <https://spdx.github.io/spdx-spec/v2.3/>). Pure functions: data in, text out.

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
    /// That commit's committer time (RFC 3339 UTC): SPDX's mandatory `created`.
    pub created: Option<String>,
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

/// A digest algorithm both SBOM formats name: CycloneDX's name, SPDX 2.3's (§7.10), and the
/// length in hex digits a value of it has.
struct HashAlg {
    cyclonedx: &'static str,
    spdx: &'static str,
    hex_len: usize,
}

fn hash_alg(alg: &str) -> Option<HashAlg> {
    let (cyclonedx, spdx, hex_len) = match alg {
        "sha1" => ("SHA-1", "SHA1", 40),
        "sha256" => ("SHA-256", "SHA256", 64),
        "sha384" => ("SHA-384", "SHA384", 96),
        "sha512" => ("SHA-512", "SHA512", 128),
        _ => return None,
    };
    Some(HashAlg {
        cyclonedx,
        spdx,
        hex_len,
    })
}

/// The algorithm of a checksum both formats can carry: a named algorithm and a value of
/// lowercase hex of its length. Anything else (a malformed lockfile entry, Go's `h1:`) is
/// kept as text by the callers instead.
fn well_formed(ck: &crate::item::Checksum) -> Option<HashAlg> {
    hash_alg(&ck.algorithm).filter(|h| {
        ck.value.len() == h.hex_len
            && ck
                .value
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// Letters, digits, `.` and `-` kept, anything else `-`: an SPDX element id's characters
/// (§3.2), and a document namespace's readable part.
fn spdx_slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A CycloneDX BOM. Deterministic: no timestamp or random serial number, so the same
/// release gives the same bytes.
pub fn to_cyclonedx(meta: &BomMetadata, items: &[SoupItem], version: CycloneDxVersion) -> Value {
    let mut components = Vec::new();
    let mut refs = BomRefs::default();
    for i in items {
        // The same component declared in two lockfiles is one; the same purl from another
        // source or with other bytes is another component, never dropped.
        let Some(bom_ref) = refs.take(i) else {
            continue;
        };
        let mut c = json!({
            "type": if i.ecosystem == Ecosystem::Oci { "container" } else { "library" },
            "bom-ref": bom_ref,
            "name": i.name,
            "version": i.version,
            "purl": i.purl,
            "scope": match i.scope { Scope::Dev => "excluded", _ => "required" },
        });
        if let Some(s) = &i.supplier {
            c["supplier"] = json!({ "name": s });
        }
        // CycloneDX's hash content is hex of the algorithm's length; anything else is kept as
        // a property instead.
        if let Some(ck) = &i.checksum
            && let Some(h) = well_formed(ck)
        {
            c["hashes"] = json!([{ "alg": h.cyclonedx, "content": ck.value }]);
        }
        if let Some(l) = &i.license {
            c["licenses"] = json!([{ "expression": l }]);
        }
        let mut props = vec![
            json!({"name": "reprove:declared-in", "value": i.manifest}),
            json!({"name": "reprove:scope", "value": i.scope.as_str()}),
        ];
        if let Some(ck) = &i.checksum
            && well_formed(ck).is_none()
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
        "specVersion": version.as_str(),
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [{ "ref": "reprove:release", "dependsOn": items.iter().filter(|i| i.scope == Scope::Direct).map(|i| i.purl.clone()).collect::<std::collections::BTreeSet<_>>() }],
    })
}

/// The CycloneDX specification a BOM follows. 1.6 is the default; 1.5 stays for tools that
/// do not read 1.6 yet (the two differ here only in `specVersion`: every field written is in
/// both, <https://cyclonedx.org/docs/1.6/json/>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CycloneDxVersion {
    V1_5,
    #[default]
    V1_6,
}

impl CycloneDxVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CycloneDxVersion::V1_5 => "1.5",
            CycloneDxVersion::V1_6 => "1.6",
        }
    }
}

/// Which register items become components, and under which unique reference: the first of
/// each (purl, source, checksum) — an item declared in two lockfiles is one component — and
/// a purl seen before from another source or with other bytes gets `#2`, `#3`… so it is kept.
#[derive(Default)]
struct BomRefs {
    seen: std::collections::BTreeSet<(String, Option<String>, Option<String>)>,
    per_purl: std::collections::BTreeMap<String, usize>,
}

impl BomRefs {
    fn take(&mut self, i: &SoupItem) -> Option<String> {
        let key = (
            i.purl.clone(),
            i.source.clone(),
            i.checksum.as_ref().map(ToString::to_string),
        );
        if !self.seen.insert(key) {
            return None;
        }
        let n = self.per_purl.entry(i.purl.clone()).or_insert(0);
        *n += 1;
        Some(if *n == 1 {
            i.purl.clone()
        } else {
            format!("{}#{n}", i.purl)
        })
    }
}

/// A value from a lockfile as SPDX text: control and invisible characters (a newline would
/// start a new field once the document is converted to tag-value) become U+FFFD.
fn spdx_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || reprove_escape::is_unsafe_for_terminal(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// A value inside the package comment, whose fields are separated by `; `: a `;` of its own
/// becomes `,` so it cannot start a field of its own.
fn spdx_field(s: &str) -> String {
    spdx_text(s).replace(';', ",")
}

/// An SPDX element id (§3.2: `SPDXRef-` then letters, digits, `.` and `-`): a running number
/// keeps it unique, the name (cleaned) keeps it readable.
fn spdx_id(n: usize, name: &str) -> String {
    let clean: String = spdx_slug(name).chars().take(64).collect();
    format!("SPDXRef-Package-{n}-{clean}")
}

/// A licence as SPDX 2.3 §7.15 wants it: a valid SPDX licence expression, else `NOASSERTION`
/// (the text as written goes to `licenseComments`, so nothing the lockfile said is lost).
fn spdx_license(l: &Option<String>) -> (String, Option<String>) {
    // Only licences and exceptions of the SPDX list: a `LicenseRef-` or `DocumentRef-` needs
    // a declaration this document does not carry.
    let listed = |l: &str| {
        spdx::Expression::parse(l).is_ok_and(|e| {
            e.requirements()
                .all(|r| matches!(r.req.license, spdx::LicenseItem::Spdx { .. }))
        })
    };
    match l {
        Some(l) if listed(l) => (l.clone(), None),
        Some(l) => (
            "NOASSERTION".into(),
            Some(format!(
                "declared as `{}`, which is not an expression of SPDX-listed licences",
                spdx_text(l)
            )),
        ),
        None => ("NOASSERTION".into(), None),
    }
}

/// A download location SPDX 2.3 §7.7 accepts: an http(s) URL or a VCS locator; anything else
/// (a registry host alone, an image repository) is `NOASSERTION`.
fn spdx_download(src: &Option<String>) -> String {
    match src {
        Some(s)
            if !s.chars().any(|c| c.is_whitespace() || c.is_control())
                && s.strip_prefix("git+")
                    .unwrap_or(s)
                    .split_once("://")
                    .is_some_and(|(scheme, rest)| {
                        matches!(scheme, "https" | "http" | "ssh" | "git")
                            && rest.split('/').next().is_some_and(|host| !host.is_empty())
                    }) =>
        {
            s.clone()
        }
        _ => "NOASSERTION".into(),
    }
}

/// An SPDX actor (§6.8, §7.5): `Organization: name`. Parentheses and line breaks would be read
/// as an e-mail part or a new field by SPDX parsers, so they become spaces.
fn spdx_actor(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if matches!(c, '(' | ')') || c.is_control() || reprove_escape::is_unsafe_for_terminal(c)
            {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    // A name that spells an actor type or the keyword itself must not read as one.
    for prefix in ["Person:", "Organization:", "Tool:"] {
        if clean.len() >= prefix.len() && clean[..prefix.len()].eq_ignore_ascii_case(prefix) {
            clean = clean[prefix.len()..].trim().to_owned();
        }
    }
    if clean.is_empty()
        || clean.eq_ignore_ascii_case("NOASSERTION")
        || clean.eq_ignore_ascii_case("NONE")
    {
        "NOASSERTION".into()
    } else {
        format!("Organization: {clean}")
    }
}

/// An SPDX 2.3 JSON document (<https://spdx.github.io/spdx-spec/v2.3/>) of the register: one
/// package for the release, one per component, `DESCRIBES` and `DEPENDS_ON` relationships
/// (`DEV_DEPENDENCY_OF` for development-only ones). Deterministic like the CycloneDX BOM: its
/// one date, `created`, is the commit time, and `documentNamespace` is derived from the
/// content, so the same release gives the same bytes.
pub fn to_spdx(meta: &BomMetadata, items: &[SoupItem]) -> Value {
    use sha2::Digest as _;
    let name = meta.name.clone().unwrap_or_else(|| "unnamed".into());
    let root_id = "SPDXRef-Package-release".to_owned();
    let mut root = json!({
        "SPDXID": root_id,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "APPLICATION",
    });
    if let Some(v) = &meta.version {
        root["versionInfo"] = json!(v);
    }
    if let Some(s) = &meta.supplier {
        root["supplier"] = json!(spdx_actor(s));
    }
    if let Some(c) = &meta.commit {
        root["sourceInfo"] = json!(format!("built from git commit {c}"));
    }
    let mut packages = vec![root];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root_id,
    })];
    let mut refs = BomRefs::default();
    for i in items {
        if refs.take(i).is_none() {
            continue;
        }
        let id = spdx_id(packages.len(), &i.name);
        let (declared, license_comment) = spdx_license(&i.license);
        let mut p = json!({
            "SPDXID": id,
            "name": spdx_text(&i.name),
            "versionInfo": spdx_text(&i.version),
            "downloadLocation": spdx_download(&i.source),
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": declared,
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": if i.ecosystem == crate::item::Ecosystem::Oci { "CONTAINER" } else { "LIBRARY" },
        });
        // A purl with whitespace or a control character is no purl (SPDX's pattern refuses
        // it); it is kept in the comment instead.
        let purl_ok = !i.purl.is_empty()
            && !i
                .purl
                .chars()
                .any(|c| c.is_whitespace() || reprove_escape::is_unsafe_for_terminal(c));
        if purl_ok {
            p["externalRefs"] = json!([{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": i.purl,
            }]);
        }
        p["supplier"] = json!(match &i.supplier {
            Some(s) => spdx_actor(s),
            None => "NOASSERTION".into(),
        });
        if let Some(c) = license_comment {
            p["licenseComments"] = json!(c);
        }
        let mut checksums = Vec::new();
        let mut other = Vec::new();
        for ck in i.checksum.iter().chain(&i.other_checksums) {
            match well_formed(ck) {
                Some(h) => {
                    checksums.push(json!({"algorithm": h.spdx, "checksumValue": ck.value}));
                }
                None => other.push(spdx_text(&ck.to_string())),
            }
        }
        if !checksums.is_empty() {
            p["checksums"] = Value::Array(checksums);
        }
        let mut comment = format!(
            "scope: {}; declared in {}",
            i.scope.as_str(),
            spdx_field(&i.manifest)
        );
        if !purl_ok {
            comment.push_str(&format!("; purl {}", spdx_field(&i.purl)));
        }
        if !other.is_empty() {
            comment.push_str(&format!("; checksum {}", other.join(", ")));
        }
        for (k, v) in [
            ("purpose", &i.purpose),
            ("safety class", &i.safety_class),
            ("end of support", &i.end_of_support),
            ("last anomaly review", &i.last_anomaly_review),
        ] {
            if let Some(v) = v {
                comment.push_str(&format!("; {k}: {}", spdx_field(v)));
            }
        }
        p["comment"] = json!(comment);
        relationships.push(if i.scope == Scope::Dev {
            json!({"spdxElementId": id, "relationshipType": "DEV_DEPENDENCY_OF", "relatedSpdxElement": root_id})
        } else {
            json!({"spdxElementId": root_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": id})
        });
        packages.push(p);
    }
    let created = meta
        .created
        .clone()
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": match &meta.version {
            Some(v) => format!("{name} {v} SOUP register"),
            None => format!("{name} SOUP register"),
        },
        "documentNamespace": "",
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: reprove-{}", env!("CARGO_PKG_VERSION"))],
            "comment": "created is the committer time of the release's commit, not the time this document was written, so the same release always gives the same document",
        },
        "packages": packages,
        "relationships": relationships,
    });
    // §6.5: a unique URI per document. Derived from everything else in it, so a different
    // register never shares one and the same register always has the same one.
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let digest = hex::encode(sha2::Sha256::digest(&body));
    doc["documentNamespace"] = json!(format!(
        "https://spdx.org/spdxdocs/{}-{digest}",
        spdx_slug(&name)
    ));
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Checksum;

    fn items() -> Vec<SoupItem> {
        let mut a = SoupItem::new("a|b", "1.0", Ecosystem::Npm, "pkg:npm/a@1.0".into())
            .with_derived_supplier(Some("npmjs.com".into()));
        a.checksum = Some(Checksum::new("sha512", &"ab".repeat(64)));
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
            CycloneDxVersion::V1_5,
        );
        assert_eq!(bom["specVersion"], "1.5");
        assert_eq!(bom["components"][0]["hashes"][0]["alg"], "SHA-512");
        assert!(bom["components"][1].get("hashes").is_none());
        assert_eq!(bom["dependencies"][0]["dependsOn"][0], "pkg:npm/a@1.0");
    }

    fn meta() -> BomMetadata {
        BomMetadata {
            name: Some("app (x)".into()),
            version: Some("v1.0".into()),
            supplier: Some("Acme (EU)\nGmbH".into()),
            commit: Some("abc".into()),
            created: Some("2024-01-31T12:00:00Z".into()),
        }
    }

    #[test]
    fn cyclonedx_default_is_1_6() {
        let bom = to_cyclonedx(&meta(), &items(), CycloneDxVersion::default());
        assert_eq!(bom["specVersion"], "1.6");
    }

    #[test]
    fn spdx_shape() {
        let mut its = items();
        its[0].license = Some("MIT OR Apache-2.0".into());
        its[1].license = Some("MIT/Apache-2.0".into());
        let doc = to_spdx(&meta(), &its);
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["creationInfo"]["created"], "2024-01-31T12:00:00Z");
        let p = doc["packages"].as_array().unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0]["supplier"], "Organization: Acme EU GmbH");
        assert_eq!(p[1]["SPDXID"], "SPDXRef-Package-1-a-b");
        assert_eq!(p[1]["licenseDeclared"], "MIT OR Apache-2.0");
        assert_eq!(p[1]["checksums"][0]["algorithm"], "SHA512");
        assert_eq!(p[2]["licenseDeclared"], "NOASSERTION");
        assert!(
            p[2]["licenseComments"]
                .as_str()
                .unwrap()
                .contains("MIT/Apache-2.0")
        );
        // A Go `h1:` hash has no SPDX algorithm: kept in the comment, not dropped.
        assert!(p[2].get("checksums").is_none());
        assert!(p[2]["comment"].as_str().unwrap().contains("h1:Zz="));
        let rel = doc["relationships"].as_array().unwrap();
        assert_eq!(rel[0]["relationshipType"], "DESCRIBES");
        assert_eq!(rel[1]["relationshipType"], "DEPENDS_ON");
        // Same register, same namespace; another register, another.
        assert_eq!(
            to_spdx(&meta(), &its)["documentNamespace"],
            doc["documentNamespace"]
        );
        its[0].version = "1.1".into();
        assert_ne!(
            to_spdx(&meta(), &its)["documentNamespace"],
            doc["documentNamespace"]
        );
    }

    #[test]
    fn sbom_values_from_lockfiles_cannot_forge_or_break_fields() {
        let mut its = items();
        // Same name and version from another source, other bytes: kept, not merged away.
        let mut evil = its[0].clone();
        evil.source = Some("https://evil.example/a.tgz".into());
        evil.checksum = Some(Checksum::new("sha512", &"ab".repeat(64)));
        its.push(evil);
        its[0].supplier = Some("Person: Mallory (m@x)".into());
        its[1].supplier = Some("NOASSERTION".into());
        its[1].version = "1.0\nPackageSupplier: Organization: Acme".into();
        its[1].purpose = Some("x; safety class: A".into());
        its[0].license = Some("LicenseRef-foo".into());
        its[0].checksum = Some(Checksum::new("sha512", "ab"));
        its[0].source = Some("git+x".into());
        let doc = to_spdx(&meta(), &its);
        let p = doc["packages"].as_array().unwrap();
        assert_eq!(p.len(), 4, "{doc:#}");
        assert_eq!(p[1]["supplier"], "Organization: Mallory m@x");
        assert_eq!(p[2]["supplier"], "NOASSERTION");
        assert!(!p[2]["versionInfo"].as_str().unwrap().contains('\n'));
        assert!(
            p[2]["comment"]
                .as_str()
                .unwrap()
                .contains("purpose: x, safety class: A")
        );
        assert_eq!(p[1]["licenseDeclared"], "NOASSERTION");
        assert!(
            p[1].get("checksums").is_none(),
            "a short sha512 is no checksum"
        );
        assert_eq!(p[1]["downloadLocation"], "NOASSERTION");
        assert_eq!(p[3]["downloadLocation"], "https://evil.example/a.tgz");
        let bom = to_cyclonedx(&meta(), &its, CycloneDxVersion::V1_6);
        let refs: Vec<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        assert_eq!(refs, ["pkg:npm/a@1.0", "pkg:golang/x@2", "pkg:npm/a@1.0#2"]);
    }

    #[test]
    fn spdx_ids_are_valid_and_unique() {
        for (n, name) in ["@scope/pkg", "a b\u{202e}", "", "x".repeat(200).as_str()]
            .iter()
            .enumerate()
        {
            let id = spdx_id(n, name);
            assert!(id.starts_with("SPDXRef-"));
            assert!(
                id[8..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                "{id}"
            );
        }
    }
}
