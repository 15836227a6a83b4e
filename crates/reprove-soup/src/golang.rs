//! `go.sum`, with `go.mod` beside it to tell direct from `// indirect` requirements.
//!
//! Only `module version h1:…` lines (module content) are components; `…/go.mod h1:…` lines
//! authenticate module graphs that are not built.

use std::collections::BTreeMap;

use crate::Parsed;
use crate::item::{Checksum, Ecosystem, Scope, SoupFinding, SoupItem};

fn requirements(go_mod: &str) -> BTreeMap<String, bool> {
    // module path → indirect?
    let mut out = BTreeMap::new();
    let mut in_block = false;
    for line in go_mod.lines() {
        let t = line.trim();
        let entry = if in_block {
            if t.starts_with(')') {
                in_block = false;
                continue;
            }
            t
        } else if let Some(rest) = t.strip_prefix("require") {
            let rest = rest.trim();
            if rest.starts_with('(') {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let indirect = entry.contains("// indirect");
        if let Some(module) = entry
            .split_whitespace()
            .next()
            .filter(|m| !m.starts_with("//"))
        {
            out.insert(module.to_owned(), indirect);
        }
    }
    out
}

pub(crate) fn parse(path: &str, text: &str, go_mod: Option<&str>) -> Parsed {
    let reqs = go_mod.map(requirements).unwrap_or_default();
    let mut parsed = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        let [module, version, hash] = f[..] else {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                Some(i + 1),
                "expected `module version hash`",
            ));
            continue;
        };
        if version.ends_with("/go.mod") {
            continue;
        }
        let Some(h1) = hash.strip_prefix("h1:") else {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                Some(i + 1),
                "expected an `h1:` hash",
            ));
            continue;
        };
        let mut item = SoupItem::new(
            module,
            version,
            Ecosystem::Golang,
            format!("pkg:golang/{module}@{version}"),
        )
        .with_derived_supplier(Some(module_supplier(module)));
        item.source = Some(format!(
            "https://proxy.golang.org/{module}/@v/{version}.zip"
        ));
        item.checksum = Some(Checksum {
            algorithm: "h1".into(),
            value: h1.to_owned(),
        });
        item.scope = match reqs.get(module) {
            Some(false) => Scope::Direct,
            Some(true) => Scope::Transitive,
            None if go_mod.is_some() => Scope::Transitive,
            None => Scope::Unknown,
        };
        parsed.items.push(item);
    }
    parsed
}

/// `github.com/owner/repo/v2` → `github.com/owner`; vanity paths keep their host.
fn module_supplier(module: &str) -> String {
    let mut parts = module.split('/');
    let host = parts.next().unwrap_or(module);
    match (host, parts.next()) {
        ("github.com" | "gitlab.com" | "bitbucket.org", Some(owner)) => format!("{host}/{owner}"),
        _ => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_sum_with_go_mod() {
        let sum = "github.com/gorilla/mux v1.8.0 h1:i40aqfkR1h2SlN9hojwV5ZA91wcXFOvkdNIeFDP5koI=\ngithub.com/gorilla/mux v1.8.0/go.mod h1:DVbg23sWSpFRCP0SfiEN6jmj59UnW/n46BH5rLB71So=\ngolang.org/x/sys v0.1.0 h1:xyz=\n";
        let go_mod = "module x\n\nrequire (\n\tgithub.com/gorilla/mux v1.8.0\n\tgolang.org/x/sys v0.1.0 // indirect\n)\n";
        let p = parse("go.sum", sum, Some(go_mod));
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].scope, Scope::Direct);
        assert_eq!(p.items[0].supplier.as_deref(), Some("github.com/gorilla"));
        assert_eq!(p.items[1].scope, Scope::Transitive);
        assert_eq!(p.items[0].purl, "pkg:golang/github.com/gorilla/mux@v1.8.0");
    }

    #[test]
    fn bad_line() {
        let p = parse("go.sum", "oops\n", None);
        assert_eq!(p.findings[0].line, Some(1));
    }
}
