//! Python: pip `requirements*.txt` (pinned `==` with `--hash`, as `pip-compile
//! --generate-hashes` writes), `poetry.lock`, and `uv.lock`.

use std::collections::BTreeSet;

use toml::Value;

use crate::item::{Checksum, Ecosystem, Scope, SoupFinding, SoupFindingCode, SoupItem};
use crate::{Parsed, toml_error_line, toml_message};

const PYPI: &str = "https://pypi.org/simple";

/// PEP 503 normalized name, as the purl spec asks for pypi.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn pypi_item(name: &str, version: &str) -> SoupItem {
    SoupItem::new(
        name,
        version,
        Ecosystem::Pypi,
        format!("pkg:pypi/{}@{version}", normalize(name)),
    )
}

fn source_supplier(url: &str) -> Option<String> {
    if url.starts_with("https://pypi.org") || url.starts_with("https://files.pythonhosted.org") {
        Some("pypi.org".to_owned())
    } else {
        url.split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(str::to_owned)
    }
}

pub(crate) fn parse_requirements(path: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    // Join continuation lines, remembering where each logical line starts.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        match raw.trim_end().strip_suffix('\\') {
            Some(part) => {
                acc.push_str(part);
                acc.push(' ');
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(raw);
                logical.push((start, acc));
            }
        }
    }
    if let Some(p) = pending {
        logical.push(p);
    }
    let mut last_item: Option<usize> = None;
    for (line_no, line) in logical {
        let trimmed = line.trim();
        // pip-compile annotates each requirement with `# via …` comments.
        if let Some(comment) = trimmed.strip_prefix('#') {
            let c = comment.trim();
            if let Some(idx) = last_item {
                if c.starts_with("via -r") || c.starts_with("-r ") || c.starts_with("via -c") {
                    parsed.items[idx].scope = Scope::Direct;
                } else if c.starts_with("via") && parsed.items[idx].scope == Scope::Unknown {
                    parsed.items[idx].scope = Scope::Transitive;
                }
            }
            continue;
        }
        let content = match trimmed.find(" #") {
            Some(i) => trimmed[..i].trim(),
            None => trimmed,
        };
        if content.is_empty() || content.starts_with('-') {
            // Options (`--index-url`, `-r other.txt`, `-e .`) are not components.
            continue;
        }
        let (spec, options) = match content.find(" --") {
            Some(i) => (content[..i].trim(), &content[i..]),
            None => (content, ""),
        };
        // An environment marker (`; python_version < "3.11"`): installed only where it holds.
        let marked = spec.contains(';');
        let spec = spec.split(';').next().unwrap_or(spec).trim();
        let name_end = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(spec.len());
        let name = &spec[..name_end];
        if name.is_empty() {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                Some(line_no),
                &format!("cannot read requirement `{spec}`"),
            ));
            last_item = None;
            continue;
        }
        let mut rest = spec[name_end..].trim_start();
        if rest.starts_with('[') {
            rest = rest.find(']').map_or("", |i| rest[i + 1..].trim_start());
        }
        let (version, pinned, url) = if let Some(v) = rest.strip_prefix("===") {
            (v.trim().to_owned(), true, None)
        } else if let Some(v) = rest.strip_prefix("==") {
            let v = v.trim();
            (v.to_owned(), !v.contains('*') && !v.contains(','), None)
        } else if let Some(u) = rest.strip_prefix('@') {
            (String::new(), false, Some(u.trim().to_owned()))
        } else {
            (rest.to_owned(), false, None)
        };
        let mut item = pypi_item(name, if version.is_empty() { "*" } else { &version });
        item.optional = marked;
        item = item.with_derived_supplier(match &url {
            Some(u) => source_supplier(u),
            None => Some("pypi.org".to_owned()),
        });
        item.source = Some(url.clone().unwrap_or_else(|| PYPI.to_owned()));
        item.set_checksums(
            options
                .split_whitespace()
                .filter_map(|o| o.strip_prefix("--hash="))
                .filter_map(Checksum::from_prefixed_hex)
                .collect(),
        );
        if !pinned {
            parsed.findings.push(SoupFinding::for_item(
                SoupFindingCode::UnpinnedVersion,
                path,
                Some(line_no),
                &item,
                match url {
                    Some(u) => format!("`{name}` comes from `{u}` without an `==` version"),
                    None if version.is_empty() => format!("`{name}` has no version"),
                    None => format!("`{name}` is required as `{version}`, not pinned with `==`"),
                },
            ));
        }
        if item.checksum.is_none() {
            parsed
                .findings
                .push(SoupFinding::missing_checksum(path, Some(line_no), &item));
        }
        parsed.items.push(item);
        last_item = Some(parsed.items.len() - 1);
    }
    parsed
}

fn parse_toml(path: &str, text: &str, parsed: &mut Parsed) -> Option<toml::Table> {
    match text.parse::<toml::Table>() {
        Ok(t) => Some(t),
        Err(e) => {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                toml_error_line(text, &e),
                &toml_message(&e),
            ));
            None
        }
    }
}

