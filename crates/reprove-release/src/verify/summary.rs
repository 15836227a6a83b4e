//! The SLSA verification summary of a report
//! (<https://slsa.dev/spec/v1.0/verification_summary>).

use std::collections::BTreeMap;

use reprove_attest::ResourceDescriptor;
use reprove_attest::Statement;
use reprove_attest::slsa::{VSA_V1, VerificationResult, VerificationSummary, Verifier};

use super::{CheckStatus, VerifyReport, VerifyVerdict};

/// Policy URI of the VSA: the set of checks below.
pub const POLICY_URI: &str = "https://reprove.dev/verify-policy/v1";
/// `verifier.id` of the VSA.
pub const VERIFIER_ID: &str = "https://reprove.dev/verifier/v1";
/// The `verifiedLevels` entry of a summary made with `--no-artifacts`. The VSA spec lets a
/// verifier add its own values (not starting with `SLSA_`); a consumer reading the levels sees
/// that no published byte was compared.
pub const NO_ARTIFACTS_CHECKED: &str = "REPROVE_NO_ARTIFACTS_CHECKED";

/// The policy the checks embody, as a digestible description: which checks ran, with what
/// requirements, and which artifacts were compared.
fn policy_descriptor(report: &VerifyReport, require: usize) -> ResourceDescriptor {
    let ran: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Skipped)
        .map(|c| c.id.as_str())
        .collect();
    let text = serde_json::json!({
        "checks": ran,
        "require": require,
        "artifactsChecked": report.artifacts_checked,
    })
    .to_string();
    let mut d = ResourceDescriptor::named(
        "reprove verify",
        "sha256",
        &reprove_digest::sha256_bytes(text.as_bytes()).hex(),
    );
    d.name = None;
    d.uri = Some(POLICY_URI.to_owned());
    d
}

/// The SLSA verification summary of a report. Its subjects are the artifacts whose bytes were
/// compared (all of the release's with `--artifacts`, the ones given with `--artifact`), or,
/// with `--no-artifacts`, the attested subjects — and then its levels say no artifact was
/// checked.
pub fn summary(
    report: &VerifyReport,
    require: usize,
    time_verified: String,
) -> Statement<VerificationSummary> {
    let passed = report.verdict.is_verified();
    let resource_uri = report
        .source_uri
        .clone()
        .unwrap_or_else(|| format!("urn:reprove:release:{}", report.tag));
    let inputs = report
        .input_attestations
        .iter()
        .map(|i| {
            // VSA v1 `inputAttestations` carry `uri` and `digest` only: the evidence file's name,
            // a relative reference (RFC 3986 §4.2) within the evidence folder — never a path of
            // the verifying machine.
            let mut d = ResourceDescriptor::named(i.file.clone(), "sha256", &i.sha256);
            d.uri = Some(i.file.clone());
            d.name = None;
            d
        })
        .collect();
    // Provenance signed by a key on a machine that is not a hosted build platform is
    // SLSA Build L1; the independent rebuild is stated in the checks, not as a level.
    let verified_levels = match report.verdict {
        VerifyVerdict::Verified => vec!["SLSA_BUILD_LEVEL_1".to_owned()],
        VerifyVerdict::VerifiedNoArtifactsChecked => vec![
            "SLSA_BUILD_LEVEL_1".to_owned(),
            NO_ARTIFACTS_CHECKED.to_owned(),
        ],
        VerifyVerdict::Failed | VerifyVerdict::CouldNotCheck => vec!["FAILED".to_owned()],
    };
    let subjects = if report.artifacts_checked.is_empty() {
        report.subjects.clone()
    } else {
        report
            .subjects
            .iter()
            .filter(|s| {
                s.name
                    .as_ref()
                    .is_some_and(|n| report.artifacts_checked.contains(n))
            })
            .cloned()
            .collect()
    };
    let predicate = VerificationSummary {
        verifier: Verifier {
            id: VERIFIER_ID.to_owned(),
            version: BTreeMap::from([("reprove".to_owned(), env!("CARGO_PKG_VERSION").to_owned())]),
        },
        time_verified,
        resource_uri,
        policy: policy_descriptor(report, require),
        input_attestations: inputs,
        verification_result: if passed {
            VerificationResult::Passed
        } else {
            VerificationResult::Failed
        },
        verified_levels,
        dependency_levels: BTreeMap::new(),
        slsa_version: "1.0".to_owned(),
    };
    Statement::new(subjects, VSA_V1, predicate)
}
