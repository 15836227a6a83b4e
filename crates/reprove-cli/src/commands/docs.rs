//! `reprove completions` and `reprove man`: shell completions and man pages generated from the
//! clap tree, so they never drift from the commands.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory as _};

use crate::outcome::Outcome;

/// Print shell completions for reprove (bash, zsh, fish, powershell, elvish)
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove completions bash > ~/.local/share/bash-completion/completions/reprove\n  reprove completions zsh > \"${fpath[1]}/_reprove\"\n  reprove completions fish > ~/.config/fish/completions/reprove.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Print or write reprove's man pages
///
/// Without --output, prints reprove(1); with it, writes reprove.1 and one page per command
/// (reprove-verify.1, reprove-images-check.1, …) into the folder.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove man | man -l -\n  reprove man --output /usr/local/share/man/man1"
)]
pub struct ManArgs {
    /// The folder to write every page into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Replace pages already in the folder.
    #[arg(long)]
    force: bool,
}

/// `reprove completions <shell>`.
pub fn completions(args: CompletionsArgs) -> Result<Outcome> {
    let mut cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "reprove", &mut out);
    crate::output::stdout(&out)?;
    Ok(Outcome::Pass)
}

/// `reprove man [--output DIR]`.
pub fn man(args: ManArgs) -> Result<Outcome> {
    let cmd = crate::cli::Cli::command();
    match &args.output {
        None => {
            crate::output::stdout(&render(&cmd)?)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create `{}`", dir.display()))?;
            let mut written = 0;
            write_pages(&cmd, "reprove", dir, args.force, &mut written)?;
            crate::output::note(&format!("wrote {written} man pages to `{}`", dir.display()));
        }
    }
    Ok(Outcome::Pass)
}

fn render(cmd: &clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("failed to render a man page")?;
    Ok(out)
}

/// Writes `name.1` for `cmd`, then a page for each of its subcommands (`name-sub.1`).
fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    force: bool,
    written: &mut usize,
) -> Result<()> {
    let cmd = cmd.clone().name(name.to_owned());
    crate::output::write_file(&dir.join(format!("{name}.1")), &render(&cmd)?, force)?;
    *written += 1;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(
            sub,
            &format!("{name}-{}", sub.get_name()),
            dir,
            force,
            written,
        )?;
    }
    Ok(())
}
