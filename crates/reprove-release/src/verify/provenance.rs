//! `provenance-signature` (k-of-n rebuilders) and `baseline-provenance-agree`.
//!
//! One test — [`agreement`] — decides whether a provenance describes the release the signed
//! baseline fixes: same commit, same image by digest, same recipe, no network, a read-only
//! root and the reference environment, same artifacts. The release's own provenance must pass
//! it (its findings fail `baseline-provenance-agree`); another rebuilder's provenance counts
//! toward `--require` only when it passes it too. A provenance that is not for this release at
//! all (another predicate, another tag or commit, a key nobody gave) is listed as not counted
//! and never fails a genuine release; a trusted rebuilder that attests other bytes for this
//! very release is `rebuilders-disagree`.

use super::codes::{Finding, found};
use std::collections::{BTreeMap, BTreeSet};

use reprove_attest::verify::Signer;

use reprove_attest::slsa::PROVENANCE_V1;
use reprove_baseline::BaselineView;
use serde_json::Value;

use super::codes::{FindingCode, finding};
use super::index::{Folder, IndexView, MAX_ADDED_PROVENANCE};
use super::{
    CheckId, CheckResult, CheckStatus, InputAttestation, Options, printable, read_bundle,
    sha256_subjects, statement_finding, str_at,
};
use crate::evidence;
use crate::provenance::{BUILD_TYPE, ProvenanceView};

const ID: CheckId = CheckId::ProvenanceSignature;

pub(super) fn dependency<'v>(st: &'v Value, name: &str) -> Option<&'v Value> {
    st.get("predicate")?
        .get("buildDefinition")?
        .get("resolvedDependencies")?
        .as_array()?
        .iter()
        .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
}

pub(super) fn provenance_tag(p: &Value) -> Option<&str> {
    str_at(
        p,
        &[
            "predicate",
            "buildDefinition",
            "externalParameters",
            "source",
            "tag",
        ],
    )
}

/// Why a statement is not reprove's provenance of this tag, if it is not.
fn not_this_release(st: &Value, tag: &str) -> Option<Finding> {
    let t = st.get("predicateType").and_then(Value::as_str);
    let bt = str_at(st, &["predicate", "buildDefinition", "buildType"]);
    if t != Some(PROVENANCE_V1) || bt != Some(BUILD_TYPE) {
        return Some(finding(
            FindingCode::WrongPredicate,
            "not reprove's SLSA provenance v1",
        ));
    }
    match provenance_tag(st) {
        Some(t) if t == tag => None,
        Some(t) => Some(found!(
            FindingCode::WrongRelease,
            "for `{}`, not `{tag}`",
            printable(t)
        )),
        None => Some(finding(FindingCode::WrongRelease, "names no release")),
    }
}

/// What the verification of the provenance files found.
pub(super) struct Counted {
    pub check: CheckResult,
    pub inputs: Vec<InputAttestation>,
    /// The release's own provenance (`provenance.sigstore.json`), verified.
    pub primary: Option<Value>,
}

