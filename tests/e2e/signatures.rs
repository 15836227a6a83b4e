//! Tag and commit signatures, verified by the real `git verify-tag` and gpg.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::support::{Fixture, require_tool};

fn gpg_fixture() -> Option<(Fixture, String)> {
    if !require_tool("gpg") {
        return None;
    }
    let f = Fixture::new();
    let mut cmd = Command::new("gpg");
    cmd.args([
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-gen-key",
        "Release Engineer <rel@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    f.env(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new("gpg");
    cmd.args(["--batch", "--with-colons", "--list-secret-keys"]);
    f.env(&mut cmd);
    let listing = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let fpr = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .unwrap()
        .to_owned();
    f.git(&["config", "user.signingkey", &fpr]);
    f.write("a.txt", "a");
    f.commit("first\n\nReviewed-by: R <r@example.com>");
    Some((f, fpr))
}

fn tag_signature(
    f: &Fixture,
    dir: &std::path::Path,
    tag: &str,
    extra_env: &[(&str, &str)],
) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(dir)
        .args(["baseline", tag, "--format", "json"]);
    f.env(&mut cmd);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["predicate"]["release"]["tagSignature"].clone()
}

#[test]
fn signed_tag_good_unknown_key_no_gpg_and_bad() {
    let Some((f, fpr)) = gpg_fixture() else {
        return;
    };
    f.git(&["tag", "-s", "v1.0.0", "-m", "release v1.0.0"]);
    let repo = f.repo();

    let good = tag_signature(&f, &repo, "v1.0.0", &[]);
    assert_eq!(good["status"], "good");
    assert_eq!(good["format"], "openpgp");
    assert_eq!(good["key"], fpr);

    // An auditor without the release key: unknown, not an error.
    let empty = f.path("empty-gnupg");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::set_permissions(&empty, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let unknown = tag_signature(
        &f,
        &repo,
        "v1.0.0",
        &[("GNUPGHOME", empty.to_str().unwrap())],
    );
    assert_eq!(unknown["status"], "unknown-key");

    // No gpg at all: a PATH with git and nothing else. (Pointing the repository's own
    // `gpg.program` elsewhere no longer works: reprove pins it.)
    let bin = f.path("git-only-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(git.trim(), bin.join("git")).unwrap();
    let no_gpg = tag_signature(&f, &repo, "v1.0.0", &[("PATH", bin.to_str().unwrap())]);
    assert_eq!(no_gpg["status"], "unknown-key");

    // A tag object whose message was altered after signing.
    let raw = f.git(&["cat-file", "tag", "v1.0.0"]) + "\n";
    let tampered = raw.replace("release v1.0.0", "release v9.9.9");
    let mut cmd = Command::new("git");
    cmd.current_dir(&repo)
        .arg("mktag")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    f.env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(tampered.as_bytes())
        .unwrap();
    let oid = String::from_utf8(child.wait_with_output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(oid.len(), 40);
    f.git(&["update-ref", "refs/tags/v1.0.1", &oid]);
    let bad = tag_signature(&f, &repo, "v1.0.1", &[]);
    assert_eq!(bad["status"], "bad");
}

#[test]
fn signed_commits_can_authorize_changes() {
    let Some((f, _)) = gpg_fixture() else { return };
    f.tag("v1.0.0");
    f.write(
        "reprove.toml",
        "[changes]\nrequire-authorization = true\naccept-signed-commits = true\n",
    );
    f.git(&["add", "-A"]);
    f.git(&["commit", "-q", "-S", "-m", "signed, no trailer"]);
    f.tag("v1.1.0");
    let v = f.json(&["baseline", "v1.1.0", "--format", "json"], 0);
    let c = &v["predicate"]["changes"]["commits"][0];
    assert_eq!(c["signature"]["status"], "good");
    assert_eq!(c["evidence"], serde_json::json!(["signature"]));
    // The same commit is unauthorized when signatures do not count.
    f.write("reprove.toml", "[changes]\nrequire-authorization = true\n");
    f.git(&["add", "-A"]);
    f.git(&["commit", "-q", "-S", "-m", "signed again"]);
    f.tag("v1.2.0");
    let v = f.json(&["baseline", "v1.2.0", "--format", "json"], 1);
    assert_eq!(v["predicate"]["changes"]["commits"][0]["authorized"], false);
}
