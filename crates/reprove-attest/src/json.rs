//! Strict JSON for signed material: a document with a key twice in one object is refused.
//!
//! RFC 8259 §4 leaves duplicate names to the reader ("the behavior of software that receives
//! such an object is unpredictable"), and readers disagree: serde_json keeps the last, others
//! the first. A bundle or statement that two readers see differently is how a verifier is
//! fooled into checking one thing and acting on another, so signed material must have one
//! reading only. serde_json's own recursion limit (128 levels) still applies.

use std::fmt;

use serde::de::{self, DeserializeSeed as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a document was refused.
#[derive(Debug, thiserror::Error)]
pub enum StrictJsonError {
    /// The parser's message is the whole story (line and column), so it is shown, not chained.
    #[error("not JSON: {0}")]
    Syntax(serde_json::Error),
    #[error("the key `{key}` appears twice in one object")]
    DuplicateKey { key: String },
    #[error("a list or object longer than {limit} entries, more than this document ever holds")]
    TooLong { limit: usize },
}

/// Bounds for documents whose shape is small (a Sigstore bundle: a few certificates, log
/// entries, proof hashes): an oversized list is refused while it is being read, before it
/// costs memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
}

impl Limits {
    pub const NONE: Limits = Limits {
        max_entries: usize::MAX,
    };
    /// A Sigstore bundle's lists: certificate chains, log entries, inclusion-proof hashes.
    pub const BUNDLE: Limits = Limits { max_entries: 256 };
}

/// Parses `bytes` as one JSON value, refusing duplicate keys at any depth.
pub fn parse(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    parse_limited(bytes, Limits::NONE)
}

/// [`parse`], refusing any list or object longer than `limits` allows.
pub fn parse_limited(bytes: &[u8], limits: Limits) -> Result<Value, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut problem: Option<StrictJsonError> = None;
    let result = Strict {
        problem: &mut problem,
        limits,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (result, problem) {
        (_, Some(p)) => Err(p),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(StrictJsonError::Syntax(e)),
    }
}

/// Parses and deserializes into `T` (after the duplicate check).
pub fn from_slice<T: de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StrictJsonError> {
    let v = parse(bytes)?;
    serde_json::from_value(v).map_err(StrictJsonError::Syntax)
}

struct Strict<'a> {
    problem: &'a mut Option<StrictJsonError>,
    limits: Limits,
}

impl<'de> de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            problem: &mut *self.problem,
            limits: self.limits,
        })? {
            if out.len() >= self.limits.max_entries {
                *self.problem = Some(StrictJsonError::TooLong {
                    limit: self.limits.max_entries,
                });
                return Err(de::Error::custom("too long"));
            }
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                *self.problem = Some(StrictJsonError::DuplicateKey { key: key.clone() });
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            if out.len() >= self.limits.max_entries {
                *self.problem = Some(StrictJsonError::TooLong {
                    limit: self.limits.max_entries,
                });
                return Err(de::Error::custom("too long"));
            }
            let v = map.next_value_seed(Strict {
                problem: &mut *self.problem,
                limits: self.limits,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_json_exactly() {
        let text = br#"{"a":[1,2.5,"x",null,true,{"b":{}}],"c":-3}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_slice::<Value>(text).unwrap()
        );
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        for text in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"x":[{"k":1,"k":1}]}"#,
            br#"{"x":{"y":{"z":{"q":0,"q":0}}}}"#,
        ] {
            assert!(
                matches!(parse(text), Err(StrictJsonError::DuplicateKey { .. })),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        // Escapes that spell the same key are the same key.
        assert!(matches!(
            parse(br#"{"a":1,"\u0061":2}"#),
            Err(StrictJsonError::DuplicateKey { .. })
        ));
    }

    #[test]
    fn syntax_errors_and_trailing_data() {
        for text in [&b"{"[..], b"", b"{} {}", b"[1,]", b"nul"] {
            assert!(matches!(parse(text), Err(StrictJsonError::Syntax(_))));
        }
    }

    #[test]
    fn long_lists_are_refused_while_read() {
        let long = format!("{{\"x\":[{}0]}}", "0,".repeat(300));
        assert!(parse(long.as_bytes()).is_ok());
        assert!(matches!(
            parse_limited(long.as_bytes(), Limits::BUNDLE),
            Err(StrictJsonError::TooLong { limit: 256 })
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
