//! Keyless signing, for real: Sigstore's own mock services (`@sigstore/mock`, real
//! certificates, Rekor entries and RFC 3161 timestamps from ephemeral CAs) served on loopback
//! by `tests/interop/sigstore_mock.js`; every bundle reprove writes is checked by
//! `@sigstore/verify` and by reprove itself, both given the mock's trusted root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::release::{BUILD, Release};
use crate::support::{Fixture, interop, sigstore_js, stderr};

/// The identity a GitHub Actions release workflow on the default branch has.
pub(crate) const SAN: &str =
    "https://github.com/acme/tiny/.github/workflows/release.yml@refs/heads/main";
pub(crate) const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The mock Fulcio, Rekor and TSA on one loopback port, stopped on drop.
pub(crate) struct Mock {
    child: Child,
    pub(crate) url: String,
    pub(crate) root: PathBuf,
    log: PathBuf,
}

impl Mock {
    /// Starts the mock in `dir`; its Fulcio accepts only tokens from `issuer`. `None` when
    /// node or the npm packages are missing and the suite does not require them.
    pub(crate) fn start(dir: &Path, issuer: &str) -> Option<Mock> {
        Mock::start_with(dir, issuer, &[])
    }

    /// The pure `@sigstore/mock`, without what the server adds to make it behave as the real
    /// services: its `dsse` log entries are not what Rekor stores, so no bundle verifies.
    pub(crate) fn start_raw(dir: &Path, issuer: &str) -> Option<Mock> {
        Mock::start_with(dir, issuer, &["--raw"])
    }

