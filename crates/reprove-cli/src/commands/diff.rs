//! `reprove diff`: what changed between two releases, with each change's authorization.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use reprove_attest::verify::Signer;
use reprove_baseline::BaselineView;
use reprove_baseline::diff::{BaselineDiff, CommitChange, ItemChangeKind, SoupChangeKind};
use reprove_release::evidence;
use reprove_source::{Repository, Tag};

use super::read_baseline_arg;
use crate::args::signers;
use crate::outcome::Outcome;
use crate::output::{note, stdout};

/// What changed between two releases, with each change's authorization
///
/// OLD and NEW are baseline files (manifest or signed bundle) or tags. Configuration
/// items added, removed and modified (with both digests and the commits that touched
/// them), SOUP added, removed, upgraded or downgraded, images changed, and every commit
/// between them with its authorization. Exit 1 when an unauthorized change breaks the
/// policy.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove diff v1.3.0 v1.4.0\n  reprove diff v1.3.0 v1.4.0 --format markdown\n  reprove diff evidence/v1.3.0/baseline.sigstore.json evidence/v1.4.0/baseline.sigstore.json --key release.pub"
)]
pub struct DiffArgs {
    /// The older release: a tag, or a baseline file (manifest or signed bundle).
    old: String,
    /// The newer release: a tag, or a baseline file (manifest or signed bundle).
    new: String,
    /// Verify baseline bundles with this key (repeatable); without it they are read
    /// unverified, and a note says so.
    #[arg(long = "key", value_name = "PUB")]
    keys: Vec<PathBuf>,
    /// Output format: text for people, Markdown (for a change record), or JSON.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
}

/// A baseline named on the command line: a file (manifest or bundle) or a tag.
fn load_baseline(
    repo: Option<&Repository>,
    arg: &str,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<BaselineView> {
    let path = Path::new(arg);
    // A file named like a tag must not stand in for the tag (a committed file `v1.0.0` holding
    // another release's baseline): the argument has to say which it means.
    if path.exists()
        && let Some(repo) = repo
        && let Ok(tag) = arg.parse::<Tag>()
        && repo.resolve_tag(&tag).is_ok()
    {
        bail!(
            "`{arg}` is both a file and a tag; write `./{arg}` for the file, or run elsewhere for the tag"
        );
    }
    if path.exists() {
        read_baseline_arg(path, signers, root)
    } else {
        let Some(repo) = repo else {
            bail!("`{arg}` is neither a file nor (outside a repository) a tag");
        };
        let tag: Tag = arg
            .parse()
            .with_context(|| format!("`{arg}` is neither a file nor a tag"))?;
        // With a key only signed baselines count: a tag means its signed baseline in the
        // evidence, never one assembled from this clone.
        if !signers.is_empty() {
            let signed = evidence::default_dir(repo.root(), tag.as_str()).join(evidence::BASELINE);
            if !signed.exists() {
                bail!(
                    "with --key only signed baselines are accepted, and `{}` does not exist (name the signed baseline file)",
                    signed.display()
                );
            }
            let view = read_baseline_arg(&signed, signers, root)?;
            if view.predicate.release.tag != tag.as_str() {
                bail!(
                    "`{}` is the baseline of `{}`, not `{tag}`",
                    signed.display(),
                    view.predicate.release.tag
                );
            }
            return Ok(view);
        }
        let b = reprove_baseline::assemble(
            repo,
            &tag,
            &reprove_baseline::Options {
                previous: None,
                artifacts: None,
                progress: &|_| {},
            },
        )?;
        let value = serde_json::to_value(&b.statement)?;
        BaselineView::from_value(&value).map_err(|e| anyhow::anyhow!("`{arg}`: {e}"))
    }
}

fn item_kind(k: ItemChangeKind) -> &'static str {
    match k {
        ItemChangeKind::Added => "added",
        ItemChangeKind::Removed => "removed",
        ItemChangeKind::Modified => "modified",
        ItemChangeKind::ModeChanged => "mode",
    }
}