fn package_line(text: &str, name: &str) -> Option<usize> {
    let needle = format!("name = \"{name}\"");
    text.find(&needle)
        .map(|o| text[..o].matches('\n').count() + 1)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Every `hash` of a list of files (poetry's `files`, uv's `wheels`), in order.
fn file_hashes(files: Option<&Value>) -> Vec<Checksum> {
    files
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| str_of(f, "hash"))
        .filter_map(Checksum::from_prefixed_hex)
        .collect()
}

pub(crate) fn parse_poetry(path: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let Some(doc) = parse_toml(path, text, &mut parsed) else {
        return parsed;
    };
    // Poetry < 1.5 kept file hashes in `[metadata.files]`.
    let legacy_files = doc.get("metadata").and_then(|m| m.get("files"));
    for pkg in doc
        .get("package")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(version)) = (str_of(pkg, "name"), str_of(pkg, "version")) else {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                None,
                "a [[package]] lacks name or version",
            ));
            continue;
        };
        let mut item = pypi_item(name, version);
        let src = pkg.get("source");
        let url = src.and_then(|s| str_of(s, "url")).map(str::to_owned);
        match (src.and_then(|s| str_of(s, "type")), &url) {
            (Some("directory" | "file"), _) => continue, // the project's own code
            (Some(kind), Some(u)) => {
                let reference = src
                    .and_then(|s| str_of(s, "resolved_reference"))
                    .unwrap_or_default();
                item.source = Some(if kind == "git" {
                    format!("{u}#{reference}")
                } else {
                    u.clone()
                });
                item = item.with_derived_supplier(source_supplier(u));
                if kind == "git" && !reference.is_empty() {
                    item.checksum = Some(Checksum::new("git", reference));
                }
            }
            _ => {
                item.source = Some(PYPI.to_owned());
                item = item.with_derived_supplier(Some("pypi.org".to_owned()));
            }
        }
        if item.checksum.is_none() {
            let mut all = file_hashes(pkg.get("files"));
            if all.is_empty() {
                all = file_hashes(legacy_files.and_then(|f| f.get(name)));
            }
            item.set_checksums(all);
        }
        let groups: Vec<&str> = pkg
            .get("groups")
            .and_then(Value::as_array)
            .map(|g| g.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let category = str_of(pkg, "category");
        item.scope = if category == Some("dev") || (!groups.is_empty() && !groups.contains(&"main"))
        {
            Scope::Dev
        } else {
            Scope::Unknown
        };
        if item.checksum.is_none() {
            parsed.findings.push(SoupFinding::missing_checksum(
                path,
                package_line(text, name),
                &item,
            ));
        }
        parsed.items.push(item);
    }
    parsed
}

