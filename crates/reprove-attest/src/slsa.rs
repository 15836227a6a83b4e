//! SLSA predicates, written from the specs (the `in-toto` crate only knows SLSA v0.2).
//!
//! - Provenance v1: <https://slsa.dev/spec/v1.0/provenance> — `buildDefinition` (what was
//!   built and from what) and `runDetails` (who built it, when, and what else came out).
//! - Verification summary v1: <https://slsa.dev/spec/v1.0/verification_summary> — a verifier's
//!   signed verdict about artifacts, with the attestations it relied on.
//!
//! Types only: no I/O, no clock. Verifiers read signed statements as JSON values, never by
//! re-serializing these types, so a field another tool adds is never lost before a check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::statement::ResourceDescriptor;

/// `predicateType` of SLSA provenance v1.
pub const PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// `predicateType` of a SLSA verification summary v1.
pub const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";

/// The provenance predicate (SLSA v1.0 §"Schema").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

/// What was built: the template (`buildType`), the inputs a user controls, the ones the
/// platform chose, and every artifact fetched to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub internal_parameters: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// The transitive closure of the build platform that the verifier trusts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

/// `verificationResult` of a VSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VerificationResult {
    Passed,
    Failed,
}

/// The verification summary predicate (SLSA VSA v1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationSummary {
    pub verifier: Verifier,
    /// RFC 3339 UTC.
    pub time_verified: String,
    /// The artifact or release that was verified.
    pub resource_uri: String,
    pub policy: ResourceDescriptor,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_attestations: Vec<ResourceDescriptor>,
    pub verification_result: VerificationResult,
    /// e.g. `SLSA_BUILD_LEVEL_1`, and `FAILED` when the result is FAILED.
    pub verified_levels: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependency_levels: BTreeMap<String, u64>,
    pub slsa_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verifier {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::Statement;

    #[test]
    fn provenance_round_trips_with_the_spec_field_names() {
        let p = Provenance {
            build_definition: BuildDefinition {
                build_type: "https://reprove.dev/container-build/v1".into(),
                external_parameters: Map::from_iter([("tag".into(), Value::from("v1"))]),
                internal_parameters: Map::new(),
                resolved_dependencies: vec![ResourceDescriptor::named("source", "gitCommit", "ab")],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "https://reprove.dev/rebuilder/v0".into(),
                    version: BTreeMap::new(),
                    builder_dependencies: Vec::new(),
                },
                metadata: Some(BuildMetadata {
                    invocation_id: Some("x".into()),
                    started_on: Some("2026-01-01T00:00:00Z".into()),
                    finished_on: None,
                }),
                byproducts: Vec::new(),
            },
        };
        let s = Statement::new(vec![], PROVENANCE_V1, p.clone());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"],
            "ab"
        );
        assert_eq!(
            v["predicate"]["runDetails"]["metadata"]["invocationId"],
            "x"
        );
        assert!(
            v["predicate"]["buildDefinition"]
                .get("internalParameters")
                .is_none()
        );
        let back: Statement<Provenance> = serde_json::from_value(v).unwrap();
        assert_eq!(back.predicate, p);
    }

    #[test]
    fn vsa_result_is_upper_case() {
        let v = serde_json::to_value(VerificationResult::Passed).unwrap();
        assert_eq!(v, "PASSED");
        let f: VerificationResult = serde_json::from_value(Value::from("FAILED")).unwrap();
        assert_eq!(f, VerificationResult::Failed);
    }
}
