//! Finding image references in files, with positions.
//!
//! Dockerfiles are read instruction by instruction (line continuations, comments, parser
//! directives and heredocs handled); `ARG` defaults declared before the first `FROM` are
//! substituted; stage aliases and `scratch` are not images. YAML is read line by line, which
//! keeps exact line and column numbers: an `image:`/`container:` scalar, `uses: docker://…`,
//! GitLab's `image: {name: …}` and scalar `services:` list items are references.

use std::collections::HashMap;

use crate::ImageRef;

/// What kind of file a path is, for scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Dockerfile,
    Yaml,
    ReproveToml,
}

/// Classifies a file by name: `Dockerfile`, `Containerfile`, `*.Dockerfile`, `Dockerfile.*`,
/// `*.containerfile`; `*.yml`/`*.yaml`; `reprove.toml`.
pub fn file_kind(path: &str) -> Option<FileKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    if name == "reprove.toml" {
        Some(FileKind::ReproveToml)
    } else if lower == "dockerfile"
        || lower == "containerfile"
        || lower.ends_with(".dockerfile")
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".containerfile")
        || lower.starts_with("containerfile.")
    {
        Some(FileKind::Dockerfile)
    } else if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        Some(FileKind::Yaml)
    } else {
        None
    }
}

/// Where in a file a reference was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MentionContext {
    DockerfileFrom,
    YamlImage,
    YamlContainer,
    YamlServices,
    ActionsUses,
    ReproveBuildImage,
}

/// One image reference as written in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMention {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The text as written (after `ARG` substitution for Dockerfiles).
    pub raw: String,
    pub context: MentionContext,
    /// `--platform=` on a Dockerfile `FROM`.
    pub platform: Option<String>,
    /// The parsed reference, or why it could not be parsed (e.g. an unresolved variable).
    pub reference: Result<ImageRef, String>,
}

/// Finds the image references in one file's content.
pub fn scan(file: &str, kind: FileKind, content: &[u8]) -> Vec<ImageMention> {
    // BuildKit and YAML parsers ignore a UTF-8 byte-order mark; so must we, or the first line's
    // reference would go unseen.
    let content = content
        .strip_prefix("\u{feff}".as_bytes())
        .unwrap_or(content);
    let text = String::from_utf8_lossy(content);
    match kind {
        FileKind::Dockerfile => scan_dockerfile(file, &text),
        FileKind::Yaml => scan_yaml(file, &text),
        FileKind::ReproveToml => scan_reprove_toml(file, &text),
    }
}

fn parse_ref(raw: &str) -> Result<ImageRef, String> {
    if raw.contains('$') || raw.contains("{{") {
        return Err(format!("`{raw}` contains an unresolved variable"));
    }
    raw.parse::<ImageRef>().map_err(|e| e.to_string())
}

fn column_of(line: &str, byte_offset: usize) -> usize {
    // Offsets come from `find`, so they sit on char boundaries; `get` keeps a mistake from
    // ever becoming a panic.
    line.get(..byte_offset)
        .map_or(1, |prefix| prefix.chars().count() + 1)
}

/// One Dockerfile instruction: its logical text with the physical line it starts on, and the
/// byte offset in that first line where the text begins.
struct Instruction {
    /// The physical lines (1-based number, text) the instruction spans.
    lines: Vec<(usize, String)>,
    text: String,
}

fn dockerfile_instructions(text: &str) -> Vec<Instruction> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut in_directives = true;
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            // Parser directives (`# escape=`) are only honoured before any instruction.
            if in_directives {
                let d = trimmed.trim_start_matches('#').trim();
                if let Some(v) = d
                    .strip_prefix("escape=")
                    .and_then(|v| v.trim().chars().next())
                {
                    escape = v;
                }
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        in_directives = false;
        let mut text = String::new();
        let mut cur = line.to_owned();
        let mut physical = vec![(i + 1, line.to_owned())];
        loop {
            let t = cur.trim_end();
            if let Some(stripped) = t.strip_suffix(escape) {
                text.push_str(stripped);
                text.push(' ');
                // Skip comment lines inside a continuation, as BuildKit does.
                let mut next = None;
                for (j, l) in lines.by_ref() {
                    if l.trim_start().starts_with('#') {
                        continue;
                    }
                    physical.push((j + 1, l.to_owned()));
                    next = Some(l.to_owned());
                    break;
                }
                match next {
                    Some(n) => cur = n,
                    None => break,
                }
            } else {
                text.push_str(&cur);
                break;
            }
        }
        // Heredocs (`RUN <<EOF`): skip their bodies so they are not read as instructions.
        let heredocs: Vec<String> = text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("<<"))
            .map(|w| {
                w.trim_start_matches('-')
                    .trim_matches(['"', '\''])
                    .to_owned()
            })
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_alphanumeric() || c == '_'))
            .collect();
        for end in heredocs {
            for (_, l) in lines.by_ref() {
                if l.trim() == end {
                    break;
                }
            }
        }
        out.push(Instruction {
            lines: physical,
            text,
        });
    }
    out
}

