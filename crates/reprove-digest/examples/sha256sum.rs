//! `sha256sum`-compatible output using reprove's hashing, for benchmarks against
//! `openssl dgst -sha256` and `sha256sum`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let mut out = std::io::stdout().lock();
    let mut status = ExitCode::SUCCESS;
    for (path, result) in paths.iter().zip(reprove_digest::sha256_files(&paths)) {
        match result {
            Ok((digest, _)) => {
                let _ = writeln!(out, "{}  {}", digest.hex(), path.display());
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
