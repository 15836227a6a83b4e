//! One module per command: each holds its clap `Args` (or subcommand enum) and a `run`. The
//! helpers below are shared; `crate::cli` dispatches, and nothing here imports it back.

pub mod attest;
pub mod baseline;
pub mod diff;
pub mod docs;
pub mod images;
pub mod init;
mod init_detect;
pub mod key;
pub mod rebuild;
pub mod registry;
pub mod release;
pub mod report;
pub mod sign;
pub mod soup;
pub mod status;
pub mod verify;
pub mod verify_bundle;

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::Result;

use crate::output::note;
use reprove_attest::signed::Form;
use reprove_attest::verify::Signer;
use reprove_baseline::BaselineView;
use reprove_source::Repository;

/// The evidence folder of `tag`: `--evidence DIR`, else `evidence/<tag>` in the repository.
pub fn evidence_dir(
    given: Option<&Path>,
    repo: Option<&Repository>,
    tag: &reprove_source::Tag,
) -> Result<std::path::PathBuf> {
    match (given, repo) {
        (Some(e), _) => Ok(e.to_owned()),
        (None, Some(r)) => Ok(reprove_release::evidence::default_dir(
            r.root(),
            tag.as_str(),
        )),
        (None, None) => anyhow::bail!("give --evidence DIR (not inside a repository)"),
    }
}

pub fn open_repo(dir: &Path) -> Result<Repository> {
    Ok(Repository::discover(dir)?)
}

/// The repository at `dir` when there is one. A repository git refuses to read (an unknown
/// extension, a `safe.directory` refusal) is an error, not "no repository": the checks that
/// need it (the tag still names the signed commit) must not be quietly skipped.
/// Stops with what to do when a release has no evidence folder where it is looked for (the
/// same words for `verify` and `report`).
pub fn require_evidence(dir: &std::path::Path, tag: &reprove_source::Tag) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        anyhow::bail!(
            "`{}` is not a folder: give the release's evidence folder",
            dir.display()
        );
    }
    anyhow::bail!(
        "no evidence for `{tag}` at `{}` (run `reprove release {tag}` first, or pass --evidence)",
        dir.display()
    )
}

pub fn optional_repo(dir: &Path) -> Result<Option<Repository>> {
    match Repository::discover(dir) {
        Ok(r) => Ok(Some(r)),
        Err(reprove_source::SourceError::NotARepository { .. }) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "`{}` is in a git repository that git refuses to read; the tag cannot be checked",
            dir.display()
        ))),
    }
}

pub fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || !crate::output::show_progress() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Some(pb)
}

/// Progress for a long job on a terminal: each step's line printed as it comes, and under it a
/// spinner with the step and the time elapsed, so a build that takes minutes is seen to be
/// alive. Off the terminal (or with `-q`) the lines go to stderr as notes, or nowhere.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    show: bool,
}

impl Progress {
    pub fn start() -> Progress {
        let show = crate::output::show_progress();
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let pb = indicatif::ProgressBar::new_spinner();
            pb.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            pb.enable_steady_tick(std::time::Duration::from_millis(200));
            pb
        });
        Progress { bar, show }
    }

    /// One step: printed above the spinner, which then shows it with the time it has taken.
    pub fn step(&self, message: &str) {
        match &self.bar {
            Some(pb) => {
                let line = reprove_escape::terminal_block(message);
                pb.println(&line);
                pb.set_message(line);
            }
            None if self.show => note(message),
            None => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

/// A baseline file named on the command line, read through the library's one reader of
/// signed statements; a note says when its content was not authenticated.
pub fn read_baseline_arg(
    path: &Path,
    signers: &[Signer],
    root: Option<&str>,
) -> Result<BaselineView> {
    let file = reprove_release::baseline_file::read_baseline_file(path, signers, root)?;
    match file.form {
        _ if file.verified_by.is_some() => {}
        Form::Manifest => crate::output::warn(&format!(
            "note: `{}` is an unsigned statement; its content was not authenticated",
            path.display()
        )),
        _ => crate::output::warn(&format!(
            "note: the signature of `{}` was not checked (give --key to verify it)",
            path.display()
        )),
    }
    Ok(file.view)
}