fn soup_kind(k: SoupChangeKind) -> &'static str {
    match k {
        SoupChangeKind::Added => "added",
        SoupChangeKind::Removed => "removed",
        SoupChangeKind::Upgraded => "upgraded",
        SoupChangeKind::Downgraded => "DOWNGRADED",
        SoupChangeKind::Changed => "changed",
    }
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

fn diff_text(d: &BaselineDiff, md: bool) -> String {
    // Everything below comes from the repository (paths, subjects, package names): in Markdown
    // it is escaped so it cannot inject markup, links or images.
    let e = |t: &str| -> String {
        if md {
            reprove_escape::markdown(t)
        } else {
            reprove_escape::terminal(t)
        }
    };
    let bullet = if md { "- " } else { "  " };
    let mut s = String::new();
    let h = |s: &mut String, t: &str| {
        if md {
            s.push_str(&format!("\n## {t}\n\n"));
        } else {
            s.push_str(&format!("{t}:\n"));
        }
    };
    if md {
        s.push_str(&format!(
            "# Changes from {} to {}\n\n{} ({}) → {} ({})\n",
            e(&d.old.tag),
            e(&d.new.tag),
            e(&d.old.tag),
            short(&d.old.commit),
            e(&d.new.tag),
            short(&d.new.commit)
        ));
    } else {
        s.push_str(&format!(
            "{} ({}) → {} ({})\n",
            e(&d.old.tag),
            short(&d.old.commit),
            e(&d.new.tag),
            short(&d.new.commit)
        ));
    }
    h(
        &mut s,
        &format!("configuration items ({} changed)", d.items.len()),
    );
    if md && !d.items.is_empty() {
        s.push_str("| change | path | class | old | new | commits |\n|---|---|---|---|---|---|\n");
    }
    for i in &d.items {
        let commits = i
            .commits
            .iter()
            .map(|c| short(c))
            .collect::<Vec<_>>()
            .join(" ");
        let old = i.old.as_deref().map(short).unwrap_or("-");
        let new = i.new.as_deref().map(short).unwrap_or("-");
        if md {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                item_kind(i.change),
                e(&i.path),
                e(&i.class),
                e(old),
                e(new),
                e(&commits)
            ));
        } else {
            s.push_str(&format!(
                "  {:9} {}  {} → {}{}\n",
                item_kind(i.change),
                e(&i.path),
                e(old),
                e(new),
                if commits.is_empty() {
                    String::new()
                } else {
                    format!("  by {commits}")
                }
            ));
        }
    }
    h(&mut s, &format!("SOUP ({} changed)", d.soup.len()));
    for c in &d.soup {
        s.push_str(&format!(
            "{bullet}{:10} {}/{} {} → {}{}\n",
            soup_kind(c.change),
            e(&c.ecosystem),
            e(&c.name),
            e(c.old_version.as_deref().unwrap_or("-")),
            e(c.new_version.as_deref().unwrap_or("-")),
            if c.manifest.is_empty() {
                String::new()
            } else {
                format!(" ({})", e(&c.manifest))
            }
        ));
    }
    h(&mut s, &format!("images ({} changed)", d.images.len()));
    for c in &d.images {
        s.push_str(&format!(
            "{bullet}{}: {} → {}\n",
            e(&c.file),
            e(c.old.as_deref().unwrap_or("-")),
            e(c.new.as_deref().unwrap_or("-"))
        ));
    }
    match &d.commits {
        Some(commits) => {
            h(&mut s, &format!("commits ({})", commits.len()));
            for c in commits {
                s.push_str(&format!(
                    "{bullet}{} {} {}{}\n",
                    short(&c.id),
                    if c.authorized {
                        "authorized  "
                    } else {
                        "UNAUTHORIZED"
                    },
                    e(&c.subject),
                    if c.evidence.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", e(&c.evidence.join(", ")))
                    }
                ));
            }
        }
        None => h(&mut s, "commits: not traced"),
    }
    if !d.findings.is_empty() {
        h(&mut s, "findings");
        for f in &d.findings {
            s.push_str(&format!("{bullet}{}\n", e(&f.to_string())));
        }
    }
    s
}

