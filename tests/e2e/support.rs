//! Fixture repositories made with the real `git`, in isolation from the user's configuration:
//! fixed identities and dates make commit ids, and so snapshots, reproducible.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    clock: std::cell::Cell<i64>,
}

pub const EPOCH: i64 = 1_700_000_000;

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("gnupg")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home.join("gnupg"), std::fs::Permissions::from_mode(0o700))
                .unwrap();
        }
        let f = Fixture {
            dir,
            home,
            clock: std::cell::Cell::new(EPOCH),
        };
        std::fs::create_dir_all(f.repo()).unwrap();
        f.git(&["init", "-q", "-b", "main"]);
        f
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Isolating environment: no user or system git config, our own HOME and GNUPGHOME.
    pub fn env(&self, cmd: &mut Command) {
        let t = self.clock.get();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GNUPGHOME", self.home.join("gnupg"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ada Author")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Carl Committer")
            .env("GIT_COMMITTER_EMAIL", "carl@example.com")
            .env("GIT_AUTHOR_DATE", format!("@{t} +0000"))
            .env("GIT_COMMITTER_DATE", format!("@{t} +0000"))
            .env("LC_ALL", "C");
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir).args(args);
        self.env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo(), args)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.repo().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Stages everything and commits with the next tick of the fixture clock.
    pub fn commit(&self, message: &str) -> String {
        self.clock.set(self.clock.get() + 3600);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn tag(&self, name: &str) {
        self.git(&["tag", "-a", name, "-m", &format!("release {name}")]);
    }

    pub fn lightweight_tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    /// Runs `reprove` in `dir` with the fixture's environment.
    pub fn reprove_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(dir).args(args);
        self.env(&mut cmd);
        cmd.output().unwrap()
    }

    pub fn reprove(&self, args: &[&str]) -> Output {
        self.reprove_in(&self.repo(), args)
    }

    /// Runs reprove, expecting `code`, and returns stdout.
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.reprove(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "reprove {args:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        serde_json::from_str(&self.ok(args, code)).unwrap()
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Replaces temp paths in output so snapshots are stable.
pub fn redact(f: &Fixture, text: &str) -> String {
    text.replace(&f.dir.path().display().to_string(), "[TMP]")
}

/// A tool the test needs. Under `cargo xtask test` (REPROVE_REQUIRE_TOOLS=1) a missing tool
/// fails the test; a bare `cargo test` skips with a note.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var_os("REPROVE_REQUIRE_TOOLS").is_some() {
            panic!("`{name}` is required by this test (cargo xtask test installs it)");
        }
        eprintln!("skipping: `{name}` not installed (run `cargo xtask test` for the full suite)");
    }
    found
}

/// The sigstore-conformance bundle-verification cases: `REPROVE_CONFORMANCE_DIR`, else
/// `../shared/conformance` beside the checkout. Either holds `bundle-verify/<case>/`, as the
/// sigstore-conformance repository's `test/assets` does.
pub fn conformance_dir() -> Option<PathBuf> {
    let p = std::env::var_os("REPROVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    if p.join("bundle-verify").is_dir() {
        return Some(p);
    }
    let how = format!(
        "the sigstore-conformance cases are missing at `{}`: `git clone https://github.com/sigstore/sigstore-conformance` and set REPROVE_CONFORMANCE_DIR=<clone>/test/assets",
        p.display()
    );
    if std::env::var_os("REPROVE_REQUIRE_TOOLS").is_some() {
        panic!("{how}");
    }
    eprintln!("skipping: {how}");
    None
}

/// The artifact a conformance case signs: its own `artifact`, else the shared `a.txt`.
pub fn conformance_artifact(root: &Path, case: &Path) -> PathBuf {
    if case.join("artifact").exists() {
        return case.join("artifact");
    }
    let beside = root.join("bundle-verify/a.txt");
    if beside.exists() {
        beside
    } else {
        root.join("a.txt")
    }
}

/// Interop vectors made by independent tools, now: securesystemslib keys, envelopes, PAE and
/// bundles, and a model-signing bundle (`tests/interop/make_vectors.py`, in the Python that
/// `cargo xtask test` sets up).
pub fn vectors() -> Option<tempfile::TempDir> {
    let python = python_with("model_signing")?;
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/make_vectors.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make_vectors.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir)
}

/// The Python with the independent verifiers (securesystemslib, in-toto-attestation,
/// cyclonedx), set up by `cargo xtask test`.
pub fn python_with(module: &str) -> Option<String> {
    let python = std::env::var("REPROVE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(python);
    }
    if std::env::var_os("REPROVE_REQUIRE_TOOLS").is_some() {
        panic!("`{module}` is missing from `{python}` (cargo xtask test installs it)");
    }
    eprintln!("skipping: Python module `{module}` not installed");
    None
}

/// `node_modules` with @sigstore/verify, set up by `cargo xtask test`.
pub fn sigstore_js() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REPROVE_TEST_NODE_MODULES").map(PathBuf::from)
        && p.join("@sigstore/verify").exists()
        && require_tool("node")
    {
        return Some(p);
    }
    if std::env::var_os("REPROVE_REQUIRE_TOOLS").is_some() {
        panic!("@sigstore/verify is missing (cargo xtask test installs it)");
    }
    eprintln!("skipping: @sigstore/verify not installed");
    None
}

/// Runs an independent verifier script from `tests/interop/`, asserting success.
pub fn interop(program: &str, env: &[(&str, &Path)], args: &[&Path]) -> String {
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop");
    let mut cmd = Command::new(program);
    let script = args[0];
    cmd.arg(script_dir.join(script)).args(&args[1..]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{program} {script:?} rejected reprove's output:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks `json` (one document reprove printed) against `schemas/<schema>.json` with Python's
/// `jsonschema` (Draft 2020-12, an independent validator), panicking with every violation.
pub fn assert_schema(schema: &str, json: &str) {
    let Some(python) = python_with("jsonschema") else {
        return;
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(format!("{schema}.json"));
    let script = "import json, sys, jsonschema\n\
schema = json.load(open(sys.argv[1]))\n\
jsonschema.Draft202012Validator.check_schema(schema)\n\
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(sys.stdin)))\n\
for e in errors: print(list(e.absolute_path), e.message)\n\
sys.exit(1 if errors else 0)\n";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), json.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "reprove's output does not match schemas/{schema}.json:\n{}{}\n{json}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