/// Substitutes `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` from `args`;
/// unknown names are left as written so the reference reports them.
fn substitute(s: &str, args: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            {
                let expr = &body[..end];
                let (name, op) = match expr.find(':') {
                    Some(p) => (&expr[..p], Some(&expr[p..])),
                    None => (expr, None),
                };
                let val = args.get(name).filter(|v| !v.is_empty());
                let replaced = match (op, val) {
                    (None, Some(v)) => Some(v.clone()),
                    (Some(o), Some(v)) if o.starts_with(":-") => Some(v.clone()),
                    (Some(o), None) if o.starts_with(":-") => Some(o[2..].to_owned()),
                    (Some(o), Some(_)) if o.starts_with(":+") => Some(o[2..].to_owned()),
                    (Some(o), None) if o.starts_with(":+") => Some(String::new()),
                    _ => None,
                };
                match replaced {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[i..i + 2 + end + 1]),
                }
                rest = &body[end + 1..];
                continue;
            }
        }
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..len];
        match args.get(name) {
            // An ARG without a default is set at build time: leave it for the reference check.
            Some(v) if !name.is_empty() && !v.is_empty() => out.push_str(v),
            _ => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn scan_dockerfile(file: &str, text: &str) -> Vec<ImageMention> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut seen_from = false;
    let mut out = Vec::new();
    for ins in dockerfile_instructions(text) {
        let mut words = ins.text.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "ARG" && !seen_from {
            for w in words {
                match w.split_once('=') {
                    Some((k, v)) => args.insert(k.to_owned(), v.trim_matches('"').to_owned()),
                    None => args.insert(w.to_owned(), String::new()),
                };
            }
            continue;
        }
        if keyword != "FROM" {
            continue;
        }
        seen_from = true;
        let mut platform = None;
        let mut image = None;
        let mut alias_next = false;
        for w in words {
            if let Some(p) = w.strip_prefix("--platform=") {
                platform = Some(substitute(p, &args));
            } else if w.starts_with("--") {
                continue;
            } else if image.is_none() {
                image = Some(w);
            } else if w.eq_ignore_ascii_case("as") {
                alias_next = true;
            } else if alias_next {
                stages.push(w.to_ascii_lowercase());
                alias_next = false;
            }
        }
        let Some(written) = image else {
            continue;
        };
        let raw = substitute(written, &args);
        if raw == "scratch" || stages.contains(&raw.to_ascii_lowercase()) {
            // A later stage built from an earlier one is not an image dependency.
            continue;
        }
        // Report the physical line holding the image, skipping the `FROM` keyword itself.
        let (line, column) = ins
            .lines
            .iter()
            .enumerate()
            .find_map(|(k, (n, l))| {
                let from = if k == 0 { 4 } else { 0 };
                l.get(from..)?
                    .find(written)
                    .map(|b| (*n, column_of(l, from + b)))
            })
            .unwrap_or((ins.lines[0].0, 1));
        out.push(ImageMention {
            file: file.to_owned(),
            line,
            column,
            reference: parse_ref(&raw),
            raw,
            context: MentionContext::DockerfileFrom,
            platform,
        });
    }
    out
}

/// Strips a trailing YAML comment and surrounding quotes from a plain or quoted scalar.
fn yaml_scalar(value: &str) -> Option<(&str, usize)> {
    let v = value.trim_start();
    let lead = value.len() - v.len();
    if v.is_empty() || v.starts_with(['|', '>', '&', '*', '{', '[', '#']) {
        return None;
    }
    if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &v[1..];
        let end = inner.find(q)?;
        return Some((&inner[..end], lead + 1));
    }
    let end = v.find(" #").unwrap_or(v.len());
    let s = v[..end].trim_end();
    (!s.is_empty()).then_some((s, lead))
}

