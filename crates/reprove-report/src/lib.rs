//! The audit pack of one release: a self-contained HTML report (no scripts, no external styles
//! or fonts; prints to PDF from a browser), the same as Markdown, and the two documents an
//! audit's evidence signals look for — `SOUP-List.md` and `Configuration-Management.md`.
//!
//! Pure: an [`AuditInput`] assembled from verified evidence goes in, text comes out. Every
//! value is escaped for its target (HTML entities, Markdown table cells).

mod clauses;
mod documents;
mod escape;
mod html;
mod markdown;
mod sections;

pub use clauses::{Clause, ClauseStatus, clauses};
pub use documents::{configuration_management, soup_list};
pub use documents::{marker, written_for};
pub use escape::{fence_safe, md_text};
pub use html::to_html;
pub use markdown::to_markdown;

use reprove_baseline::BaselineView;
use reprove_release::evidence::Index;
use reprove_release::verify::{CheckId, CheckStatus, VerifyReport};
use serde_json::Value;
/// A file of the evidence folder, by name and sha256.
#[derive(Debug, Clone)]
pub struct FileRef {
    pub name: String,
    pub sha256: String,
}

/// Everything the report shows. The statements come from verified payloads when
/// `signatures_checked`; otherwise the report says they were not checked.
#[derive(Debug)]
pub struct AuditInput<'a> {
    pub tag: &'a str,
    pub evidence: &'a str,
    pub baseline: Option<&'a BaselineView>,
    pub provenance: Option<&'a Value>,
    /// The rebuild report (`rebuild-report.json`).
    pub rebuild: Option<&'a Value>,
    pub index: Option<&'a Index>,
    pub verify: &'a VerifyReport,
    pub signatures_checked: bool,
    /// RFC 3339 UTC: the clock of the machine that makes the report.
    pub generated_on: &'a str,
    pub reprove_version: &'a str,
    /// Document control: the id and revision a QA system files the record under.
    pub document_id: &'a str,
    pub revision: &'a str,
    /// The sha256 of the signed index (`index.sigstore.json`), when the folder has one.
    pub index_sha256: Option<String>,
    /// The signers the verification trusted, described (key fingerprint, or identity and
    /// issuer); empty when none was given.
    pub trusted: &'a [String],
    /// The build recipe exactly as the release holds it, when it could be read.
    pub recipe: Option<&'a RecipeText>,
}

/// The text of a release's recipe, as the file holds it.
#[derive(Debug, Clone)]
pub struct RecipeText {
    /// `reprove.toml` at the tag, or `recipe.toml` of the evidence (a recipe from outside).
    pub file: String,
    pub text: String,
    /// Whether the recipe came from outside the tag (`release --recipe`).
    pub external: bool,
}

