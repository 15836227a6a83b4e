//! The stable codes of `verify`'s own findings (cargo-deny style: every finding of every
//! check starts with one of these, and each is documented in the README's table of checks).
//! Findings that come from elsewhere keep their own typed codes: image pins
//! ([`reprove_oci::check::VerdictCode`]), the baseline's policy findings, rebuild mismatches.

/// A finding code of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingCode {
    /// a file's bytes (or size) differ from the digest that was signed for it.
    DigestMismatch,
    /// a file the index lists (or a required document) is absent.
    EvidenceMissing,
    /// a file in the evidence folder that the signed index does not list.
    EvidenceUnlisted,
    /// an entry that is a link, folder, FIFO or device where a regular file must be.
    NotRegularFile,
    /// a file larger than any document of its kind (not read).
    TooLarge,
    /// a file that could not be read.
    Unreadable,
    /// no readable `index.json`.
    IndexMissing,
    /// no signed index, so the folder is not signed as a whole.
    IndexUnsigned,
    /// a bundle two readers could read differently, or no statement at all.
    BadBundle,
    /// no given signer made the signature.
    BadSignature,
    /// a signed statement of another kind than the file's role.
    WrongPredicate,
    /// a statement for another tag or commit than the one asked about.
    WrongRelease,
    /// the signed index records that the release failed.
    ReleaseFailed,
    /// no provenance of the release signer.
    ProvenanceMissing,
    /// two signers attest other artifacts for the same build.
    RebuildersDisagree,
    /// fewer agreeing signers than --require.
    NotEnoughRebuilders,
    /// an attested artifact is not among the published files.
    MissingArtifact,
    /// a published entry no provenance subject names.
    UnattestedArtifact,
    /// baseline and provenance name other commits.
    CommitMismatch,
    /// the provenance was built in another image than the baseline's recipe.
    ImageMismatch,
    /// the provenance's recipe differs from the baseline's.
    RecipeMismatch,
    /// the provenance records a build with network.
    NetworkNotNone,
    /// the provenance's build environment differs from the reference one.
    EnvironmentMismatch,
    /// baseline and provenance attest other artifacts.
    SubjectMismatch,
    /// the statements name another product than --project.
    WrongProject,
    /// the statements name another source repository than --source-uri.
    WrongSource,
    /// the tag no longer points at the signed commit.
    TagMoved,
    /// the tag is not in this repository.
    TagMissing,
    /// the baseline's recorded policy result is not a pass.
    PolicyFailed,
    /// the fresh rebuild failed.
    BuildFailed,
    /// a SOUP item of a lockfile the fetch covered is not among the build's resolved dependencies.
    SoupNotFetched,
    /// a package the build was given is not in the SOUP register.
    FetchedNotInSoup,
    /// a package's digest in the build's inputs differs from the SOUP register's checksum.
    SoupDigestDiffers,
    /// the fresh rebuild ran and does not reproduce the attested artifacts.
    RebuildDiffers,
}

