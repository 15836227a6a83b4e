//! Rewriting unpinned image references to `name:tag@digest` in a file's text: the edit only,
//! no I/O and no registry (the caller resolves the tags and writes the files).
//!
//! A reference is rewritten only where it is written literally and stands alone: a reference
//! built from a variable (`python:3.12${SLIM:+-slim}`) is reported, never extended.

use std::collections::BTreeMap;

use reprove_digest::Digest;

use crate::{ImageMention, ImageRef};

/// What the registry said a tag resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Digest(Digest),
    /// The tag does not exist in its registry.
    Missing,
    /// The registry could not be asked (the error, as text).
    Unreachable(String),
}

/// Why a reference in a file was left as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinNote {
    /// The reference does not parse.
    Unparsable {
        at: String,
        raw: String,
        error: String,
    },
    /// The tag does not exist in its registry.
    Missing {
        at: String,
        raw: String,
        registry: String,
    },
    /// The registry could not be asked.
    Unreachable { at: String, error: String },
    /// Not written literally at its place (built from a variable or `ARG`).
    NotLiteral { at: String, raw: String },
}

impl PinNote {
    /// 0 informational, 1 the file is not fully pinned, 2 a registry could not be asked.
    pub fn severity(&self) -> u8 {
        match self {
            PinNote::Unparsable { .. } => 0,
            PinNote::Missing { .. } | PinNote::NotLiteral { .. } => 1,
            PinNote::Unreachable { .. } => 2,
        }
    }
}

impl std::fmt::Display for PinNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinNote::Unparsable { at, raw, error } => write!(f, "{at}: skipped `{raw}`: {error}"),
            PinNote::Missing { at, raw, registry } => {
                write!(
                    f,
                    "{at}: `{raw}` does not exist in `{registry}`; not pinned"
                )
            }
            PinNote::Unreachable { at, error } => write!(f, "{at}: {error}"),
            PinNote::NotLiteral { at, raw } => write!(
                f,
                "{at}: `{raw}` is not written literally here (built from a variable or ARG); pin it where it is defined"
            ),
        }
    }
}

/// One file's text with its unpinned references pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub text: String,
    /// How many references were rewritten.
    pub count: usize,
    pub notes: Vec<PinNote>,
}

/// Byte offset of a 1-based character column.
fn byte_offset(line: &str, column: usize) -> Option<usize> {
    if column == 0 {
        return None;
    }
    line.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(line.len()))
        .nth(column - 1)
}

/// Where a reference sits in a line, if it is exactly there and stands alone: followed by the
/// end of the line, whitespace, a quote or a comment — not by `@` (already pinned) or by more
/// reference text (a variable suffix such as `${SLIM:+-slim}`).
fn locate(line: &str, column: usize, raw: &str) -> Option<usize> {
    let at = byte_offset(line, column)?;
    let rest = line.get(at..)?;
    let after = rest.strip_prefix(raw)?;
    let ok = after.is_empty() || after.starts_with([' ', '\t', '\r', '"', '\'', '#']);
    ok.then_some(at)
}

/// Pins the unpinned references among `mentions` (found in `text` by [`crate::scan`]) with
/// the digests in `resolved`; a reference without a tag gets `:latest`, as the registry
/// resolved it. References absent from `resolved` are left alone without a note.
pub fn pin_text(
    text: &str,
    mentions: &[ImageMention],
    resolved: &BTreeMap<ImageRef, Resolution>,
) -> Pinned {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let mut ordered: Vec<&ImageMention> = mentions.iter().collect();
    // Right to left within a line, so earlier columns stay valid.
    ordered.sort_by_key(|m| std::cmp::Reverse((m.line, m.column)));
    let mut count = 0;
    let mut notes = Vec::new();
    for m in ordered {
        let at = format!("{}:{}:{}", m.file, m.line, m.column);
        let r = match &m.reference {
            Ok(r) if r.is_pinned() => continue,
            Ok(r) => r,
            Err(error) => {
                notes.push(PinNote::Unparsable {
                    at,
                    raw: m.raw.clone(),
                    error: error.clone(),
                });
                continue;
            }
        };
        let digest = match resolved.get(r) {
            Some(Resolution::Digest(d)) => d.clone(),
            Some(Resolution::Missing) => {
                notes.push(PinNote::Missing {
                    at,
                    raw: m.raw.clone(),
                    registry: r.registry().to_owned(),
                });
                continue;
            }
            Some(Resolution::Unreachable(error)) => {
                notes.push(PinNote::Unreachable {
                    at,
                    error: error.clone(),
                });
                continue;
            }
            None => continue,
        };
        let Some(line) = m.line.checked_sub(1).and_then(|i| lines.get_mut(i)) else {
            continue;
        };
        let Some(offset) = locate(line, m.column, &m.raw) else {
            notes.push(PinNote::NotLiteral {
                at,
                raw: m.raw.clone(),
            });
            continue;
        };
        let with_tag = if r.tag().is_some() {
            m.raw.clone()
        } else {
            format!("{}:latest", m.raw)
        };
        line.replace_range(
            offset..offset + m.raw.len(),
            &format!("{with_tag}@{digest}"),
        );
        count += 1;
    }
    Pinned {
        text: lines.join("\n"),
        count,
        notes,
    }
}

