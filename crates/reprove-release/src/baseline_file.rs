//! A baseline named on the command line (`diff`, `images check --baseline`): a manifest,
//! Sigstore bundle or bare DSSE envelope, read through the one reader of signed statements.

use std::path::Path;

use reprove_attest::signed::{Form, read_statement_file};
use reprove_attest::verify::Signer;
use reprove_baseline::BaselineView;
use serde_json::Value;

use crate::ReleaseError;

/// A baseline read from a file (manifest, Sigstore bundle or bare DSSE envelope) through the
/// one reader of signed statements, [`reprove_attest::signed`].
#[derive(Debug, Clone)]
pub struct BaselineFile {
    pub view: BaselineView,
    /// The statement as verified (or, with no signer, as the file claims).
    pub statement: Value,
    pub form: Form,
    /// Which given signer verified it; `None` when no signer was given, and the caller must
    /// say that the content was not authenticated.
    pub verified_by: Option<String>,
}

/// Reads a baseline named on the command line (`diff`, `images check --baseline`). With
/// signers, only a signed document that one of them verifies is accepted; the view is decoded
/// from the verified payload, never from a file beside it.
pub fn read_baseline_file(
    path: &Path,
    signers: &[Signer],
    trusted_root: Option<&str>,
) -> Result<BaselineFile, ReleaseError> {
    let st = read_statement_file(path, signers, trusted_root).map_err(|source| {
        ReleaseError::ReadStatement {
            path: path.to_owned(),
            signed: !signers.is_empty(),
            source,
        }
    })?;
    let view =
        BaselineView::from_value(&st.statement).map_err(|reason| ReleaseError::NotABaseline {
            path: path.to_owned(),
            reason,
        })?;
    Ok(BaselineFile {
        view,
        statement: st.statement,
        form: st.form,
        verified_by: st.verified_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprove_attest::{KeyAlgorithm, PrivateKey};

    fn statement(predicate_type: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "_type": reprove_attest::STATEMENT_V1,
            "subject": [{"name": "a", "digest": {"sha256": "00".repeat(32)}}],
            "predicateType": predicate_type,
            "predicate": {
                "project": {"name": "p"},
                "release": {"tag": "v1", "commit": "c", "tree": "t", "commitTime": "x",
                            "sourceDateEpoch": 0, "tagSignature": {}},
                "policy": {"result": "pass"},
                "images": [{"file": "Dockerfile", "line": 3, "column": 6,
                            "reference": "busybox:1.36", "platform": "linux/arm64"}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_signed_baseline_reads_with_its_key_and_not_with_another() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let path = dir.path().join("b.sigstore.json");
        let bytes = reprove_attest::sign_statement(
            statement(reprove_baseline::BASELINE_PREDICATE_TYPE),
            &key,
        )
        .unwrap();
        std::fs::write(&path, bytes).unwrap();
        let signer = Signer::Key {
            key: key.public_key(),
        };
        let read = read_baseline_file(&path, &[signer], None).unwrap();
        assert!(read.verified_by.is_some());
        assert_eq!(read.form, Form::Bundle);
        let image = &read.view.predicate.images[0];
        assert_eq!((image.line, image.column), (3, 6));
        assert_eq!(image.platform.as_deref(), Some("linux/arm64"));

        let other = Signer::Key {
            key: PrivateKey::generate(KeyAlgorithm::P256)
                .unwrap()
                .public_key(),
        };
        let err = read_baseline_file(&path, &[other], None).unwrap_err();
        assert!(matches!(
            err,
            ReleaseError::ReadStatement { signed: true, .. }
        ));
        assert!(err.to_string().ends_with("does not verify"), "{err}");
    }

    #[test]
    fn an_unsigned_manifest_is_refused_with_a_signer_and_another_predicate_always() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("b.json");
        std::fs::write(
            &manifest,
            statement(reprove_baseline::BASELINE_PREDICATE_TYPE),
        )
        .unwrap();
        let read = read_baseline_file(&manifest, &[], None).unwrap();
        assert_eq!((read.form, read.verified_by), (Form::Manifest, None));
        let signer = Signer::Key {
            key: PrivateKey::generate(KeyAlgorithm::P256)
                .unwrap()
                .public_key(),
        };
        assert!(matches!(
            read_baseline_file(&manifest, &[signer], None),
            Err(ReleaseError::ReadStatement { signed: true, .. })
        ));

        let provenance = dir.path().join("p.json");
        std::fs::write(&provenance, statement("https://slsa.dev/provenance/v1")).unwrap();
        let err = read_baseline_file(&provenance, &[], None).unwrap_err();
        assert!(matches!(err, ReleaseError::NotABaseline { .. }), "{err}");
        assert!(err.to_string().contains("not a reprove baseline"), "{err}");
    }
}
