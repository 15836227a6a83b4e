//! `reprove`: the command line. The only crate that prints: data on stdout, diagnostics and
//! progress on stderr. Exit codes: 0 the check holds, 1 it ran and failed, 2 it could not run.

mod args;
mod cli;
mod commands;
mod keys;
mod outcome;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            // Error messages name paths, tags and references from outside, and some quote
            // input back (a parser's "unknown variant `…`"): each cause is escaped on its own,
            // so not even a newline in one can forge a line.
            // A cause whose text its parent already printed (libraries that put their source
            // into their own message) is said once.
            let mut chain: Vec<String> = Vec::new();
            for c in err.chain() {
                let text = reprove_escape::terminal(&c.to_string());
                if !chain.iter().any(|p| p.contains(&text)) {
                    chain.push(text);
                }
            }
            // A job that ran and failed: the end of its log first, where the cause usually is.
            if let Some(log) = err
                .chain()
                .find_map(|c| c.downcast_ref::<reprove_build::BuildError>())
                .and_then(reprove_build::BuildError::log)
                && let Some(tail) = output::log_tail(log, 20)
            {
                let _ = write!(stderr, "{tail}");
            }
            let _ = writeln!(stderr, "error: {}", chain.join(": "));
            ExitCode::from(2)
        }
    }
}
