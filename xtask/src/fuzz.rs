//! `cargo xtask fuzz [--seconds N] [--target NAME] [--seed]`: every fuzz target of
//! `crates/reprove-fuzz`, through cargo-fuzz (libFuzzer) on the nightly toolchain.
//!
//! - `--seed` (re)writes the committed seed corpus `fuzz/corpus/<target>/seed-*` from the test
//!   vectors: bundles, envelopes and keys made by reprove, the fixtures' lockfiles and image
//!   files, `examples/hello`'s configuration, tar/gzip pairs, manifests, challenges.
//! - Each run starts from a working copy of the committed corpus plus, when present, the
//!   sigstore-conformance bundles (`REPROVE_CONFORMANCE_DIR`, default `../shared/conformance`;
//!   not committed: they are another project's files).
//! - It reports each target's runs and crashes; a crash's input is kept under
//!   `fuzz/artifacts/<target>/` for a regression test (copy it into `fuzz/corpus/<target>/`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

use crate::util::{out, root, run, say, target};

const TARGETS: &[&str] = &[
    "bundle",
    "dsse",
    "statement",
    "keys",
    "image_ref",
    "manifest",
    "token",
    "lockfile",
    "config",
    "explain",
    "scan",
    "git_object",
];

pub fn run_fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut only: Option<String> = None;
    let mut seed_only = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .context("--seconds needs a number")?
                    .parse()
                    .context("--seconds needs a number")?;
            }
            "--target" => only = Some(it.next().context("--target needs a name")?.clone()),
            "--seed" => seed_only = true,
            other => bail!(
                "unknown argument `{other}` (usage: cargo xtask fuzz [--seconds N] [--target NAME] [--seed])"
            ),
        }
    }
    if seed_only {
        return seed();
    }
    ensure_cargo_fuzz()?;
    let fuzz_dir = root().join("fuzz");
    let mut report = Vec::new();
    for t in TARGETS
        .iter()
        .filter(|t| only.as_deref().is_none_or(|o| o == **t))
    {
        let work = target().join("fuzz-corpus").join(t);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)?;
        crate::util::copy_dir(&fuzz_dir.join("corpus").join(t), &work)?;
        if *t == "bundle" || *t == "statement" {
            add_conformance(&work)?;
        }
        let artifacts = fuzz_dir.join("artifacts").join(t);
        let before = count(&artifacts);
        say(&format!("xtask: fuzzing `{t}` for {seconds} s"));
        let output = Command::new("cargo")
            .current_dir(&fuzz_dir)
            .args(["+nightly", "fuzz", "run", t])
            .arg(&work)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-timeout=20",
                "-rss_limit_mb=3072",
                "-print_final_stats=1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("failed to run cargo fuzz for `{t}`"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        std::fs::write(target().join(format!("fuzz-{t}.log")), log.as_bytes())?;
        let runs = log
            .lines()
            .filter_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .next_back()
            .or_else(|| {
                log.lines()
                    .filter_map(|l| l.strip_prefix("Done "))
                    .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                    .next_back()
            })
            .unwrap_or(0);
        let crashes = count(&artifacts).saturating_sub(before);
        let ok = output.status.success() && crashes == 0;
        if !ok && crashes == 0 {
            // cargo fuzz failed without a crash input: a build error, or libFuzzer refused.
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            say(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        report.push((t.to_string(), runs, crashes, ok));
    }
    out("target      runs          crashes");
    for (t, runs, crashes, _) in &report {
        out(&format!("{t:<11} {runs:<13} {crashes}"));
    }
    let total: u64 = report.iter().map(|r| r.1).sum();
    out(&format!(
        "fuzz: {} target(s), {total} runs, {} crash(es), {seconds} s each",
        report.len(),
        report.iter().map(|r| r.2).sum::<usize>()
    ));
    if report.iter().any(|r| !r.3) {
        bail!(
            "a fuzz target crashed or could not run; see target/fuzz-<target>.log and fuzz/artifacts/"
        );
    }
    Ok(())
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// cargo-fuzz needs the nightly toolchain; it is installed from crates.io when missing.
fn ensure_cargo_fuzz() -> Result<()> {
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !nightly {
        bail!("fuzzing needs the nightly toolchain (rustup toolchain install nightly)");
    }
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    Ok(())
}

/// The conformance cases' bundles, as extra seeds of the working corpus.
fn add_conformance(work: &Path) -> Result<()> {
    let dir = std::env::var_os("REPROVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/conformance"));
    let Ok(cases) = std::fs::read_dir(dir.join("bundle-verify")) else {
        say(
            "xtask: no conformance cases (REPROVE_CONFORMANCE_DIR); fuzzing from the committed corpus only",
        );
        return Ok(());
    };
    for case in cases.flatten() {
        let b = case.path().join("bundle.sigstore.json");
        if b.is_file() {
            std::fs::copy(
                &b,
                work.join(format!(
                    "conformance-{}",
                    case.file_name().to_string_lossy()
                )),
            )?;
        }
    }
    Ok(())
}

