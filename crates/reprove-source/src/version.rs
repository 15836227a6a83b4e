//! Version ordering of release tags, to find "the previous release" of a tag.
//!
//! A tag is split into a prefix (everything before the first digit: `v`, `app-v`, `release/`)
//! and a version. Only tags with the same prefix are compared, so `lib-v2.0` is never the
//! previous release of `app-v1.3`. Versions compare component-wise, numerically where both are
//! numbers; a pre-release (`-rc.1`) sorts before its release, as in SemVer §11; build metadata
//! (`+…`) is ignored.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Num(u128),
    Text(String),
}

impl Ord for Part {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Part::Num(a), Part::Num(b)) => a.cmp(b),
            (Part::Num(_), Part::Text(_)) => Ordering::Less,
            (Part::Text(_), Part::Num(_)) => Ordering::Greater,
            (Part::Text(a), Part::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Part {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A tag's version, comparable with other tags of the same prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionKey {
    pub prefix: String,
    release: Vec<Part>,
    pre: Option<Vec<Part>>,
}

fn parts(s: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = None;
    for c in s.chars() {
        if matches!(c, '.' | '-' | '_') {
            flush(&mut out, &mut cur, cur_digit);
            cur_digit = None;
            continue;
        }
        let d = c.is_ascii_digit();
        if cur_digit.is_some_and(|cd| cd != d) {
            flush(&mut out, &mut cur, cur_digit);
        }
        cur_digit = Some(d);
        cur.push(c);
    }
    flush(&mut out, &mut cur, cur_digit);
    out
}

fn flush(out: &mut Vec<Part>, cur: &mut String, digit: Option<bool>) {
    if cur.is_empty() {
        return;
    }
    let part = match digit {
        Some(true) => cur
            .parse()
            .map(Part::Num)
            .unwrap_or_else(|_| Part::Text(cur.clone())),
        _ => Part::Text(cur.clone()),
    };
    out.push(part);
    cur.clear();
}

impl VersionKey {
    /// Parses a tag name; `None` when it has no digit (not a version tag).
    pub fn parse(tag: &str) -> Option<Self> {
        let start = tag.find(|c: char| c.is_ascii_digit())?;
        let prefix = tag[..start].to_owned();
        let rest = &tag[start..];
        let rest = rest.split('+').next().unwrap_or(rest);
        let (release, pre) = match rest.split_once('-') {
            Some((r, p)) => (r, Some(parts(p))),
            None => (rest, None),
        };
        Some(VersionKey {
            prefix,
            release: parts(release),
            pre,
        })
    }
}

impl Ord for VersionKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| cmp_parts(&self.release, &other.release))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

/// Compares release parts, treating missing trailing parts as zero (`1.2` == `1.2.0`).
fn cmp_parts(a: &[Part], b: &[Part]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).unwrap_or(&Part::Num(0));
        let y = b.get(i).unwrap_or(&Part::Num(0));
        match x.cmp(y) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

impl PartialOrd for VersionKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The highest tag of the same prefix whose version is below `tag`'s.
pub fn previous_release_tag<'a>(
    tag: &str,
    all: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let me = VersionKey::parse(tag)?;
    all.into_iter()
        .filter(|t| *t != tag)
        .filter_map(|t| VersionKey::parse(t).map(|k| (k, t)))
        .filter(|(k, _)| k.prefix == me.prefix && *k < me)
        // Ties (`v1.2` and `v1.2.0`) break by name so the choice is stable.
        .max_by(|(a, an), (b, bn)| a.cmp(b).then_with(|| an.cmp(bn)))
        .map(|(_, t)| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(a: &str, b: &str) -> bool {
        VersionKey::parse(a).unwrap() < VersionKey::parse(b).unwrap()
    }

    #[test]
    fn orders_versions() {
        assert!(lt("v1.9.0", "v1.10.0"));
        assert!(lt("v1.0.0-rc.1", "v1.0.0"));
        assert!(lt("v1.0.0-rc.2", "v1.0.0-rc.10"));
        assert!(lt("v1.0.0-alpha", "v1.0.0-beta"));
        assert!(!lt("v1.0.0+build.2", "v1.0.0+build.1"));
        assert!(lt("v2", "v2.0.1"));
    }

    #[test]
    fn previous_tag_same_prefix() {
        let tags = [
            "v1.0.0",
            "v1.1.0",
            "v1.10.0",
            "v1.2.0",
            "lib-v3.0",
            "v2.0.0-rc.1",
            "nightly",
        ];
        assert_eq!(
            previous_release_tag("v1.10.0", tags).as_deref(),
            Some("v1.2.0")
        );
        assert_eq!(
            previous_release_tag("v2.0.0", tags).as_deref(),
            Some("v2.0.0-rc.1")
        );
        assert_eq!(previous_release_tag("v1.0.0", tags), None);
        assert_eq!(
            previous_release_tag("lib-v4.0", tags).as_deref(),
            Some("lib-v3.0")
        );
        assert_eq!(previous_release_tag("nightly", tags), None);
    }
}
