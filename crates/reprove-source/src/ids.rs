use std::fmt;
use std::str::FromStr;

use crate::SourceError;

/// A git object id: 40 (sha1) or 64 (sha256 object format) lowercase hex digits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(String);

impl ObjectId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The abbreviated form people read in logs.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl FromStr for ObjectId {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (s.len() == 40 || s.len() == 64)
            && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(ObjectId(s.to_owned()))
        } else {
            Err(SourceError::InvalidObjectId {
                input: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.0)
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A tag name, checked against git's ref-name rules (`git check-ref-format`), without the
/// `refs/tags/` prefix.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full ref name, `refs/tags/<name>`.
    pub fn refname(&self) -> String {
        format!("refs/tags/{}", self.0)
    }
}

impl FromStr for Tag {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.strip_prefix("refs/tags/").unwrap_or(s);
        let err = |reason| SourceError::InvalidTagName {
            input: s.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(err("empty"));
        }
        if name == "@" {
            return Err(err("`@` is not a valid ref name"));
        }
        if name.starts_with('-') {
            return Err(err("starts with `-`"));
        }
        // git refuses it too (`refs/tags//x` has `//`); a tag also names a folder
        // (`evidence/<tag>`), which must never be an absolute path.
        if name.starts_with('/') {
            return Err(err("starts with `/`"));
        }
        if name.ends_with('/') || name.ends_with('.') || name.ends_with(".lock") {
            return Err(err("ends with `/`, `.` or `.lock`"));
        }
        if name.contains("..") || name.contains("@{") || name.contains("//") {
            return Err(err("contains `..`, `@{` or `//`"));
        }
        if name.split('/').any(|c| c.starts_with('.')) {
            return Err(err("a component starts with `.`"));
        }
        if name.chars().any(|c| {
            c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        }) {
            return Err(err(
                "contains a space, control character or one of `~^:?*[\\`",
            ));
        }
        Ok(Tag(name.to_owned()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

impl serde::Serialize for Tag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids() {
        assert!(
            "0123456789abcdef0123456789abcdef01234567"
                .parse::<ObjectId>()
                .is_ok()
        );
        assert!(
            "0123456789ABCDEF0123456789abcdef01234567"
                .parse::<ObjectId>()
                .is_err()
        );
        assert!("0123".parse::<ObjectId>().is_err());
        assert!(
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                .parse::<ObjectId>()
                .is_ok()
        );
    }

    #[test]
    fn tag_names() {
        for good in ["v1.0.0", "release/2024-01", "refs/tags/v2", "1.0+build.5"] {
            assert!(good.parse::<Tag>().is_ok(), "{good}");
        }
        assert_eq!("refs/tags/v2".parse::<Tag>().unwrap().as_str(), "v2");
        for bad in [
            "", "-v1", "v1..2", "v1 ", "v1~1", "a/.b", "x.lock", "v^{}", "@", "a//b", "/abs",
            "/home/x",
        ] {
            assert!(bad.parse::<Tag>().is_err(), "{bad}");
        }
    }
}