fn scan_yaml(file: &str, text: &str) -> Vec<ImageMention> {
    let mut out = Vec::new();
    // Keys of the enclosing mappings, by indentation.
    let mut path: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        let mut body = trimmed;
        let mut list_item = false;
        if let Some(rest) = body
            .strip_prefix("- ")
            .or_else(|| (body == "-").then_some(""))
        {
            list_item = true;
            let inner = rest.trim_start();
            indent += body.len() - inner.len();
            body = inner;
        }
        while path.last().is_some_and(|(ind, _)| *ind >= indent) {
            path.pop();
        }
        let body_offset = line.len() - body.len();
        let key_value = body.find(':').and_then(|c| {
            let key = body[..c].trim().trim_matches(['"', '\'']);
            let after = &body[c + 1..];
            (after.is_empty() || after.starts_with([' ', '\t'])).then_some((
                key,
                after,
                body_offset + c + 1,
            ))
        });
        let parent = path.last().map(|(_, k)| k.as_str());
        let mut found = |value: &str, value_offset: usize, context| {
            if let Some((raw, lead)) = yaml_scalar(value) {
                let (raw, skip) = match raw.strip_prefix("docker://") {
                    Some(r) => (r, "docker://".len()),
                    None => (raw, 0),
                };
                let offset = value_offset + lead + skip;
                out.push(ImageMention {
                    file: file.to_owned(),
                    line: i + 1,
                    column: column_of(line, offset),
                    raw: raw.to_owned(),
                    context,
                    platform: None,
                    reference: parse_ref(raw),
                });
            }
        };
        match key_value {
            Some((key, value, voff)) => {
                match key {
                    "image" => found(value, voff, MentionContext::YamlImage),
                    "container" => found(value, voff, MentionContext::YamlContainer),
                    "uses"
                        if value
                            .trim_start()
                            .trim_start_matches(['"', '\''])
                            .starts_with("docker://") =>
                    {
                        found(value, voff, MentionContext::ActionsUses)
                    }
                    // GitLab: `image: {name: …}` and `services: [{name: …}]`.
                    "name" if parent == Some("image") => {
                        found(value, voff, MentionContext::YamlImage)
                    }
                    "name" if list_item && parent == Some("services") => {
                        found(value, voff, MentionContext::YamlServices)
                    }
                    _ => {}
                }
                if value.trim().is_empty() || value.trim_start().starts_with('#') {
                    path.push((indent, key.to_owned()));
                } else if list_item {
                    // Keys of a list item's mapping sit at the item's indentation; keep the
                    // parent so `- name:` siblings are still under `services`.
                }
            }
            None if list_item && parent == Some("services") => {
                found(body, body_offset, MentionContext::YamlServices)
            }
            None => {}
        }
    }
    out
}

