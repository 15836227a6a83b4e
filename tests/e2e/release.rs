//! The three journeys of `reprove release` / `reprove verify` / `reprove attest`, against the
//! real engine `cargo xtask test` starts, a busybox image pushed to a real loopback registry,
//! real git repositories, and real signatures checked by reprove and by independent verifiers.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reprove_oci::testing::TestRegistry;
use serde_json::Value;

use crate::rebuild::busybox_on_loopback;
use crate::support::{Fixture, interop, python_with, sigstore_js};

pub(crate) const BUILD: &str = "set -eu\nmkdir -p dist\ncat src/greeting.txt > dist/greeting.txt\necho \"built at $SOURCE_DATE_EPOCH\" > dist/stamp.txt\n";

pub(crate) struct Release {
    pub(crate) f: Fixture,
    reg: TestRegistry,
    docker_host: String,
}

impl Release {
    /// A repository with `v1.0.0` (reviewed) whose recipe runs `build`, and a key pair `k`.
    pub(crate) fn new(build: &str, policy: bool) -> Option<Release> {
        let (docker_host, reg, image) = busybox_on_loopback()?;
        let f = Fixture::new();
        f.write(
            "reprove.toml",
            format!(
                "[project]\nname = \"tiny\"\nsupplier = \"Acme Medical GmbH\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\n\n[changes]\nrequire-authorization = {policy}\n"
            ),
        );
        f.write("src/greeting.txt", "hello, reproducible world\n");
        f.write("build.sh", build);
        // Evidence is published with the release, not committed with the next one.
        f.write(".gitignore", "/evidence/\n");
        f.commit("release\n\nReviewed-by: R <r@example.com>");
        f.tag("v1.0.0");
        let r = Release {
            f,
            reg,
            docker_host,
        };
        for k in ["k", "other"] {
            let out = r.run(&["key", "generate", "--no-password", "--output", &r.p(k)]);
            assert_eq!(out.0, 0, "{}", out.2);
        }
        Some(r)
    }

    pub(crate) fn p(&self, rel: &str) -> String {
        self.f.path(rel).display().to_string()
    }

    fn run_in(&self, dir: &Path, args: &[&str]) -> (i32, String, String) {
        self.run_env_in(dir, args, &[])
    }

