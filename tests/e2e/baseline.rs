use std::path::Path;

use base64::Engine as _;
use serde_json::Value;
use sha2::Digest as _;

use crate::support::{Fixture, redact, stderr};

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The rich fixture: every lockfile kind, images in four file kinds, overrides, and a change
/// trace with authorized, merged and unauthorized commits across two releases.
pub fn rich() -> Fixture {
    let f = Fixture::new();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/rich"),
        &f.repo(),
    );
    f.commit("Initial import\n\nApproved-by: Quality <qa@example.com>");
    f.tag("v1.0.0");
    f.write(
        "src/main.rs",
        "fn main() {\n    println!(\"infusion-ctl 1.1\");\n}\n",
    );
    f.commit("Raise the rate limit\n\nReviewed-by: Rita Reviewer <rita@example.com>\nRefs: CR-17");
    // A feature branch merged with an authorized merge commit.
    f.git(&["checkout", "-q", "-b", "feature"]);
    f.write(
        "docs/manual.md",
        "# Infusion controller manual\n\nAlarms.\n",
    );
    f.commit("Document alarms");
    f.git(&["checkout", "-q", "main"]);
    f.write("README.md", "# infusion-ctl\n\nSee docs.\n");
    f.commit("Tweak README without review");
    f.git(&[
        "merge",
        "-q",
        "--no-ff",
        "feature",
        "-m",
        "Merge branch 'feature'\n\nApproved-by: Quality <qa@example.com>",
    ]);
    f.tag("v1.1.0");
    f
}