impl FindingCode {
    pub const ALL: [FindingCode; 34] = [
        FindingCode::DigestMismatch,
        FindingCode::EvidenceMissing,
        FindingCode::EvidenceUnlisted,
        FindingCode::NotRegularFile,
        FindingCode::TooLarge,
        FindingCode::Unreadable,
        FindingCode::IndexMissing,
        FindingCode::IndexUnsigned,
        FindingCode::BadBundle,
        FindingCode::BadSignature,
        FindingCode::WrongPredicate,
        FindingCode::WrongRelease,
        FindingCode::ReleaseFailed,
        FindingCode::ProvenanceMissing,
        FindingCode::RebuildersDisagree,
        FindingCode::NotEnoughRebuilders,
        FindingCode::MissingArtifact,
        FindingCode::UnattestedArtifact,
        FindingCode::CommitMismatch,
        FindingCode::ImageMismatch,
        FindingCode::RecipeMismatch,
        FindingCode::NetworkNotNone,
        FindingCode::EnvironmentMismatch,
        FindingCode::SubjectMismatch,
        FindingCode::WrongProject,
        FindingCode::WrongSource,
        FindingCode::TagMoved,
        FindingCode::TagMissing,
        FindingCode::PolicyFailed,
        FindingCode::BuildFailed,
        FindingCode::SoupNotFetched,
        FindingCode::FetchedNotInSoup,
        FindingCode::SoupDigestDiffers,
        FindingCode::RebuildDiffers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::DigestMismatch => "digest-mismatch",
            FindingCode::EvidenceMissing => "evidence-missing",
            FindingCode::EvidenceUnlisted => "evidence-unlisted",
            FindingCode::NotRegularFile => "not-regular-file",
            FindingCode::TooLarge => "too-large",
            FindingCode::Unreadable => "unreadable",
            FindingCode::IndexMissing => "index-missing",
            FindingCode::IndexUnsigned => "index-unsigned",
            FindingCode::BadBundle => "bad-bundle",
            FindingCode::BadSignature => "bad-signature",
            FindingCode::WrongPredicate => "wrong-predicate",
            FindingCode::WrongRelease => "wrong-release",
            FindingCode::ReleaseFailed => "release-failed",
            FindingCode::ProvenanceMissing => "provenance-missing",
            FindingCode::RebuildersDisagree => "rebuilders-disagree",
            FindingCode::NotEnoughRebuilders => "not-enough-rebuilders",
            FindingCode::MissingArtifact => "missing-artifact",
            FindingCode::UnattestedArtifact => "unattested-artifact",
            FindingCode::CommitMismatch => "commit-mismatch",
            FindingCode::ImageMismatch => "image-mismatch",
            FindingCode::RecipeMismatch => "recipe-mismatch",
            FindingCode::NetworkNotNone => "network-not-none",
            FindingCode::EnvironmentMismatch => "environment-mismatch",
            FindingCode::SubjectMismatch => "subject-mismatch",
            FindingCode::WrongProject => "wrong-project",
            FindingCode::WrongSource => "wrong-source",
            FindingCode::TagMoved => "tag-moved",
            FindingCode::TagMissing => "tag-missing",
            FindingCode::PolicyFailed => "policy-failed",
            FindingCode::BuildFailed => "build-failed",
            FindingCode::SoupNotFetched => "soup-not-fetched",
            FindingCode::FetchedNotInSoup => "fetched-not-in-soup",
            FindingCode::SoupDigestDiffers => "soup-digest-differs",
            FindingCode::RebuildDiffers => "rebuild-differs",
        }
    }

    /// What the finding means, one line.
    pub fn about(self) -> &'static str {
        match self {
            FindingCode::DigestMismatch => {
                "a file's bytes (or size) differ from the digest that was signed for it"
            }
            FindingCode::EvidenceMissing => {
                "a file the index lists (or a required document) is absent"
            }
            FindingCode::EvidenceUnlisted => {
                "a file in the evidence folder that the signed index does not list"
            }
            FindingCode::NotRegularFile => {
                "an entry that is a link, folder, FIFO or device where a regular file must be"
            }
            FindingCode::TooLarge => "a file larger than any document of its kind (not read)",
            FindingCode::Unreadable => "a file that could not be read",
            FindingCode::IndexMissing => "no readable `index.json`",
            FindingCode::IndexUnsigned => "no signed index, so the folder is not signed as a whole",
            FindingCode::BadBundle => {
                "a bundle two readers could read differently, or no statement at all"
            }
            FindingCode::BadSignature => "no given signer made the signature",
            FindingCode::WrongPredicate => {
                "a signed statement of another kind than the file's role"
            }
            FindingCode::WrongRelease => {
                "a statement for another tag or commit than the one asked about"
            }
            FindingCode::ReleaseFailed => "the signed index records that the release failed",
            FindingCode::ProvenanceMissing => "no provenance of the release signer",
            FindingCode::RebuildersDisagree => {
                "two signers attest other artifacts for the same build"
            }
            FindingCode::NotEnoughRebuilders => "fewer agreeing signers than --require",
            FindingCode::MissingArtifact => "an attested artifact is not among the published files",
            FindingCode::UnattestedArtifact => "a published entry no provenance subject names",
            FindingCode::CommitMismatch => "baseline and provenance name other commits",
            FindingCode::ImageMismatch => {
                "the provenance was built in another image than the baseline's recipe"
            }
            FindingCode::RecipeMismatch => "the provenance's recipe differs from the baseline's",
            FindingCode::NetworkNotNone => "the provenance records a build with network",
            FindingCode::EnvironmentMismatch => {
                "the provenance's build environment differs from the reference one"
            }
            FindingCode::SubjectMismatch => "baseline and provenance attest other artifacts",
            FindingCode::WrongProject => "the statements name another product than --project",
            FindingCode::WrongSource => {
                "the statements name another source repository than --source-uri"
            }
            FindingCode::TagMoved => "the tag no longer points at the signed commit",
            FindingCode::TagMissing => "the tag is not in this repository",
            FindingCode::PolicyFailed => "the baseline's recorded policy result is not a pass",
            FindingCode::BuildFailed => "the fresh rebuild failed",
            FindingCode::SoupNotFetched => {
                "a SOUP item of a lockfile the fetch covered is not among the build's resolved dependencies"
            }
            FindingCode::FetchedNotInSoup => {
                "a package the build was given is not in the SOUP register"
            }
            FindingCode::SoupDigestDiffers => {
                "a package's digest in the build's inputs differs from the SOUP register's checksum"
            }
            FindingCode::RebuildDiffers => {
                "the fresh rebuild does not reproduce the attested artifacts"
            }
        }
    }

    /// Whether a finding line (`code: message`) carries this code.
    pub fn is_code_of(self, finding: &Finding) -> bool {
        finding.code == self.as_str()
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for FindingCode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FindingCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown finding code `{s}`"))
    }
}

