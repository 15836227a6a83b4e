use crate::ids::ObjectId;
use crate::signature::{SignatureInfo, detect_signature_header};
use crate::{Result, SourceError};

/// A person line of a commit or tag (`Name <email> 1700000000 +0100`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Person {
    /// `Name <email>` exactly as recorded.
    pub ident: String,
    /// Seconds since the epoch.
    pub time: i64,
}

/// A `Token: value` trailer from the last paragraph of a commit message
/// (the `git interpret-trailers` convention).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trailer {
    pub key: String,
    pub value: String,
}

/// One commit, parsed from its raw object.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    pub author: Person,
    pub committer: Person,
    /// First line of the message.
    pub subject: String,
    /// The whole message, lossily decoded as UTF-8.
    pub message: String,
    pub trailers: Vec<Trailer>,
    pub signature: SignatureInfo,
}

impl CommitInfo {
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }

    /// Trailer values for `key`, compared case-insensitively as git does.
    pub fn trailer_values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.trailers
            .iter()
            .filter(move |t| t.key.eq_ignore_ascii_case(key))
            .map(|t| t.value.as_str())
    }
}

/// Splits `Name <email> 1700000000 +0100` into the ident and the time.
pub(crate) fn split_ident(text: &str) -> (String, Option<i64>) {
    match text.rfind('>') {
        Some(end) => {
            let ident = text[..=end].to_owned();
            let time = text[end + 1..]
                .split_ascii_whitespace()
                .next()
                .and_then(|t| t.parse().ok());
            (ident, time)
        }
        None => (text.to_owned(), None),
    }
}

pub(crate) fn parse_commit(id: ObjectId, raw: &[u8]) -> Result<CommitInfo> {
    let bad = |detail: &str| SourceError::Unexpected {
        args: format!("cat-file commit {id}"),
        detail: detail.to_owned(),
    };
    let split = find_header_end(raw);
    let (header, message) = match split {
        Some(i) => (&raw[..i], &raw[i + 2..]),
        None => (raw, &[][..]),
    };
    let mut tree = None;
    let mut parents = Vec::new();
    let mut author = None;
    let mut committer = None;
    for line in header.split(|&b| b == b'\n') {
        // Continuation lines (signatures, mergetags) start with a space.
        if line.starts_with(b" ") {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let (key, value) = text.split_once(' ').unwrap_or((&text, ""));
        match key {
            "tree" => tree = Some(value.parse::<ObjectId>()?),
            "parent" => parents.push(value.parse::<ObjectId>()?),
            "author" | "committer" => {
                let (ident, time) = split_ident(value);
                let person = Person {
                    ident,
                    time: time.ok_or_else(|| bad("person line without a time"))?,
                };
                if key == "author" {
                    author = Some(person);
                } else {
                    committer = Some(person);
                }
            }
            _ => {}
        }
    }
    let message = String::from_utf8_lossy(message).into_owned();
    let subject = message.lines().next().unwrap_or_default().trim().to_owned();
    let trailers = parse_trailers(&message);
    let mut signature = SignatureInfo::unsigned();
    if let Some(format) = detect_signature_header(header) {
        signature.format = Some(format);
    }
    Ok(CommitInfo {
        tree: tree.ok_or_else(|| bad("no tree line"))?,
        parents,
        author: author.ok_or_else(|| bad("no author line"))?,
        committer: committer.ok_or_else(|| bad("no committer line"))?,
        subject,
        trailers,
        message,
        signature,
        id,
    })
}

fn find_header_end(raw: &[u8]) -> Option<usize> {
    raw.windows(2).position(|w| w == b"\n\n")
}

/// Parses the trailer block: the last paragraph of the message (not the subject), when every
/// line in it is a `Token: value` trailer or a continuation of one.
pub(crate) fn parse_trailers(message: &str) -> Vec<Trailer> {
    let trimmed = message.trim_end();
    let paragraphs: Vec<&str> = trimmed.split("\n\n").collect();
    if paragraphs.len() < 2 {
        return Vec::new();
    }
    let Some(last) = paragraphs.last() else {
        return Vec::new();
    };
    let mut trailers: Vec<Trailer> = Vec::new();
    for line in last.lines() {
        if line.starts_with([' ', '\t']) {
            match trailers.last_mut() {
                Some(t) => {
                    t.value.push(' ');
                    t.value.push_str(line.trim());
                    continue;
                }
                None => return Vec::new(),
            }
        }
        // git accepts these lines inside a trailer block.
        if line.starts_with("(cherry picked from commit ") {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Vec::new();
        };
        let valid_key =
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid_key {
            return Vec::new();
        }
        trailers.push(Trailer {
            key: key.to_owned(),
            value: value.trim().to_owned(),
        });
    }
    trailers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_from_last_paragraph() {
        let msg = "Fix the thing\n\nLonger text: not a trailer because more prose.\nYes.\n\nReviewed-by: Alice <a@x>\nRefs: #12\n  continued\n";
        let t = parse_trailers(msg);
        assert_eq!(
            t,
            vec![
                Trailer {
                    key: "Reviewed-by".into(),
                    value: "Alice <a@x>".into()
                },
                Trailer {
                    key: "Refs".into(),
                    value: "#12 continued".into()
                },
            ]
        );
    }

    #[test]
    fn no_trailers_in_subject_or_prose() {
        assert!(parse_trailers("Reviewed-by: Alice").is_empty());
        assert!(parse_trailers("Subject\n\nJust prose here: with colon\nand more").is_empty());
        assert!(parse_trailers("Subject\n\nNot a key: x").is_empty());
    }

    #[test]
    fn parses_raw_commit() {
        let raw = b"tree 0123456789abcdef0123456789abcdef01234567\nparent 1123456789abcdef0123456789abcdef01234567\nauthor A U Thor <a@example.com> 1700000000 +0100\ncommitter C O Mitter <c@example.com> 1700000100 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\nSubject line\n\nApproved-by: Bob <b@x>\n";
        let id: ObjectId = "2123456789abcdef0123456789abcdef01234567".parse().unwrap();
        let c = parse_commit(id, raw).unwrap();
        assert_eq!(c.subject, "Subject line");
        assert_eq!(c.author.ident, "A U Thor <a@example.com>");
        assert_eq!(c.committer.time, 1_700_000_100);
        assert_eq!(c.parents.len(), 1);
        assert!(c.signature.format.is_some());
        assert_eq!(
            c.trailer_values("approved-by").collect::<Vec<_>>(),
            ["Bob <b@x>"]
        );
    }

    #[test]
    fn malformed_commit_is_an_error_not_a_panic() {
        let id: ObjectId = "2123456789abcdef0123456789abcdef01234567".parse().unwrap();
        assert!(parse_commit(id.clone(), b"garbage").is_err());
        assert!(parse_commit(id, b"tree 0123\n\nmsg").is_err());
    }
}