#[test]
fn text_summary_of_a_release() {
    let f = rich();
    let out = f.reprove(&["baseline", "v1.1.0"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "require-authorization with an unreviewed commit"
    );
    insta::assert_snapshot!(redact(&f, &String::from_utf8_lossy(&out.stdout)));
    assert!(stderr(&out).contains("policy failed"));
}

#[test]
fn json_manifest_is_a_canonical_in_toto_statement() {
    let f = rich();
    let out = f.reprove(&["baseline", "v1.1.0", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let bytes = out.stdout.strip_suffix(b"\n").unwrap().to_vec();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    // RFC 8785: re-canonicalizing gives the same bytes.
    assert_eq!(serde_jcs_like(&v), bytes);
    assert_eq!(v["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(v["predicateType"], "https://reprove.dev/baseline/v0.1");
    let commit = f.git(&["rev-parse", "v1.1.0^{commit}"]);
    let tree = f.git(&["rev-parse", "v1.1.0^{tree}"]);
    assert_eq!(v["subject"][0]["name"], "infusion-ctl@v1.1.0");
    assert_eq!(v["subject"][0]["digest"]["gitCommit"], commit);
    assert_eq!(v["subject"][1]["digest"]["gitTree"], tree);
    let p = &v["predicate"];
    assert_eq!(p["project"]["supplier"], "Acme Medical GmbH");
    assert_eq!(p["release"]["tagObject"], f.git(&["rev-parse", "v1.1.0"]));
    assert_eq!(p["release"]["tagSignature"]["status"], "unsigned");
    assert_eq!(p["policy"]["result"], "fail");

    // Every tracked file, with digests that match git's and sha256's own view.
    let items = p["configurationItems"].as_array().unwrap();
    let listed = f.git(&["ls-tree", "-r", "--name-only", "v1.1.0"]);
    assert_eq!(items.len(), listed.lines().count());
    for item in items {
        let path = item["path"].as_str().unwrap();
        let content = f.git(&["cat-file", "blob", &format!("v1.1.0:{path}")]);
        let blob = f.git(&["rev-parse", &format!("v1.1.0:{path}")]);
        assert_eq!(item["gitBlob"], blob, "{path}");
        let raw = std::process::Command::new("git")
            .current_dir(f.repo())
            .args(["cat-file", "blob", &blob])
            .output()
            .unwrap()
            .stdout;
        assert_eq!(
            item["sha256"],
            hex::encode(sha2::Sha256::digest(&raw)),
            "{path}"
        );
        assert_eq!(item["size"], raw.len(), "{path}: {content}");
    }
    let class = |path: &str| items.iter().find(|i| i["path"] == path).unwrap()["class"].clone();
    assert_eq!(class("src/main.rs"), "source");
    assert_eq!(class("Cargo.lock"), "soup-manifest");
    assert_eq!(class("Makefile"), "build");
    assert_eq!(class("docs/manual.md"), "docs");
    assert_eq!(class("tests/test_pump.py"), "test");

    // Change trace: v1.0.0..v1.1.0, with the merge authorizing its branch.
    let commits = p["changes"]["commits"].as_array().unwrap();
    assert_eq!(p["changes"]["base"]["tag"], "v1.0.0");
    assert_eq!(commits.len(), 4);
    let by_subject = |s: &str| commits.iter().find(|c| c["subject"] == s).unwrap().clone();
    assert_eq!(
        by_subject("Raise the rate limit")["evidence"],
        serde_json::json!(["trailer:Reviewed-by"])
    );
    assert_eq!(
        by_subject("Raise the rate limit")["changeRequests"],
        serde_json::json!(["Refs: CR-17"])
    );
    let merge = by_subject("Merge branch 'feature'");
    assert_eq!(merge["merge"], true);
    let doc = by_subject("Document alarms");
    assert_eq!(doc["authorized"], true);
    assert_eq!(
        doc["evidence"][0],
        format!("merge:{}", merge["id"].as_str().unwrap())
    );
    assert_eq!(
        by_subject("Tweak README without review")["authorized"],
        false
    );
    let unauthorized: Vec<&Value> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "unauthorized-change")
        .collect();
    assert_eq!(unauthorized.len(), 1);
    assert_eq!(unauthorized[0]["policy"], true);
}

/// Independent RFC 8785 check for the subset of JSON reprove writes (no floats): sorted keys,
/// no whitespace, serde_json's minimal string escaping.
fn serde_jcs_like(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    write(&m[*k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&serde_json::to_string(other).unwrap()),
        }
    }
    let mut s = String::new();
    write(v, &mut s);
    s.into_bytes()
}

#[test]
fn same_tag_gives_identical_bytes_from_any_clone() {
    let f = rich();
    let a = f
        .reprove(&["baseline", "v1.1.0", "--format", "json"])
        .stdout;
    // A full clone elsewhere, and a bare mirror: different paths, same objects.
    f.git_in(
        f.dir.path(),
        &["clone", "-q", "--no-local", "repo", "clone"],
    );
    f.git_in(
        f.dir.path(),
        &["clone", "-q", "--mirror", "repo", "mirror.git"],
    );
    let b = f
        .reprove_in(
            &f.path("clone"),
            &["baseline", "v1.1.0", "--format", "json"],
        )
        .stdout;
    let c = f
        .reprove_in(
            &f.path("mirror.git"),
            &["baseline", "v1.1.0", "--format", "json"],
        )
        .stdout;
    assert!(!a.is_empty());
    assert_eq!(a, b, "clone differs");
    assert_eq!(a, c, "bare mirror differs");
    // And again later: nothing depends on the clock.
    let d = f
        .reprove(&["baseline", "v1.1.0", "--format", "json"])
        .stdout;
    assert_eq!(a, d);
}

#[test]
fn working_tree_changes_never_appear() {
    let f = rich();
    let before = f
        .reprove(&["baseline", "v1.1.0", "--format", "json"])
        .stdout;
    f.write("untracked-secret.txt", "do not ship");
    f.write("src/main.rs", "fn main() { /* uncommitted */ }\n");
    f.git(&["add", "src/main.rs"]); // even staged edits
    std::fs::remove_file(f.repo().join("Makefile")).unwrap();
    let after = f
        .reprove(&["baseline", "v1.1.0", "--format", "json"])
        .stdout;
    assert_eq!(before, after);
    assert!(!String::from_utf8_lossy(&after).contains("untracked-secret"));
}

#[test]
fn lightweight_tags_and_previous_override() {
    let f = rich();
    f.write("CHANGELOG.md", "1.2\n");
    f.commit("Changelog\n\nReviewed-by: R <r@example.com>");
    f.lightweight_tag("v1.2.0");
    let v = f.json(&["baseline", "v1.2.0", "--format", "json"], 0);
    assert!(v["predicate"]["release"].get("tagObject").is_none());
    assert_eq!(v["predicate"]["changes"]["base"]["tag"], "v1.1.0");
    assert_eq!(
        v["predicate"]["changes"]["commits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // --previous widens the trace to include the unauthorized commit from 1.1.0.
    let v = f.json(
        &[
            "baseline",
            "v1.2.0",
            "--previous",
            "v1.0.0",
            "--format",
            "json",
        ],
        1,
    );
    assert_eq!(v["predicate"]["changes"]["base"]["tag"], "v1.0.0");
    assert_eq!(
        v["predicate"]["changes"]["commits"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn first_release_traces_all_history_and_policy_off_exits_zero() {
    let f = Fixture::new();
    f.write("a.c", "int main(void) { return 0; }\n");
    f.commit("one");
    f.commit("two");
    f.tag("v0.1.0");
    let v = f.json(&["baseline", "v0.1.0", "--format", "json"], 0);
    let p = &v["predicate"];
    assert!(p["changes"].get("base").is_none());
    assert_eq!(p["changes"]["commits"].as_array().unwrap().len(), 2);
    // Unauthorized, but no policy asks: recorded, exit 0.
    let codes: Vec<&str> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["unauthorized-change", "unauthorized-change", "no-config"]
    );
    assert_eq!(p["policy"]["result"], "pass");
    assert!(v["subject"][0]["name"] == "v0.1.0");
}

#[test]
fn unusual_tree_entries() {
    let f = Fixture::new();
    // A non-UTF-8 file name, a symlink loop, a dangling symlink, an executable, binary data,
    // an LFS pointer and a submodule.
    let weird = std::ffi::OsStr::new(unsafe_free_latin1()).to_owned();
    std::fs::write(f.repo().join(&weird), b"caf\xe9").unwrap();
    std::os::unix::fs::symlink("loop-b", f.repo().join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", f.repo().join("loop-b")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", f.repo().join("dangling")).unwrap();
    f.write("run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        f.repo().join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    f.write("blob.bin", &binary);
    f.write(
        "big.iso",
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 123456789\n",
    );
    // A submodule: a gitlink entry pointing at another repository's commit.
    let sub = f.path("sub");
    std::fs::create_dir_all(&sub).unwrap();
    f.git_in(&sub, &["init", "-q", "-b", "main"]);
    f.git_in(&sub, &["commit", "-q", "--allow-empty", "-m", "sub"]);
    let sub_commit = f.git_in(&sub, &["rev-parse", "HEAD"]);
    f.git(&["add", "-A"]);
    f.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{sub_commit},vendor/lib"),
    ]);
    f.git(&["commit", "-q", "-m", "everything odd"]);
    f.tag("v1");
    let v = f.json(&["baseline", "v1", "--format", "json"], 0);
    let items = v["predicate"]["configurationItems"].as_array().unwrap();
    let get = |p: &str| {
        items
            .iter()
            .find(|i| i["path"] == p)
            .unwrap_or_else(|| panic!("{p} missing"))
            .clone()
    };

    let odd = items
        .iter()
        .find(|i| i.get("pathBase64").is_some())
        .expect("non-UTF-8 path");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(odd["pathBase64"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, weird.as_encoded_bytes());
    assert_eq!(get("loop-a")["kind"], "symlink");
    assert_eq!(get("loop-a")["target"], "loop-b");
    assert_eq!(get("dangling")["target"], "/nonexistent/target");
    assert_eq!(get("run.sh")["mode"], "100755");
    assert_eq!(get("run.sh")["kind"], "executable");
    assert_eq!(
        get("blob.bin")["sha256"],
        hex::encode(sha2::Sha256::digest(&binary))
    );
    assert_eq!(get("big.iso")["lfs"]["size"], 123_456_789);
    assert_eq!(get("vendor/lib")["kind"], "submodule");
    assert_eq!(get("vendor/lib")["submoduleCommit"], sub_commit);
    let codes: Vec<&str> = v["predicate"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"lfs-pointer"), "{codes:?}");
}

/// `caf\xe9.txt`: Latin-1, not UTF-8.
fn unsafe_free_latin1() -> &'static std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b"caf\xe9.txt")
}

#[test]
fn large_files_are_streamed_and_hashed_correctly() {
    let f = Fixture::new();
    // 40 MiB of pseudo-random data: bigger than any buffer, smaller than a slow test.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..40 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    f.write("firmware.bin", &data);
    f.write("copy.bin", &data); // same blob twice: read once, listed twice
    f.commit("firmware");
    f.tag("v1");
    let v = f.json(&["baseline", "v1", "--format", "json"], 0);
    let want = hex::encode(sha2::Sha256::digest(&data));
    for item in v["predicate"]["configurationItems"].as_array().unwrap() {
        assert_eq!(item["sha256"], want);
        assert_eq!(item["size"], data.len());
    }
}

#[test]
fn unknown_tag_names_the_nearest_tags() {
    let f = rich();
    let out = f.reprove(&["baseline", "v1.1.1"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&out), @"error: failed to resolve tag `v1.1.1`: unknown tag `v1.1.1`; nearest existing tags: `v1.1.0`, `v1.0.0`
");
    assert!(out.stdout.is_empty());
}

#[test]
fn invalid_tag_name_is_rejected_before_git_runs() {
    let f = Fixture::new();
    let out = f.reprove(&["baseline", "v1..2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid tag name `v1..2`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn not_a_repository() {
    let f = Fixture::new();
    let plain = f.path("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let out = f.reprove_in(&plain, &["baseline", "v1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        redact(&f, &stderr(&out)),
        "error: not a git repository: `[TMP]/plain`\n"
    );
}

#[test]
fn repository_without_tags() {
    let f = Fixture::new();
    f.commit("only");
    let out = f.reprove(&["baseline", "v1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the repository has no tags"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn corrupted_lockfiles_are_findings_with_file_and_line() {
    let f = Fixture::new();
    f.write(
        "Cargo.lock",
        "version = 4\n\n[[package]]\nname = \"broken\nversion = \"1\"\n",
    );
    f.write(
        "web/package-lock.json",
        "{\n  \"lockfileVersion\": 3,\n  \"packages\": {\n    oops\n}\n",
    );
    f.write("yarn.lock", "# yarn lockfile v1\n");
    f.write("Dockerfile", "FROM ${UNSET_IMAGE}\nFROM Not/A/Valid:Ref\n");
    f.commit("bad inputs");
    f.tag("v1");
    let v = f.json(&["baseline", "v1", "--format", "json"], 0);
    let findings: Vec<String> = v["predicate"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}:{}",
                f["code"].as_str().unwrap(),
                f["file"].as_str().unwrap_or("-"),
                f["line"]
            )
        })
        .collect();
    insta::assert_debug_snapshot!(findings);
}

#[test]
fn bad_reprove_toml_is_an_error_naming_the_key_and_line() {
    let f = Fixture::new();
    f.write("reprove.toml", "[changes]\nrequire-authorisation = true\n");
    f.commit("typo");
    f.tag("v1");
    let out = f.reprove(&["baseline", "v1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("invalid `reprove.toml` at `v1` line 2"),
        "{err}"
    );
    assert!(err.contains("`require-authorisation`"), "{err}");
    assert!(
        err.contains("require-authorization"),
        "suggests the right key: {err}"
    );
}

#[test]
fn shallow_clone_missing_the_previous_tag_says_so() {
    let f = rich();
    let url = format!("file://{}", f.repo().display());
    f.git_in(
        f.dir.path(),
        &[
            "clone", "-q", "--depth", "1", "--branch", "v1.1.0", &url, "shallow",
        ],
    );
    let out = f.reprove_in(
        &f.path("shallow"),
        &["baseline", "v1.1.0", "--format", "json"],
    );
    // The policy cannot be shown to hold on a truncated history: exit 1, with the reason.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["predicate"]["changes"]["complete"], false);
    let f0 = v["predicate"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "incomplete-history")
        .unwrap()
        .clone();
    assert!(
        f0["message"]
            .as_str()
            .unwrap()
            .contains("git fetch --unshallow")
    );
    // Deepened enough to include the previous tag: complete again.
    f.git_in(
        &f.path("shallow"),
        &["fetch", "-q", "--unshallow", "--tags"],
    );
    let v: Value = serde_json::from_slice(
        &f.reprove_in(
            &f.path("shallow"),
            &["baseline", "v1.1.0", "--format", "json"],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(v["predicate"]["changes"]["complete"], true);
}

#[test]
fn output_file_is_atomic_and_never_overwritten_without_force() {
    let f = rich();
    let out_path = f.path("baseline.json");
    let p = out_path.to_str().unwrap();
    let out = f.reprove(&["baseline", "v1.0.0", "-o", p]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "data went to the file");
    let first = std::fs::read(&out_path).unwrap();
    assert!(first.starts_with(b"{\"_type\":\"https://in-toto.io/Statement/v1\""));
    assert!(
        !first.ends_with(b"\n"),
        "the file holds exactly the canonical bytes"
    );
    let out = f.reprove(&["baseline", "v1.1.0", "-o", p]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"));
    assert_eq!(std::fs::read(&out_path).unwrap(), first, "untouched");
    let out = f.reprove(&["baseline", "v1.1.0", "-o", p, "--force"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "policy still decides the exit code"
    );
    assert_ne!(std::fs::read(&out_path).unwrap(), first);
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".reprove-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn artifacts_become_subjects() {
    let f = rich();
    let dist = f.path("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("infusion-ctl"), b"binary").unwrap();
    std::fs::write(dist.join("infusion-ctl.tar.gz"), b"archive").unwrap();
    let v = f.json(
        &[
            "baseline",
            "v1.0.0",
            "--artifacts",
            dist.to_str().unwrap(),
            "--format",
            "json",
        ],
        0,
    );
    let subjects = v["subject"].as_array().unwrap();
    assert_eq!(subjects.len(), 4);
    assert_eq!(subjects[2]["name"], "infusion-ctl");
    assert_eq!(
        subjects[2]["digest"]["sha256"],
        hex::encode(sha2::Sha256::digest(b"binary"))
    );
    std::os::unix::fs::symlink("/etc/passwd", dist.join("escape")).unwrap();
    let out = f.reprove(&["baseline", "v1.0.0", "--artifacts", dist.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("escape` is a symlink; a folder of release files holds regular files only"),
        "{}",
        stderr(&out)
    );
    // A FIFO too, and it is never opened (a read would hang).
    std::fs::remove_file(dist.join("escape")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(dist.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    let out = f.reprove(&["baseline", "v1.0.0", "--artifacts", dist.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("a FIFO"), "{}", stderr(&out));
    // An empty folder is nothing to attest.
    let empty = f.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = f.reprove(&["baseline", "v1.0.0", "--artifacts", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("holds no files"), "{}", stderr(&out));
}

#[test]
fn markdown_rendering() {
    let f = rich();
    let md = f.ok(&["baseline", "v1.1.0", "--format", "markdown"], 1);
    assert!(md.starts_with("# Configuration baseline: v1.1.0"), "{md}");
    assert!(md.contains("| src/main.rs | source | 100644 |"), "{md}");
    assert!(md.contains("## SOUP ("));
    assert!(md.contains("**(fails policy)**"));
}

/// An invalid `[build]` table is reported by `baseline` too, with the key's line (issue 13),
/// not only when a rebuild fails later; a `command` string is a valid recipe.
#[test]
fn an_invalid_build_table_is_a_baseline_finding_with_its_line() {
    let f = Fixture::new();
    f.write(
        "reprove.toml",
        "[project]\nname = \"x\"\n\n[build]\ncommand = \"make\"\nimage = \"alpine:3.19\"\n",
    );
    f.commit("unpinned\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let v = f.json(&["baseline", "v1.0.0", "--format", "json"], 0);
    let found: Vec<&Value> = v["predicate"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "invalid-recipe")
        .collect();
    assert_eq!(found.len(), 1, "{}", v["predicate"]["findings"]);
    assert_eq!(found[0]["file"], "reprove.toml");
    assert_eq!(found[0]["line"], 6);
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("not pinned by digest")
    );
    // Pinned, the string command is a recipe: no finding.
    f.write(
        "reprove.toml",
        "[project]\nname = \"x\"\n\n[build]\ncommand = \"make\"\nimage = \"alpine@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"\n",
    );
    f.commit("pinned\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.1.0");
    let v = f.json(&["baseline", "v1.1.0", "--format", "json"], 0);
    assert!(
        !v["predicate"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "invalid-recipe")
    );
}

/// Issue 13: `[changes] previous` says what the previous release is — one tag by name (a
/// repackaging `v1.3.1-r1` follows `v1.3.1`, which version order puts after it), or a glob
/// narrowing the candidates.
#[test]
fn changes_previous_names_the_previous_release() {
    let f = Fixture::new();
    f.write("a.txt", "1\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.3.0");
    f.write("a.txt", "2\n");
    f.commit("two\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.3.1");
    f.write("reprove.toml", "[changes]\nprevious = \"v1.3.1\"\n");
    f.commit("repackage\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.3.1-r1");
    let base = |tag: &str| {
        let v = f.json(&["baseline", tag, "--format", "json"], 0);
        v["predicate"]["changes"]["base"]["tag"].clone()
    };
    assert_eq!(base("v1.3.1-r1"), "v1.3.1");
    // A glob: a release candidate is not a previous release. By version order alone the
    // base of v1.4.0 would be v1.3.5-rc1.
    f.write("a.txt", "3\n");
    f.commit("candidate\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.3.5-rc1");
    f.write("reprove.toml", "[changes]\n");
    f.commit("plain\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.4.0-a");
    assert_eq!(base("v1.4.0-a"), "v1.3.5-rc1");
    f.write(
        "reprove.toml",
        "[changes]\nprevious = \"v[0-9]*.[0-9]*.[0-9]\"\n",
    );
    f.commit("next\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.4.0");
    assert_eq!(base("v1.4.0"), "v1.3.1");
}