/// A finding line: its code, then what was found (the form `verify` prints and serializes).
pub fn finding(code: FindingCode, message: impl std::fmt::Display) -> Finding {
    Finding::new(code, message.to_string())
}

/// One problem a check found: its stable code and what it means here. Printed for people as
/// `code: message`; in JSON an object whose `message` carries no Markdown backticks (the
/// values it quotes are plain text there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A [`FindingCode`], or the code of the finding another layer made (an image pin's
    /// verdict, a policy finding the signed baseline records, a fetch finding).
    pub code: String,
    pub message: String,
    /// Boxed: most findings have none, and a verify result carries many findings.
    detail: Option<Box<FindingDetail>>,
}

/// The values a finding is about, for tools that read them rather than the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FindingDetail {
    /// The file it is about (an artifact's name, an evidence file's path), when it is one.
    path: Option<String>,
    /// The tag or image reference it is about, when it is one.
    reference: Option<String>,
    /// What was expected and what was found (digests as `sha256:<hex>`), when the finding
    /// compares two values.
    expected: Option<String>,
    actual: Option<String>,
}

impl Finding {
    pub fn new(code: FindingCode, message: String) -> Finding {
        Finding {
            code: code.as_str().to_owned(),
            message,
            detail: None,
        }
    }

    fn detail(&mut self) -> &mut FindingDetail {
        self.detail.get_or_insert_with(Default::default)
    }

    /// The same finding, about the tag, image or other reference `r` (printable).
    pub fn about(mut self, r: &str) -> Finding {
        self.detail().reference = Some(crate::verify::printable(r));
        self
    }

    /// The same finding, about the file `path` (printable, as every value from outside).
    pub fn at(mut self, path: &str) -> Finding {
        self.detail().path = Some(crate::verify::printable(path));
        self
    }

    /// The same finding, with the value expected and the one found.
    pub fn compared(mut self, expected: String, actual: String) -> Finding {
        let d = self.detail();
        d.expected = Some(expected);
        d.actual = Some(actual);
        self
    }

    pub fn path(&self) -> Option<&str> {
        self.detail.as_ref()?.path.as_deref()
    }

    pub fn reference(&self) -> Option<&str> {
        self.detail.as_ref()?.reference.as_deref()
    }

    pub fn expected(&self) -> Option<&str> {
        self.detail.as_ref()?.expected.as_deref()
    }

    pub fn actual(&self) -> Option<&str> {
        self.detail.as_ref()?.actual.as_deref()
    }

    /// A finding another layer coded (its code printable, as every value from outside).
    pub fn other(code: &str, message: String) -> Finding {
        Finding {
            code: crate::verify::printable(code),
            message,
            detail: None,
        }
    }
}