/// A minimal unified diff: one hunk per changed line.
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    let mut out = format!("--- a/{name}\n+++ b/{name}\n");
    for (i, (a, b)) in old.split('\n').zip(new.split('\n')).enumerate() {
        if a != b {
            out.push_str(&format!("@@ -{n},1 +{n},1 @@\n-{a}\n+{b}\n", n = i + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileKind, scan};

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn columns_to_bytes() {
        assert_eq!(byte_offset("FROM x", 6), Some(5));
        assert_eq!(byte_offset("é: x", 4), Some(4));
        assert_eq!(byte_offset("ab", 3), Some(2));
        assert_eq!(byte_offset("ab", 9), None);
        assert_eq!(byte_offset("ab", 0), None);
    }

    #[test]
    fn references_are_located_only_when_they_stand_alone() {
        assert_eq!(locate("FROM alpine:3.19 AS b", 6, "alpine:3.19"), Some(5));
        assert_eq!(locate("  image: \"x:1\" # c", 11, "x:1"), Some(10));
        assert_eq!(locate("image: x:1\r", 8, "x:1"), Some(7));
        assert_eq!(
            locate("FROM python:3.12${SLIM:+-slim}", 6, "python:3.12"),
            None
        );
        assert_eq!(
            locate("FROM a:1@sha256:abc", 6, "a:1"),
            None,
            "already pinned"
        );
        assert_eq!(locate("FROM b:1", 6, "a:1"), None);
    }

    #[test]
    fn diff_shows_changed_lines_only() {
        let d = unified_diff("f", "a\nb\nc", "a\nB\nc");
        assert_eq!(d, "--- a/f\n+++ b/f\n@@ -2,1 +2,1 @@\n-b\n+B\n");
    }

    #[test]
    fn pins_what_resolved_and_says_why_the_rest_was_left() {
        let text = format!(
            "FROM alpine:3.19 AS a\nFROM busybox\nFROM gone:1\nFROM down:1\nFROM python:3.12${{SLIM:+-slim}}\nFROM ok:1@{D}\n"
        );
        let text = text.as_str();
        let mentions = scan("Dockerfile", FileKind::Dockerfile, text.as_bytes());
        let digest: Digest = D.parse().unwrap();
        let r = |s: &str| s.parse::<ImageRef>().unwrap();
        let resolved = BTreeMap::from([
            (r("alpine:3.19"), Resolution::Digest(digest.clone())),
            (r("busybox"), Resolution::Digest(digest.clone())),
            (r("gone:1"), Resolution::Missing),
            (r("down:1"), Resolution::Unreachable("registry down".into())),
            (r("python:3.12"), Resolution::Digest(digest.clone())),
        ]);
        let p = pin_text(text, &mentions, &resolved);
        assert_eq!(p.count, 2);
        let lines: Vec<&str> = p.text.split('\n').collect();
        assert_eq!(lines[0], format!("FROM alpine:3.19@{D} AS a"));
        assert_eq!(lines[1], format!("FROM busybox:latest@{D}"));
        assert_eq!(&lines[2..], &text.split('\n').collect::<Vec<_>>()[2..]);
        let severities: Vec<u8> = p.notes.iter().map(PinNote::severity).collect();
        assert_eq!(p.notes.len(), 3, "{:?}", p.notes);
        assert!(severities.contains(&2) && severities.contains(&1));
        assert!(
            p.notes
                .iter()
                .any(|n| n.to_string().contains("not written literally"))
        );
    }
}