    /// `reprove` in the repository with extra environment.
    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        self.run_env_in(&self.f.repo(), args, env)
    }

    fn run_env_in(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        self.run_program(env!("CARGO_BIN_EXE_reprove"), dir, args, env)
    }

    /// `program` in `dir`, in the fixture's isolated environment with this release's engine,
    /// and `env` on top: (exit code, stdout, stderr).
    pub(crate) fn run_program<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        &self,
        program: impl AsRef<OsStr>,
        dir: &Path,
        args: &[&str],
        env: &[(K, V)],
    ) -> (i32, String, String) {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir).args(args);
        self.f.env(&mut cmd);
        cmd.env("DOCKER_HOST", &self.docker_host)
            .env("REPROVE_DIFFOSCOPE", "");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_in(&self.f.repo(), args)
    }

    pub(crate) fn expect(&self, args: &[&str], code: i32) -> String {
        let (c, out, err) = self.run(args);
        assert_eq!(c, code, "reprove {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    /// The "published" artifacts: what a first rebuild produced, copied to `name`.
    pub(crate) fn publish(&self, tag: &str, name: &str) -> String {
        let keep = self.p(&format!("{name}.kept"));
        self.expect(&["rebuild", tag, "--keep", &keep], 0);
        std::fs::rename(format!("{keep}/artifacts"), self.p(name)).unwrap();
        self.p(name)
    }

    /// A second rebuilder's provenance of `v1.0.0` at `out`: its own rebuild, attested with
    /// the key `other`.
    pub(crate) fn second_rebuilder(&self, dist: &str, out: &str) -> String {
        let report = self.expect(
            &["rebuild", "v1.0.0", "--artifacts", dist, "--format", "json"],
            0,
        );
        std::fs::write(self.p("report.json"), &report).unwrap();
        self.expect(
            &[
                "attest",
                "v1.0.0",
                "--rebuild-report",
                &self.p("report.json"),
                "--key",
                &self.p("other.key"),
                "-o",
                out,
            ],
            0,
        );
        report
    }

    pub(crate) fn evidence(&self, tag: &str) -> PathBuf {
        self.f.repo().join("evidence").join(tag)
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check `{id}` in {report:#}"))
}

pub(crate) fn payload(bundle: &Path) -> Value {
    use base64::Engine as _;
    let b: Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[test]
fn release_then_verify_offline_and_by_independent_verifiers() {
    let Some(r) = Release::new(BUILD, true) else {
        return;
    };
    let dist = r.publish("v1.0.0", "dist");
    let out = r.expect(
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
    assert!(out.contains("released `v1.0.0`"), "{out}");
    let ev = r.evidence("v1.0.0");
    for f in [
        "baseline.sigstore.json",
        "provenance.sigstore.json",
        "rebuild-report.json",
        "build.log",
        "soup.md",
        "soup.csv",
        "soup.cdx.json",
        "index.json",
        "index.sigstore.json",
    ] {
        assert!(ev.join(f).is_file(), "{f} missing from the evidence: {out}");
        assert!(out.contains(f), "{out}");
    }
    // Nothing but the folder itself is left in evidence/.
    let names: Vec<String> = std::fs::read_dir(r.f.repo().join("evidence"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["v1.0.0"]);
    let index: Value = json(&std::fs::read_to_string(ev.join("index.json")).unwrap());
    assert_eq!(index["outcome"], "released");
    assert_eq!(index["commit"], r.f.git(&["rev-parse", "v1.0.0^{commit}"]));

    // The provenance says what the issue asks for.
    let prov = payload(&ev.join("provenance.sigstore.json"));
    assert_eq!(prov["predicateType"], "https://slsa.dev/provenance/v1");
    let subjects: Vec<&str> = prov["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["greeting.txt", "stamp.txt"]);
    let bd = &prov["predicate"]["buildDefinition"];
    assert_eq!(bd["buildType"], "https://reprove.dev/container-build/v1");
    assert_eq!(bd["externalParameters"]["source"]["tag"], "v1.0.0");
    assert_eq!(bd["externalParameters"]["recipe"]["command"][1], "build.sh");
    assert_eq!(bd["internalParameters"]["network"], "none");
    assert_eq!(bd["internalParameters"]["umask"], "022");
    assert_eq!(bd["internalParameters"]["environment"]["TZ"], "UTC");
    let deps = bd["resolvedDependencies"].as_array().unwrap();
    assert_eq!(deps[0]["digest"]["gitCommit"], index["commit"]);
    assert!(
        deps.iter()
            .any(|d| d["name"] == "build-image" && d["digest"]["sha256"].is_string())
    );
    let rd = &prov["predicate"]["runDetails"];
    assert_eq!(rd["builder"]["id"], "https://reprove.dev/rebuilder/v1");
    assert!(
        rd["metadata"]["invocationId"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:")
    );
    assert!(
        rd["byproducts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "rebuild-report.json")
    );

    // The auditor, offline, in the repository.
    let out = r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.pub"),
        ],
        0,
    );
    assert!(out.contains("verdict: verified"), "{out}");
    for id in [
        "evidence-index",
        "baseline-signature",
        "provenance-signature",
        "artifact-digests",
        "baseline-provenance-agree",
        "release-tag",
        "tag-commit",
        "change-policy",
    ] {
        assert!(out.contains(&format!("pass     {id}")), "{id}: {out}");
    }
    assert!(out.contains("skipped  image-pins"), "{out}");
    assert!(out.contains("skipped  rebuild"), "{out}");
    // slsa-verifier's spelling of the tag is the same check; two different tags are a usage
    // error, and another release's tag fails the release-tag check.
    let by_flag = [
        "verify",
        "--source-tag",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.pub"),
    ];
    assert!(r.expect(&by_flag, 0).contains("verdict: verified"));
    let (code, _, err) = r.run(&[
        "verify",
        "v1.0.0",
        "--source-tag",
        "v1.1.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.pub"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`v1.0.0` and --source-tag `v1.1.0` differ"),
        "{err}"
    );
    let (code, _, _) = r.run(&["verify", "--artifacts", &dist, "--key", &r.p("k.pub")]);
    assert_eq!(code, 2, "no tag at all is a usage error");

    // JSON with a signed verification summary; online checks too.
    let vsa = r.p("vsa.sigstore.json");
    let v = json(&r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.pub"),
            "--format",
            "json",
            "--check-images",
            "--rebuild",
            "--vsa-key",
            &r.p("other.key"),
            "--vsa-output",
            &vsa,
        ],
        0,
    ));
    assert_eq!(v["verdict"], "verified");
    assert_eq!(check(&v, "image-pins")["status"], "pass");
    assert_eq!(check(&v, "rebuild")["status"], "pass");
    let s = &v["verificationSummary"];
    assert_eq!(
        s["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    assert_eq!(s["predicate"]["verificationResult"], "PASSED");
    // The signed index, the baseline and the provenance.
    assert_eq!(
        s["predicate"]["inputAttestations"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The signed summary verifies for an artifact it names.
    r.expect(
        &[
            "verify-bundle",
            "--bundle",
            &vsa,
            "--key",
            &r.p("other.pub"),
            &format!("{dist}/greeting.txt"),
        ],
        0,
    );

    // JUnit for CI.
    let junit = r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.pub"),
            "--format",
            "junit",
        ],
        0,
    );
    assert!(junit.contains("failures=\"0\""), "{junit}");
    assert!(junit.contains("<skipped"), "{junit}");

    // An auditor with only the evidence and the artifacts, no repository.
    let away = tempfile::tempdir().unwrap();
    let (c, out, err) = r.run_in(
        away.path(),
        &[
            "verify",
            "v1.0.0",
            "--evidence",
            &ev.display().to_string(),
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.pub"),
        ],
    );
    assert_eq!(c, 0, "{out}{err}");
    assert!(out.contains("skipped  tag-commit"), "{out}");
    // Regression: outside a clone, another release's genuine evidence must not pass as this
    // one (a rollback to an old release).
    let (c, out, _) = r.run_in(
        away.path(),
        &[
            "verify",
            "v9.9.9",
            "--evidence",
            &ev.display().to_string(),
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.pub"),
        ],
    );
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("wrong-release: the baseline is for `v1.0.0`, not `v9.9.9`"),
        "{out}"
    );
    // --artifacts is the folder of files, whose bytes are hashed: a list of digests is not.
    std::fs::write(r.p("SUMS"), "00  greeting.txt\n").unwrap();
    let (c, out, _) = r.run(&[
        "verify",
        "v1.0.0",
        "--artifacts",
        &r.p("SUMS"),
        "--key",
        &r.p("k.pub"),
    ]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("is not a folder"), "{out}");
    // A missing evidence folder: what to do, once, as `report` says it.
    let (c, out, err) = r.run(&[
        "verify",
        "v1.0.0",
        "--evidence",
        &r.p("no-such-folder"),
        "--key",
        &r.p("k.pub"),
    ]);
    assert_eq!(c, 2, "{out}");
    assert!(
        err.contains("no evidence for `v1.0.0`")
            && err.contains("run `reprove release v1.0.0` first"),
        "{err}"
    );

    // Evidence is never overwritten without --force, and survives the refusal intact.
    let before = std::fs::read(ev.join("index.json")).unwrap();
    let (c, _, err) = r.run(&[
        "release",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("already exists; pass --force"), "{err}");
    assert_eq!(std::fs::read(ev.join("index.json")).unwrap(), before);
    r.expect(
        &[
            "release",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.key"),
            "--force",
        ],
        0,
    );

    // Independent verifiers accept the provenance.
    if let Some(modules) = sigstore_js() {
        let out = interop(
            "node",
            &[("NODE_PATH", &modules)],
            &[
                Path::new("sigstore_verify.js"),
                &ev.join("provenance.sigstore.json"),
                &r.f.path("k.pub"),
                &r.f.path("dist/greeting.txt"),
            ],
        );
        assert!(out.contains("verified"), "{out}");
    }
    if let Some(py) = python_with("in_toto_attestation") {
        let out = interop(
            &py,
            &[],
            &[
                Path::new("attestation_validate.py"),
                &ev.join("provenance.sigstore.json"),
            ],
        );
        assert!(out.contains("SLSA provenance v1"), "{out}");
        let out = interop(
            &py,
            &[],
            &[Path::new("attestation_validate.py"), Path::new(&vsa)],
        );
        assert!(out.contains("verification summary v1"), "{out}");
    }
}

#[test]
fn tampering_fails_with_the_culprit_named() {
    let Some(r) = Release::new(BUILD, true) else {
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
    let ev = r.evidence("v1.0.0").display().to_string();
    let verify = |artifacts: &str, key: &str, evidence: &str| {
        r.run(&[
            "verify",
            "v1.0.0",
            "--evidence",
            evidence,
            "--artifacts",
            artifacts,
            "--key",
            key,
        ])
    };

    // A tampered artifact.
    let bad = r.p("tampered");
    std::fs::create_dir(&bad).unwrap();
    for n in ["greeting.txt", "stamp.txt"] {
        std::fs::copy(format!("{dist}/{n}"), format!("{bad}/{n}")).unwrap();
    }
    std::fs::write(format!("{bad}/stamp.txt"), "built at some other time\n").unwrap();
    let (c, out, _) = verify(&bad, &r.p("k.pub"), &ev);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("digest-mismatch: `stamp.txt` has sha256:"),
        "{out}"
    );
    assert!(out.contains("verdict: FAILED"), "{out}");
    // The whole report, as an auditor sees it (commit ids follow the registry's random port).
    insta::with_settings!({filters => vec![
        (r"\b[0-9a-f]{40}\b", "[COMMIT]"),
        (r"key [A-Za-z0-9+/]{43}=", "key [KEY]"),
    ]}, {
        insta::assert_snapshot!(crate::support::redact(&r.f, &out));
    });

    // The wrong key.
    let (c, out, _) = verify(&dist, &r.p("other.pub"), &ev);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("bad-signature: `baseline.sigstore.json`"),
        "{out}"
    );
    assert!(
        out.contains("bad-signature: `provenance.sigstore.json`"),
        "{out}"
    );
    // It says which key the bundles name (the one that signed them), and the checks that
    // need a verified statement say they were not run rather than failing once more each.
    let signer = std::fs::read_to_string(r.p("k.pub")).unwrap();
    let signer = reprove_attest::PublicKey::from_pem(&signer).unwrap().hint();
    assert!(
        out.contains(&format!("the bundle names key {signer} as its signer")),
        "{out}"
    );
    for check in [
        "baseline-provenance-agree",
        "tag-commit",
        "change-policy",
        "release-tag",
    ] {
        let line = out.lines().find(|l| l.contains(check)).unwrap();
        assert!(line.trim_start().starts_with("skipped"), "{line}");
    }
    // One FAIL per signed file, and the artifacts (given, so never "skipped"): no cascade.
    let failed: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("FAIL"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        failed,
        [
            "evidence-index",
            "baseline-signature",
            "provenance-signature",
            "artifact-digests"
        ],
        "{out}"
    );

    // A provenance bundle swapped for another release's (same key, valid signature).
    r.f.write("src/greeting.txt", "hello again\n");
    r.f.commit("second\n\nReviewed-by: R <r@example.com>");
    r.f.tag("v1.1.0");
    let dist2 = r.publish("v1.1.0", "dist2");
    r.expect(
        &[
            "release",
            "v1.1.0",
            "--artifacts",
            &dist2,
            "--key",
            &r.p("k.key"),
        ],
        0,
    );
    let swapped = r.p("swapped");
    let copy = Command::new("cp")
        .args(["-a", &ev, &swapped])
        .status()
        .unwrap();
    assert!(copy.success());
    std::fs::copy(
        r.evidence("v1.1.0").join("provenance.sigstore.json"),
        format!("{swapped}/provenance.sigstore.json"),
    )
    .unwrap();
    let (c, out, _) = verify(&dist, &r.p("k.pub"), &swapped);
    assert_eq!(c, 1, "{out}");
    // Named by its digest, or by its size when that already differs (durations in the
    // provenance make the two releases' files differ in length now and then).
    assert!(
        out.contains("digest-mismatch: `provenance.sigstore.json` has sha256:")
            || out.contains("digest-mismatch: `provenance.sigstore.json` is "),
        "{out}"
    );
    // Another release's provenance is named as such, and counts for nothing.
    assert!(
        out.contains("wrong-release: for `v1.1.0`, not `v1.0.0` (`provenance.sigstore.json`)"),
        "{out}"
    );
    assert!(out.contains("not-enough-rebuilders"), "{out}");

    // A modified payload byte breaks the signature, and says so.
    let forged = r.p("forged");
    Command::new("cp")
        .args(["-a", &ev, &forged])
        .status()
        .unwrap();
    let bpath = format!("{forged}/baseline.sigstore.json");
    let mut b: Value = json(&std::fs::read_to_string(&bpath).unwrap());
    let mut st = payload(Path::new(&bpath));
    st["predicate"]["policy"]["result"] = "pass".into();
    st["predicate"]["release"]["commit"] = "0".repeat(40).into();
    use base64::Engine as _;
    b["dsseEnvelope"]["payload"] = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&st).unwrap())
        .into();
    std::fs::write(&bpath, serde_json::to_vec(&b).unwrap()).unwrap();
    let (c, out, _) = verify(&dist, &r.p("k.pub"), &forged);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("bad-signature: `baseline.sigstore.json`"),
        "{out}"
    );

    // Rewriting index.json to match a modified file does not help: the index is signed.
    let rewritten = r.p("rewritten");
    Command::new("cp")
        .args(["-a", &ev, &rewritten])
        .status()
        .unwrap();
    let report_path = format!("{rewritten}/rebuild-report.json");
    let text = std::fs::read_to_string(&report_path).unwrap();
    std::fs::write(
        &report_path,
        text.replace("\"reproducible\"", "\"reproducible\" "),
    )
    .unwrap();
    let index_path = format!("{rewritten}/index.json");
    let mut index: Value = json(&std::fs::read_to_string(&index_path).unwrap());
    {
        use sha2::Digest as _;
        let new = hex::encode(sha2::Sha256::digest(std::fs::read(&report_path).unwrap()));
        for f in index["files"].as_array_mut().unwrap() {
            if f["path"] == "rebuild-report.json" {
                f["sha256"] = new.clone().into();
            }
        }
    }
    std::fs::write(&index_path, serde_json::to_vec_pretty(&index).unwrap()).unwrap();
    let (c, out, _) = verify(&dist, &r.p("k.pub"), &rewritten);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("digest-mismatch: `rebuild-report.json`"),
        "{out}"
    );
    assert!(out.contains("digest-mismatch: `index.json`"), "{out}");

    // A moved tag.
    r.f.git(&[
        "tag",
        "-f",
        "-a",
        "v1.0.0",
        "-m",
        "moved",
        "v1.1.0^{commit}",
    ]);
    let (c, out, _) = verify(&dist, &r.p("k.pub"), &ev);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("tag-moved: `v1.0.0` now points at"), "{out}");
}

#[test]
fn a_failed_release_is_on_record_without_provenance() {
    let Some(r) = Release::new(BUILD, true) else {
        return;
    };
    let dist = r.publish("v1.0.0", "dist");
    std::fs::write(format!("{dist}/stamp.txt"), "built on a different day\n").unwrap();
    let (c, out, err) = r.run(&[
        "release",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 1, "{out}{err}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(out.contains("rebuild: `stamp.txt` differs"), "{out}");
    let ev = r.evidence("v1.0.0");
    assert!(ev.join("rebuild-report.json").is_file());
    assert!(ev.join("build.log").is_file());
    assert!(ev.join("rebuilt/stamp.txt").is_file());
    assert!(!ev.join("provenance.sigstore.json").exists());
    let index: Value = json(&std::fs::read_to_string(ev.join("index.json")).unwrap());
    assert_eq!(index["outcome"], "failed");
    let (c, out, _) = r.run(&[
        "verify",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.pub"),
    ]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("provenance-missing"), "{out}");
    assert!(out.contains("rebuild: `stamp.txt` differs"), "{out}");

    // An unreviewed change fails the change policy: on record, no provenance.
    r.f.write("src/greeting.txt", "hello, unreviewed world\n");
    r.f.commit("sneaky change");
    r.f.tag("v1.1.0");
    let dist2 = r.publish("v1.1.0", "dist2");
    let (c, out, err) = r.run(&[
        "release",
        "v1.1.0",
        "--artifacts",
        &dist2,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 1, "{out}{err}");
    assert!(out.contains("change policy: unauthorized-change"), "{out}");
    assert!(
        !r.evidence("v1.1.0")
            .join("provenance.sigstore.json")
            .exists()
    );
    assert!(r.evidence("v1.1.0").join("baseline.sigstore.json").exists());

    // A build that fails keeps its log.
    let Some(r) = Release::new("echo compiling; echo broken >&2; exit 3\n", false) else {
        return;
    };
    let dist = r.p("empty");
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(format!("{dist}/x"), "x").unwrap();
    let (c, out, err) = r.run(&[
        "release",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 1, "{out}{err}");
    assert!(out.contains("exit code 3"), "{out}");
    let log = std::fs::read_to_string(r.evidence("v1.0.0").join("build.log")).unwrap();
    assert!(log.contains("broken"), "{log}");
    // The failure names the log where it now is — in the evidence folder, not the staging
    // folder it was written in (gone, and a path of this machine) — and the end of the log is
    // printed, in the order the build wrote it.
    assert!(
        out.contains("see `build.log` in the evidence folder"),
        "{out}"
    );
    let index = std::fs::read_to_string(r.evidence("v1.0.0").join("index.json")).unwrap();
    assert!(
        !index.contains("/tmp"),
        "a local path in the signed index: {index}"
    );
    assert!(!index.contains(".rebuild"), "{index}");
    let tail = err
        .split("line(s) of")
        .nth(1)
        .unwrap_or_else(|| panic!("no log tail: {err}"));
    let (compiling, broken) = (tail.find("| compiling"), tail.find("| broken"));
    assert!(compiling.is_some() && compiling < broken, "{err}");
}

#[test]
fn k_of_n_rebuilders_and_attest() {
    let Some(r) = Release::new(BUILD, true) else {
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
    let two = [
        "verify",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.pub"),
        "--rebuilder-key",
        &r.p("other.pub"),
        "--require",
        "2",
    ];
    let (c, out, _) = r.run(&two);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("not-enough-rebuilders: 1 independent signer(s) agree, 2 required"),
        "{out}"
    );
    // A second rebuilder rebuilds on its own and attests with its own key.
    let second = r.evidence("v1.0.0").join("provenance-second.sigstore.json");
    let report = r.second_rebuilder(&dist, &second.display().to_string());
    let (c, out, _) = r.run(&two);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains("2 independent signer(s) agree (2 required)"),
        "{out}"
    );
    // An auditor who has only the release engineer's key: the second rebuilder's provenance
    // is not counted, and does not fail the release.
    let (c, out, _) = r.run(&[
        "verify",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.pub"),
    ]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains(
            "not counted: provenance-second.sigstore.json (signed by none of the given keys)"
        ),
        "{out}"
    );
    // A rebuild compared with nothing is no basis for provenance.
    let built = r.expect(&["rebuild", "v1.0.0", "--format", "json"], 0);
    std::fs::write(r.p("built.json"), &built).unwrap();
    let (c, _, err) = r.run(&[
        "attest",
        "v1.0.0",
        "--rebuild-report",
        &r.p("built.json"),
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("is `built`, not reproducible"), "{err}");

    // attest refuses a report that did not reproduce, and a report for another tag.
    let mut bad: Value = json(&report);
    bad["verdict"] = "not-reproducible".into();
    std::fs::write(r.p("bad.json"), serde_json::to_vec(&bad).unwrap()).unwrap();
    let (c, _, err) = r.run(&[
        "attest",
        "v1.0.0",
        "--rebuild-report",
        &r.p("bad.json"),
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("not reproducible"), "{err}");
    r.f.tag("v2.0.0");
    let (c, _, err) = r.run(&[
        "attest",
        "v2.0.0",
        "--rebuild-report",
        &r.p("report.json"),
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("is for `v1.0.0`, not `v2.0.0`"), "{err}");
    let (c, _, err) = r.run(&[
        "attest",
        "v1.0.0",
        "--rebuild-report",
        &r.p("k.pub"),
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("is not a reprove rebuild report"), "{err}");
}

#[test]
fn a_killed_release_leaves_no_partial_evidence() {
    let slow = format!("{BUILD}sleep 4\n");
    let Some(r) = Release::new(&slow, false) else {
        return;
    };
    let dist = r.publish("v1.0.0", "dist");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(r.f.repo()).args([
        "release",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.key"),
    ]);
    r.f.env(&mut cmd);
    cmd.env("DOCKER_HOST", &r.docker_host)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let evidence_root = r.f.repo().join("evidence");
    // Wait until the build is under way: the baseline is staged.
    let staged = |root: &Path| {
        std::fs::read_dir(root).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.join("baseline.sigstore.json").exists())
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while staged(&evidence_root).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the release never staged"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!evidence_root.join("v1.0.0").exists());
    // The next run cleans up the dead run's staging and completes.
    std::thread::sleep(std::time::Duration::from_secs(5));
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
    let names: Vec<String> = std::fs::read_dir(&evidence_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["v1.0.0"]);
    drop(r.reg);
}
