//! Reading a baseline back: the parts of a signed baseline statement that `diff`, `status`
//! and the audit report use, parsed once into types. The writer's types ([`crate::model`])
//! stay write-only so the manifest's bytes never depend on a round trip; this view ignores
//! fields it does not know, so older and newer baselines both read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A baseline statement as read from a verified payload or a manifest file.
#[derive(Debug, Clone, Deserialize)]
pub struct BaselineView {
    #[serde(default)]
    pub subject: Vec<SubjectView>,
    pub predicate: PredicateView,
    /// A recipe from outside the release, attached by the reader (never read from the
    /// statement): see [`BaselineView::attach_external_recipe`].
    #[serde(skip)]
    pub external_recipe: Option<ExternalRecipeView>,
}

/// The recipe a release was built with when its tag had no `[build]` table of its own
/// (`reprove release --recipe`): the evidence folder's `recipe.toml`, vouched by the signed
/// index and named by sha256 in the provenance.
#[derive(Debug, Clone)]
pub struct ExternalRecipeView {
    /// sha256 (hex) of the file's bytes.
    pub sha256: String,
    pub recipe: Result<reprove_build_types::Recipe, reprove_build_types::RecipeError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubjectView {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredicateView {
    #[serde(default)]
    pub project: ProjectView,
    pub release: ReleaseView,
    #[serde(default)]
    pub build: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub policy: Value,
    #[serde(default)]
    pub configuration_items: Vec<ItemView>,
    #[serde(default)]
    pub soup: Vec<SoupView>,
    #[serde(default)]
    pub images: Vec<ImageView>,
    #[serde(default)]
    pub changes: ChangesView,
    #[serde(default)]
    pub findings: Vec<FindingView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectView {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub supplier: Option<String>,
    /// `[project] repository`, when the baseline records one.
    #[serde(default)]
    pub repository: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    pub tag: String,
    #[serde(default)]
    pub tag_object: Option<String>,
    pub commit: String,
    #[serde(default)]
    pub tree: String,
    #[serde(default)]
    pub commit_time: String,
    /// Required: the reference environment a provenance is checked against derives from it,
    /// and a missing one must not read as 0.
    pub source_date_epoch: i64,
    #[serde(default)]
    pub tag_time: Option<String>,
    #[serde(default)]
    pub tagger: Option<String>,
    #[serde(default)]
    pub tag_signature: SignatureView,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SignatureView {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemView {
    pub path: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub git_blob: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub submodule_commit: Option<String>,
}

impl ItemView {
    /// What identifies the content: sha256, else the blob/submodule commit/symlink target.
    pub fn content_id(&self) -> String {
        self.sha256
            .clone()
            .or_else(|| self.submodule_commit.clone())
            .or_else(|| self.target.as_ref().map(|t| format!("-> {t}")))
            .or_else(|| self.git_blob.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoupView {
    pub name: String,
    pub version: String,
    pub ecosystem: String,
    #[serde(default)]
    pub supplier: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub checksum: Option<ChecksumView>,
    /// The other files of the same release the lockfile accepts (see `SoupItem`).
    #[serde(default)]
    pub other_checksums: Vec<ChecksumView>,
    #[serde(default)]
    pub purl: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub manifest: String,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub safety_class: Option<String>,
    #[serde(default)]
    pub end_of_support: Option<String>,
    #[serde(default)]
    pub last_anomaly_review: Option<String>,
    /// Installed only where it applies (npm's `optional`, see `SoupItem`).
    #[serde(default)]
    pub optional: bool,
}

impl SoupView {
    /// Every digest the lockfile accepts for this component, as (algorithm, hex), for the
    /// algorithms a fetched file is recorded with (sha256; sha512 for npm).
    pub fn accepted_digests(&self) -> impl Iterator<Item = (&str, &str)> {
        self.checksum
            .iter()
            .chain(&self.other_checksums)
            .filter(|c| matches!(c.algorithm.as_str(), "sha256" | "sha512"))
            .map(|c| (c.algorithm.as_str(), c.value.as_str()))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChecksumView {
    pub algorithm: String,
    pub value: String,
}

impl std::fmt::Display for ChecksumView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.value)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageView {
    pub file: String,
    #[serde(default)]
    pub line: usize,
    #[serde(default)]
    pub column: usize,
    /// The platform a Dockerfile's `FROM --platform=` asked for.
    #[serde(default)]
    pub platform: Option<String>,
    pub reference: String,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChangesView {
    #[serde(default)]
    pub base: Option<BaseView>,
    #[serde(default = "yes")]
    pub complete: bool,
    #[serde(default)]
    pub commits: Vec<ChangeView>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
pub struct BaseView {
    pub tag: String,
    pub commit: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    pub id: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub commit_time: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub merge: bool,
    #[serde(default)]
    pub authorized: bool,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub change_requests: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FindingView {
    pub code: String,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub item: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub policy: bool,
}

impl BaselineView {
    /// Reads a baseline statement (the JSON value of a verified payload or a manifest).
    pub fn from_value(v: &Value) -> Result<BaselineView, String> {
        let t = v.get("predicateType").and_then(Value::as_str);
        if t != Some(crate::BASELINE_PREDICATE_TYPE) {
            return Err(format!(
                "not a reprove baseline (predicate type `{}`)",
                t.unwrap_or("none")
            ));
        }
        BaselineView::deserialize(v).map_err(|e| e.to_string())
    }

    /// The release artifacts among the subjects: name → sha256.
    pub fn artifacts(&self) -> BTreeMap<String, String> {
        self.subject
            .iter()
            .filter_map(|s| Some((s.name.clone()?, s.digest.get("sha256")?.clone())))
            .collect()
    }

    /// The recorded `[build]` table read as a recipe, with the one schema a rebuild and the
    /// provenance use ([`reprove_build_types::Recipe`]); `None` when the baseline records none.
    pub fn recipe(
        &self,
    ) -> Option<Result<reprove_build_types::Recipe, reprove_build_types::RecipeError>> {
        self.predicate.build.as_ref().map(|build| {
            reprove_build_types::Recipe::from_baseline_build(&Value::Object(build.clone()))
        })
    }

    /// Attaches the evidence's `recipe.toml` (`bytes`) as the recipe the release was built
    /// with — only when the baseline records none of its own: a tag's own `[build]` always
    /// says how it is built.
    pub fn attach_external_recipe(&mut self, bytes: &[u8]) {
        if self.predicate.build.is_some() {
            return;
        }
        let recipe = std::str::from_utf8(bytes)
            .map_err(|_| reprove_build_types::RecipeError::new("`recipe.toml` is not UTF-8"))
            .and_then(reprove_build_types::Recipe::from_config);
        self.external_recipe = Some(ExternalRecipeView {
            sha256: reprove_digest::sha256_bytes(bytes).hex(),
            recipe,
        });
    }

    /// The recipe the release was built with: the baseline's own `[build]`, else the attached
    /// external one.
    pub fn release_recipe(
        &self,
    ) -> Option<Result<reprove_build_types::Recipe, reprove_build_types::RecipeError>> {
        self.recipe()
            .or_else(|| self.external_recipe.as_ref().map(|e| e.recipe.clone()))
    }

    /// Whether every policy `reprove.toml` switched on held.
    pub fn policy_passed(&self) -> bool {
        self.predicate.policy.get("result").and_then(Value::as_str) == Some("pass")
            && !self.predicate.findings.iter().any(|f| f.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (review of issue 12): a baseline without `sourceDateEpoch` read as epoch 0,
    /// and agreed with a provenance built with `SOURCE_DATE_EPOCH=0`.
    #[test]
    fn a_baseline_without_its_source_date_epoch_does_not_read() {
        let mut v = serde_json::json!({
            "predicateType": crate::BASELINE_PREDICATE_TYPE,
            "subject": [],
            "predicate": {
                "release": {"tag": "v1", "commit": "c", "sourceDateEpoch": 1700000000},
                "policy": {"result": "pass"}
            }
        });
        assert_eq!(
            BaselineView::from_value(&v)
                .unwrap()
                .predicate
                .release
                .source_date_epoch,
            1700000000
        );
        v["predicate"]["release"]
            .as_object_mut()
            .unwrap()
            .remove("sourceDateEpoch");
        let err = BaselineView::from_value(&v).unwrap_err();
        assert!(err.contains("sourceDateEpoch"), "{err}");
    }
}