pub(super) fn check(
    opts: &Options<'_>,
    folder: &Folder,
    baseline: Option<&BaselineView>,
    index: Option<&IndexView>,
) -> Counted {
    let root = opts.trusted_root.as_deref();
    let unkeyed = opts.signers.is_empty();
    let tag = opts.tag.as_str();
    let mut findings = Vec::new();
    let mut not_counted: Vec<String> = Vec::new();
    let mut inputs = Vec::new();
    let mut primary: Option<(Value, InputAttestation)> = None;
    let mut others: Vec<(Value, InputAttestation)> = Vec::new();

    // The release's own provenance: signed by the release signer, like the baseline and the
    // index. A rebuilder's key never stands in for it.
    match read_bundle(folder, evidence::PROVENANCE, &opts.signers, root) {
        Ok((st, input)) => match not_this_release(&st, tag) {
            None => primary = Some((st, input)),
            Some(mut why) => {
                why.message = format!("{} (`{}`)", why.message, evidence::PROVENANCE);
                findings.push(why.at(evidence::PROVENANCE));
            }
        },
        Err(reprove_attest::signed::StatementError::File(f)) if f.is_not_found() => {
            let why = index
                .filter(|i| i.outcome == "failed")
                .map(|i| {
                    format!(
                        " — the release failed: {}",
                        printable(&i.failures.join("; "))
                    )
                })
                .unwrap_or_default();
            findings.push(found!(
                FindingCode::ProvenanceMissing,
                "no provenance in the folder{why}"
            ));
        }
        Err(e) => findings.push(statement_finding(evidence::PROVENANCE, &e)),
    }

    // Other rebuilders' provenance: signed by a release signer or a rebuilder.
    let anyone: Vec<Signer> = opts
        .signers
        .iter()
        .chain(&opts.rebuilders)
        .cloned()
        .collect();
    for name in folder.added_provenance() {
        let shown = printable(name);
        // Without keys only the release's own provenance is read: the others are outside the
        // index, and anyone could have dropped them in.
        if unkeyed {
            not_counted.push(format!("{shown} (no key given)"));
            continue;
        }
        match read_bundle(folder, name, &anyone, root) {
            Ok((st, input)) => match not_this_release(&st, tag) {
                None => others.push((st, input)),
                Some(why) => not_counted.push(format!("{shown} ({why})")),
            },
            Err(reprove_attest::signed::StatementError::Signature { .. }) => {
                not_counted.push(format!("{shown} (signed by none of the given keys)"));
            }
            Err(e) => not_counted.push(format!("{shown} ({})", e.code())),
        }
    }
    for name in &folder.skipped {
        not_counted.push(format!(
            "{} (not read: more than {MAX_ADDED_PROVENANCE} added provenance files)",
            printable(name)
        ));
    }

    // Who agrees. The release's own provenance counts when it agrees with the baseline; every
    // other one must agree with the baseline too — built from the same commit, the same way —
    // and only then do its artifacts count: the same ones agree, others disagree.
    let mut agreeing: BTreeSet<String> = BTreeSet::new();
    if let Some((pst, input)) = &primary {
        if baseline.is_some_and(|b| agreement_with(b, pst).is_empty()) {
            agreeing.insert(input.signer.clone());
        }
        let want = sha256_subjects(pst);
        // The release role counts once, however many keys it has (`--key` repeated across a
        // rotation): only rebuilders add independent signers.
        let release_role: BTreeSet<String> = opts.signers.iter().map(Signer::label).collect();
        for (st, other) in &others {
            if other.signer == input.signer || release_role.contains(&other.signer) {
                not_counted.push(format!(
                    "{} (signed by the release signer, who counts once)",
                    other.file
                ));
                continue;
            }
            let problems: Vec<Finding> = match baseline {
                Some(b) => agreement_with(b, st)
                    .into_iter()
                    .filter(|p| !FindingCode::SubjectMismatch.is_code_of(p))
                    .collect(),
                None => vec![Finding::other(
                    "no-verified-baseline",
                    "no verified baseline to compare with".to_owned(),
                )],
            };
            if !problems.is_empty() {
                let codes: BTreeSet<&str> = problems.iter().map(|p| p.code.as_str()).collect();
                not_counted.push(format!(
                    "{} (not built as the baseline says: {})",
                    other.file,
                    codes.into_iter().collect::<Vec<_>>().join(", ")
                ));
                continue;
            }
            if sha256_subjects(st) != want {
                // A rebuilder the auditor trusts built this very release the same way and
                // got other bytes.
                findings.push(found!(
                    FindingCode::RebuildersDisagree,
                    "`{}` ({}) attests other artifacts for the same commit, built the same way",
                    other.file,
                    other.signer
                ));
                continue;
            }
            agreeing.insert(other.signer.clone());
            inputs.push(other.clone());
        }
    }
    if agreeing.len() < opts.require {
        findings.push(found!(
            FindingCode::NotEnoughRebuilders,
            "{} independent signer(s) agree, {} required",
            agreeing.len(),
            opts.require
        ));
    }
    let detail = format!(
        "{} independent signer(s) agree ({} required){}{}",
        agreeing.len(),
        opts.require,
        if agreeing.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                agreeing.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        },
        if not_counted.is_empty() {
            String::new()
        } else {
            format!("; not counted: {}", not_counted.join(", "))
        }
    );
    let mut check = CheckResult::from_findings(ID, findings, detail.clone());
    // Why a rebuilder was not counted matters most when too few were.
    check.detail = detail;
    if unkeyed && check.status == CheckStatus::Pass {
        check.status = CheckStatus::Skipped;
        check.detail = "NOT CHECKED: no key or identity given".into();
    }
    let primary = primary.map(|(st, input)| {
        inputs.insert(0, input);
        st
    });
    Counted {
        check,
        inputs,
        primary,
    }
}