/// `reprove diff`.
pub fn run(dir: &Path, args: DiffArgs) -> Result<Outcome> {
    let repo = super::optional_repo(dir)?;
    let signers = signers(&args.keys, None)?;
    let old = load_baseline(repo.as_ref(), &args.old, &signers, None)?;
    let new = load_baseline(repo.as_ref(), &args.new, &signers, None)?;
    let mut d = reprove_baseline::diff::diff(&old, &new);
    if let Some(repo) = &repo
        && let (Ok(o), Ok(n)) = (
            old.predicate
                .release
                .commit
                .parse::<reprove_source::ObjectId>(),
            new.predicate
                .release
                .commit
                .parse::<reprove_source::ObjectId>(),
        )
        && repo.has_object(&o)
        && repo.has_object(&n)
    {
        // Both histories, every commit checked against its id (a rewritten parent line must
        // not hide a rollback).
        let history = repo.history(&[&o, &n])?;
        // NEW an ancestor of OLD: the change set below is empty or runs backwards.
        // OLD an ancestor of NEW (the usual case) settles it even in a shallow clone: history
        // has no cycles.
        if o != n && history.ancestry(&o, &n) != reprove_source::Ancestry::Yes {
            match history.ancestry(&n, &o) {
                reprove_source::Ancestry::Yes => {
                    let undone = history.range(Some(&n), &o).ids.len();
                    d.mark_rollback(&format!("is an ancestor ({undone} commit(s) behind) of"));
                }
                reprove_source::Ancestry::Unknown => d.mark_ancestry_unknown(),
                reprove_source::Ancestry::No => {}
            }
        }
        let touched = repo.paths_touched(&history, Some(&o), &n)?;
        d.attach_commits(&touched);
        if d.commits.is_none() {
            let policy: reprove_baseline::Changes =
                serde_json::from_value(policy_only(&new.predicate.policy)).with_context(|| {
                    format!(
                        "the change policy recorded in the baseline of `{}` cannot be read",
                        new.predicate.release.tag
                    )
                })?;
            let trace = reprove_baseline::trace_between(repo, &o, &n, &policy)?;
            let commits = trace
                .entries
                .iter()
                .map(|e| CommitChange {
                    id: e.id.clone(),
                    subject: e.subject.clone(),
                    author: e.author.clone(),
                    commit_time: e.commit_time.clone(),
                    authorized: e.authorized,
                    evidence: e.evidence.clone(),
                    change_requests: e.change_requests.clone(),
                })
                .collect();
            d.findings
                .retain(|f| f.code != reprove_baseline::diff::DiffCode::TraceGap);
            d.set_traced_commits(commits, trace.complete);
        }
    }
    let out = match args.format {
        DiffFormat::Json => crate::output::json_doc(crate::output::JsonDoc::Diff, &d)?,
        DiffFormat::Text => reprove_escape::terminal_block(&diff_text(&d, false)).into_bytes(),
        DiffFormat::Markdown => diff_text(&d, true).into_bytes(),
    };
    stdout(&out)?;
    Ok(if d.policy_fails() {
        Outcome::Fail
    } else if d.ancestry_unknown {
        note(
            "a shallow clone hides part of the history: whether the new release rolls the old one back could not be checked (run `git fetch --unshallow`)",
        );
        Outcome::CouldNotCheck
    } else if !d.complete && d.require_authorization {
        // The policy asks for authorization and the commits were not all traced: not a pass.
        note(
            "the commits between the releases were not all traced (run inside a full clone); the change policy could not be checked",
        );
        Outcome::CouldNotCheck
    } else {
        Outcome::Pass
    })
}

/// The `[changes]` keys of a baseline's `policy` (which also carries `result`).
fn policy_only(p: &serde_json::Value) -> serde_json::Value {
    let mut m = p.as_object().cloned().unwrap_or_default();
    m.remove("result");
    serde_json::Value::Object(m)
}
