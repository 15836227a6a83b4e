//! `package-lock.json` / `npm-shrinkwrap.json`, lockfile versions 2 and 3 (the `packages`
//! map, <https://docs.npmjs.com/cli/configuring-npm/package-lock-json>).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::Parsed;
use crate::item::{Checksum, Ecosystem, Scope, SoupFinding, SoupFindingCode, SoupItem};

const NPM_REGISTRY: &str = "https://registry.npmjs.org/";

fn key_line(text: &str, key: &str) -> Option<usize> {
    let needle = format!("\"{key}\": {{");
    text.find(&needle)
        .map(|o| text[..o].matches('\n').count() + 1)
}

fn is_exact_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or(v);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn parse(path: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                Some(e.line()),
                &e.to_string(),
            ));
            return parsed;
        }
    };
    let version = doc.get("lockfileVersion").and_then(Value::as_u64);
    let Some(packages) = doc.get("packages").and_then(Value::as_object) else {
        parsed.findings.push(SoupFinding {
            code: SoupFindingCode::UnsupportedLockfile,
            file: path.to_owned(),
            line: None,
            item: None,
            message: format!(
                "lockfileVersion {} has no `packages` map; regenerate it with npm 7 or later",
                version.map_or("unknown".to_owned(), |v| v.to_string())
            ),
        });
        return parsed;
    };
    let root = packages.get("").and_then(Value::as_object);
    let deps_of = |field: &str| -> BTreeSet<String> {
        root.and_then(|r| r.get(field))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let direct: BTreeSet<String> = deps_of("dependencies")
        .into_iter()
        .chain(deps_of("optionalDependencies"))
        .chain(deps_of("peerDependencies"))
        .collect();
    let direct_dev = deps_of("devDependencies");
    for (key, entry) in packages {
        let Some(pos) = key.rfind("node_modules/") else {
            // "" is the project itself; other keys are workspace folders (our own code).
            continue;
        };
        let Some(entry) = entry.as_object() else {
            continue;
        };
        if entry.get("link").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&key[pos + "node_modules/".len()..]);
        let Some(version) = entry.get("version").and_then(Value::as_str) else {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                key_line(text, key),
                &format!("`{key}` has no version"),
            ));
            continue;
        };
        let purl_name = name.replacen('@', "%40", 1);
        let mut item = SoupItem::new(
            name,
            version,
            Ecosystem::Npm,
            format!("pkg:npm/{purl_name}@{version}"),
        );
        let resolved = entry.get("resolved").and_then(Value::as_str);
        let supplier = match resolved {
            Some(r) if r.starts_with(NPM_REGISTRY) => Some("npmjs.com".to_owned()),
            Some(r) => r
                .split("://")
                .nth(1)
                .and_then(|x| x.split('/').next())
                .map(str::to_owned),
            None => None,
        };
        item = item.with_derived_supplier(supplier);
        item.source = resolved.map(str::to_owned);
        item.checksum = entry
            .get("integrity")
            .and_then(Value::as_str)
            .and_then(Checksum::from_sri);
        item.license = entry
            .get("license")
            .and_then(Value::as_str)
            .map(str::to_owned);
        item.optional = entry.get("optional").and_then(Value::as_bool) == Some(true);
        let top_level = pos == 0;
        let dev = entry.get("dev").and_then(Value::as_bool) == Some(true)
            || entry.get("devOptional").and_then(Value::as_bool) == Some(true);
        item.scope = if dev {
            Scope::Dev
        } else if top_level && (direct.contains(name) || direct_dev.contains(name)) {
            Scope::Direct
        } else {
            Scope::Transitive
        };
        let line = key_line(text, key);
        if !is_exact_version(version) {
            parsed.findings.push(SoupFinding::for_item(
                SoupFindingCode::UnpinnedVersion,
                path,
                line,
                &item,
                format!("`{name}` is locked to `{version}`, not an exact version"),
            ));
        }
        if item.checksum.is_none() {
            parsed
                .findings
                .push(SoupFinding::missing_checksum(path, line, &item));
        }
        parsed.items.push(item);
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  "name": "app",
  "lockfileVersion": 3,
  "packages": {
    "": { "name": "app", "dependencies": { "left-pad": "^1.3.0" }, "devDependencies": { "@types/node": "^20" } },
    "node_modules/left-pad": {
      "version": "1.3.0",
      "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
      "integrity": "sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQEw2qTsMBJOFxpDZrUmz5KbsE1AdDsAS8QxqvKg6yYA6xhw==",
      "license": "WTFPL"
    },
    "node_modules/@types/node": { "version": "20.1.0", "dev": true,
      "resolved": "https://registry.npmjs.org/@types/node/-/node-20.1.0.tgz",
      "integrity": "sha512-AAAA" },
    "node_modules/left-pad/node_modules/dep": { "version": "2.0.0" },
    "packages/own": { "version": "0.0.1" },
    "node_modules/own": { "link": true, "resolved": "packages/own" }
  }
}"#;

    #[test]
    fn parses_v3() {
        let p = parse("package-lock.json", LOCK);
        let got: Vec<_> = p.items.iter().map(|i| (i.name.as_str(), i.scope)).collect();
        assert_eq!(
            got,
            [
                ("left-pad", Scope::Direct),
                ("@types/node", Scope::Dev),
                ("dep", Scope::Transitive)
            ]
        );
        assert_eq!(p.items[0].license.as_deref(), Some("WTFPL"));
        assert_eq!(p.items[0].checksum.as_ref().unwrap().algorithm, "sha512");
        assert_eq!(p.items[1].purl, "pkg:npm/%40types/node@20.1.0");
        assert_eq!(p.findings.len(), 1);
        assert_eq!(p.findings[0].code, SoupFindingCode::MissingChecksum);
        assert_eq!(p.findings[0].line, Some(15));
    }

    #[test]
    fn v1_is_unsupported_and_garbage_is_unparsable() {
        let p = parse(
            "package-lock.json",
            r#"{"lockfileVersion": 1, "dependencies": {}}"#,
        );
        assert_eq!(p.findings[0].code, SoupFindingCode::UnsupportedLockfile);
        let p = parse("package-lock.json", "{\n  \"packages\": {,\n}");
        assert_eq!(p.findings[0].code, SoupFindingCode::UnparsableLockfile);
        assert_eq!(p.findings[0].line, Some(2));
    }
}