impl AuditInput<'_> {
    fn file(&self, name: &str) -> Option<FileRef> {
        self.index?
            .files
            .iter()
            .find(|f| f.path == name)
            .map(|f| FileRef {
                name: f.path.clone(),
                sha256: f.sha256.clone(),
            })
    }

    fn check(&self, id: CheckId) -> Option<CheckStatus> {
        self.verify.check(id).map(|c| c.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprove_release::verify::{CheckResult, VerifyVerdict};

    fn baseline(subject: &str, supplier: &str) -> BaselineView {
        BaselineView::from_value(&serde_json::json!({
            "predicateType": reprove_baseline::BASELINE_PREDICATE_TYPE,
            "subject": [{"name": "app", "digest": {"sha256": "ab"}}],
            "predicate": {
                "project": {"name": "x<y", "supplier": supplier},
                "release": {"tag": "v1", "commit": "c0ffee", "tree": "7ree", "sourceDateEpoch": 0},
                "policy": {"require-authorization": true, "result": "pass", "trailers": ["Reviewed-by"]},
                "configurationItems": [],
                "soup": [{"name": "left|pad", "version": "1.0.0", "ecosystem": "npm", "supplier": supplier}],
                "images": [],
                "changes": {"complete": true, "commits": [{"id": "c0ffee", "subject": subject, "authorized": true}]},
                "findings": []
            }
        }))
        .unwrap()
    }

    fn verify_report(status: CheckStatus) -> VerifyReport {
        VerifyReport {
            tag: "v1".into(),
            evidence: "e".into(),
            verdict: VerifyVerdict::Verified,
            checks: vec![
                CheckResult::new(CheckId::BaselineSignature, status, "ok"),
                CheckResult::new(CheckId::ImagePins, CheckStatus::Skipped, "offline"),
            ],
            subjects: Vec::new(),
            artifacts_checked: vec!["app".into()],
            input_attestations: Vec::new(),
            source_uri: None,
            project: None,
            baseline: None,
            baseline_view: None,
            provenance: None,
            outcome: None,
            index_json: None,
            rebuild_report: None,
            provenance_present: true,
            signatures_checked: true,
        }
    }

    /// The record's input for `v1` with keys checked; a test changes what it is about.
    fn input<'a>(b: &'a BaselineView, v: &'a VerifyReport) -> AuditInput<'a> {
        AuditInput {
            tag: "v1",
            evidence: "e",
            baseline: Some(b),
            provenance: None,
            rebuild: None,
            index: None,
            verify: v,
            signatures_checked: true,
            generated_on: "2026-01-01T00:00:00Z",
            reprove_version: "0",
            document_id: "CMR-v1",
            revision: "1",
            index_sha256: None,
            trusted: &[],
            recipe: None,
        }
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let evil = "<script>alert(1)</script><img src=x onerror=alert(2)> | \"q\" 'a' & done ![t](http://evil.example/p.png) `x`";
        let b = baseline(evil, evil);
        let v = verify_report(CheckStatus::Pass);
        let a = AuditInput {
            evidence: "<evidence>",
            ..input(&b, &v)
        };
        let html = to_html(&a);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("x&lt;y"));
        // In Markdown a `|` cannot break out of its cell, nor `<` start a tag.
        let md = to_markdown(&a);
        assert!(md.contains("left\\|pad"), "{md}");
        assert!(!md.contains("<script"), "{md}");
        // Escaped brackets cannot open a link or an image.
        assert!(
            !md.contains("![t]"),
            "no link or image can be injected: {md}"
        );
        assert!(md.contains("!\\[t\\](http"), "{md}");
        let cm = configuration_management(&a);
        assert!(!cm.contains("![t]"), "{cm}");
        assert!(!cm.contains("<script"), "{cm}");
        let soup = soup_list(&a);
        assert!(soup.contains("left\\|pad"), "{soup}");
    }

    /// The record says what the build was given and from where, and never lets an
    /// `equivalent` artifact pass for a bit-for-bit one.
    #[test]
    fn fetched_dependencies_and_equivalence_are_on_record() {
        let b = baseline("fine", "Acme");
        let v = verify_report(CheckStatus::Pass);
        let rebuild = serde_json::json!({
            "verdict": "equivalent",
            "image": "img@sha256:00", "engine": "docker", "engineVersion": "1", "network": "none",
            "sourceDateEpoch": 0,
            "comparison": [{"name": "app", "verdict": "equivalent", "normalizations": ["gzip", "tar-mtime"]}],
            "fetch": {
                "network": "host", "lockfiles": {"Cargo.lock": "ab"}, "storeSha256": "cd",
                "packages": [{"purl": "pkg:cargo/a@1"}, {"purl": "pkg:cargo/b@1"}],
                "hostsContacted": [
                    {"host": "index.crates.io", "port": 443, "method": "connect", "requests": 3, "allowed": true},
                    {"host": "evil.example", "port": 443, "method": "connect", "requests": 1, "allowed": false}
                ]
            }
        });
        let a = AuditInput {
            rebuild: Some(&rebuild),
            ..input(&b, &v)
        };
        let md = to_markdown(&a);
        assert!(md.contains("2 packages checked against Cargo.lock"), "{md}");
        assert!(
            md.contains("index.crates.io:443, evil.example:443 (refused)"),
            "{md}"
        );
        assert!(
            md.contains("equivalent after gzip, tar-mtime (NOT bit for bit)"),
            "{md}"
        );
    }

    #[test]
    fn unchecked_signatures_are_never_called_met() {
        let b = baseline("fine", "Acme");
        let v = verify_report(CheckStatus::Skipped);
        let a = AuditInput {
            signatures_checked: false,
            ..input(&b, &v)
        };
        let rows = clauses(&a);
        assert_eq!(rows.len(), 13);
        let met: Vec<&str> = rows
            .iter()
            .filter(|c| c.status == ClauseStatus::Met)
            .map(|c| c.clause)
            .collect();
        assert!(met.is_empty(), "met without any signature checked: {met:?}");
        let c811 = rows.iter().find(|c| c.clause == "8.1.1").unwrap();
        assert_eq!(c811.status, ClauseStatus::NotChecked);
        assert!(to_html(&a).contains("Signatures were NOT checked"));
        assert!(
            to_markdown(&a).contains("| signatures | no --key or certificate identity was given |")
        );
    }
}
