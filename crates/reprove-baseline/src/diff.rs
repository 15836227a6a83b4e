//! What changed between two baselines (IEC 62304 §8.1.3, §8.2.4): configuration items,
//! SOUP and images, and the commits that made the changes with their authorization.
//! Pure: two [`BaselineView`]s in, a [`BaselineDiff`] out. Which commit touched which path is
//! the caller's to add (it needs the repository).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::view::{BaselineView, ChangeView, ItemView, SoupView};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRef {
    pub tag: String,
    pub commit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemChangeKind {
    Added,
    Removed,
    Modified,
    /// Same content, other mode (e.g. became executable).
    ModeChanged,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemChange {
    pub path: String,
    pub change: ItemChangeKind,
    pub class: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// The commits in the range that touched the path (filled in when a repository is at hand).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SoupChangeKind {
    Added,
    Removed,
    Upgraded,
    Downgraded,
    /// Same version, other checksum or source: worth a look.
    Changed,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoupChange {
    /// The lockfile (or image file) that declares it; changes pair within one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    pub ecosystem: String,
    pub name: String,
    pub change: SoupChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageChange {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// One commit between the releases.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitChange {
    pub id: String,
    pub subject: String,
    pub author: String,
    pub commit_time: String,
    pub authorized: bool,
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub change_requests: Vec<String>,
}

impl From<&ChangeView> for CommitChange {
    fn from(c: &ChangeView) -> Self {
        CommitChange {
            id: c.id.clone(),
            subject: c.subject.clone(),
            author: c.author.clone(),
            commit_time: c.commit_time.clone(),
            authorized: c.authorized,
            evidence: c.evidence.clone(),
            change_requests: c.change_requests.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineDiff {
    pub old: ReleaseRef,
    pub new: ReleaseRef,
    pub items: Vec<ItemChange>,
    pub soup: Vec<SoupChange>,
    pub images: Vec<ImageChange>,
    /// The commits from `old` to `new` with their authorization; `None` when neither a
    /// repository nor the new baseline's own trace covers exactly that range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<Vec<CommitChange>>,
    /// Whether the change policy requires authorization (from the new baseline).
    pub require_authorization: bool,
    /// False when the commits are missing or a shallow clone cut the trace short.
    pub complete: bool,
    /// `unauthorized-change: …` for each unauthorized commit, and any gap in the record.
    pub findings: Vec<DiffFinding>,
    /// NEW is older than OLD (an earlier version, or an ancestor commit): the arguments are
    /// swapped, or NEW rolls OLD back. The change set then lists what was undone, not added.
    pub rollback: bool,
    /// A shallow clone hides history needed to tell whether NEW is an ancestor of OLD: no
    /// verdict on a rollback is possible (exit 2).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ancestry_unknown: bool,
}

/// The stable code of a diff finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiffCode {
    /// NEW is older than OLD: swapped arguments, or a rollback.
    Rollback,
    /// A shallow clone hides history the diff needs.
    IncompleteHistory,
    /// The new baseline's trace does not cover exactly OLD..NEW.
    TraceGap,
    /// A commit without the authorization the policy asks for.
    UnauthorizedChange,
}

impl DiffCode {
    pub const ALL: [DiffCode; 4] = [
        DiffCode::Rollback,
        DiffCode::IncompleteHistory,
        DiffCode::TraceGap,
        DiffCode::UnauthorizedChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiffCode::Rollback => "rollback",
            DiffCode::IncompleteHistory => "incomplete-history",
            DiffCode::TraceGap => "trace-gap",
            DiffCode::UnauthorizedChange => "unauthorized-change",
        }
    }
}

/// One finding of a diff: its code and what was found. Printed as `code: message`; in JSON an
/// object whose message carries no Markdown backticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffFinding {
    pub code: DiffCode,
    pub message: String,
}

impl DiffFinding {
    fn new(code: DiffCode, message: impl Into<String>) -> DiffFinding {
        DiffFinding {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DiffFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl Serialize for DiffFinding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("DiffFinding", 2)?;
        st.serialize_field("code", self.code.as_str())?;
        st.serialize_field("message", &self.message.replace('`', ""))?;
        st.end()
    }
}

impl BaselineDiff {
    /// Whether an unauthorized change breaks the policy, or the diff runs backwards (exit 1).
    pub fn policy_fails(&self) -> bool {
        self.rollback
            || self.require_authorization
                && self
                    .commits
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| !c.authorized))
    }

    /// Records that NEW is older than OLD, and why (`reason`): a clean-looking change set of a
    /// swapped pair or a rollback must not read as a release's changes.
    pub fn mark_rollback(&mut self, reason: &str) {
        if !self.rollback {
            self.rollback = true;
            self.findings.push(DiffFinding::new(
                DiffCode::Rollback,
                format!(
                    "`{}` {reason} `{}`: the arguments are swapped, or `{}` rolls back what `{}` released",
                    self.new.tag, self.old.tag, self.new.tag, self.old.tag
                ),
            ));
        }
    }

    /// Records that the repository cannot tell whether NEW is an ancestor of OLD.
    pub fn mark_ancestry_unknown(&mut self) {
        if !self.ancestry_unknown {
            self.ancestry_unknown = true;
            self.complete = false;
            self.findings.push(DiffFinding::new(
                DiffCode::IncompleteHistory,
                format!(
                    "a shallow clone hides the history needed to tell whether `{}` rolls back `{}`; run `git fetch --unshallow`",
                    self.new.tag, self.old.tag
                ),
            ));
        }
    }

    /// Attaches the commits that touched each changed path.
    pub fn attach_commits(&mut self, touched: &BTreeMap<String, Vec<String>>) {
        for item in &mut self.items {
            if let Some(c) = touched.get(&item.path) {
                item.commits = c.clone();
            }
        }
    }

    /// Uses a trace computed from the repository for exactly `old..new`.
    pub fn set_commits(&mut self, commits: Vec<CommitChange>) {
        self.set_traced_commits(commits, true);
    }

    /// Commits traced afresh; `complete` is false when a shallow clone cut the range short,
    /// and then the trace fails a policy that needs every commit authorized.
    pub fn set_traced_commits(&mut self, commits: Vec<CommitChange>, complete: bool) {
        self.commits = Some(commits);
        self.complete = complete;
        if !complete {
            self.findings.push(DiffFinding::new(
                DiffCode::IncompleteHistory,
                "a shallow clone cut the commits between the releases short; run `git fetch --unshallow`",
            ));
        }
        self.refresh_findings();
    }

    fn refresh_findings(&mut self) {
        self.findings
            .retain(|f| f.code != DiffCode::UnauthorizedChange);
        if let Some(commits) = &self.commits {
            for c in commits.iter().filter(|c| !c.authorized) {
                self.findings.push(DiffFinding::new(
                    DiffCode::UnauthorizedChange,
                    format!(
                        "commit `{}` \"{}\" has no authorization",
                        c.id.get(..12).unwrap_or(&c.id),
                        c.subject
                    ),
                ));
            }
        }
    }
}

/// Compares versions component-wise, numerically where both parts are numbers.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parts(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.trim_start_matches(['v', '=']).chars() {
            let digit = c.is_ascii_digit();
            if !c.is_ascii_alphanumeric() {
                out.push((false, String::new()));
                continue;
            }
            match out.last_mut() {
                Some((d, cur)) if *d == digit && !cur.is_empty() => cur.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out.retain(|(_, s)| !s.is_empty());
        out
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let o = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((true, _), (false, _)) => Ordering::Greater,
            ((false, _), (true, _)) => Ordering::Less,
            ((false, x), (false, y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    // `1.0.0-rc.1` before `1.0.0` (a pre-release, SemVer §11); `1.0.0.1` after it.
    match (pa.get(pb.len()), pb.get(pa.len())) {
        (Some((false, _)), _) => Ordering::Less,
        (_, Some((false, _))) => Ordering::Greater,
        _ => pa.len().cmp(&pb.len()),
    }
}

fn items(v: &BaselineView) -> BTreeMap<&str, &ItemView> {
    v.predicate
        .configuration_items
        .iter()
        .map(|i| (i.path.as_str(), i))
        .collect()
}

/// SOUP by (lockfile, ecosystem, name): a package is paired only within the lockfile that
/// declares it — one added to `fuzz/Cargo.lock` is not a change to what `Cargo.lock` ships.
fn soup(v: &BaselineView) -> BTreeMap<(&str, &str, &str), Vec<&SoupView>> {
    let mut m: BTreeMap<(&str, &str, &str), Vec<&SoupView>> = BTreeMap::new();
    for s in &v.predicate.soup {
        m.entry((s.manifest.as_str(), s.ecosystem.as_str(), s.name.as_str()))
            .or_default()
            .push(s);
    }
    m
}

/// The differences from `old` to `new`.
pub fn diff(old: &BaselineView, new: &BaselineView) -> BaselineDiff {
    let (oi, ni) = (items(old), items(new));
    let mut item_changes = Vec::new();
    let paths: BTreeSet<&str> = oi.keys().chain(ni.keys()).copied().collect();
    for p in paths {
        let change = match (oi.get(p), ni.get(p)) {
            (None, Some(n)) => Some((ItemChangeKind::Added, None, Some(n.content_id()), &n.class)),
            (Some(o), None) => Some((
                ItemChangeKind::Removed,
                Some(o.content_id()),
                None,
                &o.class,
            )),
            (Some(o), Some(n)) if o.content_id() != n.content_id() || o.kind != n.kind => Some((
                ItemChangeKind::Modified,
                Some(o.content_id()),
                Some(n.content_id()),
                &n.class,
            )),
            (Some(o), Some(n)) if o.mode != n.mode => Some((
                ItemChangeKind::ModeChanged,
                Some(o.mode.clone()),
                Some(n.mode.clone()),
                &n.class,
            )),
            _ => None,
        };
        if let Some((change, old, new, class)) = change {
            item_changes.push(ItemChange {
                path: p.to_owned(),
                change,
                class: class.clone(),
                old,
                new,
                commits: Vec::new(),
            });
        }
    }

    let (os, ns) = (soup(old), soup(new));
    let mut soup_changes = Vec::new();
    let keys: BTreeSet<(&str, &str, &str)> = os.keys().chain(ns.keys()).copied().collect();
    for k in keys {
        let ov: BTreeSet<&str> = os
            .get(&k)
            .into_iter()
            .flatten()
            .map(|s| s.version.as_str())
            .collect();
        let nv: BTreeSet<&str> = ns
            .get(&k)
            .into_iter()
            .flatten()
            .map(|s| s.version.as_str())
            .collect();
        let supplier = ns
            .get(&k)
            .or(os.get(&k))
            .and_then(|v| v.first())
            .and_then(|s| s.supplier.clone());
        let push = |change, old: Option<&str>, new: Option<&str>, out: &mut Vec<SoupChange>| {
            out.push(SoupChange {
                manifest: k.0.to_owned(),
                ecosystem: k.1.to_owned(),
                name: k.2.to_owned(),
                change,
                old_version: old.map(str::to_owned),
                new_version: new.map(str::to_owned),
                supplier: supplier.clone(),
            });
        };
        match (ov.is_empty(), nv.is_empty()) {
            (true, false) => {
                for v in &nv {
                    push(SoupChangeKind::Added, None, Some(v), &mut soup_changes);
                }
            }
            (false, true) => {
                for v in &ov {
                    push(SoupChangeKind::Removed, Some(v), None, &mut soup_changes);
                }
            }
            _ => {
                // Versions kept: flag a changed checksum or source.
                let fp = |m: &BTreeMap<(&str, &str, &str), Vec<&SoupView>>,
                          v: &str|
                 -> BTreeSet<String> {
                    m.get(&k)
                        .into_iter()
                        .flatten()
                        .filter(|s| s.version == v)
                        .map(|s| {
                            format!(
                                "{}|{}",
                                s.checksum
                                    .as_ref()
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                                s.source.clone().unwrap_or_default()
                            )
                        })
                        .collect()
                };
                for v in ov.intersection(&nv) {
                    if fp(&os, v) != fp(&ns, v) {
                        push(SoupChangeKind::Changed, Some(v), Some(v), &mut soup_changes);
                    }
                }
                // Versions that left and came, paired in version order (1.5→1.4 and 2.0→2.1
                // from {1.5, 2.0} → {1.4, 2.1}); the unpaired rest were added or removed.
                let mut gone: Vec<&str> = ov.difference(&nv).copied().collect();
                let mut came: Vec<&str> = nv.difference(&ov).copied().collect();
                gone.sort_by(|a, b| compare_versions(a, b));
                came.sort_by(|a, b| compare_versions(a, b));
                let paired = gone.len().min(came.len());
                // Pair the highest ones: extra old versions are removals of the oldest.
                let (g_extra, g_pair) = gone.split_at(gone.len() - paired);
                let (c_extra, c_pair) = came.split_at(came.len() - paired);
                for (o, n) in g_pair.iter().zip(c_pair) {
                    let kind = if compare_versions(n, o) == Ordering::Less {
                        SoupChangeKind::Downgraded
                    } else {
                        SoupChangeKind::Upgraded
                    };
                    push(kind, Some(o), Some(n), &mut soup_changes);
                }
                for o in g_extra {
                    push(SoupChangeKind::Removed, Some(o), None, &mut soup_changes);
                }
                for n in c_extra {
                    push(SoupChangeKind::Added, None, Some(n), &mut soup_changes);
                }
            }
        }
    }

    let refs = |v: &BaselineView| -> BTreeMap<String, BTreeSet<String>> {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for i in &v.predicate.images {
            m.entry(i.file.clone())
                .or_default()
                .insert(i.reference.clone());
        }
        m
    };
    let (oimg, nimg) = (refs(old), refs(new));
    let mut image_changes = Vec::new();
    let files: BTreeSet<&String> = oimg.keys().chain(nimg.keys()).collect();
    for f in files {
        let empty = BTreeSet::new();
        let o = oimg.get(f).unwrap_or(&empty);
        let n = nimg.get(f).unwrap_or(&empty);
        let gone: Vec<&String> = o.difference(n).collect();
        let mut came: Vec<&String> = n.difference(o).collect();
        // A change is one repository moving to another tag or digest; two different images
        // are one removed and one added, never an "upgrade" of one into the other.
        let repository = |r: &str| {
            r.parse::<reprove_oci::ImageRef>()
                .map(|i| i.name())
                .unwrap_or_else(|_| r.to_owned())
        };
        for g in gone {
            let paired = came
                .iter()
                .position(|c| repository(c) == repository(g))
                .map(|i| came.remove(i));
            image_changes.push(ImageChange {
                file: f.clone(),
                old: Some(g.clone()),
                new: paired.cloned(),
            });
        }
        for c in came {
            image_changes.push(ImageChange {
                file: f.clone(),
                old: None,
                new: Some(c.clone()),
            });
        }
    }

    let require_authorization = new
        .predicate
        .policy
        .get("require-authorization")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let mut findings = Vec::new();
    let trace = &new.predicate.changes;
    let covers = trace
        .base
        .as_ref()
        .is_some_and(|b| b.commit == old.predicate.release.commit);
    let commits = if covers {
        Some(trace.commits.iter().map(CommitChange::from).collect())
    } else {
        findings.push(DiffFinding::new(DiffCode::TraceGap, format!(
            "the baseline of `{}` traces changes since {}, not since `{}`; run inside the repository to trace the whole range",
            new.predicate.release.tag,
            trace
                .base
                .as_ref()
                .map(|b| format!("`{}`", b.tag))
                .unwrap_or_else(|| "the first commit".into()),
            old.predicate.release.tag
        )));
        None
    };
    if !trace.complete && covers {
        findings.push(DiffFinding::new(
            DiffCode::IncompleteHistory,
            "the new baseline's trace was cut short by a shallow clone",
        ));
    }
    let mut d = BaselineDiff {
        old: ReleaseRef {
            tag: old.predicate.release.tag.clone(),
            commit: old.predicate.release.commit.clone(),
        },
        new: ReleaseRef {
            tag: new.predicate.release.tag.clone(),
            commit: new.predicate.release.commit.clone(),
        },
        items: item_changes,
        soup: soup_changes,
        images: image_changes,
        // Commits come from the trace only when it covers the range.
        complete: commits.is_some() && trace.complete,
        commits,
        require_authorization,
        findings,
        rollback: false,
        ancestry_unknown: false,
    };
    d.refresh_findings();
    if let (Some(o), Some(n)) = (
        reprove_source::VersionKey::parse(&d.old.tag),
        reprove_source::VersionKey::parse(&d.new.tag),
    ) && n < o
    {
        d.mark_rollback("is an older version than");
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: SOUP pairs within one lockfile: a package added to `fuzz/Cargo.lock` is an
    /// addition there, not an upgrade of the shipped one in `Cargo.lock`.
    #[test]
    fn soup_pairs_within_one_lockfile() {
        let with_soup = |soup: &[(&str, &str, &str)]| {
            let mut v = view("v1", "c1", None, &[], &[]);
            v.predicate.soup = soup
                .iter()
                .map(|(m, n, ver)| {
                    serde_json::from_value(serde_json::json!({
                        "name": n, "version": ver, "ecosystem": "cargo", "manifest": m
                    }))
                    .unwrap()
                })
                .collect();
            v
        };
        let old = with_soup(&[("Cargo.lock", "serde", "1.0.0")]);
        let new = with_soup(&[
            ("Cargo.lock", "serde", "1.0.0"),
            ("fuzz/Cargo.lock", "serde", "1.0.200"),
        ]);
        let d = diff(&old, &new);
        assert_eq!(d.soup.len(), 1, "{:?}", d.soup);
        assert_eq!(d.soup[0].manifest, "fuzz/Cargo.lock");
        assert_eq!(d.soup[0].change, SoupChangeKind::Added);
    }

    /// Issue 13: two different images are one removed and one added, never an upgrade of one
    /// into the other; the same repository at another tag is a change.
    #[test]
    fn images_pair_only_within_one_repository() {
        let with_images = |images: &[&str]| {
            let mut v = view("v1", "c1", None, &[], &[]);
            v.predicate.images = images
                .iter()
                .map(|r| {
                    serde_json::from_value(
                        serde_json::json!({"file": "Dockerfile", "reference": r}),
                    )
                    .unwrap()
                })
                .collect();
            v
        };
        let old = with_images(&["alpine:3.18", "redis:7"]);
        let new = with_images(&["alpine:3.19", "debian:12"]);
        let d = diff(&old, &new);
        let pairs: Vec<(Option<&str>, Option<&str>)> = d
            .images
            .iter()
            .map(|c| (c.old.as_deref(), c.new.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                (Some("alpine:3.18"), Some("alpine:3.19")),
                (Some("redis:7"), None),
                (None, Some("debian:12")),
            ]
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10.0", "1.9.3"), Ordering::Greater);
        assert_eq!(compare_versions("v2.0", "2.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0-rc.1", "1.0.0"), Ordering::Less);
        assert_eq!(compare_versions("1.0.0.1", "1.0.0"), Ordering::Greater);
        assert_eq!(compare_versions("0.9", "0.10"), Ordering::Less);
    }

    fn view(
        tag: &str,
        commit: &str,
        base: Option<&str>,
        items: &[(&str, &str)],
        soup: &[(&str, &str)],
    ) -> BaselineView {
        let v = serde_json::json!({
            "predicateType": crate::BASELINE_PREDICATE_TYPE,
            "subject": [],
            "predicate": {
                "release": {"tag": tag, "commit": commit, "sourceDateEpoch": 0},
                "policy": {"require-authorization": true, "result": "pass"},
                "configurationItems": items.iter().map(|(p, h)| serde_json::json!({"path": p, "mode": "100644", "kind": "file", "class": "source", "sha256": h})).collect::<Vec<_>>(),
                "soup": soup.iter().map(|(n, v)| serde_json::json!({"name": n, "version": v, "ecosystem": "cargo"})).collect::<Vec<_>>(),
                "images": [],
                "changes": {
                    "base": base.map(|b| serde_json::json!({"tag": "v1", "commit": b})),
                    "complete": true,
                    "commits": [
                        {"id": "c2", "subject": "reviewed", "authorized": true, "evidence": ["trailer:Reviewed-by"]},
                        {"id": "c3", "subject": "sneaky", "authorized": false}
                    ]
                },
                "findings": []
            }
        });
        BaselineView::from_value(&v).unwrap()
    }

    #[test]
    fn items_soup_and_commits() {
        let old = view(
            "v1",
            "c1",
            None,
            &[("a", "1"), ("b", "2"), ("gone", "3")],
            &[("serde", "1.0.1"), ("old", "1")],
        );
        let new = view(
            "v2",
            "c3",
            Some("c1"),
            &[("a", "1"), ("b", "9"), ("new", "4")],
            &[("serde", "1.0.200"), ("fresh", "0.1")],
        );
        let d = diff(&old, &new);
        let items: Vec<(&str, ItemChangeKind)> = d
            .items
            .iter()
            .map(|i| (i.path.as_str(), i.change))
            .collect();
        assert_eq!(
            items,
            [
                ("b", ItemChangeKind::Modified),
                ("gone", ItemChangeKind::Removed),
                ("new", ItemChangeKind::Added)
            ]
        );
        let soup: Vec<(&str, SoupChangeKind)> =
            d.soup.iter().map(|s| (s.name.as_str(), s.change)).collect();
        assert_eq!(
            soup,
            [
                ("fresh", SoupChangeKind::Added),
                ("old", SoupChangeKind::Removed),
                ("serde", SoupChangeKind::Upgraded)
            ]
        );
        assert_eq!(d.commits.as_ref().unwrap().len(), 2);
        assert!(d.policy_fails());
        assert!(
            d.findings[0]
                .to_string()
                .starts_with("unauthorized-change: commit `c3`"),
            "{:?}",
            d.findings
        );
        // A downgrade is named as one.
        let back = diff(&new, &old);
        assert!(
            back.soup
                .iter()
                .any(|s| s.name == "serde" && s.change == SoupChangeKind::Downgraded)
        );
        // The old baseline's trace does not cover new..old: a gap, said.
        assert!(back.commits.is_none());
        assert!(back.findings.iter().any(|f| f.code == DiffCode::TraceGap));
    }

    #[test]
    fn several_versions_of_one_package_are_all_accounted_for() {
        let old = view(
            "v1",
            "c1",
            None,
            &[],
            &[("dup", "1.5.0"), ("dup", "2.0.0"), ("keep", "1.0.0")],
        );
        let new = view(
            "v2",
            "c3",
            Some("c1"),
            &[],
            &[("dup", "1.4.0"), ("dup", "2.1.0"), ("keep", "1.0.0")],
        );
        let d = diff(&old, &new);
        let got: Vec<(&str, Option<&str>, Option<&str>, SoupChangeKind)> = d
            .soup
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.old_version.as_deref(),
                    s.new_version.as_deref(),
                    s.change,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "dup",
                    Some("1.5.0"),
                    Some("1.4.0"),
                    SoupChangeKind::Downgraded
                ),
                (
                    "dup",
                    Some("2.0.0"),
                    Some("2.1.0"),
                    SoupChangeKind::Upgraded
                ),
            ]
        );
    }
}
