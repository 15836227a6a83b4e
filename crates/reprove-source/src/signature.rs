//! Signature status of tags and commits, as the local verifier (`git verify-tag`, `%G?`) sees
//! it. The status depends on the verifying machine's keyring, so the baseline records both the
//! signature's presence and format (a property of the objects) and this status.

use std::process::Output;

/// How an object is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureFormat {
    Openpgp,
    Ssh,
    X509,
}

/// The verdict on a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureStatus {
    /// Cryptographically valid with a key the verifier has.
    Good,
    /// The signature does not match the signed object.
    Bad,
    /// No signature.
    Unsigned,
    /// Signed, but the verifier lacks the key or the tool (e.g. no gpg installed).
    UnknownKey,
    /// Valid, but the signature or key has expired.
    Expired,
    /// Valid, but made by a revoked key.
    Revoked,
}

impl SignatureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureStatus::Good => "good",
            SignatureStatus::Bad => "bad",
            SignatureStatus::Unsigned => "unsigned",
            SignatureStatus::UnknownKey => "unknown-key",
            SignatureStatus::Expired => "expired",
            SignatureStatus::Revoked => "revoked",
        }
    }

    /// Maps git's `%G?` placeholder.
    pub(crate) fn from_git_code(code: &str) -> Self {
        match code {
            // U: good signature whose key validity is unknown (web of trust), still genuine.
            "G" | "U" => SignatureStatus::Good,
            "B" => SignatureStatus::Bad,
            "X" | "Y" => SignatureStatus::Expired,
            "R" => SignatureStatus::Revoked,
            "N" => SignatureStatus::Unsigned,
            _ => SignatureStatus::UnknownKey,
        }
    }
}

/// A signature's presence, format, verdict and signing key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<SignatureFormat>,
    pub status: SignatureStatus,
    /// Key id or fingerprint the verifier reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl SignatureInfo {
    pub fn unsigned() -> Self {
        SignatureInfo {
            format: None,
            status: SignatureStatus::Unsigned,
            key: None,
        }
    }
}

fn format_of_armor(text: &[u8]) -> Option<SignatureFormat> {
    let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    if has(b"-----BEGIN PGP SIGNATURE-----") {
        Some(SignatureFormat::Openpgp)
    } else if has(b"-----BEGIN SSH SIGNATURE-----") {
        Some(SignatureFormat::Ssh)
    } else if has(b"-----BEGIN SIGNED MESSAGE-----") {
        Some(SignatureFormat::X509)
    } else {
        None
    }
}

/// The signature format of a raw tag object (the signature trails the message).
pub(crate) fn detect_signature(raw_tag: &[u8]) -> Option<SignatureFormat> {
    format_of_armor(raw_tag)
}

/// The signature format from a commit's header (`gpgsig`/`gpgsig-sha256`).
pub(crate) fn detect_signature_header(header: &[u8]) -> Option<SignatureFormat> {
    let has_sig = header
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(b"gpgsig ") || l.starts_with(b"gpgsig-sha256 "));
    if has_sig {
        format_of_armor(header).or(Some(SignatureFormat::Openpgp))
    } else {
        None
    }
}

/// Interprets `git verify-tag --raw`: exit status plus GnuPG status lines on stderr. A missing
/// gpg (or ssh-keygen, or allowed-signers file) is `unknown-key`, not an error.
pub(crate) fn status_from_verify(format: SignatureFormat, out: &Output) -> SignatureInfo {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut status = None;
    let mut key = None;
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("[GNUPG:] ") else {
            if line.starts_with("Bad signature") || line.contains("BAD signature") {
                status = Some(SignatureStatus::Bad);
            }
            continue;
        };
        let mut words = rest.split(' ');
        let word = words.next().unwrap_or_default();
        let arg = words.next().map(str::to_owned);
        match word {
            "BADSIG" => {
                status = Some(SignatureStatus::Bad);
                key = arg;
            }
            "EXPSIG" | "EXPKEYSIG" => {
                status.get_or_insert(SignatureStatus::Expired);
                key = arg;
            }
            "REVKEYSIG" => {
                status.get_or_insert(SignatureStatus::Revoked);
                key = arg;
            }
            "ERRSIG" | "NO_PUBKEY" => {
                status.get_or_insert(SignatureStatus::UnknownKey);
                key = key.or(arg);
            }
            "GOODSIG" => key = key.or(arg),
            // The full fingerprint is better than the long key id.
            "VALIDSIG" => key = arg,
            _ => {}
        }
    }
    let status = match status {
        Some(s) => s,
        None if out.status.success() => SignatureStatus::Good,
        None => SignatureStatus::UnknownKey,
    };
    SignatureInfo {
        format: Some(format),
        status,
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn out(code: i32, stderr: &str) -> Output {
        Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn verify_outputs() {
        let f = SignatureFormat::Openpgp;
        let good = status_from_verify(
            f,
            &out(
                0,
                "[GNUPG:] GOODSIG ABCD Alice\n[GNUPG:] VALIDSIG FPR123 2024-01-01\n",
            ),
        );
        assert_eq!(good.status, SignatureStatus::Good);
        assert_eq!(good.key.as_deref(), Some("FPR123"));
        let bad = status_from_verify(f, &out(1, "[GNUPG:] BADSIG ABCD Alice\n"));
        assert_eq!(bad.status, SignatureStatus::Bad);
        let unknown = status_from_verify(
            f,
            &out(1, "[GNUPG:] ERRSIG ABCD 1 8 00\n[GNUPG:] NO_PUBKEY ABCD\n"),
        );
        assert_eq!(unknown.status, SignatureStatus::UnknownKey);
        let no_gpg = status_from_verify(
            f,
            &out(1, "error: cannot run gpg: No such file or directory\n"),
        );
        assert_eq!(no_gpg.status, SignatureStatus::UnknownKey);
    }

    #[test]
    fn git_codes() {
        assert_eq!(SignatureStatus::from_git_code("G"), SignatureStatus::Good);
        assert_eq!(SignatureStatus::from_git_code("B"), SignatureStatus::Bad);
        assert_eq!(
            SignatureStatus::from_git_code("E"),
            SignatureStatus::UnknownKey
        );
        assert_eq!(
            SignatureStatus::from_git_code("N"),
            SignatureStatus::Unsigned
        );
    }
}
