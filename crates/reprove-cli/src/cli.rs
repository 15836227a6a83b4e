//! The clap tree: one variant per command, each carrying that command's own `Args` from
//! `crate::commands`, and the dispatch. The flow is one way: `main` → `cli` → `commands::*`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::commands::{
    attest, baseline, diff, images, init, key, rebuild, release, report, sign, soup, status,
    verify, verify_bundle,
};
use crate::outcome::Outcome;

/// Rebuild a tagged release, prove it matches, and sign the evidence.
///
/// Exit status: 0 the check holds, 1 the check ran and failed, 2 it could not run.
#[derive(Debug, Parser)]
#[command(name = "reprove", version, about, max_term_width = 100)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Baseline(baseline::BaselineArgs),
    Soup(soup::SoupArgs),
    /// Write a commented reprove.toml for this repository (never overwrites one)
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
    /// Find container image references, check their pins, pin them
    #[command(subcommand)]
    Images(images::ImagesCommand),
    Sign(sign::SignArgs),
    #[command(name = "verify-bundle")]
    VerifyBundle(verify_bundle::VerifyBundleArgs),
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<Outcome> {
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
        Command::Images(cmd) => images::run(&dir, cmd),
        Command::Sign(args) => sign::run(args),
        Command::VerifyBundle(args) => verify_bundle::run(args),
    }
}
