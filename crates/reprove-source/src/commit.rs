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
    /// The message, lossily decoded as UTF-8, cut at 64 KiB (the subject and trailers are read
    /// from all of it).
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

/// How much of a commit message is kept.
const MESSAGE_KEPT: usize = 64 << 10;

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
    // The header as git's `parse_commit_buffer` and fsck read it: `tree` first, then the
    // `parent` lines one after another, then `author`, then `committer`, then anything else
    // (`encoding`, `gpgsig`, `mergetag`, continuation lines starting with a space). git takes
    // the first `tree` and only consecutive `parent`s; a second `tree`, `parent`, `author` or
    // `committer` further down passes `git fsck` but would be read differently by anything
    // that scans all lines, so such a commit is refused rather than read either way.
    let invalid = |reason: String| SourceError::InvalidCommit {
        oid: id.to_string(),
        reason,
    };
    let mut lines = header.split(|&b| b == b'\n').peekable();
    let field = |lines: &mut dyn Iterator<Item = &[u8]>, key: &str| -> Result<String> {
        let line = lines
            .next()
            .ok_or_else(|| invalid(format!("the header has no `{key}` line")))?;
        let text = String::from_utf8_lossy(line);
        match text.split_once(' ') {
            Some((k, v)) if k == key => Ok(v.to_owned()),
            _ => Err(invalid(format!("`{key}` is not where git reads it"))),
        }
    };
    let tree: ObjectId = field(&mut lines, "tree")?.parse()?;
    let mut parents = Vec::new();
    while lines.peek().is_some_and(|l| l.starts_with(b"parent ")) {
        parents.push(field(&mut lines, "parent")?.parse::<ObjectId>()?);
    }
    let person = |lines: &mut dyn Iterator<Item = &[u8]>, key: &str| -> Result<Person> {
        let (ident, time) = split_ident(&field(lines, key)?);
        Ok(Person {
            ident,
            time: time.ok_or_else(|| bad("person line without a time"))?,
        })
    };
    let author = person(&mut lines, "author")?;
    let committer = person(&mut lines, "committer")?;
    for line in lines {
        for key in ["tree ", "parent ", "author ", "committer "] {
            if line.starts_with(key.as_bytes()) {
                return Err(invalid(format!(
                    "a second `{}` line follows the ones git reads",
                    key.trim_end()
                )));
            }
        }
    }
    let mut message = String::from_utf8_lossy(message).into_owned();
    let subject = message.lines().next().unwrap_or_default().trim().to_owned();
    let trailers = parse_trailers(&message);
    // Kept for the change-request references in its body; a range of commits with messages of
    // megabytes each must not add up to gigabytes.
    if message.len() > MESSAGE_KEPT {
        let mut end = MESSAGE_KEPT;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    let mut signature = SignatureInfo::unsigned();
    if let Some(format) = detect_signature_header(header) {
        signature.format = Some(format);
    }
    Ok(CommitInfo {
        tree,
        parents,
        author,
        committer,
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

    /// Regression (fifth review of issue 11): a second `tree` or `parent` after `committer`
    /// passes `git fsck`, git ignores it, and reprove read it: another tree was baselined and
    /// built, and a hidden parent took an unreviewed commit out of the trace.
    #[test]
    fn headers_git_would_not_read_are_refused() {
        let id: ObjectId = "2123456789abcdef0123456789abcdef01234567".parse().unwrap();
        let t = "0123456789abcdef0123456789abcdef01234567";
        let p = "1123456789abcdef0123456789abcdef01234567";
        let who = "A <a@example.com> 1700000000 +0000";
        let ok = format!(
            "tree {t}\nparent {p}\nparent {t}\nauthor {who}\ncommitter {who}\nencoding UTF-8\n\nmsg\n"
        );
        let c = parse_commit(id.clone(), ok.as_bytes()).unwrap();
        assert_eq!(c.parents.len(), 2);
        for raw in [
            format!("tree {t}\nparent {p}\nauthor {who}\ncommitter {who}\ntree {p}\n\nmsg\n"),
            format!("tree {t}\nauthor {who}\ncommitter {who}\nparent {p}\n\nmsg\n"),
            format!("tree {t}\nauthor {who}\nparent {p}\ncommitter {who}\n\nmsg\n"),
            format!("parent {p}\ntree {t}\nauthor {who}\ncommitter {who}\n\nmsg\n"),
            format!("tree {t}\nauthor {who}\ncommitter {who}\nauthor {who}\n\nmsg\n"),
            format!("tree {t}\ncommitter {who}\nauthor {who}\n\nmsg\n"),
            format!("tree {t}\nauthor {who}\n\nmsg\n"),
        ] {
            let err = parse_commit(id.clone(), raw.as_bytes()).unwrap_err();
            assert!(
                matches!(err, SourceError::InvalidCommit { .. }),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn long_messages_are_cut_after_their_trailers_are_read() {
        let id: ObjectId = "2123456789abcdef0123456789abcdef01234567".parse().unwrap();
        let t = "0123456789abcdef0123456789abcdef01234567";
        let who = "A <a@example.com> 1700000000 +0000";
        let body = "é".repeat(100_000);
        let raw = format!(
            "tree {t}\nauthor {who}\ncommitter {who}\n\nsubject\n\n{body}\n\nReviewed-by: R <r@x>\n"
        );
        let c = parse_commit(id, raw.as_bytes()).unwrap();
        assert!(c.message.len() <= MESSAGE_KEPT);
        assert_eq!(c.trailer_values("reviewed-by").count(), 1);
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
