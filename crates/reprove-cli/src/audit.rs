//! `reprove status`, `reprove diff` and `reprove report`: configuration status accounting and
//! the audit pack.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use reprove_attest::verify::Signer;
use reprove_baseline::BaselineView;
use reprove_baseline::diff::{BaselineDiff, CommitChange, ItemChangeKind, SoupChangeKind};
use reprove_release::evidence;
use reprove_release::status::{ReleaseState, ReleaseStatus, Signatures};
use reprove_source::{Repository, Tag, rfc3339_utc, unix_now};

use crate::commands::{Outcome, TextOrJson};
use crate::output::{note, stdout};

/// The registry check of image pins for --check-images.
pub fn image_check(insecure: &[String]) -> Result<reprove_release::verify::ImageCheck> {
    Ok(reprove_release::verify::ImageCheck {
        client: reprove_oci::registry::RegistryClient::new(reprove_oci::registry::ClientOptions {
            insecure_registries: insecure.to_vec(),
            ..Default::default()
        })?,
        platform: reprove_oci::check::default_platform(),
    })
}

/// Who may have signed, from `--key`s and an identity.
pub fn signers(keys: &[PathBuf], identity: Option<(String, String)>) -> Result<Vec<Signer>> {
    let mut out = Vec::new();
    for k in keys {
        out.push(Signer::Key {
            key: crate::sign::read_public_key(k)?,
        });
    }
    if let Some((identity, issuer)) = identity {
        out.push(Signer::Identity { identity, issuer });
    }
    Ok(out)
}

/// A trusted root JSON given with --trusted-root (a regular file of at most 16 MiB).
pub fn read_root(p: Option<&Path>) -> Result<Option<String>> {
    p.map(|p| {
        reprove_digest::read_regular_text(p, 16 << 20)
            .with_context(|| format!("failed to read the trusted root `{}`", p.display()))
    })
    .transpose()
}

pub struct StatusArgs {
    pub evidence_root: Option<PathBuf>,
    pub keys: Vec<PathBuf>,
    pub identity: Option<(String, String)>,
    pub trusted_root: Option<PathBuf>,
    pub check_images: bool,
    pub insecure_registry: Vec<String>,
    pub format: TextOrJson,
}

