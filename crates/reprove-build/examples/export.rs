//! Exports the tree at a tag into an empty directory, as `reprove rebuild` does, and prints the
//! source archive digest. For benchmarks against `git archive | tar -x`.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, tag, dest] = args.as_slice() else {
        let _ = writeln!(std::io::stderr(), "usage: export REPO TAG DEST");
        return ExitCode::from(2);
    };
    let run = || -> Result<String, Box<dyn std::error::Error>> {
        let repo = reprove_source::Repository::discover(Path::new(repo))?;
        let info = repo.resolve_tag(&tag.parse()?)?;
        std::fs::create_dir_all(dest)?;
        Ok(reprove_build::export_tree(
            &repo,
            &info.commit,
            info.commit_info.committer.time,
            Path::new(dest),
        )?
        .to_string())
    };
    match run() {
        Ok(d) => {
            let _ = writeln!(std::io::stdout(), "{d}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}