/// For tests that look for words in a finding as `verify` prints it.
#[cfg(test)]
impl Finding {
    pub fn contains(&self, s: &str) -> bool {
        self.to_string().contains(s)
    }

    pub fn starts_with(&self, s: &str) -> bool {
        self.to_string().starts_with(s)
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl serde::Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Finding", 6)?;
        st.serialize_field("code", &self.code)?;
        st.serialize_field("message", &self.message.replace('`', ""))?;
        for (k, v) in [
            ("path", self.path()),
            ("reference", self.reference()),
            ("expected", self.expected()),
            ("actual", self.actual()),
        ] {
            match v {
                Some(v) => st.serialize_field(k, v)?,
                None => st.skip_field(k)?,
            }
        }
        st.end()
    }
}

/// A [`Finding`] of `code`, its message formatted as `format!` does.
macro_rules! found {
    ($code:expr, $($arg:tt)*) => {
        $crate::verify::codes::Finding::new($code, format!($($arg)*))
    };
}
pub(crate) use found;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::CheckId;

    const README: &str = include_str!("../../../../README.md");

    /// The README's table of checks: check id → the finding codes its row lists.
    fn readme_table() -> Vec<(String, String)> {
        README
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let id = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((id.to_owned(), cells.get(3)?.to_string()))
            })
            .collect()
    }

    #[test]
    fn every_code_is_unique_kebab_case_and_parses_back() {
        let mut seen = std::collections::BTreeSet::new();
        for c in FindingCode::ALL {
            assert!(seen.insert(c.as_str()), "`{c}` twice");
            assert!(
                c.as_str()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "`{c}`"
            );
            assert_eq!(c.as_str().parse::<FindingCode>(), Ok(c));
            assert!(!c.about().is_empty());
        }
        let mut ids = std::collections::BTreeSet::new();
        for id in CheckId::ALL {
            assert!(ids.insert(id.as_str()), "`{id}` twice");
            assert_eq!(id.as_str().parse::<CheckId>(), Ok(id));
            assert!(!id.about().is_empty());
            assert!(
                !seen.contains(id.as_str()) || id == CheckId::Rebuild,
                "`{id}` is also a finding code"
            );
        }
    }

    #[test]
    fn every_check_and_code_is_documented_in_the_readme() {
        let table = readme_table();
        for id in CheckId::ALL {
            assert!(
                table.iter().any(|(i, _)| i == id.as_str()),
                "check `{id}` has no row in the README's table of checks"
            );
        }
        for c in FindingCode::ALL {
            let quoted = format!("`{c}`");
            assert!(
                table.iter().any(|(_, codes)| codes.contains(&quoted)),
                "finding code `{c}` is not listed in the README's table of checks"
            );
        }
    }

    /// The statement reader's codes reach `verify` findings as they are: each must be one of
    /// these.
    #[test]
    fn the_statement_readers_codes_are_finding_codes() {
        use reprove_attest::signed::StatementError;
        for e in [
            StatementError::Unsigned,
            StatementError::NotStatement { reason: "x".into() },
            StatementError::Signature {
                reasons: "x".into(),
            },
        ] {
            assert!(e.code().parse::<FindingCode>().is_ok(), "`{}`", e.code());
        }
        for code in [
            "evidence-missing",
            "not-regular-file",
            "too-large",
            "unreadable",
            "bad-bundle",
        ] {
            assert!(code.parse::<FindingCode>().is_ok(), "`{code}`");
        }
    }

    #[test]
    fn a_code_matches_only_its_own_findings() {
        let moved = found!(FindingCode::TagMoved, "`v1` now points at {}", "c0ffee");
        assert!(FindingCode::TagMoved.is_code_of(&moved));
        assert!(!FindingCode::TagMissing.is_code_of(&moved));
        // A message that looks like another code is not that code.
        let rebuild = Finding::new(FindingCode::RebuildDiffers, "tag-missing: x".into());
        assert!(!FindingCode::TagMissing.is_code_of(&rebuild));
        assert_eq!(moved.to_string(), "tag-moved: `v1` now points at c0ffee");
        // In JSON: an object, its message without Markdown backticks.
        assert_eq!(
            serde_json::to_value(&moved).unwrap(),
            serde_json::json!({"code": "tag-moved", "message": "v1 now points at c0ffee"})
        );
    }
}