/// Writes one seed.
fn put(t: &str, name: &str, data: &[u8]) -> Result<()> {
    let dir = root().join("fuzz/corpus").join(t);
    std::fs::create_dir_all(&dir)?;
    let mut f = std::fs::File::create(dir.join(format!("seed-{name}")))?;
    f.write_all(data)?;
    Ok(())
}

fn tar_of(name: &str, content: &[u8], mode: u32) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, name, content)?;
    Ok(b.into_inner()?)
}

fn gz(data: &[u8], mtime: u32) -> Result<Vec<u8>> {
    let mut e = flate2::GzBuilder::new()
        .mtime(mtime)
        .write(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    Ok(e.finish()?)
}

/// (Re)writes the committed seed corpus.
fn seed() -> Result<()> {
    let r = root();
    let read = |p: &str| std::fs::read(r.join(p)).with_context(|| format!("reading `{p}`"));
    let key = reprove_attest::PrivateKey::generate(reprove_attest::KeyAlgorithm::P256)?;
    let ed = reprove_attest::PrivateKey::generate(reprove_attest::KeyAlgorithm::Ed25519)?;
    let statement = read("tests/fixtures/statement.json")?;
    let bundle = reprove_attest::sign_statement(statement.clone(), &key)?;
    put("bundle", "key-signed", &bundle)?;
    let mut two: serde_json::Value = serde_json::from_slice(&bundle)?;
    two["messageSignature"] = serde_json::json!({"messageDigest": {"algorithm": "SHA2_256", "digest": "AAAA"}, "signature": "AAAA"});
    put("bundle", "two-contents", &serde_json::to_vec(&two)?)?;
    let text = String::from_utf8_lossy(&bundle).into_owned();
    put(
        "bundle",
        "duplicate-key",
        text.replacen("\"mediaType\"", "\"mediaType\":\"x\",\"mediaType\"", 1)
            .as_bytes(),
    )?;
    let env = reprove_attest::dsse::Envelope::sign(
        reprove_attest::dsse::IN_TOTO_PAYLOAD_TYPE,
        statement.clone(),
        &ed,
    );
    put(
        "dsse",
        "ed25519",
        &serde_json::to_vec(&env.to_json_value())?,
    )?;
    put("statement", "fixture", &statement)?;
    put("statement", "provenance", &provenance_statement()?)?;
    put("keys", "p256-private", key.to_pkcs8_pem()?.as_bytes())?;
    put("keys", "ed25519-private", ed.to_pkcs8_pem()?.as_bytes())?;
    put("keys", "p256-public", key.public_key().to_pem().as_bytes())?;
    put("keys", "spki-der", &key.public_key().spki_der())?;
    put(
        "keys",
        "cosign-encrypted",
        key.to_encrypted_pem(b"password")?.as_bytes(),
    )?;
    for (i, s) in [
        "alpine",
        "docker.io/library/alpine:3.20",
        "ghcr.io/org/app:1.0@sha256:2222222222222222222222222222222222222222222222222222222222222222",
        "127.0.0.1:5000/x/y@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "[::1]:5000/a",
    ]
    .iter()
    .enumerate()
    {
        put("image_ref", &i.to_string(), s.as_bytes())?;
    }
    let d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    put(
        "manifest",
        "index",
        format!(r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"digest":"{d1}","platform":{{"os":"linux","architecture":"amd64"}}}},{{"digest":"{d1}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#).as_bytes(),
    )?;
    put(
        "manifest",
        "image",
        format!(r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{d1}","size":1}},"layers":[]}}"#).as_bytes(),
    )?;
    put(
        "token",
        "bearer",
        br#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
    )?;
    put("token", "basic", br#"Basic realm="Registry Realm""#)?;
    put(
        "token",
        "answer",
        br#"{"token":"abc","access_token":"def","expires_in":300}"#,
    )?;
    for (byte, path) in [
        (0u8, "tests/fixtures/rich/Cargo.lock"),
        (1, "tests/fixtures/rich/web/package-lock.json"),
        (2, "tests/fixtures/rich/tests/requirements.txt"),
        (5, "tests/fixtures/rich/svc/go.sum"),
        (6, "tests/fixtures/rich/svc/go.mod"),
    ] {
        let mut data = vec![byte];
        data.extend(read(path)?);
        put("lockfile", &byte.to_string(), &data)?;
    }
    put("lockfile", "3-poetry", b"\x03[[package]]\nname = \"requests\"\nversion = \"2.31.0\"\nfiles = [{file = \"requests-2.31.0.tar.gz\", hash = \"sha256:942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1\"}]\n")?;
    put("lockfile", "4-uv", b"\x04version = 1\n[[package]]\nname = \"idna\"\nversion = \"3.7\"\nsource = { registry = \"https://pypi.org/simple\" }\nsdist = { url = \"https://files.pythonhosted.org/idna-3.7.tar.gz\", hash = \"sha256:028ff3aadf0609c1fd278d8ea3089299412a7a8b9bd005dd08b9f8285bcb5cfc\" }\n")?;
    put(
        "config",
        "hello-reprove",
        &read("examples/hello/reprove.toml")?,
    )?;
    put("config", "hello-soup", &read("examples/hello/soup.toml")?)?;
    put(
        "config",
        "rich-reprove",
        &read("tests/fixtures/rich/reprove.toml")?,
    )?;
    let a = gz(&tar_of("hello", b"hello 1\n", 0o644)?, 0)?;
    let b = gz(&tar_of("hello", b"hello 2\n", 0o664)?, 1_700_000_000)?;
    let mut pair = a.clone();
    pair.extend(&b);
    if a.len() == b.len() {
        put("explain", "tar-gz-pair", &pair)?;
    } else {
        put("explain", "tar-gz-pair-uneven", &pair)?;
    }
    let mut tars = tar_of("x", b"1", 0o644)?;
    tars.extend(tar_of("x", b"2", 0o755)?);
    put("explain", "tar-pair", &tars)?;
    for (byte, path) in [
        (0u8, "tests/fixtures/rich/Dockerfile"),
        (1, "tests/fixtures/rich/docker-compose.yml"),
        (1, "tests/fixtures/rich/.github/workflows/ci.yml"),
        (2, "tests/fixtures/rich/reprove.toml"),
        (0, "examples/hello/Containerfile"),
    ] {
        let mut data = vec![byte];
        data.extend(read(path)?);
        put("scan", &path.replace('/', "_"), &data)?;
    }
    // Git objects of this repository: a commit (signed ones carry continuation lines), its
    // tree, a tag-like `object` header.
    let git_raw = |args: &[&str]| -> Result<Vec<u8>> {
        let out = std::process::Command::new("git")
            .current_dir(root())
            .args(args)
            .output()?;
        anyhow::ensure!(out.status.success(), "git {args:?} failed");
        Ok(out.stdout)
    };
    for (byte, name, args) in [
        (0u8, "commit-head", &["cat-file", "commit", "HEAD"][..]),
        (1, "tree-head", &["cat-file", "tree", "HEAD^{tree}"]),
    ] {
        let mut data = vec![byte];
        data.extend(git_raw(args)?);
        put("git_object", name, &data)?;
    }
    let mut tag = vec![3u8];
    tag.extend(b"object 0123456789abcdef0123456789abcdef01234567\ntype commit\ntag v1\ntagger T <t@x> 1700000000 +0000\n\nrelease\n");
    put("git_object", "tag", &tag)?;
    say("xtask: wrote the seed corpus under fuzz/corpus/");
    Ok(())
}

/// A provenance statement as reprove writes it, from a made-up rebuild report.
fn provenance_statement() -> Result<Vec<u8>> {
    let image = "registry.example/build@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let report = reprove_build::RebuildReport {
        external_recipe: None,
        tag: "v1.0.0".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        tree: "0123456789abcdef0123456789abcdef01234567".into(),
        source_date_epoch: 1_700_000_000,
        source_archive_sha256: "0".repeat(64),
        recipe: reprove_build::Recipe {
            image: image.parse()?,
            command: vec!["make".into()],
            artifacts: vec!["dist/*".into()],
            env: Default::default(),
            workdir: None,
            timeout: reprove_build::DEFAULT_TIMEOUT,
            user: None,
            fetch: None,
            accept_equivalent: Vec::new(),
        },
        image: image.into(),
        image_id: "sha256:0".into(),
        engine: "docker".into(),
        engine_version: "seed".into(),
        engine_site: Default::default(),
        network: "none".into(),
        fetch: None,
        conditions: reprove_build::Conditions {
            build_path: reprove_build::BUILD_PATH.into(),
            hostname: reprove_build::HOSTNAME.into(),
            umask: reprove_build::UMASK.into(),
            user: None,
            environment: reprove_build::reference_environment(
                &Default::default(),
                1_700_000_000,
                reprove_build::BuildSource {
                    commit: "0123456789abcdef0123456789abcdef01234567",
                    tag: "v1.0.0",
                },
            ),
        },
        started_on: "2023-11-14T22:13:20Z".into(),
        finished_on: "2023-11-14T22:13:20Z".into(),
        artifacts: [(
            "app".to_owned(),
            reprove_build::ArtifactDigest {
                sha256: "1".repeat(64),
                size: Some(1),
                path: None,
            },
        )]
        .into(),
        comparison: Vec::new(),
        images: Vec::new(),
        variations: None,
        explanations: Vec::new(),
        verdict: reprove_build::RebuildVerdict::Reproducible,
    };
    let st = reprove_release::provenance::statement(
        &report,
        &reprove_release::provenance::Inputs {
            project: Some("hello".into()),
            repository: Some("https://example.com/hello".into()),
            invocation_id: "urn:uuid:00000000-0000-4000-8000-000000000000".into(),
            ..Default::default()
        },
    )?;
    Ok(st.to_canonical_json()?)
}