/// Everything in which `p` differs from what the baseline `b` fixes, each prefixed with its
/// finding code. Empty when the provenance describes the release the baseline records: the
/// same commit, `Recipe == Recipe` (one schema, [`reprove_build_types`], with the defaults
/// `reprove.toml` leaves implicit), no network, and the reference conditions.
pub fn agreement(b: &Value, p: &Value) -> Vec<Finding> {
    match BaselineView::from_value(b) {
        Ok(baseline) => agreement_with(&baseline, p),
        Err(e) => vec![found!(
            FindingCode::RecipeMismatch,
            "the baseline cannot be read: {}",
            printable(&e)
        )],
    }
}

/// [`agreement`] for a baseline already read into its view (`verify` reads it once and tests
/// every provenance in the folder against it).
pub(super) fn agreement_with(baseline: &BaselineView, p: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    let provenance = match ProvenanceView::from_value(p) {
        Ok(v) => v,
        Err(e) => {
            return vec![found!(
                FindingCode::RecipeMismatch,
                "the provenance cannot be read: {}",
                printable(&e)
            )];
        }
    };
    let bcommit = baseline.predicate.release.commit.as_str();
    let pcommit = provenance.dependency_digest("source", "gitCommit");
    if bcommit.is_empty() || Some(bcommit) != pcommit {
        findings.push(found!(
            FindingCode::CommitMismatch,
            "the baseline records commit {} but the provenance {}",
            printable(if bcommit.is_empty() {
                "(none)"
            } else {
                bcommit
            }),
            printable(pcommit.unwrap_or("(none)"))
        ));
    }
    let brecipe = match baseline.release_recipe() {
        Some(r) => r.map_err(|e| format!("the release's `[build]` is not a recipe: {e}")),
        None => Err(
            "the baseline records no `[build]` recipe (and the evidence no `recipe.toml`)"
                .to_owned(),
        ),
    };
    let precipe = provenance
        .recipe()
        .map_err(|e| format!("the provenance's recipe cannot be read: {e}"));
    match (&brecipe, &precipe) {
        (Ok(br), Ok(pr)) => {
            for (key, bv, pv) in br.differences(pr) {
                if key == "image" {
                    findings.push(found!(
                        FindingCode::ImageMismatch,
                        "the baseline's recipe uses `{}` but the provenance `{}`",
                        printable(bv.as_str().unwrap_or_default()),
                        printable(pv.as_str().unwrap_or_default())
                    ));
                } else {
                    findings.push(found!(
                        FindingCode::RecipeMismatch,
                        "`{key}` is {} in the baseline but {} in the provenance",
                        printable(&bv.to_string()),
                        printable(&pv.to_string())
                    ));
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            findings.push(found!(FindingCode::RecipeMismatch, "{}", printable(e)))
        }
    }
    let external = provenance
        .predicate
        .build_definition
        .external_parameters
        .external_recipe
        .as_ref();
    // A release of a tag without a `[build]`: the evidence's recipe is the one the provenance
    // names, byte for byte.
    if let Some(attached) = &baseline.external_recipe {
        let named = external
            .and_then(|e| e.get("sha256"))
            .and_then(Value::as_str);
        if named != Some(attached.sha256.as_str()) {
            findings.push(found!(
                FindingCode::RecipeMismatch,
                "the evidence's `{}` is sha256:{} but the provenance names {}",
                crate::evidence::RECIPE,
                attached.sha256,
                printable(&named.map_or(
                    "no recipe from outside the release".to_owned(),
                    |n| format!("sha256:{n}")
                ))
            ));
        }
    }
    // A recipe from outside the release agrees only when it is the baseline's own; say so
    // when it is not.
    if let Some(ext) = external
        && baseline.external_recipe.is_none()
        && findings.iter().any(|f| {
            FindingCode::RecipeMismatch.is_code_of(f) || FindingCode::ImageMismatch.is_code_of(f)
        })
    {
        findings.push(found!(FindingCode::RecipeMismatch, "the provenance was built with a recipe from outside the release ({}), which its baseline does not record",
            printable(&ext.to_string())
        ));
    }
    // How it ran: no network, read-only root, and the reference conditions — the fixed build
    // path, hostname and umask, and the environment reprove derives from the recipe.
    let internal = &provenance.predicate.build_definition.internal_parameters;
    if internal.network.as_ref().and_then(Value::as_str) != Some("none") {
        findings.push(found!(
            FindingCode::NetworkNotNone,
            "the provenance records network {}",
            printable(&internal.network.clone().unwrap_or(Value::Null).to_string())
        ));
    }
    let epoch = baseline.predicate.release.source_date_epoch;
    let expected = [
        ("readOnlyRootFilesystem", Some(Value::Bool(true))),
        (
            "buildPath",
            Some(Value::from(reprove_build_types::BUILD_PATH)),
        ),
        ("hostname", Some(Value::from(reprove_build_types::HOSTNAME))),
        ("umask", Some(Value::from(reprove_build_types::UMASK))),
        ("sourceDateEpoch", Some(Value::from(epoch))),
        (
            "environment",
            brecipe.as_ref().ok().and_then(|r| {
                let source = reprove_build_types::BuildSource {
                    commit: &baseline.predicate.release.commit,
                    tag: &baseline.predicate.release.tag,
                };
                serde_json::to_value(reprove_build_types::reference_environment(
                    &r.env, epoch, source,
                ))
                .ok()
            }),
        ),
    ];
    for (key, want) in expected {
        let have = internal.get(key).cloned();
        if key == "environment" && have.is_some() && have == want.as_ref().map(without_source_vars)
        {
            // A release made before reprove handed builds the commit and tag: its reference
            // environment then, which the release's own rebuild saw.
            continue;
        }
        if want.is_none() || have != want {
            findings.push(found!(
                FindingCode::EnvironmentMismatch,
                "`{key}` is {} in the provenance, not {}",
                printable(&have.unwrap_or(Value::Null).to_string()),
                printable(
                    &want
                        .map(|w| w.to_string())
                        .unwrap_or_else(|| "what the baseline fixes".into())
                )
            ));
        }
    }
    // Artifacts attested as equivalent, not bit for bit: each for the subject it names, and
    // only after normalizations the recipe accepts.
    let accepted = match &precipe {
        Ok(r) => r.accept_equivalent.clone(),
        Err(_) => Vec::new(),
    };
    let psubjects = provenance.subjects();
    match internal.equivalences() {
        Err(e) => findings.push(found!(
            FindingCode::RecipeMismatch,
            "the provenance's equivalence records cannot be read: {}",
            printable(&e)
        )),
        Ok(list) => {
            for e in list {
                let unaccepted: Vec<&str> = e
                    .normalizations
                    .iter()
                    .filter(|n| !accepted.contains(n))
                    .map(|n| n.as_str())
                    .collect();
                if e.normalizations.is_empty() || !unaccepted.is_empty() {
                    findings.push(found!(FindingCode::RecipeMismatch, "`{}` is attested as equivalent after {}, which the recipe's accept-equivalent does not name",
                        printable(&e.artifact),
                        printable(&if unaccepted.is_empty() {
                            "no normalization".to_owned()
                        } else {
                            unaccepted.join(", ")
                        })
                    ));
                }
                if psubjects.get(&e.artifact) != Some(&e.published_sha256) {
                    findings.push(found!(
                        FindingCode::SubjectMismatch,
                        "the equivalence record of `{}` is not about its subject",
                        printable(&e.artifact)
                    ));
                }
            }
        }
    }
    let bsubjects = baseline.artifacts();
    if bsubjects != psubjects {
        let names: BTreeSet<&String> = bsubjects.keys().chain(psubjects.keys()).collect();
        for n in names {
            if bsubjects.get(n) != psubjects.get(n) {
                findings.push(found!(
                    FindingCode::SubjectMismatch,
                    "`{}` is sha256:{} in the baseline but sha256:{} in the provenance",
                    printable(n),
                    bsubjects.get(n).map(String::as_str).unwrap_or("(absent)"),
                    psubjects.get(n).map(String::as_str).unwrap_or("(absent)")
                ));
            }
        }
    }
    findings
}

/// `baseline-provenance-agree` for the release's own provenance.
pub(super) fn agreement_check(b: &BaselineView, p: &Value) -> CheckResult {
    // Say it when some artifact is only equivalent: an auditor reads "not bit for bit".
    let equivalent = crate::provenance::equivalences_of(p);
    let note = if equivalent.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = equivalent
            .iter()
            .map(|e| {
                let passes: Vec<&str> = e.normalizations.iter().map(|n| n.as_str()).collect();
                format!("`{}` after {}", printable(&e.artifact), passes.join(", "))
            })
            .collect();
        format!(
            "; NOT bit for bit: {} equivalent ({}), as the recipe accepts",
            names.len(),
            names.join("; ")
        )
    };
    CheckResult::from_findings(
        CheckId::BaselineProvenanceAgree,
        agreement_with(b, p),
        format!(
            "same commit {}, image, recipe, network none, environment and artifacts{note}",
            printable(&b.predicate.release.commit)
        ),
    )
}

/// `soup-closure`: when the build fetched its dependencies, the SOUP register of the lockfiles
/// the fetch was checked against and the packages the build was given are the same set, each
/// with the same digest. Without a fetch phase there is nothing to close (skipped, said so).
pub(super) fn soup_closure(baseline: &BaselineView, p: &Value) -> CheckResult {
    let Ok(provenance) = ProvenanceView::from_value(p) else {
        return CheckResult::new(
            CheckId::SoupClosure,
            CheckStatus::Fail,
            "the provenance cannot be read",
        );
    };
    // Whether the build fetched is the signed baseline's word, not the provenance's.
    let fetch = match baseline.release_recipe() {
        Some(Ok(r)) => r.fetch,
        _ => {
            return CheckResult::new(
                CheckId::SoupClosure,
                CheckStatus::Fail,
                "the baseline records no valid `[build]` recipe",
            );
        }
    };
    let recorded = provenance.fetched_lockfiles();
    let fetched = provenance.fetched_packages();
    let Some(fetch) = fetch else {
        if recorded.is_some() || !fetched.is_empty() {
            return CheckResult::from_findings(
                CheckId::SoupClosure,
                vec![found!(
                    FindingCode::FetchedNotInSoup,
                    "the provenance records fetched dependencies, but the baseline's recipe fetches nothing"
                )],
                String::new(),
            );
        }
        return CheckResult::new(
            CheckId::SoupClosure,
            CheckStatus::Skipped,
            "the build fetched nothing (no `[build.fetch]`): its dependencies were in the tree or the image",
        );
    };
    let Some(lockfiles) = recorded else {
        return CheckResult::from_findings(
            CheckId::SoupClosure,
            vec![found!(
                FindingCode::SoupNotFetched,
                "the baseline's recipe fetches dependencies, but the provenance records no fetch"
            )],
            String::new(),
        );
    };
    if lockfiles.is_empty() {
        if fetch.fixed.is_some() && fetch.lockfiles.is_empty() {
            return CheckResult::new(
                CheckId::SoupClosure,
                CheckStatus::Skipped,
                "a fixed-output fetch: its store is held to its digest, not to the SOUP register",
            );
        }
        return CheckResult::from_findings(
            CheckId::SoupClosure,
            vec![found!(
                FindingCode::SoupNotFetched,
                "the provenance records a fetch checked against no lockfile"
            )],
            String::new(),
        );
    }
    let mut findings = Vec::new();
    if !fetch.lockfiles.is_empty()
        && fetch.lockfiles.iter().cloned().collect::<BTreeSet<_>>() != lockfiles
    {
        findings.push(found!(
            FindingCode::SoupNotFetched,
            "the store was checked against {}, not the recipe's {}",
            printable(&lockfiles.iter().cloned().collect::<Vec<_>>().join(", ")),
            printable(&fetch.lockfiles.join(", "))
        ));
    }
    let malformed = provenance.malformed_fetched();
    if malformed > 0 {
        findings.push(found!(
            FindingCode::FetchedNotInSoup,
            "{malformed} fetched dependenc(ies) without a purl or a sha256"
        ));
    }

    let mut soup_purls = BTreeSet::new();
    for item in baseline
        .predicate
        .soup
        .iter()
        .filter(|i| lockfiles.contains(&i.manifest))
    {
        // Any file the lockfile accepts (a Python requirement locks a wheel per platform and
        // its sdist) is the component; npm locks by sha512.
        let accepted: Vec<(&str, &str)> = item.accepted_digests().collect();
        // A package without a checksum (a git source) cannot be fetched into a checked store:
        // one that was is flagged below as not in the register.
        let Some((soup_alg, soup_sha)) = accepted.first().copied() else {
            continue;
        };
        soup_purls.insert(item.purl.as_str());
        match fetched.get(item.purl.as_str()) {
            // npm installs an optional package only on the platforms it names.
            None if item.optional => {}
            None => findings.push(found!(
                FindingCode::SoupNotFetched,
                "`{}` ({}) is in the SOUP register but not among the build's inputs",
                printable(&item.purl),
                printable(&item.manifest)
            )),
            Some(files) => {
                let matches = |digests: &BTreeMap<String, String>| {
                    accepted
                        .iter()
                        .any(|(alg, v)| digests.get(*alg).map(String::as_str) == Some(*v))
                };
                for digests in files.iter().filter(|d| !matches(d)) {
                    // The build's digest in the register's algorithm when it has one.
                    let (alg, given) = match digests.get(soup_alg) {
                        Some(v) => (soup_alg, v.as_str()),
                        None => ("sha256", digests.get("sha256").map_or("", String::as_str)),
                    };
                    findings.push(found!(FindingCode::SoupDigestDiffers, "`{}` is {soup_alg}:{} in the SOUP register but {alg}:{} among the build's inputs",
                        printable(&item.purl),
                        printable(soup_sha),
                        printable(given)
                    ));
                }
            }
        }
    }
    for purl in fetched.keys().filter(|p| !soup_purls.contains(p.as_str())) {
        findings.push(found!(
            FindingCode::FetchedNotInSoup,
            "the build was given `{}`, which the SOUP register does not list",
            printable(purl)
        ));
    }
    CheckResult::from_findings(
        CheckId::SoupClosure,
        findings,
        format!(
            "the {} package(s) the build was given are the SOUP register of {}",
            fetched.len(),
            printable(&lockfiles.iter().cloned().collect::<Vec<_>>().join(", "))
        ),
    )
}

/// The reference environment as reprove fixed it before it set
/// [`reprove_build_types::SOURCE_COMMIT_VAR`] and [`reprove_build_types::SOURCE_TAG_VAR`].
fn without_source_vars(env: &Value) -> Value {
    let mut env = env.clone();
    if let Value::Object(m) = &mut env {
        m.remove(reprove_build_types::SOURCE_COMMIT_VAR);
        m.remove(reprove_build_types::SOURCE_TAG_VAR);
    }
    env
}