fn scan_reprove_toml(file: &str, text: &str) -> Vec<ImageMention> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.trim_matches(['[', ']', ' ']).to_owned();
            continue;
        }
        if section != "build" {
            continue;
        }
        let Some((key, value)) = t.split_once('=') else {
            continue;
        };
        if key.trim() != "image" {
            continue;
        }
        let v = value.trim();
        let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let inner = &v[1..];
        let Some(end) = inner.find(q) else {
            continue;
        };
        let raw = &inner[..end];
        let offset = line.find(raw).unwrap_or(0);
        out.push(ImageMention {
            file: file.to_owned(),
            line: i + 1,
            column: column_of(line, offset),
            raw: raw.to_owned(),
            context: MentionContext::ReproveBuildImage,
            platform: None,
            reference: parse_ref(raw),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn refs(m: &[ImageMention]) -> Vec<(usize, usize, String)> {
        m.iter()
            .map(|m| (m.line, m.column, m.raw.clone()))
            .collect()
    }

    #[test]
    fn file_kinds() {
        assert_eq!(file_kind("a/Dockerfile"), Some(FileKind::Dockerfile));
        assert_eq!(file_kind("Containerfile"), Some(FileKind::Dockerfile));
        assert_eq!(file_kind("x/build.Dockerfile"), Some(FileKind::Dockerfile));
        assert_eq!(file_kind("Dockerfile.dev"), Some(FileKind::Dockerfile));
        assert_eq!(file_kind("app.containerfile"), Some(FileKind::Dockerfile));
        assert_eq!(file_kind(".github/workflows/ci.yml"), Some(FileKind::Yaml));
        assert_eq!(file_kind("reprove.toml"), Some(FileKind::ReproveToml));
        assert_eq!(file_kind("src/main.rs"), None);
    }

    #[test]
    fn dockerfile_stages_args_platform_continuations() {
        let text = format!(
            "# escape=\\\nARG BASE=debian\nARG TAG=12\nFROM --platform=$BUILDPLATFORM ${{BASE}}:${{TAG}} AS build\nRUN <<EOF\nFROM not-an-image\nEOF\nFROM \\\n  # comment inside\n  alpine:3.19@{D}\nFROM build AS final\nfrom scratch\nCOPY --from=build /x /x\n"
        );
        let m = scan("Dockerfile", FileKind::Dockerfile, text.as_bytes());
        assert_eq!(
            refs(&m),
            vec![
                (4, 32, "debian:12".to_owned()),
                (10, 3, format!("alpine:3.19@{D}")),
            ]
        );
        assert_eq!(m[0].platform.as_deref(), Some("$BUILDPLATFORM"));
        assert!(m[1].reference.as_ref().unwrap().is_pinned());
    }

    #[test]
    fn dockerfile_unresolved_variable_is_reported() {
        let m = scan("Dockerfile", FileKind::Dockerfile, b"FROM ${IMAGE}\n");
        assert_eq!(m.len(), 1);
        assert!(
            m[0].reference
                .as_ref()
                .unwrap_err()
                .contains("unresolved variable")
        );
    }

    #[test]
    fn yaml_forms() {
        let text = format!(
            "services:\n  db:\n    image: \"postgres:16\"  # pinned later\n  web:\n    image: nginx@{D}\njobs:\n  build:\n    container: node:20\n    steps:\n      - uses: docker://alpine:3.19\n      - uses: actions/checkout@v4\ntest:\n  image:\n    name: ruby:3.3\n  services:\n    - redis:7\n    - name: mysql:8\n      alias: db\nhelm:\n  image:\n    repository: x\n"
        );
        let m = scan("ci.yml", FileKind::Yaml, text.as_bytes());
        assert_eq!(
            refs(&m),
            vec![
                (3, 13, "postgres:16".to_owned()),
                (5, 12, format!("nginx@{D}")),
                (8, 16, "node:20".to_owned()),
                (10, 24, "alpine:3.19".to_owned()),
                (14, 11, "ruby:3.3".to_owned()),
                (16, 7, "redis:7".to_owned()),
                (17, 13, "mysql:8".to_owned()),
            ]
        );
    }

    #[test]
    fn reprove_toml_build_image() {
        let text = format!(
            "[project]\nname = \"x\"\nimage = \"nope\"\n\n[build]\nimage = \"127.0.0.1:5000/gcc@{D}\"\n"
        );
        let m = scan("reprove.toml", FileKind::ReproveToml, text.as_bytes());
        assert_eq!(refs(&m), vec![(6, 10, format!("127.0.0.1:5000/gcc@{D}"))]);
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let m = scan(
            "Dockerfile",
            FileKind::Dockerfile,
            "\u{feff}FROM alpine:3.19\n".as_bytes(),
        );
        assert_eq!(refs(&m), vec![(1, 6, "alpine:3.19".to_owned())]);
        let m = scan(
            "ci.yml",
            FileKind::Yaml,
            "\u{feff}image: ruby:3\n".as_bytes(),
        );
        assert_eq!(refs(&m), vec![(1, 8, "ruby:3".to_owned())]);
    }

    #[test]
    fn docker_scheme_column_points_at_the_reference() {
        let m = scan("k.yml", FileKind::Yaml, b"image: docker://alpine:3\n");
        assert_eq!(refs(&m), vec![(1, 17, "alpine:3".to_owned())]);
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            "FROM",
            "FROM \\",
            ":\n- :\n  - - image:",
            "image: '",
            "[build]\nimage = \"",
            "\u{feff}FROM ${",
        ] {
            for kind in [FileKind::Dockerfile, FileKind::Yaml, FileKind::ReproveToml] {
                let _ = scan("f", kind, input.as_bytes());
            }
        }
    }
}