pub(crate) fn parse_uv(path: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let Some(doc) = parse_toml(path, text, &mut parsed) else {
        return parsed;
    };
    let packages: Vec<&Value> = doc
        .get("package")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let is_own = |p: &Value| {
        p.get("source")
            .is_some_and(|s| s.get("editable").is_some() || s.get("virtual").is_some())
    };
    let dep_names = |v: Option<&Value>| -> BTreeSet<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| str_of(d, "name"))
            .map(normalize)
            .collect()
    };
    let mut direct = BTreeSet::new();
    let mut dev = BTreeSet::new();
    for p in packages.iter().filter(|p| is_own(p)) {
        direct.extend(dep_names(p.get("dependencies")));
        for table in ["dev-dependencies", "optional-dependencies"] {
            if let Some(groups) = p.get(table).and_then(Value::as_table) {
                for deps in groups.values() {
                    let target = if table == "dev-dependencies" {
                        &mut dev
                    } else {
                        &mut direct
                    };
                    target.extend(dep_names(Some(deps)));
                }
            }
        }
    }
    for p in packages.iter().filter(|p| !is_own(p)) {
        let (Some(name), Some(version)) = (str_of(p, "name"), str_of(p, "version")) else {
            parsed.findings.push(SoupFinding::unparsable(
                path,
                None,
                "a [[package]] lacks name or version",
            ));
            continue;
        };
        let mut item = pypi_item(name, version);
        let src = p.get("source");
        if let Some(reg) = src.and_then(|s| str_of(s, "registry")) {
            item.source = Some(reg.to_owned());
            item = item.with_derived_supplier(source_supplier(reg));
        } else if let Some(git) = src.and_then(|s| str_of(s, "git")) {
            item.source = Some(git.to_owned());
            item = item.with_derived_supplier(source_supplier(git));
            if let Some((_, rev)) = git.rsplit_once('#') {
                item.checksum = Some(Checksum::new("git", rev));
            }
        } else if let Some(u) = src.and_then(|s| str_of(s, "url").or_else(|| str_of(s, "path"))) {
            item.source = Some(u.to_owned());
            item = item.with_derived_supplier(source_supplier(u));
        }
        if item.checksum.is_none() {
            let mut all: Vec<Checksum> = p
                .get("sdist")
                .and_then(|s| str_of(s, "hash"))
                .and_then(Checksum::from_prefixed_hex)
                .into_iter()
                .collect();
            all.extend(file_hashes(p.get("wheels")));
            item.set_checksums(all);
        }
        let n = normalize(name);
        item.scope = if direct.contains(&n) {
            Scope::Direct
        } else if dev.contains(&n) {
            Scope::Dev
        } else {
            Scope::Transitive
        };
        if item.checksum.is_none() {
            parsed.findings.push(SoupFinding::missing_checksum(
                path,
                package_line(text, name),
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

    const H: &str = "sha256:2c0d7e8ae3a3ec6b9a5d5c6c5fa2e1b9f6e46bd8f8b1d0d8d5f6a8e0c1b2a3d4";

    #[test]
    fn every_hash_a_requirement_accepts_is_kept() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let text = format!("six==1.16.0 \\\n    --hash=sha256:{a} \\\n    --hash=sha256:{b}\n");
        let p = parse_requirements("requirements.txt", &text);
        let item = &p.items[0];
        assert_eq!(item.checksum.as_ref().unwrap().value, a);
        let all: Vec<&str> = item.sha256s().collect();
        assert_eq!(all, [a.as_str(), b.as_str()]);
    }

    #[test]
    fn requirements_pinned_hashed_and_via() {
        let text = format!(
            "# comment\n--index-url https://pypi.org/simple\nrequests==2.31.0 \\\n    --hash={H}\n    # via -r requirements.in\nurllib3==2.0.7 \\\n    --hash={H}\n    # via requests\nflask>=2.0\nDjango[argon2]==4.2 ; python_version >= \"3.8\"\n-e .\n"
        );
        let p = parse_requirements("requirements.txt", &text);
        let got: Vec<_> = p
            .items
            .iter()
            .map(|i| (i.name.as_str(), i.version.as_str(), i.scope))
            .collect();
        assert_eq!(
            got,
            [
                ("requests", "2.31.0", Scope::Direct),
                ("urllib3", "2.0.7", Scope::Transitive),
                ("flask", ">=2.0", Scope::Unknown),
                ("Django", "4.2", Scope::Unknown),
            ]
        );
        assert_eq!(p.items[3].purl, "pkg:pypi/django@4.2");
        let codes: Vec<_> = p
            .findings
            .iter()
            .map(|f| (f.code.as_str(), f.line))
            .collect();
        assert_eq!(
            codes,
            [
                ("unpinned-version", Some(9)),
                ("missing-checksum", Some(9)),
                ("missing-checksum", Some(10)),
            ]
        );
    }

    #[test]
    fn poetry_lock() {
        let text = format!(
            "[[package]]\nname = \"requests\"\nversion = \"2.31.0\"\ngroups = [\"main\"]\nfiles = [{{file = \"r.whl\", hash = \"{H}\"}}]\n\n[[package]]\nname = \"pytest\"\nversion = \"8.0.0\"\ngroups = [\"dev\"]\nfiles = []\n"
        );
        let p = parse_poetry("poetry.lock", &text);
        assert_eq!(p.items.len(), 2);
        assert!(p.items[0].checksum.is_some());
        assert_eq!(p.items[1].scope, Scope::Dev);
        assert_eq!(p.findings[0].code, SoupFindingCode::MissingChecksum);
        assert_eq!(p.findings[0].line, Some(8));
    }

    #[test]
    fn uv_lock() {
        let text = format!(
            "version = 1\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = {{ editable = \".\" }}\ndependencies = [{{ name = \"httpx\" }}]\n\n[package.dev-dependencies]\ndev = [{{ name = \"pytest\" }}]\n\n[[package]]\nname = \"httpx\"\nversion = \"0.27.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\nsdist = {{ url = \"https://x\", hash = \"{H}\" }}\n\n[[package]]\nname = \"pytest\"\nversion = \"8.0.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\nwheels = [{{ url = \"https://y\", hash = \"{H}\" }}]\n\n[[package]]\nname = \"anyio\"\nversion = \"4.0.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\n"
        );
        let p = parse_uv("uv.lock", &text);
        let got: Vec<_> = p.items.iter().map(|i| (i.name.as_str(), i.scope)).collect();
        assert_eq!(
            got,
            [
                ("httpx", Scope::Direct),
                ("pytest", Scope::Dev),
                ("anyio", Scope::Transitive)
            ]
        );
        assert_eq!(p.items[0].supplier.as_deref(), Some("pypi.org"));
        assert_eq!(p.findings.len(), 1);
    }

    #[test]
    fn bad_toml_names_line() {
        let p = parse_uv("uv.lock", "version = 1\n[[package]\n");
        assert_eq!(p.findings[0].line, Some(2));
    }
}
