//! The sigstore-conformance bundle-verification cases (`REPROVE_CONFORMANCE_DIR`, default
//! `../shared/conformance`), run through
//! the CLI protocol exactly as the suite calls a client, with the artifact as a file and as a
//! `sha256:` digest.

use std::process::Command;

use crate::support::{conformance_artifact, conformance_dir};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

#[test]
fn every_bundle_verification_case() {
    let Some(conformance) = conformance_dir() else {
        return;
    };
    let root = conformance.join("bundle-verify");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("bundle.sigstore.json").is_file())
        .collect();
    cases.sort_by_key(|e| e.file_name());
    assert!(
        cases.len() >= 70,
        "expected the 70 cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases {
        let dir = case.path();
        let name = case.file_name().to_string_lossy().into_owned();
        let artifact = conformance_artifact(&conformance, &dir);
        let data = std::fs::read(&artifact).unwrap();
        use sha2::Digest as _;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
        for target in [artifact.to_str().unwrap().to_owned(), digest] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprove"));
            cmd.arg("verify-bundle")
                .arg("--bundle")
                .arg(dir.join("bundle.sigstore.json"));
            if dir.join("key.pub").exists() {
                cmd.arg("--key").arg(dir.join("key.pub"));
            } else {
                let read = |f: &str, d: &str| {
                    std::fs::read_to_string(dir.join(f))
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_else(|_| d.to_owned())
                };
                cmd.arg("--certificate-identity")
                    .arg(read("identity", DEFAULT_IDENTITY));
                cmd.arg("--certificate-oidc-issuer")
                    .arg(read("issuer", DEFAULT_ISSUER));
            }
            if dir.join("trusted_root.json").exists() {
                cmd.arg("--trusted-root").arg(dir.join("trusted_root.json"));
            }
            cmd.arg(&target);
            let out = cmd.output().unwrap();
            ran += 1;
            let code = out.status.code();
            let ok = if name.ends_with("_fail") {
                code.is_some_and(|c| c != 0) && code != Some(101)
            } else {
                code == Some(0)
            };
            if !ok {
                failures.push(format!(
                    "{name} [{}]: exit {code:?}: {}{}",
                    if target.starts_with("sha256:") {
                        "digest"
                    } else {
                        "file"
                    },
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} conformance runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("sigstore-conformance: {ran} of {ran} runs as expected");
}
