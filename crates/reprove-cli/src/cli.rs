//! The clap tree: one variant per command, each carrying that command's own `Args` from
//! `crate::commands`, and the dispatch. The flow is one way: `main` → `cli` → `commands::*`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::commands::{
    attest, baseline, diff, docs, images, init, key, rebuild, registry, release, report, sign,
    soup, status, verify, verify_bundle,
};
use crate::outcome::Outcome;

/// Rebuild a tagged release, prove it matches, and sign the evidence.
///
/// Exit status: 0 the check holds, 1 the check ran and failed, 2 it could not run.
#[derive(Debug, Parser)]
#[command(name = "reprove", version = env!("REPROVE_LONG_VERSION"), about, max_term_width = 100)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Say nothing on stderr but errors and warnings (no progress, no notes).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Show progress even when stderr is not a terminal (a CI log).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Baseline(baseline::BaselineArgs),
    Soup(soup::SoupArgs),
    /// Write a commented reprove.toml for this repository (never overwrites one)
    #[command(after_help = "Examples:\n  reprove init\n  reprove -C path/to/repo init")]
    Init,
    /// Generate a signing key or print a public key
    #[command(subcommand)]
    Key(key::KeyCommand),
    Rebuild(rebuild::RebuildArgs),
    Attest(attest::AttestArgs),
    Release(release::ReleaseArgs),
    Verify(verify::VerifyArgs),
    Status(status::StatusArgs),
    Diff(diff::DiffArgs),
    Report(report::ReportArgs),
    #[command(name = "push-evidence")]
    PushEvidence(registry::PushEvidenceArgs),
    #[command(name = "pull-evidence")]
    PullEvidence(registry::PullEvidenceArgs),
    /// Find container image references, check their pins, pin them
    #[command(subcommand)]
    Images(images::ImagesCommand),
    Sign(sign::SignArgs),
    #[command(name = "verify-bundle")]
    VerifyBundle(verify_bundle::VerifyBundleArgs),
    Completions(docs::CompletionsArgs),
    Man(docs::ManArgs),
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<Outcome> {
    crate::output::set_verbosity(if cli.quiet {
        crate::output::Verbosity::Quiet
    } else if cli.verbose {
        crate::output::Verbosity::Verbose
    } else {
        crate::output::Verbosity::Normal
    });
    let dir = match cli.dir {
        Some(d) => d,
        None => std::env::current_dir().context("failed to read the current directory")?,
    };
    match cli.command {
        Command::Baseline(args) => baseline::run(&dir, args),
        Command::Soup(args) => soup::run(&dir, args),
        Command::Init => init::run(&dir),
        Command::Key(cmd) => key::run(cmd),
        Command::Rebuild(args) => rebuild::run(&dir, args),
        Command::Attest(args) => attest::run(&dir, args),
        Command::Release(args) => release::run(&dir, args),
        Command::Verify(args) => verify::run(&dir, args),
        Command::Status(args) => status::run(&dir, args),
        Command::Diff(args) => diff::run(&dir, args),
        Command::Report(args) => report::run(&dir, args),
        Command::PushEvidence(args) => registry::push(args),
        Command::PullEvidence(args) => registry::pull(&dir, args),
        Command::Images(cmd) => images::run(&dir, cmd),
        Command::Sign(args) => sign::run(args),
        Command::VerifyBundle(args) => verify_bundle::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every option and argument says what it is, and every command's help ends with examples.
    #[test]
    fn every_option_has_help_and_every_command_has_examples() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}: no help"));
                }
            }
            let subs: Vec<&clap::Command> = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .collect();
            let after = cmd
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            if subs.is_empty() && !after.starts_with("Examples:") {
                missing.push(format!("{path}: no examples"));
            }
            for s in subs {
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "reprove", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