fn findings_text(s: &ReleaseStatus) -> String {
    if s.findings.is_empty() {
        return "—".into();
    }
    s.findings
        .iter()
        .map(|(code, n)| format!("{n} {}", reprove_escape::terminal(code)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `reprove status`.
pub fn status(dir: &Path, args: StatusArgs) -> Result<Outcome> {
    let repo = Repository::discover(dir)?;
    let root = args
        .evidence_root
        .clone()
        .unwrap_or_else(|| repo.root().join("evidence"));
    let signers = signers(&args.keys, args.identity.clone())?;
    let images = args
        .check_images
        .then(|| image_check(&args.insecure_registry))
        .transpose()?;
    let checked = !signers.is_empty();
    let opts = reprove_release::status::Options {
        evidence_root: root.clone(),
        signers,
        trusted_root: read_root(args.trusted_root.as_deref())?,
        images,
    };
    let list = reprove_release::status::status(&repo, &opts)?;
    if let Some(ic) = &opts.images {
        for n in ic.client.notes() {
            note(&format!("note: {n}"));
        }
    }
    // Evidence that fails a check, and releases that failed their own checks, are both
    // something a dashboard must not show green.
    let invalid = list
        .iter()
        .any(|s| matches!(s.state, ReleaseState::Invalid | ReleaseState::Failed));
    let out = match args.format {
        TextOrJson::Json => {
            let mut counts = std::collections::BTreeMap::new();
            for s in &list {
                *counts.entry(s.state.as_str()).or_insert(0usize) += 1;
            }
            let mut b = serde_json::to_vec_pretty(&serde_json::json!({
                "evidenceRoot": root.display().to_string(),
                "signaturesChecked": checked,
                "summary": counts,
                "releases": list,
            }))?;
            b.push(b'\n');
            b
        }
        TextOrJson::Text => {
            let tags: Vec<String> = list
                .iter()
                .map(|s| reprove_escape::terminal(&s.tag))
                .collect();
            let tw = tags
                .iter()
                .map(|t| t.chars().count())
                .max()
                .unwrap_or(3)
                .max(3);
            let mut s = format!(
                "{:tw$}  {:16}  {:11}  {}\n",
                "TAG", "STATE", "SIGNATURES", "OPEN FINDINGS"
            );
            for (r, tag) in list.iter().zip(&tags) {
                s.push_str(&format!(
                    "{:tw$}  {:16}  {:11}  {}\n",
                    tag,
                    r.state.as_str(),
                    match r.signatures {
                        Signatures::Verified => "verified",
                        Signatures::Failed => "FAILED",
                        Signatures::NotChecked => "not checked",
                        Signatures::None => "—",
                    },
                    findings_text(r)
                ));
                for p in &r.problems {
                    s.push_str(&format!(
                        "{:tw$}    ! {}\n",
                        "",
                        reprove_escape::terminal(p)
                    ));
                }
            }
            if !checked {
                s.push_str(
                    "signatures were not checked: give --key (or an identity) to verify them\n",
                );
            }
            s.push_str(&format!(
                "{} release tag(s), evidence under `{}`\n",
                list.len(),
                reprove_escape::terminal(&root.display().to_string())
            ));
            reprove_escape::terminal_block(&s).into_bytes()
        }
    };
    stdout(&out)?;
    Ok(if invalid {
        Outcome::Fail
    } else {
        Outcome::Pass
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
}

/// A statement file named on the command line, read through the one reader of signed
/// statements: with signers only a signed bundle or envelope that verifies is accepted;
/// without, it is read as the file claims, and a note says so.
pub fn read_statement_arg(
    path: &Path,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<serde_json::Value> {
    let st =
        reprove_attest::signed::read_statement_file(path, signers, root).with_context(|| {
            if signers.is_empty() {
                format!("`{}` cannot be read as a statement", path.display())
            } else {
                format!("`{}` does not verify", path.display())
            }
        })?;
    match st.form {
        _ if st.verified_by.is_some() => {}
        reprove_attest::signed::Form::Manifest => note(&format!(
            "note: `{}` is an unsigned statement; its content was not authenticated",
            path.display()
        )),
        _ => note(&format!(
            "note: the signature of `{}` was not checked (give --key to verify it)",
            path.display()
        )),
    }
    Ok(st.statement)
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
    let value: serde_json::Value = if path.exists() {
        read_statement_arg(path, signers, root)?
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
            let v = read_statement_arg(&signed, signers, root)?;
            let view = BaselineView::from_value(&v).map_err(|e| anyhow::anyhow!("`{arg}`: {e}"))?;
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
        serde_json::to_value(&b.statement)?
    };
    BaselineView::from_value(&value).map_err(|e| anyhow::anyhow!("`{arg}`: {e}"))
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
            "{bullet}{:10} {}/{} {} → {}\n",
            soup_kind(c.change),
            e(&c.ecosystem),
            e(&c.name),
            e(c.old_version.as_deref().unwrap_or("-")),
            e(c.new_version.as_deref().unwrap_or("-"))
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
            s.push_str(&format!("{bullet}{}\n", e(f)));
        }
    }
    s
}

pub struct DiffArgs {
    pub old: String,
    pub new: String,
    pub keys: Vec<PathBuf>,
    pub format: DiffFormat,
}

/// `reprove diff`.
pub fn diff(dir: &Path, args: DiffArgs) -> Result<Outcome> {
    let repo = crate::commands::optional_repo(dir)?;
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
            d.findings.retain(|f| !f.starts_with("trace-gap"));
            d.set_traced_commits(commits, trace.complete);
        }
    }
    let out = match args.format {
        DiffFormat::Json => {
            let mut b = serde_json::to_vec_pretty(&d)?;
            b.push(b'\n');
            b
        }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Markdown,
}

pub struct ReportArgs {
    pub evidence: Option<PathBuf>,
    pub artifacts: Option<PathBuf>,
    pub project: Option<String>,
    pub source_uri: Option<String>,
    pub keys: Vec<PathBuf>,
    pub identity: Option<(String, String)>,
    pub trusted_root: Option<PathBuf>,
    pub format: ReportFormat,
    pub output: Option<PathBuf>,
    pub force: bool,
}

/// `reprove report`.
pub fn report(dir: &Path, tag: &Tag, args: ReportArgs) -> Result<Outcome> {
    let repo = crate::commands::optional_repo(dir)?;
    let evidence_dir = match (&args.evidence, &repo) {
        (Some(e), _) => e.clone(),
        (None, Some(r)) => evidence::default_dir(r.root(), tag.as_str()),
        (None, None) => bail!("give --evidence DIR (not inside a repository)"),
    };
    if !evidence_dir.is_dir() {
        bail!(
            "no evidence for `{tag}` at `{}` (run `reprove release {tag}` first, or pass --evidence)",
            evidence_dir.display()
        );
    }
    let ext = match args.format {
        ReportFormat::Html => "html",
        ReportFormat::Markdown => "md",
    };
    let output = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "reprove-report-{}.{ext}",
            tag.as_str().replace('/', "-")
        ))
    });
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let soup_path = folder.join("SOUP-List.md");
    let cm_path = folder.join("Configuration-Management.md");
    if !args.force {
        for p in [&output, &soup_path, &cm_path] {
            if p.exists() {
                bail!(
                    "`{}` already exists; pass --force to overwrite it",
                    p.display()
                );
            }
        }
    }
    let signers = signers(&args.keys, args.identity.clone())?;
    let checked = !signers.is_empty();
    let opts = reprove_release::verify::Options {
        tag: tag.clone(),
        evidence: evidence_dir.clone(),
        artifacts: match &args.artifacts {
            Some(dir) => reprove_release::verify::Artifacts::Folder(dir.clone()),
            None => reprove_release::verify::Artifacts::NotChecked,
        },
        signers: signers.clone(),
        rebuilders: Vec::new(),
        require: 1,
        trusted_root: read_root(args.trusted_root.as_deref())?,
        project: args.project.clone(),
        source_uri: args.source_uri.clone(),
        repo: repo.as_ref(),
        images: None,
        rebuild: None,
    };
    let show = std::io::stderr().is_terminal();
    let verified = reprove_release::verify::verify(&opts, &|m| {
        if show {
            note(m);
        }
    });
    // Without keys verify reads the statements as the files claim, and the report says so.
    let baseline_value = verified.baseline.clone();
    let provenance_value = verified.provenance.clone();
    let baseline = baseline_value
        .as_ref()
        .and_then(|v| BaselineView::from_value(v).ok());
    // Only what the verification read and matched against the index, never a second read.
    let rebuild = verified.rebuild_report.clone();
    let index = verified.index_json.clone();
    let generated = rfc3339_utc(unix_now());
    let evidence_s = evidence_dir.display().to_string();
    let input = reprove_report::AuditInput {
        tag: tag.as_str(),
        evidence: &evidence_s,
        baseline: baseline.as_ref(),
        provenance: provenance_value.as_ref(),
        rebuild: rebuild.as_ref(),
        index: index.as_ref(),
        verify: &verified,
        signatures_checked: checked,
        generated_on: &generated,
        reprove_version: env!("CARGO_PKG_VERSION"),
    };
    let main = match args.format {
        ReportFormat::Html => reprove_report::to_html(&input),
        ReportFormat::Markdown => reprove_report::to_markdown(&input),
    };
    if !folder.as_os_str().is_empty() {
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("failed to create `{}`", folder.display()))?;
    }
    crate::output::write_file(&output, main.as_bytes(), args.force)?;
    crate::output::write_file(
        &soup_path,
        reprove_report::soup_list(&input).as_bytes(),
        args.force,
    )?;
    crate::output::write_file(
        &cm_path,
        reprove_report::configuration_management(&input).as_bytes(),
        args.force,
    )?;
    let gaps = reprove_report::clauses(&input)
        .iter()
        .filter(|c| c.status != reprove_report::ClauseStatus::Met)
        .count();
    crate::output::stdout_text(&format!(
        "wrote `{}`, `{}` and `{}`\nverification: {}; {} of the clauses show a gap or were not checked{}\n",
        output.display(),
        soup_path.display(),
        cm_path.display(),
        verified.verdict.as_str(),
        gaps,
        if checked {
            ""
        } else {
            " (signatures not checked: give --key)"
        }
    ))?;
    Ok(crate::release::outcome(verified.verdict))
}
