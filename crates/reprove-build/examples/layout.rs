//! Compares a published image (its digest and media type) with an OCI image layout tar, as
//! `reprove release --artifacts oci://…` compares it with a rebuilt one, and prints the
//! verdict. For benchmarks against hashing the same tar once.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [layout, digest, media_type] = args.as_slice() else {
        let _ = writeln!(
            std::io::stderr(),
            "usage: layout LAYOUT.tar DIGEST MEDIA-TYPE"
        );
        return ExitCode::from(2);
    };
    let run = || -> Result<String, Box<dyn std::error::Error>> {
        let image = reprove_build::image::PublishedImage {
            repository: "bench.example/app".into(),
            digest: digest.parse()?,
            media_type: media_type.clone(),
            children: Vec::new(),
        };
        let rebuilt = BTreeMap::from([(
            "app.oci.tar".to_owned(),
            reprove_build::ArtifactDigest {
                sha256: String::new(),
                size: None,
                path: Some(PathBuf::from(layout)),
            },
        )]);
        let (cmp, _) = reprove_build::image::compare_images(&[image], &rebuilt);
        Ok(format!("{:?} {:?}", cmp[0].verdict, cmp[0].reasons))
    };
    match run() {
        Ok(v) => {
            let _ = writeln!(std::io::stdout(), "{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "layout: {e}");
            ExitCode::from(2)
        }
    }
}
