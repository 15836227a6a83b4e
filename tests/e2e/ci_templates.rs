//! The CI templates in `examples/ci` stay correct against the real CLI: each is parsed as
//! YAML (PyYAML, as the CI systems read it), every `reprove` command in its scripts is found,
//! its subcommand and flags are checked against the binary's own help, and the command is run
//! with its variables filled in to prove it parses. Then their shell steps run for real, as
//! the CI would run them: reprove installed from a (local) release with its checksum and
//! keyless provenance checked, a keyless release against Sigstore's mock services, and a
//! verification that passes and one that fails, whose failure must reach the log, the JUnit
//! file and the summary.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::keyless::{ISSUER, Mock, SAN, token};
use crate::release::{BUILD, Release};
use crate::support::{python_with, require_tool};

fn yaml_to_json(python: &str, path: &Path) -> Value {
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{}` is not valid YAML: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Shell words of one command line: quotes removed, `$VAR`/`${VAR}` replaced by `value`.
fn words(line: &str, value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut started = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, ' ' | '\t') => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (None, '>') => break, // redirection: the rest is not arguments
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '$') => {
                started = true;
                if chars.peek() == Some(&'{') {
                    for n in chars.by_ref() {
                        if n == '}' {
                            break;
                        }
                    }
                } else {
                    while chars
                        .peek()
                        .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
                    {
                        chars.next();
                    }
                }
                cur.push_str(value);
            }
            (_, c) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// Every `reprove …` command line in a list of scripts (continuations joined), the binary
/// named by its path too (`./reprove`, `/opt/reprove/reprove`), as `reprove …`.
fn reprove_commands(scripts: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for s in scripts {
        let joined = s.replace("\\\n", " ");
        for line in joined.lines() {
            let t = line.trim();
            let first = t.split_whitespace().next().unwrap_or("");
            if first == "reprove" || first.ends_with("/reprove") {
                out.push(format!("reprove{}", &t[first.len()..]));
            }
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn check_command(line: &str) {
    let bin = env!("CARGO_BIN_EXE_reprove");
    let args = words(line, "v1.0.0");
    assert_eq!(args[0], "reprove");
    let sub: Vec<&str> = args[1..]
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .take(2)
        .map(String::as_str)
        .collect();
    let help = Command::new(bin)
        .args(&sub[..1])
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "`reprove {}` does not exist", sub[0]);
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for a in &args {
        if let Some(flag) = a.strip_prefix("--") {
            let flag = flag.split('=').next().unwrap();
            assert!(
                help.contains(&format!("--{flag}")),
                "`{line}` uses --{flag}, which `reprove {}` does not have",
                sub[0]
            );
        }
    }
    // Run it for real in an empty folder: whatever it then fails on, it must not be the
    // command line itself (clap's usage errors).
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .current_dir(dir.path())
        .args(&args[1..])
        .env("DOCKER_HOST", "unix:///nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    for usage in [
        "unexpected argument",
        "invalid value",
        "required arguments were not provided",
        "Usage:",
    ] {
        assert!(!err.contains(usage), "`{line}` does not parse: {err}");
    }
}

fn template(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/ci")
        .join(rel)
}

/// The `run:` scripts of a GitHub workflow, by step name.
fn github_steps(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (_, job) in doc["jobs"].as_object().unwrap() {
        for step in job["steps"].as_array().unwrap() {
            if let Some(run) = step["run"].as_str() {
                let name = step["name"].as_str().unwrap_or("").to_owned();
                out.push((name, run.to_owned()));
            }
        }
    }
    out
}

fn github_step(doc: &Value, name: &str) -> String {
    github_steps(doc)
        .into_iter()
        .find(|(n, _)| n.starts_with(name))
        .unwrap_or_else(|| panic!("no step `{name}…`"))
        .1
}

#[test]
fn github_templates_run_real_commands() {
    let Some(py) = python_with("yaml") else {
        return;
    };
    let mut all = Vec::new();
    for file in ["github/release.yml", "github/verify.yml"] {
        let doc = yaml_to_json(&py, &template(file));
        let scripts: Vec<String> = github_steps(&doc).into_iter().map(|(_, r)| r).collect();
        all.extend(reprove_commands(&scripts));
        // A workflow's own expressions in a script are injection sinks: values reach the
        // scripts through `env:` only.
        for s in &scripts {
            assert!(
                !s.contains("${{"),
                "`{file}` puts an expression in a script: {s}"
            );
        }
    }
    assert!(
        all.iter().any(|c| c.starts_with("reprove verify ")
            && c.contains("--rebuild")
            && c.contains("--certificate-identity")
            && c.contains("--summary")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|c| c.starts_with("reprove release ") && c.contains("--keyless"))
    );
    for c in &all {
        check_command(c);
    }
}

#[test]
fn gitlab_template_runs_real_commands() {
    let Some(py) = python_with("yaml") else {
        return;
    };
    let doc = yaml_to_json(&py, &template("gitlab-ci.yml"));
    let mut scripts = Vec::new();
    for (_, job) in doc.as_object().unwrap() {
        for key in ["before_script", "script", "after_script"] {
            scripts.extend(strings(&job[key]));
        }
    }
    let cmds = reprove_commands(&scripts);
    assert!(
        cmds.iter().any(|c| c.starts_with("reprove verify")
            && c.contains("--rebuild")
            && c.contains("--certificate-identity")),
        "{cmds:?}"
    );
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("reprove release ") && c.contains("--keyless"))
    );
    assert_eq!(doc["reprove-verify"]["stage"], "verify");
    assert_eq!(
        doc["reprove-release"]["id_tokens"]["SIGSTORE_ID_TOKEN"]["aud"],
        "sigstore"
    );
    for c in &cmds {
        check_command(c);
    }
}

/// Runs one CI script as the runner does (`bash --noprofile --norc -eo pipefail`), in `dir`,
/// with the fixture's isolated environment, `bin` first on PATH, and `env`.
fn run_script<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    r: &Release,
    dir: &Path,
    bin: &Path,
    script: &str,
    env: &[(K, V)],
) -> (i32, String, String) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut all: Vec<(OsString, OsString)> = vec![("PATH".into(), path.into())];
    all.extend(
        env.iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())),
    );
    let args = ["--noprofile", "--norc", "-eo", "pipefail", "-c", script];
    r.run_program("bash", dir, &args, &all)
}

/// A local "release of reprove": this build's binary and its keyless provenance, signed as
/// reprove's own release workflow through the mock. Returns (download folder, sha256).
fn reprove_release_download(r: &Release, mock: &Mock, identity: &str) -> (PathBuf, String) {
    use sha2::Digest as _;
    let dl = r.f.path("download");
    std::fs::create_dir_all(&dl).unwrap();
    let bin = dl.join("reprove-x86_64-linux");
    std::fs::copy(env!("CARGO_BIN_EXE_reprove"), &bin).unwrap();
    let sha = hex(&sha2::Sha256::digest(std::fs::read(&bin).unwrap()));
    let st = r.f.path("reprove-statement.json");
    std::fs::write(
        &st,
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "reprove-x86_64-linux", "digest": {"sha256": sha}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "https://example.com/test", "externalParameters": {}}, "runDetails": {"builder": {"id": "https://example.com/test"}}},
        })
        .to_string(),
    )
    .unwrap();
    let out = dl.join("reprove-x86_64-linux.sigstore.json");
    let mut args = vec![
        "sign".to_owned(),
        st.display().to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(mock.flags());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = r.run_env(
        &args,
        &[("SIGSTORE_ID_TOKEN", &token(identity, ISSUER, 600))],
    );
    assert_eq!(code, 0, "{err}");
    (dl, sha)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// GitHub's templates, their shell steps run for real: install reprove from a release (bad
/// checksum refused), release keylessly from the default branch's workflow, then verify from
/// a clone — passing, then failing on a tampered artifact, the failure in the log, the JUnit
/// file and the job summary.
#[test]
fn github_templates_release_then_verify_and_fail_visibly() {
    let Some(py) = python_with("yaml") else {
        return;
    };
    if !require_tool("curl") || !require_tool("sha256sum") {
        return;
    }
    let Some(r) = Release::new(BUILD, true) else {
        return;
    };
    let Some(mock) = Mock::start(&r.f.path("mock"), ISSUER) else {
        return;
    };
    r.f.git(&["remote", "add", "origin", "https://github.com/acme/tiny"]);
    let release = yaml_to_json(&py, &template("github/release.yml"));
    let verify = yaml_to_json(&py, &template("github/verify.yml"));
    let root = mock.root();
    let flags = mock.flags();
    let (fulcio, rekor, tsa) = (&flags[2], &flags[4], &flags[6]);

    // 1. Install: checksum and provenance of the reprove release checked, then on PATH.
    let reprove_identity =
        "https://github.com/reprove/reprove/.github/workflows/release.yml@refs/heads/main";
    let (dl, sha) = reprove_release_download(&r, &mock, reprove_identity);
    let download = format!("file://{}", dl.display());
    let runner = r.f.path("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let github_path = runner.join("github_path");
    let install = github_step(&release, "Install reprove");
    assert_eq!(install, github_step(&verify, "Install reprove"));
    let empty_bin = r.f.path("no-bin");
    std::fs::create_dir_all(&empty_bin).unwrap();
    let base_env = |sha: &str| -> Vec<(String, String)> {
        vec![
            ("REPROVE_DOWNLOAD".into(), download.clone()),
            ("REPROVE_SHA256".into(), sha.to_owned()),
            ("REPROVE_IDENTITY".into(), reprove_identity.into()),
            ("RUNNER_TEMP".into(), runner.display().to_string()),
            ("GITHUB_PATH".into(), github_path.display().to_string()),
            ("REPROVE_TRUSTED_ROOT".into(), root.clone()),
        ]
    };
    let wrong = "1".repeat(64);
    let (code, out, err) = run_script(&r, &runner, &empty_bin, &install, &base_env(&wrong));
    assert_ne!(code, 0, "a wrong checksum installed reprove:\n{out}{err}");
    assert!(!runner.join("reprove/bin/reprove").exists());
    let (code, out, err) = run_script(&r, &runner, &empty_bin, &install, &base_env(&sha));
    assert_eq!(code, 0, "{out}{err}");
    let installed = runner.join("reprove/bin");
    assert!(installed.join("reprove").is_file());
    assert!(
        std::fs::read_to_string(&github_path)
            .unwrap()
            .contains(&installed.display().to_string())
    );

    // 2. Release. The sign job refuses a tag that is not on the default branch.
    let repo = r.f.repo();
    r.f.git(&["update-ref", "refs/remotes/origin/main", "main"]);
    r.f.git(&["checkout", "-q", "-b", "side"]);
    r.f.write("src/greeting.txt", "unreviewed\n");
    r.f.commit("side\n\nReviewed-by: R <r@example.com>");
    r.f.tag("v9.0.0");
    r.f.git(&["checkout", "-q", "main"]);
    let on_default = github_step(&release, "Check the tag is on the default branch");
    for (tag, ok) in [("v1.0.0", true), ("v9.0.0", false)] {
        let env = vec![
            ("TAG".to_owned(), tag.to_owned()),
            ("DEFAULT_BRANCH".into(), "main".into()),
        ];
        let (code, out, err) = run_script(&r, &repo, &installed, &on_default, &env);
        assert_eq!(code == 0, ok, "{tag}: {out}{err}");
    }
    // The "Sign the release" step in the checkout of the tag, dist/ built.
    let dist = r.publish("v1.0.0", "dist");
    std::fs::rename(&dist, repo.join("dist")).unwrap();
    let sign = github_step(&release, "Sign the release");
    let tok = token(SAN, ISSUER, 600);
    let env = vec![
        ("TAG".to_owned(), "v1.0.0".to_owned()),
        ("SIGSTORE_ID_TOKEN".into(), tok),
        ("REPROVE_FULCIO_URL".into(), fulcio.clone()),
        ("REPROVE_REKOR_URL".into(), rekor.clone()),
        ("REPROVE_TSA_URL".into(), tsa.clone()),
    ];
    let (code, out, err) = run_script(&r, &repo, &installed, &sign, &env);
    assert_eq!(code, 0, "{out}{err}\n{}", mock.log());
    let archive = repo.join("reprove-evidence-v1.0.0.tar.gz");
    assert!(archive.is_file());

    // 3. Verify, in a clone of the default branch, as the verify workflow does.
    let ws = r.f.path("ws");
    r.f.git_in(
        r.f.dir.path(),
        &["clone", "-q", &repo.display().to_string(), "ws"],
    );
    std::fs::create_dir_all(ws.join("evidence")).unwrap();
    let (code, _, err) = run_script(
        &r,
        &ws,
        &installed,
        &format!("tar -xzf {} -C evidence", archive.display()),
        &[] as &[(&str, &str)],
    );
    assert_eq!(code, 0, "{err}");
    std::fs::rename(repo.join("dist"), ws.join("dist")).unwrap();
    let summary = ws.join("step_summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    let verify_step = github_step(&verify, "Verify");
    let env = vec![
        ("TAG".to_owned(), "v1.0.0".to_owned()),
        ("DEFAULT_BRANCH".into(), "main".into()),
        ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ("GITHUB_REPOSITORY".into(), "acme/tiny".into()),
        ("GITHUB_STEP_SUMMARY".into(), summary.display().to_string()),
        ("REPROVE_TRUSTED_ROOT".into(), root.clone()),
    ];
    let (code, out, err) = run_script(&r, &ws, &installed, &verify_step, &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: verified"), "{out}");
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.starts_with("# earlier step\n") && s.contains("✅"), "{s}");
    let junit = std::fs::read_to_string(ws.join("reprove-verify.xml")).unwrap();
    assert!(!junit.contains("<failure"), "{junit}");

    // A tampered artifact: the job fails, and says why where people look.
    std::fs::write(ws.join("dist/greeting.txt"), "not what was released\n").unwrap();
    let (code, out, err) = run_script(&r, &ws, &installed, &verify_step, &env);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("digest-mismatch") && out.contains("verdict: FAILED"),
        "{out}"
    );
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.contains("❌") && s.contains("digest-mismatch"), "{s}");
    let junit = std::fs::read_to_string(ws.join("reprove-verify.xml")).unwrap();
    assert!(
        junit.contains("<failure") && junit.contains("digest-mismatch"),
        "{junit}"
    );
}

/// GitLab's template, its scripts run for real with the package registry as a folder
/// (`file://`): the release job uploads and signs keylessly with GitLab's identity, the
/// verify job downloads from a clone, verifies, and fails visibly on a tampered artifact.
#[test]
fn gitlab_template_release_then_verify_and_fail_visibly() {
    let Some(py) = python_with("yaml") else {
        return;
    };
    if !require_tool("curl") || !require_tool("python3") {
        return;
    }
    let Some(r) = Release::new(BUILD, true) else {
        return;
    };
    let gitlab = "https://gitlab.com";
    let Some(mock) = Mock::start(&r.f.path("mock"), gitlab) else {
        return;
    };
    r.f.git(&["remote", "add", "origin", "https://gitlab.com/acme/tiny"]);
    let doc = yaml_to_json(&py, &template("gitlab-ci.yml"));
    let flags = mock.flags();
    let bin = r.f.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_reprove"), bin.join("reprove")).unwrap();
    let api = r.f.path("api");
    let pkg = api.join("projects/7/packages/generic/release/v1.0.0");
    std::fs::create_dir_all(&pkg).unwrap();
    let script = |job: &str| -> String {
        strings(&doc[job]["script"])
            .into_iter()
            // The build is the project's own; the fixture's dist/ stands in for it.
            .filter(|l| !l.starts_with("make "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let common = [
        (
            "CI_API_V4_URL".to_owned(),
            format!("file://{}", api.display()),
        ),
        ("CI_PROJECT_ID".into(), "7".into()),
        ("CI_JOB_TOKEN".into(), "job-token".into()),
        ("CI_SERVER_URL".into(), gitlab.into()),
        ("CI_PROJECT_PATH".into(), "acme/tiny".into()),
        (
            "CI_PROJECT_URL".into(),
            "https://gitlab.com/acme/tiny".into(),
        ),
        ("CI_DEFAULT_BRANCH".into(), "main".into()),
        ("REPROVE_TRUSTED_ROOT".into(), mock.root()),
    ];
    let run_owned = |dir: &Path, script: &str, extra: &[(String, String)]| {
        run_script(&r, dir, &bin, script, &[common.as_slice(), extra].concat())
    };

    // Release job: from the default branch's pipeline, with GitLab's identity.
    let dist = r.publish("v1.0.0", "dist");
    let repo = r.f.repo();
    r.f.git(&["update-ref", "refs/remotes/origin/main", "main"]);
    std::fs::rename(&dist, repo.join("dist")).unwrap();
    let identity = "https://gitlab.com/acme/tiny//.gitlab-ci.yml@refs/heads/main";
    let release_env = vec![
        ("RELEASE_TAG".to_owned(), "v1.0.0".to_owned()),
        ("SIGSTORE_ID_TOKEN".into(), token(identity, gitlab, 600)),
        ("REPROVE_FULCIO_URL".into(), flags[2].clone()),
        ("REPROVE_REKOR_URL".into(), flags[4].clone()),
        ("REPROVE_TSA_URL".into(), flags[6].clone()),
    ];
    let (code, out, err) = run_owned(&repo, &script("reprove-release"), &release_env);
    assert_eq!(code, 0, "{out}{err}\n{}", mock.log());
    for f in [
        "greeting.txt",
        "stamp.txt",
        "reprove-evidence-v1.0.0.tar.gz",
    ] {
        assert!(pkg.join(f).is_file(), "{f} was not uploaded");
    }

    // Verify job: a default-branch pipeline (scheduled or the release's) in a fresh clone.
    r.f.git_in(
        r.f.dir.path(),
        &["clone", "-q", &repo.display().to_string(), "ws"],
    );
    let ws = r.f.path("ws");
    let tag_env = vec![("RELEASE_TAG".to_owned(), "v1.0.0".to_owned())];
    let (code, out, err) = run_owned(&ws, &script("reprove-verify"), &tag_env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: verified"), "{out}");
    assert!(
        std::fs::read_to_string(ws.join("reprove-summary.md"))
            .unwrap()
            .contains("✅")
    );

    // The registry's copy tampered with: the job fails, visibly.
    std::fs::write(pkg.join("greeting.txt"), "not what was released\n").unwrap();
    let ws2 = r.f.path("ws2");
    r.f.git_in(
        r.f.dir.path(),
        &["clone", "-q", &repo.display().to_string(), "ws2"],
    );
    let (code, out, err) = run_owned(&ws2, &script("reprove-verify"), &tag_env);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("digest-mismatch"), "{out}");
    let s = std::fs::read_to_string(ws2.join("reprove-summary.md")).unwrap();
    assert!(s.contains("❌") && s.contains("digest-mismatch"), "{s}");
    let junit = std::fs::read_to_string(ws2.join("reprove-verify.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");

    // Evidence that names an artifact outside dist/ is refused before anything is fetched.
    let ws3 = r.f.path("ws3");
    r.f.git_in(
        r.f.dir.path(),
        &["clone", "-q", &repo.display().to_string(), "ws3"],
    );
    let evil = r.f.path("evil");
    std::fs::create_dir_all(evil.join("v1.0.0")).unwrap();
    std::fs::write(
        evil.join("v1.0.0/rebuild-report.json"),
        r#"{"artifacts": {"../../outside": {"sha256": "00"}}}"#,
    )
    .unwrap();
    let (code, _, err) = run_script(
        &r,
        &evil,
        &bin,
        &format!(
            "tar -czf {} v1.0.0",
            pkg.join("reprove-evidence-v1.0.0.tar.gz").display()
        ),
        &[] as &[(&str, &str)],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_owned(&ws3, &script("reprove-verify"), &tag_env);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("unsafe artifact names"), "{err}");
    assert!(!r.f.dir.path().join("outside").exists());
}

#[test]
fn the_checker_catches_a_wrong_flag() {
    let r = std::panic::catch_unwind(|| check_command("reprove verify \"$TAG\" --evidnce x"));
    assert!(r.is_err());
    assert_eq!(
        words(
            "reprove verify \"$TAG\" --evidence \"evidence/${TAG}\" > out.xml",
            "v1"
        ),
        ["reprove", "verify", "v1", "--evidence", "evidence/v1"]
    );
}