    fn start_with(dir: &Path, issuer: &str, extra: &[&str]) -> Option<Mock> {
        let modules = sigstore_js()?;
        assert!(
            modules.join("@sigstore/mock").exists(),
            "@sigstore/mock is missing from `{}` (cargo xtask test installs it)",
            modules.display()
        );
        std::fs::create_dir_all(dir).unwrap();
        let port_file = dir.join("port");
        let root = dir.join("trusted_root.json");
        let log = dir.join("mock.log");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/sigstore_mock.js");
        let child = Command::new("node")
            .arg(script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--trusted-root")
            .arg(&root)
            .args(["--issuer", issuer])
            .args(extra)
            .env("NODE_PATH", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut mock = Mock {
            child,
            url: String::new(),
            root,
            log,
        };
        for _ in 0..300 {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                mock.url = format!("http://127.0.0.1:{}", p.trim());
                return Some(mock);
            }
            if let Ok(Some(status)) = mock.child.try_wait() {
                panic!("the Sigstore mock exited with {status}:\n{}", mock.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the Sigstore mock did not start in 30 s:\n{}", mock.log());
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The flags that point reprove's keyless signing at the mock.
    pub(crate) fn flags(&self) -> Vec<String> {
        vec![
            "--keyless".into(),
            "--fulcio-url".into(),
            self.url.clone(),
            "--rekor-url".into(),
            self.url.clone(),
            "--tsa-url".into(),
            format!("{}/api/v1/timestamp", self.url),
            "--trusted-root".into(),
            self.root(),
        ]
    }

    pub(crate) fn root(&self) -> String {
        self.root.display().to_string()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An identity token as a CI hands one out (unsigned: the mock, like any Fulcio, reads its
/// claims; real Fulcio also checks the issuer's signature).
pub(crate) fn token(sub: &str, issuer: &str, expires_in: i64) -> String {
    use base64::Engine as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        e(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        e(&serde_json::json!({
            "iss": issuer, "sub": sub, "aud": "sigstore",
            "iat": now - 10, "exp": now + expires_in,
        }))
    )
}

/// The subject of [`statement`], as `verify-bundle` takes a digest.
const SUBJECT: &str = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8a35b3e2e2f1d0b6a6b8b8f6c";

/// A small in-toto statement to sign, its one subject [`SUBJECT`].
fn statement() -> String {
    let hex = SUBJECT.trim_start_matches("sha256:");
    format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"a","digest":{{"sha256":"{hex}"}}}}],"predicateType":"https://example.com/p","predicate":{{}}}}"#
    )
}

/// `@sigstore/verify` accepts `bundle` given only the mock's trusted root and the expected
/// identity (and GitHub's issuer).
fn assert_sigstore_js_accepts(bundle: &Path, mock: &Mock, san: &str) {
    let modules = sigstore_js().unwrap();
    let out = interop(
        "node",
        &[("NODE_PATH", &modules)],
        &[
            Path::new("sigstore_verify_keyless.js"),
            bundle,
            &mock.root,
            Path::new(san),
            Path::new(ISSUER),
        ],
    );
    assert!(out.contains("verified keyless"), "{out}");
}

/// reprove's own `verify-bundle` accepts a signed [`statement`] for [`SUBJECT`], given the
/// mock's trusted root and the expected identity.
fn assert_reprove_accepts(f: &Fixture, bundle: &str, mock: &Mock) {
    let root = mock.root();
    f.ok(
        &[
            "verify-bundle",
            "--bundle",
            bundle,
            "--certificate-identity",
            SAN,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            &root,
            SUBJECT,
        ],
        0,
    );
}

/// `reprove` in the fixture's repository with extra environment.
fn reprove_env(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(f.repo()).args(args);
    f.env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn bundle(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// What a keyless bundle must hold: the certificate, a `dsse` Rekor entry with its inclusion
/// proof and checkpoint, and an RFC 3161 timestamp.
fn assert_keyless_shape(path: &Path) {
    let b = bundle(path);
    assert_eq!(
        b["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "{}",
        path.display()
    );
    let m = &b["verificationMaterial"];
    assert!(m["certificate"]["rawBytes"].is_string(), "{b:#}");
    let entry = &m["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["kind"], "dsse", "{b:#}");
    assert!(
        entry["inclusionProof"]["checkpoint"]["envelope"].is_string(),
        "{b:#}"
    );
    assert!(
        !m["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{b:#}"
    );
}

#[test]
fn a_keyless_release_verifies_by_identity_here_and_in_sigstore_js() {
    let Some(r) = Release::new(BUILD, true) else {
        return;
    };
    let Some(mock) = Mock::start(&r.f.path("mock"), ISSUER) else {
        return;
    };
    let dist = r.publish("v1.0.0", "dist");
    let tok = token(SAN, ISSUER, 600);
    let mut args = vec!["release", "v1.0.0", "--artifacts", &dist];
    let flags = mock.flags();
    args.extend(flags.iter().map(String::as_str));
    let (code, _, err) = r.run_env(&args, &[("SIGSTORE_ID_TOKEN", &tok)]);
    assert_eq!(code, 0, "{err}\n{}", mock.log());
    // The identity to pin is the certificate's, said after signing.
    assert!(
        err.contains(&format!("signed by `{SAN}` (issuer `{ISSUER}`), keyless")),
        "{err}"
    );
    assert!(
        !err.contains(&tok),
        "the identity token was printed:\n{err}"
    );

    let ev = r.evidence("v1.0.0");
    for name in [
        "baseline.sigstore.json",
        "provenance.sigstore.json",
        "index.sigstore.json",
    ] {
        let path = ev.join(name);
        assert_keyless_shape(&path);
        assert_sigstore_js_accepts(&path, &mock, SAN);
    }

    let root = mock.root();
    // reprove verify: by the exact identity, and by patterns.
    let ok = r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--certificate-identity",
            SAN,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            &root,
        ],
        0,
    );
    assert!(ok.contains("verdict: verified"), "{ok}");
    let by_pattern = r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--certificate-identity-regexp",
            r"https://github\.com/acme/tiny/\.github/workflows/release\.yml@refs/heads/.*",
            "--certificate-oidc-issuer-regexp",
            r"https://token\.actions\.githubusercontent\.com",
            "--trusted-root",
            &root,
        ],
        0,
    );
    assert!(by_pattern.contains("verdict: verified"), "{by_pattern}");
    // The verify job attests its verification keylessly too (the VSA, as its own identity).
    let verifier = "https://github.com/acme/tiny/.github/workflows/verify.yml@refs/heads/main";
    let vsa = r.p("vsa.sigstore.json");
    let tsa = format!("{}/api/v1/timestamp", mock.url);
    let (code, out, err) = r.run_env(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--certificate-identity",
            SAN,
            "--certificate-oidc-issuer",
            ISSUER,
            "--vsa-keyless",
            "--vsa-output",
            &vsa,
        ],
        &[
            ("SIGSTORE_ID_TOKEN", &token(verifier, ISSUER, 600)),
            ("REPROVE_FULCIO_URL", &mock.url),
            ("REPROVE_REKOR_URL", &mock.url),
            ("REPROVE_TSA_URL", &tsa),
            ("REPROVE_TRUSTED_ROOT", &root),
        ],
    );
    assert_eq!(code, 0, "{out}{err}\n{}", mock.log());
    assert_keyless_shape(Path::new(&vsa));
    assert_sigstore_js_accepts(Path::new(&vsa), &mock, verifier);
    // A pattern says who may sign; the report also says who did.
    assert!(
        by_pattern.contains("`baseline.sigstore.json` signed by pattern `")
            && by_pattern.contains(&format!(" as {SAN}")),
        "{by_pattern}"
    );
    // Who pushes a tag does not choose the signer: another workflow of the same repository, a
    // pattern that only contains the identity, or the release key are all refused.
    for wrong in [
        vec![
            "--certificate-identity",
            "https://github.com/acme/tiny/.github/workflows/other.yml@refs/heads/main",
            "--certificate-oidc-issuer",
            ISSUER,
        ],
        vec![
            "--certificate-identity-regexp",
            r"github\.com/acme/tiny/",
            "--certificate-oidc-issuer",
            ISSUER,
        ],
        vec![
            "--certificate-identity",
            SAN,
            "--certificate-oidc-issuer",
            "https://gitlab.com",
        ],
    ] {
        let mut args = vec![
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--trusted-root",
            &root,
        ];
        args.extend(wrong.iter().copied());
        let (code, out, err) = r.run(&args);
        assert_eq!(code, 1, "{args:?}\n{out}{err}");
        assert!(
            out.contains("identity mismatch") || out.contains("FAILED"),
            "{out}"
        );
    }
    let k = r.p("k.pub");
    let (code, out, _) = r.run(&["verify", "v1.0.0", "--artifacts", &dist, "--key", &k]);
    assert_eq!(code, 1, "{out}");
    // Without the mock's root, the production root does not trust the mock's CA.
    let (code, out, _) = r.run(&[
        "verify",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--certificate-identity",
        SAN,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!(code, 1, "{out}");

    // k-of-n under a pattern: a second provenance from another identity the release pattern
    // also matches (a tag pusher's run of release.yml from their own tag) is the release role
    // again, never an independent rebuilder.
    let ev_s = ev.display().to_string();
    let report_json = format!("{ev_s}/rebuild-report.json");
    let extra = format!("{ev_s}/provenance-tagpush.sigstore.json");
    let tag_identity = "https://github.com/acme/tiny/.github/workflows/release.yml@refs/tags/evil";
    let mut args = vec![
        "attest",
        "v1.0.0",
        "--rebuild-report",
        &report_json,
        "-o",
        &extra,
    ];
    args.extend(flags.iter().map(String::as_str));
    let (code, _, err) = r.run_env(
        &args,
        &[("SIGSTORE_ID_TOKEN", &token(tag_identity, ISSUER, 600))],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = r.run(&[
        "verify",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--certificate-identity-regexp",
        r"https://github\.com/acme/tiny/\.github/workflows/release\.yml@refs/.*",
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        &root,
        "--rebuilder-key",
        &k,
        "--require",
        "2",
    ]);
    assert_eq!(code, 1, "one role counted twice:\n{out}{err}");
    assert!(out.contains("provenance-signature"), "{out}");
    std::fs::remove_file(&extra).unwrap();

    // The provenance verifies for the artifact it names, alone.
    let prov = ev.join("provenance.sigstore.json").display().to_string();
    let greeting = format!("{dist}/greeting.txt");
    let out = r.expect(
        &[
            "verify-bundle",
            "--bundle",
            &prov,
            "--certificate-identity",
            SAN,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            &root,
            &greeting,
        ],
        0,
    );
    assert!(
        out.contains("transparency-log") && out.contains("identity"),
        "{out}"
    );
}

#[test]
fn keyless_signing_fails_closed_and_writes_nothing() {
    let f = Fixture::new();
    let Some(mock) = Mock::start(&f.path("mock"), ISSUER) else {
        return;
    };
    f.write("src/a.txt", "a\n");
    f.write("reprove.toml", "[project]\nname = \"tiny\"\n");
    f.commit("one\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let st = f.path("st.json");
    std::fs::write(&st, statement()).unwrap();
    let st = st.display().to_string();
    let out_path = f.path("st.sigstore.json");
    let out_s = out_path.display().to_string();
    let flags = mock.flags();
    let sign = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["sign", st.as_str(), "-o", out_s.as_str()];
        args.extend(flags.iter().map(String::as_str));
        args.extend(extra);
        reprove_env(&f, &args, env)
    };

    // No token anywhere: said, with what to do.
    let out = sign(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no identity token"),
        "{}",
        stderr(&out)
    );
    // An expired token, before any service is asked.
    let old = token(SAN, ISSUER, -60);
    let out = sign(&["--identity-token", &old], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    // A token from an issuer Fulcio does not accept: Fulcio's refusal, the services named.
    let foreign = token(SAN, "https://evil.example", 600);
    let out = sign(&[], &[("SIGSTORE_ID_TOKEN", &foreign)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("the Sigstore services did not sign") && err.contains(&mock.url),
        "{err}"
    );
    assert!(
        !err.contains(&foreign),
        "the identity token was printed:\n{err}"
    );
    // Services that are not there.
    let out = reprove_env(
        &f,
        &[
            "sign",
            &st,
            "-o",
            &out_s,
            "--keyless",
            "--fulcio-url",
            "http://127.0.0.1:9",
            "--rekor-url",
            "http://127.0.0.1:9",
        ],
        &[("SIGSTORE_ID_TOKEN", &token(SAN, ISSUER, 600))],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!out_path.exists(), "a failed signature left a file");
    // Services that return a bundle no verifier accepts (the pure mock's log entries): caught
    // before anything is written.
    let raw = Mock::start_raw(&f.path("raw-mock"), ISSUER).unwrap();
    let mut args = vec!["sign", st.as_str(), "-o", out_s.as_str()];
    // (No TSA: the pure mock's timestamps are sometimes malformed, which fails earlier.)
    let raw_root = raw.root();
    args.extend([
        "--keyless",
        "--fulcio-url",
        raw.url.as_str(),
        "--rekor-url",
        raw.url.as_str(),
        "--trusted-root",
        raw_root.as_str(),
    ]);
    let out = reprove_env(
        &f,
        &args,
        &[("SIGSTORE_ID_TOKEN", &token(SAN, ISSUER, 600))],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not verify against the trusted root"),
        "{}",
        stderr(&out)
    );
    assert!(!out_path.exists(), "an unverifiable bundle was written");
    drop(raw);
    // A keyless DSSE envelope would carry no certificate: refused; key and keyless: refused.
    let out = sign(
        &["--dsse"],
        &[("SIGSTORE_ID_TOKEN", &token(SAN, ISSUER, 600))],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = sign(&["--key", "k.key"], &[]);
    assert_eq!(out.status.code(), Some(2));

    // A good token (from a file) signs, and the bundle verifies here and in sigstore-js.
    let tok_file = f.path("token");
    std::fs::write(&tok_file, token(SAN, ISSUER, 600)).unwrap();
    let at = format!("@{}", tok_file.display());
    let out = sign(&["--identity-token", &at], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        mock.log()
    );
    assert_keyless_shape(&out_path);
    assert_reprove_accepts(&f, &out_s, &mock);
    // Existing output is kept without --force.
    let out = sign(&["--identity-token", &at], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    // baseline --sign --keyless: a manifest with no sha256 subject could never be verified
    // keylessly, so it is refused before any service is asked; with the artifacts it signs.
    let b = f.path("baseline.sigstore.json").display().to_string();
    let mut args = vec!["baseline", "v1.0.0", "--sign", "-o", &b];
    args.extend(flags.iter().map(String::as_str));
    let tok = token(SAN, ISSUER, 600);
    let out = reprove_env(&f, &args, &[("SIGSTORE_ID_TOKEN", &tok)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--artifacts"), "{}", stderr(&out));
    assert!(!Path::new(&b).exists());
    let dist = f.path("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("app.bin"), "app\n").unwrap();
    let dist = dist.display().to_string();
    args.extend(["--artifacts", dist.as_str()]);
    let out = reprove_env(&f, &args, &[("SIGSTORE_ID_TOKEN", &tok)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_keyless_shape(Path::new(&b));
    assert_sigstore_js_accepts(Path::new(&b), &mock, SAN);
}

/// In a GitHub Actions job (`id-token: write`), no `--key` and no token given: reprove asks
/// the job's token endpoint for a token with audience `sigstore` — here the mock's stand-in
/// for `ACTIONS_ID_TOKEN_REQUEST_URL` — signs keylessly, and says so.
#[test]
fn a_github_actions_job_signs_keylessly_with_its_ambient_token() {
    let f = Fixture::new();
    let Some(mock) = Mock::start(&f.path("mock"), ISSUER) else {
        return;
    };
    let st = f.path("st.json");
    std::fs::write(&st, statement()).unwrap();
    let (st, out_path) = (st.display().to_string(), f.path("st.sigstore.json"));
    let out_s = out_path.display().to_string();
    let sub = SAN
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('@', "%40");
    let request_url = format!("{}/github/oidc?sub={sub}", mock.url);
    let root = mock.root();
    let tsa = format!("{}/api/v1/timestamp", mock.url);
    let env = |request_token: &'static str, actions: &'static str| {
        vec![
            ("GITHUB_ACTIONS", actions.to_owned()),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.clone()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token.to_owned()),
            ("REPROVE_FULCIO_URL", mock.url.clone()),
            ("REPROVE_REKOR_URL", mock.url.clone()),
            ("REPROVE_TSA_URL", tsa.clone()),
            ("REPROVE_TRUSTED_ROOT", root.clone()),
        ]
    };
    let run = |env: Vec<(&str, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        reprove_env(&f, &["sign", &st, "-o", &out_s], &env)
    };
    // Outside GitHub Actions the same variables do not make a signer.
    let out = run(env("request-token", "false"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothing to sign with"),
        "{}",
        stderr(&out)
    );
    // A request token the endpoint refuses: an error that never shows it.
    let out = run(env("not-the-token-xyz", "true"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !stderr(&out).contains("not-the-token-xyz"),
        "{}",
        stderr(&out)
    );
    assert!(!out_path.exists());
    // The job's own token: keyless by default, said as a warning, verified.
    let out = run(env("request-token", "true"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}\n{}", mock.log());
    assert!(
        err.contains("no --key given") && err.contains("signing keylessly"),
        "{err}"
    );
    assert_keyless_shape(&out_path);
    assert_reprove_accepts(&f, &out_s, &mock);
}
